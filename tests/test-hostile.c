/* Hostile identifiers: table, schema and column names with quotes,
 * semicolons, spaces, mixed case, backslashes and non-ASCII text are only
 * ever names. Preparing and syncing such a table works on every backend and
 * injects nothing: a table named to drop another leaves it standing.
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
  gint64 stamp;
  gboolean gone;
} Item;

/* Every name the SQL must quote right. */
#define ID_NAME    "Id \"key\""
#define TITLE_NAME "tit'le; DROP TABLE x; -- \\ ünï ✓"
#define STAMP_NAME "Last Synced;At"
#define GONE_NAME  "gone\")--"

CARB_DEFINE_STATIC_MODEL (
    item_model,
    Item,
    NULL,
    "items",
    CARB_COLUMN_FULL (Item, id, ID_NAME, INT64, ID, CARB_COLUMN_FLAGS_NONE),
    CARB_COLUMN_FULL (Item, title, TITLE_NAME, TEXT, DATA, CARB_COLUMN_FLAGS_NONE),
    CARB_COLUMN_FULL (Item, stamp, STAMP_NAME, TIMESTAMP, TIMESTAMP, CARB_COLUMN_FLAGS_NONE),
    CARB_COLUMN_FULL (Item, gone, GONE_NAME, BOOL, DELETED, CARB_COLUMN_FLAGS_NONE));

/* The columns of a table for item_model, the title column named @title_name. */
static char *
columns_sql (TestDb *db, const char *title_name)
{
  g_autofree char *id = test_db_quote (ID_NAME);
  g_autofree char *title = test_db_quote (title_name);
  g_autofree char *stamp = test_db_quote (STAMP_NAME);
  g_autofree char *gone = test_db_quote (GONE_NAME);
  if (test_db_is_postgres (db))
    return g_strdup_printf ("(%s bigint PRIMARY KEY, %s text NOT NULL, %s timestamptz NOT NULL DEFAULT"
                            " clock_timestamp (), %s boolean NOT NULL DEFAULT false)",
                            id, title, stamp, gone);
  return g_strdup_printf ("(%s INTEGER PRIMARY KEY, %s TEXT NOT NULL, %s INTEGER NOT NULL DEFAULT 0,"
                          " %s BOOLEAN NOT NULL DEFAULT 0)",
                          id, title, stamp, gone);
}

/* Creates @qualified (already quoted) and a victim table, prepares and
 * syncs through @model, and checks the rows and that the victim stands. */
static void
prepare_and_sync (const char *uri,
                  TestDb *db,
                  CarbStore *store,
                  const CarbModel *model,
                  const char *qualified,
                  const char *victim)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *columns = columns_sql (db, TITLE_NAME);
  g_autofree char *qid = test_db_quote (ID_NAME);
  g_autofree char *qtitle = test_db_quote (TITLE_NAME);

  test_db_exec (db, "CREATE TABLE %s (x int)", victim);
  test_db_exec (db, "CREATE TABLE %s %s", qualified, columns);
  gboolean prepared = carb_store_prepare_table (store, model, &error);
  g_assert_no_error (error);
  g_assert_true (prepared);
  prepared = carb_store_prepare_table (store, model, &error); /* idempotent */
  g_assert_no_error (error);
  g_assert_true (prepared);
  test_db_exec (db, "INSERT INTO %s (%s, %s) VALUES (1, 'one'), (2, 'it''s \"two\"')", qualified, qid,
                qtitle);
  test_wait_clock_tick ();

  g_autoptr (CarbSyncResult) first = carb_store_download_sync (store, model, NULL, 1, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (first), ==, 1);
  g_autoptr (CarbSyncResult) rest
      = carb_store_download_sync (store, model, carb_sync_result_get_synced_until (first), 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (rest), ==, 1);
  const Item *two = carb_sync_result_get_row (rest, 0);
  g_assert_cmpint (two->id, ==, 2);
  g_assert_cmpstr (two->title, ==, "it's \"two\"");

  /* The trigger stamps updates through the quoted names too. */
  test_db_exec (db, "UPDATE %s SET %s = 'uno' WHERE %s = 1", qualified, qtitle, qid);
  test_wait_clock_tick ();
  g_autoptr (CarbSyncResult) next
      = carb_store_download_sync (store, model, carb_sync_result_get_synced_until (rest), 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (next), ==, 1);
  g_assert_cmpstr (((const Item *) carb_sync_result_get_row (next, 0))->title, ==, "uno");

  g_assert_cmpint (test_db_query_int (db, "SELECT count (*) FROM %s", victim), ==, 0); /* still there */
}

