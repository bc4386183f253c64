/* nubed: the agent's shared state and the helpers its parts use (log, events, main-thread
 * calls). One process per host, one GLib main loop; libvirt/netlink work runs in a thread
 * pool, each job with its own connections, and reports back to the main loop, which alone
 * talks to the broker. */
#ifndef NUBE_AGENT_NUBED_H
#define NUBE_AGENT_NUBED_H

#include <stdbool.h>
#include <glib.h>
#include <jansson.h>

#include "agent/config.h"
#include "agent/metrics.h"
#include "bus/bus.h"
#include "virt/virt.h"

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERR } log_level;

typedef struct nubed {
	config *cfg;
	bool verbose;
	GMainLoop *loop;
	bus *bus;
	GThreadPool *pool;
	char *state_topic, *online_topic, *rpc_pattern;
	/* telemetry (only touched by the one telemetry job in flight, or the main thread when
	 * none is) */
	bool telemetry_busy;
	bool telemetry_again;	/* a publish was asked while one was running */
	virt *tel_virt;		/* long-lived connection of the telemetry job */
	metrics_sample prev_host;
	bool have_prev_host;
	GHashTable *prev_vm;	/* domain -> vm_prev* */
	json_t *last_state;	/* last state built (main thread) */
	/* specs of scenarios deployed here (for exec by seq without a spec), under specs_lock */
	GMutex specs_lock;
	GHashTable *specs;	/* scenario -> spec text */
	/* one mutex per scenario serialises deploy/undeploy/net ops of that scenario */
	GMutex scen_lock;
	GHashTable *scen_mutex;	/* scenario -> GMutex* (never freed: bounded by scenarios) */
	struct mape *mape;	/* the balancer (mape.h), NULL until created */
} nubed;

/* nubed_log: one line "<ISO time> <host> <level>: <msg>" on stderr; debug only with -v.
 * Thread-safe. */
void nubed_log(log_level lvl, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* nubed_event: publish {"ts","host","type","scenario","vm","msg"} on nube/v1/events (from any
 * thread: the publish is done by the main loop); scenario/vm may be NULL. Also logged. */
void nubed_event(nubed *n, const char *type, const char *scenario, const char *vm,
    const char *fmt, ...) G_GNUC_PRINTF(5, 6);

/* nubed_virt_open: a new libvirt connection with this host's options (caller closes) */
virt *nubed_virt_open(nubed *n, GError **err);

/* nubed_publish_state: ask for a telemetry round now (main thread); _async from any thread */
void nubed_publish_state(nubed *n);
void nubed_publish_state_async(nubed *n);

/* nubed_spec_*: remembered specs of deployed scenarios (thread-safe). get returns a copy. */
void nubed_spec_put(nubed *n, const char *scenario, const char *spec);
char *nubed_spec_get(nubed *n, const char *scenario);
void nubed_spec_drop(nubed *n, const char *scenario);

/* nubed_scenario_mutex: the mutex serialising work on one scenario (thread-safe) */
GMutex *nubed_scenario_mutex(nubed *n, const char *scenario);

#endif
