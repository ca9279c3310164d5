/* Carburetor — models declared at run time, and reading any model's rows
 * by column (for bindings, tools and generic code).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(CARBURETOR_INSIDE) && !defined(CARBURETOR_COMPILATION)
#error "Only <carburetor/carburetor.h> can be included directly."
#endif

#include <carburetor/model.h>
#include <carburetor/store.h>
#include <glib-object.h>

G_BEGIN_DECLS

#define CARB_TYPE_MODEL (carb_model_get_type ())

CARB_AVAILABLE_IN_ALL
GType carb_model_get_type (void) G_GNUC_CONST;

CARB_AVAILABLE_IN_ALL
CarbModel *carb_model_new (const char *schema, const char *table);
CARB_AVAILABLE_IN_ALL
gboolean carb_model_add_column (CarbModel *model,
                                const char *name,
                                CarbColumnType type,
                                CarbColumnRole role,
                                CarbColumnFlags flags,
                                GError **error);
CARB_AVAILABLE_IN_ALL
CarbModel *carb_model_ref (const CarbModel *model);
CARB_AVAILABLE_IN_ALL
void carb_model_unref (const CarbModel *model);

CARB_AVAILABLE_IN_ALL
const char *carb_model_get_schema (const CarbModel *model);
CARB_AVAILABLE_IN_ALL
const char *carb_model_get_table (const CarbModel *model);
CARB_AVAILABLE_IN_ALL
guint carb_model_get_n_columns (const CarbModel *model);
CARB_AVAILABLE_IN_ALL
const char *carb_model_get_column_name (const CarbModel *model, guint column);
CARB_AVAILABLE_IN_ALL
CarbColumnType carb_model_get_column_type (const CarbModel *model, guint column);
CARB_AVAILABLE_IN_ALL
CarbColumnRole carb_model_get_column_role (const CarbModel *model, guint column);
CARB_AVAILABLE_IN_ALL
gint carb_model_find_column (const CarbModel *model, const char *name);

CARB_AVAILABLE_IN_ALL
gboolean carb_model_row_is_null (const CarbModel *model, gconstpointer row, guint column);
CARB_AVAILABLE_IN_ALL
gboolean carb_model_row_get_value (const CarbModel *model, gconstpointer row, guint column, GValue *value);
CARB_AVAILABLE_IN_ALL
GVariant *carb_model_row_to_variant (const CarbModel *model, gconstpointer row);
CARB_AVAILABLE_IN_ALL
char *carb_model_row_to_json (const CarbModel *model, gconstpointer row);

CARB_AVAILABLE_IN_ALL
CarbModel *carb_store_describe_model (CarbStore *store,
                                      const char *schema,
                                      const char *table,
                                      const char *id_column,
                                      const char *timestamp_column,
                                      const char *deleted_column,
                                      GError **error);

CARB_AVAILABLE_IN_ALL
const CarbModel *carb_sync_result_get_model (const CarbSyncResult *result);
CARB_AVAILABLE_IN_ALL
gboolean carb_sync_result_get_value (const CarbSyncResult *result, gsize row, guint column, GValue *value);
CARB_AVAILABLE_IN_ALL
GVariant *carb_sync_result_get_row_variant (const CarbSyncResult *result, gsize row);
CARB_AVAILABLE_IN_ALL
char *carb_sync_result_to_json (const CarbSyncResult *result, gboolean pretty);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CarbModel, carb_model_unref)

G_END_DECLS
