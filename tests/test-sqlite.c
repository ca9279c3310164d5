/* The SQLite edges of the sync point guarantee (issue 10, docs/SYNC.md
 * "What the guarantee rests on"). Each case is a way rows were lost, or
 * could be, before the high-water mark clock source:
 *
 *   read-only          a store that may not write (mode=ro, query_only, a
 *                      file another user owns) syncs while a writer holds
 *                      an uncommitted row: the row arrives once committed
 *   future-history     a row stamped in the future before prepare_table
 *                      hides no row written after it
 *   clock-remade       a clock row made again starts above the stamps of
 *                      every prepared table of the schema
 *   query-only-live    an idle query_only store delivers the newest row on
 *                      the very next sync
 *   busy-timeout-zero  a writer with SQLite's default busy timeout (0) gets
 *                      no SQLITE_BUSY from syncing readers (WAL mode)
 *   recursive-triggers every write is stamped once, strictly above every
 *                      earlier stamp, with recursive_triggers on
 *   app-trigger        an application's trigger that rewrites the stamp
 *                      (an updated_at trigger) fails the write, rather
 *                      than leave a stamp below points handed out
 *   not-prepared       a lost clock table or row, an older version's
 *                      trigger, a trigger dropped after a sync: clear
 *                      errors, and prepare_table mends them
 *   null-id            a row with a NULL id is refused, never skipped
 *   read-uncommitted   a store that may read uncommitted rows is refused
 *   mark-limit         the mark stops at year 10000 with an error
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

typedef struct
{
  gint64 id;
  char *title;
  gint64 ts;
} Item;

CARB_DEFINE_STATIC_MODEL (item_model,
                          Item,
                          NULL,
                          "items",
                          CARB_ID (Item, id, INT64),
                          CARB_COLUMN (Item, title, TEXT),
                          CARB_TIMESTAMP (Item, ts));

#define MARK_LIMIT "253402300800000000" /* 10000-01-01 in µs */

typedef struct
{
  char *tmpdir;
  char *path;
  char *uri;
  TestDb *db; /* the other client: a raw connection, WAL mode */
  CarbStore *store;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  f->tmpdir = g_dir_make_tmp ("carb-sqlite-XXXXXX", &error);
  g_assert_no_error (error);
  f->uri = test_store_uri ("sqlite", f->tmpdir);
  f->path = g_strdup (f->uri + strlen ("sqlite:"));
  f->db = test_db_open (f->uri);
  test_db_exec (f->db, "CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT NOT NULL,"
                       " ts INTEGER NOT NULL DEFAULT 0)");
  f->store = carb_store_open (f->uri, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_pointer (&f->store, g_object_unref);
  g_clear_pointer (&f->db, test_db_free);
  test_store_dir_remove (f->tmpdir);
  g_free (f->tmpdir);
  g_free (f->path);
  g_free (f->uri);
}

static void
prepare (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_prepare_table (f->store, &item_model, &error));
  g_assert_no_error (error);
}

static CarbStore *
open_store (const char *uri)
{
  g_autoptr (GError) error = NULL;
  CarbStore *store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  return store;
}

/* One sync from @since (NULL: first sync); @since is replaced by the point
 * it returns. */
