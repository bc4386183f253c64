/* plan: partition a scenario over hosts under deployment restrictions (pure, deterministic) */
#include "plan/plan.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * How it works
 *
 * 1. VMs that must share a host are merged into "units" with a union-find: affinity groups,
 *    net_deploy_together nets and net_deploy_at nets (all VMs of such a net on one host),
 *    and managed="no" nets: such a net is a bridge that exists on each host, which nube
 *    neither makes nor stretches (agents never give it a VXLAN), so VMs on two hosts would
 *    sit on two unlinked bridges.
 *    Each unit may carry a pin (vm_deploy_at / net_deploy_at); two different pins on one
 *    unit are an error naming both. Antiaffinity becomes unit-to-unit conflicts.
 * 2. Pinned units are placed first, then the chosen algorithm places the rest, only ever on
 *    online hosts with enough free memory, free VM slots and no conflicting unit.
 * 3. When an algorithm leaves a unit unplaced (a greedy order can paint itself into a corner
 *    that another order avoids), the placement is retried: a bounded DSATUR backtracking
 *    search places the antiaffinity units (a graph colouring), least-loaded (biggest first)
 *    the rest; if that fails too, the first attempt's reasons are reported.
 *
 * Everything iterates arrays in index order and breaks ties by index, so equal input gives
 * an equal plan. Hash tables are used only to resolve names, never iterated.
 */

#define GRAPH_IMBALANCE 1.15	/* upper balance limit of graph: target x this */
#define GRAPH_UNDERLOAD 0.85	/* below target x this, refinement only moves to uncut nets */
#define GRAPH_PASSES 12		/* refinement passes at most */
#define EXPLAIN_MAX 6		/* hosts listed in a "cannot place" message */

typedef struct {
	const char *kind;	/* "vm_deploy_at" / "net_deploy_at" */
	const char *what;	/* VM or net name */
	int line;
} pin_src;

typedef struct {
	int host;
	int cnt;
} net_hc;			/* how many units of a net sit on a host */

typedef struct {
	const scenario *s;
	const restrictions *r;
	const char *rfile;
	const plan_host *hosts;
	int nhosts;
	int nonline;
	int nvms, nnets;

	GHashTable *vm_idx, *net_idx, *host_idx;	/* name -> index + 1 */

	/* VM -> distinct nets and net -> VMs (CSR, ascending) */
	int *vm_net_off, *vm_net;
	int *net_vm_off, *net_vm;

	/* units */
	int nunits;
	int *vm_unit;
	int *unit_vm_off, *unit_vm;	/* unit -> VMs (CSR, ascending) */
	int *unit_nvms;
	uint64_t *unit_mem;
	int *unit_vcpu;
	int *unit_pin;			/* host or -1 */
	pin_src *unit_pin_src;

	/* antiaffinity: unit -> conflicting units (CSR) and the group line of each entry */
	int *cf_off, *cf_unit, *cf_line;

	/* unit-level hypergraph over nets with >= 2 units (CSR both ways) */
	int *net_unit_off, *net_unit;
	int *unit_net_off, *unit_net;

	/* host state during placement */
	int64_t *free_mem;
	int64_t *free_slots;
	int *load;			/* VMs placed by this plan */
	int *vcpus;			/* vCPUs placed by this plan */
	int *unit_host;
} pctx;

/* ---------- small helpers ---------- */

static int
name_lookup(GHashTable *t, const char *name)
{
	gpointer v;

	if (name == NULL)
		return -1;
	v = g_hash_table_lookup(t, name);
	return v == NULL ? -1 : GPOINTER_TO_INT(v) - 1;
}

static int
uf_find(int *parent, int x)
{
	int root = x, next;

	while (parent[root] != root)
		root = parent[root];
	while (parent[x] != root) {
		next = parent[x];
		parent[x] = root;
		x = next;
	}
	return root;
}

static void
uf_union(int *parent, int a, int b)
{
	a = uf_find(parent, a);
	b = uf_find(parent, b);
	if (a == b)
		return;
	if (a < b)
		parent[b] = a;
	else
		parent[a] = b;
}

static const sc_vm *
vm_at(const pctx *c, int i)
{
	return g_ptr_array_index(c->s->vms, i);
}

static const sc_net *
net_at(const pctx *c, int j)
{
	return g_ptr_array_index(c->s->nets, j);
}

static const char *
unit_name(const pctx *c, int u)
{
	return vm_at(c, c->unit_vm[c->unit_vm_off[u]])->name;
}

/* "VM 'a' (128 MiB)" or "VM 'a' (unit of 3 VMs, 384 MiB)" into a new string */
static char *
unit_describe(const pctx *c, int u)
{
	if (c->unit_nvms[u] == 1)
		return g_strdup_printf("VM '%s' (%" G_GUINT64_FORMAT " MiB)", unit_name(c, u),
		    c->unit_mem[u]);
	return g_strdup_printf("VM '%s' (unit of %d VMs, %" G_GUINT64_FORMAT " MiB)",
	    unit_name(c, u), c->unit_nvms[u], c->unit_mem[u]);
}

static int
cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* ---------- setup: names, incidence, units, pins, conflicts ---------- */

static void
pctx_free(pctx *c)
{
	if (c->vm_idx)
		g_hash_table_unref(c->vm_idx);
	if (c->net_idx)
		g_hash_table_unref(c->net_idx);
	if (c->host_idx)
		g_hash_table_unref(c->host_idx);
	g_free(c->vm_net_off);
	g_free(c->vm_net);
	g_free(c->net_vm_off);
	g_free(c->net_vm);
	g_free(c->vm_unit);
	g_free(c->unit_vm_off);
	g_free(c->unit_vm);
	g_free(c->unit_nvms);
	g_free(c->unit_mem);
	g_free(c->unit_vcpu);
	g_free(c->unit_pin);
	g_free(c->unit_pin_src);
	g_free(c->cf_off);
	g_free(c->cf_unit);
	g_free(c->cf_line);
	g_free(c->net_unit_off);
	g_free(c->net_unit);
	g_free(c->unit_net_off);
	g_free(c->unit_net);
	g_free(c->free_mem);
	g_free(c->free_slots);
	g_free(c->load);
	g_free(c->vcpus);
	g_free(c->unit_host);
}

static int
setup_names(pctx *c, diag *d)
{
	int ok = 0;

	c->vm_idx = g_hash_table_new(g_str_hash, g_str_equal);
	c->net_idx = g_hash_table_new(g_str_hash, g_str_equal);
	c->host_idx = g_hash_table_new(g_str_hash, g_str_equal);
	for (int i = 0; i < c->nvms; i++) {
		const sc_vm *vm = vm_at(c, i);

		if (vm->name == NULL || g_hash_table_contains(c->vm_idx, vm->name)) {
			diag_error(d, c->s->file, vm->line, "plan: VM '%s' defined twice or unnamed",
			    vm->name ? vm->name : "");
			ok = -1;
			continue;
		}
		g_hash_table_insert(c->vm_idx, vm->name, GINT_TO_POINTER(i + 1));
	}
	for (int j = 0; j < c->nnets; j++) {
		const sc_net *n = net_at(c, j);

		if (n->name == NULL || g_hash_table_contains(c->net_idx, n->name)) {
			diag_error(d, c->s->file, n->line, "plan: net '%s' defined twice or unnamed",
			    n->name ? n->name : "");
			ok = -1;
			continue;
		}
		g_hash_table_insert(c->net_idx, n->name, GINT_TO_POINTER(j + 1));
	}
	for (int h = 0; h < c->nhosts; h++) {
		const char *hn = c->hosts[h].name;

		if (hn == NULL || g_hash_table_contains(c->host_idx, hn)) {
			diag_error(d, NULL, 0, "plan: host '%s' given twice or unnamed", hn ? hn : "");
			ok = -1;
			continue;
		}
		g_hash_table_insert(c->host_idx, (gpointer)hn, GINT_TO_POINTER(h + 1));
		if (c->hosts[h].online)
			c->nonline++;
	}
	return ok;
}

