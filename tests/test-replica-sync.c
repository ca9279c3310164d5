/* Replicas syncing with a real server store, on every backend:
 *
 *   converge      two replicas edit different columns of one row at the
 *                 same time; after syncing both hold both edits, as does
 *                 the server
 *   crash-ack     the upload was applied but the replica died before the
 *                 ack: reopened, it syncs the same changes again, the
 *                 server's row does not change, nothing stays pending
 *   clock-ahead   a replica whose clock is far ahead is refused, corrects
 *                 its clock, and its changes land with sane versions
 *   expired       after a tombstone purge a replica's sync point expires;
 *                 rebuild keeps its pending edit, the next sync uploads it
 *                 and the purged row is gone
 *   expired-idle  the same for a replica with nothing to upload and a
 *                 table where nothing changed since the purge: the poll
 *                 that skips idle tables sees no row, yet the sync fails
 *                 (the purged tombstone was never downloaded)
 *   first-fill    a first sync (which reads the server's rows directly)
 *                 leaves the replica as a merge of one download page
 *                 does: the same rows, values and versions, a sync point,
 *                 rows outside the filter and tombstones left out
 *   rejected      a write outside the replica's filter is rejected: the
 *                 signal, the kept rejection, the row gone locally
 *   rejected-reentrant  a handler of the rejected signal may rebuild the
 *                 replica (it waited for the sync that emitted it)
 *   rejected-whole-row  a rejection naming one column (immutable) takes
 *                 every column of the row back to the server's value
 *   filter-move-out  a row whose filter column changes on the server (its
 *                 owner) leaves the replica it no longer belongs to, at
 *                 that replica's next sync, and reaches the new owner's
 *   withdrawal-scope  only the old owner's page withdraws the row (the new
 *                 owner's has it, a third user's has nothing); a
 *                 withdrawal cannot be uploaded; a row moved back returns
 *   stale-withdrawal  a page that withdrew a row, merged again after a
 *                 later page brought the row back, leaves it there
 *   move-trigger-missing  a dropped move trigger fails the sync with
 *                 CARB_ERROR_NOT_PREPARED naming it; preparing mends it
 *   shared-table  a filtered and an unfiltered group on one table: both
 *                 prepared and checked, a move made through the
 *                 unfiltered one withdraws the row from the old owner
 *   context-type  a context value of the wrong type for the filter
 *                 column is refused, naming the key and the column
 *   context-uuid  a context value for a UUID filter column that is not a
 *                 UUID in lower case is refused (it matched no row)
 *   context-switch  a sync with another filter value than the replica's
 *                 rows and sync points were made for is refused; after a
 *                 rebuild the replica holds exactly the new value's rows
 *   purge-moves   a purge drops the move log's entries of rows stamped
 *                 before its horizon and keeps the later ones
 *   filter-moves-random  seeded: replicas of three users edit while the
 *                 server moves rows between them; at quiescence each
 *                 replica holds exactly its user's live rows
 *   async         carb_replica_sync_async() does the same as the sync call
 *   rebuild-during-sync  a rebuild called while an async sync is between
 *                 two pages waits for it: the replica never keeps the
 *                 sync's later point without the rows before it
 *   concurrent    a thread edits rows while syncs run: after a last sync
 *                 the server holds every row's last local value
 *   types         a row of every column type goes from one replica through
 *                 the server to another and reads back as written
 *   nan           a NaN on a PostgreSQL server reaches the replica as NaN
 *   normalized    a value the server stores otherwise (a FLOAT rounded,
 *                 jsonb's key order) reaches the writer through the
 *                 upload's answer: writer and reader hold the same value
 *   immutable-retry  such a value in an immutable column, sent again
 *                 after a lost answer, is the same write, not a change:
 *                 no rejection, and an edit made meanwhile lands
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

typedef struct
{
  char *tmpdir;
  char *uri;
  TestDb *db;
  CarbStore *store;
  char *table;
  char *qtable;
  CarbModel *model;
  CarbSyncGroup *group;
  GVariant *context;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer backend)
{
  static guint counter;
  g_autoptr (GError) error = NULL;
  f->tmpdir = g_dir_make_tmp ("carb-replica-sync-XXXXXX", &error);
  g_assert_no_error (error);
  f->uri = test_store_uri (backend, f->tmpdir);
  f->db = test_db_open (f->uri);
  f->table = g_strdup_printf ("rnotes_%d_%u", (int) getpid (), counter++);
  f->qtable = test_db_quote (f->table);
  f->store = carb_store_open (f->uri, &error);
  g_assert_no_error (error);
  f->model = carb_model_new (NULL, f->table);
  g_assert_true (carb_model_add_column (f->model, "id", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_ID, 0, NULL));
  g_assert_true (carb_model_add_column (f->model, "owner", CARB_COLUMN_TYPE_TEXT, 0, 0, NULL));
  g_assert_true (carb_model_add_column (f->model, "title", CARB_COLUMN_TYPE_TEXT, 0, 0, NULL));
  g_assert_true (
      carb_model_add_column (f->model, "body", CARB_COLUMN_TYPE_TEXT, 0, CARB_COLUMN_FLAGS_NULLABLE, NULL));
  g_assert_true (
      carb_model_add_column (f->model, "deleted", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DELETED, 0, NULL));
  g_assert_true (carb_model_add_column (f->model, "ts", CARB_COLUMN_TYPE_TIMESTAMP,
                                        CARB_COLUMN_ROLE_TIMESTAMP, 0, NULL));
  f->group = carb_sync_group_new ("notes");
  g_assert_true (carb_sync_group_add_model (f->group, f->model, &error));
  g_assert_true (carb_sync_group_set_filter (f->group, f->table, "owner", "user", &error));
  g_assert_no_error (error);
  f->context = g_variant_ref_sink (g_variant_new_parsed ("{'user': <'ann'>}"));
}

/* The server's table, made from the wire model and prepared. */
static void
create (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_create_table (f->store, carb_sync_group_get_wire_model (f->group, 0), &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_group (f->store, f->group, &error));
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer backend)
{
  g_clear_object (&f->store);
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TABLE IF EXISTS %s CASCADE; DELETE FROM carburetor_purge WHERE tbl = '%s'",
                  f->qtable, f->table);
  test_db_free (f->db);
  /* The store's files, the replicas' and their lock files. */
  test_store_dir_remove (f->tmpdir);
  g_variant_unref (f->context);
  carb_sync_group_unref (f->group);
  carb_model_unref (f->model);
  g_free (f->tmpdir);
  g_free (f->uri);
  g_free (f->table);
  g_free (f->qtable);
}

static CarbReplica *
open_replica (Fixture *f, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *file = g_strdup_printf ("replica-%s.db", name);
  g_autofree char *path = g_build_filename (f->tmpdir, file, NULL);
  CarbReplica *replica = carb_replica_open (path, f->group, &error);
  g_assert_no_error (error);
  return replica;
}

static void
sync_ok (Fixture *f, CarbReplica *replica)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_replica_sync (replica, f->store, f->context, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (carb_replica_get_n_pending (replica), ==, 0);
}

static char *
insert (Fixture *f, CarbReplica *replica, const char *owner, const char *title)
{
  g_autoptr (GError) error = NULL;
  GVariantDict row;
  g_variant_dict_init (&row, NULL);
  g_variant_dict_insert (&row, "owner", "s", owner);
  g_variant_dict_insert (&row, "title", "s", title);
  char *id = carb_replica_insert (replica, f->table, g_variant_dict_end (&row), &error);
  g_assert_no_error (error);
  return id;
}

static void
set (Fixture *f, CarbReplica *replica, const char *id, const char *column, const char *value)
{
  g_autoptr (GError) error = NULL;
  GVariantDict changes;
  g_variant_dict_init (&changes, NULL);
  g_variant_dict_insert (&changes, column, "s", value);
  g_assert_true (carb_replica_update (replica, f->table, id, g_variant_dict_end (&changes), &error));
  g_assert_no_error (error);
}

/* A column of a replica's row, NULL for SQL NULL or no row. */
static char *
local (Fixture *f, CarbReplica *replica, const char *id, const char *column)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) row = carb_replica_get_row (replica, f->table, id, &error);
  g_assert_no_error (error);
  if (row == NULL)
    return NULL;
  g_autoptr (GVariant) value = g_variant_lookup_value (row, column, G_VARIANT_TYPE_STRING);
  return value != NULL ? g_variant_dup_string (value, NULL) : NULL;
}

/* The server's whole table as text, versions and stamps included. */
static char *
server_dump (Fixture *f)
{
  g_autoptr (GPtrArray) rows = test_db_query_rows (f->db, "SELECT * FROM %s ORDER BY id", f->qtable);
  GString *text = g_string_new (NULL);
  for (guint i = 0; i < rows->len; i++)
    {
      g_autofree char *line = g_strjoinv ("|", g_ptr_array_index (rows, i));
      g_string_append_printf (text, "%s\n", line);
    }
  return g_string_free (text, FALSE);
}

