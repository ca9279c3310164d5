/* The server side of two-way sync, on every backend.
 *
 *   create-wire   carb_store_create_table() of a wire model makes a table
 *                 that carb_store_prepare_group() prepares
 *   lww           per column: changes to two columns of a row both
 *                 survive; for one column the greater version wins in
 *                 either arrival order, the site breaks an hlc tie
 *   duplicate     a batch applied twice changes nothing and does not
 *                 restamp the row
 *   clock-ahead   a version too far ahead is refused with the server's
 *                 hlc in the message, and nothing of the batch is applied
 *   immutable     a change to an existing row's immutable column is
 *                 rejected; a retried insert (same value) is not
 *   filter        apply and download keep to the context's rows; another
 *                 user's row is neither changed nor shown; a context
 *                 without the key fails the call
 *   validate      the validation callback's refusal rejects its row with
 *                 its message, the rest of the batch is applied
 *   constraint    a unique violation and a missing NOT NULL value reject
 *                 one row each, the others are applied
 *   deadlock      two threads, each with a store of its own, apply the same
 *                 rows in opposite orders, over and over, without a
 *                 deadlock (SQLite: one writer at a time, none waits
 *                 past the busy timeout)
 *   purge         tombstones before the horizon are deleted; a download
 *                 from an older sync point is SYNC_POINT_EXPIRED
 *   hostile       malformed bytes, unknown tables and columns, values of
 *                 the wrong type: INVALID_DATA naming them, nothing applied
 *   download      pages carry every column with its version ((0, 0) for a
 *                 column never versioned)
 *   app-transaction  an apply inside the application's transaction is
 *                 refused, and the transaction is left open
 *   types         every column type through an apply and a download
 *                 comes back as it was sent; a value the database
 *                 normalizes is answered as stored, as a download gives it
 *   float-range   a FLOAT beyond gfloat's range rejects its row (SQLite
 *                 stored it, then failed the batch reading it back)
 *   insert-race   (PostgreSQL) a row another transaction inserts while the
 *                 apply inserts the same id is merged with, not rejected
 *   server-fault  a write the database refuses for its own reason (a
 *                 privilege missing, the database full, a trigger naming
 *                 a dropped table) fails the apply, no row rejected
 *   immutable-stale  a retried insert whose immutable column an
 *                 administrator changed since is no rejection (its older
 *                 version loses), the edit sent with it applied
 *   bypass-race   an administrator's UPDATEs on another connection while
 *                 batches of the same rows are applied: each bypass write
 *                 stays and beats the older versions applied after it
 *   hlc-range     an hlc beyond G_MAXINT64 is malformed, even with the
 *                 clock bound off
 *   deferred      (PostgreSQL) a row that violates a deferred foreign key
 *                 is rejected, the rest of the batch applied
 *   lock-timeout  (PostgreSQL) a write that gives up waiting for a lock
 *                 fails the apply as BUSY, nothing applied, instead of
 *                 rejecting its row for good
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

#define RESULT_TYPE "(uta(ssa(s(tt)mv))a(ssss))"
#define SITE_A      G_GUINT64_CONSTANT (0xa)
#define SITE_B      G_GUINT64_CONSTANT (0xb)

typedef struct
{
  const char *backend;
  char *tmpdir;
  char *uri;
  TestDb *db;
  CarbStore *store;
  char *table;
  char *qtable;
  CarbModel *model;
  CarbSyncGroup *group;
  guint64 base; /* an hlc a second ago: versions below now */
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer backend)
{
  static guint counter;
  g_autoptr (GError) error = NULL;

  f->backend = backend;
  f->tmpdir = g_dir_make_tmp ("carb-apply-XXXXXX", &error);
  g_assert_no_error (error);
  f->uri = test_store_uri (backend, f->tmpdir);
  f->db = test_db_open (f->uri);
  f->table = g_strdup_printf ("notes_%d_%u", (int) getpid (), counter++);
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
      carb_model_add_column (f->model, "n", CARB_COLUMN_TYPE_INT64, 0, CARB_COLUMN_FLAGS_NULLABLE, NULL));
  g_assert_true (
      carb_model_add_column (f->model, "deleted", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DELETED, 0, NULL));
  g_assert_true (carb_model_add_column (f->model, "ts", CARB_COLUMN_TYPE_TIMESTAMP,
                                        CARB_COLUMN_ROLE_TIMESTAMP, 0, NULL));
  f->group = carb_sync_group_new ("notes");
  g_assert_true (carb_sync_group_add_model (f->group, f->model, &error));
  g_assert_no_error (error);
  f->base = ((guint64) (g_get_real_time () / 1000 - 1000)) << CARB_HLC_COUNTER_BITS;
}

static void
fixture_tear_down (Fixture *f, gconstpointer backend)
{
  g_clear_pointer (&f->store, g_object_unref);
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TABLE IF EXISTS %s CASCADE; DELETE FROM carburetor_purge WHERE tbl = '%s'",
                  f->qtable, f->table);
  test_db_free (f->db);
  test_store_dir_remove (f->tmpdir);
  carb_sync_group_unref (f->group);
  carb_model_unref (f->model);
  g_free (f->tmpdir);
  g_free (f->uri);
  g_free (f->table);
  g_free (f->qtable);
}

/* The table from the wire model, then the group prepared. */
static void
create (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_create_table (f->store, carb_sync_group_get_wire_model (f->group, 0), &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_group (f->store, f->group, &error));
  g_assert_no_error (error);
}

static CarbChange
ch (Fixture *f, const char *row, const char *column, guint64 hlc, guint64 site, GVariant *value)
{
  return (CarbChange){
    f->table, (char *) row, (char *) column, { hlc, site }, value != NULL ? g_variant_ref_sink (value) : NULL
  };
}

static GBytes *
serialize (CarbChange *changes, gsize n)
{
  GBytes *bytes = carb_changeset_serialize (changes, n);
  for (gsize i = 0; i < n; i++)
    g_clear_pointer (&changes[i].value, g_variant_unref);
  return bytes;
}

/* Applies @changes (consumed); the result as a GVariant. */
static GVariant *
apply_ctx (Fixture *f, GVariant *context, CarbChange *changes, gsize n, GError **error)
{
  g_autoptr (GBytes) set = serialize (changes, n);
  g_autoptr (GBytes) result = carb_store_apply_changes (f->store, f->group, context, set, NULL, error);
  if (result == NULL)
    return NULL;
  GVariant *v = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (RESULT_TYPE), result, FALSE));
  /* The answer is written as bytes directly: they must be GLib's normal
   * form, which is what a replica accepts. */
  g_assert_true (g_variant_is_normal_form (v));
  return v;
}

static GVariant *
apply_ok (Fixture *f, CarbChange *changes, gsize n)
{
  g_autoptr (GError) error = NULL;
  GVariant *result = apply_ctx (f, NULL, changes, n, &error);
  g_assert_no_error (error);
  g_assert_nonnull (result);
  return result;
}

static gsize
n_rejections (GVariant *result)
{
  g_autoptr (GVariant) r = g_variant_get_child_value (result, 3);
  return g_variant_n_children (r);
}

/* The @i-th rejection's row id, column and message. */
static void
rejection (GVariant *result, gsize i, const char **row, const char **column, const char **message)
{
  g_autoptr (GVariant) r = g_variant_get_child_value (result, 3);
  g_autoptr (GVariant) one = g_variant_get_child_value (r, i);
  g_variant_get (one, "(&s&s&s&s)", NULL, row, column, message);
}

/* A column of the server's row as text ("" for NULL), via SQL. */
static char *
cell (Fixture *f, const char *row, const char *column)
{
  g_autoptr (GPtrArray) rows
      = test_db_query_rows (f->db, "SELECT \"%s\" FROM %s WHERE id = '%s'", column, f->qtable, row);
  if (rows->len == 0)
    return NULL;
  return g_strdup (((char **) rows->pdata[0])[0]);
}

static char *
version_text (guint64 hlc, guint64 site)
{
  CarbVersion v = { hlc, site };
  return carb_version_to_string (&v);
}

static void
assert_cell (Fixture *f, const char *row, const char *column, const char *expected)
{
  g_autofree char *got = cell (f, row, column);
  g_assert_cmpstr (got, ==, expected);
}

static void
test_create_wire (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (GError) error = NULL;
  /* The wire model fits the table it made, and preparing again is a
   * no-op. */
  g_assert_true (carb_store_check_model (f->store, carb_sync_group_get_wire_model (f->group, 0), &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_group (f->store, f->group, &error));
  g_assert_no_error (error);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 0);
}

