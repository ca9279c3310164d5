/* carburetor-sqlite — the clock source: a high-water mark kept by the
 * stamping triggers, and the checks that it is all still in place.
 *
 * Per schema, the one-row table carburetor_clock holds `mark`, the newest
 * stamp ever handed out. The triggers carb_store_prepare_table() installs
 * (AFTER INSERT and AFTER UPDATE on each prepared table) first raise it to
 * max(now, mark + 1), then stamp the row with it. SQLite runs one writer at
 * a time, so a writer reads the mark every earlier writer committed and
 * stamps strictly above it. A sync reads W = mark and the rows in one read
 * transaction: a row it cannot see belongs to a writer that commits later,
 * whose stamps are above every mark this snapshot shows, so above W. No
 * write lock (read-only connections sync as well as any), and nothing rests
 * on the system clock never stepping back: the mark only grows.
 *
 * prepare_table starts the mark at max(now, newest stamp of every prepared
 * table of the schema), so rows stamped in the future before it cannot
 * hide later rows.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sqlite-private.h"

#include <string.h>

/* 10000-01-01T00:00:00Z in µs: no stamp reaches it, so the mark never
 * wraps (SQLite would turn mark + 1 past 2^63 into a REAL). */
#define MARK_LIMIT          G_GINT64_CONSTANT (253402300800000000)
#define MARK_LIMIT_SQL      "253402300800000000"
#define MARK_LAST_STAMP_SQL "253402300799999999"
#define CLOCK_TABLE         "carburetor_clock"
/* The rows a versioning trigger is giving versions to, while it does
 * (see version_program()): the stamping UPDATE trigger leaves them alone. */
#define VERSIONING_TABLE "carburetor_versioning"
/* Where the move trigger logs the moves of a filter column (two-way sync
 * with a row filter, docs/TWOWAY.md). */
#define MOVES_TABLE "carburetor_moves"
/* The stamping triggers, then the versioning triggers (two-way sync) of a
 * model with version columns, the move trigger of a model with a filter
 * column, the delete guard of a model with an is-deleted column. A
 * model's table has the first two and those of the others it needs. */
#define N_TRIGGERS     6
#define MOVE_TRIGGER   4
#define DELETE_TRIGGER 5

/* What prepare_table installs for one table, as SQL. */
struct _CarbSqliteStamping
{
  char *schema;  /* "main" unless the model names one */
  char *qschema; /* quoted */
  char *table;
  char *qtable;
  /* stamping on insert, on update; versioning on insert, on update;
   * move; delete guard. NULL where the model needs none. */
  char *names[N_TRIGGERS];
  char *qnames[N_TRIGGERS];      /* quoted */
  char *clauses[N_TRIGGERS];     /* each trigger's CREATE statement after its name */
  gint64 checked_schema_version; /* -1 until check_objects() passed */
};

static char *
quote_id (const char *name)
{
  return carb_sqlite_quote (name);
}

static char *
quote_literal (const char *text)
{
  GString *q = g_string_new ("'");
  for (const char *p = text; *p != '\0'; p++)
    {
      if (*p == '\'')
        g_string_append_c (q, '\'');
      g_string_append_c (q, *p);
    }
  g_string_append_c (q, '\'');
  return g_string_free (q, FALSE);
}

/* The trigger program: raise the mark, stamp the row with it. The id goes
 * into the clock row too: it tells the UPDATE trigger that the UPDATE it
 * sees is this stamping one (see update_clause()). A NULL id, a mark at its
 * limit or a lost clock row abort the write: never a row that no sync can
 * find. */
