/* mape_ops: the balancer's rpc ops, on the main loop (rpc.c's table): admit and release (a
 * peer's migration to this host), plan (dry run or now), migrate (one VM, by hand) and drain */
#include "agent/mape_int.h"

#include <string.h>

#include "agent/env.h"
#include "agent/heal.h"
#include "agent/rpc.h"
#include "agent/telemetry.h"
#include "wire/names.h"

/* the balancer of n: main (and the tests) create it before any request can arrive; the
 * table's fields were checked before dispatch (rpcreq) */
static mape *
balancer(nubed *n)
{
	g_assert(n->mape != NULL);
	return n->mape;
}

/* local_vnis: the VNIs of the nets on this host (one netlink dump), for a source that
 * stretches a net here (it picks a VNI past them); an empty array when netlink fails */
static json_t *
local_vnis(nubed *n)
{
	GError *err = NULL;
	netdev *nd = n->env->net_open(n, &err);
	g_autoptr(GPtrArray) nets = nd != NULL ? n->env->net_list(nd, &err) : NULL;
	json_t *out = json_array();

	if (nets == NULL) {
		nubed_log(NLOG_WARN, "admit: the VNIs here are unknown: %s", err->message);
		g_error_free(err);
	}
	for (guint i = 0; nets != NULL && i < nets->len; i++) {
		const netdev_info *ni = nets->pdata[i];

		if (ni->vni != 0)
			json_array_append_new(out, json_integer(ni->vni));
	}
	n->env->net_close(nd);
	return out;
}

void
op_admit(nubed *n, rpc_job *j)
{
	mape *m = balancer(n);
	const json_t *req = rpc_job_req(j);
	const char *vm = jstr(req, "vm"), *scen = jstr(req, "scenario"), *sender = rpc_job_sender(j);
	bool force = json_is_true(json_object_get(req, "force"));
	g_autofree char *vmname = NULL;	/* the VM's name (events) when vm is its domain */
	balance_admission a = { 0 };
	balance_request r = { 0 };
	double now;
	view v;

	now = nubed_now(n);
	g_mutex_lock(&m->lock);
	if (m->leaving || m->drained) {
		g_snprintf(a.reason, sizeof a.reason, "this host is %s",
		    m->leaving ? "leaving (drain or shutdown)" : "drained");
	} else if (!peer_view_build(m, &v, false, false)) {
		g_snprintf(a.reason, sizeof a.reason, "no own sample yet");
	} else {
		r.source = sender;
		r.vm = vm;
		r.cpu = jnum(req, "cpu", 0);
		r.load_generated = jnum(req, "load_generated", -1);
		r.mem = jnum(req, "mem", 0);
		r.force = force;
		balance_admit(m->res, mape_move_policy(m), &m->bc, &v.hosts[0], &r, now, &a);
		peer_view_clear(&v);
	}
	if (proto_split_domain(vm, NULL, &vmname) < 0)
		vmname = g_strdup(vm);
	nubed_event(n, a.admitted ? "admit" : "refuse", scen, vmname, json_pack("{s:s, s:s, s:s, "
	    "s:b, s:f, s:f, s:f, s:f, s:f, s:f, s:s}", "src", sender, "dst", n->cfg->host,
	    "domain", vm, "force",
	    force, "load_before", a.load_before, "load_after", a.load_after, "limit", a.limit,
	    "mem_after", a.mem_after, "mem_limit", a.mem_limit, "reserved_load",
	    balance_reservations_load(m->res, now), "reason", a.reason),
	    "%s '%s' from %s: %s", a.admitted ? "admitted" : "refused", vm, sender, a.reason);
	g_mutex_unlock(&m->lock);
	rpc_job_ok(j, json_pack("{s:b, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:o}", "admitted",
	    a.admitted, "reason", a.reason, "load_before", a.load_before, "load_after",
	    a.load_after, "limit", a.limit, "mem_after", a.mem_after, "mem_limit", a.mem_limit,
	    "promised_after", a.promised_after, "promised_limit", a.promised_limit, "vnis",
	    a.admitted ? local_vnis(n) : json_array()));
}

