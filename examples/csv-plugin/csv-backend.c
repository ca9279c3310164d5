/* carburetor-csv — a read-only Carburetor backend over one CSV file.
 *
 * A third-party plugin: it includes only <carburetor/sys/backend.h> and is
 * built out of tree against the installed SDK (see meson.build).
 *
 * The store URI is `csv:/path/to/items.csv`; the file holds one table,
 * named after the file without `.csv` ("items"). The first line is the
 * header (column names); every other non-empty line is a row. Fields are
 * separated by commas and are not quoted, so a value cannot hold a comma
 * or a line break: this is a sketch of the plugin ABI, not a CSV library.
 * An empty field is NULL. The model's timestamp column holds integer
 * microseconds since the Unix epoch.
 *
 * The clock source (docs/PLUGINS.md, "download") rests on how the file is written: its
 * producer replaces it atomically (writes a new file, then rename()s it
 * over the old), and stamps every row it adds or changes with a time
 * later than every stamp already in the file. One read of the file is
 * therefore one whole version, and no later version can bring a row
 * stamped at or before this version's newest stamp. So W = max(stamp) of
 * the file read is safe, and exact: the sync needs no clock of its own.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <carburetor/sys/backend.h>
#include <string.h>

struct _CarbBackend
{
  char *path;  /* the CSV file */
  char *table; /* its base name without ".csv" */
};

/* One version of the file. */
typedef struct
{
  char **header;
  guint n_fields;
  GPtrArray *rows;         /* of GStrv, each n_fields long */
  GPtrArray *line_numbers; /* of GUINT_TO_POINTER, for messages */
} CsvFile;

static void
csv_file_free (CsvFile *csv)
{
  g_strfreev (csv->header);
  g_ptr_array_unref (csv->rows);
  g_ptr_array_unref (csv->line_numbers);
  g_free (csv);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsvFile, csv_file_free)

static CsvFile *
csv_file_load (CarbBackend *backend, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;

  if (!g_file_get_contents (backend->path, &text, NULL, &local))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_CONNECTION, "CSV “%s”: %s", backend->path, local->message);
      return NULL;
    }
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr (CsvFile) csv = g_new0 (CsvFile, 1);
  csv->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  csv->line_numbers = g_ptr_array_new ();

  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = lines[i];
      gsize len = strlen (line);
      if (len > 0 && line[len - 1] == '\r')
        line[len - 1] = '\0';
      if (line[0] == '\0')
        continue;
      char **fields = g_strsplit (line, ",", -1);
      if (csv->header == NULL)
        {
          csv->header = fields;
          csv->n_fields = g_strv_length (fields);
          continue;
        }
      if (g_strv_length (fields) != csv->n_fields)
        {
          g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
                       "CSV “%s”, line %u: %u fields, the header has %u", backend->path, i + 1,
                       g_strv_length (fields), csv->n_fields);
          g_strfreev (fields);
          return NULL;
        }
      g_ptr_array_add (csv->rows, fields);
      g_ptr_array_add (csv->line_numbers, GUINT_TO_POINTER (i + 1));
    }
  if (csv->header == NULL)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA, "CSV “%s” has no header line", backend->path);
      return NULL;
    }
  return g_steal_pointer (&csv);
}

/* ----------------------------------------------------------- the vtable */

static void
csv_close (CarbBackend *backend)
{
  g_free (backend->path);
  g_free (backend->table);
  g_free (backend);
}

/* csv:/path/file.csv, or csv:///path/file.csv. */
static CarbBackend *
csv_open (const char *uri, GError **error)
{
  const char *path = uri + strlen ("csv:");

  if (g_str_has_prefix (path, "//"))
    path += 2;
  if (path[0] == '\0')
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_URI, "CSV URI “%s” names no file", uri);
      return NULL;
    }
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_CONNECTION, "CSV “%s” does not exist", path);
      return NULL;
    }
  CarbBackend *backend = g_new0 (CarbBackend, 1);
  backend->path = g_strdup (path);
  g_autofree char *base = g_path_get_basename (path);
  if (g_str_has_suffix (base, ".csv"))
    base[strlen (base) - strlen (".csv")] = '\0';
  backend->table = g_steal_pointer (&base);
  return backend;
}

static gboolean
no_such_table (CarbBackend *backend, const char *schema, const char *table, GError **error)
{
  g_set_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH,
               "Table “%s%s%s” does not exist in “%s” (it holds the table “%s”, and no schema)",
               schema != NULL ? schema : "", schema != NULL ? "." : "", table, backend->path, backend->table);
  return FALSE;
}

/* A CSV declares no keys either: a column can serve as the id when every
 * row of this version of the file holds a distinct, non-empty value in
 * it (the core needs the id to name one row). */
