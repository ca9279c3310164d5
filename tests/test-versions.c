/* The building blocks of two-way sync (docs/TWOWAY.md): the hybrid logical
 * clock, versions and their text form, site and row ids, changesets.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <string.h>

#define MS(ms) ((gint64) (ms) *1000)

/* Never backwards, whatever the wall clock does. */
static void
test_hlc_monotonic (void)
{
  CarbHlc clock = { 0 };
  guint64 a = carb_hlc_tick (&clock, MS (5000));
  guint64 b = carb_hlc_tick (&clock, MS (5000)); /* same millisecond */
  guint64 c = carb_hlc_tick (&clock, MS (1000)); /* wall stepped back */
  guint64 d = carb_hlc_tick (&clock, MS (9000));
  g_assert_cmpuint (a, <, b);
  g_assert_cmpuint (b, <, c);
  g_assert_cmpuint (c, <, d);
  g_assert_cmpint (carb_hlc_get_wall_ms (a), ==, 5000);
  g_assert_cmpint (carb_hlc_get_wall_ms (c), ==, 5000);
  g_assert_cmpint (carb_hlc_get_wall_ms (d), ==, 9000);

  /* A full counter carries into the next millisecond. */
  CarbHlc busy = { 0 };
  guint64 last = 0;
  for (guint i = 0; i < (1u << CARB_HLC_COUNTER_BITS) + 5; i++)
    {
      guint64 t = carb_hlc_tick (&busy, MS (7000));
      g_assert_cmpuint (t, >, last);
      last = t;
    }
  g_assert_cmpint (carb_hlc_get_wall_ms (last), ==, 7001);
}

/* An edit made after seeing a version beats it, even from a device whose
 * wall clock is years behind (prior-art holes 2 and 5). */
static void
test_hlc_causal (void)
{
  CarbHlc ahead = { 0 }, behind = { 0 };
  CarbVersion seen = { carb_hlc_tick (&ahead, MS (G_GINT64_CONSTANT (2208988800000))), 2 }; /* 2040 */
  carb_hlc_observe (&behind, seen.hlc);
  CarbVersion edit = { carb_hlc_tick (&behind, MS (G_GINT64_CONSTANT (1577836800000))), 1 }; /* 2020 */
  g_assert_cmpint (carb_version_compare (&edit, &seen), >, 0);
  /* Observing an older time changes nothing. */
  carb_hlc_observe (&behind, 1);
  g_assert_cmpuint (carb_hlc_tick (&behind, 0), >, edit.hlc);
}

