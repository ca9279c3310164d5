/* Carburetor — merging the server's rows into a replica, per column: the
 * incoming value wins iff its version is greater than the local one
 * (docs/TWOWAY.md). The rule never lets an older value overwrite a
 * pending local edit, and a duplicate or stale row changes nothing.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"
#include "twoway-private.h"

#include <string.h>

static gboolean
merge_error (GError **error, const CarbModel *model, const char *id, const char *column, const char *why)
{
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
               "Table “%s”, row “%s”, column “%s” from the server: %s", model->table, id,
               column != NULL ? column : "(none)", why);
  return FALSE;
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
  carb_replica_quote_id (sql, model);
  g_string_append (sql, " = ?2");
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql->str, error);
  if (stmt == NULL || !carb_replica_bind_value (stmt, 1, model, col, value, error))
    return FALSE;
  sqlite3_bind_text (stmt, 2, id, -1, SQLITE_STATIC);
  return carb_replica_db_step_done (replica, stmt, error);
}

/* The SELECT of every version column of a row of table @table_index,
 * built once per table: an acknowledgement reads it for each row of the
 * answer. */
static const char *
versions_sql (CarbReplica *replica, guint table_index, const CarbModel *model)
{
  if (replica->versions_sql == NULL)
    replica->versions_sql = g_ptr_array_new_with_free_func (g_free);
  if (replica->versions_sql->len <= table_index)
    g_ptr_array_set_size (replica->versions_sql, (gint) table_index + 1);
  if (replica->versions_sql->pdata[table_index] != NULL)
    return replica->versions_sql->pdata[table_index];
  GString *sql = g_string_new ("SELECT ");
  for (guint i = 0; i < model->n_columns; i++)
    {
      if (i > 0)
        g_string_append (sql, ", ");
      if (carb_replica_is_versioned (&model->columns[i]))
        carb_replica_quote_version (sql, &model->columns[i]);
      else
        g_string_append (sql, "NULL");
    }
  carb_replica_append_from_row (sql, model);
  replica->versions_sql->pdata[table_index] = g_string_free (sql, FALSE);
  return replica->versions_sql->pdata[table_index];
}

/* The versions the row holds: one read of every version column;
 * @found[i] is FALSE for a model column i without one, @exists whether
 * the replica holds the row at all. */
static gboolean
load_versions (CarbReplica *replica,
               guint table_index,
               const CarbModel *model,
               const char *id,
               CarbVersion *versions,
               gboolean *found,
               gboolean *exists,
               GError **error)
{
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, versions_sql (replica, table_index, model), error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  gboolean ok = TRUE;
  for (guint i = 0; i < model->n_columns; i++)
    found[i] = FALSE;
  *exists = rc == SQLITE_ROW;
  if (rc == SQLITE_ROW)
    for (guint i = 0; ok && i < model->n_columns; i++)
      ok = carb_replica_parse_stored_version (replica, model, id, &model->columns[i], stmt, (int) i,
                                              &versions[i], &found[i], error);
  else if (rc != SQLITE_DONE)
    ok = carb_replica_db_fail (replica, error, "reading a row's versions");
  sqlite3_reset (stmt);
  return ok;
}

