/* virt: the libvirt adapter of nubed — domain XML (libxml2), lifecycle, listing, stats, guest agent, migration */
#include "virt/virt.h"
#include "virt/virt_int.h"
#include "virt/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <jansson.h>

#define VIRT_DEFAULT_KERNEL	"/var/lib/nube/guest/vmlinuz"
#define VIRT_DEFAULT_INITRD	"/var/lib/nube/guest/initrd.img"
#define VIRT_CMDLINE		"console=ttyS0 quiet panic=-1"
#define VIRT_KERNEL_CMDLINE	"console=ttyS0 root=/dev/vda rw"	/* a VM's own <kernel> */
#define VIRT_AGENT_CHANNEL	"org.qemu.guest_agent.0"
#define VIRT_POLL_US		100000	/* guest-exec-status poll interval */

G_DEFINE_QUARK(nube-virt-error-quark, virt_error)

/* libvirt prints every error to stderr by default; nube reports them through GError */
static void virt_silent_error(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e;
}

static void virt_global_init(void)
{
	static gsize once = 0;

	if (g_once_init_enter(&once)) {
		virInitialize();
		virSetErrorFunc(NULL, virt_silent_error);
		xmlInitParser();
		g_once_init_leave(&once, 1);
	}
}

void virt_set_error(GError **err, const char *fmt, ...)
{
	va_list ap;
	const char *lv = virGetLastErrorMessage();

	va_start(ap, fmt);
	g_autofree char *ctx = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(err, VIRT_ERROR, virGetLastErrorCode(), "%s: %s", ctx,
	    lv && *lv ? lv : "unknown libvirt error");
}

/* ---------------------------------------------------------------- open / probe */

/* kvm_in_caps: true when the host capabilities offer a <domain type='kvm'> guest */
static bool kvm_in_caps(virConnectPtr c)
{
	g_autofree char *caps = virConnectGetCapabilities(c);
	bool found = false;

	if (!caps)
		return false;
	xmlDocPtr doc = xmlReadMemory(caps, (int)strlen(caps), "caps.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return false;
	xmlXPathContextPtr xc = xmlXPathNewContext(doc);
	xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST "/capabilities/guest/arch/domain[@type='kvm']", xc);
	found = r && r->nodesetval && r->nodesetval->nodeNr > 0;
	xmlXPathFreeObject(r);
	xmlXPathFreeContext(xc);
	xmlFreeDoc(doc);
	return found;
}

static bool kvm_usable(virConnectPtr c)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return kvm_in_caps(c);
}

/*
 * Domain type decision. KVM is used only when asked for (domain_type "kvm") and really there:
 * /dev/kvm opens AND the capabilities list a kvm domain. With no request nube runs "qemu"
 * (TCG): on nested hosts /dev/kvm may open while KVM guests never leave the BIOS (seen on
 * the development machines), and that cannot be detected without booting a guest. TCG always
 * works, and a migration between a kvm and a qemu host is refused by libvirt, so one
 * cluster-wide explicit choice is safer than a per-host guess.
 */
static int virt_probe(virt *v, const virt_opts *o, GError **err)
{
	const char *want = o ? o->domain_type : NULL;

	if (!want || !*want || strcmp(want, "qemu") == 0) {
		v->domain_type = g_strdup("qemu");
		return 0;
	}
	if (strcmp(want, "kvm") == 0) {
		if (!kvm_usable(v->conn)) {
			g_set_error(err, VIRT_ERROR, 0, "domain type 'kvm' requested but KVM is not usable "
			    "on %s (/dev/kvm must open and the capabilities must list a kvm domain)", v->uri);
			return -1;
		}
		v->domain_type = g_strdup("kvm");
		return 0;
	}
	g_set_error(err, VIRT_ERROR, 0, "unknown domain type '%s' (expected 'kvm' or 'qemu')", want);
	return -1;
}

virt *virt_open(const virt_opts *o, GError **err)
{
	virt_global_init();
	const char *uri = o && o->uri ? o->uri : "qemu:///system";
	virt *v = g_new0(virt, 1);

	v->uri = g_strdup(uri);
	v->kernel = g_strdup(o && o->guest_kernel ? o->guest_kernel : VIRT_DEFAULT_KERNEL);
	v->initrd = g_strdup(o && o->guest_initrd ? o->guest_initrd : VIRT_DEFAULT_INITRD);
	v->type_fallback = o ? o->type_fallback : true;
	v->missing_image_fallback = o ? o->missing_image_fallback : false;
	v->disk_dir = g_strdup(o && o->disk_dir ? o->disk_dir : VIRT_DEFAULT_DISK_DIR);
	while (strlen(v->disk_dir) > 1 && g_str_has_suffix(v->disk_dir, "/"))
		v->disk_dir[strlen(v->disk_dir) - 1] = '\0';
	v->image_dir = g_strdup(o && o->image_dir ? o->image_dir : VIRT_DEFAULT_IMAGE_DIR);
	while (strlen(v->image_dir) > 1 && g_str_has_suffix(v->image_dir, "/"))
		v->image_dir[strlen(v->image_dir) - 1] = '\0';
	v->lxc_uri = g_strdup(o ? o->lxc_uri : NULL);
	v->container_dir = g_strdup(o && o->container_dir ? o->container_dir : VIRT_DEFAULT_CONTAINER_DIR);
	while (strlen(v->container_dir) > 1 && g_str_has_suffix(v->container_dir, "/"))
		v->container_dir[strlen(v->container_dir) - 1] = '\0';
	v->container_fallback = o ? o->container_fallback : false;
	v->conn = virConnectOpen(uri);
	if (!v->conn) {
		virt_set_error(err, "connect to %s", uri);
		virt_close(v);
		return NULL;
	}
	if (virt_probe(v, o, err) < 0) {
		virt_close(v);
		return NULL;
	}
	return v;
}

void virt_close(virt *v)
{
	if (!v)
		return;
	if (v->conn)
		virConnectClose(v->conn);
	if (v->lxc)
		virConnectClose(v->lxc);
	g_free(v->lxc_uri);
	g_free(v->container_dir);
	g_free(v->uri);
	g_free(v->kernel);
	g_free(v->initrd);
	g_free(v->disk_dir);
	g_free(v->image_dir);
	g_free(v->domain_type);
	g_free(v);
}

const char *virt_domain_type(const virt *v)
{
	return v ? v->domain_type : NULL;
}

/* ---------------------------------------------------------------- render */

static const sc_vm *find_vm(const scenario *s, const char *name)
{
	for (guint i = 0; s->vms && i < s->vms->len; i++) {
		const sc_vm *vm = g_ptr_array_index(s->vms, i);
		if (g_strcmp0(vm->name, name) == 0)
			return vm;
	}
	return NULL;
}

static const sc_net *find_net(const scenario *s, const char *name)
{
	for (guint i = 0; s->nets && i < s->nets->len; i++) {
		const sc_net *n = g_ptr_array_index(s->nets, i);
		if (g_strcmp0(n->name, name) == 0)
			return n;
	}
	return NULL;
}

static const proto_vm_place *find_place(const proto_deployment *dep, const char *vm)
{
	for (guint i = 0; dep && dep->vms && i < dep->vms->len; i++) {
		const proto_vm_place *p = g_ptr_array_index(dep->vms, i);
		if (g_strcmp0(p->vm, vm) == 0)
			return p;
	}
	return NULL;
}

static void warn(GPtrArray *warnings, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void warn(GPtrArray *warnings, const char *fmt, ...)
{
	va_list ap;

	if (!warnings)
		return;
	va_start(ap, fmt);
	g_ptr_array_add(warnings, g_strdup_vprintf(fmt, ap));
	va_end(ap);
}

/* the planned MAC of interface i: the allocation, else the scenario's explicit <mac> */
static const char *planned_mac(const proto_vm_place *p, const sc_if *ifc, guint i)
{
	if (p && p->macs && i < p->macs->len && g_ptr_array_index(p->macs, i))
		return g_ptr_array_index(p->macs, i);
	return ifc->mac;
}

/* bridge a VM interface attaches to: nube's bridge, or the net's own name when the net is
 * not managed by nube (VNX managed="no": the bridge exists already) */
static void bridge_of(const scenario *s, const char *net, char buf[16], const char **out)
{
	const sc_net *n = find_net(s, net);

	if (n && !n->managed) {
		*out = n->name;
		return;
	}
	proto_bridge_name(s->name, net, buf);
	*out = buf;
}

const char *virt_planned_mac(const proto_vm_place *p, const sc_if *ifc, guint i)
{
	return planned_mac(p, ifc, i);
}

void virt_bridge_of(const scenario *s, const char *net, char buf[16], const char **out)
{
	bridge_of(s, net, buf, out);
}

static xmlNodePtr add_text(xmlNodePtr parent, const char *name, const char *text)
{
	return xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text);
}

