/* Carburetor — the replica's SQLite connection: statements prepared once,
 * errors that name the file, transactions that restore the clock on
 * rollback, and the meta table. Every function here runs with the
 * replica's lock held.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"

#include <string.h>

/* Always FALSE, with %CARB_ERROR_QUERY (or %CARB_ERROR_BUSY) naming the
 * file and what failed. */
gboolean
carb_replica_db_fail (CarbReplica *replica, GError **error, const char *what)
{
  int code = sqlite3_extended_errcode (replica->db);
  int primary = code & 0xff;
  g_set_error (error, CARB_ERROR,
               primary == SQLITE_BUSY || primary == SQLITE_LOCKED ? CARB_ERROR_BUSY : CARB_ERROR_QUERY,
               "Replica “%s”: %s: %s", replica->path, what, sqlite3_errmsg (replica->db));
  return FALSE;
}

gboolean
carb_replica_db_exec (CarbReplica *replica, const char *sql, GError **error)
{
  if (sqlite3_exec (replica->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return carb_replica_db_fail (replica, error, sql);
  return TRUE;
}

/* A prepared statement for @sql, reset and with no bindings; owned by the
 * replica. Callers never nest two uses of one SQL text. */
sqlite3_stmt *
carb_replica_db_stmt (CarbReplica *replica, const char *sql, GError **error)
{
  sqlite3_stmt *stmt = g_hash_table_lookup (replica->statements, sql);
  if (stmt != NULL)
    {
      sqlite3_reset (stmt);
      sqlite3_clear_bindings (stmt);
      return stmt;
    }
  if (sqlite3_prepare_v3 (replica->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK)
    {
      carb_replica_db_fail (replica, error, "preparing a statement");
      sqlite3_finalize (stmt);
      return NULL;
    }
  g_hash_table_insert (replica->statements, g_strdup (sql), stmt);
  return stmt;
}

/* Runs a statement that returns no row. */
gboolean
carb_replica_db_step_done (CarbReplica *replica, sqlite3_stmt *stmt, GError **error)
{
  int rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);
  if (rc != SQLITE_DONE)
    return carb_replica_db_fail (replica, error, sqlite3_sql (stmt));
  return TRUE;
}

/* IMMEDIATE: the write lock is taken at once, so a second process on the
 * file waits (busy timeout) instead of failing at its first write. */
gboolean
carb_replica_begin (CarbReplica *replica, GError **error)
{
  replica->hlc_at_begin = replica->hlc;
  replica->offset_at_begin = replica->clock_offset_us;
  replica->seen_at_begin = replica->seen_hlc;
  return carb_replica_db_exec (replica, "BEGIN IMMEDIATE", error);
}

static gboolean
store_if_changed (CarbReplica *replica, const char *key, gboolean changed, gint64 value, GError **error)
{
  if (!changed)
    return TRUE;
  char text[32];
  g_snprintf (text, sizeof text, "%" G_GINT64_FORMAT, value);
  return carb_replica_meta_set (replica, key, text, error);
}

/* Stores the clock with the transaction's writes, so that a reopened
 * replica never stamps a version older than one it stored or saw. */
gboolean
carb_replica_commit (CarbReplica *replica, GError **error)
{
  if (!store_if_changed (replica, "hlc", replica->hlc.last != replica->hlc_at_begin.last,
                         (gint64) replica->hlc.last, error)
      || !store_if_changed (replica, "clock_offset_us", replica->clock_offset_us != replica->offset_at_begin,
                            replica->clock_offset_us, error)
      || !store_if_changed (replica, "seen_hlc", replica->seen_hlc != replica->seen_at_begin,
                            (gint64) replica->seen_hlc, error)
      || !carb_replica_db_exec (replica, "COMMIT", error))
    {
      carb_replica_rollback (replica);
      return FALSE;
    }
  return TRUE;
}

void
carb_replica_rollback (CarbReplica *replica)
{
  if (!sqlite3_get_autocommit (replica->db))
    sqlite3_exec (replica->db, "ROLLBACK", NULL, NULL, NULL);
  replica->hlc = replica->hlc_at_begin;
  replica->clock_offset_us = replica->offset_at_begin;
  replica->seen_hlc = replica->seen_at_begin;
}

/* An SQL identifier in double quotes; the names come from the model,
 * which may hold any character. */
void
carb_replica_quote (GString *sql, const char *name)
{
  g_string_append_c (sql, '"');
  for (const char *p = name; *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (sql, '"');
      g_string_append_c (sql, *p);
    }
  g_string_append_c (sql, '"');
}

/* Appends the quoted name of @model's id column. */
void
carb_replica_quote_id (GString *sql, const CarbModel *model)
{
  carb_replica_quote (sql, carb_replica_role_column (model, CARB_COLUMN_ROLE_ID)->name);
}

/* Appends " FROM <table> WHERE <id> = ?": the one row of a statement. */
void
carb_replica_append_from_row (GString *sql, const CarbModel *model)
{
  g_string_append (sql, " FROM ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " WHERE ");
  carb_replica_quote_id (sql, model);
  g_string_append (sql, " = ?");
}

/* Inserts an empty row @id (its values follow in an UPDATE); @or_ignore:
 * nothing when the row is there already. */
gboolean
carb_replica_insert_id (
    CarbReplica *replica, const CarbModel *model, const char *id, gboolean or_ignore, GError **error)
{
  g_autoptr (GString) sql = g_string_new (or_ignore ? "INSERT OR IGNORE INTO " : "INSERT INTO ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " (");
  carb_replica_quote_id (sql, model);
  g_string_append (sql, ") VALUES (?)");
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql->str, error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  return carb_replica_db_step_done (replica, stmt, error);
}

/* Returns: (transfer full) (nullable): the value, or NULL without error
 * when the key is absent */
char *
carb_replica_meta_get (CarbReplica *replica, const char *key, GError **error)
{
  sqlite3_stmt *stmt
      = carb_replica_db_stmt (replica, "SELECT value FROM carburetor_meta WHERE key = ?", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  char *value = rc == SQLITE_ROW ? g_strdup ((const char *) sqlite3_column_text (stmt, 0)) : NULL;
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    carb_replica_db_fail (replica, error, "reading carburetor_meta");
  return value;
}

gboolean
carb_replica_meta_set (CarbReplica *replica, const char *key, const char *value, GError **error)
{
  sqlite3_stmt *stmt = carb_replica_db_stmt (
      replica,
      "INSERT INTO carburetor_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = "
      "excluded.value",
      error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, value, -1, SQLITE_STATIC);
  return carb_replica_db_step_done (replica, stmt, error);
}
