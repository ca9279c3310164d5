/* Carburetor — plugin discovery (manifests in plugins.d directories) and
 * loading (GModule, one entry symbol, ABI checks).
 *
 * A manifest is a key file named NAME.plugin:
 *
 *   [Carburetor Backend]
 *   Name=sqlite
 *   Module=../lib/carburetor-sqlite.so   (relative to the manifest's folder)
 *   Schemes=sqlite;file;
 *   ABI=1
 *
 * Search order: each folder of CARBURETOR_PLUGIN_PATH (colon-separated),
 * then the installed folder. The first folder with a plugin for a scheme
 * wins, so a path entry can override an installed plugin; two plugins for
 * one scheme in the same folder are an error. A malformed manifest met on
 * the way is an error too: a broken install should be loud, not skipped.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"
#include "config.h"

#include <gmodule.h>
#include <string.h>

#define MANIFEST_GROUP  "Carburetor Backend"
#define MANIFEST_SUFFIX ".plugin"

/* Loaded plugins live as long as the process: a vtable handed out must
 * never be unmapped under a store. Keyed by module path. */
static GMutex registry_lock;
static GHashTable *registry;

static void
plugin_free (CarbPlugin *plugin)
{
  g_free (plugin->name);
  g_free (plugin->manifest_path);
  g_free (plugin->module_path);
  g_strfreev (plugin->schemes);
  g_free (plugin);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CarbPlugin, plugin_free)

static gboolean plugin_error (GError **error, const char *file, const char *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
plugin_error (GError **error, const char *file, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *detail = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, CARB_ERROR, CARB_ERROR_PLUGIN, "Plugin “%s”: %s", file, detail);
  return FALSE;
}

static CarbPlugin *
manifest_load (const char *path, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  g_autoptr (CarbPlugin) plugin = g_new0 (CarbPlugin, 1);

  plugin->manifest_path = g_strdup (path);
  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local))
    {
      plugin_error (error, path, "malformed manifest: %s", local->message);
      return NULL;
    }

  plugin->name = g_key_file_get_string (kf, MANIFEST_GROUP, "Name", NULL);
  g_autofree char *module = g_key_file_get_string (kf, MANIFEST_GROUP, "Module", NULL);
  plugin->schemes = g_key_file_get_string_list (kf, MANIFEST_GROUP, "Schemes", NULL, NULL);
  g_autofree char *abi = g_key_file_get_value (kf, MANIFEST_GROUP, "ABI", NULL);

  if (plugin->name == NULL || module == NULL || module[0] == '\0')
    {
      plugin_error (error, path, "the manifest has no [" MANIFEST_GROUP "] Name and Module");
      return NULL;
    }
  if (plugin->schemes == NULL || plugin->schemes[0] == NULL)
    {
      plugin_error (error, path, "the manifest lists no Schemes");
      return NULL;
    }
  if (abi == NULL || strcmp (abi, G_STRINGIFY (CARB_BACKEND_ABI_VERSION)) != 0)
    {
      plugin_error (error, path, "the manifest declares ABI “%s”; this Carburetor loads ABI %d",
                    abi != NULL ? abi : "(none)", CARB_BACKEND_ABI_VERSION);
      return NULL;
    }

  if (g_path_is_absolute (module))
    plugin->module_path = g_steal_pointer (&module);
  else
    {
      g_autofree char *dir = g_path_get_dirname (path);
      plugin->module_path = g_build_filename (dir, module, NULL);
    }
  return g_steal_pointer (&plugin);
}

static gboolean
claims (const CarbPlugin *plugin, const char *scheme)
{
  for (char **s = plugin->schemes; *s != NULL; s++)
    if (g_ascii_strcasecmp (*s, scheme) == 0)
      return TRUE;
  return FALSE;
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The manifests of @dir, in sorted order so that errors are stable. */
static GPtrArray *
dir_manifests (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (d == NULL) /* a missing folder in the path is not an error */
    return names;
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, MANIFEST_SUFFIX))
      g_ptr_array_add (names, g_build_filename (dir, name, NULL));
  g_ptr_array_sort (names, compare_strings);
  return names;
}

