/* carburetor-sqlite — the plugin's entry point, connections and SQL
 * dialect.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sqlite-private.h"

#include <string.h>

gboolean
carb_sqlite_fail (CarbBackend *backend, GError **error, CarbError code, const char *what)
{
  g_set_error (error, CARB_ERROR, code, "SQLite “%s”: %s: %s", backend->path, what,
               sqlite3_errmsg (backend->db));
  return FALSE;
}

gboolean
carb_sqlite_exec (CarbBackend *backend, const char *sql, GError **error)
{
  if (sqlite3_exec (backend->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, sql);
  return TRUE;
}

static char *
quote_identifier (const char *name, gpointer user_data, GError **error)
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

const CarbSqlDialect *
carb_sqlite_dialect (void)
{
  static const CarbSqlDialect dialect = {
    .param_prefix = "?",
    .quote_identifier = quote_identifier,
  };
  return &dialect;
}

/* sqlite:PATH and sqlite://PATH name a file; file: URIs are SQLite's own
 * URI syntax (file:data.db?mode=ro) and go to SQLite as they are. */
static char *
uri_to_filename (const char *uri, int *flags)
{
  if (g_str_has_prefix (uri, "file:"))
    {
      *flags |= SQLITE_OPEN_URI;
      return g_strdup (uri);
    }
  const char *path = strchr (uri, ':') + 1;
  if (g_str_has_prefix (path, "//"))
    path += 2;
  return g_strdup (path);
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
  g_autofree char *filename = uri_to_filename (uri, &flags);
  CarbBackend *backend = g_new0 (CarbBackend, 1);

  backend->path = g_strdup (uri);
  backend->stampings
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) carb_sqlite_stamping_free);
  if (filename[0] == '\0')
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_URI, "SQLite URI “%s” names no file", uri);
      backend_close (backend);
      return NULL;
    }
  if (sqlite3_open_v2 (filename, &backend->db, flags, NULL) != SQLITE_OK)
    {
      carb_sqlite_fail (backend, error, CARB_ERROR_CONNECTION, "cannot open the database");
      backend_close (backend);
      return NULL;
    }
  sqlite3_extended_result_codes (backend->db, TRUE);
  sqlite3_busy_timeout (backend->db, CARB_SQLITE_BUSY_TIMEOUT_MS);
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
  .download = carb_sqlite_download,
  .execute = carb_sqlite_exec,
  .check_prepared = carb_sqlite_check_prepared,
};

CARB_BACKEND_EXPORT const CarbBackendVTable *carburetor_backend_entry (guint32 core_abi_version);

const CarbBackendVTable *
carburetor_backend_entry (guint32 core_abi_version)
{
  return core_abi_version == CARB_BACKEND_ABI_VERSION ? &vtable : NULL;
}
