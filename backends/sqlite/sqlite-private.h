/* carburetor-sqlite — declarations shared by the plugin's files.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <carburetor/sys/backend.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* The stress checker's test build of this plugin (tests/meson.build, never
 * installed) answers with the known-broken clock source W = now, to prove
 * that the checker catches lost rows. It claims the scheme naive+<scheme>. */
#ifdef CARB_NAIVE_CLOCK_FOR_TESTS
#define CARB_NAIVE_CLOCK 1
#else
#define CARB_NAIVE_CLOCK 0
#endif
#define CARB_NAIVE_SCHEME_PREFIX "naive+"

/* How long a statement waits for another connection's lock, unless the
 * store's busy-timeout says otherwise. */
#define CARB_SQLITE_BUSY_TIMEOUT_MS 5000

/* The database clock as stored in timestamp columns: INTEGER microseconds
 * since the Unix epoch. SQLite 3.40's 'now' has millisecond resolution and
 * is constant within one sqlite3_step(); the triggers of sqlite-clock.c
 * make every stamp unique and increasing anyway (max(now, mark + 1)). */
#define CARB_SQLITE_NOW_US                                                                                   \
  "(CAST(strftime('%s','now') AS INTEGER) * 1000000"                                                         \
  " + CAST(substr(strftime('%f','now'), 4) AS INTEGER) * 1000)"

/* What prepare_table installs for one table (sqlite-clock.c). */
typedef struct _CarbSqliteStamping CarbSqliteStamping;

struct _CarbBackend
{
  sqlite3 *db;
  char *path; /* for messages */
  /* The busy wait (sqlite-backend.c): its limit, when the current wait
   * began, and the cancellable of the running download, if any. */
  guint busy_timeout_ms;
  gint64 busy_since_us;
  GCancellable *cancellable;
  GHashTable *stampings; /* "schema\x1ftable\x1fts\x1fid" → CarbSqliteStamping */
  int last_failure;      /* the primary result code carb_sqlite_fail() saw last */
};

gboolean carb_sqlite_fail (CarbBackend *backend, GError **error, CarbError code, const char *what);
gboolean carb_sqlite_exec (CarbBackend *backend, const char *sql, GError **error);

/* sqlite-uri.c */
char *carb_sqlite_parse_uri (const char *uri, int *flags, GError **error);

/* sqlite-execute.c */
extern const CarbSqlSyntax carb_sqlite_syntax;
gboolean carb_sqlite_in_transaction (CarbBackend *backend);
gboolean carb_sqlite_execute_params (CarbBackend *backend,
                                     const char *sql,
                                     const CarbValue *params,
                                     guint n_params,
                                     guint64 *n_changed,
                                     GError **error);
char *carb_sqlite_quote (const char *name);
/* @sql with each placeholder $k outside quotes and comments written ?k,
 * the form carb_sqlite_bind_all() binds by number. */
char *carb_sqlite_numbered_sql (const char *sql);
gboolean carb_sqlite_bind_all (
    CarbBackend *backend, sqlite3_stmt *stmt, const CarbValue *params, guint n_params, GError **error);
/* Waits for other connections' locks (up to the busy timeout, until a
 * cancel) or, with @wait FALSE, fails at once with SQLITE_BUSY. */
void carb_sqlite_set_busy_wait (CarbBackend *backend, gboolean wait);

gboolean carb_sqlite_describe_table (
    CarbBackend *backend, const char *schema, const char *table, CarbTableInfo *info, GError **error);

/* sqlite-clock.c */
CarbSqliteStamping *carb_sqlite_stamping_new (const CarbQuery *query);
void carb_sqlite_stamping_free (CarbSqliteStamping *stamping);
gboolean carb_sqlite_prepare_table (CarbBackend *backend, const CarbQuery *query, GError **error);
gboolean carb_sqlite_check_prepared (CarbBackend *backend, const CarbQuery *query, GError **error);
gboolean carb_sqlite_check_objects (CarbBackend *backend, const CarbQuery *query, GError **error);
/* Inside the sync's read transaction: checks the preparation (again only
 * when the schema changed) and reads the sync point W, the mark. */
gboolean carb_sqlite_clock_read (CarbBackend *backend, const CarbQuery *query, gint64 *w, GError **error);

void carb_sqlite_sink_column (CarbSink *sink, sqlite3_stmt *stmt, const CarbColumn *col, guint i);
gboolean carb_sqlite_download (
    CarbBackend *backend, const CarbQuery *query, CarbSink *sink, gint64 *synced_until, GError **error);

/* sqlite-query.c */
gboolean carb_sqlite_query_rows (CarbBackend *backend,
                                 const CarbQuery *query,
                                 const char *sql,
                                 const CarbValue *params,
                                 guint n_params,
                                 CarbSink *sink,
                                 GError **error);

/* sqlite-probe.c */
gboolean carb_sqlite_probe (
    CarbBackend *backend, const CarbQuery *const *queries, guint n, gboolean *changed, GError **error);

G_END_DECLS
