/* cmd_stub_live: stand-ins for the live commands when nube is built without the agent part */
#include "cli/cli.h"
#include "cli/output.h"

int cmd_hosts(int argc, char **argv) { return out_not_built("hosts", argc, argv); }
int cmd_deploy(int argc, char **argv) { return out_not_built("deploy", argc, argv); }
int cmd_exec(int argc, char **argv) { return out_not_built("exec", argc, argv); }
int cmd_undeploy(int argc, char **argv) { return out_not_built("undeploy", argc, argv); }
int cmd_status(int argc, char **argv) { return out_not_built("status", argc, argv); }
