/* import: the agents' event journals into the store's log, once per host and seq */
#include "cli/import.h"

#include <string.h>

#include "cli/output.h"
#include "wire/names.h"

#define EVENTS_TIMEOUT_MS	15000
#define EVENTS_PAGE		1000	/* events per "events" request */

/* placement: record that vm (its domain "<scenario>.<vm>" or its name) of scen (may be NULL
 * when vm is a domain) now runs on dst */
static void
placement(store *st, const char *scen, const char *vm, const char *dst)
{
	g_autofree char *ds = NULL, *dv = NULL;
	g_autoptr(GError) e = NULL;

	if (vm == NULL || dst == NULL)
		return;
	if (proto_split_domain(vm, &ds, &dv) == 0 && (scen == NULL || strcmp(ds, scen) == 0)) {
		scen = ds;
		vm = dv;
	}
	if (scen == NULL)
		return;
	if (store_set_placement(st, scen, vm, dst, &e) < 0 &&
	    !g_error_matches(e, STORE_ERROR, STORE_ERROR_NOT_FOUND))	/* undeployed since */
		out_err("warning: store: the move of '%s' of '%s' to '%s' is not recorded: %s", vm,
		    scen, dst, e->message);
}

void
import_moves(store *st, const json_t *moves)
{
	const json_t *mv;
	size_t i;

	json_array_foreach(moves, i, mv)
		if (g_strcmp0(client_jstr(mv, "status"), "moved") == 0)
			placement(st, client_jstr(mv, "scenario"), client_jstr(mv, "vm"),
			    client_jstr(mv, "dst"));
}

int
import_event(store *st, const json_t *ev, GError **err)
{
	int rc = store_event_import(st, ev, err);

	/* a migration, a cold move, or a restart of a gone host's VM elsewhere (self-healing)
	 * moves it */
	if (rc == 1 && (g_strcmp0(client_jstr(ev, "type"), "migrated") == 0 ||
	    g_strcmp0(client_jstr(ev, "type"), "moved-cold") == 0 ||
	    g_strcmp0(client_jstr(ev, "type"), "healed") == 0))
		placement(st, client_jstr(ev, "scenario"), client_jstr(ev, "vm"),
		    client_jstr(json_object_get(ev, "data"), "dst"));
	return rc;
}

/* one host's journal read */
typedef struct {
	client *c;
	const char *host;	/* borrowed from c's hosts */
	int64_t since;		/* the next request asks for seq > since */
	bool more;		/* the last reply said more events exist */
	char *error;		/* why it stopped, NULL when fine */
	json_t *events;		/* what it returned so far */
} reader;

static void
reader_done(client_call *call, void *ud)
{
	reader *r = ud;
	const json_t *evs = json_object_get(call->reply, "events"), *ev;
	size_t i;

	r->more = false;
	if (!call->ok) {
		r->error = g_strdup(call->error);
		return;
	}
	if (!json_is_array(evs)) {
		r->error = g_strdup("the agent's answer has no \"events\"");
		return;
	}
	json_array_foreach(evs, i, ev) {
		const json_t *seq = json_object_get(ev, "seq");

		if (!json_is_integer(seq) || json_integer_value(seq) <= r->since) {
			r->error = g_strdup("the agent's answer has events out of order");
			return;
		}
		/* the reply came on the host's own topic: it speaks for itself only */
		if (g_strcmp0(client_jstr(ev, "host"), r->host) != 0) {
			r->error = g_strdup("the agent's answer has another host's events");
			return;
		}
		r->since = json_integer_value(seq);
		json_array_append(r->events, (json_t *)ev);
	}
	r->more = json_is_true(json_object_get(call->reply, "more")) && json_array_size(evs) > 0;
}

static void
reader_send(reader *r, int *pending)
{
	client_call_start(r->c, r->host, json_pack("{s:s, s:I, s:i}", "op", "events", "since",
	    (json_int_t)r->since, "limit", EVENTS_PAGE), EVENTS_TIMEOUT_MS, pending, NULL,
	    reader_done, r);
}

/* by_time: oldest first; the same ms by host, then seq */
static int
by_time(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t tx = json_integer_value(json_object_get(x, "ts"));
	json_int_t ty = json_integer_value(json_object_get(y, "ts"));
	int c;

	if (tx != ty)
		return tx < ty ? -1 : 1;
	if ((c = g_strcmp0(client_jstr(x, "host"), client_jstr(y, "host"))) != 0)
		return c;
	tx = json_integer_value(json_object_get(x, "seq"));
	ty = json_integer_value(json_object_get(y, "seq"));
	return tx < ty ? -1 : tx > ty;
}

json_t *
import_journals(client *c, store *st, GError **err)
{
	g_autoptr(GPtrArray) hosts = client_hosts_sorted(c, false);
	g_autofree reader *rs = g_new0(reader, hosts->len);
	g_autoptr(GPtrArray) all = g_ptr_array_new();
	json_t *out = json_array();
	int pending = 0;
	bool again = true;

	for (guint i = 0; i < hosts->len; i++) {
		const client_host *h = hosts->pdata[i];
		int64_t since;

		rs[i] = (reader){ .c = c, .host = h->name, .events = json_array() };
		if (!client_host_live(h)) {
			out_err("warning: host '%s' is %s: its events are not imported (they are "
			    "once it is back)", h->name, h->online ? "not live (no fresh state)" :
			    "offline");
			continue;
		}
		if ((since = store_host_last_seq(st, h->name, err)) < 0)
			goto fail;
		rs[i].since = since;
		reader_send(&rs[i], &pending);
	}
	/* every host's pages in parallel, until none has more */
	while (again) {
		client_wait_calls(&pending, NULL, -1);
		again = false;
		for (guint i = 0; i < hosts->len; i++) {
			if (rs[i].more && rs[i].error == NULL) {
				reader_send(&rs[i], &pending);
				again = true;
			}
		}
	}
	for (guint i = 0; i < hosts->len; i++) {
		const json_t *ev;
		size_t k;

		if (rs[i].error != NULL)
			out_err("warning: host '%s': %s: its events are not imported", rs[i].host,
			    rs[i].error);
		json_array_foreach(rs[i].events, k, ev)
			g_ptr_array_add(all, (gpointer)ev);
	}
	g_ptr_array_sort(all, by_time);
	for (guint k = 0; k < all->len; k++) {
		json_t *ev = all->pdata[k];
		int rc;

		if ((rc = import_event(st, ev, err)) < 0) {
			if (!g_error_matches(*err, STORE_ERROR, STORE_ERROR_INVALID))
				goto fail;
			out_err("warning: an event of host '%s' is not imported: %s",
			    client_jstr(ev, "host"), (*err)->message);
			g_clear_error(err);
			continue;
		}
		if (rc == 1)
			json_array_append(out, ev);
	}
	for (guint i = 0; i < hosts->len; i++) {
		g_free(rs[i].error);
		json_decref(rs[i].events);
	}
	return out;
fail:
	client_wait_calls(&pending, NULL, -1);	/* no call may point into rs any more */
	for (guint i = 0; i < hosts->len; i++) {
		g_free(rs[i].error);
		json_decref(rs[i].events);
	}
	json_decref(out);
	return NULL;
}
