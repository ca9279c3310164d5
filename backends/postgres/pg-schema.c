/* carburetor-postgres — describing a table through the catalog (preparing
 * it for sync is in pg-stamp.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

#include <string.h>

#define M(t) CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_##t)

/* Each PostgreSQL type and what it may be read as: the same type, or a
 * wider one; never a narrowing. `timestamp without time zone` is left out
 * on purpose: its zone is unknown, so no UTC instant can be read from it. */
static const struct
{
  const char *typname;
  guint mask;
} pg_types[] = {
  { "int2", M (INT16) | M (INT32) | M (INT64) },
  { "int4", M (INT32) | M (INT64) },
  { "int8", M (INT64) },
  { "float4", M (FLOAT) | M (DOUBLE) },
  { "float8", M (DOUBLE) },
  { "bool", M (BOOL) },
  { "text", M (TEXT) },
  { "varchar", M (TEXT) },
  { "bpchar", M (TEXT) },
  { "uuid", M (UUID) | M (TEXT) },
  { "json", M (JSON) | M (TEXT) },
  { "jsonb", M (JSON) | M (TEXT) },
  { "numeric", M (NUMERIC) | M (TEXT) },
  { "bytea", M (BYTES) },
  { "timestamptz", M (TIMESTAMP) },
  { "date", M (DATE) },
};

static guint
mask_for_type (const char *typname)
{
  for (guint i = 0; i < G_N_ELEMENTS (pg_types); i++)
    if (strcmp (typname, pg_types[i].typname) == 0)
      return pg_types[i].mask;
  return 0;
}

/* The table is found by name through to_regclass on quoted names, so the
 * search_path applies when no schema is given and hostile names are only
 * ever names. */
static const char describe_sql[]
    = "SELECT a.attname, format_type (a.atttypid, a.atttypmod), t.typname, a.attnotnull"
      " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
      " WHERE a.attrelid = to_regclass (CASE WHEN $1::text IS NULL THEN quote_ident ($2)"
      "                                 ELSE quote_ident ($1) || '.' || quote_ident ($2) END)"
      "   AND a.attnum > 0 AND NOT a.attisdropped"
      " ORDER BY a.attnum";

/* Single-column unique keys: the primary key or a unique index (a UNIQUE
 * constraint has one) on one plain column, without a predicate, that is
 * valid. */
static const char unique_sql[]
    = "SELECT a.attname FROM pg_index i"
      " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
      " WHERE i.indrelid = to_regclass (CASE WHEN $1::text IS NULL THEN quote_ident ($2)"
      "                                 ELSE quote_ident ($1) || '.' || quote_ident ($2) END)"
      "   AND i.indisunique AND i.indnkeyatts = 1 AND i.indkey[0] > 0 AND i.indpred IS NULL"
      "   AND i.indisvalid";

gboolean
carb_pg_describe_table (
    CarbBackend *backend, const char *schema, const char *table, CarbTableInfo *info, GError **error)
{
  const char *values[] = { schema, table };

  /* Reading the catalog neither commits nor rolls back an application's
   * open transaction (and sees its own DDL): only a failed one, where
   * nothing can run, is refused. */
  if (!carb_pg_ensure_connected (backend, error) || !carb_pg_ensure_not_failed (backend, error))
    return FALSE;
  PGresult *res = carb_pg_exec (backend, describe_sql, 2, NULL, values, NULL, NULL, 0, error);
  if (res == NULL)
    return FALSE;
  int n = PQntuples (res);
  for (int i = 0; i < n; i++)
    carb_table_info_add_column (info, PQgetvalue (res, i, 0), PQgetvalue (res, i, 1),
                                mask_for_type (PQgetvalue (res, i, 2)), PQgetvalue (res, i, 3)[0] != 't');
  PQclear (res);
  if (n == 0)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH, "Table “%s%s%s” does not exist in “%s”",
                   schema != NULL ? schema : "", schema != NULL ? "." : "", table, backend->display);
      return FALSE;
    }
  res = carb_pg_exec (backend, unique_sql, 2, NULL, values, NULL, NULL, 0, error);
  if (res == NULL)
    return FALSE;
  for (int i = 0; i < PQntuples (res); i++)
    carb_table_info_add_unique_column (info, PQgetvalue (res, i, 0));
  PQclear (res);
  return TRUE;
}
