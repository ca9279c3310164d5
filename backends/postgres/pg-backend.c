/* carburetor-postgres — the plugin's entry point, connections, statement
 * helpers and SQL dialect.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

#include <string.h>

/* libpq messages end in a newline; GError messages do not. */
static char *
server_message (PGconn *conn)
{
  char *msg = g_strdup (PQerrorMessage (conn));
  return g_strchomp (msg);
}

gboolean
carb_pg_fail (CarbBackend *backend, GError **error, const char *what)
{
  g_autofree char *msg = server_message (backend->conn);
  gboolean lost = PQstatus (backend->conn) == CONNECTION_BAD;
  g_set_error (error, CARB_ERROR, lost ? CARB_ERROR_CONNECTION : CARB_ERROR_QUERY, "PostgreSQL “%s”: %s: %s",
               backend->display, what, msg);
  return FALSE;
}

/* Decoding must not depend on the session's settings: binary results are
 * zone-free, and text ones are forced to UTC, ISO and UTF-8. */
static const char session_setup[] = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD';"
                                    " SET client_encoding = 'UTF8'; SET extra_float_digits = 3";

/* After DISCARD ALL (or RESET ALL) through carb_store_execute() the
 * session has lost its settings; the server reports the new values of
 * these (ParameterStatus), so a lost setup shows without a round trip.
 * A pooler reports them too, and in transaction mode it carries them to
 * whichever server connection serves the next transaction. (Prepared
 * statements are found missing when used: pg-pipeline.c.) */
static gboolean
session_set_up (CarbBackend *backend)
{
  return g_strcmp0 (PQparameterStatus (backend->conn, "TimeZone"), "UTC") == 0
         && g_strcmp0 (PQparameterStatus (backend->conn, "DateStyle"), "ISO, YMD") == 0;
}

gboolean
carb_pg_reset_session (CarbBackend *backend, GError **error)
{
  return carb_pg_exec_command (backend, session_setup, error);
}

/* A connection lost earlier (server restart, pg_terminate_backend) is
 * re-established here, so that retrying a failed sync converges. */
gboolean
carb_pg_ensure_connected (CarbBackend *backend, GError **error)
{
  if (PQstatus (backend->conn) == CONNECTION_OK)
    return session_set_up (backend) || carb_pg_reset_session (backend, error);
  g_hash_table_remove_all (backend->prepared); /* a new session has no prepared statements */
  PQreset (backend->conn);
  if (PQstatus (backend->conn) == CONNECTION_OK)
    return carb_pg_reset_session (backend, error);
  return carb_pg_fail (backend, error, "cannot reconnect");
}

/* Whether @state (a SQLSTATE) says the statement failed for now, not for
 * good: a lock it gave up waiting for (lock_timeout), a deadlock or
 * serialization failure, a statement timeout or cancel. Retrying may
 * succeed; a two-way apply must not take it for the database's refusal
 * of a row, which the replica drops for good. */
static gboolean
transient (const char *state)
{
  static const char *const states[] = { "40001", "40P01", "55P03", "57014" };
  for (gsize i = 0; state != NULL && i < G_N_ELEMENTS (states); i++)
    if (strcmp (state, states[i]) == 0)
      return TRUE;
  return FALSE;
}

/* Whether the statement carb_pg_check() saw fail last was refused for its
 * data (a constraint, a value, an application trigger's RAISE, whatever
 * its SQLSTATE): any SQLSTATE but those of a failure of the server, the
 * session or the SQL itself, which fail every row alike (connection,
 * unsupported feature, transaction state such as read-only, missing
 * prepared statement or cursor, authorization, external routine,
 * missing catalog or schema, a rollback for a deadlock or serialization,
 * a syntax error or access rule violation such as a missing privilege or
 * an undefined table in a trigger, insufficient resources, an object or
 * lock not available, operator intervention, system, configuration,
 * foreign data wrapper and internal errors). A row-level security
 * policy's refusal shares the privilege's SQLSTATE (42501): it fails the
 * apply, named, rather than dropping the row on the replica. */
static gboolean
last_failure_refuses_data (CarbBackend *backend)
{
  static const char *const classes[] = { "08", "0A", "25", "26", "28", "2B", "2D", "34", "39", "3B", "3D",
                                         "3F", "40", "42", "53", "55", "57", "58", "F0", "HV", "XX" };
  const char *state = backend->sqlstate;
  if (strlen (state) != 5)
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (classes); i++)
    if (strncmp (state, classes[i], 2) == 0)
      return FALSE;
  return TRUE;
}

/* Takes @res: returns it if the statement succeeded, else frees it and
 * fails with the server's message (a lost connection is CONNECTION). */
