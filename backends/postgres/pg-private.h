/* carburetor-postgres — declarations shared by the plugin's files.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <carburetor/sys/backend.h>
#include <libpq-fe.h>

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

/* PostgreSQL counts time from 2000-01-01; Carburetor from 1970-01-01. */
#define CARB_PG_EPOCH_OFFSET_US   G_GINT64_CONSTANT (946684800000000)
#define CARB_PG_EPOCH_OFFSET_DAYS 10957
/* PostgreSQL's first timestamp, 4714-11-24 00:00:00 BC, from its 2000 epoch. */
#define CARB_PG_MIN_TIMESTAMP G_GINT64_CONSTANT (-211813488000000000)

/* Rows per FETCH of the sync cursor: big enough that round trips do not
 * show, small enough that a streaming sync stays in bounded memory. */
#define CARB_PG_FETCH_ROWS 8192

/* The top 16 bits of the stamping trigger's advisory lock keys ("CB"); the
 * 48 below hold the time the trigger read the clock, in ms since 1970. */
#define CARB_PG_LOCK_TAG G_GINT64_CONSTANT (0x4342)
/* The same in decimal, and the mask of the time bits, for SQL text. */
#define CARB_PG_LOCK_TAG_INT   17218
#define CARB_PG_LOCK_TIME_MASK 281474976710655

/* The SQLSTATE our own PL/pgSQL raises when no safe sync point can be
 * handed out (pg-standby.c): reported as CARB_ERROR_CLOCK_UNSAFE. */
#define CARB_PG_SQLSTATE_CLOCK_UNSAFE "CB001"

typedef struct _CarbPgStandby CarbPgStandby;

struct _CarbBackend
{
  PGconn *conn;
  char *display;          /* the URI with any password masked, for messages */
  GHashTable *prepared;   /* names of the statements prepared on conn (pg-pipeline.c) */
  GHashTable *probes;     /* the probes' SQL and triggers, by group of tables (pg-probe.c) */
  GHashTable *trees;      /* tables found with children, which the probe checks in full (pg-probe.c) */
  gint64 last_clock;      /* the server's clock at this store's previous sync */
  char sqlstate[6];       /* of the last statement carb_pg_check() saw fail */
  CarbPgStandby *standby; /* on a standby given its primary, else NULL (pg-standby.c) */
};

/* The check's parameters per table: the table, the stamping trigger and
 * its body, the timestamp column, the versioning trigger and its body,
 * the move trigger and its body, the delete guard and its body. */
#define CARB_PG_CHECK_PARAMS 10

/* The stamping trigger of one table (pg-stamp.c). */
typedef struct
{
  char *table;   /* quoted, qualified as the model says */
  char *display; /* unquoted, for messages */
  char *trigger; /* the trigger's name, also its function's */
  char *body;    /* the function's source, as prepare_table installs it */
  const char *ts;
  char *quoted_ts;
  /* The versioning trigger (two-way sync), when the model has version
   * columns; else both NULL, and the check leaves it out. */
  char *version_trigger;
  char *version_body;
  /* The move trigger, logging the moves of the column a sync group's row
   * filter compares (CARB_COLUMN_FLAGS_FILTER); else both NULL. */
  char *move_trigger;
  char *move_body;
  char *moves_table; /* quoted, qualified as the model says; NULL without */
  /* The delete guard, refusing to delete a row that is not a tombstone,
   * for a model with an is-deleted column; else both NULL. */
  char *delete_trigger;
  char *delete_body;
  const char *params[CARB_PG_CHECK_PARAMS]; /* of carb_pg_stamp_check_sql and carb_pg_clock_sql */
} CarbPgStamp;

/* One statement of carb_pg_pipeline(): @sql is the text; @prepared, if
 * set, names it (carb_pg_statement_name()) and it runs as a named
 * statement, prepared on first use; the parameters and the result format
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
char *carb_pg_statement_name (const char *prefix, const char *sql);
gboolean carb_pg_ensure_connected (CarbBackend *backend, GError **error);
gboolean carb_pg_reset_session (CarbBackend *backend, GError **error);
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
char *carb_pg_quote (CarbBackend *backend, const char *name, GError **error);
char *carb_pg_mask_uri (const char *uri);
char *carb_pg_redact (const char *uri, const char *message);

/* pg-execute.c */
extern const CarbSqlSyntax carb_pg_syntax;
gboolean carb_pg_in_transaction (CarbBackend *backend);
gboolean carb_pg_execute_params (CarbBackend *backend,
                                 const char *sql,
                                 const CarbValue *params,
                                 guint n_params,
                                 guint64 *n_changed,
                                 GError **error);
/* Parameters in libpq's form (pg-execute.c). */
typedef struct
{
  gpointer wire;    /* the encoded values, which @values point into */
  GPtrArray *texts; /* text values, nul-terminated copies */
  Oid *types;
  const char **values;
  int *lengths;
  int *formats;
} CarbPgParams;

