/* carburetor-postgres — the idle probe: has anything changed since a
 * point, for one table (the first statement of a sync from a complete
 * point) or a group of them (carb_store_poll()), in one statement and one
 * round trip.
 *
 * The statement reads the clock C (for the step-back check), whether the
 * server is a standby, each table's trigger check (pg-stamp.c: the quick
 * form, or the full one for a table known to have partitions or
 * inheritance children) and, per table, whether its newest stamp is after
 * the point: one backward step of the (ts, id) index. It does not read pg_locks, whose cost grows with the number of
 * connections the server allows: when nothing is newer than the point, the
 * point itself is the answer (docs/SYNC.md, "Idle polls"), and no W is
 * needed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

#include <string.h>

enum
{
  TEXTOID = 25,
  TIMESTAMPTZOID = 1184,
  PARAMS_PER_TABLE = CARB_PG_CHECK_PARAMS + 1, /* the check's, then the point */
  COLUMNS_PER_TABLE = 3                        /* kind, what, changed */
};

/* The probe of @query: the newest stamp of its table (of its live rows,
 * when the query leaves tombstones out) is after the point (at or after
 * it, for a page cursor: rows of that very stamp with a larger id may be
 * due). $@param is the point.
 *
 * Written as max (ts), not EXISTS (… WHERE ts > $n): the statement is
 * prepared, and PostgreSQL's generic plan for the EXISTS, which cannot see
 * the point, estimates a third of the table newer than it and reads the
 * table in order until it finds one: all of it, when the answer is no.
 * max (ts) is one backward step of the (ts, id) index whatever the
 * point. */
static gboolean
append_probe (GString *sql, CarbBackend *backend, const CarbQuery *query, guint param, GError **error)
{
  const CarbModel *model = query->model;
  g_autofree char *table = carb_query_build_table_name (model, &carb_pg_syntax, error);
  g_autofree char *ts
      = table != NULL ? carb_pg_quote (backend, model->columns[query->ts_column].name, error) : NULL;
  if (ts == NULL)
    return FALSE;
  g_string_append_printf (sql, ", coalesce ((SELECT max (%s) FROM %s", ts, table);
  if (!query->include_deleted && query->deleted_column >= 0)
    {
      g_autofree char *deleted = carb_pg_quote (backend, model->columns[query->deleted_column].name, error);
      if (deleted == NULL)
        return FALSE;
      g_string_append_printf (sql, " WHERE NOT %s", deleted);
    }
  g_string_append_printf (sql, ") %s $%u, false)", query->has_after_id ? ">=" : ">", param);
  return TRUE;
}

/* @full[i]: table i gets the full check (a join: kind and what), else the
 * quick one (kind only, what is NULL). */
static char *
probe_sql (
    CarbBackend *backend, const CarbQuery *const *queries, guint n, const gboolean *full, GError **error)
{
  g_autoptr (GString) sql = g_string_new (
      "SELECT (extract (epoch FROM clock_timestamp ()) * 1000000)::int8, pg_is_in_recovery ()");
  g_autoptr (GString) joins = g_string_new (" FROM (SELECT) one");

  for (guint i = 0; i < n; i++)
    {
      guint first = 1 + i * PARAMS_PER_TABLE;
      if (full[i])
        {
          g_autofree char *check = carb_pg_stamp_check_sql_at (first);
          g_string_append_printf (sql, ", p%u.kind, p%u.what", i, i);
          g_string_append_printf (joins, " LEFT JOIN (%s) p%u ON true", check, i);
        }
      else
        {
          g_autofree char *check = carb_pg_stamp_quick_check_sql_at (first, queries[i]->model);
          g_string_append_printf (sql, ", %s, NULL::text", check);
        }
      if (!append_probe (sql, backend, queries[i], first + CARB_PG_CHECK_PARAMS, error))
        return NULL;
    }
  g_string_append (sql, joins->str);
  return g_string_free (g_steal_pointer (&sql), FALSE);
}

/* What a probe of a group of tables sends but its points: the SQL, its
 * statement name and the tables' triggers. Built once per group and kept
 * (a poll is mostly this work on the client otherwise: quoting, the SQL,
 * two digests). */
typedef struct
{
  char *sql;
  char *name;
  guint n;
  CarbPgStamp *stamps;
  gboolean *full; /* which tables get the full check */
} ProbeShape;

