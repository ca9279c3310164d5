/* The nine holes issue #12 found in the prior art (the Rust crate
 * carburetor-rs), one named test each, on both server backends. Two
 * replicas (SQLite files) sync with one server store.
 *
 *   1-late-commit       an apply whose transaction commits late: its rows
 *                       still reach a replica that downloaded meanwhile
 *   2-arrival-order     an old offline edit arriving last does not
 *                       overwrite a newer one; a replayed upload neither
 *   3-insert-retry      an insert whose answer was lost is retried without
 *                       "already exists" and is not stuck pending
 *   4-deleted-locally   a download does not bring back a row deleted
 *                       locally, and the next upload deletes it
 *   5-column-versions   concurrent edits of different columns both survive
 *                       and every site agrees, column for column
 *   6-group-points      sync points are kept per group: a replica file of
 *                       one group refuses to open as another
 *   7-in-flight-edit    an edit made while its column's batch is in flight
 *                       stays pending and is sent next (versions, never a
 *                       wall-clock cutoff, decide what is acknowledged)
 *   8-ids               row ids are random UUIDs: no collisions
 *   9-rejections        a refused change is reported once (signal and
 *                       list), leaves the queue, and the replica returns
 *                       to the server's value
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

typedef struct
{
  char *tmpdir;
  char *uri;
  TestDb *db;
  CarbStore *server;
  char *table;
  CarbModel *model;
  CarbSyncGroup *group;
  CarbReplica *a, *b;
  GVariant *context;
} Fixture;

static CarbModel *
notes_model (const char *table)
{
  g_autoptr (GError) error = NULL;
  CarbModel *m = carb_model_new (NULL, table);
  g_assert_true (carb_model_add_column (m, "id", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_ID, 0, &error));
  g_assert_true (carb_model_add_column (m, "owner", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_DATA, 0, &error));
  g_assert_true (carb_model_add_column (m, "title", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_DATA,
                                        CARB_COLUMN_FLAGS_NULLABLE, &error));
  g_assert_true (carb_model_add_column (m, "n", CARB_COLUMN_TYPE_INT64, CARB_COLUMN_ROLE_DATA, 0, &error));
  g_assert_true (
      carb_model_add_column (m, "deleted", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DELETED, 0, &error));
  g_assert_true (
      carb_model_add_column (m, "ts", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_TIMESTAMP, 0, &error));
  g_assert_no_error (error);
  return m;
}

static CarbReplica *
open_replica (Fixture *f, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->tmpdir, name, NULL);
  CarbReplica *r = carb_replica_open (path, f->group, &error);
  g_assert_no_error (error);
  return r;
}

/* Tests that need a rule on the group set it before the fixture seals it. */
typedef void (*GroupRule) (Fixture *f);

static void
set_up_with (Fixture *f, gconstpointer backend, GroupRule rule)
{
  static guint counter;
  g_autoptr (GError) error = NULL;
  f->tmpdir = g_dir_make_tmp ("carb-holes-XXXXXX", &error);
  f->uri = test_store_uri (backend, f->tmpdir);
  f->db = test_db_open (f->uri);
  f->table = g_strdup_printf ("holes_%d_%u", (int) getpid (), counter++);
  f->model = notes_model (f->table);
  f->group = carb_sync_group_new ("notes");
  g_assert_true (carb_sync_group_add_model (f->group, f->model, &error));
  if (rule != NULL)
    rule (f);
  f->server = carb_store_open (f->uri, &error);
  g_assert_no_error (error);
  g_assert_true (carb_store_create_table (f->server, carb_sync_group_get_wire_model (f->group, 0), &error));
  g_assert_true (carb_store_prepare_group (f->server, f->group, &error));
  g_assert_no_error (error);
  f->a = open_replica (f, "a.db");
  f->b = open_replica (f, "b.db");
  f->context = g_variant_ref_sink (g_variant_new_parsed ("{'user': <'ann'>}"));
}

static void
fixture_set_up (Fixture *f, gconstpointer backend)
{
  set_up_with (f, backend, NULL);
}

