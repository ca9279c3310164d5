/* Downloads from a streaming hot standby that names its primary
 * (carb_primary; docs/SYNC.md, "On a hot standby"): the sync waits for the
 * standby's replay to pass the primary's WAL position, or refuses to hand
 * out a point. Needs a primary and a standby: tests/with-standby.sh sets
 * CARB_TEST_PG_URI (the primary) and CARB_TEST_PG_STANDBY_URI; without
 * them every case is skipped (outside CI).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <string.h>
#include <unistd.h>

#include "rt-proxy.h"
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

typedef struct
{
  char *primary_uri;
  char *standby_uri;
  TestDb *primary;
  TestDb *standby;
  char *table;
  char *qtable;
  CarbModel model;
} Fixture;

/* The standby's URI naming the primary, plus @extra ("&key=value"). */
static char *
standby_store_uri (Fixture *f, const char *extra)
{
  g_autofree char *escaped = g_uri_escape_string (f->primary_uri, NULL, FALSE);
  return g_strdup_printf ("%s%scarb_primary=%s%s", f->standby_uri, strchr (f->standby_uri, '?') ? "&" : "?",
                          escaped, extra != NULL ? extra : "");
}

static CarbStore *
open_store (const char *uri)
{
  g_autoptr (GError) error = NULL;
  CarbStore *store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  return store;
}

/* The standby has replayed everything the primary has written so far. */
static void
wait_caught_up (Fixture *f)
{
  gint64 behind = 1;
  for (guint i = 0; i < 1000 && behind > 0; i++)
    {
      g_autofree char *lsn = NULL;
      GPtrArray *rows = test_db_query_rows (f->primary, "SELECT pg_current_wal_flush_lsn ()::text");
      lsn = g_strdup (((GStrv) rows->pdata[0])[0]);
      g_ptr_array_unref (rows);
      behind = test_db_query_int (f->standby,
                                  "SELECT (pg_wal_lsn_diff ('%s', pg_last_wal_replay_lsn ()) > 0)::int", lsn);
      if (behind > 0)
        g_usleep (10000);
    }
  g_assert_cmpint (behind, ==, 0);
}

static void
set_up (Fixture *f, gconstpointer data)
{
  const char *primary = g_getenv ("CARB_TEST_PG_URI");
  const char *standby = g_getenv ("CARB_TEST_PG_STANDBY_URI");
  static guint counter;

  if (primary == NULL || standby == NULL)
    {
      if (g_getenv ("CI") != NULL)
        g_error ("CI: CARB_TEST_PG_URI and CARB_TEST_PG_STANDBY_URI must be set (tests/with-standby.sh)");
      g_test_skip ("no primary and standby: run through tests/with-standby.sh");
      return;
    }
  f->primary_uri = g_strdup (primary);
  f->standby_uri = g_strdup (standby);
  f->primary = test_db_open (primary);
  f->standby = test_db_open (standby);
  f->table = g_strdup_printf ("standby_%d_%u", (int) getpid (), counter++);
  f->qtable = test_db_quote (f->table);
  f->model = item_model;
  f->model.table = f->table;
  test_db_exec (f->primary,
                "CREATE TABLE %s (id bigint PRIMARY KEY, title text NOT NULL,"
                " deleted boolean NOT NULL DEFAULT false,"
                " last_synced_at timestamptz NOT NULL DEFAULT clock_timestamp())",
                f->qtable);
  g_autoptr (CarbStore) store = open_store (primary);
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_prepare_table (store, &f->model, &error));
  g_assert_no_error (error);
  wait_caught_up (f);
}

static void
tear_down (Fixture *f, gconstpointer data)
{
  if (f->primary == NULL)
    return;
  /* Whatever a case did to the standby's replay, undo it. */
  test_db_exec (f->standby, "SELECT pg_wal_replay_resume ()");
  test_db_exec (f->standby, "ALTER SYSTEM RESET recovery_min_apply_delay");
  test_db_exec (f->standby, "SELECT pg_reload_conf ()");
  test_db_exec (f->primary, "DROP TABLE %s", f->qtable);
  g_clear_pointer (&f->primary, test_db_free);
  g_clear_pointer (&f->standby, test_db_free);
  g_free (f->primary_uri);
  g_free (f->standby_uri);
  g_free (f->table);
  g_free (f->qtable);
}

static gboolean
has_id (const CarbSyncResult *result, gint64 id)
{
  for (gsize i = 0; i < carb_sync_result_get_n_rows (result); i++)
    if (((const Item *) carb_sync_result_get_row (result, i))->id == id)
      return TRUE;
  return FALSE;
}