static void
test_names (gconstpointer backend)
{
  g_autofree char *tmpdir = g_dir_make_tmp ("carb-hostile-XXXXXX", NULL);
  g_autofree char *uri = test_store_uri (backend, tmpdir);
  g_autoptr (TestDb) db = test_db_open (uri);
  g_autoptr (GError) error = NULL;
  g_autofree char *victim = g_strdup_printf ("victim_%d", (int) getpid ());
  g_autofree char *table = g_strdup_printf ("It\"ems; DROP TABLE %s; -- ünï ✓ %d", victim, (int) getpid ());
  g_autofree char *qtable = test_db_quote (table);
  CarbModel model = item_model;
  model.table = table;

  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  prepare_and_sync (uri, db, store, &model, qtable, victim);

  g_clear_pointer (&store, g_object_unref);
  if (test_db_is_postgres (db))
    test_db_exec (db, "DROP TABLE %s CASCADE; DROP TABLE %s", qtable, victim);
  g_clear_pointer (&db, test_db_free);
  test_store_dir_remove (tmpdir);
}

/* A schema of its own with a hostile name: a PostgreSQL schema; on SQLite
 * an attached database, attached on the store's own connection. */
static void
test_schema (gconstpointer backend)
{
  g_autofree char *tmpdir = g_dir_make_tmp ("carb-hostile-XXXXXX", NULL);
  g_autofree char *uri = test_store_uri (backend, tmpdir);
  g_autoptr (GError) error = NULL;
  g_autofree char *victim = g_strdup_printf ("victim_s_%d", (int) getpid ());
  g_autofree char *schema = g_strdup_printf ("Sch\"ema; DROP TABLE %s; -- %d", victim, (int) getpid ());
  g_autofree char *qschema = test_db_quote (schema);
  g_autofree char *qualified = g_strconcat (qschema, ".", "\"it\"\"ems\"", NULL);
  g_autofree char *aux = g_build_filename (tmpdir, "aux.db", NULL);
  CarbModel model = item_model;
  model.schema = schema;
  model.table = "it\"ems";

  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  g_autoptr (TestDb) db = NULL;
  if (g_str_equal (backend, "postgres"))
    {
      db = test_db_open (uri);
      test_db_exec (db, "CREATE SCHEMA %s", qschema);
      prepare_and_sync (uri, db, store, &model, qualified, victim);
      test_db_exec (db, "DROP SCHEMA %s CASCADE; DROP TABLE %s", qschema, victim);
    }
  else
    {
      /* The raw connection works on the attached file as its main. */
      g_autofree char *aux_uri = g_strconcat ("sqlite:", aux, NULL);
      g_autofree char *attach = g_strdup_printf ("ATTACH DATABASE '%s' AS %s", aux, qschema);
      db = test_db_open (aux_uri);
      g_assert_true (carb_store_execute (store, attach, &error));
      g_assert_no_error (error);
      g_autofree char *local = g_strdup ("\"it\"\"ems\"");
      prepare_and_sync (uri, db, store, &model, local, victim);
      /* The triggers (stamping on insert and update, the delete guard),
       * the index, the clock table and the versioning table live in the
       * attached file, not in main. */
      g_assert_cmpint (test_db_query_int (db, "SELECT count (*) FROM sqlite_schema WHERE name LIKE 'carb%%'"),
                       ==, 6);
      g_assert_cmpint (test_db_query_int (db, "SELECT count (*) FROM sqlite_schema WHERE name IN"
                                              " ('carburetor_clock', 'carburetor_versioning')"),
                       ==, 2);
    }
  g_clear_pointer (&store, g_object_unref);
  g_clear_pointer (&db, test_db_free);
  g_unlink (aux);
  test_store_dir_remove (tmpdir);
}

