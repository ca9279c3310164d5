/* Carburetor — statement parameters for writes: from a model's struct
 * rows, from GVariant rows (a{sv}, for bindings) and from a GVariant
 * tuple (carb_store_execute_with_params()). Values are borrowed from the
 * row or the variant, never copied; they live as long as the call.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <math.h>
#include <string.h>

static gboolean
bad_row (GError **error, const CarbQuery *query, gsize index, const CarbColumn *col, const char *format, ...)
    G_GNUC_PRINTF (5, 6);

static gboolean
bad_row (GError **error, const CarbQuery *query, gsize index, const CarbColumn *col, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *detail = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
               "Table “%s”, row %" G_GSIZE_FORMAT " to write, column “%s”: %s", query->model->table, index,
               col->name, detail);
  return FALSE;
}

#define MEMBER(row, col, Type) (*(const Type *) ((const guint8 *) (row) + (col)->offset))

static void
struct_value (const CarbColumn *col, gconstpointer row, CarbValue *v)
{
  switch (col->type)
    {
    case CARB_COLUMN_TYPE_INT16:
      v->v_int = MEMBER (row, col, gint16);
      break;
    case CARB_COLUMN_TYPE_INT32:
    case CARB_COLUMN_TYPE_DATE:
      v->v_int = MEMBER (row, col, gint32);
      break;
    case CARB_COLUMN_TYPE_INT64:
    case CARB_COLUMN_TYPE_TIMESTAMP:
      v->v_int = MEMBER (row, col, gint64);
      break;
    case CARB_COLUMN_TYPE_BOOL:
      v->v_int = MEMBER (row, col, gboolean) != FALSE;
      break;
    case CARB_COLUMN_TYPE_FLOAT:
      v->v_double = MEMBER (row, col, gfloat);
      break;
    case CARB_COLUMN_TYPE_DOUBLE:
      v->v_double = MEMBER (row, col, gdouble);
      break;
    case CARB_COLUMN_TYPE_BYTES:
      v->v_data = (const char *) MEMBER (row, col, CarbBytes).data;
      v->v_len = MEMBER (row, col, CarbBytes).len;
      v->is_null = v->v_data == NULL;
      break;
    default: /* TEXT, UUID, JSON, NUMERIC */
      v->v_data = MEMBER (row, col, char *);
      v->v_len = v->v_data != NULL ? strlen (v->v_data) : 0;
      v->is_null = v->v_data == NULL;
      break;
    }
}

/* The parameters ($1 … $n, one per model column) of struct row @row, the
 * @index-th of the call. The timestamp is a placeholder the trigger
 * replaces. */
gboolean
carb_write_row_params (
    const CarbQuery *query, gconstpointer row, gsize index, CarbValue *params, GError **error)
{
  const CarbModel *model = query->model;
  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      CarbValue *v = &params[i];
      *v = (CarbValue){ .type = col->type };
      if (i == query->ts_column)
        continue;
      struct_value (col, row, v);
      if (col->null_offset >= 0 && *(const gboolean *) ((const guint8 *) row + col->null_offset))
        v->is_null = TRUE;
      if (v->is_null && (col->flags & CARB_COLUMN_FLAGS_NULLABLE) == 0)
        return bad_row (error, query, index, col, "NULL in a NOT NULL column");
      if (!v->is_null && v->v_data != NULL && col->type != CARB_COLUMN_TYPE_BYTES
          && !g_utf8_validate_len (v->v_data, v->v_len, NULL))
        return bad_row (error, query, index, col, "the text is not valid UTF-8");
    }
  return TRUE;
}

/* The id of struct row @row, for statements keyed by id alone. */
gboolean
carb_write_id_param (const CarbQuery *query, gconstpointer row, gsize index, CarbValue *param, GError **error)
{
  const CarbColumn *col = &query->model->columns[query->id_column];
  *param = (CarbValue){ .type = col->type };
  struct_value (col, row, param);
  if (param->is_null)
    return bad_row (error, query, index, col, "the id is NULL");
  return TRUE;
}

static gboolean
variant_int (GVariant *value, gint64 *out)
{
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_BYTE))
    *out = g_variant_get_byte (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT16))
    *out = g_variant_get_int16 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT16))
    *out = g_variant_get_uint16 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
    *out = g_variant_get_int32 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
    *out = g_variant_get_uint32 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
    *out = g_variant_get_int64 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64) && g_variant_get_uint64 (value) <= G_MAXINT64)
    *out = (gint64) g_variant_get_uint64 (value);
  else
    return FALSE;
  return TRUE;
}

/* Strips variant boxes ('v') and maybes; NULL for an empty maybe (SQL
 * NULL). Returns a new reference. */
