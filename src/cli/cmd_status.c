/* cmd_status: nube status — where every VM of the deployed scenarios runs now, as the hosts
 * report it, joined with the store */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"
#include "cli/where.h"
#include "scenario/scenario.h"
#include "store/store.h"

static const char status_help[] =
"usage: nube status [SCENARIO] [--json] [--config FILE]\n"
"\n"
"Show where every VM of the deployed scenarios (or of SCENARIO) runs now, as the hosts\n"
"report it, joined with the store (column \"stored\": the scenario's state there, e.g.\n"
"deploying, deployed, degraded, failed): a VM the store knows but no host runs is\n"
"\"missing\" (\"unknown\" when the host it was placed on is down or did not answer,\n"
"\"failed\" when it did not come up in a degraded deploy); a VM a host runs that\n"
"the store does not know is listed as well. The store is corrected from what the hosts\n"
"report: a VM of a deployed scenario that moved gets its new host there, and a net\n"
"that a migration stretched onto another host (or that shrank to one) its VNI.\n"
"Column \"config\" says how each VM is configured: \"qemu-ga\" (nube, through the guest\n"
"agent), \"vnx+cloud-init\" (the image configures itself from the media it got: VNX's\n"
"daemon or cloud-init, whichever it carries) or \"container\" (written into its root).\n"
"\n"
"  -j, --json          machine-readable output (a stable interface), with the nets as\n"
"                      the hosts have them: {\"net\", \"hosts\", \"vni\": V or null}\n"
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
	r->config = g_strdup(w->config);
	r->addrs = json_incref(w->addrs);
	r->ifaces = json_incref(w->ifaces);
	r->stored = sc_state != NULL;
	r->sc_state = g_strdup(sc_state);
	return r;
}

/* correct_placements: the store's host of every VM of deployed scenario ss that exactly one
 * host runs (a running one when a migration left a paused copy) becomes that host: placements
 * follow the migrations the store did not hear of. placed (vm -> host) is updated too. */
static void
correct_placements(store *st, const store_scenario *ss, const scenario *s, GHashTable *placed,
    GPtrArray *where)
{
	if ((strcmp(ss->state, "deployed") != 0 && strcmp(ss->state, "degraded") != 0) ||
	    placed == NULL)
		return;		/* a deploy or undeploy may be under way */
	for (guint k = 0; k < s->vms->len; k++) {
		const sc_vm *vm = s->vms->pdata[k];
		const vm_where *only = NULL, *running = NULL;
		int n = 0, nrunning = 0;
		g_autoptr(GError) e = NULL;
		const vm_where *at;

		for (guint m = 0; m < where->len; m++) {
			const vm_where *w = where->pdata[m];

			if (strcmp(w->scenario, ss->name) != 0 || strcmp(w->vm, vm->name) != 0)
				continue;
			n++;
			only = w;
			if (strcmp(w->state, "running") == 0) {
				nrunning++;
				running = w;
			}
		}
		at = n == 1 ? only : nrunning == 1 ? running : NULL;
		if (at == NULL || g_strcmp0(g_hash_table_lookup(placed, vm->name), at->host) == 0)
			continue;
		if (store_set_placement(st, ss->name, vm->name, at->host, &e) < 0) {
			out_err("warning: store: the host of '%s' of '%s' is not corrected: %s",
			    vm->name, ss->name, e->message);
			continue;
		}
		g_hash_table_insert(placed, g_strdup(vm->name), g_strdup(at->host));
	}
}

static gint
str_cmp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static gint
net_cmp(gconstpointer a, gconstpointer b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(client_jstr(x, "scenario"), client_jstr(y, "scenario"));

	return c != 0 ? c : strcmp(client_jstr(x, "net"), client_jstr(y, "net"));
}

/* nets_now: the scenario nets as the hosts report them (hostnets: [{host, scenario, net,
 * vni}]), one entry per net of a scenario only (NULL: all) shown: [{"scenario", "net",
 * "hosts": [sorted], "vni": V or null}], sorted by scenario and net. Two hosts reporting
 * different VNIs for one net get a warning; the first host's is shown. New reference. */
