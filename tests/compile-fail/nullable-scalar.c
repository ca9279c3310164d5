/* EXPECT: Note.rating: a nullable INT32 column needs CARB_COLUMN_NULLABLE_FLAG() */
#include <carburetor/carburetor.h>

typedef struct
{
  gint64 id;
  gint32 rating; /* wrong: an int cannot hold NULL by itself */
  gint64 last_synced_at;
} Note;

CARB_DEFINE_MODEL (note_model,
                   Note,
                   NULL,
                   "notes",
                   CARB_ID (Note, id, INT64),
                   CARB_COLUMN_NULLABLE (Note, rating, INT32),
                   CARB_COLUMN (Note, last_synced_at, TIMESTAMP));
