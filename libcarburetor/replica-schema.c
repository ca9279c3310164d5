/* Carburetor — the replica file's schema: one plain table per model (the
 * application reads them with SQL), the carburetor_* metadata tables, and
 * the check that an existing file holds the same group and models.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"

#include <string.h>

/* 1: versions in a side table carburetor_versions; 2: in each row's
 * columns `X__v`, as text (carb_version_to_string()); 3: the same columns
 * as 16-byte blobs (carb_version_to_blob()), less than half the bytes: a
 * first fill writes about a third less. A format 2 file is converted when
 * opened (migrate_from_2()). */
#define SCHEMA_FORMAT               "3"
#define SCHEMA_FORMAT_TEXT_VERSIONS "2"

static const char *const metadata_sql
    = "CREATE TABLE IF NOT EXISTS carburetor_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) "
      "WITHOUT ROWID;"
      /* Local writes not yet acknowledged by the server: the columns only. */
      "CREATE TABLE IF NOT EXISTS carburetor_pending (tbl TEXT NOT NULL, id TEXT NOT NULL, col TEXT NOT "
      "NULL, "
      "version TEXT NOT NULL, PRIMARY KEY (tbl, id, col)) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS carburetor_sync_points (grp TEXT NOT NULL, tbl TEXT NOT NULL, point TEXT "
      "NOT "
      "NULL, PRIMARY KEY (grp, tbl)) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS carburetor_rejections (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT "
      "NULL, id TEXT NOT NULL, col TEXT NOT NULL, message TEXT NOT NULL, time INTEGER NOT NULL);"
      /* Rows held before a table's first download that no download has
       * delivered yet (replica-sweep.c). */
      "CREATE TABLE IF NOT EXISTS carburetor_unconfirmed (tbl TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY "
      "(tbl, id)) WITHOUT ROWID;";

static const char *
sqlite_type (CarbColumnType type)
{
  switch (type)
    {
    case CARB_COLUMN_TYPE_INT16:
    case CARB_COLUMN_TYPE_INT32:
    case CARB_COLUMN_TYPE_INT64:
    case CARB_COLUMN_TYPE_BOOL:
    case CARB_COLUMN_TYPE_TIMESTAMP:
    case CARB_COLUMN_TYPE_DATE:
      return "INTEGER";
    case CARB_COLUMN_TYPE_FLOAT:
    case CARB_COLUMN_TYPE_DOUBLE:
      return "REAL";
    case CARB_COLUMN_TYPE_BYTES:
      return "BLOB";
    default:
      /* UUID, JSON and NUMERIC as TEXT too: SQLite's NUMERIC affinity
       * would turn the text "1.50" into the number 1.5. */
      return "TEXT";
    }
}

/* No NOT NULL on data columns: a row first seen through a partial merge
 * has columns the server has not sent yet; the model's nullability is
 * checked on every local write instead. After the model's columns, the
 * version of every data and is-deleted column X in `X__v` (BLOB, as
 * carb_version_to_blob(); NULL: no version yet), named as on the server
 * (carb_sync_group_get_wire_model()), where it is text. */
