/* Carburetor — stores and the download_sync contract (DESIGN §3).
 *
 * The backend answers "rows stamped in (lower, W]" and W; everything that
 * makes that a contract lives here: model checks on first use, tombstones
 * left out of a first sync only, page cursors, and a sync point that never
 * moves backwards.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

struct _CarbStore
{
  gatomicrefcount ref;
  GMutex lock; /* serializes every call on the backend */
  char *uri;
  const CarbPlugin *plugin;
  CarbBackend *backend;
  GHashTable *checked; /* const CarbModel * → CarbQuery *, checked against the table */
  guint query_flags;   /* CarbQueryFlags ORed into every query; set only by testing.c */
};

CARB_DEFINE_BOXED_TYPE (CarbStore, carb_store, carb_store_ref, carb_store_unref)

/* A model checked against its table. A run-time model is kept alive while
 * cached (a freed one's address could come back as another model's); a
 * static one is not touched again, so an application may free a copy it
 * made once it stops using it. */
typedef struct
{
  CarbQuery query;
  CarbModel *runtime; /* a reference, for run-time models only */
} Checked;

static void
checked_free (gpointer data)
{
  Checked *checked = data;
  carb_model_unref (checked->runtime);
  g_free (checked);
}

/**
 * carb_store_open:
 * @uri: a store URI: `sqlite:PATH`, `file:PATH` (SQLite's URI syntax),
 *   `postgresql://…` or `postgres://…` (libpq's syntax, honouring the `PG*`
 *   environment variables), or a scheme of a third-party plugin
 * @error: return location for a #GError
 *
 * Opens a store through the plugin that claims @uri's scheme (see
 * docs/PLUGINS.md for discovery).
 *
 * Returns: (transfer full) (nullable): the store, or %NULL with @error set
 *   (%CARB_ERROR_INVALID_URI, %CARB_ERROR_NO_PLUGIN, %CARB_ERROR_PLUGIN,
 *   %CARB_ERROR_CONNECTION)
 */
CarbStore *
carb_store_open (const char *uri, GError **error)
{
  g_return_val_if_fail (uri != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  const CarbPlugin *plugin = carb_plugin_for_uri (uri, error);
  if (plugin == NULL)
    return NULL;
  CarbBackend *backend = plugin->vtable->open (uri, error);
  if (backend == NULL)
    return NULL;

  CarbStore *store = g_new0 (CarbStore, 1);
  g_atomic_ref_count_init (&store->ref);
  g_mutex_init (&store->lock);
  store->uri = g_strdup (uri);
  store->plugin = plugin;
  store->backend = backend;
  store->checked = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, checked_free);
  return store;
}

/**
 * carb_store_ref:
 * @store: a store
 *
 * Returns: (transfer full): @store, with one more reference
 */
CarbStore *
carb_store_ref (CarbStore *store)
{
  g_return_val_if_fail (store != NULL, NULL);
  g_atomic_ref_count_inc (&store->ref);
  return store;
}

/**
 * carb_store_unref:
 * @store: (nullable) (transfer full): a store
 *
 * Drops a reference; the last one closes the connection.
 */
void
carb_store_unref (CarbStore *store)
{
  if (store == NULL || !g_atomic_ref_count_dec (&store->ref))
    return;
  store->plugin->vtable->close (store->backend);
  g_hash_table_unref (store->checked);
  g_mutex_clear (&store->lock);
  g_free (store->uri);
  g_free (store);
}

/**
 * carb_store_get_uri:
 * @store: a store
 *
 * Returns: (transfer none): the URI the store was opened with
 */
const char *
carb_store_get_uri (CarbStore *store)
{
  g_return_val_if_fail (store != NULL, NULL);
  return store->uri;
}

/**
 * carb_store_get_backend_name:
 * @store: a store
 *
 * Returns: (transfer none): the name of the backend serving the store
 *   ("sqlite", "postgres", …)
 */