void
carb_pg_probe_shapes_free (gpointer data)
{
  ProbeShape *shape = data;
  for (guint i = 0; i < shape->n; i++)
    carb_pg_stamp_clear (&shape->stamps[i]);
  g_free (shape->stamps);
  g_free (shape->full);
  g_free (shape->sql);
  g_free (shape->name);
  g_free (shape);
}

/* Groups a backend keeps at most; a store that polls more (ever new
 * combinations) starts over. */
#define MAX_SHAPES 64

/* The key of @model's table in backend->trees. */
char *
carb_pg_tree_key (const CarbModel *model)
{
  return g_strdup_printf ("%s%c%s", model->schema != NULL ? model->schema : "", 0x1f, model->table);
}

/* Everything the SQL and the triggers depend on (the version columns
 * make the versioning trigger's body, the filter column the move
 * trigger's); @full (out) gets which tables need
 * the full check. Built on every poll: appends, no printf. */
static char *
shape_key (CarbBackend *backend, const CarbQuery *const *queries, guint n, gboolean *full)
{
  GString *key = g_string_new (NULL);
  for (guint i = 0; i < n; i++)
    {
      const CarbQuery *q = queries[i];
      const CarbModel *m = q->model;
      gsize start = key->len;
      g_string_append (key, m->schema != NULL ? m->schema : "");
      g_string_append_c (key, 0x1f);
      g_string_append (key, m->table);
      /* The key so far ends with this table's carb_pg_tree_key(). */
      full[i] = g_hash_table_contains (backend->trees, key->str + start);
      g_string_append_c (key, 0x1f);
      g_string_append (key, m->columns[q->ts_column].name);
      g_string_append_c (key, 0x1f);
      /* The stamping trigger's body names the id column and its type. */
      g_string_append_printf (key, "%s\x1f%d", m->columns[q->id_column].name,
                              (int) m->columns[q->id_column].type);
      g_string_append_c (key, 0x1f);
      g_string_append (key, q->deleted_column >= 0 ? m->columns[q->deleted_column].name : "");
      g_string_append_c (key, 0x1f);
      g_string_append_c (key, q->has_after_id ? 'a' : '-');
      g_string_append_c (key, q->include_deleted ? 'd' : '-');
      g_string_append_c (key, full[i] ? 'f' : 'q');
      for (guint c = 0; c < m->n_columns; c++)
        if (m->columns[c].role == CARB_COLUMN_ROLE_VERSION)
          {
            g_string_append_c (key, 0x1f);
            g_string_append (key, m->columns[c].name);
          }
      /* The move trigger's name and body come from the filter column. */
      gint moved = carb_model_find_filter_column (m);
      g_string_append_c (key, 0x1d);
      g_string_append (key, moved >= 0 ? m->columns[moved].name : "");
      g_string_append_c (key, 0x1e);
    }
  return g_string_free (key, FALSE);
}

static const ProbeShape *
probe_shape (CarbBackend *backend, const CarbQuery *const *queries, guint n, GError **error)
{
  g_autofree gboolean *full = g_new0 (gboolean, n);
  g_autofree char *key = shape_key (backend, queries, n, full);
  ProbeShape *shape = g_hash_table_lookup (backend->probes, key);
  if (shape != NULL)
    return shape;

  g_autofree char *sql = probe_sql (backend, queries, n, full, error);
  if (sql == NULL)
    return NULL;
  shape = g_new0 (ProbeShape, 1);
  shape->full = g_steal_pointer (&full);
  shape->stamps = g_new0 (CarbPgStamp, n);
  for (; shape->n < n; shape->n++)
    if (!carb_pg_stamp_init (backend, queries[shape->n], &shape->stamps[shape->n], error))
      {
        carb_pg_probe_shapes_free (shape);
        return NULL;
      }
  shape->name = carb_pg_statement_name ("carb_probe", sql);
  shape->sql = g_steal_pointer (&sql);
  if (g_hash_table_size (backend->probes) >= MAX_SHAPES)
    g_hash_table_remove_all (backend->probes);
  g_hash_table_insert (backend->probes, g_steal_pointer (&key), shape);
  return shape;
}

