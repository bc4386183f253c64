/* unit tests of proto: deployment JSON round trip, rejection of malformed messages, names */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "plan/alloc.h"
#include "wire/deployment.h"
#include "wire/names.h"

/* reference FNV-1a 32 written from the published parameters, over the joined string */
static uint32_t
ref_fnv1a(const char *s)
{
	uint32_t h = 0x811c9dc5u;

	for (; *s != '\0'; s++) {
		h ^= (uint8_t)*s;
		h *= 0x01000193u;
	}
	return h;
}

#define SHA "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"

static proto_deployment *
sample(void)
{
	const char *txt =
	    "{\"scenario\":\"lab\",\"spec\":\"<vnx/>\",\"algorithm\":\"round-robin\","
	    "\"vms\":[{\"vm\":\"r1\",\"host\":\"host1\",\"macs\":[\"02:fd:00:00:01:01\",null],"
	    "\"mgmt_addr\":\"10.250.0.2/24\"},"
	    "{\"vm\":\"r2\",\"host\":\"host2\",\"macs\":[],\"mgmt_addr\":null,\"image\":{"
	    "\"sha256\":\"" SHA "\",\"format\":\"qcow2\",\"size\":178437120}}],"
	    "\"nets\":[{\"net\":\"Net0\",\"vni\":10001,\"hosts\":[\"host1\",\"host2\"],"
	    "\"addrs\":[\"10.77.0.11\",\"10.77.0.12\"]},"
	    "{\"net\":\"Net1\",\"vni\":0,\"hosts\":[\"host1\"],\"addrs\":[null]}]}";
	json_error_t e;
	json_t *j = json_loads(txt, 0, &e);
	diag *d = diag_new();
	proto_deployment *dep;

	assert_non_null(j);
	dep = proto_deployment_from_json(j, d);
	if (dep == NULL)
		diag_print(d, stderr);
	assert_non_null(dep);
	assert_false(diag_has_errors(d));
	json_decref(j);
	diag_free(d);
	return dep;
}

static void
test_parse_fields(void **state)
{
	proto_deployment *dep = sample();
	const proto_vm_place *v;
	const proto_net_place *n;

	(void)state;
	assert_string_equal(dep->scenario, "lab");
	assert_string_equal(dep->spec, "<vnx/>");
	assert_int_equal(dep->vms->len, 2);
	v = proto_deployment_vm(dep, "r1");
	assert_non_null(v);
	assert_string_equal(v->host, "host1");
	assert_int_equal(v->macs->len, 2);
	assert_string_equal(g_ptr_array_index(v->macs, 0), "02:fd:00:00:01:01");
	assert_null(g_ptr_array_index(v->macs, 1));
	assert_string_equal(v->mgmt_addr, "10.250.0.2/24");
	assert_null(v->image_sha256);		/* no image: the path as written */
	v = proto_deployment_vm(dep, "r2");
	assert_null(v->mgmt_addr);
	assert_string_equal(v->image_sha256, SHA);
	assert_string_equal(v->image_format, "qcow2");
	assert_int_equal(v->image_size, 178437120);
	assert_null(proto_deployment_vm(dep, "r3"));
	n = proto_deployment_net(dep, "Net0");
	assert_non_null(n);
	assert_int_equal(n->vni, 10001);
	assert_int_equal(n->hosts->len, 2);
	assert_string_equal(g_ptr_array_index(n->addrs, 1), "10.77.0.12");
	n = proto_deployment_net(dep, "Net1");
	assert_int_equal(n->vni, 0);
	assert_null(g_ptr_array_index(n->addrs, 0));
	assert_null(proto_deployment_net(dep, "nope"));
	proto_deployment_free(dep);
}

static void
test_round_trip(void **state)
{
	proto_deployment *a = sample(), *b;
	json_t *ja = proto_deployment_to_json(a), *jb;
	diag *d = diag_new();

	(void)state;
	b = proto_deployment_from_json(ja, d);
	assert_non_null(b);
	jb = proto_deployment_to_json(b);
	assert_true(json_equal(ja, jb));
	/* and the JSON text survives a dump/load */
	{
		char *txt = json_dumps(ja, JSON_COMPACT);
		json_t *jc = json_loads(txt, 0, NULL);

		assert_true(json_equal(ja, jc));
		json_decref(jc);
		free(txt);
	}
	json_decref(ja);
	json_decref(jb);
	proto_deployment_free(a);
	proto_deployment_free(b);
	diag_free(d);
}

