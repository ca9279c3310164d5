/* Carburetor — the row decoder: values from a backend into the model's
 * struct. Strings and bytes go to an arena (arena.c) so that a whole
 * result is freed at once and a streaming sync reuses one block for every
 * row.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <math.h>
#include <string.h>

struct _CarbSink
{
  const CarbModel *model;
  GCancellable *cancellable;
  CarbArena *arena;
  /* Buffered: every row, contiguous. Streaming: one row, reused. */
  guint8 *rows;
  gsize n_rows;   /* rows finished */
  gsize capacity; /* rows allocated */
  gboolean streaming;
  gboolean row_open;
  CarbRowFunc func;
  gpointer user_data;
  CarbSinkProgressFunc progress; /* every CARB_SINK_PROGRESS_ROWS rows */
  gpointer progress_data;
  GError *error;    /* the first bad value of the open row */
  guint key_column; /* the query's id column, or G_MAXUINT */
};

static CarbSink *
sink_new (const CarbModel *model, GCancellable *cancellable)
{
  CarbSink *sink = g_new0 (CarbSink, 1);
  sink->model = model;
  sink->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  sink->arena = carb_arena_new ();
  sink->key_column = G_MAXUINT;
  return sink;
}

CarbSink *
carb_sink_new_buffered (const CarbModel *model, GCancellable *cancellable)
{
  return sink_new (model, cancellable);
}

CarbSink *
carb_sink_new_streaming (const CarbModel *model,
                         CarbRowFunc func,
                         gpointer user_data,
                         GCancellable *cancellable)
{
  CarbSink *sink = sink_new (model, cancellable);
  sink->streaming = TRUE;
  sink->func = func;
  sink->user_data = user_data;
  sink->capacity = 1;
  sink->rows = g_malloc0 (model->struct_size);
  return sink;
}

/* Progress is an internal hook (the async API's): called from the thread
 * running the backend, so @func must only hand the count on. */
void
carb_sink_set_progress (CarbSink *sink, CarbSinkProgressFunc func, gpointer user_data)
{
  sink->progress = func;
  sink->progress_data = user_data;
}

/* Marks @column as the key a page cursor is taken from (check_uuid()). */
void
carb_sink_set_key_column (CarbSink *sink, guint column)
{
  sink->key_column = column;
}

void
carb_sink_free (CarbSink *sink)
{
  if (sink == NULL)
    return;
  g_clear_object (&sink->cancellable);
  carb_arena_free (sink->arena);
  g_free (sink->rows);
  g_clear_error (&sink->error);
  g_free (sink);
}

gsize
carb_sink_get_n_rows (const CarbSink *sink)
{
  return sink->n_rows;
}

gconstpointer
carb_sink_get_last_row (const CarbSink *sink)
{
  if (sink->n_rows == 0)
    return NULL;
  if (sink->streaming)
    return sink->rows;
  return sink->rows + (sink->n_rows - 1) * sink->model->struct_size;
}

/* Row @i of a buffered sink, valid while the sink lives and takes no
 * more rows. */
gconstpointer
carb_sink_get_row (const CarbSink *sink, gsize i)
{
  g_return_val_if_fail (!sink->streaming && i < sink->n_rows, NULL);
  return sink->rows + i * sink->model->struct_size;
}

gpointer
carb_sink_steal_rows (CarbSink *sink, gsize *n_rows, CarbArena **arena, const CarbModel **model)
{
  *model = sink->model;
  g_return_val_if_fail (!sink->streaming, NULL);
  gpointer rows = g_steal_pointer (&sink->rows);
  *n_rows = sink->n_rows;
  *arena = g_steal_pointer (&sink->arena);
  sink->n_rows = sink->capacity = 0;
  return rows;
}

/* Opens the next row: a zeroed struct. Streaming sinks reuse their one row
 * and recycle the previous row's strings only now, so the last row stays
 * readable after the sync (it is the page cursor). */
static guint8 *
current_row (CarbSink *sink)
{
  gsize size = sink->model->struct_size;

  if (!sink->row_open)
    {
      if (sink->streaming)
        carb_arena_reset (sink->arena);
      else if (sink->n_rows == sink->capacity)
        {
          sink->capacity = MAX (64, sink->capacity * 2);
          sink->rows = g_realloc_n (sink->rows, sink->capacity, size);
        }
      memset (sink->rows + (sink->streaming ? 0 : sink->n_rows * size), 0, size);
      sink->row_open = TRUE;
    }
  return sink->rows + (sink->streaming ? 0 : sink->n_rows * size);
}

