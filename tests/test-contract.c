/* The download_sync contract (docs/SYNC.md), written once and run on every
 * backend: /contract/sqlite/… and /contract/postgres/….
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
  char *note;
  gboolean done;
  gboolean deleted;
  gint64 last_synced_at;
} Todo;

/* No CARB_TIMESTAMP(): the column named last_synced_at is the timestamp. */
CARB_DEFINE_STATIC_MODEL (todo_model,
                          Todo,
                          NULL,
                          "todos",
                          CARB_ID (Todo, id, INT64),
                          CARB_COLUMN (Todo, title, TEXT),
                          CARB_COLUMN_NULLABLE (Todo, note, TEXT),
                          CARB_COLUMN (Todo, done, BOOL),
                          CARB_DELETED (Todo, deleted),
                          CARB_COLUMN (Todo, last_synced_at, TIMESTAMP));

typedef struct
{
  char *tmpdir;
  char *uri;
  TestDb *db;
  CarbStore *store;
  char *table;  /* unique per test: PostgreSQL tests share one database */
  char *qtable; /* quoted */
  CarbModel model;
} Fixture;

static void
create_table (Fixture *f)
{
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db,
                  "CREATE TABLE %s (id bigint PRIMARY KEY, title text NOT NULL, note text,"
                  " done boolean NOT NULL DEFAULT false, deleted boolean NOT NULL DEFAULT false,"
                  " last_synced_at timestamptz NOT NULL DEFAULT clock_timestamp())",
                  f->qtable);
  else
    test_db_exec (f->db,
                  "CREATE TABLE %s (id INTEGER PRIMARY KEY, title TEXT NOT NULL, note TEXT,"
                  " done BOOLEAN NOT NULL DEFAULT 0, deleted BOOLEAN NOT NULL DEFAULT 0,"
                  " last_synced_at INTEGER NOT NULL DEFAULT 0)",
                  f->qtable);
}

static void
fixture_set_up (Fixture *f, gconstpointer backend)
{
  static guint counter;
  g_autoptr (GError) error = NULL;

  f->tmpdir = g_dir_make_tmp ("carb-contract-XXXXXX", &error);
  g_assert_no_error (error);
  f->uri = test_store_uri (backend, f->tmpdir);
  f->db = test_db_open (f->uri);
  f->table = g_strdup_printf ("todos_%d_%u", (int) getpid (), counter++);
  f->qtable = test_db_quote (f->table);
  create_table (f);
  f->model = todo_model;
  f->model.table = f->table;
  f->store = carb_store_open (f->uri, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer backend)
{
  g_clear_pointer (&f->store, g_object_unref);
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TABLE %s CASCADE", f->qtable);
  test_db_free (f->db);
  test_store_dir_remove (f->tmpdir);
  g_free (f->tmpdir);
  g_free (f->uri);
  g_free (f->table);
  g_free (f->qtable);
}

static void
prepare (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_prepare_table (f->store, &f->model, &error));
  g_assert_no_error (error);
}

