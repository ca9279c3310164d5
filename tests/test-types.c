/* Every supported type round-trips exactly on every backend: edges, NULLs,
 * odd text and bytes. docs/TYPES.md is the table these tests hold to.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

typedef struct
{
  gint64 id;
  gint64 last_synced_at;
  char *t;
  gint16 i16;
  gint32 i32;
  gint64 i64;
  gfloat f32;
  gdouble f64;
  gboolean b;
  gint64 ts;
  gint32 d;
  char *u;
  char *j;
  CarbBytes by;
  char *num;
  /* nullable twins */
  char *t_n;
  gint64 i64_n;
  gboolean i64_n_null;
  gdouble f64_n;
  gboolean f64_n_null;
  CarbBytes by_n;
} Value;

CARB_DEFINE_STATIC_MODEL (value_model,
                          Value,
                          NULL,
                          "values",
                          CARB_ID (Value, id, INT64),
                          CARB_TIMESTAMP (Value, last_synced_at),
                          CARB_COLUMN (Value, t, TEXT),
                          CARB_COLUMN (Value, i16, INT16),
                          CARB_COLUMN (Value, i32, INT32),
                          CARB_COLUMN (Value, i64, INT64),
                          CARB_COLUMN (Value, f32, FLOAT),
                          CARB_COLUMN (Value, f64, DOUBLE),
                          CARB_COLUMN (Value, b, BOOL),
                          CARB_COLUMN (Value, ts, TIMESTAMP),
                          CARB_COLUMN (Value, d, DATE),
                          CARB_COLUMN (Value, u, UUID),
                          CARB_COLUMN (Value, j, JSON),
                          CARB_COLUMN (Value, by, BYTES),
                          CARB_COLUMN (Value, num, NUMERIC),
                          CARB_COLUMN_NULLABLE (Value, t_n, TEXT),
                          CARB_COLUMN_NULLABLE_FLAG (Value, i64_n, INT64, i64_n_null),
                          CARB_COLUMN_NULLABLE_FLAG (Value, f64_n, DOUBLE, f64_n_null),
                          CARB_COLUMN_NULLABLE (Value, by_n, BYTES));

/* The same table on each backend, in its own types (docs/TYPES.md). */
static const char pg_table[]
    = "(id bigint PRIMARY KEY, last_synced_at timestamptz NOT NULL DEFAULT clock_timestamp (),"
      " t text NOT NULL, i16 smallint NOT NULL, i32 integer NOT NULL, i64 bigint NOT NULL, f32 real NOT NULL,"
      " f64 double precision NOT NULL, b boolean NOT NULL, ts timestamptz NOT NULL, d date NOT NULL,"
      " u uuid NOT NULL, j jsonb NOT NULL, by bytea NOT NULL, num numeric NOT NULL,"
      " t_n text, i64_n bigint, f64_n double precision, by_n bytea)";
static const char sqlite_table[]
    = "(id INTEGER PRIMARY KEY, last_synced_at INTEGER NOT NULL DEFAULT 1,"
      " t TEXT NOT NULL, i16 INTEGER NOT NULL, i32 INTEGER NOT NULL, i64 INTEGER NOT NULL, f32 REAL NOT NULL,"
      " f64 REAL NOT NULL, b BOOLEAN NOT NULL, ts TIMESTAMP NOT NULL, d DATE NOT NULL,"
      " u UUID NOT NULL, j JSON NOT NULL, by BLOB NOT NULL, num TEXT NOT NULL,"
      " t_n TEXT, i64_n INTEGER, f64_n REAL, by_n BLOB)";

static const char odd_text[] = "ünïcødé ✓ 日本語 🚀 it's \"quoted\" \\ back\\slash\n\ttabbed";
#define ODD_TEXT_SQL "'ünïcødé ✓ 日本語 🚀 it''s \"quoted\" \\ back\\slash' || char10tab"