static gint64
stamp_of (Fixture *f, gint64 id)
{
  return test_db_query_int (
      f->primary,
      "SELECT (extract (epoch FROM last_synced_at) * 1000000)::int8 FROM %s WHERE id = %" G_GINT64_FORMAT,
      f->qtable, id);
}

/* The standby applies each commit 300 ms after the primary made it
 * (recovery_min_apply_delay): a row committed on the primary just before a
 * standby sync is still invisible there. The sync must wait for it, not
 * hand out a point above it. */
static void
test_waits_for_replay (Fixture *f, gconstpointer data)
{
  if (f->primary == NULL)
    return;
  g_autofree char *uri = standby_store_uri (f, NULL);
  g_autoptr (CarbStore) store = open_store (uri);

  test_db_exec (f->standby, "ALTER SYSTEM SET recovery_min_apply_delay = '300ms'");
  test_db_exec (f->standby, "SELECT pg_reload_conf ()");
  g_usleep (100000); /* the startup process rereads its settings */

  g_autoptr (CarbSyncPoint) point = NULL;
  for (gint64 id = 1; id <= 3; id++)
    {
      g_autoptr (GError) error = NULL;
      test_db_exec (f->primary, "INSERT INTO %s (id, title) VALUES (%" G_GINT64_FORMAT ", 'row')", f->qtable,
                    id);
      gint64 start = g_get_monotonic_time ();
      g_autoptr (CarbSyncResult) result = carb_store_download_sync (store, &f->model, point, 0, NULL, &error);
      g_assert_no_error (error);
      g_test_message ("row %" G_GINT64_FORMAT ": the standby sync took %" G_GINT64_FORMAT " ms, %zu rows", id,
                      (g_get_monotonic_time () - start) / 1000, carb_sync_result_get_n_rows (result));
      const CarbSyncPoint *until = carb_sync_result_get_synced_until (result);
      /* The new row is either delivered or above the point, never lost. */
      g_assert_true (has_id (result, id) || carb_sync_point_get_time (until) < stamp_of (f, id));
      g_assert_true (has_id (result, id));
      g_clear_pointer (&point, carb_sync_point_free);
      point = carb_sync_point_copy (until);
    }
}

/* With the standby's replay paused, a sync times out with a message that
 * names the standby, the gap and the fix, and hands out no point; once
 * replay resumes, the next sync from the same point delivers the row. */
static void
test_paused_replay (Fixture *f, gconstpointer data)
{
  if (f->primary == NULL)
    return;
  g_autofree char *uri = standby_store_uri (f, "&carb_standby_timeout=300");
  g_autoptr (CarbStore) store = open_store (uri);
  g_autoptr (GError) error = NULL;

  g_autoptr (CarbSyncResult) before = carb_store_download_sync (store, &f->model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (before), ==, 0);
  const CarbSyncPoint *point = carb_sync_result_get_synced_until (before);

  test_db_exec (f->standby, "SELECT pg_wal_replay_pause ()");
  test_db_exec (f->primary, "INSERT INTO %s (id, title) VALUES (1, 'while paused')", f->qtable);
  gint64 start = g_get_monotonic_time ();
  g_autoptr (CarbSyncResult) paused = carb_store_download_sync (store, &f->model, point, 0, NULL, &error);
  gint64 took_ms = (g_get_monotonic_time () - start) / 1000;
  g_assert_null (paused);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_CLOCK_UNSAFE);
  g_test_message ("after %" G_GINT64_FORMAT " ms: %s", took_ms, error->message);
  g_assert_cmpint (took_ms, >=, 300);
  g_assert_nonnull (strstr (error->message, f->standby_uri));
  g_assert_nonnull (strstr (error->message, "did not reach the primary's WAL position"));
  g_assert_nonnull (strstr (error->message, "bytes behind"));
  g_assert_nonnull (strstr (error->message, "within 300 ms"));
  g_assert_nonnull (strstr (error->message, "replay is paused"));
  g_assert_nonnull (strstr (error->message, "no sync point was handed out"));
  g_clear_error (&error);

  /* The store is usable again right after, and nothing was lost. */
  test_db_exec (f->standby, "SELECT pg_wal_replay_resume ()");
  g_autoptr (CarbSyncResult) after = carb_store_download_sync (store, &f->model, point, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (after), ==, 1);
  g_assert_true (has_id (after, 1));
  g_assert_cmpint (carb_sync_point_get_time (carb_sync_result_get_synced_until (after)), >=, stamp_of (f, 1));
}

