/* What only PostgreSQL has: the incremental query's plan, schemas, hostile
 * names through the catalog, and the privilege story of the clock source.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/sys/backend.h>
#include <carburetor/carburetor.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

typedef struct
{
  gint64 id;
  char *title;
  gboolean deleted;
  gint64 last_synced_at;
} Item;

CARB_DEFINE_STATIC_MODEL (item_model,
                          Item,
                          NULL,
                          "items",
                          CARB_ID (Item, id, INT64),
                          CARB_COLUMN (Item, title, TEXT),
                          CARB_DELETED (Item, deleted),
                          CARB_TIMESTAMP (Item, last_synced_at));

static const char item_columns[] = "(id bigint PRIMARY KEY, title text NOT NULL,"
                                   " deleted boolean NOT NULL DEFAULT false,"
                                   " last_synced_at timestamptz NOT NULL DEFAULT clock_timestamp())";

static char *
unique_name (const char *base)
{
  static guint counter;
  return g_strdup_printf ("%s_%d_%u", base, (int) getpid (), counter++);
}

static CarbStore *
open_store (const char *uri)
{
  g_autoptr (GError) error = NULL;
  CarbStore *store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  return store;
}

static CarbSyncResult *
sync_ok (CarbStore *store, const CarbModel *model, const CarbSyncPoint *since)
{
  g_autoptr (GError) error = NULL;
  CarbSyncResult *result = carb_store_download_sync (store, model, since, 0, NULL, &error);
  g_assert_no_error (error);
  return result;
}

static char *
quote_for_test (const char *name, gpointer user_data, GError **error)
{
  return test_db_quote (name);
}

/* The plan of the incremental query the plugin runs, built by the same
 * core builder with PostgreSQL's placeholders, for a sync from @lower. */
static char *
explain (TestDb *db, const CarbModel *model, gint64 lower, guint limit)
{
  const CarbSqlDialect dialect = { .param_prefix = "$", .quote_identifier = quote_for_test };
  const CarbQuery query = {
    .model = model,
    .id_column = 0,
    .ts_column = 3,
    .deleted_column = 2,
    .lower = lower,
    .include_deleted = TRUE,
    .limit = limit,
  };
  g_autofree char *sql = carb_query_build_sql (&query, &dialect, NULL);
  g_autofree char *lower_lit = test_db_ts_literal (db, lower);
  g_assert_nonnull (sql);
  test_db_exec (db, "PREPARE carb_explain (timestamptz, timestamptz) AS %s", sql);
  char *plan = test_db_query_text (db, "EXPLAIN EXECUTE carb_explain (%s, clock_timestamp ())", lower_lit);
  test_db_exec (db, "DEALLOCATE carb_explain");
  return plan;
}

/* On 100k rows, a sync of the newest changes reads the (ts, id) index that
 * carb_store_prepare_table() installs, paged or not. */
static void
test_explain_uses_index (void)
{
  g_autofree char *uri = test_store_uri ("postgres", NULL);
  g_autoptr (TestDb) db = test_db_open (uri);
  g_autofree char *table = unique_name ("explain");
  g_autofree char *qtable = test_db_quote (table);
  CarbModel model = item_model;
  model.table = table;

  test_db_exec (db, "CREATE TABLE %s %s", qtable, item_columns);
  g_autoptr (CarbStore) store = open_store (uri);
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_prepare_table (store, &model, &error));
  g_assert_no_error (error);
  test_db_exec (db, "INSERT INTO %s (id, title) SELECT i, 'item ' || i FROM generate_series (1, 100000) i",
                qtable);
  test_db_exec (db, "ANALYZE %s", qtable);
  gint64 recent
      = test_db_query_int (db,
                           "SELECT (extract (epoch FROM max (last_synced_at)) * 1000000)::int8 - 1000"
                           " FROM %s",
                           qtable);

  g_autofree char *plan = explain (db, &model, recent, 0);
  g_test_message ("plan:\n%s", plan);
  g_assert_nonnull (strstr (plan, "Index"));
  g_assert_nonnull (strstr (plan, "carb_sync_explain"));
  g_autofree char *paged = explain (db, &model, recent, 7);
  g_test_message ("paged plan:\n%s", paged);
  g_assert_nonnull (strstr (paged, "carb_sync_explain"));
  g_assert_null (strstr (paged, "Sort")); /* the index gives (ts, id) order */

  test_db_exec (db, "DROP TABLE %s CASCADE", qtable);
}

