/* nube-sim: simulate a heterogeneous cluster under the balancing policies (none, seed, nube)
 * and report overload, migrations, ping-pong, loads, net spread and decision time */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <jansson.h>

#include "generator.h"
#include "planetlab.h"
#include "sim.h"

static int opt_hosts = 100, opt_vms = 2000, opt_rounds = 1000;
static double opt_start = 0;
static double opt_hours = 24, opt_step = 10, opt_bw = 1000, opt_scale = 1;
static gint64 opt_seed = 1;
static char *opt_policy = NULL, *opt_plot_dir = NULL, *opt_config = NULL, *opt_planetlab = NULL;
static gboolean opt_json = FALSE, opt_bench = FALSE, opt_trace = FALSE;

static GOptionEntry entries[] = {
	{ "hosts", 0, 0, G_OPTION_ARG_INT, &opt_hosts, "hosts (100)", "N" },
	{ "vms", 0, 0, G_OPTION_ARG_INT, &opt_vms, "VMs (2000)", "N" },
	{ "hours", 0, 0, G_OPTION_ARG_DOUBLE, &opt_hours, "simulated hours (24)", "H" },
	{ "start-hour", 0, 0, G_OPTION_ARG_DOUBLE, &opt_start, "time of day the run starts (0)", "H" },
	{ "seed", 0, 0, G_OPTION_ARG_INT64, &opt_seed, "cluster and workload seed (1)", "S" },
	{ "policy", 0, 0, G_OPTION_ARG_STRING, &opt_policy, "all|none|seed|nube (all)", "P" },
	{ "step", 0, 0, G_OPTION_ARG_DOUBLE, &opt_step, "MAPE interval in s (10)", "S" },
	{ "bandwidth", 0, 0, G_OPTION_ARG_DOUBLE, &opt_bw, "migration bandwidth Mb/s (1000)", "MBPS" },
	{ "load-scale", 0, 0, G_OPTION_ARG_DOUBLE, &opt_scale, "multiply every VM's demand (1)", "X" },
	{ "config", 0, 0, G_OPTION_ARG_FILENAME, &opt_config, "key file with a [balance] group", "FILE" },
	{ "trace", 0, 0, G_OPTION_ARG_NONE, &opt_trace, "print plans and migrations on stderr", NULL },
	{ "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, "print a JSON summary", NULL },
	{ "plot-dir", 0, 0, G_OPTION_ARG_FILENAME, &opt_plot_dir, "write SVG load plots here", "DIR" },
	{ "decision-bench", 0, 0, G_OPTION_ARG_NONE, &opt_bench,
	  "time plan calls for --hosts hosts x 50 VMs instead of simulating", NULL },
	{ "rounds", 0, 0, G_OPTION_ARG_INT, &opt_rounds, "plan calls per policy in --decision-bench (1000)", "N" },
	{ "planetlab", 0, 0, G_OPTION_ARG_FILENAME, &opt_planetlab,
	  "replay a PlanetLab trace day with CloudSim's model (policies thr-mmt, lr-mmt, nube)", "DIR" },
	{ NULL, 0, 0, 0, NULL, NULL, NULL },
};

/* hosts with the most overload in the reference run, most first */
static void
pick_hosts(const sim_result *ref, double thr, int *out, int n)
{
	int nh = ref->n_hosts;
	double *over = g_new0(double, nh);
	for (int h = 0; h < nh; h++)
		for (int s = 0; s < ref->n_samples; s++)
			over[h] += ref->series[(size_t)h * ref->n_samples + s] >= thr;
	for (int k = 0; k < n; k++) {
		int best = -1;
		for (int h = 0; h < nh; h++) {
			bool used = false;
			for (int q = 0; q < k; q++)
				used |= out[q] == h;
			if (!used && (best < 0 || over[h] > over[best]))
				best = h;
		}
		out[k] = best;
	}
	g_free(over);
}

/* gnuplot: run gnuplot on script gp, then remove gp and its data file dat (unless
 * NUBE_SIM_KEEP_PLOT_DATA is set); 0, or -1 with a message on stderr */
static int
gnuplot(const char *gp, const char *dat)
{
	const char *argv[] = { "gnuplot", gp, NULL };
	int status = 0;
	GError *err = NULL;
	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
	    &status, &err) || !g_spawn_check_wait_status(status, &err)) {
		fprintf(stderr, "nube-sim: gnuplot failed: %s\n", err->message);
		g_error_free(err);
		return -1;
	}
	if (!g_getenv("NUBE_SIM_KEEP_PLOT_DATA")) {
		g_unlink(dat);
		g_unlink(gp);
	}
	return 0;
}

