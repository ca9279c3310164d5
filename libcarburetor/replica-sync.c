/* Carburetor — one round of sync between a replica and a server store in
 * the same process: upload in batches until nothing is pending (with one
 * clock correction if the server finds the device's clock ahead), then
 * download every table from its stored sync point.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"
#include "twoway-private.h"

#include <string.h>

#define UPLOAD_BATCH_ROWS  500
#define DOWNLOAD_PAGE_ROWS 1000

/* The server's clock from a %CARB_ERROR_CLOCK_AHEAD message. */
static gboolean
parse_server_hlc (const GError *error, guint64 *hlc)
{
  const char *tag = "server hlc: ";
  const char *at = g_strrstr (error->message, tag);
  return at != NULL && g_ascii_string_to_unsigned (at + strlen (tag), 10, 1, G_MAXINT64, hlc, NULL);
}

/* Rows moved so far by one sync, and whom to tell (the async call): the
 * count, and the rejections (emitted right away when @rejected is NULL:
 * carb_replica_sync() keeps them until its lock is let go). */
typedef struct
{
  guint64 n_rows;
  void (*report) (guint64 n_rows, gpointer data);
  void (*rejected) (GArray *rejections, gpointer data);
  gpointer data;
} SyncProgress;

/* The number of rows of a changeset or apply answer, without parsing it:
 * the array's length is in its framing. */
static guint64
count_rows (GBytes *bytes)
{
  g_autoptr (GVariant) set
      = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("(ua(ssa(s(tt)mv)))"), bytes, FALSE));
  g_autoptr (GVariant) rows = g_variant_get_child_value (set, 1);
  return g_variant_n_children (rows);
}

static void
advance (SyncProgress *progress, GBytes *bytes)
{
  if (progress == NULL || progress->report == NULL)
    return;
  progress->n_rows += count_rows (bytes);
  progress->report (progress->n_rows, progress->data);
}

static void
tell_rejected (CarbReplica *replica, SyncProgress *progress, GArray *rejections)
{
  if (rejections->len == 0)
    return;
  if (progress != NULL && progress->rejected != NULL)
    progress->rejected (rejections, progress->data);
  else
    carb_replica_emit_rejected (replica, rejections);
}

/* One batch: collect, apply, acknowledge. @done is TRUE when nothing was
 * pending. */
static gboolean
upload_batch (CarbReplica *replica,
              CarbStore *server,
              GVariant *context,
              SyncProgress *progress,
              gboolean *done,
              GCancellable *cancellable,
              GError **error)
{
  GError *local = NULL;
  g_autoptr (GBytes) sent = carb_replica_collect_changes (replica, UPLOAD_BATCH_ROWS, &local);
  if (sent == NULL)
    {
      *done = local == NULL;
      if (local != NULL)
        g_propagate_error (error, local);
      return *done;
    }
  *done = FALSE;
  g_autoptr (GBytes) answer
      = carb_store_apply_changes (server, replica->group, context, sent, cancellable, error);
  g_autoptr (GArray) rejections = NULL;
  if (answer == NULL || !carb_replica_acknowledge_quiet (replica, sent, answer, &rejections, error))
    return FALSE;
  tell_rejected (replica, progress, rejections);
  advance (progress, sent);
  return TRUE;
}

static gboolean
upload (CarbReplica *replica,
        CarbStore *server,
        GVariant *context,
        SyncProgress *progress,
        GCancellable *cancellable,
        GError **error)
{
  gboolean corrected = FALSE;
  for (;;)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      gboolean done = FALSE;
      g_autoptr (GError) local = NULL;
      if (upload_batch (replica, server, context, progress, &done, cancellable, &local))
        {
          if (done)
            return TRUE;
          continue;
        }
      guint64 server_hlc = 0;
      /* Once only: a second refusal means the bound or the server's clock
       * moves, and looping would hide it. */
      if (corrected || !g_error_matches (local, CARB_ERROR, CARB_ERROR_CLOCK_AHEAD)
          || !parse_server_hlc (local, &server_hlc))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      g_debug ("replica %s: clock ahead of the server's; correcting to %" G_GUINT64_FORMAT, replica->path,
               server_hlc);
      if (!carb_replica_correct_clock (replica, server_hlc, error))
        return FALSE;
      corrected = TRUE;
    }
}