/* A table in a schema of its own, shadowed by a same-named table on the
 * search_path: the model's schema decides. */
static void
test_schema (void)
{
  g_autofree char *uri = test_store_uri ("postgres", NULL);
  g_autoptr (TestDb) db = test_db_open (uri);
  g_autofree char *schema = unique_name ("Carb Schema");
  g_autofree char *qschema = test_db_quote (schema);
  g_autofree char *table = unique_name ("items");
  g_autofree char *qtable = test_db_quote (table);
  CarbModel model = item_model;
  model.schema = schema;
  model.table = table;

  test_db_exec (db, "CREATE SCHEMA %s", qschema);
  test_db_exec (db, "CREATE TABLE %s.%s %s", qschema, qtable, item_columns);
  test_db_exec (db, "CREATE TABLE %s %s", qtable, item_columns);
  g_autoptr (CarbStore) store = open_store (uri);
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_prepare_table (store, &model, &error));
  g_assert_no_error (error);
  test_db_exec (db, "INSERT INTO %s.%s (id, title) VALUES (1, 'in the schema')", qschema, qtable);
  test_db_exec (db, "INSERT INTO %s (id, title) VALUES (2, 'on the search path')", qtable);

  g_autoptr (CarbSyncResult) result = sync_ok (store, &model, NULL);
  g_assert_cmpuint (carb_sync_result_get_n_rows (result), ==, 1);
  g_assert_cmpstr (((const Item *) carb_sync_result_get_row (result, 0))->title, ==, "in the schema");

  test_db_exec (db, "DROP SCHEMA %s CASCADE", qschema);
  test_db_exec (db, "DROP TABLE %s", qtable);
}

/* A table name made to break out of its quotes works as a name. */
static void
test_hostile_name (void)
{
  g_autofree char *uri = test_store_uri ("postgres", NULL);
  g_autoptr (TestDb) db = test_db_open (uri);
  g_autofree char *victim = unique_name ("victim");
  g_autofree char *table = g_strdup_printf ("it\"ems; DROP TABLE %s; -- 'x' %s", victim, victim);
  g_autofree char *qtable = test_db_quote (table);
  CarbModel model = item_model;
  model.table = table;

  test_db_exec (db, "CREATE TABLE %s (x int)", victim);
  test_db_exec (db, "CREATE TABLE %s %s", qtable, item_columns);
  g_autoptr (CarbStore) store = open_store (uri);
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_prepare_table (store, &model, &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_table (store, &model, &error));
  g_assert_no_error (error);
  test_db_exec (db, "INSERT INTO %s (id, title) VALUES (1, 'still a name')", qtable);
  g_autoptr (CarbSyncResult) result = sync_ok (store, &model, NULL);
  g_assert_cmpuint (carb_sync_result_get_n_rows (result), ==, 1);
  g_assert_cmpint (test_db_query_int (db, "SELECT count (*) FROM pg_tables WHERE tablename = '%s'", victim),
                   ==, 1);

  test_db_exec (db, "DROP TABLE %s", qtable);
  test_db_exec (db, "DROP TABLE %s", victim);
}

static char *
role_uri (const char *role)
{
  return g_strdup_printf ("postgresql:///?user=%s&password=carb-test", role);
}

static gint64
sessions_of (TestDb *db, const char *role, const char *application)
{
  return test_db_query_int (db,
                            "SELECT count (*) FROM pg_stat_activity"
                            " WHERE usename = '%s' AND application_name = '%s'",
                            role, application);
}

/* The store's session calls itself "carburetor" in pg_stat_activity,
 * unless the URI names the application: then that name stands. (A role
 * of its own tells this test's sessions from those of tests alongside.) */
static void
test_application_name (void)
{
  g_autofree char *uri = test_store_uri ("postgres", NULL);
  g_autoptr (TestDb) admin = test_db_open (uri);
  g_autofree char *role = unique_name ("carb_app");
  g_autofree char *plain_uri = role_uri (role);
  g_autofree char *named_uri = g_strdup_printf ("%s&application_name=%s", plain_uri, role);

  test_db_exec (admin, "CREATE ROLE %s LOGIN PASSWORD 'carb-test'", role);
  g_autoptr (CarbStore) plain = open_store (plain_uri);
  g_autoptr (CarbStore) named = open_store (named_uri);
  g_assert_cmpint (sessions_of (admin, role, "carburetor"), ==, 1);
  g_assert_cmpint (sessions_of (admin, role, role), ==, 1);
  g_clear_pointer (&plain, g_object_unref);
  g_clear_pointer (&named, g_object_unref);
  while (sessions_of (admin, role, role) + sessions_of (admin, role, "carburetor") > 0)
    g_usleep (1000); /* a closed session leaves pg_stat_activity a moment later */
  test_db_exec (admin, "DROP ROLE %s", role);
}

