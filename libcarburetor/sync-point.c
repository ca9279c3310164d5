/* Carburetor — sync points and their short string form.
 *
 * Grammar of the string (version 1):
 *   point  = "1." time [ "." id ]
 *   time   = decimal gint64, microseconds since the Unix epoch
 *   id     = "i" decimal gint64        integer ids
 *          | "t" base64url (no padding)  text and uuid ids; the empty id
 *                                        is "t" alone
 * A point without an id is complete; with one, it is a page cursor.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <string.h>

typedef enum
{
  CURSOR_NONE,
  CURSOR_INT,
  CURSOR_TEXT,
} CursorKind;

struct _CarbSyncPoint
{
  gint64 time;
  CursorKind kind;
  gint64 id_int;
  char *id_text;
};

CARB_DEFINE_BOXED_TYPE (CarbSyncPoint, carb_sync_point, carb_sync_point_copy, carb_sync_point_free)

/**
 * carb_sync_point_new:
 * @time: microseconds since the Unix epoch, UTC
 *
 * Creates a complete sync point: "every row stamped at or before @time has
 * been delivered". Mostly for tests and migrations; applications pass back
 * the points that syncs return.
 *
 * Returns: (transfer full): a new sync point
 */
CarbSyncPoint *
carb_sync_point_new (gint64 time)
{
  CarbSyncPoint *point = g_new0 (CarbSyncPoint, 1);
  point->time = time;
  return point;
}

/**
 * carb_sync_point_copy:
 * @point: a sync point
 *
 * Returns: (transfer full): a copy of @point
 */
CarbSyncPoint *
carb_sync_point_copy (const CarbSyncPoint *point)
{
  g_return_val_if_fail (point != NULL, NULL);
  CarbSyncPoint *copy = g_memdup2 (point, sizeof *point);
  copy->id_text = g_strdup (point->id_text);
  return copy;
}

/**
 * carb_sync_point_free:
 * @point: (nullable): a sync point
 *
 * Frees @point.
 */
void
carb_sync_point_free (CarbSyncPoint *point)
{
  if (point == NULL)
    return;
  g_free (point->id_text);
  g_free (point);
}

/**
 * carb_sync_point_get_time:
 * @point: a sync point
 *
 * Returns: the point's time in microseconds since the Unix epoch: for a
 *   complete point, the time up to which the sync is complete
 */
gint64
carb_sync_point_get_time (const CarbSyncPoint *point)
{
  g_return_val_if_fail (point != NULL, 0);
  return point->time;
}

/**
 * carb_sync_point_is_complete:
 * @point: a sync point
 *
 * Returns: %TRUE if every row stamped up to the point's time was delivered;
 *   %FALSE for a page cursor, where rows may remain (call again)
 */
gboolean
carb_sync_point_is_complete (const CarbSyncPoint *point)
{
  g_return_val_if_fail (point != NULL, FALSE);
  return point->kind == CURSOR_NONE;
}

/**
 * carb_sync_point_equal:
 * @a: a sync point
 * @b: another sync point
 *
 * Returns: %TRUE if @a and @b denote the same position
 */
gboolean
carb_sync_point_equal (const CarbSyncPoint *a, const CarbSyncPoint *b)
{
  g_return_val_if_fail (a != NULL && b != NULL, FALSE);
  return a->time == b->time && a->kind == b->kind && a->id_int == b->id_int
         && g_strcmp0 (a->id_text, b->id_text) == 0;
}

static char *
base64url_encode (const char *text)
{
  char *s = g_base64_encode ((const guchar *) text, strlen (text));
  g_strdelimit (s, "+", '-');
  g_strdelimit (s, "/", '_');
  char *pad = strchr (s, '=');
  if (pad != NULL)
    *pad = '\0';
  return s;
}

/**
 * carb_sync_point_to_string:
 * @point: a sync point
 *
 * Serializes @point to a short printable ASCII string with no spaces
 * (`1.1732523000000000` for a complete point), for a device to store.
 *
 * Returns: (transfer full): the string
 */
char *
carb_sync_point_to_string (const CarbSyncPoint *point)
{
  g_return_val_if_fail (point != NULL, NULL);
  switch (point->kind)
    {
    case CURSOR_INT:
      return g_strdup_printf ("1.%" G_GINT64_FORMAT ".i%" G_GINT64_FORMAT, point->time, point->id_int);
    case CURSOR_TEXT:
      {
        g_autofree char *id = base64url_encode (point->id_text);
        return g_strdup_printf ("1.%" G_GINT64_FORMAT ".t%s", point->time, id);
      }
    case CURSOR_NONE:
    default:
      return g_strdup_printf ("1.%" G_GINT64_FORMAT, point->time);
    }
}

static CarbSyncPoint *
malformed (GError **error, const char *text, const char *why)
{
  g_autofree char *shown = g_utf8_make_valid (text, MIN (strlen (text), 64));
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT, "Malformed sync point “%s”: %s", shown, why);
  return NULL;
}

static gboolean
parse_int (const char *digits, gint64 *out)
{
  /* g_ascii_string_to_signed accepts a leading '+' and spaces nowhere;
   * refuse the '+' too so that every point has one spelling. */
  if (digits[0] == '+')
    return FALSE;
  return g_ascii_string_to_signed (digits, 10, G_MININT64, G_MAXINT64, out, NULL);
}