static char *
stamp_program (const char *table, const char *qtable, const char *qts, const char *qid)
{
  g_autofree char *lit = quote_literal (table);
  g_autofree char *too_far = g_strdup_printf ("carburetor: " CLOCK_TABLE ".mark has reached year 10000:"
                                              " table \"%s\" cannot be stamped",
                                              table);
  g_autofree char *null_id = g_strdup_printf ("carburetor: table \"%s\": a row with a NULL id cannot be"
                                              " synced; give every row an id",
                                              table);
  g_autofree char *no_clock = g_strdup_printf ("carburetor: table \"%s\": the row of " CLOCK_TABLE
                                               " is missing; run carb_store_prepare_table() again",
                                               table);
  g_autofree char *rewritten
      = g_strdup_printf ("carburetor: table \"%s\": another trigger rewrote the stamp"
                         " column %s of the row just stamped; a stamp that does not come"
                         " from carburetor_clock can lie below sync points already handed"
                         " out, and the row would never be delivered: make that trigger"
                         " leave the column alone (Carburetor stamps every write)",
                         table, qts);
  g_autofree char *too_far_lit = quote_literal (too_far);
  g_autofree char *null_id_lit = quote_literal (null_id);
  g_autofree char *no_clock_lit = quote_literal (no_clock);
  g_autofree char *rewritten_lit = quote_literal (rewritten);

  /* The last statement: the stamping UPDATE fires the application's own
   * AFTER UPDATE triggers, and one that writes the stamp column then (an
   * updated_at trigger) has the last word, since this trigger, still
   * running, does not fire again for that write (recursive_triggers is
   * off by default). While the clock row still names this row, the row
   * must hold the mark; otherwise a nested write stamped something else
   * since, which says nothing either way. */
  return g_strdup_printf ("BEGIN UPDATE " CLOCK_TABLE " SET mark = CASE WHEN mark < " MARK_LAST_STAMP_SQL
                          " THEN max(%s, mark + 1) ELSE RAISE(ABORT, %s) END,"
                          " last_table = %s, last_id = coalesce(NEW.%s, RAISE(ABORT, %s));"
                          " UPDATE %s SET %s = coalesce((SELECT mark FROM " CLOCK_TABLE "), RAISE(ABORT, %s))"
                          " WHERE %s = NEW.%s;"
                          " SELECT RAISE(ABORT, %s) FROM " CLOCK_TABLE " c WHERE c.last_table IS %s"
                          " AND c.last_id IS NEW.%s AND EXISTS (SELECT 1 FROM %s WHERE %s = NEW.%s"
                          " AND %s IS NOT c.mark); END",
                          CARB_SQLITE_NOW_US, too_far_lit, lit, qid, null_id_lit, qtable, qts, no_clock_lit,
                          qid, qid, rewritten_lit, lit, qid, qtable, qid, qid, qts);
}

/* An UPDATE that changes a row's id takes the row away from its old id,
 * and no sync tells the devices that hold it: the UPDATE trigger refuses
 * it (its first statement). Lower-casing a UUID id keeps the id (the
 * library reads UUIDs in lower case), and is the fix for a key that a sync
 * refused for its case (sink.c). */
static char *
key_change_message (const char *table)
{
  return g_strdup_printf ("carburetor: table \"%s\": changing the id of a synced row would leave it under its"
                          " old id on the devices that hold it; insert a row with the new id and delete the"
                          " old one instead",
                          table);
}

/* The UPDATE trigger must not stamp again for the stamping UPDATE (which
 * fires it anew when the application turned recursive_triggers on, and
 * always fires it from the INSERT trigger). It skips an UPDATE that
 * changes the stamp to exactly the mark while the clock row names this
 * very row. Only the stamping UPDATE does that: between statements, the
 * row the clock names holds the mark as its stamp, so an application's
 * UPDATE of it either keeps OLD = NEW or writes another value than the
 * mark, and an UPDATE of any other row does not match the clock row.
 *
 * Nor for a versioning trigger's UPDATE (two-way sync), which only adds
 * the versions of the write that fired it: that write's own stamping
 * trigger stamps the row, before or after, once. The versioning trigger
 * names the row in VERSIONING_TABLE for the length of its UPDATE. */
static char *
update_clause (const char *table,
               const char *qtable,
               const char *qts,
               const char *qid,
               gboolean uuid_id,
               const char *program)
{
  g_autofree char *lit = quote_literal (table);
  g_autofree char *key_change = key_change_message (table);
  g_autofree char *key_change_lit = quote_literal (key_change);
  g_autofree char *changed = uuid_id ? g_strdup_printf ("lower(NEW.%s) IS NOT lower(OLD.%s)", qid, qid)
                                     : g_strdup_printf ("NEW.%s IS NOT OLD.%s", qid, qid);
  g_assert (g_str_has_prefix (program, "BEGIN "));
  return g_strdup_printf (
      "AFTER UPDATE ON %s FOR EACH ROW WHEN (OLD.%s IS NEW.%s OR NOT EXISTS (SELECT 1 FROM " CLOCK_TABLE
      " WHERE mark IS NEW.%s AND last_table IS %s AND last_id IS NEW.%s)) AND NOT EXISTS (SELECT 1 "
      "FROM " VERSIONING_TABLE " WHERE tbl IS %s AND id IS NEW.%s) BEGIN SELECT RAISE(ABORT, %s) WHERE %s;%s",
      qtable, qts, qts, qts, lit, qid, lit, qid, key_change_lit, changed, program + strlen ("BEGIN"));
}

/* SQL for the version a write that bypasses the library gives a column
 * whose previous version is @old (an SQL expression, NULL for none): the
 * HLC max (now_ms << 16, hlc (old) + 1) as 19 decimal digits, then the
 * server's site id 0 as 16 hex digits (docs/TWOWAY.md). hlc (old) is its
 * first 19 characters read as an integer (0 for NULL or no digits). */