/* VM -> distinct nets, ascending */
static int
setup_incidence(pctx *c, diag *d)
{
	GArray *all = g_array_new(FALSE, FALSE, sizeof(int));
	int ok = 0;

	c->vm_net_off = g_new0(int, c->nvms + 1);
	for (int i = 0; i < c->nvms; i++) {
		const sc_vm *vm = vm_at(c, i);
		guint start = all->len;

		c->vm_net_off[i] = (int)start;
		for (guint k = 0; vm->ifs != NULL && k < vm->ifs->len; k++) {
			const sc_if *ifc = g_ptr_array_index(vm->ifs, k);
			int j = name_lookup(c->net_idx, ifc->net);

			if (j < 0) {
				diag_error(d, c->s->file, ifc->line,
				    "plan: VM '%s' interface %d is on unknown net '%s'", vm->name,
				    ifc->id, ifc->net ? ifc->net : "");
				ok = -1;
				continue;
			}
			g_array_append_val(all, j);
		}
		if (all->len - start > 1)
			qsort(all->data + start * sizeof(int), all->len - start, sizeof(int), cmp_int);
		/* dedup */
		guint w = start;
		for (guint k = start; k < all->len; k++)
			if (k == start || g_array_index(all, int, k) != g_array_index(all, int, w - 1))
				g_array_index(all, int, w++) = g_array_index(all, int, k);
		g_array_set_size(all, w);
	}
	c->vm_net_off[c->nvms] = (int)all->len;
	c->vm_net = (int *)g_array_free(all, FALSE);

	/* transpose: net -> VMs */
	g_autofree int *cnt = g_new0(int, c->nnets + 1);
	c->net_vm_off = g_new0(int, c->nnets + 1);
	for (int k = 0; k < c->vm_net_off[c->nvms]; k++)
		c->net_vm_off[c->vm_net[k] + 1]++;
	for (int j = 0; j < c->nnets; j++)
		c->net_vm_off[j + 1] += c->net_vm_off[j];
	c->net_vm = g_new(int, c->net_vm_off[c->nnets] + 1);
	for (int i = 0; i < c->nvms; i++)
		for (int k = c->vm_net_off[i]; k < c->vm_net_off[i + 1]; k++)
			c->net_vm[c->net_vm_off[c->vm_net[k]] + cnt[c->vm_net[k]]++] = i;
	return ok;
}

/* every VM on net j, in VM order, appended to out */
static void
net_vms(const pctx *c, int j, GArray *out)
{
	g_array_append_vals(out, c->net_vm + c->net_vm_off[j], c->net_vm_off[j + 1] - c->net_vm_off[j]);
}

static int
setup_units(pctx *c, diag *d)
{
	g_autofree int *parent = g_new(int, c->nvms);
	g_autofree int *root_unit = g_new(int, c->nvms);
	g_autoptr(GArray) tmp = g_array_new(FALSE, FALSE, sizeof(int));
	const restrictions *r = c->r;
	int ok = 0;

	for (int i = 0; i < c->nvms; i++)
		parent[i] = i;

	if (r != NULL && r->affinity != NULL)
		for (guint g = 0; g < r->affinity->len; g++) {
			const rs_group *grp = g_ptr_array_index(r->affinity, g);
			int first = -1;

			for (guint k = 0; grp->names != NULL && k < grp->names->len; k++) {
				const char *nm = g_ptr_array_index(grp->names, k);
				int i = name_lookup(c->vm_idx, nm);

				if (i < 0) {
					diag_error(d, c->rfile, grp->line,
					    "plan: affinity names unknown VM '%s'", nm);
					ok = -1;
					continue;
				}
				if (first < 0)
					first = i;
				else
					uf_union(parent, first, i);
			}
		}
	/* net_deploy_together and net_deploy_at: every VM of the net together */
	for (int pass = 0; r != NULL && pass < 2; pass++) {
		GPtrArray *list = pass == 0 ? r->net_together : r->net_at;

		for (guint g = 0; list != NULL && g < list->len; g++) {
			GPtrArray *names;
			int line;
			g_autoptr(GPtrArray) one = g_ptr_array_new();

			if (pass == 0) {
				const rs_group *grp = g_ptr_array_index(list, g);

				names = grp->names;
				line = grp->line;
			} else {
				const rs_at *at = g_ptr_array_index(list, g);

				g_ptr_array_add(one, at->what);
				names = one;
				line = at->line;
			}
			for (guint k = 0; names != NULL && k < names->len; k++) {
				const char *nm = g_ptr_array_index(names, k);
				int j = name_lookup(c->net_idx, nm);

				if (j < 0) {
					diag_error(d, c->rfile, line, "plan: %s names unknown net '%s'",
					    pass == 0 ? "net_deploy_together" : "net_deploy_at", nm ? nm : "");
					ok = -1;
					continue;
				}
				g_array_set_size(tmp, 0);
				net_vms(c, j, tmp);
				for (guint m = 1; m < tmp->len; m++)
					uf_union(parent, g_array_index(tmp, int, 0), g_array_index(tmp, int, m));
			}
		}
	}

	/* managed="no" nets: every VM of the net together (see "How it works") */
	for (int j = 0; j < c->nnets; j++) {
		if (net_at(c, j)->managed)
			continue;
		g_array_set_size(tmp, 0);
		net_vms(c, j, tmp);
		for (guint m = 1; m < tmp->len; m++)
			uf_union(parent, g_array_index(tmp, int, 0), g_array_index(tmp, int, m));
	}

	/* units numbered by their lowest VM index */
	c->vm_unit = g_new(int, c->nvms);
	c->nunits = 0;
	for (int i = 0; i < c->nvms; i++) {
		int root = uf_find(parent, i);

		if (root == i)
			root_unit[i] = c->nunits++;
		c->vm_unit[i] = root_unit[root];
	}
	c->unit_nvms = g_new0(int, c->nunits);
	c->unit_mem = g_new0(uint64_t, c->nunits);
	c->unit_vcpu = g_new0(int, c->nunits);
	c->unit_pin = g_new(int, c->nunits);
	c->unit_pin_src = g_new0(pin_src, c->nunits);
	c->unit_vm_off = g_new0(int, c->nunits + 1);
	c->unit_vm = g_new(int, c->nvms);
	for (int u = 0; u < c->nunits; u++)
		c->unit_pin[u] = -1;
	for (int i = 0; i < c->nvms; i++) {
		int u = c->vm_unit[i];

		c->unit_nvms[u]++;
		c->unit_mem[u] += vm_at(c, i)->mem_mib;
		c->unit_vcpu[u] += vm_at(c, i)->vcpu;
	}
	for (int u = 0; u < c->nunits; u++)
		c->unit_vm_off[u + 1] = c->unit_vm_off[u] + c->unit_nvms[u];
	{
		g_autofree int *fill = g_new0(int, c->nunits);

		for (int i = 0; i < c->nvms; i++) {
			int u = c->vm_unit[i];

			c->unit_vm[c->unit_vm_off[u] + fill[u]++] = i;
		}
	}
	return ok;
}

static void
pin_describe(const pctx *c, const pin_src *p, int host, GString *out)
{
	g_string_append_printf(out, "'%s' (%s of %s '%s' at %s:%d)", c->hosts[host].name, p->kind,
	    strcmp(p->kind, "vm_deploy_at") == 0 ? "VM" : "net", p->what,
	    c->rfile ? c->rfile : "restrictions", p->line);
}

static int
pin_unit(pctx *c, int u, int host, const pin_src *src, diag *d)
{
	if (c->unit_pin[u] >= 0 && c->unit_pin[u] != host) {
		g_autoptr(GString) m = g_string_new(NULL);

		g_string_append_printf(m, "plan: %s must be on host ", unit_name(c, u));
		pin_describe(c, &c->unit_pin_src[u], c->unit_pin[u], m);
		g_string_append(m, " and on host ");
		pin_describe(c, src, host, m);
		g_string_append(m, " at once (its VMs must share a host)");
		diag_error(d, c->rfile, src->line, "%s", m->str);
		return -1;
	}
	if (c->unit_pin[u] < 0) {
		c->unit_pin[u] = host;
		c->unit_pin_src[u] = *src;
	}
	return 0;
}

