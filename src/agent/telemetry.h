/* telemetry: the retained host state (CPU, memory, VMs with their rates) every interval; each
 * sample goes to n->on_sample (the balancer, wired by main) before it is published */
#ifndef NUBE_AGENT_TELEMETRY_H
#define NUBE_AGENT_TELEMETRY_H

#include "agent/nubed.h"
#include "virt/virt.h"
#include "wire/hoststate.h"

/* telemetry_start: run one telemetry round in its own thread unless one is running, then one
 * more (main thread); the result is published retained on host/<h>/state by the main loop.
 * telemetry_start_async: the same from any thread. */
void telemetry_start(nubed *n);
void telemetry_start_async(nubed *n);
/* telemetry_then: start a round (or ask for one after the round in flight) and call fn(ud)
 * on the main thread once that round's state is published — what a peer reads next reflects
 * everything done before the call. Main thread only. */
void telemetry_then(nubed *n, void (*fn)(void *ud), void *ud);

/* telemetry_vm: one VM's entry of the host state from its previous and current counters
 * (pure; prev may be NULL: rates 0). cpus = host CPU capacity. Free with host_state_vm_free. */
typedef struct {
	uint64_t cpu_time_ns, rx_bytes, tx_bytes;
	int64_t t_us;
} telemetry_prev;
host_state_vm *telemetry_vm(const virt_dom_info *i, const telemetry_prev *prev, int64_t t_us,
    double cpus);

#endif
