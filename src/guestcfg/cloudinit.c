/* cloudinit: a cloud-init NoCloud seed (meta-data, user-data, network-config v2) for a VM,
 * written as JSON (which YAML parsers read) through jansson, never by hand */
#include "guestcfg/guestcfg.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

/* ---- JSON that YAML reads the same ---- */

/* gc_yaml_safe: JSON text -> the same text with the code points YAML 1.1 (PyYAML, which
 * cloud-init uses) refuses raw (C1 controls, U+FFFE, U+FFFF) or reads as line breaks (NEL
 * U+0085, U+2028, U+2029: folded inside a quoted scalar), and the BOM, written as \u
 * escapes; jansson escapes only the C0 ones. They can only occur inside strings, where the
 * escape means the same character. New string. */
static bool
gc_yaml_escape(gunichar c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 || c == 0xfeff ||
		c == 0xfffe || c == 0xffff;
}

static char *
gc_yaml_safe(const char *json)
{
	GString *out = g_string_sized_new(strlen(json) + 16);

	for (const char *p = json; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (gc_yaml_escape(c))
			g_string_append_printf(out, "\\u%04x", c);
		else
			g_string_append_len(out, p, g_utf8_next_char(p) - p);
	}
	return g_string_free(out, FALSE);
}

/* gc_dump: the document as indented JSON (": " and ", " separators, as YAML 1.1 wants in
 * flow collections), made YAML-safe; prefix (may be NULL) goes first. New string. */
static char *
gc_dump(json_t *doc, const char *prefix)
{
	char *raw = json_dumps(doc, JSON_INDENT(2));
	g_autofree char *safe = NULL;

	if (raw == NULL)
		return NULL;
	safe = gc_yaml_safe(raw);
	free(raw);
	return g_strconcat(prefix != NULL ? prefix : "", safe, "\n", NULL);
}

/* gc_str: a JSON string, or NULL after reporting when s is not UTF-8 */
static json_t *
gc_str(const char *s, diag *d, const char *file, int line, const char *what)
{
	json_t *j = json_string(s != NULL ? s : "");

	if (j == NULL)
		diag_error(d, file, line, "%s is not valid UTF-8", what);
	return j;
}

char *
guestcfg_ci_meta_data(const sc_vm *vm, const char *instance_id)
{
	json_t *doc = json_object();
	char *out;

	json_object_set_new(doc, "instance-id", json_string(instance_id));
	json_object_set_new(doc, "local-hostname", json_string(vm->name));
	out = gc_dump(doc, NULL);
	json_decref(doc);
	return out;
}

/* ---- user-data ---- */

static bool
gc_octal_perms(const char *perms)
{
	size_t n = perms != NULL ? strlen(perms) : 0;

	if (n < 3 || n > 4)
		return false;
	for (size_t i = 0; i < n; i++)
		if (perms[i] < '0' || perms[i] > '7')
			return false;
	return true;
}

/* gc_owner: write_files owner from user=/group= (VNX: chown user, chown .group), NULL if none */
static char *
gc_owner(const sc_filetree *ft)
{
	if (ft->user != NULL && ft->group != NULL)
		return g_strdup_printf("%s:%s", ft->user, ft->group);
	if (ft->user != NULL)
		return g_strdup(ft->user);
	if (ft->group != NULL)
		return g_strdup_printf("root:%s", ft->group);
	return NULL;
}

/* gc_tree_files: one write_files entry per file of t; runcmd gets chmod for symbolic perms.
 * Returns false after reporting. */