static CarbSyncResult *
sync_from (CarbStore *store, CarbSyncPoint **since)
{
  g_autoptr (GError) error = NULL;
  CarbSyncResult *r = carb_store_download_sync (store, &item_model, *since, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (r);
  g_clear_pointer (since, carb_sync_point_free);
  *since = carb_sync_point_copy (carb_sync_result_get_synced_until (r));
  return r;
}

static gboolean
has_id (CarbSyncResult *r, gint64 id)
{
  for (gsize i = 0; i < carb_sync_result_get_n_rows (r); i++)
    if (((const Item *) carb_sync_result_get_row (r, i))->id == id)
      return TRUE;
  return FALSE;
}

static gint64
mark (Fixture *f)
{
  return test_db_query_int (f->db, "SELECT mark FROM carburetor_clock");
}

/* The repro: a writer holds BEGIN IMMEDIATE and an INSERT open,
 * @reader syncs, the writer commits; the next sync must deliver the row
 * (issue 10 items 1 and 3: the old clock source answered above its stamp). */
static void
assert_in_flight_row_arrives (Fixture *f, CarbStore *reader, gint64 id)
{
  g_autoptr (CarbSyncPoint) point = NULL;
  g_autoptr (CarbSyncResult) first = sync_from (reader, &point);

  test_db_exec (f->db, "BEGIN IMMEDIATE; INSERT INTO items (id, title) VALUES (%" G_GINT64_FORMAT ", 'late')",
                id);
  g_autoptr (CarbSyncResult) during = sync_from (reader, &point);
  g_assert_false (has_id (during, id));
  test_db_exec (f->db, "COMMIT");

  g_autoptr (CarbSyncResult) after = sync_from (reader, &point);
  g_assert_true (has_id (after, id));
  /* And nothing was skipped for good: from the start, every row. */
  g_autoptr (CarbSyncPoint) none = NULL;
  g_autoptr (CarbSyncResult) all = sync_from (reader, &none);
  g_assert_cmpint ((gint64) carb_sync_result_get_n_rows (all), ==,
                   test_db_query_int (f->db, "SELECT count (*) FROM items"));
}

static void
test_read_only (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  prepare (f);
  test_db_exec (f->db, "INSERT INTO items (id, title) VALUES (1, 'a')");

  g_autofree char *ro_uri = g_strdup_printf ("file:%s?mode=ro", f->path);
  g_autoptr (CarbStore) ro = open_store (ro_uri);
  g_assert_false (carb_store_execute (ro, "INSERT INTO items (id, title) VALUES (99, 'no')", &error));
  g_assert_nonnull (strstr (error->message, "readonly"));
  g_clear_error (&error);
  g_assert_true (carb_store_check_model (ro, &item_model, &error));
  g_assert_no_error (error);
  assert_in_flight_row_arrives (f, ro, 2);

  g_autoptr (CarbStore) query_only = open_store (f->uri);
  g_assert_true (carb_store_execute (query_only, "PRAGMA query_only = 1", &error));
  g_assert_no_error (error);
  assert_in_flight_row_arrives (f, query_only, 3);
}

/* Copies the SQLite plugin and a manifest naming the copy into @dir, and
 * points CARBURETOR_PLUGIN_PATH there: a process that becomes nobody may
 * not be able to read the build tree (a clone in a 0700 mktemp folder). */
static void
plugin_copy_for_nobody (const char *dir)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *manifest
      = g_build_filename (g_getenv ("CARB_TEST_BUILD_PLUGIN_PATH"), "sqlite.plugin", NULL);
  g_autoptr (GKeyFile) keys = g_key_file_new ();
  g_assert_true (g_key_file_load_from_file (keys, manifest, G_KEY_FILE_NONE, &error));
  g_autofree char *module = g_key_file_get_string (keys, "Carburetor Backend", "Module", &error);
  g_assert_no_error (error);
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (module, &contents, &len, &error));
  g_autofree char *copy = g_build_filename (dir, "carburetor-sqlite.so", NULL);
  g_assert_true (
      g_file_set_contents_full (copy, contents, (gssize) len, G_FILE_SET_CONTENTS_NONE, 0755, &error));
  g_key_file_set_string (keys, "Carburetor Backend", "Module", copy);
  g_autofree char *copy_manifest = g_build_filename (dir, "sqlite.plugin", NULL);
  g_assert_true (g_key_file_save_to_file (keys, copy_manifest, &error));
  g_assert_cmpint (g_chmod (copy_manifest, 0644), ==, 0);
  g_setenv ("CARBURETOR_PLUGIN_PATH", dir, TRUE);
}

/* A plain sqlite: URI on a file this process may not write (SQLite opens
 * it read-only without a word). As root, the check runs in a child that
 * opens the writer first and then becomes nobody. */
