/* The async download_sync on a GLib main loop: rows delivered on the
 * caller's context, progress reports there too, cancellation mid-stream.
 * Real SQLite files; every test runs its own GMainContext, pushed as the
 * thread-default, so delivery to the *caller's* context is what is tested.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>

#include "testdb.h"

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
                          "items",
                          CARB_ID (Item, id, INT64),
                          CARB_COLUMN (Item, title, TEXT),
                          CARB_DELETED (Item, deleted),
                          CARB_TIMESTAMP (Item, last_synced_at));

#define BIG_TABLE_ROWS 200000

typedef struct
{
  char *tmpdir;
  char *uri;
  TestDb *db;
  CarbStore *store;
  GMainContext *context;
  GThread *main_thread;
} Fixture;

/* What one async sync saw, filled on the main context. */
typedef struct
{
  Fixture *f;
  CarbStore *store; /* borrowed */
  CarbSyncResult *result;
  GError *error;
  gboolean done;
  GArray *reports; /* of Report, in order */
  gboolean final_seen_before_callback;
  guint notify_calls;
  gboolean notify_after_callback;
  GCancellable *cancel_on_first_report;
} Outcome;

typedef struct
{
  guint64 n_received;
  gint64 n_total;
} Report;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->tmpdir = g_dir_make_tmp ("carb-async-XXXXXX", &error);
  g_assert_no_error (error);
  f->uri = test_store_uri ("sqlite", f->tmpdir);
  f->db = test_db_open (f->uri);
  test_db_exec (f->db, "CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT NOT NULL,"
                       " deleted BOOLEAN NOT NULL DEFAULT 0, last_synced_at INTEGER NOT NULL DEFAULT 0)");
  f->store = carb_store_open (f->uri, &error);
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_table (f->store, &item_model, &error));
  g_assert_no_error (error);
  f->context = g_main_context_new ();
  g_main_context_push_thread_default (f->context);
  f->main_thread = g_thread_self ();
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_main_context_pop_thread_default (f->context);
  g_main_context_unref (f->context);
  g_clear_pointer (&f->store, g_object_unref);
  test_db_free (f->db);
  test_store_dir_remove (f->tmpdir);
  g_free (f->tmpdir);
  g_free (f->uri);
}

/* Rows stamped in the past in one statement, without the trigger's cost
 * (the stamps only need to be distinct), then prepared again: history
 * that predates the trigger. */
static void
fill_big_table (Fixture *f)
{
  test_db_exec (f->db,
                "DROP TRIGGER carb_stamp_insert_items;"
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
                " INSERT INTO items (id, title, last_synced_at)"
                " SELECT i, 'row ' || i, 1000000 + i * 1000 FROM n",
                BIG_TABLE_ROWS);
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_store_prepare_table (f->store, &item_model, &error));
  g_assert_no_error (error);
}

static void
assert_on_main_context (Fixture *f)
{
  g_assert_true (g_thread_self () == f->main_thread);
  g_assert_true (g_main_context_is_owner (f->context));
}

static void
on_progress (guint64 n_received, gint64 n_total, gpointer data)
{
  Outcome *o = data;
  Report r = { n_received, n_total };

  assert_on_main_context (o->f);
  g_assert_false (o->done);
  g_array_append_val (o->reports, r);
  if (o->cancel_on_first_report != NULL && o->reports->len == 1)
    g_cancellable_cancel (o->cancel_on_first_report);
}

static void
on_progress_notify (gpointer data)
{
  Outcome *o = data;

  assert_on_main_context (o->f);
  o->notify_calls++;
  o->notify_after_callback = o->done;
}

static void
on_synced (GObject *source, GAsyncResult *res, gpointer data)
{
  Outcome *o = data;

  assert_on_main_context (o->f);
  g_assert_true (source == G_OBJECT (o->store));
  o->result = carb_store_download_sync_finish (o->store, res, &o->error);
  g_assert_true ((o->result == NULL) != (o->error == NULL));
  if (o->reports->len > 0)
    {
      const Report *last = &g_array_index (o->reports, Report, o->reports->len - 1);
      o->final_seen_before_callback = last->n_total >= 0;
    }
  o->done = TRUE;
}

