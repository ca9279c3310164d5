/* Carburetor — the replica's versions: the version of every data and
 * is-deleted column X of a row, in the row's own column `X__v` (as on the
 * server, carb_sync_group_get_wire_model(), but as a 16-byte blob,
 * carb_version_to_blob()), and the pending queue (the local writes the server
 * has not acknowledged). A pending entry always holds the column's current
 * version: a newer write replaces both, a winning remote version drops it.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"

#include <string.h>

/* The version of the next local write: the clock ticked with the wall
 * clock (corrected by carb_replica_correct_clock()). */
CarbVersion
carb_replica_next_version (CarbReplica *replica)
{
  CarbVersion v
      = { carb_hlc_tick (&replica->hlc, g_get_real_time () + replica->clock_offset_us), replica->site };
  return v;
}

/* A time read from the server: the clock runs past it. */
void
carb_replica_observe (CarbReplica *replica, guint64 hlc)
{
  carb_hlc_observe (&replica->hlc, hlc);
  replica->seen_hlc = MAX (replica->seen_hlc, hlc);
}

/* The versioned column @column of @table, with its model; NULL when the
 * table or column is unknown or the column has no version (the id, the
 * timestamp). */
static const CarbColumn *
versioned_column (CarbReplica *replica, const char *table, const char *column, const CarbModel **model)
{
  gint t = carb_sync_group_find_table (replica->group, table);
  if (t < 0)
    return NULL;
  *model = carb_sync_group_get_model (replica->group, (guint) t);
  gint index = carb_model_find_column (*model, column);
  if (index < 0 || !carb_replica_is_versioned (&(*model)->columns[index]))
    return NULL;
  return &(*model)->columns[index];
}

/* Appends the quoted name of @col's version column `X__v`. */
void
carb_replica_quote_version (GString *sql, const CarbColumn *col)
{
  g_autofree char *name = g_strconcat (col->name, CARB_VERSION_COLUMN_SUFFIX, NULL);
  carb_replica_quote (sql, name);
}

gboolean
carb_replica_is_versioned (const CarbColumn *col)
{
  return col->role == CARB_COLUMN_ROLE_DATA || col->role == CARB_COLUMN_ROLE_DELETED;
}

/* Reads the version column at @index of @stmt's row (a
 * CARB_VERSION_BLOB_LENGTH-byte blob, carb_version_to_blob()); NULL is
 * no version. */
gboolean
carb_replica_parse_stored_version (CarbReplica *replica,
                                   const CarbModel *model,
                                   const char *id,
                                   const CarbColumn *col,
                                   sqlite3_stmt *stmt,
                                   int index,
                                   CarbVersion *version,
                                   gboolean *found,
                                   GError **error)
{
  int type = sqlite3_column_type (stmt, index);
  *found = type != SQLITE_NULL;
  if (type == SQLITE_NULL)
    return TRUE;
  if (type == SQLITE_BLOB
      && carb_version_from_blob (sqlite3_column_blob (stmt, index),
                                 (gsize) sqlite3_column_bytes (stmt, index), version))
    return TRUE;
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
               "Replica “%s”, table “%s”, row “%s”: column “%s%s” holds a bad version: expected a %d-byte "
               "blob (the hlc then the site, big-endian) or NULL; was the file edited?",
               replica->path, model->table, id, col->name, CARB_VERSION_COLUMN_SUFFIX,
               CARB_VERSION_BLOB_LENGTH);
  return FALSE;
}

/* Binds @version as a version column stores it. */
void
carb_replica_bind_version (sqlite3_stmt *stmt, int param, const CarbVersion *version)
{
  guint8 blob[CARB_VERSION_BLOB_LENGTH];
  carb_version_to_blob (version, blob);
  sqlite3_bind_blob (stmt, param, blob, sizeof blob, SQLITE_TRANSIENT);
}

/* @found is FALSE (and @version untouched) when the column has no version
 * (no such row, or not a data or is-deleted column). */
gboolean
carb_replica_get_version_locked (CarbReplica *replica,
                                 const char *table,
                                 const char *id,
                                 const char *column,
                                 CarbVersion *version,
                                 gboolean *found,
                                 GError **error)
{
  const CarbModel *model = NULL;
  const CarbColumn *col = versioned_column (replica, table, column, &model);
  *found = FALSE;
  if (col == NULL)
    return TRUE;
  g_autoptr (GString) sql = g_string_new ("SELECT ");
  carb_replica_quote_version (sql, col);
  carb_replica_append_from_row (sql, model);
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql->str, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  gboolean ok = TRUE;
  if (rc == SQLITE_ROW)
    ok = carb_replica_parse_stored_version (replica, model, id, col, stmt, 0, version, found, error);
  else if (rc != SQLITE_DONE)
    ok = carb_replica_db_fail (replica, error, "reading a version");
  sqlite3_reset (stmt);
  return ok;
}