static int
setup_pins(pctx *c, diag *d)
{
	const restrictions *r = c->r;
	g_autoptr(GArray) tmp = g_array_new(FALSE, FALSE, sizeof(int));
	int ok = 0;

	if (r == NULL)
		return 0;
	for (int pass = 0; pass < 2; pass++) {
		GPtrArray *list = pass == 0 ? r->vm_at : r->net_at;
		const char *kind = pass == 0 ? "vm_deploy_at" : "net_deploy_at";

		for (guint g = 0; list != NULL && g < list->len; g++) {
			const rs_at *at = g_ptr_array_index(list, g);
			int h = name_lookup(c->host_idx, at->host);
			pin_src src = { kind, at->what ? at->what : "", at->line };

			if (h < 0) {
				diag_error(d, c->rfile, at->line, "plan: %s '%s' names unknown host '%s'",
				    kind, src.what, at->host ? at->host : "");
				ok = -1;
				continue;
			}
			if (!c->hosts[h].online) {
				diag_error(d, c->rfile, at->line,
				    "plan: %s '%s' needs host '%s', which is offline", kind, src.what,
				    at->host);
				ok = -1;
				continue;
			}
			g_array_set_size(tmp, 0);
			if (pass == 0) {
				int i = name_lookup(c->vm_idx, at->what);

				if (i < 0) {
					diag_error(d, c->rfile, at->line,
					    "plan: vm_deploy_at names unknown VM '%s'", src.what);
					ok = -1;
					continue;
				}
				g_array_append_val(tmp, i);
			} else {
				int j = name_lookup(c->net_idx, at->what);

				if (j < 0)
					continue;	/* reported by setup_units */
				net_vms(c, j, tmp);
			}
			for (guint k = 0; k < tmp->len; k++)
				if (pin_unit(c, c->vm_unit[g_array_index(tmp, int, k)], h, &src, d) < 0) {
					ok = -1;
					break;
				}
		}
	}
	return ok;
}

typedef struct {
	int a, b, line;
} cf_pair;

static int
cmp_cf(const void *x, const void *y)
{
	const cf_pair *p = x, *q = y;

	if (p->a != q->a)
		return (p->a > q->a) - (p->a < q->a);
	if (p->b != q->b)
		return (p->b > q->b) - (p->b < q->b);
	return (p->line > q->line) - (p->line < q->line);
}

static int
setup_conflicts(pctx *c, diag *d)
{
	const restrictions *r = c->r;
	g_autoptr(GArray) pairs = g_array_new(FALSE, FALSE, sizeof(cf_pair));
	g_autoptr(GArray) us = g_array_new(FALSE, FALSE, sizeof(int));
	g_autoptr(GArray) vs = g_array_new(FALSE, FALSE, sizeof(int));
	int ok = 0;

	c->cf_off = g_new0(int, c->nunits + 1);
	for (guint g = 0; r != NULL && r->antiaffinity != NULL && g < r->antiaffinity->len; g++) {
		const rs_group *grp = g_ptr_array_index(r->antiaffinity, g);
		int bad = 0;

		g_array_set_size(us, 0);
		g_array_set_size(vs, 0);
		for (guint k = 0; grp->names != NULL && k < grp->names->len; k++) {
			const char *nm = g_ptr_array_index(grp->names, k);
			int i = name_lookup(c->vm_idx, nm);

			if (i < 0) {
				diag_error(d, c->rfile, grp->line,
				    "plan: antiaffinity names unknown VM '%s'", nm ? nm : "");
				ok = -1;
				bad = 1;
				continue;
			}
			/* the same VM twice in one group is harmless */
			gboolean dup = FALSE;
			for (guint m = 0; m < vs->len; m++)
				if (g_array_index(vs, int, m) == i)
					dup = TRUE;
			if (dup)
				continue;
			for (guint m = 0; m < vs->len; m++) {
				int o = g_array_index(vs, int, m);

				if (c->vm_unit[o] == c->vm_unit[i]) {
					diag_error(d, c->rfile, grp->line,
					    "plan: antiaffinity group at %s:%d separates VMs '%s' and '%s', "
					    "which must share a host (affinity, net_deploy_together, "
					    "net_deploy_at or a managed=\"no\" net)", c->rfile ? c->rfile : "restrictions",
					    grp->line, vm_at(c, o)->name, vm_at(c, i)->name);
					ok = -1;
					bad = 1;
				}
			}
			g_array_append_val(vs, i);
			int u = c->vm_unit[i];
			g_array_append_val(us, u);
		}
		if (bad)
			continue;
		if ((int)us->len > c->nonline) {
			diag_error(d, c->rfile, grp->line,
			    "plan: antiaffinity group at %s:%d needs %u hosts but only %d are online",
			    c->rfile ? c->rfile : "restrictions", grp->line, us->len, c->nonline);
			ok = -1;
			continue;
		}
		for (guint m = 0; m < us->len; m++)
			for (guint n = m + 1; n < us->len; n++) {
				int a = g_array_index(us, int, m), b = g_array_index(us, int, n);
				cf_pair p1 = { a, b, grp->line }, p2 = { b, a, grp->line };

				if (c->unit_pin[a] >= 0 && c->unit_pin[a] == c->unit_pin[b]) {
					diag_error(d, c->rfile, grp->line,
					    "plan: antiaffinity group at %s:%d separates '%s' and '%s', but "
					    "both are pinned to host '%s' (%s at line %d, %s at line %d)",
					    c->rfile ? c->rfile : "restrictions", grp->line,
					    vm_at(c, g_array_index(vs, int, m))->name,
					    vm_at(c, g_array_index(vs, int, n))->name,
					    c->hosts[c->unit_pin[a]].name, c->unit_pin_src[a].kind,
					    c->unit_pin_src[a].line, c->unit_pin_src[b].kind,
					    c->unit_pin_src[b].line);
					ok = -1;
				}
				g_array_append_val(pairs, p1);
				g_array_append_val(pairs, p2);
			}
	}
	if (pairs->len > 1)
		qsort(pairs->data, pairs->len, sizeof(cf_pair), cmp_cf);
	/* dedup (a, b), keep the first line */
	guint w = 0;
	for (guint k = 0; k < pairs->len; k++) {
		cf_pair *p = &g_array_index(pairs, cf_pair, k);

		if (w > 0 && g_array_index(pairs, cf_pair, w - 1).a == p->a &&
		    g_array_index(pairs, cf_pair, w - 1).b == p->b)
			continue;
		g_array_index(pairs, cf_pair, w++) = *p;
	}
	c->cf_unit = g_new(int, w + 1);
	c->cf_line = g_new(int, w + 1);
	for (guint k = 0; k < w; k++) {
		cf_pair *p = &g_array_index(pairs, cf_pair, k);

		c->cf_off[p->a + 1]++;
		c->cf_unit[k] = p->b;
		c->cf_line[k] = p->line;
	}
	for (int u = 0; u < c->nunits; u++)
		c->cf_off[u + 1] += c->cf_off[u];
	return ok;
}

/* unit-level hypergraph: only nets touching >= 2 units matter for cuts */
static void
setup_hypergraph(pctx *c)
{
	g_autofree int *stamp = g_new(int, c->nunits);
	g_autofree int *deg = g_new0(int, c->nunits + 1);
	GArray *nu = g_array_new(FALSE, FALSE, sizeof(int));
	const int *net_vm_off = c->net_vm_off, *net_vm = c->net_vm;

	for (int u = 0; u < c->nunits; u++)
		stamp[u] = -1;
	c->net_unit_off = g_new0(int, c->nnets + 1);
	for (int j = 0; j < c->nnets; j++) {
		guint start = nu->len;

		for (int k = net_vm_off[j]; k < net_vm_off[j + 1]; k++) {
			int u = c->vm_unit[net_vm[k]];

			if (stamp[u] != j) {
				stamp[u] = j;
				g_array_append_val(nu, u);
			}
		}
		if (nu->len - start < 2)
			g_array_set_size(nu, start);	/* cannot be cut */
		else
			qsort(nu->data + start * sizeof(int), nu->len - start, sizeof(int), cmp_int);
		c->net_unit_off[j + 1] = (int)nu->len;
	}
	c->net_unit = (int *)g_array_free(nu, FALSE);

	for (int k = 0; k < c->net_unit_off[c->nnets]; k++)
		deg[c->net_unit[k] + 1]++;
	c->unit_net_off = g_new0(int, c->nunits + 1);
	for (int u = 0; u < c->nunits; u++)
		c->unit_net_off[u + 1] = c->unit_net_off[u] + deg[u + 1];
	c->unit_net = g_new(int, c->unit_net_off[c->nunits] + 1);
	memset(deg, 0, sizeof(int) * (c->nunits + 1));
	for (int j = 0; j < c->nnets; j++)
		for (int k = c->net_unit_off[j]; k < c->net_unit_off[j + 1]; k++) {
			int u = c->net_unit[k];

			c->unit_net[c->unit_net_off[u] + deg[u]++] = j;
		}
}

