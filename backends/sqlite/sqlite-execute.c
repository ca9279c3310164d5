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

/* The end of the quoted text or comment that starts at @p, or @p itself
 * when none starts there. */
static const char *
skip_quoted (const char *p)
{
  char close = 0;
  if (*p == '\'' || *p == '"' || *p == '`')
    close = *p;
  else if (*p == '[')
    close = ']';
  else if (p[0] == '-' && p[1] == '-')
    close = '\n';
  else if (p[0] == '/' && p[1] == '*')
    {
      const char *end = strstr (p + 2, "*/");
      return end != NULL ? end + 2 : p + strlen (p);
    }
  if (close == 0)
    return p;
  /* A doubled quote inside is the quote itself: the scan just goes on. */
  const char *end = strchr (p + 1, close);
  return end != NULL ? end + 1 : p + strlen (p);
}

char *
carb_sqlite_numbered_sql (const char *sql)
{
  GString *out = g_string_sized_new (strlen (sql));
  for (const char *p = sql; *p != '\0';)
    {
      const char *end = skip_quoted (p);
      if (end != p)
        {
          g_string_append_len (out, p, end - p);
          p = end;
        }
      else if (p[0] == '$' && g_ascii_isdigit (p[1]))
        {
          g_string_append_c (out, '?');
          p++;
        }
      else
        g_string_append_c (out, *p++);
    }
  return g_string_free (out, FALSE);
}

/* Parameters are written $1 … $n by the core, which the statement's SQL
 * has as ?1 … ?n (carb_sqlite_numbered_sql()): each is bound by its
 * number, wherever and however often the statement uses it. (Bound by
 * the name "$k", each bind would search the statement's list of names:
 * quadratic in the parameters of a 500-row INSERT.) */
gboolean
carb_sqlite_bind_all (
    CarbBackend *backend, sqlite3_stmt *stmt, const CarbValue *params, guint n_params, GError **error)
{
  int count = sqlite3_bind_parameter_count (stmt);
  /* A number the statement does not use is bound all the same (SQLite
   * takes a bind to any index up to the greatest), and ignored. */
  for (guint i = 0; i < n_params && (int) i < count; i++)
    {
      if (bind_value (stmt, (int) i + 1, &params[i]) != SQLITE_OK)
        return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot bind a parameter");
    }
  if (count > (int) n_params)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY,
                   "SQLite “%s”: the statement takes %d parameters, %u given", backend->path, count,
                   n_params);
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

  g_autofree char *numbered = carb_sqlite_numbered_sql (sql);
  if (sqlite3_prepare_v2 (backend->db, numbered, -1, &stmt, &tail) != SQLITE_OK)
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
