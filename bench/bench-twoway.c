/* carburetor-bench — two-way sync (issue #12), beside raw baselines in the
 * same run:
 *
 *   first fill   a new replica syncs N server rows (a child process, for
 *                its own peak RSS) | libpq reads the rows (single-row
 *                mode) and one prepared sqlite3 INSERT writes them in one
 *                transaction
 *   upload       10k locally changed rows: collect, apply, acknowledge |
 *                one transaction of 500-row INSERT … ON CONFLICT DO UPDATE
 *   idle sync    carb_replica_sync of a 10-table group with nothing new |
 *                one SELECT 1 (the bare round trip)
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bench.h"

#include <glib/gstdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FILL_TABLE       "bench_tw_fill"
#define UPLOAD_ROWS_FULL 10000
#define GROUP_TABLES     10

static CarbModel *
tw_model (const char *table)
{
  g_autoptr (GError) error = NULL;
  CarbModel *m = carb_model_new (NULL, table);
  gboolean ok
      = carb_model_add_column (m, "id", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_ID, 0, &error)
        && carb_model_add_column (m, "title", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_DATA, 0, &error)
        && carb_model_add_column (m, "n", CARB_COLUMN_TYPE_INT32, CARB_COLUMN_ROLE_DATA, 0, &error)
        && carb_model_add_column (m, "big", CARB_COLUMN_TYPE_INT64, CARB_COLUMN_ROLE_DATA, 0, &error)
        && carb_model_add_column (m, "flag", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DATA, 0, &error)
        && carb_model_add_column (m, "note", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_DATA,
                                  CARB_COLUMN_FLAGS_NULLABLE, &error)
        && carb_model_add_column (m, "deleted", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DELETED, 0, &error)
        && carb_model_add_column (m, "ts", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_TIMESTAMP, 0, &error);
  if (!ok)
    g_error ("bench: %s", error->message);
  return m;
}

static CarbSyncGroup *
tw_group (const char *prefix, guint n_tables)
{
  g_autoptr (GError) error = NULL;
  CarbSyncGroup *group = carb_sync_group_new (prefix);
  for (guint i = 0; i < n_tables; i++)
    {
      g_autofree char *table = n_tables == 1 ? g_strdup (prefix) : g_strdup_printf ("%s_%u", prefix, i);
      g_autoptr (CarbModel) m = tw_model (table);
      if (!carb_sync_group_add_model (group, m, &error))
        g_error ("bench: %s", error->message);
    }
  return group;
}

static void
exec_ok (PGconn *conn, const char *sql)
{
  PGresult *res = PQexec (conn, sql);
  if (PQresultStatus (res) != PGRES_COMMAND_OK && PQresultStatus (res) != PGRES_TUPLES_OK)
    g_error ("bench: %s: %s", sql, PQerrorMessage (conn));
  PQclear (res);
}

/* Server tables for @group, filled with @rows rows each by plain SQL (the
 * versioning trigger gives them versions, as for any write that bypasses
 * the library). */
static void
make_server_tables (PGconn *conn, CarbStore *store, CarbSyncGroup *group, guint rows)
{
  g_autoptr (GError) error = NULL;
  for (guint i = 0; i < carb_sync_group_get_n_models (group); i++)
    {
      const char *table = carb_model_get_table (carb_sync_group_get_model (group, i));
      g_autofree char *drop = g_strdup_printf ("DROP TABLE IF EXISTS %s", table);
      exec_ok (conn, drop);
      if (!carb_store_create_table (store, carb_sync_group_get_wire_model (group, i), &error))
        g_error ("bench: %s", error->message);
      g_autofree char *fill = g_strdup_printf (
          "INSERT INTO %s (id, title, n, big, flag, note, deleted) SELECT 'row-' || i, 'title number ' || i,"
          " i %% 1000, i::bigint * 1000003, i %% 2 = 0, CASE WHEN i %% 3 = 0 THEN NULL ELSE 'a note for row "
          "' || i"
          " END, false FROM generate_series (1, %u) i",
          table, rows);
      exec_ok (conn, fill);
      g_autofree char *analyze = g_strdup_printf ("VACUUM ANALYZE %s", table);
      exec_ok (conn, analyze);
    }
  if (!carb_store_prepare_group (store, group, &error))
    g_error ("bench: %s", error->message);
}

