/* Carburetor — what the server side of two-way sync knows of one table of
 * a group (its wire model checked against the live table, where each
 * column's version lives, its filter), and the small rules apply and
 * download share: the server's clock, filters, value types, a row's state
 * in changeset form.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "twoway-private.h"

#include <string.h>

gboolean
carb_twoway_check_backend (CarbStore *store, GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  if (CARB_VTABLE_HAS (vt, sql_syntax) && CARB_VTABLE_HAS (vt, execute_params)
      && CARB_VTABLE_HAS (vt, in_transaction) && CARB_VTABLE_HAS (vt, query_rows))
    return TRUE;
  g_set_error (error, CARB_ERROR, CARB_ERROR_PLUGIN,
               "The “%s” backend cannot serve two-way sync (its plugin has no %s); update the plugin",
               vt->name, "query_rows");
  return FALSE;
}

/* What needs no store: the models, the version columns, the filter. */
void
carb_twoway_table_init_columns (CarbTwowayTable *t, CarbSyncGroup *group, guint index)
{
  *t = (CarbTwowayTable){ .group = group, .index = index, .filter_column = -1 };
  t->model = carb_sync_group_get_model (group, index);
  t->wire = carb_sync_group_get_wire_model (group, index);
  t->version_column = g_new (gint, t->model->n_columns);
  for (guint i = 0; i < t->model->n_columns; i++)
    {
      g_autofree char *name = g_strconcat (t->model->columns[i].name, CARB_VERSION_COLUMN_SUFFIX, NULL);
      CarbColumnRole role = t->model->columns[i].role;
      if (role == CARB_COLUMN_ROLE_ID)
        t->id_column = i;
      t->version_column[i] = role == CARB_COLUMN_ROLE_DATA || role == CARB_COLUMN_ROLE_DELETED
                                 ? carb_model_find_column (t->wire, name)
                                 : -1;
    }
  t->filter_column = carb_sync_group_get_filter (group, index, &t->filter_key);
}

/* With the store's lock held. The wire model must fit the live table and
 * the table be prepared, as for any write. */
gboolean
carb_twoway_table_init (
    CarbTwowayTable *t, CarbStore *store, CarbSyncGroup *group, guint index, GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  carb_twoway_table_init_columns (t, group, index);
  t->syntax = vt->sql_syntax;
  t->query = carb_store_checked_query (store, t->wire, error);
  if (t->query == NULL)
    return FALSE;
  if (CARB_VTABLE_HAS (vt, check_prepared)
      && !vt->check_prepared (carb_store_get_backend (store), t->query, error))
    return FALSE;
  t->select_sql = carb_sql_select_by_id (t->query, vt->sql_syntax, TRUE, error);
  t->reread_sql
      = t->select_sql != NULL ? carb_sql_select_by_id (t->query, vt->sql_syntax, FALSE, error) : NULL;
  return t->reread_sql != NULL;
}

void
carb_twoway_table_clear (CarbTwowayTable *t)
{
  g_clear_pointer (&t->version_column, g_free);
  g_clear_pointer (&t->select_sql, g_free);
  g_clear_pointer (&t->reread_sql, g_free);
}

guint64
carb_twoway_server_hlc (void)
{
  return ((guint64) (g_get_real_time () / 1000)) << CARB_HLC_COUNTER_BITS;
}

static gboolean
variant_int64 (GVariant *v, gint64 *out)
{
  if (g_variant_is_of_type (v, G_VARIANT_TYPE_INT16))
    *out = g_variant_get_int16 (v);
  else if (g_variant_is_of_type (v, G_VARIANT_TYPE_INT32))
    *out = g_variant_get_int32 (v);
  else if (g_variant_is_of_type (v, G_VARIANT_TYPE_INT64))
    *out = g_variant_get_int64 (v);
  else if (g_variant_is_of_type (v, G_VARIANT_TYPE_UINT16))
    *out = g_variant_get_uint16 (v);
  else if (g_variant_is_of_type (v, G_VARIANT_TYPE_UINT32))
    *out = g_variant_get_uint32 (v);
  else
    return FALSE;
  return TRUE;
}

