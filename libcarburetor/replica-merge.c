/* Carburetor — merging the server's rows into a replica, per column: the
 * incoming value wins iff its version is greater than the local one
 * (docs/TWOWAY.md). The rule never lets an older value overwrite a
 * pending local edit, and a duplicate or stale row changes nothing.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"

#include <string.h>

static gboolean
merge_error (GError **error, const CarbModel *model, const char *id, const char *column, const char *why)
{
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
               "Table “%s”, row “%s”, column “%s” from the server: %s", model->table, id, column, why);
  return FALSE;
}

static gboolean
ensure_row (CarbReplica *replica, const CarbModel *model, const char *id, GError **error)
{
  g_autoptr (GString) sql = g_string_new ("INSERT OR IGNORE INTO ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " (");
  carb_replica_quote (sql, carb_replica_role_column (model, CARB_COLUMN_ROLE_ID)->name);
  g_string_append (sql, ") VALUES (?)");
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql->str, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  return carb_replica_db_step_done (replica, stmt, error);
}

/* The server's timestamp has no version: the newest one seen is kept, so
 * a stale page cannot move it back. */
static gboolean
merge_timestamp (CarbReplica *replica,
                 const CarbModel *model,
                 const CarbColumn *col,
                 const char *id,
                 GVariant *value,
                 GError **error)
{
  if (value == NULL)
    return TRUE;
  g_autoptr (GString) sql = g_string_new ("UPDATE ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " SET ");
  carb_replica_quote (sql, col->name);
  g_string_append (sql, " = max(coalesce(");
  carb_replica_quote (sql, col->name);
  g_string_append (sql, ", ?1), ?1) WHERE ");
  carb_replica_quote (sql, carb_replica_role_column (model, CARB_COLUMN_ROLE_ID)->name);
  g_string_append (sql, " = ?2");
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql->str, error);
  if (stmt == NULL || !carb_replica_bind_value (stmt, 1, model, col, value, error))
    return FALSE;
  sqlite3_bind_text (stmt, 2, id, -1, SQLITE_STATIC);
  return carb_replica_db_step_done (replica, stmt, error);
}

/* Whether the incoming version of a column wins over the local one. */
static gboolean
incoming_wins (CarbReplica *replica,
               const CarbModel *model,
               const char *id,
               const CarbChange *c,
               gboolean *wins,
               GError **error)
{
  CarbVersion local;
  gboolean found = FALSE;
  if (!carb_replica_get_version_locked (replica, model->table, id, c->column, &local, &found, error))
    return FALSE;
  *wins = !found || carb_version_compare (&c->version, &local) > 0;
  return TRUE;
}

gboolean
carb_replica_merge_row (CarbReplica *replica,
                        guint table_index,
                        const char *id,
                        const CarbChange *changes,
                        gsize n_changes,
                        GHashTable *force_columns,
                        GError **error)
{
  const CarbModel *model = carb_sync_group_get_model (replica->group, table_index);
  if (!ensure_row (replica, model, id, error))
    return FALSE;
  g_autoptr (GArray) writes = carb_column_writes_new ();
  for (gsize i = 0; i < n_changes; i++)
    {
      const CarbChange *c = &changes[i];
      gint index = carb_model_find_column (model, c->column);
      if (index < 0)
        return merge_error (error, model, id, c->column,
                            "the model has no such column (do the server's and the "
                            "replica's models differ?)");
      const CarbColumn *col = &model->columns[index];
      if (col->role == CARB_COLUMN_ROLE_ID)
        continue;
      if (col->role == CARB_COLUMN_ROLE_TIMESTAMP)
        {
          if (!merge_timestamp (replica, model, col, id, c->value, error))
            return FALSE;
          continue;
        }
      carb_replica_observe (replica, c->version.hlc);
      gboolean wins = FALSE;
      if (!incoming_wins (replica, model, id, c, &wins, error))
        return FALSE;
      if (!wins && (force_columns == NULL || !g_hash_table_contains (force_columns, c->column)))
        continue;
      /* A pending local edit that loses is dropped: the server's newer
       * value is the row's value everywhere from now on. */
      if (!carb_replica_set_version (replica, model->table, id, c->column, &c->version, FALSE, error)
          || !carb_replica_drop_pending (replica, model->table, id, c->column, NULL, error))
        return FALSE;
      CarbColumnWrite w = { col, c->value != NULL ? g_variant_ref (c->value) : NULL };
      g_array_append_val (writes, w);
    }
  return carb_replica_update_columns (replica, model, id, writes, error);
}

/* Calls @func for each run of consecutive changes of one row. */
gboolean
carb_replica_for_each_row (
    CarbReplica *replica, GArray *changes, CarbRowChangesFunc func, gpointer data, GError **error)
{
  for (guint i = 0; i < changes->len;)
    {
      const CarbChange *first = &g_array_index (changes, CarbChange, i);
      guint j = i + 1;
      while (j < changes->len && strcmp (g_array_index (changes, CarbChange, j).table, first->table) == 0
             && strcmp (g_array_index (changes, CarbChange, j).row_id, first->row_id) == 0)
        j++;
      if (!func (replica, first, j - i, data, error))
        return FALSE;
      i = j;
    }
  return TRUE;
}

/* ---- download ---------------------------------------------------------- */

static gboolean
merge_page_row (CarbReplica *replica, const CarbChange *first, gsize n, gpointer data, GError **error)
{
  guint table_index = GPOINTER_TO_UINT (data);
  const CarbModel *model = carb_sync_group_get_model (replica->group, table_index);
  if (strcmp (first->table, model->table) != 0)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "A download page of table “%s” holds a row of table “%s”; nothing of the page was merged",
                   model->table, first->table);
      return FALSE;
    }
  return carb_replica_merge_row (replica, table_index, first->row_id, first, n, NULL, error);
}

