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

/* The store's URI with an application_name of this test's own, so that
 * killing "the store's session" spares the stores of tests running
 * alongside. */
static char *
own_store_uri (const char *name)
{
  g_autofree char *base = test_store_uri ("postgres", NULL);
  return g_strdup_printf ("%s%sapplication_name=%s", base, strchr (base, '?') != NULL ? "&" : "?", name);
}

/* Terminates the sessions named @name and waits until they are gone;
 * returns how many there were. */
static gint64
terminate (TestDb *killer, const char *name)
{
  gint64 killed = test_db_query_int (killer,
                                     "SELECT count (pg_terminate_backend (pid)) FROM pg_stat_activity"
                                     " WHERE application_name = '%s' AND pid <> pg_backend_pid ()",
                                     name);
  while (
      test_db_query_int (killer, "SELECT count (*) FROM pg_stat_activity WHERE application_name = '%s'", name)
      > 0)
    g_usleep (1000);
  return killed;
}

/* A table of @n rows for row_model, stamped by the server's clock. */
static void
create_rows (TestDb *db, const char *table, guint n)
{
  test_db_exec (db,
                "CREATE TABLE %s (id bigint PRIMARY KEY, title text NOT NULL,"
                " last_synced_at timestamptz NOT NULL DEFAULT clock_timestamp ())",
                table);
  test_db_exec (db, "INSERT INTO %s (id, title) SELECT i, 'row ' || i FROM generate_series (1, %u) i", table,
                n);
}

/* Installs the stamping trigger a sync needs (prepare_table). */
static void
prepare_rows (CarbStore *store, const CarbModel *model)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_prepare_table (store, model, &error));
  g_assert_no_error (error);
}

typedef struct
{
  TestDb *killer;
  const char *name;
  guint seen;
  gboolean killed;
} KillState;

/* After 1000 rows, another connection terminates the store's backend
 * while rows are still streaming. */
static gboolean
kill_midway (gconstpointer row, gpointer user_data, GError **error)
{
  KillState *state = user_data;
  if (++state->seen == 1000)
    state->killed = terminate (state->killer, state->name) > 0;
  return TRUE;
}

typedef struct
{
  guint seen;
  guint stop_at;
  GCancellable *cancellable; /* cancelled at stop_at, or NULL: the callback fails there */
} StopState;

static gboolean
stop_midway (gconstpointer row, gpointer user_data, GError **error)
{
  StopState *state = user_data;
  if (++state->seen < state->stop_at)
    return TRUE;
  if (state->cancellable != NULL)
    {
      g_cancellable_cancel (state->cancellable);
      return TRUE;
    }
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "enough");
  return FALSE;
}

/* A big sync stopped (by its callback, or cancelled) while the rows after
 * the first batch are streaming: the error comes back, no sync point, the
 * rest is not read to the end, and the store's next syncs work (the
 * server's COPY was cancelled and drained, the transaction rolled back,
 * and the cancel request did not fall on a later statement). */
static void
test_stopped_mid_stream (void)
{
  g_autofree char *table = g_strdup_printf ("stopped_%d", (int) getpid ());
  g_autofree char *plain_uri = test_store_uri ("postgres", NULL);
  g_autoptr (TestDb) db = test_db_open (plain_uri);
  CarbModel model = row_model;
  model.table = table;
  g_autoptr (GError) error = NULL;
  const guint rows = 200000;

  create_rows (db, table, rows);
  g_autoptr (CarbStore) store = carb_store_open (plain_uri, &error);
  g_assert_no_error (error);
  prepare_rows (store, &model);

  for (guint round = 0; round < 2; round++)
    {
      g_autoptr (GCancellable) cancellable = round == 1 ? g_cancellable_new () : NULL;
      StopState state = { .stop_at = 20000, .cancellable = cancellable };
      g_autoptr (CarbSyncPoint) point = NULL;
      g_assert_false (carb_store_download_sync_foreach (store, &model, NULL, 0, stop_midway, &state, &point,
                                                        cancellable, &error));
      if (cancellable != NULL)
        {
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          g_assert_cmpuint (state.seen, <, rows);
        }
      else
        {
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
          g_assert_cmpuint (state.seen, ==, state.stop_at);
        }
      g_assert_null (point);
      g_clear_error (&error);

      /* Twice: a stray cancel would fail one of them. */
      for (guint again = 0; again < 2; again++)
        {
          g_autoptr (CarbSyncResult) r = carb_store_download_sync (store, &model, NULL, 0, NULL, &error);
          g_assert_no_error (error);
          g_assert_cmpuint (carb_sync_result_get_n_rows (r), ==, rows);
        }
    }
  test_db_exec (db, "DROP TABLE %s", table);
}

