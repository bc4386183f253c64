/* nubed: the agent's shared helpers — log, the one event function, replies and calls through
 * the environment, remembered specs, per-scenario locks */
#include "agent/nubed.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "agent/env.h"
#include "agent/journal.h"
#include "scenario/scenario.h"
#include "wire/topic.h"

static char *log_host;
static bool log_verbose;

void
nubed_init(nubed *n, config *cfg, const agent_env *env)
{
	memset(n, 0, sizeof *n);
	n->cfg = cfg;
	n->env = env;
	g_mutex_init(&n->specs_lock);
	g_mutex_init(&n->scen_lock);
	g_mutex_init(&n->event_lock);
	g_mutex_init(&n->doms_lock);
	g_mutex_init(&n->heal_lock);
	n->heal_rec = json_pack("{s:{}, s:{}, s:{}}", "scenarios", "vms", "healed");
	n->heal_topic = topic_host(cfg->host, "heal");
	n->specs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	n->unmanaged = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    (GDestroyNotify)g_hash_table_unref);
	n->scen_mutex = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	n->prev_vm = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	n->state_topic = topic_host(cfg->host, "state");
	n->online_topic = topic_host(cfg->host, "online");
	n->rpc_pattern = topic_host(cfg->host, "rpc/+");
}

char *
nubed_state_path(nubed *n, const char *file)
{
	return g_build_filename(n->cfg->state_dir, n->cfg->host, file, NULL);
}

int
nubed_state_open(nubed *n, GError **err)
{
	g_autofree char *path = nubed_state_path(n, JOURNAL_FILE);
	journal *j = journal_open(path, JOURNAL_KEEP_DEFAULT, err);

	if (j == NULL)
		return -1;
	g_mutex_lock(&n->event_lock);
	journal_close(n->journal);
	n->journal = j;
	g_mutex_unlock(&n->event_lock);
	return 0;
}

void
nubed_log_setup(const char *host, bool verbose)
{
	g_free(log_host);
	log_host = g_strdup(host);
	log_verbose = verbose;
}

void
nubed_log(nlog_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "debug", "info", "warning", "error" };
	g_autoptr(GDateTime) now = NULL;
	g_autofree char *ts = NULL, *msg = NULL, *line = NULL;
	va_list ap;

	if (lvl == NLOG_DEBUG && !log_verbose)
		return;
	now = g_date_time_new_now_utc();
	ts = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	/* one write per line: lines of several threads do not mix */
	line = g_strdup_printf("%.23sZ %s %s: %s\n", ts, log_host != NULL ? log_host : "-",
	    names[lvl], msg);
	if (write(STDERR_FILENO, line, strlen(line)) < 0) {
		/* nowhere left to report it */
	}
}

void
nubed_event(nubed *n, const char *type, const char *scenario, const char *vm, json_t *data,
    const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	GError *err = NULL;
	json_t *ev;
	int64_t seq = 0;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	ev = json_pack("{s:I, s:s, s:s, s:s?, s:s?, s:s, s:o}", "ts",
	    (json_int_t)n->env->wall_ms(n), "host", n->cfg->host, "type", type, "scenario",
	    scenario, "vm", vm, "msg", msg, "data", data != NULL ? data : json_object());
	/* the journal first: an event a follower missed is still there for "events"; under
	 * event_lock the publishes are queued in seq order */
	g_mutex_lock(&n->event_lock);
	if (n->journal != NULL && (seq = journal_append(n->journal, ev, &err)) < 0) {
		nubed_log(NLOG_WARN, "event %s not journaled: %s", type, err->message);
		g_clear_error(&err);
	}
	nubed_log(NLOG_INFO, "event %s%s%s%s%s (seq %lld): %s", type, scenario != NULL ? " " : "",
	    scenario != NULL ? scenario : "", vm != NULL ? "/" : "", vm != NULL ? vm : "",
	    (long long)seq, msg);
	n->env->publish(n, TOPIC_EVENTS, ev, false);
	g_mutex_unlock(&n->event_lock);
}

void
nubed_post(nubed *n, void (*fn)(void *ud), void *ud)
{
	n->env->post(n, fn, ud);
}

