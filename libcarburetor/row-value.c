/* Carburetor — reading a row of any model by column: as a GValue, as a
 * GVariant, and the model's own description. What bindings, tools and the
 * JSON export build on; the C macro path never goes through here.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <string.h>

/**
 * carb_model_get_schema:
 * @model: a model
 *
 * Returns: (transfer none) (nullable): the table's schema, or %NULL for
 *   the backend's default
 */
const char *
carb_model_get_schema (const CarbModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  return model->schema;
}

/**
 * carb_model_get_table:
 * @model: a model
 *
 * Returns: (transfer none): the table's name
 */
const char *
carb_model_get_table (const CarbModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  return model->table;
}

/**
 * carb_model_get_n_columns:
 * @model: a model
 *
 * Returns: the number of columns
 */
guint
carb_model_get_n_columns (const CarbModel *model)
{
  g_return_val_if_fail (model != NULL, 0);
  return model->n_columns;
}

static const CarbColumn *
column_at (const CarbModel *model, guint column)
{
  g_return_val_if_fail (model != NULL, NULL);
  g_return_val_if_fail (column < model->n_columns, NULL);
  return &model->columns[column];
}

/**
 * carb_model_get_column_name:
 * @model: a model
 * @column: a column index below carb_model_get_n_columns()
 *
 * Returns: (transfer none): the column's SQL name
 */
const char *
carb_model_get_column_name (const CarbModel *model, guint column)
{
  const CarbColumn *col = column_at (model, column);
  return col != NULL ? col->name : NULL;
}

/**
 * carb_model_get_column_type:
 * @model: a model
 * @column: a column index below carb_model_get_n_columns()
 *
 * Returns: the column's type
 */
CarbColumnType
carb_model_get_column_type (const CarbModel *model, guint column)
{
  const CarbColumn *col = column_at (model, column);
  return col != NULL ? col->type : CARB_COLUMN_TYPE_INVALID;
}

/**
 * carb_model_get_column_role:
 * @model: a model
 * @column: a column index below carb_model_get_n_columns()
 *
 * Returns: the column's role
 */
CarbColumnRole
carb_model_get_column_role (const CarbModel *model, guint column)
{
  const CarbColumn *col = column_at (model, column);
  return col != NULL ? col->role : CARB_COLUMN_ROLE_DATA;
}

/**
 * carb_model_find_column:
 * @model: a model
 * @name: a column's SQL name
 *
 * Returns: the index of the column named @name, or -1
 */
gint
carb_model_find_column (const CarbModel *model, const char *name)
{
  g_return_val_if_fail (model != NULL && name != NULL, -1);
  for (guint i = 0; i < model->n_columns; i++)
    if (strcmp (model->columns[i].name, name) == 0)
      return (gint) i;
  return -1;
}

#define MEMBER(row, col, Type) (*(const Type *) ((const guint8 *) (row) + (col)->offset))

/**
 * carb_model_row_is_null:
 * @model: a model
 * @row: a row of @model (a struct, e.g. carb_sync_result_get_row())
 * @column: a column index below carb_model_get_n_columns()
 *
 * Returns: whether the column holds SQL NULL in @row
 */
gboolean
carb_model_row_is_null (const CarbModel *model, gconstpointer row, guint column)
{
  const CarbColumn *col = column_at (model, column);
  g_return_val_if_fail (col != NULL && row != NULL, FALSE);
  return carb_column_is_null (col, row);
}

/**
 * carb_model_row_get_value:
 * @model: a model
 * @row: a row of @model
 * @column: a column index below carb_model_get_n_columns()
 * @value: (out caller-allocates): an empty #GValue to fill
 *
 * Reads one column of @row. Text-like types (TEXT, UUID, JSON, NUMERIC)
 * give a string, INT16, INT32 and DATE (days since 1970-01-01) a `gint`,
 * INT64 and TIMESTAMP (µs since the Unix epoch) a `gint64`, FLOAT a
 * `gfloat`, DOUBLE a `gdouble`, BOOL a `gboolean`, BYTES a #GBytes.
 *
 * Returns: %TRUE and @value set, or %FALSE with @value left unset when the
 *   column is NULL in @row
 */
