/* carburetor-postgres — the incremental query, read in binary.
 *
 * The query runs as a server-side cursor fetched CARB_PG_FETCH_ROWS at a
 * time, in binary: memory stays bounded for a sync of millions of rows,
 * there is no text parsing, and there is no per-row result object as in
 * libpq's single-row mode. The cursor's READ COMMITTED snapshot is taken at
 * DECLARE, after the clock source has read the sync point (pg-clock.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

#include <string.h>

/* Type OIDs from PostgreSQL's pg_type.dat; they are fixed for built-in types. */
enum
{
  BOOLOID = 16,
  BYTEAOID = 17,
  NAMEOID = 19,
  INT8OID = 20,
  INT2OID = 21,
  INT4OID = 23,
  TEXTOID = 25,
  JSONOID = 114,
  FLOAT4OID = 700,
  FLOAT8OID = 701,
  BPCHAROID = 1042,
  VARCHAROID = 1043,
  DATEOID = 1082,
  TIMESTAMPTZOID = 1184,
  UUIDOID = 2950,
  JSONBOID = 3802,
};

static guint16
be16 (const char *p)
{
  guint16 v;
  memcpy (&v, p, sizeof v);
  return GUINT16_FROM_BE (v);
}

static guint32
be32 (const char *p)
{
  guint32 v;
  memcpy (&v, p, sizeof v);
  return GUINT32_FROM_BE (v);
}

static guint64
be64 (const char *p)
{
  guint64 v;
  memcpy (&v, p, sizeof v);
  return GUINT64_FROM_BE (v);
}

static void
sink_uuid (CarbSink *sink, guint col, const guint8 *b)
{
  char text[37];
  g_snprintf (text, sizeof text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
              b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  carb_sink_set_text (sink, col, text, 36);
}

/* One binary value to the sink, by the type the server says it has. */
static void
sink_value (CarbSink *sink, guint col, Oid oid, const char *v, int len)
{
  gsize n = (gsize) len;

  switch (oid)
    {
    case BOOLOID:
      carb_sink_set_int (sink, col, len == 1 && v[0] != 0);
      return;
    case INT2OID:
      carb_sink_set_int (sink, col, (gint16) be16 (v));
      return;
    case INT4OID:
      carb_sink_set_int (sink, col, (gint32) be32 (v));
      return;
    case INT8OID:
      carb_sink_set_int (sink, col, (gint64) be64 (v));
      return;
    case FLOAT4OID:
      {
        guint32 bits = be32 (v);
        gfloat f;
        memcpy (&f, &bits, sizeof f);
        carb_sink_set_double (sink, col, f);
        return;
      }
    case FLOAT8OID:
      {
        guint64 bits = be64 (v);
        gdouble d;
        memcpy (&d, &bits, sizeof d);
        carb_sink_set_double (sink, col, d);
        return;
      }
    case TEXTOID:
    case VARCHAROID:
    case BPCHAROID:
    case NAMEOID:
    case JSONOID:
      carb_sink_set_text (sink, col, v, n);
      return;
    case JSONBOID: /* a version byte (1), then the JSON text */
      if (len >= 1 && v[0] == 1)
        carb_sink_set_text (sink, col, v + 1, n - 1);
      else
        carb_sink_fail (sink, col, "unknown jsonb binary version");
      return;
    case UUIDOID:
      sink_uuid (sink, col, (const guint8 *) v);
      return;
    case BYTEAOID:
      carb_sink_set_bytes (sink, col, (const guint8 *) v, n);
      return;
    case TIMESTAMPTZOID:
      {
        gint64 us = 0;
        if (carb_pg_from_pg_time ((gint64) be64 (v), &us))
          carb_sink_set_int (sink, col, us);
        else
          carb_sink_fail (sink, col,
                          "the timestamp is beyond what a gint64 of microseconds since 1970 holds");
        return;
      }
    case DATEOID:
      {
        gint32 days = (gint32) be32 (v);
        /* ±infinity dates are G_MININT32/G_MAXINT32: keep them, shifted
         * values would overflow. */
        carb_sink_set_int (
            sink, col,
            days == G_MININT32 || days == G_MAXINT32 ? days : (gint64) days + CARB_PG_EPOCH_OFFSET_DAYS);
        return;
      }
    default:
      carb_sink_fail (sink, col, "PostgreSQL sent a value of type OID %u, which Carburetor cannot decode",
                      oid);
    }
}

/* Feeds one batch of rows to the sink; FALSE when the sink stops. */
static gboolean
sink_batch (PGresult *res, const CarbModel *model, CarbSink *sink, GError **error)
{
  int n_rows = PQntuples (res);
  guint n_cols = model->n_columns;

  if ((guint) PQnfields (res) != n_cols)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY, "Table “%s”: the query returned %d columns, not %u",
                   model->table, PQnfields (res), n_cols);
      return FALSE;
    }
  g_autofree Oid *oids = g_new (Oid, n_cols); /* once per batch, not per row */
  for (guint c = 0; c < n_cols; c++)
    oids[c] = PQftype (res, (int) c);
  for (int r = 0; r < n_rows; r++)
    {
      for (guint c = 0; c < n_cols; c++)
        {
          if (PQgetisnull (res, r, (int) c))
            carb_sink_set_null (sink, c);
          else
            sink_value (sink, c, oids[c], PQgetvalue (res, r, (int) c), PQgetlength (res, r, (int) c));
        }
      if (!carb_sink_end_row (sink, error))
        return FALSE;
    }
  return TRUE;
}

