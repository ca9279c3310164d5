/* Carburetor — the SQL of the core's writes and DDL, built here once for
 * every backend from the data of its CarbSqlSyntax. Parameters are $1 … $n
 * in model column order, so one row's values bind the same way on every
 * statement.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <string.h>

/* INSERT … ON CONFLICT (id) DO UPDATE: one statement that writes a row
 * whether or not it exists, so a retried write is harmless. Every column
 * is inserted (the timestamp too, with a placeholder value the stamping
 * trigger replaces), and every column but the id and the timestamp is
 * updated. */
char *
carb_write_sql_upsert (const CarbQuery *query, const CarbSqlSyntax *syntax, GError **error)
{
  const CarbModel *model = query->model;
  g_autoptr (GString) sql = g_string_new ("INSERT INTO ");
  gboolean any_update = FALSE;

  if (!carb_sql_append_table (sql, model, syntax, error))
    return NULL;
  g_string_append (sql, " (");
  for (guint i = 0; i < model->n_columns; i++)
    {
      if (i > 0)
        g_string_append (sql, ", ");
      if (!carb_sql_append_ident (sql, model->columns[i].name, syntax, model, error))
        return NULL;
    }
  g_string_append (sql, ") VALUES (");
  for (guint i = 0; i < model->n_columns; i++)
    g_string_append_printf (sql, "%s$%u", i > 0 ? ", " : "", i + 1);
  g_string_append (sql, ") ON CONFLICT (");
  carb_sql_append_ident (sql, model->columns[query->id_column].name, syntax, model, NULL);
  g_string_append (sql, ") DO UPDATE SET ");
  for (guint i = 0; i < model->n_columns; i++)
    {
      if (i == query->id_column || i == query->ts_column)
        continue;
      if (any_update)
        g_string_append (sql, ", ");
      carb_sql_append_ident (sql, model->columns[i].name, syntax, model, NULL);
      /* A version as the application gave it, NULL included ("as it was",
       * to the backend's versioning trigger): `excluded` holds what a
       * BEFORE INSERT trigger made of it, a fresh version for a NULL. */
      if (model->columns[i].role == CARB_COLUMN_ROLE_VERSION)
        {
          g_string_append_printf (sql, " = $%u", i + 1);
          any_update = TRUE;
          continue;
        }
      g_string_append (sql, " = excluded.");
      carb_sql_append_ident (sql, model->columns[i].name, syntax, model, NULL);
      any_update = TRUE;
    }
  if (!any_update)
    {
      /* Only id and timestamp: "DO UPDATE SET" needs a column; restamp. */
      carb_sql_append_ident (sql, model->columns[query->ts_column].name, syntax, model, NULL);
      g_string_append (sql, " = excluded.");
      carb_sql_append_ident (sql, model->columns[query->ts_column].name, syntax, model, NULL);
    }
  return g_string_free (g_steal_pointer (&sql), FALSE);
}

/* A soft delete: the tombstone flag set ($2, TRUE) on the row of id $1;
 * the trigger stamps it, so the delete syncs like any write. */
char *
carb_write_sql_soft_delete (const CarbQuery *query, const CarbSqlSyntax *syntax, GError **error)
{
  const CarbModel *model = query->model;
  g_autoptr (GString) sql = g_string_new ("UPDATE ");

  if (!carb_sql_append_table (sql, model, syntax, error))
    return NULL;
  g_string_append (sql, " SET ");
  if (!carb_sql_append_ident (sql, model->columns[query->deleted_column].name, syntax, model, error))
    return NULL;
  g_string_append (sql, " = $2 WHERE ");
  if (!carb_sql_append_ident (sql, model->columns[query->id_column].name, syntax, model, error))
    return NULL;
  g_string_append (sql, " = $1");
  return g_string_free (g_steal_pointer (&sql), FALSE);
}

/* The DDL type of @col: a version column's own type where the backend
 * names one (a collation that orders versions as bytes), else its
 * type's. NULL if the backend has none. */
static const char *
column_ddl_type (const CarbColumn *col, const CarbSqlSyntax *syntax)
{
  if (col->role == CARB_COLUMN_ROLE_VERSION
      && syntax->struct_size >= G_STRUCT_OFFSET (CarbSqlSyntax, version_type) + sizeof syntax->version_type
      && syntax->version_type != NULL)
    return syntax->version_type;
  return (guint) col->type < syntax->n_column_types ? syntax->column_types[col->type] : NULL;
}

/* CREATE TABLE IF NOT EXISTS with each column's DDL type, NOT NULL unless
 * nullable, the id as primary key, and defaults for the timestamp and
 * tombstone so that inserts that leave them out pass NOT NULL. */
char *
carb_write_sql_create_table (const CarbQuery *query, const CarbSqlSyntax *syntax, GError **error)
{
  const CarbModel *model = query->model;
  g_autoptr (GString) sql = g_string_new ("CREATE TABLE IF NOT EXISTS ");

  if (!carb_sql_append_table (sql, model, syntax, error))
    return NULL;
  g_string_append (sql, " (");
  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      const char *type = column_ddl_type (col, syntax);
      if (type == NULL)
        {
          g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_MODEL,
                       "Model for table “%s”: the backend has no SQL type for column “%s” (%s)", model->table,
                       col->name, carb_column_type_to_string (col->type));
          return NULL;
        }
      if (i > 0)
        g_string_append (sql, ", ");
      if (!carb_sql_append_ident (sql, col->name, syntax, model, error))
        return NULL;
      g_string_append_printf (sql, " %s", type);
      if ((col->flags & CARB_COLUMN_FLAGS_NULLABLE) == 0)
        g_string_append (sql, " NOT NULL");
      if (i == query->id_column)
        g_string_append (sql, " PRIMARY KEY");
      else if (i == query->ts_column)
        g_string_append_printf (sql, " DEFAULT %s", syntax->stamp_default);
      else if ((gint) i == query->deleted_column)
        g_string_append_printf (sql, " DEFAULT %s", syntax->false_literal);
    }
  g_string_append (sql, ")");
  return g_string_free (g_steal_pointer (&sql), FALSE);
}
