/* test_store: the SQLite store: migrations, reservations, deletes, append-only events, concurrency */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "store/store.h"
#include "wire/names.h"

#define NCHILD	8

/* a scenario with 4 VMs on two nets and private management addresses: every copy asks for
 * the same management subnet, so only the used-address sets keep them apart */
static char *
scenario_xml(const char *name)
{
	return g_strdup_printf(
	    "<?xml version=\"1.0\"?>\n"
	    "<vnx>\n"
	    " <global>\n"
	    "  <version>2.0</version>\n"
	    "  <scenario_name>%s</scenario_name>\n"
	    "  <automac offset=\"4\"/>\n"
	    "  <vm_mgmt type=\"private\" network=\"10.250.0.0\" mask=\"16\" offset=\"12\">\n"
	    "   <host_mapping/>\n"
	    "  </vm_mgmt>\n"
	    " </global>\n"
	    " <net name=\"net0\" mode=\"virtual_bridge\"/>\n"
	    " <net name=\"net1\" mode=\"virtual_bridge\"/>\n"
	    " <vm name=\"a\" type=\"libvirt\" subtype=\"kvm\" os=\"linux\">\n"
	    "  <mem>64M</mem>\n"
	    "  <if id=\"1\" net=\"net0\"><ipv4>10.0.0.1/24</ipv4></if>\n"
	    "  <if id=\"2\" net=\"net1\"><ipv4>10.0.1.1/24</ipv4></if>\n"
	    " </vm>\n"
	    " <vm name=\"b\" type=\"libvirt\" subtype=\"kvm\" os=\"linux\">\n"
	    "  <mem>64M</mem>\n"
	    "  <if id=\"1\" net=\"net0\"><ipv4>10.0.0.2/24</ipv4></if>\n"
	    "  <if id=\"2\" net=\"net1\"><ipv4>10.0.1.2/24</ipv4></if>\n"
	    " </vm>\n"
	    " <vm name=\"c\" type=\"libvirt\" subtype=\"kvm\" os=\"linux\">\n"
	    "  <mem>64M</mem>\n"
	    "  <if id=\"1\" net=\"net0\"><ipv4>10.0.0.3/24</ipv4></if>\n"
	    " </vm>\n"
	    " <vm name=\"d\" type=\"libvirt\" subtype=\"kvm\" os=\"linux\">\n"
	    "  <mem>64M</mem>\n"
	    "  <if id=\"1\" net=\"net1\"><ipv4>10.0.1.4/24</ipv4></if>\n"
	    " </vm>\n"
	    "</vnx>\n", name);
}

static plan_host hosts[] = {
	{ .name = "h1", .cpus = 2, .mem_mib = 4096, .online = true },
	{ .name = "h2", .cpus = 2, .mem_mib = 4096, .online = true },
	{ .name = "h3", .cpus = 2, .mem_mib = 4096, .online = true },
};

/* a parsed, validated scenario and its round-robin plan (spread over the hosts) */
typedef struct {
	scenario *s;
	plan *p;
	char *xml;
} fixture;

static void
fixture_free(fixture *f)
{
	plan_free(f->p);
	scenario_free(f->s);
	g_free(f->xml);
}

/* make: 0 on success; used from forked children too, so no cmocka asserts here */
static int
make(fixture *f, const char *name, diag *d)
{
	f->xml = scenario_xml(name);
	f->s = scenario_parse_memory(f->xml, strlen(f->xml), "test.xml", d);
	if (f->s == NULL || diag_has_errors(d) || !scenario_validate(f->s, d))
		return -1;
	f->p = plan_partition(f->s, NULL, hosts, G_N_ELEMENTS(hosts), PLAN_ROUND_ROBIN, d);
	return f->p == NULL ? -1 : 0;
}

static char *
tmpdir(void)
{
	g_autoptr(GError) err = NULL;
	char *dir = g_dir_make_tmp("nube-store-XXXXXX", &err);

	assert_non_null(dir);
	return dir;
}

static void
rmtree(const char *dir)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

	assert_int_equal(system(cmd), 0);
}

/* sql_int: one integer from a side connection (the test looks at the file directly) */
static int64_t
sql_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int64_t v;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

