/* Carburetor — THE plugin ABI. The only header a backend plugin includes.
 * See docs/PLUGINS.md for the contract in prose.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#define CARBURETOR_INSIDE
#include <carburetor/error.h>
#include <carburetor/model.h>
#include <carburetor/version.h>
#undef CARBURETOR_INSIDE

#include <gio/gio.h>

G_BEGIN_DECLS

/* CARB_BACKEND_ABI_VERSION is in <carburetor/version.h>, configured by meson. */

/**
 * CARB_BACKEND_ENTRY_SYMBOL:
 *
 * The one symbol a plugin exports: a #CarbBackendEntryFunc.
 *
 * Since: 1.0
 */
#define CARB_BACKEND_ENTRY_SYMBOL "carburetor_backend_entry"

/**
 * CARB_BACKEND_EXPORT:
 *
 * Marks the entry function for export when the plugin is built with
 * `-fvisibility=hidden` (recommended: export nothing else).
 *
 * Since: 1.0
 */
#define CARB_BACKEND_EXPORT __attribute__ ((visibility ("default")))

/**
 * CarbBackend:
 *
 * One open connection of a plugin. Each plugin defines `struct _CarbBackend`
 * as it likes; the core only passes the pointer back.
 *
 * Since: 1.0
 */
typedef struct _CarbBackend CarbBackend;

/**
 * CarbSink:
 *
 * The core's row decoder. A backend's `download` hands it each value of each
 * row with the carb_sink_set_*() calls and closes each row with
 * carb_sink_end_row(); the core writes the values into the model's struct.
 *
 * Since: 1.0
 */
typedef struct _CarbSink CarbSink;

/**
 * CarbTableInfo:
 *
 * The live table as a backend describes it, filled with
 * carb_table_info_add_column(); the core checks the model against it.
 *
 * Since: 1.0
 */
typedef struct _CarbTableInfo CarbTableInfo;

/**
 * CARB_COLUMN_TYPE_MASK_OF:
 * @type: a #CarbColumnType.
 *
 * The bit of @type in the type mask of carb_table_info_add_column().
 *
 * Since: 1.0
 */
#define CARB_COLUMN_TYPE_MASK_OF(type) (1u << (type))

/**
 * CarbQueryFlags:
 * @CARB_QUERY_NONE: no flag.
 *
 * Flags of a #CarbQuery; none is defined yet (the member is there so that
 * flags can be added without changing the struct). Test-only switches are
 * never part of the ABI: the stress checker's broken clock is a separate
 * test build of each plugin.
 *
 * Since: 1.0
 */
typedef enum
{
  CARB_QUERY_NONE = 0,
} CarbQueryFlags;

/**
 * CarbQuery:
 * @model: the validated model; column i of every row handed to the sink is
 *   `model->columns[i]`.
 * @id_column: index of the id column in @model.
 * @ts_column: index of the timestamp column in @model.
 * @deleted_column: index of the is-deleted column, or -1.
 * @lower: exclusive lower bound on the timestamp (G_MININT64 for none).
 * @has_after_id: %TRUE for a page cursor: rows stamped exactly @lower whose
 *   id is greater than the cursor id are due too, i.e. the condition is
 *   `(ts, id) > (lower, after_id)`.
 * @after_id_int: the cursor id for integer id columns.
 * @after_id_text: (nullable): the cursor id for text and uuid id columns.
 * @include_deleted: %FALSE to leave tombstones out (first sync).
 * @limit: 0 for all rows; else at most this many rows, ordered by
 *   `(ts, id)`.
 * @flags: #CarbQueryFlags.
 * @cancellable: (nullable): checked by the core between rows; backends may
 *   also use it to cancel a running statement.
 *
 * One incremental query, fully resolved by the core. Backends read it and
 * never keep it past the call.
 *
 * Since: 1.0
 */
