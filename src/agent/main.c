/* nubed: the nube host agent — options, config, broker session, telemetry timer, signals */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "agent/mape.h"
#include "agent/nubed.h"
#include "agent/rpc.h"
#include "agent/telemetry.h"
#include "net/netdev.h"
#include "wire/deployment.h"
#include "wire/topic.h"

static char *log_host;
static bool log_verbose;

void
nubed_log(log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "debug", "info", "warning", "error" };
	g_autoptr(GDateTime) now = NULL;
	g_autofree char *ts = NULL, *msg = NULL;
	va_list ap;

	if (lvl == LOG_DEBUG && !log_verbose)
		return;
	now = g_date_time_new_now_utc();
	ts = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	/* one write per line: lines of several threads do not mix */
	{
		g_autofree char *line = g_strdup_printf("%.23sZ %s %s: %s\n", ts,
		    log_host != NULL ? log_host : "-", names[lvl], msg);

		if (write(STDERR_FILENO, line, strlen(line)) < 0) {
			/* nowhere left to report it */
		}
	}
}

/* ---- events ---- */

typedef struct {
	nubed *n;
	json_t *ev;
} event_call;

static gboolean
event_main(gpointer p)
{
	event_call *e = p;
	GError *err = NULL;

	if (bus_is_connected(e->n->bus) &&
	    bus_publish_json(e->n->bus, TOPIC_EVENTS, e->ev, 1, false, &err) < 0) {
		nubed_log(LOG_WARN, "event lost: %s", err->message);
		g_error_free(err);
	}
	json_decref(e->ev);
	g_free(e);
	return G_SOURCE_REMOVE;
}

void
nubed_event(nubed *n, const char *type, const char *scenario, const char *vm,
    const char *fmt, ...)
{
	event_call *e = g_new0(event_call, 1);
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	nubed_log(LOG_INFO, "event %s%s%s%s%s: %s", type, scenario ? " " : "", scenario ? scenario
	    : "", vm ? "/" : "", vm ? vm : "", msg);
	e->n = n;
	e->ev = json_pack("{s:I, s:s, s:s, s:s?, s:s?, s:s}", "ts",
	    (json_int_t)(g_get_real_time() / 1000), "host", n->cfg->host, "type", type,
	    "scenario", scenario, "vm", vm, "msg", msg);
	g_main_context_invoke(NULL, event_main, e);
}

virt *
nubed_virt_open(nubed *n, GError **err)
{
	virt_opts o = {
		.uri = n->cfg->libvirt_uri,
		.guest_kernel = n->cfg->guest_kernel,
		.guest_initrd = n->cfg->guest_initrd,
		.type_fallback = n->cfg->type_fallback,
	};

	return virt_open(&o, err);
}

void
nubed_publish_state(nubed *n)
{
	telemetry_start(n);
}

static gboolean
publish_state_main(gpointer p)
{
	nubed_publish_state(p);
	return G_SOURCE_REMOVE;
}

void
nubed_publish_state_async(nubed *n)
{
	g_main_context_invoke(NULL, publish_state_main, n);
}

/* ---- remembered specs ---- */

/* spec_path: where the spec of scenario is kept (g_free); NULL for a name that breaks the
 * name rule: no path is ever built from one (the rpc table refuses them before) */
static char *
spec_path(nubed *n, const char *scenario)
{
	g_autofree char *base = NULL;

	if (sc_name_check(scenario) != NULL) {
		nubed_log(LOG_WARN, "spec of scenario '%s': not a valid name, no file used",
		    scenario != NULL ? scenario : "");
		return NULL;
	}
	base = g_strdup_printf("%s.xml", scenario);
	return g_build_filename(n->cfg->state_dir, n->cfg->host, "specs", base, NULL);
}

void
nubed_spec_put(nubed *n, const char *scenario, const char *spec)
{
	g_autofree char *path = spec_path(n, scenario);
	g_autofree char *dir = NULL;
	GError *err = NULL;

	if (path == NULL)
		return;
	dir = g_path_get_dirname(path);
	g_mutex_lock(&n->specs_lock);
	g_hash_table_replace(n->specs, g_strdup(scenario), g_strdup(spec));
	g_mutex_unlock(&n->specs_lock);
	if (g_mkdir_with_parents(dir, 0700) < 0 || !g_file_set_contents(path, spec, -1, &err)) {
		nubed_log(LOG_WARN, "cannot keep the spec of '%s' in %s: %s", scenario, dir,
		    err != NULL ? err->message : g_strerror(errno));
		g_clear_error(&err);
	}
}

