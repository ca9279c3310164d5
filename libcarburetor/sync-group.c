/* Carburetor — sync groups: models synced together, each with its wire
 * model (the model plus a version column per synced column), and the rules
 * the server enforces on apply and download.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <string.h>

#define DEFAULT_MAX_CLOCK_AHEAD_MS (5 * 60 * 1000)
/* The shortest identifier limit of the backends we ship (PostgreSQL's
 * NAMEDATALEN - 1): a version column name must survive it whole. */
#define MAX_IDENTIFIER_BYTES 63

typedef struct
{
  CarbModel *model; /* a reference (run-time models) or the static model */
  gboolean model_is_runtime;
  CarbModel *wire;       /* model + X__v columns, run-time, owned */
  GHashTable *immutable; /* column names */
  char *filter_column;
  char *filter_key;
} GroupTable;

struct _CarbSyncGroup
{
  gint ref_count;
  gint sealed;
  char *name;
  GPtrArray *tables; /* GroupTable */
  CarbValidateFunc validate;
  gpointer validate_data;
  GDestroyNotify validate_destroy;
  gint64 max_ahead_ms;
};

CARB_DEFINE_BOXED_TYPE (CarbSyncGroup, carb_sync_group, carb_sync_group_ref, carb_sync_group_unref)

static void
group_table_free (gpointer data)
{
  GroupTable *t = data;
  if (t->model_is_runtime)
    carb_model_unref (t->model);
  carb_model_unref (t->wire);
  g_hash_table_unref (t->immutable);
  g_free (t->filter_column);
  g_free (t->filter_key);
  g_free (t);
}

/**
 * carb_sync_group_new:
 * @name: the group's name; a replica keeps its sync points under it
 *
 * Returns: (transfer full): an empty group
 *
 * Since: 1.0
 */
CarbSyncGroup *
carb_sync_group_new (const char *name)
{
  g_return_val_if_fail (name != NULL, NULL);
  CarbSyncGroup *group = g_new0 (CarbSyncGroup, 1);
  group->ref_count = 1;
  group->name = g_strdup (name);
  group->tables = g_ptr_array_new_with_free_func (group_table_free);
  group->max_ahead_ms = DEFAULT_MAX_CLOCK_AHEAD_MS;
  return group;
}

/**
 * carb_sync_group_ref:
 * @group: a group
 *
 * Returns: (transfer full): @group
 *
 * Since: 1.0
 */
CarbSyncGroup *
carb_sync_group_ref (CarbSyncGroup *group)
{
  g_return_val_if_fail (group != NULL, NULL);
  g_atomic_int_inc (&group->ref_count);
  return group;
}

/**
 * carb_sync_group_unref:
 * @group: (transfer full): a group
 *
 * Since: 1.0
 */
void
carb_sync_group_unref (CarbSyncGroup *group)
{
  g_return_if_fail (group != NULL);
  if (!g_atomic_int_dec_and_test (&group->ref_count))
    return;
  if (group->validate_destroy != NULL)
    group->validate_destroy (group->validate_data);
  g_ptr_array_unref (group->tables);
  g_free (group->name);
  g_free (group);
}

/**
 * carb_sync_group_get_name:
 * @group: a group
 *
 * Returns: (transfer none): its name
 *
 * Since: 1.0
 */
const char *
carb_sync_group_get_name (CarbSyncGroup *group)
{
  g_return_val_if_fail (group != NULL, NULL);
  return group->name;
}

static gboolean refuse (GError **error, CarbSyncGroup *group, const char *table, const char *format, ...)
    G_GNUC_PRINTF (4, 5);

static gboolean
refuse (GError **error, CarbSyncGroup *group, const char *table, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *why = g_strdup_vprintf (format, args);
  va_end (args);
  if (table != NULL)
    g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_MODEL, "Sync group “%s”, table “%s”: %s", group->name,
                 table, why);
  else
    g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_MODEL, "Sync group “%s”: %s", group->name, why);
  return FALSE;
}

static gboolean
writable (CarbSyncGroup *group, GError **error)
{
  if (g_atomic_int_get (&group->sealed))
    return refuse (error, group, NULL,
                   "in use by a store or replica; configure a group before its first use");
  return TRUE;
}

/* What two-way sync needs of a model beyond one-way sync: ids a device can
 * make alone, and a tombstone flag (deletes are versioned writes). */