/* One sync; the caller owns the result. */
static CarbSyncResult *
sync_once (Fixture *f, const CarbSyncPoint *since, guint max_rows)
{
  g_autoptr (GError) error = NULL;
  CarbSyncResult *result = carb_store_download_sync (f->store, &f->model, since, max_rows, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (result);
  if (since != NULL) /* never backwards */
    g_assert_cmpint (carb_sync_point_get_time (carb_sync_result_get_synced_until (result)), >=,
                     carb_sync_point_get_time (since));
  return result;
}

/* Syncs until no page is left, counting how often each id was seen. */
static CarbSyncPoint *
sync_all (Fixture *f, const CarbSyncPoint *since, guint max_rows, GHashTable *seen)
{
  CarbSyncPoint *point = since != NULL ? carb_sync_point_copy (since) : NULL;
  gboolean more = TRUE;

  while (more)
    {
      g_autoptr (CarbSyncResult) result = sync_once (f, point, max_rows);
      gsize n = 0;
      const Todo *rows = carb_sync_result_get_rows (result, &n);
      for (gsize i = 0; i < n; i++)
        {
          gpointer key = GINT_TO_POINTER ((gint) rows[i].id);
          g_hash_table_insert (seen, key,
                               GINT_TO_POINTER (GPOINTER_TO_INT (g_hash_table_lookup (seen, key)) + 1));
        }
      more = carb_sync_result_has_more (result);
      g_assert_true (max_rows > 0 || !more);
      g_clear_pointer (&point, carb_sync_point_free);
      point = carb_sync_point_copy (carb_sync_result_get_synced_until (result));
    }
  return point;
}

static const Todo *
find_row (CarbSyncResult *result, gint64 id)
{
  for (gsize i = 0; i < carb_sync_result_get_n_rows (result); i++)
    {
      const Todo *row = carb_sync_result_get_row (result, i);
      if (row->id == id)
        return row;
    }
  return NULL;
}

static void
test_incremental (Fixture *f, gconstpointer backend)
{
  prepare (f);
  test_db_exec (f->db,
                "INSERT INTO %s (id, title, note) VALUES (1, 'milk', NULL), (2, 'eggs', 'six'),"
                " (3, 'bread', '')",
                f->qtable);
  test_wait_clock_tick ();

  g_autoptr (CarbSyncResult) first = sync_once (f, NULL, 0);
  g_assert_cmpuint (carb_sync_result_get_n_rows (first), ==, 3);
  const Todo *eggs = find_row (first, 2);
  g_assert_nonnull (eggs);
  g_assert_cmpstr (eggs->title, ==, "eggs");
  g_assert_cmpstr (eggs->note, ==, "six");
  g_assert_null (find_row (first, 1)->note);
  g_assert_cmpstr (find_row (first, 3)->note, ==, "");
  g_assert_false (eggs->deleted);
  g_assert_cmpint (eggs->last_synced_at, >, 0);
  const CarbSyncPoint *p1 = carb_sync_result_get_synced_until (first);
  g_assert_true (carb_sync_point_is_complete (p1));

  /* Nothing changed: nothing comes back. */
  g_autoptr (CarbSyncResult) idle = sync_once (f, p1, 0);
  g_assert_cmpuint (carb_sync_result_get_n_rows (idle), ==, 0);

  /* An update is seen exactly once, with its new value. */
  test_db_exec (f->db, "UPDATE %s SET title = 'oat milk', done = TRUE WHERE id = 1", f->qtable);
  test_wait_clock_tick ();
  g_autoptr (CarbSyncResult) updated = sync_once (f, carb_sync_result_get_synced_until (idle), 0);
  g_assert_cmpuint (carb_sync_result_get_n_rows (updated), ==, 1);
  const Todo *milk = carb_sync_result_get_row (updated, 0);
  g_assert_cmpint (milk->id, ==, 1);
  g_assert_cmpstr (milk->title, ==, "oat milk");
  g_assert_true (milk->done);
  g_assert_cmpint (milk->last_synced_at, >, find_row (first, 1)->last_synced_at);

  /* A soft delete comes as a tombstone, exactly once. */
  test_db_exec (f->db, "UPDATE %s SET deleted = TRUE WHERE id = 2", f->qtable);
  test_wait_clock_tick ();
  g_autoptr (CarbSyncResult) deleted = sync_once (f, carb_sync_result_get_synced_until (updated), 0);
  g_assert_cmpuint (carb_sync_result_get_n_rows (deleted), ==, 1);
  g_assert_cmpint (((const Todo *) carb_sync_result_get_row (deleted, 0))->id, ==, 2);
  g_assert_true (((const Todo *) carb_sync_result_get_row (deleted, 0))->deleted);

  g_autoptr (CarbSyncResult) after = sync_once (f, carb_sync_result_get_synced_until (deleted), 0);
  g_assert_cmpuint (carb_sync_result_get_n_rows (after), ==, 0);
}

static void
test_first_sync_omits_tombstones (Fixture *f, gconstpointer backend)
{
  prepare (f);
  test_db_exec (f->db, "INSERT INTO %s (id, title) VALUES (1, 'kept'), (2, 'gone')", f->qtable);
  test_db_exec (f->db, "UPDATE %s SET deleted = TRUE WHERE id = 2", f->qtable);
  test_wait_clock_tick ();

  g_autoptr (CarbSyncResult) first = sync_once (f, NULL, 0);
  g_assert_cmpuint (carb_sync_result_get_n_rows (first), ==, 1);
  g_assert_cmpint (((const Todo *) carb_sync_result_get_row (first, 0))->id, ==, 1);

  /* A device that synced before the delete gets the tombstone. */
  g_autoptr (CarbSyncPoint) epoch = carb_sync_point_new (0);
  g_autoptr (CarbSyncResult) later = sync_once (f, epoch, 0);
  g_assert_cmpuint (carb_sync_result_get_n_rows (later), ==, 2);
  g_assert_true (find_row (later, 2)->deleted);
}

/* Rows sharing one stamp: all returned unpaged, and exactly once across
 * pages of 7 (the cursor carries the id). Stamps are set explicitly before
 * the table is prepared (the trigger would restamp them): history that
 * predates prepare_table. */
static void
test_same_timestamp (Fixture *f, gconstpointer backend)
{
  const gint64 stamp = G_GINT64_CONSTANT (1700000000123456);
  g_autofree char *literal = test_db_ts_literal (f->db, stamp);
  test_db_exec (f->db,
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000)"
                " INSERT INTO %s (id, title, last_synced_at) SELECT i, 'row ' || i, %s FROM s",
                f->qtable, literal);
  prepare (f);

  g_autoptr (CarbSyncResult) all = sync_once (f, NULL, 0);
  g_assert_cmpuint (carb_sync_result_get_n_rows (all), ==, 1000);
  g_assert_cmpint (((const Todo *) carb_sync_result_get_row (all, 0))->last_synced_at, ==, stamp);

  g_autoptr (GHashTable) seen = g_hash_table_new (NULL, NULL);
  g_autoptr (CarbSyncPoint) end = sync_all (f, NULL, 7, seen);
  g_assert_cmpuint (g_hash_table_size (seen), ==, 1000);
  GHashTableIter iter;
  gpointer key, count;
  g_hash_table_iter_init (&iter, seen);
  while (g_hash_table_iter_next (&iter, &key, &count))
    g_assert_cmpint (GPOINTER_TO_INT (count), ==, 1);
  g_assert_true (carb_sync_point_is_complete (end));
  g_assert_cmpint (carb_sync_point_get_time (end), >=, stamp);
}

