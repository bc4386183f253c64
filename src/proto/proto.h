/* proto: what travels between the CLI and the agents (MQTT 5 topics, JSON payloads) and the
 * names both sides derive from a scenario (bridges, VXLAN devices). Pure: builds and reads
 * jansson objects, does no I/O.
 *
 * Topics (root "nube/v1/"):
 *   host/<h>/online   retained  "1"; last will "0"
 *   host/<h>/state    retained  telemetry JSON every interval (see proto_state_*); memory in
 *                     MiB: mem_total_mib, mem_used_mib, mem_promised_mib (configured memory
 *                     of its VMs), mem_reserve_mib (kept for the host)
 *   host/<h>/rpc/<sender>  requests to host h from <sender> (a host name or "operator"); the
 *                     broker's ACL lets an agent write only .../rpc/<its own name>, its own
 *                     online/state, events and reply/#. Payload {"op": "...", ...};
 *                     MQTT 5 response-topic + correlation-data;
 *                     the reply is {"ok": true, ...} or {"ok": false, "error": "..."} and may be
 *                     preceded by {"progress": "..."} messages on the same response topic
 *   reply/<client-id> response topics (CLI clients and agents)
 *   events            {"ts": unix_ms, "host": h, "type": "...", "scenario":..., "vm":..., "msg": ...}
 *
 * rpc ops: "deploy" {"deployment": {deployment}, "guest_timeout_s"?: N} (the deployment's keys
 *   may also sit in the request itself) -> {"ok", "vms": [{"vm","domain"}], "nets", "warnings"};
 *   "undeploy" {"scenario": S} -> {"ok", "domains": n, "nets": m};
 *   "exec" {"scenario": S, "vm": V, "cmd": C | "seq": Q [, "spec": X], "timeout_s"?: N}
 *   -> {"ok", "exit", "stdout", "stderr", "results": [{"vm","seq","cmd","exit","stdout","stderr"}]}
 *   (without "spec" the agent uses the one it kept from the deploy);
 *   "status" {} -> {"vms": [{scenario, vm, domain, state, active, addrs, ifaces, nets}],
 *   "nets": [...]} (ifaces: [{"if": id|null, "net", "addr"}]; addrs: "IFID NET ADDR" strings);
 *   "net-ensure" (alias "prepare-net") {"scenario","net","vni","hosts","addrs"[, "mtu"]},
 *   "net-remove" {"scenario","net"}; "admit", "migrate", "drain", ... (balancer).
 *   Every reply carries "host". Replies are published with MQTT 5 user property
 *   "nube-final" = "1" (final) or "0" (progress); bus_request relies on it.
 */
#ifndef NUBE_PROTO_H
#define NUBE_PROTO_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <jansson.h>

#include "scenario/scenario.h"
#include "plan/plan.h"
#include "util/diag.h"

#define PROTO_TOPIC_ROOT "nube/v1/"

/* Where one VM goes and what it was given. */
typedef struct {
	char *vm;
	char *host;
	GPtrArray *macs;	/* of char*, one per sc_if in file order */
	char *mgmt_addr;	/* "a.b.c.d/len" or NULL */
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

/* Device names (<= 15 chars, IFNAMSIZ) derived from scenario and net so every host and a
 * restarted agent agree: bridge "nbr" + 8 hex of FNV-1a("scenario/net"), VXLAN "nvx" + same.
 * The bridge's ifalias is "nube:<scenario>/<net>" (proto_net_alias) so links are recognisably
 * the scenario's. Writes into buf (at least 16 bytes). */
void proto_bridge_name(const char *scenario, const char *net, char buf[16]);
void proto_vxlan_name(const char *scenario, const char *net, char buf[16]);
char *proto_net_alias(const char *scenario, const char *net);	/* g_free */
/* proto_parse_alias: split "nube:S/N"; returns 0 and new strings, -1 if not ours */
int proto_parse_alias(const char *alias, char **scenario, char **net);

/* domain name of a VM: "<scenario>-<vm>" (libvirt domain names are cluster-wide unique) */
char *proto_domain_name(const char *scenario, const char *vm);	/* g_free */

#endif
