/* Carburetor — versions of column writes: a hybrid logical clock, site
 * ids and random row ids (docs/TWOWAY.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#define COUNTER_MASK ((G_GUINT64_CONSTANT (1) << CARB_HLC_COUNTER_BITS) - 1)

/**
 * carb_hlc_tick:
 * @clock: a site's clock
 * @wall_us: the wall clock now, µs since the Unix epoch
 *   (g_get_real_time())
 *
 * The hybrid logical time of a new write: the wall clock's millisecond
 * when it is ahead of every time the clock has given or seen, else one
 * more than the last (the counter; a full counter carries into the next
 * millisecond, so the result always grows). A wall clock stepped back
 * never makes a write older than one made before.
 *
 * Returns: a time greater than every time @clock gave or observed
 */
guint64
carb_hlc_tick (CarbHlc *clock, gint64 wall_us)
{
  g_return_val_if_fail (clock != NULL, 0);
  guint64 wall = wall_us > 0 ? ((guint64) (wall_us / 1000)) << CARB_HLC_COUNTER_BITS : 0;
  clock->last = wall > clock->last ? wall : clock->last + 1;
  return clock->last;
}

/**
 * carb_hlc_observe:
 * @clock: a site's clock
 * @seen: a hybrid logical time read from another site
 *
 * Moves @clock past @seen, so that the site's next write is ordered after
 * everything it has seen, whatever its own wall clock says.
 */
void
carb_hlc_observe (CarbHlc *clock, guint64 seen)
{
  g_return_if_fail (clock != NULL);
  if (seen > clock->last)
    clock->last = seen;
}

/**
 * carb_hlc_get_wall_ms:
 * @hlc: a hybrid logical time
 *
 * Returns: its wall-clock part, milliseconds since the Unix epoch
 */
gint64
carb_hlc_get_wall_ms (guint64 hlc)
{
  return (gint64) (hlc >> CARB_HLC_COUNTER_BITS);
}

/**
 * carb_version_compare:
 * @a: a version
 * @b: another version
 *
 * Returns: negative, 0 or positive as @a orders before, with or after @b
 */
int
carb_version_compare (const CarbVersion *a, const CarbVersion *b)
{
  if (a->hlc != b->hlc)
    return a->hlc < b->hlc ? -1 : 1;
  if (a->site != b->site)
    return a->site < b->site ? -1 : 1;
  return 0;
}

/**
 * carb_version_to_string:
 * @version: a version whose @hlc is at most %G_MAXINT64
 *
 * The text form SQL stores and compares: the hlc as 19 zero-padded decimal
 * digits, then the site as 16 lower-case hex digits. Both parts have a
 * fixed width, so string order is version order, and a database parses
 * the hlc with a plain cast (the versioning triggers do).
 *
 * Returns: (transfer full): the %CARB_VERSION_TEXT_LENGTH characters
 */
char *
carb_version_to_string (const CarbVersion *version)
{
  return g_strdup_printf ("%019" G_GUINT64_FORMAT "%016" G_GINT64_MODIFIER "x", version->hlc, version->site);
}

/* Eight bytes that are all ASCII decimal digits: each byte's high nibble
 * is 3, and stays 3 with 6 added (0x3a–0x3f would carry into 4; no byte
 * carries into the next once the first test holds). */
static inline gboolean
eight_digits (const char *p)
{
  guint64 x;
  memcpy (&x, p, 8);
  const guint64 high = G_GUINT64_CONSTANT (0xf0f0f0f0f0f0f0f0),
                three = G_GUINT64_CONSTANT (0x3030303030303030);
  return (x & high) == three && ((x + G_GUINT64_CONSTANT (0x0606060606060606)) & high) == three;
}

/* Whether the eight bytes at @p are lower-case hexadecimal digits: bytes
 * below 0x80, then per byte (each sum stays in its byte) whether it is in
 * '0'–'9' (0x30–0x39) or 'a'–'f' (0x61–0x66), the high bit of each sum
 * telling whether the byte reached a bound. */
static inline gboolean
eight_lower_hex (const char *p)
{
  guint64 x;
  memcpy (&x, p, 8);
  const guint64 ones = G_GUINT64_CONSTANT (0x0101010101010101), high = ones * 0x80;
  if ((x & high) != 0)
    return FALSE;
  guint64 from_0 = x + ones * (0x80 - '0'), past_9 = x + ones * (0x80 - '9' - 1);
  guint64 from_a = x + ones * (0x80 - 'a'), past_f = x + ones * (0x80 - 'f' - 1);
  return (((from_0 & ~past_9) | (from_a & ~past_f)) & high) == high;
}

/* Whether carb_version_parse() accepts @text: 19 decimal digits at most
 * G_MAXINT64 (fixed width: text order is number order), 16 lower-case
 * hexadecimal digits, the end. A first fill checks six versions a row, so
 * this is eight bytes at a time. */
gboolean
carb_version_text_is_valid (const char *text)
{
  if (strnlen (text, CARB_VERSION_TEXT_LENGTH + 1) != CARB_VERSION_TEXT_LENGTH)
    return FALSE;
  /* Digits 0–7, 8–15 and 11–18 (overlapping: 19 is not a multiple of 8). */
  if (!eight_digits (text) || !eight_digits (text + 8) || !eight_digits (text + 11)
      || !eight_lower_hex (text + 19) || !eight_lower_hex (text + 27))
    return FALSE;
  return text[0] != '9' || memcmp (text, "9223372036854775807", 19) <= 0;
}

/* The number of eight decimal digits (checked by eight_digits()), the
 * first the most significant: digit pairs, then pairs of pairs, then the
 * two halves, each step one multiply-add across the word. */
