/* fake_env: the agent's environment in memory — broker, libvirt, netlink, /proc and clock —
 * for several real agents in one test process (see fake_env.h) */
#include "fake_env.h"

#include <math.h>
#include <string.h>

#include "agent/mape.h"
#include "agent/rpc.h"
#include "agent/telemetry.h"
#include "wire/topic.h"

#define WALL_BASE_MS	1700000000000LL

/* A request in flight: an agent's nubed_call (waiting on cond) or the test's fake_rpc. */
typedef struct {
	GMutex mu;
	GCond cond;
	bool done;
	json_t *reply;		/* final reply */
} pending;

typedef struct {
	char *pattern;
	bus_msg_cb cb;
	void *ud;
} fake_sub;

static fake_host *
host_of(nubed *n)
{
	return n->env_ud;
}

/* ---------------------------------------------------------------- clock */

static double
f_now(nubed *n)
{
	fake_cluster *c = host_of(n)->c;
	double t;

	g_mutex_lock(&c->lock);
	t = c->now;
	g_mutex_unlock(&c->lock);
	return t;
}

static int64_t
f_wall_ms(nubed *n)
{
	return WALL_BASE_MS + (int64_t)(f_now(n) * 1000);
}

/* ---------------------------------------------------------------- broker */

typedef struct {
	void (*fn)(void *ud);
	void *ud;
} post_item;

static gboolean
post_run(gpointer p)
{
	post_item *it = p;

	it->fn(it->ud);
	g_free(it);
	return G_SOURCE_REMOVE;
}

/* queue fn(ud) on the default main context. Not g_main_context_invoke: between two of the
 * test's iterations nobody owns the context, and it would run fn in the calling thread */
static void
queue(void (*fn)(void *ud), void *ud)
{
	post_item *it = g_new0(post_item, 1);
	GSource *s = g_idle_source_new();

	it->fn = fn;
	it->ud = ud;
	g_source_set_callback(s, post_run, it, NULL);
	g_source_attach(s, NULL);
	g_source_unref(s);
}

static void
f_post(nubed *n, void (*fn)(void *ud), void *ud)
{
	(void)n;
	queue(fn, ud);
}

/* MQTT topic match: '+' one level, '#' the rest */
static bool
topic_match(const char *pattern, const char *topic)
{
	g_auto(GStrv) p = g_strsplit(pattern, "/", -1), t = g_strsplit(topic, "/", -1);
	guint i;

	for (i = 0; p[i] != NULL; i++) {
		if (strcmp(p[i], "#") == 0)
			return true;
		if (t[i] == NULL || (strcmp(p[i], "+") != 0 && strcmp(p[i], t[i]) != 0))
			return false;
	}
	return t[i] == NULL;
}

typedef struct {
	fake_cluster *c;
	char *topic, *payload, *response_topic;
} delivery;

/* deliver: every subscription of every agent matching the topic (main loop) */
static void
deliver(void *p)
{
	delivery *d = p;
	bus_msg m = { .topic = d->topic, .payload = d->payload, .len = (int)strlen(d->payload),
		.response_topic = d->response_topic };

	for (guint i = 0; i < d->c->hosts->len; i++) {
		fake_host *h = d->c->hosts->pdata[i];

		for (guint k = 0; k < h->subs->len; k++) {
			fake_sub *s = h->subs->pdata[k];

			if (topic_match(s->pattern, d->topic))
				s->cb(NULL, &m, s->ud);
		}
	}
	g_free(d->topic);
	g_free(d->payload);
	g_free(d->response_topic);
	g_free(d);
}

static void
send_msg(fake_cluster *c, const char *topic, json_t *j, const char *response_topic)
{
	delivery *d = g_new0(delivery, 1);

	d->c = c;
	d->topic = g_strdup(topic);
	d->payload = json_dumps(j, JSON_COMPACT);
	d->response_topic = g_strdup(response_topic);
	if (g_main_context_is_owner(NULL))
		deliver(d);
	else
		queue(deliver, d);
}

static void
f_publish(nubed *n, const char *topic, json_t *j, bool retain)
{
	fake_host *h = host_of(n);
	fake_cluster *c = h->c;

	(void)retain;
	g_mutex_lock(&c->lock);
	if (strcmp(topic, TOPIC_EVENTS) == 0)
		g_ptr_array_add(c->events, json_incref(j));
	if (strcmp(topic, n->state_topic) == 0)
		h->samples++;
	g_mutex_unlock(&c->lock);
	send_msg(c, topic, j, NULL);
	json_decref(j);
}

