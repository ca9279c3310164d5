/* The stress checker (docs/STRESS.md, docs/SYNC.md), on every backend:
 *
 *  /stress/<backend>/no-missed-rows        writers and syncing readers run
 *      together; when the writers stop, each reader catches up and its
 *      replica must equal the table exactly.
 *  /stress/<backend>/naive-clock-detected  the same with the readers on the
 *      known-broken clock source: the checker must find the rows it loses.
 *
 * Settings: CARB_STRESS_WRITERS, CARB_STRESS_READERS, CARB_STRESS_SECONDS,
 * CARB_STRESS_IDS, CARB_STRESS_SEED; CARB_STRESS_READER_URI puts the
 * PostgreSQL readers' stores on another server (a hot standby of the one
 * the writers use: tests/with-standby.sh).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "stress.h"

CARB_DEFINE_STATIC_MODEL (stress_model,
                          StressRow,
                          NULL,
                          "stress",
                          CARB_ID (StressRow, id, INT64),
                          CARB_COLUMN (StressRow, title, TEXT),
                          CARB_COLUMN (StressRow, value, INT64),
                          CARB_DELETED (StressRow, deleted),
                          CARB_TIMESTAMP (StressRow, ts));

/* A naive run stops at the first round that shows a loss. */
#define NAIVE_ROUND_SECONDS 2.0
#define NAIVE_MAX_SECONDS   30.0
/* How long a reader may take to catch up once the writers stopped. */
#define CATCH_UP_SECONDS 30

typedef struct
{
  StressConfig config;
  CarbModel model;
  char *tmpdir;
  char *table;
  TestDb *db;
  GPtrArray *readers;
  gint writers_stop, readers_stop;
  guint64 committed, rolled_back, writes, errors;
  gint64 newest; /* the newest stamp once the writers stopped */
} Run;

static guint
env_uint (const char *name, guint fallback)
{
  const char *text = g_getenv (name);
  return text != NULL && *text != '\0' ? (guint) g_ascii_strtoull (text, NULL, 10) : fallback;
}

static gdouble
stress_seconds (void)
{
  /* Under valgrind everything runs some twenty times slower. */
  return env_uint ("CARB_STRESS_SECONDS", g_getenv ("CARB_UNDER_VALGRIND") != NULL ? 5 : 20);
}

/* History from before prepare_table, as a table has when an application
 * adopts the library: rows stamped by hand an hour ago, a tombstone, and
 * rows stamped HISTORY_AHEAD seconds in the future (a client with a fast
 * clock). Writers later rewrite some of them. None may hide a row written
 * after prepare_table. */
#define HISTORY_ROWS  20
#define HISTORY_AHEAD 4

static void
seed_history (Run *run)
{
  gint64 now = g_get_real_time ();
  for (guint id = 1; id <= MIN (HISTORY_ROWS, run->config.n_ids); id++)
    {
      gint64 ts = id <= 2 ? now + HISTORY_AHEAD * G_USEC_PER_SEC
                          : now - G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC + id;
      g_autofree char *literal = test_db_ts_literal (run->db, ts);
      test_db_exec (run->db,
                    "INSERT INTO %s (id, title, value, deleted, ts) VALUES (%u, 'history-%u', %u, %s, %s)",
                    run->config.qtable, id, id, id, id == 3 ? "TRUE" : "FALSE", literal);
    }
}

static void
create_table (Run *run)
{
  if (test_db_is_postgres (run->db))
    test_db_exec (
        run->db,
        "CREATE TABLE %s (id bigint PRIMARY KEY, title text NOT NULL, value bigint NOT NULL,"
        " deleted boolean NOT NULL DEFAULT false, ts timestamptz NOT NULL DEFAULT clock_timestamp())",
        run->config.qtable);
  else
    test_db_exec (run->db,
                  "CREATE TABLE %s (id INTEGER PRIMARY KEY, title TEXT NOT NULL, value INTEGER NOT NULL,"
                  " deleted BOOLEAN NOT NULL DEFAULT FALSE, ts INTEGER NOT NULL DEFAULT 0)",
                  run->config.qtable);
  seed_history (run);

  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (run->config.uri, &error);
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_table (store, &run->model, &error));
  g_assert_no_error (error);
}