static char *
server_version (const char *old)
{
  return g_strdup_printf ("printf('%%019d', max((%s / 1000) * 65536,"
                          " CAST(substr(coalesce(%s, ''), 1, 19) AS INTEGER) + 1)) || '0000000000000000'",
                          CARB_SQLITE_NOW_US, old);
}

/* The versioning triggers (two-way sync): SQLite triggers cannot assign
 * NEW, so AFTER INSERT and AFTER UPDATE triggers give the row's version
 * columns their versions in one UPDATE, while VERSIONING_TABLE names the
 * row so that the stamping trigger does not stamp it a second time (see
 * update_clause()). They fire only when a version is due, so the
 * library's own writes, which set every version they write, run neither
 * program:
 *
 *   INSERT: X__v NULL                              → server version (NULL)
 *   UPDATE: X changed and X__v unchanged (or NULL) → server version (OLD.X__v)
 *           X__v NULL, and OLD.X__v NULL too       → server version (NULL)
 *           X__v NULL otherwise                    → OLD.X__v
 *
 * The UPDATE they make changes no versioned column, so it does not fire
 * the UPDATE one again. */
static void
version_clauses (
    const CarbQuery *query, const char *table, const char *qtable, const char *qid, char **clauses)
{
  const CarbModel *model = query->model;
  g_autofree char *lit = quote_literal (table);
  g_autoptr (GString) insert_when = g_string_new (NULL);
  g_autoptr (GString) insert_set = g_string_new (NULL);
  g_autoptr (GString) update_when = g_string_new (NULL);
  g_autoptr (GString) update_set = g_string_new (NULL);

  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      if (col->role != CARB_COLUMN_ROLE_VERSION)
        continue;
      g_autofree char *base = g_strndup (col->name, strlen (col->name) - 3); /* less "__v" */
      g_autofree char *qv = quote_id (col->name);
      g_autofree char *qx = quote_id (base);
      g_autofree char *old = g_strdup_printf ("OLD.%s", qv);
      g_autofree char *fresh = server_version ("NULL");
      g_autofree char *raised = server_version (old);
      /* Fires on any NULL version, which means "as it was" unless X changed
       * or there was none. */
      g_autofree char *fires = g_strdup_printf (
          "(NEW.%s IS NULL OR NEW.%s IS NOT OLD.%s AND NEW.%s IS OLD.%s)", qv, qx, qx, qv, qv);
      g_autofree char *due = g_strdup_printf ("(coalesce(NEW.%s, OLD.%s) IS NULL OR NEW.%s IS NOT OLD.%s AND"
                                              " coalesce(NEW.%s, OLD.%s) IS OLD.%s)",
                                              qv, qv, qx, qx, qv, qv, qv);
      const char *sep = insert_when->len > 0 ? " OR " : "";
      const char *comma = insert_set->len > 0 ? ", " : "";

      g_string_append_printf (insert_when, "%sNEW.%s IS NULL", sep, qv);
      g_string_append_printf (insert_set, "%s%s = coalesce(%s, %s)", comma, qv, qv, fresh);
      g_string_append_printf (update_when, "%s%s", sep, fires);
      g_string_append_printf (update_set, "%s%s = CASE WHEN %s THEN %s ELSE coalesce(%s, OLD.%s) END", comma,
                              qv, due, raised, qv, qv);
    }
    /* Names the row in VERSIONING_TABLE, versions it, forgets it. */
#define VERSION_PROGRAM                                                                                      \
  "INSERT INTO " VERSIONING_TABLE " (tbl, id) VALUES (%s, NEW.%s); UPDATE %s SET %s WHERE %s = NEW.%s;"      \
  " DELETE FROM " VERSIONING_TABLE " WHERE tbl IS %s AND id IS NEW.%s;"
  g_autofree char *insert_program
      = g_strdup_printf (VERSION_PROGRAM, lit, qid, qtable, insert_set->str, qid, qid, lit, qid);
  g_autofree char *update_program
      = g_strdup_printf (VERSION_PROGRAM, lit, qid, qtable, update_set->str, qid, qid, lit, qid);
#undef VERSION_PROGRAM
  clauses[0] = g_strdup_printf ("AFTER INSERT ON %s FOR EACH ROW WHEN %s BEGIN %s END", qtable,
                                insert_when->str, insert_program);
  clauses[1] = g_strdup_printf ("AFTER UPDATE ON %s FOR EACH ROW WHEN %s BEGIN %s END", qtable,
                                update_when->str, update_program);
}

/* The move trigger: an UPDATE that moves the filter column X away from
 * a value logs (table, X, old value, row id) in MOVES_TABLE, in the
 * moving transaction, once per row and value; a download then withdraws
 * the row from the replicas of that value. A NULL value matched no
 * filter. The table is the trigger's own schema's (a trigger's statements
 * cannot name another). A trigger of its own per column, so that sync
 * groups filtering the table by different columns, or not at all, each
 * find theirs. */
