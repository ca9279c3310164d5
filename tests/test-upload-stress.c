/* The no-missed-rows stress checker with uploads as the writers (issue
 * #12): writer threads, each with its own server store, apply batches of
 * new rows and of updates to their earlier rows through
 * carb_store_apply_changes(), all at once; reader threads download the
 * table with carb_store_download_changes() from their last point, in pages
 * of random size. When the writers stop, each reader syncs to the end and
 * must hold exactly the server's table: every row, with its newest value
 * and version. A row a reader lacks is a lost row.
 *
 *   /upload-stress/<backend>/no-missed-rows   the real clock source
 *   /upload-stress/<backend>/naive-detected   readers on the naive clock
 *       (W = now; test builds of the plugins only) must be caught losing
 *       rows, so the checker is known to have teeth
 *
 * CARB_STRESS_SECONDS (default 4) sets each run's length.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <string.h>
#include <unistd.h>

#include "testdb.h"

#define N_WRITERS 3
#define N_READERS 3

typedef struct
{
  char *uri;
  char *reader_uri;
  char *table;
  CarbModel *model;
  CarbSyncGroup *group;
  gint stop_writers, stop_readers;
} Run;

typedef struct
{
  Run *run;
  guint index;
  GThread *thread;
  guint64 rows, batches;
  GError *error;
} Writer;

typedef struct
{
  Run *run;
  GThread *thread;
  CarbStore *store;
  CarbSyncPoint *point;
  GHashTable *rows; /* id → "value@version" (owned) */
  GRand *rand;
  guint64 syncs;
  GError *error;
} Reader;

static guint
env_seconds (void)
{
  const char *s = g_getenv ("CARB_STRESS_SECONDS");
  return s != NULL ? (guint) g_ascii_strtoull (s, NULL, 10) : 4;
}

static CarbChange
change (Run *run, const char *id, const char *column, CarbVersion v, GVariant *value)
{
  return (CarbChange){ (char *) run->table, (char *) id, (char *) column, v, value };
}

/* One batch: 1–8 new rows, and as many updates of rows written before. */
static gboolean
write_batch (Writer *w, CarbStore *store, CarbHlc *clock, GRand *rand)
{
  Run *run = w->run;
  guint n_new = (guint) g_rand_int_range (rand, 1, 9);
  g_autoptr (GArray) changes = g_array_new (FALSE, FALSE, sizeof (CarbChange));
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  guint64 site = w->index + 1;
  for (guint i = 0; i < 2 * n_new; i++)
    {
      gboolean fresh = i < n_new || w->rows == 0;
      guint64 k
          = fresh ? w->rows++ : (guint64) g_rand_int_range (rand, 0, (gint32) MIN (w->rows, G_MAXINT32));
      char *id = g_strdup_printf ("w%u-%06" G_GUINT64_FORMAT, w->index, k);
      g_ptr_array_add (ids, id);
      CarbVersion v = { carb_hlc_tick (clock, g_get_real_time ()), site };
      CarbChange c = change (run, id, "n", v, g_variant_ref_sink (g_variant_new_int64 ((gint64) v.hlc)));
      g_array_append_val (changes, c);
      if (fresh)
        {
          CarbChange d = change (run, id, "deleted", v, g_variant_ref_sink (g_variant_new_boolean (FALSE)));
          g_array_append_val (changes, d);
        }
    }
  /* A changeset groups consecutive changes of one row; rows may repeat. */
  g_autoptr (GBytes) bytes = carb_changeset_serialize ((CarbChange *) changes->data, changes->len);
  for (guint i = 0; i < changes->len; i++)
    g_variant_unref (g_array_index (changes, CarbChange, i).value);
  g_autoptr (GVariant) context = g_variant_ref_sink (g_variant_new_parsed ("@a{sv} {}"));
  g_autoptr (GBytes) result = carb_store_apply_changes (store, run->group, context, bytes, NULL, &w->error);
  w->batches++;
  return result != NULL;
}

static gpointer
writer_run (gpointer data)
{
  Writer *w = data;
  g_autoptr (CarbStore) store = carb_store_open (w->run->uri, &w->error);
  CarbHlc clock = { 0 };
  GRand *rand = g_rand_new_with_seed (w->index * 7919 + 1);
  while (store != NULL && !g_atomic_int_get (&w->run->stop_writers) && write_batch (w, store, &clock, rand))
    ;
  g_rand_free (rand);
  return NULL;
}

