/* cmd_plan: nube plan — split a scenario over a cluster description and allocate its VNIs,
 * MACs and addresses, without deploying */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/inputs.h"
#include "cli/output.h"
#include "plan/alloc.h"
#include "plan/plan.h"
#include "store/store.h"
#include "wire/names.h"

#define VNI_MIN_DEFAULT	10000
#define VNI_MAX_DEFAULT	NUBE_VNI_DEPLOY_MAX

static const char plan_help[] =
"usage: nube plan SCENARIO --cluster-conf FILE [--algorithm A] [--restrictions FILE]\n"
"                 [--vni-range MIN-MAX] [--store PATH] [--json]\n"
"\n"
"Validate a scenario, split it over the hosts of a cluster description and allocate\n"
"VXLAN VNIs, MACs and management addresses, then print the placement. Nothing is\n"
"deployed or recorded: the allocation starts from an empty cluster unless --store\n"
"names a nube database whose allocations are then avoided (read only).\n"
"\n"
"  -c, --cluster-conf FILE   cluster description (EDIV cluster.conf), required\n"
"  -a, --algorithm A         round-robin, weighted-round-robin, least-loaded or graph\n"
"                            (default " CLI_DEFAULT_ALGORITHM ")\n"
"  -r, --restrictions FILE   deployment restrictions (EDIV format)\n"
"      --vni-range MIN-MAX   VXLAN VNIs to use, within 1-15728639 (default 10000-15728639)\n"
"      --store PATH          avoid the allocations recorded in this database\n"
"  -j, --json                machine-readable output (a stable interface)\n"
"  -h, --help                this help\n"
"\n"
"Exit status: 0 planned, 1 invalid input or no placement fits, 2 bad command line.\n";

/* parse_vni_range: "A-B" inside the deploy range (nube_vni_deploy_range_ok) */
static int
parse_vni_range(const char *s, uint32_t *min, uint32_t *max)
{
	char *end;
	unsigned long a, b;

	a = strtoul(s, &end, 10);
	if (end == s || *end != '-')
		return -1;
	s = end + 1;
	b = strtoul(s, &end, 10);
	if (end == s || *end != '\0' || a > NUBE_VNI_DEPLOY_MAX || b > NUBE_VNI_DEPLOY_MAX ||
	    !nube_vni_deploy_range_ok((uint32_t)a, (uint32_t)b))
		return -1;
	*min = (uint32_t)a;
	*max = (uint32_t)b;
	return 0;
}

int
cmd_plan(session *sess, int argc, char **argv)
{
	enum { OPT_VNI = 256, OPT_STORE };
	static const struct option opts[] = {
		{ "cluster-conf", required_argument, NULL, 'c' },
		{ "algorithm", required_argument, NULL, 'a' },
		{ "restrictions", required_argument, NULL, 'r' },
		{ "vni-range", required_argument, NULL, OPT_VNI },
		{ "store", required_argument, NULL, OPT_STORE },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *rpath = NULL, *cpath = NULL, *spath = NULL;
	const char *aname = CLI_DEFAULT_ALGORITHM;
	g_autoptr(diag) d = diag_new();
	g_autoptr(GHashTable) vnis = NULL;
	g_autoptr(GHashTable) macs = NULL;
	g_autoptr(GHashTable) addrs = NULL;
	g_autoptr(plan) p = NULL;
	plan_algorithm algo;
	alloc_ctx ctx = { .vni_min = VNI_MIN_DEFAULT, .vni_max = VNI_MAX_DEFAULT };
	plan_host *hosts = NULL;
	int nhosts = 0, ret = CLI_FAIL;
	bool json = false;
	inputs in = { 0 };
	int ch;

	(void)sess;	/* --store is opened read only, not as the session's store */
	while ((ch = getopt_long(argc, argv, "c:a:r:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cpath = optarg;
			break;
		case 'a':
			aname = optarg;
			break;
		case 'r':
			rpath = optarg;
			break;
		case OPT_VNI:
			if (parse_vni_range(optarg, &ctx.vni_min, &ctx.vni_max) < 0)
				return out_usage("plan", "--vni-range wants MIN-MAX within the deploy "
				    "range 1-15728639 (VNIs above are the agents')");
			break;
		case OPT_STORE:
			spath = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(plan_help, stdout);
			return CLI_OK;
		default:
			return out_usage("plan", NULL);
		}
	}
	if (optind != argc - 1)
		return out_usage("plan", optind >= argc ? "a scenario file is required"
		    : "only one scenario file");
	if (cpath == NULL)
		return out_usage("plan", "--cluster-conf is required");
	if (plan_algorithm_from_name(aname, &algo) < 0) {
		g_autofree char *m = g_strdup_printf("unknown algorithm '%s'", aname);

		return out_usage("plan", m);
	}

	if (!inputs_load(&in, argv[optind], rpath, cpath, d))
		goto out;
	hosts = plan_hosts_from_cluster(in.c, &nhosts);
	if (nhosts == 0) {
		diag_error(d, in.c->file, 0, "the cluster has no hosts");
		goto out;
	}
	if ((p = plan_partition(in.s, in.r, hosts, nhosts, algo, d)) == NULL)
		goto out;
	if (spath != NULL) {
		g_autoptr(GError) err = NULL;
		store *st = NULL;

		if (!g_file_test(spath, G_FILE_TEST_IS_REGULAR)) {
			diag_error(d, NULL, 0, "no nube store at %s", spath);
			goto out;
		}
		st = store_open(spath, &err);
		if (st == NULL || store_used_sets(st, &vnis, &macs, &addrs, &err) < 0) {
			diag_error(d, NULL, 0, "%s", err->message);
			store_close(st);
			goto out;
		}
		store_close(st);
		ctx.used_vnis = vnis;
		ctx.used_macs = macs;
		ctx.used_addrs = addrs;
	}
	if (alloc_plan(p, in.s, &ctx, d) < 0)
		goto out;
	if (json) {
		json_auto_t *j = out_plan_json(in.s, p);

		if (out_json_print(j, stdout) < 0)
			goto out;
	} else {
		out_plan_print(in.s, p, stdout);
	}
	ret = CLI_OK;
out:
	diag_print(d, stderr);
	plan_hosts_free(hosts, nhosts);
	inputs_clear(&in);
	return ret;
}
