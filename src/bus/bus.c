/* bus: MQTT 5 client (libmosquitto, non-threaded) driven by a GLib main context */
#include "bus/bus.h"
#include "wire/topic.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <glib-unix.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#define BUS_BACKOFF_MIN_S	1
#define BUS_BACKOFF_MAX_S	30
#define BUS_MISC_MS		500
#define BUS_CONNACK_TIMEOUT_S	15
#define BUS_FINAL_PROP		"nube-final"

typedef struct {
	char *pattern;
	bus_msg_cb cb;
	void *ud;
} bus_sub;

typedef struct {
	bus *b;
	char *corr;		/* hex of the correlation bytes, key in b->reqs */
	char *reply_topic;	/* the only topic its reply may come on (names the target host) */
	bus_reply_cb cb;
	void *ud;
	int timeout_ms;
	GSource *timer;
} bus_req;

typedef struct {
	bus_conn_cb cb;
	void *ud;
} bus_hook;

struct bus {
	struct mosquitto *m;
	GMainContext *ctx;
	char *url, *host;
	int port;
	int keepalive;
	char *client_id;
	char *user;		/* <user> of the reply topics (bus_opts.reply_user) */
	char *reply_sub;	/* nube/v1/reply/<user>/<client-id>/+ */
	bool connected;
	bool down;		/* no usable socket: waiting for the retry timer */
	bool refused;		/* last CONNACK was a refusal (e.g. not authorised) */
	bool stopping;
	gint64 attempt_us;	/* monotonic time of the current connect attempt */
	int backoff_s;
	GSource *io;
	int io_fd;
	GIOCondition io_cond;
	GSource *misc;
	GSource *retry;
	GSource *probe;		/* watch of the TCP probe of a connect attempt (see bus_retry_cb) */
	int probe_fd;
	struct addrinfo *probe_ai;	/* the broker's addresses (freeaddrinfo) */
	struct addrinfo *probe_next;	/* the next one to try */
	GPtrArray *subs;	/* of bus_sub* */
	GPtrArray *hooks;	/* of bus_hook* */
	GHashTable *reqs;	/* corr hex -> bus_req* */
	char *last_error;
	void (*on_error)(const char *msg, void *ud);	/* bus_on_error */
	void *on_error_ud;
};

static void bus_update_watch(bus *b);
static void bus_down(bus *b, const char *why);
static void bus_probe_stop(bus *b);

G_DEFINE_QUARK(nube-bus-error-quark, bus_error)
#define BUS_ERROR bus_error_quark()

static void
bus_sub_free(gpointer p)
{
	bus_sub *s = p;

	g_free(s->pattern);
	g_free(s);
}

static void
bus_req_free(gpointer p)
{
	bus_req *r = p;

	if (r->timer != NULL) {
		g_source_destroy(r->timer);
		g_source_unref(r->timer);
	}
	g_free(r->corr);
	g_free(r->reply_topic);
	g_free(r);
}

static void
bus_set_error(bus *b, const char *fmt, ...)
{
	va_list ap;

	g_free(b->last_error);
	va_start(ap, fmt);
	b->last_error = g_strdup_vprintf(fmt, ap);
	va_end(ap);
}

static const char *
mosq_err(int rc)
{
	return rc == MOSQ_ERR_ERRNO ? g_strerror(errno) : mosquitto_strerror(rc);
}

/* ---- request bookkeeping ---- */

static gboolean
bus_req_timeout(gpointer p)
{
	bus_req *r = p;
	bus *b = r->b;
	bus_reply_cb cb = r->cb;
	void *ud = r->ud;
	g_autofree char *msg = g_strdup_printf("no answer within %d ms", r->timeout_ms);

	g_source_unref(r->timer);
	r->timer = NULL;
	g_hash_table_remove(b->reqs, r->corr);
	cb(b, NULL, true, msg, ud);
	return G_SOURCE_REMOVE;
}

static void
bus_req_arm(bus_req *r)
{
	if (r->timer != NULL) {
		g_source_destroy(r->timer);
		g_source_unref(r->timer);
	}
	r->timer = g_timeout_source_new(r->timeout_ms);
	g_source_set_callback(r->timer, bus_req_timeout, r, NULL);
	g_source_attach(r->timer, r->b->ctx);
}

/* fail every pending request (disconnect); callbacks may issue new requests */
static void
bus_fail_requests(bus *b, const char *why)
{
	GHashTableIter it;
	gpointer k, v;
	GPtrArray *old = g_ptr_array_new_with_free_func(bus_req_free);

	g_hash_table_iter_init(&it, b->reqs);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		g_hash_table_iter_steal(&it);
		g_ptr_array_add(old, v);
	}
	for (guint i = 0; i < old->len; i++) {
		bus_req *r = g_ptr_array_index(old, i);

		r->cb(b, NULL, true, why, r->ud);
	}
	g_ptr_array_unref(old);
}

/* ---- mosquitto callbacks (run inside mosquitto_loop_* calls on the main context) ---- */