void
nubed_reply(nubed *n, const bus_msg *msg, json_t *body, bool final)
{
	if (msg == NULL) {
		json_decref(body);
		return;
	}
	json_object_set_new(body, "host", json_string(n->cfg->host));
	n->env->reply(n, msg, body, final);
}

json_t *
nubed_call(nubed *n, const char *host, json_t *req, char **why)
{
	return nubed_call_timeout(n, host, req, (int)(n->cfg->bal.rpc_timeout * 1000), why);
}

json_t *
nubed_call_timeout(nubed *n, const char *host, json_t *req, int timeout_ms, char **why)
{
	g_autofree char *topic = topic_rpc(host, n->cfg->host);
	GError *err = NULL;
	json_t *r = n->env->call(n, topic, req, timeout_ms, &err);
	const char *e;

	if (r == NULL) {
		*why = g_strdup(err->message);
		g_error_free(err);
		return NULL;
	}
	if (json_is_true(json_object_get(r, "ok")))
		return r;
	e = json_string_value(json_object_get(r, "error"));
	*why = g_strdup(e != NULL ? e : "refused without a reason");
	json_decref(r);
	return NULL;
}

double
nubed_now(nubed *n)
{
	return n->env->now(n);
}

virt *
nubed_virt_open(nubed *n, GError **err)
{
	return n->env->virt_open(n, err);
}

/* ---- remembered specs ---- */

/* spec_path: where the spec of scenario is kept (g_free); NULL for a name that breaks the
 * name rule: no path is ever built from one (the rpc table refuses them before) */
static char *
spec_path(nubed *n, const char *scenario)
{
	g_autofree char *base = NULL;

	if (sc_name_check(scenario) != NULL) {
		nubed_log(NLOG_WARN, "spec of scenario '%s': not a valid name, no file used",
		    scenario != NULL ? scenario : "");
		return NULL;
	}
	base = g_strdup_printf("%s.xml", scenario);
	return g_build_filename(n->cfg->state_dir, n->cfg->host, "specs", base, NULL);
}

void
nubed_spec_put(nubed *n, const char *scenario, const char *spec)
{
	g_autofree char *path = spec_path(n, scenario);
	g_autofree char *dir = NULL;
	GError *err = NULL;

	if (path == NULL)
		return;
	dir = g_path_get_dirname(path);
	g_mutex_lock(&n->specs_lock);
	g_hash_table_replace(n->specs, g_strdup(scenario), g_strdup(spec));
	g_hash_table_remove(n->unmanaged, scenario);
	g_mutex_unlock(&n->specs_lock);
	if (g_mkdir_with_parents(dir, 0700) < 0 || !g_file_set_contents(path, spec, -1, &err)) {
		nubed_log(NLOG_WARN, "cannot keep the spec of '%s' in %s: %s", scenario, dir,
		    err != NULL ? err->message : g_strerror(errno));
		g_clear_error(&err);
	}
}

char *
nubed_spec_get(nubed *n, const char *scenario)
{
	char *s;

	g_mutex_lock(&n->specs_lock);
	s = g_strdup(g_hash_table_lookup(n->specs, scenario));
	g_mutex_unlock(&n->specs_lock);
	if (s == NULL) {
		g_autofree char *path = spec_path(n, scenario);

		if (path == NULL || !g_file_get_contents(path, &s, NULL, NULL))
			s = NULL;
	}
	return s;
}

bool
nubed_net_unmanaged(nubed *n, const char *scenario, const char *net)
{
	GHashTable *set;
	bool r;

	g_mutex_lock(&n->specs_lock);
	set = g_hash_table_lookup(n->unmanaged, scenario);
	if (set != NULL) {
		r = g_hash_table_contains(set, net);
		g_mutex_unlock(&n->specs_lock);
		return r;
	}
	g_mutex_unlock(&n->specs_lock);
	{
		g_autofree char *spec = nubed_spec_get(n, scenario);
		g_autoptr(diag) d = diag_new();
		g_autoptr(scenario) s = NULL;

		/* no spec known: an empty set, kept like the others (a spec put drops it), so the
		 * balancer's every sample does not look for the file again */
		set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		if (spec != NULL)
			s = scenario_parse_memory(spec, strlen(spec), "spec.xml", d);
		for (guint i = 0; s != NULL && i < s->nets->len; i++) {
			const sc_net *x = g_ptr_array_index(s->nets, i);

			if (!x->managed)
				g_hash_table_add(set, g_strdup(x->name));
		}
	}
	r = g_hash_table_contains(set, net);
	g_mutex_lock(&n->specs_lock);
	g_hash_table_replace(n->unmanaged, g_strdup(scenario), set);
	g_mutex_unlock(&n->specs_lock);
	return r;
}

