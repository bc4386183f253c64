/* vnxboot: VNX's autoconfiguration documents (vnxboot.xml, command.xml) and medium layout,
 * built with libxml2 exactly as VNX's host side builds them (see guestcfg.h) */
#include "guestcfg/guestcfg.h"

#include <stdlib.h>
#include <string.h>

/* ---- command text ---- */

/* gc_perl_space: Perl's \s on bytes (g_ascii_isspace leaves out the vertical tab) */
static bool
gc_perl_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* gc_trim: s/^\s+//; s/\s+$// in place; returns the start inside l */
static char *
gc_trim(char *l)
{
	size_t n;

	while (gc_perl_space(*l))
		l++;
	n = strlen(l);
	while (n > 0 && gc_perl_space(l[n - 1]))
		l[--n] = '\0';
	return l;
}

char *
guestcfg_vnx_commands(const char *text)
{
	g_autoptr(GRegex) cont = g_regex_new("\\\\\\s*\\n\\s*", 0, 0, NULL);
	g_autofree char *joined = NULL;
	g_auto(GStrv) lines = NULL;
	GString *out = g_string_new(NULL);
	guint n;

	if (text == NULL)
		text = "";
	/* VNX: a backslash, blanks, a newline and blanks become one space (Perl s///g) */
	joined = g_regex_replace_literal(cont, text, -1, 0, " ", 0, NULL);
	if (joined == NULL)
		joined = g_strdup(text);
	lines = g_strsplit(joined, "\n", -1);
	/* Perl's split drops trailing empty fields */
	n = g_strv_length(lines);
	while (n > 0 && lines[n - 1][0] == '\0')
		n--;
	/* if ($lines[0]) { '' } else { "\n" }: an empty (or "0") first line, or none */
	if (n == 0 || lines[0][0] == '\0' || strcmp(lines[0], "0") == 0)
		g_string_append_c(out, '\n');
	for (guint i = 0; i < n; i++) {
		char *l = gc_trim(lines[i]);
		gsize len = strlen(l);

		if (len == 0 || l[0] == '#')
			continue;
		g_string_append(out, l);
		if (l[len - 1] != ';' && l[len - 1] != '&')
			g_string_append_c(out, ';');
		g_string_append_c(out, '\n');
	}
	return g_string_free(out, FALSE);
}

/* ---- small XML helpers (every value through libxml2's escaping) ---- */

static xmlNode *
gc_child(xmlNode *parent, const char *name, const char *text)
{
	xmlNode *n = xmlNewChild(parent, NULL, BAD_CAST name, NULL);

	if (text != NULL)
		xmlAddChild(n, xmlNewText(BAD_CAST text));
	return n;
}

static void
gc_attr(xmlNode *n, const char *name, const char *value)
{
	xmlNewProp(n, BAD_CAST name, BAD_CAST(value != NULL ? value : ""));
}

/* gc_dotted: prefix length -> dotted IPv4 mask; VNX's default 255.255.255.0 when absent */
static char *
gc_dotted(int prefix)
{
	guint32 m;

	if (prefix < 0 || prefix > 32)
		prefix = 24;
	m = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
	return g_strdup_printf("%u.%u.%u.%u", m >> 24, (m >> 16) & 255, (m >> 8) & 255, m & 255);
}

static void
gc_filetree_elem(xmlNode *parent, const sc_filetree *ft)
{
	xmlNode *n = gc_child(parent, "filetree", ft->src);

	gc_attr(n, "seq", ft->seq);
	gc_attr(n, "root", ft->root);
	if (ft->user != NULL)
		gc_attr(n, "user", ft->user);
	if (ft->group != NULL)
		gc_attr(n, "group", ft->group);
	if (ft->perms != NULL)
		gc_attr(n, "perms", ft->perms);
}

