/* Carburetor — declarations shared inside the core library only.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <carburetor/sys/backend.h>
#include <carburetor/carburetor.h>

G_BEGIN_DECLS

/* G_DEFINE_BOXED_TYPE passes its functions through a transparent union,
 * which -Wpedantic rejects; this is the same thing spelled in ISO C. */
#define CARB_DEFINE_BOXED_TYPE(TypeName, type_name, copy_func, free_func)                                    \
  GType type_name##_get_type (void)                                                                          \
  {                                                                                                          \
    static gsize type_id = 0;                                                                                \
    if (g_once_init_enter (&type_id))                                                                        \
      g_once_init_leave (&type_id, g_boxed_type_register_static (g_intern_static_string (#TypeName),         \
                                                                 (GBoxedCopyFunc) copy_func,                 \
                                                                 (GBoxedFreeFunc) free_func));               \
    return type_id;                                                                                          \
  }

/* model.c: validation without a database; fills the role indexes of @query. */
gboolean carb_model_resolve (const CarbModel *model, CarbQuery *query, GError **error);
gsize carb_column_type_size (CarbColumnType type);

/* model-runtime.c: a bit of CarbModel.version set only on models from
 * carb_model_new(), which own their memory and are reference-counted. */
#define CARB_MODEL_RUNTIME (1u << 16)
void carb_model_seal (const CarbModel *model);
void carb_model_set_column_flags (CarbModel *model, guint column, CarbColumnFlags flags, gboolean on);
gboolean carb_model_is_runtime (const CarbModel *model);
gboolean carb_sync_group_seal (CarbSyncGroup *group, GError **error);
/* Whether the group has a validation callback (without one, nothing
 * needs the merged row as a dictionary). */
gboolean carb_sync_group_has_validate (CarbSyncGroup *group);
gboolean carb_sync_group_validate (
    CarbSyncGroup *group, const char *table, GVariant *row, GVariant *context, GError **error);

/* table-info.c: the live table against the model. */
CarbTableInfo *carb_table_info_new (void);
void carb_table_info_free (CarbTableInfo *info);
gboolean carb_table_info_check (const CarbTableInfo *info, const CarbModel *model, GError **error);
CarbModel *carb_table_info_build_model (const CarbTableInfo *info,
                                        const char *schema,
                                        const char *table,
                                        const char *id,
                                        const char *ts,
                                        const char *deleted,
                                        GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CarbTableInfo, carb_table_info_free)

/* plugin.c: discovery by manifest and loading by dlopen. */
typedef struct
{
  char *name;
  char *manifest_path;
  char *module_path;
  char **schemes;
  const CarbBackendVTable *vtable;
} CarbPlugin;

const CarbPlugin *carb_plugin_for_uri (const char *uri, GError **error);

/* plugin-info.c */
CarbPluginInfo *carb_plugin_info_new (const char *name,
                                      const char *const *schemes,
                                      const char *module_path,
                                      const char *manifest_path);

/* row-value.c: one non-NULL column of a row struct as a floating
 * GVariant, of carb_model_row_to_variant()'s type. */
GVariant *carb_model_column_variant (const CarbColumn *col, gconstpointer row);

/* carb_model_row_is_null() without its checks, for loops over millions
 * of cells (a first fill). */
static inline gboolean
carb_column_is_null (const CarbColumn *col, gconstpointer row)
{
  const guint8 *member = (const guint8 *) row + col->offset;
  switch (col->type)
    {
    case CARB_COLUMN_TYPE_TEXT:
    case CARB_COLUMN_TYPE_UUID:
    case CARB_COLUMN_TYPE_JSON:
    case CARB_COLUMN_TYPE_NUMERIC:
      return *(char *const *) (gconstpointer) member == NULL;
    case CARB_COLUMN_TYPE_BYTES:
      return ((const CarbBytes *) (gconstpointer) member)->data == NULL;
    default:
      return col->null_offset >= 0
             && *(const gboolean *) (gconstpointer) ((const guint8 *) row + col->null_offset);
    }
}

/* versions.c: whether carb_version_parse() accepts @text, without
 * parsing it (a first fill checks six versions a row and parses one). */
gboolean carb_version_text_is_valid (const char *text);

/* versions.c: a version as a replica stores it (schema format 3): the hlc
 * then the site, each 8 bytes big-endian, so that memcmp() order is
 * carb_version_compare() order. */
#define CARB_VERSION_BLOB_LENGTH 16
void carb_version_to_blob (const CarbVersion *version, guint8 blob[CARB_VERSION_BLOB_LENGTH]);
/* FALSE when @data is not CARB_VERSION_BLOB_LENGTH bytes or its hlc is
 * above G_MAXINT64 (not a version). */
gboolean carb_version_from_blob (const void *data, gsize len, CarbVersion *version);
/* The blob of a version text, when carb_version_text_is_valid(): the same
 * as carb_version_parse() then carb_version_to_blob(), eight digits at a
 * time (a first fill converts six versions a row). */
gboolean carb_version_text_to_blob (const char *text, guint8 blob[CARB_VERSION_BLOB_LENGTH]);

/* sink.c: decoding rows into structs; the arena that owns their strings. */
typedef struct _CarbArena CarbArena;
CarbArena *carb_arena_new (void);
void carb_arena_free (CarbArena *arena);
/* Forgets every allocation but keeps the newest block for reuse. */
void carb_arena_reset (CarbArena *arena);
/* 8-byte aligned, never NULL; valid until reset or free. */
guint8 *carb_arena_alloc (CarbArena *arena, gsize len);

CarbSink *carb_sink_new_buffered (const CarbModel *model, GCancellable *cancellable);
void carb_sink_set_key_column (CarbSink *sink, guint column);
CarbSink *carb_sink_new_streaming (const CarbModel *model,
                                   CarbRowFunc func,
                                   gpointer user_data,
                                   GCancellable *cancellable);
void carb_sink_free (CarbSink *sink);
gsize carb_sink_get_n_rows (const CarbSink *sink);
gconstpointer carb_sink_get_last_row (const CarbSink *sink);
gconstpointer carb_sink_get_row (const CarbSink *sink, gsize i);
/* Buffered sinks only: moves the rows and their arena out of the sink. */
gpointer carb_sink_steal_rows (CarbSink *sink, gsize *n_rows, CarbArena **arena, const CarbModel **model);
/* Called with the rows finished so far, every CARB_SINK_PROGRESS_ROWS rows,
 * on the thread running the backend. */
#define CARB_SINK_PROGRESS_ROWS 1024
typedef void (*CarbSinkProgressFunc) (gsize n_rows, gpointer user_data);
void carb_sink_set_progress (CarbSink *sink, CarbSinkProgressFunc func, gpointer user_data);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CarbSink, carb_sink_free)

