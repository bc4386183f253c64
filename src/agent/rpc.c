/* rpc: request dispatch (one table op -> handler) and the deploy/undeploy/exec/status/net jobs */
#include "agent/rpc.h"

#include <string.h>

#include "agent/mape.h"
#include "net/netdev.h"
#include "wire/deployment.h"
#include "wire/rpcreq.h"
#include "wire/topic.h"
#include "scenario/scenario.h"

#define GUEST_TIMEOUT_S		60
#define EXEC_TIMEOUT_S		60

typedef struct rpc_job rpc_job;
typedef void (*rpc_fn)(nubed *n, rpc_job *j);

typedef struct {
	const char *op;
	rpc_fn fn;		/* runs in the pool; NULL = not implemented here (yet) */
} rpc_op;

struct rpc_job {
	nubed *n;
	const rpc_op *op;
	bus_msg *msg;		/* copy of the request (response topic, correlation) */
	json_t *req;
	char *sender;
	bool answered;
	bool hold;		/* job_fail keeps the first error in held (sent by job_release) */
	char *held;
};

static void op_deploy(nubed *n, rpc_job *j);
static void op_undeploy(nubed *n, rpc_job *j);
static void op_exec(nubed *n, rpc_job *j);
static void op_status(nubed *n, rpc_job *j);
static void op_net_ensure(nubed *n, rpc_job *j);
static void op_net_remove(nubed *n, rpc_job *j);
static void op_mape(nubed *n, rpc_job *j);

/* the operations this agent answers; add a line to add one */
static const rpc_op rpc_ops[] = {
	{ "deploy", op_deploy },
	{ "undeploy", op_undeploy },
	{ "exec", op_exec },
	{ "status", op_status },
	{ "net-ensure", op_net_ensure },
	{ "prepare-net", op_net_ensure },
	{ "net-remove", op_net_remove },
	{ "admit", op_mape },
	{ "release", op_mape },
	{ "plan", op_mape },
	{ "migrate", op_mape },
	{ "drain", op_mape },
};

int
rpc_mtu(uint32_t vni, int fabric_mtu)
{
	if (vni == 0)
		return 1500;
	return (fabric_mtu > 0 ? fabric_mtu : 1500) - 50;
}

/* ---- answering (the publish itself always happens on the main loop) ---- */

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

	if (bus_reply(r->n->bus, r->msg, r->body, r->final, &err) < 0) {
		nubed_log(LOG_WARN, "reply on '%s' lost: %s", r->msg->response_topic, err->message);
		g_error_free(err);
	}
	bus_msg_free(r->msg);
	json_decref(r->body);
	g_free(r);
	return G_SOURCE_REMOVE;
}

/* send body (stolen) for request msg from any thread */
static void
send_reply(nubed *n, const bus_msg *msg, json_t *body, bool final)
{
	reply_call *r = g_new0(reply_call, 1);

	r->n = n;
	r->msg = bus_msg_copy(msg);
	r->body = body;
	r->final = final;
	g_main_context_invoke(NULL, reply_main, r);
}

