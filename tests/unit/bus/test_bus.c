/* tests of bus against a real mosquitto broker started on 127.0.0.1 (a free port): publish,
 * subscribe, request/progress/reply, timeout, credentials, last will, reconnect */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "bus/bus.h"

static char *tmpdir;
static int port;
static int tls_port;	/* 0 when openssl could not make the certificates */
static GPid broker = 0;

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), p;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	p = ntohs(a.sin_port);
	close(fd);
	return p;
}

static void
spin(int ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;

	while (g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, FALSE), g_usleep(2000);
}

/* iterate until *flag or ms elapsed; returns *flag */
static bool
wait_for(bool *flag, int ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;

	while (!*flag && g_get_monotonic_time() < end)
		if (!g_main_context_iteration(NULL, FALSE))
			g_usleep(2000);
	return *flag;
}

static void
broker_start(void)
{
	g_autofree char *conf = g_build_filename(tmpdir, "mosquitto.conf", NULL);
	char *argv[] = { "mosquitto", "-c", conf, NULL };
	GError *err = NULL;

	assert_true(g_spawn_async(NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
	    G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &broker, &err));
	/* wait until it listens */
	for (int i = 0; i < 200; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int rc = connect(fd, (struct sockaddr *)&a, sizeof a);

		close(fd);
		if (rc == 0)
			return;
		g_usleep(20000);
	}
	fail_msg("mosquitto did not start on port %d", port);
}

static void
broker_stop(void)
{
	if (broker > 0) {
		kill(broker, SIGTERM);
		waitpid(broker, NULL, 0);
		broker = 0;
	}
}

static int
setup(void **state)
{
	g_autofree char *conf = NULL, *pw = NULL, *cmd = NULL;
	g_autofree char *text = NULL;

	(void)state;
	tmpdir = g_dir_make_tmp("nube-bus-XXXXXX", NULL);
	assert_non_null(tmpdir);
	port = free_port();
	pw = g_build_filename(tmpdir, "passwd", NULL);
	cmd = g_strdup_printf("mosquitto_passwd -c -b %s alice wonder", pw);
	assert_int_equal(system(cmd), 0);
	conf = g_build_filename(tmpdir, "mosquitto.conf", NULL);
	text = g_strdup_printf("listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\n"
	    "persistence false\n%s", port, pw, getuid() == 0 ? "user root\n" : "");
	/* a TLS listener with a CA and a server certificate for 127.0.0.1 made here */
	{
		g_autofree char *mk = g_strdup_printf("cd '%s' && "
		    "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 "
		    "-subj /CN=nube-test-ca && "
		    "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt "
		    "-days 2 -subj /CN=other-ca && "
		    "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
		    "-subj /CN=127.0.0.1 && printf 'subjectAltName=IP:127.0.0.1\\n' > ext && "
		    "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
		    "-out server.crt -days 2 -extfile ext && chmod 644 *.key", tmpdir);

		g_autofree char *quiet = g_strconcat(mk, " >/dev/null 2>&1", NULL);

		if (system(quiet) == 0) {
			char *t2;

			tls_port = free_port();
			t2 = g_strdup_printf("%slistener %d 127.0.0.1\ncafile %s/ca.crt\n"
			    "certfile %s/server.crt\nkeyfile %s/server.key\n", text, tls_port,
			    tmpdir, tmpdir, tmpdir);
			g_free(text);
			text = t2;
		}
	}
	assert_true(g_file_set_contents(conf, text, -1, NULL));
	broker_start();
	return 0;
}

static int
teardown(void **state)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);

	(void)state;
	broker_stop();
	if (system(cmd) != 0)
		return -1;
	g_free(tmpdir);
	return 0;
}

static bus *
client(const char *id, const char *user, const char *pass)
{
	g_autofree char *url = g_strdup_printf("mqtt://127.0.0.1:%d", port);
	bus_opts o = { .url = url, .username = (char *)user, .password = (char *)pass,
	    .client_id = (char *)id, .keepalive_s = 5 };
	GError *err = NULL;
	bus *b = bus_new(&o, NULL, &err);

	assert_non_null(b);
	return b;
}

typedef struct {
	int n;
	char *topic;
	char *payload;
	bool retained;
	bool got;
} rx;