/* gc_cmds: the seq's <filetree>s, then its <exec>s, as VNX appends them */
static void
gc_cmds(xmlNode *parent, const gc_seq *q)
{
	if (q == NULL)
		return;
	for (guint i = 0; i < q->trees->len; i++)
		gc_filetree_elem(parent, ((const gc_tree *)g_ptr_array_index(q->trees, i))->ft);
	for (guint i = 0; i < q->cmds->len; i++) {
		const gc_cmd *c = g_ptr_array_index(q->cmds, i);
		xmlNode *n = gc_child(parent, "exec", c->text);

		gc_attr(n, "seq", q->seq);
		gc_attr(n, "ostype", c->ostype);
	}
}

/* ---- vnxboot.xml ---- */

static void
gc_mgmt_if(xmlNode *vmn, const scenario *s, const gc_net *net)
{
	xmlNode *n = gc_child(vmn, "if", NULL);
	g_autofree char *mac = g_strconcat(",", net->mgmt_mac, NULL);
	xmlNode *ip;

	gc_attr(n, "mac", mac);
	gc_attr(n, "net", s->mgmt.type == SC_MGMT_NET && s->mgmt.net != NULL ? s->mgmt.net : "");
	gc_attr(n, "id", "0");
	if (net->mgmt_addr != NULL) {
		g_autofree char *addr = g_strdup(net->mgmt_addr);
		char *slash = strchr(addr, '/');
		int prefix = -1;
		g_autofree char *mask = NULL;

		if (slash != NULL) {
			*slash = '\0';
			prefix = atoi(slash + 1);
		}
		mask = gc_dotted(prefix);
		ip = gc_child(n, "ipv4", addr);
		gc_attr(ip, "mask", mask);
	} else {
		gc_child(n, "ipv4", "dhcp");
	}
}

static void
gc_if_ips(xmlNode *ifn, const sc_if *f)
{
	if (f->ips == NULL)
		return;
	for (guint k = 0; k < f->ips->len; k++) {
		const sc_ip *ip = g_ptr_array_index(f->ips, k);

		if (ip->family != 4)
			continue;
		g_autofree char *mask = gc_dotted(ip->prefix);
		xmlNode *n = gc_child(ifn, "ipv4", ip->dhcp ? "dhcp" : ip->addr);

		gc_attr(n, "mask", mask);
	}
	for (guint k = 0; k < f->ips->len; k++) {
		const sc_ip *ip = g_ptr_array_index(f->ips, k);
		g_autofree char *text = NULL;

		if (ip->family != 6)
			continue;
		text = g_strdup_printf("%s/%d", ip->dhcp ? "dhcp" : ip->addr,
				ip->prefix >= 0 ? ip->prefix : 64);
		gc_child(ifn, "ipv6", text);
	}
	for (guint k = 0; f->dns != NULL && k < f->dns->len; k++)
		gc_child(ifn, "dns", g_ptr_array_index(f->dns, k));
}