/* The plugin of @dir that claims @scheme, or NULL (with @error set only on
 * a real failure). */
static CarbPlugin *
scan_dir (const char *dir, const char *scheme, GError **error)
{
  g_autoptr (GPtrArray) names = dir_manifests (dir);
  g_autoptr (CarbPlugin) found = NULL;

  for (guint i = 0; i < names->len; i++)
    {
      g_autoptr (CarbPlugin) plugin = manifest_load (names->pdata[i], error);
      if (plugin == NULL)
        return NULL;
      if (!claims (plugin, scheme))
        continue;
      if (found != NULL)
        {
          plugin_error (error, plugin->manifest_path, "claims URI scheme “%s”, already claimed by “%s”",
                        scheme, found->manifest_path);
          return NULL;
        }
      found = g_steal_pointer (&plugin);
    }
  return g_steal_pointer (&found);
}

static GStrv
search_path (void)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  const char *env = g_getenv ("CARBURETOR_PLUGIN_PATH");

  if (env != NULL)
    {
      g_auto (GStrv) dirs = g_strsplit (env, G_SEARCHPATH_SEPARATOR_S, -1);
      for (char **d = dirs; *d != NULL; d++)
        if (**d != '\0')
          g_strv_builder_add (b, *d);
    }
  g_strv_builder_add (b, CARB_PLUGINDIR);
  return g_strv_builder_end (b);
}

/* Everything but the entry function itself is checked before the vtable
 * is trusted: a wrong plugin must fail with a message, never crash. */
static gboolean
check_vtable (const CarbPlugin *plugin, const CarbBackendVTable *vt, GError **error)
{
  const char *m = plugin->module_path;

  if (vt == NULL)
    return plugin_error (error, m, "the entry function refused ABI %d", CARB_BACKEND_ABI_VERSION);
  if (vt->abi_version != CARB_BACKEND_ABI_VERSION)
    return plugin_error (error, m, "built for plugin ABI %u; this Carburetor loads ABI %d", vt->abi_version,
                         CARB_BACKEND_ABI_VERSION);
  if (vt->struct_size < G_STRUCT_OFFSET (CarbBackendVTable, execute) + sizeof vt->execute)
    return plugin_error (error, m, "its vtable is %u bytes, smaller than ABI %d requires (%zu)",
                         vt->struct_size, CARB_BACKEND_ABI_VERSION, sizeof (CarbBackendVTable));
  if (vt->open == NULL || vt->close == NULL || vt->describe_table == NULL || vt->prepare_table == NULL
      || vt->download == NULL || vt->execute == NULL)
    return plugin_error (error, m, "its vtable leaves a required function NULL");
  return TRUE;
}

static const CarbBackendVTable *
load_module (const CarbPlugin *plugin, GError **error)
{
  const char *path = plugin->module_path;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      plugin_error (error, path, "module file does not exist (named by “%s”)", plugin->manifest_path);
      return NULL;
    }
  /* Symbols resolved now, kept local: two plugins may link different
   * versions of one client library. */
  GModule *module = g_module_open (path, G_MODULE_BIND_LOCAL);
  if (module == NULL)
    {
      plugin_error (error, path, "cannot be loaded: %s", g_module_error ());
      return NULL;
    }

  gpointer symbol = NULL;
  if (!g_module_symbol (module, CARB_BACKEND_ENTRY_SYMBOL, &symbol) || symbol == NULL)
    {
      g_module_close (module);
      plugin_error (error, path, "has no entry symbol “" CARB_BACKEND_ENTRY_SYMBOL "”");
      return NULL;
    }
  CarbBackendEntryFunc entry;
  memcpy (&entry, &symbol, sizeof entry); /* ISO C has no object-to-function pointer cast */
  const CarbBackendVTable *vt = entry (CARB_BACKEND_ABI_VERSION);
  if (!check_vtable (plugin, vt, error))
    {
      g_module_close (module);
      return NULL;
    }
  /* A vtable handed out must never be unmapped under a store. */
  g_module_make_resident (module);
  return vt;
}