static void
fixture_tear_down (Fixture *f, gconstpointer backend)
{
  g_clear_object (&f->a);
  g_clear_object (&f->b);
  g_clear_object (&f->server);
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TABLE IF EXISTS \"%s\" CASCADE", f->table);
  test_db_free (f->db);
  g_clear_pointer (&f->group, carb_sync_group_unref);
  g_clear_pointer (&f->model, carb_model_unref);
  g_clear_pointer (&f->context, g_variant_unref);
  test_store_dir_remove (f->tmpdir);
  g_free (f->tmpdir);
  g_free (f->uri);
  g_free (f->table);
}

static void
sync_ok (Fixture *f, CarbReplica *r)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_replica_sync (r, f->server, f->context, NULL, &error));
  g_assert_no_error (error);
}

static char *
insert_note (Fixture *f, CarbReplica *r, const char *title, gint64 n)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) row
      = g_variant_ref_sink (g_variant_new_parsed ("{'owner': <'ann'>, 'title': <%s>, 'n': <%x>}", title, n));
  char *id = carb_replica_insert (r, f->table, row, &error);
  g_assert_no_error (error);
  g_assert_nonnull (id);
  return id;
}

static void
update_note (Fixture *f, CarbReplica *r, const char *id, const char *changes_text)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) changes = g_variant_ref_sink (g_variant_new_parsed (changes_text));
  g_assert_true (carb_replica_update (r, f->table, id, changes, &error));
  g_assert_no_error (error);
}

/* The value of @column in @r's row @id, as text ("NULL" for NULL). */
static char *
replica_cell (CarbReplica *r, const char *table, const char *id, const char *column)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) row = carb_replica_get_row (r, table, id, &error);
  g_assert_no_error (error);
  if (row == NULL)
    return g_strdup ("(no row)");
  g_autoptr (GVariant) v = g_variant_lookup_value (row, column, NULL);
  g_assert_nonnull (v);
  if (g_variant_is_of_type (v, G_VARIANT_TYPE_MAYBE) && g_variant_n_children (v) == 0)
    return g_strdup ("NULL");
  if (g_variant_is_of_type (v, G_VARIANT_TYPE_STRING))
    return g_variant_dup_string (v, NULL);
  return g_variant_print (v, FALSE);
}

/* The server's value as text, by plain SQL ("NULL" for NULL). */
static char *
server_cell (Fixture *f, const char *id, const char *column)
{
  g_autoptr (GPtrArray) rows = test_db_query_rows (
      f->db,
      "SELECT CASE WHEN \"%s\" IS NULL THEN 'NULL' ELSE CAST(\"%s\" AS TEXT) END FROM \"%s\" WHERE id = '%s'",
      column, column, f->table, id);
  if (rows->len == 0)
    return g_strdup ("(no row)");
  return g_strdup (((GStrv) g_ptr_array_index (rows, 0))[0]);
}

static void
assert_everywhere (Fixture *f, const char *id, const char *column, const char *expected)
{
  g_autofree char *on_server = server_cell (f, id, column);
  g_autofree char *on_a = replica_cell (f->a, f->table, id, column);
  g_autofree char *on_b = replica_cell (f->b, f->table, id, column);
  g_assert_cmpstr (on_server, ==, expected);
  g_assert_cmpstr (on_a, ==, expected);
  g_assert_cmpstr (on_b, ==, expected);
}

/* Booleans read back as "true"/"t"/"1" depending on the site. */
static gboolean
is_true (const char *text)
{
  return strcmp (text, "true") == 0 || strcmp (text, "t") == 0 || strcmp (text, "1") == 0;
}

/* ------------------------------------------------------------ hole 1 */

typedef struct
{
  Fixture *f;
  CarbSyncGroup *group;
  GBytes *changes;
  GMutex lock;
  GCond cond;
  gboolean in_validate, release;
  GError *error;
} Late;

/* Holds the apply's transaction open at the row titled "second", after the
 * batch's first row was written. */
static gboolean
hold_in_validate (
    CarbSyncGroup *group, const char *table, GVariant *row, GVariant *context, gpointer data, GError **error)
{
  Late *late = data;
  const char *title = NULL;
  if (!g_variant_lookup (row, "title", "&s", &title) || g_strcmp0 (title, "second") != 0)
    return TRUE;
  g_mutex_lock (&late->lock);
  late->in_validate = TRUE;
  g_cond_broadcast (&late->cond);
  while (!late->release)
    g_cond_wait (&late->cond, &late->lock);
  g_mutex_unlock (&late->lock);
  return TRUE;
}

