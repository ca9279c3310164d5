/* Carburetor — carb_store_apply_changes(): a replica's changeset applied
 * on the server with per-column last-writer-wins, in one write
 * transaction, rows locked in a fixed order (docs/TWOWAY.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "twoway-private.h"

#include <string.h>

/* The changes of one row of the batch. */
typedef struct
{
  guint table;
  const char *row_id; /* into the parsed changes */
  GArray *changes;    /* guint indexes into the parsed changes */
} BatchRow;

static void
batch_row_free (gpointer data)
{
  BatchRow *r = data;
  g_array_unref (r->changes);
  g_free (r);
}

/* Table index, then row id bytewise: every apply locks rows in this
 * order, so two concurrent applies cannot wait for each other in a
 * cycle. */
static gint
batch_row_compare (gconstpointer a, gconstpointer b)
{
  const BatchRow *x = *(const BatchRow *const *) a, *y = *(const BatchRow *const *) b;
  if (x->table != y->table)
    return x->table < y->table ? -1 : 1;
  return strcmp (x->row_id, y->row_id);
}

static gboolean invalid (GError **error, CarbSyncGroup *group, const CarbChange *c, const char *format, ...)
    G_GNUC_PRINTF (4, 5);

static gboolean
invalid (GError **error, CarbSyncGroup *group, const CarbChange *c, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *why = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA, "Sync group “%s”, table “%s”, row “%s”: %s",
               carb_sync_group_get_name (group), c->table, c->row_id, why);
  return FALSE;
}

/* A change the server can take at all: a table of the group, a data or
 * is-deleted column of its model, a value of the column's type, a row id
 * in the id column's canonical form. Anything else is a malformed or
 * hostile batch, refused whole. */
static gboolean
check_change (CarbSyncGroup *group, const CarbChange *c, guint *table, GError **error)
{
  gint index = carb_sync_group_find_table (group, c->table);
  if (index < 0)
    return invalid (error, group, c, "no such table in the group");
  const CarbModel *model = carb_sync_group_get_model (group, (guint) index);
  if (c->column == NULL)
    return invalid (error, group, c,
                    "the row has no column (a withdrawal, which only a download page carries)");
  gint col = carb_model_find_column (model, c->column);
  if (col < 0)
    return invalid (error, group, c, "the model has no column “%s”", c->column);
  const CarbColumn *column = &model->columns[col];
  if (column->role != CARB_COLUMN_ROLE_DATA && column->role != CARB_COLUMN_ROLE_DELETED)
    return invalid (error, group, c, "column “%s” is not one a replica writes (id or timestamp)", c->column);
  /* The text form a server stores has 19 digits: a greater hlc would be
   * a malformed version, read back as the lowest. Only a group whose
   * clock bound is off lets one past the bound. */
  if (c->version.hlc > (guint64) G_MAXINT64)
    return invalid (error, group, c,
                    "column “%s”: the version's hlc %" G_GUINT64_FORMAT " is beyond %" G_GINT64_FORMAT
                    ", the greatest a version holds",
                    c->column, c->version.hlc, G_MAXINT64);
  const char *type = carb_twoway_value_type (column->type);
  if (c->value != NULL && strcmp (g_variant_get_type_string (c->value), type) != 0)
    return invalid (error, group, c, "column “%s” (%s) takes values of type “%s”, not “%s”", c->column,
                    carb_column_type_to_string (column->type), type, g_variant_get_type_string (c->value));
  for (guint i = 0; i < model->n_columns; i++)
    if (model->columns[i].role == CARB_COLUMN_ROLE_ID && model->columns[i].type == CARB_COLUMN_TYPE_UUID)
      {
        g_autofree char *canonical = g_strdup (c->row_id);
        if (!carb_value_canonical_uuid (canonical, strlen (canonical)) || strcmp (canonical, c->row_id) != 0)
          return invalid (error, group, c, "the row id is not a lower-case UUID");
      }
  *table = (guint) index;
  return TRUE;
}

/* Without the bound, one device whose clock reads 2040 would win every
 * conflict until 2040. */