static void bad_value_va (CarbSink *sink, guint column, const char *format, va_list args)
    G_GNUC_PRINTF (3, 0);

static void
bad_value_va (CarbSink *sink, guint column, const char *format, va_list args)
{
  if (sink->error != NULL)
    return;
  g_autofree char *detail = g_strdup_vprintf (format, args);
  const char *name = column < sink->model->n_columns ? sink->model->columns[column].name : "?";
  g_set_error (&sink->error, CARB_ERROR, CARB_ERROR_INVALID_DATA, "Table “%s”, column “%s”: %s",
               sink->model->table, name, detail);
}

static void bad_value (CarbSink *sink, guint column, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
bad_value (CarbSink *sink, guint column, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  bad_value_va (sink, column, format, args);
  va_end (args);
}

/**
 * carb_sink_fail:
 * @sink: the sink
 * @column: index of the column in the model
 * @format: printf() format of what is wrong with the value
 * @...: its arguments
 *
 * Fails the current row because the backend cannot decode @column's value
 * (a value the model's type cannot hold without loss). carb_sink_end_row()
 * then returns %FALSE with an error naming the table and column.
 *
 * Since: 1.0
 */
void
carb_sink_fail (CarbSink *sink, guint column, const char *format, ...)
{
  va_list args;
  current_row (sink);
  va_start (args, format);
  bad_value_va (sink, column, format, args);
  va_end (args);
}

/* The column's member in the open row, or NULL (error recorded) when
 * @column is out of range or its type is not one of @mask. */
static guint8 *
member (CarbSink *sink, guint column, guint mask, const char *what)
{
  guint8 *row = current_row (sink);

  if (G_UNLIKELY (column >= sink->model->n_columns))
    {
      bad_value (sink, column, "the backend handed column %u of %u", column, sink->model->n_columns);
      return NULL;
    }
  const CarbColumn *col = &sink->model->columns[column];
  if (G_UNLIKELY ((CARB_COLUMN_TYPE_MASK_OF (col->type) & mask) == 0))
    {
      bad_value (sink, column, "the backend handed %s for a %s column", what,
                 carb_column_type_to_string (col->type));
      return NULL;
    }
  return row + col->offset;
}

/**
 * carb_sink_set_null:
 * @sink: the sink
 * @column: index of the column in the model
 *
 * Hands SQL NULL for @column of the current row. NULL in a column the model
 * declares NOT NULL fails the row (%CARB_ERROR_INVALID_DATA).
 *
 * Since: 1.0
 */
void
carb_sink_set_null (CarbSink *sink, guint column)
{
  guint8 *row = current_row (sink);

  if (column >= sink->model->n_columns)
    {
      bad_value (sink, column, "the backend handed column %u of %u", column, sink->model->n_columns);
      return;
    }
  const CarbColumn *col = &sink->model->columns[column];
  if ((col->flags & CARB_COLUMN_FLAGS_NULLABLE) == 0)
    {
      bad_value (sink, column, "NULL in a column the model declares NOT NULL");
      return;
    }
  if (col->null_offset >= 0)
    *(gboolean *) (row + col->null_offset) = TRUE;
  /* The member itself stays zero: a NULL pointer, or 0. */
}

#define INT_TYPES                                                                                            \
  (CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_INT16) | CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_INT32)     \
   | CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_INT64) | CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_BOOL)    \
   | CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_TIMESTAMP)                                                   \
   | CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_DATE))
#define FLOAT_TYPES                                                                                          \
  (CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_FLOAT) | CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_DOUBLE))
#define TEXT_TYPES                                                                                           \
  (CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_TEXT) | CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_UUID)       \
   | CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_JSON) | CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_NUMERIC))

/**
 * carb_sink_set_int:
 * @sink: the sink
 * @column: index of the column in the model
 * @value: the value: an integer; 0 or 1 for BOOL; microseconds since the
 *   Unix epoch for TIMESTAMP; days since 1970-01-01 for DATE
 *
 * Hands an integer-like value. A value out of the member's range fails the
 * row rather than being truncated.
 *
 * Since: 1.0
 */
