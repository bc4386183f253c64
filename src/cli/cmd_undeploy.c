/* cmd_undeploy: nube undeploy — destroy a scenario on every live host and free its
 * allocations in the store */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"
#include "cli/stored.h"
#include "guestcfg/guestcfg.h"
#include "scenario/scenario.h"
#include "store/store.h"

#define UNDEPLOY_TIMEOUT_MS	60000

static const char undeploy_help[] =
"usage: nube undeploy SCENARIO [--force] [--no-on-shutdown] [--timeout S] [--config FILE]\n"
"\n"
"Destroy a scenario's VMs and networks on every live host (not only where it was\n"
"deployed: VMs may have migrated since) and free its allocations in the store.\n"
"First, as VNX does before it shuts VMs down, the on_shutdown sequence (filetrees and\n"
"execs with seq=\"on_shutdown\") runs in the VMs that have one, as `nube exec\n"
"SCENARIO on_shutdown` would; its failure is reported and does not stop the undeploy.\n"
"\n"
"When a host that ran part of the scenario is offline, the live hosts are cleaned but\n"
"the store keeps the scenario (state \"failed\") so its VNIs, MACs and addresses are not\n"
"handed out again while that host may still use them; run undeploy again when the host\n"
"is back, or use --force to forget the allocations anyway. --force also cleans the\n"
"hosts of a scenario the store does not know (e.g. after a failed roll back) and\n"
"undeploys one still in state \"deploying\" (refused otherwise: a deploy may be running).\n"
"\n"
"  -f, --force         forget the allocations even if a host could not be cleaned\n"
"      --no-on-shutdown  do not run the on_shutdown sequence\n"
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

/* run_on_shutdown: `nube exec NAME on_shutdown` when some VM of the stored scenario has an
 * element of that seq; 0 when none has or it succeeded everywhere */
static int
run_on_shutdown(session *sess, const char *name, int timeout_s)
{
	g_autoptr(scenario) s = NULL;
	g_autofree char *tmo = g_strdup_printf("%d", MIN(timeout_s, 30));
	char *argv[] = { "exec", (char *)name, GC_SEQ_ON_SHUTDOWN, "--timeout", tmo, NULL };
	store_scenario *ss = NULL;
	bool any = false;
	int rc;

	if ((s = stored_load(sess->st, name, &ss)) == NULL)
		return -1;
	store_scenario_free(ss);
	for (guint i = 0; i < s->vms->len && !any; i++) {
		const sc_vm *vm = s->vms->pdata[i];

		for (guint k = 0; k < vm->execs->len && !any; k++)
			any = guestcfg_seq_has(((sc_exec *)vm->execs->pdata[k])->seq,
			    GC_SEQ_ON_SHUTDOWN);
		for (guint k = 0; k < vm->filetrees->len && !any; k++)
			any = guestcfg_seq_has(((sc_filetree *)vm->filetrees->pdata[k])->seq,
			    GC_SEQ_ON_SHUTDOWN);
	}
	if (!any)
		return 0;
	printf("running the on_shutdown sequence of '%s'\n", name);
	fflush(stdout);
	optind = 0;	/* a fresh getopt scan of our own argv */
	rc = cmd_exec(sess, G_N_ELEMENTS(argv) - 1, argv);
	return rc == CLI_OK ? 0 : -1;
}

int
cmd_undeploy(session *sess, int argc, char **argv)
{
	enum { OPT_CONFIG = 256, OPT_NO_ON_SHUTDOWN };
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "no-on-shutdown", no_argument, NULL, OPT_NO_ON_SHUTDOWN },
		{ "timeout", required_argument, NULL, 't' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name;
	g_autoptr(GError) e = NULL;
	g_autoptr(GPtrArray) calls = NULL;
	g_autoptr(GHashTable) placed = NULL;
	g_autoptr(GPtrArray) offline = g_ptr_array_new_with_free_func(g_free);
	store_scenario *ss = NULL;
	bool force = false, failed = false, on_shutdown = true;
	int timeout_s = UNDEPLOY_TIMEOUT_MS / 1000, ch, rc;

	while ((ch = getopt_long(argc, argv, "ft:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			force = true;
			break;
		case 't':
			if (args_timeout(optarg, &timeout_s) < 0)
				return out_usage("undeploy", "--timeout wants seconds (1..86400)");
			break;
		case OPT_NO_ON_SHUTDOWN:
			on_shutdown = false;
			break;
		case OPT_CONFIG:
			sess->config = optarg;
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

	if (session_open(sess, SESSION_STORE) < 0)
		return sess->status;
	rc = CLI_FAIL;
	if ((ss = store_get(sess->st, name, &e)) == NULL) {
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
	if (session_open(sess, SESSION_BUS) < 0) {
		rc = sess->status;
		goto out;
	}

	if (ss != NULL && on_shutdown && (strcmp(ss->state, "deployed") == 0 ||
	    strcmp(ss->state, "degraded") == 0) && run_on_shutdown(sess, name, timeout_s) < 0)
		out_err("warning: the on_shutdown sequence of '%s' failed in some VM (above); "
		    "undeploying anyway", name);

	/* hosts the store placed VMs on that are not live now */
	if (ss != NULL) {
		GHashTableIter it;
		gpointer hv;
		g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

		if ((placed = store_placements(sess->st, name, &e)) == NULL) {
			out_err("store: %s", e->message);
			goto out;
		}
		g_hash_table_iter_init(&it, placed);
		while (g_hash_table_iter_next(&it, NULL, &hv))
			if (!client_host_live(client_host_get(sess->c, hv)) &&
			    g_hash_table_add(seen, hv))
				g_ptr_array_add(offline, g_strdup(hv));
		store_set_state(sess->st, name, "undeploying", NULL);
	}

	calls = client_call_live(sess->c, json_pack("{s:s, s:s}", "op", "undeploy", "scenario", name),
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

		store_set_state(sess->st, name, "failed", NULL);
		store_event(sess->st, cli_now_ms(), NULL, "undeploy-failed", name, NULL, msg, NULL);
		out_err("undeploy of '%s' incomplete: %s (state 'failed'; run undeploy again, or "
		    "--force)", name, msg);
		goto out;
	}
	if (store_delete(sess->st, name, &e) < 0) {
		out_err("store: %s", e->message);
		goto out;
	}
	store_event(sess->st, cli_now_ms(), NULL, "undeploy", name, NULL,
	    failed || offline->len > 0 ? "forced: some host was not cleaned" : NULL, NULL);
	printf("undeployed '%s'\n", name);
	rc = failed ? CLI_FAIL : CLI_OK;
out:
	store_scenario_free(ss);
	return rc;
}

