/* Model declarations: the timestamp-column rule and the checks that need
 * no database.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <string.h>

typedef struct
{
  gint64 id;
  char *name;
  gint64 changed_at;
  gint64 last_synced_at;
  gboolean deleted;
  gint32 score;
  gboolean score_is_null;
} Item;

/* Marked explicitly: changed_at wins over the conventional name. */
CARB_DEFINE_STATIC_MODEL (marked_model,
                          Item,
                          NULL,
                          "items",
                          CARB_ID (Item, id, INT64),
                          CARB_COLUMN (Item, name, TEXT),
                          CARB_TIMESTAMP (Item, changed_at),
                          CARB_COLUMN (Item, last_synced_at, TIMESTAMP),
                          CARB_DELETED (Item, deleted),
                          CARB_COLUMN_NULLABLE_FLAG (Item, score, INT32, score_is_null));

/* Not marked: the column named last_synced_at is used. */
CARB_DEFINE_STATIC_MODEL (default_model,
                          Item,
                          "app",
                          "items",
                          CARB_ID (Item, id, INT64),
                          CARB_COLUMN (Item, changed_at, TIMESTAMP),
                          CARB_COLUMN (Item, last_synced_at, TIMESTAMP));

/* Neither: rejected with a message that says how to fix it. */
CARB_DEFINE_STATIC_MODEL (no_timestamp_model,
                          Item,
                          NULL,
                          "items",
                          CARB_ID (Item, id, INT64),
                          CARB_COLUMN (Item, changed_at, TIMESTAMP));

CARB_DEFINE_STATIC_MODEL (two_timestamps_model,
                          Item,
                          NULL,
                          "items",
                          CARB_ID (Item, id, INT64),
                          CARB_TIMESTAMP (Item, changed_at),
                          CARB_TIMESTAMP (Item, last_synced_at));

CARB_DEFINE_STATIC_MODEL (
    no_id_model, Item, NULL, "items", CARB_COLUMN (Item, id, INT64), CARB_TIMESTAMP (Item, changed_at));

CARB_DEFINE_STATIC_MODEL (duplicate_model,
                          Item,
                          NULL,
                          "items",
                          CARB_ID (Item, id, INT64),
                          CARB_TIMESTAMP (Item, changed_at),
                          CARB_COLUMN_FULL (Item, name, "changed_at", TEXT, DATA, CARB_COLUMN_FLAGS_NONE));

/* Two-way sync: version columns (docs/TWOWAY.md). */
typedef struct
{
  gint64 id;
  char *title;
  gint64 ts;
  gboolean deleted;
  char *title__v;
  char *deleted__v;
  char *ts__v;
  char *id__v;
  char *nothing__v;
  char *v;
  gint64 count__v;
  gint64 last_synced_at;
  char *last_synced_at__v;
} Versioned;

CARB_DEFINE_STATIC_MODEL (versioned_model,
                          Versioned,
                          NULL,
                          "items",
                          CARB_ID (Versioned, id, INT64),
                          CARB_COLUMN (Versioned, title, TEXT),
                          CARB_TIMESTAMP (Versioned, ts),
                          CARB_DELETED (Versioned, deleted),
                          CARB_VERSION (Versioned, title__v),
                          CARB_VERSION (Versioned, deleted__v));

#define VERSIONED_BASE                                                                                       \
  CARB_ID (Versioned, id, INT64), CARB_COLUMN (Versioned, title, TEXT), CARB_TIMESTAMP (Versioned, ts)

CARB_DEFINE_STATIC_MODEL (
    version_of_ts_model, Versioned, NULL, "items", VERSIONED_BASE, CARB_VERSION (Versioned, ts__v));
CARB_DEFINE_STATIC_MODEL (
    version_of_id_model, Versioned, NULL, "items", VERSIONED_BASE, CARB_VERSION (Versioned, id__v));
CARB_DEFINE_STATIC_MODEL (
    version_of_nothing_model, Versioned, NULL, "items", VERSIONED_BASE, CARB_VERSION (Versioned, nothing__v));
CARB_DEFINE_STATIC_MODEL (
    version_no_suffix_model, Versioned, NULL, "items", VERSIONED_BASE, CARB_VERSION (Versioned, v));
CARB_DEFINE_STATIC_MODEL (
    version_not_text_model,
    Versioned,
    NULL,
    "items",
    VERSIONED_BASE,
    CARB_COLUMN_FULL (Versioned, count__v, "title__v", INT64, VERSION, CARB_COLUMN_FLAGS_NONE));
CARB_DEFINE_STATIC_MODEL (
    version_of_version_model,
    Versioned,
    NULL,
    "items",
    VERSIONED_BASE,
    CARB_VERSION (Versioned, title__v),
    CARB_COLUMN_FULL (Versioned, v, "title__v__v", TEXT, VERSION, CARB_COLUMN_FLAGS_NULLABLE));

