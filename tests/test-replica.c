/* The client replica (docs/TWOWAY.md): local writes in a SQLite file the
 * application can read, versions, the pending queue, acknowledging an
 * upload, merging downloads, rebuild, clock correction and rejections.
 * Server answers are built here as the server's format defines them.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

typedef struct
{
  char *id;
  char *name;
  gboolean deleted;
  gint64 ts;
} List;

CARB_DEFINE_STATIC_MODEL (list_model,
                          List,
                          NULL,
                          "lists",
                          CARB_ID (List, id, TEXT),
                          CARB_COLUMN (List, name, TEXT),
                          CARB_DELETED (List, deleted),
                          CARB_TIMESTAMP (List, ts));

typedef struct
{
  char *id;
  char *list;
  char *title;
  char *body;
  gint64 n;
  gboolean deleted;
  gint64 ts;
} Note;

CARB_DEFINE_STATIC_MODEL (note_model,
                          Note,
                          NULL,
                          "notes",
                          CARB_ID (Note, id, UUID),
                          CARB_COLUMN (Note, list, TEXT),
                          CARB_COLUMN (Note, title, TEXT),
                          CARB_COLUMN_NULLABLE (Note, body, TEXT),
                          CARB_COLUMN (Note, n, INT64),
                          CARB_DELETED (Note, deleted),
                          CARB_TIMESTAMP (Note, ts));

typedef struct
{
  char *dir;
  char *path;
  CarbReplica *replica;
} Fixture;

static CarbReplica *
open_replica (const char *path, const char *group_name, GError **error)
{
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new (group_name);
  g_assert_true (carb_sync_group_add_model (group, &list_model, NULL));
  g_assert_true (carb_sync_group_add_model (group, &note_model, NULL));
  g_assert_true (carb_sync_group_set_immutable (group, "notes", "list", NULL));
  return carb_replica_open (path, group, error);
}

static void
set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  f->dir = g_dir_make_tmp ("carb-replica-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "replica.db", NULL);
  f->replica = open_replica (f->path, "app", &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->replica);
}

static void
tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->replica);
  g_autoptr (GDir) dir = g_dir_open (f->dir, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *file = g_build_filename (f->dir, name, NULL);
      g_unlink (file);
    }
  g_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->path);
}

/* What an application sees with plain SQL on the file, from another
 * connection: the first column of the first row as text ("" for none). */
static char *
sql_text (const char *path, const char *query)
{
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2 (db, query, -1, &stmt, NULL) != SQLITE_OK)
    g_error ("%s: %s", query, sqlite3_errmsg (db));
  char *text = g_strdup (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_text (stmt, 0) != NULL
                             ? (const char *) sqlite3_column_text (stmt, 0)
                             : "");
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return text;
}

static gint64
sql_int (const char *path, const char *query)
{
  g_autofree char *text = sql_text (path, query);
  return g_ascii_strtoll (text, NULL, 10);
}

static char *
insert_note (CarbReplica *replica, const char *title)
{
  g_autoptr (GError) error = NULL;
  GVariantDict row;
  g_variant_dict_init (&row, NULL);
  g_variant_dict_insert (&row, "list", "s", "inbox");
  g_variant_dict_insert (&row, "title", "s", title);
  g_variant_dict_insert (&row, "n", "x", (gint64) 1);
  char *id = carb_replica_insert (replica, "notes", g_variant_dict_end (&row), &error);
  g_assert_no_error (error);
  g_assert_nonnull (id);
  return id;
}

static void
update_title (CarbReplica *replica, const char *id, const char *title)
{
  g_autoptr (GError) error = NULL;
  GVariantDict changes;
  g_variant_dict_init (&changes, NULL);
  g_variant_dict_insert (&changes, "title", "s", title);
  g_assert_true (carb_replica_update (replica, "notes", id, g_variant_dict_end (&changes), &error));
  g_assert_no_error (error);
}

static CarbVersion
version_of (CarbReplica *replica, const char *table, const char *id, const char *column)
{
  g_autoptr (GError) error = NULL;
  CarbVersion v = { 0, 0 };
  g_assert_true (carb_replica_get_version (replica, table, id, column, &v, &error));
  g_assert_no_error (error);
  return v;
}

static char *
row_string (CarbReplica *replica, const char *table, const char *id, const char *column)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) row = carb_replica_get_row (replica, table, id, &error);
  g_assert_no_error (error);
  g_assert_nonnull (row);
  g_autoptr (GVariant) value = g_variant_lookup_value (row, column, NULL);
  g_assert_nonnull (value);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_MAYBE))
    return NULL;
  return g_variant_dup_string (value, NULL);
}

/* The apply result of a server that took every change as sent: the merged
 * rows are the sent columns with their versions. */
static GBytes *
make_answer (guint64 server_hlc, GBytes *merged_changeset, GVariant *rejections)
{
  GVariant *rows;
  if (merged_changeset != NULL)
    {
      g_autoptr (GVariant) set = g_variant_ref_sink (
          g_variant_new_from_bytes (G_VARIANT_TYPE ("(ua(ssa(s(tt)mv)))"), merged_changeset, FALSE));
      rows = g_variant_get_child_value (set, 1);
    }
  else
    rows = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("(ssa(s(tt)mv))"), NULL, 0));
  if (rejections == NULL)
    rejections = g_variant_new_array (G_VARIANT_TYPE ("(ssss)"), NULL, 0);
  g_autoptr (GVariant) answer
      = g_variant_ref_sink (g_variant_new ("(ut@a(ssa(s(tt)mv))@a(ssss))", 1u, server_hlc, rows, rejections));
  g_variant_unref (rows);
  return g_variant_get_data_as_bytes (answer);
}

static GArray *
parse (GBytes *changeset)
{
  g_autoptr (GError) error = NULL;
  GArray *changes = carb_changeset_parse (changeset, &error);
  g_assert_no_error (error);
  return changes;
}

static void
sync_all (CarbReplica *replica)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) sent = carb_replica_collect_changes (replica, 0, &error);
  g_assert_no_error (error);
  g_assert_nonnull (sent);
  g_autoptr (GBytes) answer = make_answer (0, sent, NULL);
  g_assert_true (carb_replica_acknowledge (replica, sent, answer, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (carb_replica_get_n_pending (replica), ==, 0);
}

/* A download page of one row of notes. */
static GBytes *
note_page (const char *id, const char *title, CarbVersion title_v, const char *body, CarbVersion body_v)
{
  CarbChange changes[] = {
    { (char *) "notes", (char *) id, (char *) "title", title_v, g_variant_new_string (title) },
    { (char *) "notes", (char *) id, (char *) "body", body_v, g_variant_new_string (body) },
  };
  /* The serialized changeset takes the floating values. */
  return carb_changeset_serialize (changes, G_N_ELEMENTS (changes));
}

/* The first download of table @t, of an empty table, merged by hand while
 * the replica holds no row of it: from now on the table has a sync point,
 * and the pages these tests merge by hand are not first downloads (which
 * carb_replica_merge_download() refuses while the replica holds rows). */
static void
downloaded_once (CarbReplica *replica, guint t)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) empty = carb_changeset_serialize (NULL, 0);
  g_autoptr (CarbSyncPoint) point = carb_sync_point_new (1);
  g_assert_true (carb_replica_merge_download (replica, t, empty, point, &error));
  g_assert_no_error (error);
}

