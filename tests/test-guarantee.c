/* The edges of the sync point guarantee (docs/SYNC.md, "What the guarantee
 * rests on"), on every backend: each assumption the guarantee needs is
 * checked at run time, and breaking one is a clear error, never a silent
 * gap. Backend-specific edges live in test-sqlite.c and test-postgres.c.
 *
 *   not-prepared      a table without its stamping trigger (never prepared,
 *                     trigger dropped, disabled or outdated) fails
 *                     check_model and every sync with NOT_PREPARED
 *   id-not-unique     an id column that is not a unique key is refused
 *   in-transaction    a sync refuses to run inside the application's own
 *                     transaction, and leaves that transaction alone
 *   empty-text-id     a page ending on the id '' resumes from its stored
 *                     cursor
 *   has-more          only a full page says "more now"
 *   point-identity    a sync point from another table, or another store
 *                     type, is refused; so is a UUID cursor that is no UUID
 *   uuid-key-case     a UUID key stored in upper case fails the sync,
 *                     naming the fix, instead of a cursor that skips rows
 *   delete-guard      a DELETE of a live row fails (it would never reach
 *                     the devices); a tombstone may go; the guard missing
 *                     fails check_model, syncs and polls
 *   key-change        an UPDATE that changes a row's id fails (the old id
 *                     would stay on the devices)
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

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
  char *table;
  char *qtable;
  CarbModel model;
} Fixture;

static void
create_table (Fixture *f, const char *id_constraint)
{
  if (test_db_is_postgres (f->db))
    test_db_exec (
        f->db,
        "CREATE TABLE %s (id text NOT NULL %s, title text NOT NULL,"
        " deleted boolean NOT NULL DEFAULT false, ts timestamptz NOT NULL DEFAULT clock_timestamp())",
        f->qtable, id_constraint);
  else
    test_db_exec (f->db,
                  "CREATE TABLE %s (id TEXT NOT NULL %s, title TEXT NOT NULL,"
                  " deleted BOOLEAN NOT NULL DEFAULT 0, ts INTEGER NOT NULL DEFAULT 0)",
                  f->qtable, id_constraint);
}

static void
fixture_set_up (Fixture *f, gconstpointer backend)
{
  static guint counter;
  g_autoptr (GError) error = NULL;

  f->tmpdir = g_dir_make_tmp ("carb-guarantee-XXXXXX", &error);
  g_assert_no_error (error);
  f->uri = test_store_uri (backend, f->tmpdir);
  f->db = test_db_open (f->uri);
  f->table = g_strdup_printf ("notes_%d_%u", (int) getpid (), counter++);
  f->qtable = test_db_quote (f->table);
  f->model = note_model;
  f->model.table = f->table;
  f->store = carb_store_open (f->uri, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer backend)
{
  g_clear_pointer (&f->store, g_object_unref);
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TABLE IF EXISTS %s CASCADE", f->qtable);
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

/* The store's verdict on the table: check_model and a sync must agree. */
static void
assert_not_prepared (Fixture *f, const char *must_name)
{
  g_autoptr (GError) error = NULL;
  g_assert_false (carb_store_check_model (f->store, &f->model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED);
  g_test_message ("check_model: %s", error->message);
  g_assert_nonnull (strstr (error->message, f->table));
  g_assert_nonnull (strstr (error->message, must_name));
  g_assert_nonnull (strstr (error->message, "carb_store_prepare_table"));
  g_clear_error (&error);

  g_autoptr (CarbSyncPoint) since = carb_sync_point_new (0);
  g_autoptr (CarbSyncResult) r = carb_store_download_sync (f->store, &f->model, since, 0, NULL, &error);
  g_assert_null (r);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED);
  g_assert_nonnull (strstr (error->message, must_name));
}

static void
assert_syncs (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_check_model (f->store, &f->model, &error));
  g_assert_no_error (error);
  g_autoptr (CarbSyncResult) r = carb_store_download_sync (f->store, &f->model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (r);
}

