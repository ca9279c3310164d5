/* carburetor-bench — download_sync against the hand-written code it
 * replaces, side by side in one run. See docs/PERFORMANCE.md.
 *
 *   carburetor-bench [--runs N] [--rows N] [--quick] [--postgres URI] [--sqlite-dir DIR]
 *                    [--only-concurrency | --only-twoway]
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bench.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

CARB_DEFINE_MODEL (bench_model,
                   BenchRow,
                   NULL,
                   "bench_full",
                   CARB_ID (BenchRow, id, INT64),
                   CARB_COLUMN (BenchRow, title, TEXT),
                   CARB_COLUMN (BenchRow, n, INT32),
                   CARB_COLUMN (BenchRow, big, INT64),
                   CARB_COLUMN (BenchRow, flag, BOOL),
                   CARB_TIMESTAMP (BenchRow, last_synced_at),
                   CARB_COLUMN_NULLABLE (BenchRow, note, TEXT));

static int failures;

double
bench_now (void)
{
  return (double) g_get_monotonic_time () / G_USEC_PER_SEC;
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

double
bench_median (GArray *seconds)
{
  g_array_sort (seconds, compare_doubles);
  guint n = seconds->len;
  if (n == 0)
    return 0;
  double *v = (double *) seconds->data;
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void
bench_report_header (void)
{
  g_print ("\n%-52s %12s   %-34s %12s %8s\n", "figure (median)", "value", "baseline (same run)", "value",
           "ratio");
  g_print ("%s\n",
           "------------------------------------------------------------------------------------------"
           "--------------------------------------");
}

void
bench_report (const char *figure, double value, const char *unit, const char *baseline, double base_value)
{
  g_autofree char *v = g_strdup_printf ("%.4g %s", value, unit);
  g_autofree char *b = g_strdup_printf ("%.4g %s", base_value, unit);
  g_print ("%-52s %12s   %-34s %12s %7.2fx\n", figure, v, baseline, b,
           base_value > 0 ? value / base_value : 0);
}

void
bench_note (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *text = g_strdup_vprintf (format, args);
  va_end (args);
  g_print ("  note: %s\n", text);
}

void
bench_fail (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *text = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("FAILED: %s\n", text);
  failures++;
}

int
bench_failures (void)
{
  return failures;
}

/* ------------------------------------------------------------- arena */

struct BenchArena
{
  GPtrArray *blocks;
  char *cur;
  gsize left;
};

BenchArena *
bench_arena_new (void)
{
  BenchArena *a = g_new0 (BenchArena, 1);
  a->blocks = g_ptr_array_new_with_free_func (g_free);
  return a;
}

char *
bench_arena_strndup (BenchArena *a, const char *s, gsize len)
{
  if (a->left < len + 1)
    {
      gsize size = MAX (256 * 1024, len + 1);
      a->cur = g_malloc (size);
      a->left = size;
      g_ptr_array_add (a->blocks, a->cur);
    }
  char *p = a->cur;
  memcpy (p, s, len);
  p[len] = '\0';
  a->cur += len + 1;
  a->left -= len + 1;
  return p;
}

void
bench_arena_free (BenchArena *a)
{
  g_ptr_array_unref (a->blocks);
  g_free (a);
}

/* ------------------------------------------------------ child process */

static const char *self_path;

gboolean
bench_child (const char *form, const char *uri, guint64 *rows, double *seconds, guint64 *maxrss_kib)
{
  const char *argv[] = { self_path, "--child", form, uri, NULL };
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL, &status, &error)
      || !g_spawn_check_wait_status (status, &error))
    {
      bench_fail ("child %s: %s", form, error->message);
      return FALSE;
    }
  if (sscanf (out, "rows=%" G_GUINT64_FORMAT " seconds=%lf maxrss_kib=%" G_GUINT64_FORMAT, rows, seconds,
              maxrss_kib)
      != 3)
    {
      bench_fail ("child %s printed “%s”", form, out);
      return FALSE;
    }
  return TRUE;
}

/* One run of the child, which must return @expect rows: its wall time
 * and peak RSS (MiB) appended to @seconds and @rss_mib. */
