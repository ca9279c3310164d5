/* carb_plugin_list(): the plugins carb_store_open() can use, in search
 * order, read from their manifests without loading a module.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct
{
  char *dir; /* a plugins.d of the test's own, searched first */
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->dir = g_dir_make_tmp ("carb-plugin-list-XXXXXX", NULL);
  g_assert_nonnull (f->dir);
  g_autofree char *env = g_strconcat (f->dir, ":", g_getenv ("CARB_TEST_BUILD_PLUGIN_PATH"), NULL);
  g_setenv ("CARBURETOR_PLUGIN_PATH", env, TRUE);
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
write_manifest (Fixture *f, const char *file, const char *name, const char *module, const char *schemes)
{
  char *path = g_build_filename (f->dir, file, NULL);
  g_autofree char *text = g_strdup_printf ("[Carburetor Backend]\nName=%s\nModule=%s\nSchemes=%s\nABI=1\n",
                                           name, module, schemes);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  return path;
}

static const CarbPluginInfo *
find (GPtrArray *list, const char *name, guint *index)
{
  for (guint i = 0; i < list->len; i++)
    if (strcmp (carb_plugin_info_get_name (list->pdata[i]), name) == 0)
      {
        if (index != NULL)
          *index = i;
        return list->pdata[i];
      }
  return NULL;
}

/* The build tree's plugins, each opening a store by its own scheme. */
static void
test_build_tree (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) list = carb_plugin_list (&error);
  g_assert_no_error (error);

  const CarbPluginInfo *sqlite = find (list, "sqlite", NULL);
  g_assert_nonnull (sqlite);
  const char *const *schemes = carb_plugin_info_get_schemes (sqlite);
  g_assert_true (g_strv_contains (schemes, "sqlite"));
  g_assert_true (g_strv_contains (schemes, "file"));
  g_assert_true (g_path_is_absolute (carb_plugin_info_get_module_path (sqlite)));
  g_assert_true (g_file_test (carb_plugin_info_get_module_path (sqlite), G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_str_has_prefix (carb_plugin_info_get_manifest_path (sqlite),
                                   g_getenv ("CARB_TEST_BUILD_PLUGIN_PATH")));

  g_autofree char *db = g_build_filename (f->dir, "list.db", NULL);
  g_autofree char *uri = g_strconcat (schemes[0], ":", db, NULL);
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (carb_store_get_backend_name (store), ==, carb_plugin_info_get_name (sqlite));
}

/* Earlier folders first, sorted within a folder; a name an earlier folder
 * provides overrides a later one; modules are not loaded (these do not
 * exist) and relative module paths resolve against the manifest. */
static void
test_search_order (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *b = write_manifest (f, "b.plugin", "beta", "../lib/carburetor-beta.so", "beta;");
  g_autofree char *a = write_manifest (f, "a.plugin", "alpha", "/nonexistent/alpha.so", "alpha;al;");
  g_autofree char *s = write_manifest (f, "s.plugin", "sqlite", "/nonexistent/sqlite.so", "sqlite;");
  g_autoptr (GPtrArray) list = carb_plugin_list (&error);
  g_assert_no_error (error);

  guint ia = 0, ib = 0, is = 0;
  const CarbPluginInfo *alpha = find (list, "alpha", &ia);
  const CarbPluginInfo *beta = find (list, "beta", &ib);
  const CarbPluginInfo *sqlite = find (list, "sqlite", &is);
  g_assert_nonnull (alpha);
  g_assert_nonnull (beta);
  g_assert_nonnull (sqlite);
  g_assert_cmpuint (ia, ==, 0);
  g_assert_cmpuint (ib, ==, 1);
  g_assert_cmpuint (is, ==, 2);

  const char *const alpha_schemes[] = { "alpha", "al", NULL };
  g_assert_true (g_strv_equal (carb_plugin_info_get_schemes (alpha), alpha_schemes));
  g_assert_cmpstr (carb_plugin_info_get_manifest_path (alpha), ==, a);
  g_autofree char *beta_module = g_build_filename (f->dir, "..", "lib", "carburetor-beta.so", NULL);
  g_assert_cmpstr (carb_plugin_info_get_module_path (beta), ==, beta_module);

  /* The test's "sqlite" overrides the build tree's, which is not listed. */
  g_assert_cmpstr (carb_plugin_info_get_manifest_path (sqlite), ==, s);
  guint n_sqlite = 0;
  for (guint i = 0; i < list->len; i++)
    n_sqlite += strcmp (carb_plugin_info_get_name (list->pdata[i]), "sqlite") == 0;
  g_assert_cmpuint (n_sqlite, ==, 1);

  /* A copy outlives the list. */
  g_autoptr (CarbPluginInfo) copy = carb_plugin_info_copy (alpha);
  g_clear_pointer (&list, g_ptr_array_unref);
  g_assert_cmpstr (carb_plugin_info_get_name (copy), ==, "alpha");
  g_assert_true (g_strv_equal (carb_plugin_info_get_schemes (copy), alpha_schemes));
  g_assert_true (G_TYPE_IS_BOXED (CARB_TYPE_PLUGIN_INFO));
}

/* A broken manifest fails the listing as it would fail carb_store_open(). */
static void
test_malformed (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "broken.plugin", NULL);
  g_assert_true (g_file_set_contents (path, "[Carburetor Backend]\nName=broken\n", -1, NULL));
  g_autoptr (GPtrArray) list = carb_plugin_list (&error);
  g_assert_null (list);
  g_assert_error (error, CARB_ERROR, CARB_ERROR_PLUGIN);
  g_assert_nonnull (strstr (error->message, path));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/plugin-list/build-tree", test_build_tree);
  ADD ("/plugin-list/search-order", test_search_order);
  ADD ("/plugin-list/malformed", test_malformed);
  return g_test_run ();
}
