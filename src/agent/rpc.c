/* rpc: the op table, request checks and dispatch, the jobs' answers, and the status and net
 * ops (deploy, undeploy and exec are in deploy.c, the balancer's ops in mape_ops.c) */
#include "agent/rpc.h"

#include <string.h>

#include "agent/env.h"
#include "agent/journal.h"
#include "agent/telemetry.h"
#include "wire/names.h"
#include "wire/rpcreq.h"
#include "wire/topic.h"

/* the operations this agent answers; add a line to add one (rpcreq.c says their fields) */
const rpc_op rpc_ops[] = {
	{ "deploy", op_deploy, false },
	{ "undeploy", op_undeploy, false },
	{ "exec", op_exec, false },
	{ "status", op_status, true },	/* its own thread: never queued behind work */
	{ "net-ensure", op_net_ensure, false },
	{ "net-remove", op_net_remove, false },
	{ "admit", op_admit, true },
	{ "release", op_release, true },
	{ "plan", op_plan, true },
	{ "migrate", op_migrate, true },
	{ "drain", op_drain, true },
	{ "wake", op_wake, false },
	{ "heal", op_heal, false },
	{ "events", op_events, false },
	{ "image-status", op_image_status, false },
	{ "image-commit", op_image_commit, false },
	{ "rootfs-commit", op_rootfs_commit, false },
	{ "cold-receive", op_cold_receive, false },
	{ NULL, NULL, false },
};

struct rpc_job {
	nubed *n;
	const rpc_op *op;
	bus_msg *msg;		/* copy of the request (response topic, correlation) */
	json_t *req;
	char *sender;
	bool answered;
	bool hold;		/* rpc_job_fail keeps the first error in held (see rpc_job_release) */
	bool again;		/* rpc_job_after_sample: runs again after the next round */
	bool retried;		/* this is that second run */
	char *held;
};

const rpc_op *
rpc_op_find(const char *op)
{
	for (const rpc_op *o = rpc_ops; op != NULL && o->op != NULL; o++)
		if (strcmp(o->op, op) == 0)
			return o;
	return NULL;
}

int
rpc_mtu(uint32_t vni, int fabric_mtu)
{
	if (vni == 0)
		return 1500;
	return (fabric_mtu > 0 ? fabric_mtu : 1500) - 50;
}

/* ---- answering ---- */

const json_t *
rpc_job_req(const rpc_job *j)
{
	return j->req;
}

void
rpc_job_req_set(rpc_job *j, const char *key, json_t *v)
{
	json_object_set_new(j->req, key, v);
}

const char *
rpc_job_sender(const rpc_job *j)
{
	return j->sender;
}

void
rpc_job_progress(rpc_job *j, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *s = NULL;

	va_start(ap, fmt);
	s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	nubed_log(NLOG_INFO, "%s: %s", j->op->op, s);
	nubed_reply(j->n, j->msg, json_pack("{s:s}", "progress", s), false);
}

void
rpc_job_ok(rpc_job *j, json_t *body)
{
	g_assert(!j->answered);
	if (body == NULL)
		body = json_object();
	json_object_set_new(body, "ok", json_true());
	j->answered = true;
	nubed_reply(j->n, j->msg, body, true);
}

static void
job_send_error(rpc_job *j, const char *e)
{
	j->answered = true;
	nubed_reply(j->n, j->msg, json_pack("{s:b, s:s}", "ok", 0, "error", e), true);
}

void
rpc_job_fail(rpc_job *j, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *s = NULL;

	va_start(ap, fmt);
	s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	nubed_log(NLOG_WARN, "%s from '%s' failed: %s", j->op->op, j->sender, s);
	if (j->hold) {		/* answered after the roll back */
		if (j->held == NULL)
			j->held = g_steal_pointer(&s);
		return;
	}
	job_send_error(j, s);
}

void
rpc_job_hold(rpc_job *j)
{
	j->hold = true;
}

void
rpc_job_release(rpc_job *j)
{
	j->hold = false;
	if (j->held != NULL) {
		job_send_error(j, j->held);
		g_clear_pointer(&j->held, g_free);
	}
}

const char *
rpc_job_held(const rpc_job *j)
{
	return j->held;
}

bus_msg *
rpc_job_defer(rpc_job *j)
{
	j->answered = true;
	return bus_msg_copy(j->msg);
}

