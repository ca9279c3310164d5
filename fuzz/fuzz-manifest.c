/* libFuzzer target: plugin manifests. The input becomes the only manifest
 * of a private plugins.d; listing plugins parses it without loading any
 * module. It must list it or fail with a GError naming the file.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static char *dir;
static char *path;

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  if (dir == NULL)
    {
      dir = g_dir_make_tmp ("carb-fuzz-manifest-XXXXXX", NULL);
      path = g_build_filename (dir, "fuzzed.plugin", NULL);
      g_setenv ("CARBURETOR_PLUGIN_PATH", dir, TRUE);
    }
  g_assert_true (g_file_set_contents (path, (const char *) data, (gssize) size, NULL));

  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) plugins = carb_plugin_list (&error);
  if (plugins == NULL)
    {
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, path));
    }
  return 0;
}
