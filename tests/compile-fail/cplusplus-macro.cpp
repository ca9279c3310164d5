// In C++ the model macros say what to use instead.
/* EXPECT: in C++ declare models at run time */
#include <carburetor/carburetor.h>

struct Todo
{
  gint64 id;
};

CARB_DEFINE_STATIC_MODEL (todo_model, Todo, NULL, "todos", CARB_ID (Todo, id, INT64));