void
carb_sink_set_int (CarbSink *sink, guint column, gint64 value)
{
  guint8 *p = member (sink, column, INT_TYPES, "an integer");
  if (p == NULL)
    return;
  switch (sink->model->columns[column].type)
    {
    case CARB_COLUMN_TYPE_INT16:
      if (value < G_MININT16 || value > G_MAXINT16)
        {
          bad_value (sink, column, "%" G_GINT64_FORMAT " does not fit in gint16", value);
          return;
        }
      *(gint16 *) p = (gint16) value;
      break;
    case CARB_COLUMN_TYPE_INT32:
    case CARB_COLUMN_TYPE_DATE:
      if (value < G_MININT32 || value > G_MAXINT32)
        {
          bad_value (sink, column, "%" G_GINT64_FORMAT " does not fit in gint32", value);
          return;
        }
      *(gint32 *) p = (gint32) value;
      break;
    case CARB_COLUMN_TYPE_BOOL:
      /* 0/1 only: a 2 in an SQLite "boolean" is someone else's data, and
       * folding it into TRUE would hide that. */
      if (value != 0 && value != 1)
        {
          bad_value (sink, column, "%" G_GINT64_FORMAT " is not a boolean (0 or 1)", value);
          return;
        }
      *(gboolean *) p = (gboolean) value;
      break;
    default: /* INT64, TIMESTAMP */
      *(gint64 *) p = value;
      break;
    }
}

/**
 * carb_sink_set_double:
 * @sink: the sink
 * @column: index of the column in the model
 * @value: the value, NaN and infinities included
 *
 * Hands a floating-point value for a FLOAT or DOUBLE column. A finite
 * value beyond gfloat's range fails a FLOAT column's row.
 *
 * Since: 1.0
 */
void
carb_sink_set_double (CarbSink *sink, guint column, gdouble value)
{
  guint8 *p = member (sink, column, FLOAT_TYPES, "a floating-point value");
  if (p == NULL)
    return;
  if (sink->model->columns[column].type == CARB_COLUMN_TYPE_FLOAT)
    {
      /* Rounding to the nearest float is what a FLOAT member means; a
       * finite value beyond its range would become an infinity instead. */
      gfloat f = (gfloat) value; /* IEEE 754 (Annex F): rounds, or overflows to ±Inf */
      if (isinf (f) && isfinite (value))
        {
          bad_value (sink, column, "%g does not fit in gfloat", value);
          return;
        }
      *(gfloat *) p = f;
    }
  else
    *(gdouble *) p = value;
}

/* A UUID is handed over in canonical lower case. A key is not lower-cased
 * but refused: the database compares a page cursor with the text it
 * stores, so a cursor 'ab…' made from a stored 'AB…' would skip every key
 * sorting between the two at the same stamp, and an upload's lookup of
 * 'ab…' would not find the row. */
static gboolean
check_uuid (CarbSink *sink, guint column, char *copy, gsize len)
{
  const char *name = sink->model->columns[column].name;

  if (carb_value_is_canonical_uuid (copy, len))
    return TRUE;
  if (!carb_value_is_uuid (copy, len))
    bad_value (sink, column, "“%.40s” is not a UUID (8-4-4-4-12 hexadecimal digits)", copy);
  else if (column != sink->key_column)
    return carb_value_canonical_uuid (copy, len);
  else
    bad_value (sink, column,
               "the key “%s” is a UUID not in lower case; keys are compared as stored (paging cursors, "
               "uploads), so store them in lower case (UPDATE %s SET %s = lower(%s))",
               copy, sink->model->table, name, name);
  return FALSE;
}

/* UUID, JSON and NUMERIC promise more than text: a canonical lower-case
 * UUID, valid JSON, a decimal. A database that checks (PostgreSQL's own
 * types) always passes; one that does not (SQLite TEXT) may hold anything,
 * and then the row fails instead of handing the application a broken
 * promise. */
static gboolean
check_text_kind (CarbSink *sink, guint column, char *copy, gsize len)
{
  switch (sink->model->columns[column].type)
    {
    case CARB_COLUMN_TYPE_UUID:
      return check_uuid (sink, column, copy, len);
    case CARB_COLUMN_TYPE_JSON:
      if (carb_value_is_json (copy, len))
        return TRUE;
      bad_value (sink, column, "the text is not valid JSON (RFC 8259): “%.40s”", copy);
      return FALSE;
    case CARB_COLUMN_TYPE_NUMERIC:
      if (carb_value_is_decimal (copy, len))
        return TRUE;
      bad_value (sink, column, "“%.40s” is not a decimal number", copy);
      return FALSE;
    default:
      return TRUE;
    }
}

