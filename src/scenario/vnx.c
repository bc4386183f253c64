/* vnx: parse a VNX 2.0 scenario file into the neutral scenario model (structure only;
 * validate.c checks names, addresses and limits) */
#include "scenario/scenario.h"
#include "scenario/sxml.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

typedef struct {
	scenario *s;
	diag *d;
	const char *file;
	const char *owner;	/* "vm 'x'" while reading one, for scenario_use */
	/* defaults from <vm_defaults> applied to every VM lacking its own */
	char *def_fs, *def_fs_type, *def_kernel, *def_initrd;
	bool def_fwd4, def_fwd6;
} vnx_ctx;

/* ---- freeing ---- */

static void
vnx_ip_free(gpointer p)
{
	sc_ip *ip = p;

	if (ip == NULL)
		return;
	g_free(ip->addr);
	g_free(ip);
}

static void
vnx_if_free(gpointer p)
{
	sc_if *f = p;

	if (f == NULL)
		return;
	g_free(f->net);
	g_free(f->mac);
	g_free(f->name);
	if (f->ips != NULL)
		g_ptr_array_unref(f->ips);
	if (f->dns != NULL)
		g_ptr_array_unref(f->dns);
	g_free(f);
}

static void
vnx_route_free(gpointer p)
{
	sc_route *r = p;

	if (r == NULL)
		return;
	g_free(r->dest);
	g_free(r->gw);
	g_free(r);
}

static void
vnx_exec_free(gpointer p)
{
	sc_exec *e = p;

	if (e == NULL)
		return;
	g_free(e->seq);
	g_free(e->type);
	g_free(e->ostype);
	g_free(e->text);
	g_free(e->raw);
	g_free(e);
}

static void
vnx_filetree_free(gpointer p)
{
	sc_filetree *f = p;

	if (f == NULL)
		return;
	g_free(f->seq);
	g_free(f->root);
	g_free(f->src);
	g_free(f->user);
	g_free(f->group);
	g_free(f->perms);
	g_free(f);
}

static void
vnx_vm_free(gpointer p)
{
	sc_vm *v = p;

	if (v == NULL)
		return;
	g_free(v->name);
	g_free(v->type);
	g_free(v->subtype);
	g_free(v->os);
	g_free(v->arch);
	g_free(v->filesystem);
	g_free(v->fs_type);
	g_free(v->kernel);
	g_free(v->initrd);
	if (v->ifs != NULL)
		g_ptr_array_unref(v->ifs);
	if (v->reserved_ifs != NULL)
		g_ptr_array_unref(v->reserved_ifs);
	if (v->routes != NULL)
		g_ptr_array_unref(v->routes);
	if (v->execs != NULL)
		g_ptr_array_unref(v->execs);
	if (v->filetrees != NULL)
		g_ptr_array_unref(v->filetrees);
	g_free(v);
}

static void
vnx_net_free(gpointer p)
{
	sc_net *n = p;

	if (n == NULL)
		return;
	g_free(n->name);
	g_free(n->external);
	g_free(n);
}

static void
vnx_cmdseq_free(gpointer p)
{
	sc_cmdseq *c = p;

	if (c == NULL)
		return;
	g_free(c->seq);
	if (c->members != NULL)
		g_ptr_array_unref(c->members);
	g_free(c);
}

void
scenario_free(scenario *s)
{
	if (s == NULL)
		return;
	g_free(s->file);
	g_free(s->name);
	g_free(s->version);
	g_free(s->basedir);
	g_free(s->mgmt.network);
	g_free(s->mgmt.net);
	if (s->nets != NULL)
		g_ptr_array_unref(s->nets);
	if (s->vms != NULL)
		g_ptr_array_unref(s->vms);
	if (s->cmdseqs != NULL)
		g_ptr_array_unref(s->cmdseqs);
	if (s->host_ifs != NULL)
		g_ptr_array_unref(s->host_ifs);
	if (s->host_routes != NULL)
		g_ptr_array_unref(s->host_routes);
	if (s->host_execs != NULL)
		g_ptr_array_unref(s->host_execs);
	if (s->uses != NULL)
		g_ptr_array_unref(s->uses);
	if (s->vm_index != NULL)
		g_hash_table_unref(s->vm_index);
	if (s->net_index != NULL)
		g_hash_table_unref(s->net_index);
	g_free(s);
}

/* ---- small value parsers ---- */

/* vnx_int: parse a whole decimal integer in [min, max]; reports an error and returns false
 * when text is not one. */
static bool
vnx_int(vnx_ctx *c, const xmlNode *n, const char *what, const char *text, gint64 min, gint64 max,
		int *out)
{
	gint64 v;
	g_autoptr(GError) err = NULL;
	g_autofree char *t = g_strstrip(g_strdup(text));

	if (!g_ascii_string_to_signed(t, 10, min, max, &v, &err)) {
		diag_error(c->d, c->file, sxml_line(n), "%s: '%s' is not an integer in %" G_GINT64_FORMAT
				"..%" G_GINT64_FORMAT, what, text, min, max);
		return false;
	}
	*out = (int)v;
	return true;
}

/* vnx_mem: "512M", "1G", "262144K", "262144" (VNX/VNUML default unit: kilobytes) -> MiB,
 * rounded up. Returns false (after reporting) on bad text. */
static bool
vnx_mem(vnx_ctx *c, const xmlNode *n, const char *text, uint64_t *mib)
{
	g_autofree char *t = g_strstrip(g_strdup(text));
	char *end = NULL;
	guint64 v;
	uint64_t mul_k;		/* size of one unit in KiB */

	if (t[0] < '0' || t[0] > '9')
		goto bad;
	errno = 0;
	v = g_ascii_strtoull(t, &end, 10);
	if (errno != 0 || end == t)
		goto bad;
	while (*end == ' ')
		end++;
	switch (g_ascii_toupper(*end)) {
	case '\0':
	case 'K':
		mul_k = 1;
		break;
	case 'M':
		mul_k = 1024;
		break;
	case 'G':
		mul_k = 1024 * 1024;
		break;
	default:
		goto bad;
	}
	if (*end != '\0') {
		end++;
		if (g_ascii_toupper(*end) == 'B' || g_ascii_toupper(*end) == 'I')
			end++;
		if (g_ascii_toupper(*end) == 'B')
			end++;
		if (*end != '\0')
			goto bad;
	}
	if (v > G_MAXUINT64 / mul_k)
		goto bad;
	*mib = (v * mul_k + 1023) / 1024;
	return true;
bad:
	diag_error(c->d, c->file, sxml_line(n),
			"bad memory size '%s' (expected a number with optional K, M or G; default K)", t);
	return false;
}

