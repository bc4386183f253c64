/* client: operator-side config, broker connection, live host discovery and rpc calls */
#include "cli/client.h"

#include <errno.h>
#include <unistd.h>
#include <string.h>

#include "wire/deployment.h"
#include "wire/names.h"
#include "wire/topic.h"
#include "store/store.h"

#define CONNECT_TIMEOUT_MS	5000
#define DISCOVER_QUIET_MS	400	/* retained burst is over after this much silence */
#define DISCOVER_MIN_MS		300
#define DISCOVER_MAX_MS		3000

/* ---- config ---- */

void
client_conf_free(client_conf *c)
{
	if (c == NULL)
		return;
	g_free(c->file);
	g_free(c->url);
	g_free(c->username);
	g_free(c->password);
	g_free(c->cafile);
	g_free(c->store_path);
	g_free(c->libvirt_uri);
	g_free(c);
}

static char *
conf_str(GKeyFile *kf, const char *group, const char *key, const char *def)
{
	g_autofree char *v = g_key_file_get_string(kf, group, key, NULL);

	if (v != NULL) {
		g_strstrip(v);
		if (*v != '\0')
			return g_steal_pointer(&v);
	}
	return g_strdup(def);
}

/* conf_uint: key as an unsigned integer in [min, max]; def when absent; -1 + err when bad */
static int
conf_uint(GKeyFile *kf, const char *file, const char *group, const char *key, uint64_t min,
    uint64_t max, uint64_t def, uint64_t *out, GError **err)
{
	g_autofree char *v = g_key_file_get_string(kf, group, key, NULL);
	char *end = NULL;
	guint64 n;

	if (v == NULL) {
		*out = def;
		return 0;
	}
	g_strstrip(v);
	errno = 0;
	n = g_ascii_strtoull(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n < min || n > max) {
		g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
		    "%s: [%s] %s = '%s': expected an integer in %" G_GUINT64_FORMAT "..%"
		    G_GUINT64_FORMAT, file, group, key, v, (guint64)min, (guint64)max);
		return -1;
	}
	*out = n;
	return 0;
}

client_conf *
client_conf_load(const char *path, GError **err)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(client_conf) c = g_new0(client_conf, 1);
	g_autoptr(GError) e = NULL;
	const char *env = g_getenv("NUBE_CONFIG");
	uint64_t vmin, vmax, tmo;

	if (path == NULL && env != NULL && *env != '\0')
		path = env;
	if (path == NULL) {
		if (g_file_test(CLIENT_CONF_SYSTEM, G_FILE_TEST_EXISTS))
			path = CLIENT_CONF_SYSTEM;
		else if (g_file_test(CLIENT_CONF_LAB, G_FILE_TEST_EXISTS))
			path = CLIENT_CONF_LAB;
	}
	if (path == NULL) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT,
		    "no client config (tried $NUBE_CONFIG, " CLIENT_CONF_SYSTEM ", "
		    CLIENT_CONF_LAB ")");
		return NULL;
	}
	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &e)) {
		g_set_error(err, e->domain, e->code, "%s: %s", path, e->message);
		return NULL;
	}
	c->file = g_strdup(path);
	c->url = conf_str(kf, "broker", "url", CLIENT_DEFAULT_URL);
	c->username = conf_str(kf, "broker", "username", NULL);
	c->password = conf_str(kf, "broker", "password", NULL);
	c->cafile = conf_str(kf, "broker", "cafile", NULL);
	c->store_path = conf_str(kf, "store", "path", STORE_DEFAULT_PATH);
	c->libvirt_uri = conf_str(kf, "images", "libvirt_uri", CLIENT_DEFAULT_LIBVIRT_URI);
	if (conf_uint(kf, path, "deploy", "vni_min", 1, 16777215, 10000, &vmin, err) < 0 ||
	    conf_uint(kf, path, "deploy", "vni_max", 1, 16777215, NUBE_VNI_DEPLOY_MAX, &vmax,
	    err) < 0 ||
	    conf_uint(kf, path, "deploy", "timeout", 1, 86400, CLIENT_DEFAULT_TIMEOUT_S, &tmo,
	    err) < 0)
		return NULL;
	if (vmin > vmax) {
		g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
		    "%s: [deploy] vni_min %" G_GUINT64_FORMAT " > vni_max %" G_GUINT64_FORMAT,
		    path, (guint64)vmin, (guint64)vmax);
		return NULL;
	}
	if (!nube_vni_deploy_range_ok((uint32_t)vmin, (uint32_t)vmax)) {
		g_set_error(err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
		    "%s: [deploy] vni_min..vni_max %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT
		    " is not within the deploy range %u..%u (VNIs %u..%u are the agents' for nets "
		    "a migration stretches)", path, (guint64)vmin, (guint64)vmax,
		    NUBE_VNI_DEPLOY_MIN, NUBE_VNI_DEPLOY_MAX, NUBE_VNI_STRETCH_MIN,
		    NUBE_VNI_STRETCH_MAX);
		return NULL;
	}
	c->vni_min = (uint32_t)vmin;
	c->vni_max = (uint32_t)vmax;
	c->timeout_s = (int)tmo;
	return g_steal_pointer(&c);
}

