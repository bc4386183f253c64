/* rpc: requests to this host (nube/v1/host/<h>/rpc/<sender>): checked once, then dispatched
 * through the one op table (rpc.c) to a handler that runs either on the main loop (the
 * balancer's quick ops) or in the thread pool (libvirt/netlink work). A handler answers
 * through its job: progress messages, then one final reply; a handler that answers later
 * (a migration, a drain) takes the request with rpc_job_defer. */
#ifndef NUBE_AGENT_RPC_H
#define NUBE_AGENT_RPC_H

#include "agent/nubed.h"
#include "virt/virt.h"

typedef struct rpc_job rpc_job;

/* One line of the op table. */
typedef struct {
	const char *op;
	void (*fn)(nubed *n, rpc_job *j);
	bool main_loop;		/* runs on the main loop (quick, no I/O); else in the pool */
} rpc_op;

/* rpc_ops: the op table; rpc_op_find: its line for op, or NULL */
extern const rpc_op rpc_ops[];
const rpc_op *rpc_op_find(const char *op);

/* rpc_on_message: bus callback for the rpc subscription (ud = nubed*); main loop. A
 * main-loop op other than status that arrives before the agent's first telemetry round
 * (its balancer knows nothing of its own VMs yet) waits for it: rpc_run_early. */
void rpc_on_message(bus *b, const bus_msg *m, void *ud);
/* rpc_job_after_sample: a main-loop op that found its own last sample too old (a VM that just
 * arrived is not in it) returns without answering after this call: it runs once more, with
 * rpc_job_retried true, once the next telemetry round is published */
void rpc_job_after_sample(rpc_job *j);
bool rpc_job_retried(const rpc_job *j);
/* rpc_run_early: the first telemetry round is done: run the ops that waited for it (main
 * loop) */
void rpc_run_early(nubed *n);

/* rpc_job_run: GThreadPool function (data = job, user_data = nubed*) */
void rpc_job_run(gpointer data, gpointer user_data);

/* the job of a request, for its handler */
const json_t *rpc_job_req(const rpc_job *j);		/* the request (borrowed) */
const char *rpc_job_sender(const rpc_job *j);		/* "operator" or a host name */
/* rpc_job_req_set: set key of the request to v (stolen): a handler that hands the request
 * on to another (heal's deployment for op_deploy) */
void rpc_job_req_set(rpc_job *j, const char *key, json_t *v);
/* rpc_job_str: string field key of the request, or NULL; required: fails the job then */
const char *rpc_job_str(rpc_job *j, const char *key, bool required);
/* rpc_job_ok: final success: body (stolen, may be NULL) + "ok": true */
void rpc_job_ok(rpc_job *j, json_t *body);
/* rpc_job_fail: final failure {"ok": false, "error"}; while held (rpc_job_hold) only the
 * first one is kept, and sent by rpc_job_release */
void rpc_job_fail(rpc_job *j, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void rpc_job_progress(rpc_job *j, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void rpc_job_hold(rpc_job *j);
void rpc_job_release(rpc_job *j);
const char *rpc_job_held(const rpc_job *j);	/* the held failure, or NULL */
/* rpc_job_defer: the handler answers later with nubed_reply: a copy of the request to
 * answer (bus_msg_free it) */
bus_msg *rpc_job_defer(rpc_job *j);

/* rpc_mtu: the MTU of a scenario net's bridge on this host: fabric MTU - 50 for VXLAN
 * (vni != 0), 1500 otherwise; fabric_mtu <= 0 (unknown) counts as 1500 */
int rpc_mtu(uint32_t vni, int fabric_mtu);

/* rpc_strv_has: a (of char*, may be NULL) holds s */
bool rpc_strv_has(const GPtrArray *a, const char *s);

/* rpc_remotes: the fabric addresses of a net's other carriers (hosts/addrs alike, this host and
 * duplicates left out); a new array of pointers borrowed from addrs */
GPtrArray *rpc_remotes(nubed *n, const GPtrArray *hosts, const GPtrArray *addrs);

/* the handlers, by file: deploy.c */
void op_deploy(nubed *n, rpc_job *j);
void op_undeploy(nubed *n, rpc_job *j);
void op_exec(nubed *n, rpc_job *j);
/* rpc.c */
void op_status(nubed *n, rpc_job *j);
void op_net_ensure(nubed *n, rpc_job *j);
void op_net_remove(nubed *n, rpc_job *j);
/* op_events: {"since", "limit"?} -> the journal's events after since (journal_reply) */
void op_events(nubed *n, rpc_job *j);
/* image.c */
void op_image_status(nubed *n, rpc_job *j);
void op_image_commit(nubed *n, rpc_job *j);
void op_rootfs_commit(nubed *n, rpc_job *j);
/* image_cache_trim: after a deploy or an undeploy, evict the cached images no domain here
 * uses while the cache is over [guest] image_cache_max (an event for each) */
void image_cache_trim(nubed *n, virt *v);
/* mape_ops.c (the balancer's) */
void op_admit(nubed *n, rpc_job *j);
void op_cold_receive(nubed *n, rpc_job *j);
void op_release(nubed *n, rpc_job *j);
void op_plan(nubed *n, rpc_job *j);
void op_migrate(nubed *n, rpc_job *j);
void op_drain(nubed *n, rpc_job *j);
void op_wake(nubed *n, rpc_job *j);
/* heal.c: "heal" {host, domain, gen}: restart domain of gone host here from that host's own
 * retained heal record, as a deploy */
void op_heal(nubed *n, rpc_job *j);

#endif