/* One page: merge by maximum version, like a replica. Returns has_more. */
static gboolean
reader_sync (Reader *r, gboolean *has_more)
{
  Run *run = r->run;
  g_autoptr (CarbSyncPoint) until = NULL;
  g_autoptr (GVariant) context = g_variant_ref_sink (g_variant_new_parsed ("@a{sv} {}"));
  guint limit = g_rand_boolean (r->rand) ? (guint) g_rand_int_range (r->rand, 1, 50) : 0;
  g_autoptr (GBytes) page = carb_store_download_changes (r->store, run->group, context, 0, r->point, limit,
                                                         &until, has_more, NULL, &r->error);
  if (page == NULL)
    return FALSE;
  g_autoptr (GArray) changes = carb_changeset_parse (page, &r->error);
  if (changes == NULL)
    return FALSE;
  for (guint i = 0; i < changes->len; i++)
    {
      CarbChange *c = &g_array_index (changes, CarbChange, i);
      if (strcmp (c->column, "n") != 0)
        continue;
      g_autofree char *v = carb_version_to_string (&c->version);
      g_autofree char *cell = g_strdup_printf ("%" G_GINT64_FORMAT "@%s", g_variant_get_int64 (c->value), v);
      const char *held = g_hash_table_lookup (r->rows, c->row_id);
      /* "value@version": later text after '@' is the greater version. */
      if (held == NULL || strcmp (strchr (held, '@'), strchr (cell, '@')) < 0)
        g_hash_table_insert (r->rows, g_strdup (c->row_id), g_steal_pointer (&cell));
    }
  g_clear_pointer (&r->point, carb_sync_point_free);
  r->point = g_steal_pointer (&until);
  r->syncs++;
  return TRUE;
}

static gpointer
reader_run (gpointer data)
{
  Reader *r = data;
  gboolean has_more = FALSE;
  while (!g_atomic_int_get (&r->run->stop_readers) && reader_sync (r, &has_more))
    ;
  return NULL;
}

static Run *
run_new (const char *backend, gboolean naive, char *tmpdir)
{
  static guint counter;
  g_autoptr (GError) error = NULL;
  Run *run = g_new0 (Run, 1);
  run->uri = test_store_uri (backend, tmpdir);
  /* The naive readers load the test build of the plugin under its own
   * scheme (plugins.d/naive): "naive+" before the URI. */
  run->reader_uri = naive ? g_strconcat ("naive+", run->uri, NULL) : g_strdup (run->uri);
  run->table = g_strdup_printf ("upstress_%d_%u", (int) getpid (), counter++);
  run->model = carb_model_new (NULL, run->table);
  g_assert_true (
      carb_model_add_column (run->model, "id", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_ID, 0, &error));
  g_assert_true (
      carb_model_add_column (run->model, "n", CARB_COLUMN_TYPE_INT64, CARB_COLUMN_ROLE_DATA, 0, &error));
  g_assert_true (carb_model_add_column (run->model, "deleted", CARB_COLUMN_TYPE_BOOL,
                                        CARB_COLUMN_ROLE_DELETED, 0, &error));
  g_assert_true (carb_model_add_column (run->model, "ts", CARB_COLUMN_TYPE_TIMESTAMP,
                                        CARB_COLUMN_ROLE_TIMESTAMP, 0, &error));
  run->group = carb_sync_group_new ("upstress");
  g_assert_true (carb_sync_group_add_model (run->group, run->model, &error));
  g_autoptr (CarbStore) server = carb_store_open (run->uri, &error);
  g_assert_no_error (error);
  g_assert_true (carb_store_create_table (server, carb_sync_group_get_wire_model (run->group, 0), &error));
  g_assert_true (carb_store_prepare_group (server, run->group, &error));
  g_assert_no_error (error);
  return run;
}

static void
run_free (Run *run, TestDb *db)
{
  if (test_db_is_postgres (db))
    test_db_exec (db, "DROP TABLE IF EXISTS \"%s\"", run->table);
  carb_sync_group_unref (run->group);
  carb_model_unref (run->model);
  g_free (run->uri);
  g_free (run->reader_uri);
  g_free (run->table);
  g_free (run);
}

/* Rows of the server table a reader lacks or holds in another state. */
static guint
missed_rows (Reader *r, GPtrArray *table, GString *sample)
{
  guint missed = 0;
  for (guint i = 0; i < table->len; i++)
    {
      GStrv row = table->pdata[i];
      g_autofree char *want = g_strdup_printf ("%s@%s", row[1], row[2]);
      const char *held = g_hash_table_lookup (r->rows, row[0]);
      if (g_strcmp0 (held, want) != 0)
        {
          if (missed++ < 3)
            g_string_append_printf (sample, " %s: server %s, reader %s;", row[0], want,
                                    held ? held : "nothing");
        }
    }
  return missed;
}

