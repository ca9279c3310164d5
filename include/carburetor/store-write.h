/* Carburetor — writing rows without writing SQL.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(CARBURETOR_INSIDE) && !defined(CARBURETOR_COMPILATION)
#error "Only <carburetor/carburetor.h> can be included directly."
#endif

#include <carburetor/store.h>

G_BEGIN_DECLS

CARB_AVAILABLE_IN_ALL
gboolean carb_store_execute_with_params (
    CarbStore *store, const char *sql, GVariant *params, guint64 *n_changed, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_store_upsert_rows (
    CarbStore *store, const CarbModel *model, gconstpointer rows, gsize n_rows, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_store_upsert_variant (CarbStore *store, const CarbModel *model, GVariant *rows, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_store_delete_rows (
    CarbStore *store, const CarbModel *model, gconstpointer rows, gsize n_rows, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_store_create_table (CarbStore *store, const CarbModel *model, GError **error);

G_END_DECLS