static void
job_progress(rpc_job *j, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void
job_progress(rpc_job *j, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *s = NULL;

	va_start(ap, fmt);
	s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	nubed_log(LOG_INFO, "%s: %s", j->op->op, s);
	send_reply(j->n, j->msg, json_pack("{s:s, s:s}", "progress", s, "host", j->n->cfg->host),
	    false);
}

/* final success reply: body (stolen, may be NULL) gets "ok": true and "host" */
static void
job_ok(rpc_job *j, json_t *body)
{
	if (body == NULL)
		body = json_object();
	json_object_set_new(body, "ok", json_true());
	json_object_set_new(body, "host", json_string(j->n->cfg->host));
	j->answered = true;
	send_reply(j->n, j->msg, body, true);
}

static void
job_fail(rpc_job *j, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void
job_fail(rpc_job *j, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *s = NULL;

	va_start(ap, fmt);
	s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	nubed_log(LOG_WARN, "%s from '%s' failed: %s", j->op->op, j->sender, s);
	if (j->hold) {		/* answered after the roll back */
		if (j->held == NULL)
			j->held = g_steal_pointer(&s);
		return;
	}
	j->answered = true;
	send_reply(j->n, j->msg, json_pack("{s:b, s:s, s:s}", "ok", 0, "error", s, "host",
	    j->n->cfg->host), true);
}

/* send the held failure, if any, and stop holding */
static void
job_release(rpc_job *j)
{
	j->hold = false;
	if (j->held != NULL) {
		j->answered = true;
		send_reply(j->n, j->msg, json_pack("{s:b, s:s, s:s}", "ok", 0, "error", j->held,
		    "host", j->n->cfg->host), true);
		g_clear_pointer(&j->held, g_free);
	}
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

void
rpc_job_run(gpointer data, gpointer user_data)
{
	rpc_job *j = data;

	(void)user_data;
	j->op->fn(j->n, j);
	if (!j->answered)
		job_fail(j, "internal error: '%s' ended without an answer", j->op->op);
	rpc_job_free(j);
}

/* ---- dispatch (main thread) ---- */

/* rpc_refuse: final error reply e to request m, before any job */
static void
rpc_refuse(nubed *n, bus *b, const bus_msg *m, const char *e)
{
	json_t *r = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", e, "host", n->cfg->host);

	bus_reply(b, m, r, true, NULL);
	json_decref(r);
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
	const rpc_op *found = NULL;
	g_autofree char *e = NULL;
	rpc_job *j;

	sender = sender != NULL ? sender + 1 : "?";
	if (m->retained) {	/* a stale request kept by the broker must not run again */
		nubed_log(LOG_WARN, "rpc from '%s': retained request on %s ignored", sender,
		    m->topic);
		return;
	}
	if (!reply_topic_ok(n, sender, m->response_topic)) {
		nubed_log(LOG_WARN, "rpc from '%s': response topic '%s' is not the sender's reply "
		    "topic for host '%s'; request ignored", sender, m->response_topic, n->cfg->host);
		return;
	}
	if (m->len > PROTO_MAX_MESSAGE) {	/* the broker should have refused it already */
		g_autofree char *e = g_strdup_printf("request of %.1f MiB exceeds the limit of %d "
		    "MiB", m->len / 1048576.0, PROTO_MAX_MESSAGE >> 20);

		nubed_log(LOG_WARN, "rpc from '%s': %s", sender, e);
		rpc_refuse(n, b, m, e);
		return;
	}
	req = json_loadb(m->payload, (size_t)MAX(m->len, 0), 0, &jerr);
	if (req == NULL || !json_is_object(req)) {
		nubed_log(LOG_WARN, "rpc from '%s': malformed request: %s", sender,
		    req == NULL ? jerr.text : "not a JSON object");
		json_t *r = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", req == NULL ?
		    "malformed request: not JSON" : "malformed request: not a JSON object", "host",
		    n->cfg->host);

		bus_reply(b, m, r, true, NULL);
		json_decref(r);
		json_decref(req);
		return;
	}
	op = json_string_value(json_object_get(req, "op"));
	for (size_t i = 0; op != NULL && i < G_N_ELEMENTS(rpc_ops); i++)
		if (strcmp(rpc_ops[i].op, op) == 0)
			found = &rpc_ops[i];
	if (found == NULL || found->fn == NULL) {
		g_autofree char *e = op == NULL ? g_strdup("malformed request: no \"op\"") :
		    found == NULL ? g_strdup_printf("unknown op '%s'", op) :
		    g_strdup_printf("op '%s' not implemented", op);
		json_t *r = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", e, "host", n->cfg->host);

		nubed_log(LOG_WARN, "rpc from '%s': %s", sender, e);
		bus_reply(b, m, r, true, NULL);
		json_decref(r);
		json_decref(req);
		return;
	}
	/* who may send what: the sender level of the topic is the broker user's (ACL) */
	if (strcmp(sender, TOPIC_OPERATOR) != 0 && !topic_op_peer(op)) {
		g_autofree char *e = g_strdup_printf("op '%s' may only be sent by the operator "
		    "(sender '%s')", op, sender);

		nubed_log(LOG_WARN, "rpc from '%s': %s", sender, e);
		rpc_refuse(n, b, m, e);
		json_decref(req);
		return;
	}
	/* every field has the type its op's table (rpcreq) says */
	if ((e = rpcreq_check(req)) != NULL) {
		nubed_log(LOG_WARN, "rpc from '%s': %s", sender, e);
		rpc_refuse(n, b, m, e);
		json_decref(req);
		return;
	}
	nubed_log(LOG_DEBUG, "rpc '%s' from '%s'", op, sender);
	j = g_new0(rpc_job, 1);
	j->n = n;
	j->op = found;
	j->msg = bus_msg_copy(m);
	j->req = req;
	j->sender = g_strdup(sender);
	g_thread_pool_push(n->pool, j, NULL);
}

/* ---- helpers for handlers ---- */

static const char *
req_str(rpc_job *j, const char *key, bool required)
{
	const json_t *v = json_object_get(j->req, key);

	if (json_is_string(v) && json_string_length(v) > 0)
		return json_string_value(v);
	if (required)
		job_fail(j, "malformed request: \"%s\" must be a non-empty string", key);
	return NULL;
}

/* first errors of d as one line */
static char *
diag_text(const diag *d)
{
	GString *s = g_string_new(NULL);
	int shown = 0;

	for (guint i = 0; d != NULL && i < d->items->len && shown < 3; i++) {
		const diag_item *it = g_ptr_array_index(d->items, i);

		if (it->severity != DIAG_ERROR)
			continue;
		if (s->len > 0)
			g_string_append(s, "; ");
		if (it->file != NULL && it->line > 0)
			g_string_append_printf(s, "%s:%d: ", it->file, it->line);
		g_string_append(s, it->msg);
		shown++;
	}
	if (d != NULL && d->nerrors > shown)
		g_string_append_printf(s, " (and %d more)", d->nerrors - shown);
	if (s->len == 0)
		g_string_append(s, "unknown error");
	return g_string_free(s, FALSE);
}

/* parse and validate a spec; NULL + job_fail on any error */
static scenario *
load_spec(rpc_job *j, const char *spec, const char *scen_name)
{
	g_autoptr(diag) d = diag_new();
	g_autofree char *fname = g_strdup_printf("%s.xml", scen_name);
	scenario *s = scenario_parse_memory(spec, strlen(spec), fname, d);

	if (s == NULL || diag_has_errors(d) || !scenario_validate(s, d)) {
		g_autofree char *t = diag_text(d);

		job_fail(j, "spec: %s", t);
		scenario_free(s);
		return NULL;
	}
	if (g_strcmp0(s->name, scen_name) != 0) {
		job_fail(j, "spec: scenario_name '%s' does not match the deployment's '%s'", s->name,
		    scen_name);
		scenario_free(s);
		return NULL;
	}
	return s;
}

static bool
str_array_has(const GPtrArray *a, const char *s)
{
	for (guint i = 0; a != NULL && i < a->len; i++)
		if (g_strcmp0(g_ptr_array_index(a, i), s) == 0)
			return true;
	return false;
}

/* remote fabric addresses of a net placement: every host but this one */
static GPtrArray *
remotes_of(nubed *n, const GPtrArray *hosts, const GPtrArray *addrs)
{
	GPtrArray *r = g_ptr_array_new();

	for (guint k = 0; hosts != NULL && k < hosts->len && k < addrs->len; k++) {
		const char *h = g_ptr_array_index(hosts, k), *a = g_ptr_array_index(addrs, k);

		if (a == NULL || g_strcmp0(h, n->cfg->host) == 0 ||
		    g_strcmp0(a, n->cfg->fabric_addr) == 0 || str_array_has(r, a))
			continue;
		g_ptr_array_add(r, (gpointer)a);
	}
	return r;
}

/* ---- deploy ---- */

typedef struct {
	nubed *n;
	const scenario *s;
	const proto_deployment *dep;
	const char *vm;
	int mtu;
	int timeout_s;
	GThread *thread;
	char *error;		/* NULL on success */
	gint done;		/* atomic: the thread finished */
} configure_task;

static gpointer
configure_thread(gpointer p)
{
	configure_task *t = p;
	GError *err = NULL;
	virt *v = nubed_virt_open(t->n, &err);

	if (v == NULL || virt_guest_configure(v, t->s, t->dep, t->vm, t->mtu, t->timeout_s,
	    &err) < 0)
		t->error = g_strdup(err != NULL ? err->message : "unknown error");
	g_clear_error(&err);
	virt_close(v);
	g_atomic_int_set(&t->done, 1);
	return NULL;
}

typedef struct {
	GPtrArray *doms;	/* of char*: domains this job created */
	GPtrArray *nets;	/* of char*: nets this job created */
} made;

static void
rollback(nubed *n, rpc_job *j, const char *scen, made *m, virt *v, netdev *nd)
{
	GError *err = NULL;

	for (guint i = 0; i < m->doms->len; i++) {
		const char *d = g_ptr_array_index(m->doms, i);

		if (virt_destroy_undefine(v, d, &err) < 0) {
			nubed_log(LOG_ERR, "roll back: %s", err->message);
			g_clear_error(&err);
		}
	}
	for (guint i = 0; i < m->nets->len; i++) {
		const char *net = g_ptr_array_index(m->nets, i);

		if (netdev_remove(nd, scen, net, &err) < 0) {
			nubed_log(LOG_ERR, "roll back: %s", err->message);
			g_clear_error(&err);
		}
	}
	if (m->doms->len > 0 || m->nets->len > 0)
		job_progress(j, "rolled back %u domain%s and %u net%s made here", m->doms->len,
		    m->doms->len == 1 ? "" : "s", m->nets->len, m->nets->len == 1 ? "" : "s");
	(void)n;
}

/* the MTU each net of the scenario gets here, and which nets the VMs placed here touch */
static int
vm_mtu(const sc_vm *vm, GHashTable *net_mtu)
{
	int mtu = 0;

	for (guint k = 0; k < vm->ifs->len; k++) {
		const sc_if *ifc = g_ptr_array_index(vm->ifs, k);
		int m = GPOINTER_TO_INT(g_hash_table_lookup(net_mtu, ifc->net));

		if (m > 0 && (mtu == 0 || m < mtu))
			mtu = m;
	}
	return mtu > 0 ? mtu : 1500;
}

static void
op_deploy(nubed *n, rpc_job *j)
{
	const json_t *dj = json_object_get(j->req, "deployment");
	g_autoptr(diag) d = diag_new();
	g_autoptr(proto_deployment) dep = NULL;
	g_autoptr(scenario) s = NULL;
	g_autoptr(GPtrArray) mine = g_ptr_array_new();		/* of sc_vm* */
	g_autoptr(GPtrArray) netnames = g_ptr_array_new();	/* of char* (borrowed) */
	g_autoptr(GHashTable) net_mtu = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GHashTable) before_doms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    NULL);
	g_autoptr(GHashTable) before_nets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    NULL);
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	made m = { g_ptr_array_new_with_free_func(g_free), g_ptr_array_new_with_free_func(g_free) };
	GError *err = NULL;
	virt *v = NULL;
	netdev *nd = NULL;
	GMutex *lock = NULL;
	int fabric_mtu, guest_timeout = GUEST_TIMEOUT_S;
	configure_task *tasks = NULL;
	json_t *jw, *jv;
	gint64 t0 = g_get_monotonic_time();

	if (!json_is_object(dj))
		dj = j->req;	/* the deployment may also be the request itself */
	dep = proto_deployment_from_json(dj, d);
	if (dep == NULL) {
		g_autofree char *t = diag_text(d);

		job_fail(j, "malformed deployment: %s", t);
		goto out;
	}
	if (json_is_integer(json_object_get(j->req, "guest_timeout_s")))
		guest_timeout = (int)CLAMP(json_integer_value(json_object_get(j->req,
		    "guest_timeout_s")), 1, 3600);
	s = load_spec(j, dep->spec, dep->scenario);
	if (s == NULL)
		goto out;
	for (guint i = 0; i < dep->vms->len; i++) {
		const proto_vm_place *p = g_ptr_array_index(dep->vms, i);
		sc_vm *vm;

		if (strcmp(p->host, n->cfg->host) != 0)
			continue;
		vm = scenario_vm(s, p->vm);
		if (vm == NULL) {
			job_fail(j, "vm '%s': placed here but not in the scenario", p->vm);
			goto out;
		}
		g_ptr_array_add(mine, vm);
		for (guint k = 0; k < vm->ifs->len; k++) {
			const sc_if *ifc = g_ptr_array_index(vm->ifs, k);
			const sc_net *net = scenario_net(s, ifc->net);

			if (net != NULL && net->managed && !str_array_has(netnames, net->name))
				g_ptr_array_add(netnames, net->name);
		}
	}
	if (mine->len == 0) {
		job_ok(j, json_pack("{s:s, s:[]}", "scenario", dep->scenario, "vms"));
		goto out;
	}
	lock = nubed_scenario_mutex(n, dep->scenario);
	g_mutex_lock(lock);
	j->hold = true;		/* a failure is answered once the roll back is done */
	job_progress(j, "deploying %u vm%s of '%s'", mine->len, mine->len == 1 ? "" : "s",
	    dep->scenario);
	nd = netdev_open(&err);
	if (nd == NULL) {
		job_fail(j, "netlink: %s", err->message);
		goto out;
	}
	v = nubed_virt_open(n, &err);
	if (v == NULL) {
		job_fail(j, "libvirt: %s", err->message);
		goto out;
	}
	/* what exists before: only what this job makes is undone on failure */
	{
		g_autoptr(GPtrArray) doms = virt_list(v, &err);
		g_autoptr(GPtrArray) nets = NULL;

		if (doms == NULL) {
			job_fail(j, "libvirt: %s", err->message);
			goto out;
		}
		for (guint i = 0; i < doms->len; i++)
			g_hash_table_add(before_doms, g_strdup(((virt_dom_info *)
			    g_ptr_array_index(doms, i))->domain));
		nets = netdev_list(nd, &err);
		if (nets == NULL) {
			job_fail(j, "netlink: %s", err->message);
			goto out;
		}
		for (guint i = 0; i < nets->len; i++) {
			const netdev_info *ni = g_ptr_array_index(nets, i);

			if (g_strcmp0(ni->scenario, dep->scenario) == 0)
				g_hash_table_add(before_nets, g_strdup(ni->net));
		}
	}
	fabric_mtu = netdev_mtu_of_addr(nd, n->cfg->fabric_addr);
	for (guint i = 0; i < netnames->len; i++) {
		const char *net = g_ptr_array_index(netnames, i);
		const proto_net_place *np = proto_deployment_net(dep, net);
		uint32_t vni = np != NULL ? np->vni : 0;
		g_autoptr(GPtrArray) remotes = np != NULL ? remotes_of(n, np->hosts, np->addrs) :
		    g_ptr_array_new();
		int mtu;

		if (vni != 0 && fabric_mtu <= 0) {
			job_fail(j, "net '%s': fabric address %s is on no link of this host", net,
			    n->cfg->fabric_addr);
			goto fail;
		}
		if (vni != 0 && (vni < n->cfg->vni_min || vni > n->cfg->vni_max))
			nubed_log(LOG_WARN, "net '%s': vni %u outside the configured %u..%u", net,
			    vni, n->cfg->vni_min, n->cfg->vni_max);
		mtu = rpc_mtu(vni, fabric_mtu);
		g_hash_table_insert(net_mtu, (gpointer)net, GINT_TO_POINTER(mtu));
		if (netdev_ensure(nd, dep->scenario, net, vni, n->cfg->fabric_addr,
		    (const char *const *)remotes->pdata, (int)remotes->len, mtu, &err) < 0) {
			job_fail(j, "net '%s': %s", net, err->message);
			goto fail;
		}
		if (!g_hash_table_contains(before_nets, net))
			g_ptr_array_add(m.nets, g_strdup(net));
		if (vni != 0)
			job_progress(j, "net '%s' ready (vxlan %u, mtu %d, %u remote%s)", net, vni,
			    mtu, remotes->len, remotes->len == 1 ? "" : "s");
		else
			job_progress(j, "net '%s' ready (local, mtu %d)", net, mtu);
	}
	for (guint i = 0; i < mine->len; i++) {
		const sc_vm *vm = g_ptr_array_index(mine, i);
		g_autofree char *xml = NULL;
		g_autofree char *dom = proto_domain_name(dep->scenario, vm->name);
		guint nw = warnings->len;

		xml = virt_render_domain(v, s, dep, vm->name, vm_mtu(vm, net_mtu), warnings, &err);
		if (xml == NULL) {
			job_fail(j, "vm '%s': render: %s", vm->name, err->message);
			goto fail;
		}
		for (guint k = nw; k < warnings->len; k++) {
			nubed_log(LOG_WARN, "vm '%s': %s", vm->name,
			    (char *)g_ptr_array_index(warnings, k));
			job_progress(j, "warning: %s", (char *)g_ptr_array_index(warnings, k));
		}
		if (virt_define_start(v, xml, &err) < 0) {
			job_fail(j, "vm '%s': define: %s", vm->name, err->message);
			goto fail;
		}
		if (!g_hash_table_contains(before_doms, dom))
			g_ptr_array_add(m.doms, g_strdup(dom));
		job_progress(j, "vm '%s' started as domain '%s'", vm->name, dom);
	}
	/* configure every guest at once through its agent */
	job_progress(j, "configuring %u guest%s (waiting up to %d s for their agents)", mine->len,
	    mine->len == 1 ? "" : "s", guest_timeout);
	tasks = g_new0(configure_task, mine->len);
	for (guint i = 0; i < mine->len; i++) {
		const sc_vm *vm = g_ptr_array_index(mine, i);

		tasks[i] = (configure_task){ n, s, dep, vm->name, vm_mtu(vm, net_mtu), guest_timeout,
		    NULL, NULL, 0 };
		tasks[i].thread = g_thread_new("configure", configure_thread, &tasks[i]);
	}
	{
		int failed = -1;
		gint64 w0 = g_get_monotonic_time(), last = w0;

		/* a heartbeat every 10 s keeps the caller's timeout from running out */
		for (;;) {
			guint left = 0;

			for (guint i = 0; i < mine->len; i++)
				left += g_atomic_int_get(&tasks[i].done) ? 0 : 1;
			if (left == 0)
				break;
			if (g_get_monotonic_time() - last >= 10 * G_USEC_PER_SEC) {
				last = g_get_monotonic_time();
				job_progress(j, "waiting for %u guest agent%s (%d s)", left,
				    left == 1 ? "" : "s", (int)((last - w0) / G_USEC_PER_SEC));
			}
			g_usleep(100 * 1000);
		}
		for (guint i = 0; i < mine->len; i++) {
			g_thread_join(tasks[i].thread);
			if (tasks[i].error == NULL)
				job_progress(j, "vm '%s' configured", tasks[i].vm);
			else if (failed < 0)
				failed = (int)i;
		}
		if (failed >= 0) {
			job_fail(j, "vm '%s': configure: %s", tasks[failed].vm, tasks[failed].error);
			goto fail;
		}
	}
	nubed_spec_put(n, dep->scenario, dep->spec);
	jw = json_array();
	for (guint i = 0; i < warnings->len; i++)
		json_array_append_new(jw, json_string(g_ptr_array_index(warnings, i)));
	jv = json_array();
	for (guint i = 0; i < mine->len; i++) {
		const sc_vm *vm = g_ptr_array_index(mine, i);
		g_autofree char *dom = proto_domain_name(dep->scenario, vm->name);

		json_array_append_new(jv, json_pack("{s:s, s:s}", "vm", vm->name, "domain", dom));
	}
	nubed_event(n, "deploy", dep->scenario, NULL, "%u vm%s and %u net%s deployed in %.1f s",
	    mine->len, mine->len == 1 ? "" : "s", netnames->len, netnames->len == 1 ? "" : "s",
	    (double)(g_get_monotonic_time() - t0) / 1e6);
	job_ok(j, json_pack("{s:s, s:o, s:I, s:o, s:f}", "scenario", dep->scenario, "vms", jv,
	    "nets", (json_int_t)netnames->len, "warnings", jw,
	    "seconds", (double)(g_get_monotonic_time() - t0) / 1e6));
	goto out;
