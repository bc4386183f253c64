/* proto: deployment <-> JSON with strict validation, and the names derived from a scenario */
#include "wire/deployment.h"

#include <stdio.h>
#include <string.h>

/* ---- media ---- */

static void
proto_media_file_free(gpointer p)
{
	proto_media_file *f = p;

	if (f == NULL)
		return;
	g_free(f->path);
	if (f->data != NULL)
		g_bytes_unref(f->data);
	g_free(f);
}

proto_medium *
proto_medium_new(const char *kind)
{
	proto_medium *m = g_new0(proto_medium, 1);

	m->kind = g_strdup(kind);
	m->files = g_ptr_array_new_with_free_func(proto_media_file_free);
	return m;
}

void
proto_medium_free(proto_medium *m)
{
	if (m == NULL)
		return;
	g_free(m->kind);
	if (m->files != NULL)
		g_ptr_array_unref(m->files);
	g_free(m);
}

static void
proto_medium_free0(gpointer p)
{
	proto_medium_free(p);
}

void
proto_medium_add(proto_medium *m, const char *path, guint mode, GBytes *data)
{
	proto_media_file *f = g_new0(proto_media_file, 1);

	f->path = g_strdup(path);
	f->mode = mode & 07777;
	f->data = data != NULL ? g_bytes_ref(data) : g_bytes_new(NULL, 0);
	g_ptr_array_add(m->files, f);
}

const proto_medium *
proto_vm_place_medium(const proto_vm_place *v, const char *kind)
{
	for (guint i = 0; v != NULL && v->media != NULL && i < v->media->len; i++) {
		const proto_medium *m = g_ptr_array_index(v->media, i);

		if (g_strcmp0(m->kind, kind) == 0)
			return m;
	}
	return NULL;
}

gsize
proto_media_bytes(const proto_vm_place *v)
{
	gsize n = 0;

	for (guint i = 0; v != NULL && v->media != NULL && i < v->media->len; i++) {
		const proto_medium *m = g_ptr_array_index(v->media, i);

		for (guint k = 0; k < m->files->len; k++)
			n += g_bytes_get_size(((proto_media_file *)g_ptr_array_index(m->files,
			    k))->data);
	}
	return n;
}