static void
test_lww (Fixture *f, gconstpointer backend)
{
  create (f);
  guint64 b = f->base;
  CarbChange insert[] = {
    ch (f, "r1", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "r1", "title", b + 1, SITE_A, g_variant_new_string ("t0")),
  };
  g_autoptr (GVariant) r0 = apply_ok (f, insert, G_N_ELEMENTS (insert));
  g_assert_cmpuint (n_rejections (r0), ==, 0);

  /* Two replicas edit different columns: both edits survive. */
  CarbChange title[] = { ch (f, "r1", "title", b + 5, SITE_A, g_variant_new_string ("from A")) };
  CarbChange body[] = { ch (f, "r1", "body", b + 3, SITE_B, g_variant_new_string ("from B")) };
  g_autoptr (GVariant) r1 = apply_ok (f, title, 1);
  g_autoptr (GVariant) r2 = apply_ok (f, body, 1);
  assert_cell (f, "r1", "title", "from A");
  assert_cell (f, "r1", "body", "from B");
  g_autofree char *v5 = version_text (b + 5, SITE_A);
  assert_cell (f, "r1", "title__v", v5);

  /* One column, the later version arriving first: it stays. */
  CarbChange late[] = { ch (f, "r1", "title", b + 10, SITE_B, g_variant_new_string ("late")) };
  CarbChange early[] = { ch (f, "r1", "title", b + 7, SITE_A, g_variant_new_string ("early")) };
  g_autoptr (GVariant) r3 = apply_ok (f, late, 1);
  g_autoptr (GVariant) r4 = apply_ok (f, early, 1);
  assert_cell (f, "r1", "title", "late");
  /* The answer shows the winner to the replica that lost. */
  g_autoptr (GVariant) rows = g_variant_get_child_value (r4, 2);
  g_autofree char *printed = g_variant_print (rows, FALSE);
  g_assert_nonnull (strstr (printed, "'late'"));

  /* The other order on another row: the same winner. */
  CarbChange early2[] = {
    ch (f, "r2", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "r2", "title", b + 7, SITE_A, g_variant_new_string ("early")),
  };
  CarbChange late2[] = { ch (f, "r2", "title", b + 10, SITE_B, g_variant_new_string ("late")) };
  g_autoptr (GVariant) r5 = apply_ok (f, early2, 2);
  g_autoptr (GVariant) r6 = apply_ok (f, late2, 1);
  assert_cell (f, "r2", "title", "late");

  /* Same hlc: the greater site wins, in either order. */
  CarbChange tie_b[] = { ch (f, "r2", "body", b + 20, SITE_B, g_variant_new_string ("site b")) };
  CarbChange tie_a[] = { ch (f, "r2", "body", b + 20, SITE_A, g_variant_new_string ("site a")) };
  g_autoptr (GVariant) r7 = apply_ok (f, tie_b, 1);
  g_autoptr (GVariant) r8 = apply_ok (f, tie_a, 1);
  assert_cell (f, "r2", "body", "site b");

  /* Two changes of one column in one batch: the greater wins too. */
  CarbChange both[] = {
    ch (f, "r2", "n", b + 31, SITE_A, g_variant_new_int64 (31)),
    ch (f, "r2", "n", b + 30, SITE_A, g_variant_new_int64 (30)),
  };
  g_autoptr (GVariant) r9 = apply_ok (f, both, 2);
  assert_cell (f, "r2", "n", "31");
}

static void
duplicate_batch (Fixture *f, CarbChange *batch)
{
  guint64 b = f->base;
  batch[0] = ch (f, "d1", "owner", b + 1, SITE_A, g_variant_new_string ("ann"));
  batch[1] = ch (f, "d1", "title", b + 1, SITE_A, g_variant_new_string ("once"));
  batch[2] = ch (f, "d1", "n", b + 2, SITE_A, g_variant_new_int64 (7));
}

static void
test_duplicate (Fixture *f, gconstpointer backend)
{
  create (f);
  CarbChange batch[3], again[3];
  duplicate_batch (f, batch);
  duplicate_batch (f, again);
  g_autoptr (GVariant) r1 = apply_ok (f, batch, G_N_ELEMENTS (batch));
  g_autofree char *ts1 = cell (f, "d1", "ts");
  test_wait_clock_tick ();
  g_autoptr (GVariant) r2 = apply_ok (f, again, G_N_ELEMENTS (again));
  g_assert_cmpuint (n_rejections (r2), ==, 0);
  /* Nothing was written: the row keeps its stamp, so it does not sync
   * again. */
  g_autofree char *ts2 = cell (f, "d1", "ts");
  g_assert_cmpstr (ts1, ==, ts2);
  assert_cell (f, "d1", "title", "once");
  assert_cell (f, "d1", "n", "7");
  /* Both answers show the same state. */
  g_autoptr (GVariant) s1 = g_variant_get_child_value (r1, 2);
  g_autoptr (GVariant) s2 = g_variant_get_child_value (r2, 2);
  g_assert_true (g_variant_equal (s1, s2));
}

static void
test_clock_ahead (Fixture *f, gconstpointer backend)
{
  create (f);
  guint64 now = ((guint64) (g_get_real_time () / 1000)) << CARB_HLC_COUNTER_BITS;
  guint64 future = now + (((guint64) 10 * 60 * 1000) << CARB_HLC_COUNTER_BITS);
  CarbChange batch[] = {
    ch (f, "c1", "owner", f->base, SITE_A, g_variant_new_string ("ann")),
    ch (f, "c1", "title", f->base, SITE_A, g_variant_new_string ("fine")),
    ch (f, "c2", "owner", future, SITE_A, g_variant_new_string ("ann")),
    ch (f, "c2", "title", future, SITE_A, g_variant_new_string ("from 2040")),
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = apply_ctx (f, NULL, batch, G_N_ELEMENTS (batch), &error);
  g_assert_null (r);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_CLOCK_AHEAD);
  const char *at = strstr (error->message, "server hlc: ");
  g_assert_nonnull (at);
  guint64 server = g_ascii_strtoull (at + strlen ("server hlc: "), NULL, 10);
  g_assert_cmpuint (server, >=, now);
  g_assert_cmpuint (server, <, now + (((guint64) 60 * 1000) << CARB_HLC_COUNTER_BITS));
  /* Nothing of the batch, not even its good row. */
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 0);
}

static void
test_immutable (Fixture *f, gconstpointer backend)
{
  g_assert_true (carb_sync_group_set_immutable (f->group, f->table, "owner", NULL));
  create (f);
  guint64 b = f->base;
  CarbChange insert[] = {
    ch (f, "i1", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "i1", "title", b + 1, SITE_A, g_variant_new_string ("mine")),
  };
  g_autoptr (GVariant) r1 = apply_ok (f, insert, 2);
  g_assert_cmpuint (n_rejections (r1), ==, 0);

  /* A retried insert sends the same value again: not a change. */
  CarbChange retry[] = { ch (f, "i1", "owner", b + 1, SITE_A, g_variant_new_string ("ann")) };
  g_autoptr (GVariant) r2 = apply_ok (f, retry, 1);
  g_assert_cmpuint (n_rejections (r2), ==, 0);

  CarbChange steal[] = {
    ch (f, "i1", "owner", b + 9, SITE_B, g_variant_new_string ("bob")),
    ch (f, "i1", "title", b + 9, SITE_B, g_variant_new_string ("stolen")),
  };
  g_autoptr (GVariant) r3 = apply_ok (f, steal, 2);
  g_assert_cmpuint (n_rejections (r3), ==, 1);
  const char *row, *column, *message;
  rejection (r3, 0, &row, &column, &message);
  g_assert_cmpstr (row, ==, "i1");
  g_assert_cmpstr (column, ==, "owner");
  g_assert_nonnull (strstr (message, "immutable"));
  /* The whole row's changes were dropped. */
  assert_cell (f, "i1", "owner", "ann");
  assert_cell (f, "i1", "title", "mine");
}

/* Every row id of a download page. */
static char *
page_ids (Fixture *f, GVariant *context, GError **error)
{
  g_autoptr (CarbSyncPoint) until = NULL;
  g_autoptr (GBytes) page
      = carb_store_download_changes (f->store, f->group, context, 0, NULL, 0, &until, NULL, NULL, error);
  if (page == NULL)
    return NULL;
  g_autoptr (GArray) changes = carb_changeset_parse (page, error);
  g_assert_nonnull (changes);
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < changes->len; i++)
    {
      const CarbChange *c = &g_array_index (changes, CarbChange, i);
      if (ids->len == 0 || strcmp (ids->pdata[ids->len - 1], c->row_id) != 0)
        g_ptr_array_add (ids, g_strdup (c->row_id));
    }
  g_ptr_array_sort (ids, (GCompareFunc) g_strcmp0);
  g_ptr_array_add (ids, NULL);
  return g_strjoinv (",", (char **) ids->pdata);
}

