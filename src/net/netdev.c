/* netdev: bridges, VXLAN devices and their head-end-replication FDB through libnl-route-3 */
#include "net/netdev.h"

#include <stdbool.h>
#include <string.h>
#include <net/if.h>
#include <linux/if_bridge.h>
#include <linux/neighbour.h>
#include <sys/socket.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/addr.h>

#include "wire/names.h"

#define NETDEV_VXLAN_PORT 4789

struct netdev {
	struct nl_sock *sk;
};

G_DEFINE_QUARK(nube-netdev-error-quark, netdev_error)
#define NETDEV_ERROR netdev_error_quark()

static void nl_set_error(GError **err, int nlerr, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void nl_set_error(GError **err, int nlerr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_autofree char *ctx = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(err, NETDEV_ERROR, nlerr < 0 ? -nlerr : nlerr, "%s: %s", ctx, nl_geterror(nlerr));
}

netdev *netdev_open(GError **err)
{
	netdev *n = g_new0(netdev, 1);
	int r;

	n->sk = nl_socket_alloc();
	if (!n->sk) {
		g_set_error(err, NETDEV_ERROR, 0, "netlink: cannot allocate a socket");
		g_free(n);
		return NULL;
	}
	if ((r = nl_connect(n->sk, NETLINK_ROUTE)) < 0) {
		nl_set_error(err, r, "netlink: connect");
		netdev_close(n);
		return NULL;
	}
	return n;
}

void netdev_close(netdev *n)
{
	if (!n)
		return;
	if (n->sk)
		nl_socket_free(n->sk);
	g_free(n);
}

/* get_link: 1 and *out (put with rtnl_link_put) when name exists, 0 when absent, -1 + err */
static int get_link(netdev *n, const char *name, struct rtnl_link **out, GError **err)
{
	int r = rtnl_link_get_kernel(n->sk, 0, name, out);

	if (r == 0)
		return 1;
	*out = NULL;
	if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
		return 0;
	nl_set_error(err, r, "netlink: look up link '%s'", name);
	return -1;
}

/* a link named like ours must carry our alias, else it belongs to someone else */
static int check_ours(struct rtnl_link *l, const char *name, const char *type, const char *alias,
    GError **err)
{
	const char *t = rtnl_link_get_type(l);
	const char *a = rtnl_link_get_ifalias(l);

	if (!t || strcmp(t, type) != 0 || g_strcmp0(a, alias) != 0) {
		g_set_error(err, NETDEV_ERROR, 0, "link '%s' exists and is not nube's %s for '%s' "
		    "(type '%s', alias '%s')", name, type, alias + strlen(PROTO_ALIAS_PREFIX),
		    t ? t : "?", a ? a : "");
		return -1;
	}
	return 0;
}

/* set alias, mtu (when > 0), master (when >= 0) and up on an existing link */
static int link_update(netdev *n, struct rtnl_link *l, const char *alias, int mtu, int master,
    GError **err)
{
	struct rtnl_link *ch = rtnl_link_alloc();
	int r;

	rtnl_link_set_ifalias(ch, alias);
	if (mtu > 0)
		rtnl_link_set_mtu(ch, (unsigned int)mtu);
	if (master >= 0)
		rtnl_link_set_master(ch, master);
	rtnl_link_set_flags(ch, IFF_UP);
	r = rtnl_link_change(n->sk, l, ch, 0);
	rtnl_link_put(ch);
	if (r < 0) {
		nl_set_error(err, r, "netlink: update link '%s'", rtnl_link_get_name(l));
		return -1;
	}
	return 0;
}

static int ensure_bridge(netdev *n, const char *br, const char *alias, int mtu, int *ifindex,
    GError **err)
{
	struct rtnl_link *l = NULL;
	int r = get_link(n, br, &l, err);

	if (r < 0)
		return -1;
	if (r == 1 && check_ours(l, br, "bridge", alias, err) < 0) {
		rtnl_link_put(l);
		return -1;
	}
	if (r == 0) {
		struct rtnl_link *nl = rtnl_link_bridge_alloc();
		rtnl_link_set_name(nl, br);
		if (mtu > 0)
			rtnl_link_set_mtu(nl, (unsigned int)mtu);
		r = rtnl_link_add(n->sk, nl, NLM_F_CREATE | NLM_F_EXCL);
		rtnl_link_put(nl);
		if (r < 0) {
			nl_set_error(err, r, "netlink: create bridge '%s'", br);
			return -1;
		}
		if (get_link(n, br, &l, err) != 1) {
			if (err && !*err)
				g_set_error(err, NETDEV_ERROR, 0, "bridge '%s' vanished after creation", br);
			return -1;
		}
	}
	*ifindex = rtnl_link_get_ifindex(l);
	r = link_update(n, l, alias, mtu, -1, err);
	rtnl_link_put(l);
	return r;
}

static char *addr_str(struct nl_addr *a)
{
	char buf[INET6_ADDRSTRLEN + 8];

	return g_strdup(nl_addr2str(a, buf, sizeof buf));
}

/* canonical text of an address ("10.0.0.2"), NULL when not an address */
static char *canon_addr(const char *text)
{
	struct nl_addr *a = NULL;

	if (!text || nl_addr_parse(text, AF_UNSPEC, &a) < 0)
		return NULL;
	if (nl_addr_get_family(a) != AF_INET && nl_addr_get_family(a) != AF_INET6) {
		nl_addr_put(a);
		return NULL;
	}
	char *s = addr_str(a);
	nl_addr_put(a);
	return s;
}

/* true when the existing VXLAN already has the wanted id, local address and port */
static bool vxlan_matches(struct rtnl_link *l, uint32_t vni, const char *local)
{
	uint32_t id = 0, port = 0;
	struct nl_addr *a = NULL;
	bool ok;

	if (!rtnl_link_is_vxlan(l) || rtnl_link_vxlan_get_id(l, &id) < 0 || id != vni)
		return false;
	if (rtnl_link_vxlan_get_port(l, &port) < 0 || port != NETDEV_VXLAN_PORT)
		return false;
	if (rtnl_link_vxlan_get_local(l, &a) < 0 || !a)
		return false;
	g_autofree char *s = addr_str(a);
	nl_addr_put(a);
	ok = strcmp(s, local) == 0;
	return ok;
}

static int ensure_vxlan(netdev *n, const char *vx, const char *alias, uint32_t vni,
    const char *local, int mtu, int br_ifindex, int *ifindex, GError **err)
{
	struct rtnl_link *l = NULL;
	int r = get_link(n, vx, &l, err);

	if (r < 0)
		return -1;
	if (r == 1) {
		if (check_ours(l, vx, "vxlan", alias, err) < 0) {
			rtnl_link_put(l);
			return -1;
		}
		if (!vxlan_matches(l, vni, local)) {
			/* id and local address of a VXLAN cannot change: re-create it */
			r = rtnl_link_delete(n->sk, l);
			rtnl_link_put(l);
			l = NULL;
			if (r < 0) {
				nl_set_error(err, r, "netlink: delete outdated vxlan '%s'", vx);
				return -1;
			}
		}
	}
	if (!l) {
		struct rtnl_link *nl = rtnl_link_vxlan_alloc();
		struct nl_addr *la = NULL;
		rtnl_link_set_name(nl, vx);
		rtnl_link_vxlan_set_id(nl, vni);
		if (nl_addr_parse(local, AF_UNSPEC, &la) == 0) {
			rtnl_link_vxlan_set_local(nl, la);
			nl_addr_put(la);
		}
		rtnl_link_vxlan_set_port(nl, NETDEV_VXLAN_PORT);
		rtnl_link_vxlan_set_learning(nl, 0);
		if (mtu > 0)
			rtnl_link_set_mtu(nl, (unsigned int)mtu);
		r = rtnl_link_add(n->sk, nl, NLM_F_CREATE | NLM_F_EXCL);
		rtnl_link_put(nl);
		if (r < 0) {
			nl_set_error(err, r, "netlink: create vxlan '%s' (id %u, local %s)", vx, vni, local);
			return -1;
		}
		if (get_link(n, vx, &l, err) != 1) {
			if (err && !*err)
				g_set_error(err, NETDEV_ERROR, 0, "vxlan '%s' vanished after creation", vx);
			return -1;
		}
	}
	*ifindex = rtnl_link_get_ifindex(l);
	r = link_update(n, l, alias, mtu, br_ifindex, err);
	rtnl_link_put(l);
	return r;
}

/* all-zero FDB entries (head-end replication) of link ifindex: their dst texts go to dsts
 * (when keep is NULL or they are in keep) or else to stale (texts, when stale != NULL) */
static int fdb_remotes(netdev *n, int ifindex, GPtrArray *dsts, GPtrArray *keep,
    GPtrArray *stale, GError **err)
{
	struct nl_cache *c = NULL;
	int r = rtnl_neigh_alloc_cache_flags(n->sk, &c, NL_CACHE_AF_ITER);

	if (r < 0) {
		nl_set_error(err, r, "netlink: dump neighbours");
		return -1;
	}
	for (struct nl_object *o = nl_cache_get_first(c); o; o = nl_cache_get_next(o)) {
		struct rtnl_neigh *ne = (struct rtnl_neigh *)o;
		if (rtnl_neigh_get_family(ne) != AF_BRIDGE || rtnl_neigh_get_ifindex(ne) != ifindex)
			continue;
		struct nl_addr *ll = rtnl_neigh_get_lladdr(ne);
		struct nl_addr *dst = rtnl_neigh_get_dst(ne);
		if (!ll || !dst || !nl_addr_iszero(ll))
			continue;
		char *s = addr_str(dst);
		bool wanted = !keep;
		for (guint i = 0; keep && i < keep->len; i++)
			if (strcmp(g_ptr_array_index(keep, i), s) == 0)
				wanted = true;
		if (wanted) {
			if (dsts)
				g_ptr_array_add(dsts, s);
			else
				g_free(s);
		} else if (stale) {
			g_ptr_array_add(stale, s);
		} else {
			g_free(s);
		}
	}
	nl_cache_free(c);
	return 0;
}

/*
 * fdb_msg: add (RTM_NEWNEIGH) or delete (RTM_DELNEIGH) the all-zero FDB entry "dst remote" of
 * VXLAN ifindex. Built with libnl's message API rather than rtnl_neigh_add: libnl 3.7 leaves
 * NDA_DST out of AF_BRIDGE requests, and without it the kernel cannot tell the head-end
 * entries apart.
 */
static int fdb_msg(netdev *n, int type, int ifindex, const char *remote, GError **err)
{
	struct nl_addr *dst = NULL;
	int r = nl_addr_parse(remote, AF_UNSPEC, &dst);

	if (r < 0) {
		nl_set_error(err, r, "fdb: bad remote address '%s'", remote);
		return -1;
	}
	/* APPEND: several all-zero entries (one per remote) on one VXLAN */
	int flags = type == RTM_NEWNEIGH ? NLM_F_CREATE | NLM_F_APPEND : 0;
	struct nl_msg *m = nlmsg_alloc_simple(type, flags);
	struct ndmsg nd = {
		.ndm_family = AF_BRIDGE,
		.ndm_ifindex = ifindex,
		.ndm_state = NUD_PERMANENT | NUD_NOARP,
		.ndm_flags = NTF_SELF,
	};
	static const unsigned char zero_mac[6] = { 0 };

	if (!m || nlmsg_append(m, &nd, sizeof nd, NLMSG_ALIGNTO) < 0 ||
	    nla_put(m, NDA_LLADDR, sizeof zero_mac, zero_mac) < 0 ||
	    nla_put(m, NDA_DST, (int)nl_addr_get_len(dst), nl_addr_get_binary_addr(dst)) < 0) {
		nlmsg_free(m);
		nl_addr_put(dst);
		g_set_error(err, NETDEV_ERROR, 0, "fdb: cannot build netlink message");
		return -1;
	}
	nl_addr_put(dst);
	r = nl_send_sync(n->sk, m);	/* sends, waits for the ack, frees m */
	if (r < 0 && !(type == RTM_DELNEIGH && (r == -NLE_OBJ_NOTFOUND || r == -NLE_NOADDR))) {
		nl_set_error(err, r, "netlink: %s fdb entry 00:00:00:00:00:00 dst %s",
		    type == RTM_NEWNEIGH ? "add" : "delete", remote);
		return -1;
	}
	return 0;
}

static int fdb_sync(netdev *n, int ifindex, GPtrArray *want, GError **err)
{
	g_autoptr(GPtrArray) have = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) stale = g_ptr_array_new_with_free_func(g_free);

	if (fdb_remotes(n, ifindex, have, want, stale, err) < 0)
		return -1;
	for (guint i = 0; i < stale->len; i++)
		if (fdb_msg(n, RTM_DELNEIGH, ifindex, g_ptr_array_index(stale, i), err) < 0)
			return -1;
	for (guint i = 0; i < want->len; i++) {
		const char *w = g_ptr_array_index(want, i);
		bool present = false;
		for (guint k = 0; k < have->len; k++)
			if (strcmp(g_ptr_array_index(have, k), w) == 0)
				present = true;
		if (!present && fdb_msg(n, RTM_NEWNEIGH, ifindex, w, err) < 0)
			return -1;
	}
	return 0;
}

