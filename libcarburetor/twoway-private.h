/* Carburetor — declarations shared by the server side of two-way sync
 * (apply.c, apply-row.c, store-twoway.c), inside the core only.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "carb-private.h"
#include <carburetor/store-twoway.h>

G_BEGIN_DECLS

/* One table of a group as an apply or a download sees it, with the store's
 * lock held: the model, the wire model's checked query, and where each
 * model column's version is. */
typedef struct
{
  CarbSyncGroup *group;
  guint index;
  const CarbModel *model;
  const CarbModel *wire;
  const CarbQuery *query; /* the wire model's, checked; valid under the lock */
  const CarbSqlSyntax *syntax;
  guint id_column;      /* in the model and the wire model alike */
  gint *version_column; /* model column → wire column of its version, or -1 */
  gint filter_column;   /* model column, or -1 */
  const char *filter_key;
  char *select_sql; /* SELECT <wire columns> … WHERE id = $1 <lock_rows> */
  char *reread_sql; /* the same, without the lock clause */
} CarbTwowayTable;

void carb_twoway_table_init_columns (CarbTwowayTable *t, CarbSyncGroup *group, guint index);
gboolean carb_twoway_table_init (
    CarbTwowayTable *t, CarbStore *store, CarbSyncGroup *group, guint index, GError **error);
void carb_twoway_table_clear (CarbTwowayTable *t);

/* The backend's query_rows, or an error naming the backend. */
gboolean carb_twoway_check_backend (CarbStore *store, GError **error);

/* The server's hybrid logical time now: its wall clock's millisecond,
 * counter 0 (the server keeps no clock state; its own writes get versions
 * from the versioning trigger). */
guint64 carb_twoway_server_hlc (void);

/* Whether a value (NULL for SQL NULL) passes a filter's context value. */
gboolean carb_twoway_filter_matches (GVariant *value, GVariant *wanted);
/* The context's filter value as the move log keeps it (text, integers in
 * decimal), NULL for another type (carb_twoway_check_context() refuses
 * it). */
char *carb_twoway_filter_text (GVariant *wanted);
/* Whether @context holds every filter key of @group, each of a type its
 * column can equal, or an error naming the key. */
gboolean carb_twoway_check_context (CarbSyncGroup *group, GVariant *context, GError **error);

/* twoway-moves.c: the ids of @ids (rows of a filtered table's page that
 * its filter left out) that once held the context's filter value @wanted,
 * by the backend's log of moves: the page withdraws them. */
GPtrArray *carb_twoway_withdrawn (CarbStore *store,
                                  const CarbTwowayTable *t,
                                  const char *table_key,
                                  GVariant *wanted,
                                  GPtrArray *ids,
                                  GError **error);

/* The type string a column's values have in changesets
 * (carb_model_row_to_variant()'s). */
const char *carb_twoway_value_type (CarbColumnType type);

/* The values of a row_to_variant() dictionary of @wire by wire column
 * (NULL for SQL NULL or a column it lacks), in one pass over it: a
 * lookup by name per column would walk it once each. */
GVariant **carb_twoway_dict_split (const CarbModel *wire, GVariant *dict);
/* A stored version's text (NULL: never versioned; malformed) as a version,
 * the lowest (0, 0) for both. */
CarbVersion carb_twoway_version_of (GVariant *text);
/* The same of wire column @column (a version column, text) of a sink's
 * struct row @row; @has_version: whether it is not NULL. */
CarbVersion
carb_twoway_raw_version (const CarbModel *wire, gconstpointer row, gint column, gboolean *has_version);
/* The changeset columns (every data and is-deleted column, with its
 * version) of a wire row given by wire column (NULL for SQL NULL:
 * carb_model_row_to_values(), carb_twoway_dict_split()): appends an
 * `(s(tt)mv)` per column to @columns. */
void carb_twoway_add_state (const CarbTwowayTable *t, GVariant *const *values, CarbRowsWriter *w);
/* What carb_twoway_add_state() writes of a wire row @row (as a sink gives
 * it), as one `a(s(tt)mv)`, without a GVariant per value. */
GBytes *carb_twoway_state_of_row (const CarbTwowayTable *t, gconstpointer row);
/* The same columns written to @w (inside a row it began). */
void carb_twoway_add_raw_state (const CarbTwowayTable *t, gconstpointer row, CarbRowsWriter *w);

/* apply-row.c: one row of an apply, inside the apply's transaction. */
typedef struct _CarbApplyRow CarbApplyRow;

