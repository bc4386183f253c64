/* tests of the CLI's client module: config search and values, live host discovery from
 * retained messages and rpc calls, against a real mosquitto started on 127.0.0.1 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli/client.h"
#include "cli/import.h"
#include "plan/plan.h"
#include "scenario/scenario.h"
#include "wire/deployment.h"
#include "wire/names.h"
#include "wire/topic.h"
#include "store/store.h"

static char *tmpdir;
static int port;
static GPid broker;

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), p;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	p = ntohs(a.sin_port);
	close(fd);
	return p;
}

static char *
write_conf(const char *name, const char *text)
{
	char *path = g_build_filename(tmpdir, name, NULL);

	assert_true(g_file_set_contents(path, text, -1, NULL));
	return path;
}

static int
setup(void **state)
{
	g_autofree char *conf = NULL, *text = NULL;
	char *argv[] = { "mosquitto", "-c", NULL, NULL };

	(void)state;
	tmpdir = g_dir_make_tmp("nube-client-XXXXXX", NULL);
	assert_non_null(tmpdir);
	port = free_port();
	text = g_strdup_printf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n%s",
	    port, getuid() == 0 ? "user root\n" : "");
	conf = write_conf("mosquitto.conf", text);
	argv[2] = conf;
	assert_true(g_spawn_async(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
	    G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &broker, NULL));
	for (int i = 0; i < 200; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int rc = connect(fd, (struct sockaddr *)&a, sizeof a);

		close(fd);
		if (rc == 0)
			return 0;
		g_usleep(20000);
	}
	fail_msg("mosquitto did not start on port %d", port);
	return -1;
}

static int
teardown(void **state)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);

	(void)state;
	if (broker > 0) {
		kill(broker, SIGTERM);
		waitpid(broker, NULL, 0);
	}
	g_free(tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- config ---- */

static void
test_conf_values(void **state)
{
	g_autofree char *p = write_conf("a.conf", "[broker]\nurl = mqtt://10.0.0.1:1883\n"
	    "username = operator\npassword = secret\n[store]\npath = /x/y.db\n"
	    "[deploy]\nvni_min = 100\nvni_max = 200\ntimeout = 7\n");
	g_autoptr(GError) e = NULL;
	g_autoptr(client_conf) c = client_conf_load(p, &e);

	(void)state;
	assert_non_null(c);
	assert_string_equal(c->url, "mqtt://10.0.0.1:1883");
	assert_string_equal(c->username, "operator");
	assert_string_equal(c->password, "secret");
	assert_null(c->cafile);
	assert_string_equal(c->store_path, "/x/y.db");
	assert_int_equal(c->vni_min, 100);
	assert_int_equal(c->vni_max, 200);
	assert_int_equal(c->timeout_s, 7);
}

static void
test_conf_defaults_and_env(void **state)
{
	g_autofree char *p = write_conf("empty.conf", "# nothing\n");
	g_autoptr(GError) e = NULL;
	g_autoptr(client_conf) c = NULL;

	(void)state;
	g_setenv("NUBE_CONFIG", p, TRUE);
	c = client_conf_load(NULL, &e);	/* found through $NUBE_CONFIG */
	g_unsetenv("NUBE_CONFIG");
	assert_non_null(c);
	assert_string_equal(c->file, p);
	assert_string_equal(c->url, CLIENT_DEFAULT_URL);
	assert_string_equal(c->store_path, STORE_DEFAULT_PATH);
	assert_int_equal(c->vni_min, 10000);
	assert_int_equal(c->vni_max, NUBE_VNI_DEPLOY_MAX);	/* the agents' range stays free */
	assert_int_equal(c->timeout_s, CLIENT_DEFAULT_TIMEOUT_S);
}