static void
on_msg(bus *b, const bus_msg *m, void *ud)
{
	rx *r = ud;

	(void)b;
	r->n++;
	g_free(r->topic);
	g_free(r->payload);
	r->topic = g_strdup(m->topic);
	r->payload = g_strdup(m->payload);
	r->retained = m->retained;
	r->got = true;
}

static void
test_publish_subscribe(void **state)
{
	bus *a = client("t-a", "alice", "wonder"), *b = client("t-b", "alice", "wonder");
	GError *err = NULL;
	rx r = { 0 };

	(void)state;
	assert_int_equal(bus_wait_connected(a, 5000, &err), 0);
	assert_int_equal(bus_wait_connected(b, 5000, &err), 0);
	assert_true(bus_is_connected(a));
	/* retained before subscribing: arrives flagged retained */
	assert_int_equal(bus_publish(a, "nube/v1/host/x/online", "1", -1, 1, true, &err), 0);
	spin(100);
	assert_int_equal(bus_subscribe(b, "nube/v1/host/+/online", on_msg, &r, &err), 0);
	assert_true(wait_for(&r.got, 3000));
	assert_string_equal(r.topic, "nube/v1/host/x/online");
	assert_string_equal(r.payload, "1");
	assert_true(r.retained);
	r.got = false;
	{
		json_t *j = json_pack("{s:i}", "v", 7);

		assert_int_equal(bus_publish_json(a, "nube/v1/host/y/online", j, 1, false, &err), 0);
		json_decref(j);
	}
	assert_true(wait_for(&r.got, 3000));
	assert_string_equal(r.payload, "{\"v\":7}");
	assert_false(r.retained);
	/* clear the retained message */
	assert_int_equal(bus_publish(a, "nube/v1/host/x/online", "", 0, 1, true, &err), 0);
	spin(100);
	bus_free(a);
	bus_free(b);
	g_free(r.topic);
	g_free(r.payload);
}

/* server side: answer each request with two progress messages and a final reply */
static void
on_request(bus *b, const bus_msg *m, void *ud)
{
	json_t *req = json_loads(m->payload, 0, NULL);
	json_t *p1 = json_pack("{s:s}", "progress", "one");
	json_t *p2 = json_pack("{s:s}", "progress", "two");
	json_t *fin;

	(void)ud;
	assert_non_null(req);
	assert_non_null(m->response_topic);
	assert_int_equal(m->correlation_len, 16);
	if (strcmp(json_string_value(json_object_get(req, "op")), "silent") == 0) {
		json_decref(req);
		json_decref(p1);
		json_decref(p2);
		return;
	}
	fin = json_pack("{s:b, s:O}", "ok", 1, "echo", json_object_get(req, "x"));
	assert_int_equal(bus_reply(b, m, p1, false, NULL), 0);
	assert_int_equal(bus_reply(b, m, p2, false, NULL), 0);
	assert_int_equal(bus_reply(b, m, fin, true, NULL), 0);
	json_decref(req);
	json_decref(p1);
	json_decref(p2);
	json_decref(fin);
}

typedef struct {
	int progress;
	int finals;
	json_t *reply;
	char *err;
	bool done;
} replies;

static void
on_reply(bus *b, json_t *reply, bool final, const char *err_msg, void *ud)
{
	replies *r = ud;

	(void)b;
	if (!final) {
		r->progress++;
		return;
	}
	r->finals++;
	r->reply = reply != NULL ? json_incref(reply) : NULL;
	r->err = g_strdup(err_msg);
	r->done = true;
}

