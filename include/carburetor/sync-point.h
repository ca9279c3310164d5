/* Carburetor — sync points: how far a device has synced.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(CARBURETOR_INSIDE) && !defined(CARBURETOR_COMPILATION)
#error "Include <carburetor/carburetor.h> or <carburetor/sys/backend.h>, not this header."
#endif

#include <glib-object.h>

#include <carburetor/version.h>

G_BEGIN_DECLS

/**
 * CarbSyncPoint:
 *
 * An opaque, immutable position in a table's change history: "every row
 * stamped up to here has been delivered". A device stores it (as the short
 * string of carb_sync_point_to_string()) and passes it back to the next
 * carb_store_download_sync().
 *
 * A sync point is either *complete* (every row stamped at or before its time
 * was delivered) or a *page cursor* `(time, id)` returned when a call was
 * capped at a number of rows: rows are then delivered in `(time, id)` order
 * and the cursor says exactly where the page ended, so rows sharing one
 * timestamp across a page boundary are neither lost nor repeated.
 *
 * Since: 1.0
 */
typedef struct _CarbSyncPoint CarbSyncPoint;

#define CARB_TYPE_SYNC_POINT (carb_sync_point_get_type ())
CARB_AVAILABLE_IN_ALL
GType carb_sync_point_get_type (void) G_GNUC_CONST;

CARB_AVAILABLE_IN_ALL
CarbSyncPoint *carb_sync_point_new (gint64 time);
CARB_AVAILABLE_IN_ALL
CarbSyncPoint *carb_sync_point_copy (const CarbSyncPoint *point);
CARB_AVAILABLE_IN_ALL
void carb_sync_point_free (CarbSyncPoint *point);
CARB_AVAILABLE_IN_ALL
gint64 carb_sync_point_get_time (const CarbSyncPoint *point);
CARB_AVAILABLE_IN_ALL
gboolean carb_sync_point_is_complete (const CarbSyncPoint *point);
CARB_AVAILABLE_IN_ALL
gboolean carb_sync_point_equal (const CarbSyncPoint *a, const CarbSyncPoint *b);
CARB_AVAILABLE_IN_ALL
char *carb_sync_point_to_string (const CarbSyncPoint *point);
CARB_AVAILABLE_IN_ALL
CarbSyncPoint *carb_sync_point_parse (const char *text, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CarbSyncPoint, carb_sync_point_free)

G_END_DECLS
