/* Carburetor — changeset rows (`a(ssa(s(tt)mv))`) written and read as
 * bytes directly, in GVariant's serialization format (GLib's "GVariant
 * Serialization" spec), without a tree of GVariant instances: a changeset,
 * an apply's answer and a download page hold every column of up to
 * thousands of rows, and building, serializing and then walking such a
 * tree per value cost more than the database work of an upload. The
 * bytes are exactly GLib's normal form (tests/test-wire-rows.c compares
 * them with GLib's own); the reader reads only bytes that GLib's
 * normal-form check accepted.
 *
 * The rules used: a value is aligned (padded with zero bytes) to its
 * type's alignment, here 8 for everything holding a `t` or a `v`, 1 for
 * strings; a string is its bytes and a NUL; `v` is the value's bytes, a
 * NUL and the type string; `mv` is nothing, or the `v` and a NUL; a
 * container of variable-size members ends with framing offsets, little
 * endian, each as wide as the container's size needs (1, 2, 4 or 8
 * bytes): an array holds the end of every element, in order, a tuple the
 * end of every variable-size member but the last, the first member's last.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <string.h>

/* ------------------------------------------------------------- writer */

static void
pad_to (GByteArray *buf, gsize alignment)
{
  static const guint8 zeros[8] = { 0 };
  gsize pad = (alignment - buf->len % alignment) % alignment;
  g_byte_array_append (buf, zeros, (guint) pad);
}

/* The width of the framing offsets of a container of @size bytes. */
static gsize
offset_size (gsize size)
{
  if (size > G_MAXUINT32)
    return 8;
  if (size > G_MAXUINT16)
    return 4;
  if (size > G_MAXUINT8)
    return 2;
  return size > 0 ? 1 : 0;
}

/* The size of a container of @body bytes and @n framing offsets. */
static gsize
total_size (gsize body, gsize n)
{
  if (body + n <= G_MAXUINT8)
    return body + n;
  if (body + 2 * n <= G_MAXUINT16)
    return body + 2 * n;
  if (body + 4 * n <= G_MAXUINT32)
    return body + 4 * n;
  return body + 8 * n;
}

static void
append_offset (GByteArray *buf, gsize value, gsize width)
{
  guint8 le[8];
  for (gsize i = 0; i < width; i++)
    le[i] = (guint8) (value >> (8 * i));
  g_byte_array_append (buf, le, (guint) width);
}

/* Ends a container that began at @start (@n offsets, @offsets[0] first in
 * the order of the format: the caller gives them as they go on the wire). */
static void
end_container (GByteArray *buf, gsize start, const gsize *offsets, gsize n)
{
  gsize width = offset_size (total_size (buf->len - start, n));
  for (gsize i = 0; i < n; i++)
    append_offset (buf, offsets[i], width);
}

static void
append_string (GByteArray *buf, const char *s)
{
  g_byte_array_append (buf, (const guint8 *) s, (guint) strlen (s) + 1);
}

void
carb_rows_writer_init (CarbRowsWriter *w, GByteArray *buf)
{
  memset (w, 0, sizeof *w);
  w->buf = buf;
  pad_to (buf, 8);
  w->start = buf->len;
  w->ends = g_array_new (FALSE, FALSE, sizeof (gsize));
  w->col_ends = g_array_new (FALSE, FALSE, sizeof (gsize));
}

void
carb_rows_writer_begin_row (CarbRowsWriter *w, const char *table, const char *row_id)
{
  GByteArray *buf = w->buf;
  pad_to (buf, 8);
  w->row_start = buf->len;
  append_string (buf, table);
  w->table_end = buf->len - w->row_start;
  append_string (buf, row_id);
  w->id_end = buf->len - w->row_start;
  pad_to (buf, 8);
  w->cols_start = buf->len;
  g_array_set_size (w->col_ends, 0);
}

/* A column's `(s(tt)mv)` up to its value: the name and the version.
 * Returns where the tuple starts; @name_end gets the name's end in it. */
static gsize
begin_column (GByteArray *buf, const char *name, const CarbVersion *version, gsize *name_end)
{
  pad_to (buf, 8);
  gsize start = buf->len;
  append_string (buf, name);
  *name_end = buf->len - start;
  pad_to (buf, 8);
  guint64 stamp[2] = { version->hlc, version->site };
  g_byte_array_append (buf, (const guint8 *) stamp, sizeof stamp);
  return start;
}