static GVariant *
context_of (const char *user)
{
  GVariantDict d;
  g_variant_dict_init (&d, NULL);
  g_variant_dict_insert (&d, "user", "s", user);
  return g_variant_dict_end (&d);
}

static void
test_filter (Fixture *f, gconstpointer backend)
{
  g_assert_true (carb_sync_group_set_filter (f->group, f->table, "owner", "user", NULL));
  create (f);
  guint64 b = f->base;
  g_autoptr (GError) error = NULL;

  CarbChange bob_row[] = {
    ch (f, "b1", "owner", b + 1, SITE_B, g_variant_new_string ("bob")),
    ch (f, "b1", "title", b + 1, SITE_B, g_variant_new_string ("bob's secret")),
  };
  g_autoptr (GVariant) r1 = apply_ctx (f, context_of ("bob"), bob_row, 2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n_rejections (r1), ==, 0);

  /* Ann writes her row, a row for bob, and bob's row. */
  CarbChange ann[] = {
    ch (f, "a1", "owner", b + 2, SITE_A, g_variant_new_string ("ann")),
    ch (f, "a1", "title", b + 2, SITE_A, g_variant_new_string ("ann's")),
    ch (f, "a2", "owner", b + 2, SITE_A, g_variant_new_string ("bob")),
    ch (f, "a2", "title", b + 2, SITE_A, g_variant_new_string ("planted")),
    ch (f, "b1", "title", b + 5, SITE_A, g_variant_new_string ("overwritten")),
  };
  g_autoptr (GVariant) r2 = apply_ctx (f, context_of ("ann"), ann, G_N_ELEMENTS (ann), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n_rejections (r2), ==, 2);
  const char *row, *column, *message;
  rejection (r2, 0, &row, &column, &message);
  g_assert_cmpstr (row, ==, "a2");
  rejection (r2, 1, &row, &column, &message);
  g_assert_cmpstr (row, ==, "b1");
  assert_cell (f, "b1", "title", "bob's secret");
  g_assert_null (cell (f, "a2", "title"));
  assert_cell (f, "a1", "title", "ann's");
  /* Bob's row is not shown to ann in the answer either. */
  g_autoptr (GVariant) state = g_variant_get_child_value (r2, 2);
  g_autofree char *printed = g_variant_print (state, FALSE);
  g_assert_null (strstr (printed, "secret"));

  /* Ann's row cannot be moved to bob. */
  CarbChange give[] = { ch (f, "a1", "owner", b + 9, SITE_A, g_variant_new_string ("bob")) };
  g_autoptr (GVariant) r3 = apply_ctx (f, context_of ("ann"), give, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n_rejections (r3), ==, 1);
  assert_cell (f, "a1", "owner", "ann");

  /* Download: each user sees their rows only. */
  g_autofree char *ann_ids = page_ids (f, context_of ("ann"), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ann_ids, ==, "a1");
  g_autofree char *bob_ids = page_ids (f, context_of ("bob"), &error);
  g_assert_cmpstr (bob_ids, ==, "b1");

  /* No key: the call fails, for apply and download. */
  CarbChange any[] = { ch (f, "a1", "title", b + 20, SITE_A, g_variant_new_string ("x")) };
  g_autoptr (GVariant) r4 = apply_ctx (f, NULL, any, 1, &error);
  g_assert_null (r4);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "“user”"));
  g_clear_error (&error);
  g_autofree char *none = page_ids (f, NULL, &error);
  g_assert_null (none);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  assert_cell (f, "a1", "title", "ann's");
}

static gboolean
refuse_forbidden (CarbSyncGroup *group,
                  const char *table,
                  GVariant *row,
                  GVariant *context,
                  gpointer user_data,
                  GError **error)
{
  const char *title = NULL;
  (*(guint *) user_data)++;
  if (g_variant_lookup (row, "title", "&s", &title) && strcmp (title, "forbidden") == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "titles may not be “forbidden”");
      return FALSE;
    }
  return TRUE;
}

static void
test_validate (Fixture *f, gconstpointer backend)
{
  guint calls = 0;
  g_assert_true (carb_sync_group_set_validate_func (f->group, refuse_forbidden, &calls, NULL, NULL));
  create (f);
  guint64 b = f->base;
  CarbChange batch[] = {
    ch (f, "v1", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "v1", "title", b + 1, SITE_A, g_variant_new_string ("forbidden")),
    ch (f, "v2", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "v2", "title", b + 1, SITE_A, g_variant_new_string ("allowed")),
  };
  g_autoptr (GVariant) r = apply_ok (f, batch, G_N_ELEMENTS (batch));
  g_assert_cmpuint (calls, ==, 2);
  g_assert_cmpuint (n_rejections (r), ==, 1);
  const char *row, *column, *message;
  rejection (r, 0, &row, &column, &message);
  g_assert_cmpstr (row, ==, "v1");
  g_assert_cmpstr (message, ==, "titles may not be “forbidden”");
  g_assert_null (cell (f, "v1", "title"));
  assert_cell (f, "v2", "title", "allowed");
}

static void
test_constraint (Fixture *f, gconstpointer backend)
{
  create (f);
  test_db_exec (f->db, "CREATE UNIQUE INDEX %s_title ON %s (title)", f->table, f->qtable);
  guint64 b = f->base;
  CarbChange batch[] = {
    ch (f, "k1", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "k1", "title", b + 1, SITE_A, g_variant_new_string ("same")),
    ch (f, "k2", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "k2", "title", b + 1, SITE_A, g_variant_new_string ("same")),
    /* A new row without its NOT NULL title. */
    ch (f, "k3", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "k4", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "k4", "title", b + 1, SITE_A, g_variant_new_string ("other")),
  };
  g_autoptr (GVariant) r = apply_ok (f, batch, G_N_ELEMENTS (batch));
  g_assert_cmpuint (n_rejections (r), ==, 2);
  const char *row, *column, *message;
  rejection (r, 0, &row, &column, &message);
  g_assert_cmpstr (row, ==, "k2");
  g_assert_nonnull (strstr (message, "refused"));
  rejection (r, 1, &row, &column, &message);
  g_assert_cmpstr (row, ==, "k3");
  g_assert_nonnull (strstr (message, "title"));
  /* The rows after the refused ones were applied (on PostgreSQL the
   * savepoint keeps the transaction alive). */
  assert_cell (f, "k1", "title", "same");
  assert_cell (f, "k4", "title", "other");
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 2);
}

typedef struct
{
  Fixture *f;
  CarbStore *store;
  gboolean reverse;
  guint rounds;
  GError *error;
} Racer;

#define RACE_ROWS 40

static gpointer
race (gpointer data)
{
  Racer *r = data;
  Fixture *f = r->f;
  for (guint round = 0; round < r->rounds && r->error == NULL; round++)
    {
      CarbChange changes[RACE_ROWS];
      char names[RACE_ROWS][8];
      for (guint i = 0; i < RACE_ROWS; i++)
        {
          guint k = r->reverse ? RACE_ROWS - 1 - i : i;
          g_snprintf (names[i], sizeof names[i], "x%02u", k);
          changes[i]
              = ch (f, names[i], "n", f->base + round * 2 + (r->reverse ? 1 : 0),
                    r->reverse ? SITE_B : SITE_A, g_variant_new_int64 (round * 2 + (r->reverse ? 1 : 0)));
        }
      g_autoptr (GBytes) set = serialize (changes, RACE_ROWS);
      g_autoptr (GBytes) result = carb_store_apply_changes (r->store, f->group, NULL, set, NULL, &r->error);
    }
  return NULL;
}

static void
test_deadlock (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (GError) error = NULL;
  GString *insert = g_string_new (NULL);
  for (guint i = 0; i < RACE_ROWS; i++)
    /* An old version for n: a plain INSERT would get the server's "now"
     * from the versioning trigger, above every version of the race. */
    g_string_append_printf (
        insert, "INSERT INTO %s (id, owner, title, n__v) VALUES ('x%02u', 'ann', 't%u', '%035d');", f->qtable,
        i, i, 0);
  test_db_exec (f->db, "%s", insert->str);
  g_string_free (insert, TRUE);
  Racer racers[2] = { { f, NULL, FALSE, 25, NULL }, { f, NULL, TRUE, 25, NULL } };
  GThread *threads[2];
  for (guint i = 0; i < 2; i++)
    {
      racers[i].store = carb_store_open (f->uri, &error);
      g_assert_no_error (error);
      threads[i] = g_thread_new ("racer", race, &racers[i]);
    }
  for (guint i = 0; i < 2; i++)
    {
      g_thread_join (threads[i]);
      g_assert_no_error (racers[i].error);
      g_object_unref (racers[i].store);
    }
  /* The last round's greater version (the reverse thread's, hlc + 1) won
   * everywhere. */
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s WHERE n = 49", f->qtable), ==,
                   RACE_ROWS);
}