static int
plot(const char *dir, const sim_result *r, const generator_cluster *c, const int *hosts, int n,
    double thr, double step)
{
	const char *pol = balance_policy_name(r->policy);
	g_autofree char *dat = g_strdup_printf("%s/load-%s.dat", dir, pol);
	g_autofree char *gp = g_strdup_printf("%s/load-%s.gp", dir, pol);
	g_autofree char *svg = g_strdup_printf("%s/load-%s.svg", dir, pol);
	FILE *f = fopen(dat, "w");
	if (!f) {
		fprintf(stderr, "nube-sim: cannot write '%s'\n", dat);
		return -1;
	}
	/* one point per 5 minutes, the maximum of the window so peaks stay visible */
	int win = (int)fmax(1, round(300 / step));
	for (int s0 = 0; s0 < r->n_samples; s0 += win) {
		fprintf(f, "%.4f", s0 * step / 3600);
		for (int k = 0; k < n; k++) {
			float m = 0;
			for (int s = s0; s < s0 + win && s < r->n_samples; s++)
				m = fmaxf(m, r->series[(size_t)hosts[k] * r->n_samples + s]);
			fprintf(f, " %.3f", m);
		}
		fputc('\n', f);
	}
	fclose(f);
	f = fopen(gp, "w");
	if (!f) {
		fprintf(stderr, "nube-sim: cannot write '%s'\n", gp);
		return -1;
	}
	fprintf(f, "set terminal svg size 800,360 dynamic font 'sans,11'\nset output '%s'\n"
	    "set title 'policy %s: load of the %d most overloaded hosts without balancing'\n"
	    "set xlabel 'hour'\nset ylabel 'CPU load'\nset yrange [0:1.05]\nset xrange [0:*]\n"
	    "set key outside right\nset grid\n", svg, pol, n);
	fprintf(f, "plot %g title 'threshold' with lines lw 2 dt 2 lc rgb 'black'", thr);
	for (int k = 0; k < n; k++)
		fprintf(f, ", '%s' using 1:%d title '%s (%d CPUs)' with lines lw 1", dat, k + 2,
		    c->hosts[hosts[k]].name, c->hosts[hosts[k]].cpus);
	fputc('\n', f);
	fclose(f);
	return gnuplot(gp, dat);
}

static int
decision_bench(const balance_config *cfg)
{
	static const balance_policy pols[] = { BALANCE_POLICY_SEED, BALANCE_POLICY_NUBE };
	json_t *arr = json_array();
	if (!opt_json)
		printf("decision time, %d hosts x 50 VMs, source overloaded, %d calls per policy\n"
		    "%-6s %10s %10s %10s\n", opt_hosts, opt_rounds, "policy", "p50 us", "p99 us",
		    "checks");
	for (size_t i = 0; i < G_N_ELEMENTS(pols); i++) {
		double p50, p99, checks;
		sim_decision_bench(pols[i], cfg, opt_hosts, 50, opt_rounds, (uint64_t)opt_seed, &p50,
		    &p99, &checks);
		if (opt_json)
			json_array_append_new(arr, json_pack("{s:s, s:f, s:f, s:f}", "policy",
			    balance_policy_name(pols[i]), "decision_us_p50", p50, "decision_us_p99", p99,
			    "checks_mean", checks));
		else
			printf("%-6s %10.0f %10.0f %10.0f\n", balance_policy_name(pols[i]), p50, p99, checks);
	}
	if (opt_json) {
		json_t *o = json_pack("{s:i, s:i, s:o}", "hosts", opt_hosts, "vms_per_host", 50,
		    "policies", arr);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		json_decref(arr);
	}
	return 0;
}

