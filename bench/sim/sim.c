/* sim: cluster simulation over the balance core — MAPE per host each interval, admission,
 * migrations with duration and CPU cost, penalties, and the metrics of nube-sim */
#include "sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#define PING_PONG_WINDOW 600.0
#define MIG_CPU_SRC 0.3		/* cores the source spends on a live migration */
#define MIG_CPU_DST 0.2		/* cores the destination spends */
#define MIG_DIRTY 1.3		/* pre-copy resends dirty pages: bytes sent / memory */
#define MIG_SETUP 2.0		/* s of fixed cost per migration */
#define HOST_OS_MEM 1024.0	/* MiB used by the host itself */
#define SIM_HIST 64		/* load samples kept per host for the trend */

void
sim_options_defaults(sim_options *o)
{
	*o = (sim_options){ .hours = 24, .step = 10, .bandwidth = 1000, .seed = 1 };
	balance_config_defaults(&o->cfg);
}

typedef struct {
	int vm, src, dst;
	double end;
} sim_mig;

typedef struct {
	GArray *vms;		/* of int */
	balance_detector det;
	balance_penalty pen;
	balance_reservations *res;
	int out, in;		/* migrations in flight */
	double in_mem;		/* MiB reserved by incoming migrations */
	double link_free;	/* outgoing migrations share the uplink: when it is free again */
	double load, mem_used;
	double hist[SIM_HIST];	/* last loads, oldest first (prediction) */
	int n_hist;
} sim_host;

typedef struct {
	int host;
	int prev_host;
	double last_moved;
	bool migrating;
	double cpu;		/* measured cores this sample */
} sim_vm;

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double
percentile(const double *sorted, size_t n, double q)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)ceil(q * n);
	if (i > 0)
		i--;
	if (i >= n)
		i = n - 1;
	return sorted[i];
}

static void
vm_remove(GArray *a, int vm)
{
	for (guint i = 0; i < a->len; i++) {
		if (g_array_index(a, int, i) == vm) {
			g_array_remove_index_fast(a, i);
			return;
		}
	}
}