void
fake_publish(fake_cluster *c, const char *topic, const char *payload)
{
	delivery *d = g_new0(delivery, 1);

	d->c = c;
	d->topic = g_strdup(topic);
	d->payload = g_strdup(payload);
	if (g_main_context_is_owner(NULL))
		deliver(d);
	else
		queue(deliver, d);
}

static int
f_subscribe(nubed *n, const char *pattern, bus_msg_cb cb, void *ud, GError **err)
{
	fake_sub *s = g_new0(fake_sub, 1);

	(void)err;
	s->pattern = g_strdup(pattern);
	s->cb = cb;
	s->ud = ud;
	g_ptr_array_add(host_of(n)->subs, s);
	return 0;
}

static bool
f_connected(nubed *n)
{
	(void)n;
	return true;
}

static void
pending_free(gpointer p)
{
	pending *q = p;

	json_decref(q->reply);
	g_mutex_clear(&q->mu);
	g_cond_clear(&q->cond);
	g_free(q);
}

/* start_request: send req (stolen) to topic as a request with a fresh reply topic of user;
 * returns the call's id (g_free) */
static char *
start_request(fake_cluster *c, const char *user, const char *topic, json_t *req)
{
	g_autofree char *host = NULL, *rt = NULL;
	pending *q = g_new0(pending, 1);
	char *id;

	g_mutex_init(&q->mu);
	g_cond_init(&q->cond);
	g_mutex_lock(&c->lock);
	id = g_strdup_printf("c%u", ++c->next_id);
	g_hash_table_insert(c->calls, g_strdup(id), q);
	g_mutex_unlock(&c->lock);
	g_assert(topic_rpc_parse(topic, &host, NULL) == 0);
	rt = topic_reply(user, id, host);
	send_msg(c, topic, req, rt);
	json_decref(req);
	return id;
}

static pending *
pending_get(fake_cluster *c, const char *id)
{
	pending *q;

	g_mutex_lock(&c->lock);
	q = g_hash_table_lookup(c->calls, id);
	g_mutex_unlock(&c->lock);
	return q;
}

static void
f_reply(nubed *n, const bus_msg *m, json_t *body, bool final)
{
	fake_cluster *c = host_of(n)->c;
	g_autofree char *id = NULL;
	pending *q;

	if (m->response_topic == NULL || topic_reply_parse(m->response_topic, NULL, &id,
	    NULL) < 0 || (q = pending_get(c, id)) == NULL) {
		json_decref(body);
		return;
	}
	g_mutex_lock(&c->lock);
	g_ptr_array_add(c->op_replies, json_incref(body));
	g_mutex_unlock(&c->lock);
	g_mutex_lock(&q->mu);
	if (final && !q->done) {
		q->done = true;
		q->reply = json_incref(body);
		g_cond_broadcast(&q->cond);
	}
	g_mutex_unlock(&q->mu);
	json_decref(body);
}

static json_t *
f_call(nubed *n, const char *topic, json_t *req, int timeout_ms, GError **err)
{
	fake_cluster *c = host_of(n)->c;
	g_autofree char *id = start_request(c, n->cfg->host, topic, req);
	pending *q = pending_get(c, id);
	gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	json_t *r = NULL;

	g_mutex_lock(&q->mu);
	while (!q->done)
		if (!g_cond_wait_until(&q->cond, &q->mu, end))
			break;
	r = q->reply != NULL ? json_incref(q->reply) : NULL;
	g_mutex_unlock(&q->mu);
	if (r == NULL)
		g_set_error(err, g_quark_from_static_string("fake"), 1, "fake: no answer on %s",
		    topic);
	return r;
}

/* ---------------------------------------------------------------- libvirt */

static virt *
f_virt_open(nubed *n, GError **err)
{
	(void)err;
	return (virt *)host_of(n);
}

/* a fake host's libvirtd answers while the host is in the cluster and not marked down */
static int
f_virt_probe(nubed *n, const char *uri, GError **err)
{
	fake_cluster *c = host_of(n)->c;
	bool up = false;

	g_mutex_lock(&c->lock);
	for (guint i = 0; i < c->hosts->len; i++) {
		fake_host *h = c->hosts->pdata[i];

		if (strstr(uri, h->addr) != NULL)
			up = !h->libvirt_down;
	}
	g_mutex_unlock(&c->lock);
	if (up)
		return 0;
	g_set_error(err, g_quark_from_static_string("fake"), 1, "fake: %s does not answer", uri);
	return -1;
}