static void
test_converge (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  g_autoptr (CarbReplica) b = open_replica (f, "b");
  g_autofree char *id = insert (f, a, "ann", "shopping");
  sync_ok (f, a);
  sync_ok (f, b);
  g_autofree char *seen = local (f, b, id, "title");
  g_assert_cmpstr (seen, ==, "shopping");

  /* Concurrent edits of different columns; and of the same column, where
   * the later write wins. */
  set (f, a, id, "body", "milk, eggs");
  set (f, b, id, "title", "groceries");
  set (f, a, id, "owner", "ann");
  sync_ok (f, b);
  sync_ok (f, a);
  sync_ok (f, b);
  for (guint i = 0; i < 2; i++)
    {
      CarbReplica *r = i == 0 ? a : b;
      g_autofree char *title = local (f, r, id, "title");
      g_autofree char *body = local (f, r, id, "body");
      g_assert_cmpstr (title, ==, "groceries");
      g_assert_cmpstr (body, ==, "milk, eggs");
      CarbVersion va, vb;
      g_assert_true (carb_replica_get_version (a, f->table, id, "title", &va, NULL));
      g_assert_true (carb_replica_get_version (b, f->table, id, "title", &vb, NULL));
      g_assert_cmpint (carb_version_compare (&va, &vb), ==, 0);
      g_assert_cmpuint (va.site, ==, carb_replica_get_site_id (b));
    }
  g_assert_cmpint (
      test_db_query_int (f->db, "SELECT count(*) FROM %s WHERE title = 'groceries' AND body = 'milk, eggs'",
                         f->qtable),
      ==, 1);

  /* A delete travels too, and an undelete after it. */
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_replica_delete (b, f->table, id, &error));
  sync_ok (f, b);
  sync_ok (f, a);
  g_autoptr (GVariant) row = carb_replica_get_row (a, f->table, id, &error);
  gboolean deleted = FALSE;
  g_assert_true (g_variant_lookup (row, "deleted", "b", &deleted));
  g_assert_true (deleted);
  g_assert_true (carb_replica_undelete (a, f->table, id, &error));
  sync_ok (f, a);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s WHERE NOT deleted", f->qtable), ==, 1);
}

