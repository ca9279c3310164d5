/* Crash safety of two-way sync (issue #12), on both server backends.
 *
 *   replica-kill   a child process edits its replica and syncs in a loop;
 *                  it is killed with SIGKILL at random moments (inside
 *                  download merges and acknowledgements too). After each
 *                  kill the replica reopens, loses no edit the child made
 *                  (each edit is reported through a pipe once
 *                  carb_replica_update() returned), and converges with the
 *                  server.
 *   server-kill    (PostgreSQL) the server connection is terminated in the
 *                  middle of an apply: the apply fails, the server is
 *                  unchanged, and the retry converges.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testdb.h"

#define N_ROWS 20
#define ROUNDS 8

typedef struct
{
  char *tmpdir;
  char *uri;
  char *path;
  TestDb *db;
  char *table;
  CarbModel *model;
  CarbSyncGroup *group;
  GVariant *context;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer backend)
{
  static guint counter;
  g_autoptr (GError) error = NULL;
  f->tmpdir = g_dir_make_tmp ("carb-crash-XXXXXX", &error);
  f->uri = test_store_uri (backend, f->tmpdir);
  f->path = g_build_filename (f->tmpdir, "replica.db", NULL);
  f->db = test_db_open (f->uri);
  f->table = g_strdup_printf ("crash_%d_%u", (int) getpid (), counter++);
  f->model = carb_model_new (NULL, f->table);
  g_assert_true (
      carb_model_add_column (f->model, "id", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_ID, 0, &error));
  g_assert_true (
      carb_model_add_column (f->model, "n", CARB_COLUMN_TYPE_INT64, CARB_COLUMN_ROLE_DATA, 0, &error));
  g_assert_true (
      carb_model_add_column (f->model, "pad", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_DATA, 0, &error));
  g_assert_true (carb_model_add_column (f->model, "deleted", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DELETED,
                                        0, &error));
  g_assert_true (carb_model_add_column (f->model, "ts", CARB_COLUMN_TYPE_TIMESTAMP,
                                        CARB_COLUMN_ROLE_TIMESTAMP, 0, &error));
  f->group = carb_sync_group_new ("crash");
  g_assert_true (carb_sync_group_add_model (f->group, f->model, &error));
  g_autoptr (CarbStore) server = carb_store_open (f->uri, &error);
  g_assert_no_error (error);
  g_assert_true (carb_store_create_table (server, carb_sync_group_get_wire_model (f->group, 0), &error));
  g_assert_true (carb_store_prepare_group (server, f->group, &error));
  g_assert_no_error (error);
  f->context = g_variant_ref_sink (g_variant_new_parsed ("@a{sv} {}"));
}

static void
fixture_tear_down (Fixture *f, gconstpointer backend)
{
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TABLE IF EXISTS \"%s\"", f->table);
  test_db_free (f->db);
  g_clear_pointer (&f->group, carb_sync_group_unref);
  g_clear_pointer (&f->model, carb_model_unref);
  g_clear_pointer (&f->context, g_variant_unref);
  test_store_dir_remove (f->tmpdir);
  g_free (f->tmpdir);
  g_free (f->uri);
  g_free (f->path);
  g_free (f->table);
}

/* The child: edits rows (row i gets ever larger n), reports each edit
 * once made, and syncs every few edits, until killed. Exits 3 on any
 * error, so that an error is never mistaken for a kill. */
static G_GNUC_NORETURN void
child_main (Fixture *f, int report_fd, guint round)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) server = carb_store_open (f->uri, &error);
  g_autoptr (CarbReplica) replica = server != NULL ? carb_replica_open (f->path, f->group, &error) : NULL;
  if (replica == NULL)
    goto fail;
  /* Long padding makes pages and acknowledgements take a while. */
  g_autofree char *pad = g_strnfill (2000, 'p');
  for (gint64 k = (gint64) round * 1000000 + 1;; k++)
    {
      guint row = (guint) (k % N_ROWS);
      g_autofree char *id = g_strdup_printf ("row-%u", row);
      g_autoptr (GVariant) changes
          = g_variant_ref_sink (g_variant_new_parsed ("{'n': <%x>, 'pad': <%s>}", k, pad));
      if (!carb_replica_update (replica, f->table, id, changes, &error))
        goto fail;
      char line[64];
      int len = g_snprintf (line, sizeof line, "%u %" G_GINT64_FORMAT "\n", row, k);
      if (write (report_fd, line, (size_t) len) != len)
        _exit (3);
      if (k % 7 == 0 && !carb_replica_sync (replica, server, f->context, NULL, &error))
        goto fail;
    }
fail:
  fprintf (stderr, "child: %s\n", error != NULL ? error->message : "?");
  _exit (3);
}

static void
insert_rows (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbReplica) replica = carb_replica_open (f->path, f->group, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < N_ROWS; i++)
    {
      g_autofree char *want = g_strdup_printf ("row-%u", i);
      g_autoptr (GVariant) row
          = g_variant_ref_sink (g_variant_new_parsed ("{'id': <%s>, 'n': <int64 0>, 'pad': <''>}", want));
      g_autofree char *id = carb_replica_insert (replica, f->table, row, &error);
      g_assert_no_error (error);
    }
}

/* Syncs until nothing is pending, then checks every reported edit: the
 * server's n of its row is at least the edit's (a later edit may have
 * replaced it), and the replica equals the server. */