/* sql_exec: run sql on a side connection; returns the SQLite code, message in *msg */
static int
sql_exec(const char *path, const char *sql, char **msg)
{
	sqlite3 *db = NULL;
	char *m = NULL;
	int rc;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	rc = sqlite3_exec(db, sql, NULL, NULL, &m);
	if (msg != NULL)
		*msg = g_strdup(m);
	sqlite3_free(m);
	sqlite3_close(db);
	return rc;
}

static void
test_migrate_empty_and_reopen(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "deep", "er", "nube.db", NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) ev = NULL;
	store *st;

	(void)state;
	st = store_open(path, &err);	/* parent dirs do not exist yet */
	assert_null(err);
	assert_non_null(st);
	assert_true(store_schema_version() >= 1);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), store_schema_version());
	assert_int_equal(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
	    "name IN ('scenario','placement','alloc_vni','alloc_mac','alloc_addr','event')"), 6);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"), 2);
	assert_int_equal(store_event(st, 1000, "h1", "test", NULL, NULL, "before reopen", &err), 0);
	store_close(st);
	{
		sqlite3 *db;
		sqlite3_stmt *stmt;

		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
		sqlite3_finalize(stmt);
		sqlite3_close(db);
	}

	/* reopen: no migration runs again, data is kept */
	st = store_open(path, &err);
	assert_non_null(st);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), store_schema_version());
	ev = store_events(st, 0, 0, &err);
	assert_non_null(ev);
	assert_int_equal(ev->len, 1);
	assert_string_equal(((store_event_row *)g_ptr_array_index(ev, 0))->msg, "before reopen");
	store_close(st);

	/* a database from a newer nube is refused, not mangled */
	assert_int_equal(sql_exec(path, "PRAGMA user_version = 999", NULL), SQLITE_OK);
	st = store_open(path, &err);
	assert_null(st);
	assert_non_null(err);
	assert_non_null(strstr(err->message, "newer"));
	assert_int_equal(sql_int(path, "PRAGMA user_version"), 999);
	rmtree(dir);
}

static void
test_reserve_and_duplicate(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "nube.db", NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(diag) d = diag_new();
	g_autoptr(diag) d2 = diag_new();
	g_autoptr(GHashTable) pl = NULL;
	g_autoptr(GPtrArray) list = NULL;
	fixture f = { 0 }, g = { 0 };
	store_scenario *sc;
	store *st;
	int cross = 0;

	(void)state;
	st = store_open(path, &err);
	assert_non_null(st);
	assert_int_equal(make(&f, "lab", d), 0);
	assert_int_equal(store_reserve(st, f.s, f.xml, f.p, 20000, 20099, d), 0);
	assert_false(diag_has_errors(d));

	sc = store_get(st, "lab", &err);
	assert_non_null(sc);
	assert_string_equal(sc->state, "deploying");
	assert_string_equal(sc->spec, f.xml);
	assert_string_equal(sc->algorithm, plan_algorithm_name(PLAN_ROUND_ROBIN));
	assert_true(sc->created > 1600000000);
	assert_null(sc->source);	/* "test.xml" is a buffer's name, not a file here */
	store_scenario_free(sc);
	assert_null(store_get(st, "nope", &err));
	assert_null(err);

	/* the placements and allocations recorded are the plan's */
	pl = store_placements(st, "lab", &err);
	assert_int_equal(g_hash_table_size(pl), f.s->vms->len);
	for (guint i = 0; i < f.s->vms->len; i++) {
		const sc_vm *vm = g_ptr_array_index(f.s->vms, i);

		assert_string_equal(g_hash_table_lookup(pl, vm->name), f.p->hosts[f.p->vm_host[i]].name);
	}
	for (int j = 0; j < f.p->nnets; j++) {
		if (f.p->net_hosts[j]->len > 1) {
			cross++;
			assert_true(f.p->net_vni[j] >= 20000 && f.p->net_vni[j] <= 20099);
		}
	}
	assert_true(cross >= 1);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM alloc_vni WHERE scenario = 'lab'"), cross);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM alloc_mac WHERE scenario = 'lab'"), 6);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM alloc_addr WHERE scenario = 'lab'"), 4);

	/* same name again: refused, nothing changed */
	assert_int_equal(make(&g, "lab", d2), 0);
	assert_int_equal(store_reserve(st, g.s, g.xml, g.p, 20000, 20099, d2), -1);
	assert_true(diag_contains(d2, DIAG_ERROR, "scenario 'lab' is already deployed (state deploying)"));
	assert_int_equal(store_set_state(st, "lab", "deployed", &err), 0);
	diag_free(d2);
	d2 = diag_new();
	assert_int_equal(store_reserve(st, g.s, g.xml, g.p, 20000, 20099, d2), -1);
	assert_true(diag_contains(d2, DIAG_ERROR, "(state deployed)"));
	assert_int_equal(sql_int(path, "SELECT count(*) FROM scenario"), 1);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM alloc_mac"), 6);

	/* state and placement updates; unknown names are NOT_FOUND */
	assert_int_equal(store_set_state(st, "lab", "bogus", &err), -1);
	assert_true(g_error_matches(err, STORE_ERROR, STORE_ERROR_INVALID));
	g_clear_error(&err);
	assert_int_equal(store_set_state(st, "ghost", "failed", &err), -1);
	assert_true(g_error_matches(err, STORE_ERROR, STORE_ERROR_NOT_FOUND));
	g_clear_error(&err);
	assert_int_equal(store_set_placement(st, "lab", "a", "h3", &err), 0);
	g_hash_table_unref(pl);
	pl = store_placements(st, "lab", &err);
	assert_string_equal(g_hash_table_lookup(pl, "a"), "h3");
	assert_int_equal(store_set_placement(st, "lab", "zz", "h3", &err), -1);
	assert_true(g_error_matches(err, STORE_ERROR, STORE_ERROR_NOT_FOUND));
	g_clear_error(&err);

	list = store_list(st, &err);
	assert_int_equal(list->len, 1);
	assert_string_equal(((store_scenario *)g_ptr_array_index(list, 0))->state, "deployed");

	fixture_free(&f);
	fixture_free(&g);
	store_close(st);
	rmtree(dir);
}

