/* carburetor-postgres — statements with parameters, for the core's writes
 * and carb_store_execute_with_params(), and the SQL syntax the core builds
 * them from.
 *
 * Numbers, booleans, timestamps, dates and bytes go in binary with their
 * type, so no value is ever formatted and re-parsed; text-like values go as
 * text of unknown type and the server reads them as the column's type
 * (uuid, jsonb, numeric, text).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

#include <string.h>

enum
{
  OID_BOOL = 16,
  OID_BYTEA = 17,
  OID_INT8 = 20,
  OID_FLOAT8 = 701,
  OID_DATE = 1082,
  OID_TIMESTAMPTZ = 1184,
};

static const char *const column_types[] = {
  [CARB_COLUMN_TYPE_TEXT] = "text",       [CARB_COLUMN_TYPE_INT16] = "smallint",
  [CARB_COLUMN_TYPE_INT32] = "integer",   [CARB_COLUMN_TYPE_INT64] = "bigint",
  [CARB_COLUMN_TYPE_FLOAT] = "real",      [CARB_COLUMN_TYPE_DOUBLE] = "double precision",
  [CARB_COLUMN_TYPE_BOOL] = "boolean",    [CARB_COLUMN_TYPE_TIMESTAMP] = "timestamptz",
  [CARB_COLUMN_TYPE_DATE] = "date",       [CARB_COLUMN_TYPE_UUID] = "uuid",
  [CARB_COLUMN_TYPE_JSON] = "jsonb",      [CARB_COLUMN_TYPE_BYTES] = "bytea",
  [CARB_COLUMN_TYPE_NUMERIC] = "numeric",
};

/* numeric is selected as text: its binary form is base-10000 digits, and
 * text is what the model's NUMERIC member holds, exactly. */
static const char *const select_casts[] = {
  [CARB_COLUMN_TYPE_NUMERIC] = "::text",
};

const CarbSqlSyntax carb_pg_syntax = {
  .struct_size = sizeof (CarbSqlSyntax),
  .max_identifier_bytes = 63,
  .column_types = column_types,
  .n_column_types = G_N_ELEMENTS (column_types),
  .stamp_default = "clock_timestamp ()",
  .false_literal = "false",
  .begin_write = "BEGIN",
  .select_casts = select_casts,
  .n_select_casts = G_N_ELEMENTS (select_casts),
  /* Versions compare as text: byte order, whatever the database's
   * collation. */
  .version_type = "text COLLATE \"C\"",
  .lock_rows = " FOR UPDATE",
  .constraints_immediate = "SET CONSTRAINTS ALL IMMEDIATE",
};

gboolean
carb_pg_in_transaction (CarbBackend *backend)
{
  return PQtransactionStatus (backend->conn) != PQTRANS_IDLE;
}

/* One parameter's wire form; @buf holds the binary bytes of scalars. */
typedef struct
{
  Oid type;
  const char *value;
  int length;
  int format;
  guint8 buf[8];
} Param;

static gboolean
encode_param (CarbBackend *backend, const CarbValue *v, guint index, Param *p, GError **error)
{
  gint64 be64;
  gint32 be32;

  if (v->is_null)
    return TRUE; /* value NULL, type unknown */
  p->format = 1;
  switch (v->type)
    {
    case CARB_COLUMN_TYPE_BOOL:
      p->type = OID_BOOL, p->buf[0] = v->v_int != 0, p->length = 1;
      break;
    case CARB_COLUMN_TYPE_FLOAT:
    case CARB_COLUMN_TYPE_DOUBLE:
      {
        union
        {
          gdouble d;
          guint64 u;
        } bits = { .d = v->v_double };
        be64 = (gint64) GUINT64_TO_BE (bits.u);
        p->type = OID_FLOAT8, p->length = 8;
        memcpy (p->buf, &be64, 8);
        break;
      }
    case CARB_COLUMN_TYPE_TIMESTAMP:
      {
        /* ∓infinity pass as themselves; a finite instant before
         * PostgreSQL's calendar is refused, never moved to -infinity. */
        gint64 pg = carb_pg_to_pg_time (v->v_int);
        if (pg == G_MININT64 && v->v_int != G_MININT64)
          {
            g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                         "PostgreSQL “%s”: parameter %u: the timestamp %" G_GINT64_FORMAT
                         " µs is before PostgreSQL's first (4714 BC)",
                         backend->display, index + 1, v->v_int);
            return FALSE;
          }
        be64 = GINT64_TO_BE (pg);
        p->type = OID_TIMESTAMPTZ, p->length = 8;
        memcpy (p->buf, &be64, 8);
        break;
      }
    case CARB_COLUMN_TYPE_DATE:
      {
        gint64 days = v->v_int;
        if (days != G_MININT32 && days != G_MAXINT32)
          days -= CARB_PG_EPOCH_OFFSET_DAYS;
        be32 = GINT32_TO_BE ((gint32) days);
        p->type = OID_DATE, p->length = 4;
        memcpy (p->buf, &be32, 4);
        break;
      }
    case CARB_COLUMN_TYPE_BYTES:
      p->type = OID_BYTEA, p->value = v->v_len > 0 ? v->v_data : "", p->length = (int) v->v_len;
      return TRUE;
    case CARB_COLUMN_TYPE_TEXT:
    case CARB_COLUMN_TYPE_UUID:
    case CARB_COLUMN_TYPE_JSON:
    case CARB_COLUMN_TYPE_NUMERIC:
      /* Text format wants a nul-terminated string: the caller copies. */
      p->format = 0;
      return TRUE;
    default:
      be64 = GINT64_TO_BE (v->v_int);
      p->type = OID_INT8, p->length = 8;
      memcpy (p->buf, &be64, 8);
      break;
    }
  p->value = (const char *) p->buf;
  return TRUE;
}

