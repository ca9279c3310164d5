/* Carburetor — writing rows without writing SQL: statements with bound
 * parameters, model-based upserts and soft deletes, and DDL from a model.
 * The SQL is built by the core (write-sql.c) from the backend's
 * CarbSqlSyntax; backends only bind and run it.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

/* With the lock held: the backend's syntax, or an error naming the
 * backend when it cannot write. */
static const CarbSqlSyntax *
writable (CarbStore *store, GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  if (!CARB_VTABLE_HAS (vt, sql_syntax) || !CARB_VTABLE_HAS (vt, execute_params)
      || !CARB_VTABLE_HAS (vt, in_transaction))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_PLUGIN,
                   "The “%s” backend cannot write rows (its plugin has no %s)", vt->name, "execute_params");
      return NULL;
    }
  return vt->sql_syntax;
}

/* With the lock held: the checked query of @model on a table that is
 * prepared, so that every row written is stamped and syncs. */
static const CarbQuery *
prepared_query (CarbStore *store, const CarbModel *model, GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  const CarbQuery *query = carb_store_checked_query (store, model, error);
  if (query == NULL)
    return NULL;
  if (CARB_VTABLE_HAS (vt, check_prepared)
      && !vt->check_prepared (carb_store_get_backend (store), query, error))
    return NULL;
  return query;
}

typedef gboolean (*RowParamsFunc) (
    const CarbQuery *query, gsize index, CarbValue *params, gpointer rows, GError **error);

/* Runs @sql once per row, in one transaction of the store's own, or in the
 * application's when it has one open (then a failure is left for the
 * application to roll back). */
static gboolean
write_rows (CarbStore *store,
            const CarbQuery *query,
            const char *sql,
            guint n_params,
            gsize n_rows,
            RowParamsFunc params_of,
            gpointer rows,
            GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  CarbBackend *backend = carb_store_get_backend (store);
  gboolean own = !vt->in_transaction (backend);
  g_autofree CarbValue *params = g_new0 (CarbValue, query->model->n_columns);

  if (own && !vt->execute (backend, vt->sql_syntax->begin_write, error))
    return FALSE;
  for (gsize i = 0; i < n_rows; i++)
    {
      guint64 changed = 0;
      if (!params_of (query, i, params, rows, error)
          || !vt->execute_params (backend, sql, params, n_params, &changed, error))
        {
          if (own)
            vt->execute (backend, "ROLLBACK", NULL);
          return FALSE;
        }
    }
  if (own && !vt->execute (backend, "COMMIT", error))
    {
      vt->execute (backend, "ROLLBACK", NULL);
      return FALSE;
    }
  return TRUE;
}

typedef struct
{
  gconstpointer rows;
  gsize struct_size;
} StructRows;

static gboolean
struct_params (const CarbQuery *query, gsize index, CarbValue *params, gpointer data, GError **error)
{
  StructRows *rows = data;
  return carb_write_row_params (query, (const guint8 *) rows->rows + index * rows->struct_size, index, params,
                                error);
}

static gboolean
variant_params (const CarbQuery *query, gsize index, CarbValue *params, gpointer data, GError **error)
{
  g_autoptr (GVariant) row = g_variant_get_child_value (data, index);
  /* The parameters point into @row, a child that @data keeps alive. */
  return carb_write_variant_row_params (query, row, index, params, error);
}

static gboolean
soft_delete_params (const CarbQuery *query, gsize index, CarbValue *params, gpointer data, GError **error)
{
  StructRows *rows = data;
  if (!carb_write_id_param (query, (const guint8 *) rows->rows + index * rows->struct_size, index, &params[0],
                            error))
    return FALSE;
  params[1] = (CarbValue){ .type = CARB_COLUMN_TYPE_BOOL, .v_int = TRUE };
  return TRUE;
}

