/* cmd_drain: nube drain — move every VM off a host, or let it take VMs again (--cancel) */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/import.h"
#include "cli/output.h"
#include "cli/progress.h"

static const char drain_help[] =
"usage: nube drain HOST [--cancel] [--json] [--timeout S] [--config FILE]\n"
"Move every running VM off HOST by live migration, each destination admitting it under\n"
"the usual rules (its load and memory stay under its thresholds). A drained host takes\n"
"no VMs any more until 'nube drain HOST --cancel' or its agent restarts. When HOST\n"
"cannot be emptied, says which VMs stayed and why (exit 1). Progress goes to stderr.\n"
"The store records the new host of every VM that moved.\n"
"  -c, --cancel       the host takes VMs again\n"
"  -j, --json         the agent's final answer as JSON\n"
"  -t, --timeout S    give up after S seconds without news (default: client config)\n"
"      --config FILE  client configuration\n";

/* drain_online: the drained host's agent went offline (its last will): the drain stopped
 * there, nobody will answer; end the call at once instead of waiting for its timeout */
static void
drain_online(const char *host, bool online, void *ud)
{
	client_call *call = ud;

	if (!online && call != NULL && !call->done && strcmp(host, call->host) == 0) {
		g_autofree char *why = g_strdup_printf("host '%s' went offline during the drain "
		    "(its agent stopped or lost its broker connection): the drain ended there, VMs "
		    "may be left on it", host);

		client_call_abandon(call, why);
	}
}

int
cmd_drain(session *sess, int argc, char **argv)
{
	enum { OPT_CONFIG = 256 };
	static const struct option opts[] = {
		{ "cancel", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *host;
	bool json = false, cancel = false;
	int timeout_s = 0;
	int ch, rc, pending = 0;
	client_call *call;

	while ((ch = getopt_long(argc, argv, "cjt:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cancel = true;
			break;
		case 'j':
			json = true;
			break;
		case 't':
			if (args_timeout(optarg, &timeout_s) < 0)
				return out_usage("drain", "--timeout takes 1..86400 seconds");
			break;
		case OPT_CONFIG:
			sess->config = optarg;
			break;
		case 'h':
			fputs(drain_help, stdout);
			return CLI_OK;
		default:
			return out_usage("drain", NULL);
		}
	}
	if (optind != argc - 1)
		return out_usage("drain", "one HOST expected");
	host = argv[optind];
	if ((rc = out_check_name("drain", "host", host, true)) != 0)
		return rc;
	if (session_open(sess, SESSION_BUS) < 0)
		return sess->status;
	if (client_host_get(sess->c, host) == NULL || !client_host_live(client_host_get(sess->c, host))) {
		out_err("drain: host '%s' is not live on %s", host, sess->conf->url);
		return CLI_UNAVAILABLE;
	}
	if (timeout_s == 0)
		timeout_s = sess->conf->timeout_s;
	call = client_call_start(sess->c, host, json_pack("{s:s, s:b}", "op", "drain", "cancel",
	    cancel), timeout_s * 1000, &pending, json ? NULL : progress_print, NULL, NULL);
	sess->c->on_online = drain_online;
	sess->c->on_online_ud = call;
	client_wait_calls(&pending, NULL, -1);
	sess->c->on_online = NULL;
	/* the store follows the VMs that moved, also when the drain did not finish */
	if (json_array_size(json_object_get(call->reply, "moves")) > 0 &&
	    session_open(sess, SESSION_STORE) == 0)
		import_moves(sess->st, json_object_get(call->reply, "moves"));
	if (json && call->reply != NULL) {
		if (out_json_print(call->reply, stdout) < 0)
			rc = CLI_FAIL;
	}
	if (!call->ok) {
		out_err("drain %s: %s", host, call->error != NULL ? call->error : "failed");
		rc = CLI_FAIL;
	} else {
		const json_t *moves = json_object_get(call->reply, "moves"), *mv;
		size_t i;
		int n = 0;

		json_array_foreach(moves, i, mv)
			if (g_strcmp0(client_jstr(mv, "status"), "moved") == 0)
				n++;
		if (!json)
			printf(cancel ? "%s takes VMs again\n" : "%s drained: %d VM(s) moved\n", host,
			    n);
		rc = CLI_OK;
	}
	return rc;
}
