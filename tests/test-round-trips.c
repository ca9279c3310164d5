/* Protocol round trips of a sync on PostgreSQL (issue #13), counted by a
 * proxy that parses the v3 protocol between the store and the server
 * (rt-proxy.h), not timed:
 *
 *   proxy-counts          the counter itself: PQexec, pipelines, PQexecParams
 *   first-sync            a store's first sync of 10 rows (connect excluded)
 *   idle-poll             a sync from the last point that finds nothing
 *   ten-rows              a sync that finds 10 new rows
 *   more-than-one-batch   a sync of more rows than one FETCH batch
 *   idle-poll-tables      idle polls of a list of tables, one after another
 *   poll-tables           carb_store_poll() of a group of tables, idle and
 *                         with one table changed
 *   apply                 two-way carb_store_apply_changes() of 10 new
 *                         rows, then of the same batch again (all lose)
 *   replica-idle-sync     an idle carb_replica_sync() of a 10-table group
 *
 * The bounds are the counts of issue #13's design (docs/SYNC.md, "Round
 * trips"): an idle poll is one statement, a sync of up to one batch one
 * pipeline after it, a group of tables one statement. Whoever makes a
 * count lower tightens its bound here; a higher count is a regression. A
 * failure prints every round trip's messages.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <libpq-fe.h>
#include <string.h>
#include <unistd.h>

#include "rt-proxy.h"
#include "testdb.h"

/* See docs/PERFORMANCE.md, "Round trips". */
#define MAX_RT_FIRST_SYNC  1 /* BEGIN, clock, W, first page, COMMIT; the Parses go with them */
#define MAX_RT_IDLE_POLL   1 /* the probe */
#define MAX_RT_TEN_ROWS    2 /* the probe, then the pipeline */
#define MAX_RT_TWO_BATCHES 3 /* 20,000 rows: probe, first page, BEGIN; COPY; COMMIT */
#define MAX_RT_POLL        1 /* any number of tables */
/* Two-way apply of a batch of up to 500 rows of one table: the table's
 * preparation check (before BEGIN), COMMIT, one locking read of all the
 * rows with BEGIN in its pipeline, and when something won one write per
 * kind of row (the new ones; the existing ones with the same won
 * columns), which returns the rows as stored: no read-back, no savepoint
 * unless the database refuses a row. */
#define MAX_RT_APPLY_FIXED 2
#define MAX_RT_APPLY_READ  1
#define MAX_RT_APPLY_WRITE 1
#define APPLY_ROWS         10
#define N_TABLES           3
/* An idle carb_replica_sync() of a group, whatever its number of tables:
 * nothing pending costs nothing, then the group's poll (a purge keeps the
 * tombstones of its newest stamp, so the poll sees an expired point too,
 * without a read of the horizons). */
#define MAX_RT_REPLICA_IDLE 1
#define REPLICA_TABLES      10
/* A download page of a table from a point: the purge horizon, then a
 * sync of rows (the probe, the pipeline: MAX_RT_TEN_ROWS); for a filtered
 * table whose page left rows out, one more, the move log's answer on
 * which of them to withdraw. */
#define MAX_RT_DOWNLOAD_FROM_POINT (1 + MAX_RT_TEN_ROWS)
#define MAX_RT_WITHDRAWALS         1

/* More rows than one FETCH batch (CARB_PG_FETCH_ROWS, 8192) holds. */
#define MANY_ROWS 20000

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

