/* carb_store_poll(): which tables of a group have rows due, on every
 * backend (issue #13; the round trips it costs on PostgreSQL are counted
 * in test-round-trips.c).
 *
 *   changed-flags   the flags follow inserts, updates and soft deletes,
 *                   agree with what a sync then returns, and a never-synced
 *                   table counts live rows only
 *   not-prepared    a table without its stamping trigger fails the whole
 *                   poll with NOT_PREPARED naming it
 *   wrong-point     a point of another table fails with
 *                   INVALID_SYNC_POINT naming the table it was passed for;
 *                   so does carb_store_poll_array() given a points count
 *                   that is neither 0 nor the tables'
 * carb_store_poll_array() (the bindings' Store.poll) returns the same
 * flags as carb_store_poll() wherever assert_poll() checks them.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

#define N_TABLES 3

typedef struct
{
  char *id;
  char *title;
  gboolean deleted;
  gint64 ts;
} Note;

CARB_DEFINE_STATIC_MODEL (note_model,
                          Note,
                          NULL,
                          "notes",
                          CARB_ID (Note, id, TEXT),
                          CARB_COLUMN (Note, title, TEXT),
                          CARB_DELETED (Note, deleted),
                          CARB_TIMESTAMP (Note, ts));

typedef struct
{
  char *tmpdir;
  char *uri;
  TestDb *db;
  CarbStore *store;
  char *tables[N_TABLES];
  char *qtables[N_TABLES];
  CarbModel models[N_TABLES];
  const CarbModel *list[N_TABLES];
  CarbSyncPoint *points[N_TABLES];
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer backend)
{
  static guint counter;
  g_autoptr (GError) error = NULL;

  f->tmpdir = g_dir_make_tmp ("carb-poll-XXXXXX", &error);
  g_assert_no_error (error);
  f->uri = test_store_uri (backend, f->tmpdir);
  f->db = test_db_open (f->uri);
  f->store = carb_store_open (f->uri, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < N_TABLES; i++)
    {
      f->tables[i] = g_strdup_printf ("poll_%d_%u", (int) getpid (), counter++);
      f->qtables[i] = test_db_quote (f->tables[i]);
      if (test_db_is_postgres (f->db))
        test_db_exec (
            f->db,
            "CREATE TABLE %s (id text PRIMARY KEY, title text NOT NULL,"
            " deleted boolean NOT NULL DEFAULT false, ts timestamptz NOT NULL DEFAULT clock_timestamp())",
            f->qtables[i]);
      else
        test_db_exec (f->db,
                      "CREATE TABLE %s (id TEXT PRIMARY KEY, title TEXT NOT NULL,"
                      " deleted BOOLEAN NOT NULL DEFAULT 0, ts INTEGER NOT NULL DEFAULT 0)",
                      f->qtables[i]);
      f->models[i] = note_model;
      f->models[i].table = f->tables[i];
      f->list[i] = &f->models[i];
    }
}

static void
fixture_tear_down (Fixture *f, gconstpointer backend)
{
  g_clear_pointer (&f->store, g_object_unref);
  for (guint i = 0; i < N_TABLES; i++)
    {
      if (test_db_is_postgres (f->db))
        test_db_exec (f->db, "DROP TABLE IF EXISTS %s", f->qtables[i]);
      g_free (f->tables[i]);
      g_free (f->qtables[i]);
      g_clear_pointer (&f->points[i], carb_sync_point_free);
    }
  test_db_free (f->db);
  test_store_dir_remove (f->tmpdir);
  g_free (f->tmpdir);
  g_free (f->uri);
}

static void
prepare (Fixture *f, guint i)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_prepare_table (f->store, &f->models[i], &error));
  g_assert_no_error (error);
}

static void
insert (Fixture *f, guint i, const char *id)
{
  test_db_exec (f->db, "INSERT INTO %s (id, title) VALUES ('%s', 'x')", f->qtables[i], id);
}

/* Syncs table @i from its point; returns the number of rows. */
static gsize
sync_table (Fixture *f, guint i)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncResult) r
      = carb_store_download_sync (f->store, &f->models[i], f->points[i], 0, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&f->points[i], carb_sync_point_free);
  f->points[i] = carb_sync_point_copy (carb_sync_result_get_synced_until (r));
  return carb_sync_result_get_n_rows (r);
}

