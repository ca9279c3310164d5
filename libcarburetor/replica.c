/* Carburetor — CarbReplica: the object, opening a replica file, and
 * reading it (rows, versions, the pending count, rejections, sync points).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"

#include <string.h>

/**
 * CarbReplica:
 *
 * A device's copy of the tables of one sync group: a local SQLite database
 * file the library owns (docs/TWOWAY.md). Each model's rows are in a plain
 * table of the model's name and columns, which the application reads with
 * SQL (followed by a column `X__v`, the version of each data and
 * is-deleted column X as a 16-byte blob, named as on the server: name the
 * columns you select);
 * local writes go through the replica, which versions every column and
 * queues it for upload. Every call is one SQLite transaction; a
 * replica may be used from several threads (calls are serialized).
 *
 * Since: 1.0
 */
G_DEFINE_FINAL_TYPE (CarbReplica, carb_replica, G_TYPE_OBJECT)

enum
{
  SIGNAL_REJECTED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
carb_replica_finalize (GObject *object)
{
  CarbReplica *replica = CARB_REPLICA (object);
  g_clear_pointer (&replica->statements, g_hash_table_unref);
  g_clear_pointer (&replica->versions_sql, g_ptr_array_unref);
  g_clear_pointer (&replica->last_sent, g_bytes_unref);
  g_clear_pointer (&replica->last_sent_changes, g_array_unref);
  if (replica->db != NULL)
    sqlite3_close_v2 (replica->db);
  carb_replica_unlock_file (replica);
  g_clear_pointer (&replica->group, carb_sync_group_unref);
  g_free (replica->path);
  g_mutex_clear (&replica->lock);
  g_mutex_clear (&replica->sync_lock);
  G_OBJECT_CLASS (carb_replica_parent_class)->finalize (object);
}

static void
carb_replica_class_init (CarbReplicaClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = carb_replica_finalize;

  /**
   * CarbReplica::rejected:
   * @replica: the replica
   * @table: the table of the rejected change
   * @id: the row's id
   * @column: the column, or "" when the whole row was rejected
   * @message: the server's reason
   *
   * The server refused a local change (a filter, an immutable column, the
   * validation callback). The change is no longer pending, the row holds
   * the server's value again, and the rejection is kept in the file
   * (carb_replica_list_rejections()). Emitted after the transaction, in
   * the thread that called carb_replica_acknowledge() or
   * carb_replica_sync(); for carb_replica_sync_async(), in the caller's
   * thread-default main context, before the sync's callback.
   *
   * Since: 1.0
   */
  signals[SIGNAL_REJECTED]
      = g_signal_new ("rejected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                      G_TYPE_NONE, 4, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
}

static void
finalize_statement (gpointer stmt)
{
  sqlite3_finalize (stmt);
}

static void
carb_replica_init (CarbReplica *replica)
{
  g_mutex_init (&replica->lock);
  g_mutex_init (&replica->sync_lock);
  replica->lock_fd = -1;
  replica->statements = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, finalize_statement);
}

static gboolean
open_connection (CarbReplica *replica, GError **error)
{
  int rc = sqlite3_open_v2 (replica->path, &replica->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_CONNECTION, "Replica “%s”: cannot open the file: %s",
                   replica->path, replica->db != NULL ? sqlite3_errmsg (replica->db) : sqlite3_errstr (rc));
      return FALSE;
    }
  sqlite3_extended_result_codes (replica->db, 1);
  sqlite3_busy_timeout (replica->db, 5000);
  /* WAL: the application reads the tables while a sync writes them.
   * Every local write is a transaction of a few pages (the row, its
   * versions, the pending queue, the clock): with the default checkpoint
   * every 1,000 pages the checkpoint's fdatasync took about 40% of a
   * write; every 8,192 pages (a WAL of up to 32 MiB) writes go 1.3 to 1.9
   * times as fast. */
  return carb_replica_db_exec (
      replica, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 8192",
      error);
}

/**
 * carb_replica_open:
 * @path: the replica's file; created when missing
 * @group: the sync group it holds; sealed (read-only) from now on
 * @error: return location for a #GError
 *
 * Opens or creates a replica. A new file gets a random site id and a table
 * per model of @group; an existing one must have been made for a group of
 * the same name with the same models, or the call fails with
 * %CARB_ERROR_SCHEMA_MISMATCH. A file is open in one object at a time,
 * across processes too (two would each keep a clock for the same site
 * id): while one lives, opening the file again fails with
 * %CARB_ERROR_BUSY; share the object instead. The lock is the file
 * `<path>-replica-lock` (created beside it, left there; beside the target
 * of a symbolic link, which SQLite follows too), held until the
 * object is finalized or its process ends. The application's own SQLite
 * connections to the file (to read it with SQL) are not affected. A
 * private database (`:memory:`, or "" for a temporary one) takes no lock.
 *
 * Returns: (transfer full): the replica, or %NULL with @error set
 *
 * Since: 1.0
 */
