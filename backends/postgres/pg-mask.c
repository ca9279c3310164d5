/* carburetor-postgres — keeping passwords out of messages.
 *
 * A connection URI may carry a password in two places, read as libpq
 * reads them: the userinfo (from its first ':' to the first '@' before any
 * '/') and the query (a key=value pair whose key, percent-decoded, is
 * "password": libpq decodes keys, so "pass%77ord=" counts). Messages show
 * the URI with those values as ***, and libpq's own messages, which may
 * quote a malformed value ("invalid percent-encoded token: …"), have them
 * cut out too. Byte-wise, so any input, valid UTF-8 or not, is handled.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

#include <string.h>

typedef struct
{
  gsize start, end;  /* byte offsets of one password value */
  char *replacement; /* NULL: "***" */
} Span;

static gboolean
key_is (const char *key, gsize len, const char *name)
{
  g_autofree char *decoded = g_uri_unescape_segment (key, key + len, NULL);
  return decoded != NULL && g_ascii_strcasecmp (decoded, name) == 0;
}

/* A standby's carb_primary value is a whole URI, percent-encoded, with
 * passwords of its own: shown masked, the primary's host kept. */
static char *
masked_primary (const char *value, gsize len)
{
  g_autofree char *decoded = g_uri_unescape_segment (value, value + len, NULL);
  if (decoded == NULL)
    return g_strdup ("***");
  g_autofree char *masked = carb_pg_mask_uri (decoded);
  return g_uri_escape_string (masked, NULL, FALSE);
}

static void
span_clear (gpointer data)
{
  g_free (((Span *) data)->replacement);
}

/* The password values of @uri, in order, never overlapping. */
static GArray *
password_spans (const char *uri)
{
  GArray *spans = g_array_new (FALSE, TRUE, sizeof (Span));
  g_array_set_clear_func (spans, span_clear);
  const char *authority = strstr (uri, "://");
  const char *p = uri;

  if (authority != NULL)
    {
      const char *start = authority + 3;
      const char *end = start + strcspn (start, "@/");
      const char *colon = *end == '@' ? memchr (start, ':', (gsize) (end - start)) : NULL;
      if (colon != NULL)
        {
          Span span = { (gsize) (colon + 1 - uri), (gsize) (end - uri), NULL };
          g_array_append_val (spans, span);
        }
      if (*end == '@') /* a '?' in the userinfo does not start the query */
        p = end;
    }
  /* The query starts at the first '?' after the userinfo; a later '?' is
   * part of a value. */
  const char *query = strchr (p, '?');
  for (; *p != '\0'; p++)
    {
      const char *value = NULL;
      gboolean primary = FALSE;
      if (g_ascii_strncasecmp (p, "password=", 9) == 0)
        value = p + 9;
      else if (query != NULL && (p == query + 1 || (p > query && p[-1] == '&')))
        {
          gsize key_len = strcspn (p, "=&");
          if (p[key_len] == '=' && key_is (p, key_len, "password"))
            value = p + key_len + 1;
          else if (p[key_len] == '=' && key_is (p, key_len, "carb_primary"))
            value = p + key_len + 1, primary = TRUE;
        }
      if (value == NULL)
        continue;
      /* In the query a value runs to the next '&', spaces included.
       * Elsewhere (a password=… that libpq would not even read as one),
       * masking stops at every delimiter, so that it never changes how
       * the rest of the URI parses. */
      gboolean in_query = query != NULL && p > query;
      Span span = { (gsize) (value - uri),
                    (gsize) (value - uri) + strcspn (value, in_query ? "&" : "&/?@ \t"), NULL };
      if (primary)
        span.replacement = masked_primary (value, span.end - span.start);
      g_array_append_val (spans, span);
      p = uri + span.end;
      if (*p == '\0')
        break;
    }
  return spans;
}

static char *
mask_once (const char *uri)
{
  g_autoptr (GArray) spans = password_spans (uri);
  GString *out = g_string_sized_new (strlen (uri) + 8);
  gsize at = 0;

  for (guint i = 0; i < spans->len; i++)
    {
      const Span *span = &g_array_index (spans, Span, i);
      g_string_append_len (out, uri + at, (gssize) (span->start - at));
      g_string_append (out, span->replacement != NULL ? span->replacement : "***");
      at = span->end;
    }
  g_string_append (out, uri + at);
  return g_string_free (out, FALSE);
}

/**
 * carb_pg_mask_uri:
 * @uri: a connection URI, any bytes
 *
 * Masking can change how the rest of the URI parses: libpq decides
 * whether there is a userinfo by whether an '@' comes before the first
 * '/', and that '/' may sit inside a masked query value. So the URI is
 * masked again until masking changes nothing (a password the new parse
 * reveals is masked too); should that not settle, nothing but the scheme
 * is shown.
 *
 * Returns: (transfer full): @uri with every password value replaced by
 *   `***`, for messages; never %NULL
 */
char *
carb_pg_mask_uri (const char *uri)
{
  char *masked = mask_once (uri);

  for (guint pass = 0; pass < 8; pass++)
    {
      char *again = mask_once (masked);
      gboolean settled = strcmp (again, masked) == 0;
      g_free (masked);
      masked = again;
      if (settled)
        return masked;
    }
  g_free (masked);
  const char *authority = strstr (uri, "://");
  return authority != NULL ? g_strdup_printf ("%.*s://***", (int) (authority - uri), uri) : g_strdup ("***");
}

/**
 * carb_pg_redact:
 * @uri: the connection URI
 * @message: a message about it, e.g. libpq's
 *
 * Returns: (transfer full): @message with each of @uri's passwords, as
 *   written and percent-decoded, replaced by `***`
 */
char *
carb_pg_redact (const char *uri, const char *message)
{
  g_autoptr (GArray) spans = password_spans (uri);
  GString *out = g_string_new (message);

  for (guint i = 0; i < spans->len; i++)
    {
      const Span *span = &g_array_index (spans, Span, i);
      if (span->end == span->start)
        continue;
      if (span->replacement != NULL) /* carb_primary: the inner URI's passwords */
        {
          g_autofree char *inner = g_uri_unescape_segment (uri + span->start, uri + span->end, NULL);
          if (inner != NULL)
            {
              g_autofree char *done = carb_pg_redact (inner, out->str);
              g_string_assign (out, done);
            }
          continue;
        }
      g_autofree char *raw = g_strndup (uri + span->start, span->end - span->start);
      g_autofree char *decoded = g_uri_unescape_string (raw, NULL);
      g_string_replace (out, raw, "***", 0);
      if (decoded != NULL && decoded[0] != '\0')
        g_string_replace (out, decoded, "***", 0);
    }
  return g_string_free (out, FALSE);
}