static void set_prop(xmlNodePtr n, const char *name, const char *value)
{
	xmlNewProp(n, BAD_CAST name, BAD_CAST value);
}

static char *ip_text(const sc_ip *ip)
{
	if (ip->dhcp || !ip->addr)
		return g_strdup("dhcp");
	if (ip->prefix >= 0)
		return g_strdup_printf("%s/%d", ip->addr, ip->prefix);
	return g_strdup(ip->addr);
}

/* config_method: how the VM is configured, for `nube status`: "cloud-init+vnx" (the media it
 * gets, each image reading the one it knows) or "qemu-ga" (the agent configures it) */
static char *config_method(bool media, const proto_vm_place *place)
{
	GString *g = g_string_new(NULL);

	for (guint i = 0; media && place && place->media && i < place->media->len; i++) {
		const proto_medium *m = g_ptr_array_index(place->media, i);

		g_string_append_printf(g, "%s%s", g->len ? "+" : "",
		    strcmp(m->kind, PROTO_MEDIUM_CIDATA) == 0 ? "cloud-init" : m->kind);
	}
	if (g->len == 0)
		g_string_append(g, "qemu-ga");
	return g_string_free(g, FALSE);
}

static void render_metadata(xmlNodePtr dom, const scenario *s, const sc_vm *vm,
    const proto_vm_place *place, const char *config)
{

	xmlNodePtr md = xmlNewChild(dom, NULL, BAD_CAST "metadata", NULL);
	xmlNodePtr m = xmlNewChild(md, NULL, BAD_CAST "vm", NULL);
	xmlNsPtr ns = xmlNewNs(m, BAD_CAST VIRT_METADATA_NS, BAD_CAST VIRT_METADATA_PREFIX);

	xmlSetNs(m, ns);
	set_prop(m, "scenario", s->name);
	set_prop(m, "vm", vm->name);
	set_prop(m, "config", config);
	if (place && place->mgmt_addr)
		set_prop(m, "mgmt", place->mgmt_addr);
	for (guint i = 0; vm->ifs && i < vm->ifs->len; i++) {
		const sc_if *ifc = g_ptr_array_index(vm->ifs, i);
		xmlNodePtr e = xmlNewChild(m, ns, BAD_CAST "if", NULL);
		g_autofree char *id = g_strdup_printf("%d", ifc->id);
		const char *mac = planned_mac(place, ifc, i);

		set_prop(e, "id", id);
		set_prop(e, "net", ifc->net);
		if (mac)
			set_prop(e, "mac", mac);
		for (guint k = 0; ifc->ips && k < ifc->ips->len; k++) {
			g_autofree char *t = ip_text(g_ptr_array_index(ifc->ips, k));
			xmlNewTextChild(e, ns, BAD_CAST "addr", BAD_CAST t);
		}
	}
}

/* the configuration media of place (virt_media_write made their volumes, files of the pool
 * like the overlay, so a migration finds and uploads them): the "vnx" one as a
 * read-only raw virtio disk vdb (VNX's daemon mounts /dev/vdb on Debian), the "cidata" one as
 * a read-only IDE CD-ROM hdc */
static void render_media(virt *v, xmlNodePtr devs, const char *domname,
    const proto_vm_place *place)
{
	static const struct {
		const char *kind, *device, *dev, *bus;
	} slots[] = {
		{ PROTO_MEDIUM_VNX, "disk", "vdb", "virtio" },
		{ PROTO_MEDIUM_CIDATA, "cdrom", "hdc", "ide" },
	};

	for (size_t k = 0; k < G_N_ELEMENTS(slots); k++) {
		if (!proto_vm_place_medium(place, slots[k].kind))
			continue;
		g_autofree char *vol = virt_media_volume(domname, slots[k].kind);
		g_autofree char *path = virt_volume_path(v, vol);
		xmlNodePtr d = xmlNewChild(devs, NULL, BAD_CAST "disk", NULL);
		set_prop(d, "type", "file");
		set_prop(d, "device", slots[k].device);
		xmlNodePtr drv = xmlNewChild(d, NULL, BAD_CAST "driver", NULL);
		set_prop(drv, "name", "qemu");
		set_prop(drv, "type", "raw");
		set_prop(xmlNewChild(d, NULL, BAD_CAST "source", NULL), "file", path);
		xmlNodePtr tg = xmlNewChild(d, NULL, BAD_CAST "target", NULL);
		set_prop(tg, "dev", slots[k].dev);
		set_prop(tg, "bus", slots[k].bus);
		xmlNewChild(d, NULL, BAD_CAST "readonly", NULL);
	}
}

/* domain type for one VM: the probed type, or a fallback (warning) for types this host
 * cannot run; NULL + err when falling back is off */
static const char *vm_domain_type(virt *v, const sc_vm *vm, GPtrArray *warnings, GError **err)
{
	const char *t = vm->type;

	/* VNX "libvirt" VMs (subtype kvm/qemu) are QEMU guests: accelerated or not is the host's
	 * decision (virt_probe), not the scenario's. */
	if (!t || g_ascii_strcasecmp(t, "libvirt") == 0 || g_ascii_strcasecmp(t, "qemu") == 0 ||
	    g_ascii_strcasecmp(t, "kvm") == 0)
		return v->domain_type;
	/* lxc that is not a container here: virt_lxc_decide said why (or the disks will) */
	if (virt_lxc_type(vm))
		return v->domain_type;
	if (!v->type_fallback) {
		g_set_error(err, VIRT_ERROR, 0, "vm '%s': type '%s' not available on this host "
		    "(type fallback is off)", vm->name, t);
		return NULL;
	}
	warn(warnings, "vm '%s': type '%s' not available on this host, running it as %s",
	    vm->name, t, v->domain_type);
	return v->domain_type;
}

