/* heal: self-healing — this host's heal record, the healer's job, the destination's "heal" op,
 * the start-up fencing of stale copies (heal.h) */
#include "agent/heal.h"

#include <errno.h>
#include <string.h>

#include "agent/env.h"
#include "agent/mape_int.h"
#include "agent/rpc.h"
#include "balance/heal.h"
#include "wire/names.h"
#include "wire/topic.h"

#define FENCE_WAIT_S	3	/* after the broker connection: the peers' retained records */
#define DEFAULT_MEM_MIB	128	/* a VM's memory when the gone host's last state lacks it */

/* ------------------------------------------------------------------ the record */

void
heal_record_load(nubed *n)
{
	g_autofree char *path = nubed_state_path(n, HEAL_FILE);
	json_error_t je;
	json_t *j;

	if (!g_file_test(path, G_FILE_TEST_EXISTS))
		return;
	j = json_load_file(path, 0, &je);
	if (!json_is_object(j) || !json_is_object(json_object_get(j, "vms")) ||
	    !json_is_object(json_object_get(j, "scenarios"))) {
		nubed_log(NLOG_WARN, "heal record %s ignored: %s", path, j == NULL ? je.text :
		    "not a heal record");
		json_decref(j);
		return;
	}
	if (!json_is_object(json_object_get(j, "healed")))
		json_object_set_new(j, "healed", json_object());
	json_object_del(j, "host");
	json_object_del(j, "ts");
	g_mutex_lock(&n->heal_lock);
	json_decref(n->heal_rec);
	n->heal_rec = j;
	g_mutex_unlock(&n->heal_lock);
}

void
heal_record_publish(nubed *n)
{
	g_autofree char *path = nubed_state_path(n, HEAL_FILE);
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *text = NULL;
	GError *err = NULL;
	json_t *j;

	g_mutex_lock(&n->heal_lock);
	j = json_deep_copy(n->heal_rec);
	g_mutex_unlock(&n->heal_lock);
	json_object_set_new(j, "host", json_string(n->cfg->host));
	json_object_set_new(j, "ts", json_integer(n->env->wall_ms(n)));
	text = json_dumps(j, JSON_COMPACT);
	if (text != NULL && strlen(text) > PROTO_MAX_MESSAGE)
		nubed_log(NLOG_WARN, "heal record of %.1f MiB exceeds the message limit: the "
		    "broker refuses it, this host's VMs cannot be healed", strlen(text) / 1048576.0);
	if (text != NULL && (g_mkdir_with_parents(dir, 0700) < 0 ||
	    !g_file_set_contents(path, text, -1, &err))) {
		nubed_log(NLOG_WARN, "heal record not kept in %s: %s", dir, err != NULL ?
		    err->message : g_strerror(errno));
		g_clear_error(&err);
	}
	n->env->publish(n, n->heal_topic, j, true);
}

/* scenario_used: some entry of rec is of scenario (under heal_lock) */
static bool
scenario_used(const json_t *rec, const char *scenario)
{
	const char *dom;
	json_t *e;

	json_object_foreach(json_object_get(rec, "vms"), dom, e)
		if (g_strcmp0(json_string_value(json_object_get(e, "scenario")), scenario) == 0)
			return true;
	return false;
}

void
heal_record_deployed(nubed *n, const json_t *dj, const char *vm, const char *const *nets,
    json_int_t gen)
{
	const char *scen = json_string_value(json_object_get(dj, "scenario"));
	g_autofree char *dom = NULL;
	json_t *place = NULL, *jn = json_array(), *x;
	size_t i;

	if (scen == NULL)
		return;
	dom = proto_domain_name(scen, vm);
	json_array_foreach(json_object_get(dj, "vms"), i, x)
		if (g_strcmp0(json_string_value(json_object_get(x, "vm")), vm) == 0)
			place = x;
	json_array_foreach(json_object_get(dj, "nets"), i, x)
		for (size_t k = 0; nets != NULL && nets[k] != NULL; k++)
			if (g_strcmp0(json_string_value(json_object_get(x, "net")), nets[k]) == 0)
				json_array_append(jn, x);
	if (place == NULL) {
		json_decref(jn);
		return;
	}
	g_mutex_lock(&n->heal_lock);
	json_object_set_new(json_object_get(n->heal_rec, "scenarios"), scen, json_pack("{s:O?, "
	    "s:O?}", "spec", json_object_get(dj, "spec"), "algorithm",
	    json_object_get(dj, "algorithm")));
	json_object_set_new(json_object_get(n->heal_rec, "vms"), dom, json_pack("{s:s, s:s, s:I, "
	    "s:O, s:o}", "scenario", scen, "vm", vm, "gen", gen, "place", place, "nets", jn));
	g_mutex_unlock(&n->heal_lock);
}

