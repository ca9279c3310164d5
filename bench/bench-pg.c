/* carburetor-bench — the PostgreSQL figures.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bench.h"

#include <libpq-fe.h>
#include <string.h>

#define PG_EPOCH_OFFSET_US G_GINT64_CONSTANT (946684800000000)

static const char columns[] = "\"id\", \"title\", \"n\", \"big\", \"flag\", \"last_synced_at\", \"note\"";

PGconn *
bench_pg_connect (const char *uri)
{
  PGconn *conn = PQconnectdb (uri);
  if (PQstatus (conn) != CONNECTION_OK)
    g_error ("bench: cannot connect to %s: %s", uri, PQerrorMessage (conn));
  PQclear (PQexec (conn, "SET client_min_messages = warning"));
  return conn;
}

static void
exec_ok (PGconn *conn, const char *sql)
{
  PGresult *res = PQexec (conn, sql);
  if (PQresultStatus (res) != PGRES_COMMAND_OK && PQresultStatus (res) != PGRES_TUPLES_OK)
    g_error ("bench: %s: %s", sql, PQerrorMessage (conn));
  PQclear (res);
}

void
bench_pg_make_table (PGconn *conn, CarbStore *store, const char *table, guint rows)
{
  g_autofree char *sql = g_strdup_printf (
      "DROP TABLE IF EXISTS %s;"
      "CREATE TABLE %s (id bigint PRIMARY KEY, title text NOT NULL, n integer NOT NULL, big bigint NOT NULL,"
      " flag boolean NOT NULL, last_synced_at timestamptz NOT NULL DEFAULT clock_timestamp(), note text);"
      "INSERT INTO %s (id, title, n, big, flag, note) SELECT i, 'title number ' || i, i %% 1000, i::bigint * "
      "1000003,"
      " i %% 2 = 0, CASE WHEN i %% 3 = 0 THEN NULL ELSE 'a note for row ' || i END"
      " FROM generate_series (1, %u) i",
      table, table, table, rows);
  exec_ok (conn, sql);
  CarbModel model = bench_model;
  model.table = table;
  g_autoptr (GError) error = NULL;
  if (!carb_store_prepare_table (store, &model, &error))
    g_error ("bench: %s", error->message);
  g_autofree char *vacuum = g_strdup_printf ("VACUUM ANALYZE %s", table);
  exec_ok (conn, vacuum);
}

/* ----------------------------------------------------------- figures */

static guint64
carb_full (CarbStore *store, const CarbModel *model)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncResult) result = carb_store_download_sync (store, model, NULL, 0, NULL, &error);
  if (result == NULL)
    g_error ("bench: %s", error->message);
  return carb_sync_result_get_n_rows (result);
}

static guint64
be (const char *p, int len)
{
  guint64 v = 0;
  for (int i = 0; i < len; i++)
    v = (v << 8) | (guint8) p[i];
  return v;
}

/* What a careful hand-written client does: one binary PQexecParams of the
 * same SELECT, decoded into the same structs, strings copied into a bump
 * allocator (not one malloc each: that would flatter the library). */
static guint64
raw_full (PGconn *conn, const char *table)
{
  g_autofree char *sql = g_strdup_printf (
      "SELECT %s FROM %s WHERE last_synced_at > $1 AND last_synced_at <= $2", columns, table);
  gint64 lower = GINT64_TO_BE (G_MININT64);
  gint64 upper = GINT64_TO_BE (g_get_real_time () - PG_EPOCH_OFFSET_US);
  const Oid types[] = { 1184, 1184 };
  const char *values[] = { (const char *) &lower, (const char *) &upper };
  const int lengths[] = { 8, 8 }, formats[] = { 1, 1 };
  PGresult *res = PQexecParams (conn, sql, 2, types, values, lengths, formats, 1);
  if (PQresultStatus (res) != PGRES_TUPLES_OK)
    g_error ("bench: %s", PQerrorMessage (conn));

  int n = PQntuples (res);
  BenchRow *rows = g_new0 (BenchRow, n);
  BenchArena *arena = bench_arena_new ();
  for (int i = 0; i < n; i++)
    {
      BenchRow *r = &rows[i];
      r->id = (gint64) be (PQgetvalue (res, i, 0), 8);
      r->title = bench_arena_strndup (arena, PQgetvalue (res, i, 1), PQgetlength (res, i, 1));
      r->n = (gint32) be (PQgetvalue (res, i, 2), 4);
      r->big = (gint64) be (PQgetvalue (res, i, 3), 8);
      r->flag = PQgetvalue (res, i, 4)[0] != 0;
      r->last_synced_at = (gint64) be (PQgetvalue (res, i, 5), 8) + PG_EPOCH_OFFSET_US;
      r->note = PQgetisnull (res, i, 6)
                    ? NULL
                    : bench_arena_strndup (arena, PQgetvalue (res, i, 6), PQgetlength (res, i, 6));
    }
  PQclear (res);
  bench_arena_free (arena);
  g_free (rows);
  return (guint64) n;
}

