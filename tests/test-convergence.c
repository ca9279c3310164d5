/* The convergence checker of two-way sync (docs/TWOWAY.md, docs/STRESS.md):
 * several replicas and one server store; random local inserts, column
 * updates, deletes and undeletes, syncs, partial uploads and download
 * pages, and the nasty cases — a crash between apply and acknowledge, a
 * batch applied twice and acknowledged twice, old batches replayed, stale
 * download pages merged again, edits made while a batch is in flight,
 * writers whose clock runs ahead within the server's bound and beyond it,
 * writes on the server that bypass the library, concurrent syncs from
 * threads. Every write is logged with the version the
 * replica (or the server) gave it.
 *
 * The oracle, at quiescence (every replica synced until nothing is
 * pending, then once more): for every (table, row, column) the server and
 * every replica hold the value of the logged write with the greatest
 * version, and that version; nothing is pending; no rejection but the
 * expected ones. Any mismatch prints the cell, the expected write and what
 * each site holds, and fails.
 *
 *   /convergence/<backend>/random           the seeded run (300 steps)
 *   /convergence/<backend>/teeth-*          the checker must fail on a
 *                                           sabotaged run (a write lost
 *                                           from a replica file, an
 *                                           arrival-order server merge, a
 *                                           replica cell changed behind
 *                                           the library's back)
 *
 * Replay: --seed N (or CARB_CONVERGENCE_SEED); longer: --steps N (or
 * CARB_CONVERGENCE_STEPS); --replicas K (2..6); --no-server-writes and
 * --no-clock-correction leave those steps out (triage).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>

#include "testdb.h"

/* ------------------------------------------------------------------------ */
/* The group: two tables, a uuid id and a text id, a nullable column each. */

#define N_TABLES     2
#define MAX_COLS     4
#define MAX_REPLICAS 6
#define MAX_AHEAD_MS 60000 /* the group's clock bound */
#define POOL_SIZE    8

typedef struct
{
  const char *name;
  CarbColumnType type;
  gboolean nullable;
} DataCol;

typedef struct
{
  const char *table;
  CarbColumnType id_type;
  DataCol cols[MAX_COLS];
  guint n_cols; /* data columns; the tombstone is cell n_cols */
} TableSpec;

static const TableSpec tables[N_TABLES] = {
  { "conv_notes",
    CARB_COLUMN_TYPE_UUID,
    { { "title", CARB_COLUMN_TYPE_TEXT, FALSE },
      { "n", CARB_COLUMN_TYPE_INT64, FALSE },
      { "memo", CARB_COLUMN_TYPE_TEXT, TRUE } },
    3 },
  { "conv_tags",
    CARB_COLUMN_TYPE_TEXT,
    { { "label", CARB_COLUMN_TYPE_TEXT, FALSE }, { "weight", CARB_COLUMN_TYPE_INT64, TRUE } },
    2 },
};

static const char *
cell_name (guint t, guint c)
{
  return c < tables[t].n_cols ? tables[t].cols[c].name : "deleted";
}

/* ------------------------------------------------------------------------ */
/* Options */

static gint64 opt_seed = -1; /* -1: a random seed */
static guint opt_steps = 300;
static guint opt_replicas = 3;
/* Writes that bypass the library get their versions from the versioning
 * trigger; --no-server-writes leaves them out. */
static gboolean opt_server_writes = TRUE;
/* Triage: leave out the replica clock 10 minutes ahead (and so
 * carb_replica_correct_clock()), to look for other faults past a known
 * one. */
static gboolean opt_no_clock_correction = FALSE;
static gboolean opt_trace = FALSE;

/* ------------------------------------------------------------------------ */
/* The log of writes: the oracle */

enum
{
  SITE_SERVER = -1, /* a write on the server that bypasses the library */
  SITE_ROGUE = -2,  /* a client whose clock runs ahead (changesets by hand) */
};

typedef struct
{
  guint seq;
  guint step;
  gint site; /* replica index, or SITE_* */
  guint table;
  char *id;
  guint col;
  CarbVersion version;
  CarbVersion prior; /* a local write: the version its replica held before */
  char *value;       /* canonical text: "NULL" or "v:<text>" */
  const char *how;
} Write;

static void
write_free (Write *w)
{
  g_free (w->id);
  g_free (w->value);
  g_free (w);
}

typedef struct
{
  guint table;
  char *id;
} RowRef;

static void
row_ref_free (RowRef *r)
{
  g_free (r->id);
  g_free (r);
}

typedef struct
{
  GBytes *sent;
  GBytes *result;
} Batch;

static void
batch_free (Batch *b)
{
  g_bytes_unref (b->sent);
  g_bytes_unref (b->result);
  g_free (b);
}

typedef struct
{
  guint table;
  GBytes *page;
  CarbSyncPoint *until;
} Page;

static void
page_free (Page *p)
{
  g_bytes_unref (p->page);
  carb_sync_point_free (p->until);
  g_free (p);
}

typedef struct
{
  CarbReplica *replica;
  char *path;
  CarbStore *own_store; /* a connection of its own, for concurrent syncs */
  GPtrArray *batches;   /* Batch: applied on the server before */
  GPtrArray *pages;     /* Page: merged before */
} Site;

typedef struct
{
  const char *backend;
  char *tmpdir;
  char *uri;
  guint64 seed;
  GRand *rand;
  guint n_replicas;
  guint step;
  CarbSyncGroup *group;
  CarbModel *models[N_TABLES];
  CarbStore *server;
  TestDb *raw;
  GVariant *context;
  Site sites[MAX_REPLICAS];
  guint64 rogue_site;

  GPtrArray *writes;              /* Write, in order */
  GHashTable *best;               /* cell key → Write (owned by writes) */
  GPtrArray *rows;                /* RowRef */
  GHashTable *row_set;            /* "t|id" */
  GPtrArray *expected_rejections; /* char *, what the run provoked */
  GHashTable *counts;             /* step kind → count */
  guint problems;
  GPtrArray *problem_log; /* char *, every problem reported */
  guint local_refusals;
  gboolean clock_correction; /* the replica clock beyond the bound step */
  guint tombstones_not_delivered;
  guint cur_replica; /* of the current step, for --trace */
} Run;

static char *
cell_key (guint t, const char *id, guint c)
{
  return g_strdup_printf ("%u|%s|%u", t, id, c);
}

static void
count (Run *run, const char *kind)
{
  if (opt_trace)
    {
      g_autoptr (GString) points = g_string_new (NULL);
      for (guint i = 0; i < run->n_replicas; i++)
        for (guint t = 0; t < N_TABLES && run->sites[i].replica != NULL; t++)
          {
            CarbSyncPoint *p = carb_replica_get_sync_point (run->sites[i].replica, t);
            g_string_append_printf (points, " r%u.%u=%" G_GINT64_FORMAT, i, t,
                                    p != NULL ? carb_sync_point_get_time (p) : 0);
            carb_sync_point_free (p);
          }
      g_printerr ("step %u: replica %u: %s; now %" G_GINT64_FORMAT ";%s\n", run->step, run->cur_replica, kind,
                  g_get_real_time (), points->str);
    }
  gpointer n = g_hash_table_lookup (run->counts, kind);
  g_hash_table_insert (run->counts, (gpointer) kind, GUINT_TO_POINTER (GPOINTER_TO_UINT (n) + 1));
}

static void G_GNUC_PRINTF (2, 3) problem (Run *run, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *text = g_strdup_vprintf (format, args);
  va_end (args);
  run->problems++;
  g_ptr_array_add (run->problem_log, g_strdup (text));
  if (run->problems <= 40)
    g_printerr ("convergence[%s seed=%" G_GUINT64_FORMAT "]: %s\n", run->backend, run->seed, text);
}

static char *
version_text (const CarbVersion *v)
{
  return carb_version_to_string (v);
}

static const char *
site_name (gint site, char buf[32])
{
  if (site == SITE_SERVER)
    return "server (bypass)";
  if (site == SITE_ROGUE)
    return "client with a fast clock";
  g_snprintf (buf, 32, "replica %d", site);
  return buf;
}

static char *
describe_write (const Write *w)
{
  char buf[32];
  g_autofree char *v = version_text (&w->version);
  return g_strdup_printf ("write #%u (step %u, %s, %s) value %s version %s", w->seq, w->step,
                          site_name (w->site, buf), w->how, w->value, v);
}

static void
add_row (Run *run, guint t, const char *id)
{
  g_autofree char *key = g_strdup_printf ("%u|%s", t, id);
  if (g_hash_table_contains (run->row_set, key))
    return;
  g_hash_table_add (run->row_set, g_steal_pointer (&key));
  RowRef *r = g_new0 (RowRef, 1);
  r->table = t;
  r->id = g_strdup (id);
  g_ptr_array_add (run->rows, r);
}

static void
record_write (Run *run,
              gint site,
              guint t,
              const char *id,
              guint c,
              const CarbVersion *version,
              const char *value,
              const char *how)
{
  Write *w = g_new0 (Write, 1);
  w->seq = run->writes->len;
  w->step = run->step;
  w->site = site;
  w->table = t;
  w->id = g_strdup (id);
  w->col = c;
  w->version = *version;
  w->value = g_strdup (value);
  w->how = how;
  g_ptr_array_add (run->writes, w);
  add_row (run, t, id);

  g_autofree char *key = cell_key (t, id, c);
  Write *best = g_hash_table_lookup (run->best, key);
  int cmp = best != NULL ? carb_version_compare (version, &best->version) : 1;
  if (cmp == 0 && strcmp (best->value, value) != 0)
    {
      g_autofree char *a = describe_write (best);
      g_autofree char *b = describe_write (w);
      problem (run, "%s/%s/%s: two different writes share one version: %s; %s", tables[t].table, id,
               cell_name (t, c), a, b);
    }
  if (cmp > 0)
    g_hash_table_insert (run->best, g_steal_pointer (&key), w);
}

/* ------------------------------------------------------------------------ */
/* Values */

/* A value in canonical text: "NULL" for SQL NULL, else "v:" and its text;
 * the same form as the server's SQL gives (see server_snapshot()). */
