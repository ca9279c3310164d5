/* The `carburetor` command, driven as a user drives it, on every backend.
 *
 *   plugins      lists both in-tree plugins, exit 0
 *   round        prepare, then sync --format jsonl: one line per row, the
 *                sync point last; syncing again from it prints no row; a
 *                later write comes through; --format json parses
 *   errors       a bad URI or table is exit 1 naming it on stderr, a bad
 *                command line exit 2 (an unknown command named)
 *   unprepared   sync and check of a table never prepared: exit 1, nothing
 *                on stdout (no header, no half a JSON document), and the
 *                shell's fix on stderr (`carburetor prepare URI TABLE`)
 *   nullable-stamp  a stamped column that allows NULL is refused naming
 *                the column and the table's fix (NOT NULL), not a C macro
 *                the shell user cannot write
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

typedef struct
{
  char *tmpdir;
  char *uri;
  TestDb *db;
  char *table;
  char *qtable;
} Fixture;

typedef struct
{
  int status;
  char *out;
  char *err;
} Run;

static void
run_clear (Run *run)
{
  g_free (run->out);
  g_free (run->err);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Run, run_clear)

/* Runs the tool with the NULL-terminated arguments; its exit status. */
static void
run_cli (Run *run, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  const char *cli = g_getenv ("CARB_TEST_CLI");
  g_assert_nonnull (cli);
  g_ptr_array_add (argv, (gpointer) cli);
  va_list args;
  va_start (args, run);
  for (const char *a = va_arg (args, const char *); a != NULL; a = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer) a);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  g_autoptr (GError) error = NULL;
  int wait_status = 0;
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &run->out,
                               &run->err, &wait_status, &error));
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (wait_status));
  run->status = WEXITSTATUS (wait_status);
  g_test_message ("exit %d\nstdout: %s\nstderr: %s", run->status, run->out, run->err);
}

static void
fixture_set_up (Fixture *f, gconstpointer backend)
{
  static guint counter;
  g_autoptr (GError) error = NULL;

  f->tmpdir = g_dir_make_tmp ("carb-cli-XXXXXX", &error);
  g_assert_no_error (error);
  f->uri = test_store_uri (backend, f->tmpdir);
  f->db = test_db_open (f->uri);
  f->table = g_strdup_printf ("cli_%d_%u", (int) getpid (), counter++);
  f->qtable = test_db_quote (f->table);
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db,
                  "CREATE TABLE %s (id bigint PRIMARY KEY, title text, gone boolean NOT NULL DEFAULT false,"
                  " last_synced_at timestamptz NOT NULL DEFAULT clock_timestamp())",
                  f->qtable);
  else
    test_db_exec (f->db,
                  "CREATE TABLE %s (id INTEGER PRIMARY KEY, title TEXT, gone BOOLEAN NOT NULL DEFAULT 0,"
                  " last_synced_at INTEGER NOT NULL DEFAULT 0)",
                  f->qtable);
}

static void
fixture_tear_down (Fixture *f, gconstpointer backend)
{
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TABLE IF EXISTS %s CASCADE", f->qtable);
  test_db_free (f->db);
  test_store_dir_remove (f->tmpdir);
  g_free (f->tmpdir);
  g_free (f->uri);
  g_free (f->table);
  g_free (f->qtable);
}

static void
test_plugins (void)
{
  g_auto (Run) run = { 0 };
  run_cli (&run, "plugins", NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_nonnull (strstr (run.out, "sqlite\t"));
  g_assert_nonnull (strstr (run.out, "postgres\t"));
}

/* Parses jsonl output: the rows' titles in order; the final line's sync
 * point in @point. */
static GPtrArray *
parse_lines (const char *out, char **point)
{
  g_autoptr (GPtrArray) titles = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
  guint n = g_strv_length (lines);
  g_assert_cmpuint (n, >=, 2);
  g_assert_cmpstr (lines[n - 1], ==, ""); /* ends with a newline */
  for (guint i = 0; i + 1 < n; i++)
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (GError) error = NULL;
      g_assert_true (json_parser_load_from_data (parser, lines[i], -1, &error));
      g_assert_no_error (error);
      JsonObject *obj = json_node_get_object (json_parser_get_root (parser));
      if (i + 2 == n)
        {
          *point = g_strdup (json_object_get_string_member (obj, "synced_until"));
          g_assert_cmpuint (json_object_get_size (obj), ==, 1);
        }
      else
        g_ptr_array_add (titles, g_strdup (json_object_get_string_member (obj, "title")));
    }
  return g_steal_pointer (&titles);
}