gboolean
bench_child_run (const char *form, const char *uri, guint64 expect, GArray *seconds, GArray *rss_mib)
{
  guint64 rows = 0, rss = 0;
  double dt = 0;
  if (!bench_child (form, uri, &rows, &dt, &rss))
    return FALSE;
  if (rows != expect)
    bench_fail ("child %s: %" G_GUINT64_FORMAT " rows, expected %" G_GUINT64_FORMAT, form, rows, expect);
  double mib = rss / 1024.0;
  g_array_append_val (seconds, dt);
  g_array_append_val (rss_mib, mib);
  return TRUE;
}

/* Runs the child @runs times: the medians of its wall time and peak RSS;
 * every run must return @expect rows. */
gboolean
bench_child_median (
    const char *form, const char *uri, guint runs, guint64 expect, double *seconds, double *rss_mib)
{
  g_autoptr (GArray) t = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) m = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint i = 0; i < runs; i++)
    if (!bench_child_run (form, uri, expect, t, m))
      return FALSE;
  *seconds = bench_median (t);
  *rss_mib = bench_median (m);
  return TRUE;
}

/* User + system CPU time of this process so far. */
double
bench_cpu_now (void)
{
  struct rusage u;
  getrusage (RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static gboolean
count_row (gconstpointer row, gpointer user_data, GError **error)
{
  (*(guint64 *) user_data)++;
  return TRUE;
}

/* This process's peak RSS in KiB. VmHWM belongs to the address space, so
 * it starts afresh at exec(); getrusage()'s ru_maxrss does not: Linux
 * carries the pre-exec peak over, and a child spawned by a bench that has
 * just held 1M rows would report the parent's peak, not its own. */
static guint64
peak_rss_kib (void)
{
  g_autofree char *status = NULL;
  if (g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    {
      const char *line = strstr (status, "\nVmHWM:");
      if (line != NULL)
        return g_ascii_strtoull (line + strlen ("\nVmHWM:"), NULL, 10);
    }
  struct rusage usage;
  getrusage (RUSAGE_SELF, &usage);
  return (guint64) usage.ru_maxrss;
}

/* The child: one first sync of bench_full, streaming or buffered. */
int
bench_child_main (const char *form, const char *uri)
{
  g_autoptr (GError) error = NULL;
  guint64 rows = 0;
  double t0 = bench_now ();
  if (g_str_has_prefix (form, "twoway-"))
    {
      double seconds = 0;
      if (bench_twoway_child (form, uri, &rows, &seconds, &error) != 0)
        {
          g_printerr ("%s\n", error != NULL ? error->message : "failed");
          return 1;
        }
      g_print ("rows=%" G_GUINT64_FORMAT " seconds=%f maxrss_kib=%" G_GUINT64_FORMAT "\n", rows, seconds,
               peak_rss_kib ());
      return 0;
    }
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);

  if (store != NULL && strcmp (form, "stream") == 0)
    {
      g_autoptr (CarbSyncPoint) point = NULL;
      carb_store_download_sync_foreach (store, &bench_model, NULL, 0, count_row, &rows, &point, NULL, &error);
    }
  else if (store != NULL)
    {
      g_autoptr (CarbSyncResult) result
          = carb_store_download_sync (store, &bench_model, NULL, 0, NULL, &error);
      rows = result != NULL ? carb_sync_result_get_n_rows (result) : 0;
    }
  if (error != NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  double t = bench_now () - t0;
  g_print ("rows=%" G_GUINT64_FORMAT " seconds=%f maxrss_kib=%" G_GUINT64_FORMAT "\n", rows, t,
           peak_rss_kib ());
  return 0;
}

/* "1,8,64,256" into config->levels; "0" or "" for none. */
static gboolean
parse_levels (const char *text, BenchConfig *config)
{
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  config->n_levels = 0;
  for (char **p = parts; *p != NULL; p++)
    {
      guint64 n = 0;
      if (**p == '\0' && p[1] == NULL && p == parts)
        break;
      if (!g_ascii_string_to_unsigned (g_strstrip (*p), 10, 0, 100000, &n, NULL))
        return FALSE;
      if (n == 0)
        continue;
      if (config->n_levels == G_N_ELEMENTS (config->levels))
        return FALSE;
      config->levels[config->n_levels++] = (guint) n;
    }
  return TRUE;
}

int
main (int argc, char **argv)
{
  BenchConfig config
      = { .runs = 5, .full_rows = 1000000, .incr_sizes = { 10000, 1000000, 5000000 }, .incr_changes = 100 };
  g_autofree char *pg_uri = NULL;
  g_autofree char *sqlite_dir = NULL;
  gint rows = 0, runs = 0;
  gboolean quick = FALSE, no_postgres = FALSE, only_concurrency = FALSE, only_twoway = FALSE;
  g_autofree char *levels = NULL;
  double level_seconds = 0;
  GOptionEntry entries[] = {
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "Runs per figure (median; default 5)", "N" },
    { "rows", 0, 0, G_OPTION_ARG_INT, &rows, "Rows of the full-sync tables (default 1000000)", "N" },
    { "quick", 0, 0, G_OPTION_ARG_NONE, &quick, "A tiny configuration that only checks the figures run",
      NULL },
    { "postgres", 0, 0, G_OPTION_ARG_STRING, &pg_uri, "PostgreSQL URI (default postgresql:///)", "URI" },
    { "no-postgres", 0, 0, G_OPTION_ARG_NONE, &no_postgres, "Skip the PostgreSQL figures", NULL },
    { "concurrency", 0, 0, G_OPTION_ARG_STRING, &levels,
      "Connection counts of the concurrency figures (default 1,8,64,256; 0: none)", "N,N,…" },
    { "concurrency-seconds", 0, 0, G_OPTION_ARG_DOUBLE, &level_seconds,
      "Measuring window per concurrency level (default 3)", "S" },
    { "only-concurrency", 0, 0, G_OPTION_ARG_NONE, &only_concurrency,
      "Only the concurrency figures (PostgreSQL)", NULL },
    { "only-twoway", 0, 0, G_OPTION_ARG_NONE, &only_twoway,
      "Only the two-way figures (first fill, upload, idle sync; PostgreSQL)", NULL },
    { "sqlite-dir", 0, 0, G_OPTION_ARG_FILENAME, &sqlite_dir, "Folder for the SQLite file (default: temp)",
      "DIR" },
    G_OPTION_ENTRY_NULL,
  };

  self_path = argv[0];
  if (argc == 4 && strcmp (argv[1], "--child") == 0)
    return bench_child_main (argv[2], argv[3]);

  g_autoptr (GOptionContext) context = g_option_context_new ("— download_sync against raw libpq and sqlite3");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (quick)
    config = (BenchConfig){
      .runs = 1, .full_rows = 2000, .incr_sizes = { 1000, 2000, 5000 }, .incr_changes = 100, .quick = TRUE
    };
  config.level_seconds = quick ? 0.3 : 3;
  if (level_seconds > 0)
    config.level_seconds = level_seconds;
  if (!parse_levels (levels != NULL ? levels : quick ? "1,2" : "1,8,64,256", &config))
    {
      g_printerr ("--concurrency: expected numbers separated by commas, at most %u, got “%s”\n",
                  (guint) G_N_ELEMENTS (config.levels), levels);
      return 2;
    }
  if (rows > 0)
    config.full_rows = (guint) rows;
  if (runs > 0)
    config.runs = (guint) runs;

  g_print ("carburetor-bench: %u rows, median of %u runs%s\n", config.full_rows, config.runs,
           quick ? " (quick: checks only, figures meaningless)" : "");
  if (only_concurrency)
    {
      bench_concurrency (&config, pg_uri != NULL ? pg_uri : "postgresql:///");
      return bench_failures () > 0 ? 1 : 0;
    }
  bench_report_header ();
  if (only_twoway)
    {
      bench_twoway (&config, pg_uri != NULL ? pg_uri : "postgresql:///");
      return bench_failures () > 0 ? 1 : 0;
    }
  if (!no_postgres)
    bench_postgres (&config, pg_uri != NULL ? pg_uri : "postgresql:///");

  g_autofree char *tmp = sqlite_dir == NULL ? g_dir_make_tmp ("carburetor-bench-XXXXXX", NULL) : NULL;
  bench_sqlite (&config, sqlite_dir != NULL ? sqlite_dir : tmp);
  if (tmp != NULL)
    g_rmdir (tmp);

  if (!no_postgres)
    {
      bench_twoway (&config, pg_uri != NULL ? pg_uri : "postgresql:///");
      bench_concurrency (&config, pg_uri != NULL ? pg_uri : "postgresql:///");
    }

  if (bench_failures () > 0)
    {
      g_printerr ("%d check(s) failed\n", bench_failures ());
      return 1;
    }
  return 0;
}
