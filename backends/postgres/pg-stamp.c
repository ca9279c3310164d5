/* carburetor-postgres — the stamping trigger: its source, installing it
 * (prepare_table), and checking that it is still there, enabled and
 * current (check_prepared, and on every sync as part of the clock
 * source's first statement).
 *
 * The trigger is what the clock source (pg-clock.c) rests on. Once per
 * transaction, before its first stamp, it reads the clock and takes a
 * SHARED transaction-level advisory lock whose 64-bit key carries that
 * reading: CARB_PG_LOCK_TAG in the top 16 bits, milliseconds since 1970
 * below. Then, and on every row, it stamps clock_timestamp(), which is
 * not earlier than the key's time. A transaction-local setting holding the
 * transaction's id remembers that the lock is taken; ROLLBACK TO SAVEPOINT
 * undoes the setting and the lock together, so the next stamp takes it
 * again.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pg-private.h"

#include <string.h>

/* The trigger's function body for the timestamp column @ts and the id
 * column @id (both quoted). An UPDATE that changes a row's id takes the
 * row away from its old id, and no sync tells the devices that hold it:
 * it is refused. Lower-casing a UUID id kept as text keeps the id (the
 * library reads UUIDs in lower case), and is the fix for a key a sync
 * refused for its case (sink.c). */
static char *
stamp_body (const char *ts, const char *id, gboolean uuid_id)
{
  g_autofree char *changed
      = uuid_id ? g_strdup_printf ("lower (NEW.%s::text) IS DISTINCT FROM lower (OLD.%s::text)", id, id)
                : g_strdup_printf ("NEW.%s IS DISTINCT FROM OLD.%s", id, id);
  return g_strdup_printf (
      "DECLARE xact text := pg_current_xact_id ()::text;"
      " BEGIN"
      " IF TG_OP = 'UPDATE' AND %s THEN"
      " RAISE EXCEPTION USING ERRCODE = 'restrict_violation', MESSAGE = format ("
      "'carburetor: table %%s: changing the id of a synced row would leave it under its old"
      " id on the devices that hold it; insert a row with the new id and delete the old one"
      " instead', TG_TABLE_NAME);"
      " END IF;"
      " IF current_setting ('carburetor.stamping', true) IS DISTINCT FROM xact THEN"
      " PERFORM pg_advisory_xact_lock_shared (%" G_GINT64_FORMAT
      " | floor (extract (epoch FROM clock_timestamp ()) * 1000)::int8);"
      " PERFORM set_config ('carburetor.stamping', xact, true);"
      " END IF;"
      " NEW.%s := clock_timestamp ();"
      " RETURN NEW;"
      " END",
      changed, CARB_PG_LOCK_TAG << 48, ts);
}

/* The versioning trigger (two-way sync, docs/TWOWAY.md): writes that
 * bypass the library get a version in every version column they leave as
 * it was. The library's own writes set each version they write, so the
 * trigger leaves them alone.
 *
 *   INSERT: X__v NULL                           → server_version (NULL)
 *   UPDATE: X changed and X__v unchanged (or NULL) → server_version (OLD.X__v)
 *           X__v NULL, and OLD.X__v NULL too       → server_version (NULL)
 *           X__v NULL otherwise                    → OLD.X__v
 *
 * server_version (old) is the HLC max (now_ms << 16, hlc (old) + 1), as 19
 * decimal digits, then the server's site id 0 as 16 hex digits: a bypass
 * write beats the version it replaces whatever the clocks say. A NULL
 * version in an UPDATE counts as the old one left as it was (the core's
 * upsert writes NULL for a version the application did not give), and a
 * row without versions (from before its version columns) gets them on
 * UPDATE … SET x__v = NULL.
 *
 * Generated per table (static column references), not one generic
 * function fed the column list: no to_jsonb () of the whole row, which
 * would detoast every large column of every write, and the check compares
 * the body, so a model that versions another column finds the trigger
 * outdated. */
static void
append_version_of (GString *body, const char *old)
{
  g_string_append_printf (
      body,
      " hlc := greatest (now_hlc, CASE WHEN %s ~ '^[0-9]{19}'"
      " THEN substr (%s, 1, 19)::numeric + 1 ELSE 0 END);"
      " IF hlc > 9999999999999999999 THEN RAISE EXCEPTION"
      " 'carburetor: table %%: a version beyond 19 digits cannot be raised', TG_TABLE_NAME;"
      " END IF;",
      old, old);
}

static char *
version_body (CarbBackend *backend, const CarbModel *model, GError **error)
{
  g_autoptr (GString) inserts = g_string_new (NULL);
  g_autoptr (GString) updates = g_string_new (NULL);

  for (guint i = 0; i < model->n_columns; i++)
    {
      const CarbColumn *col = &model->columns[i];
      if (col->role != CARB_COLUMN_ROLE_VERSION)
        continue;
      g_autofree char *base = g_strndup (col->name, strlen (col->name) - 3); /* less "__v" */
      g_autofree char *qv = carb_pg_quote (backend, col->name, error);
      g_autofree char *qx = qv != NULL ? carb_pg_quote (backend, base, error) : NULL;
      if (qx == NULL)
        return NULL;
      g_string_append_printf (
          inserts, " IF NEW.%s IS NULL THEN NEW.%s := lpad (now_hlc::text, 19, '0') || site; END IF;", qv,
          qv);
      g_string_append_printf (updates,
                              " IF NEW.%s IS NULL THEN NEW.%s := OLD.%s; END IF;"
                              " IF NEW.%s IS NULL OR (NEW.%s IS DISTINCT FROM OLD.%s"
                              " AND NEW.%s IS NOT DISTINCT FROM OLD.%s) THEN",
                              qv, qv, qv, qv, qx, qx, qv, qv);
      g_autofree char *old = g_strdup_printf ("OLD.%s", qv);
      append_version_of (updates, old);
      g_string_append_printf (updates, " NEW.%s := lpad (hlc::text, 19, '0') || site; END IF;", qv);
    }
  return g_strdup_printf (
      "DECLARE now_hlc numeric"
      " := (floor (extract (epoch FROM clock_timestamp ()) * 1000)::int8 * 65536)::numeric;"
      " hlc numeric; site text := '0000000000000000';"
      " BEGIN"
      " IF TG_OP = 'INSERT' THEN%s RETURN NEW; END IF;"
      "%s"
      " RETURN NEW;"
      " END",
      inserts->str, updates->str);
}