void
heal_record_drop_scenario(nubed *n, const char *scenario)
{
	json_t *vms, *e;
	const char *dom;
	void *tmp;

	g_mutex_lock(&n->heal_lock);
	vms = json_object_get(n->heal_rec, "vms");
	json_object_foreach_safe(vms, tmp, dom, e)
		if (g_strcmp0(json_string_value(json_object_get(e, "scenario")), scenario) == 0)
			json_object_del(vms, dom);
	json_object_del(json_object_get(n->heal_rec, "scenarios"), scenario);
	g_mutex_unlock(&n->heal_lock);
	heal_record_publish(n);
}

json_t *
heal_record_take(nubed *n, const char *domain)
{
	json_t *e, *sc;
	const char *scen;

	g_mutex_lock(&n->heal_lock);
	/* the handed-over copy carries the spec */
	e = json_deep_copy(json_object_get(json_object_get(n->heal_rec, "vms"), domain));
	if (e != NULL) {
		json_object_del(json_object_get(n->heal_rec, "vms"), domain);
		scen = json_string_value(json_object_get(e, "scenario"));
		sc = json_object_get(json_object_get(n->heal_rec, "scenarios"), scen);
		json_object_set(e, "spec", json_object_get(sc, "spec"));
		json_object_set(e, "algorithm", json_object_get(sc, "algorithm"));
		if (!scenario_used(n->heal_rec, scen))
			json_object_del(json_object_get(n->heal_rec, "scenarios"), scen);
	}
	g_mutex_unlock(&n->heal_lock);
	if (e != NULL)
		heal_record_publish(n);
	return e;
}

void
heal_record_give(nubed *n, const char *domain, const json_t *entry)
{
	const char *scen = json_string_value(json_object_get(entry, "scenario"));
	json_t *e;

	if (scen == NULL || !json_is_string(json_object_get(entry, "spec")) ||
	    !json_is_object(json_object_get(entry, "place"))) {
		nubed_log(NLOG_WARN, "heal record: the entry handed over for '%s' is malformed", domain);
		return;
	}
	e = json_deep_copy(entry);
	g_mutex_lock(&n->heal_lock);
	json_object_set_new(json_object_get(n->heal_rec, "scenarios"), scen, json_pack("{s:O, s:O?}",
	    "spec", json_object_get(entry, "spec"), "algorithm", json_object_get(entry,
	    "algorithm")));
	json_object_del(e, "spec");
	json_object_del(e, "algorithm");
	json_object_set_new(json_object_get(n->heal_rec, "vms"), domain, e);
	g_mutex_unlock(&n->heal_lock);
	heal_record_publish(n);
}

json_t *
heal_deployment(const json_t *rec, const char *domain, const char *gone, const char *dst,
    const char *dst_addr)
{
	const json_t *e = json_object_get(json_object_get(rec, "vms"), domain), *np;
	const char *scen = json_string_value(json_object_get(e, "scenario"));
	const json_t *sc = json_object_get(json_object_get(rec, "scenarios"), scen);
	json_t *place, *nets = json_array();
	size_t i;

	if (scen == NULL || !json_is_string(json_object_get(sc, "spec")) ||
	    !json_is_object(json_object_get(e, "place"))) {
		json_decref(nets);
		return NULL;
	}
	place = json_deep_copy(json_object_get(e, "place"));
	json_object_set_new(place, "host", json_string(dst));
	json_array_foreach(json_object_get(e, "nets"), i, np) {
		const json_t *hosts = json_object_get(np, "hosts"), *addrs = json_object_get(np,
		    "addrs"), *h;
		json_t *n2 = json_deep_copy(np), *h2 = json_array(), *a2 = json_array();
		size_t k;

		json_array_foreach(hosts, k, h) {
			const char *hn = json_string_value(h);

			if (hn == NULL || g_strcmp0(hn, gone) == 0 || g_strcmp0(hn, dst) == 0)
				continue;
			json_array_append(h2, (json_t *)h);
			json_array_append(a2, json_array_get(addrs, k) != NULL ?
			    json_array_get(addrs, k) : json_null());
		}
		json_array_append_new(h2, json_string(dst));
		json_array_append_new(a2, json_string(dst_addr));
		json_object_set_new(n2, "hosts", h2);
		json_object_set_new(n2, "addrs", a2);
		json_array_append_new(nets, n2);
	}
	return json_pack("{s:s, s:O, s:O?, s:[o], s:o}", "scenario", scen, "spec",
	    json_object_get(sc, "spec"), "algorithm", json_object_get(sc, "algorithm"), "vms",
	    place, "nets", nets);
}