/* vnx_dedent: multi-line command text: drop blank first/last lines, strip the indentation
 * common to all non-blank lines and trailing blanks of each line. Returns a new string. */
static char *
vnx_dedent(const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	guint n = g_strv_length(lines), first = 0, last, common = G_MAXUINT;
	GString *out = g_string_new(NULL);

	for (guint i = 0; i < n; i++)
		g_strchomp(lines[i]);
	while (first < n && lines[first][0] == '\0')
		first++;
	last = n;
	while (last > first && lines[last - 1][0] == '\0')
		last--;
	for (guint i = first; i < last; i++) {
		guint k = 0;

		if (lines[i][0] == '\0')
			continue;
		while (lines[i][k] == ' ' || lines[i][k] == '\t')
			k++;
		if (k < common)
			common = k;
	}
	for (guint i = first; i < last; i++) {
		if (i > first)
			g_string_append_c(out, '\n');
		if (lines[i][0] != '\0')
			g_string_append(out, lines[i] + common);
	}
	return g_string_free(out, FALSE);
}

static void
vnx_unknown(vnx_ctx *c, const xmlNode *n, const xmlNode *parent)
{
	diag_warn(c->d, c->file, sxml_line(n), "unknown element <%s> in <%s>, ignored",
			(const char *)n->name, (const char *)parent->name);
}

/* vnx_silent: an element VNX knows and nube does not act on: recorded as a use of the
 * construct it belongs to (the validate warning and --features say what is lost) */
static void
vnx_silent(vnx_ctx *c, const xmlNode *k, const char *owner)
{
	const char *e = (const char *)k->name;
	const char *key;

	if (strcmp(e, "shareddir") == 0)
		key = SC_F_SHAREDDIR;
	else if (strcmp(e, "ssh_key") == 0)
		key = SC_F_SSH_KEY;
	else if (strcmp(e, "storage") == 0 || strcmp(e, "cdrom") == 0 || strcmp(e, "boot") == 0)
		key = SC_F_STORAGE;
	else if (strcmp(e, "conf") == 0 || strcmp(e, "dynamips_ext") == 0 ||
	    strcmp(e, "olive_ext") == 0)
		key = SC_F_ROUTER_CONF;
	else if (strcmp(e, "console") == 0 || strcmp(e, "xterm") == 0 || strcmp(e, "video") == 0)
		key = SC_F_CONSOLE;
	else if (strcmp(e, "physicalif") == 0 || strcmp(e, "forwarding") == 0)
		key = SC_F_HOST_OTHER;
	else
		key = SC_F_NO_EFFECT;
	scenario_use(c->s, key, sxml_line(k), "%s<%s>", owner, e);
}

/* vnx_required: attribute value or NULL after reporting that it is missing */
static char *
vnx_required(vnx_ctx *c, const xmlNode *n, const char *attr)
{
	char *v = sxml_prop(n, attr);

	if (v == NULL)
		diag_error(c->d, c->file, sxml_line(n), "<%s> without %s=", (const char *)n->name, attr);
	return v;
}

/* ---- pieces ---- */

static void
vnx_cmdseq(vnx_ctx *c, const xmlNode *n)
{
	static const char *const attrs[] = { "seq", NULL };
	g_autofree char *seq = NULL;
	g_autofree char *text = NULL;
	g_auto(GStrv) parts = NULL;
	sc_cmdseq *cs;

	sxml_check_attrs(n, attrs, c->file, c->d);
	seq = vnx_required(c, n, "seq");
	if (seq == NULL)
		return;
	text = sxml_text(n);
	parts = g_strsplit(text, ",", -1);
	cs = g_new0(sc_cmdseq, 1);
	cs->seq = g_steal_pointer(&seq);
	cs->line = sxml_line(n);
	cs->members = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; parts[i] != NULL; i++) {
		g_strstrip(parts[i]);
		if (parts[i][0] != '\0')
			g_ptr_array_add(cs->members, g_strdup(parts[i]));
	}
	scenario_use(c->s, SC_F_CMDSEQ, cs->line, "cmd-seq '%s'", cs->seq);
	if (cs->members->len == 0)
		diag_warn(c->d, c->file, cs->line, "cmd-seq '%s' is empty", cs->seq);
	g_ptr_array_add(c->s->cmdseqs, cs);
}

static void
vnx_vcpu_elem(vnx_ctx *c, const xmlNode *n, int *out)
{
	g_autofree char *t = sxml_text(n);

	vnx_int(c, n, "vcpu", t, 0, G_MAXINT, out);
}

static void
vnx_forwarding(vnx_ctx *c, const xmlNode *n, bool *v4, bool *v6)
{
	static const char *const attrs[] = { "type", NULL };
	g_autofree char *type = NULL;

	sxml_check_attrs(n, attrs, c->file, c->d);
	type = sxml_prop(n, "type");
	if (type == NULL || strcmp(type, "ip") == 0) {
		*v4 = *v6 = true;
	} else if (strcmp(type, "ipv4") == 0) {
		*v4 = true;
	} else if (strcmp(type, "ipv6") == 0) {
		*v6 = true;
	} else {
		diag_error(c->d, c->file, sxml_line(n),
				"forwarding type '%s' is not ip, ipv4 or ipv6", type);
	}
}

static void
vnx_kernel(vnx_ctx *c, const xmlNode *n, char **kernel, char **initrd)
{
	static const char *const attrs[] = { "root", "devfs", "modules", "initrd", "trace", NULL };

	sxml_check_attrs(n, attrs, c->file, c->d);
	g_free(*kernel);
	g_free(*initrd);
	*kernel = sxml_text(n);
	*initrd = sxml_prop(n, "initrd");
}

static void
vnx_vm_defaults(vnx_ctx *c, const xmlNode *n)
{
	static const char *const attrs[] = { "vcpu", "exec_mode", NULL };
	static const char *const silent[] = { "console", "shell", "mng_if", "user",
		"exec_mode", NULL };
	g_autofree char *vcpu = sxml_prop(n, "vcpu");

	sxml_check_attrs(n, attrs, c->file, c->d);
	if (vcpu != NULL)
		vnx_int(c, n, "vcpu", vcpu, 0, G_MAXINT, &c->s->default_vcpu);
	for (const xmlNode *k = n->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE)
			continue;
		if (sxml_is(k, "mem")) {
			g_autofree char *t = sxml_text(k);

			vnx_mem(c, k, t, &c->s->default_mem_mib);
		} else if (sxml_is(k, "vcpu")) {
			vnx_vcpu_elem(c, k, &c->s->default_vcpu);
		} else if (sxml_is(k, "filesystem")) {
			g_free(c->def_fs);
			g_free(c->def_fs_type);
			c->def_fs = sxml_text(k);
			c->def_fs_type = sxml_prop(k, "type");
		} else if (sxml_is(k, "kernel")) {
			vnx_kernel(c, k, &c->def_kernel, &c->def_initrd);
		} else if (sxml_is(k, "forwarding")) {
			vnx_forwarding(c, k, &c->def_fwd4, &c->def_fwd6);
		} else if (sxml_is(k, "basedir")) {
			g_free(c->s->basedir);
			c->s->basedir = sxml_text(k);
		} else if (sxml_in((const char *)k->name, silent)) {
			vnx_silent(c, k, "<vm_defaults>: ");
		} else {
			vnx_unknown(c, k, n);
		}
	}
}

