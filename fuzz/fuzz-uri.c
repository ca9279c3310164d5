/* libFuzzer target: store URIs. Discovery picks a plugin by the URI's
 * scheme (a private plugins.d whose only plugin has a missing module, so
 * nothing connects anywhere), and the PostgreSQL plugin's masking of
 * passwords in URIs must never crash or let a password through, as libpq
 * (PQconninfoParse, which parses and never connects) reads the URI.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <libpq-fe.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);
char *carb_pg_mask_uri (const char *uri);

static void
set_up (void)
{
  static char *dir;
  if (dir != NULL)
    return;
  dir = g_dir_make_tmp ("carb-fuzz-uri-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "fuzz.plugin", NULL);
  g_assert_true (g_file_set_contents (path,
                                      "[Carburetor Backend]\nName=fuzz\nModule=/nonexistent/carb-fuzz.so\n"
                                      "Schemes=fuzz;postgresql;sqlite;\nABI=1\n",
                                      -1, NULL));
  g_setenv ("CARBURETOR_PLUGIN_PATH", dir, TRUE);
}

/* The password as libpq reads a URI: userinfo runs from "://" to the
 * first '@' (if one comes before the first '/'), the password from the
 * first ':' in it. NULL when there is none. */
static char *
uri_password (const char *uri)
{
  const char *start = strstr (uri, "://");
  if (start == NULL)
    return NULL;
  start += 3;
  const char *end = start + strcspn (start, "@/");
  if (*end != '@')
    return NULL;
  const char *colon = memchr (start, ':', (gsize) (end - start));
  return colon != NULL ? g_strndup (colon + 1, (gsize) (end - colon - 1)) : NULL;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  set_up ();
  g_autofree char *uri = g_strndup ((const char *) data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  g_assert_null (store); /* no module behind any scheme here */
  g_assert_nonnull (error);

  /* Masking keeps the URI's shape and never lets a userinfo password
   * through (lower-case schemes, as libpq requires). */
  g_autofree char *masked = carb_pg_mask_uri (uri);
  g_assert_nonnull (masked);
  g_autofree char *password = uri_password (uri);
  g_autofree char *left = uri_password (masked);
  if (password != NULL && password[0] != '\0' && g_str_has_prefix (uri, "postgres"))
    g_assert_cmpstr (left, ==, "***");

  /* libpq itself is the oracle for the rest: whatever password it reads
   * from the masked URI (userinfo, password=, pass%77ord=…) is ***. The
   * plugin only ever gets URIs (libpq's conninfo strings have no scheme,
   * so carb_store_open() refuses them first). */
  gboolean is_uri = g_str_has_prefix (uri, "postgresql://") || g_str_has_prefix (uri, "postgres://");
  PQconninfoOption *options = is_uri ? PQconninfoParse (masked, NULL) : NULL;
  for (PQconninfoOption *o = options; o != NULL && o->keyword != NULL; o++)
    if (strcmp (o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
      g_assert_cmpstr (o->val, ==, "***");
  PQconninfoFree (options);
  return 0;
}
