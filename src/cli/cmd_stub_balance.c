/* cmd_stub_balance: stand-ins for the balancing commands when they are not built */
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

int cmd_balance(int argc, char **argv) { return stub("balance", argc, argv); }
int cmd_drain(int argc, char **argv) { return stub("drain", argc, argv); }
int cmd_events(int argc, char **argv) { return stub("events", argc, argv); }
