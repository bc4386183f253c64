/* session: the config, broker connection and store of one live or balancing command */
#include "cli/session.h"

#include <string.h>

#include "cli/cli.h"
#include "cli/output.h"

void
session_clear(session *s)
{
	client_free(s->c);
	store_close(s->st);
	client_conf_free(s->conf);
	memset(s, 0, sizeof(*s));
}

int
session_open_conf(session *s, const char *path)
{
	g_autoptr(GError) e = NULL;

	if ((s->conf = client_conf_load(path, &e)) == NULL) {
		/* no config at all: the broker is unknown; a broken one is reported as such */
		if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			out_err("cannot reach broker: %s", e->message);
		else
			out_err("client config: %s", e->message);
		return CLI_UNAVAILABLE;
	}
	return -1;
}

int
session_open_bus(session *s)
{
	g_autoptr(GError) e = NULL;

	if ((s->c = client_connect(s->conf, &e)) == NULL) {
		out_err("%s", e->message);
		return CLI_UNAVAILABLE;
	}
	if (client_discover(s->c, &e) < 0) {
		out_err("cannot reach broker %s: %s", s->conf->url, e->message);
		return CLI_UNAVAILABLE;
	}
	return -1;
}

int
session_open_store(session *s)
{
	g_autoptr(GError) e = NULL;

	if ((s->st = store_open(s->conf->store_path, &e)) == NULL) {
		out_err("store %s: %s", s->conf->store_path, e->message);
		return CLI_FAIL;
	}
	return -1;
}
