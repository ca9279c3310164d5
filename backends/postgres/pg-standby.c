/* carburetor-postgres — downloads served by a streaming hot standby.
 *
 * A standby cannot compute a sync point: the stamping locks of the
 * primary's writers, which hold W back (pg-clock.c), live only in the
 * primary's memory. So a store opened on a standby is given the primary
 * too, as the URI parameter carb_primary (a percent-encoded URI), and a
 * sync runs in two steps:
 *
 *   1. on the primary, in one round trip: the clock source's two
 *      statements exactly as on a primary (C, the trigger's verdict, then
 *      k from pg_locks, so W = least (C, k) - 1 µs), then a third one that
 *      reads the primary's WAL insert position L;
 *   2. on the standby, in one round trip: BEGIN, a wait until the
 *      standby's replay has passed L (bounded by carb_standby_timeout),
 *      DECLARE of the incremental query up to W, and the first FETCH.
 *
 * Why it misses nothing: a transaction with a row stamped ≤ W had released
 * its stamping lock before statement 2 read pg_locks (pg-clock.c); it
 * releases its locks only after its commit record is in the WAL. L is
 * read after statement 2, so that commit record ends at or before L. The
 * standby marks a transaction committed when it replays its commit record,
 * before its replay position moves past it; so once the replay position
 * is ≥ L, the cursor's snapshot, taken afterwards, sees every row ≤ W the
 * primary's would have. The argument in full is in docs/SYNC.md.
 *
 * L is the insert position, not the flush position: a transaction that
 * commits with synchronous_commit = off is visible, and has released its
 * locks, before its commit record is flushed, so only the insert position
 * is sure to be past it. A standby receives only flushed WAL, and WAL that
 * an open transaction inserted into a page no commit has flushed yet can
 * wait there for seconds; so when the primary's flush position is behind
 * L, the third statement also writes a tiny non-transactional WAL message,
 * which the WAL writer flushes at once, and everything before it with it.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

#include <string.h>

/* How long a sync waits for the standby's replay, unless the URI says. */
#define DEFAULT_TIMEOUT_MS 5000
#define MAX_TIMEOUT_MS     3600000

struct _CarbPgStandby
{
  CarbBackend *primary; /* where the clock source runs */
  guint timeout_ms;     /* carb_standby_timeout */
  guint64 target;       /* L of the sync in progress */
};

/* L, after the clock source's statements (see the top of this file). A
 * replay position is the end of the last record replayed; when the insert
 * position sits right after a page header, the last record ended at the
 * page's start, which is where the standby's replay stops: waiting for
 * the header's end would wait for the next record. Within the first 40
 * bytes of a page (the longest page header) no record that starts on the
 * page can also end, so all that lies there before L is the header and
 * maybe the tail of a record begun on an earlier page; the first replay
 * position at or past the page's start is that record's end (or the
 * page's start itself), so the page's start is what to wait for. Safety
 * does not depend on the order inside this statement (L is read after
 * statement 2 either way); the subquery is read before the outer CASE,
 * which needs its value, so the message is written after L is read, and
 * flushing it flushes L (liveness). */
const char carb_pg_standby_lsn_sql[]
    = "SELECT CASE WHEN l % b <= 40 THEN l - l % b ELSE l END::int8,"
      " CASE WHEN pg_current_wal_flush_lsn () - '0/0' < l"
      "  THEN pg_logical_emit_message (false, 'carburetor', '') END IS NOT NULL"
      " FROM (SELECT pg_current_wal_insert_lsn () - '0/0' AS l,"
      "  current_setting ('wal_block_size')::numeric AS b OFFSET 0) s";

/* The URI parameters this file reads; libpq would refuse them. */
static const char primary_key[] = "carb_primary";
static const char timeout_key[] = "carb_standby_timeout";

/* Where the query of @uri starts ('?'), or NULL: after the userinfo, as
 * libpq reads it (pg-mask.c). */
static const char *
query_start (const char *uri)
{
  const char *authority = strstr (uri, "://");
  const char *p = uri;
  if (authority != NULL)
    {
      const char *end = authority + 3 + strcspn (authority + 3, "@/");
      if (*end == '@')
        p = end;
    }
  return strchr (p, '?');
}

static gboolean
parse_timeout (const char *text, guint *timeout_ms, GError **error)
{
  guint64 ms = 0;
  if (!g_ascii_string_to_unsigned (text, 10, 0, MAX_TIMEOUT_MS, &ms, NULL))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_URI,
                   "PostgreSQL URI: %s=%s is not a number of milliseconds from 0 to %d", timeout_key, text,
                   MAX_TIMEOUT_MS);
      return FALSE;
    }
  *timeout_ms = (guint) ms;
  return TRUE;
}

