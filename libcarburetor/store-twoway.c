/* Carburetor — the server side of two-way sync besides apply: preparing a
 * group's tables, download pages as changesets with versions, and the
 * tombstone purge with its horizon (docs/TWOWAY.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "twoway-private.h"

#include <string.h>

/* One row per purged table: tombstones stamped at or before horizon_us
 * may be gone, so a replica whose sync point is older must rebuild. */
static const char purge_table_ddl[]
    = "CREATE TABLE IF NOT EXISTS carburetor_purge (tbl text PRIMARY KEY, horizon_us bigint NOT NULL)";

/**
 * carb_store_prepare_group:
 * @store: the server's store
 * @group: a sync group; sealed by this call
 * @error: return location for a #GError
 *
 * Prepares every table of @group for two-way sync: each wire model
 * (carb_sync_group_get_wire_model(), whose table the application created,
 * e.g. with carb_store_create_table()) is checked against its table and
 * prepared (carb_store_prepare_table(): the stamping trigger, and the
 * versioning trigger that gives writes bypassing the library server
 * versions). Also creates the table `carburetor_purge` where
 * carb_store_purge_tombstones() keeps its horizons. Idempotent.
 *
 * Returns: %TRUE on success
 *
 * Since: 1.0
 */
gboolean
carb_store_prepare_group (CarbStore *store, CarbSyncGroup *group, GError **error)
{
  g_return_val_if_fail (CARB_IS_STORE (store) && group != NULL, FALSE);
  if (!carb_sync_group_seal (group, error))
    return FALSE;
  for (guint i = 0; i < carb_sync_group_get_n_models (group); i++)
    if (!carb_store_prepare_table (store, carb_sync_group_get_wire_model (group, i), error))
      return FALSE;
  carb_store_lock (store);
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  gboolean ok = vt->execute (carb_store_get_backend (store), purge_table_ddl, error);
  carb_store_unlock (store);
  return ok;
}

static char *
table_key (const CarbModel *model)
{
  return model->schema != NULL ? g_strconcat (model->schema, ".", model->table, NULL)
                               : g_strdup (model->table);
}

/* With the lock held: the purge horizon of @model's table, G_MININT64 for
 * none (no purge yet, or no carburetor_purge table at all). */
static gboolean
read_horizon (CarbStore *store, const CarbModel *model, gint64 *horizon, GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  CarbBackend *backend = carb_store_get_backend (store);
  g_autoptr (CarbModel) tiny = carb_model_new (NULL, "carburetor_purge");
  if (!carb_model_add_column (tiny, "horizon_us", CARB_COLUMN_TYPE_INT64, CARB_COLUMN_ROLE_DATA,
                              CARB_COLUMN_FLAGS_NONE, error))
    return FALSE;
  CarbQuery query = { .model = tiny };
  g_autofree char *key = table_key (model);
  CarbValue param = { .type = CARB_COLUMN_TYPE_TEXT, .v_data = key, .v_len = strlen (key) };
  g_autoptr (CarbSink) sink = carb_sink_new_buffered (tiny, NULL);
  g_autoptr (GError) local = NULL;
  *horizon = G_MININT64;
  if (!vt->query_rows (backend, &query, "SELECT horizon_us FROM carburetor_purge WHERE tbl = $1", &param, 1,
                       sink, &local))
    {
      /* No table: nothing was ever purged on this server. */
      g_autoptr (CarbTableInfo) info = carb_table_info_new ();
      if (!vt->describe_table (backend, NULL, "carburetor_purge", info, NULL))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  gconstpointer row = carb_sink_get_last_row (sink);
  if (row != NULL)
    *horizon = *(const gint64 *) ((const guint8 *) row + tiny->columns[0].offset);
  return TRUE;
}

/* A replica synced up to @since has seen every tombstone stamped at or
 * before it; one that has not seen all those stamped before the horizon
 * would keep rows deleted on the server for ever. */
static gboolean
check_not_expired (CarbStore *store, const CarbModel *wire, const CarbSyncPoint *since, GError **error)
{
  gint64 horizon = G_MININT64;
  carb_store_lock (store);
  gboolean ok = carb_twoway_check_backend (store, error) && read_horizon (store, wire, &horizon, error);
  carb_store_unlock (store);
  gint64 time = carb_sync_point_get_time (since);
  /* A page cursor at the horizon itself may not have seen every row
   * stamped there. */
  if (ok && (time < horizon || (time == horizon && !carb_sync_point_is_complete (since))))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_SYNC_POINT_EXPIRED,
                   "Table “%s”: the sync point (%" G_GINT64_FORMAT
                   " µs) is older than the tombstone purge horizon (%" G_GINT64_FORMAT
                   " µs): deletes before it are gone; rebuild the replica's copy of the table",
                   wire->table, time, horizon);
      return FALSE;
    }
  return ok;
}

