/* Two-way sync: the versioning trigger prepare_table installs for a model
 * with version columns (docs/TWOWAY.md, "Writes that bypass the library"),
 * on every backend. Writes here are plain SQL from another client, as an
 * administrator or a backend job would make them.
 *
 *   create-table  version columns get the backend's version type (text
 *                 COLLATE "C" on PostgreSQL); the table is prepared; a
 *                 one-way model of the same table still checks
 *   insert        every version of a row inserted without versions is set:
 *                 the database clock's HLC and the server's site id (16
 *                 zeros); a version given with the insert is kept
 *   update        a bypass UPDATE of one column versions that column only,
 *                 above its previous version; an UPDATE that also sets the
 *                 version (as the library does) keeps it, even a lower one;
 *                 an UPDATE that changes nothing in X keeps X__v; a version
 *                 written as NULL is the old one left as it was; a soft
 *                 delete versions the tombstone
 *   future        a version from year 2100 is beaten by a bypass write: its
 *                 HLC + 1
 *   one-stamp     (SQLite) the versioning trigger's UPDATE does not stamp
 *                 the row again: one clock reading per write
 *   library       carb_store_upsert_rows() keeps the versions it writes and
 *                 gets the trigger's for those it leaves NULL, above a
 *                 version from 2100, and none for a value it leaves as it
 *                 was
 *   backfill      a row without versions (written while the trigger was
 *                 gone) gets them on its next UPDATE
 *   not-prepared  without the versioning trigger, carb_store_check_model(),
 *                 a sync and a poll fail with CARB_ERROR_NOT_PREPARED naming it,
 *                 an idle poll and an idle sync from a complete point too
 *                 (PostgreSQL: the idle probe's quick check); a one-way
 *                 model's poll of the table still passes; prepare_table
 *                 puts it back
 *   sync          a sync returns the rows with their versions
 *   partitions    (PostgreSQL) the versioning trigger reaches every
 *                 partition, one attached later too; a partition whose copy
 *                 is disabled is refused by name
 *   idle-kinds    (PostgreSQL) an idle poll and an idle sync (the probe's
 *                 quick check) refuse a versioning trigger disabled,
 *                 enabled but not ALWAYS, with another function body, or
 *                 missing, and name the stamping trigger first when both
 *                 are gone; prepare_table mends each
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

typedef struct
{
  gint64 id;
  char *title;
  gint64 n;
  gboolean deleted;
  gint64 ts;
  char *title__v;
  char *n__v;
  char *deleted__v;
} Item;

CARB_DEFINE_STATIC_MODEL (item_model,
                          Item,
                          NULL,
                          "items",
                          CARB_ID (Item, id, INT64),
                          CARB_COLUMN_NULLABLE (Item, title, TEXT),
                          CARB_COLUMN (Item, n, INT64),
                          CARB_DELETED (Item, deleted),
                          CARB_TIMESTAMP (Item, ts),
                          CARB_VERSION (Item, title__v),
                          CARB_VERSION (Item, n__v),
                          CARB_VERSION (Item, deleted__v));

/* The same table seen by a one-way client: no version column. */
CARB_DEFINE_STATIC_MODEL (one_way_model,
                          Item,
                          NULL,
                          "items",
                          CARB_ID (Item, id, INT64),
                          CARB_COLUMN_NULLABLE (Item, title, TEXT),
                          CARB_TIMESTAMP (Item, ts));

#define SERVER_SITE "0000000000000000"
/* 2100-01-01T00:00:00Z in ms, as an HLC (ms << 16). */
#define HLC_2100 "0268861262643609600"