static gboolean
check_two_way (CarbSyncGroup *group, const CarbModel *model, GError **error)
{
  gint deleted = -1;
  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      if (col->role == CARB_COLUMN_ROLE_ID && col->type != CARB_COLUMN_TYPE_TEXT
          && col->type != CARB_COLUMN_TYPE_UUID)
        return refuse (error, group, model->table,
                       "id column “%s” is %s; two-way ids are made on devices, so they must be TEXT or "
                       "UUID (carb_new_uuid())",
                       col->name, carb_column_type_to_string (col->type));
      if (col->role == CARB_COLUMN_ROLE_VERSION)
        return refuse (error, group, model->table,
                       "column “%s” is a version column; declare the model without them (the group adds "
                       "them)",
                       col->name);
      if (col->role == CARB_COLUMN_ROLE_DELETED)
        deleted = (gint) i;
      if (col->role != CARB_COLUMN_ROLE_ID && col->role != CARB_COLUMN_ROLE_TIMESTAMP
          && strlen (col->name) + strlen (CARB_VERSION_COLUMN_SUFFIX) > MAX_IDENTIFIER_BYTES)
        return refuse (error, group, model->table, "column “%s” is too long to have a version column “%s%s”",
                       col->name, col->name, CARB_VERSION_COLUMN_SUFFIX);
    }
  if (deleted < 0)
    return refuse (error, group, model->table,
                   "two-way sync needs an is-deleted column (deletes are versioned tombstones)");
  return TRUE;
}

/* The model as it is stored on the server: every column, then `X__v` for
 * every data and is-deleted column X. */
static CarbModel *
make_wire_model (const CarbModel *model, GError **error)
{
  g_autoptr (CarbModel) wire = carb_model_new (model->schema, model->table);
  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      if (!carb_model_add_column (wire, col->name, col->type, col->role, col->flags, error))
        return NULL;
    }
  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      if (col->role != CARB_COLUMN_ROLE_DATA && col->role != CARB_COLUMN_ROLE_DELETED)
        continue;
      g_autofree char *name = g_strconcat (col->name, CARB_VERSION_COLUMN_SUFFIX, NULL);
      if (!carb_model_add_column (wire, name, CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_VERSION,
                                  CARB_COLUMN_FLAGS_NULLABLE, error))
        return NULL;
    }
  if (!carb_model_validate (wire, error))
    return NULL;
  return g_steal_pointer (&wire);
}

/**
 * carb_sync_group_add_model:
 * @group: a group not used yet
 * @model: a valid model with a TEXT or UUID id and an is-deleted column;
 *   a run-time model is referenced, a static one must outlive @group
 * @error: return location for a #GError
 *
 * Appends @model: tables sync in the order they were added.
 *
 * Returns: %TRUE, or %FALSE with %CARB_ERROR_INVALID_MODEL
 *
 * Since: 1.0
 */
gboolean
carb_sync_group_add_model (CarbSyncGroup *group, const CarbModel *model, GError **error)
{
  g_return_val_if_fail (group != NULL && model != NULL, FALSE);
  if (!writable (group, error) || !carb_model_validate (model, error) || !check_two_way (group, model, error))
    return FALSE;
  if (carb_sync_group_find_table (group, model->table) >= 0)
    return refuse (error, group, model->table, "the table is in the group already");
  CarbModel *wire = make_wire_model (model, error);
  if (wire == NULL)
    return FALSE;
  GroupTable *t = g_new0 (GroupTable, 1);
  t->model_is_runtime = carb_model_is_runtime (model);
  t->model = t->model_is_runtime ? carb_model_ref (model) : (CarbModel *) model;
  t->wire = wire;
  t->immutable = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_ptr_array_add (group->tables, t);
  return TRUE;
}

/**
 * carb_sync_group_get_n_models:
 * @group: a group
 *
 * Returns: the number of models
 *
 * Since: 1.0
 */
guint
carb_sync_group_get_n_models (CarbSyncGroup *group)
{
  g_return_val_if_fail (group != NULL, 0);
  return group->tables->len;
}

static GroupTable *
table_at (CarbSyncGroup *group, guint index)
{
  g_return_val_if_fail (group != NULL, NULL);
  g_return_val_if_fail (index < group->tables->len, NULL);
  return g_ptr_array_index (group->tables, index);
}

/**
 * carb_sync_group_get_model:
 * @group: a group
 * @index: a model's index, in the order of carb_sync_group_add_model()
 *
 * Returns: (transfer none): the model as it was added
 *
 * Since: 1.0
 */
const CarbModel *
carb_sync_group_get_model (CarbSyncGroup *group, guint index)
{
  GroupTable *t = table_at (group, index);
  return t != NULL ? t->model : NULL;
}

/**
 * carb_sync_group_get_wire_model:
 * @group: a group
 * @index: a model's index
 *
 * The model as the server stores it: the model's columns, then a version
 * column `X__v` (#CARB_COLUMN_ROLE_VERSION) for every data and is-deleted
 * column X. carb_store_create_table() of it makes a server table;
 * carb_store_prepare_group() prepares one.
 *
 * Returns: (transfer none): the wire model, a run-time model
 *
 * Since: 1.0
 */