char *virt_render_domain(virt *v, const scenario *s, const proto_deployment *dep,
    const char *vmname, int mtu, GPtrArray *warnings, GError **err)
{
	if (!v || !s || !vmname) {
		g_set_error(err, VIRT_ERROR, 0, "render: missing connection, scenario or vm name");
		return NULL;
	}
	const sc_vm *vm = find_vm(s, vmname);
	if (!vm) {
		g_set_error(err, VIRT_ERROR, 0, "render: scenario '%s' has no vm '%s'", s->name, vmname);
		return NULL;
	}
	const proto_vm_place *place = find_place(dep, vmname);
	int container = virt_lxc_decide(v, dep, vm, warnings, err);
	if (container < 0)
		return NULL;
	if (container)
		return virt_lxc_render(v, s, dep, vm, mtu, render_metadata, err);
	const char *type = vm_domain_type(v, vm, warnings, err);
	if (!type)
		return NULL;

	virt_vm_disk disk;
	if (virt_vm_disk_decide(v, s, dep, vm, &disk, warnings, err) < 0)
		return NULL;

	g_autofree char *domname = proto_domain_name(s->name, vm->name);
	g_autofree char *mem = g_strdup_printf("%" G_GUINT64_FORMAT, vm->mem_mib ? vm->mem_mib : SC_DEFAULT_MEM_MIB);
	g_autofree char *vcpu = g_strdup_printf("%d", vm->vcpu > 0 ? vm->vcpu : SC_DEFAULT_VCPU);
	const char *arch = vm->arch ? vm->arch : "x86_64";

	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr dom = xmlNewNode(NULL, BAD_CAST "domain");
	xmlDocSetRootElement(doc, dom);
	set_prop(dom, "type", type);
	add_text(dom, "name", domname);
	g_autofree char *config = config_method(disk.boot == VIRT_BOOT_DISK, place);

	render_metadata(dom, s, vm, place, config);
	set_prop(add_text(dom, "memory", mem), "unit", "MiB");
	add_text(dom, "vcpu", vcpu);

	xmlNodePtr os = xmlNewChild(dom, NULL, BAD_CAST "os", NULL);
	xmlNodePtr ty = add_text(os, "type", "hvm");
	set_prop(ty, "arch", arch);
	if (strcmp(arch, "x86_64") == 0 || strcmp(arch, "i686") == 0)
		set_prop(ty, "machine", "pc");
	if (disk.boot == VIRT_BOOT_DISK) {
		set_prop(xmlNewChild(os, NULL, BAD_CAST "boot", NULL), "dev", "hd");
	} else {
		add_text(os, "kernel", disk.kernel);
		if (disk.initrd)
			add_text(os, "initrd", disk.initrd);
		add_text(os, "cmdline", disk.disk ? VIRT_KERNEL_CMDLINE : VIRT_CMDLINE);
	}
	/* ACPI: the guest powers off (and VNX's daemon reboots it) as on real hardware */
	xmlNodePtr feat = xmlNewChild(dom, NULL, BAD_CAST "features", NULL);
	xmlNewChild(feat, NULL, BAD_CAST "acpi", NULL);

	add_text(dom, "on_poweroff", "destroy");
	add_text(dom, "on_reboot", "restart");
	add_text(dom, "on_crash", "destroy");

	xmlNodePtr devs = xmlNewChild(dom, NULL, BAD_CAST "devices", NULL);
	if (disk.disk) {
		xmlNodePtr d = xmlNewChild(devs, NULL, BAD_CAST "disk", NULL);
		set_prop(d, "type", "file");
		set_prop(d, "device", "disk");
		xmlNodePtr drv = xmlNewChild(d, NULL, BAD_CAST "driver", NULL);
		set_prop(drv, "name", "qemu");
		set_prop(drv, "type", disk.disk_format);
		set_prop(xmlNewChild(d, NULL, BAD_CAST "source", NULL), "file", disk.disk);
		xmlNodePtr tg = xmlNewChild(d, NULL, BAD_CAST "target", NULL);
		set_prop(tg, "dev", "vda");
		set_prop(tg, "bus", "virtio");
	}
	if (disk.boot == VIRT_BOOT_DISK)	/* not for the test guest a missing image falls back to */
		render_media(v, devs, domname, place);
	virt_vm_disk_clear(&disk);
	for (guint i = 0; vm->ifs && i < vm->ifs->len; i++) {
		const sc_if *ifc = g_ptr_array_index(vm->ifs, i);
		char brbuf[16];
		const char *br;
		const char *mac = planned_mac(place, ifc, i);

		bridge_of(s, ifc->net, brbuf, &br);
		xmlNodePtr n = xmlNewChild(devs, NULL, BAD_CAST "interface", NULL);
		set_prop(n, "type", "bridge");
		set_prop(xmlNewChild(n, NULL, BAD_CAST "source", NULL), "bridge", br);
		if (mac)
			set_prop(xmlNewChild(n, NULL, BAD_CAST "mac", NULL), "address", mac);
		set_prop(xmlNewChild(n, NULL, BAD_CAST "model", NULL), "type", "virtio");
		if (mtu > 0) {
			g_autofree char *m = g_strdup_printf("%d", mtu);
			set_prop(xmlNewChild(n, NULL, BAD_CAST "mtu", NULL), "size", m);
		}
	}
	xmlNodePtr ser = xmlNewChild(devs, NULL, BAD_CAST "serial", NULL);
	set_prop(ser, "type", "pty");
	set_prop(xmlNewChild(ser, NULL, BAD_CAST "target", NULL), "port", "0");
	xmlNodePtr con = xmlNewChild(devs, NULL, BAD_CAST "console", NULL);
	set_prop(con, "type", "pty");
	xmlNodePtr ct = xmlNewChild(con, NULL, BAD_CAST "target", NULL);
	set_prop(ct, "type", "serial");
	set_prop(ct, "port", "0");
	xmlNodePtr ch = xmlNewChild(devs, NULL, BAD_CAST "channel", NULL);
	set_prop(ch, "type", "unix");
	xmlNodePtr cht = xmlNewChild(ch, NULL, BAD_CAST "target", NULL);
	set_prop(cht, "type", "virtio");
	set_prop(cht, "name", VIRT_AGENT_CHANNEL);

	xmlBufferPtr buf = xmlBufferCreate();
	xmlNodeDump(buf, doc, dom, 0, 1);
	char *out = g_strdup_printf("%s\n", (const char *)xmlBufferContent(buf));
	xmlBufferFree(buf);
	xmlFreeDoc(doc);
	return out;
}

/* ---------------------------------------------------------------- define / start / destroy */

/* the <name> of a domain XML document, NULL if unreadable */
static char *xml_domain_name(const char *xml)
{
	char *name = NULL;
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);

	if (!doc)
		return NULL;
	for (xmlNodePtr c = xmlDocGetRootElement(doc)->children; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, BAD_CAST "name") == 0) {
			xmlChar *t = xmlNodeGetContent(c);
			name = g_strdup((const char *)t);
			xmlFree(t);
			break;
		}
	}
	xmlFreeDoc(doc);
	return name;
}

static char *prop(xmlNodePtr n, const char *name);

/* the domain XML document is an LXC domain (<domain type="lxc">) */
static bool xml_is_lxc(const char *xml)
{
	bool r = false;
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;

	if (root) {
		g_autofree char *t = prop(root, "type");
		r = g_strcmp0(t, "lxc") == 0;
	}
	if (doc)
		xmlFreeDoc(doc);
	return r;
}

/* the nube owner (scenario and vm of the <metadata> element in VIRT_METADATA_NS) of a domain
 * XML document; 0 and new strings, -1 when it has none */
static int xml_owner(const char *xml, char **scen, char **vm)
{
	int r = -1;
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;

	*scen = *vm = NULL;
	for (xmlNodePtr c = root ? root->children : NULL; c && r < 0; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || xmlStrcmp(c->name, BAD_CAST "metadata") != 0)
			continue;
		for (xmlNodePtr m = c->children; m && r < 0; m = m->next) {
			if (m->type != XML_ELEMENT_NODE || xmlStrcmp(m->name, BAD_CAST "vm") != 0 ||
			    !m->ns || xmlStrcmp(m->ns->href, BAD_CAST VIRT_METADATA_NS) != 0)
				continue;
			*scen = prop(m, "scenario");
			*vm = prop(m, "vm");
			r = *scen && *vm ? 0 : -1;
		}
	}
	if (r < 0) {
		g_clear_pointer(scen, g_free);
		g_clear_pointer(vm, g_free);
	}
	if (doc)
		xmlFreeDoc(doc);
	return r;
}

/* a domain that exists already is only taken over when its nube metadata names the same
 * scenario and vm as the new definition; anything else is someone else's: left untouched */
static int check_owner(virt *v, virDomainPtr old, const char *name, const char *xml,
    GError **err)
{
	g_autofree char *want_s = NULL, *want_v = NULL, *have_s = NULL, *have_v = NULL;
	/* libvirt hands the element back without its namespace: put it in again */
	char *md = virDomainGetMetadata(old, VIR_DOMAIN_METADATA_ELEMENT, VIRT_METADATA_NS, 0);
	xmlDocPtr doc = md ? xmlReadMemory(md, (int)strlen(md), "metadata.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING) : NULL;
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;

	free(md);
	if (root && xmlStrcmp(root->name, BAD_CAST "vm") == 0) {
		have_s = prop(root, "scenario");
		have_v = prop(root, "vm");
	}
	if (doc)
		xmlFreeDoc(doc);
	xml_owner(xml, &want_s, &want_v);
	if (!have_s || !have_v) {
		g_set_error(err, VIRT_ERROR, 0, "domain '%s' exists on %s and is not nube's "
		    "(no nube metadata): left untouched", name, v->uri);
		return -1;
	}
	if (!want_s || strcmp(want_s, have_s) != 0 || strcmp(want_v, have_v) != 0) {
		g_set_error(err, VIRT_ERROR, 0, "domain '%s' exists on %s and belongs to vm "
		    "'%s' of scenario '%s': left untouched", name, v->uri, have_v, have_s);
		return -1;
	}
	return 0;
}

/* define: define xml persistently and, when start, start it. A domain of that name whose
 * metadata says it is this very VM is left as it is when running (idempotent re-deploy
 * after an agent restart) or not to be started; a foreign one is refused (check_owner). */
static int define(virt *v, const char *xml, bool start, GError **err)
{
	if (!v || !xml) {
		g_set_error(err, VIRT_ERROR, 0, "define: missing connection or XML");
		return -1;
	}
	g_autofree char *name = xml_domain_name(xml);
	if (!name) {
		g_set_error(err, VIRT_ERROR, 0, "define: domain XML is malformed or has no <name>");
		return -1;
	}
	virConnectPtr conn = v->conn;
	if (xml_is_lxc(xml)) {
		if (virt_lxc_usable(v, err) < 0)
			return -1;
		conn = v->lxc;
	}
	virDomainPtr old = virDomainLookupByName(conn, name);
	bool existed = old != NULL;
	if (old) {
		if (check_owner(v, old, name, xml, err) < 0) {
			virDomainFree(old);
			return -1;
		}
		int active = virDomainIsActive(old);
		virDomainFree(old);
		if (active == 1 || !start)
			return 0;
	}
	virDomainPtr dom = virDomainDefineXML(conn, xml);
	if (!dom) {
		virt_set_error(err, "define '%s' on %s", name, conn == v->conn ? v->uri : v->lxc_uri);
		return -1;
	}
	if (start && virDomainCreate(dom) < 0) {
		virt_set_error(err, "start '%s' on %s", name, conn == v->conn ? v->uri : v->lxc_uri);
		if (!existed)
			virDomainUndefine(dom);	/* nothing half-made remains */
		virDomainFree(dom);
		return -1;
	}
	virDomainFree(dom);
	return 0;
}

int virt_define_start(virt *v, const char *xml, GError **err)
{
	return define(v, xml, true, err);
}

int virt_define_only(virt *v, const char *xml, GError **err)
{
	return define(v, xml, false, err);
}

int virt_destroy_undefine(virt *v, const char *domname, GError **err)
{
	if (!v || !domname) {
		g_set_error(err, VIRT_ERROR, 0, "destroy: missing connection or domain name");
		return -1;
	}
	virDomainPtr dom = virDomainLookupByName(v->conn, domname);
	if (!dom)
		dom = virt_lxc_lookup(v, domname);
	if (!dom)
		return virt_volumes_delete(v, domname, err) < 0 ? -1 : 0;
	int rc = 0;
	int persistent = virDomainIsPersistent(dom);
	if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0) {
		virt_set_error(err, "destroy '%s' on %s", domname, v->uri);
		rc = -1;
	} else if (persistent == 1 && virDomainUndefineFlags(dom, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
	    VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) < 0 && virDomainUndefine(dom) < 0) {
		virt_set_error(err, "undefine '%s' on %s", domname, v->uri);
		rc = -1;
	}
	virDomainFree(dom);
	if (rc == 0 && virt_volumes_delete(v, domname, err) < 0)
		rc = -1;
	return rc;
}