static void
f_virt_close(virt *v)
{
	(void)v;
}

static const char *
f_domain_type(const virt *v)
{
	(void)v;
	return "fake";
}

static GPtrArray *
f_virt_list(virt *v, GError **err)
{
	fake_host *h = (fake_host *)v;
	GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify)virt_dom_info_free);

	(void)err;
	g_mutex_lock(&h->c->lock);
	for (guint i = 0; i < h->doms->len; i++) {
		const fake_dom *d = h->doms->pdata[i];
		virt_dom_info *x = g_new0(virt_dom_info, 1);

		x->domain = g_strdup(d->domain);
		x->scenario = g_strdup(d->scenario);
		x->vm = g_strdup(d->vm);
		x->state = g_strdup(d->stopped ? "shutoff" : "running");
		x->active = !d->stopped;
		x->container = d->container;
		x->move = g_strdup(d->move);
		x->cpu_time_ns = (uint64_t)llround(d->cpu * (h->c->now - d->started) * 1e9);
		x->vcpus = 1;
		x->mem_mib = x->mem_max_mib = x->mem_rss_mib = d->mem_mib;
		x->nets = g_ptr_array_new_with_free_func(g_free);
		x->addrs = g_ptr_array_new_with_free_func(g_free);
		x->ifaces = g_ptr_array_new();
		for (char **p = d->nets; p != NULL && *p != NULL; p++)
			g_ptr_array_add(x->nets, g_strdup(*p));
		g_ptr_array_add(a, x);
	}
	g_mutex_unlock(&h->c->lock);
	return a;
}

static GHashTable *
f_virt_states(virt *v, GError **err)
{
	fake_host *h = (fake_host *)v;
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	(void)err;
	g_mutex_lock(&h->c->lock);
	for (guint i = 0; i < h->doms->len; i++)
		g_hash_table_replace(t, g_strdup(((const fake_dom *)h->doms->pdata[i])->domain),
		    GINT_TO_POINTER(1));
	g_mutex_unlock(&h->c->lock);
	return t;
}

static int
f_virt_migrate(virt *v, const char *domname, const char *dest_uri, const char *migrate_uri,
    virt_migrate_stats *stats, GError **err)
{
	fake_host *h = (fake_host *)v, *dst = NULL;
	fake_cluster *c = h->c;
	fake_dom *d = NULL;

	(void)migrate_uri;
	g_mutex_lock(&c->lock);
	for (guint i = 0; i < c->hosts->len; i++) {
		fake_host *x = c->hosts->pdata[i];
		g_autofree char *uri = g_strdup_printf("qemu+tcp://%s/system", x->addr);

		if (strcmp(uri, dest_uri) == 0)
			dst = x;
	}
	for (guint i = 0; i < h->doms->len; i++)
		if (strcmp(((fake_dom *)h->doms->pdata[i])->domain, domname) == 0)
			d = h->doms->pdata[i];
	if (dst == NULL || d == NULL || h->fail_migrations > 0) {
		if (h->fail_migrations > 0)
			h->fail_migrations--;
		g_mutex_unlock(&c->lock);
		g_set_error(err, g_quark_from_static_string("fake"), 1, "fake: migration of '%s' "
		    "to %s refused", domname, dest_uri);
		return -1;
	}
	g_ptr_array_remove(h->doms, d);	/* no free function: d moves */
	d->started = c->now;
	g_ptr_array_add(dst->doms, d);
	g_mutex_unlock(&c->lock);
	stats->duration_ms = 1234;
	stats->downtime_ms = 56;
	stats->data_bytes = d->mem_mib << 20;
	return 0;
}

static void
fake_dom_free(fake_dom *d)
{
	g_free(d->scenario);
	g_free(d->vm);
	g_free(d->domain);
	g_strfreev(d->nets);
	g_free(d->move);
	g_free(d);
}

static int
f_destroy_undefine(virt *v, const char *domname, GError **err)
{
	fake_host *h = (fake_host *)v;

	(void)err;
	g_mutex_lock(&h->c->lock);
	for (guint i = 0; i < h->doms->len; i++)
		if (strcmp(((fake_dom *)h->doms->pdata[i])->domain, domname) == 0) {
			fake_dom_free(g_ptr_array_remove_index(h->doms, i));
			break;
		}
	g_mutex_unlock(&h->c->lock);
	return 0;
}

