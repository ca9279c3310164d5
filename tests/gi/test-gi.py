#!/usr/bin/python3
# Carburetor from Python through GObject Introspection (PyGObject), on
# every backend the suite has: open a store, declare a run-time model,
# create and prepare its table, write rows, sync, page, read values, and
# get a GLib.Error with Carburetor's domain and code for a bad URI; a
# replica's local writes and its sync with the store; the replica's async
# sync and the group's validation callback called as their Python
# signatures read (positional arguments in that order); the plugin list,
# freed and listed again (in a child process: it once crashed there);
# no changeset parser in the bindings (it handed out freed memory);
# Store.poll, which crashed Python (an array to fill), on every backend.
#
# TAP output; run by meson with GI_TYPELIB_PATH and LD_LIBRARY_PATH set to
# the build tree. SPDX-License-Identifier: LGPL-2.1-or-later
import atexit
import json
import os
import shutil
import sys
import tempfile

import gi

gi.require_version("Carburetor", "1.0")
from gi.repository import Carburetor, GLib  # noqa: E402

results = []
# Every file of the run goes in one folder, removed at exit.
ROOT = tempfile.mkdtemp(prefix="carb-gi-")
atexit.register(shutil.rmtree, ROOT, True)


def check(name, fn):
    try:
        fn()
        results.append((True, name, ""))
    except Exception as e:  # a failed assert or a GLib.Error
        results.append((False, name, repr(e)))


def stores():
    tmp = tempfile.mkdtemp(dir=ROOT)
    yield "sqlite", "sqlite:" + os.path.join(tmp, "store.db")
    if os.environ.get("PGHOST") or os.environ.get("CARB_TEST_PG_URI"):
        yield "postgres", os.environ.get("CARB_TEST_PG_URI", "postgresql:///")
    elif os.environ.get("CARB_TEST_REQUIRE_PG"):
        results.append((False, "postgres", "no PostgreSQL server in the environment"))


def model_for(table):
    model = Carburetor.Model.new(None, table)
    C, R, F = Carburetor.ColumnType, Carburetor.ColumnRole, Carburetor.ColumnFlags
    model.add_column("id", C.INT64, R.ID, F.NONE)
    model.add_column("title", C.TEXT, R.DATA, F.NONE)
    model.add_column("note", C.TEXT, R.DATA, F.NULLABLE)
    model.add_column("score", C.DOUBLE, R.DATA, F.NULLABLE)
    model.add_column("deleted", C.BOOL, R.DELETED, F.NONE)
    model.add_column("stamp", C.TIMESTAMP, R.TIMESTAMP, F.NONE)
    return model


def row(i, title, note=None, score=None):
    return {
        "id": GLib.Variant("x", i),
        "title": GLib.Variant("s", title),
        "note": GLib.Variant("ms", note),
        "score": GLib.Variant("md", score),
    }


def round_trip(uri, table):
    store = Carburetor.Store.open(uri)
    assert store.props.backend_name in ("sqlite", "postgres"), store.props.backend_name
    model = model_for(table)
    store.create_table(model)
    rows = [row(1, "milk", "2 l", 1.5), row(2, "eggs ✓"), row(3, "it's \"bread\"")]
    store.upsert_variant(model, GLib.Variant("aa{sv}", rows))

    # A first sync in pages of two: has_more only on a full page.
    first = store.download_sync(model, None, 2, None)
    assert first.get_n_rows() == 2 and first.has_more(), first.get_n_rows()
    rest = store.download_sync(model, first.get_synced_until(), 2, None)
    assert rest.get_n_rows() == 1 and not rest.has_more()
    got = {}
    for result in (first, rest):
        for i in range(result.get_n_rows()):
            r = result.get_row_variant(i).unpack()
            got[r["id"]] = r
    assert got[1]["title"] == "milk" and got[1]["note"] == "2 l" and got[1]["score"] == 1.5, got[1]
    assert got[2]["note"] is None and got[2]["score"] is None, got[2]
    assert got[3]["title"] == 'it\'s "bread"'

    # Values by column index, as GValues.
    col = model.find_column("title")
    ok, value = rest.get_value(0, col)
    assert ok and value == got[3]["title"], (ok, value)

    # JSON, and the sync point as a string a device keeps.
    doc = json.loads(rest.to_json(False))
    point = doc["synced_until"]
    assert point.startswith("2."), point
    since = Carburetor.SyncPoint.parse(point)
    idle = store.download_sync(model, since, 0, None)
    assert idle.get_n_rows() == 0

    # An update syncs as a change; a soft delete as a tombstone.
    store.upsert_variant(model, GLib.Variant("aa{sv}", [row(2, "two eggs")]))
    store.execute_with_params(
        'UPDATE "%s" SET deleted = $1 WHERE id = $2' % table, GLib.Variant("(bx)", (True, 1))
    )
    changed = store.download_sync(model, idle.get_synced_until(), 0, None)
    rows = {r["id"]: r for r in (changed.get_row_variant(i).unpack() for i in range(changed.get_n_rows()))}
    assert set(rows) == {1, 2}, rows
    assert rows[1]["deleted"] is True and rows[2]["title"] == "two eggs", rows
    store.execute('DROP TABLE "%s"' % table)