static inline guint32
eight_digits_value (const char *p)
{
  guint64 x;
  memcpy (&x, p, 8);
  x = GUINT64_FROM_LE (x) - G_GUINT64_CONSTANT (0x3030303030303030);
  /* Byte i is digit i; each 16-bit lane becomes 10 × first + second. */
  x = ((x & G_GUINT64_CONSTANT (0x000f000f000f000f)) * 10
       + ((x >> 8) & G_GUINT64_CONSTANT (0x000f000f000f000f)));
  /* Each 32-bit lane: 100 × first pair + second pair. */
  x = ((x & G_GUINT64_CONSTANT (0x000000ff000000ff)) * 100
       + ((x >> 16) & G_GUINT64_CONSTANT (0x000000ff000000ff)));
  return (guint32) ((x & 0xffffffffu) * 10000 + (x >> 32));
}

/* The number of eight lower-case hexadecimal digits (checked), the first
 * the most significant: '0'–'9' keep their low nibble, 'a'–'f' (0x61–0x66)
 * add 9 to theirs. */
static inline guint32
eight_hex_value (const char *p)
{
  guint64 x;
  memcpy (&x, p, 8);
  x = GUINT64_FROM_LE (x);
  x = (x & G_GUINT64_CONSTANT (0x0f0f0f0f0f0f0f0f))
      + ((x >> 6) & G_GUINT64_CONSTANT (0x0101010101010101)) * 9;
  /* Byte i is nibble i: pairs to bytes, then the bytes in order. */
  x = ((x & G_GUINT64_CONSTANT (0x000f000f000f000f)) << 4)
      | ((x >> 8) & G_GUINT64_CONSTANT (0x000f000f000f000f));
  return (guint32) ((x & 0xff) << 24 | ((x >> 16) & 0xff) << 16 | ((x >> 32) & 0xff) << 8 | (x >> 48));
}

/* The version of a text carb_version_text_is_valid() accepted. */
static CarbVersion
version_of_valid_text (const char *text)
{
  /* 19 digits: the first three, then two runs of eight. */
  guint64 top = (guint64) (text[0] - '0') * 100 + (guint64) (text[1] - '0') * 10 + (guint64) (text[2] - '0');
  return (CarbVersion){
    top * G_GUINT64_CONSTANT (10000000000000000)
        + (guint64) eight_digits_value (text + 3) * G_GUINT64_CONSTANT (100000000)
        + eight_digits_value (text + 11),
    (guint64) eight_hex_value (text + 19) << 32 | eight_hex_value (text + 27),
  };
}

void
carb_version_to_blob (const CarbVersion *version, guint8 blob[CARB_VERSION_BLOB_LENGTH])
{
  guint64 hlc = GUINT64_TO_BE (version->hlc), site = GUINT64_TO_BE (version->site);
  memcpy (blob, &hlc, 8);
  memcpy (blob + 8, &site, 8);
}

gboolean
carb_version_from_blob (const void *data, gsize len, CarbVersion *version)
{
  guint64 hlc, site;
  if (data == NULL || len != CARB_VERSION_BLOB_LENGTH)
    return FALSE;
  memcpy (&hlc, data, 8);
  memcpy (&site, (const guint8 *) data + 8, 8);
  hlc = GUINT64_FROM_BE (hlc);
  if (hlc > G_MAXINT64)
    return FALSE;
  version->hlc = hlc;
  version->site = GUINT64_FROM_BE (site);
  return TRUE;
}

gboolean
carb_version_text_to_blob (const char *text, guint8 blob[CARB_VERSION_BLOB_LENGTH])
{
  if (!carb_version_text_is_valid (text))
    return FALSE;
  CarbVersion v = version_of_valid_text (text);
  carb_version_to_blob (&v, blob);
  return TRUE;
}

/**
 * carb_version_parse:
 * @text: a version from carb_version_to_string()
 * @version: (out caller-allocates): the version
 * @error: return location for a #GError
 *
 * Returns: %TRUE, or %FALSE with %CARB_ERROR_INVALID_DATA
 */
gboolean
carb_version_parse (const char *text, CarbVersion *version, GError **error)
{
  g_return_val_if_fail (text != NULL && version != NULL, FALSE);
  if (!carb_version_text_is_valid (text))
    {
      g_autofree char *shown = g_utf8_make_valid (text, MIN (strlen (text), 40));
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                   "Malformed version “%s”: expected 19 decimal digits (at most %" G_GINT64_FORMAT
                   ") and 16 lower-case hexadecimal digits",
                   shown, G_MAXINT64);
      return FALSE;
    }
  *version = version_of_valid_text (text);
  return TRUE;
}

/* Bytes from the kernel's CSPRNG. Aborting is the only safe answer if it
 * cannot give them (it always can on Linux ≥ 3.17 once seeded). */
static void
random_bytes (void *buf, gsize len)
{
  guint8 *p = buf;
  while (len > 0)
    {
      ssize_t n = getrandom (p, len, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        g_error ("getrandom: %s", g_strerror (errno));
      p += n, len -= (gsize) n;
    }
}

/**
 * carb_new_site_id:
 *
 * Returns: a random 64-bit site id from the operating system's CSPRNG,
 *   never 0
 */
guint64
carb_new_site_id (void)
{
  guint64 id = 0;
  while (id == 0)
    random_bytes (&id, sizeof id);
  return id;
}

/**
 * carb_new_uuid:
 *
 * A row id that no other device will ever make: a random (version 4) UUID
 * from the operating system's CSPRNG, not derived from time.
 *
 * Returns: (transfer full): the UUID in canonical lower-case form
 */
char *
carb_new_uuid (void)
{
  guint8 b[16];
  random_bytes (b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
  b[8] = (b[8] & 0x3f) | 0x80; /* variant 10 */
  return g_strdup_printf ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                          b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                          b[15]);
}