/* Returns the registered plugin for @found's module, loading it once. */
static const CarbPlugin *
register_plugin (CarbPlugin *found, GError **error)
{
  g_autoptr (CarbPlugin) owned = found;
  G_GNUC_UNUSED g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&registry_lock);

  if (registry == NULL)
    registry = g_hash_table_new (g_str_hash, g_str_equal);
  CarbPlugin *known = g_hash_table_lookup (registry, owned->module_path);
  if (known != NULL)
    return known;
  owned->vtable = load_module (owned, error);
  if (owned->vtable == NULL)
    return NULL;
  CarbPlugin *plugin = g_steal_pointer (&owned);
  g_hash_table_insert (registry, plugin->module_path, plugin);
  g_debug ("Loaded the %s plugin from %s (manifest %s)", plugin->name, plugin->module_path,
           plugin->manifest_path);
  return plugin;
}

/* The plugin that serves @uri's scheme, loaded and checked. */
const CarbPlugin *
carb_plugin_for_uri (const char *uri, GError **error)
{
  g_autofree char *scheme = g_uri_parse_scheme (uri);

  if (scheme == NULL)
    {
      /* Not echoed when it may hold a secret: a libpq conninfo string
       * (host=… password=…) or userinfo (user:password@host). */
      if (strchr (uri, '=') != NULL || strchr (uri, '@') != NULL)
        g_set_error_literal (error, CARB_ERROR, CARB_ERROR_INVALID_URI,
                             "Store URI has no scheme (write e.g. sqlite:PATH or postgresql://…)");
      else
        g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_URI,
                     "Store URI “%s” has no scheme (write e.g. sqlite:%s or postgresql://…)", uri, uri);
      return NULL;
    }
  g_auto (GStrv) dirs = search_path ();
  for (char **dir = dirs; *dir != NULL; dir++)
    {
      g_autoptr (GError) local = NULL;
      CarbPlugin *found = scan_dir (*dir, scheme, &local);
      if (local != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return NULL;
        }
      if (found != NULL)
        return register_plugin (found, error);
    }
  g_autofree char *searched = g_strjoinv (G_SEARCHPATH_SEPARATOR_S, dirs);
  g_set_error (error, CARB_ERROR, CARB_ERROR_NO_PLUGIN,
               "No plugin handles URI scheme “%s” (searched %s; set CARBURETOR_PLUGIN_PATH)", scheme,
               searched);
  return NULL;
}

/**
 * carb_plugin_list:
 * @error: return location for a #GError
 *
 * Lists the backend plugins carb_store_open() can use, in search order:
 * each folder of `CARBURETOR_PLUGIN_PATH`, then the installed folder
 * (docs/PLUGINS.md). Only manifests are read; no module is loaded. For a
 * URI scheme, carb_store_open() uses the first plugin of this list that
 * claims it. A plugin whose name an earlier folder already provided is
 * overridden, and not listed.
 *
 * Returns: (transfer container) (element-type CarbPluginInfo): the plugins, or
 *   %NULL with @error set (%CARB_ERROR_PLUGIN) when a manifest is
 *   malformed, as carb_store_open() would fail. g_ptr_array_unref() frees
 *   the array and its elements (its free function does: "container",
 *   not "full", so that a binding copies each element instead of freeing
 *   it a second time)
 *
 * Since: 1.0
 */
GPtrArray *
carb_plugin_list (GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_autoptr (GPtrArray) list = g_ptr_array_new_with_free_func ((GDestroyNotify) carb_plugin_info_free);
  g_autoptr (GHashTable) names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_auto (GStrv) dirs = search_path ();

  for (char **dir = dirs; *dir != NULL; dir++)
    {
      g_autoptr (GPtrArray) manifests = dir_manifests (*dir);
      for (guint i = 0; i < manifests->len; i++)
        {
          g_autoptr (CarbPlugin) plugin = manifest_load (manifests->pdata[i], error);
          if (plugin == NULL)
            return NULL;
          if (!g_hash_table_add (names, g_strdup (plugin->name)))
            continue;
          g_ptr_array_add (list, carb_plugin_info_new (plugin->name, (const char *const *) plugin->schemes,
                                                       plugin->module_path, plugin->manifest_path));
        }
    }
  return g_steal_pointer (&list);
}