/**
 * carb_store_upsert_rows: (skip)
 * @store: a store
 * @model: the model of the table to write
 * @rows: (array length=n_rows): @n_rows structs of @model's row type
 * @n_rows: the number of rows
 * @error: return location for a #GError
 *
 * Inserts each row, or updates every column but the id and the timestamp
 * of the row with its id: a retried call writes the same rows again and
 * changes nothing more. The database stamps each row (the table must be
 * prepared: %CARB_ERROR_NOT_PREPARED otherwise), so the writes sync like
 * any other. All rows are written in one transaction, or in the
 * application's own when one is open on the store. The SQL is built by
 * the library: no value is ever spliced into it.
 *
 * Returns: %TRUE when every row was written; else %FALSE with @error set
 *   (%CARB_ERROR_INVALID_DATA naming the row and column, such as NULL in a
 *   NOT NULL column; %CARB_ERROR_QUERY from the database) and no row
 *   written
 */
gboolean
carb_store_upsert_rows (
    CarbStore *store, const CarbModel *model, gconstpointer rows, gsize n_rows, GError **error)
{
  g_return_val_if_fail (store != NULL && model != NULL && (rows != NULL || n_rows == 0), FALSE);
  carb_store_lock (store);
  const CarbSqlSyntax *syntax = writable (store, error);
  const CarbQuery *query = syntax != NULL ? prepared_query (store, model, error) : NULL;
  g_autofree char *sql = query != NULL ? carb_write_sql_upsert (query, syntax, error) : NULL;
  StructRows data = { rows, model->struct_size };
  gboolean ok
      = sql != NULL && write_rows (store, query, sql, model->n_columns, n_rows, struct_params, &data, error);
  carb_store_unlock (store);
  return ok;
}

/**
 * carb_store_upsert_variant:
 * @store: a store
 * @model: the model of the table to write
 * @rows: an array of rows, `aa{sv}`: each maps column names to values
 *   (`x`, `i`, `n`… for integer, timestamp and date columns, `b`, `d`,
 *   `s` for text, UUID, JSON and numeric, `ay`); an absent key or an empty
 *   maybe is NULL; the timestamp needs no value and an absent tombstone
 *   is %FALSE
 * @error: return location for a #GError
 *
 * carb_store_upsert_rows() for bindings and run-time models. A key that
 * names no column of @model, or a value of the wrong type, is
 * %CARB_ERROR_INVALID_DATA naming the row and column; nothing is written.
 *
 * Returns: %TRUE when every row was written
 */
gboolean
carb_store_upsert_variant (CarbStore *store, const CarbModel *model, GVariant *rows, GError **error)
{
  g_return_val_if_fail (store != NULL && model != NULL && rows != NULL, FALSE);
  if (!g_variant_is_of_type (rows, G_VARIANT_TYPE ("aa{sv}")))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "Rows to write into “%s” are an “aa{sv}”, not “%s”", model->table,
                   g_variant_get_type_string (rows));
      return FALSE;
    }
  g_autoptr (GVariant) owned = g_variant_ref_sink (rows);
  carb_store_lock (store);
  const CarbSqlSyntax *syntax = writable (store, error);
  const CarbQuery *query = syntax != NULL ? prepared_query (store, model, error) : NULL;
  g_autofree char *sql = query != NULL ? carb_write_sql_upsert (query, syntax, error) : NULL;
  gboolean ok = sql != NULL
                && write_rows (store, query, sql, model->n_columns, g_variant_n_children (owned),
                               variant_params, owned, error);
  carb_store_unlock (store);
  return ok;
}

/**
 * carb_store_delete_rows: (skip)
 * @store: a store
 * @model: the model of the table, with an is-deleted column
 * @rows: (array length=n_rows): @n_rows structs; only their ids are read
 * @n_rows: the number of rows
 * @error: return location for a #GError
 *
 * Soft-deletes the rows with these ids: sets their tombstone flag, which
 * the database stamps, so the delete reaches every device. Ids with no
 * row are no error (deleting twice is harmless). A model without an
 * is-deleted column is refused (%CARB_ERROR_INVALID_MODEL): a hard delete
 * would never sync.
 *
 * Returns: %TRUE on success
 */