/* ---------- host state ---------- */

uint64_t
plan_host_free_mem(const plan_host *h)
{
	uint64_t taken = MAX(h->mem_used_mib, h->mem_promised_mib + h->mem_reserve_mib);

	return h->mem_mib > taken ? h->mem_mib - taken : 0;
}

/* mem_text: "N MiB free" plus, for a live host with promises or a reserve, where the rest
 * went: "(of M MiB: P promised to VMs, R reserved, U used)"; new string */
static char *
mem_text(const pctx *c, int h)
{
	const plan_host *ph = &c->hosts[h];

	if (ph->mem_promised_mib == 0 && ph->mem_reserve_mib == 0)
		return g_strdup_printf("%" G_GINT64_FORMAT " MiB free", c->free_mem[h]);
	return g_strdup_printf("%" G_GINT64_FORMAT " MiB free (of %" G_GUINT64_FORMAT " MiB: %"
	    G_GUINT64_FORMAT " promised to VMs, %" G_GUINT64_FORMAT " reserved, %"
	    G_GUINT64_FORMAT " used)", c->free_mem[h], ph->mem_mib, ph->mem_promised_mib,
	    ph->mem_reserve_mib, ph->mem_used_mib);
}

static void
state_reset(pctx *c)
{
	for (int h = 0; h < c->nhosts; h++) {
		const plan_host *ph = &c->hosts[h];

		c->free_mem[h] = (int64_t)plan_host_free_mem(ph);
		if (ph->max_vms > 0)
			c->free_slots[h] = ph->max_vms > ph->vms ? ph->max_vms - ph->vms : 0;
		else
			c->free_slots[h] = (int64_t)1 << 40;	/* unlimited, summable */
		c->load[h] = 0;
		c->vcpus[h] = 0;
	}
	for (int u = 0; u < c->nunits; u++)
		c->unit_host[u] = -1;
}

static bool
conflicts_on(const pctx *c, int u, int h)
{
	for (int k = c->cf_off[u]; k < c->cf_off[u + 1]; k++)
		if (c->unit_host[c->cf_unit[k]] == h)
			return true;
	return false;
}

static bool
fits(const pctx *c, int u, int h)
{
	return c->hosts[h].online && c->free_mem[h] >= (int64_t)c->unit_mem[u] &&
	    c->free_slots[h] >= c->unit_nvms[u] && !conflicts_on(c, u, h);
}

static void
place(pctx *c, int u, int h)
{
	c->unit_host[u] = h;
	c->free_mem[h] -= (int64_t)c->unit_mem[u];
	c->free_slots[h] -= c->unit_nvms[u];
	c->load[h] += c->unit_nvms[u];
	c->vcpus[h] += c->unit_vcpu[u];
}

static void
unplace(pctx *c, int u)
{
	int h = c->unit_host[u];

	c->free_mem[h] += (int64_t)c->unit_mem[u];
	c->free_slots[h] += c->unit_nvms[u];
	c->load[h] -= c->unit_nvms[u];
	c->vcpus[h] -= c->unit_vcpu[u];
	c->unit_host[u] = -1;
}

/* why unit u fits on no host: one line naming each obstacle */
static void
explain_unplaceable(const pctx *c, int u, diag *d)
{
	g_autofree char *what = unit_describe(c, u);
	g_autoptr(GString) m = g_string_new(NULL);
	int listed = 0, skipped = 0;

	g_string_append_printf(m, "plan: cannot place %s: ", what);
	if (c->unit_pin[u] >= 0) {
		int h = c->unit_pin[u];
		g_autofree char *mt = mem_text(c, h);

		g_string_append_printf(m, "host '%s' has %s", c->hosts[h].name, mt);
		if (c->hosts[h].max_vms > 0)
			g_string_append_printf(m, " and %" G_GINT64_FORMAT " VM slots (max_vms %d)",
			    c->free_slots[h], c->hosts[h].max_vms);
		g_string_append_printf(m, " (%s of '%s')", c->unit_pin_src[u].kind,
		    c->unit_pin_src[u].what);
		diag_error(d, c->rfile, c->unit_pin_src[u].line, "%s", m->str);
		return;
	}
	for (int h = 0; h < c->nhosts; h++) {
		GString *why = g_string_new(NULL);
		const plan_host *ph = &c->hosts[h];

		if (!ph->online)
			g_string_append_printf(why, "host '%s' is offline", ph->name);
		else if (c->free_mem[h] < (int64_t)c->unit_mem[u]) {
			g_autofree char *mt = mem_text(c, h);

			g_string_append_printf(why, "host '%s' has %s", ph->name, mt);
		} else if (c->free_slots[h] < c->unit_nvms[u])
			g_string_append_printf(why, "host '%s' has %" G_GINT64_FORMAT
			    " VM slots free (max_vms %d)", ph->name, c->free_slots[h], ph->max_vms);
		else
			for (int k = c->cf_off[u]; k < c->cf_off[u + 1]; k++)
				if (c->unit_host[c->cf_unit[k]] == h) {
					g_string_append_printf(why, "host '%s' holds '%s' (antiaffinity at "
					    "line %d)", ph->name, unit_name(c, c->cf_unit[k]), c->cf_line[k]);
					break;
				}
		if (why->len > 0) {
			if (listed < EXPLAIN_MAX) {
				g_string_append_printf(m, "%s%s", listed ? ", " : "", why->str);
				listed++;
			} else {
				skipped++;
			}
		}
		g_string_free(why, TRUE);
	}
	if (skipped)
		g_string_append_printf(m, " and %d more hosts", skipped);
	diag_error(d, NULL, 0, "%s", m->str);
}

/* pinned units first; checks the pinned load of each host */
static int
place_pinned(pctx *c, diag *d)
{
	int ok = 0;

	for (int u = 0; u < c->nunits; u++) {
		int h = c->unit_pin[u];

		if (h < 0)
			continue;
		if (!fits(c, u, h)) {
			explain_unplaceable(c, u, d);
			ok = -1;
			continue;
		}
		place(c, u, h);
	}
	return ok;
}

static int
check_totals(pctx *c, diag *d)
{
	uint64_t need = 0, have = 0;
	int64_t slots = 0;

	for (int u = 0; u < c->nunits; u++)
		need += c->unit_mem[u];
	for (int h = 0; h < c->nhosts; h++)
		if (c->hosts[h].online) {
			have += (uint64_t)c->free_mem[h];
			slots += c->free_slots[h];
		}
	if (c->nvms > 0 && c->nonline == 0) {
		diag_error(d, NULL, 0, "plan: no online host to place %d VMs on", c->nvms);
		return -1;
	}
	if (need > have) {
		g_autoptr(GString) m = g_string_new(NULL);
		int listed = 0;

		for (int h = 0; h < c->nhosts; h++) {
			g_autofree char *mt = NULL;

			if (!c->hosts[h].online)
				continue;
			if (listed == EXPLAIN_MAX) {
				g_string_append(m, ", ...");
				break;
			}
			mt = mem_text(c, h);
			g_string_append_printf(m, "%shost '%s' has %s", listed ? ", " : "",
			    c->hosts[h].name, mt);
			listed++;
		}
		diag_error(d, NULL, 0, "plan: scenario '%s' needs %" G_GUINT64_FORMAT " MiB but the "
		    "%d online hosts have %" G_GUINT64_FORMAT " MiB free: %s",
		    c->s->name ? c->s->name : "", need, c->nonline, have, m->str);
		return -1;
	}
	if ((int64_t)c->nvms > slots) {
		diag_error(d, NULL, 0, "plan: scenario '%s' has %d VMs but the online hosts have only "
		    "%" G_GINT64_FORMAT " VM slots free (max_vms)", c->s->name ? c->s->name : "",
		    c->nvms, slots);
		return -1;
	}
	return 0;
}

/* ---------- algorithms: each places every unpinned unit or returns -1 ---------- */

static double
host_weight(const plan_host *h)
{
	double load = h->load < 0 ? 0 : h->load > 1 ? 1 : h->load;
	double cpus = h->cpus > 0 ? h->cpus : 0;

	return cpus * (1.0 - load);
}

