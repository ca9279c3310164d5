/* Carburetor — download_sync for GLib main loops: GIO-style async calls
 * with progress reports.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(CARBURETOR_INSIDE) && !defined(CARBURETOR_COMPILATION)
#error "Include <carburetor/carburetor.h>, not this header."
#endif

#include <gio/gio.h>

#include <carburetor/model.h>
#include <carburetor/store.h>
#include <carburetor/sync-point.h>
#include <carburetor/version.h>

G_BEGIN_DECLS

/**
 * CarbProgressFunc:
 * @n_received: the rows received so far
 * @n_total: the rows the sync returns, or -1 while unknown (backends
 *   stream rows without counting them first; the final report has it, so
 *   an empty sync's final report is 0 of 0, never confused with "unknown")
 * @user_data: the data passed with the function
 *
 * Reports how far a carb_store_download_sync_async() has come. Called on
 * the main context that was the thread-default when the sync started, at
 * most every 100 ms while rows arrive, with @n_received never decreasing,
 * and once more when a sync succeeds, with @n_received == @n_total, just
 * before the #GAsyncReadyCallback.
 *
 * Since: 1.0
 */
typedef void (*CarbProgressFunc) (guint64 n_received, gint64 n_total, gpointer user_data);

CARB_AVAILABLE_IN_ALL
void carb_store_download_sync_async (CarbStore *store,
                                     const CarbModel *model,
                                     const CarbSyncPoint *since,
                                     guint max_rows,
                                     CarbProgressFunc progress,
                                     gpointer progress_data,
                                     GDestroyNotify progress_notify,
                                     GCancellable *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer user_data);
CARB_AVAILABLE_IN_ALL
CarbSyncResult *carb_store_download_sync_finish (CarbStore *store, GAsyncResult *result, GError **error);

G_END_DECLS