/* Text equals text, an integer equals an integer of any width; NULL
 * matches nothing (a row with no owner belongs to nobody). */
gboolean
carb_twoway_filter_matches (GVariant *value, GVariant *wanted)
{
  if (value == NULL || wanted == NULL)
    return FALSE;
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    return g_variant_is_of_type (wanted, G_VARIANT_TYPE_STRING)
           && strcmp (g_variant_get_string (value, NULL), g_variant_get_string (wanted, NULL)) == 0;
  gint64 a, b;
  return variant_int64 (value, &a) && variant_int64 (wanted, &b) && a == b;
}

/* A string for a TEXT filter column (a UUID in lower case for a UUID
 * one), an integer for an integer one: any other value would match no
 * row, and the replica would be told nothing, silently. */
static gboolean
context_value_fits (CarbSyncGroup *group, guint index, const char *key, GVariant *value, GError **error)
{
  const CarbModel *model = carb_sync_group_get_model (group, index);
  const CarbColumn *column = &model->columns[carb_sync_group_get_filter (group, index, NULL)];
  gboolean text = column->type == CARB_COLUMN_TYPE_TEXT || column->type == CARB_COLUMN_TYPE_UUID;
  gint64 n = 0;
  if (column->type == CARB_COLUMN_TYPE_UUID && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    {
      /* Compared with the stored text, which is canonical: another form
       * of the UUID (upper case) or no UUID at all matches no row. */
      gsize len = 0;
      const char *uuid = g_variant_get_string (value, &len);
      if (carb_value_is_canonical_uuid (uuid, len))
        return TRUE;
      g_set_error (
          error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
          "Sync group “%s”: the context's “%s” is “%s”, but table “%s” filters its UUID column “%s” by "
          "it: give a UUID in lower case (8-4-4-4-12 hexadecimal digits), as the column stores it",
          carb_sync_group_get_name (group), key, uuid, model->table, column->name);
      return FALSE;
    }
  if (text ? g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) : variant_int64 (value, &n))
    return TRUE;
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
               "Sync group “%s”: the context's “%s” is of type “%s”, but table “%s” filters its column “%s” "
               "(%s) by it: give %s",
               carb_sync_group_get_name (group), key, g_variant_get_type_string (value), model->table,
               column->name, carb_column_type_to_string (column->type),
               text ? "a string (“s”)" : "an integer (“n”, “i” or “x”)");
  return FALSE;
}

gboolean
carb_twoway_check_context (CarbSyncGroup *group, GVariant *context, GError **error)
{
  if (context != NULL && !g_variant_is_of_type (context, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "Sync group “%s”: the context is an “a{sv}”, not “%s”", carb_sync_group_get_name (group),
                   g_variant_get_type_string (context));
      return FALSE;
    }
  for (guint i = 0; i < carb_sync_group_get_n_models (group); i++)
    {
      const char *key = NULL;
      if (carb_sync_group_get_filter (group, i, &key) < 0)
        continue;
      g_autoptr (GVariant) v = context != NULL ? g_variant_lookup_value (context, key, NULL) : NULL;
      if (v == NULL)
        {
          g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                       "Sync group “%s”: table “%s” is filtered on the context key “%s”, which the context "
                       "lacks; pass it from the authenticated session",
                       carb_sync_group_get_name (group), carb_sync_group_get_model (group, i)->table, key);
          return FALSE;
        }
      if (!context_value_fits (group, i, key, v, error))
        return FALSE;
    }
  return TRUE;
}

char *
carb_twoway_filter_text (GVariant *wanted)
{
  gint64 n = 0;
  if (g_variant_is_of_type (wanted, G_VARIANT_TYPE_STRING))
    return g_variant_dup_string (wanted, NULL);
  return variant_int64 (wanted, &n) ? g_strdup_printf ("%" G_GINT64_FORMAT, n) : NULL;
}