static void
test_request_reply(void **state)
{
	bus *srv = client("t-srv", "alice", "wonder"), *cli = client("t-cli", "alice", "wonder");
	GError *err = NULL;
	replies r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	json_t *q;

	(void)state;
	assert_int_equal(bus_wait_connected(srv, 5000, &err), 0);
	assert_int_equal(bus_wait_connected(cli, 5000, &err), 0);
	assert_int_equal(bus_subscribe(srv, "nube/v1/host/s/rpc/+", on_request, NULL, &err), 0);
	spin(100);
	/* two requests in flight: each gets its own answer (correlation) */
	q = json_pack("{s:s, s:i}", "op", "echo", "x", 1);
	assert_int_equal(bus_request(cli, "nube/v1/host/s/rpc/operator", q, 3000, on_reply, &r1,
	    &err), 0);
	json_decref(q);
	q = json_pack("{s:s, s:i}", "op", "echo", "x", 2);
	assert_int_equal(bus_request(cli, "nube/v1/host/s/rpc/operator", q, 3000, on_reply, &r2,
	    &err), 0);
	json_decref(q);
	assert_true(wait_for(&r1.done, 5000));
	assert_true(wait_for(&r2.done, 5000));
	assert_int_equal(r1.progress, 2);
	assert_int_equal(r1.finals, 1);
	assert_null(r1.err);
	assert_true(json_is_true(json_object_get(r1.reply, "ok")));
	assert_int_equal(json_integer_value(json_object_get(r1.reply, "echo")), 1);
	assert_int_equal(json_integer_value(json_object_get(r2.reply, "echo")), 2);
	/* no answer: a timeout with a message */
	q = json_pack("{s:s}", "op", "silent");
	assert_int_equal(bus_request(cli, "nube/v1/host/s/rpc/operator", q, 300, on_reply, &r3,
	    &err), 0);
	json_decref(q);
	assert_true(wait_for(&r3.done, 3000));
	assert_null(r3.reply);
	assert_non_null(r3.err);
	assert_non_null(strstr(r3.err, "no answer within 300 ms"));
	json_decref(r1.reply);
	json_decref(r2.reply);
	g_free(r3.err);
	bus_free(srv);
	bus_free(cli);
}

/* ---- the hand-off from other threads: bus_post, bus_post_reply, bus_post_publish,
 * bus_call_sync */

typedef struct {
	bus *b;
	bus_msg *msg;		/* the request, answered from a thread */
	GThread *loop_thread;	/* the thread running the loop */
	gint ran_on_loop;	/* bus_post ran its function on the loop's thread */
	json_t *reply;		/* what bus_call_sync returned */
	char *error;
	gint done;
} handoff;

static gpointer
answer_later(gpointer p)
{
	handoff *h = p;

	g_usleep(50 * 1000);	/* the request's callback has long returned */
	bus_post_reply(h->b, h->msg, json_pack("{s:s}", "progress", "working"), false);
	bus_post_reply(h->b, h->msg, json_pack("{s:b, s:s}", "ok", 1, "from", "thread"), true);
	return NULL;
}

static void
on_request_deferred(bus *b, const bus_msg *m, void *ud)
{
	handoff *h = ud;

	(void)b;
	h->msg = bus_msg_copy(m);
	g_thread_unref(g_thread_new("answer", answer_later, h));
}

static void
mark_loop(void *p)
{
	handoff *h = p;

	g_atomic_int_set(&h->ran_on_loop, g_thread_self() == h->loop_thread ? 1 : -1);
}

static gpointer
caller(gpointer p)
{
	handoff *h = p;
	GError *err = NULL;

	bus_post(h->b, mark_loop, h);
	bus_post_publish(h->b, "nube/v1/host/x/state", json_pack("{s:i}", "n", 3), 1, false);
	h->reply = bus_call_sync(h->b, "nube/v1/host/s/rpc/operator", json_pack("{s:s}", "op",
	    "echo"), 3000, &err);
	if (h->reply == NULL)
		h->error = g_strdup(err->message);
	g_clear_error(&err);
	json_decref(bus_call_sync(h->b, "nube/v1/host/s/rpc/operator", json_pack("{s:s}", "op",
	    "silent"), 300, &err));
	g_free(h->error);
	h->error = err != NULL ? g_strdup(err->message) : NULL;
	g_clear_error(&err);
	g_atomic_int_set(&h->done, 1);
	return NULL;
}

static void
on_request_silent_or_deferred(bus *b, const bus_msg *m, void *ud)
{
	if (strstr(m->payload, "silent") == NULL)
		on_request_deferred(b, m, ud);
}

