/* store: operator-side state in SQLite (schema migrations, reservations, placements, event log) */
#include "store/store.h"

#include <errno.h>
#include <string.h>
#include <sqlite3.h>

#include "wire/names.h"

struct store {
	sqlite3 *db;
	char *path;
};

G_DEFINE_QUARK(nube-store-error-quark, store_error)

/* busy timeout: how long a writer waits for another process's transaction */
#define STORE_BUSY_MS	10000

/* Ordered schema migrations: migrations[i] takes user_version i to i + 1. Never edit a
 * released entry; append a new one instead. */
static const char *const migrations[] = {
	/* v1: scenarios, placements, allocations, append-only event log */
	"CREATE TABLE scenario ("
	"  name TEXT PRIMARY KEY NOT NULL,"
	"  spec TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  algorithm TEXT,"
	"  created INTEGER NOT NULL"
	");"
	"CREATE TABLE placement ("
	"  scenario TEXT NOT NULL REFERENCES scenario(name) ON DELETE CASCADE,"
	"  vm TEXT NOT NULL,"
	"  host TEXT NOT NULL,"
	"  PRIMARY KEY (scenario, vm)"
	");"
	"CREATE TABLE alloc_vni ("
	"  vni INTEGER PRIMARY KEY NOT NULL,"
	"  scenario TEXT NOT NULL REFERENCES scenario(name) ON DELETE CASCADE,"
	"  net TEXT NOT NULL"
	");"
	"CREATE INDEX alloc_vni_scenario ON alloc_vni(scenario);"
	"CREATE TABLE alloc_mac ("
	"  mac TEXT NOT NULL UNIQUE,"
	"  scenario TEXT NOT NULL REFERENCES scenario(name) ON DELETE CASCADE,"
	"  vm TEXT NOT NULL,"
	"  ifid INTEGER NOT NULL"
	");"
	"CREATE INDEX alloc_mac_scenario ON alloc_mac(scenario);"
	"CREATE TABLE alloc_addr ("
	"  addr TEXT NOT NULL UNIQUE,"
	"  scenario TEXT NOT NULL REFERENCES scenario(name) ON DELETE CASCADE,"
	"  vm TEXT NOT NULL"
	");"
	"CREATE INDEX alloc_addr_scenario ON alloc_addr(scenario);"
	"CREATE TABLE event ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ts_ms INTEGER NOT NULL,"
	"  host TEXT,"
	"  type TEXT,"
	"  scenario TEXT,"
	"  vm TEXT,"
	"  msg TEXT"
	");"
	"CREATE TRIGGER event_no_update BEFORE UPDATE ON event"
	"  BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;"
	"CREATE TRIGGER event_no_delete BEFORE DELETE ON event"
	"  BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;",
	/* v2: events imported from the agents' journals carry the journal's per-host seq (NULL
	 * for the CLI's own events) and their data object; (host, seq) is imported once */
	"ALTER TABLE event ADD COLUMN seq INTEGER;"
	"ALTER TABLE event ADD COLUMN data TEXT;"
	"CREATE UNIQUE INDEX event_host_seq ON event(host, seq);",
	/* v3: a deploy may leave a scenario "degraded": the VMs that failed keep why in their
	 * placement; the deployment message (without media) is kept so that the failed VMs can
	 * be deployed again alone */
	"ALTER TABLE placement ADD COLUMN failed TEXT;"
	"ALTER TABLE scenario ADD COLUMN deployment TEXT;",
	/* v4: where the scenario file was when it was deployed (absolute; NULL if unknown):
	 * exec of a seq finds its <filetree> and <exec type="file"> host files from there */
	"ALTER TABLE scenario ADD COLUMN source TEXT;",
};

#define STORE_SCHEMA_VERSION	((int)G_N_ELEMENTS(migrations))

int
store_schema_version(void)
{
	return STORE_SCHEMA_VERSION;
}

static void
set_db_error(store *st, GError **err, const char *what)
{
	g_set_error(err, STORE_ERROR, STORE_ERROR_DB, "store %s: %s: %s", st->path, what,
	    sqlite3_errmsg(st->db));
}