gboolean
carb_replica_merge_row (CarbReplica *replica,
                        guint table_index,
                        const char *id,
                        const CarbChange *changes,
                        gsize n_changes,
                        GHashTable *force_columns,
                        GHashTable *tie_columns,
                        gboolean held_only,
                        GError **error)
{
  const CarbModel *model = carb_sync_group_get_model (replica->group, table_index);
  if (!carb_replica_confirm_row (replica, model, id, error)
      || (!held_only && !carb_replica_insert_id (replica, model, id, TRUE, error)))
    return FALSE;
  g_autofree CarbVersion *local = g_new0 (CarbVersion, model->n_columns);
  g_autofree gboolean *found = g_new0 (gboolean, model->n_columns);
  gboolean exists = FALSE;
  if (!load_versions (replica, table_index, model, id, local, found, &exists, error))
    return FALSE;
  if (!exists)
    return TRUE;
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
      if (!carb_replica_is_versioned (col))
        return merge_error (error, model, id, c->column, "the column has no version");
      carb_replica_observe (replica, c->version.hlc);
      gint order = found[index] ? carb_version_compare (&c->version, &local[index]) : 1;
      /* A tie is the same write: it wins only where the server stored
       * another value than the replica's (tie_columns, replica-ack.c). */
      gboolean wins
          = order > 0
            || (order == 0 && tie_columns != NULL && g_hash_table_contains (tie_columns, c->column));
      if (!wins && (force_columns == NULL || !g_hash_table_contains (force_columns, c->column)))
        continue;
      /* A pending local edit that loses is dropped: the server's newer
       * value is the row's value everywhere from now on. */
      if (!carb_replica_drop_pending (replica, model->table, id, c->column, NULL, error))
        return FALSE;
      /* A column sent twice is compared with the first one's version. */
      local[index] = c->version;
      found[index] = TRUE;
      CarbColumnWrite w
          = { col, c->value != NULL ? g_variant_ref (c->value) : NULL, carb_version_to_string (&c->version) };
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

/* One page's merge: a row the replica does not hold yet (most rows of a
 * first fill) goes in with one INSERT of every column and its versions,
 * instead of the per-column read, compare and update. */
typedef struct
{
  guint table_index;
  const CarbModel *model;
  char *insert_sql; /* INSERT OR IGNORE of every model column, then the version columns; NULL: no fast path */
  gint *version_param; /* model column → parameter of its version, or -1 */
  guint n_versioned;
  gboolean stale; /* the page ends before the stored sync point: its withdrawals are old news */
} PageMerge;

/* Whether the table has a pending local edit: a row of the page that
 * the table lacks may then still have versions (its edit is pending
 * until the ack), and every row takes the per-column merge. */
static gboolean
table_has_pending (CarbReplica *replica, const CarbModel *model, gboolean *pending, GError **error)
{
  sqlite3_stmt *stmt
      = carb_replica_db_stmt (replica, "SELECT 1 FROM carburetor_pending WHERE tbl = ? LIMIT 1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, model->table, -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return carb_replica_db_fail (replica, error, "reading carburetor_pending");
  *pending = rc == SQLITE_ROW;
  return TRUE;
}

static void
page_merge_init (PageMerge *m, CarbReplica *replica, guint table_index)
{
  const CarbModel *model = carb_sync_group_get_model (replica->group, table_index);
  *m = (PageMerge){ table_index, model, NULL, NULL, 0, FALSE };
  if (model->n_columns > 64)
    return;
  m->version_param = g_new (gint, model->n_columns);
  GString *sql = g_string_new ("INSERT OR IGNORE INTO ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " (");
  for (guint i = 0; i < model->n_columns; i++)
    {
      if (i > 0)
        g_string_append (sql, ", ");
      carb_replica_quote (sql, model->columns[i].name);
    }
  for (guint i = 0; i < model->n_columns; i++)
    {
      m->version_param[i] = -1;
      /* The columns a download page sends (the server's versioned ones). */
      if (!carb_replica_is_versioned (&model->columns[i]))
        continue;
      m->version_param[i] = (gint) (model->n_columns + ++m->n_versioned);
      g_string_append (sql, ", ");
      carb_replica_quote_version (sql, &model->columns[i]);
    }
  g_string_append (sql, ") VALUES (");
  for (guint i = 0; i < model->n_columns + m->n_versioned; i++)
    g_string_append (sql, i > 0 ? ", ?" : "?");
  g_string_append (sql, ")");
  m->insert_sql = g_string_free (sql, FALSE);
}

static void
page_merge_clear (PageMerge *m)
{
  g_clear_pointer (&m->insert_sql, g_free);
  g_clear_pointer (&m->version_param, g_free);
}

/* The fast path: INSERT OR IGNORE of the whole row; @inserted is FALSE
 * when the replica holds the row already (or the row breaks a constraint,
 * such as a page without the is-deleted column), and nothing was written:
 * the per-column merge then decides. */
static gboolean
insert_new_row (
    CarbReplica *replica, PageMerge *m, const CarbChange *first, gsize n, gboolean *inserted, GError **error)
{
  const CarbModel *model = m->model;
  *inserted = FALSE;
  /* Only a row with exactly one change per versioned column, all known. */
  if (n != m->n_versioned)
    return TRUE;
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, m->insert_sql, error);
  if (stmt == NULL)
    return FALSE;
  guint64 seen = 0;
  guint64 bound = 0; /* a bit per model column (page_merge_init() checked ≤ 64) */
  for (gsize i = 0; i < n; i++)
    {
      const CarbChange *c = &first[i];
      gint index = carb_model_find_column (model, c->column);
      /* An unknown column is the per-column merge's error to report; a
       * column that came twice is its rule to apply. */
      if (index < 0 || !carb_replica_is_versioned (&model->columns[index])
          || (bound & (G_GUINT64_CONSTANT (1) << index)) != 0)
        return TRUE;
      bound |= G_GUINT64_CONSTANT (1) << index;
      if (!carb_replica_bind_value (stmt, index + 1, model, &model->columns[index], c->value, error))
        return FALSE;
      carb_replica_bind_version (stmt, m->version_param[index], &c->version);
      seen = MAX (seen, c->version.hlc);
    }
  for (guint i = 0; i < model->n_columns; i++)
    if (model->columns[i].role == CARB_COLUMN_ROLE_ID)
      sqlite3_bind_text (stmt, (int) i + 1, first->row_id, -1, SQLITE_STATIC);
  if (!carb_replica_db_step_done (replica, stmt, error))
    return FALSE;
  if (sqlite3_changes (replica->db) == 0)
    return TRUE;
  carb_replica_observe (replica, seen);
  *inserted = TRUE;
  return TRUE;
}

static gboolean
merge_page_row (CarbReplica *replica, const CarbChange *first, gsize n, gpointer data, GError **error)
{
  PageMerge *m = data;
  const CarbModel *model = m->model;
  if (strcmp (first->table, model->table) != 0)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "A download page of table “%s” holds a row of table “%s”; nothing of the page was merged",
                   model->table, first->table);
      return FALSE;
    }
  /* A withdrawal: the row left the replica's filter on the server. A
   * stale page's is older than the state of the row the replica holds
   * (a later page brought it back, moved back into the filter): dropping
   * it then would leave it missing below the sync point for good. */
  if (n == 1 && first->column == NULL)
    return m->stale || carb_replica_drop_row (replica, model, first->row_id, error);
  for (gsize i = 0; i < n; i++)
    if (first[i].column == NULL)
      return merge_error (error, model, first->row_id, NULL, "a withdrawn row comes with columns");
  gboolean inserted = FALSE;
  if (m->insert_sql != NULL && !insert_new_row (replica, m, first, n, &inserted, error))
    return FALSE;
  return inserted
         || carb_replica_merge_row (replica, m->table_index, first->row_id, first, n, NULL, NULL, FALSE,
                                    error);
}

/* Whether the table's stored sync point is later than @point (a page
 * ending at @point is stale). */
static gboolean
stored_point_later (
    CarbReplica *replica, const CarbModel *model, const CarbSyncPoint *point, gboolean *later, GError **error)
{
  sqlite3_stmt *stmt = carb_replica_db_stmt (
      replica, "SELECT point FROM carburetor_sync_points WHERE grp = ? AND tbl = ?", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, carb_sync_group_get_name (replica->group), -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, model->table, -1, SQLITE_STATIC);
  g_autoptr (CarbSyncPoint) stored = NULL;
  if (sqlite3_step (stmt) == SQLITE_ROW)
    stored = carb_sync_point_parse ((const char *) sqlite3_column_text (stmt, 0), NULL);
  sqlite3_reset (stmt);
  *later = stored != NULL && carb_sync_point_get_time (stored) > carb_sync_point_get_time (point);
  return TRUE;
}

/* Stores @point unless the stored one is later: a stale page must not send
 * the next download back. */
static gboolean
store_sync_point (CarbReplica *replica, const CarbModel *model, const CarbSyncPoint *point, GError **error)
{
  const char *group = carb_sync_group_get_name (replica->group);
  gboolean later = FALSE;
  if (!stored_point_later (replica, model, point, &later, error))
    return FALSE;
  if (later)
    return TRUE;
  g_autofree char *text = carb_sync_point_to_string (point);
  sqlite3_stmt *stmt
      = carb_replica_db_stmt (replica,
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
 * The page must come from a download whose `since` was at or before the
 * table's stored point (carb_replica_get_sync_point(); %NULL, the first
 * download, only while none is stored): the rows between the stored point
 * and a later `since` would be missing for good. After
 * carb_replica_rebuild() that means a first download again; pages kept
 * from before it must not be merged. carb_replica_sync() does all this.
 * A first download leaves tombstones out, so while the replica holds rows
 * of the table only carb_replica_sync() can make it (it finds the held
 * rows the server deleted): by hand it fails with
 * %CARB_ERROR_INVALID_SYNC_POINT and merges nothing.
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
      PageMerge m;
      page_merge_init (&m, replica, table_index);
      gboolean pending = TRUE;
      ok = carb_replica_check_first_page (replica, table_index, error)
           && table_has_pending (replica, model, &pending, error)
           && stored_point_later (replica, model, synced_until, &m.stale, error);
      if (pending)
        page_merge_clear (&m);
      ok = ok && carb_replica_for_each_row (replica, changes, merge_page_row, &m, error)
           && store_sync_point (replica, model, synced_until, error);
      page_merge_clear (&m);
      if (ok)
        ok = carb_replica_commit (replica, error);
      else
        carb_replica_rollback (replica);
    }
  g_mutex_unlock (&replica->lock);
  return ok;
}

