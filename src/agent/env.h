/* env: everything nubed reaches outside its own memory, as one table of functions: the clock,
 * the main loop and the broker, libvirt, the kernel's links, /proc. agent_env_real is the
 * real thing; tests/unit/agent/fake_env.c is a whole cluster in one process (a broker that
 * routes between agents, libvirt and netlink in memory, a clock the test moves). */
#ifndef NUBE_AGENT_ENV_H
#define NUBE_AGENT_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/nubed.h"
#include "net/netdev.h"
#include "scenario/scenario.h"
#include "virt/virt.h"
#include "wire/deployment.h"

struct agent_env {
	/* clock */
	double (*now)(nubed *n);		/* monotonic seconds */
	int64_t (*wall_ms)(nubed *n);		/* unix time, ms */
	/* main loop and broker (bus.h's hand-off: any thread unless said) */
	void (*post)(nubed *n, void (*fn)(void *ud), void *ud);
	void (*reply)(nubed *n, const bus_msg *m, json_t *body, bool final);	/* body stolen */
	void (*publish)(nubed *n, const char *topic, json_t *j, bool retain);	/* j stolen */
	json_t *(*call)(nubed *n, const char *topic, json_t *req, int timeout_ms, GError **err);
	int (*subscribe)(nubed *n, const char *pattern, bus_msg_cb cb, void *ud, GError **err);
	bool (*connected)(nubed *n);
	/* libvirt (virt.h) */
	virt *(*virt_open)(nubed *n, GError **err);
	void (*virt_close)(virt *v);
	GPtrArray *(*virt_list)(virt *v, GError **err);
	GHashTable *(*virt_states)(virt *v, GError **err);
	const char *(*virt_domain_type)(const virt *v);
	char *(*virt_render_domain)(virt *v, const scenario *s, const proto_deployment *dep,
	    const char *vmname, int mtu, GPtrArray *warnings, GError **err);
	int (*virt_define_start)(virt *v, const char *xml, GError **err);
	int (*virt_define_only)(virt *v, const char *xml, GError **err);
	int (*virt_pool_ensure)(virt *v, GError **err);
	int (*virt_vm_disks_check)(virt *v, const scenario *s, const proto_deployment *dep,
	    const char *vmname, GError **err);
	int (*virt_volumes_delete)(virt *v, const char *domname, GError **err);
	int (*virt_vm_disks_prepare)(virt *v, const scenario *s, const proto_deployment *dep,
	    const char *vmname, GError **err);
	bool (*virt_image_present)(virt *v, const char *sha256, const char *format);
	int (*virt_image_commit)(virt *v, const char *sha256, const char *format, GError **err);
	int (*virt_image_send)(virt *v, const char *dest_uri, const char *sha256,
	    const char *format, void (*progress)(uint64_t sent, uint64_t total, void *ud),
	    void *ud, GError **err);
	char *(*virt_domain_image)(virt *v, const char *domname);
	/* rootfs folders by content (virt.h); NULL in a fake environment: none here */
	bool (*virt_rootfs_present)(virt *v, const char *sha256);
	int (*virt_rootfs_commit)(virt *v, const char *sha256, GError **err);
	int (*virt_rootfs_send)(virt *v, const char *dest_uri, const char *sha256,
	    void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud, GError **err);
	char *(*virt_lxc_rootfs_sha256)(virt *v, const char *domname);
	int (*virt_image_evict)(virt *v, uint64_t max_mib, const GPtrArray *in_use,
	    GPtrArray *evicted, GError **err);
	int (*virt_destroy_undefine)(virt *v, const char *domname, GError **err);
	int (*virt_guest_configure)(virt *v, const scenario *s, const proto_deployment *dep,
	    const char *vmname, int mtu, int timeout_s, GError **err);
	int (*virt_guest_exec)(virt *v, const char *domname, const char *cmd, int timeout_s,
	    int *exit_code, char **out, char **errout, GError **err);
	int (*virt_guest_write)(virt *v, const char *domname, const char *path, const void *data,
	    size_t len, unsigned mode, const char *owner, int timeout_s, GError **err);
	int (*virt_migrate)(virt *v, const char *domname, const char *dest_uri,
	    const char *migrate_uri, virt_migrate_stats *stats, GError **err);
	bool (*virt_media_used)(virt *v, const scenario *s, const proto_deployment *dep,
	    const char *vmname);
	int (*virt_media_write)(virt *v, const char *domname, const GPtrArray *media,
	    GError **err);
	/* virt_probe: a libvirtd answers at uri (self-healing: is a gone host's libvirtd
	 * there?); 0, or -1 + err */
	int (*virt_probe)(nubed *n, const char *uri, GError **err);
	/* containers can run here (NULL in fakes: they cannot) */
	int (*virt_lxc_probe)(virt *v, GError **err);
	/* a container's cold move (virt.h; NULL in fakes: containers are not moved) */
	int (*virt_cold_out)(virt *v, const char *domname, int grace_s, virt_cold *out,
	    GError **err);
	int (*virt_cold_back)(virt *v, const char *domname, GError **err);
	int (*virt_cold_in)(virt *v, const char *xml, const char *sha256, const char *domname,
	    GError **err);
	int (*virt_volume_send)(virt *v, const char *dest_uri, const char *name,
	    void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud, GError **err);
	/* links (netdev.h) */
	netdev *(*net_open)(nubed *n, GError **err);
	void (*net_close)(netdev *nd);
	GPtrArray *(*net_list)(netdev *nd, GError **err);
	int (*net_ensure)(netdev *nd, const char *scenario, const char *net, uint32_t vni,
	    const char *local_addr, const char *const *remotes, int n_remotes, int mtu,
	    GError **err);
	int (*net_remove)(netdev *nd, const char *scenario, const char *net, GError **err);
	int (*net_mtu_of_addr)(netdev *nd, const char *local_addr);
	/* host metrics (metrics.h): one sample at the environment's clock */
	int (*metrics_read)(nubed *n, metrics_sample *out, GError **err);
};

extern const agent_env agent_env_real;

#endif
