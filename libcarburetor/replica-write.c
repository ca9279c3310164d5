/* Carburetor — local writes on a replica: checked against the model,
 * applied to the table at once, and each written column versioned and
 * queued for upload, in one transaction.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"

#include <math.h>
#include <string.h>

typedef enum
{
  WRITE_INSERT,
  WRITE_UPDATE,
  WRITE_TOMBSTONE, /* delete and undelete: the is-deleted column only */
} WriteKind;

typedef CarbColumnWrite ColumnWrite;

static void
column_write_clear (gpointer data)
{
  ColumnWrite *w = data;
  g_clear_pointer (&w->value, g_variant_unref);
  g_clear_pointer (&w->version, g_free);
}

/* An empty array of CarbColumnWrite that frees their values. */
GArray *
carb_column_writes_new (void)
{
  GArray *writes = g_array_new (FALSE, TRUE, sizeof (ColumnWrite));
  g_array_set_clear_func (writes, column_write_clear);
  return writes;
}

static gboolean refuse (GError **error, const CarbModel *model, const char *column, const char *format, ...)
    G_GNUC_PRINTF (4, 5);

static gboolean
refuse (GError **error, const CarbModel *model, const char *column, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *why = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA, "Table “%s”, column “%s”: %s", model->table,
               column, why);
  return FALSE;
}

/* Whether the application may write @col in a write of @kind. */
static gboolean
check_writable (CarbReplica *replica,
                guint table_index,
                const CarbModel *model,
                const CarbColumn *col,
                WriteKind kind,
                GError **error)
{
  switch (col->role)
    {
    case CARB_COLUMN_ROLE_ID:
      if (kind != WRITE_INSERT)
        return refuse (error, model, col->name, "the id of a row never changes");
      return TRUE;
    case CARB_COLUMN_ROLE_TIMESTAMP:
      return refuse (error, model, col->name, "the server stamps this column; it is not writable");
    case CARB_COLUMN_ROLE_DELETED:
      return refuse (error, model, col->name,
                     "deletes are versioned writes: use carb_replica_delete() and carb_replica_undelete()");
    case CARB_COLUMN_ROLE_VERSION:
      return refuse (error, model, col->name, "versions are written by the replica only");
    default:
      break;
    }
  if (kind == WRITE_UPDATE
      && carb_sync_group_is_immutable (replica->group, table_index, (guint) (col - model->columns)))
    return refuse (error, model, col->name,
                   "the column is immutable: it is set when the row is inserted, never changed");
  return TRUE;
}

/* Whether a floating-point @value can be written as given: a finite
 * value beyond gfloat's range is no FLOAT (a server reading it back fails
 * the row, which on a SQLite server failed every upload of the replica
 * from then on). NaN is kept (replica-value.c); a SQLite server stores it
 * as NULL, which the acknowledgement then takes (replica-ack.c), or
 * rejects it in a NOT NULL column. Downloads are not checked here: the
 * server's value is the value. */