/* weights for the weighted algorithms; all zero (no CPU data) falls back to free memory */
static void
host_weights(const pctx *c, double *w)
{
	double sum = 0;

	for (int h = 0; h < c->nhosts; h++) {
		w[h] = c->hosts[h].online ? host_weight(&c->hosts[h]) : 0;
		sum += w[h];
	}
	if (sum > 0)
		return;
	for (int h = 0; h < c->nhosts; h++) {
		w[h] = c->hosts[h].online ? (double)c->free_mem[h] : 0;
		sum += w[h];
	}
	if (sum > 0)
		return;
	for (int h = 0; h < c->nhosts; h++)
		w[h] = c->hosts[h].online ? 1 : 0;
}

/* EDIV round robin: unit after unit, next host in turn that can take it */
static int
algo_round_robin(pctx *c, diag *d)
{
	int cursor = 0, ok = 0;

	for (int u = 0; u < c->nunits; u++) {
		int chosen = -1;

		if (c->unit_host[u] >= 0)
			continue;
		for (int k = 0; k < c->nhosts; k++) {
			int h = (cursor + k) % c->nhosts;

			if (fits(c, u, h)) {
				chosen = h;
				break;
			}
		}
		if (chosen < 0) {
			explain_unplaceable(c, u, d);
			ok = -1;
			continue;
		}
		place(c, u, chosen);
		cursor = (chosen + 1) % c->nhosts;
	}
	return ok;
}

/*
 * EDIV weighted round robin, as stride scheduling: each unit goes to the host that would
 * have the lowest (VMs placed + unit VMs) / weight afterwards, weight = cpus x (1 - load).
 * Over a long run each host gets VMs in proportion to its weight; ties go to the lower index.
 */
static int
algo_weighted_rr(pctx *c, diag *d)
{
	g_autofree double *w = g_new(double, c->nhosts);
	int ok = 0;

	host_weights(c, w);
	for (int u = 0; u < c->nunits; u++) {
		int chosen = -1;
		double best = 0;

		if (c->unit_host[u] >= 0)
			continue;
		for (int h = 0; h < c->nhosts; h++) {
			double pass;

			if (!fits(c, u, h))
				continue;
			pass = w[h] > 0 ? (c->load[h] + c->unit_nvms[u]) / w[h] :
			    1e300 * 0.5 + c->load[h];	/* weightless hosts only as a last resort */
			if (chosen < 0 || pass < best) {
				chosen = h;
				best = pass;
			}
		}
		if (chosen < 0) {
			explain_unplaceable(c, u, d);
			ok = -1;
			continue;
		}
		place(c, u, chosen);
	}
	return ok;
}

typedef struct {
	const pctx *c;
	double mem_scale, cpu_scale;
} size_ctx;

static double
unit_size(const pctx *c, int u, double mem_scale, double cpu_scale)
{
	return (double)c->unit_mem[u] / mem_scale + (double)c->unit_vcpu[u] / cpu_scale;
}

static int
cmp_unit_size(const void *a, const void *b, void *data)
{
	const size_ctx *sz = data;
	int u = *(const int *)a, v = *(const int *)b;
	const pctx *c = sz->c;
	double su = unit_size(c, u, sz->mem_scale, sz->cpu_scale);
	double sv = unit_size(c, v, sz->mem_scale, sz->cpu_scale);
	int cu = c->cf_off[u + 1] - c->cf_off[u], cv = c->cf_off[v + 1] - c->cf_off[v];

	if ((cu > 0) != (cv > 0))
		return cu > 0 ? -1 : 1;
	if (su != sv)
		return su > sv ? -1 : 1;
	if (cu != cv)
		return cu > cv ? -1 : 1;
	return (u > v) - (u < v);
}

/*
 * least-loaded: units under antiaffinity first (they need distinct hosts, best found while
 * hosts are empty), then biggest first (memory and vCPUs, each normalised by the largest host),
 * each on the host with the most remaining capacity: free memory / largest free memory +
 * spare CPUs (cpus x (1 - load) - vCPUs placed) / largest CPU capacity.
 */
static int
algo_least_loaded(pctx *c, diag *d)
{
	g_autofree int *order = g_new(int, c->nunits);
	g_autofree double *cpu_free = g_new(double, c->nhosts);
	double mem_scale = 1, cpu_scale = 1;
	int n = 0, ok = 0;

	for (int h = 0; h < c->nhosts; h++) {
		if (!c->hosts[h].online)
			continue;
		mem_scale = MAX(mem_scale, (double)c->free_mem[h]);
		cpu_scale = MAX(cpu_scale, c->hosts[h].cpus);
		cpu_free[h] = host_weight(&c->hosts[h]) - c->vcpus[h];
	}
	for (int u = 0; u < c->nunits; u++)
		if (c->unit_host[u] < 0)
			order[n++] = u;
	size_ctx sz = { c, mem_scale, cpu_scale };

	g_qsort_with_data(order, n, sizeof(int), cmp_unit_size, &sz);
	for (int k = 0; k < n; k++) {
		int u = order[k], chosen = -1;
		double best = 0;

		for (int h = 0; h < c->nhosts; h++) {
			double room;

			if (!fits(c, u, h))
				continue;
			room = (double)c->free_mem[h] / mem_scale + cpu_free[h] / cpu_scale;
			if (chosen < 0 || room > best) {
				chosen = h;
				best = room;
			}
		}
		if (chosen < 0) {
			explain_unplaceable(c, u, d);
			ok = -1;
			continue;
		}
		place(c, u, chosen);
		cpu_free[chosen] -= c->unit_vcpu[u];
	}
	return ok;
}

/* ---- graph ---- */

/* per net: (host, units there) pairs; a net spans few hosts so lists stay short */
typedef struct {
	net_hc *v;
	int len, cap;
} hc_list;

static int
hc_get(const hc_list *l, int h)
{
	for (int k = 0; k < l->len; k++)
		if (l->v[k].host == h)
			return l->v[k].cnt;
	return 0;
}

static void
hc_add(hc_list *l, int h, int delta)
{
	for (int k = 0; k < l->len; k++)
		if (l->v[k].host == h) {
			l->v[k].cnt += delta;
			if (l->v[k].cnt == 0)
				l->v[k] = l->v[--l->len];
			return;
		}
	if (delta <= 0)
		return;
	if (l->len == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->v = g_renew(net_hc, l->v, l->cap);
	}
	l->v[l->len].host = h;
	l->v[l->len].cnt = delta;
	l->len++;
}

/* max-heap of (gain, unit) with lazy deletion; on equal gain the unit that reached this
 * gain first wins (breadth-first growth: regions stay compact instead of running down a
 * chain) */
typedef struct {
	int gain, unit;
	unsigned seq;
} heap_ent;

typedef struct {
	heap_ent *v;
	int len, cap;
	unsigned seq;
} gheap;

static bool
he_less(heap_ent a, heap_ent b)
{
	return a.gain < b.gain || (a.gain == b.gain && a.seq > b.seq);
}

static void
heap_push(gheap *hp, int gain, int unit)
{
	int i;

	if (hp->len == hp->cap) {
		hp->cap = hp->cap ? hp->cap * 2 : 64;
		hp->v = g_renew(heap_ent, hp->v, hp->cap);
	}
	i = hp->len++;
	hp->v[i].gain = gain;
	hp->v[i].unit = unit;
	hp->v[i].seq = hp->seq++;
	while (i > 0) {
		int p = (i - 1) / 2;

		if (!he_less(hp->v[p], hp->v[i]))
			break;
		heap_ent t = hp->v[p];
		hp->v[p] = hp->v[i];
		hp->v[i] = t;
		i = p;
	}
}

static heap_ent
heap_pop(gheap *hp)
{
	heap_ent top = hp->v[0];
	int i = 0;

	hp->v[0] = hp->v[--hp->len];
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;

		if (l < hp->len && he_less(hp->v[m], hp->v[l]))
			m = l;
		if (r < hp->len && he_less(hp->v[m], hp->v[r]))
			m = r;
		if (m == i)
			break;
		heap_ent t = hp->v[m];
		hp->v[m] = hp->v[i];
		hp->v[i] = t;
		i = m;
	}
	return top;
}

