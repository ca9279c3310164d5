/* What only PostgreSQL has: the incremental query's plan, schemas, hostile
 * names through the catalog, and the edges of the clock source (docs/SYNC.md,
 * "What the guarantee rests on"): privileges, untracked and prepared
 * transactions, savepoints, stamp precision and type, an application's
 * BEFORE trigger firing after the stamping one, inheritance, partitions,
 * DISCARD ALL, the application's own transaction; syncs that cross the
 * first batch (the first page and a cursor for the rest, pg-download.c).
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

/* The plan of the incremental query the plugin runs, built by the same
 * core builder with PostgreSQL's placeholders, for a sync from @lower. */
static char *
explain (TestDb *db, const CarbModel *model, gint64 lower, guint limit)
{
  static const CarbSqlSyntax syntax = { .struct_size = sizeof (CarbSqlSyntax), .max_identifier_bytes = 63 };
  const CarbQuery query = {
    .model = model,
    .id_column = 0,
    .ts_column = 3,
    .deleted_column = 2,
    .lower = lower,
    .include_deleted = TRUE,
    .limit = limit,
  };
  g_autofree char *sql = carb_query_build_sql (&query, &syntax, NULL);
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

static gint64
stamp_of (TestDb *db, const char *table, gint64 id)
{
  return test_db_query_int (
      db, "SELECT (extract (epoch FROM last_synced_at) * 1000000)::int8 FROM %s WHERE id = %" G_GINT64_FORMAT,
      table, id);
}

static gint64
server_now (TestDb *db)
{
  return test_db_query_int (db, "SELECT (extract (epoch FROM clock_timestamp ()) * 1000000)::int8");
}

/* One prepared table of item_model's shape for a test. */
typedef struct
{
  char *uri;
  TestDb *admin;
  char *table;
  char *qtable;
  CarbModel model;
  CarbStore *store;
} PgTable;

static PgTable *
pg_table_new (const char *base, const char *columns)
{
  g_autoptr (GError) error = NULL;
  PgTable *t = g_new0 (PgTable, 1);
  t->uri = test_store_uri ("postgres", NULL);
  t->admin = test_db_open (t->uri);
  t->table = unique_name (base);
  t->qtable = test_db_quote (t->table);
  t->model = item_model;
  t->model.table = t->table;
  if (columns != NULL)
    test_db_exec (t->admin, "CREATE TABLE %s %s", t->qtable, columns);
  t->store = open_store (t->uri);
  return t;
}

static void
pg_table_prepare (PgTable *t)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_prepare_table (t->store, &t->model, &error));
  g_assert_no_error (error);
}

static void
pg_table_free (PgTable *t)
{
  g_clear_pointer (&t->store, g_object_unref);
  test_db_exec (t->admin, "DROP TABLE IF EXISTS %s CASCADE", t->qtable);
  test_db_free (t->admin);
  g_free (t->uri);
  g_free (t->table);
  g_free (t->qtable);
  g_free (t);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PgTable, pg_table_free)

/* The ids a sync from @since delivers, in order, as "1,2,3". */
static char *
ids_from (PgTable *t, const CarbSyncPoint *since, CarbSyncPoint **until)
{
  g_autoptr (CarbSyncResult) r = sync_ok (t->store, &t->model, since);
  g_autoptr (GString) ids = g_string_new (NULL);
  for (gsize i = 0; i < carb_sync_result_get_n_rows (r); i++)
    g_string_append_printf (ids, "%s%" G_GINT64_FORMAT, i > 0 ? "," : "",
                            ((const Item *) carb_sync_result_get_row (r, i))->id);
  if (until != NULL)
    *until = carb_sync_point_copy (carb_sync_result_get_synced_until (r));
  return g_string_free (g_steal_pointer (&ids), FALSE);
}