/* store.c: what the store's other files use, with the lock held. */
void carb_store_lock (CarbStore *store);
void carb_store_unlock (CarbStore *store);
const CarbBackendVTable *carb_store_get_vtable (CarbStore *store);
CarbBackend *carb_store_get_backend (CarbStore *store);
const CarbQuery *carb_store_checked_query (CarbStore *store, const CarbModel *model, GError **error);
void carb_store_forget_models (CarbStore *store);

/* Whether @vt, as long as the plugin built it, has the appended @member. */
#define CARB_VTABLE_HAS(vt, member)                                                                          \
  ((vt)->struct_size >= G_STRUCT_OFFSET (CarbBackendVTable, member) + sizeof (vt)->member                    \
   && (vt)->member != NULL)

/* sql.c: identifiers, quoted by the core from a backend's CarbSqlSyntax. */
gboolean carb_sql_append_ident (
    GString *sql, const char *name, const CarbSqlSyntax *syntax, const CarbModel *model, GError **error);
gboolean
carb_sql_append_table (GString *sql, const CarbModel *model, const CarbSqlSyntax *syntax, GError **error);
gboolean carb_sql_append_select_list (GString *sql,
                                      const CarbQuery *query,
                                      const CarbSqlSyntax *syntax,
                                      GError **error);
const char *carb_sql_lock_rows (const CarbSqlSyntax *syntax);
const char *carb_sql_constraints_immediate (const CarbSqlSyntax *syntax);
char *
carb_sql_select_by_id (const CarbQuery *query, const CarbSqlSyntax *syntax, gboolean lock, GError **error);

