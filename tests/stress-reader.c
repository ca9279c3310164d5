/* The stress checker's readers: devices that sync in a loop and apply what
 * they get to an in-memory replica.
 *
 * Each reader has its own store, as each device has its own connection, and
 * passes back exactly the sync point it was given. Besides the final
 * comparison (test-stress.c), every delivered row is checked on arrival:
 * it must lie in (since, synced_until], and must be newer than the
 * replica's copy (an older or the same version again means the contract
 * delivered out of order or twice).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "stress.h"

#include <string.h>

static void
row_free (StressRow *row)
{
  g_free (row->title);
  g_free (row);
}

StressReader *
stress_reader_new (const StressConfig *config, guint index, gint *stop)
{
  g_autoptr (GError) error = NULL;
  StressReader *reader = g_new0 (StressReader, 1);

  reader->config = config;
  reader->index = index;
  /* Every fourth reader of a kind: unpaged, tiny pages, odd pages, and
   * streaming with pages; the fifth joins late, its first sync (which
   * leaves tombstones out) in the middle of the writes. */
  static const guint caps[] = { 0, 3, 7, 11 };
  reader->max_rows = caps[index % 4];
  reader->streaming = index % 4 == 3;
  reader->rand = g_rand_new_with_seed (config->seed * 104729u + index);
  /* Reader 1 may not write: on SQLite its connection is opened read-only
   * (mode=ro), the case where taking the write lock was no proof of an idle
   * database. */
  reader->read_only = !config->naive && index == 1 && g_str_equal (config->backend, "sqlite");
  /* A naive run's readers go through the test build of the plugin that
   * answers W = now (scheme naive+…, plugins.d/naive/). */
  g_autofree char *uri = reader->read_only
                             ? g_strdup_printf ("file:%s?mode=ro", config->reader_uri + strlen ("sqlite:"))
                         : config->naive ? g_strconcat ("naive+", config->reader_uri, NULL)
                                         : g_strdup (config->reader_uri);
  reader->store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  if (index == 0)
    reader->probe = test_db_open (config->uri);
  reader->stop = stop;
  reader->replica = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify) row_free);
  reader->lag_now = g_array_new (FALSE, FALSE, sizeof (gint64));
  reader->lag_newest = g_array_new (FALSE, FALSE, sizeof (gint64));
  return reader;
}

void
stress_reader_free (StressReader *reader)
{
  g_rand_free (reader->rand);
  g_object_unref (reader->store);
  test_db_free (reader->probe);
  g_clear_pointer (&reader->point, carb_sync_point_free);
  g_hash_table_unref (reader->replica);
  g_clear_error (&reader->error);
  g_array_unref (reader->lag_now);
  g_array_unref (reader->lag_newest);
  g_free (reader);
}

typedef struct
{
  StressReader *reader;
  gint64 since; /* time of the point passed in, or G_MININT64 */
  gboolean since_complete;
  gsize n_rows;
  gint64 max_ts;
} Apply;

static void
apply_row (Apply *apply, const StressRow *row)
{
  StressReader *reader = apply->reader;
  StressRow *mine = g_hash_table_lookup (reader->replica, &row->id);

  apply->n_rows++;
  apply->max_ts = MAX (apply->max_ts, row->ts);
  /* A complete point: rows after it. A page cursor (t, id): rows at t with
   * a greater id may follow, so only t itself is a bound. */
  if (row->ts < apply->since || (apply->since_complete && row->ts == apply->since))
    reader->out_of_range++;
  if (mine != NULL && mine->ts > row->ts)
    {
      reader->rewinds++;
      return;
    }
  if (mine != NULL && mine->ts == row->ts)
    reader->repeats++;
  if (mine == NULL)
    {
      mine = g_new0 (StressRow, 1);
      mine->id = row->id;
      g_hash_table_insert (reader->replica, &mine->id, mine);
    }
  g_free (mine->title);
  mine->title = g_strdup (row->title);
  mine->value = row->value;
  mine->deleted = row->deleted;
  mine->ts = row->ts;
}

static gboolean
apply_streamed (gconstpointer row, gpointer user_data, GError **error)
{
  apply_row (user_data, row);
  return TRUE;
}

static gint64
newest_stamp (StressReader *reader)
{
  if (test_db_is_postgres (reader->probe))
    return test_db_query_int (reader->probe,
                              "SELECT coalesce((extract(epoch FROM max(ts)) * 1000000)::bigint, 0) FROM %s",
                              reader->config->qtable);
  return test_db_query_int (reader->probe, "SELECT coalesce(max(ts), 0) FROM %s", reader->config->qtable);
}

gboolean
stress_reader_sync (StressReader *reader, gsize *n_rows, gboolean *complete)
{
  const CarbModel *model = reader->config->model;
  Apply apply = { reader, G_MININT64, FALSE, 0, G_MININT64 };
  g_autoptr (CarbSyncPoint) next = NULL;
  gint64 newest = reader->probe != NULL ? newest_stamp (reader) : 0;

  if (reader->point != NULL)
    {
      apply.since = carb_sync_point_get_time (reader->point);
      apply.since_complete = carb_sync_point_is_complete (reader->point);
    }
  if (reader->streaming)
    {
      if (!carb_store_download_sync_foreach (reader->store, model, reader->point, reader->max_rows,
                                             apply_streamed, &apply, &next, NULL, &reader->error))
        return FALSE;
    }
  else
    {
      g_autoptr (CarbSyncResult) result = carb_store_download_sync (reader->store, model, reader->point,
                                                                    reader->max_rows, NULL, &reader->error);
      if (result == NULL)
        return FALSE;
      gsize n = 0;
      const StressRow *rows = carb_sync_result_get_rows (result, &n);
      for (gsize i = 0; i < n; i++)
        apply_row (&apply, &rows[i]);
      next = carb_sync_point_copy (carb_sync_result_get_synced_until (result));
      g_assert_true (carb_sync_result_has_more (result) == !carb_sync_point_is_complete (next));
    }

  gint64 now = g_get_real_time ();
  gint64 w = carb_sync_point_get_time (next);
  reader->syncs++;
  reader->rows += apply.n_rows;
  *n_rows = apply.n_rows;
  *complete = carb_sync_point_is_complete (next);
  /* Rows above the new point are as wrong as rows below the old one. */
  if (apply.max_ts > w)
    reader->out_of_range++;
  /* A first sync of an empty table may hand back the very beginning of
   * time (G_MININT64): no lag to speak of. */
  if (*complete && w > 0)
    {
      gint64 lag = now - w;
      g_array_append_val (reader->lag_now, lag);
      if (reader->probe != NULL)
        {
          lag = MAX (newest - w, 0);
          g_array_append_val (reader->lag_newest, lag);
        }
    }
  g_clear_pointer (&reader->point, carb_sync_point_free);
  reader->point = g_steal_pointer (&next);
  return TRUE;
}

gpointer
stress_reader_run (gpointer data)
{
  StressReader *reader = data;
  gint64 start = g_get_monotonic_time () + reader->start_after;

  while (!g_atomic_int_get (reader->stop) && g_get_monotonic_time () < start)
    g_usleep (10000);
  while (!g_atomic_int_get (reader->stop))
    {
      gsize n = 0;
      gboolean complete = TRUE;
      if (!stress_reader_sync (reader, &n, &complete))
        return NULL;
      /* Pages follow at once, as an app does; between complete syncs a
       * pause of up to 20 ms, so SQLite writers get the lock too. */
      if (complete)
        g_usleep ((gulong) g_rand_int_range (reader->rand, 0, 20000));
    }
  return NULL;
}