static gboolean
parse_text_id (const char *b64, CarbSyncPoint *point)
{
  gsize len = strlen (b64);

  if (len == 0)
    {
      point->id_text = g_strdup (""); /* the empty string is an id too */
      return TRUE;
    }
  if (len % 4 == 1
      || strspn (b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != len)
    return FALSE;
  GString *padded = g_string_new (b64);
  g_strdelimit (padded->str, "-", '+');
  g_strdelimit (padded->str, "_", '/');
  while (padded->len % 4 != 0)
    g_string_append_c (padded, '=');
  gsize out_len = 0;
  guchar *raw = g_base64_decode (padded->str, &out_len);
  g_string_free (padded, TRUE);
  if (out_len == 0 || memchr (raw, '\0', out_len) != NULL || !g_utf8_validate ((char *) raw, out_len, NULL))
    {
      g_free (raw);
      return FALSE;
    }
  point->id_text = g_strndup ((char *) raw, out_len);
  g_free (raw);
  return TRUE;
}

/**
 * carb_sync_point_parse:
 * @text: a string from carb_sync_point_to_string()
 * @error: return location for a #GError
 *
 * Parses a stored sync point. Anything else is refused with
 * %CARB_ERROR_INVALID_SYNC_POINT; nothing is guessed.
 *
 * Returns: (transfer full) (nullable): the sync point, or %NULL
 */
CarbSyncPoint *
carb_sync_point_parse (const char *text, GError **error)
{
  g_return_val_if_fail (text != NULL, NULL);

  g_autoptr (CarbSyncPoint) point = carb_sync_point_new (0);
  g_auto (GStrv) parts = g_strsplit (text, ".", 4);
  guint n = g_strv_length (parts);

  if (n < 2 || n > 3 || strcmp (parts[0], "1") != 0)
    return malformed (error, text, "expected “1.TIME” or “1.TIME.ID”");
  if (!parse_int (parts[1], &point->time))
    return malformed (error, text, "the time is not a decimal 64-bit integer");
  if (n == 3)
    {
      const char *id = parts[2];
      if (id[0] == 'i' && parse_int (id + 1, &point->id_int))
        point->kind = CURSOR_INT;
      else if (id[0] == 't' && parse_text_id (id + 1, point))
        point->kind = CURSOR_TEXT;
      else
        return malformed (error, text, "the cursor id is neither “iNUMBER” nor “tBASE64URL”");
    }
  /* One point, one spelling: "1.007", "1.-0" or base64 with stray low
   * bits would parse, but a device comparing stored strings would take
   * them for other points. */
  g_autofree char *canonical = carb_sync_point_to_string (point);
  if (strcmp (canonical, text) != 0)
    return malformed (error, text, "not in canonical form (leading zeros, “-0” or non-canonical base64)");
  return g_steal_pointer (&point);
}

static gboolean
id_is_integer (const CarbQuery *query)
{
  CarbColumnType t = query->model->columns[query->id_column].type;
  return t == CARB_COLUMN_TYPE_INT16 || t == CARB_COLUMN_TYPE_INT32 || t == CARB_COLUMN_TYPE_INT64;
}

/* The cursor after @row, the last row of a full page. */
CarbSyncPoint *
carb_sync_point_new_cursor (const CarbQuery *query, gconstpointer row)
{
  const CarbModel *model = query->model;
  const guint8 *base = row;
  const CarbColumn *id = &model->columns[query->id_column];
  CarbSyncPoint *point
      = carb_sync_point_new (*(const gint64 *) (base + model->columns[query->ts_column].offset));

  switch (id->type)
    {
    case CARB_COLUMN_TYPE_INT16:
      point->kind = CURSOR_INT;
      point->id_int = *(const gint16 *) (base + id->offset);
      break;
    case CARB_COLUMN_TYPE_INT32:
      point->kind = CURSOR_INT;
      point->id_int = *(const gint32 *) (base + id->offset);
      break;
    case CARB_COLUMN_TYPE_INT64:
      point->kind = CURSOR_INT;
      point->id_int = *(const gint64 *) (base + id->offset);
      break;
    default: /* TEXT, UUID */
      point->kind = CURSOR_TEXT;
      point->id_text = g_strdup (*(char *const *) (base + id->offset));
      break;
    }
  return point;
}

/* Sets the lower bound (and cursor) of @query from @since. */
gboolean
carb_sync_point_apply (const CarbSyncPoint *since, CarbQuery *query, GError **error)
{
  query->lower = since->time;
  query->has_after_id = since->kind != CURSOR_NONE;
  if (since->kind == CURSOR_NONE)
    return TRUE;
  if ((since->kind == CURSOR_INT) != id_is_integer (query))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT,
                   "Sync point is a page cursor for %s ids, but the id column “%s” of table “%s” is %s",
                   since->kind == CURSOR_INT ? "integer" : "text",
                   query->model->columns[query->id_column].name, query->model->table,
                   carb_column_type_to_string (query->model->columns[query->id_column].type));
      return FALSE;
    }
  query->after_id_int = since->id_int;
  query->after_id_text = since->id_text;
  return TRUE;
}