static void
check_after_kill (Fixture *f, const gint64 *max_reported)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) server = carb_store_open (f->uri, &error);
  g_autoptr (CarbReplica) replica = carb_replica_open (f->path, f->group, &error);
  g_assert_no_error (error);
  g_assert_true (carb_replica_sync (replica, server, f->context, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (carb_replica_sync (replica, server, f->context, NULL, &error));
  g_assert_cmpuint (carb_replica_get_n_pending (replica), ==, 0);
  for (guint i = 0; i < N_ROWS; i++)
    {
      g_autofree char *id = g_strdup_printf ("row-%u", i);
      gint64 on_server = test_db_query_int (f->db, "SELECT n FROM \"%s\" WHERE id = '%s'", f->table, id);
      if (on_server < max_reported[i])
        g_error ("%s: the server holds n = %" G_GINT64_FORMAT ", but the child made n = %" G_GINT64_FORMAT
                 " before it was killed: a write was lost",
                 id, on_server, max_reported[i]);
      g_autoptr (GVariant) row = carb_replica_get_row (replica, f->table, id, &error);
      g_assert_no_error (error);
      gint64 local = -1;
      g_assert_true (g_variant_lookup (row, "n", "x", &local));
      g_assert_cmpint (local, ==, on_server);
    }
}

static void
test_replica_kill (Fixture *f, gconstpointer backend)
{
  insert_rows (f);
  gint64 max_reported[N_ROWS] = { 0 };
  GRand *rand = g_rand_new ();
  guint killed_busy = 0;
  for (guint round = 1; round <= ROUNDS; round++)
    {
      int fds[2];
      g_assert_cmpint (pipe (fds), ==, 0);
      pid_t pid = fork ();
      g_assert_cmpint (pid, >=, 0);
      if (pid == 0)
        {
          close (fds[0]);
          child_main (f, fds[1], round);
        }
      close (fds[1]);
      /* Under valgrind the child runs some twenty times slower: it must
       * still get to sync before it is killed. */
      gulong slow = g_getenv ("CARB_UNDER_VALGRIND") != NULL ? 10 : 1;
      g_usleep (slow * (gulong) g_rand_int_range (rand, 20000, 250000));
      kill (pid, SIGKILL);
      int status = 0;
      g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
      /* Killed, not failed: an error exits 3. */
      g_assert_true (WIFSIGNALED (status));
      g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);

      FILE *in = fdopen (fds[0], "r");
      guint row;
      gint64 k;
      guint n_edits = 0;
      while (fscanf (in, "%u %" G_GINT64_FORMAT "\n", &row, &k) == 2)
        {
          g_assert_cmpuint (row, <, N_ROWS);
          max_reported[row] = MAX (max_reported[row], k);
          n_edits++;
        }
      fclose (in);
      killed_busy += n_edits > 7;
      check_after_kill (f, max_reported);
    }
  g_rand_free (rand);
  /* The kills must have hit children that had synced at least once. */
  g_assert_cmpuint (killed_busy, >, 0);
}

/* ---------------------------------------------------------- server */

typedef struct
{
  TestDb *killer;
  gboolean done;
} Terminate;

static gboolean
terminate_apply (
    CarbSyncGroup *group, const char *table, GVariant *row, GVariant *context, gpointer data, GError **error)
{
  Terminate *t = data;
  if (!t->done)
    {
      t->done = TRUE;
      test_db_exec (t->killer,
                    "SELECT pg_terminate_backend (pid) FROM pg_stat_activity WHERE application_name = "
                    "'carb-crash-apply'");
    }
  return TRUE;
}

static void
test_server_kill (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  Terminate t = { test_db_open (f->uri), FALSE };
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("crash");
  g_assert_true (carb_sync_group_add_model (group, f->model, &error));
  g_assert_true (carb_sync_group_set_validate_func (group, terminate_apply, &t, NULL, &error));
  g_autoptr (CarbReplica) replica = carb_replica_open (f->path, group, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *want = g_strdup_printf ("s-%u", i);
      g_autoptr (GVariant) row
          = g_variant_ref_sink (g_variant_new_parsed ("{'id': <%s>, 'n': <int64 7>, 'pad': <'x'>}", want));
      g_autofree char *id = carb_replica_insert (replica, f->table, row, &error);
      g_assert_no_error (error);
    }
  g_autofree char *doomed_uri = g_strdup_printf ("%s%sapplication_name=carb-crash-apply", f->uri,
                                                 strchr (f->uri, '?') != NULL ? "&" : "?");
  g_autoptr (CarbStore) doomed = carb_store_open (doomed_uri, &error);
  g_assert_no_error (error);
  g_assert_false (carb_replica_sync (replica, doomed, f->context, NULL, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM \"%s\"", f->table), ==, 0);
  g_assert_cmpuint (carb_replica_get_n_pending (replica), >, 0);

  g_autoptr (CarbStore) server = carb_store_open (f->uri, &error);
  g_assert_true (carb_replica_sync (replica, server, f->context, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (carb_replica_get_n_pending (replica), ==, 0);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM \"%s\" WHERE n = 7", f->table), ==, 5);
  test_db_free (t.killer);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  static const TestCase tests[] = { TEST_CASE ("replica-kill", test_replica_kill) };
  test_add_per_backend ("crash", sizeof (Fixture), (GTestFixtureFunc) fixture_set_up, tests,
                        G_N_ELEMENTS (tests), (GTestFixtureFunc) fixture_tear_down);
  /* Terminating the server's connection is a PostgreSQL case only. */
  g_auto (GStrv) backends = test_store_backends ();
  if (g_strv_contains ((const char *const *) backends, "postgres"))
    g_test_add_vtable ("/crash/postgres/server-kill", sizeof (Fixture), "postgres",
                       (GTestFixtureFunc) fixture_set_up, (GTestFixtureFunc) test_server_kill,
                       (GTestFixtureFunc) fixture_tear_down);
  return g_test_run ();
}