/* exec: run SQL without results; -1 + err on failure */
static int
exec(store *st, const char *sql, GError **err)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		g_set_error(err, STORE_ERROR, STORE_ERROR_DB, "store %s: %s", st->path,
		    msg != NULL ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* exec_retry: exec, retrying for up to STORE_BUSY_MS while another connection holds a lock the
 * busy handler cannot wait for (journal mode switch, WAL recovery) */
static int
exec_retry(store *st, const char *sql, GError **err)
{
	gint64 deadline = g_get_monotonic_time() + STORE_BUSY_MS * (gint64)1000;
	int rc;

	for (;;) {
		rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
			break;
		if (g_get_monotonic_time() > deadline)
			break;
		g_usleep(5000 + g_random_int_range(0, 5000));
	}
	if (rc != SQLITE_OK) {
		g_set_error(err, STORE_ERROR, STORE_ERROR_DB, "store %s: %s: %s", st->path, sql,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
}

/* prepare: compile sql; NULL + err on failure */
static sqlite3_stmt *
prepare(store *st, const char *sql, GError **err)
{
	sqlite3_stmt *stmt = NULL;

	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		set_db_error(st, err, "prepare");
		sqlite3_finalize(stmt);
		return NULL;
	}
	return stmt;
}

static void
rollback(store *st)
{
	/* may fail when SQLite already rolled back; nothing else to do then */
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

static int
user_version(store *st, int *out, GError **err)
{
	sqlite3_stmt *stmt = prepare(st, "PRAGMA user_version", err);

	if (stmt == NULL)
		return -1;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		set_db_error(st, err, "reading user_version");
		sqlite3_finalize(stmt);
		return -1;
	}
	*out = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
}

/* migrate: bring the schema to STORE_SCHEMA_VERSION, one transaction per step; the version is
 * re-read inside the write lock so concurrent openers apply each step once. */
static int
migrate(store *st, GError **err)
{
	int v;

	for (;;) {
		g_autofree char *set = NULL;

		if (exec(st, "BEGIN IMMEDIATE", err) < 0)
			return -1;
		if (user_version(st, &v, err) < 0)
			goto fail;
		if (v > STORE_SCHEMA_VERSION) {
			g_set_error(err, STORE_ERROR, STORE_ERROR_DB,
			    "store %s: schema version %d is newer than this nube (%d)",
			    st->path, v, STORE_SCHEMA_VERSION);
			goto fail;
		}
		if (v == STORE_SCHEMA_VERSION)
			return exec(st, "COMMIT", err);
		if (exec(st, migrations[v], err) < 0) {
			g_prefix_error(err, "migration to schema %d: ", v + 1);
			goto fail;
		}
		set = g_strdup_printf("PRAGMA user_version = %d", v + 1);
		if (exec(st, set, err) < 0 || exec(st, "COMMIT", err) < 0)
			goto fail;
	}
fail:
	rollback(st);
	return -1;
}

store *
store_open(const char *path, GError **err)
{
	store *st;
	bool memory = path != NULL && (strcmp(path, ":memory:") == 0 || path[0] == '\0');

	if (path == NULL)
		path = STORE_DEFAULT_PATH;
	if (!memory) {
		g_autofree char *dir = g_path_get_dirname(path);

		if (g_mkdir_with_parents(dir, 0755) < 0) {
			int e = errno;

			g_set_error(err, STORE_ERROR, STORE_ERROR_DB, "store %s: cannot create %s: %s",
			    path, dir, g_strerror(e));
			return NULL;
		}
	}
	st = g_new0(store, 1);
	st->path = g_strdup(path);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)
	    != SQLITE_OK) {
		if (st->db != NULL)
			set_db_error(st, err, "open");
		else
			g_set_error(err, STORE_ERROR, STORE_ERROR_DB, "store %s: out of memory", path);
		store_close(st);
		return NULL;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	/* WAL persists in the file. Switching to it needs an exclusive lock, and SQLite does not
	 * call the busy handler there (another opener may hold a shared lock), so retry. */
	if (exec_retry(st, "PRAGMA journal_mode = WAL", err) < 0 ||
	    exec(st, "PRAGMA foreign_keys = ON", err) < 0 ||
	    exec(st, "PRAGMA synchronous = NORMAL", err) < 0 ||
	    migrate(st, err) < 0) {
		store_close(st);
		return NULL;
	}
	return st;
}

void
store_close(store *st)
{
	if (st == NULL)
		return;
	sqlite3_close_v2(st->db);
	g_free(st->path);
	g_free(st);
}

/* ---- reservation ---- */

/* load_set: run sql (one column) and add each value to set: as GUINT_TO_POINTER when ints,
 * else as a new string owned by the set */
static int
load_set(store *st, const char *sql, GHashTable *set, bool ints, GError **err)
{
	sqlite3_stmt *stmt = prepare(st, sql, err);
	int rc;

	if (stmt == NULL)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (ints)
			g_hash_table_add(set, GUINT_TO_POINTER((guint)sqlite3_column_int64(stmt, 0)));
		else
			g_hash_table_add(set, g_strdup((const char *)sqlite3_column_text(stmt, 0)));
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		set_db_error(st, err, "reading allocations");
		return -1;
	}
	return 0;
}

