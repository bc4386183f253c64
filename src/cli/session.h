/* session: what a command that talks to the cluster holds — its client config, the broker
 * connection with the discovered hosts, the store. main's command table says which parts a
 * command needs; the command opens them (after its command line is parsed) with
 * session_open, main clears the session when the command returns. */
#ifndef NUBE_SESSION_H
#define NUBE_SESSION_H

#include "cli/client.h"
#include "store/store.h"

/* the parts of a session; the client config comes with either of the others */
enum {
	SESSION_CONF = 1 << 0,	/* client config (nube.conf) */
	SESSION_BUS = 1 << 1,	/* broker connection and the discovered hosts */
	SESSION_STORE = 1 << 2,	/* the store (sqlite) */
};

typedef struct {
	unsigned needs;		/* parts the command may open: its entry in main's table */
	const char *config;	/* --config FILE (borrowed from argv), NULL: default search */
	int status;		/* exit status of the last failed session_open */
	client_conf *conf;	/* owned, NULL until opened */
	client *c;		/* owned, NULL until opened */
	store *st;		/* owned, NULL until opened */
} session;

/* session_open: open the parts of s that parts names and that are not open yet, in the
 * order config, broker (connect and discover the hosts), store; parts must lie within
 * s->needs. 0 when every one is open; else -1 with the error printed ("cannot reach broker:
 * ..." when no config exists at all, "client config: ...", "cannot reach broker URL: ...",
 * "store PATH: ...") and s->status set: CLI_UNAVAILABLE for config and broker, CLI_FAIL for
 * the store. */
int session_open(session *s, unsigned parts);

/* session_clear: free what s holds (the client and its bus first: pending callbacks may point
 * into the caller's state) and zero the parts; s may be partly opened or all zero */
void session_clear(session *s);

#endif
