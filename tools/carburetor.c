/* carburetor — the command-line tool: list plugins, check and prepare a
 * table, sync it to stdout. Built only on the public API and run-time
 * models (carb_store_describe_model), as a binding would be.
 *
 * Exit codes: 0 success; 1 the library refused or failed (the GError's
 * message on stderr, with the command that fixes it when there is one); 2
 * bad command line.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/carburetor.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum
{
  EXIT_OK = 0,
  EXIT_FAILED = 1,
  EXIT_USAGE = 2,
};

/* Options every table command takes: which columns play the sync roles. */
static char *opt_schema;
static char *opt_id = (char *) "id";
static char *opt_timestamp = (char *) "last_synced_at";
static char *opt_deleted;
static char *opt_since;
static char *opt_format = (char *) "table";
static gint opt_max_rows;

static const GOptionEntry table_entries[] = {
  { "schema", 0, 0, G_OPTION_ARG_STRING, &opt_schema, "The table's schema (default: the backend's)",
    "SCHEMA" },
  { "id", 0, 0, G_OPTION_ARG_STRING, &opt_id, "The id column (default: id)", "COLUMN" },
  { "timestamp", 0, 0, G_OPTION_ARG_STRING, &opt_timestamp, "The stamped column (default: last_synced_at)",
    "COLUMN" },
  { "deleted", 0, 0, G_OPTION_ARG_STRING, &opt_deleted, "The is-deleted (tombstone) column, if any",
    "COLUMN" },
  G_OPTION_ENTRY_NULL,
};

static const GOptionEntry sync_entries[] = {
  { "since", 0, 0, G_OPTION_ARG_STRING, &opt_since,
    "The sync point of the previous sync (default: the start)", "POINT" },
  { "max-rows", 0, 0, G_OPTION_ARG_INT, &opt_max_rows, "At most N rows (0: all)", "N" },
  { "format", 0, 0, G_OPTION_ARG_STRING, &opt_format, "table, json or jsonl (default: table)", "FORMAT" },
  G_OPTION_ENTRY_NULL,
};

static int
fail (GError *error)
{
  g_printerr ("carburetor: %s\n", error->message);
  g_error_free (error);
  return EXIT_FAILED;
}

/* The library names its own fix (carb_store_prepare_table()); from the
 * shell, the fix is this tool's prepare command, with the same options. */
static int
fail_table (GError *error, const char *uri, const char *table)
{
  if (g_error_matches (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED))
    g_printerr ("carburetor: %s\n  (from the shell: carburetor prepare %s %s, with the same options)\n",
                error->message, uri, table);
  else
    g_printerr ("carburetor: %s\n", error->message);
  g_error_free (error);
  return EXIT_FAILED;
}

static int
usage (GOptionContext *context, const char *message)
{
  g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);
  g_printerr ("carburetor: %s\n\n%s", message, help);
  return EXIT_USAGE;
}

static int
cmd_plugins (void)
{
  GError *error = NULL;
  g_autoptr (GPtrArray) plugins = carb_plugin_list (&error);
  if (plugins == NULL)
    return fail (error);
  for (guint i = 0; i < plugins->len; i++)
    {
      const CarbPluginInfo *info = plugins->pdata[i];
      g_autofree char *schemes = g_strjoinv (",", (char **) carb_plugin_info_get_schemes (info));
      g_print ("%s\t%s\t%s\n", carb_plugin_info_get_name (info), schemes,
               carb_plugin_info_get_module_path (info));
    }
  return EXIT_OK;
}

/* Opens @uri and describes @table with the role options. */
static gboolean
open_model (const char *uri, const char *table, CarbStore **store, CarbModel **model, GError **error)
{
  *store = carb_store_open (uri, error);
  if (*store == NULL)
    return FALSE;
  *model = carb_store_describe_model (*store, opt_schema, table, opt_id, opt_timestamp, opt_deleted, error);
  return *model != NULL;
}

static int
cmd_check_or_prepare (const char *command, const char *uri, const char *table)
{
  GError *error = NULL;
  g_autoptr (CarbStore) store = NULL;
  g_autoptr (CarbModel) model = NULL;
  if (!open_model (uri, table, &store, &model, &error))
    return fail (error);
  gboolean ok = strcmp (command, "prepare") == 0 ? carb_store_prepare_table (store, model, &error)
                                                 : carb_store_check_model (store, model, &error);
  if (!ok)
    return fail_table (error, uri, table);
  g_print ("%s: %s\n", table, strcmp (command, "prepare") == 0 ? "prepared" : "ready to sync");
  return EXIT_OK;
}

typedef enum
{
  FORMAT_TABLE,
  FORMAT_JSON,
  FORMAT_JSONL,
} Format;

/* What a streamed sync prints as rows arrive. */
typedef struct
{
  const CarbModel *model;
  Format format;
  gboolean progress; /* stderr is a terminal: a row count there */
  gsize n_rows;
} Printer;

static void
print_table_header (const CarbModel *model)
{
  guint n = carb_model_get_n_columns (model);
  for (guint c = 0; c < n; c++)
    g_print ("%s%s", c > 0 ? "\t" : "", carb_model_get_column_name (model, c));
  g_print ("\n");
}

/* One value as a table cell: text as it is, NULL as NULL, others printed
 * as GVariant text. */
static char *
cell_text (GVariant *row, const char *name)
{
  g_autoptr (GVariant) v = g_variant_lookup_value (row, name, NULL);
  if (v == NULL || g_variant_is_of_type (v, G_VARIANT_TYPE ("mv")))
    return g_strdup ("NULL");
  if (g_variant_is_of_type (v, G_VARIANT_TYPE_STRING))
    return g_variant_dup_string (v, NULL);
  return g_variant_print (v, FALSE);
}

