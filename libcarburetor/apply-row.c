/* Carburetor — one row of an apply: the stored row read and locked, the
 * incoming changes merged per column (the greater version wins; a tie
 * keeps the stored value, so a batch applied twice writes nothing), and
 * the write of what won; when the database refuses a write, the batch is
 * run again with each write inside a savepoint, so that the error rejects
 * that row alone.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "twoway-private.h"

#include <string.h>

#define SAVEPOINT "carb_apply_row"

/* The stored row stays as the sink decoded it (a struct of the wire
 * model): a GVariant is made of a stored value only where the merge needs
 * one (an immutable or filter column, the validation callback); the
 * write's parameters and the answer are made from the struct. For 500
 * rows of 13 columns that was ~6 500 GVariants made and freed per chunk,
 * a third of the apply's CPU. */
struct _CarbApplyRow
{
  const CarbTwowayTable *t;
  char *row_id;
  gboolean exists;
  gconstpointer stored;  /* the stored wire row (a sink's struct), or NULL */
  CarbSink *stored_sink; /* owns @stored when the row read it itself; else the caller's sink does */
  GVariant **value;      /* model column → merged value, NULL for SQL NULL, where @known */
  gboolean *known;       /* model column → @value holds it (else it is @stored's, made on demand) */
  CarbVersion *version;  /* model column → merged version ({0, 0}: none) */
  gboolean *has_version; /* model column → whether the version is not NULL */
  gboolean *won;         /* model column → whether a change won */
  gboolean any_won;
  gboolean written;
  CarbSink *now;     /* holds the row as a row-at-a-time write left it, or NULL */
  GBytes *now_state; /* the row's state as a bulk write returned it, or NULL */
};

CarbApplyRow *
carb_apply_row_new (const CarbTwowayTable *t, const char *row_id)
{
  guint n = t->model->n_columns;
  CarbApplyRow *row = g_new0 (CarbApplyRow, 1);
  row->t = t;
  row->row_id = g_strdup (row_id);
  row->value = g_new0 (GVariant *, n);
  row->known = g_new0 (gboolean, n);
  row->version = g_new0 (CarbVersion, n);
  row->has_version = g_new0 (gboolean, n);
  row->won = g_new0 (gboolean, n);
  return row;
}

void
carb_apply_row_free (CarbApplyRow *row)
{
  if (row == NULL)
    return;
  for (guint i = 0; i < row->t->model->n_columns; i++)
    g_clear_pointer (&row->value[i], g_variant_unref);
  g_clear_pointer (&row->stored_sink, carb_sink_free);
  g_clear_pointer (&row->now, carb_sink_free);
  g_clear_pointer (&row->now_state, g_bytes_unref);
  g_free (row->value);
  g_free (row->known);
  g_free (row->version);
  g_free (row->has_version);
  g_free (row->won);
  g_free (row->row_id);
  g_free (row);
}

/* The row of @sql (select_sql or reread_sql): a sink holding it, or
 * none, in @rows (transfer full), the row in @found (NULL when there is
 * none). */
static gboolean
query_row (CarbApplyRow *row,
           CarbStore *store,
           const char *sql,
           CarbSink **rows,
           gconstpointer *found,
           GCancellable *cancellable,
           GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  const CarbTwowayTable *t = row->t;
  CarbValue id = {
    .type = t->wire->columns[t->query->id_column].type,
    .v_data = row->row_id,
    .v_len = strlen (row->row_id),
  };
  g_autoptr (CarbSink) sink = carb_sink_new_buffered (t->wire, cancellable);
  if (!vt->query_rows (carb_store_get_backend (store), t->query, sql, &id, 1, sink, error))
    return FALSE;
  *found = carb_sink_get_last_row (sink);
  *rows = g_steal_pointer (&sink);
  return TRUE;
}