static void
vnx_vm_mgmt(vnx_ctx *c, const xmlNode *n)
{
	static const char *const attrs[] = { "type", "network", "mask", "offset", "net", NULL };
	sc_mgmt *m = &c->s->mgmt;
	g_autofree char *type = NULL, *mask = NULL, *offset = NULL;

	sxml_check_attrs(n, attrs, c->file, c->d);
	m->line = sxml_line(n);
	type = vnx_required(c, n, "type");
	if (type == NULL || strcmp(type, "none") == 0)
		m->type = SC_MGMT_NONE;
	else if (strcmp(type, "private") == 0)
		m->type = SC_MGMT_PRIVATE;
	else if (strcmp(type, "net") == 0)
		m->type = SC_MGMT_NET;
	else
		diag_error(c->d, c->file, m->line, "vm_mgmt type '%s' is not none, private or net", type);
	g_free(m->network);
	m->network = sxml_prop(n, "network");
	if (m->network == NULL)
		m->network = g_strdup("192.168.0.0");	/* XSD default */
	mask = sxml_prop(n, "mask");
	m->mask = 24;
	if (mask != NULL)
		vnx_int(c, n, "vm_mgmt mask", mask, 0, 32, &m->mask);
	offset = sxml_prop(n, "offset");
	m->offset = 0;
	if (offset != NULL)
		vnx_int(c, n, "vm_mgmt offset", offset, 0, G_MAXINT, &m->offset);
	g_free(m->net);
	m->net = sxml_prop(n, "net");
	for (const xmlNode *k = n->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE)
			continue;
		if (sxml_is(k, "mgmt_net")) {
			static const char *const mattrs[] = { "net", "managed", "config", NULL };
			char *net = sxml_prop(k, "net");
			g_autofree char *managed = sxml_prop(k, "managed");

			sxml_check_attrs(k, mattrs, c->file, c->d);
			if (net != NULL) {
				g_free(m->net);
				m->net = net;
			}
			m->net_managed = managed == NULL || strcmp(managed, "no") != 0;
		} else if (sxml_is(k, "host_mapping")) {
			scenario_use(c->s, SC_F_HOST_MAPPING, sxml_line(k), "<host_mapping>");
		} else {
			vnx_unknown(c, k, n);
		}
	}
	if (m->type != SC_MGMT_NONE)
		scenario_use(c->s, SC_F_VM_MGMT, m->line, "<vm_mgmt type=\"%s\">", type);
	if (m->type == SC_MGMT_NET && m->net == NULL)
		diag_error(c->d, c->file, m->line, "vm_mgmt type 'net' needs net= or <mgmt_net net=>");
}

static void
vnx_global(vnx_ctx *c, const xmlNode *n)
{
	static const char *const silent[] = { "vnx_cfg", "help", "ssh_version", "ssh_key",
		"netconfig", "tun_device", "extension", "dynamips_ext", "olive_ext", NULL };
	scenario *s = c->s;

	sxml_check_attrs(n, (const char *const[]){ NULL }, c->file, c->d);
	s->global_line = sxml_line(n);
	if (s->name == NULL)
		s->name_line = s->global_line;	/* a missing scenario_name is <global>'s fault */
	for (const xmlNode *k = n->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE)
			continue;
		if (sxml_is(k, "scenario_name")) {
			g_free(s->name);
			s->name = sxml_text(k);
			s->name_line = sxml_line(k);
		} else if (sxml_is(k, "version")) {
			g_free(s->version);
			s->version = sxml_text(k);
			if (!g_str_has_prefix(s->version, "2."))
				diag_warn(c->d, c->file, sxml_line(k),
						"version '%s' is not VNX 2.x; reading it as 2.0", s->version);
		} else if (sxml_is(k, "automac")) {
			static const char *const attrs[] = { "offset", NULL };
			g_autofree char *off = sxml_prop(k, "offset");

			sxml_check_attrs(k, attrs, c->file, c->d);
			s->automac = true;
			s->automac_offset = 0;
			if (off != NULL)
				vnx_int(c, k, "automac offset", off, 0, 65535, &s->automac_offset);
		} else if (sxml_is(k, "vm_mgmt")) {
			vnx_vm_mgmt(c, k);
		} else if (sxml_is(k, "vm_defaults")) {
			vnx_vm_defaults(c, k);
		} else if (sxml_is(k, "cmd-seq")) {
			vnx_cmdseq(c, k);
		} else if (sxml_in((const char *)k->name, silent)) {
			vnx_silent(c, k, "");
		} else {
			vnx_unknown(c, k, n);
		}
	}
}

/* vnx_attr_use: record a use of key when n has any of the attributes attrs */
static void
vnx_attr_use(vnx_ctx *c, const xmlNode *n, const char *const *attrs, const char *key,
		const char *owner)
{
	for (const char *const *a = attrs; *a != NULL; a++) {
		g_autofree char *v = sxml_prop(n, *a);

		if (v != NULL) {
			scenario_use(c->s, key, sxml_line(n), "%s: %s=\"%s\"", owner, *a, v);
			return;
		}
	}
}

