/* carburetor-postgres — the idle probe: has anything changed since a
 * point, for one table (the first statement of a sync from a complete
 * point) or a group of them (carb_store_poll()), in one statement and one
 * round trip.
 *
 * The statement reads the clock C (for the step-back check), whether the
 * server is a standby, each table's trigger check (pg-stamp.c) and, per
 * table, whether its newest stamp is after the point: one backward step
 * of the (ts, id) index. It does not read pg_locks, whose cost grows with the number of
 * connections the server allows: when nothing is newer than the point, the
 * point itself is the answer (docs/SYNC.md, "Idle polls"), and no W is
 * needed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

enum
{
  TIMESTAMPTZOID = 1184,
  PARAMS_PER_TABLE = 5, /* the check's four, then the point */
  COLUMNS_PER_TABLE = 3 /* kind, what, changed */
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
  g_autofree char *table = carb_query_build_table_name (model, carb_pg_dialect (backend), error);
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

static char *
probe_sql (CarbBackend *backend, const CarbQuery *const *queries, guint n, GError **error)
{
  g_autoptr (GString) sql = g_string_new (
      "WITH x AS MATERIALIZED (SELECT (extract (epoch FROM clock_timestamp ()) * 1000000)::int8 AS c)"
      " SELECT x.c, pg_is_in_recovery ()");
  g_autoptr (GString) joins = g_string_new (" FROM x");

  for (guint i = 0; i < n; i++)
    {
      guint first = 1 + i * PARAMS_PER_TABLE;
      g_autofree char *check = carb_pg_stamp_check_sql_at (first);
      g_string_append_printf (sql, ", p%u.kind, p%u.what", i, i);
      if (!append_probe (sql, backend, queries[i], first + 4, error))
        return NULL;
      g_string_append_printf (joins, " LEFT JOIN (%s) p%u ON true", check, i);
    }
  g_string_append (sql, joins->str);
  return g_string_free (g_steal_pointer (&sql), FALSE);
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
  g_autofree char *sql = probe_sql (backend, queries, n, error);
  if (sql == NULL)
    return FALSE;
  g_autofree char *name = carb_pg_statement_name ("carb_probe", sql);
  g_autofree CarbPgStamp *stamps = g_new0 (CarbPgStamp, n);
  g_autofree const char **values = g_new0 (const char *, n *PARAMS_PER_TABLE);
  g_autofree int *lengths = g_new0 (int, n *PARAMS_PER_TABLE);
  g_autofree int *formats = g_new0 (int, n *PARAMS_PER_TABLE);
  g_autofree Oid *types = g_new0 (Oid, n * PARAMS_PER_TABLE);
  g_autofree gint64 *points = g_new0 (gint64, n);
  gboolean ok = TRUE;
  guint ready = 0;

  for (; ok && ready < n; ready++)
    {
      const CarbQuery *q = queries[ready];
      guint at = ready * PARAMS_PER_TABLE;
      ok = carb_pg_stamp_init (backend, q, &stamps[ready], error);
      for (guint p = 0; ok && p < 4; p++)
        values[at + p] = stamps[ready].params[p];
      points[ready] = GINT64_TO_BE (carb_pg_to_pg_time (q->lower));
      values[at + 4] = (const char *) &points[ready];
      lengths[at + 4] = 8;
      formats[at + 4] = 1;
      types[at + 4] = TIMESTAMPTZOID;
    }
  PGresult *res = NULL;
  if (ok)
    {
      const CarbPgStatement stmt = {
        .sql = sql,
        .prepared = name,
        .n_params = (int) (n * PARAMS_PER_TABLE),
        .types = types,
        .values = values,
        .lengths = lengths,
        .formats = formats,
      };
      ok = carb_pg_pipeline (backend, &stmt, 1, &res, error);
      if (!ok)
        carb_pg_explain_failure (backend, queries, n, error);
    }
  gint64 c = 0;
  ok = ok && carb_pg_clock_read (backend, res, 0, &c, error);
  for (guint i = 0; ok && i < n; i++)
    {
      int col = 2 + (int) (i * COLUMNS_PER_TABLE);
      ok = carb_pg_stamp_verdict (backend, &stamps[i], PQgetvalue (res, 0, col), PQgetvalue (res, 0, col + 1),
                                  error);
      changed[i] = ok && PQgetvalue (res, 0, col + 2)[0] == 't';
    }
  ok = ok && carb_pg_clock_steady (backend, c, error);
  PQclear (res);
  for (guint i = 0; i < ready; i++)
    carb_pg_stamp_clear (&stamps[i]);
  return ok;
}