static char *
canon (GVariant *value)
{
  if (value == NULL)
    return g_strdup ("NULL");
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARIANT))
    {
      g_autoptr (GVariant) inner = g_variant_get_variant (value);
      return canon (inner);
    }
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_MAYBE))
    {
      g_autoptr (GVariant) inner = g_variant_get_maybe (value);
      return canon (inner);
    }
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    return g_strdup_printf ("v:%s", g_variant_get_string (value, NULL));
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
    return g_strdup_printf ("v:%" G_GINT64_FORMAT, g_variant_get_int64 (value));
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
    return g_strdup_printf ("v:%d", g_variant_get_int32 (value));
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
    return g_strdup_printf ("v:%d", g_variant_get_boolean (value) ? 1 : 0);
  g_autofree char *text = g_variant_print (value, TRUE);
  return g_strdup_printf ("?:%s", text);
}

static GVariant *
null_value (void)
{
  return g_variant_new_maybe (G_VARIANT_TYPE_VARIANT, NULL);
}

/* @value as a parameter of carb_store_execute_with_params(): a NULL
 * becomes a typed empty maybe of the column's type. Consumes a floating
 * @value. */
static GVariant *
as_param (GVariant *value, CarbColumnType type)
{
  if (value != NULL && !g_variant_is_of_type (value, G_VARIANT_TYPE_MAYBE))
    return value;
  if (value != NULL)
    g_variant_unref (g_variant_ref_sink (value));
  return g_variant_new_maybe (type == CARB_COLUMN_TYPE_INT64 ? G_VARIANT_TYPE_INT64 : G_VARIANT_TYPE_STRING,
                              NULL);
}

/* A random value for data column @c of table @t. Texts are unique to the
 * write, so that an outdated copy cannot pass for the current one. */
static GVariant *
random_value (Run *run, guint t, guint c, gint site)
{
  const DataCol *col = &tables[t].cols[c];
  if (col->nullable && g_rand_int_range (run->rand, 0, 4) == 0)
    return null_value ();
  if (col->type == CARB_COLUMN_TYPE_INT64)
    return g_variant_new_int64 (g_rand_int_range (run->rand, -1000, 1000));
  return g_variant_new_take_string (g_strdup_printf ("%s-s%u-%c%d-%u", col->name, run->step,
                                                     site >= 0 ? 'r' : 'x', ABS (site),
                                                     g_rand_int_range (run->rand, 0, 1000000)));
}

/* ------------------------------------------------------------------------ */
/* Set-up */

static CarbModel *
make_model (guint t)
{
  g_autoptr (GError) error = NULL;
  CarbModel *m = carb_model_new (NULL, tables[t].table);
  g_assert_true (carb_model_add_column (m, "id", tables[t].id_type, CARB_COLUMN_ROLE_ID, 0, &error));
  for (guint c = 0; c < tables[t].n_cols; c++)
    g_assert_true (
        carb_model_add_column (m, tables[t].cols[c].name, tables[t].cols[c].type, CARB_COLUMN_ROLE_DATA,
                               tables[t].cols[c].nullable ? CARB_COLUMN_FLAGS_NULLABLE : 0, &error));
  g_assert_true (
      carb_model_add_column (m, "deleted", CARB_COLUMN_TYPE_BOOL, CARB_COLUMN_ROLE_DELETED, 0, &error));
  g_assert_true (
      carb_model_add_column (m, "ts", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_TIMESTAMP, 0, &error));
  g_assert_no_error (error);
  return m;
}

static void
open_site (Run *run, guint i)
{
  g_autoptr (GError) error = NULL;
  Site *s = &run->sites[i];
  s->replica = carb_replica_open (s->path, run->group, &error);
  g_assert_no_error (error);
  g_assert_nonnull (s->replica);
}

static Run *
run_new (const char *backend, guint64 seed, guint n_replicas)
{
  g_autoptr (GError) error = NULL;
  Run *run = g_new0 (Run, 1);
  run->backend = backend;
  run->seed = seed;
  run->rand = g_rand_new_with_seed_array ((const guint32[]){ (guint32) seed, (guint32) (seed >> 32) }, 2);
  run->n_replicas = n_replicas;
  run->tmpdir = g_dir_make_tmp ("carb-convergence-XXXXXX", &error);
  g_assert_no_error (error);
  run->uri = test_store_uri (backend, run->tmpdir);
  run->writes = g_ptr_array_new_with_free_func ((GDestroyNotify) write_free);
  run->best = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  run->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) row_ref_free);
  run->row_set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  run->expected_rejections = g_ptr_array_new_with_free_func (g_free);
  run->counts = g_hash_table_new (g_str_hash, g_str_equal);
  run->problem_log = g_ptr_array_new_with_free_func (g_free);
  run->context = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));
  run->rogue_site = carb_new_site_id ();
  run->clock_correction = !opt_no_clock_correction;

  run->raw = test_db_open (run->uri);
  for (guint t = 0; t < N_TABLES; t++)
    test_db_exec (run->raw, "DROP TABLE IF EXISTS %s", tables[t].table);

  run->group = carb_sync_group_new ("convergence");
  for (guint t = 0; t < N_TABLES; t++)
    {
      run->models[t] = make_model (t);
      g_assert_true (carb_sync_group_add_model (run->group, run->models[t], &error));
      g_assert_no_error (error);
    }
  g_assert_true (carb_sync_group_set_max_clock_ahead (run->group, MAX_AHEAD_MS, &error));

  run->server = carb_store_open (run->uri, &error);
  g_assert_no_error (error);
  for (guint t = 0; t < N_TABLES; t++)
    {
      g_assert_true (
          carb_store_create_table (run->server, carb_sync_group_get_wire_model (run->group, t), &error));
      g_assert_no_error (error);
    }
  g_assert_true (carb_store_prepare_group (run->server, run->group, &error));
  g_assert_no_error (error);

  for (guint i = 0; i < n_replicas; i++)
    {
      Site *s = &run->sites[i];
      s->path = g_strdup_printf ("%s/replica-%u.db", run->tmpdir, i);
      s->batches = g_ptr_array_new_with_free_func ((GDestroyNotify) batch_free);
      s->pages = g_ptr_array_new_with_free_func ((GDestroyNotify) page_free);
      open_site (run, i);
      /* A connection of its own for the concurrent syncs: one store's
       * calls are serialized (docs/THREADING.md). */
      s->own_store = carb_store_open (run->uri, &error);
      g_assert_no_error (error);
    }
  return run;
}

static void
remove_files (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (dir);
}

static void
run_free (Run *run)
{
  for (guint i = 0; i < run->n_replicas; i++)
    {
      Site *s = &run->sites[i];
      g_clear_object (&s->replica);
      g_clear_object (&s->own_store);
      g_free (s->path);
      g_ptr_array_unref (s->batches);
      g_ptr_array_unref (s->pages);
    }
  g_clear_object (&run->server);
  test_db_free (run->raw);
  for (guint t = 0; t < N_TABLES; t++)
    carb_model_unref (run->models[t]);
  carb_sync_group_unref (run->group);
  g_variant_unref (run->context);
  g_ptr_array_unref (run->writes);
  g_hash_table_unref (run->best);
  g_ptr_array_unref (run->rows);
  g_hash_table_unref (run->row_set);
  g_ptr_array_unref (run->expected_rejections);
  g_hash_table_unref (run->counts);
  g_ptr_array_unref (run->problem_log);
  g_rand_free (run->rand);
  remove_files (run->tmpdir);
  g_free (run->tmpdir);
  g_free (run->uri);
  g_free (run);
}

/* ------------------------------------------------------------------------ */
/* Reading the sites */

/* Every row of table @t on the server, id → GStrv of 2 × (n_cols + 1)
 * texts: each cell's canonical value, then its version ("" for none). Read
 * on a raw connection: the witness does not go through the library. */
static GHashTable *
server_snapshot (Run *run, guint t)
{
  g_autoptr (GString) sql = g_string_new ("SELECT CAST(id AS TEXT)");
  for (guint c = 0; c < tables[t].n_cols; c++)
    {
      const char *n = tables[t].cols[c].name;
      g_string_append_printf (sql,
                              ", CASE WHEN %s IS NULL THEN 'NULL' ELSE 'v:' || CAST(%s AS TEXT) END,"
                              " COALESCE(%s__v, '')",
                              n, n, n);
    }
  g_string_append_printf (sql,
                          ", CASE WHEN deleted THEN 'v:1' ELSE 'v:0' END, COALESCE(deleted__v, '') FROM %s",
                          tables[t].table);
  g_autoptr (GPtrArray) rows = test_db_query_rows (run->raw, "%s", sql->str);
  GHashTable *map = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_strfreev);
  for (guint i = 0; i < rows->len; i++)
    {
      char **row = g_ptr_array_index (rows, i);
      g_hash_table_insert (map, g_strdup (row[0]), g_strdupv (row + 1));
    }
  return map;
}

static char *
snapshot_text (Run *run)
{
  GString *text = g_string_new (NULL);
  for (guint t = 0; t < N_TABLES; t++)
    {
      g_autoptr (GHashTable) snap = server_snapshot (run, t);
      g_autoptr (GList) keys = g_list_sort (g_hash_table_get_keys (snap), (GCompareFunc) strcmp);
      for (GList *k = keys; k != NULL; k = k->next)
        {
          g_autofree char *cells = g_strjoinv (",", g_hash_table_lookup (snap, k->data));
          g_string_append_printf (text, "%s/%s:%s\n", tables[t].table, (char *) k->data, cells);
        }
    }
  return g_string_free (text, FALSE);
}

/* What replica @i holds in a cell: its canonical value and version text,
 * or FALSE when it lacks the row. */
static gboolean
replica_cell (Run *run, guint i, guint t, const char *id, guint c, char **value, char **version)
{
  g_autoptr (GError) error = NULL;
  CarbReplica *r = run->sites[i].replica;
  g_autoptr (GVariant) row = carb_replica_get_row (r, tables[t].table, id, &error);
  if (row == NULL)
    return FALSE;
  g_autoptr (GVariant) v = g_variant_lookup_value (row, cell_name (t, c), NULL);
  *value = v != NULL ? canon (v) : g_strdup ("(no such column)");
  CarbVersion ver = { 0, 0 };
  if (carb_replica_get_version (r, tables[t].table, id, cell_name (t, c), &ver, &error))
    *version = version_text (&ver);
  else
    *version = g_strdup_printf ("(%s)", error != NULL ? error->message : "no version");
  return TRUE;
}