/* ---------------------------------------------------------------- list */

void virt_dom_info_free(virt_dom_info *i)
{
	if (!i)
		return;
	g_free(i->domain);
	g_free(i->scenario);
	g_free(i->vm);
	g_free(i->config);
	g_free(i->move);
	g_free(i->state);
	if (i->nets)
		g_ptr_array_unref(i->nets);
	if (i->addrs)
		g_ptr_array_unref(i->addrs);
	if (i->ifaces)
		g_ptr_array_unref(i->ifaces);
	g_free(i);
}

static void dom_if_free(virt_dom_if *f)
{
	if (!f)
		return;
	g_free(f->net);
	g_free(f->addr);
	g_free(f);
}

static const char *state_name(int st)
{
	switch (st) {
	case VIR_DOMAIN_RUNNING: return "running";
	case VIR_DOMAIN_BLOCKED: return "blocked";
	case VIR_DOMAIN_PAUSED: return "paused";
	case VIR_DOMAIN_SHUTDOWN: return "shutdown";
	case VIR_DOMAIN_SHUTOFF: return "shutoff";
	case VIR_DOMAIN_CRASHED: return "crashed";
	case VIR_DOMAIN_PMSUSPENDED: return "pmsuspended";
	default: return "nostate";
	}
}

static char *prop(xmlNodePtr n, const char *name)
{
	xmlChar *p = xmlGetProp(n, BAD_CAST name);
	char *r = p ? g_strdup((const char *)p) : NULL;

	xmlFree(p);
	return r;
}

static bool str_in(GPtrArray *a, const char *s)
{
	for (guint i = 0; i < a->len; i++)
		if (strcmp(g_ptr_array_index(a, i), s) == 0)
			return true;
	return false;
}

/* fill scenario/vm/nets/addrs of i from nube's metadata element; -1 when not ours */
static int parse_metadata(const char *md, virt_dom_info *i)
{
	xmlDocPtr doc = xmlReadMemory(md, (int)strlen(md), "metadata.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return -1;
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (!root || xmlStrcmp(root->name, BAD_CAST "vm") != 0) {
		xmlFreeDoc(doc);
		return -1;
	}
	i->scenario = prop(root, "scenario");
	i->vm = prop(root, "vm");
	i->config = prop(root, "config");
	i->move = prop(root, "move");
	for (xmlNodePtr c = root->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || xmlStrcmp(c->name, BAD_CAST "if") != 0)
			continue;
		g_autofree char *id = prop(c, "id");
		g_autofree char *net = prop(c, "net");
		if (!net)
			continue;
		if (!str_in(i->nets, net))
			g_ptr_array_add(i->nets, g_strdup(net));
		for (xmlNodePtr a = c->children; a; a = a->next) {
			if (a->type != XML_ELEMENT_NODE || xmlStrcmp(a->name, BAD_CAST "addr") != 0)
				continue;
			xmlChar *t = xmlNodeGetContent(a);
			virt_dom_if *f = g_new0(virt_dom_if, 1);
			char *end = NULL;
			long n = id ? strtol(id, &end, 10) : -1;

			f->id = id && end != id && *end == '\0' && n >= 0 && n <= INT_MAX ? (int)n : -1;
			f->net = g_strdup(net);
			f->addr = g_strdup((const char *)t);
			g_ptr_array_add(i->ifaces, f);
			g_ptr_array_add(i->addrs, g_strdup_printf("%s %s %s", id ? id : "?", net, (const char *)t));
			xmlFree(t);
		}
	}
	xmlFreeDoc(doc);
	return i->scenario && i->vm ? 0 : -1;
}

static void fill_stats(virt_dom_info *i, virDomainStatsRecordPtr r)
{
	int st = 0;
	unsigned long long ull = 0;
	unsigned int ui = 0, nnet = 0;

	if (virTypedParamsGetInt(r->params, r->nparams, "state.state", &st) == 1)
		i->state = g_strdup(state_name(st));
	if (virTypedParamsGetULLong(r->params, r->nparams, "cpu.time", &ull) == 1)
		i->cpu_time_ns = ull;
	if (virTypedParamsGetULLong(r->params, r->nparams, "balloon.current", &ull) == 1)
		i->mem_mib = ull / 1024;
	if (virTypedParamsGetULLong(r->params, r->nparams, "balloon.maximum", &ull) == 1)
		i->mem_max_mib = ull / 1024;
	if (virTypedParamsGetULLong(r->params, r->nparams, "balloon.rss", &ull) == 1)
		i->mem_rss_mib = ull / 1024;
	if (virTypedParamsGetUInt(r->params, r->nparams, "vcpu.current", &ui) == 1)
		i->vcpus = (int)ui;
	if (virTypedParamsGetUInt(r->params, r->nparams, "net.count", &nnet) == 1) {
		for (unsigned int k = 0; k < nnet; k++) {
			char key[64];
			g_snprintf(key, sizeof key, "net.%u.rx.bytes", k);
			if (virTypedParamsGetULLong(r->params, r->nparams, key, &ull) == 1)
				i->rx_bytes += ull;
			g_snprintf(key, sizeof key, "net.%u.tx.bytes", k);
			if (virTypedParamsGetULLong(r->params, r->nparams, key, &ull) == 1)
				i->tx_bytes += ull;
		}
	}
}

/* rx/tx bytes of a running container, summed over its interfaces (host-side veth names from
 * its live XML; libvirt reports them as the container sees them) */
static void lxc_if_stats(virDomainPtr dom, virt_dom_info *i)
{
	char *xml = virDomainGetXMLDesc(dom, 0);
	xmlDocPtr doc = xml ? xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING) : NULL;

	free(xml);
	if (!doc)
		return;
	xmlXPathContextPtr xc = xmlXPathNewContext(doc);
	xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST "/domain/devices/interface/target/@dev", xc);
	for (int k = 0; r && r->nodesetval && k < r->nodesetval->nodeNr; k++) {
		xmlChar *dev = xmlNodeGetContent(r->nodesetval->nodeTab[k]);
		virDomainInterfaceStatsStruct st;

		if (dev && virDomainInterfaceStats(dom, (const char *)dev, &st, sizeof st) == 0) {
			i->rx_bytes += st.rx_bytes > 0 ? (uint64_t)st.rx_bytes : 0;
			i->tx_bytes += st.tx_bytes > 0 ? (uint64_t)st.tx_bytes : 0;
		}
		xmlFree(dev);
	}
	virResetLastError();
	xmlXPathFreeObject(r);
	xmlXPathFreeContext(xc);
	xmlFreeDoc(doc);
}

/* nube's domains of connection c into out; the LXC driver has no bulk statistics: its
 * domains are read one by one (virDomainGetInfo: CPU time, memory the container uses) */
