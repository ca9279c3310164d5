/* The grammar of SQLite store URIs (README, "Store URIs"): relative and
 * absolute paths, percent-escapes, mode parameters; a host part, an
 * unknown parameter or a broken escape is INVALID_URI naming it, and a
 * query string never becomes part of a file name.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static char *tmpdir;

static void
assert_invalid (const char *uri, const char *must_name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_null (store);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_URI);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, must_name));
}

static CarbStore *
open_ok (const char *uri)
{
  g_autoptr (GError) error = NULL;
  CarbStore *store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  return store;
}

static void
test_paths (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_cmpint (g_chdir (tmpdir), ==, 0);

  /* Relative, with an escape: the file is "a b.db". */
  g_autoptr (CarbStore) rel = open_ok ("sqlite:a%20b.db");
  g_assert_true (carb_store_execute (rel, "CREATE TABLE t (x)", &error));
  g_assert_true (g_file_test ("a b.db", G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test ("a%20b.db", G_FILE_TEST_EXISTS));

  /* Absolute: three slashes. */
  g_autofree char *abs = g_strdup_printf ("sqlite://%s/abs.db", tmpdir);
  g_autoptr (CarbStore) absolute = open_ok (abs);
  g_assert_true (carb_store_execute (absolute, "CREATE TABLE t (x)", &error));
  g_autofree char *abs_file = g_build_filename (tmpdir, "abs.db", NULL);
  g_assert_true (g_file_test (abs_file, G_FILE_TEST_EXISTS));

  /* sqlite://notes.db reads as a host, not a path. */
  assert_invalid ("sqlite://notes.db", "host part");
  assert_invalid ("sqlite:", "names no file");
  assert_invalid ("sqlite:x%ZZ.db", "percent-escape");
  assert_invalid ("sqlite:x%00.db", "percent-escape");
  g_assert_false (g_file_test ("notes.db", G_FILE_TEST_EXISTS));
}

static void
test_params (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_cmpint (g_chdir (tmpdir), ==, 0);

  /* mode=ro on a missing file: an error, and no file named "x.db?mode=ro". */
  g_autoptr (CarbStore) missing = carb_store_open ("sqlite:missing.db?mode=ro", &error);
  g_assert_null (missing);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_CONNECTION);
  g_clear_error (&error);
  g_assert_false (g_file_test ("missing.db", G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test ("missing.db?mode=ro", G_FILE_TEST_EXISTS));

  /* mode=ro on an existing file: reads work, writes are refused. */
  g_autoptr (CarbStore) rw = open_ok ("sqlite:ro.db");
  g_assert_true (carb_store_execute (rw, "CREATE TABLE t (x); INSERT INTO t VALUES (1)", &error));
  g_autoptr (CarbStore) ro = open_ok ("sqlite:ro.db?mode=ro");
  g_assert_true (carb_store_execute (ro, "SELECT * FROM t", &error));
  g_assert_false (carb_store_execute (ro, "INSERT INTO t VALUES (2)", &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_QUERY);
  g_clear_error (&error);

  /* mode=rw does not create. */
  g_autoptr (CarbStore) nocreate = carb_store_open ("sqlite:new.db?mode=rw", &error);
  g_assert_null (nocreate);
  g_clear_error (&error);
  g_assert_false (g_file_test ("new.db", G_FILE_TEST_EXISTS));

  assert_invalid ("sqlite:x.db?bogus=1", "“bogus=1”");
  assert_invalid ("sqlite:x.db?mode=ro&cache=shared", "“cache=shared”");
  g_assert_false (g_file_test ("x.db", G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("carb-uri-XXXXXX", NULL);
  g_test_add_func ("/uri/sqlite/paths", test_paths);
  g_test_add_func ("/uri/sqlite/params", test_params);
  int status = g_test_run ();
  const char *files[] = { "a b.db", "abs.db", "ro.db" };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *f = g_build_filename (tmpdir, files[i], NULL);
      g_unlink (f);
    }
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return status;
}