static void
test_read_only_file (Fixture *f, gconstpointer data)
{
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  prepare (f);
  test_db_exec (f->db, "INSERT INTO items (id, title) VALUES (1, 'a')");
  g_assert_cmpint (g_chmod (f->path, 0444), ==, 0);
  if (getuid () == 0)
    {
      g_assert_cmpint (g_chmod (f->tmpdir, 0755), ==, 0);
      plugin_copy_for_nobody (f->tmpdir);
      /* The folder (not the files) becomes nobody's, so that this child's
       * tear-down, run as nobody, can remove it. */
      g_assert_cmpint (chown (f->tmpdir, 65534, 65534), ==, 0);
      g_assert_cmpint (setgid (65534), ==, 0);
      g_assert_cmpint (setuid (65534), ==, 0);
    }
  g_assert_cmpint (access (f->path, W_OK), !=, 0);
  g_autoptr (CarbStore) reader = open_store (f->uri);
  assert_in_flight_row_arrives (f, reader, 2);
  g_clear_pointer (&reader, g_object_unref);
}

/* History from before prepare_table with a stamp 4 s ahead: the mark
 * starts above it, so rows written afterwards are stamped above it too
 * (issue 10 item 3; the old clock source jumped to the future stamp and
 * skipped every row below it for good). */
static void
test_future_history (Fixture *f, gconstpointer data)
{
  gint64 future = g_get_real_time () + 4 * G_USEC_PER_SEC;
  test_db_exec (
      f->db, "INSERT INTO items (id, title, ts) VALUES (1, 'old', 1000), (2, 'ahead', %" G_GINT64_FORMAT ")",
      future);
  prepare (f);
  assert_in_flight_row_arrives (f, f->store, 3);

  /* Every stamp made after prepare_table is above the future one. */
  g_assert_cmpint (test_db_query_int (f->db, "SELECT ts FROM items WHERE id = 3"), >, future);
}

/* The clock row lost and made again from one table's prepare_table: it
 * starts above the newest stamp of every table prepared in the schema, not
 * only that one's (the other's syncs may have handed out its mark). */
static void
test_clock_remade (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  CarbModel other = item_model;
  other.table = "other \"items\"";
  gint64 future = g_get_real_time () + 4 * G_USEC_PER_SEC;
  test_db_exec (f->db,
                "CREATE TABLE \"other \"\"items\"\"\" (id INTEGER PRIMARY KEY, title TEXT NOT NULL, ts "
                "INTEGER NOT NULL);"
                "INSERT INTO \"other \"\"items\"\"\" VALUES (1, 'ahead', %" G_GINT64_FORMAT ")",
                future);
  g_assert_true (carb_store_prepare_table (f->store, &other, &error));
  g_assert_no_error (error);
  prepare (f);
  test_db_exec (f->db, "DELETE FROM carburetor_clock");
  prepare (f);
  g_assert_cmpint (mark (f), >=, future);
  test_db_exec (f->db, "DROP TABLE carburetor_clock");
  prepare (f);
  g_assert_cmpint (mark (f), >=, future);
}

/* An idle query_only store: the newest committed row arrives on the very
 * next sync, without anyone writing after it (issue 10 item 10). */
static void
test_query_only_live (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  prepare (f);
  g_autoptr (CarbStore) reader = open_store (f->uri);
  g_assert_true (carb_store_execute (reader, "PRAGMA query_only = 1", &error));
  g_assert_no_error (error);

  g_autoptr (CarbSyncPoint) point = NULL;
  for (gint64 id = 1; id <= 5; id++)
    {
      test_db_exec (f->db, "INSERT INTO items (id, title) VALUES (%" G_GINT64_FORMAT ", 'x')", id);
      g_autoptr (CarbSyncResult) r = sync_from (reader, &point);
      g_assert_cmpuint (carb_sync_result_get_n_rows (r), ==, 1);
      g_assert_true (has_id (r, id));
      g_assert_cmpint (carb_sync_point_get_time (point), ==, mark (f));
    }
}

typedef struct
{
  const char *uri;
  gint *stop;
  gint syncs; /* read by the writer's loop: atomic */
} Reader;

