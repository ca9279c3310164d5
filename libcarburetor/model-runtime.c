/* Carburetor — models declared at run time.
 *
 * A run-time model is an ordinary #CarbModel (so every sync path takes it
 * unchanged and the macro path pays nothing for it) followed by what it
 * owns: its names and its column array. The row struct is laid out here,
 * as a C compiler would lay out the members in declaration order, so rows
 * of a run-time model are plain structs like any other.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "carb-private.h"

#include <string.h>

typedef struct
{
  CarbModel model; /* first: a CarbRuntimeModel * is a CarbModel * */
  gint ref_count;
  gint sealed; /* set on first use; the layout is frozen from then on */
  gsize end;   /* where the last member ends; struct_size rounds it up */
  char *schema;
  char *table;
  GArray *columns; /* of CarbColumn; names owned by @names */
  GPtrArray *names;
} CarbRuntimeModel;

CARB_DEFINE_BOXED_TYPE (CarbModel, carb_model, carb_model_ref, carb_model_unref)

static CarbRuntimeModel *
as_runtime (const CarbModel *model)
{
  return (model->version & CARB_MODEL_RUNTIME) != 0 ? (CarbRuntimeModel *) model : NULL;
}

/**
 * carb_model_new:
 * @schema: (nullable): the table's schema, or %NULL for the backend's
 *   default
 * @table: the table's name, used verbatim
 *
 * Starts a model declared at run time, for bindings and tools that cannot
 * use the CARB_DEFINE_MODEL() macros. Add its columns with
 * carb_model_add_column() before its first use; rows are then structs laid
 * out by the library, read with carb_model_row_get_value() or
 * carb_model_row_to_variant(). carb_store_describe_model() builds one from
 * the live table.
 *
 * Returns: (transfer full): a new model with no column
 */
CarbModel *
carb_model_new (const char *schema, const char *table)
{
  g_return_val_if_fail (table != NULL, NULL);

  CarbRuntimeModel *rt = g_new0 (CarbRuntimeModel, 1);
  rt->ref_count = 1;
  rt->schema = g_strdup (schema);
  rt->table = g_strdup (table);
  rt->columns = g_array_new (FALSE, TRUE, sizeof (CarbColumn));
  rt->names = g_ptr_array_new_with_free_func (g_free);
  rt->model = (CarbModel){
    .version = CARB_MODEL_VERSION | CARB_MODEL_RUNTIME,
    .schema = rt->schema,
    .table = rt->table,
  };
  return &rt->model;
}

static gsize
align_up (gsize offset, gsize alignment)
{
  return (offset + alignment - 1) / alignment * alignment;
}

/* The alignment a C compiler gives a member of @type on this platform. */
static gsize
type_alignment (CarbColumnType type)
{
  switch (type)
    {
    case CARB_COLUMN_TYPE_INT16:
      return G_ALIGNOF (gint16);
    case CARB_COLUMN_TYPE_INT32:
    case CARB_COLUMN_TYPE_DATE:
      return G_ALIGNOF (gint32);
    case CARB_COLUMN_TYPE_INT64:
    case CARB_COLUMN_TYPE_TIMESTAMP:
      return G_ALIGNOF (gint64);
    case CARB_COLUMN_TYPE_FLOAT:
      return G_ALIGNOF (gfloat);
    case CARB_COLUMN_TYPE_DOUBLE:
      return G_ALIGNOF (gdouble);
    case CARB_COLUMN_TYPE_BOOL:
      return G_ALIGNOF (gboolean);
    case CARB_COLUMN_TYPE_BYTES:
      return G_ALIGNOF (CarbBytes);
    default:
      return G_ALIGNOF (char *);
    }
}

static gboolean
null_by_pointer (CarbColumnType type)
{
  return type == CARB_COLUMN_TYPE_TEXT || type == CARB_COLUMN_TYPE_UUID || type == CARB_COLUMN_TYPE_JSON
         || type == CARB_COLUMN_TYPE_NUMERIC || type == CARB_COLUMN_TYPE_BYTES;
}

/* Appends a member of @size and @alignment to the struct; returns its
 * offset. The struct's size stays a multiple of the largest alignment so
 * that rows can sit in one array. */
static gsize
append_member (CarbRuntimeModel *rt, gsize size, gsize alignment)
{
  gsize offset = align_up (rt->end, alignment);
  rt->end = offset + size;
  rt->model.struct_size = align_up (rt->end, G_ALIGNOF (gint64));
  return offset;
}