void
nubed_spec_drop(nubed *n, const char *scenario)
{
	g_autofree char *path = spec_path(n, scenario);

	g_mutex_lock(&n->specs_lock);
	g_hash_table_remove(n->specs, scenario);
	g_hash_table_remove(n->unmanaged, scenario);
	g_mutex_unlock(&n->specs_lock);
	if (path != NULL && unlink(path) < 0 && errno != ENOENT)
		nubed_log(NLOG_WARN, "remove %s: %s", path, g_strerror(errno));
}

GMutex *
nubed_scenario_mutex(nubed *n, const char *scenario)
{
	GMutex *m;

	g_mutex_lock(&n->scen_lock);
	m = g_hash_table_lookup(n->scen_mutex, scenario);
	if (m == NULL) {
		m = g_new0(GMutex, 1);
		g_mutex_init(m);
		g_hash_table_insert(n->scen_mutex, g_strdup(scenario), m);
	}
	g_mutex_unlock(&n->scen_lock);
	return m;
}

/* ---- the domains status answers with ---- */

static json_t *
strv_json(const GPtrArray *a)
{
	json_t *j = json_array();

	for (guint i = 0; a != NULL && i < a->len; i++)
		json_array_append_new(j, json_string(g_ptr_array_index(a, i)));
	return j;
}

void
nubed_doms_put(nubed *n, const GPtrArray *doms, double listed_at)
{
	json_t *jv = json_array();

	for (guint i = 0; doms != NULL && i < doms->len; i++) {
		const virt_dom_info *di = g_ptr_array_index(doms, i);
		json_t *jif = json_array();

		/* "ifaces" is the structured form: names may hold spaces, "addrs" (kept for
		 * older CLIs) joins the fields with them */
		for (guint k = 0; di->ifaces != NULL && k < di->ifaces->len; k++) {
			const virt_dom_if *f = g_ptr_array_index(di->ifaces, k);

			json_array_append_new(jif, json_pack("{s:o, s:s, s:s}", "if", f->id >= 0 ?
			    json_integer(f->id) : json_null(), "net", f->net, "addr", f->addr));
		}
		json_array_append_new(jv, json_pack("{s:s?, s:s?, s:s?, s:s?, s:b, s:o, s:o, s:o, s:s?}",
		    "scenario", di->scenario, "vm", di->vm, "domain", di->domain, "state", di->state,
		    "active", di->active, "addrs", strv_json(di->addrs), "ifaces", jif, "nets",
		    strv_json(di->nets), "config", di->config));
	}
	g_mutex_lock(&n->doms_lock);
	if (n->doms == NULL || listed_at >= n->doms_at) {	/* an older listing never wins */
		json_decref(n->doms);
		n->doms = jv;
		n->doms_at = listed_at;
	} else {
		json_decref(jv);
	}
	g_mutex_unlock(&n->doms_lock);
}

void
nubed_doms_stale(nubed *n)
{
	g_mutex_lock(&n->doms_lock);
	n->doms_stale_at = nubed_now(n);
	g_mutex_unlock(&n->doms_lock);
}

json_t *
nubed_doms_get(nubed *n, double *age_s)
{
	json_t *r;

	g_mutex_lock(&n->doms_lock);
	r = n->doms_stale_at < n->doms_at ? json_incref(n->doms) : NULL;
	if (age_s != NULL)
		*age_s = r != NULL ? nubed_now(n) - n->doms_at : 0;
	g_mutex_unlock(&n->doms_lock);
	return r;
}

int
nubed_doms_refresh(nubed *n, virt *v, GError **err)
{
	double t = nubed_now(n);
	g_autoptr(GPtrArray) doms = v != NULL ? n->env->virt_list(v, err) : NULL;

	if (doms == NULL)
		return -1;
	nubed_doms_put(n, doms, t);
	return 0;
}