/* load_used: fill the three sets (inside the caller's transaction) */
static int
load_used(store *st, GHashTable *vnis, GHashTable *macs, GHashTable *addrs, GError **err)
{
	if (load_set(st, "SELECT vni FROM alloc_vni", vnis, true, err) < 0 ||
	    load_set(st, "SELECT lower(mac) FROM alloc_mac", macs, false, err) < 0 ||
	    load_set(st, "SELECT addr FROM alloc_addr", addrs, false, err) < 0)
		return -1;
	return 0;
}

static GHashTable *
str_set(void)
{
	return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

int
store_used_sets(store *st, GHashTable **vnis, GHashTable **macs, GHashTable **addrs,
    GError **err)
{
	GHashTable *v, *m, *a;

	if (st == NULL)
		return -1;
	v = g_hash_table_new(g_direct_hash, g_direct_equal);
	m = str_set();
	a = str_set();
	if (exec(st, "BEGIN", err) < 0 || load_used(st, v, m, a, err) < 0 ||
	    exec(st, "COMMIT", err) < 0) {
		rollback(st);
		g_hash_table_unref(v);
		g_hash_table_unref(m);
		g_hash_table_unref(a);
		return -1;
	}
	*vnis = v;
	*macs = m;
	*addrs = a;
	return 0;
}

/* step_insert: bind nothing more, step once and reset; -1 with the reason in d */
static int
step_insert(store *st, sqlite3_stmt *stmt, const char *what, diag *d)
{
	int rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	if (rc != SQLITE_DONE) {
		diag_error(d, NULL, 0, "store %s: recording %s: %s", st->path, what,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
}

/* insert_plan: the rows of one reservation (inside the caller's transaction) */
static int
insert_plan(store *st, const scenario *s, const char *spec, const plan *p, diag *d)
{
	/* the scenario's file, absolute, when it is one (not standard input or a buffer) */
	g_autofree char *source = s->file != NULL && g_file_test(s->file, G_FILE_TEST_IS_REGULAR) ?
	    g_canonicalize_filename(s->file, NULL) : NULL;
	static const char *const sqls[] = {
		"INSERT INTO scenario(name, spec, state, algorithm, created, source) VALUES (?, ?, 'deploying', ?, ?, ?)",
		"INSERT INTO placement(scenario, vm, host) VALUES (?, ?, ?)",
		"INSERT INTO alloc_vni(vni, scenario, net) VALUES (?, ?, ?)",
		"INSERT INTO alloc_mac(mac, scenario, vm, ifid) VALUES (?, ?, ?, ?)",
		"INSERT INTO alloc_addr(addr, scenario, vm) VALUES (?, ?, ?)",
	};
	sqlite3_stmt *stmt[G_N_ELEMENTS(sqls)] = { 0 };
	int ret = -1;

	for (guint i = 0; i < G_N_ELEMENTS(sqls); i++) {
		g_autoptr(GError) err = NULL;

		if ((stmt[i] = prepare(st, sqls[i], &err)) == NULL) {
			diag_error(d, NULL, 0, "%s", err->message);
			goto out;
		}
	}

	sqlite3_bind_text(stmt[0], 1, s->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt[0], 2, spec != NULL ? spec : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt[0], 3, plan_algorithm_name(p->algorithm), -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt[0], 4, g_get_real_time() / G_USEC_PER_SEC);
	if (source != NULL)
		sqlite3_bind_text(stmt[0], 5, source, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt[0], 5);
	if (step_insert(st, stmt[0], "the scenario", d) < 0)
		goto out;

	for (guint i = 0; i < s->vms->len; i++) {
		const sc_vm *vm = g_ptr_array_index(s->vms, i);
		int h = (int)i < p->nvms ? p->vm_host[i] : -1;

		if (h < 0 || h >= p->nhosts) {
			diag_error(d, NULL, 0, "store: VM '%s' has no host in the plan", vm->name);
			goto out;
		}
		sqlite3_bind_text(stmt[1], 1, s->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt[1], 2, vm->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt[1], 3, p->hosts[h].name, -1, SQLITE_STATIC);
		if (step_insert(st, stmt[1], "a placement", d) < 0)
			goto out;

		if (p->vm_macs != NULL && i < p->vm_macs->len) {
			GPtrArray *macs = g_ptr_array_index(p->vm_macs, i);

			for (guint k = 0; macs != NULL && k < macs->len && k < vm->ifs->len; k++) {
				const char *mac = g_ptr_array_index(macs, k);
				const sc_if *ifc = g_ptr_array_index(vm->ifs, k);

				if (mac == NULL)
					continue;
				sqlite3_bind_text(stmt[3], 1, mac, -1, SQLITE_STATIC);
				sqlite3_bind_text(stmt[3], 2, s->name, -1, SQLITE_STATIC);
				sqlite3_bind_text(stmt[3], 3, vm->name, -1, SQLITE_STATIC);
				sqlite3_bind_int(stmt[3], 4, ifc->id);
				if (step_insert(st, stmt[3], "a MAC", d) < 0)
					goto out;
			}
		}
		if (p->vm_mgmt_addr != NULL && i < p->vm_mgmt_addr->len) {
			const char *a = g_ptr_array_index(p->vm_mgmt_addr, i);
			g_autofree char *addr = NULL;
			char *slash;

			if (a == NULL)
				continue;
			addr = g_strdup(a);
			if ((slash = strchr(addr, '/')) != NULL)
				*slash = '\0';
			sqlite3_bind_text(stmt[4], 1, addr, -1, SQLITE_STATIC);
			sqlite3_bind_text(stmt[4], 2, s->name, -1, SQLITE_STATIC);
			sqlite3_bind_text(stmt[4], 3, vm->name, -1, SQLITE_STATIC);
			if (step_insert(st, stmt[4], "a management address", d) < 0)
				goto out;
		}
	}

	for (int j = 0; p->net_vni != NULL && j < p->nnets && j < (int)s->nets->len; j++) {
		const sc_net *net = g_ptr_array_index(s->nets, j);

		if (p->net_vni[j] == 0)
			continue;
		sqlite3_bind_int64(stmt[2], 1, p->net_vni[j]);
		sqlite3_bind_text(stmt[2], 2, s->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt[2], 3, net->name, -1, SQLITE_STATIC);
		if (step_insert(st, stmt[2], "a VNI", d) < 0)
			goto out;
	}
	ret = 0;
out:
	for (guint i = 0; i < G_N_ELEMENTS(stmt); i++)
		sqlite3_finalize(stmt[i]);
	return ret;
}

int
store_reserve(store *st, const scenario *s, const char *spec, plan *p,
    uint32_t vni_min, uint32_t vni_max, diag *d)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GHashTable) vnis = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_autoptr(GHashTable) macs = str_set();
	g_autoptr(GHashTable) addrs = str_set();
	alloc_ctx ctx = { .vni_min = vni_min, .vni_max = vni_max,
	    .used_vnis = vnis, .used_macs = macs, .used_addrs = addrs };
	sqlite3_stmt *stmt;
	int rc;

	if (st == NULL || s == NULL || s->name == NULL || p == NULL) {
		diag_error(d, NULL, 0, "store: reserve called without a scenario or plan");
		return -1;
	}
	if (store_vni_range_check(vni_min, vni_max, &err) < 0) {
		diag_error(d, NULL, 0, "%s", err->message);
		return -1;
	}
	if (exec(st, "BEGIN IMMEDIATE", &err) < 0) {
		diag_error(d, NULL, 0, "%s", err->message);
		return -1;
	}
	if ((stmt = prepare(st, "SELECT state FROM scenario WHERE name = ?", &err)) == NULL) {
		diag_error(d, NULL, 0, "%s", err->message);
		goto fail;
	}
	sqlite3_bind_text(stmt, 1, s->name, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		diag_error(d, s->file, s->name_line, "scenario '%s' is already deployed (state %s)",
		    s->name, (const char *)sqlite3_column_text(stmt, 0));
		sqlite3_finalize(stmt);
		goto fail;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		diag_error(d, NULL, 0, "store %s: %s", st->path, sqlite3_errmsg(st->db));
		goto fail;
	}
	if (load_used(st, vnis, macs, addrs, &err) < 0) {
		diag_error(d, NULL, 0, "%s", err->message);
		goto fail;
	}
	if (alloc_plan(p, s, &ctx, d) < 0)
		goto fail;
	if (insert_plan(st, s, spec, p, d) < 0)
		goto fail;
	if (exec(st, "COMMIT", &err) < 0) {
		diag_error(d, NULL, 0, "%s", err->message);
		goto fail;
	}
	return 0;
fail:
	rollback(st);
	return -1;
}

int
store_vni_range_check(uint32_t vni_min, uint32_t vni_max, GError **err)
{
	if (!nube_vni_deploy_range_ok(vni_min, vni_max)) {
		g_set_error(err, STORE_ERROR, STORE_ERROR_INVALID, "VNI range %u..%u is not within "
		    "the deploy range %u..%u (VNIs %u..%u are the agents' for nets a migration "
		    "stretches)", vni_min, vni_max, NUBE_VNI_DEPLOY_MIN, NUBE_VNI_DEPLOY_MAX,
		    NUBE_VNI_STRETCH_MIN, NUBE_VNI_STRETCH_MAX);
		return -1;
	}
	return 0;
}

/* ---- updates ---- */

/* run_update: bind up to three texts, step, and require a changed row (else NOT_FOUND with
 * missing as message) */
static int
run_update(store *st, const char *sql, const char *a, const char *b, const char *c,
    const char *missing, GError **err)
{
	sqlite3_stmt *stmt = prepare(st, sql, err);
	int rc;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, a, -1, SQLITE_STATIC);
	if (b != NULL)
		sqlite3_bind_text(stmt, 2, b, -1, SQLITE_STATIC);
	if (c != NULL)
		sqlite3_bind_text(stmt, 3, c, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		set_db_error(st, err, "update");
		return -1;
	}
	if (sqlite3_changes(st->db) == 0) {
		g_set_error_literal(err, STORE_ERROR, STORE_ERROR_NOT_FOUND, missing);
		return -1;
	}
	return 0;
}