PGresult *
carb_pg_check (CarbBackend *backend, PGresult *res, GError **error)
{
  ExecStatusType status = PQresultStatus (res);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
    {
      backend->sqlstate[0] = '\0';
      return res;
    }
  const char *state = PQresultErrorField (res, PG_DIAG_SQLSTATE);
  g_strlcpy (backend->sqlstate, state != NULL ? state : "", sizeof backend->sqlstate);
  /* Our own PL/pgSQL's refusals carry their whole message, without
   * "ERROR:" and the PL/pgSQL context. */
  gboolean ours = g_strcmp0 (state, CARB_PG_SQLSTATE_CLOCK_UNSAFE) == 0;
  g_autofree char *msg = g_strchomp (
      g_strdup (ours ? PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY) : PQresultErrorMessage (res)));
  gboolean lost = PQstatus (backend->conn) == CONNECTION_BAD;
  g_set_error (error, CARB_ERROR,
               lost                ? CARB_ERROR_CONNECTION
               : ours              ? CARB_ERROR_CLOCK_UNSAFE
               : transient (state) ? CARB_ERROR_BUSY
                                   : CARB_ERROR_QUERY,
               "PostgreSQL “%s”: %s", backend->display,
               msg[0] != '\0' ? msg : PQerrorMessage (backend->conn));
  PQclear (res);
  return NULL;
}

PGresult *
carb_pg_exec (CarbBackend *backend,
              const char *sql,
              int n_params,
              const Oid *types,
              const char *const *values,
              const int *lengths,
              const int *formats,
              int result_format,
              GError **error)
{
  g_debug ("%s", sql);
  return carb_pg_check (
      backend, PQexecParams (backend->conn, sql, n_params, types, values, lengths, formats, result_format),
      error);
}

/* The result of the one statement sent with PQsend*(); the connection is
 * idle again afterwards. Checked like carb_pg_exec()'s. */
PGresult *
carb_pg_get_result (CarbBackend *backend, GError **error)
{
  PGresult *res = PQgetResult (backend->conn);
  for (PGresult *extra; res != NULL && (extra = PQgetResult (backend->conn)) != NULL;)
    PQclear (extra);
  return carb_pg_check (backend, res, error);
}

gboolean
carb_pg_exec_command (CarbBackend *backend, const char *sql, GError **error)
{
  g_debug ("%s", sql);
  PGresult *res = carb_pg_check (backend, PQexec (backend->conn, sql), error);
  PQclear (res);
  return res != NULL;
}

/**
 * carb_pg_ensure_idle:
 * @backend: a backend
 * @error: set to %CARB_ERROR_IN_TRANSACTION
 *
 * A sync ends with COMMIT or ROLLBACK and prepare_table commits its own
 * work: inside a transaction the application opened on this connection
 * (carb_store_execute() of BEGIN) either would end the application's
 * transaction. Refuse instead, having sent nothing.
 *
 * Returns: %TRUE if no transaction is open on the connection
 */
gboolean
carb_pg_ensure_idle (CarbBackend *backend, GError **error)
{
  PGTransactionStatusType status = PQtransactionStatus (backend->conn);
  if (status != PQTRANS_INTRANS && status != PQTRANS_INERROR)
    return TRUE;
  g_set_error (error, CARB_ERROR, CARB_ERROR_IN_TRANSACTION,
               "PostgreSQL “%s”: the application's transaction is open on the store's connection%s; a sync "
               "would have to end it, so none was run and the transaction was left as it is. COMMIT or "
               "ROLLBACK it with carb_store_execute() first, or sync through a store of its own",
               backend->display, status == PQTRANS_INERROR ? " (and has failed)" : "");
  return FALSE;
}

/* Like carb_pg_ensure_idle() for calls that may run inside an open
 * application transaction but not inside a failed one. */
gboolean
carb_pg_ensure_not_failed (CarbBackend *backend, GError **error)
{
  return PQtransactionStatus (backend->conn) != PQTRANS_INERROR || carb_pg_ensure_idle (backend, error);
}

static gboolean
execute (CarbBackend *backend, const char *sql, GError **error)
{
  return carb_pg_ensure_connected (backend, error) && carb_pg_exec_command (backend, sql, error);
}

char *
carb_pg_quote (CarbBackend *backend, const char *name, GError **error)
{
  char *quoted = PQescapeIdentifier (backend->conn, name, strlen (name));
  if (quoted == NULL)
    {
      carb_pg_fail (backend, error, "cannot quote an identifier");
      return NULL;
    }
  char *copy = g_strdup (quoted);
  PQfreemem (quoted);
  return copy;
}

gint64
carb_pg_to_pg_time (gint64 unix_us)
{
  /* G_MININT64 / G_MAXINT64 are PostgreSQL's -infinity / infinity. The
   * server refuses a finite timestamp before its calendar's first
   * microsecond ("timestamp out of range"); as an exclusive lower bound,
   * anything before it selects what -infinity does. Every other gint64
   * lands inside PostgreSQL's range. */
  if (unix_us == G_MAXINT64)
    return G_MAXINT64;
  if (unix_us < CARB_PG_MIN_TIMESTAMP + CARB_PG_EPOCH_OFFSET_US)
    return G_MININT64;
  return unix_us - CARB_PG_EPOCH_OFFSET_US;
}

