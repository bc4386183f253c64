/* virt-tool: drive the virt and netdev adapters by hand (integration tests, debugging the lab)
 *
 * Usage: virt-tool [OPTIONS] COMMAND ARGS...
 *   render    SCENARIO.xml VM        print the domain XML (warnings on stderr)
 *   start     SCENARIO.xml VM        render, define and start the domain
 *   configure SCENARIO.xml VM        configure the guest through its agent (names, MTU, addresses,
 *                                    routes, forwarding, hostname)
 *   exec      DOMAIN COMMAND         run COMMAND (sh -c) in the guest; prints its stdout, its
 *                                    stderr to stderr, exits with its exit code
 *   list                             nube's domains: name scenario vm state cpu_ns mem vcpus rx tx
 *   destroy   DOMAIN                 destroy and undefine (absent is fine)
 *   migrate   DOMAIN DEST_URI [MIGRATE_URI]   live p2p migration; prints duration, downtime, bytes
 *   net-ensure SCENARIO NET VNI LOCAL MTU [REMOTE...]   bridge (+ VXLAN when VNI > 0) on this host
 *   net-remove SCENARIO NET
 *   net-list                         scenario net bridge vni remotes
 *   mtu-of    ADDR                   MTU of the link holding ADDR
 * Options:
 *   -c, --uri URI          libvirt URI (default qemu:///system)
 *   -m, --mtu N            MTU of the VM NICs (render/start/configure; default none)
 *   -t, --timeout S        guest agent timeout (default 60)
 *   --macs M1,M2,...       planned MACs in <if> order (render/start), like the planner's
 *   --mgmt ADDR/LEN        management address recorded in the metadata
 *   --kernel PATH, --initrd PATH   guest image (default /var/lib/nube/guest/...)
 *   --domain-type T        kvm or qemu (default: qemu, see virt_open)
 *   --no-fallback          refuse VM types the host cannot run instead of running them as qemu
 * Exit status: 0 ok, 1 failure (message on stderr), 2 usage; exec: the guest's exit code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "virt/virt.h"
#include "net/netdev.h"

static char *opt_uri, *opt_macs, *opt_mgmt, *opt_kernel, *opt_initrd, *opt_type;
static int opt_mtu = 0, opt_timeout = 60;
static gboolean opt_no_fallback;

static GOptionEntry entries[] = {
	{ "uri", 'c', 0, G_OPTION_ARG_STRING, &opt_uri, "libvirt URI", "URI" },
	{ "mtu", 'm', 0, G_OPTION_ARG_INT, &opt_mtu, "MTU of the VM NICs", "N" },
	{ "timeout", 't', 0, G_OPTION_ARG_INT, &opt_timeout, "guest agent timeout (s)", "S" },
	{ "macs", 0, 0, G_OPTION_ARG_STRING, &opt_macs, "planned MACs in <if> order", "M1,M2" },
	{ "mgmt", 0, 0, G_OPTION_ARG_STRING, &opt_mgmt, "management address", "ADDR/LEN" },
	{ "kernel", 0, 0, G_OPTION_ARG_STRING, &opt_kernel, "guest kernel", "PATH" },
	{ "initrd", 0, 0, G_OPTION_ARG_STRING, &opt_initrd, "guest initrd", "PATH" },
	{ "domain-type", 0, 0, G_OPTION_ARG_STRING, &opt_type, "kvm or qemu", "T" },
	{ "no-fallback", 0, 0, G_OPTION_ARG_NONE, &opt_no_fallback, "no type fallback", NULL },
	{ NULL, 0, 0, 0, NULL, NULL, NULL },
};

static int fail(GError *e)
{
	fprintf(stderr, "virt-tool: %s\n", e ? e->message : "failed");
	if (e)
		g_error_free(e);
	return 1;
}

static virt *open_virt(GError **e)
{
	virt_opts o = {
		.uri = opt_uri,
		.guest_kernel = opt_kernel,
		.guest_initrd = opt_initrd,
		.type_fallback = !opt_no_fallback,
		.domain_type = opt_type,
	};
	return virt_open(&o, e);
}

/* scenario from a file plus a one-VM deployment carrying --macs / --mgmt */
static int load(const char *path, const char *vm, scenario **s, proto_deployment **dep)
{
	g_autoptr(diag) d = diag_new();
	*s = scenario_parse_file(path, d);
	if (!*s || diag_has_errors(d) || !scenario_validate(*s, d)) {
		diag_print(d, stderr);
		scenario_free(*s);
		return -1;
	}
	json_t *macs = json_array();
	if (opt_macs) {
		g_auto(GStrv) m = g_strsplit(opt_macs, ",", -1);
		for (int i = 0; m[i]; i++)
			json_array_append_new(macs, json_string(m[i]));
	}
	json_t *j = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:o, s:s?}], s:[]}",
	    "scenario", (*s)->name, "spec", "", "algorithm", "manual",
	    "vms", "vm", vm, "host", "local", "macs", macs, "mgmt_addr", opt_mgmt, "nets");
	*dep = j ? proto_deployment_from_json(j, d) : NULL;
	json_decref(j);
	if (!*dep) {
		diag_print(d, stderr);
		scenario_free(*s);
		return -1;
	}
	return 0;
}