static gboolean
replica_has_row (Run *run, guint i, guint t, const char *id)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) row = carb_replica_get_row (run->sites[i].replica, tables[t].table, id, &error);
  return row != NULL;
}

static gboolean
replica_version (Run *run, guint i, guint t, const char *id, guint c, CarbVersion *v)
{
  g_autoptr (GError) error = NULL;
  *v = (CarbVersion){ 0, 0 };
  return carb_replica_get_version (run->sites[i].replica, tables[t].table, id, cell_name (t, c), v, &error);
}

/* ------------------------------------------------------------------------ */
/* Steps: local writes */

/* A random row of table @t that replica @i holds, or NULL. */
static const RowRef *
pick_row (Run *run, gint i, guint *t_out)
{
  if (run->rows->len == 0)
    return NULL;
  for (guint tries = 0; tries < 8; tries++)
    {
      /* Half of the picks among the first rows: hot rows that several
       * sites write, so that cells see conflicts however long the run. */
      guint n = run->rows->len;
      if (g_rand_boolean (run->rand))
        n = MIN (n, 8);
      const RowRef *r = g_ptr_array_index (run->rows, g_rand_int_range (run->rand, 0, (gint32) n));
      if (i < 0 || replica_has_row (run, (guint) i, r->table, r->id))
        {
          *t_out = r->table;
          return r;
        }
    }
  return NULL;
}

/* After a local write of cell @c: log the version the replica gave it,
 * which must beat every version the replica held for the cell before (an
 * edit made after seeing a version beats it). */
static void
log_local (Run *run,
           guint i,
           guint t,
           const char *id,
           guint c,
           const CarbVersion *before,
           const char *value,
           const char *how)
{
  CarbVersion v;
  g_autoptr (GError) error = NULL;
  if (!carb_replica_get_version (run->sites[i].replica, tables[t].table, id, cell_name (t, c), &v, &error))
    {
      problem (run, "%s/%s/%s: replica %u has no version right after its %s: %s", tables[t].table, id,
               cell_name (t, c), i, how, error != NULL ? error->message : "no such row");
      return;
    }
  if (before != NULL && carb_version_compare (&v, before) <= 0)
    {
      g_autofree char *a = version_text (before);
      g_autofree char *b = version_text (&v);
      problem (run, "%s/%s/%s: replica %u's %s got version %s, not above the %s it held", tables[t].table, id,
               cell_name (t, c), i, how, b, a);
    }
  record_write (run, (gint) i, t, id, c, &v, value, how);
  if (before != NULL)
    ((Write *) g_ptr_array_index (run->writes, run->writes->len - 1))->prior = *before;
}

static void
step_insert (Run *run, guint i)
{
  g_autoptr (GError) error = NULL;
  guint t = (guint) g_rand_int_range (run->rand, 0, N_TABLES);
  g_autofree char *uuid = carb_new_uuid ();
  g_autofree char *wanted
      = tables[t].id_type == CARB_COLUMN_TYPE_UUID ? g_strdup (uuid) : g_strdup_printf ("tag-%s", uuid);
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "id", g_variant_new_string (wanted));
  char *values[MAX_COLS];
  for (guint c = 0; c < tables[t].n_cols; c++)
    {
      GVariant *v = random_value (run, t, c, (gint) i);
      values[c] = canon (v);
      g_variant_builder_add (&b, "{sv}", tables[t].cols[c].name, v);
    }
  g_autoptr (GVariant) row = g_variant_ref_sink (g_variant_builder_end (&b));
  g_autofree char *id = carb_replica_insert (run->sites[i].replica, tables[t].table, row, &error);
  g_assert_no_error (error);
  g_assert_nonnull (id);
  for (guint c = 0; c < tables[t].n_cols; c++)
    {
      log_local (run, i, t, id, c, NULL, values[c], "insert");
      g_free (values[c]);
    }
  /* The tombstone of a new row: logged when the insert versions it. */
  CarbVersion dv;
  if (replica_version (run, i, t, id, tables[t].n_cols, &dv) && dv.hlc != 0)
    record_write (run, (gint) i, t, id, tables[t].n_cols, &dv, "v:0", "insert");
  count (run, "insert");
}

/* A local update of the data columns of @mask in row @id of table @t. */
static void
update_cells (Run *run, guint i, guint t, const char *id, guint mask)
{
  g_autoptr (GError) error = NULL;
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  char *values[MAX_COLS] = { NULL };
  CarbVersion before[MAX_COLS];
  for (guint c = 0; c < tables[t].n_cols; c++)
    if (mask & (1u << c))
      {
        GVariant *v = random_value (run, t, c, (gint) i);
        values[c] = canon (v);
        replica_version (run, i, t, id, c, &before[c]);
        g_variant_builder_add (&b, "{sv}", tables[t].cols[c].name, v);
      }
  g_autoptr (GVariant) changes = g_variant_ref_sink (g_variant_builder_end (&b));
  if (!carb_replica_update (run->sites[i].replica, tables[t].table, id, changes, &error))
    {
      /* A local refusal loses nothing: the write never happened. */
      g_test_message ("step %u: replica %u refused an update of %s/%s: %s", run->step, i, tables[t].table, id,
                      error->message);
      run->local_refusals++;
    }
  else
    for (guint c = 0; c < tables[t].n_cols; c++)
      if (mask & (1u << c))
        log_local (run, i, t, id, c, &before[c], values[c], "update");
  for (guint c = 0; c < MAX_COLS; c++)
    g_free (values[c]);
  count (run, "update");
}

static void
step_update (Run *run, guint i)
{
  guint t;
  const RowRef *r = pick_row (run, (gint) i, &t);
  if (r == NULL)
    return;
  g_autofree char *id = g_strdup (r->id);
  /* A random non-empty subset of the data columns. */
  guint mask = 0;
  while (mask == 0)
    mask = (guint) g_rand_int_range (run->rand, 0, 1 << tables[t].n_cols);
  update_cells (run, i, t, id, mask);
}

static void
step_delete (Run *run, guint i, gboolean undelete)
{
  g_autoptr (GError) error = NULL;
  guint t;
  const RowRef *r = pick_row (run, (gint) i, &t);
  if (r == NULL)
    return;
  g_autofree char *id = g_strdup (r->id);
  guint c = tables[t].n_cols;
  CarbVersion before;
  replica_version (run, i, t, id, c, &before);
  gboolean ok = undelete ? carb_replica_undelete (run->sites[i].replica, tables[t].table, id, &error)
                         : carb_replica_delete (run->sites[i].replica, tables[t].table, id, &error);
  if (!ok)
    {
      g_test_message ("step %u: replica %u refused to %s %s/%s: %s", run->step, i,
                      undelete ? "undelete" : "delete", tables[t].table, id, error->message);
      run->local_refusals++;
      return;
    }
  log_local (run, i, t, id, c, &before, undelete ? "v:0" : "v:1", undelete ? "undelete" : "delete");
  count (run, undelete ? "undelete" : "delete");
}

static void
step_local_write (Run *run, guint i)
{
  guint k = (guint) g_rand_int_range (run->rand, 0, 20);
  if (k < 5 || run->rows->len < 4)
    step_insert (run, i);
  else if (k < 16)
    step_update (run, i);
  else if (k < 18)
    step_delete (run, i, FALSE);
  else
    step_delete (run, i, TRUE);
}

/* ------------------------------------------------------------------------ */
/* Steps: sync, upload and download by hand */

static void
sync_replica (Run *run, guint i, CarbStore *server)
{
  g_autoptr (GError) error = NULL;
  if (!carb_replica_sync (run->sites[i].replica, server, run->context, NULL, &error))
    problem (run, "step %u: replica %u: sync failed: %s", run->step, i, error->message);
}

static void
keep_batch (Site *s, GBytes *sent, GBytes *result)
{
  Batch *b = g_new0 (Batch, 1);
  b->sent = g_bytes_ref (sent);
  b->result = g_bytes_ref (result);
  if (s->batches->len >= POOL_SIZE)
    g_ptr_array_remove_index (s->batches, 0);
  g_ptr_array_add (s->batches, b);
}

static GBytes *
collect (Run *run, guint i)
{
  g_autoptr (GError) error = NULL;
  guint max_rows = (guint) g_rand_int_range (run->rand, 1, 6);
  GBytes *sent = carb_replica_collect_changes (run->sites[i].replica, max_rows, &error);
  if (error != NULL)
    problem (run, "step %u: replica %u: collect_changes failed: %s", run->step, i, error->message);
  return sent;
}

static GBytes *
apply (Run *run, GBytes *sent, const char *what)
{
  g_autoptr (GError) error = NULL;
  GBytes *result = carb_store_apply_changes (run->server, run->group, run->context, sent, NULL, &error);
  if (result == NULL)
    problem (run, "step %u: %s: apply_changes failed: %s", run->step, what, error->message);
  return result;
}

static void
acknowledge (Run *run, guint i, GBytes *sent, GBytes *result, const char *what)
{
  g_autoptr (GError) error = NULL;
  if (!carb_replica_acknowledge (run->sites[i].replica, sent, result, &error))
    problem (run, "step %u: replica %u: %s: acknowledge failed: %s", run->step, i, what, error->message);
}

/* Writes again, locally, one cell that @sent carries: the acknowledge of
 * @sent must leave the new write pending (its version is newer than the
 * one sent). */