/* A reader without any grant beyond SELECT syncs while a writer of another
 * role holds a transaction open: the sync point stays below that writer's
 * stamp, and the row arrives once it commits. (The clock source used to
 * need pg_read_all_stats to see other roles' transactions.) */
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
  g_assert_true (carb_store_check_model (store, &model, &error));
  g_assert_no_error (error);
  g_autoptr (CarbSyncResult) first = sync_ok (store, &model, NULL);
  g_assert_cmpuint (carb_sync_result_get_n_rows (first), ==, 1);
  const CarbSyncPoint *p1 = carb_sync_result_get_synced_until (first);

  /* A writer of another role holds a transaction open. */
  g_autoptr (TestDb) w = test_db_open (writer_uri);
  test_db_exec (w, "BEGIN; INSERT INTO %s (id, title) VALUES (2, 'in flight')", table);
  gint64 stamped = stamp_of (w, table, 2);
  g_usleep (5000);

  g_autoptr (CarbSyncResult) held = sync_ok (store, &model, p1);
  g_assert_cmpuint (carb_sync_result_get_n_rows (held), ==, 0);
  g_assert_cmpint (carb_sync_point_get_time (carb_sync_result_get_synced_until (held)), <, stamped);

  test_db_exec (w, "COMMIT");
  g_autoptr (CarbSyncResult) after = sync_ok (store, &model, carb_sync_result_get_synced_until (held));
  g_assert_cmpuint (carb_sync_result_get_n_rows (after), ==, 1);
  g_assert_cmpstr (((const Item *) carb_sync_result_get_row (after, 0))->title, ==, "in flight");

  g_clear_pointer (&w, test_db_free);
  g_clear_pointer (&store, g_object_unref);
  test_db_exec (admin, "DROP TABLE %s CASCADE", table);
  test_db_exec (admin, "DROP OWNED BY %s, %s; DROP ROLE %s; DROP ROLE %s", reader, writer, reader, writer);
}

/* A writer whose session does not report its activity
 * (track_activities = off) is still seen: its row is held back while it
 * runs and delivered after it commits. */
static void
test_track_activities_off (void)
{
  g_autoptr (PgTable) t = pg_table_new ("untracked", item_columns);
  pg_table_prepare (t);
  g_autoptr (CarbSyncPoint) p1 = NULL;
  g_autofree char *none = ids_from (t, NULL, &p1);
  g_assert_cmpstr (none, ==, "");

  g_autoptr (TestDb) w = test_db_open (t->uri);
  test_db_exec (w, "SET track_activities = off");
  test_db_exec (w, "BEGIN; INSERT INTO %s (id, title) VALUES (1, 'untracked')", t->qtable);
  gint64 stamped = stamp_of (w, t->qtable, 1);
  g_usleep (5000);

  g_autoptr (CarbSyncPoint) p2 = NULL;
  g_autofree char *held = ids_from (t, p1, &p2);
  g_assert_cmpstr (held, ==, "");
  g_assert_cmpint (carb_sync_point_get_time (p2), <, stamped);
  test_db_exec (w, "COMMIT");
  g_autofree char *after = ids_from (t, p2, NULL);
  g_assert_cmpstr (after, ==, "1");
}

/* An idle poll (a sync from a complete point, which starts with the idle
 * probe and its quick check) and carb_store_poll() refuse the table too,
 * naming @must_name. */
static void
assert_poll_refused (PgTable *t, gint code, const char *must_name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncPoint) since = carb_sync_point_new (0);
  const CarbModel *models[] = { &t->model };
  gboolean changed = FALSE;

  g_assert_null (carb_store_download_sync (t->store, &t->model, since, 0, NULL, &error));
  g_assert_error (error, CARB_ERROR, code);
  g_test_message ("idle poll: %s", error->message);
  g_assert_nonnull (strstr (error->message, must_name));
  g_clear_error (&error);
  g_assert_false (carb_store_poll (t->store, models, NULL, 1, &changed, NULL, &error));
  g_assert_error (error, CARB_ERROR, code);
  g_assert_nonnull (strstr (error->message, must_name));
}

/* An idle poll and carb_store_poll() accept the table. */
static void
assert_poll_ok (PgTable *t)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncPoint) since = carb_sync_point_new (0);
  const CarbModel *models[] = { &t->model };
  gboolean changed = FALSE;

  g_autoptr (CarbSyncResult) r = carb_store_download_sync (t->store, &t->model, since, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (r);
  g_assert_true (carb_store_poll (t->store, models, NULL, 1, &changed, NULL, &error));
  g_assert_no_error (error);
}