/* A writer on the primary has inserted a row and stays in its
 * transaction: its WAL sits in a page that nothing flushes until some
 * transaction commits (or the next running-transactions record, up to
 * 15 s later), so the standby cannot replay up to the primary's insert
 * position. The clock source then has the WAL writer flush it
 * (pg-standby.c): the sync succeeds well within its timeout. */
static void
test_open_writer (Fixture *f, gconstpointer data)
{
  if (f->primary == NULL)
    return;
  g_autofree char *uri = standby_store_uri (f, "&carb_standby_timeout=3000");
  g_autoptr (CarbStore) store = open_store (uri);
  g_autoptr (TestDb) writer = test_db_open (f->primary_uri);
  g_autoptr (GError) error = NULL;

  test_db_exec (f->primary, "INSERT INTO %s (id, title) VALUES (1, 'committed')", f->qtable);
  test_db_exec (writer, "BEGIN");
  test_db_exec (writer, "INSERT INTO %s (id, title) VALUES (2, 'open')", f->qtable);
  for (guint i = 0; i < 3; i++)
    {
      gint64 start = g_get_monotonic_time ();
      g_autoptr (CarbSyncResult) result = carb_store_download_sync (store, &f->model, NULL, 0, NULL, &error);
      gint64 took_ms = (g_get_monotonic_time () - start) / 1000;
      g_assert_no_error (error);
      g_test_message ("sync %u beside an open writer: %" G_GINT64_FORMAT " ms", i, took_ms);
      g_assert_cmpuint (carb_sync_result_get_n_rows (result), ==, 1);
      g_assert_true (has_id (result, 1));
      g_assert_cmpint (took_ms, <, 2000);
    }
  test_db_exec (writer, "ROLLBACK");
}

/* Round trips of an idle sync. From the primary, one: the idle probe
 * (docs/SYNC.md, "Idle polls"). From the standby, which takes the full
 * path (its stamps are the primary's and the probe has no replay wait):
 * one to the primary (BEGIN, the clock source's two statements and the
 * WAL position, COMMIT, in one pipeline), then one to the standby (BEGIN,
 * the wait, set_config of W, the first page, COMMIT). Before the idle
 * probe both were 2 + 1 against 2; now 1 + 1 against 1. Counted by
 * proxies in front of both servers (tests/rt-proxy.h), after a first
 * sync has prepared the statements. */
static void
test_round_trips (Fixture *f, gconstpointer data)
{
  if (f->primary == NULL)
    return;
  g_autoptr (GError) error = NULL;
  g_autofree char *primary_via = NULL, *standby_via = NULL;
  g_autoptr (RtProxy) to_primary = rt_proxy_new_for_uri (f->primary_uri, &primary_via, &error);
  g_assert_no_error (error);
  g_autoptr (RtProxy) to_standby = rt_proxy_new_for_uri (f->standby_uri, &standby_via, &error);
  g_assert_no_error (error);
  g_autofree char *escaped = g_uri_escape_string (primary_via, NULL, FALSE);
  g_autofree char *uri
      = g_strdup_printf ("%s%scarb_primary=%s", standby_via, strchr (standby_via, '?') ? "&" : "?", escaped);
  g_autoptr (CarbStore) on_primary = open_store (primary_via);
  g_autoptr (CarbStore) on_standby = open_store (uri);

  guint counts[2][2] = { { 0 } }; /* [store][proxy] */
  CarbStore *stores[] = { on_primary, on_standby };
  for (guint s = 0; s < 2; s++)
    {
      g_autoptr (CarbSyncResult) first
          = carb_store_download_sync (stores[s], &f->model, NULL, 0, NULL, &error);
      g_assert_no_error (error);
      g_autoptr (CarbSyncPoint) point = carb_sync_point_copy (carb_sync_result_get_synced_until (first));
      rt_proxy_reset (to_primary);
      rt_proxy_reset (to_standby);
      g_autoptr (CarbSyncResult) idle
          = carb_store_download_sync (stores[s], &f->model, point, 0, NULL, &error);
      g_assert_no_error (error);
      counts[s][0] = rt_proxy_get_round_trips (to_primary);
      counts[s][1] = rt_proxy_get_round_trips (to_standby);
      g_autofree char *log_p = rt_proxy_dup_log (to_primary);
      g_autofree char *log_s = rt_proxy_dup_log (to_standby);
      g_test_message ("%s store, idle sync: %u round trips to the primary, %u to the standby\n%s%s",
                      s == 0 ? "primary" : "standby", counts[s][0], counts[s][1], log_p, log_s);
    }
  g_assert_cmpuint (counts[0][0], ==, 1);
  g_assert_cmpuint (counts[0][1], ==, 0);
  g_assert_cmpuint (counts[1][0], ==, 1);
  g_assert_cmpuint (counts[1][1], ==, 1);
}

