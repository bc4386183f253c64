/* alloc: VXLAN VNIs, MAC addresses and management addresses for a plan (pure, deterministic) */
#include "plan/alloc.h"

#include <stdio.h>
#include <string.h>

/*
 * Choices, so that equal input gives equal allocations and two scenarios rarely race for
 * the same values:
 * - VNI: start at vni_min + FNV-1a(scenario name, net name) mod range size, probe upwards
 *   (wrapping) to the first VNI neither in used_vnis nor given to another net of this plan.
 * - automac: a 32-bit value FNV-1a(scenario name) + ((offset + VM index + 1) << 8) + if id
 *   written as 02:fd:v3:v2:v1:v0 (locally administered, VNX's 02:fd prefix); on a collision
 *   with used_macs or a MAC of this plan (explicit ones included) the value is bumped by one.
 * - management address: VM k (in file order) gets the k-th free host address of
 *   network/mask counting from network + offset + 1, skipping the network and broadcast
 *   addresses and used_addrs; both "private" and "net" use this scheme, prefix = mask.
 */

#define VNI_LIMIT 16777215u

static uint32_t
fnv1a(uint32_t h, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

#define FNV_BASIS 2166136261u

static int
alloc_vnis(plan *p, const scenario *s, const alloc_ctx *ctx, diag *d)
{
	g_autoptr(GHashTable) mine = g_hash_table_new(g_direct_hash, g_direct_equal);
	uint32_t lo = ctx->vni_min, hi = ctx->vni_max;
	uint64_t range;
	guint used = ctx->used_vnis != NULL ? g_hash_table_size(ctx->used_vnis) : 0;

	if (lo == 0 || hi > VNI_LIMIT || lo > hi) {
		diag_error(d, NULL, 0, "alloc: VNI range %u..%u is not within 1..%u", lo, hi,
		    VNI_LIMIT);
		return -1;
	}
	range = (uint64_t)hi - lo + 1;
	for (int j = 0; j < p->nnets; j++) {
		const sc_net *net = g_ptr_array_index(s->nets, j);
		uint32_t h, vni;
		uint64_t tries;

		p->net_vni[j] = 0;
		if (p->net_hosts[j] == NULL || p->net_hosts[j]->len < 2)
			continue;
		h = fnv1a(fnv1a(FNV_BASIS, s->name), "\x1f");
		h = fnv1a(h, net->name);
		vni = lo + (uint32_t)(h % range);
		for (tries = 0; tries < range; tries++) {
			gpointer key = GUINT_TO_POINTER(vni);

			if ((ctx->used_vnis == NULL || !g_hash_table_contains(ctx->used_vnis, key)) &&
			    !g_hash_table_contains(mine, key))
				break;
			vni = vni == hi ? lo : vni + 1;
		}
		if (tries >= range) {
			diag_error(d, s->file, net->line, "alloc: no free VNI in %u..%u for net '%s' "
			    "(%u in use by other scenarios, %u by this one)", lo, hi, net->name, used,
			    g_hash_table_size(mine));
			return -1;
		}
		p->net_vni[j] = vni;
		g_hash_table_add(mine, GUINT_TO_POINTER(vni));
	}
	return 0;
}

static bool
mac_parse(const char *text, char out[18])
{
	unsigned b[6];
	char tail;

	if (text == NULL || sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
	    &b[4], &b[5], &tail) != 6)
		return false;
	g_snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
	return true;
}

static bool
mac_taken(const alloc_ctx *ctx, GHashTable *mine, const char *mac)
{
	return (ctx->used_macs != NULL && g_hash_table_contains(ctx->used_macs, mac)) ||
	    g_hash_table_contains(mine, mac);
}

static void
ptr_array_unref0(gpointer a)
{
	if (a != NULL)
		g_ptr_array_unref(a);
}

