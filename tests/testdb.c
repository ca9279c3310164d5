/* Test support: raw SQLite and libpq connections beside the store.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "testdb.h"

#include <glib/gstdio.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <string.h>

struct TestDb
{
  sqlite3 *lite;
  PGconn *pg;
};

GStrv
test_store_backends (void)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_strv_builder_add (b, "sqlite");
  if (g_getenv ("CARB_TEST_PG_URI") != NULL || g_getenv ("PGHOST") != NULL || g_getenv ("PGPORT") != NULL
      || g_getenv ("CI") != NULL)
    g_strv_builder_add (b, "postgres");
  return g_strv_builder_end (b);
}

char *
test_store_uri (const char *backend, const char *tmpdir)
{
  if (strcmp (backend, "postgres") == 0)
    {
      const char *uri = g_getenv ("CARB_TEST_PG_URI");
      return g_strdup (uri != NULL ? uri : "postgresql:///");
    }
  return g_strdup_printf ("sqlite:%s/store.db", tmpdir);
}

void
test_add_per_backend (const char *suite,
                      gsize fixture_size,
                      GTestFixtureFunc set_up,
                      const TestCase *cases,
                      gsize n_cases,
                      GTestFixtureFunc tear_down)
{
  g_auto (GStrv) backends = test_store_backends ();
  for (char **b = backends; *b != NULL; b++)
    for (gsize i = 0; i < n_cases; i++)
      {
        if (cases[i].only != NULL && strcmp (cases[i].only, *b) != 0)
          continue;
        g_autofree char *path = g_strdup_printf ("/%s/%s/%s", suite, *b, cases[i].name);
        /* interned: the data must outlive this function, until g_test_run () */
        g_test_add_vtable (path, fixture_size, g_intern_string (*b), set_up, cases[i].func, tear_down);
      }
}