static void
on_connect(struct mosquitto *m, void *ud, int rc, int flags, const mosquitto_property *props)
{
	bus *b = ud;

	(void)m;
	(void)flags;
	(void)props;
	if (rc != 0) {
		bus_set_error(b, "broker %s:%d: connection refused: %s", b->host, b->port,
		    rc >= 128 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc));
		b->refused = true;
		bus_down(b, b->last_error);
		return;
	}
	b->connected = true;
	b->refused = false;
	b->backoff_s = BUS_BACKOFF_MIN_S;
	g_clear_pointer(&b->last_error, g_free);
	mosquitto_subscribe_v5(b->m, NULL, b->reply_sub, 1, 0, NULL);
	for (guint i = 0; i < b->subs->len; i++) {
		bus_sub *s = g_ptr_array_index(b->subs, i);

		mosquitto_subscribe_v5(b->m, NULL, s->pattern, 1, 0, NULL);
	}
	for (guint i = 0; i < b->hooks->len; i++) {
		bus_hook *h = g_ptr_array_index(b->hooks, i);

		h->cb(b, true, h->ud);
	}
}

static void
on_disconnect(struct mosquitto *m, void *ud, int rc, const mosquitto_property *props)
{
	bus *b = ud;

	(void)m;
	(void)props;
	if (b->stopping || b->down)
		return;
	bus_set_error(b, "broker %s:%d: disconnected: %s", b->host, b->port,
	    rc == 0 ? "by request" : mosq_err(rc));
	bus_down(b, b->last_error);
}

static char *
hex_of(const void *data, int len)
{
	GString *s = g_string_sized_new((gsize)len * 2 + 1);

	for (int i = 0; i < len; i++)
		g_string_append_printf(s, "%02x", ((const unsigned char *)data)[i]);
	return g_string_free(s, FALSE);
}

static void
bus_handle_reply(bus *b, const bus_msg *bm, const mosquitto_property *props)
{
	g_autofree char *key = NULL;
	g_autofree char *pname = NULL, *pval = NULL;
	json_t *j;
	json_error_t jerr;
	bus_req *r;
	bool final;

	if (bm->correlation == NULL)
		return;
	key = hex_of(bm->correlation, bm->correlation_len);
	r = g_hash_table_lookup(b->reqs, key);
	if (r == NULL)
		return;		/* late answer to a request that timed out */
	if (strcmp(bm->topic, r->reply_topic) != 0) {
		/* not from the host asked (the ACL lets only host h publish on .../<h>) */
		g_debug("reply on '%s' to a request answered on '%s' ignored", bm->topic,
		    r->reply_topic);
		return;
	}
	j = json_loadb(bm->payload, (size_t)bm->len, 0, &jerr);
	if (j == NULL || !json_is_object(j)) {
		g_autofree char *msg = g_strdup_printf("malformed reply: %s",
		    j == NULL ? jerr.text : "not a JSON object");

		json_decref(j);
		g_hash_table_steal(b->reqs, key);
		r->cb(b, NULL, true, msg, r->ud);
		bus_req_free(r);
		return;
	}
	if (mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &pname, &pval,
	    false) != NULL && g_strcmp0(pname, BUS_FINAL_PROP) == 0)
		final = g_strcmp0(pval, "0") != 0;
	else
		final = json_object_get(j, "ok") != NULL ||
		    json_object_get(j, "progress") == NULL;
	if (final) {
		g_hash_table_steal(b->reqs, key);
		r->cb(b, j, true, NULL, r->ud);
		bus_req_free(r);
	} else {
		bus_req_arm(r);
		r->cb(b, j, false, NULL, r->ud);
	}
	json_decref(j);
}

static void
on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg,
    const mosquitto_property *props)
{
	bus *b = ud;
	g_autofree char *payload = g_strndup(msg->payload != NULL ? msg->payload : "",
	    msg->payloadlen > 0 ? (gsize)msg->payloadlen : 0);
	g_autofree char *resp = NULL;
	g_autofree void *corr = NULL;
	uint16_t corr_len = 0;
	bus_msg bm = { 0 };
	bool match = false;

	(void)m;
	mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &resp, false);
	mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &corr_len, false);
	bm.topic = msg->topic;
	bm.payload = payload;
	bm.len = msg->payloadlen;
	bm.response_topic = resp;
	bm.correlation = corr;
	bm.correlation_len = corr_len;
	bm.retained = msg->retain;
	if (mosquitto_topic_matches_sub(b->reply_sub, msg->topic, &match) == MOSQ_ERR_SUCCESS &&
	    match) {
		bus_handle_reply(b, &bm, props);
		return;
	}
	for (guint i = 0; i < b->subs->len; i++) {
		bus_sub *s = g_ptr_array_index(b->subs, i);
		bool match = false;

		if (mosquitto_topic_matches_sub(s->pattern, msg->topic, &match) ==
		    MOSQ_ERR_SUCCESS && match)
			s->cb(b, &bm, s->ud);
	}
}

/* ---- GLib integration ---- */

/* Connecting. libmosquitto 2.0 sends MQTT 5 CONNECT properties (here the maximum packet
 * size, so the broker never forwards a message larger than PROTO_MAX_PACKET) only from its
 * blocking connect, which could stall the main loop for minutes on an unreachable broker.
 * So a non-blocking TCP connect probes the broker first; once it got through, the blocking
 * connect returns within a round trip. */

