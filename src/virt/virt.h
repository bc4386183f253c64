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
	char *disk_dir;		/* the VIRT_POOL pool's directory (default VIRT_DEFAULT_DISK_DIR) */
	char *image_dir;	/* the VIRT_IMAGE_POOL pool's (default VIRT_DEFAULT_IMAGE_DIR) */
	bool missing_image_fallback;	/* an image or kernel not found boots the test guest
					 * with a warning instead of failing the VM */
	char *lxc_uri;		/* libvirt's LXC driver (e.g. "lxc:///system"); NULL: type="lxc"
				 * VMs cannot be containers here */
	char *container_dir;	/* containers' layers (default VIRT_DEFAULT_CONTAINER_DIR) */
	bool container_fallback;	/* LXC not working here: type="lxc" VMs run as QEMU
					 * guests with a warning (default: refused) */
} virt_opts;

#define VIRT_DEFAULT_CONTAINER_DIR	"/var/lib/nube/containers"

/*
 * Containers. A type="lxc" VM whose <filesystem> is a directory on this host (a rootfs, e.g.
 * guest/build-rootfs's debian12-lxc; or the cached copy of the rootfs its deployment names by
 * content, see "Rootfs folders by content") is a libvirt LXC domain on lxc_uri when that driver can
 * start containers here: its root is an overlay of that directory ("cow"; "direct": the
 * directory itself), its interfaces join the same bridges as a QEMU guest's, and nube writes
 * its configuration (hostname, interfaces, routes, forwarding, on_boot filetrees and
 * commands) into its root before it starts. virt_list, virt_destroy_undefine,
 * virt_guest_exec and virt_volumes_delete cover both connections; virt_migrate refuses
 * containers. When the driver cannot work here, type="lxc" VMs are refused, or with
 * container_fallback run as QEMU guests.
 */
/* virt_peer_probe: a libvirtd answers at uri (a connection opens and is closed again): 0, or -1
 * + why. Self-healing asks a gone host's libvirtd before it restarts that host's VMs. */
int virt_peer_probe(const char *uri, GError **err);

/* virt_lxc_probe: 0 when this host can run containers, else -1 + why (one test container
 * per URI and process; later calls answer from memory) */
int virt_lxc_probe(virt *v, GError **err);

/*
 * Cold move of a container (a live migration cannot move one): its source stops it
 * (virt_cold_out: its own shutdown for up to grace_s, then destroyed), unmounts its layer and
 * packs the layer's upper folder into one tar (GNU tar: owners, modes, ACLs, xattrs, the
 * overlay's whiteouts and opaque folders) as the volume "<domain>.layer.tar" of VIRT_POOL,
 * sends that volume to the destination's VIRT_POOL (virt_volume_send: a libvirt storage
 * stream, as images travel), and the destination (virt_cold_in) checks its sha256, unpacks
 * it as the container's layer on the same rootfs (the path in its metadata must be a folder
 * there), defines the domain from the source's XML with its own layer as root and starts it.
 * The source then removes the container (virt_destroy_undefine); when anything failed it
 * starts it again where it was (virt_cold_back). The tar volume is gone from both hosts at
 * the end, whatever happened (it is also one of the domain's volumes, VIRT_VOLUME_SUFFIXES).
 */
typedef struct {
	char *xml;		/* the container's persistent domain XML, nube's metadata included */
	char *volume;		/* virt_cold_volume(domain) */
	char *sha256;		/* of the tar */
	uint64_t bytes;		/* of the tar */
	int64_t stop_ms;	/* shutdown (or destroy) */
	int64_t pack_ms;	/* unmount + tar + sha256 */
} virt_cold;

void virt_cold_clear(virt_cold *c);
/* virt_lxc_rootfs_sha256: the content id of the rootfs under container domname's layer
 * (g_free), NULL when it has none (a folder by path, not a container, not here) */
char *virt_lxc_rootfs_sha256(virt *v, const char *domname);
/* virt_cold_volume: "<domname>.layer.tar" (g_free) */
char *virt_cold_volume(const char *domname);
/* virt_cold_out: stop container domname and pack its layer (see above), out filled (clear it
 * with virt_cold_clear). A container that has no layer (type="direct") or no rootfs in its
 * metadata is refused before it is stopped. -1 + err: call virt_cold_back if it was stopped. */
int virt_cold_out(virt *v, const char *domname, int grace_s, virt_cold *out, GError **err);
/* virt_cold_back: the packed container runs again here, on its layer (tar volume dropped);
 * one already running is left alone. 0 or -1 + err. */