/* ---- first fill ------------------------------------------------------- */

/* Rows merged per transaction of a first fill: each commit lets the
 * application's calls in, and a crash loses at most this many rows,
 * downloaded again by the next sync (the fill stores the sync point
 * last, and the merge of a row the replica holds is a no-op). */
#define FILL_CHUNK_ROWS 5000

typedef struct
{
  CarbReplica *replica;
  PageMerge merge;
  CarbTwowayTable t;
  gint *value_column; /* model column → wire column of its value, or -1 */
  GVariant *wanted;   /* the context's value for the filter, or NULL */
  GArray *changes;    /* one row's CarbChange, values owned, strings borrowed */
  guint in_chunk;
  /* The fast path's INSERT (merge.insert_sql), prepared once for the fill;
   * NULL when a row must go through the changes (fill_direct_possible()). */
  sqlite3_stmt *insert;
  /* The row's version blobs, CARB_VERSION_BLOB_LENGTH bytes per model
   * column, bound without a copy. */
  guint8 *blobs;
} Fill;

static CarbVersion
wire_version (const CarbModel *wire, gconstpointer row, gint column)
{
  CarbVersion version = { 0, 0 };
  /* NULL and malformed text are the lowest version, as in a download. */
  if (column >= 0 && !carb_model_row_is_null (wire, row, (guint) column)
      && !carb_version_parse (*(char *const *) ((const guint8 *) row + wire->columns[column].offset),
                              &version, NULL))
    version = (CarbVersion){ 0, 0 };
  return version;
}