const char *
rpc_job_str(rpc_job *j, const char *key, bool required)
{
	const json_t *v = json_object_get(j->req, key);

	if (json_is_string(v) && json_string_length(v) > 0)
		return json_string_value(v);
	if (required)
		rpc_job_fail(j, "malformed request: \"%s\" must be a non-empty string", key);
	return NULL;
}

static void
rpc_job_free(rpc_job *j)
{
	if (j == NULL)
		return;
	g_free(j->held);
	bus_msg_free(j->msg);
	json_decref(j->req);
	g_free(j->sender);
	g_free(j);
}

/* job_run: the handler, then an answer if it forgot one */
static void
job_run(rpc_job *j)
{
	j->op->fn(j->n, j);
	if (j->again) {		/* kept for its second run (rpc_job_after_sample) */
		j->again = false;
		return;
	}
	if (!j->answered)
		rpc_job_fail(j, "internal error: '%s' ended without an answer", j->op->op);
	rpc_job_free(j);
}

void
rpc_job_run(gpointer data, gpointer user_data)
{
	(void)user_data;
	job_run(data);
}

/* ---- dispatch (main loop) ---- */

/* refuse: final error reply e to request m, before any job */
static void
refuse(nubed *n, const bus_msg *m, const char *sender, const char *e)
{
	nubed_log(NLOG_WARN, "rpc from '%s': %s", sender, e);
	nubed_reply(n, m, json_pack("{s:b, s:s}", "ok", 0, "error", e), true);
}

/* reply_topic_ok: a response topic is nube/v1/reply/<user>/<client>/<this host> (the only
 * replies the ACL lets this host publish), and a peer's <user> is the peer itself */
static bool
reply_topic_ok(const nubed *n, const char *sender, const char *topic)
{
	g_autofree char *user = NULL, *host = NULL;

	if (topic == NULL)
		return true;	/* no answer wanted */
	if (topic_reply_parse(topic, &user, NULL, &host) < 0 || strcmp(host, n->cfg->host) != 0)
		return false;
	return strcmp(sender, TOPIC_OPERATOR) == 0 || strcmp(user, sender) == 0;
}

void
rpc_on_message(bus *b, const bus_msg *m, void *ud)
{
	nubed *n = ud;
	json_error_t jerr;
	json_t *req;
	const char *op, *sender = strrchr(m->topic, '/');
	const rpc_op *found;
	g_autofree char *e = NULL;
	rpc_job *j;

	(void)b;
	sender = sender != NULL ? sender + 1 : "?";
	if (m->retained) {	/* a stale request kept by the broker must not run again */
		nubed_log(NLOG_WARN, "rpc from '%s': retained request on %s ignored", sender,
		    m->topic);
		return;
	}
	if (!reply_topic_ok(n, sender, m->response_topic)) {
		nubed_log(NLOG_WARN, "rpc from '%s': response topic '%s' is not the sender's reply "
		    "topic for host '%s'; request ignored", sender, m->response_topic, n->cfg->host);
		return;
	}
	if (m->len > PROTO_MAX_MESSAGE) {	/* the broker should have refused it already */
		e = g_strdup_printf("request of %.1f MiB exceeds the limit of %d MiB",
		    m->len / 1048576.0, PROTO_MAX_MESSAGE >> 20);
		refuse(n, m, sender, e);
		return;
	}
	req = json_loadb(m->payload, (size_t)MAX(m->len, 0), 0, &jerr);
	if (req == NULL || !json_is_object(req)) {
		nubed_log(NLOG_DEBUG, "rpc from '%s': %s", sender, req == NULL ? jerr.text :
		    "not a JSON object");
		refuse(n, m, sender, req == NULL ? "malformed request: not JSON" :
		    "malformed request: not a JSON object");
		json_decref(req);
		return;
	}
	op = json_string_value(json_object_get(req, "op"));
	found = rpc_op_find(op);
	if (found == NULL) {
		e = op == NULL ? g_strdup("malformed request: no \"op\"") :
		    g_strdup_printf("unknown op '%s'", op);
		refuse(n, m, sender, e);
		json_decref(req);
		return;
	}
	/* who may send what: the sender level of the topic is the broker user's (ACL) */
	if (strcmp(sender, TOPIC_OPERATOR) != 0 && !topic_op_peer(op)) {
		e = g_strdup_printf("op '%s' may only be sent by the operator (sender '%s')", op,
		    sender);
		refuse(n, m, sender, e);
		json_decref(req);
		return;
	}
	/* every field has the type its op's table (rpcreq) says: handlers rely on it */
	if ((e = rpcreq_check(req)) != NULL) {
		refuse(n, m, sender, e);
		json_decref(req);
		return;
	}
	nubed_log(NLOG_DEBUG, "rpc '%s' from '%s'", op, sender);
	j = g_new0(rpc_job, 1);
	j->n = n;
	j->op = found;
	j->msg = bus_msg_copy(m);
	j->req = req;
	j->sender = g_strdup(sender);
	if (found->main_loop) {
		/* the balancer's ops read its own state: right after a start, before the first
		 * round, it would say no VM runs here */
		if (!n->sampled && found->fn != op_status) {
			if (n->early_jobs == NULL)
				n->early_jobs = g_ptr_array_new();
			g_ptr_array_add(n->early_jobs, j);
			return;
		}
		job_run(j);
		return;
	}
	/* every worker busy: say so at once, so the caller's silence timeout counts from the
	 * start of the work rather than from the request */
	if (g_thread_pool_get_num_threads(n->pool) >= (guint)g_thread_pool_get_max_threads(n->pool))
		nubed_reply(n, m, json_pack("{s:s}", "progress", g_thread_pool_unprocessed(n->pool) > 0 ?
		    "queued behind other requests" : "queued"), false);
	g_thread_pool_push(n->pool, j, NULL);
}

