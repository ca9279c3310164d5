/* carburetor-postgres — the clock source (DESIGN §6, technique (a)).
 *
 * Every stamp is clock_timestamp() read by the trigger after its
 * transaction got an xid. We read, as separate statements in this order:
 *   1. C = clock_timestamp();
 *   2. over pg_stat_activity, the other sessions of this database that hold
 *      an xid: a = min(xact_start), and whether any xact_start is hidden;
 *   3. the number of prepared transactions of this database.
 * Then W = least(C, a) - 1 µs, and the data query runs afterwards on a new
 * snapshot. A row it cannot see belongs to a transaction that either held
 * an xid at step 2 (so a ≤ its start ≤ its stamps, and W < them) or got its
 * xid after step 2, so read its clock after C > W. Either way it is not
 * lost: it is stamped above W and the next sync asks from W on.
 *
 * Separate statements matter: within one statement PostgreSQL does not
 * promise the order in which subqueries run. (They are sent together, in
 * one pipeline, and the server runs them in the order sent.) The
 * statistics snapshot is per transaction and each statement here is its
 * own transaction, so the activity we read is current.
 *
 * Privileges: without pg_read_all_stats a role sees other roles' sessions
 * with xact_start NULL. We never guess then: the sync fails with
 * CARB_ERROR_CLOCK_UNSAFE and says which grant is missing. Prepared
 * transactions (two-phase commit) have no session to look at: while any
 * exists the sync point holds still.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

static const char clock_sql[] = "SELECT (extract (epoch FROM clock_timestamp ()) * 1000000)::int8";

static const char activity_sql[]
    = "SELECT (extract (epoch FROM min (xact_start)) * 1000000)::int8,"
      "       coalesce (bool_or (xact_start IS NULL), false), current_user"
      " FROM pg_stat_activity"
      " WHERE datname = current_database () AND pid <> pg_backend_pid () AND backend_xid IS NOT NULL";

static const char prepared_sql[]
    = "SELECT count (*) FROM pg_prepared_xacts WHERE database = current_database ()";

/* Each sync runs these three, so they are prepared once per session:
 * planning the pg_stat_activity view's joins costs ten times running it. */
static const struct
{
  const char *name;
  const char *sql;
} statements[] = {
  { "carb_clock", clock_sql },
  { "carb_activity", activity_sql },
  { "carb_prepared", prepared_sql },
};

static gboolean
prepare_statements (CarbBackend *backend, GError **error)
{
  for (guint i = 0; i < G_N_ELEMENTS (statements); i++)
    {
      PGresult *res = PQprepare (backend->conn, statements[i].name, statements[i].sql, 0, NULL);
      gboolean ok = PQresultStatus (res) == PGRES_COMMAND_OK;
      PQclear (res);
      if (!ok)
        return carb_pg_fail (backend, error, "cannot prepare the clock source's statements");
    }
  backend->clock_prepared = TRUE;
  return TRUE;
}

/* The answers of the three statements, each one row. */
static gboolean
one_row_each (CarbBackend *backend, PGresult **res, guint n, GError **error)
{
  for (guint i = 0; i < n; i++)
    if (PQntuples (res[i]) != 1)
      {
        g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY,
                     "PostgreSQL “%s”: the clock source's query %s returned %d rows", backend->display,
                     statements[i].name, PQntuples (res[i]));
        return FALSE;
      }
  return TRUE;
}

static gint64
int_value (PGresult *res, int col)
{
  return g_ascii_strtoll (PQgetvalue (res, 0, col), NULL, 10);
}

/* W from the three answers (see the top of this file). */
static gboolean
compute_w (CarbBackend *backend, const CarbQuery *query, PGresult **res, gint64 *w, GError **error)
{
  gint64 c = int_value (res[0], 0);
  if (query->flags & CARB_QUERY_UNSAFE_NAIVE_CLOCK)
    {
      *w = c; /* the known-broken answer, for the stress checker's teeth */
      return TRUE;
    }

  gint64 a = PQgetisnull (res[1], 0, 0) ? G_MAXINT64 : int_value (res[1], 0);
  if (PQgetvalue (res[1], 0, 1)[0] == 't')
    {
      const char *role = PQgetvalue (res[1], 0, 2);
      g_set_error (error, CARB_ERROR, CARB_ERROR_CLOCK_UNSAFE,
                   "PostgreSQL “%s”: role “%s” cannot see when other sessions' transactions started, so no "
                   "safe sync point can be computed (the sync point was not advanced); "
                   "GRANT pg_read_all_stats TO \"%s\"",
                   backend->display, role, role);
      return FALSE;
    }

  gboolean prepared = int_value (res[2], 0) > 0;
  *w = prepared ? query->lower : MIN (c, a) - 1;
  return TRUE;
}

/* The three statements go out in one pipeline (pg-pipeline.c): the server
 * still runs them in order, each its own transaction, so the argument
 * above holds, at one round trip instead of three. */
gboolean
carb_pg_clock (CarbBackend *backend, const CarbQuery *query, gint64 *w, GError **error)
{
  CarbPgStatement stmts[G_N_ELEMENTS (statements)] = { { 0 } };
  PGresult *res[G_N_ELEMENTS (statements)] = { NULL };
  guint n = G_N_ELEMENTS (statements);

  if (!backend->clock_prepared && !prepare_statements (backend, error))
    return FALSE;
  for (guint i = 0; i < n; i++)
    stmts[i].prepared = statements[i].name;
  if (!carb_pg_pipeline (backend, stmts, n, res, error))
    return FALSE;
  gboolean ok = one_row_each (backend, res, n, error) && compute_w (backend, query, res, w, error);
  for (guint i = 0; i < n; i++)
    PQclear (res[i]);
  return ok;
}