static GVariant *
wire_value (const CarbModel *wire, gconstpointer row, gint column)
{
  if (column < 0 || carb_model_row_is_null (wire, row, (guint) column))
    return NULL;
  return g_variant_ref_sink (carb_model_column_variant (&wire->columns[column], row));
}

static void
fill_clear_changes (Fill *f)
{
  for (guint i = 0; i < f->changes->len; i++)
    g_clear_pointer (&g_array_index (f->changes, CarbChange, i).value, g_variant_unref);
  g_array_set_size (f->changes, 0);
}

static gboolean
fill_next_chunk (Fill *f, GError **error)
{
  if (++f->in_chunk < FILL_CHUNK_ROWS)
    return TRUE;
  f->in_chunk = 0;
  if (!carb_replica_commit (f->replica, error))
    return FALSE;
  g_mutex_unlock (&f->replica->lock);
  g_mutex_lock (&f->replica->lock);
  return carb_replica_begin (f->replica, error);
}

/* The version of a wire row's version column as the fast path stores it
 * (carb_version_to_blob()), into @blob: that of the text when well-formed,
 * else the lowest version's, as a download takes NULL and malformed text. */
static void
wire_version_blob (const CarbModel *wire, gconstpointer row, gint column, guint8 *blob)
{
  const CarbColumn *col = &wire->columns[column];
  if (carb_column_is_null (col, row)
      || !carb_version_text_to_blob (*(char *const *) ((const guint8 *) row + col->offset), blob))
    memset (blob, 0, CARB_VERSION_BLOB_LENGTH);
}