static void
bus_probe_close(bus *b)
{
	if (b->probe != NULL) {
		g_source_destroy(b->probe);
		g_source_unref(b->probe);
		b->probe = NULL;
	}
	if (b->probe_fd >= 0) {
		close(b->probe_fd);
		b->probe_fd = -1;
	}
}

static void
bus_probe_stop(bus *b)
{
	bus_probe_close(b);
	if (b->probe_ai != NULL)
		freeaddrinfo(b->probe_ai);
	b->probe_ai = b->probe_next = NULL;
}

static void
bus_connect_mqtt(bus *b)
{
	mosquitto_property *props = NULL;
	int rc;

	mosquitto_property_add_int32(&props, MQTT_PROP_MAXIMUM_PACKET_SIZE, PROTO_MAX_PACKET);
	rc = mosquitto_connect_bind_v5(b->m, b->host, b->port, b->keepalive, NULL, props);
	mosquitto_property_free_all(&props);
	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_CONN_PENDING) {
		bus_set_error(b, "broker %s:%d: %s", b->host, b->port, mosq_err(rc));
		bus_down(b, b->last_error);
		return;
	}
	bus_update_watch(b);
}

static void bus_probe_next(bus *b);

static gboolean
bus_probe_cb(int fd, GIOCondition cond, gpointer p)
{
	bus *b = p;
	int e = 0;
	socklen_t l = sizeof e;

	(void)cond;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
		e = errno;
	bus_probe_close(b);
	if (e != 0) {
		bus_set_error(b, "broker %s:%d: %s", b->host, b->port, g_strerror(e));
		bus_probe_next(b);
	} else {
		bus_probe_stop(b);
		bus_connect_mqtt(b);
	}
	return G_SOURCE_REMOVE;
}

/* try the next address of the broker; when none is left, the connection is down with the
 * last address's error */
static void
bus_probe_next(bus *b)
{
	while (b->probe_next != NULL) {
		struct addrinfo *ai = b->probe_next;
		int fd;

		b->probe_next = ai->ai_next;
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)) {
			bus_set_error(b, "broker %s:%d: %s", b->host, b->port, g_strerror(errno));
			if (fd >= 0)
				close(fd);
			continue;
		}
		b->probe_fd = fd;
		b->probe = g_unix_fd_source_new(fd, G_IO_OUT | G_IO_ERR | G_IO_HUP);
		g_source_set_callback(b->probe, G_SOURCE_FUNC(bus_probe_cb), b, NULL);
		g_source_attach(b->probe, b->ctx);
		return;
	}
	bus_probe_stop(b);
	bus_down(b, b->last_error);
}

/* start the probe of a connect attempt (the connection is down when it fails) */
static void
bus_probe_start(bus *b)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC };
	g_autofree char *port = g_strdup_printf("%d", b->port);
	int rc;

	bus_probe_stop(b);
	rc = getaddrinfo(b->host, port, &hints, &b->probe_ai);
	if (rc != 0) {
		b->probe_ai = NULL;
		bus_set_error(b, "broker %s:%d: %s", b->host, b->port, gai_strerror(rc));
		bus_down(b, b->last_error);
		return;
	}
	b->probe_next = b->probe_ai;
	bus_probe_next(b);
}

static gboolean
bus_retry_cb(gpointer p)
{
	bus *b = p;

	g_source_unref(b->retry);
	b->retry = NULL;
	b->down = false;
	b->attempt_us = g_get_monotonic_time();
	bus_probe_start(b);
	return G_SOURCE_REMOVE;
}

static void
bus_schedule_retry(bus *b, int delay_s)
{
	if (b->retry != NULL || b->stopping)
		return;
	b->retry = g_timeout_source_new_seconds((guint)delay_s);
	g_source_set_callback(b->retry, bus_retry_cb, b, NULL);
	g_source_attach(b->retry, b->ctx);
}

static void
bus_drop_watch(bus *b)
{
	if (b->io != NULL) {
		g_source_destroy(b->io);
		g_source_unref(b->io);
		b->io = NULL;
	}
	b->io_fd = -1;
	b->io_cond = 0;
}

/* the connection is unusable: tell users, fail requests, retry with back-off */
static void
bus_down(bus *b, const char *why)
{
	bool was = b->connected;
	int delay;

	b->connected = false;
	if (b->down)
		return;
	b->down = true;
	bus_drop_watch(b);
	bus_probe_stop(b);
	if (was) {
		for (guint i = 0; i < b->hooks->len; i++) {
			bus_hook *h = g_ptr_array_index(b->hooks, i);

			h->cb(b, false, h->ud);
		}
	}
	bus_fail_requests(b, why != NULL ? why : "disconnected from broker");
	delay = b->backoff_s;
	b->backoff_s = MIN(b->backoff_s * 2, BUS_BACKOFF_MAX_S);
	bus_schedule_retry(b, delay);
}