/* Closes the column tuple begun at @start and records its end. */
static void
end_column (CarbRowsWriter *w, gsize start, gsize name_end)
{
  end_container (w->buf, start, &name_end, 1);
  gsize end = w->buf->len - w->cols_start;
  g_array_append_val (w->col_ends, end);
}

void
carb_rows_writer_add_column (CarbRowsWriter *w, const char *name, const CarbVersion *version, GVariant *value)
{
  GByteArray *buf = w->buf;
  gsize name_end = 0;
  gsize start = begin_column (buf, name, version, &name_end);
  if (value != NULL)
    {
      gsize size = g_variant_get_size (value);
      if (size > 0)
        g_byte_array_append (buf, g_variant_get_data (value), (guint) size);
      g_byte_array_append (buf, (const guint8 *) "", 1);
      const char *type = g_variant_get_type_string (value);
      g_byte_array_append (buf, (const guint8 *) type, (guint) strlen (type));
      /* The maybe's "just" byte. */
      g_byte_array_append (buf, (const guint8 *) "", 1);
    }
  end_column (w, start, name_end);
}

/* The value of column @column of @row (a row of @model, not NULL) as the
 * `v` carb_model_column_variant() would make of it: its bytes, a NUL and
 * its type string. */
static void
append_raw_value (GByteArray *buf, const CarbColumn *col, gconstpointer row)
{
  const guint8 *member = (const guint8 *) row + col->offset;
  const char *type = "s";
  union
  {
    gint16 n;
    gint32 i;
    gint64 x;
    gdouble d;
    guint8 b;
  } v;
  gsize size = 0;
  const guint8 *data = (const guint8 *) &v;
  switch (col->type)
    {
    case CARB_COLUMN_TYPE_INT16:
      memcpy (&v.n, member, sizeof v.n), size = sizeof v.n, type = "n";
      break;
    case CARB_COLUMN_TYPE_INT32:
    case CARB_COLUMN_TYPE_DATE:
      memcpy (&v.i, member, sizeof v.i), size = sizeof v.i, type = "i";
      break;
    case CARB_COLUMN_TYPE_INT64:
    case CARB_COLUMN_TYPE_TIMESTAMP:
      memcpy (&v.x, member, sizeof v.x), size = sizeof v.x, type = "x";
      break;
    case CARB_COLUMN_TYPE_FLOAT:
      {
        gfloat f;
        memcpy (&f, member, sizeof f);
        v.d = f, size = sizeof v.d, type = "d";
        break;
      }
    case CARB_COLUMN_TYPE_DOUBLE:
      memcpy (&v.d, member, sizeof v.d), size = sizeof v.d, type = "d";
      break;
    case CARB_COLUMN_TYPE_BOOL:
      {
        gboolean b;
        memcpy (&b, member, sizeof b);
        v.b = b ? 1 : 0, size = 1, type = "b";
        break;
      }
    case CARB_COLUMN_TYPE_BYTES:
      {
        const CarbBytes *bytes = (const CarbBytes *) (gconstpointer) member;
        data = bytes->data, size = bytes->len, type = "ay";
        break;
      }
    default:
      {
        const char *text = *(char *const *) (gconstpointer) member;
        data = (const guint8 *) text, size = strlen (text) + 1;
        break;
      }
    }
  if (size > 0)
    g_byte_array_append (buf, data, (guint) size);
  g_byte_array_append (buf, (const guint8 *) "", 1);
  g_byte_array_append (buf, (const guint8 *) type, (guint) strlen (type));
}

void
carb_rows_writer_add_raw_column (CarbRowsWriter *w,
                                 const char *name,
                                 const CarbVersion *version,
                                 const CarbModel *model,
                                 guint column,
                                 gconstpointer row)
{
  GByteArray *buf = w->buf;
  gsize name_end = 0;
  gsize start = begin_column (buf, name, version, &name_end);
  if (!carb_model_row_is_null (model, row, column))
    {
      append_raw_value (buf, &model->columns[column], row);
      /* The maybe's "just" byte. */
      g_byte_array_append (buf, (const guint8 *) "", 1);
    }
  end_column (w, start, name_end);
}

void
carb_columns_writer_begin (CarbRowsWriter *w)
{
  memset (w, 0, sizeof *w);
  w->buf = g_byte_array_new ();
  w->col_ends = g_array_new (FALSE, FALSE, sizeof (gsize));
}

GBytes *
carb_columns_writer_end (CarbRowsWriter *w)
{
  end_container (w->buf, 0, (const gsize *) (gpointer) w->col_ends->data, w->col_ends->len);
  g_clear_pointer (&w->col_ends, g_array_unref);
  return g_byte_array_free_to_bytes (w->buf);
}