void
test_store_dir_remove (const char *tmpdir)
{
  /* Everything a test put there: stores, replicas (their -wal, -shm and
   * -journal files too), plugin copies, subfolders. */
  g_autoptr (GDir) dir = g_dir_open (tmpdir, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (tmpdir, name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
        test_store_dir_remove (path);
      else
        g_unlink (path);
    }
  g_rmdir (tmpdir);
}

TestDb *
test_db_open (const char *uri)
{
  TestDb *db = g_new0 (TestDb, 1);

  if (g_str_has_prefix (uri, "sqlite:"))
    {
      g_assert_cmpint (sqlite3_open (uri + strlen ("sqlite:"), &db->lite), ==, SQLITE_OK);
      sqlite3_busy_timeout (db->lite, 10000);
      /* WAL lets readers run beside a writer, as a real app would set. */
      g_assert_cmpint (sqlite3_exec (db->lite, "PRAGMA journal_mode=WAL", NULL, NULL, NULL), ==, SQLITE_OK);
      return db;
    }
  db->pg = PQconnectdb (uri);
  if (PQstatus (db->pg) != CONNECTION_OK)
    g_error ("PostgreSQL tests need a server (run them through scripts/test.sh): %s",
             PQerrorMessage (db->pg));
  PQclear (PQexec (db->pg, "SET client_min_messages = warning"));
  return db;
}

void
test_db_free (TestDb *db)
{
  if (db == NULL)
    return;
  if (db->lite != NULL)
    sqlite3_close (db->lite);
  if (db->pg != NULL)
    PQfinish (db->pg);
  g_free (db);
}

gboolean
test_db_is_postgres (TestDb *db)
{
  return db->pg != NULL;
}

static gboolean
exec_sql (TestDb *db, const char *sql, GError **error)
{
  if (db->lite != NULL)
    {
      char *msg = NULL;
      if (sqlite3_exec (db->lite, sql, NULL, NULL, &msg) == SQLITE_OK)
        return TRUE;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", sql, msg);
      sqlite3_free (msg);
      return FALSE;
    }
  PGresult *res = PQexec (db->pg, sql);
  gboolean ok = PQresultStatus (res) == PGRES_COMMAND_OK || PQresultStatus (res) == PGRES_TUPLES_OK;
  if (!ok)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", sql, PQerrorMessage (db->pg));
  PQclear (res);
  return ok;
}

gboolean
test_db_try_exec (TestDb *db, GError **error, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *sql = g_strdup_vprintf (format, args);
  va_end (args);
  return exec_sql (db, sql, error);
}

void
test_db_exec (TestDb *db, const char *format, ...)
{
  g_autoptr (GError) error = NULL;
  va_list args;
  va_start (args, format);
  g_autofree char *sql = g_strdup_vprintf (format, args);
  va_end (args);
  exec_sql (db, sql, &error);
  g_assert_no_error (error);
}

gint64
test_db_query_int (TestDb *db, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *sql = g_strdup_vprintf (format, args);
  va_end (args);
  gint64 value = 0;

  if (db->lite != NULL)
    {
      sqlite3_stmt *stmt = NULL;
      g_assert_cmpint (sqlite3_prepare_v2 (db->lite, sql, -1, &stmt, NULL), ==, SQLITE_OK);
      g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
      value = sqlite3_column_int64 (stmt, 0);
      sqlite3_finalize (stmt);
      return value;
    }
  PGresult *res = PQexec (db->pg, sql);
  if (PQresultStatus (res) != PGRES_TUPLES_OK || PQntuples (res) != 1)
    g_error ("%s: %s", sql, PQerrorMessage (db->pg));
  value = g_ascii_strtoll (PQgetvalue (res, 0, 0), NULL, 10);
  PQclear (res);
  return value;
}

GPtrArray *
test_db_query_rows (TestDb *db, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *sql = g_strdup_vprintf (format, args);
  va_end (args);
  GPtrArray *rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);

  if (db->lite != NULL)
    {
      sqlite3_stmt *stmt = NULL;
      int rc;
      g_assert_cmpint (sqlite3_prepare_v2 (db->lite, sql, -1, &stmt, NULL), ==, SQLITE_OK);
      while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        {
          int n = sqlite3_column_count (stmt);
          char **row = g_new0 (char *, n + 1);
          for (int i = 0; i < n; i++)
            {
              const char *text = (const char *) sqlite3_column_text (stmt, i);
              row[i] = g_strdup (text != NULL ? text : "");
            }
          g_ptr_array_add (rows, row);
        }
      if (rc != SQLITE_DONE)
        g_error ("%s: %s", sql, sqlite3_errmsg (db->lite));
      sqlite3_finalize (stmt);
      return rows;
    }
  PGresult *res = PQexec (db->pg, sql);
  if (PQresultStatus (res) != PGRES_TUPLES_OK)
    g_error ("%s: %s", sql, PQerrorMessage (db->pg));
  for (int r = 0; r < PQntuples (res); r++)
    {
      int n = PQnfields (res);
      char **row = g_new0 (char *, n + 1);
      for (int i = 0; i < n; i++)
        row[i] = g_strdup (PQgetvalue (res, r, i));
      g_ptr_array_add (rows, row);
    }
  PQclear (res);
  return rows;
}

char *
test_db_ts_literal (TestDb *db, gint64 us)
{
  if (db->lite != NULL)
    return g_strdup_printf ("%" G_GINT64_FORMAT, us);
  return g_strdup_printf ("(TIMESTAMPTZ 'epoch' + %" G_GINT64_FORMAT " * INTERVAL '1 microsecond')", us);
}

char *
test_db_quote (const char *name)
{
  g_autoptr (GString) q = g_string_new ("\"");
  for (const char *p = name; *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (q, '"');
      g_string_append_c (q, *p);
    }
  g_string_append_c (q, '"');
  return g_string_free (g_steal_pointer (&q), FALSE);
}

void
test_wait_clock_tick (void)
{
  g_usleep (2000);
}

char *
test_db_query_text (TestDb *db, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *sql = g_strdup_vprintf (format, args);
  va_end (args);
  g_autoptr (GString) text = g_string_new (NULL);

  g_assert_nonnull (db->pg); /* only the PostgreSQL tests need it */
  PGresult *res = PQexec (db->pg, sql);
  if (PQresultStatus (res) != PGRES_TUPLES_OK)
    g_error ("%s: %s", sql, PQerrorMessage (db->pg));
  for (int i = 0; i < PQntuples (res); i++)
    g_string_append_printf (text, "%s\n", PQgetvalue (res, i, 0));
  PQclear (res);
  return g_string_free (g_steal_pointer (&text), FALSE);
}
