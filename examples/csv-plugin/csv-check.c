/* csv-check — an application of the csv plugin, and its test: it writes a
 * CSV file, opens it as a store by the csv: scheme and checks what
 * download_sync returns as the file is replaced by newer versions.
 * Built against the installed SDK like any application:
 *
 *   cc csv-check.c $(pkg-config --cflags --libs carburetor-1)
 *
 * Run with CARBURETOR_PLUGIN_PATH naming the folder of csv.plugin (meson
 * test does). Exit status 0 when every check passed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct
{
  gint64 id;
  char *title;
  char *note; /* NULL for an empty field */
  gboolean deleted;
  gint64 stamp;
} Item;

CARB_DEFINE_STATIC_MODEL (item_model,
                          Item,
                          NULL,
                          "items",
                          CARB_ID (Item, id, INT64),
                          CARB_COLUMN (Item, title, TEXT),
                          CARB_COLUMN_NULLABLE (Item, note, TEXT),
                          CARB_DELETED (Item, deleted),
                          CARB_TIMESTAMP (Item, stamp));

/* Each version replaces the whole file atomically (g_file_set_contents()
 * renames a new file over the old), stamping changed rows later than every
 * stamp before: the contract the plugin's clock source relies on. */
static const char version1[] = "id,title,note,deleted,stamp\n"
                               "1,buy milk,,0,1000\n"
                               "2,write report,Q3,0,2000\n"
                               "3,call mum,,1,2000\n"
                               "4,water plants,,0,2000\n";
static const char version2[] = "id,title,note,deleted,stamp\n"
                               "1,buy oat milk,oat,0,3000\n"
                               "2,write report,Q3,1,3000\n"
                               "3,call mum,,1,2000\n"
                               "4,water plants,,0,2000\n"
                               "5,read book,,0,3000\n";

