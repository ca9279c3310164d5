/* Carburetor — the client replica: a local SQLite database the library
 * owns, holding the tables of one sync group, the local edits not yet
 * uploaded and every column's version (docs/TWOWAY.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(CARBURETOR_INSIDE) && !defined(CARBURETOR_COMPILATION)
#error "Only <carburetor/carburetor.h> can be included directly."
#endif

#include <carburetor/async.h>
#include <carburetor/store.h>
#include <carburetor/sync-group.h>
#include <carburetor/sync-point.h>
#include <carburetor/versions.h>

G_BEGIN_DECLS

#define CARB_TYPE_REPLICA (carb_replica_get_type ())
CARB_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (CarbReplica, carb_replica, CARB, REPLICA, GObject)

CARB_AVAILABLE_IN_ALL
CarbReplica *carb_replica_open (const char *path, CarbSyncGroup *group, GError **error);
CARB_AVAILABLE_IN_ALL
const char *carb_replica_get_path (CarbReplica *replica);
CARB_AVAILABLE_IN_ALL
guint64 carb_replica_get_site_id (CarbReplica *replica);
CARB_AVAILABLE_IN_ALL
CarbSyncGroup *carb_replica_get_group (CarbReplica *replica);

/* Local writes: applied to the replica's tables at once, queued for upload. */
CARB_AVAILABLE_IN_ALL
char *carb_replica_insert (CarbReplica *replica, const char *table, GVariant *row, GError **error);
CARB_AVAILABLE_IN_ALL
char *
carb_replica_insert_struct (CarbReplica *replica, const CarbModel *model, gconstpointer row, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_replica_update (
    CarbReplica *replica, const char *table, const char *id, GVariant *changes, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_replica_delete (CarbReplica *replica, const char *table, const char *id, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_replica_undelete (CarbReplica *replica, const char *table, const char *id, GError **error);

/* Reading. */
CARB_AVAILABLE_IN_ALL
GVariant *carb_replica_get_row (CarbReplica *replica, const char *table, const char *id, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_replica_get_version (CarbReplica *replica,
                                   const char *table,
                                   const char *id,
                                   const char *column,
                                   CarbVersion *version,
                                   GError **error);
CARB_AVAILABLE_IN_ALL
guint carb_replica_get_n_pending (CarbReplica *replica);
CARB_AVAILABLE_IN_ALL
GVariant *carb_replica_list_rejections (CarbReplica *replica);
CARB_AVAILABLE_IN_ALL
gboolean carb_replica_clear_rejections (CarbReplica *replica, GError **error);

/* One round of sync with a server store in this process: upload, then
 * download every table of the group. */
CARB_AVAILABLE_IN_ALL
gboolean carb_replica_sync (
    CarbReplica *replica, CarbStore *server, GVariant *context, GCancellable *cancellable, GError **error);
CARB_AVAILABLE_IN_ALL
void carb_replica_sync_async (CarbReplica *replica,
                              CarbStore *server,
                              GVariant *context,
                              CarbProgressFunc progress,
                              gpointer progress_data,
                              GDestroyNotify progress_notify,
                              GCancellable *cancellable,
                              GAsyncReadyCallback callback,
                              gpointer user_data);
CARB_AVAILABLE_IN_ALL
gboolean carb_replica_sync_finish (CarbReplica *replica, GAsyncResult *result, GError **error);

/* The steps of carb_replica_sync(), for a transport that carries bytes. */
CARB_AVAILABLE_IN_ALL
GBytes *carb_replica_collect_changes (CarbReplica *replica, guint max_rows, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_replica_acknowledge (CarbReplica *replica, GBytes *sent, GBytes *apply_result, GError **error);
CARB_AVAILABLE_IN_ALL
CarbSyncPoint *carb_replica_get_sync_point (CarbReplica *replica, guint table_index);
CARB_AVAILABLE_IN_ALL
gboolean carb_replica_merge_download (
    CarbReplica *replica, guint table_index, GBytes *page, const CarbSyncPoint *synced_until, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_replica_correct_clock (CarbReplica *replica, guint64 server_hlc, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_replica_rebuild (CarbReplica *replica, GError **error);

G_END_DECLS