/* a container's cold move: out stops it (h->fail_migrations makes it fail), the layer's
 * volume goes nowhere, in takes the stopped container of any host, back starts it again */
static fake_dom *
dom_of(fake_host *h, const char *domname)
{
	for (guint i = 0; i < h->doms->len; i++)
		if (strcmp(((fake_dom *)h->doms->pdata[i])->domain, domname) == 0)
			return h->doms->pdata[i];
	return NULL;
}

static int
f_cold_out(virt *v, const char *domname, int grace_s, virt_cold *out, GError **err)
{
	fake_host *h = (fake_host *)v;
	fake_dom *d;
	int rc = 0;

	(void)grace_s;
	memset(out, 0, sizeof *out);
	g_mutex_lock(&h->c->lock);
	d = dom_of(h, domname);
	if (d == NULL || !d->container) {
		g_set_error(err, g_quark_from_static_string("fake"), 1, "fake: '%s' is no container "
		    "here", domname);
		rc = -1;
	} else {
		d->stopped = true;
		if (h->fail_migrations > 0) {
			h->fail_migrations--;
			g_set_error(err, g_quark_from_static_string("fake"), 1, "fake: packing the "
			    "layer of '%s' failed", domname);
			rc = -1;
		}
	}
	g_mutex_unlock(&h->c->lock);
	if (rc == 0) {
		out->xml = g_strdup(domname);
		out->volume = virt_cold_volume(domname);
		out->sha256 = g_strnfill(64, 'a');
		out->bytes = 4096;
		out->stop_ms = 10;
		out->pack_ms = 5;
	}
	return rc;
}

static int
f_cold_back(virt *v, const char *domname, GError **err)
{
	fake_host *h = (fake_host *)v;
	fake_dom *d;

	g_mutex_lock(&h->c->lock);
	d = dom_of(h, domname);
	if (d != NULL)
		d->stopped = false;
	g_mutex_unlock(&h->c->lock);
	if (d == NULL)
		g_set_error(err, g_quark_from_static_string("fake"), 1, "fake: no '%s'", domname);
	return d != NULL ? 0 : -1;
}

static int
f_cold_in(virt *v, const char *xml, const char *sha256, const char *domname, GError **err)
{
	fake_host *h = (fake_host *)v;
	fake_cluster *c = h->c;
	fake_dom *d = NULL;

	(void)sha256;
	g_mutex_lock(&c->lock);
	for (guint i = 0; i < c->hosts->len && d == NULL; i++) {
		fake_host *x = c->hosts->pdata[i];
		fake_dom *y = x != h ? dom_of(x, domname) : NULL;

		if (y != NULL && y->stopped && strcmp(xml, domname) == 0) {
			g_ptr_array_remove(x->doms, y);	/* no free function: it moves */
			d = y;
		}
	}
	if (d != NULL) {
		d->stopped = false;
		d->started = c->now;
		g_ptr_array_add(h->doms, d);
	}
	g_mutex_unlock(&c->lock);
	if (d == NULL)
		g_set_error(err, g_quark_from_static_string("fake"), 1, "fake: no stopped '%s'",
		    domname);
	return d != NULL ? 0 : -1;
}

static int
f_volume_send(virt *v, const char *dest_uri, const char *name,
    void (*progress)(uint64_t sent, uint64_t total, void *ud), void *ud, GError **err)
{
	(void)v, (void)dest_uri, (void)name, (void)progress, (void)ud, (void)err;
	return 0;
}

/* deploy and exec need a guest: the lab tests them; here they fail clearly */
/* the fake hosts have no disks: every VM boots as it is */
static int
f_pool_ensure(virt *v, GError **err)
{
	(void)v, (void)err;
	return 0;
}

static int
f_disks_ok(virt *v, const scenario *s, const proto_deployment *dep, const char *vmname,
    GError **err)
{
	(void)v, (void)s, (void)dep, (void)vmname, (void)err;
	return 0;
}

static int
f_volumes_delete(virt *v, const char *domname, GError **err)
{
	(void)v, (void)domname, (void)err;
	return 0;
}

/* nor images: every VM of the fake hosts boots the same way */
static char *
f_domain_image(virt *v, const char *domname)
{
	(void)v, (void)domname;
	return NULL;
}

static char *
f_render(virt *v, const scenario *s, const proto_deployment *dep, const char *vmname, int mtu,
    GPtrArray *warnings, GError **err)
{
	(void)v, (void)s, (void)dep, (void)mtu, (void)warnings;
	g_set_error(err, g_quark_from_static_string("fake"), 1, "fake: no domain XML for '%s'",
	    vmname);
	return NULL;
}

