/* Control: a correct declaration compiles with the same command, so the
 * failures of the other files are the checks', not the setup's. */
#include <carburetor/carburetor.h>

typedef struct
{
  gint64 id;
  char *title;
  gint64 changed_at;
} Note;

CARB_DEFINE_MODEL (note_model,
                   Note,
                   NULL,
                   "notes",
                   CARB_ID (Note, id, INT64),
                   CARB_COLUMN (Note, title, TEXT),
                   CARB_TIMESTAMP (Note, changed_at));
