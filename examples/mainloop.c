/* carburetor-mainloop — Carburetor in a GLib application.
 *
 * Syncs a table periodically from a timeout source with the async API,
 * prints progress as rows arrive and what each round brought, and quits
 * cleanly after --rounds rounds or on Ctrl-C (SIGINT/SIGTERM), cancelling
 * a sync in flight. Between rounds it writes a few rows itself, standing
 * in for the other clients of the database.
 *
 *   carburetor-mainloop [--store URI] [--interval MS] [--rounds N]
 *
 * Without --store it uses an SQLite file in a new temp folder.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

typedef struct
{
  gint64 id;
  char *title;
  gboolean deleted;
  gint64 last_synced_at;
} Item;

CARB_DEFINE_STATIC_MODEL (item_model,
                          Item,
                          NULL,
                          "mainloop_items",
                          CARB_ID (Item, id, INT64),
                          CARB_COLUMN (Item, title, TEXT),
                          CARB_DELETED (Item, deleted),
                          CARB_TIMESTAMP (Item, last_synced_at));

#define FIRST_BATCH 5000

/* backend, CREATE TABLE, the first batch (FIRST_BATCH rows). */
static const char *const table_sql[][3] = {
  { "sqlite",
    "DROP TABLE IF EXISTS mainloop_items;"
    "CREATE TABLE mainloop_items (id INTEGER PRIMARY KEY, title TEXT NOT NULL,"
    " deleted BOOLEAN NOT NULL DEFAULT 0, last_synced_at INTEGER NOT NULL DEFAULT 0)",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)"
    " INSERT INTO mainloop_items (id, title) SELECT i, 'item ' || i FROM n" },
  { "postgres",
    "DROP TABLE IF EXISTS mainloop_items;"
    "CREATE TABLE mainloop_items (id bigint PRIMARY KEY, title text NOT NULL,"
    " deleted boolean NOT NULL DEFAULT false,"
    " last_synced_at timestamptz NOT NULL DEFAULT clock_timestamp())",
    "INSERT INTO mainloop_items (id, title) SELECT i, 'item ' || i FROM generate_series(1, 5000) AS i" },
};

typedef struct
{
  GMainLoop *loop;
  CarbStore *store;
  const char *const *sql;  /* a row of table_sql */
  CarbSyncPoint *point;    /* NULL until the first sync */
  GCancellable *in_flight; /* non-NULL while a sync runs */
  guint rounds_wanted;     /* 0: until interrupted */
  guint rounds_done;
  guint round_started;
  gint64 next_id;
  gboolean quitting;
  int status;
} App;

/* Stands in for the other clients: one update and two inserts per round. */
static gboolean
write_changes (App *app, GError **error)
{
  g_autofree char *sql = g_strdup_printf (
      "UPDATE mainloop_items SET title = title || ' (edited)' WHERE id = %" G_GINT64_FORMAT ";"
      "INSERT INTO mainloop_items (id, title) VALUES (%" G_GINT64_FORMAT ", 'item %" G_GINT64_FORMAT "'),"
      " (%" G_GINT64_FORMAT ", 'item %" G_GINT64_FORMAT "')",
      (gint64) app->rounds_done, app->next_id, app->next_id, app->next_id + 1, app->next_id + 1);
  app->next_id += 2;
  return carb_store_execute (app->store, sql, error);
}

static void
on_progress (guint64 n_received, gint64 n_total, gpointer data)
{
  App *app = data;

  if (n_total < 0)
    g_print ("[round %u] progress: %" G_GUINT64_FORMAT " rows so far...\n", app->round_started, n_received);
  else
    g_print ("[round %u] progress: %" G_GUINT64_FORMAT " of %" G_GINT64_FORMAT " rows\n", app->round_started,
             n_received, n_total);
}

static void
stop (App *app, int status)
{
  app->status = MAX (app->status, status);
  app->quitting = TRUE;
  g_main_loop_quit (app->loop);
}

static void
print_rows (App *app, const CarbSyncResult *result)
{
  gsize n = 0;
  const Item *rows = carb_sync_result_get_rows (result, &n);
  g_autofree char *point = carb_sync_point_to_string (carb_sync_result_get_synced_until (result));

  g_print ("[round %u] received %" G_GSIZE_FORMAT " row(s); sync point %s\n", app->round_started, n, point);
  /* A few rows, not five thousand. */
  for (gsize i = 0; i < n && i < 3; i++)
    g_print ("            id=%-5" G_GINT64_FORMAT " %s\n", rows[i].id, rows[i].title);
  if (n > 3)
    g_print ("            ... and %" G_GSIZE_FORMAT " more\n", n - 3);
}

static void
on_synced (GObject *source, GAsyncResult *res, gpointer data)
{
  App *app = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncResult) result = carb_store_download_sync_finish (CARB_STORE (source), res, &error);

  g_clear_object (&app->in_flight);
  if (result == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_print ("[round %u] cancelled; the sync point stays where it was\n", app->round_started);
      else
        {
          g_printerr ("carburetor-mainloop: %s\n", error->message);
          app->status = 1;
        }
      if (app->quitting || app->status != 0)
        stop (app, app->status);
      return;
    }

  print_rows (app, result);
  /* Keep the new point only now: a failed sync hands out none. */
  g_clear_pointer (&app->point, carb_sync_point_free);
  app->point = carb_sync_point_copy (carb_sync_result_get_synced_until (result));
  app->rounds_done++;
  if (app->quitting || (app->rounds_wanted > 0 && app->rounds_done >= app->rounds_wanted))
    {
      stop (app, 0);
      return;
    }
  if (!write_changes (app, &error))
    {
      g_printerr ("carburetor-mainloop: %s\n", error->message);
      stop (app, 1);
    }
}

