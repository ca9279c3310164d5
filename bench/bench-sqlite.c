/* carburetor-bench — the SQLite figures.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bench.h"

#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static void
make_file (const char *path, guint rows)
{
  sqlite3 *db = NULL;
  g_autofree char *sql = g_strdup_printf (
      "PRAGMA journal_mode = WAL;"
      "CREATE TABLE bench_full (id INTEGER PRIMARY KEY, title TEXT NOT NULL, n INTEGER NOT NULL,"
      " big INTEGER NOT NULL, flag BOOLEAN NOT NULL, last_synced_at INTEGER NOT NULL, note TEXT);"
      "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %u)"
      " INSERT INTO bench_full SELECT i, 'title number ' || i, i %% 1000, i * 1000003, i %% 2 = 0,"
      " 1700000000000000 + i, CASE WHEN i %% 3 = 0 THEN NULL ELSE 'a note for row ' || i END FROM s;"
      "CREATE INDEX bench_ts ON bench_full (last_synced_at, id);",
      rows);
  if (sqlite3_open (path, &db) != SQLITE_OK || sqlite3_exec (db, sql, NULL, NULL, NULL) != SQLITE_OK)
    g_error ("bench: %s", sqlite3_errmsg (db));
  sqlite3_close (db);
}

/* ------------------------------------------- rows per second (issue #13) */

/* The table: text id, two texts (one nullable), int, bigint, bool,
 * µs stamp; the struct a user declares for it. */
typedef struct
{
  char *id;
  char *title;
  gint32 n;
  gint64 big;
  gboolean flag;
  gint64 last_synced_at;
  char *note; /* nullable */
} TextRow;

CARB_DEFINE_STATIC_MODEL (text_model,
                          TextRow,
                          NULL,
                          "bench_text",
                          CARB_ID (TextRow, id, TEXT),
                          CARB_COLUMN (TextRow, title, TEXT),
                          CARB_COLUMN (TextRow, n, INT32),
                          CARB_COLUMN (TextRow, big, INT64),
                          CARB_COLUMN (TextRow, flag, BOOL),
                          CARB_TIMESTAMP (TextRow, last_synced_at),
                          CARB_COLUMN_NULLABLE (TextRow, note, TEXT));

static void
make_text_table (const char *path, guint rows)
{
  sqlite3 *db = NULL;
  g_autofree char *sql = g_strdup_printf (
      "CREATE TABLE bench_text (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL, n INTEGER NOT NULL,"
      " big INTEGER NOT NULL, flag BOOLEAN NOT NULL, last_synced_at INTEGER NOT NULL, note TEXT);"
      "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %u)"
      " INSERT INTO bench_text SELECT printf ('row-%%07d', i), 'title number ' || i, i %% 1000,"
      " i * 1000003, i %% 2 = 0, 1700000000000000 + i,"
      " CASE WHEN i %% 3 = 0 THEN NULL ELSE 'a note for row ' || i END FROM s;"
      "CREATE INDEX bench_text_ts ON bench_text (last_synced_at, id);",
      rows);
  if (sqlite3_open (path, &db) != SQLITE_OK || sqlite3_exec (db, sql, NULL, NULL, NULL) != SQLITE_OK)
    g_error ("bench: %s", sqlite3_errmsg (db));
  sqlite3_close (db);
}

static char *
dup_text (sqlite3_stmt *stmt, int col)
{
  const char *text = (const char *) sqlite3_column_text (stmt, col);
  return text != NULL ? strdup (text) : NULL;
}

/* The loop a user writes instead of the library: a SELECT of the table
 * (@same_where: with the library's WHERE on the stamp, hence the same plan;
 * otherwise the plain SELECT of a first sync), each row into a growing
 * struct array, each string copied with strdup; then everything freed. */
static guint64
user_loop (sqlite3 *db, gboolean same_where)
{
  sqlite3_stmt *stmt = NULL;
  const char *sql = same_where ? "SELECT id, title, n, big, flag, last_synced_at, note FROM bench_text"
                                 " WHERE last_synced_at > ?1 AND last_synced_at <= ?2"
                               : "SELECT id, title, n, big, flag, last_synced_at, note FROM bench_text";
  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    g_error ("bench: %s", sqlite3_errmsg (db));
  if (same_where)
    {
      sqlite3_bind_int64 (stmt, 1, G_MININT64);
      sqlite3_bind_int64 (stmt, 2, g_get_real_time ());
    }
  gsize n = 0, cap = 1024;
  TextRow *rows = malloc (cap * sizeof *rows);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      if (n == cap)
        rows = realloc (rows, (cap *= 2) * sizeof *rows);
      TextRow *r = &rows[n++];
      r->id = dup_text (stmt, 0);
      r->title = dup_text (stmt, 1);
      r->n = sqlite3_column_int (stmt, 2);
      r->big = sqlite3_column_int64 (stmt, 3);
      r->flag = sqlite3_column_int (stmt, 4) != 0;
      r->last_synced_at = sqlite3_column_int64 (stmt, 5);
      r->note = dup_text (stmt, 6);
    }
  sqlite3_finalize (stmt);
  for (gsize i = 0; i < n; i++)
    {
      free (rows[i].id);
      free (rows[i].title);
      free (rows[i].note);
    }
  free (rows);
  return n;
}