static gboolean
download_table (CarbReplica *replica,
                CarbStore *server,
                GVariant *context,
                SyncProgress *progress,
                guint table_index,
                GCancellable *cancellable,
                GError **error)
{
  g_autoptr (CarbSyncPoint) since = carb_replica_get_sync_point (replica, table_index);
  /* A first download cannot tell which rows the replica holds were
   * deleted meanwhile: replica-sweep.c drops them after it. */
  gboolean first = since == NULL;
  if (first && !carb_replica_first_download_begin (replica, table_index, error))
    return FALSE;
  gboolean sweep = first || carb_replica_first_download_open (replica, table_index, NULL);
  gboolean filled = FALSE;
  if (since == NULL
      && !carb_replica_fill_table (replica, server, context, table_index, &filled, cancellable, error))
    return FALSE;
  if (filled)
    return !sweep || carb_replica_first_download_end (replica, table_index, error);
  gboolean has_more = TRUE;
  while (has_more)
    {
      CarbSyncPoint *until = NULL;
      g_autoptr (GBytes) page
          = carb_store_download_changes (server, replica->group, context, table_index, since,
                                         DOWNLOAD_PAGE_ROWS, &until, &has_more, cancellable, error);
      if (page == NULL)
        return FALSE;
      g_autoptr (CarbSyncPoint) next = until;
      if (!carb_replica_merge_download (replica, table_index, page, next, error))
        return FALSE;
      advance (progress, page);
      g_clear_pointer (&since, carb_sync_point_free);
      since = g_steal_pointer (&next);
    }
  return !sweep || carb_replica_first_download_end (replica, table_index, error);
}

/* The filter values of @ctx, one `table.column = key: value` a filtered
 * table, as the replica stores them ("" for a group without filters). */
static char *
filters_text (CarbSyncGroup *group, GVariant *ctx)
{
  GString *text = g_string_new (NULL);
  for (guint t = 0; t < carb_sync_group_get_n_models (group); t++)
    {
      const char *key = NULL;
      gint column = carb_sync_group_get_filter (group, t, &key);
      if (column < 0)
        continue;
      const CarbModel *model = carb_sync_group_get_model (group, t);
      g_autoptr (GVariant) wanted = g_variant_lookup_value (ctx, key, NULL);
      g_autofree char *value = wanted != NULL ? carb_twoway_filter_text (wanted) : NULL;
      g_string_append_printf (text, "%s%s.%s = %s: %s", text->len > 0 ? "; " : "", model->table,
                              model->columns[column].name, key, value != NULL ? value : "");
    }
  return g_string_free (text, FALSE);
}

static gboolean
has_sync_point (CarbReplica *replica, gboolean *found, GError **error)
{
  sqlite3_stmt *stmt
      = carb_replica_db_stmt (replica, "SELECT 1 FROM carburetor_sync_points WHERE grp = ? LIMIT 1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, carb_sync_group_get_name (replica->group), -1, SQLITE_STATIC);
  int rc = sqlite3_step (stmt);
  sqlite3_reset (stmt);
  *found = rc == SQLITE_ROW;
  return rc == SQLITE_ROW || rc == SQLITE_DONE
         || carb_replica_db_fail (replica, error, "reading sync points");
}

/* With the lock held. */
static gboolean
check_filters_locked (CarbReplica *replica, const char *now, GError **error)
{
  GError *local = NULL;
  g_autofree char *stored = carb_replica_meta_get (replica, "filters", &local);
  if (local != NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  if (g_strcmp0 (stored, now) == 0)
    return TRUE;
  gboolean points = FALSE;
  if (!has_sync_point (replica, &points, error))
    return FALSE;
  if (stored != NULL && points)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT,
                   "Replica “%s” holds the rows and sync points of sync group “%s” for “%s”, not “%s”: "
                   "downloads from those points would never bring the rows of the new filter value that did "
                   "not change since, and keep the old value's; use a replica file per filter value (per "
                   "user), or call carb_replica_rebuild() first (pending edits stay and are uploaded)",
                   replica->path, carb_sync_group_get_name (replica->group), stored, now);
      return FALSE;
    }
  /* Nothing downloaded yet (a new file, a rebuilt one; or a file from
   * before this check, whose filter values were not kept): these are the
   * values from now on. */
  gboolean ok = carb_replica_begin (replica, error);
  if (ok)
    {
      ok = carb_replica_meta_set (replica, "filters", now, error);
      if (ok)
        ok = carb_replica_commit (replica, error);
      else
        carb_replica_rollback (replica);
    }
  return ok;
}

