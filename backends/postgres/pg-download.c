/* carburetor-postgres — a sync: the idle probe, the clock source and the
 * incremental query, read in binary.
 *
 * Round trips, the cost that dominates small syncs:
 *   - from a complete point, the idle probe first (pg-probe.c): when
 *     nothing is newer, that one round trip is the whole sync;
 *   - then one pipeline: BEGIN, the clock source's two statements
 *     (pg-clock.c), the first page of rows (at most CARB_PG_FETCH_ROWS,
 *     ordered by (ts, id), bounded by W from the setting statement 2
 *     left), COMMIT. A sync of up to one batch is done;
 *   - a full first page is followed by the rest, from after the page's
 *     last (ts, id) up to the same W: on a primary one binary COPY, one
 *     round trip (below, "the rest by COPY"); on a standby a server-side
 *     cursor read CARB_PG_FETCH_ROWS at a time. Memory stays bounded for
 *     a sync of millions of rows either way. Its snapshot is later than the first page's, which is safe: every
 *     row stamped at or below W had committed before the first page was
 *     read, so every later snapshot sees it too, and a row updated since
 *     is stamped above W, for the next sync.
 * Every multi-statement unit is one transaction (BEGIN … COMMIT) and no
 * state outlives it: the same through a pooler in transaction mode.
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

/* Feeds one batch of rows to the sink; FALSE when the sink stops. Also
 * query_rows' decoding (pg-query.c). */
gboolean
carb_pg_sink_batch (PGresult *res, const CarbModel *model, CarbSink *sink, GError **error)
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

/* The cursor id goes as text of unspecified type, so the server reads it
 * as whatever the id column is (bigint, integer, text, uuid). */
static char *
after_id (const CarbQuery *query)
{
  if (!query->has_after_id)
    return NULL;
  return query->after_id_text != NULL ? g_strdup (query->after_id_text)
                                      : g_strdup_printf ("%" G_GINT64_FORMAT, query->after_id_int);
}

/* BEGIN, DECLARE and the first FETCH of the rest in one round trip
 * (pg-pipeline.c), W known. @first gets the first batch of rows. */
static gboolean
begin_and_fetch (CarbBackend *backend, const CarbQuery *query, gint64 w, PGresult **first, GError **error)
{
  g_autofree char *select = carb_query_build_sql (query, &carb_pg_syntax, error);
  if (select == NULL)
    return FALSE;
  g_autofree char *sql = g_strconcat ("DECLARE carb_sync NO SCROLL CURSOR FOR ", select, NULL);

  gint64 lower = GINT64_TO_BE (carb_pg_to_pg_time (query->lower));
  gint64 upper = GINT64_TO_BE (carb_pg_to_pg_time (w));
  g_autofree char *after = after_id (query);
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
      ok = ok && carb_pg_sink_batch (prev, query->model, sink, error);
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

/* The first page's SQL: the incremental query with at most @limit rows
 * in (ts, id) order, its upper bound W read from the setting the clock
 * source's statement 2 left (carb_query_build_sql() writes it as
 * "<ts> <= $2", last in the WHERE clause; $2 is still sent, unused). */
static char *
first_page_sql (CarbBackend *backend, const CarbQuery *query, guint limit, GError **error)
{
  CarbQuery page = *query;
  page.limit = limit;
  g_autofree char *select = carb_query_build_sql (&page, &carb_pg_syntax, error);
  g_autofree char *ts
      = select != NULL ? carb_pg_quote (backend, query->model->columns[query->ts_column].name, error) : NULL;
  if (ts == NULL)
    return NULL;
  g_autofree char *bound = g_strconcat (" AND ", ts, " <= $2", NULL);
  char *at = g_strrstr (select, bound);
  if (at == NULL)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY,
                   "Table “%s”: the incremental query has no upper bound", query->model->table);
      return NULL;
    }
  *at = '\0';
  return g_strconcat (select, " AND ", ts, " <= ", carb_pg_w_expression, at + strlen (bound), NULL);
}

