/* balance: the pure decision core of nube's autonomic VM manager (seed 001 ch. 3-4, 6.3) —
 * detection, planning (policies "seed" and "nube"), admission, penalty and drain planning.
 *
 * Pure C over plain structs: no libvirt, MQTT, clock reads or I/O. Time is always passed in as
 * `now`, in seconds on whatever clock the caller uses consistently (the agent: wall clock, the
 * simulator: simulated seconds). The agent, the unit tests and the simulator (bench/sim) share it.
 *
 * Units used everywhere:
 *   host load        fraction 0..1 of ALL the host's CPUs busy (Sigar's "CPU load", seed §4.4.3.1)
 *   VM cpu           CPU demand in cores: 1.5 = one and a half CPUs (seed's "uso de procesadores"/100)
 *   VM load_generated seed §4.4.3.2: host load × cpu / host cpus (balance_vm_load_generated)
 *   memory           MiB (the seed's score uses GiB: converted inside balance_seed_host_score)
 *   up / down        utilisation 0..1 of the host uplink per direction (balance_net_util)
 *
 * Ownership: the input structs (balance_host, balance_vm) are views: every pointer in them is
 * borrowed from the caller and never freed or kept by the core. Results (balance_plan,
 * balance_reservations) are owned by the caller and freed with their *_free function.
 *
 * One MAPE round of an agent (what bench/sim/sim.c does for every host):
 *   state = balance_analyse(&det, &pen, &cfg, &self, online_peers, now);
 *   if (state == BALANCE_OVERLOADED) {
 *     plan = balance_plan_new(cfg.policy, &cfg, &self, peers, n, now);   log balance_plan_format
 *     for each move: ask move->dst with balance_move_request(move); the destination runs
 *       balance_admit on its own reservations; admitted -> migrate, then the destination calls
 *       balance_reservations_release when the VM has arrived (or the migration failed)
 *     !plan->solved or any refusal -> balance_penalty_fail, else balance_penalty_clear
 *   }
 *   leaving / operator drain: balance_drain, same admission per move.
 *
 * Predicted load when a VM of demand c cores moves from s to d:
 *   policy seed:  s.load - vm.load_generated,   d.load + vm.load_generated   (raw, seed §4.4.6)
 *   policy nube:  s.load - c / s.cpus,          d.load + c / d.cpus          (normalised)
 */
#ifndef NUBE_BALANCE_H
#define NUBE_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>
#include <jansson.h>

/* last_moved value of a VM that never migrated */
#define BALANCE_NEVER (-1.0e18)

typedef enum {
	BALANCE_POLICY_NONE,	/* balancing off: plans are always empty */
	BALANCE_POLICY_SEED,	/* exactly seed §4.4.6 */
	BALANCE_POLICY_NUBE,	/* default: normalised, memory-aware, margin, cooldown, net locality */
} balance_policy;

/* balance_policy_from_name: "none", "seed", "nube" -> 0 and *out; -1 for anything else. */
int balance_policy_from_name(const char *name, balance_policy *out);
/* balance_policy_name: static string for a policy. */
const char *balance_policy_name(balance_policy p);