static int
alloc_macs(plan *p, const scenario *s, const alloc_ctx *ctx, diag *d)
{
	g_autoptr(GHashTable) mine = g_hash_table_new(g_str_hash, g_str_equal);
	uint32_t base = fnv1a(FNV_BASIS, s->name);

	if (p->vm_macs != NULL)
		g_ptr_array_unref(p->vm_macs);
	p->vm_macs = g_ptr_array_new_full(p->nvms, ptr_array_unref0);

	/* explicit MACs first: automatic ones must step around all of them */
	for (int i = 0; i < p->nvms; i++) {
		const sc_vm *vm = g_ptr_array_index(s->vms, i);
		GPtrArray *macs = g_ptr_array_new_full(vm->ifs ? vm->ifs->len : 0, g_free);

		g_ptr_array_add(p->vm_macs, macs);
		for (guint k = 0; vm->ifs != NULL && k < vm->ifs->len; k++) {
			const sc_if *ifc = g_ptr_array_index(vm->ifs, k);
			char mac[18];

			if (ifc->mac == NULL) {
				g_ptr_array_add(macs, NULL);
				continue;
			}
			if (!mac_parse(ifc->mac, mac)) {
				diag_error(d, s->file, ifc->line, "alloc: VM '%s' interface %d: '%s' is "
				    "not a MAC address", vm->name, ifc->id, ifc->mac);
				return -1;
			}
			if (mac_taken(ctx, mine, mac))
				diag_warn(d, s->file, ifc->line, "alloc: VM '%s' interface %d: MAC %s is "
				    "already in use", vm->name, ifc->id, mac);
			g_ptr_array_add(macs, g_strdup(mac));
			g_hash_table_add(mine, g_ptr_array_index(macs, k));
		}
	}
	if (!s->automac)
		return 0;
	for (int i = 0; i < p->nvms; i++) {
		const sc_vm *vm = g_ptr_array_index(s->vms, i);
		GPtrArray *macs = g_ptr_array_index(p->vm_macs, i);

		for (guint k = 0; vm->ifs != NULL && k < vm->ifs->len; k++) {
			const sc_if *ifc = g_ptr_array_index(vm->ifs, k);
			uint32_t v = base + ((uint32_t)(s->automac_offset + i + 1) << 8) + (uint32_t)ifc->id;
			char mac[18];
			uint64_t tries = 0;

			if (g_ptr_array_index(macs, k) != NULL)
				continue;
			for (;;) {
				g_snprintf(mac, sizeof mac, "02:fd:%02x:%02x:%02x:%02x", v >> 24,
				    (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
				if (!mac_taken(ctx, mine, mac))
					break;
				if (++tries > UINT32_MAX) {
					diag_error(d, s->file, ifc->line, "alloc: no free MAC address");
					return -1;
				}
				v++;
			}
			g_ptr_array_index(macs, k) = g_strdup(mac);
			g_hash_table_add(mine, g_ptr_array_index(macs, k));
		}
	}
	return 0;
}

static bool
ipv4_parse(const char *text, uint32_t *out)
{
	unsigned a, b, c, e;
	char tail;

	if (text == NULL || sscanf(text, "%u.%u.%u.%u%c", &a, &b, &c, &e, &tail) != 4 ||
	    a > 255 || b > 255 || c > 255 || e > 255)
		return false;
	*out = (a << 24) | (b << 16) | (c << 8) | e;
	return true;
}

static int
alloc_mgmt(plan *p, const scenario *s, const alloc_ctx *ctx, diag *d)
{
	const sc_mgmt *m = &s->mgmt;
	g_autoptr(GHashTable) mine = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	uint32_t net, mask, bcast;
	uint64_t next;

	if (p->vm_mgmt_addr != NULL)
		g_ptr_array_unref(p->vm_mgmt_addr);
	p->vm_mgmt_addr = g_ptr_array_new_full(p->nvms, g_free);
	if (m->type == SC_MGMT_NONE) {
		for (int i = 0; i < p->nvms; i++)
			g_ptr_array_add(p->vm_mgmt_addr, NULL);
		return 0;
	}
	if (!ipv4_parse(m->network, &net) || m->mask < 1 || m->mask > 30 || m->offset < 0) {
		diag_error(d, s->file, m->line, "alloc: vm_mgmt network '%s/%d' offset %d is not "
		    "usable (IPv4 network, mask 1..30, offset >= 0)", m->network ? m->network : "",
		    m->mask, m->offset);
		return -1;
	}
	mask = ~(0xffffffffu >> m->mask);
	net &= mask;
	bcast = net | ~mask;
	next = (uint64_t)net + (uint64_t)m->offset + 1;
	for (int i = 0; i < p->nvms; i++) {
		const sc_vm *vm = g_ptr_array_index(s->vms, i);
		char addr[16];

		for (;; next++) {
			uint32_t a = (uint32_t)next;

			if (next >= bcast) {
				diag_error(d, s->file, m->line, "alloc: management network %s/%d is "
				    "exhausted at VM '%s' (offset %d, %d VMs, %u addresses in use)",
				    m->network, m->mask, vm->name, m->offset, p->nvms,
				    ctx->used_addrs ? g_hash_table_size(ctx->used_addrs) : 0);
				return -1;
			}
			g_snprintf(addr, sizeof addr, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff,
			    (a >> 8) & 0xff, a & 0xff);
			if ((ctx->used_addrs == NULL || !g_hash_table_contains(ctx->used_addrs, addr)) &&
			    !g_hash_table_contains(mine, addr))
				break;
		}
		next++;
		g_hash_table_add(mine, g_strdup(addr));
		g_ptr_array_add(p->vm_mgmt_addr, g_strdup_printf("%s/%d", addr, m->mask));
	}
	return 0;
}

int
alloc_plan(plan *p, const scenario *s, const alloc_ctx *ctx, diag *d)
{
	if (p == NULL || s == NULL || ctx == NULL) {
		diag_error(d, NULL, 0, "alloc: no plan, scenario or context given");
		return -1;
	}
	if (s->vms == NULL || s->nets == NULL || (int)s->vms->len != p->nvms ||
	    (int)s->nets->len != p->nnets) {
		diag_error(d, s->file, 0, "alloc: the plan does not belong to scenario '%s'",
		    s->name ? s->name : "");
		return -1;
	}
	if (alloc_vnis(p, s, ctx, d) < 0 || alloc_macs(p, s, ctx, d) < 0 ||
	    alloc_mgmt(p, s, ctx, d) < 0)
		return -1;
	return 0;
}
