/* cmd_live: the commands that talk to the agents through the broker: hosts, deploy, exec,
 * undeploy, status */
#include <getopt.h>
#include <glib-unix.h>
#include <signal.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"
#include "cli/session.h"
#include "plan/alloc.h"
#include "plan/plan.h"
#include "wire/deployment.h"
#include "wire/topic.h"
#include "scenario/scenario.h"
#include "store/store.h"

#define UNDEPLOY_TIMEOUT_MS	60000
#define STATUS_TIMEOUT_MS	5000

/* ---- shared plumbing ---- */

static int64_t
now_ms(void)
{
	return g_get_real_time() / 1000;
}

/* parse_timeout: a --timeout value: whole seconds 1..86400 into *out; 0, or -1 when
 * malformed (*out untouched) */
static int
parse_timeout(const char *arg, int *out)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (end == arg || *end != '\0' || v < 1 || v > 86400)
		return -1;
	*out = (int)v;
	return 0;
}

static json_t *
op_request(const char *op)
{
	return json_pack("{s:s}", "op", op);
}

/* request_fits: whether request j fits one message (PROTO_MAX_MESSAGE); says why not, as
 * "<what>: request of N MiB exceeds the limit of M MiB" */
static bool
request_fits(const char *what, const json_t *j)
{
	g_autofree char *s = json_dumps(j, JSON_COMPACT);
	size_t len = s != NULL ? strlen(s) : 0;

	if (len <= PROTO_MAX_MESSAGE)
		return true;
	out_err("%s: request of %.1f MiB exceeds the limit of %d MiB", what,
	    (double)len / 1048576.0, PROTO_MAX_MESSAGE >> 20);
	return false;
}

/* ---- what runs where now: "status" rpc to every live host ---- */

typedef struct {
	char *scenario;
	char *vm;
	char *host;		/* NULL in a status row of a VM no host runs */
	char *state;
	json_t *addrs;		/* array of "addr/len" strings (owned) */
	json_t *ifaces;		/* array of {"if", "net", "addr"} (owned) */
	bool stored;		/* status rows: the store knows the VM */
	char *sc_state;		/* status rows: the store's state of its scenario, or NULL */
} vm_where;

static void
vm_where_free(vm_where *w)
{
	if (w == NULL)
		return;
	g_free(w->scenario);
	g_free(w->vm);
	g_free(w->host);
	g_free(w->state);
	g_free(w->sc_state);
	json_decref(w->addrs);
	json_decref(w->ifaces);
	g_free(w);
}

typedef struct {
	GPtrArray *where;	/* of vm_where* */
	GPtrArray *failed;	/* of char* "host: reason" */
} status_ctx;

static void
status_done(client_call *call, void *ud)
{
	status_ctx *sc = ud;
	json_t *vms, *o;
	size_t i;

	if (!call->ok) {
		g_ptr_array_add(sc->failed, g_strdup_printf("host '%s': %s", call->host,
		    call->error));
		return;
	}
	vms = json_object_get(call->reply, "vms");
	json_array_foreach(vms, i, o) {
		const char *s = client_jstr(o, "scenario"), *vm = client_jstr(o, "vm");
		vm_where *w;

		if (vm == NULL)
			vm = client_jstr(o, "name");
		if (s == NULL || vm == NULL)
			continue;	/* not one of nube's domains */
		w = g_new0(vm_where, 1);
		w->scenario = g_strdup(s);
		w->vm = g_strdup(vm);
		w->host = g_strdup(call->host);
		w->state = g_strdup(client_jstr(o, "state") != NULL ? client_jstr(o, "state") :
		    "unknown");
		client_vm_addrs(o, &w->addrs, &w->ifaces);
		g_ptr_array_add(sc->where, w);
	}
}

/* where_now: ask every live host what it runs. Returns vm_where* (owned by the array);
 * hosts that did not answer go to *failed (may be NULL). */
static GPtrArray *
where_now(session *l, GPtrArray **failed)
{
	status_ctx sc = {
		.where = g_ptr_array_new_with_free_func((GDestroyNotify)vm_where_free),
		.failed = g_ptr_array_new_with_free_func(g_free),
	};

	/* status_done collects the answers; the calls themselves are not needed */
	g_ptr_array_unref(client_call_live(l->c, op_request("status"), STATUS_TIMEOUT_MS,
	    status_done, &sc));
	if (failed != NULL)
		*failed = sc.failed;
	else
		g_ptr_array_unref(sc.failed);
	return sc.where;
}

static vm_where *
where_find(GPtrArray *where, const char *scenario, const char *vm)
{
	for (guint i = 0; i < where->len; i++) {
		vm_where *w = where->pdata[i];

		if (strcmp(w->scenario, scenario) == 0 && strcmp(w->vm, vm) == 0)
			return w;
	}
	return NULL;
}

/* ---- hosts ---- */

static const char hosts_help[] =
"usage: nube hosts [--json] [--config FILE]\n"
"\n"
"List the hosts known to the broker (their retained online and state messages): CPUs,\n"
"load, memory, VMs and fabric address. A host is online when its agent is connected\n"
"and its last state is recent (within 3 telemetry intervals).\n"
"\n"
"  -j, --json          machine-readable output (a stable interface)\n"
"      --config FILE   client config (default $NUBE_CONFIG, " CLIENT_CONF_SYSTEM ",\n"
"                      " CLIENT_CONF_LAB ")\n"
"  -h, --help          this help\n"
"\n"
"Exit status: 0 listed, 3 broker unreachable.\n";