static void
test_handoff(void **state)
{
	bus *srv = client("t-hs", "alice", "wonder"), *cli = client("t-hc", "alice", "wonder");
	handoff hs = { 0 }, hc = { 0 };
	GError *err = NULL;
	rx r = { 0 };
	gint64 end;

	(void)state;
	assert_int_equal(bus_wait_connected(srv, 5000, &err), 0);
	assert_int_equal(bus_wait_connected(cli, 5000, &err), 0);
	hs.b = srv;
	assert_int_equal(bus_subscribe(srv, "nube/v1/host/s/rpc/+", on_request_silent_or_deferred,
	    &hs, &err), 0);
	assert_int_equal(bus_subscribe(srv, "nube/v1/host/x/state", on_msg, &r, &err), 0);
	spin(100);
	hc.b = cli;
	hc.loop_thread = g_thread_self();
	g_thread_unref(g_thread_new("caller", caller, &hc));
	end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (!g_atomic_int_get(&hc.done) && g_get_monotonic_time() < end)
		spin(10);
	assert_true(g_atomic_int_get(&hc.done));
	assert_int_equal(g_atomic_int_get(&hc.ran_on_loop), 1);
	assert_true(r.got);	/* published from the caller thread */
	assert_string_equal(r.payload, "{\"n\":3}");
	assert_non_null(hc.reply);	/* answered from the server's thread */
	assert_string_equal(json_string_value(json_object_get(hc.reply, "from")), "thread");
	assert_non_null(hc.error);	/* the silent one: the host and why */
	assert_non_null(strstr(hc.error, "s: no answer within 300 ms"));
	json_decref(hc.reply);
	g_free(hc.error);
	bus_msg_free(hs.msg);
	g_free(r.topic);
	g_free(r.payload);
	bus_free(srv);
	bus_free(cli);
}

/* a forger answers first on the reply topic of another host ("t"), then the right one */
static void
on_request_forged(bus *b, const bus_msg *m, void *ud)
{
	bus_msg forged = *m;
	json_t *fake = json_pack("{s:b, s:s}", "ok", 1, "echo", "forged");
	json_t *real = json_pack("{s:b, s:s}", "ok", 1, "echo", "real");

	(void)ud;
	/* the response topic names the user, the client and the host asked */
	assert_string_equal(m->response_topic, "nube/v1/reply/alice/t-fcli/s");
	forged.response_topic = "nube/v1/reply/alice/t-fcli/t";
	assert_int_equal(bus_reply(b, &forged, fake, true, NULL), 0);
	assert_int_equal(bus_reply(b, m, real, true, NULL), 0);
	json_decref(fake);
	json_decref(real);
}

static void
test_reply_only_from_host_asked(void **state)
{
	bus *srv = client("t-fsrv", "alice", "wonder"), *cli = client("t-fcli", "alice", "wonder");
	GError *err = NULL;
	replies r = { 0 };
	json_t *q = json_pack("{s:s}", "op", "echo");
	g_autofree char *big = NULL;

	(void)state;
	assert_int_equal(bus_wait_connected(srv, 5000, &err), 0);
	assert_int_equal(bus_wait_connected(cli, 5000, &err), 0);
	assert_int_equal(bus_subscribe(srv, "nube/v1/host/s/rpc/+", on_request_forged, NULL, &err),
	    0);
	spin(100);
	assert_int_equal(bus_request(cli, "nube/v1/host/s/rpc/operator", q, 3000, on_reply, &r,
	    &err), 0);
	assert_true(wait_for(&r.done, 5000));
	assert_int_equal(r.finals, 1);
	assert_string_equal(json_string_value(json_object_get(r.reply, "echo")), "real");
	json_decref(r.reply);
	/* a request goes to a host's rpc topic only */
	assert_int_equal(bus_request(cli, "nube/v1/events", q, 3000, on_reply, &r, &err), -1);
	assert_non_null(strstr(err->message, "not a host's rpc topic"));
	g_clear_error(&err);
	json_decref(q);
	/* nothing larger than PROTO_MAX_MESSAGE leaves */
	big = g_malloc((16 << 20) + 2);
	memset(big, 'x', (16 << 20) + 1);
	big[(16 << 20) + 1] = '\0';
	q = json_pack("{s:s, s:s}", "op", "echo", "pad", big);
	assert_int_equal(bus_request(cli, "nube/v1/host/s/rpc/operator", q, 3000, on_reply, &r,
	    &err), -1);
	assert_non_null(strstr(err->message, "request of 16.0 MiB exceeds the limit of 16 MiB"));
	g_clear_error(&err);
	assert_int_equal(bus_publish(cli, "nube/v1/events", big, -1, 1, false, &err), -1);
	assert_non_null(strstr(err->message, "exceeds the limit of 16 MiB"));
	g_clear_error(&err);
	json_decref(q);
	bus_free(srv);
	bus_free(cli);
}

/* the bus announces PROTO_MAX_PACKET as its maximum packet size in CONNECT: this broker has
 * no limit, yet never forwards it a larger message (and the bus stays connected) */