/* ---- hosts ---- */

static void
host_free(client_host *h)
{
	if (h == NULL)
		return;
	g_free(h->name);
	host_state_free(h->state);
	g_free(h);
}

bool
client_host_live(const client_host *h)
{
	return h != NULL && h->online && h->state != NULL &&
	    host_state_fresh(h->state, g_get_real_time() / 1000);
}

static client_host *
host_get_or_add(client *c, const char *name)
{
	client_host *h = g_hash_table_lookup(c->hosts, name);

	if (h == NULL) {
		h = g_new0(client_host, 1);
		h->name = g_strdup(name);
		g_hash_table_insert(c->hosts, h->name, h);
	}
	return h;
}

client_host *
client_host_get(client *c, const char *name)
{
	return c != NULL && name != NULL ? g_hash_table_lookup(c->hosts, name) : NULL;
}

static void
on_online_msg(bus *b, const bus_msg *m, void *ud)
{
	client *c = ud;
	g_autofree char *name = topic_host_parse(m->topic, "online");
	client_host *h;
	bool on;

	(void)b;
	if (name == NULL)
		return;
	c->last_msg_us = g_get_monotonic_time();
	on = m->payload != NULL && strcmp(m->payload, "1") == 0;
	if (m->len == 0 && !on && g_hash_table_lookup(c->hosts, name) == NULL)
		return;		/* a cleared retained message of a host we never saw */
	h = host_get_or_add(c, name);
	h->online = on;
	if (!c->discovering && c->on_online != NULL)
		c->on_online(name, on, c->on_online_ud);
}

static void
on_state_msg(bus *b, const bus_msg *m, void *ud)
{
	client *c = ud;
	g_autofree char *name = topic_host_parse(m->topic, "state");
	json_t *j;
	host_state *st;
	client_host *h;

	(void)b;
	if (name == NULL || m->len == 0)
		return;
	c->last_msg_us = g_get_monotonic_time();
	j = json_loadb(m->payload, (size_t)m->len, 0, NULL);
	st = host_state_from_json(j, NULL);
	json_decref(j);
	/* a malformed state, or one naming another host than its topic, is ignored: the host
	 * stays without a state (not live) or keeps its last valid one */
	if (st == NULL || strcmp(st->host, name) != 0) {
		host_state_free(st);
		return;
	}
	h = host_get_or_add(c, name);
	host_state_free(h->state);
	h->state = st;
}

/* ---- connection ---- */

client *
client_connect(client_conf *conf, GError **err)
{
	g_autoptr(client) c = g_new0(client, 1);
	g_autoptr(GError) e = NULL;
	g_autofree char *cid = g_strdup_printf("nube-cli-%d-%08x", (int)getpid(),
	    g_random_int());
	bus_opts o = {
		.url = conf->url,
		.username = conf->username,
		.password = conf->password,
		.cafile = conf->cafile,
		.client_id = cid,
		.keepalive_s = 10,
	};

	c->conf = conf;
	c->hosts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
	    (GDestroyNotify)host_free);
	c->calls = g_ptr_array_new_with_free_func((GDestroyNotify)NULL);
	c->bus = bus_new(&o, NULL, &e);
	if (c->bus == NULL || bus_wait_connected(c->bus, CONNECT_TIMEOUT_MS, &e) < 0) {
		const char *why = e != NULL ? e->message : "not connected";

		/* the bus says "broker HOST:PORT: reason"; the URL is named already */
		if (g_str_has_prefix(why, "broker ") && strstr(why, ": ") != NULL)
			why = strstr(why, ": ") + 2;
		g_set_error(err, g_quark_from_static_string("nube-client"), 1,
		    "cannot reach broker %s: %s", conf->url, why);
		return NULL;
	}
	return g_steal_pointer(&c);
}

