/* Carburetor — the answer of carb_store_apply_changes() as bytes: the
 * server's hlc, the merged rows and the rejections, one serialized
 * GVariant (docs/TWOWAY.md). Read as defensively as a changeset: bytes
 * from the network are never trusted.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#define APPLY_RESULT_FORMAT 1u
#define APPLY_RESULT_TYPE   "(ut" CARB_CHANGESET_ROWS_TYPE "a(ssss))"

/* carb_store_apply_changes()'s answer. @rows is an `a(ssa(s(tt)mv))` (a
 * floating reference is sunk); the rows of @rejections are named there
 * too. */
GBytes *
carb_apply_result_serialize (guint64 server_hlc,
                             GVariant *rows,
                             const CarbRejection *rejections,
                             gsize n_rejections)
{
  GVariantBuilder rejected;
  g_variant_builder_init (&rejected, G_VARIANT_TYPE ("a(ssss)"));
  for (gsize i = 0; i < n_rejections; i++)
    {
      const CarbRejection *r = &rejections[i];
      g_variant_builder_add (&rejected, "(ssss)", r->table, r->row_id, r->column != NULL ? r->column : "",
                             r->message);
    }
  g_autoptr (GVariant) result
      = g_variant_ref_sink (g_variant_new ("(ut@" CARB_CHANGESET_ROWS_TYPE "@a(ssss))", APPLY_RESULT_FORMAT,
                                           server_hlc, rows, g_variant_builder_end (&rejected)));
  return g_variant_get_data_as_bytes (result);
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
  guint32 format = 0;
  guint64 hlc = 0;
  g_autoptr (GVariant) rows = NULL;
  g_autoptr (GVariantIter) rejected = NULL;
  g_variant_get (v, "(ut@" CARB_CHANGESET_ROWS_TYPE "a(ssss))", &format, &hlc, &rows, &rejected);
  if (format != APPLY_RESULT_FORMAT)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "Malformed apply result: unknown format version %u (this library reads format 1)", format);
      return NULL;
    }
  g_autoptr (CarbApplyResult) result = g_new0 (CarbApplyResult, 1);
  result->server_hlc = hlc;
  result->rows = carb_changeset_rows_read (rows);
  result->rejections = g_array_new (FALSE, TRUE, sizeof (CarbRejection));
  g_array_set_clear_func (result->rejections, rejection_clear);
  const char *table, *row_id, *column, *message;
  while (g_variant_iter_next (rejected, "(&s&s&s&s)", &table, &row_id, &column, &message))
    {
      CarbRejection r = { g_strdup (table), g_strdup (row_id), g_strdup (column), g_strdup (message) };
      g_array_append_val (result->rejections, r);
    }
  return g_steal_pointer (&result);
}
