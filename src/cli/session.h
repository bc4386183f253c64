/* session: what a command that talks to the cluster holds — its client config, the broker
 * connection with the discovered hosts, the store — opened step by step; every step reports
 * its own error ("nube: ...") and gives the command's exit status */
#ifndef NUBE_SESSION_H
#define NUBE_SESSION_H

#include "cli/client.h"
#include "store/store.h"

typedef struct {
	client_conf *conf;	/* owned, NULL until opened */
	client *c;		/* owned, NULL until opened */
	store *st;		/* owned, NULL until opened */
} session;

/* session_clear: free what s holds (the client and its bus first: pending callbacks may point
 * into the caller's state) and zero it; s may be partly opened or all zero */
void session_clear(session *s);

/* session_open_conf: load the client config at path (NULL: the default search, see
 * client_conf_load) into s->conf. -1 when done; else the error is printed ("cannot reach
 * broker: ..." when no config exists at all, "client config: ..." when it is broken) and
 * CLI_UNAVAILABLE returned. */
int session_open_conf(session *s, const char *path);

/* session_open_bus: connect to s->conf's broker and discover the hosts into s->c. -1 when
 * done; else the error is printed and CLI_UNAVAILABLE returned. */
int session_open_bus(session *s);

/* session_open_store: open s->conf's store into s->st. -1 when done; else the error is
 * printed ("store PATH: ...") and CLI_FAIL returned. */
int session_open_store(session *s);

#endif