static void
vnx_net_uses(vnx_ctx *c, const xmlNode *n, const sc_net *net)
{
	static const char *const sdn[] = { "controller", "of_version", "hwaddr", "fail_mode",
		"stp", NULL };
	static const char *const uml[] = { "sock", "hub", "capture_file", "capture_dev",
		"capture_expression", "uml_switch_binary", NULL };
	static const char *const shaping[] = { "bw", "delay", "loss", NULL };
	g_autofree char *owner = g_strdup_printf("net '%s'", net->name);
	int line = net->line;

	switch (net->mode) {
	case SC_NET_VIRTUAL_BRIDGE:
		scenario_use(c->s, SC_F_NET_BRIDGE, line, "%s", owner);
		break;
	case SC_NET_OPENVSWITCH:
		scenario_use(c->s, SC_F_NET_OVS, line, "%s", owner);
		break;
	case SC_NET_UML_SWITCH:
		scenario_use(c->s, SC_F_NET_UML, line, "%s", owner);
		break;
	case SC_NET_VETH:
		scenario_use(c->s, SC_F_NET_VETH, line, "%s", owner);
		break;
	}
	vnx_attr_use(c, n, sdn, SC_F_NET_OVS_SDN, owner);
	vnx_attr_use(c, n, uml, SC_F_NET_UML_ATTRS, owner);
	vnx_attr_use(c, n, shaping, SC_F_SHAPING, owner);
	if (net->vlan >= 0)
		scenario_use(c->s, SC_F_NET_VLAN, line, "%s", owner);
	if (net->external != NULL)
		scenario_use(c->s, SC_F_NET_EXTERNAL, line, "%s", owner);
	if (!net->managed)
		scenario_use(c->s, SC_F_NET_UNMANAGED, line, "%s: managed=\"no\"", owner);
	if (net->mtu > 0)
		scenario_use(c->s, SC_F_NET_MTU, line, "%s: mtu=\"%d\"", owner, net->mtu);
}

static void
vnx_net(vnx_ctx *c, const xmlNode *n)
{
	static const char *const attrs[] = { "name", "mode", "managed", "external", "vlan",
		"capture_dev", "sock", "uml_switch_binary", "capture_file", "controller",
		"of_version", "hwaddr", "fail_mode", "mtu", "stp", "hub", "type",
		"capture_expression", "scope", "bw", "delay", "loss", NULL };
	g_autofree char *name = NULL, *mode = NULL, *managed = NULL, *vlan = NULL, *type = NULL;
	g_autofree char *mtu = NULL;
	sc_net *net;

	sxml_check_attrs(n, attrs, c->file, c->d);
	name = vnx_required(c, n, "name");
	if (name == NULL)
		return;
	net = g_new0(sc_net, 1);
	net->name = g_steal_pointer(&name);
	net->line = sxml_line(n);
	net->managed = true;
	net->vlan = -1;
	net->external = sxml_prop(n, "external");
	mode = vnx_required(c, n, "mode");
	if (mode == NULL || strcmp(mode, "virtual_bridge") == 0)
		net->mode = SC_NET_VIRTUAL_BRIDGE;
	else if (strcmp(mode, "openvswitch") == 0)
		net->mode = SC_NET_OPENVSWITCH;
	else if (strcmp(mode, "veth") == 0)
		net->mode = SC_NET_VETH;
	else if (strcmp(mode, "uml_switch") == 0)
		net->mode = SC_NET_UML_SWITCH;
	else
		diag_error(c->d, c->file, net->line, "net '%s': mode '%s' is not virtual_bridge, "
		    "openvswitch, veth or uml_switch", net->name, mode);
	/* VNX (CheckSemantics 8g): type lan (default), ppp or p2p; p2p only with mode veth and
	 * mode veth only with type p2p */
	type = sxml_prop(n, "type");
	net->p2p = type != NULL && strcmp(type, "p2p") == 0;
	if (type != NULL && strcmp(type, "lan") != 0 && strcmp(type, "ppp") != 0 && !net->p2p)
		diag_error(c->d, c->file, net->line, "net '%s': type '%s' is not lan, ppp or p2p",
		    net->name, type);
	else if (net->mode == SC_NET_VETH && !net->p2p)
		diag_error(c->d, c->file, net->line, "net '%s': mode veth needs type=\"p2p\"",
		    net->name);
	else if (net->p2p && net->mode != SC_NET_VETH)
		diag_error(c->d, c->file, net->line, "net '%s': type p2p is only for mode veth",
		    net->name);
	mtu = sxml_prop(n, "mtu");
	if (mtu != NULL)
		vnx_int(c, n, "net mtu", mtu, 68, 65535, &net->mtu);
	managed = sxml_prop(n, "managed");
	if (managed != NULL) {
		if (strcmp(managed, "no") == 0)
			net->managed = false;
		else if (strcmp(managed, "yes") != 0)
			diag_error(c->d, c->file, net->line, "net '%s': managed='%s' is not yes or no",
					net->name, managed);
	}
	vlan = sxml_prop(n, "vlan");
	if (vlan != NULL)
		vnx_int(c, n, "net vlan", vlan, 0, 4095, &net->vlan);
	vnx_net_uses(c, n, net);
	for (const xmlNode *k = n->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE)
			continue;
		if (sxml_is(k, "bw"))
			scenario_use(c->s, SC_F_SHAPING, sxml_line(k), "net '%s': <bw>", net->name);
		else if (sxml_is(k, "connection"))
			scenario_use(c->s, SC_F_NET_CONNECTION, sxml_line(k), "net '%s': <connection>",
			    net->name);
		else
			vnx_unknown(c, k, n);
	}
	g_ptr_array_add(c->s->nets, net);
}

/* vnx_ip: <ipv4 mask="...">a.b.c.d/len</ipv4>, <ipv6>x::y/len</ipv6>, or "dhcp" */
static sc_ip *
vnx_ip(vnx_ctx *c, const xmlNode *n, int family)
{
	static const char *const attrs[] = { "mask", "type", NULL };
	g_autofree char *text = sxml_text(n);
	g_autofree char *mask = sxml_prop(n, "mask");
	sc_ip *ip = g_new0(sc_ip, 1);
	char *slash;

	sxml_check_attrs(n, attrs, c->file, c->d);
	ip->family = family;
	ip->line = sxml_line(n);
	ip->prefix = -1;
	if (g_ascii_strcasecmp(text, "dhcp") == 0) {
		ip->dhcp = true;
		return ip;
	}
	slash = strchr(text, '/');
	if (slash != NULL) {
		*slash = '\0';
		gint64 len;

		if (g_ascii_string_to_signed(slash + 1, 10, 0, family == 4 ? 32 : 128, &len, NULL))
			ip->prefix = (int)len;
		else
			diag_error(c->d, c->file, ip->line, "bad IPv%d prefix '/%s' (0..%d)", family,
					slash + 1, family == 4 ? 32 : 128);
	} else if (mask != NULL && strchr(mask, '.') != NULL && family == 4) {
		/* dotted mask: parsed by libc, then the bits are counted; holes are refused */
		struct in_addr m;
		uint32_t v;
		int bits = 0;

		if (inet_pton(AF_INET, mask, &m) == 1) {
			v = ntohl(m.s_addr);
			while (bits < 32 && (v & (0x80000000u >> bits)) != 0)
				bits++;
			if (bits < 32 && (v << bits) != 0)
				bits = -1;
		} else {
			bits = -1;
		}
		if (bits >= 0)
			ip->prefix = bits;
		else
			diag_error(c->d, c->file, ip->line, "bad netmask '%s'", mask);
	} else if (mask != NULL) {
		vnx_int(c, n, "mask", mask, 0, family == 4 ? 32 : 128, &ip->prefix);
	}
	ip->addr = g_strdup(g_strstrip(text));
	return ip;
}

