/* hoststate: the retained state message of one host (nube/v1/host/<h>/state), typed. The
 * agent's telemetry builds it, its peers' balancers and the CLI read it; one JSON form, one
 * freshness rule. Pure: builds and reads jansson objects.
 *
 * JSON: {"host", "ts": unix_ms, "online": true, "interval": s, "cpus", "load": 0..1,
 *   "mem_total_mib", "mem_used_mib", "mem_promised_mib"? (configured memory of its VMs;
 *   absent when libvirt did not answer), "mem_reserve_mib", "fabric_addr", "domain_type"?,
 *   "libvirt": bool, "active", "inactive",
 *   "vms": [{"scenario"?, "vm"?, "domain", "state"?, "active", "cpu": CPUs used, "load":
 *   share of the host's capacity, "mem_mib", "vcpus", "rx_bps", "tx_bps", "nets": [N...],
 *   "container"?: true (an LXC container)}],
 *   "balance"?: {...} (the agent balancer's own view, see agent/mape.h)} */
#ifndef NUBE_WIRE_HOSTSTATE_H
#define NUBE_WIRE_HOSTSTATE_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <jansson.h>

/* a state is fresh while now - ts <= HOST_STATE_FRESH_INTERVALS * interval + grace: a host
 * that missed three samples in a row no longer counts as live */
#define HOST_STATE_FRESH_INTERVALS	3
#define HOST_STATE_FRESH_GRACE_MS	3000
#define HOST_STATE_DEFAULT_INTERVAL	10

typedef struct {
	char *scenario, *vm, *domain, *state;	/* scenario/vm/state may be NULL */
	bool active;
	double cpu;		/* CPUs used (1.0 = one CPU busy) */
	double load;		/* cpu / host cpus */
	uint64_t mem_mib;
	int vcpus;
	double rx_bps, tx_bps;
	GPtrArray *nets;	/* of char*, the scenario nets it is attached to */
	bool container;		/* a container ("container": true; absent = false): cannot be
				 * live-migrated, moves only by a cold move */
	char *move;		/* a container's own move-containers ("move"), NULL: the host's */
} host_state_vm;

typedef struct {
	char *host;
	int64_t ts_ms;
	int interval_s;
	double cpus;
	double load;		/* 0..1 */
	uint64_t mem_total_mib, mem_used_mib;
	bool has_promised;	/* mem_promised_mib known (libvirt answered) */
	uint64_t mem_promised_mib, mem_reserve_mib;
	char *fabric_addr;	/* may be NULL */
	char *domain_type;	/* may be NULL */
	bool libvirt;		/* libvirt answered the last sample */
	int active, inactive;
	GPtrArray *vms;		/* of host_state_vm* */
	json_t *balance;	/* owned, may be NULL: the balancer's object */
} host_state;

host_state *host_state_new(void);
void host_state_free(host_state *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(host_state, host_state_free)
host_state_vm *host_state_vm_new(void);
void host_state_vm_free(host_state_vm *v);

/* host_state_copy: a deep copy (free with host_state_free) */
host_state *host_state_copy(const host_state *s);

/* host_state_to_json: new reference */
json_t *host_state_to_json(const host_state *s);
/* host_state_from_json: NULL + err for a message that is not a host state (missing host or
 * ts, wrong types); unknown keys are ignored. */
host_state *host_state_from_json(const json_t *j, GError **err);

/* host_state_fresh: the one freshness rule (agents and CLI alike); now_ms unix ms */
bool host_state_fresh(const host_state *s, int64_t now_ms);

/* host_state_vm_find: the VM whose domain (or VM name) is name, or NULL */
const host_state_vm *host_state_vm_find(const host_state *s, const char *name);

#endif