/* The floor: the server's binary COPY of the same rows, read and dropped. */
static guint64
copy_full (PGconn *conn, const char *table)
{
  g_autofree char *sql
      = g_strdup_printf ("COPY (SELECT %s FROM %s) TO STDOUT (FORMAT binary)", columns, table);
  PGresult *res = PQexec (conn, sql);
  if (PQresultStatus (res) != PGRES_COPY_OUT)
    g_error ("bench: %s", PQerrorMessage (conn));
  PQclear (res);
  guint64 chunks = 0;
  char *buf = NULL;
  int len;
  while ((len = PQgetCopyData (conn, &buf, 0)) > 0)
    {
      chunks++; /* one chunk per row, plus the header */
      PQfreemem (buf);
    }
  PQclear (PQgetResult (conn));
  return chunks > 0 ? chunks - 1 : 0;
}

/* The fields of one COPY binary tuple of @n columns at *@p (before @end):
 * FALSE for the trailer or a malformed tuple. */
static gboolean
copy_fields (const char **p, const char *end, int n, const char **values, int *lengths)
{
  if (end - *p < 2 || (gint16) be (*p, 2) != n)
    return FALSE;
  *p += 2;
  for (int c = 0; c < n; c++)
    {
      if (end - *p < 4)
        return FALSE;
      lengths[c] = (gint32) be (*p, 4);
      *p += 4;
      values[c] = *p;
      if (lengths[c] > 0)
        {
          if (end - *p < lengths[c])
            return FALSE;
          *p += lengths[c];
        }
    }
  return TRUE;
}

/* COPY binary of the same SELECT, decoded into the same structs as
 * raw_full (strings into a bump allocator, rows into a growing array, as
 * the library's buffered form keeps them): what a download could cost
 * without libpq building a PGresult for every batch of rows. */
static guint64
copy_decoded (PGconn *conn, const char *table)
{
  g_autofree char *sql = g_strdup_printf (
      "COPY (SELECT %s FROM %s WHERE last_synced_at > '-infinity' AND last_synced_at <= clock_timestamp ())"
      " TO STDOUT (FORMAT binary)",
      columns, table);
  PGresult *res = PQexec (conn, sql);
  if (PQresultStatus (res) != PGRES_COPY_OUT)
    g_error ("bench: %s", PQerrorMessage (conn));
  PQclear (res);
  GArray *rows = g_array_new (FALSE, TRUE, sizeof (BenchRow));
  BenchArena *arena = bench_arena_new ();
  char *buf = NULL;
  int len;
  while ((len = PQgetCopyData (conn, &buf, 0)) > 0)
    {
      const char *p = buf, *end = buf + len;
      const char *v[7];
      int l[7];
      /* The header (signature, flags, extension length, extension). */
      if (len >= 19 && memcmp (p, "PGCOPY\n\377\r\n", 11) == 0)
        p += 19 + be (p + 15, 4);
      if (copy_fields (&p, end, 7, v, l))
        {
          BenchRow r = {
            .id = (gint64) be (v[0], 8),
            .title = bench_arena_strndup (arena, v[1], l[1]),
            .n = (gint32) be (v[2], 4),
            .big = (gint64) be (v[3], 8),
            .flag = v[4][0] != 0,
            .last_synced_at = (gint64) be (v[5], 8) + PG_EPOCH_OFFSET_US,
            .note = l[6] < 0 ? NULL : bench_arena_strndup (arena, v[6], l[6]),
          };
          g_array_append_val (rows, r);
        }
      PQfreemem (buf);
    }
  PQclear (PQgetResult (conn));
  guint64 n = rows->len;
  g_array_free (rows, TRUE);
  bench_arena_free (arena);
  return n;
}

typedef guint64 (*Figure) (gpointer a, gpointer b);