static sc_if *
vnx_if(vnx_ctx *c, const xmlNode *n)
{
	static const char *const attrs[] = { "id", "net", "name", "bw", "delay", "loss", NULL };
	g_autofree char *id = NULL, *net = NULL;
	sc_if *f;

	sxml_check_attrs(n, attrs, c->file, c->d);
	net = vnx_required(c, n, "net");
	id = vnx_required(c, n, "id");
	f = g_new0(sc_if, 1);
	f->line = sxml_line(n);
	f->ips = g_ptr_array_new_with_free_func(vnx_ip_free);
	f->dns = g_ptr_array_new_with_free_func(g_free);
	f->name = sxml_prop(n, "name");
	if (net == NULL || id == NULL || !vnx_int(c, n, "if id", id, 0, 65535, &f->id)) {
		vnx_if_free(f);
		return NULL;
	}
	f->net = g_steal_pointer(&net);
	for (const xmlNode *k = n->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE)
			continue;
		if (sxml_is(k, "ipv4")) {
			g_ptr_array_add(f->ips, vnx_ip(c, k, 4));
		} else if (sxml_is(k, "ipv6")) {
			g_ptr_array_add(f->ips, vnx_ip(c, k, 6));
		} else if (sxml_is(k, "mac")) {
			g_free(f->mac);
			f->mac = sxml_text(k);
		} else if (sxml_is(k, "dns")) {
			g_ptr_array_add(f->dns, sxml_text(k));
		} else if (sxml_is(k, "vlan")) {
			scenario_use(c->s, SC_F_IF_VLAN, sxml_line(k), "%s: interface %d: <vlan>",
			    c->owner, f->id);
		} else {
			vnx_unknown(c, k, n);
		}
	}
	{
		static const char *const shaping[] = { "bw", "delay", "loss", NULL };
		g_autofree char *owner = g_strdup_printf("%s: interface %d", c->owner, f->id);

		vnx_attr_use(c, n, shaping, SC_F_SHAPING, owner);
		if (strcmp(f->net, SC_NET_LO) == 0)
			scenario_use(c->s, SC_F_IF_LO, f->line, "%s on net 'lo'", owner);
		else if (strcmp(f->net, SC_NET_UNCONNECTED) == 0)
			scenario_use(c->s, SC_F_IF_UNCONNECTED, f->line, "%s on net 'unconnected'",
			    owner);
		else if (strcmp(f->net, SC_NET_VM_MGMT) == 0)
			scenario_use(c->s, SC_F_IF_MGMT, f->line, "%s on net 'vm_mgmt'", owner);
		else
			scenario_use(c->s, SC_F_IF, f->line, "%s", owner);
		if (f->name != NULL)
			scenario_use(c->s, SC_F_IF_NAME, f->line, "%s: name=\"%s\"", owner, f->name);
	}
	return f;
}

static sc_route *
vnx_route(vnx_ctx *c, const xmlNode *n)
{
	static const char *const attrs[] = { "type", "gw", NULL };
	g_autofree char *type = NULL, *gw = NULL;
	sc_route *r;

	sxml_check_attrs(n, attrs, c->file, c->d);
	type = vnx_required(c, n, "type");
	gw = vnx_required(c, n, "gw");
	if (type == NULL || gw == NULL)
		return NULL;
	if (strcmp(type, "ipv4") != 0 && strcmp(type, "ipv6") != 0) {
		diag_error(c->d, c->file, sxml_line(n), "route type '%s' is not ipv4 or ipv6", type);
		return NULL;
	}
	r = g_new0(sc_route, 1);
	r->family = strcmp(type, "ipv4") == 0 ? 4 : 6;
	r->gw = g_strstrip(g_steal_pointer(&gw));
	r->dest = sxml_text(n);
	r->line = sxml_line(n);
	return r;
}

/* vnx_seqs: VNX splits seq="a, b" at commas (vnx.pl: split /,/); the names, stripped, empty
 * ones dropped; reports a list of nothing */
static GStrv
vnx_seqs(vnx_ctx *c, const xmlNode *n, const char *seq)
{
	g_auto(GStrv) parts = g_strsplit(seq, ",", -1);
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	GStrv out;

	for (guint i = 0; parts[i] != NULL; i++) {
		g_strstrip(parts[i]);
		if (parts[i][0] != '\0')
			g_strv_builder_add(b, parts[i]);
	}
	out = g_strv_builder_end(b);
	if (out[0] == NULL)
		diag_error(c->d, c->file, sxml_line(n), "<%s> seq '%s' names no seq",
		    (const char *)n->name, seq);
	return out;
}

/* vnx_exec: one sc_exec per seq name of n, appended to out */
static void
vnx_exec(vnx_ctx *c, const xmlNode *n, GPtrArray *out)
{
	static const char *const attrs[] = { "seq", "type", "ostype", "user", NULL };
	g_autofree char *seq = NULL, *type = NULL, *raw_text = NULL, *text = NULL;
	g_auto(GStrv) seqs = NULL;
	xmlChar *raw;

	sxml_check_attrs(n, attrs, c->file, c->d);
	seq = vnx_required(c, n, "seq");
	type = vnx_required(c, n, "type");
	if (seq == NULL || type == NULL)
		return;
	if (strcmp(type, "verbatim") != 0 && strcmp(type, "file") != 0) {
		diag_error(c->d, c->file, sxml_line(n), "exec type '%s' is not verbatim or file", type);
		return;
	}
	raw = xmlNodeGetContent(n);
	raw_text = g_strdup(raw != NULL ? (const char *)raw : "");
	xmlFree(raw);
	text = vnx_dedent(raw_text);
	if (text[0] == '\0')
		diag_warn(c->d, c->file, sxml_line(n), "exec seq '%s' has no command", seq);
	seqs = vnx_seqs(c, n, seq);
	for (guint i = 0; seqs[i] != NULL; i++) {
		sc_exec *e = g_new0(sc_exec, 1);

		e->seq = g_strdup(seqs[i]);
		e->type = g_strdup(type);
		e->ostype = sxml_prop(n, "ostype");
		e->line = sxml_line(n);
		e->raw = g_strdup(raw_text);
		e->text = g_strdup(text);
		g_ptr_array_add(out, e);
	}
}

