/* The stress checker (docs/STRESS.md): the parts shared
 * by its files.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <carburetor/carburetor.h>

#include "testdb.h"

G_BEGIN_DECLS

typedef struct
{
  gint64 id;
  char *title;
  gint64 value;
  gboolean deleted;
  gint64 ts;
} StressRow;

/* One run's settings, from CARB_STRESS_* or the test's defaults. */
typedef struct
{
  const char *backend;
  char *uri;
  char *reader_uri; /* the readers' stores: CARB_STRESS_READER_URI (a standby) or uri */
  const CarbModel *model;
  char *qtable; /* quoted table name */
  guint n_writers;
  guint n_readers;
  guint n_ids; /* writers pick ids in 1..n_ids */
  guint32 seed;
  gboolean naive; /* readers use the unsafe naive clock source */
} StressConfig;

/* --- writers (stress-writer.c) ------------------------------------------ */

typedef struct
{
  const StressConfig *config;
  guint index;
  GRand *rand;
  TestDb *db;
  gint *stop;
  GThread *thread;
  guint64 committed;   /* transactions */
  guint64 rolled_back; /* on purpose, or after an error */
  guint64 writes;      /* statements in committed transactions */
  guint64 errors;      /* statements that failed (lock timeouts, …) */
  guint txn;           /* transactions begun, for unique titles */
} StressWriter;

StressWriter *stress_writer_new (const StressConfig *config, guint index, gint *stop);
void stress_writer_free (StressWriter *writer);
gpointer stress_writer_run (gpointer writer);

/* --- readers (stress-reader.c) ------------------------------------------ */

typedef struct
{
  const StressConfig *config;
  guint index;
  guint max_rows;     /* page cap, 0 for none */
  gboolean streaming; /* carb_store_download_sync_foreach() */
  gboolean read_only; /* the store's connection may not write (SQLite mode=ro) */
  gint64 start_after; /* µs of monotonic time before the first sync */
  GRand *rand;
  CarbStore *store;
  TestDb *probe; /* reader 0 only: reads the newest committed stamp */
  gint *stop;
  GThread *thread;
  CarbSyncPoint *point;
  GHashTable *replica; /* gint64 * id → StressRow * (owned copies) */
  GError *error;       /* the first failed sync; the reader stops there */
  guint64 syncs, rows;
  guint64 out_of_range; /* a row outside (since, synced_until] */
  guint64 rewinds;      /* a row older than the replica's copy */
  guint64 repeats;      /* the same row version delivered twice */
  GArray *lag_now;      /* gint64: wall clock − synced_until after a sync */
  GArray *lag_newest;   /* gint64: newest committed stamp − synced_until (probe) */
} StressReader;

StressReader *stress_reader_new (const StressConfig *config, guint index, gint *stop);
void stress_reader_free (StressReader *reader);
gpointer stress_reader_run (gpointer reader);
/* One sync call, applied to the replica; FALSE with reader->error set. */
gboolean stress_reader_sync (StressReader *reader, gsize *n_rows, gboolean *complete);

G_END_DECLS
