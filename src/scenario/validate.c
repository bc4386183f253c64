/* validate: check a parsed scenario and its restrictions; every problem becomes one
 * file:line diagnostic, nothing stops at the first */
#include "scenario/scenario.h"

#include <arpa/inet.h>
#include <netinet/ether.h>
#include <stdarg.h>
#include <string.h>

typedef struct {
	diag *d;
	const char *file;
	int errors;
} val_ctx;

static void G_GNUC_PRINTF(3, 4)
val_err(val_ctx *c, int line, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	diag_error(c->d, c->file, line, "%s", msg);
	c->errors++;
}

static void G_GNUC_PRINTF(3, 4)
val_warn(val_ctx *c, int line, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	diag_warn(c->d, c->file, line, "%s", msg);
}

/* ---- addresses (libc parses them) ---- */

typedef struct {
	int family;		/* 4 or 6 */
	unsigned char b[16];
	int prefix;
} val_net;

static bool
val_addr(int family, const char *text, unsigned char out[16])
{
	memset(out, 0, 16);
	if (text == NULL)
		return false;
	return inet_pton(family == 4 ? AF_INET : AF_INET6, text, out) == 1;
}

/* val_in_subnet: a and b agree on their first prefix bits */
static bool
val_in_subnet(const unsigned char *a, const unsigned char *b, int prefix)
{
	int full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static char *
val_canon(int family, const unsigned char *b)
{
	char buf[INET6_ADDRSTRLEN];

	inet_ntop(family == 4 ? AF_INET : AF_INET6, b, buf, sizeof(buf));
	return g_strdup(buf);
}

/* val_ips: check the addresses of one interface; remember them in seen ("segment address"
 * -> "owner (line N)": an address must be unique on its L2 segment, as the same address
 * on two isolated nets is legal) and the subnets in nets (of val_net, may be NULL) for the
 * route checks. segment names the L2 segment: the net, or for a VM's loopback and
 * unconnected interfaces something private to the VM. Sets dhcp4 or dhcp6 when a dhcp
 * address of that family is present. */
static void
val_ips(val_ctx *c, const sc_if *f, const char *owner, const char *segment, GHashTable *seen,
		GArray *nets, bool *dhcp4, bool *dhcp6)
{
	for (guint i = 0; i < f->ips->len; i++) {
		const sc_ip *ip = g_ptr_array_index(f->ips, i);
		val_net n = { .family = ip->family };
		g_autofree char *key = NULL;
		const char *prev;

		if (ip->dhcp) {
			if (ip->family == 4)
				*dhcp4 = true;
			else
				*dhcp6 = true;
			continue;
		}
		if (!val_addr(ip->family, ip->addr, n.b)) {
			val_err(c, ip->line, "%s: '%s' is not an IPv%d address", owner,
					ip->addr != NULL ? ip->addr : "", ip->family);
			continue;
		}
		if (ip->prefix > (ip->family == 4 ? 32 : 128) || ip->prefix < -1) {
			val_err(c, ip->line, "%s: prefix /%d is out of range for IPv%d", owner,
					ip->prefix, ip->family);
			continue;
		}
		/* VNX's default mask is 255.255.255.0; for IPv6 a /64 is assumed */
		n.prefix = ip->prefix >= 0 ? ip->prefix : (ip->family == 4 ? 24 : 64);
		if (nets != NULL)
			g_array_append_val(nets, n);
		{
			g_autofree char *canon = val_canon(ip->family, n.b);

			key = g_strconcat(segment, " ", canon, NULL);
		}
		prev = g_hash_table_lookup(seen, key);
		if (prev != NULL) {
			val_err(c, ip->line, "%s: address %s is already used on %s by %s", owner,
			    strrchr(key, ' ') + 1, segment, prev);
		} else {
			g_hash_table_insert(seen, g_steal_pointer(&key),
					g_strdup_printf("%s (line %d)", owner, ip->line));
		}
	}
}

/* val_route: destination syntax and gateway on one of the owner's subnets */
static void
val_route(val_ctx *c, const sc_route *r, const char *owner, const GArray *nets, bool dhcp)
{
	unsigned char gw[16], dst[16];
	bool on_subnet = false;

	if (r->dest == NULL || strcmp(r->dest, "default") != 0) {
		g_autofree char *d = g_strdup(r->dest != NULL ? r->dest : "");
		char *slash = strchr(d, '/');
		gint64 len = -1;
		bool ok;

		if (slash != NULL)
			*slash = '\0';
		ok = slash != NULL && val_addr(r->family, d, dst) &&
			g_ascii_string_to_signed(slash + 1, 10, 0, r->family == 4 ? 32 : 128, &len,
					NULL);
		if (!ok)
			val_err(c, r->line, "%s: route destination '%s' is not 'default' or an IPv%d "
					"prefix like %s", owner, r->dest != NULL ? r->dest : "", r->family,
					r->family == 4 ? "10.1.0.0/16" : "2001:db8::/32");
	}
	if (!val_addr(r->family, r->gw, gw)) {
		val_err(c, r->line, "%s: route gateway '%s' is not an IPv%d address", owner,
				r->gw != NULL ? r->gw : "", r->family);
		return;
	}
	if (dhcp)
		return;		/* the subnet is only known at run time */
	for (guint i = 0; i < nets->len && !on_subnet; i++) {
		const val_net *n = &g_array_index(nets, val_net, i);

		on_subnet = n->family == r->family && val_in_subnet(n->b, gw, n->prefix);
	}
	if (!on_subnet)
		val_err(c, r->line, "%s: route gateway %s is not on any subnet of its interfaces",
				owner, r->gw);
}

/* ---- cmd-seq ---- */

enum { WHITE = 0, GREY, BLACK };

typedef struct {
	int color;
	guint next;		/* next member to visit */
	guint64 size;		/* seqs it expands to, saturating */
	int depth;		/* nesting levels, 1 for a cmd-seq of plain seqs */
} val_seqnode;

/* val_cmdseqs: unknown members (warnings), cycles, and expansion beyond the limits, with an
 * iterative depth-first walk (no recursion: a hostile file may chain many cmd-seqs). */
static void
val_cmdseqs(val_ctx *c, const scenario *s, GHashTable *seqs)
{
	guint n = s->cmdseqs->len;
	g_autoptr(GHashTable) byname = g_hash_table_new(g_str_hash, g_str_equal);
	g_autofree val_seqnode *nodes = g_new0(val_seqnode, n + 1);
	g_autoptr(GArray) stack = g_array_new(FALSE, FALSE, sizeof(guint));

	for (guint i = 0; i < n; i++) {
		const sc_cmdseq *cs = g_ptr_array_index(s->cmdseqs, i);

		if (!g_hash_table_contains(byname, cs->seq))
			g_hash_table_insert(byname, cs->seq, GUINT_TO_POINTER(i + 1));
	}
	for (guint i = 0; i < n; i++) {
		const sc_cmdseq *cs = g_ptr_array_index(s->cmdseqs, i);

		for (guint k = 0; k < cs->members->len; k++) {
			const char *m = g_ptr_array_index(cs->members, k);

			/* VNX runs a seq nobody defines as a no-op: worth a warning, not a refusal
			 * (VNX's own multi_server.xml names stop-dhcp that no VM defines) */
			if (!g_hash_table_contains(byname, m) && !g_hash_table_contains(seqs, m))
				val_warn(c, cs->line, "cmd-seq '%s': '%s' is neither an exec/filetree "
						"seq nor a cmd-seq", cs->seq, m);
		}
	}
	for (guint root = 0; root < n; root++) {
		if (nodes[root].color != WHITE ||
				GPOINTER_TO_UINT(g_hash_table_lookup(byname,
				((sc_cmdseq *)g_ptr_array_index(s->cmdseqs, root))->seq)) != root + 1)
			continue;
		nodes[root].color = GREY;
		g_array_append_val(stack, root);
		while (stack->len > 0) {
			guint top = g_array_index(stack, guint, stack->len - 1);
			const sc_cmdseq *cs = g_ptr_array_index(s->cmdseqs, top);
			val_seqnode *t = &nodes[top];
			bool over;

			if (t->next < cs->members->len) {
				const char *m = g_ptr_array_index(cs->members, t->next++);
				guint mi = GPOINTER_TO_UINT(g_hash_table_lookup(byname, m));

				if (mi == 0)
					continue;
				mi--;
				if (nodes[mi].color == GREY) {
					GString *cyc = g_string_new(NULL);
					guint start = 0;

					for (guint k = 0; k < stack->len; k++)
						if (g_array_index(stack, guint, k) == mi)
							start = k;
					for (guint k = start; k < stack->len; k++)
						g_string_append_printf(cyc, "%s -> ", ((sc_cmdseq *)
								g_ptr_array_index(s->cmdseqs,
								g_array_index(stack, guint, k)))->seq);
					g_string_append(cyc, m);
					val_err(c, cs->line, "cmd-seq cycle: %s", cyc->str);
					g_string_free(cyc, TRUE);
				} else if (nodes[mi].color == WHITE) {
					nodes[mi].color = GREY;
					g_array_append_val(stack, mi);
				}
				continue;
			}
			/* all members done: size and depth from them; only the cmd-seq that
			 * crosses a limit is reported, not every one above it */
			t->depth = 1;
			t->size = 0;
			over = false;
			for (guint k = 0; k < cs->members->len; k++) {
				guint mi = GPOINTER_TO_UINT(g_hash_table_lookup(byname,
						g_ptr_array_index(cs->members, k)));
				const val_seqnode *mn = mi > 0 ? &nodes[mi - 1] : NULL;

				if (mn == NULL) {
					t->size++;
				} else if (mn->color == BLACK) {
					t->size += mn->size;
					t->depth = MAX(t->depth, mn->depth + 1);
					over = over || mn->depth > SC_SEQ_MAX_DEPTH ||
						mn->size > SC_SEQ_MAX_EXPANSION;
				}
				t->size = MIN(t->size, (guint64)SC_SEQ_MAX_EXPANSION + 1);
				t->depth = MIN(t->depth, SC_SEQ_MAX_DEPTH + 1);
			}
			if (!over && t->depth > SC_SEQ_MAX_DEPTH)
				val_err(c, cs->line, "cmd-seq '%s' nests more than %d levels deep",
						cs->seq, SC_SEQ_MAX_DEPTH);
			else if (!over && t->size > SC_SEQ_MAX_EXPANSION)
				val_err(c, cs->line, "cmd-seq '%s' expands to more than %d seqs", cs->seq,
						SC_SEQ_MAX_EXPANSION);
			t->color = BLACK;
			g_array_set_size(stack, stack->len - 1);
		}
	}
}

/* ---- scenario ---- */

static void
val_if_common(val_ctx *c, const scenario *s, const sc_if *f, const char *owner, GHashTable *macs)
{
	if (f->net == NULL || scenario_net_index(s, f->net) < 0)
		val_err(c, f->line, "%s: interface %d is on unknown net '%s'", owner, f->id,
				f->net != NULL ? f->net : "");
	if (f->mac != NULL) {
		struct ether_addr ea;

		if (ether_aton_r(f->mac, &ea) == NULL) {
			val_err(c, f->line, "%s: '%s' is not a MAC address", owner, f->mac);
		} else {
			char buf[18];
			const char *prev;

			ether_ntoa_r(&ea, buf);
			prev = g_hash_table_lookup(macs, buf);
			if (prev != NULL)
				val_err(c, f->line, "%s: MAC %s is already used by %s", owner, f->mac, prev);
			else
				g_hash_table_insert(macs, g_strdup(buf),
						g_strdup_printf("%s (line %d)", owner, f->line));
		}
	}
}

/* val_if_id: one interface id per VM (in the id space ids) */
static void
val_if_id(val_ctx *c, GHashTable *ids, const sc_if *f, const char *owner)
{
	gpointer first = g_hash_table_lookup(ids, GINT_TO_POINTER(f->id + 1));

	if (first != NULL)
		val_err(c, f->line, "%s: duplicate interface id %d (first at line %d)", owner, f->id,
		    GPOINTER_TO_INT(first));
	else
		g_hash_table_insert(ids, GINT_TO_POINTER(f->id + 1), GINT_TO_POINTER(f->line));
}

/* val_windows_root: root is a Windows path (c:\temp) and v a Windows VM (VNX copies there) */
static bool
val_windows_root(const sc_vm *v, const char *root)
{
	return v->os != NULL && g_ascii_strncasecmp(v->os, "win", 3) == 0 &&
	    g_ascii_isalpha(root[0]) && root[1] == ':' && (root[2] == '\\' || root[2] == '/');
}

bool
scenario_validate(const scenario *s, diag *d)
{
	val_ctx c = { d, NULL, 0 };
	g_autoptr(GHashTable) names = NULL, addrs = NULL, macs = NULL, seqs = NULL;
	g_autoptr(GArray) hostnets = NULL;
	bool dhcp4 = false, dhcp6 = false;
	const char *why;

	if (s == NULL)
		return false;
	c.file = s->file;
	names = g_hash_table_new(g_str_hash, g_str_equal);
	addrs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	macs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	seqs = g_hash_table_new(g_str_hash, g_str_equal);

	if (s->name == NULL || s->name[0] == '\0')
		val_err(&c, s->name_line, "missing scenario_name in <global>");
	else if ((why = sc_name_check(s->name)) != NULL)
		val_err(&c, s->name_line, "scenario_name '%s' %s", s->name, why);
	/* VNX's CheckSemantics has no rule here (VNX then makes just the nets), but nube puts
	 * nets only where VMs go: a scenario without VMs would deploy nothing at all */
	if (s->vms->len == 0)
		val_err(&c, s->name_line, "scenario '%s' has no vm: nothing to deploy",
		    s->name != NULL ? s->name : "");

	/* a "direct" filesystem is the VM's own disk: one VM writes it */
	{
		g_autoptr(GHashTable) direct = g_hash_table_new(g_str_hash, g_str_equal);

		for (guint i = 0; i < s->vms->len; i++) {
			const sc_vm *vm = g_ptr_array_index(s->vms, i);
			const sc_vm *prev;

			if (vm->filesystem == NULL || vm->fs_type == NULL ||
			    g_ascii_strcasecmp(vm->fs_type, "direct") != 0)
				continue;
			prev = g_hash_table_lookup(direct, vm->filesystem);
			if (prev != NULL)
				val_err(&c, vm->line, "vm '%s': filesystem '%s' (type \"direct\") is vm "
				    "'%s''s too; a direct image has one user (use type=\"cow\" to share "
				    "it)", vm->name, vm->filesystem, prev->name);
			else
				g_hash_table_insert(direct, vm->filesystem, (gpointer)vm);
		}
	}

	/* nets */
	for (guint i = 0; i < s->nets->len; i++) {
		const sc_net *n = g_ptr_array_index(s->nets, i);
		const sc_net *prev = g_hash_table_lookup(names, n->name);

		if (n->name[0] == '\0')
			val_err(&c, n->line, "net with an empty name");
		else if (strcmp(n->name, SC_NET_LO) == 0 || strcmp(n->name, SC_NET_UNCONNECTED) == 0)
			val_err(&c, n->line, "net name '%s' is reserved by VNX (<if net=\"%s\"> needs "
			    "no <net>)", n->name, n->name);
		else if ((why = sc_name_check(n->name)) != NULL)
			val_err(&c, n->line, "net name '%s' %s", n->name, why);
		else if (prev != NULL)
			val_err(&c, n->line, "duplicate net name '%s' (first at line %d)", n->name,
					prev->line);
		else
			g_hash_table_insert(names, n->name, (gpointer)n);
		if (n->vlan < -1 || n->vlan > 4094)
			val_err(&c, n->line, "net '%s': vlan %d is out of range 0..4094", n->name, n->vlan);
		else if (n->vlan >= 0)
			val_warn(&c, n->line, "net '%s': vlan %d is ignored (the net is its own bridge "
			    "and VXLAN segment)", n->name, n->vlan);
		if (n->mode == SC_NET_OPENVSWITCH)
			val_warn(&c, n->line, "net '%s': mode openvswitch runs as a Linux bridge (no Open "
			    "vSwitch: per-port VLAN tags and trunks, <connection> and an SDN "
			    "controller are not available)", n->name);
		else if (n->mode == SC_NET_UML_SWITCH)
			val_warn(&c, n->line, "net '%s': mode uml_switch runs as a Linux bridge (a "
			    "uml_switch's sock, hub and capture attributes are ignored)", n->name);
		else if (n->mode == SC_NET_VETH)
			val_warn(&c, n->line, "net '%s': mode veth runs as a Linux bridge with two ports, "
			    "not a veth pair (same link, one more hop: the bridge forwards every frame)",
			    n->name);
		if (n->p2p) {
			/* VNX (CheckSemantics 8g): a p2p net joins exactly two interfaces */
			guint users = 0;

			for (guint k = 0; k < s->vms->len; k++) {
				const sc_vm *v = g_ptr_array_index(s->vms, k);

				for (guint f = 0; f < v->ifs->len; f++)
					if (strcmp(((const sc_if *)g_ptr_array_index(v->ifs, f))->net,
					    n->name) == 0)
						users++;
			}
			for (guint f = 0; f < s->host_ifs->len; f++)
				if (strcmp(((const sc_if *)g_ptr_array_index(s->host_ifs, f))->net,
				    n->name) == 0)
					users++;
			if (users != 2)
				val_err(&c, n->line, "net '%s': a p2p net joins exactly two interfaces, "
				    "not %u", n->name, users);
		}
		if (n->external != NULL)
			val_warn(&c, n->line, "net '%s': external interface '%s' is not attached",
			    n->name, n->external);
	}
	g_hash_table_remove_all(names);

	/* management */
	if (s->mgmt.type != SC_MGMT_NONE) {
		unsigned char b[16];

		if (!val_addr(4, s->mgmt.network, b))
			val_err(&c, s->mgmt.line, "vm_mgmt network '%s' is not an IPv4 address",
					s->mgmt.network != NULL ? s->mgmt.network : "");
		if (s->mgmt.mask < 1 || s->mgmt.mask > 30)
			val_err(&c, s->mgmt.line, "vm_mgmt mask %d is out of range 1..30", s->mgmt.mask);
		if (s->mgmt.offset < 0)
			val_err(&c, s->mgmt.line, "vm_mgmt offset %d is negative", s->mgmt.offset);
		/* VNX: a <mgmt_net> need not be a scenario <net>: with managed="no" it is a bridge
		 * that exists on the host (virbr0), otherwise VNX makes it */
		if (s->mgmt.type == SC_MGMT_NET && s->mgmt.net == NULL)
			val_err(&c, s->mgmt.line, "vm_mgmt type 'net' names no net");
		else if (s->mgmt.type == SC_MGMT_NET && (why = sc_name_check(s->mgmt.net)) != NULL)
			val_err(&c, s->mgmt.line, "vm_mgmt net '%s' %s", s->mgmt.net, why);
	}

	/* VMs */
	for (guint i = 0; i < s->vms->len; i++) {
		const sc_vm *v = g_ptr_array_index(s->vms, i);
		const sc_vm *prev = g_hash_table_lookup(names, v->name);
		g_autoptr(GHashTable) ids = g_hash_table_new(g_direct_hash, g_direct_equal);
		g_autoptr(GHashTable) lo_ids = g_hash_table_new(g_direct_hash, g_direct_equal);
		g_autoptr(GArray) nets = g_array_new(FALSE, FALSE, sizeof(val_net));
		g_autofree char *owner = g_strdup_printf("vm '%s'", v->name);
		bool vd4 = false, vd6 = false;

		if (v->name[0] == '\0')
			val_err(&c, v->line, "vm with an empty name");
		else if ((why = sc_name_check(v->name)) != NULL)
			val_err(&c, v->line, "vm name '%s' %s", v->name, why);
		else if (prev != NULL)
			val_err(&c, v->line, "duplicate vm name '%s' (first at line %d)", v->name,
					prev->line);
		else
			g_hash_table_insert(names, v->name, (gpointer)v);
		if (v->mem_mib < SC_MEM_MIN_MIB || v->mem_mib > SC_MEM_MAX_MIB)
			val_err(&c, v->mem_line, "%s: memory %" G_GUINT64_FORMAT " MiB is out of range "
					"%d..%d MiB", owner, v->mem_mib, SC_MEM_MIN_MIB, SC_MEM_MAX_MIB);
		if (v->vcpu < 1 || v->vcpu > SC_VCPU_MAX)
			val_err(&c, v->line, "%s: vcpu %d is out of range 1..%d", owner, v->vcpu,
					SC_VCPU_MAX);
		for (guint k = 0; k < v->ifs->len; k++) {
			const sc_if *f = g_ptr_array_index(v->ifs, k);
			g_autofree char *seg = g_strdup_printf("net '%s'", f->net);

			val_if_id(&c, ids, f, owner);
			if (f->id == 0 && s->mgmt.type != SC_MGMT_NONE)
				val_err(&c, f->line, "%s: interface id 0 is reserved for the management "
						"interface (vm_mgmt type is not none)", owner);
			val_if_common(&c, s, f, owner, macs);
			val_ips(&c, f, owner, seg, addrs, nets, &vd4, &vd6);
		}
		/* VNX's reserved nets: lo has its own id space (CheckSemantics 9c) and no <mac>
		 * (9e); vm_mgmt and unconnected share the ids of the other interfaces */
		for (guint k = 0; k < v->reserved_ifs->len; k++) {
			const sc_if *f = g_ptr_array_index(v->reserved_ifs, k);
			bool lo = strcmp(f->net, SC_NET_LO) == 0;
			g_autofree char *seg = strcmp(f->net, SC_NET_VM_MGMT) == 0 ?
			    g_strdup("the management net") : g_strdup_printf("the %s of %s",
			    lo ? "loopback" : "unconnected interfaces", owner);

			val_if_id(&c, lo ? lo_ids : ids, f, owner);
			if (lo && f->mac != NULL)
				val_err(&c, f->line, "%s: <if net=\"lo\"> cannot have a <mac>", owner);
			else if (f->mac != NULL)
				val_if_common(&c, s, f, owner, macs);
			val_ips(&c, f, owner, seg, addrs, lo ? NULL : nets, &vd4, &vd6);
		}
		for (guint k = 0; k < v->routes->len; k++) {
			const sc_route *r = g_ptr_array_index(v->routes, k);

			val_route(&c, r, owner, nets, r->family == 4 ? vd4 : vd6);
		}
		for (guint k = 0; k < v->execs->len; k++) {
			const sc_exec *e = g_ptr_array_index(v->execs, k);

			g_hash_table_add(seqs, e->seq);
			if (strcmp(e->type, "file") == 0 && e->text[0] == '\0')
				val_err(&c, e->line, "%s: exec seq '%s' of type file names no file", owner,
						e->seq);
		}
		for (guint k = 0; k < v->filetrees->len; k++) {
			const sc_filetree *f = g_ptr_array_index(v->filetrees, k);

			g_hash_table_add(seqs, f->seq);
			if (f->src == NULL || f->src[0] == '\0')
				val_err(&c, f->line, "%s: filetree seq '%s' names no source", owner, f->seq);
			if (f->root == NULL || (f->root[0] != '/' && !val_windows_root(v, f->root)))
				val_err(&c, f->line, "%s: filetree root '%s' is not an absolute path", owner,
						f->root != NULL ? f->root : "");
		}
	}

	/* host side */
	hostnets = g_array_new(FALSE, FALSE, sizeof(val_net));
	for (guint i = 0; i < s->host_ifs->len; i++) {
		const sc_if *f = g_ptr_array_index(s->host_ifs, i);
		g_autofree char *seg = g_strdup_printf("net '%s'", f->net);

		val_if_common(&c, s, f, "host", macs);
		val_ips(&c, f, "host", seg, addrs, hostnets, &dhcp4, &dhcp6);
	}
	/* seqs of <host><exec> are defined ones for cmd-seq (VNX runs them on the host) */
	for (guint i = 0; i < s->host_execs->len; i++)
		g_hash_table_add(seqs, ((const sc_exec *)g_ptr_array_index(s->host_execs, i))->seq);
	for (guint i = 0; i < s->host_routes->len; i++) {
		const sc_route *r = g_ptr_array_index(s->host_routes, i);

		val_route(&c, r, "host", hostnets, r->family == 4 ? dhcp4 : dhcp6);
	}

	val_cmdseqs(&c, s, seqs);
	scenario_warn_features(s, d);
	return c.errors == 0;
}

/* ---- restrictions ---- */

static int
val_find(int *parent, int i)
{
	while (parent[i] != i) {
		parent[i] = parent[parent[i]];
		i = parent[i];
	}
	return i;
}

static void
val_union(int *parent, int a, int b)
{
	a = val_find(parent, a);
	b = val_find(parent, b);
	if (a != b)
		parent[b] = a;
}

typedef struct {
	const char *host;	/* NULL: class not pinned */
	const char *why;	/* "vm 'a'" / "net 'N'" */
	int line;
	bool reported;
} val_pin;

static bool
val_host_known(const cluster *cl, const char *host)
{
	if (cl == NULL)
		return true;
	for (guint i = 0; i < cl->hosts->len; i++)
		if (strcmp(((cl_host *)g_ptr_array_index(cl->hosts, i))->name, host) == 0)
			return true;
	return false;
}

/* val_at: names and hosts of vm_deploy_at / net_deploy_at, and one host per name */
static void
val_at(val_ctx *c, const scenario *s, const cluster *cl, GPtrArray *ats, bool vm)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	const char *kind = vm ? "vm" : "net";

	for (guint i = 0; i < ats->len; i++) {
		const rs_at *a = g_ptr_array_index(ats, i);
		const rs_at *prev = g_hash_table_lookup(seen, a->what);
		int idx = vm ? scenario_vm_index(s, a->what) : scenario_net_index(s, a->what);

		if (idx < 0)
			val_err(c, a->line, "%s_deploy_at names unknown %s '%s'", kind, kind, a->what);
		if (sc_host_name_check(a->host) != NULL)
			val_err(c, a->line, "%s_deploy_at: host name '%s' %s", kind, a->host,
			    sc_host_name_check(a->host));
		else if (!val_host_known(cl, a->host))
			val_err(c, a->line, "%s_deploy_at names unknown host '%s'", kind, a->host);
		if (prev != NULL && strcmp(prev->host, a->host) != 0)
			val_err(c, a->line, "%s '%s' is pinned to both '%s' (line %d) and '%s'", kind,
					a->what, prev->host, prev->line, a->host);
		else if (prev == NULL)
			g_hash_table_insert(seen, a->what, (gpointer)a);
	}
}

