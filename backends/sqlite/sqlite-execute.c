/* carburetor-sqlite — statements with parameters, for the core's writes
 * and carb_store_execute_with_params(), and the SQL syntax the core builds
 * them from.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sqlite-private.h"

#include <string.h>

static const char *const column_types[] = {
  [CARB_COLUMN_TYPE_TEXT] = "TEXT",
  [CARB_COLUMN_TYPE_INT16] = "INTEGER",
  [CARB_COLUMN_TYPE_INT32] = "INTEGER",
  [CARB_COLUMN_TYPE_INT64] = "INTEGER",
  [CARB_COLUMN_TYPE_FLOAT] = "REAL",
  [CARB_COLUMN_TYPE_DOUBLE] = "REAL",
  [CARB_COLUMN_TYPE_BOOL] = "BOOLEAN",
  [CARB_COLUMN_TYPE_TIMESTAMP] = "INTEGER",
  [CARB_COLUMN_TYPE_DATE] = "INTEGER",
  /* TEXT, not UUID or JSON: those declared types get NUMERIC affinity,
   * which turns the JSON text '1.50' into the REAL 1.5 (docs/TYPES.md). */
  [CARB_COLUMN_TYPE_UUID] = "TEXT",
  [CARB_COLUMN_TYPE_JSON] = "TEXT",
  [CARB_COLUMN_TYPE_BYTES] = "BLOB",
  [CARB_COLUMN_TYPE_NUMERIC] = "TEXT",
};

const CarbSqlSyntax carb_sqlite_syntax = {
  .struct_size = sizeof (CarbSqlSyntax),
  .max_identifier_bytes = 0,
  .column_types = column_types,
  .n_column_types = G_N_ELEMENTS (column_types),
  .stamp_default = "0",
  .false_literal = "0",
  .begin_write = "BEGIN IMMEDIATE",
  .full_scan_hint = " NOT INDEXED",
  .lock_rows = NULL, /* BEGIN IMMEDIATE keeps every other writer out */
};

gboolean
carb_sqlite_in_transaction (CarbBackend *backend)
{
  return !sqlite3_get_autocommit (backend->db);
}

static int
bind_value (sqlite3_stmt *stmt, int index, const CarbValue *v)
{
  if (v->is_null)
    return sqlite3_bind_null (stmt, index);
  switch (v->type)
    {
    case CARB_COLUMN_TYPE_FLOAT:
    case CARB_COLUMN_TYPE_DOUBLE:
      return sqlite3_bind_double (stmt, index, v->v_double);
    case CARB_COLUMN_TYPE_TEXT:
    case CARB_COLUMN_TYPE_UUID:
    case CARB_COLUMN_TYPE_JSON:
    case CARB_COLUMN_TYPE_NUMERIC:
      return sqlite3_bind_text64 (stmt, index, v->v_data, v->v_len, SQLITE_STATIC, SQLITE_UTF8);
    case CARB_COLUMN_TYPE_BYTES:
      /* An empty value is an empty BLOB, never NULL. */
      return v->v_len == 0 ? sqlite3_bind_zeroblob (stmt, index, 0)
                           : sqlite3_bind_blob64 (stmt, index, v->v_data, v->v_len, SQLITE_STATIC);
    default:
      return sqlite3_bind_int64 (stmt, index, v->v_int);
    }
}

/* Parameters are written $1 … $n by the core; SQLite takes "$1" as a named
 * parameter, so each is bound by its name, wherever and however often the
 * statement uses it. */
gboolean
carb_sqlite_bind_all (
    CarbBackend *backend, sqlite3_stmt *stmt, const CarbValue *params, guint n_params, GError **error)
{
  for (guint i = 0; i < n_params; i++)
    {
      char name[16];
      g_snprintf (name, sizeof name, "$%u", i + 1);
      int index = sqlite3_bind_parameter_index (stmt, name);
      if (index == 0)
        continue; /* not used by the statement */
      if (bind_value (stmt, index, &params[i]) != SQLITE_OK)
        return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot bind a parameter");
    }
  if (sqlite3_bind_parameter_count (stmt) > (int) n_params)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY,
                   "SQLite “%s”: the statement takes %d parameters, %u given", backend->path,
                   sqlite3_bind_parameter_count (stmt), n_params);
      return FALSE;
    }
  return TRUE;
}

gboolean
carb_sqlite_execute_params (CarbBackend *backend,
                            const char *sql,
                            const CarbValue *params,
                            guint n_params,
                            guint64 *n_changed,
                            GError **error)
{
  sqlite3_stmt *stmt = NULL;
  const char *tail = NULL;

  if (sqlite3_prepare_v2 (backend->db, sql, -1, &stmt, &tail) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, sql);
  if (tail != NULL && tail[strspn (tail, " \t\r\n;")] != '\0')
    {
      sqlite3_finalize (stmt);
      g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY,
                   "SQLite “%s”: “%s”: one statement only when it takes parameters", backend->path, sql);
      return FALSE;
    }
  gboolean ok = carb_sqlite_bind_all (backend, stmt, params, n_params, error);
  int rc = SQLITE_DONE;
  while (ok && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    ;
  if (ok && rc != SQLITE_DONE)
    ok = carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, sql);
  /* sqlite3_changes64() keeps the count of the last writing statement:
   * a read-only one changed nothing. */
  gboolean wrote = !sqlite3_stmt_readonly (stmt);
  sqlite3_finalize (stmt);
  if (ok && n_changed != NULL)
    *n_changed = wrote ? (guint64) sqlite3_changes64 (backend->db) : 0;
  return ok;
}
