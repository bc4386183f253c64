/* cmd_hosts: nube hosts — the hosts known to the broker, their load and memory */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"

static const char hosts_help[] =
"usage: nube hosts [--json] [--config FILE]\n"
"\n"
"List the hosts known to the broker (their retained online and state messages): CPUs,\n"
"load, memory, VMs, mode and fabric address. A host is online when its agent is\n"
"connected and its last state is recent (within 3 telemetry intervals). Its mode is\n"
"active, standby (emptied by consolidation: takes no VMs until woken), leaving (drain or\n"
"evacuation running) or drained.\n"
"\n"
"  -j, --json          machine-readable output (a stable interface)\n"
"      --config FILE   client config (default $NUBE_CONFIG, " CLIENT_CONF_SYSTEM ",\n"
"                      " CLIENT_CONF_LAB ")\n"
"  -h, --help          this help\n"
"\n"
"Exit status: 0 listed, 3 broker unreachable.\n";

/* mode: what the host's balancer says it is doing with its VMs */
static const char *
mode(const host_state *st)
{
	const json_t *b = st != NULL ? st->balance : NULL;

	if (b == NULL)
		return NULL;
	if (json_is_true(json_object_get(b, "standby")))
		return "standby";
	if (json_is_true(json_object_get(b, "leaving")))
		return "leaving";
	if (json_is_true(json_object_get(b, "drained")))
		return "drained";
	return "active";
}

/* what a host without a (valid) state shows in --json: zeros, no fabric address */
static const host_state no_state;

static int
nvms(const host_state *st)
{
	return st->vms != NULL ? (int)st->vms->len : 0;
}

int
cmd_hosts(session *s, int argc, char **argv)
{
	enum { OPT_CONFIG = 256 };
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const heads[] = { "host", "online", "cpus", "load", "mem", "vms",
	    "mode", "fabric" };
	bool json = false;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = true;
			break;
		case OPT_CONFIG:
			s->config = optarg;
			break;
		case 'h':
			fputs(hosts_help, stdout);
			return CLI_OK;
		default:
			return out_usage("hosts", NULL);
		}
	}
	if (optind != argc)
		return out_usage("hosts", "no arguments expected");
	if (session_open(s, SESSION_BUS) < 0)
		return s->status;

	g_autoptr(GPtrArray) hosts = client_hosts_sorted(s->c, false);
	if (json) {
		json_auto_t *root = json_object();
		json_t *arr = json_array();

		for (guint i = 0; i < hosts->len; i++) {
			const client_host *h = hosts->pdata[i];
			const host_state *st = h->state != NULL ? h->state : &no_state;
			json_t *cpus = st->cpus == (double)(json_int_t)st->cpus ?
			    json_integer((json_int_t)st->cpus) : json_real(st->cpus);

			json_array_append_new(arr, json_pack("{s:s, s:b, s:o, s:f, s:I, s:I, s:I, s:I,"
			    " s:i, s:o}",
			    "host", h->name, "online", client_host_live(h), "cpus", cpus,
			    "load", st->load, "mem_total_mib", (json_int_t)st->mem_total_mib,
			    "mem_used_mib", (json_int_t)st->mem_used_mib,
			    "mem_promised_mib", (json_int_t)st->mem_promised_mib,
			    "mem_reserve_mib", (json_int_t)st->mem_reserve_mib, "vms", nvms(st),
			    "fabric_addr", out_json_str(st->fabric_addr)));
			json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "mode",
			    out_json_str(mode(h->state)));
		}
		json_object_set_new(root, "hosts", arr);
		rc = out_json_print(root, stdout) < 0 ? CLI_FAIL : CLI_OK;
	} else {
		g_autoptr(out_table) t = out_table_new(8, heads);

		for (int col = 2; col <= 5; col++)
			out_table_right(t, col);
		for (guint i = 0; i < hosts->len; i++) {
			const client_host *h = hosts->pdata[i];
			const host_state *st = h->state;
			const char *on = client_host_live(h) ? "yes" : h->online ? "stale" : "no";

			if (st == NULL) {
				out_table_addv(t, h->name, on, NULL, NULL, NULL, NULL, NULL, NULL);
			} else {
				g_autofree char *cpus = g_strdup_printf("%g", st->cpus);
				g_autofree char *load = g_strdup_printf("%.2f", st->load);
				g_autofree char *mem = g_strdup_printf("%" PRIu64 "/%" PRIu64,
				    st->mem_used_mib, st->mem_total_mib);
				g_autofree char *vms = g_strdup_printf("%d", nvms(st));

				out_table_addv(t, h->name, on, cpus, load, mem, vms, mode(st),
				    st->fabric_addr);
			}
		}
		out_table_print(t, stdout);
		if (hosts->len == 0)
			fprintf(stderr, "nube: no host has announced itself on %s\n", s->conf->url);
		rc = CLI_OK;
	}
	return rc;
}