/* SVG of active hosts and cumulative energy over the day, one line per policy */
static int
plot_planetlab(const char *dir, const char *day, const pl_result *res, int n)
{
	g_autofree char *dat = g_strdup_printf("%s/planetlab-%s.dat", dir, day);
	g_autofree char *gp = g_strdup_printf("%s/planetlab-%s.gp", dir, day);
	g_autofree char *svg = g_strdup_printf("%s/planetlab-%s.svg", dir, day);
	FILE *f = fopen(dat, "w");
	if (!f) {
		fprintf(stderr, "nube-sim: cannot write '%s'\n", dat);
		return -1;
	}
	double *cum = g_new0(double, n);
	for (int k = 0; k < res[0].n_rounds; k++) {
		fprintf(f, "%.4f", (k + 1) * PL_INTERVAL / 3600);
		for (int i = 0; i < n; i++) {
			cum[i] += res[i].energy_round[k];
			fprintf(f, " %d %.3f", res[i].active_hosts[k], cum[i]);
		}
		fputc('\n', f);
	}
	g_free(cum);
	fclose(f);
	f = fopen(gp, "w");
	if (!f) {
		fprintf(stderr, "nube-sim: cannot write '%s'\n", gp);
		return -1;
	}
	fprintf(f, "set terminal svg size 900,600 dynamic font 'sans,11'\nset output '%s'\n"
	    "set multiplot layout 2,1 title 'PlanetLab %s, 800 hosts (CloudSim model)'\n"
	    "set grid\nset key outside right\nset xrange [0:24]\nset ylabel 'active hosts'\n",
	    svg, day);
	fprintf(f, "plot ");
	for (int i = 0; i < n; i++)
		fprintf(f, "%s'%s' using 1:%d title '%s' with lines lw 1.5", i ? ", " : "", dat,
		    2 + 2 * i, pl_policy_name(res[i].policy));
	fprintf(f, "\nset xlabel 'hour'\nset ylabel 'energy so far, kWh'\nplot ");
	for (int i = 0; i < n; i++)
		fprintf(f, "%s'%s' using 1:%d title '%s' with lines lw 1.5", i ? ", " : "", dat,
		    3 + 2 * i, pl_policy_name(res[i].policy));
	fprintf(f, "\nunset multiplot\n");
	fclose(f);
	return gnuplot(gp, dat);
}

