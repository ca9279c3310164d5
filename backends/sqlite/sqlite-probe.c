/* carburetor-sqlite — carb_store_poll(): which tables of a group have a
 * row stamped after their point, read in one read transaction (one
 * snapshot for the whole group), an index probe on (ts, id) per table.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sqlite-private.h"

/* The table's stamping triggers, by the names carb_sqlite_prepare_table()
 * gives them (sqlite-clock.c), must be there: a table without them is not
 * stamped, and a sync of it would miss rows. So must its versioning
 * triggers when the model has version columns: without them, writes that
 * bypass the library get no version. (A sync compares their statements
 * too, sqlite-clock.c.) */
static gboolean
check_prepared (CarbBackend *backend, const CarbQuery *query, GError **error)
{
  const CarbModel *model = query->model;
  gboolean versioned = FALSE;
  for (guint i = 0; i < model->n_columns; i++)
    versioned = versioned || model->columns[i].role == CARB_COLUMN_ROLE_VERSION;
  g_autofree char *schema = model->schema != NULL ? carb_sqlite_quote (model->schema) : NULL;
  g_autofree char *sql
      = g_strdup_printf ("SELECT count(*) FROM %s%ssqlite_schema WHERE type = 'trigger'"
                         " AND tbl_name = ?1 AND name IN ('carb_stamp_insert_' || ?1,"
                         " 'carb_stamp_update_' || ?1%s)",
                         schema != NULL ? schema : "", schema != NULL ? "." : "",
                         versioned ? ", 'carb_version_insert_' || ?1, 'carb_version_update_' || ?1" : "");
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2 (backend->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the table's triggers");
  sqlite3_bind_text (stmt, 1, model->table, -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step (stmt);
  gint64 found = rc == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the table's triggers");
  if (found == (versioned ? 4 : 2))
    return TRUE;
  if (versioned)
    g_set_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED,
                 "Table “%s” is not prepared: one of its stamping triggers “carb_stamp_insert_%s” and "
                 "“carb_stamp_update_%s” or its versioning triggers “carb_version_insert_%s” and "
                 "“carb_version_update_%s” is missing, so some writes there are not stamped or get no "
                 "version; call carb_store_prepare_table()",
                 model->table, model->table, model->table, model->table, model->table);
  else
    g_set_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED,
                 "Table “%s” is not prepared: its stamping trigger “carb_stamp_insert_%s” or "
                 "“carb_stamp_update_%s” is missing, so rows written there are not stamped and syncs would "
                 "miss them; call carb_store_prepare_table()",
                 model->table, model->table, model->table);
  return FALSE;
}

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
    ok = check_prepared (backend, queries[i], error) && probe_one (backend, queries[i], &changed[i], error);
  if (own)
    sqlite3_exec (backend->db, ok ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
  return ok;
}