/* The names of the user triggers on the table whose name starts with
 * @prefix, as the catalog has them. */
static GPtrArray *
trigger_names (Fixture *f, const char *prefix)
{
  if (test_db_is_postgres (f->db))
    return test_db_query_rows (f->db,
                               "SELECT tgname FROM pg_trigger WHERE tgrelid = '%s'::regclass"
                               " AND NOT tgisinternal AND starts_with (tgname, '%s') ORDER BY tgname",
                               f->qtable, prefix);
  return test_db_query_rows (f->db,
                             "SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = '%s'"
                             " AND substr (name, 1, length ('%s')) = '%s' ORDER BY name",
                             f->table, prefix, prefix);
}

static const char *
first_trigger (GPtrArray *names)
{
  g_assert_cmpuint (names->len, >, 0);
  return ((char **) names->pdata[0])[0];
}

/* Forgetting prepare_table, or losing the trigger afterwards, is an error
 * on check_model and on every sync, naming the trigger and the fix. */
static void
test_not_prepared (Fixture *f, gconstpointer backend)
{
  create_table (f, "PRIMARY KEY");
  test_db_exec (f->db, "INSERT INTO %s (id, title) VALUES ('a', 'x')", f->qtable);
  assert_not_prepared (f, "trigger");

  prepare (f);
  assert_syncs (f);

  /* Dropped. */
  g_autoptr (GPtrArray) names
      = trigger_names (f, test_db_is_postgres (f->db) ? "zz_carb_stamp" : "carb_stamp");
  g_autofree char *name = g_strdup (first_trigger (names));
  g_autofree char *qname = test_db_quote (name);
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TRIGGER %s ON %s", qname, f->qtable);
  else
    test_db_exec (f->db, "DROP TRIGGER %s", qname);
  assert_not_prepared (f, name);
  prepare (f);
  assert_syncs (f);

  /* Disabled (PostgreSQL; SQLite triggers cannot be disabled in the
   * schema), or outdated: stamping with another clock than the one the
   * clock source rests on. */
  if (test_db_is_postgres (f->db))
    {
      test_db_exec (f->db, "ALTER TABLE %s DISABLE TRIGGER %s", f->qtable, qname);
      assert_not_prepared (f, name);
      prepare (f);
      assert_syncs (f);

      g_autofree char *fn = test_db_query_text (
          f->db,
          "SELECT tgfoid::regprocedure FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgname = '%s'",
          f->qtable, name);
      g_strchomp (fn);
      test_db_exec (f->db,
                    "CREATE OR REPLACE FUNCTION %s RETURNS trigger LANGUAGE plpgsql AS"
                    " 'BEGIN NEW.ts := now (); RETURN NEW; END'",
                    fn);
      assert_not_prepared (f, name);
    }
  else
    {
      test_db_exec (f->db, "DROP TRIGGER %s", qname);
      test_db_exec (
          f->db,
          "CREATE TRIGGER %s AFTER INSERT ON %s FOR EACH ROW BEGIN"
          " UPDATE %s SET ts = 1000 * CAST(strftime('%%s','now') AS INTEGER) WHERE id = NEW.id; END",
          qname, f->qtable, f->qtable);
      assert_not_prepared (f, name);
    }
  prepare (f);
  assert_syncs (f);
}

/* The id must name one row: a page cursor (timestamp, id) over rows that
 * share an id skips all but one of them. */