static gboolean
check_float (const CarbModel *model, const CarbColumn *col, GVariant *value, GError **error)
{
  if (value == NULL || (col->type != CARB_COLUMN_TYPE_FLOAT && col->type != CARB_COLUMN_TYPE_DOUBLE)
      || !g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
    return TRUE;
  gdouble d = g_variant_get_double (value);
  if (col->type == CARB_COLUMN_TYPE_FLOAT && isfinite (d) && isinf ((gfloat) d))
    return refuse (error, model, col->name, "%g does not fit a FLOAT column (gfloat)", d);
  return TRUE;
}

/* The columns of @row (`a{sv}`) to write, checked by name and role; an
 * insert also writes every data column @row lacks (NULL) and the
 * tombstone (false). @id_out gets an insert's id value, if given. */
static GArray *
plan_writes (CarbReplica *replica,
             guint table_index,
             const CarbModel *model,
             GVariant *row,
             WriteKind kind,
             GVariant **id_out,
             GError **error)
{
  if (!g_variant_is_of_type (row, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA, "Table “%s”: a row is an “a{sv}”, not “%s”",
                   model->table, g_variant_get_type_string (row));
      return NULL;
    }
  g_autoptr (GArray) writes = carb_column_writes_new ();
  /* An `a{sv}` may hold a key twice: which value would win is no one's
   * guess to make (and a second id leaked the first). */
  g_autofree gboolean *given = g_new0 (gboolean, model->n_columns);
  GVariantIter iter;
  const char *key;
  GVariant *boxed;
  g_variant_iter_init (&iter, row);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &boxed))
    {
      /* Owned here: each exit of the loop body lets it go. */
      g_autoptr (GVariant) owned = boxed;
      gint index = carb_model_find_column (model, key);
      if (index < 0)
        {
          refuse (error, model, key, "the model has no such column");
          return NULL;
        }
      const CarbColumn *col = &model->columns[index];
      if (given[index])
        {
          refuse (error, model, key, "the column is given twice");
          return NULL;
        }
      given[index] = TRUE;
      if (!check_writable (replica, table_index, model, col, kind, error))
        return NULL;
      if (col->role == CARB_COLUMN_ROLE_ID)
        {
          *id_out = carb_replica_unwrap (owned);
          continue;
        }
      ColumnWrite w = { col, carb_replica_unwrap (owned), NULL };
      g_array_append_val (writes, w);
      if (!check_float (model, col, w.value, error))
        return NULL;
    }
  if (kind != WRITE_INSERT)
    return g_steal_pointer (&writes);

  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      if (col->role == CARB_COLUMN_ROLE_DELETED)
        {
          ColumnWrite w = { col, g_variant_ref_sink (g_variant_new_boolean (FALSE)), NULL };
          g_array_append_val (writes, w);
        }
      else if (col->role == CARB_COLUMN_ROLE_DATA && !g_variant_lookup (row, col->name, "*", NULL))
        {
          if ((col->flags & CARB_COLUMN_FLAGS_NULLABLE) == 0)
            {
              refuse (error, model, col->name, "no value for a NOT NULL column");
              return NULL;
            }
          ColumnWrite w = { col, NULL, NULL };
          g_array_append_val (writes, w);
        }
    }
  return g_steal_pointer (&writes);
}

/* Sets the columns of @writes in row @id, each value checked against its
 * column, and the version column of those with a version, in one UPDATE. */
gboolean
carb_replica_update_columns (
    CarbReplica *replica, const CarbModel *model, const char *id, GArray *writes, GError **error)
{
  if (writes->len == 0)
    return TRUE;
  g_autoptr (GString) sql = g_string_new ("UPDATE ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " SET ");
  for (guint i = 0; i < writes->len; i++)
    {
      if (i > 0)
        g_string_append (sql, ", ");
      const ColumnWrite *w = &g_array_index (writes, ColumnWrite, i);
      carb_replica_quote (sql, w->col->name);
      g_string_append (sql, " = ?");
      if (w->version != NULL)
        {
          g_string_append (sql, ", ");
          carb_replica_quote_version (sql, w->col);
          g_string_append (sql, " = ?");
        }
    }
  g_string_append (sql, " WHERE ");
  carb_replica_quote_id (sql, model);
  g_string_append (sql, " = ?");
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql->str, error);
  if (stmt == NULL)
    return FALSE;
  int param = 1;
  for (guint i = 0; i < writes->len; i++)
    {
      const ColumnWrite *w = &g_array_index (writes, ColumnWrite, i);
      if (!carb_replica_bind_value (stmt, param++, model, w->col, w->value, error))
        return FALSE;
      if (w->version != NULL)
        {
          /* The text form is the pending queue's; the column holds the
           * blob. */
          CarbVersion version;
          if (!carb_version_parse (w->version, &version, error))
            return FALSE;
          carb_replica_bind_version (stmt, param++, &version);
        }
    }
  sqlite3_bind_text (stmt, param, id, -1, SQLITE_STATIC);
  return carb_replica_db_step_done (replica, stmt, error);
}