static void
drop_server_tables (PGconn *conn, CarbSyncGroup *group)
{
  for (guint i = 0; i < carb_sync_group_get_n_models (group); i++)
    {
      g_autofree char *drop = g_strdup_printf ("DROP TABLE IF EXISTS %s",
                                               carb_model_get_table (carb_sync_group_get_model (group, i)));
      exec_ok (conn, drop);
    }
}

static GVariant *
empty_context (void)
{
  return g_variant_ref_sink (g_variant_new_parsed ("@a{sv} {}"));
}

/* ------------------------------------------------------ first fill */

static guint64
raw_fill (const char *uri, const char *path, GError **error)
{
  PGconn *conn = bench_pg_connect (uri);
  sqlite3 *db = NULL;
  sqlite3_stmt *ins = NULL;
  guint64 rows = 0;
  sqlite3_open (path, &db);
  sqlite3_exec (
      db,
      "PRAGMA journal_mode=WAL; CREATE TABLE " FILL_TABLE " (id TEXT PRIMARY KEY, title TEXT NOT NULL,"
      " n INTEGER NOT NULL, big INTEGER NOT NULL, flag INTEGER NOT NULL, note TEXT, deleted INTEGER NOT"
      " NULL, ts INTEGER NOT NULL); BEGIN",
      NULL, NULL, NULL);
  sqlite3_prepare_v2 (db, "INSERT INTO " FILL_TABLE " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", -1, &ins, NULL);
  PQsendQuery (conn, "SELECT id, title, n, big, flag, note, deleted,"
                     " (extract (epoch FROM ts) * 1000000)::int8 FROM " FILL_TABLE);
  PQsetSingleRowMode (conn);
  PGresult *res;
  while ((res = PQgetResult (conn)) != NULL)
    {
      if (PQresultStatus (res) == PGRES_SINGLE_TUPLE)
        {
          for (int c = 0; c < 8; c++)
            {
              if (PQgetisnull (res, 0, c))
                sqlite3_bind_null (ins, c + 1);
              else if (c == 4 || c == 6)
                sqlite3_bind_int (ins, c + 1, PQgetvalue (res, 0, c)[0] == 't');
              else if (c == 2 || c == 3 || c == 7)
                sqlite3_bind_int64 (ins, c + 1, g_ascii_strtoll (PQgetvalue (res, 0, c), NULL, 10));
              else
                sqlite3_bind_text (ins, c + 1, PQgetvalue (res, 0, c), PQgetlength (res, 0, c),
                                   SQLITE_TRANSIENT);
            }
          if (sqlite3_step (ins) != SQLITE_DONE)
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", sqlite3_errmsg (db));
          sqlite3_reset (ins);
          rows++;
        }
      else if (PQresultStatus (res) != PGRES_TUPLES_OK)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", PQerrorMessage (conn));
      PQclear (res);
    }
  sqlite3_finalize (ins);
  sqlite3_exec (db, "COMMIT", NULL, NULL, NULL);
  sqlite3_close (db);
  PQfinish (conn);
  return rows;
}

/* The sync from opening to closing; the row count after it is the
 * bench's check, not the fill's work, and is left out of @seconds (the raw
 * fill counts its rows as it inserts them). */
static guint64
replica_fill (const char *uri, const char *path, double *seconds, GError **error)
{
  double t0 = bench_now ();
  {
    g_autoptr (CarbSyncGroup) group = tw_group (FILL_TABLE, 1);
    g_autoptr (CarbStore) server = carb_store_open (uri, error);
    g_autoptr (CarbReplica) replica = server != NULL ? carb_replica_open (path, group, error) : NULL;
    g_autoptr (GVariant) context = empty_context ();
    if (replica == NULL || !carb_replica_sync (replica, server, context, NULL, error))
      return 0;
  }
  *seconds = bench_now () - t0;
  sqlite3 *db = NULL;
  sqlite3_stmt *count = NULL;
  guint64 rows = 0;
  sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL);
  if (sqlite3_prepare_v2 (db, "SELECT count(*) FROM " FILL_TABLE, -1, &count, NULL) == SQLITE_OK
      && sqlite3_step (count) == SQLITE_ROW)
    rows = (guint64) sqlite3_column_int64 (count, 0);
  sqlite3_finalize (count);
  sqlite3_close (db);
  return rows;
}

