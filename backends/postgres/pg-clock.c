/* carburetor-postgres — the clock source (DESIGN §6, technique (a), with
 * advisory locks for the in-flight writers).
 *
 * Every transaction that stamps a row first reads the clock and takes a
 * SHARED transaction-level advisory lock whose key carries that reading
 * (pg-stamp.c); every stamp is clock_timestamp() read after the lock is
 * taken. Inside the sync's READ COMMITTED transaction (pg-download.c) we
 * run, as separate statements in this order:
 *   1. C = clock_timestamp(), beside the check that the table is still
 *      prepared and that the server is not a standby; C is kept in the
 *      transaction-local setting carburetor.c;
 *   2. k = the earliest time carried by a stamping lock of this database
 *      in pg_locks (held by running and by prepared transactions), and
 *      W = least(C, k) - 1 µs, kept in carburetor.w and returned;
 *   3. the data query, bounded by current_setting ('carburetor.w').
 * A row the data query cannot see belongs to a transaction that had not
 * committed when its snapshot was taken, hence not when statement 2 ran.
 * Either its lock was in pg_locks then (a transaction's locks go after its
 * commit is visible), so its stamps are ≥ k > W; or it took the lock after
 * statement 2 read pg_locks, hence after C, and its stamps are read later
 * still: > C > W. Either way it is not lost: it is stamped above W and the
 * next sync asks from W on.
 *
 * Why three statements, and why W travels in a setting: within one
 * statement PostgreSQL does not promise the order in which its parts run,
 * and a statement's snapshot is taken when it starts, before any of its
 * parts: the data query's snapshot must be taken after pg_locks was read,
 * so it must be a later statement (READ COMMITTED takes a new snapshot per
 * statement). The client does not know W when it sends the data query (all
 * of them go in one pipeline, one round trip), so the data query reads it
 * from the setting statement 2 left in the transaction. The setting is
 * transaction-local (set_config (…, true)): nothing outlives the COMMIT,
 * which a pooler in transaction mode requires.
 *
 * pg_locks shows every session's locks to every role, prepared
 * transactions' included, and does not depend on track_activities: no
 * privilege or setting is needed, and a prepared transaction holds W at
 * its lock's time, not at -infinity. Reading it costs more the more
 * connections the server allows (it visits every backend's lock slots),
 * which is why an idle poll does not read it at all (pg-probe.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

#include <string.h>

G_STATIC_ASSERT (CARB_PG_LOCK_TAG_INT == CARB_PG_LOCK_TAG);
G_STATIC_ASSERT (CARB_PG_LOCK_TIME_MASK == (G_GINT64_CONSTANT (1) << 48) - 1);

/* k, in µs since 1970 (the key holds ms), NULL when no writer is in flight. */
#define LOCKS_SQL                                                                                            \
  "SELECT min (((classid::int8 << 32) | objid::int8) & " G_STRINGIFY (                                       \
      CARB_PG_LOCK_TIME_MASK) ") * 1000"                                                                     \
                              " FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"                  \
                              " AND classid::int8 >> 16 = " G_STRINGIFY (                                    \
                                  CARB_PG_LOCK_TAG_INT) " AND database = (SELECT oid FROM pg_database "      \
                                                        "WHERE datname = current_database ())"

static gint64
int_value (PGresult *res, int col)
{
  return g_ascii_strtoll (PQgetvalue (res, 0, col), NULL, 10);
}

/* The server's clock never goes back between two syncs of this store: a
 * step back means rows are being stamped below sync points already handed
 * out, which devices holding them will not see. Say so, every sync, until
 * the clock has caught up. */
