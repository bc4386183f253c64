/* storage: the disks of nube's VMs, shared by the files of the libvirt adapter (the public
 * part is in virt.h: pool, checks, prepare, delete) */
#ifndef NUBE_VIRT_STORAGE_H
#define NUBE_VIRT_STORAGE_H

#include <stdint.h>

#include "virt/virt_int.h"

typedef enum {
	VIRT_BOOT_TEST_GUEST,	/* nube's kernel + initrd, no disk */
	VIRT_BOOT_KERNEL,	/* the VM's <kernel> (and initrd), its filesystem as vda if any */
	VIRT_BOOT_DISK,		/* the firmware boots vda */
} virt_boot;

/* what one VM boots; strings borrowed from the scenario or the virt unless said */
typedef struct {
	virt_boot boot;
	const char *kernel, *initrd;	/* VIRT_BOOT_TEST_GUEST and _KERNEL (initrd may be NULL) */
	char *image;			/* the image vda is or sits on (owned): the file the
					 * scenario names, or its copy in the image cache */
	const char *image_format;	/* "qcow2" or "raw", by content */
	uint64_t capacity;		/* the image's virtual size, bytes */
	bool overlay;			/* type="cow": vda is an overlay in the pool */
	char *disk;			/* vda's file (owned), NULL without an image */
	const char *disk_format;
} virt_vm_disk;

/* virt_image_probe: format ("qcow2" by its magic, else "raw") and virtual size of an image */
int virt_image_probe(const char *path, const char **format, uint64_t *capacity, GError **err);

/* virt_vm_disk_decide: fill d for vm (see virt.h "Disks"); a missing file is an error, or,
 * with the fallback, the test guest and a warning into warnings (may be NULL). 0 or -1. */
int virt_vm_disk_decide(virt *v, const scenario *s, const proto_deployment *dep,
    const sc_vm *vm, virt_vm_disk *d, GPtrArray *warnings, GError **err);
void virt_vm_disk_clear(virt_vm_disk *d);

/* virt_migrate_volumes_send: make dom's pool volumes on the destination connection dc:
 * media uploaded, overlays created empty on the same backing; names made go to made (of
 * char*), the targets to mirror (of char*, e.g. "vda") for VIR_MIGRATE_PARAM_MIGRATE_DISKS.
 * 0 or -1 + err (what was made is in made: undo it). */
int virt_migrate_volumes_send(virt *v, virConnectPtr dc, const char *duri, virDomainPtr dom,
    GPtrArray *made, GPtrArray *mirror, GError **err);
/* virt_migrate_volumes_undo: delete the volumes named in made on dc (errors ignored) */
void virt_migrate_volumes_undo(virConnectPtr dc, const char *duri, GPtrArray *made);

#endif