const char *
proto_media_path_check(const char *path)
{
	const char *c, *start;

	if (path == NULL || path[0] == '\0')
		return "is empty";
	if (strlen(path) > PROTO_MEDIA_PATH_MAX)
		return "is too long";
	if (path[0] == '/')
		return "is absolute";
	for (c = path; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return "contains a control character";
	for (start = path;; start = c + 1) {
		size_t len;

		c = strchr(start, '/');
		len = c != NULL ? (size_t)(c - start) : strlen(start);
		if (len == 0)
			return "has an empty component";
		if (len == 1 && start[0] == '.')
			return "has a '.' component";
		if (len == 2 && start[0] == '.' && start[1] == '.')
			return "has a '..' component";
		if (c == NULL)
			break;
	}
	return NULL;
}

bool
proto_deployment_media_check(const proto_deployment *d, diag *diag)
{
	bool ok = true;

	for (guint i = 0; d != NULL && i < d->vms->len; i++) {
		const proto_vm_place *v = g_ptr_array_index(d->vms, i);
		gsize n = proto_media_bytes(v);

		if (n > PROTO_MEDIA_MAX_BYTES) {
			diag_error(diag, NULL, 0, "vm '%s': its configuration media hold %.1f MiB of "
			    "files, more than the limit of %u MiB", v->vm, (double)n / 1048576.0,
			    PROTO_MEDIA_MAX_BYTES >> 20);
			ok = false;
		}
	}
	return ok;
}

/* ---- building ---- */

static void
proto_vm_place_free(gpointer p)
{
	proto_vm_place *v = p;

	if (v == NULL)
		return;
	g_free(v->vm);
	g_free(v->host);
	if (v->macs != NULL)
		g_ptr_array_unref(v->macs);
	g_free(v->mgmt_addr);
	if (v->media != NULL)
		g_ptr_array_unref(v->media);
	g_free(v->image_sha256);
	g_free(v->image_format);
	g_free(v->rootfs_sha256);
	g_free(v);
}

static void
proto_net_place_free(gpointer p)
{
	proto_net_place *n = p;

	if (n == NULL)
		return;
	g_free(n->net);
	if (n->hosts != NULL)
		g_ptr_array_unref(n->hosts);
	if (n->addrs != NULL)
		g_ptr_array_unref(n->addrs);
	g_free(n);
}

static proto_deployment *
proto_deployment_new(void)
{
	proto_deployment *d = g_new0(proto_deployment, 1);

	d->vms = g_ptr_array_new_with_free_func(proto_vm_place_free);
	d->nets = g_ptr_array_new_with_free_func(proto_net_place_free);
	return d;
}

void
proto_deployment_free(proto_deployment *d)
{
	if (d == NULL)
		return;
	g_free(d->scenario);
	g_free(d->spec);
	g_free(d->algorithm);
	g_free(d->move_containers);
	if (d->vms != NULL)
		g_ptr_array_unref(d->vms);
	if (d->nets != NULL)
		g_ptr_array_unref(d->nets);
	g_free(d);
}

proto_deployment *
proto_deployment_from_plan(const scenario *s, const plan *p, const char *spec,
    const char *(*host_addr)(const char *host, void *ud), void *ud)
{
	proto_deployment *d = proto_deployment_new();

	d->scenario = g_strdup(s->name);
	d->spec = g_strdup(spec != NULL ? spec : "");
	d->algorithm = g_strdup(plan_algorithm_name(p->algorithm));
	for (guint i = 0; i < s->vms->len && (int)i < p->nvms; i++) {
		const sc_vm *vm = g_ptr_array_index(s->vms, i);
		proto_vm_place *v = g_new0(proto_vm_place, 1);
		GPtrArray *macs = NULL;
		int h = p->vm_host[i];

		v->vm = g_strdup(vm->name);
		v->host = g_strdup(h >= 0 && h < p->nhosts ? p->hosts[h].name : "");
		v->macs = g_ptr_array_new_with_free_func(g_free);
		v->media = g_ptr_array_new_with_free_func(proto_medium_free0);
		if (p->vm_macs != NULL && i < p->vm_macs->len)
			macs = g_ptr_array_index(p->vm_macs, i);
		for (guint k = 0; k < vm->ifs->len; k++) {
			const sc_if *ifc = g_ptr_array_index(vm->ifs, k);
			const char *mac = ifc->mac;

			if (macs != NULL && k < macs->len && g_ptr_array_index(macs, k) != NULL)
				mac = g_ptr_array_index(macs, k);
			g_ptr_array_add(v->macs, g_strdup(mac));
		}
		if (p->vm_mgmt_addr != NULL && i < p->vm_mgmt_addr->len)
			v->mgmt_addr = g_strdup(g_ptr_array_index(p->vm_mgmt_addr, i));
		g_ptr_array_add(d->vms, v);
	}
	for (guint j = 0; j < s->nets->len && (int)j < p->nnets; j++) {
		const sc_net *net = g_ptr_array_index(s->nets, j);
		proto_net_place *n = g_new0(proto_net_place, 1);
		GArray *hs = p->net_hosts != NULL ? p->net_hosts[j] : NULL;

		n->net = g_strdup(net->name);
		n->vni = p->net_vni != NULL ? p->net_vni[j] : 0;
		n->hosts = g_ptr_array_new_with_free_func(g_free);
		n->addrs = g_ptr_array_new_with_free_func(g_free);
		for (guint k = 0; hs != NULL && k < hs->len; k++) {
			int h = g_array_index(hs, int, k);
			const char *name = h >= 0 && h < p->nhosts ? p->hosts[h].name : "";

			g_ptr_array_add(n->hosts, g_strdup(name));
			g_ptr_array_add(n->addrs, g_strdup(host_addr != NULL ? host_addr(name, ud) : NULL));
		}
		g_ptr_array_add(d->nets, n);
	}
	return d;
}

/* ---- to JSON ---- */

static json_t *
strv_to_json(const GPtrArray *a)
{
	json_t *j = json_array();

	for (guint i = 0; a != NULL && i < a->len; i++) {
		const char *s = g_ptr_array_index(a, i);

		json_array_append_new(j, s != NULL ? json_string(s) : json_null());
	}
	return j;
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
media_to_json(const GPtrArray *media)
{
	json_t *a = json_array();

	for (guint i = 0; media != NULL && i < media->len; i++) {
		const proto_medium *m = g_ptr_array_index(media, i);
		json_t *files = json_array();

		for (guint k = 0; k < m->files->len; k++) {
			const proto_media_file *f = g_ptr_array_index(m->files, k);
			gsize len = 0;
			const guchar *data = g_bytes_get_data(f->data, &len);
			g_autofree char *b64 = g_base64_encode(data, len);

			json_array_append_new(files, json_pack("{s:s, s:i, s:s}", "path", f->path,
			    "mode", (int)f->mode, "data", b64));
		}
		json_array_append_new(a, json_pack("{s:s, s:o}", "kind", m->kind, "files", files));
	}
	return a;
}

bool
proto_move_containers_ok(const char *s)
{
	return g_strcmp0(s, "never") == 0 || g_strcmp0(s, "operator") == 0 ||
	    g_strcmp0(s, "cold") == 0;
}

json_t *
proto_deployment_to_json(const proto_deployment *d)
{
	json_t *j = json_object();
	json_t *vms = json_array();
	json_t *nets = json_array();

	json_object_set_new(j, "scenario", str_or_null(d->scenario));
	json_object_set_new(j, "spec", str_or_null(d->spec));
	json_object_set_new(j, "algorithm", str_or_null(d->algorithm));
	if (d->move_containers != NULL)
		json_object_set_new(j, "move_containers", json_string(d->move_containers));
	for (guint i = 0; i < d->vms->len; i++) {
		const proto_vm_place *v = g_ptr_array_index(d->vms, i);

		json_t *o = json_pack("{s:s?, s:s?, s:o, s:o}", "vm", v->vm,
		    "host", v->host, "macs", strv_to_json(v->macs),
		    "mgmt_addr", str_or_null(v->mgmt_addr));

		if (v->media != NULL && v->media->len > 0)
			json_object_set_new(o, "media", media_to_json(v->media));
		if (v->image_sha256 != NULL)
			json_object_set_new(o, "image", json_pack("{s:s, s:s, s:I}", "sha256",
			    v->image_sha256, "format", v->image_format != NULL ? v->image_format :
			    "raw", "size", (json_int_t)v->image_size));
		if (v->rootfs_sha256 != NULL)
			json_object_set_new(o, "rootfs", json_pack("{s:s}", "sha256", v->rootfs_sha256));
		json_array_append_new(vms, o);
	}
	for (guint i = 0; i < d->nets->len; i++) {
		const proto_net_place *n = g_ptr_array_index(d->nets, i);

		json_array_append_new(nets, json_pack("{s:s?, s:I, s:o, s:o}", "net", n->net,
		    "vni", (json_int_t)n->vni, "hosts", strv_to_json(n->hosts),
		    "addrs", strv_to_json(n->addrs)));
	}
	json_object_set_new(j, "vms", vms);
	json_object_set_new(j, "nets", nets);
	return j;
}

/* ---- from JSON (validated) ---- */

/* what get_str checks beyond "a string" */
enum { PROTO_ANY, PROTO_NAME, PROTO_HOST };

static const char *
get_str(const json_t *o, const char *key, bool required, int name, const char *where, diag *d,
    bool *bad)
{
	const json_t *v = json_object_get(o, key);
	const char *why;

	if (v == NULL || json_is_null(v)) {
		if (required) {
			diag_error(d, NULL, 0, "%s: missing \"%s\"", where, key);
			*bad = true;
		}
		return NULL;
	}
	if (!json_is_string(v)) {
		diag_error(d, NULL, 0, "%s: \"%s\" must be a string", where, key);
		*bad = true;
		return NULL;
	}
	if (name != PROTO_ANY && (why = name == PROTO_HOST ? sc_host_name_check(
	    json_string_value(v)) : sc_name_check(json_string_value(v))) != NULL) {
		diag_error(d, NULL, 0, "%s: \"%s\": '%s' %s", where, key, json_string_value(v), why);
		*bad = true;
		return NULL;
	}
	return json_string_value(v);
}

/* array of strings (nulls allowed when nullable) -> new GPtrArray of g_strdup'ed char* */
static GPtrArray *
get_strv(const json_t *o, const char *key, bool nullable, const char *where, diag *d, bool *bad)
{
	const json_t *a = json_object_get(o, key);
	GPtrArray *out;
	size_t i;
	json_t *e;

	if (a == NULL || !json_is_array(a)) {
		diag_error(d, NULL, 0, "%s: \"%s\" must be an array", where, key);
		*bad = true;
		return NULL;
	}
	out = g_ptr_array_new_with_free_func(g_free);
	json_array_foreach(a, i, e) {
		if (json_is_string(e) && json_string_length(e) > 0) {
			g_ptr_array_add(out, g_strdup(json_string_value(e)));
		} else if (nullable && json_is_null(e)) {
			g_ptr_array_add(out, NULL);
		} else {
			diag_error(d, NULL, 0, "%s: \"%s\"[%zu] must be a non-empty string%s", where,
			    key, i, nullable ? " or null" : "");
			*bad = true;
			g_ptr_array_unref(out);
			return NULL;
		}
	}
	return out;
}

/* strict base64 (RFC 4648 alphabet, padded, no blanks): decoded bytes or NULL */
static GBytes *
b64_decode_strict(const char *s, size_t len)
{
	guchar *raw;
	gsize n = 0;
	size_t pad = 0;

	if (len % 4 != 0)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '=') {
			if (i + 2 < len)	/* only the last two may be padding */
				return NULL;
			pad++;
		} else if (pad > 0 || !(g_ascii_isalnum(c) || c == '+' || c == '/')) {
			return NULL;
		}
	}
	raw = g_base64_decode(len > 0 ? s : "", &n);
	return g_bytes_new_take(raw, n);
}