static void
test_conf_errors(void **state)
{
	static const char *const bad[] = {
		"[deploy]\nvni_min = abc\n",
		"[deploy]\nvni_max = 16777216\n",
		"[deploy]\nvni_min = 300\nvni_max = 200\n",
		"[deploy]\ntimeout = 0\n",
		"not a key file\n",
	};
	static const char *const outside[] = {
		"[deploy]\nvni_max = 15728640\n",	/* NUBE_VNI_STRETCH_MIN */
		"[deploy]\nvni_min = 16000000\nvni_max = 16000100\n",
	};
	g_autofree char *missing = g_build_filename(tmpdir, "missing.conf", NULL);
	g_autoptr(GError) e = NULL;

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *n = g_strdup_printf("bad%zu.conf", i);
		g_autofree char *p = write_conf(n, bad[i]);
		g_autoptr(GError) e2 = NULL;

		assert_null(client_conf_load(p, &e2));
		assert_non_null(e2);
		assert_non_null(strstr(e2->message, p));	/* the message names the file */
	}
	/* ranges reaching into the agents' stretch range: refused, saying why */
	for (size_t i = 0; i < G_N_ELEMENTS(outside); i++) {
		g_autofree char *n = g_strdup_printf("outside%zu.conf", i);
		g_autofree char *p = write_conf(n, outside[i]);
		g_autoptr(GError) e2 = NULL;

		assert_null(client_conf_load(p, &e2));
		assert_non_null(e2);
		assert_non_null(strstr(e2->message, p));
		assert_non_null(strstr(e2->message, "not within the deploy range 1..15728639"));
	}
	assert_null(client_conf_load(missing, &e));
	assert_non_null(e);
}

/* ---- discovery and rpc against the broker ---- */

static client_conf *
test_conf(void)
{
	client_conf *c = g_new0(client_conf, 1);

	c->url = g_strdup_printf("mqtt://127.0.0.1:%d", port);
	c->timeout_s = 5;
	return c;
}

static bus *
raw_bus(const char *id)
{
	g_autofree char *url = g_strdup_printf("mqtt://127.0.0.1:%d", port);
	bus_opts o = { .url = url, .client_id = (char *)id, .keepalive_s = 5 };
	bus *b = bus_new(&o, NULL, NULL);

	assert_non_null(b);
	assert_int_equal(bus_wait_connected(b, 3000, NULL), 0);
	return b;
}

static void
retain(bus *b, const char *host, const char *leaf, const char *payload)
{
	g_autofree char *t = topic_host(host, leaf);

	assert_int_equal(bus_publish(b, t, payload, (int)strlen(payload), 1, true, NULL), 0);
}

static bool
never(void *ud)
{
	(void)ud;
	return false;
}