static void
test_version_text (void)
{
  g_autoptr (GError) error = NULL;
  GRand *rand = g_rand_new_with_seed (7);
  for (guint i = 0; i < 2000; i++)
    {
      /* hlc fills 63 bits (the text form's range); sites all 64. */
      CarbVersion a = { (((guint64) g_rand_int (rand) << 32) | g_rand_int (rand)) & G_MAXINT64,
                        i % 5 == 0 ? G_MAXUINT64 - (guint64) g_rand_int_range (rand, 0, 4)
                                   : (guint64) g_rand_int_range (rand, 0, 4) };
      CarbVersion b
          = { i % 3 == 0 ? a.hlc : (((guint64) g_rand_int (rand) << 32) | g_rand_int (rand)) & G_MAXINT64,
              g_rand_int_range (rand, 0, 4) };
      g_autofree char *sa = carb_version_to_string (&a);
      g_autofree char *sb = carb_version_to_string (&b);
      g_assert_cmpuint (strlen (sa), ==, CARB_VERSION_TEXT_LENGTH);
      int by_text = strcmp (sa, sb);
      int by_value = carb_version_compare (&a, &b);
      g_assert_cmpint ((by_text > 0) - (by_text < 0), ==, by_value);
      CarbVersion back;
      g_assert_true (carb_version_parse (sa, &back, &error));
      g_assert_cmpint (carb_version_compare (&a, &back), ==, 0);
    }
  g_rand_free (rand);

  /* The largest hlc the form holds, and one past it. */
  CarbVersion top = { G_MAXINT64, 1 };
  g_autofree char *top_text = carb_version_to_string (&top);
  g_assert_cmpstr (top_text, ==, "92233720368547758070000000000000001");
  CarbVersion highest = { 0, 0 };
  g_assert_true (carb_version_parse ("9223372036854775807ffffffffffffffff", &highest, &error));
  g_assert_cmpuint (highest.hlc, ==, G_MAXINT64);
  g_assert_cmpuint (highest.site, ==, G_MAXUINT64);
  g_assert_true (carb_version_parse ("0000000000000000042000000000000abcd", &highest, &error));
  g_assert_cmpuint (highest.hlc, ==, 42);
  g_assert_cmpuint (highest.site, ==, 0xabcd);
  static const char *const bad[]
      = { "", "0", "0000000000000000000000000000000000g", "000000000000000000000000000000000A",
          "0000000000000000000000000000000000000", "000000000000000000a0000000000000000",
          "92233720368547758080000000000000000", " 0000000000000000000000000000000000",
          /* Either side of each digit range, one short, far over. */
          "/0000000000000000000000000000000000", "000000000000000000:0000000000000000",
          "0000000000000000000000000000000000`", "0000000000000000000000000000000000/",
          "0000000000000000000000000000000000", "99999999999999999990000000000000000" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      CarbVersion v;
      g_assert_false (carb_version_parse (bad[i], &v, &error));
      g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
      g_clear_error (&error);
    }
}

/* Every byte in every place of the site's 16 hexadecimal digits (checked
 * eight bytes at a time): only '0'–'9' and 'a'–'f' are a version. */
static void
test_version_text_bytes (void)
{
  for (guint place = 19; place < CARB_VERSION_TEXT_LENGTH; place++)
    for (guint byte = 1; byte < 256; byte++)
      {
        char text[] = "0000000000000000042000000000000abcd";
        text[place] = (char) byte;
        gboolean hex = g_ascii_isdigit (byte) || (byte >= 'a' && byte <= 'f');
        CarbVersion v = { 1, 1 };
        g_assert_cmpint (carb_version_parse (text, &v, NULL), ==, hex);
        if (hex)
          g_assert_cmpuint (v.hlc, ==, 42);
      }
}

/* Random, not time-derived: no collisions, canonical v4 form (hole 8). */
static void
test_ids (void)
{
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < 20000; i++)
    {
      char *id = carb_new_uuid ();
      g_assert_cmpuint (strlen (id), ==, 36);
      g_assert_cmpint (id[14], ==, '4');
      g_assert_nonnull (strchr ("89ab", id[19]));
      g_assert_true (g_hash_table_add (seen, id));
    }
  g_assert_cmpuint (carb_new_site_id (), !=, carb_new_site_id ());
}

