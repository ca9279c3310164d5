/* Carburetor — stores and the download_sync contract (docs/SYNC.md).
 *
 * The backend answers "rows stamped in (lower, W]" and W; everything that
 * makes that a contract lives here: model checks on first use, tombstones
 * left out of a first sync only, page cursors, and a sync point that never
 * moves backwards.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <string.h>

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

struct _CarbStore
{
  GObject parent_instance;

  /* Set during construction and initialization, then read-only. */
  char *uri;        /* as given; needed only until the backend is open */
  char *masked_uri; /* the URI with any password masked, for display */
  const CarbPlugin *plugin;
  CarbBackend *backend; /* NULL until initialized */

  GMutex lock;           /* serializes every call on the backend */
  guint busy_timeout_ms; /* under @lock */
  GHashTable *checked;   /* const CarbModel * → CarbQuery *, checked against the table */
};

enum
{
  PROP_0,
  PROP_URI,
  PROP_BACKEND_NAME,
  PROP_BUSY_TIMEOUT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void carb_store_initable_iface_init (GInitableIface *iface);
static void carb_store_async_initable_iface_init (GAsyncInitableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (CarbStore,
                               carb_store,
                               G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE, carb_store_initable_iface_init)
                                   G_IMPLEMENT_INTERFACE (G_TYPE_ASYNC_INITABLE,
                                                          carb_store_async_initable_iface_init))

/* A URI fit to show: the plugin's own masking if it has one, else any
 * `user:password@` userinfo masked. */
static char *
mask_uri (const CarbPlugin *plugin, const char *uri)
{
  const CarbBackendVTable *vt = plugin != NULL ? plugin->vtable : NULL;
  if (vt != NULL && vt->struct_size >= G_STRUCT_OFFSET (CarbBackendVTable, mask_uri) + sizeof vt->mask_uri
      && vt->mask_uri != NULL)
    return vt->mask_uri (uri);

  const char *authority = strstr (uri, "://");
  if (authority == NULL)
    return g_strdup (uri);
  const char *start = authority + 3;
  const char *end = start + strcspn (start, "@/");
  const char *colon = *end == '@' ? memchr (start, ':', (gsize) (end - start)) : NULL;
  if (colon == NULL)
    return g_strdup (uri);
  return g_strdup_printf ("%.*s***%s", (int) (colon + 1 - uri), uri, end);
}

#define DEFAULT_BUSY_TIMEOUT_MS 5000

/* With the lock held (or before anyone can see the store). */
static void
apply_busy_timeout (CarbStore *store)
{
  const CarbBackendVTable *vt = store->plugin->vtable;
  if (vt->struct_size >= G_STRUCT_OFFSET (CarbBackendVTable, set_busy_timeout) + sizeof vt->set_busy_timeout
      && vt->set_busy_timeout != NULL)
    vt->set_busy_timeout (store->backend, store->busy_timeout_ms);
}

static void
carb_store_init (CarbStore *store)
{
  g_mutex_init (&store->lock);
  store->checked = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, checked_free);
}

static void
carb_store_finalize (GObject *object)
{
  CarbStore *store = CARB_STORE (object);

  if (store->backend != NULL)
    store->plugin->vtable->close (store->backend);
  g_hash_table_unref (store->checked);
  g_mutex_clear (&store->lock);
  g_free (store->uri);
  g_free (store->masked_uri);
  G_OBJECT_CLASS (carb_store_parent_class)->finalize (object);
}

