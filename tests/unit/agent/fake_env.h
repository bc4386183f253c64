/* fake_env: a whole nube cluster in one process for the agent's tests — every host a real
 * nubed (rpc, telemetry, balancer) whose agent_env is fake: a broker that routes topics,
 * requests and replies between the agents, libvirt domains and netlink nets in memory, CPU
 * counters from a load the test sets, and a clock the test moves. No root, no lab. */
#ifndef NUBE_TESTS_FAKE_ENV_H
#define NUBE_TESTS_FAKE_ENV_H

#include <stdbool.h>
#include <glib.h>
#include <jansson.h>

#include "agent/env.h"

typedef struct fake_cluster fake_cluster;
typedef struct fake_host fake_host;

/* One domain on a fake host. */
typedef struct {
	char *scenario, *vm, *domain;
	char **nets;		/* NULL-ended */
	double cpu;		/* cores it burns */
	uint64_t mem_mib;
	double started;		/* fake time its counters started (on this host) */
	bool container;		/* an LXC container: moves cold (fake virt_cold_*) */
	bool stopped;		/* a container stopped by virt_cold_out, not started again yet */
	char *move;		/* its metadata's move-containers (nube deploy), NULL: none */
} fake_dom;

/* One scenario net on a fake host. */
typedef struct {
	char *scenario, *net;
	uint32_t vni;
	GPtrArray *remotes;	/* of char* */
} fake_net;

struct fake_host {
	fake_cluster *c;
	nubed n;		/* the real agent */
	char *name, *addr;
	double cpus;
	double base_load;	/* load 0..1 besides the domains' */
	uint64_t mem_mib;
	GPtrArray *doms;	/* of fake_dom*, under c->lock */
	GPtrArray *nets;	/* of fake_net*, under c->lock */
	GPtrArray *subs;	/* subscriptions of the agent */
	uint64_t busy, total;	/* /proc/stat counters */
	int fail_migrations;	/* the next N migrations from here fail */
	bool libvirt_down;	/* virt_probe of its libvirtd fails */
	int samples;		/* own samples published */
};

struct fake_cluster {
	GMutex lock;
	double now;		/* the monotonic clock, s */
	GPtrArray *hosts;	/* of fake_host* */
	GPtrArray *events;	/* of json_t*: every event published, in order */
	GPtrArray *op_replies;	/* of json_t*: replies to the test's requests */
	GHashTable *calls;	/* id -> pending call (agents' nubed_call) */
	unsigned next_id;
};

/* fake_cluster_new: an empty cluster at time 1000 s; free with fake_cluster_free */
fake_cluster *fake_cluster_new(void);
void fake_cluster_free(fake_cluster *c);

/* fake_host_add: host "name" at fabric address addr with cpus cores and mem_mib of memory;
 * its agent is configured with the [balance] keys in balance (key=value;... or NULL) and not
 * started yet (add domains and nets first, then fake_host_start). */
fake_host *fake_host_add(fake_cluster *c, const char *name, const char *addr, double cpus,
    uint64_t mem_mib, const char *balance);
/* fake_host_start: the agent subscribes and reconciles its nets, as nubed's main does */
void fake_host_start(fake_host *h);
/* fake_host_find: by name, or NULL */
fake_host *fake_host_find(fake_cluster *c, const char *name);

/* fake_dom_add: a running domain "<scenario>.<vm>" on h burning cpu cores, on nets (NULL-
 * ended, may be NULL) */
void fake_dom_add(fake_host *h, const char *scenario, const char *vm, double cpu,
    uint64_t mem_mib, const char *const *nets);
/* fake_container_add: the same, a container (moves by the fake cold move) */
void fake_container_add(fake_host *h, const char *scenario, const char *vm, double cpu,
    uint64_t mem_mib, const char *const *nets);
/* fake_dom_on: whether domain runs on h */
bool fake_dom_on(fake_host *h, const char *domain);
/* fake_net_add: net scenario/net with vni and remotes (NULL-ended) on h */
void fake_net_add(fake_host *h, const char *scenario, const char *net, uint32_t vni,
    const char *const *remotes);
/* fake_net_get: the net on h, or NULL (borrowed; under no lock: the test's own thread) */
fake_net *fake_net_get(fake_host *h, const char *scenario, const char *net);

/* fake_publish: deliver payload (raw text, not JSON-encoded) on topic to every agent
 * subscribed to it, as the broker would (a last will "0" on host/<h>/online) */
void fake_publish(fake_cluster *c, const char *topic, const char *payload);

/* fake_sample: move the clock by the interval, then one telemetry round of every host
 * (in order), each published and seen by its peers before the next */
void fake_sample(fake_cluster *c);

/* fake_run_until: iterate the main loop until done(ud) or timeout_ms; returns done(ud) */
bool fake_run_until(fake_cluster *c, bool (*done)(fake_cluster *c, void *ud), void *ud,
    int timeout_ms);

/* fake_event: the first event of type (and vm, may be NULL) published at or after index
 * *from (0 = from the start), waiting for it up to timeout_ms; *from is set past it. NULL
 * when none came. Borrowed. */
json_t *fake_event(fake_cluster *c, const char *type, const char *vm, guint *from,
    int timeout_ms);
/* fake_count: how many events of type were published */
guint fake_count(fake_cluster *c, const char *type);

/* fake_rpc: the operator's request req (stolen) to host, answered within timeout_ms: the
 * final reply (json_decref) or NULL; progress messages are in c->op_replies too */
/* fake_rpc_start / fake_rpc_wait: the operator's request in two steps (the id: g_free);
 * wait gives the final reply (json_decref) or NULL after timeout_ms */
char *fake_rpc_start(fake_cluster *c, const char *host, json_t *req);
json_t *fake_rpc_wait(fake_cluster *c, const char *id, int timeout_ms);
json_t *fake_rpc(fake_cluster *c, const char *host, json_t *req, int timeout_ms);
/* fake_rpc_as: the same, sent as sender (a host name: a peer's request) */
json_t *fake_rpc_as(fake_cluster *c, const char *sender, const char *host, json_t *req,
    int timeout_ms);

#endif