static char *
create_table_sql (const CarbModel *model)
{
  GString *sql = g_string_new ("CREATE TABLE IF NOT EXISTS ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " (");
  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      if (i > 0)
        g_string_append (sql, ", ");
      carb_replica_quote (sql, col->name);
      g_string_append_printf (sql, " %s", sqlite_type (col->type));
      if (col->role == CARB_COLUMN_ROLE_ID)
        g_string_append (sql, " PRIMARY KEY NOT NULL");
      else if (col->role == CARB_COLUMN_ROLE_DELETED)
        g_string_append (sql, " NOT NULL DEFAULT 0");
    }
  for (guint i = 0; i < model->n_columns; i++)
    {
      if (!carb_replica_is_versioned (&model->columns[i]))
        continue;
      g_string_append (sql, ", ");
      carb_replica_quote_version (sql, &model->columns[i]);
      g_string_append (sql, " BLOB");
    }
  g_string_append (sql, ")");
  return g_string_free (sql, FALSE);
}

/* What must not change between two opens of a file: the models' tables
 * and columns as the replica stores them. */
static char *
schema_fingerprint (CarbSyncGroup *group)
{
  GString *text = g_string_new (SCHEMA_FORMAT);
  for (guint t = 0; t < carb_sync_group_get_n_models (group); t++)
    {
      const CarbModel *model = carb_sync_group_get_model (group, t);
      g_string_append_printf (text, ";%s(", model->table);
      for (guint i = 0; i < model->n_columns; i++)
        {
          const CarbColumn *col = &model->columns[i];
          g_string_append_printf (text, "%s%s:%d:%d:%u", i > 0 ? "," : "", col->name, col->type, col->role,
                                  col->flags & CARB_COLUMN_FLAGS_NULLABLE);
        }
      g_string_append_c (text, ')');
    }
  return g_string_free (text, FALSE);
}

static gboolean
check_table_names (CarbReplica *replica, GError **error)
{
  for (guint t = 0; t < carb_sync_group_get_n_models (replica->group); t++)
    {
      const CarbModel *model = carb_sync_group_get_model (replica->group, t);
      if (g_str_has_prefix (model->table, "carburetor_") || g_str_has_prefix (model->table, "sqlite_"))
        {
          g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_MODEL,
                       "Replica “%s”: table “%s” has a name reserved for the replica's own tables "
                       "(carburetor_*, sqlite_*); rename the model's table",
                       replica->path, model->table);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
create_new (CarbReplica *replica, const char *fingerprint, GError **error)
{
  for (guint t = 0; t < carb_sync_group_get_n_models (replica->group); t++)
    {
      g_autofree char *sql = create_table_sql (carb_sync_group_get_model (replica->group, t));
      if (!carb_replica_db_exec (replica, sql, error))
        return FALSE;
    }
  replica->site = carb_new_site_id ();
  char site[32];
  g_snprintf (site, sizeof site, "%016" G_GINT64_MODIFIER "x", replica->site);
  return carb_replica_meta_set (replica, "group", carb_sync_group_get_name (replica->group), error)
         && carb_replica_meta_set (replica, "schema", fingerprint, error)
         && carb_replica_meta_set (replica, "site", site, error)
         && carb_replica_meta_set (replica, "hlc", "0", error)
         && carb_replica_meta_set (replica, "clock_offset_us", "0", error)
         && carb_replica_meta_set (replica, "seen_hlc", "0", error);
}

static gboolean
corrupt (CarbReplica *replica, const char *key, GError **error)
{
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
               "Replica “%s”: carburetor_meta holds no valid “%s”; the file was not written by this library "
               "or was edited",
               replica->path, key);
  return FALSE;
}

/* SQL function carburetor_version_blob(X): the blob of a well-formed
 * version text, anything else as it is (a reader then reports it). */
static void
version_blob_func (sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
  guint8 blob[CARB_VERSION_BLOB_LENGTH];
  const char *text = (const char *) sqlite3_value_text (argv[0]);
  (void) argc;
  if (sqlite3_value_type (argv[0]) == SQLITE_TEXT && text != NULL && carb_version_text_to_blob (text, blob))
    sqlite3_result_blob (ctx, blob, sizeof blob, SQLITE_TRANSIENT);
  else
    sqlite3_result_value (ctx, argv[0]);
}

/* One UPDATE of every version column of @model's table. */
static gboolean
migrate_table (CarbReplica *replica, const CarbModel *model, GError **error)
{
  g_autoptr (GString) sql = g_string_new ("UPDATE ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " SET ");
  gboolean first = TRUE;
  for (guint i = 0; i < model->n_columns; i++)
    {
      if (!carb_replica_is_versioned (&model->columns[i]))
        continue;
      if (!first)
        g_string_append (sql, ", ");
      first = FALSE;
      carb_replica_quote_version (sql, &model->columns[i]);
      g_string_append (sql, " = carburetor_version_blob(");
      carb_replica_quote_version (sql, &model->columns[i]);
      g_string_append (sql, ")");
    }
  return first || carb_replica_db_exec (replica, sql->str, error);
}

/* Format 2 → 3, in the open's transaction: every version text becomes its
 * blob (a malformed one stays, as a format 2 reader would have refused it
 * too). The columns keep their declared type TEXT, which stores a blob as
 * it is. */
static gboolean
migrate_from_2 (CarbReplica *replica, const char *fingerprint, GError **error)
{
  if (sqlite3_create_function_v2 (replica->db, "carburetor_version_blob", 1,
                                  SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
                                  version_blob_func, NULL, NULL, NULL)
      != SQLITE_OK)
    return carb_replica_db_fail (replica, error, "converting the versions of a format 2 file");
  gboolean ok = TRUE;
  for (guint t = 0; ok && t < carb_sync_group_get_n_models (replica->group); t++)
    ok = migrate_table (replica, carb_sync_group_get_model (replica->group, t), error);
  sqlite3_create_function_v2 (replica->db, "carburetor_version_blob", 1, SQLITE_UTF8, NULL, NULL, NULL, NULL,
                              NULL);
  return ok && carb_replica_meta_set (replica, "schema", fingerprint, error);
}

/* Whether @stored is the fingerprint @fingerprint of format @format: the
 * same models, another file format. */
static gboolean
same_models_in_format (const char *stored, const char *fingerprint, const char *format)
{
  gsize len = strlen (format);
  return strncmp (stored, format, len) == 0 && stored[len] == ';'
         && strcmp (stored + len, fingerprint + strlen (SCHEMA_FORMAT)) == 0;
}

static gboolean
load_existing (CarbReplica *replica, const char *group_name, const char *fingerprint, GError **error)
{
  const char *wanted = carb_sync_group_get_name (replica->group);
  if (strcmp (group_name, wanted) != 0)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH,
                   "Replica “%s” holds sync group “%s”, not “%s”; open the group's own file", replica->path,
                   group_name, wanted);
      return FALSE;
    }
  g_autofree char *stored = carb_replica_meta_get (replica, "schema", NULL);
  if (stored == NULL)
    return corrupt (replica, "schema", error);
  if (same_models_in_format (stored, fingerprint, SCHEMA_FORMAT_TEXT_VERSIONS))
    {
      if (!migrate_from_2 (replica, fingerprint, error))
        return FALSE;
      g_free (stored);
      stored = g_strdup (fingerprint);
    }
  /* The fingerprint starts with the file's format (a format 2 file with
   * other models is told that its models differ). */
  gsize format_len = strcspn (stored, ";");
  gboolean known_format
      = (format_len == strlen (SCHEMA_FORMAT) && strncmp (stored, SCHEMA_FORMAT, format_len) == 0)
        || (format_len == strlen (SCHEMA_FORMAT_TEXT_VERSIONS)
            && strncmp (stored, SCHEMA_FORMAT_TEXT_VERSIONS, format_len) == 0);
  if (!known_format)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH,
                   "Replica “%s” is in file format %.*s, not %s (format 3 keeps the versions in the rows' "
                   "columns X__v as blobs; format 2 files are converted when opened, if their models are "
                   "the group's); this library cannot use it: rebuild it by deleting the file and opening "
                   "the replica again, which downloads everything (the pending edits of this one are not "
                   "uploaded by it)",
                   replica->path, (int) format_len, stored, SCHEMA_FORMAT);
      return FALSE;
    }
  if (strcmp (stored, fingerprint) != 0)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH,
                   "Replica “%s”: the models of sync group “%s” differ from those the file was made with "
                   "(tables, columns, types or nullability changed); make a new replica file (the pending "
                   "edits of this one are not uploaded by it)",
                   replica->path, wanted);
      return FALSE;
    }
  g_autofree char *site = carb_replica_meta_get (replica, "site", NULL);
  g_autofree char *hlc = carb_replica_meta_get (replica, "hlc", NULL);
  g_autofree char *offset = carb_replica_meta_get (replica, "clock_offset_us", NULL);
  g_autofree char *seen = carb_replica_meta_get (replica, "seen_hlc", NULL);
  guint64 v = 0;
  gint64 o = 0;
  if (site == NULL || !g_ascii_string_to_unsigned (site, 16, 1, G_MAXUINT64, &v, NULL))
    return corrupt (replica, "site", error);
  replica->site = v;
  if (hlc == NULL || !g_ascii_string_to_unsigned (hlc, 10, 0, G_MAXINT64, &v, NULL))
    return corrupt (replica, "hlc", error);
  replica->hlc.last = v;
  if (offset == NULL || !g_ascii_string_to_signed (offset, 10, G_MININT64, G_MAXINT64, &o, NULL))
    return corrupt (replica, "clock_offset_us", error);
  replica->clock_offset_us = o;
  if (seen == NULL || !g_ascii_string_to_unsigned (seen, 10, 0, G_MAXINT64, &v, NULL))
    return corrupt (replica, "seen_hlc", error);
  replica->seen_hlc = v;
  return TRUE;
}