/* each malformed message is rejected with a reason naming the problem */
static void
test_malformed(void **state)
{
	static const struct {
		const char *json, *needle;
	} cases[] = {
		{ "[]", "must be a JSON object" },
		{ "{\"spec\":\"x\",\"vms\":[],\"nets\":[]}", "missing \"scenario\"" },
		{ "{\"scenario\":5,\"spec\":\"x\",\"vms\":[],\"nets\":[]}", "\"scenario\" must be a string" },
		{ "{\"scenario\":\"a/b\",\"spec\":\"x\",\"vms\":[],\"nets\":[]}", "'a/b' contains '/'" },
		{ "{\"scenario\":\"\",\"spec\":\"x\",\"vms\":[],\"nets\":[]}", "'' is empty" },
		{ "{\"scenario\":\"../../../../tmp/x\",\"spec\":\"x\",\"vms\":[],\"nets\":[]}",
		    "\"scenario\": '../../../../tmp/x' contains '/'" },
		{ "{\"scenario\":\"x-y\",\"spec\":\"x\",\"vms\":[{\"vm\":\"a.b\",\"host\":\"h\","
		    "\"macs\":[]}],\"nets\":[]}", "vms[0]: \"vm\": 'a.b' contains '.'" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[{\"vm\":\"a\",\"host\":\"../h\","
		    "\"macs\":[]}],\"nets\":[]}", "vms[0]: \"host\": '../h' starts with '-' or '.'" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[],\"nets\":[{\"net\":\"n 1\",\"vni\":0,"
		    "\"hosts\":[],\"addrs\":[]}]}", "nets[0]: \"net\": 'n 1' contains whitespace" },
		{ "{\"scenario\":\"s\",\"vms\":[],\"nets\":[]}", "missing \"spec\"" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":{},\"nets\":[]}", "\"vms\" must be an array" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[]}", "\"nets\" must be an array" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[3],\"nets\":[]}", "vms[0]: must be an object" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[{\"vm\":\"a\",\"macs\":[]}],\"nets\":[]}",
		    "vms[0]: missing \"host\"" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[{\"vm\":\"a\",\"host\":\"h\"}],\"nets\":[]}",
		    "\"macs\" must be an array" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[{\"vm\":\"a\",\"host\":\"h\",\"macs\":[1]}],"
		    "\"nets\":[]}", "\"macs\"[0] must be a non-empty string" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[{\"vm\":\"a\",\"host\":\"h\",\"macs\":[]},"
		    "{\"vm\":\"a\",\"host\":\"h\",\"macs\":[]}],\"nets\":[]}", "vm 'a' placed twice" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[],\"nets\":[{\"net\":\"n\",\"vni\":-1,"
		    "\"hosts\":[],\"addrs\":[]}]}", "\"vni\" must be an integer in 0..16777215" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[],\"nets\":[{\"net\":\"n\",\"vni\":16777216,"
		    "\"hosts\":[],\"addrs\":[]}]}", "\"vni\" must be an integer" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[],\"nets\":[{\"net\":\"n\",\"vni\":\"7\","
		    "\"hosts\":[],\"addrs\":[]}]}", "\"vni\" must be an integer" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[],\"nets\":[{\"net\":\"n\",\"vni\":7,"
		    "\"hosts\":[\"a\",\"b\"],\"addrs\":[\"1.2.3.4\"]}]}", "\"hosts\" has 2 entries but \"addrs\" has 1" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[],\"nets\":[{\"net\":\"n\",\"vni\":7,"
		    "\"hosts\":[null],\"addrs\":[null]}]}", "\"hosts\"[0] must be a non-empty string" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[],\"nets\":[{\"net\":\"n\",\"vni\":0,"
		    "\"hosts\":[],\"addrs\":[]},{\"net\":\"n\",\"vni\":0,\"hosts\":[],\"addrs\":[]}]}",
		    "net 'n' listed twice" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[{\"vm\":\"a\",\"host\":\"h\",\"macs\":[],"
		    "\"image\":{\"sha256\":\"ABC\",\"format\":\"qcow2\",\"size\":1}}],\"nets\":[]}",
		    "vms[0]: \"image\" must be {\"sha256\": 64 lowercase hex digits" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[{\"vm\":\"a\",\"host\":\"h\",\"macs\":[],"
		    "\"image\":{\"sha256\":\"" SHA "\",\"format\":\"vmdk\",\"size\":1}}],\"nets\":[]}",
		    "\"format\": \"qcow2\" or \"raw\"" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[{\"vm\":\"a\",\"host\":\"h\",\"macs\":[],"
		    "\"image\":{\"sha256\":\"" SHA "\",\"format\":\"raw\",\"size\":0}}],\"nets\":[]}",
		    "\"size\": bytes > 0" },
		{ "{\"scenario\":\"s\",\"spec\":\"x\",\"vms\":[{\"vm\":\"a\",\"host\":\"h\",\"macs\":[],"
		    "\"image\":\"" SHA "\"}],\"nets\":[]}", "\"image\" must be {" },
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		diag *d = diag_new();
		proto_deployment *dep;

		assert_non_null(j);
		dep = proto_deployment_from_json(j, d);
		if (dep != NULL || !diag_contains(d, DIAG_ERROR, cases[i].needle)) {
			print_error("case %zu (%s): expected error containing '%s'\n", i,
			    cases[i].json, cases[i].needle);
			diag_print(d, stderr);
		}
		assert_null(dep);
		assert_true(diag_contains(d, DIAG_ERROR, cases[i].needle));
		json_decref(j);
		diag_free(d);
	}
	/* NULL input */
	{
		diag *d = diag_new();

		assert_null(proto_deployment_from_json(NULL, d));
		assert_true(diag_has_errors(d));
		diag_free(d);
	}
}

/* the image cache's volume names round trip; format by content */
static void
test_image_names(void **state)
{
	g_autofree char *vol = proto_image_volume(SHA, "qcow2");
	g_autofree char *sha = NULL;
	const char *fmt = NULL;

	(void)state;
	assert_int_equal(proto_image_volume_parse(vol, &sha, &fmt), 0);
	assert_string_equal(sha, SHA);
	assert_string_equal(fmt, "qcow2");
	assert_int_equal(proto_image_volume_parse("dsk.d1.qcow2", &sha, &fmt), -1);
	assert_int_equal(proto_image_volume_parse(SHA ".vmdk", &sha, &fmt), -1);
	assert_int_equal(proto_image_volume_parse(SHA, &sha, &fmt), -1);
	assert_string_equal(proto_image_format_of("QFI\xfb\0\0\0\3", 8), "qcow2");
	assert_string_equal(proto_image_format_of("QFI", 3), "raw");
	assert_string_equal(proto_image_format_of("\x7f" "ELF", 4), "raw");
}

static void
test_names(void **state)
{
	static const char *pairs[][2] = {
		{ "lab", "Net0" }, { "simple_tutorial", "Net1" }, { "a", "b" },
		{ "a-very-long-scenario-name-indeed", "a-very-long-net-name-too" },
		{ "ñandú", "red/uno" },
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(pairs); i++) {
		char br[16], vx[16], br2[16], exp[32];
		g_autofree char *joined = g_strdup_printf("%s/%s", pairs[i][0], pairs[i][1]);

		proto_bridge_name(pairs[i][0], pairs[i][1], br);
		proto_vxlan_name(pairs[i][0], pairs[i][1], vx);
		assert_true(strlen(br) <= 15);
		assert_true(strlen(vx) <= 15);
		snprintf(exp, sizeof exp, "nbr%08x", ref_fnv1a(joined));
		assert_string_equal(br, exp);
		snprintf(exp, sizeof exp, "nvx%08x", ref_fnv1a(joined));
		assert_string_equal(vx, exp);
		/* stable: same input, same name */
		proto_bridge_name(pairs[i][0], pairs[i][1], br2);
		assert_string_equal(br, br2);
	}
	/* a known value of FNV-1a 32 ("a" -> e40c292c) anchors the reference itself */
	assert_int_equal(ref_fnv1a("a"), 0xe40c292cu);
	/* different nets give different names */
	{
		char a[16], b[16];

		proto_bridge_name("lab", "Net0", a);
		proto_bridge_name("lab", "Net1", b);
		assert_string_not_equal(a, b);
	}
}

/* a stretched net's VNI: in the agents' range, the same on every host, past VNIs in use */
static void
test_stretch_vni(void **state)
{
	g_autoptr(GHashTable) used = g_hash_table_new(g_direct_hash, g_direct_equal);
	uint32_t a = proto_stretch_vni("lab", "Net0", NULL), b, c;

	(void)state;
	assert_true(a >= NUBE_VNI_STRETCH_MIN && a <= NUBE_VNI_STRETCH_MAX);
	assert_true(a > NUBE_VNI_DEPLOY_MAX);	/* never a deploy's */
	assert_int_equal(proto_stretch_vni("lab", "Net0", used), a);	/* deterministic */
	b = proto_stretch_vni("lab", "Net1", NULL);
	assert_int_not_equal(a, b);
	g_hash_table_add(used, GUINT_TO_POINTER(a));
	c = proto_stretch_vni("lab", "Net0", used);
	assert_int_equal(c, a == NUBE_VNI_STRETCH_MAX ? NUBE_VNI_STRETCH_MIN : a + 1);
	g_hash_table_add(used, GUINT_TO_POINTER(c));
	assert_true(proto_stretch_vni("lab", "Net0", used) != a);
	assert_true(proto_stretch_vni("lab", "Net0", used) != c);
	/* the top of the range wraps to its bottom */
	g_hash_table_remove_all(used);
	for (uint32_t v = a; v <= NUBE_VNI_STRETCH_MAX; v++)
		g_hash_table_add(used, GUINT_TO_POINTER(v));
	assert_int_equal(proto_stretch_vni("lab", "Net0", used), NUBE_VNI_STRETCH_MIN);
}

static void
test_alias(void **state)
{
	char *s = NULL, *n = NULL;
	g_autofree char *al = proto_net_alias("lab", "Net0");
	g_autofree char *dom = proto_domain_name("lab", "r1");

	(void)state;
	assert_string_equal(al, "nube:lab/Net0");
	assert_int_equal(proto_parse_alias(al, &s, &n), 0);
	assert_string_equal(s, "lab");
	assert_string_equal(n, "Net0");
	g_free(s);
	g_free(n);
	s = n = NULL;
	/* only names nube could have written: never one with '/' or '..' in it */
	assert_int_equal(proto_parse_alias("nube:lab/a/b", &s, &n), -1);
	assert_int_equal(proto_parse_alias("nube:../x", &s, &n), -1);
	assert_int_equal(proto_parse_alias("nube:lab/..", &s, &n), -1);
	assert_null(s);
	assert_null(n);
	assert_int_equal(proto_parse_alias("nube:lab", &s, &n), -1);
	assert_int_equal(proto_parse_alias("nube:/x", &s, &n), -1);
	assert_int_equal(proto_parse_alias("nube:x/", &s, &n), -1);
	assert_int_equal(proto_parse_alias("other:lab/Net0", &s, &n), -1);
	assert_int_equal(proto_parse_alias("", &s, &n), -1);
	assert_int_equal(proto_parse_alias(NULL, &s, &n), -1);
	assert_string_equal(dom, "lab.r1");
}

/* domain names: "<scenario>.<vm>", split back; the pairs that collided with '-' do not */
static void
test_domain_name(void **state)
{
	g_autofree char *a = proto_domain_name("x-y", "z"), *b = proto_domain_name("x", "y-z");
	char *s = NULL, *v = NULL;

	(void)state;
	assert_string_equal(a, "x-y.z");
	assert_string_equal(b, "x.y-z");
	assert_string_not_equal(a, b);
	assert_int_equal(proto_split_domain(a, &s, &v), 0);
	assert_string_equal(s, "x-y");
	assert_string_equal(v, "z");
	g_free(s);
	g_free(v);
	assert_int_equal(proto_split_domain(b, &s, &v), 0);
	assert_string_equal(s, "x");
	assert_string_equal(v, "y-z");
	g_free(s);
	g_free(v);
	s = v = NULL;
	/* anything proto_domain_name cannot give back */
	assert_int_equal(proto_split_domain("x-y-z", &s, &v), -1);
	assert_int_equal(proto_split_domain("a.b.c", &s, &v), -1);
	assert_int_equal(proto_split_domain(".b", &s, &v), -1);
	assert_int_equal(proto_split_domain("a.", &s, &v), -1);
	assert_int_equal(proto_split_domain("../x", &s, &v), -1);
	assert_int_equal(proto_split_domain(NULL, &s, &v), -1);
	assert_null(s);
	assert_null(v);
	assert_int_equal(proto_split_domain("lab.r1", NULL, NULL), 0);
}

static const char *
addr_of(const char *host, void *ud)
{
	(void)ud;
	return strcmp(host, "h1") == 0 ? "10.0.0.1" : strcmp(host, "h2") == 0 ? "10.0.0.2" : NULL;
}

/* from a real plan: every VM and net as the planner placed them, with its allocations */
static void
test_from_plan(void **state)
{
	static const char xml[] =
	    "<vnx><global><version>2.0</version><scenario_name>fp</scenario_name><automac/>"
	    "<vm_mgmt type='none'/></global>"
	    "<net name='A' mode='virtual_bridge'/><net name='B' mode='virtual_bridge'/>"
	    "<vm name='v1' type='libvirt'><if id='1' net='A'><ipv4>10.1.0.1/24</ipv4></if>"
	    "<if id='2' net='B'><ipv4>10.2.0.1/24</ipv4></if></vm>"
	    "<vm name='v2' type='libvirt'><if id='1' net='A'><ipv4>10.1.0.2/24</ipv4></if></vm>"
	    "<vm name='v3' type='libvirt'><if id='1' net='B'><ipv4>10.2.0.3/24</ipv4></if></vm>"
	    "</vnx>";
	plan_host hosts[2] = {
		{ .name = "h1", .cpus = 2, .mem_mib = 4096, .online = true },
		{ .name = "h2", .cpus = 2, .mem_mib = 4096, .online = true },
	};
	diag *d = diag_new();
	scenario *sc = scenario_parse_memory(xml, sizeof xml - 1, "fp.xml", d);
	alloc_ctx ac = { .vni_min = 10000, .vni_max = 20000 };
	plan *p;
	proto_deployment *dep, *back;
	json_t *j;

	(void)state;
	assert_non_null(sc);
	assert_true(scenario_validate(sc, d));
	p = plan_partition(sc, NULL, hosts, 2, PLAN_ROUND_ROBIN, d);
	assert_non_null(p);
	assert_int_equal(alloc_plan(p, sc, &ac, d), 0);
	dep = proto_deployment_from_plan(sc, p, xml, addr_of, NULL);
	assert_string_equal(dep->scenario, "fp");
	assert_string_equal(dep->spec, xml);
	assert_int_equal(dep->vms->len, 3);
	for (guint i = 0; i < sc->vms->len; i++) {
		const sc_vm *vm = g_ptr_array_index(sc->vms, i);
		const proto_vm_place *v = proto_deployment_vm(dep, vm->name);

		assert_non_null(v);
		assert_string_equal(v->host, p->hosts[p->vm_host[i]].name);
		assert_int_equal(v->macs->len, vm->ifs->len);
		for (guint k = 0; k < v->macs->len; k++)
			assert_non_null(g_ptr_array_index(v->macs, k));	/* automac */
	}
	for (guint jn = 0; jn < sc->nets->len; jn++) {
		const sc_net *net = g_ptr_array_index(sc->nets, jn);
		const proto_net_place *np = proto_deployment_net(dep, net->name);

		assert_non_null(np);
		assert_int_equal(np->vni, p->net_vni[jn]);
		assert_int_equal(np->hosts->len, p->net_hosts[jn]->len);
		assert_int_equal(np->vni != 0, np->hosts->len > 1);
		for (guint k = 0; k < np->hosts->len; k++)
			assert_string_equal(g_ptr_array_index(np->addrs, k),
			    addr_of(g_ptr_array_index(np->hosts, k), NULL));
	}
	/* and it survives the wire */
	j = proto_deployment_to_json(dep);
	back = proto_deployment_from_json(j, d);
	assert_non_null(back);
	assert_false(diag_has_errors(d));
	json_decref(j);
	proto_deployment_free(back);
	proto_deployment_free(dep);
	plan_free(p);
	scenario_free(sc);
	diag_free(d);
}

/* media: built, sent, read back byte for byte; absent media are an empty list */
static void
test_media_round_trip(void **state)
{
	g_autoptr(proto_deployment) a = sample();
	g_autoptr(proto_deployment) b = NULL;
	g_autoptr(diag) d = diag_new();
	proto_vm_place *r1 = (proto_vm_place *)proto_deployment_vm(a, "r1");
	proto_medium *vnx = proto_medium_new(PROTO_MEDIUM_VNX);
	proto_medium *ci = proto_medium_new(PROTO_MEDIUM_CIDATA);
	static const guchar bin[] = { 0, 1, 2, 0xff, '\n' };
	g_autoptr(GBytes) x = g_bytes_new_static("<create_conf/>\n", 15);
	g_autoptr(GBytes) y = g_bytes_new_static(bin, sizeof bin);
	g_autoptr(GBytes) z = g_bytes_new_static("", 0);
	const proto_medium *m;
	const proto_media_file *f;
	json_t *j;

	(void)state;
	assert_int_equal(r1->media->len, 0);		/* none in the sample */
	assert_null(proto_vm_place_medium(r1, PROTO_MEDIUM_VNX));
	proto_medium_add(vnx, "vnxboot.xml", 0644, x);
	proto_medium_add(vnx, "filetree/1/etc/a b.conf", 0600, y);
	proto_medium_add(ci, "meta-data", 0644, z);
	g_ptr_array_add(r1->media, vnx);
	g_ptr_array_add(r1->media, ci);
	assert_int_equal(proto_media_bytes(r1), 15 + sizeof bin);
	j = proto_deployment_to_json(a);
	/* a VM without media sends no "media" key: agents of before read it as they did */
	assert_null(json_object_get(json_array_get(json_object_get(j, "vms"), 1), "media"));
	b = proto_deployment_from_json(j, d);
	json_decref(j);
	assert_non_null(b);
	m = proto_vm_place_medium(proto_deployment_vm(b, "r1"), PROTO_MEDIUM_VNX);
	assert_non_null(m);
	assert_int_equal(m->files->len, 2);
	f = g_ptr_array_index(m->files, 1);
	assert_string_equal(f->path, "filetree/1/etc/a b.conf");
	assert_int_equal(f->mode, 0600);
	assert_true(g_bytes_equal(f->data, y));
	m = proto_vm_place_medium(proto_deployment_vm(b, "r1"), PROTO_MEDIUM_CIDATA);
	assert_non_null(m);
	assert_int_equal(g_bytes_get_size(((proto_media_file *)m->files->pdata[0])->data), 0);
	assert_int_equal(proto_deployment_vm(b, "r2")->media->len, 0);
	assert_true(proto_deployment_media_check(b, d));
}

static void
test_media_paths(void **state)
{
	static const char *good[] = { "vnxboot.xml", "filetree/1/etc/x", ".hidden/a..b", "a b" };
	static const struct { const char *path, *why; } bad[] = {
		{ "", "is empty" }, { "/etc/passwd", "is absolute" }, { "../x", "'..' component" },
		{ "filetree/../../x", "'..' component" }, { "a/..", "'..' component" },
		{ "a//b", "empty component" }, { "a/", "empty component" },
		{ "./a", "'.' component" }, { "a\nb", "control character" },
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(good); i++)
		assert_null(proto_media_path_check(good[i]));
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		const char *why = proto_media_path_check(bad[i].path);

		assert_non_null(why);
		assert_non_null(strstr(why, bad[i].why));
	}
	{
		g_autofree char *longp = g_strnfill(PROTO_MEDIA_PATH_MAX + 1, 'a');

		assert_non_null(proto_media_path_check(longp));
	}
}

/* malformed media are refused when the message is read, naming the VM */
static void
test_media_malformed(void **state)
{
	static const struct { const char *media, *needle; } cases[] = {
		{ "{}", "\"media\" must be an array" },
		{ "[3]", "must be an object with a string \"kind\"" },
		{ "[{\"kind\":\"floppy\",\"files\":[]}]", "unknown kind 'floppy'" },
		{ "[{\"kind\":\"vnx\",\"files\":[]},{\"kind\":\"vnx\",\"files\":[]}]",
		    "kind 'vnx' given twice" },
		{ "[{\"kind\":\"vnx\",\"files\":[{\"path\":\"../../etc/shadow\",\"mode\":420,"
		    "\"data\":\"\"}]}]", "path '../../etc/shadow' has a '..' component" },
		{ "[{\"kind\":\"vnx\",\"files\":[{\"path\":\"/etc/shadow\",\"mode\":420,"
		    "\"data\":\"\"}]}]", "path '/etc/shadow' is absolute" },
		{ "[{\"kind\":\"vnx\",\"files\":[{\"path\":\"x\",\"mode\":4096,"
		    "\"data\":\"\"}]}]", "\"mode\" must be in 0..07777" },
		{ "[{\"kind\":\"vnx\",\"files\":[{\"path\":\"x\",\"mode\":\"644\","
		    "\"data\":\"\"}]}]", "an integer \"mode\"" },
		{ "[{\"kind\":\"vnx\",\"files\":[{\"path\":\"x\",\"mode\":420,"
		    "\"data\":\"a!==\"}]}]", "\"data\" is not base64" },
		{ "[{\"kind\":\"vnx\",\"files\":[{\"path\":\"x\",\"mode\":420,"
		    "\"data\":\"YQ=\"}]}]", "\"data\" is not base64" },
		{ "[{\"kind\":\"vnx\",\"files\":[{\"path\":\"x\",\"mode\":420,"
		    "\"data\":\"=YQ=\"}]}]", "\"data\" is not base64" },
		{ "[{\"kind\":\"vnx\",\"files\":[{\"path\":\"x\",\"mode\":420,\"data\":\"\"},"
		    "{\"path\":\"x\",\"mode\":420,\"data\":\"\"}]}]", "path 'x' given twice" },
		{ "[{\"kind\":\"vnx\",\"files\":[{\"path\":\"a\",\"mode\":420,\"data\":\"\"},"
		    "{\"path\":\"a/b/c\",\"mode\":420,\"data\":\"\"}]}]", "'a' is a file and a folder" },
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *txt = g_strdup_printf("{\"scenario\":\"s\",\"spec\":\"x\","
		    "\"vms\":[{\"vm\":\"a1\",\"host\":\"h\",\"macs\":[],\"media\":%s}],"
		    "\"nets\":[]}", cases[i].media);
		json_t *j = json_loads(txt, 0, NULL);
		g_autoptr(diag) d = diag_new();
		proto_deployment *dep;

		assert_non_null(j);
		dep = proto_deployment_from_json(j, d);
		if (dep != NULL || !diag_contains(d, DIAG_ERROR, cases[i].needle) ||
		    !diag_contains(d, DIAG_ERROR, "vm 'a1'")) {
			print_error("case %zu: expected an error naming vm 'a1' and containing '%s'\n",
			    i, cases[i].needle);
			diag_print(d, stderr);
		}
		assert_null(dep);
		assert_true(diag_contains(d, DIAG_ERROR, cases[i].needle));
		assert_true(diag_contains(d, DIAG_ERROR, "vm 'a1'"));
		json_decref(j);
	}
}

/* the cap on a VM's media: checked when built and when read, naming the VM */
static void
test_media_cap(void **state)
{
	g_autoptr(proto_deployment) a = sample();
	g_autoptr(diag) d = diag_new();
	proto_vm_place *r2 = (proto_vm_place *)proto_deployment_vm(a, "r2");
	proto_medium *m = proto_medium_new(PROTO_MEDIUM_CIDATA);
	g_autoptr(GBytes) half = g_bytes_new_take(g_malloc0(PROTO_MEDIA_MAX_BYTES / 2),
	    PROTO_MEDIA_MAX_BYTES / 2);
	g_autoptr(GBytes) one = g_bytes_new_static("x", 1);
	json_t *j;

	(void)state;
	proto_medium_add(m, "user-data", 0644, half);
	proto_medium_add(m, "network-config", 0644, half);
	g_ptr_array_add(r2->media, m);
	assert_true(proto_deployment_media_check(a, d));	/* exactly the limit fits */
	proto_medium_add(m, "meta-data", 0644, one);
	assert_false(proto_deployment_media_check(a, d));
	assert_true(diag_contains(d, DIAG_ERROR, "vm 'r2': its configuration media hold 8.0 MiB"));
	assert_true(diag_contains(d, DIAG_ERROR, "limit of 8 MiB"));
	assert_false(diag_contains(d, DIAG_ERROR, "vm 'r1'"));
	j = proto_deployment_to_json(a);
	{
		g_autoptr(diag) d2 = diag_new();

		assert_null(proto_deployment_from_json(j, d2));
		assert_true(diag_contains(d2, DIAG_ERROR, "vm 'r2'"));
		assert_true(diag_contains(d2, DIAG_ERROR, "limit of 8 MiB"));
	}
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_image_names),
		cmocka_unit_test(test_stretch_vni),
		cmocka_unit_test(test_alias),
		cmocka_unit_test(test_domain_name),
		cmocka_unit_test(test_from_plan),
		cmocka_unit_test(test_media_round_trip),
		cmocka_unit_test(test_media_paths),
		cmocka_unit_test(test_media_malformed),
		cmocka_unit_test(test_media_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
