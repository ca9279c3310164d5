/* carburetor-sqlite — carb_store_poll(): which tables of a group have a
 * row stamped after their point, read in one read transaction (one
 * snapshot for the whole group), an index probe on (ts, id) per table.
 * Each table is checked as a sync checks it (sqlite-clock.c): a poll must
 * not answer "nothing new" for a table a sync would refuse.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sqlite-private.h"

/* Whether @query's table has a row stamped after its point (at or after
 * it for a page cursor), live rows only when tombstones are left out. */
static gboolean
probe_one (CarbBackend *backend, const CarbQuery *query, gboolean *changed, GError **error)
{
  const CarbModel *model = query->model;
  g_autofree char *table = carb_query_build_table_name (model, &carb_sqlite_syntax, error);
  g_autofree char *ts = table != NULL ? carb_sqlite_quote (model->columns[query->ts_column].name) : NULL;
  g_autofree char *deleted = NULL;
  if (ts == NULL)
    return FALSE;
  if (!query->include_deleted && query->deleted_column >= 0)
    deleted = carb_sqlite_quote (model->columns[query->deleted_column].name);
  g_autofree char *sql = g_strdup_printf ("SELECT EXISTS (SELECT 1 FROM %s WHERE %s %s ?1%s%s)", table, ts,
                                          query->has_after_id ? ">=" : ">",
                                          deleted != NULL ? " AND NOT " : "", deleted != NULL ? deleted : "");
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2 (backend->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, sql);
  sqlite3_bind_int64 (stmt, 1, query->lower);
  int rc = sqlite3_step (stmt);
  *changed = rc == SQLITE_ROW && sqlite3_column_int (stmt, 0) != 0;
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, sql);
  return TRUE;
}

gboolean
carb_sqlite_probe (
    CarbBackend *backend, const CarbQuery *const *queries, guint n, gboolean *changed, GError **error)
{
  /* Inside the application's own transaction the reads join it. */
  gboolean own = !carb_sqlite_in_transaction (backend);
  if (own && !carb_sqlite_exec (backend, "BEGIN", error))
    return FALSE;
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < n; i++)
    ok = carb_sqlite_check_objects (backend, queries[i], error)
         && probe_one (backend, queries[i], &changed[i], error);
  if (own)
    sqlite3_exec (backend->db, ok ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
  return ok;
}
