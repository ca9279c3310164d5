/* Carburetor — the SQL of every sync, built once here for every backend
 * from the data of its CarbSqlSyntax (no callback into the plugin):
 * identifiers double-quoted and checked against the backend's length
 * limit, placeholders $1 … $n, per-type select casts.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <string.h>

/* Appends @name quoted as an identifier, as given: a database that cuts
 * long names (PostgreSQL keeps 63 bytes) cuts them the same way in every
 * statement, and the model check matches cut column names
 * (table-info.c). */
gboolean
carb_sql_append_ident (
    GString *sql, const char *name, const CarbSqlSyntax *syntax, const CarbModel *model, GError **error)
{
  g_string_append_c (sql, '"');
  for (const char *p = name; *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (sql, '"');
      g_string_append_c (sql, *p);
    }
  g_string_append_c (sql, '"');
  return TRUE;
}

gboolean
carb_sql_append_table (GString *sql, const CarbModel *model, const CarbSqlSyntax *syntax, GError **error)
{
  if (model->schema != NULL)
    {
      if (!carb_sql_append_ident (sql, model->schema, syntax, model, error))
        return FALSE;
      g_string_append_c (sql, '.');
    }
  return carb_sql_append_ident (sql, model->table, syntax, model, error);
}

/**
 * carb_query_build_table_name:
 * @model: a model
 * @syntax: the backend's SQL syntax
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the model's table, quoted and
 *   schema-qualified when the model names a schema
 *
 * Since: 1.0
 */
char *
carb_query_build_table_name (const CarbModel *model, const CarbSqlSyntax *syntax, GError **error)
{
  g_autoptr (GString) sql = g_string_new (NULL);
  if (!carb_sql_append_table (sql, model, syntax, error))
    return NULL;
  return g_string_free (g_steal_pointer (&sql), FALSE);
}

/**
 * carb_model_find_filter_column:
 * @model: a model
 *
 * For @prepare_table and @check_prepared: the column whose moves the
 * backend logs in `carburetor_moves` (docs/PLUGINS.md, `prepare_table`).
 *
 * Returns: the index of the column flagged %CARB_COLUMN_FLAGS_FILTER (a
 *   sync group's wire model filtered by it), or -1 for none
 *
 * Since: 1.0
 */
gint
carb_model_find_filter_column (const CarbModel *model)
{
  g_return_val_if_fail (model != NULL, -1);
  for (guint i = 0; i < model->n_columns; i++)
    if ((model->columns[i].flags & CARB_COLUMN_FLAGS_FILTER) != 0)
      return (gint) i;
  return -1;
}

/* The select cast of @type, e.g. "::text", or "" (members appended to
 * CarbSqlSyntax are read only when its struct_size covers them). */
static const char *
select_cast (const CarbSqlSyntax *syntax, CarbColumnType type)
{
  if (syntax->struct_size < G_STRUCT_OFFSET (CarbSqlSyntax, n_select_casts) + sizeof syntax->n_select_casts
      || syntax->select_casts == NULL || (guint) type >= syntax->n_select_casts
      || syntax->select_casts[type] == NULL)
    return "";
  return syntax->select_casts[type];
}

gboolean
carb_sql_append_select_list (GString *sql,
                             const CarbQuery *query,
                             const CarbSqlSyntax *syntax,
                             GError **error)
{
  const CarbModel *model = query->model;

  for (guint i = 0; i < model->n_columns; i++)
    {
      if (i > 0)
        g_string_append (sql, ", ");
      if (!carb_sql_append_ident (sql, model->columns[i].name, syntax, model, error))
        return FALSE;
      g_string_append (sql, select_cast (syntax, model->columns[i].type));
    }
  return TRUE;
}

/**
 * carb_query_build_sql:
 * @query: the resolved query
 * @syntax: the backend's SQL syntax
 * @error: return location for a #GError
 *
 * Builds the incremental SELECT of @query. Its placeholders are the same
 * on every backend: `$1` is @query's lower bound, `$2` the sync point W
 * the backend computed (upper bound, inclusive), `$3` the page cursor's id
 * (present only when @query has one). Columns come in model order.
 *
 * Returns: (transfer full) (nullable): the SQL text
 *
 * Since: 1.0
 */