static void
test_delete_frees(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "nube.db", NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(diag) d = diag_new();
	g_autoptr(GArray) first = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	fixture f = { 0 }, g = { 0 }, h = { 0 };
	store *st;
	int cross = 0;

	(void)state;
	st = store_open(path, &err);
	assert_non_null(st);
	assert_int_equal(make(&f, "one", d), 0);
	for (int j = 0; j < f.p->nnets; j++)
		cross += f.p->net_hosts[j]->len > 1;
	assert_true(cross >= 1);
	/* a range that holds exactly one scenario's VNIs */
	assert_int_equal(store_reserve(st, f.s, f.xml, f.p, 30000, 30000 + cross - 1, d), 0);
	assert_int_equal(store_event(st, 5, NULL, "deploy", "one", NULL, "reserved", &err), 0);

	/* a second scenario does not fit while the first holds the range */
	assert_int_equal(make(&g, "two", d), 0);
	assert_int_equal(store_reserve(st, g.s, g.xml, g.p, 30000, 30000 + cross - 1, d), -1);
	assert_true(diag_has_errors(d));
	assert_null(store_get(st, "two", &err));
	assert_null(err);

	assert_int_equal(store_delete(st, "one", &err), 0);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM alloc_vni"), 0);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM alloc_mac"), 0);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM alloc_addr"), 0);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM placement"), 0);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM event"), 1);	/* history stays */
	assert_int_equal(store_delete(st, "one", &err), -1);
	assert_true(g_error_matches(err, STORE_ERROR, STORE_ERROR_NOT_FOUND));
	g_clear_error(&err);

	/* now the range is free again */
	diag_free(d);
	d = diag_new();
	assert_int_equal(make(&h, "two", d), 0);
	assert_int_equal(store_reserve(st, h.s, h.xml, h.p, 30000, 30000 + cross - 1, d), 0);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM alloc_vni WHERE scenario = 'two'"), cross);

	fixture_free(&f);
	fixture_free(&g);
	fixture_free(&h);
	store_close(st);
	rmtree(dir);
}

