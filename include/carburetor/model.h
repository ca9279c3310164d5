/* Carburetor — model descriptors and the model declaration macros.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(CARBURETOR_INSIDE) && !defined(CARBURETOR_COMPILATION)
#error "Include <carburetor/carburetor.h> or <carburetor/sys/backend.h>, not this header."
#endif

#include <stddef.h>

#include <glib.h>

#include <carburetor/version.h>

G_BEGIN_DECLS

/**
 * CarbColumnType:
 * @CARB_COLUMN_TYPE_INVALID: not a supported type (only reported by backends for
 *   columns they cannot map; never valid in a model).
 * @CARB_COLUMN_TYPE_TEXT: text / varchar; member `char *`.
 * @CARB_COLUMN_TYPE_INT16: smallint; member `gint16`.
 * @CARB_COLUMN_TYPE_INT32: integer; member `gint32`.
 * @CARB_COLUMN_TYPE_INT64: bigint; member `gint64`.
 * @CARB_COLUMN_TYPE_FLOAT: real; member `gfloat`.
 * @CARB_COLUMN_TYPE_DOUBLE: double precision; member `gdouble`.
 * @CARB_COLUMN_TYPE_BOOL: boolean; member `gboolean`.
 * @CARB_COLUMN_TYPE_TIMESTAMP: timestamptz; member `gint64`, microseconds since
 *   the Unix epoch, UTC.
 * @CARB_COLUMN_TYPE_DATE: date; member `gint32`, days since 1970-01-01.
 * @CARB_COLUMN_TYPE_UUID: uuid; member `char *`, canonical lower-case form.
 * @CARB_COLUMN_TYPE_JSON: json / jsonb; member `char *` holding the JSON text.
 * @CARB_COLUMN_TYPE_BYTES: bytea / blob; member #CarbBytes.
 * @CARB_COLUMN_TYPE_NUMERIC: numeric; member `char *`, exact decimal text.
 *
 * The supported column types. docs/TYPES.md gives each one's mapping on
 * every backend. A column of any other SQL type is rejected when the model
 * is validated against the table.
 *
 * Since: 1.0
 */
typedef enum
{
  CARB_COLUMN_TYPE_INVALID,
  CARB_COLUMN_TYPE_TEXT,
  CARB_COLUMN_TYPE_INT16,
  CARB_COLUMN_TYPE_INT32,
  CARB_COLUMN_TYPE_INT64,
  CARB_COLUMN_TYPE_FLOAT,
  CARB_COLUMN_TYPE_DOUBLE,
  CARB_COLUMN_TYPE_BOOL,
  CARB_COLUMN_TYPE_TIMESTAMP,
  CARB_COLUMN_TYPE_DATE,
  CARB_COLUMN_TYPE_UUID,
  CARB_COLUMN_TYPE_JSON,
  CARB_COLUMN_TYPE_BYTES,
  CARB_COLUMN_TYPE_NUMERIC,
} CarbColumnType;

/**
 * CarbColumnRole:
 * @CARB_COLUMN_ROLE_DATA: an ordinary data column.
 * @CARB_COLUMN_ROLE_ID: the row's primary key (exactly one per model).
 * @CARB_COLUMN_ROLE_TIMESTAMP: the last-synced-at column, stamped by the database
 *   (exactly one per model; see carb_model_validate()).
 * @CARB_COLUMN_ROLE_DELETED: the soft-delete (tombstone) flag (at most one).
 * @CARB_COLUMN_ROLE_VERSION: two-way sync: the version of the column whose
 *   name is this one's without its `__v` suffix (a DATA or DELETED column
 *   of the model); TEXT, nullable, in the form of carb_version_to_string(). Declare it with CARB_VERSION();
 *   carb_store_prepare_table() installs a versioning trigger that fills it
 *   for writes that bypass the library (docs/TWOWAY.md). Since: 1.0
 *
 * What a column means to the sync.
 *
 * Since: 1.0
 */
typedef enum
{
  CARB_COLUMN_ROLE_DATA,
  CARB_COLUMN_ROLE_ID,
  CARB_COLUMN_ROLE_TIMESTAMP,
  CARB_COLUMN_ROLE_DELETED,
  CARB_COLUMN_ROLE_VERSION,
} CarbColumnRole;

