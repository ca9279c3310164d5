/* Carburetor — what a replica uploads: its pending changes as a changeset
 * (the changed columns only, with their current value and version), and
 * the correction of a clock the server found ahead of its own.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"

#include <string.h>

static void
change_clear (gpointer data)
{
  CarbChange *c = data;
  g_free (c->table);
  g_free (c->row_id);
  g_free (c->column);
  g_clear_pointer (&c->value, g_variant_unref);
}

/* The current value of one column of a row (NULL for SQL NULL). */
static gboolean
read_column (CarbReplica *replica,
             const CarbModel *model,
             const CarbColumn *col,
             const char *id,
             GVariant **value,
             GError **error)
{
  g_autoptr (GString) sql = g_string_new ("SELECT ");
  carb_replica_quote (sql, col->name);
  carb_replica_append_from_row (sql, model);
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql->str, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  *value = rc == SQLITE_ROW ? carb_replica_column_value (stmt, 0, col) : NULL;
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW)
    return rc == SQLITE_DONE ? TRUE : carb_replica_db_fail (replica, error, "reading a pending row");
  return TRUE;
}

/* Appends the pending changes of one table, whole rows at a time, until
 * @rows_left rows were taken. */
static gboolean
collect_table (CarbReplica *replica, const CarbModel *model, guint *rows_left, GArray *out, GError **error)
{
  sqlite3_stmt *stmt = carb_replica_db_stmt (
      replica, "SELECT id, col, version FROM carburetor_pending WHERE tbl = ? ORDER BY id, col", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, model->table, -1, SQLITE_STATIC);
  g_autofree char *last_id = NULL;
  gboolean ok = TRUE;
  int rc;
  while (ok && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *id = (const char *) sqlite3_column_text (stmt, 0);
      const char *column = (const char *) sqlite3_column_text (stmt, 1);
      if (last_id == NULL || strcmp (last_id, id) != 0)
        {
          if (*rows_left == 0)
            break;
          (*rows_left)--;
          g_free (last_id);
          last_id = g_strdup (id);
        }
      CarbChange c = { g_strdup (model->table), g_strdup (id), g_strdup (column), { 0, 0 }, NULL };
      g_array_append_val (out, c);
      CarbChange *added = &g_array_index (out, CarbChange, out->len - 1);
      gint index = carb_model_find_column (model, column);
      ok = carb_version_parse ((const char *) sqlite3_column_text (stmt, 2), &added->version, error);
      if (ok && index < 0)
        ok = (g_set_error (
                  error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                  "Replica “%s”: a pending change of table “%s” names column “%s”, which the model lacks",
                  replica->path, model->table, column),
              FALSE);
      if (ok)
        ok = read_column (replica, model, &model->columns[index], id, &added->value, error);
    }
  if (ok && rc != SQLITE_ROW && rc != SQLITE_DONE)
    ok = carb_replica_db_fail (replica, error, "reading carburetor_pending");
  sqlite3_reset (stmt);
  return ok;
}

static GArray *
collect_locked (CarbReplica *replica, guint max_rows, GError **error)
{
  g_autoptr (GArray) changes = g_array_new (FALSE, TRUE, sizeof (CarbChange));
  g_array_set_clear_func (changes, change_clear);
  guint rows_left = max_rows;
  /* Tables in the group's order: parents before children, so a server
   * that checks references finds the parent first. */
  for (guint t = 0; t < carb_sync_group_get_n_models (replica->group) && rows_left > 0; t++)
    if (!collect_table (replica, carb_sync_group_get_model (replica->group, t), &rows_left, changes, error))
      return NULL;
  return g_steal_pointer (&changes);
}

/**
 * carb_replica_collect_changes:
 * @replica: a replica
 * @max_rows: the most rows to take (0 for no limit)
 * @error: return location for a #GError
 *
 * The pending local changes as a changeset for carb_store_apply_changes():
 * the changed columns only, each with its current value and version; rows
 * in the group's table order, then by id. The changes stay pending until
 * carb_replica_acknowledge() of the server's answer.
 *
 * Returns: (transfer full) (nullable): the changeset, or %NULL when
 *   nothing is pending (@error unset) or on failure (@error set)
 *
 * Since: 1.0
 */
