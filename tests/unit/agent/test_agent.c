/* unit tests of nubed's pure parts: /proc and cgroup parsing, load and rates, config loading */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <glib/gstdio.h>

#include "agent/config.h"
#include "agent/metrics.h"
#include "agent/pace.h"

static const char stat_a[] =
    "cpu  100 5 50 1000 20 3 2 7 0 0\n"
    "cpu0 50 2 25 500 10 1 1 3 0 0\n"
    "cpu1 50 3 25 500 10 2 1 4 0 0\n"
    "intr 12345\nctxt 999\nbtime 1700000000\n";
static const char stat_b[] =
    "cpu  160 5 70 1100 20 3 2 7 0 0\n"
    "cpu0 80 2 35 550 10 1 1 3 0 0\n"
    "cpu1 80 3 35 550 10 2 1 4 0 0\n";

static void
test_parse_stat(void **state)
{
	uint64_t busy = 0, total = 0;
	int n = 0;

	(void)state;
	assert_int_equal(metrics_parse_stat(stat_a, &busy, &total, &n), 0);
	/* total = user..steal = 100+5+50+1000+20+3+2+7; idle = idle + iowait */
	assert_int_equal(total, 100 + 5 + 50 + 1000 + 20 + 3 + 2 + 7);
	assert_int_equal(busy, total - (1000 + 20));
	assert_int_equal(n, 2);
	/* old kernels: only 4 fields */
	assert_int_equal(metrics_parse_stat("cpu 1 2 3 4\ncpu0 1 2 3 4\n", &busy, &total, &n), 0);
	assert_int_equal(total, 10);
	assert_int_equal(busy, 6);
	assert_int_equal(n, 1);
	assert_int_equal(metrics_parse_stat("intr 1\n", &busy, &total, &n), -1);
	assert_int_equal(metrics_parse_stat("cpu  x y z\n", &busy, &total, &n), -1);
	assert_int_equal(metrics_parse_stat("", &busy, &total, &n), -1);
	assert_int_equal(metrics_parse_stat(NULL, &busy, &total, &n), -1);
}

static void
test_load_procstat(void **state)
{
	metrics_sample a = { 0 }, b = { 0 };
	int n;

	(void)state;
	assert_int_equal(metrics_parse_stat(stat_a, &a.busy, &a.total, &n), 0);
	assert_int_equal(metrics_parse_stat(stat_b, &b.busy, &b.total, &n), 0);
	/* busy grew by 60 + 20 = 80 of a total growth of 80 + 100 = 180 */
	assert_float_equal(metrics_load(&a, &b), 80.0 / 180.0, 1e-9);
	/* no progress or going back: 0 */
	assert_float_equal(metrics_load(&a, &a), 0.0, 1e-12);
	assert_float_equal(metrics_load(&b, &a), 0.0, 1e-12);
	assert_float_equal(metrics_load(NULL, &a), 0.0, 1e-12);
}

static void
test_load_cgroup(void **state)
{
	metrics_sample a = { .cgroup = true, .t_us = 1000000, .busy = 5000000000ull, .cpus = 0.5 };
	metrics_sample b = a;

	(void)state;
	/* 0.5 CPU quota, 2 s of wall time, 0.6 s of CPU used: load 0.6 / (0.5 * 2) = 0.6 */
	b.t_us = a.t_us + 2000000;
	b.busy = a.busy + 600000000ull;
	assert_float_equal(metrics_load(&a, &b), 0.6, 1e-9);
	/* over the quota (bursts): clamped to 1 */
	b.busy = a.busy + 3000000000ull;
	assert_float_equal(metrics_load(&a, &b), 1.0, 1e-12);
	/* mixed sources are not compared */
	b.cgroup = false;
	assert_float_equal(metrics_load(&a, &b), 0.0, 1e-12);
	assert_float_equal(metrics_cg_cpus("50000\n", "100000\n", 2), 0.5, 1e-12);
	assert_float_equal(metrics_cg_cpus("-1\n", "100000\n", 2), 2.0, 1e-12);
	assert_float_equal(metrics_cg_cpus("junk", "100000", 4), 4.0, 1e-12);
	assert_float_equal(metrics_cg_cpus(NULL, NULL, 3), 3.0, 1e-12);
	assert_float_equal(metrics_cg_cpus("150000", "100000", 2), 1.5, 1e-12);
}

