/* config: nubed's configuration (GKeyFile /etc/nube/nubed.conf, command-line overrides), every
 * section in one pass: [nubed], [broker], [metrics], [guest] and the balancer's [balance] */
#ifndef NUBE_AGENT_CONFIG_H
#define NUBE_AGENT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "balance/balance.h"

#define CONFIG_DEFAULT_PATH	"/etc/nube/nubed.conf"
#define CONFIG_DEFAULT_MEM_RESERVE_MIB	512
#define CONFIG_DEFAULT_DISK_DIR	"/var/lib/nube/disks"
#define CONFIG_DEFAULT_IMAGE_DIR	"/var/lib/nube/image-cache"
#define CONFIG_DEFAULT_CONTAINER_DIR	"/var/lib/nube/containers"

/* The agent's own keys of [balance] (the core's keys fill balance_config). */
/* [balance] move-containers: who may move a container (always by a cold move: stop, copy its
 * layer, start on the destination) */
typedef enum {
	CONFIG_MOVE_NEVER,	/* "never": containers stay where they were deployed */
	CONFIG_MOVE_OPERATOR,	/* "operator" (default): nube migrate, drain and evacuation on
				 * exit move them; the balancer's own plans never do */
	CONFIG_MOVE_COLD,	/* "cold": the balancer's plans may too */
} config_move_containers;

typedef struct {
	int max_migrations;		/* [1] migrations in flight from this host at once, 1..16 */
	bool evacuate;			/* [false] move every VM away before exiting */
	double evacuate_timeout;	/* [600] s, 0 = no limit */
	double link_mbps;		/* [1000] uplink speed for the VMs' network utilisation */
	double rpc_timeout;		/* [15] s of silence before an rpc to a host counts as lost */
	bool enabled;			/* [true] false: monitor only, no autonomous plans */
	/* consolidation's power hooks (with the core's consolidate = true): run by /bin/sh -c
	 * with NUBE_HOST set when this host has emptied itself (standby) and when a peer that
	 * cannot absorb its load wakes it; NULL: the state changes, nothing runs */
	char *standby_command;
	char *wake_command;
	config_move_containers move_containers;	/* [operator] */
	double cold_stop_grace;		/* [5] s a container has to shut down before a cold
					 * move destroys it; 0: destroyed at once */
} config_balance;

typedef struct {
	char *file;			/* where it was read from */
	/* [nubed] */
	char *host;
	char *libvirt_uri;		/* default qemu:///system */
	char *lxc_uri;			/* containers: default lxc:///system, NULL (empty) = none */
	char *fabric_addr;
	char *migrate_uri_template;	/* default qemu+tcp://%s/system */
	int interval_s;			/* default 10 */
	char *state_dir;		/* default /var/lib/nube/nubed */
	/* [broker] */
	char *broker_url;
	char *username, *password, *cafile;
	/* [metrics] */
	char *cgroup;			/* NULL = whole machine (/proc/stat) */
	uint64_t mem_mib;		/* memory capacity override, 0 = MemTotal of /proc/meminfo */
	uint64_t mem_reserve_mib;	/* kept for the host, never promised to guests [512] */
	/* [guest] */
	char *guest_kernel, *guest_initrd;
	bool type_fallback;		/* default true */
	char *disk_dir;			/* the "nube" storage pool: overlays, media (absolute) */
	char *image_dir;		/* the "nube-images" pool: images by content (absolute) */
	uint64_t image_cache_max_mib;	/* [0 = no limit] the cache's size, unused images evicted */
	char *container_dir;		/* containers' layers (absolute) */
	bool container_fallback;	/* no working LXC driver: lxc VMs run as QEMU guests
					 * (default false: refused) */
	bool missing_image_fallback;	/* [guest] missing_image = test-guest: an image not
					 * found boots the test guest, warning (default: error) */
	/* [balance]: the core's keys (the sampling interval is [nubed] interval: bc.interval
	 * follows interval_s) and the agent's */
	balance_config bc;
	config_balance bal;
	/* [heal]: restart the VMs of a host gone past a grace time on the others (heal.h) */
	bool heal;			/* [true] enabled */
	double heal_grace;		/* [60] s a host must stay gone (last will, libvirtd silent) */
	/* unknown keys, as "[section] key" (warnings, not errors) */
	GPtrArray *unknown;
} config;

/* config_load: read path (NULL = CONFIG_DEFAULT_PATH) into a new config with defaults for
 * missing keys. Syntax and type errors fail with "<file>: [section] key: reason"; in
 * [balance] an unknown key is an error too (elsewhere a warning in unknown). An "interval" in
 * [balance] is refused: the one sampling interval is [nubed] interval.
 * Free with config_free. Call config_check after applying command-line overrides. */
config *config_load(const char *path, GError **err);

/* config_new_defaults: a config with only the defaults (no file) */
config *config_new_defaults(void);

/* config_check: required keys present and values sane (host name, fabric address, ranges,
 * broker url, template with one %s). 0, or -1 + err "<file>: [section] key: reason". */
int config_check(const config *c, GError **err);

void config_free(config *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(config, config_free)

#endif