/* ------------------------------------------------------------------ records of the peers */

void
heal_on_record(bus *b, const bus_msg *msg, void *ud)
{
	mape *m = ud;
	g_autofree char *h = topic_host_parse(msg->topic, "heal");
	json_t *j = NULL;
	peer *p;

	(void)b;
	if (h == NULL)
		return;
	if (msg->len > 0) {
		j = json_loadb(msg->payload, (size_t)msg->len, 0, NULL);
		if (!json_is_object(j) || g_strcmp0(json_string_value(json_object_get(j, "host")),
		    h) != 0 || !json_is_object(json_object_get(j, "vms"))) {
			nubed_log(NLOG_DEBUG, "heal record of '%s' ignored: malformed", h);
			json_decref(j);
			return;
		}
	}
	g_mutex_lock(&m->lock);
	p = g_hash_table_lookup(m->peers, h);
	if (p == NULL) {
		p = g_new0(peer, 1);
		g_hash_table_replace(m->peers, g_strdup(h), p);
	}
	json_decref(p->heal);
	p->heal = j;
	g_mutex_unlock(&m->lock);
}

/* claimed_gen: the highest generation any record but gone's and skip's gives domain: the
 * peers' (under m->lock) and this host's own */
static json_int_t
claimed_gen(mape *m, const char *domain, const char *gone, const char *skip)
{
	GHashTableIter it;
	gpointer key, val;
	json_int_t best = 0, g;

	g_hash_table_iter_init(&it, m->peers);
	while (g_hash_table_iter_next(&it, &key, &val)) {
		const peer *p = val;

		if (g_strcmp0(key, gone) == 0 || g_strcmp0(key, skip) == 0 ||
		    g_strcmp0(key, m->n->cfg->host) == 0 || p->heal == NULL)
			continue;
		g = json_integer_value(json_object_get(json_object_get(json_object_get(p->heal,
		    "vms"), domain), "gen"));
		best = MAX(best, g);
	}
	if (g_strcmp0(m->n->cfg->host, skip) != 0) {
		g_mutex_lock(&m->n->heal_lock);
		g = json_integer_value(json_object_get(json_object_get(json_object_get(
		    m->n->heal_rec, "vms"), domain), "gen"));
		g_mutex_unlock(&m->n->heal_lock);
		best = MAX(best, g);
	}
	return best;
}

/* done_by_someone: some record marks gone's record (its "ts") as healed (under m->lock) */
static bool
done_by_someone(mape *m, const char *gone, const json_t *rec)
{
	json_t *ts = json_object_get(rec, "ts");
	GHashTableIter it;
	gpointer key, val;
	bool done;

	g_hash_table_iter_init(&it, m->peers);
	while (g_hash_table_iter_next(&it, &key, &val)) {
		const peer *p = val;

		if (p->heal != NULL && json_equal(json_object_get(json_object_get(p->heal, "healed"),
		    gone), ts))
			return true;
	}
	g_mutex_lock(&m->n->heal_lock);
	done = json_equal(json_object_get(json_object_get(m->n->heal_rec, "healed"), gone), ts);
	g_mutex_unlock(&m->n->heal_lock);
	return done;
}

/* ------------------------------------------------------------------ the healer */

typedef struct {
	mape *m;
	char *gone;
} heal_ctx;

static void
job_end(mape *m)
{
	g_mutex_lock(&m->lock);
	m->heal_jobs--;
	g_cond_broadcast(&m->cond);
	g_mutex_unlock(&m->lock);
}

/* call: nubed_call, the reply dropped; 0 or -1 + *why */
static int
call(mape *m, const char *host, json_t *req, char **why)
{
	json_t *r = nubed_call(m->n, host, req, why);

	json_decref(r);
	return r != NULL ? 0 : -1;
}

/* carrier_addr: the fabric address of host (this one or a peer with a state), g_free */
static char *
carrier_addr(mape *m, const char *host)
{
	if (strcmp(host, m->n->cfg->host) == 0)
		return g_strdup(m->n->cfg->fabric_addr);
	return peer_fabric_addr(m, host);
}

/* image_on: the image of a VM (sha256, format; "rootfs": a container's rootfs folder) on dst,
 * sent from this host's cache when dst lacks it; 0 or -1 + *why */