static gpointer
reader_run (gpointer data)
{
  Reader *reader = data;
  g_autoptr (CarbStore) store = open_store (reader->uri);
  g_autoptr (CarbSyncPoint) point = NULL;
  while (!g_atomic_int_get (reader->stop))
    {
      g_autoptr (CarbSyncResult) r = sync_from (store, &point);
      g_atomic_int_inc (&reader->syncs);
    }
  return NULL;
}

/* SQLite's default busy timeout is 0: a writer that never set one gets
 * SQLITE_BUSY whenever another connection holds the write lock. Syncs hold
 * no write lock (issue 10 item 9: the old probe took it briefly, 18-22
 * failures in 2.5 s). WAL mode, as test_db_open() sets. */
static void
test_busy_timeout_zero (Fixture *f, gconstpointer data)
{
  prepare (f);
  gint stop = 0;
  Reader readers[2] = { { f->uri, &stop, 0 }, { f->uri, &stop, 0 } };
  GThread *threads[2];
  for (guint i = 0; i < 2; i++)
    threads[i] = g_thread_new ("reader", reader_run, &readers[i]);

  sqlite3 *writer = NULL;
  g_assert_cmpint (sqlite3_open (f->path, &writer), ==, SQLITE_OK);
  guint busy = 0, written = 0;
  /* At least a second, and until each side did enough to tell (under
   * valgrind a second holds a handful of writes), within a minute. */
  gint64 start = g_get_monotonic_time ();
  gint64 end = start + G_USEC_PER_SEC, limit = start + 60 * G_USEC_PER_SEC;
  for (gint64 id = 1; g_get_monotonic_time () < end
                      || ((written <= 10 || g_atomic_int_get (&readers[0].syncs) <= 10
                           || g_atomic_int_get (&readers[1].syncs) <= 10)
                          && g_get_monotonic_time () < limit);
       id++)
    {
      g_autofree char *sql
          = g_strdup_printf ("INSERT INTO items (id, title) VALUES (%" G_GINT64_FORMAT ", 'w')", id);
      int rc = sqlite3_exec (writer, sql, NULL, NULL, NULL);
      if (rc == SQLITE_BUSY)
        busy++;
      else if (rc != SQLITE_OK)
        g_error ("%s: %s", sql, sqlite3_errmsg (writer));
      else
        written++;
      g_usleep (500);
    }
  g_atomic_int_set (&stop, 1);
  for (guint i = 0; i < 2; i++)
    g_thread_join (threads[i]);
  sqlite3_close (writer);

  g_test_message ("%u rows written, %u SQLITE_BUSY; %d and %d syncs", written, busy, readers[0].syncs,
                  readers[1].syncs);
  g_assert_cmpint (readers[0].syncs, >, 10);
  g_assert_cmpint (readers[1].syncs, >, 10);
  g_assert_cmpuint (written, >, 10);
  g_assert_cmpuint (busy, ==, 0);
}

/* With recursive_triggers on, the UPDATE trigger sees its own UPDATE: it
 * must stamp once, not forever, and an application's UPDATE must still be
 * stamped whatever it does to the stamp column. Every write gets a stamp
 * of its own, above every earlier one, and the next sync has it. */
static void assert_write_stamped (Fixture *f, CarbSyncPoint **point, gint64 id, const char *format, ...)
    G_GNUC_PRINTF (4, 5);

static void
assert_write_stamped (Fixture *f, CarbSyncPoint **point, gint64 id, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *sql = g_strdup_vprintf (format, args);
  va_end (args);
  gint64 before = mark (f);

  test_db_exec (f->db, "%s", sql);
  gint64 ts = test_db_query_int (f->db, "SELECT ts FROM items WHERE id = %" G_GINT64_FORMAT, id);
  g_assert_cmpint (ts, >, before);
  g_assert_cmpint (ts, ==, mark (f));
  g_autoptr (CarbSyncResult) r = sync_from (f->store, point);
  g_assert_cmpuint (carb_sync_result_get_n_rows (r), ==, 1);
  g_assert_true (has_id (r, id));
}