static void
test_changeset (void)
{
  g_autoptr (GError) error = NULL;
  CarbChange in[] = {
    { (char *) "todos", (char *) "1", (char *) "title", { 10, 1 }, g_variant_new_string ("milk ✓") },
    { (char *) "todos", (char *) "1", (char *) "note", { 11, 1 }, NULL },
    { (char *) "todos", (char *) "2", (char *) "deleted", { 12, 9 }, g_variant_new_boolean (TRUE) },
    { (char *) "items", (char *) "2", (char *) "n", { G_MAXUINT64, G_MAXUINT64 }, g_variant_new_int64 (-1) },
  };
  for (guint i = 0; i < G_N_ELEMENTS (in); i++)
    if (in[i].value != NULL)
      g_variant_ref_sink (in[i].value);
  g_autoptr (GBytes) bytes = carb_changeset_serialize (in, G_N_ELEMENTS (in));
  g_autoptr (GArray) out = carb_changeset_parse (bytes, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, ==, G_N_ELEMENTS (in));
  for (guint i = 0; i < out->len; i++)
    {
      const CarbChange *c = &g_array_index (out, CarbChange, i);
      g_assert_cmpstr (c->table, ==, in[i].table);
      g_assert_cmpstr (c->row_id, ==, in[i].row_id);
      g_assert_cmpstr (c->column, ==, in[i].column);
      g_assert_cmpint (carb_version_compare (&c->version, &in[i].version), ==, 0);
      if (in[i].value == NULL)
        g_assert_null (c->value);
      else
        g_assert_true (g_variant_equal (c->value, in[i].value));
    }
  for (guint i = 0; i < G_N_ELEMENTS (in); i++)
    g_clear_pointer (&in[i].value, g_variant_unref);

  /* Hostile bytes: every truncation and a run of random buffers are errors
   * or well-formed changesets, never a crash. */
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  for (gsize cut = 0; cut < len; cut++)
    {
      g_autoptr (GBytes) part = g_bytes_new (data, cut);
      g_autoptr (GArray) r = carb_changeset_parse (part, NULL);
      (void) r;
    }
  GRand *rand = g_rand_new_with_seed (11);
  for (guint i = 0; i < 2000; i++)
    {
      guint8 junk[64];
      gsize n = (gsize) g_rand_int_range (rand, 0, sizeof junk);
      for (gsize k = 0; k < n; k++)
        junk[k] = (guint8) g_rand_int (rand);
      g_autoptr (GBytes) b = g_bytes_new (junk, n);
      g_autoptr (GError) e = NULL;
      g_autoptr (GArray) r = carb_changeset_parse (b, &e);
      g_assert_true ((r == NULL) == (e != NULL));
    }
  g_rand_free (rand);

  /* Another format version is refused by name. */
  g_autoptr (GVariant) other = g_variant_ref_sink (g_variant_new_parsed ("(uint32 2, @a(ssa(s(tt)mv)) [])"));
  g_autoptr (GBytes) other_bytes = g_variant_get_data_as_bytes (other);
  g_assert_null (carb_changeset_parse (other_bytes, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "format"));
}

/* GLib's own bytes for @changes, from a tree of GVariants: what
 * carb_changeset_serialize() must write, byte for byte. */
static GBytes *
glib_changeset (const CarbChange *changes, gsize n)
{
  GVariantBuilder rows;
  g_variant_builder_init (&rows, G_VARIANT_TYPE ("a(ssa(s(tt)mv))"));
  for (gsize i = 0; i < n;)
    {
      const CarbChange *first = &changes[i];
      GVariantBuilder columns;
      g_variant_builder_init (&columns, G_VARIANT_TYPE ("a(s(tt)mv)"));
      for (; i < n && strcmp (first->table, changes[i].table) == 0
             && strcmp (first->row_id, changes[i].row_id) == 0;
           i++)
        g_variant_builder_add (
            &columns, "(s(tt)@mv)", changes[i].column, changes[i].version.hlc, changes[i].version.site,
            g_variant_new_maybe (G_VARIANT_TYPE_VARIANT,
                                 changes[i].value != NULL ? g_variant_new_variant (changes[i].value) : NULL));
      g_variant_builder_add (&rows, "(ss@a(s(tt)mv))", first->table, first->row_id,
                             g_variant_builder_end (&columns));
    }
  g_autoptr (GVariant) set
      = g_variant_ref_sink (g_variant_new ("(u@a(ssa(s(tt)mv)))", 1u, g_variant_builder_end (&rows)));
  return g_variant_get_data_as_bytes (set);
}