static void
outcome_clear (Outcome *o)
{
  g_clear_pointer (&o->result, carb_sync_result_unref);
  g_clear_error (&o->error);
  g_clear_pointer (&o->reports, g_array_unref);
}

/* Runs one async sync to completion on the fixture's context. */
static void
run_async (Fixture *f, const CarbSyncPoint *since, GCancellable *cancellable, Outcome *o)
{
  *o = (Outcome){ .f = f, .store = f->store, .reports = g_array_new (FALSE, FALSE, sizeof (Report)) };
  o->cancel_on_first_report = cancellable;
  carb_store_download_sync_async (f->store, &item_model, since, 0, on_progress, o, on_progress_notify,
                                  cancellable, on_synced, o);
  g_assert_false (o->done); /* never delivered from inside the call */
  while (!o->done || o->notify_calls == 0)
    g_main_context_iteration (f->context, TRUE);
  /* Let any report still queued run: none may come after the callback. */
  while (g_main_context_iteration (f->context, FALSE))
    ;
  g_assert_cmpuint (o->notify_calls, ==, 1);
  g_assert_true (o->notify_after_callback);
}

static void
test_rows (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  Outcome o;

  g_assert_true (carb_store_execute (
      f->store, "INSERT INTO items (id, title) VALUES (1, 'one'), (2, 'two'), (3, 'three')", &error));
  g_assert_no_error (error);
  test_wait_clock_tick ();

  run_async (f, NULL, NULL, &o);
  g_assert_no_error (o.error);
  gsize n = 0;
  const Item *rows = carb_sync_result_get_rows (o.result, &n);
  g_assert_cmpuint (n, ==, 3);
  g_assert_cmpstr (rows[0].title, ==, "one");
  g_assert_cmpstr (rows[2].title, ==, "three");
  /* Small syncs get the final report only. */
  g_assert_cmpuint (o.reports->len, ==, 1);
  g_assert_cmpuint (g_array_index (o.reports, Report, 0).n_received, ==, 3);
  g_assert_true (o.final_seen_before_callback);
  g_autoptr (CarbSyncPoint) point = carb_sync_point_copy (carb_sync_result_get_synced_until (o.result));
  outcome_clear (&o);

  /* From the returned point: nothing new, then exactly the new rows. */
  run_async (f, point, NULL, &o);
  g_assert_no_error (o.error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (o.result), ==, 0);
  /* An empty sync's final report is 0 of 0: a known total, not -1. */
  g_assert_cmpuint (o.reports->len, ==, 1);
  g_assert_cmpint (g_array_index (o.reports, Report, 0).n_total, ==, 0);
  g_assert_true (o.final_seen_before_callback);
  g_clear_pointer (&point, carb_sync_point_free);
  point = carb_sync_point_copy (carb_sync_result_get_synced_until (o.result));
  outcome_clear (&o);

  g_assert_true (carb_store_execute (f->store, "UPDATE items SET title = 'TWO' WHERE id = 2", &error));
  g_assert_no_error (error);
  test_wait_clock_tick ();
  run_async (f, point, NULL, &o);
  g_assert_no_error (o.error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (o.result), ==, 1);
  g_assert_cmpstr (((const Item *) carb_sync_result_get_row (o.result, 0))->title, ==, "TWO");
  outcome_clear (&o);
}

