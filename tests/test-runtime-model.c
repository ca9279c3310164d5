/* Run-time models (carb_model_new, carb_store_describe_model) and reading
 * rows by column: GValue, GVariant and JSON, on every backend.
 *
 *   layout          a run-time model lays rows out as the C compiler lays
 *                   out the same struct, so both read the same rows
 *   misuse          adding to a static model or to a model in use fails
 *                   with INVALID_MODEL naming table and column
 *   describe        describe_model of a live table syncs every column with
 *                   its natural type; values read back as GValue, GVariant
 *                   and JSON equal what was written, NULLs included
 *   describe-errors a missing table, a missing column or an unreadable
 *                   column type is SCHEMA_MISMATCH naming it
 *   lifetime        a result keeps its run-time model alive; a store's
 *                   cache never confuses a freed model with a new one
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

typedef struct
{
  char *tmpdir;
  char *uri;
  TestDb *db;
  CarbStore *store;
  char *table;
  char *qtable;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer backend)
{
  static guint counter;
  g_autoptr (GError) error = NULL;

  f->tmpdir = g_dir_make_tmp ("carb-runtime-XXXXXX", &error);
  g_assert_no_error (error);
  f->uri = test_store_uri (backend, f->tmpdir);
  f->db = test_db_open (f->uri);
  f->table = g_strdup_printf ("things_%d_%u", (int) getpid (), counter++);
  f->qtable = test_db_quote (f->table);
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

typedef struct
{
  gint16 small;
  char *name;
  gint64 id;
  gboolean flag;
  gdouble ratio;
  gboolean ratio_is_null;
  gint32 day;
  CarbBytes blob;
  gint64 ts;
} Layout;

static void
test_layout (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbModel) model = carb_model_new (NULL, "layout");
  struct
  {
    const char *name;
    CarbColumnType type;
    CarbColumnRole role;
    CarbColumnFlags flags;
    gsize offset;
  } cols[] = {
    { "small", CARB_COLUMN_TYPE_INT16, CARB_COLUMN_ROLE_DATA, CARB_COLUMN_FLAGS_NONE,
      G_STRUCT_OFFSET (Layout, small) },
    { "name", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_DATA, CARB_COLUMN_FLAGS_NULLABLE,
      G_STRUCT_OFFSET (Layout, name) },
    { "id", CARB_COLUMN_TYPE_INT64, CARB_COLUMN_ROLE_ID, CARB_COLUMN_FLAGS_NONE,
      G_STRUCT_OFFSET (Layout, id) },
    { "flag", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DELETED, CARB_COLUMN_FLAGS_NONE,
      G_STRUCT_OFFSET (Layout, flag) },
    { "ratio", CARB_COLUMN_TYPE_DOUBLE, CARB_COLUMN_ROLE_DATA, CARB_COLUMN_FLAGS_NULLABLE,
      G_STRUCT_OFFSET (Layout, ratio) },
    { "day", CARB_COLUMN_TYPE_DATE, CARB_COLUMN_ROLE_DATA, CARB_COLUMN_FLAGS_NONE,
      G_STRUCT_OFFSET (Layout, day) },
    { "blob", CARB_COLUMN_TYPE_BYTES, CARB_COLUMN_ROLE_DATA, CARB_COLUMN_FLAGS_NONE,
      G_STRUCT_OFFSET (Layout, blob) },
    { "ts", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_TIMESTAMP, CARB_COLUMN_FLAGS_NONE,
      G_STRUCT_OFFSET (Layout, ts) },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cols); i++)
    {
      g_assert_true (
          carb_model_add_column (model, cols[i].name, cols[i].type, cols[i].role, cols[i].flags, &error));
      g_assert_no_error (error);
    }
  g_assert_true (carb_model_validate (model, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (model->struct_size, ==, sizeof (Layout));
  for (guint i = 0; i < G_N_ELEMENTS (cols); i++)
    {
      g_assert_cmpstr (model->columns[i].name, ==, cols[i].name);
      g_assert_cmpuint (model->columns[i].offset, ==, cols[i].offset);
    }
  /* The nullable double got its own flag right after it, as Layout has. */
  g_assert_cmpint (model->columns[4].null_offset, ==, G_STRUCT_OFFSET (Layout, ratio_is_null));
  g_assert_cmpint (model->columns[1].null_offset, ==, -1);

  /* Reading a row a C program filled. */
  Layout row = { .small = -7, .name = NULL, .id = 1ll << 40, .ratio_is_null = TRUE, .day = 19000, .ts = 5 };
  g_auto (GValue) v = G_VALUE_INIT;
  g_assert_true (carb_model_row_get_value (model, &row, 0, &v));
  g_assert_cmpint (g_value_get_int (&v), ==, -7);
  g_assert_true (carb_model_row_is_null (model, &row, 1));
  g_assert_true (carb_model_row_is_null (model, &row, 4));
  g_assert_false (carb_model_row_is_null (model, &row, 5));
  g_assert_cmpint (carb_model_find_column (model, "day"), ==, 5);
  g_assert_cmpint (carb_model_find_column (model, "nope"), ==, -1);
  g_assert_true (g_type_is_a (CARB_TYPE_MODEL, G_TYPE_BOXED));
}