static gboolean
bus_io_cb(int fd, GIOCondition cond, gpointer p)
{
	bus *b = p;
	int rc = MOSQ_ERR_SUCCESS;

	(void)fd;
	if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR))
		rc = mosquitto_loop_read(b->m, 1);
	if (rc == MOSQ_ERR_SUCCESS && !b->down && (cond & G_IO_OUT))
		rc = mosquitto_loop_write(b->m, 1);
	if (b->down)
		return G_SOURCE_CONTINUE;	/* the watch is already dropped */
	if (rc != MOSQ_ERR_SUCCESS) {
		bus_set_error(b, "broker %s:%d: connection lost: %s", b->host, b->port,
		    mosq_err(rc));
		bus_down(b, b->last_error);
		return G_SOURCE_CONTINUE;
	}
	bus_update_watch(b);
	return G_SOURCE_CONTINUE;
}

/* (re)create the fd watch when the socket or the wanted conditions changed */
static void
bus_update_watch(bus *b)
{
	int fd;
	GIOCondition cond;

	if (b->down || b->stopping)
		return;
	fd = mosquitto_socket(b->m);
	if (fd < 0) {
		bus_set_error(b, "broker %s:%d: connection closed", b->host, b->port);
		bus_down(b, b->last_error);
		return;
	}
	cond = G_IO_IN | G_IO_HUP | G_IO_ERR;
	if (mosquitto_want_write(b->m))
		cond |= G_IO_OUT;
	if (b->io != NULL && b->io_fd == fd && b->io_cond == cond)
		return;
	bus_drop_watch(b);
	b->io = g_unix_fd_source_new(fd, cond);
	g_source_set_callback(b->io, G_SOURCE_FUNC(bus_io_cb), b, NULL);
	g_source_attach(b->io, b->ctx);
	b->io_fd = fd;
	b->io_cond = cond;
}

static gboolean
bus_misc_cb(gpointer p)
{
	bus *b = p;

	if (b->down)
		return G_SOURCE_CONTINUE;
	if (b->probe == NULL)	/* no mosquitto socket yet while probing */
		mosquitto_loop_misc(b->m);
	if (b->down)
		return G_SOURCE_CONTINUE;
	if (!b->connected && g_get_monotonic_time() - b->attempt_us >
	    (gint64)BUS_CONNACK_TIMEOUT_S * G_USEC_PER_SEC) {
		bus_set_error(b, "broker %s:%d: no answer within %d s", b->host, b->port,
		    BUS_CONNACK_TIMEOUT_S);
		bus_down(b, b->last_error);
		return G_SOURCE_CONTINUE;
	}
	if (b->probe == NULL)
		bus_update_watch(b);
	return G_SOURCE_CONTINUE;
}

/* ---- public API ---- */

static int
bus_parse_url(bus *b, const char *url, bool *tls, GError **err)
{
	g_autofree char *scheme = NULL;
	const char *rest = url;
	const char *colon;

	*tls = false;
	if (g_str_has_prefix(url, "mqtts://")) {
		*tls = true;
		rest = url + 8;
	} else if (g_str_has_prefix(url, "mqtt://")) {
		rest = url + 7;
	} else if (strstr(url, "://") != NULL) {
		g_set_error(err, BUS_ERROR, 1, "broker url '%s': scheme must be mqtt:// or mqtts://",
		    url);
		return -1;
	}
	colon = strrchr(rest, ':');
	if (colon != NULL && strchr(colon, ']') == NULL) {
		char *end = NULL;
		long port = strtol(colon + 1, &end, 10);

		if (end == colon + 1 || (*end != '\0' && *end != '/') || port <= 0 || port > 65535) {
			g_set_error(err, BUS_ERROR, 1, "broker url '%s': bad port", url);
			return -1;
		}
		b->host = g_strndup(rest, (gsize)(colon - rest));
		b->port = (int)port;
	} else {
		const char *slash = strchr(rest, '/');

		b->host = slash != NULL ? g_strndup(rest, (gsize)(slash - rest)) : g_strdup(rest);
		b->port = *tls ? 8883 : 1883;
	}
	if (b->host[0] == '[') {	/* [v6] */
		size_t n = strlen(b->host);
		char *h = g_strndup(b->host + 1, n >= 2 ? n - 2 : 0);

		g_free(b->host);
		b->host = h;
	}
	if (b->host[0] == '\0') {
		g_set_error(err, BUS_ERROR, 1, "broker url '%s': no host", url);
		return -1;
	}
	return 0;
}

static gpointer
bus_lib_init(gpointer p)
{
	(void)p;
	mosquitto_lib_init();
	return NULL;
}

static void
random_bytes(unsigned char *buf, size_t n)
{
	if (getrandom(buf, n, 0) == (ssize_t)n)
		return;
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)g_random_int_range(0, 256);
}

