/* Carburetor — CarbPluginInfo: one plugin as its manifest describes it,
 * handed to applications by carb_plugin_list().
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

struct _CarbPluginInfo
{
  char *name;
  char **schemes;
  char *module_path;
  char *manifest_path;
};

CARB_DEFINE_BOXED_TYPE (CarbPluginInfo, carb_plugin_info, carb_plugin_info_copy, carb_plugin_info_free)

CarbPluginInfo *
carb_plugin_info_new (const char *name,
                      const char *const *schemes,
                      const char *module_path,
                      const char *manifest_path)
{
  CarbPluginInfo *info = g_new0 (CarbPluginInfo, 1);
  info->name = g_strdup (name);
  info->schemes = g_strdupv ((char **) schemes);
  info->module_path = g_strdup (module_path);
  info->manifest_path = g_strdup (manifest_path);
  return info;
}

/**
 * carb_plugin_info_copy:
 * @info: a plugin description
 *
 * Returns: (transfer full): a copy of @info
 *
 * Since: 1.0
 */
CarbPluginInfo *
carb_plugin_info_copy (const CarbPluginInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return carb_plugin_info_new (info->name, (const char *const *) info->schemes, info->module_path,
                               info->manifest_path);
}

/**
 * carb_plugin_info_free:
 * @info: (nullable) (transfer full): a plugin description
 *
 * Frees @info.
 *
 * Since: 1.0
 */
void
carb_plugin_info_free (CarbPluginInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->name);
  g_strfreev (info->schemes);
  g_free (info->module_path);
  g_free (info->manifest_path);
  g_free (info);
}

/**
 * carb_plugin_info_get_name:
 * @info: a plugin description
 *
 * Returns: (transfer none): the plugin's name from its manifest ("sqlite")
 *
 * Since: 1.0
 */
const char *
carb_plugin_info_get_name (const CarbPluginInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return info->name;
}

/**
 * carb_plugin_info_get_schemes:
 * @info: a plugin description
 *
 * Returns: (transfer none) (array zero-terminated=1): the URI schemes the
 *   plugin claims, without the colon ("sqlite", "file")
 *
 * Since: 1.0
 */
const char *const *
carb_plugin_info_get_schemes (const CarbPluginInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return (const char *const *) info->schemes;
}

/**
 * carb_plugin_info_get_module_path:
 * @info: a plugin description
 *
 * Returns: (transfer none) (type filename): the plugin's shared module, as
 *   the manifest names it (made absolute); it may not exist, since listing
 *   does not load it
 *
 * Since: 1.0
 */
const char *
carb_plugin_info_get_module_path (const CarbPluginInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return info->module_path;
}

/**
 * carb_plugin_info_get_manifest_path:
 * @info: a plugin description
 *
 * Returns: (transfer none) (type filename): the manifest the plugin was
 *   found by
 *
 * Since: 1.0
 */
const char *
carb_plugin_info_get_manifest_path (const CarbPluginInfo *info)
{
  g_return_val_if_fail (info != NULL, NULL);
  return info->manifest_path;
}
