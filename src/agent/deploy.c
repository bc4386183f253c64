/* deploy: the ops that make and unmake a scenario's part on this host — deploy (nets, domains,
 * guest configuration, roll back on failure), undeploy — and exec in its guests */
#include "agent/rpc.h"

#include <string.h>

#include "agent/env.h"
#include "agent/heal.h"
#include "agent/mape.h"
#include "agent/pace.h"
#include "agent/telemetry.h"
#include "wire/deployment.h"
#include "wire/names.h"
#include "scenario/scenario.h"

#define GUEST_TIMEOUT_S		60
#define EXEC_TIMEOUT_S		60

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

		rpc_job_fail(j, "spec: %s", t);
		scenario_free(s);
		return NULL;
	}
	if (g_strcmp0(s->name, scen_name) != 0) {
		rpc_job_fail(j, "spec: scenario_name '%s' does not match the deployment's '%s'", s->name,
		    scen_name);
		scenario_free(s);
		return NULL;
	}
	return s;
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
	double seconds;		/* how long it took or waited */
	gint done;		/* atomic: the thread finished */
} configure_task;

static gpointer
configure_thread(gpointer p)
{
	configure_task *t = p;
	GError *err = NULL;
	gint64 t0 = g_get_monotonic_time();
	virt *v = nubed_virt_open(t->n, &err);

	if (v == NULL || t->n->env->virt_guest_configure(v, t->s, t->dep, t->vm, t->mtu, t->timeout_s,
	    &err) < 0)
		t->error = g_strdup(err != NULL ? err->message : "unknown error");
	g_clear_error(&err);
	if (v != NULL)
		t->n->env->virt_close(v);
	t->seconds = (double)(g_get_monotonic_time() - t0) / 1e6;
	g_atomic_int_set(&t->done, 1);
	return NULL;
}

/* tasks_join: wait for the configure threads of tasks[0..n) still running */
static void
tasks_join(configure_task *tasks, guint n)
{
	for (guint i = 0; tasks != NULL && i < n; i++)
		if (tasks[i].thread != NULL) {
			g_thread_join(tasks[i].thread);
			tasks[i].thread = NULL;
		}
}

/* Boot pacing of one deploy job: at most "ceiling" of its guests boot at once (started, guest
 * agent not answered yet); the ceiling follows the host's CPU load (pace.h), measured each
 * second while a start waits. */
typedef struct {
	int ceiling;		/* 0 until the first start */
	metrics_sample prev;
	bool have_prev;
	int waited_s;		/* seconds starts waited in all */
	guint waited_for;	/* guests the job waits for (started, configured by nube) */
	gint64 t_first;		/* monotonic time of the first start, 0 before */
	bool *said;		/* [i]: tasks[i]'s readiness was reported */
} pacer;

/* Where one deploy job's guests are: ready (configured), failed, booting (started, not
 * answered yet), and an estimate of the seconds until every guest it waits for is ready
 * (the rate at which guests became ready since the first start; -1 before the first). */
typedef struct {
	guint ready, failed, booting;
	int eta_s;
} boot_counts;

static boot_counts
boots_count(configure_task *tasks, guint n, guint waited_for, gint64 t_first)
{
	boot_counts b = { 0, 0, 0, -1 };
	double el = (double)(g_get_monotonic_time() - t_first) / G_USEC_PER_SEC;

	for (guint i = 0; i < n; i++) {
		if (!g_atomic_int_get(&tasks[i].done))
			b.booting++;
		else if (tasks[i].error == NULL)
			b.ready++;
		else
			b.failed++;
	}
	if (b.ready > 0 && waited_for > b.ready + b.failed && el > 0)
		b.eta_s = (int)((waited_for - b.ready - b.failed) * el / b.ready + 0.5);
	else if (waited_for <= b.ready + b.failed)
		b.eta_s = 0;
	return b;
}

/* boots_text: "R of W ready, B booting, P to start[, F failed], ~E s left" (g_free) */
static char *
boots_text(configure_task *tasks, guint n, guint waited_for, gint64 t_first)
{
	boot_counts b = boots_count(tasks, n, waited_for, t_first);
	GString *s = g_string_new(NULL);

	g_string_printf(s, "%u of %u ready, %u booting", b.ready, waited_for, b.booting);
	if (waited_for > n)
		g_string_append_printf(s, ", %u to start", waited_for - n);
	if (b.failed > 0)
		g_string_append_printf(s, ", %u failed", b.failed);
	if (b.eta_s > 0)
		g_string_append_printf(s, ", ~%d s left (estimate)", b.eta_s);
	return g_string_free(s, FALSE);
}

/* report_ready: each guest that became ready since the last call, with where the others
 * are; the number still booting */
static guint
report_ready(rpc_job *j, pacer *p, configure_task *tasks, guint n)
{
	guint left = 0;

	for (guint i = 0; i < n; i++) {
		if (!g_atomic_int_get(&tasks[i].done)) {
			left++;
			continue;
		}
		if (p->said[i] || tasks[i].error != NULL)
			continue;
		p->said[i] = true;
		{
			g_autofree char *t = boots_text(tasks, n, p->waited_for, p->t_first);

			rpc_job_progress(j, "vm '%s' configured in %.0f s: %s", tasks[i].vm,
			    tasks[i].seconds, t);
		}
	}
	return left;
}

static guint
tasks_booting(configure_task *tasks, guint n)
{
	guint b = 0;

	for (guint i = 0; i < n; i++)
		b += g_atomic_int_get(&tasks[i].done) ? 0 : 1;
	return b;
}