static gpointer
late_apply (gpointer data)
{
  Late *late = data;
  /* A store of its own: calls on one store are serialized, so the held
   * apply would hold up the replica's sync too. */
  g_autoptr (CarbStore) server = carb_store_open (late->f->uri, &late->error);
  g_autoptr (GBytes) result = server != NULL ? carb_store_apply_changes (
                                  server, late->group, late->f->context, late->changes, NULL, &late->error)
                                             : NULL;
  return NULL;
}

static void
test_late_commit (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  Late late = { .f = f };
  g_mutex_init (&late.lock);
  g_cond_init (&late.cond);

  /* A third replica, whose group holds the apply open, writes two rows. */
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("notes");
  g_assert_true (carb_sync_group_add_model (group, f->model, &error));
  g_assert_true (carb_sync_group_set_validate_func (group, hold_in_validate, &late, NULL, &error));
  g_assert_true (carb_store_prepare_group (f->server, group, &error));
  g_assert_no_error (error);
  late.group = group;
  g_autofree char *path = g_build_filename (f->tmpdir, "c.db", NULL);
  g_autoptr (CarbReplica) c = carb_replica_open (path, group, &error);
  g_assert_no_error (error);
  g_autofree char *id1 = insert_note (f, c, "first", 1);
  g_autofree char *id2 = insert_note (f, c, "second", 2);
  late.changes = carb_replica_collect_changes (c, 100, &error);
  g_assert_no_error (error);

  GThread *thread = g_thread_new ("late-apply", late_apply, &late);
  g_mutex_lock (&late.lock);
  while (!late.in_validate)
    g_cond_wait (&late.cond, &late.lock);
  g_mutex_unlock (&late.lock);
  /* Replica a syncs while the apply's transaction is open (on SQLite the
   * download reads the last committed state beside the writer). */
  sync_ok (f, f->a);
  g_mutex_lock (&late.lock);
  late.release = TRUE;
  g_cond_broadcast (&late.cond);
  g_mutex_unlock (&late.lock);
  g_thread_join (thread);
  g_assert_no_error (late.error);
  g_bytes_unref (late.changes);

  /* After the late commit, a's next sync brings both rows. */
  sync_ok (f, f->a);
  g_autofree char *t1 = replica_cell (f->a, f->table, id1, "title");
  g_autofree char *t2 = replica_cell (f->a, f->table, id2, "title");
  g_assert_cmpstr (t1, ==, "first");
  g_assert_cmpstr (t2, ==, "second");
  g_mutex_clear (&late.lock);
  g_cond_clear (&late.cond);
}

/* ------------------------------------------------------------ hole 2 */

static void
test_arrival_order (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = insert_note (f, f->a, "start", 1);
  sync_ok (f, f->a);
  sync_ok (f, f->b);

  /* a edits offline first; b edits later and syncs first. */
  update_note (f, f->a, id, "{'title': <'old offline edit'>}");
  g_usleep (3000);
  update_note (f, f->b, id, "{'title': <'newer edit'>}");
  sync_ok (f, f->b);
  /* a's upload arrives last, and is then replayed. */
  g_autoptr (GBytes) sent = carb_replica_collect_changes (f->a, 100, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) r1 = carb_store_apply_changes (f->server, f->group, f->context, sent, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) r2 = carb_store_apply_changes (f->server, f->group, f->context, sent, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (carb_replica_acknowledge (f->a, sent, r2, &error));
  g_assert_no_error (error);
  sync_ok (f, f->a);
  sync_ok (f, f->b);
  assert_everywhere (f, id, "title", "newer edit");
  g_assert_cmpuint (carb_replica_get_n_pending (f->a), ==, 0);
}

/* ------------------------------------------------------------ hole 3 */

static void
test_insert_retry (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = insert_note (f, f->a, "once", 7);
  g_autoptr (GBytes) sent = carb_replica_collect_changes (f->a, 100, &error);
  g_autoptr (GBytes) lost = carb_store_apply_changes (f->server, f->group, f->context, sent, NULL, &error);
  g_assert_no_error (error);
  /* The answer is lost: no acknowledge. The retry is a plain sync. */
  g_assert_cmpuint (carb_replica_get_n_pending (f->a), >, 0);
  sync_ok (f, f->a);
  g_assert_cmpuint (carb_replica_get_n_pending (f->a), ==, 0);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM \"%s\"", f->table), ==, 1);
  g_autoptr (GVariant) rejections = carb_replica_list_rejections (f->a);
  g_assert_cmpuint (g_variant_n_children (rejections), ==, 0);
  sync_ok (f, f->b);
  assert_everywhere (f, id, "title", "once");
}