static int
image_on(mape *m, const char *dst, const char *sha, const char *fmt, char **why)
{
	g_autofree char *addr = carrier_addr(m, dst), *uri = NULL;
	GError *err = NULL;
	virt *v;
	int rc;

	if (sha == NULL || fmt == NULL)
		return 0;
	if (addr == NULL) {
		*why = g_strdup_printf("no fabric address known for %s", dst);
		return -1;
	}
	v = nubed_virt_open(m->n, &err);
	if (v == NULL) {
		*why = g_strdup_printf("libvirt: %s", err->message);
		g_error_free(err);
		return -1;
	}
	uri = mape_fill_template(m->n->cfg->migrate_uri_template, addr);
	rc = mape_image_send(m, v, dst, uri, sha, fmt, why);
	m->n->env->virt_close(v);
	return rc;
}

/* heal_one: restart domain of gone's record rec on the best destination that admits it; the
 * destination's name (g_free) or NULL + *why */
static char *
heal_one(mape *m, const json_t *rec, const char *gone, const char *domain, double cpu, double mem,
    GHashTable *net_dst, char **why)
{
	const json_t *e = json_object_get(json_object_get(rec, "vms"), domain), *np;
	const char *scen = json_string_value(json_object_get(e, "scenario"));
	json_int_t gen = json_integer_value(json_object_get(e, "gen")) + 1;
	const json_t *image = json_object_get(json_object_get(e, "place"), "image");
	const json_t *rootfs = json_object_get(json_object_get(e, "place"), "rootfs");
	g_autoptr(GPtrArray) cands = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GString) refused = g_string_new(NULL);
	size_t i;
	view v;

	/* destinations: a host that already took a VM of a local net of this one first (a net
	 * without VXLAN cannot span hosts), then by load */
	json_array_foreach(json_object_get(e, "nets"), i, np) {
		g_autofree char *key = g_strdup_printf("%s/%s", scen,
		    json_string_value(json_object_get(np, "net")));
		const char *d = g_hash_table_lookup(net_dst, key);

		if (d != NULL && json_integer_value(json_object_get(np, "vni")) == 0 &&
		    !rpc_strv_has(cands, d))
			g_ptr_array_add(cands, g_strdup(d));
	}
	g_mutex_lock(&m->lock);
	if (peer_view_build(m, &v, true, false)) {
		size_t *order = g_new(size_t, v.n), k = heal_rank(v.hosts, v.n, mem, order);

		for (size_t q = 0; q < k; q++)
			if (!rpc_strv_has(cands, v.hosts[order[q]].name))
				g_ptr_array_add(cands, g_strdup(v.hosts[order[q]].name));
		g_free(order);
		peer_view_clear(&v);
	}
	g_mutex_unlock(&m->lock);
	for (guint c = 0; c < cands->len; c++) {
		const char *dst = cands->pdata[c];
		json_t *r;
		char *e2 = NULL;

		if (strcmp(dst, gone) == 0)
			continue;
		r = nubed_call(m->n, dst, json_pack("{s:s, s:s, s:s, s:f, s:f, s:f}", "op", "admit",
		    "vm", domain, "scenario", scen, "cpu", cpu, "load_generated", -1.0, "mem", mem),
		    &e2);
		if (r == NULL || !json_is_true(json_object_get(r, "admitted"))) {
			g_string_append_printf(refused, "%s%s: %s", refused->len ? "; " : "", dst,
			    r != NULL ? (jstr(r, "reason") != NULL ? jstr(r, "reason") : "refused") : e2);
			json_decref(r);
			g_free(e2);
			continue;
		}
		json_decref(r);
		/* its image (or a container's rootfs) by content: sent from this host's cache when
		 * dst lacks it */
		if (strcmp(dst, m->n->cfg->host) != 0 && ((image != NULL && image_on(m, dst,
		    jstr(image, "sha256"), jstr(image, "format"), &e2) < 0) || (rootfs != NULL &&
		    image_on(m, dst, jstr(rootfs, "sha256"), "rootfs", &e2) < 0))) {
			g_string_append_printf(refused, "%s%s: %s", refused->len ? "; " : "", dst, e2);
			g_clear_pointer(&e2, g_free);
			call(m, dst, json_pack("{s:s, s:s, s:b}", "op", "release", "vm", domain, "ok",
			    0), &e2);
			g_free(e2);
			continue;
		}
		if (call(m, dst, json_pack("{s:s, s:s, s:s, s:I}", "op", "heal", "host", gone,
		    "domain", domain, "gen", gen), &e2) < 0) {
			g_string_append_printf(refused, "%s%s: %s", refused->len ? "; " : "", dst, e2);
			g_free(e2);
			e2 = NULL;
			call(m, dst, json_pack("{s:s, s:s, s:b}", "op", "release", "vm", domain, "ok",
			    0), &e2);
			g_free(e2);
			continue;
		}
		if (call(m, dst, json_pack("{s:s, s:s, s:b}", "op", "release", "vm", domain, "ok", 1),
		    &e2) < 0) {
			nubed_log(NLOG_WARN, "heal: release of '%s' at %s: %s", domain, dst, e2);
			g_clear_pointer(&e2, g_free);
		}
		/* the other carriers of its nets forward to dst instead of the gone host */
		{
			g_autofree char *addr = carrier_addr(m, dst);
			json_t *dep = heal_deployment(rec, domain, gone, dst, addr != NULL ? addr :
			    "");

			json_array_foreach(json_object_get(dep, "nets"), i, np) {
				const char *net = json_string_value(json_object_get(np, "net"));
				json_int_t vni = json_integer_value(json_object_get(np, "vni"));
				g_autofree char *key = g_strdup_printf("%s/%s", scen, net);
				json_t *hs = json_array(), *as = json_array(), *h;
				size_t k;

				if (!g_hash_table_contains(net_dst, key))
					g_hash_table_insert(net_dst, g_strdup(key), g_strdup(dst));
				if (vni == 0)
					continue;
				/* the carriers that are there: this host and peers with a state */
				json_array_foreach(json_object_get(np, "hosts"), k, h) {
					g_autofree char *a = carrier_addr(m, json_string_value(h));

					if (a == NULL)
						continue;
					json_array_append(hs, h);
					json_array_append_new(as, json_string(a));
				}
				json_array_foreach(hs, k, h) {
					if (g_strcmp0(json_string_value(h), dst) == 0)
						continue;	/* made by its deploy */
					if (call(m, json_string_value(h), json_pack("{s:s, s:s, s:s, "
					    "s:I, s:b, s:O, s:O}", "op", "net-ensure", "scenario", scen,
					    "net", net, "vni", vni, "existing", 1, "hosts", hs, "addrs", as),
					    &e2) < 0) {
						nubed_log(NLOG_WARN, "heal: net '%s/%s' on %s: %s", scen,
						    net, json_string_value(h), e2);
						g_clear_pointer(&e2, g_free);
					}
				}
				json_decref(hs);
				json_decref(as);
			}
			json_decref(dep);
		}
		return g_strdup(dst);
	}
	*why = cands->len == 0 ? g_strdup("no online host has the memory for it") :
	    g_string_free(g_steal_pointer(&refused), FALSE);
	return NULL;
}