void
op_release(nubed *n, rpc_job *j)
{
	mape *m = balancer(n);
	const json_t *req = rpc_job_req(j);
	const char *vm = jstr(req, "vm"), *sender = rpc_job_sender(j);
	bool ok = json_is_true(json_object_get(req, "ok"));
	double now;
	int k;

	now = nubed_now(n);
	g_mutex_lock(&m->lock);
	if (ok) {	/* arrived: its load shows in the samples only from the next full
			 * interval on, the reservation counts until then */
		k = balance_reservations_arrived(m->res, vm, now + 2.0 * n->cfg->interval_s + 1);
		g_hash_table_replace(m->moved, g_strdup(vm), persist_moved_new(now, sender));
		mape_persist(m);
	} else
		k = balance_reservations_release(m->res, vm);
	g_mutex_unlock(&m->lock);
	if (ok)		/* status lists the domains again before it answers */
		nubed_doms_stale(n);
	if (ok && json_is_object(json_object_get(req, "heal")))	/* its heal record entry */
		heal_record_give(n, vm, json_object_get(req, "heal"));
	nubed_log(NLOG_INFO, "reservation of '%s' from %s released (%s)", vm, sender,
	    ok ? "arrived" : "migration failed");
	rpc_job_ok(j, json_pack("{s:i}", "released", k));
}

/* op_plan: what this host would do now (dry run), optionally doing it ("execute": true) */
void
op_plan(nubed *n, rpc_job *j)
{
	mape *m = balancer(n);
	bool execute = json_is_true(json_object_get(rpc_job_req(j), "execute"));
	balance_plan *plan = NULL;
	const char *note = NULL;
	bool started = false;
	json_t *body;
	double now;
	view v;

	now = nubed_now(n);
	g_mutex_lock(&m->lock);
	if (!peer_view_build(m, &v, true, false)) {
		g_mutex_unlock(&m->lock);
		rpc_job_fail(j, "no own sample yet");
		return;
	}
	body = json_pack("{s:s, s:f, s:f, s:f, s:f, s:i, s:o}", "state",
	    balance_state_name(m->state), "load", v.hosts[0].load, "threshold",
	    m->bc.load_threshold, "mem_used", v.hosts[0].mem_used, "mem_total",
	    v.hosts[0].mem_total, "peers", (int)(v.n - 1), "balance", mape_balance_json(m, now));
	if (m->bc.policy == BALANCE_POLICY_NONE)
		note = "balancing is off (policy none)";
	else if (v.hosts[0].load < m->bc.load_threshold && (m->bc.mem_threshold >= 1 ||
	    v.hosts[0].mem_total <= 0 ||
	    v.hosts[0].mem_used / v.hosts[0].mem_total < m->bc.mem_threshold))
		note = "under every threshold: nothing to do";
	else if (v.n < 2)
		note = "overloaded but alone: no other online host";
	if (plan == NULL && v.n >= 2 && m->bc.consolidate && !m->pw.standby &&
	    m->bc.policy != BALANCE_POLICY_NONE && v.hosts[0].n_vms > 0 &&
	    v.hosts[0].load < m->bc.load_threshold) {
		/* what consolidation would do now (it acts after consolidate_count light samples,
		 * when this host is the lightest active one) */
		balance_plan *c = balance_consolidate(&m->bc, &v.hosts[0], v.hosts + 1, v.n - 1,
		    now);
		g_autofree char *txt = balance_plan_format(c);

		json_object_set_new(body, "consolidate", balance_plan_to_json(c));
		json_object_set_new(body, "consolidate_text", json_string(txt));
		json_object_set_new(body, "consolidate_low_count", json_integer(m->pw.low_count));
		note = v.hosts[0].load >= m->bc.consolidate_below ?
		    "under every threshold, over consolidate-below: nothing to do" :
		    c->solved && c->moves->len > 0 ? "light: consolidation would empty this host "
		    "and put it on standby" : "light, but consolidation finds no way to empty it";
		balance_plan_free(c);
	}
	if (m->pw.standby)
		note = "on standby: takes no VMs until a peer wakes it";
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
			nubed_event(n, "plan", NULL, NULL, balance_plan_to_json(plan), "operator "
			    "asked to balance now; %u move(s)\n%s", plan->moves->len, txt);
			mape_job_start(m, mape_job_new(m, JOB_MIGRATE, plan, NULL));
			plan = NULL;
			started = true;
		}
	}
	json_object_set_new(body, "note", note != NULL ? json_string(note) : json_null());
	json_object_set_new(body, "started", json_boolean(started));
	balance_plan_free(plan);
	peer_view_clear(&v);
	g_mutex_unlock(&m->lock);
	rpc_job_ok(j, body);
}