static void
test_events_append_only(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "nube.db", NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) all = NULL;
	g_autoptr(GPtrArray) tail = NULL;
	g_autoptr(GPtrArray) since = NULL;
	g_autofree char *msg = NULL;
	store_event_row *e;
	store *st;

	(void)state;
	st = store_open(path, &err);
	assert_non_null(st);
	for (int i = 0; i < 5; i++) {
		g_autofree char *m = g_strdup_printf("event %d", i);

		assert_int_equal(store_event(st, 1000 + i, "h1", "migrate", "lab", i % 2 ? "vm" : NULL,
		    m, &err), 0);
	}
	all = store_events(st, 0, 0, &err);
	assert_int_equal(all->len, 5);
	e = g_ptr_array_index(all, 0);
	assert_string_equal(e->msg, "event 0");
	assert_int_equal(e->ts_ms, 1000);
	assert_null(e->vm);
	assert_string_equal(((store_event_row *)g_ptr_array_index(all, 1))->vm, "vm");

	tail = store_events(st, 0, 2, &err);	/* the newest two, oldest first */
	assert_int_equal(tail->len, 2);
	assert_string_equal(((store_event_row *)g_ptr_array_index(tail, 0))->msg, "event 3");
	assert_string_equal(((store_event_row *)g_ptr_array_index(tail, 1))->msg, "event 4");

	since = store_events(st, e->id + 2, 0, &err);
	assert_int_equal(since->len, 2);
	assert_string_equal(((store_event_row *)g_ptr_array_index(since, 0))->msg, "event 3");

	assert_int_not_equal(sql_exec(path, "UPDATE event SET msg = 'forged'", &msg), SQLITE_OK);
	assert_non_null(strstr(msg, "append-only"));
	g_clear_pointer(&msg, g_free);
	assert_int_not_equal(sql_exec(path, "DELETE FROM event WHERE id = 1", &msg), SQLITE_OK);
	assert_non_null(strstr(msg, "append-only"));
	assert_int_equal(sql_int(path, "SELECT count(*) FROM event WHERE msg LIKE 'event %'"), 5);
	store_close(st);
	rmtree(dir);
}

/* the agents' journaled events come in once per (host, seq), with their data; the CLI's own
 * events (no seq) never collide; the last seq per host is what to ask the agent for next */
static void
test_event_import_once(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "nube.db", NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) all = NULL;
	store_event_row *e;
	json_t *ev;
	store *st;

	(void)state;
	st = store_open(path, &err);
	assert_non_null(st);
	assert_int_equal(store_host_last_seq(st, "h1", &err), 0);
	ev = json_pack("{s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:I, s:I}}",
	    "ts", (json_int_t)1700000000123, "host", "h1", "seq", (json_int_t)7, "type", "migrated",
	    "scenario", "lab", "vm", "r1", "msg", "'r1' moved to h2", "data", "src", "h1",
	    "dst", "h2", "duration_ms", (json_int_t)480, "downtime_ms", (json_int_t)120);
	assert_int_equal(store_event_import(st, ev, &err), 1);
	assert_null(err);
	assert_int_equal(store_event_import(st, ev, &err), 0);	/* again: not a second row */
	assert_null(err);
	/* the same seq from another host is another event */
	json_object_set_new(ev, "host", json_string("h2"));
	assert_int_equal(store_event_import(st, ev, &err), 1);
	json_object_set_new(ev, "seq", json_integer(3));
	json_object_set_new(ev, "host", json_string("h1"));
	json_object_del(ev, "data");
	json_object_set_new(ev, "vm", json_null());
	assert_int_equal(store_event_import(st, ev, &err), 1);	/* older seq, still new */
	json_decref(ev);
	/* CLI-made events carry no seq and are never taken for duplicates */
	assert_int_equal(store_event(st, 5, "h1", "deploy", "lab", NULL, "one", &err), 0);
	assert_int_equal(store_event(st, 5, "h1", "deploy", "lab", NULL, "one", &err), 0);

	assert_int_equal(store_host_last_seq(st, "h1", &err), 7);
	assert_int_equal(store_host_last_seq(st, "h2", &err), 7);
	assert_int_equal(store_host_last_seq(st, "h3", &err), 0);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM event"), 5);

	all = store_events(st, 0, 0, &err);
	assert_int_equal(all->len, 5);
	e = g_ptr_array_index(all, 0);
	assert_int_equal(e->seq, 7);
	assert_int_equal(e->ts_ms, 1700000000123);
	assert_string_equal(e->type, "migrated");
	assert_string_equal(e->vm, "r1");
	assert_string_equal(e->data, "{\"downtime_ms\":120,\"dst\":\"h2\",\"duration_ms\":480,"
	    "\"src\":\"h1\"}");
	e = g_ptr_array_index(all, 2);
	assert_int_equal(e->seq, 3);
	assert_null(e->vm);
	assert_null(e->data);
	assert_int_equal(((store_event_row *)g_ptr_array_index(all, 3))->seq, 0);

	/* malformed: refused as INVALID, nothing written */
	{
		static const char *const bad[] = {
			"{\"ts\":1,\"seq\":1,\"type\":\"x\"}",			/* no host */
			"{\"ts\":1,\"host\":\"h1\",\"type\":\"x\"}",		/* no seq */
			"{\"ts\":1,\"host\":\"h1\",\"seq\":0,\"type\":\"x\"}",
			"{\"ts\":1,\"host\":\"h1\",\"seq\":\"9\",\"type\":\"x\"}",
			"{\"host\":\"h1\",\"seq\":9,\"type\":\"x\"}",		/* no ts */
			"{\"ts\":1,\"host\":\"h1\",\"seq\":9}",			/* no type */
			"{\"ts\":1,\"host\":\"h1\",\"seq\":9,\"type\":\"x\",\"vm\":3}",
			"{\"ts\":1,\"host\":\"h1\",\"seq\":9,\"type\":\"x\",\"data\":[1]}",
			"[1]",
		};

		for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
			json_t *j = json_loads(bad[i], 0, NULL);

			assert_non_null(j);
			assert_int_equal(store_event_import(st, j, &err), -1);
			assert_true(g_error_matches(err, STORE_ERROR, STORE_ERROR_INVALID));
			g_clear_error(&err);
			json_decref(j);
		}
	}
	assert_int_equal(sql_int(path, "SELECT count(*) FROM event"), 5);
	store_close(st);
	rmtree(dir);
}