static void
test_recursive_triggers (Fixture *f, gconstpointer data)
{
  prepare (f);
  test_db_exec (f->db, "PRAGMA recursive_triggers = 1");

  /* One statement, three rows: three stamps, strictly increasing. */
  test_db_exec (f->db, "INSERT INTO items (id, title) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count (DISTINCT ts) FROM items"), ==, 3);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT max (ts) FROM items"), ==, mark (f));
  g_autoptr (CarbSyncPoint) point = NULL;
  g_autoptr (CarbSyncResult) first = sync_from (f->store, &point);
  g_assert_cmpuint (carb_sync_result_get_n_rows (first), ==, 3);

  /* The row holding the mark, updated without touching the stamp. */
  assert_write_stamped (f, &point, 3, "UPDATE items SET title = 'c2' WHERE id = 3");
  assert_write_stamped (f, &point, 3, "UPDATE items SET title = 'c3' WHERE id = 3");
  /* The stamp written by hand: to the past, to the current mark, to the
   * future. */
  assert_write_stamped (f, &point, 1, "UPDATE items SET ts = 5 WHERE id = 1");
  assert_write_stamped (f, &point, 2,
                        "UPDATE items SET ts = (SELECT mark FROM carburetor_clock) WHERE id = 2");
  assert_write_stamped (f, &point, 2,
                        "UPDATE items SET title = 'b2', ts = (SELECT mark + 1 FROM carburetor_clock)"
                        " WHERE id = 2");
  assert_write_stamped (f, &point, 1, "UPDATE items SET ts = " MARK_LIMIT " - 1 WHERE id = 1");
  /* Upserts, both ways, and REPLACE. */
  assert_write_stamped (f, &point, 4,
                        "INSERT INTO items (id, title, ts) VALUES (4, 'd', 7) ON CONFLICT (id) DO UPDATE"
                        " SET title = excluded.title");
  assert_write_stamped (f, &point, 4,
                        "INSERT INTO items (id, title) VALUES (4, 'd2') ON CONFLICT (id) DO UPDATE"
                        " SET title = excluded.title");
  assert_write_stamped (f, &point, 4, "REPLACE INTO items (id, title) VALUES (4, 'd3')");
  /* The id itself may not change: the devices would keep the row under
   * its old id (test-guarantee key-change). The row stays as it was. */
  g_autoptr (GError) error = NULL;
  g_assert_false (carb_store_execute (f->store, "UPDATE items SET id = 5 WHERE id = 4", &error));
  g_assert_nonnull (strstr (error->message, "changing the id"));
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count (*) FROM items WHERE id = 4"), ==, 1);
}

/* An application's own updated_at trigger on the stamp column, added
 * after prepare_table: the stamping trigger's UPDATE fires it, and its
 * write stands (the stamping trigger, still running, does not fire
 * again). Here it stores milliseconds, far below the mark: the row was
 * never delivered to a device holding a point from before (the update
 * went through and the next sync missed row 2). Now the write is refused,
 * naming the table and the column; a trigger that leaves the stamp alone,
 * on the same row or on another table, is fine. */