/* PostgreSQL truncates identifiers to 63 bytes; a model may still name the
 * table in full, as the application's own SQL would. */
static void
test_long_name (void)
{
  g_autofree char *uri = test_store_uri ("postgres", NULL);
  g_autoptr (TestDb) db = test_db_open (uri);
  g_autoptr (GError) error = NULL;
  g_autofree char *table = g_strdup_printf (
      "a_very_long_table_name_%d_ünïcødé_✓_that_goes_past_sixty_three_bytes", (int) getpid ());
  g_assert_cmpuint (strlen (table), >, 63);
  g_autofree char *qtable = test_db_quote (table);
  g_autofree char *victim = g_strdup_printf ("victim_l_%d", (int) getpid ());
  CarbModel model = item_model;
  model.table = table;

  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  prepare_and_sync (uri, db, store, &model, qtable, victim);
  g_clear_pointer (&store, g_object_unref);
  test_db_exec (db, "DROP TABLE %s CASCADE; DROP TABLE %s", qtable, victim);
}

/* A column name past 63 bytes is cut by the server when the table is
 * created; the model's full name then matches nothing, and the error says
 * what the server made of it rather than only "does not exist". */
static void
test_long_column_name (void)
{
  g_autofree char *uri = test_store_uri ("postgres", NULL);
  g_autoptr (TestDb) db = test_db_open (uri);
  g_autoptr (GError) error = NULL;
  g_autofree char *table = g_strdup_printf ("long_column_%d", (int) getpid ());
  const char *title = "a_title_column_whose_name_goes_on_well_past_sixty_three_bytes_ünï";
  g_assert_cmpuint (strlen (title), >, 63);
  /* The server cuts at a character boundary: “ü” straddles byte 63. */
  g_autofree char *cut = g_strndup (title, 62);
  CarbColumn model_columns[4];
  g_assert_cmpuint (item_model.n_columns, ==, G_N_ELEMENTS (model_columns));
  memcpy (model_columns, item_model.columns, sizeof model_columns);
  model_columns[1].name = title;
  CarbModel model = item_model;
  model.table = table;
  model.columns = model_columns;

  g_autofree char *columns = columns_sql (db, title);

  test_db_exec (db, "CREATE TABLE %s %s", table, columns);
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  g_assert_false (carb_store_check_model (store, &model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, table));
  g_assert_nonnull (strstr (error->message, title));
  g_autofree char *quoted_cut = g_strdup_printf ("“%s”", cut);
  g_assert_nonnull (strstr (error->message, quoted_cut));

  g_clear_error (&error);
  model_columns[1].name = cut;
  g_assert_true (carb_store_prepare_table (store, &model, &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_check_model (store, &model, &error));
  g_assert_no_error (error);
  test_db_exec (db, "DROP TABLE %s", table);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_auto (GStrv) backends = test_store_backends ();
  for (char **b = backends; *b != NULL; b++)
    {
      g_autofree char *names = g_strdup_printf ("/hostile/%s/names", *b);
      g_autofree char *schema = g_strdup_printf ("/hostile/%s/schema", *b);
      g_test_add_data_func (names, *b, test_names);
      g_test_add_data_func (schema, *b, test_schema);
      if (g_str_equal (*b, "postgres"))
        {
          g_test_add_func ("/hostile/postgres/long-name", test_long_name);
          g_test_add_func ("/hostile/postgres/long-column-name", test_long_column_name);
        }
    }
  return g_test_run ();
}