int virt_cold_back(virt *v, const char *domname, GError **err);
/* virt_cold_in: the destination's half: the received "<domain>.layer.tar" of VIRT_POOL
 * checked against sha256, unpacked, mounted on the rootfs the XML's metadata names, the
 * domain defined and started. The XML must be a container as nube renders them, named
 * domname (an LXC domain whose devices are its root filesystem, bridged interfaces and a
 * console): a peer cannot make this host mount or pass through anything else. 0, or -1 +
 * err with nothing of it left here. */
int virt_cold_in(virt *v, const char *xml, const char *sha256, const char *domname,
    GError **err);
/* virt_volume_send: copy volume name of VIRT_POOL to VIRT_POOL of dest_uri (same name,
 * replaced), through libvirt storage streams; progress as virt_image_send. 0 or -1 + err (no
 * copy left there). */
int virt_volume_send(virt *v, const char *dest_uri, const char *name,
    void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud, GError **err);

/*
 * Disks. A VM whose <filesystem> names an image boots that image through the firmware
 * (BIOS), as its first virtio disk (vda):
 *   type="cow"     a qcow2 overlay "<domain>.qcow2" on the image, a volume of the dir storage
 *                  pool VIRT_POOL (one per host, directory disk_dir); the image is only read
 *   type="direct"  the image itself, written by this VM; refused when another domain on
 *                  the host has it as a disk
 * A VM with <kernel> boots that kernel directly (with its filesystem as vda when given); a
 * VM naming neither boots nube's test guest (kernel + initrd). An image or kernel that is
 * not on this host is an error naming VM and path, unless missing_image_fallback (then the
 * test guest boots, with a warning). Formats are read from content (qcow2 magic, else raw).
 * Every volume of a domain is named "<domain>" + one of VIRT_VOLUME_SUFFIXES and is deleted
 * with the domain (virt_destroy_undefine), after a migration on the source, and by
 * virt_volumes_delete.
 *
 * Images by content: when the deployment says which image (sha256, format) a VM's
 * <filesystem> is, the host boots it from its image cache, the dir pool VIRT_IMAGE_POOL
 * (image_dir), volume "<sha256>.<format>", whatever path the scenario wrote; the operator's
 * nube uploads a missing one as "<sha256>.part" and virt_image_commit checks and names it.
 * A migration's source sends the image first when the destination lacks it.
 */
#define VIRT_POOL		"nube"
#define VIRT_DEFAULT_DISK_DIR	"/var/lib/nube/disks"
#define VIRT_IMAGE_POOL		"nube-images"
#define VIRT_DEFAULT_IMAGE_DIR	"/var/lib/nube/image-cache"
#define VIRT_LAYER_SUFFIX	".layer.tar"	/* a container's layer on its way (cold move) */
#define VIRT_VOLUME_SUFFIXES	{ ".qcow2", ".vnx.iso", ".cidata.iso", VIRT_LAYER_SUFFIX, NULL }

/*
 * Rootfs folders by content. A container's rootfs folder travels as a disk image does: its
 * content id (virt_tree_sum) is computed where the scenario is deployed from, the folder is
 * sent as a GNU tar stream (owners by number, modes, ACLs, xattrs) to a host whose cache lacks
 * it, as volume "<sha256>.rootfs.part" of VIRT_IMAGE_POOL (virt_tree_upload), and that host
 * unpacks it and checks the unpacked folder's id before naming it
 * container_dir/.rootfs/<sha256> (virt_rootfs_commit). A container whose deployment says
 * which rootfs it uses (proto_vm_place.rootfs_sha256) is layered on that folder, whatever path
 * the scenario wrote; a cold move's source sends it first when the destination lacks it
 * (virt_rootfs_send). The id: sha256 over every entry's path, type, mode, owner, xattrs but
 * the overlay's, symlink target, device numbers and file content, entries in byte order of
 * names, times left out ("nube-tree-1"). */
/* virt_tree_sum: the content id of folder dir (g_free) and its files' bytes; NULL + err */
char *virt_tree_sum(const char *dir, uint64_t *bytes, GError **err);
/* virt_tree_stamp: a cheap sum of dir's entries' lstat (inode, size, times, mode, owner, no
 * content): the same stamp means the content id computed with it still holds */
char *virt_tree_stamp(const char *dir, uint64_t *bytes, GError **err);
/* virt_fd_upload: what fd reads until its end into volume volname of VIRT_IMAGE_POOL at uri
 * (replaced; bytes: the size expected, for the volume's first size and progress, about once
 * a second and at the end); done_ok (may be NULL) says at the end whether what was read is
 * whole. 0 or -1 + err (no volume left). */