/**
 * CarbColumnFlags:
 * @CARB_COLUMN_FLAGS_NONE: no flag.
 * @CARB_COLUMN_FLAGS_NULLABLE: the column may hold NULL. Pointer-typed members
 *   hold %NULL for it; scalar members need a `gboolean` null-flag member
 *   (see CARB_COLUMN_NULLABLE_FLAG()).
 * @CARB_COLUMN_FLAGS_FILTER: set by the core, on the wire model of a sync
 *   group, on the column a row filter compares
 *   (carb_sync_group_set_filter()): a backend's @prepare_table then logs
 *   the column's moves, so that a row leaving a replica's filter can be
 *   withdrawn from it (docs/PLUGINS.md, `prepare_table`). Applications do not
 *   set it.
 *
 * Per-column flags.
 *
 * Since: 1.0
 */
typedef enum
{
  CARB_COLUMN_FLAGS_NONE = 0,
  CARB_COLUMN_FLAGS_NULLABLE = 1 << 0,
  CARB_COLUMN_FLAGS_FILTER = 1 << 1,
} CarbColumnFlags;

/**
 * CarbBytes:
 * @data: (nullable) (array length=len): the bytes, %NULL for SQL NULL.
 * @len: the number of bytes.
 *
 * The struct member type of a %CARB_COLUMN_TYPE_BYTES column. In a result, @data
 * is owned by the result (see carb_sync_result_unref()).
 *
 * Since: 1.0
 */
typedef struct
{
  const guint8 *data;
  gsize len;
} CarbBytes;

/**
 * CarbColumn:
 * @name: the column's SQL name, used verbatim (never parsed or quoted by
 *   the application).
 * @type: the column's type.
 * @role: the column's role.
 * @flags: #CarbColumnFlags.
 * @offset: offsetof() the member in the struct.
 * @size: sizeof() the member, checked against @type.
 * @null_offset: offsetof() a `gboolean` member set to %TRUE when the value
 *   is NULL, or -1 when there is none.
 *
 * One column of a model. Normally written by the CARB_COLUMN() family of
 * macros; tools and language bindings may fill it at run time.
 *
 * Since: 1.0
 */
typedef struct
{
  const char *name;
  CarbColumnType type;
  CarbColumnRole role;
  guint flags;
  gsize offset;
  gsize size;
  gssize null_offset;
} CarbColumn;

/**
 * CARB_MODEL_VERSION:
 *
 * The layout version of #CarbModel; models store it so that a later core
 * never reads members that an older application did not have.
 *
 * Since: 1.0
 */
#define CARB_MODEL_VERSION 1

/**
 * CARB_VERSION_COLUMN_SUFFIX:
 *
 * Two-way sync: the version of column `X` lives in column `X__v`
 * (#CARB_COLUMN_ROLE_VERSION).
 *
 * Since: 1.0
 */
#define CARB_VERSION_COLUMN_SUFFIX "__v"

/**
 * CarbModel:
 * @version: %CARB_MODEL_VERSION.
 * @schema: (nullable): the table's schema, or %NULL for the backend's
 *   default (PostgreSQL's `search_path`, SQLite's `main`).
 * @table: the table's name, used verbatim.
 * @struct_size: sizeof() the row struct.
 * @columns: (array length=n_columns): the columns.
 * @n_columns: the number of columns.
 *
 * A model descriptor: how one C struct maps to one table. Declare one with
 * CARB_DEFINE_MODEL(); it is plain constant data with no run-time cost.
 *
 * Since: 1.0
 */
typedef struct
{
  guint version;
  const char *schema;
  const char *table;
  gsize struct_size;
  const CarbColumn *columns;
  guint n_columns;
} CarbModel;

CARB_AVAILABLE_IN_ALL
gboolean carb_model_validate (const CarbModel *model, GError **error);

CARB_AVAILABLE_IN_ALL
const char *carb_column_type_to_string (CarbColumnType type);

/* The model macros check each member's C type at compile time with C11's
 * _Generic and _Static_assert. C++ has neither _Generic nor designated
 * initializers of this kind: it declares models at run time
 * (carb_model_new()), and the macros are left out. */
#ifndef __cplusplus
#if !defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L
#error                                                                                                       \
    "Carburetor's model macros (CARB_DEFINE_MODEL…) need C11 or later (_Generic, _Static_assert): compile with -std=c11 or -std=gnu11"
#endif

// clang-format off
/* clang-format 14 does not know _Generic and would
 * mangle these hand-aligned macros. */
/* ------------------------------------------------------------------------ */
/* Compile-time checks. Each type has a test of the member's C type (taken
 * through its address so that a `char[N]` array never passes for `char *`)
 * and the C type's name for the error message. */

