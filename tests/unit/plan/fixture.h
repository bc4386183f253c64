/* fixture: build scenarios, restrictions and hosts in memory for the planner tests, and check plans */
#ifndef NUBE_TEST_PLAN_FIXTURE_H
#define NUBE_TEST_PLAN_FIXTURE_H

#include <glib.h>

#include "plan/plan.h"

/* scenario with no VMs or nets; free with fx_scenario_free */
scenario *fx_scenario_new(const char *name);
void fx_scenario_free(scenario *s);
/* fx_net: add a net, returns its index */
int fx_net(scenario *s, const char *name);
/* fx_vm: add a VM with one interface per net name (NULL-terminated list), ids 1.. */
int fx_vm(scenario *s, const char *name, uint64_t mem_mib, int vcpu, ...) G_GNUC_NULL_TERMINATED;
/* fx_vm_if_mac: set the explicit MAC of interface k of VM i */
void fx_vm_if_mac(scenario *s, int vm, int k, const char *mac);

/* restrictions, file "r.xml"; free with fx_restrictions_free */
restrictions *fx_restrictions_new(void);
void fx_restrictions_free(restrictions *r);
void fx_vm_at(restrictions *r, int line, const char *vm, const char *host);
void fx_net_at(restrictions *r, int line, const char *net, const char *host);
void fx_affinity(restrictions *r, int line, ...) G_GNUC_NULL_TERMINATED;
void fx_antiaffinity(restrictions *r, int line, ...) G_GNUC_NULL_TERMINATED;
void fx_net_together(restrictions *r, int line, const char *net);

/* n hosts "h0".."h<n-1>" with mem_mib and cpus each, online; free with plan_hosts_free */
plan_host *fx_hosts(int n, uint64_t mem_mib, double cpus);

/* fx_violations: check every constraint the planner promises on p (placement on online
 * hosts, memory, max_vms, pins, affinity, antiaffinity, net_together, net_hosts content and
 * order). Returns the number of violations, each described in *why (may be NULL). */
int fx_violations(const plan *p, const scenario *s, const restrictions *r,
    const plan_host *hosts, int nhosts, GString *why);

/* fx_cross_nets_recount: nets spanning >1 host, recomputed from vm_host */
int fx_cross_nets_recount(const plan *p, const scenario *s);

extern const plan_algorithm fx_algos[4];

#endif
