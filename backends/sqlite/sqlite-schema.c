/* carburetor-sqlite — describing a table (preparing it: sqlite-clock.c).
 *
 * Storage on SQLite: TIMESTAMP as INTEGER microseconds since the Unix
 * epoch (UTC), DATE as INTEGER days since 1970-01-01, BOOL as INTEGER 0/1,
 * BYTES as BLOB, everything textual as TEXT. See docs/TYPES.md.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sqlite-private.h"

#include <string.h>

#define M(t)     CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_##t)
#define INTEGERS (M (INT16) | M (INT32) | M (INT64) | M (BOOL) | M (TIMESTAMP) | M (DATE))
#define TEXTS    (M (TEXT) | M (UUID) | M (JSON))

static const struct
{
  const char *name; /* declared type, upper case, without "(n)" */
  guint mask;
} declared_types[] = {
  { "INTEGER", INTEGERS },
  { "INT", INTEGERS },
  { "BIGINT", INTEGERS },
  { "SMALLINT", INTEGERS },
  { "INT8", INTEGERS },
  { "INT4", INTEGERS },
  { "INT2", INTEGERS },
  { "BOOLEAN", M (BOOL) },
  { "BOOL", M (BOOL) },
  { "TIMESTAMP", M (TIMESTAMP) },
  { "TIMESTAMPTZ", M (TIMESTAMP) },
  { "DATETIME", M (TIMESTAMP) },
  { "DATE", M (DATE) },
  { "TEXT", TEXTS | M (NUMERIC) },
  { "VARCHAR", TEXTS },
  { "CHAR", TEXTS },
  { "CHARACTER", TEXTS },
  { "CLOB", TEXTS },
  { "UUID", M (UUID) | M (TEXT) },
  { "JSON", M (JSON) | M (TEXT) },
  { "JSONB", M (JSON) | M (TEXT) },
  { "REAL", M (FLOAT) | M (DOUBLE) },
  { "DOUBLE", M (FLOAT) | M (DOUBLE) },
  { "DOUBLE PRECISION", M (FLOAT) | M (DOUBLE) },
  { "FLOAT", M (FLOAT) | M (DOUBLE) },
  { "BLOB", M (BYTES) },
  { "BYTEA", M (BYTES) },
  /* NUMERIC and DECIMAL are left out on purpose: their affinity turns
   * '1.50' into the REAL 1.5, so they cannot hold an exact decimal. Store
   * NUMERIC model columns in a TEXT column. */
};

static guint
mask_for_declared_type (const char *declared)
{
  g_autofree char *upper = g_ascii_strup (declared, -1);
  char *paren = strchr (upper, '(');
  if (paren != NULL)
    *paren = '\0';
  g_strstrip (upper);
  for (guint i = 0; i < G_N_ELEMENTS (declared_types); i++)
    if (strcmp (upper, declared_types[i].name) == 0)
      return declared_types[i].mask;
  return 0;
}

/* Single-column unique keys: a one-column PRIMARY KEY, and every UNIQUE
 * constraint or unique index on one plain column without a WHERE clause
 * (pragma_index_list lists both; "partial" marks a WHERE clause, and an
 * expression index has a column id below 0). */
static const char unique_sql[]
    = "SELECT name FROM pragma_table_info(?1, ?2) WHERE pk = 1"
      "   AND (SELECT count(*) FROM pragma_table_info(?1, ?2) WHERE pk > 0) = 1"
      " UNION "
      "SELECT ii.name FROM pragma_index_list(?1, ?2) il, pragma_index_info(il.name, ?2) ii"
      " WHERE il.\"unique\" AND NOT il.partial AND ii.cid >= 0"
      "   AND (SELECT count(*) FROM pragma_index_info(il.name, ?2)) = 1";

static gboolean
describe_unique_columns (
    CarbBackend *backend, const char *schema, const char *table, CarbTableInfo *info, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2 (backend->db, unique_sql, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the table's unique keys");
  sqlite3_bind_text (stmt, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, schema != NULL ? schema : "main", -1, SQLITE_STATIC);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    carb_table_info_add_unique_column (info, (const char *) sqlite3_column_text (stmt, 0));
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the table's unique keys");
  return TRUE;
}

gboolean
carb_sqlite_describe_table (
    CarbBackend *backend, const char *schema, const char *table, CarbTableInfo *info, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  const char *sql = "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1, ?2)";
  int n = 0, rc;

  if (sqlite3_prepare_v2 (backend->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the table's columns");
  sqlite3_bind_text (stmt, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, schema != NULL ? schema : "main", -1, SQLITE_STATIC);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *declared = (const char *) sqlite3_column_text (stmt, 1);
      /* A PRIMARY KEY column is taken as NOT NULL, as every sane schema
       * means it; a NULL met anyway fails the sync row, never truncates. */
      gboolean nullable = sqlite3_column_int (stmt, 2) == 0 && sqlite3_column_int (stmt, 3) == 0;
      carb_table_info_add_column (info, (const char *) sqlite3_column_text (stmt, 0),
                                  declared[0] != '\0' ? declared : "(no type)",
                                  mask_for_declared_type (declared), nullable);
      n++;
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the table's columns");
  if (n == 0)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH, "Table “%s%s%s” does not exist in “%s”",
                   schema != NULL ? schema : "", schema != NULL ? "." : "", table, backend->path);
      return FALSE;
    }
  return describe_unique_columns (backend, schema, table, info, error);
}
