/* carburetor-sqlite — the clock source and the incremental query.
 *
 * The clock source (DESIGN §4). SQLite serializes writers, and every stamp
 * is made by the trigger inside its writer's transaction, so:
 *
 *  - If we can take the write lock at once (BEGIN IMMEDIATE with no wait),
 *    no writer is in flight: every row stamped so far is committed, and any
 *    later writer reads a clock at or after ours. W = now - 1 tick. We let
 *    go of the lock before reading rows, so writers wait for microseconds,
 *    not for the whole read.
 *  - If a writer holds the lock, it may have stamped rows we cannot see
 *    yet; but it started after the newest committed write, so its stamps
 *    are no earlier than the newest committed stamp. W = max(ts) - 1,
 *    read in the same read transaction as the rows.
 *
 * Both hold only while the system clock does not step back; the core keeps
 * W from ever going below the caller's point.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sqlite-private.h"

static gboolean
step_single_int (CarbBackend *backend, const char *sql, gboolean *is_null, gint64 *value, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2 (backend->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, sql);
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      *is_null = sqlite3_column_type (stmt, 0) == SQLITE_NULL;
      *value = sqlite3_column_int64 (stmt, 0);
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, sql);
  return TRUE;
}

/* Tries the write lock without waiting. TRUE with *w set: no writer was in
 * flight. FALSE without error: a writer holds it. */
static gboolean
clock_when_idle (CarbBackend *backend, gint64 *w, GError **error)
{
  gboolean is_null = FALSE;
  gint64 now = 0;

  sqlite3_busy_timeout (backend->db, 0);
  int rc = sqlite3_exec (backend->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  sqlite3_busy_timeout (backend->db, CARB_SQLITE_BUSY_TIMEOUT_MS);
  /* A writer holds the lock, or this connection may not write at all (a
   * read-only store): either way the data-derived clock applies. */
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED || (rc & 0xff) == SQLITE_READONLY)
    return FALSE;
  if (rc != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "BEGIN IMMEDIATE");
  gboolean ok = step_single_int (backend, "SELECT " CARB_SQLITE_NOW_US, &is_null, &now, error);
  if (!carb_sqlite_exec (backend, "COMMIT", ok ? error : NULL) || !ok)
    return FALSE;
  *w = now - 1;
  return TRUE;
}

/* Inside the read transaction: just below the newest committed stamp. */
static gboolean
clock_from_data (CarbBackend *backend, const CarbQuery *query, gint64 *w, GError **error)
{
  const CarbSqlDialect *d = carb_sqlite_dialect ();
  g_autofree char *table = carb_query_build_table_name (query->model, d, error);
  g_autofree char *ts = d->quote_identifier (query->model->columns[query->ts_column].name, NULL, error);
  g_autofree char *sql = g_strdup_printf ("SELECT max(%s) FROM %s", ts, table);
  gboolean is_null = FALSE;
  gint64 max = 0;

  if (!step_single_int (backend, sql, &is_null, &max, error))
    return FALSE;
  /* Empty table: nothing to deliver, and no advance either. */
  *w = is_null ? query->lower : max - 1;
  return TRUE;
}

static gboolean
naive_clock (CarbBackend *backend, gint64 *w, GError **error)
{
  gboolean is_null = FALSE;
  return step_single_int (backend, "SELECT " CARB_SQLITE_NOW_US, &is_null, w, error);
}

static const char *
storage_name (int storage)
{
  switch (storage)
    {
    case SQLITE_INTEGER:
      return "INTEGER";
    case SQLITE_FLOAT:
      return "REAL";
    case SQLITE_TEXT:
      return "TEXT";
    default:
      return "BLOB";
    }
}

/* What to tell a user whose column holds the wrong storage class. */
static const char *
storage_hint (CarbColumnType type, int storage)
{
  switch (type)
    {
    case CARB_COLUMN_TYPE_TEXT:
    case CARB_COLUMN_TYPE_UUID:
    case CARB_COLUMN_TYPE_JSON:
    case CARB_COLUMN_TYPE_NUMERIC:
      return storage == SQLITE_BLOB
                 ? " (declare the model column BYTES to read blobs)"
                 : " (a column declared UUID, JSON or NUMERIC has NUMERIC affinity, which turns "
                   "number-like text into numbers: declare it TEXT)";
    case CARB_COLUMN_TYPE_TIMESTAMP:
      return " (store INTEGER microseconds since 1970-01-01 UTC, not date-time text)";
    case CARB_COLUMN_TYPE_DATE:
      return " (store INTEGER days since 1970-01-01, not 'YYYY-MM-DD' text)";
    default:
      return "";
    }
}

/* Hands column @i of the current row to the sink. Values whose storage
 * class does not fit the model (SQLite lets any column hold anything) fail
 * the row instead of being converted: SQLite's own conversions are lossy
 * (the REAL 1.5 stored for the JSON text '1.50' reads back as "1.5"). */
