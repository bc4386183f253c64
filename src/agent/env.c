/* env: the real environment of nubed: monotonic and wall clocks, the bus on the main loop,
 * libvirt, netlink and /proc */
#include "agent/env.h"

static double
real_now(nubed *n)
{
	(void)n;
	return (double)g_get_monotonic_time() / 1e6;
}

static int64_t
real_wall_ms(nubed *n)
{
	(void)n;
	return g_get_real_time() / 1000;
}

static void
real_post(nubed *n, void (*fn)(void *ud), void *ud)
{
	bus_post(n->bus, fn, ud);
}

static void
real_reply(nubed *n, const bus_msg *m, json_t *body, bool final)
{
	bus_post_reply(n->bus, m, body, final);
}

static void
real_publish(nubed *n, const char *topic, json_t *j, bool retain)
{
	bus_post_publish(n->bus, topic, j, 1, retain);
}

static json_t *
real_call(nubed *n, const char *topic, json_t *req, int timeout_ms, GError **err)
{
	return bus_call_sync(n->bus, topic, req, timeout_ms, err);
}

static int
real_subscribe(nubed *n, const char *pattern, bus_msg_cb cb, void *ud, GError **err)
{
	return bus_subscribe(n->bus, pattern, cb, ud, err);
}

static bool
real_connected(nubed *n)
{
	return n->bus != NULL && bus_is_connected(n->bus);
}

static virt *
real_virt_open(nubed *n, GError **err)
{
	virt_opts o = {
		.uri = n->cfg->libvirt_uri,
		.guest_kernel = n->cfg->guest_kernel,
		.guest_initrd = n->cfg->guest_initrd,
		.type_fallback = n->cfg->type_fallback,
		.disk_dir = n->cfg->disk_dir,
		.image_dir = n->cfg->image_dir,
		.missing_image_fallback = n->cfg->missing_image_fallback,
		.lxc_uri = n->cfg->lxc_uri,
		.container_dir = n->cfg->container_dir,
		.container_fallback = n->cfg->container_fallback,
	};

	return virt_open(&o, err);
}

static int
real_virt_probe(nubed *n, const char *uri, GError **err)
{
	(void)n;
	return virt_peer_probe(uri, err);
}

static netdev *
real_net_open(nubed *n, GError **err)
{
	(void)n;
	return netdev_open(err);
}

static int
real_metrics_read(nubed *n, metrics_sample *out, GError **err)
{
	return metrics_read("/", n->cfg->cgroup, g_get_monotonic_time(), out, err);
}

const agent_env agent_env_real = {
	.now = real_now,
	.wall_ms = real_wall_ms,
	.post = real_post,
	.reply = real_reply,
	.publish = real_publish,
	.call = real_call,
	.subscribe = real_subscribe,
	.connected = real_connected,
	.virt_open = real_virt_open,
	.virt_close = virt_close,
	.virt_list = virt_list,
	.virt_states = virt_states,
	.virt_domain_type = virt_domain_type,
	.virt_define_only = virt_define_only,
	.virt_pool_ensure = virt_pool_ensure,
	.virt_vm_disks_check = virt_vm_disks_check,
	.virt_vm_disks_prepare = virt_vm_disks_prepare,
	.virt_volumes_delete = virt_volumes_delete,
	.virt_image_present = virt_image_present,
	.virt_image_commit = virt_image_commit,
	.virt_image_send = virt_image_send,
	.virt_domain_image = virt_domain_image,
	.virt_rootfs_present = virt_rootfs_present,
	.virt_rootfs_commit = virt_rootfs_commit,
	.virt_rootfs_send = virt_rootfs_send,
	.virt_lxc_rootfs_sha256 = virt_lxc_rootfs_sha256,
	.virt_image_evict = virt_image_evict,
	.virt_render_domain = virt_render_domain,
	.virt_define_start = virt_define_start,
	.virt_destroy_undefine = virt_destroy_undefine,
	.virt_guest_configure = virt_guest_configure,
	.virt_guest_exec = virt_guest_exec,
	.virt_guest_write = virt_guest_write,
	.virt_migrate = virt_migrate,
	.virt_media_used = virt_media_used,
	.virt_media_write = virt_media_write,
	.virt_probe = real_virt_probe,
	.virt_lxc_probe = virt_lxc_probe,
	.virt_cold_out = virt_cold_out,
	.virt_cold_back = virt_cold_back,
	.virt_cold_in = virt_cold_in,
	.virt_volume_send = virt_volume_send,
	.net_open = real_net_open,
	.net_close = netdev_close,
	.net_list = netdev_list,
	.net_ensure = netdev_ensure,
	.net_remove = netdev_remove,
	.net_mtu_of_addr = netdev_mtu_of_addr,
	.metrics_read = real_metrics_read,
};