/* Every threshold and weight. balance_config_defaults fills the values named in brackets. */
typedef struct {
	balance_policy policy;	/* [nube] */
	double interval;	/* [10] s between samples (seed table 1) */
	double load_threshold;	/* [0.6] seed umbralCarga, 0..1 */
	int alarm_count;	/* [2] seed umbralAlarmaCarga: consecutive samples >= threshold */
	double mem_threshold;	/* [0.9] mem_used/mem_total that counts as overloaded too; >= 1 disables */
	double penalty;		/* [190] s to wait after a failed or partial fix (seed §4.4.7) */
	double penalty_step;	/* [10] s added per consecutive failure */
	/* seed §4.4.6.1 server score: w_pos·(cpus·w_cpus + mem_GiB·w_mem)
	 *   - w_neg·(load·w_load + active·w_active + inactive·w_inactive + mem_use·w_mem_use) */
	double w_pos, w_neg;	/* [0.333, 0.666] */
	double w_cpus, w_mem;	/* [0.4, 0.6] (figure 10) */
	double w_load, w_active, w_inactive, w_mem_use;	/* [0.4, 0.2, 0.05, 0.35] (figure 10) */
	/* seed §4.4.6.2 VM score: down·w_down + up·w_up + load_generated·w_vmload */
	double w_down, w_up, w_vmload;	/* [0.2, 0.1, 0.7] (figure 11) */
	/* nube policy */
	double margin;		/* [0.05] destinations must stay under threshold - margin */
	double source_margin;	/* [0.04] the source is brought under threshold - source_margin */
	double cooldown;	/* [600] s: a VM moved less than this ago is only moved when nothing else
				 * solves the overload, and never back to the host it left */
	double w_net;		/* [0.15] cost per scenario net stretched onto one more host */
	double w_migrate;	/* [0.06] cost per GiB of memory copied by a migration */
	double w_dest;		/* [0.3] cost per unit of destination load after the move */
	double w_overshoot;	/* [0.5] cost per unit of source load moved beyond what was needed */
	double reservation_ttl;	/* [300] s an admission reservation stays counted if not released */
	/* consolidation (opt-in): a host whose load stays under consolidate_below for
	 * consolidate_count samples empties itself onto busier active hosts (same admission:
	 * destinations under threshold - margin, memory hard) and goes on standby; standby hosts
	 * take no VMs and are woken when the active ones cannot absorb an overload. A host keeps
	 * its power state at least power_cooldown s (hysteresis against flapping). */
	bool consolidate;	/* [false] */
	double consolidate_below;	/* [0.3] */
	int consolidate_count;	/* [3] */
	double power_cooldown;	/* [1800] s */
	/* prediction (opt-in): least-squares trend over the last predict_window samples,
	 * predict_horizon intervals ahead; a host predicted over the threshold acts at once, and
	 * destinations are judged on max(load, predicted load) */
	bool predict;		/* [false] */
	int predict_window;	/* [6] samples */
	double predict_horizon;	/* [1] intervals */
} balance_config;

/* balance_config_defaults: fill cfg with the defaults above. */
void balance_config_defaults(balance_config *cfg);

/* balance_config_load_keyfile: overwrite fields of cfg with the keys present in group of kf.
 * Key names are the field names with '-' for '_' (load-threshold, alarm-count, w-cpus, ...),
 * "policy" takes a policy name. Keys not present keep cfg's value (call balance_config_defaults
 * first). Unknown keys, malformed numbers and out-of-range values are errors: returns -1 and
 * sets *error (cfg may then be partly updated); 0 on success. A missing group is not an error. */
int balance_config_load_keyfile(GKeyFile *kf, const char *group, balance_config *cfg, GError **error);

/* balance_config_validate: -1 and *error when a value is out of range, 0 otherwise. */
int balance_config_validate(const balance_config *cfg, GError **error);

/* One VM as its host sees it (seed table 2 plus what nube adds). All pointers borrowed. */
typedef struct {
	const char *name;
	const char *scenario;		/* may be NULL (not a nube scenario VM) */
	const char *const *nets;	/* names of the scenario nets the VM is attached to */
	size_t n_nets;
	double cpu;			/* demand in cores */
	double load_generated;		/* seed §4.4.3.2; < 0: derived by the core from cpu */
	double mem;			/* MiB */
	double up, down;		/* uplink utilisation per direction, 0..1 */
	double last_moved;		/* time of its last migration, BALANCE_NEVER if none */
	const char *prev_host;		/* host it left at last_moved, may be NULL */
	bool pinned;			/* never moved by a plan (migrating now, operator pin) */
} balance_vm;

/* One host (seed table 1). All pointers borrowed. */
typedef struct {
	const char *name;
	double cpus;			/* capacity in cores, may be fractional (a cgroup quota) */
	double mem_total, mem_used;	/* MiB */
	double mem_promised;		/* MiB configured for the VMs already here (0 unknown) */
	double mem_reserve;		/* MiB the host keeps for itself, never promised to VMs */
	double load;			/* 0..1 */
	int active, inactive;		/* domains (seed §4.4.2) */
	bool online;			/* member of the group */
	bool standby;			/* powered down by consolidation: takes no VMs */
	double load_predicted;		/* trend estimate (balance_predict_load); 0 = none */
	const balance_vm *vms;		/* its running VMs */
	size_t n_vms;
} balance_host;

/* --- monitor helpers (seed §4.4.3) --- */

/* balance_cpu_use: cores used from two libvirt CPU times (ns) interval_s seconds apart;
 * 0 when the interval is not positive or the counter went backwards. */