static void
test_progress (Fixture *f, gconstpointer data)
{
  Outcome o;

  fill_big_table (f);
  run_async (f, NULL, NULL, &o);
  g_assert_no_error (o.error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (o.result), ==, BIG_TABLE_ROWS);

  /* At least the first streaming report (sent at once) and the final one;
   * counts only grow; the last report has the total, before the callback. */
  g_test_message ("%u progress reports for %d rows", o.reports->len, BIG_TABLE_ROWS);
  g_assert_cmpuint (o.reports->len, >=, 2);
  gsize previous = 0;
  for (guint i = 0; i < o.reports->len; i++)
    {
      const Report *r = &g_array_index (o.reports, Report, i);
      g_assert_cmpuint (r->n_received, >, previous);
      g_assert_cmpuint (r->n_received, <=, BIG_TABLE_ROWS);
      if (i + 1 < o.reports->len)
        g_assert_cmpint (r->n_total, ==, -1); /* not known while streaming */
      previous = r->n_received;
    }
  const Report *last = &g_array_index (o.reports, Report, o.reports->len - 1);
  g_assert_cmpuint (last->n_received, ==, BIG_TABLE_ROWS);
  g_assert_cmpint (last->n_total, ==, BIG_TABLE_ROWS);
  g_assert_true (o.final_seen_before_callback);
  outcome_clear (&o);
}

static void
test_cancel_mid_stream (Fixture *f, gconstpointer data)
{
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  Outcome o;

  fill_big_table (f);
  run_async (f, NULL, cancellable, &o);
  g_assert_error (o.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (o.result);
  /* It was cancelled mid-stream: the first report came before the end. */
  g_assert_cmpuint (o.reports->len, >=, 1);
  g_test_message ("cancelled at the first report, %" G_GUINT64_FORMAT " rows of %d",
                  g_array_index (o.reports, Report, 0).n_received, BIG_TABLE_ROWS);
  g_assert_cmpuint (g_array_index (o.reports, Report, 0).n_received, <, BIG_TABLE_ROWS);
  for (guint i = 0; i < o.reports->len; i++)
    g_assert_cmpint (g_array_index (o.reports, Report, i).n_total, ==, -1); /* no final report */
  g_assert_false (o.final_seen_before_callback);
  outcome_clear (&o);

  /* The caller's point (here: none, a first sync) is where it was, and a
   * sync from it still returns everything. */
  run_async (f, NULL, NULL, &o);
  g_assert_no_error (o.error);
  g_assert_cmpuint (carb_sync_result_get_n_rows (o.result), ==, BIG_TABLE_ROWS);
  const Item *last = carb_sync_result_get_row (o.result, BIG_TABLE_ROWS - 1);
  g_assert_cmpint (last->id, ==, BIG_TABLE_ROWS);
  outcome_clear (&o);
}

static void
test_cancel_before_start (Fixture *f, gconstpointer data)
{
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  Outcome o;

  g_cancellable_cancel (cancellable);
  run_async (f, NULL, cancellable, &o);
  g_assert_error (o.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (o.reports->len, ==, 0);
  outcome_clear (&o);
}

/* A failing sync reports its error through finish, on the main context. */
static void
test_error (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  Outcome o;

  g_assert_true (carb_store_execute (f->store, "DROP TABLE items", &error));
  g_assert_no_error (error);
  run_async (f, NULL, NULL, &o);
  g_assert_error (o.error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH);
  g_assert_cmpuint (o.reports->len, ==, 0);
  outcome_clear (&o);
}

/* The store may be dropped right after starting: the sync keeps it. */
static void
test_store_kept_alive (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  CarbStore *second = carb_store_open (f->uri, &error);
  g_assert_no_error (error);
  Outcome o = { .f = f, .store = second, .reports = g_array_new (FALSE, FALSE, sizeof (Report)) };

  carb_store_download_sync_async (second, &item_model, NULL, 0, NULL, NULL, NULL, NULL, on_synced, &o);
  g_object_unref (second); /* only the sync holds it now */
  while (!o.done)
    g_main_context_iteration (f->context, TRUE);
  g_assert_no_error (o.error);
  g_assert_nonnull (o.result);
  outcome_clear (&o);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/async/" path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("rows", test_rows);
  ADD ("progress", test_progress);
  ADD ("cancel-mid-stream", test_cancel_mid_stream);
  ADD ("cancel-before-start", test_cancel_before_start);
  ADD ("error", test_error);
  ADD ("store-kept-alive", test_store_kept_alive);
#undef ADD
  return g_test_run ();
}
