/* Carburetor — acknowledging an upload: merging the server's rows into the
 * replica, dropping the pending entries that were sent (and only while
 * they still hold the version sent), and keeping the rejections.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"

#include <string.h>

static char *
row_key (const char *table, const char *id)
{
  return g_strconcat (table, "\n", id, NULL);
}

typedef struct
{
  GHashTable *rejected; /* row keys of the rejected rows */
  GHashTable *forced;   /* row key → GHashTable of columns to force */
  GHashTable *merged;   /* row keys of the merged rows */
  GArray *sent;         /* the changes sent, grouped by row */
  GHashTable *sent_row; /* row key → index in @sent of the row's first change */
} Ack;

static void
ack_clear (Ack *ack)
{
  g_clear_pointer (&ack->rejected, g_hash_table_unref);
  g_clear_pointer (&ack->forced, g_hash_table_unref);
  g_clear_pointer (&ack->merged, g_hash_table_unref);
  g_clear_pointer (&ack->sent_row, g_hash_table_unref);
}

static GHashTable *
column_set (GHashTable *map, const char *table, const char *id)
{
  char *key = row_key (table, id);
  GHashTable *set = g_hash_table_lookup (map, key);
  if (set == NULL)
    {
      set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (map, key, set);
    }
  else
    g_free (key);
  return set;
}

static gboolean
store_rejection (CarbReplica *replica, const CarbRejection *r, gint64 now, GError **error)
{
  sqlite3_stmt *stmt = carb_replica_db_stmt (
      replica, "INSERT INTO carburetor_rejections (tbl, id, col, message, time) VALUES (?, ?, ?, ?, ?)",
      error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, r->table, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, r->row_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, r->column, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 4, r->message, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 5, now);
  return carb_replica_db_step_done (replica, stmt, error);
}

/* Whether the server rejected the row of @c. A rejection drops every
 * change of its row, whatever column it names (an immutable one, say), so
 * every column sent returns to the server's value: one kept, newer than
 * the server's, would win the merge and stay acknowledged, never uploaded
 * again, while the server and every other replica hold another value. */
static gboolean
is_rejected (Ack *ack, const CarbChange *c)
{
  g_autofree char *key = row_key (c->table, c->row_id);
  return g_hash_table_contains (ack->rejected, key);
}

/* Whether the column's pending entry still holds @version (no local edit
 * since the batch was collected). */