double balance_cpu_use(uint64_t cputime_ns, uint64_t cputime_old_ns, double interval_s);
/* balance_vm_load_generated: seed §4.4.3.2, host_load × cpu / host_cpus (0 if host_cpus <= 0). */
double balance_vm_load_generated(double host_load, double cpu, double host_cpus);
/* balance_net_util: seed §4.4.3.3, bytes moved between two counters / (link bytes/s × interval),
 * clamped to 0..1; link_bps is bits per second; 0 when inputs are unusable. */
double balance_net_util(uint64_t bytes, uint64_t bytes_old, double interval_s, double link_bps);

/* --- scores (seed §4.4.6.1-2) --- */

/* balance_seed_host_score: the seed's server score (mem_total converted to GiB, mem use a
 * fraction). Higher is a better destination. */
double balance_seed_host_score(const balance_config *cfg, const balance_host *h);
/* balance_seed_vm_score: the seed's VM score; load_generated taken from vm or, when < 0,
 * derived with host (may be NULL then it counts 0). Higher moves first. */
double balance_seed_vm_score(const balance_config *cfg, const balance_vm *vm, const balance_host *host);

/* --- analyse: detection and penalty --- */

/* Per-host detection state (seed §4.4.4); zero-initialise. */
typedef struct {
	int count;		/* consecutive samples with load >= threshold */
	int mem_count;		/* consecutive samples with memory use >= mem_threshold */
} balance_detector;

/* Penalty back-off state (seed §4.4.7); zero-initialise. */
typedef struct {
	bool active;
	double until;		/* end of the current penalty */
	int failures;		/* consecutive failed fixes */
} balance_penalty;

typedef enum {
	BALANCE_OK,		/* under every threshold */
	BALANCE_HIGH,		/* over a threshold, fewer than alarm_count samples */
	BALANCE_OVERLOADED,	/* act now: plan */
	BALANCE_ALONE,		/* overloaded but no other online host to move to */
	BALANCE_PENALISED,	/* overloaded but waiting out a penalty */
} balance_state;

const char *balance_state_name(balance_state s);

/* balance_analyse: feed one sample of self (load, memory) taken at now. Updates the detector
 * and the penalty (a penalty ends when the load drops under threshold or its time is over).
 * online_peers: how many OTHER online hosts the group has. Returns what to do. When it returns
 * BALANCE_OVERLOADED the counters restart from 0 (seed pseudocode); ALONE and PENALISED keep
 * them, so the plan starts as soon as a peer joins or the penalty ends. pen may be NULL. */
balance_state balance_analyse(balance_detector *d, balance_penalty *pen, const balance_config *cfg,
    const balance_host *self, size_t online_peers, double now);

/* balance_penalty_fail: a plan did not (fully) fix the overload at now: wait
 * penalty + penalty_step × (consecutive failures so far). */
void balance_penalty_fail(balance_penalty *p, const balance_config *cfg, double now);
/* balance_penalty_clear: the overload was fixed: no penalty, failure count back to 0. */
void balance_penalty_clear(balance_penalty *p);
/* balance_penalty_update: cancels the penalty (and the failure streak) when load < threshold,
 * ends it when now >= until. Returns whether a penalty is still running. */
bool balance_penalty_update(balance_penalty *p, const balance_config *cfg, double load, double now);

/* --- plan --- */

/* One decided migration with its reasons. Strings owned by the plan. */
typedef struct {
	char *vm;
	char *scenario;		/* may be NULL */
	char *src, *dst;
	double cpu, load_generated, mem;	/* of the VM: what the destination is asked to admit */
	double src_load_before, src_load_after;	/* predicted, in the policy's load model */
	double dst_load_before, dst_load_after;
	double dst_limit;	/* the destination must stay under this */
	double dst_mem_after;	/* MiB */
	double vm_score;	/* seed: VM score; nube: utility of the move */
	double host_score;	/* seed: server score of dst; nube: cost of dst */
	int net_delta;		/* hosts added (+) or removed (-) from the VM's scenario nets */
	bool cooldown_override;	/* moved although inside its cooldown (nothing else worked) */
	char *why;		/* short human explanation */
} balance_move;

/* A VM the plan could not place (drain) and why. */
typedef struct {
	char *vm;
	char *reason;
} balance_unplaced;

typedef struct {
	balance_policy policy;
	char *host;		/* the source */
	double now;
	bool drain;		/* made by balance_drain */
	double load_before;	/* source load */
	double load_after;	/* predicted source load after every move */
	double mem_before, mem_after;	/* source memory used, MiB */
	double target;		/* the source must get under this */
	bool solved;		/* predicted under target (drain: every VM placed) */
	unsigned checks;	/* (VM, host) pairs examined */
	GPtrArray *moves;	/* of balance_move*, in execution order */
	GPtrArray *unplaced;	/* of balance_unplaced* */
	char *note;		/* why nothing was planned, or NULL */
} balance_plan;

