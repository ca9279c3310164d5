/* Writing without writing SQL, on every backend.
 *
 *   create-table     the DDL from a model: types that read back as the
 *                    model's, NOT NULL, defaults (an insert that leaves the
 *                    stamp out passes on SQLite); idempotent; prepared
 *   upsert-types     every type written from structs syncs back equal,
 *                    NULLs and edge values included; a retry changes no
 *                    value; a later upsert syncs as a change
 *   upsert-atomic    a bad row (NULL in NOT NULL) fails naming row and
 *                    column, and no row of the call is written
 *   delete           soft delete syncs as a tombstone; a model without a
 *                    tombstone column is refused
 *   variant          aa{sv} rows for bindings: typo keys, wrong types and
 *                    missing NOT NULL values are errors naming them
 *   params           execute_with_params binds values verbatim (quotes, a
 *                    would-be injection), counts changed rows, refuses
 *                    unsupported types; a $k in a literal or comment is
 *                    text
 *   not-prepared     writes to a table that is not prepared are refused:
 *                    a row written without its stamp might never sync
 *   app-transaction  writes inside the application's transaction join it:
 *                    its ROLLBACK undoes them
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

typedef struct
{
  gint64 id;
  char *t;
  gint16 i16;
  gint32 i32;
  gint64 i64;
  gfloat f32;
  gdouble f64;
  gboolean b;
  gint64 at;
  gint32 day;
  char *u;
  char *j;
  CarbBytes by;
  char *num;
  char *t_n;
  gint64 i64_n;
  gboolean i64_n_null;
  gboolean deleted;
  gint64 ts;
} Row;

CARB_DEFINE_STATIC_MODEL (row_model,
                          Row,
                          NULL,
                          "rows",
                          CARB_ID (Row, id, INT64),
                          CARB_COLUMN (Row, t, TEXT),
                          CARB_COLUMN (Row, i16, INT16),
                          CARB_COLUMN (Row, i32, INT32),
                          CARB_COLUMN (Row, i64, INT64),
                          CARB_COLUMN (Row, f32, FLOAT),
                          CARB_COLUMN (Row, f64, DOUBLE),
                          CARB_COLUMN (Row, b, BOOL),
                          CARB_COLUMN (Row, at, TIMESTAMP),
                          CARB_COLUMN (Row, day, DATE),
                          CARB_COLUMN (Row, u, UUID),
                          CARB_COLUMN (Row, j, JSON),
                          CARB_COLUMN (Row, by, BYTES),
                          CARB_COLUMN (Row, num, NUMERIC),
                          CARB_COLUMN_NULLABLE (Row, t_n, TEXT),
                          CARB_COLUMN_NULLABLE_FLAG (Row, i64_n, INT64, i64_n_null),
                          CARB_DELETED (Row, deleted),
                          CARB_TIMESTAMP (Row, ts));

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
fixture_set_up (Fixture *f, gconstpointer backend)
{
  static guint counter;
  g_autoptr (GError) error = NULL;

  f->tmpdir = g_dir_make_tmp ("carb-write-XXXXXX", &error);
  g_assert_no_error (error);
  f->uri = test_store_uri (backend, f->tmpdir);
  f->db = test_db_open (f->uri);
  f->table = g_strdup_printf ("rows_%d_%u", (int) getpid (), counter++);
  f->qtable = test_db_quote (f->table);
  f->model = row_model;
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
create (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_create_table (f->store, &f->model, &error));
  g_assert_no_error (error);
}

static Row
sample (gint64 id)
{
  static const guint8 blob[] = { 0, 1, 255 };
  return (Row){
    .id = id,
    .t = (char *) "it's \"quoted\"; DROP TABLE x; -- ✓",
    .i16 = G_MININT16,
    .i32 = G_MAXINT32,
    .i64 = G_GINT64_CONSTANT (9007199254740993),
    .f32 = 0.5f,
    .f64 = -1e300,
    .b = TRUE,
    .at = G_GINT64_CONSTANT (1732523000123456),
    .day = 19723,
    .u = (char *) "0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a0001",
    .j = (char *) "{\"k\": [1, 2]}",
    .by = { blob, sizeof blob },
    .num = (char *) "12.50",
    .t_n = NULL,
    .i64_n_null = TRUE,
  };
}

static CarbSyncResult *
sync_from (Fixture *f, const CarbSyncPoint *since)
{
  g_autoptr (GError) error = NULL;
  test_wait_clock_tick ();
  CarbSyncResult *r = carb_store_download_sync (f->store, &f->model, since, 0, NULL, &error);
  g_assert_no_error (error);
  return r;
}

static void
assert_rows_equal (const Row *a, const Row *b)
{
  g_assert_cmpint (a->id, ==, b->id);
  g_assert_cmpstr (a->t, ==, b->t);
  g_assert_cmpint (a->i16, ==, b->i16);
  g_assert_cmpint (a->i32, ==, b->i32);
  g_assert_cmpint (a->i64, ==, b->i64);
  g_assert_cmpfloat (a->f32, ==, b->f32);
  g_assert_cmpfloat (a->f64, ==, b->f64);
  g_assert_cmpint (a->b, ==, b->b);
  g_assert_cmpint (a->at, ==, b->at);
  g_assert_cmpint (a->day, ==, b->day);
  g_assert_cmpstr (a->u, ==, b->u);
  g_assert_cmpmem (a->by.data, a->by.len, b->by.data, b->by.len);
  g_assert_cmpstr (a->num, ==, b->num);
  g_assert_cmpstr (a->t_n, ==, b->t_n);
  g_assert_cmpint (a->i64_n_null, ==, b->i64_n_null);
  if (!a->i64_n_null)
    g_assert_cmpint (a->i64_n, ==, b->i64_n);
  g_assert_cmpint (a->deleted, ==, b->deleted);
}

static void
test_create_table (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create (f);
  create (f); /* idempotent */
  g_assert_true (carb_store_check_model (f->store, &f->model, &error));
  g_assert_no_error (error);

  /* An insert that names only the NOT NULL data columns passes: the stamp
   * and the tombstone have defaults, and the trigger stamps the row. */
  test_db_exec (
      f->db,
      "INSERT INTO %s (id, t, i16, i32, i64, f32, f64, b, at, day, u, j, by, num)"
      " VALUES (7, 'x', 1, 1, 1, 1, 1, %s, %s, %s, '0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a0002', '[]', %s, '1')",
      f->qtable, test_db_is_postgres (f->db) ? "true" : "1", test_db_is_postgres (f->db) ? "now ()" : "0",
      test_db_is_postgres (f->db) ? "current_date" : "0", test_db_is_postgres (f->db) ? "''::bytea" : "X''");
  g_autoptr (CarbSyncResult) r = sync_from (f, NULL);
  g_assert_cmpuint (carb_sync_result_get_n_rows (r), ==, 1);
  const Row *row = carb_sync_result_get_row (r, 0);
  g_assert_cmpint (row->ts, >, G_GINT64_CONSTANT (1700000000000000));
  g_assert_false (row->deleted);

  /* A NOT NULL column refuses NULL in the table itself. */
  g_assert_false (test_db_try_exec (f->db, &error, "UPDATE %s SET t = NULL", f->qtable));
  g_clear_error (&error);
}