static void
rerun_main(void *p)
{
	rpc_job *j = p;

	j->retried = true;
	job_run(j);
}

void
rpc_job_after_sample(rpc_job *j)
{
	g_assert(j->op->main_loop && !j->answered && !j->retried);
	j->again = true;
	telemetry_then(j->n, rerun_main, j);
}

bool
rpc_job_retried(const rpc_job *j)
{
	return j->retried;
}

void
rpc_run_early(nubed *n)
{
	g_autoptr(GPtrArray) jobs = n->early_jobs;

	n->early_jobs = NULL;
	for (guint i = 0; jobs != NULL && i < jobs->len; i++)
		job_run(jobs->pdata[i]);
}

/* ---- helpers for handlers ---- */

bool
rpc_strv_has(const GPtrArray *a, const char *s)
{
	for (guint i = 0; a != NULL && i < a->len; i++)
		if (g_strcmp0(g_ptr_array_index(a, i), s) == 0)
			return true;
	return false;
}

GPtrArray *
rpc_remotes(nubed *n, const GPtrArray *hosts, const GPtrArray *addrs)
{
	GPtrArray *r = g_ptr_array_new();

	for (guint k = 0; hosts != NULL && k < hosts->len && k < addrs->len; k++) {
		const char *h = g_ptr_array_index(hosts, k), *a = g_ptr_array_index(addrs, k);

		if (a == NULL || g_strcmp0(h, n->cfg->host) == 0 ||
		    g_strcmp0(a, n->cfg->fabric_addr) == 0 || rpc_strv_has(r, a))
			continue;
		g_ptr_array_add(r, (gpointer)a);
	}
	return r;
}

/* ---- status ---- */

static json_t *
strv_json(const GPtrArray *a)
{
	json_t *j = json_array();

	for (guint i = 0; a != NULL && i < a->len; i++)
		json_array_append_new(j, json_string(g_ptr_array_index(a, i)));
	return j;
}

/* status: the domains as this agent last listed them (telemetry rounds, and every op that
 * makes, removes or moves one, refresh that listing), checked against libvirt's list of
 * domain names and whether they run (two calls whatever their number: a domain removed or
 * stopped behind nube's back shows so at once), and the nets as the kernel has them (one
 * netlink dump). No per-domain stats or metadata calls, and its own thread: it answers at
 * once however many domains and jobs the host has. Only before the first listing, or after
 * a domain arrived, is the full listing made. "listed_s" is the listing's age. */
typedef struct {
	nubed *n;
	bus_msg *msg;		/* the deferred request */
} status_req;