static void
call_free(client_call *call)
{
	if (call == NULL)
		return;
	g_free(call->host);
	g_free(call->op);
	json_decref(call->reply);
	g_free(call->error);
	g_free(call);
}

void
client_free(client *c)
{
	if (c == NULL)
		return;
	/* the bus goes first: no reply callback may run on a freed call */
	bus_free(c->bus);
	if (c->calls != NULL) {
		for (guint i = 0; i < c->calls->len; i++)
			call_free(c->calls->pdata[i]);
		g_ptr_array_unref(c->calls);
	}
	if (c->hosts != NULL)
		g_hash_table_unref(c->hosts);
	g_free(c);
}

typedef struct {
	client *c;
	gint64 start_us;
} discover_wait;

static bool
discover_settled(void *ud)
{
	discover_wait *w = ud;
	gint64 now = g_get_monotonic_time();
	gint64 last = w->c->last_msg_us > w->start_us ? w->c->last_msg_us : w->start_us;

	if (w->c->marked)
		return true;
	return now - w->start_us >= DISCOVER_MIN_MS * 1000 &&
	    now - last >= DISCOVER_QUIET_MS * 1000;
}

static void
on_marker(bus *b, json_t *reply, bool final, const char *err_msg, void *ud)
{
	client *c = ud;

	(void)b;
	(void)err_msg;
	if (final && reply != NULL)
		c->marked = true;
}

int
client_discover(client *c, GError **err)
{
	g_autofree char *t_on = g_strdup(TOPIC_ONLINE_ALL);
	g_autofree char *t_st = g_strdup(TOPIC_STATE_ALL);
	discover_wait w = { .c = c };

	c->discovering = true;
	if (bus_subscribe(c->bus, t_on, on_online_msg, c, err) < 0 ||
	    bus_subscribe(c->bus, t_st, on_state_msg, c, err) < 0) {
		c->discovering = false;
		return -1;
	}
	/* the broker sends the retained states, then the marker: discovery ends when it is
	 * back. A broker whose ACL does not let the user write its own reply topic drops the
	 * marker: then the burst is over after DISCOVER_QUIET_MS of silence. */
	c->marked = false;
	if (bus_mark(c->bus, DISCOVER_MAX_MS, on_marker, c, NULL) < 0)
		g_debug("discovery: no marker, waiting for the retained burst to end");
	w.start_us = g_get_monotonic_time();
	client_wait(discover_settled, &w, DISCOVER_MAX_MS);
	c->discovering = false;
	return 0;
}

static gint
host_cmp(gconstpointer a, gconstpointer b)
{
	const client_host *ha = *(client_host *const *)a;
	const client_host *hb = *(client_host *const *)b;

	return strcmp(ha->name, hb->name);
}

GPtrArray *
client_hosts_sorted(client *c, bool live_only)
{
	GPtrArray *out = g_ptr_array_new();
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, c->hosts);
	while (g_hash_table_iter_next(&it, NULL, &v))
		if (!live_only || client_host_live(v))
			g_ptr_array_add(out, v);
	g_ptr_array_sort(out, host_cmp);
	return out;
}

/* ---- waiting ---- */

static gboolean
on_wait_timeout(gpointer ud)
{
	*(bool *)ud = true;
	return G_SOURCE_REMOVE;
}

bool
client_wait(bool (*pred)(void *ud), void *ud, int timeout_ms)
{
	bool expired = false;
	guint src = 0;
	bool ok;

	if (timeout_ms >= 0)
		src = g_timeout_add(timeout_ms, on_wait_timeout, &expired);
	while (!(ok = pred(ud)) && !expired)
		g_main_context_iteration(NULL, TRUE);
	if (!expired && src != 0)
		g_source_remove(src);
	return ok;
}

typedef struct {
	int *pending;
	bool *abort;
} calls_wait;

static bool
calls_done(void *ud)
{
	calls_wait *w = ud;

	return *w->pending <= 0 || (w->abort != NULL && *w->abort);
}

bool
client_wait_calls(int *pending, bool *abort, int limit_ms)
{
	calls_wait w = { pending, abort };

	return client_wait(calls_done, &w, limit_ms);
}

/* ---- rpc ---- */

static void
call_finish(client_call *call, json_t *reply, const char *err_msg)
{
	json_t *ok, *e;

	if (call->done)
		return;
	call->done = true;
	if (reply != NULL) {
		call->reply = json_incref(reply);
		ok = json_object_get(reply, "ok");
		call->ok = json_is_true(ok);
		if (!call->ok) {
			e = json_object_get(reply, "error");
			call->error = g_strdup(json_is_string(e) ? json_string_value(e) :
			    "the agent answered without \"ok\"");
		}
	} else {
		call->ok = false;
		call->error = g_strdup(err_msg != NULL ? err_msg : "no reply");
	}
	if (call->pending != NULL)
		(*call->pending)--;
	if (call->on_done != NULL)
		call->on_done(call, call->ud);
}