static char *
reader_uri (const char *backend, const char *tmpdir)
{
  const char *uri = g_getenv ("CARB_STRESS_READER_URI");
  if (strcmp (backend, "postgres") == 0 && uri != NULL && *uri != '\0')
    return g_strdup (uri);
  return test_store_uri (backend, tmpdir);
}

static Run *
run_new (const char *backend, gboolean naive)
{
  static guint counter;
  g_autoptr (GError) error = NULL;
  Run *run = g_new0 (Run, 1);

  run->tmpdir = g_dir_make_tmp ("carb-stress-XXXXXX", &error);
  g_assert_no_error (error);
  run->table = g_strdup_printf ("stress_%d_%u", (int) getpid (), counter++);
  run->model = stress_model;
  run->model.table = run->table;
  run->config = (StressConfig){
    .backend = backend,
    .uri = test_store_uri (backend, run->tmpdir),
    .reader_uri = reader_uri (backend, run->tmpdir),
    .model = &run->model,
    .qtable = test_db_quote (run->table),
    .n_writers = MAX (env_uint ("CARB_STRESS_WRITERS", 6), 1),
    .n_readers = MAX (env_uint ("CARB_STRESS_READERS", 5), 1),
    .n_ids = MAX (env_uint ("CARB_STRESS_IDS", 200), 1),
    .seed = env_uint ("CARB_STRESS_SEED", g_test_rand_int ()),
    .naive = naive,
  };
  g_test_message ("%s: %u writers, %u readers, ids 1..%u, CARB_STRESS_SEED=%u", run->table,
                  run->config.n_writers, run->config.n_readers, run->config.n_ids, run->config.seed);
  if (strcmp (run->config.reader_uri, run->config.uri) != 0)
    g_test_message ("readers on %s, writers on %s", run->config.reader_uri, run->config.uri);
  run->db = test_db_open (run->config.uri);
  create_table (run);

  run->readers = g_ptr_array_new_with_free_func ((GDestroyNotify) stress_reader_free);
  for (guint i = 0; i < run->config.n_readers; i++)
    g_ptr_array_add (run->readers, stress_reader_new (&run->config, i, &run->readers_stop));
  return run;
}

static void
run_free (Run *run)
{
  g_ptr_array_unref (run->readers);
  if (test_db_is_postgres (run->db))
    test_db_exec (run->db, "DROP TABLE %s", run->config.qtable);
  test_db_free (run->db);
  static const char *const files[] = { "store.db", "store.db-wal", "store.db-shm" };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (run->tmpdir, files[i], NULL);
      g_unlink (path);
    }
  g_rmdir (run->tmpdir);
  g_free (run->tmpdir);
  g_free (run->table);
  g_free (run->config.uri);
  g_free (run->config.reader_uri);
  g_free (run->config.qtable);
  g_free (run);
}

static gint64
newest_stamp (Run *run)
{
  if (test_db_is_postgres (run->db))
    return test_db_query_int (run->db,
                              "SELECT coalesce((extract(epoch FROM max(ts)) * 1000000)::bigint, 0) FROM %s",
                              run->config.qtable);
  return test_db_query_int (run->db, "SELECT coalesce(max(ts), 0) FROM %s", run->config.qtable);
}

/* Writers and readers together for @seconds; then the writers stop, then
 * the readers. */
