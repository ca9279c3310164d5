/* carburetor-bench — shared declarations.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <carburetor/carburetor.h>
#include <libpq-fe.h>

G_BEGIN_DECLS

/* The row every figure decodes: ~6 columns of the usual kinds. */
typedef struct
{
  gint64 id;
  char *title;
  gint32 n;
  gint64 big;
  gboolean flag;
  gint64 last_synced_at;
  char *note; /* nullable */
} BenchRow;

extern const CarbModel bench_model;

typedef struct
{
  guint runs;      /* medians over this many runs */
  guint full_rows; /* rows of the full-sync tables */
  guint incr_sizes[3];
  guint incr_changes;
  gboolean quick;
  guint levels[8]; /* connection counts of the concurrency figures */
  guint n_levels;  /* 0: no concurrency figures */
  double level_seconds;
} BenchConfig;

/* A table of figures: name, median seconds, baseline name, its median. */
void bench_report_header (void);
void
bench_report (const char *figure, double value, const char *unit, const char *baseline, double base_value);
void bench_note (const char *format, ...) G_GNUC_PRINTF (1, 2);
int bench_failures (void);
void bench_fail (const char *format, ...) G_GNUC_PRINTF (1, 2);

double bench_now (void);
double bench_median (GArray *seconds);

/* A bump allocator for the baselines' strings, as fast as hand-written
 * code would make it (and as the library's own arena). */
typedef struct BenchArena BenchArena;
BenchArena *bench_arena_new (void);
char *bench_arena_strndup (BenchArena *arena, const char *s, gsize len);
void bench_arena_free (BenchArena *arena);

/* Runs this program again as a child to measure one form's peak RSS.
 * Returns the child's "rows=… seconds=… maxrss_kib=…" values. */
gboolean bench_child (const char *form, const char *uri, guint64 *rows, double *seconds, guint64 *maxrss_kib);
gboolean
bench_child_run (const char *form, const char *uri, guint64 expect, GArray *seconds, GArray *rss_mib);
gboolean bench_child_median (
    const char *form, const char *uri, guint runs, guint64 expect, double *seconds, double *rss_mib);
double bench_cpu_now (void);
int bench_child_main (const char *form, const char *uri);

void bench_postgres (const BenchConfig *config, const char *uri);
void bench_concurrency (const BenchConfig *config, const char *uri);
/* A raw connection (g_error if it fails), and a bench table of @rows rows
 * in bench_model's shape, prepared by @store and analyzed. */
PGconn *bench_pg_connect (const char *uri);
void bench_pg_make_table (PGconn *conn, CarbStore *store, const char *table, guint rows);
void bench_sqlite (const BenchConfig *config, const char *dir);
void bench_sqlite_write (const BenchConfig *config, const char *dir);
/* Two-way sync: first fill, upload, idle sync (bench-twoway.c). */
void bench_twoway (const BenchConfig *config, const char *uri);
int bench_twoway_child (const char *form, const char *uri, guint64 *rows, double *seconds, GError **error);

G_END_DECLS