gboolean
carb_model_row_get_value (const CarbModel *model, gconstpointer row, guint column, GValue *value)
{
  const CarbColumn *col = column_at (model, column);
  g_return_val_if_fail (col != NULL && row != NULL && value != NULL, FALSE);
  if (carb_model_row_is_null (model, row, column))
    return FALSE;

  switch (col->type)
    {
    case CARB_COLUMN_TYPE_INT16:
      g_value_init (value, G_TYPE_INT);
      g_value_set_int (value, MEMBER (row, col, gint16));
      break;
    case CARB_COLUMN_TYPE_INT32:
    case CARB_COLUMN_TYPE_DATE:
      g_value_init (value, G_TYPE_INT);
      g_value_set_int (value, MEMBER (row, col, gint32));
      break;
    case CARB_COLUMN_TYPE_INT64:
    case CARB_COLUMN_TYPE_TIMESTAMP:
      g_value_init (value, G_TYPE_INT64);
      g_value_set_int64 (value, MEMBER (row, col, gint64));
      break;
    case CARB_COLUMN_TYPE_FLOAT:
      g_value_init (value, G_TYPE_FLOAT);
      g_value_set_float (value, MEMBER (row, col, gfloat));
      break;
    case CARB_COLUMN_TYPE_DOUBLE:
      g_value_init (value, G_TYPE_DOUBLE);
      g_value_set_double (value, MEMBER (row, col, gdouble));
      break;
    case CARB_COLUMN_TYPE_BOOL:
      g_value_init (value, G_TYPE_BOOLEAN);
      g_value_set_boolean (value, MEMBER (row, col, gboolean));
      break;
    case CARB_COLUMN_TYPE_BYTES:
      {
        const CarbBytes *bytes = &MEMBER (row, col, CarbBytes);
        g_value_init (value, G_TYPE_BYTES);
        g_value_take_boxed (value, g_bytes_new (bytes->data, bytes->len));
        break;
      }
    default:
      g_value_init (value, G_TYPE_STRING);
      g_value_set_string (value, MEMBER (row, col, char *));
      break;
    }
  return TRUE;
}

/* The value of a non-NULL column, floating (carb_model_row_to_variant()'s
 * types). */
GVariant *
carb_model_column_variant (const CarbColumn *col, gconstpointer row)
{
  switch (col->type)
    {
    case CARB_COLUMN_TYPE_INT16:
      return g_variant_new_int16 (MEMBER (row, col, gint16));
    case CARB_COLUMN_TYPE_INT32:
    case CARB_COLUMN_TYPE_DATE:
      return g_variant_new_int32 (MEMBER (row, col, gint32));
    case CARB_COLUMN_TYPE_INT64:
    case CARB_COLUMN_TYPE_TIMESTAMP:
      return g_variant_new_int64 (MEMBER (row, col, gint64));
    case CARB_COLUMN_TYPE_FLOAT:
      return g_variant_new_double (MEMBER (row, col, gfloat));
    case CARB_COLUMN_TYPE_DOUBLE:
      return g_variant_new_double (MEMBER (row, col, gdouble));
    case CARB_COLUMN_TYPE_BOOL:
      return g_variant_new_boolean (MEMBER (row, col, gboolean));
    case CARB_COLUMN_TYPE_BYTES:
      {
        const CarbBytes *bytes = &MEMBER (row, col, CarbBytes);
        return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, bytes->data, bytes->len, 1);
      }
    default:
      return g_variant_new_string (MEMBER (row, col, char *));
    }
}

/**
 * carb_model_row_to_variant:
 * @model: a model
 * @row: a row of @model
 *
 * The row as a dictionary from column name to value (`a{sv}`), with the
 * types of carb_model_row_get_value() (`n`, `i`, `x`, `d`, `b`, `s`,
 * `ay`; FLOAT widened to `d`); a NULL column maps to the empty maybe
 * `@mv nothing` (None in Python).
 *
 * Returns: (transfer full): a new, non-floating #GVariant
 */
GVariant **
carb_model_row_to_values (const CarbModel *model, gconstpointer row)
{
  GVariant **values = g_new0 (GVariant *, MAX (model->n_columns, 1));
  for (guint i = 0; i < model->n_columns; i++)
    if (!carb_model_row_is_null (model, row, i))
      values[i] = g_variant_ref_sink (carb_model_column_variant (&model->columns[i], row));
  return values;
}

GVariant *
carb_model_row_to_variant (const CarbModel *model, gconstpointer row)
{
  g_return_val_if_fail (model != NULL && row != NULL, NULL);

  /* Built from an array of entries, not a GVariantBuilder with a format
   * string to parse per column: servers call this for every row an apply
   * reads and writes. */
  g_autofree GVariant **entries = g_new (GVariant *, MAX (model->n_columns, 1));
  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      GVariant *value = carb_model_row_is_null (model, row, i)
                            ? g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL)
                            : carb_model_column_variant (col, row);
      entries[i] = g_variant_new_dict_entry (g_variant_new_string (col->name), g_variant_new_variant (value));
    }
  return g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("{sv}"), entries, model->n_columns));
}
