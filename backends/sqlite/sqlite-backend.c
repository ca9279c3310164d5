/* carburetor-sqlite — the plugin's entry point, connections and SQL
 * dialect.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sqlite-private.h"

#include <string.h>

gboolean
carb_sqlite_fail (CarbBackend *backend, GError **error, CarbError code, const char *what)
{
  backend->last_failure = sqlite3_errcode (backend->db) & 0xff;
  /* A lock wait that ended: by a cancel, or by the timeout. */
  if (backend->last_failure == SQLITE_BUSY)
    {
      if (backend->cancellable != NULL && g_cancellable_is_cancelled (backend->cancellable))
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                     "SQLite “%s”: %s: cancelled while waiting for another connection's lock", backend->path,
                     what);
      else
        g_set_error (error, CARB_ERROR, CARB_ERROR_BUSY,
                     "SQLite “%s”: %s: another connection held the database locked for more than %u ms "
                     "(retry later, or raise the store's busy-timeout)",
                     backend->path, what, backend->busy_timeout_ms);
      return FALSE;
    }
  g_set_error (error, CARB_ERROR, code, "SQLite “%s”: %s: %s", backend->path, what,
               sqlite3_errmsg (backend->db));
  return FALSE;
}

/* Whether the statement that failed last was refused for its data (a
 * constraint, a trigger's RAISE, a value too big or of the wrong type, an
 * error of an application's function): any result code but those of a
 * failure of the database or the connection (a lock, memory, a read-only
 * or full database, I/O, corruption, an interrupt, the schema changed
 * under the statement, an authorizer's denial). */
static gboolean
last_failure_refuses_data (CarbBackend *backend)
{
  switch (backend->last_failure)
    {
    case SQLITE_PERM:
    case SQLITE_ABORT:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
    case SQLITE_INTERRUPT:
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_SCHEMA:
    case SQLITE_AUTH:
    case SQLITE_NOTADB:
      return FALSE;
    default:
      return TRUE;
    }
}

gboolean
carb_sqlite_exec (CarbBackend *backend, const char *sql, GError **error)
{
  g_debug ("%s: %s", backend->path, sql);
  if (sqlite3_exec (backend->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, sql);
  return TRUE;
}

/* For the plugin's own statements (the clock's triggers and checks); the
 * core quotes what it builds from CarbSqlSyntax the same way. */
char *
carb_sqlite_quote (const char *name)
{
  GString *q = g_string_new ("\"");
  for (const char *p = name; *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (q, '"');
      g_string_append_c (q, *p);
    }
  g_string_append_c (q, '"');
  return g_string_free (q, FALSE);
}

/* SQLite's busy handler: sleeps in short steps so that a cancel ends the
 * wait within milliseconds, and gives up after the busy timeout. @count is
 * 0 on the first call of each wait. */
static int
busy_handler (void *data, int count)
{
  CarbBackend *backend = data;
  gint64 now = g_get_monotonic_time ();

  if (count == 0)
    backend->busy_since_us = now;
  if (backend->cancellable != NULL && g_cancellable_is_cancelled (backend->cancellable))
    return 0;
  if (now - backend->busy_since_us >= (gint64) backend->busy_timeout_ms * G_TIME_SPAN_MILLISECOND)
    return 0;
  g_usleep ((gulong) MIN (count + 1, 10) * 1000);
  return 1;
}

void
carb_sqlite_set_busy_wait (CarbBackend *backend, gboolean wait)
{
  sqlite3_busy_handler (backend->db, wait ? busy_handler : NULL, backend);
}

/* The busy handler ends a lock wait when the download is cancelled. */
static gboolean
download (CarbBackend *backend, const CarbQuery *query, CarbSink *sink, gint64 *synced_until, GError **error)
{
  backend->cancellable = query->cancellable;
  gboolean ok = carb_sqlite_download (backend, query, sink, synced_until, error);
  backend->cancellable = NULL;
  return ok;
}

static void
set_busy_timeout (CarbBackend *backend, guint timeout_ms)
{
  backend->busy_timeout_ms = timeout_ms;
}

static void
backend_close (CarbBackend *backend)
{
  sqlite3_close (backend->db);
  g_free (backend->path);
  g_clear_pointer (&backend->stampings, g_hash_table_unref);
  g_free (backend);
}

static CarbBackend *
backend_open (const char *uri, GError **error)
{
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  g_autofree char *filename = carb_sqlite_parse_uri (uri, &flags, error);
  if (filename == NULL)
    return NULL;
  CarbBackend *backend = g_new0 (CarbBackend, 1);

  backend->path = g_strdup (uri);
  backend->stampings
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) carb_sqlite_stamping_free);
  if (sqlite3_open_v2 (filename, &backend->db, flags, NULL) != SQLITE_OK)
    {
      carb_sqlite_fail (backend, error, CARB_ERROR_CONNECTION, "cannot open the database");
      backend_close (backend);
      return NULL;
    }
  sqlite3_extended_result_codes (backend->db, TRUE);
  backend->busy_timeout_ms = CARB_SQLITE_BUSY_TIMEOUT_MS;
  carb_sqlite_set_busy_wait (backend, TRUE);
  return backend;
}

static const CarbBackendVTable vtable = {
  .abi_version = CARB_BACKEND_ABI_VERSION,
  .struct_size = sizeof (CarbBackendVTable),
  .name = "sqlite",
  .open = backend_open,
  .close = backend_close,
  .describe_table = carb_sqlite_describe_table,
  .prepare_table = carb_sqlite_prepare_table,
  .download = download,
  .execute = carb_sqlite_exec,
  .check_prepared = carb_sqlite_check_prepared,
  .set_busy_timeout = set_busy_timeout,
  .sql_syntax = &carb_sqlite_syntax,
  .in_transaction = carb_sqlite_in_transaction,
  .execute_params = carb_sqlite_execute_params,
  .probe = carb_sqlite_probe,
  .query_rows = carb_sqlite_query_rows,
  .last_failure_refuses_data = last_failure_refuses_data,
};

CARB_BACKEND_EXPORT const CarbBackendVTable *carburetor_backend_entry (guint32 core_abi_version);

const CarbBackendVTable *
carburetor_backend_entry (guint32 core_abi_version)
{
  return core_abi_version == CARB_BACKEND_ABI_VERSION ? &vtable : NULL;
}
