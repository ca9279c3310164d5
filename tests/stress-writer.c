/* The stress checker's writers: random transactions on a raw connection.
 *
 * Each transaction writes a few rows (upserts, updates, soft deletes, some
 * of them reviving deleted rows), and sleeps inside the transaction: mostly
 * right after its first write, so its first stamps are old by the time it
 * commits. That is exactly the case a naive clock source loses (a sync in
 * between returns `now`, later than the stamp of a row it could not see).
 * Every write sets a title unique to it, so a replica that kept an older
 * version of a row is caught. Stamps are never written here: the trigger of
 * carb_store_prepare_table() makes them with the database's clock.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "stress.h"

#include <stdlib.h>

StressWriter *
stress_writer_new (const StressConfig *config, guint index, gint *stop)
{
  StressWriter *writer = g_new0 (StressWriter, 1);
  writer->config = config;
  writer->index = index;
  writer->rand = g_rand_new_with_seed (config->seed * 7919u + index);
  writer->db = test_db_open (config->uri);
  writer->stop = stop;
  return writer;
}

void
stress_writer_free (StressWriter *writer)
{
  g_rand_free (writer->rand);
  test_db_free (writer->db);
  g_free (writer);
}

static int
compare_ids (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return (x > y) - (x < y);
}

/* One write on row @id; FALSE if the statement failed. */
static gboolean
write_row (StressWriter *w, gint64 id, guint n)
{
  const char *qtable = w->config->qtable;
  g_autofree char *title = g_strdup_printf ("w%u-t%u-%u", w->index, w->txn, n);
  gint64 value = g_rand_int_range (w->rand, 0, 1000000);
  g_autoptr (GError) error = NULL;
  guint kind = g_rand_int_range (w->rand, 0, 10);

  if (kind < 6) /* insert, or update and revive */
    test_db_try_exec (
        w->db, &error,
        "INSERT INTO %s (id, title, value, deleted) VALUES (%" G_GINT64_FORMAT ", '%s', %" G_GINT64_FORMAT
        ", FALSE) ON CONFLICT (id) DO UPDATE SET title = excluded.title, value = excluded.value,"
        " deleted = FALSE",
        qtable, id, title, value);
  else if (kind < 8) /* update in place; a deleted row stays deleted */
    test_db_try_exec (w->db, &error,
                      "UPDATE %s SET title = '%s', value = %" G_GINT64_FORMAT " WHERE id = %" G_GINT64_FORMAT,
                      qtable, title, value, id);
  else /* soft delete */
    test_db_try_exec (w->db, &error,
                      "UPDATE %s SET title = '%s', deleted = TRUE WHERE id = %" G_GINT64_FORMAT, qtable,
                      title, id);
  if (error != NULL)
    g_test_message ("writer %u: %s", w->index, error->message);
  return error == NULL;
}

/* Up to about a second in all, a quarter of the transactions not at all. */
static gulong
pick_sleep (StressWriter *w)
{
  if (g_rand_int_range (w->rand, 0, 4) == 0)
    return 0;
  return (gulong) g_rand_int_range (w->rand, 0, 1000000);
}

static void
run_transaction (StressWriter *w)
{
  g_autoptr (GError) error = NULL;
  gboolean sqlite = !test_db_is_postgres (w->db);
  guint n = (guint) g_rand_int_range (w->rand, 1, 7);
  gint64 ids[6];

  /* Ascending ids: PostgreSQL writers then take row locks in one order and
   * cannot deadlock each other. SQLite writers are serialized anyway;
   * BEGIN IMMEDIATE takes the write lock up front (a deferred transaction
   * upgrading its lock could deadlock) and may give up after the busy
   * timeout when the others hold it long: then just try again. */
  for (guint i = 0; i < n; i++)
    ids[i] = g_rand_int_range (w->rand, 1, (gint32) w->config->n_ids + 1);
  qsort (ids, n, sizeof ids[0], compare_ids);
  if (!test_db_try_exec (w->db, &error, sqlite ? "BEGIN IMMEDIATE" : "BEGIN"))
    {
      g_test_message ("writer %u: %s", w->index, error->message);
      w->errors++;
      return;
    }
  w->txn++;

  gulong sleep_us = pick_sleep (w);
  gulong first_sleep = sleep_us * (gulong) g_rand_int_range (w->rand, 50, 101) / 100;
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < n; i++)
    {
      ok = write_row (w, ids[i], i);
      if (i == 0)
        g_usleep (first_sleep);
    }
  g_usleep (sleep_us - first_sleep);

  if (ok && g_rand_int_range (w->rand, 0, 10) > 0 && test_db_try_exec (w->db, &error, "COMMIT"))
    {
      w->committed++;
      w->writes += n;
      return;
    }
  if (!ok || error != NULL)
    w->errors++;
  g_clear_error (&error);
  test_db_try_exec (w->db, &error, "ROLLBACK");
  w->rolled_back++;
}

gpointer
stress_writer_run (gpointer data)
{
  StressWriter *w = data;
  while (!g_atomic_int_get (w->stop))
    run_transaction (w);
  return NULL;
}
