// Carburetor from JavaScript (gjs) through GObject Introspection: the same
// round trip as test-gi.py on every backend the suite has, the error
// domain and code of a bad URI, the plugin list listed twice with a
// collection between (it once freed its elements twice), and Store.poll
// (once not callable: an array to fill). TAP output.
// SPDX-License-Identifier: LGPL-2.1-or-later
imports.gi.versions.Carburetor = '1.0';
const {Carburetor, Gio, GLib} = imports.gi;
const System = imports.system;

const results = [];
// Every file of the run goes in one folder, removed at the end.
const root = GLib.dir_make_tmp('carb-gjs-XXXXXX');
let nTmp = 0;
function makeTmp() {
    const path = `${root}/${nTmp++}`;
    GLib.mkdir_with_parents(path, 0o700);
    return path;
}
function removeTree(path) {
    const dir = Gio.File.new_for_path(path);
    const children = dir.enumerate_children('standard::name,standard::type',
        Gio.FileQueryInfoFlags.NOFOLLOW_SYMLINKS, null);
    let info;
    while ((info = children.next_file(null)) !== null) {
        const child = dir.get_child(info.get_name());
        if (info.get_file_type() === Gio.FileType.DIRECTORY)
            removeTree(child.get_path());
        else
            child.delete(null);
    }
    dir.delete(null);
}
function check(name, fn) {
    try {
        fn();
        results.push([true, name, '']);
    } catch (e) {
        results.push([false, name, `${e}`]);
    }
}
function assert(cond, what) {
    if (!cond)
        throw new Error(`assertion failed: ${what}`);
}

function stores() {
    const tmp = makeTmp();
    const list = [['sqlite', `sqlite:${tmp}/store.db`]];
    if (GLib.getenv('PGHOST') || GLib.getenv('CARB_TEST_PG_URI'))
        list.push(['postgres', GLib.getenv('CARB_TEST_PG_URI') ?? 'postgresql:///']);
    else if (GLib.getenv('CARB_TEST_REQUIRE_PG'))
        results.push([false, 'postgres', 'no PostgreSQL server in the environment']);
    return list;
}

function row(id, title) {
    return {
        id: new GLib.Variant('x', id),
        title: new GLib.Variant('s', title),
        note: new GLib.Variant('ms', null),
    };
}

function roundTrip(uri, table) {
    const store = Carburetor.Store.open(uri);
    const {ColumnType: T, ColumnRole: R, ColumnFlags: F} = Carburetor;
    const model = Carburetor.Model.new(null, table);
    model.add_column('id', T.INT64, R.ID, F.NONE);
    model.add_column('title', T.TEXT, R.DATA, F.NONE);
    model.add_column('note', T.TEXT, R.DATA, F.NULLABLE);
    model.add_column('deleted', T.BOOL, R.DELETED, F.NONE);
    model.add_column('stamp', T.TIMESTAMP, R.TIMESTAMP, F.NONE);
    store.create_table(model);
    store.upsert_variant(model, new GLib.Variant('aa{sv}', [row(1, 'milk'), row(2, 'eggs ✓')]));

    const page = store.download_sync(model, null, 1, null);
    assert(page.get_n_rows() === 1 && page.has_more(), 'a full first page');
    const rest = store.download_sync(model, page.get_synced_until(), 0, null);
    assert(rest.get_n_rows() === 1 && !rest.has_more(), 'the rest');
    const titles = [page, rest].map(r => r.get_row_variant(0).deepUnpack().title.deepUnpack()).sort();
    assert(titles.join('|') === 'eggs ✓|milk', titles.join('|'));
    const doc = JSON.parse(rest.to_json(false));
    assert(doc.rows.length === 1 && doc.rows[0].note === null, JSON.stringify(doc));
    store.execute(`DROP TABLE "${table}"`);
}