/* delete link name if present; a link of that name that is not ours is an error */
static int delete_ours(netdev *n, const char *name, const char *type, const char *alias,
    GError **err)
{
	struct rtnl_link *l = NULL;
	int r = get_link(n, name, &l, err);

	if (r <= 0)
		return r;
	if (check_ours(l, name, type, alias, err) < 0) {
		rtnl_link_put(l);
		return -1;
	}
	r = rtnl_link_delete(n->sk, l);
	rtnl_link_put(l);
	if (r < 0 && r != -NLE_OBJ_NOTFOUND && r != -NLE_NODEV) {
		nl_set_error(err, r, "netlink: delete %s '%s'", type, name);
		return -1;
	}
	return 0;
}

int netdev_ensure(netdev *n, const char *scenario, const char *net, uint32_t vni,
    const char *local_addr, const char *const *remotes, int nremotes, int mtu, GError **err)
{
	if (!n || !scenario || !net || nremotes < 0 || (nremotes > 0 && !remotes)) {
		g_set_error(err, NETDEV_ERROR, 0, "netdev: missing socket, scenario, net or remotes");
		return -1;
	}
	char br[16], vx[16];
	g_autofree char *alias = proto_net_alias(scenario, net);
	int br_if = 0, vx_if = 0;

	proto_bridge_name(scenario, net, br);
	proto_vxlan_name(scenario, net, vx);
	if (vni == 0) {
		/* single-host net: a VXLAN left from an earlier multi-host layout goes */
		if (delete_ours(n, vx, "vxlan", alias, err) < 0)
			return -1;
		return ensure_bridge(n, br, alias, mtu, &br_if, err);
	}
	if (vni > 0xffffff) {
		g_set_error(err, NETDEV_ERROR, 0, "net '%s/%s': VNI %u out of range (24 bits)", scenario, net, vni);
		return -1;
	}
	g_autofree char *local = canon_addr(local_addr);
	if (!local) {
		g_set_error(err, NETDEV_ERROR, 0, "net '%s/%s': bad local address '%s'", scenario, net,
		    local_addr ? local_addr : "(none)");
		return -1;
	}
	g_autoptr(GPtrArray) want = g_ptr_array_new_with_free_func(g_free);
	for (int i = 0; i < nremotes; i++) {
		char *c = canon_addr(remotes[i]);
		if (!c) {
			g_set_error(err, NETDEV_ERROR, 0, "net '%s/%s': bad remote address '%s'",
			    scenario, net, remotes[i] ? remotes[i] : "(null)");
			return -1;
		}
		if (strcmp(c, local) == 0) {	/* never replicate to ourselves */
			g_free(c);
			continue;
		}
		g_ptr_array_add(want, c);
	}
	if (ensure_bridge(n, br, alias, mtu, &br_if, err) < 0)
		return -1;
	if (ensure_vxlan(n, vx, alias, vni, local, mtu, br_if, &vx_if, err) < 0)
		return -1;
	return fdb_sync(n, vx_if, want, err);
}

