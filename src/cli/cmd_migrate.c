/* cmd_migrate: nube migrate — move one VM of a deployed scenario to another host by hand,
 * through the destination's admission (or forced), and record its new host in the store */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "cli/stored.h"
#include "cli/where.h"
#include "scenario/scenario.h"
#include "store/store.h"
#include "wire/names.h"

static const char migrate_help[] =
"usage: nube migrate SCENARIO VM [--to HOST] [--force] [--json] [--timeout S]\n"
"                    [--config FILE]\n"
"\n"
"Move the running VM of a deployed scenario by live migration from the host it runs on\n"
"now to HOST, or without --to to the host its agent's balancer finds best. A container\n"
"(type=\"lxc\") moves cold: stopped, its copy-on-write layer copied, started on HOST\n"
"(unless the source's nubed.conf says [balance] move-containers = never). The\n"
"destination admits it under its usual thresholds (load and memory) unless --force.\n"
"The agent's progress is printed on stderr; at the end the source, destination,\n"
"duration and downtime. The store then records the VM's new host.\n"
"\n"
"  -t, --to HOST       the destination (default: the balancer's best host)\n"
"  -f, --force         the destination admits the VM even above its thresholds\n"
"  -j, --json          the result as JSON: {\"scenario\", \"vm\", \"src\", \"dst\", \"status\",\n"
"                      \"duration_ms\", \"downtime_ms\", \"cold\", \"why\"} (a cold move:\n"
"                      both times are its interruption)\n"
"      --timeout S     give up after S seconds without news from the agent (default\n"
"                      [deploy] timeout of the config, else 120)\n"
"      --config FILE   client config\n"
"  -h, --help          this help\n"
"\n"
"Exit status: 0 moved; 1 not deployed, not running, refused or failed (the agent's\n"
"reason is printed); 2 bad command line; 3 broker unreachable or a host not live.\n";

/* src_online: the source's agent went offline (its last will): nobody will answer */
static void
src_online(const char *host, bool online, void *ud)
{
	client_call *call = ud;

	if (!online && !call->done && strcmp(host, call->host) == 0) {
		g_autofree char *why = g_strdup_printf("host '%s' went offline during the "
		    "migration (its agent stopped or lost its broker connection)", host);

		client_call_abandon(call, why);
	}
}

/* move_of: the one move of an agent's migrate reply ("moves", or "results"), or NULL */
static const json_t *
move_of(const json_t *reply)
{
	const json_t *a = json_object_get(reply, "moves");

	if (!json_is_array(a))
		a = json_object_get(reply, "results");
	a = json_array_get(a, 0);
	return json_is_object(a) ? a : NULL;
}