/* The child of a fill figure ("twoway-fill" or "twoway-fill-raw"). */
int
bench_twoway_child (const char *form, const char *uri, guint64 *rows, double *seconds, GError **error)
{
  g_autofree char *dir = g_dir_make_tmp ("carb-bench-tw-XXXXXX", error);
  if (dir == NULL)
    return 1;
  g_autofree char *path = g_build_filename (dir, "replica.db", NULL);
  double t0 = bench_now ();
  if (strcmp (form, "twoway-fill-raw") == 0)
    {
      *rows = raw_fill (uri, path, error);
      *seconds = bench_now () - t0;
    }
  else
    *rows = replica_fill (uri, path, seconds, error);
  static const char *const suffixes[] = { "", "-wal", "-shm", "-journal", "-replica-lock" };
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *file = g_strconcat (path, suffixes[i], NULL);
      g_unlink (file);
    }
  g_rmdir (dir);
  return *error != NULL ? 1 : 0;
}

/* The library's and the raw fill take turns, so that the load of a shared
 * machine falls on both alike; the ratio of each pair is reported too. */
static void
first_fill (const BenchConfig *config, const char *uri, PGconn *conn, CarbStore *store)
{
  g_autoptr (CarbSyncGroup) group = tw_group (FILL_TABLE, 1);
  make_server_tables (conn, store, group, config->full_rows);
  g_autoptr (GArray) t_lib = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) t_raw = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) m_lib = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) m_raw = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) pairs = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint r = 0; r < config->runs; r++)
    {
      if (!bench_child_run ("twoway-fill", uri, config->full_rows, t_lib, m_lib)
          || !bench_child_run ("twoway-fill-raw", uri, config->full_rows, t_raw, m_raw))
        {
          drop_server_tables (conn, group);
          return;
        }
      double ratio = g_array_index (t_lib, double, r) / g_array_index (t_raw, double, r);
      g_array_append_val (pairs, ratio);
    }
  g_autofree char *label = g_strdup_printf ("Replica first fill, %u rows (PG → SQLite)", config->full_rows);
  bench_report (label, bench_median (t_lib), "s", "libpq rows → one sqlite3 INSERT", bench_median (t_raw));
  bench_note ("first fill: median of the runs' own ratios %.2fx; peak RSS: replica %.1f MiB, raw %.1f MiB",
              bench_median (pairs), bench_median (m_lib), bench_median (m_raw));
  drop_server_tables (conn, group);
}

/* ---------------------------------------------------------- upload */

static double
raw_upload (PGconn *conn, const char *table, guint rows, guint round)
{
  double t0 = bench_now ();
  exec_ok (conn, "BEGIN");
  for (guint first = 1; first <= rows; first += 500)
    {
      GString *sql = g_string_new (NULL);
      g_string_append_printf (sql, "INSERT INTO %s (id, title, n, big, flag, deleted) VALUES ", table);
      for (guint i = first; i < first + 500 && i <= rows; i++)
        g_string_append_printf (sql, "%s('row-%u', 'raw %u.%u', %u, %u, true, false)", i == first ? "" : ",",
                                i, round, i, i % 1000, i);
      g_string_append (sql, " ON CONFLICT (id) DO UPDATE SET title = excluded.title");
      exec_ok (conn, sql->str);
      g_string_free (sql, TRUE);
    }
  exec_ok (conn, "COMMIT");
  return bench_now () - t0;
}

/* Seconds spent in each phase of an upload, summed over its batches, and
 * how much of the apply was this process's CPU (the rest is the server's
 * work and the round trips). */
typedef struct
{
  double collect, apply, ack, apply_cpu;
} UploadPhases;

static double
cpu_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double
replica_upload (CarbReplica *replica,
                CarbStore *server,
                CarbSyncGroup *group,
                guint rows,
                guint round,
                UploadPhases *phases)
{
  g_autoptr (GError) error = NULL;
  const char *table = carb_model_get_table (carb_sync_group_get_model (group, 0));
  for (guint i = 1; i <= rows; i++)
    {
      g_autofree char *id = g_strdup_printf ("row-%u", i);
      g_autofree char *title = g_strdup_printf ("lib %u.%u", round, i);
      g_autoptr (GVariant) changes = g_variant_ref_sink (g_variant_new_parsed ("{'title': <%s>}", title));
      if (!carb_replica_update (replica, table, id, changes, &error))
        g_error ("bench: %s", error->message);
    }
  g_autoptr (GVariant) context = empty_context ();
  double t0 = bench_now ();
  while (carb_replica_get_n_pending (replica) > 0)
    {
      double t1 = bench_now ();
      g_autoptr (GBytes) sent = carb_replica_collect_changes (replica, 500, &error);
      double t2 = bench_now (), c2 = cpu_now ();
      g_autoptr (GBytes) result
          = sent != NULL ? carb_store_apply_changes (server, group, context, sent, NULL, &error) : NULL;
      double t3 = bench_now ();
      phases->apply_cpu += cpu_now () - c2;
      if (result == NULL || !carb_replica_acknowledge (replica, sent, result, &error))
        g_error ("bench: %s", error->message);
      phases->collect += t2 - t1;
      phases->apply += t3 - t2;
      phases->ack += bench_now () - t3;
    }
  return bench_now () - t0;
}