/* op_migrate: move one VM ("vm": domain or scenario VM name) to "dst", or without "dst" to
 * the host the balancer judges best for it; "force" asks the destination to admit even above
 * its threshold (seed case 3: manual migration). Answered when the move ended. */
void
op_migrate(nubed *n, rpc_job *j)
{
	mape *m = balancer(n);
	const json_t *req = rpc_job_req(j);
	const char *vm = jstr(req, "vm"), *dst = jstr(req, "dst"), *dom = NULL;
	balance_plan *plan;
	exec_job *job;
	bool container = false;
	const char *move = NULL;
	view v;

	if (dst != NULL && strcmp(dst, n->cfg->host) == 0) {
		rpc_job_fail(j, "'%s' is this host", dst);
		return;
	}
	g_mutex_lock(&m->lock);
	if (m->executing || m->leaving) {
		rpc_job_fail(j, "busy: %s", m->leaving ? "this host is leaving" :
		    "a balancing job is running");
		goto out;
	}
	for (guint i = 0; m->self_state != NULL && i < m->self_state->vms->len; i++) {
		const host_state_vm *sv = m->self_state->vms->pdata[i];

		if (sv->active && (g_strcmp0(sv->domain, vm) == 0 || g_strcmp0(sv->vm, vm) == 0)) {
			dom = sv->domain;
			container = sv->container;
			move = sv->move;
		}
	}
	if (dom != NULL && container && !mape_container_movable(m, move, true)) {
		rpc_job_fail(j, "'%s' is a container and its move-containers is never (%s)", vm,
		    move != NULL ? "nube deploy --move-containers" : "this host's [balance]");
		goto out;
	}
	if (dom == NULL && !rpc_job_retried(j)) {
		/* not in the last sample: it may have arrived since (a migration back at once) */
		rpc_job_after_sample(j);
		goto out;
	}
	if (dom == NULL || !peer_view_build(m, &v, true, true)) {
		rpc_job_fail(j, "no running VM '%s' here", vm);
		goto out;
	}
	plan = balance_plan_move(mape_move_policy(m), &m->bc, &v.hosts[0], v.hosts + 1, v.n - 1,
	    dom, dst, nubed_now(n));
	peer_view_clear(&v);
	if (plan->moves->len == 0) {
		rpc_job_fail(j, "no host can take '%s': %s", vm, plan->unplaced->len > 0 ?
		    ((balance_unplaced *)plan->unplaced->pdata[0])->reason : plan->note);
		balance_plan_free(plan);
		goto out;
	}
	if (dst == NULL)
		rpc_job_progress(j, "'%s' goes to %s: %s", vm,
		    ((balance_move *)plan->moves->pdata[0])->dst,
		    ((balance_move *)plan->moves->pdata[0])->why);
	job = mape_job_new(m, JOB_MIGRATE, plan, rpc_job_defer(j));
	job->force = json_is_true(json_object_get(req, "force"));
	mape_job_start(m, job);
out:
	g_mutex_unlock(&m->lock);
}

void
op_drain(nubed *n, rpc_job *j)
{
	mape *m = balancer(n);
	exec_job *job;

	if (json_is_true(json_object_get(rpc_job_req(j), "cancel"))) {
		g_mutex_lock(&m->lock);
		m->drained = false;
		g_mutex_unlock(&m->lock);
		nubed_event(n, "drain-cancelled", NULL, NULL, NULL, "this host takes VMs again");
		/* answered once the peers have the state that says so, not an interval on */
		reply_after_state(n, rpc_job_defer(j), json_pack("{s:b}", "ok", 1));
		return;
	}
	g_mutex_lock(&m->lock);
	if (m->executing || m->leaving) {
		g_mutex_unlock(&m->lock);
		rpc_job_fail(j, "busy: %s", m->leaving ? "this host is already leaving" :
		    "a balancing job is running, try again");
		return;
	}
	m->leaving = true;
	job = mape_job_new(m, JOB_DRAIN, NULL, rpc_job_defer(j));
	job->start_seq = m->state_seq;	/* the drain plans on the sample asked for below */
	mape_progress(m, job->reply_to, "draining %s", n->cfg->host);
	mape_job_start(m, job);
	g_mutex_unlock(&m->lock);
	/* a fresh sample now: the first moves need not wait for the next interval, and the
	 * peers see "leaving" at once */
	telemetry_start(n);
}