/**
 * carb_pg_stamp_versioned:
 * @model: a model
 *
 * Returns: whether @model has version columns (two-way sync), so that
 *   prepare_table installs a versioning trigger and the checks look for it
 */
gboolean
carb_pg_stamp_versioned (const CarbModel *model)
{
  for (guint i = 0; i < model->n_columns; i++)
    if (model->columns[i].role == CARB_COLUMN_ROLE_VERSION)
      return TRUE;
  return FALSE;
}

/* The literals naming @model's table (schema.table or table) and its
 * column @column in a trigger's SQL; both NULL (error set) if quoting
 * failed. Free them with PQfreemem(). */
static gboolean
table_column_literals (
    CarbBackend *backend, const CarbModel *model, gint column, char **lkey, char **lcol, GError **error)
{
  const char *name = model->columns[column].name;
  g_autofree char *key = g_strconcat (model->schema != NULL ? model->schema : "",
                                      model->schema != NULL ? "." : "", model->table, NULL);
  *lkey = PQescapeLiteral (backend->conn, key, strlen (key));
  *lcol = PQescapeLiteral (backend->conn, name, strlen (name));
  if (*lkey != NULL && *lcol != NULL)
    return TRUE;
  g_clear_pointer (lkey, PQfreemem);
  g_clear_pointer (lcol, PQfreemem);
  return carb_pg_fail (backend, error, "cannot quote a trigger's table or column");
}

/* The move trigger (two-way sync with a row filter, docs/TWOWAY.md):
 * an UPDATE that moves the filter column X away from a value logs
 * (table, X, old value, row id) in carburetor_moves, in the moving
 * transaction, once per row and value. A download then withdraws the row
 * from the replicas of that value. The text forms are those the core
 * compares: uuid lower-case, integers in decimal. A NULL value matched no
 * filter, so moving away from it is not logged. Its own trigger (not a
 * part of the versioning one): sync groups that filter the table by
 * different columns, or not at all, each find theirs. */
static char *
move_body (CarbBackend *backend,
           const CarbModel *model,
           const char *moves_table,
           gint column,
           guint id_column,
           GError **error)
{
  g_autofree char *qx = carb_pg_quote (backend, model->columns[column].name, error);
  g_autofree char *qid = qx != NULL ? carb_pg_quote (backend, model->columns[id_column].name, error) : NULL;
  if (qid == NULL)
    return NULL;
  char *lkey = NULL, *lcol = NULL;
  if (!table_column_literals (backend, model, column, &lkey, &lcol, error))
    return NULL;
  char *body
      = g_strdup_printf ("BEGIN"
                         " IF TG_OP = 'UPDATE' AND OLD.%s IS NOT NULL AND NEW.%s IS DISTINCT FROM OLD.%s THEN"
                         " INSERT INTO %s (tbl, col, old_value, row_id)"
                         " VALUES (%s, %s, OLD.%s::text, OLD.%s::text) ON CONFLICT DO NOTHING;"
                         " END IF;"
                         " RETURN NEW;"
                         " END",
                         qx, qx, qx, moves_table, lkey, lcol, qx, qid);
  PQfreemem (lkey);
  PQfreemem (lcol);
  return body;
}

/* The delete guard: a DELETE of a row that is not a tombstone fails. Such
 * a row never reaches the devices that hold it (a download only sees rows
 * that are there), so it would stay on them for good; a soft delete
 * (is-deleted set) syncs. Tombstones may go: that is the purge
 * (carb_store_purge_tombstones(), which keeps a horizon for the replicas
 * that have not seen them). TRUNCATE fires no row trigger: docs/SYNC.md. */
static char *
delete_body (CarbBackend *backend, const CarbModel *model, gint column, GError **error)
{
  const char *name = model->columns[column].name;
  g_autofree char *qdel = carb_pg_quote (backend, name, error);
  if (qdel == NULL)
    return NULL;
  char *lkey = NULL, *lcol = NULL;
  if (!table_column_literals (backend, model, column, &lkey, &lcol, error))
    return NULL;
  char *body = g_strdup_printf (
      "BEGIN"
      " IF OLD.%s IS NOT TRUE THEN RAISE EXCEPTION USING ERRCODE = 'restrict_violation',"
      " MESSAGE = format ('carburetor: table %%s keeps deletes as tombstones: deleting a row whose %%s is"
      " not true would never reach the devices that hold it; set %%s to true instead"
      " (carb_store_purge_tombstones() deletes old tombstones)', %s, %s, %s);"
      " END IF;"
      " RETURN OLD;"
      " END",
      qdel, lkey, lcol, lcol);
  PQfreemem (lkey);
  PQfreemem (lcol);
  return body;
}

/* A name for an object the plugin owns: readable, derived from the table
 * (so a second call finds it again), within PostgreSQL's 63-byte limit
 * however long or odd the table's name is. */
static char *
owned_name (const CarbModel *model, const char *kind)
{
  g_autofree char *full = g_strconcat (model->schema != NULL ? model->schema : "", ".", model->table, NULL);
  g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, full, -1);
  GString *name = g_string_new ("carb_");
  g_string_append (name, kind);
  g_string_append_c (name, '_');
  for (const char *p = model->table; *p != '\0' && name->len < 40; p++)
    if (g_ascii_isalnum (*p) || *p == '_')
      g_string_append_c (name, g_ascii_tolower (*p));
  g_string_append_c (name, '_');
  g_string_append_len (name, digest, 12);
  return g_string_free (name, FALSE);
}

/* The stamping trigger's name. PostgreSQL fires a table's BEFORE row
 * triggers in the order of their names, and the stamping trigger must fire
 * last, so that an application's trigger setting the stamp column (the
 * common updated_at trigger) is overwritten rather than have the last
 * word: "zz_" puts it after the names applications give (a later one is
 * refused, see LATER_TRIGGER_SQL). Earlier builds named it
 * owned_name (model, "stamp"): prepare_table drops that one
 * (append_drop_legacy_stamping ()). */
static char *
stamping_trigger_name (const CarbModel *model)
{
  g_autofree char *base = owned_name (model, "stamp");
  return g_strconcat ("zz_", base, NULL);
}