int netdev_remove(netdev *n, const char *scenario, const char *net, GError **err)
{
	if (!n || !scenario || !net) {
		g_set_error(err, NETDEV_ERROR, 0, "netdev: missing socket, scenario or net");
		return -1;
	}
	char br[16], vx[16];
	g_autofree char *alias = proto_net_alias(scenario, net);

	proto_bridge_name(scenario, net, br);
	proto_vxlan_name(scenario, net, vx);
	if (delete_ours(n, vx, "vxlan", alias, err) < 0)
		return -1;
	return delete_ours(n, br, "bridge", alias, err);
}

void netdev_info_free(netdev_info *i)
{
	if (!i)
		return;
	g_free(i->scenario);
	g_free(i->net);
	g_free(i->bridge);
	if (i->remotes)
		g_ptr_array_unref(i->remotes);
	g_free(i);
}

GPtrArray *netdev_list(netdev *n, GError **err)
{
	if (!n) {
		g_set_error(err, NETDEV_ERROR, 0, "netdev: no socket");
		return NULL;
	}
	struct nl_cache *links = NULL;
	int r = rtnl_link_alloc_cache(n->sk, AF_UNSPEC, &links);
	if (r < 0) {
		nl_set_error(err, r, "netlink: dump links");
		return NULL;
	}
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)netdev_info_free);
	for (struct nl_object *o = nl_cache_get_first(links); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		const char *type = rtnl_link_get_type(l);
		char *sc = NULL, *net = NULL;
		if (!type || strcmp(type, "bridge") != 0 || !rtnl_link_get_ifalias(l) ||
		    proto_parse_alias(rtnl_link_get_ifalias(l), &sc, &net) < 0)
			continue;
		netdev_info *i = g_new0(netdev_info, 1);
		i->scenario = sc;
		i->net = net;
		i->bridge = g_strdup(rtnl_link_get_name(l));
		i->remotes = g_ptr_array_new_with_free_func(g_free);
		char vx[16];
		proto_vxlan_name(sc, net, vx);
		struct rtnl_link *v = rtnl_link_get_by_name(links, vx);
		if (v) {
			uint32_t id = 0;
			if (rtnl_link_is_vxlan(v) && rtnl_link_vxlan_get_id(v, &id) == 0)
				i->vni = id;
			if (fdb_remotes(n, rtnl_link_get_ifindex(v), i->remotes, NULL, NULL, err) < 0) {
				rtnl_link_put(v);
				netdev_info_free(i);
				g_ptr_array_unref(out);
				nl_cache_free(links);
				return NULL;
			}
			rtnl_link_put(v);
		}
		g_ptr_array_add(out, i);
	}
	nl_cache_free(links);
	return out;
}