typedef struct
{
  const CarbModel *model;
  guint id_column;
  guint ts_column;
  gint deleted_column;
  gint64 lower;
  gboolean has_after_id;
  gint64 after_id_int;
  const char *after_id_text;
  gboolean include_deleted;
  guint limit;
  guint flags;
  GCancellable *cancellable;
} CarbQuery;

/**
 * CarbValue:
 * @type: the #CarbColumnType the value is of; it tells a backend how to
 *   bind it.
 * @is_null: %TRUE for SQL NULL (the other members are then unused).
 * @v_int: INT16, INT32, INT64, BOOL (0 or 1), TIMESTAMP (µs since the Unix
 *   epoch, %G_MININT64 / %G_MAXINT64 for ∓infinity) and DATE (days since
 *   1970-01-01, %G_MININT32 / %G_MAXINT32 for ∓infinity).
 * @v_double: FLOAT and DOUBLE.
 * @v_data: (array length=v_len): TEXT, UUID, JSON and NUMERIC (UTF-8,
 *   not nul-terminated) and BYTES.
 * @v_len: the length of @v_data in bytes.
 *
 * One statement parameter, as the core hands it to @execute_params.
 */
typedef struct
{
  guint32 type;
  gboolean is_null;
  gint64 v_int;
  gdouble v_double;
  const char *v_data;
  gsize v_len;
} CarbValue;

/**
 * CarbSqlSyntax:
 * @struct_size: `sizeof (CarbSqlSyntax)` the plugin was built with; members
 *   are only ever appended.
 * @max_identifier_bytes: the longest identifier the database keeps whole
 *   (PostgreSQL: 63), or 0 for no limit; the model check matches column
 *   names the database cut to it.
 * @column_types: (array length=n_column_types): the DDL type of each
 *   #CarbColumnType, indexed by it (entry 0, INVALID, is %NULL).
 * @n_column_types: the number of entries of @column_types.
 * @stamp_default: the DDL default of a timestamp column, so that an
 *   insert that leaves it out passes NOT NULL before the trigger stamps it.
 * @false_literal: the DDL default of an is-deleted column.
 * @begin_write: the statement that opens a write transaction (SQLite:
 *   `BEGIN IMMEDIATE`, so the write lock is taken at once).
 * @select_casts: (array length=n_select_casts) (nullable): what follows a
 *   column of each #CarbColumnType in the incremental SELECT (PostgreSQL:
 *   `::text` for NUMERIC, whose binary form is base-10000 digits), %NULL
 *   entries for none.
 * @n_select_casts: the number of entries of @select_casts.
 * @full_scan_hint: (nullable): written after the table's name when a sync
 *   reads the whole table (a first sync without a row limit), where an
 *   index on the stamp would only slow the read (SQLite: ` NOT INDEXED`;
 *   PostgreSQL's planner needs no hint).
 * @version_type: (nullable): appended in 1.0 (read when @struct_size
 *   covers it): the DDL type of a version column
 *   (%CARB_COLUMN_ROLE_VERSION), whose text order must be the byte order of
 *   its ASCII digits (PostgreSQL: `text COLLATE "C"`); %NULL for the TEXT
 *   entry of @column_types.
 * @lock_rows: (nullable): appended in ABI 1 (read when @struct_size covers
 *   it): written after a SELECT that reads rows a write transaction is
 *   about to change, so that concurrent writers wait for each other
 *   (PostgreSQL: ` FOR UPDATE`); %NULL where the write transaction already
 *   excludes every other writer (SQLite's `BEGIN IMMEDIATE`).
 * @constraints_immediate: (nullable): appended in ABI 1 (read when
 *   @struct_size covers it): a statement that has the write transaction
 *   check its deferred constraints at the end of each statement rather
 *   than at COMMIT (PostgreSQL: `SET CONSTRAINTS ALL IMMEDIATE`), so that
 *   a two-way apply's second try finds the row a deferred constraint
 *   refuses; %NULL for none.
 *
 * What the core needs to know of a backend's SQL to build every statement
 * it sends (the incremental query, writes, DDL): data only, no callback. Identifiers are quoted with double quotes on every backend
 * (a `"` inside is doubled; a NUL is refused).
 */