const char *
carb_store_get_backend_name (CarbStore *store)
{
  g_return_val_if_fail (store != NULL, NULL);
  return store->plugin->vtable->name;
}

/* With the lock held: the model's resolved query, checked against the live
 * table the first time this store sees the model. */
static const CarbQuery *
checked_query (CarbStore *store, const CarbModel *model, GError **error)
{
  Checked *cached = g_hash_table_lookup (store->checked, model);
  if (cached != NULL)
    return &cached->query;

  CarbQuery query;
  if (!carb_model_resolve (model, &query, error))
    return NULL;
  g_autoptr (CarbTableInfo) info = carb_table_info_new ();
  if (!store->plugin->vtable->describe_table (store->backend, model->schema, model->table, info, error)
      || !carb_table_info_check (info, model, error))
    return NULL;
  carb_model_seal (model);
  cached = g_new0 (Checked, 1);
  cached->query = query;
  if (carb_model_is_runtime (model))
    cached->runtime = carb_model_ref (model);
  g_hash_table_insert (store->checked, (gpointer) model, cached);
  return &cached->query;
}

/**
 * carb_store_describe_model:
 * @store: a store
 * @schema: (nullable): the table's schema, or %NULL for the default
 * @table: the table's name
 * @id_column: the id column: the primary key, or unique on its own
 * @timestamp_column: the column the database stamps
 * @deleted_column: (nullable): the is-deleted (tombstone) flag, or %NULL
 * @error: return location for a #GError
 *
 * Builds a run-time model of every column of the live table, each read as
 * its natural type (integers as INT64, floats as DOUBLE, `uuid`, `json`,
 * `numeric` as their own types, other text as TEXT), nullable where the
 * column is. For tools and bindings that sync a table nobody declared in
 * C; rows are read with carb_sync_result_get_value() and friends.
 *
 * Returns: (transfer full): the model, or %NULL with @error set
 *   (%CARB_ERROR_SCHEMA_MISMATCH naming the table and column when the
 *   table or a named column is missing, or a column has a type Carburetor
 *   cannot read)
 */
CarbModel *
carb_store_describe_model (CarbStore *store,
                           const char *schema,
                           const char *table,
                           const char *id_column,
                           const char *timestamp_column,
                           const char *deleted_column,
                           GError **error)
{
  g_return_val_if_fail (store != NULL && table != NULL, NULL);
  g_return_val_if_fail (id_column != NULL && timestamp_column != NULL, NULL);
  G_GNUC_UNUSED g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&store->lock);

  g_autoptr (CarbTableInfo) info = carb_table_info_new ();
  if (!store->plugin->vtable->describe_table (store->backend, schema, table, info, error))
    return NULL;
  return carb_table_info_build_model (info, schema, table, id_column, timestamp_column, deleted_column,
                                      error);
}

/**
 * carb_store_check_model:
 * @store: a store
 * @model: a model
 * @error: return location for a #GError
 *
 * Checks @model (see carb_model_validate()) and the live table: the table
 * and every column exist, each column's SQL type can be read as the
 * declared type, no nullable column feeds a NOT NULL member, the id column
 * is the primary key or unique on its own, and the table is prepared
 * (carb_store_prepare_table(): its stamping trigger is present, enabled
 * and current; %CARB_ERROR_NOT_PREPARED otherwise). The sync calls check
 * the columns on first use and the preparation on every call; call this to
 * fail early. A model that passed is
 * not checked again by this store, so a model must stay alive and unchanged
 * while stores use it (static descriptors are).
 *
 * Returns: %TRUE if the model fits, else %FALSE with @error set naming the
 *   table and column
 */
gboolean
carb_store_check_model (CarbStore *store, const CarbModel *model, GError **error)
{
  g_return_val_if_fail (store != NULL && model != NULL, FALSE);
  G_GNUC_UNUSED g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&store->lock);
  const CarbQuery *query = checked_query (store, model, error);
  if (query == NULL)
    return FALSE;
  /* Appended member: only a vtable that is long enough has it. */
  const CarbBackendVTable *vt = store->plugin->vtable;
  if (CARB_VTABLE_HAS (vt, check_prepared))
    return vt->check_prepared (store->backend, query, error);
  return TRUE;
}

