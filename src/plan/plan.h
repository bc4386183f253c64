/* plan: partition a scenario over hosts under restrictions (pure: reads and writes nothing) */
#ifndef NUBE_PLAN_H
#define NUBE_PLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "scenario/scenario.h"
#include "util/diag.h"

/* One candidate host as the planner sees it (from cluster.conf or from live telemetry). */
typedef struct {
	char *name;
	double cpus;		/* CPU capacity (count or EDIV weight) */
	uint64_t mem_mib;	/* total memory */
	uint64_t mem_used_mib;	/* already used (live hosts), 0 from a file */
	uint64_t mem_promised_mib;	/* configured memory of the VMs already there (live) */
	uint64_t mem_reserve_mib;	/* kept for the host itself, never given to VMs */
	double load;		/* 0..1 current CPU load */
	int max_vms;		/* 0 = unlimited */
	int vms;		/* VMs already running there */
	bool online;
} plan_host;

typedef enum {
	PLAN_ROUND_ROBIN,
	PLAN_WEIGHTED_ROUND_ROBIN,
	PLAN_LEAST_LOADED,
	PLAN_GRAPH,
} plan_algorithm;

/* plan_algorithm_from_name: "round-robin", "weighted-round-robin", "least-loaded", "graph".
 * Returns 0 and sets *out, or -1 for an unknown name. */
int plan_algorithm_from_name(const char *name, plan_algorithm *out);
const char *plan_algorithm_name(plan_algorithm a);

typedef struct {
	plan_algorithm algorithm;
	int nhosts;
	plan_host *hosts;	/* copy of the input hosts (names owned) */
	int nvms;
	int *vm_host;		/* [nvms]: host index of scenario->vms[i] */
	int nnets;
	GArray **net_hosts;	/* [nnets]: GArray of int host indexes, ascending, for scenario->nets[j] */
	uint32_t *net_vni;	/* [nnets]: VXLAN VNI, 0 = net on one host (filled by alloc) */
	/* allocations (filled by alloc_*; NULL until then; the arrays carry free functions:
	 * vm_macs frees its inner arrays, which free their strings; plan_free unrefs both) */
	GPtrArray *vm_macs;	/* [nvms] of GPtrArray of char* MAC per sc_if in file order, NULL entry if none */
	GPtrArray *vm_mgmt_addr;/* [nvms] of char* "a.b.c.d/len", NULL when mgmt none */
} plan;

/* plan_host_free_mem: memory a host can still give to new VMs: mem_mib minus the larger
 * of mem_used_mib and mem_promised_mib + mem_reserve_mib (guests may use all they were
 * promised later, so what they use now is not what is free); 0 when nothing is left. */
uint64_t plan_host_free_mem(const plan_host *h);

/* plan_partition: place every VM of s on one of hosts[0..nhosts) honouring r (may be NULL)
 * and capacity (memory: sum of VM mem <= plan_host_free_mem; max_vms counting vms
 * already there; offline hosts are never used). Returns a new plan (free with plan_free)
 * or NULL with the reason(s) in d (which constraint or host is the obstacle).
 * The scenario and restrictions must have been validated. Deterministic for equal input. */
plan *plan_partition(const scenario *s, const restrictions *r,
    const plan_host *hosts, int nhosts, plan_algorithm algo, diag *d);

void plan_free(plan *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(plan, plan_free)

/* plan_host_index: index of a host by name in p->hosts, -1 when absent */
int plan_host_index(const plan *p, const char *name);

/* plan_cross_host_nets: number of nets spanning more than one host */
int plan_cross_host_nets(const plan *p);

/* plan_hosts_from_cluster: fill a new array of plan_host from c (names duplicated);
 * free with plan_hosts_free. */
plan_host *plan_hosts_from_cluster(const cluster *c, int *nhosts);
void plan_hosts_free(plan_host *h, int n);

#endif