int
store_set_state(store *st, const char *scenario, const char *state, GError **err)
{
	static const char *const states[] = { "deploying", "deployed", "degraded", "failed",
	    "undeploying" };
	g_autofree char *missing = NULL;
	bool ok = false;

	for (guint i = 0; state != NULL && i < G_N_ELEMENTS(states); i++)
		ok = ok || strcmp(state, states[i]) == 0;
	if (st == NULL || scenario == NULL || !ok) {
		g_set_error(err, STORE_ERROR, STORE_ERROR_INVALID, "store: invalid state '%s'",
		    state != NULL ? state : "(null)");
		return -1;
	}
	missing = g_strdup_printf("no scenario '%s' in the store", scenario);
	return run_update(st, "UPDATE scenario SET state = ?2 WHERE name = ?1", scenario, state,
	    NULL, missing, err);
}

int
store_set_placement(store *st, const char *scenario, const char *vm, const char *host,
    GError **err)
{
	g_autofree char *missing = NULL;

	if (st == NULL || scenario == NULL || vm == NULL || host == NULL) {
		g_set_error_literal(err, STORE_ERROR, STORE_ERROR_INVALID,
		    "store: placement needs scenario, VM and host");
		return -1;
	}
	missing = g_strdup_printf("no VM '%s' of scenario '%s' in the store", vm, scenario);
	return run_update(st, "UPDATE placement SET host = ?3 WHERE scenario = ?1 AND vm = ?2",
	    scenario, vm, host, missing, err);
}

