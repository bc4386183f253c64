/* client: the operator side of the bus: client config (nube.conf), broker connection, live
 * host discovery from retained online/state messages, and parallel rpc fan-out to agents */
#ifndef NUBE_CLIENT_H
#define NUBE_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <jansson.h>

#include "bus/bus.h"
#include "wire/hoststate.h"

/* default search order when neither --config nor $NUBE_CONFIG is given */
#define CLIENT_CONF_SYSTEM	"/etc/nube/nube.conf"
#define CLIENT_CONF_LAB		"/run/nube-lab/nube.conf"
#define CLIENT_DEFAULT_URL	"mqtt://127.0.0.1:1883"
#define CLIENT_DEFAULT_TIMEOUT_S 120
#define CLIENT_DEFAULT_LIBVIRT_URI "qemu+tcp://%s/system"

/* The client config: [broker] url username password cafile; [store] path;
 * [deploy] vni_min vni_max timeout. */
typedef struct {
	char *file;		/* where it was read from */
	char *url;
	char *username;
	char *password;
	char *cafile;
	char *store_path;
	uint32_t vni_min, vni_max;
	int timeout_s;		/* rpc silence timeout for deploy/undeploy/exec */
	char *libvirt_uri;	/* [images] libvirt_uri: a host's libvirt, "%s" = its fabric
				 * address (images are uploaded there) */
} client_conf;

/* client_conf_load: read path, or when NULL the first existing of $NUBE_CONFIG,
 * CLIENT_CONF_SYSTEM, CLIENT_CONF_LAB. Returns a new config (client_conf_free) or NULL + err
 * (no file found, unreadable, malformed, bad values). */
client_conf *client_conf_load(const char *path, GError **err);
void client_conf_free(client_conf *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(client_conf, client_conf_free)

/* One host as seen from its retained messages. */
typedef struct {
	char *name;
	bool online;		/* host/<h>/online is "1" */
	host_state *state;	/* its last valid state message (owned), NULL when none */
} client_host;

/* client_host_live: online and its state is fresh now (host_state_fresh, the agents' rule) */
bool client_host_live(const client_host *h);

/* The connection of one CLI command. */
typedef struct {
	client_conf *conf;	/* borrowed */
	bus *bus;
	GHashTable *hosts;	/* name -> client_host*, owned */
	/* online watch: called for every host/<h>/online message after discovery */
	void (*on_online)(const char *host, bool online, void *ud);
	void *on_online_ud;
	GPtrArray *calls;	/* of client_call*, owned */
	bool discovering;
	gint64 last_msg_us;	/* monotonic time of the last discovery message */
	bool marked;		/* discovery: the broker's marker came back (bus_mark): every
				 * retained status was delivered */
} client;

/* client_connect: connect to the broker of conf and wait (bounded) for the connection.
 * NULL + err "cannot reach broker URL: reason" when that fails. Free with client_free. */
client *client_connect(client_conf *conf, GError **err);
void client_free(client *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(client, client_free)

/* client_discover: subscribe to every host's online and state topics and collect the retained
 * burst (returns when no message arrived for a quiet period, at most a few seconds). Fills
 * c->hosts; keeps the subscriptions (later messages update c->hosts and call on_online).
 * 0 or -1 + err. */
int client_discover(client *c, GError **err);

/* client_hosts_sorted: the hosts of c sorted by name (borrowed pointers; g_ptr_array_unref);
 * live_only keeps only live hosts. */
GPtrArray *client_hosts_sorted(client *c, bool live_only);

/* client_host_get: a host by name or NULL */
client_host *client_host_get(client *c, const char *name);

/* client_wait: iterate the default main context until pred(ud) is true or timeout_ms passed
 * (< 0 = no limit). Returns true when pred became true. */
bool client_wait(bool (*pred)(void *ud), void *ud, int timeout_ms);

/* ---- rpc requests to agents ---- */

typedef struct client_call client_call;
typedef void (*client_progress_cb)(client_call *call, const char *text, void *ud);
typedef void (*client_done_cb)(client_call *call, void *ud);

/* One request to one host, owned by the client (freed by client_free). */
struct client_call {
	char *host;
	char *op;
	bool done;
	bool ok;		/* final reply with "ok": true */
	json_t *reply;		/* final reply (owned) or NULL */
	char *error;		/* why it failed: reply "error", timeout, disconnect */
	client_progress_cb progress;
	client_done_cb on_done;
	void *ud;
	int *pending;		/* decremented when done, may be NULL */
};

/* client_call_start: send request (taken) to nube/v1/host/<h>/rpc/operator with timeout_ms
 * of silence (re-armed by progress). Increments *pending (may be NULL) now and decrements it
 * when the call is done; progress/on_done (may be NULL) get every progress text and the end.
 * A send failure makes the call done at once with an error. Returns the call (borrowed,
 * valid until client_free). */
client_call *client_call_start(client *c, const char *host, json_t *request, int timeout_ms,
    int *pending, client_progress_cb progress, client_done_cb on_done, void *ud);

/* client_call_abandon: end a call that is still waiting (e.g. its host went offline) with
 * error why; a reply arriving later is ignored. No-op when the call is done. */
void client_call_abandon(client_call *call, const char *why);

/* client_wait_calls: wait until *pending is 0 or *abort (may be NULL) is true, at most
 * limit_ms (< 0 = no limit; every call has its own silence timeout anyway). */
bool client_wait_calls(int *pending, bool *abort, int limit_ms);

/* client_call_live: send request (taken; each host gets a copy) to every live host, in the
 * order of client_hosts_sorted, with timeout_ms each, and wait until every call is done;
 * on_done (may be NULL) is called for each as by client_call_start. Returns the calls in that
 * order (borrowed pointers, valid until client_free; free the array with g_ptr_array_unref);
 * empty when no host is live. */
GPtrArray *client_call_live(client *c, json_t *request, int timeout_ms, client_done_cb on_done,
    void *ud);

/* client_vm_addrs: a VM's addresses from one entry of an agent's status reply. Takes the
 * structured "ifaces" ([{"if": id or null, "net", "addr"}]) when the agent sends it; an older
 * agent's "addrs" strings "IFID NET ADDR/LEN" are split as well as they can be (a net name
 * with a space is then ambiguous). Sets *addrs (new array of "addr/len" strings) and *ifaces
 * (new array of {"if", "net", "addr"}, entries without a known id left out). */
void client_vm_addrs(const json_t *entry, json_t **addrs, json_t **ifaces);

/* client_jstr: the string member key of o (a reply, an event), or NULL when o is not an
 * object or the member is missing or not a string. Borrowed from o. */
const char *client_jstr(const json_t *o, const char *key);

#endif
