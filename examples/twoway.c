/* carburetor-twoway — a to-do list kept on a device and synced both ways
 * with a server store (docs/TWOWAY.md). Each run is one process: edit the
 * local replica offline, then sync when you like.
 *
 *   carburetor-twoway SERVER-URI REPLICA-FILE init        create the server table
 *   carburetor-twoway SERVER-URI REPLICA-FILE add TITLE
 *   carburetor-twoway SERVER-URI REPLICA-FILE rename ID TITLE
 *   carburetor-twoway SERVER-URI REPLICA-FILE done ID
 *   carburetor-twoway SERVER-URI REPLICA-FILE rm ID
 *   carburetor-twoway SERVER-URI REPLICA-FILE sync
 *   carburetor-twoway SERVER-URI REPLICA-FILE list
 *
 * scripts/twoway-demo.sh runs two devices against one PostgreSQL server.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  char *id;
  char *title;
  gboolean done;
  gboolean deleted;
  gint64 updated_at;
} Todo;

CARB_DEFINE_STATIC_MODEL (todo_model,
                          Todo,
                          NULL,
                          "twoway_todos",
                          CARB_ID (Todo, id, UUID),
                          CARB_COLUMN (Todo, title, TEXT),
                          CARB_COLUMN (Todo, done, BOOL),
                          CARB_DELETED (Todo, deleted),
                          CARB_TIMESTAMP (Todo, updated_at));

static CarbSyncGroup *
todo_group (void)
{
  g_autoptr (GError) error = NULL;
  CarbSyncGroup *group = carb_sync_group_new ("todos");
  if (!carb_sync_group_add_model (group, &todo_model, &error))
    g_error ("%s", error->message);
  return group;
}

static int
fail (GError *error)
{
  g_printerr ("carburetor-twoway: %s\n", error->message);
  return 1;
}

static int
init_server (CarbStore *server, CarbSyncGroup *group)
{
  g_autoptr (GError) error = NULL;
  if (!carb_store_create_table (server, carb_sync_group_get_wire_model (group, 0), &error)
      || !carb_store_prepare_group (server, group, &error))
    return fail (error);
  g_print ("server table %s ready\n", todo_model.table);
  return 0;
}

/* The replica is a plain SQLite file: the application reads it with SQL
 * (here read-only, beside the library's own connection). */
static int
list (CarbReplica *replica)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_open_v2 (carb_replica_get_path (replica), &db, SQLITE_OPEN_READONLY, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2 (
        db, "SELECT id, title, done FROM twoway_todos WHERE NOT deleted ORDER BY title, id", -1, &stmt, NULL);
  while (rc == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
    g_print ("%s  [%s] %s\n", sqlite3_column_text (stmt, 0), sqlite3_column_int (stmt, 2) ? "x" : " ",
             sqlite3_column_text (stmt, 1));
  if (rc != SQLITE_OK)
    g_printerr ("carburetor-twoway: %s\n", sqlite3_errmsg (db));
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  g_print ("%u pending change(s)\n", carb_replica_get_n_pending (replica));
  return rc == SQLITE_OK ? 0 : 1;
}

static int
edit (CarbReplica *replica, const char *command, char **args, int n_args)
{
  g_autoptr (GError) error = NULL;
  const char *table = todo_model.table;
  if (strcmp (command, "add") == 0 && n_args == 1)
    {
      g_autoptr (GVariant) row
          = g_variant_ref_sink (g_variant_new_parsed ("{'title': <%s>, 'done': <false>}", args[0]));
      g_autofree char *id = carb_replica_insert (replica, table, row, &error);
      if (id == NULL)
        return fail (error);
      g_print ("added %s\n", id);
      return 0;
    }
  gboolean ok = FALSE;
  if (strcmp (command, "rename") == 0 && n_args == 2)
    {
      g_autoptr (GVariant) changes = g_variant_ref_sink (g_variant_new_parsed ("{'title': <%s>}", args[1]));
      ok = carb_replica_update (replica, table, args[0], changes, &error);
    }
  else if (strcmp (command, "done") == 0 && n_args == 1)
    {
      g_autoptr (GVariant) changes = g_variant_ref_sink (g_variant_new_parsed ("{'done': <true>}"));
      ok = carb_replica_update (replica, table, args[0], changes, &error);
    }
  else if (strcmp (command, "rm") == 0 && n_args == 1)
    ok = carb_replica_delete (replica, table, args[0], &error);
  else
    {
      g_printerr ("carburetor-twoway: unknown command or wrong arguments: %s\n", command);
      return 2;
    }
  return ok ? 0 : fail (error);
}

int
main (int argc, char **argv)
{
  if (argc < 4)
    {
      g_printerr ("usage: carburetor-twoway SERVER-URI REPLICA-FILE "
                  "init|add TITLE|rename ID TITLE|done ID|rm ID|sync|list\n");
      return 2;
    }
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncGroup) group = todo_group ();
  const char *command = argv[3];
  if (strcmp (command, "init") == 0 || strcmp (command, "sync") == 0)
    {
      g_autoptr (CarbStore) server = carb_store_open (argv[1], &error);
      if (server == NULL)
        return fail (error);
      if (strcmp (command, "init") == 0)
        return init_server (server, group);
      g_autoptr (CarbReplica) replica = carb_replica_open (argv[2], group, &error);
      if (replica == NULL)
        return fail (error);
      /* The server trusts this context (it would come from the session of
       * an authenticated user); the group here has no filter. */
      g_autoptr (GVariant) context = g_variant_ref_sink (g_variant_new_parsed ("@a{sv} {}"));
      if (!carb_replica_sync (replica, server, context, NULL, &error))
        return fail (error);
      g_print ("synced; %u pending\n", carb_replica_get_n_pending (replica));
      return 0;
    }
  g_autoptr (CarbReplica) replica = carb_replica_open (argv[2], group, &error);
  if (replica == NULL)
    return fail (error);
  if (strcmp (command, "list") == 0)
    return list (replica);
  return edit (replica, command, argv + 4, argc - 4);
}