typedef struct
{
  TestDb *db; /* straight to the server: writes are not counted */
  RtProxy *proxy;
  char *proxy_uri;
  CarbStore *store; /* through the proxy */
  char *tables[N_TABLES];
  CarbModel models[N_TABLES];
  CarbSyncPoint *points[N_TABLES];
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  static guint counter;
  g_autoptr (GError) error = NULL;
  g_autofree char *uri = test_store_uri ("postgres", NULL);

  f->db = test_db_open (uri);
  f->proxy = rt_proxy_new_for_uri (uri, &f->proxy_uri, &error);
  g_assert_no_error (error);
  f->store = carb_store_open (f->proxy_uri, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < N_TABLES; i++)
    {
      f->tables[i] = g_strdup_printf ("rt_items_%d_%u", (int) getpid (), counter++);
      test_db_exec (f->db,
                    "CREATE TABLE %s (id bigint PRIMARY KEY, title text NOT NULL,"
                    " ts timestamptz NOT NULL DEFAULT clock_timestamp())",
                    f->tables[i]);
      f->models[i] = item_model;
      f->models[i].table = f->tables[i];
      g_assert_true (carb_store_prepare_table (f->store, &f->models[i], &error));
      g_assert_no_error (error);
    }
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  for (guint i = 0; i < N_TABLES; i++)
    {
      test_db_exec (f->db, "DROP TABLE %s", f->tables[i]);
      g_free (f->tables[i]);
      g_clear_pointer (&f->points[i], carb_sync_point_free);
    }
  g_object_unref (f->store);
  rt_proxy_free (f->proxy);
  g_free (f->proxy_uri);
  test_db_free (f->db);
}

static void
insert_rows (Fixture *f, guint table, guint first, guint n)
{
  test_db_exec (f->db, "INSERT INTO %s (id, title) SELECT i, 'item ' || i FROM generate_series (%u, %u) i",
                f->tables[table], first, first + n - 1);
}

/* One unpaged sync of @table from its last point; returns its rows. */
static gsize
sync_table (Fixture *f, guint table)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncResult) result
      = carb_store_download_sync (f->store, &f->models[table], f->points[table], 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (carb_sync_result_has_more (result));
  g_clear_pointer (&f->points[table], carb_sync_point_free);
  f->points[table] = carb_sync_point_copy (carb_sync_result_get_synced_until (result));
  return carb_sync_result_get_n_rows (result);
}

/* Round trips since the last reset, at most @bound; the log on failure. */
static guint
assert_round_trips (Fixture *f, const char *what, guint bound)
{
  guint n = rt_proxy_get_round_trips (f->proxy);
  g_autofree char *log = rt_proxy_dup_log (f->proxy);
  g_test_message ("%s: %u round trip(s), %u Sync/Query message(s)\n%s", what, n,
                  rt_proxy_get_syncs (f->proxy), log);
  if (n > bound)
    g_test_fail_printf ("%s took %u round trips, more than %u:\n%s", what, n, bound, log);
  /* Everything went through one connection: the store's. */
  g_assert_cmpuint (rt_proxy_get_connections (f->proxy), ==, 0);
  return n;
}

/* ------------------------------------------------------------------ */

static PGresult *
get_result (PGconn *conn)
{
  PGresult *res = PQgetResult (conn);
  g_assert_nonnull (res);
  return res;
}