static void
test_future_last_update (Fixture *f, gconstpointer backend)
{
  prepare (f);
  test_db_exec (f->db, "INSERT INTO %s (id, title) VALUES (1, 'now')", f->qtable);
  gint64 future = g_get_real_time () + G_GINT64_CONSTANT (365) * 24 * 3600 * G_USEC_PER_SEC;
  g_autoptr (CarbSyncPoint) since = carb_sync_point_new (future);

  g_autoptr (CarbSyncResult) result = sync_once (f, since, 0);
  g_assert_cmpuint (carb_sync_result_get_n_rows (result), ==, 0);
  g_assert_cmpint (carb_sync_point_get_time (carb_sync_result_get_synced_until (result)), >=, future);
}

typedef struct
{
  GHashTable *seen;
  gint64 ts_sum;
} StreamState;

static gboolean
count_row (gconstpointer row, gpointer user_data, GError **error)
{
  const Todo *todo = row;
  StreamState *state = user_data;
  g_assert_true (g_str_has_prefix (todo->title, "row "));
  g_hash_table_add (state->seen, GINT_TO_POINTER ((gint) todo->id));
  state->ts_sum += todo->last_synced_at % 1000;
  return TRUE;
}

static void
test_streaming (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  prepare (f);
  test_db_exec (f->db,
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 5000)"
                " INSERT INTO %s (id, title) SELECT i, 'row ' || i FROM s",
                f->qtable);
  test_wait_clock_tick ();

  StreamState state = { .seen = g_hash_table_new (NULL, NULL) };
  g_autoptr (CarbSyncPoint) point = NULL;
  g_assert_true (carb_store_download_sync_foreach (f->store, &f->model, NULL, 0, count_row, &state, &point,
                                                   NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (state.seen), ==, 5000);
  g_assert_nonnull (point);

  g_autoptr (CarbSyncResult) buffered = sync_once (f, NULL, 0);
  g_assert_true (carb_sync_point_get_time (carb_sync_result_get_synced_until (buffered))
                 >= carb_sync_point_get_time (point));
  g_assert_cmpuint (carb_sync_result_get_n_rows (buffered), ==, 5000);
  g_hash_table_unref (state.seen);
}

