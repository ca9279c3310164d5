/* Tests of the application API's shape: CarbStore as a GObject (properties,
 * GInitable, GAsyncInitable), the error domain, the boxed and enum types,
 * the version macros.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <sqlite3.h>

#include "testdb.h"

static void
test_error_quark (void)
{
  g_assert_cmpstr (g_quark_to_string (CARB_ERROR), ==, "carburetor-error-quark");
}

/* A store opened from one folder; removed with it. */
typedef struct
{
  char *tmpdir;
  char *uri;
} Dir;

static void
dir_init (Dir *d)
{
  d->tmpdir = g_dir_make_tmp ("carb-store-XXXXXX", NULL);
  g_assert_nonnull (d->tmpdir);
  d->uri = test_store_uri ("sqlite", d->tmpdir);
}

static void
dir_clear (Dir *d)
{
  test_store_dir_remove (d->tmpdir);
  g_free (d->tmpdir);
  g_free (d->uri);
}

static void
test_properties (void)
{
  Dir d;
  dir_init (&d);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (d.uri, &error);
  g_assert_no_error (error);

  g_assert_true (G_IS_INITABLE (store));
  g_assert_true (G_IS_ASYNC_INITABLE (store));
  g_autofree char *uri = NULL;
  g_autofree char *backend = NULL;
  g_object_get (store, "uri", &uri, "backend-name", &backend, NULL);
  g_assert_cmpstr (uri, ==, d.uri);
  g_assert_cmpstr (backend, ==, "sqlite");
  g_assert_cmpstr (carb_store_get_uri (store), ==, d.uri);
  g_assert_cmpstr (carb_store_get_backend_name (store), ==, "sqlite");

  GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (store), "backend-name");
  g_assert_nonnull (pspec);
  g_assert_false (pspec->flags & G_PARAM_WRITABLE);
  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (store), "uri");
  g_assert_nonnull (pspec);
  g_assert_true (pspec->flags & G_PARAM_CONSTRUCT_ONLY);

  g_clear_object (&store);
  dir_clear (&d);
}

/* The core's own masking, for a plugin that has none: the userinfo's
 * password, before the store is even opened. */
static void
test_uri_masked_by_core (void)
{
  g_autoptr (CarbStore) store
      = g_object_new (CARB_TYPE_STORE, "uri", "custom://ann:s3cret@db.example/x", NULL);
  g_assert_cmpstr (carb_store_get_uri (store), ==, "custom://ann:***@db.example/x");
  g_autofree char *uri = NULL;
  g_object_get (store, "uri", &uri, NULL);
  g_assert_null (strstr (uri, "s3cret"));
  g_assert_null (carb_store_get_backend_name (store));
}

/* The PostgreSQL plugin's masking, on a live store: a password in the
 * URI's query. */
static void
test_uri_masked_by_plugin (void)
{
  g_auto (GStrv) backends = test_store_backends ();
  if (!g_strv_contains ((const char *const *) backends, "postgres"))
    {
      g_test_skip ("no PostgreSQL server in the environment");
      return;
    }
  /* The server's real password if it wants one (pg_virtualenv), else any:
   * a trust-authenticating server ignores it. */
  const char *password = g_getenv ("PGPASSWORD") != NULL ? g_getenv ("PGPASSWORD") : "hunter2-pw";
  g_autofree char *escaped = g_uri_escape_string (password, NULL, FALSE);
  g_autofree char *base = test_store_uri ("postgres", NULL);
  g_autofree char *uri
      = g_strdup_printf ("%s%spassword=%s", base, strchr (base, '?') != NULL ? "&" : "?", escaped);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  g_autofree char *shown = NULL;
  g_object_get (store, "uri", &shown, NULL);
  g_assert_null (strstr (shown, escaped));
  g_assert_nonnull (strstr (shown, "password=***"));
  g_assert_cmpstr (carb_store_get_backend_name (store), ==, "postgres");
}

static void
test_initable_failure (void)
{
  g_autoptr (GError) error = NULL;
  const char *uri = "nosuchscheme:/tmp/x.db";
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_null (store);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_NO_PLUGIN);
  g_assert_nonnull (strstr (error->message, "nosuchscheme"));
  g_clear_error (&error);

  /* g_initable_new() is the same thing. */
  GObject *object
      = g_initable_new (CARB_TYPE_STORE, NULL, &error, "uri", "sqlite:/nonexistent-dir/x/y.db", NULL);
  g_assert_null (object);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_CONNECTION);
  g_assert_nonnull (strstr (error->message, "/nonexistent-dir/x/y.db"));
  g_clear_error (&error);

  /* No URI at all. */
  object = g_initable_new (CARB_TYPE_STORE, NULL, &error, NULL);
  g_assert_null (object);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_URI);
}

typedef struct
{
  CarbStore *store;
  GError *error;
  gboolean done;
} Opened;

static void
on_opened (GObject *source, GAsyncResult *result, gpointer data)
{
  Opened *o = data;
  o->store = carb_store_new_finish (result, &o->error);
  o->done = TRUE;
}