const char *
carb_twoway_value_type (CarbColumnType type)
{
  switch (type)
    {
    case CARB_COLUMN_TYPE_INT16:
      return "n";
    case CARB_COLUMN_TYPE_INT32:
    case CARB_COLUMN_TYPE_DATE:
      return "i";
    case CARB_COLUMN_TYPE_INT64:
    case CARB_COLUMN_TYPE_TIMESTAMP:
      return "x";
    case CARB_COLUMN_TYPE_FLOAT:
    case CARB_COLUMN_TYPE_DOUBLE:
      return "d";
    case CARB_COLUMN_TYPE_BOOL:
      return "b";
    case CARB_COLUMN_TYPE_BYTES:
      return "ay";
    default:
      return "s";
    }
}

GVariant **
carb_twoway_dict_split (const CarbModel *wire, GVariant *dict)
{
  GVariant **values = g_new0 (GVariant *, wire->n_columns);
  gsize n = g_variant_n_children (dict);
  for (gsize k = 0; k < n; k++)
    {
      g_autoptr (GVariant) entry = g_variant_get_child_value (dict, k);
      g_autoptr (GVariant) key = g_variant_get_child_value (entry, 0);
      const char *name = g_variant_get_string (key, NULL);
      /* row_to_variant() keeps the model's order: the k-th entry is the
       * k-th column, found without a search. */
      gint c = k < wire->n_columns && strcmp (wire->columns[k].name, name) == 0
                   ? (gint) k
                   : carb_model_find_column (wire, name);
      if (c < 0 || values[c] != NULL)
        continue;
      g_autoptr (GVariant) boxed = g_variant_get_child_value (entry, 1);
      GVariant *v = g_variant_get_variant (boxed);
      if (g_variant_is_of_type (v, G_VARIANT_TYPE_MAYBE))
        g_variant_unref (v);
      else
        values[c] = v;
    }
  return values;
}

/* NULL (never written through the library or the versioning trigger)
 * and malformed text are the lowest version, so the next change wins and
 * repairs it. */
CarbVersion
carb_twoway_version_of (GVariant *text)
{
  CarbVersion version = { 0, 0 };
  if (text != NULL && !carb_version_parse (g_variant_get_string (text, NULL), &version, NULL))
    version = (CarbVersion){ 0, 0 };
  return version;
}

GBytes *
carb_twoway_state_of_row (const CarbTwowayTable *t, gconstpointer row)
{
  CarbRowsWriter w;
  carb_columns_writer_begin (&w);
  carb_twoway_add_raw_state (t, row, &w);
  return carb_columns_writer_end (&w);
}

CarbVersion
carb_twoway_raw_version (const CarbModel *wire, gconstpointer row, gint column, gboolean *has_version)
{
  CarbVersion version = { 0, 0 };
  *has_version = !carb_model_row_is_null (wire, row, (guint) column);
  if (*has_version)
    {
      const char *text
          = *(char *const *) (gconstpointer) ((const guint8 *) row + wire->columns[column].offset);
      if (!carb_version_parse (text, &version, NULL))
        version = (CarbVersion){ 0, 0 };
    }
  return version;
}

void
carb_twoway_add_raw_state (const CarbTwowayTable *t, gconstpointer row, CarbRowsWriter *w)
{
  for (guint i = 0; i < t->model->n_columns; i++)
    {
      gint vc = t->version_column[i];
      if (vc < 0)
        continue;
      gboolean has_version = FALSE;
      CarbVersion version = carb_twoway_raw_version (t->wire, row, vc, &has_version);
      /* Model column i is wire column i. */
      carb_rows_writer_add_raw_column (w, t->model->columns[i].name, &version, t->wire, i, row);
    }
}

void
carb_twoway_add_state (const CarbTwowayTable *t, GVariant *const *values, CarbRowsWriter *w)
{
  for (guint i = 0; i < t->model->n_columns; i++)
    {
      if (t->version_column[i] < 0)
        continue;
      CarbVersion version = carb_twoway_version_of (values[t->version_column[i]]);
      carb_rows_writer_add_column (w, t->model->columns[i].name, &version, values[i]);
    }
}