def bad_uri():
    try:
        Carburetor.Store.open("nosuchscheme://x")
    except GLib.Error as e:
        assert e.domain == "carburetor-error-quark", e.domain
        assert e.code == int(Carburetor.Error.NO_PLUGIN), e.code
        assert "nosuchscheme" in e.message, e.message
        return
    raise AssertionError("no error for a bad URI")


def bad_model():
    model = Carburetor.Model.new(None, "x")
    try:
        model.add_column("bad", Carburetor.ColumnType.INVALID, Carburetor.ColumnRole.DATA, Carburetor.ColumnFlags.NONE)
    except GLib.Error as e:
        assert e.matches(Carburetor.error_quark(), int(Carburetor.Error.INVALID_MODEL)), e
        return
    raise AssertionError("no error for an invalid column type")


def replica(uri, table):
    # A replica file next to a server store: local writes readable with
    # plain SQL, then a sync that lands them on the server.
    import sqlite3

    model = Carburetor.Model.new(None, table)
    C, R, F = Carburetor.ColumnType, Carburetor.ColumnRole, Carburetor.ColumnFlags
    model.add_column("id", C.TEXT, R.ID, F.NONE)
    model.add_column("title", C.TEXT, R.DATA, F.NONE)
    model.add_column("deleted", C.BOOL, R.DELETED, F.NONE)
    model.add_column("stamp", C.TIMESTAMP, R.TIMESTAMP, F.NONE)
    group = Carburetor.SyncGroup.new("gi")
    group.add_model(model)
    store = Carburetor.Store.open(uri)
    store.create_table(group.get_wire_model(0))
    store.prepare_group(group)
    path = os.path.join(tempfile.mkdtemp(dir=ROOT), "replica.db")
    rep = Carburetor.Replica.open(path, group)
    rid = rep.insert(table, GLib.Variant("a{sv}", {"title": GLib.Variant("s", "from python")}))
    assert len(rid) == 36, rid
    assert rep.get_row(table, rid).unpack()["title"] == "from python"
    with sqlite3.connect(path) as db:
        assert db.execute('SELECT title FROM "%s" WHERE NOT deleted' % table).fetchall() == [("from python",)]
    assert rep.get_n_pending() == 2
    rep.sync(store, None, None)
    assert rep.get_n_pending() == 0
    try:
        rep.update(table, rid, GLib.Variant("a{sv}", {"nosuch": GLib.Variant("s", "x")}))
        raise AssertionError("no error for an unknown column")
    except GLib.Error as e:
        assert e.code == int(Carburetor.Error.INVALID_DATA) and "nosuch" in e.message, e
    store.execute('DROP TABLE "%s"' % table)


def twoway_group(table):
    model = Carburetor.Model.new(None, table)
    C, R, F = Carburetor.ColumnType, Carburetor.ColumnRole, Carburetor.ColumnFlags
    model.add_column("id", C.UUID, R.ID, F.NONE)
    model.add_column("title", C.TEXT, R.DATA, F.NONE)
    model.add_column("deleted", C.BOOL, R.DELETED, F.NONE)
    model.add_column("stamp", C.TIMESTAMP, R.TIMESTAMP, F.NONE)
    group = Carburetor.SyncGroup.new("gi")
    group.add_model(model)
    return group


def replica_async(uri, table):
    # sync_async(server, context, progress, progress_data, cancellable,
    # callback, user_data): the order help() shows is the order the call
    # takes (a misplaced destroy annotation once hid progress_data from
    # help() while the call still took it, so a callback given where
    # help() put it became the progress data and the sync never reported).
    # PyGObject takes the data of a callback that is not the last as a
    # tuple, spread into the callback's arguments.
    doc = Carburetor.Replica.sync_async.__doc__
    assert doc.startswith(
        "sync_async(self, server:Carburetor.Store, context:GLib.Variant=None, "
        "progress:Carburetor.ProgressFunc=None, progress_data=None, cancellable:"
    ), doc
    group = twoway_group(table)
    store = Carburetor.Store.open(uri)
    store.create_table(group.get_wire_model(0))
    store.prepare_group(group)
    rep = Carburetor.Replica.open(os.path.join(tempfile.mkdtemp(dir=ROOT), "replica.db"), group)
    rep.insert(table, GLib.Variant("a{sv}", {"title": GLib.Variant("s", "async")}))
    loop = GLib.MainLoop()
    seen, done = [], []

    def on_progress(n, total, data):
        seen.append((n, total, data))

    def on_done(source, res, tag):
        done.append((source.sync_finish(res), tag))
        loop.quit()

    rep.sync_async(store, None, on_progress, ("progress data",), None, on_done, "tag")
    GLib.timeout_add_seconds(30, loop.quit)
    loop.run()
    assert done == [(True, "tag")], done
    assert seen and seen[-1][0] == seen[-1][1] > 0 and seen[-1][2] == "progress data", seen
    assert rep.get_n_pending() == 0
    store.execute('DROP TABLE "%s"' % table)