/* write-sql.c: the SQL of writes and DDL, from a backend's CarbSqlSyntax. */
char *carb_write_sql_upsert (const CarbQuery *query, const CarbSqlSyntax *syntax, GError **error);
char *carb_write_sql_soft_delete (const CarbQuery *query, const CarbSqlSyntax *syntax, GError **error);
char *carb_write_sql_create_table (const CarbQuery *query, const CarbSqlSyntax *syntax, GError **error);

/* write-values.c: statement parameters from struct rows and GVariants. */
gboolean carb_write_row_params (
    const CarbQuery *query, gconstpointer row, gsize index, CarbValue *params, GError **error);
/* The parameters of a row given as one value per column of @query's
 * model (NULL: none; a maybe or variant box is unwrapped, as in an a{sv}
 * row). The text of @params points into @values. */
gboolean carb_write_values_params (
    const CarbQuery *query, GVariant *const *values, gsize index, CarbValue *params, GError **error);
/* One parameter of carb_write_values_params(): column @column from
 * @boxed (NULL: none). */
gboolean carb_write_value_param (
    const CarbQuery *query, guint column, GVariant *boxed, gsize index, CarbValue *param, GError **error);
/* Column @column of a struct row @row (a sink's): the parameter
 * carb_write_value_param() makes of carb_model_column_variant() of it
 * (NULL for SQL NULL), without the GVariant. The text points into @row. */
gboolean carb_write_struct_param (
    const CarbQuery *query, guint column, gconstpointer row, gsize index, CarbValue *param, GError **error);
/* row-value.c: every column of @row as carb_model_row_to_variant() gives
 * it, by column, NULL for SQL NULL (free with carb_values_free()). */
GVariant **carb_model_row_to_values (const CarbModel *model, gconstpointer row);
void carb_values_free (GVariant **values, guint n);
gboolean carb_write_variant_row_params (
    const CarbQuery *query, GVariant *row, gsize index, CarbValue *params, GError **error);
gboolean carb_write_id_param (
    const CarbQuery *query, gconstpointer row, gsize index, CarbValue *param, GError **error);
CarbValue *carb_write_tuple_params (GVariant *tuple, guint *n_params, GError **error);

/* value-check.c: what UUID, JSON and NUMERIC values must be. */
gboolean carb_value_canonical_uuid (char *text, gsize len);
gboolean carb_value_is_uuid (const char *text, gsize len);
gboolean carb_value_is_canonical_uuid (const char *text, gsize len);
gboolean carb_value_is_json (const char *text, gsize len);
gboolean carb_value_is_decimal (const char *text, gsize len);

/* sync-point.c: building the next sync point from a page's last row. */
guint32 carb_sync_point_tag_for (const char *backend, const CarbModel *model);
CarbSyncPoint *carb_sync_point_new_tagged (gint64 time, guint32 tag);
CarbSyncPoint *carb_sync_point_retag (const CarbSyncPoint *point, guint32 tag);
CarbSyncPoint *carb_sync_point_new_cursor (const CarbQuery *query, gconstpointer row, guint32 tag);
gboolean carb_sync_point_apply (const CarbSyncPoint *since, CarbQuery *query, guint32 tag, GError **error);

/* store.c: carb_store_download_sync() with the sink's progress hook. */
CarbSyncResult *carb_store_download_sync_with_progress (CarbStore *store,
                                                        const CarbModel *model,
                                                        const CarbSyncPoint *since,
                                                        guint max_rows,
                                                        CarbSinkProgressFunc progress,
                                                        gpointer progress_data,
                                                        GCancellable *cancellable,
                                                        GError **error);

/* sync-result.c */
CarbSyncResult *carb_sync_result_new (CarbSink *sink, CarbSyncPoint *synced_until, gboolean has_more);

/* changeset.c: changeset rows, shared with apply results. */
#define CARB_CHANGESET_ROWS_TYPE "a(ssa(s(tt)mv))"
GArray *carb_changeset_changes_new (void);
GArray *carb_changeset_rows_read (GVariant *whole, GVariant *rows, gboolean withdrawals);
GVariant *carb_variant_from_untrusted (GBytes *bytes, const char *type, const char *what, GError **error);

