/* mape: the live MAPE loop of nubed — analyse each telemetry sample with the balance core,
 * plan with reasons, ask destinations for admission, prepare the VM's scenario networks on the
 * destination, live-migrate through libvirt, back off with a penalty, evacuate on drain/leave.
 *
 * Threads: the mape state lives behind one mutex. Telemetry hooks, peer states and the quick
 * rpc ops (admit, release, plan) run on the main loop; plans, drains and migrations run in
 * their own worker threads, which talk to other hosts through mape's synchronous rpc helper
 * (the request itself is always published by the main loop) and to libvirt through their own
 * connections.
 *
 * Configuration: the [balance] group of nubed.conf. Every key of balance_config (names with
 * '-' or '_': load-threshold or load_threshold, alarm-count, penalty, penalty-step, policy,
 * ...) plus the agent's own keys:
 *   max-migrations    [1]    migrations in flight from this host at once (1..16)
 *   evacuate          [false] move every VM away before the agent exits (SIGTERM/SIGINT)
 *   evacuate-timeout  [600]  s: give up evacuating after this (0 = try until done)
 *   link-mbps         [1000] uplink speed used for the VMs' network utilisation
 *   rpc-timeout       [15]   s: silence before an rpc to another host counts as lost
 *   enabled           [true] false: monitor and publish, no autonomous plans (an operator's
 *                            `nube balance` still acts)
 * The [nubed] interval is the sampling interval (the core's own "interval" key is ignored).
 *
 * Events (nube/v1/events, JSON {ts, host, type, scenario, vm, msg, data}): alone, plan,
 * penalty, penalty-cancelled, admit, refuse, migrate-start, migrated, migrate-failed,
 * net-cleanup, drain-start, drain-done, drain-failed, drain-cancelled. */
#ifndef NUBE_AGENT_MAPE_H
#define NUBE_AGENT_MAPE_H

#include <stdbool.h>
#include <glib.h>
#include <jansson.h>

#include "agent/nubed.h"
#include "balance/balance.h"

typedef struct mape mape;

/* Agent-side settings of the balancer (besides balance_config). */
typedef struct {
	int max_migrations;
	bool evacuate;
	double evacuate_timeout;	/* s, 0 = no limit */
	double link_mbps;
	double rpc_timeout;		/* s */
	bool enabled;
} mape_conf;

/* mape_conf_load: defaults, then the [balance] group of the key file path (NULL or a file
 * without the group: defaults only) into bc (core settings) and mc (agent settings).
 * Unknown keys and bad values fail with "<file>: [balance] ...". 0 or -1 + err. */
int mape_conf_load(const char *path, balance_config *bc, mape_conf *mc, GError **err);

/* mape_new: the balancer of agent n, configured from n->cfg->file. NULL + err on a bad
 * [balance] group. Free with mape_free (after the main loop stopped). */
mape *mape_new(nubed *n, GError **err);
void mape_free(mape *m);

/* mape_start: subscribe to the peers' online and state topics (main thread, bus created,
 * before the main loop runs); remove the nube nets no local domain uses and, from a thread
 * once the broker is there, ask their other carriers to drop this host from their FDB.
 * 0 or -1 + err. */
int mape_start(mape *m, GError **err);

/* mape_set_evacuate: command-line override of the evacuate key. */
void mape_set_evacuate(mape *m, bool on);

/* mape_on_state: one telemetry sample of this host (main thread, before it is published):
 * analyse it, start a plan when overloaded, and add a "balance" object (policy, state,
 * threshold, penalty, reservations, migrations, leaving) to state (borrowed, modified). */
void mape_on_state(mape *m, json_t *state);

/* mape_rpc: answer an rpc op of the balancer: "admit", "release", "plan", "migrate", "drain".
 * Callable from any thread; copies msg and req; the reply (and progress) is published later
 * by the main loop. */
void mape_rpc(mape *m, const char *op, const bus_msg *msg, const json_t *req,
    const char *sender);

/* mape_leave: the agent is exiting. When evacuation is on, starts moving every VM away
 * (admission rules as for drain) and returns true: done(ud) is called on the main loop when
 * the host is empty, evacuation gave up (timeout) or nothing could move for a long time.
 * Returns false (done is never called) when evacuation is off. */
bool mape_leave(mape *m, void (*done)(void *ud), void *ud);

#endif
