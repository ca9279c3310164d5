/* carburetor-sqlite — query_rows: a SELECT the core built, with bound
 * parameters, its rows decoded as a sync decodes them. It runs inside the
 * core's write transaction (BEGIN IMMEDIATE already keeps every other
 * writer out, so the rows need no lock of their own).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sqlite-private.h"

#include <string.h>

gboolean
carb_sqlite_query_rows (CarbBackend *backend,
                        const CarbQuery *query,
                        const char *sql,
                        const CarbValue *params,
                        guint n_params,
                        CarbSink *sink,
                        GError **error)
{
  sqlite3_stmt *stmt = NULL;
  const char *tail = NULL;

  g_autofree char *numbered = carb_sqlite_numbered_sql (sql);
  if (sqlite3_prepare_v2 (backend->db, numbered, -1, &stmt, &tail) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, sql);
  if (tail != NULL && tail[strspn (tail, " \t\r\n;")] != '\0')
    {
      sqlite3_finalize (stmt);
      g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY, "SQLite “%s”: “%s”: one statement only",
                   backend->path, sql);
      return FALSE;
    }
  guint n_columns = query->model->n_columns;
  if ((guint) sqlite3_column_count (stmt) != n_columns)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY, "SQLite “%s”: “%s” returns %d columns, not %u",
                   backend->path, sql, sqlite3_column_count (stmt), n_columns);
      sqlite3_finalize (stmt);
      return FALSE;
    }
  g_debug ("%s: %s", backend->path, sql);
  gboolean ok = carb_sqlite_bind_all (backend, stmt, params, n_params, error);
  int rc = SQLITE_DONE;
  while (ok && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      for (guint i = 0; i < n_columns; i++)
        carb_sqlite_sink_column (sink, stmt, &query->model->columns[i], i);
      ok = carb_sink_end_row (sink, error);
    }
  if (ok && rc != SQLITE_DONE)
    ok = carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, sql);
  sqlite3_finalize (stmt);
  return ok;
}
