/* features: what nube does with each VNX construct a scenario uses — implemented, degraded
 * (how) or ignored — for the validate warnings and `nube validate --features` */
#include "scenario/scenario.h"

#include <stdarg.h>
#include <string.h>

typedef struct {
	const char *key;	/* the construct as the report names it */
	sc_support support;
	const char *how;	/* what nube does, or what is lost for the lab */
	bool warn;		/* validate warns at each use (false: validate words it itself, or
				 * the construct has no effect on a lab) */
} feat_def;

/* one row per construct, in report order. Keep README.md's "VNX constructs" table and
 * man/nube-validate.1 in step with it. */
static const feat_def feats[] = {
	{ SC_F_NET_BRIDGE, SC_SUPPORT_DONE, "a Linux bridge on each host with its VMs, "
	    "stretched between hosts by VXLAN", false },
	{ SC_F_NET_OVS, SC_SUPPORT_DEGRADED, "runs as a Linux bridge: no Open vSwitch", false },
	{ SC_F_NET_OVS_SDN, SC_SUPPORT_IGNORED, "ignored: no OpenFlow controller, the bridge "
	    "learns and floods like a plain switch", true },
	{ SC_F_NET_CONNECTION, SC_SUPPORT_IGNORED, "ignored: the two nets are not linked, no "
	    "frame crosses between them", true },
	{ SC_F_NET_VLAN, SC_SUPPORT_DEGRADED, "ignored: the net is its own bridge and VXLAN "
	    "segment, so it stays isolated without a tag", false },
	{ SC_F_IF_VLAN, SC_SUPPORT_IGNORED, "ignored: no per-port tag or trunk, the port "
	    "carries the net's frames untagged (VLANs sharing the net are not isolated)", true },
	{ SC_F_NET_UML, SC_SUPPORT_DEGRADED, "runs as a Linux bridge", false },
	{ SC_F_NET_UML_ATTRS, SC_SUPPORT_IGNORED, "ignored: no uml_switch, nothing is captured",
	    true },
	{ SC_F_NET_VETH, SC_SUPPORT_DEGRADED, "runs as a Linux bridge with two ports, not a "
	    "veth pair", false },
	{ SC_F_NET_EXTERNAL, SC_SUPPORT_IGNORED, "ignored: the host interface is not attached, "
	    "the net does not reach outside the lab", false },
	{ SC_F_NET_UNMANAGED, SC_SUPPORT_DEGRADED, "an existing bridge of that name on the host: "
	    "nube neither makes nor stretches it, so the plan keeps its VMs on one host and the "
	    "balancer never moves them", true },
	{ SC_F_NET_MTU, SC_SUPPORT_IGNORED, "ignored: the bridge keeps the host's MTU (less the "
	    "VXLAN overhead when stretched)", true },
	{ SC_F_SHAPING, SC_SUPPORT_IGNORED, "ignored: no traffic shaping, links run at full "
	    "speed without delay or loss", true },
	{ SC_F_VM_LIBVIRT, SC_SUPPORT_DONE, "a libvirt QEMU/KVM domain on the host the plan "
	    "picks", false },
	{ SC_F_VM_LXC, SC_SUPPORT_DONE, "run by libvirt on the host the plan picks", false },
	{ SC_F_VM_FALLBACK, SC_SUPPORT_DEGRADED, "no host runs this type: it runs as a QEMU/KVM "
	    "domain from its filesystem (the agents' type fallback); an image QEMU cannot boot "
	    "fails the deploy, or boots nube's Linux test guest with [guest] missing_image = "
	    "test-guest", true },
	{ SC_F_VM_OS, SC_SUPPORT_DEGRADED, "nube has no image of this OS: its filesystem must be "
	    "on the VM's host (else the deploy fails, or boots nube's Linux test guest with "
	    "[guest] missing_image = test-guest), and addresses, <exec> and <filetree> reach it "
	    "only through VNX's daemon in the image", true },
	{ SC_F_IF, SC_SUPPORT_DONE, "a NIC on the net's bridge, addressed in the guest", false },
	{ SC_F_IF_NAME, SC_SUPPORT_DEGRADED, "given to VNX images (vnxboot.xml, as VNX does); "
	    "cloud-init images keep the name ethID", true },
	{ SC_F_IF_LO, SC_SUPPORT_DONE, "its addresses are added to the guest's lo (qemu-ga, "
	    "cloud-init runcmd, vnxboot.xml for VNX's daemon)", false },
	{ SC_F_IF_UNCONNECTED, SC_SUPPORT_IGNORED, "ignored: the interface is not created (the "
	    "other interfaces keep their ethID names)", true },
	{ SC_F_IF_MGMT, SC_SUPPORT_IGNORED, "ignored: nube plugs no management interface",
	    true },
	{ SC_F_VM_MGMT, SC_SUPPORT_IGNORED, "ignored: nube plugs no management interface, reach "
	    "the VMs with nube exec or their console, not over a management net", true },
	{ SC_F_HOST_MAPPING, SC_SUPPORT_IGNORED, "ignored: the VMs' names are not added to any "
	    "host's /etc/hosts", true },
	{ SC_F_ROUTE, SC_SUPPORT_DONE, "added in the guest", false },
	{ SC_F_FORWARDING, SC_SUPPORT_DONE, "IP forwarding turned on in the guest", false },
	{ SC_F_EXEC, SC_SUPPORT_DONE, "run in the guest when its seq runs (on_boot at boot, "
	    "the others with nube exec)", false },
	{ SC_F_FILETREE, SC_SUPPORT_DONE, "copied into the guest when its seq runs", false },
	{ SC_F_CMDSEQ, SC_SUPPORT_DONE, "expanded to its seqs, as VNX does", false },
	{ SC_F_ON_BOOT, SC_SUPPORT_DONE, "no: the VM is defined on its host, not started",
	    false },
	{ SC_F_VM_ORDER, SC_SUPPORT_DONE, "start order on each host (these first, by order, "
	    "then the others in file order, as VNX starts them); hosts boot their VMs in "
	    "parallel", false },
	{ SC_F_KERNEL, SC_SUPPORT_DONE, "direct kernel boot from the VM's host", false },
	{ SC_F_HOSTIF, SC_SUPPORT_IGNORED, "ignored: no host joins the net, the addresses are not "
	    "configured anywhere (the lab is not reachable from the host)", true },
	{ SC_F_HOST_ROUTE, SC_SUPPORT_IGNORED, "ignored: the route is not added on any host",
	    true },
	{ SC_F_HOST_EXEC, SC_SUPPORT_IGNORED, "ignored: not run on any host, the seq runs only "
	    "in the VMs", true },
	{ SC_F_HOST_OTHER, SC_SUPPORT_IGNORED, "ignored: no host is configured", true },
	{ SC_F_SHAREDDIR, SC_SUPPORT_IGNORED, "ignored: the host directory is not shared with "
	    "the VM", true },
	{ SC_F_SSH_KEY, SC_SUPPORT_IGNORED, "ignored: the key is not installed in the VMs",
	    true },
	{ SC_F_STORAGE, SC_SUPPORT_IGNORED, "ignored: no extra disk or CD is attached", true },
	{ SC_F_ROUTER_CONF, SC_SUPPORT_IGNORED, "ignored: the router configuration is not "
	    "applied", true },
	{ SC_F_CONSOLE, SC_SUPPORT_IGNORED, "ignored: no console window opens (virsh console on "
	    "the VM's host)", false },
	{ SC_F_CPU_QUOTA, SC_SUPPORT_IGNORED, "ignored: the VM's CPU use is not capped", true },
	{ SC_F_NO_EFFECT, SC_SUPPORT_IGNORED, "ignored: VNX's own settings, no effect on the "
	    "lab", false },
};

