/* nubed: the nube host agent — options, config, then the parts wired together on one main
 * loop: broker session, rpc, telemetry timer feeding the balancer, signals */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "agent/env.h"
#include "agent/heal.h"
#include "agent/mape.h"
#include "agent/nubed.h"
#include "agent/rpc.h"
#include "agent/telemetry.h"

#define INOTIFY_INSTANCES	"/proc/sys/fs/inotify/max_user_instances"
#define INOTIFY_INSTANCES_FEW	1024	/* fewer: a warning for hosts that run containers */

/* ---- broker session ---- */

static void
on_bus_error(const char *msg, void *ud)
{
	(void)ud;
	nubed_log(NLOG_WARN, "%s", msg);
}

static void
on_connection(bus *b, bool connected, void *ud)
{
	nubed *n = ud;
	GError *err = NULL;

	if (!connected) {
		nubed_log(NLOG_WARN, "broker connection lost; VMs keep running, reconnecting");
		return;
	}
	nubed_log(NLOG_INFO, "connected to broker %s", n->cfg->broker_url);
	if (bus_publish(b, n->online_topic, "1", 1, 1, true, &err) < 0) {
		nubed_log(NLOG_WARN, "online: %s", err->message);
		g_clear_error(&err);
	}
	/* the last state at once (retained), then a fresh round */
	if (n->last_state != NULL) {
		json_object_set_new(n->last_state, "ts", json_integer(g_get_real_time() / 1000));
		bus_publish_json(b, n->state_topic, n->last_state, 1, true, NULL);
	}
	telemetry_start(n);
}

static gboolean
on_tick(gpointer p)
{
	telemetry_start(p);
	return G_SOURCE_CONTINUE;
}

static gboolean
quit_now(gpointer p)
{
	nubed *n = p;

	g_main_loop_quit(n->loop);
	return G_SOURCE_REMOVE;
}

/* evacuation over: a second for the last events and state to leave, then quit */
static void
evacuated(void *p)
{
	g_timeout_add(1000, quit_now, p);
}

static gboolean
on_signal(gpointer p)
{
	nubed *n = p;

	if (mape_leave(n->mape, evacuated, n)) {	/* [balance] evacuate: VMs move first */
		nubed_log(NLOG_INFO, "signal: evacuating every VM before leaving (signal again to "
		    "leave now)");
		return G_SOURCE_CONTINUE;
	}
	nubed_log(NLOG_INFO, "signal: leaving the group (VMs are left running)");
	g_main_loop_quit(n->loop);
	return G_SOURCE_REMOVE;
}

