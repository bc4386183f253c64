/* unit tests of the CLI's media builder (src/cli/media.c): which VMs get media, what each
 * medium holds, fresh vnxboot ids, content-derived instance-ids, missing host files */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <glib/gstdio.h>
#include <jansson.h>

#include "cli/media.h"

static const char spec_fmt[] =
    "<vnx><global><version>2.0</version><scenario_name>md</scenario_name>"
    "<vm_mgmt type='none'/></global>"
    "<net name='A' mode='virtual_bridge'/>"
    "<vm name='img' type='libvirt'><filesystem type='cow'>/x/debian.qcow2</filesystem>"
    "<if id='1' net='A'><ipv4>10.1.0.1/24</ipv4></if>"
    "<filetree seq='on_boot' root='/etc/t/'>%s</filetree>"
    "<filetree seq='later' root='/srv/'>nowhere-needed</filetree>"
    "<exec seq='on_boot' type='verbatim'>touch /root/marker</exec></vm>"
    "<vm name='kern' type='libvirt'><filesystem type='cow'>/x/debian.qcow2</filesystem>"
    "<kernel>/x/vmlinuz</kernel><if id='1' net='A'><ipv4>10.1.0.2/24</ipv4></if></vm>"
    "<vm name='tiny' type='libvirt'><if id='1' net='A'><ipv4>10.1.0.3/24</ipv4></if></vm>"
    "</vnx>";

typedef struct {
	char *dir;		/* temporary folder with the scenario and its files */
	char *xml;		/* path of the scenario file in it */
} fixture;

static int
setup(void **state)
{
	fixture *f = g_new0(fixture, 1);

	f->dir = g_dir_make_tmp("nube-media-XXXXXX", NULL);
	assert_non_null(f->dir);
	f->xml = g_build_filename(f->dir, "md.xml", NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);

	assert_int_equal(system(cmd), 0);
	g_free(f->dir);
	g_free(f->xml);
	g_free(f);
	return 0;
}

static scenario *
load(fixture *f, const char *ftsrc, diag *d)
{
	g_autofree char *txt = g_strdup_printf(spec_fmt, ftsrc);
	scenario *s;

	assert_true(g_file_set_contents(f->xml, txt, -1, NULL));
	s = scenario_parse_file(f->xml, d);
	assert_non_null(s);
	assert_true(scenario_validate(s, d));
	return s;
}

static proto_deployment *
deployment(void)
{
	static const char txt[] =
	    "{\"scenario\":\"md\",\"spec\":\"x\",\"vms\":["
	    "{\"vm\":\"img\",\"host\":\"h1\",\"macs\":[\"02:fd:00:00:00:01\"]},"
	    "{\"vm\":\"kern\",\"host\":\"h2\",\"macs\":[\"02:fd:00:00:00:02\"]},"
	    "{\"vm\":\"tiny\",\"host\":\"h2\",\"macs\":[\"02:fd:00:00:00:03\"]}],\"nets\":[]}";
	json_t *j = json_loads(txt, 0, NULL);
	g_autoptr(diag) d = diag_new();
	proto_deployment *dep = proto_deployment_from_json(j, d);

	json_decref(j);
	assert_non_null(dep);
	return dep;
}

static const proto_media_file *
file_of(const proto_medium *m, const char *path)
{
	for (guint i = 0; m != NULL && i < m->files->len; i++) {
		const proto_media_file *f = g_ptr_array_index(m->files, i);

		if (strcmp(f->path, path) == 0)
			return f;
	}
	return NULL;
}

static char *
text_of(const proto_media_file *f)
{
	gsize n = 0;
	const char *p = g_bytes_get_data(f->data, &n);

	return g_strndup(p, n);
}