int
store_delete(store *st, const char *scenario, GError **err)
{
	g_autofree char *missing = NULL;

	if (st == NULL || scenario == NULL) {
		g_set_error_literal(err, STORE_ERROR, STORE_ERROR_INVALID, "store: no scenario name");
		return -1;
	}
	missing = g_strdup_printf("no scenario '%s' in the store", scenario);
	return run_update(st, "DELETE FROM scenario WHERE name = ?1", scenario, NULL, NULL,
	    missing, err);
}

int
store_set_net_vni(store *st, const char *scenario, const char *net, uint32_t vni, GError **err)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	if (st == NULL || scenario == NULL || net == NULL || vni > 0xffffffu) {
		g_set_error(err, STORE_ERROR, STORE_ERROR_INVALID,
		    "store: a net's VNI needs scenario, net and a VNI in 0..%u", 0xffffffu);
		return -1;
	}
	if (exec(st, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	if ((stmt = prepare(st, "SELECT 1 FROM scenario WHERE name = ?", err)) == NULL)
		goto fail;
	sqlite3_bind_text(stmt, 1, scenario, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		g_set_error(err, STORE_ERROR, STORE_ERROR_NOT_FOUND, "no scenario '%s' in the store",
		    scenario);
		goto fail;
	}
	if (rc != SQLITE_ROW) {
		set_db_error(st, err, "reading a scenario");
		goto fail;
	}
	g_clear_pointer(&stmt, sqlite3_finalize);
	if (vni != 0) {	/* a VNI is one net's only */
		if ((stmt = prepare(st, "SELECT scenario, net FROM alloc_vni WHERE vni = ? AND "
		    "NOT (scenario = ? AND net = ?)", err)) == NULL)
			goto fail;
		sqlite3_bind_int64(stmt, 1, vni);
		sqlite3_bind_text(stmt, 2, scenario, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, net, -1, SQLITE_STATIC);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			g_set_error(err, STORE_ERROR, STORE_ERROR_INVALID, "store: VNI %u of net '%s' "
			    "of scenario '%s' is net '%s' of scenario '%s' already", vni, net, scenario,
			    (const char *)sqlite3_column_text(stmt, 1),
			    (const char *)sqlite3_column_text(stmt, 0));
			goto fail;
		}
		if (rc != SQLITE_DONE) {
			set_db_error(st, err, "reading VNIs");
			goto fail;
		}
		g_clear_pointer(&stmt, sqlite3_finalize);
	}
	if ((stmt = prepare(st, "DELETE FROM alloc_vni WHERE scenario = ? AND net = ?", err)) == NULL)
		goto fail;
	sqlite3_bind_text(stmt, 1, scenario, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, net, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		set_db_error(st, err, "replacing a VNI");
		goto fail;
	}
	g_clear_pointer(&stmt, sqlite3_finalize);
	if (vni != 0) {
		if ((stmt = prepare(st, "INSERT INTO alloc_vni(vni, scenario, net) VALUES (?, ?, ?)",
		    err)) == NULL)
			goto fail;
		sqlite3_bind_int64(stmt, 1, vni);
		sqlite3_bind_text(stmt, 2, scenario, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, net, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			set_db_error(st, err, "recording a VNI");
			goto fail;
		}
		g_clear_pointer(&stmt, sqlite3_finalize);
	}
	return exec(st, "COMMIT", err) < 0 ? (rollback(st), -1) : 0;
fail:
	sqlite3_finalize(stmt);
	rollback(st);
	return -1;
}