/* ---- local writes -------------------------------------------------- */

static void
test_local_writes (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = insert_note (f->replica, "milk");
  g_assert_cmpuint (strlen (id), ==, 36); /* a UUID made by the replica */

  /* The application reads its tables with plain SQL, at once. */
  g_autofree char *title = sql_text (f->path, "SELECT title FROM notes WHERE NOT deleted");
  g_assert_cmpstr (title, ==, "milk");
  g_autofree char *q
      = g_strdup_printf ("SELECT count(*) FROM notes WHERE id = '%s' AND list = 'inbox' AND n = 1 "
                         "AND body IS NULL AND deleted = 0",
                         id);
  g_assert_cmpint (sql_int (f->path, q), ==, 1);
  /* Every written column is pending: list, title, body, n, deleted. */
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 5);
  /* Their versions are in the row's own columns X__v (no side table). */
  g_assert_cmpint (sql_int (f->path,
                            "SELECT (list__v IS NOT NULL) + (title__v IS NOT NULL) + (body__v IS NOT "
                            "NULL) + (n__v IS NOT NULL) + (deleted__v IS NOT NULL) FROM notes"),
                   ==, 5);
  g_assert_cmpint (sql_int (f->path, "SELECT count(*) FROM sqlite_master WHERE name = 'carburetor_versions'"),
                   ==, 0);

  g_autoptr (GVariant) row = carb_replica_get_row (f->replica, "notes", id, &error);
  g_assert_no_error (error);
  const char *got = NULL;
  gint64 n = 0;
  g_assert_true (g_variant_lookup (row, "title", "&s", &got));
  g_assert_cmpstr (got, ==, "milk");
  g_assert_true (g_variant_lookup (row, "n", "x", &n));
  g_assert_cmpint (n, ==, 1);
  g_autoptr (GVariant) body = g_variant_lookup_value (row, "body", NULL);
  g_assert_true (g_variant_is_of_type (body, G_VARIANT_TYPE_MAYBE));
  g_assert_null (carb_replica_get_row (f->replica, "notes", "00000000-0000-4000-8000-000000000000", &error));
  g_assert_no_error (error);

  /* A struct row; its NULL id gets a UUID, an id given is kept. */
  Note note = { NULL, (char *) "work", (char *) "call", (char *) "about x", 7, FALSE, 0 };
  g_autofree char *sid = carb_replica_insert_struct (f->replica, &note_model, &note, &error);
  g_assert_no_error (error);
  g_autofree char *body_sql = g_strdup_printf ("SELECT body FROM notes WHERE id = '%s'", sid);
  g_autofree char *body_text = sql_text (f->path, body_sql);
  g_assert_cmpstr (body_text, ==, "about x");
  List list = { (char *) "L1", (char *) "Inbox", FALSE, 0 };
  g_autofree char *lid = carb_replica_insert_struct (f->replica, &list_model, &list, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (lid, ==, "L1");
  g_autofree char *name = sql_text (f->path, "SELECT name FROM lists WHERE id = 'L1'");
  g_assert_cmpstr (name, ==, "Inbox");
}

static void
test_versions_increase (Fixture *f, gconstpointer data)
{
  g_autofree char *id = insert_note (f->replica, "a");
  CarbVersion v1 = version_of (f->replica, "notes", id, "title");
  g_assert_cmpuint (v1.site, ==, carb_replica_get_site_id (f->replica));
  g_assert_cmpint (carb_hlc_get_wall_ms (v1.hlc) / 1000, >=, g_get_real_time () / G_USEC_PER_SEC - 5);
  update_title (f->replica, id, "b");
  CarbVersion v2 = version_of (f->replica, "notes", id, "title");
  g_assert_cmpint (carb_version_compare (&v2, &v1), >, 0);
  /* Columns not written keep their version. */
  CarbVersion n1 = version_of (f->replica, "notes", id, "n");
  g_assert_cmpint (carb_version_compare (&n1, &v1), <, 0);

  g_autoptr (GError) error = NULL;
  CarbVersion d0 = version_of (f->replica, "notes", id, "deleted");
  g_assert_true (carb_replica_delete (f->replica, "notes", id, &error));
  g_assert_no_error (error);
  CarbVersion d1 = version_of (f->replica, "notes", id, "deleted");
  g_assert_cmpint (carb_version_compare (&d1, &d0), >, 0);
  g_assert_cmpint (sql_int (f->path, "SELECT count(*) FROM notes WHERE NOT deleted"), ==, 0);
  /* An edit of another column does not undelete. */
  update_title (f->replica, id, "c");
  g_assert_cmpint (sql_int (f->path, "SELECT count(*) FROM notes WHERE deleted"), ==, 1);
  g_assert_true (carb_replica_undelete (f->replica, "notes", id, &error));
  g_assert_no_error (error);
  CarbVersion d2 = version_of (f->replica, "notes", id, "deleted");
  g_assert_cmpint (carb_version_compare (&d2, &d1), >, 0);
  g_assert_cmpint (sql_int (f->path, "SELECT count(*) FROM notes WHERE NOT deleted"), ==, 1);
  /* The stored version is a 16-byte blob, the hlc then the site,
   * big-endian (blob order = version order). */
  g_autofree char *expect
      = g_strdup_printf ("blob %016" G_GINT64_MODIFIER "X%016" G_GINT64_MODIFIER "X", d2.hlc, d2.site);
  g_autofree char *q = g_strdup_printf (
      "SELECT typeof(deleted__v) || ' ' || hex(deleted__v) FROM notes WHERE id = '%s'", id);
  g_autofree char *stored = sql_text (f->path, q);
  g_assert_cmpstr (stored, ==, expect);
}

/* ---- collect and acknowledge ---------------------------------------- */