typedef struct
{
  guint32 struct_size;
  guint32 max_identifier_bytes;
  const char *const *column_types;
  guint32 n_column_types;
  const char *stamp_default;
  const char *false_literal;
  const char *begin_write;
  const char *const *select_casts;
  guint32 n_select_casts;
  const char *full_scan_hint;
  const char *version_type;
  const char *lock_rows;
  const char *constraints_immediate;
} CarbSqlSyntax;

/**
 * CarbBackendVTable:
 * @abi_version: %CARB_BACKEND_ABI_VERSION the plugin was built with.
 * @struct_size: `sizeof (CarbBackendVTable)` the plugin was built with.
 * @name: the backend's short name ("sqlite", "postgres").
 * @open: opens a connection for @uri (the whole URI, scheme included).
 *   Returns (transfer full) a backend or %NULL with @error set. May be
 *   called from any thread.
 * @close: closes and frees a backend from @open. Never %NULL.
 * @describe_table: describes the live table @schema.@table (@schema %NULL
 *   for the default) into @info; fails with %CARB_ERROR_SCHEMA_MISMATCH
 *   naming the table when it does not exist.
 * @prepare_table: idempotently installs what the table needs to sync: a
 *   trigger stamping the timestamp column with the database's clock on
 *   every insert and update, and an index on `(timestamp, id)`; and, when
 *   the model has %CARB_COLUMN_ROLE_VERSION columns, a versioning trigger
 *   giving writes that bypass the library server versions
 *   (docs/PLUGINS.md, "prepare_table"; docs/TWOWAY.md). Only @model and
 *   the column indexes of @query are meaningful.
 * @download: the clock source and the incremental query. Computes the sync
 *   point W (every row stamped at or before W that will ever commit is
 *   visible to this call), then feeds the sink every row of @query stamped
 *   at or before W, and stores W in @synced_until. Stops as soon as
 *   carb_sink_end_row() returns %FALSE and returns %FALSE with its error.
 * @execute: runs @sql, one or more statements that take no parameters
 *   (schema setup, administration), for carb_store_execute().
 * @check_prepared: (nullable): appended in ABI 1; the core reads it only
 *   when @struct_size covers it. Checks that the table of @query is ready
 *   to sync: whatever the backend's clock source rests on (a stamping
 *   trigger present, enabled and current, a stamp column of full
 *   precision, …) holds. Fails with %CARB_ERROR_NOT_PREPARED naming the
 *   trigger or column and the fix; the versioning trigger too, for a
 *   model with version columns. carb_store_check_model() calls it;
 *   @download must make the same checks itself on every sync (cheaply),
 *   since the schema can change between calls. %NULL for a backend whose
 *   clock source rests on nothing a table can lose.
 * @mask_uri: (nullable): appended in ABI 1, read only when @struct_size
 *   covers it. Returns (transfer full) @uri fit to show in messages and in
 *   the store's #CarbStore:uri property: every password replaced by `***`.
 *   %NULL to let the core mask a `user:password@` userinfo only.
 * @set_busy_timeout: (nullable): appended in ABI 1, read only when
 *   @struct_size covers it. How long a statement may wait for another
 *   connection's lock before failing with %CARB_ERROR_BUSY (the store's
 *   #CarbStore:busy-timeout), in milliseconds. A wait must also end, with
 *   %G_IO_ERROR_CANCELLED, soon after the running download's
 *   #CarbQuery.cancellable is cancelled. %NULL for a backend that never
 *   waits for locks.
 *
 * @sql_syntax: (nullable): appended in ABI 1 (read when @struct_size covers
 *   it): the backend's SQL as data, from which the core builds the SQL of
 *   writes and DDL (carb_store_upsert_rows(), carb_store_create_table()).
 *   %NULL for a backend that cannot write.
 * @in_transaction: (nullable): appended in ABI 1: whether the application
 *   has a transaction open on the connection (the core's writes then join
 *   it instead of opening their own).
 * @execute_params: (nullable): appended in ABI 1: runs one statement
 *   whose placeholders are `$1` … `$n`, with @params bound in order, and
 *   stores the number of rows it inserted, updated or deleted in
 *   @n_changed. Fails with %CARB_ERROR_QUERY naming the statement.
 * @probe: (nullable): appended in ABI 1 (read when @struct_size covers
 *   it), for carb_store_poll(): sets @changed[i] to whether the table of
 *   @queries[i] has a row stamped after its point (@lower; at or after it
 *   when @has_after_id; live rows only when @include_deleted is %FALSE),
 *   for all @n tables at once, as cheaply as the backend can (PostgreSQL:
 *   one statement, one round trip). Makes the checks @download makes on
 *   every sync (the table is prepared, …) and fails as @download would.
 *   Hands out no sync point. %NULL: the core reports every table changed.
 * @query_rows: (nullable): appended in ABI 1 (read when @struct_size covers
 *   it), for two-way sync's server side (carb_store_apply_changes()): runs
 *   @sql, one SELECT the core built whose result columns are the columns
 *   of @query's model in order (placeholders `$1` … `$n`, @params bound as
 *   for @execute_params), and feeds every row to @sink exactly as
 *   @download does (the same decoding; stops when carb_sink_end_row()
 *   returns %FALSE and fails with its error). It runs inside whatever
 *   transaction is open on the connection (the core's write transaction)
 *   and neither opens nor ends one; no state may outlive the call (on
 *   PostgreSQL an unnamed statement, so it works through a pooler in
 *   transaction mode). Only @model, @cancellable and the column indexes of
 *   @query are meaningful. Fails with %CARB_ERROR_QUERY naming the
 *   statement. %NULL: the store cannot serve two-way sync.
 * @begin_query_rows: (nullable): appended in ABI 1 (read when @struct_size
 *   covers it), for carb_store_apply_changes(): runs @begin (the
 *   statement that opens the core's write transaction, #CarbSqlSyntax's
 *   @begin_write), then @sql exactly as @query_rows does, in one round
 *   trip where the backend can (PostgreSQL: a pipeline of the two). The
 *   connection is outside any transaction when it is called. On failure
 *   the transaction @begin opened may be open: the core rolls it back.
 *   Fails as @execute and @query_rows would. %NULL: the core calls
 *   @execute (@begin), then @query_rows.
 * @last_failure_refuses_data: (nullable): appended in ABI 1 (read when
 *   @struct_size covers it), for carb_store_apply_changes(): whether the
 *   statement that failed last on @backend was refused for the data it
 *   wrote (a constraint, a trigger's refusal, a value the column cannot
 *   hold), so that the same row would be refused again; %FALSE when the
 *   database or the session failed it (a privilege missing, a read-only
 *   transaction, a full disk, a lock or resource not granted), when the
 *   apply fails whole rather than rejecting the row, which the replica
 *   would drop for good. %NULL: every failed write is the row's refusal.
 *
 * The plugin's table of functions, returned by its entry function. A
 * backend object is used by one thread at a time (the core serializes the
 * calls on one store), so plugins need no locking of their own.
 *
 * Since: 1.0
 */