/* vnx_filetree: one sc_filetree per seq name of n, appended to out */
static void
vnx_filetree(vnx_ctx *c, const xmlNode *n, GPtrArray *out)
{
	static const char *const attrs[] = { "seq", "root", "user", "group", "perms", NULL };
	g_autofree char *seq = NULL, *root = NULL;
	g_auto(GStrv) seqs = NULL;

	sxml_check_attrs(n, attrs, c->file, c->d);
	seq = vnx_required(c, n, "seq");
	root = vnx_required(c, n, "root");
	if (seq == NULL || root == NULL)
		return;
	seqs = vnx_seqs(c, n, seq);
	for (guint i = 0; seqs[i] != NULL; i++) {
		sc_filetree *f = g_new0(sc_filetree, 1);

		f->seq = g_strdup(seqs[i]);
		f->root = g_strdup(root);
		f->src = sxml_text(n);
		f->line = sxml_line(n);
		f->user = sxml_prop(n, "user");
		f->group = sxml_prop(n, "group");
		f->perms = sxml_prop(n, "perms");
		g_ptr_array_add(out, f);
	}
}

/* vnx_vm_uses: the VM's type and OS as uses (what runs it, what nube cannot run) */
static void
vnx_vm_uses(vnx_ctx *c, const xmlNode *n, const sc_vm *v)
{
	g_autofree char *quota = sxml_prop(n, "vcpu_quota");

	if (g_ascii_strcasecmp(v->type, "libvirt") == 0)
		scenario_use(c->s, SC_F_VM_LIBVIRT, v->line, "vm '%s'", v->name);
	else if (g_ascii_strcasecmp(v->type, "lxc") == 0)
		scenario_use(c->s, SC_F_VM_LXC, v->line, "vm '%s'", v->name);
	else
		scenario_use(c->s, SC_F_VM_FALLBACK, v->line, "vm '%s': type '%s'", v->name,
		    v->type);
	if (v->os != NULL && g_ascii_strcasecmp(v->os, "linux") != 0)
		scenario_use(c->s, SC_F_VM_OS, v->line, "vm '%s': os '%s'", v->name, v->os);
	if (quota != NULL)
		scenario_use(c->s, SC_F_CPU_QUOTA, v->line, "vm '%s': vcpu_quota=\"%s\"", v->name,
		    quota);
}

/* vnx_vm_child_use: the VM elements nube implements, as uses (the silent ones are
 * vnx_silent's) */
static void
vnx_vm_child_use(vnx_ctx *c, const xmlNode *k, const char *owner)
{
	static const struct { const char *elem, *key; } m[] = {
		{ "route", SC_F_ROUTE }, { "forwarding", SC_F_FORWARDING }, { "exec", SC_F_EXEC },
		{ "filetree", SC_F_FILETREE }, { "on_boot", SC_F_ON_BOOT },
		{ "kernel", SC_F_KERNEL },
	};

	for (guint i = 0; i < G_N_ELEMENTS(m); i++)
		if (sxml_is(k, m[i].elem))
			scenario_use(c->s, m[i].key, sxml_line(k), "%s: <%s>", owner, m[i].elem);
}

static void
vnx_vm(vnx_ctx *c, const xmlNode *n)
{
	static const char *const attrs[] = { "name", "type", "subtype", "os", "os_subtype", "arch",
		"vcpu", "vcpu_quota", "order", "exec_mode", NULL };
	static const char *const silent[] = { "boot", "cdrom", "storage", "shareddir", "video",
		"conf", "shell", "basedir", "mng_if", "console", "user", "exec_mode", NULL };
	g_autofree char *name = NULL, *type = NULL, *vcpu = NULL, *owner = NULL;
	sc_vm *v;
	bool have_fs = false, have_kernel = false;

	sxml_check_attrs(n, attrs, c->file, c->d);
	name = vnx_required(c, n, "name");
	type = vnx_required(c, n, "type");
	if (name == NULL || type == NULL)
		return;
	v = g_new0(sc_vm, 1);
	v->name = g_steal_pointer(&name);
	v->type = g_steal_pointer(&type);
	v->line = sxml_line(n);
	v->subtype = sxml_prop(n, "subtype");
	v->os = sxml_prop(n, "os");
	v->arch = sxml_prop(n, "arch");
	v->mem_mib = c->s->default_mem_mib > 0 ? c->s->default_mem_mib : SC_DEFAULT_MEM_MIB;
	v->mem_line = v->line;
	v->vcpu = c->s->default_vcpu > 0 ? c->s->default_vcpu : SC_DEFAULT_VCPU;
	v->fwd_ipv4 = c->def_fwd4;
	v->fwd_ipv6 = c->def_fwd6;
	v->ifs = g_ptr_array_new_with_free_func(vnx_if_free);
	v->reserved_ifs = g_ptr_array_new_with_free_func(vnx_if_free);
	v->routes = g_ptr_array_new_with_free_func(vnx_route_free);
	v->execs = g_ptr_array_new_with_free_func(vnx_exec_free);
	v->filetrees = g_ptr_array_new_with_free_func(vnx_filetree_free);
	vcpu = sxml_prop(n, "vcpu");
	if (vcpu != NULL)
		vnx_int(c, n, "vcpu", vcpu, 0, G_MAXINT, &v->vcpu);
	{
		g_autofree char *order = sxml_prop(n, "order");

		/* VNX: digits only, else "vm NAME has invalid order string" */
		if (order != NULL && vnx_int(c, n, "order", order, 0, G_MAXINT, &v->order)) {
			v->has_order = true;
			scenario_use(c->s, SC_F_VM_ORDER, v->line, "vm '%s': order=\"%s\"",
			    v->name, order);
		}
	}
	owner = g_strdup_printf("vm '%s'", v->name);
	c->owner = owner;
	vnx_vm_uses(c, n, v);
	for (const xmlNode *k = n->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE)
			continue;
		vnx_vm_child_use(c, k, owner);
		if (sxml_is(k, "mem")) {
			g_autofree char *t = sxml_text(k);

			sxml_check_attrs(k, (const char *const[]){ NULL }, c->file, c->d);
			vnx_mem(c, k, t, &v->mem_mib);
			v->mem_line = sxml_line(k);
		} else if (sxml_is(k, "vcpu")) {
			vnx_vcpu_elem(c, k, &v->vcpu);
		} else if (sxml_is(k, "filesystem")) {
			static const char *const fattrs[] = { "type", "loader", "bus", "vm_type",
				"subtype", "os", NULL };

			sxml_check_attrs(k, fattrs, c->file, c->d);
			g_free(v->filesystem);
			g_free(v->fs_type);
			v->filesystem = sxml_text(k);
			v->fs_type = sxml_prop(k, "type");
			have_fs = true;
		} else if (sxml_is(k, "kernel")) {
			vnx_kernel(c, k, &v->kernel, &v->initrd);
			have_kernel = true;
		} else if (sxml_is(k, "if")) {
			sc_if *f = vnx_if(c, k);

			if (f != NULL && (strcmp(f->net, SC_NET_LO) == 0 ||
			    strcmp(f->net, SC_NET_VM_MGMT) == 0 ||
			    strcmp(f->net, SC_NET_UNCONNECTED) == 0))
				g_ptr_array_add(v->reserved_ifs, f);
			else if (f != NULL)
				g_ptr_array_add(v->ifs, f);
		} else if (sxml_is(k, "route")) {
			sc_route *r = vnx_route(c, k);

			if (r != NULL)
				g_ptr_array_add(v->routes, r);
		} else if (sxml_is(k, "forwarding")) {
			vnx_forwarding(c, k, &v->fwd_ipv4, &v->fwd_ipv6);
		} else if (sxml_is(k, "on_boot")) {
			g_autofree char *t = sxml_text(k);

			sxml_check_attrs(k, (const char *const[]){ NULL }, c->file, c->d);
			if (t != NULL)
				g_strstrip(t);
			if (t == NULL || *t == '\0' || g_ascii_strcasecmp(t, "yes") == 0 ||
			    g_ascii_strcasecmp(t, "true") == 0)
				v->no_start = false;
			else if (g_ascii_strcasecmp(t, "no") == 0 || g_ascii_strcasecmp(t, "false") == 0)
				v->no_start = true;
			else
				diag_error(c->d, c->file, sxml_line(k), "vm '%s': <on_boot> '%s': 'yes' "
				    "or 'no' expected", v->name, t);
		} else if (sxml_is(k, "exec")) {
			vnx_exec(c, k, v->execs);
		} else if (sxml_is(k, "filetree")) {
			vnx_filetree(c, k, v->filetrees);
		} else if (sxml_is(k, "cmd-seq")) {
			vnx_cmdseq(c, k);
		} else if (sxml_in((const char *)k->name, silent)) {
			g_autofree char *owner = g_strdup_printf("vm '%s': ", v->name);

			vnx_silent(c, k, owner);
		} else {
			vnx_unknown(c, k, n);
		}
	}
	if (!have_fs && c->def_fs != NULL) {
		v->filesystem = g_strdup(c->def_fs);
		v->fs_type = g_strdup(c->def_fs_type);
	}
	if (!have_kernel && c->def_kernel != NULL) {
		v->kernel = g_strdup(c->def_kernel);
		v->initrd = g_strdup(c->def_initrd);
	}
	c->owner = NULL;
	g_ptr_array_add(c->s->vms, v);
}

