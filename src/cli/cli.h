/* cli: the nube command line; main.c's command table dispatches to one cmd_<name>.c each */
#ifndef NUBE_CLI_H
#define NUBE_CLI_H

#include <stdint.h>
#include <glib.h>

#include "cli/session.h"

/* exit codes (sysexits-like, documented in nube(1)) */
#define CLI_OK		0
#define CLI_FAIL	1	/* invalid input or the operation failed */
#define CLI_USAGE	2	/* bad command line */
#define CLI_UNAVAILABLE	3	/* broker or hosts unreachable */
#define CLI_DEGRADED	4	/* deployed, but some VMs failed (state 'degraded') */

/* the partition algorithm plan and deploy use when none is given (plan_algorithm_from_name) */
#define CLI_DEFAULT_ALGORITHM	"weighted-round-robin"

/* A command: main resets getopt (optind = 0) and calls it with argv[0] = its name and s
 * zeroed but for s->needs (its table entry). It parses its command line, sets s->config from
 * --config, opens what it needs with session_open (returning s->status when that fails) and
 * returns its exit status; main clears s afterwards. */
int cmd_validate(session *s, int argc, char **argv);
int cmd_plan(session *s, int argc, char **argv);
int cmd_hosts(session *s, int argc, char **argv);
int cmd_deploy(session *s, int argc, char **argv);
int cmd_exec(session *s, int argc, char **argv);
int cmd_undeploy(session *s, int argc, char **argv);
int cmd_status(session *s, int argc, char **argv);
int cmd_balance(session *s, int argc, char **argv);
int cmd_migrate(session *s, int argc, char **argv);
int cmd_drain(session *s, int argc, char **argv);
int cmd_events(session *s, int argc, char **argv);

/* cli_now_ms: the wall clock in unix milliseconds (event timestamps) */
static inline int64_t
cli_now_ms(void)
{
	return g_get_real_time() / 1000;
}

#endif