static int
run_planetlab(void)
{
	pl_options o;
	pl_options_defaults(&o);
	o.trace = opt_trace;
	GError *err = NULL;
	if (opt_config) {
		g_autoptr(GKeyFile) kf = g_key_file_new();
		if (!g_key_file_load_from_file(kf, opt_config, G_KEY_FILE_NONE, &err) ||
		    balance_config_load_keyfile(kf, "balance", &o.cfg, &err) < 0) {
			fprintf(stderr, "nube-sim: %s: %s\n", opt_config, err->message);
			g_error_free(err);
			return 2;
		}
	}
	pl_policy pols[3];
	int npol = 0;
	if (!opt_policy || strcmp(opt_policy, "all") == 0) {
		pols[npol++] = PL_POLICY_THR_MMT;
		pols[npol++] = PL_POLICY_LR_MMT;
		pols[npol++] = PL_POLICY_NUBE;
	} else if (pl_policy_from_name(opt_policy, &pols[0]) == 0) {
		npol = 1;
	} else {
		fprintf(stderr, "nube-sim: unknown policy '%s' for --planetlab (all, thr-mmt, lr-mmt, "
		    "nube)\n", opt_policy);
		return 2;
	}
	pl_trace t;
	if (pl_trace_load(opt_planetlab, &t, &err) < 0) {
		fprintf(stderr, "nube-sim: cannot read the traces in '%s': %s\n", opt_planetlab,
		    err->message);
		g_error_free(err);
		return 1;
	}
	pl_result res[3];
	for (int i = 0; i < npol; i++) {
		if (pl_run(&o, &t, pols[i], &res[i]) < 0) {
			pl_trace_clear(&t);
			return 1;
		}
	}
	g_autofree char *day = g_path_get_basename(opt_planetlab);
	int rc = 0;
	if (opt_plot_dir) {
		if (g_mkdir_with_parents(opt_plot_dir, 0755) < 0) {
			fprintf(stderr, "nube-sim: cannot create '%s'\n", opt_plot_dir);
			rc = 1;
		} else if (plot_planetlab(opt_plot_dir, day, res, npol) < 0) {
			rc = 1;
		}
	}
	if (opt_json) {
		json_t *arr = json_array();
		for (int i = 0; i < npol; i++)
			json_array_append_new(arr, pl_result_to_json(&res[i]));
		json_t *top = json_pack("{s:s, s:i, s:i, s:o}", "day", day, "hosts", o.n_hosts,
		    "vms", t.n_vms, "policies", arr);
		json_dumpf(top, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(top);
	} else {
		printf("nube-sim: planetlab day %s, %d VMs, %d hosts, %d rounds of %g s\n", day, t.n_vms,
		    o.n_hosts, o.rounds, PL_INTERVAL);
		printf("%-8s %10s %7s %8s %8s %10s %10s %12s %9s %6s\n", "policy", "energy kWh",
		    "migr", "SLATAH %", "PDM %", "SLAV", "ESV", "overload h*s", "mean act", "wall s");
		for (int i = 0; i < npol; i++) {
			const pl_result *r = &res[i];
			double act = 0;
			for (int k = 0; k < r->n_rounds; k++)
				act += r->active_hosts[k];
			printf("%-8s %10.2f %7d %8.2f %8.3f %10.3e %10.3e %12.0f %9.1f %6.1f\n",
			    pl_policy_name(r->policy), r->energy_kwh, r->migrations, r->slatah * 100,
			    r->pdm * 100, r->slav, r->esv, r->overload_host_seconds,
			    act / r->n_rounds, r->wall_seconds);
		}
	}
	for (int i = 0; i < npol; i++)
		pl_result_clear(&res[i]);
	pl_trace_clear(&t);
	return rc;
}

int
main(int argc, char **argv)
{
	g_autoptr(GOptionContext) ctx = g_option_context_new("- simulate nube's autonomic balancing");
	g_option_context_add_main_entries(ctx, entries, NULL);
	GError *err = NULL;
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		fprintf(stderr, "nube-sim: %s\n", err->message);
		g_error_free(err);
		return 2;
	}
	if (opt_hosts < 2 || opt_vms < 1 || !(opt_hours > 0) || !(opt_step > 0) || !(opt_scale > 0) || !(opt_start >= 0) ||
	    opt_rounds < 1) {
		fprintf(stderr, "nube-sim: need --hosts >= 2, --vms >= 1, positive --hours, --step, "
		    "--load-scale, --rounds\n");
		return 2;
	}
	sim_options o;
	sim_options_defaults(&o);
	o.hours = opt_hours;
	o.start_hour = opt_start;
	o.trace = opt_trace;
	o.step = opt_step;
	o.bandwidth = opt_bw;
	o.seed = (uint64_t)opt_seed;
	o.cfg.interval = opt_step;
	if (opt_config) {
		g_autoptr(GKeyFile) kf = g_key_file_new();
		if (!g_key_file_load_from_file(kf, opt_config, G_KEY_FILE_NONE, &err) ||
		    balance_config_load_keyfile(kf, "balance", &o.cfg, &err) < 0) {
			fprintf(stderr, "nube-sim: %s: %s\n", opt_config, err->message);
			g_error_free(err);
			return 2;
		}
	}
	if (opt_bench)
		return decision_bench(&o.cfg);
	if (opt_planetlab) {
		int rc = run_planetlab();
		g_free(opt_planetlab);
		g_free(opt_policy);
		g_free(opt_plot_dir);
		g_free(opt_config);
		return rc;
	}

	balance_policy pols[3];
	int npol = 0;
	if (!opt_policy || strcmp(opt_policy, "all") == 0) {
		pols[npol++] = BALANCE_POLICY_NONE;
		pols[npol++] = BALANCE_POLICY_SEED;
		pols[npol++] = BALANCE_POLICY_NUBE;
	} else if (balance_policy_from_name(opt_policy, &pols[0]) == 0) {
		npol = 1;
	} else {
		fprintf(stderr, "nube-sim: unknown policy '%s' (all, none, seed, nube)\n", opt_policy);
		return 2;
	}
	if (opt_plot_dir && g_mkdir_with_parents(opt_plot_dir, 0755) < 0) {
		fprintf(stderr, "nube-sim: cannot create '%s'\n", opt_plot_dir);
		return 1;
	}
	o.keep_series = opt_plot_dir != NULL;
	generator_cluster *c = generator_cluster_new(opt_hosts, opt_vms, (uint64_t)opt_seed);
	c->load_scale = opt_scale;
	sim_result res[3];
	for (int i = 0; i < npol; i++) {
		if (sim_run(&o, c, pols[i], &res[i]) < 0) {
			generator_cluster_free(c);
			return 1;
		}
	}
	int rc = 0;
	if (opt_plot_dir) {
		int hosts[4], n = opt_hosts < 4 ? opt_hosts : 4;
		pick_hosts(&res[0], o.cfg.load_threshold, hosts, n);
		for (int i = 0; i < npol; i++)
			if (plot(opt_plot_dir, &res[i], c, hosts, n, o.cfg.load_threshold, o.step) < 0)
				rc = 1;
	}
	if (opt_json) {
		json_t *arr = json_array();
		for (int i = 0; i < npol; i++)
			json_array_append_new(arr, sim_result_to_json(&res[i]));
		json_t *top = json_pack("{s:i, s:i, s:f, s:f, s:I, s:f, s:i, s:o}", "hosts", opt_hosts,
		    "vms", opt_vms, "hours", opt_hours, "step", opt_step, "seed", (json_int_t)opt_seed,
		    "load_threshold", o.cfg.load_threshold, "alarm_count", o.cfg.alarm_count,
		    "policies", arr);
		json_dumpf(top, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(top);
	} else {
		printf("nube-sim: %d hosts, %d VMs in %d scenarios, %g h, step %g s, seed %lld, "
		    "threshold %.2f x %d, migration %g Mb/s\n", opt_hosts, opt_vms, c->n_scenarios,
		    opt_hours, opt_step, (long long)opt_seed, o.cfg.load_threshold, o.cfg.alarm_count,
		    opt_bw);
		printf("%-6s %12s %9s %6s %5s %7s %6s %6s %6s %9s %8s %8s %6s\n", "policy",
		    "overload h*s", "mem h*s", "migr", "pingp", "refused", "penal", "max", "mean", "x-nets", "p50 us", "p99 us",
		    "wall s");
		for (int i = 0; i < npol; i++) {
			const sim_result *r = &res[i];
			g_autofree char *nets = g_strdup_printf("%d/%d", r->cross_host_nets, r->nets_total);
			printf("%-6s %12.0f %9.0f %6d %5d %7d %6d %6.3f %6.3f %9s %8.0f %8.0f %6.1f\n",
			    balance_policy_name(r->policy), r->overload_host_seconds,
			    r->mem_overload_host_seconds, r->migrations,
			    r->ping_pong, r->refused, r->penalties, r->max_load, r->mean_load, nets,
			    r->decision_us_p50, r->decision_us_p99, r->wall_seconds);
		}
	}
	for (int i = 0; i < npol; i++)
		sim_result_clear(&res[i]);
	generator_cluster_free(c);
	g_free(opt_policy);
	g_free(opt_plot_dir);
	g_free(opt_config);
	return rc;
}
