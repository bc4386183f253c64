/* cmd_events: nube events — the store's event log and, with --follow, the agents' live
 * events; the agents' journals are imported first, so each event shows exactly once */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/import.h"
#include "cli/output.h"
#include "store/store.h"
#include "wire/topic.h"

static const char events_help[] =
"usage: nube events [--follow] [--json] [--since ID] [--limit N] [--config FILE]\n"
"Print the event log of the store: deploys and undeploys (written by nube itself) and\n"
"the agents' events (balancing decisions with their reasons, admissions and refusals,\n"
"migrations with duration and downtime, penalties, drains). First every live host's\n"
"journal is imported since the last of its events the store has, so each agent event\n"
"shows exactly once whether or not a follower ran when it happened; a host that is not\n"
"live gets a warning (its events come once it is back). With --follow, print every\n"
"event the agents publish from now on instead, recorded into the store, until\n"
"interrupted.\n"
"  -f, --follow       live events from the broker (recorded into the store)\n"
"  -j, --json         one JSON object per line\n"
"  -s, --since ID     only store events after ID (with --follow: the store's log is\n"
"                     printed first only when --since is given)\n"
"  -n, --limit N      only the last N store events\n"
"      --config FILE  client configuration\n";

typedef struct {
	store *st;
	bool json;
	bool catching_up;	/* the journals are being imported: live events wait in queue */
	GPtrArray *queue;	/* of json_t*, live events that came during the import */
	GHashTable *shown;	/* "host/seq" of the agent events printed already */
} follow_ctx;

static void
follow_clear(follow_ctx *f)
{
	if (f->queue != NULL)
		g_ptr_array_unref(f->queue);
	if (f->shown != NULL)
		g_hash_table_unref(f->shown);
	f->queue = NULL;
	f->shown = NULL;
}

/* shown_first: whether an agent event with a seq is printed here for the first time (and
 * note it); an event without one counts as new */
static bool
shown_first(follow_ctx *f, const char *host, int64_t seq)
{
	if (host == NULL || seq <= 0)
		return true;
	return g_hash_table_add(f->shown, g_strdup_printf("%s/%" PRId64, host, seq));
}

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

/* print_live: an agent event as published (or as its journal returns it) */
static void
print_live(const json_t *ev, bool json)
{
	if (json) {
		g_autofree char *s = json_dumps(ev, JSON_COMPACT);

		printf("%s\n", s);
	} else
		print_event_text(0, json_integer_value(json_object_get(ev, "ts")),
		    client_jstr(ev, "host"), client_jstr(ev, "type"), client_jstr(ev, "scenario"),
		    client_jstr(ev, "vm"), client_jstr(ev, "msg"));
	fflush(stdout);
}

/* follow_one: record a live event (once: the store may have it from an import, ours or
 * another nube's); print it unless this nube printed it already */
static void
follow_one(follow_ctx *f, const json_t *ev)
{
	g_autoptr(GError) e = NULL;

	if (import_event(f->st, ev, &e) < 0)
		out_err("events: not recorded: %s", e->message);
	if (shown_first(f, client_jstr(ev, "host"),
	    json_integer_value(json_object_get(ev, "seq"))))
		print_live(ev, f->json);
}

static void
on_event(bus *b, const bus_msg *m, void *ud)
{
	follow_ctx *f = ud;
	json_t *ev;

	(void)b;
	ev = json_loadb(m->payload, (size_t)MAX(m->len, 0), 0, NULL);
	if (ev == NULL || !json_is_object(ev)) {
		json_decref(ev);
		return;
	}
	if (f->catching_up)
		g_ptr_array_add(f->queue, ev);
	else {
		follow_one(f, ev);
		json_decref(ev);
	}
}

/* print_row: one event of the store's log */
static void
print_row(const store_event_row *r, bool json)
{
	if (json) {
		json_auto_t *o = json_pack("{s:I, s:I, s:s?, s:s?, s:s?, s:s?, s:s?}", "id",
		    (json_int_t)r->id, "ts", (json_int_t)r->ts_ms, "host", r->host, "type",
		    r->type, "scenario", r->scenario, "vm", r->vm, "msg", r->msg);
		json_t *data = r->data != NULL ? json_loads(r->data, 0, NULL) : NULL;
		g_autofree char *s = NULL;

		if (r->seq > 0)
			json_object_set_new(o, "seq", json_integer(r->seq));
		if (json_is_object(data))
			json_object_set_new(o, "data", data);
		else
			json_decref(data);
		s = json_dumps(o, JSON_COMPACT);
		printf("%s\n", s);
	} else
		print_event_text(r->id, r->ts_ms, r->host, r->type, r->scenario, r->vm, r->msg);
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
	json_auto_t *fresh = NULL;

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
	if (session_open(sess, SESSION_STORE) < 0)
		return sess->status;
	if (session_open(sess, SESSION_BUS) < 0) {
		if (follow)
			return sess->status;
		out_err("warning: the agents' journals are not imported; the store's log follows");
	} else {
		/* live events that come while the journals are read wait for the import, so
		 * none is lost in between and none printed twice (shown_first) */
		f = (follow_ctx){ .st = sess->st, .json = json, .catching_up = true,
		    .queue = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref),
		    .shown = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL) };
		if (follow && bus_subscribe(sess->c->bus, TOPIC_EVENTS, on_event, &f, &e) < 0) {
			out_err("events: %s", e->message);
			follow_clear(&f);
			return CLI_UNAVAILABLE;
		}
		if ((fresh = import_journals(sess->c, sess->st, &e)) == NULL) {
			out_err("events: %s", e->message);
			follow_clear(&f);
			return CLI_FAIL;
		}
	}
	if (!follow || since_given) {
		g_autoptr(GPtrArray) rows = store_events(sess->st, since, (int)limit, &e);

		if (rows == NULL) {
			out_err("events: %s", e->message);
			follow_clear(&f);
			return CLI_FAIL;
		}
		for (guint i = 0; i < rows->len; i++) {
			const store_event_row *r = rows->pdata[i];

			print_row(r, json);
			if (f.shown != NULL)
				shown_first(&f, r->host, r->seq);
		}
	}
	if (follow) {
		f.catching_up = false;
		for (guint i = 0; i < f.queue->len; i++)
			follow_one(&f, f.queue->pdata[i]);
		g_ptr_array_set_size(f.queue, 0);
		client_wait(never, NULL, -1);	/* until interrupted */
	}
	follow_clear(&f);
	return CLI_OK;
}