bus *
bus_new(const bus_opts *o, GMainContext *ctx, GError **err)
{
	static GOnce once = G_ONCE_INIT;
	bus *b;
	bool tls;
	int rc;

	g_once(&once, bus_lib_init, NULL);
	if (o == NULL || o->url == NULL || o->url[0] == '\0') {
		g_set_error(err, BUS_ERROR, 1, "no broker url");
		return NULL;
	}
	b = g_new0(bus, 1);
	b->ctx = ctx != NULL ? g_main_context_ref(ctx) : g_main_context_ref(g_main_context_default());
	b->url = g_strdup(o->url);
	b->io_fd = -1;
	b->probe_fd = -1;
	b->backoff_s = BUS_BACKOFF_MIN_S;
	b->keepalive = o->keepalive_s > 0 ? o->keepalive_s : 10;
	b->subs = g_ptr_array_new_with_free_func(bus_sub_free);
	b->hooks = g_ptr_array_new_with_free_func(g_free);
	b->reqs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, bus_req_free);
	if (bus_parse_url(b, o->url, &tls, err) < 0) {
		bus_free(b);
		return NULL;
	}
	if (o->client_id != NULL && o->client_id[0] != '\0') {
		b->client_id = g_strdup(o->client_id);
	} else {
		unsigned char r[6];
		g_autofree char *hex = NULL;

		random_bytes(r, sizeof r);
		hex = hex_of(r, sizeof r);
		b->client_id = g_strdup_printf("nube-%d-%s", (int)getpid(), hex);
	}
	if (strchr(b->client_id, '/') || strchr(b->client_id, '+') || strchr(b->client_id, '#')) {
		g_set_error(err, BUS_ERROR, 1, "client id '%s' must not contain '/', '+' or '#'",
		    b->client_id);
		bus_free(b);
		return NULL;
	}
	b->user = g_strdup(o->reply_user != NULL ? o->reply_user :
	    o->username != NULL ? o->username : "anonymous");
	if (!topic_level_ok(b->user)) {
		g_set_error(err, BUS_ERROR, 1, "broker user name '%s' cannot be a topic level "
		    "(empty, or holds '/', '+', '#' or a control character)", b->user);
		bus_free(b);
		return NULL;
	}
	b->reply_sub = topic_reply_sub(b->user, b->client_id);
	b->m = mosquitto_new(b->client_id, true, b);
	if (b->m == NULL) {
		g_set_error(err, BUS_ERROR, 1, "mosquitto_new: %s", g_strerror(errno));
		bus_free(b);
		return NULL;
	}
	mosquitto_int_option(b->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_connect_v5_callback_set(b->m, on_connect);
	mosquitto_disconnect_v5_callback_set(b->m, on_disconnect);
	mosquitto_message_v5_callback_set(b->m, on_message);
	if (o->username != NULL &&
	    (rc = mosquitto_username_pw_set(b->m, o->username, o->password)) != MOSQ_ERR_SUCCESS) {
		g_set_error(err, BUS_ERROR, 1, "broker credentials: %s", mosq_err(rc));
		bus_free(b);
		return NULL;
	}
	if (tls) {
		if (o->cafile != NULL && o->cafile[0] != '\0')
			rc = mosquitto_tls_set(b->m, o->cafile, NULL, NULL, NULL, NULL);
		else
			rc = mosquitto_int_option(b->m, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
		if (rc != MOSQ_ERR_SUCCESS) {
			g_set_error(err, BUS_ERROR, 1, "broker TLS (cafile '%s'): %s",
			    o->cafile != NULL ? o->cafile : "system", mosq_err(rc));
			bus_free(b);
			return NULL;
		}
	}
	if (o->will_topic != NULL) {
		const char *wp = o->will_payload != NULL ? o->will_payload : "";

		rc = mosquitto_will_set_v5(b->m, o->will_topic, (int)strlen(wp), wp, 1,
		    o->will_retain, NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			g_set_error(err, BUS_ERROR, 1, "last will on '%s': %s", o->will_topic,
			    mosq_err(rc));
			bus_free(b);
			return NULL;
		}
	}
	b->misc = g_timeout_source_new(BUS_MISC_MS);
	g_source_set_callback(b->misc, bus_misc_cb, b, NULL);
	g_source_attach(b->misc, b->ctx);
	/* first attempt right away, from the loop */
	b->down = true;
	b->retry = g_idle_source_new();
	g_source_set_callback(b->retry, bus_retry_cb, b, NULL);
	g_source_attach(b->retry, b->ctx);
	return b;
}

void
bus_free(bus *b)
{
	if (b == NULL)
		return;
	b->stopping = true;
	if (b->m != NULL && b->connected) {
		/* flush what is queued, then a clean DISCONNECT (the will is not sent) */
		for (int i = 0; i < 20 && mosquitto_want_write(b->m); i++)
			if (mosquitto_loop_write(b->m, 1) != MOSQ_ERR_SUCCESS)
				break;
		mosquitto_disconnect_v5(b->m, 0, NULL);
		for (int i = 0; i < 20 && mosquitto_want_write(b->m); i++)
			if (mosquitto_loop_write(b->m, 1) != MOSQ_ERR_SUCCESS)
				break;
	}
	bus_drop_watch(b);
	bus_probe_stop(b);
	if (b->misc != NULL) {
		g_source_destroy(b->misc);
		g_source_unref(b->misc);
	}
	if (b->retry != NULL) {
		g_source_destroy(b->retry);
		g_source_unref(b->retry);
	}
	if (b->reqs != NULL)
		g_hash_table_unref(b->reqs);
	if (b->m != NULL)
		mosquitto_destroy(b->m);
	if (b->subs != NULL)
		g_ptr_array_unref(b->subs);
	if (b->hooks != NULL)
		g_ptr_array_unref(b->hooks);
	g_free(b->url);
	g_free(b->host);
	g_free(b->client_id);
	g_free(b->user);
	g_free(b->reply_sub);
	g_free(b->last_error);
	if (b->ctx != NULL)
		g_main_context_unref(b->ctx);
	g_free(b);
}

static gboolean
wake_cb(gpointer p)
{
	*(bool *)p = true;
	return G_SOURCE_REMOVE;
}

int
bus_wait_connected(bus *b, int timeout_ms, GError **err)
{
	bool expired = false;
	GSource *t = g_timeout_source_new((guint)MAX(timeout_ms, 0));

	g_source_set_callback(t, wake_cb, &expired, NULL);
	g_source_attach(t, b->ctx);
	while (!b->connected && !expired && !b->refused)
		g_main_context_iteration(b->ctx, TRUE);
	g_source_destroy(t);
	g_source_unref(t);
	if (b->connected)
		return 0;
	if (b->last_error != NULL)
		g_set_error(err, BUS_ERROR, 1, "%s", b->last_error);
	else
		g_set_error(err, BUS_ERROR, 1, "broker %s:%d: not connected within %d ms", b->host,
		    b->port, timeout_ms);
	return -1;
}

bool
bus_is_connected(const bus *b)
{
	return b != NULL && b->connected;
}

void
bus_on_connect(bus *b, bus_conn_cb cb, void *ud)
{
	bus_hook *h = g_new0(bus_hook, 1);

	h->cb = cb;
	h->ud = ud;
	g_ptr_array_add(b->hooks, h);
}

int
bus_subscribe(bus *b, const char *pattern, bus_msg_cb cb, void *ud, GError **err)
{
	bus_sub *s;
	int rc;

	if (mosquitto_sub_topic_check(pattern) != MOSQ_ERR_SUCCESS) {
		g_set_error(err, BUS_ERROR, 1, "bad topic pattern '%s'", pattern);
		return -1;
	}
	s = g_new0(bus_sub, 1);
	s->pattern = g_strdup(pattern);
	s->cb = cb;
	s->ud = ud;
	g_ptr_array_add(b->subs, s);
	if (b->connected) {
		rc = mosquitto_subscribe_v5(b->m, NULL, pattern, 1, 0, NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			g_set_error(err, BUS_ERROR, 1, "subscribe '%s': %s", pattern, mosq_err(rc));
			return -1;	/* kept: renewed on the next connect */
		}
		bus_update_watch(b);
	}
	return 0;
}

static int
bus_publish_props(bus *b, const char *topic, const void *payload, int len, int qos, bool retain,
    const mosquitto_property *props, GError **err)
{
	int rc;

	if (!b->connected) {
		g_set_error(err, BUS_ERROR, 2, "publish '%s': not connected to broker %s:%d", topic,
		    b->host, b->port);
		return -1;
	}
	if (len > PROTO_MAX_MESSAGE) {
		g_set_error(err, BUS_ERROR, 3, "publish '%s': message of %.1f MiB exceeds the limit "
		    "of %d MiB", topic, len / 1048576.0, PROTO_MAX_MESSAGE >> 20);
		return -1;
	}
	rc = mosquitto_publish_v5(b->m, NULL, topic, len, payload, qos, retain, props);
	if (rc != MOSQ_ERR_SUCCESS) {
		g_set_error(err, BUS_ERROR, 1, "publish '%s': %s", topic, mosq_err(rc));
		return -1;
	}
	bus_update_watch(b);
	return 0;
}

int
bus_publish(bus *b, const char *topic, const char *payload, int len, int qos, bool retain,
    GError **err)
{
	if (len < 0)
		len = payload != NULL ? (int)strlen(payload) : 0;
	return bus_publish_props(b, topic, payload, len, qos, retain, NULL, err);
}

int
bus_publish_json(bus *b, const char *topic, json_t *j, int qos, bool retain, GError **err)
{
	g_autofree char *s = json_dumps(j, JSON_COMPACT);

	if (s == NULL) {
		g_set_error(err, BUS_ERROR, 1, "publish '%s': cannot encode JSON", topic);
		return -1;
	}
	return bus_publish_props(b, topic, s, (int)strlen(s), qos, retain, NULL, err);
}

/* bus_req_add: wait for the answer correlated by corr on reply_topic (taken) */
static void
bus_req_add(bus *b, const unsigned char *corr, size_t corr_len, char *reply_topic,
    int timeout_ms, bus_reply_cb cb, void *ud)
{
	bus_req *r = g_new0(bus_req, 1);

	r->b = b;
	r->corr = hex_of(corr, corr_len);
	r->reply_topic = reply_topic;
	r->cb = cb;
	r->ud = ud;
	r->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	g_hash_table_replace(b->reqs, r->corr, r);
	bus_req_arm(r);
}

int
bus_request(bus *b, const char *topic, json_t *j, int timeout_ms, bus_reply_cb cb, void *ud,
    GError **err)
{
	unsigned char corr[16];
	mosquitto_property *props = NULL;
	g_autofree char *s = json_dumps(j, JSON_COMPACT);
	g_autofree char *host = NULL, *reply_topic = NULL;
	size_t len;
	int rc;

	if (s == NULL) {
		g_set_error(err, BUS_ERROR, 1, "request '%s': cannot encode JSON", topic);
		return -1;
	}
	if (topic_rpc_parse(topic, &host, NULL) < 0) {
		g_set_error(err, BUS_ERROR, 1, "request '%s': not a host's rpc topic", topic);
		return -1;
	}
	len = strlen(s);
	if (len > PROTO_MAX_MESSAGE) {
		g_set_error(err, BUS_ERROR, 3, "request of %.1f MiB exceeds the limit of %d MiB",
		    (double)len / 1048576.0, PROTO_MAX_MESSAGE >> 20);
		return -1;
	}
	reply_topic = topic_reply(b->user, b->client_id, host);
	random_bytes(corr, sizeof corr);
	mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, reply_topic);
	mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, corr, sizeof corr);
	rc = bus_publish_props(b, topic, s, (int)len, 1, false, props, err);
	mosquitto_property_free_all(&props);
	if (rc < 0)
		return -1;
	bus_req_add(b, corr, sizeof corr, g_steal_pointer(&reply_topic), timeout_ms, cb, ud);
	return 0;
}

