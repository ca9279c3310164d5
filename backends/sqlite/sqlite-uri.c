/* carburetor-sqlite — the grammar of SQLite store URIs (README, "Store
 * URIs"):
 *
 *   sqlite:PATH[?PARAMS]        PATH relative to the working directory or
 *   sqlite:///ABSOLUTE[?PARAMS] absolute; percent-escapes decoded (%20)
 *   file:…                      SQLite's own URI syntax, passed as it is
 *   PARAMS = mode=ro | mode=rw | mode=rwc (the default: create if missing)
 *
 * Anything else is refused naming the part at fault: `sqlite://notes.db`
 * (a host part, not a path), an unknown parameter, a broken escape. A
 * query string is never part of a file name.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sqlite-private.h"

#include <string.h>

static gboolean
invalid (GError **error, const char *uri, const char *why)
{
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_URI, "SQLite URI “%s”: %s", uri, why);
  return FALSE;
}

static gboolean
apply_param (const char *uri, const char *param, int *flags, GError **error)
{
  static const struct
  {
    const char *text;
    int flags;
  } modes[] = {
    { "mode=ro", SQLITE_OPEN_READONLY },
    { "mode=rw", SQLITE_OPEN_READWRITE },
    { "mode=rwc", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (modes); i++)
    if (strcmp (param, modes[i].text) == 0)
      {
        *flags = (*flags & ~(SQLITE_OPEN_READONLY | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE))
                 | modes[i].flags;
        return TRUE;
      }
  g_autofree char *why
      = g_strdup_printf ("unknown parameter “%s” (known: mode=ro, mode=rw, mode=rwc)", param);
  return invalid (error, uri, why);
}

/**
 * carb_sqlite_parse_uri:
 * @uri: the store URI, scheme included
 * @flags: (inout): sqlite3_open_v2() flags, adjusted by the parameters
 * @error: set to %CARB_ERROR_INVALID_URI naming the part at fault
 *
 * Returns: (transfer full) (nullable): the file name to open
 */
char *
carb_sqlite_parse_uri (const char *uri, int *flags, GError **error)
{
  if (CARB_NAIVE_CLOCK && g_str_has_prefix (uri, CARB_NAIVE_SCHEME_PREFIX))
    uri += strlen (CARB_NAIVE_SCHEME_PREFIX);
  if (g_str_has_prefix (uri, "file:"))
    {
      *flags |= SQLITE_OPEN_URI;
      return g_strdup (uri);
    }
  const char *rest = strchr (uri, ':') + 1;
  if (g_str_has_prefix (rest, "//"))
    {
      rest += 2;
      if (rest[0] != '/')
        {
          invalid (error, uri,
                   "a host part is not a path: write sqlite:relative/path.db or sqlite:///absolute/path.db");
          return NULL;
        }
    }
  const char *query = strchr (rest, '?');
  g_autofree char *raw = g_strndup (rest, query != NULL ? (gsize) (query - rest) : strlen (rest));
  if (query != NULL)
    {
      g_auto (GStrv) params = g_strsplit (query + 1, "&", -1);
      for (guint i = 0; params[i] != NULL; i++)
        if (!apply_param (uri, params[i], flags, error))
          return NULL;
    }
  if (raw[0] == '\0')
    {
      invalid (error, uri, "names no file");
      return NULL;
    }
  char *path = g_uri_unescape_string (raw, NULL);
  if (path == NULL || path[0] == '\0')
    {
      g_free (path);
      invalid (error, uri, "a percent-escape is broken or decodes to NUL");
      return NULL;
    }
  return path;
}