CarbReplica *
carb_replica_open (const char *path, CarbSyncGroup *group, GError **error)
{
  g_return_val_if_fail (path != NULL && group != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!carb_sync_group_seal (group, error))
    return NULL;
  g_autoptr (CarbReplica) replica = g_object_new (CARB_TYPE_REPLICA, NULL);
  replica->path = g_strdup (path);
  replica->group = carb_sync_group_ref (group);
  if (!carb_replica_lock_file (replica, error) || !open_connection (replica, error)
      || !carb_replica_schema_open (replica, error))
    return NULL;
  return g_steal_pointer (&replica);
}

/**
 * carb_replica_get_path:
 * @replica: a replica
 *
 * Returns: (transfer none): the file's path
 *
 * Since: 1.0
 */
const char *
carb_replica_get_path (CarbReplica *replica)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica), NULL);
  return replica->path;
}

/**
 * carb_replica_get_site_id:
 * @replica: a replica
 *
 * Returns: the site id in the versions of the replica's writes
 *
 * Since: 1.0
 */
guint64
carb_replica_get_site_id (CarbReplica *replica)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica), 0);
  return replica->site;
}

/**
 * carb_replica_get_group:
 * @replica: a replica
 *
 * Returns: (transfer none): the sync group
 *
 * Since: 1.0
 */
CarbSyncGroup *
carb_replica_get_group (CarbReplica *replica)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica), NULL);
  return replica->group;
}

static GVariant *
read_row (CarbReplica *replica, const CarbModel *model, const char *id, GError **error)
{
  g_autoptr (GString) sql = g_string_new ("SELECT ");
  for (guint i = 0; i < model->n_columns; i++)
    {
      if (i > 0)
        g_string_append (sql, ", ");
      carb_replica_quote (sql, model->columns[i].name);
    }
  carb_replica_append_from_row (sql, model);
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql->str, error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    {
      sqlite3_reset (stmt);
      if (rc != SQLITE_DONE)
        carb_replica_db_fail (replica, error, "reading a row");
      return NULL;
    }
  GVariantBuilder builder;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; i < model->n_columns; i++)
    {
      GVariant *value = carb_replica_column_value (stmt, (int) i, &model->columns[i]);
      g_variant_builder_add (&builder, "{sv}", model->columns[i].name,
                             value != NULL ? value : g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL));
      g_clear_pointer (&value, g_variant_unref);
    }
  sqlite3_reset (stmt);
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

/**
 * carb_replica_get_row:
 * @replica: a replica
 * @table: a table of the group
 * @id: a row id
 * @error: return location for a #GError
 *
 * Reads a row, deleted or not, as carb_model_row_to_variant() would give
 * it: every column of the model; a NULL column is the empty maybe.
 *
 * Returns: (transfer full) (nullable): the row (`a{sv}`), or %NULL (with
 *   @error unset) when there is no row @id
 *
 * Since: 1.0
 */
GVariant *
carb_replica_get_row (CarbReplica *replica, const char *table, const char *id, GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica) && table != NULL && id != NULL, NULL);
  const CarbModel *model = carb_replica_find_model (replica, table, NULL, error);
  if (model == NULL)
    return NULL;
  g_mutex_lock (&replica->lock);
  GVariant *row = read_row (replica, model, id, error);
  g_mutex_unlock (&replica->lock);
  return row;
}

/**
 * carb_replica_get_version:
 * @replica: a replica
 * @table: a table of the group
 * @id: a row id
 * @column: a data or is-deleted column
 * @version: (out caller-allocates): the column's version
 * @error: return location for a #GError
 *
 * Returns: %TRUE with @version set, or %FALSE: with @error set on failure,
 *   unset when the column has no version (no such row)
 *
 * Since: 1.0
 */
gboolean
carb_replica_get_version (CarbReplica *replica,
                          const char *table,
                          const char *id,
                          const char *column,
                          CarbVersion *version,
                          GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica) && table != NULL && id != NULL && column != NULL, FALSE);
  g_return_val_if_fail (version != NULL, FALSE);
  if (carb_replica_find_model (replica, table, NULL, error) == NULL)
    return FALSE;
  gboolean found = FALSE;
  g_mutex_lock (&replica->lock);
  gboolean ok = carb_replica_get_version_locked (replica, table, id, column, version, &found, error);
  g_mutex_unlock (&replica->lock);
  return ok && found;
}