static void
test_meminfo(void **state)
{
	uint64_t t = 0, a = 0;
	const char *text = "MemTotal:       24683680 kB\nMemFree:         1000 kB\n"
	    "MemAvailable:   20000000 kB\nBuffers: 5 kB\n";

	(void)state;
	assert_int_equal(metrics_parse_meminfo(text, &t, &a), 0);
	assert_int_equal(t, 24683680);
	assert_int_equal(a, 20000000);
	/* MemFree is not MemAvailable */
	assert_int_equal(metrics_parse_meminfo("MemTotal: 10 kB\nMemFree: 5 kB\n", &t, &a), -1);
	assert_int_equal(metrics_parse_meminfo("MemTotal: kB\nMemAvailable: 5 kB\n", &t, &a), -1);
	assert_int_equal(metrics_parse_meminfo(NULL, &t, &a), -1);
}

static void
test_rate(void **state)
{
	(void)state;
	/* 3e9 ns of CPU over 2 s: 1.5e9 per second = 1.5 CPUs */
	assert_float_equal(metrics_rate(1000000000ull, 4000000000ull, 2000000) / 1e9, 1.5, 1e-9);
	assert_float_equal(metrics_rate(10, 5, 1000000), 0.0, 1e-12);	/* counter reset */
	assert_float_equal(metrics_rate(10, 20, 0), 0.0, 1e-12);
}

static void
write_file(const char *root, const char *rel, const char *text)
{
	g_autofree char *path = g_build_filename(root, rel, NULL);
	g_autofree char *dir = g_path_get_dirname(path);

	assert_int_equal(g_mkdir_with_parents(dir, 0700), 0);
	assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void
rm_rf(const char *dir)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

	assert_int_equal(system(cmd), 0);
}

/* metrics_read over a fake tree: the file reading and the wiring to the parsers */
static void
test_read_tree(void **state)
{
	g_autofree char *root = g_dir_make_tmp("nube-metrics-XXXXXX", NULL);
	metrics_sample s1, s2;
	GError *err = NULL;

	(void)state;
	assert_non_null(root);
	write_file(root, "proc/stat", stat_a);
	write_file(root, "proc/meminfo", "MemTotal: 2048000 kB\nMemAvailable: 1024000 kB\n");
	assert_int_equal(metrics_read(root, NULL, 1000, &s1, &err), 0);
	assert_false(s1.cgroup);
	assert_float_equal(s1.cpus, 2.0, 1e-12);
	assert_int_equal(s1.mem_total_kib, 2048000);
	assert_int_equal(s1.mem_avail_kib, 1024000);
	write_file(root, "proc/stat", stat_b);
	assert_int_equal(metrics_read(root, NULL, 2000, &s2, &err), 0);
	assert_float_equal(metrics_load(&s1, &s2), 80.0 / 180.0, 1e-9);
	/* cgroup: usage ns and quota/period */
	write_file(root, "sys/fs/cgroup/cpuacct/lab/h1/cpuacct.usage", "1000000000\n");
	write_file(root, "sys/fs/cgroup/cpu/lab/h1/cpu.cfs_quota_us", "100000\n");
	write_file(root, "sys/fs/cgroup/cpu/lab/h1/cpu.cfs_period_us", "100000\n");
	assert_int_equal(metrics_read(root, "lab/h1", 0, &s1, &err), 0);
	assert_true(s1.cgroup);
	assert_float_equal(s1.cpus, 1.0, 1e-12);
	write_file(root, "sys/fs/cgroup/cpuacct/lab/h1/cpuacct.usage", "1250000000\n");
	assert_int_equal(metrics_read(root, "lab/h1", 1000000, &s2, &err), 0);
	assert_float_equal(metrics_load(&s1, &s2), 0.25, 1e-9);
	/* a missing cgroup is an error naming the file */
	assert_int_equal(metrics_read(root, "lab/h9", 0, &s1, &err), -1);
	assert_non_null(strstr(err->message, "cpuacct.usage"));
	g_clear_error(&err);
	/* broken meminfo */
	write_file(root, "proc/meminfo", "nothing\n");
	assert_int_equal(metrics_read(root, NULL, 0, &s1, &err), -1);
	assert_non_null(strstr(err->message, "meminfo"));
	g_clear_error(&err);
	rm_rf(root);
}

static char *
conf_file(const char *dir, const char *text)
{
	char *path = g_build_filename(dir, "nubed.conf", NULL);

	assert_true(g_file_set_contents(path, text, -1, NULL));
	return path;
}

/* [balance] is checked with the rest (nubed -n sees every key): an unknown key, a bad value,
 * and an "interval" there (the sampling interval is [nubed] interval) are errors */