/* The transaction of a write, with the lock held. */
static gboolean
write_locked (CarbReplica *replica,
              const CarbModel *model,
              const char *id,
              GArray *writes,
              WriteKind kind,
              GError **error)
{
  gboolean exists = FALSE;
  if (!carb_replica_row_exists (replica, model, id, &exists, error))
    return FALSE;
  if (kind == WRITE_INSERT && exists)
    return refuse (error, model, carb_replica_role_column (model, CARB_COLUMN_ROLE_ID)->name,
                   "a row with id “%s” exists already; update it instead", id);
  if (kind != WRITE_INSERT && !exists)
    return refuse (error, model, carb_replica_role_column (model, CARB_COLUMN_ROLE_ID)->name,
                   "no row with id “%s”", id);
  if (kind == WRITE_INSERT && !carb_replica_insert_id (replica, model, id, FALSE, error))
    return FALSE;
  for (guint i = 0; i < writes->len; i++)
    {
      ColumnWrite *w = &g_array_index (writes, ColumnWrite, i);
      CarbVersion version = carb_replica_next_version (replica);
      g_free (w->version);
      w->version = carb_version_to_string (&version);
    }
  if (!carb_replica_update_columns (replica, model, id, writes, error))
    return FALSE;
  for (guint i = 0; i < writes->len; i++)
    {
      const ColumnWrite *w = &g_array_index (writes, ColumnWrite, i);
      if (!carb_replica_set_pending (replica, model->table, id, w->col->name, w->version, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
write_row (CarbReplica *replica,
           const CarbModel *model,
           const char *id,
           GArray *writes,
           WriteKind kind,
           GError **error)
{
  g_mutex_lock (&replica->lock);
  gboolean ok = carb_replica_begin (replica, error);
  if (ok)
    {
      ok = write_locked (replica, model, id, writes, kind, error);
      if (ok)
        ok = carb_replica_commit (replica, error);
      else
        carb_replica_rollback (replica);
    }
  g_mutex_unlock (&replica->lock);
  return ok;
}

/* The id of a new row: the one given (a string; a UUID column's in
 * canonical form) or a new random UUID. */
static char *
insert_id_text (const CarbModel *model, GVariant *given, GError **error)
{
  const CarbColumn *col = carb_replica_role_column (model, CARB_COLUMN_ROLE_ID);
  if (given == NULL)
    return carb_new_uuid ();
  if (!g_variant_is_of_type (given, G_VARIANT_TYPE_STRING))
    {
      refuse (error, model, col->name, "an id is a string (“s”), not “%s”",
              g_variant_get_type_string (given));
      return NULL;
    }
  g_autofree char *id = g_variant_dup_string (given, NULL);
  if (*id == '\0')
    {
      refuse (error, model, col->name, "the id is empty");
      return NULL;
    }
  if (col->type == CARB_COLUMN_TYPE_UUID && !carb_value_canonical_uuid (id, strlen (id)))
    {
      refuse (error, model, col->name, "“%s” is not a UUID", id);
      return NULL;
    }
  return g_steal_pointer (&id);
}

/**
 * carb_replica_insert:
 * @replica: a replica
 * @table: a table of the group
 * @row: an `a{sv}` of column values (carb_model_row_to_variant()'s
 *   types); the id is optional (a random UUID is made), other missing
 *   columns are NULL; the timestamp and is-deleted columns are not given
 * @error: return location for a #GError
 *
 * Inserts a row locally and queues every column for upload. Readable at
 * once with SQL or carb_replica_get_row(); the timestamp column stays NULL
 * until the server's row is merged.
 *
 * Returns: (transfer full): the row's id, or %NULL with
 *   %CARB_ERROR_INVALID_DATA naming the table and column at fault
 *
 * Since: 1.0
 */
char *
carb_replica_insert (CarbReplica *replica, const char *table, GVariant *row, GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica) && table != NULL && row != NULL, NULL);
  g_autoptr (GVariant) sunk = g_variant_ref_sink (row);
  guint index = 0;
  const CarbModel *model = carb_replica_find_model (replica, table, &index, error);
  if (model == NULL)
    return NULL;
  g_autoptr (GVariant) given_id = NULL;
  g_autoptr (GArray) writes = plan_writes (replica, index, model, sunk, WRITE_INSERT, &given_id, error);
  if (writes == NULL)
    return NULL;
  g_autofree char *id = insert_id_text (model, given_id, error);
  if (id == NULL || !write_row (replica, model, id, writes, WRITE_INSERT, error))
    return NULL;
  return g_steal_pointer (&id);
}

/**
 * carb_replica_insert_struct: (skip)
 * @replica: a replica
 * @model: the model of a table of the group
 * @row: a row struct of @model; a %NULL id member gets a random UUID
 * @error: return location for a #GError
 *
 * carb_replica_insert() of a C struct row (its timestamp and is-deleted
 * members are ignored).
 *
 * Returns: (transfer full): the row's id, or %NULL with @error set
 *
 * Since: 1.0
 */
char *
carb_replica_insert_struct (CarbReplica *replica, const CarbModel *model, gconstpointer row, GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica) && model != NULL && row != NULL, NULL);
  const CarbModel *mine = carb_replica_find_model (replica, model->table, NULL, error);
  if (mine == NULL)
    return NULL;
  if (mine != model && mine->n_columns != model->n_columns)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_MODEL,
                   "Table “%s”: the model given is not the one of sync group “%s”", model->table,
                   carb_sync_group_get_name (replica->group));
      return NULL;
    }
  g_autoptr (GVariant) full = carb_model_row_to_variant (model, row);
  GVariantBuilder builder;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      if (col->role == CARB_COLUMN_ROLE_TIMESTAMP || col->role == CARB_COLUMN_ROLE_DELETED)
        continue;
      if (col->role == CARB_COLUMN_ROLE_ID && carb_model_row_is_null (model, row, i))
        continue;
      g_autoptr (GVariant) value = g_variant_lookup_value (full, col->name, NULL);
      g_variant_builder_add (&builder, "{sv}", col->name, value);
    }
  return carb_replica_insert (replica, model->table, g_variant_builder_end (&builder), error);
}