static void
test_collect_changed_only (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_assert_null (carb_replica_collect_changes (f->replica, 0, &error));
  g_assert_no_error (error);

  g_autofree char *id = insert_note (f->replica, "a");
  sync_all (f->replica);
  update_title (f->replica, id, "b");
  g_autoptr (GBytes) sent = carb_replica_collect_changes (f->replica, 0, &error);
  g_assert_no_error (error);
  g_autoptr (GArray) changes = parse (sent);
  g_assert_cmpuint (changes->len, ==, 1);
  CarbChange *c = &g_array_index (changes, CarbChange, 0);
  g_assert_cmpstr (c->table, ==, "notes");
  g_assert_cmpstr (c->row_id, ==, id);
  g_assert_cmpstr (c->column, ==, "title");
  g_assert_cmpstr (g_variant_get_string (c->value, NULL), ==, "b");
  CarbVersion v = version_of (f->replica, "notes", id, "title");
  g_assert_cmpint (carb_version_compare (&c->version, &v), ==, 0);
  /* Collecting does not drop anything. */
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 1);

  /* Whole rows, parents' table first, at most max_rows. */
  g_autofree char *id2 = insert_note (f->replica, "x");
  GVariantDict list;
  g_variant_dict_init (&list, NULL);
  g_variant_dict_insert (&list, "name", "s", "Inbox");
  g_autofree char *lid = carb_replica_insert (f->replica, "lists", g_variant_dict_end (&list), &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) two = carb_replica_collect_changes (f->replica, 2, &error);
  g_assert_no_error (error);
  g_autoptr (GArray) two_changes = parse (two);
  g_assert_cmpstr (g_array_index (two_changes, CarbChange, 0).table, ==, "lists");
  g_autoptr (GHashTable) rows = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < two_changes->len; i++)
    g_hash_table_add (rows, g_array_index (two_changes, CarbChange, i).row_id);
  g_assert_cmpuint (g_hash_table_size (rows), ==, 2);
  g_assert_true (g_hash_table_contains (rows, lid));
}

static void
test_ack_keeps_later_edits (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = insert_note (f->replica, "first");
  g_autoptr (GBytes) sent = carb_replica_collect_changes (f->replica, 0, &error);
  g_assert_no_error (error);
  /* Edited while the batch is in flight. */
  update_title (f->replica, id, "second");
  CarbVersion later = version_of (f->replica, "notes", id, "title");
  g_autoptr (GBytes) answer = make_answer (0, sent, NULL);
  g_assert_true (carb_replica_acknowledge (f->replica, sent, answer, &error));
  g_assert_no_error (error);
  /* Exactly the sent columns are gone; the later title stays pending,
   * and the server's echo of the older title does not overwrite it. */
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 1);
  g_autoptr (GBytes) next = carb_replica_collect_changes (f->replica, 0, &error);
  g_autoptr (GArray) changes = parse (next);
  g_assert_cmpuint (changes->len, ==, 1);
  g_assert_cmpstr (g_array_index (changes, CarbChange, 0).column, ==, "title");
  g_assert_cmpint (carb_version_compare (&g_array_index (changes, CarbChange, 0).version, &later), ==, 0);
  g_autofree char *title = row_string (f->replica, "notes", id, "title");
  g_assert_cmpstr (title, ==, "second");
  /* Acknowledging the same batch again drops nothing more. */
  g_assert_true (carb_replica_acknowledge (f->replica, sent, answer, &error));
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 1);
}

/* The server's merged row holds a newer value than the one sent (another
 * device won): it replaces the local value and the pending entry. */
static void
test_ack_server_newer (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = insert_note (f->replica, "mine");
  g_autoptr (GBytes) sent = carb_replica_collect_changes (f->replica, 0, &error);
  CarbVersion mine = version_of (f->replica, "notes", id, "title");
  CarbVersion theirs = { mine.hlc + 10, 42 };
  g_autoptr (GBytes) merged = note_page (id, "theirs", theirs, "b", mine);
  g_autoptr (GBytes) answer = make_answer (theirs.hlc, merged, NULL);
  g_assert_true (carb_replica_acknowledge (f->replica, sent, answer, &error));
  g_assert_no_error (error);
  g_autofree char *title = row_string (f->replica, "notes", id, "title");
  g_assert_cmpstr (title, ==, "theirs");
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 0);
  /* The clock moved past what it saw: the next edit beats the server's. */
  update_title (f->replica, id, "after");
  CarbVersion after = version_of (f->replica, "notes", id, "title");
  g_assert_cmpint (carb_version_compare (&after, &theirs), >, 0);
}

/* ---- download -------------------------------------------------------- */

static void
test_download_keeps_pending (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  downloaded_once (f->replica, 1);
  g_autofree char *id = insert_note (f->replica, "local");
  sync_all (f->replica);
  update_title (f->replica, id, "edited");
  CarbVersion mine = version_of (f->replica, "notes", id, "title");
  CarbVersion older = { mine.hlc - 1, 99 };
  CarbVersion newer = { mine.hlc + 1, 99 };
  g_autoptr (CarbSyncPoint) p1 = carb_sync_point_new (1000);
  g_autoptr (CarbSyncPoint) p2 = carb_sync_point_new (2000);

  /* An older title never overwrites the pending edit; the newer body is
   * taken. */
  g_autoptr (GBytes) page = note_page (id, "stale", older, "server body", newer);
  g_assert_true (carb_replica_merge_download (f->replica, 1, page, p2, &error));
  g_assert_no_error (error);
  g_autofree char *title = row_string (f->replica, "notes", id, "title");
  g_assert_cmpstr (title, ==, "edited");
  g_autofree char *body = row_string (f->replica, "notes", id, "body");
  g_assert_cmpstr (body, ==, "server body");
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 1);
  CarbVersion bv = version_of (f->replica, "notes", id, "body");
  g_assert_cmpint (carb_version_compare (&bv, &newer), ==, 0);

  /* The same page again, and a stale page with an older sync point:
   * nothing changes, the sync point does not go back. */
  g_autofree char *before = sql_text (
      f->path,
      "SELECT group_concat(title || body || hex(title__v) || hex(body__v), ',') FROM notes ORDER BY 1");
  g_assert_true (carb_replica_merge_download (f->replica, 1, page, p2, &error));
  g_autoptr (GBytes) stale = note_page (id, "old", older, "old body", older);
  g_assert_true (carb_replica_merge_download (f->replica, 1, stale, p1, &error));
  g_assert_no_error (error);
  g_autofree char *after = sql_text (
      f->path,
      "SELECT group_concat(title || body || hex(title__v) || hex(body__v), ',') FROM notes ORDER BY 1");
  g_assert_cmpstr (before, ==, after);
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 1);
  g_autoptr (CarbSyncPoint) stored = carb_replica_get_sync_point (f->replica, 1);
  g_assert_true (carb_sync_point_equal (stored, p2));
  g_assert_null (carb_replica_get_sync_point (f->replica, 0));

  /* A newer title wins over the pending edit, which is dropped (it lost). */
  g_autoptr (GBytes) win = note_page (id, "server title", newer, "server body", newer);
  g_assert_true (carb_replica_merge_download (f->replica, 1, win, p2, &error));
  g_autofree char *won = row_string (f->replica, "notes", id, "title");
  g_assert_cmpstr (won, ==, "server title");
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 0);

  /* A row not seen before is created. */
  const char *other = "11111111-1111-4111-8111-111111111111";
  g_autoptr (GBytes) fresh = note_page (other, "new", newer, "nb", newer);
  g_assert_true (carb_replica_merge_download (f->replica, 1, fresh, p2, &error));
  g_autofree char *fresh_title = row_string (f->replica, "notes", other, "title");
  g_assert_cmpstr (fresh_title, ==, "new");
}