static void
assert_refused (PgTable *t, gint code, const char *must_name, const char *fix)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (carb_store_check_model (t->store, &t->model, &error));
  g_assert_error (error, CARB_ERROR, code);
  g_test_message ("check_model: %s", error->message);
  g_assert_nonnull (strstr (error->message, t->table));
  g_assert_nonnull (strstr (error->message, must_name));
  g_assert_nonnull (strstr (error->message, fix));
  g_clear_error (&error);
  g_assert_null (carb_store_download_sync (t->store, &t->model, NULL, 0, NULL, &error));
  g_assert_error (error, CARB_ERROR, code);
  g_assert_nonnull (strstr (error->message, must_name));
  assert_poll_refused (t, code, must_name);
}

/* A stamp column that rounds (timestamptz(3), (0)) is refused, by
 * prepare_table, check_model and every sync, naming the column and the
 * fix: a rounded stamp can fall below the sync point of its own running
 * transaction. Changed after prepare_table, it is caught by the sync. */
static void
test_stamp_precision (void)
{
  static const char *const types[] = { "timestamptz(3)", "timestamptz(0)" };

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autofree char *columns = g_strdup_printf ("(id bigint PRIMARY KEY, title text NOT NULL,"
                                                  " deleted boolean NOT NULL DEFAULT false,"
                                                  " last_synced_at %s NOT NULL DEFAULT clock_timestamp())",
                                                  types[i]);
      g_autoptr (PgTable) t = pg_table_new ("rounded", columns);
      g_autoptr (GError) error = NULL;

      g_assert_false (carb_store_prepare_table (t->store, &t->model, &error));
      g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
      g_assert_nonnull (strstr (error->message, "ALTER COLUMN"));
      g_clear_error (&error);
      assert_refused (t, CARB_ERROR_SCHEMA_MISMATCH, "last_synced_at", "TYPE timestamptz");

      /* Full precision, prepared; then narrowed behind the store's back. */
      test_db_exec (t->admin, "ALTER TABLE %s ALTER COLUMN last_synced_at TYPE timestamptz", t->qtable);
      pg_table_prepare (t);
      g_autofree char *ok = ids_from (t, NULL, NULL);
      g_assert_cmpstr (ok, ==, "");
      assert_poll_ok (t);
      test_db_exec (t->admin, "ALTER TABLE %s ALTER COLUMN last_synced_at TYPE %s", t->qtable, types[i]);
      g_assert_null (carb_store_download_sync (t->store, &t->model, NULL, 0, NULL, &error));
      g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
      g_assert_nonnull (strstr (error->message, "last_synced_at"));
      assert_poll_refused (t, CARB_ERROR_SCHEMA_MISMATCH, "TYPE timestamptz");
    }
}

/* The stamp column changed behind the store's back to a type that is not
 * timestamptz, but keeps a typmod of -1: a domain over timestamptz(0)
 * rounds every stamp to the second (below the writer's lock time half of
 * the time), and timestamp without time zone shifts it to the writer's
 * zone. Every sync and poll refuse it, as they refuse timestamptz(0). */
static void
test_stamp_type (void)
{
  static const char *const types[] = { "_rounded", "timestamp" };

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autoptr (PgTable) t = pg_table_new ("typed", item_columns);
      g_autofree char *domain = i == 0 ? g_strconcat (t->table, types[i], NULL) : g_strdup (types[i]);
      g_autoptr (GError) error = NULL;

      pg_table_prepare (t);
      g_autofree char *ok = ids_from (t, NULL, NULL);
      g_assert_cmpstr (ok, ==, "");
      assert_poll_ok (t);
      if (i == 0)
        test_db_exec (t->admin, "CREATE DOMAIN %s AS timestamptz(0)", domain);
      test_db_exec (t->admin, "ALTER TABLE %s ALTER COLUMN last_synced_at TYPE %s", t->qtable, domain);
      g_assert_null (carb_store_download_sync (t->store, &t->model, NULL, 0, NULL, &error));
      g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
      g_test_message ("sync: %s", error->message);
      g_assert_nonnull (strstr (error->message, "last_synced_at"));
      g_assert_nonnull (strstr (error->message, "TYPE timestamptz"));
      g_clear_error (&error);
      assert_poll_refused (t, CARB_ERROR_SCHEMA_MISMATCH, "TYPE timestamptz");
      g_assert_false (carb_store_check_model (t->store, &t->model, &error));
      g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
      g_clear_error (&error);
      test_db_exec (t->admin, "DROP TABLE %s", t->qtable);
      if (i == 0)
        test_db_exec (t->admin, "DROP DOMAIN %s", domain);
    }
}