static void
vnx_host(vnx_ctx *c, const xmlNode *n)
{
	static const char *const silent[] = { "physicalif", "forwarding", NULL };

	sxml_check_attrs(n, (const char *const[]){ NULL }, c->file, c->d);
	for (const xmlNode *k = n->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE)
			continue;
		if (sxml_is(k, "hostif")) {
			static const char *const attrs[] = { "net", NULL };
			g_autofree char *net = NULL;
			sc_if *f;

			sxml_check_attrs(k, attrs, c->file, c->d);
			net = vnx_required(c, k, "net");
			if (net == NULL)
				continue;
			f = g_new0(sc_if, 1);
			f->id = (int)c->s->host_ifs->len;
			f->net = g_steal_pointer(&net);
			f->line = sxml_line(k);
			f->ips = g_ptr_array_new_with_free_func(vnx_ip_free);
			scenario_use(c->s, SC_F_HOSTIF, f->line, "host: <hostif net=\"%s\">", f->net);
			for (const xmlNode *a = k->children; a != NULL; a = a->next) {
				if (sxml_is(a, "ipv4"))
					g_ptr_array_add(f->ips, vnx_ip(c, a, 4));
				else if (sxml_is(a, "ipv6"))
					g_ptr_array_add(f->ips, vnx_ip(c, a, 6));
				else if (a->type == XML_ELEMENT_NODE && !sxml_is(a, "vlan"))
					vnx_unknown(c, a, k);
			}
			g_ptr_array_add(c->s->host_ifs, f);
		} else if (sxml_is(k, "route")) {
			sc_route *r = vnx_route(c, k);

			if (r != NULL)
				g_ptr_array_add(c->s->host_routes, r);
			scenario_use(c->s, SC_F_HOST_ROUTE, sxml_line(k), "host: <route>");
		} else if (sxml_is(k, "exec")) {
			g_autofree char *seq = sxml_prop(k, "seq");

			vnx_exec(c, k, c->s->host_execs);
			scenario_use(c->s, SC_F_HOST_EXEC, sxml_line(k), "host: <exec seq=\"%s\">",
			    seq != NULL ? seq : "");
		} else if (sxml_in((const char *)k->name, silent)) {
			vnx_silent(c, k, "host: ");
		} else {
			vnx_unknown(c, k, n);
		}
	}
}

/* vnx_index: name -> index+1 maps for the lookups; the first of duplicate names wins */
static void
vnx_index(scenario *s)
{
	s->vm_index = g_hash_table_new(g_str_hash, g_str_equal);
	s->net_index = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < s->vms->len; i++) {
		sc_vm *v = g_ptr_array_index(s->vms, i);

		if (!g_hash_table_contains(s->vm_index, v->name))
			g_hash_table_insert(s->vm_index, v->name, GUINT_TO_POINTER(i + 1));
	}
	for (guint i = 0; i < s->nets->len; i++) {
		sc_net *n = g_ptr_array_index(s->nets, i);

		if (!g_hash_table_contains(s->net_index, n->name))
			g_hash_table_insert(s->net_index, n->name, GUINT_TO_POINTER(i + 1));
	}
}

static scenario *
vnx_new(const char *name)
{
	scenario *s = g_new0(scenario, 1);

	s->file = g_strdup(name);
	s->nets = g_ptr_array_new_with_free_func(vnx_net_free);
	s->vms = g_ptr_array_new_with_free_func(vnx_vm_free);
	s->cmdseqs = g_ptr_array_new_with_free_func(vnx_cmdseq_free);
	s->host_ifs = g_ptr_array_new_with_free_func(vnx_if_free);
	s->host_routes = g_ptr_array_new_with_free_func(vnx_route_free);
	s->host_execs = g_ptr_array_new_with_free_func(vnx_exec_free);
	s->mgmt.net_managed = true;
	s->mgmt.type = SC_MGMT_NONE;
	s->mgmt.mask = 24;
	return s;
}