/* balance_plan_new: decide which of self's VMs go where, for an overloaded self. peers are the
 * other hosts (entries offline or named like self are ignored, so the whole cluster array may
 * be passed). Policy seed follows seed §4.4.6 exactly (≤ n(m-1) checks, memory ignored).
 * Policy nube: normalised loads; a destination must stay under threshold - margin and its
 * memory under mem_threshold × total; the source is brought under threshold - source_margin
 * (and under its memory threshold); VMs inside their cooldown are only used when the others
 * cannot solve it, and never go back to prev_host; each (VM, destination) is valued
 * share-of-excess-fixed - w_overshoot·overshoot - w_migrate·GiB - w_dest·dst load -
 * w_net·nets stretched (+ w_net·nets the source leaves); moves are returned in order of load
 * relief per MiB (they queue on the source's uplink). Returns a plan always (possibly without
 * moves, with a note); free with balance_plan_free. */
balance_plan *balance_plan_new(balance_policy policy, const balance_config *cfg,
    const balance_host *self, const balance_host *peers, size_t n_peers, double now);

/* balance_drain: plan moving EVERY unpinned VM of self away (host leaving, operator drain) under
 * the admission rules of policy (seed: raw load under threshold; nube: normalised load under
 * threshold - margin and memory under mem_threshold). Cooldown is ignored. VMs without a
 * destination go to plan->unplaced with the reason; solved = all placed. Free the result with
 * balance_plan_free. */
balance_plan *balance_drain(balance_policy policy, const balance_config *cfg,
    const balance_host *self, const balance_host *peers, size_t n_peers, double now);

/* balance_plan_move: a plan of one move: VM vm of self (by name) to host dst, or, dst NULL,
 * to the host the balancer judges best for it (drain rules of policy, policy none counting
 * as nube; none fits: no move, the reason in unplaced and note). The move's predicted loads
 * come from dst's entry in peers when there is one; why = "operator request". A vm self does
 * not run: no move, note says so. Free with balance_plan_free. */
balance_plan *balance_plan_move(balance_policy policy, const balance_config *cfg,
    const balance_host *self, const balance_host *peers, size_t n_peers, const char *vm,
    const char *dst, double now);