/* The text of a binary id value, for the cursor of the rest. */
static char *
id_text (PGresult *res, int row, int col, GError **error)
{
  const char *v = PQgetvalue (res, row, col);
  switch (PQftype (res, col))
    {
    case INT2OID:
      return g_strdup_printf ("%d", (gint16) be16 (v));
    case INT4OID:
      return g_strdup_printf ("%d", (gint32) be32 (v));
    case INT8OID:
      return g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) be64 (v));
    case TEXTOID:
    case VARCHAROID:
    case BPCHAROID:
    case NAMEOID:
      return g_strndup (v, (gsize) PQgetlength (res, row, col));
    case UUIDOID:
      {
        const guint8 *b = (const guint8 *) v;
        return g_strdup_printf ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                                b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                                b[13], b[14], b[15]);
      }
    default:
      g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY, "an id of type OID %u cannot resume a sync",
                   PQftype (res, col));
      return NULL;
    }
}

/* Where the rest starts: after the page's last (ts, id). */
static gboolean
rest_query (const CarbQuery *query, PGresult *page, CarbQuery *rest, char **id, GError **error)
{
  int last = PQntuples (page) - 1;
  *rest = *query;
  if (!carb_pg_from_pg_time ((gint64) be64 (PQgetvalue (page, last, (int) query->ts_column)), &rest->lower))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY, "Table “%s”: a stamp beyond microseconds since 1970",
                   query->model->table);
      return FALSE;
    }
  *id = id_text (page, last, (int) query->id_column, error);
  rest->has_after_id = TRUE;
  rest->after_id_text = *id;
  rest->limit = query->limit > 0 ? query->limit - (guint) PQntuples (page) : 0;
  return *id != NULL;
}

/* On a standby (pg-standby.c): W and the WAL position from the primary,
 * then on the standby, in one transaction, the wait until replay passes
 * that position, carburetor.w set to W (the page reads it), the page. */
static gboolean
standby_first_page (CarbBackend *backend,
                    const CarbQuery *query,
                    const char *sql,
                    CarbPgStatement page_stmt,
                    gint64 *w,
                    PGresult **page,
                    GError **error)
{
  if (!carb_pg_standby_clock (backend, query, w, error))
    return FALSE;
  g_autofree char *wait = carb_pg_standby_wait_sql (backend);
  g_autofree char *w_text = g_strdup_printf ("%" G_GINT64_FORMAT, *w);
  const char *w_values[] = { w_text };
  (void) sql;
  CarbPgStatement stmts[5] = {
    { .sql = "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY" },
    { .sql = wait },
    { .sql = "SELECT set_config ('carburetor.w', $1, true)", .n_params = 1, .values = w_values },
    page_stmt,
    { .sql = "COMMIT" },
  };
  PGresult *res[G_N_ELEMENTS (stmts)];
  if (!carb_pg_pipeline (backend, stmts, G_N_ELEMENTS (stmts), res, error))
    {
      carb_pg_explain_failure (backend, &query, 1, error);
      return FALSE;
    }
  *page = g_steal_pointer (&res[3]);
  for (guint i = 0; i < G_N_ELEMENTS (stmts); i++)
    PQclear (res[i]);
  return TRUE;
}

/* One round trip: BEGIN, the clock source's statements, the first page,
 * COMMIT. W and the page (for the caller to PQclear) come back. */
static gboolean
first_page (
    CarbBackend *backend, const CarbQuery *query, guint limit, gint64 *w, PGresult **page, GError **error)
{
  g_auto (CarbPgStamp) stamp = { 0 };
  if (!carb_pg_stamp_init (backend, query, &stamp, error))
    return FALSE;
  g_autofree char *sql = first_page_sql (backend, query, limit, error);
  if (sql == NULL)
    return FALSE;

  gint64 lower = GINT64_TO_BE (carb_pg_to_pg_time (query->lower));
  g_autofree char *after = after_id (query);
  const Oid types[] = { TIMESTAMPTZOID, TIMESTAMPTZOID, 0 };
  const char *values[] = { (const char *) &lower, (const char *) &lower, after };
  const int lengths[] = { 8, 8, 0 };
  const int formats[] = { 1, 1, 0 };
  CarbPgStatement stmts[5] = {
    { .sql = "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY" },
    { 0 },
    { 0 },
    {
        .sql = sql,
        .n_params = query->has_after_id ? 3 : 2,
        .types = types,
        .values = values,
        .lengths = lengths,
        .formats = formats,
        .result_format = 1,
    },
    { .sql = "COMMIT" },
  };
  if (backend->standby != NULL)
    return standby_first_page (backend, query, sql, stmts[3], w, page, error);
  carb_pg_clock_statements (&stamp, query, &stmts[1]);
  PGresult *res[G_N_ELEMENTS (stmts)];

  if (!carb_pg_pipeline (backend, stmts, G_N_ELEMENTS (stmts), res, error))
    {
      carb_pg_explain_failure (backend, &query, 1, error);
      return FALSE;
    }
  gboolean ok = carb_pg_clock_w (backend, res[1], res[2], &stamp, w, error);
  *page = ok ? g_steal_pointer (&res[3]) : NULL;
  for (guint i = 0; i < G_N_ELEMENTS (stmts); i++)
    PQclear (res[i]);
  return ok;
}

