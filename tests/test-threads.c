/* docs/THREADING.md, tested: one CarbStore shared by threads that sync
 * and write at the same time (an SQLite file in WAL mode). Each syncing
 * thread follows its own sync point; at the end each must have seen every
 * row, in its final version.
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

#define BATCHES    40
#define BATCH_ROWS 25
#define N_ROWS     (BATCHES * BATCH_ROWS)

typedef struct
{
  CarbStore *store; /* shared by every thread */
  gint writer_done;
} Shared;

typedef struct
{
  Shared *shared;
  guint max_rows;     /* 0: buffered, all rows; else pages of this size */
  gboolean streaming; /* carb_store_download_sync_foreach() */
  GHashTable *titles; /* id → the latest title seen */
  CarbSyncPoint *point;
  guint n_syncs;
  gsize n_step_rows; /* rows of the current sync */
} Syncer;

static gboolean
remember_row (gconstpointer row, gpointer data, GError **error)
{
  Syncer *s = data;
  const Item *item = row;
  s->n_step_rows++;
  g_hash_table_insert (s->titles, GINT_TO_POINTER ((gint) item->id), g_strdup (item->title));
  return TRUE;
}

/* One sync from the thread's point; returns FALSE when it was complete and
 * empty (caught up). */
static gboolean
sync_step (Syncer *s)
{
  g_autoptr (GError) error = NULL;
  gsize n = 0;
  gboolean more = FALSE;

  s->n_syncs++;
  s->n_step_rows = 0;
  if (s->streaming)
    {
      CarbSyncPoint *next = NULL;
      g_assert_true (carb_store_download_sync_foreach (s->shared->store, &item_model, s->point, s->max_rows,
                                                       remember_row, s, &next, NULL, &error));
      g_assert_no_error (error);
      n = s->n_step_rows;
      more = !carb_sync_point_is_complete (next);
      g_clear_pointer (&s->point, carb_sync_point_free);
      s->point = next;
      return more || n > 0;
    }
  g_autoptr (CarbSyncResult) result
      = carb_store_download_sync (s->shared->store, &item_model, s->point, s->max_rows, NULL, &error);
  g_assert_no_error (error);
  const Item *rows = carb_sync_result_get_rows (result, &n);
  for (gsize i = 0; i < n; i++)
    remember_row (&rows[i], s, NULL);
  more = carb_sync_result_has_more (result);
  g_clear_pointer (&s->point, carb_sync_point_free);
  s->point = carb_sync_point_copy (carb_sync_result_get_synced_until (result));
  return more || n > 0;
}

static gpointer
syncer_thread (gpointer data)
{
  Syncer *s = data;

  /* A pause between syncs, as any real syncer has: the store's lock is
   * not fair, and threads that take it back at once can starve the writer
   * (under valgrind, which runs one thread at a time, for minutes). */
  while (!g_atomic_int_get (&s->shared->writer_done))
    {
      sync_step (s);
      g_usleep (200);
    }
  /* The writer has finished and waited a clock tick: catch up. */
  while (sync_step (s))
    ;
  return NULL;
}

static gpointer
writer_thread (gpointer data)
{
  Shared *shared = data;
  g_autoptr (GError) error = NULL;

  for (guint b = 0; b < BATCHES; b++)
    {
      g_autoptr (GString) sql = g_string_new ("INSERT INTO items (id, title) VALUES ");
      for (guint i = 0; i < BATCH_ROWS; i++)
        {
          guint id = b * BATCH_ROWS + i + 1;
          g_string_append_printf (sql, "%s(%u, 'v1 %u')", i > 0 ? ", " : "", id, id);
        }
      g_assert_true (carb_store_execute (shared->store, sql->str, &error));
      g_assert_no_error (error);
      /* Rewrite a row of the previous batch: the syncers must end with v2. */
      if (b > 0)
        {
          g_autofree char *update
              = g_strdup_printf ("UPDATE items SET title = 'v2 ' || id WHERE id = %u", b * BATCH_ROWS);
          g_assert_true (carb_store_execute (shared->store, update, &error));
          g_assert_no_error (error);
        }
      g_usleep (500);
    }
  test_wait_clock_tick ();
  g_atomic_int_set (&shared->writer_done, 1);
  return NULL;
}