/* wire-rows.c: changeset rows written and read as GVariant bytes
 * directly. A writer appends one `a(ssa(s(tt)mv))` to a buffer (aligned to
 * 8 from its start, which must be where the GVariant being written began
 * or 8-aligned from it): rows of columns, then carb_rows_writer_end(). */
typedef struct
{
  GByteArray *buf;
  gsize start;      /* the array's first byte */
  GArray *ends;     /* gsize: each row's end, from start */
  gsize row_start;  /* the open row's first byte */
  gsize table_end;  /* from row_start */
  gsize id_end;     /* from row_start */
  gsize cols_start; /* the open row's columns */
  GArray *col_ends; /* gsize: each column's end, from cols_start */
  guint n_rows;
} CarbRowsWriter;

void carb_rows_writer_init (CarbRowsWriter *w, GByteArray *buf);
void carb_rows_writer_begin_row (CarbRowsWriter *w, const char *table, const char *row_id);
void carb_rows_writer_add_column (CarbRowsWriter *w,
                                  const char *name,
                                  const CarbVersion *version,
                                  GVariant *value);
void carb_rows_writer_end_row (CarbRowsWriter *w);
/* Column @column of @row, a row of @model (NULL as nothing), as
 * carb_model_column_variant() would give it, without a GVariant. */
void carb_rows_writer_add_raw_column (CarbRowsWriter *w,
                                      const char *name,
                                      const CarbVersion *version,
                                      const CarbModel *model,
                                      guint column,
                                      gconstpointer row);
/* One row's `a(s(tt)mv)` alone (add columns to @w, then end): what
 * carb_rows_writer_add_row_columns() puts in a row later. */
void carb_columns_writer_begin (CarbRowsWriter *w);
GBytes *carb_columns_writer_end (CarbRowsWriter *w);
void
carb_rows_writer_add_row_columns (CarbRowsWriter *w, const char *table, const char *row_id, GBytes *columns);
void carb_rows_writer_end (CarbRowsWriter *w);
void carb_rows_writer_clear (CarbRowsWriter *w);
void carb_rows_writer_add_changes (CarbRowsWriter *w, const CarbChange *changes, gsize n_changes);
void
carb_wire_append_strings (GByteArray *buf, gsize start, GArray *ends, const char *const *strings, guint n);
void carb_wire_end_array (GByteArray *buf, gsize start, GArray *ends);
void carb_wire_end_tuple (GByteArray *buf, gsize start, const gsize *offsets, gsize n);
/* Appends to @changes the column writes of the normal-form (checked by
 * the caller) `a(ssa(s(tt)mv))` at [@offset, @offset + @size) of @bytes;
 * the values reference @bytes. A row with no column is one change whose
 * column is NULL (a withdrawal, docs/TWOWAY.md) when @withdrawals, and
 * left out otherwise. FALSE for bytes that are not one. */
gboolean carb_wire_read_rows (GBytes *bytes, gsize offset, gsize size, gboolean withdrawals, GArray *changes);
void carb_changeset_writer_begin (CarbRowsWriter *w);
GBytes *carb_changeset_writer_finish (CarbRowsWriter *w);

/* apply-result.c: what carb_store_apply_changes() answers, as bytes: one
 * GVariant `(uta(ssa(s(tt)mv))a(ssss))` = (format 1, the server's hlc at
 * the apply, the full server state of every row the batch touched —
 * rejected ones included; a row the server does not have comes with no
 * column —, the rejections). */
typedef struct
{
  char *table;
  char *row_id;
  char *column; /* "" when the rejection is of the whole row */
  char *message;
} CarbRejection;

typedef struct
{
  guint64 server_hlc;
  GArray *rows;       /* CarbChange, grouped by row; rows with no column are absent */
  GArray *rejections; /* CarbRejection */
} CarbApplyResult;

void carb_apply_result_begin (CarbRowsWriter *w);
GBytes *carb_apply_result_finish (CarbRowsWriter *w,
                                  guint64 server_hlc,
                                  const CarbRejection *rejections,
                                  gsize n_rejections);
CarbApplyResult *carb_apply_result_parse (GBytes *bytes, GError **error);
void carb_apply_result_free (CarbApplyResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CarbApplyResult, carb_apply_result_free)

G_END_DECLS