static void
test_max_packet_announced(void **state)
{
	bus *a = client("t-max", "alice", "wonder");
	GError *err = NULL;
	rx r = { 0 };
	g_autofree char *big = g_build_filename(tmpdir, "big", NULL);
	g_autofree char *cmd = NULL;
	g_autofree char *data = g_malloc((17 << 20) + 1);

	(void)state;
	assert_int_equal(bus_wait_connected(a, 5000, &err), 0);
	assert_int_equal(bus_subscribe(a, "nube/v1/big", on_msg, &r, &err), 0);
	spin(200);
	memset(data, 'x', 17 << 20);
	data[17 << 20] = '\0';
	assert_true(g_file_set_contents(big, data, 17 << 20, NULL));
	cmd = g_strdup_printf("mosquitto_pub -V mqttv5 -h 127.0.0.1 -p %d -u alice -P wonder "
	    "-q 1 -t nube/v1/big -f '%s' && mosquitto_pub -V mqttv5 -h 127.0.0.1 -p %d -u alice "
	    "-P wonder -q 1 -t nube/v1/big -m small", port, big, port);
	assert_int_equal(system(cmd), 0);
	assert_true(wait_for(&r.got, 5000));
	spin(300);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.payload, "small");
	assert_true(bus_is_connected(a));
	g_free(r.topic);
	g_free(r.payload);
	bus_free(a);
}

/* a broker slow to accept (its accept queue is full, so SYNs go unanswered): the bus keeps
 * waiting for the TCP connect, and bus_free ends the attempt cleanly */
static void
test_slow_connect(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof a;
	int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd = socket(AF_INET, SOCK_STREAM, 0);
	g_autofree char *url = NULL;
	bus_opts o = { .client_id = "t-slow", .keepalive_s = 5 };
	GError *err = NULL;
	bus *b;

	(void)state;
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &l), 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&a, sizeof a), 0);	/* queue full */
	url = g_strdup_printf("mqtt://127.0.0.1:%d", ntohs(a.sin_port));
	o.url = url;
	b = bus_new(&o, NULL, &err);
	assert_non_null(b);
	assert_int_equal(bus_wait_connected(b, 2000, &err), -1);
	if (strstr(err->message, "not connected within 2000 ms") == NULL)
		print_error("got: %s\n", err->message);
	assert_non_null(strstr(err->message, "not connected within 2000 ms"));
	g_clear_error(&err);
	bus_free(b);
	close(cfd);
	close(lfd);
}

static void
test_bad_credentials(void **state)
{
	bus *b = client("t-bad", "alice", "wrong");
	GError *err = NULL;

	(void)state;
	assert_int_equal(bus_wait_connected(b, 5000, &err), -1);
	assert_non_null(err);
	if (strstr(err->message, "connection refused") == NULL)
		print_error("got: %s\n", err->message);
	assert_non_null(strstr(err->message, "connection refused"));
	assert_non_null(strstr(err->message, "127.0.0.1"));
	g_clear_error(&err);
	bus_free(b);
	/* and an unparsable url is refused at once */
	{
		bus_opts o = { .url = "http://x" };

		assert_null(bus_new(&o, NULL, &err));
		assert_non_null(strstr(err->message, "scheme"));
		g_clear_error(&err);
	}
}