static json_int_t
jint(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

int
cmd_migrate(session *sess, int argc, char **argv)
{
	enum { OPT_CONFIG = 256, OPT_TIMEOUT };
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name, *vm, *to = NULL, *dst, *why;
	g_autoptr(scenario) s = NULL;
	g_autoptr(GPtrArray) where = NULL;
	g_autoptr(GPtrArray) unanswered = NULL;
	g_autoptr(GError) e = NULL;
	g_autofree char *domain = NULL;
	g_autofree char *src = NULL;
	const json_t *mv;
	json_t *req;
	vm_where *w;
	client_call *call;
	bool json = false, force = false, moved;
	int timeout_s = 0, pending = 0, ch, rc;

	while ((ch = getopt_long(argc, argv, "t:fjh", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			to = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'j':
			json = true;
			break;
		case OPT_TIMEOUT:
			if (args_timeout(optarg, &timeout_s) < 0)
				return out_usage("migrate", "--timeout wants seconds (1..86400)");
			break;
		case OPT_CONFIG:
			sess->config = optarg;
			break;
		case 'h':
			fputs(migrate_help, stdout);
			return CLI_OK;
		default:
			return out_usage("migrate", NULL);
		}
	}
	if (optind != argc - 2)
		return out_usage("migrate", "SCENARIO and VM expected");
	name = argv[optind];
	vm = argv[optind + 1];
	if ((rc = out_check_name("migrate", "scenario", name, false)) != 0 ||
	    (rc = out_check_name("migrate", "vm", vm, false)) != 0 ||
	    (to != NULL && (rc = out_check_name("migrate", "host", to, true)) != 0))
		return rc;

	/* the store knows the VM; the hosts say where it runs now */
	if (session_open(sess, SESSION_STORE) < 0)
		return sess->status;
	if ((s = stored_load(sess->st, name, NULL)) == NULL)
		return CLI_FAIL;
	if (scenario_vm(s, vm) == NULL) {
		out_err("scenario '%s' has no VM '%s'", name, vm);
		return CLI_FAIL;
	}
	if (session_open(sess, SESSION_BUS) < 0)
		return sess->status;
	if (to != NULL && !client_host_live(client_host_get(sess->c, to))) {
		out_err("migrate: host '%s' is not live on %s", to, sess->conf->url);
		return CLI_UNAVAILABLE;
	}
	where = where_now(sess->c, &unanswered, NULL, NULL);
	for (guint i = 0; i < unanswered->len; i++)
		out_err("warning: %s", (char *)unanswered->pdata[i]);
	if ((w = where_find(where, name, vm)) == NULL) {
		out_err("VM '%s' of '%s' is not running on any live host (see 'nube status')", vm,
		    name);
		return CLI_FAIL;
	}
	src = g_strdup(w->host);
	if (to != NULL && strcmp(to, src) == 0) {
		out_err("VM '%s' of '%s' runs on '%s' already", vm, name, src);
		return CLI_FAIL;
	}

	/* the source's agent moves it and answers at the end */
	domain = proto_domain_name(name, vm);
	req = json_pack("{s:s, s:s, s:b}", "op", "migrate", "vm", domain, "force", force);
	if (to != NULL)
		json_object_set_new(req, "dst", json_string(to));
	if (timeout_s == 0)
		timeout_s = sess->conf->timeout_s;
	if (!json)
		fprintf(stderr, "migrating '%s' of '%s' from %s%s%s\n", vm, name, src,
		    to != NULL ? " to " : "", to != NULL ? to : "");
	call = client_call_start(sess->c, src, req, timeout_s * 1000, &pending,
	    json ? NULL : progress_print, NULL, NULL);
	sess->c->on_online = src_online;
	sess->c->on_online_ud = call;
	client_wait_calls(&pending, NULL, -1);
	sess->c->on_online = NULL;

	mv = move_of(call->reply);
	moved = call->ok && mv != NULL && g_strcmp0(client_jstr(mv, "status"), "moved") == 0;
	dst = mv != NULL && client_jstr(mv, "dst") != NULL ? client_jstr(mv, "dst") : to;
	why = mv != NULL && client_jstr(mv, "why") != NULL && !moved ? client_jstr(mv, "why") :
	    call->error;
	if (moved && dst != NULL && store_set_placement(sess->st, name, vm, dst, &e) < 0)
		out_err("warning: store: the new host of '%s' is not recorded: %s", vm,
		    e->message);
	if (json) {
		json_auto_t *o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:I, s:I, s:b}", "scenario", name,
		    "vm", vm, "src", src, "dst", out_json_str(dst), "status", mv != NULL &&
		    client_jstr(mv, "status") != NULL ? client_jstr(mv, "status") : "failed",
		    "duration_ms", mv != NULL ? jint(mv, "duration_ms") : (json_int_t)-1,
		    "downtime_ms", mv != NULL ? jint(mv, "downtime_ms") : (json_int_t)-1, "cold",
		    mv != NULL && json_is_true(json_object_get(mv, "cold")));

		if (!moved)
			json_object_set_new(o, "why", out_json_str(why != NULL ? why : "failed"));
		if (out_json_print(o, stdout) < 0)
			return CLI_FAIL;
	} else if (moved && json_is_true(json_object_get(mv, "cold"))) {
		printf("'%s' of '%s' moved cold from %s to %s: stopped, its layer copied, started "
		    "there; interrupted %" JSON_INTEGER_FORMAT " ms\n", vm, name, src, dst,
		    jint(mv, "downtime_ms"));
	} else if (moved) {
		printf("'%s' of '%s' moved from %s to %s in %" JSON_INTEGER_FORMAT " ms (downtime %"
		    JSON_INTEGER_FORMAT " ms)\n", vm, name, src, dst, jint(mv, "duration_ms"),
		    jint(mv, "downtime_ms"));
	}
	if (!moved) {
		out_err("migrate '%s' of '%s': %s", vm, name, why != NULL ? why : "failed");
		return CLI_FAIL;
	}
	return CLI_OK;
}