static bool
gc_tree_files(const scenario *s, const sc_vm *vm, const gc_tree *t, json_t *files, json_t *runcmd,
		diag *d)
{
	const sc_filetree *ft = t->ft;
	bool dir_root = ft->root != NULL && g_str_has_suffix(ft->root, "/");
	g_autofree char *owner = gc_owner(ft);
	bool octal = gc_octal_perms(ft->perms);

	if (ft->root == NULL || ft->root[0] != '/') {
		diag_error(d, s->file, ft->line, "vm '%s': filetree '%s': root '%s' is not an "
				"absolute path", vm->name, ft->src, ft->root != NULL ? ft->root : "");
		return false;
	}
	if (!dir_root && (t->copies->len != 1 || ((gc_copy *)g_ptr_array_index(t->copies, 0))->dir)) {
		diag_error(d, s->file, ft->line, "vm '%s': filetree '%s': root '%s' is a file (no "
				"trailing '/') but the source is %s", vm->name, ft->src, ft->root,
				t->copies->len == 1 ? "a folder" : "several files");
		return false;
	}
	for (guint i = 0; i < t->files->len; i++) {
		const gc_file *f = g_ptr_array_index(t->files, i);
		g_autofree char *path = dir_root ? g_strconcat(ft->root, f->rel, NULL) : g_strdup(ft->root);
		g_autofree char *b64 = NULL;
		g_autofree char *mode = NULL;
		json_t *e, *jpath;
		gsize len = 0;
		const guchar *data;

		if (f->data == NULL) {
			diag_error(d, s->file, ft->line, "vm '%s': filetree '%s': '%s' was not read",
					vm->name, ft->src, f->host);
			return false;
		}
		jpath = gc_str(path, d, s->file, ft->line, "filetree destination");
		if (jpath == NULL)
			return false;
		data = g_bytes_get_data(f->data, &len);
		b64 = g_base64_encode(data, len);
		mode = octal ? g_strdup_printf("0%0*o", 3, (unsigned)g_ascii_strtoull(ft->perms, NULL, 8))
			: g_strdup_printf("0%03o", f->mode);
		e = json_object();
		json_object_set_new(e, "path", jpath);
		json_object_set_new(e, "encoding", json_string("b64"));
		json_object_set_new(e, "content", json_string(b64));
		json_object_set_new(e, "permissions", json_string(mode));
		if (owner != NULL) {
			json_t *jo = gc_str(owner, d, s->file, ft->line, "filetree owner");

			if (jo == NULL) {
				json_decref(e);
				return false;
			}
			json_object_set_new(e, "owner", jo);
		}
		json_array_append_new(files, e);
	}
	if (ft->perms != NULL && !octal) {
		/* VNX: chmod -R PERMS on each entry copied (root itself for a file root) */
		for (guint i = 0; i < t->copies->len; i++) {
			const gc_copy *c = g_ptr_array_index(t->copies, i);
			g_autofree char *name = g_path_get_basename(c->medium);
			g_autofree char *path = dir_root ? g_strconcat(ft->root, name, NULL) :
				g_strdup(ft->root);
			json_t *cmd = json_array();

			json_array_append_new(cmd, json_string("chmod"));
			json_array_append_new(cmd, json_string("-R"));
			json_array_append_new(cmd, json_string(ft->perms));
			json_array_append_new(cmd, json_string(path));
			json_array_append_new(runcmd, cmd);
		}
	}
	return true;
}

/* gc_daemon_script: the script vnxaced runs for an exec: each line of VNX's command text
 * without the one ';' VNX appended */
static char *
gc_daemon_script(const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	GString *out = g_string_new(NULL);

	for (guint i = 0; lines[i] != NULL; i++) {
		gsize n = strlen(lines[i]);

		if (n > 0 && lines[i][n - 1] == ';')
			lines[i][n - 1] = '\0';
		if (lines[i][0] == '\0')
			continue;
		if (out->len > 0)
			g_string_append_c(out, '\n');
		g_string_append(out, lines[i]);
	}
	return g_string_free(out, FALSE);
}

/* gc_cmd_script: what vnxaced runs for c (*script, new string) and whether it runs detached
 * (ostype exec/xexec) or waited for (system/xsystem). false when there is nothing to run:
 * an empty script, or an ostype VNX does not run on Linux (a warning in d). */
static bool
gc_cmd_script(const scenario *s, const sc_vm *vm, const gc_cmd *c, char **script, bool *detach,
		diag *d)
{
	*script = NULL;
	if (strcmp(c->ostype, "system") == 0 || strcmp(c->ostype, "xsystem") == 0) {
		*detach = false;
	} else if (strcmp(c->ostype, "exec") == 0 || strcmp(c->ostype, "xexec") == 0) {
		*detach = true;
	} else {
		diag_warn(d, s->file, c->ex->line, "vm '%s': exec ostype '%s' is not system, "
				"exec, xsystem or xexec: not run (as under VNX)", vm->name, c->ostype);
		return false;
	}
	*script = gc_daemon_script(c->text);
	if ((*script)[0] == '\0') {
		g_clear_pointer(script, g_free);
		return false;
	}
	return true;
}

