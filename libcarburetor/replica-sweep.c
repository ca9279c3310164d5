/* Carburetor — the replica's first download of a table, when the replica
 * already holds rows of it (its own inserts, acknowledged, or rows kept by
 * carb_replica_rebuild()).
 *
 * A first download leaves tombstones out, so it cannot say that such a row
 * was deleted on the server meanwhile: the replica would keep it alive for
 * good (found by the convergence checker, first-download-tombstone). So
 * the replica lists the rows it holds in carburetor_unconfirmed before the
 * download; every row the server sends (a download page, a first fill, an
 * acknowledgement) leaves the list; after the download, the rows still
 * listed and without a pending edit are dropped: the server no longer has
 * them live (or the replica's filter leaves them out). A flag in
 * carburetor_meta, set with the list and removed with the sweep, makes a
 * sync interrupted in between (a crash) finish the sweep the next time.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"
#include "replica-private.h"

static char *
flag_key (const CarbModel *model)
{
  return g_strconcat ("first-download:", model->table, NULL);
}

/* Runs @sql, with `?1` the table's name, inside the caller's transaction. */
static gboolean
run_on_table (CarbReplica *replica, const CarbModel *model, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, model->table, -1, SQLITE_TRANSIENT);
  return carb_replica_db_step_done (replica, stmt, error);
}

static gboolean
locked (CarbReplica *replica,
        gboolean (*body) (CarbReplica *, const CarbModel *, GError **),
        const CarbModel *model,
        GError **error)
{
  g_mutex_lock (&replica->lock);
  gboolean ok = carb_replica_begin (replica, error) && body (replica, model, error);
  if (ok)
    ok = carb_replica_commit (replica, error);
  else
    carb_replica_rollback (replica);
  g_mutex_unlock (&replica->lock);
  return ok;
}

static gboolean
begin_body (CarbReplica *replica, const CarbModel *model, GError **error)
{
  GString *sql = g_string_new ("INSERT OR IGNORE INTO carburetor_unconfirmed (tbl, id) SELECT ?1, ");
  carb_replica_quote_id (sql, model);
  g_string_append (sql, " FROM ");
  carb_replica_quote (sql, model->table);
  g_autofree char *list = g_string_free (sql, FALSE);
  g_autofree char *key = flag_key (model);
  replica->unconfirmed = TRUE;
  return run_on_table (replica, model, "DELETE FROM carburetor_unconfirmed WHERE tbl = ?1", error)
         && run_on_table (replica, model, list, error) && carb_replica_meta_set (replica, key, "1", error);
}

/* The listed rows without a pending edit. */
#define STILL_LISTED                                                                                         \
  " IN (SELECT id FROM carburetor_unconfirmed WHERE tbl = ?1 EXCEPT SELECT id FROM carburetor_pending "      \
  "WHERE tbl = ?1)"