static void
edit_a_sent_cell (Run *run, guint i, GBytes *sent)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) changes = carb_changeset_parse (sent, &error);
  g_assert_no_error (error);
  if (changes->len == 0)
    return;
  const CarbChange *ch
      = &g_array_index (changes, CarbChange, g_rand_int_range (run->rand, 0, (gint32) changes->len));
  gint t = carb_sync_group_find_table (run->group, ch->table);
  g_assert_cmpint (t, >=, 0);
  guint c;
  for (c = 0; c <= tables[t].n_cols && strcmp (cell_name ((guint) t, c), ch->column) != 0; c++)
    ;
  g_assert_cmpuint (c, <=, tables[t].n_cols);
  CarbVersion before;
  replica_version (run, i, (guint) t, ch->row_id, c, &before);
  if (c == tables[t].n_cols)
    {
      /* The tombstone: flip it. */
      g_autoptr (GVariant) row = carb_replica_get_row (run->sites[i].replica, ch->table, ch->row_id, &error);
      g_assert_nonnull (row);
      gboolean deleted = FALSE;
      g_variant_lookup (row, "deleted", "b", &deleted);
      gboolean ok = deleted ? carb_replica_undelete (run->sites[i].replica, ch->table, ch->row_id, &error)
                            : carb_replica_delete (run->sites[i].replica, ch->table, ch->row_id, &error);
      g_assert_no_error (error);
      g_assert_true (ok);
      log_local (run, i, (guint) t, ch->row_id, c, &before, deleted ? "v:0" : "v:1",
                 deleted ? "undelete in flight" : "delete in flight");
      return;
    }
  GVariant *v = random_value (run, (guint) t, c, (gint) i);
  g_autofree char *value = canon (v);
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", ch->column, v);
  g_autoptr (GVariant) upd = g_variant_ref_sink (g_variant_builder_end (&b));
  g_assert_true (carb_replica_update (run->sites[i].replica, ch->table, ch->row_id, upd, &error));
  g_assert_no_error (error);
  log_local (run, i, (guint) t, ch->row_id, c, &before, value, "update in flight");
}

/* Upload one batch by hand: collect, apply, acknowledge; with @mode
 *   0 plain (a partial upload: 1–5 rows)
 *   1 crash: the replica dies after the apply, before acknowledging; the
 *     file is opened again
 *   2 retry: the batch applied twice (the second must change nothing on
 *     the server) and acknowledged twice
 *   3 in flight: a local edit of a cell the batch carries lands between
 *     collect and acknowledge, and must stay pending
 *   4 dropped answer: applied, never acknowledged, the replica goes on */
static void
step_upload (Run *run, guint i, guint mode)
{
  static const char *const names[]
      = { "partial-upload", "crash-before-ack", "retry-apply-and-ack", "edit-in-flight", "dropped-ack" };
  Site *s = &run->sites[i];
  g_autoptr (GBytes) sent = collect (run, i);
  if (sent == NULL)
    return;
  if (mode == 3)
    edit_a_sent_cell (run, i, sent);
  g_autoptr (GBytes) result = apply (run, sent, names[mode]);
  if (result == NULL)
    return;
  keep_batch (s, sent, result);
  count (run, names[mode]);
  switch (mode)
    {
    case 1:
      g_clear_object (&s->replica);
      open_site (run, i);
      return;
    case 4:
      /* The answer is lost; the replica goes on and uploads again later. */
      return;
    case 2:
      {
        g_autofree char *before = snapshot_text (run);
        g_autoptr (GBytes) again = apply (run, sent, "retried apply");
        g_autofree char *after = snapshot_text (run);
        if (strcmp (before, after) != 0)
          problem (run, "step %u: replica %u: the same batch applied twice changed the server:\n%s---\n%s",
                   run->step, i, before, after);
        if (again != NULL)
          acknowledge (run, i, sent, again, "retried acknowledge");
        acknowledge (run, i, sent, result, "duplicate acknowledge");
        return;
      }
    default:
      acknowledge (run, i, sent, result, names[mode]);
    }
}

/* An old batch of replica @i, replayed: applied on the server again (it
 * was applied before, so merge by maximum must change nothing) and
 * acknowledged again on the replica, after newer edits. */
static void
step_replay (Run *run, guint i)
{
  Site *s = &run->sites[i];
  if (s->batches->len == 0)
    return;
  Batch *b = g_ptr_array_index (s->batches, g_rand_int_range (run->rand, 0, (gint32) s->batches->len));
  g_autofree char *before = snapshot_text (run);
  g_autoptr (GBytes) result = apply (run, b->sent, "replayed batch");
  g_autofree char *after = snapshot_text (run);
  if (strcmp (before, after) != 0)
    problem (run, "step %u: replica %u: an old batch replayed changed the server:\n%s---\n%s", run->step, i,
             before, after);
  acknowledge (run, i, b->sent, b->result, "stale acknowledge");
  count (run, "replay-old-batch");
}

/* What an application does on CARB_ERROR_SYNC_POINT_EXPIRED, at any
 * moment: rows without pending edits and the sync points go, pending
 * edits stay; the next syncs download everything again (a first download
 * per table, which leaves tombstones out). The pages kept for stale
 * merges go too: a page from before a rebuild may not be merged after it
 * (carb_replica_merge_download()). */
static void
step_rebuild (Run *run, guint i)
{
  g_autoptr (GError) error = NULL;
  Site *s = &run->sites[i];
  if (!carb_replica_rebuild (s->replica, &error))
    {
      problem (run, "step %u: replica %u: rebuild failed: %s", run->step, i, error->message);
      return;
    }
  g_ptr_array_set_size (s->pages, 0);
  count (run, "rebuild");
}

/* One download page of one table, with a small limit, merged by hand. */
static void
step_page (Run *run, guint i)
{
  g_autoptr (GError) error = NULL;
  Site *s = &run->sites[i];
  guint t = (guint) g_rand_int_range (run->rand, 0, N_TABLES);
  CarbSyncPoint *since = carb_replica_get_sync_point (s->replica, t);
  gboolean first = since == NULL;
  CarbSyncPoint *until = NULL;
  gboolean has_more = FALSE;
  guint limit = (guint) g_rand_int_range (run->rand, 1, 4);
  g_autoptr (GBytes) page = carb_store_download_changes (run->server, run->group, run->context, t, since,
                                                         limit, &until, &has_more, NULL, &error);
  carb_sync_point_free (since);
  if (page == NULL)
    {
      problem (run, "step %u: replica %u: download of %s failed: %s", run->step, i, tables[t].table,
               error->message);
      return;
    }
  if (!carb_replica_merge_download (s->replica, t, page, until, &error))
    {
      /* A first download by hand while the replica holds rows of the
       * table is refused (it could not find the rows the server deleted):
       * the application syncs instead. */
      if (first && g_error_matches (error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT))
        {
          carb_sync_point_free (until);
          sync_replica (run, i, run->server);
          count (run, "first-download-by-sync");
          return;
        }
      problem (run, "step %u: replica %u: merge of a %s page failed: %s", run->step, i, tables[t].table,
               error->message);
    }
  Page *p = g_new0 (Page, 1);
  p->table = t;
  p->page = g_bytes_ref (page);
  p->until = until;
  if (s->pages->len >= POOL_SIZE)
    g_ptr_array_remove_index (s->pages, 0);
  g_ptr_array_add (s->pages, p);
  count (run, "download-page");
}

/* A page merged before, merged again after newer ones: stale values must
 * lose to newer versions, and a pending edit must survive. */
static void
step_stale_page (Run *run, guint i)
{
  g_autoptr (GError) error = NULL;
  Site *s = &run->sites[i];
  if (s->pages->len == 0)
    return;
  Page *p = g_ptr_array_index (s->pages, g_rand_int_range (run->rand, 0, (gint32) s->pages->len));
  if (!carb_replica_merge_download (s->replica, p->table, p->page, p->until, &error))
    problem (run, "step %u: replica %u: merge of a stale %s page failed: %s", run->step, i,
             tables[p->table].table, error->message);
  count (run, "stale-page");
}

/* ------------------------------------------------------------------------ */
/* Steps: writers outside the replicas */

/* A random row the server holds, with its cells. */
static char *
pick_server_row (Run *run, guint *t_out)
{
  guint t = (guint) g_rand_int_range (run->rand, 0, N_TABLES);
  g_autoptr (GHashTable) snap = server_snapshot (run, t);
  if (g_hash_table_size (snap) == 0)
    return NULL;
  g_autoptr (GList) keys = g_list_sort (g_hash_table_get_keys (snap), (GCompareFunc) strcmp);
  *t_out = t;
  return g_strdup (
      g_list_nth_data (keys, (guint) g_rand_int_range (run->rand, 0, (gint32) g_list_length (keys))));
}

/* A client whose clock runs @ahead_ms ahead of the server's, writing one
 * column through a changeset made by hand. Within the group's bound it is
 * accepted (and wins until a site that saw it writes again); beyond it
 * the server must refuse with CARB_ERROR_CLOCK_AHEAD, and nothing lands. */
static void
fast_clock_write (Run *run, guint t, const char *id, guint c, gboolean beyond)
{
  g_autoptr (GError) error = NULL;
  gint64 ahead_ms = beyond ? 10 * 60 * 1000 : MAX_AHEAD_MS / 3;
  gint64 wall_ms = g_get_real_time () / 1000 + ahead_ms;
  CarbVersion v
      = { ((guint64) wall_ms << CARB_HLC_COUNTER_BITS) | (guint64) g_rand_int_range (run->rand, 0, 100),
          run->rogue_site };
  g_autoptr (GVariant) value = g_variant_ref_sink (random_value (run, t, c, SITE_ROGUE));
  gboolean is_null = g_variant_is_of_type (value, G_VARIANT_TYPE_MAYBE);
  CarbChange change
      = { (char *) tables[t].table, (char *) id, (char *) tables[t].cols[c].name, v, is_null ? NULL : value };
  g_autoptr (GBytes) sent = carb_changeset_serialize (&change, 1);
  g_autofree char *before = beyond ? snapshot_text (run) : NULL;
  g_autoptr (GBytes) result
      = carb_store_apply_changes (run->server, run->group, run->context, sent, NULL, &error);
  g_autofree char *text = canon (is_null ? NULL : value);
  if (!beyond)
    {
      if (result == NULL)
        problem (run,
                 "step %u: a change %" G_GINT64_FORMAT
                 " ms ahead (within the bound of %d ms) was refused: %s",
                 run->step, ahead_ms, MAX_AHEAD_MS, error->message);
      else
        record_write (run, SITE_ROGUE, t, id, c, &v, text, "clock ahead, within the bound");
      count (run, "fast-clock-within-bound");
      return;
    }
  count (run, "fast-clock-beyond-bound");
  if (result != NULL)
    {
      problem (run, "step %u: a change 10 minutes ahead was accepted (bound %d ms)", run->step, MAX_AHEAD_MS);
      record_write (run, SITE_ROGUE, t, id, c, &v, text, "clock ahead, beyond the bound (accepted!)");
      return;
    }
  if (!g_error_matches (error, CARB_ERROR, CARB_ERROR_CLOCK_AHEAD))
    problem (run, "step %u: a change 10 minutes ahead was refused with the wrong error: %s", run->step,
             error->message);
  g_autofree char *after = snapshot_text (run);
  if (strcmp (before, after) != 0)
    problem (run, "step %u: a refused batch changed the server", run->step);
  g_ptr_array_add (run->expected_rejections,
                   g_strdup_printf ("step %u: %s/%s/%s: %s", run->step, tables[t].table, id,
                                    tables[t].cols[c].name, error->message));
}

