/* Carburetor — model validation that needs no database.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <string.h>

/* The column used as the timestamp when none is marked explicitly. */
#define DEFAULT_TIMESTAMP_NAME "last_synced_at"

static const struct
{
  const char *name;
  gsize size; /* sizeof the member, to check models built at run time */
} type_table[] = {
  [CARB_COLUMN_TYPE_INVALID] = { "INVALID", 0 },
  [CARB_COLUMN_TYPE_TEXT] = { "TEXT", sizeof (char *) },
  [CARB_COLUMN_TYPE_INT16] = { "INT16", sizeof (gint16) },
  [CARB_COLUMN_TYPE_INT32] = { "INT32", sizeof (gint32) },
  [CARB_COLUMN_TYPE_INT64] = { "INT64", sizeof (gint64) },
  [CARB_COLUMN_TYPE_FLOAT] = { "FLOAT", sizeof (gfloat) },
  [CARB_COLUMN_TYPE_DOUBLE] = { "DOUBLE", sizeof (gdouble) },
  [CARB_COLUMN_TYPE_BOOL] = { "BOOL", sizeof (gboolean) },
  [CARB_COLUMN_TYPE_TIMESTAMP] = { "TIMESTAMP", sizeof (gint64) },
  [CARB_COLUMN_TYPE_DATE] = { "DATE", sizeof (gint32) },
  [CARB_COLUMN_TYPE_UUID] = { "UUID", sizeof (char *) },
  [CARB_COLUMN_TYPE_JSON] = { "JSON", sizeof (char *) },
  [CARB_COLUMN_TYPE_BYTES] = { "BYTES", sizeof (CarbBytes) },
  [CARB_COLUMN_TYPE_NUMERIC] = { "NUMERIC", sizeof (char *) },
};

/**
 * carb_column_type_to_string:
 * @type: a #CarbColumnType
 *
 * Returns: (transfer none): the type's name as written in the model macros
 *   ("TEXT", "INT64", …), or "INVALID".
 *
 * Since: 1.0
 */
const char *
carb_column_type_to_string (CarbColumnType type)
{
  if ((guint) type >= G_N_ELEMENTS (type_table))
    return type_table[CARB_COLUMN_TYPE_INVALID].name;
  return type_table[type].name;
}

/* The member size of @type, or 0 when @type is not a column type. */
gsize
carb_column_type_size (CarbColumnType type)
{
  if (type <= CARB_COLUMN_TYPE_INVALID || (guint) type >= G_N_ELEMENTS (type_table))
    return 0;
  return type_table[type].size;
}

static gboolean invalid (GError **error, const CarbModel *model, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

static gboolean
invalid (GError **error, const CarbModel *model, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *detail = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_MODEL, "Model for table “%s”: %s",
               model->table != NULL ? model->table : "(null)", detail);
  return FALSE;
}

static gboolean
check_column_layout (const CarbModel *model, const CarbColumn *col, GError **error)
{
  if (col->name == NULL || col->name[0] == '\0')
    return invalid (error, model, "a column has no name");
  if (col->type <= CARB_COLUMN_TYPE_INVALID || (guint) col->type >= G_N_ELEMENTS (type_table))
    return invalid (error, model, "column “%s” has no valid type", col->name);
  if (col->size != type_table[col->type].size)
    return invalid (error, model,
                    "column “%s” is %s but its member is %" G_GSIZE_FORMAT " bytes, not %" G_GSIZE_FORMAT,
                    col->name, type_table[col->type].name, col->size, type_table[col->type].size);
  if (col->offset > model->struct_size || col->size > model->struct_size - col->offset)
    return invalid (error, model, "column “%s” lies outside the %" G_GSIZE_FORMAT "-byte struct", col->name,
                    model->struct_size);
  if (col->null_offset >= 0 && (gsize) col->null_offset + sizeof (gboolean) > model->struct_size)
    return invalid (error, model, "the null flag of column “%s” lies outside the struct", col->name);
  return TRUE;
}

/* A version column is TEXT, named `X__v`, and X is a DATA or DELETED
 * column of the same model (docs/TWOWAY.md). */