typedef struct {
	pctx *c;
	hc_list *nh;		/* [nnets] */
	double *target;		/* [nhosts] VMs this host should get */
	int *cap;		/* [nhosts] upper balance limit */
	int *floor_;		/* [nhosts] lower balance limit for refinement */
} gctx;

static void
gr_place(gctx *g, int u, int h)
{
	pctx *c = g->c;

	place(c, u, h);
	for (int k = c->unit_net_off[u]; k < c->unit_net_off[u + 1]; k++)
		hc_add(&g->nh[c->unit_net[k]], h, 1);
}

static void
gr_unplace(gctx *g, int u)
{
	pctx *c = g->c;
	int h = c->unit_host[u];

	for (int k = c->unit_net_off[u]; k < c->unit_net_off[u + 1]; k++)
		hc_add(&g->nh[c->unit_net[k]], h, -1);
	unplace(c, u);
}

static int
cmp_host_weight(const void *a, const void *b, void *wp)
{
	const double *w = wp;
	int x = *(const int *)a, y = *(const int *)b;

	if (w[x] != w[y])
		return w[x] > w[y] ? -1 : 1;
	return (x > y) - (x < y);
}

/* phase 1: grow each host's region from its pinned units or a seed along shared nets,
 * taking the unit with most nets already on the host first, until the host's target */
static void
graph_grow(gctx *g, const double *w)
{
	pctx *c = g->c;
	g_autofree int *order = g_new(int, c->nhosts);
	g_autofree int *gain = g_new0(int, c->nunits);
	g_autofree int *rejected = g_new(int, c->nunits);
	g_autofree int *touched = g_new(int, c->nunits);
	g_autofree int *net_seen = g_new(int, c->nnets);
	gheap hp = { 0 };
	int ntouched = 0, seed_cursor = 0;

	for (int h = 0; h < c->nhosts; h++)
		order[h] = h;
	g_qsort_with_data(order, c->nhosts, sizeof(int), cmp_host_weight, (void *)w);
	for (int u = 0; u < c->nunits; u++)
		rejected[u] = -1;
	for (int j = 0; j < c->nnets; j++)
		net_seen[j] = -1;

	/* targets are re-spread over the hosts still to grow, so the rounding up of the first
	 * hosts does not starve the last ones */
	double wleft = 0;
	int vleft = c->nvms;

	for (int h = 0; h < c->nhosts; h++)
		if (c->hosts[h].online)
			wleft += w[h];
	for (int oi = 0; oi < c->nhosts; oi++) {
		int h = order[oi], scan = 0;
		double goal;

		if (!c->hosts[h].online)
			continue;
		goal = wleft > 0 ? (double)vleft * w[h] / wleft : 0;
		wleft -= w[h];
		for (int k = 0; k < ntouched; k++)
			gain[touched[k]] = 0;
		ntouched = 0;
		hp.len = 0;

		/* activate: nets of unit u now reach h; their unplaced units gain. The heap key is
		 * nets on h minus nets elsewhere: a unit whose nets are all here goes first, so
		 * a net is finished before the region moves on through a multi-homed unit */
#define KEY(u_) (2 * gain[u_] - (c->unit_net_off[(u_) + 1] - c->unit_net_off[u_]))
#define ACTIVATE(u_) do { \
		int uu_ = (u_); \
		for (int a_ = c->unit_net_off[uu_]; a_ < c->unit_net_off[uu_ + 1]; a_++) { \
			int n_ = c->unit_net[a_]; \
			if (net_seen[n_] == h) \
				continue; \
			net_seen[n_] = h; \
			for (int b_ = c->net_unit_off[n_]; b_ < c->net_unit_off[n_ + 1]; b_++) { \
				int v_ = c->net_unit[b_]; \
				if (c->unit_host[v_] >= 0 || rejected[v_] == h) \
					continue; \
				if (gain[v_] == 0) \
					touched[ntouched++] = v_; \
				gain[v_]++; \
				heap_push(&hp, KEY(v_), v_); \
			} \
		} \
	} while (0)

		for (int u = 0; u < c->nunits; u++)
			if (c->unit_host[u] == h)
				ACTIVATE(u);
		while (c->load[h] < goal && c->free_slots[h] > 0) {
			int u = -1;

			while (hp.len > 0) {
				heap_ent e = heap_pop(&hp);

				if (c->unit_host[e.unit] >= 0 || rejected[e.unit] == h ||
				    KEY(e.unit) != e.gain)
					continue;
				u = e.unit;
				break;
			}
			if (u < 0) {
				/* nothing linked left: seed with the first unplaced unit; units
				 * before scan are placed or rejected by h for good */
				while (seed_cursor < c->nunits && c->unit_host[seed_cursor] >= 0)
					seed_cursor++;
				if (scan < seed_cursor)
					scan = seed_cursor;
				while (scan < c->nunits &&
				    (c->unit_host[scan] >= 0 || rejected[scan] == h))
					scan++;
				if (scan >= c->nunits)
					break;
				u = scan;
			}
			if (!fits(c, u, h) ||
			    (c->load[h] > 0 && c->load[h] + c->unit_nvms[u] > g->cap[h])) {
				rejected[u] = h;
				continue;
			}
			gr_place(g, u, h);
			ACTIVATE(u);
		}
#undef ACTIVATE
#undef KEY
		vleft -= c->load[h];
	}
	g_free(hp.v);
}

/* leftovers: host with most of the unit's nets, preferring hosts under their limit */
static int
graph_leftovers(gctx *g, diag *d)
{
	pctx *c = g->c;
	int ok = 0;

	for (int u = 0; u < c->nunits; u++) {
		int chosen = -1, best_links = -1;
		bool best_under = false;
		double best_ratio = 0;

		if (c->unit_host[u] >= 0)
			continue;
		for (int h = 0; h < c->nhosts; h++) {
			int links = 0;
			bool under;
			double ratio;

			if (!fits(c, u, h))
				continue;
			for (int k = c->unit_net_off[u]; k < c->unit_net_off[u + 1]; k++)
				links += hc_get(&g->nh[c->unit_net[k]], h) > 0;
			under = c->load[h] + c->unit_nvms[u] <= g->cap[h];
			ratio = (c->load[h] + 1.0) / (g->target[h] + 1e-9);
			if (chosen < 0 || (under && !best_under) ||
			    (under == best_under && (links > best_links ||
			    (links == best_links && ratio < best_ratio)))) {
				chosen = h;
				best_links = links;
				best_under = under;
				best_ratio = ratio;
			}
		}
		if (chosen < 0) {
			explain_unplaceable(c, u, d);
			ok = -1;
			continue;
		}
		gr_place(g, u, chosen);
	}
	return ok;
}

/* phase 2: move boundary units to the neighbouring host that most reduces the nets
 * spanning several hosts (then the sum of spans), within the upper balance limit and the
 * hard limits; a host drops below its lower limit only for a move that uncuts nets */
static void
graph_refine(gctx *g)
{
	pctx *c = g->c;
	g_autofree int *cut_x = g_new0(int, c->nhosts);
	g_autofree int *conn_y = g_new0(int, c->nhosts);
	g_autofree int *cand = g_new(int, c->nhosts);
	g_autofree char *is_cand = g_new0(char, c->nhosts);

	for (int pass = 0; pass < GRAPH_PASSES; pass++) {
		int moved = 0;

		for (int u = 0; u < c->nunits; u++) {
			int a = c->unit_host[u], ncand = 0, base_cut = 0, base_conn = 0;
			int best = -1, best_cut = 0, best_conn = 0;
			bool boundary = false, under;

			if (c->unit_pin[u] >= 0 || c->unit_net_off[u] == c->unit_net_off[u + 1])
				continue;
			for (int k = c->unit_net_off[u]; k < c->unit_net_off[u + 1]; k++)
				if (g->nh[c->unit_net[k]].len > 1) {
					boundary = true;
					break;
				}
			if (!boundary)
				continue;
			/* below the lower limit only moves that uncut nets are worth it */
			under = c->load[a] - c->unit_nvms[u] < g->floor_[a];
			for (int k = c->unit_net_off[u]; k < c->unit_net_off[u + 1]; k++) {
				const hc_list *l = &g->nh[c->unit_net[k]];
				int cnt_a = hc_get(l, a);

				if (l->len == 1)
					base_cut--;	/* becomes cut wherever u goes */
				base_conn += (cnt_a == 1) - 1;
				for (int e = 0; e < l->len; e++) {
					int t = l->v[e].host;

					if (t == a)
						continue;
					if (!is_cand[t]) {
						is_cand[t] = 1;
						cand[ncand++] = t;
						cut_x[t] = conn_y[t] = 0;
					}
					conn_y[t]++;
					if (l->len == 2 && cnt_a == 1)
						cut_x[t]++;
				}
			}
			for (int k = 0; k < ncand; k++) {
				int t = cand[k], cg = base_cut + cut_x[t], ng = base_conn + conn_y[t];

				is_cand[t] = 0;
				if (cg < 0 || (cg == 0 && (ng <= 0 || under)))
					continue;
				if (best >= 0 && (cg < best_cut || (cg == best_cut && (ng < best_conn ||
				    (ng == best_conn && (c->load[t] > c->load[best] ||
				    (c->load[t] == c->load[best] && t > best)))))))
					continue;
				if (c->load[t] + c->unit_nvms[u] > g->cap[t] || !fits(c, u, t))
					continue;
				best = t;
				best_cut = cg;
				best_conn = ng;
			}
			if (best >= 0) {
				gr_unplace(g, u);
				gr_place(g, u, best);
				moved++;
			}
		}
		if (moved == 0)
			break;
	}
}