GBytes *
carb_replica_collect_changes (CarbReplica *replica, guint max_rows, GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica), NULL);
  g_mutex_lock (&replica->lock);
  g_autoptr (GArray) changes = NULL;
  if (carb_replica_db_exec (replica, "BEGIN", error))
    {
      changes = collect_locked (replica, max_rows > 0 ? max_rows : G_MAXUINT, error);
      sqlite3_exec (replica->db, "COMMIT", NULL, NULL, NULL);
    }
  if (changes == NULL || changes->len == 0)
    {
      g_mutex_unlock (&replica->lock);
      return NULL;
    }
  GBytes *sent = carb_changeset_serialize ((const CarbChange *) changes->data, changes->len);
  g_clear_pointer (&replica->last_sent, g_bytes_unref);
  g_clear_pointer (&replica->last_sent_changes, g_array_unref);
  replica->last_sent = g_bytes_ref (sent);
  replica->last_sent_changes = g_steal_pointer (&changes);
  g_mutex_unlock (&replica->lock);
  return sent;
}

/* With the lock held. The acknowledgement of an upload reads the
 * changeset it sent: when those are the bytes collected last (the usual
 * upload loop), their changes are at hand and the parse, with GLib's
 * normal-form check, is not made again. The changes are the same either
 * way: the bytes were written from them. */
GArray *
carb_replica_sent_changes (CarbReplica *replica, GBytes *sent, GError **error)
{
  if (replica->last_sent != NULL && g_bytes_equal (sent, replica->last_sent))
    return g_array_ref (replica->last_sent_changes);
  g_autoptr (GArray) changes = carb_changeset_parse (sent, error);
  if (changes == NULL)
    return NULL;
  /* A withdrawal (a row with no column) comes only in download pages. */
  for (guint i = 0; i < changes->len; i++)
    {
      const CarbChange *c = &g_array_index (changes, CarbChange, i);
      if (c->column == NULL)
        {
          g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                       "The changeset sent holds row “%s” of table “%s” with no column: it is not one "
                       "carb_replica_collect_changes() made",
                       c->row_id, c->table);
          return NULL;
        }
    }
  return g_steal_pointer (&changes);
}

static gboolean
restamp_locked (CarbReplica *replica, GError **error)
{
  sqlite3_stmt *stmt = carb_replica_db_stmt (
      replica, "SELECT tbl, id, col FROM carburetor_pending ORDER BY tbl, id, col", error);
  if (stmt == NULL)
    return FALSE;
  g_autoptr (GPtrArray) keys = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      char **key = g_new0 (char *, 4);
      for (int i = 0; i < 3; i++)
        key[i] = g_strdup ((const char *) sqlite3_column_text (stmt, i));
      g_ptr_array_add (keys, key);
    }
  sqlite3_reset (stmt);
  for (guint i = 0; i < keys->len; i++)
    {
      char **key = g_ptr_array_index (keys, i);
      CarbVersion version = carb_replica_next_version (replica);
      if (!carb_replica_set_version (replica, key[0], key[1], key[2], &version, TRUE, error))
        return FALSE;
    }
  return TRUE;
}

/**
 * carb_replica_correct_clock:
 * @replica: a replica
 * @server_hlc: the server's clock, from the message of
 *   %CARB_ERROR_CLOCK_AHEAD (`server hlc: N`)
 * @error: return location for a #GError
 *
 * After the server refused an upload because the device's clock is ahead
 * of its own: sets the replica's clock back to @server_hlc (or to the
 * greatest version seen from the server, if later), keeps the device's
 * offset from the server's time for later writes, and gives every pending
 * change a new version from the corrected clock (they stay pending). The
 * next upload is then within the server's bound. carb_replica_sync() does
 * it by itself.
 *
 * Returns: %TRUE, or %FALSE with @error set and nothing changed
 *
 * Since: 1.0
 */
gboolean
carb_replica_correct_clock (CarbReplica *replica, guint64 server_hlc, GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica), FALSE);
  g_mutex_lock (&replica->lock);
  gboolean ok = carb_replica_begin (replica, error);
  if (ok)
    {
      gint64 now = g_get_real_time ();
      gint64 server_us = carb_hlc_get_wall_ms (server_hlc) * 1000;
      /* Only ever slow the device down: a server ahead of the device is
       * harmless (observed versions already move the clock forward). */
      replica->clock_offset_us = MIN (0, server_us - now);
      /* Never below a version the server holds: a change stamped again
       * must still beat this replica's earlier accepted writes of the
       * same column (their versions came back in answers and pages). */
      replica->hlc.last = MAX (server_hlc, replica->seen_hlc);
      ok = restamp_locked (replica, error);
      if (ok)
        ok = carb_replica_commit (replica, error);
      else
        carb_replica_rollback (replica);
    }
  g_mutex_unlock (&replica->lock);
  return ok;
}