static gboolean
check_version_column (const CarbModel *model, const CarbColumn *col, GError **error)
{
  if (col->type != CARB_COLUMN_TYPE_TEXT)
    return invalid (error, model, "version column “%s” must be of type TEXT, not %s", col->name,
                    carb_column_type_to_string (col->type));
  gsize len = strlen (col->name);
  if (len <= strlen (CARB_VERSION_COLUMN_SUFFIX) || !g_str_has_suffix (col->name, CARB_VERSION_COLUMN_SUFFIX))
    return invalid (error, model, "version column “%s” must be named after its column plus “%s”", col->name,
                    CARB_VERSION_COLUMN_SUFFIX);
  gsize base_len = len - strlen (CARB_VERSION_COLUMN_SUFFIX);
  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *base = &model->columns[i];
      if (strlen (base->name) == base_len && strncmp (base->name, col->name, base_len) == 0
          && (base->role == CARB_COLUMN_ROLE_DATA || base->role == CARB_COLUMN_ROLE_DELETED))
        return TRUE;
    }
  return invalid (error, model, "version column “%s” versions no data or is-deleted column “%.*s”", col->name,
                  (int) base_len, col->name);
}

static gboolean
check_role (const CarbModel *model, const CarbColumn *col, GError **error)
{
  gboolean nullable = (col->flags & CARB_COLUMN_FLAGS_NULLABLE) != 0;

  switch (col->role)
    {
    case CARB_COLUMN_ROLE_DATA:
      return TRUE;
    case CARB_COLUMN_ROLE_ID:
      if (col->type != CARB_COLUMN_TYPE_INT16 && col->type != CARB_COLUMN_TYPE_INT32
          && col->type != CARB_COLUMN_TYPE_INT64 && col->type != CARB_COLUMN_TYPE_TEXT
          && col->type != CARB_COLUMN_TYPE_UUID)
        return invalid (error, model, "id column “%s” is %s; ids must be INT16, INT32, INT64, TEXT or UUID",
                        col->name, carb_column_type_to_string (col->type));
      break;
    case CARB_COLUMN_ROLE_TIMESTAMP:
      if (col->type != CARB_COLUMN_TYPE_TIMESTAMP)
        return invalid (error, model, "timestamp column “%s” must be of type TIMESTAMP, not %s", col->name,
                        carb_column_type_to_string (col->type));
      break;
    case CARB_COLUMN_ROLE_DELETED:
      if (col->type != CARB_COLUMN_TYPE_BOOL)
        return invalid (error, model, "is-deleted column “%s” must be of type BOOL, not %s", col->name,
                        carb_column_type_to_string (col->type));
      break;
    case CARB_COLUMN_ROLE_VERSION:
      return check_version_column (model, col, error);
    default:
      return invalid (error, model, "column “%s” has an unknown role %d", col->name, col->role);
    }
  if (nullable)
    return invalid (error, model, "column “%s” has a sync role and cannot be nullable", col->name);
  return TRUE;
}

/* Marks @index as the column of @role; refuses a second one. */
static gboolean
claim_role (const CarbModel *model, gint *slot, guint index, const char *what, GError **error)
{
  if (*slot >= 0)
    return invalid (error, model, "columns “%s” and “%s” are both marked as the %s column; mark exactly one",
                    model->columns[*slot].name, model->columns[index].name, what);
  *slot = (gint) index;
  return TRUE;
}

/* Timestamp rule: the marked column; else the one named last_synced_at;
 * else an error that says how to fix the model. Never a guess. */
static gboolean
find_timestamp (const CarbModel *model, gint *ts, GError **error)
{
  if (*ts >= 0)
    return TRUE;
  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      if (strcmp (col->name, DEFAULT_TIMESTAMP_NAME) != 0)
        continue;
      if (col->role != CARB_COLUMN_ROLE_DATA || col->type != CARB_COLUMN_TYPE_TIMESTAMP
          || (col->flags & CARB_COLUMN_FLAGS_NULLABLE) != 0)
        return invalid (error, model,
                        "column “" DEFAULT_TIMESTAMP_NAME "” would be the timestamp "
                        "column but is not a NOT NULL TIMESTAMP data column");
      *ts = (gint) i;
      return TRUE;
    }
  return invalid (error, model,
                  "no timestamp column: mark one with CARB_TIMESTAMP (Struct, member) "
                  "or name a TIMESTAMP column “" DEFAULT_TIMESTAMP_NAME "”");
}

