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