/* mape_wake: leave standby (a peer asked, or a deploy came): the wake command, the power
 * state, an event, a fresh state for the peers. false when the host was not on standby. */
bool
mape_wake(nubed *n, const char *by, double need)
{
	mape *m = balancer(n);
	g_autofree char *out = NULL;
	int rc;

	g_mutex_lock(&m->lock);
	if (!m->pw.standby) {
		g_mutex_unlock(&m->lock);
		return false;
	}
	g_mutex_unlock(&m->lock);
	rc = mape_power_hook(m, m->mc.wake_command, "wake", &out);
	g_mutex_lock(&m->lock);
	balance_power_wake(&m->pw, nubed_now(n));
	mape_persist(m);
	g_mutex_unlock(&m->lock);
	nubed_event(n, "woken", NULL, NULL, json_pack("{s:s, s:f, s:s?, s:i, s:s?}", "by", by,
	    "need", need, "command", m->mc.wake_command, "exit", rc, "output", out),
	    "woken by %s (%.2f core(s) of demand)%s%s", by, need, m->mc.wake_command != NULL ?
	    ": wake command exit " : "", m->mc.wake_command != NULL ? (rc == 0 ? "0" :
	    "non-zero") : "");
	telemetry_start(n);
	return true;
}

/* op_wake: a peer whose overload has no place among the active hosts wakes this one */
void
op_wake(nubed *n, rpc_job *j)
{
	double need = jnum(rpc_job_req(j), "need", 0);
	bool woken = mape_wake(n, rpc_job_sender(j), need);

	rpc_job_ok(j, json_pack("{s:b}", "woken", woken));
}

/* op_cold_receive: the destination's half of a container's cold move — a peer this host
 * admitted the container from has sent its layer ("<domain>.layer.tar" in the pool); check,
 * unpack and start it here (virt_cold_in). Only for a container with a live reservation of
 * the sender's; the domain XML is checked there (a container as nube renders them). */
void
op_cold_receive(nubed *n, rpc_job *j)
{
	mape *m = balancer(n);
	const json_t *req = rpc_job_req(j);
	const char *vm = jstr(req, "vm"), *xml = jstr(req, "xml"), *sha = jstr(req, "sha256");
	const char *sender = rpc_job_sender(j);
	bool reserved = false;
	GError *err = NULL;
	gint64 t0 = g_get_monotonic_time();
	double now = nubed_now(n);
	virt *v;

	g_mutex_lock(&m->lock);
	for (guint i = 0; i < m->res->items->len; i++) {
		const balance_reservation *x = m->res->items->pdata[i];

		if (strcmp(x->vm, vm) == 0 && g_strcmp0(x->source, sender) == 0 && x->expires > now)
			reserved = true;
	}
	g_mutex_unlock(&m->lock);
	if (!reserved) {
		rpc_job_fail(j, "cold-receive: '%s' from %s was not admitted here", vm, sender);
		return;
	}
	if (n->env->virt_cold_in == NULL) {
		rpc_job_fail(j, "cold-receive: this host does not take containers by a cold move");
		return;
	}
	v = nubed_virt_open(n, &err);
	if (v == NULL || n->env->virt_cold_in(v, xml, sha, vm, &err) < 0) {
		rpc_job_fail(j, "%s", err->message);
		g_clear_error(&err);
		if (v != NULL)
			n->env->virt_close(v);
		return;
	}
	n->env->virt_close(v);
	nubed_doms_stale(n);
	nubed_log(NLOG_INFO, "container '%s' from %s runs here (cold move)", vm, sender);
	rpc_job_ok(j, json_pack("{s:s, s:I}", "vm", vm, "start_ms",
	    (json_int_t)((g_get_monotonic_time() - t0) / 1000)));
}