static int
algo_graph(pctx *c, diag *d)
{
	gctx g = { .c = c };
	g_autofree double *w = g_new(double, c->nhosts);
	g_autofree double *target = g_new(double, c->nhosts);
	g_autofree int *cap = g_new(int, c->nhosts);
	g_autofree int *floor_ = g_new(int, c->nhosts);
	double wsum = 0;
	int ok;

	host_weights(c, w);
	for (int h = 0; h < c->nhosts; h++)
		wsum += w[h];
	for (int h = 0; h < c->nhosts; h++) {
		target[h] = wsum > 0 ? c->nvms * w[h] / wsum : 0;
		cap[h] = (int)ceil(target[h] * GRAPH_IMBALANCE);
		floor_[h] = (int)floor(target[h] * GRAPH_UNDERLOAD);
	}
	g.nh = g_new0(hc_list, c->nnets);
	g.target = target;
	g.cap = cap;
	g.floor_ = floor_;
	for (int u = 0; u < c->nunits; u++)
		if (c->unit_host[u] >= 0)
			for (int k = c->unit_net_off[u]; k < c->unit_net_off[u + 1]; k++)
				hc_add(&g.nh[c->unit_net[k]], c->unit_host[u], 1);

	graph_grow(&g, w);
	ok = graph_leftovers(&g, d);
	if (ok == 0)
		graph_refine(&g);
	for (int j = 0; j < c->nnets; j++)
		g_free(g.nh[j].v);
	g_free(g.nh);
	return ok;
}

/* ---- fallback: a bounded search for the antiaffinity units, then least-loaded ---- */

#define SEARCH_WORK 30000000L	/* about 50 ms of work, then give up */
#define SEARCH_MAX_CELLS (64L * 1024 * 1024)

typedef struct {
	pctx *c;
	int *todo;		/* unpinned units with conflicts */
	int ntodo;
	int *todo_idx;		/* [nunits]: index in todo or -1 */
	int *satcnt;		/* [ntodo x nhosts]: placed conflict neighbours on each host */
	int *sat;		/* [ntodo]: hosts blocked by placed conflict neighbours */
	long work;
} search_ctx;

static void
s_place(search_ctx *sc, int u, int h)
{
	pctx *c = sc->c;

	place(c, u, h);
	for (int k = c->cf_off[u]; k < c->cf_off[u + 1]; k++) {
		int t = sc->todo_idx[c->cf_unit[k]];

		if (t >= 0 && sc->satcnt[(long)t * c->nhosts + h]++ == 0)
			sc->sat[t]++;
	}
}

static void
s_unplace(search_ctx *sc, int u)
{
	pctx *c = sc->c;
	int h = c->unit_host[u];

	for (int k = c->cf_off[u]; k < c->cf_off[u + 1]; k++) {
		int t = sc->todo_idx[c->cf_unit[k]];

		if (t >= 0 && --sc->satcnt[(long)t * c->nhosts + h] == 0)
			sc->sat[t]--;
	}
	unplace(c, u);
}

/* DSATUR-ordered backtracking: the most constrained unit next (most hosts blocked by its
 * antiaffinity peers, then most peers), hosts by free memory */
static bool
search(search_ctx *sc, int left)
{
	pctx *c = sc->c;
	int u = -1, best_sat = -1, best_deg = -1;
	g_autofree int *hosts = NULL;
	int nh = 0;

	if (left == 0)
		return true;
	sc->work += sc->ntodo + c->nhosts;
	if (sc->work > SEARCH_WORK)
		return false;
	for (int k = 0; k < sc->ntodo; k++) {
		int v = sc->todo[k], deg;

		if (c->unit_host[v] >= 0)
			continue;
		deg = c->cf_off[v + 1] - c->cf_off[v];
		if (sc->sat[k] > best_sat || (sc->sat[k] == best_sat && deg > best_deg)) {
			u = v;
			best_sat = sc->sat[k];
			best_deg = deg;
		}
	}
	hosts = g_new(int, c->nhosts);
	for (int h = 0; h < c->nhosts; h++)
		if (fits(c, u, h))
			hosts[nh++] = h;
	/* most free memory first (stable: lower index on ties) */
	for (int i = 1; i < nh; i++)
		for (int j = i; j > 0 && c->free_mem[hosts[j]] > c->free_mem[hosts[j - 1]]; j--) {
			int t = hosts[j];

			hosts[j] = hosts[j - 1];
			hosts[j - 1] = t;
		}
	for (int i = 0; i < nh; i++) {
		s_place(sc, u, hosts[i]);
		if (search(sc, left - 1))
			return true;
		s_unplace(sc, u);
		if (sc->work > SEARCH_WORK)
			return false;
	}
	return false;
}

static int
algo_fallback(pctx *c)
{
	search_ctx sc = { .c = c };
	int ok = -1;

	state_reset(c);
	if (place_pinned(c, NULL) < 0)
		return -1;
	sc.todo = g_new(int, MAX(c->nunits, 1));
	sc.todo_idx = g_new(int, MAX(c->nunits, 1));
	for (int u = 0; u < c->nunits; u++) {
		sc.todo_idx[u] = -1;
		if (c->unit_host[u] < 0 && c->cf_off[u + 1] > c->cf_off[u]) {
			sc.todo_idx[u] = sc.ntodo;
			sc.todo[sc.ntodo++] = u;
		}
	}
	if ((long)sc.ntodo * c->nhosts <= SEARCH_MAX_CELLS) {
		sc.satcnt = g_new0(int, MAX((long)sc.ntodo * c->nhosts, 1));
		sc.sat = g_new0(int, MAX(sc.ntodo, 1));
		/* the pinned units are already placed: count them as blockers */
		for (int k = 0; k < sc.ntodo; k++) {
			int u = sc.todo[k];

			for (int e = c->cf_off[u]; e < c->cf_off[u + 1]; e++) {
				int h = c->unit_host[c->cf_unit[e]];

				if (h >= 0 && sc.satcnt[(long)k * c->nhosts + h]++ == 0)
					sc.sat[k]++;
			}
		}
		if (search(&sc, sc.ntodo))
			ok = algo_least_loaded(c, NULL);
	}
	g_free(sc.todo);
	g_free(sc.todo_idx);
	g_free(sc.satcnt);
	g_free(sc.sat);
	return ok;
}

static int
run_algorithm(pctx *c, plan_algorithm algo, diag *d)
{
	switch (algo) {
	case PLAN_ROUND_ROBIN:
		return algo_round_robin(c, d);
	case PLAN_WEIGHTED_ROUND_ROBIN:
		return algo_weighted_rr(c, d);
	case PLAN_LEAST_LOADED:
		return algo_least_loaded(c, d);
	case PLAN_GRAPH:
		return algo_graph(c, d);
	}
	diag_error(d, NULL, 0, "plan: unknown algorithm %d", (int)algo);
	return -1;
}

/* ---------- public ---------- */

