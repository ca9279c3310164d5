/* carburetor-postgres — a few statements in one network round trip.
 *
 * A sync is a handful of small statements that must run in a set order but
 * do not need each other's answers on the client (BEGIN, the clock
 * source's reads, the data query, COMMIT). Sent one by one, each costs a
 * round trip; in libpq's pipeline mode they go out together, the server
 * runs them one after another in the order sent, and the answers come back
 * together.
 *
 * Each statement is followed by its own sync point. Outside a transaction
 * block each is then its own implicit transaction, exactly as when sent
 * alone, and an error in one does not turn the rest into "aborted" results.
 *
 * Named statements, and poolers. A statement that runs on every sync (the
 * idle probe, the clock source's reads) is worth preparing: planning the
 * trigger check costs several times its execution. It is prepared on first
 * use, in the same sync unit as its first execution (Parse, Bind, Execute,
 * Sync), so the two cannot be split across server connections by a pooler
 * in transaction mode (pgbouncer hands a client a server connection per
 * transaction, and each server connection has its own prepared
 * statements). Each name is derived from its SQL text, so a server
 * connection that already has it (from another client, through such a
 * pooler) has the same statement. A statement missing where the pipeline
 * ran (26000: DISCARD ALL, or another server connection of the pool) is
 * prepared again; one already there (42P05) is used; the whole pipeline is
 * then sent again, which is safe because a failed pipeline changed nothing
 * (its transaction, if any, was rolled back by its own COMMIT). After
 * CARB_PG_PIPELINE_TRIES tries the statements go unnamed, which works
 * anywhere at the price of planning.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

#include <string.h>

#define CARB_PG_PIPELINE_TRIES 4

/* Whether @s is sent as a named statement this time, and whether its
 * Parse goes with it. */
typedef enum
{
  SEND_UNNAMED,
  SEND_NAMED,
  SEND_PARSE_AND_NAMED,
} SendHow;

static SendHow
send_how (CarbBackend *backend, const CarbPgStatement *s, gboolean unnamed)
{
  if (s->prepared == NULL || unnamed)
    return SEND_UNNAMED;
  return g_hash_table_contains (backend->prepared, s->prepared) ? SEND_NAMED : SEND_PARSE_AND_NAMED;
}

static gboolean
send_one (PGconn *conn, const CarbPgStatement *s, SendHow how)
{
  if (how == SEND_PARSE_AND_NAMED && !PQsendPrepare (conn, s->prepared, s->sql, s->n_params, s->types))
    return FALSE;
  int sent = how != SEND_UNNAMED ? PQsendQueryPrepared (conn, s->prepared, s->n_params, s->values, s->lengths,
                                                        s->formats, s->result_format)
                                 : PQsendQueryParams (conn, s->sql, s->n_params, s->types, s->values,
                                                      s->lengths, s->formats, s->result_format);
  return sent && PQpipelineSync (conn);
}

/* One command's first result; the rest, up to the NULL that ends it, are
 * dropped. */
static PGresult *
collect_command (PGconn *conn)
{
  PGresult *res = PQgetResult (conn);
  for (PGresult *extra; res != NULL && (extra = PQgetResult (conn)) != NULL;)
    PQclear (extra);
  return res;
}

/* One statement's result (its Parse's, if that failed), then its sync
 * point (PGRES_PIPELINE_SYNC), which is consumed. NULL if nothing came.
 * *@parsed: a Parse was sent and succeeded (the statement now exists on
 * that server connection, even if its execution failed). */
static PGresult *
collect_one (PGconn *conn, SendHow how, gboolean *parsed)
{
  PGresult *parse = how == SEND_PARSE_AND_NAMED ? collect_command (conn) : NULL;
  PGresult *res = collect_command (conn);
  PQclear (PQgetResult (conn));
  *parsed = parse != NULL && PQresultStatus (parse) == PGRES_COMMAND_OK;
  if (parse != NULL && !*parsed)
    {
      PQclear (res);
      return parse;
    }
  PQclear (parse);
  return res;
}

