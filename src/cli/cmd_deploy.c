/* cmd_deploy: nube deploy — plan a scenario on the live hosts, record its allocations, start
 * it on every host in parallel and roll it back when anything fails */
#include <getopt.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/images.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/media.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "plan/plan.h"
#include "scenario/scenario.h"
#include "store/store.h"
#include "wire/deployment.h"
#include "wire/topic.h"

#define ROLLBACK_TIMEOUT_MS	60000

/* for_host: the deployment message as host gets it: the media of the VMs placed elsewhere left
 * out (a shallow copy: the media's strings are shared with dj). New reference. */
static json_t *
for_host(json_t *dj, const char *host)
{
	json_t *out = json_copy(dj), *vms = json_array(), *v;
	size_t i;

	json_array_foreach(json_object_get(dj, "vms"), i, v) {
		if (json_object_get(v, "media") != NULL &&
		    g_strcmp0(json_string_value(json_object_get(v, "host")), host) != 0) {
			json_t *c = json_copy(v);

			json_object_del(c, "media");
			json_array_append_new(vms, c);
		} else {
			json_array_append(vms, v);
		}
	}
	json_object_set_new(out, "vms", vms);
	return out;
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

static const char deploy_help[] =
"usage: nube deploy SCENARIO [--algorithm A] [--restrictions FILE] [--timeout S]\n"
"                   [--all-or-nothing] [--intervm-delay S]\n"
"                   [--move-containers never|operator|cold] [--json] [--config FILE]\n"
"       nube deploy --retry-failed NAME [--timeout S] [--config FILE]\n"
"\n"
"Validate a VNX 2.0 scenario, split it over the live hosts, record the allocations\n"
"(VNIs, MACs, addresses) in the store and send every host its part in parallel. Each\n"
"host's progress (with its agent's warnings) is printed on stderr as it arrives. A\n"
"host's free memory is its capacity less the larger of its used memory and the memory\n"
"promised to its VMs plus its reserve. When any host fails, stops answering or goes\n"
"offline, or nube is interrupted (SIGINT, SIGTERM), the whole deployment is rolled back\n"
"on every host and forgotten by the store; when a host cannot be rolled back, or the\n"
"broker is lost, the store keeps it as \"failed\" with its allocations until 'nube\n"
"undeploy --force'. A VM whose guest does not come up (see --timeout), or that its\n"
"host cannot set up (disks, media, libvirt refusing it), does not throw the rest\n"
"away: it is removed and named (its host, what was waited for or failed, how long), the\n"
"others keep running and the scenario is stored as \"degraded\" (exit status 4);\n"
"--retry-failed deploys only those VMs again, on their hosts. On success the\n"
"placement and the warnings are printed. A VM\n"
"that boots its own image (<filesystem>, no <kernel>) gets configuration media (VNX's\n"
"vnxboot.xml and filetrees, a cloud-init seed) built here: its on_boot files must exist.\n"
"\n"
"  -a, --algorithm A         round-robin, weighted-round-robin, least-loaded or graph\n"
"                            (default " CLI_DEFAULT_ALGORITHM ")\n"
"  -r, --restrictions FILE   deployment restrictions (EDIV format)\n"
"  -t, --timeout S           a guest's time to come up (its agent answers): one still\n"
"                            using CPU gets up to twice that, one that is idle is\n"
"                            restarted once and gets it again; also how long a host\n"
"                            may stay silent (default [deploy] timeout of the config,\n"
"                            else 120)\n"
"      --all-or-nothing      any failed VM rolls the whole deployment back\n"
"      --intervm-delay S     wait S seconds between two VM starts on each host (as\n"
"                            VNX's option; hosts start theirs in parallel). Each host\n"
"                            starts its VMs in VNX's order: <vm order=N> first, by N,\n"
"                            then the others in file order\n"
"      --retry-failed NAME   deploy again only the failed VMs of degraded scenario NAME\n"
"      --move-containers W   who may move the scenario's containers (type=\"lxc\"; always\n"
"                            by a cold move: stopped, layer copied, started there):\n"
"                            never; operator (nube migrate, drain, evacuation); cold\n"
"                            (the balancer too). Default: each host's nubed.conf\n"
"                            [balance] move-containers (whose default is operator)\n"
"  -j, --json                print the placement as JSON (as 'nube plan --json')\n"
"      --config FILE         client config\n"
"  -h, --help                this help\n"
"\n"
"Exit status: 0 deployed, 1 invalid input, no placement or deployment failed (rolled\n"
"back), 2 bad command line, 3 broker unreachable or no live host, 4 deployed degraded\n"
"(some VMs failed, the others run).\n";

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
	json_t *failed_vms;	/* [{"host", "vm", "error", "seconds"}]: VMs that did not come
				 * up, removed by their agent (a degraded deploy) */
	json_t *ready_vms;	/* [{"host", "vm"}]: VMs their agent deployed */
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
	json_array_foreach(json_object_get(call->reply, "vms"), i, v)
		if (call->ok && client_jstr(v, "vm") != NULL)
			json_array_append_new(r->ready_vms, json_pack("{s:s, s:s}", "host", call->host,
			    "vm", client_jstr(v, "vm")));
	json_array_foreach(json_object_get(call->reply, "failed"), i, v) {
		const json_t *sec = json_object_get(v, "seconds");

		if (!call->ok || client_jstr(v, "vm") == NULL)
			continue;
		json_array_append_new(r->failed_vms, json_pack("{s:s, s:s, s:s, s:f}", "host",
		    call->host, "vm", client_jstr(v, "vm"), "error", client_jstr(v, "error") != NULL ?
		    client_jstr(v, "error") : "unknown error", "seconds", json_is_number(sec) ?
		    json_number_value(sec) : 0.0));
	}
	if (call->ok && json_array_size(json_object_get(call->reply, "failed")) > 0)
		fprintf(stderr, "%s: done, %zu vm%s failed\n", call->host,
		    json_array_size(json_object_get(call->reply, "failed")),
		    json_array_size(json_object_get(call->reply, "failed")) == 1 ? "" : "s");
	else if (call->ok)
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

	return h != NULL && h->state != NULL ? h->state->fabric_addr : NULL;
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
rollback(client *c, const char *scenario, GPtrArray *hosts, int timeout_ms, GPtrArray *left)
{
	int pending = 0;
	GPtrArray *calls = g_ptr_array_new();

	for (guint i = 0; i < hosts->len; i++) {
		const char *h = hosts->pdata[i];
		client_host *ch = client_host_get(c, h);

		if (ch == NULL || !ch->online) {
			fprintf(stderr, "%s: offline, cannot roll back there now\n", h);
			g_ptr_array_add(left, g_strdup(h));
			continue;
		}
		g_ptr_array_add(calls, client_call_start(c, h,
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

/* record_failed: the store marks the VMs of failed (deploy_run.failed_vms) failed with why
 * and those of ready fine again, and the scenario "degraded" while any VM has failed, else
 * "deployed"; every failed VM is named on stderr. Returns how many VMs of the scenario are
 * failed now, or -1 when the store could not record it (printed). */
static int
record_failed(store *st, const char *name, const json_t *failed, const json_t *ready)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(GHashTable) now = NULL;
	const json_t *f;
	size_t i;

	json_array_foreach(ready, i, f)
		if (store_set_failed(st, name, client_jstr(f, "vm"), NULL, &e) < 0)
			goto err;
	json_array_foreach(failed, i, f) {
		g_autofree char *why = g_strdup_printf("on host '%s' after %.0f s: %s",
		    client_jstr(f, "host"), json_number_value(json_object_get(f, "seconds")),
		    client_jstr(f, "error"));

		out_err("vm '%s' failed %s", client_jstr(f, "vm"), why);
		if (store_set_failed(st, name, client_jstr(f, "vm"), why, &e) < 0)
			goto err;
	}
	if ((now = store_failed(st, name, &e)) == NULL)
		goto err;
	if (store_set_state(st, name, g_hash_table_size(now) > 0 ? "degraded" : "deployed", &e) < 0)
		goto err;
	return (int)g_hash_table_size(now);
err:
	out_err("store: %s", e->message);
	return -1;
}

/* degraded_note: the lines a degraded scenario ends with */
static void
degraded_note(const char *name, int nfailed, guint nvms)
{
	out_err("'%s' is degraded: %d of %u VMs failed and were removed, the others run "
	    "(state 'degraded')", name, nfailed, nvms);
	out_err("when the cause is fixed, 'nube deploy --retry-failed %s' deploys them again; "
		"'nube undeploy %s' removes all", name, name);
}

static int retry_failed(session *sess, const char *name, int timeout_s);

int
cmd_deploy(session *sess, int argc, char **argv)
{
	enum { OPT_CONFIG = 256, OPT_ALL = 257, OPT_RETRY = 258, OPT_DELAY = 259, OPT_MOVE = 260 };
	static const struct option opts[] = {
		{ "intervm-delay", required_argument, NULL, OPT_DELAY },
		{ "all-or-nothing", no_argument, NULL, OPT_ALL },
		{ "retry-failed", no_argument, NULL, OPT_RETRY },
		{ "move-containers", required_argument, NULL, OPT_MOVE },
		{ "algorithm", required_argument, NULL, 'a' },
		{ "restrictions", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *rpath = NULL, *aname = CLI_DEFAULT_ALGORITHM, *move = NULL;
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = NULL;
	g_autoptr(restrictions) r = NULL;
	g_autoptr(plan) p = NULL;
	g_autoptr(proto_deployment) dep = NULL;
	g_autoptr(media_prep) mp = NULL;
	g_autoptr(GPtrArray) live_hosts = NULL;
	g_autoptr(GPtrArray) used = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) left = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) e = NULL;
	g_autofree char *spec = NULL;
	g_autofree plan_host *ph = NULL;
	deploy_run run = { 0 };
	guint sig_int = 0, sig_term = 0;
	plan_algorithm algo;
	bool json = false, reserved = false, all_or_nothing = false, retry = false;
	int timeout_s = 0, ch, rc = CLI_FAIL, nfailed = 0, intervm_delay = 0;
	gsize speclen = 0;
	int64_t t0 = cli_now_ms();

	while ((ch = getopt_long(argc, argv, "a:r:t:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			aname = optarg;
			break;
		case 'r':
			rpath = optarg;
			break;
		case 't':
			if (args_timeout(optarg, &timeout_s) < 0)
				return out_usage("deploy", "--timeout wants seconds (1..86400)");
			break;
		case 'j':
			json = true;
			break;
		case OPT_ALL:
			all_or_nothing = true;
			break;
		case OPT_RETRY:
			retry = true;
			break;
		case OPT_DELAY:
			if (args_seconds(optarg, 0, 3600, &intervm_delay) < 0)
				return out_usage("deploy", "--intervm-delay wants seconds (0..3600)");
			break;
		case OPT_MOVE:
			if (!proto_move_containers_ok(optarg))
				return out_usage("deploy", "--move-containers wants never, operator or "
				    "cold");
			move = optarg;
			break;
		case OPT_CONFIG:
			sess->config = optarg;
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
	if (retry) {
		if (rpath != NULL || all_or_nothing || json || intervm_delay > 0 || move != NULL)
			return out_usage("deploy", "--retry-failed takes only --timeout and --config");
		if (out_check_name("deploy", "scenario", argv[optind], false) != 0)
			return CLI_USAGE;
		return retry_failed(sess, argv[optind], timeout_s);
	}
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
	/* the host files of the guests' configuration media: read now, so a missing one stops
	 * the deploy before anything is contacted or stored */
	if (s != NULL && !diag_has_errors(d))
		mp = media_prepare(s, d);
	if (s == NULL || diag_has_errors(d)) {
		diag_print(d, stderr);
		return CLI_FAIL;
	}

	/* 2. live hosts */
	if (session_open(sess, SESSION_BUS) < 0) {
		rc = sess->status;
		goto out;
	}
	if (timeout_s == 0)
		timeout_s = sess->conf->timeout_s;
	rc = CLI_FAIL;
	if (r != NULL) {
		check_restriction_hosts(r, sess->c, d);
		if (diag_has_errors(d))
			goto out;
	}
	live_hosts = client_hosts_sorted(sess->c, true);
	if (live_hosts->len == 0) {
		out_err("no live host on %s (see 'nube hosts')", sess->conf->url);
		rc = CLI_UNAVAILABLE;
		goto out;
	}
	ph = g_new0(plan_host, live_hosts->len);
	for (guint i = 0; i < live_hosts->len; i++) {
		const client_host *h = live_hosts->pdata[i];
		const host_state *st = h->state;	/* live: it has one */

		ph[i] = (plan_host){
			.name = h->name, .cpus = st->cpus, .mem_mib = st->mem_total_mib,
			.mem_used_mib = st->mem_used_mib, .mem_promised_mib = st->mem_promised_mib,
			.mem_reserve_mib = st->mem_reserve_mib, .load = st->load,
			.vms = (int)st->vms->len, .online = true,
		};
	}
	if ((p = plan_partition(s, r, ph, (int)live_hosts->len, algo, d)) == NULL)
		goto out;

	/* 3. allocations, recorded atomically (refused when the name is taken) */
	if (session_open(sess, SESSION_STORE) < 0) {
		rc = sess->status;
		goto out;
	}
	if (store_reserve(sess->st, s, spec, p, sess->conf->vni_min, sess->conf->vni_max, d) < 0)
		goto out;
	reserved = true;

	/* 4. every host with VMs gets the deployment in parallel; it picks its own part */
	dep = proto_deployment_from_plan(s, p, spec, host_fabric, sess->c);
	dep->move_containers = g_strdup(move);
	{	/* kept (without media) for a later --retry-failed */
		json_t *kj = proto_deployment_to_json(dep);
		g_autofree char *kt = json_dumps(kj, JSON_COMPACT);

		json_decref(kj);
		if (store_set_deployment(sess->st, s->name, kt, &e) < 0) {
			out_err("store: %s", e->message);
			goto out;
		}
	}
	if (media_attach(mp, dep, d) < 0)
		goto out;
	/* the images the VMs boot, by content, in every host's cache before any host starts */
	if (images_send(sess, s, dep, false, timeout_s) < 0)
		goto out;
	run.targets = g_hash_table_new(g_str_hash, g_str_equal);
	run.gone = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	run.warnings = json_array();
	run.failed_vms = json_array();
	run.ready_vms = json_array();
	run.url = sess->conf->url;
	bus_on_connect(sess->c->bus, deploy_bus, &run);
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

		for (guint i = 0; i < used->len; i++) {	/* before any host hears of it */
			json_t *hj = for_host(dj, used->pdata[i]);
			json_auto_t *probe = json_pack("{s:s, s:s, s:o, s:i}", "op", "deploy",
			    "scenario", s->name, "deployment", hj, "guest_timeout_s", timeout_s);
			g_autofree char *what = g_strdup_printf("deploy to host '%s'",
			    (char *)used->pdata[i]);

			if (!request_fits(what, probe)) {
				json_decref(dj);
				goto out;
			}
		}
		sess->c->on_online = deploy_online;
		sess->c->on_online_ud = &run;
		sig_int = g_unix_signal_add(SIGINT, on_signal, &run);
		sig_term = g_unix_signal_add(SIGTERM, on_signal, &run);
		fprintf(stderr, "deploying '%s' on %u host%s\n", s->name, used->len,
		    used->len == 1 ? "" : "s");
		for (guint i = 0; i < used->len; i++) {
			const char *h = used->pdata[i];
			client_call *call = client_call_start(sess->c, h,
			    json_pack("{s:s, s:s, s:o, s:i, s:b, s:i}", "op", "deploy", "scenario",
			    s->name, "deployment", for_host(dj, h), "guest_timeout_s", timeout_s,
			    "partial", !all_or_nothing, "intervm_delay_s", intervm_delay),
			    (timeout_s + 15) * 1000, &pending, progress_print,
			    deploy_done, &run);

			g_hash_table_insert(run.targets, (gpointer)h, call);
		}
		json_decref(dj);
		/* a failure stops the wait at once; the hosts still working are then waited
		 * for (bounded by their own timeouts) so the roll back does not race them */
		client_wait_calls(&pending, &run.failed, -1);
		/* every VM failed: nothing of the lab runs, so it is no degraded lab but a failed
		 * deploy, rolled back like one */
		if (!run.failed && s->vms->len > 0 &&
		    json_array_size(run.failed_vms) >= s->vms->len) {
			const json_t *f = json_array_get(run.failed_vms, 0);

			deploy_fail(&run, "every VM failed, the first: vm '%s' on host '%s': %s",
			    client_jstr(f, "vm"), client_jstr(f, "host"), client_jstr(f, "error"));
		}
		if (run.failed) {
			out_err("deploy failed: %s", run.why);
			if (!run.broker_lost)
				fprintf(stderr, "rolling back on %u host%s\n", used->len,
				    used->len == 1 ? "" : "s");
			client_wait_calls(&pending, NULL, -1);
		}
		sess->c->on_online = NULL;
		if (run.gone_timer != 0)
			g_source_remove(run.gone_timer);
		run.gone_timer = 0;
	}
	if (run.failed) {
		if (run.broker_lost) {
			out_err("cannot roll back: the broker at %s is unreachable", sess->conf->url);
			for (guint i = 0; i < used->len; i++)
				g_ptr_array_add(left, g_strdup(used->pdata[i]));
		} else {
			rollback(sess->c, s->name, used, ROLLBACK_TIMEOUT_MS, left);
		}
		goto out;
	}
	g_source_remove(sig_int);
	g_source_remove(sig_term);
	sig_int = sig_term = 0;

	/* 5. done: every VM up, or those that did not come up named (degraded) */
	if ((nfailed = record_failed(sess->st, s->name, run.failed_vms, NULL)) < 0)
		goto out;
	{
		size_t nw = json_array_size(run.warnings), i;
		g_autofree char *msg = g_strdup_printf("%u VM%s on %u host%s, algorithm %s, %.1f s"
		    "%s%.0zu%s%s%.0d%s", s->vms->len, s->vms->len == 1 ? "" : "s", used->len,
		    used->len == 1 ? "" : "s", plan_algorithm_name(algo),
		    (double)(cli_now_ms() - t0) / 1000.0, nw ? ", " : "", nw,
		    nw == 0 ? "" : nw == 1 ? " warning" : " warnings", nfailed ? ", " : "", nfailed,
		    nfailed ? " failed" : "");
		json_t *w;

		store_event(sess->st, cli_now_ms(), NULL, nfailed ? "deploy-degraded" : "deploy",
		    s->name, NULL, msg, NULL);
		fprintf(stderr, "deployed '%s'%s: %s\n", s->name, nfailed ? " degraded" : "", msg);
		json_array_foreach(run.warnings, i, w)
			out_err("warning: host '%s': %s", client_jstr(w, "host"),
			    client_jstr(w, "warning"));
	}
	reserved = false;
	if (json) {
		json_auto_t *j = out_plan_json(s, p);

		json_object_set(j, "warnings", run.warnings);
		json_object_set(j, "failed", run.failed_vms);
		rc = out_json_print(j, stdout) < 0 ? CLI_FAIL : CLI_OK;
	} else {
		out_plan_print(s, p, stdout);
		rc = CLI_OK;
	}
	if (nfailed > 0) {
		degraded_note(s->name, nfailed, s->vms->len);
		rc = rc == CLI_OK ? CLI_DEGRADED : rc;
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
		store_set_state(sess->st, s->name, "failed", NULL);
		store_event(sess->st, cli_now_ms(), NULL, "deploy-failed", s->name, NULL, msg, NULL);
		out_err("'%s' stays in the store as 'failed' with its allocations: host%s %s may "
		    "still run parts of it", s->name, left->len == 1 ? "" : "s", hl->str);
		out_err("when %s, run 'nube undeploy --force %s' to clean the hosts and free them",
		    run.broker_lost ? "the broker is back" : left->len == 1 ? "that host is back" :
		    "those hosts are back", s->name);
	} else if (reserved) {
		g_autoptr(GError) e2 = NULL;

		if (store_delete(sess->st, s->name, &e2) < 0)
			out_err("store: cannot forget '%s': %s", s->name, e2->message);
		else if (run.failed)
			store_event(sess->st, cli_now_ms(), NULL, "deploy-failed", s->name, NULL, run.why,
			    NULL);
	}
	if (run.gone_timer != 0)
		g_source_remove(run.gone_timer);
	if (run.targets != NULL)
		g_hash_table_unref(run.targets);
	if (run.gone != NULL)
		g_hash_table_unref(run.gone);
	json_decref(run.warnings);
	json_decref(run.failed_vms);
	json_decref(run.ready_vms);
	g_free(run.why);
	return rc;
}

/* retry_failed: nube deploy --retry-failed NAME: the failed VMs of degraded NAME, each on the
 * host it was placed on, with the deployment kept in the store (media built again); a VM
 * that comes up is fine again, one that does not stays failed (removed again); a host that
 * fails rolls back only what it made for this retry. */
static int
retry_failed(session *sess, const char *name, int timeout_s)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = NULL;
	g_autoptr(proto_deployment) dep = NULL;
	g_autoptr(media_prep) mp = NULL;
	g_autoptr(GHashTable) failed = NULL, placed = NULL, by_host = NULL;
	g_autofree char *dtext = NULL;
	store_scenario *ss = NULL;
	json_auto_t *dj0 = NULL;
	json_t *dj;
	deploy_run run = { 0 };
	GHashTableIter it;
	gpointer k, v;
	int rc = CLI_FAIL, pending = 0, nfailed;
	int64_t t0 = cli_now_ms();

	if (session_open(sess, SESSION_STORE) < 0)
		return sess->status;
	if ((ss = store_get(sess->st, name, &e)) == NULL) {
		out_err(e != NULL ? "store: %s" : "scenario '%s' is not deployed (see 'nube status')",
		    e != NULL ? e->message : name);
		return CLI_FAIL;
	}
	if (strcmp(ss->state, "degraded") != 0) {
		out_err("scenario '%s' is '%s', not 'degraded': it has no failed VMs to retry", name,
		    ss->state);
		goto out;
	}
	if ((failed = store_failed(sess->st, name, &e)) == NULL ||
	    (placed = store_placements(sess->st, name, &e)) == NULL) {
		out_err("store: %s", e->message);
		goto out;
	}
	dtext = store_deployment(sess->st, name, &e);
	if (dtext == NULL || (dj0 = json_loads(dtext, 0, NULL)) == NULL) {
		out_err("scenario '%s': %s", name, e != NULL ? e->message : "the store kept no "
		    "deployment of it (deployed by an older nube): undeploy and deploy it again");
		goto out;
	}
	s = scenario_parse_memory(ss->spec, strlen(ss->spec), name, d);
	if (s != NULL && !diag_has_errors(d))
		mp = media_prepare(s, d);
	if (s == NULL || diag_has_errors(d) || (dep = proto_deployment_from_json(dj0, d)) == NULL ||
	    media_attach(mp, dep, d) < 0) {
		diag_print(d, stderr);
		out_err("scenario '%s': its stored spec or deployment cannot be used again", name);
		goto out;
	}
	if (session_open(sess, SESSION_BUS) < 0) {
		rc = sess->status;
		goto out;
	}
	if (timeout_s == 0)
		timeout_s = sess->conf->timeout_s;
	/* the failed VMs by the host they were placed on: every such host must be live */
	by_host = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)json_decref);
	g_hash_table_iter_init(&it, failed);
	while (g_hash_table_iter_next(&it, &k, NULL)) {
		const char *h = g_hash_table_lookup(placed, k);
		json_t *l;

		if (h == NULL || !client_host_live(client_host_get(sess->c, h))) {
			out_err("vm '%s' of '%s' is placed on host '%s', which is not live", (char *)k,
			    name, h != NULL ? h : "?");
			goto out;
		}
		if ((l = g_hash_table_lookup(by_host, h)) == NULL)
			g_hash_table_insert(by_host, (gpointer)h, l = json_array());
		json_array_append_new(l, json_string(k));
	}
	if (images_send(sess, s, dep, false, timeout_s) < 0)
		goto out;
	run.targets = g_hash_table_new(g_str_hash, g_str_equal);
	run.warnings = json_array();
	run.failed_vms = json_array();
	run.ready_vms = json_array();
	run.url = sess->conf->url;
	fprintf(stderr, "retrying %u failed vm%s of '%s' on %u host%s\n", g_hash_table_size(failed),
	    g_hash_table_size(failed) == 1 ? "" : "s", name, g_hash_table_size(by_host),
	    g_hash_table_size(by_host) == 1 ? "" : "s");
	dj = proto_deployment_to_json(dep);
	g_hash_table_iter_init(&it, by_host);
	while (g_hash_table_iter_next(&it, &k, &v))
		g_hash_table_insert(run.targets, k, client_call_start(sess->c, k,
		    json_pack("{s:s, s:s, s:o, s:i, s:b, s:O}", "op", "deploy", "scenario", name,
		    "deployment", for_host(dj, k), "guest_timeout_s", timeout_s, "partial", 1,
		    "only", v), (timeout_s + 15) * 1000, &pending, progress_print, deploy_done,
		    &run));
	json_decref(dj);
	client_wait_calls(&pending, NULL, -1);
	if (run.failed)		/* a host failed as a whole: its retried VMs are still failed */
		out_err("retry: %s", run.why);
	if ((nfailed = record_failed(sess->st, name, run.failed_vms, run.ready_vms)) < 0)
		goto out;
	{
		g_autofree char *msg = g_strdup_printf("retry of %u failed vm%s: %zu up, %d failed, "
		    "%.1f s", g_hash_table_size(failed), g_hash_table_size(failed) == 1 ? "" : "s",
		    json_array_size(run.ready_vms), nfailed, (double)(cli_now_ms() - t0) / 1000.0);

		store_event(sess->st, cli_now_ms(), NULL, nfailed ? "deploy-degraded" : "deploy",
		    name, NULL, msg, NULL);
		fprintf(stderr, "%s '%s': %s\n", nfailed ? "still degraded" : "deployed", name, msg);
	}
	if (nfailed > 0) {
		degraded_note(name, nfailed, s->vms->len);
		rc = CLI_DEGRADED;
	} else {
		rc = CLI_OK;
	}
out:
	if (run.targets != NULL)
		g_hash_table_unref(run.targets);
	json_decref(run.warnings);
	json_decref(run.failed_vms);
	json_decref(run.ready_vms);
	g_free(run.why);
	store_scenario_free(ss);
	return rc;
}