static gboolean
check_clock (CarbSyncGroup *group, GArray *changes, GError **error)
{
  guint64 server = carb_twoway_server_hlc ();
  gint64 max_ahead = carb_sync_group_get_max_clock_ahead (group);
  gint64 now_ms = carb_hlc_get_wall_ms (server);
  for (guint i = 0; i < changes->len; i++)
    {
      const CarbChange *c = &g_array_index (changes, CarbChange, i);
      gint64 ahead = carb_hlc_get_wall_ms (c->version.hlc) - now_ms;
      if (ahead > max_ahead)
        {
          g_set_error (
              error, CARB_ERROR, CARB_ERROR_CLOCK_AHEAD,
              "Sync group “%s”, table “%s”, row “%s”, column “%s”: the change's version is %" G_GINT64_FORMAT
              " ms ahead of the server's clock (the group allows %" G_GINT64_FORMAT
              " ms); nothing was applied: correct the device's clock past the server's and "
              "retry. server hlc: %" G_GUINT64_FORMAT,
              carb_sync_group_get_name (group), c->table, c->row_id, c->column, ahead, max_ahead, server);
          return FALSE;
        }
    }
  return TRUE;
}

/* The batch's rows, each with its changes, in locking order. */
static GPtrArray *
batch_rows (CarbSyncGroup *group, GArray *changes, GError **error)
{
  g_autoptr (GHashTable) by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func (batch_row_free);
  for (guint i = 0; i < changes->len; i++)
    {
      const CarbChange *c = &g_array_index (changes, CarbChange, i);
      guint table = 0;
      if (!check_change (group, c, &table, error))
        return NULL;
      g_autofree char *key = g_strdup_printf ("%u\x1f%s", table, c->row_id);
      BatchRow *row = g_hash_table_lookup (by_key, key);
      if (row == NULL)
        {
          row = g_new0 (BatchRow, 1);
          row->table = table;
          row->row_id = c->row_id;
          row->changes = g_array_new (FALSE, FALSE, sizeof (guint));
          g_ptr_array_add (rows, row);
          g_hash_table_insert (by_key, g_steal_pointer (&key), row);
        }
      g_array_append_val (row->changes, i);
    }
  g_ptr_array_sort (rows, batch_row_compare);
  return g_steal_pointer (&rows);
}

typedef struct
{
  CarbStore *store;
  CarbSyncGroup *group;
  GVariant *context; /* an a{sv}, never NULL */
  GArray *changes;
  CarbTwowayTable *tables; /* initialized on first use */
  gboolean *table_ready;
  CarbRowsWriter rows; /* the answer being written */
  GArray *rejections;  /* CarbRejection */
  GCancellable *cancellable;
  gboolean savepoints; /* each write inside a savepoint (the second try) */
  const char *begin;   /* the transaction's start, not sent yet: it goes with the first read */
  gboolean redo;       /* the database refused a write made without one */
} Apply;

