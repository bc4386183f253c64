/* migrate: one move of a VM to another host — admission at the destination, the VM's nets
 * stretched onto it, the libvirt live migration, the clean-up of nets left unused here — and
 * running a plan's moves a few at a time */
#include "agent/mape_int.h"

#include <math.h>
#include <string.h>

#include "agent/env.h"
#include "agent/heal.h"
#include "net/netdev.h"
#include "wire/names.h"

void
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
char *
mape_fill_template(const char *tmpl, const char *addr)
{
	const char *p = strstr(tmpl, "%s");

	if (p == NULL)
		return g_strdup(tmpl);
	return g_strdup_printf("%.*s%s%s", (int)(p - tmpl), tmpl, addr, p + 2);
}

/* One scenario net of the migrating VM: the hosts carrying it (names + fabric addresses). */
typedef struct {
	char *net;
	uint32_t vni;		/* the net's VXLAN id here, or the one derived for it */
	bool derived;		/* vni derived (the net had none): used once the net spans hosts */
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

/* nets_of: the carriers of every net of VM info on this host, from the kernel (vni, FDB
 * remotes) and the peers' addresses. A net of this host only (vni 0) gets a VNI from the
 * agents' stretch range (proto_stretch_vni: no deploy is ever given one there), past the VNIs
 * of this host and dst_vnis (the destination's, from its admission; may be NULL). NULL + *why
 * when netlink fails or the stretch range is full. */
static GPtrArray *
nets_of(mape *m, const virt_dom_info *info, const json_t *dst_vnis, char **why)
{
	g_autoptr(GHashTable) used = g_hash_table_new(g_direct_hash, g_direct_equal);
	const json_t *jv;
	size_t q;
	GError *err = NULL;
	netdev *nd = m->n->env->net_open(m->n, &err);
	g_autoptr(GPtrArray) local = NULL;
	GPtrArray *out;

	if (nd == NULL || (local = m->n->env->net_list(nd, &err)) == NULL) {
		*why = g_strdup_printf("netlink: %s", err->message);
		g_error_free(err);
		m->n->env->net_close(nd);
		return NULL;
	}
	m->n->env->net_close(nd);
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
				const char *h = peer_host_of_addr(m, addr);

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
	for (guint k = 0; k < local->len; k++)
		g_hash_table_add(used, GUINT_TO_POINTER(((netdev_info *)local->pdata[k])->vni));
	json_array_foreach(dst_vnis, q, jv)
		if (json_is_integer(jv))
			g_hash_table_add(used, GUINT_TO_POINTER((guint)json_integer_value(jv)));
	for (guint i = 0; i < out->len; i++) {
		net_set *s = out->pdata[i];

		if (s->vni != 0)
			continue;
		s->vni = proto_stretch_vni(info->scenario, s->net, used);
		s->derived = true;
		if (s->vni == 0) {
			*why = g_strdup_printf("net '%s': no free VNI left in the stretch range %u..%u",
			    s->net, NUBE_VNI_STRETCH_MIN, NUBE_VNI_STRETCH_MAX);
			g_ptr_array_unref(out);
			return NULL;
		}
		g_hash_table_add(used, GUINT_TO_POINTER(s->vni));	/* two nets of one VM */
	}
	return out;
}

/* the VNI to use for a set of nhosts hosts: an agent's VNI (derived now, or from the stretch
 * range by an earlier move) only while the net spans hosts, so a net back on one host has no
 * VXLAN and no VNI again, as after its deploy; a deploy's VNI stays (the store holds it) */
static uint32_t
set_vni(const net_set *s, guint nhosts)
{
	if (s->derived || s->vni >= NUBE_VNI_STRETCH_MIN)
		return nhosts > 1 ? s->vni : 0;
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
		r = nubed_call(m->n, hosts->pdata[i], req, &e);
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
	json_t *r = nubed_call(m->n, host, json_pack("{s:s, s:s, s:s}", "op", "net-remove", "scenario",
	    scen, "net", net), why);

	json_decref(r);
	return r != NULL ? 0 : -1;
}

/* ------------------------------------------------------------------ one migration */

/* A volume on its way to dst (an image, a container's layer), for the log. */
typedef struct {
	const char *what;	/* "image 0123456789ab...", "layer of 's.c1'" */
	const char *dst;
	gint64 t0;
} send_progress;

static void
volume_sent(uint64_t sent, uint64_t total, void *ud)
{
	send_progress *p = ud;
	double s = (double)(g_get_monotonic_time() - p->t0) / G_USEC_PER_SEC;

	nubed_log(NLOG_INFO, "%s to %s: %.1f of %.1f MiB (%.1f MiB/s)", p->what, p->dst,
	    sent / 1048576.0, total / 1048576.0, s > 0 ? sent / 1048576.0 / s : 0.0);
}

/* image_to: the image-cache volume the overlay of dom sits on, on dst: asked for, sent when
 * missing (libvirt stream to its cache as "<sha256>.part"), then checked and named by dst's
 * agent. 0 (also when dom has no such image) or -1 and *why. */
static int
image_to(mape *m, virt *v, const char *dst, const char *dest_uri, const char *dom, char **why)
{
	g_autofree char *vol = m->n->env->virt_domain_image(v, dom);
	g_autofree char *sha = NULL;
	const char *fmt = NULL;

	if (vol == NULL || proto_image_volume_parse(vol, &sha, &fmt) < 0)
		return 0;	/* no overlay on a cached image */
	return mape_image_send(m, v, dst, dest_uri, sha, fmt, why);
}

int
mape_image_send(mape *m, virt *v, const char *dst, const char *dest_uri, const char *sha,
    const char *fmt, char **why)
{
	g_autofree char *what = g_strdup_printf("image %.12s...", sha);
	char *e = NULL;
	GError *err = NULL;
	json_t *r;
	send_progress pr = { what, dst, g_get_monotonic_time() };
	bool tree = strcmp(fmt, "rootfs") == 0;	/* a container's rootfs folder */

	r = nubed_call(m->n, dst, json_pack("{s:s, s:s}", "op", "image-status", "sha256", sha), &e);
	if (r == NULL) {
		*why = g_strdup_printf("image %.12s... on %s: %s", sha, dst, e);
		g_free(e);
		return -1;
	}
	if (json_is_true(json_object_get(json_object_get(r, "present"), fmt))) {
		json_decref(r);
		return 0;
	}
	json_decref(r);
	nubed_log(NLOG_INFO, "image %.12s... (%s): %s lacks it, sending it", sha, fmt, dst);
	if (tree && m->n->env->virt_rootfs_send == NULL) {
		*why = g_strdup_printf("rootfs %.12s... is not on %s, and this host cannot send it",
		    sha, dst);
		return -1;
	}
	if ((tree ? m->n->env->virt_rootfs_send(v, dest_uri, sha, volume_sent, &pr, &err) :
	    m->n->env->virt_image_send(v, dest_uri, sha, fmt, volume_sent, &pr, &err)) < 0) {
		*why = g_strdup_printf("sending image %.12s... to %s: %s", sha, dst, err->message);
		g_clear_error(&err);
		return -1;
	}
	/* a rootfs is unpacked and summed there before the answer: two minutes more */
	r = tree ? nubed_call_timeout(m->n, dst, json_pack("{s:s, s:s}", "op", "rootfs-commit",
	    "sha256", sha), (int)(m->n->cfg->bal.rpc_timeout * 1000 + 120000), &e) :
	    nubed_call(m->n, dst, json_pack("{s:s, s:s, s:s}", "op", "image-commit", "sha256", sha,
	    "format", fmt), &e);
	if (r == NULL) {
		*why = g_strdup_printf("image %.12s... on %s: %s", sha, dst, e);
		g_free(e);
		return -1;
	}
	json_decref(r);
	nubed_event(m->n, "image-sent", NULL, NULL, json_pack("{s:s, s:s, s:s, s:f}", "sha256", sha,
	    "format", fmt, "dst", dst, "seconds", (double)(g_get_monotonic_time() - pr.t0) /
	    G_USEC_PER_SEC), "image %.12s... (%s) sent to %s in %.1f s", sha, fmt, dst,
	    (double)(g_get_monotonic_time() - pr.t0) / G_USEC_PER_SEC);
	return 0;
}

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

/* release: tell dst the migration of dom ended (ok or not); when it arrived, its entry of
 * the heal record goes with it (heal.h) */
static void
release_at(mape *m, const char *dst, const char *dom, bool ok)
{
	char *e = NULL;
	json_t *entry = ok ? heal_record_take(m->n, dom) : NULL;
	json_t *r = nubed_call(m->n, dst, json_pack("{s:s, s:s, s:b, s:o?}", "op", "release", "vm",
	    dom, "ok", ok, "heal", entry), &e);

	if (r == NULL) {
		nubed_log(NLOG_WARN, "release of '%s' at %s: %s", dom, dst, e);
		g_free(e);
	}
	json_decref(r);
}

#define COLD_UNPACK_MIB_S	10	/* the slowest a destination may hash + unpack a layer */

/* what a cold move measured (ms, bytes) */
typedef struct {
	int64_t interruption_ms;	/* stop asked here .. running on the destination */
	int64_t stop_ms, pack_ms, copy_ms, start_ms;
	uint64_t bytes;
} cold_stats;

/* rootfs_to: container dom's rootfs (by content) in dst's cache afterwards: asked for, else
 * sent from this host's copy and checked there (rootfs-commit). 0 (also when it has no
 * rootfs by content) or -1 + *why. */
static int
rootfs_to(mape *m, virt *v, const char *dst, const char *dest_uri, const char *dom, char **why)
{
	const agent_env *env = m->n->env;
	g_autofree char *sha = env->virt_lxc_rootfs_sha256 ? env->virt_lxc_rootfs_sha256(v, dom) :
	    NULL;

	return sha == NULL ? 0 : mape_image_send(m, v, dst, dest_uri, sha, "rootfs", why);
}

/* cold_move: a container's move, its nets ready on the destination: stopped and packed here
 * (virt_cold_out), its layer sent over libvirt (virt_volume_send), started there (the
 * destination's cold-receive op), removed here. On any failure it runs here again
 * (virt_cold_back) and *restarted says whether that worked. 0 + cs, or -1 + *why. */
static int
cold_move(mape *m, virt *v, const balance_move *mv, const char *scenario, const char *dest_uri,
    cold_stats *cs, bool *restarted, char **why)
{
	const agent_env *env = m->n->env;
	virt_cold c = { 0 };
	GError *err = NULL;
	gint64 t0 = g_get_monotonic_time(), t1;
	g_autofree char *what = g_strdup_printf("layer of '%s'", mv->vm);
	send_progress pr = { what, mv->dst, 0 };
	char *e = NULL;
	json_t *r;

	*restarted = false;
	if (env->virt_cold_out == NULL || env->virt_cold_back == NULL ||
	    env->virt_volume_send == NULL) {
		*why = g_strdup("this host cannot move containers");
		return -1;
	}
	/* its rootfs by content, while it still runs: the destination layers it on its copy */
	if (rootfs_to(m, v, mv->dst, dest_uri, mv->vm, why) < 0)
		return -1;
	if (env->virt_cold_out(v, mv->vm, (int)ceil(m->mc.cold_stop_grace), &c, &err) < 0) {
		*why = g_strdup(err->message);
		goto back;
	}
	cs->stop_ms = c.stop_ms;
	cs->pack_ms = c.pack_ms;
	cs->bytes = c.bytes;
	t1 = pr.t0 = g_get_monotonic_time();
	if (env->virt_volume_send(v, dest_uri, c.volume, volume_sent, &pr, &err) < 0) {
		*why = g_strdup_printf("sending the layer to %s: %s", mv->dst, err->message);
		goto back;
	}
	cs->copy_ms = (g_get_monotonic_time() - t1) / 1000;
	t1 = g_get_monotonic_time();
	/* the destination hashes and unpacks the layer before it answers: [balance] rpc-timeout
	 * plus a second per COLD_UNPACK_MIB_S MiB of it (a late answer would leave the container
	 * started on both hosts: this one starts it again when the answer does not come) */
	r = nubed_call_timeout(m->n, mv->dst, json_pack("{s:s, s:s, s:s?, s:s, s:s}", "op",
	    "cold-receive", "vm", mv->vm, "scenario", scenario, "xml", c.xml, "sha256", c.sha256),
	    (int)(m->n->cfg->bal.rpc_timeout * 1000 + c.bytes / (COLD_UNPACK_MIB_S * 1048576.0) *
	    1000), &e);
	if (r == NULL) {
		*why = g_strdup_printf("%s did not start it: %s", mv->dst, e);
		g_free(e);
		goto back;
	}
	json_decref(r);
	cs->start_ms = (g_get_monotonic_time() - t1) / 1000;
	cs->interruption_ms = (g_get_monotonic_time() - t0) / 1000;
	/* gone from here: domain, layer, the tar */
	if (env->virt_destroy_undefine(v, mv->vm, &err) < 0) {
		nubed_log(NLOG_WARN, "cold move of '%s': removing it here: %s", mv->vm, err->message);
		g_clear_error(&err);
	}
	virt_cold_clear(&c);
	return 0;
back:
	g_clear_error(&err);
	if (env->virt_cold_back(v, mv->vm, &err) < 0) {
		nubed_log(NLOG_WARN, "cold move of '%s': it does not run here again: %s", mv->vm,
		    err->message);
		g_clear_error(&err);
	} else
		*restarted = true;
	virt_cold_clear(&c);
	return -1;
}

/* move_run: admission, networks, live migration, cleanup for one move. Fills t->res. */
static void
move_run(mape *m, move_task *t)
{
	const balance_move *mv = t->mv;
	exec_job *job = t->job;
	move_result *res = t->res;
	g_autofree char *addr = NULL, *dest_uri = NULL, *mig_uri = NULL, *e = NULL;
	g_autofree char *cold_why = NULL;
	cold_stats cs = { 0 };
	bool restarted = false;
	g_autoptr(GPtrArray) list = NULL, nets = NULL, after = NULL;
	const virt_dom_info *info;
	const char *vm;		/* the VM's name in the scenario (events), mv->vm is its domain */
	virt_migrate_stats stats = { 0 };
	GError *err = NULL;
	virt *v = NULL;
	double t_after;
	json_t *r;

	res->status = MOVE_FAILED;
	addr = peer_fabric_addr(m, mv->dst);
	if (addr == NULL) {
		res->status = MOVE_REFUSED;
		res->why = g_strdup_printf("no fabric address known for %s", mv->dst);
		return;
	}
	v = nubed_virt_open(m->n, &err);
	if (v == NULL || (list = m->n->env->virt_list(v, &err)) == NULL) {
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
	vm = info->vm != NULL ? info->vm : mv->vm;

	/* 1. admission at the destination */
	r = nubed_call(m->n, mv->dst, json_pack("{s:s, s:s, s:s?, s:f, s:f, s:f, s:b}", "op", "admit",
	    "vm", mv->vm, "scenario", info->scenario, "cpu", mv->cpu,
	    "load_generated", mv->load_generated, "mem", mv->mem, "force", job->force), &e);
	if (r == NULL || !json_is_true(json_object_get(r, "admitted"))) {
		res->status = MOVE_REFUSED;
		res->why = g_strdup_printf("%s refused: %s", mv->dst, r != NULL ?
		    (jstr(r, "reason") != NULL ? jstr(r, "reason") : "no reason") : e);
		json_decref(r);
		if (r == NULL)	/* no answer: the destination's own refuse event is missing */
			nubed_event(m->n, "refuse", info->scenario, vm, json_pack("{s:s, s:s, s:s, "
			    "s:s}", "src", m->n->cfg->host, "dst", mv->dst, "domain", mv->vm, "reason",
			    e), "%s did not admit '%s': %s", mv->dst, mv->vm, e);
		goto out;
	}

	dest_uri = mape_fill_template(m->n->cfg->migrate_uri_template, addr);

	/* 2. the image its disk sits on, on the destination (sent once, checked there) */
	if (image_to(m, v, mv->dst, dest_uri, mv->vm, &res->why) < 0) {
		json_decref(r);
		nubed_event(m->n, "migrate-failed", info->scenario, vm, json_pack("{s:s, s:s, s:s, "
		    "s:s}", "src", m->n->cfg->host, "dst", mv->dst, "domain", mv->vm, "error",
		    res->why), "'%s' not moved to %s: %s", mv->vm, mv->dst, res->why);
		release_at(m, mv->dst, mv->vm, false);
		goto out;
	}

	/* 3. the VM's nets on the destination (and the destination in every carrier's FDB) */
	nets = nets_of(m, info, json_object_get(r, "vnis"), &res->why);
	json_decref(r);
	if (nets == NULL) {
		nubed_event(m->n, "migrate-failed", info->scenario, vm, json_pack("{s:s, s:s, s:s, "
		    "s:s}", "src", m->n->cfg->host, "dst", mv->dst, "domain", mv->vm, "error",
		    res->why), "'%s' not moved to %s: %s", mv->vm, mv->dst, res->why);
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
			nubed_event(m->n, "migrate-failed", info->scenario, vm, json_pack("{s:s, s:s,"
			    " s:s, s:s}", "src", m->n->cfg->host, "dst", mv->dst, "domain", mv->vm,
			    "error", res->why),
			    "'%s' not moved to %s: preparing its nets failed: %s", mv->vm, mv->dst,
			    res->why);
			release_at(m, mv->dst, mv->vm, false);
			goto out;
		}
	}

	/* 4. live migration, or for a container a cold move */
	g_mutex_lock(&m->lock);
	g_hash_table_add(m->busy, g_strdup(mv->vm));
	g_mutex_unlock(&m->lock);
	res->cold = info->container;
	nubed_event(m->n, "migrate-start", info->scenario, vm, json_pack("{s:s, s:s, s:s, s:s?, "
	    "s:b}", "src", m->n->cfg->host, "dst", mv->dst, "domain", mv->vm, "why", mv->why, "cold",
	    info->container), "%s '%s' to %s: %s", info->container ? "moving (cold: stop, copy, "
	    "start)" : "migrating", mv->vm, mv->dst, mv->why != NULL ? mv->why : "");
	mig_uri = g_strdup_printf("tcp://%s", addr);
	if (info->container ? cold_move(m, v, mv, info->scenario, dest_uri, &cs, &restarted,
	    &cold_why) < 0 : m->n->env->virt_migrate(v, mv->vm, dest_uri, mig_uri, &stats, &err) < 0) {
		const char *what = info->container ? cold_why : err->message;

		res->why = g_strdup_printf("%s failed: %s", info->container ? "cold move" :
		    "migration", what);
		g_mutex_lock(&m->lock);
		g_hash_table_remove(m->busy, mv->vm);
		g_mutex_unlock(&m->lock);
		if (info->container)
			nubed_event(m->n, "migrate-failed", info->scenario, vm, json_pack("{s:s, s:s, "
			    "s:s, s:s, s:b, s:b}", "src", m->n->cfg->host, "dst", mv->dst, "domain",
			    mv->vm, "error", what, "cold", true, "restarted", restarted),
			    "cold move of '%s' to %s failed, %s: %s", mv->vm, mv->dst, restarted ?
			    "it runs here again" : "IT DOES NOT RUN HERE AGAIN", what);
		else
			nubed_event(m->n, "migrate-failed", info->scenario, vm, json_pack("{s:s, s:s, "
			    "s:s, s:s}", "src", m->n->cfg->host, "dst", mv->dst, "domain", mv->vm,
			    "error", what),
			    "'%s' to %s failed, it keeps running here: %s", mv->vm, mv->dst, what);
		release_at(m, mv->dst, mv->vm, false);
		/* undo the network change: the old carrier lists, no net left on dst */
		for (guint i = 0; i < nets->len; i++) {
			net_set *s = nets->pdata[i];
			char *e2 = NULL;

			if (str_index(s->hosts, mv->dst) >= 0)
				continue;
			if (net_ensure_all(m, info->scenario, s, s->hosts, s->addrs, &e2) < 0 ||
			    net_remove_on(m, mv->dst, info->scenario, s->net, &e2) < 0)
				nubed_log(NLOG_WARN, "undo nets of '%s': %s", mv->vm, e2);
			g_free(e2);
		}
		goto out;
	}
	g_mutex_lock(&m->lock);
	g_hash_table_remove(m->busy, mv->vm);
	if (g_hash_table_remove(m->moved, mv->vm))
		mape_persist(m);
	m->n_ok++;	/* counted before the event: a state read after it includes the move */
	g_mutex_unlock(&m->lock);
	res->status = MOVE_OK;
	if (info->container) {
		res->duration_ms = res->downtime_ms = cs.interruption_ms;
		nubed_event(m->n, "moved-cold", info->scenario, vm, json_pack("{s:s, s:s, s:s, s:I, "
		    "s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:s?}", "src", m->n->cfg->host,
		    "dst", mv->dst, "domain", mv->vm, "interruption_ms",
		    (json_int_t)cs.interruption_ms, "stop_ms", (json_int_t)cs.stop_ms, "pack_ms",
		    (json_int_t)cs.pack_ms, "copy_ms", (json_int_t)cs.copy_ms, "start_ms",
		    (json_int_t)cs.start_ms, "layer_bytes", (json_int_t)cs.bytes,
		    "src_load_after", mv->src_load_after, "dst_load_after", mv->dst_load_after,
		    "src_load_before", mv->src_load_before, "dst_load_before", mv->dst_load_before,
		    "why", mv->why),
		    "'%s' moved cold to %s: interrupted %lld ms (stop %lld, pack %lld, copy %lld of "
		    "%.1f KiB, start %lld)", mv->vm, mv->dst, (long long)cs.interruption_ms,
		    (long long)cs.stop_ms, (long long)cs.pack_ms, (long long)cs.copy_ms,
		    cs.bytes / 1024.0, (long long)cs.start_ms);
	} else {
		res->duration_ms = stats.duration_ms;
		res->downtime_ms = stats.downtime_ms;
		nubed_event(m->n, "migrated", info->scenario, vm, json_pack("{s:s, s:s, s:s, s:I, "
		    "s:I, s:I, s:f, s:f, s:f, s:f, s:s?}", "src", m->n->cfg->host, "dst", mv->dst,
		    "domain", mv->vm, "duration_ms", (json_int_t)stats.duration_ms, "downtime_ms",
		    (json_int_t)stats.downtime_ms, "data_bytes", (json_int_t)stats.data_bytes,
		    "src_load_after", mv->src_load_after, "dst_load_after", mv->dst_load_after,
		    "src_load_before", mv->src_load_before, "dst_load_before", mv->dst_load_before,
		    "why", mv->why),
		    "'%s' moved to %s in %lld ms (downtime %lld ms)", mv->vm, mv->dst,
		    (long long)stats.duration_ms, (long long)stats.downtime_ms);
	}
	release_at(m, mv->dst, mv->vm, true);

	/* 5. nets no VM here needs any more: drop here, and from the others' FDB */
	t_after = nubed_now(m->n);
	after = m->n->env->virt_list(v, &err);
	if (after != NULL)	/* status no longer shows it here */
		nubed_doms_put(m->n, after, t_after);
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
			nubed_log(NLOG_WARN, "cleanup of net '%s': %s", s->net, e3);
		else
			nubed_event(m->n, "net-cleanup", info->scenario, NULL, json_pack("{s:s, s:i}",
			    "net", s->net, "hosts", (int)h3->len),
			    "net '%s' left this host; %u host(s) carry it now", s->net, h3->len);
		g_free(e3);
	}
out:
	g_clear_error(&err);
	if (v != NULL)
		m->n->env->virt_close(v);
}