typedef struct
{
  char *tmpdir;
  char *uri;
  TestDb *db;
  CarbStore *store;
  char *table;
  char *qtable;
  CarbModel model;
  CarbModel one_way;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer backend)
{
  static guint counter;
  g_autoptr (GError) error = NULL;

  f->tmpdir = g_dir_make_tmp ("carb-versioning-XXXXXX", &error);
  g_assert_no_error (error);
  f->uri = test_store_uri (backend, f->tmpdir);
  f->db = test_db_open (f->uri);
  f->table = g_strdup_printf ("versioned_%d_%u", (int) getpid (), counter++);
  f->qtable = test_db_quote (f->table);
  f->model = item_model;
  f->model.table = f->table;
  f->one_way = one_way_model;
  f->one_way.table = f->table;
  f->store = carb_store_open (f->uri, &error);
  g_assert_no_error (error);
  g_assert_true (carb_store_create_table (f->store, &f->model, &error));
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

/* The text of column @column of row @id ("" for NULL). */
static char *
value_of (Fixture *f, gint64 id, const char *column)
{
  g_autoptr (GPtrArray) rows
      = test_db_query_rows (f->db, "SELECT %s FROM %s WHERE id = %" G_GINT64_FORMAT, column, f->qtable, id);
  g_assert_cmpuint (rows->len, ==, 1);
  return g_strdup (((GStrv) rows->pdata[0])[0]);
}

/* The HLC of a version's text form. */
static guint64
hlc_of (const char *version)
{
  g_autofree char *digits = g_strndup (version, 19);
  return g_ascii_strtoull (digits, NULL, 10);
}

/* A version the server gave: 19 digits, the server's site id, an HLC of
 * the database clock between @before_ms and now (ms since 1970). */
static void
assert_server_version (const char *version, gint64 before_ms)
{
  g_assert_cmpuint (strlen (version), ==, 35);
  for (guint i = 0; i < 19; i++)
    g_assert_true (g_ascii_isdigit (version[i]));
  g_assert_cmpstr (version + 19, ==, SERVER_SITE);
  /* The core reads it as the server's (site 0) version of that HLC, and
   * writes it back the same. */
  g_autoptr (GError) error = NULL;
  CarbVersion parsed = { 0 };
  g_assert_true (carb_version_parse (version, &parsed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (parsed.site, ==, 0);
  g_assert_cmpuint (parsed.hlc, ==, hlc_of (version));
  g_autofree char *again = carb_version_to_string (&parsed);
  g_assert_cmpstr (again, ==, version);
  g_assert_cmpuint (strlen (version), ==, CARB_VERSION_TEXT_LENGTH);
  guint64 ms = hlc_of (version) >> 16;
  /* The database's clock and ours: the same machine, 1 s of slack. */
  g_assert_cmpuint (ms, >=, (guint64) before_ms - 1000);
  g_assert_cmpuint (ms, <=, (guint64) (g_get_real_time () / 1000) + 1000);
}

static const char *
true_literal (Fixture *f)
{
  return test_db_is_postgres (f->db) ? "true" : "1";
}

static void
insert_row (Fixture *f, gint64 id)
{
  test_db_exec (f->db, "INSERT INTO %s (id, title, n) VALUES (%" G_GINT64_FORMAT ", 'a', 1)", f->qtable, id);
}

static void
test_create_table (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;

  if (test_db_is_postgres (f->db))
    g_assert_cmpint (test_db_query_int (f->db,
                                        "SELECT count (*) FROM pg_attribute a JOIN pg_collation c ON c.oid ="
                                        " a.attcollation WHERE a.attrelid = '%s'::regclass AND a.attname LIKE"
                                        " '%%\\_\\_v' AND c.collname = 'C' AND NOT a.attnotnull"
                                        " AND a.atttypid = 'text'::regtype",
                                        f->table),
                     ==, 3);
  else
    g_assert_cmpint (test_db_query_int (f->db,
                                        "SELECT count (*) FROM pragma_table_info ('%s') WHERE name LIKE '%%v'"
                                        " AND type = 'TEXT' AND \"notnull\" = 0",
                                        f->table),
                     ==, 3);
  g_assert_true (carb_store_check_model (f->store, &f->model, &error));
  g_assert_no_error (error);
  /* Idempotent, and a one-way client of the table is not disturbed. */
  g_assert_true (carb_store_prepare_table (f->store, &f->model, &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_check_model (f->store, &f->one_way, &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_table (f->store, &f->one_way, &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_check_model (f->store, &f->model, &error));
  g_assert_no_error (error);
}

static void
test_insert (Fixture *f, gconstpointer backend)
{
  gint64 before_ms = g_get_real_time () / 1000;
  const char *columns[] = { "title__v", "n__v", "deleted__v" };

  insert_row (f, 1);
  for (guint i = 0; i < G_N_ELEMENTS (columns); i++)
    {
      g_autofree char *v = value_of (f, 1, columns[i]);
      assert_server_version (v, before_ms);
    }

  /* A version given with the insert is the writer's: kept. */
  test_db_exec (f->db,
                "INSERT INTO %s (id, title, n, title__v) VALUES (2, 'b', 2, '0000000000000000007"
                "00000000deadbeef')",
                f->qtable);
  g_autofree char *given = value_of (f, 2, "title__v");
  g_assert_cmpstr (given, ==, "000000000000000000700000000deadbeef");
  g_autofree char *other = value_of (f, 2, "n__v");
  assert_server_version (other, before_ms);
}

static void
test_update (Fixture *f, gconstpointer backend)
{
  gint64 before_ms = g_get_real_time () / 1000;

  insert_row (f, 1);
  g_autofree char *title0 = value_of (f, 1, "title__v");
  g_autofree char *n0 = value_of (f, 1, "n__v");
  g_autofree char *deleted0 = value_of (f, 1, "deleted__v");

  /* A bypass write of title: only title's version moves, upwards. */
  test_db_exec (f->db, "UPDATE %s SET title = 'admin' WHERE id = 1", f->qtable);
  g_autofree char *title1 = value_of (f, 1, "title__v");
  assert_server_version (title1, before_ms);
  g_assert_cmpstr (title1, >, title0);
  g_autofree char *n1 = value_of (f, 1, "n__v");
  g_assert_cmpstr (n1, ==, n0);
  g_autofree char *deleted1 = value_of (f, 1, "deleted__v");
  g_assert_cmpstr (deleted1, ==, deleted0);

  /* The library sets the value and its version together: kept, even a
   * version below the current one (the merge decided, not the trigger). */
  test_db_exec (
      f->db, "UPDATE %s SET title = 'merged', title__v = '000000000000000000500000000deadbeef' WHERE id = 1",
      f->qtable);
  g_autofree char *title2 = value_of (f, 1, "title__v");
  g_assert_cmpstr (title2, ==, "000000000000000000500000000deadbeef");

  /* Writes that leave a column's value as it was keep its version. */
  test_db_exec (f->db, "UPDATE %s SET title = title, n = 1 WHERE id = 1", f->qtable);
  g_autofree char *title3 = value_of (f, 1, "title__v");
  g_assert_cmpstr (title3, ==, title2);
  g_autofree char *n3 = value_of (f, 1, "n__v");
  g_assert_cmpstr (n3, ==, n0);

  /* NULL to NULL is no change either; NULL to a value is one. */
  test_db_exec (f->db, "UPDATE %s SET title = NULL WHERE id = 1", f->qtable);
  g_autofree char *title4 = value_of (f, 1, "title__v");
  g_assert_cmpstr (title4, >, title3);
  test_db_exec (f->db, "UPDATE %s SET title = NULL WHERE id = 1", f->qtable);
  g_autofree char *title5 = value_of (f, 1, "title__v");
  g_assert_cmpstr (title5, ==, title4);

  /* A version written as NULL is the old one, left as it was: kept when
   * the value is, raised when it changes. */
  test_db_exec (f->db, "UPDATE %s SET n__v = NULL WHERE id = 1", f->qtable);
  g_autofree char *n5 = value_of (f, 1, "n__v");
  g_assert_cmpstr (n5, ==, n0);
  test_db_exec (f->db, "UPDATE %s SET n = 6, n__v = NULL WHERE id = 1", f->qtable);
  g_autofree char *n6 = value_of (f, 1, "n__v");
  assert_server_version (n6, before_ms);
  g_assert_cmpstr (n6, >, n0);

  /* A soft delete by hand versions the tombstone, and only it. */
  test_db_exec (f->db, "UPDATE %s SET deleted = %s WHERE id = 1", f->qtable, true_literal (f));
  g_autofree char *deleted7 = value_of (f, 1, "deleted__v");
  g_assert_cmpstr (deleted7, >, deleted0);
  g_autofree char *title7 = value_of (f, 1, "title__v");
  g_assert_cmpstr (title7, ==, title5);
}

static void
test_future (Fixture *f, gconstpointer backend)
{
  insert_row (f, 1);
  test_db_exec (f->db, "UPDATE %s SET title = 'far', title__v = '" HLC_2100 "00000000deadbeef' WHERE id = 1",
                f->qtable);
  test_db_exec (f->db, "UPDATE %s SET title = 'now' WHERE id = 1", f->qtable);
  g_autofree char *v = value_of (f, 1, "title__v");
  g_assert_cmpuint (hlc_of (v), ==, hlc_of (HLC_2100) + 1);
  g_assert_cmpstr (v + 19, ==, SERVER_SITE);
  g_assert_cmpstr (v, >, HLC_2100 "00000000deadbeef");
  /* The core's order agrees with the text order. */
  CarbVersion far = { 0 }, now = { 0 };
  g_assert_true (carb_version_parse (HLC_2100 "00000000deadbeef", &far, NULL));
  g_assert_true (carb_version_parse (v, &now, NULL));
  g_assert_cmpint (carb_version_compare (&now, &far), >, 0);
}

/* SQLite: the stamp is the clock's high-water mark, raised once per
 * write. With the mark put an hour ahead, a write stamps exactly mark + 1;
 * a second stamping (the versioning UPDATE restamping the row) would make
 * it mark + 2. */
static void
test_one_stamp (Fixture *f, gconstpointer backend)
{
  insert_row (f, 1);
  test_db_exec (f->db, "UPDATE carburetor_clock SET mark = mark + 3600000000");
  gint64 mark = test_db_query_int (f->db, "SELECT mark FROM carburetor_clock");

  insert_row (f, 2);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT ts FROM %s WHERE id = 2", f->qtable), ==, mark + 1);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT mark FROM carburetor_clock"), ==, mark + 1);

  test_db_exec (f->db, "UPDATE %s SET title = 'x' WHERE id = 1", f->qtable);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT ts FROM %s WHERE id = 1", f->qtable), ==, mark + 2);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT mark FROM carburetor_clock"), ==, mark + 2);

  /* With recursive triggers on, too. */
  test_db_exec (f->db, "PRAGMA recursive_triggers = ON; UPDATE %s SET n = 5 WHERE id = 2", f->qtable);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT ts FROM %s WHERE id = 2", f->qtable), ==, mark + 3);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count (*) FROM carburetor_versioning"), ==, 0);

  /* And a later write of the row the clock names is still stamped. */
  test_db_exec (f->db, "UPDATE %s SET n = 6 WHERE id = 2", f->qtable);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT ts FROM %s WHERE id = 2", f->qtable), ==, mark + 4);
}

