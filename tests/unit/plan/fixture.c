/* fixture: in-memory scenarios, restrictions and hosts for the planner tests, and a plan checker */
#include "fixture.h"

#include <stdarg.h>
#include <string.h>

const plan_algorithm fx_algos[4] = {
	PLAN_ROUND_ROBIN, PLAN_WEIGHTED_ROUND_ROBIN, PLAN_LEAST_LOADED, PLAN_GRAPH,
};

static void
if_free(gpointer p)
{
	sc_if *i = p;

	g_free(i->net);
	g_free(i->mac);
	g_ptr_array_unref(i->ips);
	g_free(i);
}

static void
vm_free(gpointer p)
{
	sc_vm *v = p;

	g_free(v->name);
	g_free(v->type);
	g_ptr_array_unref(v->ifs);
	g_ptr_array_unref(v->routes);
	g_ptr_array_unref(v->execs);
	g_ptr_array_unref(v->filetrees);
	g_free(v);
}

static void
net_free(gpointer p)
{
	sc_net *n = p;

	g_free(n->name);
	g_free(n);
}

scenario *
fx_scenario_new(const char *name)
{
	scenario *s = g_new0(scenario, 1);

	s->file = g_strdup("test.xml");
	s->name = g_strdup(name);
	s->nets = g_ptr_array_new_with_free_func(net_free);
	s->vms = g_ptr_array_new_with_free_func(vm_free);
	s->cmdseqs = g_ptr_array_new();
	s->host_ifs = g_ptr_array_new();
	s->host_routes = g_ptr_array_new();
	return s;
}

/* the model's own free function: the arrays carry their element free functions */
void
fx_scenario_free(scenario *s)
{
	scenario_free(s);
}

int
fx_net(scenario *s, const char *name)
{
	sc_net *n = g_new0(sc_net, 1);

	n->name = g_strdup(name);
	n->line = (int)s->nets->len + 10;
	n->managed = true;
	n->vlan = -1;
	g_ptr_array_add(s->nets, n);
	return (int)s->nets->len - 1;
}

int
fx_vm(scenario *s, const char *name, uint64_t mem_mib, int vcpu, ...)
{
	sc_vm *v = g_new0(sc_vm, 1);
	va_list ap;
	const char *net;
	int id = 1;

	v->name = g_strdup(name);
	v->line = (int)s->vms->len + 100;
	v->type = g_strdup("libvirt");
	v->mem_mib = mem_mib;
	v->vcpu = vcpu;
	v->ifs = g_ptr_array_new_with_free_func(if_free);
	v->routes = g_ptr_array_new();
	v->execs = g_ptr_array_new();
	v->filetrees = g_ptr_array_new();
	va_start(ap, vcpu);
	while ((net = va_arg(ap, const char *)) != NULL) {
		sc_if *i = g_new0(sc_if, 1);

		i->id = id++;
		i->net = g_strdup(net);
		i->line = v->line;
		i->ips = g_ptr_array_new();
		g_ptr_array_add(v->ifs, i);
	}
	va_end(ap);
	g_ptr_array_add(s->vms, v);
	return (int)s->vms->len - 1;
}

void
fx_vm_if_mac(scenario *s, int vm, int k, const char *mac)
{
	sc_vm *v = g_ptr_array_index(s->vms, vm);
	sc_if *i = g_ptr_array_index(v->ifs, k);

	g_free(i->mac);
	i->mac = g_strdup(mac);
}

restrictions *
fx_restrictions_new(void)
{
	restrictions *r = restrictions_new();

	r->file = g_strdup("r.xml");
	return r;
}

void
fx_restrictions_free(restrictions *r)
{
	restrictions_free(r);
}

static void
add_at(GPtrArray *list, int line, const char *what, const char *host)
{
	rs_at *a = g_new0(rs_at, 1);

	a->what = g_strdup(what);
	a->host = g_strdup(host);
	a->line = line;
	g_ptr_array_add(list, a);
}

void
fx_vm_at(restrictions *r, int line, const char *vm, const char *host)
{
	add_at(r->vm_at, line, vm, host);
}

void
fx_net_at(restrictions *r, int line, const char *net, const char *host)
{
	add_at(r->net_at, line, net, host);
}