int virt_fd_upload(const char *uri, int fd, const char *volname, uint64_t bytes,
    void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud,
    bool (*done_ok)(void *ud, GError **err), GError **err);
/* virt_tree_upload: tar of dir into volume volname of VIRT_IMAGE_POOL at uri (replaced; bytes:
 * the files' bytes, for the volume's first size and progress). 0 or -1 + err (no volume left). */
int virt_tree_upload(const char *uri, const char *dir, const char *volname, uint64_t bytes,
    void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud, GError **err);
/* virt_rootfs_part: "<sha256>.rootfs.part" (g_free) */
char *virt_rootfs_part(const char *sha256);
/* virt_rootfs_path: container_dir/.rootfs/<sha256> (g_free) */
char *virt_rootfs_path(const virt *v, const char *sha256);
bool virt_rootfs_present(virt *v, const char *sha256);
/* virt_rootfs_commit: unpack the upload "<sha256>.rootfs.part", check the folder's id and name
 * it; the upload is gone afterwards either way. 0 or -1 + err (nothing of it kept). */
int virt_rootfs_commit(virt *v, const char *sha256, GError **err);
/* virt_rootfs_send: this host's cached rootfs sha256 to dest_uri's image pool (then its agent's
 * rootfs-commit). 0 or -1 + err. */
int virt_rootfs_send(virt *v, const char *dest_uri, const char *sha256,
    void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud, GError **err);

/* virt_pool_ensure: the VIRT_POOL dir pool on disk_dir and the VIRT_IMAGE_POOL one on
 * image_dir exist, are built, active, autostarted and refreshed; a pool of either name on
 * another directory is an error. 0 or -1 + err. */
int virt_pool_ensure(virt *v, GError **err);

/* virt_vm_disks_check: vm of s placed by dep (may be NULL) can get its disks here (image in
 * the cache, or the file or kernel present, or the fallback on; a "direct" image not used by
 * another domain). Call for every VM before anything is made. 0 or -1 + err naming the VM
 * and the path. */
int virt_vm_disks_check(virt *v, const scenario *s, const proto_deployment *dep,
    const char *vmname, GError **err);

/* virt_vm_disks_prepare: make the volumes vm needs (its overlay); an overlay left by an
 * earlier attempt whose domain no longer exists is made afresh, that of an existing domain
 * is kept. 0 or -1 + err. */
int virt_vm_disks_prepare(virt *v, const scenario *s, const proto_deployment *dep,
    const char *vmname, GError **err);

/* virt_image_present: the image cache holds "<sha256>.<format>" */
bool virt_image_present(virt *v, const char *sha256, const char *format);

/* virt_image_commit: check the upload "<sha256>.part" of the image cache against sha256 and
 * name it "<sha256>.<format>" (already there: the upload is dropped). A mismatch deletes the
 * upload and is an error naming both sums. 0 or -1 + err. */
int virt_image_commit(virt *v, const char *sha256, const char *format, GError **err);

/* virt_image_send: upload "<sha256>.<format>" of this host's image cache to the image cache of
 * dest_uri as "<sha256>.part" (the destination's agent then commits it); progress (may be
 * NULL) is called about twice a second with the bytes sent. 0 or -1 + err. */
int virt_image_send(virt *v, const char *dest_uri, const char *sha256, const char *format,
    void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud, GError **err);

/* virt_domain_image: the image-cache volume ("<sha256>.<format>") dom's overlay sits on, or
 * NULL when it has none (new string) */
char *virt_domain_image(virt *v, const char *domname);

/* virt_image_evict: when the image cache holds more than max_mib (0: no limit), delete its
 * images least recently used first (mtime: committed, or last given an overlay) until it
 * fits, never one named in in_use (of char* volume names, "<sha256>.<format>", may be NULL)
 * and never an upload under way; the names deleted are appended to evicted (may be NULL).
 * What does not fit once every unused image is gone stays. */
int virt_image_evict(virt *v, uint64_t max_mib, const GPtrArray *in_use, GPtrArray *evicted,
    GError **err);

/* virt_volumes_delete: delete every pool volume of domain domname (absent: not an error);
 * returns how many were deleted, or -1 + err */
int virt_volumes_delete(virt *v, const char *domname, GError **err);