CARB_DEFINE_STATIC_MODEL (
    static_model, Layout, NULL, "static_table", CARB_ID (Layout, id, INT64), CARB_TIMESTAMP (Layout, ts));

static void
test_misuse (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;

  /* A static model is constant data: ref/unref do nothing, adding fails. */
  g_assert_true (carb_model_ref (&static_model) == &static_model);
  carb_model_unref (&static_model);
  g_assert_false (carb_model_add_column ((CarbModel *) &static_model, "x", CARB_COLUMN_TYPE_TEXT,
                                         CARB_COLUMN_ROLE_DATA, 0, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr (error->message, "static_table"));
  g_clear_error (&error);

  g_autoptr (CarbModel) model = carb_model_new (NULL, f->table);
  g_assert_false (carb_model_add_column (model, "x", (CarbColumnType) 99, CARB_COLUMN_ROLE_DATA, 0, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr (error->message, "“x”"));
  g_clear_error (&error);

  test_db_exec (f->db, "CREATE TABLE %s (id bigint PRIMARY KEY, ts %s NOT NULL)", f->qtable,
                test_db_is_postgres (f->db) ? "timestamptz" : "INTEGER");
  g_assert_true (carb_model_add_column (model, "id", CARB_COLUMN_TYPE_INT64, CARB_COLUMN_ROLE_ID, 0, &error));
  g_assert_true (
      carb_model_add_column (model, "ts", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_TIMESTAMP, 0, &error));
  g_assert_true (carb_store_prepare_table (f->store, model, &error));
  g_assert_no_error (error);
  /* In use: its layout is what the store relies on now. */
  g_assert_false (
      carb_model_add_column (model, "late", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_DATA, 0, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr (error->message, "in use"));
}

static void
create_things (Fixture *f)
{
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db,
                  "CREATE TABLE %s (id uuid PRIMARY KEY, name text, n integer, big bigint NOT NULL,"
                  " ratio double precision, ok boolean NOT NULL, born date, data bytea, doc jsonb,"
                  " price numeric, gone boolean NOT NULL DEFAULT false,"
                  " ts timestamptz NOT NULL DEFAULT clock_timestamp())",
                  f->qtable);
  else
    test_db_exec (f->db,
                  "CREATE TABLE %s (id UUID PRIMARY KEY, name TEXT, n INTEGER, big BIGINT NOT NULL,"
                  " ratio DOUBLE, ok BOOLEAN NOT NULL, born DATE, data BLOB, doc JSON,"
                  " price TEXT, gone BOOLEAN NOT NULL DEFAULT 0, ts INTEGER NOT NULL DEFAULT 0)",
                  f->qtable);
}

static CarbSyncResult *
sync_all (Fixture *f, const CarbModel *model)
{
  g_autoptr (GError) error = NULL;
  test_wait_clock_tick ();
  CarbSyncResult *r = carb_store_download_sync (f->store, model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (r);
  return r;
}

static void
check_types (const CarbModel *model)
{
  static const struct
  {
    const char *name;
    CarbColumnType type;
  } expected[] = {
    { "id", CARB_COLUMN_TYPE_UUID },   { "name", CARB_COLUMN_TYPE_TEXT },    { "n", CARB_COLUMN_TYPE_INT64 },
    { "big", CARB_COLUMN_TYPE_INT64 }, { "ratio", CARB_COLUMN_TYPE_DOUBLE }, { "ok", CARB_COLUMN_TYPE_BOOL },
    { "born", CARB_COLUMN_TYPE_DATE }, { "data", CARB_COLUMN_TYPE_BYTES },   { "doc", CARB_COLUMN_TYPE_JSON },
    { "gone", CARB_COLUMN_TYPE_BOOL }, { "ts", CARB_COLUMN_TYPE_TIMESTAMP },
  };
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      gint col = carb_model_find_column (model, expected[i].name);
      g_assert_cmpint (col, >=, 0);
      g_assert_cmpstr (carb_column_type_to_string (carb_model_get_column_type (model, (guint) col)), ==,
                       carb_column_type_to_string (expected[i].type));
    }
  g_assert_cmpint (carb_model_get_column_role (model, (guint) carb_model_find_column (model, "gone")), ==,
                   CARB_COLUMN_ROLE_DELETED);
}

/* Whether row @row is the one written with every column set. */
static gboolean
is_full_row (const CarbSyncResult *r, gsize row)
{
  const CarbModel *model = carb_sync_result_get_model (r);
  return !carb_model_row_is_null (model, carb_sync_result_get_row (r, row),
                                  (guint) carb_model_find_column (model, "name"));
}

static void
check_values (const CarbSyncResult *r, gsize full, gsize empty)
{
  const CarbModel *model = carb_sync_result_get_model (r);
  g_auto (GValue) v = G_VALUE_INIT;

#define GET(row, name)                                                                                       \
  (g_value_unset (&v), carb_sync_result_get_value (r, row, carb_model_find_column (model, name), &v))
  g_value_init (&v, G_TYPE_INT);
  g_assert_true (GET (full, "name"));
  g_assert_cmpstr (g_value_get_string (&v), ==, "Zoë \"quoted\"");
  g_assert_true (GET (full, "n"));
  g_assert_cmpint (g_value_get_int64 (&v), ==, -42);
  g_assert_true (GET (full, "big"));
  g_assert_cmpint (g_value_get_int64 (&v), ==, G_GINT64_CONSTANT (9007199254740993));
  g_assert_true (GET (full, "ratio"));
  g_assert_cmpfloat (g_value_get_double (&v), ==, 0.25);
  g_assert_true (GET (full, "born"));
  g_assert_cmpint (g_value_get_int (&v), ==, 19723); /* 2024-01-01 */
  g_assert_true (GET (full, "data"));
  gsize len = 0;
  const guint8 *bytes = g_bytes_get_data (g_value_get_boxed (&v), &len);
  g_assert_cmpmem (bytes, len, "\x01\x00\xff", 3);
  g_assert_true (GET (full, "ok"));
  g_assert_true (g_value_get_boolean (&v));

  g_value_unset (&v);
  g_value_init (&v, G_TYPE_INT);
  for (const char *const *n
       = (const char *const[]){ "name", "n", "ratio", "born", "data", "doc", "price", NULL };
       *n != NULL; n++)
    {
      g_assert_false (GET (empty, *n));
      g_assert_false (G_IS_VALUE (&v));
      g_value_init (&v, G_TYPE_INT);
    }
#undef GET
}

static void
check_variant (const CarbSyncResult *r, gsize full, gsize empty)
{
  g_autoptr (GVariant) a = carb_sync_result_get_row_variant (r, full);
  g_autoptr (GVariant) b = carb_sync_result_get_row_variant (r, empty);
  g_assert_true (g_variant_is_of_type (a, G_VARIANT_TYPE_VARDICT));
  g_assert_false (g_variant_is_floating (a));

  GVariantDict dict;
  g_variant_dict_init (&dict, a);
  gint64 big = 0;
  g_assert_true (g_variant_dict_lookup (&dict, "big", "x", &big));
  g_assert_cmpint (big, ==, G_GINT64_CONSTANT (9007199254740993));
  const char *name = NULL;
  g_assert_true (g_variant_dict_lookup (&dict, "name", "&s", &name));
  g_assert_cmpstr (name, ==, "Zoë \"quoted\"");
  g_variant_dict_clear (&dict);

  g_variant_dict_init (&dict, b);
  g_autoptr (GVariant) null_name = g_variant_dict_lookup_value (&dict, "name", NULL);
  g_assert_true (g_variant_is_of_type (null_name, G_VARIANT_TYPE ("mv")));
  g_assert_null (g_variant_get_maybe (null_name));
  g_variant_dict_clear (&dict);
}

static void
check_json (const CarbSyncResult *r)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text = carb_sync_result_to_json (r, FALSE);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
  g_assert_no_error (error);
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  g_autofree char *point = carb_sync_point_to_string (carb_sync_result_get_synced_until (r));
  g_assert_cmpstr (json_object_get_string_member (root, "synced_until"), ==, point);
  JsonArray *rows = json_object_get_array_member (root, "rows");
  g_assert_cmpuint (json_array_get_length (rows), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      JsonObject *row = json_array_get_object_element (rows, i);
      if (json_object_get_null_member (row, "name"))
        continue;
      g_assert_cmpint (json_object_get_int_member (row, "big"), ==, G_GINT64_CONSTANT (9007199254740993));
      g_assert_cmpstr (json_object_get_string_member (row, "name"), ==, "Zoë \"quoted\"");
      g_assert_cmpstr (json_object_get_string_member (row, "data"), ==, "AQD/");
      g_assert_cmpstr (json_object_get_string_member (row, "price"), ==, "12.50");
      JsonObject *doc = json_object_get_object_member (row, "doc");
      g_assert_nonnull (doc);
      g_assert_cmpint (json_object_get_int_member (doc, "k"), ==, 1);
      return;
    }
  g_assert_not_reached ();
}

static void
test_describe (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  gboolean pg = test_db_is_postgres (f->db);

  create_things (f);
  g_autoptr (CarbModel) model
      = carb_store_describe_model (f->store, NULL, f->table, "id", "ts", "gone", &error);
  g_assert_no_error (error);
  check_types (model);
  g_assert_true (carb_store_prepare_table (f->store, model, &error));
  g_assert_no_error (error);

  test_db_exec (f->db,
                "INSERT INTO %s (id, name, n, big, ratio, ok, born, data, doc, price) VALUES"
                " ('0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a0001', 'Zoë \"quoted\"', -42, 9007199254740993, 0.25, %s,"
                "  %s, %s, '{\"k\": 1}', '12.50'),"
                " ('0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a0002', NULL, NULL, 0, NULL, %s, NULL, NULL, NULL, NULL)",
                f->qtable, pg ? "true" : "1", pg ? "'2024-01-01'" : "19723", pg ? "'\\x0100ff'" : "X'0100FF'",
                pg ? "false" : "0");

  g_autoptr (CarbSyncResult) r = sync_all (f, model);
  g_assert_cmpuint (carb_sync_result_get_n_rows (r), ==, 2);
  gsize full = is_full_row (r, 0) ? 0 : 1;
  check_values (r, full, 1 - full);
  check_variant (r, full, 1 - full);
  check_json (r);
}

static void
test_describe_errors (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;

  g_assert_null (carb_store_describe_model (f->store, NULL, f->table, "id", "ts", NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, f->table));
  g_clear_error (&error);

  create_things (f);
  g_assert_null (carb_store_describe_model (f->store, NULL, f->table, "id", "stamp", NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, "“stamp”"));
  g_clear_error (&error);

  /* The tombstone named is not a boolean. */
  g_assert_null (carb_store_describe_model (f->store, NULL, f->table, "id", "ts", "name", &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, "“name”"));
  g_clear_error (&error);

  test_db_exec (f->db, "ALTER TABLE %s ADD COLUMN place %s", f->qtable,
                test_db_is_postgres (f->db) ? "point" : "GEOMETRY");
  g_assert_null (carb_store_describe_model (f->store, NULL, f->table, "id", "ts", NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, "“place”"));
}

static void
test_lifetime (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;

  create_things (f);
  CarbModel *model = carb_store_describe_model (f->store, NULL, f->table, "id", "ts", "gone", &error);
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_table (f->store, model, &error));
  test_db_exec (f->db, "INSERT INTO %s (id, big, ok) VALUES ('0b9e5c9c-0d7c-4c6e-9d55-6f1b0e0a0003', 1, %s)",
                f->qtable, test_db_is_postgres (f->db) ? "true" : "1");
  CarbSyncResult *r = sync_all (f, model);
  carb_model_unref (model); /* the result and the store still hold it */
  g_autoptr (GVariant) row = carb_sync_result_get_row_variant (r, 0);
  g_assert_nonnull (row);
  g_assert_cmpstr (carb_model_get_table (carb_sync_result_get_model (r)), ==, f->table);
  carb_sync_result_unref (r);

  /* A second model of fewer columns: whatever address it gets, the store
   * checks it on its own and reads its own layout. */
  g_autoptr (CarbModel) narrow = carb_model_new (NULL, f->table);
  g_assert_true (carb_model_add_column (narrow, "id", CARB_COLUMN_TYPE_UUID, CARB_COLUMN_ROLE_ID, 0, &error));
  g_assert_true (carb_model_add_column (narrow, "ts", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_TIMESTAMP,
                                        0, &error));
  g_autoptr (CarbSyncResult) r2 = sync_all (f, narrow);
  g_assert_cmpuint (carb_sync_result_get_n_rows (r2), ==, 1);
  g_autoptr (GVariant) row2 = carb_sync_result_get_row_variant (r2, 0);
  g_assert_cmpuint (g_variant_n_children (row2), ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/runtime-model/layout", test_layout);

  static const TestCase tests[] = {
    TEST_CASE ("misuse", test_misuse),
    TEST_CASE ("describe", test_describe),
    TEST_CASE ("describe-errors", test_describe_errors),
    TEST_CASE ("lifetime", test_lifetime),
  };
  test_add_per_backend ("runtime-model", sizeof (Fixture), (GTestFixtureFunc) fixture_set_up, tests,
                        G_N_ELEMENTS (tests), (GTestFixtureFunc) fixture_tear_down);
  return g_test_run ();
}
