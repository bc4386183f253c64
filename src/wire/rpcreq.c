/* rpcreq: one table per rpc op of the fields it takes and their types, and the check */
#include "wire/rpcreq.h"

#include <glib.h>

#include "wire/deployment.h"
#include "scenario/scenario.h"

#define REQ(k, t)		{ k, t, true, 0, 0 }
#define OPT(k, t)		{ k, t, false, 0, 0 }
#define OPT_INT(k, lo, hi)	{ k, RPCREQ_INT, false, lo, hi }
#define REQ_INT(k, lo, hi)	{ k, RPCREQ_INT, true, lo, hi }
#define END			{ NULL, 0, false, 0, 0 }

/* deploy: the deployment's own keys (spec, vms, nets, ...) may sit in the request itself;
 * proto_deployment_from_json checks those */
static const rpcreq_field f_deploy[] = { OPT("scenario", RPCREQ_NAME),
	OPT("deployment", RPCREQ_OBJECT), OPT_INT("guest_timeout_s", 1, 86400),
	OPT("partial", RPCREQ_BOOL), OPT("only", RPCREQ_STRS), END };
static const rpcreq_field f_undeploy[] = { REQ("scenario", RPCREQ_NAME), END };
static const rpcreq_field f_exec[] = { REQ("scenario", RPCREQ_NAME), REQ("vm", RPCREQ_NAME),
	OPT("cmd", RPCREQ_STR), OPT("seq", RPCREQ_STR), OPT("spec", RPCREQ_STR),
	OPT("steps", RPCREQ_OBJECTS),
	OPT_INT("timeout_s", 1, 86400), END };
static const rpcreq_field f_status[] = { END };
static const rpcreq_field f_net_ensure[] = { REQ("scenario", RPCREQ_NAME),
	REQ("net", RPCREQ_NAME), OPT_INT("vni", 0, 0xffffff), OPT("hosts", RPCREQ_HOSTS),
	OPT("addrs", RPCREQ_STRS), OPT_INT("mtu", 576, 65535), OPT("existing", RPCREQ_BOOL), END };
static const rpcreq_field f_net_remove[] = { REQ("scenario", RPCREQ_NAME),
	REQ("net", RPCREQ_NAME), END };
static const rpcreq_field f_admit[] = { REQ("vm", RPCREQ_VMREF), OPT("scenario", RPCREQ_NAME),
	REQ("cpu", RPCREQ_NUM), REQ("mem", RPCREQ_NUM), OPT("load_generated", RPCREQ_NUM),
	OPT("force", RPCREQ_BOOL), END };
static const rpcreq_field f_release[] = { REQ("vm", RPCREQ_VMREF), OPT("ok", RPCREQ_BOOL),
	OPT("heal", RPCREQ_OBJECT), END };
static const rpcreq_field f_heal[] = { REQ("host", RPCREQ_HOST), REQ("domain", RPCREQ_VMREF),
	REQ_INT("gen", 2, G_MAXINT64), END };
static const rpcreq_field f_plan[] = { OPT("execute", RPCREQ_BOOL), END };
static const rpcreq_field f_migrate[] = { REQ("vm", RPCREQ_VMREF), OPT("dst", RPCREQ_HOST),
	OPT("force", RPCREQ_BOOL), END };
static const rpcreq_field f_drain[] = { OPT("cancel", RPCREQ_BOOL), END };
static const rpcreq_field f_wake[] = { OPT("need", RPCREQ_NUM), END };
static const rpcreq_field f_image_status[] = { REQ("sha256", RPCREQ_SHA256), END };
static const rpcreq_field f_image_commit[] = { REQ("sha256", RPCREQ_SHA256),
	REQ("format", RPCREQ_STR), END };
static const rpcreq_field f_rootfs_commit[] = { REQ("sha256", RPCREQ_SHA256), END };
static const rpcreq_field f_cold_receive[] = { REQ("vm", RPCREQ_VMREF),
	OPT("scenario", RPCREQ_NAME), REQ("xml", RPCREQ_STR), REQ("sha256", RPCREQ_SHA256), END };
static const rpcreq_field f_events[] = { REQ_INT("since", 0, G_MAXINT64),
	OPT_INT("limit", 1, RPCREQ_EVENTS_LIMIT_MAX), END };

static const struct {
	const char *op;
	const rpcreq_field *fields;
} rpcreq_ops[] = {
	{ "deploy", f_deploy },
	{ "undeploy", f_undeploy },
	{ "exec", f_exec },
	{ "status", f_status },
	{ "net-ensure", f_net_ensure },
	{ "net-remove", f_net_remove },
	{ "admit", f_admit },
	{ "release", f_release },
	{ "plan", f_plan },
	{ "migrate", f_migrate },
	{ "drain", f_drain },
	{ "wake", f_wake },
	{ "heal", f_heal },
	{ "events", f_events },
	{ "image-status", f_image_status },
	{ "image-commit", f_image_commit },
	{ "rootfs-commit", f_rootfs_commit },
	{ "cold-receive", f_cold_receive },
};