static void
test_config_balance(void **state)
{
	static const char *const bad[][2] = {
		{ "anything = 1", "unknown key 'anything'" },
		{ "load-threshold = high", "load-threshold" },
		{ "max_migrations = 1.5", "[balance] max_migrations: '1.5' is not an integer" },
		{ "rpc-timeout = 0", "[balance] rpc-timeout: '0' is not a number in 1..3600" },
		{ "interval = 5", "[balance] interval: not a [balance] key: the sampling interval "
		    "is [nubed] interval" },
	};
	g_autofree char *dir = g_dir_make_tmp("nube-conf-XXXXXX", NULL);

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *text = g_strdup_printf("[nubed]\nhost = h1\n[balance]\n%s\n",
		    bad[i][0]);
		g_autofree char *p = conf_file(dir, text);
		GError *err = NULL;
		config *c = config_load(p, &err);

		assert_null(c);
		if (strstr(err->message, bad[i][1]) == NULL || strstr(err->message, p) == NULL)
			fail_msg("'%s': got '%s', want '%s'", bad[i][0], err->message, bad[i][1]);
		g_error_free(err);
	}
}

static void
test_config(void **state)
{
	g_autofree char *dir = g_dir_make_tmp("nube-conf-XXXXXX", NULL);
	g_autofree char *p = NULL;
	GError *err = NULL;
	config *c;

	(void)state;
	p = conf_file(dir, "[nubed]\nhost = host1\nfabric_addr = 10.77.0.11\ninterval = 5\n"
	    "[broker]\nurl = mqtts://b:8883\nusername = host1\npassword = pw\n"
	    "[metrics]\ncgroup = nube-lab/host1\nmemory = 1280\nmemory_reserve = 0\n"
	    "[guest]\ntype_fallback = no\n"
	    "[balance]\nload_threshold = 0.5\nmax-migrations = 2\nenabled = no\n"
	    "[nubed]\nfuture_key = 1\n");
	c = config_load(p, &err);
	assert_non_null(c);
	assert_string_equal(c->host, "host1");
	assert_int_equal(c->interval_s, 5);
	assert_string_equal(c->libvirt_uri, "qemu:///system");	/* default */
	assert_string_equal(c->broker_url, "mqtts://b:8883");
	assert_string_equal(c->cgroup, "nube-lab/host1");
	assert_int_equal(c->mem_mib, 1280);
	assert_int_equal(c->mem_reserve_mib, 0);
	assert_false(c->type_fallback);
	/* [balance] in the same pass: the core's keys, the agent's, one sampling interval */
	assert_float_equal(c->bc.load_threshold, 0.5, 1e-9);
	assert_int_equal(c->bal.max_migrations, 2);
	assert_false(c->bal.enabled);
	assert_float_equal(c->bal.rpc_timeout, 15, 1e-9);	/* default */
	assert_int_equal(c->bal.move_containers, CONFIG_MOVE_OPERATOR);	/* default */
	assert_float_equal(c->bal.cold_stop_grace, 5, 1e-9);	/* default */
	assert_float_equal(c->bc.interval, 5, 1e-9);
	assert_int_equal(config_check(c, &err), 0);
	/* unknown keys outside [balance] are reported, not errors */
	assert_int_equal(c->unknown->len, 1);
	assert_string_equal(g_ptr_array_index(c->unknown, 0), "[nubed] future_key");
	/* checks name file, section and key */
	g_free(c->migrate_uri_template);
	c->migrate_uri_template = g_strdup("qemu+tcp://host/system");
	assert_int_equal(config_check(c, &err), -1);
	assert_non_null(strstr(err->message, p));
	assert_non_null(strstr(err->message, "[nubed] migrate_uri_template"));
	g_clear_error(&err);
	g_free(c->migrate_uri_template);
	c->migrate_uri_template = g_strdup("qemu+tcp://%s/system");
	g_free(c->cgroup);
	c->cgroup = g_strdup("/abs");
	assert_int_equal(config_check(c, &err), -1);
	assert_non_null(strstr(err->message, "[metrics] cgroup"));
	g_clear_error(&err);
	g_free(c->cgroup);
	c->cgroup = NULL;
	/* the broker's ACL names an agent's topics by its user name: it must be the host */
	g_free(c->username);
	c->username = g_strdup("host2");
	assert_int_equal(config_check(c, &err), -1);
	assert_non_null(strstr(err->message, "[broker] username: 'host2' must be the host name "
	    "'host1'"));
	g_clear_error(&err);
	/* "operator" would let the agent send the operator's requests */
	g_free(c->host);
	c->host = g_strdup("operator");
	g_free(c->username);
	c->username = g_strdup("operator");
	assert_int_equal(config_check(c, &err), -1);
	assert_non_null(strstr(err->message, "[nubed] host: 'operator' is reserved"));
	g_clear_error(&err);
	config_free(c);
	g_free(p);

	/* type errors fail at load, naming the key */
	p = conf_file(dir, "[nubed]\nhost = h\ninterval = 0\n");
	assert_null(config_load(p, &err));
	assert_non_null(strstr(err->message, "[nubed] interval: 0 is out of range 1..3600"));
	g_clear_error(&err);
	g_free(p);
	p = conf_file(dir, "[metrics]\nmemory_reserve = -1\n");
	assert_null(config_load(p, &err));
	assert_non_null(strstr(err->message, "[metrics] memory_reserve: -1 is out of range"));
	g_clear_error(&err);
	g_free(p);
	p = conf_file(dir, "[metrics]\nmemory = lots\n");
	assert_null(config_load(p, &err));
	assert_non_null(strstr(err->message, "[metrics] memory: 'lots' is not an integer"));
	g_clear_error(&err);
	g_free(p);
	p = conf_file(dir, "[balance]\nmove-containers = sometimes\n");
	assert_null(config_load(p, &err));
	assert_non_null(strstr(err->message, "[balance] move-containers: 'sometimes' is not never, "
	    "operator or cold"));
	g_clear_error(&err);
	g_free(p);
	p = conf_file(dir, "[balance]\nmove_containers = cold\ncold-stop-grace = 0\n");
	c = config_load(p, &err);
	assert_non_null(c);
	assert_int_equal(c->bal.move_containers, CONFIG_MOVE_COLD);
	assert_float_equal(c->bal.cold_stop_grace, 0, 1e-9);
	config_free(c);
	g_free(p);
	p = conf_file(dir, "[guest]\ntype_fallback = maybe\n");
	assert_null(config_load(p, &err));
	assert_non_null(strstr(err->message, "[guest] type_fallback: 'maybe' is not a boolean"));
	g_clear_error(&err);
	g_free(p);
	/* missing required keys are found by the check */
	p = conf_file(dir, "[nubed]\nfabric_addr = ::1\n[broker]\nurl = mqtt://x\n");
	c = config_load(p, &err);
	assert_non_null(c);
	assert_int_equal(c->mem_mib, 0);	/* defaults: MemTotal, 512 MiB kept */
	assert_int_equal(c->mem_reserve_mib, 512);
	assert_int_equal(config_check(c, &err), -1);
	assert_non_null(strstr(err->message, "[nubed] host: missing"));
	g_clear_error(&err);
	c->host = g_strdup("h2");
	assert_int_equal(config_check(c, &err), 0);	/* IPv6 fabric is fine */
	g_free(c->broker_url);
	c->broker_url = g_strdup("tcp://x");
	assert_int_equal(config_check(c, &err), -1);
	assert_non_null(strstr(err->message, "[broker] url"));
	g_clear_error(&err);
	config_free(c);
	g_free(p);
	p = NULL;
	assert_null(config_load("/nonexistent/nubed.conf", &err));
	assert_non_null(strstr(err->message, "/nonexistent/nubed.conf"));
	g_clear_error(&err);
	config_free(NULL);
	rm_rf(dir);
}