/* restart: what this host already runs is read back from libvirt and the kernel */
static void
inventory(nubed *n)
{
	GError *err = NULL;
	virt *v = nubed_virt_open(n, &err);
	netdev *nd = NULL;
	g_autoptr(GPtrArray) doms = NULL, nets = NULL;

	if (v == NULL || (doms = n->env->virt_list(v, &err)) == NULL) {
		nubed_log(NLOG_WARN, "libvirt %s: %s (will retry every interval)",
		    n->cfg->libvirt_uri, err->message);
		g_clear_error(&err);
	} else {
		nubed_log(NLOG_INFO, "libvirt %s: domain type %s, %u nube domain%s", n->cfg->libvirt_uri,
		    n->env->virt_domain_type(v), doms->len, doms->len == 1 ? "" : "s");
		if (n->env->virt_pool_ensure(v, &err) < 0) {
			nubed_log(NLOG_WARN, "disks: %s (VMs with images cannot start here)",
			    err->message);
			g_clear_error(&err);
		} else {
			nubed_log(NLOG_INFO, "disks: storage pool '%s' on %s", VIRT_POOL,
			    n->cfg->disk_dir);
		}
		/* said once: type="lxc" VMs are containers here, or why not */
		if (n->cfg->lxc_uri == NULL)
			nubed_log(NLOG_INFO, "containers: off ([nubed] lxc_uri is empty)");
		else if (n->env->virt_lxc_probe != NULL && n->env->virt_lxc_probe(v, &err) == 0) {
			g_autofree char *ino = NULL;
			long k;

			nubed_log(NLOG_INFO, "containers: libvirt's LXC driver on %s runs them (layers "
			    "in %s)", n->cfg->lxc_uri, n->cfg->container_dir);
			/* systemd in a container takes inotify instances from root's share (no user
			 * namespace of its own): Debian's 128 lets about two dozen run */
			if (g_file_get_contents(INOTIFY_INSTANCES, &ino, NULL, NULL) &&
			    (k = strtol(ino, NULL, 10)) > 0 && k < INOTIFY_INSTANCES_FEW)
				nubed_log(NLOG_WARN, "containers: %s is %ld: containers share it with "
				    "root, systemd takes ~5 each, so only about %ld of them run here "
				    "(raise it with sysctl fs.inotify.max_user_instances)",
				    INOTIFY_INSTANCES, k, k / 5);
		} else {
			nubed_log(NLOG_WARN, "containers: this host cannot run them: %s; type=\"lxc\" "
			    "VMs are %s", err != NULL ? err->message : "no LXC probe",
			    n->cfg->container_fallback ? "run as QEMU guests ([guest] container_fallback)" :
			    "refused here");
			g_clear_error(&err);
		}
		for (guint i = 0; i < doms->len; i++) {
			const virt_dom_info *di = g_ptr_array_index(doms, i);

			nubed_log(NLOG_INFO, "  domain %s (%s/%s) %s", di->domain, di->scenario,
			    di->vm, di->state);
		}
	}
	nd = n->env->net_open(n, &err);
	if (nd == NULL || (nets = n->env->net_list(nd, &err)) == NULL) {
		nubed_log(NLOG_WARN, "netlink: %s", err->message);
		g_clear_error(&err);
	} else {
		int mtu = n->env->net_mtu_of_addr(nd, n->cfg->fabric_addr);

		if (mtu <= 0)
			nubed_log(NLOG_WARN, "fabric address %s is on no link of this host: "
			    "cross-host nets will fail", n->cfg->fabric_addr);
		nubed_log(NLOG_INFO, "%u nube net%s present (fabric mtu %d)", nets->len,
		    nets->len == 1 ? "" : "s", mtu);
		for (guint i = 0; i < nets->len; i++) {
			const netdev_info *ni = g_ptr_array_index(nets, i);

			nubed_log(NLOG_INFO, "  net %s/%s bridge %s vni %u, %u remote%s", ni->scenario,
			    ni->net, ni->bridge, ni->vni, ni->remotes ? ni->remotes->len : 0,
			    ni->remotes && ni->remotes->len == 1 ? "" : "s");
		}
	}
	n->env->virt_close(v);
	n->env->net_close(nd);
}

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: nubed [-n] [-v] [-c FILE] [--host NAME] [--broker URL] [--libvirt-uri URI]\n"
	    "             [--fabric-addr ADDR] [--interval SECONDS] [--evacuate-on-exit]\n"
	    "  -c, --config FILE    configuration (default " CONFIG_DEFAULT_PATH ")\n"
	    "  -n, --check          check the configuration and exit (0 = valid)\n"
	    "  -v, --verbose        debug messages\n"
	    "      --host NAME      this host's name in the cluster\n"
	    "      --broker URL     mqtt://host:port or mqtts://host:port\n"
	    "      --libvirt-uri U  libvirt connection (default qemu:///system)\n"
	    "      --fabric-addr A  this host's address on the fabric (VXLAN endpoint)\n"
	    "      --interval S     telemetry interval in seconds\n"
	    "      --evacuate-on-exit  move every VM to other hosts before exiting\n"
	    "  -h, --help           this text\n"
	    "  -V, --version        version\n");
}