gboolean
carb_pg_clock_steady (CarbBackend *backend, gint64 c, GError **error)
{
  if (c >= backend->last_clock)
    {
      backend->last_clock = c;
      return TRUE;
    }
  g_set_error (
      error, CARB_ERROR, CARB_ERROR_CLOCK_UNSAFE,
      "PostgreSQL “%s”: the server's clock went back %" G_GINT64_FORMAT
      " µs since this store's previous sync; rows stamped until it catches up fall below sync points "
      "already handed out, and devices holding those points would miss them. The sync point was "
      "not advanced; fix the server's time keeping (slew, do not step) and resync affected devices",
      backend->display, backend->last_clock - c);
  return FALSE;
}

/* Statement 1: C, standby, the stamp check ($1 … $6), and C kept for
 * statement 2. The CTE is materialized so that the clock is read once. */
#define CLOCK_SQL_HEAD                                                                                       \
  "WITH x AS MATERIALIZED (SELECT (extract (epoch FROM clock_timestamp ()) * 1000000)::int8 AS c)"           \
  " SELECT x.c, pg_is_in_recovery (), p.kind, p.what, set_config ('carburetor.c', x.c::text, true)"          \
  " FROM x LEFT JOIN ("

/* Statement 2: W from C and k; $1 is the naive clock's switch (W = C, the
 * known-broken answer, for the stress checker's teeth). */
static const char w_sql[]
    = "SELECT set_config ('carburetor.w', (CASE WHEN $1::bool THEN c ELSE least (c, k) - 1 END)::text, true)"
      "::int8 FROM (SELECT current_setting ('carburetor.c')::int8 AS c, (" LOCKS_SQL ") AS k) s";

/* W as the data query's upper bound: exact, the product of an int8 below
 * 2^53 and one microsecond is computed without rounding. */
const char carb_pg_w_expression[]
    = "(timestamptz 'epoch' + current_setting ('carburetor.w')::int8 * interval '1 microsecond')";

/**
 * carb_pg_clock_statements:
 * @stamp: the table's trigger (its parameters must outlive @stmts)
 * @query: the query (for the naive clock's flag)
 * @stmts: (out caller-allocates) (array fixed-size=2): statements 1 and 2,
 *   to run in this order inside the sync's transaction, before the data
 *   query
 */
void
carb_pg_clock_statements (const CarbPgStamp *stamp, const CarbQuery *query, CarbPgStatement *stmts)
{
  (void) query;
  static gsize once;
  static char *clock_sql, *clock_name, *w_name; /* for the life of the process */
  static const char *naive[] = { "true" }, *safe[] = { "false" };

  if (g_once_init_enter (&once))
    {
      g_autofree char *check = carb_pg_stamp_check_sql_at (1);
      clock_sql = g_strconcat (CLOCK_SQL_HEAD, check, ") p ON true", NULL);
      clock_name = carb_pg_statement_name ("carb_clock", clock_sql);
      w_name = carb_pg_statement_name ("carb_w", w_sql);
      g_once_init_leave (&once, 1);
    }
  stmts[0] = (CarbPgStatement){
    .sql = clock_sql,
    .prepared = clock_name,
    .n_params = CARB_PG_CHECK_PARAMS,
    .values = stamp->params,
  };
  stmts[1] = (CarbPgStatement){
    .sql = w_sql,
    .prepared = w_name,
    .n_params = 1,
    .values = CARB_NAIVE_CLOCK ? naive : safe,
  };
}

/**
 * carb_pg_clock_read:
 * @backend: the backend
 * @res: a one-row result whose column @col is C and @col + 1 is
 *   pg_is_in_recovery ()
 * @col: where C is
 * @c: (out): C, µs since 1970
 * @error: set if the server is a standby or its clock went back
 */