/* a database of schema 1 (events without seq) is migrated: old rows kept, import works */
static void
test_migrate_v1_events(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "nube.db", NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) all = NULL;
	json_t *ev;
	store *st;

	(void)state;
	/* schema 1 as nube 0.1 wrote it */
	assert_int_equal(sql_exec(path, "CREATE TABLE scenario (name TEXT PRIMARY KEY NOT NULL,"
	    " spec TEXT NOT NULL, state TEXT NOT NULL, algorithm TEXT, created INTEGER NOT NULL);"
	    "CREATE TABLE placement (scenario TEXT NOT NULL REFERENCES scenario(name) ON DELETE"
	    " CASCADE, vm TEXT NOT NULL, host TEXT NOT NULL, PRIMARY KEY (scenario, vm));"
	    "CREATE TABLE alloc_vni (vni INTEGER PRIMARY KEY NOT NULL, scenario TEXT NOT NULL"
	    " REFERENCES scenario(name) ON DELETE CASCADE, net TEXT NOT NULL);"
	    "CREATE INDEX alloc_vni_scenario ON alloc_vni(scenario);"
	    "CREATE TABLE alloc_mac (mac TEXT NOT NULL UNIQUE, scenario TEXT NOT NULL REFERENCES"
	    " scenario(name) ON DELETE CASCADE, vm TEXT NOT NULL, ifid INTEGER NOT NULL);"
	    "CREATE INDEX alloc_mac_scenario ON alloc_mac(scenario);"
	    "CREATE TABLE alloc_addr (addr TEXT NOT NULL UNIQUE, scenario TEXT NOT NULL"
	    " REFERENCES scenario(name) ON DELETE CASCADE, vm TEXT NOT NULL);"
	    "CREATE INDEX alloc_addr_scenario ON alloc_addr(scenario);"
	    "CREATE TABLE event (id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ms INTEGER NOT NULL,"
	    " host TEXT, type TEXT, scenario TEXT, vm TEXT, msg TEXT);"
	    "CREATE TRIGGER event_no_update BEFORE UPDATE ON event"
	    "  BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;"
	    "CREATE TRIGGER event_no_delete BEFORE DELETE ON event"
	    "  BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;"
	    "INSERT INTO event(ts_ms, host, type, msg) VALUES (1, 'h1', 'old', 'from v1');"
	    "PRAGMA user_version = 1;", NULL), SQLITE_OK);
	st = store_open(path, &err);
	assert_non_null(st);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), store_schema_version());
	assert_int_equal(store_host_last_seq(st, "h1", &err), 0);
	ev = json_pack("{s:I, s:s, s:I, s:s}", "ts", (json_int_t)2, "host", "h1", "seq",
	    (json_int_t)1, "type", "admit");
	assert_int_equal(store_event_import(st, ev, &err), 1);
	assert_int_equal(store_event_import(st, ev, &err), 0);
	json_decref(ev);
	all = store_events(st, 0, 0, &err);
	assert_int_equal(all->len, 2);
	assert_string_equal(((store_event_row *)g_ptr_array_index(all, 0))->msg, "from v1");
	assert_int_equal(((store_event_row *)g_ptr_array_index(all, 0))->seq, 0);
	assert_int_equal(((store_event_row *)g_ptr_array_index(all, 1))->seq, 1);
	store_close(st);
	rmtree(dir);
}