static void
carb_store_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  CarbStore *store = CARB_STORE (object);

  switch (prop_id)
    {
    case PROP_URI:
      g_value_set_string (value, carb_store_get_uri (store));
      break;
    case PROP_BACKEND_NAME:
      g_value_set_string (value, carb_store_get_backend_name (store));
      break;
    case PROP_BUSY_TIMEOUT:
      g_mutex_lock (&store->lock);
      g_value_set_uint (value, store->busy_timeout_ms);
      g_mutex_unlock (&store->lock);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
carb_store_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  CarbStore *store = CARB_STORE (object);

  switch (prop_id)
    {
    case PROP_URI:
      g_free (store->uri);
      store->uri = g_value_dup_string (value);
      g_free (store->masked_uri);
      store->masked_uri = store->uri != NULL ? mask_uri (NULL, store->uri) : NULL;
      break;
    case PROP_BUSY_TIMEOUT:
      {
        G_GNUC_UNUSED g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&store->lock);
        store->busy_timeout_ms = g_value_get_uint (value);
        if (store->backend != NULL)
          apply_busy_timeout (store);
      }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
carb_store_class_init (CarbStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = carb_store_finalize;
  object_class->get_property = carb_store_get_property;
  object_class->set_property = carb_store_set_property;

  /**
   * CarbStore:uri:
   *
   * The store's URI. Set once, at construction; read back, it has any
   * password masked as `***` (so it is safe to log or show).
   *
   * Since: 1.0
   */
  properties[PROP_URI] = g_param_spec_string (
      "uri", NULL, NULL, NULL, G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * CarbStore:backend-name:
   *
   * The name of the backend plugin serving the store ("sqlite",
   * "postgres", …), %NULL before the store is initialized.
   *
   * Since: 1.0
   */
  properties[PROP_BACKEND_NAME]
      = g_param_spec_string ("backend-name", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * CarbStore:busy-timeout:
   *
   * How long, in milliseconds, a call waits for a lock another connection
   * holds on the database before it fails with %CARB_ERROR_BUSY. A
   * cancelled sync stops waiting at once (%G_IO_ERROR_CANCELLED). Only
   * backends that wait for locks use it (SQLite); set it at construction
   * (g_initable_new()) or at any time (from any thread; a change waits
   * for a call running on the store, like every call).
   *
   * Since: 1.0
   */
  properties[PROP_BUSY_TIMEOUT]
      = g_param_spec_uint ("busy-timeout", NULL, NULL, 0, G_MAXUINT, DEFAULT_BUSY_TIMEOUT_MS,
                           G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

/* GInitable: find the plugin and open the connection. May run on a worker
 * thread (GAsyncInitable's default runs it there), before anyone else can
 * see the store. */
static gboolean
carb_store_initable_init (GInitable *initable, GCancellable *cancellable, GError **error)
{
  CarbStore *store = CARB_STORE (initable);

  if (store->backend != NULL)
    return TRUE;
  if (store->uri == NULL)
    {
      g_set_error_literal (error, CARB_ERROR, CARB_ERROR_INVALID_URI,
                           "A store needs a URI (set the “uri” property)");
      return FALSE;
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  const CarbPlugin *plugin = carb_plugin_for_uri (store->uri, error);
  if (plugin == NULL)
    return FALSE;
  CarbBackend *backend = plugin->vtable->open (store->uri, error);
  if (backend == NULL)
    return FALSE;
  /* A connection can take long to open and cannot be interrupted: a
   * cancel that came meanwhile still wins. */
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    {
      plugin->vtable->close (backend);
      return FALSE;
    }
  store->plugin = plugin;
  store->backend = backend;
  apply_busy_timeout (store);
  g_free (store->masked_uri);
  store->masked_uri = mask_uri (plugin, store->uri);
  g_debug ("Store %s: opened by the %s plugin (%s)", store->masked_uri, plugin->name, plugin->module_path);
  /* The password is not kept past the connection. */
  g_clear_pointer (&store->uri, g_free);
  return TRUE;
}

static void
carb_store_initable_iface_init (GInitableIface *iface)
{
  iface->init = carb_store_initable_init;
}

/* GAsyncInitable's default runs the GInitable init in a thread. */
static void
carb_store_async_initable_iface_init (GAsyncInitableIface *iface)
{
}

/**
 * carb_store_open:
 * @uri: a store URI: `sqlite:PATH`, `file:PATH` (SQLite's URI syntax),
 *   `postgresql://…` or `postgres://…` (libpq's syntax, honouring the `PG*`
 *   environment variables), or a scheme of a third-party plugin
 * @error: return location for a #GError
 *
 * Opens a store through the plugin that claims @uri's scheme (see
 * docs/PLUGINS.md for discovery). The same as g_initable_new() of
 * %CARB_TYPE_STORE with the #CarbStore:uri property; it blocks while the
 * connection opens: see carb_store_new_async() for a main loop.
 *
 * Returns: (transfer full) (nullable): the store, or %NULL with @error set
 *   (%CARB_ERROR_INVALID_URI, %CARB_ERROR_NO_PLUGIN, %CARB_ERROR_PLUGIN,
 *   %CARB_ERROR_CONNECTION)
 *
 * Since: 1.0
 */
CarbStore *
carb_store_open (const char *uri, GError **error)
{
  g_return_val_if_fail (uri != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_initable_new (CARB_TYPE_STORE, NULL, error, "uri", uri, NULL);
}

/**
 * carb_store_new_async:
 * @uri: a store URI (see carb_store_open())
 * @io_priority: the I/O priority of the request, e.g. %G_PRIORITY_DEFAULT
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async) (closure user_data): called on the calling
 *   thread's thread-default main context when the store is open
 * @user_data: data for @callback
 *
 * Opens a store on a worker thread, as carb_store_open() does, without
 * blocking the caller. Call carb_store_new_finish() from @callback.
 * Cancelling @cancellable makes it fail with %G_IO_ERROR_CANCELLED, even
 * if the connection opened meanwhile (it is closed again).
 *
 * Since: 1.0
 */
void
carb_store_new_async (const char *uri,
                      int io_priority,
                      GCancellable *cancellable,
                      GAsyncReadyCallback callback,
                      gpointer user_data)
{
  g_return_if_fail (uri != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  g_async_initable_new_async (CARB_TYPE_STORE, io_priority, cancellable, callback, user_data, "uri", uri,
                              NULL);
}

/**
 * carb_store_new_finish:
 * @result: the #GAsyncResult handed to the callback of
 *   carb_store_new_async()
 * @error: return location for a #GError
 *
 * Finishes carb_store_new_async().
 *
 * Returns: (transfer full) (nullable): the store, or %NULL with @error set
 *   (as carb_store_open(), or %G_IO_ERROR_CANCELLED)
 *
 * Since: 1.0
 */
CarbStore *
carb_store_new_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (G_IS_ASYNC_RESULT (result), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (GObject) source = g_async_result_get_source_object (result);
  GObject *store = g_async_initable_new_finish (G_ASYNC_INITABLE (source), result, error);
  return store != NULL ? CARB_STORE (store) : NULL;
}

/**
 * carb_store_get_uri:
 * @store: a store
 *
 * Returns: (transfer none): the URI the store was opened with, any
 *   password in it masked as `***`
 *
 * Since: 1.0
 */
const char *
carb_store_get_uri (CarbStore *store)
{
  g_return_val_if_fail (CARB_IS_STORE (store), NULL);
  return store->masked_uri;
}

/**
 * carb_store_get_backend_name:
 * @store: a store
 *
 * Returns: (transfer none) (nullable): the name of the backend serving the
 *   store ("sqlite", "postgres", …), %NULL if the store is not initialized
 *
 * Since: 1.0
 */
const char *
carb_store_get_backend_name (CarbStore *store)
{
  g_return_val_if_fail (CARB_IS_STORE (store), NULL);
  return store->plugin != NULL ? store->plugin->vtable->name : NULL;
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
 *
 * Since: 1.0
 */
gboolean
carb_store_check_model (CarbStore *store, const CarbModel *model, GError **error)
{
  g_return_val_if_fail (CARB_IS_STORE (store) && store->backend != NULL && model != NULL, FALSE);
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
 *
 * Since: 1.0
 */
gboolean
carb_store_prepare_table (CarbStore *store, const CarbModel *model, GError **error)
{
  g_return_val_if_fail (CARB_IS_STORE (store) && store->backend != NULL && model != NULL, FALSE);
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
 *
 * Since: 1.0
 */
gboolean
carb_store_execute (CarbStore *store, const char *sql, GError **error)
{
  g_return_val_if_fail (CARB_IS_STORE (store) && store->backend != NULL && sql != NULL, FALSE);
  G_GNUC_UNUSED g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&store->lock);
  /* The schema may change under a checked model: check again next time. */
  g_hash_table_remove_all (store->checked);
  return store->plugin->vtable->execute (store->backend, sql, error);
}

static void
log_sync (CarbStore *store,
          const CarbModel *model,
          const CarbSyncPoint *since,
          gint64 w,
          gsize n_rows,
          const CarbSyncPoint *next)
{
  if (!g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN))
    {
      g_autofree char *from = since != NULL ? carb_sync_point_to_string (since) : g_strdup ("(first sync)");
      g_autofree char *to = carb_sync_point_to_string (next);
      g_debug ("Sync of %s%s%s on %s: %" G_GSIZE_FORMAT " rows, from %s to %s (backend's W %" G_GINT64_FORMAT
               ")",
               model->schema != NULL ? model->schema : "", model->schema != NULL ? "." : "", model->table,
               store->masked_uri, n_rows, from, to, w);
    }
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
  /* The first sync leaves tombstones out: the device has nothing to delete. */
  query.include_deleted = since != NULL;
  guint32 tag = carb_sync_point_tag_for (store->plugin->vtable->name, model);
  if (since != NULL && !carb_sync_point_apply (since, &query, tag, error))
    return NULL;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  carb_sink_set_key_column (sink, query.id_column);
  gint64 w = G_MININT64;
  if (!store->plugin->vtable->download (store->backend, &query, sink, &w, error))
    return NULL;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  CarbSyncPoint *next;
  if (max_rows > 0 && carb_sink_get_n_rows (sink) == max_rows)
    next = carb_sync_point_new_cursor (&query, carb_sink_get_last_row (sink), tag);
  /* Never backwards: a clock stepped back yields no rows and the old point. */
  else if (since != NULL && w < carb_sync_point_get_time (since))
    next = carb_sync_point_retag (since, tag);
  else
    next = carb_sync_point_new_tagged (w, tag);
  log_sync (store, model, since, w, carb_sink_get_n_rows (sink), next);
  return next;
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
 *
 * Since: 1.0
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
  g_return_val_if_fail (CARB_IS_STORE (store) && store->backend != NULL && model != NULL, NULL);
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
 *
 * Since: 1.0
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
  g_return_val_if_fail (CARB_IS_STORE (store) && store->backend != NULL && model != NULL && func != NULL,
                        FALSE);
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

/**
 * carb_store_poll_array: (rename-to carb_store_poll)
 * @store: a store
 * @models: (array length=n_models): the models of the tables to poll
 * @n_models: how many tables
 * @points: (array length=n_points) (nullable): each table's last sync
 *   point, as for carb_store_poll(); none at all while no table was
 *   synced yet
 * @n_points: @n_models, or 0 for no points
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * carb_store_poll() returning its flags in a new array instead of filling
 * the caller's: the same call for bindings, which cannot hand over an
 * array to fill (Python crashed, gjs refused the call). In Python and
 * JavaScript it is `Store.poll (models, points, cancellable)`, returning
 * a list of booleans. Each array has its own length, so a binding's
 * `null` for @points cannot shorten @models.
 *
 * Returns: (transfer full) (element-type gboolean): one flag per table, in
 *   the order of @models, or %NULL with @error set as carb_store_poll()
 *   sets it (%CARB_ERROR_INVALID_SYNC_POINT when @n_points is neither
 *   @n_models nor 0)
 *
 * Since: 1.0
 */
GArray *
carb_store_poll_array (CarbStore *store,
                       const CarbModel *const *models,
                       guint n_models,
                       const CarbSyncPoint *const *points,
                       guint n_points,
                       GCancellable *cancellable,
                       GError **error)
{
  g_return_val_if_fail (CARB_IS_STORE (store) && (n_models == 0 || models != NULL), NULL);
  if (n_points != 0 && n_points != n_models)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT,
                   "carb_store_poll: %u tables but %u sync points: give one point per table (NULL for a "
                   "table never synced), or none at all",
                   n_models, n_points);
      return NULL;
    }
  g_autoptr (GArray) changed = g_array_sized_new (FALSE, TRUE, sizeof (gboolean), n_models);
  g_array_set_size (changed, n_models);
  if (!carb_store_poll (store, models, n_points != 0 ? points : NULL, n_models,
                        (gboolean *) (void *) changed->data, cancellable, error))
    return NULL;
  return g_steal_pointer (&changed);
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