/* The median wall time of @f over the runs; *cpu (if not NULL) gets the
 * median of this process's CPU time in it, the client's share. */
static double
median_of (const BenchConfig *config,
           Figure f,
           gpointer a,
           gpointer b,
           guint64 expect,
           const char *what,
           double *cpu)
{
  g_autoptr (GArray) t = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) c = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint i = 0; i < config->runs; i++)
    {
      double c0 = bench_cpu_now ();
      double t0 = bench_now ();
      guint64 n = f (a, b);
      double dt = bench_now () - t0;
      double dc = bench_cpu_now () - c0;
      g_array_append_val (t, dt);
      g_array_append_val (c, dc);
      if (expect != G_MAXUINT64 && n != expect)
        bench_fail ("%s: %" G_GUINT64_FORMAT " rows, expected %" G_GUINT64_FORMAT, what, n, expect);
    }
  if (cpu != NULL)
    *cpu = bench_median (c);
  return bench_median (t);
}

static guint64
fig_carb_full (gpointer store, gpointer model)
{
  return carb_full (store, model);
}

static guint64
fig_raw_full (gpointer conn, gpointer table)
{
  return raw_full (conn, table);
}

static guint64
fig_copy_full (gpointer conn, gpointer table)
{
  return copy_full (conn, table);
}

static guint64
fig_copy_decoded (gpointer conn, gpointer table)
{
  return copy_decoded (conn, table);
}

static void
full_sync (const BenchConfig *config, const char *uri, CarbStore *store, PGconn *conn)
{
  CarbModel model = bench_model;
  guint64 n = config->full_rows;
  /* Interleaved, one run of each in turn, so that load from elsewhere on
   * the machine falls on all four alike. */
  BenchConfig once = *config;
  once.runs = 1;
  g_autoptr (GArray) carb_t = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) raw_t = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) copy_t = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) carb_c = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) raw_c = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) copy_c = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) dec_t = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) dec_c = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint i = 0; i < config->runs; i++)
    {
      double t, c;
      t = median_of (&once, fig_carb_full, store, &model, n, "carb full", &c);
      g_array_append_val (carb_t, t);
      g_array_append_val (carb_c, c);
      t = median_of (&once, fig_raw_full, conn, (gpointer) "bench_full", n, "raw full", &c);
      g_array_append_val (raw_t, t);
      g_array_append_val (raw_c, c);
      t = median_of (&once, fig_copy_full, conn, (gpointer) "bench_full", n, "copy full", &c);
      g_array_append_val (copy_t, t);
      g_array_append_val (copy_c, c);
      t = median_of (&once, fig_copy_decoded, conn, (gpointer) "bench_full", n, "copy decoded", &c);
      g_array_append_val (dec_t, t);
      g_array_append_val (dec_c, c);
    }
  double carb = bench_median (carb_t), raw = bench_median (raw_t), copy = bench_median (copy_t);
  double carb_cpu = bench_median (carb_c), raw_cpu = bench_median (raw_c), copy_cpu = bench_median (copy_c);
  g_autofree char *label = g_strdup_printf ("PG full sync, %" G_GUINT64_FORMAT " rows (buffered)", n);
  bench_report (label, carb, "s", "raw libpq PQexecParams binary", raw);
  bench_report (label, carb, "s", "COPY binary, read and dropped", copy);
  bench_report ("  its client CPU (user+sys)", carb_cpu, "s", "raw libpq's client CPU", raw_cpu);
  bench_report ("  its client CPU (user+sys)", carb_cpu, "s", "COPY's client CPU", copy_cpu);
  bench_report (label, carb, "s", "COPY binary, decoded into structs", bench_median (dec_t));
  bench_report ("  its client CPU (user+sys)", carb_cpu, "s", "COPY decoded: client CPU",
                bench_median (dec_c));

  /* Each form in a fresh child process, so that its peak RSS is its own. */
  double t_s = 0, rss_s = 0, t_b = 0, rss_b = 0;
  if (bench_child_median ("stream", uri, config->runs, n, &t_s, &rss_s)
      && bench_child_median ("buffered", uri, config->runs, n, &t_b, &rss_b))
    {
      bench_report ("PG full sync, streaming: wall time (child)", t_s, "s", "buffered (child)", t_b);
      bench_report ("PG full sync, streaming: peak RSS (VmHWM)", rss_s, "MiB", "buffered", rss_b);
    }
}