/* a stretched net's VNI is recorded and read back; one VNI is one net's only */
static void
test_net_vni(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "nube.db", NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(diag) d = diag_new();
	g_autoptr(GHashTable) v = NULL;
	fixture f = { 0 };
	store *st;
	uint32_t taken = 0;
	const char *single = NULL;

	(void)state;
	st = store_open(path, &err);
	assert_non_null(st);
	assert_int_equal(make(&f, "lab", d), 0);
	assert_int_equal(store_reserve(st, f.s, f.xml, f.p, 20000, 20099, d), 0);
	for (int j = 0; j < f.p->nnets; j++) {
		const sc_net *net = g_ptr_array_index(f.s->nets, j);

		if (f.p->net_vni[j] != 0)
			taken = f.p->net_vni[j];
		else
			single = net->name;
	}
	v = store_net_vnis(st, "lab", &err);
	assert_non_null(v);
	assert_true(taken != 0);
	assert_int_equal(g_hash_table_size(v), f.p->nnets - (single != NULL));

	/* a net of one host stretched by a migration: the agent's VNI from the stretch range */
	if (single == NULL)
		single = "net1";	/* the round-robin plan stretched both: re-record one */
	assert_int_equal(store_set_net_vni(st, "lab", single, NUBE_VNI_STRETCH_MIN + 5, &err), 0);
	g_hash_table_unref(v);
	v = store_net_vnis(st, "lab", &err);
	assert_int_equal(GPOINTER_TO_UINT(g_hash_table_lookup(v, single)), NUBE_VNI_STRETCH_MIN + 5);
	/* again with another VNI: replaced, not added */
	assert_int_equal(store_set_net_vni(st, "lab", single, NUBE_VNI_STRETCH_MIN + 6, &err), 0);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM alloc_vni WHERE net = 'net1' OR "
	    "net = 'net0'"), 2);
	g_hash_table_unref(v);
	v = store_net_vnis(st, "lab", &err);
	assert_int_equal(GPOINTER_TO_UINT(g_hash_table_lookup(v, single)), NUBE_VNI_STRETCH_MIN + 6);
	/* the same VNI for itself again is fine; another net's VNI is refused */
	assert_int_equal(store_set_net_vni(st, "lab", single, NUBE_VNI_STRETCH_MIN + 6, &err), 0);
	assert_int_equal(store_set_net_vni(st, "lab", "other", NUBE_VNI_STRETCH_MIN + 6, &err), -1);
	assert_true(g_error_matches(err, STORE_ERROR, STORE_ERROR_INVALID));
	assert_non_null(strstr(err->message, "already"));
	g_clear_error(&err);
	assert_int_equal(store_set_net_vni(st, "ghost", "net0", 7, &err), -1);
	assert_true(g_error_matches(err, STORE_ERROR, STORE_ERROR_NOT_FOUND));
	g_clear_error(&err);
	assert_int_equal(store_set_net_vni(st, "lab", "net0", 0x1000000, &err), -1);
	assert_true(g_error_matches(err, STORE_ERROR, STORE_ERROR_INVALID));
	g_clear_error(&err);
	/* vni 0: the net has none any more */
	assert_int_equal(store_set_net_vni(st, "lab", single, 0, &err), 0);
	g_hash_table_unref(v);
	v = store_net_vnis(st, "lab", &err);
	assert_false(g_hash_table_contains(v, single));
	/* deleting the scenario frees them */
	assert_int_equal(store_set_net_vni(st, "lab", single, NUBE_VNI_STRETCH_MIN + 6, &err), 0);
	assert_int_equal(store_delete(st, "lab", &err), 0);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM alloc_vni"), 0);
	fixture_free(&f);
	store_close(st);
	rmtree(dir);
}