static void
test_download_bad_page (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncPoint) p = carb_sync_point_new (5);
  CarbVersion v = { 100, 7 };
  /* A page of notes given as the page of lists; then a wrong type. */
  g_autoptr (GBytes) page = note_page ("11111111-1111-4111-8111-111111111111", "t", v, "b", v);
  g_assert_false (carb_replica_merge_download (f->replica, 0, page, p, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_clear_error (&error);
  CarbChange bad[] = {
    { (char *) "notes", (char *) "11111111-1111-4111-8111-111111111111", (char *) "title", v,
      g_variant_new_string ("ok") },
    { (char *) "notes", (char *) "11111111-1111-4111-8111-111111111111", (char *) "n", v,
      g_variant_new_string ("not a number") },
  };
  g_autoptr (GBytes) typed = carb_changeset_serialize (bad, 2);
  g_assert_false (carb_replica_merge_download (f->replica, 1, typed, p, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "“n”"));
  g_clear_error (&error);
  /* Nothing of either page stayed: one transaction per page. */
  g_assert_cmpint (sql_int (f->path, "SELECT count(*) FROM notes"), ==, 0);
  g_assert_null (carb_replica_get_sync_point (f->replica, 1));
  g_autoptr (GBytes) junk = g_bytes_new_static ("junk", 4);
  g_assert_false (carb_replica_merge_download (f->replica, 1, junk, p, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
}

/* A first download merged by hand (the table has no sync point) while the
 * replica holds rows of the table: a first download leaves tombstones
 * out, so a held row the server deleted would stay alive below the point
 * for good. Refused, naming the table; a table with no rows takes it. */
static void
test_first_page_by_hand (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = insert_note (f->replica, "held");
  sync_all (f->replica);
  g_autoptr (CarbSyncPoint) p = carb_sync_point_new (5);
  CarbVersion v = { 100, 7 };
  g_autoptr (GBytes) page = note_page ("11111111-1111-4111-8111-111111111111", "t", v, "b", v);
  g_assert_false (carb_replica_merge_download (f->replica, 1, page, p, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT);
  g_assert_nonnull (strstr (error->message, "“notes”"));
  g_assert_nonnull (strstr (error->message, "carb_replica_sync"));
  g_clear_error (&error);
  g_assert_null (carb_replica_get_sync_point (f->replica, 1));
  g_assert_cmpint (sql_int (f->path, "SELECT count(*) FROM notes"), ==, 1);

  g_autoptr (GBytes) empty = carb_changeset_serialize (NULL, 0);
  g_assert_true (carb_replica_merge_download (f->replica, 0, empty, p, &error));
  g_assert_no_error (error);
  g_autoptr (CarbSyncPoint) stored = carb_replica_get_sync_point (f->replica, 0);
  g_assert_nonnull (stored);
}

/* ---- durability -------------------------------------------------------- */

static void
test_reopen (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  downloaded_once (f->replica, 1);
  g_autofree char *id = insert_note (f->replica, "kept");
  g_autoptr (CarbSyncPoint) point = carb_sync_point_new (12345);
  /* A version from a server an hour ahead: the clock moves past it. */
  CarbVersion v = { (guint64) (g_get_real_time () / 1000 + 3600 * 1000) << CARB_HLC_COUNTER_BITS, 3 };
  g_autoptr (GBytes) page = note_page ("22222222-2222-4222-8222-222222222222", "s", v, "b", v);
  g_assert_true (carb_replica_merge_download (f->replica, 1, page, point, &error));
  guint64 site = carb_replica_get_site_id (f->replica);
  CarbVersion last = version_of (f->replica, "notes", id, "deleted");
  /* The batch was sent and applied, then the app died before the ack. */
  g_autoptr (GBytes) sent = carb_replica_collect_changes (f->replica, 0, &error);
  g_clear_object (&f->replica);

  f->replica = open_replica (f->path, "app", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_replica_get_site_id (f->replica), ==, site);
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 5);
  g_autoptr (CarbSyncPoint) stored = carb_replica_get_sync_point (f->replica, 1);
  g_assert_nonnull (stored);
  g_assert_true (carb_sync_point_equal (stored, point));
  /* The same changes, same versions, go again: applying them twice on a
   * server is a no-op by the merge rule; the ack then clears them. */
  g_autoptr (GBytes) again = carb_replica_collect_changes (f->replica, 0, &error);
  g_assert_true (g_bytes_equal (sent, again));
  g_autoptr (GBytes) answer = make_answer (0, again, NULL);
  g_assert_true (carb_replica_acknowledge (f->replica, again, answer, &error));
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 0);
  /* The clock was stored: a write after reopening is newer than every
   * version written or seen before, whatever the wall clock says. */
  update_title (f->replica, id, "later");
  CarbVersion now = version_of (f->replica, "notes", id, "title");
  g_assert_cmpint (carb_version_compare (&now, &last), >, 0);
  g_assert_cmpint (carb_version_compare (&now, &v), >, 0);
}

/* One object per file, across processes too: a second one would keep a
 * second clock for the same site id (two writes, one version). */
static void
test_open_once (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  if (g_test_subprocess ())
    {
      /* Another process, while the parent holds the file open. */
      g_autoptr (CarbReplica) second = open_replica (g_getenv ("CARB_TEST_REPLICA_PATH"), "app", &error);
      g_assert_null (second);
      g_assert_error (error, CARB_ERROR, CARB_ERROR_BUSY);
      return;
    }
  g_autoptr (CarbReplica) again = open_replica (f->path, "app", &error);
  g_assert_null (again);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, f->path));
  g_assert_nonnull (strstr (error->message, "share the object"));
  g_clear_error (&error);

  g_setenv ("CARB_TEST_REPLICA_PATH", f->path, TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();

  /* The first object's writes are untouched; once it is gone, the file
   * opens again. */
  g_autofree char *id = insert_note (f->replica, "still mine");
  g_clear_object (&f->replica);
  f->replica = open_replica (f->path, "app", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), >, 0);
}