static const feat_def *
feat_find(const char *key)
{
	for (guint i = 0; i < G_N_ELEMENTS(feats); i++)
		if (strcmp(feats[i].key, key) == 0)
			return &feats[i];
	return NULL;
}

const char *
sc_support_name(sc_support v)
{
	switch (v) {
	case SC_SUPPORT_DONE:
		return "implemented";
	case SC_SUPPORT_DEGRADED:
		return "degraded";
	case SC_SUPPORT_IGNORED:
		return "ignored";
	}
	return "?";
}

void
scenario_use(scenario *s, const char *key, int line, const char *fmt, ...)
{
	sc_use *u;
	va_list ap;

	g_assert(feat_find(key) != NULL);	/* every key has its row in feats */
	if (s->uses == NULL)
		s->uses = g_ptr_array_new_with_free_func(sc_use_free);
	u = g_new0(sc_use, 1);
	u->key = key;
	u->line = line;
	va_start(ap, fmt);
	u->what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_ptr_array_add(s->uses, u);
}

void
sc_use_free(gpointer p)
{
	sc_use *u = p;

	if (u == NULL)
		return;
	g_free(u->what);
	g_free(u);
}

GArray *
scenario_features(const scenario *s)
{
	GArray *out = g_array_new(FALSE, TRUE, sizeof(sc_feature));

	for (guint i = 0; i < G_N_ELEMENTS(feats); i++) {
		sc_feature f = { feats[i].key, feats[i].support, feats[i].how, 0, 0 };

		for (guint k = 0; s != NULL && s->uses != NULL && k < s->uses->len; k++) {
			const sc_use *u = g_ptr_array_index(s->uses, k);

			if (strcmp(u->key, f.construct) != 0)
				continue;
			if (f.count++ == 0)
				f.first_line = u->line;
		}
		if (f.count > 0)
			g_array_append_val(out, f);
	}
	return out;
}

void
scenario_warn_features(const scenario *s, diag *d)
{
	for (guint k = 0; s != NULL && s->uses != NULL && k < s->uses->len; k++) {
		const sc_use *u = g_ptr_array_index(s->uses, k);
		const feat_def *f = feat_find(u->key);

		if (f != NULL && f->warn)
			diag_warn(d, s->file, u->line, "%s: %s", u->what, f->how);
	}
}