/* The fast path of insert_new_row() for a wire row, without building its
 * changes: each value and version is bound straight from the row to the
 * INSERT prepared once. @inserted is FALSE when the replica holds the row
 * already and nothing was written. */
static gboolean
fill_insert (Fill *f, gconstpointer row, const char *id, gboolean *inserted, GError **error)
{
  const CarbModel *model = f->t.model, *wire = f->t.wire;
  sqlite3_stmt *stmt = f->insert;
  const guint8 *newest = NULL; /* the greatest version: its blob's first 8 bytes are the hlc, big-endian */
  *inserted = FALSE;
  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      if (col->role == CARB_COLUMN_ROLE_ID)
        sqlite3_bind_text (stmt, (int) i + 1, id, -1, SQLITE_STATIC);
      else if (f->t.version_column[i] < 0)
        sqlite3_bind_null (stmt, (int) i + 1);
      else
        {
          if (!carb_replica_bind_row_value (stmt, (int) i + 1, model, col, wire, row, f->value_column[i],
                                            error))
            return FALSE;
          guint8 *blob = f->blobs + (gsize) i * CARB_VERSION_BLOB_LENGTH;
          wire_version_blob (wire, row, f->t.version_column[i], blob);
          sqlite3_bind_blob (stmt, f->merge.version_param[i], blob, CARB_VERSION_BLOB_LENGTH, SQLITE_STATIC);
          if (newest == NULL || memcmp (blob, newest, 8) > 0)
            newest = blob;
        }
    }
  if (!carb_replica_db_step_done (f->replica, stmt, error))
    return FALSE;
  if (sqlite3_changes (f->replica->db) == 0)
    return TRUE;
  CarbVersion seen = { 0, 0 };
  if (newest != NULL)
    carb_version_from_blob (newest, CARB_VERSION_BLOB_LENGTH, &seen);
  carb_replica_observe (f->replica, seen.hlc);
  *inserted = TRUE;
  return TRUE;
}

/* A row the fast path could not insert: the changes a download page would
 * carry for it, merged the same way. */
static gboolean
fill_merge (Fill *f, gconstpointer row, const char *id, GError **error)
{
  const CarbModel *model = f->t.model, *wire = f->t.wire;
  for (guint i = 0; i < model->n_columns; i++)
    {
      if (f->t.version_column[i] < 0)
        continue;
      CarbChange c
          = { (char *) model->table, (char *) id, (char *) model->columns[i].name,
              wire_version (wire, row, f->t.version_column[i]), wire_value (wire, row, f->value_column[i]) };
      g_array_append_val (f->changes, c);
    }
  const CarbChange *first = (const CarbChange *) (gpointer) f->changes->data;
  gboolean inserted = FALSE;
  gboolean ok = (f->insert != NULL
                 || insert_new_row (f->replica, &f->merge, first, f->changes->len, &inserted, error))
                && (inserted
                    || carb_replica_merge_row (f->replica, f->t.index, id, first, f->changes->len, NULL, NULL,
                                               FALSE, error));
  fill_clear_changes (f);
  return ok;
}