static void
upload (const BenchConfig *config, const char *uri, PGconn *conn, CarbStore *store, const char *dir)
{
  g_autoptr (GError) error = NULL;
  guint rows = config->quick ? 500 : UPLOAD_ROWS_FULL;
  g_autoptr (CarbSyncGroup) group = tw_group ("bench_tw_up", 1);
  make_server_tables (conn, store, group, rows);
  g_autofree char *path = g_build_filename (dir, "upload.db", NULL);
  g_autoptr (CarbReplica) replica = carb_replica_open (path, group, &error);
  g_autoptr (GVariant) context = empty_context ();
  if (replica == NULL || !carb_replica_sync (replica, store, context, NULL, &error))
    g_error ("bench: %s", error->message);
  g_autoptr (GArray) lib = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) raw = g_array_new (FALSE, FALSE, sizeof (double));
  UploadPhases phases = { 0 };
  for (guint r = 0; r < config->runs; r++)
    {
      double t = replica_upload (replica, store, group, rows, r, &phases);
      g_array_append_val (lib, t);
      t = raw_upload (conn, "bench_tw_up", rows, r);
      g_array_append_val (raw, t);
    }
  g_autofree char *label = g_strdup_printf ("Upload %u changed rows (collect, apply, ack)", rows);
  bench_report (label, bench_median (lib), "s", "500-row INSERT … ON CONFLICT, 1 txn", bench_median (raw));
  bench_note ("upload phases, mean per run: collect %.3f s, apply %.3f s (%.3f s of it this process's CPU), "
              "acknowledge %.3f s",
              phases.collect / config->runs, phases.apply / config->runs, phases.apply_cpu / config->runs,
              phases.ack / config->runs);
  g_clear_object (&replica);
  drop_server_tables (conn, group);
}

/* -------------------------------------------------------- idle sync */

static void
idle_sync (const BenchConfig *config, const char *uri, PGconn *conn, CarbStore *store, const char *dir)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncGroup) group = tw_group ("bench_tw_idle", GROUP_TABLES);
  make_server_tables (conn, store, group, 100);
  g_autofree char *path = g_build_filename (dir, "idle.db", NULL);
  g_autoptr (CarbReplica) replica = carb_replica_open (path, group, &error);
  g_autoptr (GVariant) context = empty_context ();
  if (replica == NULL || !carb_replica_sync (replica, store, context, NULL, &error))
    g_error ("bench: %s", error->message);
  guint n = config->quick ? 20 : 500;
  double t0 = bench_now ();
  for (guint i = 0; i < n; i++)
    if (!carb_replica_sync (replica, store, context, NULL, &error))
      g_error ("bench: %s", error->message);
  double t_lib = (bench_now () - t0) / n;
  t0 = bench_now ();
  for (guint i = 0; i < n; i++)
    exec_ok (conn, "SELECT 1");
  double t_raw = (bench_now () - t0) / n;
  g_autofree char *label = g_strdup_printf ("Idle carb_replica_sync, %u-table group", GROUP_TABLES);
  bench_report (label, t_lib * 1e6, "us", "SELECT 1", t_raw * 1e6);
  g_clear_object (&replica);
  drop_server_tables (conn, group);
}

void
bench_twoway (const BenchConfig *config, const char *uri)
{
  PGconn *conn = bench_pg_connect (uri);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  if (store == NULL)
    g_error ("bench: %s", error->message);
  g_autofree char *dir = g_dir_make_tmp ("carb-bench-tw-XXXXXX", &error);
  first_fill (config, uri, conn, store);
  upload (config, uri, conn, store, dir);
  idle_sync (config, uri, conn, store, dir);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  for (const char *name; d != NULL && (name = g_dir_read_name (d)) != NULL;)
    {
      g_autofree char *file = g_build_filename (dir, name, NULL);
      g_unlink (file);
    }
  g_rmdir (dir);
  PQfinish (conn);
}
