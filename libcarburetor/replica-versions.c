/* Carburetor — the replica's side tables of versions: the version of every
 * column of every row, and the pending queue (the local writes the server
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

/* @found is FALSE (and @version untouched) when the column has no version. */
gboolean
carb_replica_get_version_locked (CarbReplica *replica,
                                 const char *table,
                                 const char *id,
                                 const char *column,
                                 CarbVersion *version,
                                 gboolean *found,
                                 GError **error)
{
  sqlite3_stmt *stmt = carb_replica_db_stmt (
      replica, "SELECT version FROM carburetor_versions WHERE tbl = ? AND id = ? AND col = ?", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, column, -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  *found = rc == SQLITE_ROW;
  gboolean ok = TRUE;
  if (rc == SQLITE_ROW)
    {
      GError *local = NULL;
      ok = carb_version_parse ((const char *) sqlite3_column_text (stmt, 0), version, &local);
      if (!ok)
        g_set_error (
            error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
            "Replica “%s”, table “%s”, row “%s”, column “%s”: carburetor_versions holds a bad version: %s",
            replica->path, table, id, column, local->message);
      g_clear_error (&local);
    }
  else if (rc != SQLITE_DONE)
    ok = carb_replica_db_fail (replica, error, "reading carburetor_versions");
  sqlite3_reset (stmt);
  return ok;
}

static gboolean
upsert (CarbReplica *replica,
        const char *sql,
        const char *table,
        const char *id,
        const char *column,
        const char *version,
        GError **error)
{
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, column, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, version, -1, SQLITE_STATIC);
  return carb_replica_db_step_done (replica, stmt, error);
}

/* Stores @version as the column's version, and as pending when @pending
 * (a local write). */
gboolean
carb_replica_set_version (CarbReplica *replica,
                          const char *table,
                          const char *id,
                          const char *column,
                          const CarbVersion *version,
                          gboolean pending,
                          GError **error)
{
  g_autofree char *text = carb_version_to_string (version);
  if (!upsert (replica,
               "INSERT INTO carburetor_versions (tbl, id, col, version) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (tbl, id, col) DO UPDATE SET version = excluded.version",
               table, id, column, text, error))
    return FALSE;
  return !pending
         || upsert (replica,
                    "INSERT INTO carburetor_pending (tbl, id, col, version) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (tbl, id, col) DO UPDATE SET version = excluded.version",
                    table, id, column, text, error);
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

gboolean
carb_replica_row_exists (
    CarbReplica *replica, const CarbModel *model, const char *id, gboolean *exists, GError **error)
{
  g_autoptr (GString) sql = g_string_new ("SELECT 1 FROM ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " WHERE ");
  carb_replica_quote (sql, carb_replica_role_column (model, CARB_COLUMN_ROLE_ID)->name);
  g_string_append (sql, " = ?");
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