static char *
move_clause (const CarbModel *model, const char *qtable, guint column, const char *qid)
{
  const char *name = model->columns[column].name;
  g_autofree char *key = g_strconcat (model->schema != NULL ? model->schema : "",
                                      model->schema != NULL ? "." : "", model->table, NULL);
  g_autofree char *lkey = quote_literal (key);
  g_autofree char *lcol = quote_literal (name);
  g_autofree char *qx = quote_id (name);
  return g_strdup_printf (
      "AFTER UPDATE OF %s ON %s FOR EACH ROW WHEN OLD.%s IS NOT NULL AND NEW.%s IS NOT OLD.%s"
      " BEGIN INSERT OR IGNORE INTO " MOVES_TABLE " (tbl, col, old_value, row_id)"
      " VALUES (%s, %s, CAST(OLD.%s AS TEXT), CAST(OLD.%s AS TEXT)); END",
      qx, qtable, qx, qx, qx, lkey, lcol, qx, qid);
}

/* The delete guard: a DELETE of a row that is not a tombstone fails. Such
 * a row never reaches the devices that hold it (a download only sees rows
 * that are there), so it would stay on them for good; a soft delete syncs.
 * Tombstones may go: that is the purge (carb_store_purge_tombstones(),
 * which keeps a horizon for the replicas that have not seen them). */
static char *
delete_clause (const CarbModel *model, const char *qtable, guint column)
{
  const char *name = model->columns[column].name;
  g_autofree char *qdel = quote_id (name);
  g_autofree char *message = g_strdup_printf (
      "carburetor: table %s%s%s keeps deletes as tombstones: deleting a row whose %s is not true would never "
      "reach the devices that hold it; set %s to true instead (carb_store_purge_tombstones() deletes old "
      "tombstones)",
      model->schema != NULL ? model->schema : "", model->schema != NULL ? "." : "", model->table, name, name);
  g_autofree char *lmessage = quote_literal (message);
  return g_strdup_printf (
      "BEFORE DELETE ON %s FOR EACH ROW WHEN OLD.%s IS NOT 1 BEGIN SELECT RAISE(ABORT, %s); END", qtable,
      qdel, lmessage);
}

static gboolean
has_versions (const CarbModel *model)
{
  for (guint i = 0; i < model->n_columns; i++)
    if (model->columns[i].role == CARB_COLUMN_ROLE_VERSION)
      return TRUE;
  return FALSE;
}

CarbSqliteStamping *
carb_sqlite_stamping_new (const CarbQuery *query)
{
  const CarbModel *model = query->model;
  CarbSqliteStamping *s = g_new0 (CarbSqliteStamping, 1);
  g_autofree char *qts = quote_id (model->columns[query->ts_column].name);
  g_autofree char *qid = quote_id (model->columns[query->id_column].name);

  s->schema = g_strdup (model->schema != NULL ? model->schema : "main");
  s->qschema = quote_id (s->schema);
  s->table = g_strdup (model->table);
  s->qtable = quote_id (model->table);
  s->names[0] = g_strconcat ("carb_stamp_insert_", model->table, NULL);
  s->names[1] = g_strconcat ("carb_stamp_update_", model->table, NULL);
  if (has_versions (model))
    {
      s->names[2] = g_strconcat ("carb_version_insert_", model->table, NULL);
      s->names[3] = g_strconcat ("carb_version_update_", model->table, NULL);
      version_clauses (query, s->table, s->qtable, qid, &s->clauses[2]);
    }
  gint moved = carb_model_find_filter_column (model);
  if (s->names[2] != NULL && moved >= 0)
    {
      s->names[MOVE_TRIGGER]
          = g_strconcat ("carb_move_", model->table, "_", model->columns[moved].name, NULL);
      s->clauses[MOVE_TRIGGER] = move_clause (model, s->qtable, (guint) moved, qid);
    }
  if (query->deleted_column >= 0)
    {
      const char *del = model->columns[query->deleted_column].name;
      s->names[DELETE_TRIGGER] = g_strconcat ("carb_keep_", model->table, "_", del, NULL);
      s->clauses[DELETE_TRIGGER] = delete_clause (model, s->qtable, (guint) query->deleted_column);
    }
  for (guint i = 0; i < N_TRIGGERS; i++)
    s->qnames[i] = s->names[i] != NULL ? quote_id (s->names[i]) : NULL;

  g_autofree char *program = stamp_program (s->table, s->qtable, qts, qid);
  s->clauses[0] = g_strdup_printf ("AFTER INSERT ON %s FOR EACH ROW %s", s->qtable, program);
  s->clauses[1] = update_clause (s->table, s->qtable, qts, qid,
                                 model->columns[query->id_column].type == CARB_COLUMN_TYPE_UUID, program);
  s->checked_schema_version = -1;
  return s;
}