/* A transaction that waits 20 ms, then inserts row @id and holds on while
 * row @id + 100 is committed beside it (so that the next sync is not an
 * idle one) and a sync from @since runs; then commits. Returns the ids the
 * sync after the commit delivers: both, unless the point handed out while
 * the transaction ran was already past row @id's stamp. */
static char *
long_writer (PgTable *t, const CarbSyncPoint *since, gint64 id)
{
  g_autoptr (TestDb) w = test_db_open (t->uri);
  test_db_exec (
      w, "BEGIN; SELECT pg_sleep (0.02); INSERT INTO %s (id, title) VALUES (%" G_GINT64_FORMAT ", 'late')",
      t->qtable, id);
  test_db_exec (t->admin, "INSERT INTO %s (id, title) VALUES (%" G_GINT64_FORMAT ", 'beside')", t->qtable,
                id + 100);
  g_usleep (5000);
  g_autoptr (CarbSyncPoint) held = NULL;
  g_autofree char *during = ids_from (t, since, &held);
  g_assert_cmpstr (during, ==, "");
  test_db_exec (w, "COMMIT");
  return ids_from (t, held, NULL);
}

/* An application's BEFORE row trigger that fires after the stamping
 * trigger (PostgreSQL fires them in name order: "zzz_touch_updated" comes
 * after "zz_carb_stamp_…") and sets the stamp itself, like the common
 * updated_at trigger (moddatetime, NEW.updated_at := now ()). now () is
 * the transaction's start, before its lock: a sync while the transaction
 * runs hands out a point above that stamp, and the row was lost for good.
 * Refused, naming the trigger and the fix. Under a name applications use
 * ("touch_updated") it fires before the stamping trigger, whose stamp
 * then has the last word, and the row arrives. */
static void
test_later_trigger (void)
{
  g_autoptr (PgTable) t = pg_table_new ("touched", item_columns);
  g_autoptr (GError) error = NULL;
  g_autofree char *fn = g_strconcat (t->table, "_touch", NULL);
  g_autofree char *qfn = test_db_quote (fn);

  pg_table_prepare (t);
  g_autoptr (CarbSyncPoint) p1 = NULL;
  g_autofree char *none = ids_from (t, NULL, &p1);
  g_assert_cmpstr (none, ==, "");
  test_db_exec (t->admin,
                "CREATE FUNCTION %s () RETURNS trigger LANGUAGE plpgsql AS"
                " 'BEGIN NEW.last_synced_at := now (); RETURN NEW; END'",
                qfn);
  test_db_exec (t->admin,
                "CREATE TRIGGER zzz_touch_updated BEFORE INSERT OR UPDATE ON %s FOR EACH ROW"
                " EXECUTE FUNCTION %s ()",
                t->qtable, qfn);
  assert_refused (t, CARB_ERROR_SCHEMA_MISMATCH, "zzz_touch_updated", "RENAME TO");
  g_assert_false (carb_store_prepare_table (t->store, &t->model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, "zzz_touch_updated"));
  g_clear_error (&error);

  /* Disabled, it does not fire; an AFTER trigger or a statement trigger
   * cannot change the row. */
  test_db_exec (t->admin, "ALTER TABLE %s DISABLE TRIGGER zzz_touch_updated", t->qtable);
  assert_poll_ok (t);
  test_db_exec (t->admin, "ALTER TABLE %s ENABLE REPLICA TRIGGER zzz_touch_updated", t->qtable);
  assert_refused (t, CARB_ERROR_SCHEMA_MISMATCH, "zzz_touch_updated", "RENAME TO");

  /* Renamed as applications name theirs, it fires first: the stamping
   * trigger has the last word. */
  test_db_exec (t->admin, "ALTER TABLE %s ENABLE TRIGGER zzz_touch_updated", t->qtable);
  test_db_exec (t->admin, "ALTER TRIGGER zzz_touch_updated ON %s RENAME TO touch_updated", t->qtable);
  g_assert_true (carb_store_check_model (t->store, &t->model, &error));
  g_assert_no_error (error);
  assert_poll_ok (t);
  g_autofree char *after = long_writer (t, p1, 1);
  g_assert_cmpstr (after, ==, "1,101");
  test_db_exec (t->admin, "DROP TABLE %s; DROP FUNCTION %s ()", t->qtable, qfn);
}