/* Without carb_primary a standby still refuses, and says what to add. */
static void
test_no_primary (Fixture *f, gconstpointer data)
{
  if (f->primary == NULL)
    return;
  g_autoptr (CarbStore) store = open_store (f->standby_uri);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncResult) result = carb_store_download_sync (store, &f->model, NULL, 0, NULL, &error);
  g_assert_null (result);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_CLOCK_UNSAFE);
  g_assert_nonnull (strstr (error->message, "is a standby"));
  g_assert_nonnull (strstr (error->message, "carb_primary="));
}

/* A carb_primary that is not this standby's primary and database, or a
 * malformed parameter, is refused when the store opens. */
static void
test_bad_uri (Fixture *f, gconstpointer data)
{
  if (f->primary == NULL)
    return;
  g_autofree char *other_db = g_strdup (f->primary_uri);
  /* The same server, another database: its tables are not the standby's. */
  g_autofree char *escaped = NULL;
  {
    g_autofree char *uri = g_strdup_printf ("postgresql:///template1?%s", strchr (other_db, '?') + 1);
    escaped = g_uri_escape_string (uri, NULL, FALSE);
  }
  const struct
  {
    const char *extra;
    const char *expect;
  } cases[] = {
    { "&carb_standby_timeout=soon", "is not a number of milliseconds" },
    { "&carb_standby_timeout=", "needs a value" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *uri = standby_store_uri (f, cases[i].extra);
      g_autoptr (GError) error = NULL;
      g_autoptr (CarbStore) store = carb_store_open (uri, &error);
      g_assert_null (store);
      g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_URI);
      g_assert_nonnull (strstr (error->message, cases[i].expect));
    }

  g_autofree char *wrong = g_strdup_printf ("%s&carb_primary=%s", f->standby_uri, escaped);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (wrong, &error);
  g_assert_null (store);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_URI);
  g_assert_nonnull (strstr (error->message, "not the same cluster and database"));
  g_clear_error (&error);

  g_autofree char *timeout_alone = g_strdup_printf ("%s&carb_standby_timeout=100", f->standby_uri);
  g_autoptr (CarbStore) store2 = carb_store_open (timeout_alone, &error);
  g_assert_null (store2);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_URI);
  g_assert_nonnull (strstr (error->message, "without carb_primary"));
}

/* The primary's URI inside carb_primary is masked like the store's own:
 * its password never shows in the store's uri property. */
static void
test_uri_masked (Fixture *f, gconstpointer data)
{
  if (f->primary == NULL)
    return;
  const char *password = g_getenv ("PGPASSWORD") != NULL ? g_getenv ("PGPASSWORD") : "hunter2-pw";
  g_autofree char *primary = g_strdup_printf ("%s%spassword=%s", f->primary_uri,
                                              strchr (f->primary_uri, '?') ? "&" : "?", password);
  g_autofree char *escaped = g_uri_escape_string (primary, NULL, FALSE);
  g_autofree char *uri = g_strdup_printf ("%s%scarb_primary=%s", f->standby_uri,
                                          strchr (f->standby_uri, '?') ? "&" : "?", escaped);
  g_autoptr (CarbStore) store = open_store (uri);
  g_autofree char *shown = NULL;
  g_object_get (store, "uri", &shown, NULL);
  g_test_message ("shown: %s", shown);
  g_assert_null (strstr (shown, password));
  g_assert_nonnull (strstr (shown, "carb_primary="));
  g_assert_nonnull (strstr (shown, "password%3D%2A%2A%2A"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/standby/waits-for-replay", Fixture, NULL, set_up, test_waits_for_replay, tear_down);
  g_test_add ("/standby/paused-replay", Fixture, NULL, set_up, test_paused_replay, tear_down);
  g_test_add ("/standby/open-writer", Fixture, NULL, set_up, test_open_writer, tear_down);
  g_test_add ("/standby/round-trips", Fixture, NULL, set_up, test_round_trips, tear_down);
  g_test_add ("/standby/no-primary", Fixture, NULL, set_up, test_no_primary, tear_down);
  g_test_add ("/standby/bad-uri", Fixture, NULL, set_up, test_bad_uri, tear_down);
  g_test_add ("/standby/uri-masked", Fixture, NULL, set_up, test_uri_masked, tear_down);
  return g_test_run ();
}