xmlDoc *
guestcfg_vnxboot(const scenario *s, const sc_vm *vm, const char *id, const gc_net *net,
		const gc_seq *on_boot, diag *d)
{
	xmlDoc *doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNode *root = xmlNewNode(NULL, BAD_CAST "create_conf");
	xmlNode *vmn, *fs;
	g_autofree char *vcpu = g_strdup_printf("%d", vm->vcpu > 0 ? vm->vcpu : 1);
	g_autofree char *mem = g_strdup_printf("%" G_GUINT64_FORMAT, vm->mem_mib * 1024);
	bool ok = true;

	xmlDocSetRootElement(doc, root);
	gc_child(root, "id", id);
	vmn = gc_child(root, "vm", NULL);
	gc_attr(vmn, "name", vm->name);
	gc_attr(vmn, "type", vm->type);
	/* VNX writes the os value into subtype= too (make_vmAPI_doc: $type[2] twice) */
	gc_attr(vmn, "subtype", vm->os);
	gc_attr(vmn, "os", vm->os);
	gc_attr(vmn, "exec_mode", "cdrom");
	gc_attr(vmn, "arch", vm->arch != NULL ? vm->arch : "i686");
	gc_attr(vmn, "vcpu", vcpu);
	fs = gc_child(vmn, "filesystem", vm->filesystem != NULL ? vm->filesystem :
			"/usr/share/vnx/filesystems/root_fs_tutorial");
	gc_attr(fs, "type", vm->filesystem != NULL && vm->fs_type != NULL ? vm->fs_type : "cow");
	gc_child(vmn, "mem", mem);
	if (net != NULL && net->mgmt_mac != NULL)
		gc_mgmt_if(vmn, s, net);
	for (guint i = 0; vm->ifs != NULL && i < vm->ifs->len; i++) {
		const sc_if *f = g_ptr_array_index(vm->ifs, i);
		const char *mac = net != NULL && net->macs != NULL && i < net->macs->len ?
			g_ptr_array_index(net->macs, i) : NULL;
		g_autofree char *idtext = g_strdup_printf("%d", f->id);
		g_autofree char *mactext = NULL;
		xmlNode *ifn;

		if (f->id == 0)
			continue;	/* VNX: id 0 is the management interface, configured above */
		if (mac == NULL) {
			diag_error(d, s->file, f->line, "vm '%s': no MAC address planned for "
					"interface %d", vm->name, f->id);
			ok = false;
			continue;
		}
		mactext = g_strconcat(",", mac, NULL);
		ifn = gc_child(vmn, "if", NULL);
		gc_attr(ifn, "id", idtext);
		gc_attr(ifn, "net", f->net);
		gc_attr(ifn, "mac", mactext);
		if (f->name != NULL && f->name[0] != '\0')
			gc_attr(ifn, "name", f->name);
		gc_if_ips(ifn, f);
	}
	/* loopback addresses: VNX writes them as interfaces of net "lo", without a MAC; its
	 * daemon adds them to the guest's lo */
	for (guint i = 0; vm->reserved_ifs != NULL && i < vm->reserved_ifs->len; i++) {
		const sc_if *f = g_ptr_array_index(vm->reserved_ifs, i);
		g_autofree char *idtext = g_strdup_printf("%d", f->id);
		xmlNode *ifn;

		if (strcmp(f->net, SC_NET_LO) != 0)
			continue;
		ifn = gc_child(vmn, "if", NULL);
		gc_attr(ifn, "id", idtext);
		gc_attr(ifn, "net", f->net);
		gc_if_ips(ifn, f);
	}
	for (guint i = 0; vm->routes != NULL && i < vm->routes->len; i++) {
		const sc_route *r = g_ptr_array_index(vm->routes, i);
		xmlNode *n = gc_child(vmn, "route", r->dest);

		gc_attr(n, "type", r->family == 6 ? "ipv6" : "ipv4");
		gc_attr(n, "gw", r->gw);
	}
	if (vm->fwd_ipv4)
		gc_attr(gc_child(vmn, "forwarding", NULL), "type", "ipv4");
	if (vm->fwd_ipv6)
		gc_attr(gc_child(vmn, "forwarding", NULL), "type", "ipv6");
	gc_cmds(vmn, on_boot);
	if (!ok) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

/* ---- command.xml ---- */

xmlDoc *
guestcfg_command(const char *id, const gc_seq *seq)
{
	xmlDoc *doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNode *root = xmlNewNode(NULL, BAD_CAST "command");

	xmlDocSetRootElement(doc, root);
	gc_child(root, "id", id);
	gc_cmds(root, seq);
	return doc;
}

GPtrArray *
guestcfg_layout(const gc_seq *q)
{
	GPtrArray *out = g_ptr_array_new();

	for (guint i = 0; q != NULL && i < q->trees->len; i++) {
		const gc_tree *t = g_ptr_array_index(q->trees, i);

		for (guint k = 0; t->copies != NULL && k < t->copies->len; k++)
			g_ptr_array_add(out, g_ptr_array_index(t->copies, k));
	}
	return out;
}

char *
guestcfg_xml_text(xmlDoc *doc, gsize *len)
{
	xmlChar *buf = NULL;
	int n = 0;
	char *out;

	xmlDocDumpFormatMemoryEnc(doc, &buf, &n, "UTF-8", 0);
	out = g_strndup((const char *)buf, n > 0 ? (gsize)n : 0);
	xmlFree(buf);
	if (len != NULL)
		*len = strlen(out);
	return out;
}