static void
print_table_row (const CarbModel *model, gconstpointer row)
{
  g_autoptr (GVariant) values = carb_model_row_to_variant (model, row);
  guint n = carb_model_get_n_columns (model);
  for (guint c = 0; c < n; c++)
    {
      g_autofree char *text = cell_text (values, carb_model_get_column_name (model, c));
      g_print ("%s%s", c > 0 ? "\t" : "", text);
    }
  g_print ("\n");
}

static gboolean
print_row (gconstpointer row, gpointer user_data, GError **error)
{
  Printer *printer = user_data;
  if (printer->format == FORMAT_TABLE)
    print_table_row (printer->model, row);
  else
    {
      g_autofree char *json = carb_model_row_to_json (printer->model, row);
      if (printer->format == FORMAT_JSON)
        g_print ("%s\n    %s", printer->n_rows > 0 ? "," : "", json);
      else
        g_print ("%s\n", json);
    }
  if (printer->progress && ++printer->n_rows % 1000 == 0)
    g_printerr ("\r%" G_GSIZE_FORMAT " rows…", printer->n_rows);
  else if (!printer->progress)
    printer->n_rows++;
  return TRUE;
}

/* Every format streams: rows are printed as they are decoded, whatever
 * their number, and the sync point comes last, once the sync is complete.
 * A failed sync prints no point (exit status 1). */
static int
cmd_sync (const char *uri, const char *table, Format format)
{
  GError *error = NULL;
  g_autoptr (CarbStore) store = NULL;
  g_autoptr (CarbModel) model = NULL;
  g_autoptr (CarbSyncPoint) since = NULL;
  g_autoptr (CarbSyncPoint) until = NULL;

  if (opt_since != NULL && (since = carb_sync_point_parse (opt_since, &error)) == NULL)
    return fail (error);
  /* Checked before the first line, so a table that cannot be synced
   * prints nothing on stdout (no header, no half a JSON document). */
  if (!open_model (uri, table, &store, &model, &error) || !carb_store_check_model (store, model, &error))
    return fail_table (error, uri, table);

  Printer printer = { .model = model, .format = format, .progress = isatty (STDERR_FILENO) };
  if (format == FORMAT_TABLE)
    print_table_header (model);
  else if (format == FORMAT_JSON)
    g_print ("{\n  \"rows\": [");
  if (!carb_store_download_sync_foreach (store, model, since, (guint) opt_max_rows, print_row, &printer,
                                         &until, NULL, &error))
    {
      if (format == FORMAT_JSON)
        g_print ("\n");
      return fail_table (error, uri, table);
    }
  if (printer.progress && printer.n_rows >= 1000)
    g_printerr ("\r%" G_GSIZE_FORMAT " rows\n", printer.n_rows);

  g_autofree char *point = carb_sync_point_to_string (until);
  gboolean more = opt_max_rows > 0 && printer.n_rows == (gsize) opt_max_rows;
  switch (format)
    {
    case FORMAT_JSONL:
      g_print ("{\"synced_until\":\"%s\"}\n", point);
      break;
    case FORMAT_JSON:
      g_print ("\n  ],\n  \"has_more\": %s,\n  \"synced_until\": \"%s\"\n}\n", more ? "true" : "false",
               point);
      break;
    case FORMAT_TABLE:
      g_print ("synced_until\t%s\n", point);
      break;
    }
  return EXIT_OK;
}

static const char summary[]
    = "Commands:\n"
      "  plugins                 list the backend plugins found\n"
      "  check URI TABLE         check that TABLE can be synced\n"
      "  prepare URI TABLE       install the stamping trigger and index on TABLE\n"
      "  sync URI TABLE          print the rows changed since --since, then the sync point\n"
      "\n"
      "Exit status: 0 success, 1 the library refused or failed (message on stderr),\n"
      "2 bad command line.";

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  g_autoptr (GOptionContext) context
      = g_option_context_new ("COMMAND [URI TABLE] — sync tables from the shell");
  g_option_context_set_summary (context, summary);
  g_option_context_add_main_entries (context, table_entries, NULL);
  GOptionGroup *sync_group
      = g_option_group_new ("sync", "Options of sync:", "Show the options of sync", NULL, NULL);
  g_option_group_add_entries (sync_group, sync_entries);
  g_option_context_add_group (context, sync_group);

  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage (context, error->message);
  if (argc < 2)
    return usage (context, "no command given");

  const char *command = argv[1];
  if (strcmp (command, "plugins") == 0)
    return argc == 2 ? cmd_plugins () : usage (context, "plugins takes no argument");
  if (strcmp (command, "check") != 0 && strcmp (command, "prepare") != 0 && strcmp (command, "sync") != 0)
    {
      g_autofree char *message = g_strdup_printf ("unknown command “%s”", command);
      return usage (context, message);
    }
  if (argc != 4)
    return usage (context, "this command takes a URI and a TABLE");
  if (strcmp (command, "sync") != 0)
    return cmd_check_or_prepare (command, argv[2], argv[3]);
  Format format = FORMAT_TABLE;
  if (strcmp (opt_format, "json") == 0)
    format = FORMAT_JSON;
  else if (strcmp (opt_format, "jsonl") == 0)
    format = FORMAT_JSONL;
  else if (strcmp (opt_format, "table") != 0)
    return usage (context, "--format must be table, json or jsonl");
  if (opt_max_rows < 0)
    return usage (context, "--max-rows must be 0 or more");
  return cmd_sync (argv[2], argv[3], format);
}