/* Takes carb_primary and carb_standby_timeout out of @uri. @rest gets the
 * URI for libpq, @primary the decoded primary URI (NULL if absent). */
static gboolean
split_uri (const char *uri, char **rest, char **primary, guint *timeout_ms, GError **error)
{
  const char *query = query_start (uri);
  g_autofree char *timeout = NULL;

  *rest = NULL;
  *primary = NULL;
  *timeout_ms = DEFAULT_TIMEOUT_MS;
  if (query == NULL)
    {
      *rest = g_strdup (uri);
      return TRUE;
    }
  g_auto (GStrv) params = g_strsplit (query + 1, "&", -1);
  GString *kept = g_string_new_len (uri, query - uri);
  guint n_kept = 0;
  for (guint i = 0; params[i] != NULL; i++)
    {
      const char *eq = strchr (params[i], '=');
      g_autofree char *key = g_uri_unescape_segment (params[i], eq, NULL);
      char **slot = NULL;
      if (key != NULL && strcmp (key, primary_key) == 0)
        slot = primary;
      else if (key != NULL && strcmp (key, timeout_key) == 0)
        slot = &timeout;
      if (slot == NULL)
        {
          g_string_append (kept, n_kept++ == 0 ? "?" : "&");
          g_string_append (kept, params[i]);
          continue;
        }
      g_free (*slot);
      *slot = eq != NULL ? g_uri_unescape_string (eq + 1, NULL) : NULL;
      if (*slot == NULL || (*slot)[0] == '\0')
        {
          g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_URI,
                       "PostgreSQL URI: the parameter %s needs a value (%s)", key,
                       slot == primary ? "the primary's URI, percent-encoded" : "milliseconds");
          g_clear_pointer (primary, g_free);
          g_string_free (kept, TRUE);
          return FALSE;
        }
    }
  if (timeout != NULL && !parse_timeout (timeout, timeout_ms, error))
    {
      g_clear_pointer (primary, g_free);
      g_string_free (kept, TRUE);
      return FALSE;
    }
  if (timeout != NULL && *primary == NULL)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_URI,
                   "PostgreSQL URI: %s is set without %s; it only applies to a store on a standby that "
                   "names its primary",
                   timeout_key, primary_key);
      g_string_free (kept, TRUE);
      return FALSE;
    }
  *rest = g_string_free (kept, FALSE);
  return TRUE;
}

/* One row of the same-cluster check, as text. */
static char *
cluster_of (CarbBackend *backend, GError **error)
{
  PGresult *res = carb_pg_exec (backend,
                                "SELECT system_identifier::text || ' ' || current_database ()"
                                " FROM pg_control_system ()",
                                0, NULL, NULL, NULL, NULL, 0, error);
  if (res == NULL)
    return NULL;
  char *cluster = PQntuples (res) == 1 ? g_strdup (PQgetvalue (res, 0, 0)) : g_strdup ("");
  PQclear (res);
  return cluster;
}

/* WAL positions compare only within one cluster (same system identifier,
 * from the same initdb), and the table the primary checks must be the one
 * the standby reads (same database). */
static gboolean
same_cluster (CarbBackend *standby, CarbBackend *primary, GError **error)
{
  g_autofree char *a = cluster_of (standby, error);
  g_autofree char *b = a != NULL ? cluster_of (primary, error) : NULL;
  if (b == NULL)
    return FALSE;
  if (strcmp (a, b) == 0)
    return TRUE;
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_URI,
               "PostgreSQL “%s”: its %s “%s” is not the same cluster and database (system identifier and "
               "database “%s” here, “%s” there): carb_primary must name the primary this standby replicates, "
               "and the same database",
               standby->display, primary_key, primary->display, a, b);
  return FALSE;
}

/**
 * carb_pg_open:
 * @uri: the store's URI, perhaps with carb_primary and carb_standby_timeout
 * @error: set when the URI is malformed or a server cannot be reached
 *
 * The plugin's open(): connects to @uri's server and, when @uri names a
 * primary, to the primary as well.
 *
 * Returns: (transfer full): the backend, or %NULL
 */