static void
run_round (Run *run, gdouble seconds, gint64 late_start)
{
  g_autoptr (GPtrArray) writers = g_ptr_array_new_with_free_func ((GDestroyNotify) stress_writer_free);

  g_atomic_int_set (&run->writers_stop, 0);
  g_atomic_int_set (&run->readers_stop, 0);
  for (guint i = 0; i < run->readers->len; i++)
    {
      StressReader *reader = run->readers->pdata[i];
      reader->start_after = i == 4 ? late_start : 0;
      reader->thread = g_thread_new ("stress-reader", stress_reader_run, reader);
    }
  for (guint i = 0; i < run->config.n_writers; i++)
    {
      StressWriter *writer = stress_writer_new (&run->config, i, &run->writers_stop);
      writer->txn = (guint) run->committed + (guint) run->rolled_back; /* titles stay unique across rounds */
      g_ptr_array_add (writers, writer);
      writer->thread = g_thread_new ("stress-writer", stress_writer_run, writer);
    }

  g_usleep ((gulong) (seconds * G_USEC_PER_SEC));
  g_atomic_int_set (&run->writers_stop, 1);
  for (guint i = 0; i < writers->len; i++)
    {
      StressWriter *writer = writers->pdata[i];
      g_thread_join (writer->thread);
      run->committed += writer->committed;
      run->rolled_back += writer->rolled_back;
      run->writes += writer->writes;
      run->errors += writer->errors;
    }
  g_atomic_int_set (&run->readers_stop, 1);
  for (guint i = 0; i < run->readers->len; i++)
    g_thread_join (((StressReader *) run->readers->pdata[i])->thread);
}

/* Syncs @reader until its point covers every stamp in the table. FALSE if
 * it got stuck below (a clock source that never advances is a failure). */
static gboolean
catch_up (Run *run, StressReader *reader)
{
  gint64 deadline = g_get_monotonic_time () + CATCH_UP_SECONDS * G_USEC_PER_SEC;

  if (reader->error != NULL)
    return FALSE;
  for (;;)
    {
      gsize n = 0;
      gboolean complete = TRUE;
      if (!stress_reader_sync (reader, &n, &complete))
        return FALSE;
      if (complete && carb_sync_point_get_time (reader->point) >= run->newest)
        return TRUE;
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      if (complete)
        test_wait_clock_tick ();
    }
}

typedef struct
{
  guint missed; /* a live row of the table the replica lacks */
  guint stale;  /* a row the replica holds in another version */
  guint extra;  /* a row the replica holds that the table never had */
  guint below;  /* missed or stale rows stamped at or below the reader's point */
  GString *sample;
} Diff;

/* The exact rule: every row the replica holds equals the table's row
 * (title, value, tombstone, stamp); every row it lacks is deleted in the
 * table (a first sync leaves tombstones out, so a device that never saw a
 * row needs no tombstone for it). */
static Diff
compare (Run *run, StressReader *reader, GPtrArray *table)
{
  Diff diff = { 0, 0, 0, 0, g_string_new (NULL) };
  g_autoptr (GHashTable) ids = g_hash_table_new (g_int64_hash, g_int64_equal);
  gint64 point = carb_sync_point_get_time (reader->point);
  g_autofree gint64 *keys = g_new (gint64, table->len + 1);

  for (guint i = 0; i < table->len; i++)
    {
      char **row = table->pdata[i];
      keys[i] = g_ascii_strtoll (row[0], NULL, 10);
      g_hash_table_add (ids, &keys[i]);
      gint64 value = g_ascii_strtoll (row[2], NULL, 10);
      gboolean deleted = strcmp (row[3], "1") == 0;
      gint64 ts = g_ascii_strtoll (row[4], NULL, 10);
      const StressRow *mine = g_hash_table_lookup (reader->replica, &keys[i]);
      const char *what = NULL;

      if (mine == NULL && !deleted)
        {
          diff.missed++;
          what = "missed";
        }
      else if (mine != NULL
               && (strcmp (mine->title, row[1]) != 0 || mine->value != value || mine->deleted != deleted
                   || mine->ts != ts))
        {
          diff.stale++;
          what = "stale";
        }
      if (what == NULL)
        continue;
      if (ts <= point)
        diff.below++;
      if (diff.missed + diff.stale <= 3)
        g_string_append_printf (diff.sample, " [%s id %s: table '%s'%s at %s, replica %s%s%s]", what, row[0],
                                row[1], deleted ? " (deleted)" : "", row[4], mine != NULL ? "'" : "nothing",
                                mine != NULL ? mine->title : "", mine != NULL ? "'" : "");
    }
  GHashTableIter iter;
  gpointer key;
  g_hash_table_iter_init (&iter, reader->replica);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (ids, key))
      diff.extra++;
  return diff;
}

