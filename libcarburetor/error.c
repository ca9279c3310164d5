/* Carburetor — the error domain.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

/* Not G_DEFINE_QUARK: it stringifies its argument, and
 * `carburetor-error-quark` is not one preprocessor token, so the domain
 * read "carburetor - error - quark". */
/**
 * carb_error_quark:
 *
 * The #GQuark of the %CARB_ERROR domain, whose string is
 * `carburetor-error-quark`.
 *
 * Returns: the error domain
 *
 * Since: 1.0
 */
GQuark
carb_error_quark (void)
{
  return g_quark_from_static_string ("carburetor-error-quark");
}