/* One run: writers and readers for @seconds, then every reader catches up.
 * Returns the number of rows readers missed, in total. */
static guint
stress (const char *backend, gboolean naive, guint seconds, GString *report)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *tmpdir = g_dir_make_tmp ("carb-upstress-XXXXXX", &error);
  Run *run = run_new (backend, naive, tmpdir);
  g_autoptr (TestDb) db = test_db_open (run->uri);
  Writer writers[N_WRITERS] = { { 0 } };
  Reader readers[N_READERS] = { { 0 } };
  for (guint i = 0; i < N_READERS; i++)
    {
      readers[i] = (Reader){ .run = run, .rand = g_rand_new_with_seed (i + 17) };
      readers[i].rows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      readers[i].store = carb_store_open (run->reader_uri, &error);
      g_assert_no_error (error);
      readers[i].thread = g_thread_new ("upstress-reader", reader_run, &readers[i]);
    }
  for (guint i = 0; i < N_WRITERS; i++)
    {
      writers[i] = (Writer){ .run = run, .index = i };
      writers[i].thread = g_thread_new ("upstress-writer", writer_run, &writers[i]);
    }
  g_usleep (seconds * G_USEC_PER_SEC);
  g_atomic_int_set (&run->stop_writers, 1);
  guint64 batches = 0, rows = 0;
  for (guint i = 0; i < N_WRITERS; i++)
    {
      g_thread_join (writers[i].thread);
      g_assert_no_error (writers[i].error);
      batches += writers[i].batches;
      rows += writers[i].rows;
    }
  g_atomic_int_set (&run->stop_readers, 1);
  for (guint i = 0; i < N_READERS; i++)
    g_thread_join (readers[i].thread);

  /* Every reader syncs to the end: two full passes after the writers. */
  test_wait_clock_tick ();
  g_autoptr (GPtrArray) table
      = test_db_query_rows (db, "SELECT id, n, n__v FROM \"%s\" ORDER BY id", run->table);
  guint missed = 0;
  for (guint i = 0; i < N_READERS; i++)
    {
      Reader *r = &readers[i];
      for (guint pass = 0; pass < 2 && r->error == NULL; pass++)
        {
          gboolean has_more = TRUE;
          while (has_more && reader_sync (r, &has_more))
            ;
        }
      g_assert_no_error (r->error);
      missed += missed_rows (r, table, report);
      g_string_append_printf (report, " reader %u: %" G_GUINT64_FORMAT " syncs;", i, r->syncs);
      g_object_unref (r->store);
      g_clear_pointer (&r->point, carb_sync_point_free);
      g_hash_table_unref (r->rows);
      g_rand_free (r->rand);
    }
  g_test_message ("%s%s: %" G_GUINT64_FORMAT " batches, %" G_GUINT64_FORMAT " rows, %u on the server;%s",
                  backend, naive ? " (naive)" : "", batches, rows, table->len, report->str);
  g_assert_cmpuint (table->len, ==, rows);
  run_free (run, db);
  test_store_dir_remove (tmpdir);
  return missed;
}

static void
test_no_missed_rows (gconstpointer backend)
{
  g_autoptr (GString) report = g_string_new (NULL);
  guint missed = stress (backend, FALSE, env_seconds (), report);
  if (missed > 0)
    g_test_fail_printf ("readers missed %u rows:%s", missed, report->str);
}

/* The naive clock loses rows only when a commit lands late; a few runs
 * give it the chance. */
static void
test_naive_detected (gconstpointer backend)
{
  for (guint round = 0; round < 5; round++)
    {
      g_autoptr (GString) report = g_string_new (NULL);
      if (stress (backend, TRUE, env_seconds (), report) > 0)
        return;
    }
  g_test_fail_printf ("the checker did not notice the naive clock source losing rows in 5 runs");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_auto (GStrv) backends = test_store_backends ();
  for (char **b = backends; *b != NULL; b++)
    {
      g_autofree char *real = g_strdup_printf ("/upload-stress/%s/no-missed-rows", *b);
      g_autofree char *naive = g_strdup_printf ("/upload-stress/%s/naive-detected", *b);
      g_test_add_data_func (real, g_intern_string (*b), test_no_missed_rows);
      g_test_add_data_func (naive, g_intern_string (*b), test_naive_detected);
    }
  return g_test_run ();
}