static const char fetch_sql[] = "FETCH " G_STRINGIFY (CARB_PG_FETCH_ROWS) " FROM carb_sync";

/* BEGIN, DECLARE and the first FETCH in one round trip (pg-pipeline.c),
 * so a sync of few rows costs no more trips than it must; the cursor's
 * snapshot is taken when DECLARE runs, after the clock source's reads.
 * @first gets the first batch of rows. */
static gboolean
begin_and_fetch (CarbBackend *backend, const CarbQuery *query, gint64 w, PGresult **first, GError **error)
{
  g_autofree char *select = carb_query_build_sql (query, &carb_pg_syntax, error);
  if (select == NULL)
    return FALSE;
  g_autofree char *sql = g_strconcat ("DECLARE carb_sync NO SCROLL CURSOR FOR ", select, NULL);

  gint64 lower = GINT64_TO_BE (carb_pg_to_pg_time (query->lower));
  gint64 upper = GINT64_TO_BE (carb_pg_to_pg_time (w));
  g_autofree char *after = NULL;
  if (query->has_after_id)
    after = query->after_id_text != NULL ? g_strdup (query->after_id_text)
                                         : g_strdup_printf ("%" G_GINT64_FORMAT, query->after_id_int);
  /* The cursor id goes as text of unspecified type, so the server reads it
   * as whatever the id column is (bigint, integer, text, uuid). */
  const Oid types[] = { TIMESTAMPTZOID, TIMESTAMPTZOID, 0 };
  const char *values[] = { (const char *) &lower, (const char *) &upper, after };
  const int lengths[] = { 8, 8, 0 };
  const int formats[] = { 1, 1, 0 };
  /* On a standby, the wait for its replay to pass the primary's WAL
   * position goes before DECLARE (pg-standby.c). */
  g_autofree char *wait = carb_pg_standby_wait_sql (backend);
  CarbPgStatement stmts[4] = { { .sql = "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY" } };
  guint n = 1;
  if (wait != NULL)
    stmts[n++] = (CarbPgStatement){ .sql = wait };
  stmts[n++] = (CarbPgStatement){
    .sql = sql,
    .n_params = query->has_after_id ? 3 : 2,
    .types = types,
    .values = values,
    .lengths = lengths,
    .formats = formats,
  };
  stmts[n++] = (CarbPgStatement){ .sql = fetch_sql, .result_format = 1 };
  PGresult *res[G_N_ELEMENTS (stmts)];

  if (!carb_pg_pipeline (backend, stmts, n, res, error))
    return FALSE;
  for (guint i = 0; i + 1 < n; i++)
    PQclear (res[i]);
  *first = res[n - 1];
  return TRUE;
}

static gboolean
send_fetch (CarbBackend *backend, GError **error)
{
  if (PQsendQueryParams (backend->conn, fetch_sql, 0, NULL, NULL, NULL, NULL, 1))
    return TRUE;
  return carb_pg_fail (backend, error, "cannot send FETCH");
}

/* Feeds @first (taken) and every later batch to the sink. Pipelined: the
 * next FETCH goes out before this batch is decoded, so the server reads
 * and sends rows while we decode (one FETCH at a time would leave each
 * side idle while the other works). A batch is freed only after the next
 * has arrived: freeing it first would hand its megabyte back to the top of
 * the heap, which glibc then returns to the kernel (brk) and takes back
 * page by page for the next batch, on every batch. */
static gboolean
fetch_all (CarbBackend *backend, const CarbQuery *query, PGresult *first, CarbSink *sink, GError **error)
{
  PGresult *prev = NULL, *res = first;
  gboolean ok = TRUE, in_flight = FALSE;

  while (ok && res != NULL)
    {
      g_clear_pointer (&prev, PQclear);
      prev = res;
      res = NULL;
      if (PQntuples (prev) == CARB_PG_FETCH_ROWS)
        {
          ok = !g_cancellable_set_error_if_cancelled (query->cancellable, error);
          ok = ok && (in_flight = send_fetch (backend, error));
        }
      ok = ok && sink_batch (prev, query->model, sink, error);
      if (ok && in_flight)
        {
          in_flight = FALSE;
          res = carb_pg_get_result (backend, error);
          ok = res != NULL;
        }
    }
  if (in_flight) /* stopped early: collect the FETCH already sent */
    PQclear (carb_pg_get_result (backend, NULL));
  PQclear (prev);
  return ok;
}

gboolean
carb_pg_download (
    CarbBackend *backend, const CarbQuery *query, CarbSink *sink, gint64 *synced_until, GError **error)
{
  gint64 w = 0;

  if (!carb_pg_ensure_connected (backend, error) || !carb_pg_ensure_idle (backend, error)
      || !(backend->standby != NULL ? carb_pg_standby_clock (backend, query, &w, error)
                                    : carb_pg_clock (backend, query, &w, error)))
    return FALSE;
  PGresult *first = NULL;
  gboolean ok
      = begin_and_fetch (backend, query, w, &first, error) && fetch_all (backend, query, first, sink, error);
  /* COMMIT closes the cursor; after a failure ROLLBACK does (and ends a
   * transaction whose DECLARE failed), and a broken connection is left for
   * the next call to re-establish. */
  if (ok)
    ok = carb_pg_exec_command (backend, "COMMIT", error);
  else
    carb_pg_exec_command (backend, "ROLLBACK", NULL);
  if (ok)
    *synced_until = w;
  return ok;
}
