/* mape: nubed's live balancer — monitor hook, analyse, plan, admission, migration, drain */
#include "agent/mape.h"

#include <math.h>
#include <string.h>

#include "net/netdev.h"
#include "wire/deployment.h"
#include "wire/topic.h"

G_DEFINE_QUARK(nube-mape-error-quark, mape_error)
#define MAPE_ERROR mape_error_quark()

#define DRAIN_PASSES	4	/* rpc drain: passes without progress before giving up */

typedef struct {
	bool online;
	bool has_online;	/* an online message was seen */
	json_t *state;		/* last state (owned) or NULL */
} peer;

typedef struct {
	double at;		/* monotonic s */
	char *prev_host;
} moved_info;

/* outcome of one move */
enum { MOVE_OK, MOVE_REFUSED, MOVE_FAILED };

typedef struct {
	char *vm, *scenario, *dst;
	int status;
	char *why;
	int64_t duration_ms, downtime_ms;
} move_result;

typedef enum { JOB_PLAN, JOB_MIGRATE, JOB_DRAIN, JOB_LEAVE } job_kind;

typedef struct exec_job exec_job;

struct mape {
	nubed *n;
	balance_config bc;
	mape_conf mc;
	GMutex lock;		/* everything below */
	GCond cond;		/* running / state_seq changed */
	GHashTable *peers;	/* name -> peer* */
	balance_detector det;
	balance_penalty pen;
	balance_state state;
	bool alone_said;
	balance_reservations *res;
	GHashTable *moved;	/* domain -> moved_info* (VMs that arrived here) */
	GHashTable *busy;	/* domain -> "" : migrating now */
	int running;		/* migrations in flight */
	bool executing;		/* a plan, migrate, drain or leave job runs */
	bool leaving;		/* draining/evacuating: no admissions, no own plans */
	bool drained;		/* an operator drain finished: stays out of admissions */
	bool stopping;		/* mape_free called: jobs end early */
	bool reconciling;	/* the start-up net reconcile still tells the peers (uses m) */
	json_t *self_state;	/* last own sample (owned) */
	unsigned state_seq;
	unsigned n_ok, n_failed, n_refused;
};

struct exec_job {
	mape *m;
	job_kind kind;
	balance_plan *plan;	/* JOB_PLAN / JOB_MIGRATE: the moves */
	double scale;		/* of the view the plan was made in */
	bool force;		/* JOB_MIGRATE: destination admits above its threshold */
	bus_msg *reply_to;	/* rpc to answer at the end, may be NULL */
	void (*done)(void *ud);	/* JOB_LEAVE */
	void *done_ud;
	GPtrArray *results;	/* of move_result* (under m->lock) */
	unsigned start_seq;	/* JOB_DRAIN: m->state_seq when asked (a sample was requested) */
};

/* ------------------------------------------------------------------ small helpers */

static double
now_s(void)
{
	return (double)g_get_monotonic_time() / 1e6;
}

static double
jnum(const json_t *o, const char *key, double def)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : def;
}

static const char *
jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void
peer_free(gpointer p)
{
	peer *x = p;

	json_decref(x->state);
	g_free(x);
}

static void
moved_free(gpointer p)
{
	moved_info *x = p;

	g_free(x->prev_host);
	g_free(x);
}

static void
move_result_free(gpointer p)
{
	move_result *r = p;

	g_free(r->vm);
	g_free(r->scenario);
	g_free(r->dst);
	g_free(r->why);
	g_free(r);
}

/* "qemu+tcp://%s/system" with addr for the one %s (config_check guarantees exactly one) */
static char *
fill_template(const char *tmpl, const char *addr)
{
	const char *p = strstr(tmpl, "%s");

	if (p == NULL)
		return g_strdup(tmpl);
	return g_strdup_printf("%.*s%s%s", (int)(p - tmpl), tmpl, addr, p + 2);
}

/* ------------------------------------------------------------------ configuration */

static const char *const own_keys[] = { "max-migrations", "evacuate", "evacuate-timeout",
    "link-mbps", "rpc-timeout", "enabled", NULL };

static int
conf_double(GKeyFile *kf, const char *file, const char *key, const char *orig, double min,
    double max, double *out, GError **err)
{
	g_autofree char *v = g_key_file_get_string(kf, "balance", orig, NULL);
	char *end = NULL;
	double x;

	g_strstrip(v);
	x = g_ascii_strtod(v, &end);
	if (v[0] == '\0' || *end != '\0' || !(x >= min && x <= max)) {
		g_set_error(err, MAPE_ERROR, 1, "%s: [balance] %s: '%s' is not a number in %g..%g",
		    file, key, v, min, max);
		return -1;
	}
	*out = x;
	return 0;
}

static int
conf_bool(GKeyFile *kf, const char *file, const char *key, const char *orig, bool *out,
    GError **err)
{
	g_autofree char *v = g_key_file_get_string(kf, "balance", orig, NULL);

	g_strstrip(v);
	if (g_ascii_strcasecmp(v, "true") == 0 || g_ascii_strcasecmp(v, "yes") == 0 ||
	    strcmp(v, "1") == 0)
		*out = true;
	else if (g_ascii_strcasecmp(v, "false") == 0 || g_ascii_strcasecmp(v, "no") == 0 ||
	    strcmp(v, "0") == 0)
		*out = false;
	else {
		g_set_error(err, MAPE_ERROR, 1, "%s: [balance] %s: '%s' is not a boolean", file,
		    key, v);
		return -1;
	}
	return 0;
}