static void
test_app_trigger (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  prepare (f);
  test_db_exec (f->db, "INSERT INTO items (id, title) VALUES (1, 'a'), (2, 'b')");
  g_autoptr (CarbSyncPoint) point = NULL;
  g_autoptr (CarbSyncResult) first = sync_from (f->store, &point);
  g_assert_cmpuint (carb_sync_result_get_n_rows (first), ==, 2);

  test_db_exec (f->db, "CREATE TRIGGER touch AFTER UPDATE ON items FOR EACH ROW BEGIN"
                       " UPDATE items SET ts = 1000 * CAST (strftime ('%%s', 'now') AS INTEGER)"
                       " WHERE id = NEW.id; END");
  g_assert_false (test_db_try_exec (f->db, &error, "UPDATE items SET title = 'b2' WHERE id = 2"));
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "\"items\""));
  g_assert_nonnull (strstr (error->message, "rewrote the stamp column \"ts\""));
  g_clear_error (&error);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT title = 'b' FROM items WHERE id = 2"), ==, 1);
  /* The same trigger on INSERT. */
  test_db_exec (f->db, "CREATE TRIGGER touch_new AFTER INSERT ON items FOR EACH ROW BEGIN"
                       " UPDATE items SET ts = 1000 * CAST (strftime ('%%s', 'now') AS INTEGER)"
                       " WHERE id = NEW.id; END");
  g_assert_false (test_db_try_exec (f->db, &error, "INSERT INTO items (id, title) VALUES (3, 'c')"));
  g_assert_nonnull (strstr (error->message, "rewrote the stamp column"));
  g_clear_error (&error);
  test_db_exec (f->db, "DROP TRIGGER touch; DROP TRIGGER touch_new");

  /* Triggers that leave the stamp alone: every write is stamped and
   * delivered. */
  test_db_exec (f->db, "CREATE TABLE audit (id INTEGER, title TEXT)");
  test_db_exec (f->db, "CREATE TRIGGER shout AFTER UPDATE OF title ON items FOR EACH ROW"
                       " WHEN NEW.title IS NOT upper (NEW.title) BEGIN"
                       " UPDATE items SET title = upper (NEW.title) WHERE id = NEW.id;"
                       " INSERT INTO audit VALUES (NEW.id, NEW.title); END");
  assert_write_stamped (f, &point, 2, "UPDATE items SET title = 'b3' WHERE id = 2");
  g_assert_cmpint (test_db_query_int (f->db, "SELECT title = 'B3' FROM items WHERE id = 2"), ==, 1);
  assert_write_stamped (f, &point, 3, "INSERT INTO items (id, title) VALUES (3, 'c')");
}

/* Errors of the SQLite preparation: each a clear NOT_PREPARED on
 * check_model and on every sync, and prepare_table mends it. */
static void
assert_not_prepared (CarbStore *store, const char *must_name)
{
  g_autoptr (GError) error = NULL;
  g_assert_false (carb_store_check_model (store, &item_model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, must_name));
  g_assert_nonnull (strstr (error->message, "carb_store_prepare_table"));
  g_clear_error (&error);
  g_autoptr (CarbSyncPoint) point = NULL;
  g_assert_null (carb_store_download_sync (store, &item_model, point, 0, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED);
  g_assert_nonnull (strstr (error->message, must_name));
}

static void
assert_write_refused (Fixture *f, const char *must_say)
{
  g_autoptr (GError) error = NULL;
  g_assert_false (test_db_try_exec (f->db, &error, "INSERT INTO items (title) VALUES ('refused')"));
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, must_say));
}

static void
assert_mended (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  prepare (f);
  g_assert_true (carb_store_check_model (f->store, &item_model, &error));
  g_assert_no_error (error);
  /* A connection that failed to compile a trigger for a missing table
   * keeps failing until it reads the schema again (SQLite 3.40 does not
   * retry that error): read it, as any other statement would. */
  test_db_query_int (f->db, "SELECT count (*) FROM sqlite_master");
  test_db_exec (f->db, "INSERT INTO items (title) VALUES ('mended')");
  g_autoptr (CarbSyncPoint) point = NULL;
  g_autoptr (CarbSyncResult) r = sync_from (f->store, &point);
  g_assert_cmpint ((gint64) carb_sync_result_get_n_rows (r), ==,
                   test_db_query_int (f->db, "SELECT count (*) FROM items"));
}

/* What the trigger of the previous version looked like: 'now' straight
 * into the row, no mark. */
static const char old_update_trigger[]
    = "CREATE TRIGGER \"carb_stamp_update_items\" AFTER UPDATE ON \"items\" FOR EACH ROW WHEN NEW.\"ts\" IS "
      "NOT"
      " (CAST(strftime('%s','now') AS INTEGER) * 1000000 + CAST(substr(strftime('%f','now'), 4) AS INTEGER) "
      "* 1000)"
      " BEGIN UPDATE \"items\" SET \"ts\" = (CAST(strftime('%s','now') AS INTEGER) * 1000000"
      " + CAST(substr(strftime('%f','now'), 4) AS INTEGER) * 1000) WHERE \"id\" = NEW.\"id\"; END";