/* Earlier builds named the stamping trigger and its function
 * "carb_stamp_…", which fires before most applications' triggers:
 * prepare_table drops them and installs "zz_carb_stamp_…", so the table
 * ends with one stamping trigger, firing last. */
static void
test_legacy_stamp_name (void)
{
  g_autoptr (PgTable) t = pg_table_new ("legacy", item_columns);
  g_autoptr (GError) error = NULL;
  pg_table_prepare (t);
  g_autofree char *name = test_db_query_text (
      t->admin,
      "SELECT tgname FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgname LIKE 'zz\\_carb\\_stamp%%'",
      t->qtable);
  g_strchomp (name);
  g_assert_true (g_str_has_prefix (name, "zz_carb_stamp_"));
  const char *legacy = name + strlen ("zz_");
  test_db_exec (t->admin, "ALTER TRIGGER %s ON %s RENAME TO %s; ALTER FUNCTION %s () RENAME TO %s", name,
                t->qtable, legacy, name, legacy);
  assert_refused (t, CARB_ERROR_NOT_PREPARED, name, "carb_store_prepare_table");
  pg_table_prepare (t);
  g_autofree char *left = test_db_query_text (t->admin,
                                              "SELECT string_agg (tgname, ',') FROM pg_trigger WHERE tgrelid "
                                              "= '%s'::regclass AND tgname LIKE '%%stamp%%'",
                                              t->qtable);
  g_strchomp (left);
  g_assert_cmpstr (left, ==, name);
  g_assert_cmpint (test_db_query_int (t->admin, "SELECT count (*) FROM pg_proc WHERE proname = '%s'", legacy),
                   ==, 0);
  g_assert_true (carb_store_check_model (t->store, &t->model, &error));
  g_assert_no_error (error);
  test_db_exec (t->admin, "DROP TABLE %s", t->qtable);
}

/* A legacy inheritance child escapes the parent's trigger: refused, by
 * prepare_table and, for a child added later, by check_model and every
 * sync, naming the child. */