typedef struct
{
  TestDb *db;
  CarbStore *store;
  char *tmpdir;
  char *table;
  CarbModel model;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer backend)
{
  static guint counter;
  g_autoptr (GError) error = NULL;
  f->tmpdir = g_dir_make_tmp ("carb-types-XXXXXX", NULL);
  g_autofree char *uri = test_store_uri (backend, f->tmpdir);
  f->db = test_db_open (uri);
  f->table = g_strdup_printf ("values_%d_%u", (int) getpid (), counter++);
  test_db_exec (f->db, "CREATE TABLE %s %s", f->table, test_db_is_postgres (f->db) ? pg_table : sqlite_table);
  f->model = value_model;
  f->model.table = f->table;
  /* Prepared by a store of its own: f->store checks the table afresh on
   * first use, after a test's ALTER TABLE. */
  g_autoptr (CarbStore) admin = carb_store_open (uri, &error);
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_table (admin, &f->model, &error));
  g_assert_no_error (error);
  f->store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  if (test_db_is_postgres (f->db))
    {
      /* Through a store of its own: f->store checks the model afresh. */
      g_autoptr (CarbStore) setup = carb_store_open (uri, &error);
      g_assert_true (carb_store_prepare_table (setup, &f->model, &error));
      g_assert_no_error (error);
    }
}

static void
fixture_tear_down (Fixture *f, gconstpointer backend)
{
  g_clear_pointer (&f->store, g_object_unref);
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TABLE %s", f->table);
  test_db_free (f->db);
  test_store_dir_remove (f->tmpdir);
  g_free (f->tmpdir);
  g_free (f->table);
}

/* One row of SQL literals per backend. */
typedef struct
{
  const char *pg;
  const char *sqlite;
} Literals;

static void
insert (Fixture *f, gint64 id, const Literals *lit)
{
  const char *values = test_db_is_postgres (f->db) ? lit->pg : lit->sqlite;
  g_autofree char *sql
      = g_strdup_printf ("INSERT INTO %s (id, t, i16, i32, i64, f32, f64, b, ts, d, u, j, by, num,"
                         " t_n, i64_n, f64_n, by_n) VALUES (%" G_GINT64_FORMAT ", %s)",
                         f->table, id, values);
  /* Text with a newline and a tab is built in SQL, the same on both. */
  g_autofree char *tab
      = g_strdup (test_db_is_postgres (f->db) ? "E'\\n\\t' || 'tabbed'" : "char(10, 9) || 'tabbed'");
  g_autoptr (GString) s = g_string_new (sql);
  g_string_replace (s, "char10tab", tab, 0);
  test_db_exec (f->db, "%s", s->str);
}

static const Value *
sync_one (Fixture *f, CarbSyncResult **keep)
{
  g_autoptr (GError) error = NULL;
  *keep = carb_store_download_sync (f->store, &f->model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (*keep), ==, 1);
  return carb_sync_result_get_row (*keep, 0);
}

static void
assert_bytes (CarbBytes b, const char *expect, gsize len)
{
  g_assert_nonnull (b.data);
  g_assert_cmpmem (b.data, b.len, expect, len);
}