gboolean
carb_apply_row_read (CarbApplyRow *row, CarbStore *store, GCancellable *cancellable, GError **error)
{
  CarbSink *rows = NULL;
  gconstpointer stored = NULL;
  if (!query_row (row, store, row->t->select_sql, &rows, &stored, cancellable, error))
    return FALSE;
  carb_apply_row_set_stored (row, stored);
  g_clear_pointer (&row->stored_sink, carb_sink_free);
  row->stored_sink = rows;
  return TRUE;
}

void
carb_apply_row_set_stored (CarbApplyRow *row, gconstpointer stored)
{
  const CarbTwowayTable *t = row->t;
  g_clear_pointer (&row->stored_sink, carb_sink_free);
  row->stored = stored;
  row->exists = row->stored != NULL;
  /* The wire model is the model's columns, then the versions: model
   * column i is wire column i. */
  for (guint i = 0; i < t->model->n_columns; i++)
    {
      g_clear_pointer (&row->value[i], g_variant_unref);
      /* A new row: its id is the change's, every other column NULL until
       * a change sets it. An existing row's values are made on demand. */
      row->known[i] = !row->exists;
      if (!row->exists)
        {
          if (i == t->query->id_column)
            row->value[i] = g_variant_ref_sink (g_variant_new_string (row->row_id));
          continue;
        }
      if (t->version_column[i] >= 0)
        row->version[i]
            = carb_twoway_raw_version (t->wire, stored, t->version_column[i], &row->has_version[i]);
    }
}

/* Model column @i of the merged row (NULL for SQL NULL). */
static GVariant *
value_at (const CarbApplyRow *row, guint i)
{
  CarbApplyRow *self = (CarbApplyRow *) row; /* fills a cache only */
  if (!row->known[i])
    {
      const CarbColumn *col = &row->t->wire->columns[i];
      self->value[i] = carb_column_is_null (col, row->stored)
                           ? NULL
                           : g_variant_ref_sink (carb_model_column_variant (col, row->stored));
      self->known[i] = TRUE;
    }
  return row->value[i];
}

const char *
carb_apply_row_get_id (const CarbApplyRow *row)
{
  return row->row_id;
}

gboolean
carb_apply_row_won (const CarbApplyRow *row, guint column)
{
  return row->won[column];
}

static gboolean
same_value (GVariant *a, GVariant *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return g_variant_equal (a, b);
}

void
carb_apply_row_merge (CarbApplyRow *row, const CarbChange *change, char **rejected_column)
{
  const CarbTwowayTable *t = row->t;
  guint i = (guint) carb_model_find_column (t->model, change->column);
  /* An immutable column is set when a row is made and never after: a
   * different value that would win is a rejection. The same value again
   * is not, nor a write that would lose anyway (its version at or below
   * the stored one): a retried insert sends the value as the replica
   * wrote it, with its first version, which the database may have stored
   * otherwise (a FLOAT rounded, jsonb's key order) or an administrator
   * changed since, and rejecting it would drop a later edit sent with it.
   * A tie or an older version never wins the merge below, so the stored
   * value stays. */
  if (row->exists && carb_sync_group_is_immutable (t->group, t->index, i)
      && !(row->has_version[i] && carb_version_compare (&change->version, &row->version[i]) <= 0)
      && !same_value (value_at (row, i), change->value))
    {
      *rejected_column = g_strdup (change->column);
      return;
    }
  if (carb_version_compare (&change->version, &row->version[i]) <= 0)
    return;
  g_clear_pointer (&row->value[i], g_variant_unref);
  row->value[i] = change->value != NULL ? g_variant_ref (change->value) : NULL;
  row->known[i] = TRUE;
  row->version[i] = change->version;
  row->has_version[i] = TRUE;
  row->won[i] = TRUE;
  row->any_won = TRUE;
}

gboolean
carb_apply_row_exists (const CarbApplyRow *row)
{
  return row->exists;
}

gboolean
carb_apply_row_any_won (const CarbApplyRow *row)
{
  return row->any_won;
}

static gboolean
in_filter (const CarbApplyRow *row, GVariant *value, GVariant *context)
{
  const CarbTwowayTable *t = row->t;
  if (t->filter_column < 0)
    return TRUE;
  g_autoptr (GVariant) wanted
      = context != NULL ? g_variant_lookup_value (context, t->filter_key, NULL) : NULL;
  return carb_twoway_filter_matches (value, wanted);
}