static void
reject (Apply *a, const BatchRow *r, const char *column, char *message)
{
  CarbRejection rejection = {
    g_strdup (carb_sync_group_get_model (a->group, r->table)->table),
    g_strdup (r->row_id),
    g_strdup (column != NULL ? column : ""),
    message,
  };
  g_array_append_val (a->rejections, rejection);
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

/* Whether the row exists now (read and locked): an insert that the
 * database refused may have raced another transaction's insert of the
 * same id, which committed meanwhile. */
static gboolean
row_appeared (Apply *a, const CarbTwowayTable *t, const BatchRow *r, gboolean *appeared, GError **error)
{
  g_autoptr (CarbApplyRow) probe = carb_apply_row_new (t, r->row_id);
  if (!carb_apply_row_read (probe, a->store, a->cancellable, error))
    return FALSE;
  *appeared = carb_apply_row_exists (probe);
  return TRUE;
}

/* Merges @r's changes into @row (read already) and checks the result;
 * TRUE when something won that may be written. A row outside the
 * replica's filter sets @hide; every rejection is recorded. */
static gboolean
merge_row (Apply *a, const BatchRow *r, const CarbTwowayTable *t, CarbApplyRow *row, gboolean *hide)
{
  *hide = FALSE;
  if (!carb_apply_row_stored_in_filter (row, a->context))
    {
      /* Another user's row: neither changed nor shown. */
      reject (a, r, NULL, g_strdup ("the row is outside this replica's filter"));
      *hide = TRUE;
      return FALSE;
    }
  g_autofree char *immutable = NULL;
  for (guint k = 0; k < r->changes->len && immutable == NULL; k++)
    carb_apply_row_merge (row, &g_array_index (a->changes, CarbChange, g_array_index (r->changes, guint, k)),
                          &immutable);
  if (immutable != NULL)
    {
      reject (a, r, immutable, g_strdup_printf ("column “%s” is immutable once the row exists", immutable));
      return FALSE;
    }
  if (!carb_apply_row_any_won (row))
    return FALSE;
  g_autoptr (GVariant) merged
      = carb_sync_group_has_validate (a->group) ? carb_apply_row_to_variant (row) : NULL;
  g_autoptr (GError) refused = NULL;
  if (!carb_apply_row_merged_in_filter (row, a->context))
    reject (a, r, NULL, g_strdup ("the change would put the row outside this replica's filter"));
  else if (merged != NULL
           && !carb_sync_group_validate (a->group, t->model->table, merged, a->context, &refused))
    reject (a, r, NULL, g_strdup (refused->message));
  else
    return TRUE;
  return FALSE;
}

/* Merges and checks one row, then writes it if anything won. FALSE only
 * when the batch must stop (a database or connection failure). With
 * @may_race, @raced is set, and nothing recorded, when the row's insert
 * was refused because another transaction inserted the same id: the
 * caller does the row again, merging with that one. */
static gboolean
apply_row_once (
    Apply *a, const BatchRow *r, const CarbTwowayTable *t, gboolean may_race, gboolean *raced, GError **error)
{
  g_autoptr (CarbApplyRow) row = carb_apply_row_new (t, r->row_id);
  if (!carb_apply_row_read (row, a->store, a->cancellable, error))
    return FALSE;

  gboolean hide = FALSE;
  if (merge_row (a, r, t, row, &hide))
    {
      g_autofree char *rejection = NULL;
      gboolean is_new = !carb_apply_row_exists (row), appeared = FALSE;
      if (!carb_apply_row_write (row, a->store, a->savepoints, &rejection, &a->redo, error))
        return FALSE;
      else if (rejection != NULL && is_new && may_race && !row_appeared (a, t, r, &appeared, error))
        return FALSE;
      else if (appeared)
        {
          *raced = TRUE;
          return TRUE;
        }
      else if (rejection != NULL)
        reject (a, r, NULL, g_steal_pointer (&rejection));
    }
  return carb_apply_row_add_state (row, a->store, hide, &a->rows, a->cancellable, error);
}

static gboolean
table_ready (Apply *a, guint table, GError **error)
{
  if (a->table_ready[table])
    return TRUE;
  if (!carb_twoway_table_init (&a->tables[table], a->store, a->group, table, error))
    return FALSE;
  a->table_ready[table] = TRUE;
  return TRUE;
}

static gboolean
apply_row (Apply *a, const BatchRow *r, GError **error)
{
  if (!table_ready (a, r->table, error))
    return FALSE;
  gboolean raced = FALSE;
  if (!apply_row_once (a, r, &a->tables[r->table], TRUE, &raced, error))
    return FALSE;
  /* The second try merges with the row that appeared; its refusal, if
   * any, stands. */
  return !raced || apply_row_once (a, r, &a->tables[r->table], FALSE, &raced, error);
}

/* One chunk's rows: what the merge decided, then what the writes did. */
typedef struct
{
  CarbApplyRow *row;
  gboolean hide;
  gboolean write;
  char *rejection;
  gboolean raced;
} ChunkRow;

/* Writes, in one statement, the rows of @chunk still marked to write that
 * are new (@insert) or exist (the caller leaves marked only those with
 * the same won columns). */
static gboolean
write_some (Apply *a, const CarbTwowayTable *t, ChunkRow *chunk, guint n, gboolean insert, GError **error)
{
  g_autofree CarbApplyRow **rows = g_new (CarbApplyRow *, n);
  g_autofree guint *index = g_new (guint, n);
  guint n_rows = 0;
  for (guint i = 0; i < n; i++)
    if (chunk[i].write && carb_apply_row_exists (chunk[i].row) != insert)
      {
        index[n_rows] = i;
        rows[n_rows++] = chunk[i].row;
      }
  if (n_rows == 0)
    return TRUE;
  g_autofree char **rejections = g_new0 (char *, n_rows);
  g_autofree gboolean *raced = g_new0 (gboolean, n_rows);
  if (!carb_apply_bulk_write (t, a->store, rows, n_rows, insert, rejections, raced, &a->redo, a->cancellable,
                              error))
    {
      for (guint k = 0; k < n_rows; k++)
        g_free (rejections[k]);
      return FALSE;
    }
  for (guint k = 0; k < n_rows; k++)
    {
      ChunkRow *c = &chunk[index[k]];
      c->write = FALSE;
      c->rejection = rejections[k];
      c->raced = raced[k];
    }
  return TRUE;
}

/* The existing rows of @chunk still to write, in groups with the same won
 * columns, one statement per group. */
static gboolean
write_updates (Apply *a, const CarbTwowayTable *t, ChunkRow *chunk, guint n, GError **error)
{
  for (guint i = 0; i < n; i++)
    {
      if (!chunk[i].write || !carb_apply_row_exists (chunk[i].row))
        continue;
      /* Hold back the rows whose won columns differ from row i's. */
      g_autofree gboolean *held = g_new0 (gboolean, n);
      for (guint j = i + 1; j < n; j++)
        for (guint c = 0; c < t->model->n_columns && chunk[j].write && !held[j]; c++)
          held[j] = carb_apply_row_won (chunk[i].row, c) != carb_apply_row_won (chunk[j].row, c);
      for (guint j = i + 1; j < n; j++)
        if (held[j])
          chunk[j].write = FALSE;
      gboolean ok = write_some (a, t, chunk, n, FALSE, error);
      for (guint j = i + 1; j < n; j++)
        if (held[j])
          chunk[j].write = TRUE;
      if (!ok)
        return FALSE;
    }
  return TRUE;
}

static void
chunk_clear (ChunkRow *chunk, guint n)
{
  for (guint i = 0; i < n; i++)
    {
      carb_apply_row_free (chunk[i].row);
      g_free (chunk[i].rejection);
    }
  g_free (chunk);
}

/* Rows @from … @to - 1 of @rows, all of one table: read and locked in one
 * statement, merged and checked here, written in a few statements (the
 * new rows, then the existing ones by won columns), their state taken
 * from what the writes returned. */
static gboolean
apply_chunk (Apply *a, GPtrArray *rows, guint from, guint to, GError **error)
{
  const BatchRow *first = rows->pdata[from];
  if (!table_ready (a, first->table, error))
    return FALSE;
  const CarbTwowayTable *t = &a->tables[first->table];
  guint n = to - from;
  ChunkRow *chunk = g_new0 (ChunkRow, n);
  g_autofree CarbApplyRow **read = g_new (CarbApplyRow *, n);
  for (guint i = 0; i < n; i++)
    read[i] = chunk[i].row = carb_apply_row_new (t, ((const BatchRow *) rows->pdata[from + i])->row_id);
  CarbSink *stored = NULL; /* the stored rows, which the chunk's rows point into */
  const char *begin = a->begin;
  a->begin = NULL;
  gboolean ok = carb_apply_bulk_read (t, a->store, read, n, begin, &stored, a->cancellable, error);
  for (guint i = 0; ok && i < n; i++)
    chunk[i].write = merge_row (a, rows->pdata[from + i], t, chunk[i].row, &chunk[i].hide);
  ok = ok && write_some (a, t, chunk, n, TRUE, error) && write_updates (a, t, chunk, n, error);
  for (guint i = 0; ok && i < n; i++)
    {
      const BatchRow *r = rows->pdata[from + i];
      gboolean raced = FALSE;
      if (chunk[i].raced)
        /* Another transaction inserted the row since the read: merged
         * with that one, a row at a time (its refusal, if any, stands). */
        ok = apply_row_once (a, r, t, FALSE, &raced, error);
      else
        {
          if (chunk[i].rejection != NULL)
            reject (a, r, NULL, g_steal_pointer (&chunk[i].rejection));
          ok = carb_apply_row_add_state (chunk[i].row, a->store, chunk[i].hide, &a->rows, a->cancellable,
                                         error);
        }
    }
  chunk_clear (chunk, n);
  carb_sink_free (stored);
  return ok;
}

/* Rows per chunk: at most CHUNK_ROWS, and few enough that an INSERT of
 * every wire column stays under the databases' parameter limits (SQLite
 * 32766, PostgreSQL 65535). */
#define CHUNK_ROWS   500
#define CHUNK_PARAMS 30000

static gboolean
apply_rows (Apply *a, GPtrArray *rows, GError **error)
{
  if (a->savepoints)
    {
      for (guint i = 0; i < rows->len; i++)
        if (g_cancellable_set_error_if_cancelled (a->cancellable, error)
            || !apply_row (a, rows->pdata[i], error))
          return FALSE;
      return TRUE;
    }
  for (guint from = 0; from < rows->len;)
    {
      const BatchRow *first = rows->pdata[from];
      guint n_wire = carb_sync_group_get_wire_model (a->group, first->table)->n_columns;
      guint max = MAX (1, MIN (CHUNK_ROWS, CHUNK_PARAMS / n_wire));
      guint to = from + 1;
      while (to < rows->len && to - from < max && ((const BatchRow *) rows->pdata[to])->table == first->table)
        to++;
      if (g_cancellable_set_error_if_cancelled (a->cancellable, error)
          || !apply_chunk (a, rows, from, to, error))
        return FALSE;
      from = to;
    }
  return TRUE;
}

/* One write transaction for the batch; FALSE with a->redo set when a
 * write made without a savepoint was refused. */
static gboolean
attempt (Apply *a, GPtrArray *rows, GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (a->store);
  CarbBackend *backend = carb_store_get_backend (a->store);
  /* The first chunk's read sends BEGIN with it (one round trip less);
   * the row-at-a-time second try begins here. */
  a->begin = NULL;
  /* The second try checks deferred constraints at each write, inside its
   * savepoint, so that their refusal names a row too. */
  const char *immediate = carb_sql_constraints_immediate (vt->sql_syntax);
  if (!a->savepoints && rows->len > 0)
    a->begin = vt->sql_syntax->begin_write;
  else if (!vt->execute (backend, vt->sql_syntax->begin_write, error)
           || (a->savepoints && immediate != NULL && !vt->execute (backend, immediate, error)))
    {
      vt->execute (backend, "ROLLBACK", NULL);
      return FALSE;
    }
  if (!apply_rows (a, rows, error))
    {
      vt->execute (backend, "ROLLBACK", NULL);
      return FALSE;
    }
  g_autoptr (GError) local = NULL;
  if (vt->execute (backend, "COMMIT", &local))
    return TRUE;
  gboolean refused = !a->savepoints && carb_apply_refused_by_data (a->store, local);
  vt->execute (backend, "ROLLBACK", NULL);
  /* A deferred constraint refused a row at COMMIT: which one, the second
   * try tells. Failing the batch instead would refuse it for good, and
   * with it every later change of the replica. */
  if (refused)
    a->redo = TRUE;
  g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}

/* With the store's lock held. Savepoints cost two round trips per row on
 * PostgreSQL, and the database refuses a row rarely: the batch runs
 * without them first, and again with them only when a write was refused
 * (then the validation callback may see a row twice). */
static gboolean
run_batch (Apply *a, GPtrArray *rows, GError **error)
{
  const CarbBackendVTable *vt = carb_store_get_vtable (a->store);
  if (!carb_twoway_check_backend (a->store, error))
    return FALSE;
  if (vt->in_transaction (carb_store_get_backend (a->store)))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_IN_TRANSACTION,
                   "Sync group “%s”: the application has a transaction open on the store's connection; an "
                   "apply runs in a write transaction of its own, so COMMIT or ROLLBACK yours first (it was "
                   "left untouched)",
                   carb_sync_group_get_name (a->group));
      return FALSE;
    }
  /* Each table's check before BEGIN: outside a transaction the backend
   * may run it as a prepared statement (PostgreSQL), whose planning would
   * otherwise cost more than the check. Read committed, the check inside
   * the transaction would see no more than here: it locks nothing. */
  for (guint i = 0; i < rows->len; i++)
    if (!table_ready (a, ((const BatchRow *) rows->pdata[i])->table, error))
      return FALSE;
  g_autoptr (GError) first = NULL;
  if (attempt (a, rows, &first))
    return TRUE;
  if (!a->redo)
    {
      g_propagate_error (error, g_steal_pointer (&first));
      return FALSE;
    }
  g_debug ("Sync group “%s”: %s; applying the batch again with a savepoint per row",
           carb_sync_group_get_name (a->group), first->message);
  g_byte_array_unref (a->rows.buf);
  carb_rows_writer_clear (&a->rows);
  carb_apply_result_begin (&a->rows);
  g_array_set_size (a->rejections, 0);
  a->savepoints = TRUE;
  a->redo = FALSE;
  return attempt (a, rows, error);
}