/* "media" of a vm: NULL and an error in d when malformed; an empty array when absent */
static GPtrArray *
media_from_json(const json_t *o, const char *where, diag *d)
{
	const json_t *a = json_object_get(o, "media"), *m;
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(proto_medium_free0);
	gsize total = 0;
	size_t i;

	if (a == NULL || json_is_null(a))
		return g_steal_pointer(&out);
	if (!json_is_array(a)) {
		diag_error(d, NULL, 0, "%s: \"media\" must be an array", where);
		return NULL;
	}
	json_array_foreach(a, i, m) {
		const json_t *kind = json_object_get(m, "kind"), *files = json_object_get(m, "files");
		g_autoptr(proto_medium) md = NULL;
		g_autoptr(GHashTable) paths = NULL;
		const json_t *f;
		size_t k;

		if (!json_is_object(m) || !json_is_string(kind) || !json_is_array(files)) {
			diag_error(d, NULL, 0, "%s: \"media\"[%zu] must be an object with a string "
			    "\"kind\" and an array \"files\"", where, i);
			return NULL;
		}
		if (strcmp(json_string_value(kind), PROTO_MEDIUM_VNX) != 0 &&
		    strcmp(json_string_value(kind), PROTO_MEDIUM_CIDATA) != 0) {
			diag_error(d, NULL, 0, "%s: \"media\"[%zu]: unknown kind '%s' (expected '"
			    PROTO_MEDIUM_VNX "' or '" PROTO_MEDIUM_CIDATA "')", where, i,
			    json_string_value(kind));
			return NULL;
		}
		for (guint q = 0; q < out->len; q++)
			if (strcmp(((proto_medium *)g_ptr_array_index(out, q))->kind,
			    json_string_value(kind)) == 0) {
				diag_error(d, NULL, 0, "%s: \"media\": kind '%s' given twice", where,
				    json_string_value(kind));
				return NULL;
			}
		md = proto_medium_new(json_string_value(kind));
		paths = g_hash_table_new(g_str_hash, g_str_equal);
		json_array_foreach(files, k, f) {
			const json_t *path = json_object_get(f, "path"), *mode = json_object_get(f,
			    "mode"), *data = json_object_get(f, "data");
			g_autoptr(GBytes) bytes = NULL;
			const char *why;

			if (!json_is_object(f) || !json_is_string(path) || !json_is_integer(mode) ||
			    !json_is_string(data)) {
				diag_error(d, NULL, 0, "%s: \"media\"[%zu].files[%zu] must be an object "
				    "with a string \"path\", an integer \"mode\" and a string \"data\"",
				    where, i, k);
				return NULL;
			}
			if ((why = proto_media_path_check(json_string_value(path))) != NULL) {
				diag_error(d, NULL, 0, "%s: \"media\"[%zu].files[%zu]: path '%s' %s",
				    where, i, k, json_string_value(path), why);
				return NULL;
			}
			if (json_integer_value(mode) < 0 || json_integer_value(mode) > 07777) {
				diag_error(d, NULL, 0, "%s: \"media\"[%zu].files[%zu]: \"mode\" must be "
				    "in 0..07777", where, i, k);
				return NULL;
			}
			bytes = b64_decode_strict(json_string_value(data), json_string_length(data));
			if (bytes == NULL) {
				diag_error(d, NULL, 0, "%s: \"media\"[%zu].files[%zu]: \"data\" is not "
				    "base64", where, i, k);
				return NULL;
			}
			total += g_bytes_get_size(bytes);
			proto_medium_add(md, json_string_value(path), (guint)json_integer_value(mode),
			    bytes);
			if (!g_hash_table_add(paths, ((proto_media_file *)g_ptr_array_index(md->files,
			    md->files->len - 1))->path)) {
				diag_error(d, NULL, 0, "%s: \"media\"[%zu]: path '%s' given twice",
				    where, i, json_string_value(path));
				return NULL;
			}
		}
		/* a file cannot also be a folder of another file */
		for (guint q = 0; q < md->files->len; q++) {
			g_autofree char *dir = g_strdup(((proto_media_file *)g_ptr_array_index(
			    md->files, q))->path);
			char *slash;

			while ((slash = strrchr(dir, '/')) != NULL) {
				*slash = '\0';
				if (g_hash_table_contains(paths, dir)) {
					diag_error(d, NULL, 0, "%s: \"media\"[%zu]: '%s' is a file and "
					    "a folder", where, i, dir);
					return NULL;
				}
			}
		}
		g_ptr_array_add(out, g_steal_pointer(&md));
	}
	if (total > PROTO_MEDIA_MAX_BYTES) {
		diag_error(d, NULL, 0, "%s: its configuration media hold %.1f MiB of files, more "
		    "than the limit of %u MiB", where, (double)total / 1048576.0,
		    PROTO_MEDIA_MAX_BYTES >> 20);
		return NULL;
	}
	return g_steal_pointer(&out);
}