/* ------------------------------------------------ the rest by COPY
 *
 * On a primary the rows after the first page come as one binary COPY:
 * `BEGIN; COPY (SELECT …) TO STDOUT (FORMAT binary); COMMIT` in one simple
 * query, one round trip however many rows. libpq then hands each row as
 * the server's bytes, with no PGresult built per batch (most of the
 * client's CPU beyond COPY's when reading through a cursor,
 * docs/PERFORMANCE.md). A row's fields have the binary formats a binary
 * result has, decoded by sink_value() with the column types of the first
 * page (the same select list). COPY takes no parameters: the bounds go in
 * as exact expressions of integers, the page cursor's id as a quoted
 * literal of unspecified type (so the server reads it as the id column's
 * type, as it does the parameter). The snapshot argument of the cursor
 * holds unchanged: it is a later statement with the same bounds. */

/* A µs time as an exact timestamptz expression; the product of an int8
 * and an interval is computed in double precision, exact below 2^53. */
static char *
time_literal (gint64 unix_us)
{
  return g_strdup_printf ("(timestamptz 'epoch' + %" G_GINT64_FORMAT "::int8 * interval '1 microsecond')",
                          unix_us);
}

static gboolean
time_fits (gint64 unix_us)
{
  return unix_us > -(G_GINT64_CONSTANT (1) << 53) && unix_us < (G_GINT64_CONSTANT (1) << 53);
}

/* The rest's query with its placeholders replaced by literals, as the
 * simple query above; NULL with @error set, or NULL without when this
 * query cannot go by COPY (then the cursor reads it). */
static char *
copy_sql (CarbBackend *backend, const CarbQuery *rest, gint64 w, GError **error)
{
  if (backend->standby != NULL || !rest->has_after_id || rest->after_id_text == NULL
      || !time_fits (rest->lower) || !time_fits (w))
    return NULL;
  g_autofree char *select = carb_query_build_sql (rest, &carb_pg_syntax, error);
  g_autofree char *ts
      = select != NULL ? carb_pg_quote (backend, rest->model->columns[rest->ts_column].name, error) : NULL;
  g_autofree char *id
      = ts != NULL ? carb_pg_quote (backend, rest->model->columns[rest->id_column].name, error) : NULL;
  if (id == NULL)
    return NULL;
  /* The WHERE carb_query_build_sql() writes for a page cursor (sql.c). */
  g_autofree char *where = g_strdup_printf (" WHERE (%s, %s) > ($1, $3) AND %s <= $2", ts, id, ts);
  char *at = g_strrstr (select, where);
  if (at == NULL)
    return NULL;
  char *quoted = PQescapeLiteral (backend->conn, rest->after_id_text, strlen (rest->after_id_text));
  if (quoted == NULL)
    return NULL;
  g_autofree char *lower = time_literal (rest->lower);
  g_autofree char *upper = time_literal (w);
  *at = '\0';
  char *sql
      = g_strdup_printf ("BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;"
                         " COPY (%s WHERE (%s, %s) > (%s, %s) AND %s <= %s%s) TO STDOUT (FORMAT binary);"
                         " COMMIT",
                         select, ts, id, lower, quoted, ts, upper, at + strlen (where));
  PQfreemem (quoted);
  return sql;
}

/* The header of a binary COPY: signature, flags, extension length. */
static const char copy_signature[11] = "PGCOPY\n\377\r\n";
#define COPY_HEADER_SIZE 19

static gboolean
copy_malformed (const CarbQuery *rest, GError **error)
{
  g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY, "Table “%s”: the server sent malformed COPY data",
               rest->model->table);
  return FALSE;
}