/* what the deploy sends: two media for the VM booting its image, none for the others */
static void
test_build(void **state)
{
	fixture *f = *state;
	g_autoptr(diag) d = diag_new();
	g_autofree char *ft = g_build_filename(f->dir, "conf", NULL);
	g_autofree char *ffile = g_build_filename(ft, "hello.txt", NULL);
	g_autoptr(scenario) s = NULL;
	g_autoptr(media_prep) mp = NULL;
	g_autoptr(proto_deployment) dep = deployment();
	const proto_vm_place *v;
	const proto_medium *vnx, *ci;
	const proto_media_file *mf;
	g_autofree char *boot = NULL, *meta = NULL, *net = NULL, *user = NULL;

	(void)state;
	assert_int_equal(g_mkdir(ft, 0755), 0);
	assert_true(g_file_set_contents(ffile, "hi there\n", -1, NULL));
	assert_int_equal(g_chmod(ffile, 0640), 0);
	s = load(f, "conf/", d);
	assert_true(media_wanted(scenario_vm(s, "img")));
	assert_false(media_wanted(scenario_vm(s, "kern")));
	assert_false(media_wanted(scenario_vm(s, "tiny")));
	mp = media_prepare(s, d);
	if (mp == NULL)
		diag_print(d, stderr);
	assert_non_null(mp);
	assert_int_equal(media_attach(mp, dep, d), 1);
	assert_int_equal(proto_deployment_vm(dep, "kern")->media->len, 0);
	assert_int_equal(proto_deployment_vm(dep, "tiny")->media->len, 0);
	v = proto_deployment_vm(dep, "img");
	vnx = proto_vm_place_medium(v, PROTO_MEDIUM_VNX);
	ci = proto_vm_place_medium(v, PROTO_MEDIUM_CIDATA);
	assert_non_null(vnx);
	assert_non_null(ci);
	/* vnx: vnxboot.xml with the planned MAC, the on_boot exec and filetree; the files */
	assert_int_equal(vnx->files->len, 2);
	boot = text_of(file_of(vnx, "vnxboot.xml"));
	assert_non_null(strstr(boot, "<id>img-"));
	assert_non_null(strstr(boot, "mac=\",02:fd:00:00:00:01\""));
	assert_non_null(strstr(boot, "touch /root/marker;"));
	assert_non_null(strstr(boot, "<exec seq=\"on_boot\" ostype=\"system\">"));
	assert_non_null(strstr(boot, "root=\"/etc/t/\">conf/</filetree>"));
	assert_null(strstr(boot, "nowhere-needed"));	/* only on_boot */
	mf = file_of(vnx, "filetree/1/hello.txt");
	assert_non_null(mf);
	assert_int_equal(mf->mode, 0640);
	assert_memory_equal(g_bytes_get_data(mf->data, NULL), "hi there\n", 9);
	/* cidata: the three documents */
	assert_int_equal(ci->files->len, 3);
	meta = text_of(file_of(ci, "meta-data"));
	net = text_of(file_of(ci, "network-config"));
	user = text_of(file_of(ci, "user-data"));
	assert_non_null(strstr(meta, "\"instance-id\": \"nube-img-"));
	assert_non_null(strstr(net, "02:fd:00:00:00:01"));
	assert_non_null(strstr(net, "10.1.0.1/24"));
	assert_true(g_str_has_prefix(user, "#cloud-config\n"));
	assert_non_null(strstr(user, "/etc/t/hello.txt"));
	/* and it all crosses the wire */
	{
		json_t *j = proto_deployment_to_json(dep);
		g_autoptr(proto_deployment) back = proto_deployment_from_json(j, d);

		json_decref(j);
		assert_non_null(back);
		assert_int_equal(proto_deployment_vm(back, "img")->media->len, 2);
	}
}

static char *
iid_of(const proto_deployment *dep)
{
	const proto_medium *ci = proto_vm_place_medium(proto_deployment_vm(dep, "img"),
	    PROTO_MEDIUM_CIDATA);
	g_autofree char *meta = text_of(file_of(ci, "meta-data"));
	json_t *j = json_loads(meta, 0, NULL);
	char *iid = g_strdup(json_string_value(json_object_get(j, "instance-id")));

	json_decref(j);
	return iid;
}

