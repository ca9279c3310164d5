/* Carburetor — switches for the test suite only.
 *
 * Not installed and not part of the documented API: the symbols are
 * exported so that tests/ can link them, nothing more. They exist to prove
 * that the tests can fail (a checker that cannot fail proves nothing).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <carburetor/carburetor.h>

G_BEGIN_DECLS

/* Makes every later sync of @store use the known-broken clock source
 * (%CARB_QUERY_UNSAFE_NAIVE_CLOCK: the sync point is the database's `now`),
 * which loses rows of transactions that stamp before a sync and commit
 * after it. For the stress checker's naive-clock run; never for real use. */
CARB_AVAILABLE_IN_ALL
void carb_store_set_unsafe_naive_clock (CarbStore *store, gboolean naive);

G_END_DECLS