static void
check_bytes (const CarbChange *changes, gsize n)
{
  g_autoptr (GBytes) ours = carb_changeset_serialize (changes, n);
  g_autoptr (GBytes) glib = glib_changeset (changes, n);
  g_assert_true (g_bytes_equal (ours, glib));
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) back = carb_changeset_parse (ours, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (back->len, ==, n);
  for (gsize i = 0; i < n; i++)
    {
      const CarbChange *c = &g_array_index (back, CarbChange, i);
      g_assert_cmpstr (c->table, ==, changes[i].table);
      g_assert_cmpstr (c->row_id, ==, changes[i].row_id);
      g_assert_cmpstr (c->column, ==, changes[i].column);
      g_assert_cmpint (carb_version_compare (&c->version, &changes[i].version), ==, 0);
      g_assert_true ((c->value == NULL) == (changes[i].value == NULL));
      if (c->value != NULL)
        g_assert_true (g_variant_equal (c->value, changes[i].value));
    }
}

/* The changeset writer writes GLib's normal form itself (no GVariant
 * tree): every value type, nothing, empty values, and sizes that need
 * framing offsets of 1, 2 and 4 bytes, at every level. */
static void
test_changeset_bytes (void)
{
  check_bytes (NULL, 0);
  g_autofree char *mid = g_strnfill (300, 'm');
  g_autofree char *big = g_strnfill (70000, 'b');
  const char *strv[] = { "a", "", "ccc", NULL };
  GVariant *values[] = {
    g_variant_new_string (""),
    g_variant_new_string ("x"),
    g_variant_new_string (mid),
    g_variant_new_string (big),
    g_variant_new_int32 (-7),
    g_variant_new_int64 (G_MININT64),
    g_variant_new_boolean (TRUE),
    g_variant_new_double (0.25),
    g_variant_new_byte (3),
    g_variant_new_strv (strv, -1),
    g_variant_new_strv (NULL, 0),
    g_variant_new_parsed ("@ay []"),
    g_variant_new_parsed ("[byte 1, 2, 3]"),
    g_variant_new_parsed ("<<int16 5>>"),
    g_variant_new_parsed ("()"),
    g_variant_new_parsed ("@mi nothing"),
    g_variant_new_parsed ("{'k': <1>}"),
    NULL,
  };
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    if (values[i] != NULL)
      g_variant_ref_sink (values[i]);
  /* Each value alone, in a row with a short and a long id. */
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      CarbChange one[] = {
        { (char *) "t", (char *) "r", (char *) "c", { i, 2 }, values[i] },
        { (char *) "t", mid, (char *) "", { 1, i }, values[i] },
      };
      check_bytes (one, 1);
      check_bytes (one, 2);
    }
  /* All of them in one row, then one row each, then many rows. */
  g_autoptr (GArray) all = g_array_new (FALSE, FALSE, sizeof (CarbChange));
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      char *name = g_strdup_printf ("col%u", i);
      g_ptr_array_add (names, name);
      CarbChange c = { (char *) "tbl", (char *) "row", name, { 100 + i, 7 }, values[i] };
      g_array_append_val (all, c);
    }
  check_bytes ((CarbChange *) (gpointer) all->data, all->len);
  for (guint i = 0; i < all->len; i++)
    g_array_index (all, CarbChange, i).row_id = names->pdata[i];
  check_bytes ((CarbChange *) (gpointer) all->data, all->len);
  g_autoptr (GArray) many = g_array_new (FALSE, FALSE, sizeof (CarbChange));
  for (guint i = 0; i < 3000; i++)
    {
      CarbChange c = {
        (char *) "tbl", names->pdata[(i / 3) % names->len], names->pdata[i % 3], { i, i }, values[i % 3]
      };
      g_array_append_val (many, c);
    }
  check_bytes ((CarbChange *) (gpointer) many->data, many->len);
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    g_clear_pointer (&values[i], g_variant_unref);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/versions/hlc-monotonic", test_hlc_monotonic);
  g_test_add_func ("/versions/hlc-causal", test_hlc_causal);
  g_test_add_func ("/versions/version-text", test_version_text);
  g_test_add_func ("/versions/version-text-bytes", test_version_text_bytes);
  g_test_add_func ("/versions/ids", test_ids);
  g_test_add_func ("/versions/changeset", test_changeset);
  g_test_add_func ("/versions/changeset-bytes", test_changeset_bytes);
  return g_test_run ();
}
