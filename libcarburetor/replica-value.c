/* Carburetor — values between GVariants and the replica's SQLite tables:
 * every value that enters a table (a local write, a merged row) is checked
 * against its column's type first, so a table never holds what the model
 * cannot read back.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"

#include <math.h>
#include <string.h>

/* SQLite has no NaN: it stores one bound as a REAL as NULL. A server value
 * (PostgreSQL's float8 'NaN') is kept as the text 'NaN' instead, which a
 * REAL column keeps as text, and read back as NaN: the replica holds what
 * the server holds, not a NULL (in a NOT NULL column too) that differs
 * from it for good. A local write of NaN is kept the same way. */
#define NAN_TEXT "NaN"

static void
bind_double (sqlite3_stmt *stmt, int index, gdouble d)
{
  if (isnan (d))
    sqlite3_bind_text (stmt, index, NAN_TEXT, -1, SQLITE_STATIC);
  else
    sqlite3_bind_double (stmt, index, d);
}

/* Strips variant boxes and maybes. Returns: (transfer full) (nullable):
 * the value, or NULL for an empty maybe (SQL NULL). */
GVariant *
carb_replica_unwrap (GVariant *value)
{
  g_autoptr (GVariant) v = g_variant_ref (value);
  for (;;)
    {
      GVariant *inner;
      if (g_variant_is_of_type (v, G_VARIANT_TYPE_VARIANT))
        inner = g_variant_get_variant (v);
      else if (g_variant_is_of_type (v, G_VARIANT_TYPE_MAYBE))
        inner = g_variant_get_maybe (v);
      else
        return g_steal_pointer (&v);
      g_variant_unref (v);
      v = inner;
      if (v == NULL)
        return NULL;
    }
}

static gboolean
bad_value (GError **error, const CarbModel *model, const CarbColumn *col, const char *format, ...)
    G_GNUC_PRINTF (4, 5);

static gboolean
bad_value (GError **error, const CarbModel *model, const CarbColumn *col, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *why = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA, "Table “%s”, column “%s”: %s", model->table,
               col->name, why);
  return FALSE;
}

static gboolean
variant_int (GVariant *value, gint64 *out)
{
  switch (g_variant_classify (value))
    {
    case G_VARIANT_CLASS_BYTE:
      *out = g_variant_get_byte (value);
      return TRUE;
    case G_VARIANT_CLASS_INT16:
      *out = g_variant_get_int16 (value);
      return TRUE;
    case G_VARIANT_CLASS_UINT16:
      *out = g_variant_get_uint16 (value);
      return TRUE;
    case G_VARIANT_CLASS_INT32:
      *out = g_variant_get_int32 (value);
      return TRUE;
    case G_VARIANT_CLASS_UINT32:
      *out = g_variant_get_uint32 (value);
      return TRUE;
    case G_VARIANT_CLASS_INT64:
      *out = g_variant_get_int64 (value);
      return TRUE;
    case G_VARIANT_CLASS_UINT64:
      *out = (gint64) g_variant_get_uint64 (value);
      return g_variant_get_uint64 (value) <= G_MAXINT64;
    default:
      return FALSE;
    }
}

static gboolean
bind_int (sqlite3_stmt *stmt,
          int index,
          const CarbModel *model,
          const CarbColumn *col,
          GVariant *value,
          GError **error)
{
  gint64 v = 0;
  if (!variant_int (value, &v))
    return bad_value (error, model, col, "a %s column takes an integer, not “%s”",
                      carb_column_type_to_string (col->type), g_variant_get_type_string (value));
  gboolean fits = col->type == CARB_COLUMN_TYPE_INT16 ? v >= G_MININT16 && v <= G_MAXINT16
                  : col->type == CARB_COLUMN_TYPE_INT32 || col->type == CARB_COLUMN_TYPE_DATE
                      ? v >= G_MININT32 && v <= G_MAXINT32
                      : TRUE;
  if (!fits)
    return bad_value (error, model, col, "%" G_GINT64_FORMAT " does not fit a %s column", v,
                      carb_column_type_to_string (col->type));
  sqlite3_bind_int64 (stmt, index, v);
  return TRUE;
}