static void
step_fast_clock (Run *run, gboolean beyond)
{
  guint t;
  g_autofree char *id = pick_server_row (run, &t);
  if (id == NULL)
    return;
  fast_clock_write (run, t, id, (guint) g_rand_int_range (run->rand, 0, (gint32) tables[t].n_cols), beyond);
}

/* An UPDATE on the server that bypasses the library (an admin, a backend
 * job): the versioning trigger must give the column a version, which is
 * read back from the row. */
static void
step_server_write (Run *run)
{
  g_autoptr (GError) error = NULL;
  guint t;
  g_autofree char *id = pick_server_row (run, &t);
  if (id == NULL)
    return;
  guint c = (guint) g_rand_int_range (run->rand, 0, (gint32) tables[t].n_cols + 1);
  GVariant *value = c < tables[t].n_cols ? random_value (run, t, c, SITE_SERVER)
                                         : g_variant_new_boolean (g_rand_boolean (run->rand));
  g_autofree char *text = canon (value);
  g_autofree char *sql = g_strdup_printf ("UPDATE %s SET %s = $1 WHERE CAST(id AS TEXT) = $2",
                                          tables[t].table, cell_name (t, c));
  guint64 n = 0;
  GVariant *params
      = g_variant_new ("(@*s)", c < tables[t].n_cols ? as_param (value, tables[t].cols[c].type) : value, id);
  if (!carb_store_execute_with_params (run->server, sql, params, &n, &error) || n != 1)
    {
      problem (run, "step %u: server UPDATE of %s/%s failed: %s", run->step, tables[t].table, id,
               error != NULL ? error->message : "no row");
      return;
    }
  g_autoptr (GHashTable) snap = server_snapshot (run, t);
  char **cells = g_hash_table_lookup (snap, id);
  CarbVersion v;
  g_autoptr (GError) parse_error = NULL;
  if (cells == NULL || !carb_version_parse (cells[2 * c + 1], &v, &parse_error))
    {
      problem (
          run,
          "step %u: %s/%s/%s: the server's UPDATE left no version (is the versioning trigger installed?)",
          run->step, tables[t].table, id, cell_name (t, c));
      return;
    }
  record_write (run, SITE_SERVER, t, id, c, &v, text, "server UPDATE");
  count (run, "server-bypass-write");
}

/* An INSERT on the server that bypasses the library: every column of the
 * new row gets a version from the versioning trigger. */
static void
step_server_insert (Run *run)
{
  g_autoptr (GError) error = NULL;
  guint t = (guint) g_rand_int_range (run->rand, 0, N_TABLES);
  g_autofree char *uuid = carb_new_uuid ();
  g_autofree char *id
      = tables[t].id_type == CARB_COLUMN_TYPE_UUID ? g_strdup (uuid) : g_strdup_printf ("srv-%s", uuid);
  g_autoptr (GString) sql = g_string_new (NULL);
  g_string_append_printf (sql, "INSERT INTO %s (id", tables[t].table);
  for (guint c = 0; c < tables[t].n_cols; c++)
    g_string_append_printf (sql, ", %s", tables[t].cols[c].name);
  g_string_append (sql, ") VALUES ($1");
  GVariantBuilder params;
  g_variant_builder_init (&params, G_VARIANT_TYPE_TUPLE);
  g_variant_builder_add (&params, "s", id);
  char *values[MAX_COLS];
  for (guint c = 0; c < tables[t].n_cols; c++)
    {
      GVariant *v = random_value (run, t, c, SITE_SERVER);
      values[c] = canon (v);
      g_variant_builder_add_value (&params, as_param (v, tables[t].cols[c].type));
      g_string_append_printf (sql, ", $%u", c + 2);
    }
  g_string_append (sql, ")");
  guint64 n = 0;
  gboolean ok
      = carb_store_execute_with_params (run->server, sql->str, g_variant_builder_end (&params), &n, &error);
  if (!ok || n != 1)
    problem (run, "step %u: server INSERT into %s failed: %s", run->step, tables[t].table,
             error != NULL ? error->message : "no row");
  g_autoptr (GHashTable) snap = ok ? server_snapshot (run, t) : NULL;
  char **cells = snap != NULL ? g_hash_table_lookup (snap, id) : NULL;
  for (guint c = 0; c <= tables[t].n_cols && cells != NULL; c++)
    {
      CarbVersion v;
      if (!carb_version_parse (cells[2 * c + 1], &v, NULL))
        problem (run, "step %u: %s/%s/%s: the server's INSERT left no version", run->step, tables[t].table,
                 id, cell_name (t, c));
      else
        record_write (run, SITE_SERVER, t, id, c, &v, c < tables[t].n_cols ? values[c] : "v:0",
                      "server INSERT");
    }
  for (guint c = 0; c < tables[t].n_cols; c++)
    g_free (values[c]);
  count (run, "server-bypass-insert");
}

/* Raises replica @i's stored clock (the "hlc" of carburetor_meta: test
 * knowledge of the file) to @wall_ms, as a device whose clock ran ahead
 * leaves it, and opens the replica again. Never lowers it: a clock that
 * went back would be the test's fault, not the library's. */
static void
set_replica_clock (Run *run, guint i, gint64 wall_ms)
{
  Site *s = &run->sites[i];
  g_clear_object (&s->replica);
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (s->path, &db), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 10000);
  g_autofree char *sql = g_strdup_printf (
      "UPDATE carburetor_meta SET value = CAST(MAX(CAST(value AS INTEGER), %" G_GUINT64_FORMAT
      ") AS TEXT) WHERE key = 'hlc'",
      (guint64) wall_ms << CARB_HLC_COUNTER_BITS);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_changes (db), ==, 1);
  sqlite3_close (db);
  open_site (run, i);
}

static void
recompute_best (Run *run, guint t, const char *id, guint c)
{
  Write *best = NULL;
  for (guint k = 0; k < run->writes->len; k++)
    {
      Write *w = g_ptr_array_index (run->writes, k);
      if (w->table == t && w->col == c && strcmp (w->id, id) == 0
          && (best == NULL || carb_version_compare (&w->version, &best->version) > 0))
        best = w;
    }
  g_hash_table_insert (run->best, cell_key (t, id, c), best);
}

/* A replica whose clock runs ahead of the server's: 20 s (within the
 * group's bound: its writes go up as they are) or 10 minutes (beyond: the
 * upload is refused with CARB_ERROR_CLOCK_AHEAD and the server's hlc, and
 * carb_replica_correct_clock() gives the pending writes new versions from
 * the corrected clock). A re-versioned write must still beat every
 * version its replica held for the cell before it: it was made after
 * seeing them. */
static void
replica_clock_ahead (Run *run, guint i, gboolean beyond, const RowRef *target, guint mask)
{
  g_autoptr (GError) error = NULL;
  Site *s = &run->sites[i];
  /* Only this step's writes pending, so that the re-versioned ones are
   * exactly those. */
  sync_replica (run, i, run->server);
  if (carb_replica_get_n_pending (s->replica) != 0)
    return;
  gint64 ahead_ms = beyond ? 10 * 60 * 1000 : MAX_AHEAD_MS / 3;
  set_replica_clock (run, i, g_get_real_time () / 1000 + ahead_ms);
  guint first = run->writes->len;
  if (target != NULL)
    update_cells (run, i, target->table, target->id, mask);
  else
    step_update (run, i);
  count (run, beyond ? "replica-clock-beyond-bound" : "replica-clock-within-bound");
  if (!beyond)
    return;
  g_autoptr (GBytes) sent = carb_replica_collect_changes (s->replica, 0, &error);
  g_assert_no_error (error);
  if (sent == NULL)
    {
      /* No write made: the clock is put right as a refused upload would. */
      g_assert_true (carb_replica_correct_clock (
          s->replica, (guint64) (g_get_real_time () / 1000) << CARB_HLC_COUNTER_BITS, &error));
      g_assert_no_error (error);
      return;
    }
  g_autoptr (GBytes) result
      = carb_store_apply_changes (run->server, run->group, run->context, sent, NULL, &error);
  if (result != NULL)
    {
      problem (run, "step %u: replica %u: an upload 10 minutes ahead was accepted (bound %d ms)", run->step,
               i, MAX_AHEAD_MS);
      acknowledge (run, i, sent, result, "upload ahead");
      return;
    }
  const char *tag = strstr (error->message, "server hlc: ");
  if (!g_error_matches (error, CARB_ERROR, CARB_ERROR_CLOCK_AHEAD) || tag == NULL)
    {
      problem (run, "step %u: replica %u: an upload 10 minutes ahead failed with the wrong error: %s",
               run->step, i, error->message);
      return;
    }
  guint64 server_hlc = g_ascii_strtoull (tag + strlen ("server hlc: "), NULL, 10);
  g_ptr_array_add (run->expected_rejections,
                   g_strdup_printf ("step %u: replica %u's upload: %s", run->step, i, error->message));
  g_clear_error (&error);
  if (!carb_replica_correct_clock (s->replica, server_hlc, &error))
    {
      problem (run, "step %u: replica %u: correct_clock failed: %s", run->step, i, error->message);
      return;
    }
  for (guint k = first; k < run->writes->len; k++)
    {
      Write *w = g_ptr_array_index (run->writes, k);
      CarbVersion v;
      replica_version (run, i, w->table, w->id, w->col, &v);
      g_autofree char *old = version_text (&w->version);
      g_autofree char *now = version_text (&v);
      g_autofree char *prior = version_text (&w->prior);
      if (carb_version_compare (&v, &w->prior) <= 0)
        problem (run,
                 "step %u: %s/%s/%s: replica %u's edit (made after seeing version %s) was re-versioned by "
                 "correct_clock from %s to %s, below the version it had seen: the edit loses to it",
                 run->step, tables[w->table].table, w->id, cell_name (w->table, w->col), i, prior, old, now);
      w->version = v;
      w->how = "update, re-versioned by correct_clock";
      recompute_best (run, w->table, w->id, w->col);
    }
  sync_replica (run, i, run->server);
}