/* carburetor_moves, in the model's schema when it names one (found
 * through the search path like the table otherwise), quoted. */
static char *
moves_table_name (CarbBackend *backend, const CarbModel *model, GError **error)
{
  g_autofree char *table = carb_pg_quote (backend, "carburetor_moves", error);
  if (table == NULL || model->schema == NULL)
    return g_steal_pointer (&table);
  g_autofree char *schema = carb_pg_quote (backend, model->schema, error);
  return schema != NULL ? g_strconcat (schema, ".", table, NULL) : NULL;
}

/* The name of a trigger of @kind kept per table and column (the move
 * trigger, the delete guard). */
static char *
column_trigger_name (const CarbModel *model, const char *kind, const char *column)
{
  g_autofree char *tag = g_compute_checksum_for_string (G_CHECKSUM_SHA256, column, -1);
  g_autofree char *base = owned_name (model, kind);
  return g_strdup_printf ("%.*s_%.8s", 48, base, tag);
}

/**
 * carb_pg_stamp_init:
 * @backend: a connected backend
 * @query: the model's query
 * @stamp: (out caller-allocates): filled; carb_pg_stamp_clear() it
 * @error: set when a name cannot be quoted
 *
 * What the trigger of @query's table is: the parameters of the check
 * statement (carb_pg_stamp_check_sql) and the names its messages use.
 */
gboolean
carb_pg_stamp_init (CarbBackend *backend, const CarbQuery *query, CarbPgStamp *stamp, GError **error)
{
  const CarbModel *model = query->model;

  memset (stamp, 0, sizeof *stamp);
  stamp->table = carb_query_build_table_name (model, &carb_pg_syntax, error);
  stamp->quoted_ts = carb_pg_quote (backend, model->columns[query->ts_column].name, error);
  if (stamp->table == NULL || stamp->quoted_ts == NULL)
    {
      carb_pg_stamp_clear (stamp);
      return FALSE;
    }
  stamp->display = g_strconcat (model->schema != NULL ? model->schema : "", model->schema != NULL ? "." : "",
                                model->table, NULL);
  stamp->trigger = stamping_trigger_name (model);
  g_autofree char *quoted_id = carb_pg_quote (backend, model->columns[query->id_column].name, error);
  if (quoted_id == NULL)
    {
      carb_pg_stamp_clear (stamp);
      return FALSE;
    }
  stamp->body = stamp_body (stamp->quoted_ts, quoted_id,
                            model->columns[query->id_column].type == CARB_COLUMN_TYPE_UUID);
  stamp->ts = model->columns[query->ts_column].name;
  if (carb_pg_stamp_versioned (model))
    {
      stamp->version_trigger = owned_name (model, "version");
      stamp->version_body = version_body (backend, model, error);
      if (stamp->version_body == NULL)
        {
          carb_pg_stamp_clear (stamp);
          return FALSE;
        }
    }
  gint moved = carb_model_find_filter_column (model);
  if (moved >= 0)
    {
      stamp->moves_table = moves_table_name (backend, model, error);
      stamp->move_trigger = column_trigger_name (model, "move", model->columns[moved].name);
      stamp->move_body = stamp->moves_table != NULL
                             ? move_body (backend, model, stamp->moves_table, moved, query->id_column, error)
                             : NULL;
      if (stamp->move_body == NULL)
        {
          carb_pg_stamp_clear (stamp);
          return FALSE;
        }
    }
  if (query->deleted_column >= 0)
    {
      stamp->delete_trigger = column_trigger_name (model, "keep", model->columns[query->deleted_column].name);
      stamp->delete_body = delete_body (backend, model, query->deleted_column, error);
      if (stamp->delete_body == NULL)
        {
          carb_pg_stamp_clear (stamp);
          return FALSE;
        }
    }
  stamp->params[0] = stamp->table;
  stamp->params[1] = stamp->trigger;
  stamp->params[2] = stamp->body;
  stamp->params[3] = stamp->ts;
  stamp->params[4] = stamp->version_trigger;
  stamp->params[5] = stamp->version_body;
  stamp->params[6] = stamp->move_trigger;
  stamp->params[7] = stamp->move_body;
  stamp->params[8] = stamp->delete_trigger;
  stamp->params[9] = stamp->delete_body;
  return TRUE;
}

void
carb_pg_stamp_clear (CarbPgStamp *stamp)
{
  g_clear_pointer (&stamp->table, g_free);
  g_clear_pointer (&stamp->display, g_free);
  g_clear_pointer (&stamp->trigger, g_free);
  g_clear_pointer (&stamp->body, g_free);
  g_clear_pointer (&stamp->quoted_ts, g_free);
  g_clear_pointer (&stamp->version_trigger, g_free);
  g_clear_pointer (&stamp->version_body, g_free);
  g_clear_pointer (&stamp->move_trigger, g_free);
  g_clear_pointer (&stamp->move_body, g_free);
  g_clear_pointer (&stamp->moves_table, g_free);
  g_clear_pointer (&stamp->delete_trigger, g_free);
  g_clear_pointer (&stamp->delete_body, g_free);
}

/* The first thing wrong with the table's preparation, as (kind, what), no
 * row if nothing is. Parameters: $1 the quoted table name, $2 the
 * trigger's name, $3 its function's body, $4 the timestamp column, $5 the
 * versioning trigger's name and $6 its body (both NULL for a model with no
 * version column), $7 the move trigger's name and $8 its body.
 *
 *   gone       the table no longer exists
 *   precision  the timestamp column rounds (timestamptz(0..5)): a rounded
 *              stamp can fall below its lock's time
 *   inherits   a legacy inheritance child, which the trigger does not
 *              cover (declarative partitions get a clone of it; a
 *              partitioned table or a partition cannot have such a child)
 *   missing / disabled / outdated
 *              on the table or any member of its partition tree (where
 *              PostgreSQL clones it, also into partitions attached
 *              later): the trigger of that name is
 *              absent, not ENABLE ALWAYS, or not the one prepare_table
 *              installs (other events or timing, a WHEN clause, a column
 *              list, another function body)
 *   version missing / version disabled / version outdated
 *              the same of the versioning trigger
 *   move missing / move disabled / move outdated
 *              the same of the move trigger ($7 and $8, NULL for a
 *              model with no filter column)
 *
 * Written as a subquery for the clock source's first statement and the
 * idle probe, which read the clock beside it. Every catalog read goes through an index
 * (lateral lookups by table), and a table that is not partitioned never
 * calls pg_partition_tree: this runs on every sync. */
