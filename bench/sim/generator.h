/* generator: seedable synthetic cluster and workload for nube-sim — heterogeneous hosts, VMs in
 * scenarios sharing nets, CPU demand with diurnal cycles, bursts and flash crowds */
#ifndef NUBE_SIM_GENERATOR_H
#define NUBE_SIM_GENERATOR_H

#include <stdint.h>

/* xoshiro256** seeded through splitmix64 (public-domain algorithms by Vigna and Blackman) */
typedef struct {
	uint64_t s[4];
} generator_rng;

void generator_rng_seed(generator_rng *r, uint64_t seed);
uint64_t generator_next(generator_rng *r);
/* uniform in [0, 1) */
double generator_uniform(generator_rng *r);
/* uniform integer in [0, n) (n > 0) */
uint32_t generator_below(generator_rng *r, uint32_t n);
/* exponential with the given mean */
double generator_exp(generator_rng *r, double mean);

#define GENERATOR_MAX_NETS 4

typedef struct {
	char name[16];
	int cpus;
	double mem_total;	/* MiB */
	int inactive;		/* defined but shut-off domains (seed §4.4.2), constant */
} generator_host;

typedef struct {
	char name[40];
	int scenario;		/* index into scenarios */
	const char *nets[GENERATOR_MAX_NETS];	/* point into the scenario's net names */
	int n_nets;
	int vcpus;
	double mem;		/* MiB */
	double base;		/* mean utilisation of its vcpus, 0..1 */
	double amp;		/* diurnal amplitude, fraction of base */
	double phase;		/* diurnal phase shift, s */
	double net;		/* mean uplink utilisation at base load */
	int home;		/* initial host */
	/* workload state */
	double burst_until, burst_level;
} generator_vm;

typedef struct {
	char name[16];
	char nets[GENERATOR_MAX_NETS][16];
	int n_nets;
	int first_vm, n_vms;
	double crowd_until, crowd_level;
} generator_scenario;

typedef struct {
	generator_host *hosts;
	int n_hosts;
	generator_vm *vms;
	int n_vms;
	generator_scenario *scenarios;
	int n_scenarios;
	double load_scale;	/* multiplies every VM's demand (tuning knob, 1 = default) */
} generator_cluster;

/* generator_cluster_new: n_hosts heterogeneous hosts and n_vms VMs grouped in scenarios,
 * placed scenario by scenario on hosts chosen at random weighted by CPUs, under 85 % of each
 * host's memory (VMs that fit nowhere go to the host with the most free memory). Same seed,
 * same cluster. Free with generator_cluster_free. */
generator_cluster *generator_cluster_new(int n_hosts, int n_vms, uint64_t seed);
void generator_cluster_free(generator_cluster *c);

/* generator_reset: restart the workload state so each policy sees the same demand. */
void generator_reset(generator_cluster *c);

/* generator_step: CPU demand in cores of every VM at time t (s from the start), advancing the
 * workload by dt; rng drives bursts and flash crowds and must be seeded the same for every run
 * to replay the same workload. demand has n_vms entries; up/down (may be NULL) get uplink
 * utilisation per direction. */
void generator_step(generator_cluster *c, generator_rng *rng, double t, double dt, double *demand,
    double *up, double *down);

#endif
