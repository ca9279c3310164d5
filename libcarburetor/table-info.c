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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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

/* The name of a role no model may declare nullable (id, stamp, tombstone). */
static const char *
role_name (CarbColumnRole role)
{
  switch (role)
    {
    case CARB_COLUMN_ROLE_ID:
      return "id";
    case CARB_COLUMN_ROLE_TIMESTAMP:
      return "stamped (timestamp)";
    default:
      return "is-deleted";
    }
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
      /* The id, stamp and tombstone columns cannot be declared nullable,
       * so the only fix there is the table's. */
      if (live->nullable && (col->flags & CARB_COLUMN_FLAGS_NULLABLE) == 0
          && (col->role == CARB_COLUMN_ROLE_ID || col->role == CARB_COLUMN_ROLE_TIMESTAMP
              || col->role == CARB_COLUMN_ROLE_DELETED))
        return mismatch (error, model,
                         "column “%s” is nullable, but it is the model's %s column, which must be NOT NULL "
                         "(make the column NOT NULL%s)",
                         col->name, role_name (col->role),
                         col->role == CARB_COLUMN_ROLE_TIMESTAMP ? ", with a default such as 0 on SQLite"
                                                                 : "");
      if (live->nullable && (col->flags & CARB_COLUMN_FLAGS_NULLABLE) == 0)
        return mismatch (error, model,
                         "column “%s” is nullable but the model declares it NOT NULL "
                         "(declare it with CARB_COLUMN_NULLABLE() or make the column NOT NULL)",
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

/* The type a run-time model reads a column of @mask as: the column's own
 * type where the mask names one (uuid, json, numeric beside text), else
 * the widest of its family, so no value is narrowed. */
static CarbColumnType
natural_type (guint mask)
{
  static const CarbColumnType text_kinds[]
      = { CARB_COLUMN_TYPE_UUID, CARB_COLUMN_TYPE_JSON, CARB_COLUMN_TYPE_NUMERIC };
  static const CarbColumnType order[] = {
    CARB_COLUMN_TYPE_INT64, CARB_COLUMN_TYPE_INT32, CARB_COLUMN_TYPE_INT16,     CARB_COLUMN_TYPE_DOUBLE,
    CARB_COLUMN_TYPE_FLOAT, CARB_COLUMN_TYPE_BOOL,  CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_TYPE_DATE,
    CARB_COLUMN_TYPE_BYTES, CARB_COLUMN_TYPE_UUID,  CARB_COLUMN_TYPE_JSON,      CARB_COLUMN_TYPE_NUMERIC,
  };

  if ((mask & CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_TEXT)) != 0)
    {
      CarbColumnType kind = CARB_COLUMN_TYPE_TEXT;
      guint n_kinds = 0;
      for (guint i = 0; i < G_N_ELEMENTS (text_kinds); i++)
        if ((mask & CARB_COLUMN_TYPE_MASK_OF (text_kinds[i])) != 0)
          kind = text_kinds[i], n_kinds++;
      return n_kinds == 1 ? kind : CARB_COLUMN_TYPE_TEXT;
    }
  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    if ((mask & CARB_COLUMN_TYPE_MASK_OF (order[i])) != 0)
      return order[i];
  return CARB_COLUMN_TYPE_INVALID;
}

static gboolean
add_described_column (CarbModel *model,
                      const ColumnInfo *col,
                      const char *id,
                      const char *ts,
                      const char *deleted,
                      GError **error)
{
  CarbColumnRole role = CARB_COLUMN_ROLE_DATA;
  CarbColumnType type = natural_type (col->type_mask);

  if (strcmp (col->name, ts) == 0)
    role = CARB_COLUMN_ROLE_TIMESTAMP, type = CARB_COLUMN_TYPE_TIMESTAMP;
  else if (deleted != NULL && strcmp (col->name, deleted) == 0)
    role = CARB_COLUMN_ROLE_DELETED, type = CARB_COLUMN_TYPE_BOOL;
  else if (strcmp (col->name, id) == 0)
    role = CARB_COLUMN_ROLE_ID;

  if (type == CARB_COLUMN_TYPE_INVALID || (col->type_mask & CARB_COLUMN_TYPE_MASK_OF (type)) == 0)
    {
      g_set_error (
          error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH,
          "Table “%s”: column “%s” of type %s cannot be read as %s", model->table, col->name, col->sql_type,
          type == CARB_COLUMN_TYPE_INVALID ? "any Carburetor type" : carb_column_type_to_string (type));
      return FALSE;
    }
  CarbColumnFlags flags
      = col->nullable && role == CARB_COLUMN_ROLE_DATA ? CARB_COLUMN_FLAGS_NULLABLE : CARB_COLUMN_FLAGS_NONE;
  return carb_model_add_column (model, col->name, type, role, flags, error);
}

/* A run-time model of every column of the described table, with the named
 * id, timestamp and (optional) is-deleted columns. */
CarbModel *
carb_table_info_build_model (const CarbTableInfo *info,
                             const char *schema,
                             const char *table,
                             const char *id,
                             const char *ts,
                             const char *deleted,
                             GError **error)
{
  g_autoptr (CarbModel) model = carb_model_new (schema, table);
  const char *wanted[] = { id, ts, deleted };

  for (guint i = 0; i < G_N_ELEMENTS (wanted); i++)
    if (wanted[i] != NULL && lookup (info, wanted[i]) == NULL)
      {
        g_set_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH, "Table “%s” has no column “%s”", table,
                     wanted[i]);
        return NULL;
      }
  for (guint i = 0; i < info->columns->len; i++)
    if (!add_described_column (model, &g_array_index (info->columns, ColumnInfo, i), id, ts, deleted, error))
      return NULL;
  return g_steal_pointer (&model);
}