const CarbModel *
carb_sync_group_get_wire_model (CarbSyncGroup *group, guint index)
{
  GroupTable *t = table_at (group, index);
  return t != NULL ? t->wire : NULL;
}

/**
 * carb_sync_group_find_table:
 * @group: a group
 * @table: a table name
 *
 * Returns: the index of the model of @table, or -1
 *
 * Since: 1.0
 */
gint
carb_sync_group_find_table (CarbSyncGroup *group, const char *table)
{
  g_return_val_if_fail (group != NULL && table != NULL, -1);
  for (guint i = 0; i < group->tables->len; i++)
    {
      GroupTable *t = g_ptr_array_index (group->tables, i);
      if (strcmp (t->model->table, table) == 0)
        return (gint) i;
    }
  return -1;
}

/* The table and the column for a rule; @what names the rule in errors. */
static GroupTable *
rule_target (CarbSyncGroup *group, const char *table, const char *column, gint *column_index, GError **error)
{
  if (!writable (group, error))
    return NULL;
  gint index = carb_sync_group_find_table (group, table);
  if (index < 0)
    {
      refuse (error, group, table, "no such table in the group");
      return NULL;
    }
  GroupTable *t = table_at (group, (guint) index);
  *column_index = carb_model_find_column (t->model, column);
  if (*column_index < 0)
    {
      refuse (error, group, table, "no column “%s” in the model", column);
      return NULL;
    }
  return t;
}

/**
 * carb_sync_group_set_immutable:
 * @group: a group not used yet
 * @table: a table of the group
 * @column: a data column of its model
 * @error: return location for a #GError
 *
 * Makes @column immutable: a replica sets it when it inserts a row, and
 * the server rejects every later change to it (a different value with a
 * version above the stored one; an older write loses the merge anyway).
 *
 * Returns: %TRUE, or %FALSE with %CARB_ERROR_INVALID_MODEL
 *
 * Since: 1.0
 */
gboolean
carb_sync_group_set_immutable (CarbSyncGroup *group, const char *table, const char *column, GError **error)
{
  g_return_val_if_fail (group != NULL && table != NULL && column != NULL, FALSE);
  gint col = -1;
  GroupTable *t = rule_target (group, table, column, &col, error);
  if (t == NULL)
    return FALSE;
  if (t->model->columns[col].role != CARB_COLUMN_ROLE_DATA)
    return refuse (error, group, table, "only data columns can be immutable, not “%s”", column);
  g_hash_table_add (t->immutable, g_strdup (column));
  return TRUE;
}

/**
 * carb_sync_group_is_immutable:
 * @group: a group
 * @index: a model's index
 * @column: a column index of that model
 *
 * Returns: whether the column is immutable
 *
 * Since: 1.0
 */
gboolean
carb_sync_group_is_immutable (CarbSyncGroup *group, guint index, guint column)
{
  GroupTable *t = table_at (group, index);
  g_return_val_if_fail (t != NULL && column < t->model->n_columns, FALSE);
  return g_hash_table_contains (t->immutable, t->model->columns[column].name);
}

/**
 * carb_sync_group_set_filter:
 * @group: a group not used yet
 * @table: a table of the group
 * @column: a data column of its model, TEXT, UUID or an integer type
 * @context_key: the key of the server-side context whose value the
 *   column must equal
 * @error: return location for a #GError
 *
 * Restricts @table to the rows whose @column equals the context's
 * @context_key, on download and on apply: a replica syncing with context
 * `{"user": <'ann'>}` neither receives nor may write other users' rows
 * (such writes are rejected). The context comes from the server side of
 * the application (an authenticated session), never from the device. A
 * sync whose context lacks the key fails.
 *
 * Returns: %TRUE, or %FALSE with %CARB_ERROR_INVALID_MODEL
 *
 * Since: 1.0
 */
gboolean
carb_sync_group_set_filter (
    CarbSyncGroup *group, const char *table, const char *column, const char *context_key, GError **error)
{
  g_return_val_if_fail (group != NULL && table != NULL && column != NULL && context_key != NULL, FALSE);
  gint col = -1;
  GroupTable *t = rule_target (group, table, column, &col, error);
  if (t == NULL)
    return FALSE;
  const CarbColumn *c = &t->model->columns[col];
  if (c->role != CARB_COLUMN_ROLE_DATA
      || (c->type != CARB_COLUMN_TYPE_TEXT && c->type != CARB_COLUMN_TYPE_UUID
          && c->type != CARB_COLUMN_TYPE_INT16 && c->type != CARB_COLUMN_TYPE_INT32
          && c->type != CARB_COLUMN_TYPE_INT64))
    return refuse (error, group, table,
                   "a filter column must be a TEXT, UUID or integer data column, not “%s”", column);
  /* The wire model's filter column carries CARB_COLUMN_FLAGS_FILTER, which
   * tells the backend to log its moves (a row leaving a replica's filter
   * is withdrawn from it); the wire model's columns are the model's, in
   * order. */
  for (guint i = 0; i < t->model->n_columns; i++)
    carb_model_set_column_flags (t->wire, i, CARB_COLUMN_FLAGS_FILTER, i == (guint) col);
  g_free (t->filter_column);
  g_free (t->filter_key);
  t->filter_column = g_strdup (column);
  t->filter_key = g_strdup (context_key);
  return TRUE;
}