/**
 * carb_pg_params_encode:
 * @backend: the backend, for messages
 * @params: (array length=n_params): the core's parameters
 * @n_params: their number
 * @out: (out caller-allocates): their wire form (binary for scalars,
 *   text of unknown type for text-like values), for PQexecParams() or a
 *   #CarbPgStatement; carb_pg_params_clear() it, also after a failure
 * @error: set for a value PostgreSQL cannot take
 *
 * The arrays point into @params (text is copied, nul-terminated).
 */
gboolean
carb_pg_params_encode (
    CarbBackend *backend, const CarbValue *params, guint n_params, CarbPgParams *out, GError **error)
{
  *out = (CarbPgParams){
    .wire = g_new0 (Param, n_params),
    .texts = g_ptr_array_new_with_free_func (g_free),
    .types = g_new0 (Oid, n_params),
    .values = g_new0 (const char *, n_params),
    .lengths = g_new0 (int, n_params),
    .formats = g_new0 (int, n_params),
  };
  for (guint i = 0; i < n_params; i++)
    {
      Param *p = &((Param *) out->wire)[i];
      if (!encode_param (backend, &params[i], i, p, error))
        return FALSE;
      if (!params[i].is_null && p->format == 0)
        {
          /* Text goes nul-terminated: an embedded NUL would cut it. */
          if (memchr (params[i].v_data, '\0', params[i].v_len) != NULL)
            {
              g_set_error (
                  error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                  "PostgreSQL “%s”: parameter %u: text holds a NUL byte, which PostgreSQL text cannot",
                  backend->display, i + 1);
              return FALSE;
            }
          char *text = g_strndup (params[i].v_data, params[i].v_len);
          g_ptr_array_add (out->texts, text);
          p->value = text;
        }
      out->types[i] = p->type, out->values[i] = p->value, out->lengths[i] = p->length,
      out->formats[i] = p->format;
    }
  return TRUE;
}

void
carb_pg_params_clear (CarbPgParams *params)
{
  g_clear_pointer (&params->wire, g_free);
  g_clear_pointer (&params->texts, g_ptr_array_unref);
  g_clear_pointer (&params->types, g_free);
  g_clear_pointer (&params->values, g_free);
  g_clear_pointer (&params->lengths, g_free);
  g_clear_pointer (&params->formats, g_free);
}

/* Runs @sql with @params bound (binary for scalars, text of unknown type
 * for text-like values) as an unnamed statement; the result, in
 * @result_format, is the caller's to PQclear. */
PGresult *
carb_pg_exec_values (CarbBackend *backend,
                     const char *sql,
                     const CarbValue *params,
                     guint n_params,
                     int result_format,
                     GError **error)
{
  g_auto (CarbPgParams) wire = { 0 };
  if (!carb_pg_ensure_connected (backend, error)
      || !carb_pg_params_encode (backend, params, n_params, &wire, error))
    return NULL;
  return carb_pg_exec (backend, sql, (int) n_params, wire.types, wire.values, wire.lengths, wire.formats,
                       result_format, error);
}

gboolean
carb_pg_execute_params (CarbBackend *backend,
                        const char *sql,
                        const CarbValue *params,
                        guint n_params,
                        guint64 *n_changed,
                        GError **error)
{
  PGresult *res = carb_pg_exec_values (backend, sql, params, n_params, 0, error);
  if (res == NULL)
    return FALSE;
  if (n_changed != NULL)
    {
      /* PQcmdTuples() counts a SELECT's rows too: only writes count. */
      const char *status = PQcmdStatus (res);
      const char *tuples = PQcmdTuples (res);
      gboolean wrote = g_str_has_prefix (status, "INSERT ") || g_str_has_prefix (status, "UPDATE ")
                       || g_str_has_prefix (status, "DELETE ") || g_str_has_prefix (status, "MERGE ");
      *n_changed = wrote && tuples[0] != '\0' ? g_ascii_strtoull (tuples, NULL, 10) : 0;
    }
  PQclear (res);
  return TRUE;
}
