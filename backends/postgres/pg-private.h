/* carburetor-postgres — declarations shared by the plugin's files.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <carburetor/sys/backend.h>
#include <libpq-fe.h>

G_BEGIN_DECLS

/* PostgreSQL counts time from 2000-01-01; Carburetor from 1970-01-01. */
#define CARB_PG_EPOCH_OFFSET_US   G_GINT64_CONSTANT (946684800000000)
#define CARB_PG_EPOCH_OFFSET_DAYS 10957
/* PostgreSQL's first timestamp, 4714-11-24 00:00:00 BC, from its 2000 epoch. */
#define CARB_PG_MIN_TIMESTAMP G_GINT64_CONSTANT (-211813488000000000)

/* Rows per FETCH of the sync cursor: big enough that round trips do not
 * show, small enough that a streaming sync stays in bounded memory. */
#define CARB_PG_FETCH_ROWS 8192

struct _CarbBackend
{
  PGconn *conn;
  char *display; /* the URI with any password masked, for messages */
  CarbSqlDialect dialect;
  gboolean clock_prepared; /* the clock source's statements exist on conn */
};

/* One statement of carb_pg_pipeline(): @prepared names a prepared
 * statement, else @sql is the text; the parameters and the result format
 * as PQexecParams() takes them. */
typedef struct
{
  const char *sql;
  const char *prepared;
  int n_params;
  const Oid *types;
  const char *const *values;
  const int *lengths;
  const int *formats;
  int result_format;
} CarbPgStatement;

gboolean carb_pg_fail (CarbBackend *backend, GError **error, const char *what);
PGresult *carb_pg_check (CarbBackend *backend, PGresult *res, GError **error);
gboolean carb_pg_pipeline (
    CarbBackend *backend, const CarbPgStatement *statements, guint n, PGresult **results, GError **error);
gboolean carb_pg_ensure_connected (CarbBackend *backend, GError **error);
PGresult *carb_pg_exec (CarbBackend *backend,
                        const char *sql,
                        int n_params,
                        const Oid *types,
                        const char *const *values,
                        const int *lengths,
                        const int *formats,
                        int result_format,
                        GError **error);
PGresult *carb_pg_get_result (CarbBackend *backend, GError **error);
gboolean carb_pg_exec_command (CarbBackend *backend, const char *sql, GError **error);
const CarbSqlDialect *carb_pg_dialect (CarbBackend *backend);
char *carb_pg_quote (CarbBackend *backend, const char *name, GError **error);
char *carb_pg_mask_uri (const char *uri);
char *carb_pg_redact (const char *uri, const char *message);

gint64 carb_pg_to_pg_time (gint64 unix_us);
gboolean carb_pg_from_pg_time (gint64 pg_us, gint64 *unix_us);

gboolean carb_pg_describe_table (
    CarbBackend *backend, const char *schema, const char *table, CarbTableInfo *info, GError **error);
gboolean carb_pg_prepare_table (CarbBackend *backend, const CarbQuery *query, GError **error);
gboolean carb_pg_clock (CarbBackend *backend, const CarbQuery *query, gint64 *w, GError **error);
gboolean carb_pg_download (
    CarbBackend *backend, const CarbQuery *query, CarbSink *sink, gint64 *synced_until, GError **error);

G_END_DECLS
