/* libFuzzer target: sync point strings, as a device stores them and may
 * hand back corrupted. A parse either fails with a GError or yields a point
 * whose string form is the input, byte for byte, and parses back to the
 * same point.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncPoint) point = carb_sync_point_parse (text, &error);

  if (point == NULL)
    {
      g_assert_nonnull (error);
      return 0;
    }
  /* Parsing accepts only the canonical spelling, so the string form is
   * the input itself, byte for byte. */
  g_autofree char *again = carb_sync_point_to_string (point);
  g_assert_cmpstr (again, ==, text);
  g_autoptr (CarbSyncPoint) reparsed = carb_sync_point_parse (again, NULL);
  g_assert_nonnull (reparsed);
  g_assert_true (carb_sync_point_equal (point, reparsed));
  g_autofree char *third = carb_sync_point_to_string (reparsed);
  g_assert_cmpstr (again, ==, third);
  return 0;
}
