/* Carburetor — carb_store_download_sync() off the main thread (GTask), with
 * progress reports delivered on the caller's main context.
 *
 * The sync runs in GTask's thread pool and takes the store's mutex like any
 * other call, so async and blocking calls on one store simply queue. The
 * backend thread never calls application code: it records the row count
 * and, at most every REPORT_INTERVAL_US, attaches one idle source to the
 * caller's context that reads the latest count. A report already queued
 * absorbs newer counts, so a slow main loop sees fewer, fresher reports,
 * never a backlog.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#define REPORT_INTERVAL_US (100 * G_TIME_SPAN_MILLISECOND)

/* The GTask source tag: an object's address, since ISO C cannot turn the
 * function's address into a gpointer. */
static char source_tag;

typedef struct
{
  gatomicrefcount ref;

  /* Set before the thread starts, then read-only. */
  CarbStore *store;
  const CarbModel *model;
  CarbSyncPoint *since; /* a copy: the caller may free theirs at once */
  guint max_rows;
  gboolean wants_progress;
  GMainContext *context;

  /* Owned by the caller's context. */
  CarbProgressFunc progress;
  gpointer progress_data;
  GDestroyNotify progress_notify;
  GAsyncReadyCallback callback;
  gpointer user_data;
  gsize n_reported;
  gboolean finished; /* no report may follow the callback */

  /* Written by the backend thread; the rest under @lock. */
  GMutex lock;
  gsize n_received;
  gint64 last_report_us;
  gboolean report_pending;
  gsize n_total; /* set before the task returns a result */
} SyncJob;

static SyncJob *
sync_job_ref (SyncJob *job)
{
  g_atomic_ref_count_inc (&job->ref);
  return job;
}

static void
sync_job_unref (gpointer data)
{
  SyncJob *job = data;

  if (!g_atomic_ref_count_dec (&job->ref))
    return;
  /* Normally already called on the caller's context, after the callback;
   * here only if the task never completed there. */
  if (job->progress_notify != NULL)
    job->progress_notify (job->progress_data);
  g_object_unref (job->store);
  g_clear_pointer (&job->since, carb_sync_point_free);
  g_main_context_unref (job->context);
  g_mutex_clear (&job->lock);
  g_free (job);
}

/* On the caller's context: the latest count, if it moved. */
static gboolean
report_progress (gpointer data)
{
  SyncJob *job = data;

  g_mutex_lock (&job->lock);
  gsize n = job->n_received;
  job->report_pending = FALSE;
  g_mutex_unlock (&job->lock);

  if (!job->finished && n > job->n_reported)
    {
      job->n_reported = n;
      job->progress (n, -1, job->progress_data);
    }
  return G_SOURCE_REMOVE;
}

/* On the backend thread, from the sink every CARB_SINK_PROGRESS_ROWS rows. */
static void
on_rows (gsize n_rows, gpointer data)
{
  SyncJob *job = data;
  gint64 now = g_get_monotonic_time ();
  gboolean send = FALSE;

  g_mutex_lock (&job->lock);
  job->n_received = n_rows;
  if (!job->report_pending && now - job->last_report_us >= REPORT_INTERVAL_US)
    {
      send = job->report_pending = TRUE;
      job->last_report_us = now;
    }
  g_mutex_unlock (&job->lock);

  if (!send)
    return;
  /* Not g_main_context_invoke(): it would run the report right here if the
   * caller's context happened to be free, on the wrong thread. */
  g_autoptr (GSource) idle = g_idle_source_new ();
  g_source_set_callback (idle, report_progress, sync_job_ref (job), sync_job_unref);
  g_source_set_static_name (idle, "[carburetor] sync progress");
  g_source_attach (idle, job->context);
}

static void
sync_in_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  SyncJob *job = task_data;
  GError *error = NULL;

  CarbSyncResult *result = carb_store_download_sync_with_progress (
      job->store, job->model, job->since, job->max_rows, job->wants_progress ? on_rows : NULL, job,
      cancellable, &error);
  if (result == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  job->n_total = carb_sync_result_get_n_rows (result); /* GTask's return publishes it */
  g_task_return_pointer (task, result, (GDestroyNotify) carb_sync_result_unref);
}

/* GTask's callback, on the caller's context: the final report, then the
 * application's callback, then the progress data is let go. Wrapping the
 * callback is what guarantees that order. */