/* val_pin_class: pin the class of VM vi to host; report a conflicting earlier pin */
static void
val_pin_class(val_ctx *c, val_pin *pins, int *parent, int vi, const char *host, const char *why,
		int line)
{
	val_pin *p = &pins[val_find(parent, vi)];

	if (p->host == NULL) {
		p->host = host;
		p->why = why;
		p->line = line;
	} else if (strcmp(p->host, host) != 0 && !p->reported) {
		val_err(c, line, "conflicting hosts: %s wants '%s' but %s (line %d) wants '%s', and "
				"affinity/net_deploy_together keeps them on one host", why, host, p->why,
				p->line, p->host);
		p->reported = true;
	}
}

bool
restrictions_validate(const restrictions *r, const scenario *s, const cluster *cl, diag *d)
{
	val_ctx c = { d, NULL, 0 };
	guint nvm;
	g_autofree int *parent = NULL;
	g_autofree val_pin *pins = NULL;
	g_autoptr(GPtrArray) whys = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GHashTable) together = g_hash_table_new(g_str_hash, g_str_equal);

	if (r == NULL || s == NULL)
		return false;
	c.file = r->file;
	nvm = s->vms->len;
	parent = g_new(int, nvm + 1);
	pins = g_new0(val_pin, nvm + 1);
	for (guint i = 0; i < nvm; i++)
		parent[i] = (int)i;

	val_at(&c, s, cl, r->vm_at, true);
	val_at(&c, s, cl, r->net_at, false);

	/* affinity: groups sharing a VM merge (union-find) */
	for (guint g = 0; g < r->affinity->len; g++) {
		const rs_group *grp = g_ptr_array_index(r->affinity, g);
		int first = -1;

		for (guint k = 0; k < grp->names->len; k++) {
			const char *n = g_ptr_array_index(grp->names, k);
			int vi = scenario_vm_index(s, n);

			if (vi < 0) {
				val_err(&c, grp->line, "affinity names unknown vm '%s'", n);
				continue;
			}
			if (first < 0)
				first = vi;
			else
				val_union(parent, first, vi);
		}
	}
	/* net_deploy_together: every VM on the net joins one class */
	for (guint g = 0; g < r->net_together->len; g++) {
		const rs_group *grp = g_ptr_array_index(r->net_together, g);

		for (guint k = 0; k < grp->names->len; k++) {
			const char *net = g_ptr_array_index(grp->names, k);
			int first = -1;

			if (scenario_net_index(s, net) < 0) {
				val_err(&c, grp->line, "net_deploy_together names unknown net '%s'", net);
				continue;
			}
			g_hash_table_add(together, (gpointer)net);
			for (guint vi = 0; vi < nvm; vi++) {
				const sc_vm *v = g_ptr_array_index(s->vms, vi);

				for (guint f = 0; f < v->ifs->len; f++) {
					if (strcmp(((sc_if *)g_ptr_array_index(v->ifs, f))->net, net) != 0)
						continue;
					if (first < 0)
						first = (int)vi;
					else
						val_union(parent, first, (int)vi);
					break;
				}
			}
		}
	}
	/* pins: vm_deploy_at, and net_deploy_at of a together net pins all its VMs */
	for (guint i = 0; i < r->vm_at->len; i++) {
		const rs_at *a = g_ptr_array_index(r->vm_at, i);
		int vi = scenario_vm_index(s, a->what);
		char *why;

		if (vi < 0)
			continue;
		why = g_strdup_printf("vm '%s'", a->what);
		g_ptr_array_add(whys, why);
		val_pin_class(&c, pins, parent, vi, a->host, why, a->line);
	}
	for (guint i = 0; i < r->net_at->len; i++) {
		const rs_at *a = g_ptr_array_index(r->net_at, i);
		char *why;

		if (!g_hash_table_contains(together, a->what))
			continue;
		why = g_strdup_printf("net '%s' (net_deploy_together)", a->what);
		g_ptr_array_add(whys, why);
		for (guint vi = 0; vi < nvm; vi++) {
			const sc_vm *v = g_ptr_array_index(s->vms, vi);

			for (guint f = 0; f < v->ifs->len; f++) {
				if (strcmp(((sc_if *)g_ptr_array_index(v->ifs, f))->net, a->what) == 0) {
					val_pin_class(&c, pins, parent, (int)vi, a->host, why, a->line);
					break;
				}
			}
		}
	}
	/* anti-affinity: not in one class, not pinned to one host */
	for (guint g = 0; g < r->antiaffinity->len; g++) {
		const rs_group *grp = g_ptr_array_index(r->antiaffinity, g);

		for (guint a = 0; a < grp->names->len; a++) {
			const char *na = g_ptr_array_index(grp->names, a);
			int va = scenario_vm_index(s, na);

			if (va < 0) {
				val_err(&c, grp->line, "antiaffinity names unknown vm '%s'", na);
				continue;
			}
			for (guint b = a + 1; b < grp->names->len; b++) {
				const char *nb = g_ptr_array_index(grp->names, b);
				int vb = scenario_vm_index(s, nb);
				const val_pin *pa, *pb;

				if (vb < 0)
					continue;
				if (va == vb) {
					val_err(&c, grp->line, "vm '%s' appears twice in one antiaffinity", na);
					continue;
				}
				if (val_find(parent, va) == val_find(parent, vb)) {
					val_err(&c, grp->line, "vms '%s' and '%s' must be apart (antiaffinity) "
							"and together (affinity/net_deploy_together)", na, nb);
					continue;
				}
				pa = &pins[val_find(parent, va)];
				pb = &pins[val_find(parent, vb)];
				if (pa->host != NULL && pb->host != NULL && strcmp(pa->host, pb->host) == 0)
					val_err(&c, grp->line, "anti-affine vms '%s' and '%s' are both pinned "
							"to host '%s' (lines %d and %d)", na, nb, pa->host,
							pa->line, pb->line);
			}
		}
	}
	return c.errors == 0;
}