/* the store allocates only inside the deploy range: the stretch range is the agents' */
static void
test_vni_range_deploy_only(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "nube.db", NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(diag) d = diag_new();
	fixture f = { 0 };
	store *st;

	(void)state;
	assert_int_equal(store_vni_range_check(1, NUBE_VNI_DEPLOY_MAX, &err), 0);
	assert_int_equal(store_vni_range_check(10000, NUBE_VNI_STRETCH_MIN, &err), -1);
	assert_true(g_error_matches(err, STORE_ERROR, STORE_ERROR_INVALID));
	assert_non_null(strstr(err->message, "not within the deploy range 1..15728639"));
	g_clear_error(&err);
	assert_int_equal(store_vni_range_check(0, 100, &err), -1);
	g_clear_error(&err);
	assert_int_equal(store_vni_range_check(200, 100, &err), -1);
	g_clear_error(&err);

	st = store_open(path, &err);
	assert_non_null(st);
	assert_int_equal(make(&f, "lab", d), 0);
	assert_int_equal(store_reserve(st, f.s, f.xml, f.p, NUBE_VNI_STRETCH_MIN,
	    NUBE_VNI_STRETCH_MAX, d), -1);
	assert_true(diag_contains(d, DIAG_ERROR, "not within the deploy range"));
	assert_null(store_get(st, "lab", &err));
	/* the top of the deploy range is fine */
	diag_free(d);
	d = diag_new();
	assert_int_equal(store_reserve(st, f.s, f.xml, f.p, NUBE_VNI_DEPLOY_MAX - 9,
	    NUBE_VNI_DEPLOY_MAX, d), 0);
	for (int j = 0; j < f.p->nnets; j++)
		assert_true(f.p->net_vni[j] == 0 || f.p->net_vni[j] <= NUBE_VNI_DEPLOY_MAX);
	fixture_free(&f);
	store_close(st);
	rmtree(dir);
}

/* child: wait for the start signal, reserve its own scenario, write what it got to out */
static int
child_reserve(const char *db, const char *name, int start_fd, const char *out,
    uint32_t vmin, uint32_t vmax)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(diag) d = diag_new();
	g_autoptr(GString) s = g_string_new(NULL);
	fixture f = { 0 };
	store *st;
	char c;

	if (make(&f, name, d) < 0) {
		diag_print(d, stderr);
		return 1;
	}
	if (read(start_fd, &c, 1) < 0)	/* returns 0 when the parent closes its end */
		return 1;
	st = store_open(db, &err);
	if (st == NULL) {
		fprintf(stderr, "%s: %s\n", name, err->message);
		return 1;
	}
	if (store_reserve(st, f.s, f.xml, f.p, vmin, vmax, d) < 0) {
		fprintf(stderr, "%s: reserve failed\n", name);
		diag_print(d, stderr);
		store_close(st);
		return 1;
	}
	store_close(st);
	for (int j = 0; j < f.p->nnets; j++)
		if (f.p->net_vni[j] != 0)
			g_string_append_printf(s, "vni %u\n", f.p->net_vni[j]);
	for (guint i = 0; i < f.p->vm_macs->len; i++) {
		GPtrArray *macs = g_ptr_array_index(f.p->vm_macs, i);

		for (guint k = 0; macs != NULL && k < macs->len; k++)
			if (g_ptr_array_index(macs, k) != NULL)
				g_string_append_printf(s, "mac %s\n", (char *)g_ptr_array_index(macs, k));
		if (g_ptr_array_index(f.p->vm_mgmt_addr, i) != NULL)
			g_string_append_printf(s, "addr %s\n", (char *)g_ptr_array_index(f.p->vm_mgmt_addr, i));
	}
	fixture_free(&f);
	return g_file_set_contents(out, s->str, -1, NULL) ? 0 : 1;
}