static void
step_replica_clock_ahead (Run *run, guint i, gboolean beyond)
{
  replica_clock_ahead (run, i, beyond, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Steps: concurrent syncs, each replica on its own connection */

typedef struct
{
  Run *run;
  guint i;
  GError *error;
} SyncJob;

static gpointer
sync_thread (gpointer data)
{
  SyncJob *job = data;
  Site *s = &job->run->sites[job->i];
  carb_replica_sync (s->replica, s->own_store, job->run->context, NULL, &job->error);
  return NULL;
}

static void
step_concurrent_syncs (Run *run)
{
  SyncJob jobs[MAX_REPLICAS];
  GThread *threads[MAX_REPLICAS];
  for (guint i = 0; i < run->n_replicas; i++)
    {
      jobs[i] = (SyncJob){ run, i, NULL };
      threads[i] = g_thread_new ("conv-sync", sync_thread, &jobs[i]);
    }
  for (guint i = 0; i < run->n_replicas; i++)
    {
      g_thread_join (threads[i]);
      if (jobs[i].error != NULL)
        problem (run, "step %u: replica %u: concurrent sync failed: %s", run->step, i,
                 jobs[i].error->message);
      g_clear_error (&jobs[i].error);
    }
  count (run, "concurrent-syncs");
}

/* ------------------------------------------------------------------------ */
/* The run and the oracle */

static void
random_step (Run *run)
{
  guint i = (guint) g_rand_int_range (run->rand, 0, (gint32) run->n_replicas);
  guint k = (guint) g_rand_int_range (run->rand, 0, 100);
  run->cur_replica = i;
  if (k < 44)
    step_local_write (run, i);
  else if (k < 45)
    step_rebuild (run, i);
  else if (k < 58)
    {
      sync_replica (run, i, run->server);
      count (run, "sync");
    }
  else if (k < 63)
    step_upload (run, i, 0);
  else if (k < 67)
    step_upload (run, i, 1);
  else if (k < 71)
    step_upload (run, i, 2);
  else if (k < 75)
    step_upload (run, i, 3);
  else if (k < 77)
    step_upload (run, i, 4);
  else if (k < 78)
    step_replay (run, i);
  else if (k < 85)
    step_page (run, i);
  else if (k < 88)
    step_stale_page (run, i);
  else if (k < 89)
    step_fast_clock (run, FALSE);
  else if (k < 90)
    step_fast_clock (run, TRUE);
  else if (k < 91)
    step_replica_clock_ahead (run, i, g_rand_boolean (run->rand) && run->clock_correction);
  else if (k < 96)
    {
      if (opt_server_writes && g_rand_int_range (run->rand, 0, 4) == 0)
        step_server_insert (run);
      else if (opt_server_writes)
        step_server_write (run);
    }
  else
    step_concurrent_syncs (run);
}

/* The sync-point invariant, between steps: every server row stamped at or
 * below a replica's sync point for its table has reached the replica, so
 * no cell of the replica holds an older version than the server's. */
static void
check_points (Run *run)
{
  for (guint t = 0; t < N_TABLES; t++)
    {
      /* The stamp in µs since the epoch on both backends. */
      g_autoptr (GPtrArray) rows = test_db_query_rows (
          run->raw, "SELECT CAST(id AS TEXT), %s FROM %s",
          test_db_is_postgres (run->raw) ? "CAST(EXTRACT(EPOCH FROM ts) * 1000000 AS BIGINT)" : "ts",
          tables[t].table);
      g_autoptr (GHashTable) snap = server_snapshot (run, t);
      for (guint i = 0; i < run->n_replicas; i++)
        {
          CarbSyncPoint *p = carb_replica_get_sync_point (run->sites[i].replica, t);
          gint64 point = p != NULL ? carb_sync_point_get_time (p) : G_MININT64;
          carb_sync_point_free (p);
          for (guint k = 0; k < rows->len; k++)
            {
              char **row = g_ptr_array_index (rows, k);
              gint64 ts = g_ascii_strtoll (row[1], NULL, 10);
              if (ts > point)
                continue;
              char **cells = g_hash_table_lookup (snap, row[0]);
              for (guint c = 0; c <= tables[t].n_cols; c++)
                {
                  CarbVersion mine, theirs;
                  if (!carb_version_parse (cells[2 * c + 1], &theirs, NULL))
                    continue;
                  if (!replica_version (run, i, t, row[0], c, &mine))
                    {
                      /* A first download leaves tombstones out: a deleted
                       * row the replica never held may stay away. */
                      if (strcmp (cells[2 * tables[t].n_cols], "v:1") != 0)
                        problem (run,
                                 "after step %u: replica %u lacks %s/%s stamped %s, at or below its point "
                                 "%" G_GINT64_FORMAT,
                                 run->step, i, tables[t].table, row[0], row[1], point);
                      break;
                    }
                  if (carb_version_compare (&mine, &theirs) < 0)
                    {
                      g_autofree char *a = version_text (&mine);
                      problem (
                          run,
                          "after step %u: replica %u holds %s/%s/%s at version %s, older than the server's "
                          "%s, though the row (deleted: %s) is stamped %s, at or below its point "
                          "%" G_GINT64_FORMAT,
                          run->step, i, tables[t].table, row[0], cell_name (t, c), a, cells[2 * c + 1],
                          cells[2 * tables[t].n_cols], row[1], point);
                    }
                }
            }
        }
    }
}

static void
run_steps (Run *run, guint n)
{
  for (guint k = 0; k < n; k++, run->step++)
    {
      random_step (run);
      /* Every tenth step (each with --trace): a skipped row is found at
       * the step that skipped it. */
      if (opt_trace || run->step % 10 == 9)
        check_points (run);
    }
}

/* Every replica syncs until none has anything pending, then all sync once
 * more, so that each holds what the last uploads brought. */
static void
quiesce (Run *run)
{
  for (guint round = 0;; round++)
    {
      gboolean idle = TRUE;
      for (guint i = 0; i < run->n_replicas; i++)
        {
          sync_replica (run, i, run->server);
          if (carb_replica_get_n_pending (run->sites[i].replica) != 0)
            idle = FALSE;
        }
      if (idle)
        break;
      if (round == 10)
        {
          for (guint i = 0; i < run->n_replicas; i++)
            if (carb_replica_get_n_pending (run->sites[i].replica) != 0)
              problem (run, "replica %u still has %u changes pending after 10 rounds of sync", i,
                       carb_replica_get_n_pending (run->sites[i].replica));
          break;
        }
    }
  for (guint i = 0; i < run->n_replicas; i++)
    sync_replica (run, i, run->server);
}

static void
report_cell (
    Run *run, const Write *best, const char *what, const char *server_value, const char *server_version)
{
  g_autoptr (GString) text = g_string_new (NULL);
  g_autofree char *expected = describe_write (best);
  g_string_append_printf (text, "%s/%s/%s: %s\n    expected %s\n    server holds %s version %s",
                          tables[best->table].table, best->id, cell_name (best->table, best->col), what,
                          expected, server_value, server_version);
  /* The row's stamp and each replica's sync point: a row stamped at or
   * below a replica's point that the replica lacks was skipped. */
  g_autoptr (GPtrArray) stamp
      = test_db_query_rows (run->raw, "SELECT CAST(ts AS TEXT) FROM %s WHERE CAST(id AS TEXT) = '%s'",
                            tables[best->table].table, best->id);
  if (stamp->len == 1)
    g_string_append_printf (text, " stamped %s", ((char **) g_ptr_array_index (stamp, 0))[0]);
  for (guint i = 0; i < run->n_replicas; i++)
    {
      g_autofree char *value = NULL, *version = NULL;
      CarbSyncPoint *point = carb_replica_get_sync_point (run->sites[i].replica, best->table);
      g_autofree char *point_text = point != NULL ? carb_sync_point_to_string (point) : g_strdup ("none");
      carb_sync_point_free (point);
      if (replica_cell (run, i, best->table, best->id, best->col, &value, &version))
        g_string_append_printf (text, "\n    replica %u holds %s version %s (sync point %s)", i, value,
                                version, point_text);
      else
        g_string_append_printf (text, "\n    replica %u lacks the row (sync point %s)", i, point_text);
    }
  /* Every logged write of the cell, for the story. */
  for (guint k = 0; k < run->writes->len; k++)
    {
      const Write *w = g_ptr_array_index (run->writes, k);
      if (w->table == best->table && w->col == best->col && strcmp (w->id, best->id) == 0)
        {
          g_autofree char *d = describe_write (w);
          g_string_append_printf (text, "\n      logged: %s", d);
        }
    }
  problem (run, "%s", text->str);
}

/* Whether the log's greatest write of the row's tombstone deletes it. */
static gboolean
row_is_deleted (Run *run, guint t, const char *id)
{
  g_autofree char *key = cell_key (t, id, tables[t].n_cols);
  const Write *w = g_hash_table_lookup (run->best, key);
  return w != NULL && strcmp (w->value, "v:1") == 0;
}

/* The oracle. Returns the number of problems found (also counted in
 * run->problems). */
static guint
check (Run *run)
{
  guint before = run->problems;
  GHashTable *snaps[N_TABLES];
  for (guint t = 0; t < N_TABLES; t++)
    snaps[t] = server_snapshot (run, t);

  guint n_cells = 0;
  for (guint k = 0; k < run->rows->len; k++)
    {
      const RowRef *r = g_ptr_array_index (run->rows, k);
      guint t = r->table;
      char **cells = g_hash_table_lookup (snaps[t], r->id);
      for (guint c = 0; c <= tables[t].n_cols; c++)
        {
          g_autofree char *key = cell_key (t, r->id, c);
          const Write *best = g_hash_table_lookup (run->best, key);
          if (best == NULL)
            continue;
          n_cells++;
          g_autofree char *want_version = version_text (&best->version);
          const char *sv = cells != NULL ? cells[2 * c] : "(no row)";
          const char *sver = cells != NULL ? cells[2 * c + 1] : "(no row)";
          gboolean bad = cells == NULL || strcmp (sv, best->value) != 0 || strcmp (sver, want_version) != 0;
          for (guint i = 0; i < run->n_replicas && !bad; i++)
            {
              g_autofree char *value = NULL, *version = NULL;
              if (!replica_cell (run, i, t, r->id, c, &value, &version))
                {
                  /* A first download leaves tombstones out (docs/SYNC.md):
                   * a replica that never held a row deleted before it
                   * first synced lacks it, which reads as deleted. Held
                   * undeleted anywhere, it would be a mismatch. */
                  bad = !row_is_deleted (run, t, r->id);
                  if (!bad && c == 0)
                    run->tombstones_not_delivered++;
                  continue;
                }
              bad = strcmp (value, best->value) != 0 || strcmp (version, want_version) != 0;
            }
          if (bad)
            report_cell (run, best,
                         cells == NULL ? "the server lacks the row"
                                       : "a write was lost or the sites disagree",
                         sv, sver);
        }
    }

  /* No row the log does not know of. */
  for (guint t = 0; t < N_TABLES; t++)
    {
      GHashTableIter iter;
      gpointer id;
      g_hash_table_iter_init (&iter, snaps[t]);
      while (g_hash_table_iter_next (&iter, &id, NULL))
        {
          g_autofree char *key = g_strdup_printf ("%u|%s", t, (char *) id);
          if (!g_hash_table_contains (run->row_set, key))
            problem (run, "%s/%s: the server holds a row nobody wrote", tables[t].table, (char *) id);
        }
      g_hash_table_unref (snaps[t]);
    }

  for (guint i = 0; i < run->n_replicas; i++)
    {
      CarbReplica *rep = run->sites[i].replica;
      if (carb_replica_get_n_pending (rep) != 0)
        problem (run, "replica %u: %u changes still pending at quiescence", i,
                 carb_replica_get_n_pending (rep));
      /* No change of this run is refusable (no filter, no validation): a
       * rejection in a replica is a bug. */
      g_autoptr (GVariant) rejections = carb_replica_list_rejections (rep);
      if (rejections != NULL && g_variant_n_children (rejections) > 0)
        {
          g_autofree char *text = g_variant_print (rejections, FALSE);
          problem (run, "replica %u: unexpected rejections: %s", i, text);
        }
    }
  /* How many cells saw writes from two sites or more: the conflicts the
   * merge had to settle. */
  g_autoptr (GHashTable) first_site = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) contended = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint k = 0; k < run->writes->len; k++)
    {
      const Write *w = g_ptr_array_index (run->writes, k);
      char *key = cell_key (w->table, w->id, w->col);
      gpointer site;
      if (!g_hash_table_lookup_extended (first_site, key, NULL, &site))
        g_hash_table_insert (first_site, key, GINT_TO_POINTER (w->site));
      else if (GPOINTER_TO_INT (site) != w->site)
        g_hash_table_replace (contended, key, NULL);
      else
        g_free (key);
    }
  g_test_message (
      "checked %u cells of %u rows against %u logged writes on %s; %u cells written by two sites or "
      "more",
      n_cells, run->rows->len, run->writes->len, run->backend, g_hash_table_size (contended));
  return run->problems - before;
}