static gboolean
column_is_unique (const CsvFile *csv, guint field)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint r = 0; r < csv->rows->len; r++)
    {
      const char *value = ((char **) csv->rows->pdata[r])[field];
      if (value[0] == '\0' || !g_hash_table_add (seen, (gpointer) value))
        return FALSE;
    }
  return TRUE;
}

/* A CSV declares no types and no NOT NULL: each column can be read as any
 * type written as text, and is reported NOT NULL so that any model fits;
 * the core then checks every value as it comes (a NULL in a NOT NULL
 * member, or "abc" in an integer, fails the row with its column named). */
static gboolean
csv_describe_table (
    CarbBackend *backend, const char *schema, const char *table, CarbTableInfo *info, GError **error)
{
  if (schema != NULL || strcmp (table, backend->table) != 0)
    return no_such_table (backend, schema, table, error);
  g_autoptr (CsvFile) csv = csv_file_load (backend, error);
  if (csv == NULL)
    return FALSE;
  guint any_text_type = ~(CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_INVALID)
                          | CARB_COLUMN_TYPE_MASK_OF (CARB_COLUMN_TYPE_BYTES));
  for (guint i = 0; i < csv->n_fields; i++)
    {
      carb_table_info_add_column (info, csv->header[i], "csv text", any_text_type, FALSE);
      if (column_is_unique (csv, i))
        carb_table_info_add_unique_column (info, csv->header[i]);
    }
  return TRUE;
}

/* Nothing to install: the file's producer stamps its rows. */
static gboolean
csv_prepare_table (G_GNUC_UNUSED CarbBackend *backend,
                   G_GNUC_UNUSED const CarbQuery *query,
                   G_GNUC_UNUSED GError **error)
{
  return TRUE;
}

static gboolean
csv_execute (CarbBackend *backend, G_GNUC_UNUSED const char *sql, GError **error)
{
  g_set_error (error, CARB_ERROR, CARB_ERROR_QUERY, "CSV “%s” is read-only: it runs no SQL", backend->path);
  return FALSE;
}

/* ------------------------------------------------------------- download */

typedef struct
{
  char **fields;
  gint64 stamp;
  gint64 id_int;
  const char *id_text;
} Candidate;

static gboolean
parse_int (const char *text, gint64 *value)
{
  return g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, value, NULL);
}

static gboolean
parse_bool (const char *text, gboolean *value)
{
  static const char *const yes[] = { "1", "t", "true", "yes", NULL };
  static const char *const no[] = { "0", "f", "false", "no", NULL };

  for (guint i = 0; yes[i] != NULL; i++)
    if (g_ascii_strcasecmp (text, yes[i]) == 0)
      {
        *value = TRUE;
        return TRUE;
      }
  for (guint i = 0; no[i] != NULL; i++)
    if (g_ascii_strcasecmp (text, no[i]) == 0)
      {
        *value = FALSE;
        return TRUE;
      }
  return FALSE;
}

static void
sink_field (CarbSink *sink, const CarbColumn *col, guint i, const char *text)
{
  gint64 n = 0;
  gboolean b = FALSE;

  if (text[0] == '\0')
    {
      carb_sink_set_null (sink, i);
      return;
    }
  switch (col->type)
    {
    case CARB_COLUMN_TYPE_TEXT:
    case CARB_COLUMN_TYPE_UUID:
    case CARB_COLUMN_TYPE_JSON:
    case CARB_COLUMN_TYPE_NUMERIC:
      carb_sink_set_text (sink, i, text, strlen (text));
      return;
    case CARB_COLUMN_TYPE_FLOAT:
    case CARB_COLUMN_TYPE_DOUBLE:
      {
        char *end = NULL;
        gdouble d = g_ascii_strtod (text, &end);
        if (*end == '\0')
          {
            carb_sink_set_double (sink, i, d);
            return;
          }
        break;
      }
    case CARB_COLUMN_TYPE_BOOL:
      if (parse_bool (text, &b))
        {
          carb_sink_set_int (sink, i, b);
          return;
        }
      break;
    case CARB_COLUMN_TYPE_BYTES:
      carb_sink_fail (sink, i, "a CSV file holds no bytes");
      return;
    default: /* integers, TIMESTAMP (µs), DATE (days) */
      if (parse_int (text, &n))
        {
          carb_sink_set_int (sink, i, n);
          return;
        }
      break;
    }
  carb_sink_fail (sink, i, "“%s” is not a %s", text, carb_column_type_to_string (col->type));
}

static gint
compare_ids (const Candidate *a, const Candidate *b)
{
  if (a->id_text != NULL)
    return strcmp (a->id_text, b->id_text);
  return (a->id_int > b->id_int) - (a->id_int < b->id_int);
}

/* (stamp, id) order: the core's page cursors rely on it. */
static gint
compare_candidates (gconstpointer pa, gconstpointer pb)
{
  const Candidate *a = pa, *b = pb;

  if (a->stamp != b->stamp)
    return a->stamp < b->stamp ? -1 : 1;
  return compare_ids (a, b);
}

