/* media: the configuration media of the VMs that boot their own image (VNX's vnxboot medium
 * and a cloud-init NoCloud seed), built by guestcfg from the scenario and the plan and
 * attached to the deployment message; the agent writes them (virt/media.c) */
#ifndef NUBE_CLI_MEDIA_H
#define NUBE_CLI_MEDIA_H

#include <stdbool.h>
#include <glib.h>

#include "scenario/scenario.h"
#include "util/diag.h"
#include "wire/deployment.h"

typedef struct media_prep media_prep;	/* opaque: host files resolved, per VM */

/* media_wanted: true when vm boots its own image (a <filesystem>, no <kernel>): it gets
 * media. */
bool media_wanted(const sc_vm *vm);

/* media_prepare: read every host file the on_boot <filetree>s and <exec type="file">s of
 * the VMs of s that get media name (guestcfg_resolve, relative to <basedir> or the scenario
 * file's folder) and check what can be checked before the plan (the cloud-init user-data).
 * Every problem goes to d, naming the VM, the path as written and where it was looked for.
 * Returns a new object (media_prep_free; s must outlive it), or NULL when d got an error. */
media_prep *media_prepare(const scenario *s, diag *d);
void media_prep_free(media_prep *mp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(media_prep, media_prep_free)

/* media_attach: for every VM of dep that gets media, build its two media from mp and its
 * planned MACs: "vnx" (vnxboot.xml with a fresh id, filetree/<n>/...) and "cidata"
 * (meta-data with an instance-id derived from the seed's content, user-data,
 * network-config), and add them to its place in dep. The MTU is left to the NIC (the
 * domain's virtio NIC announces it). Errors (and the per-VM cap, PROTO_MEDIA_MAX_BYTES) go
 * to d; returns the number of VMs given media, or -1 when d got an error. */
int media_attach(media_prep *mp, proto_deployment *dep, diag *d);

#endif