static void
test_inheritance (void)
{
  g_autoptr (PgTable) t = pg_table_new ("parent", item_columns);
  g_autofree char *child = g_strconcat (t->table, "_child", NULL);
  g_autofree char *qchild = test_db_quote (child);
  g_autoptr (GError) error = NULL;

  pg_table_prepare (t);
  assert_poll_ok (t);
  test_db_exec (t->admin, "CREATE TABLE %s () INHERITS (%s)", qchild, t->qtable);
  assert_refused (t, CARB_ERROR_NOT_PREPARED, child, "PARTITION BY");
  g_assert_false (carb_store_prepare_table (t->store, &t->model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED);
  g_assert_nonnull (strstr (error->message, child));
  g_clear_error (&error);

  test_db_exec (t->admin, "DROP TABLE %s", qchild);
  g_assert_true (carb_store_check_model (t->store, &t->model, &error));
  g_assert_no_error (error);
  assert_poll_ok (t);
}

/* Declarative partitions carry the trigger: rows written through the
 * parent and straight into a partition, one created before prepare_table
 * and one attached after, are stamped and delivered; a partition whose
 * copy of the trigger is disabled is refused by name. */
static void
test_partitions (void)
{
  g_autoptr (PgTable) t = pg_table_new ("parted", NULL);
  g_autofree char *p1 = g_strconcat (t->table, "_p1", NULL);
  g_autofree char *p2 = g_strconcat (t->table, "_p2", NULL);
  g_autofree char *qp1 = test_db_quote (p1);
  g_autofree char *qp2 = test_db_quote (p2);
  g_autoptr (GError) error = NULL;

  test_db_exec (
      t->admin,
      "CREATE TABLE %s (id bigint PRIMARY KEY, title text NOT NULL,"
      " deleted boolean NOT NULL DEFAULT false, last_synced_at timestamptz NOT NULL DEFAULT '-infinity')"
      " PARTITION BY RANGE (id)",
      t->qtable);
  test_db_exec (t->admin, "CREATE TABLE %s PARTITION OF %s FOR VALUES FROM (0) TO (100)", qp1, t->qtable);
  pg_table_prepare (t);
  test_db_exec (t->admin, "CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS)", qp2, t->qtable);
  test_db_exec (t->admin, "ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (100) TO (200)", t->qtable,
                qp2);
  g_assert_true (carb_store_check_model (t->store, &t->model, &error));
  g_assert_no_error (error);

  gint64 before = server_now (t->admin);
  test_db_exec (t->admin, "INSERT INTO %s (id, title) VALUES (1, 'parent'), (101, 'parent')", t->qtable);
  test_db_exec (t->admin, "INSERT INTO %s (id, title) VALUES (2, 'direct')", qp1);
  test_db_exec (t->admin, "INSERT INTO %s (id, title) VALUES (102, 'direct')", qp2);
  g_autoptr (CarbSyncResult) r = sync_ok (t->store, &t->model, NULL);
  g_assert_cmpuint (carb_sync_result_get_n_rows (r), ==, 4);
  for (gsize i = 0; i < 4; i++)
    g_assert_cmpint (((const Item *) carb_sync_result_get_row (r, i))->last_synced_at, >=, before);

  test_db_exec (t->admin, "ALTER TABLE %s DISABLE TRIGGER ALL", qp2);
  assert_refused (t, CARB_ERROR_NOT_PREPARED, p2, "carb_store_prepare_table");
  pg_table_prepare (t);
  g_assert_true (carb_store_check_model (t->store, &t->model, &error));
  g_assert_no_error (error);
  assert_poll_ok (t);

  /* Once a poll has seen the partitions (its probe then checks the whole
   * tree), a partition's trigger disabled between two polls fails the
   * next one. */
  test_db_exec (t->admin, "ALTER TABLE %s DISABLE TRIGGER ALL", qp1);
  assert_poll_refused (t, CARB_ERROR_NOT_PREPARED, p1);
  pg_table_prepare (t);
  assert_poll_ok (t);
}

/* DISCARD ALL and DEALLOCATE ALL run through the store drop its prepared
 * statements and settings: the next sync sets them up again by itself. */
static void
test_discard (void)
{
  /* The last drops one of the clock source's statements (named carb_w_
   * and a digest of its text) and leaves the others. */
  static const char *const commands[] = {
    "DISCARD ALL",
    "DEALLOCATE ALL",
    "DO $$ DECLARE n text; BEGIN SELECT name INTO STRICT n FROM pg_prepared_statements"
    " WHERE name LIKE 'carb\\_w\\_%'; EXECUTE format ('DEALLOCATE %I', n); END $$",
  };
  g_autoptr (PgTable) t = pg_table_new ("discard", item_columns);
  pg_table_prepare (t);
  test_db_exec (t->admin, "INSERT INTO %s (id, title) VALUES (1, 'x')", t->qtable);
  g_autofree char *first = ids_from (t, NULL, NULL);
  g_assert_cmpstr (first, ==, "1");

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_true (carb_store_execute (t->store, commands[i], &error));
      g_assert_no_error (error);
      for (guint n = 0; n < 2; n++)
        {
          g_autofree char *again = ids_from (t, NULL, NULL);
          g_assert_cmpstr (again, ==, "1");
        }
    }
}

/* A prepared (two-phase) transaction holds the sync point at its own
 * start, not at -infinity; its row arrives after COMMIT PREPARED. */
static void
test_prepared_transaction (void)
{
  g_autoptr (PgTable) t = pg_table_new ("twophase", item_columns);
  g_autofree char *gid = unique_name ("carb_gid");
  if (test_db_query_int (t->admin, "SELECT current_setting ('max_prepared_transactions')::int") == 0)
    g_error ("this test needs max_prepared_transactions > 0 (scripts/test.sh sets it)");
  pg_table_prepare (t);
  test_db_exec (t->admin, "INSERT INTO %s (id, title) VALUES (1, 'committed')", t->qtable);

  g_autoptr (TestDb) w = test_db_open (t->uri);
  gint64 began = server_now (w);
  test_db_exec (w, "BEGIN; INSERT INTO %s (id, title) VALUES (2, 'prepared')", t->qtable);
  gint64 stamped = stamp_of (w, t->qtable, 2);
  test_db_exec (w, "PREPARE TRANSACTION '%s'", gid);
  g_usleep (5000);

  g_autoptr (CarbSyncPoint) p1 = NULL;
  g_autofree char *first = ids_from (t, NULL, &p1);
  g_assert_cmpint (carb_sync_point_get_time (p1), <, stamped);
  g_assert_cmpint (carb_sync_point_get_time (p1), >=, began - 1000 - 1); /* the lock's key is in ms */
  g_test_message ("first sync: %s, point %" G_GINT64_FORMAT " µs below the prepared row", first,
                  stamped - carb_sync_point_get_time (p1));

  test_db_exec (t->admin, "COMMIT PREPARED '%s'", gid);
  g_autoptr (CarbSyncPoint) p2 = NULL;
  g_autofree char *next = ids_from (t, p1, &p2);
  g_autofree char *all = g_strconcat (first, ",", next, NULL);
  g_assert_cmpstr (all, ==, "1,2");
}

