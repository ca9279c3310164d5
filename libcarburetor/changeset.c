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

static gboolean
same_row (const CarbChange *a, const CarbChange *b)
{
  return strcmp (a->table, b->table) == 0 && strcmp (a->row_id, b->row_id) == 0;
}

/* The rows of a changeset, `a(ssa(s(tt)mv))`, from column writes whose
 * consecutive writes of one row are grouped; floating. Apply results carry
 * merged rows in the same form (apply-result.c). */
GVariant *
carb_changeset_rows_build (const CarbChange *changes, gsize n_changes)
{
  GVariantBuilder rows;
  g_variant_builder_init (&rows, G_VARIANT_TYPE (CARB_CHANGESET_ROWS_TYPE));
  for (gsize i = 0; i < n_changes;)
    {
      const CarbChange *first = &changes[i];
      GVariantBuilder columns;
      g_variant_builder_init (&columns, G_VARIANT_TYPE ("a(s(tt)mv)"));
      for (; i < n_changes && same_row (first, &changes[i]); i++)
        {
          const CarbChange *c = &changes[i];
          g_variant_builder_add (
              &columns, "(s(tt)@mv)", c->column, c->version.hlc, c->version.site,
              g_variant_new_maybe (G_VARIANT_TYPE_VARIANT,
                                   c->value != NULL ? g_variant_new_variant (c->value) : NULL));
        }
      g_variant_builder_add (&rows, "(ss@a(s(tt)mv))", first->table, first->row_id,
                             g_variant_builder_end (&columns));
    }
  return g_variant_builder_end (&rows);
}

/* A changeset's bytes from its rows (a floating `a(ssa(s(tt)mv))` is
 * sunk): download pages are changesets too. */
GBytes *
carb_changeset_bytes_from_rows (GVariant *rows)
{
  g_autoptr (GVariant) set
      = g_variant_ref_sink (g_variant_new ("(u@" CARB_CHANGESET_ROWS_TYPE ")", CHANGESET_FORMAT, rows));
  return g_variant_get_data_as_bytes (set);
}

/**
 * carb_changeset_serialize:
 * @changes: (array length=n_changes): column writes; consecutive writes of
 *   one row are grouped
 * @n_changes: their number
 *
 * Returns: (transfer full): the changeset's bytes (format 1)
 */
GBytes *
carb_changeset_serialize (const CarbChange *changes, gsize n_changes)
{
  return carb_changeset_bytes_from_rows (carb_changeset_rows_build (changes, n_changes));
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

/* The column writes of changeset rows (a normal-form
 * `a(ssa(s(tt)mv))`), in order; the array clears its elements. */
GArray *
carb_changeset_rows_read (GVariant *rows)
{
  g_autoptr (GArray) changes = g_array_new (FALSE, TRUE, sizeof (CarbChange));
  g_array_set_clear_func (changes, change_clear);
  GVariantIter iter;
  const char *table, *row_id;
  GVariantIter *columns;
  g_variant_iter_init (&iter, rows);
  while (g_variant_iter_next (&iter, "(&s&sa(s(tt)mv))", &table, &row_id, &columns))
    {
      const char *column;
      CarbVersion v;
      GVariant *value;
      while (g_variant_iter_next (columns, "(&s(tt)mv)", &column, &v.hlc, &v.site, &value))
        {
          CarbChange c = { g_strdup (table), g_strdup (row_id), g_strdup (column), v, value };
          g_array_append_val (changes, c);
        }
      g_variant_iter_free (columns);
    }
  return g_steal_pointer (&changes);
}

/**
 * carb_changeset_parse:
 * @bytes: bytes from carb_changeset_serialize(), from anywhere
 * @error: return location for a #GError
 *
 * Reads a changeset. Bytes that are not one in normal form, or of another
 * format, are %CARB_ERROR_INVALID_DATA; nothing is guessed.
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
  return carb_changeset_rows_read (rows);
}