/* A replica's rows and sync points are those of the filter values it
 * downloaded with (carb_replica_rebuild() drops the points). Syncing the
 * file with other values (another user signed in on the device) kept the
 * first values' rows, and downloads from their points never brought the
 * new values' rows that did not change since: refused. */
static gboolean
check_filters (CarbReplica *replica, GVariant *ctx, GError **error)
{
  g_autofree char *now = filters_text (replica->group, ctx);
  g_mutex_lock (&replica->lock);
  gboolean ok = check_filters_locked (replica, now, error);
  g_mutex_unlock (&replica->lock);
  return ok;
}

/* carb_replica_sync()'s: keeps the rejections of each batch until the
 * sync is over. */
static void
keep_rejected (GArray *rejections, gpointer data)
{
  g_ptr_array_add (data, g_array_ref (rejections));
}

static gboolean sync_run_locked (CarbReplica *replica,
                                 CarbStore *server,
                                 GVariant *context,
                                 SyncProgress *progress,
                                 GCancellable *cancellable,
                                 GError **error);

/* Syncs of one replica run one after the other (two at once could each
 * take the other's rows for ones a first download did not confirm). */
static gboolean
sync_run (CarbReplica *replica,
          CarbStore *server,
          GVariant *context,
          SyncProgress *progress,
          GCancellable *cancellable,
          GError **error)
{
  g_mutex_lock (&replica->sync_lock);
  gboolean ok = sync_run_locked (replica, server, context, progress, cancellable, error);
  g_mutex_unlock (&replica->sync_lock);
  return ok;
}

static gboolean
sync_run_locked (CarbReplica *replica,
                 CarbStore *server,
                 GVariant *context,
                 SyncProgress *progress,
                 GCancellable *cancellable,
                 GError **error)
{
  g_autoptr (GVariant) ctx
      = context != NULL ? g_variant_ref_sink (context) : g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
  guint n = carb_sync_group_get_n_models (replica->group);
  g_autofree gboolean *changed = g_new0 (gboolean, n);
  /* The context is checked even when nothing is downloaded: a sync that
   * would fail with one row to download fails idle too. */
  if (!carb_sync_group_seal (replica->group, error) || !carb_twoway_check_context (replica->group, ctx, error)
      || !check_filters (replica, ctx, error) || !upload (replica, server, ctx, progress, cancellable, error)
      || !carb_replica_poll_group (replica, server, changed, cancellable, error))
    return FALSE;
  for (guint t = 0; t < n; t++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      /* A table never downloaded is downloaded even when the poll sees no
       * live row: the rows the replica holds may have been deleted (the
       * sweep of replica-sweep.c). A first download a crash interrupted
       * before its sweep goes on. */
      g_autoptr (CarbSyncPoint) point = changed[t] ? NULL : carb_replica_get_sync_point (replica, t);
      gboolean unswept
          = !changed[t] && (point == NULL || carb_replica_first_download_open (replica, t, NULL));
      if ((changed[t] || unswept) && !download_table (replica, server, ctx, progress, t, cancellable, error))
        return FALSE;
    }
  return TRUE;
}

/**
 * carb_replica_sync:
 * @replica: a replica
 * @server: the server's store, prepared for the group
 *   (carb_store_prepare_group())
 * @context: (nullable): the server-side context (`a{sv}`) for the
 *   group's filters and validation callback
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * One round of sync: uploads the pending changes in batches until none is
 * left (correcting the clock once on %CARB_ERROR_CLOCK_AHEAD), then
 * downloads the tables of the group that changed since their stored sync
 * points (one carb_store_poll() of the group tells which). Each
 * batch and each page is its own transaction on both sides, so an
 * interrupted sync resumes where it stopped. Syncs of one replica run
 * one at a time (a second waits for the first). On
 * %CARB_ERROR_SYNC_POINT_EXPIRED, call carb_replica_rebuild() and sync
 * again. A replica holds the rows of the filter values it downloaded
 * with: a sync with other values fails with
 * %CARB_ERROR_INVALID_SYNC_POINT (rebuild it first, or use a file per
 * value). #CarbReplica::rejected is emitted, in this thread, for each
 * rejection of the server once the sync is over (failed too), so that a
 * handler may call any function of the replica.
 *
 * Returns: %TRUE, or %FALSE with @error set
 *
 * Since: 1.0
 */