/* Rolling back to a savepoint releases the trigger's lock and forgets it
 * was taken, together: the next stamp of the transaction takes it again,
 * so the sync point stays below that row. */
static void
test_savepoint (void)
{
  g_autoptr (PgTable) t = pg_table_new ("savepoint", item_columns);
  pg_table_prepare (t);
  g_autoptr (CarbSyncPoint) p1 = NULL;
  g_autofree char *none = ids_from (t, NULL, &p1);

  g_autoptr (TestDb) w = test_db_open (t->uri);
  test_db_exec (w, "BEGIN; SAVEPOINT a; INSERT INTO %s (id, title) VALUES (1, 'undone'); ROLLBACK TO a",
                t->qtable);
  test_db_exec (w, "INSERT INTO %s (id, title) VALUES (2, 'kept')", t->qtable);
  test_db_exec (w, "SAVEPOINT b; INSERT INTO %s (id, title) VALUES (3, 'undone'); ROLLBACK TO b", t->qtable);
  gint64 stamped = stamp_of (w, t->qtable, 2);
  g_usleep (5000);

  g_autoptr (CarbSyncPoint) p2 = NULL;
  g_autofree char *held = ids_from (t, p1, &p2);
  g_assert_cmpstr (held, ==, "");
  g_assert_cmpint (carb_sync_point_get_time (p2), <, stamped);
  test_db_exec (w, "COMMIT");
  g_autofree char *after = ids_from (t, p2, NULL);
  g_assert_cmpstr (after, ==, "2");
}

/* Beyond the common in-transaction test: a failed transaction of the
 * application is not rolled back by a sync either, and prepare_table does
 * not commit the application's transaction. */
