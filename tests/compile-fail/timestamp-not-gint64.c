/* EXPECT: Note.changed_at: a TIMESTAMP column needs a member of type gint64 */
#include <carburetor/carburetor.h>

typedef struct
{
  gint64 id;
  char *changed_at; /* wrong: timestamps are gint64 microseconds */
} Note;

CARB_DEFINE_MODEL (
    note_model, Note, NULL, "notes", CARB_ID (Note, id, INT64), CARB_TIMESTAMP (Note, changed_at));
