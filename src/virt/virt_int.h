/* virt_int: what the files of the libvirt adapter share (not for callers of virt.h) */
#ifndef NUBE_VIRT_INT_H
#define NUBE_VIRT_INT_H

#include <libvirt/libvirt.h>

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
};

GQuark virt_error_quark(void);
#define VIRT_ERROR virt_error_quark()

/* set *err to "<context>: <libvirt's last error>" */
void virt_set_error(GError **err, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* virt_volume_path: where the pool keeps volume name (new string) */
char *virt_volume_path(const virt *v, const char *name);

#endif