gboolean
carb_replica_sync (
    CarbReplica *replica, CarbStore *server, GVariant *context, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (CARB_IS_REPLICA (replica) && server != NULL, FALSE);
  g_autoptr (GPtrArray) rejected = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  SyncProgress progress = { 0, NULL, keep_rejected, rejected };
  gboolean ok = sync_run (replica, server, context, &progress, cancellable, error);
  /* Told once the sync let its lock go: a handler may call the replica,
   * a rebuild or another sync included, which wait for that lock (in
   * this very thread, for ever). */
  for (guint i = 0; i < rejected->len; i++)
    carb_replica_emit_rejected (replica, rejected->pdata[i]);
  return ok;
}
/* A function pointer is not a gpointer in ISO C: the tag is this. */
static char sync_source_tag;

typedef struct
{
  CarbStore *server;
  GVariant *context;
  CarbProgressFunc progress;
  gpointer progress_data;
  GDestroyNotify progress_notify;
  GMainContext *main_context; /* the caller's, where progress is told */
  GMutex lock;                /* guards @rejections */
  GPtrArray *rejections;      /* GArray of CarbRejection, not yet emitted */
  gint n_rows;                /* the latest count (capped), read by the main context */
  gint scheduled;             /* a report is queued there */
  gboolean finished;          /* the application's callback ran: no report after it */
  GAsyncReadyCallback callback;
  gpointer user_data;
} SyncData;

static void
sync_data_free (gpointer p)
{
  SyncData *data = p;
  g_object_unref (data->server);
  g_clear_pointer (&data->context, g_variant_unref);
  /* sync_done() let the progress data go already, in the caller's
   * context; this is only for a task that never completed. */
  if (data->progress_notify != NULL)
    data->progress_notify (data->progress_data);
  g_main_context_unref (data->main_context);
  g_ptr_array_unref (data->rejections);
  g_mutex_clear (&data->lock);
  g_free (data);
}

/* In the caller's main context: the newest count only, however many
 * pages went by meanwhile. */
static gboolean
tell_progress (gpointer user_data)
{
  GTask *task = user_data;
  SyncData *data = g_task_get_task_data (task);
  g_atomic_int_set (&data->scheduled, 0);
  if (data->progress != NULL && !data->finished)
    data->progress ((guint64) g_atomic_int_get (&data->n_rows), -1, data->progress_data);
  return G_SOURCE_REMOVE;
}

/* In the worker: runs @func (@task) soon in the caller's main context.
 * The task's completion is a G_PRIORITY_DEFAULT source too: queued before
 * it, what @func tells comes before the sync's callback (an idle-priority
 * progress report came after it and was dropped). */
static void
queue_in_context (GTask *task, GSourceFunc func, const char *name)
{
  SyncData *data = g_task_get_task_data (task);
  GSource *idle = g_idle_source_new ();
  g_source_set_priority (idle, G_PRIORITY_DEFAULT);
  g_source_set_callback (idle, func, g_object_ref (task), g_object_unref);
  g_source_set_static_name (idle, name);
  g_source_attach (idle, data->main_context);
  g_source_unref (idle);
}

/* In the worker: stores the count and queues one report. */
static void
queue_progress (guint64 n_rows, gpointer user_data)
{
  GTask *task = user_data;
  SyncData *data = g_task_get_task_data (task);
  g_atomic_int_set (&data->n_rows, (gint) MIN (n_rows, (guint64) G_MAXINT));
  if (g_atomic_int_compare_and_exchange (&data->scheduled, 0, 1))
    queue_in_context (task, tell_progress, "[carburetor] replica sync progress");
}

/* In the caller's main context: #CarbReplica::rejected for each
 * rejection the worker handed over, in the order the server gave them. */
static void
emit_queued_rejections (GTask *task)
{
  SyncData *data = g_task_get_task_data (task);
  g_mutex_lock (&data->lock);
  g_autoptr (GPtrArray) queued = g_steal_pointer (&data->rejections);
  data->rejections = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  g_mutex_unlock (&data->lock);
  for (guint i = 0; i < queued->len; i++)
    carb_replica_emit_rejected (g_task_get_source_object (task), g_ptr_array_index (queued, i));
}

static gboolean
tell_rejected_in_context (gpointer user_data)
{
  emit_queued_rejections (user_data);
  return G_SOURCE_REMOVE;
}