/* The counter against waits whose number is known. */
static void
test_proxy_counts (Fixture *f, gconstpointer data)
{
  PGconn *conn = PQconnectdb (f->proxy_uri);
  g_assert_cmpint (PQstatus (conn), ==, CONNECTION_OK);

  rt_proxy_reset (f->proxy);
  PQclear (PQexec (conn, "SELECT 1"));
  g_assert_cmpuint (rt_proxy_get_round_trips (f->proxy), ==, 1);
  PQclear (PQexec (conn, "SELECT 1; SELECT 2"));
  PQclear (PQexec (conn, "SELECT 3"));
  g_assert_cmpuint (rt_proxy_get_round_trips (f->proxy), ==, 3);

  /* Extended protocol: Parse, Bind, Describe, Execute, Sync. */
  rt_proxy_reset (f->proxy);
  const char *values[] = { "42" };
  PGresult *res = PQexecParams (conn, "SELECT $1::int + 1", 1, NULL, values, NULL, NULL, 0);
  g_assert_cmpint (PQresultStatus (res), ==, PGRES_TUPLES_OK);
  g_assert_cmpstr (PQgetvalue (res, 0, 0), ==, "43");
  PQclear (res);
  g_assert_cmpuint (rt_proxy_get_round_trips (f->proxy), ==, 1);

  /* Three statements, three Syncs, one flush: one wait. */
  rt_proxy_reset (f->proxy);
  g_assert_true (PQenterPipelineMode (conn));
  for (int i = 0; i < 3; i++)
    {
      g_assert_true (PQsendQueryParams (conn, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0));
      g_assert_true (PQpipelineSync (conn));
    }
  for (int i = 0; i < 3; i++)
    {
      res = get_result (conn);
      g_assert_cmpint (PQresultStatus (res), ==, PGRES_TUPLES_OK);
      PQclear (res);
      g_assert_null (PQgetResult (conn));
      res = get_result (conn);
      g_assert_cmpint (PQresultStatus (res), ==, PGRES_PIPELINE_SYNC);
      PQclear (res);
    }
  g_assert_true (PQexitPipelineMode (conn));
  g_assert_cmpuint (rt_proxy_get_round_trips (f->proxy), ==, 1);
  g_assert_cmpuint (rt_proxy_get_syncs (f->proxy), ==, 3);

  /* An error inside the extended protocol still ends at its Sync. */
  rt_proxy_reset (f->proxy);
  res = PQexecParams (conn, "SELECT 1/0", 0, NULL, NULL, NULL, NULL, 0);
  g_assert_cmpint (PQresultStatus (res), ==, PGRES_FATAL_ERROR);
  PQclear (res);
  PQclear (PQexec (conn, "SELECT 1"));
  g_assert_cmpuint (rt_proxy_get_round_trips (f->proxy), ==, 2);
  PQfinish (conn);
}

static void
test_first_sync (Fixture *f, gconstpointer data)
{
  insert_rows (f, 0, 1, 10);
  rt_proxy_reset (f->proxy);
  g_assert_cmpuint (sync_table (f, 0), ==, 10);
  assert_round_trips (f, "first sync of 10 rows", MAX_RT_FIRST_SYNC);
}

static void
test_idle_poll (Fixture *f, gconstpointer data)
{
  insert_rows (f, 0, 1, 10);
  g_assert_cmpuint (sync_table (f, 0), ==, 10);
  /* The steady state: every idle poll costs the same. */
  for (guint i = 0; i < 5; i++)
    {
      rt_proxy_reset (f->proxy);
      g_assert_cmpuint (sync_table (f, 0), ==, 0);
      assert_round_trips (f, "idle poll", MAX_RT_IDLE_POLL);
    }
}

static void
test_ten_rows (Fixture *f, gconstpointer data)
{
  insert_rows (f, 0, 1, 10);
  g_assert_cmpuint (sync_table (f, 0), ==, 10);
  insert_rows (f, 0, 11, 10);
  rt_proxy_reset (f->proxy);
  g_assert_cmpuint (sync_table (f, 0), ==, 10);
  assert_round_trips (f, "sync of 10 new rows", MAX_RT_TEN_ROWS);
}

static void
test_more_than_one_batch (Fixture *f, gconstpointer data)
{
  insert_rows (f, 0, 1, 10);
  g_assert_cmpuint (sync_table (f, 0), ==, 10);
  insert_rows (f, 0, 11, MANY_ROWS);
  rt_proxy_reset (f->proxy);
  g_assert_cmpuint (sync_table (f, 0), ==, MANY_ROWS);
  assert_round_trips (f, "sync of 20000 new rows", MAX_RT_TWO_BATCHES);
}

/* A device polls several models; today each is its own sync. */
static void
test_idle_poll_tables (Fixture *f, gconstpointer data)
{
  for (guint t = 0; t < N_TABLES; t++)
    {
      insert_rows (f, t, 1, 3);
      g_assert_cmpuint (sync_table (f, t), ==, 3);
    }
  rt_proxy_reset (f->proxy);
  for (guint t = 0; t < N_TABLES; t++)
    g_assert_cmpuint (sync_table (f, t), ==, 0);
  assert_round_trips (f, "idle poll of 3 tables", N_TABLES * MAX_RT_IDLE_POLL);
}

