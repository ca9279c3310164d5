/* EXPECT: Note.count: a INT64 column needs a member of type gint64 */
#include <carburetor/carburetor.h>

typedef struct
{
  gint64 id;
  gint32 count; /* wrong: an INT64 column into a 32-bit member would truncate */
  gint64 last_synced_at;
} Note;

CARB_DEFINE_MODEL (note_model,
                   Note,
                   NULL,
                   "notes",
                   CARB_ID (Note, id, INT64),
                   CARB_COLUMN (Note, count, INT64),
                   CARB_COLUMN (Note, last_synced_at, TIMESTAMP));