/* One try; *failed gets the index of the statement that failed. */
static gboolean
run_once (CarbBackend *backend,
          const CarbPgStatement *statements,
          guint n,
          gboolean unnamed,
          PGresult **results,
          guint *failed,
          GError **error)
{
  PGconn *conn = backend->conn;
  SendHow how[8];
  guint sent = 0;
  gboolean ok = TRUE;

  *failed = n;
  backend->sqlstate[0] = '\0';
  if (!PQenterPipelineMode (conn))
    return carb_pg_fail (backend, error, "cannot enter pipeline mode");
  for (; sent < n; sent++)
    {
      how[sent] = send_how (backend, &statements[sent], unnamed);
      if (!send_one (conn, &statements[sent], how[sent]))
        break;
    }
  if (sent < n)
    ok = carb_pg_fail (backend, error, "cannot send a statement");

  for (guint i = 0; i < sent; i++)
    {
      gboolean parsed = FALSE;
      PGresult *res = collect_one (conn, how[i], &parsed);
      if (parsed)
        g_hash_table_add (backend->prepared, g_strdup (statements[i].prepared));
      if (!ok)
        {
          PQclear (res);
          continue;
        }
      results[i] = carb_pg_check (backend, res, error);
      ok = results[i] != NULL;
      if (!ok)
        *failed = i;
    }
  if (!PQexitPipelineMode (conn) && ok)
    ok = carb_pg_fail (backend, error, "cannot leave pipeline mode");
  if (!ok)
    for (guint i = 0; i < n; i++)
      g_clear_pointer (&results[i], PQclear);
  return ok;
}

/* After a failed try: whether a named statement was missing (26000) or
 * already there (42P05), so that another try can succeed. The connection
 * must be outside any transaction, as before the first try. */
static gboolean
worth_retrying (CarbBackend *backend, const CarbPgStatement *statements, guint n, guint failed)
{
  if (failed >= n || statements[failed].prepared == NULL
      || PQtransactionStatus (backend->conn) != PQTRANS_IDLE)
    return FALSE;
  if (strcmp (backend->sqlstate, "26000") == 0)
    g_hash_table_remove (backend->prepared, statements[failed].prepared);
  else if (strcmp (backend->sqlstate, "42P05") == 0)
    g_hash_table_add (backend->prepared, g_strdup (statements[failed].prepared));
  else
    return FALSE;
  return TRUE;
}

/**
 * carb_pg_pipeline:
 * @backend: a connected backend, idle
 * @statements: (array length=n): what to run, in order
 * @n: how many; at most 8
 * @results: (out caller-allocates) (array length=n): each statement's result
 * @error: set to the first failure
 *
 * Runs @statements in one round trip (more only when a named statement
 * has to be prepared again, see above). On success, @results hold one
 * successful result each, for the caller to PQclear(). On failure, every
 * statement sent has still been collected, @results are all %NULL, and the
 * connection is out of pipeline mode (or broken, for the next
 * carb_pg_ensure_connected() to reset).
 */
gboolean
carb_pg_pipeline (
    CarbBackend *backend, const CarbPgStatement *statements, guint n, PGresult **results, GError **error)
{
  g_return_val_if_fail (n <= 8, FALSE);
  for (guint i = 0; i < n; i++)
    results[i] = NULL;
  for (guint try = 1;; try++)
    {
      g_autoptr (GError) local = NULL;
      guint failed = n;
      if (run_once (backend, statements, n, try == CARB_PG_PIPELINE_TRIES, results, &failed, &local))
        return TRUE;
      if (try == CARB_PG_PIPELINE_TRIES || !worth_retrying (backend, statements, n, failed))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
    }
}

/**
 * carb_pg_statement_name:
 * @prefix: what the statement is for
 * @sql: its text
 *
 * Returns: (transfer full): a statement name that only this text gets
 */
char *
carb_pg_statement_name (const char *prefix, const char *sql)
{
  g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, sql, -1);
  return g_strdup_printf ("%s_%.24s", prefix, digest);
}