static void
test_id_not_unique (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;

  create_table (f, "");
  g_assert_false (carb_store_check_model (f->store, &f->model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, "“id”"));
  g_assert_nonnull (strstr (error->message, "unique"));
  g_clear_error (&error);
  g_assert_false (carb_store_prepare_table (f->store, &f->model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_clear_error (&error);

  /* A unique index that covers the id alone makes it a key; one with a
   * predicate does not. */
  test_db_exec (f->db, "CREATE UNIQUE INDEX %s_partial ON %s (id) WHERE deleted", f->table, f->qtable);
  g_assert_false (carb_store_check_model (f->store, &f->model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_clear_error (&error);
  test_db_exec (f->db, "CREATE UNIQUE INDEX %s_id ON %s (id)", f->table, f->qtable);
  prepare (f);
  assert_syncs (f);
}

/* A sync never ends, commits or rolls back a transaction the application
 * opened on the store's connection: it refuses, and the application's
 * transaction goes on. */
static void
test_in_transaction (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;

  create_table (f, "PRIMARY KEY");
  prepare (f);
  g_assert_true (carb_store_execute (f->store, "BEGIN", &error));
  g_autofree char *insert = g_strdup_printf ("INSERT INTO %s (id, title) VALUES ('in-txn', 'x')", f->qtable);
  g_assert_true (carb_store_execute (f->store, insert, &error));
  g_assert_no_error (error);

  for (guint max_rows = 0; max_rows <= 1; max_rows++)
    {
      g_autoptr (CarbSyncResult) r
          = carb_store_download_sync (f->store, &f->model, NULL, max_rows, NULL, &error);
      g_assert_null (r);
      g_assert_error (error, CARB_ERROR, CARB_ERROR_IN_TRANSACTION);
      g_assert_nonnull (strstr (error->message, "transaction"));
      g_clear_error (&error);
    }
  /* Still inside it: the row is visible here and not elsewhere... */
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 0);
  /* ...and the application commits it. */
  g_assert_true (carb_store_execute (f->store, "COMMIT", &error));
  g_assert_no_error (error);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 1);

  /* The same for a transaction the application rolls back. */
  g_assert_true (carb_store_execute (f->store, "BEGIN", &error));
  g_autofree char *insert2 = g_strdup_printf ("INSERT INTO %s (id, title) VALUES ('gone', 'x')", f->qtable);
  g_assert_true (carb_store_execute (f->store, insert2, &error));
  g_autoptr (CarbSyncResult) r = carb_store_download_sync (f->store, &f->model, NULL, 0, NULL, &error);
  g_assert_null (r);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_IN_TRANSACTION);
  g_clear_error (&error);
  g_assert_true (carb_store_execute (f->store, "ROLLBACK", &error));
  g_assert_no_error (error);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 1);

  /* And the store syncs once the application's transaction is over. */
  test_wait_clock_tick ();
  g_autoptr (CarbSyncResult) after = carb_store_download_sync (f->store, &f->model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (after), ==, 1);
}

/* Every id value round-trips through a stored page cursor, the empty
 * string included. */
static void
test_empty_text_id (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;

  create_table (f, "PRIMARY KEY");
  prepare (f);
  test_db_exec (f->db, "INSERT INTO %s (id, title) VALUES ('', 'empty'), ('a', 'x'), ('b', 'y')", f->qtable);
  test_wait_clock_tick ();

  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *stored = NULL; /* what a device keeps between calls */
  gboolean more = TRUE;
  for (guint calls = 0; more; calls++)
    {
      g_assert_cmpuint (calls, <, 10);
      g_autoptr (CarbSyncPoint) since = stored != NULL ? carb_sync_point_parse (stored, &error) : NULL;
      g_assert_no_error (error);
      g_autoptr (CarbSyncResult) r = carb_store_download_sync (f->store, &f->model, since, 1, NULL, &error);
      g_assert_no_error (error);
      for (gsize i = 0; i < carb_sync_result_get_n_rows (r); i++)
        {
          const Note *note = carb_sync_result_get_row (r, i);
          g_assert_true (g_hash_table_add (seen, g_strdup (note->id))); /* never twice */
        }
      more = carb_sync_result_has_more (r);
      g_free (stored);
      stored = carb_sync_point_to_string (carb_sync_result_get_synced_until (r));
    }
  g_assert_cmpuint (g_hash_table_size (seen), ==, 3);
  g_assert_true (g_hash_table_contains (seen, ""));
}

/* has_more is TRUE for a full page only: a call that finds nothing past
 * its cursor says so, whatever the shape of the point it hands back. */
