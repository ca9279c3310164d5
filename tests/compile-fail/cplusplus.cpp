// C++ includes the application API and declares models at run time; the
// C11 model macros are left out (include/carburetor/model.h).
#include <carburetor/carburetor.h>

int
main ()
{
  CarbModel *model = carb_model_new (NULL, "todos");
  GError *error = NULL;
  gboolean ok = carb_model_add_column (model, "id", CARB_COLUMN_TYPE_INT64, CARB_COLUMN_ROLE_ID,
                                       CARB_COLUMN_FLAGS_NONE, &error);
  carb_model_unref (model);
  return ok ? 0 : 1;
}
