/* carburetor-bench — idle polls at many connections (issue #13).
 *
 * For each level N: N threads, each with its own store (one connection),
 * poll an idle 10,000-row table with carb_store_download_sync() from their
 * last point, while N other threads, each with its own libpq connection,
 * run a prepared SELECT 1 in a loop; all 2N at once, in the same window.
 * The SELECT 1 rate is the bare round-trip rate of this machine at that
 * concurrency; the ratio says how close an idle poll comes to it.
 * A last row repeats one level with a writer that changes a row often
 * enough that about 1 % of polls find something.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#define TABLE      "bench_idle"
#define TABLE_ROWS 10000
/* The level of the "1 % of polls find changes" row. */
#define CHANGES_LEVEL 8

typedef struct
{
  const char *uri;
  const CarbModel *model;
  const CarbSyncPoint *start; /* pollers: where every poller starts */
  gboolean poller;
  gint *stop;
  gint ready; /* connected and prepared */
  gint ops;   /* completed polls or SELECT 1s */
  gint found; /* polls that returned rows */
  char *error;
  GThread *thread;
} Worker;

static gpointer
poll_loop (Worker *w)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (w->uri, &error);
  g_autoptr (CarbSyncPoint) point = carb_sync_point_copy (w->start);

  g_atomic_int_set (&w->ready, 1);
  while (store != NULL && !g_atomic_int_get (w->stop))
    {
      g_autoptr (CarbSyncResult) r = carb_store_download_sync (store, w->model, point, 0, NULL, &error);
      if (r == NULL)
        break;
      if (carb_sync_result_get_n_rows (r) > 0)
        g_atomic_int_inc (&w->found);
      g_clear_pointer (&point, carb_sync_point_free);
      point = carb_sync_point_copy (carb_sync_result_get_synced_until (r));
      g_atomic_int_inc (&w->ops);
    }
  if (error != NULL)
    w->error = g_strdup (error->message);
  return NULL;
}

static gpointer
select_loop (Worker *w)
{
  PGconn *conn = PQconnectdb (w->uri);
  PGresult *res = PQstatus (conn) == CONNECTION_OK ? PQprepare (conn, "bench_s1", "SELECT 1", 0, NULL) : NULL;
  gboolean ok = res != NULL && PQresultStatus (res) == PGRES_COMMAND_OK;
  PQclear (res);

  g_atomic_int_set (&w->ready, 1);
  while (ok && !g_atomic_int_get (w->stop))
    {
      res = PQexecPrepared (conn, "bench_s1", 0, NULL, NULL, NULL, 1);
      ok = PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1;
      PQclear (res);
      if (ok)
        g_atomic_int_inc (&w->ops);
    }
  if (!ok && !g_atomic_int_get (w->stop))
    w->error = g_strdup (PQerrorMessage (conn));
  PQfinish (conn);
  return NULL;
}

static gpointer
worker_run (gpointer data)
{
  Worker *w = data;
  return w->poller ? poll_loop (w) : select_loop (w);
}

/* Changes one row every @interval_us until stopped; counts its updates. */
typedef struct
{
  const char *uri;
  gint64 interval_us;
  gint *stop;
  gint updates; /* committed */
  char *error;
} Writer;

static gpointer
writer_run (gpointer data)
{
  Writer *w = data;
  PGconn *conn = bench_pg_connect (w->uri);
  GRand *rand = g_rand_new_with_seed (13);
  while (!g_atomic_int_get (w->stop))
    {
      g_autofree char *sql = g_strdup_printf ("UPDATE " TABLE " SET n = n + 1 WHERE id = %d",
                                              g_rand_int_range (rand, 1, TABLE_ROWS + 1));
      PGresult *res = PQexec (conn, sql);
      gboolean ok = PQresultStatus (res) == PGRES_COMMAND_OK;
      PQclear (res);
      if (!ok)
        {
          w->error = g_strdup (PQerrorMessage (conn));
          break;
        }
      g_atomic_int_inc (&w->updates);
      g_usleep ((gulong) w->interval_us);
    }
  g_rand_free (rand);
  PQfinish (conn);
  return NULL;
}

