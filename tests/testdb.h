/* Test support: a second, raw connection to the store under test (the
 * "other client" of the tests), and the list of stores to run on.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <carburetor/carburetor.h>

G_BEGIN_DECLS

typedef struct TestDb TestDb;

/* The stores a contract suite runs on: an SQLite file in @tmpdir always,
 * and PostgreSQL when the environment names a server (CARB_TEST_PG_URI, or
 * PGHOST/PGPORT as pg_virtualenv exports). In CI a missing server is a
 * failure, never a skip. Returns backend names; see test_store_uri(). */
GStrv test_store_backends (void);
char *test_store_uri (const char *backend, const char *tmpdir);
/* One test of a suite run on every backend: path /<suite>/<backend>/<name>,
 * the backend's name ("sqlite", "postgres") as the test data. A test that
 * only means something on one backend is registered for it alone
 * (TEST_CASE_ON), rather than reported as skipped on the other. */
typedef struct
{
  const char *name;
  GTestFixtureFunc func;
  const char *only; /* the one backend it runs on, or NULL for all */
} TestCase;

// clang-format off
#define TEST_CASE(name, func) { (name), (GTestFixtureFunc) (func), NULL }
#define TEST_CASE_ON(backend, name, func) { (name), (GTestFixtureFunc) (func), (backend) }
// clang-format on

void test_add_per_backend (const char *suite,
                           gsize fixture_size,
                           GTestFixtureFunc set_up,
                           const TestCase *cases,
                           gsize n_cases,
                           GTestFixtureFunc tear_down);

/* Removes the SQLite files test_store_uri() names in @tmpdir, then it. */
void test_store_dir_remove (const char *tmpdir);

TestDb *test_db_open (const char *uri);
void test_db_free (TestDb *db);
gboolean test_db_is_postgres (TestDb *db);
void test_db_exec (TestDb *db, const char *format, ...) G_GNUC_PRINTF (2, 3);
gboolean test_db_try_exec (TestDb *db, GError **error, const char *format, ...) G_GNUC_PRINTF (3, 4);
gint64 test_db_query_int (TestDb *db, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* Every row of a query, each a GStrv of its columns as text (SQL NULL as
 * ""): for comparing a whole table at once. */
GPtrArray *test_db_query_rows (TestDb *db, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* An SQL expression for the timestamp @us (µs since the Unix epoch). */
char *test_db_ts_literal (TestDb *db, gint64 us);
char *test_db_quote (const char *name);

/* Sleeps past one tick of the coarsest clock a backend stamps with (2 ms),
 * so that rows written before it are below an idle store's sync point
 * (SQLite's high-water mark needs no wait; PostgreSQL's clock source
 * answers now − 1 µs). */
void test_wait_clock_tick (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestDb, test_db_free)

G_END_DECLS

G_BEGIN_DECLS
/* Every row's first column, one per line (e.g. an EXPLAIN plan). */
char *test_db_query_text (TestDb *db, const char *format, ...) G_GNUC_PRINTF (2, 3);
G_END_DECLS