int
cmd_hosts(int argc, char **argv)
{
	enum { OPT_CONFIG = 256 };
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const heads[] = { "host", "online", "cpus", "load", "mem", "vms",
	    "fabric" };
	const char *config = NULL;
	bool json = false;
	session l = { 0 };
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = true;
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case 'h':
			fputs(hosts_help, stdout);
			return CLI_OK;
		default:
			return out_usage("hosts", NULL);
		}
	}
	if (optind != argc)
		return out_usage("hosts", "no arguments expected");
	if ((rc = session_open_conf(&l, config)) >= 0 || (rc = session_open_bus(&l)) >= 0) {
		session_clear(&l);
		return rc;
	}

	g_autoptr(GPtrArray) hosts = client_hosts_sorted(l.c, false);
	if (json) {
		json_auto_t *root = json_object();
		json_t *arr = json_array();

		for (guint i = 0; i < hosts->len; i++) {
			client_host *h = hosts->pdata[i];

			json_t *cpus = h->cpus == (double)(json_int_t)h->cpus ?
			    json_integer((json_int_t)h->cpus) : json_real(h->cpus);

			json_array_append_new(arr, json_pack("{s:s, s:b, s:o, s:f, s:I, s:I, s:I, s:I,"
			    " s:i, s:o}",
			    "host", h->name, "online", client_host_live(h), "cpus", cpus,
			    "load", h->load, "mem_total_mib", (json_int_t)h->mem_total_mib,
			    "mem_used_mib", (json_int_t)h->mem_used_mib,
			    "mem_promised_mib", (json_int_t)h->mem_promised_mib,
			    "mem_reserve_mib", (json_int_t)h->mem_reserve_mib, "vms", h->nvms,
			    "fabric_addr", out_json_str(h->fabric_addr)));
		}
		json_object_set_new(root, "hosts", arr);
		rc = out_json_print(root, stdout) < 0 ? CLI_FAIL : CLI_OK;
	} else {
		g_autoptr(out_table) t = out_table_new(7, heads);

		for (int col = 2; col <= 5; col++)
			out_table_right(t, col);
		for (guint i = 0; i < hosts->len; i++) {
			client_host *h = hosts->pdata[i];
			g_autofree char *cpus = g_strdup_printf("%g", h->cpus);
			g_autofree char *load = g_strdup_printf("%.2f", h->load);
			g_autofree char *mem = g_strdup_printf("%" PRIu64 "/%" PRIu64,
			    h->mem_used_mib, h->mem_total_mib);
			g_autofree char *vms = g_strdup_printf("%d", h->nvms);
			const char *on = client_host_live(h) ? "yes" : h->online ? "stale" : "no";

			if (!h->has_state)
				out_table_addv(t, h->name, on, NULL, NULL, NULL, NULL, NULL);
			else
				out_table_addv(t, h->name, on, cpus, load, mem, vms, h->fabric_addr);
		}
		out_table_print(t, stdout);
		if (hosts->len == 0)
			fprintf(stderr, "nube: no host has announced itself on %s\n", l.conf->url);
		rc = CLI_OK;
	}
	session_clear(&l);
	return rc;
}

/* ---- deploy ---- */

static const char deploy_help[] =
"usage: nube deploy SCENARIO [--algorithm A] [--restrictions FILE] [--timeout S] [--json]\n"
"                   [--config FILE]\n"
"\n"
"Validate a VNX 2.0 scenario, split it over the live hosts, record the allocations\n"
"(VNIs, MACs, addresses) in the store and send every host its part in parallel. Each\n"
"host's progress (with its agent's warnings) is printed on stderr as it arrives. A\n"
"host's free memory is its capacity less the larger of its used memory and the memory\n"
"promised to its VMs plus its reserve. When any host fails, stops answering or goes\n"
"offline, or nube is interrupted (SIGINT, SIGTERM), the whole deployment is rolled back\n"
"on every host and forgotten by the store; when a host cannot be rolled back, or the\n"
"broker is lost, the store keeps it as \"failed\" with its allocations until 'nube\n"
"undeploy --force'. On success the placement and the warnings are printed.\n"
"\n"
"  -a, --algorithm A         round-robin, weighted-round-robin, least-loaded or graph\n"
"                            (default " CLI_DEFAULT_ALGORITHM ")\n"
"  -r, --restrictions FILE   deployment restrictions (EDIV format)\n"
"  -t, --timeout S           give up on guests whose agent is not up within S seconds\n"
"                            and on a host silent for longer (default [deploy] timeout\n"
"                            of the config, else 120)\n"
"  -j, --json                print the placement as JSON (as 'nube plan --json')\n"
"      --config FILE         client config\n"
"  -h, --help                this help\n"
"\n"
"Exit status: 0 deployed, 1 invalid input, no placement or deployment failed (rolled\n"
"back), 2 bad command line, 3 broker unreachable or no live host.\n";

typedef struct {
	GHashTable *targets;	/* host name -> client_call* (deploy) */
	bool failed;
	char *why;		/* first failure: "host 'h': ...", or the broker's loss */
	bool quiet;
	const char *url;	/* the broker's, borrowed from the config */
	bool broker_lost;	/* the connection to the broker dropped during the deploy */
	GHashTable *gone;	/* hosts whose offline message is waiting for its verdict */
	guint gone_timer;	/* the wait for that verdict, 0 when none */
	json_t *warnings;	/* [{"host", "warning"}] from the agents' replies */
} deploy_run;

/* how long an agent's offline message waits before it is blamed: a broker shutting down
 * publishes every agent's last will just before it closes the connection */
#define OFFLINE_VERDICT_MS	1500

static void
deploy_fail(deploy_run *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
deploy_fail(deploy_run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->failed)
		return;
	r->failed = true;
	va_start(ap, fmt);
	r->why = g_strdup_vprintf(fmt, ap);
	va_end(ap);
}

static void
deploy_progress(client_call *call, const char *text, void *ud)
{
	deploy_run *r = ud;

	(void)r;
	fprintf(stderr, "%s: %s\n", call->host, text);
}

static void
deploy_done(client_call *call, void *ud)
{
	deploy_run *r = ud;
	json_t *w = json_object_get(call->reply, "warnings"), *v;
	size_t i, nw = 0;

	json_array_foreach(w, i, v) {
		if (!json_is_string(v))
			continue;
		json_array_append_new(r->warnings, json_pack("{s:s, s:O}", "host", call->host,
		    "warning", v));
		nw++;
	}
	if (call->ok)
		fprintf(stderr, nw ? "%s: done (%zu warning%s)\n" : "%s: done\n", call->host, nw,
		    nw == 1 ? "" : "s");
	else
		deploy_fail(r, "host '%s': %s", call->host, call->error);
}

/* offline_verdict: the broker is still there, so the hosts that went offline lost their
 * agent (its last will fired): end their calls */
static gboolean
offline_verdict(gpointer ud)
{
	deploy_run *r = ud;
	GHashTableIter it;
	gpointer k;

	r->gone_timer = 0;
	if (r->broker_lost)
		return G_SOURCE_REMOVE;
	g_hash_table_iter_init(&it, r->gone);
	while (g_hash_table_iter_next(&it, &k, NULL)) {
		client_call *call = g_hash_table_lookup(r->targets, k);

		if (call != NULL && !call->done)
			client_call_abandon(call, "its agent went offline during the deployment "
			    "(its last will fired)");
	}
	g_hash_table_remove_all(r->gone);
	return G_SOURCE_REMOVE;
}

static void
deploy_online(const char *host, bool online, void *ud)
{
	deploy_run *r = ud;
	client_call *call = g_hash_table_lookup(r->targets, host);

	if (online) {
		g_hash_table_remove(r->gone, host);
		return;
	}
	if (call == NULL || call->done)
		return;
	g_hash_table_add(r->gone, g_strdup(host));
	if (r->gone_timer == 0)
		r->gone_timer = g_timeout_add(OFFLINE_VERDICT_MS, offline_verdict, r);
}