gboolean
carb_apply_row_stored_in_filter (const CarbApplyRow *row, GVariant *context)
{
  if (!row->exists || row->t->filter_column < 0)
    return TRUE;
  const CarbColumn *col = &row->t->wire->columns[row->t->filter_column];
  g_autoptr (GVariant) stored = carb_column_is_null (col, row->stored)
                                    ? NULL
                                    : g_variant_ref_sink (carb_model_column_variant (col, row->stored));
  return in_filter (row, stored, context);
}

gboolean
carb_apply_row_merged_in_filter (const CarbApplyRow *row, GVariant *context)
{
  if (row->t->filter_column < 0)
    return TRUE;
  return in_filter (row, value_at (row, (guint) row->t->filter_column), context);
}

GVariant *
carb_apply_row_to_variant (const CarbApplyRow *row)
{
  GVariantBuilder builder;
  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; i < row->t->model->n_columns; i++)
    {
      GVariant *v = value_at (row, i);
      g_variant_builder_add (&builder, "{sv}", row->t->model->columns[i].name,
                             v != NULL ? v : g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL));
    }
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

/* The merged row's parameters by wire column, versions as text
 * (carb_write_value_param() checks NOT NULL and the types): a value no
 * change beat comes from the stored struct; a won value and a version
 * written come from GVariants in @wire (free with carb_values_free()),
 * which the parameters point into. */
static gboolean
wire_params (const CarbApplyRow *row, GVariant **wire, CarbValue *params, GError **error)
{
  const CarbTwowayTable *t = row->t;
  const CarbQuery *q = t->query;
  guint n_model = t->model->n_columns;
  gboolean *done = g_newa (gboolean, t->wire->n_columns);
  memset (done, 0, sizeof (gboolean) * t->wire->n_columns);
  for (guint i = 0; i < n_model; i++)
    {
      gboolean mine = !row->exists || row->won[i];
      done[i] = TRUE;
      if (i != q->ts_column && mine)
        wire[i] = row->value[i] != NULL ? g_variant_ref (row->value[i]) : NULL;
      if (!(mine || i == q->ts_column ? carb_write_value_param (q, i, wire[i], 0, &params[i], error)
                                      : carb_write_struct_param (q, i, row->stored, 0, &params[i], error)))
        return FALSE;
      gint vc = t->version_column[i];
      if (vc < 0)
        continue;
      done[vc] = TRUE;
      /* An existing row's version that no change beat is not written (an
       * update sets the won columns alone): the stored text serves. */
      if (row->exists && !row->won[i] && !carb_column_is_null (&t->wire->columns[vc], row->stored))
        {
          if (!carb_write_struct_param (q, (guint) vc, row->stored, 0, &params[vc], error))
            return FALSE;
          continue;
        }
      /* A new row gets every version set, the lowest (0, 0) for a column
       * no change wrote: left NULL, the versioning trigger would take the
       * insert for a bypass write and give those columns the server's
       * current version, which would beat the replicas' earlier edits. */
      if (row->has_version[i] || !row->exists)
        {
          g_autofree char *text = carb_version_to_string (&row->version[i]);
          wire[vc] = g_variant_ref_sink (g_variant_new_string (text));
        }
      if (!carb_write_value_param (q, (guint) vc, wire[vc], 0, &params[vc], error))
        return FALSE;
    }
  /* Any other wire column (none today) as carb_write_values_params()
   * would take it: nothing. */
  for (guint c = 0; c < t->wire->n_columns; c++)
    if (!done[c] && !carb_write_value_param (q, c, NULL, 0, &params[c], error))
      return FALSE;
  return TRUE;
}

static void
append_ident (GString *sql, const CarbTwowayTable *t, const char *name)
{
  carb_sql_append_ident (sql, name, t->syntax, t->wire, NULL);
}