static json_t *
nets_now(const json_t *hostnets, const char *only)
{
	g_autoptr(GHashTable) by = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GPtrArray) list = g_ptr_array_new();
	json_t *out = json_array(), *o;
	size_t i;

	json_array_foreach(hostnets, i, o) {
		const char *sc = client_jstr(o, "scenario"), *net = client_jstr(o, "net");
		json_int_t vni = json_integer_value(json_object_get(o, "vni"));
		g_autofree char *key = g_strdup_printf("%s/%s", sc, net);
		json_t *n = g_hash_table_lookup(by, key);
		const json_t *have;

		if (only != NULL && strcmp(sc, only) != 0)
			continue;
		if (n == NULL) {
			n = json_pack("{s:s, s:s, s:[], s:n}", "scenario", sc, "net", net, "hosts",
			    "vni");
			g_hash_table_insert(by, g_steal_pointer(&key), n);
			g_ptr_array_add(list, n);
		}
		json_array_append_new(json_object_get(n, "hosts"), json_string(client_jstr(o,
		    "host")));
		have = json_object_get(n, "vni");
		if (vni == 0)
			continue;
		if (json_is_null(have))
			json_object_set_new(n, "vni", json_integer(vni));
		else if (json_integer_value(have) != vni)
			out_err("warning: net '%s' of '%s' has VNI %" JSON_INTEGER_FORMAT " on one "
			    "host but %" JSON_INTEGER_FORMAT " on host '%s'", net, sc,
			    json_integer_value(have), vni, client_jstr(o, "host"));
	}
	g_ptr_array_sort(list, net_cmp);
	for (guint k = 0; k < list->len; k++) {
		json_t *n = list->pdata[k];
		json_t *hosts = json_object_get(n, "hosts"), *sorted = json_array(), *h;
		g_autoptr(GPtrArray) names = g_ptr_array_new();
		size_t m;

		json_array_foreach(hosts, m, h)
			g_ptr_array_add(names, (gpointer)json_string_value(h));
		g_ptr_array_sort(names, str_cmp);
		for (guint q = 0; q < names->len; q++)
			json_array_append_new(sorted, json_string(names->pdata[q]));
		json_object_set_new(n, "hosts", sorted);
		json_array_append_new(out, n);	/* takes the table's reference */
	}
	return out;
}

/* placed_live: every host the store places a VM of the scenario on is live (and answered) */
static bool
placed_live(client *c, GHashTable *placed)
{
	GHashTableIter it;
	gpointer h;

	if (placed == NULL)
		return false;
	g_hash_table_iter_init(&it, placed);
	while (g_hash_table_iter_next(&it, NULL, &h))
		if (!client_host_live(client_host_get(c, h)))
			return false;
	return true;
}

/* record_vnis: the store records the VNI every net of deployed scenario ss has now (nets: as
 * nets_now, all hosts answered): a net a migration stretched gets its VNI, one that shrank to
 * one host loses it */
static void
record_vnis(store *st, const store_scenario *ss, const json_t *nets)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(GHashTable) have = NULL;
	const json_t *n;
	size_t i;

	if (strcmp(ss->state, "deployed") != 0 && strcmp(ss->state, "degraded") != 0)
		return;
	if ((have = store_net_vnis(st, ss->name, &e)) == NULL) {
		out_err("warning: store: %s", e->message);
		return;
	}
	json_array_foreach(nets, i, n) {
		const char *net = client_jstr(n, "net");
		uint32_t vni = (uint32_t)json_integer_value(json_object_get(n, "vni"));

		if (strcmp(client_jstr(n, "scenario"), ss->name) != 0 ||
		    GPOINTER_TO_UINT(g_hash_table_lookup(have, net)) == vni)
			continue;
		if (store_set_net_vni(st, ss->name, net, vni, &e) < 0) {
			out_err("warning: store: the VNI of net '%s' of '%s' is not recorded: %s",
			    net, ss->name, e->message);
			g_clear_error(&e);
		}
	}
}

/* heal_notes: for the VMs of rows that a "healed" event of the store's log (the newest 5000)
 * put on the host they run on now, why it is there: {"scenario/vm": msg text} (new) */
static GHashTable *
heal_notes(store *st, const GPtrArray *rows)
{
	GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autoptr(GPtrArray) evs = store_events(st, 0, 5000, NULL);

	for (guint i = 0; evs != NULL && i < evs->len; i++) {
		const store_event_row *ev = evs->pdata[i];
		json_auto_t *d = NULL;

		if (g_strcmp0(ev->type, "healed") != 0 || ev->scenario == NULL || ev->vm == NULL ||
		    ev->data == NULL || (d = json_loads(ev->data, 0, NULL)) == NULL)
			continue;
		for (guint k = 0; k < rows->len; k++) {
			const vm_where *r = rows->pdata[k];

			if (g_strcmp0(r->scenario, ev->scenario) != 0 || g_strcmp0(r->vm, ev->vm) != 0 ||
			    g_strcmp0(r->host, json_string_value(json_object_get(d, "dst"))) != 0)
				continue;
			g_hash_table_replace(h, g_strdup_printf("%s/%s", r->scenario, r->vm),
			    g_strdup_printf("restarted on %s after host %s was gone: its disk "
			    "changes since it started on %s were lost",
			    json_string_value(json_object_get(d, "dst")),
			    json_string_value(json_object_get(d, "src")),
			    json_string_value(json_object_get(d, "src"))));
		}
	}
	return h;
}