const rpcreq_field *
rpcreq_fields(const char *op)
{
	for (size_t i = 0; op != NULL && i < G_N_ELEMENTS(rpcreq_ops); i++)
		if (g_strcmp0(rpcreq_ops[i].op, op) == 0)
			return rpcreq_ops[i].fields;
	return NULL;
}

/* why v (a string) is not of type t, or NULL */
static char *
str_problem(rpcreq_type t, const char *key, const json_t *v)
{
	const char *s = json_string_value(v), *why = NULL;

	switch (t) {
	case RPCREQ_NAME:
		why = sc_name_check(s);
		break;
	case RPCREQ_HOST:
		why = sc_host_name_check(s);
		break;
	case RPCREQ_SHA256:
		why = proto_sha256_ok(s) ? NULL : "is not a sha256 (64 lowercase hex digits)";
		break;
	case RPCREQ_VMREF:
		why = sc_name_check(s);
		if (why != NULL && proto_split_domain(s, NULL, NULL) == 0)
			why = NULL;
		break;
	default:
		if (json_string_length(v) == 0)
			return g_strdup_printf("\"%s\" must be a non-empty string", key);
		return NULL;
	}
	if (why == NULL)
		return NULL;
	return g_strdup_printf("\"%s\": '%s' %s", key, s, why);
}

static char *
field_problem(const rpcreq_field *f, const json_t *v)
{
	size_t i;
	const json_t *e;

	switch (f->type) {
	case RPCREQ_STR:
	case RPCREQ_NAME:
	case RPCREQ_HOST:
	case RPCREQ_VMREF:
	case RPCREQ_SHA256:
		if (!json_is_string(v))
			return g_strdup_printf("\"%s\" must be a string", f->key);
		return str_problem(f->type, f->key, v);
	case RPCREQ_BOOL:
		if (!json_is_boolean(v))
			return g_strdup_printf("\"%s\" must be a boolean", f->key);
		return NULL;
	case RPCREQ_INT:
		if (!json_is_integer(v) || json_integer_value(v) < f->min ||
		    json_integer_value(v) > f->max)
			return g_strdup_printf("\"%s\" must be an integer in %" JSON_INTEGER_FORMAT
			    "..%" JSON_INTEGER_FORMAT, f->key, f->min, f->max);
		return NULL;
	case RPCREQ_NUM:
		if (!json_is_number(v))
			return g_strdup_printf("\"%s\" must be a number", f->key);
		return NULL;
	case RPCREQ_OBJECT:
		if (!json_is_object(v))
			return g_strdup_printf("\"%s\" must be an object", f->key);
		return NULL;
	case RPCREQ_OBJECTS:
		if (!json_is_array(v))
			return g_strdup_printf("\"%s\" must be an array of objects", f->key);
		json_array_foreach(v, i, e)
			if (!json_is_object(e))
				return g_strdup_printf("\"%s\"[%zu] must be an object", f->key, i);
		return NULL;
	case RPCREQ_HOSTS:
	case RPCREQ_STRS:
		if (!json_is_array(v))
			return g_strdup_printf("\"%s\" must be an array of strings", f->key);
		json_array_foreach(v, i, e) {
			g_autofree char *key = g_strdup_printf("%s[%zu]", f->key, i);
			char *p;

			if (!json_is_string(e))
				return g_strdup_printf("\"%s\"[%zu] must be a string", f->key, i);
			p = str_problem(f->type == RPCREQ_HOSTS ? RPCREQ_HOST : RPCREQ_STR, key, e);
			if (p != NULL)
				return p;
		}
		return NULL;
	}
	return g_strdup_printf("\"%s\" has an unknown type", f->key);
}

char *
rpcreq_check(const json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	const rpcreq_field *f;

	if (!json_is_object(req))
		return g_strdup("malformed request: not a JSON object");
	if (op == NULL)
		return g_strdup("malformed request: \"op\" must be a string");
	f = rpcreq_fields(op);
	if (f == NULL)
		return g_strdup_printf("malformed request: op '%s' has no field table", op);
	for (; f->key != NULL; f++) {
		const json_t *v = json_object_get(req, f->key);
		g_autofree char *p = NULL;

		if (v == NULL || json_is_null(v)) {
			if (f->required)
				return g_strdup_printf("malformed request: missing \"%s\"", f->key);
			continue;
		}
		p = field_problem(f, v);
		if (p != NULL)
			return g_strdup_printf("malformed request: %s", p);
	}
	return NULL;
}