/* Stores @point unless the stored one is later: a stale page must not send
 * the next download back. */
static gboolean
store_sync_point (CarbReplica *replica, const CarbModel *model, const CarbSyncPoint *point, GError **error)
{
  const char *group = carb_sync_group_get_name (replica->group);
  sqlite3_stmt *stmt = carb_replica_db_stmt (
      replica, "SELECT point FROM carburetor_sync_points WHERE grp = ? AND tbl = ?", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, group, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, model->table, -1, SQLITE_STATIC);
  g_autoptr (CarbSyncPoint) stored = NULL;
  if (sqlite3_step (stmt) == SQLITE_ROW)
    stored = carb_sync_point_parse ((const char *) sqlite3_column_text (stmt, 0), NULL);
  sqlite3_reset (stmt);
  if (stored != NULL && carb_sync_point_get_time (stored) > carb_sync_point_get_time (point))
    return TRUE;
  g_autofree char *text = carb_sync_point_to_string (point);
  stmt = carb_replica_db_stmt (replica,
                               "INSERT INTO carburetor_sync_points (grp, tbl, point) VALUES (?, ?, ?) "
                               "ON CONFLICT (grp, tbl) DO UPDATE SET point = excluded.point",
                               error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, group, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, model->table, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, text, -1, SQLITE_STATIC);
  return carb_replica_db_step_done (replica, stmt, error);
}

/**
 * carb_replica_merge_download:
 * @replica: a replica
 * @table_index: the index in the group of the table downloaded
 * @page: a page from carb_store_download_changes(): full rows with the
 *   version of every column
 * @synced_until: the sync point the server returned with @page
 * @error: return location for a #GError
 *
 * Merges a download page per column (the greater version wins; a pending
 * local edit with a greater version stays, one that loses is dropped) and
 * stores @synced_until, in one transaction: a crash leaves either both or
 * neither. A duplicate or stale page changes nothing.
 *
 * Returns: %TRUE, or %FALSE with @error set and nothing merged
 *
 * Since: 1.0
 */
gboolean
carb_replica_merge_download (
    CarbReplica *replica, guint table_index, GBytes *page, const CarbSyncPoint *synced_until, GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica) && page != NULL && synced_until != NULL, FALSE);
  g_return_val_if_fail (table_index < carb_sync_group_get_n_models (replica->group), FALSE);
  g_autoptr (GArray) changes = carb_changeset_parse (page, error);
  if (changes == NULL)
    return FALSE;
  const CarbModel *model = carb_sync_group_get_model (replica->group, table_index);
  g_mutex_lock (&replica->lock);
  gboolean ok = carb_replica_begin (replica, error);
  if (ok)
    {
      ok = carb_replica_for_each_row (replica, changes, merge_page_row, GUINT_TO_POINTER (table_index), error)
           && store_sync_point (replica, model, synced_until, error);
      if (ok)
        ok = carb_replica_commit (replica, error);
      else
        carb_replica_rollback (replica);
    }
  g_mutex_unlock (&replica->lock);
  return ok;
}

/* ---- rebuild ----------------------------------------------------------- */

static gboolean
rebuild_table (CarbReplica *replica, const CarbModel *model, GError **error)
{
  g_autoptr (GString) sql = g_string_new ("DELETE FROM ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " WHERE ");
  carb_replica_quote (sql, carb_replica_role_column (model, CARB_COLUMN_ROLE_ID)->name);
  g_string_append (sql, " NOT IN (SELECT id FROM carburetor_pending WHERE tbl = ?)");
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql->str, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, model->table, -1, SQLITE_STATIC);
  if (!carb_replica_db_step_done (replica, stmt, error))
    return FALSE;
  stmt = carb_replica_db_stmt (replica,
                               "DELETE FROM carburetor_versions WHERE tbl = ?1 AND id NOT IN "
                               "(SELECT id FROM carburetor_pending WHERE tbl = ?1)",
                               error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, model->table, -1, SQLITE_STATIC);
  return carb_replica_db_step_done (replica, stmt, error);
}

static gboolean
rebuild_locked (CarbReplica *replica, GError **error)
{
  for (guint t = 0; t < carb_sync_group_get_n_models (replica->group); t++)
    if (!rebuild_table (replica, carb_sync_group_get_model (replica->group, t), error))
      return FALSE;
  sqlite3_stmt *stmt
      = carb_replica_db_stmt (replica, "DELETE FROM carburetor_sync_points WHERE grp = ?", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, carb_sync_group_get_name (replica->group), -1, SQLITE_STATIC);
  return carb_replica_db_step_done (replica, stmt, error);
}

/**
 * carb_replica_rebuild:
 * @replica: a replica
 * @error: return location for a #GError
 *
 * What to do after %CARB_ERROR_SYNC_POINT_EXPIRED: forgets every row that
 * has no pending local edit, and every sync point of the group, so that
 * the next sync downloads everything again. Pending edits (and their rows)
 * stay and are uploaded as usual.
 *
 * Returns: %TRUE, or %FALSE with @error set and nothing changed
 *
 * Since: 1.0
 */
gboolean
carb_replica_rebuild (CarbReplica *replica, GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica), FALSE);
  g_mutex_lock (&replica->lock);
  gboolean ok = carb_replica_begin (replica, error);
  if (ok)
    {
      ok = rebuild_locked (replica, error);
      if (ok)
        ok = carb_replica_commit (replica, error);
      else
        carb_replica_rollback (replica);
    }
  g_mutex_unlock (&replica->lock);
  return ok;
}