#define CHECK(cond)                                                                                          \
  G_STMT_START                                                                                               \
  {                                                                                                          \
    if (!(cond))                                                                                             \
      {                                                                                                      \
        g_printerr ("csv-check: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                      \
        return FALSE;                                                                                        \
      }                                                                                                      \
  }                                                                                                          \
  G_STMT_END

#define CHECK_OK(call, error)                                                                                \
  G_STMT_START                                                                                               \
  {                                                                                                          \
    if (!(call))                                                                                             \
      {                                                                                                      \
        g_printerr ("csv-check: %s: %s\n", #call, (error)->message);                                         \
        return FALSE;                                                                                        \
      }                                                                                                      \
  }                                                                                                          \
  G_STMT_END

static void
print_rows (const char *label, const CarbSyncResult *result)
{
  gsize n = 0;
  const Item *rows = carb_sync_result_get_rows (result, &n);
  g_autofree char *point = carb_sync_point_to_string (carb_sync_result_get_synced_until (result));

  g_print ("%s: %" G_GSIZE_FORMAT " row(s), sync point %s\n", label, n, point);
  for (gsize i = 0; i < n; i++)
    g_print ("  %s id=%" G_GINT64_FORMAT " %s note=%s stamp=%" G_GINT64_FORMAT "\n",
             rows[i].deleted ? "DELETED" : "row    ", rows[i].id, rows[i].title,
             rows[i].note != NULL ? rows[i].note : "NULL", rows[i].stamp);
}

static gboolean
check (const char *dir)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (dir, "items.csv", NULL);
  g_autofree char *uri = g_strconcat ("csv:", path, NULL);

  /* The plugin is listed, with its scheme, before anything is loaded. */
  g_autoptr (GPtrArray) plugins = carb_plugin_list (&error);
  CHECK_OK (plugins != NULL, error);
  gboolean listed = FALSE;
  for (guint i = 0; i < plugins->len; i++)
    listed |= strcmp (carb_plugin_info_get_name (plugins->pdata[i]), "csv") == 0
              && g_strv_contains (carb_plugin_info_get_schemes (plugins->pdata[i]), "csv");
  CHECK (listed);

  CHECK_OK (g_file_set_contents (path, version1, -1, &error), error);
  g_autoptr (CarbStore) store = carb_store_open (uri, &error);
  CHECK_OK (store != NULL, error);
  CHECK (strcmp (carb_store_get_backend_name (store), "csv") == 0);
  CHECK_OK (carb_store_check_model (store, &item_model, &error), error);

  /* First sync: everything but the tombstone; the point is the newest stamp. */
  g_autoptr (CarbSyncResult) first = carb_store_download_sync (store, &item_model, NULL, 0, NULL, &error);
  CHECK_OK (first != NULL, error);
  print_rows ("sync 1 (first)", first);
  const Item *rows = carb_sync_result_get_rows (first, NULL);
  CHECK (carb_sync_result_get_n_rows (first) == 3);
  CHECK (rows[0].id == 1 && strcmp (rows[0].title, "buy milk") == 0 && rows[0].note == NULL);
  CHECK (rows[1].id == 2 && strcmp (rows[1].note, "Q3") == 0);
  CHECK (rows[2].id == 4);
  const CarbSyncPoint *point1 = carb_sync_result_get_synced_until (first);
  CHECK (carb_sync_point_get_time (point1) == 2000);

  /* Nothing changed: nothing comes, the point stays. */
  g_autoptr (CarbSyncResult) same = carb_store_download_sync (store, &item_model, point1, 0, NULL, &error);
  CHECK_OK (same != NULL, error);
  CHECK (carb_sync_result_get_n_rows (same) == 0);
  CHECK (carb_sync_point_equal (carb_sync_result_get_synced_until (same), point1));

  /* A new version: exactly the changed rows, a tombstone among them, in
   * pages of two across rows sharing one stamp. */
  CHECK_OK (g_file_set_contents (path, version2, -1, &error), error);
  g_autoptr (CarbSyncPoint) point = carb_sync_point_copy (point1);
  GArray *seen = g_array_new (FALSE, FALSE, sizeof (gint64));
  gboolean more = TRUE;
  for (guint page = 1; more; page++)
    {
      g_autoptr (CarbSyncResult) result
          = carb_store_download_sync (store, &item_model, point, 2, NULL, &error);
      CHECK_OK (result != NULL, error);
      g_autofree char *label = g_strdup_printf ("sync 2, page %u", page);
      print_rows (label, result);
      for (gsize i = 0; i < carb_sync_result_get_n_rows (result); i++)
        {
          const Item *item = carb_sync_result_get_row (result, i);
          g_array_append_val (seen, item->id);
          CHECK (item->id != 2 || item->deleted);
          CHECK (item->id != 1 || strcmp (item->note, "oat") == 0);
        }
      more = carb_sync_result_has_more (result);
      g_clear_pointer (&point, carb_sync_point_free);
      point = carb_sync_point_copy (carb_sync_result_get_synced_until (result));
    }
  gboolean exact = seen->len == 3 && g_array_index (seen, gint64, 0) == 1
                   && g_array_index (seen, gint64, 1) == 2 && g_array_index (seen, gint64, 2) == 5;
  g_array_unref (seen);
  CHECK (exact);
  CHECK (carb_sync_point_is_complete (point) && carb_sync_point_get_time (point) == 3000);

  /* Read-only: SQL is refused with an error, not a crash. */
  CHECK (!carb_store_execute (store, "DELETE FROM items", &error));
  CHECK (g_error_matches (error, CARB_ERROR, CARB_ERROR_QUERY));
  g_print ("execute: refused as expected: %s\n", error->message);
  g_clear_error (&error);

  g_unlink (path);
  return TRUE;
}

int
main (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("csv-check-XXXXXX", &error);

  if (dir == NULL)
    {
      g_printerr ("csv-check: %s\n", error->message);
      return 1;
    }
  gboolean ok = check (dir);
  g_rmdir (dir);
  g_print ("csv-check: %s\n", ok ? "all checks passed" : "FAILED");
  return ok ? 0 : 1;
}