static void
test_in_failed_transaction (void)
{
  g_autoptr (PgTable) t = pg_table_new ("intxn", item_columns);
  g_autoptr (GError) error = NULL;
  pg_table_prepare (t);

  g_assert_true (carb_store_execute (t->store, "BEGIN", &error));
  g_assert_false (carb_store_prepare_table (t->store, &t->model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_IN_TRANSACTION);
  g_clear_error (&error);
  g_assert_false (carb_store_execute (t->store, "SELECT 1/0", &error));
  g_clear_error (&error);
  g_assert_null (carb_store_download_sync (t->store, &t->model, NULL, 0, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_IN_TRANSACTION);
  g_clear_error (&error);
  /* Still the application's failed transaction, until it ends it. */
  g_assert_false (carb_store_execute (t->store, "SELECT 1", &error));
  g_assert_nonnull (strstr (error->message, "aborted"));
  g_clear_error (&error);
  g_assert_true (carb_store_execute (t->store, "ROLLBACK", &error));
  g_autofree char *ids = ids_from (t, NULL, NULL);
  g_assert_cmpstr (ids, ==, "");
}

typedef struct
{
  char *id;
  char *title;
  gint64 ts;
} Keyed;

CARB_DEFINE_STATIC_MODEL (keyed_model,
                          Keyed,
                          NULL,
                          "keyed",
                          CARB_ID (Keyed, id, TEXT),
                          CARB_COLUMN (Keyed, title, TEXT),
                          CARB_TIMESTAMP (Keyed, ts));

/* Collects a sync's ids into @seen; fails on a repeat. */
static gsize
collect_ids (CarbSyncResult *r, GHashTable *seen)
{
  gsize n = 0;
  const Keyed *rows = carb_sync_result_get_rows (r, &n);
  for (gsize i = 0; i < n; i++)
    {
      g_assert_false (g_hash_table_contains (seen, rows[i].id));
      g_hash_table_add (seen, g_strdup (rows[i].id));
    }
  return n;
}

/* More rows than one batch (8192): the first page comes with the clock
 * source, the rest from a cursor after its last (ts, id), resumed from a
 * text or a uuid id. Whole syncs and pages of 10,000 (a page that crosses
 * the batch) deliver every row once. */
static void
test_batch_boundary (gconstpointer data)
{
  const char *id_type = data;
  enum
  {
    N = 8192 * 2 + 5
  };
  g_autofree char *uri = test_store_uri ("postgres", NULL);
  g_autoptr (TestDb) db = test_db_open (uri);
  g_autofree char *table = unique_name ("batch");
  g_autofree char *qtable = test_db_quote (table);
  CarbModel model = keyed_model;
  CarbColumn columns[3];
  memcpy (columns, keyed_model.columns, sizeof columns);
  columns[0].type = strcmp (id_type, "uuid") == 0 ? CARB_COLUMN_TYPE_UUID : CARB_COLUMN_TYPE_TEXT;
  model.columns = columns;
  model.table = table;

  test_db_exec (db,
                "CREATE TABLE %s (id %s PRIMARY KEY, title text NOT NULL,"
                " ts timestamptz NOT NULL DEFAULT clock_timestamp())",
                qtable, id_type);
  g_autoptr (CarbStore) store = open_store (uri);
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_prepare_table (store, &model, &error));
  g_assert_no_error (error);
  test_db_exec (db, "INSERT INTO %s (id, title) SELECT %s, 'row ' || i FROM generate_series (1, %d) i",
                qtable, strcmp (id_type, "uuid") == 0 ? "md5 (i::text)::uuid" : "'k' || (i * 7919 % 100003)",
                N);

  /* Whole: a first sync, and a sync from a point below every row (the
   * probe finds them). */
  g_autoptr (CarbSyncPoint) zero = carb_sync_point_new (0);
  const CarbSyncPoint *starts[] = { NULL, zero };
  for (guint s = 0; s < G_N_ELEMENTS (starts); s++)
    {
      g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_autoptr (CarbSyncResult) r = sync_ok (store, &model, starts[s]);
      g_assert_cmpuint (collect_ids (r, seen), ==, N);
      g_assert_false (carb_sync_result_has_more (r));
    }

  /* Pages of 10,000: 10,000, 6,389, then nothing. */
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (CarbSyncPoint) point = NULL;
  const gsize pages[] = { 10000, N - 10000, 0 };
  for (guint p = 0; p < G_N_ELEMENTS (pages); p++)
    {
      g_autoptr (CarbSyncResult) r = carb_store_download_sync (store, &model, point, 10000, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (collect_ids (r, seen), ==, pages[p]);
      g_assert_true (carb_sync_result_has_more (r) == (pages[p] == 10000));
      g_clear_pointer (&point, carb_sync_point_free);
      point = carb_sync_point_copy (carb_sync_result_get_synced_until (r));
    }
  g_assert_cmpuint (g_hash_table_size (seen), ==, N);
  test_db_exec (db, "DROP TABLE %s", qtable);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/postgres/explain-uses-index", test_explain_uses_index);
  g_test_add_func ("/postgres/schema", test_schema);
  g_test_add_func ("/postgres/hostile-name", test_hostile_name);
  g_test_add_func ("/postgres/privileges", test_privileges);
  g_test_add_func ("/postgres/track-activities-off", test_track_activities_off);
  g_test_add_func ("/postgres/stamp-precision", test_stamp_precision);
  g_test_add_func ("/postgres/stamp-type", test_stamp_type);
  g_test_add_func ("/postgres/later-trigger", test_later_trigger);
  g_test_add_func ("/postgres/legacy-stamp-name", test_legacy_stamp_name);
  g_test_add_func ("/postgres/inheritance", test_inheritance);
  g_test_add_func ("/postgres/partitions", test_partitions);
  g_test_add_func ("/postgres/discard", test_discard);
  g_test_add_func ("/postgres/prepared-transaction", test_prepared_transaction);
  g_test_add_func ("/postgres/savepoint", test_savepoint);
  g_test_add_func ("/postgres/in-failed-transaction", test_in_failed_transaction);
  g_test_add_func ("/postgres/application-name", test_application_name);
  g_test_add_data_func ("/postgres/batch-boundary/text", "text", test_batch_boundary);
  g_test_add_data_func ("/postgres/batch-boundary/uuid", "uuid", test_batch_boundary);
  return g_test_run ();
}
