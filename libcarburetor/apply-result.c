/* Carburetor — the answer of carb_store_apply_changes() as bytes: the
 * server's hlc, the merged rows and the rejections, one serialized
 * GVariant (docs/TWOWAY.md). Read as defensively as a changeset: bytes
 * from the network are never trusted.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <string.h>

#define APPLY_RESULT_FORMAT 1u
#define APPLY_RESULT_TYPE   "(ut" CARB_CHANGESET_ROWS_TYPE "a(ssss))"

/* Starts carb_store_apply_changes()'s answer: the format, a place for
 * the server's hlc, then the rows @w writes. */
void
carb_apply_result_begin (CarbRowsWriter *w)
{
  GByteArray *buf = g_byte_array_new ();
  guint32 format = APPLY_RESULT_FORMAT;
  guint64 hlc = 0;
  g_byte_array_append (buf, (const guint8 *) &format, sizeof format);
  g_byte_array_append (buf, (const guint8 *) "\0\0\0\0", 4);
  g_byte_array_append (buf, (const guint8 *) &hlc, sizeof hlc);
  carb_rows_writer_init (w, buf);
}

/* The answer's bytes, once every row was written to @w: @server_hlc and
 * the rejections (whose rows are among @w's) written in. */
GBytes *
carb_apply_result_finish (CarbRowsWriter *w,
                          guint64 server_hlc,
                          const CarbRejection *rejections,
                          gsize n_rejections)
{
  GByteArray *buf = w->buf;
  carb_rows_writer_end (w);
  memcpy (buf->data + 8, &server_hlc, sizeof server_hlc);
  gsize rows_end = buf->len;
  gsize start = buf->len;
  g_autoptr (GArray) ends = g_array_new (FALSE, FALSE, sizeof (gsize));
  for (gsize i = 0; i < n_rejections; i++)
    {
      const CarbRejection *r = &rejections[i];
      const char *strings[4] = { r->table, r->row_id, r->column != NULL ? r->column : "", r->message };
      carb_wire_append_strings (buf, start, ends, strings, 4);
    }
  carb_wire_end_array (buf, start, ends);
  carb_wire_end_tuple (buf, 0, &rows_end, 1);
  return g_byte_array_free_to_bytes (buf);
}

static void
rejection_clear (gpointer data)
{
  CarbRejection *r = data;
  g_free (r->table);
  g_free (r->row_id);
  g_free (r->column);
  g_free (r->message);
}

void
carb_apply_result_free (CarbApplyResult *result)
{
  if (result == NULL)
    return;
  g_clear_pointer (&result->rows, g_array_unref);
  g_clear_pointer (&result->rejections, g_array_unref);
  g_free (result);
}

/* Reads an apply result from anywhere: bytes that are not one in normal
 * form, or of another format, are CARB_ERROR_INVALID_DATA. */
CarbApplyResult *
carb_apply_result_parse (GBytes *bytes, GError **error)
{
  g_return_val_if_fail (bytes != NULL, NULL);
  g_autoptr (GVariant) v = carb_variant_from_untrusted (bytes, APPLY_RESULT_TYPE, "apply result", error);
  if (v == NULL)
    return NULL;
  g_autoptr (GVariant) format_v = g_variant_get_child_value (v, 0);
  g_autoptr (GVariant) hlc_v = g_variant_get_child_value (v, 1);
  g_autoptr (GVariant) rows = g_variant_get_child_value (v, 2);
  g_autoptr (GVariant) rejected_v = g_variant_get_child_value (v, 3);
  guint32 format = g_variant_get_uint32 (format_v);
  guint64 hlc = g_variant_get_uint64 (hlc_v);
  if (format != APPLY_RESULT_FORMAT)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "Malformed apply result: unknown format version %u (this library reads format 1)", format);
      return NULL;
    }
  g_autoptr (CarbApplyResult) result = g_new0 (CarbApplyResult, 1);
  result->server_hlc = hlc;
  result->rows = carb_changeset_rows_read (v, rows, FALSE);
  if (result->rows == NULL)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "Malformed apply result: its rows cannot be read");
      return NULL;
    }
  result->rejections = g_array_new (FALSE, TRUE, sizeof (CarbRejection));
  g_array_set_clear_func (result->rejections, rejection_clear);
  const char *table, *row_id, *column, *message;
  GVariantIter rejected;
  g_variant_iter_init (&rejected, rejected_v);
  while (g_variant_iter_next (&rejected, "(&s&s&s&s)", &table, &row_id, &column, &message))
    {
      CarbRejection r = { g_strdup (table), g_strdup (row_id), g_strdup (column), g_strdup (message) };
      g_array_append_val (result->rejections, r);
    }
  return g_steal_pointer (&result);
}