/* pace_wait: return once fewer than the ceiling of this job's guests are booting */
static void
pace_wait(nubed *n, rpc_job *j, pacer *p, configure_task *tasks, guint ntasks)
{
	metrics_sample ms;
	gint64 last = g_get_monotonic_time();
	guint b;

	if (p->ceiling == 0) {
		p->have_prev = n->env->metrics_read(n, &p->prev, NULL) == 0;
		p->ceiling = pace_initial(p->have_prev ? p->prev.cpus : g_get_num_processors());
	}
	while ((b = tasks_booting(tasks, ntasks)) >= (guint)p->ceiling) {
		g_usleep(G_USEC_PER_SEC);
		report_ready(j, p, tasks, ntasks);
		p->waited_s++;
		if (n->env->metrics_read(n, &ms, NULL) == 0) {
			if (p->have_prev)
				p->ceiling = pace_next(p->ceiling, metrics_load(&p->prev, &ms), ms.cpus);
			p->prev = ms;
			p->have_prev = true;
		}
		/* a heartbeat every 10 s keeps the caller's timeout from running out */
		if (g_get_monotonic_time() - last >= 10 * G_USEC_PER_SEC) {
			last = g_get_monotonic_time();
			g_autofree char *t = boots_text(tasks, ntasks, p->waited_for, p->t_first);

			rpc_job_progress(j, "pacing boots: %s; at most %d at once at this load", t,
			    p->ceiling);
		}
	}
}

typedef struct {
	GPtrArray *doms;	/* of char*: domains this job created (destroyed with their
				 * volumes, media included: virt_destroy_undefine) */
	GPtrArray *vols;	/* of char*: domains whose volumes this job may have made, the
				 * domain not (yet) defined by it: only the volumes go (a domain of
				 * that name that is not nube's stays untouched) */
	GPtrArray *nets;	/* of char*: nets this job created */
} made;

/* in_failed: vm is named in jf, the job's failed VMs ([{"vm", ...}]) */
static bool
in_failed(const json_t *jf, const char *vm)
{
	size_t k;
	const json_t *f;

	json_array_foreach(jf, k, f)
		if (g_strcmp0(json_string_value(json_object_get(f, "vm")), vm) == 0)
			return true;
	return false;
}

/* setup_failed: a VM whose render, disks, media or define failed (step says which; err is
 * consumed). In a degraded deploy it alone goes — the volumes this job may have made for it
 * removed (made_here: no domain of that name was here before; never the domain itself: a
 * define that fails leaves none of its own, and one that is not nube's stays untouched) —
 * and is reported in jf like a guest that never came up: true, go on with the others. Else
 * the job fails: false (the caller rolls everything back). */
static bool
setup_failed(nubed *n, rpc_job *j, virt *v, bool partial, bool made_here, json_t *jf,
    const char *scen, const char *vm, const char *step, GError **err)
{
	g_autofree char *dom = proto_domain_name(scen, vm);
	g_autofree char *msg = g_strdup_printf("%s: %s", step, (*err)->message);

	g_clear_error(err);
	if (!partial) {
		rpc_job_fail(j, "vm '%s': %s", vm, msg);
		return false;
	}
	rpc_job_progress(j, "vm '%s' failed: %s", vm, msg);
	nubed_log(NLOG_WARN, "vm '%s': %s: removed, the others go on (degraded deploy)", vm, msg);
	if (made_here && n->env->virt_volumes_delete(v, dom, err) < 0) {
		nubed_log(NLOG_ERR, "vm '%s': remove after its failure: %s", vm, (*err)->message);
		g_clear_error(err);
	}
	json_array_append_new(jf, json_pack("{s:s, s:s, s:s, s:f}", "vm", vm, "domain", dom,
	    "error", msg, "seconds", 0.0));
	return true;
}

static int destroy_each(nubed *n, virt *v, GPtrArray *doms, GString *errors);

static void
rollback(nubed *n, rpc_job *j, const char *scen, made *m, virt *v, netdev *nd)
{
	GError *err = NULL;
	g_autoptr(GString) errors = g_string_new(NULL);

	destroy_each(n, v, m->doms, errors);
	if (errors->len > 0)
		nubed_log(NLOG_ERR, "roll back: %s", errors->str);
	for (guint i = 0; i < m->vols->len; i++) {
		const char *d = g_ptr_array_index(m->vols, i);

		if (!rpc_strv_has(m->doms, d) && n->env->virt_volumes_delete(v, d, &err) < 0) {
			nubed_log(NLOG_ERR, "roll back: %s", err->message);
			g_clear_error(&err);
		}
	}
	for (guint i = 0; i < m->nets->len; i++) {
		const char *net = g_ptr_array_index(m->nets, i);

		if (n->env->net_remove(nd, scen, net, &err) < 0) {
			nubed_log(NLOG_ERR, "roll back: %s", err->message);
			g_clear_error(&err);
		}
	}
	if (m->doms->len > 0 || m->nets->len > 0)
		rpc_job_progress(j, "rolled back %u domain%s and %u net%s made here", m->doms->len,
		    m->doms->len == 1 ? "" : "s", m->nets->len, m->nets->len == 1 ? "" : "s");
	(void)n;
}

