/* Deliberately broken plugins for the loader's tests: each variant is
 * built from this file with one BAD_* macro defined.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/sys/backend.h>

#if !defined(BAD_NOENTRY)

static CarbBackend *
bad_open (const char *uri, GError **error)
{
  g_set_error (error, CARB_ERROR, CARB_ERROR_CONNECTION, "bad plugin cannot open %s", uri);
  return NULL;
}

static void
bad_close (CarbBackend *backend)
{
}

static const CarbBackendVTable vtable = {
#if defined(BAD_ABI)
  .abi_version = 99,
#else
  .abi_version = CARB_BACKEND_ABI_VERSION,
#endif
#if defined(BAD_SMALL)
  .struct_size = 16,
#else
  .struct_size = sizeof (CarbBackendVTable),
#endif
  .name = "bad",
  .open = bad_open,
  .close = bad_close,
#if !defined(BAD_NULLMEMBER)
  .describe_table = (gpointer) bad_open,
  .prepare_table = (gpointer) bad_open,
  .download = (gpointer) bad_open,
  .execute = (gpointer) bad_open,
#endif
};

CARB_BACKEND_EXPORT const CarbBackendVTable *carburetor_backend_entry (guint32 core_abi_version);

const CarbBackendVTable *
carburetor_backend_entry (guint32 core_abi_version)
{
#if defined(BAD_REFUSES)
  return core_abi_version == 0 ? &vtable : NULL; /* never 0: refuses */
#else
  return &vtable;
#endif
}

#else
CARB_BACKEND_EXPORT int carburetor_not_the_entry (void);
int
carburetor_not_the_entry (void)
{
  return 0;
}
#endif
