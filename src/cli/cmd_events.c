/* cmd_events: nube events — the store's event log and, with --follow, the agents' live
 * events (recorded into the store) */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"
#include "store/store.h"
#include "wire/topic.h"

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
cmd_events(session *sess, int argc, char **argv)
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
	bool json = false, follow = false, since_given = false;
	long long since = 0, limit = 0;
	int ch;
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
			sess->config = optarg;
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
	if (session_open(sess, (follow ? SESSION_BUS : 0) | SESSION_STORE) < 0)
		return sess->status;
	if (!follow || since_given) {
		g_autoptr(GPtrArray) rows = store_events(sess->st, since, (int)limit, &e);

		if (rows == NULL) {
			out_err("events: %s", e->message);
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
		f.st = sess->st;
		f.json = json;
		if (bus_subscribe(sess->c->bus, TOPIC_EVENTS, on_event, &f, &e) < 0) {
			out_err("events: %s", e->message);
			return CLI_UNAVAILABLE;
		}
		client_wait(never, NULL, -1);	/* until interrupted */
	}
	return CLI_OK;
}