static int
f_guest_exec(virt *v, const char *domname, const char *cmd, int timeout_s, int *exit_code,
    char **out, char **errout, GError **err)
{
	(void)v, (void)cmd, (void)timeout_s, (void)exit_code, (void)out, (void)errout;
	g_set_error(err, g_quark_from_static_string("fake"), 1, "fake: no guest agent in '%s'",
	    domname);
	return -1;
}

static int
f_image_evict(virt *v, uint64_t max_mib, const GPtrArray *in_use, GPtrArray *evicted,
    GError **err)
{
	(void)v, (void)max_mib, (void)in_use, (void)evicted, (void)err;
	return 0;	/* the fake hosts have no image cache */
}

static int
f_guest_write(virt *v, const char *domname, const char *path, const void *data, size_t len,
    unsigned mode, const char *owner, int timeout_s, GError **err)
{
	(void)v, (void)path, (void)data, (void)len, (void)mode, (void)owner, (void)timeout_s;
	g_set_error(err, g_quark_from_static_string("fake"), 1, "fake: no guest agent in '%s'",
	    domname);
	return -1;
}

/* ---------------------------------------------------------------- netlink */

static netdev *
f_net_open(nubed *n, GError **err)
{
	(void)err;
	return (netdev *)host_of(n);
}

static void
f_net_close(netdev *nd)
{
	(void)nd;
}

static fake_net *
net_find(fake_host *h, const char *scenario, const char *net)
{
	for (guint i = 0; i < h->nets->len; i++) {
		fake_net *x = h->nets->pdata[i];

		if (strcmp(x->scenario, scenario) == 0 && strcmp(x->net, net) == 0)
			return x;
	}
	return NULL;
}

static GPtrArray *
f_net_list(netdev *nd, GError **err)
{
	fake_host *h = (fake_host *)nd;
	GPtrArray *a = g_ptr_array_new_with_free_func((GDestroyNotify)netdev_info_free);

	(void)err;
	g_mutex_lock(&h->c->lock);
	for (guint i = 0; i < h->nets->len; i++) {
		const fake_net *x = h->nets->pdata[i];
		netdev_info *ni = g_new0(netdev_info, 1);

		ni->scenario = g_strdup(x->scenario);
		ni->net = g_strdup(x->net);
		ni->bridge = g_strdup_printf("nb-%s", x->net);
		ni->vni = x->vni;
		ni->remotes = g_ptr_array_new_with_free_func(g_free);
		for (guint k = 0; k < x->remotes->len; k++)
			g_ptr_array_add(ni->remotes, g_strdup(x->remotes->pdata[k]));
		g_ptr_array_add(a, ni);
	}
	g_mutex_unlock(&h->c->lock);
	return a;
}

static void
fake_net_free(gpointer p)
{
	fake_net *x = p;

	g_free(x->scenario);
	g_free(x->net);
	g_ptr_array_unref(x->remotes);
	g_free(x);
}

static int
f_net_ensure(netdev *nd, const char *scenario, const char *net, uint32_t vni,
    const char *local_addr, const char *const *remotes, int n_remotes, int mtu, GError **err)
{
	fake_host *h = (fake_host *)nd;
	fake_net *x;

	(void)local_addr;
	(void)mtu;
	(void)err;
	g_mutex_lock(&h->c->lock);
	x = net_find(h, scenario, net);
	if (x == NULL) {
		x = g_new0(fake_net, 1);
		x->scenario = g_strdup(scenario);
		x->net = g_strdup(net);
		x->remotes = g_ptr_array_new_with_free_func(g_free);
		g_ptr_array_add(h->nets, x);
	}
	x->vni = vni;
	g_ptr_array_set_size(x->remotes, 0);
	for (int i = 0; i < n_remotes; i++)
		g_ptr_array_add(x->remotes, g_strdup(remotes[i]));
	g_mutex_unlock(&h->c->lock);
	return 0;
}

static int
f_net_remove(netdev *nd, const char *scenario, const char *net, GError **err)
{
	fake_host *h = (fake_host *)nd;
	fake_net *x;

	(void)err;
	g_mutex_lock(&h->c->lock);
	x = net_find(h, scenario, net);
	if (x != NULL)
		g_ptr_array_remove(h->nets, x);
	g_mutex_unlock(&h->c->lock);
	return 0;
}

