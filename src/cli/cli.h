/* cli: the nube command line; main.c dispatches to one function per command */
#ifndef NUBE_CLI_H
#define NUBE_CLI_H

/* exit codes (sysexits-like, documented in nube(1)) */
#define CLI_OK		0
#define CLI_FAIL	1	/* invalid input or the operation failed */
#define CLI_USAGE	2	/* bad command line */
#define CLI_UNAVAILABLE	3	/* broker or hosts unreachable */

/* the partition algorithm plan and deploy use when none is given (plan_algorithm_from_name) */
#define CLI_DEFAULT_ALGORITHM	"weighted-round-robin"

/* main() resets getopt (optind = 0) before calling a command with argv[0] = command name */

/* offline commands (cmd_offline.c) */
int cmd_validate(int argc, char **argv);
int cmd_plan(int argc, char **argv);

/* live commands (cmd_live.c): talk to agents through the broker */
int cmd_hosts(int argc, char **argv);
int cmd_deploy(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_undeploy(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* balancing commands (cmd_balance.c) */
int cmd_balance(int argc, char **argv);
int cmd_drain(int argc, char **argv);
int cmd_events(int argc, char **argv);

#endif