/* 100 rows spread over the table change; the timed sync fetches them. */
static double
incremental (const BenchConfig *config, CarbStore *store, PGconn *conn, const char *table, guint size)
{
  CarbModel model = bench_model;
  model.table = table;
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncResult) first = carb_store_download_sync (store, &model, NULL, 0, NULL, &error);
  if (first == NULL)
    g_error ("bench: %s", error->message);
  g_autoptr (CarbSyncPoint) point = carb_sync_point_copy (carb_sync_result_get_synced_until (first));
  g_clear_pointer (&first, carb_sync_result_unref);
  g_autoptr (GArray) t = g_array_new (FALSE, FALSE, sizeof (double));
  /* A sync of 100 rows takes a millisecond or two: more runs than the
   * full syncs, or one scheduling hiccup on a shared machine decides the
   * median. */
  guint runs = config->quick ? config->runs : MAX (config->runs, 25);

  for (guint run = 0; run < runs; run++)
    {
      /* Through the primary key: a setup that scanned the whole table
       * would evict caches in proportion to its size just before the timed
       * sync and blur the figure being measured. */
      g_autofree char *sql = g_strdup_printf ("UPDATE %s SET n = n + 1 WHERE id IN"
                                              " (SELECT generate_series (%u, %u, %u))",
                                              table, run + 1, size, size / config->incr_changes);
      exec_ok (conn, sql);
      double t0 = bench_now ();
      g_autoptr (CarbSyncResult) r = carb_store_download_sync (store, &model, point, 0, NULL, &error);
      double dt = bench_now () - t0;
      if (r == NULL)
        g_error ("bench: %s", error->message);
      if (carb_sync_result_get_n_rows (r) != config->incr_changes)
        bench_fail ("incremental on %s: %" G_GSIZE_FORMAT " rows", table, carb_sync_result_get_n_rows (r));
      g_array_append_val (t, dt);
      g_clear_pointer (&point, carb_sync_point_free);
      point = carb_sync_point_copy (carb_sync_result_get_synced_until (r));
    }
  return bench_median (t);
}

static guint64
fig_empty_sync (gpointer store, gpointer point)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncResult) r = carb_store_download_sync (store, &bench_model, point, 0, NULL, &error);
  if (r == NULL)
    g_error ("bench: %s", error->message);
  return carb_sync_result_get_n_rows (r);
}

static guint64
fig_select_1 (gpointer conn, gpointer unused)
{
  PGresult *res = PQexec (conn, "SELECT 1");
  PQclear (res);
  return 0;
}

static void
clock_cost (const BenchConfig *config, CarbStore *store, PGconn *conn)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncPoint) now = carb_sync_point_new (g_get_real_time ());
  BenchConfig many = *config;
  many.runs = config->quick ? 3 : 101;
  double empty = median_of (&many, fig_empty_sync, store, now, 0, "empty sync", NULL);
  double one = median_of (&many, fig_select_1, conn, NULL, G_MAXUINT64, "select 1", NULL);
  bench_report ("PG sync returning 0 rows (clock source + query)", empty * 1e3, "ms",
                "bare SELECT 1 round trip", one * 1e3);
}

void
bench_postgres (const BenchConfig *config, const char *uri)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  if (store == NULL)
    g_error ("bench: %s", error->message);
  PGconn *conn = bench_pg_connect (uri);

  bench_pg_make_table (conn, store, "bench_full", config->full_rows);
  full_sync (config, uri, store, conn);

  double base = 0;
  for (guint i = 0; i < G_N_ELEMENTS (config->incr_sizes); i++)
    {
      guint size = config->incr_sizes[i];
      g_autofree char *table = g_strdup_printf ("bench_incr_%u", size);
      bench_pg_make_table (conn, store, table, size);
      double t = incremental (config, store, conn, table, size);
      if (i == 0)
        base = t;
      g_autofree char *label
          = g_strdup_printf ("PG incremental, %u changed of %u rows", config->incr_changes, size);
      g_autofree char *base_label = g_strdup_printf ("itself on %u rows", config->incr_sizes[0]);
      bench_report (label, t * 1e3, "ms", base_label, base * 1e3);
      g_autofree char *drop = g_strdup_printf ("DROP TABLE %s", table);
      exec_ok (conn, drop);
    }
  clock_cost (config, store, conn);
  exec_ok (conn, "DROP TABLE bench_full");
  PQfinish (conn);
}