static void
test_round (Fixture *f, gconstpointer backend)
{
  g_auto (Run) prep = { 0 };
  run_cli (&prep, "prepare", f->uri, f->table, "--deleted", "gone", NULL);
  g_assert_cmpint (prep.status, ==, 0);

  test_db_exec (f->db, "INSERT INTO %s (id, title) VALUES (1, 'tab\there'), (2, 'Zoë')", f->qtable);
  test_wait_clock_tick ();
  g_auto (Run) first = { 0 };
  run_cli (&first, "sync", f->uri, f->table, "--deleted", "gone", "--format", "jsonl", NULL);
  g_assert_cmpint (first.status, ==, 0);
  g_autofree char *point = NULL;
  g_autoptr (GPtrArray) titles = parse_lines (first.out, &point);
  g_assert_cmpuint (titles->len, ==, 2);
  g_assert_true (g_ptr_array_find_with_equal_func (titles, "tab\there", g_str_equal, NULL));
  g_assert_true (g_ptr_array_find_with_equal_func (titles, "Zoë", g_str_equal, NULL));

  /* From the printed point: nothing new; then only the new write. */
  g_auto (Run) idle = { 0 };
  run_cli (&idle, "sync", f->uri, f->table, "--deleted", "gone", "--format", "jsonl", "--since", point, NULL);
  g_assert_cmpint (idle.status, ==, 0);
  g_autofree char *point2 = NULL;
  g_autoptr (GPtrArray) none = parse_lines (idle.out, &point2);
  g_assert_cmpuint (none->len, ==, 0);

  test_db_exec (f->db, "UPDATE %s SET title = 'later' WHERE id = 2", f->qtable);
  test_wait_clock_tick ();
  g_auto (Run) next = { 0 };
  run_cli (&next, "sync", f->uri, f->table, "--deleted", "gone", "--format", "json", "--since", point2, NULL);
  g_assert_cmpint (next.status, ==, 0);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, next.out, -1, NULL));
  JsonArray *rows
      = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "rows");
  g_assert_cmpuint (json_array_get_length (rows), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (rows, 0), "title"), ==,
                   "later");
}

static void
test_errors (Fixture *f, gconstpointer backend)
{
  g_auto (Run) bad_table = { 0 };
  run_cli (&bad_table, "sync", f->uri, "no_such_table", NULL);
  g_assert_cmpint (bad_table.status, ==, 1);
  g_assert_nonnull (strstr (bad_table.err, "no_such_table"));
  g_assert_cmpstr (bad_table.out, ==, "");

  g_auto (Run) bad_uri = { 0 };
  run_cli (&bad_uri, "check", "nosuchscheme://x", f->table, NULL);
  g_assert_cmpint (bad_uri.status, ==, 1);
  g_assert_nonnull (strstr (bad_uri.err, "nosuchscheme"));

  g_auto (Run) bad_point = { 0 };
  run_cli (&bad_point, "sync", f->uri, f->table, "--since", "garbage", NULL);
  g_assert_cmpint (bad_point.status, ==, 1);
  g_assert_nonnull (strstr (bad_point.err, "garbage"));

  g_auto (Run) bad_format = { 0 };
  run_cli (&bad_format, "sync", f->uri, f->table, "--format", "xml", NULL);
  g_assert_cmpint (bad_format.status, ==, 2);

  g_auto (Run) no_args = { 0 };
  run_cli (&no_args, "sync", f->uri, NULL);
  g_assert_cmpint (no_args.status, ==, 2);

  g_auto (Run) bad_command = { 0 };
  run_cli (&bad_command, "snyc", f->uri, f->table, NULL);
  g_assert_cmpint (bad_command.status, ==, 2);
  g_assert_nonnull (strstr (bad_command.err, "unknown command “snyc”"));
}

static void
test_unprepared (Fixture *f, gconstpointer backend)
{
  static const char *const formats[] = { "table", "json", "jsonl" };
  g_autofree char *fix = g_strdup_printf ("carburetor prepare %s %s", f->uri, f->table);

  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_auto (Run) sync = { 0 };
      run_cli (&sync, "sync", f->uri, f->table, "--deleted", "gone", "--format", formats[i], NULL);
      g_assert_cmpint (sync.status, ==, 1);
      g_assert_cmpstr (sync.out, ==, "");
      g_assert_nonnull (strstr (sync.err, "not prepared"));
      g_assert_nonnull (strstr (sync.err, fix));
    }
  g_auto (Run) check = { 0 };
  run_cli (&check, "check", f->uri, f->table, "--deleted", "gone", NULL);
  g_assert_cmpint (check.status, ==, 1);
  g_assert_nonnull (strstr (check.err, fix));
}

static void
test_nullable_stamp (Fixture *f, gconstpointer backend)
{
  g_autofree char *table = g_strconcat (f->table, "_n", NULL);
  g_autofree char *qtable = test_db_quote (table);
  test_db_exec (f->db, "CREATE TABLE %s (id %s PRIMARY KEY, title text, last_synced_at %s)", qtable,
                test_db_is_postgres (f->db) ? "bigint" : "INTEGER",
                test_db_is_postgres (f->db) ? "timestamptz" : "INTEGER");
  g_auto (Run) check = { 0 };
  run_cli (&check, "check", f->uri, table, NULL);
  g_auto (Run) prepare = { 0 };
  run_cli (&prepare, "prepare", f->uri, table, NULL);
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TABLE %s", qtable);

  for (const Run *run = &check; run != NULL; run = run == &check ? &prepare : NULL)
    {
      g_assert_cmpint (run->status, ==, 1);
      g_assert_nonnull (strstr (run->err, "“last_synced_at” is nullable"));
      g_assert_nonnull (strstr (run->err, "make the column NOT NULL"));
      g_assert_null (strstr (run->err, "CARB_COLUMN_NULLABLE"));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/plugins", test_plugins);
  static const TestCase tests[] = {
    TEST_CASE ("round", test_round),
    TEST_CASE ("errors", test_errors),
    TEST_CASE ("unprepared", test_unprepared),
    TEST_CASE ("nullable-stamp", test_nullable_stamp),
  };
  test_add_per_backend ("cli", sizeof (Fixture), (GTestFixtureFunc) fixture_set_up, tests,
                        G_N_ELEMENTS (tests), (GTestFixtureFunc) fixture_tear_down);
  return g_test_run ();
}
