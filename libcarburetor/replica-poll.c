/* Carburetor — which tables of a replica's group a sync must download:
 * one carb_store_poll() of the group's wire models from the replica's
 * stored points (one round trip on PostgreSQL), then one read of the
 * tombstone purge horizons for the tables it finds idle. An idle table is
 * skipped, unless its point is older than its purge horizon: a purge may
 * have deleted the very tombstones the replica never saw, which the poll
 * cannot see either, so that table is downloaded and the download fails
 * with %CARB_ERROR_SYNC_POINT_EXPIRED as before.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"
#include "twoway-private.h"

#include <string.h>

typedef struct
{
  const CarbModel *tiny;
  GHashTable *horizons; /* "schema.table" → gint64 *, owned */
} HorizonRows;

static gboolean
horizon_row (gconstpointer row, gpointer user_data, GError **error)
{
  HorizonRows *rows = user_data;
  const char *tbl = *(char *const *) ((const guint8 *) row + rows->tiny->columns[0].offset);
  gint64 horizon = *(const gint64 *) ((const guint8 *) row + rows->tiny->columns[1].offset);
  if (tbl != NULL)
    g_hash_table_insert (rows->horizons, g_strdup (tbl), g_memdup2 (&horizon, sizeof horizon));
  return TRUE;
}

/* Every purge horizon of the server, in one query (carb_store_prepare_group()
 * created carburetor_purge; a few rows, one per purged table). */
static GHashTable *
read_horizons (CarbStore *server, GCancellable *cancellable, GError **error)
{
  g_autoptr (CarbModel) tiny = carb_model_new (NULL, "carburetor_purge");
  if (!carb_model_add_column (tiny, "tbl", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_DATA,
                              CARB_COLUMN_FLAGS_NONE, error)
      || !carb_model_add_column (tiny, "horizon_us", CARB_COLUMN_TYPE_INT64, CARB_COLUMN_ROLE_DATA,
                                 CARB_COLUMN_FLAGS_NONE, error))
    return NULL;
  g_autoptr (GHashTable) horizons = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  HorizonRows rows = { tiny, horizons };
  CarbQuery query = { .model = tiny };
  g_autoptr (CarbSink) sink = carb_sink_new_streaming (tiny, horizon_row, &rows, cancellable);
  carb_store_lock (server);
  const CarbBackendVTable *vt = carb_store_get_vtable (server);
  gboolean ok = carb_twoway_check_backend (server, error)
                && vt->query_rows (carb_store_get_backend (server), &query,
                                   "SELECT tbl, horizon_us FROM carburetor_purge", NULL, 0, sink, error);
  carb_store_unlock (server);
  return ok ? g_steal_pointer (&horizons) : NULL;
}

/* Whether @point is older than the purge horizon of @wire's table (the
 * test of the download's expiry check). */
static gboolean
point_expired (GHashTable *horizons, const CarbModel *wire, const CarbSyncPoint *point)
{
  g_autofree char *key
      = wire->schema != NULL ? g_strconcat (wire->schema, ".", wire->table, NULL) : g_strdup (wire->table);
  const gint64 *horizon = g_hash_table_lookup (horizons, key);
  if (horizon == NULL)
    return FALSE;
  gint64 time = carb_sync_point_get_time (point);
  return time < *horizon || (time == *horizon && !carb_sync_point_is_complete (point));
}

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
  if (!carb_store_poll (server, wires, (const CarbSyncPoint *const *) points->pdata, n, changed, cancellable,
                        error))
    return FALSE;
  gboolean any_idle_point = FALSE;
  for (guint t = 0; t < n; t++)
    any_idle_point |= !changed[t] && points->pdata[t] != NULL;
  if (!any_idle_point)
    return TRUE;
  g_autoptr (GHashTable) horizons = read_horizons (server, cancellable, error);
  if (horizons == NULL)
    return FALSE;
  for (guint t = 0; t < n; t++)
    if (!changed[t] && points->pdata[t] != NULL && point_expired (horizons, wires[t], points->pdata[t]))
      changed[t] = TRUE;
  return TRUE;
}