/* deploy_bus: the connection to the broker dropped: that, not the hosts, is what failed */
static void
deploy_bus(bus *b, bool connected, void *ud)
{
	deploy_run *r = ud;

	(void)b;
	if (connected || r->targets == NULL || r->broker_lost)
		return;
	r->broker_lost = true;
	g_free(r->why);
	r->why = g_strdup_printf("lost the broker at %s: the connection closed during the "
	    "deployment", r->url);
	r->failed = true;
}

/* on_signal: SIGINT/SIGTERM during a deploy roll it back instead of leaving parts behind */
static gboolean
on_signal(gpointer ud)
{
	deploy_run *r = ud;

	if (r->failed)
		fprintf(stderr, "nube: rolling back, please wait\n");
	deploy_fail(r, "interrupted");
	return G_SOURCE_CONTINUE;
}

static const char *
host_fabric(const char *host, void *ud)
{
	client_host *h = client_host_get(ud, host);

	return h != NULL ? h->fabric_addr : NULL;
}

/* check_restriction_hosts: every host a restriction names must be live */
static void
check_restriction_hosts(const restrictions *r, client *c, diag *d)
{
	GPtrArray *lists[] = { r->vm_at, r->net_at };

	for (size_t k = 0; k < G_N_ELEMENTS(lists); k++) {
		for (guint i = 0; lists[k] != NULL && i < lists[k]->len; i++) {
			const rs_at *at = lists[k]->pdata[i];

			if (!client_host_live(client_host_get(c, at->host)))
				diag_error(d, r->file, at->line, "host '%s' is not a live host",
				    at->host);
		}
	}
}

/* rollback: undeploy on every given host that is still online, wait for the answers.
 * Appends to left (g_free'd strings) every host not confirmed clean. */
static void
rollback(session *l, const char *scenario, GPtrArray *hosts, int timeout_ms, GPtrArray *left)
{
	int pending = 0;
	GPtrArray *calls = g_ptr_array_new();

	for (guint i = 0; i < hosts->len; i++) {
		const char *h = hosts->pdata[i];
		client_host *ch = client_host_get(l->c, h);

		if (ch == NULL || !ch->online) {
			fprintf(stderr, "%s: offline, cannot roll back there now\n", h);
			g_ptr_array_add(left, g_strdup(h));
			continue;
		}
		g_ptr_array_add(calls, client_call_start(l->c, h,
		    json_pack("{s:s, s:s}", "op", "undeploy", "scenario", scenario), timeout_ms,
		    &pending, NULL, NULL, NULL));
	}
	client_wait_calls(&pending, NULL, -1);
	for (guint i = 0; i < calls->len; i++) {
		client_call *call = calls->pdata[i];

		if (call->ok) {
			fprintf(stderr, "%s: rolled back\n", call->host);
		} else {
			fprintf(stderr, "%s: roll back failed: %s\n", call->host, call->error);
			g_ptr_array_add(left, g_strdup(call->host));
		}
	}
	g_ptr_array_unref(calls);
}