static void
sink_column (CarbSink *sink, sqlite3_stmt *stmt, const CarbColumn *col, guint i)
{
  int storage = sqlite3_column_type (stmt, (int) i);

  if (storage == SQLITE_NULL)
    {
      carb_sink_set_null (sink, i);
      return;
    }
  switch (col->type)
    {
    case CARB_COLUMN_TYPE_TEXT:
    case CARB_COLUMN_TYPE_UUID:
    case CARB_COLUMN_TYPE_JSON:
    case CARB_COLUMN_TYPE_NUMERIC:
      if (storage == SQLITE_TEXT)
        {
          const char *text = (const char *) sqlite3_column_text (stmt, (int) i);
          carb_sink_set_text (sink, i, text, (gsize) sqlite3_column_bytes (stmt, (int) i));
          return;
        }
      break;
    case CARB_COLUMN_TYPE_FLOAT:
    case CARB_COLUMN_TYPE_DOUBLE:
      if (storage == SQLITE_FLOAT)
        {
          carb_sink_set_double (sink, i, sqlite3_column_double (stmt, (int) i));
          return;
        }
      if (storage == SQLITE_INTEGER)
        {
          /* Integers beyond 2^53 have no exact double. */
          gint64 v = sqlite3_column_int64 (stmt, (int) i);
          if (v >= -(G_GINT64_CONSTANT (1) << 53) && v <= (G_GINT64_CONSTANT (1) << 53))
            carb_sink_set_double (sink, i, (gdouble) v);
          else
            carb_sink_fail (sink, i, "the INTEGER %" G_GINT64_FORMAT " has no exact floating-point value", v);
          return;
        }
      break;
    case CARB_COLUMN_TYPE_BYTES:
      /* A BLOB-affinity column keeps text as text: its UTF-8 bytes are
       * the value, exactly. */
      if (storage == SQLITE_BLOB || storage == SQLITE_TEXT)
        {
          const guint8 *data = storage == SQLITE_BLOB ? sqlite3_column_blob (stmt, (int) i)
                                                      : sqlite3_column_text (stmt, (int) i);
          carb_sink_set_bytes (sink, i, data, (gsize) sqlite3_column_bytes (stmt, (int) i));
          return;
        }
      break;
    default: /* integers, BOOL, TIMESTAMP, DATE */
      if (storage == SQLITE_INTEGER)
        {
          carb_sink_set_int (sink, i, sqlite3_column_int64 (stmt, (int) i));
          return;
        }
      break;
    }
  carb_sink_fail (sink, i, "SQLite holds a value of storage class %s where the model expects %s%s",
                  storage_name (storage), carb_column_type_to_string (col->type),
                  storage_hint (col->type, storage));
}

static gboolean
bind_and_run (CarbBackend *backend, const CarbQuery *query, gint64 w, CarbSink *sink, GError **error)
{
  g_autofree char *sql = carb_query_build_sql (query, carb_sqlite_dialect (), error);
  sqlite3_stmt *stmt = NULL;
  int rc = SQLITE_OK;

  if (sql == NULL)
    return FALSE;
  if (sqlite3_prepare_v2 (backend->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot prepare the incremental query");
  sqlite3_bind_int64 (stmt, 1, query->lower);
  sqlite3_bind_int64 (stmt, 2, w);
  if (query->has_after_id && query->after_id_text != NULL)
    sqlite3_bind_text (stmt, 3, query->after_id_text, -1, SQLITE_STATIC);
  else if (query->has_after_id)
    sqlite3_bind_int64 (stmt, 3, query->after_id_int);

  gboolean ok = TRUE;
  guint n_columns = query->model->n_columns;
  while (ok && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      for (guint i = 0; i < n_columns; i++)
        sink_column (sink, stmt, &query->model->columns[i], i);
      ok = carb_sink_end_row (sink, error);
    }
  if (ok && rc != SQLITE_DONE)
    ok = carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "the incremental query failed");
  sqlite3_finalize (stmt);
  return ok;
}

gboolean
carb_sqlite_download (
    CarbBackend *backend, const CarbQuery *query, CarbSink *sink, gint64 *synced_until, GError **error)
{
  gint64 w = 0;
  gboolean have_w = FALSE;

  if (query->flags & CARB_QUERY_UNSAFE_NAIVE_CLOCK)
    {
      if (!naive_clock (backend, &w, error))
        return FALSE;
      have_w = TRUE;
    }
  else
    {
      g_autoptr (GError) local = NULL;
      have_w = clock_when_idle (backend, &w, &local);
      if (local != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
    }

  /* One read transaction: the fallback watermark and the rows share a
   * snapshot. */
  if (!carb_sqlite_exec (backend, "BEGIN DEFERRED", error))
    return FALSE;
  gboolean ok = (have_w || clock_from_data (backend, query, &w, error))
                && bind_and_run (backend, query, w, sink, error);
  sqlite3_exec (backend->db, ok ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
  if (ok)
    *synced_until = w;
  return ok;
}
