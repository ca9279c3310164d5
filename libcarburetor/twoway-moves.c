/* Carburetor — withdrawals: rows that left a replica's filter.
 *
 * A filtered table's download reads every row stamped in its window and
 * keeps those whose filter column holds the context's value. A row whose
 * filter column moved away (an admin's `UPDATE t SET owner = 'bob'`) is
 * then left out for the old owner, who still holds it. The backend logs
 * every move of a filter column (CARB_COLUMN_FLAGS_FILTER) in the table
 * `carburetor_moves (tbl, col, old_value, row_id)`, in the moving
 * transaction; a page's rows left out by the filter that the log shows
 * once held the context's value go to the replica as withdrawals (rows
 * with no column), and the replica drops them.
 *
 * Why a row left out of a page is the moment to withdraw it: a replica
 * holding the row with the old value saw a state stamped at or before its
 * sync point, so the move is stamped after it and the moved row (stamped
 * at the move, or later) is in a page of this sync or a later one. The
 * row's state in that page decides: still outside the filter means
 * withdraw; back inside means the page carries it. Only a replica whose
 * context value the row once held is told; other replicas learn nothing
 * of it.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "twoway-private.h"

/* Ids per statement: well below every backend's parameter limit. */
#define IDS_PER_QUERY 500

static CarbValue
text_value (const char *text)
{
  return (CarbValue){ .type = CARB_COLUMN_TYPE_TEXT, .v_data = text, .v_len = strlen (text) };
}

/* `SELECT row_id FROM carburetor_moves WHERE tbl = $1 AND col = $2 AND
 * old_value = $3 AND row_id IN ($4, …)` for @n ids. */
static char *
moves_sql (const CarbTwowayTable *t, const CarbSqlSyntax *syntax, guint n, GError **error)
{
  g_autoptr (CarbModel) log = carb_model_new (t->wire->schema, "carburetor_moves");
  g_autoptr (GString) sql = g_string_new ("SELECT row_id FROM ");
  if (!carb_sql_append_table (sql, log, syntax, error))
    return NULL;
  g_string_append (sql, " WHERE tbl = $1 AND col = $2 AND old_value = $3 AND row_id IN (");
  for (guint i = 0; i < n; i++)
    g_string_append_printf (sql, "%s$%u", i > 0 ? ", " : "", i + 4);
  g_string_append (sql, ")");
  return g_string_free (g_steal_pointer (&sql), FALSE);
}

/* Where the rows of the log query go: the id column's member offset in
 * the run-time model, and the array of ids. */
typedef struct
{
  gsize offset;
  GPtrArray *ids;
} Withdrawn;

static gboolean
add_id (gconstpointer row, gpointer user_data, GError **error)
{
  Withdrawn *w = user_data;
  const char *id = *(char *const *) (gconstpointer) ((const guint8 *) row + w->offset);
  g_ptr_array_add (w->ids, g_strdup (id != NULL ? id : ""));
  return TRUE;
}

/* With the store's lock held: appends to @withdrawn the ids of
 * @ids[@from, @from + @n) that the log shows once held @old. */
static gboolean
query_chunk (CarbStore *store,
             const CarbTwowayTable *t,
             const char *table_key,
             const char *old,
             GPtrArray *ids,
             guint from,
             guint n,
             GPtrArray *withdrawn,
             GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  g_autofree char *sql = moves_sql (t, vt->sql_syntax, n, error);
  if (sql == NULL)
    return FALSE;
  g_autofree CarbValue *params = g_new (CarbValue, n + 3);
  params[0] = text_value (table_key);
  params[1] = text_value (t->model->columns[t->filter_column].name);
  params[2] = text_value (old);
  for (guint i = 0; i < n; i++)
    params[i + 3] = text_value (g_ptr_array_index (ids, from + i));
  g_autoptr (CarbModel) result = carb_model_new (NULL, "carburetor_moves");
  if (!carb_model_add_column (result, "row_id", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_DATA,
                              CARB_COLUMN_FLAGS_NONE, error))
    return FALSE;
  Withdrawn w = { result->columns[0].offset, withdrawn };
  CarbQuery query = { .model = result };
  g_autoptr (CarbSink) sink = carb_sink_new_streaming (result, add_id, &w, NULL);
  return vt->query_rows (carb_store_get_backend (store), &query, sql, params, n + 3, sink, error);
}

/**
 * carb_twoway_withdrawn:
 * @store: the server's store
 * @t: the filtered table
 * @table_key: the table as the log names it (`schema.table` or `table`)
 * @wanted: the context's filter value
 * @ids: (element-type utf8): ids of the page's rows the filter left out
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (element-type utf8) (nullable): the ids of @ids
 *   that once held @wanted, to withdraw
 */
GPtrArray *
carb_twoway_withdrawn (CarbStore *store,
                       const CarbTwowayTable *t,
                       const char *table_key,
                       GVariant *wanted,
                       GPtrArray *ids,
                       GError **error)
{
  g_autoptr (GPtrArray) withdrawn = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *old = carb_twoway_filter_text (wanted);
  if (old == NULL || ids->len == 0)
    return g_steal_pointer (&withdrawn);
  carb_store_lock (store);
  gboolean ok = TRUE;
  for (guint from = 0; ok && from < ids->len; from += IDS_PER_QUERY)
    ok = query_chunk (store, t, table_key, old, ids, from, MIN (IDS_PER_QUERY, ids->len - from), withdrawn,
                      error);
  carb_store_unlock (store);
  return ok ? g_steal_pointer (&withdrawn) : NULL;
}