static proto_vm_place *
vm_from_json(const json_t *o, size_t idx, diag *d)
{
	g_autofree char *where = g_strdup_printf("deployment: vms[%zu]", idx);
	bool bad = false;
	const char *vm, *host, *mgmt;
	const json_t *img;
	GPtrArray *macs, *media = NULL;
	proto_vm_place *v;

	if (!json_is_object(o)) {
		diag_error(d, NULL, 0, "%s: must be an object", where);
		return NULL;
	}
	vm = get_str(o, "vm", true, PROTO_NAME, where, d, &bad);
	host = get_str(o, "host", true, PROTO_HOST, where, d, &bad);
	mgmt = get_str(o, "mgmt_addr", false, PROTO_ANY, where, d, &bad);
	macs = get_strv(o, "macs", true, where, d, &bad);
	if (!bad && vm != NULL) {
		g_autofree char *w2 = g_strdup_printf("%s (vm '%s')", where, vm);

		if ((media = media_from_json(o, w2, d)) == NULL)
			bad = true;
	}
	if (bad) {
		if (macs != NULL)
			g_ptr_array_unref(macs);
		return NULL;
	}
	v = g_new0(proto_vm_place, 1);
	v->vm = g_strdup(vm);
	v->host = g_strdup(host);
	v->mgmt_addr = g_strdup(mgmt);
	v->macs = macs;
	v->media = media;
	img = json_object_get(o, "image");
	if (img != NULL && !json_is_null(img)) {
		const char *sha = json_string_value(json_object_get(img, "sha256"));
		const char *fmt = json_string_value(json_object_get(img, "format"));
		const json_t *size = json_object_get(img, "size");

		if (!json_is_object(img) || !proto_sha256_ok(sha) || !proto_image_format_ok(fmt) ||
		    !json_is_integer(size) || json_integer_value(size) <= 0) {
			diag_error(d, NULL, 0, "%s: \"image\" must be {\"sha256\": 64 lowercase hex "
			    "digits, \"format\": \"qcow2\" or \"raw\", \"size\": bytes > 0}", where);
			proto_vm_place_free(v);
			return NULL;
		}
		v->image_sha256 = g_strdup(sha);
		v->image_format = g_strdup(fmt);
		v->image_size = (uint64_t)json_integer_value(size);
	}
	img = json_object_get(o, "rootfs");
	if (img != NULL && !json_is_null(img)) {
		const char *sha = json_string_value(json_object_get(img, "sha256"));

		if (!json_is_object(img) || !proto_sha256_ok(sha)) {
			diag_error(d, NULL, 0, "%s: \"rootfs\" must be {\"sha256\": 64 lowercase hex "
			    "digits}", where);
			proto_vm_place_free(v);
			return NULL;
		}
		v->rootfs_sha256 = g_strdup(sha);
	}
	return v;
}

