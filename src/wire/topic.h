/* topic: what travels between the CLI and the agents (MQTT 5 topics, JSON payloads). Topics
 * are built and read only here, with which rpc ops each kind of sender may send. Pure: no I/O.
 * The deployment message is wire/deployment.h, the host state wire/hoststate.h, device and
 * domain names wire/names.h.
 *
 * Topics (root "nube/v1/"):
 *   host/<h>/online   retained  "1"; last will "0"
 *   host/<h>/state    retained  telemetry JSON every interval (wire/hoststate.h); memory in
 *                     MiB: mem_total_mib, mem_used_mib, mem_promised_mib (configured memory
 *                     of its VMs), mem_reserve_mib (kept for the host)
 *   host/<h>/heal     retained  self-healing's record of what runs on h, enough to restart it
 *                     elsewhere when h is gone (src/agent/heal.h): {"host", "ts", "scenarios":
 *                     {S: {"spec", "algorithm"}}, "vms": {domain: {"scenario", "vm", "gen",
 *                     "place": {a deployment's vm}, "nets": [its nets' placements]}},
 *                     "healed": {gone host: ts of its record this host restarted}}
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
 *   events            {"ts": unix_ms, "host": h, "seq": n, "type": "...", "scenario":..., "vm":...,
 *                     "msg": ..., "data"?: {...}}; every event is first appended to the host's
 *                     durable journal, seq = its place there (per host, strictly increasing,
 *                     kept across agent restarts); "migrated" has the VM name in "vm" and data
 *                     {"src","dst","duration_ms","downtime_ms"}. The "events" op reads the
 *                     journal back, so a CLI that was not following imports each event once.
 *   Every message is at most PROTO_MAX_MESSAGE bytes of payload (the broker's max_packet_size
 *   is PROTO_MAX_PACKET); larger ones are refused with an error by sender and receiver.
 *
 * rpc ops: "deploy" {"deployment": {deployment}, "guest_timeout_s"?: N} (the deployment's keys
 *   may also sit in the request itself) -> {"ok", "vms": [{"vm","domain"}], "nets", "warnings"};
 *   "undeploy" {"scenario": S} -> {"ok", "domains": n, "nets": m};
 *   "exec" {"scenario": S, "vm": V, "cmd": C | "seq": Q [, "steps": [...] | "spec": X],
 *   "timeout_s"?: N} -> {"ok", "exit", "stdout", "stderr", "results": [{"vm","seq","cmd",
 *   "exit","stdout","stderr"} or {"vm","seq","filetree","files"}]}; "steps" (the CLI's
 *   guestcfg_exec_steps: filetrees with their files, then commands) is what the agent does;
 *   without it the seq's execs of "spec" (or of the spec kept from the deploy) run;
 *   "status" {} -> {"vms": [{scenario, vm, domain, state, active, addrs, ifaces, nets}],
 *   "nets": [{"scenario","net","vni": V or 0,"bridge","remotes"}]} (one per net present on the
 *   host; ifaces: [{"if": id|null, "net", "addr"}]; addrs: "IFID NET ADDR" strings);
 *   "events" {"since": N >= 0, "limit"?: 1..10000 (default 1000)} (operator only) ->
 *   {"ok", "events": [journaled events with seq > N, oldest first], "last": highest seq in the
 *   journal, "more": events after the last returned exist};
 *   "net-ensure" {"scenario","net","vni","hosts","addrs"[, "mtu"][,
 *   "existing": true = only when the net is here already]},
 *   "net-remove" {"scenario","net"}; "admit", "migrate", "drain", ... (balancer);
 *   "wake" {"need"?: cores} (a peer: leave standby) -> {"ok", "woken": bool};
 *   "heal" {"host": gone host, "domain", "gen": new generation >= 2} (a peer, the healer:
 *   restart that VM here from the gone host's own retained heal record, as a deploy; refused
 *   unless the receiver sees that host gone and its record lists the VM below gen) -> the
 *   deploy's answer.
 *   The fields each op takes and their types are in rpcreq.c; the agent refuses a request
 *   that does not fit before it runs (a wrong type is an error, never a default).
 *   Every reply carries "host". Replies are published with MQTT 5 user property
 *   "nube-final" = "1" (final) or "0" (progress); bus_request relies on it.
 *
 * Identities: the broker authenticates every client; an agent's broker user name is its host
 * name, and the broker's ACL lets user u write requests only as nube/v1/host/<h>/rpc/<u>
 * (the operator's users: .../rpc/operator) and replies only as nube/v1/reply/+/+/<u>, and
 * read replies only under nube/v1/reply/<u>/. So a receiver can trust the <sender> level of a
 * request topic and the <host> level of a reply topic. */