int
cmd_deploy(int argc, char **argv)
{
	enum { OPT_CONFIG = 256 };
	static const struct option opts[] = {
		{ "algorithm", required_argument, NULL, 'a' },
		{ "restrictions", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *rpath = NULL, *aname = CLI_DEFAULT_ALGORITHM;
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = NULL;
	g_autoptr(restrictions) r = NULL;
	g_autoptr(plan) p = NULL;
	g_autoptr(proto_deployment) dep = NULL;
	g_autoptr(GPtrArray) live_hosts = NULL;
	g_autoptr(GPtrArray) used = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) left = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) e = NULL;
	g_autofree char *spec = NULL;
	g_autofree plan_host *ph = NULL;
	deploy_run run = { 0 };
	guint sig_int = 0, sig_term = 0;
	plan_algorithm algo;
	bool json = false, reserved = false;
	int timeout_s = 0, ch, rc = CLI_FAIL;
	gsize speclen = 0;
	int64_t t0 = now_ms();
	session l = { 0 };

	while ((ch = getopt_long(argc, argv, "a:r:t:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			aname = optarg;
			break;
		case 'r':
			rpath = optarg;
			break;
		case 't':
			if (parse_timeout(optarg, &timeout_s) < 0)
				return out_usage("deploy", "--timeout wants seconds (1..86400)");
			break;
		case 'j':
			json = true;
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case 'h':
			fputs(deploy_help, stdout);
			return CLI_OK;
		default:
			return out_usage("deploy", NULL);
		}
	}
	if (optind != argc - 1)
		return out_usage("deploy", optind >= argc ? "a scenario file is required"
		    : "only one scenario file");
	if (plan_algorithm_from_name(aname, &algo) < 0) {
		g_autofree char *m = g_strdup_printf("unknown algorithm '%s'", aname);

		return out_usage("deploy", m);
	}

	/* 1. parse and validate: nothing is contacted or stored when anything is wrong */
	if (!g_file_get_contents(argv[optind], &spec, &speclen, &e)) {
		out_err("%s", e->message);
		return CLI_FAIL;
	}
	s = scenario_parse_memory(spec, speclen, argv[optind], d);
	if (s == NULL && !diag_has_errors(d))
		diag_error(d, argv[optind], 0, "cannot read the scenario");
	if (s != NULL)
		scenario_validate(s, d);
	if (rpath != NULL) {
		r = restrictions_parse_file(rpath, d);
		if (r == NULL && !diag_has_errors(d))
			diag_error(d, rpath, 0, "cannot read the restrictions");
		if (r != NULL && s != NULL)
			restrictions_validate(r, s, NULL, d);
	}
	if (s == NULL || diag_has_errors(d)) {
		diag_print(d, stderr);
		return CLI_FAIL;
	}

	/* 2. live hosts */
	if ((rc = session_open_conf(&l, config)) >= 0 || (rc = session_open_bus(&l)) >= 0)
		goto out;
	if (timeout_s == 0)
		timeout_s = l.conf->timeout_s;
	rc = CLI_FAIL;
	if (r != NULL) {
		check_restriction_hosts(r, l.c, d);
		if (diag_has_errors(d))
			goto out;
	}
	live_hosts = client_hosts_sorted(l.c, true);
	if (live_hosts->len == 0) {
		out_err("no live host on %s (see 'nube hosts')", l.conf->url);
		rc = CLI_UNAVAILABLE;
		goto out;
	}
	ph = g_new0(plan_host, live_hosts->len);
	for (guint i = 0; i < live_hosts->len; i++) {
		client_host *h = live_hosts->pdata[i];

		ph[i] = (plan_host){
			.name = h->name, .cpus = h->cpus, .mem_mib = h->mem_total_mib,
			.mem_used_mib = h->mem_used_mib, .mem_promised_mib = h->mem_promised_mib,
			.mem_reserve_mib = h->mem_reserve_mib, .load = h->load, .vms = h->nvms,
			.online = true,
		};
	}
	if ((p = plan_partition(s, r, ph, (int)live_hosts->len, algo, d)) == NULL)
		goto out;

	/* 3. allocations, recorded atomically (refused when the name is taken) */
	if ((rc = session_open_store(&l)) >= 0)
		goto out;
	rc = CLI_FAIL;
	if (store_reserve(l.st, s, spec, p, l.conf->vni_min, l.conf->vni_max, d) < 0)
		goto out;
	reserved = true;

	/* 4. every host with VMs gets the deployment in parallel; it picks its own part */
	dep = proto_deployment_from_plan(s, p, spec, host_fabric, l.c);
	run.targets = g_hash_table_new(g_str_hash, g_str_equal);
	run.gone = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	run.warnings = json_array();
	run.url = l.conf->url;
	bus_on_connect(l.c->bus, deploy_bus, &run);
	for (int h = 0; h < p->nhosts; h++) {
		bool has = false;

		for (int i = 0; i < p->nvms && !has; i++)
			has = p->vm_host[i] == h;
		if (has)
			g_ptr_array_add(used, g_strdup(p->hosts[h].name));
	}
	{
		json_t *dj = proto_deployment_to_json(dep);
		int pending = 0;
		json_auto_t *probe = json_pack("{s:s, s:s, s:O, s:i}", "op", "deploy", "scenario",
		    s->name, "deployment", dj, "guest_timeout_s", timeout_s);

		if (!request_fits("deploy", probe)) {	/* before any host hears of it */
			json_decref(dj);
			goto out;
		}
		l.c->on_online = deploy_online;
		l.c->on_online_ud = &run;
		sig_int = g_unix_signal_add(SIGINT, on_signal, &run);
		sig_term = g_unix_signal_add(SIGTERM, on_signal, &run);
		fprintf(stderr, "deploying '%s' on %u host%s\n", s->name, used->len,
		    used->len == 1 ? "" : "s");
		for (guint i = 0; i < used->len; i++) {
			const char *h = used->pdata[i];
			client_call *call = client_call_start(l.c, h,
			    json_pack("{s:s, s:s, s:O, s:i}", "op", "deploy", "scenario", s->name,
			    "deployment", dj, "guest_timeout_s", timeout_s), (timeout_s + 15) * 1000, &pending, deploy_progress,
			    deploy_done, &run);

			g_hash_table_insert(run.targets, (gpointer)h, call);
		}
		json_decref(dj);
		/* a failure stops the wait at once; the hosts still working are then waited
		 * for (bounded by their own timeouts) so the roll back does not race them */
		client_wait_calls(&pending, &run.failed, -1);
		if (run.failed) {
			out_err("deploy failed: %s", run.why);
			if (!run.broker_lost)
				fprintf(stderr, "rolling back on %u host%s\n", used->len,
				    used->len == 1 ? "" : "s");
			client_wait_calls(&pending, NULL, -1);
		}
		l.c->on_online = NULL;
		if (run.gone_timer != 0)
			g_source_remove(run.gone_timer);
		run.gone_timer = 0;
	}
	if (run.failed) {
		if (run.broker_lost) {
			out_err("cannot roll back: the broker at %s is unreachable", l.conf->url);
			for (guint i = 0; i < used->len; i++)
				g_ptr_array_add(left, g_strdup(used->pdata[i]));
		} else {
			rollback(&l, s->name, used, UNDEPLOY_TIMEOUT_MS, left);
		}
		goto out;
	}
	g_source_remove(sig_int);
	g_source_remove(sig_term);
	sig_int = sig_term = 0;

	/* 5. done */
	if (store_set_state(l.st, s->name, "deployed", &e) < 0) {
		out_err("store: %s", e->message);
		goto out;
	}
	{
		size_t nw = json_array_size(run.warnings), i;
		g_autofree char *msg = g_strdup_printf("%u VMs on %u hosts, algorithm %s, %.1f s"
		    "%s%.0zu%s", s->vms->len, used->len, plan_algorithm_name(algo),
		    (double)(now_ms() - t0) / 1000.0, nw ? ", " : "", nw,
		    nw == 0 ? "" : nw == 1 ? " warning" : " warnings");
		json_t *w;

		store_event(l.st, now_ms(), NULL, "deploy", s->name, NULL, msg, NULL);
		fprintf(stderr, "deployed '%s': %s\n", s->name, msg);
		json_array_foreach(run.warnings, i, w)
			out_err("warning: host '%s': %s", client_jstr(w, "host"),
			    client_jstr(w, "warning"));
	}
	reserved = false;
	if (json) {
		json_auto_t *j = out_plan_json(s, p);

		json_object_set(j, "warnings", run.warnings);
		rc = out_json_print(j, stdout) < 0 ? CLI_FAIL : CLI_OK;
	} else {
		out_plan_print(s, p, stdout);
		rc = CLI_OK;
	}
out:
	if (sig_int != 0)
		g_source_remove(sig_int);
	if (sig_term != 0)
		g_source_remove(sig_term);
	diag_print(d, stderr);
	if (reserved && left->len > 0) {
		/* some host may still run part of it (the roll back did not reach it, or the
		 * broker went away while the agents deploy on): keep the allocations, never
		 * hand its VNIs and MACs out again, until an undeploy finds the hosts clean */
		g_autoptr(GString) hl = g_string_new(NULL);
		g_autofree char *msg = NULL;

		for (guint i = 0; i < left->len; i++)
			g_string_append_printf(hl, "%s'%s'", i ? ", " : "", (char *)left->pdata[i]);
		msg = g_strdup_printf("%s; not rolled back on %s: allocations kept", run.why != NULL ?
		    run.why : "deploy failed", hl->str);
		store_set_state(l.st, s->name, "failed", NULL);
		store_event(l.st, now_ms(), NULL, "deploy-failed", s->name, NULL, msg, NULL);
		out_err("'%s' stays in the store as 'failed' with its allocations: host%s %s may "
		    "still run parts of it", s->name, left->len == 1 ? "" : "s", hl->str);
		out_err("when %s, run 'nube undeploy --force %s' to clean the hosts and free them",
		    run.broker_lost ? "the broker is back" : left->len == 1 ? "that host is back" :
		    "those hosts are back", s->name);
	} else if (reserved) {
		g_autoptr(GError) e2 = NULL;

		if (store_delete(l.st, s->name, &e2) < 0)
			out_err("store: cannot forget '%s': %s", s->name, e2->message);
		else if (run.failed)
			store_event(l.st, now_ms(), NULL, "deploy-failed", s->name, NULL, run.why,
			    NULL);
	}
	if (run.gone_timer != 0)
		g_source_remove(run.gone_timer);
	session_clear(&l);
	if (run.targets != NULL)
		g_hash_table_unref(run.targets);
	if (run.gone != NULL)
		g_hash_table_unref(run.gone);
	json_decref(run.warnings);
	g_free(run.why);
	return rc;
}

/* ---- exec ---- */

static const char exec_help[] =
"usage: nube exec SCENARIO SEQ [--vm VM] [--json] [--config FILE]\n"
"       nube exec SCENARIO --cmd COMMAND [--vm VM] [--json] [--config FILE]\n"
"\n"
"Run the command sequence SEQ (an <exec seq> or a <cmd-seq>, expanded in order) in the\n"
"VMs of a deployed scenario that have commands for it, wherever they run now, through\n"
"their guest agent. VMs run in parallel, each VM's commands in order. Every VM's\n"
"output and exit status are printed. --cmd runs one ad-hoc shell command instead, in\n"
"VM or, without --vm, in every VM of the scenario.\n"
"\n"
"  -v, --vm VM         only this VM\n"
"  -c, --cmd COMMAND   run COMMAND (with /bin/sh -c) instead of a sequence\n"
"  -t, --timeout S     per-command timeout (default the config's [deploy] timeout)\n"
"  -j, --json          machine-readable output\n"
"      --config FILE   client config\n"
"  -h, --help          this help\n"
"\n"
"Exit status: 0 every command ran and exited 0; 1 a VM could not be reached or a\n"
"command failed; 2 bad command line; 3 broker unreachable.\n";


typedef struct exec_run exec_run;

/* one VM's part of an exec: its sequences run one after the other */
typedef struct {
	exec_run *x;
	const char *vm;
	const char *host;	/* where it runs now, NULL if not found */
	GPtrArray *seqs;	/* of const char* (borrowed), in order; empty with --cmd */
	guint next;		/* next seq to send */
	json_t *results;	/* [{seq, exit, stdout, stderr} or {seq, error}] */
	bool failed;
} vm_exec;

struct exec_run {
	session *l;
	const char *scenario;
	const char *cmd;	/* ad-hoc command or NULL */
	const char *spec;	/* the stored spec: the VM's host may not know it (migrated) */
	int timeout_s;		/* per command, in the guest */
	int pending;		/* VMs not finished */
};

static void vm_exec_step(vm_exec *v);

static void
vm_exec_free(vm_exec *v)
{
	if (v == NULL)
		return;
	g_ptr_array_unref(v->seqs);
	json_decref(v->results);
	g_free(v);
}

static void
exec_done(client_call *call, void *ud)
{
	vm_exec *v = ud;
	const char *seq = v->x->cmd != NULL ? NULL : v->seqs->pdata[v->next - 1];
	json_t *res, *o;
	size_t i;

	if (!call->ok) {
		json_array_append_new(v->results, json_pack("{s:o, s:s}", "seq",
		    out_json_str(seq), "error", call->error));
		v->failed = true;
		v->x->pending--;
		return;
	}
	res = json_object_get(call->reply, "results");
	if (json_array_size(res) == 0) {
		json_array_append_new(v->results, json_pack("{s:o, s:s}", "seq",
		    out_json_str(seq), "error", "the agent returned no result"));
		v->failed = true;
	}
	json_array_foreach(res, i, o) {
		json_t *ex = json_object_get(o, "exit");
		json_t *r;

		if (json_is_string(json_object_get(o, "error"))) {
			r = json_pack("{s:o, s:O}", "seq", out_json_str(seq), "error",
			    json_object_get(o, "error"));
			v->failed = true;
		} else {
			r = json_pack("{s:o, s:I, s:s, s:s}", "seq", out_json_str(seq),
			    "exit", json_is_integer(ex) ? json_integer_value(ex) : (json_int_t)-1,
			    "stdout", client_jstr(o, "stdout") != NULL ? client_jstr(o, "stdout") : "",
			    "stderr", client_jstr(o, "stderr") != NULL ? client_jstr(o, "stderr") : "");
			if (!json_is_integer(ex) || json_integer_value(ex) != 0)
				v->failed = true;
		}
		json_array_append_new(v->results, r);
	}
	vm_exec_step(v);
}

/* vm_exec_step: send the VM's next command, or mark the VM finished */
static void
vm_exec_step(vm_exec *v)
{
	exec_run *x = v->x;
	json_t *req;

	if (x->cmd != NULL ? v->next > 0 : v->next >= v->seqs->len) {
		x->pending--;
		return;
	}
	req = json_pack("{s:s, s:s, s:s}", "op", "exec", "scenario", x->scenario, "vm", v->vm);
	if (x->cmd != NULL) {
		json_object_set_new(req, "cmd", json_string(x->cmd));
	} else {
		json_object_set_new(req, "seq", json_string(v->seqs->pdata[v->next]));
		json_object_set_new(req, "spec", json_string(x->spec));
	}
	json_object_set_new(req, "timeout_s", json_integer(x->timeout_s));
	v->next++;
	/* the agent answers once the command ended: allow its timeout plus a margin */
	client_call_start(x->l->c, v->host, req, (x->timeout_s + 15) * 1000, NULL, NULL,
	    exec_done, v);
}

static void
print_block(const char *text)
{
	size_t n;

	if (text == NULL || *text == '\0')
		return;
	n = strlen(text);
	fputs(text, stdout);
	if (text[n - 1] != '\n')
		fputc('\n', stdout);
}

/* load_stored: the stored scenario name parsed again from its spec; NULL + message */
static scenario *
load_stored(session *l, const char *name, store_scenario **out)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(diag) d = diag_new();
	store_scenario *ss = store_get(l->st, name, &e);
	scenario *s;

	if (ss == NULL) {
		if (e != NULL)
			out_err("store: %s", e->message);
		else
			out_err("scenario '%s' is not deployed (see 'nube status')", name);
		return NULL;
	}
	s = scenario_parse_memory(ss->spec, strlen(ss->spec), name, d);
	if (s == NULL || diag_has_errors(d)) {
		diag_print(d, stderr);
		out_err("the stored spec of '%s' does not parse", name);
		scenario_free(s);
		store_scenario_free(ss);
		return NULL;
	}
	if (out != NULL)
		*out = ss;
	else
		store_scenario_free(ss);
	return s;
}