static int
f_mtu_of_addr(netdev *nd, const char *local_addr)
{
	(void)nd;
	(void)local_addr;
	return 1500;
}

/* ---------------------------------------------------------------- /proc */

/* every sample takes half a second of the fake clock: rates are always measurable */
static int
f_metrics_read(nubed *n, metrics_sample *out, GError **err)
{
	fake_host *h = host_of(n);
	double load = h->base_load;
	uint64_t used = 0;

	(void)err;
	g_mutex_lock(&h->c->lock);
	h->c->now += 0.5;
	for (guint i = 0; i < h->doms->len; i++) {
		const fake_dom *d = h->doms->pdata[i];

		load += d->cpu / h->cpus;
		used += d->mem_mib;
	}
	h->total += 1000;
	h->busy += (uint64_t)llround(MIN(load, 1.0) * 1000);
	*out = (metrics_sample){ .t_us = (int64_t)(h->c->now * 1e6), .cpus = h->cpus,
		.busy = h->busy, .total = h->total, .mem_total_kib = h->mem_mib * 1024,
		.mem_avail_kib = (h->mem_mib - MIN(used, h->mem_mib)) * 1024 };
	g_mutex_unlock(&h->c->lock);
	return 0;
}

/* configuration media: the fake hosts' VMs have none (no deployment here carries any) */
static bool
f_media_used(virt *v, const scenario *s, const proto_deployment *dep, const char *vmname)
{
	(void)v;
	(void)s;
	(void)dep;
	(void)vmname;
	return false;
}

static int
f_media_write(virt *v, const char *domname, const GPtrArray *media, GError **err)
{
	(void)v;
	(void)domname;
	(void)media;
	(void)err;
	return 0;
}

static const agent_env fake_env = {
	.now = f_now,
	.wall_ms = f_wall_ms,
	.post = f_post,
	.reply = f_reply,
	.publish = f_publish,
	.call = f_call,
	.subscribe = f_subscribe,
	.connected = f_connected,
	.virt_open = f_virt_open,
	.virt_probe = f_virt_probe,
	.virt_close = f_virt_close,
	.virt_list = f_virt_list,
	.virt_states = f_virt_states,
	.virt_domain_type = f_domain_type,
	.virt_migrate = f_virt_migrate,
	.virt_cold_out = f_cold_out,
	.virt_cold_back = f_cold_back,
	.virt_cold_in = f_cold_in,
	.virt_volume_send = f_volume_send,
	.virt_media_used = f_media_used,
	.virt_media_write = f_media_write,
	.virt_destroy_undefine = f_destroy_undefine,
	.virt_render_domain = f_render,
	.virt_pool_ensure = f_pool_ensure,
	.virt_vm_disks_check = f_disks_ok,
	.virt_vm_disks_prepare = f_disks_ok,
	.virt_domain_image = f_domain_image,
	.virt_image_evict = f_image_evict,
	.virt_volumes_delete = f_volumes_delete,
	.virt_guest_exec = f_guest_exec,
	.virt_guest_write = f_guest_write,
	.net_open = f_net_open,
	.net_close = f_net_close,
	.net_list = f_net_list,
	.net_ensure = f_net_ensure,
	.net_remove = f_net_remove,
	.net_mtu_of_addr = f_mtu_of_addr,
	.metrics_read = f_metrics_read,
	/* define_start and guest_configure are never reached: render fails first */
};

/* ---------------------------------------------------------------- the cluster */

fake_cluster *
fake_cluster_new(void)
{
	fake_cluster *c = g_new0(fake_cluster, 1);

	g_mutex_init(&c->lock);
	c->now = 1000;
	c->hosts = g_ptr_array_new();
	c->events = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
	c->op_replies = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
	c->calls = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, pending_free);
	nubed_log_setup("test", g_getenv("NUBE_TEST_VERBOSE") != NULL);
	return c;
}

static bool
never(fake_cluster *c, void *ud)
{
	(void)c;
	(void)ud;
	return false;
}

/* the agents' threads may still run (a telemetry round, a job's last messages): the hosts stop
 * listening and their last work is run off, then the cluster is left to the exiting test
 * process (its agents are never freed: a thread may still hold them) */
void
fake_cluster_free(fake_cluster *c)
{
	for (guint i = 0; i < c->hosts->len; i++) {
		fake_host *h = c->hosts->pdata[i];

		g_ptr_array_set_size(h->subs, 0);
		h->n.on_sample = NULL;
	}
	fake_run_until(c, never, NULL, 300);
}