fail:
	rollback(n, j, dep->scenario, &m, v, nd);
	nubed_event(n, "deploy-failed", dep->scenario, NULL, "%s; rolled back",
	    j->held != NULL ? j->held : "deploy failed");
out:
	job_release(j);
	if (tasks != NULL) {
		for (guint i = 0; i < mine->len; i++)
			g_free(tasks[i].error);
		g_free(tasks);
	}
	if (lock != NULL)
		g_mutex_unlock(lock);
	g_clear_error(&err);
	virt_close(v);
	netdev_close(nd);
	g_ptr_array_unref(m.doms);
	g_ptr_array_unref(m.nets);
	nubed_publish_state_async(n);
}

/* ---- undeploy ---- */

static void
op_undeploy(nubed *n, rpc_job *j)
{
	const char *scen = req_str(j, "scenario", true);
	g_autoptr(GPtrArray) doms = NULL, nets = NULL;
	g_autoptr(GString) errors = g_string_new(NULL);
	GError *err = NULL;
	virt *v = NULL;
	netdev *nd = NULL;
	GMutex *lock;
	int ndoms = 0, nnets = 0;

	if (scen == NULL)
		return;
	lock = nubed_scenario_mutex(n, scen);
	g_mutex_lock(lock);
	v = nubed_virt_open(n, &err);
	if (v == NULL || (doms = virt_list(v, &err)) == NULL) {
		job_fail(j, "libvirt: %s", err->message);
		goto out;
	}
	nd = netdev_open(&err);
	if (nd == NULL || (nets = netdev_list(nd, &err)) == NULL) {
		job_fail(j, "netlink: %s", err->message);
		goto out;
	}
	for (guint i = 0; i < doms->len; i++) {
		const virt_dom_info *di = g_ptr_array_index(doms, i);

		if (g_strcmp0(di->scenario, scen) != 0)
			continue;
		if (virt_destroy_undefine(v, di->domain, &err) < 0) {
			g_string_append_printf(errors, "%s%s", errors->len ? "; " : "", err->message);
			g_clear_error(&err);
			continue;
		}
		ndoms++;
	}
	for (guint i = 0; i < nets->len; i++) {
		const netdev_info *ni = g_ptr_array_index(nets, i);

		if (g_strcmp0(ni->scenario, scen) != 0)
			continue;
		if (netdev_remove(nd, scen, ni->net, &err) < 0) {
			g_string_append_printf(errors, "%s%s", errors->len ? "; " : "", err->message);
			g_clear_error(&err);
			continue;
		}
		nnets++;
	}
	if (errors->len > 0) {
		job_fail(j, "undeploy '%s': %s", scen, errors->str);
		goto out;
	}
	nubed_spec_drop(n, scen);
	if (ndoms > 0 || nnets > 0)
		nubed_event(n, "undeploy", scen, NULL, "%d domain%s and %d net%s removed", ndoms,
		    ndoms == 1 ? "" : "s", nnets, nnets == 1 ? "" : "s");
	job_ok(j, json_pack("{s:s, s:i, s:i}", "scenario", scen, "domains", ndoms, "nets",
	    nnets));
out:
	g_mutex_unlock(lock);
	g_clear_error(&err);
	virt_close(v);
	netdev_close(nd);
	nubed_publish_state_async(n);
}

