/* cmd_balance: nube balance — every live host's balancing plan and reasons (--dry-run), or
 * start the plans of the hosts over a threshold */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"

#define PLAN_TIMEOUT_MS		15000

static const char balance_help[] =
"usage: nube balance [--dry-run] [--json] [--config FILE]\n"
"Ask every live host what its balancer would do now and why: its load against the\n"
"threshold, its detection state and penalty, and the moves of its plan (VM, destination,\n"
"predicted loads, reasons). Hosts under every threshold have nothing to do.\n"
"Without --dry-run, hosts over a threshold start their plan at once (skipping the\n"
"alarm count, not the admission of each destination); the migrations show in\n"
"'nube events'.\n"
"  -n, --dry-run      only recommend: nothing moves\n"
"  -j, --json         one JSON document {\"hosts\": [...], \"failed\": [...]}\n"
"      --config FILE  client configuration\n";

int
cmd_balance(session *sess, int argc, char **argv)
{
	enum { OPT_CONFIG = 256 };
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false, dry = false;
	int ch, rc;
	g_autoptr(GPtrArray) calls = NULL;

	while ((ch = getopt_long(argc, argv, "njh", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			dry = true;
			break;
		case 'j':
			json = true;
			break;
		case OPT_CONFIG:
			sess->config = optarg;
			break;
		case 'h':
			fputs(balance_help, stdout);
			return CLI_OK;
		default:
			return out_usage("balance", NULL);
		}
	}
	if (optind != argc)
		return out_usage("balance", "no arguments expected");
	if (session_open(sess, SESSION_BUS) < 0)
		return sess->status;
	calls = client_call_live(sess->c, json_pack("{s:s, s:b}", "op", "plan", "execute", !dry),
	    PLAN_TIMEOUT_MS, NULL, NULL);
	if (calls->len == 0) {
		out_err("no live host on %s", sess->conf->url);
		return CLI_UNAVAILABLE;
	}
	rc = CLI_OK;
	if (json) {
		json_auto_t *root = json_object();
		json_t *arr = json_array(), *failed = json_array();

		for (guint i = 0; i < calls->len; i++) {
			const client_call *c = calls->pdata[i];

			if (c->ok) {
				json_t *r = json_deep_copy(c->reply);

				json_object_del(r, "ok");
				json_object_del(r, "text");
				json_object_del(r, "consolidate_text");
				json_array_append_new(arr, r);
			} else {
				json_array_append_new(failed, json_pack("{s:s, s:s}", "host", c->host,
				    "error", c->error != NULL ? c->error : "failed"));
				rc = CLI_FAIL;
			}
		}
		json_object_set_new(root, "dry_run", json_boolean(dry));
		json_object_set_new(root, "hosts", arr);
		json_object_set_new(root, "failed", failed);
		if (out_json_print(root, stdout) < 0)
			rc = CLI_FAIL;
	} else {
		for (guint i = 0; i < calls->len; i++) {
			const client_call *c = calls->pdata[i];
			const json_t *r = c->reply, *pen;
			const char *note, *text;

			if (!c->ok) {
				printf("%s: no answer: %s\n", c->host, c->error != NULL ? c->error :
				    "failed");
				rc = CLI_FAIL;
				continue;
			}
			pen = json_object_get(json_object_get(r, "balance"), "penalty");
			printf("%s: load %.2f (threshold %.2f), state %s", c->host,
			    json_number_value(json_object_get(r, "load")),
			    json_number_value(json_object_get(r, "threshold")),
			    client_jstr(r, "state") != NULL ? client_jstr(r, "state") : "?");
			if (json_is_true(json_object_get(pen, "active")))
				printf(", penalised %.0f s more (failure %d)",
				    json_number_value(json_object_get(pen, "remaining")),
				    (int)json_integer_value(json_object_get(pen, "failures")));
			printf("\n");
			note = client_jstr(r, "note");
			text = client_jstr(r, "text");
			if (note != NULL)
				printf("  %s\n", note);
			if (text == NULL && client_jstr(r, "consolidate_text") != NULL) {
				printf("  consolidation plan (light samples in a row: %d):\n",
				    (int)json_integer_value(json_object_get(r,
				    "consolidate_low_count")));
				text = client_jstr(r, "consolidate_text");
			}
			if (text != NULL) {
				g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

				for (int l = 0; lines[l] != NULL; l++)
					if (lines[l][0] != '\0')
						printf("  %s\n", lines[l]);
			}
			if (json_is_true(json_object_get(r, "started")))
				printf("  started: see 'nube events'\n");
		}
		if (dry)
			printf("(dry run: nothing was moved)\n");
	}
	return rc;
}