def validate_func(uri, table):
    # The server-side check, set from Python: it sees the row and the
    # context, and a refusal comes back as the replica's rejection.
    group = twoway_group(table)
    calls = []

    def refuse_untitled(grp, tbl, row, context, *data):
        calls.append((tbl, row.unpack()["title"], context.unpack()))
        return row.unpack()["title"] != ""

    # help() shows the callback among the arguments (a wrong destroy
    # annotation hid it).
    assert Carburetor.SyncGroup.set_validate_func.__doc__.startswith("set_validate_func(self, func:"), (
        Carburetor.SyncGroup.set_validate_func.__doc__
    )
    assert group.set_validate_func(refuse_untitled, None)
    store = Carburetor.Store.open(uri)
    store.create_table(group.get_wire_model(0))
    store.prepare_group(group)
    rep = Carburetor.Replica.open(os.path.join(tempfile.mkdtemp(dir=ROOT), "replica.db"), group)
    rid = rep.insert(table, GLib.Variant("a{sv}", {"title": GLib.Variant("s", "")}))
    rep.sync(store, GLib.Variant("a{sv}", {"user": GLib.Variant("s", "ann")}), None)
    assert calls == [(table, "", {"user": "ann"})], calls
    rejected = rep.list_rejections().unpack()
    assert len(rejected) == 1 and rejected[0][0] == table and rejected[0][1] == rid, rejected
    store.execute('DROP TABLE "%s"' % table)


def plugin_list():
    # The list's array frees its elements; a binding that also freed them
    # (the return value was "transfer full") aborted with a double free
    # once the first list was collected.
    import gc
    import subprocess

    child = """
import gc, gi
gi.require_version("Carburetor", "1.0")
from gi.repository import Carburetor
first = Carburetor.plugin_list()
names = [p.get_name() for p in first]
del first
gc.collect()
again = {p.get_name(): list(p.get_schemes()) for p in Carburetor.plugin_list()}
gc.collect()
print(sorted(names) == sorted(again), again["sqlite"])
"""
    run = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    gc.collect()
    assert run.returncode == 0, (run.returncode, run.stderr)
    assert run.stdout == "True ['sqlite', 'file']\n", run.stdout


def no_changeset_structs():
    # carb_changeset_parse() returned CarbChange structs inside an array
    # that PyGObject freed at once: their fields read freed memory. A
    # binding carries changesets as bytes, which stay.
    assert not hasattr(Carburetor, "changeset_parse")
    assert not hasattr(Carburetor, "changeset_serialize")
    assert hasattr(Carburetor.Replica, "collect_changes") and hasattr(Carburetor.Store, "apply_changes")


def poll(uri, table):
    # A list of flags back, one per model; points: none at all, or one per
    # model with None for a table never synced.
    assert Carburetor.Store.poll.__doc__.endswith("-> list"), Carburetor.Store.poll.__doc__
    store = Carburetor.Store.open(uri)
    a, b = model_for(table + "_a"), model_for(table + "_b")
    for model in (a, b):
        store.create_table(model)
        store.upsert_variant(model, GLib.Variant("aa{sv}", [row(1, "one")]))
    assert store.poll([a, b], None, None) == [True, True]
    point = store.download_sync(a, None, 0, None).get_synced_until()
    assert store.poll([a, b], [point, None], None) == [False, True]
    store.upsert_variant(a, GLib.Variant("aa{sv}", [row(2, "two")]))
    assert store.poll([a, b], [point, None], None) == [True, True]
    try:
        store.poll([a, b], [point], None)
        raise AssertionError("no error for one point for two tables")
    except GLib.Error as e:
        assert e.code == int(Carburetor.Error.INVALID_SYNC_POINT) and "2 tables but 1" in e.message, e
    for model in (a, b):
        store.execute('DROP TABLE "%s"' % model.get_table())


table = "gi_py_%d" % os.getpid()
for name, uri in stores():
    check(name + "/round-trip", lambda: round_trip(uri, table))
    check(name + "/replica", lambda: replica(uri, table + "_r"))
    check(name + "/replica-async", lambda: replica_async(uri, table + "_a"))
    check(name + "/validate-func", lambda: validate_func(uri, table + "_v"))
    check(name + "/poll", lambda: poll(uri, table + "_p"))
check("bad-uri", bad_uri)
check("plugin-list", plugin_list)
check("no-changeset-structs", no_changeset_structs)
check("bad-model", bad_model)

print("1..%d" % len(results))
for i, (ok, name, why) in enumerate(results, 1):
    print("%sok %d /gi/python/%s%s" % ("" if ok else "not ", i, name, "" if ok else " # " + why))
sys.exit(0 if all(ok for ok, _, _ in results) else 1)