/* ------------------------------------------------------------ hole 4 */

static void
test_deleted_locally (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = insert_note (f, f->a, "doomed", 1);
  sync_ok (f, f->a);
  sync_ok (f, f->b);

  g_assert_true (carb_replica_delete (f->a, f->table, id, &error));
  g_assert_no_error (error);
  /* Meanwhile b edits another column; a downloads before it uploads. */
  update_note (f, f->b, id, "{'n': <int64 99>}");
  sync_ok (f, f->b);
  g_autoptr (CarbSyncPoint) point = carb_replica_get_sync_point (f->a, 0);
  g_autoptr (CarbSyncPoint) until = NULL;
  gboolean has_more = FALSE;
  g_autoptr (GBytes) page = carb_store_download_changes (f->server, f->group, f->context, 0, point, 0, &until,
                                                         &has_more, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (carb_replica_merge_download (f->a, 0, page, until, &error));
  g_assert_no_error (error);
  g_autofree char *deleted = replica_cell (f->a, f->table, id, "deleted");
  g_assert_true (is_true (deleted));

  sync_ok (f, f->a);
  sync_ok (f, f->b);
  g_autofree char *on_server = server_cell (f, id, "deleted");
  g_autofree char *on_b = replica_cell (f->b, f->table, id, "deleted");
  g_assert_true (is_true (on_server));
  g_assert_true (is_true (on_b));
  /* b's edit of n survives the delete. */
  assert_everywhere (f, id, "n", "99");
}

/* ------------------------------------------------------------ hole 5 */

static void
test_column_versions (Fixture *f, gconstpointer backend)
{
  g_autofree char *id = insert_note (f, f->a, "both", 1);
  sync_ok (f, f->a);
  sync_ok (f, f->b);
  update_note (f, f->a, id, "{'title': <'title from a'>}");
  update_note (f, f->b, id, "{'n': <int64 42>}");
  sync_ok (f, f->a);
  sync_ok (f, f->b);
  sync_ok (f, f->a);
  assert_everywhere (f, id, "title", "title from a");
  assert_everywhere (f, id, "n", "42");
  /* Same column on both: the later version wins everywhere. */
  update_note (f, f->b, id, "{'title': <'b first'>}");
  g_usleep (3000);
  update_note (f, f->a, id, "{'title': <'a later'>}");
  sync_ok (f, f->a);
  sync_ok (f, f->b);
  sync_ok (f, f->a);
  assert_everywhere (f, id, "title", "a later");
}

/* ------------------------------------------------------------ hole 6 */

static void
test_group_points (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncGroup) other = carb_sync_group_new ("other-group");
  g_assert_true (carb_sync_group_add_model (other, f->model, &error));
  g_autofree char *path = g_strdup (carb_replica_get_path (f->a));
  g_clear_object (&f->a);
  g_autoptr (CarbReplica) wrong = carb_replica_open (path, other, &error);
  g_assert_null (wrong);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "other-group"));
  g_clear_error (&error);
  f->a = open_replica (f, "a.db");
  /* The point a sync stores is the group's and the table's own. */
  g_autofree char *id = insert_note (f, f->b, "seen", 1);
  sync_ok (f, f->b);
  sync_ok (f, f->a);
  g_autoptr (CarbSyncPoint) point = carb_replica_get_sync_point (f->a, 0);
  g_assert_nonnull (point);
}

/* ------------------------------------------------------------ hole 7 */