static gboolean
stop_at_ten (gconstpointer row, gpointer user_data, GError **error)
{
  guint *n = user_data;
  if (++*n < 10)
    return TRUE;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "enough");
  return FALSE;
}

/* A callback that stops the sync gets its error back and no sync point. */
static void
test_streaming_stop (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncPoint) point = NULL;
  guint n = 0;

  prepare (f);
  test_db_exec (f->db,
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100)"
                " INSERT INTO %s (id, title) SELECT i, 'row ' || i FROM s",
                f->qtable);
  test_wait_clock_tick ();
  g_assert_false (
      carb_store_download_sync_foreach (f->store, &f->model, NULL, 0, stop_at_ten, &n, &point, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (point);
  g_assert_cmpuint (n, ==, 10);

  /* The store is still usable. */
  g_autoptr (CarbSyncResult) result = sync_once (f, NULL, 0);
  g_assert_cmpuint (carb_sync_result_get_n_rows (result), ==, 100);
}

static void
test_prepare_table (Fixture *f, gconstpointer backend)
{
  prepare (f);
  prepare (f); /* a second call is a no-op */

  /* Another client inserts with a forged stamp: the database restamps it. */
  g_autofree char *forged = test_db_ts_literal (f->db, 1000);
  test_db_exec (f->db, "INSERT INTO %s (id, title, last_synced_at) VALUES (1, 'a', %s)", f->qtable, forged);
  test_wait_clock_tick ();
  g_autoptr (CarbSyncResult) first = sync_once (f, NULL, 0);
  g_assert_cmpuint (carb_sync_result_get_n_rows (first), ==, 1);
  gint64 stamped = ((const Todo *) carb_sync_result_get_row (first, 0))->last_synced_at;
  g_assert_cmpint (stamped, >, g_get_real_time () - 60 * G_USEC_PER_SEC);

  /* A plain UPDATE that does not mention the timestamp restamps the row,
   * and the next sync sees it. */
  test_db_exec (f->db, "UPDATE %s SET title = 'b' WHERE id = 1", f->qtable);
  test_wait_clock_tick ();
  g_autoptr (CarbSyncResult) next = sync_once (f, carb_sync_result_get_synced_until (first), 0);
  g_assert_cmpuint (carb_sync_result_get_n_rows (next), ==, 1);
  const Todo *row = carb_sync_result_get_row (next, 0);
  g_assert_cmpstr (row->title, ==, "b");
  g_assert_cmpint (row->last_synced_at, >, stamped);
}

static void
test_schema_mismatch (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;

  test_db_exec (f->db, "ALTER TABLE %s RENAME COLUMN note TO remark", f->qtable);
  g_assert_null (carb_store_download_sync (f->store, &f->model, NULL, 0, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, f->table));
  g_assert_nonnull (strstr (error->message, "“note” does not exist"));
  g_clear_error (&error);

  CarbModel missing = f->model;
  missing.table = "no_such_table";
  g_assert_false (carb_store_check_model (f->store, &missing, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, "no_such_table"));
}

typedef struct
{
  gint64 id;
  char *title;
  gint64 last_synced_at;
} WrongTitle;

CARB_DEFINE_STATIC_MODEL (nullable_title_model,
                          WrongTitle,
                          NULL,
                          "todos",
                          CARB_ID (WrongTitle, id, INT64),
                          CARB_COLUMN (WrongTitle, title, TEXT),
                          CARB_TIMESTAMP (WrongTitle, last_synced_at));

/* A nullable column bound to a NOT NULL member, and a column whose SQL type
 * cannot be read as the declared type, are refused by name. */
static void
test_type_mismatch (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  CarbModel model = nullable_title_model;
  model.table = f->table;

  test_db_exec (f->db, "ALTER TABLE %s RENAME COLUMN title TO old_title", f->qtable);
  test_db_exec (f->db, "ALTER TABLE %s ADD COLUMN title %s", f->qtable,
                test_db_is_postgres (f->db) ? "text" : "TEXT");
  g_assert_false (carb_store_check_model (f->store, &model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, "“title” is nullable"));
  g_clear_error (&error);

  test_db_exec (f->db, "ALTER TABLE %s DROP COLUMN title", f->qtable);
  test_db_exec (f->db, "ALTER TABLE %s ADD COLUMN title %s", f->qtable,
                test_db_is_postgres (f->db) ? "integer NOT NULL DEFAULT 0" : "INTEGER NOT NULL DEFAULT 0");
  g_assert_false (carb_store_check_model (f->store, &model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, "“title” has SQL type"));
  g_assert_nonnull (strstr (error->message, "cannot be read as TEXT"));
}

/* A store that may only read syncs: SQLite opened with mode=ro,
 * PostgreSQL with default_transaction_read_only on. */
static char *
read_only_uri (Fixture *f)
{
  if (!test_db_is_postgres (f->db))
    return g_strdup_printf ("file:%s/store.db?mode=ro", f->tmpdir);
  return g_strconcat (f->uri, strchr (f->uri, '?') != NULL ? "&" : "?",
                      "options=-c%20default_transaction_read_only%3Don", NULL);
}

static void
test_read_only (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  prepare (f);
  test_db_exec (f->db, "INSERT INTO %s (id, title) VALUES (1, 'a'), (2, 'b')", f->qtable);
  test_db_exec (f->db, "INSERT INTO %s (id, title) VALUES (3, 'c')", f->qtable);
  test_wait_clock_tick ();
  g_autofree char *ro_uri = read_only_uri (f);
  g_autoptr (CarbStore) ro = carb_store_open (ro_uri, &error);
  g_assert_no_error (error);
  /* The store really cannot write. */
  g_assert_false (carb_store_execute (ro, "CREATE TABLE carb_read_only_probe (x INTEGER)", &error));
  g_assert_nonnull (error);
  g_assert_true (strstr (error->message, "read-only") != NULL || strstr (error->message, "readonly") != NULL);
  g_clear_error (&error);

  g_autoptr (GHashTable) seen = g_hash_table_new (NULL, NULL);
  CarbSyncPoint *point = NULL;
  for (guint round = 0; round < 3; round++)
    {
      g_autoptr (CarbSyncResult) r = carb_store_download_sync (ro, &f->model, point, 0, NULL, &error);
      g_assert_no_error (error);
      for (gsize i = 0; i < carb_sync_result_get_n_rows (r); i++)
        g_hash_table_add (seen,
                          GINT_TO_POINTER ((gint) ((const Todo *) carb_sync_result_get_row (r, i))->id));
      g_clear_pointer (&point, carb_sync_point_free);
      point = carb_sync_point_copy (carb_sync_result_get_synced_until (r));
    }
  g_assert_cmpuint (g_hash_table_size (seen), ==, 3);
  carb_sync_point_free (point);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  static const TestCase tests[] = {
    TEST_CASE ("incremental", test_incremental),
    TEST_CASE ("first-sync-omits-tombstones", test_first_sync_omits_tombstones),
    TEST_CASE ("same-timestamp", test_same_timestamp),
    TEST_CASE ("future-last-update", test_future_last_update),
    TEST_CASE ("streaming", test_streaming),
    TEST_CASE ("streaming-stop", test_streaming_stop),
    TEST_CASE ("prepare-table", test_prepare_table),
    TEST_CASE ("schema-mismatch", test_schema_mismatch),
    TEST_CASE ("type-mismatch", test_type_mismatch),
    TEST_CASE ("read-only", test_read_only),
  };
  test_add_per_backend ("contract", sizeof (Fixture), (GTestFixtureFunc) fixture_set_up, tests,
                        G_N_ELEMENTS (tests), (GTestFixtureFunc) fixture_tear_down);
  return g_test_run ();
}