/* Binds @len bytes of text (valid UTF-8) after the checks of @col's
 * type; @destructor as sqlite3_bind_text()'s. */
static gboolean
bind_checked_text (sqlite3_stmt *stmt,
                   int index,
                   const CarbModel *model,
                   const CarbColumn *col,
                   const char *text,
                   gsize len,
                   sqlite3_destructor_type destructor,
                   GError **error)
{
  if (col->type == CARB_COLUMN_TYPE_UUID)
    {
      g_autofree char *canonical = g_strndup (text, len);
      if (!carb_value_canonical_uuid (canonical, len))
        return bad_value (error, model, col, "“%s” is not a UUID (8-4-4-4-12 hexadecimal digits)", canonical);
      sqlite3_bind_text (stmt, index, canonical, (int) len, SQLITE_TRANSIENT);
      return TRUE;
    }
  if (col->type == CARB_COLUMN_TYPE_JSON && !carb_value_is_json (text, len))
    return bad_value (error, model, col, "the text is not one JSON value (RFC 8259)");
  if (col->type == CARB_COLUMN_TYPE_NUMERIC && !carb_value_is_decimal (text, len))
    return bad_value (error, model, col, "“%s” is not a decimal number", text);
  sqlite3_bind_text (stmt, index, text, (int) len, destructor);
  return TRUE;
}

static gboolean
bind_text (sqlite3_stmt *stmt,
           int index,
           const CarbModel *model,
           const CarbColumn *col,
           GVariant *value,
           GError **error)
{
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    return bad_value (error, model, col, "a %s column takes “s”, not “%s”",
                      carb_column_type_to_string (col->type), g_variant_get_type_string (value));
  gsize len = 0;
  const char *text = g_variant_get_string (value, &len);
  return bind_checked_text (stmt, index, model, col, text, len, SQLITE_TRANSIENT, error);
}

/* Binds @value (unwrapped; NULL for SQL NULL) to parameter @index after
 * checking it against @col. */
gboolean
carb_replica_bind_value (sqlite3_stmt *stmt,
                         int index,
                         const CarbModel *model,
                         const CarbColumn *col,
                         GVariant *value,
                         GError **error)
{
  if (value == NULL)
    {
      if ((col->flags & CARB_COLUMN_FLAGS_NULLABLE) == 0)
        return bad_value (error, model, col, "NULL in a NOT NULL column");
      sqlite3_bind_null (stmt, index);
      return TRUE;
    }
  switch (col->type)
    {
    case CARB_COLUMN_TYPE_INT16:
    case CARB_COLUMN_TYPE_INT32:
    case CARB_COLUMN_TYPE_INT64:
    case CARB_COLUMN_TYPE_TIMESTAMP:
    case CARB_COLUMN_TYPE_DATE:
      return bind_int (stmt, index, model, col, value, error);
    case CARB_COLUMN_TYPE_BOOL:
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
        return bad_value (error, model, col, "a BOOL column takes “b”, not “%s”",
                          g_variant_get_type_string (value));
      sqlite3_bind_int (stmt, index, g_variant_get_boolean (value) ? 1 : 0);
      return TRUE;
    case CARB_COLUMN_TYPE_FLOAT:
    case CARB_COLUMN_TYPE_DOUBLE:
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE))
        return bad_value (error, model, col, "a %s column takes “d”, not “%s”",
                          carb_column_type_to_string (col->type), g_variant_get_type_string (value));
      bind_double (stmt, index, g_variant_get_double (value));
      return TRUE;
    case CARB_COLUMN_TYPE_BYTES:
      {
        if (!g_variant_is_of_type (value, G_VARIANT_TYPE_BYTESTRING))
          return bad_value (error, model, col, "a BYTES column takes “ay”, not “%s”",
                            g_variant_get_type_string (value));
        gsize len = 0;
        const void *data = g_variant_get_fixed_array (value, &len, 1);
        sqlite3_bind_blob64 (stmt, index, len > 0 ? data : "", len, SQLITE_TRANSIENT);
        return TRUE;
      }
    default:
      return bind_text (stmt, index, model, col, value, error);
    }
}