static int list_conn(virConnectPtr c, const char *uri, bool lxc, GPtrArray *out, GError **err)
{
	virDomainStatsRecordPtr *recs = NULL;
	virDomainPtr *doms = NULL;
	unsigned int stats = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL |
	    VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_INTERFACE | VIR_DOMAIN_STATS_VCPU;
	int n = lxc ? virConnectListAllDomains(c, &doms, 0) :
	    virConnectGetAllDomainStats(c, stats, &recs, 0);
	if (n < 0) {
		virt_set_error(err, "list domains on %s", uri);
		return -1;
	}
	for (int k = 0; k < n; k++) {
		virDomainPtr dom = lxc ? doms[k] : recs[k]->dom;
		char *md = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, VIRT_METADATA_NS, 0);
		if (!md)
			continue;	/* not nube's domain */
		virt_dom_info *i = g_new0(virt_dom_info, 1);
		i->nets = g_ptr_array_new_with_free_func(g_free);
		i->addrs = g_ptr_array_new_with_free_func(g_free);
		i->ifaces = g_ptr_array_new_with_free_func((GDestroyNotify)dom_if_free);
		int ok = parse_metadata(md, i);
		free(md);
		if (ok < 0) {
			virt_dom_info_free(i);
			continue;
		}
		i->domain = g_strdup(virDomainGetName(dom));
		i->active = virDomainIsActive(dom) == 1;
		i->container = lxc;
		if (!lxc)
			fill_stats(i, recs[k]);
		virDomainInfo info;
		if (virDomainGetInfo(dom, &info) == 0) {
			if (!i->state)
				i->state = g_strdup(state_name(info.state));
			if (!i->cpu_time_ns)
				i->cpu_time_ns = info.cpuTime;
			if (!i->mem_mib)
				i->mem_mib = (i->active ? info.memory : info.maxMem) / 1024;
			if (!i->mem_max_mib)
				i->mem_max_mib = info.maxMem / 1024;
			if (!i->vcpus)
				i->vcpus = info.nrVirtCpu;
			/* a running container's memory is what its cgroup holds */
			if (lxc && i->active)
				i->mem_rss_mib = info.memory / 1024;
		}
		if (lxc && i->active)
			lxc_if_stats(dom, i);
		if (!i->state)
			i->state = g_strdup("nostate");
		g_ptr_array_add(out, i);
	}
	if (lxc) {
		for (int k = 0; k < n; k++)
			virDomainFree(doms[k]);
		free(doms);
	} else {
		virDomainStatsRecordListFree(recs);
	}
	return 0;
}

/* the names and run states (1 running, 2 not) of the domains of connection c into out */
static int states_conn(virConnectPtr c, const char *uri, GHashTable *out, GError **err)
{
	static const unsigned int flags[] = { VIR_CONNECT_LIST_DOMAINS_ACTIVE,
	    VIR_CONNECT_LIST_DOMAINS_INACTIVE };

	for (size_t f = 0; f < G_N_ELEMENTS(flags); f++) {
		virDomainPtr *doms = NULL;
		int n = virConnectListAllDomains(c, &doms, flags[f]);

		if (n < 0) {
			virt_set_error(err, "list domains on %s", uri);
			return -1;
		}
		for (int k = 0; k < n; k++) {
			g_hash_table_replace(out, g_strdup(virDomainGetName(doms[k])),
			    GINT_TO_POINTER(f == 0 ? 1 : 2));
			virDomainFree(doms[k]);
		}
		free(doms);
	}
	return 0;
}

GHashTable *virt_states(virt *v, GError **err)
{
	GHashTable *out;

	if (!v) {
		g_set_error(err, VIRT_ERROR, 0, "states: no connection");
		return NULL;
	}
	out = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	if (states_conn(v->conn, v->uri, out, err) < 0) {
		g_hash_table_unref(out);
		return NULL;
	}
	/* containers, where this host can run them (as virt_list) */
	GError *e = NULL;
	if (v->lxc_uri && (v->lxc || virt_lxc_usable(v, &e) == 0 || v->lxc) &&
	    states_conn(v->lxc, v->lxc_uri, out, err) < 0) {
		g_clear_error(&e);
		g_hash_table_unref(out);
		return NULL;
	}
	g_clear_error(&e);
	return out;
}

GPtrArray *virt_list(virt *v, GError **err)
{
	if (!v) {
		g_set_error(err, VIRT_ERROR, 0, "list: no connection");
		return NULL;
	}
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)virt_dom_info_free);
	if (list_conn(v->conn, v->uri, false, out, err) < 0) {
		g_ptr_array_unref(out);
		return NULL;
	}
	/* containers, where this host can run them */
	GError *e = NULL;
	if (v->lxc_uri && (v->lxc || virt_lxc_usable(v, &e) == 0 || v->lxc) &&
	    list_conn(v->lxc, v->lxc_uri, true, out, err) < 0) {
		g_clear_error(&e);
		g_ptr_array_unref(out);
		return NULL;
	}
	g_clear_error(&e);
	return out;
}

/* ---------------------------------------------------------------- guest agent */

static virDomainPtr lookup(virt *v, const char *domname, GError **err)
{
	virDomainPtr dom = virDomainLookupByName(v->conn, domname);

	if (!dom)
		virt_set_error(err, "domain '%s' on %s", domname, v->uri);
	return dom;
}

/* one agent command; returns the parsed "return" member (new reference) or NULL + err */
static json_t *agent_call(virt *v, virDomainPtr dom, json_t *cmd, int timeout_s, GError **err)
{
	g_autofree char *text = json_dumps(cmd, JSON_COMPACT);
	/* the name first: any libvirt call after the command would reset its error */
	const char *name = virDomainGetName(dom);
	char *reply = virDomainQemuAgentCommand(dom, text, timeout_s, 0);
	const char *what = json_string_value(json_object_get(cmd, "execute"));

	if (!reply) {
		virt_set_error(err, "%s in '%s' on %s", what ? what : "agent command", name, v->uri);
		return NULL;
	}
	json_error_t je;
	json_t *j = json_loads(reply, 0, &je);
	free(reply);
	json_t *ret = j ? json_object_get(j, "return") : NULL;
	if (!ret) {
		g_set_error(err, VIRT_ERROR, 0, "%s in '%s' on %s: unexpected agent reply",
		    what ? what : "agent command", virDomainGetName(dom), v->uri);
		json_decref(j);
		return NULL;
	}
	json_incref(ret);
	json_decref(j);
	return ret;
}

static char *b64_text(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	gsize len = 0;

	if (!s)
		return g_strdup("");
	guchar *raw = g_base64_decode(s, &len);
	char *t = g_strndup((const char *)raw, len);
	g_free(raw);
	return t;
}

static int exec_dom(virt *v, virDomainPtr dom, const char *cmd, int timeout_s,
    int *exit_code, char **out, char **errout, GError **err)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)(timeout_s > 0 ? timeout_s : 1) * G_USEC_PER_SEC;
	int call_to = timeout_s > 0 && timeout_s < 10 ? timeout_s : 10;
	json_t *req = json_pack("{s:s, s:{s:s, s:[s,s], s:b}}", "execute", "guest-exec",
	    "arguments", "path", "/bin/sh", "arg", "-c", cmd, "capture-output", 1);
	json_t *r = agent_call(v, dom, req, call_to, err);
	json_decref(req);
	if (!r)
		return -1;
	json_int_t pid = json_integer_value(json_object_get(r, "pid"));
	json_decref(r);
	if (pid <= 0) {
		g_set_error(err, VIRT_ERROR, 0, "guest-exec in '%s': no pid in reply", virDomainGetName(dom));
		return -1;
	}
	for (;;) {
		json_t *sreq = json_pack("{s:s, s:{s:I}}", "execute", "guest-exec-status",
		    "arguments", "pid", pid);
		json_t *s = agent_call(v, dom, sreq, call_to, err);
		json_decref(sreq);
		if (!s)
			return -1;
		if (json_is_true(json_object_get(s, "exited"))) {
			json_t *ec = json_object_get(s, "exitcode");
			json_t *sig = json_object_get(s, "signal");
			if (exit_code)
				*exit_code = ec ? (int)json_integer_value(ec) :
				    sig ? 128 + (int)json_integer_value(sig) : -1;
			if (out)
				*out = b64_text(s, "out-data");
			if (errout)
				*errout = b64_text(s, "err-data");
			json_decref(s);
			return 0;
		}
		json_decref(s);
		if (g_get_monotonic_time() >= deadline) {
			g_set_error(err, VIRT_ERROR, 0, "command in '%s' did not finish within %d s",
			    virDomainGetName(dom), timeout_s);
			return -1;
		}
		g_usleep(VIRT_POLL_US);
	}
}

int virt_guest_exec(virt *v, const char *domname, const char *cmd, int timeout_s,
    int *exit_code, char **out, char **errout, GError **err)
{
	if (!v || !domname || !cmd) {
		g_set_error(err, VIRT_ERROR, 0, "exec: missing connection, domain or command");
		return -1;
	}
	virDomainPtr dom = virt_lxc_lookup(v, domname);
	if (dom) {
		int rc = virt_lxc_exec(v, dom, cmd, timeout_s, exit_code, out, errout, err);
		virDomainFree(dom);
		return rc;
	}
	dom = lookup(v, domname, err);
	if (!dom)
		return -1;
	int rc = exec_dom(v, dom, cmd, timeout_s, exit_code, out, errout, err);
	virDomainFree(dom);
	return rc;
}

