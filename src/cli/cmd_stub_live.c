/* cmd_stub_live: stand-ins for the live commands when nube is built without the agent part */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"

/* stub: --help says what the command would do; anything else is a usage error */
static int
stub(const char *name, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: nube %s ... (see nube(1))\n"
			    "This nube was built without the agent part: '%s' is not available.\n",
			    name, name);
			return CLI_OK;
		}
	}
	out_err("'%s' needs the agent part (not built)", name);
	return CLI_USAGE;
}

int cmd_hosts(int argc, char **argv) { return stub("hosts", argc, argv); }
int cmd_deploy(int argc, char **argv) { return stub("deploy", argc, argv); }
int cmd_exec(int argc, char **argv) { return stub("exec", argc, argv); }
int cmd_undeploy(int argc, char **argv) { return stub("undeploy", argc, argv); }
int cmd_status(int argc, char **argv) { return stub("status", argc, argv); }