static void
test_discover(void **state)
{
	g_autoptr(client_conf) conf = test_conf();
	g_autoptr(client) c = NULL;
	g_autoptr(GError) e = NULL;
	g_autoptr(GPtrArray) live = NULL, all = NULL;
	bus *pub = raw_bus("test-pub");
	int64_t now = g_get_real_time() / 1000;
	g_autofree char *fresh = g_strdup_printf("{\"host\": \"ha\", \"ts\": %" G_GINT64_FORMAT
	    ", \"cpus\": 4, \"load\": 0.25, \"mem_total_mib\": 8192, \"mem_used_mib\": 1024, "
	    "\"vms\": [{\"domain\": \"s.a\"}, {\"domain\": \"s.b\"}], "
	    "\"mem_promised_mib\": 6144, \"mem_reserve_mib\": 512, "
	    "\"fabric_addr\": \"10.9.0.11\", \"interval\": 10}", now);
	/* older than 3 intervals plus the grace (host_state_fresh): not live */
	g_autofree char *stale = g_strdup_printf("{\"host\": \"hb\", \"ts\": %" G_GINT64_FORMAT
	    ", \"cpus\": 2, \"interval\": 10}", now - 40000);
	g_autofree char *off = g_strdup_printf("{\"host\": \"hc\", \"ts\": %" G_GINT64_FORMAT
	    ", \"cpus\": 2}", now);
	/* 31 s old at a 10 s interval: within the agents' rule (3 intervals + grace), so live;
	 * the CLI's own rule (3 intervals, no grace) called it stale */
	g_autofree char *late = g_strdup_printf("{\"host\": \"he\", \"ts\": %" G_GINT64_FORMAT
	    ", \"cpus\": 2, \"interval\": 10}", now - 31000);
	/* a state naming another host than its topic, and one with a wrong type: ignored */
	g_autofree char *other = g_strdup_printf("{\"host\": \"ha\", \"ts\": %" G_GINT64_FORMAT
	    ", \"cpus\": 2}", now);
	g_autofree char *badtype = g_strdup_printf("{\"host\": \"hg\", \"ts\": %"
	    G_GINT64_FORMAT ", \"cpus\": \"2\"}", now);
	client_host *a;
	const host_state *st;
	gint64 t0;

	(void)state;
	retain(pub, "ha", "online", "1");
	retain(pub, "ha", "state", fresh);
	retain(pub, "hb", "online", "1");
	retain(pub, "hb", "state", stale);
	retain(pub, "hc", "online", "0");	/* last will */
	retain(pub, "hc", "state", off);
	retain(pub, "hd", "online", "1");
	retain(pub, "hd", "state", "not json");
	retain(pub, "he", "online", "1");
	retain(pub, "he", "state", late);
	retain(pub, "hf", "online", "1");
	retain(pub, "hf", "state", other);
	retain(pub, "hg", "online", "1");
	retain(pub, "hg", "state", badtype);
	client_wait(never, NULL, 300);	/* let the publishes out */
	bus_free(pub);

	c = client_connect(conf, &e);
	assert_non_null(c);
	t0 = g_get_monotonic_time();
	assert_int_equal(client_discover(c, &e), 0);
	assert_true(g_get_monotonic_time() - t0 < 3500 * 1000);	/* bounded */
	/* it ended on the broker's marker, after every retained message (all 7 hosts below) */
	assert_true(c->marked);
	all = client_hosts_sorted(c, false);
	live = client_hosts_sorted(c, true);
	assert_int_equal(all->len, 7);
	assert_string_equal(((client_host *)all->pdata[0])->name, "ha");
	assert_string_equal(((client_host *)all->pdata[3])->name, "hd");
	assert_int_equal(live->len, 2);
	a = live->pdata[0];
	assert_string_equal(a->name, "ha");
	assert_string_equal(((client_host *)live->pdata[1])->name, "he");
	st = a->state;
	assert_true(a->online && st != NULL);
	assert_true(st->cpus == 4.0);
	assert_true(st->load > 0.249 && st->load < 0.251);
	assert_int_equal(st->mem_total_mib, 8192);
	assert_int_equal(st->mem_used_mib, 1024);
	assert_int_equal(st->mem_promised_mib, 6144);
	assert_int_equal(st->mem_reserve_mib, 512);
	assert_int_equal(client_host_get(c, "hb")->state->mem_promised_mib, 0);
	assert_int_equal(st->vms->len, 2);
	assert_string_equal(st->fabric_addr, "10.9.0.11");
	assert_true(client_host_get(c, "hb")->online && !client_host_live(client_host_get(c, "hb")));
	assert_false(client_host_get(c, "hc")->online);
	assert_null(client_host_get(c, "hd")->state);
	assert_null(client_host_get(c, "hf")->state);
	assert_null(client_host_get(c, "hg")->state);
	assert_null(client_host_get(c, "nope"));
}

/* a VM's addresses from an agent's status entry: the structured "ifaces" (a net name with a
 * space stays whole), and an older agent's "IFID NET ADDR/LEN" strings */
static void
test_vm_addrs(void **state)
{
	json_auto_t *now = json_loads("{\"addrs\": [\"1 my net 10.0.0.1/24\"], \"ifaces\": ["
	    "{\"if\": 1, \"net\": \"my net\", \"addr\": \"10.0.0.1/24\"}, "
	    "{\"if\": 2, \"net\": \"b\", \"addr\": \"fd00::1/64\"}, "
	    "{\"if\": null, \"net\": \"c\", \"addr\": \"10.2.0.1/24\"}, "
	    "{\"if\": 3, \"net\": \"d\"}]}", 0, NULL);
	json_auto_t *old = json_loads("{\"addrs\": [\"1 my net 10.0.0.1/24\", \"2 b fd00::1/64\", "
	    "\"10.9.9.9/8\", 7]}", 0, NULL);
	json_auto_t *none = json_object();
	json_t *addrs, *ifaces;

	(void)state;
	client_vm_addrs(now, &addrs, &ifaces);
	assert_int_equal(json_array_size(addrs), 3);
	assert_string_equal(json_string_value(json_array_get(addrs, 0)), "10.0.0.1/24");
	assert_string_equal(json_string_value(json_array_get(addrs, 2)), "10.2.0.1/24");
	assert_int_equal(json_array_size(ifaces), 2);
	assert_string_equal(client_jstr(json_array_get(ifaces, 0), "net"), "my net");
	assert_string_equal(client_jstr(json_array_get(ifaces, 0), "addr"), "10.0.0.1/24");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(ifaces, 1), "if")), 2);
	json_decref(addrs);
	json_decref(ifaces);

	client_vm_addrs(old, &addrs, &ifaces);
	assert_int_equal(json_array_size(addrs), 3);
	assert_string_equal(json_string_value(json_array_get(addrs, 0)), "10.0.0.1/24");
	assert_string_equal(json_string_value(json_array_get(addrs, 2)), "10.9.9.9/8");
	assert_int_equal(json_array_size(ifaces), 2);
	assert_string_equal(client_jstr(json_array_get(ifaces, 0), "net"), "my net");
	assert_string_equal(client_jstr(json_array_get(ifaces, 1), "addr"), "fd00::1/64");
	json_decref(addrs);
	json_decref(ifaces);

	client_vm_addrs(none, &addrs, &ifaces);
	assert_int_equal(json_array_size(addrs), 0);
	assert_int_equal(json_array_size(ifaces), 0);
	json_decref(addrs);
	json_decref(ifaces);
}

