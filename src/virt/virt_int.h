/* virt_int: what the files of the libvirt adapter share (not for callers of virt.h) */
#ifndef NUBE_VIRT_INT_H
#define NUBE_VIRT_INT_H

#include <libvirt/libvirt.h>
#include <libxml/tree.h>

#include "virt/virt.h"

struct virt {
	virConnectPtr conn;
	char *uri;		/* as opened (for messages) */
	char *kernel, *initrd;	/* default guest image */
	bool type_fallback;
	bool missing_image_fallback;
	char *disk_dir;		/* the "nube" pool's directory, no trailing '/' */
	char *image_dir;	/* the "nube-images" pool's directory, no trailing '/' */
	char *domain_type;	/* "kvm" or "qemu" */
	/* containers (lxc.c) */
	char *lxc_uri;		/* libvirt's LXC driver, NULL: no containers here */
	virConnectPtr lxc;	/* opened on first need (virt_lxc_usable), may stay NULL */
	char *container_dir;	/* per-container layers, no trailing '/' */
	bool container_fallback;	/* no working LXC driver: lxc VMs run as QEMU guests */
};

GQuark virt_error_quark(void);
#define VIRT_ERROR virt_error_quark()

/* set *err to "<context>: <libvirt's last error>" */
void virt_set_error(GError **err, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* virt_volume_path: where the pool keeps volume name (new string) */
char *virt_volume_path(const virt *v, const char *name);

/* virt.c's planned MAC of interface i and bridge of a net, for lxc.c */
const char *virt_planned_mac(const proto_vm_place *p, const sc_if *ifc, guint i);
void virt_bridge_of(const scenario *s, const char *net, char buf[16], const char **out);

/* ---- containers (lxc.c) ----
 * A type="lxc" VM is a libvirt LXC domain on v->lxc when the driver works here and its
 * <filesystem> is a directory on this host (the rootfs): root = an overlayfs, lower = that
 * rootfs, upper/work in container_dir/<domain>/ (type="direct": the rootfs itself), mounted
 * and configured (hostname, ifupdown interfaces, boot.sh: forwarding, routes, on_boot;
 * on_boot filetrees from the "vnx" medium) before the domain starts; the layer goes with the
 * domain (virt_volumes_delete). */
/* virt_lxc_type: vm is type="lxc" */
bool virt_lxc_type(const sc_vm *vm);
/* virt_lxc_usable: libvirt's LXC driver can start containers here (connects v->lxc; the
 * verdict of one test start per URI is kept for the life of the process). 0 or -1 + why. */
int virt_lxc_usable(virt *v, GError **err);
/* virt_lxc_decide: 1 when vm runs as a container here, 0 when not (not lxc; the QEMU
 * fallback, a warning into warnings; a rootfs not here: the disks' rules apply), -1 + err
 * when it is lxc, the driver cannot work and the fallback is off. */
int virt_lxc_decide(virt *v, const proto_deployment *dep, const sc_vm *vm, GPtrArray *warnings,
    GError **err);
/* virt_lxc_dir: container_dir/<domname> (g_free) */
char *virt_lxc_dir(const virt *v, const char *domname);
/* virt_lxc_prepare: mount the layer (a running container's is kept) and write vm's
 * configuration into its root. 0 or -1 + err (nothing left behind). */
int virt_lxc_prepare(virt *v, const scenario *s, const proto_deployment *dep, const sc_vm *vm,
    int mtu, GError **err);
/* virt_lxc_layer_remove: unmount and delete domname's layer (absent: 0). 0 or -1 + err. */
int virt_lxc_layer_remove(virt *v, const char *domname, GError **err);
/* virt_lxc_render: the LXC domain XML of vm (g_free); metadata renders nube's <metadata> */
char *virt_lxc_render(virt *v, const scenario *s, const proto_deployment *dep, const sc_vm *vm,
    int mtu, void (*metadata)(xmlNodePtr dom, const scenario *s, const sc_vm *vm,
    const proto_vm_place *place, const char *config), GError **err);
/* virt_lxc_lookup: domname on the LXC connection, NULL when none (no error set) */
virDomainPtr virt_lxc_lookup(virt *v, const char *domname);
/* virt_lxc_exec: sh -c cmd inside container dom (its namespaces, via libvirt-lxc), output
 * captured, up to timeout_s; as virt_guest_exec. */
int virt_lxc_exec(virt *v, virDomainPtr dom, const char *cmd, int timeout_s, int *exit_code,
    char **out, char **errout, GError **err);

/* storage.c: pool name sees the files written into its folder (or gone from it) */
void virt_pool_refresh(virt *v, const char *name);

/* lxc.c: p is a folder (through links); rm -r of p that never crosses into another file
 * system (a still-mounted overlay stays), 0 or -1 (errno) */
bool virt_is_dir(const char *p);
int virt_rm_tree(const char *p);

/* rootfs.c: the folder of the rootfs cache (container_dir/VIRT_ROOTFS_SUB/<sha256>), the
 * name an in-use list and an eviction give one ("<sha256>" VIRT_ROOTFS_SUFFIX) */
#define VIRT_ROOTFS_SUB		".rootfs"
#define VIRT_ROOTFS_SUFFIX	".rootfs"
/* virt_rootfs_remove: that folder gone — never one a container is layered on (an overlay's
 * lower folder must not change under it): the caller knows which are in use. 0 or -1 + err */
int virt_rootfs_remove(virt *v, const char *sha256, GError **err);
/* virt_rootfs_touch: the folder was layered on now (its mtime: least recently used goes first) */
void virt_rootfs_touch(const char *dir);

#endif
