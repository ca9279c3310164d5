/* Sync groups (docs/TWOWAY.md): what a model needs for two-way sync, the
 * wire model with its version columns, and the rules a group carries.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <string.h>

typedef struct
{
  char *id;
  char *title;
  gint64 n;
  gboolean deleted;
  gint64 ts;
} Note;

CARB_DEFINE_STATIC_MODEL (note_model,
                          Note,
                          NULL,
                          "notes",
                          CARB_ID (Note, id, TEXT),
                          CARB_COLUMN (Note, title, TEXT),
                          CARB_COLUMN (Note, n, INT64),
                          CARB_DELETED (Note, deleted),
                          CARB_TIMESTAMP (Note, ts));

typedef struct
{
  gint64 id;
  char *title;
  gboolean deleted;
  gint64 ts;
} IntNote;

CARB_DEFINE_STATIC_MODEL (int_model,
                          IntNote,
                          NULL,
                          "int_notes",
                          CARB_ID (IntNote, id, INT64),
                          CARB_COLUMN (IntNote, title, TEXT),
                          CARB_DELETED (IntNote, deleted),
                          CARB_TIMESTAMP (IntNote, ts));

static void
expect_refused (gboolean ok, GError **error, const char *needle)
{
  g_assert_false (ok);
  g_assert_error (*error, CARB_ERROR, CARB_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr ((*error)->message, needle));
  g_clear_error (error);
}

static void
test_wire_model (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("g");
  g_assert_true (carb_sync_group_add_model (group, &note_model, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (carb_sync_group_get_n_models (group), ==, 1);
  g_assert_cmpint (carb_sync_group_find_table (group, "notes"), ==, 0);
  g_assert_cmpint (carb_sync_group_find_table (group, "other"), ==, -1);

  const CarbModel *wire = carb_sync_group_get_wire_model (group, 0);
  g_assert_cmpuint (carb_model_get_n_columns (wire), ==, 5 + 3);
  static const char *const versions[] = { "title__v", "n__v", "deleted__v" };
  for (guint i = 0; i < G_N_ELEMENTS (versions); i++)
    {
      gint col = carb_model_find_column (wire, versions[i]);
      g_assert_cmpint (col, >=, 5);
      g_assert_cmpint (carb_model_get_column_role (wire, (guint) col), ==, CARB_COLUMN_ROLE_VERSION);
      g_assert_cmpint (carb_model_get_column_type (wire, (guint) col), ==, CARB_COLUMN_TYPE_TEXT);
    }
  g_assert_cmpint (carb_model_find_column (wire, "id__v"), ==, -1);
  g_assert_cmpint (carb_model_find_column (wire, "ts__v"), ==, -1);

  /* A table once only. */
  expect_refused (carb_sync_group_add_model (group, &note_model, &error), &error, "already");
}

static void
test_two_way_needs (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("g");
  /* Integer ids collide between devices. */
  expect_refused (carb_sync_group_add_model (group, &int_model, &error), &error, "“id”");

  /* No tombstone column: deletes could not sync. */
  g_autoptr (CarbModel) bare = carb_model_new (NULL, "bare");
  g_assert_true (carb_model_add_column (bare, "id", CARB_COLUMN_TYPE_UUID, CARB_COLUMN_ROLE_ID, 0, &error));
  g_assert_true (
      carb_model_add_column (bare, "ts", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_TIMESTAMP, 0, &error));
  expect_refused (carb_sync_group_add_model (group, bare, &error), &error, "is-deleted");

  /* A version column whose column is missing is an invalid model. */
  g_autoptr (CarbModel) stray = carb_model_new (NULL, "stray");
  g_assert_true (carb_model_add_column (stray, "id", CARB_COLUMN_TYPE_UUID, CARB_COLUMN_ROLE_ID, 0, &error));
  g_assert_true (
      carb_model_add_column (stray, "ts", CARB_COLUMN_TYPE_TIMESTAMP, CARB_COLUMN_ROLE_TIMESTAMP, 0, &error));
  g_assert_true (carb_model_add_column (stray, "gone__v", CARB_COLUMN_TYPE_TEXT, CARB_COLUMN_ROLE_VERSION,
                                        CARB_COLUMN_FLAGS_NULLABLE, &error));
  g_assert_false (carb_model_validate (stray, &error));
  g_assert_error (error, CARB_ERROR, CARB_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr (error->message, "gone__v"));
}

static gboolean
never (
    CarbSyncGroup *group, const char *table, GVariant *row, GVariant *context, gpointer data, GError **error)
{
  return FALSE;
}

static void
test_rules (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (CarbSyncGroup) group = carb_sync_group_new ("g");
  g_assert_true (carb_sync_group_add_model (group, &note_model, &error));
  g_assert_true (carb_sync_group_set_immutable (group, "notes", "title", &error));
  g_assert_true (carb_sync_group_is_immutable (group, 0, 1));
  g_assert_false (carb_sync_group_is_immutable (group, 0, 2));
  expect_refused (carb_sync_group_set_immutable (group, "notes", "deleted", &error), &error, "deleted");
  expect_refused (carb_sync_group_set_immutable (group, "nope", "title", &error), &error, "nope");
  expect_refused (carb_sync_group_set_filter (group, "notes", "missing", "user", &error), &error, "missing");

  const char *key = NULL;
  g_assert_cmpint (carb_sync_group_get_filter (group, 0, &key), ==, -1);
  g_assert_true (carb_sync_group_set_filter (group, "notes", "title", "user", &error));
  g_assert_cmpint (carb_sync_group_get_filter (group, 0, &key), ==, 1);
  g_assert_cmpstr (key, ==, "user");
  /* The wire model marks the filter column, so that the backend logs its
   * moves (withdrawals); a wire model taken before keeps being valid. */
  const CarbModel *wire = carb_sync_group_get_wire_model (group, 0);
  g_assert_cmpuint (wire->columns[1].flags & CARB_COLUMN_FLAGS_FILTER, !=, 0);
  g_assert_true (carb_sync_group_set_filter (group, "notes", "n", "user", &error));
  g_assert_true (carb_sync_group_get_wire_model (group, 0) == wire);
  g_assert_cmpuint (wire->columns[1].flags & CARB_COLUMN_FLAGS_FILTER, ==, 0);
  g_assert_cmpuint (
      wire->columns[carb_sync_group_get_filter (group, 0, NULL)].flags & CARB_COLUMN_FLAGS_FILTER, !=, 0);
  g_assert_cmpuint (note_model.columns[carb_sync_group_get_filter (group, 0, NULL)].flags
                        & CARB_COLUMN_FLAGS_FILTER,
                    ==, 0);
  g_assert_true (carb_sync_group_set_validate_func (group, never, NULL, NULL, &error));
  expect_refused (carb_sync_group_set_max_clock_ahead (group, -1, &error), &error, "negative");
  g_assert_true (carb_sync_group_set_max_clock_ahead (group, 1000, &error));
  g_assert_cmpint (carb_sync_group_get_max_clock_ahead (group), ==, 1000);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sync-group/wire-model", test_wire_model);
  g_test_add_func ("/sync-group/two-way-needs", test_two_way_needs);
  g_test_add_func ("/sync-group/rules", test_rules);
  return g_test_run ();
}