static gint64
count_pending (CarbReplica *replica)
{
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, "SELECT count(*) FROM carburetor_pending", NULL);
  if (stmt == NULL || sqlite3_step (stmt) != SQLITE_ROW)
    return 0;
  gint64 n = sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  return n;
}

/**
 * carb_replica_get_n_pending:
 * @replica: a replica
 *
 * Returns: the number of column writes not acknowledged by the server yet
 *
 * Since: 1.0
 */
guint
carb_replica_get_n_pending (CarbReplica *replica)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica), 0);
  g_mutex_lock (&replica->lock);
  gint64 n = count_pending (replica);
  g_mutex_unlock (&replica->lock);
  return (guint) MIN (n, (gint64) G_MAXUINT);
}

/**
 * carb_replica_list_rejections:
 * @replica: a replica
 *
 * The changes the server refused, oldest first, until
 * carb_replica_clear_rejections().
 *
 * Returns: (transfer full): an `a(ssssx)`: table, row id, column ("" for
 *   the whole row), the server's message, and when the replica learned
 *   it (µs since the Unix epoch)
 *
 * Since: 1.0
 */
GVariant *
carb_replica_list_rejections (CarbReplica *replica)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica), NULL);
  GVariantBuilder builder;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssssx)"));
  g_mutex_lock (&replica->lock);
  sqlite3_stmt *stmt = carb_replica_db_stmt (
      replica, "SELECT tbl, id, col, message, time FROM carburetor_rejections ORDER BY seq", NULL);
  while (stmt != NULL && sqlite3_step (stmt) == SQLITE_ROW)
    g_variant_builder_add (&builder, "(ssssx)", sqlite3_column_text (stmt, 0), sqlite3_column_text (stmt, 1),
                           sqlite3_column_text (stmt, 2), sqlite3_column_text (stmt, 3),
                           (gint64) sqlite3_column_int64 (stmt, 4));
  if (stmt != NULL)
    sqlite3_reset (stmt);
  g_mutex_unlock (&replica->lock);
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

/**
 * carb_replica_clear_rejections:
 * @replica: a replica
 * @error: return location for a #GError
 *
 * Forgets the rejections kept so far.
 *
 * Returns: %TRUE, or %FALSE with @error set
 *
 * Since: 1.0
 */
gboolean
carb_replica_clear_rejections (CarbReplica *replica, GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica), FALSE);
  g_mutex_lock (&replica->lock);
  gboolean ok = carb_replica_db_exec (replica, "DELETE FROM carburetor_rejections", error);
  g_mutex_unlock (&replica->lock);
  return ok;
}

/**
 * carb_replica_get_sync_point:
 * @replica: a replica
 * @table_index: a model's index in the group
 *
 * Returns: (transfer full) (nullable): where the table's downloads resume,
 *   or %NULL before the first download (or after carb_replica_rebuild())
 *
 * Since: 1.0
 */
CarbSyncPoint *
carb_replica_get_sync_point (CarbReplica *replica, guint table_index)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica), NULL);
  g_return_val_if_fail (table_index < carb_sync_group_get_n_models (replica->group), NULL);
  const CarbModel *model = carb_sync_group_get_model (replica->group, table_index);
  g_mutex_lock (&replica->lock);
  CarbSyncPoint *point = NULL;
  sqlite3_stmt *stmt = carb_replica_db_stmt (
      replica, "SELECT point FROM carburetor_sync_points WHERE grp = ? AND tbl = ?", NULL);
  if (stmt != NULL)
    {
      sqlite3_bind_text (stmt, 1, carb_sync_group_get_name (replica->group), -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 2, model->table, -1, SQLITE_STATIC);
      if (sqlite3_step (stmt) == SQLITE_ROW)
        point = carb_sync_point_parse ((const char *) sqlite3_column_text (stmt, 0), NULL);
      sqlite3_reset (stmt);
    }
  g_mutex_unlock (&replica->lock);
  return point;
}

/* Emits ::rejected for each CarbRejection, without the lock. */
void
carb_replica_emit_rejected (CarbReplica *replica, GArray *rejections)
{
  for (guint i = 0; rejections != NULL && i < rejections->len; i++)
    {
      const CarbRejection *r = &g_array_index (rejections, CarbRejection, i);
      g_signal_emit (replica, signals[SIGNAL_REJECTED], 0, r->table, r->row_id, r->column, r->message);
    }
}