static proto_net_place *
net_from_json(const json_t *o, size_t idx, diag *d)
{
	g_autofree char *where = g_strdup_printf("deployment: nets[%zu]", idx);
	bool bad = false;
	const char *net;
	const json_t *vni;
	GPtrArray *hosts, *addrs;
	proto_net_place *n;

	if (!json_is_object(o)) {
		diag_error(d, NULL, 0, "%s: must be an object", where);
		return NULL;
	}
	net = get_str(o, "net", true, PROTO_NAME, where, d, &bad);
	vni = json_object_get(o, "vni");
	if (vni == NULL || !json_is_integer(vni) || json_integer_value(vni) < 0 ||
	    json_integer_value(vni) > 0xffffff) {
		diag_error(d, NULL, 0, "%s: \"vni\" must be an integer in 0..16777215", where);
		bad = true;
	}
	hosts = get_strv(o, "hosts", false, where, d, &bad);
	addrs = get_strv(o, "addrs", true, where, d, &bad);
	if (!bad && hosts->len != addrs->len) {
		diag_error(d, NULL, 0, "%s: \"hosts\" has %u entries but \"addrs\" has %u", where,
		    hosts->len, addrs->len);
		bad = true;
	}
	if (bad) {
		if (hosts != NULL)
			g_ptr_array_unref(hosts);
		if (addrs != NULL)
			g_ptr_array_unref(addrs);
		return NULL;
	}
	n = g_new0(proto_net_place, 1);
	n->net = g_strdup(net);
	n->vni = (uint32_t)json_integer_value(vni);
	n->hosts = hosts;
	n->addrs = addrs;
	return n;
}