char *
guestcfg_ci_user_data(const scenario *s, const sc_vm *vm, const gc_seq *on_boot, diag *d)
{
	json_t *doc = json_object();
	json_t *files = json_array();
	json_t *runcmd = json_array();
	json_t *fwd = json_object(), *sysctl = json_array();
	g_autofree char *fwdtext = g_strdup_printf("# Configured by nube (VNX's forwarding)\n"
			"net.ipv4.ip_forward=%d\nnet.ipv6.conf.all.forwarding=%d\n",
			vm->fwd_ipv4 ? 1 : 0, vm->fwd_ipv6 ? 1 : 0);
	bool ok = true;
	char *out = NULL;

	json_object_set_new(doc, "hostname", json_string(vm->name));
	json_object_set_new(doc, "preserve_hostname", json_false());
	json_object_set_new(doc, "manage_etc_hosts", json_string("localhost"));
	json_object_set_new(fwd, "path", json_string(GC_FWD_SYSCTL_PATH));
	json_object_set_new(fwd, "content", json_string(fwdtext));
	json_object_set_new(fwd, "permissions", json_string("0644"));
	json_array_append_new(files, fwd);
	json_array_append_new(sysctl, json_string("sysctl"));
	json_array_append_new(sysctl, json_string("-p"));
	json_array_append_new(sysctl, json_string(GC_FWD_SYSCTL_PATH));
	json_array_append_new(runcmd, sysctl);
	/* loopback addresses (<if net="lo">): on lo, before the on_boot commands */
	for (guint i = 0; vm->reserved_ifs != NULL && i < vm->reserved_ifs->len; i++) {
		const sc_if *f = g_ptr_array_index(vm->reserved_ifs, i);

		for (guint k = 0; strcmp(f->net, SC_NET_LO) == 0 && f->ips != NULL &&
		    k < f->ips->len; k++) {
			const sc_ip *ip = g_ptr_array_index(f->ips, k);
			g_autofree char *a = NULL;

			if (ip->dhcp || ip->addr == NULL)
				continue;
			a = g_strdup_printf("%s/%d", ip->addr, ip->prefix >= 0 ? ip->prefix :
			    ip->family == 6 ? 128 : 32);
			json_array_append_new(runcmd, json_pack("[s, s, s, s, s, s, s]", "ip",
			    ip->family == 6 ? "-6" : "-4", "addr", "replace", a, "dev", "lo"));
		}
	}
	for (guint i = 0; ok && on_boot != NULL && i < on_boot->trees->len; i++)
		ok = gc_tree_files(s, vm, g_ptr_array_index(on_boot->trees, i), files, runcmd, d);
	for (guint i = 0; ok && on_boot != NULL && i < on_boot->cmds->len; i++) {
		const gc_cmd *c = g_ptr_array_index(on_boot->cmds, i);
		g_autofree char *script = NULL;
		json_t *jscript, *cmd;
		bool detach;

		if (!gc_cmd_script(s, vm, c, &script, &detach, d))
			continue;
		jscript = gc_str(script, d, s->file, c->ex->line, "exec command");
		if (jscript == NULL) {
			ok = false;
			break;
		}
		cmd = json_array();
		json_array_append_new(cmd, json_string("bash"));
		json_array_append_new(cmd, json_string("-c"));
		if (detach)
			json_array_append_new(cmd, json_string(
					"nohup bash -c \"$0\" </dev/null >/dev/null 2>&1 &"));
		json_array_append_new(cmd, jscript);
		json_array_append_new(runcmd, cmd);
	}
	json_object_set_new(doc, "write_files", files);
	json_object_set_new(doc, "runcmd", runcmd);
	if (ok)
		out = gc_dump(doc, "#cloud-config\n");
	json_decref(doc);
	return out;
}

/* ---- network-config ---- */

typedef struct {
	int family;
	guint8 a[16];
	int prefix;
} gc_addr;

static bool
gc_parse(int family, const char *text, gc_addr *out)
{
	out->family = family;
	return inet_pton(family == 4 ? AF_INET : AF_INET6, text, out->a) == 1;
}

static bool
gc_within(const gc_addr *net, const gc_addr *ip)
{
	int bits = net->prefix;

	if (net->family != ip->family)
		return false;
	for (int i = 0; bits > 0; i++, bits -= 8) {
		guint8 m = bits >= 8 ? 0xff : (guint8)(0xff << (8 - bits));

		if ((net->a[i] & m) != (ip->a[i] & m))
			return false;
	}
	return true;
}

typedef struct {
	json_t *eth;		/* borrowed from the document */
	GArray *addrs;		/* of gc_addr */
} gc_iface;