int
bus_mark(bus *b, int timeout_ms, bus_reply_cb cb, void *ud, GError **err)
{
	static const char body[] = "{\"ok\": true, \"marker\": true}";
	unsigned char corr[16];
	mosquitto_property *props = NULL;
	g_autofree char *topic = topic_reply(b->user, b->client_id, b->user);
	int rc;

	random_bytes(corr, sizeof corr);
	mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, corr, sizeof corr);
	rc = bus_publish_props(b, topic, body, (int)strlen(body), 1, false, props, err);
	mosquitto_property_free_all(&props);
	if (rc < 0)
		return -1;
	bus_req_add(b, corr, sizeof corr, g_steal_pointer(&topic), timeout_ms, cb, ud);
	return 0;
}

int
bus_reply(bus *b, const bus_msg *m, json_t *j, bool final, GError **err)
{
	mosquitto_property *props = NULL;
	g_autofree char *s = NULL;
	int rc;

	if (m == NULL || m->response_topic == NULL || m->response_topic[0] == '\0')
		return 0;
	s = json_dumps(j, JSON_COMPACT);
	if (s == NULL) {
		g_set_error(err, BUS_ERROR, 1, "reply: cannot encode JSON");
		return -1;
	}
	if (strlen(s) > PROTO_MAX_MESSAGE) {	/* the requester gets an error, not silence */
		double mib = (double)strlen(s) / 1048576.0;

		g_free(s);
		s = g_strdup_printf("{\"ok\":false,\"error\":\"reply of %.1f MiB exceeds the limit "
		    "of %d MiB\"}", mib, PROTO_MAX_MESSAGE >> 20);
		final = true;
	}
	if (m->correlation != NULL && m->correlation_len > 0)
		mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, m->correlation,
		    (uint16_t)m->correlation_len);
	mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, BUS_FINAL_PROP,
	    final ? "1" : "0");
	rc = bus_publish_props(b, m->response_topic, s, (int)strlen(s), 1, false, props, err);
	mosquitto_property_free_all(&props);
	return rc;
}

