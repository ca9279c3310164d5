/* Carburetor — listing the backend plugins an application can use.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(CARBURETOR_INSIDE) && !defined(CARBURETOR_COMPILATION)
#error "Include <carburetor/carburetor.h>, not this header."
#endif

#include <glib-object.h>

#include <carburetor/version.h>

G_BEGIN_DECLS

/**
 * CarbPluginInfo:
 *
 * What a plugin's manifest says about it: its name, the URI schemes it
 * serves, and where its module and manifest are. Immutable; read from the
 * manifest alone, without loading the module.
 *
 * Since: 1.0
 */
typedef struct _CarbPluginInfo CarbPluginInfo;

#define CARB_TYPE_PLUGIN_INFO (carb_plugin_info_get_type ())
CARB_AVAILABLE_IN_ALL
GType carb_plugin_info_get_type (void) G_GNUC_CONST;

CARB_AVAILABLE_IN_ALL
CarbPluginInfo *carb_plugin_info_copy (const CarbPluginInfo *info);
CARB_AVAILABLE_IN_ALL
void carb_plugin_info_free (CarbPluginInfo *info);
CARB_AVAILABLE_IN_ALL
const char *carb_plugin_info_get_name (const CarbPluginInfo *info);
CARB_AVAILABLE_IN_ALL
const char *const *carb_plugin_info_get_schemes (const CarbPluginInfo *info);
CARB_AVAILABLE_IN_ALL
const char *carb_plugin_info_get_module_path (const CarbPluginInfo *info);
CARB_AVAILABLE_IN_ALL
const char *carb_plugin_info_get_manifest_path (const CarbPluginInfo *info);

CARB_AVAILABLE_IN_ALL
GPtrArray *carb_plugin_list (GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CarbPluginInfo, carb_plugin_info_free)

G_END_DECLS