/* The file through a symbolic link is the same file (SQLite follows the
 * link): a second object on it would keep a second clock for the same
 * site id, so it is refused as the file's own path is. */
static void
test_open_once_link (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *link = g_build_filename (f->dir, "link.db", NULL);
  g_autofree char *chain = g_build_filename (f->dir, "chain.db", NULL);
  g_assert_cmpint (symlink ("replica.db", link), ==, 0);
  g_assert_cmpint (symlink (link, chain), ==, 0);
  g_autoptr (CarbReplica) via_link = open_replica (link, "app", &error);
  g_assert_null (via_link);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_BUSY);
  g_clear_error (&error);
  g_autoptr (CarbReplica) via_chain = open_replica (chain, "app", &error);
  g_assert_null (via_chain);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_BUSY);
  g_clear_error (&error);
  /* Once the first object is gone, the link opens the file, and then the
   * file's own path is refused. */
  g_autofree char *id = insert_note (f->replica, "through the link");
  g_clear_object (&f->replica);
  g_autoptr (CarbReplica) linked = open_replica (link, "app", &error);
  g_assert_no_error (error);
  g_autofree char *title = row_string (linked, "notes", id, "title");
  g_assert_cmpstr (title, ==, "through the link");
  g_autoptr (CarbReplica) direct = open_replica (f->path, "app", &error);
  g_assert_null (direct);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_BUSY);
}

/* A private database has no file another object could open: two
 * in-memory replicas are two databases, and neither takes a lock file. */
static void
test_open_in_memory (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbReplica) one = open_replica (":memory:", "app", &error);
  g_assert_no_error (error);
  g_autoptr (CarbReplica) two = open_replica (":memory:", "app", &error);
  g_assert_no_error (error);
  g_autofree char *id = insert_note (one, "only in one");
  g_assert_cmpuint (carb_replica_get_n_pending (one), >, 0);
  g_assert_cmpuint (carb_replica_get_n_pending (two), ==, 0);
  g_assert_false (g_file_test (":memory:-replica-lock", G_FILE_TEST_EXISTS));
}

static void
test_reopen_other_group (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_clear_object (&f->replica);
  g_autoptr (CarbReplica) other = open_replica (f->path, "other", &error);
  g_assert_null (other);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, "“app”"));
  g_assert_nonnull (strstr (error->message, "“other”"));
  g_clear_error (&error);

  /* Same name, other models. */
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("app");
  g_assert_true (carb_sync_group_add_model (group, &list_model, NULL));
  g_autoptr (CarbReplica) fewer = carb_replica_open (f->path, group, &error);
  g_assert_null (fewer);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, f->path));
}

/* A file of format 1 (versions in carburetor_versions) is refused, naming
 * the file and what to do, and left as it was. */
static void
test_reopen_old_format (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = insert_note (f->replica, "old");
  g_clear_object (&f->replica);
  /* What the previous library wrote: its format in front of the same
   * fingerprint, and the side table. */
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
  g_assert_cmpint (
      sqlite3_exec (db,
                    "UPDATE carburetor_meta SET value = '1' || substr(value, 2) WHERE key = 'schema';"
                    "CREATE TABLE carburetor_versions (tbl TEXT NOT NULL, id TEXT NOT NULL, col TEXT "
                    "NOT NULL, version TEXT NOT NULL, PRIMARY KEY (tbl, id, col)) WITHOUT ROWID;",
                    NULL, NULL, NULL),
      ==, SQLITE_OK);
  sqlite3_close (db);
  g_autofree char *before = sql_text (f->path, "SELECT value FROM carburetor_meta WHERE key = 'schema'");
  g_assert_true (g_str_has_prefix (before, "1;"));

  g_autoptr (CarbReplica) old = open_replica (f->path, "app", &error);
  g_assert_null (old);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, f->path));
  g_assert_nonnull (strstr (error->message, "format 1"));
  g_assert_nonnull (strstr (error->message, "rebuild"));
  g_autofree char *after = sql_text (f->path, "SELECT value FROM carburetor_meta WHERE key = 'schema'");
  g_assert_cmpstr (after, ==, before);
}

/* A file of format 2 (versions as text in the rows' X__v) is converted
 * when opened: every well-formed version text becomes its blob, a
 * malformed one stays and is reported when read, as format 2 did; with
 * other models it is told that the models differ, and left as it was. */