bus_msg *
bus_msg_copy(const bus_msg *m)
{
	bus_msg *c = g_new0(bus_msg, 1);

	c->topic = g_strdup(m->topic);
	c->payload = g_strndup(m->payload != NULL ? m->payload : "", m->len > 0 ? (gsize)m->len : 0);
	c->len = m->len;
	c->response_topic = g_strdup(m->response_topic);
	c->correlation = m->correlation != NULL ?
	    g_memdup2(m->correlation, (gsize)m->correlation_len) : NULL;
	c->correlation_len = m->correlation != NULL ? m->correlation_len : 0;
	c->retained = m->retained;
	return c;
}

void
bus_msg_free(bus_msg *m)
{
	if (m == NULL)
		return;
	g_free((char *)m->topic);
	g_free((char *)m->payload);
	g_free((char *)m->response_topic);
	g_free((void *)m->correlation);
	g_free(m);
}

/* ---- the hand-off from other threads ---- */

typedef struct {
	bus *b;
	void (*fn)(void *ud);	/* bus_post */
	void *ud;
	bus_msg *msg;		/* bus_post_reply: the request */
	char *topic;		/* bus_post_publish */
	json_t *body;
	bool final, retain;
	int qos;
} bus_post_item;

void
bus_on_error(bus *b, void (*cb)(const char *msg, void *ud), void *ud)
{
	b->on_error = cb;
	b->on_error_ud = ud;
}

