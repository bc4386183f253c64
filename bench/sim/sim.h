/* sim: discrete-time simulation of a cluster running nube's MAPE loop per host over the balance
 * core (detection, plan, admission, migration with cost, penalty), with the metrics nube-sim
 * reports. The simulator may read the clock (to time plan calls); the core never does. */
#ifndef NUBE_SIM_SIM_H
#define NUBE_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "balance/balance.h"
#include "generator.h"

typedef struct {
	double hours;		/* simulated time */
	double start_hour;	/* time of day the run starts at (0 = midnight, the diurnal trough) */
	double step;		/* s between samples (the MAPE interval) */
	double bandwidth;	/* migration bandwidth, Mb/s */
	uint64_t seed;		/* workload seed (bursts, flash crowds, host order) */
	balance_config cfg;	/* thresholds and weights; cfg.policy is ignored */
	bool keep_series;	/* store every host's load per sample (for plots) */
	bool trace;		/* print every plan, refusal and arrival on stderr */
} sim_options;

/* sim_options_defaults: 24 h, 10 s, 1000 Mb/s, seed 1, balance_config_defaults. */
void sim_options_defaults(sim_options *o);

typedef struct {
	balance_policy policy;
	double overload_host_seconds;	/* sum over hosts of time with load >= threshold */
	double mem_overload_host_seconds;	/* ... with memory use >= mem_threshold */
	int migrations;			/* completed */
	int ping_pong;			/* VM back on a host it left less than 10 min before */
	int refused;			/* admissions refused by destinations */
	int plans;			/* plan calls */
	int penalties;			/* penalties started */
	double max_load, mean_load;
	int nets_total, cross_host_nets;	/* scenario nets, and those spanning > 1 host, at end */
	int net_extra_hosts;		/* sum over nets of (hosts carrying it - 1), at end */
	double migrated_gib;
	double decision_us_p50, decision_us_p99, decision_us_max;
	double wall_seconds;		/* real time the run took */
	float *series;			/* n_hosts × n_samples loads (row per host) when kept */
	int n_samples;
	int n_hosts;
} sim_result;

/* sim_run: simulate cluster c (its initial placement) under policy with options o; the
 * workload is replayed identically for every policy with the same o->seed. Fills *out (free
 * with sim_result_clear). Returns 0, or -1 on invalid options (reported on stderr). */
int sim_run(const sim_options *o, generator_cluster *c, balance_policy policy, sim_result *out);
void sim_result_clear(sim_result *r);

/* sim_result_to_json: new {"policy", "overload_host_seconds", "migrations", "ping_pong", ...}. */
json_t *sim_result_to_json(const sim_result *r);

/* sim_decision_bench: time plan calls of policy for a random cluster of n_hosts × vms_per_host
 * (the source overloaded), rounds calls; writes p50/p99 in µs and mean checks. Returns 0. */
int sim_decision_bench(balance_policy policy, const balance_config *cfg, int n_hosts,
    int vms_per_host, int rounds, uint64_t seed, double *p50, double *p99, double *checks);

#endif