/* A device polls several models at once: one statement for the group. */
static void
test_poll_tables (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  const CarbModel *models[N_TABLES];
  gboolean changed[N_TABLES];

  for (guint t = 0; t < N_TABLES; t++)
    {
      models[t] = &f->models[t];
      insert_rows (f, t, 1, 3);
      g_assert_cmpuint (sync_table (f, t), ==, 3);
    }
  for (guint i = 0; i < 3; i++)
    {
      rt_proxy_reset (f->proxy);
      g_assert_true (carb_store_poll (f->store, models, (const CarbSyncPoint *const *) f->points, N_TABLES,
                                      changed, NULL, &error));
      g_assert_no_error (error);
      for (guint t = 0; t < N_TABLES; t++)
        g_assert_false (changed[t]);
      assert_round_trips (f, "poll of 3 idle tables", MAX_RT_POLL);
    }
  insert_rows (f, 1, 4, 1);
  rt_proxy_reset (f->proxy);
  g_assert_true (carb_store_poll (f->store, models, (const CarbSyncPoint *const *) f->points, N_TABLES,
                                  changed, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (changed[0]);
  g_assert_true (changed[1]);
  g_assert_false (changed[2]);
  assert_round_trips (f, "poll of 3 tables, one changed", MAX_RT_POLL);
}

static GBytes *
apply_batch (const char *table, const char *prefix, guint64 hlc)
{
  CarbChange changes[APPLY_ROWS];
  char ids[APPLY_ROWS][8];
  for (guint i = 0; i < APPLY_ROWS; i++)
    {
      g_snprintf (ids[i], sizeof ids[i], "%s%u", prefix, i);
      changes[i] = (CarbChange){
        (char *) table, ids[i], "title", { hlc, 1 }, g_variant_ref_sink (g_variant_new_string ("t"))
      };
    }
  GBytes *bytes = carb_changeset_serialize (changes, APPLY_ROWS);
  for (guint i = 0; i < APPLY_ROWS; i++)
    g_variant_unref (changes[i].value);
  return bytes;
}

static void
test_apply (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *table = g_strdup_printf ("%s_twoway", f->tables[0]);
  g_autoptr (CarbModel) model = carb_model_new (NULL, table);
  g_assert_true (carb_model_add_column (model, "id", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_ID, 0, NULL));
  g_assert_true (carb_model_add_column (model, "title", CARB_COLUMN_TYPE_TEXT, 0, 0, NULL));
  g_assert_true (
      carb_model_add_column (model, "deleted", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DELETED, 0, NULL));
  g_assert_true (
      carb_model_add_column (model, "ts", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_TIMESTAMP, 0, NULL));
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("rt");
  g_assert_true (carb_sync_group_add_model (group, model, &error));
  g_assert_true (carb_store_create_table (f->store, carb_sync_group_get_wire_model (group, 0), &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_group (f->store, group, &error));
  g_assert_no_error (error);
  guint64 hlc = ((guint64) (g_get_real_time () / 1000 - 1000)) << CARB_HLC_COUNTER_BITS;
  /* A first apply checks the wire model against the table: not counted. */
  g_autoptr (GBytes) warm = apply_batch (table, "r", hlc);
  g_autoptr (GBytes) r0 = carb_store_apply_changes (f->store, group, NULL, warm, NULL, &error);
  g_assert_no_error (error);

  g_autoptr (GBytes) batch = apply_batch (table, "r", hlc + 1);
  rt_proxy_reset (f->proxy);
  g_autoptr (GBytes) r1 = carb_store_apply_changes (f->store, group, NULL, batch, NULL, &error);
  g_assert_no_error (error);
  assert_round_trips (f, "apply of 10 rows that win",
                      MAX_RT_APPLY_FIXED + MAX_RT_APPLY_READ + MAX_RT_APPLY_WRITE);
  rt_proxy_reset (f->proxy);
  g_autoptr (GBytes) r2 = carb_store_apply_changes (f->store, group, NULL, batch, NULL, &error);
  g_assert_no_error (error);
  assert_round_trips (f, "apply of 10 rows that all lose", MAX_RT_APPLY_FIXED + MAX_RT_APPLY_READ);
  g_autoptr (GBytes) fresh = apply_batch (table, "n", hlc + 2);
  rt_proxy_reset (f->proxy);
  g_autoptr (GBytes) r3 = carb_store_apply_changes (f->store, group, NULL, fresh, NULL, &error);
  g_assert_no_error (error);
  assert_round_trips (f, "apply of 10 new rows", MAX_RT_APPLY_FIXED + MAX_RT_APPLY_READ + MAX_RT_APPLY_WRITE);

  g_autofree char *drop = g_strdup_printf ("DROP TABLE %s", table);
  test_db_exec (f->db, "%s", drop);
}

/* One download page of @group's table for @user from @since: its round
 * trips are checked, and the number of withdrawals it holds returned. */
static guint
filtered_page (Fixture *f, CarbSyncGroup *group, const char *user, const CarbSyncPoint *since, guint max_rt)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncPoint) until = NULL;
  g_autofree char *context = g_strdup_printf ("{'user': <'%s'>}", user);
  rt_proxy_reset (f->proxy);
  g_autoptr (GBytes) page = carb_store_download_changes (f->store, group, g_variant_new_parsed (context), 0,
                                                         since, 0, &until, NULL, NULL, &error);
  g_assert_no_error (error);
  assert_round_trips (f, "a filtered download page", max_rt);
  g_autoptr (GArray) changes = carb_changeset_parse (page, &error);
  g_assert_no_error (error);
  guint n = 0;
  for (guint i = 0; i < changes->len; i++)
    n += g_array_index (changes, CarbChange, i).column == NULL;
  return n;
}

static void
test_filtered_download (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *table = g_strdup_printf ("%s_owned", f->tables[0]);
  g_autoptr (CarbModel) model = carb_model_new (NULL, table);
  g_assert_true (carb_model_add_column (model, "id", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_ID, 0, NULL));
  g_assert_true (carb_model_add_column (model, "owner", CARB_COLUMN_TYPE_TEXT, 0, 0, NULL));
  g_assert_true (
      carb_model_add_column (model, "deleted", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DELETED, 0, NULL));
  g_assert_true (
      carb_model_add_column (model, "ts", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_TIMESTAMP, 0, NULL));
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("rt_owned");
  g_assert_true (carb_sync_group_add_model (group, model, &error));
  g_assert_true (carb_sync_group_set_filter (group, table, "owner", "user", &error));
  g_assert_true (carb_store_create_table (f->store, carb_sync_group_get_wire_model (group, 0), &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_group (f->store, group, &error));
  g_assert_no_error (error);
  test_db_exec (f->db, "INSERT INTO %s (id, owner) VALUES ('a1', 'ann'), ('a2', 'ann'), ('b1', 'bob')",
                table);
  g_autoptr (CarbSyncPoint) since = NULL;
  g_autoptr (GBytes) first = carb_store_download_changes (
      f->store, group, g_variant_new_parsed ("{'user': <'ann'>}"), 0, NULL, 0, &since, NULL, NULL, &error);
  g_assert_no_error (error);

  /* Only ann's rows changed: nothing left out, nothing to ask. */
  test_db_exec (f->db, "UPDATE %s SET deleted = false WHERE owner = 'ann'", table);
  g_assert_cmpuint (filtered_page (f, group, "ann", since, MAX_RT_DOWNLOAD_FROM_POINT), ==, 0);
  /* a1 moves to bob, and bob's row changes: both left out, one withdrawn. */
  test_db_exec (f->db, "UPDATE %s SET owner = 'bob' WHERE id = 'a1'", table);
  test_db_exec (f->db, "UPDATE %s SET deleted = false WHERE id = 'b1'", table);
  g_assert_cmpuint (filtered_page (f, group, "ann", since, MAX_RT_DOWNLOAD_FROM_POINT + MAX_RT_WITHDRAWALS),
                    ==, 1);

  test_db_exec (f->db, "DROP TABLE %s", table);
}

static void
test_replica_idle_sync (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("rt_replica");
  char *tables[REPLICA_TABLES];
  for (guint i = 0; i < REPLICA_TABLES; i++)
    {
      tables[i] = g_strdup_printf ("%s_r%u", f->tables[0], i);
      g_autoptr (CarbModel) model = carb_model_new (NULL, tables[i]);
      g_assert_true (
          carb_model_add_column (model, "id", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_ID, 0, NULL));
      g_assert_true (carb_model_add_column (model, "title", CARB_COLUMN_TYPE_TEXT, 0, 0, NULL));
      g_assert_true (
          carb_model_add_column (model, "deleted", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DELETED, 0, NULL));
      g_assert_true (carb_model_add_column (model, "ts", CARB_COLUMN_TYPE_TIMESTAMP,
                                            CARB_COLUMN_ROLE_TIMESTAMP, 0, NULL));
      g_assert_true (carb_sync_group_add_model (group, model, &error));
      g_assert_true (carb_store_create_table (f->store, carb_sync_group_get_wire_model (group, i), &error));
      g_assert_no_error (error);
    }
  g_assert_true (carb_store_prepare_group (f->store, group, &error));
  g_assert_no_error (error);
  g_autofree char *dir = g_dir_make_tmp ("carb-rt-replica-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (dir, "replica.db", NULL);
  g_autoptr (CarbReplica) replica = carb_replica_open (path, group, &error);
  g_assert_no_error (error);
  /* A row in every table, uploaded and downloaded: every table has a
   * sync point. */
  for (guint i = 0; i < REPLICA_TABLES; i++)
    {
      g_autofree char *id
          = carb_replica_insert (replica, tables[i], g_variant_new_parsed ("{'title': <'t'>}"), &error);
      g_assert_no_error (error);
    }
  g_assert_true (carb_replica_sync (replica, f->store, NULL, NULL, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < REPLICA_TABLES; i++)
    {
      g_autoptr (CarbSyncPoint) point = carb_replica_get_sync_point (replica, i);
      g_assert_nonnull (point);
    }

  rt_proxy_reset (f->proxy);
  g_assert_true (carb_replica_sync (replica, f->store, NULL, NULL, &error));
  g_assert_no_error (error);
  assert_round_trips (f, "idle replica sync of 10 tables", MAX_RT_REPLICA_IDLE);

  g_clear_object (&replica);
  test_store_dir_remove (dir);
  for (guint i = 0; i < REPLICA_TABLES; i++)
    {
      test_db_exec (f->db, "DROP TABLE %s", tables[i]);
      g_free (tables[i]);
    }
}

static void
skip_no_server (void)
{
  /* Round trips are PostgreSQL's; SQLite has none. In CI (CI set) the
   * backends list names PostgreSQL and a missing server fails instead. */
  g_test_skip ("no PostgreSQL server named (CARB_TEST_PG_URI or PGHOST/PGPORT): nothing to count");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_auto (GStrv) backends = test_store_backends ();
  if (!g_strv_contains ((const char *const *) backends, "postgres"))
    {
      /* Round trips are PostgreSQL's; SQLite has none. */
      g_test_add_func ("/round-trips/no-server", skip_no_server);
      return g_test_run ();
    }
  struct
  {
    const char *name;
    void (*func) (Fixture *, gconstpointer);
  } cases[] = {
    { "proxy-counts", test_proxy_counts },
    { "first-sync", test_first_sync },
    { "idle-poll", test_idle_poll },
    { "ten-rows", test_ten_rows },
    { "more-than-one-batch", test_more_than_one_batch },
    { "idle-poll-tables", test_idle_poll_tables },
    { "poll-tables", test_poll_tables },
    { "apply", test_apply },
    { "replica-idle-sync", test_replica_idle_sync },
    { "filtered-download", test_filtered_download },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/round-trips/postgres/%s", cases[i].name);
      g_test_add (path, Fixture, NULL, fixture_set_up, cases[i].func, fixture_tear_down);
    }
  return g_test_run ();
}
