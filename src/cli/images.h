/* images: the images of a deployment's VMs, by content, sent to the hosts that lack them */
#ifndef NUBE_CLI_IMAGES_H
#define NUBE_CLI_IMAGES_H

#include <stdbool.h>

#include "cli/session.h"
#include "scenario/scenario.h"
#include "wire/deployment.h"

/* images_send: for each VM of dep whose <filesystem type="cow"> names a file on this machine
 * (relative paths as VNX takes them, guestcfg_host_path), or for a type="lxc" VM a folder
 * (its rootfs): its sha256 (and a file's format and size) go into its placement, and its host
 * gets the image or rootfs in its cache when it lacks it (upload over libvirt at the conf's
 * libvirt_uri, several hosts at once, progress unless quiet, then checked by the agent). A
 * path that is not here is left to the host. 0, or -1 with the errors printed. */
int images_send(session *sess, const scenario *s, proto_deployment *dep, bool quiet,
    int timeout_s);

#endif