#define _CARB_MEMBER_IS_TEXT(p) _Generic ((p), char **: 1, const char **: 1, default: 0)
#define _CARB_MEMBER_IS_UUID(p) _CARB_MEMBER_IS_TEXT (p)
#define _CARB_MEMBER_IS_JSON(p) _CARB_MEMBER_IS_TEXT (p)
#define _CARB_MEMBER_IS_NUMERIC(p) _CARB_MEMBER_IS_TEXT (p)
#define _CARB_MEMBER_IS_INT16(p) _Generic ((p), gint16 *: 1, default: 0)
#define _CARB_MEMBER_IS_INT32(p) _Generic ((p), gint32 *: 1, default: 0)
#define _CARB_MEMBER_IS_INT64(p) _Generic ((p), gint64 *: 1, default: 0)
#define _CARB_MEMBER_IS_FLOAT(p) _Generic ((p), gfloat *: 1, default: 0)
#define _CARB_MEMBER_IS_DOUBLE(p) _Generic ((p), gdouble *: 1, default: 0)
#define _CARB_MEMBER_IS_BOOL(p) _Generic ((p), gboolean *: 1, default: 0)
#define _CARB_MEMBER_IS_TIMESTAMP(p) _CARB_MEMBER_IS_INT64 (p)
#define _CARB_MEMBER_IS_DATE(p) _CARB_MEMBER_IS_INT32 (p)
#define _CARB_MEMBER_IS_BYTES(p) _Generic ((p), CarbBytes *: 1, default: 0)

#define _CARB_CTYPE_TEXT "char *"
#define _CARB_CTYPE_UUID "char *"
#define _CARB_CTYPE_JSON "char *"
#define _CARB_CTYPE_NUMERIC "char *"
#define _CARB_CTYPE_INT16 "gint16"
#define _CARB_CTYPE_INT32 "gint32"
#define _CARB_CTYPE_INT64 "gint64"
#define _CARB_CTYPE_FLOAT "gfloat"
#define _CARB_CTYPE_DOUBLE "gdouble"
#define _CARB_CTYPE_BOOL "gboolean"
#define _CARB_CTYPE_TIMESTAMP "gint64 (microseconds since the Unix epoch)"
#define _CARB_CTYPE_DATE "gint32 (days since 1970-01-01)"
#define _CARB_CTYPE_BYTES "CarbBytes"

/* Types whose member can hold NULL itself (a NULL pointer). */
#define _CARB_NULL_BY_POINTER_TEXT 1
#define _CARB_NULL_BY_POINTER_UUID 1
#define _CARB_NULL_BY_POINTER_JSON 1
#define _CARB_NULL_BY_POINTER_NUMERIC 1
#define _CARB_NULL_BY_POINTER_BYTES 1
#define _CARB_NULL_BY_POINTER_INT16 0
#define _CARB_NULL_BY_POINTER_INT32 0
#define _CARB_NULL_BY_POINTER_INT64 0
#define _CARB_NULL_BY_POINTER_FLOAT 0
#define _CARB_NULL_BY_POINTER_DOUBLE 0
#define _CARB_NULL_BY_POINTER_BOOL 0
#define _CARB_NULL_BY_POINTER_TIMESTAMP 0
#define _CARB_NULL_BY_POINTER_DATE 0

/* C11 allows a static assertion as a struct member; wrapping it in sizeof
 * lets the checks live inside an initializer, next to the column they
 * check, so the compiler points at the offending line. Evaluates to 0. */
#define _CARB_STATIC_CHECK(cond, msg) \
  (0 * sizeof (struct {               \
     _Static_assert (cond, msg);      \
     int carb_unused_;                \
   }))