static gpointer
move_thread(gpointer p)
{
	move_task *t = p;
	mape *m = t->job->m;

	move_run(m, t);
	if (t->res->status != MOVE_OK)
		nubed_log(NLOG_WARN, "'%s' not moved to %s: %s", t->res->vm, t->res->dst,
		    t->res->why != NULL ? t->res->why : "?");
	g_mutex_lock(&m->lock);
	if (t->res->status == MOVE_OK)
		;	/* counted by move_run, before its migrated event */
	else if (t->res->status == MOVE_REFUSED)
		m->n_refused++;
	else
		m->n_failed++;
	g_assert(m->running > 0);
	m->running--;
	g_cond_broadcast(&m->cond);
	g_mutex_unlock(&m->lock);
	g_free(t);
	return NULL;
}

int
migrate_moves(exec_job *job, const balance_plan *plan)
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
		mape_progress(m, job->reply_to, "moving '%s' to %s", mv->vm, mv->dst);
		g_ptr_array_add(threads, g_thread_new("migrate", move_thread, t));
	}
	for (guint i = 0; i < threads->len; i++)
		g_thread_join(threads->pdata[i]);
	g_ptr_array_unref(threads);
	for (guint i = first; i < job->results->len; i++) {
		const move_result *r = job->results->pdata[i];

		if (r->status == MOVE_OK) {
			ok++;
			mape_progress(m, job->reply_to, r->cold ? "'%s' moved cold to %s: interrupted "
			    "%lld ms" : "'%s' moved to %s in %lld ms (downtime %lld ms)", r->vm, r->dst,
			    (long long)r->duration_ms, (long long)r->downtime_ms);
		} else
			mape_progress(m, job->reply_to, "'%s' not moved: %s", r->vm, r->why);
	}
	return ok;
}

json_t *
migrate_results_json(const exec_job *job)
{
	json_t *a = json_array();

	for (guint i = 0; i < job->results->len; i++) {
		const move_result *r = job->results->pdata[i];

		json_array_append_new(a, json_pack("{s:s, s:s?, s:s, s:s, s:s?, s:I, s:I, s:b}", "vm",
		    r->vm, "scenario", r->scenario, "dst", r->dst, "status",
		    r->status == MOVE_OK ? "moved" : r->status == MOVE_REFUSED ? "refused" :
		    "failed", "why", r->why, "duration_ms", (json_int_t)r->duration_ms,
		    "downtime_ms", (json_int_t)r->downtime_ms, "cold", r->cold));
	}
	return a;
}

