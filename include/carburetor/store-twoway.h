/* Carburetor — the server's side of two-way sync: applying a replica's
 * changes with per-column last-writer-wins, and serving download pages
 * with versions (docs/TWOWAY.md). Requests and answers are bytes, so a
 * transport only carries bytes.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(CARBURETOR_INSIDE) && !defined(CARBURETOR_COMPILATION)
#error "Only <carburetor/carburetor.h> can be included directly."
#endif

#include <carburetor/store.h>
#include <carburetor/sync-group.h>
#include <carburetor/sync-point.h>

G_BEGIN_DECLS

CARB_AVAILABLE_IN_ALL
gboolean carb_store_prepare_group (CarbStore *store, CarbSyncGroup *group, GError **error);

CARB_AVAILABLE_IN_ALL
GBytes *carb_store_apply_changes (CarbStore *store,
                                  CarbSyncGroup *group,
                                  GVariant *context,
                                  GBytes *changeset,
                                  GCancellable *cancellable,
                                  GError **error);

CARB_AVAILABLE_IN_ALL
GBytes *carb_store_download_changes (CarbStore *store,
                                     CarbSyncGroup *group,
                                     GVariant *context,
                                     guint table_index,
                                     const CarbSyncPoint *since,
                                     guint limit,
                                     CarbSyncPoint **synced_until,
                                     gboolean *has_more,
                                     GCancellable *cancellable,
                                     GError **error);

CARB_AVAILABLE_IN_ALL
gboolean carb_store_purge_tombstones (
    CarbStore *store, CarbSyncGroup *group, gint64 horizon_us, guint64 *n_purged, GError **error);

G_END_DECLS