typedef struct
{
  guint32 abi_version;
  guint32 struct_size;
  const char *name;

  /* ABI 1 */
  CarbBackend *(*open) (const char *uri, GError **error);
  void (*close) (CarbBackend *backend);
  gboolean (*describe_table) (
      CarbBackend *backend, const char *schema, const char *table, CarbTableInfo *info, GError **error);
  gboolean (*prepare_table) (CarbBackend *backend, const CarbQuery *query, GError **error);
  gboolean (*download) (
      CarbBackend *backend, const CarbQuery *query, CarbSink *sink, gint64 *synced_until, GError **error);
  gboolean (*execute) (CarbBackend *backend, const char *sql, GError **error);
  gboolean (*check_prepared) (CarbBackend *backend, const CarbQuery *query, GError **error);
  char *(*mask_uri) (const char *uri);
  void (*set_busy_timeout) (CarbBackend *backend, guint timeout_ms);
  const CarbSqlSyntax *sql_syntax;
  gboolean (*in_transaction) (CarbBackend *backend);
  gboolean (*execute_params) (CarbBackend *backend,
                              const char *sql,
                              const CarbValue *params,
                              guint n_params,
                              guint64 *n_changed,
                              GError **error);
  gboolean (*probe) (
      CarbBackend *backend, const CarbQuery *const *queries, guint n, gboolean *changed, GError **error);
  gboolean (*query_rows) (CarbBackend *backend,
                          const CarbQuery *query,
                          const char *sql,
                          const CarbValue *params,
                          guint n_params,
                          CarbSink *sink,
                          GError **error);
  gboolean (*begin_query_rows) (CarbBackend *backend,
                                const char *begin,
                                const CarbQuery *query,
                                const char *sql,
                                const CarbValue *params,
                                guint n_params,
                                CarbSink *sink,
                                GError **error);
  gboolean (*last_failure_refuses_data) (CarbBackend *backend);
} CarbBackendVTable;