/* In the worker: keeps the rejections for the caller's context (a handler
 * may touch the application's state, which lives there). */
static void
queue_rejected (GArray *rejections, gpointer user_data)
{
  GTask *task = user_data;
  SyncData *data = g_task_get_task_data (task);
  g_mutex_lock (&data->lock);
  g_ptr_array_add (data->rejections, g_array_ref (rejections));
  g_mutex_unlock (&data->lock);
  queue_in_context (task, tell_rejected_in_context, "[carburetor] replica sync rejections");
}

/* The task's own callback: the last count is told before the
 * application's callback, so that a caller that stops its loop there has
 * seen every row. */
static void
sync_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SyncData *data = g_task_get_task_data (G_TASK (result));
  /* Any rejection not told yet comes before the callback too. */
  emit_queued_rejections (G_TASK (result));
  guint64 n = (guint64) g_atomic_int_get (&data->n_rows);
  if (data->progress != NULL && n > 0)
    data->progress (n, (gint64) n, data->progress_data);
  data->finished = TRUE;
  if (data->callback != NULL)
    data->callback (source, result, data->user_data);
  /* Here, in the caller's context, not wherever the task's last
   * reference happens to go (the worker thread's, maybe). */
  GDestroyNotify notify = data->progress_notify;
  data->progress_notify = NULL;
  if (notify != NULL)
    notify (data->progress_data);
  data->progress = NULL;
}

static void
sync_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  SyncData *data = task_data;
  GError *error = NULL;
  SyncProgress progress = { 0, data->progress != NULL ? queue_progress : NULL, queue_rejected, task };
  if (sync_run (source, data->server, data->context, &progress, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/**
 * carb_replica_sync_async:
 * @replica: a replica
 * @server: the server's store
 * @context: (nullable): the server-side context (`a{sv}`)
 * @progress: (scope notified) (nullable) (closure progress_data) (destroy progress_notify):
 *   called in the caller's thread-default main context with the number of
 *   rows uploaded and downloaded so far (and -1: the total is not known
 *   ahead); reports are coalesced, so not every count is seen, but the
 *   last one (with the total) comes before @callback. A sync that moved
 *   no row reports nothing.
 * @progress_data: data for @progress
 * @progress_notify: (nullable): frees
 *   @progress_data, in the caller's main context, right after @callback
 * @cancellable: (nullable): a #GCancellable; a cancelled sync stops
 *   between two transactions, keeping every batch and page it finished
 * @callback: (scope async) (closure user_data): called in the
 *   thread-default main context of the caller when the sync ends
 * @user_data: data for @callback
 *
 * carb_replica_sync() in a worker thread. The replica stays usable
 * meanwhile (its calls wait for the sync's current transaction).
 * #CarbReplica::rejected is emitted in the caller's thread-default main
 * context too, each rejection before @callback.
 *
 * Since: 1.0
 */
void
carb_replica_sync_async (CarbReplica *replica,
                         CarbStore *server,
                         GVariant *context,
                         CarbProgressFunc progress,
                         gpointer progress_data,
                         GDestroyNotify progress_notify,
                         GCancellable *cancellable,
                         GAsyncReadyCallback callback,
                         gpointer user_data)
{
  g_return_if_fail (CARB_IS_REPLICA (replica) && server != NULL);
  SyncData *data = g_new0 (SyncData, 1);
  data->callback = callback;
  data->user_data = user_data;
  g_autoptr (GTask) task = g_task_new (replica, cancellable, sync_done, NULL);
  g_task_set_source_tag (task, &sync_source_tag);
  data->server = g_object_ref (server);
  data->context = context != NULL ? g_variant_ref_sink (context) : NULL;
  data->progress = progress;
  data->progress_data = progress_data;
  data->progress_notify = progress_notify;
  data->main_context = g_main_context_ref_thread_default ();
  g_mutex_init (&data->lock);
  data->rejections = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  g_task_set_task_data (task, data, sync_data_free);
  g_task_run_in_thread (task, sync_thread);
}

/**
 * carb_replica_sync_finish:
 * @replica: a replica
 * @result: the #GAsyncResult given to the callback
 * @error: return location for a #GError
 *
 * Returns: %TRUE, or %FALSE with @error set
 *
 * Since: 1.0
 */
gboolean
carb_replica_sync_finish (CarbReplica *replica, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, replica), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == &sync_source_tag, FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
