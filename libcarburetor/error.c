/* Carburetor — the error domain.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

G_DEFINE_QUARK (carburetor - error - quark, carb_error)