proto_deployment *
proto_deployment_from_json(const json_t *j, diag *d)
{
	g_autoptr(proto_deployment) dep = NULL;
	g_autoptr(GHashTable) seen = NULL;
	bool bad = false;
	const char *scen, *spec, *algo, *move;
	const json_t *vms, *nets, *e;
	size_t i;

	if (j == NULL || !json_is_object(j)) {
		diag_error(d, NULL, 0, "deployment: must be a JSON object");
		return NULL;
	}
	scen = get_str(j, "scenario", true, PROTO_NAME, "deployment", d, &bad);
	spec = get_str(j, "spec", true, PROTO_ANY, "deployment", d, &bad);
	algo = get_str(j, "algorithm", false, PROTO_ANY, "deployment", d, &bad);
	move = get_str(j, "move_containers", false, PROTO_ANY, "deployment", d, &bad);
	if (move != NULL && !proto_move_containers_ok(move)) {
		diag_error(d, NULL, 0, "deployment: \"move_containers\" must be never, operator or "
		    "cold, not '%s'", move);
		bad = true;
	}
	vms = json_object_get(j, "vms");
	nets = json_object_get(j, "nets");
	if (vms == NULL || !json_is_array(vms)) {
		diag_error(d, NULL, 0, "deployment: \"vms\" must be an array");
		bad = true;
	}
	if (nets == NULL || !json_is_array(nets)) {
		diag_error(d, NULL, 0, "deployment: \"nets\" must be an array");
		bad = true;
	}
	if (bad)
		return NULL;
	dep = proto_deployment_new();
	dep->scenario = g_strdup(scen);
	dep->spec = g_strdup(spec);
	dep->algorithm = g_strdup(algo);
	dep->move_containers = g_strdup(move);
	seen = g_hash_table_new(g_str_hash, g_str_equal);
	json_array_foreach(vms, i, e) {
		proto_vm_place *v = vm_from_json(e, i, d);

		if (v == NULL) {
			bad = true;
			continue;
		}
		if (!g_hash_table_add(seen, v->vm)) {
			diag_error(d, NULL, 0, "deployment: vm '%s' placed twice", v->vm);
			bad = true;
		}
		g_ptr_array_add(dep->vms, v);
	}
	g_hash_table_remove_all(seen);
	json_array_foreach(nets, i, e) {
		proto_net_place *n = net_from_json(e, i, d);

		if (n == NULL) {
			bad = true;
			continue;
		}
		if (!g_hash_table_add(seen, n->net)) {
			diag_error(d, NULL, 0, "deployment: net '%s' listed twice", n->net);
			bad = true;
		}
		g_ptr_array_add(dep->nets, n);
	}
	if (bad)
		return NULL;
	return g_steal_pointer(&dep);
}

const proto_vm_place *
proto_deployment_vm(const proto_deployment *d, const char *vm)
{
	for (guint i = 0; d != NULL && vm != NULL && i < d->vms->len; i++) {
		const proto_vm_place *v = g_ptr_array_index(d->vms, i);

		if (g_strcmp0(v->vm, vm) == 0)
			return v;
	}
	return NULL;
}

const proto_net_place *
proto_deployment_net(const proto_deployment *d, const char *net)
{
	for (guint i = 0; d != NULL && net != NULL && i < d->nets->len; i++) {
		const proto_net_place *n = g_ptr_array_index(d->nets, i);

		if (g_strcmp0(n->net, net) == 0)
			return n;
	}
	return NULL;
}