static json_t *
status_vms(nubed *n, virt *v, double *age, GError **err)
{
	g_autoptr(GHashTable) st = NULL;
	json_t *jv = nubed_doms_get(n, age), *out, *o;
	size_t i;

	if (jv == NULL) {
		if (nubed_doms_refresh(n, v, err) < 0)
			return NULL;
		return nubed_doms_get(n, age);
	}
	if ((st = n->env->virt_states(v, err)) == NULL) {
		json_decref(jv);
		return NULL;
	}
	out = json_array();
	json_array_foreach(jv, i, o) {
		int now = GPOINTER_TO_INT(g_hash_table_lookup(st, json_string_value(json_object_get(o,
		    "domain"))));
		json_t *c;

		if (now == 0)
			continue;	/* gone */
		c = json_copy(o);
		if ((now == 1) != json_is_true(json_object_get(o, "active"))) {
			json_object_set_new(c, "active", json_boolean(now == 1));
			json_object_set_new(c, "state", json_string(now == 1 ? "running" : "shutoff"));
		}
		json_array_append_new(out, c);
	}
	json_decref(jv);
	return out;
}

static gpointer
status_thread(gpointer p)
{
	status_req *r = p;
	nubed *n = r->n;
	g_autoptr(GPtrArray) nets = NULL;
	GError *err = NULL;
	virt *v = nubed_virt_open(n, &err);
	netdev *nd = NULL;
	json_t *jv = NULL, *jn = json_array(), *body;
	double age = 0;

	if (v == NULL || (jv = status_vms(n, v, &age, &err)) == NULL) {
		body = json_pack("{s:b, s:s+}", "ok", 0, "error", "libvirt: ", err->message);
		goto out;
	}
	nd = n->env->net_open(n, &err);
	if (nd != NULL)
		nets = n->env->net_list(nd, &err);
	if (nets == NULL) {
		body = json_pack("{s:b, s:s+}", "ok", 0, "error", "netlink: ", err != NULL ?
		    err->message : "unknown error");
		goto out;
	}
	for (guint i = 0; i < nets->len; i++) {
		const netdev_info *ni = g_ptr_array_index(nets, i);

		json_array_append_new(jn, json_pack("{s:s?, s:s?, s:s?, s:I, s:o}", "scenario",
		    ni->scenario, "net", ni->net, "bridge", ni->bridge, "vni", (json_int_t)ni->vni,
		    "remotes", strv_json(ni->remotes)));
	}
	body = json_pack("{s:b, s:O, s:O, s:s, s:f}", "ok", 1, "vms", jv, "nets", jn,
	    "fabric_addr", n->cfg->fabric_addr, "listed_s", age);
out:
	nubed_reply(n, r->msg, body, true);
	json_decref(jv);
	json_decref(jn);
	g_clear_error(&err);
	n->env->virt_close(v);
	n->env->net_close(nd);
	bus_msg_free(r->msg);
	g_free(r);
	return NULL;
}

void
op_status(nubed *n, rpc_job *j)
{
	status_req *r = g_new0(status_req, 1);

	r->n = n;
	r->msg = rpc_job_defer(j);
	g_thread_unref(g_thread_new("status", status_thread, r));
}

/* ---- events ---- */

void
op_events(nubed *n, rpc_job *j)
{
	GError *err = NULL;
	json_t *r;

	if (n->journal == NULL) {
		rpc_job_fail(j, "this agent keeps no event journal (see its log)");
		return;
	}
	r = journal_reply(n->journal, rpc_job_req(j), &err);
	if (r == NULL) {
		rpc_job_fail(j, "%s", err->message);
		g_error_free(err);
		return;
	}
	json_object_del(r, "ok");
	rpc_job_ok(j, r);
}

/* ---- net-ensure / net-remove ---- */

static GPtrArray *
req_strv(rpc_job *j, const char *key)
{
	const json_t *a = json_object_get(rpc_job_req(j), key), *e;
	GPtrArray *out;
	size_t i;

	if (a == NULL)
		return g_ptr_array_new_with_free_func(g_free);
	if (!json_is_array(a)) {
		rpc_job_fail(j, "malformed request: \"%s\" must be an array of strings", key);
		return NULL;
	}
	out = g_ptr_array_new_with_free_func(g_free);
	json_array_foreach(a, i, e) {
		if (!json_is_string(e)) {
			rpc_job_fail(j, "malformed request: \"%s\"[%zu] must be a string", key, i);
			g_ptr_array_unref(out);
			return NULL;
		}
		g_ptr_array_add(out, g_strdup(json_string_value(e)));
	}
	return out;
}