int
mape_conf_load(const char *path, balance_config *bc, mape_conf *mc, GError **err)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GKeyFile) core = g_key_file_new();
	g_auto(GStrv) keys = NULL;
	GError *e = NULL;
	const char *file = path != NULL ? path : "(defaults)";

	balance_config_defaults(bc);
	mc->max_migrations = 1;
	mc->evacuate = false;
	mc->evacuate_timeout = 600;
	mc->link_mbps = 1000;
	mc->rpc_timeout = 15;
	mc->enabled = true;
	if (path == NULL)
		return 0;
	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &e)) {
		g_set_error(err, MAPE_ERROR, 1, "%s: %s", path, e->message);
		g_error_free(e);
		return -1;
	}
	if (!g_key_file_has_group(kf, "balance"))
		return 0;
	keys = g_key_file_get_keys(kf, "balance", NULL, NULL);
	for (int i = 0; keys != NULL && keys[i] != NULL; i++) {
		g_autofree char *k = g_strdelimit(g_strdup(keys[i]), "_", '-');
		g_autofree char *v = g_key_file_get_string(kf, "balance", keys[i], NULL);
		double x = 0;
		int rc = 0;

		if (!g_strv_contains(own_keys, k)) {
			if (strcmp(k, "interval") != 0)	/* the [nubed] interval rules */
				g_key_file_set_string(core, "balance", k, v != NULL ? v : "");
			continue;
		}
		if (strcmp(k, "max-migrations") == 0) {
			rc = conf_double(kf, file, k, keys[i], 1, 16, &x, err);
			if (rc == 0 && x != floor(x)) {
				g_set_error(err, MAPE_ERROR, 1, "%s: [balance] %s: '%s' is not an "
				    "integer", file, k, v);
				rc = -1;
			}
			mc->max_migrations = (int)x;
		} else if (strcmp(k, "evacuate") == 0)
			rc = conf_bool(kf, file, k, keys[i], &mc->evacuate, err);
		else if (strcmp(k, "enabled") == 0)
			rc = conf_bool(kf, file, k, keys[i], &mc->enabled, err);
		else if (strcmp(k, "evacuate-timeout") == 0)
			rc = conf_double(kf, file, k, keys[i], 0, 86400, &mc->evacuate_timeout, err);
		else if (strcmp(k, "link-mbps") == 0)
			rc = conf_double(kf, file, k, keys[i], 0.001, 1e7, &mc->link_mbps, err);
		else if (strcmp(k, "rpc-timeout") == 0)
			rc = conf_double(kf, file, k, keys[i], 1, 3600, &mc->rpc_timeout, err);
		if (rc < 0)
			return -1;
	}
	if (balance_config_load_keyfile(core, "balance", bc, &e) < 0) {
		g_set_error(err, MAPE_ERROR, 1, "%s: [balance] %s", path, e->message);
		g_error_free(e);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ events */

typedef struct {
	nubed *n;
	json_t *ev;
} pub_call;

static gboolean
publish_main(gpointer p)
{
	pub_call *c = p;
	GError *err = NULL;

	if (c->n->bus == NULL || !bus_is_connected(c->n->bus) ||
	    bus_publish_json(c->n->bus, TOPIC_EVENTS, c->ev, 1, false, &err) < 0) {
		nubed_log(LOG_WARN, "event '%s' not published: %s", jstr(c->ev, "type"),
		    err != NULL ? err->message : "broker not connected");
		g_clear_error(&err);
	}
	json_decref(c->ev);
	g_free(c);
	return G_SOURCE_REMOVE;
}

/* mape_event: log and publish {ts, host, type, scenario, vm, msg, data}; data stolen (may be
 * NULL). Any thread. */
static void mape_event(mape *m, const char *type, const char *scen, const char *vm,
    json_t *data, const char *fmt, ...) G_GNUC_PRINTF(6, 7);
static void
mape_event(mape *m, const char *type, const char *scen, const char *vm, json_t *data,
    const char *fmt, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;
	pub_call *c = g_new0(pub_call, 1);

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	nubed_log(LOG_INFO, "event %s%s%s: %s", type, vm != NULL ? " " : "", vm != NULL ? vm : "",
	    msg);
	c->n = m->n;
	c->ev = json_pack("{s:I, s:s, s:s, s:s?, s:s?, s:s, s:o}",
	    "ts", (json_int_t)(g_get_real_time() / 1000), "host", m->n->cfg->host, "type", type,
	    "scenario", scen, "vm", vm, "msg", msg, "data", data != NULL ? data : json_object());
	g_main_context_invoke(NULL, publish_main, c);
}

/* ------------------------------------------------------------------ views for the core */

/* A set of balance_host built from state messages; strings borrowed from the held JSON. */
typedef struct {
	GPtrArray *keep;	/* json_t* held */
	GPtrArray *blocks;	/* g_free'd allocations */
	balance_host *hosts;	/* [0] = self */
	size_t n;
	double scale;		/* CPUs are counted in 1/scale units (fractional capacities) */
} view;

static void
view_clear(view *v)
{
	if (v->keep != NULL)
		g_ptr_array_unref(v->keep);
	if (v->blocks != NULL)
		g_ptr_array_unref(v->blocks);
	g_free(v->hosts);
	memset(v, 0, sizeof *v);
}

static void
jdecref(gpointer p)
{
	json_decref(p);
}

/* fresh: the state's timestamp is within three of its intervals (+3 s) of now */
static bool
state_fresh(const json_t *st)
{
	double ts = jnum(st, "ts", 0), iv = jnum(st, "interval", 10);
	double now = (double)(g_get_real_time() / 1000);

	return ts > 0 && now - ts <= 3 * iv * 1000 + 3000;
}

static double
capacity_of(const json_t *st)
{
	return jnum(st, "cpus", 0);
}

/* scenario_busy: a deploy, undeploy or net op of scen runs on this host now (its VMs are not
 * moved meanwhile) */
static bool
scenario_busy(mape *m, const char *scen)
{
	GMutex *mu = nubed_scenario_mutex(m->n, scen);

	if (!g_mutex_trylock(mu))
		return true;
	g_mutex_unlock(mu);
	return false;
}

/* fill h from state st (under m->lock); self: pin VMs migrating now and add cooldown data */
static void
host_fill(mape *m, view *v, balance_host *h, json_t *st, bool self)
{
	const json_t *vms = json_object_get(st, "vms"), *jv;
	const json_t *bal = json_object_get(st, "balance");
	balance_vm *arr;
	size_t i, k = 0;

	json_incref(st);
	g_ptr_array_add(v->keep, st);
	h->name = jstr(st, "host");
	h->cpus = MAX(1, (int)lround(capacity_of(st) * v->scale));
	h->mem_total = jnum(st, "mem_total_mib", 0);
	h->mem_used = jnum(st, "mem_used_mib", 0);
	h->mem_promised = jnum(st, "mem_promised_mib", 0);
	h->mem_reserve = jnum(st, "mem_reserve_mib", 0);
	h->load = jnum(st, "load", 0);
	if (!self)	/* what the peer already promised to incoming VMs */
		h->load += jnum(bal, "reserved_load", 0);
	h->active = (int)jnum(st, "active", 0);
	h->inactive = (int)jnum(st, "inactive", 0);
	h->online = true;
	arr = g_new0(balance_vm, MAX(json_array_size(vms), 1));
	g_ptr_array_add(v->blocks, arr);
	json_array_foreach(vms, i, jv) {
		balance_vm *x = &arr[k];
		const json_t *nets = json_object_get(jv, "nets"), *jn;
		const char **na;
		size_t q;

		if (!json_is_true(json_object_get(jv, "active")) || jstr(jv, "domain") == NULL)
			continue;
		x->name = jstr(jv, "domain");
		x->scenario = jstr(jv, "scenario");
		na = g_new0(const char *, json_array_size(nets) + 1);
		g_ptr_array_add(v->blocks, na);
		json_array_foreach(nets, q, jn)
			if (json_is_string(jn))
				na[x->n_nets++] = json_string_value(jn);
		x->nets = na;
		x->cpu = jnum(jv, "cpu", 0) * v->scale;
		x->load_generated = jnum(jv, "load", -1);
		x->mem = jnum(jv, "mem_mib", 0);
		x->up = MIN(1.0, jnum(jv, "tx_bps", 0) / (m->mc.link_mbps * 1e6));
		x->down = MIN(1.0, jnum(jv, "rx_bps", 0) / (m->mc.link_mbps * 1e6));
		x->last_moved = BALANCE_NEVER;
		if (self) {
			const moved_info *mi = g_hash_table_lookup(m->moved, x->name);

			if (mi != NULL) {
				x->last_moved = mi->at;
				x->prev_host = mi->prev_host;
			}
			x->pinned = g_hash_table_contains(m->busy, x->name) || x->scenario == NULL ||
			    scenario_busy(m, x->scenario);
		}
		k++;
	}
	h->vms = arr;
	h->n_vms = k;
}

/* peer_usable: online, with a fresh state, not leaving */
static bool
peer_usable(const peer *p)
{
	const json_t *bal = json_object_get(p->state, "balance");

	return p->state != NULL && (p->online || !p->has_online) && state_fresh(p->state) &&
	    !json_is_true(json_object_get(bal, "leaving"));
}

/* view_build: self (from m->self_state) + usable peers; under m->lock. false when there is
 * no own sample yet. */
static bool
view_build(mape *m, view *v, bool with_peers)
{
	GHashTableIter it;
	gpointer key, val;
	GPtrArray *sts = g_ptr_array_new();
	bool frac = false;

	memset(v, 0, sizeof *v);
	if (m->self_state == NULL) {
		g_ptr_array_unref(sts);
		return false;
	}
	g_ptr_array_add(sts, m->self_state);
	if (with_peers) {
		g_hash_table_iter_init(&it, m->peers);
		while (g_hash_table_iter_next(&it, &key, &val))
			if (strcmp(key, m->n->cfg->host) != 0 && peer_usable(val))
				g_ptr_array_add(sts, ((peer *)val)->state);
	}
	for (guint i = 0; i < sts->len; i++) {
		double c = capacity_of(sts->pdata[i]);

		if (fabs(c - round(c)) > 0.005 || c < 1)
			frac = true;
	}
	v->scale = frac ? 100 : 1;
	v->keep = g_ptr_array_new_with_free_func(jdecref);
	v->blocks = g_ptr_array_new_with_free_func(g_free);
	v->hosts = g_new0(balance_host, sts->len);
	v->n = sts->len;
	for (guint i = 0; i < sts->len; i++)
		host_fill(m, v, &v->hosts[i], sts->pdata[i], i == 0);
	g_ptr_array_unref(sts);
	return true;
}

/* ------------------------------------------------------------------ rpc from workers */

typedef struct {
	mape *m;
	char *topic;
	json_t *req;
	int timeout_ms;
	GMutex mu;
	GCond cond;
	bool done;
	json_t *reply;
	char *error;
	gint refs;
} scall;

static void
scall_unref(scall *c)
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
scall_finish(scall *c, json_t *reply, const char *error)
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
scall_reply(bus *b, json_t *reply, bool final, const char *err_msg, void *ud)
{
	scall *c = ud;

	(void)b;
	if (!final)
		return;
	scall_finish(c, reply, reply == NULL ? (err_msg != NULL ? err_msg : "no answer") : NULL);
	scall_unref(c);
}

static gboolean
scall_main(gpointer p)
{
	scall *c = p;
	GError *err = NULL;

	if (c->m->n->bus == NULL || bus_request(c->m->n->bus, c->topic, c->req, c->timeout_ms,
	    scall_reply, c, &err) < 0) {
		scall_finish(c, NULL, err != NULL ? err->message : "no broker connection");
		g_clear_error(&err);
		scall_unref(c);
	}
	return G_SOURCE_REMOVE;
}

/* call: send req (stolen) to host's rpc topic and wait for the final reply (worker threads
 * only). Returns the reply (json_decref) when it says "ok": true; NULL + *why (g_free)
 * otherwise: the reply's error, a timeout or a lost connection. */
static json_t *
call(mape *m, const char *host, json_t *req, char **why)
{
	scall *c = g_new0(scall, 1);
	g_autofree char *leaf = g_strdup_printf("rpc/%s", m->n->cfg->host);
	gint64 end;
	json_t *r = NULL;

	c->m = m;
	c->topic = topic_host(host, leaf);
	c->req = req;
	c->timeout_ms = (int)(m->mc.rpc_timeout * 1000);
	g_mutex_init(&c->mu);
	g_cond_init(&c->cond);
	c->refs = 2;
	g_main_context_invoke(NULL, scall_main, c);
	/* the bus always ends a request (reply, silence timeout, disconnect); the extra bound
	 * only protects against a request that never left */
	end = g_get_monotonic_time() + (gint64)(m->mc.rpc_timeout * 4 + 30) * G_USEC_PER_SEC;
	g_mutex_lock(&c->mu);
	while (!c->done)
		if (!g_cond_wait_until(&c->cond, &c->mu, end))
			break;
	if (!c->done)
		*why = g_strdup_printf("'%s' did not answer", host);
	else if (c->reply != NULL && json_is_true(json_object_get(c->reply, "ok")))
		r = json_incref(c->reply);
	else if (c->reply != NULL)
		*why = g_strdup(jstr(c->reply, "error") != NULL ? jstr(c->reply, "error") :
		    "refused without a reason");
	else
		*why = g_strdup_printf("%s: %s", host, c->error);
	g_mutex_unlock(&c->mu);
	scall_unref(c);
	return r;
}

/* ------------------------------------------------------------------ replies to rpcs */

typedef struct {
	nubed *n;
	bus_msg *msg;
	json_t *body;
	bool final;
} reply_call;

static gboolean
reply_main(gpointer p)
{
	reply_call *r = p;
	GError *err = NULL;

	if (r->n->bus != NULL && bus_reply(r->n->bus, r->msg, r->body, r->final, &err) < 0) {
		nubed_log(LOG_WARN, "reply lost: %s", err->message);
		g_error_free(err);
	}
	bus_msg_free(r->msg);
	json_decref(r->body);
	g_free(r);
	return G_SOURCE_REMOVE;
}

/* reply: answer msg (may be NULL: nothing) with body (stolen); "host" added. Any thread. */
static void
reply(mape *m, const bus_msg *msg, json_t *body, bool final)
{
	reply_call *r;

	if (msg == NULL) {
		json_decref(body);
		return;
	}
	json_object_set_new(body, "host", json_string(m->n->cfg->host));
	r = g_new0(reply_call, 1);
	r->n = m->n;
	r->msg = bus_msg_copy(msg);
	r->body = body;
	r->final = final;
	g_main_context_invoke(NULL, reply_main, r);
}

static void
reply_error(mape *m, const bus_msg *msg, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void
reply_error(mape *m, const bus_msg *msg, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *s = NULL;

	va_start(ap, fmt);
	s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	reply(m, msg, json_pack("{s:b, s:s}", "ok", 0, "error", s), true);
}

static void
progress(mape *m, const bus_msg *msg, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void
progress(mape *m, const bus_msg *msg, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *s = NULL;

	if (msg == NULL)
		return;
	va_start(ap, fmt);
	s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	reply(m, msg, json_pack("{s:s}", "progress", s), false);
}

/* ------------------------------------------------------------------ networks of a move */

/* One scenario net of the migrating VM: the hosts carrying it (names + fabric addresses). */
typedef struct {
	char *net;
	uint32_t vni;
	GPtrArray *hosts, *addrs;	/* of char* */
} net_set;

static void
net_set_free(gpointer p)
{
	net_set *s = p;

	g_free(s->net);
	g_ptr_array_unref(s->hosts);
	g_ptr_array_unref(s->addrs);
	g_free(s);
}

static int
str_index(const GPtrArray *a, const char *s)
{
	for (guint i = 0; i < a->len; i++)
		if (g_strcmp0(a->pdata[i], s) == 0)
			return (int)i;
	return -1;
}

/* host name of a fabric address from the peers' states (under m->lock); NULL if unknown */
static const char *
host_of_addr(mape *m, const char *addr)
{
	GHashTableIter it;
	gpointer key, val;

	g_hash_table_iter_init(&it, m->peers);
	while (g_hash_table_iter_next(&it, &key, &val)) {
		const peer *p = val;

		if (g_strcmp0(jstr(p->state, "fabric_addr"), addr) == 0)
			return key;
	}
	return NULL;
}

/* a VNI for a net that lived on one host only (vni 0) and now spans two: FNV-1a of
 * "scenario/net" in the configured range, avoiding VNIs this host already uses. Every host
 * computes the same value; the store's allocator never sees it (documented limitation). */
static uint32_t
derive_vni(mape *m, const char *scen, const char *net, const GPtrArray *local)
{
	uint32_t h = 2166136261u, lo = m->n->cfg->vni_min, hi = m->n->cfg->vni_max, span, vni;
	g_autofree char *key = g_strdup_printf("%s/%s/migrated", scen, net);

	for (const char *p = key; *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= 16777619u;
	}
	span = hi - lo + 1;
	vni = lo + h % span;
	for (uint32_t tries = 0; tries < 1000; tries++) {
		bool used = false;

		for (guint i = 0; local != NULL && i < local->len; i++)
			if (((netdev_info *)local->pdata[i])->vni == vni)
				used = true;
		if (!used)
			break;
		vni = vni == hi ? lo : vni + 1;
	}
	return vni;
}

/* nets_of: the carriers of every net of VM info on this host, from the kernel (vni, FDB
 * remotes) and the peers' addresses. NULL + *why when netlink fails. */
static GPtrArray *
nets_of(mape *m, const virt_dom_info *info, char **why)
{
	GError *err = NULL;
	netdev *nd = netdev_open(&err);
	g_autoptr(GPtrArray) local = NULL;
	GPtrArray *out;

	if (nd == NULL || (local = netdev_list(nd, &err)) == NULL) {
		*why = g_strdup_printf("netlink: %s", err->message);
		g_error_free(err);
		netdev_close(nd);
		return NULL;
	}
	netdev_close(nd);
	out = g_ptr_array_new_with_free_func(net_set_free);
	for (guint i = 0; info->nets != NULL && i < info->nets->len; i++) {
		const char *net = info->nets->pdata[i];
		net_set *s = g_new0(net_set, 1);

		s->net = g_strdup(net);
		s->hosts = g_ptr_array_new_with_free_func(g_free);
		s->addrs = g_ptr_array_new_with_free_func(g_free);
		g_ptr_array_add(s->hosts, g_strdup(m->n->cfg->host));
		g_ptr_array_add(s->addrs, g_strdup(m->n->cfg->fabric_addr));
		for (guint k = 0; k < local->len; k++) {
			const netdev_info *ni = local->pdata[k];

			if (g_strcmp0(ni->scenario, info->scenario) != 0 ||
			    g_strcmp0(ni->net, net) != 0)
				continue;
			s->vni = ni->vni;
			g_mutex_lock(&m->lock);
			for (guint r = 0; ni->remotes != NULL && r < ni->remotes->len; r++) {
				const char *addr = ni->remotes->pdata[r];
				const char *h = host_of_addr(m, addr);

				if (str_index(s->addrs, addr) >= 0)
					continue;
				g_ptr_array_add(s->hosts, g_strdup(h != NULL ? h : addr));
				g_ptr_array_add(s->addrs, g_strdup(addr));
			}
			g_mutex_unlock(&m->lock);
		}
		g_ptr_array_add(out, s);
	}
	/* derive VNIs now, while the local list is at hand (only used when the set grows) */
	for (guint i = 0; i < out->len; i++) {
		net_set *s = out->pdata[i];

		if (s->vni == 0)
			s->vni = derive_vni(m, info->scenario, s->net, local) | 0x80000000u;
	}
	return out;
}

/* the VNI to use for a set of nhosts hosts: 0 for a one-host net that never had one */
static uint32_t
set_vni(const net_set *s, guint nhosts)
{
	if (s->vni & 0x80000000u)	/* derived: only when the net spans hosts */
		return nhosts > 1 ? s->vni & 0xffffffu : 0;
	return s->vni;
}

/* net_ensure_all: send net-ensure (hosts/addrs) for net to every host of the list */
static int
net_ensure_all(mape *m, const char *scen, const net_set *s, const GPtrArray *hosts,
    const GPtrArray *addrs, char **why)
{
	uint32_t vni = set_vni(s, hosts->len);

	for (guint i = 0; i < hosts->len; i++) {
		json_t *req = json_pack("{s:s, s:s, s:s, s:I, s:[], s:[]}", "op", "net-ensure",
		    "scenario", scen, "net", s->net, "vni", (json_int_t)vni, "hosts", "addrs");
		char *e = NULL;
		json_t *r;

		for (guint k = 0; k < hosts->len; k++) {
			json_array_append_new(json_object_get(req, "hosts"),
			    json_string(hosts->pdata[k]));
			json_array_append_new(json_object_get(req, "addrs"),
			    json_string(addrs->pdata[k]));
		}
		r = call(m, hosts->pdata[i], req, &e);
		if (r == NULL) {
			*why = g_strdup_printf("net '%s' on %s: %s", s->net,
			    (char *)hosts->pdata[i], e);
			g_free(e);
			return -1;
		}
		json_decref(r);
	}
	return 0;
}

static int
net_remove_on(mape *m, const char *host, const char *scen, const char *net, char **why)
{
	json_t *r = call(m, host, json_pack("{s:s, s:s, s:s}", "op", "net-remove", "scenario",
	    scen, "net", net), why);

	json_decref(r);
	return r != NULL ? 0 : -1;
}

/* ------------------------------------------------------------------ one migration */

typedef struct {
	exec_job *job;
	balance_move *mv;	/* borrowed from the job's plan */
	move_result *res;
} move_task;

/* find_dom: the running domain named dom in list, or NULL */
static const virt_dom_info *
find_dom(GPtrArray *list, const char *dom)
{
	for (guint i = 0; list != NULL && i < list->len; i++) {
		const virt_dom_info *d = list->pdata[i];

		if (strcmp(d->domain, dom) == 0)
			return d;
	}
	return NULL;
}

/* release: tell dst the migration of dom ended (ok or not) */
static void
release_at(mape *m, const char *dst, const char *dom, bool ok)
{
	char *e = NULL;
	json_t *r = call(m, dst, json_pack("{s:s, s:s, s:b}", "op", "release", "vm", dom, "ok",
	    ok), &e);

	if (r == NULL) {
		nubed_log(LOG_WARN, "release of '%s' at %s: %s", dom, dst, e);
		g_free(e);
	}
	json_decref(r);
}

/* move_run: admission, networks, live migration, cleanup for one move. Fills t->res. */
static void
move_run(mape *m, move_task *t)
{
	const balance_move *mv = t->mv;
	exec_job *job = t->job;
	move_result *res = t->res;
	g_autofree char *addr = NULL, *dest_uri = NULL, *mig_uri = NULL, *e = NULL;
	g_autoptr(GPtrArray) list = NULL, nets = NULL, after = NULL;
	const virt_dom_info *info;
	virt_migrate_stats stats = { 0 };
	GError *err = NULL;
	virt *v = NULL;
	json_t *r;
	peer *p;

	res->status = MOVE_FAILED;
	g_mutex_lock(&m->lock);
	p = g_hash_table_lookup(m->peers, mv->dst);
	if (p != NULL && jstr(p->state, "fabric_addr") != NULL)
		addr = g_strdup(jstr(p->state, "fabric_addr"));
	g_mutex_unlock(&m->lock);
	if (addr == NULL) {
		res->status = MOVE_REFUSED;
		res->why = g_strdup_printf("no fabric address known for %s", mv->dst);
		return;
	}
	v = nubed_virt_open(m->n, &err);
	if (v == NULL || (list = virt_list(v, &err)) == NULL) {
		res->why = g_strdup_printf("libvirt: %s", err->message);
		goto out;
	}
	info = find_dom(list, mv->vm);
	if (info == NULL || !info->active) {
		res->status = MOVE_REFUSED;
		res->why = g_strdup_printf("'%s' is not running here any more", mv->vm);
		goto out;
	}
	g_free(res->scenario);
	res->scenario = g_strdup(info->scenario);

	/* 1. admission at the destination */
	r = call(m, mv->dst, json_pack("{s:s, s:s, s:s?, s:f, s:f, s:f, s:b}", "op", "admit",
	    "vm", mv->vm, "scenario", info->scenario, "cpu", mv->cpu / job->scale,
	    "load_generated", mv->load_generated, "mem", mv->mem, "force", job->force), &e);
	if (r == NULL || !json_is_true(json_object_get(r, "admitted"))) {
		res->status = MOVE_REFUSED;
		res->why = g_strdup_printf("%s refused: %s", mv->dst, r != NULL ?
		    (jstr(r, "reason") != NULL ? jstr(r, "reason") : "no reason") : e);
		json_decref(r);
		if (r == NULL)	/* no answer: the destination's own refuse event is missing */
			mape_event(m, "refuse", info->scenario, mv->vm, json_pack("{s:s, s:s, s:s}",
			    "src", m->n->cfg->host, "dst", mv->dst, "reason", e),
			    "%s did not admit '%s': %s", mv->dst, mv->vm, e);
		goto out;
	}
	json_decref(r);

	/* 2. the VM's nets on the destination (and the destination in every carrier's FDB) */
	nets = nets_of(m, info, &res->why);
	if (nets == NULL) {
		mape_event(m, "migrate-failed", info->scenario, mv->vm, json_pack("{s:s, s:s, s:s}",
		    "src", m->n->cfg->host, "dst", mv->dst, "error", res->why),
		    "'%s' not moved to %s: %s", mv->vm, mv->dst, res->why);
		release_at(m, mv->dst, mv->vm, false);
		goto out;
	}
	for (guint i = 0; i < nets->len; i++) {
		net_set *s = nets->pdata[i];
		g_autoptr(GPtrArray) h2 = g_ptr_array_new_with_free_func(g_free);
		g_autoptr(GPtrArray) a2 = g_ptr_array_new_with_free_func(g_free);

		for (guint k = 0; k < s->hosts->len; k++) {
			g_ptr_array_add(h2, g_strdup(s->hosts->pdata[k]));
			g_ptr_array_add(a2, g_strdup(s->addrs->pdata[k]));
		}
		if (str_index(h2, mv->dst) < 0) {
			g_ptr_array_add(h2, g_strdup(mv->dst));
			g_ptr_array_add(a2, g_strdup(addr));
		}
		if (net_ensure_all(m, info->scenario, s, h2, a2, &res->why) < 0) {
			mape_event(m, "migrate-failed", info->scenario, mv->vm, json_pack("{s:s, s:s,"
			    " s:s}", "src", m->n->cfg->host, "dst", mv->dst, "error", res->why),
			    "'%s' not moved to %s: preparing its nets failed: %s", mv->vm, mv->dst,
			    res->why);
			release_at(m, mv->dst, mv->vm, false);
			goto out;
		}
	}

	/* 3. live migration */
	g_mutex_lock(&m->lock);
	g_hash_table_add(m->busy, g_strdup(mv->vm));
	g_mutex_unlock(&m->lock);
	mape_event(m, "migrate-start", info->scenario, mv->vm, json_pack("{s:s, s:s, s:s?}",
	    "src", m->n->cfg->host, "dst", mv->dst, "why", mv->why),
	    "migrating '%s' to %s: %s", mv->vm, mv->dst, mv->why != NULL ? mv->why : "");
	dest_uri = fill_template(m->n->cfg->migrate_uri_template, addr);
	mig_uri = g_strdup_printf("tcp://%s", addr);
	if (virt_migrate(v, mv->vm, dest_uri, mig_uri, &stats, &err) < 0) {
		res->why = g_strdup_printf("migration failed: %s", err->message);
		g_mutex_lock(&m->lock);
		g_hash_table_remove(m->busy, mv->vm);
		g_mutex_unlock(&m->lock);
		mape_event(m, "migrate-failed", info->scenario, mv->vm, json_pack("{s:s, s:s, s:s}",
		    "src", m->n->cfg->host, "dst", mv->dst, "error", err->message),
		    "'%s' to %s failed, it keeps running here: %s", mv->vm, mv->dst, err->message);
		release_at(m, mv->dst, mv->vm, false);
		/* undo the network change: the old carrier lists, no net left on dst */
		for (guint i = 0; i < nets->len; i++) {
			net_set *s = nets->pdata[i];
			char *e2 = NULL;

			if (str_index(s->hosts, mv->dst) >= 0)
				continue;
			if (net_ensure_all(m, info->scenario, s, s->hosts, s->addrs, &e2) < 0 ||
			    net_remove_on(m, mv->dst, info->scenario, s->net, &e2) < 0)
				nubed_log(LOG_WARN, "undo nets of '%s': %s", mv->vm, e2);
			g_free(e2);
		}
		goto out;
	}
	g_mutex_lock(&m->lock);
	g_hash_table_remove(m->busy, mv->vm);
	g_hash_table_remove(m->moved, mv->vm);
	g_mutex_unlock(&m->lock);
	res->status = MOVE_OK;
	res->duration_ms = stats.duration_ms;
	res->downtime_ms = stats.downtime_ms;
	mape_event(m, "migrated", info->scenario, mv->vm, json_pack("{s:s, s:s, s:I, s:I, s:I, "
	    "s:f, s:f, s:f, s:f, s:s?}", "src", m->n->cfg->host, "dst", mv->dst, "duration_ms",
	    (json_int_t)stats.duration_ms, "downtime_ms", (json_int_t)stats.downtime_ms,
	    "data_bytes", (json_int_t)stats.data_bytes, "src_load_after", mv->src_load_after,
	    "dst_load_after", mv->dst_load_after, "src_load_before", mv->src_load_before,
	    "dst_load_before", mv->dst_load_before, "why", mv->why),
	    "'%s' moved to %s in %lld ms (downtime %lld ms)", mv->vm, mv->dst,
	    (long long)stats.duration_ms, (long long)stats.downtime_ms);
	release_at(m, mv->dst, mv->vm, true);

	/* 4. nets no VM here needs any more: drop here, and from the others' FDB */
	after = virt_list(v, &err);
	for (guint i = 0; after != NULL && i < nets->len; i++) {
		net_set *s = nets->pdata[i];
		g_autoptr(GPtrArray) h3 = g_ptr_array_new_with_free_func(g_free);
		g_autoptr(GPtrArray) a3 = g_ptr_array_new_with_free_func(g_free);
		bool used = false;
		char *e3 = NULL;

		for (guint k = 0; k < after->len; k++) {
			const virt_dom_info *d = after->pdata[k];

			if (g_strcmp0(d->scenario, info->scenario) == 0 && d->nets != NULL &&
			    str_index(d->nets, s->net) >= 0)
				used = true;
		}
		if (used)
			continue;
		for (guint k = 0; k < s->hosts->len; k++)
			if (strcmp(s->hosts->pdata[k], m->n->cfg->host) != 0) {
				g_ptr_array_add(h3, g_strdup(s->hosts->pdata[k]));
				g_ptr_array_add(a3, g_strdup(s->addrs->pdata[k]));
			}
		if (str_index(h3, mv->dst) < 0) {
			g_ptr_array_add(h3, g_strdup(mv->dst));
			g_ptr_array_add(a3, g_strdup(addr));
		}
		if (net_remove_on(m, m->n->cfg->host, info->scenario, s->net, &e3) < 0 ||
		    net_ensure_all(m, info->scenario, s, h3, a3, &e3) < 0)
			nubed_log(LOG_WARN, "cleanup of net '%s': %s", s->net, e3);
		else
			mape_event(m, "net-cleanup", info->scenario, NULL, json_pack("{s:s, s:i}",
			    "net", s->net, "hosts", (int)h3->len),
			    "net '%s' left this host; %u host(s) carry it now", s->net, h3->len);
		g_free(e3);
	}
out:
	g_clear_error(&err);
	virt_close(v);
}

static gpointer
move_thread(gpointer p)
{
	move_task *t = p;
	mape *m = t->job->m;

	move_run(m, t);
	if (t->res->status != MOVE_OK)
		nubed_log(LOG_WARN, "'%s' not moved to %s: %s", t->res->vm, t->res->dst,
		    t->res->why != NULL ? t->res->why : "?");
	g_mutex_lock(&m->lock);
	if (t->res->status == MOVE_OK)
		m->n_ok++;
	else if (t->res->status == MOVE_REFUSED)
		m->n_refused++;
	else
		m->n_failed++;
	m->running--;
	g_cond_broadcast(&m->cond);
	g_mutex_unlock(&m->lock);
	g_free(t);
	return NULL;
}

/* run_moves: execute the moves of plan with at most max_migrations at once; results appended
 * to job->results. Returns how many succeeded. */
static int
run_moves(exec_job *job, const balance_plan *plan)
{
	mape *m = job->m;
	GPtrArray *threads = g_ptr_array_new();
	guint first = job->results->len;
	int ok = 0;

	for (guint i = 0; i < plan->moves->len; i++) {
		balance_move *mv = plan->moves->pdata[i];
		move_task *t = g_new0(move_task, 1);

		t->job = job;
		t->mv = mv;
		t->res = g_new0(move_result, 1);
		t->res->vm = g_strdup(mv->vm);
		t->res->scenario = g_strdup(mv->scenario);
		t->res->dst = g_strdup(mv->dst);
		g_mutex_lock(&m->lock);
		g_ptr_array_add(job->results, t->res);
		while (m->running >= m->mc.max_migrations)
			g_cond_wait(&m->cond, &m->lock);
		m->running++;
		g_mutex_unlock(&m->lock);
		progress(m, job->reply_to, "moving '%s' to %s", mv->vm, mv->dst);
		g_ptr_array_add(threads, g_thread_new("migrate", move_thread, t));
	}
	for (guint i = 0; i < threads->len; i++)
		g_thread_join(threads->pdata[i]);
	g_ptr_array_unref(threads);
	for (guint i = first; i < job->results->len; i++) {
		const move_result *r = job->results->pdata[i];

		if (r->status == MOVE_OK) {
			ok++;
			progress(m, job->reply_to, "'%s' moved to %s in %lld ms (downtime %lld ms)",
			    r->vm, r->dst, (long long)r->duration_ms, (long long)r->downtime_ms);
		} else
			progress(m, job->reply_to, "'%s' not moved: %s", r->vm, r->why);
	}
	return ok;
}

static json_t *
results_json(const exec_job *job)
{
	json_t *a = json_array();

	for (guint i = 0; i < job->results->len; i++) {
		const move_result *r = job->results->pdata[i];

		json_array_append_new(a, json_pack("{s:s, s:s?, s:s, s:s, s:s?, s:I, s:I}", "vm",
		    r->vm, "scenario", r->scenario, "dst", r->dst, "status",
		    r->status == MOVE_OK ? "moved" : r->status == MOVE_REFUSED ? "refused" :
		    "failed", "why", r->why, "duration_ms", (json_int_t)r->duration_ms,
		    "downtime_ms", (json_int_t)r->downtime_ms));
	}
	return a;
}

/* ------------------------------------------------------------------ jobs */

static void
job_free(exec_job *job)
{
	balance_plan_free(job->plan);
	bus_msg_free(job->reply_to);
	g_ptr_array_unref(job->results);
	g_free(job);
}

static void
penalise(mape *m, const char *why)
{
	double now = now_s();

	balance_penalty_fail(&m->pen, &m->bc, now);
	mape_event(m, "penalty", NULL, NULL, json_pack("{s:f, s:i, s:f, s:f, s:s}", "seconds",
	    m->pen.until - now, "failures", m->pen.failures, "base", m->bc.penalty, "step",
	    m->bc.penalty_step, "why", why),
	    "no balancing for %.0f s (failure %d in a row): %s", m->pen.until - now,
	    m->pen.failures, why);
}

/* job_plan: execute an overload plan, then clear or set the penalty */
static void
job_plan(exec_job *job)
{
	mape *m = job->m;
	int ok = run_moves(job, job->plan);
	guint n = job->plan->moves->len;

	g_mutex_lock(&m->lock);
	m->det.count = 0;	/* the next decision waits for alarm_count fresh samples */
	m->det.mem_count = 0;
	if (job->kind == JOB_PLAN) {
		if ((guint)ok == n && job->plan->solved)
			balance_penalty_clear(&m->pen);
		else {
			g_autofree char *why = g_strdup_printf("%d of %u move(s) done%s", ok, n,
			    job->plan->solved ? "" : ", the plan itself did not reach the target");
			penalise(m, why);
		}
	}
	g_mutex_unlock(&m->lock);
	if (job->reply_to != NULL) {
		json_t *body = json_pack("{s:b, s:o}", "ok", (guint)ok == n, "moves",
		    results_json(job));

		if ((guint)ok != n)
			json_object_set_new(body, "error", json_sprintf("%d of %u move(s) done", ok,
			    n));
		reply(m, job->reply_to, body, true);
	}
}

/* self_vms: number of running VMs in the last own sample (under lock) */
static int
self_vms(mape *m)
{
	const json_t *vms = json_object_get(m->self_state, "vms"), *jv;
	size_t i;
	int k = 0;

	json_array_foreach(vms, i, jv)
		if (json_is_true(json_object_get(jv, "active")))
			k++;
	return k;
}

/* wait_samples: wait until k new own samples arrived (or stopping); false when stopping */
static bool
wait_samples(mape *m, unsigned k)
{
	unsigned target;
	gint64 end = g_get_monotonic_time() + (gint64)(k * 3 + 10) * (gint64)m->n->cfg->interval_s *
	    G_USEC_PER_SEC;

	g_mutex_lock(&m->lock);
	target = m->state_seq + k;
	while (m->state_seq < target && !m->stopping)
		if (!g_cond_wait_until(&m->cond, &m->lock, end))
			break;
	g_mutex_unlock(&m->lock);
	return !m->stopping;
}

/* wait_sample_after: wait until an own sample newer than seq arrived (or stopping) */
static bool
wait_sample_after(mape *m, unsigned seq)
{
	gint64 end = g_get_monotonic_time() + 13 * (gint64)m->n->cfg->interval_s * G_USEC_PER_SEC;

	g_mutex_lock(&m->lock);
	while (m->state_seq <= seq && !m->stopping)
		if (!g_cond_wait_until(&m->cond, &m->lock, end))
			break;
	g_mutex_unlock(&m->lock);
	return !m->stopping;
}

/* running_here: nube domains running on this host now, from libvirt itself (-1 when libvirt
 * cannot tell): the end of a drain needs no telemetry round */
static int
running_here(mape *m)
{
	GError *err = NULL;
	virt *v = nubed_virt_open(m->n, &err);
	g_autoptr(GPtrArray) list = v != NULL ? virt_list(v, &err) : NULL;
	int k = 0;

	if (list == NULL) {
		nubed_log(LOG_WARN, "drain: libvirt: %s", err != NULL ? err->message : "?");
		g_clear_error(&err);
		virt_close(v);
		return -1;
	}
	for (guint i = 0; i < list->len; i++)
		if (((const virt_dom_info *)list->pdata[i])->active)
			k++;
	virt_close(v);
	return k;
}

/* job_drain: move every VM away (operator drain or leave); reply/done at the end */
static void
job_drain(exec_job *job)
{
	mape *m = job->m;
	bool leave = job->kind == JOB_LEAVE;
	double deadline = leave && m->mc.evacuate_timeout > 0 ? now_s() + m->mc.evacuate_timeout :
	    leave ? INFINITY : now_s() + 3600;
	int idle = 0, left = -1, pass = 0;
	g_autofree char *why = NULL;

	mape_event(m, "drain-start", NULL, NULL, json_pack("{s:b}", "leave", leave),
	    "%s: moving every VM away", leave ? "agent leaving" : "drain");
	while (!m->stopping && now_s() < deadline) {
		view v;
		balance_plan *plan;
		int ok;

		/* pass 0: the sample op_drain asked for (or a later one); then wait for two, the
		 * first of which may have been taken before the last moves ended */
		if (pass == 0 && job->kind == JOB_DRAIN ? !wait_sample_after(m, job->start_seq) :
		    !wait_samples(m, pass == 0 ? 1 : 2))
			break;
		pass++;
		g_mutex_lock(&m->lock);
		left = m->self_state != NULL ? self_vms(m) : -1;
		if (left == 0 || !view_build(m, &v, true)) {
			g_mutex_unlock(&m->lock);
			if (left == 0)
				break;
			continue;
		}
		plan = balance_drain(m->bc.policy == BALANCE_POLICY_NONE ? BALANCE_POLICY_NUBE :
		    m->bc.policy, &m->bc, &v.hosts[0], v.hosts + 1, v.n - 1, now_s());
		job->scale = v.scale;
		g_mutex_unlock(&m->lock);
		{
			g_autofree char *txt = balance_plan_format(plan);

			mape_event(m, "plan", NULL, NULL, balance_plan_to_json(plan), "drain pass %d: "
			    "%u move(s), %u VM(s) without a place\n%s", pass, plan->moves->len,
			    plan->unplaced->len, txt);
		}
		g_free(why);
		why = NULL;
		if (plan->unplaced->len > 0) {
			GString *s = g_string_new(NULL);

			for (guint i = 0; i < plan->unplaced->len; i++) {
				const balance_unplaced *u = plan->unplaced->pdata[i];

				g_string_append_printf(s, "%s%s: %s", i > 0 ? "; " : "", u->vm,
				    u->reason);
			}
			why = g_string_free(s, FALSE);
			progress(m, job->reply_to, "no place for: %s", why);
		}
		ok = run_moves(job, plan);
		if (ok == 0 && why == NULL && plan->moves->len > 0) {
			const move_result *r = job->results->pdata[job->results->len - 1];

			why = g_strdup_printf("%s: %s", r->vm, r->why);
		}
		if (ok > 0 && (guint)ok == plan->moves->len && plan->unplaced->len == 0 &&
		    (left = running_here(m)) == 0) {	/* done: no need to wait for samples */
			balance_plan_free(plan);
			break;
		}
		if (ok > 0)	/* the next pass plans on a sample taken from now on */
			nubed_publish_state_async(m->n);
		balance_plan_free(plan);
		idle = ok > 0 ? 0 : idle + 1;
		if (!leave && idle >= DRAIN_PASSES)
			break;
		if (leave && idle > 0)	/* nothing moved: wait a little for the peers to change */
			g_usleep(G_USEC_PER_SEC * (gulong)MIN(10, m->n->cfg->interval_s * 2));
	}
	g_mutex_lock(&m->lock);
	if (!leave)
		m->drained = left == 0;
	g_mutex_unlock(&m->lock);
	if (left == 0)
		mape_event(m, "drain-done", NULL, NULL, json_pack("{s:o}", "moves",
		    results_json(job)), "no VM left on this host");
	else
		mape_event(m, "drain-failed", NULL, NULL, json_pack("{s:i, s:s?, s:o}", "left", left,
		    "why", why, "moves", results_json(job)),
		    "this host cannot be emptied: %d VM(s) left: %s", left,
		    why != NULL ? why : "time is up");
	if (job->reply_to != NULL) {
		json_t *body = json_pack("{s:b, s:i, s:o}", "ok", left == 0, "left", MAX(left, 0),
		    "moves", results_json(job));

		if (left != 0)
			json_object_set_new(body, "error", json_sprintf("%s cannot be emptied: %d VM(s) "
			    "left: %s", m->n->cfg->host, left, why != NULL ? why : "time is up"));
		reply(m, job->reply_to, body, true);
	}
}

typedef struct {
	void (*done)(void *ud);
	void *ud;
} done_call;

static gboolean
done_main(gpointer p)
{
	done_call *d = p;

	d->done(d->ud);
	g_free(d);
	return G_SOURCE_REMOVE;
}

static gpointer
job_thread(gpointer p)
{
	exec_job *job = p;
	mape *m = job->m;

	if (job->kind == JOB_DRAIN || job->kind == JOB_LEAVE)
		job_drain(job);
	else
		job_plan(job);
	g_mutex_lock(&m->lock);
	m->executing = false;
	if (job->kind == JOB_DRAIN)	/* a drained host stays out of admissions (m->drained) */
		m->leaving = false;
	g_cond_broadcast(&m->cond);
	g_mutex_unlock(&m->lock);
	if (job->kind == JOB_DRAIN)	/* peers see leaving/drained change at once */
		nubed_publish_state_async(m->n);
	if (job->done != NULL) {
		done_call *d = g_new0(done_call, 1);

		d->done = job->done;
		d->ud = job->done_ud;
		g_main_context_invoke(NULL, done_main, d);
	}
	job_free(job);
	return NULL;
}

/* job_start: run job in its own thread (under m->lock, m->executing false) */
static void
job_start(mape *m, exec_job *job)
{
	m->executing = true;
	g_thread_unref(g_thread_new("mape-job", job_thread, job));
}

/* leave_thread: wait until no job runs, then run the leave job here */
static gpointer
leave_thread(gpointer p)
{
	exec_job *job = p;
	mape *m = job->m;

	g_mutex_lock(&m->lock);
	while (m->executing && !m->stopping)
		g_cond_wait(&m->cond, &m->lock);
	m->executing = true;
	g_mutex_unlock(&m->lock);
	return job_thread(job);
}

static exec_job *
job_new(mape *m, job_kind kind, balance_plan *plan, double scale, const bus_msg *reply_to)
{
	exec_job *job = g_new0(exec_job, 1);

	job->m = m;
	job->kind = kind;
	job->plan = plan;
	job->scale = scale;
	job->reply_to = reply_to != NULL ? bus_msg_copy(reply_to) : NULL;
	job->results = g_ptr_array_new_with_free_func(move_result_free);
	return job;
}

/* ------------------------------------------------------------------ analyse + plan */

static json_t *
balance_json(mape *m, double now)
{
	json_t *res = json_array();

	for (guint i = 0; i < m->res->items->len; i++) {
		const balance_reservation *r = m->res->items->pdata[i];

		if (r->expires > now)
			json_array_append_new(res, json_pack("{s:s, s:s, s:f, s:f, s:f}", "vm", r->vm,
			    "source", r->source, "load", r->load, "mem", r->mem, "expires_in",
			    r->expires - now));
	}
	return json_pack("{s:s, s:b, s:s, s:f, s:i, s:i, s:f, s:{s:b, s:f, s:i}, s:f, s:f, s:o,"
	    " s:i, s:b, s:b, s:b, s:i, s:i, s:i}",
	    "policy", balance_policy_name(m->bc.policy), "enabled", m->mc.enabled,
	    "state", balance_state_name(m->state), "threshold", m->bc.load_threshold,
	    "alarm_count", m->bc.alarm_count, "count", m->det.count,
	    "mem_threshold", m->bc.mem_threshold,
	    "penalty", "active", m->pen.active, "remaining", m->pen.active ?
	    MAX(0.0, m->pen.until - now) : 0.0, "failures", m->pen.failures,
	    "reserved_load", balance_reservations_load(m->res, now),
	    "reserved_mem", balance_reservations_mem(m->res, now), "reservations", res,
	    "migrating", m->running, "executing", m->executing, "leaving", m->leaving,
	    "drained", m->drained, "migrations_ok", m->n_ok, "migrations_failed", m->n_failed,
	    "migrations_refused", m->n_refused);
}

void
mape_on_state(mape *m, json_t *state)
{
	double now = now_s();
	balance_state st;
	bool pen_was;
	view v;

	if (m == NULL || state == NULL)
		return;
	g_mutex_lock(&m->lock);
	json_decref(m->self_state);
	m->self_state = json_deep_copy(state);
	m->state_seq++;
	g_cond_broadcast(&m->cond);
	balance_reservations_expire(m->res, now);
	pen_was = m->pen.active;
	if (view_build(m, &v, true)) {
		st = balance_analyse(&m->det, &m->pen, &m->bc, &v.hosts[0], v.n - 1, now);
		if (pen_was && !m->pen.active && v.hosts[0].load < m->bc.load_threshold)
			mape_event(m, "penalty-cancelled", NULL, NULL, json_pack("{s:f}", "load",
			    v.hosts[0].load), "load %.2f is under %.2f: penalty cancelled",
			    v.hosts[0].load, m->bc.load_threshold);
		if (st == BALANCE_OK)
			m->alone_said = false;
		if (st == BALANCE_ALONE && !m->alone_said && m->mc.enabled && !m->leaving) {
			m->alone_said = true;
			mape_event(m, "alone", NULL, NULL, json_pack("{s:f}", "load",
			    v.hosts[0].load), "overloaded (load %.2f >= %.2f) but no other host is "
			    "online: nothing to do", v.hosts[0].load, m->bc.load_threshold);
		}
		if (st == BALANCE_OVERLOADED && m->mc.enabled && !m->leaving && !m->executing &&
		    m->bc.policy != BALANCE_POLICY_NONE) {
			balance_plan *plan = balance_plan_new(m->bc.policy, &m->bc, &v.hosts[0],
			    v.hosts + 1, v.n - 1, now);
			g_autofree char *txt = balance_plan_format(plan);

			mape_event(m, "plan", NULL, NULL, balance_plan_to_json(plan),
			    "overloaded: load %.2f >= %.2f for %d samples; %u move(s)%s%s\n%s",
			    v.hosts[0].load, m->bc.load_threshold, m->bc.alarm_count,
			    plan->moves->len, plan->note != NULL ? ": " : "",
			    plan->note != NULL ? plan->note : "", txt);
			if (plan->moves->len == 0) {
				g_autofree char *why = g_strdup_printf("no move possible%s%s",
				    plan->note != NULL ? ": " : "", plan->note != NULL ? plan->note : "");

				penalise(m, why);
				balance_plan_free(plan);
			} else
				job_start(m, job_new(m, JOB_PLAN, plan, v.scale, NULL));
		}
		m->state = st;
		view_clear(&v);
	}
	json_object_set_new(state, "balance", balance_json(m, now));
	g_mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------------ rpc ops (main thread) */

static void
op_admit(mape *m, const bus_msg *msg, const json_t *req, const char *sender)
{
	const char *vm = jstr(req, "vm"), *scen = jstr(req, "scenario");
	bool force = json_is_true(json_object_get(req, "force"));
	double now = now_s();
	balance_admission a = { 0 };
	balance_request r = { 0 };
	view v;

	if (vm == NULL || !json_is_number(json_object_get(req, "cpu")) ||
	    !json_is_number(json_object_get(req, "mem"))) {
		reply_error(m, msg, "malformed admit request: needs \"vm\", \"cpu\" and \"mem\"");
		return;
	}
	g_mutex_lock(&m->lock);
	if (m->leaving || m->drained) {
		g_snprintf(a.reason, sizeof a.reason, "this host is %s",
		    m->leaving ? "leaving (drain or shutdown)" : "drained");
	} else if (!view_build(m, &v, false)) {
		g_snprintf(a.reason, sizeof a.reason, "no own sample yet");
	} else {
		r.source = sender;
		r.vm = vm;
		r.cpu = jnum(req, "cpu", 0) * v.scale;
		r.load_generated = jnum(req, "load_generated", -1);
		r.mem = jnum(req, "mem", 0);
		balance_admit(m->res, m->bc.policy == BALANCE_POLICY_NONE ? BALANCE_POLICY_NUBE :
		    m->bc.policy, &m->bc, &v.hosts[0], &r, now, &a);
		if (!a.admitted && force && a.limit > 0) {
			balance_reservation *x = g_new0(balance_reservation, 1);

			x->vm = g_strdup(vm);
			x->source = g_strdup(sender);
			x->load = a.load_after - a.load_before;
			x->mem = r.mem;
			x->expires = now + m->bc.reservation_ttl;
			g_ptr_array_add(m->res->items, x);
			a.admitted = true;
			g_snprintf(a.reason, sizeof a.reason, "admitted by operator request (load "
			    "%.3f -> %.3f, limit %.3f)", a.load_before, a.load_after, a.limit);
		}
		view_clear(&v);
	}
	mape_event(m, a.admitted ? "admit" : "refuse", scen, vm, json_pack("{s:s, s:s, s:b, s:f,"
	    " s:f, s:f, s:f, s:f, s:f, s:s}", "src", sender, "dst", m->n->cfg->host, "force",
	    force, "load_before", a.load_before, "load_after", a.load_after, "limit", a.limit,
	    "mem_after", a.mem_after, "mem_limit", a.mem_limit, "reserved_load",
	    balance_reservations_load(m->res, now), "reason", a.reason),
	    "%s '%s' from %s: %s", a.admitted ? "admitted" : "refused", vm, sender, a.reason);
	g_mutex_unlock(&m->lock);
	reply(m, msg, json_pack("{s:b, s:b, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "ok", 1,
	    "admitted", a.admitted, "reason", a.reason, "load_before", a.load_before, "load_after",
	    a.load_after, "limit", a.limit, "mem_after", a.mem_after, "mem_limit", a.mem_limit,
	    "promised_after", a.promised_after, "promised_limit", a.promised_limit), true);
}

static void
op_release(mape *m, const bus_msg *msg, const json_t *req, const char *sender)
{
	const char *vm = jstr(req, "vm");
	bool ok = json_is_true(json_object_get(req, "ok"));
	int n;

	if (vm == NULL) {
		reply_error(m, msg, "malformed release request: needs \"vm\"");
		return;
	}
	g_mutex_lock(&m->lock);
	if (!ok)
		n = balance_reservations_release(m->res, vm);
	else {	/* arrived: its load shows in the samples only from the next full interval on,
		 * keep counting the reservation until then */
		n = 0;
		for (guint i = 0; i < m->res->items->len; i++) {
			balance_reservation *x = m->res->items->pdata[i];

			if (strcmp(x->vm, vm) == 0) {
				x->expires = MIN(x->expires, now_s() + 2.0 * m->n->cfg->interval_s + 1);
				n++;
			}
		}
	}
	if (ok) {
		moved_info *mi = g_new0(moved_info, 1);

		mi->at = now_s();
		mi->prev_host = g_strdup(sender);
		g_hash_table_replace(m->moved, g_strdup(vm), mi);
	}
	g_mutex_unlock(&m->lock);
	nubed_log(LOG_INFO, "reservation of '%s' from %s released (%s)", vm, sender,
	    ok ? "arrived" : "migration failed");
	reply(m, msg, json_pack("{s:b, s:i}", "ok", 1, "released", n), true);
}

/* op_plan: what this host would do now (dry run), optionally doing it ("execute": true) */
static void
op_plan(mape *m, const bus_msg *msg, const json_t *req)
{
	bool execute = json_is_true(json_object_get(req, "execute"));
	double now = now_s();
	balance_plan *plan = NULL;
	json_t *body;
	const char *note = NULL;
	bool started = false;
	view v;

	g_mutex_lock(&m->lock);
	if (!view_build(m, &v, true)) {
		g_mutex_unlock(&m->lock);
		reply_error(m, msg, "no own sample yet");
		return;
	}
	body = json_pack("{s:b, s:s, s:f, s:f, s:f, s:f, s:i, s:o}", "ok", 1, "state",
	    balance_state_name(m->state), "load", v.hosts[0].load, "threshold",
	    m->bc.load_threshold, "mem_used", v.hosts[0].mem_used, "mem_total",
	    v.hosts[0].mem_total, "peers", (int)(v.n - 1), "balance", balance_json(m, now));
	if (m->bc.policy == BALANCE_POLICY_NONE)
		note = "balancing is off (policy none)";
	else if (v.hosts[0].load < m->bc.load_threshold && (m->bc.mem_threshold >= 1 ||
	    v.hosts[0].mem_total <= 0 ||
	    v.hosts[0].mem_used / v.hosts[0].mem_total < m->bc.mem_threshold))
		note = "under every threshold: nothing to do";
	else if (v.n < 2)
		note = "overloaded but alone: no other online host";
	else
		plan = balance_plan_new(m->bc.policy, &m->bc, &v.hosts[0], v.hosts + 1, v.n - 1,
		    now);
	if (plan != NULL) {
		g_autofree char *txt = balance_plan_format(plan);

		json_object_set_new(body, "plan", balance_plan_to_json(plan));
		json_object_set_new(body, "text", json_string(txt));
		if (m->pen.active && m->pen.until > now)
			note = "penalised: the agent waits before acting";
		/* the operator's request is honoured even with autonomous balancing off */
		if (execute && plan->moves->len > 0 && !m->executing && !m->leaving) {
			mape_event(m, "plan", NULL, NULL, balance_plan_to_json(plan), "operator "
			    "asked to balance now; %u move(s)\n%s", plan->moves->len, txt);
			job_start(m, job_new(m, JOB_MIGRATE, plan, v.scale, NULL));
			plan = NULL;
			started = true;
		}
	}
	json_object_set_new(body, "note", note != NULL ? json_string(note) : json_null());
	json_object_set_new(body, "started", json_boolean(started));
	balance_plan_free(plan);
	view_clear(&v);
	g_mutex_unlock(&m->lock);
	reply(m, msg, body, true);
}

/* op_migrate: move one VM ("vm": domain or scenario VM name, "dst") now; "force" asks the
 * destination to admit even above its threshold (seed case 3: manual migration) */
static void
op_migrate(mape *m, const bus_msg *msg, const json_t *req)
{
	const char *vm = jstr(req, "vm"), *dst = jstr(req, "dst");
	const json_t *vms, *jv, *found = NULL;
	balance_plan *plan;
	balance_move *mv;
	exec_job *job;
	size_t i;
	double scale = 1;

	if (vm == NULL || dst == NULL) {
		reply_error(m, msg, "malformed migrate request: needs \"vm\" and \"dst\"");
		return;
	}
	if (strcmp(dst, m->n->cfg->host) == 0) {
		reply_error(m, msg, "'%s' is this host", dst);
		return;
	}
	g_mutex_lock(&m->lock);
	if (m->executing || m->leaving) {
		g_mutex_unlock(&m->lock);
		reply_error(m, msg, "busy: %s", m->leaving ? "this host is leaving" :
		    "a balancing job is running");
		return;
	}
	vms = json_object_get(m->self_state, "vms");
	json_array_foreach(vms, i, jv)
		if (json_is_true(json_object_get(jv, "active")) &&
		    (g_strcmp0(jstr(jv, "domain"), vm) == 0 || g_strcmp0(jstr(jv, "vm"), vm) == 0))
			found = jv;
	if (found == NULL) {
		g_mutex_unlock(&m->lock);
		reply_error(m, msg, "no running VM '%s' here", vm);
		return;
	}
	if (capacity_of(m->self_state) < 1 || fabs(capacity_of(m->self_state) -
	    round(capacity_of(m->self_state))) > 0.005)
		scale = 100;
	plan = g_new0(balance_plan, 1);
	plan->policy = m->bc.policy;
	plan->host = g_strdup(m->n->cfg->host);
	plan->moves = g_ptr_array_new();
	plan->unplaced = g_ptr_array_new();
	mv = g_new0(balance_move, 1);
	mv->vm = g_strdup(jstr(found, "domain"));
	mv->scenario = g_strdup(jstr(found, "scenario"));
	mv->src = g_strdup(m->n->cfg->host);
	mv->dst = g_strdup(dst);
	mv->cpu = jnum(found, "cpu", 0) * scale;
	mv->load_generated = jnum(found, "load", 0);
	mv->mem = jnum(found, "mem_mib", 0);
	mv->why = g_strdup("operator request");
	g_ptr_array_add(plan->moves, mv);
	job = job_new(m, JOB_MIGRATE, plan, scale, msg);
	job->force = json_is_true(json_object_get(req, "force"));
	job_start(m, job);
	g_mutex_unlock(&m->lock);
}

static void
op_drain(mape *m, const bus_msg *msg, const json_t *req)
{
	exec_job *job;

	if (json_is_true(json_object_get(req, "cancel"))) {
		g_mutex_lock(&m->lock);
		m->drained = false;
		g_mutex_unlock(&m->lock);
		nubed_publish_state(m->n);	/* peers see it in the next state, not an interval on */
		mape_event(m, "drain-cancelled", NULL, NULL, NULL, "this host takes VMs again");
		reply(m, msg, json_pack("{s:b}", "ok", 1), true);
		return;
	}
	g_mutex_lock(&m->lock);
	if (m->executing || m->leaving) {
		g_mutex_unlock(&m->lock);
		reply_error(m, msg, "busy: %s", m->leaving ? "this host is already leaving" :
		    "a balancing job is running, try again");
		return;
	}
	m->leaving = true;
	job = job_new(m, JOB_DRAIN, NULL, 1, msg);
	job->start_seq = m->state_seq;	/* the drain plans on the sample asked for below */
	job_start(m, job);
	g_mutex_unlock(&m->lock);
	/* a fresh sample now: the first moves need not wait for the next interval, and the
	 * peers see "leaving" at once */
	nubed_publish_state(m->n);
	progress(m, msg, "draining %s", m->n->cfg->host);
}

typedef struct {
	mape *m;
	char *op, *sender;
	bus_msg *msg;
	json_t *req;
} rpc_call;

static gboolean
rpc_main(gpointer p)
{
	rpc_call *c = p;

	/* the fields' types were checked once, in rpc_on_message, before dispatch */
	if (strcmp(c->op, "admit") == 0)
		op_admit(c->m, c->msg, c->req, c->sender);
	else if (strcmp(c->op, "release") == 0)
		op_release(c->m, c->msg, c->req, c->sender);
	else if (strcmp(c->op, "plan") == 0)
		op_plan(c->m, c->msg, c->req);
	else if (strcmp(c->op, "migrate") == 0)
		op_migrate(c->m, c->msg, c->req);
	else if (strcmp(c->op, "drain") == 0)
		op_drain(c->m, c->msg, c->req);
	else
		reply_error(c->m, c->msg, "op '%s' is not a balancer op", c->op);
	g_free(c->op);
	g_free(c->sender);
	bus_msg_free(c->msg);
	json_decref(c->req);
	g_free(c);
	return G_SOURCE_REMOVE;
}

void
mape_rpc(mape *m, const char *op, const bus_msg *msg, const json_t *req, const char *sender)
{
	rpc_call *c;

	if (m == NULL || op == NULL || msg == NULL)
		return;
	c = g_new0(rpc_call, 1);
	c->m = m;
	c->op = g_strdup(op);
	c->sender = g_strdup(sender != NULL ? sender : "?");
	c->msg = bus_msg_copy(msg);
	c->req = req != NULL ? json_deep_copy(req) : json_object();
	g_main_context_invoke(NULL, rpc_main, c);
}

/* ------------------------------------------------------------------ peers */

static peer *
peer_get(mape *m, const char *name)
{
	peer *p = g_hash_table_lookup(m->peers, name);

	if (p == NULL) {
		p = g_new0(peer, 1);
		g_hash_table_replace(m->peers, g_strdup(name), p);
	}
	return p;
}

static void
on_peer_state(bus *b, const bus_msg *msg, void *ud)
{
	mape *m = ud;
	g_autofree char *h = topic_host_parse(msg->topic, "state");
	json_t *st = NULL;

	(void)b;
	if (h == NULL)
		return;
	if (msg->len > 0)
		st = json_loadb(msg->payload, (size_t)msg->len, 0, NULL);
	if (st != NULL && (!json_is_object(st) || g_strcmp0(jstr(st, "host"), h) != 0)) {
		nubed_log(LOG_DEBUG, "state of '%s' ignored: malformed", h);
		json_decref(st);
		return;
	}
	g_mutex_lock(&m->lock);
	{
		peer *p = peer_get(m, h);

		json_decref(p->state);
		p->state = st;
	}
	g_mutex_unlock(&m->lock);
}

static void
on_peer_online(bus *b, const bus_msg *msg, void *ud)
{
	mape *m = ud;
	g_autofree char *h = topic_host_parse(msg->topic, "online");

	(void)b;
	if (h == NULL)
		return;
	g_mutex_lock(&m->lock);
	{
		peer *p = peer_get(m, h);

		p->has_online = true;
		p->online = msg->len == 1 && msg->payload[0] == '1';
	}
	g_mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------------ start-up net reconcile */

/* A net whose bridge this agent removed at start-up: the other carriers its VXLAN's FDB
 * listed, told to forward no more to this host once the broker is there. */
typedef struct {
	char *scenario, *net;
	uint32_t vni;
	GPtrArray *remotes;	/* of char* fabric addresses */
} stale_net;

static void
stale_net_free(gpointer p)
{
	stale_net *s = p;

	g_free(s->scenario);
	g_free(s->net);
	g_ptr_array_unref(s->remotes);
	g_free(s);
}

/* used_nets: scenario and net names (alternately, g_free) of every net a domain defined here
 * uses, active or not; NULL + err when libvirt cannot tell */
static GPtrArray *
used_nets(mape *m, GError **err)
{
	virt *v = nubed_virt_open(m->n, err);
	g_autoptr(GPtrArray) doms = v != NULL ? virt_list(v, err) : NULL;
	GPtrArray *used;

	virt_close(v);
	if (doms == NULL)
		return NULL;
	used = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < doms->len; i++) {
		const virt_dom_info *d = doms->pdata[i];

		for (guint k = 0; d->scenario != NULL && d->nets != NULL && k < d->nets->len; k++) {
			g_ptr_array_add(used, g_strdup(d->scenario));
			g_ptr_array_add(used, g_strdup(d->nets->pdata[k]));
		}
	}
	return used;
}

/* reconcile_local: remove every nube net (bridge + VXLAN, by ifalias) that no domain defined
 * here uses: left-overs of a migration or deploy this agent did not finish. Each removal
 * is decided again under the scenario's lock, so a deploy never loses a net it just made.
 * Returns the removed nets (stale_net*, new array) or NULL when libvirt or netlink cannot
 * tell (then nothing is removed). */
static GPtrArray *
reconcile_local(mape *m)
{
	GError *err = NULL;
	netdev *nd = netdev_open(&err);
	g_autoptr(GPtrArray) present = NULL, used = NULL, unused = NULL;
	GPtrArray *out;

	if (nd == NULL || (present = netdev_list(nd, &err)) == NULL ||
	    (used = used_nets(m, &err)) == NULL) {
		nubed_log(LOG_WARN, "net reconcile skipped: %s", err != NULL ? err->message : "?");
		g_clear_error(&err);
		netdev_close(nd);
		return NULL;
	}
	unused = netdev_unused(present, used);
	out = g_ptr_array_new_with_free_func(stale_net_free);
	for (guint i = 0; i < unused->len; i++) {
		const netdev_info *ni = unused->pdata[i];
		GMutex *lock = nubed_scenario_mutex(m->n, ni->scenario);
		g_autoptr(GPtrArray) again = NULL, still = NULL;
		stale_net *sn;

		g_mutex_lock(lock);
		again = used_nets(m, &err);
		if (again != NULL) {
			g_autoptr(GPtrArray) one = g_ptr_array_new();

			g_ptr_array_add(one, (gpointer)ni);
			still = netdev_unused(one, again);
		}
		if (again == NULL || still->len == 0 ||
		    netdev_remove(nd, ni->scenario, ni->net, &err) < 0) {
			if (err != NULL)
				nubed_log(LOG_WARN, "net reconcile: '%s/%s' kept: %s", ni->scenario,
				    ni->net, err->message);
			g_clear_error(&err);
			g_mutex_unlock(lock);
			continue;
		}
		g_mutex_unlock(lock);
		nubed_log(LOG_INFO, "net reconcile: removed '%s/%s' (bridge %s%s): no VM here uses "
		    "it", ni->scenario, ni->net, ni->bridge, ni->vni != 0 ? " and its vxlan" : "");
		sn = g_new0(stale_net, 1);
		sn->scenario = g_strdup(ni->scenario);
		sn->net = g_strdup(ni->net);
		sn->vni = ni->vni;
		sn->remotes = g_ptr_array_new_with_free_func(g_free);
		for (guint k = 0; ni->remotes != NULL && k < ni->remotes->len; k++)
			g_ptr_array_add(sn->remotes, g_strdup(ni->remotes->pdata[k]));
		g_ptr_array_add(out, sn);
	}
	netdev_close(nd);
	return out;
}

/* all_addrs_known: every remote of the stale nets maps to a peer with a state (under lock) */
static bool
all_addrs_known(mape *m, const GPtrArray *stale)
{
	for (guint i = 0; i < stale->len; i++) {
		const stale_net *sn = stale->pdata[i];

		for (guint k = 0; k < sn->remotes->len; k++)
			if (host_of_addr(m, sn->remotes->pdata[k]) == NULL)
				return false;
	}
	return true;
}

/* reconcile_thread: once the broker is there and the peers' retained states came, tell the
 * other carriers of every removed net (the hosts behind its FDB's addresses) to carry it
 * among themselves only: a net-ensure with "existing" true, so a carrier that dropped the
 * net meanwhile does not get it back. */
typedef struct {
	mape *m;
	GPtrArray *stale;	/* of stale_net*, owned */
} reconcile_ctx;

static gpointer
reconcile_thread(gpointer p)
{
	reconcile_ctx *c = p;
	mape *m = c->m;
	GPtrArray *stale = c->stale;
	gint64 end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

	g_free(c);
	while (!m->stopping && !bus_is_connected(m->n->bus) && g_get_monotonic_time() < end)
		g_usleep(200 * 1000);
	end = g_get_monotonic_time() + 15 * G_USEC_PER_SEC;	/* the retained burst */
	for (;;) {
		bool known;

		g_mutex_lock(&m->lock);
		known = all_addrs_known(m, stale);
		g_mutex_unlock(&m->lock);
		if (known || m->stopping || g_get_monotonic_time() >= end)
			break;
		g_usleep(200 * 1000);
	}
	for (guint i = 0; i < stale->len && !m->stopping; i++) {
		const stale_net *sn = stale->pdata[i];
		g_autoptr(GPtrArray) hosts = g_ptr_array_new_with_free_func(g_free);

		g_mutex_lock(&m->lock);
		for (guint k = 0; k < sn->remotes->len; k++) {
			const char *h = host_of_addr(m, sn->remotes->pdata[k]);

			g_ptr_array_add(hosts, g_strdup(h));
			if (h == NULL)
				nubed_log(LOG_WARN, "net reconcile: no host known at %s (net '%s/%s'): "
				    "its FDB may still list this host", (char *)sn->remotes->pdata[k],
				    sn->scenario, sn->net);
		}
		g_mutex_unlock(&m->lock);
		for (guint k = 0; k < hosts->len; k++) {
			json_t *req, *r;
			char *why = NULL;

			if (hosts->pdata[k] == NULL)
				continue;
			req = json_pack("{s:s, s:s, s:s, s:I, s:b, s:[], s:[]}", "op", "net-ensure",
			    "scenario", sn->scenario, "net", sn->net, "vni", (json_int_t)sn->vni,
			    "existing", 1, "hosts", "addrs");
			for (guint q = 0; q < hosts->len; q++) {
				if (hosts->pdata[q] == NULL)
					continue;
				json_array_append_new(json_object_get(req, "hosts"),
				    json_string(hosts->pdata[q]));
				json_array_append_new(json_object_get(req, "addrs"),
				    json_string(sn->remotes->pdata[q]));
			}
			r = call(m, hosts->pdata[k], req, &why);
			if (r == NULL)
				nubed_log(LOG_WARN, "net reconcile: %s still forwards net '%s/%s' here: "
				    "%s", (char *)hosts->pdata[k], sn->scenario, sn->net, why);
			else
				nubed_log(LOG_INFO, "net reconcile: %s no longer forwards net '%s/%s' "
				    "here%s", (char *)hosts->pdata[k], sn->scenario, sn->net,
				    json_is_true(json_object_get(r, "absent")) ? " (it has no such net)" :
				    "");
			json_decref(r);
			g_free(why);
		}
		mape_event(m, "net-cleanup", sn->scenario, NULL, json_pack("{s:s, s:i, s:b}",
		    "net", sn->net, "hosts", (int)hosts->len, "startup", 1),
		    "net '%s' was left here by an unfinished job: removed at start-up", sn->net);
	}
	g_ptr_array_unref(stale);
	g_mutex_lock(&m->lock);
	m->reconciling = false;
	g_cond_broadcast(&m->cond);
	g_mutex_unlock(&m->lock);
	return NULL;
}

/* reconcile_nets: at start-up (main thread, before the main loop runs an rpc): remove the
 * nets no local domain uses now, then tell their peers from a thread of its own */
static void
reconcile_nets(mape *m)
{
	reconcile_ctx *c;
	GPtrArray *stale = reconcile_local(m);

	if (stale == NULL || stale->len == 0) {
		if (stale != NULL)
			g_ptr_array_unref(stale);
		return;
	}
	c = g_new0(reconcile_ctx, 1);
	c->m = m;
	c->stale = stale;
	m->reconciling = true;
	g_thread_unref(g_thread_new("mape-reconcile", reconcile_thread, c));
}

/* ------------------------------------------------------------------ life cycle */

mape *
mape_new(nubed *n, GError **err)
{
	mape *m = g_new0(mape, 1);

	if (mape_conf_load(n->cfg->file, &m->bc, &m->mc, err) < 0) {
		g_free(m);
		return NULL;
	}
	m->n = n;
	g_mutex_init(&m->lock);
	g_cond_init(&m->cond);
	m->peers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, peer_free);
	m->moved = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, moved_free);
	m->busy = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	m->res = balance_reservations_new();
	m->state = BALANCE_OK;
return m;
}

int
mape_start(mape *m, GError **err)
{
	nubed_log(LOG_INFO, "balancer: policy %s, load threshold %.2f x %d samples, memory %.2f, "
	    "penalty %.0f s + %.0f s, max %d migration(s), evacuate on exit %s%s",
	    balance_policy_name(m->bc.policy), m->bc.load_threshold, m->bc.alarm_count,
	    m->bc.mem_threshold, m->bc.penalty, m->bc.penalty_step, m->mc.max_migrations,
	    m->mc.evacuate ? "yes" : "no", m->mc.enabled ? "" : " (disabled: monitor only)");
	if (bus_subscribe(m->n->bus, TOPIC_STATE_ALL, on_peer_state, m, err) < 0 ||
	    bus_subscribe(m->n->bus, TOPIC_ONLINE_ALL, on_peer_online, m, err) < 0)
		return -1;
	reconcile_nets(m);
	return 0;
}

void
mape_set_evacuate(mape *m, bool on)
{
	if (m != NULL)
		m->mc.evacuate = on;
}

bool
mape_leave(mape *m, void (*done)(void *ud), void *ud)
{
	exec_job *job;

	if (m == NULL || !m->mc.evacuate)
		return false;
	g_mutex_lock(&m->lock);
	if (m->leaving && (m->executing || m->stopping)) {	/* second signal: quit now */
		g_mutex_unlock(&m->lock);
		return false;
	}
	m->leaving = true;
	job = job_new(m, JOB_LEAVE, NULL, 1, NULL);
	job->done = done;
	job->done_ud = ud;
	/* a plan may still run: the leave thread waits for it */
	g_thread_unref(g_thread_new("mape-leave", leave_thread, job));
	g_mutex_unlock(&m->lock);
	nubed_publish_state(m->n);	/* peers see "leaving" at once */
	return true;
}

void
mape_free(mape *m)
{
	if (m == NULL)
		return;
	g_mutex_lock(&m->lock);
	m->stopping = true;
	g_cond_broadcast(&m->cond);
	g_mutex_unlock(&m->lock);
	/* a job still running uses m: then m is left to the exiting process */
	if (m->executing || m->running > 0 || m->reconciling)
		return;
	g_hash_table_unref(m->peers);
	g_hash_table_unref(m->moved);
	g_hash_table_unref(m->busy);
	balance_reservations_free(m->res);
	json_decref(m->self_state);
	g_mutex_clear(&m->lock);
	g_cond_clear(&m->cond);
	g_free(m);
}