// Two replicas edit offline and converge through the store, the second
// one with carb_replica_sync_async() in a main loop, with progress.
function replicas(uri, table) {
    const {ColumnType: T, ColumnRole: R, ColumnFlags: F} = Carburetor;
    const model = Carburetor.Model.new(null, table);
    model.add_column('id', T.UUID, R.ID, F.NONE);
    model.add_column('title', T.TEXT, R.DATA, F.NONE);
    model.add_column('done', T.BOOL, R.DATA, F.NONE);
    model.add_column('deleted', T.BOOL, R.DELETED, F.NONE);
    model.add_column('stamp', T.TIMESTAMP, R.TIMESTAMP, F.NONE);
    const group = Carburetor.SyncGroup.new('gjs');
    group.add_model(model);
    const store = Carburetor.Store.open(uri);
    store.create_table(group.get_wire_model(0));
    store.prepare_group(group);
    const tmp = makeTmp();
    const a = Carburetor.Replica.open(`${tmp}/a.db`, group);
    const b = Carburetor.Replica.open(`${tmp}/b.db`, group);
    const id = a.insert(table, new GLib.Variant('a{sv}', {
        title: new GLib.Variant('s', 'milk'), done: new GLib.Variant('b', false)}));
    a.sync(store, null, null);
    b.sync(store, null, null);
    a.update(table, id, new GLib.Variant('a{sv}', {title: new GLib.Variant('s', 'oat milk')}));
    b.update(table, id, new GLib.Variant('a{sv}', {done: new GLib.Variant('b', true)}));
    a.sync(store, null, null);

    const loop = GLib.MainLoop.new(null, false);
    let seen = 0, error = null;
    b.sync_async(store, null, n => { seen = n; }, null, (source, result) => {
        try {
            source.sync_finish(result);
        } catch (e) {
            error = e;
        }
        loop.quit();
    });
    loop.run();
    if (error)
        throw error;
    // The upload's row and the download's, told before the callback.
    assert(seen === 2, `progress told ${seen} rows`);
    a.sync(store, null, null);
    for (const r of [a, b]) {
        const got = r.get_row(table, id).deepUnpack();
        assert(got.title.deepUnpack() === 'oat milk' && got.done.deepUnpack() === true,
            JSON.stringify(r.get_row(table, id).recursiveUnpack()));
    }
    store.execute(`DROP TABLE "${table}"`);
}

function badUri() {
    try {
        Carburetor.Store.open('nosuchscheme://x');
    } catch (e) {
        assert(e.matches(Carburetor.error_quark(), Carburetor.Error.NO_PLUGIN), `${e}`);
        return;
    }
    throw new Error('no error for a bad URI');
}

function poll(uri, table) {
    // Its own length for each array: a null points array must not make
    // the call poll no table.
    const store = Carburetor.Store.open(uri);
    const model = Carburetor.Model.new(null, table);
    model.add_column('id', Carburetor.ColumnType.INT64, Carburetor.ColumnRole.ID, Carburetor.ColumnFlags.NONE);
    model.add_column('title', Carburetor.ColumnType.TEXT, Carburetor.ColumnRole.DATA, Carburetor.ColumnFlags.NONE);
    model.add_column('stamp', Carburetor.ColumnType.TIMESTAMP, Carburetor.ColumnRole.TIMESTAMP,
        Carburetor.ColumnFlags.NONE);
    store.create_table(model);
    store.upsert_variant(model, new GLib.Variant('aa{sv}',
        [{id: new GLib.Variant('x', 1), title: new GLib.Variant('s', 'one')}]));
    const never = store.poll([model, model], null, null);
    assert(JSON.stringify(never) === '[true,true]', JSON.stringify(never));
    const point = store.download_sync(model, null, 0, null).get_synced_until();
    const idle = store.poll([model], [point], null);
    assert(JSON.stringify(idle) === '[false]', JSON.stringify(idle));
    store.execute(`DROP TABLE "${table}"`);
}

function pluginList() {
    let first = Carburetor.plugin_list();
    const names = first.map(p => p.get_name()).sort();
    first = null;
    System.gc();
    const again = Carburetor.plugin_list();
    System.gc();
    assert(JSON.stringify(again.map(p => p.get_name()).sort()) === JSON.stringify(names), names);
    const sqlite = again.find(p => p.get_name() === 'sqlite');
    assert(JSON.stringify(sqlite.get_schemes()) === '["sqlite","file"]', sqlite.get_schemes());
}

const table = `gi_js_${new Date().getTime() % 1000000}`;
for (const [name, uri] of stores())
    check(`${name}/round-trip`, () => roundTrip(uri, table));
for (const [name, uri] of stores())
    check(`${name}/replicas`, () => replicas(uri, `${table}_r`));
for (const [name, uri] of stores())
    check(`${name}/poll`, () => poll(uri, `${table}_p`));
check('bad-uri', badUri);
check('plugin-list', pluginList);

print(`1..${results.length}`);
results.forEach(([ok, name, why], i) =>
    print(`${ok ? '' : 'not '}ok ${i + 1} /gi/gjs/${name}${ok ? '' : ` # ${why}`}`));
removeTree(root);
System.exit(results.every(r => r[0]) ? 0 : 1);