typedef struct
{
  Fixture *f;
  GBytes *set;
  GBytes *result;
  GError *error;
} Uploader;

static gpointer
upload (gpointer data)
{
  Uploader *u = data;
  u->result = carb_store_apply_changes (u->f->store, u->f->group, NULL, u->set, NULL, &u->error);
  return NULL;
}

/* A row inserted by another transaction while the apply inserts the same
 * id (a retried upload racing the first, a server job): the apply waits
 * for it, then merges with it instead of rejecting the row. */
static void
test_insert_race (Fixture *f, gconstpointer backend)
{
  create (f);
  /* Ahead of the server's clock (within the bound), so the replica's
   * title beats whatever version the other insert got. */
  guint64 ahead = ((guint64) (g_get_real_time () / 1000 + 60 * 1000)) << CARB_HLC_COUNTER_BITS;
  CarbChange batch[] = {
    ch (f, "q1", "owner", ahead, SITE_A, g_variant_new_string ("ann")),
    ch (f, "q1", "title", ahead, SITE_A, g_variant_new_string ("from the replica")),
  };
  Uploader u = { f, serialize (batch, G_N_ELEMENTS (batch)), NULL, NULL };
  test_db_exec (f->db,
                "BEGIN; INSERT INTO %s (id, owner, title, body) VALUES ('q1', 'ann', 'direct', 'kept')",
                f->qtable);
  GThread *thread = g_thread_new ("upload", upload, &u);
  g_usleep (300 * 1000); /* the apply is now waiting on the uncommitted id */
  test_db_exec (f->db, "COMMIT");
  g_thread_join (thread);
  g_assert_no_error (u.error);
  g_autoptr (GVariant) r
      = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (RESULT_TYPE), u.result, FALSE));
  g_assert_cmpuint (n_rejections (r), ==, 0);
  assert_cell (f, "q1", "title", "from the replica");
  assert_cell (f, "q1", "body", "kept");
  g_bytes_unref (u.set);
  g_bytes_unref (u.result);
}