/**
 * carb_store_prepare_table:
 * @store: a store
 * @model: a model
 * @error: return location for a #GError
 *
 * Idempotently installs what the model's table needs to sync: a trigger
 * that stamps the timestamp column with the database's own clock on every
 * insert and update (so no client can forge or skew it), and an index on
 * `(timestamp, id)` for the incremental query. Calling it again changes
 * nothing. The table and its columns must already exist.
 *
 * Returns: %TRUE on success
 */
gboolean
carb_store_prepare_table (CarbStore *store, const CarbModel *model, GError **error)
{
  g_return_val_if_fail (store != NULL && model != NULL, FALSE);
  G_GNUC_UNUSED g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&store->lock);
  const CarbQuery *query = checked_query (store, model, error);
  return query != NULL && store->plugin->vtable->prepare_table (store->backend, query, error);
}

/**
 * carb_store_execute:
 * @store: a store
 * @sql: one or more SQL statements without parameters
 * @error: return location for a #GError
 *
 * Runs @sql on the store's connection, as sqlite3_exec() or PQexec() do:
 * for creating tables and other administration. Never build @sql from
 * untrusted input; it is executed as it is.
 *
 * Returns: %TRUE on success, else %FALSE with @error set
 *   (%CARB_ERROR_QUERY with the database's message)
 */
gboolean
carb_store_execute (CarbStore *store, const char *sql, GError **error)
{
  g_return_val_if_fail (store != NULL && sql != NULL, FALSE);
  G_GNUC_UNUSED g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&store->lock);
  /* The schema may change under a checked model: check again next time. */
  g_hash_table_remove_all (store->checked);
  return store->plugin->vtable->execute (store->backend, sql, error);
}

/* One sync call with the lock held: the backend fills @sink; the result is
 * the next sync point, or NULL with @error set (no point is handed out for
 * a failed or cancelled sync). */
static CarbSyncPoint *
run_sync (CarbStore *store,
          const CarbModel *model,
          const CarbSyncPoint *since,
          guint max_rows,
          CarbSink *sink,
          GCancellable *cancellable,
          GError **error)
{
  const CarbQuery *checked = checked_query (store, model, error);
  if (checked == NULL)
    return NULL;
  CarbQuery query = *checked;
  query.limit = max_rows;
  query.cancellable = cancellable;
  query.flags |= store->query_flags;
  /* The first sync leaves tombstones out: the device has nothing to delete. */
  query.include_deleted = since != NULL;
  guint32 tag = carb_sync_point_tag_for (store->plugin->vtable->name, model);
  if (since != NULL && !carb_sync_point_apply (since, &query, tag, error))
    return NULL;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  gint64 w = G_MININT64;
  if (!store->plugin->vtable->download (store->backend, &query, sink, &w, error))
    return NULL;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  if (max_rows > 0 && carb_sink_get_n_rows (sink) == max_rows)
    return carb_sync_point_new_cursor (&query, carb_sink_get_last_row (sink), tag);
  /* Never backwards: a clock stepped back yields no rows and the old point. */
  if (since != NULL && w < carb_sync_point_get_time (since))
    return carb_sync_point_retag (since, tag);
  return carb_sync_point_new_tagged (w, tag);
}

