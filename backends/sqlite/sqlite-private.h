/* carburetor-sqlite — declarations shared by the plugin's files.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <carburetor/sys/backend.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/* How long a statement waits for another connection's lock. */
#define CARB_SQLITE_BUSY_TIMEOUT_MS 10000

/* The database clock as stored in timestamp columns: INTEGER microseconds
 * since the Unix epoch. SQLite 3.40's 'now' has millisecond resolution and
 * is constant within one sqlite3_step(), so stamps are multiples of 1000
 * and rows written by one statement share a stamp. */
#define CARB_SQLITE_NOW_US                                                                                   \
  "(CAST(strftime('%s','now') AS INTEGER) * 1000000"                                                         \
  " + CAST(substr(strftime('%f','now'), 4) AS INTEGER) * 1000)"

/* One tick of that clock, in microseconds. */
#define CARB_SQLITE_TICK_US 1000

struct _CarbBackend
{
  sqlite3 *db;
  char *path; /* for messages */
};

gboolean carb_sqlite_fail (CarbBackend *backend, GError **error, CarbError code, const char *what);
gboolean carb_sqlite_exec (CarbBackend *backend, const char *sql, GError **error);

/* sqlite-execute.c */
extern const CarbSqlSyntax carb_sqlite_syntax;
gboolean carb_sqlite_in_transaction (CarbBackend *backend);
gboolean carb_sqlite_execute_params (CarbBackend *backend,
                                     const char *sql,
                                     const CarbValue *params,
                                     guint n_params,
                                     guint64 *n_changed,
                                     GError **error);
const CarbSqlDialect *carb_sqlite_dialect (void);

gboolean carb_sqlite_describe_table (
    CarbBackend *backend, const char *schema, const char *table, CarbTableInfo *info, GError **error);
gboolean carb_sqlite_prepare_table (CarbBackend *backend, const CarbQuery *query, GError **error);
gboolean carb_sqlite_download (
    CarbBackend *backend, const CarbQuery *query, CarbSink *sink, gint64 *synced_until, GError **error);

G_END_DECLS