static void
test_upsert_types (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create (f);
  Row rows[3] = { sample (1), sample (2), sample (3) };
  rows[1].t_n = (char *) "";
  rows[1].i64_n = -1;
  rows[1].i64_n_null = FALSE;
  rows[2].by = (CarbBytes){ (const guint8 *) "", 0 }; /* empty, not NULL */
  rows[2].u = (char *) "0B9E5C9C-0D7C-4C6E-9D55-6F1B0E0A0003";

  g_assert_true (carb_store_upsert_rows (f->store, &f->model, rows, 3, &error));
  g_assert_no_error (error);
  g_autoptr (CarbSyncResult) first = sync_from (f, NULL);
  g_assert_cmpuint (carb_sync_result_get_n_rows (first), ==, 3);
  rows[2].u = (char *) "0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a0003"; /* delivered canonical */
  for (guint i = 0; i < 3; i++)
    {
      const Row *got = carb_sync_result_get_row (first, i);
      assert_rows_equal (got, &rows[got->id - 1]);
    }

  /* A retry writes the same values: still three rows, still equal. */
  g_assert_true (carb_store_upsert_rows (f->store, &f->model, rows, 3, &error));
  g_assert_no_error (error);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 3);

  /* A change syncs as a change, from the first sync's point. */
  const CarbSyncPoint *point = carb_sync_result_get_synced_until (first);
  g_autoptr (CarbSyncResult) idle = sync_from (f, point);
  g_assert_cmpuint (carb_sync_result_get_n_rows (idle), ==, 3); /* the retry restamped them */
  rows[0].t = (char *) "changed";
  g_assert_true (carb_store_upsert_rows (f->store, &f->model, rows, 1, &error));
  g_autoptr (CarbSyncResult) next = sync_from (f, carb_sync_result_get_synced_until (idle));
  g_assert_cmpuint (carb_sync_result_get_n_rows (next), ==, 1);
  g_assert_cmpstr (((const Row *) carb_sync_result_get_row (next, 0))->t, ==, "changed");
}