/* Runs the probe; @res gets its one row. */
static gboolean
run_probe (CarbBackend *backend,
           const CarbQuery *const *queries,
           guint n,
           const ProbeShape *shape,
           PGresult **res,
           GError **error)
{
  g_autofree const char **values = g_new0 (const char *, n *PARAMS_PER_TABLE);
  g_autofree int *lengths = g_new0 (int, n *PARAMS_PER_TABLE);
  g_autofree int *formats = g_new0 (int, n *PARAMS_PER_TABLE);
  g_autofree Oid *types = g_new0 (Oid, n * PARAMS_PER_TABLE);
  g_autofree gint64 *points = g_new0 (gint64, n);

  for (guint i = 0; i < n; i++)
    {
      guint at = i * PARAMS_PER_TABLE;
      /* Typed here: a one-way table's quick check does not name the
       * versioning trigger's two, nor an unfiltered one the move
       * trigger's (pg-stamp.c). */
      for (guint p = 0; p < CARB_PG_CHECK_PARAMS; p++)
        {
          values[at + p] = shape->stamps[i].params[p];
          types[at + p] = TEXTOID;
        }
      points[i] = GINT64_TO_BE (carb_pg_to_pg_time (queries[i]->lower));
      values[at + CARB_PG_CHECK_PARAMS] = (const char *) &points[i];
      lengths[at + CARB_PG_CHECK_PARAMS] = 8;
      formats[at + CARB_PG_CHECK_PARAMS] = 1;
      types[at + CARB_PG_CHECK_PARAMS] = TIMESTAMPTZOID;
    }
  const CarbPgStatement stmt = {
    .sql = shape->sql,
    .prepared = shape->name,
    .n_params = (int) (n * PARAMS_PER_TABLE),
    .types = types,
    .values = values,
    .lengths = lengths,
    .formats = formats,
  };
  if (carb_pg_pipeline (backend, &stmt, 1, res, error))
    return TRUE;
  carb_pg_explain_failure (backend, queries, n, error);
  return FALSE;
}

/**
 * carb_pg_probe:
 * @backend: a connected, idle backend
 * @queries: (array length=n): the tables and their points (@lower, and
 *   @has_after_id for a page cursor)
 * @n: how many
 * @changed: (out caller-allocates) (array length=n): whether each table
 *   has a row stamped after its point
 * @error: set if a table is not prepared (naming it), the server is a
 *   standby, or its clock went back
 *
 * Returns: %TRUE on success
 */
gboolean
carb_pg_probe (
    CarbBackend *backend, const CarbQuery *const *queries, guint n, gboolean *changed, GError **error)
{
  const ProbeShape *shape = probe_shape (backend, queries, n, error);
  PGresult *res = NULL;
  if (shape == NULL || !run_probe (backend, queries, n, shape, &res, error))
    return FALSE;

  gint64 c = 0;
  gboolean ok = carb_pg_clock_read (backend, res, 0, &c, error);
  /* A quick check's answer to settle, by table: NULL entries between
   * others, so not a GStrv (g_strfreev() would stop at the first). */
  g_autoptr (GPtrArray) quick = g_ptr_array_new_full (n, g_free);
  g_ptr_array_set_size (quick, (gint) n);
  for (guint i = 0; ok && i < n; i++)
    {
      int col = 2 + (int) (i * COLUMNS_PER_TABLE);
      const char *kind = PQgetvalue (res, 0, col);
      changed[i] = PQgetvalue (res, 0, col + 2)[0] == 't';
      if (shape->full[i] || kind[0] == '\0')
        ok = carb_pg_stamp_verdict (backend, &shape->stamps[i], kind, PQgetvalue (res, 0, col + 1), error);
      else
        quick->pdata[i] = g_strdup (kind);
    }
  ok = ok && carb_pg_clock_steady (backend, c, error);
  PQclear (res);
  /* Rare: a problem (its message comes from the full check), or a table
   * with children, checked in full from now on. */
  for (guint i = 0; ok && i < n; i++)
    if (quick->pdata[i] != NULL)
      {
        const char *kind = quick->pdata[i];
        if (strcmp (kind, "children") == 0)
          g_hash_table_add (backend->trees, carb_pg_tree_key (queries[i]->model));
        ok = carb_pg_stamp_settle_quick (backend, &shape->stamps[i], kind, error);
      }
  return ok;
}