int
sim_run(const sim_options *o, generator_cluster *c, balance_policy policy, sim_result *out)
{
	GError *err = NULL;
	if (!(o->step > 0) || !(o->hours > 0) || !(o->start_hour >= 0) || !(o->bandwidth > 0) ||
	    balance_config_validate(&o->cfg, &err) < 0) {
		fprintf(stderr, "nube-sim: invalid options%s%s\n", err ? ": " : "",
		    err ? err->message : "");
		g_clear_error(&err);
		return -1;
	}
	gint64 wall0 = g_get_monotonic_time();
	memset(out, 0, sizeof *out);
	out->policy = policy;
	const balance_config *cfg = &o->cfg;
	int nh = c->n_hosts, nv = c->n_vms;
	int steps = (int)llround(o->hours * 3600 / o->step);
	double dt = o->step;
	double mib_per_s = o->bandwidth / 8.0 * 1e6 / (1024.0 * 1024.0);

	generator_reset(c);
	generator_rng wl, order_rng;
	generator_rng_seed(&wl, o->seed);
	generator_rng_seed(&order_rng, o->seed ^ 0x5eedf00dULL);

	sim_host *H = g_new0(sim_host, nh);
	for (int h = 0; h < nh; h++) {
		H[h].vms = g_array_new(FALSE, FALSE, sizeof(int));
		H[h].res = balance_reservations_new();
	}
	sim_vm *V = g_new0(sim_vm, nv);
	for (int v = 0; v < nv; v++) {
		V[v] = (sim_vm){ .host = c->vms[v].home, .prev_host = -1, .last_moved = BALANCE_NEVER };
		g_array_append_val(H[V[v].host].vms, v);
	}
	double *demand = g_new(double, nv), *up = g_new(double, nv), *down = g_new(double, nv);
	balance_vm *vview = g_new0(balance_vm, nv);
	balance_host *hview = g_new0(balance_host, nh);
	int *order = g_new(int, nh);
	GArray *migs = g_array_new(FALSE, FALSE, sizeof(sim_mig));
	GArray *times = g_array_new(FALSE, FALSE, sizeof(double));
	if (o->keep_series) {
		out->series = g_new(float, (size_t)nh * steps);
		out->n_samples = steps;
		out->n_hosts = nh;
	}
	double load_sum = 0;

	for (int s = 0; s < steps; s++) {
		double t = o->start_hour * 3600 + s * dt;
		generator_step(c, &wl, t, dt, demand, up, down);

		/* finished migrations: the VM now runs on its destination */
		for (guint i = 0; i < migs->len;) {
			sim_mig *m = &g_array_index(migs, sim_mig, i);
			if (m->end > t) {
				i++;
				continue;
			}
			sim_vm *vm = &V[m->vm];
			vm_remove(H[m->src].vms, m->vm);
			g_array_append_val(H[m->dst].vms, m->vm);
			vm->host = m->dst;
			if (vm->prev_host == m->dst && m->end - vm->last_moved < PING_PONG_WINDOW)
				out->ping_pong++;
			vm->prev_host = m->src;
			vm->last_moved = m->end;
			vm->migrating = false;
			if (o->trace)
				fprintf(stderr, "t=%.0f '%s' arrived on %s\n", m->end, c->vms[m->vm].name,
				    c->hosts[m->dst].name);
			H[m->src].out--;
			H[m->dst].in--;
			H[m->dst].in_mem -= c->vms[m->vm].mem;
			balance_reservations_release(H[m->dst].res, c->vms[m->vm].name);
			out->migrations++;
			out->migrated_gib += c->vms[m->vm].mem / 1024.0;
			g_array_remove_index_fast(migs, i);
		}

		/* monitor: host load saturates at 1, VMs share the CPUs they get */
		for (int h = 0; h < nh; h++) {
			double d = H[h].out * MIG_CPU_SRC + H[h].in * MIG_CPU_DST, mem = HOST_OS_MEM + H[h].in_mem;
			for (guint i = 0; i < H[h].vms->len; i++) {
				int v = g_array_index(H[h].vms, int, i);
				d += demand[v];
				mem += c->vms[v].mem;
			}
			int cpus = c->hosts[h].cpus;
			double share = d > cpus ? cpus / d : 1;
			for (guint i = 0; i < H[h].vms->len; i++) {
				int v = g_array_index(H[h].vms, int, i);
				V[v].cpu = demand[v] * share;
			}
			H[h].load = fmin(1, d / cpus);
			H[h].mem_used = mem;
			if (H[h].n_hist == SIM_HIST) {
				memmove(H[h].hist, H[h].hist + 1, (SIM_HIST - 1) * sizeof(double));
				H[h].n_hist--;
			}
			H[h].hist[H[h].n_hist++] = H[h].load;
			if (H[h].load >= cfg->load_threshold)
				out->overload_host_seconds += dt;
			if (mem >= cfg->mem_threshold * c->hosts[h].mem_total)
				out->mem_overload_host_seconds += dt;
			if (H[h].load > out->max_load)
				out->max_load = H[h].load;
			load_sum += H[h].load;
			if (out->series)
				out->series[(size_t)h * steps + s] = (float)H[h].load;
		}
		if (policy == BALANCE_POLICY_NONE)
			continue;

		/* telemetry every host publishes this interval */
		int k = 0;
		for (int h = 0; h < nh; h++) {
			balance_host *hv = &hview[h];
			*hv = (balance_host){ .name = c->hosts[h].name, .cpus = c->hosts[h].cpus,
				.mem_total = c->hosts[h].mem_total, .mem_used = H[h].mem_used,
				.load = H[h].load, .active = (int)H[h].vms->len,
				.inactive = c->hosts[h].inactive, .online = true, .vms = &vview[k],
				.n_vms = H[h].vms->len,
				.load_predicted = cfg->predict && policy == BALANCE_POLICY_NUBE ?
				    balance_predict_load(cfg, H[h].hist, (size_t)H[h].n_hist) : 0 };
			for (guint i = 0; i < H[h].vms->len; i++, k++) {
				int v = g_array_index(H[h].vms, int, i);
				const generator_vm *g = &c->vms[v];
				vview[k] = (balance_vm){ .name = g->name,
					.scenario = c->scenarios[g->scenario].name, .nets = g->nets,
					.n_nets = (size_t)g->n_nets, .cpu = V[v].cpu, .load_generated = -1,
					.mem = g->mem, .up = up[v], .down = down[v],
					.last_moved = V[v].last_moved,
					.prev_host = V[v].prev_host >= 0 ? c->hosts[V[v].prev_host].name : NULL,
					.pinned = V[v].migrating };
			}
		}

		/* MAPE on every host, in a random order each interval */
		for (int h = 0; h < nh; h++)
			order[h] = h;
		for (int h = nh - 1; h > 0; h--) {
			int j = (int)generator_below(&order_rng, (uint32_t)h + 1);
			int x = order[h];
			order[h] = order[j];
			order[j] = x;
		}
		for (int oi = 0; oi < nh; oi++) {
			int h = order[oi];
			/* a host migrating VMs away waits for them (seed §4.4.5) */
			if (H[h].out > 0)
				continue;
			balance_state st = balance_analyse(&H[h].det, &H[h].pen, cfg, &hview[h],
			    (size_t)nh - 1, t);
			if (st != BALANCE_OVERLOADED)
				continue;
			gint64 t0 = g_get_monotonic_time();
			balance_plan *p = balance_plan_new(policy, cfg, &hview[h], hview, (size_t)nh, t);
			gint64 t1 = g_get_monotonic_time();
			double us = (double)(t1 - t0);
			g_array_append_val(times, us);
			out->plans++;
			if (o->trace) {
				g_autofree char *txt = balance_plan_format(p);
				fprintf(stderr, "t=%.0f %s", t, txt);
			}
			int refused = 0;
			for (guint i = 0; i < p->moves->len; i++) {
				const balance_move *m = p->moves->pdata[i];
				int dst = atoi(m->dst + 1);
				int v = -1;
				balance_vm *view = NULL;
				for (size_t q = 0; q < hview[h].n_vms; q++) {
					if (strcmp(hview[h].vms[q].name, m->vm) == 0) {
						view = (balance_vm *)&hview[h].vms[q];
						v = g_array_index(H[h].vms, int, q);
						break;
					}
				}
				if (v < 0 || dst < 0 || dst >= nh)
					continue;
				balance_request rq = balance_move_request(m);
				balance_admission adm;
				if (!balance_admit(H[dst].res, policy, cfg, &hview[dst], &rq, t, &adm)) {
					if (o->trace)
						fprintf(stderr, "t=%.0f %s refuses '%s': %s\n", t, m->dst, m->vm,
						    adm.reason);
					refused++;
					continue;
				}
				/* migrations from one host share its uplink: they queue */
				double dur = MIG_SETUP + c->vms[v].mem * MIG_DIRTY / mib_per_s;
				double start = fmax(t, H[h].link_free);
				H[h].link_free = start + dur;
				sim_mig mg = { .vm = v, .src = h, .dst = dst, .end = start + dur };
				g_array_append_val(migs, mg);
				V[v].migrating = true;
				view->pinned = true;
				H[h].out++;
				H[dst].in++;
				H[dst].in_mem += c->vms[v].mem;
			}
			out->refused += refused;
			if (!p->solved || refused) {
				balance_penalty_fail(&H[h].pen, cfg, t);
				out->penalties++;
			} else {
				balance_penalty_clear(&H[h].pen);
			}
			balance_plan_free(p);
		}
	}

	out->mean_load = load_sum / ((double)nh * steps);
	/* scenario nets spread over hosts at the end */
	for (int s = 0; s < c->n_scenarios; s++) {
		const generator_scenario *sc = &c->scenarios[s];
		for (int n = 0; n < sc->n_nets; n++) {
			int hosts[16], nhosts = 0;
			for (int v = sc->first_vm; v < sc->first_vm + sc->n_vms; v++) {
				const generator_vm *g = &c->vms[v];
				bool on = false;
				for (int q = 0; q < g->n_nets; q++)
					on |= g->nets[q] == sc->nets[n];
				if (!on)
					continue;
				int x;
				for (x = 0; x < nhosts && hosts[x] != V[v].host; x++)
					;
				if (x == nhosts && nhosts < 16)
					hosts[nhosts++] = V[v].host;
			}
			if (nhosts == 0)
				continue;
			out->nets_total++;
			out->cross_host_nets += nhosts > 1;
			out->net_extra_hosts += nhosts - 1;
		}
	}
	qsort(times->data, times->len, sizeof(double), dcmp);
	out->decision_us_p50 = percentile((double *)times->data, times->len, 0.50);
	out->decision_us_p99 = percentile((double *)times->data, times->len, 0.99);
	out->decision_us_max = times->len ? g_array_index(times, double, times->len - 1) : 0;

	for (int h = 0; h < nh; h++) {
		g_array_free(H[h].vms, TRUE);
		balance_reservations_free(H[h].res);
	}
	g_free(H);
	g_free(V);
	g_free(demand);
	g_free(up);
	g_free(down);
	g_free(vview);
	g_free(hview);
	g_free(order);
	g_array_free(migs, TRUE);
	g_array_free(times, TRUE);
	out->wall_seconds = (g_get_monotonic_time() - wall0) / 1e6;
	return 0;
}