/* Most text is ASCII: checked eight bytes at a time, it skips the
 * byte-by-byte UTF-8 walk (and also rules out a NUL, which an ASCII word
 * test would not: NUL bytes fall to g_utf8_validate_len(), which refuses
 * them). */
static gboolean
is_ascii (const char *text, gsize len)
{
  const guint64 high = G_GUINT64_CONSTANT (0x8080808080808080);
  const guint64 ones = G_GUINT64_CONSTANT (0x0101010101010101);
  gsize i = 0;
  for (; i + 8 <= len; i += 8)
    {
      guint64 word;
      memcpy (&word, text + i, 8);
      /* A high bit set, or a zero byte ((w - ones) & ~w & high). */
      if ((word & high) != 0 || ((word - ones) & ~word & high) != 0)
        return FALSE;
    }
  for (; i < len; i++)
    if ((guchar) text[i] >= 0x80 || text[i] == '\0')
      return FALSE;
  return TRUE;
}

/**
 * carb_sink_set_text:
 * @sink: the sink
 * @column: index of the column in the model
 * @text: (array length=len): UTF-8 text, not necessarily nul-terminated
 * @len: its length in bytes
 *
 * Hands text for a TEXT, UUID, JSON or NUMERIC column; the core copies it.
 * Text with an embedded NUL byte (a C string would silently truncate it)
 * or that is not valid UTF-8 fails the row.
 *
 * Since: 1.0
 */
void
carb_sink_set_text (CarbSink *sink, guint column, const char *text, gsize len)
{
  guint8 *p = member (sink, column, TEXT_TYPES, "text");
  if (p == NULL)
    return;
  if (G_UNLIKELY (!is_ascii (text, len) && !g_utf8_validate_len (text, len, NULL)))
    {
      /* A char * member is UTF-8 to every GLib consumer; SQLite text and
       * a SQL_ASCII PostgreSQL database can hold anything. */
      if (memchr (text, '\0', len) != NULL)
        bad_value (sink, column, "the text holds a NUL byte; declare the column as BYTES");
      else
        bad_value (sink, column, "the text is not valid UTF-8; declare the column as BYTES");
      return;
    }
  char *copy = (char *) carb_arena_alloc (sink->arena, len + 1);
  memcpy (copy, text, len);
  copy[len] = '\0';
  if (G_UNLIKELY (!check_text_kind (sink, column, copy, len)))
    return;
  *(char **) p = copy;
}

/**
 * carb_sink_set_bytes:
 * @sink: the sink
 * @column: index of the column in the model
 * @data: (array length=len): the bytes
 * @len: their number
 *
 * Hands a byte string for a BYTES column; the core copies it. An empty
 * value gets a non-%NULL pointer, so that it differs from NULL.
 *
 * Since: 1.0
 */
void
carb_sink_set_bytes (CarbSink *sink, guint column, const guint8 *data, gsize len)
{
  guint8 *p = member (sink, column, CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_BYTES), "bytes");
  if (p == NULL)
    return;
  guint8 *copy = carb_arena_alloc (sink->arena, MAX (len, 1));
  if (len > 0)
    memcpy (copy, data, len);
  *(CarbBytes *) p = (CarbBytes){ .data = copy, .len = len };
}

/**
 * carb_sink_end_row:
 * @sink: the sink
 * @error: return location for a #GError
 *
 * Closes the current row and hands it on (to the result, or to the
 * application's #CarbRowFunc in a streaming sync).
 *
 * Returns: %TRUE to go on; %FALSE with @error set when a value of the row
 *   was bad, the application stopped, or the sync was cancelled. The
 *   backend must then stop and return %FALSE with that error.
 *
 * Since: 1.0
 */
gboolean
carb_sink_end_row (CarbSink *sink, GError **error)
{
  guint8 *row = current_row (sink);

  sink->row_open = FALSE;
  if (sink->error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&sink->error));
      return FALSE;
    }
  sink->n_rows++;
  if (sink->func != NULL)
    {
      GError *local = NULL;
      if (!sink->func (row, sink->user_data, &local))
        {
          if (local == NULL) /* a callback that forgot its error still stops */
            local
                = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "The row callback stopped the sync");
          g_propagate_error (error, local);
          return FALSE;
        }
    }
  if (sink->progress != NULL && sink->n_rows % CARB_SINK_PROGRESS_ROWS == 0)
    sink->progress (sink->n_rows, sink->progress_data);
  if ((sink->n_rows & 255) == 0 && g_cancellable_set_error_if_cancelled (sink->cancellable, error))
    return FALSE;
  return TRUE;
}