#define LATER_TRIGGER_SQL(name)                                                                              \
  "g.tgtype & 3 = 3 AND g.tgtype & 20 <> 0 AND g.tgenabled <> 'D'"                                           \
  " AND g.tgname::text COLLATE \"C\" > " name "::text COLLATE \"C\""                                         \
  " AND NOT (left (g.tgname, 13) = 'carb_version_' AND right (g.tgname, 13) = right (" name "::text, 13))"
#define STAMP_CHECK_SQL                                                                                      \
  "WITH rel AS (SELECT c.oid, c.relkind FROM pg_class c WHERE c.oid = to_regclass ($1::text)),"              \
  " tree AS (SELECT rel.oid AS relid FROM rel UNION ALL SELECT t.relid FROM rel,"                            \
  "  LATERAL pg_partition_tree (rel.oid) t WHERE rel.relkind = 'p' AND t.relid <> rel.oid)"                  \
  " SELECT 0 AS o, 'gone' AS kind, $1::text AS what WHERE NOT EXISTS (SELECT FROM rel)"                      \
  " UNION ALL SELECT 1, 'precision', format_type (a.atttypid, a.atttypmod) FROM rel"                         \
  "  JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attname = $4::text"                                   \
  "  WHERE a.atttypid <> 'timestamptz'::regtype OR a.atttypmod NOT IN (-1, 6)"                               \
  " UNION ALL SELECT 2, 'inherits', i.inhrelid::regclass::text FROM rel"                                     \
  "  JOIN pg_inherits i ON i.inhparent = rel.oid WHERE rel.relkind <> 'p'"                                   \
  " UNION ALL SELECT want.o, want.role || CASE WHEN g.oid IS NULL THEN 'missing'"                            \
  "  WHEN g.tgenabled <> 'A' THEN 'disabled' ELSE 'outdated' END, tree.relid::regclass::text FROM tree"      \
  "  CROSS JOIN (VALUES (3, '', $2::text, $3::text, 23), (4, 'version ', $5::text, $6::text, 23),"           \
  "   (5, 'move ', $7::text, $8::text, 23), (6, 'delete ', $9::text, $10::text, 11))"                        \
  "   want (o, role, name, body, tgtype)"                                                                    \
  "  LEFT JOIN LATERAL (SELECT g.oid, g.tgenabled, g.tgtype, g.tgqual, g.tgattr, g.tgfoid FROM pg_trigger g" \
  "   WHERE g.tgrelid = tree.relid AND g.tgname = want.name) g ON true"                                      \
  "  LEFT JOIN LATERAL (SELECT p.prosrc FROM pg_proc p WHERE p.oid = g.tgfoid) p ON true"                    \
  "  WHERE want.name IS NOT NULL AND (g.oid IS NULL OR g.tgenabled <> 'A' OR g.tgtype <> want.tgtype"        \
  "   OR g.tgqual IS NOT NULL OR cardinality (g.tgattr::int2[]) > 0 OR p.prosrc IS DISTINCT FROM want.body)" \
  " UNION ALL SELECT 7, 'later', quote_ident (g.tgname) || ' ON ' || tree.relid::regclass::text FROM tree"   \
  "  JOIN pg_trigger g ON g.tgrelid = tree.relid WHERE " LATER_TRIGGER_SQL ("$2") " ORDER BY 1 LIMIT 1"

const char carb_pg_stamp_check_sql[] = STAMP_CHECK_SQL;

/* The check above for the idle probe (pg-probe.c), as one text value: the
 * kind of the first thing wrong, '' when nothing is, or 'children' when
 * the table has an inheritance child or a partition, which it leaves to
 * the full check. Same parameters.
 *
 * For a table with no child, the full check's tree is the table alone, and
 * this reads the same catalog rows and applies the same tests in the same
 * order: gone, precision, the stamping trigger, then (the _VERSIONED form,
 * for a model with version columns) the versioning trigger. It costs about
 * half as much on the server (index lookups, each a scalar subquery the
 * CASE runs only when reached, no sort, no join tree): what a statement
 * costs PostgreSQL here is mostly starting its plan's nodes, and the full
 * check has some thirty. A table that has children (pg_inherits, indexed
 * by parent) is answered 'children': the caller runs the full check and
 * uses it for that table from then on.
 *
 * A one-way model's form does not name $5 and $6 (NULL for it): the caller
 * gives their type. Its plan is then the same as before two-way sync, so
 * an idle poll of one-way tables costs what it did; a two-way model's form
 * starts one more trigger lookup, run only when the stamping trigger is
 * right. */
#define QUICK_TRIGGER_SQL(name, body, role, tgtype)                                                          \
  "(SELECT CASE WHEN g.tgenabled <> 'A' THEN '" role "disabled'"                                             \
  "  WHEN g.tgtype <> " tgtype " OR g.tgqual IS NOT NULL OR cardinality (g.tgattr::int2[]) > 0"              \
  "   OR p.prosrc IS DISTINCT FROM " body "::text THEN '" role "outdated' ELSE '' END"                       \
  "  FROM pg_trigger g LEFT JOIN pg_proc p ON p.oid = g.tgfoid"                                              \
  "  WHERE g.tgrelid = to_regclass ($1::text) AND g.tgname = " name "::text)"
#define QUICK_CHECK_HEAD_SQL                                                                                 \
  "CASE WHEN to_regclass ($1::text) IS NULL THEN 'gone'"                                                     \
  " WHEN (SELECT a.atttypid <> 'timestamptz'::regtype OR a.atttypmod NOT IN (-1, 6) FROM pg_attribute a"     \
  "  WHERE a.attrelid = to_regclass ($1::text) AND a.attname = $4::text) THEN 'precision'"                   \
  " WHEN EXISTS (SELECT FROM pg_inherits i WHERE i.inhparent = to_regclass ($1::text)) THEN 'children'"
/* The stamping trigger's lookup also sees an application's BEFORE row
 * trigger that fires after it: of the stamping trigger and such triggers
 * (names at or after its own, on the (tgrelid, tgname) index), the last
 * in name order must be the stamping trigger. One subquery rather than a
 * lookup of its own, which cost idle polls some 15 %. */
