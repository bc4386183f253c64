/* persist: save and load the cooldown, penalty and power state of the balancer (JSON,
 * atomic) */
#include "agent/persist.h"

#include <errno.h>
#include <jansson.h>

G_DEFINE_QUARK(nube-persist-error-quark, persist_error)
#define PERSIST_ERROR persist_error_quark()

#define PERSIST_VERSION	1

/*
 * The file:
 *   {"version": 1, "saved": wall s,
 *    "moved": [{"domain": D, "at": wall s, "prev_host": H | null}, ...],
 *    "penalty": {"active": bool, "until": wall s, "failures": n},
 *    "power": {"standby": bool, "changed": wall s | null}}	("power" optional: active)
 */

persist_moved *
persist_moved_new(double at, const char *prev_host)
{
	persist_moved *x = g_new0(persist_moved, 1);

	x->at = at;
	x->prev_host = g_strdup(prev_host);
	return x;
}

void
persist_moved_free(gpointer p)
{
	persist_moved *x = p;

	if (x == NULL)
		return;
	g_free(x->prev_host);
	g_free(x);
}

int
persist_save(const char *path, GHashTable *moved, const balance_penalty *pen,
    const balance_power *pw, double mono_now, double wall_now, GError **err)
{
	json_auto_t *doc = NULL;
	json_t *arr = json_array();
	g_autofree char *text = NULL;
	g_autofree char *dir = g_path_get_dirname(path);
	GHashTableIter it;
	gpointer k, v;

	if (moved != NULL) {
		g_hash_table_iter_init(&it, moved);
		while (g_hash_table_iter_next(&it, &k, &v)) {
			const persist_moved *x = v;

			json_array_append_new(arr, json_pack("{s:s, s:f, s:s?}", "domain",
			    (const char *)k, "at", wall_now - (mono_now - x->at), "prev_host",
			    x->prev_host));
		}
	}
	doc = json_pack("{s:i, s:f, s:o, s:{s:b, s:f, s:i}}", "version", PERSIST_VERSION,
	    "saved", wall_now, "moved", arr, "penalty", "active", pen->active, "until",
	    pen->active ? wall_now - (mono_now - pen->until) : 0.0, "failures", pen->failures);
	if (pw != NULL)
		json_object_set_new(doc, "power", json_pack("{s:b, s:o}", "standby", pw->standby,
		    "changed", pw->changed == BALANCE_NEVER ? json_null() :
		    json_real(wall_now - (mono_now - pw->changed))));
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	if (g_mkdir_with_parents(dir, 0755) < 0) {
		int e = errno;

		g_set_error(err, PERSIST_ERROR, 1, "saving '%s': cannot create '%s': %s", path, dir,
		    g_strerror(e));
		return -1;
	}
	if (!g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT |
	    G_FILE_SET_CONTENTS_DURABLE, 0644, err)) {
		g_prefix_error(err, "saving '%s': ", path);
		return -1;
	}
	return 0;
}

int
persist_load(const char *path, GHashTable *moved, balance_penalty *pen, balance_power *pw,
    double mono_now, double wall_now, double max_age, GError **err)
{
	g_autofree char *text = NULL;
	g_autoptr(GError) e = NULL;
	g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(persist_moved_free);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	json_auto_t *doc = NULL;
	json_error_t je;
	const json_t *arr, *pj, *x, *pwj, *ch;
	balance_penalty p = { 0 };
	size_t i;

	if (!g_file_get_contents(path, &text, NULL, &e)) {
		if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return 0;
		g_set_error(err, PERSIST_ERROR, 1, "loading '%s': %s", path, e->message);
		return -1;
	}
	doc = json_loads(text, 0, &je);
	if (doc == NULL) {
		g_set_error(err, PERSIST_ERROR, 1, "loading '%s': line %d: %s", path, je.line,
		    je.text);
		return -1;
	}
	arr = json_object_get(doc, "moved");
	pj = json_object_get(doc, "penalty");
	if (json_integer_value(json_object_get(doc, "version")) != PERSIST_VERSION ||
	    !json_is_array(arr) || !json_is_object(pj) ||
	    !json_is_boolean(json_object_get(pj, "active")) ||
	    !json_is_number(json_object_get(pj, "until")) ||
	    !json_is_integer(json_object_get(pj, "failures"))) {
		g_set_error(err, PERSIST_ERROR, 1, "loading '%s': not a version %d balance state "
		    "(needs \"moved\" and \"penalty\")", path, PERSIST_VERSION);
		return -1;
	}
	pwj = json_object_get(doc, "power");
	ch = json_object_get(pwj, "changed");
	if (pwj != NULL && (!json_is_object(pwj) ||
	    !json_is_boolean(json_object_get(pwj, "standby")) ||
	    !(json_is_null(ch) || json_is_number(ch)))) {
		g_set_error(err, PERSIST_ERROR, 1, "loading '%s': \"power\" needs a boolean "
		    "\"standby\" and a number or null \"changed\"", path);
		return -1;
	}
	json_array_foreach(arr, i, x) {
		const char *dom = json_string_value(json_object_get(x, "domain"));
		const json_t *at = json_object_get(x, "at"), *prev = json_object_get(x, "prev_host");
		double mono_at;

		if (dom == NULL || !json_is_number(at) ||
		    !(prev == NULL || json_is_null(prev) || json_is_string(prev))) {
			g_set_error(err, PERSIST_ERROR, 1, "loading '%s': \"moved\"[%zu] needs "
			    "\"domain\", \"at\" and a string or null \"prev_host\"", path, i);
			return -1;
		}
		mono_at = mono_now - (wall_now - json_number_value(at));
		if (max_age > 0 && mono_now - mono_at > max_age)
			continue;
		g_ptr_array_add(names, g_strdup(dom));
		g_ptr_array_add(keep, persist_moved_new(mono_at, json_string_value(prev)));
	}
	p.failures = (int)json_integer_value(json_object_get(pj, "failures"));
	p.active = json_is_true(json_object_get(pj, "active"));
	if (p.active) {
		p.until = mono_now - (wall_now - json_number_value(json_object_get(pj, "until")));
		if (p.until <= mono_now) {	/* over while the agent was down */
			p.active = false;
			p.until = 0;
		}
	}
	/* all checked: apply */
	for (i = 0; i < keep->len; i++) {	/* the table takes the entry */
		g_hash_table_replace(moved, g_strdup(names->pdata[i]), keep->pdata[i]);
		keep->pdata[i] = NULL;
	}
	*pen = p;
	if (pw != NULL && pwj != NULL) {
		pw->standby = json_is_true(json_object_get(pwj, "standby"));
		pw->changed = json_is_number(ch) ? mono_now - (wall_now - json_number_value(ch)) :
		    BALANCE_NEVER;
	}
	return 0;
}