/* The implicit timestamp is a DATA column until it is found. */
CARB_DEFINE_STATIC_MODEL (version_of_implicit_ts_model,
                          Versioned,
                          NULL,
                          "items",
                          CARB_ID (Versioned, id, INT64),
                          CARB_COLUMN (Versioned, last_synced_at, TIMESTAMP),
                          CARB_VERSION (Versioned, last_synced_at__v));

static void
assert_invalid (const CarbModel *model, const char *fragment)
{
  g_autoptr (GError) error = NULL;
  g_assert_false (carb_model_validate (model, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr (error->message, "“items”"));
  if (strstr (error->message, fragment) == NULL)
    g_error ("“%s” does not say “%s”", error->message, fragment);
}

static void
test_descriptor (void)
{
  g_assert_cmpuint (marked_model.n_columns, ==, 6);
  g_assert_cmpuint (marked_model.struct_size, ==, sizeof (Item));
  g_assert_cmpstr (marked_model.columns[1].name, ==, "name");
  g_assert_cmpint (marked_model.columns[1].type, ==, CARB_COLUMN_TYPE_TEXT);
  g_assert_cmpuint (marked_model.columns[1].offset, ==, G_STRUCT_OFFSET (Item, name));
  g_assert_cmpint (marked_model.columns[2].role, ==, CARB_COLUMN_ROLE_TIMESTAMP);
  g_assert_cmpint (marked_model.columns[5].null_offset, ==, G_STRUCT_OFFSET (Item, score_is_null));
  g_assert_true (marked_model.columns[5].flags & CARB_COLUMN_FLAGS_NULLABLE);
  g_assert_cmpstr (default_model.schema, ==, "app");
}

static void
test_timestamp_marked (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_model_validate (&marked_model, &error));
  g_assert_no_error (error);
}

static void
test_timestamp_default_name (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_model_validate (&default_model, &error));
  g_assert_no_error (error);
}

static void
test_timestamp_missing (void)
{
  assert_invalid (&no_timestamp_model, "mark one with CARB_TIMESTAMP");
  assert_invalid (&no_timestamp_model, "last_synced_at");
}

static void
test_timestamp_twice (void)
{
  assert_invalid (&two_timestamps_model, "“changed_at” and “last_synced_at” are both marked");
}

static void
test_no_id (void)
{
  assert_invalid (&no_id_model, "no id column");
}

static void
test_duplicate_column (void)
{
  assert_invalid (&duplicate_model, "“changed_at” is declared twice");
}

/* Models built at run time are checked like macro-made ones. */
static void
test_runtime_model (void)
{
  CarbColumn columns[] = {
    { .name = "id",
      .type = CARB_COLUMN_TYPE_INT64,
      .role = CARB_COLUMN_ROLE_ID,
      .offset = 0,
      .size = 8,
      .null_offset = -1 },
    { .name = "last_synced_at",
      .type = CARB_COLUMN_TYPE_TIMESTAMP,
      .offset = 8,
      .size = 8,
      .null_offset = -1 },
  };
  CarbModel model = { CARB_MODEL_VERSION, NULL, "items", 16, columns, 2 };
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_model_validate (&model, &error));
  g_assert_no_error (error);

  columns[1].size = 4; /* a gint32 member for a TIMESTAMP */
  assert_invalid (&model, "“last_synced_at” is TIMESTAMP but its member is 4 bytes");
  columns[1].size = 8;
  columns[1].offset = 12; /* past the struct's end */
  assert_invalid (&model, "outside the 16-byte struct");
  columns[1].offset = 8;
  model.version = 99;
  assert_invalid (&model, "descriptor version 99");
}

static void
test_versions (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (carb_model_validate (&versioned_model, &error));
  g_assert_no_error (error);
  g_assert_cmpint (versioned_model.columns[4].role, ==, CARB_COLUMN_ROLE_VERSION);

  assert_invalid (&version_of_ts_model, "version column “ts__v” versions no data or is-deleted column “ts”");
  assert_invalid (&version_of_id_model, "version column “id__v” versions no data or is-deleted column “id”");
  assert_invalid (&version_of_nothing_model, "versions no data or is-deleted column “nothing”");
  assert_invalid (&version_no_suffix_model, "version column “v” must be named after its column plus “__v”");
  assert_invalid (&version_not_text_model, "version column “title__v” must be of type TEXT, not INT64");
  assert_invalid (&version_of_version_model,
                  "“title__v__v” versions no data or is-deleted column “title__v”");
  assert_invalid (&version_of_implicit_ts_model,
                  "version column “last_synced_at__v” versions the timestamp column “last_synced_at”");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/descriptor", test_descriptor);
  g_test_add_func ("/model/timestamp/marked", test_timestamp_marked);
  g_test_add_func ("/model/timestamp/default-name", test_timestamp_default_name);
  g_test_add_func ("/model/timestamp/missing", test_timestamp_missing);
  g_test_add_func ("/model/timestamp/twice", test_timestamp_twice);
  g_test_add_func ("/model/no-id", test_no_id);
  g_test_add_func ("/model/duplicate-column", test_duplicate_column);
  g_test_add_func ("/model/runtime", test_runtime_model);
  g_test_add_func ("/model/versions", test_versions);
  return g_test_run ();
}