char *
nubed_spec_get(nubed *n, const char *scenario)
{
	char *s;

	g_mutex_lock(&n->specs_lock);
	s = g_strdup(g_hash_table_lookup(n->specs, scenario));
	g_mutex_unlock(&n->specs_lock);
	if (s == NULL) {
		g_autofree char *path = spec_path(n, scenario);

		if (path == NULL || !g_file_get_contents(path, &s, NULL, NULL))
			s = NULL;
	}
	return s;
}

void
nubed_spec_drop(nubed *n, const char *scenario)
{
	g_autofree char *path = spec_path(n, scenario);

	g_mutex_lock(&n->specs_lock);
	g_hash_table_remove(n->specs, scenario);
	g_mutex_unlock(&n->specs_lock);
	if (path != NULL && unlink(path) < 0 && errno != ENOENT)
		nubed_log(LOG_WARN, "remove %s: %s", path, g_strerror(errno));
}

GMutex *
nubed_scenario_mutex(nubed *n, const char *scenario)
{
	GMutex *m;

	g_mutex_lock(&n->scen_lock);
	m = g_hash_table_lookup(n->scen_mutex, scenario);
	if (m == NULL) {
		m = g_new0(GMutex, 1);
		g_mutex_init(m);
		g_hash_table_insert(n->scen_mutex, g_strdup(scenario), m);
	}
	g_mutex_unlock(&n->scen_lock);
	return m;
}

/* ---- broker session ---- */

static void
on_connection(bus *b, bool connected, void *ud)
{
	nubed *n = ud;
	GError *err = NULL;

	if (!connected) {
		nubed_log(LOG_WARN, "broker connection lost; VMs keep running, reconnecting");
		return;
	}
	nubed_log(LOG_INFO, "connected to broker %s", n->cfg->broker_url);
	if (bus_publish(b, n->online_topic, "1", 1, 1, true, &err) < 0) {
		nubed_log(LOG_WARN, "online: %s", err->message);
		g_clear_error(&err);
	}
	/* the last state at once (retained), then a fresh round */
	if (n->last_state != NULL) {
		json_object_set_new(n->last_state, "ts", json_integer(g_get_real_time() / 1000));
		bus_publish_json(b, n->state_topic, n->last_state, 1, true, NULL);
	}
	nubed_publish_state(n);
}