static void
add_group(GPtrArray *list, int line, va_list ap)
{
	rs_group *g = g_new0(rs_group, 1);
	const char *n;

	g->line = line;
	g->names = g_ptr_array_new_with_free_func(g_free);
	while ((n = va_arg(ap, const char *)) != NULL)
		g_ptr_array_add(g->names, g_strdup(n));
	g_ptr_array_add(list, g);
}

void
fx_affinity(restrictions *r, int line, ...)
{
	va_list ap;

	va_start(ap, line);
	add_group(r->affinity, line, ap);
	va_end(ap);
}

void
fx_antiaffinity(restrictions *r, int line, ...)
{
	va_list ap;

	va_start(ap, line);
	add_group(r->antiaffinity, line, ap);
	va_end(ap);
}

void
fx_net_together(restrictions *r, int line, const char *net)
{
	rs_group *g = g_new0(rs_group, 1);

	g->line = line;
	g->names = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(g->names, g_strdup(net));
	g_ptr_array_add(r->net_together, g);
}

plan_host *
fx_hosts(int n, uint64_t mem_mib, double cpus)
{
	plan_host *h = g_new0(plan_host, n);

	for (int i = 0; i < n; i++) {
		h[i].name = g_strdup_printf("h%d", i);
		h[i].mem_mib = mem_mib;
		h[i].cpus = cpus;
		h[i].online = true;
	}
	return h;
}

static int
vm_index(const scenario *s, const char *name)
{
	for (guint i = 0; i < s->vms->len; i++)
		if (strcmp(((sc_vm *)g_ptr_array_index(s->vms, i))->name, name) == 0)
			return (int)i;
	return -1;
}

static int
host_index(const plan_host *h, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(h[i].name, name) == 0)
			return i;
	return -1;
}

static bool
vm_on_net(const sc_vm *v, const char *net)
{
	for (guint k = 0; k < v->ifs->len; k++)
		if (strcmp(((sc_if *)g_ptr_array_index(v->ifs, k))->net, net) == 0)
			return true;
	return false;
}

#define VIOL(...) do { nviol++; if (why) { g_string_append_printf(why, __VA_ARGS__); \
	g_string_append_c(why, '\n'); } } while (0)