static void
test_upsert_atomic (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create (f);
  Row rows[2] = { sample (1), sample (2) };
  rows[1].num = NULL;
  g_assert_false (carb_store_upsert_rows (f->store, &f->model, rows, 2, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, f->table));
  g_assert_nonnull (strstr (error->message, "row 1"));
  g_assert_nonnull (strstr (error->message, "“num”"));
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 0);

  /* A value the database refuses (a UUID column given no UUID): the
   * database's error, and again nothing written. */
  g_clear_error (&error);
  rows[1] = sample (2);
  rows[1].u = (char *) "not-a-uuid";
  gboolean ok = carb_store_upsert_rows (f->store, &f->model, rows, 2, &error);
  if (test_db_is_postgres (f->db))
    {
      g_assert_false (ok);
      g_assert_error (error, CARB_ERROR, CARB_ERROR_QUERY);
      g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 0);
    }
  else
    {
      /* SQLite stores any text; the sync refuses to deliver it. */
      g_assert_true (ok);
      test_wait_clock_tick ();
      g_autoptr (CarbSyncResult) r = carb_store_download_sync (f->store, &f->model, NULL, 0, NULL, &error);
      g_assert_null (r);
      g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
    }
}

typedef struct
{
  gint64 id;
  gint64 ts;
} Bare;

CARB_DEFINE_STATIC_MODEL (
    bare_model, Bare, NULL, "bare", CARB_ID (Bare, id, INT64), CARB_TIMESTAMP (Bare, ts));