/* json_strv_has: a (a JSON array of strings) holds s */
static bool
json_strv_has(const json_t *a, const char *s)
{
	const json_t *e;
	size_t i;

	json_array_foreach(a, i, e)
		if (g_strcmp0(json_string_value(e), s) == 0)
			return true;
	return false;
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

void
op_deploy(nubed *n, rpc_job *j)
{
	const json_t *dj = json_object_get(rpc_job_req(j), "deployment");
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
	made m = { g_ptr_array_new_with_free_func(g_free), g_ptr_array_new_with_free_func(g_free),
	    g_ptr_array_new_with_free_func(g_free) };
	g_autoptr(GPtrArray) cfg = g_ptr_array_new();		/* of sc_vm*: configured by nube */
	g_autoptr(GHashTable) media = g_hash_table_new(NULL, NULL);	/* sc_vm*: have media */
	GError *err = NULL;
	virt *v = NULL;
	netdev *nd = NULL;
	GMutex *lock = NULL;
	int fabric_mtu, guest_timeout = GUEST_TIMEOUT_S, intervm_delay = 0, started = 0;
	configure_task *tasks = NULL;	/* [cfg->len] of [mine->len] */
	pacer pace = { 0 };
	g_autofree bool *waits = NULL;	/* [i]: the job waits for mine[i]'s guest */
	json_t *jw, *jv, *jf = json_array();
	gint64 t0 = g_get_monotonic_time();
	/* partial: a VM whose guest does not come up is removed and reported in "failed", the
	 * others stay (a degraded scenario); else any failure rolls back all made here */
	bool partial = json_is_true(json_object_get(rpc_job_req(j), "partial"));
	const json_t *only = json_object_get(rpc_job_req(j), "only");	/* retry: these VMs */

	if (!json_is_object(dj))
		dj = rpc_job_req(j);	/* the deployment may also be the request itself */
	dep = proto_deployment_from_json(dj, d);
	if (dep == NULL) {
		g_autofree char *t = diag_text(d);

		rpc_job_fail(j, "malformed deployment: %s", t);
		goto out;
	}
	if (json_is_integer(json_object_get(rpc_job_req(j), "guest_timeout_s")))
		guest_timeout = (int)CLAMP(json_integer_value(json_object_get(rpc_job_req(j),
		    "guest_timeout_s")), 1, 3600);
	/* VNX's --intervm-delay: seconds between two starts on this host */
	if (json_is_integer(json_object_get(rpc_job_req(j), "intervm_delay_s")))
		intervm_delay = (int)CLAMP(json_integer_value(json_object_get(rpc_job_req(j),
		    "intervm_delay_s")), 0, 3600);
	s = load_spec(j, dep->spec, dep->scenario);
	if (s == NULL)
		goto out;
	if (n->mape != NULL)	/* the operator placed VMs here: a host on standby wakes */
		mape_wake(n, "deploy", 0);
	for (guint i = 0; i < dep->vms->len; i++) {
		const proto_vm_place *p = g_ptr_array_index(dep->vms, i);
		sc_vm *vm;

		if (strcmp(p->host, n->cfg->host) != 0 || (only != NULL && !json_strv_has(only,
		    p->vm)))
			continue;
		vm = scenario_vm(s, p->vm);
		if (vm == NULL) {
			rpc_job_fail(j, "vm '%s': placed here but not in the scenario", p->vm);
			goto out;
		}
		g_ptr_array_add(mine, vm);
		for (guint k = 0; k < vm->ifs->len; k++) {
			const sc_if *ifc = g_ptr_array_index(vm->ifs, k);
			const sc_net *net = scenario_net(s, ifc->net);

			if (net != NULL && net->managed && !rpc_strv_has(netnames, net->name))
				g_ptr_array_add(netnames, net->name);
		}
	}
	if (mine->len == 0) {
		rpc_job_ok(j, json_pack("{s:s, s:[]}", "scenario", dep->scenario, "vms"));
		goto out;
	}
	/* started as VNX starts them: <vm order> first, by it, then in file order */
	scenario_vms_start_sort(mine);
	tasks = g_new0(configure_task, mine->len);
	pace.said = g_new0(bool, mine->len);
	lock = nubed_scenario_mutex(n, dep->scenario);
	g_mutex_lock(lock);
	rpc_job_hold(j);		/* a failure is answered once the roll back is done */
	rpc_job_progress(j, "deploying %u vm%s of '%s'", mine->len, mine->len == 1 ? "" : "s",
	    dep->scenario);
	nd = n->env->net_open(n, &err);
	if (nd == NULL) {
		rpc_job_fail(j, "netlink: %s", err->message);
		goto out;
	}
	v = nubed_virt_open(n, &err);
	if (v == NULL) {
		rpc_job_fail(j, "libvirt: %s", err->message);
		goto out;
	}
	/* what exists before: only what this job makes is undone on failure */
	{
		g_autoptr(GPtrArray) doms = n->env->virt_list(v, &err);
		g_autoptr(GPtrArray) nets = NULL;

		if (doms == NULL) {
			rpc_job_fail(j, "libvirt: %s", err->message);
			goto out;
		}
		for (guint i = 0; i < doms->len; i++)
			g_hash_table_add(before_doms, g_strdup(((virt_dom_info *)
			    g_ptr_array_index(doms, i))->domain));
		nets = n->env->net_list(nd, &err);
		if (nets == NULL) {
			rpc_job_fail(j, "netlink: %s", err->message);
			goto out;
		}
		for (guint i = 0; i < nets->len; i++) {
			const netdev_info *ni = g_ptr_array_index(nets, i);

			if (g_strcmp0(ni->scenario, dep->scenario) == 0)
				g_hash_table_add(before_nets, g_strdup(ni->net));
		}
	}
	/* every VM's disks can be had here, before anything is made */
	for (guint i = 0; i < mine->len; i++) {
		const sc_vm *vm = g_ptr_array_index(mine, i);

		if (n->env->virt_vm_disks_check(v, s, dep, vm->name, &err) < 0) {
			rpc_job_fail(j, "%s", err->message);
			goto out;
		}
	}
	fabric_mtu = n->env->net_mtu_of_addr(nd, n->cfg->fabric_addr);
	for (guint i = 0; i < netnames->len; i++) {
		const char *net = g_ptr_array_index(netnames, i);
		const proto_net_place *np = proto_deployment_net(dep, net);
		uint32_t vni = np != NULL ? np->vni : 0;
		g_autoptr(GPtrArray) remotes = np != NULL ? rpc_remotes(n, np->hosts, np->addrs) :
		    g_ptr_array_new();
		int mtu;

		if (vni != 0 && fabric_mtu <= 0) {
			rpc_job_fail(j, "net '%s': fabric address %s is on no link of this host", net,
			    n->cfg->fabric_addr);
			goto fail;
		}
		if (vni > NUBE_VNI_DEPLOY_MAX)	/* the store never gives one: a foreign deployer */
			nubed_log(NLOG_WARN, "net '%s': vni %u of a deploy is in the agents' stretch "
			    "range %u..%u", net, vni, NUBE_VNI_STRETCH_MIN, NUBE_VNI_STRETCH_MAX);
		mtu = rpc_mtu(vni, fabric_mtu);
		g_hash_table_insert(net_mtu, (gpointer)net, GINT_TO_POINTER(mtu));
		if (n->env->net_ensure(nd, dep->scenario, net, vni, n->cfg->fabric_addr,
		    (const char *const *)remotes->pdata, (int)remotes->len, mtu, &err) < 0) {
			rpc_job_fail(j, "net '%s': %s", net, err->message);
			goto fail;
		}
		if (!g_hash_table_contains(before_nets, net))
			g_ptr_array_add(m.nets, g_strdup(net));
		if (vni != 0)
			rpc_job_progress(j, "net '%s' ready (vxlan %u, mtu %d, %u remote%s)", net, vni,
			    mtu, remotes->len, remotes->len == 1 ? "" : "s");
		else
			rpc_job_progress(j, "net '%s' ready (local, mtu %d)", net, mtu);
	}
	/* the guests this job waits for: started here and configured by nube (a VM with media
	 * configures itself, one with <on_boot>no</on_boot> is only defined) */
	waits = g_new0(bool, mine->len);
	for (guint i = 0; i < mine->len; i++) {
		const sc_vm *vm = g_ptr_array_index(mine, i);

		waits[i] = !vm->no_start && !n->env->virt_media_used(v, s, dep, vm->name);
		pace.waited_for += waits[i] ? 1 : 0;
	}
	for (guint i = 0; i < mine->len; i++) {
		const sc_vm *vm = g_ptr_array_index(mine, i);
		g_autofree char *xml = NULL;
		g_autofree char *dom = proto_domain_name(dep->scenario, vm->name);
		guint nw = warnings->len;

		bool made_here = !g_hash_table_contains(before_doms, dom);

		xml = n->env->virt_render_domain(v, s, dep, vm->name, vm_mtu(vm, net_mtu), warnings, &err);
		if (xml == NULL) {
			if (setup_failed(n, j, v, partial, false, jf, dep->scenario, vm->name,
			    "render", &err)) {
				pace.waited_for -= waits[i] ? 1 : 0;
				continue;
			}
			goto fail;
		}
		for (guint k = nw; k < warnings->len; k++) {
			nubed_log(NLOG_WARN, "vm '%s': %s", vm->name,
			    (char *)g_ptr_array_index(warnings, k));
			rpc_job_progress(j, "warning: %s", (char *)g_ptr_array_index(warnings, k));
		}
		/* a roll back removes the volumes made here for a domain not defined yet */
		if (!g_hash_table_contains(before_doms, dom))
			g_ptr_array_add(m.vols, g_strdup(dom));
		if (n->env->virt_vm_disks_prepare(v, s, dep, vm->name, &err) < 0) {
			if (setup_failed(n, j, v, partial, made_here, jf, dep->scenario, vm->name,
			    "disks", &err)) {
				pace.waited_for -= waits[i] ? 1 : 0;
				continue;
			}
			goto fail;
		}
		/* its configuration media: volumes of the domain too */
		if (n->env->virt_media_used(v, s, dep, vm->name))
			g_hash_table_add(media, (gpointer)vm);
		if (g_hash_table_contains(media, vm) && !g_hash_table_contains(before_doms, dom) &&
		    n->env->virt_media_write(v, dom, proto_deployment_vm(dep, vm->name)->media,
		    &err) < 0) {
			if (setup_failed(n, j, v, partial, made_here, jf, dep->scenario, vm->name,
			    "configuration media", &err)) {
				pace.waited_for -= waits[i] ? 1 : 0;
				continue;
			}
			goto fail;
		}
		if (vm->no_start) {
			if (n->env->virt_define_only(v, xml, &err) < 0) {
				if (setup_failed(n, j, v, partial, made_here, jf, dep->scenario,
				    vm->name, "define", &err)) {
					pace.waited_for -= waits[i] ? 1 : 0;
					continue;
				}
				goto fail;
			}
			if (!g_hash_table_contains(before_doms, dom))
				g_ptr_array_add(m.doms, g_strdup(dom));
			rpc_job_progress(j, "vm '%s' defined as domain '%s', not started "
			    "(<on_boot>no</on_boot>)", vm->name, dom);
			continue;
		}
		if (started++ > 0 && intervm_delay > 0) {
			for (int w = 0; w < intervm_delay; w++) {
				/* said again every 10 s: the caller's timeout follows progress */
				if (w % 10 == 0)
					rpc_job_progress(j, "waiting %d s before vm '%s' "
					    "(--intervm-delay %d)", intervm_delay - w, vm->name,
					    intervm_delay);
				g_usleep(G_USEC_PER_SEC);
			}
		}
		/* paced: a guest starts when fewer than the ceiling of this job's are booting */
		pace_wait(n, j, &pace, tasks, cfg->len);
		if (pace.t_first == 0)
			pace.t_first = g_get_monotonic_time();
		if (n->env->virt_define_start(v, xml, &err) < 0) {
			if (setup_failed(n, j, v, partial, made_here, jf, dep->scenario, vm->name,
			    "define", &err)) {
				pace.waited_for -= waits[i] ? 1 : 0;
				continue;
			}
			goto fail;
		}
		/* a roll back removes a domain made here, with its volumes */
		if (!g_hash_table_contains(before_doms, dom))
			g_ptr_array_add(m.doms, g_strdup(dom));
		/* configured through its guest agent as soon as it answers, but a VM that
		 * configures itself from its media (its image's own daemon, after its boot) */
		if (g_hash_table_contains(media, vm)) {
			rpc_job_progress(j, "vm '%s' started as domain '%s'; it configures itself from "
			    "its media as it boots", vm->name, dom);
			continue;
		}
		tasks[cfg->len] = (configure_task){ n, s, dep, vm->name, vm_mtu(vm, net_mtu),
		    guest_timeout, NULL, NULL, 0, 0 };
		tasks[cfg->len].thread = g_thread_new("configure", configure_thread,
		    &tasks[cfg->len]);
		g_ptr_array_add(cfg, (gpointer)vm);
		rpc_job_progress(j, "vm '%s' started as domain '%s' (%u of %u booting here, at most "
		    "%d at once)", vm->name, dom, tasks_booting(tasks, cfg->len), mine->len,
		    pace.ceiling);
	}
	if (cfg->len > 0)
		rpc_job_progress(j, "all started (starts waited %d s for boots to finish); "
		    "configuring %u guest%s (each waited for up to %d s, more while it makes "
		    "progress)", pace.waited_s, cfg->len, cfg->len == 1 ? "" : "s", guest_timeout);
	{
		int failed = -1;
		gint64 w0 = g_get_monotonic_time(), last = w0;

		/* a heartbeat every 10 s keeps the caller's timeout from running out */
		for (;;) {
			guint left = report_ready(j, &pace, tasks, cfg->len);

			if (left == 0)
				break;
			if (g_get_monotonic_time() - last >= 10 * G_USEC_PER_SEC) {
				last = g_get_monotonic_time();
				g_autofree char *t = boots_text(tasks, cfg->len, pace.waited_for,
				    pace.t_first);

				rpc_job_progress(j, "waiting for %u guest agent%s (%d s): %s", left,
				    left == 1 ? "" : "s", (int)((last - w0) / G_USEC_PER_SEC), t);
			}
			g_usleep(100 * 1000);
		}
		for (guint i = 0; i < cfg->len; i++) {
			g_autofree char *dom = NULL;

			if (tasks[i].thread == NULL)
				continue;
			g_thread_join(tasks[i].thread);
			tasks[i].thread = NULL;
			if (tasks[i].error == NULL) {
				if (!pace.said[i])
					rpc_job_progress(j, "vm '%s' configured in %.0f s",
					    tasks[i].vm, tasks[i].seconds);
				continue;
			}
			if (!partial) {
				failed = failed < 0 ? (int)i : failed;
				continue;
			}
			/* degraded: this VM goes (when this job made it), the others stay */
			dom = proto_domain_name(dep->scenario, tasks[i].vm);
			rpc_job_progress(j, "vm '%s' failed after %.0f s: %s", tasks[i].vm,
			    tasks[i].seconds, tasks[i].error);
			if (rpc_strv_has(m.doms, dom)) {
				if (n->env->virt_destroy_undefine(v, dom, &err) < 0) {
					nubed_log(NLOG_ERR, "vm '%s': remove after its failure: %s",
					    tasks[i].vm, err->message);
					g_clear_error(&err);
				}
			}
			json_array_append_new(jf, json_pack("{s:s, s:s, s:s, s:f}", "vm", tasks[i].vm,
			    "domain", dom, "error", tasks[i].error, "seconds", tasks[i].seconds));
		}
		if (failed >= 0) {
			rpc_job_fail(j, "vm '%s': configure: %s", tasks[failed].vm, tasks[failed].error);
			goto fail;
		}
	}
	nubed_spec_put(n, dep->scenario, dep->spec);
	/* self-healing's record: what another host needs to restart these VMs */
	{
		const json_t *hg = json_object_get(rpc_job_req(j), "heal_gen");

		for (guint i = 0; i < mine->len; i++) {
			const sc_vm *vm = g_ptr_array_index(mine, i);
			g_autoptr(GPtrArray) vnets = g_ptr_array_new();

			if (in_failed(jf, vm->name))
				continue;
			for (guint q = 0; q < vm->ifs->len; q++)
				g_ptr_array_add(vnets, ((sc_if *)g_ptr_array_index(vm->ifs, q))->net);
			g_ptr_array_add(vnets, NULL);
			heal_record_deployed(n, dj, vm->name, (const char *const *)vnets->pdata,
			    json_is_integer(hg) ? json_integer_value(hg) : 1);
		}
		heal_record_publish(n);
	}
	jw = json_array();
	for (guint i = 0; i < warnings->len; i++)
		json_array_append_new(jw, json_string(g_ptr_array_index(warnings, i)));
	jv = json_array();
	for (guint i = 0; i < mine->len; i++) {
		const sc_vm *vm = g_ptr_array_index(mine, i);
		g_autofree char *dom = proto_domain_name(dep->scenario, vm->name);

		if (!in_failed(jf, vm->name))
			json_array_append_new(jv, json_pack("{s:s, s:s}", "vm", vm->name, "domain",
			    dom));
	}
	if (json_array_size(jf) > 0)
		nubed_event(n, "deploy-degraded", dep->scenario, NULL, NULL, "%zu of %u vm%s "
		    "deployed in %.1f s, %zu failed", json_array_size(jv), mine->len,
		    mine->len == 1 ? "" : "s", (double)(g_get_monotonic_time() - t0) / 1e6,
		    json_array_size(jf));
	else
		nubed_event(n, "deploy", dep->scenario, NULL, NULL, "%u vm%s and %u net%s deployed "
		    "in %.1f s", mine->len, mine->len == 1 ? "" : "s", netnames->len,
		    netnames->len == 1 ? "" : "s", (double)(g_get_monotonic_time() - t0) / 1e6);
	rpc_job_ok(j, json_pack("{s:s, s:o, s:I, s:o, s:f, s:O}", "scenario", dep->scenario, "vms",
	    jv, "nets", (json_int_t)netnames->len, "warnings", jw,
	    "seconds", (double)(g_get_monotonic_time() - t0) / 1e6, "failed", jf));
	image_cache_trim(n, v);	/* after the answer: the operator does not wait for it */
	goto out;
fail:
	tasks_join(tasks, cfg->len);	/* their domains go now: no thread may touch them */
	rollback(n, j, dep->scenario, &m, v, nd);
	nubed_event(n, "deploy-failed", dep->scenario, NULL, NULL, "%s; rolled back",
	    rpc_job_held(j) != NULL ? rpc_job_held(j) : "deploy failed");
out:
	if (v != NULL)		/* status shows what this job made or removed */
		nubed_doms_refresh(n, v, NULL);
	rpc_job_release(j);
	if (tasks != NULL) {
		tasks_join(tasks, cfg->len);
		for (guint i = 0; i < cfg->len; i++)
			g_free(tasks[i].error);
		g_free(tasks);
		g_free(pace.said);
	}
	if (lock != NULL)
		g_mutex_unlock(lock);
	g_clear_error(&err);
	n->env->virt_close(v);
	n->env->net_close(nd);
	g_ptr_array_unref(m.doms);
	g_ptr_array_unref(m.vols);
	g_ptr_array_unref(m.nets);
	json_decref(jf);
	telemetry_start_async(n);
}

/* ---- undeploy ---- */

/* Domains are destroyed several at once: libvirt's LXC driver takes ~1.8 s to stop one
 * container (SIGTERM to its init, SIGKILL after its wait), so one after another 96
 * containers took 3 min to undeploy. */
#define DESTROY_AT_ONCE	8

typedef struct {
	nubed *n;
	virt *v;
	GMutex mu;
	GString *errors;
	int removed;
} destroy_ctx;

static void
destroy_one(gpointer data, gpointer ud)
{
	destroy_ctx *c = ud;
	GError *err = NULL;
	int rc = c->n->env->virt_destroy_undefine(c->v, data, &err);

	g_mutex_lock(&c->mu);
	if (rc < 0)
		g_string_append_printf(c->errors, "%s%s", c->errors->len ? "; " : "", err->message);
	else
		c->removed++;
	g_mutex_unlock(&c->mu);
	g_clear_error(&err);
}

/* destroy_each: destroy and undefine the domains (char*) of doms; each failure appended to
 * errors ("; "); the count removed */
static int
destroy_each(nubed *n, virt *v, GPtrArray *doms, GString *errors)
{
	destroy_ctx c = { n, v, { 0 }, errors, 0 };
	GThreadPool *pool = NULL;
	GError *err = NULL;

	g_mutex_init(&c.mu);
	/* the LXC connection is opened on first use: opened here, before the threads share it */
	if (n->env->virt_lxc_probe != NULL && n->env->virt_lxc_probe(v, &err) < 0)
		g_clear_error(&err);
	if (doms->len > 1)
		pool = g_thread_pool_new(destroy_one, &c, MIN(DESTROY_AT_ONCE, (int)doms->len), TRUE,
		    NULL);
	for (guint i = 0; i < doms->len; i++)
		if (pool == NULL || !g_thread_pool_push(pool, doms->pdata[i], NULL))
			destroy_one(doms->pdata[i], &c);
	if (pool != NULL)
		g_thread_pool_free(pool, FALSE, TRUE);	/* waits for every one */
	g_mutex_clear(&c.mu);
	return c.removed;
}

void
op_undeploy(nubed *n, rpc_job *j)
{
	const char *scen = rpc_job_str(j, "scenario", true);
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
	if (v == NULL || (doms = n->env->virt_list(v, &err)) == NULL) {
		rpc_job_fail(j, "libvirt: %s", err->message);
		goto out;
	}
	nd = n->env->net_open(n, &err);
	if (nd == NULL || (nets = n->env->net_list(nd, &err)) == NULL) {
		rpc_job_fail(j, "netlink: %s", err->message);
		goto out;
	}
	{
		g_autoptr(GPtrArray) mine = g_ptr_array_new();

		for (guint i = 0; i < doms->len; i++) {
			const virt_dom_info *di = g_ptr_array_index(doms, i);

			if (g_strcmp0(di->scenario, scen) == 0)
				g_ptr_array_add(mine, di->domain);
		}
		ndoms = destroy_each(n, v, mine, errors);
	}
	for (guint i = 0; i < nets->len; i++) {
		const netdev_info *ni = g_ptr_array_index(nets, i);

		if (g_strcmp0(ni->scenario, scen) != 0)
			continue;
		if (n->env->net_remove(nd, scen, ni->net, &err) < 0) {
			g_string_append_printf(errors, "%s%s", errors->len ? "; " : "", err->message);
			g_clear_error(&err);
			continue;
		}
		nnets++;
	}
	if (errors->len > 0) {
		rpc_job_fail(j, "undeploy '%s': %s", scen, errors->str);
		goto out;
	}
	nubed_spec_drop(n, scen);
	heal_record_drop_scenario(n, scen);
	image_cache_trim(n, v);
	if (ndoms > 0 || nnets > 0)
		nubed_event(n, "undeploy", scen, NULL, NULL, "%d domain%s and %d net%s removed", ndoms,
		    ndoms == 1 ? "" : "s", nnets, nnets == 1 ? "" : "s");
	rpc_job_ok(j, json_pack("{s:s, s:i, s:i}", "scenario", scen, "domains", ndoms, "nets",
	    nnets));
out:
	if (v != NULL)
		nubed_doms_refresh(n, v, NULL);
	g_mutex_unlock(lock);
	g_clear_error(&err);
	n->env->virt_close(v);
	n->env->net_close(nd);
	telemetry_start_async(n);
}

/* ---- exec ---- */

static json_t *
exec_one(nubed *n, virt *v, const char *dom, const char *vm, const char *seq, const char *cmd,
    int timeout_s, int *exit_out, GString *out_all, GString *err_all, char **error)
{
	g_autofree char *out = NULL, *errout = NULL;
	GError *err = NULL;
	int code = -1;

	if (n->env->virt_guest_exec(v, dom, cmd, timeout_s, &code, &out, &errout, &err) < 0) {
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

/* exec_filetree: one filetree step of an exec (guestcfg_exec_steps): every file written
 * through the guest agent, then its chmod commands. A result, or NULL with *error. */
static json_t *
exec_filetree(nubed *n, virt *v, const char *dom, const char *vm, const char *seq,
    json_t *step, int timeout_s, char **error)
{
	json_t *files = json_object_get(step, "write_files"), *f, *cmd;
	const char *root = json_string_value(json_object_get(step, "filetree"));
	size_t i;

	json_array_foreach(files, i, f) {
		const char *path = json_string_value(json_object_get(f, "path"));
		const char *b64 = json_string_value(json_object_get(f, "content"));
		const char *perm = json_string_value(json_object_get(f, "permissions"));
		const char *owner = json_string_value(json_object_get(f, "owner"));
		g_autofree guchar *data = NULL;
		gsize len = 0;
		GError *err = NULL;

		if (path == NULL || b64 == NULL) {
			*error = g_strdup_printf("vm '%s': malformed filetree step", vm);
			return NULL;
		}
		data = g_base64_decode(b64, &len);
		if (n->env->virt_guest_write(v, dom, path, data, len,
		    perm != NULL ? (unsigned)g_ascii_strtoull(perm, NULL, 8) : 0644, owner,
		    timeout_s, &err) < 0) {
			*error = g_strdup_printf("vm '%s': filetree '%s': %s", vm, path,
			    err->message);
			g_error_free(err);
			return NULL;
		}
	}
	json_array_foreach(json_object_get(step, "runcmd"), i, cmd) {
		g_autoptr(GString) line = g_string_new(NULL);
		g_autofree char *out = NULL, *errout = NULL;
		GError *err = NULL;
		json_t *a;
		size_t k;
		int code = -1;

		json_array_foreach(cmd, k, a) {
			g_autofree char *q = g_shell_quote(json_string_value(a) != NULL ?
			    json_string_value(a) : "");

			g_string_append_printf(line, "%s%s", k ? " " : "", q);
		}
		if (n->env->virt_guest_exec(v, dom, line->str, timeout_s, &code, &out, &errout,
		    &err) < 0 || code != 0) {
			*error = g_strdup_printf("vm '%s': filetree '%s': %s: %s", vm,
			    root != NULL ? root : "", line->str, err != NULL ? err->message :
			    errout != NULL ? g_strstrip(errout) : "failed");
			g_clear_error(&err);
			return NULL;
		}
	}
	return json_pack("{s:s, s:s?, s:s?, s:i}", "vm", vm, "seq", seq, "filetree", root,
	    "files", (int)json_array_size(files));
}

/* dom_running: the remembered listing has vm of scen running; *domain (g_free) its domain
 * when listed at all, *state (may be NULL; g_free) its state then */
static bool
dom_running(nubed *n, const char *scen, const char *vm, char **domain, char **state)
{
	json_t *doms = nubed_doms_get(n, NULL), *o;
	bool running = false;
	size_t i;

	json_array_foreach(doms, i, o) {
		if (g_strcmp0(json_string_value(json_object_get(o, "scenario")), scen) != 0 ||
		    g_strcmp0(json_string_value(json_object_get(o, "vm")), vm) != 0)
			continue;
		g_free(*domain);
		*domain = g_strdup(json_string_value(json_object_get(o, "domain")));
		if (state != NULL) {
			g_free(*state);
			*state = g_strdup(json_string_value(json_object_get(o, "state")));
		}
		running = json_is_true(json_object_get(o, "active"));
		if (running)
			break;
	}
	json_decref(doms);
	return running && *domain != NULL;
}

void
op_exec(nubed *n, rpc_job *j)
{
	const char *scen = rpc_job_str(j, "scenario", true), *vmname, *cmd, *seq;
	g_autoptr(GString) out_all = g_string_new(NULL), err_all = g_string_new(NULL);
	g_autofree char *domname = NULL, *error = NULL, *spec = NULL;
	g_autoptr(scenario) s = NULL;
	GError *err = NULL;
	virt *v = NULL;
	json_t *results = NULL;
	int timeout_s = EXEC_TIMEOUT_S, code = 0;

	if (scen == NULL || (vmname = rpc_job_str(j, "vm", true)) == NULL)
		return;
	cmd = rpc_job_str(j, "cmd", false);
	seq = rpc_job_str(j, "seq", false);
	if ((cmd == NULL) == (seq == NULL)) {
		rpc_job_fail(j, "malformed request: give exactly one of \"cmd\" and \"seq\"");
		return;
	}
	if (json_is_integer(json_object_get(rpc_job_req(j), "timeout_s")))
		timeout_s = (int)CLAMP(json_integer_value(json_object_get(rpc_job_req(j), "timeout_s")), 1,
		    3600);
	v = nubed_virt_open(n, &err);
	if (v == NULL) {
		rpc_job_fail(j, "libvirt: %s", err->message);
		goto out;
	}
	/* the remembered listing finds a running VM without listing every domain (forty
	 * execs at once would list forty domains forty times); a VM it does not show running
	 * is looked for in a fresh listing, which then answers */
	if (!dom_running(n, scen, vmname, &domname, NULL)) {
		g_autofree char *state = NULL;

		if (nubed_doms_refresh(n, v, &err) < 0) {
			rpc_job_fail(j, "libvirt: %s", err->message);
			goto out;
		}
		g_clear_pointer(&domname, g_free);
		if (!dom_running(n, scen, vmname, &domname, &state)) {
			if (domname == NULL)
				rpc_job_fail(j, "vm '%s' of scenario '%s' is not on host '%s'", vmname,
				    scen, n->cfg->host);
			else
				rpc_job_fail(j, "vm '%s' of scenario '%s' is not running (%s)", vmname,
				    scen, state != NULL ? state : "unknown state");
			goto out;
		}
	}
	results = json_array();
	if (cmd != NULL) {
		json_t *r = exec_one(n, v, domname, vmname, NULL, cmd, timeout_s, &code, out_all,
		    err_all, &error);

		if (r == NULL) {
			rpc_job_fail(j, "%s", error);
			goto out;
		}
		json_array_append_new(results, r);
	} else {
		g_autoptr(GPtrArray) seqs = g_ptr_array_new();
		const sc_vm *vm;
		int ran = 0;

		json_t *steps = json_object_get(rpc_job_req(j), "steps"), *st;
		size_t k;

		/* the CLI resolved the seq on the operator's machine (files read there) */
		json_array_foreach(steps, k, st) {
			const char *text = json_string_value(json_object_get(st, "cmd"));
			json_t *r;

			if (json_is_array(json_object_get(st, "write_files"))) {
				r = exec_filetree(n, v, domname, vmname, seq, st, timeout_s,
				    &error);
			} else if (text != NULL && json_is_true(json_object_get(st, "detach"))) {
				/* ostype exec: started, not waited for (as vnxaced forks it); a
				 * subshell's background child is init's, no nohup needed (busybox
				 * guests lack it) */
				g_autofree char *q = g_shell_quote(text);
				g_autofree char *bg = g_strdup_printf("(sh -c %s </dev/null "
				    ">/dev/null 2>&1 &)", q);

				r = exec_one(n, v, domname, vmname, seq, bg, timeout_s, &code,
				    out_all, err_all, &error);
			} else if (text != NULL) {
				r = exec_one(n, v, domname, vmname, seq, text, timeout_s, &code,
				    out_all, err_all, &error);
			} else {
				error = g_strdup_printf("vm '%s': malformed exec step", vmname);
				r = NULL;
			}
			if (r == NULL) {
				rpc_job_fail(j, "%s", error);
				goto out;
			}
			json_array_append_new(results, r);
		}
		if (json_is_array(steps))
			goto done;
		spec = g_strdup(rpc_job_str(j, "spec", false));
		if (spec == NULL)
			spec = nubed_spec_get(n, scen);
		if (spec == NULL) {
			rpc_job_fail(j, "exec seq '%s': this host has no spec of scenario '%s' (send "
			    "\"spec\" with the request)", seq, scen);
			goto out;
		}
		s = load_spec(j, spec, scen);
		if (s == NULL)
			goto out;
		vm = scenario_vm(s, vmname);
		if (vm == NULL) {
			rpc_job_fail(j, "scenario '%s' has no vm '%s'", scen, vmname);
			goto out;
		}
		if (scenario_expand_seq(s, seq, seqs) < 0) {
			rpc_job_fail(j, "exec seq '%s': cycle in <cmd-seq>", seq);
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
					rpc_job_fail(j, "vm '%s': exec seq '%s' of type file is not "
					    "supported", vmname, x->seq);
					goto out;
				}
				r = exec_one(n, v, domname, vmname, x->seq, x->text, timeout_s,
				    &code, out_all, err_all, &error);
				if (r == NULL) {
					rpc_job_fail(j, "%s", error);
					goto out;
				}
				json_array_append_new(results, r);
				ran++;
			}
		if (ran == 0) {
			rpc_job_fail(j, "vm '%s' has no <exec seq='%s'>", vmname, seq);
			goto out;
		}
	}
done:
	rpc_job_ok(j, json_pack("{s:s, s:s, s:i, s:s, s:s, s:O}", "scenario", scen, "vm", vmname,
	    "exit", code, "stdout", out_all->str, "stderr", err_all->str, "results", results));
out:
	json_decref(results);
	g_clear_error(&err);
	n->env->virt_close(v);
}