/* ---- queries ---- */

GHashTable *
store_net_vnis(store *st, const char *scenario, GError **err)
{
	GHashTable *out;
	sqlite3_stmt *stmt;
	int rc;

	if (st == NULL || scenario == NULL)
		return NULL;
	stmt = prepare(st, "SELECT net, vni FROM alloc_vni WHERE scenario = ?", err);
	if (stmt == NULL)
		return NULL;
	sqlite3_bind_text(stmt, 1, scenario, -1, SQLITE_STATIC);
	out = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		g_hash_table_insert(out, g_strdup((const char *)sqlite3_column_text(stmt, 0)),
		    GUINT_TO_POINTER((guint)sqlite3_column_int64(stmt, 1)));
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		set_db_error(st, err, "reading VNIs");
		g_hash_table_unref(out);
		return NULL;
	}
	return out;
}

static char *
col_dup(sqlite3_stmt *stmt, int i)
{
	return g_strdup((const char *)sqlite3_column_text(stmt, i));
}

void
store_scenario_free(store_scenario *s)
{
	if (s == NULL)
		return;
	g_free(s->name);
	g_free(s->state);
	g_free(s->algorithm);
	g_free(s->spec);
	g_free(s->source);
	g_free(s);
}

static store_scenario *
scenario_row(sqlite3_stmt *stmt)
{
	store_scenario *s = g_new0(store_scenario, 1);

	s->name = col_dup(stmt, 0);
	s->state = col_dup(stmt, 1);
	s->algorithm = col_dup(stmt, 2);
	s->spec = col_dup(stmt, 3);
	s->created = sqlite3_column_int64(stmt, 4);
	s->source = col_dup(stmt, 5);
	return s;
}

store_scenario *
store_get(store *st, const char *name, GError **err)
{
	sqlite3_stmt *stmt;
	store_scenario *s = NULL;
	int rc;

	if (st == NULL || name == NULL)
		return NULL;
	stmt = prepare(st, "SELECT name, state, algorithm, spec, created, source FROM scenario WHERE name = ?",
	    err);
	if (stmt == NULL)
		return NULL;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		s = scenario_row(stmt);
	else if (rc != SQLITE_DONE)
		set_db_error(st, err, "reading a scenario");
	sqlite3_finalize(stmt);
	return s;
}