static void
end_row_tuple (CarbRowsWriter *w)
{
  GByteArray *buf = w->buf;
  gsize offsets[2] = { w->id_end, w->table_end };
  end_container (buf, w->row_start, offsets, 2);
  gsize end = buf->len - w->start;
  g_array_append_val (w->ends, end);
  w->n_rows++;
}

void
carb_rows_writer_add_row_columns (CarbRowsWriter *w, const char *table, const char *row_id, GBytes *columns)
{
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (columns, &size);
  carb_rows_writer_begin_row (w, table, row_id);
  /* The columns' array was written from an 8-aligned start, as it is put
   * here: its bytes hold wherever they go. */
  if (size > 0)
    g_byte_array_append (w->buf, data, (guint) size);
  end_row_tuple (w);
}

void
carb_rows_writer_end_row (CarbRowsWriter *w)
{
  GByteArray *buf = w->buf;
  end_container (buf, w->cols_start, (const gsize *) (gpointer) w->col_ends->data, w->col_ends->len);
  end_row_tuple (w);
}

void
carb_rows_writer_end (CarbRowsWriter *w)
{
  end_container (w->buf, w->start, (const gsize *) (gpointer) w->ends->data, w->ends->len);
  g_clear_pointer (&w->ends, g_array_unref);
  g_clear_pointer (&w->col_ends, g_array_unref);
}

void
carb_rows_writer_clear (CarbRowsWriter *w)
{
  g_clear_pointer (&w->ends, g_array_unref);
  g_clear_pointer (&w->col_ends, g_array_unref);
}

void
carb_rows_writer_add_changes (CarbRowsWriter *w, const CarbChange *changes, gsize n_changes)
{
  for (gsize i = 0; i < n_changes;)
    {
      const CarbChange *first = &changes[i];
      carb_rows_writer_begin_row (w, first->table, first->row_id);
      for (; i < n_changes && strcmp (first->table, changes[i].table) == 0
             && strcmp (first->row_id, changes[i].row_id) == 0;
           i++)
        if (changes[i].column != NULL) /* NULL: a withdrawal, a row with no column */
          carb_rows_writer_add_column (w, changes[i].column, &changes[i].version, changes[i].value);
      carb_rows_writer_end_row (w);
    }
}

/* Appends a tuple of strings (an `(ssss)` rejection) to the array being
 * written from @start: its end goes to @ends. */
void
carb_wire_append_strings (GByteArray *buf, gsize start, GArray *ends, const char *const *strings, guint n)
{
  gsize tuple = buf->len;
  g_autofree gsize *offsets = g_new (gsize, n);
  for (guint i = 0; i < n; i++)
    {
      append_string (buf, strings[i]);
      /* The first string's end goes last. */
      if (i + 1 < n)
        offsets[n - 2 - i] = buf->len - tuple;
    }
  end_container (buf, tuple, offsets, n - 1);
  gsize end = buf->len - start;
  g_array_append_val (ends, end);
}

void
carb_wire_end_array (GByteArray *buf, gsize start, GArray *ends)
{
  end_container (buf, start, (const gsize *) (gpointer) ends->data, ends->len);
}

void
carb_wire_end_tuple (GByteArray *buf, gsize start, const gsize *offsets, gsize n)
{
  end_container (buf, start, offsets, n);
}

/* ------------------------------------------------------------- reader */

static gsize
read_offset (const guint8 *p, gsize width)
{
  gsize v = 0;
  for (gsize i = 0; i < width; i++)
    v |= (gsize) p[i] << (8 * i);
  return v;
}

static gsize
align8 (gsize n)
{
  return (n + 7) & ~(gsize) 7;
}

typedef struct
{
  const guint8 *data;
  gsize size;
  gsize width;    /* of the offsets */
  gsize table;    /* where they begin */
  gsize n;        /* elements */
  gsize previous; /* the end of the element before the next */
  gsize next;
} ArrayIter;

static gboolean
array_init (ArrayIter *it, const guint8 *data, gsize size)
{
  memset (it, 0, sizeof *it);
  it->data = data;
  it->size = size;
  if (size == 0)
    return TRUE;
  it->width = offset_size (size);
  it->table = read_offset (data + size - it->width, it->width);
  if (it->table > size || (size - it->table) % it->width != 0)
    return FALSE;
  it->n = (size - it->table) / it->width;
  return TRUE;
}