typedef struct
{
  double select_rate, poll_rate, found_share;
  gint updates;     /* the writer's committed updates, whole run */
  gint found_total; /* polls that returned rows, whole run */
} Level;

static gint
sum (Worker *workers, guint n, gboolean found)
{
  gint total = 0;
  for (guint i = 0; i < n; i++)
    total += g_atomic_int_get (found ? &workers[i].found : &workers[i].ops);
  return total;
}

/* One level: @n pollers beside @n SELECT 1 loops for @seconds (after a
 * warm-up), optionally with a writer changing a row every @write_us. */
static gboolean
run_level (const BenchConfig *config,
           const char *uri,
           const CarbModel *model,
           const CarbSyncPoint *start,
           guint n,
           double seconds,
           gint64 write_us,
           Level *out)
{
  gint stop = 0;
  g_autofree Worker *pollers = g_new0 (Worker, n);
  g_autofree Worker *selects = g_new0 (Worker, n);
  for (guint i = 0; i < n; i++)
    {
      pollers[i] = (Worker){ .uri = uri, .model = model, .start = start, .poller = TRUE, .stop = &stop };
      selects[i] = (Worker){ .uri = uri, .stop = &stop };
      pollers[i].thread = g_thread_new ("bench-poll", worker_run, &pollers[i]);
      selects[i].thread = g_thread_new ("bench-select", worker_run, &selects[i]);
    }
  for (guint i = 0; i < n; i++)
    while (!g_atomic_int_get (&pollers[i].ready) || !g_atomic_int_get (&selects[i].ready))
      g_usleep (1000);

  Writer writer = { uri, write_us, &stop, 0, NULL };
  GThread *writer_thread = write_us > 0 ? g_thread_new ("bench-writer", writer_run, &writer) : NULL;

  /* A warm-up, so that connection setup and first plans stay out. */
  g_usleep ((gulong) (MIN (seconds / 4, 0.5) * G_USEC_PER_SEC));
  gint polls0 = sum (pollers, n, FALSE), selects0 = sum (selects, n, FALSE), found0 = sum (pollers, n, TRUE);
  double t0 = bench_now ();
  g_usleep ((gulong) (seconds * G_USEC_PER_SEC));
  gint polls1 = sum (pollers, n, FALSE), selects1 = sum (selects, n, FALSE), found1 = sum (pollers, n, TRUE);
  double dt = bench_now () - t0;

  g_atomic_int_set (&stop, 1);
  if (writer_thread != NULL)
    g_thread_join (writer_thread);
  gboolean ok = TRUE;
  if (writer.error != NULL)
    {
      bench_fail ("concurrency %u: the writer failed: %s", n, writer.error);
      g_free (writer.error);
      ok = FALSE;
    }
  for (guint i = 0; i < n; i++)
    {
      g_thread_join (pollers[i].thread);
      g_thread_join (selects[i].thread);
      for (Worker *w = &pollers[i]; w != NULL; w = w == &pollers[i] ? &selects[i] : NULL)
        if (w->error != NULL)
          {
            if (ok)
              bench_fail ("concurrency %u: %s", n, w->error);
            ok = FALSE;
            g_free (w->error);
          }
    }
  out->poll_rate = (polls1 - polls0) / dt;
  out->select_rate = (selects1 - selects0) / dt;
  out->found_share = polls1 > polls0 ? (double) (found1 - found0) / (polls1 - polls0) : 0;
  out->updates = writer.updates;
  out->found_total = sum (pollers, n, TRUE);
  if (ok && (polls1 == polls0 || selects1 == selects0))
    {
      bench_fail ("concurrency %u: no poll or no SELECT 1 completed in %.1f s", n, dt);
      ok = FALSE;
    }
  return ok;
}

static guint
server_max_connections (const char *uri)
{
  PGconn *conn = bench_pg_connect (uri);
  PGresult *res = PQexec (conn, "SELECT current_setting('max_connections')::int");
  guint max = PQresultStatus (res) == PGRES_TUPLES_OK ? (guint) atoi (PQgetvalue (res, 0, 0)) : 100;
  PQclear (res);
  PQfinish (conn);
  return max;
}