static gpointer
heal_thread(gpointer p)
{
	heal_ctx *c = p;
	mape *m = c->m;
	nubed *n = m->n;
	const char *gone = c->gone;
	g_autoptr(GHashTable) usage = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    g_free);
	g_autoptr(GHashTable) net_dst = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    g_free);
	g_autofree char *addr = NULL, *uri = NULL;
	json_t *rec = NULL, *e;
	const char *dom;
	GError *err = NULL;
	double gone_for = 0;
	int healed = 0, skipped = 0, failed = 0;
	peer *pe;

	g_mutex_lock(&m->lock);
	pe = g_hash_table_lookup(m->peers, gone);
	if (pe != NULL && pe->heal != NULL) {
		rec = json_deep_copy(pe->heal);
		gone_for = nubed_now(n) - pe->gone_at;
		if (pe->state != NULL) {
			addr = g_strdup(pe->state->fabric_addr);
			for (guint i = 0; i < pe->state->vms->len; i++) {
				const host_state_vm *sv = pe->state->vms->pdata[i];

				if (sv->domain != NULL)
					g_hash_table_replace(usage, g_strdup(sv->domain),
					    g_memdup2((double[2]){ sv->cpu, (double)sv->mem_mib },
					    2 * sizeof(double)));
			}
		}
	}
	g_mutex_unlock(&m->lock);
	if (rec == NULL)
		goto out;
	/* its libvirtd answers: the VMs may run still (only the agent died); nothing restarted */
	if (addr != NULL) {
		uri = mape_fill_template(n->cfg->migrate_uri_template, addr);
		if (n->env->virt_probe(n, uri, &err) == 0) {
			nubed_event(n, "heal-deferred", NULL, NULL, json_pack("{s:s, s:s, s:f}", "host",
			    gone, "uri", uri, "gone_s", gone_for), "host %s is gone for %.0f s but its "
			    "libvirtd answers at %s: its VMs may still run, none is restarted (asked "
			    "again after another grace time)", gone, gone_for, uri);
			g_mutex_lock(&m->lock);
			pe->gone_at = pe->online ? 0 : nubed_now(n);
			g_mutex_unlock(&m->lock);
			goto out;
		}
	}
	nubed_event(n, "heal-start", NULL, NULL, json_pack("{s:s, s:f, s:i, s:s?, s:s?}", "host",
	    gone, "gone_s", gone_for, "vms", (int)json_object_size(json_object_get(rec, "vms")),
	    "uri", uri, "probe", err != NULL ? err->message : NULL), "host %s gone for %.0f s (last "
	    "will; its libvirtd does not answer%s%s): restarting its %zu VM(s) elsewhere", gone,
	    gone_for, err != NULL ? ": " : "", err != NULL ? err->message : "",
	    json_object_size(json_object_get(rec, "vms")));
	g_clear_error(&err);
	json_object_foreach(json_object_get(rec, "vms"), dom, e) {
		const char *scen = json_string_value(json_object_get(e, "scenario"));
		const char *vm = json_string_value(json_object_get(e, "vm"));
		json_int_t gen = json_integer_value(json_object_get(e, "gen"));
		const double *use = g_hash_table_lookup(usage, dom);
		double mem = use != NULL && use[1] > 0 ? use[1] : DEFAULT_MEM_MIB;
		g_autofree char *why = NULL, *dst = NULL;
		json_int_t claim;
		bool image;

		if (m->stopping)
			break;
		g_mutex_lock(&m->lock);
		claim = claimed_gen(m, dom, gone, NULL);
		g_mutex_unlock(&m->lock);
		if (claim > gen) {	/* restarted already (an earlier, unfinished heal) */
			skipped++;
			continue;
		}
		dst = heal_one(m, rec, gone, dom, use != NULL ? use[0] : 0, mem, net_dst, &why);
		image = json_is_object(json_object_get(json_object_get(e, "place"), "image"));
		if (dst == NULL) {
			failed++;
			nubed_event(n, "heal-failed", scen, vm, json_pack("{s:s, s:s, s:s}", "src", gone,
			    "domain", dom, "error", why), "'%s' of gone host %s not restarted: %s", dom,
			    gone, why);
			continue;
		}
		healed++;
		nubed_event(n, "healed", scen, vm, json_pack("{s:s, s:s, s:s, s:I, s:b, s:b}", "src",
		    gone, "dst", dst, "domain", dom, "gen", gen + 1, "disk_changes_lost", 1, "image",
		    image), "'%s' restarted on %s after host %s was gone: %s", dom, dst, gone, image ?
		    "restarted from its image, its disk changes since it started on the gone host "
		    "are lost (its overlay was on that host's own disk)" : "booted afresh, its disk "
		    "changes and memory on the gone host are lost");
	}
	if (failed == 0 && !m->stopping) {
		g_mutex_lock(&n->heal_lock);
		json_object_set(json_object_get(n->heal_rec, "healed"), gone,
		    json_object_get(rec, "ts"));
		g_mutex_unlock(&n->heal_lock);
		heal_record_publish(n);
	}
	nubed_event(n, failed == 0 ? "heal-done" : "heal-failed", NULL, NULL, json_pack("{s:s, s:i, "
	    "s:i, s:i}", "host", gone, "healed", healed, "skipped", skipped, "failed", failed),
	    "host %s: %d VM(s) restarted elsewhere, %d restarted already, %d without a place%s",
	    gone, healed, skipped, failed, failed > 0 ? " (tried again after another grace time)" :
	    "");
	if (failed > 0) {
		g_mutex_lock(&m->lock);
		pe->gone_at = pe->online ? 0 : nubed_now(n);
		g_mutex_unlock(&m->lock);
	}