static void
test_has_more (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;

  create_table (f, "PRIMARY KEY");
  prepare (f);
  test_db_exec (f->db, "INSERT INTO %s (id, title) VALUES ('a', 'x'), ('b', 'y'), ('c', 'z')", f->qtable);
  test_wait_clock_tick ();

  g_autoptr (CarbSyncResult) full = carb_store_download_sync (f->store, &f->model, NULL, 2, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (full), ==, 2);
  g_assert_true (carb_sync_result_has_more (full));

  g_autoptr (CarbSyncResult) rest = carb_store_download_sync (
      f->store, &f->model, carb_sync_result_get_synced_until (full), 2, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (rest), ==, 1);
  g_assert_false (carb_sync_result_has_more (rest));

  /* A cursor past every stamp the clock source can vouch for yet: no row,
   * the cursor comes back, and no "call again at once". */
  g_autofree char *ahead
      = g_strdup_printf ("1.%" G_GINT64_FORMAT ".tYQ", g_get_real_time () + (gint64) G_USEC_PER_SEC * 3600);
  g_autoptr (CarbSyncPoint) cursor = carb_sync_point_parse (ahead, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr (CarbSyncResult) idle
          = carb_store_download_sync (f->store, &f->model, cursor, 2, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (carb_sync_result_get_n_rows (idle), ==, 0);
      g_assert_false (carb_sync_result_has_more (idle));
      g_assert_true (carb_sync_point_equal (carb_sync_result_get_synced_until (idle), cursor));
    }
}

static void
assert_refused (Fixture *f, const CarbModel *model, const char *text, const char *must_name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncPoint) point = carb_sync_point_parse (text, &error);
  g_assert_no_error (error);
  g_autoptr (CarbSyncResult) r = carb_store_download_sync (f->store, model, point, 0, NULL, &error);
  g_assert_null (r);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, must_name));
}

/* A point stored for one table and handed to another would skip the other
 * table's rows stamped before it: every point a sync returns names its
 * table (and store type), and a mismatch is an error. */