gboolean
carb_store_delete_rows (
    CarbStore *store, const CarbModel *model, gconstpointer rows, gsize n_rows, GError **error)
{
  g_return_val_if_fail (store != NULL && model != NULL && (rows != NULL || n_rows == 0), FALSE);
  carb_store_lock (store);
  const CarbSqlSyntax *syntax = writable (store, error);
  const CarbQuery *query = syntax != NULL ? prepared_query (store, model, error) : NULL;
  g_autofree char *sql = NULL;
  if (query != NULL && query->deleted_column < 0)
    g_set_error (
        error, CARB_ERROR, CARB_ERROR_INVALID_MODEL,
        "Model for table “%s” has no is-deleted column: deletes are soft so that they sync; add one with "
        "CARB_DELETED ()",
        model->table);
  else if (query != NULL)
    sql = carb_write_sql_soft_delete (query, syntax, error);
  StructRows data = { rows, model->struct_size };
  gboolean ok = sql != NULL && write_rows (store, query, sql, 2, n_rows, soft_delete_params, &data, error);
  carb_store_unlock (store);
  return ok;
}

/**
 * carb_store_create_table:
 * @store: a store
 * @model: the model of the table to create
 * @error: return location for a #GError
 *
 * Creates @model's table if it does not exist, in the backend's types
 * (docs/TYPES.md): NOT NULL unless the column is nullable, the id as the
 * primary key, defaults for the timestamp and the tombstone; then
 * prepares it (carb_store_prepare_table()). An existing table is left as
 * it is and checked against @model like any other.
 *
 * Returns: %TRUE when the table exists, fits @model and is prepared
 */
gboolean
carb_store_create_table (CarbStore *store, const CarbModel *model, GError **error)
{
  g_return_val_if_fail (store != NULL && model != NULL, FALSE);
  CarbQuery resolved;
  if (!carb_model_resolve (model, &resolved, error))
    return FALSE;

  carb_store_lock (store);
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  CarbBackend *backend = carb_store_get_backend (store);
  const CarbSqlSyntax *syntax = writable (store, error);
  g_autofree char *ddl = syntax != NULL ? carb_write_sql_create_table (&resolved, syntax, error) : NULL;
  gboolean ok = ddl != NULL && vt->execute (backend, ddl, error);
  if (ok)
    {
      carb_store_forget_models (store);
      const CarbQuery *query = carb_store_checked_query (store, model, error);
      ok = query != NULL && vt->prepare_table (backend, query, error);
    }
  carb_store_unlock (store);
  return ok;
}

/**
 * carb_store_execute_with_params:
 * @store: a store
 * @sql: one SQL statement whose parameters are written `$1`, `$2`, … on
 *   every backend
 * @params: (nullable): a tuple of the parameters: `b`, integer types,
 *   `d`, `s`, `ay`, or a maybe (`ms`, `mx`…) whose empty value is NULL
 * @n_changed: (out) (optional): the number of rows the statement inserted,
 *   updated or deleted
 * @error: return location for a #GError
 *
 * Runs one statement with bound parameters: values never become SQL text,
 * so no escaping is needed or possible. For writes to the synced tables
 * prefer carb_store_upsert_rows(), which needs no SQL at all.
 *
 * Returns: %TRUE on success, else %FALSE with @error set
 *   (%CARB_ERROR_QUERY with the database's message, %CARB_ERROR_INVALID_DATA
 *   for an unsupported parameter type)
 */
gboolean
carb_store_execute_with_params (
    CarbStore *store, const char *sql, GVariant *params, guint64 *n_changed, GError **error)
{
  g_return_val_if_fail (store != NULL && sql != NULL, FALSE);
  g_autoptr (GVariant) owned
      = params != NULL ? g_variant_ref_sink (params) : g_variant_ref_sink (g_variant_new ("()"));
  guint n = 0;
  g_autofree CarbValue *values = carb_write_tuple_params (owned, &n, error);
  if (values == NULL)
    return FALSE;

  carb_store_lock (store);
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  guint64 changed = 0;
  gboolean ok = writable (store, error) != NULL
                && vt->execute_params (carb_store_get_backend (store), sql, values, n, &changed, error);
  /* The statement may have changed a schema under a checked model. */
  carb_store_forget_models (store);
  carb_store_unlock (store);
  if (ok && n_changed != NULL)
    *n_changed = changed;
  return ok;
}