static void
test_in_flight_edit (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = insert_note (f, f->a, "v1", 1);
  g_autoptr (GBytes) sent = carb_replica_collect_changes (f->a, 100, &error);
  g_autoptr (GBytes) result = carb_store_apply_changes (f->server, f->group, f->context, sent, NULL, &error);
  g_assert_no_error (error);
  /* An edit of the same column while the batch is in flight. */
  update_note (f, f->a, id, "{'title': <'v2'>}");
  g_assert_true (carb_replica_acknowledge (f->a, sent, result, &error));
  g_assert_no_error (error);
  g_autofree char *local = replica_cell (f->a, f->table, id, "title");
  g_assert_cmpstr (local, ==, "v2");
  g_assert_cmpuint (carb_replica_get_n_pending (f->a), ==, 1);
  sync_ok (f, f->a);
  sync_ok (f, f->b);
  assert_everywhere (f, id, "title", "v2");
}

/* ------------------------------------------------------------ hole 8 */

static void
test_ids (Fixture *f, gconstpointer backend)
{
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < 200; i++)
    {
      char *id = insert_note (f, i % 2 ? f->a : f->b, "x", i);
      g_assert_cmpuint (strlen (id), ==, 36);
      g_assert_cmpint (id[14], ==, '4');
      g_assert_false (g_hash_table_contains (seen, id));
      g_hash_table_add (seen, id);
    }
  sync_ok (f, f->a);
  sync_ok (f, f->b);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM \"%s\"", f->table), ==, 200);
}

/* ------------------------------------------------------------ hole 9 */

static gboolean
no_negative_n (
    CarbSyncGroup *group, const char *table, GVariant *row, GVariant *context, gpointer data, GError **error)
{
  gint64 n = 0;
  if (g_variant_lookup (row, "n", "x", &n) && n < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "n must not be negative (got %" G_GINT64_FORMAT ")", n);
      return FALSE;
    }
  return TRUE;
}

static void
rejecting_rule (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_sync_group_set_validate_func (f->group, no_negative_n, NULL, NULL, &error));
}

static void
rejections_set_up (Fixture *f, gconstpointer backend)
{
  set_up_with (f, backend, rejecting_rule);
}

static void
count_signal (CarbReplica *replica,
              const char *table,
              const char *id,
              const char *column,
              const char *message,
              gpointer data)
{
  guint *n = data;
  (*n)++;
  g_assert_nonnull (strstr (message, "negative"));
}

static void
test_rejections (Fixture *f, gconstpointer backend)
{
  g_autofree char *id = insert_note (f, f->a, "fine", 5);
  sync_ok (f, f->a);
  guint signalled = 0;
  g_signal_connect (f->a, "rejected", G_CALLBACK (count_signal), &signalled);
  update_note (f, f->a, id, "{'n': <int64 -1>}");
  sync_ok (f, f->a);
  g_assert_cmpuint (signalled, ==, 1);
  g_assert_cmpuint (carb_replica_get_n_pending (f->a), ==, 0);
  g_autoptr (GVariant) list = carb_replica_list_rejections (f->a);
  g_assert_cmpuint (g_variant_n_children (list), ==, 1);
  /* Back to the server's value, and never sent again. */
  g_autofree char *local = replica_cell (f->a, f->table, id, "n");
  g_assert_cmpstr (local, ==, "5");
  sync_ok (f, f->a);
  g_assert_cmpuint (signalled, ==, 1);
  g_autofree char *on_server = server_cell (f, id, "n");
  g_assert_cmpstr (on_server, ==, "5");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  static const TestCase tests[] = {
    TEST_CASE ("1-late-commit", test_late_commit),
    TEST_CASE ("2-arrival-order", test_arrival_order),
    TEST_CASE ("3-insert-retry", test_insert_retry),
    TEST_CASE ("4-deleted-locally", test_deleted_locally),
    TEST_CASE ("5-column-versions", test_column_versions),
    TEST_CASE ("6-group-points", test_group_points),
    TEST_CASE ("7-in-flight-edit", test_in_flight_edit),
    TEST_CASE ("8-ids", test_ids),
  };
  test_add_per_backend ("holes", sizeof (Fixture), (GTestFixtureFunc) fixture_set_up, tests,
                        G_N_ELEMENTS (tests), (GTestFixtureFunc) fixture_tear_down);
  static const TestCase rejecting[] = { TEST_CASE ("9-rejections", test_rejections) };
  test_add_per_backend ("holes", sizeof (Fixture), (GTestFixtureFunc) rejections_set_up, rejecting, 1,
                        (GTestFixtureFunc) fixture_tear_down);
  return g_test_run ();
}
