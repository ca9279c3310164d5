/* Faults: a connection killed mid-stream, servers that cannot be reached,
 * and sync points from far outside the table. Each asserts the error and
 * that the store and the sync point are unharmed afterwards.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

typedef struct
{
  gint64 id;
  char *title;
  gint64 last_synced_at;
} Row;

CARB_DEFINE_STATIC_MODEL (row_model,
                          Row,
                          NULL,
                          "rows",
                          CARB_ID (Row, id, INT64),
                          CARB_COLUMN (Row, title, TEXT),
                          CARB_COLUMN (Row, last_synced_at, TIMESTAMP));

typedef struct
{
  TestDb *killer;
  guint seen;
  gboolean killed;
} KillState;

/* After 1000 rows, another connection terminates the store's backend
 * (found by its application_name) while rows are still streaming. */
static gboolean
kill_midway (gconstpointer row, gpointer user_data, GError **error)
{
  KillState *state = user_data;
  if (++state->seen == 1000)
    {
      gint64 killed = test_db_query_int (
          state->killer, "SELECT count (pg_terminate_backend (pid)) FROM pg_stat_activity"
                         " WHERE application_name = 'carburetor' AND pid <> pg_backend_pid ()");
      state->killed = killed > 0;
    }
  return TRUE;
}

static void
test_killed_mid_stream (void)
{
  g_autofree char *uri = test_store_uri ("postgres", NULL);
  g_autoptr (TestDb) db = test_db_open (uri);
  g_autofree char *table = g_strdup_printf ("killed_%d", (int) getpid ());
  CarbModel model = row_model;
  model.table = table;
  g_autoptr (GError) error = NULL;

  test_db_exec (db,
                "CREATE TABLE %s (id bigint PRIMARY KEY, title text NOT NULL,"
                " last_synced_at timestamptz NOT NULL DEFAULT clock_timestamp ())",
                table);
  test_db_exec (db, "INSERT INTO %s (id, title) SELECT i, 'row ' || i FROM generate_series (1, 300000) i",
                table);
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_no_error (error);

  KillState state = { .killer = db };
  g_autoptr (CarbSyncPoint) point = NULL;
  g_assert_false (
      carb_store_download_sync_foreach (store, &model, NULL, 0, kill_midway, &state, &point, NULL, &error));
  g_assert_true (state.killed);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_CONNECTION);
  g_assert_null (point); /* no sync point for a broken sync */
  g_assert_cmpuint (state.seen, <, 300000);
  g_clear_error (&error);

  /* The retry, on the same store, reconnects and converges. */
  g_autoptr (CarbSyncResult) retry = carb_store_download_sync (store, &model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (retry), ==, 300000);
  test_db_exec (db, "DROP TABLE %s", table);
}

static void
assert_cannot_open (const char *uri, const char *fragment)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_null (store);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_CONNECTION);
  g_test_message ("%s", error->message);
  if (strstr (error->message, fragment) == NULL)
    g_error ("“%s” does not say “%s”", error->message, fragment);
  g_assert_null (strstr (error->message, "s3cret")); /* passwords never shown */
}

static void
test_cannot_connect (void)
{
  assert_cannot_open ("postgresql://carb:s3cret@127.0.0.1:1/x?connect_timeout=5", "127.0.0.1");
  assert_cannot_open ("postgresql:///carb_no_such_database_xyz?password=s3cret", "carb_no_such_database_xyz");
  assert_cannot_open ("postgresql:///?user=carb_no_such_role_xyz", "carb_no_such_role_xyz");
}

/* Sync points far before and after every row: nothing overflows on the way
 * to the database, rows come back right, and the point never goes back. */
static void
test_extreme_points (gconstpointer backend)
{
  g_autofree char *tmpdir = g_dir_make_tmp ("carb-faults-XXXXXX", NULL);
  g_autofree char *uri = test_store_uri (backend, tmpdir);
  g_autoptr (TestDb) db = test_db_open (uri);
  g_autofree char *table = g_strdup_printf ("extreme_%d", (int) getpid ());
  CarbModel model = row_model;
  model.table = table;
  g_autoptr (GError) error = NULL;

  test_db_exec (db,
                "CREATE TABLE %s (id bigint PRIMARY KEY, title text NOT NULL, last_synced_at %s NOT NULL)",
                table, test_db_is_postgres (db) ? "timestamptz" : "INTEGER");
  g_autofree char *ts = test_db_ts_literal (db, 1000000);
  test_db_exec (db, "INSERT INTO %s VALUES (1, 'one', %s)", table, ts);
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_no_error (error);

  const gint64 points[] = { G_MININT64, G_MININT64 + 1, -5, 0 };
  for (guint i = 0; i < G_N_ELEMENTS (points); i++)
    {
      g_autoptr (CarbSyncPoint) since = carb_sync_point_new (points[i]);
      g_autoptr (CarbSyncResult) r = carb_store_download_sync (store, &model, since, 0, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (carb_sync_result_get_n_rows (r), ==, 1);
    }
  g_autoptr (CarbSyncPoint) last = carb_sync_point_new (G_MAXINT64 - 1);
  g_autoptr (CarbSyncResult) none = carb_store_download_sync (store, &model, last, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (none), ==, 0);
  g_assert_cmpint (carb_sync_point_get_time (carb_sync_result_get_synced_until (none)), ==, G_MAXINT64 - 1);

  g_clear_pointer (&store, carb_store_unref);
  if (test_db_is_postgres (db))
    test_db_exec (db, "DROP TABLE %s", table);
  test_store_dir_remove (tmpdir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_auto (GStrv) backends = test_store_backends ();
  for (char **b = backends; *b != NULL; b++)
    {
      g_autofree char *path = g_strdup_printf ("/faults/%s/extreme-sync-points", *b);
      g_test_add_data_func (path, *b, test_extreme_points);
      if (g_str_equal (*b, "postgres"))
        {
          g_test_add_func ("/faults/postgres/killed-mid-stream", test_killed_mid_stream);
          g_test_add_func ("/faults/postgres/cannot-connect", test_cannot_connect);
        }
    }
  return g_test_run ();
}