/**
 * carb_store_download_sync:
 * @store: a store
 * @model: the model of the table to sync
 * @since: (nullable): the sync point the previous call returned, or %NULL
 *   for a first sync
 * @max_rows: at most this many rows (rows then come ordered by
 *   `(timestamp, id)`), or 0 for all
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Returns every row of @model's table stamped after @since and up to the
 * returned sync point, decoded into the model's struct. Tombstones (rows
 * whose is-deleted flag is set) are included, except in a first sync. Pass
 * the returned point back next time: a device that always does misses no
 * row, whatever concurrent writers do (docs/SYNC.md). If the result
 * carb_sync_result_has_more() (a full page of @max_rows came back), call
 * again at once with its point; otherwise the sync is as complete as the
 * database allows now: sync again at your next poll.
 *
 * Returns: (transfer full) (nullable): the rows and the next sync point,
 *   or %NULL with @error set; a failed sync hands out no sync point
 */
CarbSyncResult *
carb_store_download_sync (CarbStore *store,
                          const CarbModel *model,
                          const CarbSyncPoint *since,
                          guint max_rows,
                          GCancellable *cancellable,
                          GError **error)
{
  return carb_store_download_sync_with_progress (store, model, since, max_rows, NULL, NULL, cancellable,
                                                 error);
}

/* The async API's entry: a buffered sync that reports rows as they come. */
CarbSyncResult *
carb_store_download_sync_with_progress (CarbStore *store,
                                        const CarbModel *model,
                                        const CarbSyncPoint *since,
                                        guint max_rows,
                                        CarbSinkProgressFunc progress,
                                        gpointer progress_data,
                                        GCancellable *cancellable,
                                        GError **error)
{
  g_return_val_if_fail (store != NULL && model != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  G_GNUC_UNUSED g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&store->lock);
  g_autoptr (CarbSink) sink = carb_sink_new_buffered (model, cancellable);
  carb_sink_set_progress (sink, progress, progress_data);
  CarbSyncPoint *point = run_sync (store, model, since, max_rows, sink, cancellable, error);
  if (point == NULL)
    return NULL;
  /* Only a full page means more rows are due now. A page cursor handed
   * back unchanged (the clock source held its point below the cursor)
   * means "nothing yet": calling again at once would only spin. */
  gboolean full = max_rows > 0 && carb_sink_get_n_rows (sink) == max_rows;
  return carb_sync_result_new (sink, point, full);
}

/**
 * carb_store_download_sync_foreach:
 * @store: a store
 * @model: the model of the table to sync
 * @since: (nullable): the previous sync point, or %NULL for a first sync
 * @max_rows: at most this many rows, or 0 for all
 * @func: (scope call): receives each row
 * @user_data: data for @func
 * @synced_until: (out) (transfer full) (optional): the next sync point
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * The streaming form of carb_store_download_sync(): rows are handed to
 * @func one at a time as they arrive, so a first sync of millions of rows
 * runs in bounded memory. @synced_until is set only when every row was
 * handed over; after a failure, keep the previous point and retry.
 *
 * Returns: %TRUE on success
 */
gboolean
carb_store_download_sync_foreach (CarbStore *store,
                                  const CarbModel *model,
                                  const CarbSyncPoint *since,
                                  guint max_rows,
                                  CarbRowFunc func,
                                  gpointer user_data,
                                  CarbSyncPoint **synced_until,
                                  GCancellable *cancellable,
                                  GError **error)
{
  g_return_val_if_fail (store != NULL && model != NULL && func != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  G_GNUC_UNUSED g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&store->lock);
  g_autoptr (CarbSink) sink = carb_sink_new_streaming (model, func, user_data, cancellable);
  g_autoptr (CarbSyncPoint) point = run_sync (store, model, since, max_rows, sink, cancellable, error);
  if (point == NULL)
    return FALSE;
  if (synced_until != NULL)
    *synced_until = g_steal_pointer (&point);
  return TRUE;
}