int
fx_violations(const plan *p, const scenario *s, const restrictions *r,
    const plan_host *hosts, int nhosts, GString *why)
{
	int nviol = 0, nvms = (int)s->vms->len;
	g_autofree uint64_t *mem = g_new0(uint64_t, nhosts);
	g_autofree int *cnt = g_new0(int, nhosts);

	if (p->nvms != nvms || p->nhosts != nhosts || p->nnets != (int)s->nets->len) {
		VIOL("plan sizes differ from the input");
		return nviol;
	}
	for (int i = 0; i < nvms; i++) {
		const sc_vm *v = g_ptr_array_index(s->vms, i);
		int h = p->vm_host[i];

		if (h < 0 || h >= nhosts) {
			VIOL("VM %s has no host", v->name);
			continue;
		}
		if (!hosts[h].online)
			VIOL("VM %s on offline host %s", v->name, hosts[h].name);
		mem[h] += v->mem_mib;
		cnt[h]++;
	}
	if (nviol)
		return nviol;
	for (int h = 0; h < nhosts; h++) {
		if (mem[h] + hosts[h].mem_used_mib > hosts[h].mem_mib && cnt[h] > 0)
			VIOL("host %s memory %" G_GUINT64_FORMAT " + used %" G_GUINT64_FORMAT " > %"
			    G_GUINT64_FORMAT, hosts[h].name, mem[h], hosts[h].mem_used_mib,
			    hosts[h].mem_mib);
		if (mem[h] + hosts[h].mem_promised_mib + hosts[h].mem_reserve_mib >
		    hosts[h].mem_mib && cnt[h] > 0)
			VIOL("host %s memory %" G_GUINT64_FORMAT " + promised %" G_GUINT64_FORMAT
			    " + reserve %" G_GUINT64_FORMAT " > %" G_GUINT64_FORMAT, hosts[h].name,
			    mem[h], hosts[h].mem_promised_mib, hosts[h].mem_reserve_mib,
			    hosts[h].mem_mib);
		if (hosts[h].max_vms > 0 && cnt[h] > 0 && cnt[h] + hosts[h].vms > hosts[h].max_vms)
			VIOL("host %s has %d + %d VMs > max %d", hosts[h].name, cnt[h], hosts[h].vms,
			    hosts[h].max_vms);
	}
	/* net_hosts: exactly the hosts of the net's VMs, ascending */
	for (int j = 0; j < p->nnets; j++) {
		const sc_net *n = g_ptr_array_index(s->nets, j);
		g_autofree char *on = g_new0(char, nhosts);
		int expect = 0;
		GArray *a = p->net_hosts[j];

		for (int i = 0; i < nvms; i++)
			if (vm_on_net(g_ptr_array_index(s->vms, i), n->name) && !on[p->vm_host[i]]) {
				on[p->vm_host[i]] = 1;
				expect++;
			}
		if (expect == 0)
			continue;	/* a net without VMs may carry its pinned host */
		if ((int)a->len != expect)
			VIOL("net %s: net_hosts has %u hosts, VMs are on %d", n->name, a->len, expect);
		for (guint k = 0; k < a->len; k++) {
			int h = g_array_index(a, int, k);

			if (h < 0 || h >= nhosts || !on[h])
				VIOL("net %s: net_hosts lists host %d without its VMs", n->name, h);
			if (k > 0 && g_array_index(a, int, k - 1) >= h)
				VIOL("net %s: net_hosts not ascending", n->name);
		}
	}
	if (r == NULL)
		return nviol;
	for (guint g = 0; g < r->vm_at->len; g++) {
		const rs_at *at = g_ptr_array_index(r->vm_at, g);
		int i = vm_index(s, at->what), h = host_index(hosts, nhosts, at->host);

		if (i >= 0 && p->vm_host[i] != h)
			VIOL("vm_deploy_at %s -> %s broken", at->what, at->host);
	}
	for (guint g = 0; g < r->net_at->len; g++) {
		const rs_at *at = g_ptr_array_index(r->net_at, g);
		int h = host_index(hosts, nhosts, at->host);

		for (int i = 0; i < nvms; i++)
			if (vm_on_net(g_ptr_array_index(s->vms, i), at->what) && p->vm_host[i] != h)
				VIOL("net_deploy_at %s -> %s broken by VM %d", at->what, at->host, i);
	}
	for (guint g = 0; g < r->affinity->len; g++) {
		const rs_group *grp = g_ptr_array_index(r->affinity, g);
		int first = vm_index(s, g_ptr_array_index(grp->names, 0));

		for (guint k = 1; k < grp->names->len; k++)
			if (p->vm_host[vm_index(s, g_ptr_array_index(grp->names, k))] != p->vm_host[first])
				VIOL("affinity at line %d broken", grp->line);
	}
	for (guint g = 0; g < r->antiaffinity->len; g++) {
		const rs_group *grp = g_ptr_array_index(r->antiaffinity, g);

		for (guint k = 0; k < grp->names->len; k++)
			for (guint m = k + 1; m < grp->names->len; m++) {
				int a = vm_index(s, g_ptr_array_index(grp->names, k));
				int b = vm_index(s, g_ptr_array_index(grp->names, m));

				if (a != b && p->vm_host[a] == p->vm_host[b])
					VIOL("antiaffinity at line %d broken", grp->line);
			}
	}
	for (guint g = 0; g < r->net_together->len; g++) {
		const rs_group *grp = g_ptr_array_index(r->net_together, g);
		const char *net = g_ptr_array_index(grp->names, 0);
		int h = -1;

		for (int i = 0; i < nvms; i++)
			if (vm_on_net(g_ptr_array_index(s->vms, i), net)) {
				if (h >= 0 && p->vm_host[i] != h)
					VIOL("net_deploy_together %s broken", net);
				h = p->vm_host[i];
			}
	}
	return nviol;
}

int
fx_cross_nets_recount(const plan *p, const scenario *s)
{
	int n = 0;

	for (guint j = 0; j < s->nets->len; j++) {
		const sc_net *net = g_ptr_array_index(s->nets, j);
		int h = -1;
		bool cross = false;

		for (guint i = 0; i < s->vms->len; i++)
			if (vm_on_net(g_ptr_array_index(s->vms, i), net->name)) {
				if (h >= 0 && p->vm_host[i] != h)
					cross = true;
				h = p->vm_host[i];
			}
		n += cross;
	}
	return n;
}
