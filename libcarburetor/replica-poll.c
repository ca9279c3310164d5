/* Carburetor — which tables of a replica's group a sync must download:
 * one carb_store_poll() of the group's wire models from the replica's
 * stored points (one round trip on PostgreSQL). A purge may have deleted
 * the very tombstones a replica never saw, but it keeps those of the
 * newest stamp it reached, which is after every point it made expired
 * (store-twoway.c, purge_table): the poll finds such a table changed, and
 * its download fails with %CARB_ERROR_SYNC_POINT_EXPIRED.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"
#include "twoway-private.h"

#include <string.h>

/* Sets @changed[t] for each table of the group a sync must download. A
 * table never downloaded (no point) is polled for any live row. */
gboolean
carb_replica_poll_group (
    CarbReplica *replica, CarbStore *server, gboolean *changed, GCancellable *cancellable, GError **error)
{
  guint n = carb_sync_group_get_n_models (replica->group);
  g_autofree const CarbModel **wires = g_new0 (const CarbModel *, n);
  g_autoptr (GPtrArray) points = g_ptr_array_new_full (n, (GDestroyNotify) carb_sync_point_free);
  for (guint t = 0; t < n; t++)
    {
      wires[t] = carb_sync_group_get_wire_model (replica->group, t);
      g_ptr_array_add (points, carb_replica_get_sync_point (replica, t));
    }
  return carb_store_poll (server, wires, (const CarbSyncPoint *const *) points->pdata, n, changed,
                          cancellable, error);
}