static void
test_delete (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create (f);
  Row rows[2] = { sample (1), sample (2) };
  g_assert_true (carb_store_upsert_rows (f->store, &f->model, rows, 2, &error));
  g_autoptr (CarbSyncResult) first = sync_from (f, NULL);

  Row only_id = { .id = 2 };
  g_assert_true (carb_store_delete_rows (f->store, &f->model, &only_id, 1, &error));
  g_assert_no_error (error);
  g_autoptr (CarbSyncResult) next = sync_from (f, carb_sync_result_get_synced_until (first));
  g_assert_cmpuint (carb_sync_result_get_n_rows (next), ==, 1);
  const Row *gone = carb_sync_result_get_row (next, 0);
  g_assert_cmpint (gone->id, ==, 2);
  g_assert_true (gone->deleted);
  g_assert_cmpstr (gone->t, ==, rows[1].t);

  CarbModel bare = bare_model;
  g_autofree char *bare_table = g_strconcat (f->table, "_bare", NULL);
  bare.table = bare_table;
  g_assert_true (carb_store_create_table (f->store, &bare, &error));
  Bare b = { .id = 1 };
  g_assert_false (carb_store_delete_rows (f->store, &bare, &b, 1, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr (error->message, "is-deleted"));
  if (test_db_is_postgres (f->db))
    {
      g_autofree char *q = test_db_quote (bare_table);
      test_db_exec (f->db, "DROP TABLE %s", q);
    }
}

static void
assert_variant_refused (Fixture *f, const char *rows_text, const char *must_name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) rows = g_variant_parse (G_VARIANT_TYPE ("aa{sv}"), rows_text, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (carb_store_upsert_variant (f->store, &f->model, rows, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, must_name));
}

#define GOOD_VARIANT                                                                                         \
  "'id': <int64 5>, 't': <'v'>, 'i16': <int16 -3>, 'i32': <7>, 'i64': <int64 8>, 'f32': <0.25>, 'f64': "     \
  "<2.5>,"                                                                                                   \
  " 'b': <false>, 'at': <int64 1732523000000000>, 'day': <19000>,"                                           \
  " 'u': <'0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a0005'>, 'j': <'null'>, 'by': <[byte 0x72, 0x61, 0x77]>, 'num': "  \
  "<'-1'>"

static void
test_variant (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create (f);
  g_autoptr (GVariant) good = g_variant_parse (
      G_VARIANT_TYPE ("aa{sv}"), "[{" GOOD_VARIANT ", 't_n': <@ms nothing>, 'i64_n': <@mx just 9>}]", NULL,
      NULL, &error);
  g_assert_no_error (error);
  g_assert_true (carb_store_upsert_variant (f->store, &f->model, good, &error));
  g_assert_no_error (error);
  g_autoptr (CarbSyncResult) r = sync_from (f, NULL);
  g_assert_cmpuint (carb_sync_result_get_n_rows (r), ==, 1);
  const Row *row = carb_sync_result_get_row (r, 0);
  g_assert_cmpint (row->i16, ==, -3);
  g_assert_cmpmem (row->by.data, row->by.len, "raw", 3);
  g_assert_null (row->t_n);
  g_assert_false (row->i64_n_null);
  g_assert_cmpint (row->i64_n, ==, 9);

  assert_variant_refused (f, "[{" GOOD_VARIANT ", 'titel': <'typo'>}]", "“titel”");
  assert_variant_refused (f, "[{'id': <int64 6>, 't': <'x'>}]", "“i16”");
  assert_variant_refused (f, "[{" GOOD_VARIANT "}, {'id': <'six'>}]", "row 1");
  assert_variant_refused (f, "[{'id': <int64 6>, 't': <'x'>, 'i16': <70000>}]", "does not fit");
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 1);
}