void balance_plan_free(balance_plan *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(balance_plan, balance_plan_free)

/* balance_move_format: one human-readable line (no newline) for a move; g_free it. */
char *balance_move_format(const balance_move *m);
/* balance_plan_format: every move line plus summary/unplaced lines, each ending in '\n'; g_free. */
char *balance_plan_format(const balance_plan *p);
/* balance_plan_to_json: new reference to {"policy","host","now","solved",...,"moves":[...],
 * "unplaced":[...]}; json_decref it. */
json_t *balance_plan_to_json(const balance_plan *p);

/* --- prediction and consolidation --- */

/* balance_predict: least-squares line through samples[0..n-1] (oldest first, one per interval)
 * evaluated horizon intervals after the last one; samples[0] when n == 1, 0 when n == 0. */
double balance_predict(const double *samples, size_t n, double horizon);
/* balance_predict_load: what the nube policy uses as a host's (or VM's) predicted value: with
 * cfg->predict off, the last sample; on, max(last, trend over the last predict_window samples
 * predict_horizon ahead), never below 0. samples oldest first. */
double balance_predict_load(const balance_config *cfg, const double *samples, size_t n);
/* balance_effective_load: max(load, load_predicted) — how full a destination counts. */
double balance_effective_load(const balance_host *h);

/* Per-host power state for consolidation; zero-initialise, then set changed = BALANCE_NEVER. */
typedef struct {
	bool standby;
	double changed;		/* time of the last power-state change */
	int low_count;		/* consecutive samples with effective load < consolidate_below */
	int wakes, standbys;	/* counters */
} balance_power;

/* balance_power_sample: feed one sample of an active self at now; returns true when it should
 * try to consolidate itself away: cfg->consolidate, not standby, has VMs, effective load under
 * consolidate_below for consolidate_count samples in a row and power_cooldown s since its last
 * power-state change (a woken host is not put back to standby at once). */
bool balance_power_sample(balance_power *pw, const balance_config *cfg, const balance_host *self,
    double now);
/* balance_power_standby / _wake: record the change at now. */
void balance_power_standby(balance_power *pw, double now);
void balance_power_wake(balance_power *pw, double now);

/* balance_consolidate: plan emptying self onto the other online, active (not standby) hosts
 * whose effective load is at least self's (so VMs flow towards busier hosts, never back and
 * forth between light ones). Each destination must stay under threshold - margin (effective
 * load + the VM's cpu / its cpus) and within mem_threshold × memory; the fullest host that
 * fits is taken (best fit, biggest VM first). All or nothing: if a VM is pinned, inside its
 * cooldown or has no destination, the plan has no moves, solved = false and a note/unplaced
 * reason. solved = true means self may go on standby once every move is admitted. */
balance_plan *balance_consolidate(const balance_config *cfg, const balance_host *self,
    const balance_host *peers, size_t n_peers, double now);

/* balance_wake_pick: index in hosts of the standby host to wake for need cores of demand:
 * the smallest standby host whose cpus × (threshold - margin) covers need, else the biggest;
 * -1 when no host is on standby (standby flag in hosts). */
long balance_wake_pick(const balance_config *cfg, const balance_host *hosts, size_t n, double need);

/* --- admission (destination side) --- */

/* A load/memory reservation granted to an incoming migration. */
typedef struct {
	char *vm;
	char *source;
	double load;		/* predicted load it adds to this host */
	double mem;		/* MiB */
	double expires;
} balance_reservation;

typedef struct {
	GPtrArray *items;	/* of balance_reservation* */
} balance_reservations;

/* balance_reservations_new / _free (free accepts NULL). */
balance_reservations *balance_reservations_new(void);
void balance_reservations_free(balance_reservations *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(balance_reservations, balance_reservations_free)

/* What a source asks a destination. Strings borrowed. */
typedef struct {
	const char *source;
	const char *vm;
	double cpu;		/* cores */
	double load_generated;	/* seed model; < 0 unknown (then cpu/source_cpus is not known:
				 * cpu / self cpus is used) */
	double mem;		/* MiB */
	bool force;		/* the operator's manual move (seed case 3): a request refused for
				 * load or memory is admitted all the same (reserved as asked) */
} balance_request;

/* balance_move_request: what the source of move m asks its destination; the strings are
 * borrowed from m (keep the plan alive while the request is used). */
balance_request balance_move_request(const balance_move *m);

typedef struct {
	bool admitted;
	double load_before;	/* own load + live reservations */
	double load_after;	/* ... + this request */
	double limit;
	double mem_after, mem_limit;	/* MiB; mem_limit 0 = not checked (seed) */
	double promised_after;	/* MiB promised to VMs + live reservations + this request */
	double promised_limit;	/* mem_total - mem_reserve; 0 = not checked (no mem_total) */
	char reason[200];
} balance_admission;

/* balance_admit: the destination's decision for req at now. Expired reservations are dropped
 * first. Admits only if own load + live reservations + request stays under threshold (policy
 * nube: threshold - margin), for nube, memory fits under mem_threshold × mem_total, and (every
 * policy, when mem_total is known) the memory promised to VMs + live reservations + request
 * stays within mem_total - mem_reserve: a guest may use all it was given, so memory it does
 * not use yet is not free. A VM
 * already reserved is refused (double request). On admission a reservation (expiring at
 * now + reservation_ttl) is added. out may be NULL. Returns out->admitted. */
bool balance_admit(balance_reservations *r, balance_policy policy, const balance_config *cfg,
    const balance_host *self, const balance_request *req, double now, balance_admission *out);

/* balance_reservations_arrived: the VM vm of a reservation arrived; its load shows in the
 * host's own samples only from the next full sampling interval on, so its reservations keep
 * counting until `until` (never longer than they would have). Returns how many it had. */
int balance_reservations_arrived(balance_reservations *r, const char *vm, double until);
/* balance_reservations_release: the migration of vm finished (its load now shows in the host's
 * own samples) or failed: drop its reservation. Returns 1 if one was dropped, 0 if none. */
int balance_reservations_release(balance_reservations *r, const char *vm);
/* balance_reservations_expire: drop reservations with expires <= now; returns how many. */
int balance_reservations_expire(balance_reservations *r, double now);
/* balance_reservations_load / _mem: sum over live reservations (expires > now). */
double balance_reservations_load(const balance_reservations *r, double now);
double balance_reservations_mem(const balance_reservations *r, double now);

#endif
