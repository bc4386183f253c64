/* cmd_stub_balance: stand-ins for the balancing commands when they are not built */
#include "cli/cli.h"
#include "cli/output.h"

int cmd_balance(int argc, char **argv) { return out_not_built("balance", argc, argv); }
int cmd_drain(int argc, char **argv) { return out_not_built("drain", argc, argv); }
int cmd_events(int argc, char **argv) { return out_not_built("events", argc, argv); }