GPtrArray *
store_list(store *st, GError **err)
{
	GPtrArray *out;
	sqlite3_stmt *stmt;
	int rc;

	if (st == NULL)
		return NULL;
	stmt = prepare(st, "SELECT name, state, algorithm, spec, created, source FROM scenario ORDER BY name",
	    err);
	if (stmt == NULL)
		return NULL;
	out = g_ptr_array_new_with_free_func((GDestroyNotify)store_scenario_free);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		g_ptr_array_add(out, scenario_row(stmt));
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		set_db_error(st, err, "listing scenarios");
		g_ptr_array_unref(out);
		return NULL;
	}
	return out;
}

/* pair_map: the two text columns of sql's rows (bound to scenario) as a hash table, first
 * -> second; NULL + err (what names the read) */
static GHashTable *
pair_map(store *st, const char *sql, const char *scenario, const char *what, GError **err)
{
	GHashTable *out;
	sqlite3_stmt *stmt;
	int rc;

	if (st == NULL || scenario == NULL)
		return NULL;
	stmt = prepare(st, sql, err);
	if (stmt == NULL)
		return NULL;
	sqlite3_bind_text(stmt, 1, scenario, -1, SQLITE_STATIC);
	out = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		g_hash_table_insert(out, col_dup(stmt, 0), col_dup(stmt, 1));
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		set_db_error(st, err, what);
		g_hash_table_unref(out);
		return NULL;
	}
	return out;
}

GHashTable *
store_placements(store *st, const char *scenario, GError **err)
{
	return pair_map(st, "SELECT vm, host FROM placement WHERE scenario = ?", scenario,
	    "reading placements", err);
}

int
store_set_failed(store *st, const char *scenario, const char *vm, const char *why,
    GError **err)
{
	g_autofree char *missing = NULL;

	if (st == NULL || scenario == NULL || vm == NULL) {
		g_set_error_literal(err, STORE_ERROR, STORE_ERROR_INVALID,
		    "store: a failed VM needs scenario and VM");
		return -1;
	}
	missing = g_strdup_printf("no VM '%s' of scenario '%s' in the store", vm, scenario);
	return run_update(st, "UPDATE placement SET failed = ?3 WHERE scenario = ?1 AND vm = ?2",
	    scenario, vm, why, missing, err);
}

GHashTable *
store_failed(store *st, const char *scenario, GError **err)
{
	return pair_map(st, "SELECT vm, failed FROM placement WHERE scenario = ? AND failed IS NOT "
	    "NULL", scenario, "reading failed VMs", err);
}

int
store_set_deployment(store *st, const char *scenario, const char *deployment, GError **err)
{
	g_autofree char *missing = NULL;

	if (st == NULL || scenario == NULL || deployment == NULL) {
		g_set_error_literal(err, STORE_ERROR, STORE_ERROR_INVALID,
		    "store: a deployment needs scenario and text");
		return -1;
	}
	missing = g_strdup_printf("no scenario '%s' in the store", scenario);
	return run_update(st, "UPDATE scenario SET deployment = ?2 WHERE name = ?1", scenario,
	    deployment, NULL, missing, err);
}

char *
store_deployment(store *st, const char *scenario, GError **err)
{
	sqlite3_stmt *stmt;
	char *out = NULL;
	int rc;

	if (st == NULL || scenario == NULL)
		return NULL;
	stmt = prepare(st, "SELECT deployment FROM scenario WHERE name = ?", err);
	if (stmt == NULL)
		return NULL;
	sqlite3_bind_text(stmt, 1, scenario, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		out = col_dup(stmt, 0);
	else if (rc != SQLITE_DONE)
		set_db_error(st, err, "reading a deployment");
	sqlite3_finalize(stmt);
	return out;
}

/* event_insert: one row; seq 0 = none (NULL). With seq, a row of (host, seq) already there
 * is left alone: returns 0 then, 1 for a new row, -1 + err on failure. */
static int
event_insert(store *st, int64_t ts_ms, const char *host, int64_t seq, const char *type,
    const char *scenario, const char *vm, const char *msg, const char *data, GError **err)
{
	sqlite3_stmt *stmt;
	int rc;

	stmt = prepare(st, "INSERT INTO event(ts_ms, host, seq, type, scenario, vm, msg, data) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(host, seq) DO NOTHING", err);
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, ts_ms);
	sqlite3_bind_text(stmt, 2, host, -1, SQLITE_STATIC);
	if (seq > 0)
		sqlite3_bind_int64(stmt, 3, seq);
	sqlite3_bind_text(stmt, 4, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, scenario, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, vm, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 7, msg, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 8, data, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		set_db_error(st, err, "appending an event");
		return -1;
	}
	return sqlite3_changes(st->db) > 0 ? 1 : 0;
}

