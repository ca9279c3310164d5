/* Carburetor — the live table as a backend describes it, and the check of a
 * model against it. Backends only report; the rules live here, once.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <string.h>

typedef struct
{
  char *name;
  char *sql_type;
  guint type_mask;
  gboolean nullable;
} ColumnInfo;

struct _CarbTableInfo
{
  GArray *columns;     /* of ColumnInfo */
  GHashTable *uniques; /* column names that alone are a unique key */
};

static void
column_info_clear (gpointer data)
{
  ColumnInfo *col = data;
  g_free (col->name);
  g_free (col->sql_type);
}

CarbTableInfo *
carb_table_info_new (void)
{
  CarbTableInfo *info = g_new0 (CarbTableInfo, 1);
  info->columns = g_array_new (FALSE, TRUE, sizeof (ColumnInfo));
  g_array_set_clear_func (info->columns, column_info_clear);
  info->uniques = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return info;
}

void
carb_table_info_free (CarbTableInfo *info)
{
  if (info == NULL)
    return;
  g_array_unref (info->columns);
  g_hash_table_unref (info->uniques);
  g_free (info);
}

/**
 * carb_table_info_add_column:
 * @info: the description being filled
 * @name: the column's name as the catalog spells it
 * @sql_type: the column's type as the database names it (for messages)
 * @type_mask: the #CarbColumnType values this column can be read as, each
 *   as CARB_COLUMN_TYPE_MASK_OF(); 0 for a type Carburetor does not support
 * @nullable: whether the column may hold NULL
 *
 * Adds one column to a table description (for a backend's
 * `describe_table`).
 */
void
carb_table_info_add_column (
    CarbTableInfo *info, const char *name, const char *sql_type, guint type_mask, gboolean nullable)
{
  g_return_if_fail (info != NULL && name != NULL && sql_type != NULL);

  ColumnInfo col = {
    .name = g_strdup (name),
    .sql_type = g_strdup (sql_type),
    .type_mask = type_mask,
    .nullable = nullable,
  };
  g_array_append_val (info->columns, col);
}

/**
 * carb_table_info_add_unique_column:
 * @info: the description being filled
 * @name: a column that is, on its own, a unique key of the table: its
 *   primary key, or a column with a unique constraint or a unique index
 *   that has no predicate and no other column
 *
 * Records a single-column unique key (for a backend's `describe_table`).
 * The core refuses a model whose id column is not one: a page cursor
 * `(timestamp, id)` must name one row, or rows sharing an id are skipped
 * at page boundaries.
 */
void
carb_table_info_add_unique_column (CarbTableInfo *info, const char *name)
{
  g_return_if_fail (info != NULL && name != NULL);
  g_hash_table_add (info->uniques, g_strdup (name));
}

static const ColumnInfo *
lookup (const CarbTableInfo *info, const char *name)
{
  for (guint i = 0; i < info->columns->len; i++)
    {
      const ColumnInfo *col = &g_array_index (info->columns, ColumnInfo, i);
      if (strcmp (col->name, name) == 0)
        return col;
    }
  return NULL;
}

/* The longest live column whose name is a strict prefix of @name, if that
 * prefix is long enough not to be a coincidence: what a database that cuts
 * identifiers to its length limit (PostgreSQL keeps 63 bytes) left of a
 * longer name. */
static const ColumnInfo *
lookup_truncated (const CarbTableInfo *info, const char *name)
{
  const gsize min_prefix = 30; /* below every common identifier limit */
  const ColumnInfo *best = NULL;
  gsize name_len = strlen (name);

  for (guint i = 0; i < info->columns->len; i++)
    {
      const ColumnInfo *col = &g_array_index (info->columns, ColumnInfo, i);
      gsize len = strlen (col->name);
      if (len >= min_prefix && len < name_len && strncmp (col->name, name, len) == 0
          && (best == NULL || len > strlen (best->name)))
        best = col;
    }
  return best;
}

static gboolean mismatch (GError **error, const CarbModel *model, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

static gboolean
mismatch (GError **error, const CarbModel *model, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *detail = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH, "Table “%s%s%s”: %s",
               model->schema != NULL ? model->schema : "", model->schema != NULL ? "." : "", model->table,
               detail);
  return FALSE;
}

static gboolean
missing (GError **error, const CarbModel *model, const CarbTableInfo *info, const char *name)
{
  const ColumnInfo *cut = lookup_truncated (info, name);

  if (cut == NULL)
    return mismatch (error, model, "column “%s” does not exist", name);
  return mismatch (error, model,
                   "column “%s” does not exist, but “%s” (its first %zu bytes) does: the database cut the "
                   "name to its identifier length limit; use the shorter name in the model",
                   name, cut->name, strlen (cut->name));
}

/* TRUE if the live table can be read into @model without loss, and its id
 * column names one row. */
gboolean
carb_table_info_check (const CarbTableInfo *info, const CarbModel *model, GError **error)
{
  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      const ColumnInfo *live = lookup (info, col->name);

      if (live == NULL)
        return missing (error, model, info, col->name);
      if (live->type_mask == 0)
        return mismatch (error, model, "column “%s” has SQL type %s, which Carburetor does not support",
                         col->name, live->sql_type);
      if ((live->type_mask & CARB_COLUMN_TYPE_MASK_OF (col->type)) == 0)
        return mismatch (error, model, "column “%s” has SQL type %s, which cannot be read as %s", col->name,
                         live->sql_type, carb_column_type_to_string (col->type));
      if (live->nullable && (col->flags & CARB_COLUMN_FLAGS_NULLABLE) == 0)
        return mismatch (error, model,
                         "column “%s” is nullable but the model declares it NOT NULL "
                         "(declare it with CARB_COLUMN_NULLABLE or make the column NOT NULL)",
                         col->name);
      if (col->role == CARB_COLUMN_ROLE_ID && !g_hash_table_contains (info->uniques, col->name))
        return mismatch (error, model,
                         "id column “%s” is neither the primary key nor unique on its own, so a page cursor "
                         "cannot tell rows that share an id apart (make it the PRIMARY KEY or add a UNIQUE "
                         "constraint on it alone)",
                         col->name);
    }
  return TRUE;
}