#define QUICK_STAMPING_SQL                                                                                   \
  "coalesce ((SELECT CASE WHEN g.tgname <> $2::name THEN 'later' WHEN g.tgenabled <> 'A' THEN 'disabled'"    \
  "  WHEN g.tgtype <> 23 OR g.tgqual IS NOT NULL OR cardinality (g.tgattr::int2[]) > 0"                      \
  "   OR p.prosrc IS DISTINCT FROM $3::text THEN 'outdated' ELSE '' END"                                     \
  "  FROM pg_trigger g LEFT JOIN pg_proc p ON p.oid = g.tgfoid"                                              \
  "  WHERE g.tgrelid = to_regclass ($1::text) AND g.tgname >= $2::name"                                      \
  "   AND (g.tgname = $2::name OR " LATER_TRIGGER_SQL ("$2") ")"                                             \
                                                             "  ORDER BY g.tgname DESC LIMIT 1), 'missing')"
#define QUICK_VERSIONING_SQL                                                                                 \
  "coalesce (" QUICK_TRIGGER_SQL ("$5", "$6", "version ", "23") ", 'version missing')"
#define QUICK_MOVING_SQL "coalesce (" QUICK_TRIGGER_SQL ("$7", "$8", "move ", "23") ", 'move missing')"
/* The delete guard, last in every form, for a model with an is-deleted
 * column ($9 NULL otherwise: the CASE then never runs the lookup). */
#define QUICK_DELETE_SQL                                                                                     \
  "CASE WHEN $9::text IS NULL THEN '' ELSE coalesce (" QUICK_TRIGGER_SQL ("$9", "$10", "delete ",            \
                                                                          "11") ", 'delete missing') END"
#define QUICK_TAIL_SQL QUICK_DELETE_SQL ") END"
#define STAMP_QUICK_CHECK_SQL                                                                                \
  QUICK_CHECK_HEAD_SQL " ELSE coalesce (nullif (" QUICK_STAMPING_SQL ", ''), " QUICK_TAIL_SQL
/* The stamping trigger's answer unless '' (all well), else the versioning
 * trigger's: coalesce () runs the second lookup only when it gets there. */
#define STAMP_QUICK_CHECK_VERSIONED_SQL                                                                      \
  QUICK_CHECK_HEAD_SQL " ELSE coalesce (nullif (" QUICK_STAMPING_SQL ", ''), nullif (" QUICK_VERSIONING_SQL  \
                       ", ''), " QUICK_TAIL_SQL
/* And then the move trigger's, for a table a sync group filters. */
#define STAMP_QUICK_CHECK_MOVED_SQL                                                                          \
  QUICK_CHECK_HEAD_SQL " ELSE coalesce (nullif (" QUICK_STAMPING_SQL ", ''), nullif (" QUICK_VERSIONING_SQL  \
                       ", ''), nullif (" QUICK_MOVING_SQL ", ''), " QUICK_TAIL_SQL

/* The quick check's forms: which triggers a model's table has. */
typedef enum
{
  QUICK_ONE_WAY,   /* the stamping trigger */
  QUICK_VERSIONED, /* and the versioning trigger (two-way sync) */
  QUICK_MOVED,     /* and the move trigger (a sync group filters the table) */
  N_QUICK_FORMS
} QuickForm;

static const char *const quick_check_sql[N_QUICK_FORMS]
    = { STAMP_QUICK_CHECK_SQL, STAMP_QUICK_CHECK_VERSIONED_SQL, STAMP_QUICK_CHECK_MOVED_SQL };

static QuickForm
quick_form (const CarbModel *model)
{
  if (carb_model_find_filter_column (model) >= 0)
    return QUICK_MOVED;
  return carb_pg_stamp_versioned (model) ? QUICK_VERSIONED : QUICK_ONE_WAY;
}

/* @sql with its parameters $1 … $10 renumbered from @first. */
static char *
renumber (const char *sql, guint first)
{
  GString *out = g_string_new (NULL);
  for (const char *p = sql; *p != '\0'; p++)
    {
      g_string_append_c (out, *p);
      if (*p != '$' || !g_ascii_isdigit (p[1]))
        continue;
      char *end = NULL;
      guint64 n = g_ascii_strtoull (p + 1, &end, 10);
      g_assert (n >= 1 && n <= CARB_PG_CHECK_PARAMS);
      g_string_append_printf (out, "%u", first + (guint) n - 1);
      p = end - 1;
    }
  return g_string_free (out, FALSE);
}

/**
 * carb_pg_stamp_check_sql_at:
 * @first: the number of the check's first parameter
 *
 * The check above for a statement that checks several tables (pg-probe.c)
 * or has parameters before it (pg-clock.c): its parameters $1 … $6 become
 * $@first … $(@first + 5).
 *
 * Returns: (transfer full): the SQL text
 */
char *
carb_pg_stamp_check_sql_at (guint first)
{
  return renumber (carb_pg_stamp_check_sql, first);
}

/**
 * carb_pg_stamp_quick_check_sql_at:
 * @first: the number of the check's first parameter
 * @model: the table's model
 *
 * The quick check (a text expression, see above) with its parameters
 * numbered from @first, like carb_pg_stamp_check_sql_at(); with the
 * versioning trigger's lookup when @model has version columns, and the
 * move trigger's when it has a filter column.
 *
 * Returns: (transfer full): the SQL text
 */
char *
carb_pg_stamp_quick_check_sql_at (guint first, const CarbModel *model)
{
  return renumber (quick_check_sql[quick_form (model)], first);
}

/* A trigger beside the stamping one, of @role ("versioning", "move"), is
 * @kind: missing, disabled or outdated; @what names the partition where
 * it is, unless it is the table itself. */
static gboolean
companion_verdict (const CarbPgStamp *stamp,
                   const char *role,
                   const char *trigger,
                   const char *consequence,
                   const char *kind,
                   const char *what,
                   const char *fix,
                   GError **error)
{
  const char *how = strcmp (kind, "missing") == 0 ? "is missing"
                    : strcmp (kind, "disabled") == 0
                        ? "is not enabled ALWAYS"
                        : "is not the current one (it or its function was changed, or the model is not "
                          "the one it was installed for)";
  g_autofree char *where = strcmp (what, stamp->display) == 0 || strcmp (what, stamp->table) == 0
                               ? g_strdup ("")
                               : g_strdup_printf (" on partition “%s”", what);
  g_set_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED,
               "Table “%s” is not prepared: its %s trigger “%s”%s %s, so %s; %s", stamp->display, role,
               trigger, where, how, consequence, fix);
  return FALSE;
}

