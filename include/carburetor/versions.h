/* Carburetor — versions of column writes for two-way sync: a hybrid
 * logical clock, site ids, random row ids, and changesets as bytes
 * (docs/TWOWAY.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if !defined(CARBURETOR_INSIDE) && !defined(CARBURETOR_COMPILATION)
#error "Only <carburetor/carburetor.h> can be included directly."
#endif

#include <carburetor/version.h>
#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * CarbVersion:
 * @hlc: hybrid logical clock: milliseconds since the Unix epoch in the high
 *   48 bits, a counter in the low 16.
 * @site: the writing replica's site id.
 *
 * The version of one column write. Versions order totally: by @hlc, then
 * by @site.
 */
typedef struct
{
  guint64 hlc;
  guint64 site;
} CarbVersion;

/**
 * CarbHlc:
 *
 * A site's hybrid logical clock: never goes backwards, and runs past every
 * version the site has seen. Plain data; one per replica, guarded by the
 * replica's lock.
 */
typedef struct
{
  guint64 last;
} CarbHlc;

#define CARB_HLC_COUNTER_BITS 16

/**
 * CARB_VERSION_TEXT_LENGTH:
 *
 * The length of a version's text form (carb_version_to_string()).
 */
#define CARB_VERSION_TEXT_LENGTH 35

CARB_AVAILABLE_IN_ALL
guint64 carb_hlc_tick (CarbHlc *clock, gint64 wall_us);
CARB_AVAILABLE_IN_ALL
void carb_hlc_observe (CarbHlc *clock, guint64 seen);
CARB_AVAILABLE_IN_ALL
gint64 carb_hlc_get_wall_ms (guint64 hlc);

CARB_AVAILABLE_IN_ALL
int carb_version_compare (const CarbVersion *a, const CarbVersion *b);
CARB_AVAILABLE_IN_ALL
char *carb_version_to_string (const CarbVersion *version);
CARB_AVAILABLE_IN_ALL
gboolean carb_version_parse (const char *text, CarbVersion *version, GError **error);

CARB_AVAILABLE_IN_ALL
guint64 carb_new_site_id (void);
CARB_AVAILABLE_IN_ALL
char *carb_new_uuid (void);

/**
 * CarbChange:
 * @table: the table.
 * @row_id: the row's id, as text.
 * @column: (nullable): the column written; %NULL for a **withdrawal**, a
 *   row with no column, which only a download page carries: the row left
 *   the replica's view (its filter column moved to another value), and
 *   the replica drops it (docs/TWOWAY.md, "Row filters").
 * @version: the write's version ((0, 0) for a withdrawal).
 * @value: (nullable): the value written; %NULL for SQL NULL.
 *
 * One column write of a changeset.
 */
typedef struct
{
  char *table;
  char *row_id;
  char *column;
  CarbVersion version;
  GVariant *value;
} CarbChange;

CARB_AVAILABLE_IN_ALL
GBytes *carb_changeset_serialize (const CarbChange *changes, gsize n_changes);
CARB_AVAILABLE_IN_ALL
GArray *carb_changeset_parse (GBytes *bytes, GError **error);

G_END_DECLS