/* Polls the group and compares the flags with @expected ("101": tables 0
 * and 2 changed). */
static void
assert_poll (Fixture *f, const char *expected)
{
  g_autoptr (GError) error = NULL;
  gboolean changed[N_TABLES];
  char got[N_TABLES + 1] = { 0 };

  memset (changed, 0xff, sizeof changed);
  g_assert_true (carb_store_poll (f->store, f->list, (const CarbSyncPoint *const *) f->points, N_TABLES,
                                  changed, NULL, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < N_TABLES; i++)
    {
      g_assert_true (changed[i] == TRUE || changed[i] == FALSE);
      got[i] = changed[i] ? '1' : '0';
    }
  g_assert_cmpstr (got, ==, expected);

  g_autoptr (GArray) flags = carb_store_poll_array (
      f->store, f->list, N_TABLES, (const CarbSyncPoint *const *) f->points, N_TABLES, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (flags->len, ==, N_TABLES);
  for (guint i = 0; i < N_TABLES; i++)
    g_assert_cmpint (g_array_index (flags, gboolean, i), ==, changed[i]);
}

static void
test_changed_flags (Fixture *f, gconstpointer backend)
{
  for (guint i = 0; i < N_TABLES; i++)
    prepare (f, i);
  /* Never synced: table 0 has a live row, table 1 only a tombstone,
   * table 2 nothing. */
  insert (f, 0, "a");
  insert (f, 1, "b");
  test_db_exec (f->db, "UPDATE %s SET deleted = true", f->qtables[1]);
  assert_poll (f, "100");

  /* SQLite stamps whole milliseconds: a sync in the tick of a write holds
   * its point below it. */
  test_wait_clock_tick ();
  for (guint i = 0; i < N_TABLES; i++)
    sync_table (f, i);
  test_wait_clock_tick ();
  assert_poll (f, "000");

  insert (f, 1, "c");
  assert_poll (f, "010");
  /* A soft delete is a change too (the tombstone is due). */
  test_db_exec (f->db, "UPDATE %s SET deleted = true", f->qtables[0]);
  assert_poll (f, "110");
  test_wait_clock_tick ();

  /* The flags agree with the syncs. */
  g_assert_cmpuint (sync_table (f, 0), ==, 1);
  g_assert_cmpuint (sync_table (f, 1), ==, 1);
  g_assert_cmpuint (sync_table (f, 2), ==, 0);
  test_wait_clock_tick ();
  assert_poll (f, "000");

  /* An empty group is no work. */
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_poll (f->store, NULL, NULL, 0, NULL, NULL, &error));
  g_assert_no_error (error);
}

static void
test_not_prepared (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  gboolean changed[N_TABLES];

  prepare (f, 0);
  prepare (f, 2);
  g_assert_false (carb_store_poll (f->store, f->list, NULL, N_TABLES, changed, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, f->tables[1]));
  g_assert_nonnull (strstr (error->message, "carb_store_prepare_table"));
  g_clear_error (&error);

  prepare (f, 1);
  g_assert_true (carb_store_poll (f->store, f->list, NULL, N_TABLES, changed, NULL, &error));
  g_assert_no_error (error);
}

static void
test_wrong_point (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  gboolean changed[N_TABLES];

  for (guint i = 0; i < N_TABLES; i++)
    prepare (f, i);
  sync_table (f, 0);
  const CarbSyncPoint *points[N_TABLES] = { f->points[0], f->points[0], NULL };
  g_assert_false (carb_store_poll (f->store, f->list, points, N_TABLES, changed, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, f->tables[1]));
  g_clear_error (&error);

  g_assert_null (carb_store_poll_array (f->store, f->list, N_TABLES, points, 2, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT);
  g_assert_nonnull (strstr (error->message, "3 tables but 2 sync points"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  static const TestCase tests[] = {
    TEST_CASE ("changed-flags", test_changed_flags),
    TEST_CASE ("not-prepared", test_not_prepared),
    TEST_CASE ("wrong-point", test_wrong_point),
  };
  test_add_per_backend ("poll", sizeof (Fixture), (GTestFixtureFunc) fixture_set_up, tests,
                        G_N_ELEMENTS (tests), (GTestFixtureFunc) fixture_tear_down);
  return g_test_run ();
}