/**
 * carb_store_apply_changes:
 * @store: the server's store
 * @group: the sync group (sealed by the first use)
 * @context: (nullable): the server-side context of the replica (an
 *   `a{sv}` from its authenticated session): every filter key of @group
 *   must be in it; a floating reference is sunk
 * @changeset: a changeset from a replica (carb_changeset_serialize())
 * @cancellable: (nullable): checked between rows
 * @error: return location for a #GError
 *
 * Applies a replica's column writes with per-column last-writer-wins: a
 * change wins iff its version is greater than the stored version of its
 * column (a column never versioned is the lowest); a tie keeps the stored
 * value, so a batch applied twice changes and writes nothing. The whole
 * batch runs in one write transaction, its rows read and locked in a fixed
 * order (table, then row id), so concurrent applies cannot deadlock.
 *
 * A row is rejected — its changes dropped, the rest of the batch applied —
 * when it changes an immutable column of an existing row, is (or would
 * become) outside the replica's filter, fails the group's validation
 * callback, or the database refuses it (a constraint, a NOT NULL column
 * a new row leaves out; the batch is then run again with a savepoint
 * around each write, so the validation callback may see a row twice).
 *
 * Returns: (transfer full) (nullable): the apply result: the server's
 *   hybrid logical time, the full server state of every row the batch
 *   named (none for a row the server does not have or the replica may not
 *   see) and the rejections; or %NULL with @error set and nothing applied:
 *   %CARB_ERROR_INVALID_DATA for malformed bytes, a table or column not in
 *   @group, a value of the wrong type or a context without a filter's
 *   key; %CARB_ERROR_CLOCK_AHEAD when a version is further ahead of this
 *   process's clock than carb_sync_group_get_max_clock_ahead() (the
 *   message ends with `server hlc: N`); %CARB_ERROR_IN_TRANSACTION when the
 *   application has a transaction open on @store; database errors
 *
 * Since: 1.0
 */