static char *
vnx_id_of(const proto_deployment *dep)
{
	const proto_medium *m = proto_vm_place_medium(proto_deployment_vm(dep, "img"),
	    PROTO_MEDIUM_VNX);
	g_autofree char *boot = text_of(file_of(m, "vnxboot.xml"));
	const char *a = strstr(boot, "<id>"), *b = strstr(boot, "</id>");

	assert_non_null(a);
	assert_non_null(b);
	return g_strndup(a + 4, (gsize)(b - a - 4));
}

/* every vnxboot gets a fresh id; the instance-id follows the seed's content */
static void
test_ids(void **state)
{
	fixture *f = *state;
	g_autoptr(diag) d = diag_new();
	g_autofree char *ffile = g_build_filename(f->dir, "one.txt", NULL);
	g_autoptr(scenario) s = NULL;
	g_autoptr(media_prep) mp = NULL, mp3 = NULL;
	g_autoptr(proto_deployment) a = deployment(), b = deployment(), c = deployment();
	g_autofree char *ia = NULL, *ib = NULL, *ic = NULL, *va = NULL, *vb = NULL;

	assert_true(g_file_set_contents(ffile, "one\n", -1, NULL));
	s = load(f, "one.txt", d);
	mp = media_prepare(s, d);
	assert_non_null(mp);
	assert_int_equal(media_attach(mp, a, d), 1);
	assert_int_equal(media_attach(mp, b, d), 1);
	va = vnx_id_of(a);
	vb = vnx_id_of(b);
	assert_true(g_str_has_prefix(va, "img-"));
	assert_string_not_equal(va, vb);
	ia = iid_of(a);
	ib = iid_of(b);
	assert_string_equal(ia, ib);		/* same seed, same instance */
	assert_true(g_file_set_contents(ffile, "two\n", -1, NULL));
	mp3 = media_prepare(s, d);
	assert_non_null(mp3);
	assert_int_equal(media_attach(mp3, c, d), 1);
	ic = iid_of(c);
	assert_string_not_equal(ia, ic);	/* a file changed: a new instance */
}

/* a missing filetree source or exec file: an error naming VM, path and where it was looked */
static void
test_missing(void **state)
{
	fixture *f = *state;
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = load(f, "conf/absent.txt", d);
	g_autofree char *where = g_build_filename(f->dir, "conf/absent.txt", NULL);
	g_autoptr(media_prep) mp = media_prepare(s, d);

	assert_null(mp);
	assert_true(diag_contains(d, DIAG_ERROR, "vm 'img'"));
	assert_true(diag_contains(d, DIAG_ERROR, "'conf/absent.txt'"));
	assert_true(diag_contains(d, DIAG_ERROR, where));
	/* "later" filetrees are not read at deploy: a missing one is no error here */
	assert_false(diag_contains(d, DIAG_ERROR, "nowhere-needed"));
}

/* the per-VM cap is enforced when the media are built, naming the VM */
static void
test_cap(void **state)
{
	fixture *f = *state;
	g_autoptr(diag) d = diag_new();
	g_autofree char *big = g_build_filename(f->dir, "big.bin", NULL);
	g_autofree char *data = g_malloc0(PROTO_MEDIA_MAX_BYTES / 2 + 1);
	g_autoptr(scenario) s = NULL;
	g_autoptr(media_prep) mp = NULL;
	g_autoptr(proto_deployment) dep = deployment();

	assert_true(g_file_set_contents(big, data, PROTO_MEDIA_MAX_BYTES / 2 + 1, NULL));
	s = load(f, "big.bin", d);
	mp = media_prepare(s, d);
	assert_non_null(mp);	/* within cloud-init's own cap, but twice it is over the VM's */
	assert_int_equal(media_attach(mp, dep, d), -1);
	assert_true(diag_contains(d, DIAG_ERROR, "vm 'img': its configuration media hold"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_build, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