/**
 * carb_pg_stamp_verdict:
 * @backend: the backend, for messages
 * @stamp: the table's trigger
 * @kind: (nullable): the check's kind column, %NULL or "" when all is well
 * @what: the check's what column
 * @error: set naming the table, trigger or column at fault and the fix
 *
 * Returns: %TRUE if the table is prepared
 */
gboolean
carb_pg_stamp_verdict (
    CarbBackend *backend, const CarbPgStamp *stamp, const char *kind, const char *what, GError **error)
{
  const char *fix = "call carb_store_prepare_table() (with a role that may create triggers on it)";

  if (kind == NULL || kind[0] == '\0')
    return TRUE;
  if (g_str_has_prefix (kind, "version "))
    return companion_verdict (stamp, "versioning", stamp->version_trigger,
                              "writes that bypass Carburetor would get no version and two-way sync would not "
                              "deliver them",
                              kind + strlen ("version "), what, fix, error);
  if (g_str_has_prefix (kind, "move "))
    return companion_verdict (stamp, "move", stamp->move_trigger,
                              "a row moved out of a sync group's row filter would stay on the replicas it "
                              "left (carb_store_prepare_group() installs it)",
                              kind + strlen ("move "), what, fix, error);
  if (g_str_has_prefix (kind, "delete "))
    return companion_verdict (stamp, "delete guard", stamp->delete_trigger,
                              "a DELETE of a row that is not a tombstone would go through, and the devices "
                              "that hold the row would keep it for good",
                              kind + strlen ("delete "), what, fix, error);
  /* A partition's name, when the trigger is wrong there and not on the
   * table itself. */
  g_autofree char *where = strcmp (what, stamp->display) == 0 || strcmp (what, stamp->table) == 0
                               ? g_strdup ("")
                               : g_strdup_printf (" on partition “%s”", what);
  if (strcmp (kind, "gone") == 0)
    g_set_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH, "Table “%s” does not exist in “%s”",
                 stamp->display, backend->display);
  else if (strcmp (kind, "precision") == 0)
    g_set_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH,
                 "Table “%s”: the timestamp column “%s” is %s, not plain timestamptz: the stamps are rounded "
                 "(a precision below 6, also through a domain) or shifted to the writer's time zone "
                 "(timestamp without time zone), and such a stamp can fall below the sync point of a "
                 "transaction still running, so its row would be missed. "
                 "Fix: ALTER TABLE %s ALTER COLUMN %s TYPE timestamptz",
                 stamp->display, stamp->ts, what, stamp->table, stamp->quoted_ts);
  else if (strcmp (kind, "later") == 0)
    g_set_error (error, CARB_ERROR, CARB_ERROR_SCHEMA_MISMATCH,
                 "Table “%s”: the trigger %s is a BEFORE INSERT or UPDATE row trigger that fires after the "
                 "stamping trigger “%s” (PostgreSQL fires a table's triggers in the order of their names), "
                 "so it could overwrite the stamp (or the id) of a row, and syncs would miss the row. Fix: "
                 "rename it to sort before “%s” (ALTER TRIGGER … RENAME TO …), make it an AFTER trigger, "
                 "or drop it",
                 stamp->display, what, stamp->trigger, stamp->trigger);
  else if (strcmp (kind, "inherits") == 0)
    g_set_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED,
                 "Table “%s” has the inheritance child “%s”: rows written to it are not stamped by the "
                 "trigger “%s” and syncs would miss them. Legacy inheritance is not supported: sync each "
                 "table with a model of its own, or use declarative partitioning (PARTITION BY), whose "
                 "partitions carry the trigger",
                 stamp->display, what, stamp->trigger);
  else if (strcmp (kind, "missing") == 0)
    g_set_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED,
                 "Table “%s” is not prepared: its stamping trigger “%s” is missing%s, so rows written "
                 "there are not stamped and syncs would miss them; %s",
                 stamp->display, stamp->trigger, where, fix);
  else if (strcmp (kind, "disabled") == 0)
    g_set_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED,
                 "Table “%s” is not prepared: its stamping trigger “%s”%s is not enabled ALWAYS (it was "
                 "disabled, or enabled for origin or replica sessions only), so some rows would not be "
                 "stamped and syncs would miss them; %s",
                 stamp->display, stamp->trigger, where, fix);
  else
    g_set_error (error, CARB_ERROR, CARB_ERROR_NOT_PREPARED,
                 "Table “%s” is not prepared: its stamping trigger “%s”%s is not the current one (it "
                 "or its function was changed, or comes from an older Carburetor), and the clock source "
                 "relies on what the current one does; %s",
                 stamp->display, stamp->trigger, where, fix);
  return FALSE;
}

/* Runs the check alone; @kind_out (nullable) gets the problem's kind. */
static gboolean
run_check (CarbBackend *backend, const CarbPgStamp *stamp, char **kind_out, GError **error)
{
  PGresult *res = carb_pg_exec (backend, carb_pg_stamp_check_sql, CARB_PG_CHECK_PARAMS, NULL, stamp->params,
                                NULL, NULL, 0, error);
  if (res == NULL)
    return FALSE;
  const char *kind = PQntuples (res) > 0 ? PQgetvalue (res, 0, 1) : NULL;
  const char *what = PQntuples (res) > 0 ? PQgetvalue (res, 0, 2) : NULL;
  gboolean ok = carb_pg_stamp_verdict (backend, stamp, kind, what, error);
  if (kind_out != NULL)
    *kind_out = g_strdup (kind);
  PQclear (res);
  return ok;
}

/**
 * carb_pg_stamp_settle_quick:
 * @backend: a connected, idle backend
 * @stamp: the table's trigger
 * @kind: what the quick check answered, not ""
 * @error: set naming the table, trigger or column at fault and the fix
 *
 * Turns a quick check's answer into the verdict, with the full check run
 * alone: for "children" (the quick check does not look at a table's
 * children) its answer is the verdict; for a problem it gives the message
 * its own wording (naming the partition or the column's type). A problem
 * the quick check saw stays an error even if the full check, a moment
 * later, finds none: rows may have been written in between.
 *
 * Returns: %TRUE if the table is prepared
 */