gboolean
carb_pg_clock_read (CarbBackend *backend, PGresult *res, int col, gint64 *c, GError **error)
{
  if (PQntuples (res) != 1)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY,
                   "PostgreSQL “%s”: the clock source's query returned %d rows", backend->display,
                   PQntuples (res));
      return FALSE;
    }
  if (PQgetvalue (res, 0, col + 1)[0] == 't')
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_CLOCK_UNSAFE,
                   "PostgreSQL “%s” is a standby (in recovery): its stamps and in-flight writers are the "
                   "primary's, which a standby cannot see, so no safe sync point can be computed there; "
                   "sync from the primary server, or add carb_primary=<the primary's URI, percent-encoded> "
                   "to the standby's URI to read from the standby (docs/SYNC.md)",
                   backend->display);
      return FALSE;
    }
  *c = int_value (res, col);
  return TRUE;
}

/**
 * carb_pg_clock_w:
 * @backend: the backend
 * @clock: statement 1's result
 * @locks: statement 2's result
 * @stamp: the table's trigger, for the check's messages
 * @w: (out): W
 * @error: set if the table is not prepared, the server is a standby, or
 *   its clock went back
 */
gboolean
carb_pg_clock_w (CarbBackend *backend,
                 PGresult *clock,
                 PGresult *locks,
                 const CarbPgStamp *stamp,
                 gint64 *w,
                 GError **error)
{
  gint64 c = 0;

  if (!carb_pg_clock_read (backend, clock, 0, &c, error)
      || !carb_pg_stamp_verdict (backend, stamp, PQgetvalue (clock, 0, 2), PQgetvalue (clock, 0, 3), error)
      || !carb_pg_clock_steady (backend, c, error))
    return FALSE;
  if (PQntuples (locks) != 1 || PQgetisnull (locks, 0, 0))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY,
                   "PostgreSQL “%s”: the clock source's query returned no W", backend->display);
      return FALSE;
    }
  *w = int_value (locks, 0);
  return TRUE;
}

/* The third statement's answer: the WAL position, as a number. */
static gboolean
wal_lsn_value (CarbBackend *backend, PGresult *res, guint64 *wal_lsn, GError **error)
{
  if (PQntuples (res) == 1 && !PQgetisnull (res, 0, 0))
    {
      *wal_lsn = g_ascii_strtoull (PQgetvalue (res, 0, 0), NULL, 10);
      return TRUE;
    }
  g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY,
               "PostgreSQL “%s”: the WAL position query returned %d rows", backend->display, PQntuples (res));
  return FALSE;
}

/**
 * carb_pg_clock_at:
 * @backend: a connected backend on a primary, idle
 * @query: the model's query
 * @w: (out): the sync point
 * @wal_lsn: (out): the primary's WAL position, read after the locks, for
 *   a standby to wait for (pg-standby.c)
 * @error: set when no safe point can be computed
 *
 * For a store on a standby: the same clock source statements a sync on a
 * primary runs in its transaction (statements 1 and 2, W computed from
 * least (C, k) - 1), then the WAL position, in one round trip on the
 * primary. The data are read on the standby (pg-download.c).
 */
gboolean
carb_pg_clock_at (CarbBackend *backend, const CarbQuery *query, gint64 *w, guint64 *wal_lsn, GError **error)
{
  g_auto (CarbPgStamp) stamp = { 0 };
  if (!carb_pg_stamp_init (backend, query, &stamp, error))
    return FALSE;
  CarbPgStatement stmts[5] = {
    { .sql = "BEGIN ISOLATION LEVEL READ COMMITTED" },
    { 0 },
    { 0 },
    { .sql = carb_pg_standby_lsn_sql },
    { .sql = "COMMIT" },
  };
  carb_pg_clock_statements (&stamp, query, &stmts[1]);
  PGresult *res[G_N_ELEMENTS (stmts)];
  if (!carb_pg_pipeline (backend, stmts, G_N_ELEMENTS (stmts), res, error))
    return FALSE;
  gboolean ok = carb_pg_clock_w (backend, res[1], res[2], &stamp, w, error)
                && wal_lsn_value (backend, res[3], wal_lsn, error);
  for (guint i = 0; i < G_N_ELEMENTS (stmts); i++)
    PQclear (res[i]);
  return ok;
}