static void
gc_iface_clear(gpointer p)
{
	gc_iface *i = p;

	g_array_unref(i->addrs);
}

static json_t *
gc_eth(const char *mac, int id, int mtu)
{
	json_t *eth = json_object(), *match = json_object();
	g_autofree char *name = g_strdup_printf("eth%d", id);
	g_autofree char *lmac = g_ascii_strdown(mac, -1);

	json_object_set_new(match, "macaddress", json_string(lmac));
	json_object_set_new(eth, "match", match);
	json_object_set_new(eth, "set-name", json_string(name));
	if (mtu > 0)
		json_object_set_new(eth, "mtu", json_integer(mtu));
	return eth;
}

char *
guestcfg_ci_network_config(const scenario *s, const sc_vm *vm, const gc_net *net, diag *d)
{
	json_t *doc = json_object(), *eths = json_object();
	g_autoptr(GArray) ifaces = g_array_new(FALSE, TRUE, sizeof(gc_iface));
	bool ok = true;
	char *out = NULL;

	g_array_set_clear_func(ifaces, gc_iface_clear);
	json_object_set_new(doc, "version", json_integer(2));
	json_object_set_new(doc, "ethernets", eths);
	if (net != NULL && net->mgmt_mac != NULL) {
		gc_iface mi = { gc_eth(net->mgmt_mac, 0, net->mtu), g_array_new(FALSE, TRUE, sizeof(gc_addr)) };
		json_t *addrs = json_array();

		if (net->mgmt_addr != NULL) {
			g_autofree char *a = g_strdup(net->mgmt_addr);
			char *slash = strchr(a, '/');
			gc_addr ga;

			if (slash != NULL)
				*slash = '\0';
			ga.prefix = slash != NULL ? atoi(slash + 1) : 24;
			if (!gc_parse(4, a, &ga) || ga.prefix < 0 || ga.prefix > 32) {
				diag_error(d, s->file, vm->line, "vm '%s': bad management address '%s'",
						vm->name, net->mgmt_addr);
				ok = false;
			} else {
				g_autofree char *cidr = g_strdup_printf("%s/%d", a, ga.prefix);

				json_array_append_new(addrs, json_string(cidr));
				g_array_append_val(mi.addrs, ga);
			}
		}
		json_object_set_new(mi.eth, "addresses", addrs);
		json_object_set_new(mi.eth, "dhcp4", json_boolean(net->mgmt_addr == NULL));
		json_object_set_new(mi.eth, "dhcp6", json_false());
		json_object_set_new(eths, "eth0", mi.eth);
		g_array_append_val(ifaces, mi);
	}
	for (guint i = 0; vm->ifs != NULL && i < vm->ifs->len; i++) {
		const sc_if *f = g_ptr_array_index(vm->ifs, i);
		const char *mac = net != NULL && net->macs != NULL && i < net->macs->len ?
			g_ptr_array_index(net->macs, i) : NULL;
		g_autofree char *name = g_strdup_printf("eth%d", f->id);
		gc_iface gi;
		json_t *addrs;
		bool dhcp4 = false, dhcp6 = false;

		if (f->id == 0 && net != NULL && net->mgmt_mac != NULL)
			continue;	/* as VNX: id 0 is the management interface */
		if (mac == NULL) {
			diag_error(d, s->file, f->line, "vm '%s': no MAC address planned for "
					"interface %d", vm->name, f->id);
			ok = false;
			continue;
		}
		gi.eth = gc_eth(mac, f->id, net->mtu);
		gi.addrs = g_array_new(FALSE, TRUE, sizeof(gc_addr));
		addrs = json_array();
		for (guint k = 0; f->ips != NULL && k < f->ips->len; k++) {
			const sc_ip *ip = g_ptr_array_index(f->ips, k);
			gc_addr ga;
			g_autofree char *cidr = NULL;

			if (ip->dhcp) {
				if (ip->family == 4)
					dhcp4 = true;
				else
					dhcp6 = true;
				continue;
			}
			ga.prefix = ip->prefix >= 0 ? ip->prefix : (ip->family == 4 ? 24 : 64);
			if (ip->addr == NULL || !gc_parse(ip->family, ip->addr, &ga)) {
				diag_error(d, s->file, ip->line, "vm '%s': interface %d: bad IPv%d address "
						"'%s'", vm->name, f->id, ip->family,
						ip->addr != NULL ? ip->addr : "");
				ok = false;
				continue;
			}
			cidr = g_strdup_printf("%s/%d", ip->addr, ga.prefix);
			json_array_append_new(addrs, json_string(cidr));
			g_array_append_val(gi.addrs, ga);
		}
		json_object_set_new(gi.eth, "addresses", addrs);
		json_object_set_new(gi.eth, "dhcp4", json_boolean(dhcp4));
		json_object_set_new(gi.eth, "dhcp6", json_boolean(dhcp6));
		if (f->dns != NULL && f->dns->len > 0) {
			json_t *ns = json_object(), *list = json_array();

			for (guint k = 0; k < f->dns->len; k++)
				json_array_append_new(list, json_string(g_ptr_array_index(f->dns, k)));
			json_object_set_new(ns, "addresses", list);
			json_object_set_new(gi.eth, "nameservers", ns);
		}
		json_object_set_new(eths, name, gi.eth);
		g_array_append_val(ifaces, gi);
	}
	/* routes: on the interface whose subnet holds the gateway, as vnxaced places them */
	for (guint r = 0; ok && vm->routes != NULL && r < vm->routes->len; r++) {
		const sc_route *rt = g_ptr_array_index(vm->routes, r);
		gc_addr gw;
		json_t *eth = NULL;

		if (rt->gw == NULL || !gc_parse(rt->family, rt->gw, &gw)) {
			diag_error(d, s->file, rt->line, "vm '%s': route gateway '%s' is not an IPv%d "
					"address", vm->name, rt->gw != NULL ? rt->gw : "", rt->family);
			ok = false;
			break;
		}
		for (guint i = 0; eth == NULL && i < ifaces->len; i++) {
			const gc_iface *gi = &g_array_index(ifaces, gc_iface, i);

			for (guint k = 0; k < gi->addrs->len; k++)
				if (gc_within(&g_array_index(gi->addrs, gc_addr, k), &gw)) {
					eth = gi->eth;
					break;
				}
		}
		if (eth == NULL) {
			diag_warn(d, s->file, rt->line, "vm '%s': route to '%s': gateway '%s' is on no "
					"interface's subnet, left out (as vnxaced does)", vm->name, rt->dest,
					rt->gw);
			continue;
		}
		json_t *routes = json_object_get(eth, "routes");
		json_t *e = json_object();
		const char *to = strcmp(rt->dest, "default") == 0 ?
			(rt->family == 4 ? "0.0.0.0/0" : "::/0") : rt->dest;

		if (routes == NULL) {
			routes = json_array();
			json_object_set_new(eth, "routes", routes);
		}
		json_object_set_new(e, "to", json_string(to));
		json_object_set_new(e, "via", json_string(rt->gw));
		json_array_append_new(routes, e);
	}
	if (ok)
		out = gc_dump(doc, NULL);
	json_decref(doc);
	return out;
}