/* FALSE for a timestamp after 294247-01-10, which PostgreSQL can hold but
 * microseconds since 1970 in a gint64 cannot: never saturate a real
 * instant into the value that means infinity. */
gboolean
carb_pg_from_pg_time (gint64 pg_us, gint64 *unix_us)
{
  if (pg_us == G_MININT64 || pg_us == G_MAXINT64)
    *unix_us = pg_us;
  else if (pg_us > G_MAXINT64 - CARB_PG_EPOCH_OFFSET_US)
    return FALSE;
  else
    *unix_us = pg_us + CARB_PG_EPOCH_OFFSET_US;
  return TRUE;
}

void
carb_pg_close (CarbBackend *backend)
{
  carb_pg_standby_free (backend->standby);
  PQfinish (backend->conn);
  g_clear_pointer (&backend->prepared, g_hash_table_unref);
  g_clear_pointer (&backend->probes, g_hash_table_unref);
  g_clear_pointer (&backend->trees, g_hash_table_unref);
  g_free (backend->display);
  g_free (backend);
}

/* A library must not write to stderr: server notices (e.g. "table does not
 * exist, skipping") go to the debug log instead. */
static void
log_notice (void *data, const char *message)
{
  g_debug ("PostgreSQL notice: %s", message);
}

/* One connection, set up; the plugin's open() is carb_pg_open()
 * (pg-standby.c), which may make two. */
CarbBackend *
carb_pg_connect (const char *uri, GError **error)
{
  if (CARB_NAIVE_CLOCK && g_str_has_prefix (uri, CARB_NAIVE_SCHEME_PREFIX))
    uri += strlen (CARB_NAIVE_SCHEME_PREFIX);
  CarbBackend *backend = g_new0 (CarbBackend, 1);

  backend->prepared = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  backend->probes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, carb_pg_probe_shapes_free);
  backend->trees = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  backend->display = carb_pg_mask_uri (uri);
  /* The sessions show up as "carburetor" in pg_stat_activity unless the
   * URI or PGAPPNAME names the application: an administrator's name wins.
   * client_encoding is a connection parameter too, not only SET: it is
   * then the session's default, which RESET ALL and DISCARD ALL run
   * through carb_store_execute() return to (binary text is sent in it). */
  const char *const keywords[] = { "dbname", "fallback_application_name", "client_encoding", NULL };
  const char *const values[] = { uri, "carburetor", "UTF8", NULL };
  backend->conn = PQconnectdbParams (keywords, values, 1);
  if (PQstatus (backend->conn) != CONNECTION_OK)
    {
      /* libpq quotes a malformed value back ("invalid percent-encoded
       * token: …"), and that value may be the password. */
      g_autofree char *msg = server_message (backend->conn);
      g_autofree char *redacted = carb_pg_redact (uri, msg);
      g_set_error (error, CARB_ERROR, CARB_ERROR_CONNECTION, "Cannot connect to PostgreSQL “%s”: %s",
                   backend->display, redacted);
      carb_pg_close (backend);
      return NULL;
    }
  PQsetNoticeProcessor (backend->conn, log_notice, NULL);
  if (!carb_pg_exec_command (backend, session_setup, error))
    {
      carb_pg_close (backend);
      return NULL;
    }
  return backend;
}

/* carb_store_poll(): one statement for the whole group (pg-probe.c). */
static gboolean
probe (CarbBackend *backend, const CarbQuery *const *queries, guint n, gboolean *changed, GError **error)
{
  /* A standby's stamps are the primary's, and its clock source runs on
   * the primary: a standby store takes the full path (every table due). */
  if (backend->standby != NULL)
    {
      for (guint i = 0; i < n; i++)
        changed[i] = TRUE;
      return TRUE;
    }
  return carb_pg_ensure_connected (backend, error) && carb_pg_ensure_idle (backend, error)
         && carb_pg_probe (backend, queries, n, changed, error);
}

static const CarbBackendVTable vtable = {
  .abi_version = CARB_BACKEND_ABI_VERSION,
  .struct_size = sizeof (CarbBackendVTable),
  .name = "postgres",
  .open = carb_pg_open,
  .close = carb_pg_close,
  .describe_table = carb_pg_describe_table,
  .prepare_table = carb_pg_prepare_table,
  .download = carb_pg_download,
  .execute = execute,
  .check_prepared = carb_pg_check_prepared,
  .mask_uri = carb_pg_mask_uri,
  .sql_syntax = &carb_pg_syntax,
  .in_transaction = carb_pg_in_transaction,
  .execute_params = carb_pg_execute_params,
  .probe = probe,
  .query_rows = carb_pg_query_rows,
  .begin_query_rows = carb_pg_begin_query_rows,
  .last_failure_refuses_data = last_failure_refuses_data,
};

CARB_BACKEND_EXPORT const CarbBackendVTable *carburetor_backend_entry (guint32 core_abi_version);

const CarbBackendVTable *
carburetor_backend_entry (guint32 core_abi_version)
{
  return core_abi_version == CARB_BACKEND_ABI_VERSION ? &vtable : NULL;
}