static void
test_purge (Fixture *f, gconstpointer backend)
{
  create (f);
  guint64 b = f->base;
  g_autoptr (GError) error = NULL;
  CarbChange rows[] = {
    ch (f, "p1", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "p1", "title", b + 1, SITE_A, g_variant_new_string ("to delete")),
    ch (f, "p2", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "p2", "title", b + 1, SITE_A, g_variant_new_string ("kept")),
    ch (f, "p3", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "p3", "title", b + 1, SITE_A, g_variant_new_string ("deleted last")),
  };
  g_autoptr (GVariant) r1 = apply_ok (f, rows, G_N_ELEMENTS (rows));
  test_wait_clock_tick ();
  g_autoptr (CarbSyncPoint) old = NULL;
  g_autoptr (GBytes) first
      = carb_store_download_changes (f->store, f->group, NULL, 0, NULL, 0, &old, NULL, NULL, &error);
  g_assert_no_error (error);
  CarbChange del[] = { ch (f, "p1", "deleted", b + 5, SITE_A, g_variant_new_boolean (TRUE)) };
  g_autoptr (GVariant) r2 = apply_ok (f, del, 1);
  test_wait_clock_tick ();
  g_autoptr (CarbSyncPoint) mid = NULL;
  g_autoptr (GBytes) second
      = carb_store_download_changes (f->store, f->group, NULL, 0, old, 0, &mid, NULL, NULL, &error);
  g_assert_no_error (error);
  CarbChange del_last[] = { ch (f, "p3", "deleted", b + 6, SITE_A, g_variant_new_boolean (TRUE)) };
  g_autoptr (GVariant) r3 = apply_ok (f, del_last, 1);
  test_wait_clock_tick ();
  gint64 horizon = g_get_real_time ();
  test_wait_clock_tick ();

  /* p1's tombstone goes; p3's, of the newest stamp before the horizon,
   * stays: it is what tells an expired replica's poll. */
  guint64 n = 0;
  g_assert_true (carb_store_purge_tombstones (f->store, f->group, horizon, &n, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 1);
  g_assert_null (cell (f, "p1", "title"));
  assert_cell (f, "p2", "title", "kept");
  assert_cell (f, "p3", "title", "deleted last");
  /* The poll alone finds the old point's table changed. */
  gboolean changed = FALSE;
  const CarbModel *wire = carb_sync_group_get_wire_model (f->group, 0);
  const CarbSyncPoint *old_points[] = { old };
  g_assert_true (carb_store_poll (f->store, &wire, old_points, 1, &changed, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (changed);

  /* A point past p1's delete saw every purged tombstone: served, with
   * p3's. */
  g_autoptr (CarbSyncPoint) mid_next = NULL;
  g_autoptr (GBytes) third
      = carb_store_download_changes (f->store, f->group, NULL, 0, mid, 0, &mid_next, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (third);

  /* The old point may have missed the delete: expired. */
  g_autoptr (CarbSyncPoint) next = NULL;
  g_autoptr (GBytes) page
      = carb_store_download_changes (f->store, f->group, NULL, 0, old, 0, &next, NULL, NULL, &error);
  g_assert_null (page);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SYNC_POINT_EXPIRED);
  g_clear_error (&error);

  /* A rebuilt replica's point is past the horizon: served. */
  g_autoptr (CarbSyncPoint) fresh = NULL;
  g_autoptr (GBytes) full
      = carb_store_download_changes (f->store, f->group, NULL, 0, NULL, 0, &fresh, NULL, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (CarbSyncPoint) after = NULL;
  g_autoptr (GBytes) again
      = carb_store_download_changes (f->store, f->group, NULL, 0, fresh, 0, &after, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (again);

  /* A purge with an older horizon leaves the recorded one as it is. */
  g_assert_true (carb_store_purge_tombstones (f->store, f->group, horizon - 1000000, &n, &error));
  g_assert_no_error (error);
  g_autoptr (GBytes) still
      = carb_store_download_changes (f->store, f->group, NULL, 0, old, 0, &next, NULL, NULL, &error);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SYNC_POINT_EXPIRED);
}

static void
test_hostile (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (GError) error = NULL;
  static const guint8 garbage[] = { 0xff, 0x00, 0x13, 0x37, 0x01 };
  g_autoptr (GBytes) bad = g_bytes_new_static (garbage, sizeof garbage);
  g_autoptr (GBytes) r0 = carb_store_apply_changes (f->store, f->group, NULL, bad, NULL, &error);
  g_assert_null (r0);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_clear_error (&error);

  guint64 b = f->base;
  struct
  {
    const char *table, *column, *needle;
    GVariant *value;
  } cases[] = {
    { "nosuch", "title", "“nosuch”", g_variant_new_string ("x") },
    { NULL, "nosuch", "“nosuch”", g_variant_new_string ("x") },
    { NULL, "title", "“x”", g_variant_new_int64 (1) },
    { NULL, "ts", "“ts”", g_variant_new_int64 (1) },
    { NULL, "title__v", "“title__v”", g_variant_new_string ("x") },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      CarbChange batch[] = {
        ch (f, "h1", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
        ch (f, "h1", "title", b + 1, SITE_A, g_variant_new_string ("good")),
        ch (f, "h2", cases[i].column, b + 1, SITE_A, cases[i].value),
      };
      if (cases[i].table != NULL)
        batch[2].table = (char *) cases[i].table;
      g_autoptr (GVariant) r = apply_ctx (f, NULL, batch, G_N_ELEMENTS (batch), &error);
      g_assert_null (r);
      g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, cases[i].needle));
      g_clear_error (&error);
    }
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 0);

  /* A valid batch with bytes flipped: refused or applied, never a crash
   * (valgrind and ASan runs check the reads). */
  CarbChange good[] = {
    ch (f, "h3", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "h3", "title", b + 1, SITE_A, g_variant_new_string ("good")),
    ch (f, "h3", "n", b + 1, SITE_A, g_variant_new_int64 (3)),
  };
  g_autoptr (GBytes) set = serialize (good, G_N_ELEMENTS (good));
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (set, &len);
  g_autoptr (GRand) rand = g_rand_new_with_seed (12);
  guint refused = 0;
  for (guint i = 0; i < 300; i++)
    {
      g_autofree guint8 *copy = g_memdup2 (data, len);
      for (guint k = 0; k < 1 + i % 3; k++)
        copy[g_rand_int_range (rand, 0, (gint32) len)] ^= (guint8) g_rand_int_range (rand, 1, 256);
      g_autoptr (GBytes) mutated = g_bytes_new (copy, len);
      g_autoptr (GBytes) r = carb_store_apply_changes (f->store, f->group, NULL, mutated, NULL, &error);
      if (r == NULL)
        {
          g_assert_true (error->domain == CARB_ERROR);
          refused++;
        }
      g_clear_error (&error);
    }
  g_test_message ("%u of 300 mutated batches refused", refused);
  g_assert_cmpuint (refused, >, 0);
}

/* Every column type through an apply and back out of a download. */
/* Notes that an apply ran its batch again a row at a time (a bulk
 * statement the database refused). */
static void
note_redo (const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
  if (strstr (message, "savepoint per row") != NULL)
    *(gboolean *) data = TRUE;
}

static void
test_types (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *table = g_strdup_printf ("%s_types", f->table);
  g_autofree char *qtable = test_db_quote (table);
  g_autoptr (CarbModel) m = carb_model_new (NULL, table);
  static const struct
  {
    const char *name;
    CarbColumnType type;
  } cols[] = {
    { "i16", CARB_COLUMN_TYPE_INT16 },    { "i32", CARB_COLUMN_TYPE_INT32 },
    { "i64", CARB_COLUMN_TYPE_INT64 },    { "f32", CARB_COLUMN_TYPE_FLOAT },
    { "f64", CARB_COLUMN_TYPE_DOUBLE },   { "b", CARB_COLUMN_TYPE_BOOL },
    { "at", CARB_COLUMN_TYPE_TIMESTAMP }, { "day", CARB_COLUMN_TYPE_DATE },
    { "u", CARB_COLUMN_TYPE_UUID },       { "j", CARB_COLUMN_TYPE_JSON },
    { "by", CARB_COLUMN_TYPE_BYTES },     { "num", CARB_COLUMN_TYPE_NUMERIC },
  };
  g_assert_true (carb_model_add_column (m, "id", CARB_COLUMN_TYPE_UUID, CARB_COLUMN_ROLE_ID, 0, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (cols); i++)
    g_assert_true (carb_model_add_column (m, cols[i].name, cols[i].type, 0, 0, NULL));
  g_assert_true (
      carb_model_add_column (m, "deleted", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DELETED, 0, NULL));
  g_assert_true (
      carb_model_add_column (m, "ts", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_TIMESTAMP, 0, NULL));
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("types");
  g_assert_true (carb_sync_group_add_model (group, m, &error));
  g_assert_true (carb_store_create_table (f->store, carb_sync_group_get_wire_model (group, 0), &error));
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_group (f->store, group, &error));
  g_assert_no_error (error);

  static const guint8 blob[] = { 0, 1, 255 };
  GVariant *values[G_N_ELEMENTS (cols)] = {
    g_variant_new_int16 (-7),
    g_variant_new_int32 (G_MAXINT32),
    g_variant_new_int64 (G_MININT64 + 1),
    g_variant_new_double (1.5),
    g_variant_new_double (0.1),
    g_variant_new_boolean (TRUE),
    g_variant_new_int64 (G_GINT64_CONSTANT (1700000000123456)),
    g_variant_new_int32 (19000),
    g_variant_new_string ("0e7f2b4c-1d2e-4f3a-8b9c-0d1e2f3a4b5c"),
    g_variant_new_string ("{\"a\": [1, \"x\"]}"),
    g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, blob, sizeof blob, 1),
    g_variant_new_string ("12345678901234567890.50"),
  };
  const char *id = "5a0c7e1e-8f1d-4b7e-9a55-3f0b6d2c9e10";
  CarbChange changes[G_N_ELEMENTS (cols)];
  for (guint i = 0; i < G_N_ELEMENTS (cols); i++)
    changes[i] = (CarbChange){
      table, (char *) id, (char *) cols[i].name, { f->base + i, SITE_A }, g_variant_ref_sink (values[i])
    };
  g_autoptr (GBytes) set = carb_changeset_serialize (changes, G_N_ELEMENTS (changes));
  g_autoptr (GBytes) result = carb_store_apply_changes (f->store, group, NULL, set, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GVariant) r
      = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (RESULT_TYPE), result, FALSE));
  g_assert_cmpuint (n_rejections (r), ==, 0);

  g_autoptr (CarbSyncPoint) until = NULL;
  g_autoptr (GBytes) page
      = carb_store_download_changes (f->store, group, NULL, 0, NULL, 0, &until, NULL, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GArray) got = carb_changeset_parse (page, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (got->len, ==, G_N_ELEMENTS (cols) + 1);
  for (guint i = 0; i < G_N_ELEMENTS (cols); i++)
    {
      const CarbChange *c = &g_array_index (got, CarbChange, i);
      g_assert_cmpstr (c->row_id, ==, id);
      g_assert_cmpstr (c->column, ==, cols[i].name);
      g_assert_cmpuint (c->version.hlc, ==, f->base + i);
      g_autofree char *want = g_variant_print (changes[i].value, TRUE);
      g_autofree char *have = c->value != NULL ? g_variant_print (c->value, TRUE) : g_strdup ("NULL");
      g_assert_cmpstr (have, ==, want);
    }
  for (guint i = 0; i < G_N_ELEMENTS (changes); i++)
    g_variant_unref (changes[i].value);
  /* The answer's row (written from the RETURNING rows, without GVariants)
   * is exactly the download's, every type and version alike. */
  g_autoptr (GVariant) page_v
      = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("(ua(ssa(s(tt)mv)))"), page, FALSE));
  g_autoptr (GVariant) page_rows = g_variant_get_child_value (page_v, 1);
  g_autoptr (GVariant) page_row = g_variant_get_child_value (page_rows, 0);
  g_autoptr (GVariant) answer_rows = g_variant_get_child_value (r, 2);
  g_autoptr (GVariant) answer_row = g_variant_get_child_value (answer_rows, 0);
  g_assert_true (g_variant_equal (answer_row, page_row));

  /* A value the database normalizes (0.1 in a FLOAT column is stored as
   * the nearest single-precision number): the answer holds what is
   * stored, exactly as a download gives it, not what was sent. */
  CarbChange tenth = { table, (char *) id, "f32", { f->base + 100, SITE_A }, g_variant_new_double (0.1) };
  g_autoptr (GBytes) set2 = carb_changeset_serialize (&tenth, 1);
  g_autoptr (GBytes) result2 = carb_store_apply_changes (f->store, group, NULL, set2, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GVariant) r2
      = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (RESULT_TYPE), result2, FALSE));
  g_autoptr (CarbSyncPoint) until2 = NULL;
  g_autoptr (GBytes) page2
      = carb_store_download_changes (f->store, group, NULL, 0, until, 0, &until2, NULL, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GArray) got2 = carb_changeset_parse (page2, &error);
  g_assert_no_error (error);
  g_autoptr (GVariant) rows = g_variant_get_child_value (r2, 2);
  g_assert_cmpuint (g_variant_n_children (rows), ==, 1);
  g_autoptr (GVariant) state = g_variant_get_child_value (rows, 0);
  g_autoptr (GVariant) columns = g_variant_get_child_value (state, 2);
  g_assert_cmpuint (g_variant_n_children (columns), ==, got2->len);
  for (guint i = 0; i < got2->len; i++)
    {
      const CarbChange *c = &g_array_index (got2, CarbChange, i);
      const char *name = NULL;
      guint64 hlc = 0, site = 0;
      g_autoptr (GVariant) maybe = NULL;
      g_variant_get_child (columns, i, "(&s(tt)@mv)", &name, &hlc, &site, &maybe);
      g_assert_cmpstr (name, ==, c->column);
      g_assert_cmpuint (hlc, ==, c->version.hlc);
      g_autoptr (GVariant) boxed = g_variant_get_maybe (maybe);
      g_autoptr (GVariant) value = boxed != NULL ? g_variant_get_variant (boxed) : NULL;
      g_autofree char *answered = value != NULL ? g_variant_print (value, TRUE) : g_strdup ("NULL");
      g_autofree char *downloaded = c->value != NULL ? g_variant_print (c->value, TRUE) : g_strdup ("NULL");
      g_assert_cmpstr (answered, ==, downloaded);
      if (g_strcmp0 (c->column, "f32") == 0 && test_db_is_postgres (f->db))
        g_assert_cmpstr (downloaded, !=, "0.10000000000000001"); /* it was normalized */
    }

  /* Every column of the existing row again (an update of every type,
   * PostgreSQL's typed by the table), then NULL where it may be: the
   * answers are the downloads. */
  static const guint8 blob2[] = { 9 };
  GVariant *again[G_N_ELEMENTS (cols)] = {
    g_variant_new_int16 (G_MAXINT16),
    g_variant_new_int32 (-1),
    g_variant_new_int64 (7),
    g_variant_new_double (-2.5),
    g_variant_new_double (1e300),
    g_variant_new_boolean (FALSE),
    g_variant_new_int64 (G_GINT64_CONSTANT (1600000000000001)),
    g_variant_new_int32 (-3),
    g_variant_new_string ("ffffffff-1d2e-4f3a-8b9c-0d1e2f3a4b5c"),
    g_variant_new_string ("[]"),
    g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, blob2, sizeof blob2, 1),
    g_variant_new_string ("-0.001"),
  };
  CarbChange next[G_N_ELEMENTS (cols)];
  for (guint i = 0; i < G_N_ELEMENTS (cols); i++)
    next[i] = (CarbChange){
      table, (char *) id, (char *) cols[i].name, { f->base + 200 + i, SITE_A }, g_variant_ref_sink (again[i])
    };
  g_autoptr (GBytes) set3 = carb_changeset_serialize (next, G_N_ELEMENTS (next));
  for (guint i = 0; i < G_N_ELEMENTS (next); i++)
    g_variant_unref (next[i].value);
  gboolean redone = FALSE;
  guint handler = g_log_set_handler ("Carburetor", G_LOG_LEVEL_DEBUG, note_redo, &redone);
  g_autoptr (GBytes) result3 = carb_store_apply_changes (f->store, group, NULL, set3, NULL, &error);
  g_log_remove_handler ("Carburetor", handler);
  g_assert_no_error (error);
  /* The bulk write itself took every type (no second run a row at a
   * time). */
  g_assert_false (redone);
  g_autoptr (GVariant) r3
      = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (RESULT_TYPE), result3, FALSE));
  g_assert_cmpuint (n_rejections (r3), ==, 0);
  g_autoptr (CarbSyncPoint) none = NULL;
  g_autoptr (GBytes) page3
      = carb_store_download_changes (f->store, group, NULL, 0, NULL, 0, &none, NULL, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GVariant) page3_v
      = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("(ua(ssa(s(tt)mv)))"), page3, FALSE));
  g_autoptr (GVariant) page3_rows = g_variant_get_child_value (page3_v, 1);
  g_autoptr (GVariant) page3_row = g_variant_get_child_value (page3_rows, 0);
  g_autoptr (GVariant) r3_rows = g_variant_get_child_value (r3, 2);
  g_autoptr (GVariant) r3_row = g_variant_get_child_value (r3_rows, 0);
  g_assert_true (g_variant_equal (r3_row, page3_row));
  g_autofree char *printed = g_variant_print (r3_row, FALSE);
  g_assert_nonnull (strstr (printed, "ffffffff-1d2e-4f3a-8b9c-0d1e2f3a4b5c"));
  g_assert_nonnull (strstr (printed, "32767"));
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TABLE %s", qtable);
}

