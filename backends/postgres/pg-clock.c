/* carburetor-postgres — the clock source (DESIGN §6, technique (a), with
 * advisory locks for the in-flight writers).
 *
 * Every transaction that stamps a row first reads the clock and takes a
 * SHARED transaction-level advisory lock whose key carries that reading
 * (pg-stamp.c); every stamp is clock_timestamp() read after the lock is
 * taken. We read, as separate statements in this order:
 *   1. C = clock_timestamp(), beside the check that the table is still
 *      prepared and that the server is not a standby;
 *   2. k = the earliest time carried by a stamping lock of this database
 *      in pg_locks (held by running and by prepared transactions).
 * Then W = least(C, k) - 1 µs, and the data query runs afterwards on a new
 * snapshot. A row it cannot see belongs to a transaction that had not
 * committed when statement 2 ran. Either its lock was in pg_locks then (a
 * transaction's locks go after its commit is visible), so its stamps are
 * ≥ k > W; or it took the lock after statement 2 read pg_locks, hence
 * after C, and its stamps are read later still: > C > W. Either way it is
 * not lost: it is stamped above W and the next sync asks from W on.
 *
 * pg_locks shows every session's locks to every role, prepared
 * transactions' included, and does not depend on track_activities: no
 * privilege or setting is needed, and a prepared transaction holds W at
 * its lock's time, not at -infinity.
 *
 * Separate statements matter: within one statement PostgreSQL does not
 * promise the order in which its parts run. They are sent together, in
 * one pipeline, and the server runs them in the order sent.
 *
 * For a store on a standby (pg-standby.c) they run on its primary,
 * followed in the same pipeline by a third: the primary's WAL position.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

#include <string.h>

G_STATIC_ASSERT (CARB_PG_LOCK_TAG_INT == CARB_PG_LOCK_TAG);
G_STATIC_ASSERT (CARB_PG_LOCK_TIME_MASK == (G_GINT64_CONSTANT (1) << 48) - 1);

static const char locks_sql[] = "SELECT min (((classid::int8 << 32) | objid::int8) & " G_STRINGIFY (
    CARB_PG_LOCK_TIME_MASK) ") * 1000"
                            " FROM pg_locks"
                            " WHERE locktype = 'advisory' AND objsubid = 1 AND classid::int8 >> 16 "
                            "= " G_STRINGIFY (
                                CARB_PG_LOCK_TAG_INT) "   AND database = (SELECT oid FROM pg_database WHERE "
                                                      "datname = current_database ())";

/* They run on each sync, so they are prepared once per session. The
 * third, the WAL position, only for a standby's sync (pg-standby.c): a
 * session runs either the first two or all three, always the same. */
static const struct
{
  const char *name;
  const char *sql;
  int n_params;
} statements[] = {
  { "carb_clock", carb_pg_clock_sql, 4 },
  { "carb_locks", locks_sql, 0 },
  { "carb_wal_lsn", carb_pg_standby_lsn_sql, 0 },
};

#define N_CLOCK_STATEMENTS 2

/* A statement left from before (DEALLOCATE of only one of them) is the
 * one we would prepare: "already exists" (42P05) is success. */
static gboolean
prepare_statements (CarbBackend *backend, guint n, GError **error)
{
  for (guint i = 0; i < n; i++)
    {
      PGresult *res = PQprepare (backend->conn, statements[i].name, statements[i].sql, 0, NULL);
      const char *state = PQresultErrorField (res, PG_DIAG_SQLSTATE);
      gboolean ok = PQresultStatus (res) == PGRES_COMMAND_OK || g_strcmp0 (state, "42P05") == 0;
      PQclear (res);
      if (!ok)
        return carb_pg_fail (backend, error, "cannot prepare the clock source's statements");
    }
  backend->clock_prepared = TRUE;
  return TRUE;
}

static gint64
int_value (PGresult *res, int col)
{
  return g_ascii_strtoll (PQgetvalue (res, 0, col), NULL, 10);
}

/* The server's clock never goes back between two syncs of this store: a
 * step back means rows are being stamped below sync points already handed
 * out, which devices holding them will not see. Say so, every sync, until
 * the clock has caught up. */
static gboolean
clock_steady (CarbBackend *backend, gint64 c, GError **error)
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

