/* Carburetor — stores, opened by URI, and download_sync.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(CARBURETOR_INSIDE) && !defined(CARBURETOR_COMPILATION)
#error "Include <carburetor/carburetor.h>, not this header."
#endif

#include <gio/gio.h>

#include <carburetor/model.h>
#include <carburetor/sync-point.h>
#include <carburetor/version.h>

G_BEGIN_DECLS

/**
 * CarbStore:
 *
 * A connection to one database through the backend plugin that claims the
 * URI's scheme. A #GObject implementing #GInitable and #GAsyncInitable:
 * open one with carb_store_open() or carb_store_new_async(). Every call on
 * one store is serialized internally, so a store may be shared between
 * threads (calls then wait for each other; open one store per thread for
 * parallelism).
 *
 * Since: 1.0
 */
#define CARB_TYPE_STORE (carb_store_get_type ())
CARB_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CarbStore, carb_store, CARB, STORE, GObject)

/**
 * CarbSyncResult:
 *
 * The rows returned by one carb_store_download_sync() call, decoded into the
 * model's struct, and the sync point to pass back next time. Every string
 * and byte buffer the rows point to is owned by the result, which is
 * immutable and reference counted: the last carb_sync_result_unref()
 * releases everything at once.
 *
 * Since: 1.0
 */
typedef struct _CarbSyncResult CarbSyncResult;

#define CARB_TYPE_SYNC_RESULT (carb_sync_result_get_type ())
CARB_AVAILABLE_IN_ALL
GType carb_sync_result_get_type (void) G_GNUC_CONST;

/**
 * CarbRowFunc:
 * @row: (not nullable): the decoded row, a pointer to the model's struct.
 *   It and every string it points to are valid only during the call.
 * @user_data: the data passed with the function.
 * @error: return location for an error that stops the sync.
 *
 * Receives one row of a streaming sync.
 *
 * Returns: %TRUE to go on, %FALSE (with @error set) to stop; the sync then
 *   fails with that error and hands out no sync point.
 *
 * Since: 1.0
 */
typedef gboolean (*CarbRowFunc) (gconstpointer row, gpointer user_data, GError **error);

CARB_AVAILABLE_IN_ALL
CarbStore *carb_store_open (const char *uri, GError **error);
CARB_AVAILABLE_IN_ALL
void carb_store_new_async (const char *uri,
                           int io_priority,
                           GCancellable *cancellable,
                           GAsyncReadyCallback callback,
                           gpointer user_data);
CARB_AVAILABLE_IN_ALL
CarbStore *carb_store_new_finish (GAsyncResult *result, GError **error);
CARB_AVAILABLE_IN_ALL
const char *carb_store_get_uri (CarbStore *store);
CARB_AVAILABLE_IN_ALL
const char *carb_store_get_backend_name (CarbStore *store);

CARB_AVAILABLE_IN_ALL
gboolean carb_store_check_model (CarbStore *store, const CarbModel *model, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_store_prepare_table (CarbStore *store, const CarbModel *model, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_store_execute (CarbStore *store, const char *sql, GError **error);

CARB_AVAILABLE_IN_ALL
CarbSyncResult *carb_store_download_sync (CarbStore *store,
                                          const CarbModel *model,
                                          const CarbSyncPoint *since,
                                          guint max_rows,
                                          GCancellable *cancellable,
                                          GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_store_download_sync_foreach (CarbStore *store,
                                           const CarbModel *model,
                                           const CarbSyncPoint *since,
                                           guint max_rows,
                                           CarbRowFunc func,
                                           gpointer user_data,
                                           CarbSyncPoint **synced_until,
                                           GCancellable *cancellable,
                                           GError **error);

CARB_AVAILABLE_IN_ALL
gboolean carb_store_poll (CarbStore *store,
                          const CarbModel *const *models,
                          const CarbSyncPoint *const *points,
                          guint n,
                          gboolean *changed,
                          GCancellable *cancellable,
                          GError **error);
CARB_AVAILABLE_IN_ALL
GArray *carb_store_poll_array (CarbStore *store,
                               const CarbModel *const *models,
                               guint n_models,
                               const CarbSyncPoint *const *points,
                               guint n_points,
                               GCancellable *cancellable,
                               GError **error);

CARB_AVAILABLE_IN_ALL
gsize carb_sync_result_get_n_rows (const CarbSyncResult *result);
CARB_AVAILABLE_IN_ALL
gconstpointer carb_sync_result_get_rows (const CarbSyncResult *result, gsize *n_rows);
CARB_AVAILABLE_IN_ALL
gconstpointer carb_sync_result_get_row (const CarbSyncResult *result, gsize index);
CARB_AVAILABLE_IN_ALL
const CarbSyncPoint *carb_sync_result_get_synced_until (const CarbSyncResult *result);
CARB_AVAILABLE_IN_ALL
gboolean carb_sync_result_has_more (const CarbSyncResult *result);
CARB_AVAILABLE_IN_ALL
CarbSyncResult *carb_sync_result_ref (CarbSyncResult *result);
CARB_AVAILABLE_IN_ALL
void carb_sync_result_unref (CarbSyncResult *result);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CarbSyncResult, carb_sync_result_unref)

G_END_DECLS
