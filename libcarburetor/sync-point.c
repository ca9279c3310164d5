/* Carburetor — sync points and their short string form.
 *
 * Grammar of the string:
 *   point  = "2." tag "." time [ "." id ]   a point a sync returned
 *          | "1." time [ "." id ]           untagged: carb_sync_point_new(),
 *                                           or stored by Carburetor 0.1
 *   tag    = 8 lower-case hex digits: which backend type, schema and table
 *            the point belongs to (see point_tag())
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
  gboolean tagged;
  guint32 tag;
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 *
 * Since: 1.0
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
 * Compares positions: time and page cursor. The table a point belongs to
 * (its tag, see carb_sync_point_to_string()) is not part of its position.
 *
 * Returns: %TRUE if @a and @b denote the same position
 *
 * Since: 1.0
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
 * Serializes @point to a short printable ASCII string with no spaces, for a
 * device to store: `2.TAG.TIME` for a complete point a sync returned, with
 * `.ID` after it for a page cursor. TAG names the backend type, schema and
 * table the point was made for, so that a point handed to the wrong table
 * is refused instead of skipping rows. A point from carb_sync_point_new()
 * has no tag and reads `1.TIME`.
 *
 * Returns: (transfer full): the string
 *
 * Since: 1.0
 */
char *
carb_sync_point_to_string (const CarbSyncPoint *point)
{
  g_return_val_if_fail (point != NULL, NULL);
  g_autofree char *head = point->tagged ? g_strdup_printf ("2.%08" G_GINT32_MODIFIER "x.%" G_GINT64_FORMAT,
                                                           point->tag, point->time)
                                        : g_strdup_printf ("1.%" G_GINT64_FORMAT, point->time);
  switch (point->kind)
    {
    case CURSOR_INT:
      return g_strdup_printf ("%s.i%" G_GINT64_FORMAT, head, point->id_int);
    case CURSOR_TEXT:
      {
        g_autofree char *id = base64url_encode (point->id_text);
        return g_strdup_printf ("%s.t%s", head, id);
      }
    case CURSOR_NONE:
    default:
      return g_steal_pointer (&head);
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
  if (len % 4 == 1 || strspn (b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != len)
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
 *
 * Since: 1.0
 */
CarbSyncPoint *
carb_sync_point_parse (const char *text, GError **error)
{
  g_return_val_if_fail (text != NULL, NULL);

  g_autoptr (CarbSyncPoint) point = carb_sync_point_new (0);
  g_auto (GStrv) all = g_strsplit (text, ".", 5);
  char **parts = all;
  guint n = g_strv_length (all);

  if (n >= 3 && strcmp (parts[0], "2") == 0)
    {
      gint64 tag = 0;
      if (strlen (parts[1]) != 8
          || !g_ascii_string_to_unsigned (parts[1], 16, 0, G_MAXUINT32, (guint64 *) &tag, NULL))
        return malformed (error, text, "the table tag is not 8 hexadecimal digits");
      point->tagged = TRUE;
      point->tag = (guint32) tag;
      parts++, n--; /* the rest reads as a version 1 point */
    }
  else if (n < 2 || strcmp (parts[0], "1") != 0)
    return malformed (error, text, "expected “2.TAG.TIME”, “2.TAG.TIME.ID” or a version 1 point “1.TIME”");
  if (n < 2 || n > 3)
    return malformed (error, text, "expected “2.TAG.TIME” or “2.TAG.TIME.ID”");
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

/* The tag of the points of @model's table on a backend named @backend:
 * 32 bits of FNV-1a over "backend NUL schema NUL table". It catches
 * mistakes (a point stored for another table or another store type), not
 * forgeries: a point is no secret. */
guint32
carb_sync_point_tag_for (const char *backend, const CarbModel *model)
{
  const char *parts[] = { backend, model->schema != NULL ? model->schema : "", model->table };
  guint64 hash = G_GUINT64_CONSTANT (0xcbf29ce484222325);
  for (guint i = 0; i < G_N_ELEMENTS (parts); i++)
    for (const char *c = parts[i];; c++)
      {
        hash = (hash ^ (guchar) *c) * G_GUINT64_CONSTANT (0x100000001b3);
        if (*c == '\0')
          break;
      }
  return (guint32) (hash ^ (hash >> 32));
}

/* A complete point of @time for the table of @tag. */
CarbSyncPoint *
carb_sync_point_new_tagged (gint64 time, guint32 tag)
{
  CarbSyncPoint *point = carb_sync_point_new (time);
  point->tagged = TRUE;
  point->tag = tag;
  return point;
}

/* A copy of @point that belongs to the table of @tag (an untagged point
 * the device passed in comes back tagged). */
CarbSyncPoint *
carb_sync_point_retag (const CarbSyncPoint *point, guint32 tag)
{
  CarbSyncPoint *copy = carb_sync_point_copy (point);
  copy->tagged = TRUE;
  copy->tag = tag;
  return copy;
}

/* The cursor after @row, the last row of a full page. */
CarbSyncPoint *
carb_sync_point_new_cursor (const CarbQuery *query, gconstpointer row, guint32 tag)
{
  const CarbModel *model = query->model;
  const guint8 *base = row;
  const CarbColumn *id = &model->columns[query->id_column];
  CarbSyncPoint *point
      = carb_sync_point_new_tagged (*(const gint64 *) (base + model->columns[query->ts_column].offset), tag);

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

/* Sets the lower bound (and cursor) of @query from @since, which must
 * belong to the table of @tag if it is tagged. */
gboolean
carb_sync_point_apply (const CarbSyncPoint *since, CarbQuery *query, guint32 tag, GError **error)
{
  if (since->tagged && since->tag != tag)
    {
      g_autofree char *text = carb_sync_point_to_string (since);
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT,
                   "Sync point “%s” was made for another table or store type than table “%s” (its tag is "
                   "%08" G_GINT32_MODIFIER "x, this table's %08" G_GINT32_MODIFIER
                   "x): pass each table its own points",
                   text, query->model->table, since->tag, tag);
      return FALSE;
    }
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
  if (since->kind == CURSOR_TEXT && query->model->columns[query->id_column].type == CARB_COLUMN_TYPE_UUID
      && !carb_value_is_canonical_uuid (since->id_text, strlen (since->id_text)))
    {
      g_set_error (
          error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT,
          "Sync point is a page cursor after the id “%s”, which is not a UUID, but the id column “%s” of "
          "table “%s” is UUID",
          since->id_text, query->model->columns[query->id_column].name, query->model->table);
      return FALSE;
    }
  query->after_id_int = since->id_int;
  query->after_id_text = since->id_text;
  return TRUE;
}