static GVariant *
unwrap (GVariant *value)
{
  g_autoptr (GVariant) v = g_variant_ref (value);
  for (;;)
    {
      if (g_variant_is_of_type (v, G_VARIANT_TYPE_VARIANT))
        {
          GVariant *inner = g_variant_get_variant (v);
          g_variant_unref (v);
          v = inner;
        }
      else if (g_variant_is_of_type (v, G_VARIANT_TYPE_MAYBE))
        {
          GVariant *inner = g_variant_get_maybe (v);
          g_variant_unref (v);
          v = inner;
          if (v == NULL)
            return NULL;
        }
      else
        return g_steal_pointer (&v);
    }
}

static gboolean
int_in_range (CarbColumnType type, gint64 v)
{
  switch (type)
    {
    case CARB_COLUMN_TYPE_INT16:
      return v >= G_MININT16 && v <= G_MAXINT16;
    case CARB_COLUMN_TYPE_INT32:
    case CARB_COLUMN_TYPE_DATE:
      return v >= G_MININT32 && v <= G_MAXINT32;
    default:
      return TRUE;
    }
}

/* One column's value from a variant, checked against the column's type.
 * The returned text points into @value, which the caller keeps alive. */
static gboolean
variant_value (
    const CarbQuery *query, gsize index, const CarbColumn *col, GVariant *value, CarbValue *v, GError **error)
{
  const char *got = g_variant_get_type_string (value);
  switch (col->type)
    {
    case CARB_COLUMN_TYPE_INT16:
    case CARB_COLUMN_TYPE_INT32:
    case CARB_COLUMN_TYPE_INT64:
    case CARB_COLUMN_TYPE_TIMESTAMP:
    case CARB_COLUMN_TYPE_DATE:
      if (!variant_int (value, &v->v_int))
        return bad_row (error, query, index, col, "a column of type %s takes an integer, not “%s”",
                        carb_column_type_to_string (col->type), got);
      if (!int_in_range (col->type, v->v_int))
        return bad_row (error, query, index, col, "%" G_GINT64_FORMAT " does not fit a %s column", v->v_int,
                        carb_column_type_to_string (col->type));
      return TRUE;
    case CARB_COLUMN_TYPE_BOOL:
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
        return bad_row (error, query, index, col, "a BOOL column takes “b”, not “%s”", got);
      v->v_int = g_variant_get_boolean (value);
      return TRUE;
    case CARB_COLUMN_TYPE_FLOAT:
    case CARB_COLUMN_TYPE_DOUBLE:
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
        v->v_double = g_variant_get_double (value);
      else if (variant_int (value, &v->v_int) && v->v_int >= -(G_GINT64_CONSTANT (1) << 53)
               && v->v_int <= (G_GINT64_CONSTANT (1) << 53))
        v->v_double = (gdouble) v->v_int;
      else
        return bad_row (error, query, index, col, "a column of type %s takes “d”, not “%s”",
                        carb_column_type_to_string (col->type), got);
      /* As a reader would take it (carb_sink_set_double()): written, it
       * would fail every read of the row instead (SQLite stores it as
       * given). */
      if (col->type == CARB_COLUMN_TYPE_FLOAT && isfinite (v->v_double) && isinf ((gfloat) v->v_double))
        return bad_row (error, query, index, col, "%g does not fit a FLOAT column (gfloat)", v->v_double);
      return TRUE;
    case CARB_COLUMN_TYPE_BYTES:
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE_BYTESTRING))
        return bad_row (error, query, index, col, "a BYTES column takes “ay”, not “%s”", got);
      v->v_data = g_variant_get_fixed_array (value, &v->v_len, 1);
      return TRUE;
    default:
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        return bad_row (error, query, index, col, "a column of type %s takes “s”, not “%s”",
                        carb_column_type_to_string (col->type), got);
      v->v_data = g_variant_get_string (value, &v->v_len);
      return TRUE;
    }
}

static void
values_free (gpointer v)
{
  if (v != NULL)
    g_variant_unref (v);
}

/* The parameters of a row given as `a{sv}` (column name → value; a missing
 * or empty-maybe value is NULL; the timestamp and a missing tombstone need
 * no value). A key that names no column is an error: a typo must not drop
 * a value silently. The text of @params points into @row. */
gboolean
carb_write_variant_row_params (
    const CarbQuery *query, GVariant *row, gsize index, CarbValue *params, GError **error)
{
  const CarbModel *model = query->model;
  GVariantIter iter;
  const char *key;

  if (!g_variant_is_of_type (row, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "Table “%s”, row %" G_GSIZE_FORMAT " to write: a row is an “a{sv}”, not “%s”",
                   model->table, index, g_variant_get_type_string (row));
      return FALSE;
    }
  /* One pass over the dictionary, each value put by its column (the
   * first of a key given twice, as g_variant_lookup_value() would): a
   * lookup per column would walk it once each. */
  g_autoptr (GPtrArray) values = g_ptr_array_new_full (model->n_columns, values_free);
  g_ptr_array_set_size (values, (gint) model->n_columns);
  GVariant *found = NULL;
  gsize k = 0;
  g_variant_iter_init (&iter, row);
  for (; g_variant_iter_next (&iter, "{&sv}", &key, &found); k++)
    {
      gint c = k < model->n_columns && strcmp (model->columns[k].name, key) == 0
                   ? (gint) k
                   : carb_model_find_column (model, key);
      if (c < 0)
        {
          g_variant_unref (found);
          g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                       "Table “%s”, row %" G_GSIZE_FORMAT " to write: the model has no column “%s”",
                       model->table, index, key);
          return FALSE;
        }
      if (values->pdata[c] == NULL)
        values->pdata[c] = found;
      else
        g_variant_unref (found);
    }

  return carb_write_values_params (query, (GVariant *const *) values->pdata, index, params, error);
}