int
cmd_status(session *sess, int argc, char **argv)
{
	enum { OPT_CONFIG = 256 };
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const heads[] = { "scenario", "stored", "vm", "host", "state",
	    "config", "addresses" };
	const char *only = NULL;
	g_autoptr(GError) e = NULL;
	g_autoptr(GPtrArray) list = NULL;
	g_autoptr(GPtrArray) where = NULL;
	g_autoptr(GPtrArray) unanswered = NULL, silent = NULL;
	json_auto_t *hostnets = NULL;
	json_auto_t *nets = NULL;
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func(
	    (GDestroyNotify)vm_where_free);
	g_autoptr(GHashTable) used = g_hash_table_new(g_direct_hash, g_direct_equal);
	json_auto_t *scen = json_array();
	g_autoptr(GHashTable) notes = NULL;
	bool json = false, known = false;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = true;
			break;
		case OPT_CONFIG:
			sess->config = optarg;
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

	if (session_open(sess, SESSION_STORE) < 0)
		return sess->status;
	if ((list = store_list(sess->st, &e)) == NULL) {
		out_err("store: %s", e->message);
		return CLI_FAIL;
	}
	if (session_open(sess, SESSION_BUS) < 0)
		return sess->status;
	where = where_now(sess->c, &unanswered, &silent, &hostnets);
	for (guint i = 0; i < unanswered->len; i++)
		out_err("warning: %s", (char *)unanswered->pdata[i]);
	nets = nets_now(hostnets, only);

	/* every stored VM, in file order, where it is now */
	for (guint i = 0; i < list->len; i++) {
		store_scenario *ss = list->pdata[i];
		g_autoptr(diag) d = diag_new();
		g_autoptr(scenario) s = NULL;
		g_autoptr(GHashTable) placed = NULL, failed = NULL;

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
		else if (!json && strcmp(ss->state, "degraded") == 0)
			out_err("note: '%s' is degraded: some VMs failed to come up ('nube deploy "
			    "--retry-failed %s' tries them again)", ss->name, ss->name);
		failed = store_failed(sess->st, ss->name, NULL);
		s = scenario_parse_memory(ss->spec, strlen(ss->spec), ss->name, d);
		placed = store_placements(sess->st, ss->name, NULL);
		if (s != NULL)
			correct_placements(sess->st, ss, s, placed, where);
		if (unanswered->len == 0 && placed_live(sess->c, placed))
			record_vnis(sess->st, ss, nets);
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
				/* its deploy failed (degraded); its host down or silent: nobody
				 * knows; else it is not there */
				r->state = g_strdup(failed != NULL && g_hash_table_contains(failed,
				    vm->name) ? "failed" : ph != NULL && (!client_host_live(
				    client_host_get(sess->c, ph)) || where_silent(silent, ph)) ?
				    "unknown" : strcmp(ss->state, "deployed") == 0 ||
				    strcmp(ss->state, "degraded") == 0 ? "missing" : ss->state);
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
		return CLI_FAIL;
	}

	notes = heal_notes(sess->st, rows);
	if (json) {
		json_auto_t *root = json_object();
		json_t *arr = json_array();

		for (guint i = 0; i < rows->len; i++) {
			vm_where *r = rows->pdata[i];

			json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:s, s:O, s:O, s:b, s:o}",
			    "scenario", r->scenario, "vm", r->vm, "host", out_json_str(r->host),
			    "state", r->state, "addrs", r->addrs, "ifaces", r->ifaces,
			    "stored", r->stored, "scenario_state", out_json_str(r->sc_state)));
			json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "config",
			    out_json_str(r->config));
			{
				g_autofree char *key = g_strdup_printf("%s/%s", r->scenario, r->vm);
				const char *note = g_hash_table_lookup(notes, key);

				if (note != NULL)
					json_object_set_new(json_array_get(arr, json_array_size(arr) -
					    1), "healed", json_string(note));
			}
		}
		json_object_set_new(root, "scenarios", json_incref(scen));
		json_object_set_new(root, "vms", arr);
		json_object_set(root, "nets", nets);
		rc = out_json_print(root, stdout) < 0 ? CLI_FAIL : CLI_OK;
	} else {
		g_autoptr(out_table) t = out_table_new(7, heads);

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
			    r->vm, r->host, st, r->config, a->len ? a->str : NULL);
		}
		out_table_print(t, stdout);
		for (guint i = 0; i < rows->len; i++) {
			vm_where *r = rows->pdata[i];
			g_autofree char *key = g_strdup_printf("%s/%s", r->scenario, r->vm);
			const char *note = g_hash_table_lookup(notes, key);

			if (note != NULL)
				printf("note: '%s' of '%s' was %s\n", r->vm, r->scenario, note);
		}
		rc = CLI_OK;
	}
	return rc;
}

