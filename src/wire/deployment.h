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

/* Where one VM goes and what it was given. */
typedef struct {
	char *vm;
	char *host;
	GPtrArray *macs;	/* of char*, one per sc_if in file order */
	char *mgmt_addr;	/* "a.b.c.d/len" or NULL */
	/* the image its <filesystem> names, by content, when the operator has that file: the
	 * host boots it from its image cache ("<sha256>.<format>"); NULL: the path as written */
	char *image_sha256;
	char *image_format;	/* "qcow2" or "raw" */
	uint64_t image_size;	/* bytes */
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
	GPtrArray *vms;		/* of proto_vm_place* */
	GPtrArray *nets;	/* of proto_net_place* */
} proto_deployment;

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
const proto_net_place *proto_deployment_net(const proto_deployment *d, const char *net);

#endif