static gboolean
check_unique_names (const CarbModel *model, GError **error)
{
  for (guint i = 0; i < model->n_columns; i++)
    for (guint j = i + 1; j < model->n_columns; j++)
      if (strcmp (model->columns[i].name, model->columns[j].name) == 0)
        return invalid (error, model, "column “%s” is declared twice", model->columns[i].name);
  return TRUE;
}

/* check_version_column() runs before the timestamp is known: the column
 * named last_synced_at is the timestamp when none is marked, a DATA column
 * until then. It has no version (the database stamps it). */
static gboolean
check_versions (const CarbModel *model, guint ts, GError **error)
{
  const char *ts_name = model->columns[ts].name;
  gsize ts_len = strlen (ts_name);

  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      if (col->role == CARB_COLUMN_ROLE_VERSION
          && strlen (col->name) == ts_len + strlen (CARB_VERSION_COLUMN_SUFFIX)
          && strncmp (col->name, ts_name, ts_len) == 0)
        return invalid (error, model,
                        "version column “%s” versions the timestamp column “%s”, which has no version (the "
                        "database stamps it)",
                        col->name, ts_name);
    }
  return TRUE;
}

gboolean
carb_model_resolve (const CarbModel *model, CarbQuery *query, GError **error)
{
  gint id = -1, ts = -1, deleted = -1;

  g_return_val_if_fail (model != NULL, FALSE);

  if ((model->version & ~CARB_MODEL_RUNTIME) != CARB_MODEL_VERSION)
    return invalid (error, model, "descriptor version %u is not supported (expected %u)", model->version,
                    CARB_MODEL_VERSION);
  if (model->table == NULL || model->table[0] == '\0')
    return invalid (error, model, "the table name is empty");
  if (model->columns == NULL || model->n_columns == 0)
    return invalid (error, model, "it declares no column");

  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      if (!check_column_layout (model, col, error) || !check_role (model, col, error))
        return FALSE;
      if ((col->role == CARB_COLUMN_ROLE_ID && !claim_role (model, &id, i, "id", error))
          || (col->role == CARB_COLUMN_ROLE_TIMESTAMP && !claim_role (model, &ts, i, "timestamp", error))
          || (col->role == CARB_COLUMN_ROLE_DELETED && !claim_role (model, &deleted, i, "is-deleted", error)))
        return FALSE;
    }
  if (!check_unique_names (model, error))
    return FALSE;
  if (id < 0)
    return invalid (error, model, "no id column: mark the primary key with CARB_ID (Struct, member, TYPE)");
  if (!find_timestamp (model, &ts, error) || !check_versions (model, (guint) ts, error))
    return FALSE;

  *query = (CarbQuery){
    .model = model,
    .id_column = (guint) id,
    .ts_column = (guint) ts,
    .deleted_column = deleted,
    .lower = G_MININT64,
  };
  return TRUE;
}

/**
 * carb_model_validate:
 * @model: a model descriptor
 * @error: return location for a #GError
 *
 * Checks what can be checked without a database: the layout of every
 * member, exactly one id column, exactly one timestamp column (the one
 * marked with CARB_TIMESTAMP(), else the TIMESTAMP column named
 * `last_synced_at`), at most one is-deleted column, no column declared
 * twice, and every version column (%CARB_COLUMN_ROLE_VERSION) of type TEXT
 * and named `<X>__v` after a data or is-deleted column X of the model (not
 * the timestamp). Stores run this, and check the live table, the first
 * time they use a model; call it yourself to fail early.
 *
 * Returns: %TRUE if @model is consistent, else %FALSE with @error set
 *   (%CARB_ERROR_INVALID_MODEL, naming the table and column).
 *
 * Since: 1.0
 */
gboolean
carb_model_validate (const CarbModel *model, GError **error)
{
  CarbQuery query;
  return carb_model_resolve (model, &query, error);
}