static void
print_summary (Run *run, gint64 started)
{
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GList) keys = g_list_sort (g_hash_table_get_keys (run->counts), (GCompareFunc) strcmp);
  for (GList *k = keys; k != NULL; k = k->next)
    g_string_append_printf (text, " %s=%u", (char *) k->data,
                            GPOINTER_TO_UINT (g_hash_table_lookup (run->counts, k->data)));
  g_test_message ("%s: seed %" G_GUINT64_FORMAT ", %u steps, %u replicas, %u writes, %u rows, %u local "
                  "refusals, %u expected rejections, %u tombstones a replica never got (first download), "
                  "%.2f s;%s",
                  run->backend, run->seed, run->step, run->n_replicas, run->writes->len, run->rows->len,
                  run->local_refusals, run->expected_rejections->len, run->tombstones_not_delivered,
                  (double) (g_get_monotonic_time () - started) / G_USEC_PER_SEC, text->str);
  for (guint k = 0; k < run->expected_rejections->len; k++)
    g_test_message ("rejected as expected: %s", (char *) g_ptr_array_index (run->expected_rejections, k));
}

static guint64
pick_seed (void)
{
  if (opt_seed >= 0)
    return (guint64) opt_seed;
  const char *env = g_getenv ("CARB_CONVERGENCE_SEED");
  if (env != NULL && *env != '\0')
    return g_ascii_strtoull (env, NULL, 10);
  /* 63 bits, so that --seed (a gint64) replays every seed printed. */
  return (((guint64) g_random_int () << 32) | g_random_int ()) & G_MAXINT64;
}

static void
test_random (gconstpointer data)
{
  const char *backend = data;
  guint64 seed = pick_seed ();
  g_printerr ("convergence[%s]: seed %" G_GUINT64_FORMAT " (replay with --seed %" G_GUINT64_FORMAT ")\n",
              backend, seed, seed);
  gint64 started = g_get_monotonic_time ();
  Run *run = run_new (backend, seed, opt_replicas);
  run_steps (run, opt_steps);
  quiesce (run);
  check (run);
  print_summary (run, started);
  guint problems = run->problems;
  run_free (run);
  if (problems != 0)
    g_test_fail_printf ("%u problems; replay with --seed %" G_GUINT64_FORMAT " --steps %u --replicas %u",
                        problems, seed, opt_steps, opt_replicas);
}

/* ------------------------------------------------------------------------ */
/* Teeth: sabotaged runs the checker must catch. Each runs a short clean
 * run (fixed seed), then breaks something through public means or raw
 * SQL, settles, and asserts that check() reports the sabotaged cell. */

#define TEETH_SEED  20261127
#define TEETH_STEPS 80

static void
settle_clean (Run *run)
{
  /* The clock correction has its own cases (random,
   * clock-correction-causal). */
  run->clock_correction = FALSE;
  run_steps (run, TEETH_STEPS);
  quiesce (run);
  check (run);
  /* A fault of the library found here fails the random case too; the
   * sabotage below must be found by its own row, whatever else is. */
  if (run->problems > 0)
    g_test_message ("teeth: the run before the sabotage already had %u problems (the library's)",
                    run->problems);
}

/* After a sabotage of row @id: the checker must report a problem naming
 * that row. */
static void
expect_caught (Run *run, const char *what, const char *id)
{
  guint before = run->problem_log->len;
  g_test_message ("teeth (%s, row %s): the checker must report what follows", what, id);
  quiesce (run);
  check (run);
  guint naming = 0;
  for (guint k = before; k < run->problem_log->len; k++)
    if (strstr (g_ptr_array_index (run->problem_log, k), id) != NULL)
      naming++;
  g_test_message ("teeth (%s): %u problems reported, %u naming the row", what, run->problem_log->len - before,
                  naming);
  g_assert_cmpuint (naming, >, 0);
}

static void
copy_file (const char *from, const char *to)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize len = 0;
  if (!g_file_test (from, G_FILE_TEST_EXISTS))
    {
      g_unlink (to);
      return;
    }
  g_assert_true (g_file_get_contents (from, &contents, &len, &error));
  g_assert_true (g_file_set_contents (to, contents, (gssize) len, &error));
  g_assert_no_error (error);
}

static void
copy_db (const char *from, const char *to)
{
  static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
  for (guint k = 0; k < G_N_ELEMENTS (suffixes); k++)
    {
      g_autofree char *a = g_strconcat (from, suffixes[k], NULL);
      g_autofree char *b = g_strconcat (to, suffixes[k], NULL);
      copy_file (a, b);
    }
}

/* A device restored from a backup taken before its last edits: the edits
 * were logged, but the replica file no longer has them. */
static void
test_teeth_lost_write (gconstpointer data)
{
  Run *run = run_new (data, TEETH_SEED, 3);
  settle_clean (run);
  Site *s = &run->sites[0];
  g_autofree char *backup = g_strdup_printf ("%s/backup.db", run->tmpdir);
  g_clear_object (&s->replica);
  copy_db (s->path, backup);
  open_site (run, 0);
  step_insert (run, 0);
  const RowRef *inserted = g_ptr_array_index (run->rows, run->rows->len - 1);
  g_autofree char *id = g_strdup (inserted->id);
  step_update (run, 0);
  g_clear_object (&s->replica);
  copy_db (backup, s->path);
  open_site (run, 0);
  expect_caught (run, "edits lost from a replica file", id);
  run_free (run);
}

/* A server that merges by arrival order: an old batch written over newer
 * values with raw SQL (prior-art hole 2). */
static void
test_teeth_arrival_order (gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  Run *run = run_new (data, TEETH_SEED, 3);
  settle_clean (run);
  /* Replica 0 writes one cell twice, uploading each time. */
  guint t;
  const RowRef *r = pick_row (run, 0, &t);
  g_assert_nonnull (r);
  g_autofree char *id = g_strdup (r->id);
  g_autoptr (GBytes) first = NULL;
  for (guint round = 0; round < 2; round++, run->step++)
    {
      GVariantBuilder b;
      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&b, "{sv}", tables[t].cols[0].name,
                             g_variant_new_take_string (g_strdup_printf ("round-%u", round)));
      g_autoptr (GVariant) changes = g_variant_ref_sink (g_variant_builder_end (&b));
      CarbVersion before;
      replica_version (run, 0, t, id, 0, &before);
      g_assert_true (carb_replica_update (run->sites[0].replica, tables[t].table, id, changes, &error));
      g_assert_no_error (error);
      log_local (run, 0, t, id, 0, &before, round == 0 ? "v:round-0" : "v:round-1", "update");
      g_autoptr (GBytes) sent = collect (run, 0);
      g_assert_nonnull (sent);
      g_autoptr (GBytes) result = apply (run, sent, "upload");
      acknowledge (run, 0, sent, result, "upload");
      if (round == 0)
        first = g_bytes_ref (sent);
    }
  /* The naive server applies the first batch again, by arrival order. */
  g_autoptr (GArray) changes = carb_changeset_parse (first, &error);
  g_assert_no_error (error);
  for (guint k = 0; k < changes->len; k++)
    {
      CarbChange *c = &g_array_index (changes, CarbChange, k);
      g_autofree char *v = version_text (&c->version);
      g_autofree char *sql = g_strdup_printf ("UPDATE %s SET %s = $1, %s__v = $2 WHERE CAST(id AS TEXT) = $3",
                                              c->table, c->column, c->column);
      GVariant *value = as_param (c->value, tables[t].cols[0].type);
      g_assert_true (carb_store_execute_with_params (
          run->server, sql, g_variant_new ("(@*ss)", value, v, c->row_id), NULL, &error));
      g_assert_no_error (error);
    }
  expect_caught (run, "a server merging by arrival order", id);
  run_free (run);
}

