/* generator: synthetic heterogeneous cluster and CPU workload for nube-sim (see generator.h) */
#include "generator.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <glib.h>

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
generator_rng_seed(generator_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
generator_next(generator_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double
generator_uniform(generator_rng *r)
{
	return (double)(generator_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

uint32_t
generator_below(generator_rng *r, uint32_t n)
{
	return (uint32_t)(generator_uniform(r) * n);
}

double
generator_exp(generator_rng *r, double mean)
{
	return -mean * log(1.0 - generator_uniform(r));
}

/* host types: CPUs and GiB of memory */
static const struct {
	int cpus;
	int mem_gib;
	int weight;
} host_types[] = {
	{ 8, 32, 2 }, { 16, 64, 3 }, { 24, 96, 2 }, { 32, 128, 2 }, { 64, 256, 1 },
};

static const int vm_vcpus[] = { 1, 1, 2, 2, 2, 4, 4, 8 };
static const int vm_mem_gib[] = { 1, 1, 2, 2, 4, 4, 8 };

static int
pick_host(generator_rng *r, const generator_cluster *c, const double *mem_free, double mem,
    int total_cpus)
{
	/* weighted by CPUs, a few tries for one with memory, else the one with most free */
	for (int tries = 0; tries < 20; tries++) {
		uint32_t x = generator_below(r, (uint32_t)total_cpus);
		int h = 0;
		while (x >= (uint32_t)c->hosts[h].cpus) {
			x -= (uint32_t)c->hosts[h].cpus;
			h++;
		}
		if (mem_free[h] >= mem)
			return h;
	}
	int best = 0;
	for (int h = 1; h < c->n_hosts; h++)
		if (mem_free[h] > mem_free[best])
			best = h;
	return best;
}

generator_cluster *
generator_cluster_new(int n_hosts, int n_vms, uint64_t seed)
{
	generator_rng r;
	generator_rng_seed(&r, seed);
	generator_cluster *c = g_new0(generator_cluster, 1);
	c->load_scale = 1;
	c->n_hosts = n_hosts;
	c->hosts = g_new0(generator_host, n_hosts);
	int wsum = 0;
	for (size_t i = 0; i < G_N_ELEMENTS(host_types); i++)
		wsum += host_types[i].weight;
	int total_cpus = 0;
	for (int h = 0; h < n_hosts; h++) {
		int x = (int)generator_below(&r, (uint32_t)wsum);
		size_t t = 0;
		while (x >= host_types[t].weight) {
			x -= host_types[t].weight;
			t++;
		}
		generator_host *gh = &c->hosts[h];
		snprintf(gh->name, sizeof gh->name, "h%03d", h);
		gh->cpus = host_types[t].cpus;
		gh->mem_total = host_types[t].mem_gib * 1024.0;
		gh->inactive = (int)generator_below(&r, 3);
		total_cpus += gh->cpus;
	}
	/* scenarios of 2..12 VMs with 1..4 nets; every VM on 1..2 of its scenario's nets */
	c->vms = g_new0(generator_vm, n_vms);
	c->n_vms = n_vms;
	c->scenarios = g_new0(generator_scenario, n_vms);
	double *mem_free = g_new(double, n_hosts);
	for (int h = 0; h < n_hosts; h++)
		mem_free[h] = 0.85 * c->hosts[h].mem_total;
	int v = 0;
	while (v < n_vms) {
		generator_scenario *s = &c->scenarios[c->n_scenarios];
		snprintf(s->name, sizeof s->name, "sc%03d", c->n_scenarios);
		s->n_nets = 1 + (int)generator_below(&r, GENERATOR_MAX_NETS);
		for (int k = 0; k < s->n_nets; k++)
			snprintf(s->nets[k], sizeof s->nets[k], "net%d", k);
		int n = 2 + (int)generator_below(&r, 11);
		if (n > n_vms - v)
			n = n_vms - v;
		s->first_vm = v;
		s->n_vms = n;
		/* a scenario's character: some busy, most quiet */
		double busy = generator_uniform(&r) < 0.25 ? 2.0 : 1.0;
		double phase = generator_uniform(&r) * 6 * 3600 - 3 * 3600;
		int host = -1;
		for (int i = 0; i < n; i++, v++) {
			generator_vm *vm = &c->vms[v];
			snprintf(vm->name, sizeof vm->name, "%s-vm%d", s->name, i);
			vm->scenario = c->n_scenarios;
			vm->vcpus = vm_vcpus[generator_below(&r, G_N_ELEMENTS(vm_vcpus))];
			vm->mem = vm_mem_gib[generator_below(&r, G_N_ELEMENTS(vm_mem_gib))] * 1024.0;
			vm->base = busy * (0.03 + 0.11 * generator_uniform(&r));
			vm->amp = 0.3 + 0.6 * generator_uniform(&r);
			vm->phase = phase + generator_uniform(&r) * 1800;
			vm->net = 0.002 + 0.02 * generator_uniform(&r);
			int a = (int)generator_below(&r, (uint32_t)s->n_nets);
			vm->nets[vm->n_nets++] = s->nets[a];
			if (s->n_nets > 1 && generator_uniform(&r) < 0.4)
				vm->nets[vm->n_nets++] = s->nets[(a + 1) % s->n_nets];
			/* keep the scenario on one host while it fits (EDIV-like), then spill */
			if (host < 0 || mem_free[host] < vm->mem || generator_uniform(&r) < 0.25)
				host = pick_host(&r, c, mem_free, vm->mem, total_cpus);
			vm->home = host;
			mem_free[host] -= vm->mem;
		}
		c->n_scenarios++;
	}
	g_free(mem_free);
	return c;
}

void
generator_cluster_free(generator_cluster *c)
{
	if (!c)
		return;
	g_free(c->hosts);
	g_free(c->vms);
	g_free(c->scenarios);
	g_free(c);
}

void
generator_reset(generator_cluster *c)
{
	for (int v = 0; v < c->n_vms; v++)
		c->vms[v].burst_until = c->vms[v].burst_level = 0;
	for (int s = 0; s < c->n_scenarios; s++)
		c->scenarios[s].crowd_until = c->scenarios[s].crowd_level = 0;
}

void
generator_step(generator_cluster *c, generator_rng *rng, double t, double dt, double *demand,
    double *up, double *down)
{
	const double day = 86400;
	/* flash crowds: each scenario about once in three days, 10-40 min, x2-x4 */
	for (int s = 0; s < c->n_scenarios; s++) {
		generator_scenario *sc = &c->scenarios[s];
		if (t >= sc->crowd_until && generator_uniform(rng) < dt / (3 * day)) {
			sc->crowd_until = t + 600 + generator_uniform(rng) * 1800;
			sc->crowd_level = 2 + 2 * generator_uniform(rng);
		}
	}
	for (int v = 0; v < c->n_vms; v++) {
		generator_vm *vm = &c->vms[v];
		const generator_scenario *sc = &c->scenarios[vm->scenario];
		/* bursts: about every 8 h per VM, mean 4 min, +30..100 % of its vcpus */
		if (t >= vm->burst_until && generator_uniform(rng) < dt / (8 * 3600)) {
			vm->burst_until = t + generator_exp(rng, 240);
			vm->burst_level = 0.3 + 0.7 * generator_uniform(rng);
		}
		double diurnal = 1 + vm->amp * sin(2 * G_PI * (t + vm->phase) / day - G_PI / 2);
		double u = vm->base * diurnal * (0.9 + 0.2 * generator_uniform(rng));
		if (t < sc->crowd_until)
			u *= sc->crowd_level;
		if (t < vm->burst_until)
			u += vm->burst_level;
		u *= c->load_scale;
		if (u > 1)
			u = 1;
		demand[v] = u * vm->vcpus;
		if (up)
			up[v] = fmin(1, vm->net * (0.5 + u));
		if (down)
			down[v] = fmin(1, vm->net * 1.5 * (0.5 + u));
	}
}