/* One chunk of the COPY stream (libpq hands one row at a time; the header
 * comes before the first): its row to the sink. *@header tells whether the
 * header was read. */
static gboolean
copy_row (const CarbQuery *rest,
          const char *buf,
          int len,
          gboolean *header,
          const Oid *oids,
          CarbSink *sink,
          GError **error)
{
  const char *p = buf, *end = buf + len;
  guint n_cols = rest->model->n_columns;

  if (!*header)
    {
      if (len < COPY_HEADER_SIZE || memcmp (p, copy_signature, sizeof copy_signature) != 0)
        return copy_malformed (rest, error);
      guint32 extension = be32 (p + 15);
      if (extension > (guint32) (len - COPY_HEADER_SIZE))
        return copy_malformed (rest, error);
      p += COPY_HEADER_SIZE + extension;
      *header = TRUE;
    }
  if (p == end)
    return TRUE;
  if (end - p < 2)
    return copy_malformed (rest, error);
  gint16 fields = (gint16) be16 (p);
  p += 2;
  if (fields == -1) /* the trailer */
    return TRUE;
  if (fields != (gint16) n_cols)
    return copy_malformed (rest, error);
  for (guint c = 0; c < n_cols; c++)
    {
      if (end - p < 4)
        return copy_malformed (rest, error);
      gint32 n = (gint32) be32 (p);
      p += 4;
      if (n == -1)
        carb_sink_set_null (sink, c);
      else if (n < 0 || end - p < n)
        return copy_malformed (rest, error);
      else
        {
          sink_value (sink, c, oids[c], p, n);
          p += n;
        }
    }
  return carb_sink_end_row (sink, error);
}

/* Reads the COPY the simple query started, row by row. Stopped early (the
 * sink, a cancellation, bad data), it asks the server to cancel and drains
 * what is still coming: PQcancel() returns once the server has the
 * request, so it lands in this COPY or, if the COPY is done, on an idle
 * session, which ignores it; never on a later statement. */
static gboolean
copy_rows (CarbBackend *backend, const CarbQuery *rest, const Oid *oids, CarbSink *sink, GError **error)
{
  gboolean ok = TRUE, header = FALSE;
  guint64 rows = 0;
  char *buf = NULL;
  int len;

  while ((len = PQgetCopyData (backend->conn, &buf, 0)) >= 0)
    {
      ok = copy_row (rest, buf, len, &header, oids, sink, error);
      PQfreemem (buf);
      if (ok && ++rows % CARB_PG_FETCH_ROWS == 0)
        ok = !g_cancellable_set_error_if_cancelled (rest->cancellable, error);
      if (!ok)
        break;
    }
  if (len == -2)
    return ok ? carb_pg_fail (backend, error, "cannot read COPY data") : FALSE;
  if (!ok)
    {
      char why[256];
      PGcancel *cancel = PQgetCancel (backend->conn);
      if (cancel != NULL)
        PQcancel (cancel, why, sizeof why);
      PQfreeCancel (cancel);
      while ((len = PQgetCopyData (backend->conn, &buf, 0)) >= 0)
        PQfreemem (buf);
    }
  return ok;
}

/* The rest by COPY (see above). *@used is FALSE when this query cannot go
 * by COPY, and nothing was sent. */
