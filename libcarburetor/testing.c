/* Carburetor — switches for the test suite only (see carb-testing.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"
#include "carb-testing.h"

void
carb_store_set_unsafe_naive_clock (CarbStore *store, gboolean naive)
{
  g_return_if_fail (store != NULL);
  carb_store_set_query_flag (store, CARB_QUERY_UNSAFE_NAIVE_CLOCK, naive);
}
