/* deployment: the message that tells a host what of a scenario it runs (the scenario text
 * plus the placement) and its JSON form. Pure: builds and reads jansson objects. The topics
 * and ops of the protocol are described in wire/topic.h. */
#ifndef NUBE_WIRE_DEPLOYMENT_H
#define NUBE_WIRE_DEPLOYMENT_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <jansson.h>

#include "scenario/scenario.h"
#include "plan/plan.h"
#include "util/diag.h"
#include "wire/names.h"

/* Configuration media: what a VM booting its own image reads its configuration from. The
 * CLI builds them (guestcfg), the agent writes each as an ISO image into its pool and
 * attaches it (virt/media.c). JSON: "media": [{"kind": "vnx"|"cidata", "files": [{"path":
 * "filetree/1/x", "mode": 420, "data": BASE64}]}], absent or [] when none. */
#define PROTO_MEDIUM_VNX	"vnx"		/* vnxboot.xml + filetree/<n>/: VNX's daemon */
#define PROTO_MEDIUM_CIDATA	"cidata"	/* meta-data, user-data, network-config */
#define PROTO_MEDIA_MAX_BYTES	(8u * 1024 * 1024)	/* file data of all media of one VM */
#define PROTO_MEDIA_PATH_MAX	1024

/* one file of a medium: path relative to the medium's root, checked by proto_media_path_check */
typedef struct {
	char *path;
	guint mode;		/* permission bits, 0..07777 */
	GBytes *data;
} proto_media_file;

typedef struct {
	char *kind;		/* PROTO_MEDIUM_VNX or PROTO_MEDIUM_CIDATA */
	GPtrArray *files;	/* of proto_media_file*, in the order given */
} proto_medium;

/* Where one VM goes and what it was given. */
typedef struct {
	char *vm;
	char *host;
	GPtrArray *macs;	/* of char*, one per sc_if in file order */
	char *mgmt_addr;	/* "a.b.c.d/len" or NULL */
	GPtrArray *media;	/* of proto_medium*, never NULL (empty: none) */
	/* the image its <filesystem> names, by content, when the operator has that file: the
	 * host boots it from its image cache ("<sha256>.<format>"); NULL: the path as written */
	char *image_sha256;
	char *image_format;	/* "qcow2" or "raw" */
	uint64_t image_size;	/* bytes */
	/* a container's rootfs folder by content (virt.h, "Rootfs folders by content"): the host
	 * layers it on its cached copy; NULL: the folder of that path on the host */
	char *rootfs_sha256;
} proto_vm_place;

/* Which hosts carry one net, and its VNI (0 = single host, no VXLAN). */
typedef struct {
	char *net;
	uint32_t vni;
	GPtrArray *hosts;	/* of char* host names */
	GPtrArray *addrs;	/* of char* fabric addresses, parallel to hosts */
} proto_net_place;

/* A deployment: the scenario text plus the placement; the agent parses the spec itself with
 * the same parser, so the model never needs a wire format of its own. */
typedef struct {
	char *scenario;
	char *spec;		/* VNX XML text */
	char *algorithm;
	char *move_containers;	/* "never", "operator" or "cold": who may move its containers
				 * (nube deploy --move-containers; NULL: each host's [balance]
				 * move-containers decides) */
	GPtrArray *vms;		/* of proto_vm_place* */
	GPtrArray *nets;	/* of proto_net_place* */
} proto_deployment;

/* proto_move_containers_ok: s is "never", "operator" or "cold" */
bool proto_move_containers_ok(const char *s);

/* proto_deployment_from_plan: build from a validated scenario, a plan with allocations and
 * the spec text; host_addr(name) gives each host's fabric address (may return NULL).
 * Returns a new object, free with proto_deployment_free. */
proto_deployment *proto_deployment_from_plan(const scenario *s, const plan *p, const char *spec,
    const char *(*host_addr)(const char *host, void *ud), void *ud);
void proto_deployment_free(proto_deployment *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(proto_deployment, proto_deployment_free)

/* JSON round trip; from_json returns NULL and adds to d on a malformed message. */
json_t *proto_deployment_to_json(const proto_deployment *d);
proto_deployment *proto_deployment_from_json(const json_t *j, diag *d);

const proto_vm_place *proto_deployment_vm(const proto_deployment *d, const char *vm);

/* proto_medium_new: an empty medium of kind (copied); free with proto_medium_free. */
proto_medium *proto_medium_new(const char *kind);
void proto_medium_free(proto_medium *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(proto_medium, proto_medium_free)
/* proto_medium_add: append a file (path copied, data referenced). */
void proto_medium_add(proto_medium *m, const char *path, guint mode, GBytes *data);
/* proto_vm_place_medium: the medium of kind of v, or NULL. */
const proto_medium *proto_vm_place_medium(const proto_vm_place *v, const char *kind);
/* proto_media_bytes: the file data of all of v's media, in bytes. */
gsize proto_media_bytes(const proto_vm_place *v);
/* proto_media_path_check: NULL when path may name a file on a medium (relative, no "." or
 * ".." or empty component, no control character, at most PROTO_MEDIA_PATH_MAX bytes), else
 * why not (a static string to follow the quoted path). */
const char *proto_media_path_check(const char *path);
/* proto_deployment_media_check: the media of every VM of d within PROTO_MEDIA_MAX_BYTES;
 * an error naming each VM over it goes to diag. True when all fit. */
bool proto_deployment_media_check(const proto_deployment *d, diag *diag);
const proto_net_place *proto_deployment_net(const proto_deployment *d, const char *net);

#endif