/* The next element of an array whose elements align to @alignment. */
static gboolean
array_next (ArrayIter *it, gsize alignment, gsize *start, gsize *end, gboolean *ok)
{
  if (it->next >= it->n)
    return FALSE;
  gsize s = it->next == 0 ? 0 : (it->previous + alignment - 1) / alignment * alignment;
  gsize e = read_offset (it->data + it->table + it->next * it->width, it->width);
  if (s > e || e > it->table)
    {
      *ok = FALSE;
      return FALSE;
    }
  *start = s;
  *end = e;
  it->previous = e;
  it->next++;
  return TRUE;
}

/* A NUL-terminated string of [start, end) of @data. */
static const char *
string_at (const guint8 *data, gsize start, gsize end)
{
  if (start >= end || data[end - 1] != '\0')
    return NULL;
  return (const char *) data + start;
}

/* The value of a `mv` at [start, end) of @data, which @bytes hold from
 * @base: NULL in @value for nothing. */
static gboolean
read_maybe_variant (GBytes *bytes, gsize base, const guint8 *data, gsize start, gsize end, GVariant **value)
{
  *value = NULL;
  if (start == end)
    return TRUE;
  /* The "just" byte, which also ends the type string. */
  if (data[end - 1] != '\0')
    return FALSE;
  gsize v_end = end - 1;
  gsize nul = v_end;
  while (nul > start && data[nul - 1] != '\0')
    nul--;
  if (nul == start || nul == v_end)
    return FALSE;
  const char *type = (const char *) data + nul;
  if (!g_variant_type_string_is_valid (type))
    return FALSE;
  g_autoptr (GBytes) child = g_bytes_new_from_bytes (bytes, base + start, nul - 1 - start);
  *value = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (type), child, TRUE));
  return TRUE;
}

static gboolean
read_column (GBytes *bytes, gsize base, const guint8 *data, gsize size, CarbChange *c)
{
  gsize width = offset_size (size);
  if (size < width)
    return FALSE;
  gsize name_end = read_offset (data + size - width, width);
  gsize stamp = align8 (name_end);
  const char *name = string_at (data, 0, name_end);
  if (name == NULL || stamp + 16 > size - width)
    return FALSE;
  guint64 v[2];
  memcpy (v, data + stamp, sizeof v);
  c->column = g_strdup (name);
  c->version.hlc = v[0];
  c->version.site = v[1];
  return read_maybe_variant (bytes, base, data, stamp + 16, size - width, &c->value);
}

static gboolean
read_row (GBytes *bytes, gsize base, const guint8 *data, gsize size, gboolean withdrawals, GArray *changes)
{
  gsize width = offset_size (size);
  if (size < 2 * width)
    return FALSE;
  gsize table_end = read_offset (data + size - width, width);
  gsize id_end = read_offset (data + size - 2 * width, width);
  gsize cols = align8 (id_end);
  gsize cols_end = size - 2 * width;
  const char *table = string_at (data, 0, table_end);
  const char *row_id = table_end <= id_end ? string_at (data, table_end, id_end) : NULL;
  if (table == NULL || row_id == NULL || cols > cols_end)
    return FALSE;
  ArrayIter it;
  if (!array_init (&it, data + cols, cols_end - cols))
    return FALSE;
  if (withdrawals && cols_end == cols)
    {
      CarbChange c = { g_strdup (table), g_strdup (row_id), NULL, { 0, 0 }, NULL };
      g_array_append_val (changes, c);
      return TRUE;
    }
  gsize start = 0, end = 0;
  gboolean ok = TRUE;
  while (array_next (&it, 8, &start, &end, &ok))
    {
      CarbChange c = { g_strdup (table), g_strdup (row_id), NULL, { 0, 0 }, NULL };
      g_array_append_val (changes, c);
      if (!read_column (bytes, base + cols + start, data + cols + start, end - start,
                        &g_array_index (changes, CarbChange, changes->len - 1)))
        return FALSE;
    }
  return ok;
}

gboolean
carb_wire_read_rows (GBytes *bytes, gsize offset, gsize size, gboolean withdrawals, GArray *changes)
{
  gsize len = 0;
  const guint8 *all = g_bytes_get_data (bytes, &len);
  if (offset > len || size > len - offset)
    return FALSE;
  const guint8 *data = all + offset;
  ArrayIter it;
  if (!array_init (&it, data, size))
    return FALSE;
  gsize start = 0, end = 0;
  gboolean ok = TRUE;
  while (array_next (&it, 8, &start, &end, &ok))
    if (!read_row (bytes, offset + start, data + start, end - start, withdrawals, changes))
      return FALSE;
  return ok;
}