/* One wire row. */
static gboolean
fill_row (gconstpointer row, gpointer user_data, GError **error)
{
  Fill *f = user_data;
  const CarbModel *wire = f->t.wire;
  if (f->t.filter_column >= 0)
    {
      g_autoptr (GVariant) value = wire_value (wire, row, f->value_column[f->t.filter_column]);
      if (!carb_twoway_filter_matches (value, f->wanted))
        return TRUE;
    }
  gint id_column = f->value_column[f->t.id_column];
  if (id_column < 0 || carb_model_row_is_null (wire, row, (guint) id_column))
    return TRUE;
  const char *id = *(char *const *) ((const guint8 *) row + wire->columns[id_column].offset);
  gboolean inserted = FALSE;
  if (f->insert != NULL && !fill_insert (f, row, id, &inserted, error))
    return FALSE;
  return (inserted || fill_merge (f, row, id, error)) && fill_next_chunk (f, error);
}

/* Whether every row of the fill can take fill_insert(): it sends exactly
 * one change per versioned column (what insert_new_row() asks of a row). */
static gboolean
fill_direct_possible (const Fill *f)
{
  guint sent = 0;
  for (guint i = 0; i < f->t.model->n_columns; i++)
    if (f->t.version_column[i] >= 0)
      {
        if (!carb_replica_is_versioned (&f->t.model->columns[i]))
          return FALSE;
        sent++;
      }
  return f->merge.insert_sql != NULL && sent == f->merge.n_versioned;
}

/* Whether a first fill of the table may read the server's rows directly:
 * text ids, no pending edit (a row the table lacks then has no versions),
 * at most 64 columns (insert_new_row()). */
static gboolean
fill_possible (CarbReplica *replica, guint table_index, gboolean *possible, GError **error)
{
  const CarbModel *model = carb_sync_group_get_model (replica->group, table_index);
  const CarbColumn *id = carb_replica_role_column (model, CARB_COLUMN_ROLE_ID);
  gboolean pending = TRUE;
  *possible = FALSE;
  if (model->n_columns > 64 || (id->type != CARB_COLUMN_TYPE_TEXT && id->type != CARB_COLUMN_TYPE_UUID))
    return TRUE;
  g_mutex_lock (&replica->lock);
  gboolean ok = table_has_pending (replica, model, &pending, error);
  g_mutex_unlock (&replica->lock);
  *possible = ok && !pending;
  return ok;
}

static void
fill_clear (Fill *f)
{
  page_merge_clear (&f->merge);
  carb_twoway_table_clear (&f->t);
  g_clear_pointer (&f->value_column, g_free);
  g_clear_pointer (&f->blobs, g_free);
  g_clear_pointer (&f->wanted, g_variant_unref);
  if (f->changes != NULL)
    fill_clear_changes (f);
  g_clear_pointer (&f->changes, g_array_unref);
}