/**
 * carb_replica_update:
 * @replica: a replica
 * @table: a table of the group
 * @id: the row's id
 * @changes: an `a{sv}` of the columns to change (data columns, not
 *   immutable ones)
 * @error: return location for a #GError
 *
 * Changes some columns of a row locally; each is versioned and queued for
 * upload (only those, not the whole row).
 *
 * Returns: %TRUE, or %FALSE with %CARB_ERROR_INVALID_DATA naming the
 *   table and column at fault (or the missing row)
 *
 * Since: 1.0
 */
gboolean
carb_replica_update (
    CarbReplica *replica, const char *table, const char *id, GVariant *changes, GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica) && table != NULL && id != NULL && changes != NULL, FALSE);
  g_autoptr (GVariant) sunk = g_variant_ref_sink (changes);
  guint index = 0;
  const CarbModel *model = carb_replica_find_model (replica, table, &index, error);
  if (model == NULL)
    return FALSE;
  g_autoptr (GVariant) given_id = NULL;
  g_autoptr (GArray) writes = plan_writes (replica, index, model, sunk, WRITE_UPDATE, &given_id, error);
  return writes != NULL && write_row (replica, model, id, writes, WRITE_UPDATE, error);
}

static gboolean
write_tombstone (CarbReplica *replica, const char *table, const char *id, gboolean deleted, GError **error)
{
  const CarbModel *model = carb_replica_find_model (replica, table, NULL, error);
  if (model == NULL)
    return FALSE;
  g_autoptr (GArray) writes = carb_column_writes_new ();
  ColumnWrite w = { carb_replica_role_column (model, CARB_COLUMN_ROLE_DELETED),
                    g_variant_ref_sink (g_variant_new_boolean (deleted)), NULL };
  g_array_append_val (writes, w);
  return write_row (replica, model, id, writes, WRITE_TOMBSTONE, error);
}

/**
 * carb_replica_delete:
 * @replica: a replica
 * @table: a table of the group
 * @id: the row's id
 * @error: return location for a #GError
 *
 * Deletes a row: a versioned write of its is-deleted column (the row
 * stays, as a tombstone, so that the delete syncs). Later edits of other
 * columns do not undelete it.
 *
 * Returns: %TRUE, or %FALSE with @error set
 *
 * Since: 1.0
 */
gboolean
carb_replica_delete (CarbReplica *replica, const char *table, const char *id, GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica) && table != NULL && id != NULL, FALSE);
  return write_tombstone (replica, table, id, TRUE, error);
}

/**
 * carb_replica_undelete:
 * @replica: a replica
 * @table: a table of the group
 * @id: the row's id
 * @error: return location for a #GError
 *
 * Undeletes a row: a write of its is-deleted column to false, with a
 * version later than the delete's.
 *
 * Returns: %TRUE, or %FALSE with @error set
 *
 * Since: 1.0
 */
gboolean
carb_replica_undelete (CarbReplica *replica, const char *table, const char *id, GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica) && table != NULL && id != NULL, FALSE);
  return write_tombstone (replica, table, id, FALSE, error);
}