static void
test_app_transaction (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_execute (f->store, "BEGIN", &error));
  CarbChange batch[] = {
    ch (f, "t1", "owner", f->base, SITE_A, g_variant_new_string ("ann")),
    ch (f, "t1", "title", f->base, SITE_A, g_variant_new_string ("inside")),
  };
  g_autoptr (GVariant) r = apply_ctx (f, NULL, batch, 2, &error);
  g_assert_null (r);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_IN_TRANSACTION);
  g_clear_error (&error);
  /* The application's transaction was left open, as it was. */
  g_assert_true (carb_store_execute (f->store, "ROLLBACK", &error));
  g_assert_no_error (error);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 0);
}

static void
test_download (Fixture *f, gconstpointer backend)
{
  create (f);
  g_autoptr (GError) error = NULL;
  /* A row written past the library (no versions at all on a backend
   * without the versioning trigger). */
  test_db_exec (f->db, "INSERT INTO %s (id, owner, title) VALUES ('w1', 'ann', 'bypass')", f->qtable);
  CarbChange rows[] = {
    ch (f, "w2", "owner", f->base + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "w2", "title", f->base + 2, SITE_B, g_variant_new_string ("versioned")),
  };
  g_autoptr (GVariant) r = apply_ok (f, rows, 2);
  test_wait_clock_tick ();
  g_autoptr (CarbSyncPoint) until = NULL;
  gboolean more = TRUE;
  g_autoptr (GBytes) page
      = carb_store_download_changes (f->store, f->group, NULL, 0, NULL, 0, &until, &more, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (more);
  g_assert_nonnull (until);
  g_autoptr (GArray) changes = carb_changeset_parse (page, &error);
  g_assert_no_error (error);
  /* Two rows × (owner, title, body, n, deleted). */
  g_assert_cmpuint (changes->len, ==, 10);
  gboolean seen_title = FALSE, seen_body = FALSE;
  for (guint i = 0; i < changes->len; i++)
    {
      const CarbChange *c = &g_array_index (changes, CarbChange, i);
      if (strcmp (c->row_id, "w2") == 0 && strcmp (c->column, "title") == 0)
        {
          g_assert_cmpuint (c->version.hlc, ==, f->base + 2);
          g_assert_cmpuint (c->version.site, ==, SITE_B);
          g_assert_cmpstr (g_variant_get_string (c->value, NULL), ==, "versioned");
          seen_title = TRUE;
        }
      if (strcmp (c->row_id, "w2") == 0 && strcmp (c->column, "body") == 0)
        {
          g_assert_cmpuint (c->version.hlc, ==, 0);
          g_assert_null (c->value);
          seen_body = TRUE;
        }
    }
  g_assert_true (seen_title && seen_body);
  /* From the point: nothing new. */
  g_autoptr (CarbSyncPoint) next = NULL;
  g_autoptr (GBytes) empty
      = carb_store_download_changes (f->store, f->group, NULL, 0, until, 0, &next, &more, NULL, &error);
  g_assert_no_error (error);
  g_autoptr (GArray) none = carb_changeset_parse (empty, &error);
  g_assert_cmpuint (none->len, ==, 0);
}

/* A FLOAT beyond gfloat's range (from a client other than the library's
 * replica, which refuses it) rejects its row, on every backend: SQLite
 * stored it and then could not read it back, failing the whole batch,
 * every time the replica sent it again. */
static void
test_float_range (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *table = g_strconcat (f->table, "_fl", NULL);
  g_autoptr (CarbModel) model = carb_model_new (NULL, table);
  g_assert_true (carb_model_add_column (model, "id", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_ID, 0, NULL));
  g_assert_true (
      carb_model_add_column (model, "f32", CARB_COLUMN_TYPE_FLOAT, CARB_COLUMN_ROLE_DATA, 0, NULL));
  g_assert_true (
      carb_model_add_column (model, "deleted", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DELETED, 0, NULL));
  g_assert_true (
      carb_model_add_column (model, "ts", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_TIMESTAMP, 0, NULL));
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("fl");
  g_assert_true (carb_sync_group_add_model (group, model, &error));
  g_assert_true (carb_store_create_table (f->store, carb_sync_group_get_wire_model (group, 0), &error));
  g_assert_true (carb_store_prepare_group (f->store, group, &error));
  g_assert_no_error (error);
  CarbChange changes[] = {
    { table, "big", "f32", { f->base, SITE_A }, g_variant_ref_sink (g_variant_new_double (1e300)) },
    { table, "big", "deleted", { f->base, SITE_A }, g_variant_ref_sink (g_variant_new_boolean (FALSE)) },
    { table, "fine", "f32", { f->base, SITE_A }, g_variant_ref_sink (g_variant_new_double (1.5)) },
    { table, "fine", "deleted", { f->base, SITE_A }, g_variant_ref_sink (g_variant_new_boolean (FALSE)) },
  };
  g_autoptr (GBytes) set = serialize (changes, G_N_ELEMENTS (changes));
  g_autoptr (GBytes) bytes = carb_store_apply_changes (f->store, group, NULL, set, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (bytes);
  g_autoptr (GVariant) result
      = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (RESULT_TYPE), bytes, FALSE));
  g_assert_cmpuint (n_rejections (result), ==, 1);
  const char *row = NULL, *column = NULL, *message = NULL;
  rejection (result, 0, &row, &column, &message);
  g_assert_cmpstr (row, ==, "big");
  g_autofree char *q = test_db_quote (table);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", q), ==, 1);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s WHERE id = 'fine'", q), ==, 1);
  if (test_db_is_postgres (f->db))
    test_db_exec (f->db, "DROP TABLE %s", q);
}