/* The candidate's place after the query's lower bound: (stamp, id) >
 * (lower, after_id) for a page cursor, stamp > lower otherwise. */
static gboolean
after_lower_bound (const CarbQuery *query, const Candidate *c)
{
  if (c->stamp != query->lower)
    return c->stamp > query->lower;
  if (!query->has_after_id)
    return FALSE;
  Candidate cursor = { .id_int = query->after_id_int, .id_text = query->after_id_text };
  if ((c->id_text == NULL) != (cursor.id_text == NULL))
    return FALSE;
  return compare_ids (c, &cursor) > 0;
}

static gboolean
bad_field (
    CarbBackend *backend, const CsvFile *csv, guint row, const char *column, const char *what, GError **error)
{
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_DATA, "CSV “%s”, line %u, column “%s”: %s",
               backend->path, GPOINTER_TO_UINT (csv->line_numbers->pdata[row]), column, what);
  return FALSE;
}

static gboolean
csv_download (
    CarbBackend *backend, const CarbQuery *query, CarbSink *sink, gint64 *synced_until, GError **error)
{
  const CarbModel *model = query->model;
  g_autoptr (CsvFile) csv = csv_file_load (backend, error);
  if (csv == NULL)
    return FALSE;

  /* Model column i is field field_of[i] of each line. */
  g_autofree guint *field_of = g_new0 (guint, model->n_columns);
  for (guint i = 0; i < model->n_columns; i++)
    {
      guint f = 0;
      while (f < csv->n_fields && strcmp (csv->header[f], model->columns[i].name) != 0)
        f++;
      if (f == csv->n_fields)
        {
          g_set_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH,
                       "Table “%s”: column “%s” is no longer in the header of “%s”", model->table,
                       model->columns[i].name, backend->path);
          return FALSE;
        }
      field_of[i] = f;
    }
  const CarbColumn *id_col = &model->columns[query->id_column];
  gboolean int_id = id_col->type != CARB_COLUMN_TYPE_TEXT && id_col->type != CARB_COLUMN_TYPE_UUID;

  /* The clock source: the newest stamp of this version (see the top). An
   * empty file gives no advance. */
  gint64 w = query->lower;
  g_autoptr (GArray) due = g_array_new (FALSE, FALSE, sizeof (Candidate));
  for (guint r = 0; r < csv->rows->len; r++)
    {
      char **fields = csv->rows->pdata[r];
      Candidate c = { .fields = fields };
      const char *stamp = fields[field_of[query->ts_column]];
      const char *id = fields[field_of[query->id_column]];

      if (!parse_int (stamp, &c.stamp))
        return bad_field (backend, csv, r, model->columns[query->ts_column].name,
                          "the timestamp is not integer microseconds", error);
      if (int_id && !parse_int (id, &c.id_int))
        return bad_field (backend, csv, r, id_col->name, "the id is not an integer", error);
      if (!int_id)
        c.id_text = id;
      w = MAX (w, c.stamp);
      if (!after_lower_bound (query, &c))
        continue;
      if (!query->include_deleted && query->deleted_column >= 0)
        {
          gboolean deleted = FALSE;
          const char *flag = fields[field_of[query->deleted_column]];
          if (flag[0] != '\0' && !parse_bool (flag, &deleted))
            return bad_field (backend, csv, r, model->columns[query->deleted_column].name,
                              "the is-deleted flag is not a boolean", error);
          if (deleted)
            continue;
        }
      g_array_append_val (due, c);
    }

  g_array_sort (due, compare_candidates);
  guint n = query->limit > 0 ? MIN (query->limit, due->len) : due->len;
  for (guint r = 0; r < n; r++)
    {
      const Candidate *c = &g_array_index (due, Candidate, r);
      for (guint i = 0; i < model->n_columns; i++)
        sink_field (sink, &model->columns[i], i, c->fields[field_of[i]]);
      if (!carb_sink_end_row (sink, error)) /* a bad value, or cancelled */
        return FALSE;
    }
  *synced_until = w;
  return TRUE;
}

static const CarbBackendVTable vtable = {
  .abi_version = CARB_BACKEND_ABI_VERSION,
  .struct_size = sizeof (CarbBackendVTable),
  .name = "csv",
  .open = csv_open,
  .close = csv_close,
  .describe_table = csv_describe_table,
  .prepare_table = csv_prepare_table,
  .download = csv_download,
  .execute = csv_execute,
};

CARB_BACKEND_EXPORT const CarbBackendVTable *carburetor_backend_entry (guint32 core_abi_version);

/* The one exported symbol. A core of another ABI gets NULL, and says so. */
const CarbBackendVTable *
carburetor_backend_entry (guint32 core_abi_version)
{
  return core_abi_version == CARB_BACKEND_ABI_VERSION ? &vtable : NULL;
}