void
carb_sqlite_stamping_free (CarbSqliteStamping *s)
{
  if (s == NULL)
    return;
  g_free (s->schema);
  g_free (s->qschema);
  g_free (s->table);
  g_free (s->qtable);
  for (guint i = 0; i < N_TRIGGERS; i++)
    {
      g_free (s->names[i]);
      g_free (s->qnames[i]);
      g_free (s->clauses[i]);
    }
  g_free (s);
}

/* The trigger's statement as sqlite_schema keeps it: SQLite drops the
 * schema name and IF NOT EXISTS, and keeps the rest as written. */
static char *
stored_trigger_sql (const CarbSqliteStamping *s, guint i)
{
  return g_strdup_printf ("CREATE TRIGGER %s %s", s->qnames[i], s->clauses[i]);
}

static gboolean
not_prepared (CarbBackend *backend, const CarbSqliteStamping *s, GError **error, const char *format, ...)
    G_GNUC_PRINTF (4, 5);

static gboolean
not_prepared (CarbBackend *backend, const CarbSqliteStamping *s, GError **error, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  g_autofree char *what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED,
               "SQLite “%s”: table “%s.%s” is not prepared for sync: %s. Rows written now may never be"
               " delivered; run carb_store_prepare_table() on it (from a connection that may write)",
               backend->path, s->schema, s->table, what);
  return FALSE;
}

/* What each trigger is, for messages. */
static const struct
{
  const char *kind;
  const char *consequence;
} trigger_kinds[N_TRIGGERS] = {
  { "stamping", "" },
  { "stamping", "" },
  { "versioning", " (writes that bypass Carburetor would get no version)" },
  { "versioning", " (writes that bypass Carburetor would get no version)" },
  { "move", " (a row moved out of a sync group's filter would stay on the replicas it left)" },
  { "delete guard", " (a DELETE of a row that is not a tombstone would go through, and the devices that hold "
                    "the row would keep it for good)" },
};

/* Every trigger exists with exactly the statement prepare_table makes,
 * and so do the clock table and the versioning table (which the stamping
 * UPDATE trigger reads). */
static gboolean
check_objects (CarbBackend *backend, const CarbSqliteStamping *s, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("SELECT type, name, sql FROM %s.sqlite_master WHERE (type = "
                                          "'trigger' AND name IN (?1, ?2, ?3, ?4, ?5, ?6))"
                                          " OR (type = 'table' AND name IN ('" CLOCK_TABLE
                                          "', '" VERSIONING_TABLE "', '" MOVES_TABLE "'))",
                                          s->qschema);
  sqlite3_stmt *stmt = NULL;
  char *found[N_TRIGGERS] = { NULL };
  gboolean clock = FALSE, versioning = FALSE, moves = FALSE;
  int rc;

  if (sqlite3_prepare_v2 (backend->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the schema");
  for (guint i = 0; i < N_TRIGGERS; i++)
    sqlite3_bind_text (stmt, (int) i + 1, s->names[i], -1, SQLITE_STATIC); /* NULL binds NULL */
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *type = (const char *) sqlite3_column_text (stmt, 0);
      const char *name = (const char *) sqlite3_column_text (stmt, 1);
      const char *text = (const char *) sqlite3_column_text (stmt, 2);
      if (strcmp (type, "table") == 0)
        {
          clock = clock || strcmp (name, CLOCK_TABLE) == 0;
          versioning = versioning || strcmp (name, VERSIONING_TABLE) == 0;
          moves = moves || strcmp (name, MOVES_TABLE) == 0;
        }
      for (guint i = 0; i < N_TRIGGERS; i++)
        if (s->names[i] != NULL && strcmp (type, "trigger") == 0 && strcmp (name, s->names[i]) == 0)
          found[i] = g_strdup (text != NULL ? text : "");
    }
  sqlite3_finalize (stmt);

  gboolean ok
      = rc == SQLITE_DONE || carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the schema");
  for (guint i = 0; ok && i < N_TRIGGERS; i++)
    {
      if (s->names[i] == NULL)
        continue;
      g_autofree char *expected = stored_trigger_sql (s, i);
      const char *kind = trigger_kinds[i].kind;
      const char *consequence = trigger_kinds[i].consequence;
      if (found[i] == NULL)
        ok = not_prepared (backend, s, error, "its %s trigger “%s” is missing%s", kind, s->names[i],
                           consequence);
      else if (strcmp (found[i], expected) != 0)
        ok = not_prepared (backend, s, error,
                           "its %s trigger “%s” is not the one this version installs (changed by hand,"
                           " or made by another version of Carburetor, or for a model that versions"
                           " other columns)",
                           kind, s->names[i]);
    }
  if (ok && !clock)
    ok = not_prepared (backend, s, error, "the clock table “%s." CLOCK_TABLE "” is missing", s->schema);
  if (ok && !versioning)
    ok = not_prepared (backend, s, error, "the table “%s." VERSIONING_TABLE "” is missing", s->schema);
  if (ok && !moves && s->names[MOVE_TRIGGER] != NULL)
    ok = not_prepared (backend, s, error, "the table “%s." MOVES_TABLE "” is missing", s->schema);
  for (guint i = 0; i < N_TRIGGERS; i++)
    g_free (found[i]);
  return ok;
}

/* The mark: one row, an INTEGER below the limit. */
static gboolean
read_mark (CarbBackend *backend, const CarbSqliteStamping *s, gint64 *mark, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("SELECT mark, typeof (mark) FROM %s." CLOCK_TABLE, s->qschema);
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (backend->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read " CLOCK_TABLE);
  int rc = sqlite3_step (stmt);
  gboolean integer
      = rc == SQLITE_ROW && strcmp ((const char *) sqlite3_column_text (stmt, 1), "integer") == 0;
  *mark = rc == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read " CLOCK_TABLE);
  if (rc == SQLITE_DONE)
    return not_prepared (backend, s, error, "the clock table “%s." CLOCK_TABLE "” has lost its row",
                         s->schema);
  if (!integer || *mark >= MARK_LIMIT)
    return not_prepared (backend, s, error,
                         "the clock table “%s." CLOCK_TABLE "” holds a mark that is not a"
                         " time before year 10000",
                         s->schema);
  return TRUE;
}

static gboolean
schema_version (CarbBackend *backend, const CarbSqliteStamping *s, gint64 *version, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("PRAGMA %s.schema_version", s->qschema);
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (backend->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, sql);
  int rc = sqlite3_step (stmt);
  *version = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_ROW)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, sql);
  return TRUE;
}