static int
compare_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return (x > y) - (x < y);
}

/* "median / p99 / max" of microsecond samples, in milliseconds. */
static char *
describe_lag (GArray *samples)
{
  if (samples->len == 0)
    return g_strdup ("no samples");
  g_array_sort (samples, compare_gint64);
  gint64 *v = (gint64 *) samples->data;
  guint n = samples->len;
  return g_strdup_printf ("median %.3f ms, p99 %.3f ms, max %.3f ms (%u syncs)", v[n / 2] / 1000.0,
                          v[MIN (n - 1, n * 99 / 100)] / 1000.0, v[n - 1] / 1000.0, n);
}

/* Catches every reader up and compares. Returns the total of missed, stale
 * and extra rows, or G_MAXUINT when a reader failed or got stuck; @report
 * gets one line per reader. */
static guint
check (Run *run, GString *report, guint *lost)
{
  guint total = 0;

  *lost = 0;
  run->newest = newest_stamp (run);
  g_autoptr (GPtrArray) table = test_db_query_rows (
      run->db, "SELECT id, title, value, CASE WHEN deleted THEN 1 ELSE 0 END, %s FROM %s ORDER BY id",
      test_db_is_postgres (run->db) ? "(extract(epoch FROM ts) * 1000000)::bigint" : "ts",
      run->config.qtable);
  guint live = 0;
  for (guint i = 0; i < table->len; i++)
    live += strcmp (((char **) table->pdata[i])[3], "0") == 0;
  g_string_append_printf (
      report,
      "%s: %" G_GUINT64_FORMAT " transactions committed (%" G_GUINT64_FORMAT " writes), %" G_GUINT64_FORMAT
      " rolled back, %" G_GUINT64_FORMAT " failed statements; table: %u rows, %u live\n",
      run->config.backend, run->committed, run->writes, run->rolled_back, run->errors, table->len, live);

  for (guint i = 0; i < run->readers->len; i++)
    {
      StressReader *reader = run->readers->pdata[i];
      gboolean caught_up = catch_up (run, reader);
      g_string_append_printf (
          report, "  reader %u (%s%s, cap %u): %" G_GUINT64_FORMAT " syncs, %" G_GUINT64_FORMAT " rows", i,
          reader->streaming ? "streaming" : "buffered", reader->read_only ? ", read-only" : "",
          reader->max_rows, reader->syncs, reader->rows);
      if (reader->error != NULL || !caught_up)
        {
          g_string_append_printf (
              report,
              "; FAILED to catch up: %s (point %" G_GINT64_FORMAT ", newest stamp %" G_GINT64_FORMAT ")\n",
              reader->error != NULL ? reader->error->message : "stuck",
              reader->point != NULL ? carb_sync_point_get_time (reader->point) : 0, run->newest);
          total = G_MAXUINT;
          continue;
        }
      Diff diff = compare (run, reader, table);
      guint bad = diff.missed + diff.stale + diff.extra + (guint) reader->out_of_range
                  + (guint) reader->rewinds + (guint) reader->repeats;
      g_string_append_printf (report,
                              "; %u missed, %u stale, %u extra (%u of them stamped at or below its point),"
                              " %" G_GUINT64_FORMAT " out of range, %" G_GUINT64_FORMAT
                              " rewinds, %" G_GUINT64_FORMAT " repeats%s\n",
                              diff.missed, diff.stale, diff.extra, diff.below, reader->out_of_range,
                              reader->rewinds, reader->repeats, diff.sample->str);
      g_string_free (diff.sample, TRUE);
      *lost += diff.missed + diff.stale;
      if (total != G_MAXUINT)
        total += bad;
    }
  return total;
}

