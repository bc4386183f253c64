/* hoststate: the typed host state message and its JSON form */
#include "wire/hoststate.h"

#include <string.h>

G_DEFINE_QUARK(nube-hoststate-error-quark, host_state_error)
#define HS_ERROR host_state_error_quark()

host_state *
host_state_new(void)
{
	host_state *s = g_new0(host_state, 1);

	s->interval_s = HOST_STATE_DEFAULT_INTERVAL;
	s->vms = g_ptr_array_new_with_free_func((GDestroyNotify)host_state_vm_free);
	return s;
}

void
host_state_free(host_state *s)
{
	if (s == NULL)
		return;
	g_free(s->host);
	g_free(s->fabric_addr);
	g_free(s->domain_type);
	g_ptr_array_unref(s->vms);
	json_decref(s->balance);
	g_free(s);
}

host_state_vm *
host_state_vm_new(void)
{
	host_state_vm *v = g_new0(host_state_vm, 1);

	v->nets = g_ptr_array_new_with_free_func(g_free);
	return v;
}

void
host_state_vm_free(host_state_vm *v)
{
	if (v == NULL)
		return;
	g_free(v->scenario);
	g_free(v->vm);
	g_free(v->move);
	g_free(v->domain);
	g_free(v->state);
	g_ptr_array_unref(v->nets);
	g_free(v);
}

static host_state_vm *
vm_copy(const host_state_vm *v)
{
	host_state_vm *c = host_state_vm_new();

	c->scenario = g_strdup(v->scenario);
	c->vm = g_strdup(v->vm);
	c->domain = g_strdup(v->domain);
	c->state = g_strdup(v->state);
	c->active = v->active;
	c->cpu = v->cpu;
	c->load = v->load;
	c->mem_mib = v->mem_mib;
	c->vcpus = v->vcpus;
	c->rx_bps = v->rx_bps;
	c->tx_bps = v->tx_bps;
	c->container = v->container;
	c->move = g_strdup(v->move);
	for (guint k = 0; k < v->nets->len; k++)
		g_ptr_array_add(c->nets, g_strdup(g_ptr_array_index(v->nets, k)));
	return c;
}

host_state *
host_state_copy(const host_state *s)
{
	host_state *c = host_state_new();
	GPtrArray *vms = c->vms;

	*c = *s;	/* the plain fields; every pointer is replaced below */
	c->host = g_strdup(s->host);
	c->fabric_addr = g_strdup(s->fabric_addr);
	c->domain_type = g_strdup(s->domain_type);
	c->balance = s->balance != NULL ? json_deep_copy(s->balance) : NULL;
	c->vms = vms;
	for (guint k = 0; k < s->vms->len; k++)
		g_ptr_array_add(c->vms, vm_copy(g_ptr_array_index(s->vms, k)));
	return c;
}

static json_t *
vm_to_json(const host_state_vm *v)
{
	json_t *nets = json_array(), *o;

	for (guint k = 0; k < v->nets->len; k++)
		json_array_append_new(nets, json_string(g_ptr_array_index(v->nets, k)));
	o = json_pack("{s:s?, s:s?, s:s, s:s?, s:b, s:f, s:f, s:I, s:i, s:f, s:f, s:o}",
	    "scenario", v->scenario, "vm", v->vm, "domain", v->domain, "state", v->state,
	    "active", v->active, "cpu", v->cpu, "load", v->load, "mem_mib", (json_int_t)v->mem_mib,
	    "vcpus", v->vcpus, "rx_bps", v->rx_bps, "tx_bps", v->tx_bps, "nets", nets);
	if (v->container)
		json_object_set_new(o, "container", json_true());
	if (v->move != NULL)
		json_object_set_new(o, "move", json_string(v->move));
	return o;
}

json_t *
host_state_to_json(const host_state *s)
{
	json_t *vms = json_array(), *j;

	g_assert(s->host != NULL);
	for (guint k = 0; k < s->vms->len; k++)
		json_array_append_new(vms, vm_to_json(g_ptr_array_index(s->vms, k)));
	j = json_pack("{s:s, s:I, s:b, s:i, s:f, s:f, s:I, s:I, s:I, s:s?, s:s?, s:b, s:i, s:i,"
	    " s:o}",
	    "host", s->host, "ts", (json_int_t)s->ts_ms, "online", 1, "interval", s->interval_s,
	    "cpus", s->cpus, "load", s->load, "mem_total_mib", (json_int_t)s->mem_total_mib,
	    "mem_used_mib", (json_int_t)s->mem_used_mib,
	    "mem_reserve_mib", (json_int_t)s->mem_reserve_mib, "fabric_addr", s->fabric_addr,
	    "domain_type", s->domain_type, "libvirt", s->libvirt, "active", s->active,
	    "inactive", s->inactive, "vms", vms);
	g_assert(j != NULL);
	if (s->has_promised)
		json_object_set_new(j, "mem_promised_mib", json_integer((json_int_t)s->mem_promised_mib));
	if (s->balance != NULL)
		json_object_set(j, "balance", s->balance);
	return j;
}

/* ---- reading: a key of the wrong type is an error, a missing optional one the default */

typedef struct {
	const char *where;	/* "state of host X" */
	GError **err;
	bool bad;
} rd;

static void
rd_fail(rd *r, const char *key, const char *what)
{
	if (!r->bad)
		g_set_error(r->err, HS_ERROR, 1, "%s: \"%s\" %s", r->where, key, what);
	r->bad = true;
}

