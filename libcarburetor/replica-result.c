/* Carburetor — reading the answer of carb_store_apply_changes() on the
 * replica: the server's clock, the merged rows and the rejections, from
 * bytes that came over a transport (checked like a changeset).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "replica-private.h"

#include <string.h>

#define ANSWER_FORMAT 1u
/* (format, server hlc, merged rows as a changeset's rows, rejections
 * (table, row id, column or "", message)) */
#define ANSWER_TYPE "(uta(ssa(s(tt)mv))a(ssss))"

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
rejection_clear (gpointer data)
{
  CarbRejection *r = data;
  g_free (r->table);
  g_free (r->row_id);
  g_free (r->column);
  g_free (r->message);
}

void
carb_apply_answer_free (CarbApplyAnswer *answer)
{
  if (answer == NULL)
    return;
  g_clear_pointer (&answer->merged, g_array_unref);
  g_clear_pointer (&answer->rejections, g_array_unref);
  g_free (answer);
}

static void
read_merged (GVariantIter *rows, GArray *out)
{
  const char *table, *row_id, *column;
  GVariantIter *columns;
  while (g_variant_iter_next (rows, "(&s&sa(s(tt)mv))", &table, &row_id, &columns))
    {
      CarbVersion v;
      GVariant *value;
      while (g_variant_iter_next (columns, "(&s(tt)mv)", &column, &v.hlc, &v.site, &value))
        {
          CarbChange c = { g_strdup (table), g_strdup (row_id), g_strdup (column), v, value };
          g_array_append_val (out, c);
        }
      g_variant_iter_free (columns);
    }
}

/* Returns: (transfer full) (nullable): the answer, or NULL with
 * %CARB_ERROR_INVALID_DATA */
CarbApplyAnswer *
carb_apply_answer_parse (GBytes *bytes, GError **error)
{
  /* A copy with zeroed slack, as carb_changeset_parse() does: GLib's
   * normal-form check may read past the end of a tiny buffer. */
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  guint8 *copy = g_malloc0 (len + 16);
  if (len > 0)
    memcpy (copy, data, len);
  g_autoptr (GVariant) answer = g_variant_ref_sink (
      g_variant_new_from_data (G_VARIANT_TYPE (ANSWER_TYPE), copy, len, FALSE, g_free, copy));
  if (!g_variant_is_normal_form (answer))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "Malformed apply result: not a serialized %s in normal form", ANSWER_TYPE);
      return NULL;
    }
  guint32 format = 0;
  guint64 hlc = 0;
  g_autoptr (GVariantIter) rows = NULL;
  g_autoptr (GVariantIter) rejections = NULL;
  g_variant_get (answer, "(uta(ssa(s(tt)mv))a(ssss))", &format, &hlc, &rows, &rejections);
  if (format != ANSWER_FORMAT)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "Malformed apply result: format %u (this library reads format 1)", format);
      return NULL;
    }
  g_autoptr (CarbApplyAnswer) out = g_new0 (CarbApplyAnswer, 1);
  out->server_hlc = hlc;
  out->merged = g_array_new (FALSE, TRUE, sizeof (CarbChange));
  g_array_set_clear_func (out->merged, change_clear);
  out->rejections = g_array_new (FALSE, TRUE, sizeof (CarbRejection));
  g_array_set_clear_func (out->rejections, rejection_clear);
  read_merged (rows, out->merged);
  const char *table, *row_id, *column, *message;
  while (g_variant_iter_next (rejections, "(&s&s&s&s)", &table, &row_id, &column, &message))
    {
      CarbRejection r = { g_strdup (table), g_strdup (row_id), g_strdup (column), g_strdup (message) };
      g_array_append_val (out->rejections, r);
    }
  return g_steal_pointer (&out);
}
