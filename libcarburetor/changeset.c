/* Carburetor — changesets as bytes: what an upload carries, so that a
 * later transport only moves bytes (docs/TWOWAY.md). One serialized
 * GVariant: its format is fixed and documented by GLib, and a parser
 * that checks the normal form reads hostile bytes safely.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <string.h>

#define CHANGESET_FORMAT 1u
/* (format, [(table, row id, [(column, (hlc, site), value or nothing)])]) */
#define CHANGESET_TYPE "(u" CARB_CHANGESET_ROWS_TYPE ")"

/* Starts a changeset's bytes: the format, then the rows @w writes. */
void
carb_changeset_writer_begin (CarbRowsWriter *w)
{
  GByteArray *buf = g_byte_array_new ();
  guint32 format = CHANGESET_FORMAT;
  g_byte_array_append (buf, (const guint8 *) &format, sizeof format);
  carb_rows_writer_init (w, buf);
}

/* The changeset's bytes, once every row was written. */
GBytes *
carb_changeset_writer_finish (CarbRowsWriter *w)
{
  carb_rows_writer_end (w);
  return g_byte_array_free_to_bytes (w->buf);
}

/**
 * carb_changeset_serialize: (skip)
 * @changes: (array length=n_changes): column writes; consecutive writes of
 *   one row are grouped; a floating value is consumed, as
 *   g_variant_builder_add_value() would; a change whose column is %NULL
 *   writes its row with no column (a withdrawal, see #CarbChange) unless
 *   the row has other changes
 * @n_changes: their number
 *
 * Not in the introspection data: a binding can neither own a #CarbChange
 * (a plain struct, no boxed type) nor set its #GVariant; bindings carry
 * changesets as the bytes carb_replica_collect_changes() gives and
 * carb_store_apply_changes() takes.
 *
 * Returns: (transfer full): the changeset's bytes (format 1)
 */
GBytes *
carb_changeset_serialize (const CarbChange *changes, gsize n_changes)
{
  /* The writer reads the values without taking them: a floating one is
   * sunk here and let go after, or it would leak (GLib's convention for a
   * floating argument, which the GVariantBuilder this replaced kept). */
  g_autoptr (GPtrArray) sunk = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  for (gsize i = 0; i < n_changes; i++)
    if (changes[i].value != NULL && g_variant_is_floating (changes[i].value))
      g_ptr_array_add (sunk, g_variant_ref_sink (changes[i].value));
  CarbRowsWriter w;
  carb_changeset_writer_begin (&w);
  carb_rows_writer_add_changes (&w, changes, n_changes);
  return carb_changeset_writer_finish (&w);
}

static void
change_clear (gpointer data)
{
  CarbChange *c = data;
  g_free (c->table);
  g_free (c->row_id);
  g_free (c->column);
  g_clear_pointer (&c->value, g_variant_unref);
}

static void
malformed (GError **error, const char *why)
{
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA, "Malformed changeset: %s", why);
}

/* Bytes from anywhere as a GVariant of @type in normal form, or NULL with
 * CARB_ERROR_INVALID_DATA ("Malformed <what>: …"). GLib 2.74's normal-form
 * check can read a byte past the end of a tiny buffer (seen under valgrind
 * with 4-byte input): it reads a copy that has zeroed slack after the
 * data, so no hostile length reads outside it. */
GVariant *
carb_variant_from_untrusted (GBytes *bytes, const char *type, const char *what, GError **error)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  guint8 *copy = g_malloc0 (len + 16);
  if (len > 0)
    memcpy (copy, data, len);
  g_autoptr (GVariant) v
      = g_variant_ref_sink (g_variant_new_from_data (G_VARIANT_TYPE (type), copy, len, FALSE, g_free, copy));
  if (!g_variant_is_normal_form (v))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "Malformed %s: not a serialized %s in normal form", what, what);
      return NULL;
    }
  return g_steal_pointer (&v);
}

GArray *
carb_changeset_changes_new (void)
{
  GArray *changes = g_array_new (FALSE, TRUE, sizeof (CarbChange));
  g_array_set_clear_func (changes, change_clear);
  return changes;
}

/* The column writes of the changeset rows @rows (a normal-form
 * `a(ssa(s(tt)mv))` child of the serialized @whole), in order, with a
 * change of column NULL for each row with no column when @withdrawals;
 * the array clears its elements. NULL for bytes that are not rows. */
GArray *
carb_changeset_rows_read (GVariant *whole, GVariant *rows, gboolean withdrawals)
{
  g_autoptr (GArray) changes = carb_changeset_changes_new ();
  gsize size = g_variant_get_size (rows);
  if (size == 0)
    return g_steal_pointer (&changes);
  g_autoptr (GBytes) bytes = g_variant_get_data_as_bytes (whole);
  const guint8 *base = g_bytes_get_data (bytes, NULL);
  const guint8 *data = g_variant_get_data (rows);
  if (base == NULL || data < base
      || !carb_wire_read_rows (bytes, (gsize) (data - base), size, withdrawals, changes))
    return NULL;
  return g_steal_pointer (&changes);
}

/**
 * carb_changeset_parse: (skip)
 * @bytes: bytes from carb_changeset_serialize(), from anywhere
 * @error: return location for a #GError
 *
 * Reads a changeset. Bytes that are not one in normal form, or of another
 * format, are %CARB_ERROR_INVALID_DATA; nothing is guessed. A row with no
 * column (a download page's withdrawal) is one change whose column is
 * %NULL.
 *
 * Not in the introspection data: Python and gjs wrapped each element in
 * place, then freed the array under the wrappers (a #CarbChange is a plain
 * struct they cannot copy), so reading a field read freed memory.
 *
 * Returns: (transfer full) (element-type CarbChange) (nullable): the
 *   column writes in order
 */
GArray *
carb_changeset_parse (GBytes *bytes, GError **error)
{
  g_return_val_if_fail (bytes != NULL, NULL);
  g_autoptr (GVariant) set = carb_variant_from_untrusted (bytes, CHANGESET_TYPE, "changeset", error);
  if (set == NULL)
    return NULL;
  guint32 format = 0;
  g_autoptr (GVariant) rows = NULL;
  g_variant_get (set, "(u@" CARB_CHANGESET_ROWS_TYPE ")", &format, &rows);
  if (format != CHANGESET_FORMAT)
    {
      malformed (error, "unknown format version (this library reads format 1)");
      return NULL;
    }
  GArray *changes = carb_changeset_rows_read (set, rows, TRUE);
  if (changes == NULL)
    malformed (error, "its rows cannot be read");
  return changes;
}