static void
test_params (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  guint64 changed = 99;
  const char *evil = "x'); DROP TABLE y; --\"";
  g_autofree char *pt = g_strconcat (f->table, "_p", NULL);
  g_autofree char *create_sql = g_strdup_printf (
      "CREATE TABLE %s (a %s, b %s, c %s, d %s)", pt, test_db_is_postgres (f->db) ? "text" : "TEXT",
      test_db_is_postgres (f->db) ? "bigint" : "INTEGER", test_db_is_postgres (f->db) ? "bytea" : "BLOB",
      test_db_is_postgres (f->db) ? "boolean" : "BOOLEAN");
  g_autofree char *insert_sql = g_strdup_printf ("INSERT INTO %s (a, b, c, d) VALUES ($1, $2, $3, $4)", pt);
  g_autofree char *update_sql = g_strdup_printf ("UPDATE %s SET b = $1 WHERE a = $2 OR b = $1", pt);

  g_assert_true (carb_store_execute_with_params (f->store, create_sql, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_execute_with_params (
      f->store, insert_sql,
      g_variant_new ("(sx@ayb)", evil, G_GINT64_CONSTANT (-5), g_variant_new_bytestring ("\x01"), TRUE),
      &changed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (changed, ==, 1);
  g_assert_true (carb_store_execute_with_params (
      f->store, update_sql, g_variant_new ("(xs)", G_GINT64_CONSTANT (6), evil), &changed, &error));
  g_assert_cmpuint (changed, ==, 1);
  g_assert_true (
      carb_store_execute_with_params (f->store, "SELECT $1", g_variant_new ("(ms)", NULL), &changed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (changed, ==, 0);
  g_autoptr (GPtrArray) stored = test_db_query_rows (f->db, "SELECT a, b FROM %s", pt);
  g_assert_cmpuint (stored->len, ==, 1);
  g_assert_cmpstr (((char **) stored->pdata[0])[0], ==, evil);
  g_assert_cmpstr (((char **) stored->pdata[0])[1], ==, "6");
  /* A $k inside a literal, a quoted name or a comment is text, not a
   * placeholder (SQLite's statements are rewritten to ?k). */
  g_autofree char *quoted_sql
      = g_strdup_printf ("INSERT INTO %s (a, \"b\") VALUES ('$2 /* $1 */ '' -- $2', $1) -- $3 '", pt);
  g_assert_true (carb_store_execute_with_params (
      f->store, quoted_sql, g_variant_new ("(x)", G_GINT64_CONSTANT (7)), &changed, &error));
  g_assert_no_error (error);
  g_autoptr (GPtrArray) quoted = test_db_query_rows (f->db, "SELECT a FROM %s WHERE b = 7", pt);
  g_assert_cmpuint (quoted->len, ==, 1);
  g_assert_cmpstr (((char **) quoted->pdata[0])[0], ==, "$2 /* $1 */ ' -- $2");

  g_assert_false (
      carb_store_execute_with_params (f->store, "SELECT $1", g_variant_new ("((ii))", 1, 2), NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "$1"));
  g_clear_error (&error);
  g_assert_false (
      carb_store_execute_with_params (f->store, "SELECT * FROM no_such_table_w", NULL, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_QUERY);
  g_clear_error (&error);
  test_db_exec (f->db, "DROP TABLE %s", pt);
}

static void
test_not_prepared (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create (f);
  /* The same table without its stamping trigger. */
  g_autoptr (GPtrArray) triggers
      = test_db_is_postgres (f->db)
            ? test_db_query_rows (
                f->db, "SELECT tgname FROM pg_trigger WHERE tgrelid = '%s'::regclass AND NOT tgisinternal",
                f->qtable)
            : test_db_query_rows (
                f->db, "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = '%s'", f->table);
  g_assert_cmpuint (triggers->len, >, 0);
  for (guint i = 0; i < triggers->len; i++)
    {
      g_autofree char *q = test_db_quote (((char **) triggers->pdata[i])[0]);
      if (test_db_is_postgres (f->db))
        test_db_exec (f->db, "DROP TRIGGER %s ON %s", q, f->qtable);
      else
        test_db_exec (f->db, "DROP TRIGGER %s", q);
    }
  Row row = sample (1);
  g_assert_false (carb_store_upsert_rows (f->store, &f->model, &row, 1, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED);
  g_assert_nonnull (strstr (error->message, f->table));
  g_clear_error (&error);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 0);
  /* create_table prepares an existing table again. */
  create (f);
  g_assert_true (carb_store_upsert_rows (f->store, &f->model, &row, 1, &error));
  g_assert_no_error (error);
}

static void
test_app_transaction (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create (f);
  Row row = sample (1);
  g_assert_true (carb_store_execute (f->store, "BEGIN", &error));
  g_assert_true (carb_store_upsert_rows (f->store, &f->model, &row, 1, &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_execute (f->store, "ROLLBACK", &error));
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 0);

  g_assert_true (carb_store_execute (f->store, "BEGIN", &error));
  g_assert_true (carb_store_upsert_rows (f->store, &f->model, &row, 1, &error));
  g_assert_true (carb_store_execute (f->store, "COMMIT", &error));
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  static const TestCase tests[] = {
    TEST_CASE ("create-table", test_create_table),
    TEST_CASE ("upsert-types", test_upsert_types),
    TEST_CASE ("upsert-atomic", test_upsert_atomic),
    TEST_CASE ("delete", test_delete),
    TEST_CASE ("variant", test_variant),
    TEST_CASE ("params", test_params),
    TEST_CASE ("not-prepared", test_not_prepared),
    TEST_CASE ("app-transaction", test_app_transaction),
  };
  test_add_per_backend ("write", sizeof (Fixture), (GTestFixtureFunc) fixture_set_up, tests,
                        G_N_ELEMENTS (tests), (GTestFixtureFunc) fixture_tear_down);
  return g_test_run ();
}