static void
test_not_prepared (Fixture *f, gconstpointer data)
{
  test_db_exec (f->db, "INSERT INTO items (id, title) VALUES (1, 'a')");
  assert_not_prepared (f->store, "carb_stamp_insert_items");
  assert_mended (f);

  /* The clock table dropped: writes fail too, rather than stamp nothing. */
  test_db_exec (f->db, "DROP TABLE carburetor_clock");
  assert_not_prepared (f->store, "carburetor_clock");
  assert_write_refused (f, "carburetor_clock");
  assert_mended (f);

  /* Its row deleted: the same, and the mark does not go back. */
  gint64 before = mark (f);
  test_db_exec (f->db, "DELETE FROM carburetor_clock");
  assert_not_prepared (f->store, "carburetor_clock");
  assert_write_refused (f, "the row of carburetor_clock is missing");
  assert_mended (f);
  g_assert_cmpint (mark (f), >, before);

  /* A previous version's trigger is outdated; prepare_table replaces it. */
  test_db_exec (f->db, "DROP TRIGGER carb_stamp_update_items; %s", old_update_trigger);
  assert_not_prepared (f->store, "carb_stamp_update_items");
  assert_mended (f);

  /* A trigger dropped by another connection after a sync passed (the check
   * is cached by schema version): the very next sync says so. */
  g_autoptr (CarbSyncPoint) point = NULL;
  g_autoptr (CarbSyncResult) r = sync_from (f->store, &point);
  test_db_exec (f->db, "DROP TRIGGER carb_stamp_update_items");
  g_autoptr (GError) error = NULL;
  g_assert_null (carb_store_download_sync (f->store, &item_model, point, 0, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED);
  g_assert_nonnull (strstr (error->message, "carb_stamp_update_items"));
  assert_mended (f);
}

typedef struct
{
  char *id;
  char *title;
  gint64 ts;
} TextItem;

CARB_DEFINE_STATIC_MODEL (text_item_model,
                          TextItem,
                          NULL,
                          "text items",
                          CARB_ID (TextItem, id, TEXT),
                          CARB_COLUMN (TextItem, title, TEXT),
                          CARB_TIMESTAMP (TextItem, ts));

/* SQLite lets a TEXT PRIMARY KEY hold NULL (a legacy quirk), and a row
 * with a NULL id falls through the page cursor. prepare_table refuses such
 * history; afterwards the triggers refuse the write. */
static void
test_null_id (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  test_db_exec (f->db, "CREATE TABLE \"text items\" (id TEXT PRIMARY KEY, title TEXT NOT NULL,"
                       " ts INTEGER NOT NULL DEFAULT 5);"
                       "INSERT INTO \"text items\" (id, title) VALUES ('a', 'x'), (NULL, 'y')");
  g_assert_false (carb_store_prepare_table (f->store, &text_item_model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "“main.text items”"));
  g_assert_nonnull (strstr (error->message, "id NULL"));
  g_clear_error (&error);

  test_db_exec (f->db, "UPDATE \"text items\" SET id = 'b' WHERE id IS NULL");
  g_assert_true (carb_store_prepare_table (f->store, &text_item_model, &error));
  g_assert_no_error (error);
  /* An UPDATE to a NULL id changes the id, which is refused first. */
  static const char *const writes[][2] = {
    { "INSERT INTO \"text items\" (id, title) VALUES (NULL, 'z')", "a row with a NULL id" },
    { "UPDATE \"text items\" SET id = NULL WHERE id = 'a'", "changing the id" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (writes); i++)
    {
      g_assert_false (test_db_try_exec (f->db, &error, "%s", writes[i][0]));
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, "table \"text items\": "));
      g_assert_nonnull (strstr (error->message, writes[i][1]));
      g_clear_error (&error);
    }
  g_autoptr (CarbSyncResult) r = carb_store_download_sync (f->store, &text_item_model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (r), ==, 2);
}

/* A connection that may read uncommitted rows (shared cache and PRAGMA
 * read_uncommitted) would see a writer's mark before it commits: refused. */