gboolean
carb_pg_stamp_settle_quick (CarbBackend *backend, const CarbPgStamp *stamp, const char *kind, GError **error)
{
  if (!run_check (backend, stamp, NULL, error))
    return FALSE;
  if (strcmp (kind, "children") == 0)
    return TRUE;
  const char *what = strcmp (kind, "precision") == 0 ? "a type that rounds"
                     : strcmp (kind, "later") == 0   ? "that was there"
                                                     : stamp->table;
  return carb_pg_stamp_verdict (backend, stamp, kind, what, error);
}

/* The check's statement for carb_pg_check_prepared() outside a
 * transaction: the quick form (see above), or the full one for a table
 * known to have children; either as a named statement (pg-pipeline.c),
 * since planning the full check costs ten times its execution, and an
 * apply checks its tables for every batch. */
static const CarbPgStatement *
check_statement (gboolean full, const CarbModel *model)
{
  enum
  {
    N = 1 + N_QUICK_FORMS /* the full check, then each quick form */
  };
  static gsize once;
  static char *sql[N], *name[N]; /* for the life of the process */
  static CarbPgStatement stmts[N];
  static Oid types[CARB_PG_CHECK_PARAMS];
  if (g_once_init_enter (&once))
    {
      /* A quick form does not name the parameters of the triggers it
       * leaves out: all typed text here. */
      for (guint p = 0; p < CARB_PG_CHECK_PARAMS; p++)
        types[p] = 25;
      sql[0] = g_strdup (carb_pg_stamp_check_sql);
      for (guint k = 0; k < N_QUICK_FORMS; k++)
        {
          g_autofree char *quick = renumber (quick_check_sql[k], 1);
          sql[1 + k] = g_strconcat ("SELECT ", quick, NULL);
        }
      for (guint k = 0; k < N; k++)
        {
          name[k] = carb_pg_statement_name ("carb_check", sql[k]);
          stmts[k] = (CarbPgStatement){
            .sql = sql[k], .prepared = name[k], .n_params = CARB_PG_CHECK_PARAMS, .types = types
          };
        }
      g_once_init_leave (&once, 1);
    }
  return &stmts[full ? 0 : 1 + quick_form (model)];
}

/* The check outside any transaction. Inside one, a named statement that
 * the server lost (a pooler's DISCARD ALL) would abort that transaction,
 * so there the check goes unnamed (run_check()). */
static gboolean
run_check_named (CarbBackend *backend, const CarbQuery *query, const CarbPgStamp *stamp, GError **error)
{
  g_autofree char *key = carb_pg_tree_key (query->model);
  gboolean full = g_hash_table_contains (backend->trees, key);
  CarbPgStatement stmt = *check_statement (full, query->model);
  stmt.values = stamp->params;
  PGresult *res = NULL;
  if (!carb_pg_pipeline (backend, &stmt, 1, &res, error))
    return FALSE;
  gboolean ok = TRUE;
  g_autofree char *quick = NULL;
  if (full)
    ok = carb_pg_stamp_verdict (backend, stamp, PQntuples (res) > 0 ? PQgetvalue (res, 0, 1) : NULL,
                                PQntuples (res) > 0 ? PQgetvalue (res, 0, 2) : NULL, error);
  else if (PQntuples (res) != 1 || PQgetvalue (res, 0, 0)[0] != '\0')
    quick = g_strdup (PQntuples (res) == 1 ? PQgetvalue (res, 0, 0) : "gone");
  PQclear (res);
  if (quick == NULL)
    return ok;
  /* Rare: a problem (its message comes from the full check), or a table
   * with children, checked in full from now on. */
  if (strcmp (quick, "children") == 0)
    g_hash_table_add (backend->trees, g_steal_pointer (&key));
  return carb_pg_stamp_settle_quick (backend, stamp, quick, error);
}

gboolean
carb_pg_check_prepared (CarbBackend *backend, const CarbQuery *query, GError **error)
{
  g_auto (CarbPgStamp) stamp = { 0 };

  /* One read-only statement: inside an application's transaction it leaves
   * that transaction as it is (the core's writes join it, and must still
   * find the table prepared). */
  if (!carb_pg_ensure_connected (backend, error) || !carb_pg_ensure_not_failed (backend, error)
      || !carb_pg_stamp_init (backend, query, &stamp, error))
    return FALSE;
  if (PQtransactionStatus (backend->conn) == PQTRANS_IDLE)
    return run_check_named (backend, query, &stamp, error);
  return run_check (backend, &stamp, NULL, error);
}

/**
 * carb_pg_explain_failure:
 * @backend: the backend, idle after a failed sync statement
 * @queries: (array length=n): the tables the statement read
 * @n: how many
 * @error: (inout): the statement's error
 *
 * A sync's statements name the table and its columns: a table dropped or
 * renamed fails them at parse time (SQLSTATE class 42), before the check
 * beside them could say why. Run the check alone then, and report its
 * verdict (naming the table and the fix) instead, if it has one.
 */
void
carb_pg_explain_failure (CarbBackend *backend, const CarbQuery *const *queries, guint n, GError **error)
{
  if (error == NULL || *error == NULL || strncmp (backend->sqlstate, "42", 2) != 0
      || PQstatus (backend->conn) != CONNECTION_OK || PQtransactionStatus (backend->conn) != PQTRANS_IDLE)
    return;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (GError) verdict = NULL;
      if (!carb_pg_check_prepared (backend, queries[i], &verdict))
        {
          g_clear_error (error);
          g_propagate_error (error, g_steal_pointer (&verdict));
          return;
        }
    }
}

/* Appends the statements that install the trigger @name, BEFORE @events
 * FOR EACH ROW, whose function (named like it) has @body. ENABLE ALWAYS keeps the trigger firing for
 * replication roles; on a partitioned table, CREATE TRIGGER and ALTER
 * TABLE reach every partition, and PostgreSQL clones the trigger into
 * partitions attached later. */