/* run a command that must succeed (exit 0), its stderr in the error otherwise */
static int exec_must(virt *v, virDomainPtr dom, const char *cmd, int timeout_s, GError **err)
{
	g_autofree char *out = NULL, *errout = NULL;
	int code = -1;

	if (exec_dom(v, dom, cmd, timeout_s, &code, &out, &errout, err) < 0)
		return -1;
	if (code != 0) {
		g_set_error(err, VIRT_ERROR, 0, "'%s' in '%s' exited %d: %s", cmd,
		    virDomainGetName(dom), code, g_strstrip(errout));
		return -1;
	}
	return 0;
}

/* the shell command giving the (quoted) path its mode and, when owner is set, its owner */
static char *mode_owner_cmd(const char *qpath, unsigned mode, const char *owner)
{
	g_autofree char *qown = owner != NULL ? g_shell_quote(owner) : NULL;

	return qown != NULL ? g_strdup_printf("chmod %04o %s && chown %s %s", mode & 07777, qpath,
	    qown, qpath) : g_strdup_printf("chmod %04o %s", mode & 07777, qpath);
}

/* a container has no guest agent: the file goes in by commands run inside it (base64 in
 * pieces of 48 KiB, under the kernel's 128 KiB per argument), never through the host's view
 * of its root, where a symlink of the container could lead a write astray */
static int lxc_write(virt *v, virDomainPtr dom, const char *path, const void *data, size_t len,
    unsigned mode, const char *owner, int timeout_s, GError **err)
{
	g_autofree char *qpath = g_shell_quote(path), *dir = g_path_get_dirname(path);
	g_autofree char *qdir = g_shell_quote(dir);
	size_t off = 0;

	do {
		size_t n = MIN(len - off, (size_t)49152);
		g_autofree char *b64 = g_base64_encode((const guchar *)data + off, n);
		g_autofree char *cmd = off == 0 ?
		    g_strdup_printf("mkdir -p %s && printf %%s '%s' | base64 -d > %s", qdir, b64, qpath) :
		    g_strdup_printf("printf %%s '%s' | base64 -d >> %s", b64, qpath);
		g_autofree char *out = NULL, *errout = NULL;
		int code = -1;

		if (virt_lxc_exec(v, dom, cmd, timeout_s, &code, &out, &errout, err) < 0)
			return -1;
		if (code != 0) {
			g_set_error(err, VIRT_ERROR, 0, "write '%s' in '%s': exit %d: %s", path,
			    virDomainGetName(dom), code, errout != NULL ? g_strstrip(errout) : "");
			return -1;
		}
		off += n;
	} while (off < len);
	g_autofree char *fix = mode_owner_cmd(qpath, mode, owner);
	g_autofree char *out = NULL, *errout = NULL;
	int code = -1;
	if (virt_lxc_exec(v, dom, fix, timeout_s, &code, &out, &errout, err) < 0)
		return -1;
	if (code != 0) {
		g_set_error(err, VIRT_ERROR, 0, "'%s' in '%s': exit %d: %s", fix, virDomainGetName(dom),
		    code, errout != NULL ? g_strstrip(errout) : "");
		return -1;
	}
	return 0;
}

int virt_guest_write(virt *v, const char *domname, const char *path, const void *data,
    size_t len, unsigned mode, const char *owner, int timeout_s, GError **err)
{
	int call_to = timeout_s > 0 && timeout_s < 10 ? timeout_s : 10;
	g_autofree char *dir = NULL, *qdir = NULL, *qpath = NULL, *fix = NULL;
	virDomainPtr dom;
	json_int_t handle;
	json_t *r;
	int rc = -1;

	if (!v || !domname || !path || path[0] != '/') {
		g_set_error(err, VIRT_ERROR, 0, "write: missing connection, domain or absolute path");
		return -1;
	}
	if ((dom = virt_lxc_lookup(v, domname)) != NULL) {
		rc = lxc_write(v, dom, path, data, len, mode, owner, timeout_s, err);
		virDomainFree(dom);
		return rc;
	}
	if (!(dom = lookup(v, domname, err)))
		return -1;
	dir = g_path_get_dirname(path);
	qdir = g_shell_quote(dir);
	qpath = g_shell_quote(path);
	g_autofree char *mk = g_strdup_printf("mkdir -p %s", qdir);
	if (exec_must(v, dom, mk, timeout_s, err) < 0)
		goto out;
	json_t *open_req = json_pack("{s:s, s:{s:s, s:s}}", "execute", "guest-file-open",
	    "arguments", "path", path, "mode", "w");
	r = agent_call(v, dom, open_req, call_to, err);
	json_decref(open_req);
	if (!r)
		goto out;
	handle = json_integer_value(r);
	json_decref(r);
	/* qemu-ga reads a request of at most 64 KiB (QGA_READ_COUNT_DEFAULT's 4 KiB reads into
	 * a JSON parser limited by the channel): 32 KiB of data (43 KiB of base64) a call */
	bool wrote = true;
	size_t off = 0;
	do {
		size_t n = MIN(len - off, (size_t)32768);
		g_autofree char *b64 = g_base64_encode((const guchar *)data + off, n);
		json_t *w = json_pack("{s:s, s:{s:I, s:s}}", "execute", "guest-file-write",
		    "arguments", "handle", handle, "buf-b64", b64);

		r = agent_call(v, dom, w, call_to, err);
		json_decref(w);
		if (!r) {
			wrote = false;
			break;
		}
		json_decref(r);
		off += n;
	} while (off < len);
	json_t *close_req = json_pack("{s:s, s:{s:I}}", "execute", "guest-file-close",
	    "arguments", "handle", handle);
	r = agent_call(v, dom, close_req, call_to, wrote ? err : NULL);
	json_decref(close_req);
	if (!wrote || !r)
		goto out;
	json_decref(r);
	fix = mode_owner_cmd(qpath, mode, owner);
	if (exec_must(v, dom, fix, timeout_s, err) < 0)
		goto out;
	rc = 0;
out:
	virDomainFree(dom);
	return rc;
}

/* cpu_ns: the domain's CPU time, 0 when unknown */
static unsigned long long cpu_ns(virDomainPtr dom)
{
	virDomainInfo info;

	return virDomainGetInfo(dom, &info) == 0 ? info.cpuTime : 0;
}

/*
 * Wait until the guest agent answers guest-ping: readiness per guest, not one clock for all.
 * timeout_s is a guest's budget. One that still uses CPU when it runs out (over the last
 * VIRT_STALL_S, at least VIRT_BUSY_PCT of a CPU: booting on a busy host) gets more, up to
 * twice the budget in all; one that is idle then (a hung kernel, a guest waiting on nothing)
 * or is not running any more is restarted once (destroy, start) and gets its budget again.
 * The error says what was waited for, how long, and whether it was restarted.
 */
#define VIRT_STALL_S	10
#define VIRT_BUSY_PCT	2
static int wait_agent(virt *v, virDomainPtr dom, int timeout_s, GError **err)
{
	gint64 t0 = g_get_monotonic_time(), now = t0;
	gint64 deadline = t0 + (gint64)timeout_s * G_USEC_PER_SEC, hard = t0 + 2 * (gint64)timeout_s * G_USEC_PER_SEC;
	gint64 win_t = t0, prev_t = t0;
	unsigned long long win_cpu = cpu_ns(dom), prev_cpu = win_cpu;
	bool restarted = false, busy = false;
	double restarted_at = 0;
	json_t *ping = json_pack("{s:s}", "execute", "guest-ping");

	for (;;) {
		GError *e = NULL;
		json_t *r = agent_call(v, dom, ping, 2, &e);
		bool active;

		if (r) {
			json_decref(r);
			json_decref(ping);
			return 0;
		}
		now = g_get_monotonic_time();
		active = virDomainIsActive(dom) == 1;
		if (now - win_t >= VIRT_STALL_S * G_USEC_PER_SEC) {	/* CPU use over the last window */
			unsigned long long c = cpu_ns(dom);

			prev_t = win_t;
			prev_cpu = win_cpu;
			win_t = now;
			win_cpu = c;
		}
		busy = active && win_t > prev_t && win_cpu > prev_cpu &&
		    (double)(win_cpu - prev_cpu) / 1e3 >= (double)(win_t - prev_t) * VIRT_BUSY_PCT / 100.0;
		if (now >= deadline && busy && now < hard) {
			deadline = MIN(now + VIRT_STALL_S * G_USEC_PER_SEC, hard);	/* still booting */
		} else if (((now >= deadline && !busy) || !active) && !restarted) {
			/* stuck or gone: once more from the start */
			restarted = true;
			restarted_at = (double)(now - t0) / 1e6;
			if (active)
				virDomainDestroy(dom);
			if (virDomainCreate(dom) < 0) {
				g_autofree char *why = g_strdup(e->message);

				g_error_free(e);
				virt_set_error(err, "guest agent of '%s' did not answer within %.0f s (%s); "
				    "restart", virDomainGetName(dom), restarted_at, why);
				json_decref(ping);
				return -1;
			}
			now = g_get_monotonic_time();
			deadline = now + (gint64)timeout_s * G_USEC_PER_SEC;
			hard = now + 2 * (gint64)timeout_s * G_USEC_PER_SEC;
			win_t = prev_t = now;
			win_cpu = prev_cpu = cpu_ns(dom);
		} else if (now >= deadline || !active) {
			g_autofree char *how = NULL;

			how = restarted ? g_strdup_printf("%s; restarted once after %.0f s without "
			    "progress", !active ? "not running" : busy ? "still using CPU" : "idle",
			    restarted_at) : g_strdup(!active ? "not running" : busy ?
			    "still using CPU at twice its time" : "idle");
			g_set_error(err, VIRT_ERROR, 0, "guest agent of '%s' did not answer within "
			    "%.0f s (%s; %s)", virDomainGetName(dom), (double)(now - t0) / 1e6, how,
			    e->message);
			g_error_free(e);
			json_decref(ping);
			return -1;
		}
		g_error_free(e);
		g_usleep(500000);
	}
}