gboolean
carb_write_values_params (
    const CarbQuery *query, GVariant *const *values, gsize index, CarbValue *params, GError **error)
{
  for (guint i = 0; i < query->model->n_columns; i++)
    if (!carb_write_value_param (query, i, values[i], index, &params[i], error))
      return FALSE;
  return TRUE;
}

gboolean
carb_write_value_param (
    const CarbQuery *query, guint column, GVariant *boxed, gsize index, CarbValue *v, GError **error)
{
  const CarbColumn *col = &query->model->columns[column];
  *v = (CarbValue){ .type = col->type };
  if (column == query->ts_column)
    return TRUE;
  g_autoptr (GVariant) value = boxed != NULL ? unwrap (boxed) : NULL;
  if (value == NULL && (gint) column == query->deleted_column)
    return TRUE; /* v_int 0: not deleted */
  if (value == NULL)
    {
      if ((col->flags & CARB_COLUMN_FLAGS_NULLABLE) == 0)
        return bad_row (error, query, index, col,
                        boxed == NULL ? "no value for a NOT NULL column" : "NULL in a NOT NULL column");
      v->is_null = TRUE;
      return TRUE;
    }
  /* @value may be a child of @boxed: its data lives as long as that. */
  return variant_value (query, index, col, value, v, error);
}

gboolean
carb_write_struct_param (
    const CarbQuery *query, guint column, gconstpointer row, gsize index, CarbValue *v, GError **error)
{
  const CarbColumn *col = &query->model->columns[column];
  *v = (CarbValue){ .type = col->type };
  if (column == query->ts_column)
    return TRUE;
  if (carb_column_is_null (col, row))
    {
      if ((gint) column == query->deleted_column)
        return TRUE; /* v_int 0: not deleted */
      if ((col->flags & CARB_COLUMN_FLAGS_NULLABLE) == 0)
        return bad_row (error, query, index, col, "no value for a NOT NULL column");
      v->is_null = TRUE;
      return TRUE;
    }
  struct_value (col, row, v);
  return TRUE;
}

void
carb_values_free (GVariant **values, guint n)
{
  if (values == NULL)
    return;
  for (guint i = 0; i < n; i++)
    g_clear_pointer (&values[i], g_variant_unref);
  g_free (values);
}

/* The parameters of carb_store_execute_with_params(): each child of
 * @tuple, typed by its variant type. */
CarbValue *
carb_write_tuple_params (GVariant *tuple, guint *n_params, GError **error)
{
  if (!g_variant_is_of_type (tuple, G_VARIANT_TYPE_TUPLE))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA, "Statement parameters are a tuple, not “%s”",
                   g_variant_get_type_string (tuple));
      return NULL;
    }
  guint n = (guint) g_variant_n_children (tuple);
  g_autofree CarbValue *params = g_new0 (CarbValue, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (GVariant) child = g_variant_get_child_value (tuple, i);
      g_autoptr (GVariant) value = unwrap (child);
      CarbValue *v = &params[i];
      if (value == NULL)
        *v = (CarbValue){ .type = CARB_COLUMN_TYPE_TEXT, .is_null = TRUE };
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
        *v = (CarbValue){ .type = CARB_COLUMN_TYPE_BOOL, .v_int = g_variant_get_boolean (value) };
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
        *v = (CarbValue){ .type = CARB_COLUMN_TYPE_DOUBLE, .v_double = g_variant_get_double (value) };
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        {
          *v = (CarbValue){ .type = CARB_COLUMN_TYPE_TEXT };
          v->v_data = g_variant_get_string (value, &v->v_len);
        }
      else if (g_variant_is_of_type (value, G_VARIANT_TYPE_BYTESTRING))
        {
          *v = (CarbValue){ .type = CARB_COLUMN_TYPE_BYTES };
          v->v_data = g_variant_get_fixed_array (value, &v->v_len, 1);
        }
      else if (variant_int (value, &v->v_int))
        v->type = CARB_COLUMN_TYPE_INT64;
      else
        {
          g_set_error (
              error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
              "Statement parameter $%u: values of type “%s” are not supported (b, integers, d, s, ay, m*)",
              i + 1, g_variant_get_type_string (value));
          return NULL;
        }
    }
  *n_params = n;
  return g_steal_pointer (&params);
}
