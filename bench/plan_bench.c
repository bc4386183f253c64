/* plan_bench: time plan_partition on a 10,000-VM x 100-host scenario for every algorithm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"
#include "fixture.h"

/*
 * The scenario: 1,600 LANs of 6-7 VMs; the first VM of each LAN is a router that also sits on
 * a transit net shared by the routers of 4 consecutive LANs (400 transit nets), and every
 * fourth router joins the next transit net too, so the whole thing is one connected
 * topology of 2,000 nets. Restrictions: 200 affinity pairs inside LANs, 100 antiaffinity
 * groups of 3-5 VMs from different LANs, 50 vm_deploy_at, 20 net_deploy_at and 50
 * net_deploy_together LANs. 100 hosts of 64 GiB with 8..64 CPUs and 0..50 % load.
 */

#define NVMS 10000
#define NLANS 1600
#define NTRANSIT 400
#define NHOSTS 100

static int
lan_of(int vm)
{
	return (int)((long)vm * NLANS / NVMS);
}

static void
build(scenario **sp, restrictions **rp, plan_host **hp)
{
	GRand *g = g_rand_new_with_seed(42);
	scenario *s = fx_scenario_new("bench");
	restrictions *r = fx_restrictions_new();
	plan_host *h = fx_hosts(NHOSTS, 64 * 1024, 8);
	char name[32], lan[16], tr[16], tr2[16];
	static const uint64_t mems[] = { 128, 256, 256, 512 };

	for (int j = 0; j < NLANS; j++) {
		g_snprintf(name, sizeof name, "lan%d", j);
		fx_net(s, name);
	}
	for (int t = 0; t < NTRANSIT; t++) {
		g_snprintf(name, sizeof name, "tr%d", t);
		fx_net(s, name);
	}
	for (int i = 0; i < NVMS; i++) {
		int l = lan_of(i);
		bool router = i == 0 || lan_of(i - 1) != l;
		uint64_t mem = mems[g_rand_int_range(g, 0, 4)];

		g_snprintf(name, sizeof name, "vm%d", i);
		g_snprintf(lan, sizeof lan, "lan%d", l);
		g_snprintf(tr, sizeof tr, "tr%d", l / 4);
		g_snprintf(tr2, sizeof tr2, "tr%d", (l / 4 + 1) % NTRANSIT);
		if (router && l % 4 == 3)
			fx_vm(s, name, mem, 2, lan, tr, tr2, NULL);
		else if (router)
			fx_vm(s, name, mem, 2, lan, tr, NULL);
		else
			fx_vm(s, name, mem, 1, lan, NULL);
	}
	/* affinity: two VMs of one LAN (LANs 1 mod 8) */
	for (int k = 0; k < 200; k++) {
		int first = -1, l = 8 * k + 1;

		for (int i = 0; i < NVMS && first < 0; i++)
			if (lan_of(i) == l)
				first = i;
		char a[16], b[16];
		g_snprintf(a, sizeof a, "vm%d", first + 1);
		g_snprintf(b, sizeof b, "vm%d", first + 2);
		fx_affinity(r, 1000 + k, a, b, NULL);
	}
	/* antiaffinity: 3-5 non-router VMs from distinct LANs 3 mod 10 */
	for (int k = 0; k < 100; k++) {
		int n = g_rand_int_range(g, 3, 6);
		GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
		rs_group *grp = g_new0(rs_group, 1);

		for (int m = 0; m < n; m++) {
			int l = 10 * ((k * 5 + m) % (NLANS / 10)) + 3;
			int i = (int)(((long)l * NVMS + NLANS - 1) / NLANS) + 1;

			g_ptr_array_add(names, g_strdup_printf("vm%d", i));
		}
		grp->names = names;
		grp->line = 2000 + k;
		g_ptr_array_add(r->antiaffinity, grp);
	}
	/* pins */
	for (int k = 0; k < 50; k++) {
		int l = 10 * (k * 3 % (NLANS / 10)) + 7;
		int i = (int)(((long)l * NVMS + NLANS - 1) / NLANS) + 1;

		g_snprintf(name, sizeof name, "vm%d", i);
		fx_vm_at(r, 3000 + k, name, h[(k * 7) % NHOSTS].name);
	}
	for (int k = 0; k < 20; k++) {
		g_snprintf(name, sizeof name, "lan%d", 80 * k + 5);
		fx_net_at(r, 4000 + k, name, h[(k * 13) % NHOSTS].name);
	}
	for (int k = 0; k < 50; k++) {
		g_snprintf(name, sizeof name, "lan%d", 32 * k);
		fx_net_together(r, 5000 + k, name);
	}
	for (int k = 0; k < NHOSTS; k++) {
		h[k].cpus = 8 * g_rand_int_range(g, 1, 9);
		h[k].load = g_rand_double_range(g, 0, 0.5);
	}
	g_rand_free(g);
	*sp = s;
	*rp = r;
	*hp = h;
}

static int
cmp_i64(const void *a, const void *b)
{
	gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	scenario *s;
	restrictions *r;
	plan_host *h;
	int reps = argc > 1 ? atoi(argv[1]) : 7;
	double rr_min = 0;
	int status = 0;

	if (reps < 1)
		reps = 1;
	build(&s, &r, &h);
	printf("plan-bench: %u VMs, %u nets, %d hosts, %d repetitions\n", s->vms->len,
	    s->nets->len, NHOSTS, reps);
	printf("%-22s %9s %9s %8s %10s %9s %9s\n", "algorithm", "min ms", "median ms",
	    "min/rr", "cross-nets", "min VMs", "max VMs");
	for (int k = 0; k < 4; k++) {
		plan_algorithm a = fx_algos[k];
		g_autofree gint64 *t = g_new(gint64, reps);
		plan *p = NULL;
		int lo = NVMS, hi = 0, cnt[NHOSTS] = { 0 };
		double median;

		for (int i = 0; i < reps; i++) {
			g_autoptr(diag) d = diag_new();
			gint64 t0 = g_get_monotonic_time();

			plan_free(p);
			p = plan_partition(s, r, h, NHOSTS, a, d);
			t[i] = g_get_monotonic_time() - t0;
			if (p == NULL || diag_has_errors(d) || d->nwarnings > 0) {
				diag_print(d, stderr);
				if (p == NULL) {
					status = 1;
					break;
				}
			}
		}
		if (p == NULL)
			continue;
		if (fx_violations(p, s, r, h, NHOSTS, NULL) != 0) {
			fprintf(stderr, "%s: plan breaks restrictions\n", plan_algorithm_name(a));
			status = 1;
		}
		for (int i = 0; i < p->nvms; i++)
			cnt[p->vm_host[i]]++;
		for (int j = 0; j < NHOSTS; j++) {
			lo = MIN(lo, cnt[j]);
			hi = MAX(hi, cnt[j]);
		}
		qsort(t, reps, sizeof(gint64), cmp_i64);
		median = t[reps / 2] / 1000.0;
		if (k == 0)
			rr_min = t[0] / 1000.0;
		printf("%-22s %9.2f %9.2f %7.2fx %10d %9d %9d\n", plan_algorithm_name(a), t[0] / 1000.0,
		    median, t[0] / 1000.0 / rr_min, plan_cross_host_nets(p), lo, hi);
		plan_free(p);
	}
	plan_hosts_free(h, NHOSTS);
	fx_restrictions_free(r);
	fx_scenario_free(s);
	return status;
}