static void
test_killed_mid_stream (void)
{
  g_autofree char *table = g_strdup_printf ("killed_%d", (int) getpid ());
  g_autofree char *uri = own_store_uri (table);
  g_autofree char *plain_uri = test_store_uri ("postgres", NULL);
  g_autoptr (TestDb) db = test_db_open (plain_uri);
  CarbModel model = row_model;
  model.table = table;
  g_autoptr (GError) error = NULL;

  create_rows (db, table, 300000);
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  prepare_rows (store, &model);

  KillState state = { .killer = db, .name = table };
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

/* The session dies while the store is idle between syncs: the next sync
 * fails on its first statement (the clock source's pipeline) with a
 * connection error and no sync point; the one after reconnects and gets
 * every row written meanwhile. */
static void
test_killed_while_idle (void)
{
  g_autofree char *table = g_strdup_printf ("idle_killed_%d", (int) getpid ());
  g_autofree char *uri = own_store_uri (table);
  g_autofree char *plain_uri = test_store_uri ("postgres", NULL);
  g_autoptr (TestDb) db = test_db_open (plain_uri);
  CarbModel model = row_model;
  model.table = table;
  g_autoptr (GError) error = NULL;

  create_rows (db, table, 10);
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  prepare_rows (store, &model);
  g_autoptr (CarbSyncResult) first = carb_store_download_sync (store, &model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (first), ==, 10);
  const CarbSyncPoint *point = carb_sync_result_get_synced_until (first);

  g_assert_cmpint (terminate (db, table), ==, 1);
  test_db_exec (db, "INSERT INTO %s (id, title) SELECT i, 'row ' || i FROM generate_series (11, 15) i",
                table);
  g_assert_null (carb_store_download_sync (store, &model, point, 0, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_CONNECTION);
  g_test_message ("%s", error->message);
  g_clear_error (&error);

  g_autoptr (CarbSyncResult) retry = carb_store_download_sync (store, &model, point, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (retry), ==, 5);
  g_assert_cmpint (((const Row *) carb_sync_result_get_row (retry, 0))->id, ==, 11);
  test_db_exec (db, "DROP TABLE %s", table);
}

/* The incremental query itself fails on the server (a column renamed
 * after the model was checked): a query error, no sync point, and the
 * session is left usable, out of its failed transaction. A table that
 * vanished is caught before the query, by name. */
static void
test_query_fails (void)
{
  g_autofree char *uri = test_store_uri ("postgres", NULL);
  g_autoptr (TestDb) db = test_db_open (uri);
  g_autofree char *table = g_strdup_printf ("vanishing_%d", (int) getpid ());
  CarbModel model = row_model;
  model.table = table;
  g_autoptr (GError) error = NULL;

  create_rows (db, table, 0);
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  prepare_rows (store, &model);
  g_assert_true (carb_store_check_model (store, &model, &error));
  g_assert_no_error (error);
  test_db_exec (db, "ALTER TABLE %s RENAME COLUMN title TO renamed", table);

  g_assert_null (carb_store_download_sync (store, &model, NULL, 0, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_QUERY);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "title"));
  g_clear_error (&error);
  test_db_exec (db, "ALTER TABLE %s RENAME COLUMN renamed TO title", table);
  test_db_exec (db, "INSERT INTO %s (id, title) VALUES (1, 'one')", table);
  g_autoptr (CarbSyncResult) again = carb_store_download_sync (store, &model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (again), ==, 1);

  test_db_exec (db, "DROP TABLE %s", table);
  g_assert_null (carb_store_download_sync (store, &model, NULL, 0, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, table));
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
  /* With the environment's credentials: libpq's own word for it. */
  assert_cannot_open ("postgresql:///carb_no_such_database_xyz",
                      "database \"carb_no_such_database_xyz\" does not exist");
  /* libpq decodes query keys, and quotes malformed values back in its
   * message: the password is cut out of both. */
  assert_cannot_open ("postgresql:///x?pass%77ord=s3cret&host=127.0.0.1&port=1&connect_timeout=5",
                      "pass%77ord=***");
  assert_cannot_open ("postgresql://carb:s3cret%zz@127.0.0.1:1/x", "percent-encoded");

  /* Before any plugin: a mistyped scheme, and a libpq conninfo string
   * that is no URI at all. */
  static const char *const no_store[]
      = { "postgresq://carb:s3cret@127.0.0.1/x", "host=127.0.0.1 password=s3cret" };
  for (guint i = 0; i < G_N_ELEMENTS (no_store); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_null (carb_store_open (no_store[i], &error));
      g_assert_nonnull (error);
      g_test_message ("%s", error->message);
      g_assert_null (strstr (error->message, "s3cret"));
    }
}

/* A role with a password, and a wrong one over TCP. A cluster whose
 * pg_hba.conf trusts local TCP (some developer setups) cannot refuse it:
 * then only the right password's store is checked. */
static void
test_wrong_password (void)
{
  g_autofree char *uri = test_store_uri ("postgres", NULL);
  g_autoptr (TestDb) db = test_db_open (uri);
  g_autofree char *role = g_strdup_printf ("carb_pw_%d", (int) getpid ());
  gint64 port = test_db_query_int (db, "SELECT current_setting ('port')::int");
  g_autofree char *db_name = test_db_query_text (db, "SELECT current_database ()");
  g_strchomp (db_name);
  test_db_exec (db, "CREATE ROLE %s LOGIN PASSWORD 'right-pw'", role);

  g_autofree char *wrong = g_strdup_printf ("postgresql://%s:wr0ng-s3cret@127.0.0.1:%" G_GINT64_FORMAT "/%s"
                                            "?connect_timeout=5",
                                            role, port, db_name);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (wrong, &error);
  if (store != NULL)
    g_test_message ("the server trusts 127.0.0.1: a wrong password cannot be refused here");
  else
    {
      g_assert_error (error, CARB_ERROR, CARB_ERROR_CONNECTION);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, "password authentication failed"));
      g_assert_null (strstr (error->message, "wr0ng-s3cret"));
      g_clear_error (&error);
    }
  g_clear_pointer (&store, g_object_unref);

  g_autofree char *right
      = g_strdup_printf ("postgresql://%s:right-pw@127.0.0.1:%" G_GINT64_FORMAT "/%s", role, port, db_name);
  store = carb_store_open (right, &error);
  g_assert_no_error (error);
  g_assert_true (carb_store_execute (store, "SELECT 1", &error));
  g_assert_no_error (error);
  g_clear_pointer (&store, g_object_unref);
  test_db_exec (db, "DROP ROLE %s", role);
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
  g_assert_true (carb_store_prepare_table (store, &model, &error));
  g_assert_no_error (error);

  /* G_MININT64 / 2 is before PostgreSQL's calendar: as a lower bound it
   * must select like -infinity, not fail as out of range. */
  const gint64 points[]
      = { G_MININT64, G_MININT64 + 1, G_MININT64 / 2, -G_GINT64_CONSTANT (211813488000000000), -5, 0 };
  for (guint i = 0; i < G_N_ELEMENTS (points); i++)
    {
      g_autoptr (CarbSyncPoint) since = carb_sync_point_new (points[i]);
      g_autoptr (CarbSyncResult) r = carb_store_download_sync (store, &model, since, 0, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (carb_sync_result_get_n_rows (r), ==, 1);
    }
  const gint64 late[] = { G_MAXINT64 / 2, G_MAXINT64 - 1, G_MAXINT64 };
  for (guint i = 0; i < G_N_ELEMENTS (late); i++)
    {
      g_autoptr (CarbSyncPoint) last = carb_sync_point_new (late[i]);
      g_autoptr (CarbSyncResult) none = carb_store_download_sync (store, &model, last, 0, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (carb_sync_result_get_n_rows (none), ==, 0);
      g_assert_cmpint (carb_sync_point_get_time (carb_sync_result_get_synced_until (none)), ==, late[i]);
    }
  /* A page cursor from far before the table pages normally. */
  g_autoptr (CarbSyncPoint) cursor = carb_sync_point_parse ("1.-4611686018427387904.i0", &error);
  g_assert_no_error (error);
  g_autoptr (CarbSyncResult) paged = carb_store_download_sync (store, &model, cursor, 1, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (paged), ==, 1);
  g_assert_cmpstr (((const Row *) carb_sync_result_get_row (paged, 0))->title, ==, "one");

  g_clear_pointer (&store, g_object_unref);
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
          g_test_add_func ("/faults/postgres/stopped-mid-stream", test_stopped_mid_stream);
          g_test_add_func ("/faults/postgres/killed-while-idle", test_killed_while_idle);
          g_test_add_func ("/faults/postgres/query-fails", test_query_fails);
          g_test_add_func ("/faults/postgres/cannot-connect", test_cannot_connect);
          g_test_add_func ("/faults/postgres/wrong-password", test_wrong_password);
        }
    }
  return g_test_run ();
}
