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
	    "addresses" };
	const char *only = NULL;
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
	where = where_now(sess->c, &unanswered);
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
		placed = store_placements(sess->st, ss->name, NULL);
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
				r->state = g_strdup(ph != NULL && !client_host_live(client_host_get(sess->c,
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
		return CLI_FAIL;
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
	return rc;
}