/* Stores @version as the column's version in its row (which exists), and
 * as pending when @pending (a local write). */
gboolean
carb_replica_set_version (CarbReplica *replica,
                          const char *table,
                          const char *id,
                          const char *column,
                          const CarbVersion *version,
                          gboolean pending,
                          GError **error)
{
  const CarbModel *model = NULL;
  const CarbColumn *col = versioned_column (replica, table, column, &model);
  if (col == NULL)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "Replica “%s”, table “%s”: “%s” is not a versioned column of the group", replica->path,
                   table, column);
      return FALSE;
    }
  g_autoptr (GString) sql = g_string_new ("UPDATE ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " SET ");
  carb_replica_quote_version (sql, col);
  g_string_append (sql, " = ? WHERE ");
  carb_replica_quote_id (sql, model);
  g_string_append (sql, " = ?");
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql->str, error);
  if (stmt == NULL)
    return FALSE;
  carb_replica_bind_version (stmt, 1, version);
  sqlite3_bind_text (stmt, 2, id, -1, SQLITE_STATIC);
  if (!carb_replica_db_step_done (replica, stmt, error))
    return FALSE;
  if (!pending)
    return TRUE;
  g_autofree char *text = carb_version_to_string (version);
  return carb_replica_set_pending (replica, table, id, column, text, error);
}

/* Queues the column's local write @version (carb_version_to_string()). */
gboolean
carb_replica_set_pending (CarbReplica *replica,
                          const char *table,
                          const char *id,
                          const char *column,
                          const char *version,
                          GError **error)
{
  sqlite3_stmt *stmt
      = carb_replica_db_stmt (replica,
                              "INSERT INTO carburetor_pending (tbl, id, col, version) VALUES "
                              "(?, ?, ?, ?) "
                              "ON CONFLICT (tbl, id, col) DO UPDATE SET version = excluded.version",
                              error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, column, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, version, -1, SQLITE_STATIC);
  return carb_replica_db_step_done (replica, stmt, error);
}

/* Drops the pending entry of a column; with @only_if, only while it still
 * holds that version (a write made since stays pending). */
gboolean
carb_replica_drop_pending (CarbReplica *replica,
                           const char *table,
                           const char *id,
                           const char *column,
                           const CarbVersion *only_if,
                           GError **error)
{
  sqlite3_stmt *stmt = carb_replica_db_stmt (
      replica,
      "DELETE FROM carburetor_pending WHERE tbl = ? AND id = ? AND col = ? AND (?4 IS NULL OR version = ?4)",
      error);
  if (stmt == NULL)
    return FALSE;
  g_autofree char *text = only_if != NULL ? carb_version_to_string (only_if) : NULL;
  sqlite3_bind_text (stmt, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, column, -1, SQLITE_STATIC);
  if (text != NULL)
    sqlite3_bind_text (stmt, 4, text, -1, SQLITE_STATIC);
  return carb_replica_db_step_done (replica, stmt, error);
}

/* Removes the row @id of @model from the replica, unless a local edit
 * keeps it pending: a row the replica may no longer see (refused, or
 * withdrawn by a download). A pending edit is sent, refused by the
 * server's filter, and reported; the row then leaves at the
 * acknowledgement. The row's versions are its own columns: they leave
 * with it. */
gboolean
carb_replica_drop_row (CarbReplica *replica, const CarbModel *model, const char *id, GError **error)
{
  g_autoptr (GString) sql = g_string_new ("DELETE FROM ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " WHERE ");
  carb_replica_quote_id (sql, model);
  g_string_append (sql, " = ?1 AND NOT EXISTS (SELECT 1 FROM carburetor_pending WHERE tbl = ?2 AND id = ?1)");
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql->str, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 2, model->table, -1, SQLITE_TRANSIENT);
  return carb_replica_db_step_done (replica, stmt, error);
}

gboolean
carb_replica_row_exists (
    CarbReplica *replica, const CarbModel *model, const char *id, gboolean *exists, GError **error)
{
  g_autoptr (GString) sql = g_string_new ("SELECT 1");
  carb_replica_append_from_row (sql, model);
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql->str, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return carb_replica_db_fail (replica, error, "reading a row");
  *exists = rc == SQLITE_ROW;
  return TRUE;
}
