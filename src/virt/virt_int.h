/* virt_int: what the files of the libvirt adapter share among themselves (virt.c, media.c) */
#ifndef NUBE_VIRT_INT_H
#define NUBE_VIRT_INT_H

#include <glib.h>
#include <libvirt/libvirt.h>

#include "virt/virt.h"

GQuark virt_error_quark(void);
#define VIRT_ERROR virt_error_quark()

/* the connection and URI of v, borrowed */
virConnectPtr virt_conn(const virt *v);
const char *virt_uri(const virt *v);

#endif