#define ROW_MEMBER(row, col, Type) (*(const Type *) ((const guint8 *) (row) + (col)->offset))

/* Through a GVariant, as a download page's value would come. */
static gboolean
bind_row_value_slow (sqlite3_stmt *stmt,
                     int index,
                     const CarbModel *model,
                     const CarbColumn *col,
                     const CarbColumn *wire_col,
                     gconstpointer row,
                     GError **error)
{
  g_autoptr (GVariant) value = g_variant_ref_sink (carb_model_column_variant (wire_col, row));
  return carb_replica_bind_value (stmt, index, model, col, value, error);
}

/**
 * carb_replica_bind_row_value:
 * @stmt: a statement
 * @index: its parameter
 * @model: the replica's model of the table
 * @col: the column of @model the value goes to
 * @wire: the model of @row
 * @row: a row of @wire that a #CarbSink filled (its text is valid UTF-8),
 *   alive until @stmt is stepped (text and bytes are bound without a copy)
 * @wire_column: the column of @wire holding the value, or -1 (SQL NULL)
 * @error: return location for a #GError
 *
 * carb_replica_bind_value() of the value carb_model_column_variant()
 * gives for the wire column, with the same checks and the same stored
 * value, but read straight from the row: a first fill binds millions.
 *
 * Returns: %TRUE, or %FALSE with @error set
 */
gboolean
carb_replica_bind_row_value (sqlite3_stmt *stmt,
                             int index,
                             const CarbModel *model,
                             const CarbColumn *col,
                             const CarbModel *wire,
                             gconstpointer row,
                             gint wire_column,
                             GError **error)
{
  const CarbColumn *wc = wire_column >= 0 ? &wire->columns[wire_column] : NULL;
  if (wc == NULL || carb_column_is_null (wc, row))
    return carb_replica_bind_value (stmt, index, model, col, NULL, error);
  /* Another type takes the variant's checks (and errors). */
  if (wc->type != col->type)
    return bind_row_value_slow (stmt, index, model, col, wc, row, error);
  switch (col->type)
    {
    case CARB_COLUMN_TYPE_INT16:
      sqlite3_bind_int64 (stmt, index, ROW_MEMBER (row, wc, gint16));
      return TRUE;
    case CARB_COLUMN_TYPE_INT32:
    case CARB_COLUMN_TYPE_DATE:
      sqlite3_bind_int64 (stmt, index, ROW_MEMBER (row, wc, gint32));
      return TRUE;
    case CARB_COLUMN_TYPE_INT64:
    case CARB_COLUMN_TYPE_TIMESTAMP:
      sqlite3_bind_int64 (stmt, index, ROW_MEMBER (row, wc, gint64));
      return TRUE;
    case CARB_COLUMN_TYPE_FLOAT:
      bind_double (stmt, index, ROW_MEMBER (row, wc, gfloat));
      return TRUE;
    case CARB_COLUMN_TYPE_DOUBLE:
      bind_double (stmt, index, ROW_MEMBER (row, wc, gdouble));
      return TRUE;
    case CARB_COLUMN_TYPE_BOOL:
      sqlite3_bind_int (stmt, index, ROW_MEMBER (row, wc, gboolean) ? 1 : 0);
      return TRUE;
    case CARB_COLUMN_TYPE_BYTES:
      {
        const CarbBytes *bytes = &ROW_MEMBER (row, wc, CarbBytes);
        sqlite3_bind_blob64 (stmt, index, bytes->len > 0 ? (const void *) bytes->data : "", bytes->len,
                             SQLITE_STATIC);
        return TRUE;
      }
    default:
      {
        /* Valid UTF-8: the sink checked it. */
        const char *text = ROW_MEMBER (row, wc, char *);
        return bind_checked_text (stmt, index, model, col, text, strlen (text), SQLITE_STATIC, error);
      }
    }
}

