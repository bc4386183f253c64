/* peer: the other hosts as this agent sees them — their retained states and online flags,
 * the view of the cluster the balance core plans on, and the start-up net reconcile that
 * tells them which nets this host dropped */
#include "agent/mape_int.h"

#include <string.h>

#include "agent/env.h"
#include "wire/topic.h"

void
peer_free(gpointer p)
{
	peer *x = p;

	host_state_free(x->state);
	g_free(x->hist.v);
	json_decref(x->heal);
	g_free(x);
}

void
load_hist_push(load_hist *h, int cap, const host_state *st)
{
	if (st == NULL || cap < 1 || (h->n > 0 && st->ts_ms == h->ts_ms))
		return;
	if (h->v == NULL)
		h->v = g_new0(double, cap);
	if (h->n == cap) {
		memmove(h->v, h->v + 1, (size_t)(cap - 1) * sizeof *h->v);
		h->n--;
	}
	h->v[h->n++] = st->load;
	h->ts_ms = st->ts_ms;
}

/* ------------------------------------------------------------------ states of the peers */

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
	json_t *j = NULL;
	host_state *st = NULL;
	GError *err = NULL;

	(void)b;
	if (h == NULL)
		return;
	if (msg->len > 0) {	/* empty: the retained state was cleared */
		j = json_loadb(msg->payload, (size_t)msg->len, 0, NULL);
		st = host_state_from_json(j, &err);
		json_decref(j);
		if (st == NULL || g_strcmp0(st->host, h) != 0) {
			nubed_log(NLOG_DEBUG, "state of '%s' ignored: %s", h, err != NULL ?
			    err->message : "it names another host");
			g_clear_error(&err);
			host_state_free(st);
			return;
		}
	}
	g_mutex_lock(&m->lock);
	{
		peer *p = peer_get(m, h);

		host_state_free(p->state);
		p->state = st;
		if (st == NULL)
			p->hist.n = 0;
		else
			load_hist_push(&p->hist, m->bc.predict_window, st);
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
		if (p->online)
			p->gone_at = 0;
		else if (p->gone_at <= 0)	/* self-healing's grace time counts from now */
			p->gone_at = nubed_now(m->n);
	}
	g_mutex_unlock(&m->lock);
}

int
peer_subscribe(mape *m, GError **err)
{
	nubed *n = m->n;

	if (n->env->subscribe(n, TOPIC_STATE_ALL, on_peer_state, m, err) < 0 ||
	    n->env->subscribe(n, TOPIC_ONLINE_ALL, on_peer_online, m, err) < 0 ||
	    n->env->subscribe(n, TOPIC_HEAL_ALL, heal_on_record, m, err) < 0)
		return -1;
	return 0;
}

/* host name of a fabric address from the peers' states (under m->lock); NULL if unknown */
const char *
peer_host_of_addr(mape *m, const char *addr)
{
	GHashTableIter it;
	gpointer key, val;

	g_hash_table_iter_init(&it, m->peers);
	while (g_hash_table_iter_next(&it, &key, &val)) {
		const peer *p = val;

		if (p->state != NULL && g_strcmp0(p->state->fabric_addr, addr) == 0)
			return key;
	}
	return NULL;
}

char *
peer_fabric_addr(mape *m, const char *host)
{
	char *addr = NULL;
	peer *p;

	g_mutex_lock(&m->lock);
	p = g_hash_table_lookup(m->peers, host);
	if (p != NULL && p->state != NULL)
		addr = g_strdup(p->state->fabric_addr);
	g_mutex_unlock(&m->lock);
	return addr;
}

/* ------------------------------------------------------------------ the view for the core */