static gboolean
still_pending (CarbReplica *replica, const CarbChange *c, gboolean *same, GError **error)
{
  sqlite3_stmt *stmt = carb_replica_db_stmt (
      replica, "SELECT version FROM carburetor_pending WHERE tbl = ? AND id = ? AND col = ?", error);
  if (stmt == NULL)
    return FALSE;
  g_autofree char *sent = carb_version_to_string (&c->version);
  sqlite3_bind_text (stmt, 1, c->table, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, c->row_id, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, c->column, -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  *same = rc == SQLITE_ROW && strcmp ((const char *) sqlite3_column_text (stmt, 0), sent) == 0;
  sqlite3_reset (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return carb_replica_db_fail (replica, error, "reading carburetor_pending");
  return TRUE;
}

/* Every sent change: a rejected one not edited since is forced back to the
 * server's value; then its pending entry goes if it still holds the
 * version sent. The drop itself checks the version, so only a rejected
 * change (rare) reads its entry first. */
static gboolean
settle_sent (CarbReplica *replica, Ack *ack, GArray *sent, GError **error)
{
  gboolean any_rejected = g_hash_table_size (ack->rejected) > 0;
  for (guint i = 0; i < sent->len; i++)
    {
      const CarbChange *c = &g_array_index (sent, CarbChange, i);
      if (any_rejected && is_rejected (ack, c))
        {
          gboolean same = FALSE;
          if (!still_pending (replica, c, &same, error))
            return FALSE;
          if (!same)
            continue;
          g_hash_table_add (column_set (ack->forced, c->table, c->row_id), g_strdup (c->column));
        }
      if (!carb_replica_drop_pending (replica, c->table, c->row_id, c->column, &c->version, error))
        return FALSE;
    }
  return TRUE;
}

static void
index_sent_rows (Ack *ack)
{
  ack->sent_row = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < ack->sent->len; i++)
    {
      const CarbChange *c = &g_array_index (ack->sent, CarbChange, i);
      if (i > 0 && strcmp (c->row_id, c[-1].row_id) == 0 && strcmp (c->table, c[-1].table) == 0)
        continue;
      g_hash_table_insert (ack->sent_row, row_key (c->table, c->row_id), GUINT_TO_POINTER (i));
    }
}

static gboolean
same_value (GVariant *a, GVariant *b)
{
  return a == b || (a != NULL && b != NULL && g_variant_equal (a, b));
}

/* The columns of an answer row that hold the very write sent (the same
 * version) with another value: the database normalized it (a FLOAT
 * rounded to single precision, PostgreSQL's jsonb reordering keys, a
 * numeric(p, s) padding its scale). The stored value is what every other
 * replica downloads, so the writer takes it too; keeping its own would
 * leave it differing from the server and every other replica for good
 * (a tie never wins a merge). NULL when there is none. */
static GHashTable *
normalized_columns (Ack *ack, const CarbChange *first, gsize n)
{
  g_autofree char *key = row_key (first->table, first->row_id);
  gpointer start = NULL;
  if (!g_hash_table_lookup_extended (ack->sent_row, key, NULL, &start))
    return NULL;
  GHashTable *ties = NULL;
  for (guint i = GPOINTER_TO_UINT (start); i < ack->sent->len; i++)
    {
      const CarbChange *s = &g_array_index (ack->sent, CarbChange, i);
      if (strcmp (s->row_id, first->row_id) != 0 || strcmp (s->table, first->table) != 0)
        break;
      for (gsize j = 0; j < n; j++)
        {
          const CarbChange *c = &first[j];
          if (c->column == NULL || strcmp (c->column, s->column) != 0
              || carb_version_compare (&c->version, &s->version) != 0 || same_value (c->value, s->value))
            continue;
          if (ties == NULL)
            ties = g_hash_table_new (g_str_hash, g_str_equal);
          g_hash_table_add (ties, c->column);
        }
    }
  return ties;
}

static gboolean
merge_answer_row (CarbReplica *replica, const CarbChange *first, gsize n, gpointer data, GError **error)
{
  Ack *ack = data;
  gint index = carb_sync_group_find_table (replica->group, first->table);
  if (index < 0)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "The apply result holds a row of table “%s”, which is not in sync group “%s”",
                   first->table, carb_sync_group_get_name (replica->group));
      return FALSE;
    }
  /* The merged rows and the forced columns matter only to rejections
   * (rare): without any, no key is built for each row. */
  GHashTable *force = NULL;
  if (g_hash_table_size (ack->rejected) > 0)
    {
      char *key = row_key (first->table, first->row_id);
      force = g_hash_table_lookup (ack->forced, key);
      g_hash_table_add (ack->merged, key);
    }
  /* An answer never brings back a row the replica no longer holds. A row
   * with an edit in flight stays (pending entries keep it), so an absent
   * row was removed on newer knowledge than the answer's: the sweep after
   * a first download (the server had deleted it), a refused insert, a
   * rebuild. A stale answer replayed after that would revive the row at
   * its old versions, below the replica's sync point, where no download
   * would ever correct it (found by the convergence checker, seed
   * 4239531526950259516). */
  g_autoptr (GHashTable) ties = normalized_columns (ack, first, n);
  return carb_replica_merge_row (replica, (guint) index, first->row_id, first, n, force, ties, TRUE, error);
}

/* A rejected row the server does not have (a refused insert, or a row
 * outside the replica's filter) leaves the replica too, unless a local
 * edit made since keeps it pending. */