int
store_event(store *st, int64_t ts_ms, const char *host, const char *type,
    const char *scenario, const char *vm, const char *msg, GError **err)
{
	if (st == NULL)
		return -1;
	return event_insert(st, ts_ms, host, 0, type, scenario, vm, msg, NULL, err) < 0 ? -1 : 0;
}

/* opt_str: the string at key, NULL when absent or null; -1 when of another type */
static int
opt_str(const json_t *ev, const char *key, const char **out)
{
	const json_t *v = json_object_get(ev, key);

	*out = json_string_value(v);
	return v == NULL || json_is_null(v) || json_is_string(v) ? 0 : -1;
}

int
store_event_import(store *st, const json_t *ev, GError **err)
{
	const json_t *jts = json_object_get(ev, "ts"), *jseq = json_object_get(ev, "seq");
	const json_t *data = json_object_get(ev, "data");
	const char *host = json_string_value(json_object_get(ev, "host"));
	const char *type = json_string_value(json_object_get(ev, "type"));
	const char *scenario, *vm, *msg;
	g_autofree char *text = NULL;

	if (st == NULL)
		return -1;
	if (!json_is_object(ev) || host == NULL || host[0] == '\0' || type == NULL ||
	    !json_is_integer(jts) || !json_is_integer(jseq) || json_integer_value(jseq) < 1 ||
	    opt_str(ev, "scenario", &scenario) < 0 || opt_str(ev, "vm", &vm) < 0 ||
	    opt_str(ev, "msg", &msg) < 0 || (data != NULL && !json_is_null(data) &&
	    !json_is_object(data))) {
		g_set_error_literal(err, STORE_ERROR, STORE_ERROR_INVALID, "store: an imported event "
		    "needs \"host\", \"seq\" >= 1, \"ts\" and \"type\" (\"scenario\", \"vm\", "
		    "\"msg\" strings, \"data\" an object)");
		return -1;
	}
	if (json_is_object(data))
		text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
	return event_insert(st, json_integer_value(jts), host, json_integer_value(jseq), type,
	    scenario, vm, msg, text, err);
}

int64_t
store_host_last_seq(store *st, const char *host, GError **err)
{
	sqlite3_stmt *stmt;
	int64_t last = -1;

	if (st == NULL || host == NULL) {
		g_set_error_literal(err, STORE_ERROR, STORE_ERROR_INVALID, "store: no host name");
		return -1;
	}
	if ((stmt = prepare(st, "SELECT coalesce(max(seq), 0) FROM event WHERE host = ?", err))
	    == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, host, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		last = sqlite3_column_int64(stmt, 0);
	else
		set_db_error(st, err, "reading the last event of a host");
	sqlite3_finalize(stmt);
	return last;
}

void
store_event_row_free(store_event_row *e)
{
	if (e == NULL)
		return;
	g_free(e->host);
	g_free(e->type);
	g_free(e->scenario);
	g_free(e->vm);
	g_free(e->msg);
	g_free(e->data);
	g_free(e);
}

GPtrArray *
store_events(store *st, int64_t since_id, int limit, GError **err)
{
	GPtrArray *out;
	sqlite3_stmt *stmt;
	int rc;

	if (st == NULL)
		return NULL;
	/* the newest `limit` events after since_id, returned oldest first */
	stmt = prepare(st, "SELECT id, ts_ms, host, type, scenario, vm, msg, seq, data FROM ("
	    "SELECT * FROM event WHERE id > ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id", err);
	if (stmt == NULL)
		return NULL;
	sqlite3_bind_int64(stmt, 1, since_id);
	sqlite3_bind_int(stmt, 2, limit > 0 ? limit : -1);
	out = g_ptr_array_new_with_free_func((GDestroyNotify)store_event_row_free);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		store_event_row *e = g_new0(store_event_row, 1);

		e->id = sqlite3_column_int64(stmt, 0);
		e->ts_ms = sqlite3_column_int64(stmt, 1);
		e->host = col_dup(stmt, 2);
		e->type = col_dup(stmt, 3);
		e->scenario = col_dup(stmt, 4);
		e->vm = col_dup(stmt, 5);
		e->msg = col_dup(stmt, 6);
		e->seq = sqlite3_column_int64(stmt, 7);
		e->data = col_dup(stmt, 8);
		g_ptr_array_add(out, e);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		set_db_error(st, err, "reading events");
		g_ptr_array_unref(out);
		return NULL;
	}
	return out;
}
