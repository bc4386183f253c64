/* where: the "status" rpc to every live host, collected into one list of VMs */
#include "cli/where.h"

#include <string.h>

void
vm_where_free(vm_where *w)
{
	if (w == NULL)
		return;
	g_free(w->scenario);
	g_free(w->vm);
	g_free(w->host);
	g_free(w->state);
	g_free(w->config);
	g_free(w->sc_state);
	json_decref(w->addrs);
	json_decref(w->ifaces);
	g_free(w);
}

typedef struct {
	GPtrArray *where;	/* of vm_where* */
	GPtrArray *failed;	/* of char* "host: reason" */
	GPtrArray *silent;	/* of char*: hosts that did not answer */
	json_t *nets;		/* [{"host", "scenario", "net", "vni"}] */
} status_ctx;

static void
status_done(client_call *call, void *ud)
{
	status_ctx *sc = ud;
	json_t *vms, *o;
	size_t i;

	if (!call->ok) {
		g_ptr_array_add(sc->failed, g_strdup_printf("host '%s' did not answer status: %s",
		    call->host, call->error));
		g_ptr_array_add(sc->silent, g_strdup(call->host));
		return;
	}
	vms = json_object_get(call->reply, "vms");
	json_array_foreach(vms, i, o) {
		const char *s = client_jstr(o, "scenario"), *vm = client_jstr(o, "vm");
		vm_where *w;

		if (vm == NULL)
			vm = client_jstr(o, "name");
		if (s == NULL || vm == NULL)
			continue;	/* not one of nube's domains */
		w = g_new0(vm_where, 1);
		w->scenario = g_strdup(s);
		w->vm = g_strdup(vm);
		w->host = g_strdup(call->host);
		w->state = g_strdup(client_jstr(o, "state") != NULL ? client_jstr(o, "state") :
		    "unknown");
		w->config = g_strdup(client_jstr(o, "config"));
		client_vm_addrs(o, &w->addrs, &w->ifaces);
		g_ptr_array_add(sc->where, w);
	}
	json_array_foreach(json_object_get(call->reply, "nets"), i, o) {
		const char *s = client_jstr(o, "scenario"), *net = client_jstr(o, "net");
		const json_t *vni = json_object_get(o, "vni");

		if (s == NULL || net == NULL)
			continue;	/* not a scenario's net */
		json_array_append_new(sc->nets, json_pack("{s:s, s:s, s:s, s:I}", "host",
		    call->host, "scenario", s, "net", net, "vni", json_is_integer(vni) ?
		    json_integer_value(vni) : (json_int_t)0));
	}
}

GPtrArray *
where_now(client *c, GPtrArray **failed, GPtrArray **silent, json_t **nets)
{
	status_ctx sc = {
		.where = g_ptr_array_new_with_free_func((GDestroyNotify)vm_where_free),
		.failed = g_ptr_array_new_with_free_func(g_free),
		.silent = g_ptr_array_new_with_free_func(g_free),
		.nets = json_array(),
	};

	/* status_done collects the answers; the calls themselves are not needed */
	g_ptr_array_unref(client_call_live(c, json_pack("{s:s}", "op", "status"),
	    WHERE_SILENCE_MS, status_done, &sc));
	if (failed != NULL)
		*failed = sc.failed;
	else
		g_ptr_array_unref(sc.failed);
	if (silent != NULL)
		*silent = sc.silent;
	else
		g_ptr_array_unref(sc.silent);
	if (nets != NULL)
		*nets = sc.nets;
	else
		json_decref(sc.nets);
	return sc.where;
}

vm_where *
where_find(GPtrArray *where, const char *scenario, const char *vm)
{
	for (guint i = 0; i < where->len; i++) {
		vm_where *w = where->pdata[i];

		if (strcmp(w->scenario, scenario) == 0 && strcmp(w->vm, vm) == 0)
			return w;
	}
	return NULL;
}

bool
where_silent(const GPtrArray *silent, const char *name)
{
	for (guint i = 0; silent != NULL && name != NULL && i < silent->len; i++)
		if (strcmp(silent->pdata[i], name) == 0)
			return true;
	return false;
}