/* Column @index of the current row of @stmt as @col's variant type (the
 * types of carb_model_row_to_variant()), or NULL for SQL NULL. Values got
 * into the table through carb_replica_bind_value() only; an application
 * that wrote another storage class itself gets SQLite's conversion. */
GVariant *
carb_replica_column_value (sqlite3_stmt *stmt, int index, const CarbColumn *col)
{
  if (sqlite3_column_type (stmt, index) == SQLITE_NULL)
    return NULL;
  switch (col->type)
    {
    case CARB_COLUMN_TYPE_INT16:
      return g_variant_ref_sink (g_variant_new_int16 ((gint16) sqlite3_column_int (stmt, index)));
    case CARB_COLUMN_TYPE_INT32:
    case CARB_COLUMN_TYPE_DATE:
      return g_variant_ref_sink (g_variant_new_int32 (sqlite3_column_int (stmt, index)));
    case CARB_COLUMN_TYPE_INT64:
    case CARB_COLUMN_TYPE_TIMESTAMP:
      return g_variant_ref_sink (g_variant_new_int64 (sqlite3_column_int64 (stmt, index)));
    case CARB_COLUMN_TYPE_FLOAT:
    case CARB_COLUMN_TYPE_DOUBLE:
      if (sqlite3_column_type (stmt, index) == SQLITE_TEXT
          && strcmp ((const char *) sqlite3_column_text (stmt, index), NAN_TEXT) == 0)
        return g_variant_ref_sink (g_variant_new_double (NAN));
      return g_variant_ref_sink (g_variant_new_double (sqlite3_column_double (stmt, index)));
    case CARB_COLUMN_TYPE_BOOL:
      return g_variant_ref_sink (g_variant_new_boolean (sqlite3_column_int64 (stmt, index) != 0));
    case CARB_COLUMN_TYPE_BYTES:
      {
        const void *data = sqlite3_column_blob (stmt, index);
        gsize len = (gsize) sqlite3_column_bytes (stmt, index);
        return g_variant_ref_sink (g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, len, 1));
      }
    default:
      {
        const char *text = (const char *) sqlite3_column_text (stmt, index);
        gsize len = (gsize) sqlite3_column_bytes (stmt, index);
        if (!g_utf8_validate_len (text, len, NULL))
          return g_variant_ref_sink (g_variant_new_take_string (g_utf8_make_valid (text, (gssize) len)));
        return g_variant_ref_sink (g_variant_new_string (text));
      }
    }
}

/* The first column of @role (the id, the tombstone flag), or NULL. */
const CarbColumn *
carb_replica_role_column (const CarbModel *model, CarbColumnRole role)
{
  for (guint i = 0; i < model->n_columns; i++)
    if (model->columns[i].role == role)
      return &model->columns[i];
  return NULL;
}

/* The model of @table in the replica's group, or NULL with
 * %CARB_ERROR_INVALID_DATA naming the table. */
const CarbModel *
carb_replica_find_model (CarbReplica *replica, const char *table, guint *index, GError **error)
{
  gint found = carb_sync_group_find_table (replica->group, table);
  if (found < 0)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "Table “%s” is not in sync group “%s” of replica “%s”", table,
                   carb_sync_group_get_name (replica->group), replica->path);
      return NULL;
    }
  if (index != NULL)
    *index = (guint) found;
  return carb_sync_group_get_model (replica->group, (guint) found);
}