static void
test_edges_high (Fixture *f, gconstpointer backend)
{
  const Literals lit = {
    .pg = ODD_TEXT_SQL
    ", 32767, 2147483647, 9223372036854775807, 'Infinity', 'NaN', true,"
    " '9999-12-31 23:59:59.999999+00', '5874897-12-31', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',"
    " '{\"a\": [1, 2.5, \"x\"], \"b\": null}', '\\x00ff00'::bytea,"
    " '-12345678901234567890.000000000000000001', '', 0, 0, ''::bytea",
    .sqlite = ODD_TEXT_SQL ", 32767, 2147483647, 9223372036854775807, 9e999, 9e999, 1,"
                           " 253402300799999999, 2932896, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',"
                           " '{\"a\": [1, 2.5, \"x\"], \"b\": null}', X'00ff00',"
                           " '-12345678901234567890.000000000000000001', '', 0, 0, X''",
  };
  insert (f, 1, &lit);
  g_autoptr (CarbSyncResult) keep = NULL;
  const Value *v = sync_one (f, &keep);
  gboolean pg = test_db_is_postgres (f->db);

  g_assert_cmpstr (v->t, ==, odd_text);
  g_assert_cmpint (v->i16, ==, G_MAXINT16);
  g_assert_cmpint (v->i32, ==, G_MAXINT32);
  g_assert_cmpint (v->i64, ==, G_MAXINT64);
  g_assert_true (isinf (v->f32) && v->f32 > 0);
  if (pg)
    g_assert_true (isnan (v->f64));
  else /* SQLite has no NaN (it stores NULL): +Inf instead */
    g_assert_true (isinf (v->f64));
  g_assert_true (v->b);
  g_assert_cmpint (v->ts, ==, G_GINT64_CONSTANT (253402300799999999)); /* 9999-12-31 23:59:59.999999 */
  /* The calendar's last day: PostgreSQL's own, 9999-12-31 on SQLite. The
   * server computes the expected day count, independently of the plugin. */
  gint64 last_day
      = pg ? test_db_query_int (f->db, "SELECT '5874897-12-31'::date - '1970-01-01'::date") : 2932896;
  g_assert_cmpint (v->d, ==, last_day);
  g_assert_cmpstr (v->u, ==, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  g_assert_cmpstr (v->j, ==, "{\"a\": [1, 2.5, \"x\"], \"b\": null}");
  assert_bytes (v->by, "\0\xff\0", 3);
  g_assert_cmpstr (v->num, ==, "-12345678901234567890.000000000000000001");
  g_assert_cmpstr (v->t_n, ==, ""); /* empty, not NULL */
  g_assert_false (v->i64_n_null);
  g_assert_false (v->f64_n_null);
  g_assert_nonnull (v->by_n.data); /* empty bytes, not NULL */
  g_assert_cmpuint (v->by_n.len, ==, 0);
}

static void
test_edges_low (Fixture *f, gconstpointer backend)
{
  const Literals lit = {
    .pg = "'', -32768, -2147483648, -9223372036854775808, '-Infinity', '-Infinity', false,"
          " '1900-01-01 00:00:00.000001+00', '4714-11-24 BC', '00000000-0000-0000-0000-000000000000',"
          " '\"\"', ''::bytea, '0.000', NULL, NULL, NULL, NULL",
    .sqlite = "'', -32768, -2147483648, -9223372036854775808, -9e999, -9e999, 0,"
              " -2208988799999999, -2440588, '00000000-0000-0000-0000-000000000000',"
              " '\"\"', X'', '0.000', NULL, NULL, NULL, NULL",
  };
  insert (f, 2, &lit);
  g_autoptr (CarbSyncResult) keep = NULL;
  const Value *v = sync_one (f, &keep);

  g_assert_cmpstr (v->t, ==, "");
  g_assert_cmpint (v->i16, ==, G_MININT16);
  g_assert_cmpint (v->i32, ==, G_MININT32);
  g_assert_cmpint (v->i64, ==, G_MININT64);
  g_assert_true (isinf (v->f32) && v->f32 < 0);
  g_assert_true (isinf (v->f64) && v->f64 < 0);
  g_assert_false (v->b);
  g_assert_cmpint (v->ts, ==, G_GINT64_CONSTANT (-2208988799999999)); /* 1900-01-01 00:00:00.000001 */
  g_assert_cmpint (v->d, ==, -2440588); /* 4714-11-24 BC (proleptic Gregorian), Julian day 0 */
  if (test_db_is_postgres (f->db))
    g_assert_cmpint (v->d, ==,
                     test_db_query_int (f->db, "SELECT '4714-11-24 BC'::date - '1970-01-01'::date"));
  g_assert_cmpstr (v->u, ==, "00000000-0000-0000-0000-000000000000");
  g_assert_cmpstr (v->j, ==, "\"\"");
  g_assert_nonnull (v->by.data);
  g_assert_cmpuint (v->by.len, ==, 0);
  g_assert_cmpstr (v->num, ==, "0.000"); /* exact: trailing zeros kept */
  g_assert_null (v->t_n);
  g_assert_true (v->i64_n_null);
  g_assert_cmpint (v->i64_n, ==, 0);
  g_assert_true (v->f64_n_null);
  g_assert_null (v->by_n.data);
}

/* -0.0, a denormal and values that need all 17 digits survive. */
static void
test_floats (Fixture *f, gconstpointer backend)
{
  const Literals lit = {
    .pg = "'x', 0, 0, 0, '1.17549435e-38', '-0', true, now (), '2000-01-01', gen_random_uuid (), '1',"
          " ''::bytea, '1', NULL, 0, '4.9406564584124654e-324', NULL",
    .sqlite = "'x', 0, 0, 0, 1.17549435e-38, 0.1, 1, 0, 10957, '0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a0001', "
              "'[1]', X'', '1', NULL, 0,"
              " 4.9406564584124654e-324, NULL",
  };
  insert (f, 3, &lit);
  g_autoptr (CarbSyncResult) keep = NULL;
  const Value *v = sync_one (f, &keep);

  g_assert_cmpfloat (v->f32, ==, 1.17549435e-38f);
  if (test_db_is_postgres (f->db))
    g_assert_true (v->f64 == 0.0 && signbit (v->f64));
  else
    g_assert_cmpfloat (v->f64, ==, 0.1);
  g_assert_cmpfloat (v->f64_n, ==, 4.9406564584124654e-324);
  g_assert_cmpint (v->d, ==, 10957); /* 2000-01-01 */
}

/* A value the member cannot hold fails the sync with the table and column
 * named, hands out no sync point, and the store is fine afterwards. */
static void
test_bad_value (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  const Literals lit = {
    .pg = "'x', 1, 1, 1, 1, 1, true, now (), '2000-01-01', gen_random_uuid (), '1', ''::bytea, '1',"
          " NULL, NULL, NULL, NULL",
    .sqlite = "'x', 70000, 1, 1, 1, 1, 1, 0, 0, '0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a0001', '[1]', X'', '1', "
              "NULL, NULL, NULL, NULL",
  };
  insert (f, 4, &lit);
  if (test_db_is_postgres (f->db))
    {
      /* PostgreSQL's smallint cannot hold 70000: widen the column behind
       * the model's back (the model was checked before). */
      g_assert_true (carb_store_check_model (f->store, &f->model, NULL));
      test_db_exec (f->db, "ALTER TABLE %s ALTER COLUMN i16 TYPE integer", f->table);
      test_db_exec (f->db, "UPDATE %s SET i16 = 70000", f->table);
    }
  g_assert_null (carb_store_download_sync (f->store, &f->model, NULL, 0, NULL, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, f->table));
  g_assert_nonnull (strstr (error->message, "i16"));
  g_clear_error (&error);

  /* SQLite lets a column hold any storage class: text in an integer
   * column is refused, not converted. */
  if (!test_db_is_postgres (f->db))
    {
      test_db_exec (f->db, "UPDATE %s SET i16 = 1, i32 = 'abc'", f->table);
      g_assert_null (carb_store_download_sync (f->store, &f->model, NULL, 0, NULL, &error));
      g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
      g_assert_nonnull (strstr (error->message, "“i32”"));
      g_assert_nonnull (strstr (error->message, "TEXT"));
      g_clear_error (&error);
      test_db_exec (f->db, "UPDATE %s SET i32 = 1", f->table);
    }
  else
    test_db_exec (f->db, "UPDATE %s SET i16 = 1; ALTER TABLE %s ALTER COLUMN i16 TYPE smallint", f->table,
                  f->table);

  /* Mended, the same store syncs the row. */
  g_autoptr (CarbSyncResult) keep = NULL;
  const Value *v = sync_one (f, &keep);
  g_assert_cmpint (v->i16, ==, 1);
}

/* Sets one column of row 5 to @sql_value, expects the sync from @since to
 * fail naming the table, the column and @fragment, then mends the column
 * with @good and expects the same @since to sync the row: a failed sync
 * hands out no point, so the device keeps its own and loses nothing. */
static void
assert_refused (Fixture *f,
                const CarbSyncPoint *since,
                const char *column,
                const char *sql_value,
                const char *fragment,
                const char *good)
{
  g_autoptr (GError) error = NULL;
  test_db_exec (f->db, "UPDATE %s SET %s = %s", f->table, column, sql_value);
  g_assert_null (carb_store_download_sync (f->store, &f->model, since, 0, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_test_message ("%s", error->message);
  g_autofree char *quoted = g_strdup_printf ("“%s”", column);
  g_assert_nonnull (strstr (error->message, f->table));
  g_assert_nonnull (strstr (error->message, quoted));
  if (strstr (error->message, fragment) == NULL)
    g_error ("“%s” does not say “%s”", error->message, fragment);
  g_clear_error (&error);
  test_db_exec (f->db, "UPDATE %s SET %s = %s", f->table, column, good);
  g_autoptr (CarbSyncResult) r = carb_store_download_sync (f->store, &f->model, since, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (r), ==, 1);
}

/* Values a member cannot hold exactly fail the row; nothing is converted
 * or folded. SQLite lets any column hold anything, so most of these can
 * only be met there. */
static void
test_refused_values (Fixture *f, gconstpointer backend)
{
  const Literals lit = {
    .pg = "'x', 1, 1, 1, 1, 1, true, now (), '2000-01-01', gen_random_uuid (), '1', ''::bytea, '1',"
          " NULL, NULL, NULL, NULL",
    .sqlite = "'x', 1, 1, 1, 1, 1, 1, 0, 0, '0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a0001', '[1]', X'', '1', NULL, "
              "NULL, NULL, NULL",
  };
  insert (f, 5, &lit);
  g_autoptr (CarbSyncPoint) since = carb_sync_point_new (-1);

  if (test_db_is_postgres (f->db))
    {
      /* A real instant that microseconds since 1970 in a gint64 cannot
       * hold is refused, not read as infinity. */
      assert_refused (f, since, "ts", "'294270-01-01 00:00:00+00'", "beyond", "now ()");
      return;
    }
  /* A column declared JSON has NUMERIC affinity: '1.50' is stored as the
   * REAL 1.5, and reading "1.5" back would not be the text written. */
  assert_refused (f, since, "j", "'1.50'", "declare it TEXT", "'[1.50]'");
  assert_refused (f, since, "u", "X'00'", "BLOB", "'0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a0001'");
  /* What the header promises of UUID, JSON and NUMERIC holds whatever an
   * SQLite TEXT column was given. */
  assert_refused (f, since, "u", "'NOT-A-UUID'", "not a UUID", "'0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a0001'");
  assert_refused (f, since, "u", "'0b9e5c9c0d7c4c6e9d556f1b0e0a0001'", "not a UUID",
                  "'0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a0001'");
  assert_refused (f, since, "j", "'{\"a\": 1,}'", "not valid JSON", "'[1.50]'");
  assert_refused (f, since, "j", "'{''a'': 1}'", "not valid JSON", "'[1.50]'");
  assert_refused (f, since, "j", "'[1] [2]'", "not valid JSON", "'[1.50]'");
  assert_refused (f, since, "j", "'\"\\x\"'", "not valid JSON", "'[1.50]'");
  assert_refused (f, since, "num", "'12,5'", "not a decimal", "'-0.50e3'");
  assert_refused (f, since, "num", "'abc'", "not a decimal", "'1'");
  assert_refused (f, since, "t", "CAST (X'66ff' AS TEXT)", "not valid UTF-8", "'x'");
  assert_refused (f, since, "t", "CAST (X'660067' AS TEXT)", "NUL byte", "'x'");
  assert_refused (f, since, "b", "2", "not a boolean", "1");
  assert_refused (f, since, "f32", "1e300", "does not fit in gfloat", "3.5");
  assert_refused (f, since, "d", "'2020-01-01'", "days since 1970-01-01", "18262");
  assert_refused (f, since, "ts", "'2020-01-01 00:00:00'", "microseconds since 1970-01-01", "0");
  assert_refused (f, since, "i32", "2147483648", "does not fit in gint32", "-1");

  /* What is accepted: text in a BLOB column is its bytes; a whole number
   * in a REAL-affinity column reads as that number. */
  test_db_exec (f->db, "UPDATE %s SET by = 'abc', f64 = 9007199254740992", f->table);
  g_autoptr (CarbSyncResult) keep = NULL;
  const Value *v = sync_one (f, &keep);
  assert_bytes (v->by, "abc", 3);
  g_assert_cmpfloat (v->f64, ==, 9007199254740992.0);
  g_assert_cmpfloat (v->f32, ==, 3.5f);
  g_assert_cmpint (v->d, ==, 18262);
  g_assert_cmpint (v->i32, ==, -1);
  g_assert_cmpstr (v->j, ==, "[1.50]");
  g_clear_pointer (&keep, carb_sync_result_unref);

  /* An upper-case UUID is delivered in canonical lower case; deep and
   * escaped JSON passes. */
  g_autofree char *open = g_strnfill (300, '[');
  g_autofree char *close = g_strnfill (300, ']');
  g_autofree char *deep
      = g_strdup_printf ("'%s{\"k\\u00e9\": [true, false, null, -0.5e+3, \"\\n\"]}%s'", open, close);
  test_db_exec (f->db, "UPDATE %s SET u = '0B9E5C9C-0D7C-4C6E-9D55-6F1B0E0A00FF', j = %s", f->table, deep);
  v = sync_one (f, &keep);
  g_assert_cmpstr (v->u, ==, "0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a00ff");
  g_assert_cmpuint (strlen (v->j), ==, strlen (deep) - 2);
}

/* PostgreSQL's infinities: timestamps read as G_MININT64 / G_MAXINT64,
 * dates as G_MININT32 / G_MAXINT32 (docs/TYPES.md). SQLite has no
 * infinities; the same extreme integers it stores come back unchanged. */
static void
test_infinities (Fixture *f, gconstpointer backend)
{
  if (!test_db_is_postgres (f->db))
    {
      const Literals extremes = {
        .sqlite = "'x', 1, 1, 1, 1, 1, 1, 9223372036854775807, -2147483648, "
                  "'0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a0001', '[1]', X'', '1',"
                  " NULL, NULL, NULL, NULL",
      };
      insert (f, 6, &extremes);
      g_autoptr (CarbSyncResult) lite = NULL;
      const Value *e = sync_one (f, &lite);
      g_assert_cmpint (e->ts, ==, G_MAXINT64);
      g_assert_cmpint (e->d, ==, G_MININT32);
      return;
    }
  const Literals lit = {
    .pg = "'x', 1, 1, 1, 1, 1, true, 'infinity', '-infinity', gen_random_uuid (), '1', ''::bytea, 'NaN',"
          " NULL, NULL, NULL, NULL",
  };
  insert (f, 6, &lit);
  g_autoptr (CarbSyncResult) keep = NULL;
  const Value *v = sync_one (f, &keep);
  g_assert_cmpint (v->ts, ==, G_MAXINT64);
  g_assert_cmpint (v->d, ==, G_MININT32);
  g_assert_cmpstr (v->num, ==, "NaN");
  g_clear_pointer (&keep, carb_sync_result_unref);

  test_db_exec (f->db, "UPDATE %s SET ts = '-infinity', d = 'infinity'", f->table);
  v = sync_one (f, &keep);
  g_assert_cmpint (v->ts, ==, G_MININT64);
  g_assert_cmpint (v->d, ==, G_MAXINT32);
}

/* A column of a type outside the table is refused at validation, naming
 * the column and its SQL type. */
static void
test_unsupported_type (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  gboolean pg = test_db_is_postgres (f->db);
  test_db_exec (f->db, "ALTER TABLE %s DROP COLUMN t_n", f->table);
  test_db_exec (f->db, "ALTER TABLE %s ADD COLUMN t_n %s", f->table, pg ? "text[]" : "GEOMETRY");
  g_assert_false (carb_store_check_model (f->store, &f->model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, "“t_n”"));
  g_assert_nonnull (strstr (error->message, pg ? "text[]" : "GEOMETRY"));
  g_assert_nonnull (strstr (error->message, "does not support"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  static const TestCase tests[] = {
    TEST_CASE ("edges-high", test_edges_high),
    TEST_CASE ("edges-low", test_edges_low),
    TEST_CASE ("floats", test_floats),
    TEST_CASE ("bad-value", test_bad_value),
    TEST_CASE ("refused-values", test_refused_values),
    TEST_CASE ("infinities", test_infinities),
    TEST_CASE ("unsupported-type", test_unsupported_type),
  };
  test_add_per_backend ("types", sizeof (Fixture), (GTestFixtureFunc) fixture_set_up, tests,
                        G_N_ELEMENTS (tests), (GTestFixtureFunc) fixture_tear_down);
  return g_test_run ();
}