static gboolean
copy_rest (CarbBackend *backend,
           const CarbQuery *rest,
           gint64 w,
           const Oid *oids,
           CarbSink *sink,
           gboolean *used,
           GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *sql = copy_sql (backend, rest, w, &local);
  *used = sql != NULL || local != NULL;
  if (sql == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return !*used;
    }
  g_debug ("%s", sql);
  if (!PQsendQuery (backend->conn, sql))
    return carb_pg_fail (backend, error, "cannot send COPY");

  /* BEGIN's result, then the COPY's. */
  PGresult *res = PQgetResult (backend->conn);
  if (PQresultStatus (res) == PGRES_COMMAND_OK)
    {
      PQclear (res);
      res = PQgetResult (backend->conn);
    }
  gboolean started = PQresultStatus (res) == PGRES_COPY_OUT;
  gboolean ok = started;
  PGresult *failed = started ? NULL : res;
  if (started)
    {
      PQclear (res);
      ok = copy_rows (backend, rest, oids, sink, error);
    }
  /* The rest: the COPY's own result, COMMIT's (skipped by the server after
   * an error: the caller rolls back). A failure is reported once all are
   * read, when libpq knows whether the connection is gone. */
  while ((res = PQgetResult (backend->conn)) != NULL)
    {
      ExecStatusType status = PQresultStatus (res);
      /* Still in the COPY (copy_rows() reads it to its end, so never):
       * libpq would answer COPY_OUT for ever. */
      gboolean stuck = status == PGRES_COPY_OUT;
      if (failed == NULL && status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        failed = res;
      else
        PQclear (res);
      if (stuck)
        break;
    }
  if (started && !ok) /* copy_rows() said why */
    PQclear (failed);
  else if (failed != NULL)
    {
      PGresult *other = carb_pg_check (backend, failed, error); /* frees an error */
      if (other != NULL)
        {
          PQclear (other);
          carb_pg_fail (backend, error, "unexpected answer to COPY");
        }
      ok = FALSE;
    }
  else if (!started)
    ok = carb_pg_fail (backend, error, "no answer to COPY");
  return ok;
}

/* The rows after a full first page, W known: by COPY on a primary, else a
 * cursor, in a transaction of their own. @oids: the first page's column
 * types. */
static gboolean
download_rest (
    CarbBackend *backend, const CarbQuery *rest, gint64 w, const Oid *oids, CarbSink *sink, GError **error)
{
  if (g_cancellable_set_error_if_cancelled (rest->cancellable, error))
    return FALSE;
  gboolean by_copy = FALSE;
  gboolean ok = copy_rest (backend, rest, w, oids, sink, &by_copy, error);
  if (by_copy)
    {
      if (!ok && PQstatus (backend->conn) == CONNECTION_OK
          && PQtransactionStatus (backend->conn) != PQTRANS_IDLE)
        carb_pg_exec_command (backend, "ROLLBACK", NULL);
      return ok;
    }

  PGresult *first = NULL;
  ok = begin_and_fetch (backend, rest, w, &first, error) && fetch_all (backend, rest, first, sink, error);
  /* COMMIT closes the cursor; after a failure ROLLBACK does (and ends a
   * transaction whose DECLARE failed), and a broken connection is left for
   * the next call to re-establish. */
  if (ok)
    ok = carb_pg_exec_command (backend, "COMMIT", error);
  else if (PQtransactionStatus (backend->conn) != PQTRANS_IDLE)
    carb_pg_exec_command (backend, "ROLLBACK", NULL);
  return ok;
}

gboolean
carb_pg_download (
    CarbBackend *backend, const CarbQuery *query, CarbSink *sink, gint64 *synced_until, GError **error)
{
  if (!carb_pg_ensure_connected (backend, error) || !carb_pg_ensure_idle (backend, error))
    return FALSE;
  /* From a complete point, ask first whether anything is newer: if not,
   * the point is the answer (docs/SYNC.md, "Idle polls"). */
  if (backend->standby == NULL && query->include_deleted && !query->has_after_id
      && query->lower != G_MININT64)
    {
      gboolean changed = FALSE;
      if (!carb_pg_probe (backend, &query, 1, &changed, error))
        return FALSE;
      if (!changed)
        {
          *synced_until = query->lower;
          return TRUE;
        }
    }

  guint limit = query->limit > 0 ? MIN (query->limit, CARB_PG_FETCH_ROWS) : CARB_PG_FETCH_ROWS;
  gint64 w = 0;
  PGresult *page = NULL;
  if (!first_page (backend, query, limit, &w, &page, error))
    return FALSE;
  gboolean ok = carb_pg_sink_batch (page, query->model, sink, error);
  gboolean more = (guint) PQntuples (page) == limit && (query->limit == 0 || query->limit > limit);
  CarbQuery rest;
  g_autofree char *id = NULL;
  ok = ok && (!more || rest_query (query, page, &rest, &id, error));
  g_autofree Oid *oids = g_new (Oid, query->model->n_columns);
  for (guint c = 0; ok && more && c < query->model->n_columns; c++)
    oids[c] = PQftype (page, (int) c);
  /* Freed before the rest arrives: streaming keeps at most two batches. */
  g_clear_pointer (&page, PQclear);
  if (ok && more)
    ok = download_rest (backend, &rest, w, oids, sink, error);
  if (ok)
    *synced_until = w;
  return ok;
}