/**
 * CarbBackendEntryFunc:
 * @core_abi_version: the %CARB_BACKEND_ABI_VERSION of the loading core.
 *
 * The type of the plugin's exported `carburetor_backend_entry` function.
 *
 * Returns: (transfer none): the plugin's vtable, static for the life of the
 *   process, or %NULL if the plugin cannot serve @core_abi_version.
 *
 * Since: 1.0
 */
typedef const CarbBackendVTable *(*CarbBackendEntryFunc) (guint32 core_abi_version);

/* Row decoding, provided by the core. */
CARB_AVAILABLE_IN_ALL
void carb_sink_set_null (CarbSink *sink, guint column);
CARB_AVAILABLE_IN_ALL
void carb_sink_set_int (CarbSink *sink, guint column, gint64 value);
CARB_AVAILABLE_IN_ALL
void carb_sink_set_double (CarbSink *sink, guint column, gdouble value);
CARB_AVAILABLE_IN_ALL
void carb_sink_set_text (CarbSink *sink, guint column, const char *text, gsize len);
CARB_AVAILABLE_IN_ALL
void carb_sink_set_bytes (CarbSink *sink, guint column, const guint8 *data, gsize len);
CARB_AVAILABLE_IN_ALL
void carb_sink_fail (CarbSink *sink, guint column, const char *format, ...) G_GNUC_PRINTF (3, 4);
CARB_AVAILABLE_IN_ALL
gboolean carb_sink_end_row (CarbSink *sink, GError **error);

/* Table descriptions, provided by the core. */
CARB_AVAILABLE_IN_ALL
void carb_table_info_add_column (
    CarbTableInfo *info, const char *name, const char *sql_type, guint type_mask, gboolean nullable);
CARB_AVAILABLE_IN_ALL
void carb_table_info_add_unique_column (CarbTableInfo *info, const char *name);

CARB_AVAILABLE_IN_ALL
char *carb_query_build_sql (const CarbQuery *query, const CarbSqlSyntax *syntax, GError **error);
CARB_AVAILABLE_IN_ALL
char *carb_query_build_table_name (const CarbModel *model, const CarbSqlSyntax *syntax, GError **error);
CARB_AVAILABLE_IN_ALL
gint carb_model_find_filter_column (const CarbModel *model);

G_END_DECLS