out:
	g_clear_error(&err);
	json_decref(rec);
	g_mutex_lock(&m->lock);
	if (pe != NULL)
		pe->healing = false;
	g_mutex_unlock(&m->lock);
	g_free(c->gone);
	g_free(c);
	job_end(m);
	return NULL;
}

void
heal_check(mape *m)
{
	nubed *n = m->n;
	g_autoptr(GArray) cand = g_array_new(FALSE, TRUE, sizeof(heal_candidate));
	GHashTableIter it;
	gpointer key, val;
	const char *healer;
	double now = nubed_now(n);

	if (!n->cfg->heal || m->stopping)
		return;
	/* a host with [heal] enabled = false is no candidate (its states say "heal": false) */
	g_array_append_val(cand, ((heal_candidate){ n->cfg->host, true, m->pw.standby,
	    m->leaving || m->drained }));
	g_hash_table_iter_init(&it, m->peers);
	while (g_hash_table_iter_next(&it, &key, &val)) {
		const peer *p = val;
		heal_candidate hc = { key, false, false, false };

		if (strcmp(key, n->cfg->host) == 0)
			continue;
		/* as peer_usable counts it: a fresh state, and no last will after it */
		hc.online = (p->online || !p->has_online) && p->state != NULL &&
		    host_state_fresh(p->state, n->env->wall_ms(n));
		if (p->state != NULL) {
			hc.standby = json_is_true(json_object_get(p->state->balance, "standby"));
			hc.leaving = json_is_true(json_object_get(p->state->balance, "leaving")) ||
			    json_is_false(json_object_get(p->state->balance, "heal"));
		}
		g_array_append_val(cand, hc);
	}
	healer = heal_healer((const heal_candidate *)(void *)cand->data, cand->len);
	if (g_strcmp0(healer, n->cfg->host) != 0)
		return;
	g_hash_table_iter_init(&it, m->peers);
	while (g_hash_table_iter_next(&it, &key, &val)) {
		peer *p = val;
		heal_ctx *c;

		if (strcmp(key, n->cfg->host) == 0 || !p->has_online || p->online || p->healing ||
		    !heal_due(p->gone_at, n->cfg->heal_grace, now) || p->heal == NULL ||
		    json_object_size(json_object_get(p->heal, "vms")) == 0 ||
		    done_by_someone(m, key, p->heal))
			continue;
		p->healing = true;
		m->heal_jobs++;
		c = g_new0(heal_ctx, 1);
		c->m = m;
		c->gone = g_strdup(key);
		g_thread_unref(g_thread_new("heal", heal_thread, c));
	}
}