static int cmd_render_start(bool start, const char *path, const char *vm)
{
	scenario *s = NULL;
	proto_deployment *dep = NULL;
	GError *e = NULL;
	int rc = 1;

	if (load(path, vm, &s, &dep) < 0)
		return 1;
	virt *v = open_virt(&e);
	g_autoptr(GPtrArray) w = g_ptr_array_new_with_free_func(g_free);
	char *xml = v ? virt_render_domain(v, s, dep, vm, opt_mtu, w, &e) : NULL;
	for (guint i = 0; i < w->len; i++)
		fprintf(stderr, "virt-tool: warning: %s\n", (char *)g_ptr_array_index(w, i));
	if (!xml)
		rc = fail(e);
	else if (!start) {
		fputs(xml, stdout);
		rc = 0;
	} else if (virt_define_start(v, xml, &e) < 0)
		rc = fail(e);
	else
		rc = 0;
	g_free(xml);
	virt_close(v);
	proto_deployment_free(dep);
	scenario_free(s);
	return rc;
}

static int cmd_configure(const char *path, const char *vm)
{
	scenario *s = NULL;
	proto_deployment *dep = NULL;
	GError *e = NULL;
	int rc = 0;

	if (load(path, vm, &s, &dep) < 0)
		return 1;
	virt *v = open_virt(&e);
	gint64 t0 = g_get_monotonic_time();
	if (!v || virt_guest_configure(v, s, dep, vm, opt_mtu, opt_timeout, &e) < 0)
		rc = fail(e);
	else
		printf("configured '%s' in %.1f s\n", vm, (g_get_monotonic_time() - t0) / 1e6);
	virt_close(v);
	proto_deployment_free(dep);
	scenario_free(s);
	return rc;
}

static int cmd_exec(const char *dom, const char *cmd)
{
	GError *e = NULL;
	virt *v = open_virt(&e);
	g_autofree char *out = NULL, *err = NULL;
	int code = -1;

	if (!v || virt_guest_exec(v, dom, cmd, opt_timeout, &code, &out, &err, &e) < 0) {
		virt_close(v);
		return fail(e);
	}
	fputs(out, stdout);
	fputs(err, stderr);
	virt_close(v);
	return code;
}

static int cmd_list(void)
{
	GError *e = NULL;
	virt *v = open_virt(&e);
	GPtrArray *l = v ? virt_list(v, &e) : NULL;

	if (!l) {
		virt_close(v);
		return fail(e);
	}
	for (guint i = 0; i < l->len; i++) {
		virt_dom_info *x = g_ptr_array_index(l, i);
		printf("%s %s %s %s %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %d %" G_GUINT64_FORMAT
		    " %" G_GUINT64_FORMAT, x->domain, x->scenario, x->vm, x->state, x->cpu_time_ns,
		    x->mem_mib, x->vcpus, x->rx_bytes, x->tx_bytes);
		for (guint k = 0; k < x->addrs->len; k++)
			printf(" [%s]", (char *)g_ptr_array_index(x->addrs, k));
		printf("\n");
	}
	g_ptr_array_unref(l);
	virt_close(v);
	return 0;
}

static int cmd_destroy(const char *dom)
{
	GError *e = NULL;
	virt *v = open_virt(&e);
	int rc = (!v || virt_destroy_undefine(v, dom, &e) < 0) ? fail(e) : 0;

	virt_close(v);
	return rc;
}