static double
rd_num(rd *r, const json_t *o, const char *key, double def, double min)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return def;
	if (!json_is_number(v)) {
		rd_fail(r, key, "is not a number");
		return def;
	}
	if (json_number_value(v) < min) {
		rd_fail(r, key, "is out of range");
		return def;
	}
	return json_number_value(v);
}

static char *
rd_str(rd *r, const json_t *o, const char *key, bool required)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v)) {
		if (required)
			rd_fail(r, key, "is missing");
		return NULL;
	}
	if (!json_is_string(v)) {
		rd_fail(r, key, "is not a string");
		return NULL;
	}
	return g_strdup(json_string_value(v));
}

static bool
rd_bool(rd *r, const json_t *o, const char *key, bool def)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return def;
	if (!json_is_boolean(v)) {
		rd_fail(r, key, "is not a boolean");
		return def;
	}
	return json_is_true(v);
}

static host_state_vm *
vm_from_json(rd *r, const json_t *o)
{
	host_state_vm *v;
	const json_t *nets, *jn;
	size_t i;

	if (!json_is_object(o)) {
		rd_fail(r, "vms", "holds a non-object");
		return NULL;
	}
	v = host_state_vm_new();
	v->scenario = rd_str(r, o, "scenario", false);
	v->vm = rd_str(r, o, "vm", false);
	v->domain = rd_str(r, o, "domain", true);
	v->state = rd_str(r, o, "state", false);
	v->active = rd_bool(r, o, "active", false);
	v->cpu = rd_num(r, o, "cpu", 0, 0);
	v->load = rd_num(r, o, "load", 0, 0);
	v->mem_mib = (uint64_t)rd_num(r, o, "mem_mib", 0, 0);
	v->vcpus = (int)rd_num(r, o, "vcpus", 0, 0);
	v->rx_bps = rd_num(r, o, "rx_bps", 0, 0);
	v->tx_bps = rd_num(r, o, "tx_bps", 0, 0);
	v->container = rd_bool(r, o, "container", false);
	v->move = rd_str(r, o, "move", false);
	nets = json_object_get(o, "nets");
	if (nets != NULL && !json_is_array(nets))
		rd_fail(r, "nets", "is not an array");
	json_array_foreach(nets, i, jn) {
		if (!json_is_string(jn)) {
			rd_fail(r, "nets", "holds a non-string");
			break;
		}
		g_ptr_array_add(v->nets, g_strdup(json_string_value(jn)));
	}
	return v;
}

host_state *
host_state_from_json(const json_t *j, GError **err)
{
	g_autoptr(host_state) s = NULL;
	const json_t *vms, *jv, *ts, *bal;
	g_autofree char *where = NULL;
	rd r = { "host state", err, false };
	size_t i;

	if (!json_is_object(j)) {
		g_set_error(err, HS_ERROR, 1, "host state: not a JSON object");
		return NULL;
	}
	s = host_state_new();
	s->host = rd_str(&r, j, "host", true);
	if (s->host != NULL)
		r.where = where = g_strdup_printf("state of host '%s'", s->host);
	ts = json_object_get(j, "ts");
	if (!json_is_integer(ts) || json_integer_value(ts) <= 0)
		rd_fail(&r, "ts", "is not a positive integer (unix ms)");
	else
		s->ts_ms = json_integer_value(ts);
	s->interval_s = (int)rd_num(&r, j, "interval", HOST_STATE_DEFAULT_INTERVAL, 1);
	s->cpus = rd_num(&r, j, "cpus", 0, 0);
	s->load = rd_num(&r, j, "load", 0, 0);
	s->mem_total_mib = (uint64_t)rd_num(&r, j, "mem_total_mib", 0, 0);
	s->mem_used_mib = (uint64_t)rd_num(&r, j, "mem_used_mib", 0, 0);
	s->has_promised = json_object_get(j, "mem_promised_mib") != NULL;
	s->mem_promised_mib = (uint64_t)rd_num(&r, j, "mem_promised_mib", 0, 0);
	s->mem_reserve_mib = (uint64_t)rd_num(&r, j, "mem_reserve_mib", 0, 0);
	s->fabric_addr = rd_str(&r, j, "fabric_addr", false);
	s->domain_type = rd_str(&r, j, "domain_type", false);
	s->libvirt = rd_bool(&r, j, "libvirt", false);
	s->active = (int)rd_num(&r, j, "active", 0, 0);
	s->inactive = (int)rd_num(&r, j, "inactive", 0, 0);
	vms = json_object_get(j, "vms");
	if (vms != NULL && !json_is_array(vms))
		rd_fail(&r, "vms", "is not an array");
	json_array_foreach(vms, i, jv) {
		host_state_vm *v = vm_from_json(&r, jv);

		if (v == NULL)
			break;
		g_ptr_array_add(s->vms, v);
	}
	bal = json_object_get(j, "balance");
	if (bal != NULL && !json_is_object(bal))
		rd_fail(&r, "balance", "is not an object");
	else if (bal != NULL)
		s->balance = json_deep_copy(bal);
	if (r.bad)
		return NULL;
	return g_steal_pointer(&s);
}

bool
host_state_fresh(const host_state *s, int64_t now_ms)
{
	return s->ts_ms > 0 && now_ms - s->ts_ms <=
	    (int64_t)HOST_STATE_FRESH_INTERVALS * s->interval_s * 1000 + HOST_STATE_FRESH_GRACE_MS;
}

const host_state_vm *
host_state_vm_find(const host_state *s, const char *name)
{
	for (guint k = 0; k < s->vms->len; k++) {
		const host_state_vm *v = g_ptr_array_index(s->vms, k);

		if (g_strcmp0(v->domain, name) == 0 || g_strcmp0(v->vm, name) == 0)
			return v;
	}
	return NULL;
}
