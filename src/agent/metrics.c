/* metrics: /proc/stat, /proc/meminfo and cgroup v1 cpuacct parsing and reading */
#include "agent/metrics.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK(nube-metrics-error-quark, metrics_error)

int
metrics_parse_stat(const char *text, uint64_t *busy, uint64_t *total, int *ncpus)
{
	g_auto(GStrv) lines = NULL;
	bool found = false;
	int n = 0;

	if (text == NULL)
		return -1;
	lines = g_strsplit(text, "\n", -1);
	for (int i = 0; lines[i] != NULL; i++) {
		const char *l = lines[i];

		if (g_str_has_prefix(l, "cpu ")) {
			unsigned long long v[10] = { 0 };
			int k = sscanf(l + 4, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
			    &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
			uint64_t sum = 0, idle;

			if (k < 4)
				return -1;
			/* user nice system idle iowait irq softirq steal guest guest_nice:
			 * guest and guest_nice are included in user and nice already */
			for (int j = 0; j < k && j < 8; j++)
				sum += v[j];
			idle = v[3] + (k > 4 ? v[4] : 0);
			*total = sum;
			*busy = sum - idle;
			found = true;
		} else if (g_str_has_prefix(l, "cpu") && g_ascii_isdigit(l[3])) {
			n++;
		}
	}
	if (!found)
		return -1;
	if (ncpus != NULL)
		*ncpus = n;
	return 0;
}

static int
meminfo_value(const char *text, const char *key, uint64_t *out)
{
	size_t kl = strlen(key);

	for (const char *p = text; p != NULL && *p != '\0';) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
			char *end = NULL;
			unsigned long long v = g_ascii_strtoull(p + kl + 1, &end, 10);

			if (end == p + kl + 1)
				return -1;
			*out = v;
			return 0;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}

int
metrics_parse_meminfo(const char *text, uint64_t *total_kib, uint64_t *avail_kib)
{
	if (text == NULL)
		return -1;
	if (meminfo_value(text, "MemTotal", total_kib) < 0 ||
	    meminfo_value(text, "MemAvailable", avail_kib) < 0)
		return -1;
	return 0;
}

double
metrics_cg_cpus(const char *quota, const char *period, int online_cpus)
{
	char *end = NULL;
	long long q, p;

	if (quota == NULL || period == NULL)
		return online_cpus;
	q = g_ascii_strtoll(quota, &end, 10);
	if (end == quota)
		return online_cpus;
	p = g_ascii_strtoll(period, &end, 10);
	if (end == period || q <= 0 || p <= 0)
		return online_cpus;
	return (double)q / (double)p;
}

double
metrics_load(const metrics_sample *prev, const metrics_sample *cur)
{
	double l;

	if (prev == NULL || cur == NULL || prev->cgroup != cur->cgroup || cur->busy < prev->busy)
		return 0;
	if (cur->cgroup) {
		int64_t dt = cur->t_us - prev->t_us;

		if (dt <= 0 || cur->cpus <= 0)
			return 0;
		l = (double)(cur->busy - prev->busy) / (cur->cpus * (double)dt * 1000.0);
	} else {
		if (cur->total <= prev->total)
			return 0;
		l = (double)(cur->busy - prev->busy) / (double)(cur->total - prev->total);
	}
	return CLAMP(l, 0.0, 1.0);
}

double
metrics_rate(uint64_t prev, uint64_t cur, int64_t dt_us)
{
	if (dt_us <= 0 || cur < prev)
		return 0;
	return (double)(cur - prev) * 1e6 / (double)dt_us;
}

static char *
read_file(const char *root, const char *rel, GError **err)
{
	g_autofree char *path = g_build_filename(root, rel, NULL);
	char *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, err))
		return NULL;
	return text;
}

int
metrics_read(const char *root, const char *cgroup, int64_t t_us, metrics_sample *out,
    GError **err)
{
	g_autofree char *stat = NULL, *mem = NULL;
	uint64_t busy = 0, total = 0;
	int ncpus = 0;
	long online;

	memset(out, 0, sizeof *out);
	out->t_us = t_us;
	if (root == NULL)
		root = "/";
	mem = read_file(root, "proc/meminfo", err);
	if (mem == NULL)
		return -1;
	if (metrics_parse_meminfo(mem, &out->mem_total_kib, &out->mem_avail_kib) < 0) {
		g_set_error(err, metrics_error_quark(), 1, "%s/proc/meminfo: no MemTotal or "
		    "MemAvailable", strcmp(root, "/") == 0 ? "" : root);
		return -1;
	}
	stat = read_file(root, "proc/stat", err);
	if (stat == NULL)
		return -1;
	if (metrics_parse_stat(stat, &busy, &total, &ncpus) < 0) {
		g_set_error(err, metrics_error_quark(), 1, "%s/proc/stat: no cpu line",
		    strcmp(root, "/") == 0 ? "" : root);
		return -1;
	}
	online = ncpus > 0 ? ncpus : sysconf(_SC_NPROCESSORS_ONLN);
	if (cgroup == NULL) {
		out->busy = busy;
		out->total = total;
		out->cpus = (double)online;
		return 0;
	} else {
		g_autofree char *u_rel = g_build_filename("sys/fs/cgroup/cpuacct", cgroup,
		    "cpuacct.usage", NULL);
		g_autofree char *q_rel = g_build_filename("sys/fs/cgroup/cpu", cgroup,
		    "cpu.cfs_quota_us", NULL);
		g_autofree char *p_rel = g_build_filename("sys/fs/cgroup/cpu", cgroup,
		    "cpu.cfs_period_us", NULL);
		g_autofree char *usage = read_file(root, u_rel, err);
		g_autofree char *quota = NULL, *period = NULL;
		char *end = NULL;

		if (usage == NULL)
			return -1;
		out->busy = g_ascii_strtoull(usage, &end, 10);
		if (end == usage) {
			g_set_error(err, metrics_error_quark(), 1, "%s: not a number", u_rel);
			return -1;
		}
		quota = read_file(root, q_rel, NULL);
		period = read_file(root, p_rel, NULL);
		out->cgroup = true;
		out->cpus = metrics_cg_cpus(quota, period, (int)online);
	}
	return 0;
}