#define _CARB_CHECK_MEMBER(Struct, member, TYPE)                            \
  _CARB_STATIC_CHECK (_CARB_MEMBER_IS_##TYPE (&((Struct *) 0)->member),     \
                      #Struct "." #member ": a " #TYPE                      \
                      " column needs a member of type " _CARB_CTYPE_##TYPE)

/**
 * CARB_COLUMN_FULL:
 * @Struct: the row struct type.
 * @member: the member of @Struct.
 * @sql_name: the column's SQL name (a string literal).
 * @TYPE: the column type without its prefix: `TEXT`, `INT64`, `TIMESTAMP`…
 * @ROLE: the role without its prefix: `DATA`, `ID`, `TIMESTAMP`, `DELETED`,
 *   `VERSION`.
 * @col_flags: #CarbColumnFlags.
 *
 * The general column declaration; the shorter macros below expand to it.
 * A member whose C type does not match @TYPE is a compile-time error whose
 * message names the struct, the member and the C type expected.
 *
 * Since: 1.0
 */
#define CARB_COLUMN_FULL(Struct, member, sql_name, TYPE, ROLE, col_flags)                 \
  {                                                                                       \
    .name = (sql_name), .type = CARB_COLUMN_TYPE_##TYPE, .role = CARB_COLUMN_ROLE_##ROLE, \
    .flags = (col_flags),                                                                 \
    .offset = offsetof (Struct, member) + _CARB_CHECK_MEMBER (Struct, member, TYPE),      \
    .size = sizeof (((Struct *) 0)->member), .null_offset = -1,                           \
  }

/**
 * CARB_COLUMN:
 * @Struct: the row struct type.
 * @member: the member, also the column's SQL name.
 * @TYPE: the column type without its prefix (`TEXT`, `INT64`, …).
 *
 * A NOT NULL data column named like its member.
 *
 * Since: 1.0
 */
#define CARB_COLUMN(Struct, member, TYPE)                                        \
  CARB_COLUMN_FULL (Struct, member, #member, TYPE, DATA, CARB_COLUMN_FLAGS_NONE)

/**
 * CARB_COLUMN_NULLABLE:
 * @Struct: the row struct type.
 * @member: the member, also the column's SQL name.
 * @TYPE: a pointer-represented type: `TEXT`, `UUID`, `JSON`, `NUMERIC` or
 *   `BYTES`.
 *
 * A nullable data column whose member holds %NULL for SQL NULL. Scalar
 * types need CARB_COLUMN_NULLABLE_FLAG() instead (a compile-time error
 * says so).
 *
 * Since: 1.0
 */
#define CARB_COLUMN_NULLABLE(Struct, member, TYPE)                                   \
  {                                                                                  \
    .name = #member, .type = CARB_COLUMN_TYPE_##TYPE, .role = CARB_COLUMN_ROLE_DATA, \
    .flags = CARB_COLUMN_FLAGS_NULLABLE,                                             \
    .offset = offsetof (Struct, member) + _CARB_CHECK_MEMBER (Struct, member, TYPE)  \
              + _CARB_STATIC_CHECK (_CARB_NULL_BY_POINTER_##TYPE,                    \
                                    #Struct "." #member ": a nullable " #TYPE        \
                                    " column needs CARB_COLUMN_NULLABLE_FLAG()"      \
                                    " and a gboolean member to hold NULL"),          \
    .size = sizeof (((Struct *) 0)->member), .null_offset = -1,                      \
  }

/**
 * CARB_COLUMN_NULLABLE_FLAG:
 * @Struct: the row struct type.
 * @member: the member, also the column's SQL name.
 * @TYPE: the column type without its prefix.
 * @null_member: a `gboolean` member set to %TRUE when the value is NULL
 *   (the value member is then zero).
 *
 * A nullable data column of any type, with NULL reported in a flag.
 *
 * Since: 1.0
 */
#define CARB_COLUMN_NULLABLE_FLAG(Struct, member, TYPE, null_member)                 \
  {                                                                                  \
    .name = #member, .type = CARB_COLUMN_TYPE_##TYPE, .role = CARB_COLUMN_ROLE_DATA, \
    .flags = CARB_COLUMN_FLAGS_NULLABLE,                                             \
    .offset = offsetof (Struct, member) + _CARB_CHECK_MEMBER (Struct, member, TYPE), \
    .size = sizeof (((Struct *) 0)->member),                                         \
    .null_offset = (gssize) (offsetof (Struct, null_member)                          \
                             + _CARB_CHECK_MEMBER (Struct, null_member, BOOL)),      \
  }

/**
 * CARB_ID:
 * @Struct: the row struct type.
 * @member: the member, also the column's SQL name.
 * @TYPE: `INT64`, `INT32`, `TEXT` or `UUID`.
 *
 * The primary-key column.
 *
 * Since: 1.0
 */
#define CARB_ID(Struct, member, TYPE)                                          \
  CARB_COLUMN_FULL (Struct, member, #member, TYPE, ID, CARB_COLUMN_FLAGS_NONE)

/**
 * CARB_TIMESTAMP:
 * @Struct: the row struct type.
 * @member: a `gint64` member, also the column's SQL name.
 *
 * Marks the last-synced-at column explicitly. Without it, the column named
 * `last_synced_at` is used (see carb_model_validate()).
 *
 * Since: 1.0
 */
#define CARB_TIMESTAMP(Struct, member)                                                     \
  CARB_COLUMN_FULL (Struct, member, #member, TIMESTAMP, TIMESTAMP, CARB_COLUMN_FLAGS_NONE)

/**
 * CARB_DELETED:
 * @Struct: the row struct type.
 * @member: a `gboolean` member, also the column's SQL name.
 *
 * The soft-delete flag: rows with it set are tombstones.
 *
 * Since: 1.0
 */
#define CARB_DELETED(Struct, member)                                                \
  CARB_COLUMN_FULL (Struct, member, #member, BOOL, DELETED, CARB_COLUMN_FLAGS_NONE)

/**
 * CARB_VERSION:
 * @Struct: the row struct type.
 * @member: a `char *` member named like the versioned column plus `__v`
 *   (`title__v` for `title`), also the column's SQL name.
 *
 * The version column of another column, for two-way sync: nullable TEXT
 * holding the version's 35-character text form (docs/TWOWAY.md).
 *
 * Since: 1.0
 */
#define CARB_VERSION(Struct, member)                                                    \
  CARB_COLUMN_FULL (Struct, member, #member, TEXT, VERSION, CARB_COLUMN_FLAGS_NULLABLE)

#define _CARB_DEFINE_MODEL_WITH_STORAGE(storage, name, Struct, schema_name, \
                                        table_name, ...)                    \
  static const CarbColumn name##_carb_columns_[] = { __VA_ARGS__ };         \
  storage const CarbModel name = {                                          \
    .version = CARB_MODEL_VERSION,                                          \
    .schema = (schema_name),                                                \
    .table = (table_name),                                                  \
    .struct_size = sizeof (Struct),                                         \
    .columns = name##_carb_columns_,                                        \
    .n_columns = G_N_ELEMENTS (name##_carb_columns_),                       \
  }

/**
 * CARB_DEFINE_MODEL:
 * @name: the name of the `const CarbModel` object to define.
 * @Struct: the row struct type.
 * @schema_name: (nullable): the schema, or %NULL for the default.
 * @table_name: the table's name.
 * @...: the columns: CARB_ID(), CARB_TIMESTAMP(), CARB_COLUMN(), …
 *
 * Defines a model with external linkage; declare it elsewhere as
 * `extern const CarbModel name;`.
 *
 * |[<!-- language="C" -->
 * typedef struct { gint64 id; char *title; gint64 last_synced_at; gboolean deleted; } Todo;
 *
 * CARB_DEFINE_MODEL (todo_model, Todo, NULL, "todos",
 *                    CARB_ID (Todo, id, INT64),
 *                    CARB_COLUMN (Todo, title, TEXT),
 *                    CARB_COLUMN (Todo, last_synced_at, TIMESTAMP),
 *                    CARB_DELETED (Todo, deleted));
 * ]|
 *
 * Since: 1.0
 */
#define CARB_DEFINE_MODEL(name, Struct, schema_name, table_name, ...)                    \
  _CARB_DEFINE_MODEL_WITH_STORAGE (, name, Struct, schema_name, table_name, __VA_ARGS__)

/**
 * CARB_DEFINE_STATIC_MODEL:
 * @name: the name of the `static const CarbModel` object to define.
 * @Struct: the row struct type.
 * @schema_name: (nullable): the schema, or %NULL for the default.
 * @table_name: the table's name.
 * @...: the columns.
 *
 * Like CARB_DEFINE_MODEL(), with internal linkage.
 *
 * Since: 1.0
 */
#define CARB_DEFINE_STATIC_MODEL(name, Struct, schema_name, table_name, ...)                   \
  _CARB_DEFINE_MODEL_WITH_STORAGE (static, name, Struct, schema_name, table_name, __VA_ARGS__)

// clang-format on
#else /* __cplusplus */
#define CARB_DEFINE_MODEL(...)                                                                               \
  static_assert (false,                                                                                      \
                 "Carburetor's model macros need C11 (_Generic); in C++ declare models at run time with "    \
                 "carb_model_new () and carb_model_add_column ()")
#define CARB_DEFINE_STATIC_MODEL(...) CARB_DEFINE_MODEL (__VA_ARGS__)
#endif /* __cplusplus */

G_END_DECLS