static void
print_row (const char *label, const Level *l)
{
  g_print ("| %-12s | %11.0f | %13.0f | %5.2f | %14.2f %% |\n", label, l->select_rate, l->poll_rate,
           l->select_rate > 0 ? l->poll_rate / l->select_rate : 0, 100 * l->found_share);
}

void
bench_concurrency (const BenchConfig *config, const char *uri)
{
  if (config->n_levels == 0)
    return;
  PGconn *conn = bench_pg_connect (uri);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  if (store == NULL)
    g_error ("bench: %s", error->message);
  bench_pg_make_table (conn, store, TABLE, TABLE_ROWS);
  CarbModel model = bench_model;
  model.table = TABLE;
  g_autoptr (CarbSyncResult) first = carb_store_download_sync (store, &model, NULL, 0, NULL, &error);
  if (first == NULL)
    g_error ("bench: %s", error->message);
  if (carb_sync_result_get_n_rows (first) != TABLE_ROWS)
    bench_fail ("concurrency: first sync read %" G_GSIZE_FORMAT " rows", carb_sync_result_get_n_rows (first));
  const CarbSyncPoint *start = carb_sync_result_get_synced_until (first);
  guint max_conn = server_max_connections (uri);

  g_print ("\nConcurrency: N threads polling an idle %u-row table (download_sync from the last point,\n"
           "one store each) beside N threads running a prepared SELECT 1 (one libpq connection each),\n"
           "all at once; rates over %.1f s after a warm-up; server max_connections %u\n\n",
           TABLE_ROWS, config->level_seconds, max_conn);
  g_print ("| %-12s | %11s | %13s | %5s | %16s |\n", "connections", "SELECT 1 /s", "idle polls /s", "ratio",
           "polls with rows");
  g_print ("|--------------|-------------|---------------|-------|------------------|\n");
  /* The changes row runs at CHANGES_LEVEL, or at the highest level when
   * the list has no such level. */
  guint changes_n = config->levels[config->n_levels - 1];
  for (guint i = 0; i < config->n_levels; i++)
    if (config->levels[i] == CHANGES_LEVEL)
      changes_n = CHANGES_LEVEL;
  Level at_changes = { 0 };
  for (guint i = 0; i < config->n_levels; i++)
    {
      guint n = config->levels[i];
      if (2 * n + 5 > max_conn)
        {
          bench_note (
              "%u connections need max_connections ≥ %u (scripts/bench.sh starts its cluster with 600)", n,
              2 * n + 5);
          continue;
        }
      Level l = { 0 };
      if (!run_level (config, uri, &model, start, n, config->level_seconds, 0, &l))
        continue;
      g_autofree char *label = g_strdup_printf ("%u", n);
      print_row (label, &l);
      if (n == changes_n)
        at_changes = l;
      if (l.found_share != 0)
        bench_fail ("concurrency %u: %.2f %% of idle polls found rows", n, 100 * l.found_share);
    }

  /* Each change is found by every poller once: for 1 % of one poller's
   * polls to find one, the writer changes (0.01 × polls/s per poller) rows
   * per second. */
  guint n = changes_n;
  if (at_changes.poll_rate > 0)
    {
      double per_poller = at_changes.poll_rate / n;
      gint64 interval = (gint64) (G_USEC_PER_SEC / (0.01 * per_poller));
      Level l = { 0 };
      if (run_level (config, uri, &model, start, n, config->level_seconds, interval, &l))
        {
          g_autofree char *label = g_strdup_printf ("%u, changes", n);
          print_row (label, &l);
          /* Over the whole run (a loaded machine may fit few updates in
           * the window): rows committed must reach the pollers. */
          if (l.updates >= 3 && l.found_total == 0)
            bench_fail ("concurrency with changes: the writer committed %d updates, no poll found a row",
                        l.updates);
          else if (l.found_total == 0)
            bench_note ("concurrency with changes: the writer committed only %d updates", l.updates);
        }
    }
  g_print ("\n");
  PQclear (PQexec (conn, "DROP TABLE " TABLE));
  PQfinish (conn);
}
