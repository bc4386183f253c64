/* mape: nubed's live balancer — analyse each own sample, plan when overloaded, run the plan,
 * drain and leave jobs (one at a time, each in its own thread), and its life cycle */
#include "agent/mape_int.h"

#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include "agent/env.h"
#include "agent/telemetry.h"

#define DRAIN_PASSES	4	/* rpc drain: passes without progress before giving up */

balance_policy
mape_move_policy(const mape *m)
{
	return m->bc.policy == BALANCE_POLICY_NONE ? BALANCE_POLICY_NUBE : m->bc.policy;
}

bool
mape_container_movable(const mape *m, const char *vm_move, bool by_operator)
{
	config_move_containers p = m->mc.move_containers;

	if (g_strcmp0(vm_move, "never") == 0)
		p = CONFIG_MOVE_NEVER;
	else if (g_strcmp0(vm_move, "operator") == 0)
		p = CONFIG_MOVE_OPERATOR;
	else if (g_strcmp0(vm_move, "cold") == 0)
		p = CONFIG_MOVE_COLD;
	return p == CONFIG_MOVE_COLD || (by_operator && p == CONFIG_MOVE_OPERATOR);
}

void
mape_progress(mape *m, const bus_msg *msg, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *s = NULL;

	if (msg == NULL)
		return;
	va_start(ap, fmt);
	s = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	nubed_reply(m->n, msg, json_pack("{s:s}", "progress", s), false);
}

/* ------------------------------------------------------------------ jobs */

static void
job_free(exec_job *job)
{
	balance_plan_free(job->plan);
	g_free(job->wake);
	bus_msg_free(job->reply_to);
	g_ptr_array_unref(job->results);
	g_free(job);
}