GBytes *
carb_store_apply_changes (CarbStore *store,
                          CarbSyncGroup *group,
                          GVariant *context,
                          GBytes *changeset,
                          GCancellable *cancellable,
                          GError **error)
{
  g_return_val_if_fail (CARB_IS_STORE (store) && group != NULL && changeset != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  g_autoptr (GVariant) ctx
      = context != NULL ? g_variant_ref_sink (context) : g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
  if (!carb_sync_group_seal (group, error) || !carb_twoway_check_context (group, ctx, error))
    return NULL;
  g_autoptr (GArray) changes = carb_changeset_parse (changeset, error);
  if (changes == NULL)
    return NULL;
  g_autoptr (GPtrArray) rows = batch_rows (group, changes, error);
  if (rows == NULL || !check_clock (group, changes, error))
    return NULL;

  guint n_tables = carb_sync_group_get_n_models (group);
  Apply a = {
    .store = store,
    .group = group,
    .context = ctx,
    .changes = changes,
    .tables = g_new0 (CarbTwowayTable, n_tables),
    .table_ready = g_new0 (gboolean, n_tables),
    .rejections = g_array_new (FALSE, TRUE, sizeof (CarbRejection)),
    .cancellable = cancellable,
  };
  g_array_set_clear_func (a.rejections, rejection_clear);
  carb_apply_result_begin (&a.rows);

  carb_store_lock (store);
  gboolean ok = run_batch (&a, rows, error);
  carb_store_unlock (store);
  /* The server's time after the apply: a replica that observes it orders
   * its next writes after everything this answer shows. */
  GBytes *result = NULL;
  if (ok)
    result = carb_apply_result_finish (&a.rows, carb_twoway_server_hlc (),
                                       (CarbRejection *) (gpointer) a.rejections->data, a.rejections->len);
  else
    {
      g_byte_array_unref (a.rows.buf);
      carb_rows_writer_clear (&a.rows);
    }
  for (guint i = 0; i < n_tables; i++)
    carb_twoway_table_clear (&a.tables[i]);
  g_free (a.tables);
  g_free (a.table_ready);
  g_array_unref (a.rejections);
  return result;
}
