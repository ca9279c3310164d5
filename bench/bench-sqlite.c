/* carburetor-bench — the SQLite figures.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bench.h"

#include <glib/gstdio.h>
#include <sqlite3.h>

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

/* The hand-written loop: the same SELECT, the same structs, strings into a
 * bump allocator. */
static guint64
raw_full (sqlite3 *db)
{
  sqlite3_stmt *stmt = NULL;
  const char *sql = "SELECT id, title, n, big, flag, last_synced_at, note FROM bench_full"
                    " WHERE last_synced_at > ?1 AND last_synced_at <= ?2";
  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    g_error ("bench: %s", sqlite3_errmsg (db));
  sqlite3_bind_int64 (stmt, 1, G_MININT64);
  sqlite3_bind_int64 (stmt, 2, g_get_real_time ());
  gsize n = 0, cap = 1024;
  BenchRow *rows = g_new (BenchRow, cap);
  BenchArena *arena = bench_arena_new ();
  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      if (n == cap)
        rows = g_renew (BenchRow, rows, cap *= 2);
      BenchRow *r = &rows[n++];
      r->id = sqlite3_column_int64 (stmt, 0);
      r->title = bench_arena_strndup (arena, (const char *) sqlite3_column_text (stmt, 1),
                                      (gsize) sqlite3_column_bytes (stmt, 1));
      r->n = sqlite3_column_int (stmt, 2);
      r->big = sqlite3_column_int64 (stmt, 3);
      r->flag = sqlite3_column_int (stmt, 4) != 0;
      r->last_synced_at = sqlite3_column_int64 (stmt, 5);
      r->note = sqlite3_column_type (stmt, 6) == SQLITE_NULL
                    ? NULL
                    : bench_arena_strndup (arena, (const char *) sqlite3_column_text (stmt, 6),
                                           (gsize) sqlite3_column_bytes (stmt, 6));
    }
  sqlite3_finalize (stmt);
  bench_arena_free (arena);
  g_free (rows);
  return n;
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
  sqlite3 *db = NULL;
  sqlite3_open (path, &db);

  g_autoptr (GArray) carb = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) raw = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint i = 0; i < config->runs; i++)
    {
      double t0 = bench_now ();
      g_autoptr (CarbSyncResult) r = carb_store_download_sync (store, &bench_model, NULL, 0, NULL, &error);
      double t1 = bench_now ();
      guint64 n_raw = raw_full (db);
      double t2 = bench_now ();
      if (r == NULL)
        g_error ("bench: %s", error->message);
      if (carb_sync_result_get_n_rows (r) != config->full_rows || n_raw != config->full_rows)
        bench_fail ("SQLite full sync: %" G_GSIZE_FORMAT " / %" G_GUINT64_FORMAT " rows",
                    carb_sync_result_get_n_rows (r), n_raw);
      double a = t1 - t0, b = t2 - t1;
      g_array_append_val (carb, a);
      g_array_append_val (raw, b);
    }
  g_autofree char *label = g_strdup_printf ("SQLite full sync, %u rows (buffered)", config->full_rows);
  bench_report (label, bench_median (carb), "s", "raw sqlite3_step loop", bench_median (raw));

  double t_s = 0, rss_s = 0, t_b = 0, rss_b = 0;
  if (bench_child_median ("stream", uri, config->runs, config->full_rows, &t_s, &rss_s)
      && bench_child_median ("buffered", uri, config->runs, config->full_rows, &t_b, &rss_b))
    {
      bench_report ("SQLite full sync, streaming: wall time (child)", t_s, "s", "buffered (child)", t_b);
      bench_report ("SQLite full sync, streaming: peak RSS (VmHWM)", rss_s, "MiB", "buffered", rss_b);
    }

  sqlite3_close (db);
  g_clear_pointer (&store, g_object_unref);
  const char *suffixes[] = { "", "-wal", "-shm" };
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *f = g_strconcat (path, suffixes[i], NULL);
      g_unlink (f);
    }
  bench_sqlite_write (config, dir);
}