static void
bus_report(bus *b, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void
bus_report(bus *b, const char *fmt, ...)
{
	g_autofree char *s = NULL;
	va_list ap;

	if (b->on_error == NULL)
		return;
	va_start(ap, fmt);
	s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	b->on_error(s, b->on_error_ud);
}

static gboolean
bus_post_run(gpointer p)
{
	bus_post_item *it = p;
	GError *err = NULL;

	if (it->fn != NULL)
		it->fn(it->ud);
	else if (it->msg != NULL) {
		if (bus_reply(it->b, it->msg, it->body, it->final, &err) < 0)
			bus_report(it->b, "reply on '%s' lost: %s", it->msg->response_topic,
			    err->message);
	} else if (!bus_is_connected(it->b))
		bus_report(it->b, "publish on '%s' dropped: broker not connected", it->topic);
	else if (bus_publish_json(it->b, it->topic, it->body, it->qos, it->retain, &err) < 0)
		bus_report(it->b, "publish on '%s' lost: %s", it->topic, err->message);
	g_clear_error(&err);
	bus_msg_free(it->msg);
	g_free(it->topic);
	json_decref(it->body);
	g_free(it);
	return G_SOURCE_REMOVE;
}

/* run it now when called on the loop, else queue it there. Not g_main_context_invoke: while
 * nobody owns the context (before the loop runs, between two iterations of a caller's own
 * loop) that would run the work in the calling thread */
static void
bus_post_item_send(bus_post_item *it)
{
	GSource *s;

	if (g_main_context_is_owner(it->b->ctx)) {
		bus_post_run(it);
		return;
	}
	s = g_idle_source_new();
	g_source_set_priority(s, G_PRIORITY_DEFAULT);
	g_source_set_callback(s, bus_post_run, it, NULL);
	g_source_attach(s, it->b->ctx);
	g_source_unref(s);
}

void
bus_post(bus *b, void (*fn)(void *ud), void *ud)
{
	bus_post_item *it = g_new0(bus_post_item, 1);

	it->b = b;
	it->fn = fn;
	it->ud = ud;
	bus_post_item_send(it);
}

void
bus_post_reply(bus *b, const bus_msg *m, json_t *body, bool final)
{
	bus_post_item *it = g_new0(bus_post_item, 1);

	it->b = b;
	it->msg = bus_msg_copy(m);
	it->body = body;
	it->final = final;
	bus_post_item_send(it);
}

void
bus_post_publish(bus *b, const char *topic, json_t *j, int qos, bool retain)
{
	bus_post_item *it = g_new0(bus_post_item, 1);

	it->b = b;
	it->topic = g_strdup(topic);
	it->body = j;
	it->qos = qos;
	it->retain = retain;
	bus_post_item_send(it);
}

/* a synchronous call: shared by the waiting thread and the loop (two references) */
typedef struct {
	bus *b;
	char *topic;
	json_t *req;
	int timeout_ms;
	GMutex mu;
	GCond cond;
	bool done;
	json_t *reply;
	char *error;
	gint refs;
} bus_call;

static void
bus_call_unref(bus_call *c)
{
	if (!g_atomic_int_dec_and_test(&c->refs))
		return;
	g_free(c->topic);
	json_decref(c->req);
	json_decref(c->reply);
	g_free(c->error);
	g_mutex_clear(&c->mu);
	g_cond_clear(&c->cond);
	g_free(c);
}

static void
bus_call_finish(bus_call *c, json_t *reply, const char *error)
{
	g_mutex_lock(&c->mu);
	if (!c->done) {
		c->done = true;
		c->reply = reply != NULL ? json_incref(reply) : NULL;
		c->error = g_strdup(error);
		g_cond_broadcast(&c->cond);
	}
	g_mutex_unlock(&c->mu);
}

static void
bus_call_reply(bus *b, json_t *reply, bool final, const char *err_msg, void *ud)
{
	bus_call *c = ud;

	(void)b;
	if (!final)
		return;
	bus_call_finish(c, reply, reply == NULL ? (err_msg != NULL ? err_msg : "no answer") :
	    NULL);
	bus_call_unref(c);
}

static void
bus_call_send(void *p)
{
	bus_call *c = p;
	GError *err = NULL;

	if (bus_request(c->b, c->topic, c->req, c->timeout_ms, bus_call_reply, c, &err) < 0) {
		bus_call_finish(c, NULL, err->message);
		g_error_free(err);
		bus_call_unref(c);
	}
}

json_t *
bus_call_sync(bus *b, const char *topic, json_t *req, int timeout_ms, GError **err)
{
	bus_call *c = g_new0(bus_call, 1);
	g_autofree char *host = NULL;
	json_t *r = NULL;
	gint64 end;

	g_assert(!g_main_context_is_owner(b->ctx));	/* it would wait for itself */
	c->b = b;
	c->topic = g_strdup(topic);
	c->req = req;
	c->timeout_ms = timeout_ms;
	g_mutex_init(&c->mu);
	g_cond_init(&c->cond);
	c->refs = 2;
	bus_post(b, bus_call_send, c);
	/* the bus always ends a request (reply, silence, disconnect); this bound only covers a
	 * loop that stopped running */
	end = g_get_monotonic_time() + ((gint64)timeout_ms * 4 + 30000) * 1000;
	g_mutex_lock(&c->mu);
	while (!c->done)
		if (!g_cond_wait_until(&c->cond, &c->mu, end))
			break;
	if (c->done && c->reply != NULL)
		r = json_incref(c->reply);
	else {
		topic_rpc_parse(topic, &host, NULL);
		g_set_error(err, BUS_ERROR, 2, "%s: %s", host != NULL ? host : topic,
		    c->done ? c->error : "did not answer");
	}
	g_mutex_unlock(&c->mu);
	bus_call_unref(c);
	return r;
}