/**
 * carb_model_add_column:
 * @model: a model from carb_model_new(), not yet used by a store
 * @name: the column's SQL name, used verbatim
 * @type: its type
 * @role: its role in the sync
 * @flags: #CarbColumnFlags
 * @error: return location for a #GError
 *
 * Appends a column; its member is placed after the previous ones.
 * A nullable column of a scalar type gets a null flag of its own (see
 * carb_model_row_is_null()). The rules of carb_model_validate() apply
 * when the model is first used.
 *
 * Returns: %TRUE, or %FALSE with %CARB_ERROR_INVALID_MODEL when @model is
 *   not a run-time model, is already in use, or @type is not a type
 */
gboolean
carb_model_add_column (CarbModel *model,
                       const char *name,
                       CarbColumnType type,
                       CarbColumnRole role,
                       CarbColumnFlags flags,
                       GError **error)
{
  g_return_val_if_fail (model != NULL && name != NULL, FALSE);

  CarbRuntimeModel *rt = as_runtime (model);
  const char *why = NULL;
  if (rt == NULL)
    why = "it was declared with CARB_DEFINE_MODEL(), not carb_model_new()";
  else if (g_atomic_int_get (&rt->sealed))
    why = "it is in use by a store; declare every column before the first use";
  else if (carb_column_type_size (type) == 0)
    why = "the type is not a column type";
  if (why != NULL)
    {
      g_set_error (error, CARB_ERROR, CARB_ERROR_INVALID_MODEL,
                   "Model for table “%s”: cannot add column “%s”: %s", model->table, name, why);
      return FALSE;
    }

  char *owned = g_strdup (name);
  g_ptr_array_add (rt->names, owned);
  gsize size = carb_column_type_size (type);
  CarbColumn col = {
    .name = owned,
    .type = type,
    .role = role,
    .flags = flags,
    .size = size,
    .offset = append_member (rt, size, type_alignment (type)),
    .null_offset = -1,
  };
  if ((flags & CARB_COLUMN_FLAGS_NULLABLE) != 0 && !null_by_pointer (type))
    col.null_offset = (gssize) append_member (rt, sizeof (gboolean), G_ALIGNOF (gboolean));
  g_array_append_val (rt->columns, col);
  rt->model.columns = (const CarbColumn *) rt->columns->data;
  rt->model.n_columns = rt->columns->len;
  return TRUE;
}

gboolean
carb_model_is_runtime (const CarbModel *model)
{
  return as_runtime (model) != NULL;
}

/* Sets (@on) or clears @flags on column @column of the run-time @model.
 * Flags do not change the layout, so a sealed model may take them; only
 * CARB_COLUMN_FLAGS_FILTER is set this way (the sync group's filter, on
 * its own wire model, before the group is used). */
void
carb_model_set_column_flags (CarbModel *model, guint column, CarbColumnFlags flags, gboolean on)
{
  CarbRuntimeModel *rt = as_runtime (model);
  g_return_if_fail (rt != NULL && column < rt->columns->len);
  CarbColumn *col = &g_array_index (rt->columns, CarbColumn, column);
  col->flags = on ? (col->flags | flags) : (col->flags & ~flags);
}

/* Called when a store first resolves @model: from then on its layout is
 * what rows and queries rely on. */
void
carb_model_seal (const CarbModel *model)
{
  CarbRuntimeModel *rt = as_runtime (model);
  if (rt != NULL)
    g_atomic_int_set (&rt->sealed, 1);
}

/**
 * carb_model_ref:
 * @model: a model
 *
 * Takes a reference to a run-time model. A model declared with
 * CARB_DEFINE_MODEL() is static data: it is returned as it is.
 *
 * Returns: (transfer full): @model
 */
CarbModel *
carb_model_ref (const CarbModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  CarbRuntimeModel *rt = as_runtime (model);
  if (rt != NULL)
    g_atomic_int_inc (&rt->ref_count);
  return (CarbModel *) model;
}

/**
 * carb_model_unref:
 * @model: (nullable) (transfer full): a model
 *
 * Drops a reference to a run-time model, freeing it with the last one.
 * Does nothing for a model declared with CARB_DEFINE_MODEL().
 */
void
carb_model_unref (const CarbModel *model)
{
  if (model == NULL)
    return;
  CarbRuntimeModel *rt = as_runtime (model);
  if (rt == NULL || !g_atomic_int_dec_and_test (&rt->ref_count))
    return;
  g_array_unref (rt->columns);
  g_ptr_array_unref (rt->names);
  g_free (rt->schema);
  g_free (rt->table);
  g_free (rt);
}
