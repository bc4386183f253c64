/* topic: the MQTT topics of nube (rpc requests, replies) built and read in one place, and
 * which rpc ops each kind of sender may send. Pure: no I/O.
 *
 * Identities: the broker authenticates every client; an agent's broker user name is its host
 * name, and the broker's ACL lets user u write requests only as nube/v1/host/<h>/rpc/<u>
 * (the operator's users: .../rpc/operator) and replies only as nube/v1/reply/+/+/<u>, and
 * read replies only under nube/v1/reply/<u>/. So a receiver can trust the <sender> level of a
 * request topic and the <host> level of a reply topic. */
#ifndef NUBE_TOPIC_H
#define NUBE_TOPIC_H

#include <stdbool.h>

/* the sender name of the operator's requests (a host may not be called so) */
#define TOPIC_OPERATOR "operator"

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
 * balancer's admit, release, net-ensure (alias prepare-net) and net-remove; everything else
 * (deploy, undeploy, exec, status, drain, migrate, plan, ...) only the operator */
bool topic_op_peer(const char *op);

#endif