static void
test_read_uncommitted (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  prepare (f);
  g_autofree char *shared_uri = g_strdup_printf ("file:%s?cache=shared", f->path);
  g_autoptr (CarbStore) writer = open_store (shared_uri);
  g_autoptr (CarbStore) reader = open_store (shared_uri);
  g_assert_true (carb_store_execute (reader, "PRAGMA read_uncommitted = 1", &error));
  g_assert_true (
      carb_store_execute (writer, "BEGIN; INSERT INTO items (id, title) VALUES (1, 'rolled back')", &error));
  g_assert_no_error (error);

  g_assert_null (carb_store_download_sync (reader, &item_model, NULL, 0, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_CLOCK_UNSAFE);
  g_assert_nonnull (strstr (error->message, "read_uncommitted"));
  g_clear_error (&error);

  g_assert_true (carb_store_execute (writer, "ROLLBACK", &error));
  g_assert_true (carb_store_execute (reader, "PRAGMA read_uncommitted = 0", &error));
  g_autoptr (CarbSyncPoint) point = NULL;
  g_autoptr (CarbSyncResult) r = sync_from (reader, &point);
  g_assert_cmpuint (carb_sync_result_get_n_rows (r), ==, 0);
}

/* The mark never wraps: at year 10000 writes fail and syncs say why.
 * History stamped that far, or not as INTEGER µs, is refused up front. */
static void
test_mark_limit (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  test_db_exec (f->db, "INSERT INTO items (id, title, ts) VALUES (1, 'a', '2020-01-01 10:00')");
  g_assert_false (carb_store_prepare_table (f->store, &item_model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "'2020-01-01 10:00'"));
  g_clear_error (&error);
  test_db_exec (f->db, "UPDATE items SET ts = " MARK_LIMIT);
  g_assert_false (carb_store_prepare_table (f->store, &item_model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_clear_error (&error);

  test_db_exec (f->db, "UPDATE items SET ts = " MARK_LIMIT " - 2");
  prepare (f);
  g_assert_cmpint (mark (f), ==, G_GINT64_CONSTANT (253402300800000000) - 2);
  test_db_exec (f->db, "INSERT INTO items (id, title) VALUES (2, 'last')");
  g_assert_cmpint (mark (f), ==, G_GINT64_CONSTANT (253402300800000000) - 1);
  assert_write_refused (f, "year 10000");
  /* Reads go on: every row stamped so far arrives. */
  g_autoptr (CarbSyncPoint) point = NULL;
  g_autoptr (CarbSyncResult) r = sync_from (f->store, &point);
  g_assert_cmpuint (carb_sync_result_get_n_rows (r), ==, 2);

  /* A mark set past it by hand is no sync point. */
  test_db_exec (f->db, "UPDATE carburetor_clock SET mark = " MARK_LIMIT);
  assert_not_prepared (f->store, "year 10000");
  test_db_exec (f->db, "UPDATE carburetor_clock SET mark = 'soon'");
  assert_not_prepared (f->store, "year 10000");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  static const struct
  {
    const char *path;
    void (*func) (Fixture *, gconstpointer);
  } tests[] = {
    { "/sqlite/read-only", test_read_only },
    { "/sqlite/read-only-file", test_read_only_file },
    { "/sqlite/future-history", test_future_history },
    { "/sqlite/clock-remade", test_clock_remade },
    { "/sqlite/query-only-live", test_query_only_live },
    { "/sqlite/busy-timeout-zero", test_busy_timeout_zero },
    { "/sqlite/recursive-triggers", test_recursive_triggers },
    { "/sqlite/app-trigger", test_app_trigger },
    { "/sqlite/not-prepared", test_not_prepared },
    { "/sqlite/null-id", test_null_id },
    { "/sqlite/read-uncommitted", test_read_uncommitted },
    { "/sqlite/mark-limit", test_mark_limit },
  };
  for (guint i = 0; i < G_N_ELEMENTS (tests); i++)
    g_test_add (tests[i].path, Fixture, NULL, fixture_set_up, tests[i].func, fixture_tear_down);
  return g_test_run ();
}
