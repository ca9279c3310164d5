/* carburetor-postgres — describing a table through the catalog, and
 * preparing it for sync.
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

  if (!carb_pg_ensure_connected (backend, error))
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

/* A name for an object the plugin owns: readable, derived from the table
 * (so a second call finds it again), within PostgreSQL's 63-byte limit
 * however long or odd the table's name is. */
static char *
owned_name (const CarbModel *model, const char *kind)
{
  g_autofree char *full = g_strconcat (model->schema != NULL ? model->schema : "", ".", model->table, NULL);
  g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, full, -1);
  GString *name = g_string_new ("carb_");
  g_string_append (name, kind);
  g_string_append_c (name, '_');
  for (const char *p = model->table; *p != '\0' && name->len < 40; p++)
    if (g_ascii_isalnum (*p) || *p == '_')
      g_string_append_c (name, g_ascii_tolower (*p));
  g_string_append_c (name, '_');
  g_string_append_len (name, digest, 12);
  return g_string_free (name, FALSE);
}

static char *
qualified (CarbBackend *backend, const CarbModel *model, const char *name, GError **error)
{
  g_autofree char *quoted = carb_pg_quote (backend, name, error);
  if (quoted == NULL || model->schema == NULL)
    return g_steal_pointer (&quoted);
  g_autofree char *schema = carb_pg_quote (backend, model->schema, error);
  return schema != NULL ? g_strconcat (schema, ".", quoted, NULL) : NULL;
}

/* The trigger forces the transaction's id before it reads the clock, and
 * reads clock_timestamp(), not now(): the clock source (pg-clock.c) relies
 * on every stamp being later than its transaction's entry in
 * pg_stat_activity. ENABLE ALWAYS keeps it firing for replication roles. */
static char *
prepare_sql (CarbBackend *backend, const CarbQuery *query, GError **error)
{
  const CarbModel *model = query->model;
  g_autofree char *fn_name = owned_name (model, "stamp");
  g_autofree char *trigger_name = owned_name (model, "stamp");
  g_autofree char *index_name = owned_name (model, "sync");
  g_autofree char *table = carb_query_build_table_name (model, carb_pg_dialect (backend), error);
  g_autofree char *fn = qualified (backend, model, fn_name, error);
  g_autofree char *trigger = carb_pg_quote (backend, trigger_name, error);
  g_autofree char *index = carb_pg_quote (backend, index_name, error);
  g_autofree char *ts = carb_pg_quote (backend, model->columns[query->ts_column].name, error);
  g_autofree char *id = carb_pg_quote (backend, model->columns[query->id_column].name, error);
  if (table == NULL || fn == NULL || trigger == NULL || index == NULL || ts == NULL || id == NULL)
    return NULL;

  g_autofree char *body
      = g_strdup_printf ("BEGIN PERFORM pg_current_xact_id (); NEW.%s := clock_timestamp ();"
                         " RETURN NEW; END",
                         ts);
  char *literal = PQescapeLiteral (backend->conn, body, strlen (body));
  if (literal == NULL)
    {
      carb_pg_fail (backend, error, "cannot quote the trigger's body");
      return NULL;
    }
  char *sql = g_strdup_printf (
      "BEGIN;"
      "CREATE OR REPLACE FUNCTION %s () RETURNS trigger LANGUAGE plpgsql AS %s;"
      "CREATE OR REPLACE TRIGGER %s BEFORE INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %s ();"
      "ALTER TABLE %s ENABLE ALWAYS TRIGGER %s;"
      "CREATE INDEX IF NOT EXISTS %s ON %s (%s, %s);"
      "COMMIT",
      fn, literal, trigger, table, fn, table, trigger, index, table, ts, id);
  PQfreemem (literal);
  return sql;
}

gboolean
carb_pg_prepare_table (CarbBackend *backend, const CarbQuery *query, GError **error)
{
  if (!carb_pg_ensure_connected (backend, error))
    return FALSE;
  g_autofree char *sql = prepare_sql (backend, query, error);
  if (sql == NULL)
    return FALSE;
  if (carb_pg_exec_command (backend, sql, error))
    return TRUE;
  carb_pg_exec_command (backend, "ROLLBACK", NULL);
  return FALSE;
}