static gboolean
on_tick (gpointer data)
{
  App *app = data;

  if (app->quitting || app->in_flight != NULL) /* a slow sync: skip this tick */
    return G_SOURCE_CONTINUE;
  app->round_started = app->rounds_done + 1;
  app->in_flight = g_cancellable_new ();
  carb_store_download_sync_async (app->store, &item_model, app->point, 0, on_progress, app, NULL,
                                  app->in_flight, on_synced, app);
  return G_SOURCE_CONTINUE;
}

/* Ctrl-C: cancel a sync in flight and quit once it has come back. */
static gboolean
on_signal (gpointer data)
{
  App *app = data;

  g_print ("interrupted: stopping\n");
  app->quitting = TRUE;
  if (app->in_flight != NULL)
    g_cancellable_cancel (app->in_flight);
  else
    stop (app, 0);
  return G_SOURCE_CONTINUE;
}

static gboolean
set_up_table (App *app, GError **error)
{
  const char *backend = carb_store_get_backend_name (app->store);

  for (guint i = 0; i < G_N_ELEMENTS (table_sql); i++)
    if (strcmp (table_sql[i][0], backend) == 0)
      {
        app->sql = table_sql[i];
        app->next_id = FIRST_BATCH + 1;
        return carb_store_execute (app->store, app->sql[1], error)
               && carb_store_prepare_table (app->store, &item_model, error)
               && carb_store_execute (app->store, app->sql[2], error);
      }
  g_set_error (error, CARB_ERROR, CARB_ERROR_FAILED, "no table definition for backend “%s”", backend);
  return FALSE;
}

static gboolean
print_plugins (GError **error)
{
  g_autoptr (GPtrArray) plugins = carb_plugin_list (error);

  if (plugins == NULL)
    return FALSE;
  g_print ("Plugins:");
  for (guint i = 0; i < plugins->len; i++)
    {
      g_autofree char *schemes
          = g_strjoinv (", ", (char **) carb_plugin_info_get_schemes (plugins->pdata[i]));
      g_print (" %s (%s)", carb_plugin_info_get_name (plugins->pdata[i]), schemes);
    }
  g_print ("\n");
  return TRUE;
}

static int
run (const char *uri, guint interval_ms, guint rounds, GError **error)
{
  App app = { .rounds_wanted = rounds };

  if (!print_plugins (error))
    return 1;
  app.store = carb_store_open (uri, error);
  if (app.store == NULL)
    return 1;
  g_print ("Store %s (backend %s): a sync every %u ms, %s\n", uri, carb_store_get_backend_name (app.store),
           interval_ms, rounds > 0 ? "until the round limit" : "until Ctrl-C");
  if (!set_up_table (&app, error))
    {
      g_object_unref (app.store);
      return 1;
    }

  app.loop = g_main_loop_new (NULL, FALSE);
  guint tick = g_timeout_add (interval_ms, on_tick, &app);
  guint sigint = g_unix_signal_add (SIGINT, on_signal, &app);
  guint sigterm = g_unix_signal_add (SIGTERM, on_signal, &app);
  g_main_loop_run (app.loop);

  g_source_remove (tick);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  g_print ("done: %u round(s)\n", app.rounds_done);
  g_main_loop_unref (app.loop);
  g_clear_pointer (&app.point, carb_sync_point_free);
  g_object_unref (app.store);
  return app.status;
}

int
main (int argc, char **argv)
{
  g_autofree char *store_uri = NULL;
  g_autoptr (GError) error = NULL;
  int interval = 1000, rounds = 0;
  GOptionEntry entries[] = {
    { "store", 's', 0, G_OPTION_ARG_STRING, &store_uri,
      "Store URI (default: an SQLite file in a new temp folder)", "URI" },
    { "interval", 'i', 0, G_OPTION_ARG_INT, &interval, "Milliseconds between syncs (default 1000)", "MS" },
    { "rounds", 'n', 0, G_OPTION_ARG_INT, &rounds, "Quit after N syncs (default 0: until Ctrl-C)", "N" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("— periodic async sync on a GLib main loop");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  if (interval <= 0 || rounds < 0)
    {
      g_printerr ("--interval must be positive and --rounds not negative\n");
      return 2;
    }

  g_autofree char *tmpdir = NULL;
  g_autofree char *db_path = NULL;
  if (store_uri == NULL)
    {
      tmpdir = g_dir_make_tmp ("carburetor-mainloop-XXXXXX", &error);
      if (tmpdir == NULL)
        {
          g_printerr ("%s\n", error->message);
          return 1;
        }
      db_path = g_build_filename (tmpdir, "mainloop.db", NULL);
      store_uri = g_strconcat ("sqlite:", db_path, NULL);
    }

  int status = run (store_uri, (guint) interval, (guint) rounds, &error);
  if (error != NULL)
    g_printerr ("carburetor-mainloop: %s\n", error->message);
  if (tmpdir != NULL)
    {
      static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
      for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
        {
          g_autofree char *path = g_strconcat (db_path, suffixes[i], NULL);
          g_unlink (path);
        }
      g_rmdir (tmpdir);
    }
  return status;
}