/* Returns: FALSE with @error set; nothing of the chunk being merged stays */
static gboolean
fill_locked (Fill *f, CarbStore *server, GCancellable *cancellable, GError **error)
{
  CarbSyncPoint *until = NULL;
  if (!carb_replica_begin (f->replica, error))
    return FALSE;
  if (fill_direct_possible (f))
    {
      f->insert = carb_replica_db_stmt (f->replica, f->merge.insert_sql, error);
      if (f->insert == NULL)
        {
          carb_replica_rollback (f->replica);
          return FALSE;
        }
    }
  gboolean ok = carb_store_download_sync_foreach (server, f->t.wire, NULL, 0, fill_row, f, &until,
                                                  cancellable, error);
  /* Its text and blobs were bound without a copy, from rows the sink has
   * freed by now and from f->blobs; the cached statement keeps no pointer
   * to them. */
  if (f->insert != NULL)
    sqlite3_clear_bindings (f->insert);
  g_autoptr (CarbSyncPoint) point = until;
  ok = ok && store_sync_point (f->replica, f->t.model, point, error);
  if (ok)
    return carb_replica_commit (f->replica, error);
  carb_replica_rollback (f->replica);
  return FALSE;
}

/**
 * carb_replica_fill_table: (skip)
 * @replica: a replica
 * @server: the server's store, in this process
 * @context: the server-side context (`a{sv}`), checked
 * @table_index: a table of the group never downloaded (no sync point)
 * @filled: (out): whether the table was filled (FALSE: download it)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * A first download of a table, straight from the server's rows: one
 * streamed carb_store_download_sync_foreach() of the wire model from no
 * point (live rows only, as a first download page), each row filtered and
 * merged as the page of carb_store_download_changes() would be, without
 * building and parsing a changeset, in transactions of FILL_CHUNK_ROWS
 * rows; the sync point is stored with the last one.
 *
 * Returns: %TRUE, or %FALSE with @error set
 */
gboolean
carb_replica_fill_table (CarbReplica *replica,
                         CarbStore *server,
                         GVariant *context,
                         guint table_index,
                         gboolean *filled,
                         GCancellable *cancellable,
                         GError **error)
{
  *filled = FALSE;
  gboolean possible = FALSE;
  if (!fill_possible (replica, table_index, &possible, error))
    return FALSE;
  if (!possible)
    return TRUE;
  Fill f = { .replica = replica };
  carb_twoway_table_init_columns (&f.t, replica->group, table_index);
  page_merge_init (&f.merge, replica, table_index);
  f.value_column = g_new (gint, f.t.model->n_columns);
  f.blobs = g_new (guint8, (gsize) f.t.model->n_columns * CARB_VERSION_BLOB_LENGTH);
  for (guint i = 0; i < f.t.model->n_columns; i++)
    f.value_column[i] = carb_model_find_column (f.t.wire, f.t.model->columns[i].name);
  f.wanted = f.t.filter_column >= 0 ? g_variant_lookup_value (context, f.t.filter_key, NULL) : NULL;
  f.changes = g_array_new (FALSE, TRUE, sizeof (CarbChange));
  g_mutex_lock (&replica->lock);
  gboolean ok = fill_locked (&f, server, cancellable, error);
  g_mutex_unlock (&replica->lock);
  fill_clear (&f);
  *filled = ok;
  return ok;
}

/* ---- rebuild ----------------------------------------------------------- */

static gboolean
rebuild_table (CarbReplica *replica, const CarbModel *model, GError **error)
{
  g_autoptr (GString) sql = g_string_new ("DELETE FROM ");
  carb_replica_quote (sql, model->table);
  g_string_append (sql, " WHERE ");
  carb_replica_quote_id (sql, model);
  g_string_append (sql, " NOT IN (SELECT id FROM carburetor_pending WHERE tbl = ?)");
  sqlite3_stmt *stmt = carb_replica_db_stmt (replica, sql->str, error);
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
 * stay and are uploaded as usual. A sync of the replica running in another
 * thread (carb_replica_sync_async()) is waited for: a rebuild between two
 * of its pages would leave the replica with the sync's later point and
 * without the rows before it.
 *
 * Returns: %TRUE, or %FALSE with @error set and nothing changed
 *
 * Since: 1.0
 */
gboolean
carb_replica_rebuild (CarbReplica *replica, GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica), FALSE);
  g_mutex_lock (&replica->sync_lock);
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
  g_mutex_unlock (&replica->sync_lock);
  return ok;
}
