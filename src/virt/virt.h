/* virt: the libvirt adapter of nubed — render a scenario VM into domain XML for this host's
 * platform, define/start/destroy/undefine, list nube's domains from their <metadata>, per-VM
 * statistics, and the QEMU guest agent (configure the guest, run commands).
 * Errors: return -1 (or NULL) and set *err (GError), reported once where they happen. */
#ifndef NUBE_VIRT_H
#define NUBE_VIRT_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "scenario/scenario.h"
#include "wire/deployment.h"

#define VIRT_METADATA_NS	"https://nube.dev/xmlns/domain/1"
#define VIRT_METADATA_PREFIX	"nube"

typedef struct virt virt;	/* opaque: one libvirt connection plus options */

typedef struct {
	char *uri;		/* e.g. "qemu:///system" or "qemu+tcp://10.9.0.2/system" */
	char *guest_kernel;	/* default image: kernel (default /var/lib/nube/guest/vmlinuz) */
	char *guest_initrd;	/* default image: initrd (default /var/lib/nube/guest/initrd.img) */
	bool type_fallback;	/* a VM type the host cannot run (lxc) falls back to qemu, warning */
	char *domain_type;	/* "kvm", "qemu" or NULL = probe */
} virt_opts;

/* virt_open: connect and probe the platform (KVM usable? LXC driver?). NULL + err on failure. */
virt *virt_open(const virt_opts *o, GError **err);
void virt_close(virt *v);
const char *virt_domain_type(const virt *v);	/* "kvm" or "qemu" as probed */

/* virt_render_domain: domain XML (libxml2-built) for VM vmname of s placed per dep: name
 * proto_domain_name(), memory, vcpus, direct kernel boot of the mapped image, one virtio
 * NIC per <if> on proto_bridge_name(scenario, net) with the planned MAC and mtu, a guest
 * agent channel, and <metadata><nube:vm> with scenario, vm, nets, addresses, mgmt address.
 * Warnings (fallbacks) go to warnings (of char*, may be NULL). Returns g_free'd string. */
char *virt_render_domain(virt *v, const scenario *s, const proto_deployment *dep,
    const char *vmname, int mtu, GPtrArray *warnings, GError **err);

/* virt_define_start: define persistent + start; 0 or -1 */
int virt_define_start(virt *v, const char *xml, GError **err);
/* virt_destroy_undefine: destroy if running, undefine; absent domain is not an error */
int virt_destroy_undefine(virt *v, const char *domname, GError **err);

typedef struct {
	char *domain;		/* libvirt name */
	char *scenario;		/* from metadata */
	char *vm;
	char *state;		/* "running", "paused", "shutoff", ... */
	bool active;
	uint64_t cpu_time_ns;	/* cumulative */
	int vcpus;
	uint64_t mem_mib;
	uint64_t mem_max_mib;	/* configured memory: what the guest was promised */
	uint64_t mem_rss_mib;	/* resident memory of its QEMU process, 0 when inactive/unknown */
	uint64_t rx_bytes, tx_bytes;	/* sum over interfaces */
	GPtrArray *nets;	/* of char* net names, from metadata */
	GPtrArray *addrs;	/* of char* "ifid net addr/len" entries, from metadata */
	GPtrArray *ifaces;	/* of virt_dom_if*, the same addresses structured */
} virt_dom_info;

/* One address of a VM's interface, from nube's metadata (strings owned). */
typedef struct {
	int id;			/* interface id, -1 when the metadata has none */
	char *net;
	char *addr;		/* "addr/len" */
} virt_dom_if;

void virt_dom_info_free(virt_dom_info *i);

/* virt_list: nube's domains on this host (those with our metadata), active and inactive;
 * returns a new GPtrArray of virt_dom_info* (free with g_ptr_array_unref) or NULL + err. */
GPtrArray *virt_list(virt *v, GError **err);

/* virt_guest_configure: through the guest agent, wait up to timeout_s for it, then name NICs
 * eth<id> by MAC, set MTU, addresses, routes, forwarding and hostname from the scenario. */
int virt_guest_configure(virt *v, const scenario *s, const proto_deployment *dep,
    const char *vmname, int mtu, int timeout_s, GError **err);

/* virt_guest_exec: run a shell command (sh -c) in the guest via guest-exec, wait up to
 * timeout_s, return exit code in *exit_code and captured output (g_free). */
int virt_guest_exec(virt *v, const char *domname, const char *cmd, int timeout_s,
    int *exit_code, char **out, char **errout, GError **err);



/* ---- configuration media (media.c) ----
 * A VM that boots its own image gets the media the deployment carries for it (of
 * proto_medium*) as ISO images in the host's storage pool VIRT_MEDIA_POOL (a dir pool), one
 * volume virt_media_volume() each; virt_render_domain attaches the "vnx" one as a read-only
 * raw virtio disk vdb (where VNX's daemon looks on Debian) and the "cidata" one as a
 * read-only IDE CD-ROM hdc (cloud-init's NoCloud finds it by its label). Every volume of
 * the pool named "<domain>." belongs to that domain. */
#define VIRT_MEDIA_POOL		"nube"

/* virt_media_volume: "<domname>.<kind>.iso" (g_free). */
char *virt_media_volume(const char *domname, const char *kind);
/* virt_media_write: write each medium as an ISO (genisoimage: VNX's "-l -R"; cidata "-V
 * cidata -J -R") into the pool's folder, replacing one of the same name, and refresh the
 * pool. 0, or -1 + err with none of them left behind. */
int virt_media_write(virt *v, const char *domname, const GPtrArray *media, GError **err);
/* virt_media_remove: delete domname's media volumes; none is no error. 0 or -1 + err.
 * virt_media_remove_at does it on the libvirt at uri (a migration's destination). */
int virt_media_remove(virt *v, const char *domname, GError **err);
int virt_media_remove_at(const char *uri, const char *domname, GError **err);
/* virt_media_copy_to: upload domname's media volumes into the pool of the libvirt at
 * dest_uri (virStorageVolCreateXML + virStorageVolUpload), replacing any there: a
 * migration copies no read-only disk, so they must be there before it starts. Returns how
 * many were copied (0: the domain has none), or -1 + err with none left at dest_uri. */
int virt_media_copy_to(virt *src, const char *dest_uri, const char *domname, GError **err);

typedef struct {
	int64_t duration_ms;	/* from libvirt job stats (VIR_DOMAIN_JOB_TIME_ELAPSED) */
	int64_t downtime_ms;	/* VIR_DOMAIN_JOB_DOWNTIME */
	uint64_t data_bytes;	/* VIR_DOMAIN_JOB_DATA_PROCESSED */
} virt_migrate_stats;

/* virt_migrate: live, peer-to-peer, persist on destination, undefine on source; dest_uri e.g.
 * "qemu+tcp://10.77.0.12/system", migrate_uri "tcp://10.77.0.12" (may be NULL). Blocking:
 * call from a worker thread with its own virt (virt_open) — libvirt connections are
 * thread-safe, but the caller's event loop must not wait on it. On failure the VM keeps
 * running on the source. Stats filled on success. 0 or -1 + err. */
int virt_migrate(virt *v, const char *domname, const char *dest_uri, const char *migrate_uri,
    virt_migrate_stats *stats, GError **err);

#endif
