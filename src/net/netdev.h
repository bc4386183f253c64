/* netdev: scenario networks on this host through netlink (libnl-route-3): a Linux bridge per
 * scenario net and, when the net spans hosts, a VXLAN device on it with unicast head-end
 * replication (all-zero FDB entries to every other host of the net). Idempotent. */
#ifndef NUBE_NETDEV_H
#define NUBE_NETDEV_H

#include <stdint.h>
#include <glib.h>

typedef struct netdev netdev;	/* one netlink socket + link cache */

netdev *netdev_open(GError **err);
void netdev_close(netdev *n);

/* netdev_ensure: create or update bridge proto_bridge_name(scenario, net) with ifalias
 * proto_net_alias(), MTU mtu, up; when vni != 0 also VXLAN proto_vxlan_name() (id vni, local
 * local_addr, dstport 4789, nolearning, mtu) enslaved to it, and FDB 00:00:00:00:00:00 dst R
 * for exactly the remotes given (stale remotes removed). 0 or -1 + err. */
int netdev_ensure(netdev *n, const char *scenario, const char *net, uint32_t vni,
    const char *local_addr, const char *const *remotes, int nremotes, int mtu, GError **err);

/* netdev_remove: delete the bridge and VXLAN of that net; absent is not an error. */
int netdev_remove(netdev *n, const char *scenario, const char *net, GError **err);

typedef struct {
	char *scenario, *net;
	char *bridge;
	uint32_t vni;		/* 0 when no VXLAN */
	GPtrArray *remotes;	/* of char* */
} netdev_info;

void netdev_info_free(netdev_info *i);
/* netdev_list: every nube net present in the kernel (from bridge ifalias), new array */
GPtrArray *netdev_list(netdev *n, GError **err);

/* netdev_unused: the nets of present (netdev_info*) that no entry of used names; used holds
 * scenario and net names alternately (used->len even). Pure. Returns a new array of pointers
 * borrowed from present (g_ptr_array_unref it), empty when every net is used. */
GPtrArray *netdev_unused(const GPtrArray *present, const GPtrArray *used);

/* netdev_mtu_of_addr: MTU of the link holding local_addr (fabric), -1 when not found */
int netdev_mtu_of_addr(netdev *n, const char *local_addr);

#endif