/* Without pg_read_all_stats, another role's in-flight transaction hides its
 * start time: the sync refuses to guess. With the grant, the sync point is
 * held below that transaction's start until it commits, and then its row
 * arrives. */
static void
test_privileges (void)
{
  g_autofree char *uri = test_store_uri ("postgres", NULL);
  g_autoptr (TestDb) admin = test_db_open (uri);
  g_autofree char *reader = unique_name ("carb_reader");
  g_autofree char *writer = unique_name ("carb_writer");
  g_autofree char *table = unique_name ("guarded");
  CarbModel model = item_model;
  model.table = table;

  test_db_exec (admin, "CREATE ROLE %s LOGIN PASSWORD 'carb-test'", reader);
  test_db_exec (admin, "CREATE ROLE %s LOGIN PASSWORD 'carb-test'", writer);
  test_db_exec (admin, "CREATE TABLE %s %s", table, item_columns);
  test_db_exec (admin, "GRANT SELECT ON %s TO %s; GRANT INSERT, UPDATE, SELECT ON %s TO %s", table, reader,
                table, writer);
  g_autoptr (CarbStore) setup = open_store (uri);
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_prepare_table (setup, &model, &error));
  g_assert_no_error (error);
  test_db_exec (admin, "INSERT INTO %s (id, title) VALUES (1, 'before')", table);

  g_autofree char *reader_uri = role_uri (reader);
  g_autofree char *writer_uri = role_uri (writer);
  g_autoptr (CarbStore) store = open_store (reader_uri);
  g_autoptr (CarbSyncResult) first = sync_ok (store, &model, NULL);
  g_assert_cmpuint (carb_sync_result_get_n_rows (first), ==, 1);
  const CarbSyncPoint *p1 = carb_sync_result_get_synced_until (first);

  /* A writer of another role holds a transaction open. */
  g_autoptr (TestDb) w = test_db_open (writer_uri);
  test_db_exec (w, "BEGIN; INSERT INTO %s (id, title) VALUES (2, 'in flight')", table);
  gint64 started = test_db_query_int (w, "SELECT (extract (epoch FROM now ()) * 1000000)::int8");

  g_assert_null (carb_store_download_sync (store, &model, p1, 0, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_CLOCK_UNSAFE);
  g_assert_nonnull (strstr (error->message, "GRANT pg_read_all_stats"));
  g_assert_nonnull (strstr (error->message, reader));
  g_clear_error (&error);

  test_db_exec (admin, "GRANT pg_read_all_stats TO %s", reader);
  g_autoptr (CarbSyncResult) held = sync_ok (store, &model, p1);
  g_assert_cmpuint (carb_sync_result_get_n_rows (held), ==, 0);
  g_assert_cmpint (carb_sync_point_get_time (carb_sync_result_get_synced_until (held)), <, started);

  test_db_exec (w, "COMMIT");
  g_autoptr (CarbSyncResult) after = sync_ok (store, &model, carb_sync_result_get_synced_until (held));
  g_assert_cmpuint (carb_sync_result_get_n_rows (after), ==, 1);
  g_assert_cmpstr (((const Item *) carb_sync_result_get_row (after, 0))->title, ==, "in flight");

  g_clear_pointer (&w, test_db_free);
  g_clear_pointer (&store, g_object_unref);
  test_db_exec (admin, "DROP TABLE %s CASCADE", table);
  test_db_exec (admin, "DROP OWNED BY %s, %s; DROP ROLE %s; DROP ROLE %s", reader, writer, reader, writer);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/postgres/explain-uses-index", test_explain_uses_index);
  g_test_add_func ("/postgres/schema", test_schema);
  g_test_add_func ("/postgres/hostile-name", test_hostile_name);
  g_test_add_func ("/postgres/privileges", test_privileges);
  g_test_add_func ("/postgres/application-name", test_application_name);
  return g_test_run ();
}