/* ---- exec ---- */

static json_t *
exec_one(virt *v, const char *dom, const char *vm, const char *seq, const char *cmd,
    int timeout_s, int *exit_out, GString *out_all, GString *err_all, char **error)
{
	g_autofree char *out = NULL, *errout = NULL;
	GError *err = NULL;
	int code = -1;

	if (virt_guest_exec(v, dom, cmd, timeout_s, &code, &out, &errout, &err) < 0) {
		*error = g_strdup_printf("vm '%s': %s", vm, err->message);
		g_error_free(err);
		return NULL;
	}
	if (*exit_out == 0)
		*exit_out = code;
	g_string_append(out_all, out != NULL ? out : "");
	g_string_append(err_all, errout != NULL ? errout : "");
	return json_pack("{s:s, s:s?, s:s, s:i, s:s, s:s}", "vm", vm, "seq", seq, "cmd", cmd,
	    "exit", code, "stdout", out != NULL ? out : "", "stderr", errout != NULL ? errout : "");
}

static void
op_exec(nubed *n, rpc_job *j)
{
	const char *scen = req_str(j, "scenario", true), *vmname, *cmd, *seq;
	g_autoptr(GPtrArray) doms = NULL;
	g_autoptr(GString) out_all = g_string_new(NULL), err_all = g_string_new(NULL);
	g_autofree char *domname = NULL, *error = NULL, *spec = NULL;
	g_autoptr(scenario) s = NULL;
	const virt_dom_info *found = NULL;
	GError *err = NULL;
	virt *v = NULL;
	json_t *results = NULL;
	int timeout_s = EXEC_TIMEOUT_S, code = 0;

	if (scen == NULL || (vmname = req_str(j, "vm", true)) == NULL)
		return;
	cmd = req_str(j, "cmd", false);
	seq = req_str(j, "seq", false);
	if ((cmd == NULL) == (seq == NULL)) {
		job_fail(j, "malformed request: give exactly one of \"cmd\" and \"seq\"");
		return;
	}
	if (json_is_integer(json_object_get(j->req, "timeout_s")))
		timeout_s = (int)CLAMP(json_integer_value(json_object_get(j->req, "timeout_s")), 1,
		    3600);
	domname = proto_domain_name(scen, vmname);
	v = nubed_virt_open(n, &err);
	if (v == NULL || (doms = virt_list(v, &err)) == NULL) {
		job_fail(j, "libvirt: %s", err->message);
		goto out;
	}
	for (guint i = 0; i < doms->len; i++) {
		const virt_dom_info *di = g_ptr_array_index(doms, i);

		if (g_strcmp0(di->scenario, scen) == 0 && g_strcmp0(di->vm, vmname) == 0)
			found = di;
	}
	if (found == NULL) {
		job_fail(j, "vm '%s' of scenario '%s' is not on host '%s'", vmname, scen,
		    n->cfg->host);
		goto out;
	}
	if (!found->active) {
		job_fail(j, "vm '%s' of scenario '%s' is not running (%s)", vmname, scen,
		    found->state != NULL ? found->state : "unknown state");
		goto out;
	}
	results = json_array();
	if (cmd != NULL) {
		json_t *r = exec_one(v, found->domain, vmname, NULL, cmd, timeout_s, &code, out_all,
		    err_all, &error);

		if (r == NULL) {
			job_fail(j, "%s", error);
			goto out;
		}
		json_array_append_new(results, r);
	} else {
		g_autoptr(GPtrArray) seqs = g_ptr_array_new();
		const sc_vm *vm;
		int ran = 0;

		spec = g_strdup(req_str(j, "spec", false));
		if (spec == NULL)
			spec = nubed_spec_get(n, scen);
		if (spec == NULL) {
			job_fail(j, "exec seq '%s': this host has no spec of scenario '%s' (send "
			    "\"spec\" with the request)", seq, scen);
			goto out;
		}
		s = load_spec(j, spec, scen);
		if (s == NULL)
			goto out;
		vm = scenario_vm(s, vmname);
		if (vm == NULL) {
			job_fail(j, "scenario '%s' has no vm '%s'", scen, vmname);
			goto out;
		}
		if (scenario_expand_seq(s, seq, seqs) < 0) {
			job_fail(j, "exec seq '%s': cycle in <cmd-seq>", seq);
			goto out;
		}
		for (guint q = 0; q < seqs->len; q++)
			for (guint e = 0; e < vm->execs->len; e++) {
				const sc_exec *x = g_ptr_array_index(vm->execs, e);
				json_t *r;

				if (g_strcmp0(x->seq, g_ptr_array_index(seqs, q)) != 0 ||
				    x->text == NULL)
					continue;
				if (g_strcmp0(x->type, "file") == 0) {
					job_fail(j, "vm '%s': exec seq '%s' of type file is not "
					    "supported", vmname, x->seq);
					goto out;
				}
				r = exec_one(v, found->domain, vmname, x->seq, x->text, timeout_s,
				    &code, out_all, err_all, &error);
				if (r == NULL) {
					job_fail(j, "%s", error);
					goto out;
				}
				json_array_append_new(results, r);
				ran++;
			}
		if (ran == 0) {
			job_fail(j, "vm '%s' has no <exec seq='%s'>", vmname, seq);
			goto out;
		}
	}
	job_ok(j, json_pack("{s:s, s:s, s:i, s:s, s:s, s:O}", "scenario", scen, "vm", vmname,
	    "exit", code, "stdout", out_all->str, "stderr", err_all->str, "results", results));
out:
	json_decref(results);
	g_clear_error(&err);
	virt_close(v);
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

static void
op_status(nubed *n, rpc_job *j)
{
	g_autoptr(GPtrArray) doms = NULL, nets = NULL;
	GError *err = NULL;
	virt *v = nubed_virt_open(n, &err);
	netdev *nd = NULL;
	json_t *jv = json_array(), *jn = json_array();

	if (v == NULL || (doms = virt_list(v, &err)) == NULL) {
		job_fail(j, "libvirt: %s", err->message);
		goto out;
	}
	for (guint i = 0; i < doms->len; i++) {
		const virt_dom_info *di = g_ptr_array_index(doms, i);

		json_t *jif = json_array();

		/* "ifaces" is the structured form: names may hold spaces, "addrs" (kept for
		 * older CLIs) joins the fields with them */
		for (guint k = 0; di->ifaces != NULL && k < di->ifaces->len; k++) {
			const virt_dom_if *f = g_ptr_array_index(di->ifaces, k);

			json_array_append_new(jif, json_pack("{s:o, s:s, s:s}", "if", f->id >= 0 ?
			    json_integer(f->id) : json_null(), "net", f->net, "addr", f->addr));
		}
		json_array_append_new(jv, json_pack("{s:s?, s:s?, s:s?, s:s?, s:b, s:o, s:o, s:o}",
		    "scenario", di->scenario, "vm", di->vm, "domain", di->domain, "state", di->state,
		    "active", di->active, "addrs", strv_json(di->addrs), "ifaces", jif, "nets",
		    strv_json(di->nets)));
	}
	nd = netdev_open(&err);
	if (nd != NULL)
		nets = netdev_list(nd, &err);
	if (nets == NULL) {
		job_fail(j, "netlink: %s", err != NULL ? err->message : "unknown error");
		goto out;
	}
	for (guint i = 0; i < nets->len; i++) {
		const netdev_info *ni = g_ptr_array_index(nets, i);

		json_array_append_new(jn, json_pack("{s:s?, s:s?, s:s?, s:I, s:o}", "scenario",
		    ni->scenario, "net", ni->net, "bridge", ni->bridge, "vni", (json_int_t)ni->vni,
		    "remotes", strv_json(ni->remotes)));
	}
	job_ok(j, json_pack("{s:O, s:O, s:s}", "vms", jv, "nets", jn, "fabric_addr",
	    n->cfg->fabric_addr));
out:
	json_decref(jv);
	json_decref(jn);
	g_clear_error(&err);
	virt_close(v);
	netdev_close(nd);
}

/* ---- net-ensure / net-remove ---- */

static GPtrArray *
req_strv(rpc_job *j, const char *key)
{
	const json_t *a = json_object_get(j->req, key), *e;
	GPtrArray *out;
	size_t i;

	if (a == NULL)
		return g_ptr_array_new_with_free_func(g_free);
	if (!json_is_array(a)) {
		job_fail(j, "malformed request: \"%s\" must be an array of strings", key);
		return NULL;
	}
	out = g_ptr_array_new_with_free_func(g_free);
	json_array_foreach(a, i, e) {
		if (!json_is_string(e)) {
			job_fail(j, "malformed request: \"%s\"[%zu] must be a string", key, i);
			g_ptr_array_unref(out);
			return NULL;
		}
		g_ptr_array_add(out, g_strdup(json_string_value(e)));
	}
	return out;
}

static void
op_net_ensure(nubed *n, rpc_job *j)
{
	const char *scen = req_str(j, "scenario", true), *net;
	const json_t *jvni = json_object_get(j->req, "vni");
	const json_t *jexisting = json_object_get(j->req, "existing");
	g_autoptr(GPtrArray) hosts = NULL, addrs = NULL, remotes = NULL;
	GError *err = NULL;
	netdev *nd;
	GMutex *lock;
	uint32_t vni;
	int mtu;

	if (scen == NULL || (net = req_str(j, "net", true)) == NULL)
		return;
	if (jvni != NULL && (!json_is_integer(jvni) || json_integer_value(jvni) < 0 ||
	    json_integer_value(jvni) > 0xffffff)) {
		job_fail(j, "malformed request: \"vni\" must be an integer in 0..16777215");
		return;
	}
	vni = jvni != NULL ? (uint32_t)json_integer_value(jvni) : 0;
	if (jexisting != NULL && !json_is_boolean(jexisting)) {
		job_fail(j, "malformed request: \"existing\" must be true or false");
		return;
	}
	if ((hosts = req_strv(j, "hosts")) == NULL || (addrs = req_strv(j, "addrs")) == NULL)
		return;
	if (hosts->len != addrs->len) {
		job_fail(j, "malformed request: \"hosts\" and \"addrs\" differ in length");
		return;
	}
	remotes = remotes_of(n, hosts, addrs);
	lock = nubed_scenario_mutex(n, scen);
	g_mutex_lock(lock);
	nd = netdev_open(&err);
	if (nd == NULL) {
		job_fail(j, "netlink: %s", err->message);
		goto out;
	}
	if (json_is_true(jexisting)) {	/* only update a net this host carries (reconcile) */
		g_autoptr(GPtrArray) have = netdev_list(nd, &err);
		bool found = false;

		if (have == NULL) {
			job_fail(j, "netlink: %s", err->message);
			goto out;
		}
		for (guint i = 0; i < have->len; i++) {
			const netdev_info *ni = have->pdata[i];

			found = found || (strcmp(ni->scenario, scen) == 0 && strcmp(ni->net, net) == 0);
		}
		if (!found) {
			job_ok(j, json_pack("{s:s, s:s, s:b}", "scenario", scen, "net", net, "absent",
			    1));
			goto out;
		}
	}
	mtu = rpc_mtu(vni, netdev_mtu_of_addr(nd, n->cfg->fabric_addr));
	if (json_is_integer(json_object_get(j->req, "mtu")))
		mtu = (int)CLAMP(json_integer_value(json_object_get(j->req, "mtu")), 576, 65535);
	if (netdev_ensure(nd, scen, net, vni, n->cfg->fabric_addr,
	    (const char *const *)remotes->pdata, (int)remotes->len, mtu, &err) < 0) {
		job_fail(j, "net '%s': %s", net, err->message);
		goto out;
	}
	{
		char br[16];

		proto_bridge_name(scen, net, br);
		job_ok(j, json_pack("{s:s, s:s, s:s, s:I, s:i, s:i}", "scenario", scen, "net", net,
		    "bridge", br, "vni", (json_int_t)vni, "mtu", mtu, "remotes",
		    (int)remotes->len));
	}
out:
	g_mutex_unlock(lock);
	g_clear_error(&err);
	netdev_close(nd);
}

static void
op_net_remove(nubed *n, rpc_job *j)
{
	const char *scen = req_str(j, "scenario", true), *net;
	GError *err = NULL;
	netdev *nd;
	GMutex *lock;

	if (scen == NULL || (net = req_str(j, "net", true)) == NULL)
		return;
	lock = nubed_scenario_mutex(n, scen);
	g_mutex_lock(lock);
	nd = netdev_open(&err);
	if (nd == NULL || netdev_remove(nd, scen, net, &err) < 0)
		job_fail(j, "net '%s': %s", net, err->message);
	else
		job_ok(j, json_pack("{s:s, s:s}", "scenario", scen, "net", net));
	g_mutex_unlock(lock);
	g_clear_error(&err);
	netdev_close(nd);
}

/* ---- balancer ops: mape answers them itself (on the main loop, or from its jobs) ---- */

static void
op_mape(nubed *n, rpc_job *j)
{
	if (n->mape == NULL) {
		job_fail(j, "the balancer is not running");
		return;
	}
	mape_rpc(n->mape, j->op->op, j->msg, j->req, j->sender);
	j->answered = true;
}