/* The stamping for @query, cached per table and columns. */
static CarbSqliteStamping *
lookup_stamping (CarbBackend *backend, const CarbQuery *query)
{
  const CarbModel *model = query->model;
  g_autoptr (GString) key = g_string_new (NULL);
  g_string_append_printf (key, "%s\x1f%s\x1f%s\x1f%s\x1f%d", model->schema != NULL ? model->schema : "main",
                          model->table, model->columns[query->ts_column].name,
                          model->columns[query->id_column].name, (int) model->columns[query->id_column].type);
  /* The versioning triggers depend on the version columns, the move
   * trigger on the filter column, the delete guard on the is-deleted
   * column. */
  for (guint i = 0; i < model->n_columns; i++)
    if (model->columns[i].role == CARB_COLUMN_ROLE_VERSION)
      g_string_append_printf (key, "\x1f%s", model->columns[i].name);
  gint moved = carb_model_find_filter_column (model);
  if (moved >= 0)
    g_string_append_printf (key, "\x1e%s", model->columns[moved].name);
  if (query->deleted_column >= 0)
    g_string_append_printf (key, "\x1d%s", model->columns[query->deleted_column].name);
  CarbSqliteStamping *s = g_hash_table_lookup (backend->stampings, key->str);
  if (s == NULL)
    {
      s = carb_sqlite_stamping_new (query);
      g_hash_table_insert (backend->stampings, g_string_free (g_steal_pointer (&key), FALSE), s);
    }
  return s;
}

gboolean
carb_sqlite_check_prepared (CarbBackend *backend, const CarbQuery *query, GError **error)
{
  CarbSqliteStamping *s = lookup_stamping (backend, query);
  gint64 mark = 0;
  return check_objects (backend, s, error) && read_mark (backend, s, &mark, error);
}

/* check_objects(), again only when the schema changed: any change to the
 * triggers bumps the schema version, so an idle sync or poll reads one
 * header field instead of sqlite_master. */
static gboolean
check_objects_cached (CarbBackend *backend, CarbSqliteStamping *s, GError **error)
{
  gint64 version = 0;

  if (!schema_version (backend, s, &version, error))
    return FALSE;
  if (version != s->checked_schema_version)
    {
      s->checked_schema_version = -1;
      if (!check_objects (backend, s, error))
        return FALSE;
      s->checked_schema_version = version;
    }
  return TRUE;
}

/**
 * carb_sqlite_check_objects:
 * @backend: the backend
 * @query: the table's query
 * @error: set naming the trigger or table at fault and the fix
 *
 * The check of a sync, without reading the mark: every trigger and table
 * prepare_table makes for @query's model is there, as it made it. For the
 * idle poll (sqlite-probe.c), which must refuse what a sync refuses.
 *
 * Returns: %TRUE if they are
 */
