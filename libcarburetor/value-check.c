/* Carburetor — the checks that make UUID, JSON and NUMERIC values what the
 * headers promise, whatever the database let a column hold (an SQLite
 * TEXT column holds anything). Allocation-free on the common path: they
 * run on every decoded value of such a column.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <string.h>

/* Whether @text (@len bytes) is a UUID in 8-4-4-4-12 hex digits, any case
 * (@lower_only FALSE) or lower case only. */
static gboolean
is_uuid (const char *text, gsize len, gboolean lower_only)
{
  if (len != 36)
    return FALSE;
  for (gsize i = 0; i < 36; i++)
    {
      if (i == 8 || i == 13 || i == 18 || i == 23)
        {
          if (text[i] != '-')
            return FALSE;
        }
      else if (!g_ascii_isxdigit (text[i]) || (lower_only && g_ascii_isupper (text[i])))
        return FALSE;
    }
  return TRUE;
}

/* If @text (@len bytes) is a UUID in 8-4-4-4-12 hex digits of either case,
 * lower-cases it in place and returns TRUE. */
gboolean
carb_value_canonical_uuid (char *text, gsize len)
{
  if (!is_uuid (text, len, FALSE))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    text[i] = g_ascii_tolower (text[i]);
  return TRUE;
}

/* Whether @text is a UUID in either case. */
gboolean
carb_value_is_uuid (const char *text, gsize len)
{
  return is_uuid (text, len, FALSE);
}

/* Whether @text is a UUID already in canonical lower case: what a key must
 * be as stored, since keys are compared as stored text (paging cursors,
 * the apply's lookups). */
gboolean
carb_value_is_canonical_uuid (const char *text, gsize len)
{
  return is_uuid (text, len, TRUE);
}

typedef struct
{
  const char *p;
  const char *end;
} Scan;

static void
skip_space (Scan *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static gboolean
eat_digits (Scan *s)
{
  const char *start = s->p;
  while (s->p < s->end && g_ascii_isdigit (*s->p))
    s->p++;
  return s->p > start;
}

/* number = [ "-" ] int [ frac ] [ exp ], as RFC 8259 §6 writes it. */
static gboolean
scan_number (Scan *s)
{
  if (s->p < s->end && *s->p == '-')
    s->p++;
  if (s->p < s->end && *s->p == '0')
    s->p++;
  else if (!eat_digits (s))
    return FALSE;
  if (s->p < s->end && *s->p == '.')
    {
      s->p++;
      if (!eat_digits (s))
        return FALSE;
    }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
    {
      s->p++;
      if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
        s->p++;
      if (!eat_digits (s))
        return FALSE;
    }
  return TRUE;
}

static gboolean
scan_string (Scan *s)
{
  s->p++; /* the opening quote */
  while (s->p < s->end)
    {
      guchar c = (guchar) *s->p++;
      if (c == '"')
        return TRUE;
      if (c < 0x20)
        return FALSE;
      if (c != '\\')
        continue;
      if (s->p >= s->end)
        return FALSE;
      c = (guchar) *s->p++;
      if (c == 'u')
        {
          for (int i = 0; i < 4; i++, s->p++)
            if (s->p >= s->end || !g_ascii_isxdigit (*s->p))
              return FALSE;
        }
      else if (strchr ("\"\\/bfnrt", c) == NULL || c == '\0')
        return FALSE;
    }
  return FALSE;
}

static gboolean
scan_word (Scan *s, const char *word)
{
  gsize n = strlen (word);
  if ((gsize) (s->end - s->p) < n || memcmp (s->p, word, n) != 0)
    return FALSE;
  s->p += n;
  return TRUE;
}

/* A scalar, or FALSE; containers are handled by the caller's loop. */
static gboolean
scan_scalar (Scan *s)
{
  switch (*s->p)
    {
    case '"':
      return scan_string (s);
    case 't':
      return scan_word (s, "true");
    case 'f':
      return scan_word (s, "false");
    case 'n':
      return scan_word (s, "null");
    default:
      return scan_number (s);
    }
}

/* Whether @text (@len bytes of valid UTF-8) is one JSON value (RFC 8259),
 * with surrounding whitespace. Nesting is tracked in a byte stack, so no
 * depth a database accepts is refused and no input overflows the C stack. */
gboolean
carb_value_is_json (const char *text, gsize len)
{
  Scan s = { text, text + len };
  g_autoptr (GByteArray) stack = NULL; /* '{' or '[' per open container */
  char small[64];
  gsize depth = 0;

  for (;;)
    {
      /* A value is expected here. */
      skip_space (&s);
      if (s.p >= s.end)
        return FALSE;
      if (*s.p == '{' || *s.p == '[')
        {
          char open = *s.p++;
          if (depth < sizeof small)
            small[depth] = open;
          else
            {
              if (stack == NULL)
                stack = g_byte_array_new ();
              g_byte_array_append (stack, (const guint8 *) &open, 1);
            }
          depth++;
          skip_space (&s);
          if (s.p < s.end && *s.p == (open == '{' ? '}' : ']'))
            {
              s.p++;
              depth--;
              if (depth >= sizeof small)
                g_byte_array_set_size (stack, stack->len - 1);
            }
          else
            {
              if (open == '{')
                {
                  if (s.p >= s.end || *s.p != '"' || !scan_string (&s))
                    return FALSE;
                  skip_space (&s);
                  if (s.p >= s.end || *s.p++ != ':')
                    return FALSE;
                }
              continue;
            }
        }
      else if (!scan_scalar (&s))
        return FALSE;

      /* After a value: close containers, or a comma and the next value. */
      for (;;)
        {
          skip_space (&s);
          if (depth == 0)
            return s.p == s.end;
          if (s.p >= s.end)
            return FALSE;
          char open = depth <= sizeof small ? small[depth - 1] : (char) stack->data[stack->len - 1];
          if (*s.p == (open == '{' ? '}' : ']'))
            {
              s.p++;
              depth--;
              if (depth >= sizeof small)
                g_byte_array_set_size (stack, stack->len - 1);
              continue;
            }
          if (*s.p++ != ',')
            return FALSE;
          if (open == '{')
            {
              skip_space (&s);
              if (s.p >= s.end || *s.p != '"' || !scan_string (&s))
                return FALSE;
              skip_space (&s);
              if (s.p >= s.end || *s.p++ != ':')
                return FALSE;
            }
          break;
        }
    }
}

/* Whether @text is a decimal number as NUMERIC promises: an optional sign,
 * digits with at most one point, an optional exponent; or NaN / ±Infinity
 * as PostgreSQL prints them. */
gboolean
carb_value_is_decimal (const char *text, gsize len)
{
  static const char *const special[] = { "NaN", "Infinity", "-Infinity" };
  for (guint i = 0; i < G_N_ELEMENTS (special); i++)
    if (len == strlen (special[i]) && memcmp (text, special[i], len) == 0)
      return TRUE;

  Scan s = { text, text + len };
  if (s.p < s.end && (*s.p == '-' || *s.p == '+'))
    s.p++;
  gboolean int_digits = eat_digits (&s);
  gboolean frac_digits = FALSE;
  if (s.p < s.end && *s.p == '.')
    {
      s.p++;
      frac_digits = eat_digits (&s);
    }
  if (!int_digits && !frac_digits)
    return FALSE;
  if (s.p < s.end && (*s.p == 'e' || *s.p == 'E'))
    {
      s.p++;
      if (s.p < s.end && (*s.p == '+' || *s.p == '-'))
        s.p++;
      if (!eat_digits (&s))
        return FALSE;
    }
  return s.p == s.end;
}