CarbApplyRow *carb_apply_row_new (const CarbTwowayTable *t, const char *row_id);
void carb_apply_row_free (CarbApplyRow *row);
/* Reads and locks the stored row (if any). */
gboolean carb_apply_row_read (CarbApplyRow *row, CarbStore *store, GCancellable *cancellable, GError **error);
/* Takes @stored (a struct row of the wire model, as a sink decodes it,
 * which must outlive @row; NULL: no such row) as the row read, for a read
 * made for many rows at once (apply-bulk.c). */
void carb_apply_row_set_stored (CarbApplyRow *row, gconstpointer stored);
const char *carb_apply_row_get_id (const CarbApplyRow *row);
/* Whether a change to model column @column won. */
gboolean carb_apply_row_won (const CarbApplyRow *row, guint column);
/* The parameters of an INSERT of every wire column (@params has one per
 * wire column, pointing into *@wire, one value per wire column, which the
 * caller frees with carb_values_free() after the statement ran); FALSE
 * with @rejection set when the merged row cannot be written (a NOT NULL
 * column left NULL, a value the column cannot hold). */
gboolean
carb_apply_row_insert_params (CarbApplyRow *row, GVariant ***wire, CarbValue *params, char **rejection);
/* Records the row as a bulk write returned it (transfer full, by wire
 * column): the answer's state, with no read-back. */
void carb_apply_row_set_written (CarbApplyRow *row, GBytes *state);
/* Merges one change (column checked already); a change to an existing
 * row's immutable column sets @rejection. */
void carb_apply_row_merge (CarbApplyRow *row, const CarbChange *change, char **rejected_column);
gboolean carb_apply_row_exists (const CarbApplyRow *row);
gboolean carb_apply_row_stored_in_filter (const CarbApplyRow *row, GVariant *context);
gboolean carb_apply_row_merged_in_filter (const CarbApplyRow *row, GVariant *context);
gboolean carb_apply_row_any_won (const CarbApplyRow *row);
/* The merged row as the validation callback sees it (every model column). */
GVariant *carb_apply_row_to_variant (const CarbApplyRow *row);
/* Writes what won (UPDATE of the won columns and their versions, or
 * INSERT). With @savepoint, inside a savepoint: a database error
 * (constraint, NOT NULL) rolls back to it and becomes @rejection, the
 * batch goes on. Without, a database error sets @redo and fails: the
 * caller rolls back and runs the batch again with savepoints (saving two
 * round trips per row on PostgreSQL when no row is refused). A value the
 * library refuses (NOT NULL) is a @rejection either way. */
gboolean carb_apply_row_write (CarbApplyRow *row,
                               CarbStore *store,
                               gboolean savepoint,
                               char **rejection,
                               gboolean *redo,
                               GError **error);
/* Whether @error, of the statement that just failed on @store, is the
 * database's refusal of the data written (a constraint, a trigger's
 * refusal): the same row would be refused again, so it is the row's
 * rejection. FALSE for a failure of the connection, the session or the
 * database (a lock not granted, a privilege missing, a full disk, a
 * cancel), which fails the batch instead: rejected, the replica would
 * drop the row's changes for good. */
gboolean carb_apply_refused_by_data (CarbStore *store, const GError *error);
/* Appends the row's current server state to @rows (`a(ssa(s(tt)mv))`):
 * read again after a write; no column when the server has no row, or when
 * @hide (a row outside the replica's filter is not shown). */
gboolean carb_apply_row_add_state (CarbApplyRow *row,
                                   CarbStore *store,
                                   gboolean hide,
                                   CarbRowsWriter *rows,
                                   GCancellable *cancellable,
                                   GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CarbApplyRow, carb_apply_row_free)

/* apply-bulk.c: many rows of one table at once. Reads and locks @rows
 * (sorted by id) in one statement and sets each one's stored row; the
 * rows point into @stored (transfer full, free it after them). With
 * @begin, runs it first, the transaction's start, in the same round trip
 * where the backend can (begin_query_rows). */
gboolean carb_apply_bulk_read (const CarbTwowayTable *t,
                               CarbStore *store,
                               CarbApplyRow *const *rows,
                               guint n,
                               const char *begin,
                               CarbSink **stored,
                               GCancellable *cancellable,
                               GError **error);
/* Writes @rows in one statement: all new (@insert), or all existing with
 * the same won columns. Sets @rejections[i] (caller frees) for a row that
 * cannot be written, @raced[i] for a new row another transaction inserted
 * meanwhile (nothing written: merge it again), and the others' state as
 * stored. A refused statement sets @redo, as carb_apply_row_write() does. */
gboolean carb_apply_bulk_write (const CarbTwowayTable *t,
                                CarbStore *store,
                                CarbApplyRow *const *rows,
                                guint n,
                                gboolean insert,
                                char **rejections,
                                gboolean *raced,
                                gboolean *redo,
                                GCancellable *cancellable,
                                GError **error);

G_END_DECLS
