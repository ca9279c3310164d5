/* carburetor-demo — Carburetor's main job, end to end.
 *
 * Declares a model on a plain struct, writes rows the way other clients of
 * the database would (insert, update, soft delete), and runs successive
 * download_sync calls the way a device does: each passes back the sync
 * point the previous one returned.
 *
 *   carburetor-demo                          an SQLite file in a temp folder
 *   carburetor-demo --store postgresql:///   PostgreSQL (PG* variables apply)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct
{
  gint64 id;
  char *title;
  char *note; /* NULL when the column is NULL */
  gboolean done;
  gboolean deleted;
  gint64 last_synced_at;
} Todo;

CARB_DEFINE_STATIC_MODEL (todo_model,
                          Todo,
                          NULL,
                          "demo_todos",
                          CARB_ID (Todo, id, INT64),
                          CARB_COLUMN (Todo, title, TEXT),
                          CARB_COLUMN_NULLABLE (Todo, note, TEXT),
                          CARB_COLUMN (Todo, done, BOOL),
                          CARB_DELETED (Todo, deleted),
                          CARB_TIMESTAMP (Todo, last_synced_at));

static const char *const create_sql[][2] = {
  { "sqlite", "DROP TABLE IF EXISTS demo_todos;"
              "CREATE TABLE demo_todos (id INTEGER PRIMARY KEY, title TEXT NOT NULL, note TEXT,"
              " done BOOLEAN NOT NULL DEFAULT 0, deleted BOOLEAN NOT NULL DEFAULT 0,"
              " last_synced_at INTEGER NOT NULL DEFAULT 0)" },
  { "postgres", "DROP TABLE IF EXISTS demo_todos;"
                "CREATE TABLE demo_todos (id bigint PRIMARY KEY, title text NOT NULL, note text,"
                " done boolean NOT NULL DEFAULT false, deleted boolean NOT NULL DEFAULT false,"
                " last_synced_at timestamptz NOT NULL DEFAULT clock_timestamp())" },
};

static gboolean
create_table (CarbStore *store, GError **error)
{
  const char *backend = carb_store_get_backend_name (store);
  for (guint i = 0; i < G_N_ELEMENTS (create_sql); i++)
    if (strcmp (create_sql[i][0], backend) == 0)
      return carb_store_execute (store, create_sql[i][1], error)
             && carb_store_prepare_table (store, &todo_model, error);
  g_set_error (error, CARB_ERROR, CARB_ERROR_FAILED, "the demo has no table definition for backend “%s”",
               backend);
  return FALSE;
}

static void
print_time (gint64 us)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (us / G_USEC_PER_SEC);
  g_autofree char *text = t != NULL ? g_date_time_format (t, "%F %T") : g_strdup ("(out of range)");
  g_print ("%s.%06" G_GINT64_FORMAT " UTC", text, ((us % G_USEC_PER_SEC) + G_USEC_PER_SEC) % G_USEC_PER_SEC);
}

/* One device round: sync from *point, print what came, keep the new point. */
static gboolean
sync_round (CarbStore *store, const char *label, CarbSyncPoint **point, guint max_rows, GError **error)
{
  gboolean more = TRUE;

  g_print ("\n== %s\n", label);
  while (more)
    {
      g_autoptr (CarbSyncResult) result
          = carb_store_download_sync (store, &todo_model, *point, max_rows, NULL, error);
      if (result == NULL)
        return FALSE;
      gsize n = 0;
      const Todo *rows = carb_sync_result_get_rows (result, &n);
      for (gsize i = 0; i < n; i++)
        {
          g_print ("  %s id=%-3" G_GINT64_FORMAT " %-14s note=%-8s done=%s  stamped ",
                   rows[i].deleted ? "DELETED" : "row    ", rows[i].id, rows[i].title,
                   rows[i].note != NULL ? rows[i].note : "NULL", rows[i].done ? "yes" : "no");
          print_time (rows[i].last_synced_at);
          g_print ("\n");
        }
      g_clear_pointer (point, carb_sync_point_free);
      *point = carb_sync_point_copy (carb_sync_result_get_synced_until (result));
      g_autofree char *text = carb_sync_point_to_string (*point);
      more = carb_sync_result_has_more (result);
      g_print ("  -> %" G_GSIZE_FORMAT " row(s); sync point %s%s\n", n, text,
               more ? " (page full: more to fetch)" : "");
    }
  return TRUE;
}

/* The writes go through carb_store_execute() here; in a real deployment
 * they come from other clients of the database. Waiting a little after
 * each makes the output show each change in its own round (SQLite stamps
 * with millisecond resolution; see docs/SYNC.md). */
static gboolean
write_sql (CarbStore *store, const char *sql, GError **error)
{
  g_print ("\n$ %s\n", sql);
  gboolean ok = carb_store_execute (store, sql, error);
  g_usleep (5000);
  return ok;
}

static gboolean
run (const char *uri, GError **error)
{
  g_autoptr (CarbStore) store = carb_store_open (uri, error);
  g_autoptr (CarbSyncPoint) point = NULL;

  if (store == NULL)
    return FALSE;
  g_print ("Store %s (backend %s)\n", uri, carb_store_get_backend_name (store));
  if (!create_table (store, error))
    return FALSE;

  return write_sql (store,
                    "INSERT INTO demo_todos (id, title, note) VALUES"
                    " (1, 'buy milk', NULL), (2, 'write report', 'Q3'), (3, 'call mum', NULL)",
                    error)
         && write_sql (store, "UPDATE demo_todos SET deleted = TRUE WHERE id = 3", error)
         && sync_round (store, "sync 1: first sync (tombstones left out)", &point, 0, error)
         && sync_round (store, "sync 2: nothing changed", &point, 0, error)
         && write_sql (store, "UPDATE demo_todos SET done = TRUE, note = 'oat' WHERE id = 1", error)
         && write_sql (store, "UPDATE demo_todos SET deleted = TRUE WHERE id = 2", error)
         && sync_round (store, "sync 3: one update, one soft delete", &point, 0, error)
         && write_sql (store,
                       "INSERT INTO demo_todos (id, title) VALUES (10, 'page a'), (11, 'page b'),"
                       " (12, 'page c'), (13, 'page d'), (14, 'page e')",
                       error)
         && sync_round (store, "sync 4: five new rows, two per call", &point, 2, error)
         && sync_round (store, "sync 5: nothing changed", &point, 0, error);
}

int
main (int argc, char **argv)
{
  g_autofree char *store_uri = NULL;
  g_autoptr (GError) error = NULL;
  GOptionEntry entries[] = {
    { "store", 's', 0, G_OPTION_ARG_STRING, &store_uri,
      "Store URI (default: an SQLite file in a new temp folder)", "URI" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("— Carburetor's download_sync, end to end");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }

  g_autofree char *tmpdir = NULL;
  g_autofree char *db_path = NULL;
  if (store_uri == NULL)
    {
      tmpdir = g_dir_make_tmp ("carburetor-demo-XXXXXX", &error);
      if (tmpdir == NULL)
        {
          g_printerr ("%s\n", error->message);
          return 1;
        }
      db_path = g_build_filename (tmpdir, "demo.db", NULL);
      store_uri = g_strconcat ("sqlite:", db_path, NULL);
    }

  gboolean ok = run (store_uri, &error);
  if (!ok)
    g_printerr ("carburetor-demo: %s\n", error->message);
  if (tmpdir != NULL)
    {
      g_unlink (db_path);
      g_rmdir (tmpdir);
    }
  return ok ? 0 : 1;
}