scenario *
scenario_parse_memory(const char *buf, size_t len, const char *name, diag *d)
{
	static const char *const root_attrs[] = { NULL };
	xmlDoc *doc;
	xmlNode *root;
	vnx_ctx c = { 0 };

	if (name == NULL)
		name = "<memory>";
	doc = sxml_read(buf, len, name, d);
	if (doc == NULL)
		return NULL;
	root = xmlDocGetRootElement(doc);
	if (root == NULL || !sxml_is(root, "vnx")) {
		diag_error(d, name, root != NULL ? sxml_line(root) : 0,
				"not a VNX scenario: the root element is <%s>, expected <vnx>",
				root != NULL ? (const char *)root->name : "");
		xmlFreeDoc(doc);
		return NULL;
	}
	c.s = vnx_new(name);
	c.d = d;
	c.file = c.s->file;
	sxml_check_attrs(root, root_attrs, name, d);
	c.s->name_line = sxml_line(root);
	/* <global> first wherever it is, so vm_defaults apply to every <vm> */
	for (const xmlNode *k = root->children; k != NULL; k = k->next)
		if (sxml_is(k, "global"))
			vnx_global(&c, k);
	for (const xmlNode *k = root->children; k != NULL; k = k->next) {
		if (k->type != XML_ELEMENT_NODE || sxml_is(k, "global"))
			continue;
		if (sxml_is(k, "net"))
			vnx_net(&c, k);
		else if (sxml_is(k, "vm"))
			vnx_vm(&c, k);
		else if (sxml_is(k, "host"))
			vnx_host(&c, k);
		else
			vnx_unknown(&c, k, root);
	}
	vnx_index(c.s);
	g_free(c.def_fs);
	g_free(c.def_fs_type);
	g_free(c.def_kernel);
	g_free(c.def_initrd);
	xmlFreeDoc(doc);
	return c.s;
}

scenario *
scenario_parse_file(const char *path, diag *d)
{
	g_autofree char *buf = NULL;
	gsize len = 0;
	g_autoptr(GError) err = NULL;

	if (!g_file_get_contents(path, &buf, &len, &err)) {
		diag_error(d, path, 0, "cannot read scenario: %s", err->message);
		return NULL;
	}
	return scenario_parse_memory(buf, len, path, d);
}

/* ---- lookups ---- */

int
scenario_vm_index(const scenario *s, const char *name)
{
	if (s == NULL || name == NULL)
		return -1;
	if (s->vm_index != NULL) {
		guint i = GPOINTER_TO_UINT(g_hash_table_lookup(s->vm_index, name));

		if (i > 0 && i <= s->vms->len &&
				strcmp(((sc_vm *)g_ptr_array_index(s->vms, i - 1))->name, name) == 0)
			return (int)i - 1;
		if (g_hash_table_size(s->vm_index) == s->vms->len)
			return -1;	/* index covers every VM (no duplicates, nothing added) */
	}
	for (guint i = 0; i < s->vms->len; i++)
		if (strcmp(((sc_vm *)g_ptr_array_index(s->vms, i))->name, name) == 0)
			return (int)i;
	return -1;
}

int
scenario_net_index(const scenario *s, const char *name)
{
	if (s == NULL || name == NULL)
		return -1;
	if (s->net_index != NULL) {
		guint i = GPOINTER_TO_UINT(g_hash_table_lookup(s->net_index, name));

		if (i > 0 && i <= s->nets->len &&
				strcmp(((sc_net *)g_ptr_array_index(s->nets, i - 1))->name, name) == 0)
			return (int)i - 1;
		if (g_hash_table_size(s->net_index) == s->nets->len)
			return -1;
	}
	for (guint i = 0; i < s->nets->len; i++)
		if (strcmp(((sc_net *)g_ptr_array_index(s->nets, i))->name, name) == 0)
			return (int)i;
	return -1;
}

sc_vm *
scenario_vm(const scenario *s, const char *name)
{
	int i = scenario_vm_index(s, name);

	return i < 0 ? NULL : g_ptr_array_index(s->vms, i);
}

static gint
start_cmp(gconstpointer a, gconstpointer b)
{
	const sc_vm *x = *(sc_vm *const *)a, *y = *(sc_vm *const *)b;

	if (x->has_order != y->has_order)
		return x->has_order ? -1 : 1;
	if (x->has_order && x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return (x->line > y->line) - (x->line < y->line);
}

void
scenario_vms_start_sort(GPtrArray *vms)
{
	g_ptr_array_sort(vms, start_cmp);
}

sc_net *
scenario_net(const scenario *s, const char *name)
{
	int i = scenario_net_index(s, name);

	return i < 0 ? NULL : g_ptr_array_index(s->nets, i);
}

static const sc_cmdseq *
vnx_find_cmdseq(const scenario *s, const char *seq)
{
	for (guint i = 0; i < s->cmdseqs->len; i++) {
		const sc_cmdseq *c = g_ptr_array_index(s->cmdseqs, i);

		if (strcmp(c->seq, seq) == 0)
			return c;
	}
	return NULL;
}

static int
vnx_expand(const scenario *s, const char *seq, GPtrArray *out, GPtrArray *stack, guint limit)
{
	const sc_cmdseq *c = vnx_find_cmdseq(s, seq);

	if (c == NULL) {
		if (out->len >= limit)
			return -1;
		g_ptr_array_add(out, (gpointer)seq);
		return 0;
	}
	if (stack->len >= SC_SEQ_MAX_DEPTH)
		return -1;
	for (guint i = 0; i < stack->len; i++)
		if (g_ptr_array_index(stack, i) == c)
			return -1;
	g_ptr_array_add(stack, (gpointer)c);
	for (guint i = 0; i < c->members->len; i++)
		if (vnx_expand(s, g_ptr_array_index(c->members, i), out, stack, limit) < 0)
			return -1;
	g_ptr_array_remove_index(stack, stack->len - 1);
	return 0;
}

int
scenario_expand_seq(const scenario *s, const char *seq, GPtrArray *out)
{
	g_autoptr(GPtrArray) stack = g_ptr_array_new();
	guint start;

	if (s == NULL || seq == NULL || out == NULL)
		return -1;
	start = out->len;
	if (vnx_expand(s, seq, out, stack, start + SC_SEQ_MAX_EXPANSION) < 0) {
		g_ptr_array_set_size(out, start);
		return -1;
	}
	return 0;
}