static void
assert_saw_everything (const Syncer *s)
{
  g_assert_cmpuint (g_hash_table_size (s->titles), ==, N_ROWS);
  for (guint id = 1; id <= N_ROWS; id++)
    {
      gboolean rewritten = id % BATCH_ROWS == 0 && id < N_ROWS;
      g_autofree char *expected = g_strdup_printf ("%s %u", rewritten ? "v2" : "v1", id);
      g_assert_cmpstr (g_hash_table_lookup (s->titles, GINT_TO_POINTER ((gint) id)), ==, expected);
    }
  g_assert_true (carb_sync_point_is_complete (s->point));
}

static void
test_shared_store (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *tmpdir = g_dir_make_tmp ("carb-threads-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *uri = test_store_uri ("sqlite", tmpdir);
  g_autoptr (TestDb) db = test_db_open (uri); /* sets WAL mode on the file */
  test_db_exec (db, "CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT NOT NULL,"
                    " deleted BOOLEAN NOT NULL DEFAULT 0, last_synced_at INTEGER NOT NULL DEFAULT 0)");
  Shared shared = { .store = carb_store_open (uri, &error) };
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_table (shared.store, &item_model, &error));
  g_assert_no_error (error);

  Syncer syncers[] = {
    { .shared = &shared, .max_rows = 0 },
    { .shared = &shared, .max_rows = 7 },
    { .shared = &shared, .max_rows = 0, .streaming = TRUE },
  };
  GThread *threads[G_N_ELEMENTS (syncers)];
  for (guint i = 0; i < G_N_ELEMENTS (syncers); i++)
    {
      syncers[i].titles = g_hash_table_new_full (NULL, NULL, NULL, g_free);
      threads[i] = g_thread_new ("syncer", syncer_thread, &syncers[i]);
    }
  GThread *writer = g_thread_new ("writer", writer_thread, &shared);
  g_thread_join (writer);
  for (guint i = 0; i < G_N_ELEMENTS (syncers); i++)
    {
      g_thread_join (threads[i]);
      assert_saw_everything (&syncers[i]);
      /* Each thread really ran alongside the writer, more than once. */
      g_assert_cmpuint (syncers[i].n_syncs, >, 2);
      g_hash_table_unref (syncers[i].titles);
      carb_sync_point_free (syncers[i].point);
    }

  g_object_unref (shared.store);
  g_clear_pointer (&db, test_db_free);
  test_store_dir_remove (tmpdir);
}

/* Results and sync points are immutable: read from several threads at
 * once, then freed once. */
static gpointer
read_result (gpointer data)
{
  const CarbSyncResult *result = data;
  guint64 sum = 0;

  for (guint round = 0; round < 200; round++)
    for (gsize i = 0; i < carb_sync_result_get_n_rows (result); i++)
      sum += (guint64) ((const Item *) carb_sync_result_get_row (result, i))->id;
  g_autofree char *text = carb_sync_point_to_string (carb_sync_result_get_synced_until (result));
  g_assert_nonnull (text);
  return GSIZE_TO_POINTER ((gsize) sum);
}

static void
test_shared_result (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *tmpdir = g_dir_make_tmp ("carb-threads-XXXXXX", &error);
  g_autofree char *uri = test_store_uri ("sqlite", tmpdir);
  g_autoptr (TestDb) db = test_db_open (uri);
  test_db_exec (db, "CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT NOT NULL,"
                    " deleted BOOLEAN NOT NULL DEFAULT 0, last_synced_at INTEGER NOT NULL DEFAULT 0);"
                    "INSERT INTO items (id, title, last_synced_at) VALUES (1, 'a', 1000), (2, 'b', 2000)");
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  g_assert_true (carb_store_prepare_table (store, &item_model, &error));
  g_autoptr (CarbSyncResult) result = carb_store_download_sync (store, &item_model, NULL, 0, NULL, &error);
  g_assert_no_error (error);

  GThread *readers[4];
  for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
    readers[i] = g_thread_new ("reader", read_result, result);
  for (guint i = 0; i < G_N_ELEMENTS (readers); i++)
    g_assert_cmpuint (GPOINTER_TO_SIZE (g_thread_join (readers[i])), ==, 200 * 3);

  g_clear_pointer (&store, g_object_unref);
  g_clear_pointer (&db, test_db_free);
  test_store_dir_remove (tmpdir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/threads/shared-store", test_shared_store);
  g_test_add_func ("/threads/shared-result", test_shared_result);
  return g_test_run ();
}
