/* Carburetor — what the replica's files share: the object's fields, the
 * SQLite helpers (one connection, used under the replica's lock), values
 * between GVariants and SQLite, and the per-column merge.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "carb-private.h"

#include <sqlite3.h>

G_BEGIN_DECLS

struct _CarbReplica
{
  GObject parent_instance;
  GMutex sync_lock;     /* one carb_replica_sync() or rebuild at a time: a first
                     * download's sweep must not meet another sync's, and
                     * a rebuild must not fall between a sync's pages */
  GMutex lock;          /* guards everything below, and the connection */
  gboolean unconfirmed; /* carburetor_unconfirmed may hold rows (replica-sweep.c) */
  sqlite3 *db;
  GHashTable *statements;  /* SQL text → sqlite3_stmt, prepared once */
  GPtrArray *versions_sql; /* table index → the SELECT of a row's versions (replica-merge.c), or NULL */
  /* The last changeset collected and its changes (replica-collect.c): an
   * acknowledgement of those very bytes takes the changes instead of
   * parsing them again. */
  GBytes *last_sent;
  GArray *last_sent_changes;
  char *path;
  int lock_fd; /* "<path>-replica-lock", flocked while the object lives (replica-lock.c) */
  CarbSyncGroup *group;
  guint64 site;
  CarbHlc hlc;
  gint64 clock_offset_us; /* added to the wall clock (carb_replica_correct_clock()) */
  /* The greatest hlc seen from the server (answers, merged rows, pages):
   * the floor of a corrected clock, so that a change stamped again never
   * orders before a version the server already holds. */
  guint64 seen_hlc;
  /* The clock at BEGIN, restored by a rollback: a failed call must not
   * leave the clock past versions that were never stored. */
  CarbHlc hlc_at_begin;
  gint64 offset_at_begin;
  guint64 seen_at_begin;
};

/* replica-lock.c */
gboolean carb_replica_lock_file (CarbReplica *replica, GError **error);
void carb_replica_unlock_file (CarbReplica *replica);

/* replica-collect.c: the changes of @sent, parsed (transfer full). */
GArray *carb_replica_sent_changes (CarbReplica *replica, GBytes *sent, GError **error);

/* replica-db.c */
gboolean carb_replica_db_fail (CarbReplica *replica, GError **error, const char *what);
gboolean carb_replica_db_exec (CarbReplica *replica, const char *sql, GError **error);
sqlite3_stmt *carb_replica_db_stmt (CarbReplica *replica, const char *sql, GError **error);
gboolean carb_replica_db_step_done (CarbReplica *replica, sqlite3_stmt *stmt, GError **error);
gboolean carb_replica_begin (CarbReplica *replica, GError **error);
gboolean carb_replica_commit (CarbReplica *replica, GError **error);
void carb_replica_rollback (CarbReplica *replica);
void carb_replica_quote (GString *sql, const char *name);
void carb_replica_quote_id (GString *sql, const CarbModel *model);
void carb_replica_append_from_row (GString *sql, const CarbModel *model);
gboolean carb_replica_insert_id (
    CarbReplica *replica, const CarbModel *model, const char *id, gboolean or_ignore, GError **error);
char *carb_replica_meta_get (CarbReplica *replica, const char *key, GError **error);
gboolean carb_replica_meta_set (CarbReplica *replica, const char *key, const char *value, GError **error);

/* replica-schema.c */
gboolean carb_replica_schema_open (CarbReplica *replica, GError **error);

/* replica-value.c */
GVariant *carb_replica_unwrap (GVariant *value);
gboolean carb_replica_bind_value (sqlite3_stmt *stmt,
                                  int index,
                                  const CarbModel *model,
                                  const CarbColumn *col,
                                  GVariant *value,
                                  GError **error);
gboolean carb_replica_bind_row_value (sqlite3_stmt *stmt,
                                      int index,
                                      const CarbModel *model,
                                      const CarbColumn *col,
                                      const CarbModel *wire,
                                      gconstpointer row,
                                      gint wire_column,
                                      GError **error);
GVariant *carb_replica_column_value (sqlite3_stmt *stmt, int index, const CarbColumn *col);
const CarbColumn *carb_replica_role_column (const CarbModel *model, CarbColumnRole role);
const CarbModel *
carb_replica_find_model (CarbReplica *replica, const char *table, guint *index, GError **error);

/* replica-write.c: one column to write, the value (NULL for SQL NULL)
 * owned. */
typedef struct
{
  const CarbColumn *col;
  GVariant *value;
  char *version; /* owned; the column's new version text, or NULL to keep it */
} CarbColumnWrite;