static void
test_library (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  gint64 before_ms = g_get_real_time () / 1000;
  Item rows[] = {
    { .id = 1, .title = (char *) "lib", .n = 1, .title__v = (char *) "000000000000000000900000000deadbeef" },
  };

  g_assert_true (carb_store_upsert_rows (f->store, &f->model, rows, 1, &error));
  g_assert_no_error (error);
  g_autofree char *title0 = value_of (f, 1, "title__v");
  g_assert_cmpstr (title0, ==, rows[0].title__v);
  g_autofree char *n0 = value_of (f, 1, "n__v");
  assert_server_version (n0, before_ms);

  /* Again, as an update: a version written is kept, a NULL one replaced. */
  rows[0].title = (char *) "lib2";
  rows[0].title__v = (char *) "000000000000000001000000000deadbeef";
  rows[0].n = 2;
  g_assert_true (carb_store_upsert_rows (f->store, &f->model, rows, 1, &error));
  g_assert_no_error (error);
  g_autofree char *title1 = value_of (f, 1, "title__v");
  g_assert_cmpstr (title1, ==, rows[0].title__v);
  g_autofree char *n1 = value_of (f, 1, "n__v");
  g_assert_cmpstr (n1, >, n0);

  /* Versions left NULL, over a version from 2100 (the title changes) and
   * over the current one (n does not): the first is beaten, the second
   * kept. (On PostgreSQL, `excluded` would carry the version the INSERT
   * branch of the trigger made for the NULL, below 2100.) */
  test_db_exec (f->db, "UPDATE %s SET title__v = '" HLC_2100 "00000000deadbeef' WHERE id = 1", f->qtable);
  rows[0].title = (char *) "lib3";
  rows[0].title__v = NULL;
  g_assert_true (carb_store_upsert_rows (f->store, &f->model, rows, 1, &error));
  g_assert_no_error (error);
  g_autofree char *title2 = value_of (f, 1, "title__v");
  g_assert_cmpuint (hlc_of (title2), ==, hlc_of (HLC_2100) + 1);
  g_assert_cmpstr (title2 + 19, ==, SERVER_SITE);
  g_autofree char *n2 = value_of (f, 1, "n__v");
  g_assert_cmpstr (n2, ==, n1);
}