/* INSERT of every wire column, $k the k-th column's parameter (the
 * timestamp's is a placeholder the stamping trigger replaces). */
static char *
insert_sql (const CarbTwowayTable *t, guint *n_params)
{
  g_autoptr (GString) sql = g_string_new ("INSERT INTO ");
  carb_sql_append_table (sql, t->wire, t->syntax, NULL);
  g_string_append (sql, " (");
  for (guint c = 0; c < t->wire->n_columns; c++)
    {
      if (c > 0)
        g_string_append (sql, ", ");
      append_ident (sql, t, t->wire->columns[c].name);
    }
  g_string_append (sql, ") VALUES (");
  for (guint c = 0; c < t->wire->n_columns; c++)
    g_string_append_printf (sql, "%s$%u", c > 0 ? ", " : "", c + 1);
  g_string_append (sql, ")");
  *n_params = t->wire->n_columns;
  return g_string_free (g_steal_pointer (&sql), FALSE);
}

/* UPDATE of the won columns and their versions only (the library sets the
 * version itself, which the versioning trigger keeps), by id. @params
 * (every wire column's) are compacted to the ones used: PostgreSQL cannot
 * type a text parameter a statement does not use. */
static char *
update_sql (const CarbApplyRow *row, CarbValue *params, guint *n_params)
{
  const CarbTwowayTable *t = row->t;
  g_autofree CarbValue *all = g_memdup2 (params, sizeof (CarbValue) * t->wire->n_columns);
  g_autoptr (GString) sql = g_string_new ("UPDATE ");
  guint n = 0;
  carb_sql_append_table (sql, t->wire, t->syntax, NULL);
  g_string_append (sql, " SET ");
  for (guint i = 0; i < t->model->n_columns; i++)
    {
      if (!row->won[i])
        continue;
      guint cols[2] = { i, (guint) t->version_column[i] };
      for (guint k = 0; k < 2; k++)
        {
          if (n > 0)
            g_string_append (sql, ", ");
          append_ident (sql, t, t->wire->columns[cols[k]].name);
          params[n] = all[cols[k]];
          g_string_append_printf (sql, " = $%u", ++n);
        }
    }
  g_string_append (sql, " WHERE ");
  append_ident (sql, t, t->wire->columns[t->query->id_column].name);
  params[n] = all[t->query->id_column];
  g_string_append_printf (sql, " = $%u", ++n);
  *n_params = n;
  return g_string_free (g_steal_pointer (&sql), FALSE);
}

/* A database's message for a replica: without the "PostgreSQL “uri”: "
 * prefix, which names the server. */
static char *
refusal (const GError *error)
{
  const char *msg = error->message;
  const char *cut = strstr (msg, "”: ");
  if (cut != NULL && (g_str_has_prefix (msg, "PostgreSQL “") || g_str_has_prefix (msg, "SQLite “")))
    msg = cut + strlen ("”: ");
  return g_strdup_printf ("the database refused the row: %s", msg);
}

gboolean
carb_apply_row_insert_params (CarbApplyRow *row, GVariant ***wire, CarbValue *params, char **rejection)
{
  g_autoptr (GError) local = NULL;
  *wire = g_new0 (GVariant *, row->t->wire->n_columns);
  if (wire_params (row, *wire, params, &local))
    return TRUE;
  *rejection = g_strdup (local->message);
  return FALSE;
}

void
carb_apply_row_set_written (CarbApplyRow *row, GBytes *state)
{
  g_clear_pointer (&row->now_state, g_bytes_unref);
  row->now_state = state;
  row->written = TRUE;
  row->exists = TRUE;
}

static gboolean write_params (CarbApplyRow *row,
                              CarbStore *store,
                              gboolean savepoint,
                              CarbValue *params,
                              gboolean *redo,
                              char **rejection,
                              GError **error);