/* Appends to @rows a withdrawal (a row with no column) for each row of
 * @left_out that the backend's log of moves shows once held @wanted
 * (twoway-moves.c). */
static gboolean
add_withdrawals (CarbStore *store,
                 const CarbTwowayTable *t,
                 GVariant *wanted,
                 GPtrArray *left_out,
                 CarbRowsWriter *rows,
                 GError **error)
{
  g_autofree char *key = table_key (t->wire);
  g_autoptr (GPtrArray) ids = carb_twoway_withdrawn (store, t, key, wanted, left_out, error);
  if (ids == NULL)
    return FALSE;
  for (guint i = 0; i < ids->len; i++)
    {
      carb_rows_writer_begin_row (rows, t->model->table, g_ptr_array_index (ids, i));
      carb_rows_writer_end_row (rows);
    }
  return TRUE;
}

/**
 * carb_store_download_changes:
 * @store: the server's store
 * @group: the sync group
 * @context: (nullable): the replica's server-side context (`a{sv}`), with
 *   every filter key of @group; a floating reference is sunk
 * @table_index: the table's index in @group
 * @since: (nullable): the sync point the previous page returned, or %NULL
 *   for a first sync (which leaves tombstones out)
 * @limit: at most this many rows before filtering, or 0 for all
 * @synced_until: (out) (transfer full): the next sync point
 * @has_more: (out) (optional): whether a full page came back (call again
 *   at once with @synced_until)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * One download page of a table as a changeset: every row stamped after
 * @since up to the returned point (carb_store_download_sync() of the
 * table's wire model, so the guarantee of docs/SYNC.md holds unchanged),
 * each with every data and is-deleted column and its version (a column
 * never versioned has the version (0, 0)). A filtered table is read whole
 * and filtered here, after the read: the rows whose filter column is not
 * the context's value are left out, and those of them that once held it
 * (the backend logs the filter column's moves) come as **withdrawals**,
 * rows with no column (see #CarbChange), which the replica drops. A
 * first download (@since %NULL) has none.
 *
 * Returns: (transfer full) (nullable): the changeset, or %NULL with @error
 *   set (%CARB_ERROR_SYNC_POINT_EXPIRED when @since is older than the
 *   table's purge horizon; %CARB_ERROR_INVALID_DATA for a context without
 *   a filter's key)
 *
 * Since: 1.0
 */