static void
test_async_init (void)
{
  Dir d;
  dir_init (&d);
  Opened o = { 0 };
  carb_store_new_async (d.uri, G_PRIORITY_DEFAULT, NULL, on_opened, &o);
  while (!o.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_no_error (o.error);
  g_assert_true (CARB_IS_STORE (o.store));
  g_assert_cmpstr (carb_store_get_backend_name (o.store), ==, "sqlite");
  g_clear_object (&o.store);

  /* Cancelled: no store, whether the connection opened meanwhile or not. */
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  o = (Opened){ 0 };
  carb_store_new_async (d.uri, G_PRIORITY_DEFAULT, cancellable, on_opened, &o);
  g_cancellable_cancel (cancellable);
  while (!o.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_null (o.store);
  g_assert_error (o.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&o.error);

  /* A failure names the URI. */
  o = (Opened){ 0 };
  carb_store_new_async ("nosuchscheme:x", G_PRIORITY_DEFAULT, NULL, on_opened, &o);
  while (!o.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_null (o.store);
  g_assert_error (o.error, CARB_ERROR, CARB_ERROR_NO_PLUGIN);
  g_assert_nonnull (strstr (o.error->message, "nosuchscheme"));
  g_clear_error (&o.error);
  dir_clear (&d);
}

/* Every public enum and flags type has a GType, with the values' nicks. */
static void
test_enum_types (void)
{
  struct
  {
    GType type;
    const char *name;
    gboolean flags;
  } types[] = {
    { CARB_TYPE_ERROR, "CarbError", FALSE },
    { CARB_TYPE_COLUMN_TYPE, "CarbColumnType", FALSE },
    { CARB_TYPE_COLUMN_ROLE, "CarbColumnRole", FALSE },
    { CARB_TYPE_COLUMN_FLAGS, "CarbColumnFlags", TRUE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_assert_cmpstr (g_type_name (types[i].type), ==, types[i].name);
      g_assert_true (types[i].flags ? G_TYPE_IS_FLAGS (types[i].type) : G_TYPE_IS_ENUM (types[i].type));
    }

  g_autoptr (GEnumClass) errors = g_type_class_ref (CARB_TYPE_ERROR);
  g_assert_cmpstr (g_enum_get_value (errors, CARB_ERROR_NOT_PREPARED)->value_nick, ==, "not-prepared");
  g_autoptr (GEnumClass) column_types = g_type_class_ref (CARB_TYPE_COLUMN_TYPE);
  g_assert_cmpstr (g_enum_get_value (column_types, CARB_COLUMN_TYPE_UUID)->value_name, ==,
                   "CARB_COLUMN_TYPE_UUID");
  g_assert_cmpstr (g_enum_get_value (column_types, CARB_COLUMN_TYPE_UUID)->value_nick, ==, "uuid");
  g_autoptr (GFlagsClass) flags = g_type_class_ref (CARB_TYPE_COLUMN_FLAGS);
  g_assert_cmpstr (g_flags_get_first_value (flags, CARB_COLUMN_FLAGS_NULLABLE)->value_nick, ==, "nullable");
}

static void
test_check_version (void)
{
  g_assert_cmpint (CARB_MAJOR_VERSION, ==, 1);
  g_assert_cmpint (CARB_MINOR_VERSION, ==, 0);
  g_assert_cmpint (CARB_MICRO_VERSION, ==, 0);
  g_assert_true (CARB_CHECK_VERSION (1, 0, 0));
  g_assert_true (CARB_CHECK_VERSION (0, 9, 99));
  g_assert_false (CARB_CHECK_VERSION (1, 0, 1));
  g_assert_false (CARB_CHECK_VERSION (1, 1, 0));
  g_assert_false (CARB_CHECK_VERSION (2, 0, 0));
  g_assert_cmpint (CARB_VERSION_MIN_REQUIRED, ==, CARB_VERSION_1_0);
  g_assert_cmpint (CARB_VERSION_MAX_ALLOWED, ==, CARB_VERSION_1_0);
#if !CARB_CHECK_VERSION(1, 0, 0)
#error "CARB_CHECK_VERSION must work in #if"
#endif
}

typedef struct
{
  gint64 id;
  char *title;
  gint64 last_synced_at;
} Note;

CARB_DEFINE_STATIC_MODEL (note_model,
                          Note,
                          NULL,
                          "notes",
                          CARB_ID (Note, id, INT64),
                          CARB_COLUMN (Note, title, TEXT),
                          CARB_COLUMN (Note, last_synced_at, TIMESTAMP));

/* A result is a ref-counted boxed type: a copy is a reference, and the
 * rows stay valid until the last reference goes. */
static void
test_sync_result_boxed (void)
{
  Dir d;
  dir_init (&d);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (d.uri, &error);
  g_assert_no_error (error);
  g_assert_true (carb_store_execute (store,
                                     "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL,"
                                     " last_synced_at INTEGER NOT NULL DEFAULT 0);",
                                     &error));
  g_assert_true (carb_store_prepare_table (store, &note_model, &error));
  g_assert_true (carb_store_execute (store, "INSERT INTO notes (id, title) VALUES (1, 'one')", &error));
  test_wait_clock_tick ();

  g_assert_true (G_TYPE_IS_BOXED (CARB_TYPE_SYNC_RESULT));
  g_assert_cmpstr (g_type_name (CARB_TYPE_SYNC_RESULT), ==, "CarbSyncResult");
  CarbSyncResult *result = carb_store_download_sync (store, &note_model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  CarbSyncResult *copy = g_boxed_copy (CARB_TYPE_SYNC_RESULT, result);
  g_assert_true (copy == result);
  g_assert_true (carb_sync_result_ref (result) == result);
  carb_sync_result_unref (result);
  g_boxed_free (CARB_TYPE_SYNC_RESULT, result);
  /* One reference left: the row and its string are still there (ASan and
   * valgrind would see a use after free otherwise). */
  g_assert_cmpuint (carb_sync_result_get_n_rows (copy), ==, 1);
  const Note *note = carb_sync_result_get_row (copy, 0);
  g_assert_cmpstr (note->title, ==, "one");
  carb_sync_result_unref (copy);

  g_clear_object (&store);
  dir_clear (&d);
}

/* A second connection that holds the database's exclusive lock. In
 * rollback-journal mode (not WAL) that keeps readers out, so a sync must
 * wait for it. */
static sqlite3 *
hold_exclusive_lock (const char *path)
{
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), ==, SQLITE_OK);
  return db;
}

static gpointer
cancel_later (gpointer data)
{
  g_usleep (100 * G_TIME_SPAN_MILLISECOND);
  g_cancellable_cancel (data);
  return NULL;
}

/* A sync waiting for a lock ends soon after a cancel, or after the store's
 * busy-timeout with CARB_ERROR_BUSY; never after a fixed 10 s. */
static void
test_busy_wait (void)
{
  Dir d;
  dir_init (&d);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (d.uri, &error);
  g_assert_no_error (error);
  guint timeout = 0;
  g_object_get (store, "busy-timeout", &timeout, NULL);
  g_assert_cmpuint (timeout, ==, 5000);
  g_assert_true (carb_store_execute (store,
                                     "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL,"
                                     " last_synced_at INTEGER NOT NULL DEFAULT 0);",
                                     &error));
  g_assert_true (carb_store_prepare_table (store, &note_model, &error));
  g_assert_no_error (error);

  g_autofree char *path = g_build_filename (d.tmpdir, "store.db", NULL);
  sqlite3 *holder = hold_exclusive_lock (path);

  /* Cancelled after 100 ms, with the default 5 s timeout. */
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  GThread *canceller = g_thread_new ("cancel", cancel_later, cancellable);
  gint64 start = g_get_monotonic_time ();
  CarbSyncResult *result = carb_store_download_sync (store, &note_model, NULL, 0, cancellable, &error);
  gint64 elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  g_thread_join (canceller);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_test_message ("cancelled after %" G_GINT64_FORMAT " ms", elapsed_ms);
  g_assert_cmpint (elapsed_ms, >=, 90);
  g_assert_cmpint (elapsed_ms, <, 1000);
  g_clear_error (&error);

  /* No cancel: the busy-timeout, then CARB_ERROR_BUSY naming the file. */
  g_object_set (store, "busy-timeout", 200u, NULL);
  start = g_get_monotonic_time ();
  result = carb_store_download_sync (store, &note_model, NULL, 0, NULL, &error);
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  g_assert_null (result);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, path));
  g_test_message ("busy after %" G_GINT64_FORMAT " ms: %s", elapsed_ms, error->message);
  g_assert_cmpint (elapsed_ms, >=, 190);
  g_assert_cmpint (elapsed_ms, <, 2000);
  g_clear_error (&error);

  /* The lock gone, the store syncs again. */
  g_assert_cmpint (sqlite3_exec (holder, "COMMIT", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (holder);
  result = carb_store_download_sync (store, &note_model, NULL, 0, NULL, &error);
  g_assert_no_error (error);
  carb_sync_result_unref (result);

  g_clear_object (&store);
  dir_clear (&d);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/store/error-quark", test_error_quark);
  g_test_add_func ("/store/properties", test_properties);
  g_test_add_func ("/store/uri-masked-by-core", test_uri_masked_by_core);
  g_test_add_func ("/store/uri-masked-by-plugin", test_uri_masked_by_plugin);
  g_test_add_func ("/store/initable-failure", test_initable_failure);
  g_test_add_func ("/store/async-init", test_async_init);
  g_test_add_func ("/store/enum-types", test_enum_types);
  g_test_add_func ("/store/check-version", test_check_version);
  g_test_add_func ("/store/sync-result-boxed", test_sync_result_boxed);
  g_test_add_func ("/store/busy-wait", test_busy_wait);
  return g_test_run ();
}
