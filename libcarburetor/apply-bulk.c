/* Carburetor — the reads and writes of an apply for many rows at once: one
 * locking SELECT per chunk of a batch's rows, one INSERT of the chunk's
 * new rows, and one upsert per set of won columns of its existing rows,
 * each RETURNING the rows as stored, so no row is read back (a few round
 * trips per chunk instead of three per row; docs/TWOWAY.md, "Locking
 * order and round trips").
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "twoway-private.h"

#include <string.h>

typedef struct
{
  const CarbTwowayTable *t;
  GHashTable *by_id; /* id → the row's state (GBytes) */
} Collect;

/* A written row's state for the answer, by id: the RETURNING rows are
 * written as answer bytes at once, never as GVariants. */
static gboolean
collect_state (gconstpointer row, gpointer user_data, GError **error)
{
  Collect *c = user_data;
  guint id = c->t->id_column;
  if (carb_model_row_is_null (c->t->wire, row, id))
    return TRUE;
  /* The id column is NOT NULL text (TEXT or UUID, canonical). */
  const char *text = *(char *const *) (gconstpointer) ((const guint8 *) row + c->t->wire->columns[id].offset);
  if (!g_hash_table_contains (c->by_id, text))
    g_hash_table_insert (c->by_id, g_strdup (text), carb_twoway_state_of_row (c->t, row));
  return TRUE;
}

/* Runs @sql through query_rows, the states of the rows it returns by id
 * in @by_id. */
static gboolean
query_by_id (const CarbTwowayTable *t,
             CarbStore *store,
             const char *sql,
             const CarbValue *params,
             guint n_params,
             GHashTable *by_id,
             GCancellable *cancellable,
             GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  Collect c = { t, by_id };
  g_autoptr (CarbSink) sink = carb_sink_new_streaming (t->wire, collect_state, &c, cancellable);
  return vt->query_rows (carb_store_get_backend (store), t->query, sql, params, n_params, sink, error);
}

static void
append_ident (GString *sql, const CarbTwowayTable *t, const char *name)
{
  carb_sql_append_ident (sql, name, t->syntax, t->wire, NULL);
}

/* The id column in ORDER BY: rows are locked in the order the SELECT
 * returns them, and every apply must lock in one order, the one the core
 * sorts a batch in, bytewise (strcmp). A UUID sorts as its 16 bytes, which
 * is the byte order of its canonical lower-case text; text sorts by the
 * database's collation unless told otherwise, hence COLLATE "C" where rows
 * are locked (PostgreSQL; SQLite locks the whole database, and its default
 * collation is bytewise anyway). */
static void
append_order (GString *sql, const CarbTwowayTable *t)
{
  g_string_append (sql, " ORDER BY ");
  append_ident (sql, t, t->wire->columns[t->query->id_column].name);
  if (t->wire->columns[t->query->id_column].type == CARB_COLUMN_TYPE_TEXT)
    g_string_append (sql, " COLLATE \"C\"");
}

/* The id of struct row @row, or NULL. The id column is NOT NULL text
 * (TEXT or UUID, canonical). */
static const char *
row_id (const CarbTwowayTable *t, gconstpointer row)
{
  guint id = t->query->id_column;
  if (carb_model_row_is_null (t->wire, row, id))
    return NULL;
  return *(char *const *) (gconstpointer) ((const guint8 *) row + t->wire->columns[id].offset);
}

gboolean
carb_apply_bulk_read (const CarbTwowayTable *t,
                      CarbStore *store,
                      CarbApplyRow *const *rows,
                      guint n,
                      const char *begin,
                      CarbSink **stored,
                      GCancellable *cancellable,
                      GError **error)
{
  g_autoptr (GString) sql = g_string_new ("SELECT ");
  if (!carb_sql_append_select_list (sql, t->query, t->syntax, error))
    return FALSE;
  g_string_append (sql, " FROM ");
  carb_sql_append_table (sql, t->wire, t->syntax, NULL);
  g_string_append (sql, " WHERE ");
  append_ident (sql, t, t->wire->columns[t->query->id_column].name);
  g_string_append (sql, " IN (");
  g_autofree CarbValue *params = g_new0 (CarbValue, n);
  for (guint i = 0; i < n; i++)
    {
      const char *id = carb_apply_row_get_id (rows[i]);
      params[i] = (CarbValue){
        .type = t->wire->columns[t->query->id_column].type,
        .v_data = id,
        .v_len = strlen (id),
      };
      g_string_append_printf (sql, "%s$%u", i > 0 ? ", " : "", i + 1);
    }
  g_string_append (sql, ")");
  const char *lock = carb_sql_lock_rows (t->syntax);
  if (*lock != '\0')
    append_order (sql, t);
  g_string_append (sql, lock);

  /* The rows stay in the sink, as it decoded them, for the merge, the
   * write and the answer (apply-row.c). */
  const CarbBackendVTable *vt = carb_store_get_vtable (store);
  g_autoptr (CarbSink) sink = carb_sink_new_buffered (t->wire, cancellable);
  CarbBackend *backend = carb_store_get_backend (store);
  if (begin != NULL && CARB_VTABLE_HAS (vt, begin_query_rows)
          ? !vt->begin_query_rows (backend, begin, t->query, sql->str, params, n, sink, error)
          : (begin != NULL && !vt->execute (backend, begin, error))
                || !vt->query_rows (backend, t->query, sql->str, params, n, sink, error))
    return FALSE;
  g_autoptr (GHashTable) by_id = g_hash_table_new (g_str_hash, g_str_equal);
  for (gsize k = 0; k < carb_sink_get_n_rows (sink); k++)
    {
      gconstpointer row = carb_sink_get_row (sink, k);
      const char *id = row_id (t, row);
      if (id != NULL && !g_hash_table_contains (by_id, id))
        g_hash_table_insert (by_id, (gpointer) id, (gpointer) row);
    }
  for (guint i = 0; i < n; i++)
    carb_apply_row_set_stored (rows[i], g_hash_table_lookup (by_id, carb_apply_row_get_id (rows[i])));
  *stored = g_steal_pointer (&sink);
  return TRUE;
}