static gboolean
drop_unknown_row (CarbReplica *replica, const char *key, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (key, "\n", 2);
  gint index = carb_sync_group_find_table (replica->group, parts[0]);
  if (index < 0 || parts[1] == NULL)
    return TRUE;
  return carb_replica_drop_row (replica, carb_sync_group_get_model (replica->group, (guint) index), parts[1],
                                error);
}

static gboolean
acknowledge_locked (CarbReplica *replica, GArray *sent, CarbApplyResult *answer, GError **error)
{
  Ack ack = { g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL),
              g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_hash_table_unref),
              g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL), sent, NULL };
  index_sent_rows (&ack);
  gint64 now = g_get_real_time ();
  gboolean ok = TRUE;
  carb_replica_observe (replica, answer->server_hlc);
  for (guint i = 0; ok && i < answer->rejections->len; i++)
    {
      const CarbRejection *r = &g_array_index (answer->rejections, CarbRejection, i);
      g_hash_table_add (ack.rejected, row_key (r->table, r->row_id));
      ok = store_rejection (replica, r, now, error);
    }
  ok = ok && settle_sent (replica, &ack, sent, error);
  ok = ok && carb_replica_for_each_row (replica, answer->rows, merge_answer_row, &ack, error);
  GHashTableIter iter;
  const char *key;
  g_hash_table_iter_init (&iter, ack.rejected);
  while (ok && g_hash_table_iter_next (&iter, (gpointer *) &key, NULL))
    if (!g_hash_table_contains (ack.merged, key))
      ok = drop_unknown_row (replica, key, error);
  ack_clear (&ack);
  return ok;
}

gboolean
carb_replica_acknowledge_quiet (
    CarbReplica *replica, GBytes *sent, GBytes *apply_result, GArray **rejections, GError **error)
{
  g_mutex_lock (&replica->lock);
  g_autoptr (GArray) sent_changes = carb_replica_sent_changes (replica, sent, error);
  g_mutex_unlock (&replica->lock);
  if (sent_changes == NULL)
    return FALSE;
  g_autoptr (CarbApplyResult) answer = carb_apply_result_parse (apply_result, error);
  if (answer == NULL)
    return FALSE;
  g_mutex_lock (&replica->lock);
  gboolean ok = carb_replica_begin (replica, error);
  if (ok)
    {
      ok = acknowledge_locked (replica, sent_changes, answer, error);
      if (ok)
        ok = carb_replica_commit (replica, error);
      else
        carb_replica_rollback (replica);
    }
  g_mutex_unlock (&replica->lock);
  if (ok)
    *rejections = g_array_ref (answer->rejections);
  return ok;
}

/**
 * carb_replica_acknowledge:
 * @replica: a replica
 * @sent: a changeset from carb_replica_collect_changes()
 * @apply_result: what carb_store_apply_changes() answered to it
 * @error: return location for a #GError
 *
 * Settles an upload in one transaction: merges the server's rows (the
 * greater version of each column wins) into the rows the replica still
 * holds, drops the pending entries of @sent that still hold the version
 * sent (edits made meanwhile stay pending), and keeps the rejections
 * (their columns return to the server's value; #CarbReplica::rejected is
 * emitted for each, in this thread, after the transaction). Merging the
 * same result twice changes no row.
 *
 * Returns: %TRUE, or %FALSE with @error set and nothing changed
 *
 * Since: 1.0
 */
gboolean
carb_replica_acknowledge (CarbReplica *replica, GBytes *sent, GBytes *apply_result, GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica) && sent != NULL && apply_result != NULL, FALSE);
  g_autoptr (GArray) rejections = NULL;
  if (!carb_replica_acknowledge_quiet (replica, sent, apply_result, &rejections, error))
    return FALSE;
  carb_replica_emit_rejected (replica, rejections);
  return TRUE;
}
