/* main: the nube command line: global options, then dispatch to one function per command */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"

typedef struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} command;

static const command commands[] = {
	{ "validate",	cmd_validate,	"check a scenario (and restrictions) and report every error" },
	{ "plan",	cmd_plan,	"show where each VM would run, without deploying" },
	{ "hosts",	cmd_hosts,	"list the cluster's hosts and their load" },
	{ "deploy",	cmd_deploy,	"plan a scenario and start it on the cluster" },
	{ "exec",	cmd_exec,	"run a command sequence in a deployed scenario's VMs" },
	{ "undeploy",	cmd_undeploy,	"destroy a scenario's VMs, networks and allocations" },
	{ "status",	cmd_status,	"show deployed scenarios and where their VMs run" },
	{ "balance",	cmd_balance,	"show or trigger balancing decisions (--dry-run recommends)" },
	{ "drain",	cmd_drain,	"move every VM off a host" },
	{ "events",	cmd_events,	"print the event log (deploys, migrations, decisions)" },
};

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: nube [--version] [--help] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
		fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(fp, "\n'nube help COMMAND' or 'nube COMMAND --help' describes a command; see nube(1).\n");
}

static const command *
find(const char *name)
{
	for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* help_for: run "CMD --help" */
static int
help_for(const char *name)
{
	const command *c = find(name);
	char *argv[] = { (char *)name, (char *)"--help", NULL };

	if (c == NULL) {
		out_err("unknown command '%s' (see 'nube --help')", name);
		return CLI_USAGE;
	}
	optind = 0;
	return c->fn(2, argv);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const command *c;
	int ch;

	/* "+": stop at the command name; the command parses the rest */
	while ((ch = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout);
			return CLI_OK;
		case 'V':
			printf("nube %s\n", NUBE_VERSION);
			return CLI_OK;
		default:
			fprintf(stderr, "Try 'nube --help'.\n");
			return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 1 >= argc) {
			usage(stdout);
			return CLI_OK;
		}
		return help_for(argv[optind + 1]);
	}
	if ((c = find(argv[optind])) == NULL) {
		out_err("unknown command '%s' (see 'nube --help')", argv[optind]);
		return CLI_USAGE;
	}
	argc -= optind;
	argv += optind;
	optind = 0;	/* the command runs its own getopt_long from a fresh state */
	return c->fn(argc, argv);
}