GBytes *
carb_store_download_changes (CarbStore *store,
                             CarbSyncGroup *group,
                             GVariant *context,
                             guint table_index,
                             const CarbSyncPoint *since,
                             guint limit,
                             CarbSyncPoint **synced_until,
                             gboolean *has_more,
                             GCancellable *cancellable,
                             GError **error)
{
  g_return_val_if_fail (CARB_IS_STORE (store) && group != NULL && synced_until != NULL, NULL);
  g_return_val_if_fail (table_index < carb_sync_group_get_n_models (group), NULL);
  g_autoptr (GVariant) ctx
      = context != NULL ? g_variant_ref_sink (context) : g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
  if (!carb_sync_group_seal (group, error) || !carb_twoway_check_context (group, ctx, error))
    return NULL;
  CarbTwowayTable t;
  carb_twoway_table_init_columns (&t, group, table_index);
  g_autoptr (CarbSyncResult) result = NULL;
  if (since == NULL || check_not_expired (store, t.wire, since, error))
    result = carb_store_download_sync (store, t.wire, since, limit, cancellable, error);
  if (result == NULL)
    {
      carb_twoway_table_clear (&t);
      return NULL;
    }

  g_autoptr (GVariant) wanted
      = t.filter_column >= 0 ? g_variant_lookup_value (ctx, t.filter_key, NULL) : NULL;
  /* The rows the filter leaves out, when some may have to be withdrawn: a
   * first download's replica holds none the sweep does not settle. */
  g_autoptr (GPtrArray) left_out
      = t.filter_column >= 0 && since != NULL ? g_ptr_array_new_with_free_func (g_free) : NULL;
  CarbRowsWriter rows;
  carb_changeset_writer_begin (&rows);
  for (gsize i = 0; i < carb_sync_result_get_n_rows (result); i++)
    {
      g_autoptr (GVariant) row = carb_sync_result_get_row_variant (result, i);
      GVariant **values = carb_twoway_dict_split (t.wire, row);
      GVariant *id = values[t.id_column];
      const char *id_text = id != NULL ? g_variant_get_string (id, NULL) : "";
      if (t.filter_column < 0 || carb_twoway_filter_matches (values[t.filter_column], wanted))
        {
          carb_rows_writer_begin_row (&rows, t.model->table, id_text);
          carb_twoway_add_state (&t, values, &rows);
          carb_rows_writer_end_row (&rows);
        }
      else if (left_out != NULL)
        g_ptr_array_add (left_out, g_strdup (id_text));
      carb_values_free (values, t.wire->n_columns);
    }
  if (left_out != NULL && !add_withdrawals (store, &t, wanted, left_out, &rows, error))
    {
      carb_twoway_table_clear (&t);
      g_bytes_unref (carb_changeset_writer_finish (&rows));
      return NULL;
    }
  carb_twoway_table_clear (&t);
  *synced_until = carb_sync_point_copy (carb_sync_result_get_synced_until (result));
  if (has_more != NULL)
    *has_more = carb_sync_result_has_more (result);
  return carb_changeset_writer_finish (&rows);
}

/* Appends `FROM t WHERE deleted AND ts <op> $1` to @sql. */
static void
append_tombstones (
    GString *sql, const CarbModel *wire, const CarbQuery *query, const CarbSqlSyntax *syntax, const char *op)
{
  g_string_append (sql, " FROM ");
  carb_sql_append_table (sql, wire, syntax, NULL);
  g_string_append (sql, " WHERE ");
  carb_sql_append_ident (sql, wire->columns[query->deleted_column].name, syntax, wire, NULL);
  g_string_append (sql, " AND ");
  carb_sql_append_ident (sql, wire->columns[query->ts_column].name, syntax, wire, NULL);
  g_string_append_printf (sql, " %s $1", op);
}

/* The stamp of the newest tombstone stamped before @horizon_us, or
 * G_MININT64 for none. */
static gboolean
newest_tombstone (CarbStore *store,
                  const CarbModel *wire,
                  const CarbQuery *query,
                  gint64 horizon_us,
                  gint64 *newest,
                  GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  g_autoptr (CarbModel) tiny = carb_model_new (NULL, wire->table);
  if (!carb_model_add_column (tiny, "newest", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_DATA,
                              CARB_COLUMN_FLAGS_NULLABLE, error))
    return FALSE;
  CarbQuery tiny_query = { .model = tiny };
  g_autoptr (GString) sql = g_string_new ("SELECT max(");
  carb_sql_append_ident (sql, wire->columns[query->ts_column].name, vt->sql_syntax, wire, NULL);
  g_string_append (sql, ")");
  append_tombstones (sql, wire, query, vt->sql_syntax, "<");
  CarbValue horizon = { .type = CARB_COLUMN_TYPE_TIMESTAMP, .v_int = horizon_us };
  g_autoptr (CarbSink) sink = carb_sink_new_buffered (tiny, NULL);
  if (!vt->query_rows (carb_store_get_backend (store), &tiny_query, sql->str, &horizon, 1, sink, error))
    return FALSE;
  gconstpointer row = carb_sink_get_last_row (sink);
  *newest = row != NULL && !carb_model_row_is_null (tiny, row, 0)
                ? *(const gint64 *) ((const guint8 *) row + tiny->columns[0].offset)
                : G_MININT64;
  return TRUE;
}

