/* EXPECT: Note.title: a TEXT column needs a member of type char * */
#include <carburetor/carburetor.h>

typedef struct
{
  gint64 id;
  char title[32]; /* wrong: decays to char * but cannot hold a pointer */
  gint64 last_synced_at;
} Note;

CARB_DEFINE_MODEL (note_model,
                   Note,
                   NULL,
                   "notes",
                   CARB_ID (Note, id, INT64),
                   CARB_COLUMN (Note, title, TEXT),
                   CARB_COLUMN (Note, last_synced_at, TIMESTAMP));