/**
 * carb_sync_group_get_filter:
 * @group: a group
 * @index: a model's index
 * @context_key: (out) (optional) (transfer none): the filter's context key
 *
 * Returns: the index of the filter column in the model, or -1 for none
 *
 * Since: 1.0
 */
gint
carb_sync_group_get_filter (CarbSyncGroup *group, guint index, const char **context_key)
{
  GroupTable *t = table_at (group, index);
  g_return_val_if_fail (t != NULL, -1);
  if (context_key != NULL)
    *context_key = t->filter_key;
  return t->filter_column != NULL ? carb_model_find_column (t->model, t->filter_column) : -1;
}

/**
 * carb_sync_group_set_validate_func:
 * @group: a group not used yet
 * @func: (scope notified) (nullable) (closure user_data) (destroy destroy): the
 *   callback, or %NULL for none
 * @user_data: data for @func
 * @destroy: (nullable): frees @user_data
 * @error: return location for a #GError
 *
 * Sets the callback the server runs for every row an apply changes.
 *
 * Returns: %TRUE, or %FALSE with %CARB_ERROR_INVALID_MODEL
 *
 * Since: 1.0
 */
gboolean
carb_sync_group_set_validate_func (
    CarbSyncGroup *group, CarbValidateFunc func, gpointer user_data, GDestroyNotify destroy, GError **error)
{
  g_return_val_if_fail (group != NULL, FALSE);
  if (!writable (group, error))
    {
      if (destroy != NULL)
        destroy (user_data);
      return FALSE;
    }
  if (group->validate_destroy != NULL)
    group->validate_destroy (group->validate_data);
  group->validate = func;
  group->validate_data = user_data;
  group->validate_destroy = destroy;
  return TRUE;
}

/**
 * carb_sync_group_set_max_clock_ahead:
 * @group: a group not used yet
 * @max_ahead_ms: how far ahead of the server's clock a change's version
 *   may be, in milliseconds (default 5 minutes)
 * @error: return location for a #GError
 *
 * Without a bound, one device whose clock reads 2040 would win every
 * conflict until 2040; with it, its changes are refused with
 * %CARB_ERROR_CLOCK_AHEAD and the replica corrects its clock.
 *
 * Returns: %TRUE, or %FALSE with %CARB_ERROR_INVALID_MODEL
 *
 * Since: 1.0
 */
gboolean
carb_sync_group_set_max_clock_ahead (CarbSyncGroup *group, gint64 max_ahead_ms, GError **error)
{
  g_return_val_if_fail (group != NULL, FALSE);
  if (!writable (group, error))
    return FALSE;
  if (max_ahead_ms < 0)
    return refuse (error, group, NULL, "the clock bound must not be negative");
  group->max_ahead_ms = max_ahead_ms;
  return TRUE;
}

/**
 * carb_sync_group_get_max_clock_ahead:
 * @group: a group
 *
 * Returns: the clock bound in milliseconds
 *
 * Since: 1.0
 */
gint64
carb_sync_group_get_max_clock_ahead (CarbSyncGroup *group)
{
  g_return_val_if_fail (group != NULL, 0);
  return group->max_ahead_ms;
}

/* Internal: the group becomes read-only, so a store or replica can rely on
 * it across threads; refuses an empty group. */
gboolean
carb_sync_group_seal (CarbSyncGroup *group, GError **error)
{
  if (group->tables->len == 0)
    return refuse (error, group, NULL, "the group has no model");
  g_atomic_int_set (&group->sealed, 1);
  return TRUE;
}

/* Internal: runs the validation callback, if any. */
gboolean
carb_sync_group_has_validate (CarbSyncGroup *group)
{
  return group->validate != NULL;
}

gboolean
carb_sync_group_validate (
    CarbSyncGroup *group, const char *table, GVariant *row, GVariant *context, GError **error)
{
  if (group->validate == NULL)
    return TRUE;
  g_autoptr (GError) local = NULL;
  if (group->validate (group, table, row, context, group->validate_data, &local))
    return TRUE;
  if (local == NULL)
    g_set_error (error, CARB_ERROR, CARB_ERROR_FAILED,
                 "rejected by the validation callback (no reason given)");
  else
    g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}