void
peer_view_clear(view *v)
{
	if (v->blocks != NULL)
		g_ptr_array_unref(v->blocks);
	g_free(v->hosts);
	memset(v, 0, sizeof *v);
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
host_fill(mape *m, view *v, balance_host *h, const host_state *st, const load_hist *hist,
    bool self, bool by_operator)
{
	balance_vm *arr;
	size_t k = 0;

	h->name = st->host;
	h->cpus = st->cpus;
	h->mem_total = (double)st->mem_total_mib;
	h->mem_used = (double)st->mem_used_mib;
	h->mem_promised = st->has_promised ? (double)st->mem_promised_mib : 0;
	h->mem_reserve = (double)st->mem_reserve_mib;
	h->load = st->load;
	/* the trend of its recent samples (predict on): acts before the second sample over the
	 * threshold, and a destination about to rise is judged on where it is going */
	if (m->bc.predict && hist != NULL && hist->n > 0)
		h->load_predicted = balance_predict_load(&m->bc, hist->v, (size_t)hist->n);
	if (!self) {	/* what the peer already promised to incoming VMs */
		double r = jnum(st->balance, "reserved_load", 0);

		h->load += r;
		if (h->load_predicted > 0)
			h->load_predicted += r;
		/* and the memory its admissions reserved, as its admission counts it */
		h->mem_promised += jnum(st->balance, "reserved_mem", 0);
	}
	h->active = st->active;
	h->inactive = st->inactive;
	h->online = true;
	h->standby = self ? m->pw.standby : json_is_true(json_object_get(st->balance, "standby"));
	arr = g_new0(balance_vm, MAX(st->vms->len, 1));
	g_ptr_array_add(v->blocks, arr);
	for (guint i = 0; i < st->vms->len; i++) {
		const host_state_vm *sv = st->vms->pdata[i];
		balance_vm *x = &arr[k];

		if (!sv->active)
			continue;
		x->name = sv->domain;
		x->scenario = sv->scenario;
		x->nets = (const char *const *)sv->nets->pdata;
		x->n_nets = sv->nets->len;
		x->cpu = sv->cpu;
		x->load_generated = sv->load;
		x->mem = (double)sv->mem_mib;
		x->up = MIN(1.0, sv->tx_bps / (m->mc.link_mbps * 1e6));
		x->down = MIN(1.0, sv->rx_bps / (m->mc.link_mbps * 1e6));
		x->last_moved = BALANCE_NEVER;
		if (self) {
			const persist_moved *mi = g_hash_table_lookup(m->moved, x->name);

			if (mi != NULL) {
				x->last_moved = mi->at;
				x->prev_host = mi->prev_host;
			}
			/* a container moves cold (stopped, layer copied, started there): only in
			 * the views of the moves [balance] move-containers allows */
			x->pinned = g_hash_table_contains(m->busy, x->name) || x->scenario == NULL ||
			    scenario_busy(m, x->scenario) ||
			    (sv->container && !mape_container_movable(m, sv->move, by_operator));
			/* on a managed="no" net (a bridge of this host that nube does not stretch)
			 * it would lose its link elsewhere: it stays, as the planner kept it */
			for (guint k = 0; !x->pinned && k < sv->nets->len; k++)
				x->pinned = nubed_net_unmanaged(m->n, x->scenario,
				    sv->nets->pdata[k]);
		}
		k++;
	}
	h->vms = arr;
	h->n_vms = k;
}

/* peer_usable: online, with a fresh state, not leaving */
static bool
peer_usable(mape *m, const peer *p)
{
	return p->state != NULL && (p->online || !p->has_online) &&
	    host_state_fresh(p->state, m->n->env->wall_ms(m->n)) &&
	    !json_is_true(json_object_get(p->state->balance, "leaving"));
}

bool
peer_view_build(mape *m, view *v, bool with_peers, bool by_operator)
{
	GHashTableIter it;
	gpointer key, val;
	g_autoptr(GPtrArray) sts = g_ptr_array_new();
	g_autoptr(GPtrArray) hists = g_ptr_array_new();

	memset(v, 0, sizeof *v);
	if (m->self_state == NULL)
		return false;
	g_ptr_array_add(sts, m->self_state);
	g_ptr_array_add(hists, &m->self_hist);
	if (with_peers) {
		g_hash_table_iter_init(&it, m->peers);
		while (g_hash_table_iter_next(&it, &key, &val))
			if (strcmp(key, m->n->cfg->host) != 0 && peer_usable(m, val)) {
				g_ptr_array_add(sts, ((peer *)val)->state);
				g_ptr_array_add(hists, &((peer *)val)->hist);
			}
	}
	v->blocks = g_ptr_array_new_with_free_func(g_free);
	v->hosts = g_new0(balance_host, sts->len);
	v->n = sts->len;
	for (guint i = 0; i < sts->len; i++)
		host_fill(m, v, &v->hosts[i], sts->pdata[i], hists->pdata[i], i == 0, by_operator);
	return true;
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
	g_autoptr(GPtrArray) doms = v != NULL ? m->n->env->virt_list(v, err) : NULL;
	GPtrArray *used;

	if (v != NULL)
		m->n->env->virt_close(v);
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
	netdev *nd = m->n->env->net_open(m->n, &err);
	g_autoptr(GPtrArray) present = NULL, used = NULL, unused = NULL;
	GPtrArray *out;

	if (nd == NULL || (present = m->n->env->net_list(nd, &err)) == NULL ||
	    (used = used_nets(m, &err)) == NULL) {
		nubed_log(NLOG_WARN, "net reconcile skipped: %s", err != NULL ? err->message : "?");
		g_clear_error(&err);
		m->n->env->net_close(nd);
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
		    m->n->env->net_remove(nd, ni->scenario, ni->net, &err) < 0) {
			if (err != NULL)
				nubed_log(NLOG_WARN, "net reconcile: '%s/%s' kept: %s", ni->scenario,
				    ni->net, err->message);
			g_clear_error(&err);
			g_mutex_unlock(lock);
			continue;
		}
		g_mutex_unlock(lock);
		nubed_log(NLOG_INFO, "net reconcile: removed '%s/%s' (bridge %s%s): no VM here uses "
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
	m->n->env->net_close(nd);
	return out;
}

/* all_addrs_known: every remote of the stale nets maps to a peer with a state (under lock) */
static bool
all_addrs_known(mape *m, const GPtrArray *stale)
{
	for (guint i = 0; i < stale->len; i++) {
		const stale_net *sn = stale->pdata[i];

		for (guint k = 0; k < sn->remotes->len; k++)
			if (peer_host_of_addr(m, sn->remotes->pdata[k]) == NULL)
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
	while (!m->stopping && !m->n->env->connected(m->n) && g_get_monotonic_time() < end)
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
			const char *h = peer_host_of_addr(m, sn->remotes->pdata[k]);

			g_ptr_array_add(hosts, g_strdup(h));
			if (h == NULL)
				nubed_log(NLOG_WARN, "net reconcile: no host known at %s (net '%s/%s'): "
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
			r = nubed_call(m->n, hosts->pdata[k], req, &why);
			if (r == NULL)
				nubed_log(NLOG_WARN, "net reconcile: %s still forwards net '%s/%s' here: "
				    "%s", (char *)hosts->pdata[k], sn->scenario, sn->net, why);
			else
				nubed_log(NLOG_INFO, "net reconcile: %s no longer forwards net '%s/%s' "
				    "here%s", (char *)hosts->pdata[k], sn->scenario, sn->net,
				    json_is_true(json_object_get(r, "absent")) ? " (it has no such net)" :
				    "");
			json_decref(r);
			g_free(why);
		}
		nubed_event(m->n, "net-cleanup", sn->scenario, NULL, json_pack("{s:s, s:i, s:b}",
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
void
peer_reconcile_nets(mape *m)
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