static void
test_crash_ack (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (GError) error = NULL;
  CarbReplica *a = open_replica (f, "a");
  g_autofree char *path = g_strdup (carb_replica_get_path (a));
  g_autofree char *id = insert (f, a, "ann", "sent once");
  g_autoptr (GBytes) sent = carb_replica_collect_changes (a, 0, &error);
  g_autoptr (GBytes) answer = carb_store_apply_changes (f->store, f->group, f->context, sent, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (answer);
  /* Dies here: no acknowledge. */
  g_object_unref (a);
  g_autofree char *before = server_dump (f);
  g_assert_nonnull (strstr (before, "sent once"));

  g_autoptr (CarbReplica) again = carb_replica_open (path, f->group, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_replica_get_n_pending (again), ==, 4);
  test_wait_clock_tick ();
  sync_ok (f, again);
  g_autofree char *after = server_dump (f);
  g_assert_cmpstr (before, ==, after);
  g_autofree char *title = local (f, again, id, "title");
  g_assert_cmpstr (title, ==, "sent once");
}

static void
test_clock_ahead (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  /* The device's clock reads a day ahead. */
  guint64 future = (guint64) (g_get_real_time () / 1000 + 24 * 3600 * 1000) << CARB_HLC_COUNTER_BITS;
  g_assert_true (carb_replica_correct_clock (a, future, &error));
  g_autofree char *id = insert (f, a, "ann", "from tomorrow");
  CarbVersion v;
  g_assert_true (carb_replica_get_version (a, f->table, id, "title", &v, NULL));
  g_assert_cmpuint (v.hlc, >, future);

  /* Refused once, corrected, applied. */
  sync_ok (f, a);
  g_assert_true (carb_replica_get_version (a, f->table, id, "title", &v, NULL));
  g_assert_cmpint (carb_hlc_get_wall_ms (v.hlc), <, g_get_real_time () / 1000 + 60 * 1000);
  g_assert_cmpint (
      test_db_query_int (f->db, "SELECT count(*) FROM %s WHERE title = 'from tomorrow'", f->qtable), ==, 1);
  /* The server holds the corrected version. */
  g_autofree char *text = carb_version_to_string (&v);
  g_assert_cmpint (
      test_db_query_int (f->db, "SELECT count(*) FROM %s WHERE title__v = '%s'", f->qtable, text), ==, 1);
}

static void
test_expired (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  g_autoptr (CarbReplica) b = open_replica (f, "b");
  g_autofree char *gone = insert (f, a, "ann", "to be purged");
  g_autofree char *kept = insert (f, a, "ann", "kept");
  g_autofree char *last = insert (f, a, "ann", "deleted last");
  sync_ok (f, a);
  sync_ok (f, b);
  g_assert_true (carb_replica_delete (a, f->table, gone, &error));
  sync_ok (f, a);
  test_wait_clock_tick ();
  /* The purge keeps the tombstones of its newest stamp (this one). */
  g_assert_true (carb_replica_delete (a, f->table, last, &error));
  sync_ok (f, a);
  test_wait_clock_tick ();
  gint64 horizon = g_get_real_time ();
  test_wait_clock_tick ();
  guint64 n = 0;
  g_assert_true (carb_store_purge_tombstones (f->store, f->group, horizon, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 1);

  set (f, b, kept, "body", "edited offline");
  g_assert_false (carb_replica_sync (b, f->store, f->context, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SYNC_POINT_EXPIRED);
  g_clear_error (&error);
  /* The upload went before the download failed. */
  g_assert_cmpuint (carb_replica_get_n_pending (b), ==, 0);
  set (f, b, kept, "title", "still pending");
  g_assert_true (carb_replica_rebuild (b, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (carb_replica_get_n_pending (b), ==, 1);
  sync_ok (f, b);
  g_autofree char *old = local (f, b, gone, "title");
  g_assert_null (old);
  g_autofree char *body = local (f, b, kept, "body");
  g_assert_cmpstr (body, ==, "edited offline");
  g_assert_cmpint (
      test_db_query_int (f->db, "SELECT count(*) FROM %s WHERE title = 'still pending'", f->qtable), ==, 1);
}

static void
test_expired_idle (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  g_autoptr (CarbReplica) b = open_replica (f, "b");
  g_autofree char *gone = insert (f, a, "ann", "to be purged");
  g_autofree char *last = insert (f, a, "ann", "deleted last");
  sync_ok (f, a);
  sync_ok (f, b);
  g_assert_true (carb_replica_delete (a, f->table, gone, &error));
  sync_ok (f, a);
  test_wait_clock_tick ();
  g_assert_true (carb_replica_delete (a, f->table, last, &error));
  sync_ok (f, a);
  test_wait_clock_tick ();
  gint64 horizon = g_get_real_time ();
  test_wait_clock_tick ();
  guint64 n = 0;
  g_assert_true (carb_store_purge_tombstones (f->store, f->group, horizon, &n, &error));
  g_assert_cmpuint (n, ==, 1);

  /* b has nothing to upload: its group poll alone finds the table changed
   * (the kept tombstone), and the download says the point expired. */
  g_assert_false (carb_replica_sync (b, f->store, f->context, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SYNC_POINT_EXPIRED);
  g_clear_error (&error);
  g_assert_true (carb_replica_rebuild (b, &error));
  g_assert_no_error (error);
  sync_ok (f, b);
  g_autofree char *old = local (f, b, gone, "title");
  g_assert_null (old);
  /* a synced past the horizon: idle, not expired. */
  sync_ok (f, a);
}

/* Row @id of two replicas: the same values and column versions. */
static void
assert_same_row (Fixture *f, CarbReplica *a, CarbReplica *b, const char *id)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) ra = carb_replica_get_row (a, f->table, id, &error);
  g_autoptr (GVariant) rb = carb_replica_get_row (b, f->table, id, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ra);
  g_assert_nonnull (rb);
  g_autofree char *ta = g_variant_print (ra, TRUE);
  g_autofree char *tb = g_variant_print (rb, TRUE);
  g_assert_cmpstr (ta, ==, tb);
  static const char *const columns[] = { "owner", "title", "body", "deleted" };
  for (guint i = 0; i < G_N_ELEMENTS (columns); i++)
    {
      CarbVersion va = { 0, 0 }, vb = { 1, 1 };
      g_assert_true (carb_replica_get_version (a, f->table, id, columns[i], &va, &error));
      g_assert_true (carb_replica_get_version (b, f->table, id, columns[i], &vb, &error));
      g_assert_no_error (error);
      g_assert_cmpint (carb_version_compare (&va, &vb), ==, 0);
      g_assert_cmpuint (va.hlc, >, 0);
    }
}

static void
test_first_fill (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  g_autofree char *plain = insert (f, a, "ann", "plain");
  g_autofree char *edited = insert (f, a, "ann", "edited");
  g_autofree char *gone = insert (f, a, "ann", "deleted");
  sync_ok (f, a);
  set (f, a, edited, "body", "a body");
  g_assert_true (carb_replica_delete (a, f->table, gone, &error));
  sync_ok (f, a);
  /* Written past the library: versions from the versioning trigger. */
  test_db_exec (f->db, "INSERT INTO %s (id, owner, title, deleted) VALUES ('by-sql', 'ann', 'sql', false)",
                f->qtable);
  test_db_exec (f->db,
                "INSERT INTO %s (id, owner, title, deleted) VALUES ('bobs', 'bob', 'not ann''s', false)",
                f->qtable);

  /* Versions the server holds malformed (written past the library, the
   * text set explicitly): a fill stores the lowest version for them, as
   * the merge of a page does. */
  test_db_exec (f->db, "INSERT INTO %s (id, owner, title, deleted) VALUES ('odd', 'ann', 'odd', false)",
                f->qtable);
  test_db_exec (f->db,
                "UPDATE %s SET title__v = 'not a version', owner__v = '0000000000000000001000000000000000A'"
                " WHERE id = 'odd'",
                f->qtable);

  g_autoptr (CarbReplica) filled = open_replica (f, "filled");
  sync_ok (f, filled);
  g_autoptr (CarbReplica) paged = open_replica (f, "paged");
  CarbSyncPoint *until = NULL;
  gboolean has_more = TRUE;
  g_autoptr (GBytes) page = carb_store_download_changes (f->store, f->group, f->context, 0, NULL, 0, &until,
                                                         &has_more, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (CarbSyncPoint) point = until;
  g_assert_true (carb_replica_merge_download (paged, 0, page, point, &error));
  g_assert_no_error (error);

  const char *ids[] = { plain, edited, "by-sql" };
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    assert_same_row (f, filled, paged, ids[i]);
  /* The fill's version is the server's text, converted eight digits at a
   * time (the paged merge parses it digit by digit). */
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      CarbVersion v = { 0, 0 };
      g_assert_true (carb_replica_get_version (filled, f->table, ids[i], "title", &v, &error));
      g_assert_no_error (error);
      g_autofree char *text = carb_version_to_string (&v);
      g_assert_cmpint (test_db_query_int (f->db,
                                          "SELECT count(*) FROM %s WHERE title__v = '%s' AND id = '%s'",
                                          f->qtable, text, ids[i]),
                       ==, 1);
    }
  g_autofree char *body = local (f, filled, edited, "body");
  g_assert_cmpstr (body, ==, "a body");
  g_autofree char *odd_title = local (f, filled, "odd", "title");
  g_assert_cmpstr (odd_title, ==, "odd");
  static const char *const odd_columns[] = { "owner", "title", "deleted" };
  for (guint i = 0; i < G_N_ELEMENTS (odd_columns); i++)
    {
      CarbVersion vf = { 1, 1 }, vp = { 2, 2 };
      g_assert_true (carb_replica_get_version (filled, f->table, "odd", odd_columns[i], &vf, &error));
      g_assert_true (carb_replica_get_version (paged, f->table, "odd", odd_columns[i], &vp, &error));
      g_assert_no_error (error);
      g_assert_cmpint (carb_version_compare (&vf, &vp), ==, 0);
      /* The malformed two are the lowest; the trigger's is a real one. */
      if (i < 2)
        g_assert_true (vf.hlc == 0 && vf.site == 0);
      else
        g_assert_cmpuint (vf.hlc, >, 0);
    }
  const char *absent[] = { gone, "bobs" };
  for (guint i = 0; i < G_N_ELEMENTS (absent); i++)
    {
      g_autoptr (GVariant) row = carb_replica_get_row (filled, f->table, absent[i], &error);
      g_assert_no_error (error);
      g_assert_null (row);
    }
  /* A sync point is stored (the server's time of each read: not equal). */
  g_autoptr (CarbSyncPoint) pf = carb_replica_get_sync_point (filled, 0);
  g_assert_nonnull (pf);
  /* Both observed the server's versions: a new write beats them. */
  set (f, filled, plain, "title", "newer");
  sync_ok (f, filled);
  sync_ok (f, paged);
  g_autofree char *title = local (f, paged, plain, "title");
  g_assert_cmpstr (title, ==, "newer");
}

static void
on_rejected (CarbReplica *replica,
             const char *table,
             const char *id,
             const char *column,
             const char *message,
             guint *count)
{
  (*count)++;
}

static void
test_rejected (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  guint count = 0;
  g_signal_connect (a, "rejected", G_CALLBACK (on_rejected), &count);
  g_autofree char *mine = insert (f, a, "ann", "mine");
  g_autofree char *theirs = insert (f, a, "bob", "not mine");
  sync_ok (f, a);
  g_assert_cmpuint (count, ==, 1);
  g_autoptr (GVariant) kept = carb_replica_list_rejections (a);
  g_assert_cmpuint (g_variant_n_children (kept), ==, 1);
  const char *rid = NULL;
  g_variant_get_child (kept, 0, "(&s&s&s&sx)", NULL, &rid, NULL, NULL, NULL);
  g_assert_cmpstr (rid, ==, theirs);
  g_autofree char *gone = local (f, a, theirs, "title");
  g_assert_null (gone);
  g_autofree char *here = local (f, a, mine, "title");
  g_assert_cmpstr (here, ==, "mine");
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 1);
}

static void
rebuild_on_rejected (CarbReplica *replica,
                     const char *table,
                     const char *id,
                     const char *column,
                     const char *message,
                     guint *count)
{
  g_autoptr (GError) error = NULL;
  (*count)++;
  g_assert_true (carb_replica_rebuild (replica, &error));
  g_assert_no_error (error);
}

/* A handler of #CarbReplica::rejected may call the replica's API, a
 * rebuild or another sync included: carb_replica_sync() emits the signal
 * once its own sync is over, not while it holds the lock that orders
 * syncs and rebuilds (the handler waited for it, in the same thread, for
 * ever). Run in a subprocess, so that a hang fails the test. */
static void
test_rejected_reentrant (Fixture *f, gconstpointer backend)
{
  if (!g_test_subprocess ())
    {
      g_test_trap_subprocess (NULL, 30 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }
  create (f);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  guint count = 0;
  g_signal_connect (a, "rejected", G_CALLBACK (rebuild_on_rejected), &count);
  g_autofree char *mine = insert (f, a, "ann", "mine");
  g_autofree char *theirs = insert (f, a, "bob", "not mine");
  sync_ok (f, a);
  g_assert_cmpuint (count, ==, 1);
  /* The rebuild dropped the rows and the sync points: the next sync
   * downloads the row again. */
  sync_ok (f, a);
  g_autofree char *here = local (f, a, mine, "title");
  g_assert_cmpstr (here, ==, "mine");
}

/* The server drops every change of a row it rejects, whatever column the
 * rejection names (here an immutable one): the replica must take the
 * server's row back whole, not keep its own value of the other columns
 * (newer than the server's, they would stay there, acknowledged and
 * never uploaded again). */
static void
test_rejected_whole_row (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_sync_group_set_immutable (f->group, f->table, "body", &error));
  g_assert_no_error (error);
  create (f);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  g_autoptr (CarbReplica) b = open_replica (f, "b");
  guint count = 0;
  g_signal_connect (b, "rejected", G_CALLBACK (on_rejected), &count);
  /* Two devices make the row of one application-chosen id. */
  g_autofree char *ida = carb_replica_insert (
      a, f->table,
      g_variant_new_parsed ("{'id': <'settings'>, 'owner': <'ann'>, 'title': <'from a'>, 'body': <'a'>}"),
      &error);
  g_assert_no_error (error);
  sync_ok (f, a);
  test_wait_clock_tick ();
  g_autofree char *idb = carb_replica_insert (
      b, f->table,
      g_variant_new_parsed ("{'id': <'settings'>, 'owner': <'ann'>, 'title': <'from b'>, 'body': <'b'>}"),
      &error);
  g_assert_no_error (error);
  sync_ok (f, b);
  g_assert_cmpuint (count, ==, 1);
  g_autofree char *title = local (f, b, "settings", "title");
  g_autofree char *body = local (f, b, "settings", "body");
  g_assert_cmpstr (body, ==, "a");
  g_assert_cmpstr (title, ==, "from a");
  g_assert_cmpint (
      test_db_query_int (f->db, "SELECT count(*) FROM %s WHERE title = 'from a' AND body = 'a'", f->qtable),
      ==, 1);
  /* And it stays so. */
  sync_ok (f, b);
  sync_ok (f, a);
  g_autofree char *title_a = local (f, a, "settings", "title");
  g_autofree char *title_b = local (f, b, "settings", "title");
  g_assert_cmpstr (title_a, ==, title_b);
}

static void
test_filter_move_out (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create (f);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  g_autofree char *moved = insert (f, a, "ann", "moves to bob");
  g_autofree char *edited = insert (f, a, "ann", "moves with an edit");
  g_autofree char *stays = insert (f, a, "ann", "stays");
  sync_ok (f, a);
  test_db_exec (f->db, "UPDATE %s SET owner = 'bob' WHERE id IN ('%s', '%s')", f->qtable, moved, edited);
  /* An edit of a row that left: refused by the filter, and gone too. */
  set (f, a, edited, "body", "too late");
  sync_ok (f, a);
  g_autofree char *gone = local (f, a, moved, "title");
  g_assert_null (gone);
  g_autofree char *gone_too = local (f, a, edited, "title");
  g_assert_null (gone_too);
  g_autofree char *here = local (f, a, stays, "title");
  g_assert_cmpstr (here, ==, "stays");
  g_assert_cmpuint (carb_replica_get_n_pending (a), ==, 0);
  /* Still gone after another sync: nothing brings it back. */
  sync_ok (f, a);
  g_autofree char *still_gone = local (f, a, moved, "title");
  g_assert_null (still_gone);

  g_autoptr (GVariant) bob = g_variant_ref_sink (g_variant_new_parsed ("{'user': <'bob'>}"));
  g_autoptr (CarbReplica) b = open_replica (f, "b");
  g_assert_true (carb_replica_sync (b, f->store, bob, NULL, &error));
  g_assert_no_error (error);
  g_autofree char *bobs = local (f, b, moved, "title");
  g_assert_cmpstr (bobs, ==, "moves to bob");
  g_autofree char *not_bobs = local (f, b, stays, "title");
  g_assert_null (not_bobs);
}

/* The changes of one download page of the table for @user since @since. */
static GArray *
page_for (Fixture *f, const char *user, const CarbSyncPoint *since)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncPoint) until = NULL;
  g_autofree char *text = g_strdup_printf ("{'user': <'%s'>}", user);
  g_autoptr (GBytes) page = carb_store_download_changes (f->store, f->group, g_variant_new_parsed (text), 0,
                                                         since, 0, &until, NULL, NULL, &error);
  g_assert_no_error (error);
  GArray *changes = carb_changeset_parse (page, &error);
  g_assert_no_error (error);
  return changes;
}

/* Only the replicas whose filter value the row held are told it left:
 * a withdrawal (one change, no column) for ann, the row for bob, nothing
 * for carol. A row moved back comes back whole. */
static void
test_withdrawal_scope (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create (f);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  g_autofree char *moved = insert (f, a, "ann", "moves");
  g_autofree char *stays = insert (f, a, "ann", "stays");
  sync_ok (f, a);
  g_autoptr (CarbSyncPoint) before = NULL;
  g_autoptr (GBytes) first
      = carb_store_download_changes (f->store, f->group, g_variant_new_parsed ("{'user': <'ann'>}"), 0, NULL,
                                     0, &before, NULL, NULL, &error);
  g_assert_no_error (error);
  test_db_exec (f->db, "UPDATE %s SET owner = 'bob' WHERE id = '%s'", f->qtable, moved);

  g_autoptr (GArray) ann = page_for (f, "ann", before);
  g_assert_cmpuint (ann->len, ==, 1);
  g_assert_cmpstr (g_array_index (ann, CarbChange, 0).row_id, ==, moved);
  g_assert_null (g_array_index (ann, CarbChange, 0).column);
  g_autoptr (GArray) bob = page_for (f, "bob", before);
  g_assert_cmpuint (bob->len, >, 1);
  for (guint i = 0; i < bob->len; i++)
    {
      g_assert_cmpstr (g_array_index (bob, CarbChange, i).row_id, ==, moved);
      g_assert_nonnull (g_array_index (bob, CarbChange, i).column);
    }
  g_autoptr (GArray) carol = page_for (f, "carol", before);
  g_assert_cmpuint (carol->len, ==, 0);

  /* A withdrawal is not something a replica may upload. */
  g_autoptr (GBytes) withdrawal = carb_changeset_serialize ((CarbChange *) (gpointer) ann->data, 1);
  g_autoptr (GBytes) answer
      = carb_store_apply_changes (f->store, f->group, f->context, withdrawal, NULL, &error);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_assert_null (answer);
  g_assert_nonnull (strstr (error->message, "no column"));
  g_clear_error (&error);

  sync_ok (f, a);
  g_autofree char *gone = local (f, a, moved, "title");
  g_assert_null (gone);
  test_db_exec (f->db, "UPDATE %s SET owner = 'ann', title = 'back' WHERE id = '%s'", f->qtable, moved);
  sync_ok (f, a);
  g_autofree char *back = local (f, a, moved, "title");
  g_assert_cmpstr (back, ==, "back");
  g_autofree char *here = local (f, a, stays, "title");
  g_assert_cmpstr (here, ==, "stays");
}

/* Download pages merged by hand may come again, late (a transport that
 * retries): a stale page changes nothing, withdrawals included. Merging
 * again the page that withdrew a row, after a later page brought the row
 * back (it moved back into the filter), dropped the row below the sync
 * point, where no download would bring it again. */
static void
test_stale_withdrawal (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create (f);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  g_autofree char *moved = insert (f, a, "ann", "moves");
  sync_ok (f, a);
  g_autoptr (CarbSyncPoint) p0 = carb_replica_get_sync_point (a, 0);
  g_assert_nonnull (p0);
  test_wait_clock_tick ();
  test_db_exec (f->db, "UPDATE %s SET owner = 'bob' WHERE id = '%s'", f->qtable, moved);
  test_wait_clock_tick ();
  g_autoptr (CarbSyncPoint) p1 = NULL;
  g_autoptr (GBytes) out
      = carb_store_download_changes (f->store, f->group, f->context, 0, p0, 0, &p1, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (carb_replica_merge_download (a, 0, out, p1, &error));
  g_assert_no_error (error);
  g_autofree char *gone = local (f, a, moved, "title");
  g_assert_null (gone);
  test_wait_clock_tick ();
  test_db_exec (f->db, "UPDATE %s SET owner = 'ann', title = 'back' WHERE id = '%s'", f->qtable, moved);
  test_wait_clock_tick ();
  g_autoptr (CarbSyncPoint) p2 = NULL;
  g_autoptr (GBytes) in
      = carb_store_download_changes (f->store, f->group, f->context, 0, p1, 0, &p2, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (carb_replica_merge_download (a, 0, in, p2, &error));
  g_assert_no_error (error);
  g_autofree char *back = local (f, a, moved, "title");
  g_assert_cmpstr (back, ==, "back");
  /* The first page again, late. */
  g_assert_true (carb_replica_merge_download (a, 0, out, p1, &error));
  g_assert_no_error (error);
  g_autofree char *still = local (f, a, moved, "title");
  g_assert_cmpstr (still, ==, "back");
  sync_ok (f, a);
  g_autofree char *synced = local (f, a, moved, "title");
  g_assert_cmpstr (synced, ==, "back");
}

static void
delete_ok (Fixture *f, CarbReplica *replica, const char *id)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_replica_delete (replica, f->table, id, &error));
  g_assert_no_error (error);
}

/* A purge drops the move log's entries of rows stamped at or before its
 * horizon (every replica that may still sync has had their withdrawal),
 * and keeps those of rows stamped after it. */
static void
test_purge_moves (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create (f);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  g_autofree char *early = insert (f, a, "ann", "moves early");
  g_autofree char *late = insert (f, a, "ann", "moves late");
  g_autofree char *gone = insert (f, a, "ann", "deleted");
  g_autofree char *gone_last = insert (f, a, "ann", "deleted last");
  sync_ok (f, a);
  test_db_exec (f->db, "UPDATE %s SET owner = 'bob' WHERE id = '%s'", f->qtable, early);
  test_wait_clock_tick ();
  delete_ok (f, a, gone);
  sync_ok (f, a);
  test_wait_clock_tick ();
  delete_ok (f, a, gone_last);
  sync_ok (f, a);
  test_wait_clock_tick ();
  gint64 horizon = g_get_real_time ();
  test_wait_clock_tick ();
  test_db_exec (f->db, "UPDATE %s SET owner = 'bob' WHERE id = '%s'", f->qtable, late);
#define LOG_ROWS "SELECT count(*) FROM carburetor_moves WHERE tbl = '%s'"
  g_assert_cmpint (test_db_query_int (f->db, LOG_ROWS, f->table), ==, 2);

  guint64 n = 0;
  g_assert_true (carb_store_purge_tombstones (f->store, f->group, horizon, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 1);
  g_assert_cmpint (test_db_query_int (f->db, LOG_ROWS, f->table), ==, 1);
  g_assert_cmpint (
      test_db_query_int (f->db, "SELECT count(*) FROM carburetor_moves WHERE tbl = '%s' AND row_id = '%s'",
                         f->table, late),
      ==, 1);
#undef LOG_ROWS
  /* The replica, synced past the horizon, loses the late one now. */
  sync_ok (f, a);
  g_autofree char *early_title = local (f, a, early, "title");
  g_assert_null (early_title);
  g_autofree char *late_title = local (f, a, late, "title");
  g_assert_null (late_title);
}

/* Two groups share the table, one filtered by owner, one not: each is
 * prepared and checked on its own terms (the move trigger is the filtered
 * group's alone, and preparing the other does not drop it), on one store. */
static void
test_shared_table (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  /* The unfiltered group first: the filtered one must still get its move
   * trigger from the same store. */
  g_autoptr (CarbSyncGroup) all = carb_sync_group_new ("all-notes");
  g_assert_true (carb_sync_group_add_model (all, f->model, &error));
  g_assert_true (carb_store_create_table (f->store, carb_sync_group_get_wire_model (all, 0), &error));
  g_assert_true (carb_store_prepare_group (f->store, all, &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_group (f->store, f->group, &error));
  g_assert_no_error (error);
  g_autofree char *path = g_build_filename (f->tmpdir, "replica-admin.db", NULL);
  g_autoptr (CarbReplica) admin = carb_replica_open (path, all, &error);
  g_assert_no_error (error);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  g_autofree char *id = insert (f, a, "ann", "shared");
  sync_ok (f, a);
  g_assert_true (carb_replica_sync (admin, f->store, NULL, NULL, &error));
  g_assert_no_error (error);
  /* The unfiltered group's replica moves the row to bob; ann loses it. */
  set (f, admin, id, "owner", "bob");
  g_assert_true (carb_replica_sync (admin, f->store, NULL, NULL, &error));
  g_assert_no_error (error);
  sync_ok (f, a);
  g_autofree char *gone = local (f, a, id, "title");
  g_assert_null (gone);
  g_autofree char *kept = local (f, admin, id, "title");
  g_assert_cmpstr (kept, ==, "shared");
}

/* A context value of a type the filter column cannot equal would match
 * no row: refused, naming the key, the table and the column. */
static void
test_context_type (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create (f);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  g_autofree char *id = insert (f, a, "ann", "x");
  g_assert_false (
      carb_replica_sync (a, f->store, g_variant_new_parsed ("{'user': <int64 7>}"), NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "“user”"));
  g_assert_nonnull (strstr (error->message, "“owner”"));
  g_assert_cmpuint (carb_replica_get_n_pending (a), >, 0);
  g_clear_error (&error);
  sync_ok (f, a);
}

/* A data column of a run-time model made by twoway_model(). */
typedef struct
{
  const char *name;
  CarbColumnType type;
  CarbColumnFlags flags;
} DataColumn;

/* A two-way run-time model of @table: a UUID id, @columns, then the
 * tombstone and the stamp. */
static CarbModel *
twoway_model (const char *table, const DataColumn *columns, guint n)
{
  CarbModel *model = carb_model_new (NULL, table);
  g_assert_true (carb_model_add_column (model, "id", CARB_COLUMN_TYPE_UUID, CARB_COLUMN_ROLE_ID, 0, NULL));
  for (guint i = 0; i < n; i++)
    g_assert_true (carb_model_add_column (model, columns[i].name, columns[i].type, CARB_COLUMN_ROLE_DATA,
                                          columns[i].flags, NULL));
  g_assert_true (
      carb_model_add_column (model, "deleted", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DELETED, 0, NULL));
  g_assert_true (
      carb_model_add_column (model, "ts", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_TIMESTAMP, 0, NULL));
  return model;
}

/* Drops a table serve_group() made on PostgreSQL (an SQLite server's file
 * goes with the test's folder). */
static void
drop_served_table (Fixture *f, const char *table)
{
  if (!test_db_is_postgres (f->db))
    return;
  g_autofree char *q = test_db_quote (table);
  test_db_exec (f->db, "DROP TABLE %s", q);
}

/* The server side of @group's first table: created and prepared. */
static void
serve_group (Fixture *f, CarbSyncGroup *group)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_create_table (f->store, carb_sync_group_get_wire_model (group, 0), &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_group (f->store, group, &error));
  g_assert_no_error (error);
}

/* A UUID filter column compares the context's value with the stored
 * text, which is canonical lower case: a context in upper case (a GUID
 * from some identity provider) or no UUID at all matched no row, so the
 * replica was silently told nothing, and its writes were rejected as
 * outside its filter. It is refused, naming the key, the column and the
 * fix. */
static void
test_context_uuid (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *table = g_strconcat (f->table, "_byuuid", NULL);
  static const DataColumn columns[]
      = { { "owner", CARB_COLUMN_TYPE_UUID, 0 }, { "title", CARB_COLUMN_TYPE_TEXT, 0 } };
  g_autoptr (CarbModel) model = twoway_model (table, columns, G_N_ELEMENTS (columns));
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("byuuid");
  g_assert_true (carb_sync_group_add_model (group, model, &error));
  g_assert_true (carb_sync_group_set_filter (group, table, "owner", "user", &error));
  g_assert_no_error (error);
  serve_group (f, group);
  g_autofree char *path = g_build_filename (f->tmpdir, "replica-byuuid.db", NULL);
  g_autoptr (CarbReplica) a = carb_replica_open (path, group, &error);
  g_assert_no_error (error);
  g_autofree char *id = carb_replica_insert (
      a, table,
      g_variant_new_parsed ("{'owner': <'0000abcd-0000-4000-8000-00000000000f'>, 'title': <'mine'>}"),
      &error);
  g_assert_no_error (error);
  const char *const wrong[] = { "{'user': <'0000ABCD-0000-4000-8000-00000000000F'>}", "{'user': <'ann'>}" };
  for (guint i = 0; i < G_N_ELEMENTS (wrong); i++)
    {
      g_assert_false (carb_replica_sync (a, f->store, g_variant_new_parsed (wrong[i]), NULL, &error));
      g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
      g_assert_nonnull (strstr (error->message, "“user”"));
      g_assert_nonnull (strstr (error->message, "“owner”"));
      g_assert_nonnull (strstr (error->message, "lower case"));
      g_clear_error (&error);
      g_assert_cmpuint (carb_replica_get_n_pending (a), >, 0);
    }
  g_assert_true (carb_replica_sync (
      a, f->store, g_variant_new_parsed ("{'user': <'0000abcd-0000-4000-8000-00000000000f'>}"), NULL,
      &error));
  g_assert_no_error (error);
  g_assert_cmpuint (carb_replica_get_n_pending (a), ==, 0);
  g_autofree char *q = test_db_quote (table);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s WHERE title = 'mine'", q), ==, 1);
  drop_served_table (f, table);
}

/* A replica's rows and sync points are those of the context it synced
 * with: another user signing in on the device and syncing the same file
 * kept the first user's rows and, downloading from their points, never
 * got the rows of their own that no one changed since. Such a sync is
 * refused, naming both values; after carb_replica_rebuild() the file
 * syncs for the new context, holding exactly its rows. */
static void
test_context_switch (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create (f);
  g_autoptr (GVariant) bob = g_variant_ref_sink (g_variant_new_parsed ("{'user': <'bob'>}"));
  g_autoptr (CarbReplica) b = open_replica (f, "b");
  g_autofree char *bobs = insert (f, b, "bob", "bob's");
  g_assert_true (carb_replica_sync (b, f->store, bob, NULL, &error));
  g_assert_no_error (error);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  g_autofree char *anns = insert (f, a, "ann", "ann's");
  sync_ok (f, a);
  test_wait_clock_tick ();
  g_assert_false (carb_replica_sync (a, f->store, bob, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT);
  g_assert_nonnull (strstr (error->message, "ann"));
  g_assert_nonnull (strstr (error->message, "bob"));
  g_assert_nonnull (strstr (error->message, "carb_replica_rebuild"));
  g_clear_error (&error);
  g_assert_true (carb_replica_rebuild (a, &error));
  g_assert_no_error (error);
  g_assert_true (carb_replica_sync (a, f->store, bob, NULL, &error));
  g_assert_no_error (error);
  g_autofree char *gone = local (f, a, anns, "title");
  g_autofree char *here = local (f, a, bobs, "title");
  g_assert_null (gone);
  g_assert_cmpstr (here, ==, "bob's");
  /* And back: refused again until rebuilt. */
  g_assert_false (carb_replica_sync (a, f->store, f->context, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT);
}

/* A dropped move trigger is an error naming it, never a silent gap, and
 * preparing the group again mends it. */
static void
test_move_trigger_missing (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  create (f);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  g_autofree char *id = insert (f, a, "ann", "x");
  sync_ok (f, a);
  if (test_db_is_postgres (f->db))
    {
      g_autofree char *name = test_db_query_text (
          f->db, "SELECT tgname FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgname LIKE 'carb_move%%'",
          f->qtable);
      g_assert_nonnull (name);
      test_db_exec (f->db, "DROP TRIGGER \"%s\" ON %s", g_strstrip (name), f->qtable);
    }
  else
    test_db_exec (f->db, "DROP TRIGGER \"carb_move_%s_owner\"", f->table);
  set (f, a, id, "title", "y");
  g_assert_false (carb_replica_sync (a, f->store, f->context, NULL, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED);
  g_assert_nonnull (strstr (error->message, "move trigger"));
  g_clear_error (&error);
  g_assert_true (carb_store_prepare_group (f->store, f->group, &error));
  g_assert_no_error (error);
  sync_ok (f, a);
}

/* The live rows of @user on the server, or (@replica_path set) of that
 * replica file, as "id|title" lines. */
static char *
live_rows (Fixture *f, const char *user, const char *replica_path)
{
  g_autoptr (GPtrArray) rows = NULL;
  if (replica_path != NULL)
    {
      g_autofree char *uri = g_strconcat ("sqlite:", replica_path, NULL);
      TestDb *db = test_db_open (uri);
      rows = test_db_query_rows (db, "SELECT id, title FROM %s WHERE NOT deleted ORDER BY id", f->qtable);
      test_db_free (db);
    }
  else
    rows = test_db_query_rows (
        f->db, "SELECT id, title FROM %s WHERE owner = '%s' AND NOT deleted ORDER BY id", f->qtable, user);
  GString *text = g_string_new (NULL);
  for (guint i = 0; i < rows->len; i++)
    {
      g_autofree char *line = g_strjoinv ("|", g_ptr_array_index (rows, i));
      g_string_append_printf (text, "%s\n", line);
    }
  return g_string_free (text, FALSE);
}

/* A random id of the server's table, or NULL when it is empty. */
static char *
random_server_id (Fixture *f)
{
  g_autoptr (GPtrArray) rows = test_db_query_rows (f->db, "SELECT id FROM %s ORDER BY id", f->qtable);
  if (rows->len == 0)
    return NULL;
  char **row = g_ptr_array_index (rows, g_test_rand_int_range (0, (gint32) rows->len));
  return g_strdup (row[0]);
}

/* Seeded (GLib's test seed, printed at the start): three users' replicas
 * insert, edit and delete their rows while the server moves rows between
 * users (and back) and edits them directly, with syncs in between. At
 * quiescence each replica holds exactly its user's live rows as the
 * server has them: a row that moved away and was not withdrawn, or one
 * that moved in and was missed, fails it. */
static void
test_filter_moves_random (Fixture *f, gconstpointer backend)
{
  static const char *const users[] = { "ann", "bob", "carol" };
  g_autoptr (GError) error = NULL;
  create (f);
  CarbReplica *replicas[G_N_ELEMENTS (users)];
  GVariant *contexts[G_N_ELEMENTS (users)];
  for (guint u = 0; u < G_N_ELEMENTS (users); u++)
    {
      replicas[u] = open_replica (f, users[u]);
      g_autofree char *text = g_strdup_printf ("{'user': <'%s'>}", users[u]);
      contexts[u] = g_variant_ref_sink (g_variant_new_parsed (text));
    }
  guint n_moves = 0;
  for (guint step = 0; step < 300; step++)
    {
      guint u = (guint) g_test_rand_int_range (0, G_N_ELEMENTS (users));
      gint action = g_test_rand_int_range (0, 100);
      g_autofree char *id = random_server_id (f);
      if (action >= 75)
        {
          g_assert_true (carb_replica_sync (replicas[u], f->store, contexts[u], NULL, &error));
          g_assert_no_error (error);
        }
      else if (action < 25 || id == NULL)
        g_free (insert (f, replicas[u], users[u], "new"));
      else if (action < 45)
        {
          /* An edit of a row the replica may no longer see is refused at
           * the upload, reported, and the row dropped: all fine. */
          g_autoptr (GVariant) row = carb_replica_get_row (replicas[u], f->table, id, &error);
          g_assert_no_error (error);
          if (row != NULL)
            set (f, replicas[u], id, "title", g_test_rand_bit () ? "edited" : "again");
        }
      else if (action < 50)
        {
          g_autoptr (GVariant) row = carb_replica_get_row (replicas[u], f->table, id, &error);
          g_assert_no_error (error);
          if (row != NULL)
            g_assert_true (carb_replica_delete (replicas[u], f->table, id, &error));
          g_assert_no_error (error);
        }
      else if (action < 70)
        {
          test_db_exec (f->db, "UPDATE %s SET owner = '%s' WHERE id = '%s'", f->qtable,
                        users[g_test_rand_int_range (0, G_N_ELEMENTS (users))], id);
          n_moves++;
        }
      else
        test_db_exec (f->db, "UPDATE %s SET title = 'by admin' WHERE id = '%s'", f->qtable, id);
    }
  for (guint round = 0; round < 2; round++)
    for (guint u = 0; u < G_N_ELEMENTS (users); u++)
      {
        g_assert_true (carb_replica_sync (replicas[u], f->store, contexts[u], NULL, &error));
        g_assert_no_error (error);
      }
  g_test_message ("%u moves", n_moves);
  g_assert_cmpuint (n_moves, >, 20);
  for (guint u = 0; u < G_N_ELEMENTS (users); u++)
    {
      g_autofree char *want = live_rows (f, users[u], NULL);
      g_autofree char *held = live_rows (f, users[u], carb_replica_get_path (replicas[u]));
      g_assert_cmpstr (held, ==, want);
      g_assert_cmpuint (carb_replica_get_n_pending (replicas[u]), ==, 0);
      g_object_unref (replicas[u]);
      g_variant_unref (contexts[u]);
    }
}

typedef struct
{
  gboolean done;
  gboolean ok;
  GError *error;
} Outcome;

static void
on_synced (GObject *source, GAsyncResult *result, gpointer data)
{
  Outcome *out = data;
  out->ok = carb_replica_sync_finish (CARB_REPLICA (source), result, &out->error);
  out->done = TRUE;
}

/* The async sync tells rejections where the application lives: in the
 * caller's thread (its main context), each before the sync's callback. */
typedef struct
{
  GThread *thread;
  guint count;
  gboolean wrong_thread, after_callback;
  const Outcome *out;
} RejectedSeen;

static void
on_rejected_async (CarbReplica *replica,
                   const char *table,
                   const char *id,
                   const char *column,
                   const char *message,
                   RejectedSeen *seen)
{
  seen->count++;
  seen->wrong_thread |= g_thread_self () != seen->thread;
  seen->after_callback |= seen->out->done;
}

static void
test_rejected_async (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  Outcome out = { FALSE, FALSE, NULL };
  RejectedSeen seen = { g_thread_self (), 0, FALSE, FALSE, &out };
  g_signal_connect (a, "rejected", G_CALLBACK (on_rejected_async), &seen);
  g_autofree char *mine = insert (f, a, "ann", "mine");
  g_autofree char *theirs = insert (f, a, "bob", "not mine");
  carb_replica_sync_async (a, f->store, f->context, NULL, NULL, NULL, NULL, on_synced, &out);
  while (!out.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_no_error (out.error);
  g_assert_true (out.ok);
  g_assert_cmpuint (seen.count, ==, 1);
  g_assert_false (seen.wrong_thread);
  g_assert_false (seen.after_callback);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (seen.count, ==, 1);
}

typedef struct
{
  guint calls;
  guint64 last;
  GThread *thread; /* the caller's: reports arrive there */
  gboolean wrong_thread, notified;
} Progress;

static void
on_progress (guint64 n_rows, gint64 n_total, gpointer data)
{
  Progress *p = data;
  p->calls++;
  p->last = n_rows;
  p->wrong_thread |= g_thread_self () != p->thread || (n_total != -1 && n_total != (gint64) n_rows);
}

static void
progress_done (gpointer data)
{
  ((Progress *) data)->notified = TRUE;
}

static void
test_async (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  g_autofree char *id = insert (f, a, "ann", "async");
  Outcome out = { FALSE, FALSE, NULL };
  Progress progress = { .thread = g_thread_self () };
  carb_replica_sync_async (a, f->store, f->context, on_progress, &progress, progress_done, NULL, on_synced,
                           &out);
  while (!out.done)
    g_main_context_iteration (NULL, TRUE);
  /* Every report came before the callback. */
  guint calls = progress.calls;
  g_assert_no_error (out.error);
  g_assert_true (out.ok);
  /* The upload's row, then the download's, told in this thread. */
  g_assert_cmpuint (progress.calls, >=, 1);
  g_assert_cmpuint (progress.last, >=, 1);
  g_assert_false (progress.wrong_thread);
  /* The data is let go right after the callback, in this thread. */
  g_assert_true (progress.notified);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (progress.calls, ==, calls);
  g_assert_cmpuint (carb_replica_get_n_pending (a), ==, 0);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s WHERE title = 'async'", f->qtable), ==,
                   1);

  /* Cancelled: the error says so, the edit stays pending. */
  set (f, a, id, "title", "later");
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  g_cancellable_cancel (cancel);
  Outcome cancelled = { FALSE, FALSE, NULL };
  carb_replica_sync_async (a, f->store, f->context, NULL, NULL, NULL, cancel, on_synced, &cancelled);
  while (!cancelled.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (cancelled.ok);
  g_assert_error (cancelled.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&cancelled.error);
  g_assert_cmpuint (carb_replica_get_n_pending (a), ==, 1);
}

typedef struct
{
  CarbReplica *replica;
  guint rebuilds;
} RebuildInSync;

static void
rebuild_on_progress (guint64 n_rows, gint64 n_total, gpointer data)
{
  RebuildInSync *r = data;
  g_autoptr (GError) error = NULL;
  /* The first report comes while the sync is still downloading pages. */
  if (r->rebuilds++ == 0)
    {
      g_assert_true (carb_replica_rebuild (r->replica, &error));
      g_assert_no_error (error);
    }
}

static void
test_rebuild_during_sync (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  sync_ok (f, a);
  /* Later rows come by download pages (1 000 rows each), with progress. */
  test_db_exec (f->db,
                "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 20000) "
                "INSERT INTO %s (id, owner, title, deleted) SELECT 'bulk-' || n, 'ann', 'bulk', false FROM s",
                f->qtable);
  RebuildInSync r = { a, 0 };
  Outcome out = { FALSE, FALSE, NULL };
  carb_replica_sync_async (a, f->store, f->context, rebuild_on_progress, &r, NULL, NULL, on_synced, &out);
  while (!out.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_no_error (out.error);
  g_assert_true (out.ok);
  g_assert_cmpuint (r.rebuilds, >=, 1);
  /* The rebuild came after the sync: the next sync downloads everything. */
  sync_ok (f, a);
  guint held = 0;
  for (guint i = 1; i <= 20000; i++)
    {
      g_autofree char *id = g_strdup_printf ("bulk-%u", i);
      g_autofree char *title = local (f, a, id, "title");
      held += title != NULL;
    }
  g_assert_cmpuint (held, ==, 20000);
}

typedef struct
{
  Fixture *f;
  CarbReplica *replica;
  char **ids;
  guint n_ids;
  guint n_edits;
  char **last; /* the last title written per row */
  gint done;
} Writer;

static gpointer
writer_thread (gpointer data)
{
  Writer *w = data;
  GRand *rand = g_rand_new_with_seed (11);
  for (guint i = 0; i < w->n_edits; i++)
    {
      guint row = (guint) g_rand_int_range (rand, 0, (gint32) w->n_ids);
      g_autofree char *title = g_strdup_printf ("edit %u", i);
      set (w->f, w->replica, w->ids[row], "title", title);
      g_free (w->last[row]);
      w->last[row] = g_steal_pointer (&title);
      if (i % 16 == 0)
        g_usleep (200);
    }
  g_rand_free (rand);
  g_atomic_int_set (&w->done, 1);
  return NULL;
}

static void
test_concurrent (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (CarbReplica) a = open_replica (f, "a");
  Writer w = { f, a, g_new0 (char *, 9), 8, 400, g_new0 (char *, 9), 0 };
  for (guint i = 0; i < w.n_ids; i++)
    w.ids[i] = insert (f, a, "ann", "start");
  sync_ok (f, a);
  GThread *thread = g_thread_new ("writer", writer_thread, &w);
  guint rounds = 0;
  /* Syncs while the writer runs: edits land between collect and ack. */
  while (!g_atomic_int_get (&w.done))
    {
      g_autoptr (GError) error = NULL;
      g_assert_true (carb_replica_sync (a, f->store, f->context, NULL, &error));
      g_assert_no_error (error);
      rounds++;
    }
  g_thread_join (thread);
  sync_ok (f, a);
  for (guint i = 0; i < w.n_ids; i++)
    {
      const char *expect = w.last[i] != NULL ? w.last[i] : "start";
      g_autofree char *mine = local (f, a, w.ids[i], "title");
      g_assert_cmpstr (mine, ==, expect);
      g_autoptr (GPtrArray) rows
          = test_db_query_rows (f->db, "SELECT title FROM %s WHERE id = '%s'", f->qtable, w.ids[i]);
      g_assert_cmpuint (rows->len, ==, 1);
      g_assert_cmpstr (((char **) g_ptr_array_index (rows, 0))[0], ==, expect);
    }
  g_test_message ("%u syncs during %u edits", rounds, w.n_edits);
  g_strfreev (w.ids);
  g_strfreev (w.last);
}

static void
test_types (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *table = g_strconcat (f->table, "_types", NULL);
  static const DataColumn columns[] = {
    { "t", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_FLAGS_NULLABLE },
    { "i16", CARB_COLUMN_TYPE_INT16, CARB_COLUMN_FLAGS_NULLABLE },
    { "i32", CARB_COLUMN_TYPE_INT32, CARB_COLUMN_FLAGS_NULLABLE },
    { "i64", CARB_COLUMN_TYPE_INT64, CARB_COLUMN_FLAGS_NULLABLE },
    { "fl", CARB_COLUMN_TYPE_FLOAT, CARB_COLUMN_FLAGS_NULLABLE },
    { "db", CARB_COLUMN_TYPE_DOUBLE, CARB_COLUMN_FLAGS_NULLABLE },
    { "bo", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_FLAGS_NULLABLE },
    { "at", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_FLAGS_NULLABLE },
    { "dt", CARB_COLUMN_TYPE_DATE, CARB_COLUMN_FLAGS_NULLABLE },
    { "uu", CARB_COLUMN_TYPE_UUID, CARB_COLUMN_FLAGS_NULLABLE },
    { "js", CARB_COLUMN_TYPE_JSON, CARB_COLUMN_FLAGS_NULLABLE },
    { "by", CARB_COLUMN_TYPE_BYTES, CARB_COLUMN_FLAGS_NULLABLE },
    { "nu", CARB_COLUMN_TYPE_NUMERIC, CARB_COLUMN_FLAGS_NULLABLE },
  };
  g_autoptr (CarbModel) model = twoway_model (table, columns, G_N_ELEMENTS (columns));
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("types");
  g_assert_true (carb_sync_group_add_model (group, model, &error));
  serve_group (f, group);

  static const guint8 blob[] = { 0, 1, 2, 0xff };
  GVariantDict row;
  g_variant_dict_init (&row, NULL);
  g_variant_dict_insert (&row, "t", "s", "tëxt ✓");
  g_variant_dict_insert (&row, "i16", "n", (gint16) -32768);
  g_variant_dict_insert (&row, "i32", "i", (gint32) 2147483647);
  g_variant_dict_insert (&row, "i64", "x", G_MININT64);
  g_variant_dict_insert (&row, "fl", "d", 1.5);
  g_variant_dict_insert (&row, "db", "d", 0.1);
  g_variant_dict_insert (&row, "bo", "b", TRUE);
  g_variant_dict_insert (&row, "at", "x", (gint64) 1700000000123456);
  g_variant_dict_insert (&row, "dt", "i", (gint32) 19000);
  g_variant_dict_insert (&row, "uu", "s", "0000ABCD-0000-4000-8000-00000000000F");
  g_variant_dict_insert (&row, "js", "s", "{\"a\": [1, 2]}");
  g_variant_dict_insert_value (&row, "by",
                               g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, blob, sizeof blob, 1));
  g_variant_dict_insert (&row, "nu", "s", "12.340");
  g_autofree char *p1 = g_build_filename (f->tmpdir, "replica-t1.db", NULL);
  g_autofree char *p2 = g_build_filename (f->tmpdir, "replica-t2.db", NULL);
  g_autoptr (CarbReplica) a = carb_replica_open (p1, group, &error);
  g_autoptr (CarbReplica) b = carb_replica_open (p2, group, &error);
  g_assert_no_error (error);
  g_autoptr (GVariant) given = g_variant_ref_sink (g_variant_dict_end (&row));
  g_autofree char *full = carb_replica_insert (a, table, given, &error);
  g_assert_no_error (error);
  /* And a row of NULLs. */
  g_autofree char *empty = carb_replica_insert (a, table, g_variant_new_parsed ("@a{sv} {}"), &error);
  g_assert_no_error (error);
  g_assert_true (carb_replica_sync (a, f->store, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (carb_replica_sync (b, f->store, NULL, NULL, &error));
  g_assert_no_error (error);

  for (guint r = 0; r < 2; r++)
    {
      const char *id = r == 0 ? full : empty;
      g_autoptr (GVariant) written = carb_replica_get_row (a, table, id, &error);
      g_autoptr (GVariant) read = carb_replica_get_row (b, table, id, &error);
      g_assert_no_error (error);
      g_assert_nonnull (read);
      for (guint i = 0; i < G_N_ELEMENTS (columns); i++)
        {
          g_autoptr (GVariant) x = g_variant_lookup_value (written, columns[i].name, NULL);
          g_autoptr (GVariant) y = g_variant_lookup_value (read, columns[i].name, NULL);
          if (!g_variant_equal (x, y))
            {
              g_autofree char *xs = g_variant_print (x, TRUE), *ys = g_variant_print (y, TRUE);
              g_error ("column %s: wrote %s, read %s", columns[i].name, xs, ys);
            }
        }
    }
  /* As given (carb_model_row_to_variant()'s types), but the UUID, made
   * canonical on the way in. */
  g_autoptr (GVariant) back = carb_replica_get_row (b, table, full, &error);
  for (guint i = 0; i < G_N_ELEMENTS (columns); i++)
    {
      g_autoptr (GVariant) x = g_variant_lookup_value (given, columns[i].name, NULL);
      g_autoptr (GVariant) y = g_variant_lookup_value (back, columns[i].name, NULL);
      if (strcmp (columns[i].name, "uu") != 0 && !g_variant_equal (x, y))
        {
          g_autofree char *xs = g_variant_print (x, TRUE), *ys = g_variant_print (y, TRUE);
          g_error ("column %s: gave %s, read %s", columns[i].name, xs, ys);
        }
    }
  const char *uu = NULL;
  g_assert_true (g_variant_lookup (back, "uu", "&s", &uu));
  g_assert_cmpstr (uu, ==, "0000abcd-0000-4000-8000-00000000000f");
  drop_served_table (f, table);
}

/* A value the server stores differently from the replica's (a FLOAT
 * column rounds to single precision; PostgreSQL's jsonb reorders keys):
 * the writer takes the stored value from the upload's answer, so every
 * replica ends with the server's value, not the writer alone its own. */
static void
test_normalized (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *table = g_strconcat (f->table, "_norm", NULL);
  static const DataColumn columns[] = { { "fl", CARB_COLUMN_TYPE_FLOAT, CARB_COLUMN_FLAGS_NULLABLE },
                                        { "js", CARB_COLUMN_TYPE_JSON, CARB_COLUMN_FLAGS_NULLABLE } };
  g_autoptr (CarbModel) model = twoway_model (table, columns, G_N_ELEMENTS (columns));
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("norm");
  g_assert_true (carb_sync_group_add_model (group, model, &error));
  serve_group (f, group);
  g_autofree char *p1 = g_build_filename (f->tmpdir, "replica-n1.db", NULL);
  g_autofree char *p2 = g_build_filename (f->tmpdir, "replica-n2.db", NULL);
  g_autoptr (CarbReplica) a = carb_replica_open (p1, group, &error);
  g_autoptr (CarbReplica) b = carb_replica_open (p2, group, &error);
  g_assert_no_error (error);
  g_autofree char *id = carb_replica_insert (
      a, table, g_variant_new_parsed ("{'fl': <0.1>, 'js': <'{\"b\": 1, \"a\": 2}'>}"), &error);
  g_assert_no_error (error);
  g_assert_true (carb_replica_sync (a, f->store, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (carb_replica_sync (b, f->store, NULL, NULL, &error));
  g_assert_no_error (error);
  g_autoptr (GVariant) mine = carb_replica_get_row (a, table, id, &error);
  g_autoptr (GVariant) theirs = carb_replica_get_row (b, table, id, &error);
  g_assert_no_error (error);
  g_autofree char *ms = g_variant_print (mine, TRUE), *ts = g_variant_print (theirs, TRUE);
  g_assert_cmpstr (ms, ==, ts);
  gdouble fl = 0;
  g_assert_true (g_variant_lookup (mine, "fl", "d", &fl));
  g_assert_cmpfloat (fl, ==, (gdouble) 0.1f);
  g_assert_cmpuint (carb_replica_get_n_pending (a), ==, 0);
  drop_served_table (f, table);
}

/* PostgreSQL's float8 holds NaN; SQLite has none (it stores NULL). A NaN
 * on the server (a write that bypasses the library) reaches the replica
 * as NaN, in a NOT NULL column too, and an edit of another column leaves
 * it so on the server; a NaN written on the replica reaches the server.
 * A SQLite server keeps NULL for it, and so does the replica then. */
static void
test_nan (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *table = g_strconcat (f->table, "_nan", NULL);
  g_autofree char *qtable = test_db_quote (table);
  gboolean pg = test_db_is_postgres (f->db);
  const DataColumn columns[] = { { "db", CARB_COLUMN_TYPE_DOUBLE, pg ? 0 : CARB_COLUMN_FLAGS_NULLABLE },
                                 { "title", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_FLAGS_NULLABLE } };
  g_autoptr (CarbModel) model = twoway_model (table, columns, G_N_ELEMENTS (columns));
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("nan");
  g_assert_true (carb_sync_group_add_model (group, model, &error));
  serve_group (f, group);
  const char *id = "4f1e2d3c-0000-4000-8000-000000000001";
  test_db_exec (f->db, "INSERT INTO %s (id, db, title, deleted) VALUES ('%s', %s, 'x', %s)", qtable, id,
                pg ? "'NaN'" : "0.0 / 0.0", pg ? "false" : "0");

  g_autofree char *path = g_build_filename (f->tmpdir, "replica-nan.db", NULL);
  g_autoptr (CarbReplica) replica = carb_replica_open (path, group, &error);
  g_assert_no_error (error);
  g_assert_true (carb_replica_sync (replica, f->store, NULL, NULL, &error));
  g_assert_no_error (error);
  g_autoptr (GVariant) row = carb_replica_get_row (replica, table, id, &error);
  g_assert_no_error (error);
  g_autoptr (GVariant) db = g_variant_lookup_value (row, "db", NULL);
  if (pg)
    {
      g_assert_nonnull (db);
      g_assert_true (isnan (g_variant_get_double (db)));
    }
  else
    g_assert_true (db == NULL || g_variant_is_of_type (db, G_VARIANT_TYPE_MAYBE));

  g_assert_true (carb_replica_update (replica, table, id, g_variant_new_parsed ("{'title': <'y'>}"), &error));
  g_assert_no_error (error);
  g_assert_true (carb_replica_sync (replica, f->store, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (carb_replica_get_n_pending (replica), ==, 0);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count (*) FROM %s WHERE title = 'y' AND %s", qtable,
                                      pg ? "db = 'NaN'" : "db IS NULL"),
                   ==, 1);

  /* A NaN written on the replica: PostgreSQL keeps it; a SQLite server
   * stores NULL, and the acknowledgement takes that. */
  g_assert_true (carb_replica_update (replica, table, id, g_variant_new_parsed ("{'db': <1.5>}"), &error));
  g_assert_true (carb_replica_sync (replica, f->store, NULL, NULL, &error));
  g_assert_no_error (error);
  GVariantDict nan_write;
  g_variant_dict_init (&nan_write, NULL);
  g_variant_dict_insert (&nan_write, "db", "d", NAN);
  g_assert_true (carb_replica_update (replica, table, id, g_variant_dict_end (&nan_write), &error));
  g_assert_no_error (error);
  g_assert_true (carb_replica_sync (replica, f->store, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (carb_replica_get_n_pending (replica), ==, 0);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count (*) FROM %s WHERE %s", qtable,
                                      pg ? "db = 'NaN'" : "db IS NULL"),
                   ==, 1);
  g_autoptr (GVariant) after = carb_replica_get_row (replica, table, id, &error);
  g_assert_no_error (error);
  g_autoptr (GVariant) db_after = g_variant_lookup_value (after, "db", NULL);
  if (pg)
    g_assert_true (db_after != NULL && isnan (g_variant_get_double (db_after)));
  else
    g_assert_true (db_after == NULL || g_variant_is_of_type (db_after, G_VARIANT_TYPE_MAYBE));
  drop_served_table (f, table);
}

/* An immutable column whose value the server stores otherwise (a FLOAT
 * rounded to single precision): an upload sent again because its answer
 * was lost carries the insert's value as written, not as stored. The same
 * version is the same write, not a change of the column, so the row is
 * not rejected, and an edit made meanwhile lands. */
static void
test_immutable_retry (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *table = g_strconcat (f->table, "_imm", NULL);
  static const DataColumn columns[]
      = { { "fl", CARB_COLUMN_TYPE_FLOAT, 0 }, { "title", CARB_COLUMN_TYPE_TEXT, 0 } };
  g_autoptr (CarbModel) model = twoway_model (table, columns, G_N_ELEMENTS (columns));
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("imm");
  g_assert_true (carb_sync_group_add_model (group, model, &error));
  g_assert_true (carb_sync_group_set_immutable (group, table, "fl", &error));
  g_assert_no_error (error);
  serve_group (f, group);
  g_autofree char *path = g_build_filename (f->tmpdir, "replica-imm.db", NULL);
  g_autoptr (CarbReplica) a = carb_replica_open (path, group, &error);
  g_assert_no_error (error);
  guint count = 0;
  g_signal_connect (a, "rejected", G_CALLBACK (on_rejected), &count);
  g_autofree char *id
      = carb_replica_insert (a, table, g_variant_new_parsed ("{'fl': <0.1>, 'title': <'first'>}"), &error);
  g_assert_no_error (error);
  /* Applied, but the answer never came back. */
  g_autoptr (GBytes) sent = carb_replica_collect_changes (a, 0, &error);
  g_autoptr (GBytes) lost = carb_store_apply_changes (f->store, group, NULL, sent, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (lost);
  g_assert_true (carb_replica_update (a, table, id, g_variant_new_parsed ("{'title': <'second'>}"), &error));
  g_assert_no_error (error);
  g_assert_true (carb_replica_sync (a, f->store, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count, ==, 0);
  g_assert_cmpuint (carb_replica_get_n_pending (a), ==, 0);
  g_autoptr (GVariant) row = carb_replica_get_row (a, table, id, &error);
  g_assert_no_error (error);
  const char *title = NULL;
  g_assert_true (g_variant_lookup (row, "title", "&s", &title));
  g_assert_cmpstr (title, ==, "second");
  g_autofree char *q = test_db_quote (table);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s WHERE title = 'second'", q), ==, 1);
  drop_served_table (f, table);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  static const TestCase tests[] = {
    TEST_CASE ("converge", test_converge),
    TEST_CASE ("crash-ack", test_crash_ack),
    TEST_CASE ("clock-ahead", test_clock_ahead),
    TEST_CASE ("expired", test_expired),
    TEST_CASE ("expired-idle", test_expired_idle),
    TEST_CASE ("first-fill", test_first_fill),
    TEST_CASE ("rejected", test_rejected),
    TEST_CASE ("rejected-whole-row", test_rejected_whole_row),
    TEST_CASE ("rejected-reentrant", test_rejected_reentrant),
    TEST_CASE ("async", test_async),
    TEST_CASE ("rejected-async", test_rejected_async),
    TEST_CASE ("filter-move-out", test_filter_move_out),
    TEST_CASE ("withdrawal-scope", test_withdrawal_scope),
    TEST_CASE ("stale-withdrawal", test_stale_withdrawal),
    TEST_CASE ("move-trigger-missing", test_move_trigger_missing),
    TEST_CASE ("purge-moves", test_purge_moves),
    TEST_CASE ("context-type", test_context_type),
    TEST_CASE ("context-uuid", test_context_uuid),
    TEST_CASE ("context-switch", test_context_switch),
    TEST_CASE ("shared-table", test_shared_table),
    TEST_CASE ("filter-moves-random", test_filter_moves_random),
    TEST_CASE ("rebuild-during-sync", test_rebuild_during_sync),
    TEST_CASE ("concurrent", test_concurrent),
    TEST_CASE ("types", test_types),
    TEST_CASE ("normalized", test_normalized),
    TEST_CASE ("immutable-retry", test_immutable_retry),
    TEST_CASE ("nan", test_nan),
  };
  test_add_per_backend ("replica-sync", sizeof (Fixture), (GTestFixtureFunc) fixture_set_up, tests,
                        G_N_ELEMENTS (tests), (GTestFixtureFunc) fixture_tear_down);
  return g_test_run ();
}
