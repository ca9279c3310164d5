/* Carburetor — the result of one buffered sync: rows, the strings they
 * point to, and the next sync point, freed together.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

struct _CarbSyncResult
{
  gatomicrefcount ref;
  gpointer rows; /* n_rows structs of struct_size bytes, contiguous */
  gsize n_rows;
  gsize struct_size;
  CarbArena *arena; /* owns every string and byte buffer of the rows */
  CarbModel *model; /* a reference: run-time models must outlive the rows */
  CarbSyncPoint *synced_until;
  gboolean has_more;
};

CARB_DEFINE_BOXED_TYPE (CarbSyncResult, carb_sync_result, carb_sync_result_ref, carb_sync_result_unref)

/* Takes the rows of @sink and @synced_until. */
CarbSyncResult *
carb_sync_result_new (CarbSink *sink, CarbSyncPoint *synced_until, gboolean has_more)
{
  CarbSyncResult *result = g_new0 (CarbSyncResult, 1);
  g_atomic_ref_count_init (&result->ref);
  const CarbModel *model = NULL;

  result->rows = carb_sink_steal_rows (sink, &result->n_rows, &result->arena, &model);
  result->struct_size = model->struct_size;
  result->model = carb_model_ref (model);
  result->synced_until = synced_until;
  result->has_more = has_more;
  return result;
}

/**
 * carb_sync_result_get_n_rows:
 * @result: a sync result
 *
 * Returns: the number of rows
 *
 * Since: 1.0
 */
gsize
carb_sync_result_get_n_rows (const CarbSyncResult *result)
{
  g_return_val_if_fail (result != NULL, 0);
  return result->n_rows;
}

/**
 * carb_sync_result_get_rows:
 * @result: a sync result
 * @n_rows: (out) (optional): the number of rows
 *
 * The rows as one C array of the model's struct, e.g.
 * `const Todo *todos = carb_sync_result_get_rows (result, &n);`.
 *
 * Returns: (transfer none) (nullable): the rows, owned by @result; %NULL
 *   when there are none
 *
 * Since: 1.0
 */
gconstpointer
carb_sync_result_get_rows (const CarbSyncResult *result, gsize *n_rows)
{
  g_return_val_if_fail (result != NULL, NULL);
  if (n_rows != NULL)
    *n_rows = result->n_rows;
  return result->n_rows > 0 ? result->rows : NULL;
}

/**
 * carb_sync_result_get_row:
 * @result: a sync result
 * @index: a row index below carb_sync_result_get_n_rows()
 *
 * Returns: (transfer none): row @index, a pointer to the model's struct
 *   owned by @result
 *
 * Since: 1.0
 */
gconstpointer
carb_sync_result_get_row (const CarbSyncResult *result, gsize index)
{
  g_return_val_if_fail (result != NULL, NULL);
  g_return_val_if_fail (index < result->n_rows, NULL);
  return (const guint8 *) result->rows + index * result->struct_size;
}

/**
 * carb_sync_result_get_model:
 * @result: a sync result
 *
 * Returns: (transfer none): the model the rows follow
 */
const CarbModel *
carb_sync_result_get_model (const CarbSyncResult *result)
{
  g_return_val_if_fail (result != NULL, NULL);
  return result->model;
}

/**
 * carb_sync_result_get_synced_until:
 * @result: a sync result
 *
 * Returns: (transfer none): the sync point to pass to the next sync; copy
 *   it with carb_sync_point_copy() to keep it beyond @result
 *
 * Since: 1.0
 */
const CarbSyncPoint *
carb_sync_result_get_synced_until (const CarbSyncResult *result)
{
  g_return_val_if_fail (result != NULL, NULL);
  return result->synced_until;
}

/**
 * carb_sync_result_has_more:
 * @result: a sync result
 *
 * Returns: %TRUE if the call returned a full page (as many rows as its
 *   row limit): more rows may be due now, so call again at once with the
 *   result's sync point. %FALSE otherwise, even when the returned point is
 *   a page cursor (a sync that found nothing new past a cursor hands the
 *   cursor back): then wait for the next poll.
 *
 * Since: 1.0
 */
gboolean
carb_sync_result_has_more (const CarbSyncResult *result)
{
  g_return_val_if_fail (result != NULL, FALSE);
  return result->has_more;
}

/**
 * carb_sync_result_ref:
 * @result: a sync result
 *
 * A result is immutable, so references may be shared between threads.
 *
 * Returns: (transfer full): @result, with one more reference
 *
 * Since: 1.0
 */
CarbSyncResult *
carb_sync_result_ref (CarbSyncResult *result)
{
  g_return_val_if_fail (result != NULL, NULL);
  g_atomic_ref_count_inc (&result->ref);
  return result;
}

/**
 * carb_sync_result_unref:
 * @result: (nullable) (transfer full): a sync result
 *
 * Drops a reference. The last one frees the rows, every string and buffer
 * they point to, and the sync point.
 *
 * Since: 1.0
 */
void
carb_sync_result_unref (CarbSyncResult *result)
{
  if (result == NULL || !g_atomic_ref_count_dec (&result->ref))
    return;
  g_free (result->rows);
  carb_arena_free (result->arena);
  carb_sync_point_free (result->synced_until);
  carb_model_unref (result->model);
  g_free (result);
}