/* pace: the boot ceiling starts at two guests per CPU of the host's capacity, halves when
 * the host is saturated, grows by one when it has room, within 1..4 per CPU */
static void
test_pace(void **state)
{
	(void)state;
	assert_int_equal(pace_initial(2), 4);
	assert_int_equal(pace_initial(0.66), 1);	/* a host capped to 66 % of a CPU */
	assert_int_equal(pace_initial(0), 1);
	assert_int_equal(pace_next(4, 0.95, 2), 2);	/* saturated: halve */
	assert_int_equal(pace_next(2, 1.0, 2), 1);
	assert_int_equal(pace_next(1, 1.0, 2), 1);	/* never below one */
	assert_int_equal(pace_next(4, 0.7, 2), 4);	/* between: keep */
	assert_int_equal(pace_next(4, 0.2, 2), 5);	/* room: one more */
	assert_int_equal(pace_next(8, 0.0, 2), 8);	/* at most four per CPU */
	assert_int_equal(pace_next(2, 0.0, 0.5), 2);	/* but at least two */
	assert_int_equal(pace_next(9, 0.7, 2), 8);	/* a ceiling past the cap comes down */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_stat),
		cmocka_unit_test(test_load_procstat),
		cmocka_unit_test(test_load_cgroup),
		cmocka_unit_test(test_meminfo),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_read_tree),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_balance),
		cmocka_unit_test(test_pace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