/* a fake agent: answers rpc/operator requests with one progress message and then ok, or an
 * error when the request says {"fail": true} */
static void
fake_agent(bus *b, const bus_msg *m, void *ud)
{
	json_auto_t *req = json_loads(m->payload, 0, NULL);
	json_auto_t *prog = json_pack("{s:s}", "progress", "vm 'x' started");
	json_auto_t *ok = json_is_true(json_object_get(req, "fail")) ?
	    json_pack("{s:b, s:s}", "ok", 0, "error", "vm 'x': define: boom") :
	    json_pack("{s:b, s:i}", "ok", 1, "domains", 2);

	(void)ud;
	assert_int_equal(bus_reply(b, m, prog, false, NULL), 0);
	assert_int_equal(bus_reply(b, m, ok, true, NULL), 0);
}

static int nprogress;

static void
on_progress(client_call *call, const char *text, void *ud)
{
	(void)ud;
	assert_string_equal(call->host, "ha");
	assert_string_equal(text, "vm 'x' started");
	nprogress++;
}

static void
test_calls(void **state)
{
	g_autoptr(client_conf) conf = test_conf();
	g_autoptr(client) c = NULL;
	bus *agent = raw_bus("test-agent");
	client_call *good, *bad, *silent, *gone;
	int pending = 0;

	(void)state;
	assert_int_equal(bus_subscribe(agent, PROTO_TOPIC_ROOT "host/ha/rpc/operator", fake_agent,
	    NULL, NULL), 0);
	client_wait(never, NULL, 200);
	c = client_connect(conf, NULL);
	assert_non_null(c);
	good = client_call_start(c, "ha", json_pack("{s:s}", "op", "undeploy"), 3000, &pending,
	    on_progress, NULL, NULL);
	bad = client_call_start(c, "ha", json_pack("{s:s, s:b}", "op", "deploy", "fail", 1), 3000,
	    &pending, on_progress, NULL, NULL);
	silent = client_call_start(c, "nobody", json_pack("{s:s}", "op", "status"), 500, &pending,
	    NULL, NULL, NULL);
	gone = client_call_start(c, "nobody", json_pack("{s:s}", "op", "status"), 60000, &pending,
	    NULL, NULL, NULL);
	assert_int_equal(pending, 4);
	client_call_abandon(gone, "went offline");
	assert_int_equal(pending, 3);
	assert_true(client_wait_calls(&pending, NULL, 10000));
	assert_int_equal(pending, 0);
	assert_int_equal(nprogress, 2);
	assert_true(good->done && good->ok);
	assert_string_equal(good->op, "undeploy");
	assert_int_equal(json_integer_value(json_object_get(good->reply, "domains")), 2);
	assert_true(bad->done && !bad->ok);
	assert_string_equal(bad->error, "vm 'x': define: boom");
	assert_true(silent->done && !silent->ok);
	assert_non_null(silent->error);
	assert_true(gone->done && !gone->ok);
	assert_string_equal(gone->error, "went offline");
	client_free(g_steal_pointer(&c));
	bus_free(agent);
}

/* ---- the agents' journals into the store (import.c) ---- */

/* a fake agent's journal: answers "events" {"since", "limit"} with its events after since,
 * at most two a page, with "last" and "more" as journal_reply does */
typedef struct {
	json_t *events;		/* oldest first, each with "seq" */
	int requests;
} fake_journal;