static void
sync_ready (GObject *source_object, GAsyncResult *res, gpointer data)
{
  GTask *task = G_TASK (res);
  SyncJob *job = g_task_get_task_data (task);

  job->finished = TRUE;
  /* A sync cancelled after its rows came is still cancelled: GTask's
   * propagate reports G_IO_ERROR_CANCELLED then, so no final report. */
  if (job->progress != NULL && !g_task_had_error (task)
      && !g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    job->progress (job->n_total, (gint64) job->n_total, job->progress_data);
  if (job->callback != NULL)
    job->callback (source_object, res, job->user_data);
  GDestroyNotify notify = job->progress_notify;
  job->progress_notify = NULL;
  if (notify != NULL)
    notify (job->progress_data);
  job->progress = NULL;
}

/**
 * carb_store_download_sync_async:
 * @store: a store
 * @model: the model of the table to sync; must stay alive until the
 *   callback (static descriptors do)
 * @since: (nullable): the sync point the previous sync returned, or %NULL
 *   for a first sync; copied, so it may be freed at once
 * @max_rows: at most this many rows, or 0 for all (see
 *   carb_store_download_sync())
 * @progress: (nullable) (scope notified) (closure progress_data): receives
 *   progress reports on the caller's main context
 * @progress_data: data for @progress
 * @progress_notify: (nullable): frees @progress_data, on the caller's main
 *   context after @callback has run
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async) (closure user_data): called on the caller's
 *   main context when the sync is done, with @store as its source object
 * @user_data: data for @callback
 *
 * Starts carb_store_download_sync() on a worker thread and returns at
 * once. @callback runs on the thread-default main context of the calling
 * thread; call carb_store_download_sync_finish() from it.
 *
 * The sync holds a reference on @store until it is done. Cancelling
 * @cancellable, even mid-stream, makes the sync fail with
 * %G_IO_ERROR_CANCELLED and hand out no rows and no sync point: the
 * caller's point stays where it was, so the next sync from it still
 * returns everything.
 *
 * Since: 1.0
 */
void
carb_store_download_sync_async (CarbStore *store,
                                const CarbModel *model,
                                const CarbSyncPoint *since,
                                guint max_rows,
                                CarbProgressFunc progress,
                                gpointer progress_data,
                                GDestroyNotify progress_notify,
                                GCancellable *cancellable,
                                GAsyncReadyCallback callback,
                                gpointer user_data)
{
  g_return_if_fail (CARB_IS_STORE (store) && model != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  SyncJob *job = g_new0 (SyncJob, 1);
  g_atomic_ref_count_init (&job->ref);
  g_mutex_init (&job->lock);
  job->store = g_object_ref (store);
  job->model = model;
  job->since = since != NULL ? carb_sync_point_copy (since) : NULL;
  job->max_rows = max_rows;
  job->wants_progress = progress != NULL;
  job->context = g_main_context_ref_thread_default ();
  job->progress = progress;
  job->progress_data = progress_data;
  job->progress_notify = progress_notify;
  job->callback = callback;
  job->user_data = user_data;
  job->last_report_us = g_get_monotonic_time () - REPORT_INTERVAL_US; /* the first report goes at once */

  g_autoptr (GTask) task = g_task_new (store, cancellable, sync_ready, NULL);
  g_task_set_source_tag (task, &source_tag);
  g_task_set_name (task, "carb_store_download_sync_async");
  g_task_set_task_data (task, job, sync_job_unref);
  g_task_run_in_thread (task, sync_in_thread);
}

/**
 * carb_store_download_sync_finish:
 * @store: the store passed to carb_store_download_sync_async()
 * @result: the #GAsyncResult handed to the callback
 * @error: return location for a #GError
 *
 * Finishes carb_store_download_sync_async().
 *
 * Returns: (transfer full) (nullable): the rows and the next sync point, or
 *   %NULL with @error set (%G_IO_ERROR_CANCELLED when cancelled, else as
 *   carb_store_download_sync())
 *
 * Since: 1.0
 */
CarbSyncResult *
carb_store_download_sync_finish (CarbStore *store, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (CARB_IS_STORE (store), NULL);
  g_return_val_if_fail (g_task_is_valid (result, store), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == &source_tag, NULL);
  g_return_val_if_fail (((SyncJob *) g_task_get_task_data (G_TASK (result)))->store == store, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