gboolean
carb_sqlite_check_objects (CarbBackend *backend, const CarbQuery *query, GError **error)
{
  return check_objects_cached (backend, lookup_stamping (backend, query), error);
}

gboolean
carb_sqlite_clock_read (CarbBackend *backend, const CarbQuery *query, gint64 *w, GError **error)
{
  CarbSqliteStamping *s = lookup_stamping (backend, query);
  return check_objects_cached (backend, s, error) && read_mark (backend, s, w, error);
}

/* Rows from before prepare_table must be reachable: an INTEGER stamp below
 * the limit and an id. (Uses the (ts, id) index and the id's key.) */
static gboolean
check_history (
    CarbBackend *backend, const CarbSqliteStamping *s, const char *qts, const char *qid, GError **error)
{
  g_autofree char *sql
      = g_strdup_printf ("SELECT quote (%s), quote (%s) FROM %s.%s WHERE %s IS NULL OR %s >= " MARK_LIMIT_SQL
                         " OR %s IS NULL LIMIT 1",
                         qid, qts, s->qschema, s->qtable, qts, qts, qid);
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (backend->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the table's stamps");
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    g_set_error (
        error, CARB_ERROR, CARB_ERROR_INVALID_DATA,
        "SQLite “%s”: table “%s.%s” holds a row (id %s) stamped %s: every row needs an id and a stamp"
        " in INTEGER µs since 1970 before year 10000 before carb_store_prepare_table() can vouch for"
        " it; fix or delete such rows first",
        backend->path, s->schema, s->table, sqlite3_column_text (stmt, 0), sqlite3_column_text (stmt, 1));
  else if (rc != SQLITE_DONE)
    carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the table's stamps");
  sqlite3_finalize (stmt);
  return rc == SQLITE_DONE;
}

/* The newest stamp of @qtable's column @qts, into *newest if greater. */
static gboolean
raise_to_newest (CarbBackend *backend,
                 const char *qschema,
                 const char *qtable,
                 const char *qts,
                 gint64 *newest,
                 GError **error)
{
  g_autofree char *sql
      = g_strdup_printf ("SELECT CAST (max (%s) AS INTEGER) FROM %s.%s", qts, qschema, qtable);
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (backend->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, sql);
  int rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW && sqlite3_column_type (stmt, 0) != SQLITE_NULL)
    *newest = MAX (*newest, sqlite3_column_int64 (stmt, 0));
  sqlite3_finalize (stmt);
  return rc == SQLITE_ROW || carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, sql);
}

/* The stamp column an insert trigger of ours on @table writes, read back
 * from its statement ("UPDATE <table> SET <column> = coalesce"): the only
 * place that names it. NULL if @sql is not of our making. */
static char *
stamped_column (const char *table, const char *sql)
{
  g_autofree char *qtable = quote_id (table);
  g_autofree char *needle = g_strdup_printf ("; UPDATE %s SET \"", qtable);
  const char *p = strstr (sql, needle);
  if (p == NULL)
    return NULL;
  p += strlen (needle) - 1;
  g_autoptr (GString) q = g_string_new ("\"");
  for (p++; *p != '\0'; p++)
    {
      g_string_append_c (q, *p);
      if (*p == '"' && p[1] == '"')
        g_string_append_c (q, *++p);
      else if (*p == '"')
        return g_string_free (g_steal_pointer (&q), FALSE);
    }
  return NULL;
}

/* The mark starts at max(now, newest stamp of this table and of every other
 * table prepared in the schema) and never goes down: syncs may have handed
 * out the old value, and legacy rows stamped ahead of the clock must stay
 * below every stamp made from now on. The other tables matter when the
 * clock row is made again after it was lost. */