static gboolean
end_body (CarbReplica *replica, const CarbModel *model, GError **error)
{
  GString *sql = g_string_new ("DELETE FROM ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " WHERE ");
  carb_replica_quote_id (sql, model);
  g_string_append (sql, STILL_LISTED);
  g_autofree char *rows = g_string_free (sql, FALSE);
  g_autofree char *key = flag_key (model);
  /* The rows' versions are their own columns: they leave with them. */
  return run_on_table (replica, model, rows, error)
         && run_on_table (replica, model, "DELETE FROM carburetor_unconfirmed WHERE tbl = ?1", error)
         && carb_replica_meta_set (replica, key, "0", error)
         && carb_replica_load_unconfirmed (replica, error);
}

/* Internal, with the lock held: whether any row waits for confirmation,
 * so that merges skip confirm_row's DELETE when none does (most merges). */
gboolean
carb_replica_load_unconfirmed (CarbReplica *replica, GError **error)
{
  sqlite3_stmt *stmt
      = carb_replica_db_stmt (replica, "SELECT EXISTS (SELECT 1 FROM carburetor_unconfirmed)", error);
  if (stmt == NULL)
    return FALSE;
  int rc = sqlite3_step (stmt);
  replica->unconfirmed = rc == SQLITE_ROW && sqlite3_column_int (stmt, 0) != 0;
  sqlite3_reset (stmt);
  return rc == SQLITE_ROW || carb_replica_db_fail (replica, error, "reading carburetor_unconfirmed");
}

/* Internal, in the caller's transaction: the server sent row @id. */
gboolean
carb_replica_confirm_row (CarbReplica *replica, const CarbModel *model, const char *id, GError **error)
{
  if (!replica->unconfirmed)
    return TRUE;
  sqlite3_stmt *stmt
      = carb_replica_db_stmt (replica, "DELETE FROM carburetor_unconfirmed WHERE tbl = ? AND id = ?", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, model->table, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 2, id, -1, SQLITE_TRANSIENT);
  return carb_replica_db_step_done (replica, stmt, error);
}

/* Internal: before a table's first download. */
gboolean
carb_replica_first_download_begin (CarbReplica *replica, guint table_index, GError **error)
{
  return locked (replica, begin_body, carb_sync_group_get_model (replica->group, table_index), error);
}

/* Internal: after a table's download reached the server's end. */
gboolean
carb_replica_first_download_end (CarbReplica *replica, guint table_index, GError **error)
{
  return locked (replica, end_body, carb_sync_group_get_model (replica->group, table_index), error);
}

/* Internal: whether a first download of the table began and was not swept
 * yet (a crash in between). */
gboolean
carb_replica_first_download_open (CarbReplica *replica, guint table_index, GError **error)
{
  g_autofree char *key = flag_key (carb_sync_group_get_model (replica->group, table_index));
  g_mutex_lock (&replica->lock);
  g_autofree char *value = carb_replica_meta_get (replica, key, error);
  g_mutex_unlock (&replica->lock);
  return g_strcmp0 (value, "1") == 0;
}

/* Whether @sql returns a row; ?1 (if used) is the table's name, ?2 the
 * group's. */
static gboolean
exists (CarbReplica *replica, const CarbModel *model, const char *sql, gboolean *found, GError **error)
{
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql, error);
  if (stmt == NULL)
    return FALSE;
  if (sqlite3_bind_parameter_count (stmt) > 0)
    sqlite3_bind_text (stmt, 1, model->table, -1, SQLITE_TRANSIENT);
  if (sqlite3_bind_parameter_count (stmt) > 1)
    sqlite3_bind_text (stmt, 2, carb_sync_group_get_name (replica->group), -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  *found = rc == SQLITE_ROW;
  sqlite3_reset (stmt);
  return rc == SQLITE_ROW || rc == SQLITE_DONE
         || carb_replica_db_fail (replica, error, "reading the replica");
}

/* Internal, in the caller's transaction: a page merged into a table with
 * no sync point is a first download's, which leaves tombstones out. If
 * the replica holds rows of the table, only the protocol above can tell
 * which of them the server deleted; a page merged by hand outside it
 * would leave them alive below the sync point for good, so it is refused
 * (carb_replica_sync() runs the protocol). */
gboolean
carb_replica_check_first_page (CarbReplica *replica, guint table_index, GError **error)
{
  const CarbModel *model = carb_sync_group_get_model (replica->group, table_index);
  gboolean has_point = FALSE, rows = FALSE;
  if (!exists (replica, model, "SELECT 1 FROM carburetor_sync_points WHERE tbl = ?1 AND grp = ?2", &has_point,
               error))
    return FALSE;
  if (has_point)
    return TRUE;
  g_autofree char *key = flag_key (model);
  g_autofree char *flag = carb_replica_meta_get (replica, key, NULL);
  if (g_strcmp0 (flag, "1") == 0)
    return TRUE;
  GString *sql = g_string_new ("SELECT 1 FROM ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " LIMIT 1");
  g_autofree char *any = g_string_free (sql, FALSE);
  if (!exists (replica, model, any, &rows, error))
    return FALSE;
  if (rows)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT,
                   "Replica “%s”, table “%s”: a first download (the table has no sync point) merged by hand, "
                   "while the replica holds rows of the table: a first download leaves tombstones out, so "
                   "the rows the server deleted meanwhile would stay; download the table with "
                   "carb_replica_sync(), which finds them",
                   replica->path, model->table);
      return FALSE;
    }
  return TRUE;
}
