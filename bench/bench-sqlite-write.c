/* carburetor-bench — what the SQLite stamping triggers cost a writer, and
 * what an idle sync costs a reader.
 *
 * Two tables in one WAL file, the same columns: one prepared (the triggers
 * of carb_store_prepare_table()), one plain. A writer inserts one row per
 * statement, many in one transaction and then in autocommit, as an
 * application does; the figure is per row.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bench.h"

#include <glib/gstdio.h>
#include <sqlite3.h>

typedef struct
{
  gint64 id;
  char *title;
  gint64 ts;
} WriteRow;

CARB_DEFINE_STATIC_MODEL (write_model,
                          WriteRow,
                          NULL,
                          "bench_stamped",
                          CARB_ID (WriteRow, id, INT64),
                          CARB_COLUMN (WriteRow, title, TEXT),
                          CARB_TIMESTAMP (WriteRow, ts));

static void
exec_or_die (sqlite3 *db, const char *sql)
{
  if (sqlite3_exec (db, sql, NULL, NULL, NULL) != SQLITE_OK)
    g_error ("bench: %s: %s", sql, sqlite3_errmsg (db));
}

/* Seconds per row for @n single-row INSERTs into @table. */
static double
insert_rows (sqlite3 *db, const char *table, guint n, gboolean one_transaction, gint64 *next_id)
{
  g_autofree char *sql = g_strdup_printf ("INSERT INTO %s (id, title) VALUES (?1, 'a title')", table);
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
    g_error ("bench: %s", sqlite3_errmsg (db));
  double t0 = bench_now ();
  if (one_transaction)
    exec_or_die (db, "BEGIN");
  for (guint i = 0; i < n; i++)
    {
      sqlite3_bind_int64 (stmt, 1, (*next_id)++);
      if (sqlite3_step (stmt) != SQLITE_DONE)
        g_error ("bench: %s", sqlite3_errmsg (db));
      sqlite3_reset (stmt);
    }
  if (one_transaction)
    exec_or_die (db, "COMMIT");
  double t = (bench_now () - t0) / n;
  sqlite3_finalize (stmt);
  return t;
}

static void
report_inserts (sqlite3 *db, const BenchConfig *config, guint n, gboolean one_transaction)
{
  g_autoptr (GArray) stamped = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) plain = g_array_new (FALSE, FALSE, sizeof (double));
  static gint64 next_stamped = 1, next_plain = 1;

  for (guint i = 0; i < config->runs; i++)
    {
      double a = insert_rows (db, "bench_stamped", n, one_transaction, &next_stamped) * 1e6;
      double b = insert_rows (db, "bench_plain", n, one_transaction, &next_plain) * 1e6;
      g_array_append_val (stamped, a);
      g_array_append_val (plain, b);
    }
  g_autofree char *label = g_strdup_printf ("SQLite INSERT per row, %s, stamping triggers",
                                            one_transaction ? "1 transaction" : "autocommit");
  bench_report (label, bench_median (stamped), "us", "no trigger", bench_median (plain));
}

/* Per sync that finds nothing new, beside the same SELECT by hand. */
static void
report_idle_sync (sqlite3 *db, CarbStore *store, const BenchConfig *config)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncResult) first = carb_store_download_sync (store, &write_model, NULL, 0, NULL, &error);
  if (first == NULL)
    g_error ("bench: %s", error->message);
  const CarbSyncPoint *point = carb_sync_result_get_synced_until (first);
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2 (db, "SELECT id, title, ts FROM bench_stamped WHERE ts > ?1 AND ts <= ?1", -1, &stmt,
                          NULL)
      != SQLITE_OK)
    g_error ("bench: %s", sqlite3_errmsg (db));
  sqlite3_bind_int64 (stmt, 1, carb_sync_point_get_time (point));

  const guint n = config->quick ? 20 : 500;
  g_autoptr (GArray) carb = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) raw = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint r = 0; r < MAX (config->runs, 5u); r++)
    {
      double t0 = bench_now ();
      for (guint i = 0; i < n; i++)
        {
          g_autoptr (CarbSyncResult) idle
              = carb_store_download_sync (store, &write_model, point, 0, NULL, &error);
          if (idle == NULL || carb_sync_result_get_n_rows (idle) != 0)
            bench_fail ("SQLite idle sync: %s", error != NULL ? error->message : "rows came back");
        }
      double t1 = bench_now ();
      for (guint i = 0; i < n; i++)
        {
          if (sqlite3_step (stmt) != SQLITE_DONE)
            bench_fail ("SQLite idle SELECT: %s", sqlite3_errmsg (db));
          sqlite3_reset (stmt);
        }
      double t2 = bench_now ();
      double a = (t1 - t0) / n * 1e6, b = (t2 - t1) / n * 1e6;
      g_array_append_val (carb, a);
      g_array_append_val (raw, b);
    }
  sqlite3_finalize (stmt);
  g_autoptr (GString) label = g_string_new (NULL);
  g_string_printf (label, "SQLite sync returning 0 rows of %" G_GINT64_FORMAT,
                   (gint64) carb_sync_result_get_n_rows (first));
  bench_report (label->str, bench_median (carb), "us", "the same SELECT by hand", bench_median (raw));
}

void
bench_sqlite_write (const BenchConfig *config, const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "bench-write.db", NULL);
  g_autofree char *uri = g_strconcat ("sqlite:", path, NULL);
  sqlite3 *db = NULL;
  g_autoptr (GError) error = NULL;

  if (sqlite3_open (path, &db) != SQLITE_OK)
    g_error ("bench: %s", sqlite3_errmsg (db));
  exec_or_die (db,
               "PRAGMA journal_mode = WAL;"
               "CREATE TABLE bench_stamped (id INTEGER PRIMARY KEY, title TEXT NOT NULL, ts INTEGER NOT NULL"
               " DEFAULT 0);"
               "CREATE TABLE bench_plain (id INTEGER PRIMARY KEY, title TEXT NOT NULL, ts INTEGER NOT NULL"
               " DEFAULT 0);"
               "CREATE INDEX bench_plain_ts ON bench_plain (ts, id);");
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  if (store == NULL || !carb_store_prepare_table (store, &write_model, &error))
    g_error ("bench: %s", error->message);

  report_inserts (db, config, config->quick ? 200 : 10000, TRUE);
  report_inserts (db, config, config->quick ? 20 : 500, FALSE);
  report_idle_sync (db, store, config);

  sqlite3_close (db);
  g_clear_pointer (&store, g_object_unref);
  const char *suffixes[] = { "", "-wal", "-shm" };
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *f = g_strconcat (path, suffixes[i], NULL);
      g_unlink (f);
    }
}