/**
 * carb_store_poll:
 * @store: a store
 * @models: (array length=n): the models of the tables to poll
 * @points: (array length=n) (nullable): each table's last sync point, as
 *   carb_store_download_sync() returned it (a %NULL entry, or a %NULL
 *   array, for a table never synced)
 * @n: how many tables
 * @changed: (out caller-allocates) (array length=n): set to whether each
 *   table has rows due
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Asks, for a group of tables at once, which have anything new: a row
 * stamped after its point (tombstones included; for a %NULL point, any
 * live row). A device that polls many tables then syncs only those whose
 * flag is set; the others would have returned no rows and the same point.
 * On PostgreSQL it is one statement and one round trip for the whole
 * group (an index probe per table, no read of the server's lock table);
 * on SQLite one read transaction. It hands out no sync point and changes
 * nothing: a flag that is %FALSE now may turn %TRUE at once, poll again
 * later. A flag that is %TRUE may still lead to a sync of no rows, when the
 * clock source holds the point below the new rows (they are still being
 * written).
 *
 * Each table is checked as a sync checks it: the model against the table
 * (first use), the point against the table (%CARB_ERROR_INVALID_SYNC_POINT
 * for a point of another table or store type), and that the table is
 * prepared (%CARB_ERROR_NOT_PREPARED naming it).
 *
 * Returns: %TRUE with @changed filled, else %FALSE with @error set
 *   naming the table at fault
 */
gboolean
carb_store_poll (CarbStore *store,
                 const CarbModel *const *models,
                 const CarbSyncPoint *const *points,
                 guint n,
                 gboolean *changed,
                 GCancellable *cancellable,
                 GError **error)
{
  g_return_val_if_fail (store != NULL && (n == 0 || (models != NULL && changed != NULL)), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  G_GNUC_UNUSED g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&store->lock);
  g_autofree CarbQuery *queries = g_new0 (CarbQuery, n);
  g_autofree const CarbQuery **list = g_new0 (const CarbQuery *, n);
  for (guint i = 0; i < n; i++)
    {
      const CarbSyncPoint *since = points != NULL ? points[i] : NULL;
      g_return_val_if_fail (models[i] != NULL, FALSE);
      const CarbQuery *checked = checked_query (store, models[i], error);
      if (checked == NULL)
        return FALSE;
      queries[i] = *checked;
      queries[i].cancellable = cancellable;
      queries[i].flags |= store->query_flags;
      queries[i].include_deleted = since != NULL;
      guint32 tag = carb_sync_point_tag_for (store->plugin->vtable->name, models[i]);
      if (since != NULL && !carb_sync_point_apply (since, &queries[i], tag, error))
        return FALSE;
      list[i] = &queries[i];
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  const CarbBackendVTable *vt = store->plugin->vtable;
  if (!CARB_VTABLE_HAS (vt, probe))
    {
      /* A backend that cannot tell: every table may have rows due. */
      for (guint i = 0; i < n; i++)
        changed[i] = TRUE;
      return TRUE;
    }
  return n == 0 || vt->probe (store->backend, list, n, changed, error);
}

/* testing.c: the test-only switches, under the lock like every call. */
void
carb_store_set_query_flag (CarbStore *store, guint flag, gboolean on)
{
  G_GNUC_UNUSED g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&store->lock);
  store->query_flags = on ? (store->query_flags | flag) : (store->query_flags & ~flag);
}

/* For the store's other files (store-write.c): the lock, the backend and
 * the checked models, used only between carb_store_lock() and
 * carb_store_unlock(). */
void
carb_store_lock (CarbStore *store)
{
  g_mutex_lock (&store->lock);
}

void
carb_store_unlock (CarbStore *store)
{
  g_mutex_unlock (&store->lock);
}

const CarbBackendVTable *
carb_store_get_vtable (CarbStore *store)
{
  return store->plugin->vtable;
}

CarbBackend *
carb_store_get_backend (CarbStore *store)
{
  return store->backend;
}

const CarbQuery *
carb_store_checked_query (CarbStore *store, const CarbModel *model, GError **error)
{
  return checked_query (store, model, error);
}

/* After DDL: every model is checked against the live table again. */
void
carb_store_forget_models (CarbStore *store)
{
  g_hash_table_remove_all (store->checked);
}