/* MACs of the live domain's interfaces, in device order (= the scenario's file order) */
static GPtrArray *live_macs(virt *v, virDomainPtr dom, GError **err)
{
	const char *name = virDomainGetName(dom);	/* before: it would reset the error */
	char *xml = virDomainGetXMLDesc(dom, 0);
	if (!xml) {
		virt_set_error(err, "read XML of '%s' on %s", name, v->uri);
		return NULL;
	}
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	free(xml);
	if (!doc) {
		g_set_error(err, VIRT_ERROR, 0, "XML of '%s' is unreadable", virDomainGetName(dom));
		return NULL;
	}
	GPtrArray *macs = g_ptr_array_new_with_free_func(g_free);
	xmlXPathContextPtr xc = xmlXPathNewContext(doc);
	xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST "/domain/devices/interface/mac/@address", xc);
	for (int k = 0; r && r->nodesetval && k < r->nodesetval->nodeNr; k++) {
		xmlChar *t = xmlNodeGetContent(r->nodesetval->nodeTab[k]);
		g_ptr_array_add(macs, g_ascii_strdown((const char *)t, -1));
		xmlFree(t);
	}
	xmlXPathFreeObject(r);
	xmlXPathFreeContext(xc);
	xmlFreeDoc(doc);
	return macs;
}

/*
 * The configuration script (busybox sh in nube's guest). Idempotent: NICs already named
 * right are left alone, addresses and routes use "replace". Renaming goes through temporary
 * names first so eth0 -> eth1 while another NIC is eth1 cannot collide. IPv6 duplicate
 * address detection is switched off per NIC before adding addresses so they are usable at
 * once (busybox ip has no "nodad").
 */
static char *configure_script(const scenario *s, const sc_vm *vm, GPtrArray *macs, int mtu)
{
	GString *sh = g_string_new("set -e\n"
	    "nic_by_mac() {\n"
	    "  for d in /sys/class/net/*; do\n"
	    "    if [ \"$(cat \"$d/address\" 2>/dev/null)\" = \"$1\" ]; then echo \"${d##*/}\"; return 0; fi\n"
	    "  done\n"
	    "  echo \"no NIC with MAC $1\" >&2; return 1\n"
	    "}\n");
	(void)s;

	bool dhcp4 = false;
	for (guint i = 0; i < vm->ifs->len; i++) {
		const sc_if *ifc = g_ptr_array_index(vm->ifs, i);
		for (guint k = 0; ifc->ips && k < ifc->ips->len; k++) {
			const sc_ip *ip = g_ptr_array_index(ifc->ips, k);
			dhcp4 |= (ip->dhcp || !ip->addr) && ip->family != 6;
		}
	}
	if (dhcp4)
		g_string_append(sh, "cat > /tmp/nube-udhcpc.sh <<'EOF'\n"
		    "#!/bin/sh\n"
		    "case \"$1\" in\n"
		    "bound|renew)\n"
		    "  ip addr replace \"$ip/${mask:-24}\" dev \"$interface\"\n"
		    "  if [ -n \"$router\" ]; then ip route replace default via \"${router%% *}\" dev \"$interface\"; fi ;;\n"
		    "deconfig) ip link set dev \"$interface\" up ;;\n"
		    "esac\n"
		    "EOF\n"
		    "chmod 755 /tmp/nube-udhcpc.sh\n");
	for (guint i = 0; i < vm->ifs->len; i++)
		g_string_append_printf(sh, "n%u=$(nic_by_mac %s)\n", i,
		    (const char *)g_ptr_array_index(macs, i));
	for (guint i = 0; i < vm->ifs->len; i++) {
		const sc_if *ifc = g_ptr_array_index(vm->ifs, i);
		g_string_append_printf(sh, "if [ \"$n%u\" != eth%d ]; then ip link set dev \"$n%u\" down; "
		    "ip link set dev \"$n%u\" name nubetmp%u; n%u=nubetmp%u; fi\n",
		    i, ifc->id, i, i, i, i, i);
	}
	for (guint i = 0; i < vm->ifs->len; i++) {
		const sc_if *ifc = g_ptr_array_index(vm->ifs, i);
		int id = ifc->id;
		g_string_append_printf(sh, "if [ \"$n%u\" != eth%d ]; then ip link set dev \"$n%u\" name eth%d; fi\n",
		    i, id, i, id);
		g_string_append_printf(sh, "if [ -e /proc/sys/net/ipv6/conf/eth%d/accept_dad ]; then "
		    "echo 0 > /proc/sys/net/ipv6/conf/eth%d/accept_dad; fi\n", id, id);
		if (mtu > 0)
			g_string_append_printf(sh, "ip link set dev eth%d mtu %d\n", id, mtu);
		g_string_append_printf(sh, "ip link set dev eth%d up\n", id);
		for (guint k = 0; ifc->ips && k < ifc->ips->len; k++) {
			const sc_ip *ip = g_ptr_array_index(ifc->ips, k);
			if ((ip->dhcp || !ip->addr) && ip->family == 6) {
				/* no DHCPv6 client in the guest: stateless autoconfiguration */
				g_string_append_printf(sh, "if [ -e /proc/sys/net/ipv6/conf/eth%d/accept_ra ]; then "
				    "echo 2 > /proc/sys/net/ipv6/conf/eth%d/accept_ra; "
				    "echo 1 > /proc/sys/net/ipv6/conf/eth%d/autoconf; fi\n", id, id, id);
				continue;
			}
			if (ip->dhcp || !ip->addr) {
				/* one client per NIC (pid file), in the background so the agent's
				 * guest-exec returns; busybox udhcpc needs a script to apply the lease */
				g_string_append_printf(sh, "p=/tmp/nube-udhcpc-eth%d.pid; "
				    "if ! { [ -f $p ] && kill -0 \"$(cat $p)\" 2>/dev/null; }; then "
				    "udhcpc -i eth%d -b -p $p -s /tmp/nube-udhcpc.sh </dev/null >/dev/null 2>&1 & fi\n",
				    id, id);
				continue;
			}
			g_autofree char *a = ip_text(ip);
			g_autofree char *qa = g_shell_quote(a);
			g_string_append_printf(sh, "ip %saddr replace %s dev eth%d\n",
			    ip->family == 6 ? "-6 " : "", qa, id);
		}
	}
	/* loopback addresses (<if net="lo">) */
	for (guint i = 0; vm->reserved_ifs != NULL && i < vm->reserved_ifs->len; i++) {
		const sc_if *f = g_ptr_array_index(vm->reserved_ifs, i);

		for (guint k = 0; strcmp(f->net, SC_NET_LO) == 0 && f->ips != NULL &&
		    k < f->ips->len; k++) {
			const sc_ip *ip = g_ptr_array_index(f->ips, k);

			if (ip->dhcp || ip->addr == NULL)
				continue;
			g_string_append_printf(sh, "ip -%d addr replace %s/%d dev lo\n", ip->family,
			    ip->addr, ip->prefix >= 0 ? ip->prefix : ip->family == 6 ? 128 : 32);
		}
	}
	/* routes through a gateway on a DHCP net need the lease first */
	for (guint i = 0; dhcp4 && vm->routes && vm->routes->len && i < vm->ifs->len; i++) {
		const sc_if *ifc = g_ptr_array_index(vm->ifs, i);
		for (guint k = 0; ifc->ips && k < ifc->ips->len; k++) {
			const sc_ip *ip = g_ptr_array_index(ifc->ips, k);
			if ((ip->dhcp || !ip->addr) && ip->family != 6)
				g_string_append_printf(sh, "w=0; while ! ip -4 addr show dev eth%d | grep -q inet; do "
				    "w=$((w+1)); if [ $w -gt 100 ]; then echo \"eth%d: no DHCP lease within 10 s\" >&2; break; fi; "
				    "sleep 0.1; done\n", ifc->id, ifc->id);
		}
	}
	for (guint k = 0; vm->routes && k < vm->routes->len; k++) {
		const sc_route *r = g_ptr_array_index(vm->routes, k);
		g_autofree char *qd = g_shell_quote(r->dest ? r->dest : "default");
		g_autofree char *qg = g_shell_quote(r->gw ? r->gw : "");
		g_string_append_printf(sh, "ip %sroute replace %s via %s\n",
		    r->family == 6 ? "-6 " : "", qd, qg);
	}
	if (vm->fwd_ipv4)
		g_string_append(sh, "echo 1 > /proc/sys/net/ipv4/ip_forward\n");
	if (vm->fwd_ipv6)
		g_string_append(sh, "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding\n");
	g_autofree char *qh = g_shell_quote(vm->name);
	g_string_append_printf(sh, "hostname %s\n", qh);
	return g_string_free(sh, FALSE);
}

