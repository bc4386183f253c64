/* heal: the pure decisions of self-healing — when a gone host's VMs are due for a restart,
 * which surviving host restarts them (exactly one), where each goes first, who carries its
 * nets afterwards, and whether a copy of a VM is stale (fencing by generation). No clock
 * reads, no I/O: the agent's heal.c feeds it and acts. */
#ifndef NUBE_BALANCE_HEAL_H
#define NUBE_BALANCE_HEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "balance/balance.h"

/* A host as the healer election sees it. Pointers borrowed. */
typedef struct {
	const char *name;
	bool online;		/* its online flag says 1 (or this host itself) */
	bool standby;		/* on standby: takes no VMs, does not heal */
	bool leaving;		/* draining or exiting */
} heal_candidate;

/* heal_healer: the one host that restarts a gone host's VMs: the online host with the lowest
 * name (strcmp) that is neither on standby nor leaving; every survivor computes the same from
 * the same retained flags, so exactly one acts. NULL when there is none. */
const char *heal_healer(const heal_candidate *c, size_t n);

/* heal_due: a host gone (last will) since gone_at (> 0) is due for healing at now when it
 * stayed gone for grace seconds. false for gone_at <= 0 (not gone). */
bool heal_due(double gone_at, double grace, double now);

/* heal_rank: the hosts of hosts[0..n) that may take a VM of mem MiB, best first, as indexes
 * into order[] (room for n); returns how many. A host qualifies when it is online, not on
 * standby and its free memory (total - max(used, promised) - reserve) holds mem; the best
 * has the lowest load per core, ties by name. Admission at the destination decides for
 * real; this is only the order in which they are asked. */
size_t heal_rank(const balance_host *hosts, size_t n, double mem, size_t *order);

/* heal_stale: a copy of a VM at generation mine (0: unknown) is stale when some live host
 * claims the VM at generation claim and claim > mine: the healer restarted it elsewhere with
 * a bumped generation while this host was gone. Equal generations are the same VM (a
 * migration hand-off in flight) and never stale. */
bool heal_stale(int64_t mine, int64_t claim);

#endif
