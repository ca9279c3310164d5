/* carburetor-sqlite — the incremental query, in one read transaction
 * with the clock source of sqlite-clock.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sqlite-private.h"

/* The stress checker's known-broken clock source: W = now. */
static gboolean
naive_clock (CarbBackend *backend, gint64 *w, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2 (backend->db, "SELECT " CARB_SQLITE_NOW_US, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the clock");
  int rc = sqlite3_step (stmt);
  *w = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  return rc == SQLITE_ROW || carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the clock");
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
 * (the REAL 1.5 stored for the JSON text '1.50' reads back as "1.5").
 * Also query_rows' decoding (sqlite-query.c). */
void
carb_sqlite_sink_column (CarbSink *sink, sqlite3_stmt *stmt, const CarbColumn *col, guint i)
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
  g_autofree char *sql = carb_query_build_sql (query, &carb_sqlite_syntax, error);
  sqlite3_stmt *stmt = NULL;
  int rc = SQLITE_OK;

  if (sql == NULL)
    return FALSE;
  if (sqlite3_prepare_v2 (backend->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot prepare the incremental query");
  g_debug ("%s: %s (lower %" G_GINT64_FORMAT ", W %" G_GINT64_FORMAT ")", backend->path, sql, query->lower,
           w);
  /* $1 … $3 are named parameters to SQLite, numbered in order of first
   * use ($3 comes before $2 in a cursor's query): bind them by name. */
  sqlite3_bind_int64 (stmt, sqlite3_bind_parameter_index (stmt, "$1"), query->lower);
  sqlite3_bind_int64 (stmt, sqlite3_bind_parameter_index (stmt, "$2"), w);
  int cursor = sqlite3_bind_parameter_index (stmt, "$3");
  if (query->has_after_id && query->after_id_text != NULL)
    sqlite3_bind_text (stmt, cursor, query->after_id_text, -1, SQLITE_STATIC);
  else if (query->has_after_id)
    sqlite3_bind_int64 (stmt, cursor, query->after_id_int);

  gboolean ok = TRUE;
  guint n_columns = query->model->n_columns;
  while (ok && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      for (guint i = 0; i < n_columns; i++)
        carb_sqlite_sink_column (sink, stmt, &query->model->columns[i], i);
      ok = carb_sink_end_row (sink, error);
    }
  if (ok && rc != SQLITE_DONE)
    ok = carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "the incremental query failed");
  sqlite3_finalize (stmt);
  return ok;
}

/* The application's own transaction on this connection (carb_store_execute
 * of BEGIN) would swallow ours: BEGIN fails inside it, and a COMMIT of ours
 * would end it. Refuse before touching anything. */
static gboolean
refuse_in_transaction (CarbBackend *backend, GError **error)
{
  if (sqlite3_get_autocommit (backend->db))
    return TRUE;
  g_set_error (error, CARB_ERROR, CARB_ERROR_IN_TRANSACTION,
               "SQLite “%s”: the application has a transaction open on the store's connection; a sync runs in"
               " a read transaction of its own, so COMMIT or ROLLBACK yours first (it was left untouched)",
               backend->path);
  return FALSE;
}

/* With a shared cache, PRAGMA read_uncommitted lets this connection see a
 * writer's mark and rows before they commit: a sync could hand out a point
 * that a rollback takes back, and the next writer would stamp below it. */
static gboolean
refuse_dirty_reads (CarbBackend *backend, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2 (backend->db, "PRAGMA read_uncommitted", -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "PRAGMA read_uncommitted");
  gboolean dirty = sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_int (stmt, 0) != 0;
  sqlite3_finalize (stmt);
  if (!dirty)
    return TRUE;
  g_set_error (error, CARB_ERROR, CARB_ERROR_CLOCK_UNSAFE,
               "SQLite “%s”: PRAGMA read_uncommitted is on for the store's connection, so a sync could see"
               " rows and a sync point that are not committed yet; set it back to 0",
               backend->path);
  return FALSE;
}

gboolean
carb_sqlite_download (
    CarbBackend *backend, const CarbQuery *query, CarbSink *sink, gint64 *synced_until, GError **error)
{
  gint64 w = 0;

  if (!refuse_in_transaction (backend, error) || !refuse_dirty_reads (backend, error))
    return FALSE;
  /* One read transaction, never a write lock: the mark and the rows share
   * a snapshot (sqlite-clock.c says why that is enough). */
  if (!carb_sqlite_exec (backend, "BEGIN DEFERRED", error))
    return FALSE;
  gboolean ok = carb_sqlite_clock_read (backend, query, &w, error)
                && (!CARB_NAIVE_CLOCK || naive_clock (backend, &w, error))
                && bind_and_run (backend, query, w, sink, error);
  sqlite3_exec (backend->db, ok ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
  if (ok)
    *synced_until = w;
  return ok;
}
