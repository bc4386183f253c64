/* mape_int: the balancer's state and what its files (mape.c, migrate.c, peer.c, mape_ops.c)
 * share; no other part of the agent includes it */
#ifndef NUBE_AGENT_MAPE_INT_H
#define NUBE_AGENT_MAPE_INT_H

#include "agent/mape.h"
#include "agent/persist.h"
#include "balance/balance.h"

/* A host's recent load samples, oldest first, at most [balance] predict-window of them: what
 * the core's trend prediction reads (balance_predict_load). */
typedef struct {
	double *v;
	int n;
	int64_t ts_ms;		/* of the newest sample: a state seen twice counts once */
} load_hist;

/* What this agent knows of another host (main loop writes, under m->lock). */
typedef struct {
	bool online;
	bool has_online;	/* an online message was seen */
	host_state *state;	/* last state (owned) or NULL */
	load_hist hist;
	/* self-healing (heal.c) */
	json_t *heal;		/* its retained heal record (owned) or NULL */
	double gone_at;		/* nubed_now when its last will was seen; 0: not gone */
	bool healing;		/* a heal job for it runs here */
} peer;

/* outcome of one move */
typedef enum { MOVE_OK, MOVE_REFUSED, MOVE_FAILED } move_status;

typedef struct {
	char *vm, *scenario, *dst;
	move_status status;
	char *why;
	int64_t duration_ms, downtime_ms;	/* a cold move: both its interruption */
	bool cold;		/* a container's cold move (stop, copy its layer, start there) */
} move_result;

typedef enum { JOB_PLAN, JOB_MIGRATE, JOB_DRAIN, JOB_LEAVE, JOB_CONSOLIDATE, JOB_WAKE } job_kind;

struct mape {
	nubed *n;
	balance_config bc;	/* copies of n->cfg's [balance] */
	config_balance mc;
	GMutex lock;		/* everything below */
	GCond cond;		/* running / state_seq / executing changed */
	GHashTable *peers;	/* name -> peer* */
	balance_detector det;
	balance_penalty pen;
	balance_state state;
	bool alone_said;
	balance_reservations *res;
	/* domain -> persist_moved* (VMs that arrived here: when by nubed_now, from where; the
	 * core's cooldown data). moved and pen are saved by mape_persist on every change and
	 * loaded by mape_start: an agent restart keeps them. */
	GHashTable *moved;
	GHashTable *busy;	/* domain -> "" : migrating now */
	int running;		/* migrations in flight */
	bool executing;		/* a plan, migrate, drain or leave job runs */
	bool leaving;		/* draining/evacuating: no admissions, no own plans */
	bool drained;		/* an operator drain finished: stays out of admissions */
	bool stopping;		/* mape_free called: jobs end early */
	bool reconciling;	/* the start-up net reconcile still tells the peers (uses m) */
	int heal_jobs;		/* heal and fencing threads running (use m) */
	balance_power pw;	/* consolidation: standby or active, low-load count, hysteresis */
	host_state *self_state;	/* last own sample (owned) */
	load_hist self_hist;
	unsigned state_seq;
	unsigned n_ok, n_failed, n_refused;
};

/* One job of the balancer, in its own thread (mape.c). */
typedef struct {
	mape *m;
	job_kind kind;
	balance_plan *plan;	/* JOB_PLAN / JOB_MIGRATE: the moves */
	bool force;		/* JOB_MIGRATE: destination admits above its threshold */
	bus_msg *reply_to;	/* rpc to answer at the end, may be NULL */
	void (*done)(void *ud);	/* JOB_LEAVE */
	void *done_ud;
	GPtrArray *results;	/* of move_result* (under m->lock) */
	unsigned start_seq;	/* JOB_DRAIN: m->state_seq when asked (a sample was requested) */
	char *wake;		/* JOB_WAKE: the standby host to wake */
	double need;		/* JOB_WAKE: cores of demand this host cannot place */
} exec_job;

/* mape_power_hook: run the standby or wake command of [balance] (NULL: none) with /bin/sh,
 * NUBE_HOST set; its exit status (0 when none), *out its output (g_free) */
int mape_power_hook(mape *m, const char *cmd, const char *what, char **out);

/* A set of balance_host built from the host states for the core; strings borrowed from the
 * states: build, use and clear it under m->lock (a peer's new state replaces the old). */