/* virt_volumes_list: names of every volume in the pool (new GPtrArray of char*), or NULL */
GPtrArray *virt_volumes_list(virt *v, GError **err);

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
/* virt_define_only: define persistent, not started (<on_boot>no</on_boot>); a domain of that
 * name that is this VM's already is left as it is; 0 or -1 */
int virt_define_only(virt *v, const char *xml, GError **err);
/* virt_destroy_undefine: destroy if running, undefine; absent domain is not an error */
int virt_destroy_undefine(virt *v, const char *domname, GError **err);

typedef struct {
	char *domain;		/* libvirt name */
	char *scenario;		/* from metadata */
	char *vm;
	char *config;		/* from metadata: "qemu-ga", "cloud-init+vnx", ...; NULL if older */
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
	bool container;		/* an LXC domain (a container), not a QEMU guest */
	char *move;		/* from metadata: who may move the container ("never",
				 * "operator", "cold"), NULL: the host's [balance] says */
} virt_dom_info;

/* One address of a VM's interface, from nube's metadata (strings owned). */
typedef struct {
	int id;			/* interface id, -1 when the metadata has none */
	char *net;
	char *addr;		/* "addr/len" */
} virt_dom_if;

void virt_dom_info_free(virt_dom_info *i);

/* virt_states: every domain on this host, by name -> GINT_TO_POINTER(1) running (active),
 * (2) not running; two libvirt calls whatever the number of domains (no stats, no metadata:
 * which are nube's is virt_list's business). New table (g_hash_table_unref) or NULL + err. */
GHashTable *virt_states(virt *v, GError **err);

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

/* virt_guest_write: write len bytes of data to the file path in the guest through its agent
 * (guest-file-open/write/close; parent folders made, file replaced), then set its mode and,
 * when owner is not NULL, its owner ("user" or "user:group"). */
int virt_guest_write(virt *v, const char *domname, const char *path, const void *data,
    size_t len, unsigned mode, const char *owner, int timeout_s, GError **err);

/* ---- configuration media (media.c) ----
 * A VM that boots its own image gets the media the deployment carries for it (of
 * proto_medium*) as ISO images in VIRT_POOL, volumes virt_media_volume() of its domain (see
 * "Disks": deleted with it, uploaded to a migration's destination); virt_render_domain
 * attaches (when virt_media_used) the "vnx" one as a read-only raw virtio disk vdb (where VNX's daemon looks on
 * Debian) and the "cidata" one as a read-only IDE CD-ROM hdc (cloud-init's NoCloud finds it
 * by its label). */

/* virt_media_used: true when dep gives vmname media and it boots its image here (not the test
 * guest that a missing image falls back to, not a <kernel>): then the media are written and
 * attached and the guest configures itself from them; else they are ignored. */
bool virt_media_used(virt *v, const scenario *s, const proto_deployment *dep, const char *vmname);
/* virt_media_volume: "<domname>.<kind>.iso" (g_free). */
char *virt_media_volume(const char *domname, const char *kind);
/* virt_media_write: write each medium as an ISO (genisoimage: VNX's "-l -R"; cidata "-V
 * cidata -J -R") into the pool's folder, replacing one of the same name, and refresh the
 * pool. 0, or -1 + err with none of them left behind. */
int virt_media_write(virt *v, const char *domname, const GPtrArray *media, GError **err);

typedef struct {
	int64_t duration_ms;	/* from libvirt job stats (VIR_DOMAIN_JOB_TIME_ELAPSED) */
	int64_t downtime_ms;	/* VIR_DOMAIN_JOB_DOWNTIME */
	uint64_t data_bytes;	/* VIR_DOMAIN_JOB_DATA_PROCESSED */
} virt_migrate_stats;

/* virt_migrate: live, peer-to-peer, persist on destination, undefine on source; dest_uri e.g.
 * "qemu+tcp://10.77.0.12/system", migrate_uri "tcp://10.77.0.12" (may be NULL). Blocking:
 * call from a worker thread with its own virt (virt_open) — libvirt connections are
 * thread-safe, but the caller's event loop must not wait on it. On failure the VM keeps
 * running on the source. Stats filled on success. 0 or -1 + err.
 * A domain with pool volumes takes them along: overlays are made on the destination's
 * VIRT_POOL (same name, same backing image, which must be there at the same path) and
 * copied while the VM runs (incremental storage migration: only the overlay moves),
 * read-only media are uploaded; a failed migration deletes what it made on the destination,
 * a successful one the source's volumes. */
int virt_migrate(virt *v, const char *domname, const char *dest_uri, const char *migrate_uri,
    virt_migrate_stats *stats, GError **err);

#endif
