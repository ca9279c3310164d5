/* carburetor-postgres — a few statements in one network round trip.
 *
 * A sync starts with small statements that must run in a set order but do
 * not need each other's answers on the client: the clock source's three
 * reads, then BEGIN, DECLARE and the first FETCH. Sent one by one, each costs a round trip;
 * in libpq's pipeline mode they go out together, the server runs them one
 * after another in the order sent, and the answers come back together.
 *
 * Each statement is followed by its own sync point. Outside a transaction
 * block each is then its own implicit transaction, exactly as when sent
 * alone, and an error in one does not turn the rest into "aborted" results.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

static gboolean
send_one (PGconn *conn, const CarbPgStatement *s)
{
  g_debug ("pipelined: %s", s->prepared != NULL ? s->prepared : s->sql);
  int sent = s->prepared != NULL ? PQsendQueryPrepared (conn, s->prepared, s->n_params, s->values, s->lengths,
                                                        s->formats, s->result_format)
                                 : PQsendQueryParams (conn, s->sql, s->n_params, s->types, s->values,
                                                      s->lengths, s->formats, s->result_format);
  return sent && PQpipelineSync (conn);
}

/* One statement's result, then the end of its results and its sync point
 * (PGRES_PIPELINE_SYNC), which are consumed. NULL if nothing came. */
static PGresult *
collect_one (PGconn *conn)
{
  PGresult *res = PQgetResult (conn);
  for (PGresult *extra; res != NULL && (extra = PQgetResult (conn)) != NULL;)
    PQclear (extra);
  PQclear (PQgetResult (conn));
  return res;
}

/**
 * carb_pg_pipeline:
 * @backend: a connected backend, idle
 * @statements: (array length=n): what to run, in order
 * @n: how many; at most 8
 * @results: (out caller-allocates) (array length=n): each statement's result
 * @error: set to the first failure
 *
 * Runs @statements in one round trip. On success, @results hold one
 * successful result each, for the caller to PQclear(). On failure, every
 * statement sent has still been collected, @results are all %NULL, and the
 * connection is out of pipeline mode (or broken, for the next
 * carb_pg_ensure_connected() to reset).
 */
gboolean
carb_pg_pipeline (
    CarbBackend *backend, const CarbPgStatement *statements, guint n, PGresult **results, GError **error)
{
  PGconn *conn = backend->conn;
  guint sent = 0;
  gboolean ok = TRUE;

  g_return_val_if_fail (n <= 8, FALSE);
  for (guint i = 0; i < n; i++)
    results[i] = NULL;
  if (!PQenterPipelineMode (conn))
    return carb_pg_fail (backend, error, "cannot enter pipeline mode");
  while (sent < n && send_one (conn, &statements[sent]))
    sent++;
  if (sent < n)
    ok = carb_pg_fail (backend, error, "cannot send a statement");

  for (guint i = 0; i < sent; i++)
    {
      PGresult *res = collect_one (conn);
      results[i] = ok ? carb_pg_check (backend, res, error) : NULL;
      if (!ok)
        PQclear (res);
      ok = ok && results[i] != NULL;
    }
  if (!PQexitPipelineMode (conn) && ok)
    ok = carb_pg_fail (backend, error, "cannot leave pipeline mode");
  if (!ok)
    for (guint i = 0; i < n; i++)
      g_clear_pointer (&results[i], PQclear);
  return ok;
}
