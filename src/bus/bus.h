/* bus: the MQTT 5 message bus over libmosquitto, driven by a GLib main loop; used by nubed and
 * the CLI alike: connect with credentials (+TLS) announcing PROTO_MAX_PACKET as maximum packet
 * size, last will, retained publish, subscribe, request/response with MQTT 5 response-topic +
 * correlation-data, reconnect with back-off. */
#ifndef NUBE_BUS_H
#define NUBE_BUS_H

#include <stdbool.h>
#include <glib.h>
#include <jansson.h>

typedef struct bus bus;

typedef struct {
	char *url;		/* mqtt://host:port or mqtts://host:port */
	char *username;		/* one topic level (no '/', '+', '#') */
	char *password;
	char *reply_user;	/* <user> of the reply topics: NULL = username, or "anonymous"
				 * without one (an agent gives its host name: the broker
				 * user name it must have anyway) */
	char *cafile;		/* TLS CA (mqtts), may be NULL */
	char *client_id;	/* NULL = generated */
	char *will_topic;	/* last will, may be NULL */
	char *will_payload;
	bool will_retain;
	int keepalive_s;	/* default 10 */
} bus_opts;

/* Context of a received request, for bus_reply (copied by the bus; valid during callback). */
typedef struct bus_msg {
	const char *topic;
	const char *payload;	/* NUL-terminated copy */
	int len;
	const char *response_topic;	/* NULL when none */
	const void *correlation;	/* may be NULL */
	int correlation_len;
	bool retained;
} bus_msg;

typedef void (*bus_msg_cb)(bus *b, const bus_msg *m, void *ud);
/* reply callback of bus_request: reply is borrowed; final=false for progress messages;
 * reply == NULL and final=true on timeout or disconnect (err_msg says which) */
typedef void (*bus_reply_cb)(bus *b, json_t *reply, bool final, const char *err_msg, void *ud);
typedef void (*bus_conn_cb)(bus *b, bool connected, void *ud);

/* bus_new: create the client and attach it to ctx (NULL = default main context); starts
 * connecting in the background, reconnecting with back-off (1 s .. 30 s). */
bus *bus_new(const bus_opts *o, GMainContext *ctx, GError **err);
void bus_free(bus *b);

/* bus_wait_connected: iterate the main context until connected or timeout; 0 or -1 + err
 * (e.g. "broker 10.77.0.1:1883: connection refused: not authorised"). */
int bus_wait_connected(bus *b, int timeout_ms, GError **err);
bool bus_is_connected(const bus *b);
void bus_on_connect(bus *b, bus_conn_cb cb, void *ud);	/* also called after reconnects */

/* bus_subscribe: pattern with MQTT wildcards; cb for every matching message. Subscriptions
 * are renewed after reconnects. */
int bus_subscribe(bus *b, const char *pattern, bus_msg_cb cb, void *ud, GError **err);
int bus_publish(bus *b, const char *topic, const char *payload, int len, int qos, bool retain,
    GError **err);
int bus_publish_json(bus *b, const char *topic, json_t *j, int qos, bool retain, GError **err);

/* bus_request: publish j on topic, a host's request topic nube/v1/host/<h>/rpc/<sender>,
 * with the response topic nube/v1/reply/<user>/<client-id>/<h> and a fresh correlation; cb
 * gets progress and the final reply — taken only from that topic, the one only host h may
 * publish on — or a timeout after timeout_ms of silence (each progress message re-arms the
 * timer). A request over PROTO_MAX_MESSAGE is refused ("request of N MiB exceeds the limit
 * of M MiB"), as is any publish over it. 0 or -1 + err. */
int bus_request(bus *b, const char *topic, json_t *j, int timeout_ms, bus_reply_cb cb, void *ud,
    GError **err);

/* bus_mark: publish a marker on this client's own reply topic (nube/v1/reply/<user>/<id>/<user>,
 * which the broker's ACL lets only <user> write); cb gets it back as a final reply {"ok": true,
 * "marker": true} once the broker delivered every message it had queued for this client
 * before — the retained messages of the subscriptions made before the call included (the
 * broker sends a client's QoS 1 messages in order) — or a timeout after timeout_ms. 0 or
 * -1 + err. */
int bus_mark(bus *b, int timeout_ms, bus_reply_cb cb, void *ud, GError **err);

/* bus_reply: answer the request m (no-op when it has no response topic); final=false for
 * progress messages. A reply over PROTO_MAX_MESSAGE is replaced by a final error reply. */
int bus_reply(bus *b, const bus_msg *m, json_t *j, bool final, GError **err);

/* ---- from other threads: the one way to hand work to the loop that runs the bus ----
 * Every function below may be called from any thread; the work itself is done by the bus's
 * main context (the thread running it), which alone talks to libmosquitto. Failures of work
 * done later (a reply or publish lost) go to the bus_on_error hook. */

/* bus_on_error: cb(msg) for work posted with bus_post_* that failed on the loop. */
void bus_on_error(bus *b, void (*cb)(const char *msg, void *ud), void *ud);

/* bus_post: run fn(ud) on the bus's main context (at once when called from it). */
void bus_post(bus *b, void (*fn)(void *ud), void *ud);

/* bus_post_reply: bus_reply of body (stolen) to request m (copied), on the loop. */
void bus_post_reply(bus *b, const bus_msg *m, json_t *body, bool final);

/* bus_post_publish: bus_publish_json of j (stolen) on topic, on the loop; dropped (and
 * reported) when the broker is not connected. */
void bus_post_publish(bus *b, const char *topic, json_t *j, int qos, bool retain);

/* bus_call_sync: bus_request of req (stolen) from a thread that is NOT the loop's, waiting for
 * the final reply: a new reference to it (whatever its "ok"), or NULL + err on silence for
 * timeout_ms, a lost connection or a request that could not be sent. */
json_t *bus_call_sync(bus *b, const char *topic, json_t *req, int timeout_ms, GError **err);

/* bus_msg_copy: deep copy of a received message, to answer it later (e.g. after a job ran in
 * a worker thread); free with bus_msg_free (accepts NULL). */
bus_msg *bus_msg_copy(const bus_msg *m);
void bus_msg_free(bus_msg *m);

#endif
