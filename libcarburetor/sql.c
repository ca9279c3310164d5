/* Carburetor — the incremental query, built once for every backend. Each
 * backend supplies only its dialect: identifier quoting, placeholders and
 * per-column select expressions.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

static char *
quote (const CarbSqlDialect *dialect, const char *name, GError **error)
{
  return dialect->quote_identifier (name, dialect->user_data, error);
}

/**
 * carb_query_build_table_name:
 * @model: a model
 * @dialect: the backend's dialect
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the model's table, quoted and
 *   schema-qualified when the model names a schema
 *
 * Since: 1.0
 */
char *
carb_query_build_table_name (const CarbModel *model, const CarbSqlDialect *dialect, GError **error)
{
  g_autofree char *table = quote (dialect, model->table, error);
  if (table == NULL)
    return NULL;
  if (model->schema == NULL)
    return g_steal_pointer (&table);
  g_autofree char *schema = quote (dialect, model->schema, error);
  if (schema == NULL)
    return NULL;
  return g_strconcat (schema, ".", table, NULL);
}

static gboolean
append_select_list (GString *sql, const CarbQuery *query, const CarbSqlDialect *dialect, GError **error)
{
  const CarbModel *model = query->model;

  for (guint i = 0; i < model->n_columns; i++)
    {
      g_autofree char *quoted = quote (dialect, model->columns[i].name, error);
      if (quoted == NULL)
        return FALSE;
      g_autofree char *expr = NULL;
      if (dialect->select_expression != NULL)
        expr = dialect->select_expression (&model->columns[i], quoted, dialect->user_data);
      if (i > 0)
        g_string_append (sql, ", ");
      g_string_append (sql, expr != NULL ? expr : quoted);
    }
  return TRUE;
}

/**
 * carb_query_build_sql:
 * @query: the resolved query
 * @dialect: the backend's dialect
 * @error: return location for a #GError
 *
 * Builds the incremental SELECT of @query. Its placeholders are always
 * numbered the same way, so a backend binds them without parsing:
 * parameter 1 is @query's lower bound, parameter 2 the sync point W the
 * backend computed (upper bound, inclusive), parameter 3 the page cursor's
 * id (present only when @query has one). Columns come in model order.
 *
 * Returns: (transfer full) (nullable): the SQL text
 *
 * Since: 1.0
 */
char *
carb_query_build_sql (const CarbQuery *query, const CarbSqlDialect *dialect, GError **error)
{
  const CarbModel *model = query->model;
  const char *p = dialect->param_prefix;
  g_autoptr (GString) sql = g_string_new ("SELECT ");

  g_return_val_if_fail (query != NULL && dialect != NULL, NULL);

  g_autofree char *table = carb_query_build_table_name (model, dialect, error);
  g_autofree char *ts = table != NULL ? quote (dialect, model->columns[query->ts_column].name, error) : NULL;
  g_autofree char *id = ts != NULL ? quote (dialect, model->columns[query->id_column].name, error) : NULL;
  if (id == NULL || !append_select_list (sql, query, dialect, error))
    return NULL;

  g_string_append_printf (sql, " FROM %s WHERE ", table);
  if (query->has_after_id)
    g_string_append_printf (sql, "(%s, %s) > (%s1, %s3)", ts, id, p, p);
  else
    g_string_append_printf (sql, "%s > %s1", ts, p);
  g_string_append_printf (sql, " AND %s <= %s2", ts, p);

  if (!query->include_deleted && query->deleted_column >= 0)
    {
      g_autofree char *deleted = quote (dialect, model->columns[query->deleted_column].name, error);
      if (deleted == NULL)
        return NULL;
      g_string_append_printf (sql, " AND NOT %s", deleted);
    }
  if (query->limit > 0)
    g_string_append_printf (sql, " ORDER BY %s, %s LIMIT %u", ts, id, query->limit);
  return g_string_free (g_steal_pointer (&sql), FALSE);
}