GArray *carb_column_writes_new (void);
gboolean carb_replica_update_columns (
    CarbReplica *replica, const CarbModel *model, const char *id, GArray *writes, GError **error);

/* replica-versions.c: the version columns `X__v` and the pending table. */
gboolean carb_replica_is_versioned (const CarbColumn *col);
void carb_replica_quote_version (GString *sql, const CarbColumn *col);
gboolean carb_replica_parse_stored_version (CarbReplica *replica,
                                            const CarbModel *model,
                                            const char *id,
                                            const CarbColumn *col,
                                            sqlite3_stmt *stmt,
                                            int index,
                                            CarbVersion *version,
                                            gboolean *found,
                                            GError **error);
void carb_replica_bind_version (sqlite3_stmt *stmt, int param, const CarbVersion *version);
gboolean carb_replica_set_pending (CarbReplica *replica,
                                   const char *table,
                                   const char *id,
                                   const char *column,
                                   const char *version,
                                   GError **error);
gboolean carb_replica_get_version_locked (CarbReplica *replica,
                                          const char *table,
                                          const char *id,
                                          const char *column,
                                          CarbVersion *version,
                                          gboolean *found,
                                          GError **error);
gboolean carb_replica_set_version (CarbReplica *replica,
                                   const char *table,
                                   const char *id,
                                   const char *column,
                                   const CarbVersion *version,
                                   gboolean pending,
                                   GError **error);
gboolean carb_replica_drop_pending (CarbReplica *replica,
                                    const char *table,
                                    const char *id,
                                    const char *column,
                                    const CarbVersion *only_if,
                                    GError **error);
gboolean carb_replica_drop_row (CarbReplica *replica, const CarbModel *model, const char *id, GError **error);
gboolean carb_replica_row_exists (
    CarbReplica *replica, const CarbModel *model, const char *id, gboolean *exists, GError **error);
CarbVersion carb_replica_next_version (CarbReplica *replica);
void carb_replica_observe (CarbReplica *replica, guint64 hlc);

/* replica-merge.c: one incoming row, per column; @force_columns (nullable)
 * takes the incoming value of those columns whatever the versions (a
 * rejected change returns to the server's value); @tie_columns (nullable)
 * takes it for those columns on a tie too (the server stored the
 * replica's own write as another value); with @held_only, a row
 * the replica does not hold is left out rather than inserted (an
 * acknowledgement never brings a row back: replica-ack.c). */
gboolean carb_replica_merge_row (CarbReplica *replica,
                                 guint table_index,
                                 const char *id,
                                 const CarbChange *changes,
                                 gsize n_changes,
                                 GHashTable *force_columns,
                                 GHashTable *tie_columns,
                                 gboolean held_only,
                                 GError **error);

typedef gboolean (*CarbRowChangesFunc) (
    CarbReplica *replica, const CarbChange *first, gsize n, gpointer data, GError **error);
gboolean carb_replica_for_each_row (
    CarbReplica *replica, GArray *changes, CarbRowChangesFunc func, gpointer data, GError **error);

/* replica-merge.c: a first download straight from the server's rows. */
gboolean carb_replica_fill_table (CarbReplica *replica,
                                  CarbStore *server,
                                  GVariant *context,
                                  guint table_index,
                                  gboolean *filled,
                                  GCancellable *cancellable,
                                  GError **error);

/* replica-poll.c: which tables of the group a sync downloads. */
gboolean carb_replica_poll_group (
    CarbReplica *replica, CarbStore *server, gboolean *changed, GCancellable *cancellable, GError **error);

/* replica.c */
void carb_replica_emit_rejected (CarbReplica *replica, GArray *rejections);
/* carb_replica_acknowledge() without the signal: @rejections gets the
 * answer's (CarbRejection, maybe empty) for the caller to emit where it
 * should (the async sync: in the caller's main context). */
gboolean carb_replica_acknowledge_quiet (
    CarbReplica *replica, GBytes *sent, GBytes *apply_result, GArray **rejections, GError **error);
gboolean carb_replica_first_download_begin (CarbReplica *replica, guint table_index, GError **error);
gboolean carb_replica_first_download_end (CarbReplica *replica, guint table_index, GError **error);
gboolean carb_replica_load_unconfirmed (CarbReplica *replica, GError **error);
gboolean carb_replica_first_download_open (CarbReplica *replica, guint table_index, GError **error);
gboolean carb_replica_check_first_page (CarbReplica *replica, guint table_index, GError **error);
gboolean
carb_replica_confirm_row (CarbReplica *replica, const CarbModel *model, const char *id, GError **error);

G_END_DECLS