static gboolean
on_tick(gpointer p)
{
	nubed_publish_state(p);
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
		nubed_log(LOG_INFO, "signal: evacuating every VM before leaving (signal again to "
		    "leave now)");
		return G_SOURCE_CONTINUE;
	}
	nubed_log(LOG_INFO, "signal: leaving the group (VMs are left running)");
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

	if (v == NULL || (doms = virt_list(v, &err)) == NULL) {
		nubed_log(LOG_WARN, "libvirt %s: %s (will retry every interval)",
		    n->cfg->libvirt_uri, err->message);
		g_clear_error(&err);
	} else {
		nubed_log(LOG_INFO, "libvirt %s: domain type %s, %u nube domain%s", n->cfg->libvirt_uri,
		    virt_domain_type(v), doms->len, doms->len == 1 ? "" : "s");
		for (guint i = 0; i < doms->len; i++) {
			const virt_dom_info *di = g_ptr_array_index(doms, i);

			nubed_log(LOG_INFO, "  domain %s (%s/%s) %s", di->domain, di->scenario,
			    di->vm, di->state);
		}
	}
	nd = netdev_open(&err);
	if (nd == NULL || (nets = netdev_list(nd, &err)) == NULL) {
		nubed_log(LOG_WARN, "netlink: %s", err->message);
		g_clear_error(&err);
	} else {
		int mtu = netdev_mtu_of_addr(nd, n->cfg->fabric_addr);

		if (mtu <= 0)
			nubed_log(LOG_WARN, "fabric address %s is on no link of this host: "
			    "cross-host nets will fail", n->cfg->fabric_addr);
		nubed_log(LOG_INFO, "%u nube net%s present (fabric mtu %d)", nets->len,
		    nets->len == 1 ? "" : "s", mtu);
		for (guint i = 0; i < nets->len; i++) {
			const netdev_info *ni = g_ptr_array_index(nets, i);

			nubed_log(LOG_INFO, "  net %s/%s bridge %s vni %u, %u remote%s", ni->scenario,
			    ni->net, ni->bridge, ni->vni, ni->remotes ? ni->remotes->len : 0,
			    ni->remotes && ni->remotes->len == 1 ? "" : "s");
		}
	}
	virt_close(v);
	netdev_close(nd);
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
	nubed n = { 0 };
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
	n.cfg = config_load(cfg_path, &err);
	if (n.cfg == NULL) {
		fprintf(stderr, "nubed: %s\n", err->message);
		return 1;
	}
	if (o_host != NULL)
		g_free(n.cfg->host), n.cfg->host = g_strdup(o_host);
	if (o_broker != NULL)
		g_free(n.cfg->broker_url), n.cfg->broker_url = g_strdup(o_broker);
	if (o_uri != NULL)
		g_free(n.cfg->libvirt_uri), n.cfg->libvirt_uri = g_strdup(o_uri);
	if (o_fabric != NULL)
		g_free(n.cfg->fabric_addr), n.cfg->fabric_addr = g_strdup(o_fabric);
	if (o_interval != 0)
		n.cfg->interval_s = o_interval;
	if (config_check(n.cfg, &err) < 0) {
		fprintf(stderr, "nubed: %s\n", err->message);
		config_free(n.cfg);
		return 1;
	}
	for (guint i = 0; i < n.cfg->unknown->len; i++)
		fprintf(stderr, "nubed: %s: warning: unknown %s ignored\n", n.cfg->file,
		    (char *)g_ptr_array_index(n.cfg->unknown, i));
	n.mape = mape_new(&n, &err);	/* [balance] group: checked with the rest */
	if (n.mape == NULL) {
		fprintf(stderr, "nubed: %s\n", err->message);
		config_free(n.cfg);
		return 1;
	}
	if (evacuate)
		mape_set_evacuate(n.mape, true);
	if (check) {
		printf("%s: configuration ok (host %s, broker %s, libvirt %s)\n", n.cfg->file,
		    n.cfg->host, n.cfg->broker_url, n.cfg->libvirt_uri);
		mape_free(n.mape);
		config_free(n.cfg);
		return 0;
	}
	log_host = n.cfg->host;
	log_verbose = verbose;
	n.verbose = verbose;
	nubed_log(LOG_INFO, "nubed " NUBE_VERSION " starting (config %s)", n.cfg->file);
	g_mutex_init(&n.specs_lock);
	g_mutex_init(&n.scen_lock);
	n.specs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	n.scen_mutex = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	n.prev_vm = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	n.state_topic = topic_host(n.cfg->host, "state");
	n.online_topic = topic_host(n.cfg->host, "online");
	n.rpc_pattern = topic_host(n.cfg->host, "rpc/+");
	n.loop = g_main_loop_new(NULL, FALSE);
	n.pool = g_thread_pool_new(rpc_job_run, &n, 8, FALSE, &err);
	if (n.pool == NULL) {
		nubed_log(LOG_ERR, "thread pool: %s", err->message);
		return 1;
	}
	inventory(&n);
	will = g_strdup("0");
	client_id = g_strdup_printf("nubed-%s", n.cfg->host);
	bo.url = n.cfg->broker_url;
	bo.username = n.cfg->username;
	bo.password = n.cfg->password;
	bo.reply_user = n.cfg->host;	/* peers check it names us, broker user or not */
	bo.cafile = n.cfg->cafile;
	bo.client_id = client_id;
	bo.will_topic = n.online_topic;
	bo.will_payload = will;
	bo.will_retain = true;
	bo.keepalive_s = MAX(5, MIN(n.cfg->interval_s, 30));
	n.bus = bus_new(&bo, NULL, &err);
	if (n.bus == NULL) {
		nubed_log(LOG_ERR, "broker: %s", err->message);
		return 1;
	}
	bus_on_connect(n.bus, on_connection, &n);
	if (bus_subscribe(n.bus, n.rpc_pattern, rpc_on_message, &n, &err) < 0) {
		nubed_log(LOG_ERR, "subscribe: %s", err->message);
		return 1;
	}
	if (mape_start(n.mape, &err) < 0) {
		nubed_log(LOG_ERR, "balancer: %s", err->message);
		return 1;
	}
	tick = g_timeout_add_seconds((guint)n.cfg->interval_s, on_tick, &n);
	g_unix_signal_add(SIGTERM, on_signal, &n);
	g_unix_signal_add(SIGINT, on_signal, &n);
	signal(SIGPIPE, SIG_IGN);
	nubed_publish_state(&n);	/* first sample while the broker connects */
	/* say once why the broker is not there; the bus keeps retrying (1 s .. 30 s) */
	if (bus_wait_connected(n.bus, 5000, &err) < 0) {
		nubed_log(LOG_WARN, "%s (VMs keep running; retrying in the background)",
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
	nubed_log(LOG_INFO, "stopped");
	/* jobs still running in the pool are abandoned with the process; libvirt keeps the
	 * domains, the next start reads them back */
	_exit(0);
}
