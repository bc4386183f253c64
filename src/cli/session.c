/* session: the config, broker connection and store of one command */
#include "cli/session.h"

#include "cli/cli.h"
#include "cli/output.h"

void
session_clear(session *s)
{
	client_free(s->c);
	store_close(s->st);
	client_conf_free(s->conf);
	s->c = NULL;
	s->st = NULL;
	s->conf = NULL;
}

static int
open_conf(session *s)
{
	g_autoptr(GError) e = NULL;

	if ((s->conf = client_conf_load(s->config, &e)) != NULL)
		return 0;
	/* no config at all: the broker is unknown; a broken one is reported as such */
	if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
		out_err("cannot reach broker: %s", e->message);
	else
		out_err("client config: %s", e->message);
	s->status = CLI_UNAVAILABLE;
	return -1;
}

static int
open_bus(session *s)
{
	g_autoptr(GError) e = NULL;

	if ((s->c = client_connect(s->conf, &e)) == NULL) {
		out_err("%s", e->message);
		s->status = CLI_UNAVAILABLE;
		return -1;
	}
	if (client_discover(s->c, &e) < 0) {
		out_err("cannot reach broker %s: %s", s->conf->url, e->message);
		s->status = CLI_UNAVAILABLE;
		return -1;
	}
	return 0;
}

static int
open_store(session *s)
{
	g_autoptr(GError) e = NULL;

	if ((s->st = store_open(s->conf->store_path, &e)) == NULL) {
		out_err("store %s: %s", s->conf->store_path, e->message);
		s->status = CLI_FAIL;
		return -1;
	}
	return 0;
}

int
session_open(session *s, unsigned parts)
{
	g_assert((parts & ~s->needs) == 0);	/* main's command table lists what it opens */
	if (parts != 0 && s->conf == NULL && open_conf(s) < 0)
		return -1;
	if ((parts & SESSION_BUS) && s->c == NULL && open_bus(s) < 0)
		return -1;
	if ((parts & SESSION_STORE) && s->st == NULL && open_store(s) < 0)
		return -1;
	return 0;
}