int
cmd_exec(int argc, char **argv)
{
	enum { OPT_CONFIG = 256 };
	static const struct option opts[] = {
		{ "vm", required_argument, NULL, 'v' },
		{ "cmd", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *only = NULL, *cmd = NULL, *name, *seq = NULL;
	g_autoptr(scenario) s = NULL;
	g_autoptr(GPtrArray) seqs = g_ptr_array_new();
	g_autoptr(GPtrArray) vms = g_ptr_array_new_with_free_func((GDestroyNotify)vm_exec_free);
	g_autoptr(GPtrArray) where = NULL;
	g_autoptr(GPtrArray) unanswered = NULL;
	exec_run x = { 0 };
	store_scenario *ss = NULL;
	bool json = false, failed = false;
	int timeout_s = 0, ch, rc;
	session l = { 0 };

	while ((ch = getopt_long(argc, argv, "v:c:t:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'v':
			only = optarg;
			break;
		case 'c':
			cmd = optarg;
			break;
		case 't':
			if (parse_timeout(optarg, &timeout_s) < 0)
				return out_usage("exec", "--timeout wants seconds (1..86400)");
			break;
		case 'j':
			json = true;
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case 'h':
			fputs(exec_help, stdout);
			return CLI_OK;
		default:
			return out_usage("exec", NULL);
		}
	}
	if (cmd != NULL ? optind != argc - 1 : optind != argc - 2)
		return out_usage("exec", cmd != NULL ? "SCENARIO expected (with --cmd, no SEQ)"
		    : "SCENARIO and SEQ expected");
	name = argv[optind];
	if (cmd == NULL)
		seq = argv[optind + 1];
	if ((rc = out_check_name("exec", "scenario", name, false)) != 0 ||
	    (only != NULL && (rc = out_check_name("exec", "vm", only, false)) != 0))
		return rc;

	if ((rc = session_open_conf(&l, config)) >= 0)
		goto out;
	if ((rc = session_open_store(&l)) >= 0)
		goto out;
	rc = CLI_FAIL;
	if ((s = load_stored(&l, name, &ss)) == NULL)
		goto out;
	if (only != NULL && scenario_vm(s, only) == NULL) {
		out_err("scenario '%s' has no VM '%s'", name, only);
		goto out;
	}
	if (seq != NULL && scenario_expand_seq(s, seq, seqs) < 0) {
		out_err("sequence '%s' of '%s' is cyclic", seq, name);
		goto out;
	}

	/* the VMs concerned, in file order, each with its own sequences */
	x = (exec_run){ .l = &l, .scenario = name, .cmd = cmd, .spec = ss->spec };
	for (guint i = 0; i < s->vms->len; i++) {
		const sc_vm *vm = s->vms->pdata[i];
		vm_exec *v;

		if (only != NULL && strcmp(vm->name, only) != 0)
			continue;
		v = g_new0(vm_exec, 1);
		v->x = &x;
		v->vm = vm->name;
		v->seqs = g_ptr_array_new();
		v->results = json_array();
		for (guint k = 0; k < seqs->len; k++) {
			for (guint m = 0; m < vm->execs->len; m++) {
				const sc_exec *ex = vm->execs->pdata[m];

				if (strcmp(ex->seq, seqs->pdata[k]) == 0) {
					g_ptr_array_add(v->seqs, seqs->pdata[k]);
					break;
				}
			}
		}
		if (cmd == NULL && v->seqs->len == 0)
			vm_exec_free(v);
		else
			g_ptr_array_add(vms, v);
	}
	if (vms->len == 0) {
		out_err("no VM of '%s'%s%s%s has commands for sequence '%s'", name,
		    only ? " (--vm " : "", only ? only : "", only ? ")" : "", seq);
		goto out;
	}

	/* where they run now, then every VM in parallel */
	if ((rc = session_open_bus(&l)) >= 0)
		goto out;
	rc = CLI_FAIL;
	x.timeout_s = timeout_s > 0 ? timeout_s : l.conf->timeout_s;
	where = where_now(&l, &unanswered);
	for (guint i = 0; i < unanswered->len; i++)
		out_err("warning: %s", (char *)unanswered->pdata[i]);
	for (guint i = 0; i < vms->len; i++) {
		vm_exec *v = vms->pdata[i];
		vm_where *w = where_find(where, name, v->vm);

		if (w == NULL) {
			json_array_append_new(v->results, json_pack("{s:o, s:s}", "seq",
			    out_json_str(seq), "error", "not running on any live host"));
			v->failed = true;
			continue;
		}
		v->host = w->host;
		x.pending++;
		vm_exec_step(v);
	}
	client_wait_calls(&x.pending, NULL, -1);

	if (json) {
		json_auto_t *root = json_object();
		json_t *arr = json_array();

		for (guint i = 0; i < vms->len; i++) {
			vm_exec *v = vms->pdata[i];
			json_t *o;
			size_t k;

			json_array_foreach(v->results, k, o) {
				json_t *r = json_pack("{s:s, s:o}", "vm", v->vm, "host",
				    out_json_str(v->host));

				json_object_update(r, o);
				if (cmd != NULL)
					json_object_set_new(r, "cmd", json_string(cmd));
				json_array_append_new(arr, r);
			}
			failed = failed || v->failed;
		}
		json_object_set_new(root, "scenario", json_string(name));
		json_object_set_new(root, "results", arr);
		out_json_print(root, stdout);
	} else {
		for (guint i = 0; i < vms->len; i++) {
			vm_exec *v = vms->pdata[i];
			json_t *o;
			size_t k;

			json_array_foreach(v->results, k, o) {
				const char *sq = client_jstr(o, "seq");
				g_autofree char *what = cmd != NULL ? g_strdup("cmd") :
				    g_strdup_printf("seq %s", sq != NULL ? sq : seq);
				g_autofree char *where_s = v->host != NULL ?
				    g_strdup_printf(" (%s)", v->host) : g_strdup("");

				if (client_jstr(o, "error") != NULL) {
					printf("== %s%s %s: error: %s\n", v->vm, where_s, what,
					    client_jstr(o, "error"));
					continue;
				}
				printf("== %s%s %s: exit %" JSON_INTEGER_FORMAT "\n", v->vm,
				    where_s, what, json_integer_value(json_object_get(o, "exit")));
				print_block(client_jstr(o, "stdout"));
				print_block(client_jstr(o, "stderr"));
			}
			failed = failed || v->failed;
		}
	}
	fflush(stdout);
	rc = failed ? CLI_FAIL : CLI_OK;
out:
	session_clear(&l);
	store_scenario_free(ss);
	return rc;
}

/* ---- undeploy ---- */

static const char undeploy_help[] =
"usage: nube undeploy SCENARIO [--force] [--timeout S] [--config FILE]\n"
"\n"
"Destroy a scenario's VMs and networks on every live host (not only where it was\n"
"deployed: VMs may have migrated since) and free its allocations in the store.\n"
"\n"
"When a host that ran part of the scenario is offline, the live hosts are cleaned but\n"
"the store keeps the scenario (state \"failed\") so its VNIs, MACs and addresses are not\n"
"handed out again while that host may still use them; run undeploy again when the host\n"
"is back, or use --force to forget the allocations anyway. --force also cleans the\n"
"hosts of a scenario the store does not know (e.g. after a failed roll back) and\n"
"undeploys one still in state \"deploying\" (refused otherwise: a deploy may be running).\n"
"\n"
"  -f, --force         forget the allocations even if a host could not be cleaned\n"
"  -t, --timeout S     give up on a host silent for S seconds (default 60)\n"
"      --config FILE   client config\n"
"  -h, --help          this help\n"
"\n"
"Exit status: 0 undeployed everywhere, 1 not deployed or some host not cleaned,\n"
"2 bad command line, 3 broker unreachable.\n";

/* counts_text: "vms 2, nets 3" from the integer fields of an agent's reply */
static char *
counts_text(const json_t *reply)
{
	GString *g = g_string_new(NULL);
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)reply, k, v)
		if (json_is_integer(v))
			g_string_append_printf(g, "%s%s %" JSON_INTEGER_FORMAT, g->len ? ", " : "",
			    k, json_integer_value(v));
		else if (json_is_array(v))
			g_string_append_printf(g, "%s%s %zu", g->len ? ", " : "", k,
			    json_array_size(v));
	return g_string_free(g, FALSE);
}

int
cmd_undeploy(int argc, char **argv)
{
	enum { OPT_CONFIG = 256 };
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *name;
	g_autoptr(GError) e = NULL;
	g_autoptr(GPtrArray) calls = NULL;
	g_autoptr(GHashTable) placed = NULL;
	g_autoptr(GPtrArray) offline = g_ptr_array_new_with_free_func(g_free);
	store_scenario *ss = NULL;
	bool force = false, failed = false;
	int timeout_s = UNDEPLOY_TIMEOUT_MS / 1000, ch, rc;
	session l = { 0 };

	while ((ch = getopt_long(argc, argv, "ft:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			force = true;
			break;
		case 't':
			if (parse_timeout(optarg, &timeout_s) < 0)
				return out_usage("undeploy", "--timeout wants seconds (1..86400)");
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case 'h':
			fputs(undeploy_help, stdout);
			return CLI_OK;
		default:
			return out_usage("undeploy", NULL);
		}
	}
	if (optind != argc - 1)
		return out_usage("undeploy", "one SCENARIO name expected");
	name = argv[optind];
	if ((rc = out_check_name("undeploy", "scenario", name, false)) != 0)
		return rc;

	if ((rc = session_open_conf(&l, config)) >= 0 || (rc = session_open_store(&l)) >= 0)
		goto out;
	rc = CLI_FAIL;
	if ((ss = store_get(l.st, name, &e)) == NULL) {
		if (e != NULL) {
			out_err("store: %s", e->message);
			goto out;
		}
		if (!force) {
			out_err("scenario '%s' is not deployed (--force cleans the hosts anyway)",
			    name);
			goto out;
		}
	}
	if (ss != NULL && strcmp(ss->state, "deploying") == 0 && !force) {
		/* another nube may be deploying it right now: undeploying under it would leave
		 * what it starts next behind; a deploy that was killed needs --force */
		out_err("scenario '%s' is being deployed (state 'deploying'); wait for it, or use "
		    "--force if that nube is gone", name);
		goto out;
	}
	if ((rc = session_open_bus(&l)) >= 0)
		goto out;
	rc = CLI_FAIL;

	/* hosts the store placed VMs on that are not live now */
	if (ss != NULL) {
		GHashTableIter it;
		gpointer hv;
		g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

		if ((placed = store_placements(l.st, name, &e)) == NULL) {
			out_err("store: %s", e->message);
			goto out;
		}
		g_hash_table_iter_init(&it, placed);
		while (g_hash_table_iter_next(&it, NULL, &hv))
			if (!client_host_live(client_host_get(l.c, hv)) &&
			    g_hash_table_add(seen, hv))
				g_ptr_array_add(offline, g_strdup(hv));
		store_set_state(l.st, name, "undeploying", NULL);
	}

	calls = client_call_live(l.c, json_pack("{s:s, s:s}", "op", "undeploy", "scenario", name),
	    timeout_s * 1000, NULL, NULL);
	for (guint i = 0; i < calls->len; i++) {
		client_call *call = calls->pdata[i];

		if (call->ok) {
			g_autofree char *counts = counts_text(call->reply);

			printf("%s: undeployed%s%s%s\n", call->host, *counts ? " (" : "", counts,
			    *counts ? ")" : "");
		} else {
			printf("%s: failed: %s\n", call->host, call->error);
			failed = true;
		}
	}
	for (guint i = 0; i < offline->len; i++)
		out_err("warning: host '%s' ran part of '%s' and is offline: not cleaned",
		    (char *)offline->pdata[i], name);

	if (ss == NULL) {
		rc = failed ? CLI_FAIL : CLI_OK;
		goto out;
	}
	if ((failed || offline->len > 0) && !force) {
		g_autofree char *msg = g_strdup_printf("%s; allocations kept",
		    failed ? "some host failed to undeploy" : "some host is offline");

		store_set_state(l.st, name, "failed", NULL);
		store_event(l.st, now_ms(), NULL, "undeploy-failed", name, NULL, msg, NULL);
		out_err("undeploy of '%s' incomplete: %s (state 'failed'; run undeploy again, or "
		    "--force)", name, msg);
		goto out;
	}
	if (store_delete(l.st, name, &e) < 0) {
		out_err("store: %s", e->message);
		goto out;
	}
	store_event(l.st, now_ms(), NULL, "undeploy", name, NULL,
	    failed || offline->len > 0 ? "forced: some host was not cleaned" : NULL, NULL);
	printf("undeployed '%s'\n", name);
	rc = failed ? CLI_FAIL : CLI_OK;
out:
	store_scenario_free(ss);
	session_clear(&l);
	return rc;
}

/* ---- status ---- */

static const char status_help[] =
"usage: nube status [SCENARIO] [--json] [--config FILE]\n"
"\n"
"Show where every VM of the deployed scenarios (or of SCENARIO) runs now, as the hosts\n"
"report it, joined with the store (column \"stored\": the scenario's state there, e.g.\n"
"deploying, deployed, failed): a VM the store knows but no host runs is \"missing\"\n"
"(\"unknown\" when the host it was placed on did not answer); a VM a host runs that\n"
"the store does not know is listed as well.\n"
"\n"
"  -j, --json          machine-readable output (a stable interface)\n"
"      --config FILE   client config\n"
"  -h, --help          this help\n"
"\n"
"Exit status: 0 shown, 1 SCENARIO unknown, 2 bad command line, 3 broker unreachable.\n";

/* row_from_where: a status row: a copy of w (free with vm_where_free); sc_state is the
 * store's state of its scenario (NULL when the store does not know it) */
static vm_where *
row_from_where(const vm_where *w, const char *sc_state)
{
	vm_where *r = g_new0(vm_where, 1);

	r->scenario = g_strdup(w->scenario);
	r->vm = g_strdup(w->vm);
	r->host = g_strdup(w->host);
	r->state = g_strdup(w->state);
	r->addrs = json_incref(w->addrs);
	r->ifaces = json_incref(w->ifaces);
	r->stored = sc_state != NULL;
	r->sc_state = g_strdup(sc_state);
	return r;
}

int
cmd_status(int argc, char **argv)
{
	enum { OPT_CONFIG = 256 };
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const heads[] = { "scenario", "stored", "vm", "host", "state",
	    "addresses" };
	const char *config = NULL, *only = NULL;
	g_autoptr(GError) e = NULL;
	g_autoptr(GPtrArray) list = NULL;
	g_autoptr(GPtrArray) where = NULL;
	g_autoptr(GPtrArray) unanswered = NULL;
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func(
	    (GDestroyNotify)vm_where_free);
	g_autoptr(GHashTable) used = g_hash_table_new(g_direct_hash, g_direct_equal);
	json_auto_t *scen = json_array();
	bool json = false, known = false;
	int ch, rc;
	session l = { 0 };

	while ((ch = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = true;
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case 'h':
			fputs(status_help, stdout);
			return CLI_OK;
		default:
			return out_usage("status", NULL);
		}
	}
	if (optind < argc - 1)
		return out_usage("status", "at most one SCENARIO");
	if (optind == argc - 1)
		only = argv[optind];
	if (only != NULL && (rc = out_check_name("status", "scenario", only, false)) != 0)
		return rc;

	if ((rc = session_open_conf(&l, config)) >= 0 || (rc = session_open_store(&l)) >= 0)
		goto out;
	rc = CLI_FAIL;
	if ((list = store_list(l.st, &e)) == NULL) {
		out_err("store: %s", e->message);
		goto out;
	}
	if ((rc = session_open_bus(&l)) >= 0)
		goto out;
	rc = CLI_FAIL;
	where = where_now(&l, &unanswered);
	for (guint i = 0; i < unanswered->len; i++)
		out_err("warning: %s", (char *)unanswered->pdata[i]);

	/* every stored VM, in file order, where it is now */
	for (guint i = 0; i < list->len; i++) {
		store_scenario *ss = list->pdata[i];
		g_autoptr(diag) d = diag_new();
		g_autoptr(scenario) s = NULL;
		g_autoptr(GHashTable) placed = NULL;

		if (only != NULL && strcmp(ss->name, only) != 0)
			continue;
		known = true;
		json_array_append_new(scen, json_pack("{s:s, s:s}", "scenario", ss->name, "state",
		    ss->state));
		if (!json && strcmp(ss->state, "deploying") == 0)
			out_err("note: '%s' is being deployed, or its deploy was interrupted (then "
			    "'nube undeploy --force %s')", ss->name, ss->name);
		else if (!json && strcmp(ss->state, "failed") == 0)
			out_err("note: '%s' failed: its hosts may still run parts of it ('nube "
			    "undeploy %s' cleans them)", ss->name, ss->name);
		s = scenario_parse_memory(ss->spec, strlen(ss->spec), ss->name, d);
		placed = store_placements(l.st, ss->name, NULL);
		for (guint k = 0; s != NULL && k < s->vms->len; k++) {
			const sc_vm *vm = s->vms->pdata[k];
			bool any = false;

			for (guint m = 0; m < where->len; m++) {
				vm_where *w = where->pdata[m];

				if (strcmp(w->scenario, ss->name) == 0 && strcmp(w->vm, vm->name) == 0) {
					g_ptr_array_add(rows, row_from_where(w, ss->state));
					g_hash_table_add(used, w);
					any = true;
				}
			}
			if (!any) {
				vm_where *r = g_new0(vm_where, 1);
				const char *ph = placed != NULL ?
				    g_hash_table_lookup(placed, vm->name) : NULL;

				r->scenario = g_strdup(ss->name);
				r->vm = g_strdup(vm->name);
				r->state = g_strdup(ph != NULL && !client_host_live(client_host_get(l.c,
				    ph)) ? "unknown" : strcmp(ss->state, "deployed") == 0 ? "missing"
				    : ss->state);
				r->addrs = json_array();
				r->ifaces = json_array();
				r->stored = true;
				r->sc_state = g_strdup(ss->state);
				g_ptr_array_add(rows, r);
			}
		}
	}
	/* what the hosts run that the store does not know */
	for (guint m = 0; m < where->len; m++) {
		vm_where *w = where->pdata[m];

		if (g_hash_table_contains(used, w) || (only != NULL && strcmp(w->scenario, only) != 0))
			continue;
		known = true;
		g_ptr_array_add(rows, row_from_where(w, NULL));
	}
	if (only != NULL && !known) {
		out_err("scenario '%s' is not deployed and no host runs any of its VMs", only);
		goto out;
	}

	if (json) {
		json_auto_t *root = json_object();
		json_t *arr = json_array();

		for (guint i = 0; i < rows->len; i++) {
			vm_where *r = rows->pdata[i];

			json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:s, s:O, s:O, s:b, s:o}",
			    "scenario", r->scenario, "vm", r->vm, "host", out_json_str(r->host),
			    "state", r->state, "addrs", r->addrs, "ifaces", r->ifaces,
			    "stored", r->stored, "scenario_state", out_json_str(r->sc_state)));
		}
		json_object_set_new(root, "scenarios", json_incref(scen));
		json_object_set_new(root, "vms", arr);
		rc = out_json_print(root, stdout) < 0 ? CLI_FAIL : CLI_OK;
	} else {
		g_autoptr(out_table) t = out_table_new(6, heads);

		for (guint i = 0; i < rows->len; i++) {
			vm_where *r = rows->pdata[i];
			g_autoptr(GString) a = g_string_new(NULL);
			g_autofree char *st = r->stored ? g_strdup(r->state) :
			    g_strdup_printf("%s (not in store)", r->state);
			json_t *v;
			size_t k;

			json_array_foreach(r->addrs, k, v)
				g_string_append_printf(a, "%s%s", a->len ? "," : "",
				    json_string_value(v));
			out_table_addv(t, r->scenario, r->sc_state != NULL ? r->sc_state : "no",
			    r->vm, r->host, st, a->len ? a->str : NULL);
		}
		out_table_print(t, stdout);
		rc = CLI_OK;
	}
out:
	session_clear(&l);
	return rc;
}