char *
carb_query_build_sql (const CarbQuery *query, const CarbSqlSyntax *syntax, GError **error)
{
  g_return_val_if_fail (query != NULL && syntax != NULL, NULL);
  const CarbModel *model = query->model;
  g_autoptr (GString) sql = g_string_new ("SELECT ");
  g_autoptr (GString) ts = g_string_new (NULL);
  g_autoptr (GString) id = g_string_new (NULL);

  if (!carb_sql_append_select_list (sql, query, syntax, error)
      || !carb_sql_append_ident (ts, model->columns[query->ts_column].name, syntax, model, error)
      || !carb_sql_append_ident (id, model->columns[query->id_column].name, syntax, model, error))
    return NULL;
  g_string_append (sql, " FROM ");
  if (!carb_sql_append_table (sql, model, syntax, error))
    return NULL;
  /* A first sync without a limit reads every row in no order: a plain scan
   * beats walking the stamp index (SQLite picks the index for the range). */
  if (query->lower == G_MININT64 && !query->has_after_id && query->limit == 0
      && syntax->struct_size
             >= G_STRUCT_OFFSET (CarbSqlSyntax, full_scan_hint) + sizeof syntax->full_scan_hint
      && syntax->full_scan_hint != NULL)
    g_string_append (sql, syntax->full_scan_hint);
  g_string_append (sql, " WHERE ");
  if (query->has_after_id)
    g_string_append_printf (sql, "(%s, %s) > ($1, $3)", ts->str, id->str);
  else
    g_string_append_printf (sql, "%s > $1", ts->str);
  g_string_append_printf (sql, " AND %s <= $2", ts->str);

  if (!query->include_deleted && query->deleted_column >= 0)
    {
      g_string_append (sql, " AND NOT ");
      if (!carb_sql_append_ident (sql, model->columns[query->deleted_column].name, syntax, model, error))
        return NULL;
    }
  if (query->limit > 0)
    g_string_append_printf (sql, " ORDER BY %s, %s LIMIT %u", ts->str, id->str, query->limit);
  return g_string_free (g_steal_pointer (&sql), FALSE);
}

/* The lock clause of @syntax (" FOR UPDATE"), or "" when the backend has
 * none or its struct is too old to have the member. */
const char *
carb_sql_lock_rows (const CarbSqlSyntax *syntax)
{
  if (syntax->struct_size < G_STRUCT_OFFSET (CarbSqlSyntax, lock_rows) + sizeof syntax->lock_rows
      || syntax->lock_rows == NULL)
    return "";
  return syntax->lock_rows;
}

/* The statement that makes a write transaction check its deferred
 * constraints per statement, or NULL when the backend has none or its
 * struct is too old to have the member. */
const char *
carb_sql_constraints_immediate (const CarbSqlSyntax *syntax)
{
  if (syntax->struct_size
      < G_STRUCT_OFFSET (CarbSqlSyntax, constraints_immediate) + sizeof syntax->constraints_immediate)
    return NULL;
  return syntax->constraints_immediate;
}

/* `SELECT <every column of the model> FROM t WHERE id = $1`, followed by
 * the backend's lock clause when @lock: what an apply reads (and locks)
 * of each row it may change. */
char *
carb_sql_select_by_id (const CarbQuery *query, const CarbSqlSyntax *syntax, gboolean lock, GError **error)
{
  const CarbModel *model = query->model;
  g_autoptr (GString) sql = g_string_new ("SELECT ");
  if (!carb_sql_append_select_list (sql, query, syntax, error))
    return NULL;
  g_string_append (sql, " FROM ");
  if (!carb_sql_append_table (sql, model, syntax, error))
    return NULL;
  g_string_append (sql, " WHERE ");
  if (!carb_sql_append_ident (sql, model->columns[query->id_column].name, syntax, model, error))
    return NULL;
  g_string_append (sql, " = $1");
  if (lock)
    g_string_append (sql, carb_sql_lock_rows (syntax));
  return g_string_free (g_steal_pointer (&sql), FALSE);
}
