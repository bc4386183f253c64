/* metrics: host CPU load and memory from /proc (or a cgroup v1 CPU share), per-VM rates from
 * cumulative counters. Parsing is pure (text in, numbers out); metrics_read does the I/O. */
#ifndef NUBE_AGENT_METRICS_H
#define NUBE_AGENT_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

typedef struct {
	int64_t t_us;		/* monotonic time of the sample (caller's clock) */
	double cpus;		/* CPU capacity: CPU count, or quota/period of the cgroup */
	bool cgroup;		/* busy is cgroup usage in ns (else /proc/stat jiffies) */
	uint64_t busy;		/* /proc/stat: non-idle jiffies; cgroup: cpuacct.usage ns */
	uint64_t total;		/* /proc/stat: all jiffies; cgroup: unused (0) */
	uint64_t mem_total_kib, mem_avail_kib;
} metrics_sample;

/* metrics_parse_stat: the aggregate "cpu" line of /proc/stat -> busy/total jiffies (idle and
 * iowait are idle; guest time is already counted in user) and the number of "cpuN" lines.
 * 0, or -1 when the text has no valid "cpu" line. */
int metrics_parse_stat(const char *text, uint64_t *busy, uint64_t *total, int *ncpus);

/* metrics_parse_meminfo: MemTotal and MemAvailable in KiB; 0 or -1 when either is missing */
int metrics_parse_meminfo(const char *text, uint64_t *total_kib, uint64_t *avail_kib);

/* metrics_cg_cpus: CPU capacity from cfs_quota_us / cfs_period_us texts; quota -1 (or
 * unparsable) -> online_cpus */
double metrics_cg_cpus(const char *quota, const char *period, int online_cpus);

/* metrics_load: CPU load 0..1 between two samples (cur later than prev); 0 when they cannot
 * be compared (no time passed, counters went back, different sources). */
double metrics_load(const metrics_sample *prev, const metrics_sample *cur);

/* metrics_rate: per-second rate of a cumulative counter over dt_us; 0 when it went back */
double metrics_rate(uint64_t prev, uint64_t cur, int64_t dt_us);

/* metrics_read: take a sample now. root is "/" normally (tests pass a fake tree holding
 * proc/stat, proc/meminfo and sys/fs/cgroup/...); cgroup NULL = whole machine. t_us is the
 * caller's monotonic clock. 0, or -1 + err naming the file. */
int metrics_read(const char *root, const char *cgroup, int64_t t_us, metrics_sample *out,
    GError **err);

#endif