static void
journal_agent(bus *b, const bus_msg *m, void *ud)
{
	fake_journal *fj = ud;
	json_auto_t *req = json_loads(m->payload, 0, NULL);
	json_int_t since = json_integer_value(json_object_get(req, "since"));
	json_int_t limit = json_integer_value(json_object_get(req, "limit"));
	json_t *page = json_array(), *ev;
	json_int_t last = 0;
	bool more = false;
	size_t i;

	assert_string_equal(json_string_value(json_object_get(req, "op")), "events");
	assert_true(limit >= 1);
	fj->requests++;
	json_array_foreach(fj->events, i, ev) {
		json_int_t seq = json_integer_value(json_object_get(ev, "seq"));

		last = seq;
		if (seq <= since)
			continue;
		if (json_array_size(page) == 2 || (json_int_t)json_array_size(page) == limit)
			more = true;
		else
			json_array_append(page, ev);
	}
	json_auto_t *reply = json_pack("{s:b, s:o, s:I, s:b}", "ok", 1, "events", page, "last",
	    last, "more", more);
	assert_int_equal(bus_reply(b, m, reply, true, NULL), 0);
}

static json_t *
event(const char *host, int seq, int64_t ts, const char *type, const char *vm, json_t *data)
{
	return json_pack("{s:s, s:i, s:I, s:s, s:s?, s:s?, s:s, s:o}", "host", host, "seq", seq,
	    "ts", (json_int_t)ts, "type", type, "scenario", vm != NULL ? "s" : NULL, "vm", vm,
	    "msg", type, "data", data != NULL ? data : json_object());
}

/* import_journals: every live host's journal since the store's last seq of that host, page
 * by page, oldest first by time, each event once; a host speaking for another is refused; an
 * imported migrated event moves its VM's placement (once: not when it comes again) */