static void
test_point_identity (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create_table (f, "PRIMARY KEY");
  prepare (f);
  test_db_exec (f->db, "INSERT INTO %s (id, title) VALUES ('a', 'x'), ('b', 'y')", f->qtable);
  test_wait_clock_tick ();

  g_autoptr (CarbSyncResult) page = carb_store_download_sync (f->store, &f->model, NULL, 1, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *cursor = carb_sync_point_to_string (carb_sync_result_get_synced_until (page));
  g_assert_true (g_str_has_prefix (cursor, "2."));

  /* Same store, another table of the same shape. */
  g_autofree char *other_table = g_strconcat (f->table, "_b", NULL);
  g_autofree char *q_other = test_db_quote (other_table);
  CarbModel other = f->model;
  other.table = other_table;
  char *saved_q = f->qtable; /* f keeps owning it */
  f->qtable = q_other;
  create_table (f, "PRIMARY KEY");
  f->qtable = saved_q;
  g_assert_true (carb_store_prepare_table (f->store, &other, &error));
  g_assert_no_error (error);
  assert_refused (f, &other, cursor, other_table);

  /* The same table name on the other store type: change the tag's input
   * only in its backend part by computing what the other backend would
   * have written, i.e. a point whose tag differs. */
  g_auto (GStrv) parts = g_strsplit (cursor, ".", 3);
  g_autofree char *forged
      = g_strdup_printf ("2.%08x.%s", (guint) (g_ascii_strtoull (parts[1], NULL, 16) ^ 1u), parts[2]);
  assert_refused (f, &f->model, forged, f->table);

  /* Untagged (version 1) points are still taken, and come back tagged. */
  g_autofree char *v1 = g_strdup_printf ("1.%s", parts[2]);
  g_autoptr (CarbSyncPoint) old = carb_sync_point_parse (v1, &error);
  g_assert_no_error (error);
  g_autoptr (CarbSyncResult) rest = carb_store_download_sync (f->store, &f->model, old, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (rest), ==, 1);
  g_autofree char *next = carb_sync_point_to_string (carb_sync_result_get_synced_until (rest));
  g_assert_true (g_str_has_prefix (next, parts[0]) && strstr (next, parts[1]) != NULL);

  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TABLE %s", q_other);
}

/* Creates the table with a UUID id (on SQLite, of @sqlite_type) and
 * points f->model at a copy of its columns whose id is UUID: returned, to
 * g_free() once f->model is put back. */
static CarbColumn *
create_uuid_table (Fixture *f, const char *sqlite_type)
{
  if (test_db_is_postgres (f->db))
    test_db_exec (
        f->db,
        "CREATE TABLE %s (id uuid PRIMARY KEY, title text NOT NULL, deleted boolean NOT NULL DEFAULT false,"
        " ts timestamptz NOT NULL DEFAULT clock_timestamp())",
        f->qtable);
  else
    test_db_exec (
        f->db,
        "CREATE TABLE %s (id %s PRIMARY KEY, title TEXT NOT NULL, deleted BOOLEAN NOT NULL DEFAULT 0,"
        " ts INTEGER NOT NULL DEFAULT 0)",
        f->qtable, sqlite_type);
  CarbColumn *cols = g_memdup2 (f->model.columns, sizeof (CarbColumn) * f->model.n_columns);
  cols[0].type = CARB_COLUMN_TYPE_UUID;
  f->model.columns = cols;
  return cols;
}

/* On a UUID id column, a cursor id that is no canonical UUID is a
 * malformed point, not a database error. */
static void
test_uuid_cursor (Fixture *f, gconstpointer backend)
{
  CarbColumn *cols = create_uuid_table (f, "UUID");
  prepare (f);
  /* "not-a-uuid" and an upper-case UUID, base64url-encoded. */
  assert_refused (f, &f->model, "1.5.tbm90LWEtdXVpZA", "not-a-uuid");
  assert_refused (f, &f->model, "1.5.tMEI5RTVDOUMtMEQ3Qy00QzZFLTlENTUtNkYxQjBFMEEwMDAx", "0B9E5C9C");
  f->model.columns = note_model.columns;
  g_free (cols);
}

/* A UUID key is compared as the database stores it: SQLite's TEXT column
 * can hold one in upper case (legacy data, an admin's INSERT), and a page
 * cursor lower-cased from it would skip the keys sorting between the two
 * forms at the same stamp. Such a key fails the sync, naming the table,
 * the column and the fix; PostgreSQL's uuid type always answers in lower
 * case, so the same rows sync there. */
static void
test_uuid_key_case (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  CarbColumn *cols = create_uuid_table (f, "TEXT");
  /* Legacy rows, written before the table was prepared: on SQLite they
   * share the stamp 0, and as stored text 'B…' < 'a…' < 'c…', so a
   * cursor lower-cased from 'B…' would skip 'a…'. */
  test_db_exec (f->db,
                "INSERT INTO %s (id, title) VALUES"
                " ('B0000000-0000-4000-8000-000000000000', 'upper'),"
                " ('a0000000-0000-4000-8000-000000000000', 'x'),"
                " ('c0000000-0000-4000-8000-000000000000', 'y')",
                f->qtable);
  prepare (f);
  test_wait_clock_tick ();

  g_autoptr (CarbSyncResult) first = carb_store_download_sync (f->store, &f->model, NULL, 1, NULL, &error);
  if (!test_db_is_postgres (f->db))
    {
      g_assert_null (first);
      g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, f->table));
      g_assert_nonnull (strstr (error->message, "B0000000-0000-4000-8000-000000000000"));
      g_assert_nonnull (strstr (error->message, "lower(id)"));
      g_clear_error (&error);
      test_db_exec (f->db, "UPDATE %s SET id = lower(id)", f->qtable);
      test_wait_clock_tick ();
    }
  else
    g_clear_pointer (&first, carb_sync_result_unref);

  /* Page by page, every row exactly once. */
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (CarbSyncPoint) point = NULL;
  for (guint round = 0; round < 10; round++)
    {
      g_autoptr (CarbSyncResult) page
          = carb_store_download_sync (f->store, &f->model, point, 1, NULL, &error);
      g_assert_no_error (error);
      for (gsize i = 0; i < carb_sync_result_get_n_rows (page); i++)
        {
          const Note *n = carb_sync_result_get_row (page, i);
          g_assert_true (g_hash_table_add (seen, g_strdup (n->id)));
        }
      g_clear_pointer (&point, carb_sync_point_free);
      point = carb_sync_point_copy (carb_sync_result_get_synced_until (page));
      if (carb_sync_result_get_n_rows (page) == 0)
        break;
    }
  g_assert_cmpuint (g_hash_table_size (seen), ==, 3);
  g_assert_true (g_hash_table_contains (seen, "b0000000-0000-4000-8000-000000000000"));
  g_assert_true (g_hash_table_contains (seen, "a0000000-0000-4000-8000-000000000000"));
  f->model.columns = note_model.columns;
  g_free (cols);
}