static void
test_reopen_format_2 (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  static const char *const columns[] = { "list", "title", "body", "n", "deleted" };
  g_autofree char *id = insert_note (f->replica, "kept");
  g_autofree char *odd = insert_note (f->replica, "odd");
  CarbVersion before[G_N_ELEMENTS (columns)];
  for (guint i = 0; i < G_N_ELEMENTS (columns); i++)
    before[i] = version_of (f->replica, "notes", id, columns[i]);
  guint pending = carb_replica_get_n_pending (f->replica);
  g_clear_object (&f->replica);

  /* What format 2 wrote: the versions' text, its format in front of the
   * same fingerprint. */
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
  g_autoptr (GString) sql
      = g_string_new ("UPDATE carburetor_meta SET value = '2' || substr(value, 2) WHERE key = 'schema';");
  for (guint i = 0; i < G_N_ELEMENTS (columns); i++)
    {
      g_autofree char *text = carb_version_to_string (&before[i]);
      g_string_append_printf (sql, "UPDATE notes SET %s__v = '%s' WHERE id = '%s';", columns[i], text, id);
    }
  g_string_append_printf (sql, "UPDATE notes SET title__v = 'not a version' WHERE id = '%s';", odd);
  g_assert_cmpint (sqlite3_exec (db, sql->str, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
  g_autofree char *q = g_strdup_printf ("SELECT typeof(title__v) FROM notes WHERE id = '%s'", id);
  g_autofree char *type = sql_text (f->path, q);
  g_assert_cmpstr (type, ==, "text");

  /* Other models: not converted. */
  g_autoptr (CarbSyncGroup) fewer = carb_sync_group_new ("app");
  g_assert_true (carb_sync_group_add_model (fewer, &list_model, NULL));
  g_autoptr (CarbReplica) other = carb_replica_open (f->path, fewer, &error);
  g_assert_null (other);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_nonnull (strstr (error->message, "differ"));
  g_clear_error (&error);
  g_autofree char *still = sql_text (f->path, "SELECT value FROM carburetor_meta WHERE key = 'schema'");
  g_assert_true (g_str_has_prefix (still, "2;"));

  f->replica = open_replica (f->path, "app", &error);
  g_assert_no_error (error);
  g_autofree char *format = sql_text (f->path, "SELECT value FROM carburetor_meta WHERE key = 'schema'");
  g_assert_true (g_str_has_prefix (format, "3;"));
  g_autofree char *converted = sql_text (f->path, q);
  g_assert_cmpstr (converted, ==, "blob");
  for (guint i = 0; i < G_N_ELEMENTS (columns); i++)
    {
      CarbVersion v = version_of (f->replica, "notes", id, columns[i]);
      g_assert_cmpint (carb_version_compare (&v, &before[i]), ==, 0);
    }
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, pending);
  CarbVersion v = { 0, 0 };
  g_assert_false (carb_replica_get_version (f->replica, "notes", odd, "title", &v, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "title__v"));
  g_clear_error (&error);

  /* Written in format 3 from now on, and opened again as it is. */
  update_title (f->replica, id, "after");
  g_clear_object (&f->replica);
  f->replica = open_replica (f->path, "app", &error);
  g_assert_no_error (error);
  g_autofree char *title = row_string (f->replica, "notes", id, "title");
  g_assert_cmpstr (title, ==, "after");
}

/* ---- clock, rebuild, rejections --------------------------------------- */

static void
test_clock_correction (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = insert_note (f->replica, "from the future");
  CarbVersion ahead = version_of (f->replica, "notes", id, "title");
  /* The server's clock is an hour behind this device's. */
  guint64 server = (guint64) ((g_get_real_time () / 1000) - 3600 * 1000) << CARB_HLC_COUNTER_BITS;
  g_assert_true (carb_replica_correct_clock (f->replica, server, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 5);
  g_autoptr (GBytes) sent = carb_replica_collect_changes (f->replica, 0, &error);
  g_autoptr (GArray) changes = parse (sent);
  for (guint i = 0; i < changes->len; i++)
    {
      CarbVersion v = g_array_index (changes, CarbChange, i).version;
      g_assert_cmpuint (v.hlc, >, server);
      g_assert_cmpint (carb_hlc_get_wall_ms (v.hlc), <, carb_hlc_get_wall_ms (ahead.hlc) - 3500 * 1000);
    }
  /* Later writes keep the corrected offset. */
  update_title (f->replica, id, "now");
  CarbVersion next = version_of (f->replica, "notes", id, "title");
  g_assert_cmpint (carb_hlc_get_wall_ms (next.hlc), <, carb_hlc_get_wall_ms (ahead.hlc) - 3500 * 1000);
  /* And across a reopen. */
  g_clear_object (&f->replica);
  f->replica = open_replica (f->path, "app", &error);
  update_title (f->replica, id, "reopened");
  CarbVersion reopened = version_of (f->replica, "notes", id, "title");
  g_assert_cmpint (carb_version_compare (&reopened, &next), >, 0);
  g_assert_cmpint (carb_hlc_get_wall_ms (reopened.hlc), <, carb_hlc_get_wall_ms (ahead.hlc) - 3500 * 1000);
}

/* A write the server accepted within its bound (4 min ahead), then an
 * edit of the same column refused (further ahead): stamped again after
 * the correction, the edit must still beat the accepted write, or the
 * server would keep the older value. */
static void
test_clock_correction_floor (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  guint64 now = (guint64) (g_get_real_time () / 1000) << CARB_HLC_COUNTER_BITS;
  guint64 ahead = now + ((guint64) (4 * 60 * 1000) << CARB_HLC_COUNTER_BITS);
  g_assert_true (carb_replica_correct_clock (f->replica, ahead, &error));
  g_autofree char *id = insert_note (f->replica, "accepted");
  g_autoptr (GBytes) sent = carb_replica_collect_changes (f->replica, 0, &error);
  g_autoptr (GBytes) answer = make_answer (now, sent, NULL);
  g_assert_true (carb_replica_acknowledge (f->replica, sent, answer, &error));
  g_assert_no_error (error);
  CarbVersion accepted = version_of (f->replica, "notes", id, "title");
  g_assert_cmpuint (accepted.hlc, >, ahead);

  update_title (f->replica, id, "refused, then stamped again");
  g_assert_true (carb_replica_correct_clock (f->replica, now, &error));
  g_assert_no_error (error);
  CarbVersion again = version_of (f->replica, "notes", id, "title");
  g_assert_cmpint (carb_version_compare (&again, &accepted), >, 0);
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 1);
}

static void
test_rebuild (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  downloaded_once (f->replica, 1);
  g_autofree char *clean = insert_note (f->replica, "clean");
  g_autofree char *edited = insert_note (f->replica, "edited");
  sync_all (f->replica);
  update_title (f->replica, edited, "pending edit");
  g_autoptr (CarbSyncPoint) point = carb_sync_point_new (99);
  CarbVersion v = { 1, 3 };
  g_autoptr (GBytes) page = note_page ("33333333-3333-4333-8333-333333333333", "s", v, "b", v);
  g_assert_true (carb_replica_merge_download (f->replica, 1, page, point, &error));

  g_assert_true (carb_replica_rebuild (f->replica, &error));
  g_assert_no_error (error);
  g_assert_null (carb_replica_get_row (f->replica, "notes", clean, &error));
  g_assert_null (carb_replica_get_row (f->replica, "notes", "33333333-3333-4333-8333-333333333333", &error));
  g_autofree char *title = row_string (f->replica, "notes", edited, "title");
  g_assert_cmpstr (title, ==, "pending edit");
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 1);
  g_assert_null (carb_replica_get_sync_point (f->replica, 1));
  /* The row kept keeps its versions (they are its columns). */
  g_assert_cmpint (sql_int (f->path, "SELECT count(*) FROM notes"), ==, 1);
  g_autofree char *q = g_strdup_printf (
      "SELECT count(*) FROM notes WHERE id = '%s' AND title__v IS NOT NULL AND deleted__v IS NOT NULL",
      edited);
  g_assert_cmpint (sql_int (f->path, q), ==, 1);
}

typedef struct
{
  guint count;
  char *last;
} Seen;

static void
on_rejected (CarbReplica *replica,
             const char *table,
             const char *id,
             const char *column,
             const char *message,
             Seen *seen)
{
  seen->count++;
  g_free (seen->last);
  seen->last = g_strdup_printf ("%s/%s/%s: %s", table, id, column, message);
}