/* INSERT of every wire column of @n rows, then ON CONFLICT: DO NOTHING for
 * new rows, or the won columns of @rows[0] and their versions from
 * `excluded` (a version written is never NULL, so the versioning
 * trigger's BEFORE INSERT leaves it as given), RETURNING the wire columns. */
static char *
write_sql (const CarbTwowayTable *t, CarbApplyRow *const *rows, guint n, gboolean insert, GError **error)
{
  const CarbModel *wire = t->wire;
  g_autoptr (GString) sql = g_string_new ("INSERT INTO ");
  carb_sql_append_table (sql, wire, t->syntax, NULL);
  g_string_append (sql, " (");
  for (guint c = 0; c < wire->n_columns; c++)
    {
      if (c > 0)
        g_string_append (sql, ", ");
      append_ident (sql, t, wire->columns[c].name);
    }
  g_string_append (sql, ") VALUES ");
  for (guint i = 0; i < n; i++)
    {
      g_string_append (sql, i > 0 ? ", (" : "(");
      for (guint c = 0; c < wire->n_columns; c++)
        g_string_append_printf (sql, "%s$%u", c > 0 ? ", " : "", i * wire->n_columns + c + 1);
      g_string_append (sql, ")");
    }
  g_string_append (sql, " ON CONFLICT (");
  append_ident (sql, t, wire->columns[t->query->id_column].name);
  g_string_append (sql, insert ? ") DO NOTHING" : ") DO UPDATE SET ");
  gboolean any = FALSE;
  for (guint i = 0; !insert && i < t->model->n_columns; i++)
    {
      if (!carb_apply_row_won (rows[0], i))
        continue;
      const char *cols[2] = { t->model->columns[i].name, wire->columns[t->version_column[i]].name };
      for (guint k = 0; k < 2; k++)
        {
          g_string_append (sql, any ? ", " : "");
          append_ident (sql, t, cols[k]);
          g_string_append (sql, " = excluded.");
          append_ident (sql, t, cols[k]);
          any = TRUE;
        }
    }
  g_string_append (sql, " RETURNING ");
  if (!carb_sql_append_select_list (sql, t->query, t->syntax, error))
    return NULL;
  return g_string_free (g_steal_pointer (&sql), FALSE);
}

/* The wire columns an UPDATE of rows like @row sends: the id, then each
 * won column and its version. */
static guint
update_columns (const CarbTwowayTable *t, const CarbApplyRow *row, guint *cols)
{
  guint n = 0;
  cols[n++] = t->query->id_column;
  for (guint i = 0; i < t->model->n_columns; i++)
    if (carb_apply_row_won (row, i))
      {
        cols[n++] = i;
        cols[n++] = (guint) t->version_column[i];
      }
  return n;
}

/* Where rows are locked (PostgreSQL), existing rows are written by an
 * UPDATE of their won columns and versions from a VALUES list of those
 * alone, RETURNING the wire columns: a third of the parameters of the
 * upsert, and no BEFORE INSERT trigger run for a row that is not
 * inserted. Text parameters go untyped, which VALUES would make text: a
 * first row of typed NULLs, one scalar subquery per column, gives each
 * column of the list its table column's type. Its NULL id matches no row. */