/* The lag of the sync point: behind the wall clock and behind the newest
 * committed stamp, under load (collected by the readers) and idle. */
static void
report_lag (Run *run)
{
  StressReader *reader = run->readers->pdata[0];
  g_autofree char *now_load = describe_lag (reader->lag_now);
  g_autofree char *newest_load = describe_lag (reader->lag_newest);
  g_test_message ("%s lag under load, behind now: %s", run->config.backend, now_load);
  g_test_message ("%s lag under load, behind the newest committed stamp: %s", run->config.backend,
                  newest_load);

  g_array_set_size (reader->lag_now, 0);
  g_array_set_size (reader->lag_newest, 0);
  for (guint i = 0; i < 20; i++)
    {
      gsize n = 0;
      gboolean complete = TRUE;
      test_wait_clock_tick ();
      g_assert_true (stress_reader_sync (reader, &n, &complete));
    }
  g_autofree char *now_idle = describe_lag (reader->lag_now);
  g_autofree char *newest_idle = describe_lag (reader->lag_newest);
  g_test_message ("%s lag idle, behind now: %s", run->config.backend, now_idle);
  g_test_message ("%s lag idle, behind the newest committed stamp: %s", run->config.backend, newest_idle);
}

static void
test_no_missed_rows (gconstpointer backend)
{
  Run *run = run_new (backend, FALSE);
  gdouble seconds = stress_seconds ();
  g_autoptr (GString) report = g_string_new (NULL);

  run_round (run, seconds, (gint64) (seconds * G_USEC_PER_SEC / 2));
  guint lost = 0;
  guint bad = check (run, report, &lost);
  g_test_message ("%s", report->str);
  if (bad != 0)
    g_test_fail_printf ("replicas differ from the table (CARB_STRESS_SEED=%u):\n%s", run->config.seed,
                        report->str);
  else
    report_lag (run);
  /* A run that wrote nothing proves nothing. */
  g_assert_cmpuint (run->writes, >, 0);
  run_free (run);
}

static void
test_naive_clock_detected (gconstpointer backend)
{
  Run *run = run_new (backend, TRUE);
  g_autoptr (GString) report = g_string_new (NULL);
  guint bad = 0, lost = 0;
  gdouble elapsed = 0;

  /* Only lost rows count as detection: a reader that fails or gets stuck
   * would be a failure of another kind. */
  while (lost == 0 && bad != G_MAXUINT && elapsed < NAIVE_MAX_SECONDS)
    {
      g_string_truncate (report, 0);
      run_round (run, NAIVE_ROUND_SECONDS, 0);
      elapsed += NAIVE_ROUND_SECONDS;
      bad = check (run, report, &lost);
    }
  g_test_message ("naive clock, after %.0f s: %s", elapsed, report->str);
  g_assert_cmpuint (bad, !=, G_MAXUINT);
  if (lost == 0)
    g_test_fail_printf ("the checker did not notice the naive clock source losing rows in %.0f s "
                        "(CARB_STRESS_SEED=%u):\n%s",
                        NAIVE_MAX_SECONDS, run->config.seed, report->str);
  run_free (run);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_auto (GStrv) backends = test_store_backends ();
  for (char **b = backends; *b != NULL; b++)
    {
      g_autofree char *safe = g_strdup_printf ("/stress/%s/no-missed-rows", *b);
      g_autofree char *naive = g_strdup_printf ("/stress/%s/naive-clock-detected", *b);
      g_test_add_data_func (safe, *b, test_no_missed_rows);
      g_test_add_data_func (naive, *b, test_naive_clock_detected);
    }
  return g_test_run ();
}