int virt_guest_configure(virt *v, const scenario *s, const proto_deployment *dep,
    const char *vmname, int mtu, int timeout_s, GError **err)
{
	(void)dep;	/* the MACs are read from the live domain: what the guest really has */
	if (!v || !s || !vmname) {
		g_set_error(err, VIRT_ERROR, 0, "configure: missing connection, scenario or vm name");
		return -1;
	}
	const sc_vm *vm = find_vm(s, vmname);
	if (!vm) {
		g_set_error(err, VIRT_ERROR, 0, "configure: scenario '%s' has no vm '%s'", s->name, vmname);
		return -1;
	}
	g_autofree char *domname = proto_domain_name(s->name, vmname);
	virDomainPtr dom = virt_lxc_type(vm) ? virt_lxc_lookup(v, domname) : NULL;
	if (dom) {	/* a container: configured through its layer before it started */
		virDomainFree(dom);
		return 0;
	}
	dom = lookup(v, domname, err);
	if (!dom)
		return -1;
	int rc = -1;
	g_autoptr(GPtrArray) macs = NULL;
	g_autofree char *script = NULL, *out = NULL, *errout = NULL;
	int code = -1;

	if (wait_agent(v, dom, timeout_s, err) < 0)
		goto done;
	macs = live_macs(v, dom, err);
	if (!macs)
		goto done;
	if (macs->len != (vm->ifs ? vm->ifs->len : 0)) {
		g_set_error(err, VIRT_ERROR, 0, "configure '%s': domain has %u interfaces, scenario %u",
		    domname, macs->len, vm->ifs ? vm->ifs->len : 0);
		goto done;
	}
	script = configure_script(s, vm, macs, mtu);
	if (exec_dom(v, dom, script, timeout_s > 30 ? timeout_s : 30, &code, &out, &errout, err) < 0)
		goto done;
	if (code != 0) {
		g_strstrip(errout);
		g_set_error(err, VIRT_ERROR, 0, "configure '%s': script exited with %d: %s",
		    domname, code, *errout ? errout : "(no error output)");
		goto done;
	}
	rc = 0;
done:
	virDomainFree(dom);
	return rc;
}

/* ---------------------------------------------------------------- migrate */

static void read_job_stats(virTypedParameterPtr p, int np, virt_migrate_stats *st)
{
	unsigned long long ull;

	if (virTypedParamsGetULLong(p, np, VIR_DOMAIN_JOB_TIME_ELAPSED, &ull) == 1)
		st->duration_ms = (int64_t)ull;
	if (virTypedParamsGetULLong(p, np, VIR_DOMAIN_JOB_DOWNTIME, &ull) == 1)
		st->downtime_ms = (int64_t)ull;
	if (virTypedParamsGetULLong(p, np, VIR_DOMAIN_JOB_DATA_PROCESSED, &ull) == 1)
		st->data_bytes = ull;
}

int virt_peer_probe(const char *uri, GError **err)
{
	virConnectPtr c = virConnectOpen(uri);

	if (!c) {
		g_set_error(err, VIRT_ERROR, virGetLastErrorCode(), "%s: %s", uri,
		    virGetLastErrorMessage());
		return -1;
	}
	virConnectClose(c);
	return 0;
}

/* completed-job stats of the migrated domain as the destination sees them; 0 when found */
static int dest_job_stats(const char *dest_uri, const char *domname, virt_migrate_stats *st)
{
	virConnectPtr dc = virConnectOpen(dest_uri);
	int rc = -1;

	if (!dc)
		return -1;
	virDomainPtr d = virDomainLookupByName(dc, domname);
	if (d) {
		int type = 0, np = 0;
		virTypedParameterPtr p = NULL;
		if (virDomainGetJobStats(d, &type, &p, &np, VIR_DOMAIN_JOB_STATS_COMPLETED |
		    VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED) == 0 &&
		    type == VIR_DOMAIN_JOB_COMPLETED) {
			virt_migrate_stats s2 = { -1, -1, 0 };
			read_job_stats(p, np, &s2);
			if (s2.downtime_ms >= 0)
				st->downtime_ms = s2.downtime_ms;
			if (s2.duration_ms >= 0)
				st->duration_ms = s2.duration_ms;
			if (s2.data_bytes)
				st->data_bytes = s2.data_bytes;
			rc = 0;
		}
		virTypedParamsFree(p, np);
		virDomainFree(d);
	}
	virConnectClose(dc);
	return rc;
}

int virt_migrate(virt *v, const char *domname, const char *dest_uri, const char *migrate_uri,
    virt_migrate_stats *stats, GError **err)
{
	if (!v || !domname || !dest_uri) {
		g_set_error(err, VIRT_ERROR, 0, "migrate: missing connection, domain or destination");
		return -1;
	}
	virDomainPtr q = virDomainLookupByName(v->conn, domname);
	virDomainPtr ct = q ? NULL : virt_lxc_lookup(v, domname);
	if (q)
		virDomainFree(q);
	if (ct) {
		virDomainFree(ct);
		g_set_error(err, VIRT_ERROR, 0, "migrate '%s': a container cannot be live-migrated",
		    domname);
		return -1;
	}
	virDomainPtr dom = lookup(v, domname, err);
	if (!dom)
		return -1;
	virTypedParameterPtr p = NULL;
	int np = 0, maxp = 0;
	if (migrate_uri)
		virTypedParamsAddString(&p, &np, &maxp, VIR_MIGRATE_PARAM_URI, migrate_uri);
	unsigned int flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_PERSIST_DEST |
	    VIR_MIGRATE_UNDEFINE_SOURCE;

	/* the domain's volumes: made on the destination first (media copied, overlays empty on
	 * the same image), then the overlays mirrored during the migration */
	g_autoptr(GPtrArray) made = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) mirror = g_ptr_array_new_with_free_func(g_free);
	virConnectPtr dc = virConnectOpen(dest_uri);
	if (!dc) {
		virt_set_error(err, "migrate '%s': connect to %s", domname, dest_uri);
		virTypedParamsFree(p, np);
		virDomainFree(dom);
		return -1;
	}
	if (virt_migrate_volumes_send(v, dc, dest_uri, dom, made, mirror, err) < 0) {
		g_prefix_error(err, "migrate '%s': its disks to %s: ", domname, dest_uri);
		virt_migrate_volumes_undo(dc, dest_uri, made);
		virConnectClose(dc);
		virTypedParamsFree(p, np);
		virDomainFree(dom);
		return -1;
	}
	if (mirror->len > 0) {
		flags |= VIR_MIGRATE_NON_SHARED_INC;
		for (guint i = 0; i < mirror->len; i++)
			virTypedParamsAddString(&p, &np, &maxp, VIR_MIGRATE_PARAM_MIGRATE_DISKS,
			    mirror->pdata[i]);
	}
	gint64 t0 = g_get_monotonic_time();
	int rc = virDomainMigrateToURI3(dom, dest_uri, p, (unsigned int)np, flags);
	gint64 t1 = g_get_monotonic_time();
	/* read libvirt's error before any other libvirt call resets it */
	if (rc < 0) {
		virt_set_error(err, "migrate '%s' from %s to %s", domname, v->uri, dest_uri);
		virt_migrate_volumes_undo(dc, dest_uri, made);
	}
	virConnectClose(dc);
	virTypedParamsFree(p, np);
	virDomainFree(dom);
	if (rc < 0)
		return -1;
	if (made->len > 0) {
		/* the source's copies are stale now; a failure here only leaves files behind */
		GError *e2 = NULL;
		if (virt_volumes_delete(v, domname, &e2) < 0)
			g_clear_error(&e2);
	}
	/* The source's domain object is gone (UNDEFINE_SOURCE), and with it its completed job
	 * stats; the destination keeps the incoming job's completed stats (elapsed, downtime).
	 * The wall time measured here is the fallback for the duration. */
	if (stats) {
		stats->duration_ms = (t1 - t0) / 1000;
		stats->downtime_ms = -1;
		stats->data_bytes = 0;
		dest_job_stats(dest_uri, domname, stats);
	}
	return 0;
}