static gboolean
start_mark (CarbBackend *backend, const CarbSqliteStamping *s, const char *qts, GError **error)
{
  g_autofree char *triggers
      = g_strdup_printf ("SELECT tbl_name, sql FROM %s.sqlite_master WHERE type = 'trigger'"
                         " AND name = 'carb_stamp_insert_' || tbl_name AND tbl_name <> ?1",
                         s->qschema);
  sqlite3_stmt *stmt = NULL;
  gint64 newest = G_MININT64;
  gboolean ok = raise_to_newest (backend, s->qschema, s->qtable, qts, &newest, error);
  int rc = SQLITE_DONE;

  if (ok && sqlite3_prepare_v2 (backend->db, triggers, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the schema");
  if (ok)
    sqlite3_bind_text (stmt, 1, s->table, -1, SQLITE_STATIC);
  while (ok && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *table = (const char *) sqlite3_column_text (stmt, 0);
      g_autofree char *qcolumn = stamped_column (table, (const char *) sqlite3_column_text (stmt, 1));
      g_autofree char *qtable = quote_id (table);
      if (qcolumn != NULL)
        ok = raise_to_newest (backend, s->qschema, qtable, qcolumn, &newest, error);
    }
  sqlite3_finalize (stmt);
  if (ok && rc != SQLITE_DONE)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the schema");
  if (!ok)
    return FALSE;

  g_autofree char *start
      = g_strdup_printf ("INSERT INTO %s." CLOCK_TABLE " (one, mark) VALUES (1, max (%s, ?1))"
                         " ON CONFLICT (one) DO UPDATE SET mark = max (mark, excluded.mark)",
                         s->qschema, CARB_SQLITE_NOW_US);
  if (sqlite3_prepare_v2 (backend->db, start, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot start " CLOCK_TABLE);
  sqlite3_bind_int64 (stmt, 1, newest);
  rc = sqlite3_step (stmt);
  sqlite3_finalize (stmt);
  return rc == SQLITE_DONE
         || carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot start " CLOCK_TABLE);
}

/* Replaces a trigger unless it is exactly the current one. */
static gboolean
install_trigger (CarbBackend *backend, const CarbSqliteStamping *s, guint i, GError **error)
{
  g_autofree char *sql
      = g_strdup_printf ("SELECT sql FROM %s.sqlite_master WHERE type = 'trigger' AND name = ?1", s->qschema);
  g_autofree char *expected = stored_trigger_sql (s, i);
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (backend->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    return carb_sqlite_fail (backend, error, CARB_ERROR_QUERY, "cannot read the schema");
  sqlite3_bind_text (stmt, 1, s->names[i], -1, SQLITE_STATIC);
  gboolean current = sqlite3_step (stmt) == SQLITE_ROW
                     && g_strcmp0 ((const char *) sqlite3_column_text (stmt, 0), expected) == 0;
  sqlite3_finalize (stmt);
  if (current)
    return TRUE;
  g_autofree char *replace
      = g_strdup_printf ("DROP TRIGGER IF EXISTS %s.%s; CREATE TRIGGER %s.%s %s", s->qschema, s->qnames[i],
                         s->qschema, s->qnames[i], s->clauses[i]);
  return carb_sqlite_exec (backend, replace, error);
}

static gboolean
prepare_locked (CarbBackend *backend, const CarbQuery *query, GError **error)
{
  const CarbModel *model = query->model;
  CarbSqliteStamping *s = lookup_stamping (backend, query);
  g_autofree char *qts = quote_id (model->columns[query->ts_column].name);
  g_autofree char *qid = quote_id (model->columns[query->id_column].name);
  g_autofree char *index = g_strconcat ("carb_sync_", model->table, NULL);
  g_autofree char *qindex = quote_id (index);
  g_autofree char *setup = g_strdup_printf (
      "CREATE TABLE IF NOT EXISTS %s." CLOCK_TABLE " (one INTEGER PRIMARY KEY CHECK (one = 1),"
      " mark INTEGER NOT NULL, last_table TEXT, last_id);"
      "CREATE TABLE IF NOT EXISTS %s." VERSIONING_TABLE " (tbl TEXT, id);"
      "CREATE INDEX IF NOT EXISTS %s.%s ON %s (%s, %s);",
      s->qschema, s->qschema, s->qschema, qindex, s->qtable, qts, qid);
  g_autofree char *moves = g_strdup_printf (
      "CREATE TABLE IF NOT EXISTS %s." MOVES_TABLE " (tbl TEXT NOT NULL, col TEXT NOT NULL,"
      " old_value TEXT NOT NULL, row_id TEXT NOT NULL, PRIMARY KEY (tbl, col, old_value, row_id))",
      s->qschema);
  gboolean ok = carb_sqlite_exec (backend, setup, error)
                && (s->names[MOVE_TRIGGER] == NULL || carb_sqlite_exec (backend, moves, error))
                && check_history (backend, s, qts, qid, error) && start_mark (backend, s, qts, error);
  for (guint i = 0; ok && i < N_TRIGGERS; i++)
    ok = s->names[i] == NULL || install_trigger (backend, s, i, error);
  return ok;
}

/* Stamps are made in SQL inside the write (the triggers run under the write
 * lock), never bound by the application: that is what the clock source
 * rests on. */
gboolean
carb_sqlite_prepare_table (CarbBackend *backend, const CarbQuery *query, GError **error)
{
  if (!carb_sqlite_exec (backend, "BEGIN IMMEDIATE", error))
    return FALSE;
  if (!prepare_locked (backend, query, error))
    {
      sqlite3_exec (backend->db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }
  return carb_sqlite_exec (backend, "COMMIT", error);
}