static gboolean
append_trigger (GString *sql,
                CarbBackend *backend,
                const CarbModel *model,
                const char *table,
                const char *name,
                const char *events,
                const char *body,
                GError **error)
{
  g_autofree char *fn = carb_pg_quote (backend, name, error);
  g_autofree char *schema = model->schema != NULL ? carb_pg_quote (backend, model->schema, error) : NULL;
  if (fn == NULL || (model->schema != NULL && schema == NULL))
    return FALSE;
  g_autofree char *qfn = schema != NULL ? g_strconcat (schema, ".", fn, NULL) : g_strdup (fn);
  char *literal = PQescapeLiteral (backend->conn, body, strlen (body));
  if (literal == NULL)
    return carb_pg_fail (backend, error, "cannot quote the trigger's body");
  g_string_append_printf (sql,
                          "CREATE OR REPLACE FUNCTION %s () RETURNS trigger LANGUAGE plpgsql AS %s;"
                          "CREATE OR REPLACE TRIGGER %s BEFORE %s ON %s FOR EACH ROW EXECUTE FUNCTION %s ();"
                          "ALTER TABLE %s ENABLE ALWAYS TRIGGER %s;",
                          qfn, literal, fn, events, table, qfn, table, fn);
  PQfreemem (literal);
  return TRUE;
}

/* Drops the stamping trigger and function of the name an earlier build
 * gave them (stamping_trigger_name ()), if the table still has them: only
 * then, since DROP TRIGGER locks readers out of the table. */
static gboolean
append_drop_legacy_stamping (
    GString *sql, CarbBackend *backend, const CarbModel *model, const char *table, GError **error)
{
  g_autofree char *name = owned_name (model, "stamp");
  g_autofree char *fn = carb_pg_quote (backend, name, error);
  g_autofree char *schema = model->schema != NULL ? carb_pg_quote (backend, model->schema, error) : NULL;
  if (fn == NULL || (model->schema != NULL && schema == NULL))
    return FALSE;
  char *ltable = PQescapeLiteral (backend->conn, table, strlen (table));
  char *lname = PQescapeLiteral (backend->conn, name, strlen (name));
  if (ltable != NULL && lname != NULL)
    g_string_append_printf (
        sql,
        "DO $carb$ BEGIN IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = to_regclass (%s)"
        " AND tgname = %s) THEN DROP TRIGGER %s ON %s; END IF; END $carb$;"
        "DROP FUNCTION IF EXISTS %s%s%s ();",
        ltable, lname, fn, table, schema != NULL ? schema : "", schema != NULL ? "." : "", fn);
  PQfreemem (ltable);
  PQfreemem (lname);
  if (ltable == NULL || lname == NULL)
    return carb_pg_fail (backend, error, "cannot quote the table or the old stamping trigger's name");
  return TRUE;
}

/* The stamping trigger, the versioning trigger when the model has version
 * columns, the move trigger and its log when it has a filter column, the
 * delete guard when it has an is-deleted column, and the (ts, id) index,
 * in one transaction. */
static char *
prepare_sql (CarbBackend *backend, const CarbQuery *query, const CarbPgStamp *stamp, GError **error)
{
  const CarbModel *model = query->model;
  g_autofree char *index_name = owned_name (model, "sync");
  g_autofree char *index = carb_pg_quote (backend, index_name, error);
  g_autofree char *id
      = index != NULL ? carb_pg_quote (backend, model->columns[query->id_column].name, error) : NULL;
  if (id == NULL)
    return NULL;

  g_autoptr (GString) sql = g_string_new ("BEGIN;");
  if (stamp->moves_table != NULL)
    g_string_append_printf (sql,
                            "CREATE TABLE IF NOT EXISTS %s (tbl text NOT NULL, col text NOT NULL,"
                            " old_value text NOT NULL, row_id text NOT NULL,"
                            " PRIMARY KEY (tbl, col, old_value, row_id));",
                            stamp->moves_table);
  const char *writes = "INSERT OR UPDATE";
  if (!append_drop_legacy_stamping (sql, backend, model, stamp->table, error)
      || !append_trigger (sql, backend, model, stamp->table, stamp->trigger, writes, stamp->body, error)
      || (stamp->version_trigger != NULL
          && !append_trigger (sql, backend, model, stamp->table, stamp->version_trigger, writes,
                              stamp->version_body, error))
      || (stamp->move_trigger != NULL
          && !append_trigger (sql, backend, model, stamp->table, stamp->move_trigger, writes,
                              stamp->move_body, error))
      || (stamp->delete_trigger != NULL
          && !append_trigger (sql, backend, model, stamp->table, stamp->delete_trigger, "DELETE",
                              stamp->delete_body, error)))
    return NULL;
  g_string_append_printf (sql, "CREATE INDEX IF NOT EXISTS %s ON %s (%s, %s);COMMIT", index, stamp->table,
                          stamp->quoted_ts, id);
  return g_string_free (g_steal_pointer (&sql), FALSE);
}

/* A stamp column that rounds and a legacy inheritance child are refused
 * before anything is installed: installing cannot make them safe. */
static gboolean
installable (CarbBackend *backend, const CarbPgStamp *stamp, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *kind = NULL;

  if (run_check (backend, stamp, &kind, &local))
    return TRUE;
  const char *k = kind;
  if (k != NULL && g_str_has_prefix (k, "version "))
    k += strlen ("version ");
  else if (k != NULL && g_str_has_prefix (k, "move "))
    k += strlen ("move ");
  else if (k != NULL && g_str_has_prefix (k, "delete "))
    k += strlen ("delete ");
  if (k != NULL && (strcmp (k, "missing") == 0 || strcmp (k, "disabled") == 0 || strcmp (k, "outdated") == 0))
    return TRUE;
  g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}

gboolean
carb_pg_prepare_table (CarbBackend *backend, const CarbQuery *query, GError **error)
{
  g_auto (CarbPgStamp) stamp = { 0 };

  if (!carb_pg_ensure_connected (backend, error) || !carb_pg_ensure_idle (backend, error)
      || !carb_pg_stamp_init (backend, query, &stamp, error) || !installable (backend, &stamp, error))
    return FALSE;
  g_autofree char *sql = prepare_sql (backend, query, &stamp, error);
  if (sql == NULL)
    return FALSE;
  if (!carb_pg_exec_command (backend, sql, error))
    {
      carb_pg_exec_command (backend, "ROLLBACK", NULL);
      return FALSE;
    }
  /* What was installed must now pass the check every sync makes. */
  return run_check (backend, &stamp, NULL, error);
}