int
main(int argc, char **argv)
{
	g_autofree char *cfg_path = NULL, *o_host = NULL, *o_broker = NULL, *o_uri = NULL;
	g_autofree char *o_fabric = NULL;
	gboolean check = FALSE, verbose = FALSE, version = FALSE, help = FALSE, evacuate = FALSE;
	int o_interval = 0;
	GOptionEntry entries[] = {
		{ "config", 'c', 0, G_OPTION_ARG_FILENAME, &cfg_path, NULL, NULL },
		{ "check", 'n', 0, G_OPTION_ARG_NONE, &check, NULL, NULL },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, NULL, NULL },
		{ "host", 0, 0, G_OPTION_ARG_STRING, &o_host, NULL, NULL },
		{ "broker", 0, 0, G_OPTION_ARG_STRING, &o_broker, NULL, NULL },
		{ "libvirt-uri", 0, 0, G_OPTION_ARG_STRING, &o_uri, NULL, NULL },
		{ "fabric-addr", 0, 0, G_OPTION_ARG_STRING, &o_fabric, NULL, NULL },
		{ "interval", 0, 0, G_OPTION_ARG_INT, &o_interval, NULL, NULL },
		{ "evacuate-on-exit", 0, 0, G_OPTION_ARG_NONE, &evacuate, NULL, NULL },
		{ "version", 'V', 0, G_OPTION_ARG_NONE, &version, NULL, NULL },
		{ "help", 'h', 0, G_OPTION_ARG_NONE, &help, NULL, NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) oc = g_option_context_new(NULL);
	g_autofree char *will = NULL, *client_id = NULL;
	GError *err = NULL;
	config *cfg;
	nubed n;
	bus_opts bo = { 0 };
	guint tick;

	g_option_context_set_help_enabled(oc, FALSE);
	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &err)) {
		fprintf(stderr, "nubed: %s\n", err->message);
		usage(stderr);
		return 2;
	}
	if (help) {
		usage(stdout);
		return 0;
	}
	if (version) {
		printf("nubed " NUBE_VERSION "\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "nubed: unexpected argument '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	cfg = config_load(cfg_path, &err);	/* every section, [balance] too */
	if (cfg == NULL) {
		fprintf(stderr, "nubed: %s\n", err->message);
		return 1;
	}
	if (o_host != NULL)
		g_free(cfg->host), cfg->host = g_strdup(o_host);
	if (o_broker != NULL)
		g_free(cfg->broker_url), cfg->broker_url = g_strdup(o_broker);
	if (o_uri != NULL)
		g_free(cfg->libvirt_uri), cfg->libvirt_uri = g_strdup(o_uri);
	if (o_fabric != NULL)
		g_free(cfg->fabric_addr), cfg->fabric_addr = g_strdup(o_fabric);
	if (o_interval != 0)
		cfg->interval_s = o_interval, cfg->bc.interval = o_interval;
	if (evacuate)
		cfg->bal.evacuate = true;
	if (config_check(cfg, &err) < 0) {
		fprintf(stderr, "nubed: %s\n", err->message);
		config_free(cfg);
		return 1;
	}
	for (guint i = 0; i < cfg->unknown->len; i++)
		fprintf(stderr, "nubed: %s: warning: unknown %s ignored\n", cfg->file,
		    (char *)g_ptr_array_index(cfg->unknown, i));
	if (check) {
		printf("%s: configuration ok (host %s, broker %s, libvirt %s)\n", cfg->file,
		    cfg->host, cfg->broker_url, cfg->libvirt_uri);
		config_free(cfg);
		return 0;
	}
	nubed_init(&n, cfg, &agent_env_real);
	nubed_log_setup(cfg->host, verbose);
	nubed_log(NLOG_INFO, "nubed " NUBE_VERSION " starting (config %s)", cfg->file);
	if (nubed_state_open(&n, &err) < 0) {
		nubed_log(NLOG_WARN, "%s (events are published but not journaled)", err->message);
		g_clear_error(&err);
	}
	heal_record_load(&n);	/* what runs here, for the peers when this host is gone */
	n.loop = g_main_loop_new(NULL, FALSE);
	n.pool = g_thread_pool_new(rpc_job_run, &n, 8, FALSE, &err);
	g_assert(n.pool != NULL);	/* exclusive = FALSE: creation cannot fail */
	inventory(&n);
	will = g_strdup("0");
	client_id = g_strdup_printf("nubed-%s", cfg->host);
	bo.url = cfg->broker_url;
	bo.username = cfg->username;
	bo.password = cfg->password;
	bo.reply_user = cfg->host;	/* peers check it names us, broker user or not */
	bo.cafile = cfg->cafile;
	bo.client_id = client_id;
	bo.will_topic = n.online_topic;
	bo.will_payload = will;
	bo.will_retain = true;
	bo.keepalive_s = MAX(5, MIN(cfg->interval_s, 30));
	n.bus = bus_new(&bo, NULL, &err);
	if (n.bus == NULL) {
		nubed_log(NLOG_ERR, "broker: %s", err->message);
		return 1;
	}
	bus_on_error(n.bus, on_bus_error, NULL);
	/* the balancer sees every own sample before it is published */
	n.mape = mape_new(&n);
	n.on_sample = mape_on_state;
	n.on_sample_ud = n.mape;
	bus_on_connect(n.bus, on_connection, &n);
	if (bus_subscribe(n.bus, n.rpc_pattern, rpc_on_message, &n, &err) < 0) {
		nubed_log(NLOG_ERR, "subscribe: %s", err->message);
		return 1;
	}
	if (mape_start(n.mape, &err) < 0) {
		nubed_log(NLOG_ERR, "balancer: %s", err->message);
		return 1;
	}
	tick = g_timeout_add_seconds((guint)n.cfg->interval_s, on_tick, &n);
	g_unix_signal_add(SIGTERM, on_signal, &n);
	g_unix_signal_add(SIGINT, on_signal, &n);
	signal(SIGPIPE, SIG_IGN);
	telemetry_start(&n);	/* first sample while the broker connects */
	/* say once why the broker is not there; the bus keeps retrying (1 s .. 30 s) */
	if (bus_wait_connected(n.bus, 5000, &err) < 0) {
		nubed_log(NLOG_WARN, "%s (VMs keep running; retrying in the background)",
		    err->message);
		g_clear_error(&err);
	}
	g_main_loop_run(n.loop);

	/* clean leave: online 0 (retained), disconnect; domains are not touched */
	g_source_remove(tick);
	if (bus_is_connected(n.bus)) {
		json_t *st = n.last_state;

		if (st != NULL) {
			json_object_set_new(st, "online", json_false());
			json_object_set_new(st, "ts", json_integer(g_get_real_time() / 1000));
			bus_publish_json(n.bus, n.state_topic, st, 1, true, NULL);
		}
		bus_publish(n.bus, n.online_topic, "0", 1, 1, true, NULL);
	}
	bus_free(n.bus);
	nubed_log(NLOG_INFO, "stopped");
	/* jobs still running in the pool are abandoned with the process; libvirt keeps the
	 * domains, the next start reads them back */
	_exit(0);
}