static int cmd_migrate(const char *dom, const char *dest, const char *muri)
{
	GError *e = NULL;
	virt *v = open_virt(&e);
	virt_migrate_stats st = { 0 };
	int rc = 0;

	if (!v || virt_migrate(v, dom, dest, muri, &st, &e) < 0)
		rc = fail(e);
	else
		printf("migrated '%s' to %s: duration %" G_GINT64_FORMAT " ms, downtime %" G_GINT64_FORMAT
		    " ms, %" G_GUINT64_FORMAT " bytes\n", dom, dest, st.duration_ms, st.downtime_ms, st.data_bytes);
	virt_close(v);
	return rc;
}

static int cmd_net(int argc, char **argv)
{
	GError *e = NULL;
	netdev *n = netdev_open(&e);
	int rc = 0;

	if (!n)
		return fail(e);
	if (strcmp(argv[0], "net-ensure") == 0) {
		if (argc < 6) {
			fprintf(stderr, "usage: net-ensure SCENARIO NET VNI LOCAL MTU [REMOTE...]\n");
			rc = 2;
		} else if (netdev_ensure(n, argv[1], argv[2], (uint32_t)strtoul(argv[3], NULL, 10), argv[4],
		    (const char *const *)argv + 6, argc - 6, atoi(argv[5]), &e) < 0)
			rc = fail(e);
	} else if (strcmp(argv[0], "net-remove") == 0) {
		if (argc != 3) {
			fprintf(stderr, "usage: net-remove SCENARIO NET\n");
			rc = 2;
		} else if (netdev_remove(n, argv[1], argv[2], &e) < 0)
			rc = fail(e);
	} else if (strcmp(argv[0], "net-list") == 0) {
		GPtrArray *l = netdev_list(n, &e);
		if (!l)
			rc = fail(e);
		for (guint i = 0; l && i < l->len; i++) {
			netdev_info *x = g_ptr_array_index(l, i);
			printf("%s %s %s %u", x->scenario, x->net, x->bridge, x->vni);
			for (guint k = 0; k < x->remotes->len; k++)
				printf(" %s", (char *)g_ptr_array_index(x->remotes, k));
			printf("\n");
		}
		if (l)
			g_ptr_array_unref(l);
	} else if (strcmp(argv[0], "mtu-of") == 0 && argc == 2) {
		int m = netdev_mtu_of_addr(n, argv[1]);
		if (m < 0) {
			fprintf(stderr, "virt-tool: no link holds %s\n", argv[1]);
			rc = 1;
		} else
			printf("%d\n", m);
	} else {
		rc = 2;
	}
	netdev_close(n);
	return rc;
}

int main(int argc, char **argv)
{
	GError *e = NULL;
	GOptionContext *ctx = g_option_context_new("COMMAND ARGS... (see the top of virt-tool.c)");

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &e)) {
		fprintf(stderr, "virt-tool: %s\n", e->message);
		g_error_free(e);
		g_option_context_free(ctx);
		return 2;
	}
	g_option_context_free(ctx);
	if (argc < 2) {
		fprintf(stderr, "virt-tool: missing command (render, start, configure, exec, list, destroy, "
		    "migrate, net-ensure, net-remove, net-list, mtu-of)\n");
		return 2;
	}
	const char *c = argv[1];
	int n = argc - 2;
	char **a = argv + 2;
	if (strcmp(c, "render") == 0 && n == 2)
		return cmd_render_start(false, a[0], a[1]);
	if (strcmp(c, "start") == 0 && n == 2)
		return cmd_render_start(true, a[0], a[1]);
	if (strcmp(c, "configure") == 0 && n == 2)
		return cmd_configure(a[0], a[1]);
	if (strcmp(c, "exec") == 0 && n == 2)
		return cmd_exec(a[0], a[1]);
	if (strcmp(c, "list") == 0 && n == 0)
		return cmd_list();
	if (strcmp(c, "destroy") == 0 && n == 1)
		return cmd_destroy(a[0]);
	if (strcmp(c, "migrate") == 0 && (n == 2 || n == 3))
		return cmd_migrate(a[0], a[1], n == 3 ? a[2] : NULL);
	if (g_str_has_prefix(c, "net-") || strcmp(c, "mtu-of") == 0) {
		int rc = cmd_net(argc - 1, argv + 1);
		if (rc != 2)
			return rc;
	}
	fprintf(stderr, "virt-tool: bad command or arguments '%s' (see the top of virt-tool.c)\n", c);
	return 2;
}