CarbBackend *
carb_pg_open (const char *uri, GError **error)
{
  g_autofree char *rest = NULL, *primary_uri = NULL;
  guint timeout_ms = 0;

  if (!split_uri (uri, &rest, &primary_uri, &timeout_ms, error))
    return NULL;
  CarbBackend *backend = carb_pg_connect (rest, error);
  if (backend == NULL || primary_uri == NULL)
    return backend;
  CarbBackend *primary = carb_pg_connect (primary_uri, error);
  if (primary == NULL)
    {
      g_prefix_error (error, "PostgreSQL “%s”, its %s: ", backend->display, primary_key);
      carb_pg_close (backend);
      return NULL;
    }
  backend->standby = g_new0 (CarbPgStandby, 1);
  backend->standby->primary = primary;
  backend->standby->timeout_ms = timeout_ms;
  if (!same_cluster (backend, primary, error))
    {
      carb_pg_close (backend);
      return NULL;
    }
  return backend;
}

void
carb_pg_standby_free (CarbPgStandby *standby)
{
  if (standby == NULL)
    return;
  carb_pg_close (standby->primary);
  g_free (standby);
}

/**
 * carb_pg_standby_clock:
 * @backend: a backend on a standby (its #CarbBackend.standby set)
 * @query: the model's query
 * @w: (out): the sync point, as carb_pg_clock() computes it on the primary
 * @error: set as carb_pg_clock() sets it, naming the primary
 *
 * Step 1 (see the top of this file): W and L from the primary, in one
 * round trip. L is kept for carb_pg_standby_wait_sql().
 */
gboolean
carb_pg_standby_clock (CarbBackend *backend, const CarbQuery *query, gint64 *w, GError **error)
{
  CarbPgStandby *standby = backend->standby;

  standby->target = 0;
  return carb_pg_ensure_connected (standby->primary, error) && carb_pg_ensure_idle (standby->primary, error)
         && carb_pg_clock_at (standby->primary, query, w, &standby->target, error);
}

/**
 * carb_pg_standby_wait_sql:
 * @backend: a backend
 *
 * Step 2's wait (see the top of this file), to run inside the sync's
 * transaction before DECLARE: a PL/pgSQL loop that polls the replay
 * position every millisecond until it has passed L, and otherwise raises
 * CARB_PG_SQLSTATE_CLOCK_UNSAFE with what to do. It also refuses a server
 * that is no longer in recovery (promoted): its own writes would then be
 * stamped without the primary's clock source seeing their locks.
 *
 * Returns: (transfer full) (nullable): the statement, %NULL when @backend
 *   is not on a standby
 */
char *
carb_pg_standby_wait_sql (CarbBackend *backend)
{
  if (backend->standby == NULL)
    return NULL;
  guint64 l = backend->standby->target;
  /* Only numbers go into the text: a DO block takes no parameters. */
  return g_strdup_printf (
      "DO $carb$ DECLARE"
      " target pg_lsn := '%X/%X';"
      " deadline timestamptz := clock_timestamp () + interval '%u milliseconds';"
      " replayed pg_lsn;"
      " BEGIN"
      " IF NOT pg_is_in_recovery () THEN"
      "  RAISE EXCEPTION USING ERRCODE = '" CARB_PG_SQLSTATE_CLOCK_UNSAFE "', MESSAGE ="
      "  'the server is not a standby (any more: promoted?), so the primary named by carb_primary no "
      "longer sees its writers; remove carb_primary from its URI and sync from it as a primary';"
      " END IF;"
      " LOOP"
      "  replayed := pg_last_wal_replay_lsn ();"
      "  EXIT WHEN replayed >= target;"
      "  IF clock_timestamp () >= deadline THEN"
      "   RAISE EXCEPTION USING ERRCODE = '" CARB_PG_SQLSTATE_CLOCK_UNSAFE "', MESSAGE = format ("
      "   'the standby''s replay did not reach the primary''s WAL position %%s within %u ms "
      "(carb_standby_timeout):"
      " it is at %%s, %%s bytes behind%%s. Rows committed on the primary before this sync may not be"
      " visible here yet, so no sync point was handed out; retry, or check the replication"
      " (pg_stat_replication on the primary) or raise carb_standby_timeout',"
      "   target, coalesce (replayed::text, 'no position'), coalesce (pg_wal_lsn_diff (target, "
      "replayed)::text, 'unknown'),"
      "   CASE WHEN pg_is_wal_replay_paused () THEN ' and its replay is paused (pg_wal_replay_resume ())'"
      "   ELSE '' END);"
      "  END IF;"
      "  PERFORM pg_sleep (0.001);"
      " END LOOP;"
      " END $carb$",
      (guint) (l >> 32), (guint) l, backend->standby->timeout_ms, backend->standby->timeout_ms);
}
