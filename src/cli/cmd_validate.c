/* cmd_validate: nube validate — check a scenario (and restrictions) and report every error */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/inputs.h"
#include "cli/output.h"

static const char validate_help[] =
"usage: nube validate SCENARIO [--restrictions FILE] [--cluster-conf FILE]\n"
"\n"
"Parse a VNX 2.0 scenario and check it; with --restrictions also check the EDIV\n"
"deployment restrictions against it (and against the cluster's hosts when\n"
"--cluster-conf is given). Every problem is printed as FILE:LINE: error: MESSAGE.\n"
"\n"
"  -r, --restrictions FILE   deployment restrictions (EDIV format)\n"
"  -c, --cluster-conf FILE   cluster description (EDIV cluster.conf)\n"
"  -h, --help                this help\n"
"\n"
"Exit status: 0 valid (warnings allowed), 1 errors found, 2 bad command line.\n";

int
cmd_validate(session *sess, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "restrictions", required_argument, NULL, 'r' },
		{ "cluster-conf", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *rpath = NULL, *cpath = NULL;
	g_autoptr(diag) d = diag_new();
	inputs in = { 0 };
	bool ok;
	int ch;

	(void)sess;
	while ((ch = getopt_long(argc, argv, "r:c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			rpath = optarg;
			break;
		case 'c':
			cpath = optarg;
			break;
		case 'h':
			fputs(validate_help, stdout);
			return CLI_OK;
		default:
			return out_usage("validate", NULL);
		}
	}
	if (optind != argc - 1)
		return out_usage("validate", optind >= argc ? "a scenario file is required"
		    : "only one scenario file");

	ok = inputs_load(&in, argv[optind], rpath, cpath, d);
	diag_print(d, stderr);
	if (ok)
		printf("scenario '%s': %u VMs, %u nets, %d warning%s\n", in.s->name,
		    in.s->vms->len, in.s->nets->len, d->nwarnings, d->nwarnings == 1 ? "" : "s");
	inputs_clear(&in);
	return ok ? CLI_OK : CLI_FAIL;
}