static void
test_import_journals(void **state)
{
	static const char xml[] =
	    "<vnx><global><version>2.0</version><scenario_name>s</scenario_name><automac/>"
	    "<vm_mgmt type=\"none\"/></global><net name=\"n\" mode=\"virtual_bridge\"/>"
	    "<vm name=\"a\" type=\"libvirt\" subtype=\"kvm\" os=\"linux\"><mem>64M</mem>"
	    "<if id=\"1\" net=\"n\"><ipv4>10.0.0.1/24</ipv4></if></vm>"
	    "<vm name=\"b\" type=\"libvirt\" subtype=\"kvm\" os=\"linux\"><mem>64M</mem>"
	    "<if id=\"1\" net=\"n\"><ipv4>10.0.0.2/24</ipv4></if></vm></vnx>";
	plan_host ph[] = {
		{ .name = "h1", .cpus = 2, .mem_mib = 4096, .online = true },
		{ .name = "h2", .cpus = 2, .mem_mib = 4096, .online = true },
	};
	static const char *const gone[] = { "ha", "hb", "hc", "hd", "he", "hf", "hg" };
	g_autoptr(client_conf) conf = test_conf();
	g_autoptr(client) c = NULL;
	g_autoptr(GError) e = NULL;
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = scenario_parse_memory(xml, strlen(xml), "s.xml", d);
	g_autoptr(plan) p = NULL;
	g_autofree char *dbpath = g_build_filename(tmpdir, "import.db", NULL);
	g_autoptr(GHashTable) placed = NULL;
	fake_journal ja = { .events = json_array() }, jb = { .events = json_array() };
	int64_t now = g_get_real_time() / 1000;
	bus *pub = raw_bus("test-journals");
	json_t *got;
	store *st;

	(void)state;
	/* the hosts of the discovery test leave; ja and jb are live, jc offline */
	for (size_t i = 0; i < G_N_ELEMENTS(gone); i++) {
		retain(pub, gone[i], "online", "");
		retain(pub, gone[i], "state", "");
	}
	for (int k = 0; k < 3; k++) {
		const char *h = (const char *[]){ "ja", "jb", "jc" }[k];
		g_autofree char *st_json = g_strdup_printf("{\"host\": \"%s\", \"ts\": %"
		    G_GINT64_FORMAT ", \"interval\": 10}", h, now);

		retain(pub, h, "online", k < 2 ? "1" : "0");
		retain(pub, h, "state", st_json);
	}
	json_array_append_new(ja.events, event("ja", 1, 1000, "deploy", NULL, NULL));
	json_array_append_new(ja.events, event("ja", 2, 3000, "migrated", "s.a",
	    json_pack("{s:s, s:s, s:i, s:i}", "src", "h1", "dst", "h2", "duration_ms", 900,
	    "downtime_ms", 20)));
	json_array_append_new(ja.events, event("ja", 3, 5000, "refuse", "s.b", NULL));
	json_array_append_new(jb.events, event("jb", 1, 2000, "admit", "s.a", NULL));
	json_array_append_new(jb.events, event("ja", 2, 4000, "penalty", NULL, NULL));	/* forged */
	assert_int_equal(bus_subscribe(pub, PROTO_TOPIC_ROOT "host/ja/rpc/operator", journal_agent,
	    &ja, NULL), 0);
	assert_int_equal(bus_subscribe(pub, PROTO_TOPIC_ROOT "host/jb/rpc/operator", journal_agent,
	    &jb, NULL), 0);
	client_wait(never, NULL, 300);

	assert_non_null(s);
	assert_true(scenario_validate(s, d));
	p = plan_partition(s, NULL, ph, 2, PLAN_ROUND_ROBIN, d);
	assert_non_null(p);
	st = store_open(dbpath, &e);
	assert_non_null(st);
	assert_int_equal(store_reserve(st, s, xml, p, 10000, 20000, d), 0);
	placed = store_placements(st, "s", NULL);
	assert_string_equal(g_hash_table_lookup(placed, "a"), "h1");
	g_clear_pointer(&placed, g_hash_table_unref);

	c = client_connect(conf, &e);
	assert_non_null(c);
	assert_int_equal(client_discover(c, &e), 0);
	got = import_journals(c, st, &e);
	assert_non_null(got);
	/* ja's three (two pages) and jb's first, by time; jb's forged one (and what would
	 * follow it in that answer) refused */
	assert_int_equal(json_array_size(got), 4);
	assert_int_equal(ja.requests, 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(got, 1), "ts")), 2000);
	assert_string_equal(client_jstr(json_array_get(got, 2), "type"), "migrated");
	assert_int_equal(store_host_last_seq(st, "ja", NULL), 3);
	assert_int_equal(store_host_last_seq(st, "jb", NULL), 1);	/* not the forged 2 */
	json_decref(got);
	placed = store_placements(st, "s", NULL);
	assert_string_equal(g_hash_table_lookup(placed, "a"), "h2");
	g_clear_pointer(&placed, g_hash_table_unref);

	/* again: nothing new from ja; a placement set since stays (the event was imported) */
	assert_int_equal(store_set_placement(st, "s", "a", "h1", NULL), 0);
	json_array_remove(jb.events, 1);
	json_array_append_new(ja.events, event("ja", 4, 6000, "plan", NULL, NULL));
	got = import_journals(c, st, &e);
	assert_non_null(got);
	assert_int_equal(json_array_size(got), 1);	/* ja's 4 */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(got, 0), "seq")), 4);
	json_decref(got);
	got = import_journals(c, st, &e);
	assert_int_equal(json_array_size(got), 0);
	json_decref(got);
	placed = store_placements(st, "s", NULL);
	assert_string_equal(g_hash_table_lookup(placed, "a"), "h1");
	g_clear_pointer(&placed, g_hash_table_unref);

	/* a drain's reply: only what moved */
	json_auto_t *moves = json_loads("[{\"vm\": \"s.b\", \"scenario\": \"s\", \"dst\": \"h1\","
	    " \"status\": \"moved\"}, {\"vm\": \"s.a\", \"dst\": \"h2\", \"status\": \"refused\"}]",
	    0, NULL);
	import_moves(st, moves);
	placed = store_placements(st, "s", NULL);
	assert_string_equal(g_hash_table_lookup(placed, "b"), "h1");
	assert_string_equal(g_hash_table_lookup(placed, "a"), "h1");
	g_clear_pointer(&placed, g_hash_table_unref);

	store_close(st);
	client_free(g_steal_pointer(&c));
	bus_free(pub);
	json_decref(ja.events);
	json_decref(jb.events);
}

static void
test_unreachable(void **state)
{
	g_autoptr(client_conf) conf = g_new0(client_conf, 1);
	g_autoptr(GError) e = NULL;

	(void)state;
	conf->url = g_strdup_printf("mqtt://127.0.0.1:%d", free_port());	/* nobody listens */
	assert_null(client_connect(conf, &e));
	assert_non_null(e);
	assert_true(g_str_has_prefix(e->message, "cannot reach broker mqtt://127.0.0.1:"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_values),
		cmocka_unit_test(test_conf_defaults_and_env),
		cmocka_unit_test(test_conf_errors),
		cmocka_unit_test(test_discover),
		cmocka_unit_test(test_calls),
		cmocka_unit_test(test_vm_addrs),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_import_journals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