static gboolean
drop_versioning_trigger (Fixture *f, char **name)
{
  if (test_db_is_postgres (f->db))
    {
      g_autofree char *found
          = test_db_query_text (f->db,
                                "SELECT tgname FROM pg_trigger WHERE tgrelid = '%s'::regclass"
                                " AND tgname LIKE 'carb\\_version\\_%%'",
                                f->table);
      *name = g_strstrip (g_strdup (found));
    }
  else
    *name = g_strconcat ("carb_version_update_", f->table, NULL);
  g_assert_cmpstr (*name, !=, "");
  g_autofree char *quoted = test_db_quote (*name);
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TRIGGER %s ON %s", quoted, f->qtable);
  else
    test_db_exec (f->db, "DROP TRIGGER %s", quoted);
  return TRUE;
}

static void
assert_not_prepared (const GError *error, const char *trigger)
{
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED);
  if (strstr (error->message, trigger) == NULL || strstr (error->message, "carb_store_prepare_table") == NULL
      || strstr (error->message, "versioning trigger") == NULL)
    g_error ("“%s” does not name the versioning trigger “%s” and the fix", error->message, trigger);
}

static void
test_not_prepared (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *trigger = NULL;

  insert_row (f, 1);
  test_wait_clock_tick ();
  /* A complete point, from which a sync is idle: its first statement is
   * the idle probe, whose check (the quick one, the table has no child)
   * must see the versioning trigger too. */
  g_autoptr (CarbSyncResult) first = carb_store_download_sync (f->store, &f->model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (first), ==, 1);
  const CarbSyncPoint *point = carb_sync_result_get_synced_until (first);
  drop_versioning_trigger (f, &trigger);
  g_assert_false (carb_store_check_model (f->store, &f->model, &error));
  assert_not_prepared (error, trigger);
  g_clear_error (&error);

  /* Every sync checks it too. */
  g_autoptr (CarbSyncResult) none = carb_store_download_sync (f->store, &f->model, NULL, 0, NULL, &error);
  g_assert_null (none);
  assert_not_prepared (error, trigger);
  g_clear_error (&error);

  /* And a poll. */
  const CarbModel *models[] = { &f->model };
  const CarbSyncPoint *points[] = { NULL };
  gboolean changed = FALSE;
  g_assert_false (carb_store_poll (f->store, models, points, 1, &changed, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED);
  if (strstr (error->message, "versioning trigger") == NULL)
    g_error ("“%s” does not name the versioning trigger", error->message);
  g_clear_error (&error);

  /* And an idle poll and an idle sync, from the complete point. */
  const CarbSyncPoint *idle[] = { point };
  g_assert_false (carb_store_poll (f->store, models, idle, 1, &changed, NULL, &error));
  assert_not_prepared (error, trigger);
  g_clear_error (&error);
  g_autoptr (CarbSyncResult) idle_sync
      = carb_store_download_sync (f->store, &f->model, point, 0, NULL, &error);
  g_assert_null (idle_sync);
  assert_not_prepared (error, trigger);
  g_clear_error (&error);

  /* A one-way model's poll of the table does not look for it. */
  const CarbModel *one_way[] = { &f->one_way };
  g_assert_true (carb_store_poll (f->store, one_way, points, 1, &changed, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (changed);

  /* A one-way model of the table does not need it. */
  g_assert_true (carb_store_check_model (f->store, &f->one_way, &error));
  g_assert_no_error (error);

  g_assert_true (carb_store_prepare_table (f->store, &f->model, &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_check_model (f->store, &f->model, &error));
  g_assert_no_error (error);
  g_autofree char *before = value_of (f, 1, "title__v");
  test_db_exec (f->db, "UPDATE %s SET title = 'back' WHERE id = 1", f->qtable);
  g_autofree char *after = value_of (f, 1, "title__v");
  g_assert_cmpstr (after, >, before);
}

static void
test_backfill (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *trigger = NULL;
  gint64 before_ms = g_get_real_time () / 1000;

  insert_row (f, 1);
  drop_versioning_trigger (f, &trigger);
  test_db_exec (f->db, "UPDATE %s SET title__v = NULL, n__v = NULL WHERE id = 1", f->qtable);
  g_autofree char *none = value_of (f, 1, "title__v");
  g_assert_cmpstr (none, ==, "");
  g_assert_true (carb_store_prepare_table (f->store, &f->model, &error));
  g_assert_no_error (error);

  test_db_exec (f->db, "UPDATE %s SET n = n WHERE id = 1", f->qtable);
  g_autofree char *title = value_of (f, 1, "title__v");
  assert_server_version (title, before_ms);
  g_autofree char *n = value_of (f, 1, "n__v");
  assert_server_version (n, before_ms);
}

static void
test_sync (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;

  insert_row (f, 1);
  insert_row (f, 2);
  test_db_exec (f->db, "UPDATE %s SET title = 'admin' WHERE id = 2", f->qtable);
  test_wait_clock_tick ();
  g_autoptr (CarbSyncResult) r = carb_store_download_sync (f->store, &f->model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (r), ==, 2);
  for (gsize i = 0; i < 2; i++)
    {
      const Item *row = carb_sync_result_get_row (r, i);
      g_autofree char *title = value_of (f, row->id, "title__v");
      g_autofree char *n = value_of (f, row->id, "n__v");
      g_autofree char *deleted = value_of (f, row->id, "deleted__v");
      g_assert_cmpstr (row->title__v, ==, title);
      g_assert_cmpstr (row->n__v, ==, n);
      g_assert_cmpstr (row->deleted__v, ==, deleted);
      g_assert_cmpstr (row->title__v + 19, ==, SERVER_SITE);
    }

  /* The bypass write syncs as a change, with its new version. */
  g_autofree char *before = value_of (f, 1, "title__v");
  test_db_exec (f->db, "UPDATE %s SET title = 'later' WHERE id = 1", f->qtable);
  test_wait_clock_tick ();
  g_autoptr (CarbSyncResult) next = carb_store_download_sync (
      f->store, &f->model, carb_sync_result_get_synced_until (r), 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (next), ==, 1);
  const Item *row = carb_sync_result_get_row (next, 0);
  g_assert_cmpint (row->id, ==, 1);
  g_assert_cmpstr (row->title, ==, "later");
  g_assert_cmpstr (row->title__v, >, before);
}

static void
test_partitions (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;

  g_autofree char *p1 = g_strconcat (f->table, "_p1", NULL);
  g_autofree char *p2 = g_strconcat (f->table, "_p2", NULL);
  g_autofree char *qp1 = test_db_quote (p1);
  g_autofree char *qp2 = test_db_quote (p2);
  test_db_exec (f->db, "DROP TABLE %s", f->qtable);
  test_db_exec (f->db,
                "CREATE TABLE %s (id bigint PRIMARY KEY, title text, n bigint NOT NULL,"
                " deleted boolean NOT NULL DEFAULT false, ts timestamptz NOT NULL DEFAULT clock_timestamp (),"
                " title__v text COLLATE \"C\", n__v text COLLATE \"C\", deleted__v text COLLATE \"C\")"
                " PARTITION BY RANGE (id)",
                f->qtable);
  test_db_exec (f->db, "CREATE TABLE %s PARTITION OF %s FOR VALUES FROM (0) TO (100)", qp1, f->qtable);
  g_assert_true (carb_store_prepare_table (f->store, &f->model, &error));
  g_assert_no_error (error);
  test_db_exec (f->db, "CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS)", qp2, f->qtable);
  test_db_exec (f->db, "ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (100) TO (200)", f->qtable, qp2);
  g_assert_true (carb_store_check_model (f->store, &f->model, &error));
  g_assert_no_error (error);

  gint64 before_ms = g_get_real_time () / 1000;
  test_db_exec (f->db, "INSERT INTO %s (id, title, n) VALUES (1, 'a', 1), (101, 'b', 1)", f->qtable);
  test_db_exec (f->db, "INSERT INTO %s (id, title, n) VALUES (102, 'c', 1)", qp2);
  test_db_exec (f->db, "UPDATE %s SET title__v = NULL WHERE id = 102", qp2); /* as it was */
  const gint64 ids[] = { 1, 101, 102 };
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      g_autofree char *v = value_of (f, ids[i], "title__v");
      assert_server_version (v, before_ms);
    }

  g_autofree char *name = test_db_query_text (f->db,
                                              "SELECT tgname FROM pg_trigger WHERE tgrelid = '%s'::regclass"
                                              " AND tgname LIKE 'carb\\_version\\_%%'",
                                              f->table);
  g_autofree char *trigger = g_strstrip (g_strdup (name));
  g_autofree char *qtrigger = test_db_quote (trigger);
  test_db_exec (f->db, "ALTER TABLE %s DISABLE TRIGGER %s", qp2, qtrigger);
  g_assert_false (carb_store_check_model (f->store, &f->model, &error));
  assert_not_prepared (error, trigger);
  if (strstr (error->message, p2) == NULL)
    g_error ("“%s” does not name the partition “%s”", error->message, p2);
  g_clear_error (&error);
  g_assert_true (carb_store_prepare_table (f->store, &f->model, &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_check_model (f->store, &f->model, &error));
  g_assert_no_error (error);
}

/* The name of the table's trigger whose name starts with @prefix. */
static char *
trigger_named (Fixture *f, const char *prefix)
{
  g_autofree char *found = test_db_query_text (f->db,
                                               "SELECT tgname FROM pg_trigger WHERE tgrelid = '%s'::regclass"
                                               " AND tgname LIKE '%s%%'",
                                               f->table, prefix);
  char *name = g_strstrip (g_strdup (found));
  g_assert_cmpstr (name, !=, "");
  return name;
}

/* An idle poll and an idle sync from @point refuse the table, the error
 * containing @must_say. */
static void
assert_idle_refused (Fixture *f, const CarbSyncPoint *point, const char *must_say)
{
  g_autoptr (GError) error = NULL;
  const CarbModel *models[] = { &f->model };
  const CarbSyncPoint *points[] = { point };
  gboolean changed = FALSE;

  g_assert_false (carb_store_poll (f->store, models, points, 1, &changed, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED);
  if (strstr (error->message, must_say) == NULL)
    g_error ("poll: “%s” does not say “%s”", error->message, must_say);
  g_clear_error (&error);
  g_autoptr (CarbSyncResult) r = carb_store_download_sync (f->store, &f->model, point, 0, NULL, &error);
  g_assert_null (r);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED);
  if (strstr (error->message, must_say) == NULL)
    g_error ("idle sync: “%s” does not say “%s”", error->message, must_say);
}

/* (PostgreSQL) The idle probe's quick check of a table without children
 * tells each way the versioning trigger can be wrong, as the full check
 * does, and the stamping trigger first when both are gone; after
 * prepare_table the idle poll passes again. */
static void
test_idle_kinds (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (carb_store_prepare_table (f->store, &f->model, &error));
  g_assert_no_error (error);
  insert_row (f, 1);
  test_wait_clock_tick ();
  g_autoptr (CarbSyncResult) first = carb_store_download_sync (f->store, &f->model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  const CarbSyncPoint *point = carb_sync_result_get_synced_until (first);
  g_autofree char *version = trigger_named (f, "carb\\_version\\_");
  g_autofree char *stamp = trigger_named (f, "zz\\_carb\\_stamp\\_");
  g_autofree char *qversion = test_db_quote (version);
  g_autofree char *qstamp = test_db_quote (stamp);

  const char *t = f->qtable;
  g_autofree char *disable = g_strdup_printf ("ALTER TABLE %s DISABLE TRIGGER %s", t, qversion);
  g_autofree char *origin = g_strdup_printf ("ALTER TABLE %s ENABLE TRIGGER %s", t, qversion);
  g_autofree char *other = g_strdup_printf ("CREATE OR REPLACE FUNCTION %s () RETURNS trigger"
                                            " LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'",
                                            qversion);
  g_autofree char *drop = g_strdup_printf ("DROP TRIGGER %s ON %s", qversion, t);
  g_autofree char *both
      = g_strdup_printf ("DROP TRIGGER %s ON %s; DROP TRIGGER %s ON %s", qversion, t, qstamp, t);
  const struct
  {
    const char *sql;
    const char *must_say;
  } breaks[] = {
    { disable, "is not enabled ALWAYS" }, { origin, "is not enabled ALWAYS" },
    { other, "is not the current one" },  { drop, "is missing" },
    { both, "stamping trigger" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (breaks); i++)
    {
      g_autoptr (GError) local = NULL;
      test_db_exec (f->db, "%s", breaks[i].sql);
      assert_idle_refused (f, point, breaks[i].must_say);
      /* The stamping trigger's problem comes first, and only the
       * versioning trigger's message names it. */
      g_autoptr (CarbSyncResult) r = carb_store_download_sync (f->store, &f->model, point, 0, NULL, &local);
      g_assert_nonnull (local);
      g_assert_true ((strstr (local->message, "versioning trigger") != NULL)
                     == (i + 1 < G_N_ELEMENTS (breaks)));
      g_clear_error (&local);

      g_assert_true (carb_store_prepare_table (f->store, &f->model, &local));
      g_assert_no_error (local);
      gboolean changed = TRUE;
      const CarbModel *models[] = { &f->model };
      const CarbSyncPoint *points[] = { point };
      g_assert_true (carb_store_poll (f->store, models, points, 1, &changed, NULL, &local));
      g_assert_no_error (local);
      g_assert_false (changed);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  static const TestCase tests[] = {
    TEST_CASE ("create-table", test_create_table),
    TEST_CASE ("insert", test_insert),
    TEST_CASE ("update", test_update),
    TEST_CASE ("future", test_future),
    TEST_CASE_ON ("sqlite", "one-stamp", test_one_stamp),
    TEST_CASE ("library", test_library),
    TEST_CASE ("not-prepared", test_not_prepared),
    TEST_CASE ("backfill", test_backfill),
    TEST_CASE ("sync", test_sync),
    TEST_CASE_ON ("postgres", "partitions", test_partitions),
    TEST_CASE_ON ("postgres", "idle-kinds", test_idle_kinds),
  };
  test_add_per_backend ("versioning", sizeof (Fixture), (GTestFixtureFunc) fixture_set_up, tests,
                        G_N_ELEMENTS (tests), (GTestFixtureFunc) fixture_tear_down);
  return g_test_run ();
}