/* A write that waits for a lock past the session's lock_timeout (here
 * on a title another transaction inserted and has not committed) fails
 * for now, not for good: the apply fails with CARB_ERROR_BUSY and nothing
 * applied, so the replica uploads again. It was a rejection of the row,
 * which the replica takes as final and drops its insert. */
static void
test_lock_timeout (Fixture *f, gconstpointer backend)
{
  create (f);
  test_db_exec (f->db, "CREATE UNIQUE INDEX %s_title ON %s (title)", f->table, f->qtable);
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_execute (f->store, "SET lock_timeout = 200", &error));
  g_assert_no_error (error);
  test_db_exec (f->db, "BEGIN; INSERT INTO %s (id, owner, title) VALUES ('held', 'ann', 'dup')", f->qtable);
  guint64 b = f->base;
  CarbChange batch[] = {
    ch (f, "w1", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "w1", "title", b + 1, SITE_A, g_variant_new_string ("dup")),
    ch (f, "w2", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "w2", "title", b + 1, SITE_A, g_variant_new_string ("free")),
  };
  CarbChange again[G_N_ELEMENTS (batch)];
  memcpy (again, batch, sizeof batch);
  for (gsize i = 0; i < G_N_ELEMENTS (again); i++)
    g_variant_ref (again[i].value);
  g_autoptr (GVariant) r = apply_ctx (f, NULL, batch, G_N_ELEMENTS (batch), &error);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_BUSY);
  g_assert_null (r);
  g_clear_error (&error);
  test_db_exec (f->db, "ROLLBACK");
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 0);
  /* The same batch again, the lock gone: both rows go in. */
  g_autoptr (GVariant) r2 = apply_ok (f, again, G_N_ELEMENTS (again));
  g_assert_cmpuint (n_rejections (r2), ==, 0);
  assert_cell (f, "w1", "title", "dup");
  assert_cell (f, "w2", "title", "free");
}

/* A deferred constraint (here a foreign key checked at COMMIT) that one
 * row violates rejects that row, and the rest of the batch is applied. It
 * failed the COMMIT, so the whole batch, every time the replica uploaded
 * it: one bad row kept every later edit of the replica from the server. */
static void
test_deferred (Fixture *f, gconstpointer backend)
{
  create (f);
  test_db_exec (f->db,
                "ALTER TABLE %s ADD FOREIGN KEY (body) REFERENCES %s (id) DEFERRABLE INITIALLY DEFERRED",
                f->qtable, f->qtable);
  guint64 b = f->base;
  CarbChange batch[] = {
    ch (f, "p1", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "p1", "title", b + 1, SITE_A, g_variant_new_string ("parent")),
    ch (f, "p2", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "p2", "title", b + 1, SITE_A, g_variant_new_string ("child")),
    ch (f, "p2", "body", b + 1, SITE_A, g_variant_new_string ("p1")),
    ch (f, "p3", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "p3", "title", b + 1, SITE_A, g_variant_new_string ("orphan")),
    ch (f, "p3", "body", b + 1, SITE_A, g_variant_new_string ("nowhere")),
  };
  g_autoptr (GVariant) r = apply_ok (f, batch, G_N_ELEMENTS (batch));
  g_assert_cmpuint (n_rejections (r), ==, 1);
  const char *row, *column, *message;
  rejection (r, 0, &row, &column, &message);
  g_assert_cmpstr (row, ==, "p3");
  g_assert_nonnull (strstr (message, "refused"));
  assert_cell (f, "p1", "title", "parent");
  assert_cell (f, "p2", "body", "p1");
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 2);
}

/* An hlc above G_MAXINT64 has no text form of 19 digits: stored, it was a
 * malformed version, read as the lowest, so the server answered (0, 0)
 * for a value the replica kept with its own version, and any older write
 * won the column. It is refused as malformed even where the clock bound
 * would let it through (a group with the bound turned off). */
static void
test_hlc_range (Fixture *f, gconstpointer backend)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_sync_group_set_max_clock_ahead (f->group, G_MAXINT64, &error));
  g_assert_no_error (error);
  create (f);
  guint64 top = (guint64) G_MAXINT64;
  CarbChange batch[] = {
    ch (f, "m1", "owner", f->base, SITE_A, g_variant_new_string ("ann")),
    ch (f, "m1", "title", top + 1, SITE_A, g_variant_new_string ("beyond")),
  };
  g_autoptr (GVariant) r = apply_ctx (f, NULL, batch, G_N_ELEMENTS (batch), &error);
  g_assert_null (r);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "“title”"));
  g_clear_error (&error);
  g_assert_cmpint (test_db_query_int (f->db, "SELECT count(*) FROM %s", f->qtable), ==, 0);
  /* The greatest hlc there is goes in, with its version as sent. */
  CarbChange edge[] = {
    ch (f, "m1", "owner", f->base, SITE_A, g_variant_new_string ("ann")),
    ch (f, "m1", "title", top, SITE_A, g_variant_new_string ("edge")),
  };
  g_autoptr (GVariant) r2 = apply_ok (f, edge, G_N_ELEMENTS (edge));
  g_assert_cmpuint (n_rejections (r2), ==, 0);
  g_autofree char *v = version_text (top, SITE_A);
  assert_cell (f, "m1", "title__v", v);
}

/* A write the database refuses for a reason of its own, not the row's,
 * fails the apply with nothing applied: a role without the INSERT
 * privilege (PostgreSQL), a database full (SQLite's max_page_count; a
 * full disk is the same). It rejected every new row of the batch, and
 * each replica then dropped its inserts for good. */
static void
test_server_fault (Fixture *f, gconstpointer backend)
{
  create (f);
  gboolean pg = test_db_is_postgres (f->db);
  g_autoptr (GError) error = NULL;
  g_autofree char *role = g_strdup_printf ("carb_noinsert_%d", (int) getpid ());
  guint64 b = f->base;
  /* One row there already, so that the fault hits the insert only. */
  CarbChange first[] = {
    ch (f, "f0", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "f0", "title", b + 1, SITE_A, g_variant_new_string ("zero")),
  };
  g_autoptr (GVariant) r0 = apply_ok (f, first, G_N_ELEMENTS (first));
  if (pg)
    {
      test_db_exec (f->db, "DROP ROLE IF EXISTS %s; CREATE ROLE %s NOLOGIN; GRANT SELECT, UPDATE ON %s TO %s",
                    role, role, f->qtable, role);
      g_autofree char *set_role = g_strdup_printf ("SET ROLE %s", role);
      g_assert_true (carb_store_execute (f->store, set_role, &error));
    }
  else
    {
      gint64 pages = test_db_query_int (f->db, "PRAGMA page_count");
      g_autofree char *full = g_strdup_printf ("PRAGMA max_page_count = %" G_GINT64_FORMAT, pages);
      g_assert_true (carb_store_execute (f->store, full, &error));
    }
  g_assert_no_error (error);
  GString *big = g_string_new (NULL);
  for (guint i = 0; i < 20000; i++)
    g_string_append_c (big, 'a' + i % 26);
  CarbChange batch[] = {
    ch (f, "f1", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "f1", "title", b + 1, SITE_A, g_variant_new_string ("one")),
    ch (f, "f1", "body", b + 1, SITE_A, g_variant_new_string (big->str)),
    ch (f, "f2", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "f2", "title", b + 1, SITE_A, g_variant_new_string ("two")),
    ch (f, "f2", "body", b + 1, SITE_A, g_variant_new_string (big->str)),
  };
  g_string_free (big, TRUE);
  CarbChange again[G_N_ELEMENTS (batch)];
  memcpy (again, batch, sizeof batch);
  for (gsize i = 0; i < G_N_ELEMENTS (again); i++)
    g_variant_ref (again[i].value);
  g_autoptr (GVariant) r = apply_ctx (f, NULL, batch, G_N_ELEMENTS (batch), &error);
  if (r != NULL)
    g_test_message ("%zu rejections", n_rejections (r));
  g_assert_null (r);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_assert_true (
      carb_store_execute (f->store, pg ? "RESET ROLE" : "PRAGMA max_page_count = 1073741823", &error));
  g_assert_no_error (error);
  if (pg)
    test_db_exec (f->db, "REVOKE ALL ON %s FROM %s; DROP ROLE %s", f->qtable, role, role);
  g_autoptr (GVariant) r2 = apply_ok (f, again, G_N_ELEMENTS (again));
  g_assert_cmpuint (n_rejections (r2), ==, 0);
  assert_cell (f, "f1", "title", "one");
  assert_cell (f, "f2", "title", "two");
  if (!pg)
    return;
  /* A trigger of the application's that names a table since dropped
   * fails every write alike (SQLSTATE 42P01): the apply fails, nothing
   * rejected. */
  test_db_exec (
      f->db,
      "CREATE TABLE %s_audit (id text); CREATE FUNCTION %s_audit () RETURNS trigger LANGUAGE plpgsql "
      "AS $$ BEGIN INSERT INTO %s_audit VALUES (NEW.id); RETURN NEW; END $$; CREATE TRIGGER audit "
      "AFTER UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %s_audit (); DROP TABLE %s_audit",
      f->table, f->table, f->table, f->qtable, f->table, f->table);
  CarbChange edit[] = { ch (f, "f1", "title", b + 2, SITE_A, g_variant_new_string ("edited")) };
  g_autoptr (GVariant) r3 = apply_ctx (f, NULL, edit, G_N_ELEMENTS (edit), &error);
  if (r3 != NULL)
    g_test_message ("%zu rejections", n_rejections (r3));
  g_assert_null (r3);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_QUERY);
  g_assert_nonnull (strstr (error->message, "_audit"));
  assert_cell (f, "f1", "title", "one");
  test_db_exec (f->db, "DROP TRIGGER audit ON %s; DROP FUNCTION %s_audit ()", f->qtable, f->table);
}

