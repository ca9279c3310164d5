/* The plugin loader: discovery by manifest, selection by URI scheme, and a
 * GError naming the file for every way a plugin can be broken.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct
{
  char *dir; /* a plugins.d of the test's own */
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = g_dir_make_tmp ("carb-plugins-XXXXXX", NULL);
  g_assert_nonnull (f->dir);
  g_setenv ("CARBURETOR_PLUGIN_PATH", f->dir, TRUE);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_autoptr (GDir) d = g_dir_open (f->dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (f->dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (f->dir);
  g_free (f->dir);
}

static char *
write_manifest (Fixture *f, const char *file, const char *contents)
{
  char *path = g_build_filename (f->dir, file, NULL);
  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
  return path;
}

static char *
bad_module (const char *variant)
{
  return g_strdup_printf ("%s/carb-bad-%s.so", g_getenv ("CARB_TEST_BAD_PLUGIN_DIR"), variant);
}

static char *
manifest_for (const char *module, const char *scheme)
{
  return g_strdup_printf ("[Carburetor Backend]\nName=bad\nModule=%s\nSchemes=%s;\nABI=1\n", module, scheme);
}

/* Opens bad:x and checks the error's code and that it names @fragment. */
static void
assert_open_fails (const char *uri, gint code, const char *fragment)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_null (store);
  g_assert_error (error, CARB_ERROR, code);
  if (strstr (error->message, fragment) == NULL)
    g_error ("“%s” does not name “%s”", error->message, fragment);
}

static void
test_unknown_scheme (Fixture *f, gconstpointer data)
{
  assert_open_fails ("nosuch://somewhere", CARB_ERROR_NO_PLUGIN, "“nosuch”");
  assert_open_fails ("/just/a/path.db", CARB_ERROR_INVALID_URI, "/just/a/path.db");
}

static void
test_module_missing (Fixture *f, gconstpointer data)
{
  g_autofree char *m = manifest_for ("/nonexistent/carb-gone.so", "bad");
  g_autofree char *path = write_manifest (f, "gone.plugin", m);
  assert_open_fails ("bad:x", CARB_ERROR_PLUGIN, "/nonexistent/carb-gone.so");
}

static void
test_manifest_without_module (Fixture *f, gconstpointer data)
{
  g_autofree char *path
      = write_manifest (f, "nomodule.plugin", "[Carburetor Backend]\nName=bad\nSchemes=bad;\nABI=1\n");
  assert_open_fails ("bad:x", CARB_ERROR_PLUGIN, path);
}

static void
test_manifest_malformed (Fixture *f, gconstpointer data)
{
  g_autofree char *path = write_manifest (f, "garbage.plugin", "this is [not a key file\n\x01\x02");
  assert_open_fails ("bad:x", CARB_ERROR_PLUGIN, path);
}

static void
test_manifest_wrong_abi (Fixture *f, gconstpointer data)
{
  g_autofree char *module = bad_module ("abi");
  g_autofree char *m
      = g_strdup_printf ("[Carburetor Backend]\nName=bad\nModule=%s\nSchemes=bad;\nABI=7\n", module);
  g_autofree char *path = write_manifest (f, "abi7.plugin", m);
  assert_open_fails ("bad:x", CARB_ERROR_PLUGIN, path);
}

static void
test_not_a_shared_object (Fixture *f, gconstpointer data)
{
  g_autofree char *fake = g_build_filename (f->dir, "fake.so", NULL);
  g_assert_true (g_file_set_contents (fake, "not an ELF file", -1, NULL));
  g_autofree char *m = manifest_for (fake, "bad");
  g_autofree char *path = write_manifest (f, "fake.plugin", m);
  assert_open_fails ("bad:x", CARB_ERROR_PLUGIN, fake);
}

/* The broken module variants, each refused with its file named. */
static void
test_bad_module (Fixture *f, gconstpointer data)
{
  const char *variant = data;
  g_autofree char *module = bad_module (variant);
  g_autofree char *m = manifest_for (module, "bad");
  g_autofree char *path = write_manifest (f, "bad.plugin", m);
  assert_open_fails ("bad:x", CARB_ERROR_PLUGIN, module);
}

static void
test_two_claim_one_scheme (Fixture *f, gconstpointer data)
{
  g_autofree char *module = bad_module ("abi");
  g_autofree char *m = manifest_for (module, "twice");
  g_autofree char *a = write_manifest (f, "a.plugin", m);
  g_autofree char *b = write_manifest (f, "b.plugin", m);
  assert_open_fails ("twice:x", CARB_ERROR_PLUGIN, a);
  assert_open_fails ("twice:x", CARB_ERROR_PLUGIN, b);
}

/* An earlier folder in the path wins; the next one still serves other
 * schemes. The good plugin's open() then runs and fails on its own. */
static void
test_search_order (Fixture *f, gconstpointer data)
{
  g_autofree char *module = bad_module ("good");
  g_autofree char *m = manifest_for (module, "sqlite");
  g_autofree char *path = write_manifest (f, "shadow.plugin", m);
  g_autofree char *env = g_strconcat (f->dir, ":", g_getenv ("CARB_TEST_BUILD_PLUGIN_PATH"), NULL);
  g_setenv ("CARBURETOR_PLUGIN_PATH", env, TRUE);

  assert_open_fails ("sqlite:/tmp/x.db", CARB_ERROR_CONNECTION, "bad plugin cannot open sqlite:/tmp/x.db");
  g_autofree char *tmp = g_build_filename (f->dir, "real.db", NULL);
  g_autofree char *uri = g_strconcat ("file:", tmp, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (carb_store_get_backend_name (store), ==, "sqlite");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func, data) g_test_add (path, Fixture, data, fixture_set_up, func, fixture_tear_down)
  ADD ("/plugin/unknown-scheme", test_unknown_scheme, NULL);
  ADD ("/plugin/module-missing", test_module_missing, NULL);
  ADD ("/plugin/manifest-without-module", test_manifest_without_module, NULL);
  ADD ("/plugin/manifest-malformed", test_manifest_malformed, NULL);
  ADD ("/plugin/manifest-wrong-abi", test_manifest_wrong_abi, NULL);
  ADD ("/plugin/not-a-shared-object", test_not_a_shared_object, NULL);
  ADD ("/plugin/no-entry-symbol", test_bad_module, "noentry");
  ADD ("/plugin/vtable-wrong-abi", test_bad_module, "abi");
  ADD ("/plugin/vtable-too-small", test_bad_module, "small");
  ADD ("/plugin/vtable-null-member", test_bad_module, "nullmember");
  ADD ("/plugin/entry-refuses", test_bad_module, "refuses");
  ADD ("/plugin/two-claim-one-scheme", test_two_claim_one_scheme, NULL);
  ADD ("/plugin/search-order", test_search_order, NULL);
  return g_test_run ();
}