static void
on_reply(bus *b, json_t *reply, bool final, const char *err_msg, void *ud)
{
	client_call *call = ud;
	json_t *p;

	(void)b;
	if (call->done)
		return;
	if (!final) {
		p = json_object_get(reply, "progress");
		if (call->progress != NULL && json_is_string(p))
			call->progress(call, json_string_value(p), call->ud);
		return;
	}
	call_finish(call, reply, err_msg);
}

client_call *
client_call_start(client *c, const char *host, json_t *request, int timeout_ms,
    int *pending, client_progress_cb progress, client_done_cb on_done, void *ud)
{
	client_call *call = g_new0(client_call, 1);
	g_autoptr(GError) e = NULL;
	g_autofree char *topic = topic_rpc(host, TOPIC_OPERATOR);
	json_t *op = json_object_get(request, "op");

	call->host = g_strdup(host);
	call->op = g_strdup(json_is_string(op) ? json_string_value(op) : "?");
	call->progress = progress;
	call->on_done = on_done;
	call->ud = ud;
	call->pending = pending;
	g_ptr_array_add(c->calls, call);
	if (pending != NULL)
		(*pending)++;
	if (bus_request(c->bus, topic, request, timeout_ms, on_reply, call, &e) < 0) {
		g_autofree char *msg = g_strdup_printf("cannot send '%s': %s", call->op,
		    e != NULL ? e->message : "bus error");

		call_finish(call, NULL, msg);
	}
	json_decref(request);
	return call;
}

void
client_call_abandon(client_call *call, const char *why)
{
	if (call != NULL)
		call_finish(call, NULL, why);
}

GPtrArray *
client_call_live(client *c, json_t *request, int timeout_ms, client_done_cb on_done, void *ud)
{
	g_autoptr(GPtrArray) hosts = client_hosts_sorted(c, true);
	GPtrArray *calls = g_ptr_array_new();
	int pending = 0;

	for (guint i = 0; i < hosts->len; i++) {
		const client_host *h = hosts->pdata[i];

		g_ptr_array_add(calls, client_call_start(c, h->name, json_deep_copy(request),
		    timeout_ms, &pending, NULL, on_done, ud));
	}
	json_decref(request);
	/* no limit and no abort: every call is done when this returns, so none keeps a
	 * pointer to pending */
	client_wait_calls(&pending, NULL, -1);
	return calls;
}

void
client_vm_addrs(const json_t *entry, json_t **addrs, json_t **ifaces)
{
	json_t *a = json_object_get(entry, "ifaces"), *v;
	size_t i;

	*addrs = json_array();
	*ifaces = json_array();
	if (json_is_array(a)) {
		json_array_foreach(a, i, v) {
			const char *net = client_jstr(v, "net"), *addr = client_jstr(v, "addr");
			json_t *id = json_object_get(v, "if");

			if (addr == NULL)
				continue;
			json_array_append_new(*addrs, json_string(addr));
			if (json_is_integer(id) && net != NULL)
				json_array_append_new(*ifaces, json_pack("{s:O, s:s, s:s}", "if", id,
				    "net", net, "addr", addr));
		}
		return;
	}
	/* an older agent: "IFID NET ADDR/LEN"; the address has no space, the id neither */
	json_array_foreach(json_object_get(entry, "addrs"), i, v) {
		const char *str = json_string_value(v), *sp1, *sp2;
		g_autofree char *idtxt = NULL, *net = NULL;
		char *end;
		long id;

		if (str == NULL)
			continue;
		sp1 = strchr(str, ' ');
		sp2 = strrchr(str, ' ');
		if (sp1 == NULL || sp2 == sp1) {
			json_array_append(*addrs, v);
			continue;
		}
		json_array_append_new(*addrs, json_string(sp2 + 1));
		idtxt = g_strndup(str, (gsize)(sp1 - str));
		net = g_strndup(sp1 + 1, (gsize)(sp2 - sp1 - 1));
		id = strtol(idtxt, &end, 10);
		if (*end == '\0' && end != idtxt)
			json_array_append_new(*ifaces, json_pack("{s:i, s:s, s:s}", "if", (int)id,
			    "net", net, "addr", sp2 + 1));
	}
}

const char *
client_jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}