/* Bypass writes racing with applies: an administrator's UPDATEs of two
 * rows on their own connection while another thread applies batches of
 * older versions of the same rows. Every bypass write beats every
 * version the race applies (they are a second old), so those rows end
 * with the last bypass value, and every other row with the last batch. */
typedef struct
{
  Fixture *f;
  CarbStore *store;
  guint rounds;
  GError *error;
  guint rejected;
} Applier;

static gpointer
apply_rounds (gpointer data)
{
  Applier *ap = data;
  Fixture *f = ap->f;
  for (guint round = 0; round < ap->rounds && ap->error == NULL; round++)
    {
      CarbChange changes[2 * RACE_ROWS];
      char names[RACE_ROWS][8];
      for (guint i = 0; i < RACE_ROWS; i++)
        {
          g_snprintf (names[i], sizeof names[i], "x%02u", i);
          changes[2 * i] = ch (f, names[i], "n", f->base + round + 1, SITE_A, g_variant_new_int64 (round));
          changes[2 * i + 1]
              = ch (f, names[i], "title", f->base + round + 1, SITE_A, g_variant_new_string ("applied"));
        }
      g_autoptr (GBytes) set = serialize (changes, 2 * RACE_ROWS);
      g_autoptr (GBytes) bytes = carb_store_apply_changes (ap->store, f->group, NULL, set, NULL, &ap->error);
      if (bytes == NULL)
        break;
      g_autoptr (GVariant) r
          = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (RESULT_TYPE), bytes, FALSE));
      ap->rejected += n_rejections (r);
    }
  return NULL;
}

/* An insert retried (its answer was lost) after an administrator changed
 * an immutable column by hand: the retry carries the column's first value
 * with its first version, older than the stored one, so it loses like any
 * stale write and is no rejection. It was one, which dropped the edit
 * sent with the retry, on the server and on the replica. */
static void
test_immutable_stale (Fixture *f, gconstpointer backend)
{
  g_assert_true (carb_sync_group_set_immutable (f->group, f->table, "owner", NULL));
  create (f);
  guint64 b = f->base;
  CarbChange insert[] = {
    ch (f, "i1", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "i1", "title", b + 1, SITE_A, g_variant_new_string ("mine")),
  };
  g_autoptr (GVariant) r1 = apply_ok (f, insert, 2);
  g_assert_cmpuint (n_rejections (r1), ==, 0);
  test_db_exec (f->db, "UPDATE %s SET owner = 'carl' WHERE id = 'i1'", f->qtable);
  CarbChange retry[] = {
    ch (f, "i1", "owner", b + 1, SITE_A, g_variant_new_string ("ann")),
    ch (f, "i1", "title", b + 5, SITE_A, g_variant_new_string ("edited")),
  };
  g_autoptr (GVariant) r2 = apply_ok (f, retry, 2);
  g_assert_cmpuint (n_rejections (r2), ==, 0);
  assert_cell (f, "i1", "owner", "carl");
  assert_cell (f, "i1", "title", "edited");
  /* A version above the stored one with another value is a change,
   * refused. */
  guint64 ahead = ((guint64) (g_get_real_time () / 1000 + 60 * 1000)) << CARB_HLC_COUNTER_BITS;
  CarbChange change[] = {
    ch (f, "i1", "owner", ahead, SITE_A, g_variant_new_string ("bob")),
    ch (f, "i1", "title", ahead, SITE_A, g_variant_new_string ("stolen")),
  };
  g_autoptr (GVariant) r3 = apply_ok (f, change, 2);
  g_assert_cmpuint (n_rejections (r3), ==, 1);
  assert_cell (f, "i1", "owner", "carl");
  assert_cell (f, "i1", "title", "edited");
}

static void
test_bypass_race (Fixture *f, gconstpointer backend)
{
  create (f);
  GString *insert = g_string_new (NULL);
  for (guint i = 0; i < RACE_ROWS; i++)
    g_string_append_printf (insert,
                            "INSERT INTO %s (id, owner, title, n__v, title__v) VALUES ('x%02u', 'ann', 't', "
                            "'%035d', '%035d');",
                            f->qtable, i, 0, 0);
  test_db_exec (f->db, "%s", insert->str);
  g_string_free (insert, TRUE);
  g_autoptr (GError) error = NULL;
  Applier ap = { f, carb_store_open (f->uri, &error), 40, NULL, 0 };
  g_assert_no_error (error);
  GThread *thread = g_thread_new ("applier", apply_rounds, &ap);
  for (guint k = 1; k <= 60; k++)
    {
      test_db_exec (f->db, "UPDATE %s SET n = %u WHERE id = 'x05'", f->qtable, 1000 + k);
      test_db_exec (f->db, "UPDATE %s SET title = 'admin %u' WHERE id = 'x07'", f->qtable, k);
      g_usleep (1000);
    }
  g_thread_join (thread);
  g_assert_no_error (ap.error);
  g_object_unref (ap.store);
  g_assert_cmpuint (ap.rejected, ==, 0);
  assert_cell (f, "x05", "n", "1060");
  assert_cell (f, "x07", "title", "admin 60");
  assert_cell (f, "x05", "title", "applied");
  assert_cell (f, "x07", "n", "39");
  assert_cell (f, "x06", "n", "39");
  /* The bypass versions are the server's (site 0), each above the last. */
  g_autofree char *v = cell (f, "x05", "n__v");
  g_assert_true (g_str_has_suffix (v, "0000000000000000"));
  g_autofree char *last = version_text (f->base + 40, SITE_A);
  g_assert_cmpstr (v, >, last);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  static const TestCase tests[] = {
    TEST_CASE ("create-wire", test_create_wire),
    TEST_CASE ("lww", test_lww),
    TEST_CASE ("duplicate", test_duplicate),
    TEST_CASE ("clock-ahead", test_clock_ahead),
    TEST_CASE ("immutable", test_immutable),
    TEST_CASE ("filter", test_filter),
    TEST_CASE ("validate", test_validate),
    TEST_CASE ("constraint", test_constraint),
    TEST_CASE ("deadlock", test_deadlock),
    TEST_CASE ("purge", test_purge),
    TEST_CASE ("hostile", test_hostile),
    TEST_CASE ("download", test_download),
    TEST_CASE ("app-transaction", test_app_transaction),
    TEST_CASE ("types", test_types),
    TEST_CASE ("float-range", test_float_range),
    TEST_CASE_ON ("postgres", "insert-race", test_insert_race),
    TEST_CASE_ON ("postgres", "lock-timeout", test_lock_timeout),
    TEST_CASE_ON ("postgres", "deferred", test_deferred),
    TEST_CASE ("hlc-range", test_hlc_range),
    TEST_CASE ("server-fault", test_server_fault),
    TEST_CASE ("bypass-race", test_bypass_race),
    TEST_CASE ("immutable-stale", test_immutable_stale),
  };
  test_add_per_backend ("apply", sizeof (Fixture), (GTestFixtureFunc) fixture_set_up, tests,
                        G_N_ELEMENTS (tests), (GTestFixtureFunc) fixture_tear_down);
  return g_test_run ();
}