void
op_net_ensure(nubed *n, rpc_job *j)
{
	const char *scen = rpc_job_str(j, "scenario", true), *net;
	const json_t *jvni = json_object_get(rpc_job_req(j), "vni");
	const json_t *jexisting = json_object_get(rpc_job_req(j), "existing");
	g_autoptr(GPtrArray) hosts = NULL, addrs = NULL, remotes = NULL;
	GError *err = NULL;
	netdev *nd;
	GMutex *lock;
	uint32_t vni;
	int mtu;

	if (scen == NULL || (net = rpc_job_str(j, "net", true)) == NULL)
		return;
	/* types and ranges: rpcreq checked them before dispatch */
	vni = json_is_integer(jvni) ? (uint32_t)json_integer_value(jvni) : 0;
	if ((hosts = req_strv(j, "hosts")) == NULL || (addrs = req_strv(j, "addrs")) == NULL)
		return;
	if (hosts->len != addrs->len) {
		rpc_job_fail(j, "malformed request: \"hosts\" and \"addrs\" differ in length");
		return;
	}
	remotes = rpc_remotes(n, hosts, addrs);
	lock = nubed_scenario_mutex(n, scen);
	g_mutex_lock(lock);
	nd = n->env->net_open(n, &err);
	if (nd == NULL) {
		rpc_job_fail(j, "netlink: %s", err->message);
		goto out;
	}
	if (json_is_true(jexisting)) {	/* only update a net this host carries (reconcile) */
		g_autoptr(GPtrArray) have = n->env->net_list(nd, &err);
		bool found = false;

		if (have == NULL) {
			rpc_job_fail(j, "netlink: %s", err->message);
			goto out;
		}
		for (guint i = 0; i < have->len; i++) {
			const netdev_info *ni = have->pdata[i];

			found = found || (strcmp(ni->scenario, scen) == 0 && strcmp(ni->net, net) == 0);
		}
		if (!found) {
			rpc_job_ok(j, json_pack("{s:s, s:s, s:b}", "scenario", scen, "net", net, "absent",
			    1));
			goto out;
		}
	}
	mtu = rpc_mtu(vni, n->env->net_mtu_of_addr(nd, n->cfg->fabric_addr));
	if (json_is_integer(json_object_get(rpc_job_req(j), "mtu")))
		mtu = (int)json_integer_value(json_object_get(rpc_job_req(j), "mtu"));	/* rpcreq */
	if (n->env->net_ensure(nd, scen, net, vni, n->cfg->fabric_addr,
	    (const char *const *)remotes->pdata, (int)remotes->len, mtu, &err) < 0) {
		rpc_job_fail(j, "net '%s': %s", net, err->message);
		goto out;
	}
	{
		char br[16];

		proto_bridge_name(scen, net, br);
		rpc_job_ok(j, json_pack("{s:s, s:s, s:s, s:I, s:i, s:i}", "scenario", scen, "net", net,
		    "bridge", br, "vni", (json_int_t)vni, "mtu", mtu, "remotes",
		    (int)remotes->len));
	}
out:
	g_mutex_unlock(lock);
	g_clear_error(&err);
	n->env->net_close(nd);
}

void
op_net_remove(nubed *n, rpc_job *j)
{
	const char *scen = rpc_job_str(j, "scenario", true), *net;
	GError *err = NULL;
	netdev *nd;
	GMutex *lock;

	if (scen == NULL || (net = rpc_job_str(j, "net", true)) == NULL)
		return;
	lock = nubed_scenario_mutex(n, scen);
	g_mutex_lock(lock);
	nd = n->env->net_open(n, &err);
	if (nd == NULL || n->env->net_remove(nd, scen, net, &err) < 0)
		rpc_job_fail(j, "net '%s': %s", net, err->message);
	else
		rpc_job_ok(j, json_pack("{s:s, s:s}", "scenario", scen, "net", net));
	g_mutex_unlock(lock);
	g_clear_error(&err);
	n->env->net_close(nd);
}