/* W from the two answers (see the top of this file). */
static gboolean
compute_w (CarbBackend *backend,
           const CarbQuery *query,
           const CarbPgStamp *stamp,
           PGresult **res,
           gint64 *w,
           GError **error)
{
  if (PQntuples (res[0]) != 1 || PQntuples (res[1]) != 1)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY,
                   "PostgreSQL “%s”: the clock source's queries returned %d and %d rows", backend->display,
                   PQntuples (res[0]), PQntuples (res[1]));
      return FALSE;
    }
  if (PQgetvalue (res[0], 0, 1)[0] == 't')
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_CLOCK_UNSAFE,
                   "PostgreSQL “%s” is a standby (in recovery): its stamps and in-flight writers are the "
                   "primary's, which a standby cannot see, so no safe sync point can be computed there; "
                   "sync from the primary server, or add carb_primary=<the primary's URI, percent-encoded> "
                   "to the standby's URI to read from the standby (docs/SYNC.md)",
                   backend->display);
      return FALSE;
    }
  if (!carb_pg_stamp_verdict (backend, stamp, PQgetvalue (res[0], 0, 2), PQgetvalue (res[0], 0, 3), error))
    return FALSE;

  gint64 c = int_value (res[0], 0);
  if (!clock_steady (backend, c, error))
    return FALSE;
  if (CARB_NAIVE_CLOCK)
    {
      *w = c; /* the known-broken answer, for the stress checker's teeth */
      return TRUE;
    }
  gint64 k = PQgetisnull (res[1], 0, 0) ? G_MAXINT64 : int_value (res[1], 0);
  *w = MIN (c, k) - 1;
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

/* The first @n statements in one round trip (pg-pipeline.c). */
static gboolean
run_statements (CarbBackend *backend, const CarbPgStamp *stamp, guint n, PGresult **res, GError **error)
{
  CarbPgStatement stmts[G_N_ELEMENTS (statements)] = { { 0 } };

  if (!backend->clock_prepared && !prepare_statements (backend, n, error))
    return FALSE;
  for (guint i = 0; i < n; i++)
    {
      stmts[i].prepared = statements[i].name;
      stmts[i].n_params = statements[i].n_params;
      stmts[i].values = statements[i].n_params > 0 ? stamp->params : NULL;
    }
  backend->sqlstate[0] = '\0';
  return carb_pg_pipeline (backend, stmts, n, res, error);
}

gboolean
carb_pg_clock (CarbBackend *backend, const CarbQuery *query, gint64 *w, GError **error)
{
  return carb_pg_clock_at (backend, query, w, NULL, error);
}

/**
 * carb_pg_clock_at:
 * @backend: a connected backend on a primary, idle
 * @query: the model's query
 * @w: (out): the sync point
 * @wal_lsn: (out) (optional): the primary's WAL position, read after
 *   the locks, for a standby to wait for (pg-standby.c)
 * @error: set when no safe point can be computed
 *
 * The clock source: W, and with @wal_lsn, in the same round trip, the
 * WAL position that covers every commit below W.
 */
gboolean
carb_pg_clock_at (CarbBackend *backend, const CarbQuery *query, gint64 *w, guint64 *wal_lsn, GError **error)
{
  PGresult *res[G_N_ELEMENTS (statements)] = { NULL };
  g_auto (CarbPgStamp) stamp = { 0 };
  g_autoptr (GError) local = NULL;
  guint n = wal_lsn != NULL ? G_N_ELEMENTS (statements) : N_CLOCK_STATEMENTS;

  if (!carb_pg_stamp_init (backend, query, &stamp, error))
    return FALSE;
  if (!run_statements (backend, &stamp, n, res, &local))
    {
      /* DISCARD ALL or DEALLOCATE through carb_store_execute() dropped our
       * statements (SQLSTATE 26000) and reset the session: set it up again
       * and retry once. */
      if (strcmp (backend->sqlstate, "26000") != 0 || !carb_pg_reset_session (backend, error))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      g_clear_error (&local);
      if (!run_statements (backend, &stamp, n, res, error))
        return FALSE;
    }
  gboolean ok = compute_w (backend, query, &stamp, res, w, error)
                && (wal_lsn == NULL || wal_lsn_value (backend, res[N_CLOCK_STATEMENTS], wal_lsn, error));
  for (guint i = 0; i < n; i++)
    PQclear (res[i]);
  return ok;
}