GPtrArray *netdev_unused(const GPtrArray *present, const GPtrArray *used)
{
	GPtrArray *out = g_ptr_array_new();

	for (guint i = 0; present != NULL && i < present->len; i++) {
		netdev_info *ni = present->pdata[i];
		bool in_use = false;

		for (guint k = 0; used != NULL && k + 1 < used->len && !in_use; k += 2)
			in_use = g_strcmp0(used->pdata[k], ni->scenario) == 0 &&
			    g_strcmp0(used->pdata[k + 1], ni->net) == 0;
		if (!in_use)
			g_ptr_array_add(out, ni);
	}
	return out;
}

int netdev_mtu_of_addr(netdev *n, const char *local_addr)
{
	struct nl_addr *want = NULL;
	struct nl_cache *addrs = NULL;
	int ifindex = 0, mtu = -1;

	if (!n || !local_addr || nl_addr_parse(local_addr, AF_UNSPEC, &want) < 0)
		return -1;
	if (rtnl_addr_alloc_cache(n->sk, &addrs) < 0) {
		nl_addr_put(want);
		return -1;
	}
	for (struct nl_object *o = nl_cache_get_first(addrs); o && !ifindex; o = nl_cache_get_next(o)) {
		struct nl_addr *a = rtnl_addr_get_local((struct rtnl_addr *)o);
		if (a && nl_addr_get_family(a) == nl_addr_get_family(want) &&
		    nl_addr_get_len(a) == nl_addr_get_len(want) &&
		    memcmp(nl_addr_get_binary_addr(a), nl_addr_get_binary_addr(want), nl_addr_get_len(a)) == 0)
			ifindex = rtnl_addr_get_ifindex((struct rtnl_addr *)o);
	}
	nl_cache_free(addrs);
	nl_addr_put(want);
	if (ifindex > 0) {
		struct rtnl_link *l = NULL;
		if (rtnl_link_get_kernel(n->sk, ifindex, NULL, &l) == 0) {
			mtu = (int)rtnl_link_get_mtu(l);
			rtnl_link_put(l);
		}
	}
	return mtu;
}