static void
test_last_will(void **state)
{
	bus *w = client("t-watch", "alice", "wonder");
	GError *err = NULL;
	rx r = { 0 };
	pid_t pid;
	int st;

	(void)state;
	assert_int_equal(bus_wait_connected(w, 5000, &err), 0);
	assert_int_equal(bus_subscribe(w, "nube/v1/host/dying/online", on_msg, &r, &err), 0);
	spin(100);
	pid = fork();
	if (pid == 0) {
		g_autofree char *url = g_strdup_printf("mqtt://127.0.0.1:%d", port);
		bus_opts o = { .url = url, .username = "alice", .password = "wonder",
		    .client_id = "t-dying", .will_topic = "nube/v1/host/dying/online",
		    .will_payload = "0", .will_retain = true };
		bus *d = bus_new(&o, NULL, NULL);

		if (d == NULL || bus_wait_connected(d, 5000, NULL) < 0)
			_exit(2);
		bus_publish(d, "nube/v1/host/dying/online", "1", -1, 1, true, NULL);
		spin(200);
		_exit(0);	/* no DISCONNECT: the broker sends the will */
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(WEXITSTATUS(st), 0);
	for (int i = 0; i < 100 && !(r.payload != NULL && strcmp(r.payload, "0") == 0); i++) {
		r.got = false;
		wait_for(&r.got, 100);
	}
	assert_non_null(r.payload);
	assert_string_equal(r.payload, "0");
	bus_publish(w, "nube/v1/host/dying/online", "", 0, 1, true, NULL);
	spin(100);
	bus_free(w);
	g_free(r.topic);
	g_free(r.payload);
}

typedef struct {
	int up, down;
} conn_count;

static void
on_conn(bus *b, bool connected, void *ud)
{
	conn_count *c = ud;

	(void)b;
	if (connected)
		c->up++;
	else
		c->down++;
}

static void
test_reconnect(void **state)
{
	bus *a = client("t-re-a", "alice", "wonder"), *b = client("t-re-b", "alice", "wonder");
	GError *err = NULL;
	conn_count cc = { 0 };
	rx r = { 0 };
	bool again = false;
	gint64 t0;

	(void)state;
	bus_on_connect(b, on_conn, &cc);
	assert_int_equal(bus_wait_connected(a, 5000, &err), 0);
	assert_int_equal(bus_wait_connected(b, 5000, &err), 0);
	assert_int_equal(cc.up, 1);
	assert_int_equal(bus_subscribe(b, "nube/v1/events", on_msg, &r, &err), 0);
	broker_stop();
	t0 = g_get_monotonic_time();
	while (cc.down == 0 && g_get_monotonic_time() - t0 < 5 * G_USEC_PER_SEC)
		spin(20);
	assert_int_equal(cc.down, 1);
	assert_false(bus_is_connected(b));
	/* publishing while away fails cleanly */
	assert_int_equal(bus_publish(b, "nube/v1/events", "x", -1, 0, false, &err), -1);
	g_clear_error(&err);
	broker_start();
	t0 = g_get_monotonic_time();
	while ((cc.up < 2 || !bus_is_connected(a)) &&
	    g_get_monotonic_time() - t0 < 10 * G_USEC_PER_SEC)
		spin(20);
	assert_int_equal(cc.up, 2);
	assert_true(bus_is_connected(a));
	/* the subscription was renewed */
	spin(200);
	assert_int_equal(bus_publish(a, "nube/v1/events", "again", -1, 1, false, &err), 0);
	(void)again;
	assert_true(wait_for(&r.got, 3000));
	assert_string_equal(r.payload, "again");
	bus_free(a);
	bus_free(b);
	g_free(r.topic);
	g_free(r.payload);
}

static void
test_tls(void **state)
{
	g_autofree char *url = NULL, *ca = NULL, *other = NULL;
	bus_opts o = { .username = "alice", .password = "wonder", .client_id = "t-tls" };
	GError *err = NULL;
	rx r = { 0 };
	bus *b;

	(void)state;
	if (tls_port == 0)
		skip();		/* reported as skipped: openssl could not make certificates */
	url = g_strdup_printf("mqtts://127.0.0.1:%d", tls_port);
	ca = g_build_filename(tmpdir, "ca.crt", NULL);
	other = g_build_filename(tmpdir, "other.crt", NULL);
	o.url = url;
	o.cafile = ca;
	b = bus_new(&o, NULL, &err);
	assert_non_null(b);
	assert_int_equal(bus_wait_connected(b, 5000, &err), 0);
	assert_int_equal(bus_subscribe(b, "nube/v1/events", on_msg, &r, &err), 0);
	spin(200);
	assert_int_equal(bus_publish(b, "nube/v1/events", "over tls", -1, 1, false, &err), 0);
	assert_true(wait_for(&r.got, 3000));
	assert_string_equal(r.payload, "over tls");
	bus_free(b);
	/* a server certificate from another CA is refused */
	o.cafile = other;
	o.client_id = "t-tls-bad";
	b = bus_new(&o, NULL, &err);
	assert_non_null(b);
	assert_int_equal(bus_wait_connected(b, 3000, &err), -1);
	assert_non_null(err);
	g_clear_error(&err);
	bus_free(b);
	g_free(r.topic);
	g_free(r.payload);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_publish_subscribe),
		cmocka_unit_test(test_request_reply),
		cmocka_unit_test(test_handoff),
		cmocka_unit_test(test_reply_only_from_host_asked),
		cmocka_unit_test(test_max_packet_announced),
		cmocka_unit_test(test_slow_connect),
		cmocka_unit_test(test_bad_credentials),
		cmocka_unit_test(test_last_will),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_tls),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