typedef struct {
	GPtrArray *blocks;	/* g_free'd allocations */
	balance_host *hosts;	/* [0] = self */
	size_t n;
} view;

static inline double
jnum(const json_t *o, const char *key, double def)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : def;
}

static inline const char *
jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* mape.c */
/* mape_job_new: plan and reply_to (the request to answer at the end, may be NULL) taken */
exec_job *mape_job_new(mape *m, job_kind kind, balance_plan *plan, bus_msg *reply_to);
void mape_job_start(mape *m, exec_job *job);	/* under m->lock, m->executing false */
json_t *mape_balance_json(mape *m, double now);	/* under m->lock */
/* mape_persist: save m->moved and m->pen to <state_dir>/<host>/PERSIST_FILE (under m->lock;
 * a failure is logged) */
void mape_persist(mape *m);
/* reply_after_state: answer to (taken) with body (stolen) once this host's next state is
 * published — a peer then reads that state before anything the requester does next; any
 * thread */
void reply_after_state(nubed *n, bus_msg *to, json_t *body);
balance_policy mape_move_policy(const mape *m);	/* policy none counts as nube for moves */
/* mape_container_movable: a container may move in a plan made for the operator (by_operator:
 * nube migrate, drain, evacuation) or by the balancer itself, by its own move-containers
 * (vm_move: "never", "operator", "cold", from nube deploy --move-containers) or, when NULL,
 * the host's [balance] move-containers */
bool mape_container_movable(const mape *m, const char *vm_move, bool by_operator);
/* mape_progress: a progress message to request msg (NULL: nothing); any thread */
void mape_progress(mape *m, const bus_msg *msg, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* peer.c */
void peer_free(gpointer p);
/* load_hist_push: add st's load unless it is the sample already last; keeps cap samples */
void load_hist_push(load_hist *h, int cap, const host_state *st);
int peer_subscribe(mape *m, GError **err);
/* peer_view_build: self (m->self_state) + usable peers (with_peers: online, fresh, not
 * leaving); under m->lock. Own containers are pinned unless mape_container_movable says
 * the planner (by_operator: the operator's migrate, drain or an evacuation; else the
 * balancer's own plan) may move them. false when there is no own sample yet. */
bool peer_view_build(mape *m, view *v, bool with_peers, bool by_operator);
void peer_view_clear(view *v);
/* peer_host_of_addr: host name of a fabric address (under m->lock, borrowed) or NULL */
const char *peer_host_of_addr(mape *m, const char *addr);
/* peer_fabric_addr: the fabric address host announced (g_free) or NULL; takes m->lock */
char *peer_fabric_addr(mape *m, const char *host);
/* peer_reconcile_nets: at start-up, the nets no local domain uses removed, their other
 * carriers told from a thread (m->reconciling while it runs) */
void peer_reconcile_nets(mape *m);

/* heal.c */
/* heal_check: on each own sample (main loop, under m->lock): start healing a peer gone past
 * [heal] grace when this host is the healer */
void heal_check(mape *m);
/* heal_fence_start: at start-up, once the peers' heal records came, remove the local copies
 * of VMs a peer restarted with a higher generation while this host was gone */
void heal_fence_start(mape *m);
/* heal_on_record: the bus callback of nube/v1/host/+/heal (ud = mape*) */
void heal_on_record(bus *b, const bus_msg *msg, void *ud);

/* migrate.c */
/* mape_image_send: the cached image sha256/fmt ("rootfs": a container's rootfs folder) on dst
 * (dest_uri its libvirt): asked for, sent from this host's cache when dst lacks it, checked
 * and named there; 0 or -1 + *why (g_free) */
int mape_image_send(mape *m, struct virt *v, const char *dst, const char *dest_uri, const char *sha,
    const char *fmt, char **why);
/* mape_fill_template: the migrate URI template with addr (g_free) */
char *mape_fill_template(const char *tmpl, const char *addr);
void move_result_free(gpointer p);
/* migrate_moves: run the moves of plan, at most mc.max_migrations at once, results appended
 * to job->results and progress to job->reply_to. Returns how many succeeded. */
int migrate_moves(exec_job *job, const balance_plan *plan);
json_t *migrate_results_json(const exec_job *job);

#endif