/* A replica whose table is changed behind the library's back after
 * quiescence: the sites disagree, and the checker must say where. */
static void
test_teeth_tampered_replica (gconstpointer data)
{
  Run *run = run_new (data, TEETH_SEED, 3);
  settle_clean (run);
  guint t;
  const RowRef *r = pick_row (run, 1, &t);
  g_assert_nonnull (r);
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (run->sites[1].path, &db), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 10000);
  g_autofree char *sql = g_strdup_printf ("UPDATE %s SET %s = 'tampered' WHERE id = '%s'", tables[t].table,
                                          tables[t].cols[0].name, r->id);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_changes (db), ==, 1);
  sqlite3_close (db);
  g_test_message ("teeth: %s", sql);
  guint before = run->problem_log->len;
  check (run);
  guint naming = 0;
  for (guint k = before; k < run->problem_log->len; k++)
    if (strstr (g_ptr_array_index (run->problem_log, k), r->id) != NULL)
      naming++;
  g_test_message ("teeth (tampered replica): %u problems naming the row", naming);
  g_assert_cmpuint (naming, >, 0);
  run_free (run);
}

/* The value the server holds for one cell. */
static char *
server_value (Run *run, guint t, const char *id, guint c)
{
  g_autoptr (GHashTable) snap = server_snapshot (run, t);
  char **cells = g_hash_table_lookup (snap, id);
  return g_strdup (cells != NULL ? cells[2 * c] : "(no row)");
}

/* Directed: an edit made after seeing a version must beat it, also when
 * the server refused the edit's first upload for a clock beyond the bound
 * and the replica corrected its clock (carb_replica_correct_clock()
 * re-versions the pending edit). Replica 1 sees a write 20 s ahead (within
 * the bound), then its clock jumps 10 minutes ahead and it edits the same
 * cell: after the correction the edit must still win everywhere. */
static void
test_clock_correction_causal (gconstpointer data)
{
  Run *run = run_new (data, TEETH_SEED, 2);
  step_insert (run, 0);
  quiesce (run);
  const RowRef *r = g_ptr_array_index (run->rows, 0);
  RowRef target = { r->table, r->id };
  fast_clock_write (run, target.table, target.id, 0, FALSE);
  run->step++;
  sync_replica (run, 1, run->server);
  replica_clock_ahead (run, 1, TRUE, &target, 1u << 0);
  g_autofree char *key = cell_key (target.table, target.id, 0);
  const Write *edit = g_ptr_array_index (run->writes, run->writes->len - 1);
  g_assert_cmpint (edit->site, ==, 1);
  quiesce (run);
  g_autofree char *held = server_value (run, target.table, target.id, 0);
  if (strcmp (held, edit->value) != 0)
    {
      g_autofree char *d = describe_write (edit);
      problem (run, "the edit made after seeing the fast write lost: the server holds %s, the edit was %s",
               held, d);
    }
  check (run);
  guint problems = run->problems;
  run_free (run);
  if (problems != 0)
    g_test_fail_printf ("%u problems", problems);
}

/* Directed: a replica that holds a row before its first download of the
 * table (its own insert, uploaded by hand without downloading) must get
 * the row's later state even when another replica deleted it meanwhile:
 * a first download that leaves tombstones out leaves this replica with
 * the row alive and its old values, for good. */
static void
test_first_download_tombstone (gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  Run *run = run_new (data, TEETH_SEED, 2);
  step_insert (run, 1);
  const RowRef *r = g_ptr_array_index (run->rows, 0);
  g_autoptr (GBytes) sent = carb_replica_collect_changes (run->sites[1].replica, 0, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) result = apply (run, sent, "upload");
  acknowledge (run, 1, sent, result, "upload");
  run->step++;
  sync_replica (run, 0, run->server);
  update_cells (run, 0, r->table, r->id, 1u << 0);
  step_delete (run, 0, FALSE);
  sync_replica (run, 0, run->server);
  run->step++;
  /* Replica 1's first download of the table. */
  sync_replica (run, 1, run->server);
  check_points (run);
  check (run);
  guint problems = run->problems;
  run_free (run);
  if (problems != 0)
    g_test_fail_printf ("%u problems", problems);
}

/* A stale apply answer acknowledged again after the row left the replica:
 * replica 1 inserts a row and uploads it by hand, deletes it, and syncs;
 * its first download leaves the tombstone out, so the sweep removes the
 * row. The old answer (the row alive, at its insert's versions) replayed
 * then must not bring it back below the replica's sync point, where no
 * download would ever correct it (found by seed 4239531526950259516). */
static void
test_stale_ack_after_sweep (gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  Run *run = run_new (data, TEETH_SEED, 2);
  step_insert (run, 1);
  g_autoptr (GBytes) sent = carb_replica_collect_changes (run->sites[1].replica, 0, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) result = apply (run, sent, "upload");
  acknowledge (run, 1, sent, result, "upload");
  run->step++;
  step_delete (run, 1, FALSE);
  /* Replica 1's first download of the table, after its delete. */
  sync_replica (run, 1, run->server);
  run->step++;
  acknowledge (run, 1, sent, result, "stale acknowledge");
  check_points (run);
  quiesce (run);
  check (run);
  guint problems = run->problems;
  run_free (run);
  if (problems != 0)
    g_test_fail_printf ("%u problems", problems);
}

/* A replica that forgets a pending write without uploading it (as an
 * acknowledge that skipped its pending check would): the entry is deleted
 * from carburetor_pending with raw sqlite3. The write stays in the replica
 * alone, and the checker must report the disagreement. */
static void
test_teeth_lost_pending (gconstpointer data)
{
  Run *run = run_new (data, TEETH_SEED, 3);
  settle_clean (run);
  guint t;
  const RowRef *r = pick_row (run, 0, &t);
  g_assert_nonnull (r);
  g_autofree char *id = g_strdup (r->id);
  update_cells (run, 0, t, id, 1u << 0);
  g_assert_cmpuint (carb_replica_get_n_pending (run->sites[0].replica), >, 0);
  g_clear_object (&run->sites[0].replica);
  sqlite3 *db = NULL;
  g_assert_cmpint (sqlite3_open (run->sites[0].path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "DELETE FROM carburetor_pending", NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_changes (db), >, 0);
  sqlite3_close (db);
  open_site (run, 0);
  expect_caught (run, "a pending write forgotten before upload", id);
  run_free (run);
}

/* ------------------------------------------------------------------------ */

static gboolean
parse_options (int *argc, char ***argv)
{
  GOptionEntry entries[] = {
    { "seed", 0, 0, G_OPTION_ARG_INT64, &opt_seed, "replay this seed", "N" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &opt_steps, "random steps per run (300)", "N" },
    { "replicas", 0, 0, G_OPTION_ARG_INT, &opt_replicas, "replicas (2..6, 3)", "K" },
    { "no-server-writes", 0, G_OPTION_FLAG_REVERSE, G_OPTION_ARG_NONE, &opt_server_writes,
      "leave writes that bypass the library out", NULL },
    { "trace", 0, 0, G_OPTION_ARG_NONE, &opt_trace, "print every step on stderr", NULL },
    { "no-clock-correction", 0, 0, G_OPTION_ARG_NONE, &opt_no_clock_correction,
      "no replica clock beyond the bound (triage)", NULL },
    { NULL },
  };
  /* Under valgrind everything runs some twenty times slower. */
  if (g_getenv ("CARB_UNDER_VALGRIND") != NULL)
    opt_steps = 100;
  const char *steps = g_getenv ("CARB_CONVERGENCE_STEPS");
  if (steps != NULL && *steps != '\0')
    opt_steps = (guint) g_ascii_strtoull (steps, NULL, 10);
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- the two-way convergence checker");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_ignore_unknown_options (ctx, TRUE);
  g_option_context_set_help_enabled (ctx, FALSE);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, argc, argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return FALSE;
    }
  if (opt_replicas < 2 || opt_replicas > MAX_REPLICAS)
    {
      g_printerr ("--replicas must be 2..%d\n", MAX_REPLICAS);
      return FALSE;
    }
  return TRUE;
}

int
main (int argc, char **argv)
{
  if (!parse_options (&argc, &argv))
    return 2;
  g_test_init (&argc, &argv, NULL);

  g_auto (GStrv) backends = test_store_backends ();
  for (char **b = backends; *b != NULL; b++)
    {
      static const struct
      {
        const char *name;
        GTestDataFunc func;
      } cases[] = {
        { "random", test_random },
        { "teeth-lost-write", test_teeth_lost_write },
        { "teeth-arrival-order", test_teeth_arrival_order },
        { "teeth-tampered-replica", test_teeth_tampered_replica },
        { "teeth-lost-pending", test_teeth_lost_pending },
        { "clock-correction-causal", test_clock_correction_causal },
        { "first-download-tombstone", test_first_download_tombstone },
        { "stale-ack-after-sweep", test_stale_ack_after_sweep },
      };
      for (guint k = 0; k < G_N_ELEMENTS (cases); k++)
        {
          g_autofree char *path = g_strdup_printf ("/convergence/%s/%s", *b, cases[k].name);
          g_test_add_data_func (path, g_intern_string (*b), cases[k].func);
        }
    }
  return g_test_run ();
}