static char *
update_sql (const CarbTwowayTable *t, const guint *cols, guint n_cols, guint n, GError **error)
{
  const CarbModel *wire = t->wire;
  g_autoptr (GString) sql = g_string_new ("UPDATE ");
  carb_sql_append_table (sql, wire, t->syntax, NULL);
  g_string_append (sql, " AS carb_t SET ");
  for (guint c = 1; c < n_cols; c++)
    {
      if (c > 1)
        g_string_append (sql, ", ");
      append_ident (sql, t, wire->columns[cols[c]].name);
      g_string_append_printf (sql, " = carb_v.k%u", c);
    }
  g_string_append (sql, " FROM (VALUES (");
  for (guint c = 0; c < n_cols; c++)
    {
      g_string_append (sql, c > 0 ? ", (SELECT " : "(SELECT ");
      append_ident (sql, t, wire->columns[cols[c]].name);
      g_string_append (sql, " FROM ");
      carb_sql_append_table (sql, wire, t->syntax, NULL);
      g_string_append (sql, " LIMIT 0)");
    }
  g_string_append (sql, ")");
  for (guint i = 0; i < n; i++)
    {
      g_string_append (sql, ", (");
      for (guint c = 0; c < n_cols; c++)
        g_string_append_printf (sql, "%s$%u", c > 0 ? ", " : "", i * n_cols + c + 1);
      g_string_append (sql, ")");
    }
  g_string_append (sql, ") AS carb_v (");
  for (guint c = 0; c < n_cols; c++)
    g_string_append_printf (sql, "%sk%u", c > 0 ? ", " : "", c);
  g_string_append (sql, ") WHERE carb_t.");
  append_ident (sql, t, wire->columns[t->query->id_column].name);
  g_string_append (sql, " = carb_v.k0 RETURNING ");
  if (!carb_sql_append_select_list (sql, t->query, t->syntax, error))
    return NULL;
  return g_string_free (g_steal_pointer (&sql), FALSE);
}

/* Whether existing rows are written with update_sql(). */
static gboolean
writes_by_update (const CarbTwowayTable *t, gboolean insert)
{
  return !insert && *carb_sql_lock_rows (t->syntax) != '\0';
}

/* The statement for the rows of @sent, @params theirs, what it returns
 * in @by_id. */
static gboolean
write_sent (const CarbTwowayTable *t,
            CarbStore *store,
            CarbApplyRow *const *sent,
            guint n_sent,
            gboolean insert,
            const CarbValue *params,
            GHashTable *by_id,
            gboolean *redo,
            GCancellable *cancellable,
            GError **error)
{
  guint n_wire = t->wire->n_columns;
  g_autofree char *sql = NULL;
  g_autofree CarbValue *picked = NULL;
  guint n_params = n_sent * n_wire;
  if (writes_by_update (t, insert))
    {
      g_autofree guint *cols = g_new (guint, n_wire);
      guint n_cols = update_columns (t, sent[0], cols);
      sql = update_sql (t, cols, n_cols, n_sent, error);
      picked = g_new (CarbValue, (gsize) n_sent * n_cols);
      for (guint i = 0; i < n_sent; i++)
        for (guint c = 0; c < n_cols; c++)
          picked[(gsize) i * n_cols + c] = params[(gsize) i * n_wire + cols[c]];
      params = picked;
      n_params = n_sent * n_cols;
    }
  else
    sql = write_sql (t, sent, n_sent, insert, error);
  if (sql == NULL)
    return FALSE;
  g_autoptr (GError) local = NULL;
  if (query_by_id (t, store, sql, params, n_params, by_id, cancellable, &local))
    return TRUE;
  /* The transaction may be lost (PostgreSQL aborts it): the batch is run
   * again, a row at a time, each write in a savepoint, so that the
   * refusal names its row. A failure for now too (a statement_timeout
   * that a chunk's statement hit may spare a row's); the second try fails
   * the batch if it comes again, never rejects a row for it. */
  if (carb_apply_refused_by_data (store, local) || g_error_matches (local, CARB_ERROR, CARB_ERROR_BUSY))
    *redo = TRUE;
  g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}

gboolean
carb_apply_bulk_write (const CarbTwowayTable *t,
                       CarbStore *store,
                       CarbApplyRow *const *rows,
                       guint n,
                       gboolean insert,
                       char **rejections,
                       gboolean *raced,
                       gboolean *redo,
                       GCancellable *cancellable,
                       GError **error)
{
  guint n_wire = t->wire->n_columns;
  g_autofree CarbValue *params = g_new0 (CarbValue, (gsize) n * n_wire);
  g_autofree CarbApplyRow **sent = g_new0 (CarbApplyRow *, n);
  g_autofree GVariant ***wires = g_new0 (GVariant **, n);
  guint n_sent = 0;
  for (guint i = 0; i < n; i++)
    {
      /* The values point into @wires[i], alive until the statement ran. */
      if (carb_apply_row_insert_params (rows[i], &wires[i], &params[(gsize) n_sent * n_wire], &rejections[i]))
        sent[n_sent++] = rows[i];
    }
  GHashTable *by_id = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  gboolean ok
      = n_sent == 0 || write_sent (t, store, sent, n_sent, insert, params, by_id, redo, cancellable, error);
  for (guint i = 0; ok && n_sent > 0 && i < n; i++)
    {
      gpointer id = NULL, now = NULL;
      if (rejections[i] != NULL)
        continue;
      /* An INSERT leaves out a row another transaction inserted since the
       * read (ON CONFLICT DO NOTHING, after waiting for it to commit). */
      raced[i] = !g_hash_table_steal_extended (by_id, carb_apply_row_get_id (rows[i]), &id, &now);
      if (raced[i])
        continue;
      g_free (id);
      carb_apply_row_set_written (rows[i], now);
    }
  g_hash_table_unref (by_id);
  for (guint i = 0; i < n; i++)
    carb_values_free (wires[i], n_wire);
  return ok;
}