#ifndef NUBE_WIRE_TOPIC_H
#define NUBE_WIRE_TOPIC_H

#include <stdbool.h>

#define PROTO_TOPIC_ROOT "nube/v1/"

/* Largest payload of one message (bytes): a deploy of a 10,000-VM scenario (2,000 nets, 100
 * hosts) is about 3 MiB (test_topic measures it). PROTO_MAX_PACKET adds room for topic and
 * properties: the broker's max_packet_size and the clients' CONNECT maximum packet size. */
#define PROTO_MAX_MESSAGE	(16 << 20)
#define PROTO_MAX_PACKET	(PROTO_MAX_MESSAGE + (64 << 10))

/* the sender name of the operator's requests (a host may not be called so) */
#define TOPIC_OPERATOR "operator"

#define TOPIC_EVENTS		PROTO_TOPIC_ROOT "events"
#define TOPIC_STATE_ALL		PROTO_TOPIC_ROOT "host/+/state"
#define TOPIC_ONLINE_ALL	PROTO_TOPIC_ROOT "host/+/online"
#define TOPIC_HEAL_ALL		PROTO_TOPIC_ROOT "host/+/heal"

/* topic_host: "nube/v1/host/<host>/<leaf>" (g_free); leaf "state", "online", "rpc/+", ... */
char *topic_host(const char *host, const char *leaf);
/* topic_host_parse: "<h>" (g_free) of "nube/v1/host/<h>/<leaf>" when leaf matches and h is a
 * valid level, else NULL */
char *topic_host_parse(const char *topic, const char *leaf);

/* topic_level_ok: s can be one topic level: non-empty, at most 128 bytes, no '/', '+', '#'
 * and no control characters */
bool topic_level_ok(const char *s);

/* topic_rpc: "nube/v1/host/<host>/rpc/<sender>" (g_free) */
char *topic_rpc(const char *host, const char *sender);
/* topic_rpc_parse: split a request topic; 0 and new strings (either out may be NULL), or -1
 * when topic is not "nube/v1/host/<h>/rpc/<s>" with valid levels */
int topic_rpc_parse(const char *topic, char **host, char **sender);

/* topic_reply: response topic of client client_id of broker user user for replies from
 * host: "nube/v1/reply/<user>/<client_id>/<host>" (g_free) */
char *topic_reply(const char *user, const char *client_id, const char *host);
/* topic_reply_sub: the subscription that receives every reply of that client:
 * "nube/v1/reply/<user>/<client_id>/+" (g_free) */
char *topic_reply_sub(const char *user, const char *client_id);
/* topic_reply_parse: split a reply topic; 0 and new strings (outs may be NULL), or -1 */
int topic_reply_parse(const char *topic, char **user, char **client_id, char **host);

/* topic_op_peer: whether another agent (sender = a host name) may send op: only the
 * balancer's admit, release, net-ensure, net-remove, image-status, image-commit, wake and
 * self-healing's heal; everything else
 * (deploy, undeploy, exec, status, drain, migrate, plan, ...) only the operator */
bool topic_op_peer(const char *op);

#endif