gboolean
carb_apply_row_write (
    CarbApplyRow *row, CarbStore *store, gboolean savepoint, char **rejection, gboolean *redo, GError **error)
{
  const CarbTwowayTable *t = row->t;
  g_autofree CarbValue *params = g_new0 (CarbValue, t->wire->n_columns);
  GVariant **wire = NULL;

  /* The values point into @wire, alive until the statement ran. */
  gboolean ok = !carb_apply_row_insert_params (row, &wire, params, rejection)
                || write_params (row, store, savepoint, params, redo, rejection, error);
  carb_values_free (wire, t->wire->n_columns);
  return ok;
}

gboolean
carb_apply_refused_by_data (CarbStore *store, const GError *error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  if (error->domain != CARB_ERROR || error->code == CARB_ERROR_CONNECTION || error->code == CARB_ERROR_BUSY)
    return FALSE;
  /* Only a statement the database failed has a cause to ask about; a
   * value the library refused (INVALID_DATA) is the row's. */
  if (error->code != CARB_ERROR_QUERY || !CARB_VTABLE_HAS (vt, last_failure_refuses_data))
    return TRUE;
  return vt->last_failure_refuses_data (carb_store_get_backend (store));
}

/* The write itself, @params ready. */
static gboolean
write_params (CarbApplyRow *row,
              CarbStore *store,
              gboolean savepoint,
              CarbValue *params,
              gboolean *redo,
              char **rejection,
              GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  CarbBackend *backend = carb_store_get_backend (store);
  const CarbTwowayTable *t = row->t;
  g_autoptr (GError) local = NULL;
  guint n_params = 0;
  g_autofree char *sql = row->exists ? update_sql (row, params, &n_params) : insert_sql (t, &n_params);
  if (savepoint && !vt->execute (backend, "SAVEPOINT " SAVEPOINT, error))
    return FALSE;
  guint64 changed = 0;
  if (vt->execute_params (backend, sql, params, n_params, &changed, &local))
    {
      row->written = TRUE;
      row->exists = TRUE;
      return !savepoint || vt->execute (backend, "RELEASE SAVEPOINT " SAVEPOINT, error);
    }
  /* A lost connection, a failure for now (a lock not granted in time, a
   * deadlock) or of the database (a privilege, a full disk): the batch
   * fails and the replica uploads again. Taken for a refusal, it would
   * reject the row, and the replica would drop its changes for good. */
  if (!carb_apply_refused_by_data (store, local))
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  if (!savepoint)
    {
      /* The transaction may be lost (PostgreSQL aborts it): the batch is
       * run again, with savepoints. */
      *redo = TRUE;
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  *rejection = refusal (local);
  return vt->execute (backend, "ROLLBACK TO SAVEPOINT " SAVEPOINT, error)
         && vt->execute (backend, "RELEASE SAVEPOINT " SAVEPOINT, error);
}

gboolean
carb_apply_row_add_state (CarbApplyRow *row,
                          CarbStore *store,
                          gboolean hide,
                          CarbRowsWriter *rows,
                          GCancellable *cancellable,
                          GError **error)
{
  const CarbTwowayTable *t = row->t;
  /* After a row-at-a-time write, read again: the database may have
   * normalized a value (a UUID's case, a number's form), and the replica
   * must hold exactly what a download would give it. A bulk write's
   * RETURNING gave the row as stored already. */
  if (row->written && row->now_state != NULL)
    {
      if (hide)
        {
          carb_rows_writer_begin_row (rows, t->model->table, row->row_id);
          carb_rows_writer_end_row (rows);
        }
      else
        carb_rows_writer_add_row_columns (rows, t->model->table, row->row_id, row->now_state);
      return TRUE;
    }
  gconstpointer now = row->now != NULL ? carb_sink_get_last_row (row->now) : NULL;
  if (row->written && row->now == NULL
      && !query_row (row, store, t->reread_sql, &row->now, &now, cancellable, error))
    return FALSE;
  gconstpointer state = row->written ? now : row->stored;
  carb_rows_writer_begin_row (rows, t->model->table, row->row_id);
  if (!hide && state != NULL)
    carb_twoway_add_raw_state (t, state, rows);
  carb_rows_writer_end_row (rows);
  return TRUE;
}
