/* Carburetor — error domain shared by the core, applications and plugins.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(CARBURETOR_INSIDE) && !defined(CARBURETOR_COMPILATION)
#error "Include <carburetor/carburetor.h> or <carburetor/sys/backend.h>, not this header."
#endif

#include <glib.h>

#include <carburetor/version.h>

G_BEGIN_DECLS

/**
 * CARB_ERROR:
 *
 * The error domain of every #GError raised by Carburetor and its plugins.
 *
 * Since: 1.0
 */
#define CARB_ERROR (carb_error_quark ())

/**
 * CarbError:
 * @CARB_ERROR_FAILED: anything not covered below.
 * @CARB_ERROR_INVALID_MODEL: the model declaration is inconsistent (no
 *   timestamp column, two id columns, …), independent of any database.
 * @CARB_ERROR_SCHEMA_MISMATCH: the model does not fit the live table
 *   (missing table or column, incompatible or unsupported SQL type,
 *   nullability).
 * @CARB_ERROR_INVALID_URI: a store URI could not be parsed.
 * @CARB_ERROR_NO_PLUGIN: no plugin claims the URI's scheme.
 * @CARB_ERROR_PLUGIN: a plugin could not be loaded (file missing, not a
 *   shared object, entry symbol missing, wrong ABI, malformed manifest, two
 *   plugins claiming one scheme).
 * @CARB_ERROR_CONNECTION: the database could not be reached or the
 *   connection was lost.
 * @CARB_ERROR_QUERY: the database rejected a statement.
 * @CARB_ERROR_INVALID_DATA: a value read from the database does not fit the
 *   model (NULL in a non-nullable field, integer out of range, …).
 * @CARB_ERROR_INVALID_SYNC_POINT: a serialized sync point could not be
 *   parsed, or belongs to another kind of model.
 * @CARB_ERROR_CLOCK_UNSAFE: the backend cannot compute a safe sync point
 *   (for example on a PostgreSQL standby, or after the server's clock
 *   stepped back); the sync point was not advanced.
 * @CARB_ERROR_NOT_PREPARED: the table lacks what the sync guarantee rests
 *   on: its stamping trigger is missing, disabled or outdated, or rows can
 *   reach it without being stamped (an inheritance child). The message
 *   names the trigger or table and the fix, usually
 *   carb_store_prepare_table().
 * @CARB_ERROR_IN_TRANSACTION: the application has a transaction open on
 *   the store's connection (carb_store_execute() of `BEGIN`); a sync would
 *   have to end it. The application's transaction was left untouched.
 * @CARB_ERROR_BUSY: another connection held a lock on the database for
 *   longer than the store's #CarbStore:busy-timeout (SQLite), or the
 *   statement failed for now (PostgreSQL: lock_timeout, a deadlock, a
 *   serialization failure, statement_timeout or a cancel). Retrying later
 *   may succeed.
 * @CARB_ERROR_CLOCK_AHEAD: two-way sync: a change's version is further
 *   ahead of the server's clock than the sync group allows; nothing of the
 *   batch was applied. The message ends with the server's clock as a
 *   hybrid logical time (`server hlc: N`), so the client can correct
 *   itself. Since: 1.0
 * @CARB_ERROR_SYNC_POINT_EXPIRED: two-way sync: the sync point is older
 *   than the server's tombstone purge horizon; deletes after it are gone,
 *   so the replica must rebuild (carb_replica_rebuild() keeps its pending
 *   edits). Since: 1.0
 *
 * Error codes in the %CARB_ERROR domain. Messages always name the table,
 * column, URI or file at fault.
 */
typedef enum
{
  CARB_ERROR_FAILED,
  CARB_ERROR_INVALID_MODEL,
  CARB_ERROR_SCHEMA_MISMATCH,
  CARB_ERROR_INVALID_URI,
  CARB_ERROR_NO_PLUGIN,
  CARB_ERROR_PLUGIN,
  CARB_ERROR_CONNECTION,
  CARB_ERROR_QUERY,
  CARB_ERROR_INVALID_DATA,
  CARB_ERROR_INVALID_SYNC_POINT,
  CARB_ERROR_CLOCK_UNSAFE,
  CARB_ERROR_NOT_PREPARED,
  CARB_ERROR_IN_TRANSACTION,
  CARB_ERROR_BUSY,
  CARB_ERROR_CLOCK_AHEAD,
  CARB_ERROR_SYNC_POINT_EXPIRED,
} CarbError;

CARB_AVAILABLE_IN_ALL
GQuark carb_error_quark (void);

G_END_DECLS
