/* cmd_balance: the balancing commands — balance (plans of every host, --dry-run), drain HOST,
 * events (the store's log and, with --follow, the agents' live events) */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"
#include "cli/session.h"
#include "wire/topic.h"
#include "store/store.h"

#define PLAN_TIMEOUT_MS		15000

/* conn_open: config, then (bus) broker + discovery, then (st) the store; exit status or -1.
 * Errors are worded as for the live commands (session_open_conf). */
static int
conn_open(session *k, const char *config, bool bus, bool st)
{
	int rc;

	if ((rc = session_open_conf(k, config)) >= 0)
		return rc;
	if (bus && (rc = session_open_bus(k)) >= 0)
		return rc;
	if (st && (rc = session_open_store(k)) >= 0)
		return rc;
	return -1;
}

/* ------------------------------------------------------------------ balance */

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
cmd_balance(int argc, char **argv)
{
	enum { OPT_CONFIG = 256 };
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	bool json = false, dry = false;
	session k = { 0 };
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
			config = optarg;
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
	if ((rc = conn_open(&k, config, true, false)) >= 0) {
		session_clear(&k);
		return rc;
	}
	calls = client_call_live(k.c, json_pack("{s:s, s:b}", "op", "plan", "execute", !dry),
	    PLAN_TIMEOUT_MS, NULL, NULL);
	if (calls->len == 0) {
		out_err("no live host on %s", k.conf->url);
		session_clear(&k);
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
	session_clear(&k);
	return rc;
}

/* ------------------------------------------------------------------ drain */

static const char drain_help[] =
"usage: nube drain HOST [--cancel] [--json] [--timeout S] [--config FILE]\n"
"Move every running VM off HOST by live migration, each destination admitting it under\n"
"the usual rules (its load and memory stay under its thresholds). A drained host takes\n"
"no VMs any more until 'nube drain HOST --cancel' or its agent restarts. When HOST\n"
"cannot be emptied, says which VMs stayed and why (exit 1). Progress goes to stderr.\n"
"  -c, --cancel       the host takes VMs again\n"
"  -j, --json         the agent's final answer as JSON\n"
"  -t, --timeout S    give up after S seconds without news (default: client config)\n"
"      --config FILE  client configuration\n";

static void
drain_progress(client_call *call, const char *text, void *ud)
{
	(void)ud;
	fprintf(stderr, "%s: %s\n", call->host, text);
}

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
cmd_drain(int argc, char **argv)
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
	const char *config = NULL, *host;
	bool json = false, cancel = false;
	long timeout_s = 0;
	session k = { 0 };
	int ch, rc, pending = 0;
	client_call *call;
	char *end;

	while ((ch = getopt_long(argc, argv, "cjt:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cancel = true;
			break;
		case 'j':
			json = true;
			break;
		case 't':
			timeout_s = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || timeout_s < 1 || timeout_s > 86400)
				return out_usage("drain", "--timeout takes 1..86400 seconds");
			break;
		case OPT_CONFIG:
			config = optarg;
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
	if ((rc = conn_open(&k, config, true, false)) >= 0) {
		session_clear(&k);
		return rc;
	}
	if (client_host_get(k.c, host) == NULL || !client_host_live(client_host_get(k.c, host))) {
		out_err("drain: host '%s' is not live on %s", host, k.conf->url);
		session_clear(&k);
		return CLI_UNAVAILABLE;
	}
	if (timeout_s == 0)
		timeout_s = k.conf->timeout_s;
	call = client_call_start(k.c, host, json_pack("{s:s, s:b}", "op", "drain", "cancel",
	    cancel), (int)timeout_s * 1000, &pending, json ? NULL : drain_progress, NULL, NULL);
	k.c->on_online = drain_online;
	k.c->on_online_ud = call;
	client_wait_calls(&pending, NULL, -1);
	k.c->on_online = NULL;
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
	session_clear(&k);
	return rc;
}

/* ------------------------------------------------------------------ events */

static const char events_help[] =
"usage: nube events [--follow] [--json] [--since ID] [--limit N] [--config FILE]\n"
"Print the event log of the store: deploys and undeploys (written by nube itself) and\n"
"the agents' events that a 'nube events --follow' recorded. With --follow, also print\n"
"every event the agents publish from now on (balancing decisions with their reasons,\n"
"admissions and refusals, migrations with duration and downtime, penalties, drains)\n"
"and record each into the store, until interrupted.\n"
"  -f, --follow       live events from the broker (recorded into the store)\n"
"  -j, --json         one JSON object per line\n"
"  -s, --since ID     only store events after ID (with --follow: the store's log is\n"
"                     printed first only when --since is given)\n"
"  -n, --limit N      only the last N store events\n"
"      --config FILE  client configuration\n";

typedef struct {
	store *st;
	bool json;
} follow_ctx;

static void
print_event_text(int64_t id, int64_t ts_ms, const char *host, const char *type,
    const char *scen, const char *vm, const char *msg)
{
	GDateTime *dt = g_date_time_new_from_unix_local(ts_ms / 1000);
	g_autofree char *when = dt != NULL ? g_date_time_format(dt, "%F %T") : g_strdup("?");
	g_auto(GStrv) lines = g_strsplit(msg != NULL ? msg : "", "\n", -1);

	if (dt != NULL)
		g_date_time_unref(dt);
	if (id > 0)
		printf("%" PRId64 " ", id);
	printf("%s.%03d %s %s", when, (int)(ts_ms % 1000), host != NULL ? host : "nube",
	    type != NULL ? type : "?");
	if (scen != NULL || vm != NULL)
		printf(" %s%s%s", scen != NULL ? scen : "", vm != NULL ? "/" : "",
		    vm != NULL ? vm : "");
	printf(": %s\n", lines[0] != NULL ? lines[0] : "");
	for (int l = 1; lines[0] != NULL && lines[l] != NULL; l++)
		if (lines[l][0] != '\0')
			printf("    %s\n", lines[l]);
}

static void
on_event(bus *b, const bus_msg *m, void *ud)
{
	follow_ctx *f = ud;
	json_t *ev;
	g_autoptr(GError) e = NULL;

	(void)b;
	ev = json_loadb(m->payload, (size_t)MAX(m->len, 0), 0, NULL);
	if (ev == NULL || !json_is_object(ev)) {
		json_decref(ev);
		return;
	}
	if (f->st != NULL && store_event(f->st, json_integer_value(json_object_get(ev, "ts")),
	    client_jstr(ev, "host"), client_jstr(ev, "type"), client_jstr(ev, "scenario"),
	    client_jstr(ev, "vm"), client_jstr(ev, "msg"), &e) < 0)
		out_err("events: not recorded: %s", e->message);
	if (f->json) {
		g_autofree char *s = json_dumps(ev, JSON_COMPACT);

		printf("%s\n", s);
	} else
		print_event_text(0, json_integer_value(json_object_get(ev, "ts")),
		    client_jstr(ev, "host"), client_jstr(ev, "type"), client_jstr(ev, "scenario"),
		    client_jstr(ev, "vm"), client_jstr(ev, "msg"));
	fflush(stdout);
	json_decref(ev);
}

static bool
never(void *ud)
{
	(void)ud;
	return false;
}

int
cmd_events(int argc, char **argv)
{
	enum { OPT_CONFIG = 256 };
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "since", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'n' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	bool json = false, follow = false, since_given = false;
	long long since = 0, limit = 0;
	session k = { 0 };
	int ch, rc;
	char *end;
	g_autoptr(GError) e = NULL;
	follow_ctx f = { 0 };

	while ((ch = getopt_long(argc, argv, "fjs:n:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			follow = true;
			break;
		case 'j':
			json = true;
			break;
		case 's':
			since = strtoll(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || since < 0)
				return out_usage("events", "--since takes an event id (>= 0)");
			since_given = true;
			break;
		case 'n':
			limit = strtoll(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || limit < 1 || limit > 1000000)
				return out_usage("events", "--limit takes 1..1000000");
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case 'h':
			fputs(events_help, stdout);
			return CLI_OK;
		default:
			return out_usage("events", NULL);
		}
	}
	if (optind != argc)
		return out_usage("events", "no arguments expected");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((rc = conn_open(&k, config, follow, true)) >= 0) {
		session_clear(&k);
		return rc;
	}
	if (!follow || since_given) {
		g_autoptr(GPtrArray) rows = store_events(k.st, since, (int)limit, &e);

		if (rows == NULL) {
			out_err("events: %s", e->message);
			session_clear(&k);
			return CLI_FAIL;
		}
		for (guint i = 0; i < rows->len; i++) {
			const store_event_row *r = rows->pdata[i];

			if (json) {
				json_auto_t *o = json_pack("{s:I, s:I, s:s?, s:s?, s:s?, s:s?, s:s?}", "id",
				    (json_int_t)r->id, "ts", (json_int_t)r->ts_ms, "host", r->host,
				    "type", r->type, "scenario", r->scenario, "vm", r->vm, "msg",
				    r->msg);
				g_autofree char *s = json_dumps(o, JSON_COMPACT);

				printf("%s\n", s);
			} else
				print_event_text(r->id, r->ts_ms, r->host, r->type, r->scenario, r->vm,
				    r->msg);
		}
	}
	if (follow) {
		f.st = k.st;
		f.json = json;
		if (bus_subscribe(k.c->bus, TOPIC_EVENTS, on_event, &f, &e) < 0) {
			out_err("events: %s", e->message);
			session_clear(&k);
			return CLI_UNAVAILABLE;
		}
		client_wait(never, NULL, -1);	/* until interrupted */
	}
	session_clear(&k);
	return CLI_OK;
}
