/* Sync points: the short string form round-trips; anything else is a
 * GError, never a guess.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>

static void
assert_round_trip (const char *text)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncPoint) point = carb_sync_point_parse (text, &error);
  g_assert_no_error (error);
  g_autofree char *again = carb_sync_point_to_string (point);
  g_assert_cmpstr (again, ==, text);
  g_autoptr (CarbSyncPoint) copy = carb_sync_point_copy (point);
  g_assert_true (carb_sync_point_equal (point, copy));
}

static void
test_round_trip (void)
{
  g_autoptr (CarbSyncPoint) point = carb_sync_point_new (G_GINT64_CONSTANT (1732523000123456));
  g_autofree char *text = carb_sync_point_to_string (point);
  g_assert_cmpstr (text, ==, "1.1732523000123456");
  g_assert_true (carb_sync_point_is_complete (point));

  assert_round_trip ("1.0");
  assert_round_trip ("1.-5");
  assert_round_trip ("1.-9223372036854775808");
  assert_round_trip ("1.9223372036854775807");
  assert_round_trip ("1.1732523000123456.i42");
  assert_round_trip ("1.1732523000123456.i-9223372036854775808");
  assert_round_trip ("1.1732523000123456.tYWJj"); /* "abc" */
  assert_round_trip ("1.1732523000123456.tPz8-"); /* "??>": the url-safe alphabet */
  assert_round_trip ("1.1732523000123456.tPz8_"); /* "???" */
  assert_round_trip ("1.1732523000123456.t");     /* "": an empty text id is an id too */
  /* Tagged points, as syncs return them. */
  assert_round_trip ("2.0000abcd.1732523000123456");
  assert_round_trip ("2.ffffffff.-5.i42");
  assert_round_trip ("2.00000000.7.t");

  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncPoint) cursor = carb_sync_point_parse ("1.7.i3", &error);
  g_assert_no_error (error);
  g_assert_false (carb_sync_point_is_complete (cursor));
  g_assert_cmpint (carb_sync_point_get_time (cursor), ==, 7);
}

static void
test_malformed (void)
{
  static const char *const bad[] = {
    "",
    "1",
    "1.",
    "2.5",
    "1.x",
    "1.5.",
    "1.5.i",
    "1.5.ix",
    "1.5.q3",
    "1.5.t=",
    "1.5.t!!!!",
    "1.5.i3.extra",
    " 1.5",
    "1.5 ",
    "1.+5",
    "1.99999999999999999999",
    "1.5.tA",
    "1.5.tAA==",
    "1.5.tAA", /* decodes to a NUL byte */
    "1.007",
    "1.-0",
    "1.5.i-0",
    "1.5.i07",
    "1.00",
    "1.5.tQR", /* 'A' with stray low bits: its canonical form is tQQ */
    "2.0000abcd",
    "2.0000abc.5",
    "2.0000abcde.5",
    "2.0000ABCD.5",
    "2.0000abcg.5",
    "2.+000abcd.5",
    "2.0000abcd.5.i3.x",
    "3.0000abcd.5",
    "2..5",
    "2.0000abcd.",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (CarbSyncPoint) point = carb_sync_point_parse (bad[i], &error);
      if (point != NULL)
        g_error ("“%s” parsed", bad[i]);
      g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_SYNC_POINT);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sync-point/round-trip", test_round_trip);
  g_test_add_func ("/sync-point/malformed", test_malformed);
  return g_test_run ();
}
