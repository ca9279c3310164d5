/* Carburetor — a sync result read by column, and as JSON: for bindings,
 * tools (the `carburetor` command) and services that pass rows on.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <json-glib/json-glib.h>

/**
 * carb_sync_result_get_value:
 * @result: a sync result
 * @row: a row index below carb_sync_result_get_n_rows()
 * @column: a column index of the result's model
 * @value: (out caller-allocates): an empty #GValue to fill
 *
 * Reads one column of one row; see carb_model_row_get_value() for the
 * types.
 *
 * Returns: %TRUE and @value set, or %FALSE with @value unset when the
 *   column is NULL
 */
gboolean
carb_sync_result_get_value (const CarbSyncResult *result, gsize row, guint column, GValue *value)
{
  g_return_val_if_fail (result != NULL && row < carb_sync_result_get_n_rows (result), FALSE);
  return carb_model_row_get_value (carb_sync_result_get_model (result),
                                   carb_sync_result_get_row (result, row), column, value);
}

/**
 * carb_sync_result_get_row_variant:
 * @result: a sync result
 * @row: a row index below carb_sync_result_get_n_rows()
 *
 * Returns: (transfer full): row @row as carb_model_row_to_variant() gives it
 */
GVariant *
carb_sync_result_get_row_variant (const CarbSyncResult *result, gsize row)
{
  g_return_val_if_fail (result != NULL && row < carb_sync_result_get_n_rows (result), NULL);
  return carb_model_row_to_variant (carb_sync_result_get_model (result),
                                    carb_sync_result_get_row (result, row));
}

/* A JSON column's text is embedded as JSON when it parses (it came from a
 * json/jsonb column or was checked on write), else kept as a string. */
static JsonNode *
json_column_node (const char *text)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  if (json_parser_load_from_data (parser, text, -1, NULL) && json_parser_get_root (parser) != NULL)
    return json_node_copy (json_parser_get_root (parser));
  return json_node_init_string (json_node_alloc (), text);
}

static void
add_column (JsonBuilder *builder, const CarbModel *model, gconstpointer row, guint i)
{
  const CarbColumn *col = &model->columns[i];
  g_auto (GValue) value = G_VALUE_INIT;

  json_builder_set_member_name (builder, col->name);
  if (!carb_model_row_get_value (model, row, i, &value))
    {
      json_builder_add_null_value (builder);
      return;
    }
  switch (col->type)
    {
    case CARB_COLUMN_TYPE_INT16:
    case CARB_COLUMN_TYPE_INT32:
    case CARB_COLUMN_TYPE_DATE:
      json_builder_add_int_value (builder, g_value_get_int (&value));
      break;
    case CARB_COLUMN_TYPE_INT64:
    case CARB_COLUMN_TYPE_TIMESTAMP:
      json_builder_add_int_value (builder, g_value_get_int64 (&value));
      break;
    case CARB_COLUMN_TYPE_FLOAT:
      json_builder_add_double_value (builder, g_value_get_float (&value));
      break;
    case CARB_COLUMN_TYPE_DOUBLE:
      json_builder_add_double_value (builder, g_value_get_double (&value));
      break;
    case CARB_COLUMN_TYPE_BOOL:
      json_builder_add_boolean_value (builder, g_value_get_boolean (&value));
      break;
    case CARB_COLUMN_TYPE_BYTES:
      {
        gsize len = 0;
        const guint8 *data = g_bytes_get_data (g_value_get_boxed (&value), &len);
        g_autofree char *base64 = g_base64_encode (data, len);
        json_builder_add_string_value (builder, base64);
        break;
      }
    case CARB_COLUMN_TYPE_JSON:
      json_builder_add_value (builder, json_column_node (g_value_get_string (&value)));
      break;
    default:
      json_builder_add_string_value (builder, g_value_get_string (&value));
      break;
    }
}

static void
add_row (JsonBuilder *builder, const CarbModel *model, gconstpointer row)
{
  json_builder_begin_object (builder);
  for (guint i = 0; i < model->n_columns; i++)
    add_column (builder, model, row, i);
  json_builder_end_object (builder);
}

/**
 * carb_model_row_to_json:
 * @model: a model
 * @row: a row of @model
 *
 * One row as a JSON object, with the value mapping of
 * carb_sync_result_to_json(): for streaming rows out one by one (JSON
 * lines) from carb_store_download_sync_foreach().
 *
 * Returns: (transfer full): the JSON text, on one line
 */
char *
carb_model_row_to_json (const CarbModel *model, gconstpointer row)
{
  g_return_val_if_fail (model != NULL && row != NULL, NULL);
  g_autoptr (JsonBuilder) builder = json_builder_new_immutable ();
  add_row (builder, model, row);
  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

/**
 * carb_sync_result_to_json:
 * @result: a sync result
 * @pretty: whether to indent the output
 *
 * The result as one JSON object: `{"synced_until": "<sync point>",
 * "has_more": bool, "rows": [{"column": value, …}, …]}`. Integers,
 * timestamps (µs since the Unix epoch) and dates (days since 1970-01-01)
 * are JSON numbers, BYTES base64 strings, JSON columns embedded as JSON,
 * NULL `null`. The sync point is a string: pass it back to
 * carb_sync_point_parse().
 *
 * Returns: (transfer full): the JSON text
 */
char *
carb_sync_result_to_json (const CarbSyncResult *result, gboolean pretty)
{
  g_return_val_if_fail (result != NULL, NULL);

  const CarbModel *model = carb_sync_result_get_model (result);
  g_autoptr (JsonBuilder) builder = json_builder_new_immutable ();
  g_autofree char *point = carb_sync_point_to_string (carb_sync_result_get_synced_until (result));

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "synced_until");
  json_builder_add_string_value (builder, point);
  json_builder_set_member_name (builder, "has_more");
  json_builder_add_boolean_value (builder, carb_sync_result_has_more (result));
  json_builder_set_member_name (builder, "rows");
  json_builder_begin_array (builder);
  for (gsize r = 0; r < carb_sync_result_get_n_rows (result); r++)
    {
      add_row (builder, model, carb_sync_result_get_row (result, r));
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  return json_to_string (root, pretty);
}