static void
penalise(mape *m, const char *why)
{
	double now = nubed_now(m->n);

	balance_penalty_fail(&m->pen, &m->bc, now);
	nubed_event(m->n, "penalty", NULL, NULL, json_pack("{s:f, s:i, s:f, s:f, s:s}", "seconds",
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
	int ok = migrate_moves(job, job->plan);
	guint n = job->plan->moves->len;

	g_mutex_lock(&m->lock);
	m->det.count = 0;	/* the next decision waits for alarm_count fresh samples */
	m->det.mem_count = 0;
	if (job->kind == JOB_PLAN) {
		if ((guint)ok == n && job->plan->solved) {
			balance_penalty_clear(&m->pen);
		} else {
			g_autofree char *why = g_strdup_printf("%d of %u move(s) done%s", ok, n,
			    job->plan->solved ? "" : ", the plan itself did not reach the target");
			penalise(m, why);
		}
		mape_persist(m);
	}
	g_mutex_unlock(&m->lock);
	if (job->reply_to != NULL) {
		json_t *body = json_pack("{s:b, s:o}", "ok", (guint)ok == n, "moves",
		    migrate_results_json(job));

		if ((guint)ok != n)
			json_object_set_new(body, "error", json_sprintf("%d of %u move(s) done", ok,
			    n));
		nubed_reply(m->n, job->reply_to, body, true);
	}
}

/* self_vms: number of running VMs in the last own sample (under lock) */
static int
self_vms(mape *m)
{
	int k = 0;

	for (guint i = 0; i < m->self_state->vms->len; i++)
		k += ((const host_state_vm *)m->self_state->vms->pdata[i])->active ? 1 : 0;
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
	g_autoptr(GPtrArray) list = v != NULL ? m->n->env->virt_list(v, &err) : NULL;
	int k = 0;

	if (list == NULL) {
		nubed_log(NLOG_WARN, "drain: libvirt: %s", err != NULL ? err->message : "?");
		g_clear_error(&err);
		if (v != NULL)
			m->n->env->virt_close(v);
		return -1;
	}
	for (guint i = 0; i < list->len; i++)
		if (((const virt_dom_info *)list->pdata[i])->active)
			k++;
	m->n->env->virt_close(v);
	return k;
}

/* A reply held until the next own state is published (reply_after_state). */
typedef struct {
	nubed *n;
	bus_msg *to;
	json_t *body;
} held_reply;

static void
held_reply_send(void *p)
{
	held_reply *h = p;

	nubed_reply(h->n, h->to, h->body, true);
	bus_msg_free(h->to);
	g_free(h);
}

static void
held_reply_start(void *p)
{
	held_reply *h = p;

	telemetry_then(h->n, held_reply_send, h);
}

void
reply_after_state(nubed *n, bus_msg *to, json_t *body)
{
	held_reply *h = g_new0(held_reply, 1);

	h->n = n;
	h->to = to;
	h->body = body;
	nubed_post(n, held_reply_start, h);
}

/* job_drain: move every VM away (operator drain or leave); reply/done at the end */
static void
job_drain(exec_job *job)
{
	mape *m = job->m;
	bool leave = job->kind == JOB_LEAVE;
	double deadline = leave && m->mc.evacuate_timeout > 0 ? nubed_now(m->n) + m->mc.evacuate_timeout :
	    leave ? INFINITY : nubed_now(m->n) + 3600;
	int idle = 0, left = -1, pass = 0;
	g_autofree char *why = NULL;

	nubed_event(m->n, "drain-start", NULL, NULL, json_pack("{s:b}", "leave", leave),
	    "%s: moving every VM away", leave ? "agent leaving" : "drain");
	while (!m->stopping && nubed_now(m->n) < deadline) {
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
		if (left == 0 || !peer_view_build(m, &v, true, true)) {
			g_mutex_unlock(&m->lock);
			if (left == 0)
				break;
			continue;
		}
		plan = balance_drain(mape_move_policy(m), &m->bc, &v.hosts[0], v.hosts + 1, v.n - 1,
		    nubed_now(m->n));
		peer_view_clear(&v);
		g_mutex_unlock(&m->lock);
		{
			g_autofree char *txt = balance_plan_format(plan);

			nubed_event(m->n, "plan", NULL, NULL, balance_plan_to_json(plan), "drain pass %d: "
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
			mape_progress(m, job->reply_to, "no place for: %s", why);
		}
		ok = migrate_moves(job, plan);
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
			telemetry_start_async(m->n);
		balance_plan_free(plan);
		idle = ok > 0 ? 0 : idle + 1;
		if (!leave && idle >= DRAIN_PASSES)
			break;
		if (leave && idle > 0)	/* nothing moved: wait a little for the peers to change */
			g_usleep(G_USEC_PER_SEC * (gulong)MIN(10, m->n->cfg->interval_s * 2));
	}
	g_mutex_lock(&m->lock);
	if (!leave) {
		m->drained = left == 0;
		m->leaving = false;	/* an operator's drain is over: not leaving any more */
	}
	g_mutex_unlock(&m->lock);
	if (left == 0)
		nubed_event(m->n, "drain-done", NULL, NULL, json_pack("{s:o}", "moves",
		    migrate_results_json(job)), "no VM left on this host");
	else
		nubed_event(m->n, "drain-failed", NULL, NULL, json_pack("{s:i, s:s?, s:o}", "left", left,
		    "why", why, "moves", migrate_results_json(job)),
		    "this host cannot be emptied: %d VM(s) left: %s", left,
		    why != NULL ? why : "time is up");
	if (job->reply_to != NULL) {
		json_t *body = json_pack("{s:b, s:i, s:o}", "ok", left == 0, "left", MAX(left, 0),
		    "moves", migrate_results_json(job));

		if (left != 0)
			json_object_set_new(body, "error", json_sprintf("%s cannot be emptied: %d VM(s) "
			    "left: %s", m->n->cfg->host, left, why != NULL ? why : "time is up"));
		/* answered once the state saying so is out: whatever the operator asks next (a
		 * drain of another host) finds this host's new state at the peers first */
		reply_after_state(m->n, g_steal_pointer(&job->reply_to), body);
	}
}

/* ------------------------------------------------------------------ consolidation */

int
mape_power_hook(mape *m, const char *cmd, const char *what, char **out)
{
	g_auto(GStrv) env = g_environ_setenv(g_get_environ(), "NUBE_HOST", m->n->cfg->host, TRUE);
	char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };
	g_autofree char *o = NULL, *e = NULL;
	GError *err = NULL;
	int status = 0;

	*out = NULL;
	if (cmd == NULL)
		return 0;
	if (!g_spawn_sync(NULL, argv, env, G_SPAWN_DEFAULT, NULL, NULL, &o, &e, &status, &err)) {
		*out = g_strdup_printf("%s command: %s", what, err->message);
		g_error_free(err);
		return -1;
	}
	*out = g_strstrip(g_strconcat(o != NULL ? o : "", e != NULL ? e : "", NULL));
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* job_consolidate: move every VM away as planned; with none left, go on standby */
static void
job_consolidate(exec_job *job)
{
	mape *m = job->m;
	int ok = migrate_moves(job, job->plan);
	guint n = job->plan->moves->len;
	int left = running_here(m), rc;
	g_autofree char *out = NULL;

	if ((guint)ok != n || left != 0) {
		nubed_event(m->n, "consolidate-failed", NULL, NULL, json_pack("{s:i, s:i, s:i, s:o}",
		    "done", ok, "planned", (int)n, "left", left, "moves", migrate_results_json(job)),
		    "consolidation: %d of %u move(s) done, %d VM(s) left: staying active", ok, n,
		    left);
		return;
	}
	rc = mape_power_hook(m, m->mc.standby_command, "standby", &out);
	g_mutex_lock(&m->lock);
	balance_power_standby(&m->pw, nubed_now(m->n));
	mape_persist(m);	/* a restarted agent stays on standby */
	g_mutex_unlock(&m->lock);
	nubed_event(m->n, "standby", NULL, NULL, json_pack("{s:i, s:s?, s:i, s:s?, s:o}", "moves",
	    ok, "command", m->mc.standby_command, "exit", rc, "output", out, "results",
	    migrate_results_json(job)), "consolidated: %d VM(s) moved away, on standby%s%s%s",
	    ok, m->mc.standby_command != NULL ? " (standby command exit " : "",
	    m->mc.standby_command != NULL ? (rc == 0 ? "0" : "non-zero") : "",
	    m->mc.standby_command != NULL ? ")" : "");
	telemetry_start_async(m->n);	/* the peers stop sending VMs here at once */
}

/* job_wake: ask a standby peer to wake up; the next overload plan can then use it */
static void
job_wake(exec_job *job)
{
	mape *m = job->m;
	g_autofree char *why = NULL;
	json_t *r = nubed_call(m->n, job->wake, json_pack("{s:s, s:f}", "op", "wake", "need",
	    job->need), &why);

	nubed_event(m->n, r != NULL ? "wake-request" : "wake-failed", NULL, NULL,
	    json_pack("{s:s, s:f, s:s?}", "host", job->wake, "need", job->need, "why", why),
	    r != NULL ? "woke %s: %.2f core(s) of demand have no place among the active hosts" :
	    "could not wake %s (%.2f core(s) without a place): %s", job->wake, job->need,
	    why != NULL ? why : "");
	json_decref(r);
}

/* consolidate_turn: whether this host, under consolidate_below for long enough, is the one
 * to empty itself now: the active host with VMs whose effective load is the lowest (ties by
 * name), so that two light hosts never empty themselves into each other at once */
static bool
consolidate_turn(const view *v)
{
	const balance_host *self = &v->hosts[0];
	double mine = balance_effective_load(self);

	for (size_t i = 1; i < v->n; i++) {
		const balance_host *h = &v->hosts[i];
		double l = balance_effective_load(h);

		if (!h->online || h->standby || h->n_vms == 0)
			continue;
		if (l < mine || (l == mine && strcmp(h->name, self->name) < 0))
			return false;
	}
	return true;
}

typedef struct {
	void (*done)(void *ud);
	void *ud;
} done_call;

static void
done_main(void *p)
{
	done_call *d = p;

	d->done(d->ud);
	g_free(d);
}

static gpointer
job_thread(gpointer p)
{
	exec_job *job = p;
	mape *m = job->m;

	if (job->kind == JOB_DRAIN || job->kind == JOB_LEAVE)
		job_drain(job);
	else if (job->kind == JOB_CONSOLIDATE)
		job_consolidate(job);
	else if (job->kind == JOB_WAKE)
		job_wake(job);
	else
		job_plan(job);
	g_mutex_lock(&m->lock);
	m->executing = false;
	if (job->kind == JOB_DRAIN)	/* a drained host stays out of admissions (m->drained) */
		m->leaving = false;
	g_cond_broadcast(&m->cond);
	g_mutex_unlock(&m->lock);
	if (job->kind == JOB_DRAIN)	/* peers see leaving/drained change at once */
		telemetry_start_async(m->n);
	if (job->done != NULL) {
		done_call *d = g_new0(done_call, 1);

		d->done = job->done;
		d->ud = job->done_ud;
		nubed_post(m->n, done_main, d);
	}
	job_free(job);
	return NULL;
}

void
mape_job_start(mape *m, exec_job *job)
{
	g_assert(!m->executing);	/* one job at a time: callers check it under m->lock */
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

exec_job *
mape_job_new(mape *m, job_kind kind, balance_plan *plan, bus_msg *reply_to)
{
	exec_job *job = g_new0(exec_job, 1);

	job->m = m;
	job->kind = kind;
	job->plan = plan;
	job->reply_to = reply_to;
	job->results = g_ptr_array_new_with_free_func(move_result_free);
	return job;
}

/* ------------------------------------------------------------------ persistence */

void
mape_persist(mape *m)
{
	g_autofree char *path = nubed_state_path(m->n, PERSIST_FILE);
	GError *err = NULL;

	if (persist_save(path, m->moved, &m->pen, &m->pw, nubed_now(m->n),
	    (double)m->n->env->wall_ms(m->n) / 1000.0, &err) < 0) {
		nubed_log(NLOG_WARN, "cooldown, penalty and power state not saved: %s",
		    err->message);
		g_error_free(err);
	}
}

/* restore: the cooldown and penalty an earlier run of this agent saved */
static void
restore(mape *m)
{
	g_autofree char *path = nubed_state_path(m->n, PERSIST_FILE);
	GError *err = NULL;

	g_mutex_lock(&m->lock);
	if (persist_load(path, m->moved, &m->pen, &m->pw, nubed_now(m->n),
	    (double)m->n->env->wall_ms(m->n) / 1000.0, m->bc.cooldown, &err) < 0) {
		nubed_log(NLOG_WARN, "cooldown and penalty not restored: %s", err->message);
		g_error_free(err);
	} else if (g_hash_table_size(m->moved) > 0 || m->pen.active || m->pen.failures > 0 ||
	    m->pw.standby) {
		nubed_log(NLOG_INFO, "restored from %s: %u VM(s) in their cooldown, penalty %s "
		    "(%d failure(s) in a row)%s", path, g_hash_table_size(m->moved),
		    m->pen.active ? "active" : "inactive", m->pen.failures, m->pw.standby ?
		    ", on standby (woken by a peer or a deploy)" : "");
	}
	g_mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------------ analyse + plan */

/* cooldown_json: the VMs that arrived here less than the cooldown ago (under m->lock) */
static json_t *
cooldown_json(mape *m, double now)
{
	json_t *out = json_array();
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, m->moved);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		const persist_moved *x = v;

		if (now - x->at < m->bc.cooldown)
			json_array_append_new(out, json_pack("{s:s, s:s?, s:f, s:f}", "vm",
			    (const char *)k, "from", x->prev_host, "ago", now - x->at, "remaining",
			    m->bc.cooldown - (now - x->at)));
	}
	return out;
}

json_t *
mape_balance_json(mape *m, double now)
{
	json_t *res = json_array();

	for (guint i = 0; i < m->res->items->len; i++) {
		const balance_reservation *r = m->res->items->pdata[i];

		if (r->expires > now)
			json_array_append_new(res, json_pack("{s:s, s:s, s:f, s:f, s:f}", "vm", r->vm,
			    "source", r->source, "load", r->load, "mem", r->mem, "expires_in",
			    r->expires - now));
	}
	json_t *out = json_pack("{s:s, s:b, s:s, s:f, s:i, s:i, s:f, s:{s:b, s:f, s:i}, s:o, s:f,"
	    " s:f, s:o, s:i, s:b, s:b, s:b, s:i, s:i, s:i}",
	    "policy", balance_policy_name(m->bc.policy), "enabled", m->mc.enabled,
	    "state", balance_state_name(m->state), "threshold", m->bc.load_threshold,
	    "alarm_count", m->bc.alarm_count, "count", m->det.count,
	    "mem_threshold", m->bc.mem_threshold,
	    "penalty", "active", m->pen.active, "remaining", m->pen.active ?
	    MAX(0.0, m->pen.until - now) : 0.0, "failures", m->pen.failures,
	    "cooldown", cooldown_json(m, now), "reserved_load", balance_reservations_load(m->res, now),
	    "reserved_mem", balance_reservations_mem(m->res, now), "reservations", res,
	    "migrating", m->running, "executing", m->executing, "leaving", m->leaving,
	    "drained", m->drained, "migrations_ok", m->n_ok, "migrations_failed", m->n_failed,
	    "migrations_refused", m->n_refused);
	json_object_set_new(out, "consolidate", json_boolean(m->bc.consolidate));
	json_object_set_new(out, "standby", json_boolean(m->pw.standby));
	json_object_set_new(out, "predict", json_boolean(m->bc.predict));
	if (m->bc.predict && m->self_hist.n > 0)
		json_object_set_new(out, "load_predicted", json_real(balance_predict_load(&m->bc,
		    m->self_hist.v, (size_t)m->self_hist.n)));
	json_object_set_new(out, "heal", json_boolean(m->n->cfg->heal));	/* may heal others */
	return out;
}

/* overload_need: cores of demand above what keeps self under threshold - margin */
static double
overload_need(const mape *m, const balance_host *self)
{
	double target = m->bc.load_threshold - m->bc.margin;

	return MAX(0.0, (balance_effective_load(self) - target) * self->cpus);
}

void
mape_on_state(host_state *state, void *ud)
{
	mape *m = ud;
	double now = nubed_now(m->n);
	balance_state st;
	balance_penalty pen_before;
	bool pen_was;
	view v;

	g_mutex_lock(&m->lock);
	host_state_free(m->self_state);
	m->self_state = host_state_copy(state);	/* telemetry publishes and frees state */
	load_hist_push(&m->self_hist, m->bc.predict_window, m->self_state);
	m->state_seq++;
	g_cond_broadcast(&m->cond);
	balance_reservations_expire(m->res, now);
	pen_was = m->pen.active;
	pen_before = m->pen;
	if (peer_view_build(m, &v, true, false)) {
		st = balance_analyse(&m->det, &m->pen, &m->bc, &v.hosts[0], v.n - 1, now);
		if (pen_was && !m->pen.active && v.hosts[0].load < m->bc.load_threshold)
			nubed_event(m->n, "penalty-cancelled", NULL, NULL, json_pack("{s:f}", "load",
			    v.hosts[0].load), "load %.2f is under %.2f: penalty cancelled",
			    v.hosts[0].load, m->bc.load_threshold);
		if (st == BALANCE_OK)
			m->alone_said = false;
		if (st == BALANCE_ALONE && !m->alone_said && m->mc.enabled && !m->leaving) {
			m->alone_said = true;
			nubed_event(m->n, "alone", NULL, NULL, json_pack("{s:f}", "load",
			    v.hosts[0].load), "overloaded (load %.2f >= %.2f) but no other host is "
			    "online: nothing to do", v.hosts[0].load, m->bc.load_threshold);
		}
		if (st == BALANCE_OVERLOADED && m->mc.enabled && !m->leaving && !m->executing &&
		    m->bc.policy != BALANCE_POLICY_NONE) {
			balance_plan *plan = balance_plan_new(m->bc.policy, &m->bc, &v.hosts[0],
			    v.hosts + 1, v.n - 1, now);
			g_autofree char *txt = balance_plan_format(plan);

			nubed_event(m->n, "plan", NULL, NULL, balance_plan_to_json(plan),
			    "overloaded: load %.2f >= %.2f for %d samples; %u move(s)%s%s\n%s",
			    v.hosts[0].load, m->bc.load_threshold, m->bc.alarm_count,
			    plan->moves->len, plan->note != NULL ? ": " : "",
			    plan->note != NULL ? plan->note : "", txt);
			long wake = plan->moves->len == 0 && m->bc.consolidate ? balance_wake_pick(
			    &m->bc, v.hosts + 1, v.n - 1, overload_need(m, &v.hosts[0])) : -1;

			if (wake >= 0) {
				/* a standby host can take it: wake it, plan again on fresh samples */
				exec_job *job = mape_job_new(m, JOB_WAKE, NULL, NULL);

				job->wake = g_strdup(v.hosts[1 + wake].name);
				job->need = overload_need(m, &v.hosts[0]);
				m->det.count = 0;
				balance_plan_free(plan);
				mape_job_start(m, job);
			} else if (plan->moves->len == 0) {
				g_autofree char *why = g_strdup_printf("no move possible%s%s",
				    plan->note != NULL ? ": " : "", plan->note != NULL ? plan->note : "");

				penalise(m, why);
				balance_plan_free(plan);
			} else
				mape_job_start(m, mape_job_new(m, JOB_PLAN, plan, NULL));
		}
		/* consolidation: a light host empties itself onto busier ones, then standby */
		bool light = balance_power_sample(&m->pw, &m->bc, &v.hosts[0], now);

		if (st == BALANCE_OK && light && m->mc.enabled && !m->leaving && !m->drained && !m->executing &&
		    m->bc.policy != BALANCE_POLICY_NONE && consolidate_turn(&v)) {
			balance_plan *plan = balance_consolidate(&m->bc, &v.hosts[0], v.hosts + 1,
			    v.n - 1, now);
			g_autofree char *txt = balance_plan_format(plan);

			nubed_event(m->n, "plan", NULL, NULL, balance_plan_to_json(plan),
			    "consolidate: load %.2f < %.2f for %d samples; %u move(s)%s%s%s\n%s",
			    v.hosts[0].load, m->bc.consolidate_below, m->bc.consolidate_count,
			    plan->moves->len, plan->solved ? "" : ", not solved",
			    plan->note != NULL ? ": " : "", plan->note != NULL ? plan->note : "", txt);
			m->pw.low_count = 0;	/* next try after consolidate_count more samples */
			if (plan->solved && plan->moves->len > 0)
				mape_job_start(m, mape_job_new(m, JOB_CONSOLIDATE, plan, NULL));
			else
				balance_plan_free(plan);
		}
		m->state = st;
		peer_view_clear(&v);
		if (pen_before.active != m->pen.active || pen_before.until != m->pen.until ||
		    pen_before.failures != m->pen.failures)
			mape_persist(m);
	}
	heal_check(m);	/* a peer gone past the grace time: restart its VMs (heal.c) */
	json_decref(state->balance);
	state->balance = mape_balance_json(m, now);
	g_mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------------ life cycle */

mape *
mape_new(nubed *n)
{
	mape *m = g_new0(mape, 1);

	m->bc = n->cfg->bc;
	m->mc = n->cfg->bal;
	m->n = n;
	g_mutex_init(&m->lock);
	g_cond_init(&m->cond);
	m->peers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, peer_free);
	m->moved = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, persist_moved_free);
	m->busy = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	m->res = balance_reservations_new();
	m->state = BALANCE_OK;
	m->pw.changed = BALANCE_NEVER;
	return m;
}

int
mape_start(mape *m, GError **err)
{
	nubed_log(NLOG_INFO, "balancer: policy %s, load threshold %.2f x %d samples, memory %.2f, "
	    "penalty %.0f s + %.0f s, max %d migration(s), evacuate on exit %s%s",
	    balance_policy_name(m->bc.policy), m->bc.load_threshold, m->bc.alarm_count,
	    m->bc.mem_threshold, m->bc.penalty, m->bc.penalty_step, m->mc.max_migrations,
	    m->mc.evacuate ? "yes" : "no", m->mc.enabled ? "" : " (disabled: monitor only)");
	restore(m);
	if (peer_subscribe(m, err) < 0)
		return -1;
	peer_reconcile_nets(m);
	heal_fence_start(m);
	return 0;
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
	job = mape_job_new(m, JOB_LEAVE, NULL, NULL);
	job->done = done;
	job->done_ud = ud;
	/* a plan may still run: the leave thread waits for it */
	g_thread_unref(g_thread_new("mape-leave", leave_thread, job));
	g_mutex_unlock(&m->lock);
	telemetry_start(m->n);	/* peers see "leaving" at once */
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
	if (m->executing || m->running > 0 || m->reconciling || m->heal_jobs > 0)
		return;
	g_hash_table_unref(m->peers);
	g_hash_table_unref(m->moved);
	g_hash_table_unref(m->busy);
	balance_reservations_free(m->res);
	host_state_free(m->self_state);
	g_free(m->self_hist.v);
	g_mutex_clear(&m->lock);
	g_cond_clear(&m->cond);
	g_free(m);
}
