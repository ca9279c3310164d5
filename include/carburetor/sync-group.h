/* Carburetor — sync groups: the models a two-way sync carries together,
 * with the rules the server enforces on them (docs/TWOWAY.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(CARBURETOR_INSIDE) && !defined(CARBURETOR_COMPILATION)
#error "Only <carburetor/carburetor.h> can be included directly."
#endif

#include <carburetor/model.h>
#include <carburetor/version.h>
#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * CarbSyncGroup:
 *
 * Several models synced together, in a fixed order (parents before
 * children), with their immutable columns, row filters and a validation
 * callback. Configure a group completely before its first use by a store
 * or replica; it is read-only afterwards (changes fail with
 * %CARB_ERROR_INVALID_MODEL), and then safe to share between threads.
 *
 * Since: 1.0
 */
typedef struct _CarbSyncGroup CarbSyncGroup;

#define CARB_TYPE_SYNC_GROUP (carb_sync_group_get_type ())
CARB_AVAILABLE_IN_ALL
GType carb_sync_group_get_type (void) G_GNUC_CONST;

/**
 * CarbValidateFunc:
 * @group: the group
 * @table: the table of the row
 * @row: the row as the change would leave it on the server: an `a{sv}`
 *   of every column of the model, as carb_model_row_to_variant() makes
 *   it
 * @context: the server-side context of the apply (an `a{sv}`)
 * @user_data: the data given to carb_sync_group_set_validate_func()
 * @error: set it, in any domain, to refuse the change; its message is what
 *   the replica reports
 *
 * Runs on the server, inside the apply's transaction, for each row a batch
 * changes. It must not use the server store itself. It runs in the
 * thread that applies: with carb_replica_sync_async() a worker thread,
 * where gjs refuses to run JavaScript ("Attempting to run a JS callback on
 * a different thread"); from gjs, validate with carb_replica_sync() or
 * carb_store_apply_changes() called on the main thread.
 *
 * Returns: %TRUE to accept the change
 *
 * Since: 1.0
 */
typedef gboolean (*CarbValidateFunc) (CarbSyncGroup *group,
                                      const char *table,
                                      GVariant *row,
                                      GVariant *context,
                                      gpointer user_data,
                                      GError **error);

CARB_AVAILABLE_IN_ALL
CarbSyncGroup *carb_sync_group_new (const char *name);
CARB_AVAILABLE_IN_ALL
CarbSyncGroup *carb_sync_group_ref (CarbSyncGroup *group);
CARB_AVAILABLE_IN_ALL
void carb_sync_group_unref (CarbSyncGroup *group);
CARB_AVAILABLE_IN_ALL
const char *carb_sync_group_get_name (CarbSyncGroup *group);

CARB_AVAILABLE_IN_ALL
gboolean carb_sync_group_add_model (CarbSyncGroup *group, const CarbModel *model, GError **error);
CARB_AVAILABLE_IN_ALL
guint carb_sync_group_get_n_models (CarbSyncGroup *group);
CARB_AVAILABLE_IN_ALL
const CarbModel *carb_sync_group_get_model (CarbSyncGroup *group, guint index);
CARB_AVAILABLE_IN_ALL
const CarbModel *carb_sync_group_get_wire_model (CarbSyncGroup *group, guint index);
CARB_AVAILABLE_IN_ALL
gint carb_sync_group_find_table (CarbSyncGroup *group, const char *table);

CARB_AVAILABLE_IN_ALL
gboolean
carb_sync_group_set_immutable (CarbSyncGroup *group, const char *table, const char *column, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_sync_group_is_immutable (CarbSyncGroup *group, guint index, guint column);
CARB_AVAILABLE_IN_ALL
gboolean carb_sync_group_set_filter (
    CarbSyncGroup *group, const char *table, const char *column, const char *context_key, GError **error);
CARB_AVAILABLE_IN_ALL
gint carb_sync_group_get_filter (CarbSyncGroup *group, guint index, const char **context_key);
CARB_AVAILABLE_IN_ALL
gboolean carb_sync_group_set_validate_func (
    CarbSyncGroup *group, CarbValidateFunc func, gpointer user_data, GDestroyNotify destroy, GError **error);
CARB_AVAILABLE_IN_ALL
gboolean carb_sync_group_set_max_clock_ahead (CarbSyncGroup *group, gint64 max_ahead_ms, GError **error);
CARB_AVAILABLE_IN_ALL
gint64 carb_sync_group_get_max_clock_ahead (CarbSyncGroup *group);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CarbSyncGroup, carb_sync_group_unref)

G_END_DECLS