/* A DELETE that is not a purge, on an SQL connection of its own. */
static gboolean
try_delete (Fixture *f, const char *id, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("DELETE FROM %s WHERE id = '%s'", f->qtable, id);
  return carb_store_execute (f->store, sql, error);
}

static gsize
count_rows (Fixture *f)
{
  return (gsize) test_db_query_int (f->db, "SELECT count (*) FROM %s", f->qtable);
}

/* Deletes sync as tombstones. A DELETE of a live row (an admin's, a
 * backend job's, an ON DELETE CASCADE) would never reach the devices that
 * hold the row: the delete guard refuses it, naming the table and the fix.
 * A tombstone may be deleted (what the purge does). The guard is checked
 * like the stamping trigger: without it, check_model, syncs and polls fail. */
static void
test_delete_guard (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create_table (f, "PRIMARY KEY");
  test_db_exec (f->db, "INSERT INTO %s (id, title) VALUES ('a', 'x'), ('b', 'y')", f->qtable);
  prepare (f);

  g_assert_false (try_delete (f, "a", &error));
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, f->table));
  g_assert_nonnull (strstr (error->message, "tombstones"));
  g_clear_error (&error);
  g_assert_cmpuint (count_rows (f), ==, 2);

  /* The soft delete syncs, then the tombstone may go. */
  g_autoptr (CarbSyncResult) first = carb_store_download_sync (f->store, &f->model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  test_db_exec (f->db, "UPDATE %s SET deleted = %s WHERE id = 'a'", f->qtable,
                test_db_is_postgres (f->db) ? "true" : "1");
  test_wait_clock_tick ();
  g_autoptr (CarbSyncResult) next = carb_store_download_sync (
      f->store, &f->model, carb_sync_result_get_synced_until (first), 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (next), ==, 1);
  g_assert_true (((const Note *) carb_sync_result_get_row (next, 0))->deleted);
  g_assert_true (try_delete (f, "a", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_rows (f), ==, 1);

  /* Without the guard the table is not prepared, for syncs and polls too. */
  g_autoptr (GPtrArray) names = trigger_names (f, "carb_keep");
  g_assert_cmpuint (names->len, ==, 1);
  g_autofree char *name = g_strdup (first_trigger (names));
  g_autofree char *qname = test_db_quote (name);
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TRIGGER %s ON %s", qname, f->qtable);
  else
    test_db_exec (f->db, "DROP TRIGGER %s", qname);
  assert_not_prepared (f, name);
  const CarbModel *models[] = { &f->model };
  const CarbSyncPoint *points[] = { carb_sync_result_get_synced_until (next) };
  gboolean changed = FALSE;
  g_assert_false (carb_store_poll (f->store, models, points, 1, &changed, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED);
  g_assert_nonnull (strstr (error->message, name));
  g_clear_error (&error);
  prepare (f);
  assert_syncs (f);
  g_assert_false (try_delete (f, "b", &error));
  g_clear_error (&error);

  if (test_db_is_postgres (f->db))
    {
      test_db_exec (f->db, "ALTER TABLE %s DISABLE TRIGGER %s", f->qtable, qname);
      assert_not_prepared (f, name);
      prepare (f);
      assert_syncs (f);
    }

  /* A model with no is-deleted column cannot sync a delete at all: its
   * table gets no guard (docs/SYNC.md). */
  CarbModel bare = f->model;
  CarbColumn cols[] = { f->model.columns[0], f->model.columns[1], f->model.columns[3] };
  bare.columns = cols;
  bare.n_columns = G_N_ELEMENTS (cols);
  g_autofree char *other = g_strconcat (f->table, "_bare", NULL);
  g_autofree char *qother = test_db_quote (other);
  bare.table = other;
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "CREATE TABLE %s (LIKE %s INCLUDING ALL)", qother, f->qtable);
  else
    test_db_exec (f->db,
                  "CREATE TABLE %s (id TEXT PRIMARY KEY, title TEXT NOT NULL, deleted BOOLEAN, ts INTEGER "
                  "NOT NULL DEFAULT 0)",
                  qother);
  carb_store_prepare_table (f->store, &bare, &error);
  g_assert_no_error (error);
  test_db_exec (f->db, "INSERT INTO %s (id, title) VALUES ('c', 'z')", qother);
  g_autofree char *drop = g_strdup_printf ("DELETE FROM %s WHERE id = 'c'", qother);
  g_assert_true (carb_store_execute (f->store, drop, &error));
  g_assert_no_error (error);
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TABLE %s", qother);
}

/* Changing a row's id takes the row away from its old id, and no sync
 * tells the devices that hold it: the stamping trigger refuses it, naming
 * the table and what to do instead. Other updates still sync. */
static void
test_key_change (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create_table (f, "PRIMARY KEY");
  test_db_exec (f->db, "INSERT INTO %s (id, title) VALUES ('a', 'x')", f->qtable);
  prepare (f);
  g_autoptr (CarbSyncResult) first = carb_store_download_sync (f->store, &f->model, NULL, 0, NULL, &error);
  g_assert_no_error (error);

  g_autofree char *rename = g_strdup_printf ("UPDATE %s SET id = 'b' WHERE id = 'a'", f->qtable);
  g_assert_false (carb_store_execute (f->store, rename, &error));
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, f->table));
  g_assert_nonnull (strstr (error->message, "changing the id"));
  g_clear_error (&error);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count (*) FROM %s WHERE id = 'a'", f->qtable), ==, 1);

  g_autofree char *retitle
      = g_strdup_printf ("UPDATE %s SET title = 'y', id = 'a' WHERE id = 'a'", f->qtable);
  g_assert_true (carb_store_execute (f->store, retitle, &error));
  g_assert_no_error (error);
  test_wait_clock_tick ();
  g_autoptr (CarbSyncResult) next = carb_store_download_sync (
      f->store, &f->model, carb_sync_result_get_synced_until (first), 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (next), ==, 1);
  g_assert_cmpstr (((const Note *) carb_sync_result_get_row (next, 0))->title, ==, "y");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  static const TestCase tests[] = {
    TEST_CASE ("not-prepared", test_not_prepared),
    TEST_CASE ("id-not-unique", test_id_not_unique),
    TEST_CASE ("in-transaction", test_in_transaction),
    TEST_CASE ("empty-text-id", test_empty_text_id),
    TEST_CASE ("has-more", test_has_more),
    TEST_CASE ("point-identity", test_point_identity),
    TEST_CASE ("uuid-cursor", test_uuid_cursor),
    TEST_CASE ("uuid-key-case", test_uuid_key_case),
    TEST_CASE ("delete-guard", test_delete_guard),
    TEST_CASE ("key-change", test_key_change),
  };
  test_add_per_backend ("guarantee", sizeof (Fixture), (GTestFixtureFunc) fixture_set_up, tests,
                        G_N_ELEMENTS (tests), (GTestFixtureFunc) fixture_tear_down);
  return g_test_run ();
}
