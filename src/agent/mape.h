/* mape: the live MAPE loop of nubed — analyse each telemetry sample with the balance core,
 * plan with reasons, ask destinations for admission, prepare the VM's scenario networks on the
 * destination, live-migrate through libvirt, back off with a penalty, evacuate on drain/leave.
 * mape.c analyses, plans and runs the jobs; migrate.c does one move; peer.c keeps the other
 * hosts' states and reconciles nets at start-up; mape_ops.c answers the balancer's rpc ops.
 *
 * Threads: the mape state lives behind one mutex. The telemetry hook, peer states and the
 * balancer's rpc ops run on the main loop; plans, drains and migrations run in their own
 * worker threads, which talk to other hosts through nubed_call and to libvirt through their
 * own connections.
 *
 * Configuration: the [balance] group of nubed.conf, read with the rest by config.c.
 *
 * Events (nubed_event): alone, plan, penalty, penalty-cancelled, admit, refuse,
 * migrate-start, migrated, moved-cold, migrate-failed, net-cleanup, drain-start, drain-done,
 * drain-failed, drain-cancelled. */
#ifndef NUBE_AGENT_MAPE_H
#define NUBE_AGENT_MAPE_H

#include <stdbool.h>
#include <glib.h>
#include <jansson.h>

#include "agent/nubed.h"

typedef struct mape mape;

/* mape_new: the balancer of agent n, configured from n->cfg. Free with mape_free (after the
 * main loop stopped). */
mape *mape_new(nubed *n);
void mape_free(mape *m);

/* mape_start: subscribe to the peers' online and state topics (main thread, before the main
 * loop runs); remove the nube nets no local domain uses and, from a thread once the broker
 * is there, ask their other carriers to drop this host from their FDB. 0 or -1 + err. */
int mape_start(mape *m, GError **err);

/* mape_on_state: one telemetry sample of this host (main thread, before it is published;
 * ud = mape*, the signature of nubed.on_sample): analyse it, start a plan when overloaded,
 * and add a "balance" object (policy, state, threshold, penalty, reservations, migrations,
 * leaving) to state (borrowed: its balance member is set). */
void mape_on_state(host_state *state, void *ud);

/* mape_leave: the agent is exiting. When evacuation is on, starts moving every VM away
 * (admission rules as for drain) and returns true: done(ud) is called on the main loop when
 * the host is empty, evacuation gave up (timeout) or nothing could move for a long time.
 * Returns false (done is never called) when evacuation is off. */
bool mape_leave(mape *m, void (*done)(void *ud), void *ud);

/* mape_wake: leave standby (run [balance] wake_command, publish the state); by names who
 * asked (a peer, "deploy"), need the cores of demand it brings. false when not on standby. */
bool mape_wake(nubed *n, const char *by, double need);

#endif
