/* proto: what travels between the CLI and the agents (MQTT 5 topics, JSON payloads) and the
 * names both sides derive from a scenario (bridges, VXLAN devices). Pure: builds and reads
 * jansson objects, does no I/O.
 *
 * Topics (root "nube/v1/"; built and split in proto/topic.h):
 *   host/<h>/online   retained  "1"; last will "0"
 *   host/<h>/state    retained  telemetry JSON every interval (see proto_state_*); memory in
 *                     MiB: mem_total_mib, mem_used_mib, mem_promised_mib (configured memory
 *                     of its VMs), mem_reserve_mib (kept for the host)
 *   host/<h>/rpc/<sender>  requests to host h from <sender>: "operator" (the CLI) or a host
 *                     name (a peer agent). The broker's ACL lets an agent (user = host name)
 *                     write only .../rpc/<its own name> and the operator only .../rpc/operator,
 *                     so <sender> is trusted; a peer may send only the balancer's ops
 *                     (topic_op_peer), the agent refuses the rest. Payload {"op": "...", ...};
 *                     MQTT 5 response-topic + correlation-data;
 *                     the reply is {"ok": true, ...} or {"ok": false, "error": "..."} and may be
 *                     preceded by {"progress": "..."} messages on the same response topic
 *   reply/<user>/<client-id>/<h>  response topic of a request from client <client-id> of broker
 *                     user <user> to host h: only <user> may read reply/<user>/#, only host h
 *                     may write reply/+/+/<h>; the requester takes a reply only on the topic
 *                     of the host it asked
 *   events            {"ts": unix_ms, "host": h, "type": "...", "scenario":..., "vm":..., "msg": ...}
 *   Every message is at most PROTO_MAX_MESSAGE bytes of payload (the broker's max_packet_size
 *   is PROTO_MAX_PACKET); larger ones are refused with an error by sender and receiver.
 *
 * rpc ops: "deploy" {"deployment": {deployment}, "guest_timeout_s"?: N} (the deployment's keys
 *   may also sit in the request itself) -> {"ok", "vms": [{"vm","domain"}], "nets", "warnings"};
 *   "undeploy" {"scenario": S} -> {"ok", "domains": n, "nets": m};
 *   "exec" {"scenario": S, "vm": V, "cmd": C | "seq": Q [, "spec": X], "timeout_s"?: N}
 *   -> {"ok", "exit", "stdout", "stderr", "results": [{"vm","seq","cmd","exit","stdout","stderr"}]}
 *   (without "spec" the agent uses the one it kept from the deploy);
 *   "status" {} -> {"vms": [{scenario, vm, domain, state, active, addrs, ifaces, nets}],
 *   "nets": [...]} (ifaces: [{"if": id|null, "net", "addr"}]; addrs: "IFID NET ADDR" strings);
 *   "net-ensure" (alias "prepare-net") {"scenario","net","vni","hosts","addrs"[, "mtu"][,
 *   "existing": true = only when the net is here already]},
 *   "net-remove" {"scenario","net"}; "admit", "migrate", "drain", ... (balancer).
 *   The fields each op takes and their types are in rpcreq.c; the agent refuses a request
 *   that does not fit before it runs (a wrong type is an error, never a default).
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

/* Largest payload of one message (bytes): a deploy of a 10,000-VM scenario (2,000 nets, 100
 * hosts) is about 3 MiB (test_topic measures it). PROTO_MAX_PACKET adds room for topic and
 * properties: the broker's max_packet_size and the clients' CONNECT maximum packet size. */
#define PROTO_MAX_MESSAGE	(16 << 20)
#define PROTO_MAX_PACKET	(PROTO_MAX_MESSAGE + (64 << 10))

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
/* proto_parse_alias: split "nube:S/N"; returns 0 and new strings, -1 if not ours (also when
 * S or N is not a valid name, sc_name_check) */
int proto_parse_alias(const char *alias, char **scenario, char **net);

/* domain name of a VM: "<scenario>.<vm>" (SC_DOMAIN_SEP; libvirt domain names are
 * cluster-wide unique). Names cannot hold the separator (sc_name_check), so two VMs of two
 * scenarios never share a domain name and proto_split_domain undoes it. */
char *proto_domain_name(const char *scenario, const char *vm);	/* g_free */
/* proto_split_domain: "<scenario>.<vm>" with two valid names -> 0 and new strings (either
 * pointer may be NULL); -1 for anything else */
int proto_split_domain(const char *domain, char **scenario, char **vm);

#endif
