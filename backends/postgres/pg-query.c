/* carburetor-postgres — query_rows: a SELECT the core built, with bound
 * parameters, its rows read in binary and decoded as a sync decodes them.
 * One unnamed statement inside whatever transaction is open (the core's
 * write transaction): nothing outlives the call, so it works through a
 * pooler in transaction mode.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

gboolean
carb_pg_query_rows (CarbBackend *backend,
                    const CarbQuery *query,
                    const char *sql,
                    const CarbValue *params,
                    guint n_params,
                    CarbSink *sink,
                    GError **error)
{
  if (!carb_pg_ensure_not_failed (backend, error))
    return FALSE;
  PGresult *res = carb_pg_exec_values (backend, sql, params, n_params, 1, error);
  if (res == NULL)
    return FALSE;
  gboolean ok = carb_pg_sink_batch (res, query->model, sink, error);
  PQclear (res);
  return ok;
}

/* begin_query_rows: BEGIN and the locking read of an apply's first chunk
 * in one pipeline, one round trip instead of two. Both statements are
 * unnamed, so nothing is retried: on failure the core rolls back whatever
 * BEGIN opened. */
gboolean
carb_pg_begin_query_rows (CarbBackend *backend,
                          const char *begin,
                          const CarbQuery *query,
                          const char *sql,
                          const CarbValue *params,
                          guint n_params,
                          CarbSink *sink,
                          GError **error)
{
  g_auto (CarbPgParams) wire = { 0 };
  if (!carb_pg_ensure_connected (backend, error) || !carb_pg_ensure_not_failed (backend, error)
      || !carb_pg_params_encode (backend, params, n_params, &wire, error))
    return FALSE;
  const CarbPgStatement stmts[2] = {
    { .sql = begin },
    {
        .sql = sql,
        .n_params = (int) n_params,
        .types = wire.types,
        .values = wire.values,
        .lengths = wire.lengths,
        .formats = wire.formats,
        .result_format = 1,
    },
  };
  PGresult *res[2] = { NULL, NULL };
  g_debug ("%s", begin);
  g_debug ("%s", sql);
  if (!carb_pg_pipeline (backend, stmts, 2, res, error))
    return FALSE;
  PQclear (res[0]);
  gboolean ok = carb_pg_sink_batch (res[1], query->model, sink, error);
  PQclear (res[1]);
  return ok;
}