/* download_sync, buffered, its result freed (as the loop frees its rows). */
static guint64
carb_buffered (CarbStore *store)
{
  g_autoptr (GError) error = NULL;
  CarbSyncResult *r = carb_store_download_sync (store, &text_model, NULL, 0, NULL, &error);
  if (r == NULL)
    g_error ("bench: %s", error->message);
  guint64 n = carb_sync_result_get_n_rows (r);
  carb_sync_result_unref (r);
  return n;
}

static gboolean
count_text_row (gconstpointer row, gpointer user_data, GError **error)
{
  (*(guint64 *) user_data)++;
  return TRUE;
}

/* download_sync_foreach: each decoded row handed to a callback. */
static guint64
carb_streaming (CarbStore *store)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncPoint) point = NULL;
  guint64 n = 0;
  if (!carb_store_download_sync_foreach (store, &text_model, NULL, 0, count_text_row, &n, &point, NULL,
                                         &error))
    g_error ("bench: %s", error->message);
  return n;
}

/* The three forms in turn, so that outside load falls on all alike. */
static void
rows_per_second (const BenchConfig *config, const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "bench-text.db", NULL);
  g_autofree char *uri = g_strconcat ("sqlite:", path, NULL);
  make_text_table (path, config->full_rows);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  if (store == NULL || !carb_store_prepare_table (store, &text_model, &error))
    g_error ("bench: %s", error->message);
  sqlite3 *db = NULL;
  sqlite3_open (path, &db);

  g_autoptr (GArray) buffered = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) streaming = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) loop = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) loop_where = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint i = 0; i < config->runs; i++)
    {
      double t0 = bench_now ();
      guint64 n_buffered = carb_buffered (store);
      double t1 = bench_now ();
      guint64 n_streaming = carb_streaming (store);
      double t2 = bench_now ();
      guint64 n_loop = user_loop (db, FALSE);
      double t3 = bench_now ();
      guint64 n_loop_where = user_loop (db, TRUE);
      double t4 = bench_now ();
      if (n_buffered != config->full_rows || n_streaming != config->full_rows || n_loop != config->full_rows
          || n_loop_where != config->full_rows)
        bench_fail ("SQLite rows/s: %" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT
                    " / %" G_GUINT64_FORMAT " rows",
                    n_buffered, n_streaming, n_loop, n_loop_where);
      double a = t1 - t0, b = t2 - t1, c = t3 - t2, d = t4 - t3;
      g_array_append_val (buffered, a);
      g_array_append_val (streaming, b);
      g_array_append_val (loop, c);
      g_array_append_val (loop_where, d);
    }
  double user = bench_median (loop), user_where = bench_median (loop_where);
  double buf = bench_median (buffered), str = bench_median (streaming);
  g_autofree char *label = g_strdup_printf ("SQLite %u rows, text id (buffered)", config->full_rows);
  g_autofree char *label_s = g_strdup_printf ("SQLite %u rows, text id (streaming)", config->full_rows);
  bench_report (label, buf, "s", "user's step+strdup loop", user);
  bench_report (label_s, str, "s", "user's step+strdup loop", user);
  bench_report (label, buf, "s", "same loop, the library's WHERE", user_where);
  bench_report (label_s, str, "s", "same loop, the library's WHERE", user_where);
  bench_report ("  user's loop with the library's WHERE", user_where, "s", "user's step+strdup loop", user);
  if (user > 0)
    bench_note ("SQLite rows/s: buffered %.0f, streaming %.0f, user's loop %.0f (with the WHERE %.0f)",
                config->full_rows / buf, config->full_rows / str, config->full_rows / user,
                config->full_rows / user_where);

  sqlite3_close (db);
  g_clear_pointer (&store, g_object_unref);
  const char *suffixes[] = { "", "-wal", "-shm" };
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *f = g_strconcat (path, suffixes[i], NULL);
      g_unlink (f);
    }
}

void
bench_sqlite (const BenchConfig *config, const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "bench.db", NULL);
  g_autofree char *uri = g_strconcat ("sqlite:", path, NULL);
  make_file (path, config->full_rows);

  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  /* The rows are history that predates the stamping triggers. */
  if (store == NULL || !carb_store_prepare_table (store, &bench_model, &error))
    g_error ("bench: %s", error->message);
  double t_s = 0, rss_s = 0, t_b = 0, rss_b = 0;
  if (bench_child_median ("stream", uri, config->runs, config->full_rows, &t_s, &rss_s)
      && bench_child_median ("buffered", uri, config->runs, config->full_rows, &t_b, &rss_b))
    {
      bench_report ("SQLite full sync, streaming: wall time (child)", t_s, "s", "buffered (child)", t_b);
      bench_report ("SQLite full sync, streaming: peak RSS (VmHWM)", rss_s, "MiB", "buffered", rss_b);
    }

  g_clear_pointer (&store, g_object_unref);
  const char *suffixes[] = { "", "-wal", "-shm" };
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *f = g_strconcat (path, suffixes[i], NULL);
      g_unlink (f);
    }
  rows_per_second (config, dir);
  bench_sqlite_write (config, dir);
}