fake_host *
fake_host_add(fake_cluster *c, const char *name, const char *addr, double cpus,
    uint64_t mem_mib, const char *balance)
{
	fake_host *h = g_new0(fake_host, 1);
	g_autofree char *dir = g_dir_make_tmp("nube-fake-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "nubed.conf", NULL);
	g_autofree char *bal = g_strdup(balance != NULL ? balance : "");
	g_autofree char *text = NULL;
	GError *err = NULL;
	config *cfg;

	g_strdelimit(bal, ";", '\n');
	text = g_strdup_printf("[nubed]\nhost = %s\nfabric_addr = %s\ninterval = 1\n"
	    "state_dir = %s\n[broker]\nurl = mqtt://127.0.0.1:1\n[balance]\nrpc-timeout = 5\n%s\n",
	    name, addr, dir, bal);
	g_assert(g_file_set_contents(path, text, -1, NULL));
	cfg = config_load(path, &err);
	if (cfg == NULL || config_check(cfg, &err) < 0)
		g_error("fake host %s: %s", name, err->message);
	h->c = c;
	h->name = g_strdup(name);
	h->addr = g_strdup(addr);
	h->cpus = cpus;
	h->mem_mib = mem_mib;
	h->doms = g_ptr_array_new();
	h->nets = g_ptr_array_new_with_free_func(fake_net_free);
	h->subs = g_ptr_array_new();
	nubed_init(&h->n, cfg, &fake_env);
	h->n.env_ud = h;
	if (nubed_state_open(&h->n, &err) < 0)	/* the event journal, as nubed's main opens it */
		g_error("fake host %s: %s", name, err->message);
	h->n.pool = g_thread_pool_new(rpc_job_run, &h->n, 4, FALSE, NULL);
	h->n.mape = mape_new(&h->n);
	h->n.on_sample = mape_on_state;
	h->n.on_sample_ud = h->n.mape;
	g_ptr_array_add(c->hosts, h);
	return h;
}

void
fake_host_start(fake_host *h)
{
	GError *err = NULL;

	g_assert(f_subscribe(&h->n, h->n.rpc_pattern, rpc_on_message, &h->n, NULL) == 0);
	if (mape_start(h->n.mape, &err) < 0)
		g_error("start %s: %s", h->name, err->message);
}

fake_host *
fake_host_find(fake_cluster *c, const char *name)
{
	for (guint i = 0; i < c->hosts->len; i++)
		if (strcmp(((fake_host *)c->hosts->pdata[i])->name, name) == 0)
			return c->hosts->pdata[i];
	return NULL;
}

void
fake_dom_add(fake_host *h, const char *scenario, const char *vm, double cpu, uint64_t mem_mib,
    const char *const *nets)
{
	fake_dom *d = g_new0(fake_dom, 1);

	d->scenario = g_strdup(scenario);
	d->vm = g_strdup(vm);
	d->domain = g_strdup_printf("%s.%s", scenario, vm);
	d->nets = g_strdupv((char **)nets);
	d->cpu = cpu;
	d->mem_mib = mem_mib;
	g_mutex_lock(&h->c->lock);
	d->started = h->c->now;
	g_ptr_array_add(h->doms, d);
	g_mutex_unlock(&h->c->lock);
}

void
fake_container_add(fake_host *h, const char *scenario, const char *vm, double cpu,
    uint64_t mem_mib, const char *const *nets)
{
	fake_dom_add(h, scenario, vm, cpu, mem_mib, nets);
	g_mutex_lock(&h->c->lock);
	((fake_dom *)h->doms->pdata[h->doms->len - 1])->container = true;
	g_mutex_unlock(&h->c->lock);
}

bool
fake_dom_on(fake_host *h, const char *domain)
{
	bool on = false;

	g_mutex_lock(&h->c->lock);
	for (guint i = 0; i < h->doms->len; i++)
		on = on || strcmp(((fake_dom *)h->doms->pdata[i])->domain, domain) == 0;
	g_mutex_unlock(&h->c->lock);
	return on;
}

void
fake_net_add(fake_host *h, const char *scenario, const char *net, uint32_t vni,
    const char *const *remotes)
{
	int k = 0;

	while (remotes != NULL && remotes[k] != NULL)
		k++;
	g_assert(f_net_ensure((netdev *)h, scenario, net, vni, h->addr, remotes, k, 1450,
	    NULL) == 0);
}

fake_net *
fake_net_get(fake_host *h, const char *scenario, const char *net)
{
	fake_net *x;

	g_mutex_lock(&h->c->lock);
	x = net_find(h, scenario, net);
	g_mutex_unlock(&h->c->lock);
	return x;
}

bool
fake_run_until(fake_cluster *c, bool (*done)(fake_cluster *c, void *ud), void *ud,
    int timeout_ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	while (!done(c, ud)) {
		if (g_get_monotonic_time() >= end)
			return false;
		if (!g_main_context_iteration(NULL, FALSE))
			g_usleep(2000);
	}
	return true;
}

typedef struct {
	fake_host *h;
	int target;
} sample_wait;

static bool
sampled(fake_cluster *c, void *ud)
{
	sample_wait *w = ud;
	bool ok;

	g_mutex_lock(&c->lock);
	ok = w->h->samples >= w->target && !w->h->n.telemetry_busy;
	g_mutex_unlock(&c->lock);
	return ok;
}

void
fake_sample(fake_cluster *c)
{
	g_mutex_lock(&c->lock);
	c->now += 1;
	g_mutex_unlock(&c->lock);
	/* the first host (the one the tests load) last: it plans on its peers' fresh states */
	for (guint i = c->hosts->len; i-- > 0;) {
		fake_host *h = c->hosts->pdata[i];
		sample_wait w = { h, 0 };

		g_mutex_lock(&c->lock);
		w.target = h->samples + 1;
		g_mutex_unlock(&c->lock);
		telemetry_start(&h->n);
		if (!fake_run_until(c, sampled, &w, 10000))
			g_error("fake: host %s published no state", h->name);
	}
}

typedef struct {
	const char *type, *vm;
	guint from;
	json_t *found;
	guint at;
} event_wait;

static bool
event_seen(fake_cluster *c, void *ud)
{
	event_wait *w = ud;

	g_mutex_lock(&c->lock);
	for (guint i = w->from; i < c->events->len && w->found == NULL; i++) {
		json_t *e = c->events->pdata[i];

		if (g_strcmp0(json_string_value(json_object_get(e, "type")), w->type) == 0 &&
		    (w->vm == NULL || g_strcmp0(json_string_value(json_object_get(e, "vm")),
		    w->vm) == 0)) {
			w->found = e;
			w->at = i;
		}
	}
	g_mutex_unlock(&c->lock);
	return w->found != NULL;
}

json_t *
fake_event(fake_cluster *c, const char *type, const char *vm, guint *from, int timeout_ms)
{
	event_wait w = { type, vm, from != NULL ? *from : 0, NULL, 0 };

	if (!fake_run_until(c, event_seen, &w, timeout_ms))
		return NULL;
	if (from != NULL)
		*from = w.at + 1;
	return w.found;
}

guint
fake_count(fake_cluster *c, const char *type)
{
	guint k = 0;

	g_mutex_lock(&c->lock);
	for (guint i = 0; i < c->events->len; i++)
		if (g_strcmp0(json_string_value(json_object_get(c->events->pdata[i], "type")),
		    type) == 0)
			k++;
	g_mutex_unlock(&c->lock);
	return k;
}

static bool
call_done(fake_cluster *c, void *ud)
{
	pending *q = pending_get(c, ud);
	bool done;

	g_mutex_lock(&q->mu);
	done = q->done;
	g_mutex_unlock(&q->mu);
	return done;
}

json_t *
fake_rpc_as(fake_cluster *c, const char *sender, const char *host, json_t *req,
    int timeout_ms)
{
	g_autofree char *topic = topic_rpc(host, sender);
	g_autofree char *id = start_request(c, sender, topic, req);
	pending *q;

	if (!fake_run_until(c, call_done, id, timeout_ms))
		return NULL;
	q = pending_get(c, id);
	return json_incref(q->reply);
}

char *
fake_rpc_start(fake_cluster *c, const char *host, json_t *req)
{
	g_autofree char *topic = topic_rpc(host, TOPIC_OPERATOR);

	return start_request(c, TOPIC_OPERATOR, topic, req);
}

json_t *
fake_rpc_wait(fake_cluster *c, const char *id, int timeout_ms)
{
	if (!fake_run_until(c, call_done, (void *)id, timeout_ms))
		return NULL;
	return json_incref(pending_get(c, id)->reply);
}

json_t *
fake_rpc(fake_cluster *c, const char *host, json_t *req, int timeout_ms)
{
	return fake_rpc_as(c, TOPIC_OPERATOR, host, req, timeout_ms);
}