void
sim_result_clear(sim_result *r)
{
	if (!r)
		return;
	g_free(r->series);
	r->series = NULL;
}

json_t *
sim_result_to_json(const sim_result *r)
{
	return json_pack("{s:s, s:f, s:f, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:i, s:i, s:i, s:f, s:f, "
	    "s:f, s:f, s:f}",
	    "policy", balance_policy_name(r->policy),
	    "overload_host_seconds", r->overload_host_seconds,
	    "mem_overload_host_seconds", r->mem_overload_host_seconds,
	    "migrations", r->migrations, "ping_pong", r->ping_pong, "refused", r->refused,
	    "plans", r->plans, "penalties", r->penalties,
	    "max_load", r->max_load, "mean_load", r->mean_load,
	    "nets_total", r->nets_total, "cross_host_nets", r->cross_host_nets,
	    "net_extra_hosts", r->net_extra_hosts, "migrated_gib", r->migrated_gib,
	    "decision_us_p50", r->decision_us_p50, "decision_us_p99", r->decision_us_p99,
	    "decision_us_max", r->decision_us_max, "wall_seconds", r->wall_seconds);
}

int
sim_decision_bench(balance_policy policy, const balance_config *cfg, int n_hosts,
    int vms_per_host, int rounds, uint64_t seed, double *p50, double *p99, double *checks)
{
	generator_rng r;
	generator_rng_seed(&r, seed);
	size_t nv = (size_t)n_hosts * vms_per_host;
	balance_vm *vms = g_new0(balance_vm, nv);
	balance_host *hosts = g_new0(balance_host, n_hosts);
	char (*hname)[16] = g_malloc0(sizeof *hname * n_hosts);
	char (*vname)[24] = g_malloc0(sizeof *vname * nv);
	char (*sname)[24] = g_malloc0(sizeof *sname * (nv / 5 + 1));
	static const char *const netnames[] = { "net0", "net1", "net2", "net3" };
	for (size_t s = 0; s < nv / 5 + 1; s++)
		snprintf(sname[s], sizeof sname[s], "sc%zu", s);
	double *times = g_new(double, rounds);
	double check_sum = 0;
	for (int round = 0; round < rounds; round++) {
		for (int h = 0; h < n_hosts; h++) {
			snprintf(hname[h], sizeof hname[h], "h%03d", h);
			int cpus = 8 << generator_below(&r, 4);
			hosts[h] = (balance_host){ .name = hname[h], .cpus = cpus,
				.mem_total = cpus * 4096.0, .mem_used = cpus * 4096.0 * 0.5,
				.load = 0.1 + 0.45 * generator_uniform(&r), .active = vms_per_host,
				.online = true, .vms = &vms[(size_t)h * vms_per_host],
				.n_vms = (size_t)vms_per_host };
			for (int i = 0; i < vms_per_host; i++) {
				size_t k = (size_t)h * vms_per_host + i;
				snprintf(vname[k], sizeof vname[k], "vm%zu", k);
				/* random scenarios so nets are spread across hosts */
				size_t sc = generator_below(&r, (uint32_t)(nv / 5 + 1));
				vms[k] = (balance_vm){ .name = vname[k], .scenario = sname[sc],
					.nets = (const char *const *)&netnames[generator_below(&r, 3)],
					.n_nets = 1 + generator_below(&r, 2),
					.cpu = 0.05 + 0.6 * generator_uniform(&r) * cpus / vms_per_host,
					.load_generated = -1, .mem = 1024.0 * (1 + generator_below(&r, 8)),
					.up = 0.01, .down = 0.02, .last_moved = BALANCE_NEVER };
			}
		}
		/* the source: its VMs' demand makes it 85 % busy */
		double sum = 0;
		for (size_t i = 0; i < hosts[0].n_vms; i++)
			sum += vms[i].cpu;
		for (size_t i = 0; i < hosts[0].n_vms; i++)
			vms[i].cpu *= 0.85 * hosts[0].cpus / sum;
		hosts[0].load = 0.85;
		gint64 t0 = g_get_monotonic_time();
		balance_plan *p = balance_plan_new(policy, cfg, &hosts[0], hosts, (size_t)n_hosts,
		    1000.0 * round);
		gint64 t1 = g_get_monotonic_time();
		times[round] = (double)(t1 - t0);
		check_sum += p->checks;
		balance_plan_free(p);
	}
	qsort(times, rounds, sizeof(double), dcmp);
	*p50 = percentile(times, rounds, 0.5);
	*p99 = percentile(times, rounds, 0.99);
	*checks = check_sum / rounds;
	g_free(times);
	g_free(vms);
	g_free(hosts);
	g_free(hname);
	g_free(vname);
	g_free(sname);
	return 0;
}
