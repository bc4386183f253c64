/* cmd_validate: nube validate — check a scenario (and restrictions) and report every error */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/inputs.h"
#include "cli/output.h"

static const char validate_help[] =
"usage: nube validate SCENARIO [--restrictions FILE] [--cluster-conf FILE]\n"
"                     [--features [--json]]\n"
"\n"
"Parse a VNX 2.0 scenario and check it; with --restrictions also check the EDIV\n"
"deployment restrictions against it (and against the cluster's hosts when\n"
"--cluster-conf is given). Every problem is printed as FILE:LINE: error: MESSAGE.\n"
"\n"
"  -r, --restrictions FILE   deployment restrictions (EDIV format)\n"
"  -c, --cluster-conf FILE   cluster description (EDIV cluster.conf)\n"
"  -f, --features            list each VNX construct the scenario uses and what nube\n"
"                            does with it: implemented, degraded (how) or ignored\n"
"  -j, --json                with --features: machine-readable output (a stable interface)\n"
"  -h, --help                this help\n"
"\n"
"Exit status: 0 valid (warnings allowed), 1 errors found, 2 bad command line.\n";

/* validate_features: the --features report of s on stdout; 0, or -1 when writing failed */
static int
validate_features(const scenario *s, bool json)
{
	g_autoptr(GArray) fs = scenario_features(s);

	if (json) {
		json_auto_t *j = json_object();
		json_t *list = json_array();

		json_object_set_new(j, "scenario", out_json_str(s->name));
		for (guint i = 0; i < fs->len; i++) {
			const sc_feature *f = &g_array_index(fs, sc_feature, i);

			json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:i, s:i}",
			    "construct", f->construct, "support", sc_support_name(f->support),
			    "how", f->how, "uses", (int)f->count, "first_line", f->first_line));
		}
		json_object_set_new(j, "features", list);
		return out_json_print(j, stdout);
	} else {
		static const char *const head[] = { "construct", "nube", "uses", "line", "how" };
		g_autoptr(out_table) t = out_table_new(5, head);

		out_table_right(t, 2);
		out_table_right(t, 3);
		for (guint i = 0; i < fs->len; i++) {
			const sc_feature *f = &g_array_index(fs, sc_feature, i);
			g_autofree char *uses = g_strdup_printf("%u", f->count);
			g_autofree char *line = g_strdup_printf("%d", f->first_line);

			out_table_addv(t, f->construct, sc_support_name(f->support), uses, line, f->how);
		}
		out_table_print(t, stdout);
		return fflush(stdout) == 0 ? 0 : -1;
	}
}

int
cmd_validate(session *sess, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "restrictions", required_argument, NULL, 'r' },
		{ "cluster-conf", required_argument, NULL, 'c' },
		{ "features", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *rpath = NULL, *cpath = NULL;
	g_autoptr(diag) d = diag_new();
	inputs in = { 0 };
	bool ok, features = false, json = false;
	int ch;

	(void)sess;
	while ((ch = getopt_long(argc, argv, "r:c:fjh", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			rpath = optarg;
			break;
		case 'c':
			cpath = optarg;
			break;
		case 'f':
			features = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(validate_help, stdout);
			return CLI_OK;
		default:
			return out_usage("validate", NULL);
		}
	}
	if (json && !features)
		return out_usage("validate", "--json goes with --features");
	if (optind != argc - 1)
		return out_usage("validate", optind >= argc ? "a scenario file is required"
		    : "only one scenario file");

	ok = inputs_load(&in, argv[optind], rpath, cpath, d);
	diag_print(d, stderr);
	if (ok && features) {
		ok = validate_features(in.s, json) == 0;
	} else if (ok)
		printf("scenario '%s': %u VMs, %u nets, %d warning%s\n", in.s->name,
		    in.s->vms->len, in.s->nets->len, d->nwarnings, d->nwarnings == 1 ? "" : "s");
	inputs_clear(&in);
	return ok ? CLI_OK : CLI_FAIL;
}