/* ------------------------------------------------------------------ the destination */

void
op_heal(nubed *n, rpc_job *j)
{
	mape *m = n->mape;
	const char *gone = rpc_job_str(j, "host", true), *dom = rpc_job_str(j, "domain", true);
	json_int_t gen = json_integer_value(json_object_get(rpc_job_req(j), "gen"));
	json_t *rec = NULL, *dep;
	json_int_t had;
	peer *p;

	if (gone == NULL || dom == NULL)
		return;
	if (m == NULL || strcmp(gone, n->cfg->host) == 0) {
		rpc_job_fail(j, "heal: '%s' is this host", gone);
		return;
	}
	g_mutex_lock(&m->lock);
	p = g_hash_table_lookup(m->peers, gone);
	if (p != NULL && p->has_online && !p->online && p->heal != NULL)
		rec = json_deep_copy(p->heal);
	g_mutex_unlock(&m->lock);
	if (rec == NULL) {
		rpc_job_fail(j, "heal: host '%s' is not gone or left no heal record (as %s sees it)",
		    gone, n->cfg->host);
		return;
	}
	had = json_integer_value(json_object_get(json_object_get(json_object_get(rec, "vms"), dom),
	    "gen"));
	if (had <= 0 || gen <= had) {
		rpc_job_fail(j, "heal: the record of '%s' has no '%s'%s", gone, dom, had > 0 ?
		    " below that generation" : "");
		json_decref(rec);
		return;
	}
	/* the deployment comes from the gone host's own record (only it could write that) */
	dep = heal_deployment(rec, dom, gone, n->cfg->host, n->cfg->fabric_addr);
	json_decref(rec);
	if (dep == NULL) {
		rpc_job_fail(j, "heal: the record of '%s' for '%s' is malformed", gone, dom);
		return;
	}
	rpc_job_req_set(j, "deployment", dep);
	rpc_job_req_set(j, "heal_gen", json_integer(gen));
	rpc_job_progress(j, "restarting '%s' of gone host %s here (generation %lld)", dom, gone,
	    (long long)gen);
	op_deploy(n, j);
}

/* ------------------------------------------------------------------ fencing at start-up */

static void
reconcile_post(void *ud)
{
	peer_reconcile_nets(ud);
}