/* ---- the steps of an exec of a seq ---- */

json_t *
guestcfg_exec_steps(const scenario *s, const sc_vm *vm, const gc_seq *q, gsize *bytes, diag *d)
{
	json_t *steps = json_array();
	gsize total = 0;

	for (guint i = 0; i < q->trees->len; i++) {
		const gc_tree *t = g_ptr_array_index(q->trees, i);
		json_t *files = json_array(), *runcmd = json_array(), *step;

		if (!gc_tree_files(s, vm, t, files, runcmd, d)) {
			json_decref(files);
			json_decref(runcmd);
			json_decref(steps);
			return NULL;
		}
		for (guint k = 0; k < t->files->len; k++)
			total += g_bytes_get_size(((gc_file *)g_ptr_array_index(t->files, k))->data);
		step = json_pack("{s:s, s:o, s:o}", "filetree", t->ft->root, "write_files", files,
				"runcmd", runcmd);
		json_array_append_new(steps, step);
	}
	for (guint i = 0; i < q->cmds->len; i++) {
		const gc_cmd *c = g_ptr_array_index(q->cmds, i);
		g_autofree char *script = NULL;
		json_t *jscript;
		bool detach;

		if (!gc_cmd_script(s, vm, c, &script, &detach, d))
			continue;
		jscript = gc_str(script, d, s->file, c->ex->line, "exec command");
		if (jscript == NULL) {
			json_decref(steps);
			return NULL;
		}
		total += strlen(script);
		json_array_append_new(steps, json_pack("{s:o, s:b}", "cmd", jscript, "detach",
				detach));
	}
	if (bytes != NULL)
		*bytes = total;
	return steps;
}