/* Inside the purge's transaction: the table's entries of the move log
 * (twoway-moves.c) whose row is stamped at or before the new horizon
 * @horizon_us, or is gone. Every replica that may still sync is synced past
 * the horizon, so it saw the row's state after the move, left out by its
 * filter, and the withdrawal with it (the entry commits with that state);
 * the entry has nothing left to say. A row stamped later keeps its
 * entries. */
static gboolean
purge_moves (CarbStore *store,
             const CarbModel *wire,
             const CarbQuery *query,
             const char *key,
             gint64 horizon_us,
             GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  const CarbSqlSyntax *syntax = vt->sql_syntax;
  const CarbColumn *id = &wire->columns[query->id_column];
  g_autoptr (CarbModel) log = carb_model_new (wire->schema, "carburetor_moves");
  g_autoptr (GString) sql = g_string_new ("DELETE FROM ");
  if (!carb_sql_append_table (sql, log, syntax, error))
    return FALSE;
  g_string_append (sql, " WHERE tbl = $1 AND NOT EXISTS (SELECT 1 FROM ");
  carb_sql_append_table (sql, wire, syntax, NULL);
  g_string_append (sql, " AS carb_t WHERE carb_t.");
  carb_sql_append_ident (sql, id->name, syntax, wire, NULL);
  g_string_append_printf (sql, " = CAST(row_id AS %s) AND carb_t.", syntax->column_types[id->type]);
  carb_sql_append_ident (sql, wire->columns[query->ts_column].name, syntax, wire, NULL);
  g_string_append (sql, " > $2)");
  CarbValue params[2] = {
    { .type = CARB_COLUMN_TYPE_TEXT, .v_data = key, .v_len = strlen (key) },
    { .type = CARB_COLUMN_TYPE_TIMESTAMP, .v_int = horizon_us },
  };
  return vt->execute_params (carb_store_get_backend (store), sql->str, params, 2, NULL, error);
}

/* Inside the purge's transaction: one table's tombstones and horizon.
 * The tombstones of the newest stamp K before @horizon_us stay: a row
 * stamped after every expired point is then always there, so the group's
 * poll finds an expired table changed by itself and an idle replica sync
 * needs no read of the horizons (one round trip; a later write only moves
 * stamps up, and the next purge keeps its own newest stamp). Those stamped
 * at or before N, the newest stamp below K, are deleted (one committed
 * meanwhile with a stamp between N and @horizon_us stays for the next
 * purge), and N is the horizon recorded: a replica synced up to N or later
 * has seen every purged one (the sync guarantee), one synced to less may
 * have missed one. A replica that has just synced an idle table is never
 * told its point expired. */