static const char *const algo_names[] = {
	[PLAN_ROUND_ROBIN] = "round-robin",
	[PLAN_WEIGHTED_ROUND_ROBIN] = "weighted-round-robin",
	[PLAN_LEAST_LOADED] = "least-loaded",
	[PLAN_GRAPH] = "graph",
};

int
plan_algorithm_from_name(const char *name, plan_algorithm *out)
{
	if (name == NULL)
		return -1;
	for (size_t i = 0; i < G_N_ELEMENTS(algo_names); i++)
		if (strcmp(name, algo_names[i]) == 0) {
			if (out)
				*out = (plan_algorithm)i;
			return 0;
		}
	return -1;
}

const char *
plan_algorithm_name(plan_algorithm a)
{
	if ((int)a < 0 || (size_t)a >= G_N_ELEMENTS(algo_names))
		return "unknown";
	return algo_names[a];
}

static plan *
plan_build(const pctx *c, plan_algorithm algo)
{
	plan *p = g_new0(plan, 1);

	p->algorithm = algo;
	p->nhosts = c->nhosts;
	p->hosts = g_new0(plan_host, MAX(c->nhosts, 1));
	for (int h = 0; h < c->nhosts; h++) {
		p->hosts[h] = c->hosts[h];
		p->hosts[h].name = g_strdup(c->hosts[h].name);
	}
	p->nvms = c->nvms;
	p->vm_host = g_new0(int, MAX(c->nvms, 1));
	for (int i = 0; i < c->nvms; i++)
		p->vm_host[i] = c->unit_host[c->vm_unit[i]];
	p->nnets = c->nnets;
	p->net_hosts = g_new0(GArray *, MAX(c->nnets, 1));
	p->net_vni = g_new0(uint32_t, MAX(c->nnets, 1));
	{
		g_autofree char *on = g_new0(char, MAX(c->nhosts, 1));

		for (int j = 0; j < c->nnets; j++)
			p->net_hosts[j] = g_array_new(FALSE, FALSE, sizeof(int));
		for (int i = 0; i < c->nvms; i++)
			for (int k = c->vm_net_off[i]; k < c->vm_net_off[i + 1]; k++)
				g_array_append_val(p->net_hosts[c->vm_net[k]], p->vm_host[i]);
		for (int j = 0; j < c->nnets; j++) {
			GArray *a = p->net_hosts[j];
			guint w = 0;

			for (guint k = 0; k < a->len; k++) {
				int h = g_array_index(a, int, k);

				if (!on[h]) {
					on[h] = 1;
					g_array_index(a, int, w++) = h;
				}
			}
			g_array_set_size(a, w);
			for (guint k = 0; k < a->len; k++)
				on[g_array_index(a, int, k)] = 0;
			g_array_sort(a, cmp_int);
		}
	}
	/* a net pinned with net_deploy_at but without VMs still lives on its host */
	if (c->r != NULL && c->r->net_at != NULL)
		for (guint g = 0; g < c->r->net_at->len; g++) {
			const rs_at *at = g_ptr_array_index(c->r->net_at, g);
			int j = name_lookup(c->net_idx, at->what);
			int h = name_lookup(c->host_idx, at->host);

			if (j >= 0 && h >= 0 && p->net_hosts[j]->len == 0)
				g_array_append_val(p->net_hosts[j], h);
		}
	return p;
}

plan *
plan_partition(const scenario *s, const restrictions *r, const plan_host *hosts, int nhosts,
    plan_algorithm algo, diag *d)
{
	pctx c = { 0 };
	plan *p = NULL;
	int ok;

	if (s == NULL || (nhosts > 0 && hosts == NULL) || nhosts < 0) {
		diag_error(d, NULL, 0, "plan: no scenario or hosts given");
		return NULL;
	}
	if ((int)algo < 0 || (size_t)algo >= G_N_ELEMENTS(algo_names)) {
		diag_error(d, NULL, 0, "plan: unknown algorithm %d", (int)algo);
		return NULL;
	}
	c.s = s;
	c.r = r;
	c.rfile = r != NULL ? r->file : NULL;
	c.hosts = hosts;
	c.nhosts = nhosts;
	c.nvms = s->vms != NULL ? (int)s->vms->len : 0;
	c.nnets = s->nets != NULL ? (int)s->nets->len : 0;

	ok = setup_names(&c, d);
	ok |= setup_incidence(&c, d);
	if (ok != 0)
		goto out;
	ok |= setup_units(&c, d);
	ok |= setup_pins(&c, d);
	ok |= setup_conflicts(&c, d);
	if (ok != 0)
		goto out;
	setup_hypergraph(&c);

	c.free_mem = g_new(int64_t, MAX(nhosts, 1));
	c.free_slots = g_new(int64_t, MAX(nhosts, 1));
	c.load = g_new(int, MAX(nhosts, 1));
	c.vcpus = g_new(int, MAX(nhosts, 1));
	c.unit_host = g_new(int, MAX(c.nunits, 1));
	state_reset(&c);
	if (check_totals(&c, d) < 0 || place_pinned(&c, d) < 0) {
		ok = -1;
		goto out;
	}

	{
		g_autoptr(diag) first = diag_new();

		ok = run_algorithm(&c, algo, first);
		if (ok != 0) {
			/* the greedy order failed; a search over the antiaffinity units and then
			 * biggest-first may still fit everything */
			if (algo_fallback(&c) == 0) {
				ok = 0;
				diag_warn(d, NULL, 0, "plan: %s could not place every VM within the limits;"
				    " placed them by a search over the antiaffinity groups and least-loaded"
				    " instead", plan_algorithm_name(algo));
			}
		}
		if (ok != 0)
			for (guint k = 0; k < first->items->len; k++) {
				diag_item *it = g_ptr_array_index(first->items, k);

				if (it->severity == DIAG_ERROR)
					diag_error(d, it->file, it->line, "%s", it->msg);
				else
					diag_warn(d, it->file, it->line, "%s", it->msg);
			}
	}
	if (ok == 0)
		p = plan_build(&c, algo);
out:
	pctx_free(&c);
	return p;
}

void
plan_free(plan *p)
{
	if (p == NULL)
		return;
	for (int h = 0; h < p->nhosts; h++)
		g_free(p->hosts[h].name);
	g_free(p->hosts);
	g_free(p->vm_host);
	for (int j = 0; p->net_hosts != NULL && j < p->nnets; j++)
		if (p->net_hosts[j] != NULL)
			g_array_unref(p->net_hosts[j]);
	g_free(p->net_hosts);
	g_free(p->net_vni);
	/* the allocation arrays carry their own free functions (alloc_plan sets them) */
	if (p->vm_macs != NULL)
		g_ptr_array_unref(p->vm_macs);
	if (p->vm_mgmt_addr != NULL)
		g_ptr_array_unref(p->vm_mgmt_addr);
	g_free(p);
}

int
plan_host_index(const plan *p, const char *name)
{
	if (p == NULL || name == NULL)
		return -1;
	for (int h = 0; h < p->nhosts; h++)
		if (p->hosts[h].name != NULL && strcmp(p->hosts[h].name, name) == 0)
			return h;
	return -1;
}

int
plan_cross_host_nets(const plan *p)
{
	int n = 0;

	if (p == NULL)
		return 0;
	for (int j = 0; j < p->nnets; j++)
		if (p->net_hosts[j] != NULL && p->net_hosts[j]->len > 1)
			n++;
	return n;
}

plan_host *
plan_hosts_from_cluster(const cluster *c, int *nhosts)
{
	plan_host *h;
	int n = c != NULL && c->hosts != NULL ? (int)c->hosts->len : 0;

	if (nhosts != NULL)
		*nhosts = n;
	h = g_new0(plan_host, MAX(n, 1));
	for (int i = 0; i < n; i++) {
		const cl_host *ch = g_ptr_array_index(c->hosts, i);

		h[i].name = g_strdup(ch->name);
		h[i].cpus = ch->cpu;
		h[i].mem_mib = ch->mem_mib;
		h[i].mem_used_mib = 0;
		h[i].load = ch->load;
		h[i].max_vms = ch->max_vms;
		h[i].vms = 0;
		h[i].online = ch->online;
	}
	return h;
}

void
plan_hosts_free(plan_host *h, int n)
{
	if (h == NULL)
		return;
	for (int i = 0; i < n; i++)
		g_free(h[i].name);
	g_free(h);
}
