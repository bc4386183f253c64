/* nubed: the agent's shared state and the helpers every part of it uses: the log, the one
 * event function, replies, calls to other hosts, work handed to the main loop. One process
 * per host, one GLib main loop; libvirt/netlink work runs in worker threads, each with its
 * own connections, and hands its messages to the main loop, which alone talks to the broker
 * (src/bus). Everything outside the process is reached through n->env (env.h). */
#ifndef NUBE_AGENT_NUBED_H
#define NUBE_AGENT_NUBED_H

#include <stdbool.h>
#include <glib.h>
#include <jansson.h>

#include "agent/config.h"
#include "agent/metrics.h"
#include "bus/bus.h"
#include "wire/hoststate.h"

typedef struct agent_env agent_env;

/* log levels (not LOG_*: those are syslog's) */
typedef enum { NLOG_DEBUG, NLOG_INFO, NLOG_WARN, NLOG_ERR } nlog_level;

typedef struct nubed {
	config *cfg;		/* owned */
	const agent_env *env;	/* the outside world: agent_env_real, or a test's fake */
	void *env_ud;		/* the environment's own data for this agent */
	GMainLoop *loop;
	bus *bus;		/* NULL with a fake environment */
	GThreadPool *pool;	/* rpc jobs (rpc.c) */
	char *state_topic, *online_topic, *rpc_pattern;
	/* telemetry (only touched by the one telemetry job in flight, or the main thread when
	 * none is) */
	bool telemetry_busy;
	bool telemetry_again;	/* a round was asked while one was running */
	bool sampled;		/* a telemetry round was published (or failed) since start */
	GPtrArray *early_jobs;	/* of rpc_job*: balancer ops that came before (rpc.c; main) */
	GPtrArray *tel_waiters;	/* of tel_waiter* (telemetry.c): run once the next round that
				 * starts is published (telemetry_then; main thread) */
	struct virt *tel_virt;	/* long-lived connection of the telemetry job */
	metrics_sample prev_host;
	bool have_prev_host;
	GHashTable *prev_vm;	/* domain -> telemetry_prev* */
	json_t *last_state;	/* last state published (main thread) */
	/* each new own sample, before it is published (main thread): main wires the balancer
	 * here (mape_on_state), which sets its "balance" object */
	void (*on_sample)(host_state *state, void *ud);
	void *on_sample_ud;
	/* specs of scenarios deployed here (for exec by seq without a spec), under specs_lock */
	GMutex specs_lock;
	GHashTable *specs;	/* scenario -> spec text */
	GHashTable *unmanaged;	/* scenario -> GHashTable set of its managed="no" nets, parsed
				 * from the spec once (dropped with it) */
	/* one mutex per scenario serialises deploy/undeploy/net ops of that scenario */
	GMutex scen_lock;
	GHashTable *scen_mutex;	/* scenario -> GMutex* (never freed: bounded by scenarios) */
	struct mape *mape;	/* the balancer (mape.h), NULL until created */
	/* the event journal (journal.h; nubed_state_open), NULL: events are only published */
	struct journal *journal;
	GMutex event_lock;	/* journal append + publish of one event, in seq order */
	/* what "status" answers without asking libvirt: the last listing of this host's
	 * domains as the reply's "vms", refreshed by every telemetry round and by the ops that
	 * make, remove or move domains (nubed_doms_put), under doms_lock */
	GMutex doms_lock;
	json_t *doms;		/* NULL before the first listing */
	double doms_at;		/* nubed_now when that listing began */
	double doms_stale_at;	/* nubed_now of the last change it cannot show (0: none) */
	/* self-healing's record of what runs here (heal.h), under heal_lock: published retained
	 * on nube/v1/host/<h>/heal and kept in <state_dir>/<h>/heal.json */
	GMutex heal_lock;
	json_t *heal_rec;	/* {"scenarios": {S: {spec, algorithm}}, "vms": {domain: entry},
				 * "healed": {host: ts}} */
	char *heal_topic;
} nubed;