static void
test_rejection (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  Seen seen = { 0, NULL };
  g_signal_connect (f->replica, "rejected", G_CALLBACK (on_rejected), &seen);
  g_autofree char *id = insert_note (f->replica, "server's");
  sync_all (f->replica);
  CarbVersion server_v = version_of (f->replica, "notes", id, "title");
  update_title (f->replica, id, "refused");
  g_autoptr (GBytes) sent = carb_replica_collect_changes (f->replica, 0, &error);

  /* The server refuses the title and answers with its row. */
  g_autoptr (GBytes) merged = note_page (id, "server's", server_v, "b", server_v);
  GVariantBuilder rejections;
  g_variant_builder_init (&rejections, G_VARIANT_TYPE ("a(ssss)"));
  g_variant_builder_add (&rejections, "(ssss)", "notes", id, "title", "titles are frozen");
  g_autoptr (GBytes) answer = make_answer (0, merged, g_variant_builder_end (&rejections));
  g_assert_true (carb_replica_acknowledge (f->replica, sent, answer, &error));
  g_assert_no_error (error);
  g_autofree char *title = row_string (f->replica, "notes", id, "title");
  g_assert_cmpstr (title, ==, "server's");
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 0);
  g_assert_cmpuint (seen.count, ==, 1);
  g_autofree char *expect = g_strdup_printf ("notes/%s/title: titles are frozen", id);
  g_assert_cmpstr (seen.last, ==, expect);
  g_autoptr (GVariant) kept = carb_replica_list_rejections (f->replica);
  g_assert_cmpuint (g_variant_n_children (kept), ==, 1);
  const char *table, *rid, *column, *message;
  gint64 when;
  g_variant_get_child (kept, 0, "(&s&s&s&sx)", &table, &rid, &column, &message, &when);
  g_assert_cmpstr (column, ==, "title");
  g_assert_cmpstr (message, ==, "titles are frozen");
  g_assert_cmpint (when, >, 0);

  /* A refused insert: the server has no such row, so it leaves. */
  g_autofree char *refused = insert_note (f->replica, "not allowed");
  g_autoptr (GBytes) sent2 = carb_replica_collect_changes (f->replica, 0, &error);
  GVariantBuilder whole;
  g_variant_builder_init (&whole, G_VARIANT_TYPE ("a(ssss)"));
  g_variant_builder_add (&whole, "(ssss)", "notes", refused, "", "not your list");
  g_autoptr (GBytes) answer2 = make_answer (0, NULL, g_variant_builder_end (&whole));
  g_assert_true (carb_replica_acknowledge (f->replica, sent2, answer2, &error));
  g_assert_no_error (error);
  g_assert_null (carb_replica_get_row (f->replica, "notes", refused, &error));
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 0);
  g_assert_cmpuint (seen.count, ==, 2);
  g_autoptr (GVariant) both = carb_replica_list_rejections (f->replica);
  g_assert_cmpuint (g_variant_n_children (both), ==, 2);
  g_assert_true (carb_replica_clear_rejections (f->replica, &error));
  g_autoptr (GVariant) none = carb_replica_list_rejections (f->replica);
  g_assert_cmpuint (g_variant_n_children (none), ==, 0);
  g_free (seen.last);
}

