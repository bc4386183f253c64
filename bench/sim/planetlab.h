/* planetlab: CloudSim's dynamic-consolidation benchmark (Beloglazov & Buyya, CCPE 2012) over
 * the PlanetLab CPU traces — trace files, the SPECpower host model, the CloudSim 3.0 MIPS,
 * migration and SLA accounting, the reference policies thr-mmt and lr-mmt, and nube's
 * consolidation policy over the balance core. The model is described in bench/README.md. */
#ifndef NUBE_SIM_PLANETLAB_H
#define NUBE_SIM_PLANETLAB_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <jansson.h>

#include "balance/balance.h"

#define PL_SAMPLES 288		/* 5-minute values per trace file (one day) */
#define PL_INTERVAL 300.0	/* s between values and between consolidation rounds */

/* A day of traces: one row of PL_SAMPLES CPU percentages (0..100) per VM, files sorted by name. */
typedef struct {
	int n_vms;
	char **names;		/* n_vms file names, owned */
	uint8_t *util;		/* n_vms × PL_SAMPLES, owned */
} pl_trace;

/* pl_trace_parse: one trace file's text: up to PL_SAMPLES lines, each an integer 0..100
 * (missing lines count 0, as CloudSim reads them). Writes out[PL_SAMPLES]. -1 and *error on a
 * malformed or out-of-range line (line number in the message), 0 otherwise. */
int pl_trace_parse(const char *text, uint8_t *out, GError **error);
/* pl_trace_load: every regular file of dir, sorted by name. -1 and *error if dir cannot be read,
 * has no file, or a file is malformed. */
int pl_trace_load(const char *dir, pl_trace *out, GError **error);
void pl_trace_clear(pl_trace *t);

/* host types (host i has type i % 2) and VM types (VM i of n: i / ceil(n / 4)) */
enum { PL_G4, PL_G5 };
extern const double pl_host_pe_mips[2];	/* 1860, 2660; 2 PEs each */
extern const double pl_vm_mips[4];	/* 2500, 2000, 1000, 500 */
extern const double pl_vm_ram[4];	/* 870, 1740, 1740, 613 MB */
#define PL_HOST_RAM 4096.0
#define PL_MIG_MBPS 62.5		/* MB/s: half of the destination's 1 Gbit/s */

/* pl_power: W drawn by a host of type at utilisation u (0..1), SPECpower linear interpolation
 * between the 10 % points (CloudSim PowerModelSpecPower). */
double pl_power(int type, double u);
/* pl_vm_type: type of VM i among n (four equal blocks). */
int pl_vm_type(int i, int n);
/* pl_lr_predict: CloudSim's local-regression estimate: least squares over y[0..n-1] (oldest
 * first, x = 1..n), evaluated at x = n + ahead. */
double pl_lr_predict(const double *y, int n, double ahead);

typedef enum {
	PL_POLICY_THR_MMT,	/* CloudSim: static threshold, minimum migration time, PABFD */
	PL_POLICY_LR_MMT,	/* CloudSim: local regression (safety 1.2, fallback THR 0.7) */
	PL_POLICY_NUBE,		/* nube: balance core with consolidation and prediction */
} pl_policy;
const char *pl_policy_name(pl_policy p);
int pl_policy_from_name(const char *name, pl_policy *out);

typedef struct {
	int n_hosts;		/* [800] */
	int rounds;		/* [287] consolidation rounds at 300 s, 600 s, ... */
	double thr;		/* [0.8] thr-mmt threshold */
	double lr_safety;	/* [1.2] */
	double lr_fallback;	/* [0.7] threshold while fewer than 10 samples */
	balance_config cfg;	/* nube: thresholds, consolidate, predict (see pl_options_defaults) */
	bool trace;		/* every nube decision on stderr */
	/* called for every migration started (round k = 1.., VM, source, destination) */
	void (*on_migration)(void *ud, int k, int vm, int src, int dst);
	void *ud;
} pl_options;

/* pl_options_defaults: the values above; cfg = balance_config_defaults with load_threshold 0.9,
 * consolidate and predict on (nube's settings for this benchmark, see bench/README.md). */
void pl_options_defaults(pl_options *o);

typedef struct {
	pl_policy policy;
	double energy_kwh;
	int migrations;
	double slatah;		/* host time with allocated < requested MIPS / active host time */
	double pdm;		/* MIPS lost to migrations / MIPS requested */
	double slav, esv;	/* slatah × pdm, energy × slav */
	double overload_host_seconds;	/* the SLATAH numerator */
	double active_host_seconds;	/* its denominator */
	int wakes, standbys;	/* nube: host power-state changes */
	int n_rounds;
	int *active_hosts;	/* per round: hosts with CPU in use */
	double *energy_round;	/* per round: kWh in the 300 s before it */
	double wall_seconds;
} pl_result;

/* pl_run: simulate the day of t under policy. Returns 0, -1 on invalid options (stderr). */
int pl_run(const pl_options *o, const pl_trace *t, pl_policy policy, pl_result *out);
void pl_result_clear(pl_result *r);
json_t *pl_result_to_json(const pl_result *r);

#endif