static void
test_concurrent_reserve(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "nube.db", NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(diag) d = diag_new();
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	fixture f = { 0 };
	pid_t pids[NCHILD];
	int pfd[2];
	int cross = 0, lines = 0;
	uint32_t vmin = 40000, vmax;
	store *st;

	(void)state;
	/* how many VNIs one scenario needs (planning is deterministic) */
	assert_int_equal(make(&f, "probe", d), 0);
	for (int j = 0; j < f.p->nnets; j++)
		cross += f.p->net_hosts[j]->len > 1;
	assert_true(cross >= 1);
	fixture_free(&f);
	/* the range holds exactly what NCHILD scenarios need: any double allocation makes one fail */
	vmax = vmin + NCHILD * cross - 1;

	st = store_open(path, &err);	/* create the schema, then let the children race */
	assert_non_null(st);
	store_close(st);
	assert_int_equal(pipe(pfd), 0);
	for (int i = 0; i < NCHILD; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			g_autofree char *name = g_strdup_printf("lab%d", i);
			g_autofree char *out = g_strdup_printf("%s/out%d", dir, i);

			close(pfd[1]);
			_exit(child_reserve(path, name, pfd[0], out, vmin, vmax));
		}
	}
	close(pfd[0]);
	close(pfd[1]);	/* start */
	for (int i = 0; i < NCHILD; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}

	/* no VNI, MAC or address was handed out twice */
	for (int i = 0; i < NCHILD; i++) {
		g_autofree char *out = g_strdup_printf("%s/out%d", dir, i);
		g_autofree char *text = NULL;
		g_auto(GStrv) ls = NULL;

		assert_true(g_file_get_contents(out, &text, NULL, NULL));
		ls = g_strsplit(text, "\n", -1);
		for (int k = 0; ls[k] != NULL; k++) {
			if (ls[k][0] == '\0')
				continue;
			if (!g_hash_table_add(seen, g_strdup(ls[k])))
				fail_msg("allocated twice: %s", ls[k]);
			lines++;
		}
	}
	assert_int_equal(lines, NCHILD * (cross + 6 + 4));
	assert_int_equal(sql_int(path, "SELECT count(*) FROM scenario"), NCHILD);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM alloc_vni"), NCHILD * cross);
	assert_int_equal(sql_int(path, "SELECT count(DISTINCT vni) FROM alloc_vni"), NCHILD * cross);
	assert_int_equal(sql_int(path, "SELECT min(vni) FROM alloc_vni"), vmin);
	assert_int_equal(sql_int(path, "SELECT max(vni) FROM alloc_vni"), vmax);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM alloc_mac"), NCHILD * 6);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM alloc_addr"), NCHILD * 4);
	rmtree(dir);
}

/* several processes opening a database that does not exist yet: each migration step runs once
 * and nobody fails on the WAL switch */
static void
test_concurrent_open(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "sub", "nube.db", NULL);
	pid_t pids[NCHILD];
	int pfd[2];

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	for (int i = 0; i < NCHILD; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			GError *err = NULL;
			store *st;
			char c;

			close(pfd[1]);
			if (read(pfd[0], &c, 1) < 0)
				_exit(1);
			st = store_open(path, &err);
			if (st == NULL) {
				fprintf(stderr, "open: %s\n", err->message);
				_exit(1);
			}
			if (store_event(st, i, NULL, "open", NULL, NULL, "hello", &err) < 0) {
				fprintf(stderr, "event: %s\n", err->message);
				_exit(1);
			}
			store_close(st);
			_exit(0);
		}
	}
	close(pfd[0]);
	close(pfd[1]);
	for (int i = 0; i < NCHILD; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(sql_int(path, "PRAGMA user_version"), store_schema_version());
	assert_int_equal(sql_int(path, "SELECT count(*) FROM event WHERE type = 'open'"), NCHILD);
	rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_empty_and_reopen),
		cmocka_unit_test(test_reserve_and_duplicate),
		cmocka_unit_test(test_delete_frees),
		cmocka_unit_test(test_events_append_only),
		cmocka_unit_test(test_event_import_once),
		cmocka_unit_test(test_migrate_v1_events),
		cmocka_unit_test(test_net_vni),
		cmocka_unit_test(test_vni_range_deploy_only),
		cmocka_unit_test(test_concurrent_reserve),
		cmocka_unit_test(test_concurrent_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