/* nubed_init: n zeroed, then cfg (taken) and env set, tables and topics made. */
void nubed_init(nubed *n, config *cfg, const agent_env *env);

/* nubed_state_open: open this host's event journal in <state_dir>/<host>/ (created). Events
 * emitted before, or when it fails, are published without "seq". 0, or -1 + err. */
int nubed_state_open(nubed *n, GError **err);

/* nubed_state_path: <state_dir>/<host>/<file> (g_free) */
char *nubed_state_path(nubed *n, const char *file);

/* nubed_log_setup: the host name on every log line; debug lines only when verbose */
void nubed_log_setup(const char *host, bool verbose);

/* nubed_log: one line "<ISO time> <host> <level>: <msg>" on stderr. Thread-safe. */
void nubed_log(nlog_level lvl, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* nubed_event: THE event of the agent: log it, append it to the journal (which gives it this
 * host's next "seq") and publish {ts, host, seq, type, scenario, vm, msg, data} on
 * nube/v1/events, in seq order. scenario and vm (the VM's name, not its domain) may be NULL;
 * data (stolen, may be NULL = {}) carries the event's numbers (a migration's duration_ms,
 * downtime_ms, ...). Any thread. */
void nubed_event(nubed *n, const char *type, const char *scenario, const char *vm,
    json_t *data, const char *fmt, ...) G_GNUC_PRINTF(6, 7);

/* nubed_post: run fn(ud) on the main loop (any thread). */
void nubed_post(nubed *n, void (*fn)(void *ud), void *ud);

/* nubed_reply: answer request msg (NULL: body dropped) with body (stolen) + "host"; final
 * false for a progress message. Any thread. */
void nubed_reply(nubed *n, const bus_msg *msg, json_t *body, bool final);

/* nubed_call: send req (stolen) to host's rpc topic as this host and wait for the final reply
 * (worker threads only). The reply (json_decref) when it says "ok": true; NULL + *why
 * (g_free) otherwise: its error, a timeout or a lost connection. */
json_t *nubed_call(nubed *n, const char *host, json_t *req, char **why);
/* nubed_call_timeout: the same, waiting up to timeout_ms */
json_t *nubed_call_timeout(nubed *n, const char *host, json_t *req, int timeout_ms, char **why);

/* nubed_now: monotonic seconds of the environment's clock */
double nubed_now(nubed *n);

/* nubed_virt_open: a new libvirt connection with this host's options (close with
 * n->env->virt_close) */
struct virt *nubed_virt_open(nubed *n, GError **err);

/* nubed_spec_*: remembered specs of deployed scenarios (thread-safe). get returns a copy. */
void nubed_spec_put(nubed *n, const char *scenario, const char *spec);
char *nubed_spec_get(nubed *n, const char *scenario);
/* nubed_net_unmanaged: net of scenario is managed="no" in its remembered spec (an existing
 * host bridge nube neither makes nor stretches: a VM on it must stay on its host); false when
 * the spec is unknown */
bool nubed_net_unmanaged(nubed *n, const char *scenario, const char *net);
void nubed_spec_drop(nubed *n, const char *scenario);

/* nubed_doms_put: remember doms (virt_dom_info*, borrowed), listed from listed_at on
 * (nubed_now before the listing), as the domains this host has now.
 * nubed_doms_get: that listing as status's "vms" (new reference), NULL before the first and
 * while it is stale; *age_s (may be NULL) its age.
 * nubed_doms_stale: a domain arrived (a migration): listings begun before now are stale.
 * nubed_doms_refresh: list with v and put; 0 or -1 + err. Thread-safe. */
void nubed_doms_put(nubed *n, const GPtrArray *doms, double listed_at);
void nubed_doms_stale(nubed *n);
json_t *nubed_doms_get(nubed *n, double *age_s);
int nubed_doms_refresh(nubed *n, struct virt *v, GError **err);

/* nubed_scenario_mutex: the mutex serialising work on one scenario (thread-safe) */
GMutex *nubed_scenario_mutex(nubed *n, const char *scenario);

#endif