static gpointer
fence_thread(gpointer p)
{
	mape *m = p;
	nubed *n = m->n;
	gint64 end = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
	g_autoptr(GPtrArray) doms = NULL;
	GError *err = NULL;
	virt *v = NULL;
	json_t *own_vms;
	int fenced = 0;

	while (!m->stopping && !n->env->connected(n) && g_get_monotonic_time() < end)
		g_usleep(200 * 1000);
	for (int i = 0; i < FENCE_WAIT_S * 5 && !m->stopping; i++)	/* the retained records */
		g_usleep(200 * 1000);
	if (m->stopping)
		goto out;
	v = nubed_virt_open(n, &err);
	doms = v != NULL ? n->env->virt_list(v, &err) : NULL;
	if (doms == NULL) {
		nubed_log(NLOG_WARN, "heal fencing skipped: libvirt: %s", err != NULL ? err->message :
		    "?");
		goto out;
	}
	/* this host's generations: its kept record, or its own retained one */
	g_mutex_lock(&m->lock);
	g_mutex_lock(&n->heal_lock);
	own_vms = json_object_get(n->heal_rec, "vms");
	if (json_object_size(own_vms) == 0) {
		peer *self = g_hash_table_lookup(m->peers, n->cfg->host);

		if (self != NULL && self->heal != NULL) {
			json_object_set(n->heal_rec, "vms", json_object_get(self->heal, "vms"));
			json_object_set(n->heal_rec, "scenarios", json_object_get(self->heal,
			    "scenarios"));
			own_vms = json_object_get(n->heal_rec, "vms");
		}
	}
	g_mutex_unlock(&n->heal_lock);
	g_mutex_unlock(&m->lock);
	for (guint i = 0; i < doms->len; i++) {
		const virt_dom_info *d = doms->pdata[i];
		json_int_t mine, claim;

		if (d->scenario == NULL)
			continue;
		g_mutex_lock(&n->heal_lock);
		mine = json_integer_value(json_object_get(json_object_get(own_vms, d->domain), "gen"));
		g_mutex_unlock(&n->heal_lock);
		g_mutex_lock(&m->lock);
		claim = claimed_gen(m, d->domain, NULL, n->cfg->host);
		g_mutex_unlock(&m->lock);
		/* a domain without an entry here counts as generation 1 (a deploy's); a running
		 * one is fenced only when this host's record knew it (one that arrived by a
		 * migration whose hand-off this agent missed has no entry, and is not stale) */
		if (!heal_stale(MAX(mine, 1), claim) || (d->active && mine == 0))
			continue;
		if (n->env->virt_destroy_undefine(v, d->domain, &err) < 0) {
			nubed_log(NLOG_ERR, "fencing: stale '%s' not removed: %s", d->domain,
			    err->message);
			g_clear_error(&err);
			continue;
		}
		fenced++;
		g_mutex_lock(&n->heal_lock);
		json_object_del(own_vms, d->domain);
		g_mutex_unlock(&n->heal_lock);
		nubed_event(n, "fenced", d->scenario, d->vm, json_pack("{s:s, s:I, s:I, s:b}", "domain",
		    d->domain, "gen", mine, "claimed_gen", claim, "was_active", d->active),
		    "stale copy of '%s' %s and undefined: it was restarted elsewhere (generation "
		    "%lld > %lld here) while this host was gone", d->domain, d->active ?
		    "destroyed" : "(not running)", (long long)claim, (long long)mine);
	}
	/* the record keeps only what is defined here now */
	g_mutex_lock(&n->heal_lock);
	{
		const char *dom;
		json_t *e;
		void *tmp;

		json_object_foreach_safe(own_vms, tmp, dom, e) {
			bool here = false;

			for (guint i = 0; i < doms->len && !here; i++)
				here = g_strcmp0(((virt_dom_info *)doms->pdata[i])->domain, dom) == 0;
			if (!here)
				json_object_del(own_vms, dom);
		}
		json_object_foreach_safe(json_object_get(n->heal_rec, "scenarios"), tmp, dom, e)
			if (!scenario_used(n->heal_rec, dom))
				json_object_del(json_object_get(n->heal_rec, "scenarios"), dom);
	}
	g_mutex_unlock(&n->heal_lock);
	heal_record_publish(n);
	if (fenced > 0) {
		nubed_doms_refresh(n, v, NULL);
		nubed_post(n, reconcile_post, m);	/* their nets: no VM here uses them now */
	}
out:
	g_clear_error(&err);
	if (v != NULL)
		n->env->virt_close(v);
	job_end(m);
	return NULL;
}

void
heal_fence_start(mape *m)
{
	g_mutex_lock(&m->lock);
	m->heal_jobs++;
	g_mutex_unlock(&m->lock);
	g_thread_unref(g_thread_new("heal-fence", fence_thread, m));
}