gboolean carb_pg_params_encode (
    CarbBackend *backend, const CarbValue *params, guint n_params, CarbPgParams *out, GError **error);
void carb_pg_params_clear (CarbPgParams *params);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CarbPgParams, carb_pg_params_clear)

PGresult *carb_pg_exec_values (CarbBackend *backend,
                               const char *sql,
                               const CarbValue *params,
                               guint n_params,
                               int result_format,
                               GError **error);

/* pg-query.c, and the row decoding it shares with pg-download.c */
gboolean carb_pg_sink_batch (PGresult *res, const CarbModel *model, CarbSink *sink, GError **error);
gboolean carb_pg_begin_query_rows (CarbBackend *backend,
                                   const char *begin,
                                   const CarbQuery *query,
                                   const char *sql,
                                   const CarbValue *params,
                                   guint n_params,
                                   CarbSink *sink,
                                   GError **error);
gboolean carb_pg_query_rows (CarbBackend *backend,
                             const CarbQuery *query,
                             const char *sql,
                             const CarbValue *params,
                             guint n_params,
                             CarbSink *sink,
                             GError **error);

gint64 carb_pg_to_pg_time (gint64 unix_us);
gboolean carb_pg_from_pg_time (gint64 pg_us, gint64 *unix_us);

gboolean carb_pg_describe_table (
    CarbBackend *backend, const char *schema, const char *table, CarbTableInfo *info, GError **error);
gboolean carb_pg_ensure_idle (CarbBackend *backend, GError **error);
gboolean carb_pg_ensure_not_failed (CarbBackend *backend, GError **error);

extern const char carb_pg_stamp_check_sql[];
char *carb_pg_stamp_check_sql_at (guint first);
char *carb_pg_stamp_quick_check_sql_at (guint first, const CarbModel *model);
gboolean carb_pg_stamp_versioned (const CarbModel *model);
gboolean
carb_pg_stamp_settle_quick (CarbBackend *backend, const CarbPgStamp *stamp, const char *kind, GError **error);
gboolean
carb_pg_stamp_init (CarbBackend *backend, const CarbQuery *query, CarbPgStamp *stamp, GError **error);
void carb_pg_stamp_clear (CarbPgStamp *stamp);
gboolean carb_pg_stamp_verdict (
    CarbBackend *backend, const CarbPgStamp *stamp, const char *kind, const char *what, GError **error);
gboolean carb_pg_check_prepared (CarbBackend *backend, const CarbQuery *query, GError **error);
/* The key of @model's table in backend->trees (pg-probe.c). */
char *carb_pg_tree_key (const CarbModel *model);
void carb_pg_explain_failure (CarbBackend *backend, const CarbQuery *const *queries, guint n, GError **error);
gboolean carb_pg_prepare_table (CarbBackend *backend, const CarbQuery *query, GError **error);

/* pg-clock.c: the clock source's statements, run inside the sync's
 * transaction (pg-download.c), and their answers. */
void carb_pg_clock_statements (const CarbPgStamp *stamp, const CarbQuery *query, CarbPgStatement *stmts);
gboolean carb_pg_clock_steady (CarbBackend *backend, gint64 c, GError **error);
gboolean carb_pg_clock_read (CarbBackend *backend, PGresult *res, int col, gint64 *c, GError **error);
gboolean carb_pg_clock_w (CarbBackend *backend,
                          PGresult *clock,
                          PGresult *locks,
                          const CarbPgStamp *stamp,
                          gint64 *w,
                          GError **error);
extern const char carb_pg_w_expression[];
gboolean
carb_pg_clock_at (CarbBackend *backend, const CarbQuery *query, gint64 *w, guint64 *wal_lsn, GError **error);

/* pg-probe.c: whether any row is newer than a point, for a group of
 * tables, in one statement. */
void carb_pg_probe_shapes_free (gpointer data);
gboolean carb_pg_probe (
    CarbBackend *backend, const CarbQuery *const *queries, guint n, gboolean *changed, GError **error);
gboolean carb_pg_download (
    CarbBackend *backend, const CarbQuery *query, CarbSink *sink, gint64 *synced_until, GError **error);

/* pg-backend.c */
CarbBackend *carb_pg_connect (const char *uri, GError **error);
void carb_pg_close (CarbBackend *backend);

/* pg-standby.c */
extern const char carb_pg_standby_lsn_sql[];
CarbBackend *carb_pg_open (const char *uri, GError **error);
void carb_pg_standby_free (CarbPgStandby *standby);
gboolean carb_pg_standby_clock (CarbBackend *backend, const CarbQuery *query, gint64 *w, GError **error);
char *carb_pg_standby_wait_sql (CarbBackend *backend);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CarbPgStamp, carb_pg_stamp_clear)

G_END_DECLS
