/* main: the nube command line: global options, then the command table: one function per
 * command and the session parts it may open */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"

/* A command: its function and the session parts it may open (session_open). */
typedef struct {
	const char *name;
	int (*fn)(session *s, int argc, char **argv);
	unsigned needs;		/* SESSION_* */
	const char *summary;
} command;

#define NEEDS_BUS	(SESSION_CONF | SESSION_BUS)
#define NEEDS_STORE	(SESSION_CONF | SESSION_STORE)
#define NEEDS_ALL	(SESSION_CONF | SESSION_BUS | SESSION_STORE)

static const command commands[] = {
	{ "validate",	cmd_validate,	0,		"check a scenario (and restrictions) and report every error" },
	{ "plan",	cmd_plan,	0,		"show where each VM would run, without deploying" },
	{ "hosts",	cmd_hosts,	NEEDS_BUS,	"list the cluster's hosts and their load" },
	{ "deploy",	cmd_deploy,	NEEDS_ALL,	"plan a scenario and start it on the cluster" },
	{ "exec",	cmd_exec,	NEEDS_ALL,	"run a command sequence in a deployed scenario's VMs" },
	{ "undeploy",	cmd_undeploy,	NEEDS_ALL,	"destroy a scenario's VMs, networks and allocations" },
	{ "status",	cmd_status,	NEEDS_ALL,	"show deployed scenarios and where their VMs run" },
	{ "balance",	cmd_balance,	NEEDS_BUS,	"show or trigger balancing decisions (--dry-run recommends)" },
	{ "migrate",	cmd_migrate,	NEEDS_ALL,	"move one VM to another host (--to) or the best one" },
	{ "drain",	cmd_drain,	NEEDS_ALL,	"move every VM off a host" },
	{ "events",	cmd_events,	NEEDS_ALL,	"print the event log (deploys, migrations, decisions)" },
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

/* run: command c with its argv (argv[0] = its name), then close what it opened */
static int
run(const command *c, int argc, char **argv)
{
	session s = { .needs = c->needs };
	int rc;

	optind = 0;	/* the command runs its own getopt_long from a fresh state */
	rc = c->fn(&s, argc, argv);
	session_clear(&s);
	return rc;
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
	return run(c, 2, argv);
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
	return run(c, argc - optind, argv + optind);
}
