/* rpc: requests to this host (nube/v1/host/<h>/rpc/<sender>): one table op -> handler; the
 * handlers doing libvirt/netlink work run in the thread pool and answer through the main
 * loop (progress messages, then one final reply). */
#ifndef NUBE_AGENT_RPC_H
#define NUBE_AGENT_RPC_H

#include "agent/nubed.h"

/* rpc_on_message: bus callback for the rpc subscription (ud = nubed*) */
void rpc_on_message(bus *b, const bus_msg *m, void *ud);

/* rpc_job_run: GThreadPool function (data = job, user_data = nubed*) */
void rpc_job_run(gpointer data, gpointer user_data);

/* rpc_mtu: the MTU of a scenario net's bridge on this host: fabric MTU - 50 for VXLAN
 * (vni != 0), 1500 otherwise; fabric_mtu <= 0 (unknown) counts as 1500 */
int rpc_mtu(uint32_t vni, int fabric_mtu);

#endif