static gboolean
purge_table (
    CarbStore *store, CarbSyncGroup *group, guint index, gint64 horizon_us, guint64 *n, GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  CarbBackend *backend = carb_store_get_backend (store);
  const CarbModel *wire = carb_sync_group_get_wire_model (group, index);
  const CarbQuery *query = carb_store_checked_query (store, wire, error);
  gint64 kept = G_MININT64, newest = G_MININT64;
  if (query == NULL || !newest_tombstone (store, wire, query, horizon_us, &kept, error))
    return FALSE;
  if (kept == G_MININT64)
    return TRUE;
  if (!newest_tombstone (store, wire, query, kept, &newest, error))
    return FALSE;
  if (newest == G_MININT64)
    return TRUE;
  g_autoptr (GString) sql = g_string_new ("DELETE");
  append_tombstones (sql, wire, query, vt->sql_syntax, "<=");
  CarbValue upto = { .type = CARB_COLUMN_TYPE_TIMESTAMP, .v_int = newest };
  guint64 deleted = 0;
  if (!vt->execute_params (backend, sql->str, &upto, 1, &deleted, error))
    return FALSE;
  *n += deleted;

  g_autofree char *key = table_key (wire);
  CarbValue params[2] = {
    { .type = CARB_COLUMN_TYPE_TEXT, .v_data = key, .v_len = strlen (key) },
    { .type = CARB_COLUMN_TYPE_INT64, .v_int = newest },
  };
  /* A horizon never moves back: a replica told its point expired must not
   * later be served from it. */
  return vt->execute_params (
             backend,
             "INSERT INTO carburetor_purge (tbl, horizon_us) VALUES ($1, $2) ON CONFLICT (tbl) "
             "DO UPDATE SET horizon_us = excluded.horizon_us WHERE excluded.horizon_us > "
             "carburetor_purge.horizon_us",
             params, 2, NULL, error)
         && (carb_model_find_filter_column (wire) < 0
             || purge_moves (store, wire, query, key, newest, error));
}

/**
 * carb_store_purge_tombstones:
 * @store: the server's store
 * @group: the sync group
 * @horizon_us: tombstones stamped before this time (µs since the Unix
 *   epoch) are deleted, but for those of the newest such stamp
 * @n_purged: (out) (optional): how many rows were deleted
 * @error: return location for a #GError
 *
 * Deletes, from every table of @group, the tombstones stamped before
 * @horizon_us except those of the newest such stamp (they let a replica's
 * poll see that its point expired without reading the horizons), and
 * records per table (in `carburetor_purge`, created if missing) the
 * newest purged tombstone's stamp as the table's horizon; a horizon never
 * moves back. For a filtered table, the move log's entries of rows
 * stamped at or before the horizon go too (docs/TWOWAY.md). A later carb_store_download_changes() from a
 * sync point older than the horizon fails with
 * %CARB_ERROR_SYNC_POINT_EXPIRED: that replica may have missed a delete
 * and must rebuild. Pick a horizon older than the last sync of
 * every replica you mean to keep. One write transaction.
 *
 * Returns: %TRUE on success
 *
 * Since: 1.0
 */
gboolean
carb_store_purge_tombstones (
    CarbStore *store, CarbSyncGroup *group, gint64 horizon_us, guint64 *n_purged, GError **error)
{
  g_return_val_if_fail (CARB_IS_STORE (store) && group != NULL, FALSE);
  if (!carb_sync_group_seal (group, error))
    return FALSE;
  guint64 n = 0;
  carb_store_lock (store);
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  CarbBackend *backend = carb_store_get_backend (store);
  gboolean ok = carb_twoway_check_backend (store, error);
  if (ok && vt->in_transaction (backend))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_IN_TRANSACTION,
                   "Sync group “%s”: the application has a transaction open on the store's connection; a "
                   "purge runs in a transaction of its own, so COMMIT or ROLLBACK yours first",
                   carb_sync_group_get_name (group));
      ok = FALSE;
    }
  ok = ok && vt->execute (backend, vt->sql_syntax->begin_write, error);
  if (ok)
    {
      ok = vt->execute (backend, purge_table_ddl, error);
      for (guint i = 0; ok && i < carb_sync_group_get_n_models (group); i++)
        ok = purge_table (store, group, i, horizon_us, &n, error);
      ok = ok && vt->execute (backend, "COMMIT", error);
      if (!ok)
        vt->execute (backend, "ROLLBACK", NULL);
    }
  carb_store_unlock (store);
  if (ok && n_purged != NULL)
    *n_purged = n;
  return ok;
}