/* Creates the schema of a new file, or checks and loads an existing one's,
 * in one transaction. */
gboolean
carb_replica_schema_open (CarbReplica *replica, GError **error)
{
  if (!check_table_names (replica, error) || !carb_replica_begin (replica, error))
    return FALSE;
  g_autofree char *fingerprint = schema_fingerprint (replica->group);
  g_autofree char *group_name = NULL;
  gboolean ok = carb_replica_db_exec (replica, metadata_sql, error);
  if (ok)
    {
      GError *local = NULL;
      group_name = carb_replica_meta_get (replica, "group", &local);
      ok = local == NULL;
      if (!ok)
        g_propagate_error (error, local);
    }
  if (ok)
    ok = group_name == NULL ? create_new (replica, fingerprint, error)
                            : load_existing (replica, group_name, fingerprint, error);
  if (!ok)
    {
      carb_replica_rollback (replica);
      return FALSE;
    }
  if (!carb_replica_load_unconfirmed (replica, error))
    {
      carb_replica_rollback (replica);
      return FALSE;
    }
  /* The clock read from the file is the baseline: nothing to store. */
  replica->hlc_at_begin = replica->hlc;
  replica->offset_at_begin = replica->clock_offset_us;
  replica->seen_at_begin = replica->seen_hlc;
  return carb_replica_commit (replica, error);
}