static void
test_ack_bad_answer (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = insert_note (f->replica, "a");
  g_autoptr (GBytes) sent = carb_replica_collect_changes (f->replica, 0, &error);
  g_autoptr (GBytes) junk = g_bytes_new_static ("\x01\x02\x03", 3);
  g_assert_false (carb_replica_acknowledge (f->replica, sent, junk, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_clear_error (&error);
  /* A merged row with a column the model lacks: the whole ack is undone. */
  CarbVersion v = version_of (f->replica, "notes", id, "title");
  CarbChange odd = { (char *) "notes", id, (char *) "colour", v, g_variant_new_string ("red") };
  g_autoptr (GBytes) merged = carb_changeset_serialize (&odd, 1);
  g_autoptr (GBytes) answer = make_answer (0, merged, NULL);
  g_assert_false (carb_replica_acknowledge (f->replica, sent, answer, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "“colour”"));
  g_assert_cmpuint (carb_replica_get_n_pending (f->replica), ==, 5);
}

/* ---- bad input ----------------------------------------------------------- */

static void
expect_bad (gboolean ok, GError **error, const char *table, const char *column)
{
  g_assert_false (ok);
  g_assert_error (*error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_autofree char *t = g_strdup_printf ("“%s”", table);
  g_autofree char *c = g_strdup_printf ("“%s”", column);
  if (strstr ((*error)->message, t) == NULL || strstr ((*error)->message, c) == NULL)
    g_error ("“%s” does not name %s and %s", (*error)->message, t, c);
  g_clear_error (error);
}

static GVariant *
one (const char *column, GVariant *value)
{
  GVariantDict d;
  g_variant_dict_init (&d, NULL);
  g_variant_dict_insert_value (&d, column, value);
  return g_variant_dict_end (&d);
}

static void
test_bad_input (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *id = insert_note (f->replica, "a");
  CarbReplica *r = f->replica;
  expect_bad (carb_replica_update (r, "notes", id, one ("colour", g_variant_new_string ("red")), &error),
              &error, "notes", "colour");
  expect_bad (carb_replica_update (r, "notes", id, one ("n", g_variant_new_string ("7")), &error), &error,
              "notes", "n");
  expect_bad (carb_replica_update (r, "notes", id,
                                   one ("title", g_variant_new_maybe (G_VARIANT_TYPE_STRING, NULL)), &error),
              &error, "notes", "title");
  expect_bad (carb_replica_update (r, "notes", id, one ("id", g_variant_new_string ("x")), &error), &error,
              "notes", "id");
  expect_bad (carb_replica_update (r, "notes", id, one ("ts", g_variant_new_int64 (5)), &error), &error,
              "notes", "ts");
  expect_bad (carb_replica_update (r, "notes", id, one ("deleted", g_variant_new_boolean (TRUE)), &error),
              &error, "notes", "deleted");
  expect_bad (carb_replica_update (r, "notes", id, one ("list", g_variant_new_string ("work")), &error),
              &error, "notes", "list");
  expect_bad (carb_replica_update (r, "notes", "44444444-4444-4444-8444-444444444444",
                                   one ("title", g_variant_new_string ("x")), &error),
              &error, "notes", "id");
  /* Insert: a missing NOT NULL column, a bad UUID id, an existing id. */
  expect_bad (carb_replica_insert (r, "notes", one ("title", g_variant_new_string ("x")), &error) != NULL,
              &error, "notes", "list");
  GVariantDict row;
  g_variant_dict_init (&row, NULL);
  g_variant_dict_insert (&row, "id", "s", "not-a-uuid");
  g_variant_dict_insert (&row, "list", "s", "l");
  g_variant_dict_insert (&row, "title", "s", "t");
  g_variant_dict_insert (&row, "n", "x", (gint64) 1);
  expect_bad (carb_replica_insert (r, "notes", g_variant_dict_end (&row), &error) != NULL, &error, "notes",
              "id");
  g_variant_dict_init (&row, NULL);
  g_variant_dict_insert (&row, "id", "s", id);
  g_variant_dict_insert (&row, "list", "s", "l");
  g_variant_dict_insert (&row, "title", "s", "t");
  g_variant_dict_insert (&row, "n", "x", (gint64) 1);
  expect_bad (carb_replica_insert (r, "notes", g_variant_dict_end (&row), &error) != NULL, &error, "notes",
              "id");
  /* A column given twice (an `a{sv}` may hold a key twice). */
  expect_bad (carb_replica_insert (r, "notes",
                                   g_variant_new_parsed ("{'id': <'66666666-6666-4666-8666-666666666666'>, "
                                                         "'id': <'77777777-7777-4777-8777-777777777777'>, "
                                                         "'list': <'l'>, 'title': <'t'>, 'n': <int64 1>}"),
                                   &error)
                  != NULL,
              &error, "notes", "id");
  expect_bad (
      carb_replica_update (r, "notes", id, g_variant_new_parsed ("{'title': <'x'>, 'title': <'y'>}"), &error),
      &error, "notes", "title");
  g_assert_null (carb_replica_insert (r, "nope", one ("a", g_variant_new_string ("x")), &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "“nope”"));
  g_clear_error (&error);
  g_assert_false (carb_replica_delete (r, "notes", "55555555-5555-4555-8555-555555555555", &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_clear_error (&error);
  /* Nothing of the refused writes stayed. */
  g_assert_cmpuint (carb_replica_get_n_pending (r), ==, 5);
  g_autofree char *title = row_string (r, "notes", id, "title");
  g_assert_cmpstr (title, ==, "a");
  g_assert_cmpint (sql_int (f->path, "SELECT count(*) FROM notes"), ==, 1);
}

/* A finite value beyond gfloat's range in a FLOAT column cannot be read
 * back by a server (a SQLite server failed every later upload of the
 * replica on it, so the replica never synced again; PostgreSQL refused the
 * row): it is refused when written, naming the column. NaN, which SQLite
 * would store as NULL (in a NOT NULL column too), is kept as NaN. */
static void
test_bad_floats (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbModel) model = carb_model_new (NULL, "floats");
  g_assert_true (carb_model_add_column (model, "id", CARB_COLUMN_TYPE_UUID, CARB_COLUMN_ROLE_ID, 0, NULL));
  g_assert_true (carb_model_add_column (model, "fl", CARB_COLUMN_TYPE_FLOAT, CARB_COLUMN_ROLE_DATA,
                                        CARB_COLUMN_FLAGS_NULLABLE, NULL));
  g_assert_true (
      carb_model_add_column (model, "db", CARB_COLUMN_TYPE_DOUBLE, CARB_COLUMN_ROLE_DATA, 0, NULL));
  g_assert_true (
      carb_model_add_column (model, "deleted", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DELETED, 0, NULL));
  g_assert_true (
      carb_model_add_column (model, "ts", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_TIMESTAMP, 0, NULL));
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("floats");
  g_assert_true (carb_sync_group_add_model (group, model, &error));
  g_autofree char *path = g_build_filename (f->dir, "floats.db", NULL);
  g_autoptr (CarbReplica) r = carb_replica_open (path, group, &error);
  g_assert_no_error (error);
  GVariantDict row;
  g_variant_dict_init (&row, NULL);
  g_variant_dict_insert (&row, "db", "d", NAN);
  g_autofree char *nan_id = carb_replica_insert (r, "floats", g_variant_dict_end (&row), &error);
  g_assert_no_error (error);
  g_autoptr (GVariant) nan_row = carb_replica_get_row (r, "floats", nan_id, &error);
  g_assert_no_error (error);
  gdouble nan_back = 0;
  g_assert_true (g_variant_lookup (nan_row, "db", "d", &nan_back));
  g_assert_true (isnan (nan_back));
  g_variant_dict_init (&row, NULL);
  g_variant_dict_insert (&row, "db", "d", 1.0);
  g_variant_dict_insert (&row, "fl", "d", 1e300);
  expect_bad (carb_replica_insert (r, "floats", g_variant_dict_end (&row), &error) != NULL, &error, "floats",
              "fl");
  g_assert_cmpuint (carb_replica_get_n_pending (r), ==, 3); /* the NaN row's insert */
  /* What fits is kept as written: infinities, a double's range. */
  g_variant_dict_init (&row, NULL);
  g_variant_dict_insert (&row, "db", "d", -1e300);
  g_variant_dict_insert (&row, "fl", "d", -INFINITY);
  g_autofree char *id = carb_replica_insert (r, "floats", g_variant_dict_end (&row), &error);
  g_assert_no_error (error);
  expect_bad (carb_replica_update (r, "floats", id, one ("fl", g_variant_new_double (-3.5e38)), &error),
              &error, "floats", "fl");
  g_autoptr (GVariant) back = carb_replica_get_row (r, "floats", id, &error);
  g_assert_no_error (error);
  gdouble db = 0, fl = 0;
  g_assert_true (g_variant_lookup (back, "db", "d", &db));
  g_assert_true (g_variant_lookup (back, "fl", "d", &fl));
  g_assert_cmpfloat (db, ==, -1e300);
  g_assert_cmpfloat (fl, ==, -INFINITY);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) g_test_add ("/replica/" path, Fixture, NULL, set_up, func, tear_down)
  ADD ("local-writes", test_local_writes);
  ADD ("versions-increase", test_versions_increase);
  ADD ("collect-changed-only", test_collect_changed_only);
  ADD ("ack-keeps-later-edits", test_ack_keeps_later_edits);
  ADD ("ack-server-newer", test_ack_server_newer);
  ADD ("ack-bad-answer", test_ack_bad_answer);
  ADD ("download-keeps-pending", test_download_keeps_pending);
  ADD ("download-bad-page", test_download_bad_page);
  ADD ("first-page-by-hand", test_first_page_by_hand);
  ADD ("reopen", test_reopen);
  ADD ("open-once", test_open_once);
  ADD ("open-once-link", test_open_once_link);
  ADD ("open-in-memory", test_open_in_memory);
  ADD ("reopen-other-group", test_reopen_other_group);
  ADD ("reopen-old-format", test_reopen_old_format);
  ADD ("reopen-format-2", test_reopen_format_2);
  ADD ("clock-correction", test_clock_correction);
  ADD ("clock-correction-floor", test_clock_correction_floor);
  ADD ("rebuild", test_rebuild);
  ADD ("rejection", test_rejection);
  ADD ("bad-input", test_bad_input);
  ADD ("bad-floats", test_bad_floats);
  return g_test_run ();
}
