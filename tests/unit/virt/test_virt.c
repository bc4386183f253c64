/* unit tests of virt against libvirt's test:///default driver: golden domain XML, metadata round
 * trip through define/start/list, type and filesystem fallbacks, errors with context */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <jansson.h>

#include "virt/virt.h"
#include "virt/virt_int.h"

#ifndef VT_SRCDIR
#error VT_SRCDIR must name tests/unit/virt
#endif

#define KERNEL "/var/lib/nube/guest/vmlinuz"
#define INITRD "/var/lib/nube/guest/initrd.img"

static scenario *sc;
static proto_deployment *dep;
static char *tmpdir, *fs_path, *kernel_path, *initrd_path, *raw_path, *raw_link, *disk_dir,
    *image_dir;

#define assert_ok(call) do { \
		if ((call) != 0) \
			fail_msg("%s: %s", #call, e ? e->message : "(no error set)"); \
	} while (0)

static char *slurp(const char *path)
{
	char *t = NULL;
	GError *e = NULL;

	if (!g_file_get_contents(path, &t, NULL, &e))
		fail_msg("read %s: %s", path, e->message);
	return t;
}

static char *replace(const char *s, const char *what, const char *with)
{
	g_auto(GStrv) parts = g_strsplit(s, what, -1);
	return g_strjoinv(with, parts);
}

static int setup(void **state)
{
	(void)state;
	tmpdir = g_dir_make_tmp("test-virt-XXXXXX", NULL);
	if (!tmpdir)
		return -1;
	fs_path = g_build_filename(tmpdir, "root.qcow2", NULL);
	kernel_path = g_build_filename(tmpdir, "vmlinuz-own", NULL);
	initrd_path = g_build_filename(tmpdir, "initrd-own", NULL);
	raw_path = g_build_filename(tmpdir, "root.raw", NULL);
	raw_link = g_build_filename(tmpdir, "same-root.raw", NULL);	/* the same file */
	disk_dir = g_build_filename(tmpdir, "disks", NULL);
	image_dir = g_build_filename(tmpdir, "images", NULL);
	if (g_mkdir_with_parents(image_dir, 0700) < 0)
		return -1;
	/* a qcow2 header: magic, version 3, ..., virtual size 1 GiB (big endian) at offset 24 */
	static const char qcow[32] = { 'Q', 'F', 'I', '\xfb', 0, 0, 0, 3, [24] = 0, 0, 0, 0, 0x40,
	    0, 0, 0 };
	if (!g_file_set_contents(fs_path, qcow, sizeof qcow, NULL) ||
	    !g_file_set_contents(raw_path, "raw disk", 8, NULL) || symlink(raw_path, raw_link) < 0 ||
	    !g_file_set_contents(kernel_path, "k", 1, NULL) ||
	    !g_file_set_contents(initrd_path, "i", 1, NULL))
		return -1;

	g_autofree char *spec_path = g_build_filename(VT_SRCDIR, "vt.xml", NULL);
	g_autofree char *raw = slurp(spec_path);
	g_autofree char *a = replace(raw, "@FS@", fs_path);
	g_autofree char *b = replace(a, "@KERNEL@", kernel_path);
	g_autofree char *c = replace(b, "@INITRD@", initrd_path);
	g_autofree char *c2 = replace(c, "@RAWLINK@", raw_link);
	g_autofree char *spec = replace(c2, "@RAW@", raw_path);
	g_autoptr(diag) d = diag_new();
	sc = scenario_parse_memory(spec, strlen(spec), "vt.xml", d);
	if (!sc || diag_has_errors(d) || !scenario_validate(sc, d)) {
		diag_print(d, stderr);
		return -1;
	}
	json_t *j = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:[s,s], s:s}, {s:s, s:s, s:[s], s:n}, "
	    "{s:s, s:s, s:[], s:n}], s:[]}",
	    "scenario", "vt", "spec", spec, "algorithm", "round-robin", "vms",
	    "vm", "h1", "host", "hostA", "macs", "02:fd:00:00:01:01", "02:fd:00:00:01:02",
	    "mgmt_addr", "10.250.0.2/24",
	    "vm", "c1", "host", "hostA", "macs", "02:fd:00:00:02:01", "mgmt_addr",
	    "vm", "k1", "host", "hostA", "macs", "mgmt_addr", "nets");
	json_array_append_new(json_object_get(j, "vms"), json_pack("{s:s, s:s, s:[], s:n}", "vm",
	    "d1", "host", "hostA", "macs", "mgmt_addr"));
	json_array_append_new(json_object_get(j, "vms"), json_pack("{s:s, s:s, s:[], s:n}", "vm",
	    "x1", "host", "hostA", "macs", "mgmt_addr"));
	json_array_append_new(json_object_get(j, "vms"), json_pack("{s:s, s:s, s:[], s:n}", "vm",
	    "x2", "host", "hostA", "macs", "mgmt_addr"));
	if (!j)
		return -1;
	dep = proto_deployment_from_json(j, d);
	json_decref(j);
	if (!dep) {
		diag_print(d, stderr);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	scenario_free(sc);
	proto_deployment_free(dep);
	unlink(fs_path);
	unlink(kernel_path);
	unlink(initrd_path);
	unlink(raw_path);
	unlink(raw_link);
	g_free(raw_link);
	rmdir(disk_dir);
	rmdir(image_dir);
	g_free(image_dir);
	rmdir(tmpdir);
	g_free(raw_path);
	g_free(disk_dir);
	g_free(fs_path);
	g_free(kernel_path);
	g_free(initrd_path);
	g_free(tmpdir);
	return 0;
}

static virt *open_test(bool fallback, const char *type)
{
	GError *e = NULL;
	virt_opts o = {
		.uri = "test:///default",
		.guest_kernel = KERNEL,
		.guest_initrd = INITRD,
		.type_fallback = fallback,
		.domain_type = (char *)type,
		.disk_dir = disk_dir,
		.image_dir = image_dir,
		.missing_image_fallback = fallback,
		.container_fallback = fallback,	/* no lxc_uri: containers cannot run here */
	};
	virt *v = virt_open(&o, &e);
	if (!v)
		fail_msg("virt_open: %s", e->message);
	return v;
}

static bool has_warning(GPtrArray *w, const char *needle)
{
	for (guint i = 0; i < w->len; i++)
		if (strstr(g_ptr_array_index(w, i), needle))
			return true;
	return false;
}

static void test_golden(void **state)
{
	(void)state;
	GError *e = NULL;
	virt *v = open_test(true, NULL);
	g_autoptr(GPtrArray) w = g_ptr_array_new_with_free_func(g_free);

	assert_string_equal(virt_domain_type(v), "qemu");
	g_autofree char *xml = virt_render_domain(v, sc, dep, "h1", 1450, w, &e);
	assert_non_null(xml);
	assert_int_equal(w->len, 0);
	g_autofree char *path = g_build_filename(VT_SRCDIR, "expected", "vt.h1.xml", NULL);
	g_autofree char *want = slurp(path);
	if (strcmp(xml, want) != 0) {
		fprintf(stderr, "rendered:\n%s\nexpected (%s):\n%s\n", xml, path, want);
		fail_msg("rendered domain XML differs from %s", path);
	}
	virt_close(v);
}

/* a container's configuration, written into its root before it starts (type="direct": the
 * rootfs directory itself, no overlay): hostname, ifupdown stanzas, boot.sh with forwarding,
 * routes and the on_boot commands (cmd-seq expanded), not the other seqs */
static void test_lxc_config(void **state)
{
	(void)state;
	GError *e = NULL;
	g_autofree char *root = g_build_filename(tmpdir, "rootfs", NULL);
	g_autofree char *xml = g_strdup_printf("<vnx><global><version>2.0</version>"
	    "<scenario_name>ct</scenario_name><automac/><vm_mgmt type='none'/>"
	    "<cmd-seq seq='on_boot'>b1,b2</cmd-seq></global>"
	    "<net name='N0' mode='virtual_bridge'/><net name='N1' mode='virtual_bridge'/>"
	    "<vm name='r1' type='lxc'><filesystem type='direct'>%s</filesystem>"
	    "<if id='1' net='N0'><ipv4>10.0.0.1/24</ipv4><ipv6>2001:db8::1/64</ipv6></if>"
	    "<if id='2' net='N1'><ipv4>10.0.1.1/24</ipv4></if>"
	    "<route type='ipv4' gw='10.0.1.2'>10.0.2.0/24</route>"
	    "<route type='ipv6' gw='2001:db8::2'>default</route>"
	    "<forwarding type='ip'/>"
	    "<exec seq='b1' type='verbatim'>echo one > /root/one</exec>"
	    "<exec seq='b2' type='verbatim' ostype='system'>echo two</exec>"
	    "<exec seq='other' type='verbatim'>echo never</exec>"
	    "</vm></vnx>", root);
	g_autoptr(diag) d = diag_new();
	scenario *s = scenario_parse_memory(xml, strlen(xml), "ct.xml", d);
	assert_non_null(s);
	assert_true(scenario_validate(s, d));
	assert_int_equal(g_mkdir_with_parents(root, 0755), 0);
	virt *v = open_test(false, NULL);

	assert_ok(virt_lxc_prepare(v, s, NULL, scenario_vm(s, "r1"), 0, &e));
	g_autofree char *p1 = g_build_filename(root, "etc/hostname", NULL);
	g_autofree char *p2 = g_build_filename(root, "etc/network/interfaces.d/nube", NULL);
	g_autofree char *p3 = g_build_filename(root, "etc/nube/boot.sh", NULL);
	g_autofree char *host = slurp(p1), *ifs = slurp(p2), *boot = slurp(p3);
	assert_string_equal(host, "r1\n");
	assert_non_null(strstr(ifs, "auto eth1\niface eth1 inet static\n    address 10.0.0.1/24\n"));
	assert_non_null(strstr(ifs, "iface eth1 inet6 static\n    address 2001:db8::1/64\n"
	    "    dad-attempts 0\n"));
	assert_non_null(strstr(ifs, "auto eth2\niface eth2 inet static\n    address 10.0.1.1/24\n"));
	assert_non_null(strstr(boot, "echo 1 > /proc/sys/net/ipv4/ip_forward\n"));
	assert_non_null(strstr(boot, "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding\n"));
	assert_non_null(strstr(boot, "ip route replace '10.0.2.0/24' via '10.0.1.2'"));
	assert_non_null(strstr(boot, "ip -6 route replace 'default' via '2001:db8::2'"));
	const char *one = strstr(boot, "/bin/sh -c 'echo one > /root/one'\n");
	const char *two = strstr(boot, "/bin/sh -c 'echo two'\n");
	assert_non_null(one);
	assert_non_null(two);
	assert_true(one < two);		/* the cmd-seq's order */
	assert_null(strstr(boot, "never"));
	struct stat st;
	assert_int_equal(stat(p3, &st), 0);
	assert_true((st.st_mode & 0111) != 0);
	virt_close(v);
	scenario_free(s);
}

static void test_lxc_fallback(void **state)
{
	(void)state;
	GError *e = NULL;
	virt *v = open_test(true, NULL);
	g_autoptr(GPtrArray) w = g_ptr_array_new_with_free_func(g_free);

	g_autofree char *xml = virt_render_domain(v, sc, dep, "c1", 0, w, &e);
	assert_non_null(xml);
	assert_true(has_warning(w, "vm 'c1': type 'lxc' not available on this host, running it as qemu"));
	/* the VNX filesystem does not exist here: with the fallback on, the test guest boots */
	assert_true(has_warning(w, "vm 'c1': filesystem '/usr/share/vnx/filesystems/rootfs_lxc_does_not_exist' "
	    "not found on this host, booting the test guest instead ([guest] missing_image = "
	    "test-guest)"));
	assert_non_null(strstr(xml, "<domain type=\"qemu\">"));
	assert_non_null(strstr(xml, "<kernel>" KERNEL "</kernel>"));
	assert_non_null(strstr(xml, "<initrd>" INITRD "</initrd>"));
	assert_null(strstr(xml, "<disk"));
	assert_null(strstr(xml, "<mtu"));	/* mtu 0: none */
	virt_close(v);

	/* without fallbacks the VM is refused: its type, then (checked before anything is
	 * made) its image, named with the VM */
	v = open_test(false, NULL);
	char *x2 = virt_render_domain(v, sc, dep, "c1", 0, NULL, &e);
	assert_null(x2);
	assert_non_null(e);
	assert_non_null(strstr(e->message, "type 'lxc' not available"));
	g_clear_error(&e);
	/* a container that cannot be one here is refused before anything is made, saying why */
	assert_int_equal(virt_vm_disks_check(v, sc, dep, "c1", &e), -1);
	assert_non_null(e);
	assert_string_equal(e->message, "vm 'c1': type 'lxc' not available on this host: no LXC "
	    "connection configured ([nubed] lxc_uri) (no QEMU substitute: [guest] "
	    "container_fallback is off)");
	g_clear_error(&e);
	assert_ok(virt_vm_disks_check(v, sc, dep, "h1", &e));	/* no image named: nothing to miss */
	virt_close(v);
}

static void test_existing_files(void **state)
{
	(void)state;
	GError *e = NULL;
	virt *v = open_test(true, NULL);
	g_autoptr(GPtrArray) w = g_ptr_array_new_with_free_func(g_free);

	g_autofree char *xml = virt_render_domain(v, sc, dep, "k1", 1500, w, &e);
	assert_non_null(xml);
	g_autofree char *k = g_strdup_printf("<kernel>%s</kernel>", kernel_path);
	g_autofree char *i = g_strdup_printf("<initrd>%s</initrd>", initrd_path);
	assert_non_null(strstr(xml, k));
	assert_non_null(strstr(xml, i));
	/* its own kernel boots, its filesystem (cow) is vda through its overlay in the pool */
	g_autofree char *f = g_strdup_printf("<source file=\"%s/vt.k1.qcow2\"/>", disk_dir);
	assert_non_null(strstr(xml, f));
	assert_non_null(strstr(xml, "<driver name=\"qemu\" type=\"qcow2\"/>"));
	assert_null(strstr(xml, "<readonly/>"));
	assert_non_null(strstr(xml, "<cmdline>console=ttyS0 root=/dev/vda rw</cmdline>"));
	assert_non_null(strstr(xml, "<vcpu>2</vcpu>"));
	assert_non_null(strstr(xml, "<memory unit=\"MiB\">256</memory>"));	/* VNX's default */
	assert_int_equal(w->len, 0);
	virt_close(v);
}

/* a VM naming only an image boots it through the firmware: cow through an overlay volume of
 * the pool (made by prepare, deleted with the domain), direct as the image itself, its format
 * read from its content; a second user of a direct image is refused */
static void test_disks(void **state)
{
	(void)state;
	GError *e = NULL;
	virt *v = open_test(false, NULL);
	g_autoptr(GPtrArray) w = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) vols = NULL;

	assert_ok(virt_pool_ensure(v, &e));
	assert_ok(virt_pool_ensure(v, &e));	/* idempotent */
	g_autofree char *xml = virt_render_domain(v, sc, dep, "d1", 0, w, &e);
	assert_non_null(xml);
	assert_int_equal(w->len, 0);
	assert_non_null(strstr(xml, "<boot dev=\"hd\"/>"));
	assert_null(strstr(xml, "<kernel>"));
	assert_non_null(strstr(xml, "<acpi/>"));
	g_autofree char *f = g_strdup_printf("<source file=\"%s/vt.d1.qcow2\"/>", disk_dir);
	assert_non_null(strstr(xml, f));
	assert_non_null(strstr(xml, "<target dev=\"vda\" bus=\"virtio\"/>"));
	assert_ok(virt_vm_disks_check(v, sc, dep, "d1", &e));
	assert_ok(virt_vm_disks_prepare(v, sc, dep, "d1", &e));
	vols = virt_volumes_list(v, &e);
	assert_non_null(vols);
	assert_int_equal(vols->len, 1);
	assert_string_equal(vols->pdata[0], "vt.d1.qcow2");
	g_ptr_array_unref(g_steal_pointer(&vols));
	assert_ok(virt_define_start(v, xml, &e));
	assert_ok(virt_vm_disks_prepare(v, sc, dep, "d1", &e));	/* redeploy: kept */
	assert_ok(virt_destroy_undefine(v, "vt.d1", &e));
	vols = virt_volumes_list(v, &e);
	assert_non_null(vols);
	assert_int_equal(vols->len, 0);			/* gone with its domain */
	g_ptr_array_unref(g_steal_pointer(&vols));

	/* direct: the image itself, raw by content; one user only */
	g_autofree char *x1 = virt_render_domain(v, sc, dep, "x1", 0, w, &e);
	assert_non_null(x1);
	g_autofree char *rf = g_strdup_printf("<source file=\"%s\"/>", raw_path);
	assert_non_null(strstr(x1, rf));
	assert_non_null(strstr(x1, "<driver name=\"qemu\" type=\"raw\"/>"));
	assert_ok(virt_vm_disks_check(v, sc, dep, "x1", &e));
	assert_ok(virt_vm_disks_prepare(v, sc, dep, "x1", &e));	/* nothing to make */
	assert_ok(virt_define_start(v, x1, &e));
	assert_ok(virt_vm_disks_check(v, sc, dep, "x1", &e));	/* itself: a redeploy */
	assert_int_equal(virt_vm_disks_check(v, sc, dep, "x2", &e), -1);
	assert_non_null(e);
	g_autofree char *want = g_strdup_printf("vm 'x2': filesystem '%s' (type \"direct\") is "
	    "already a disk of 'vt.x1' on this host", raw_link);
	if (strstr(e->message, want) == NULL)
		fail_msg("got '%s', want '%s'", e->message, want);
	g_clear_error(&e);
	assert_ok(virt_destroy_undefine(v, "vt.x1", &e));
	assert_ok(virt_vm_disks_check(v, sc, dep, "x2", &e));	/* free again */

	/* a pool of that name on another directory is not taken over */
	virt_opts o = { .uri = "test:///default", .disk_dir = "/elsewhere" };
	virt *v2 = virt_open(&o, &e);
	assert_non_null(v2);
	assert_int_equal(virt_pool_ensure(v2, &e), -1);
	assert_non_null(strstr(e->message, "storage pool 'nube' on test:///default has directory"));
	g_clear_error(&e);
	virt_close(v2);
	virt_close(v);
}

/* give vm both (empty) media in dep, or take them away */
static void set_media(const char *vm, bool on)
{
	proto_vm_place *p = (proto_vm_place *)proto_deployment_vm(dep, vm);

	g_ptr_array_set_size(p->media, 0);
	if (on) {
		g_ptr_array_add(p->media, proto_medium_new(PROTO_MEDIUM_VNX));
		g_ptr_array_add(p->media, proto_medium_new(PROTO_MEDIUM_CIDATA));
	}
}

/* a VM booting its image with configuration media gets them as vdb (vnx, a read-only raw
 * virtio disk) and hdc (cidata, a read-only IDE CD-ROM), files of the pool like its overlay
 * (so a migration takes them along); without media, or booting the test guest (no image,
 * or a missing one and the fallback) or its own kernel, it gets neither */
static void test_media_disks(void **state)
{
	(void)state;
	GError *e = NULL;
	virt *v = open_test(true, NULL);

	g_autofree char *plain = virt_render_domain(v, sc, dep, "d1", 0, NULL, &e);
	assert_non_null(plain);
	assert_null(strstr(plain, "vdb"));
	assert_null(strstr(plain, "hdc"));
	assert_false(virt_media_used(v, sc, dep, "d1"));
	set_media("d1", true);
	assert_true(virt_media_used(v, sc, dep, "d1"));
	g_autofree char *xml = virt_render_domain(v, sc, dep, "d1", 0, NULL, &e);
	set_media("d1", false);
	assert_non_null(xml);
	g_autofree char *vnx = g_strdup_printf(
	    "<disk type=\"file\" device=\"disk\">\n"
	    "      <driver name=\"qemu\" type=\"raw\"/>\n"
	    "      <source file=\"%s/vt.d1.vnx.iso\"/>\n"
	    "      <target dev=\"vdb\" bus=\"virtio\"/>\n"
	    "      <readonly/>\n", disk_dir);
	g_autofree char *ci = g_strdup_printf(
	    "<disk type=\"file\" device=\"cdrom\">\n"
	    "      <driver name=\"qemu\" type=\"raw\"/>\n"
	    "      <source file=\"%s/vt.d1.cidata.iso\"/>\n"
	    "      <target dev=\"hdc\" bus=\"ide\"/>\n"
	    "      <readonly/>\n", disk_dir);
	if (!strstr(xml, vnx) || !strstr(xml, ci))
		fail_msg("media disks missing in:\n%s", xml);
	/* the metadata says how the VM is configured, for nube status */
	if (!strstr(xml, "config=\"vnx+cloud-init\"") || !strstr(plain, "config=\"qemu-ga\""))
		fail_msg("config method missing in metadata:\n%s", xml);
	/* no image (h1), a missing one with the fallback (c1), its own kernel (k1): no media */
	static const char *const others[] = { "h1", "c1", "k1" };
	for (size_t i = 0; i < G_N_ELEMENTS(others); i++) {
		set_media(others[i], true);
		assert_false(virt_media_used(v, sc, dep, others[i]));
		g_autofree char *x = virt_render_domain(v, sc, dep, others[i], 0, NULL, &e);
		set_media(others[i], false);
		assert_non_null(x);
		if (strstr(x, ".vnx.iso") || strstr(x, ".cidata.iso"))
			fail_msg("%s got media:\n%s", others[i], x);
	}
	g_autofree char *vol = virt_media_volume("s.v", PROTO_MEDIUM_CIDATA);
	assert_string_equal(vol, "s.v.cidata.iso");
	virt_close(v);
}

/* an upload to the image cache is named by its sum only when its content has that sum; the
 * deployment's image (by sum) is what a VM then boots, whatever path the scenario wrote */
static void test_image_cache(void **state)
{
	(void)state;
	GError *e = NULL;
	virt *v = open_test(false, NULL);
	g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, "QFI\xfb image", -1);
	g_autofree char *part = g_strdup_printf("%s/%s.part", image_dir, sum);
	g_autofree char *final = g_strdup_printf("%s/%s.qcow2", image_dir, sum);

	assert_false(virt_image_present(v, sum, "qcow2"));
	assert_true(g_file_set_contents(part, "QFI\xfb IMAGE", -1, NULL));	/* not that content */
	assert_int_equal(virt_image_commit(v, sum, "qcow2", &e), -1);
	assert_non_null(e);
	assert_non_null(strstr(e->message, "the upload's sha256 is"));
	g_clear_error(&e);
	assert_false(g_file_test(part, G_FILE_TEST_EXISTS));	/* dropped */
	assert_false(virt_image_present(v, sum, "qcow2"));
	assert_int_equal(virt_image_commit(v, sum, "qcow2", &e), -1);	/* nothing uploaded */
	g_clear_error(&e);

	assert_true(g_file_set_contents(part, "QFI\xfb image", -1, NULL));
	assert_ok(virt_image_commit(v, sum, "qcow2", &e));
	assert_true(virt_image_present(v, sum, "qcow2"));
	assert_false(virt_image_present(v, sum, "raw"));
	assert_false(g_file_test(part, G_FILE_TEST_EXISTS));

	/* d1 of the deployment is that image: its overlay sits on the cached copy */
	proto_vm_place *pl = (proto_vm_place *)proto_deployment_vm(dep, "d1");
	pl->image_sha256 = g_strdup(sum);
	pl->image_format = g_strdup("qcow2");
	pl->image_size = 10;
	assert_ok(virt_vm_disks_check(v, sc, dep, "d1", &e));
	g_autofree char *xml = virt_render_domain(v, sc, dep, "d1", 0, NULL, &e);
	assert_non_null(xml);
	unlink(final);
	/* gone from the cache: an error naming the VM, the path written and the cache */
	assert_int_equal(virt_vm_disks_check(v, sc, dep, "d1", &e), -1);
	assert_non_null(strstr(e->message, "vm 'd1': image '"));
	assert_non_null(strstr(e->message, "is not in this host's image cache"));
	g_clear_error(&e);
	g_clear_pointer(&pl->image_sha256, g_free);
	g_clear_pointer(&pl->image_format, g_free);
	virt_close(v);
}

/* run a shell command line (tar) for the rootfs test; fails the test when it fails */
static void sh(const char *cmd)
{
	gint st = 0;
	GError *e = NULL;
	g_autofree char *err = NULL;
	char *argv[] = { "/bin/sh", "-c", (char *)cmd, NULL };

	if (!g_spawn_sync(NULL, argv, NULL, 0, NULL, NULL, NULL, &err, &st, &e) ||
	    !g_spawn_check_wait_status(st, &e))
		fail_msg("%s: %s %s", cmd, e->message, err ? err : "");
}

static char *tree_sum(const char *dir)
{
	GError *e = NULL;
	char *s = virt_tree_sum(dir, NULL, &e);

	if (!s)
		fail_msg("virt_tree_sum %s: %s", dir, e->message);
	return s;
}

/* a rootfs folder's content id: the same for a copy (times aside), another for any change
 * of content, mode, link target, name or xattr; the stamp moves with a touch; a host's
 * cache takes an upload only when what it unpacked sums to what was claimed */
static void test_rootfs_cache(void **state)
{
	(void)state;
	GError *e = NULL;
	g_autofree char *tree = g_build_filename(tmpdir, "tree", NULL);
	g_autofree char *copy = g_build_filename(tmpdir, "tree-copy", NULL);
	g_autofree char *cdir = g_build_filename(tmpdir, "containers", NULL);
	g_autofree char *cmd = g_strdup_printf("set -e; mkdir -p %s/etc %s/e; printf x > %s/etc/a; "
	    "chmod 640 %s/etc/a; printf hello > %s/b; ln -s etc/a %s/lnk", tree, tree, tree, tree,
	    tree, tree);

	sh(cmd);
	g_autofree char *s1 = tree_sum(tree);
	g_autofree char *s1b = tree_sum(tree);
	assert_string_equal(s1, s1b);
	uint64_t bytes = 0;
	g_autofree char *st1 = virt_tree_stamp(tree, &bytes, &e);
	assert_non_null(st1);
	assert_int_equal(bytes, 6);	/* "x" and "hello" */

	/* a copy through tar, its times changed: same id, another stamp */
	g_free(cmd);
	cmd = g_strdup_printf("set -e; mkdir %s; tar -C %s -cf - . | tar -C %s -xpf -; touch -d "
	    "2001-01-01 %s/b %s/etc", copy, tree, copy, copy, copy);
	sh(cmd);
	g_autofree char *s2 = tree_sum(copy);
	assert_string_equal(s1, s2);
	g_autofree char *st2 = virt_tree_stamp(copy, NULL, &e);
	assert_string_not_equal(st1, st2);
	g_autofree char *link = g_build_filename(tmpdir, "tree-link", NULL);	/* through a link */
	assert_int_equal(symlink(tree, link), 0);
	g_autofree char *s3 = tree_sum(link);
	assert_string_equal(s1, s3);
	unlink(link);

	/* any change of what is in it: another id */
	static const char *const changes[][2] = {
		{ "chmod 644 %s/etc/a", "chmod 640 %s/etc/a" },
		{ "printf y > %s/b", "printf hello > %s/b" },
		{ "ln -sfn b %s/lnk", "ln -sfn etc/a %s/lnk" },
		{ "mv %s/b %s/c", "mv %s/c %s/b" },
		{ "mkdir %s/e/f", "rmdir %s/e/f" },
	};
	for (guint i = 0; i < G_N_ELEMENTS(changes); i++) {
		g_autofree char *c = g_strdup_printf(changes[i][0], copy, copy);
		g_autofree char *u = g_strdup_printf(changes[i][1], copy, copy);
		sh(c);
		g_autofree char *sc2 = tree_sum(copy);
		if (strcmp(sc2, s1) == 0)
			fail_msg("'%s' did not change the id", c);
		sh(u);
		g_autofree char *back = tree_sum(copy);
		assert_string_equal(back, s1);
	}
	g_autofree char *xf = g_build_filename(copy, "b", NULL);
	if (lsetxattr(xf, "user.nube-test", "1", 1, 0) == 0) {
		g_autofree char *sx = tree_sum(copy);
		if (strcmp(sx, s1) == 0)
			fail_msg("an xattr did not change the id");
		assert_int_equal(lremovexattr(xf, "user.nube-test"), 0);
	} else
		print_message("(user xattrs not supported in %s: that change not checked)\n", tmpdir);

	/* a host's cache */
	virt_opts o = { .uri = "test:///default", .guest_kernel = KERNEL, .guest_initrd = INITRD,
	    .disk_dir = disk_dir, .image_dir = image_dir, .container_dir = cdir };
	virt *v = virt_open(&o, &e);
	assert_non_null(v);
	g_autofree char *pv = virt_rootfs_part(s1);
	g_autofree char *part = g_build_filename(image_dir, pv, NULL);
	g_autofree char *final = virt_rootfs_path(v, s1);
	assert_false(virt_rootfs_present(v, s1));
	/* an upload that is not that content: refused, nothing of it kept */
	g_free(cmd);
	cmd = g_strdup_printf("printf z > %s/b && tar -C %s -cf %s . && printf hello > %s/b", copy,
	    copy, part, copy);
	sh(cmd);
	assert_int_equal(virt_rootfs_commit(v, s1, &e), -1);
	assert_non_null(e);
	assert_non_null(strstr(e->message, "the folder received sums to"));
	g_clear_error(&e);
	assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
	assert_false(virt_rootfs_present(v, s1));
	g_autofree char *tmpd = g_strconcat(final, ".part", NULL);
	assert_false(g_file_test(tmpd, G_FILE_TEST_EXISTS));
	/* garbage: refused */
	assert_true(g_file_set_contents(part, "not a tar", -1, NULL));
	assert_int_equal(virt_rootfs_commit(v, s1, &e), -1);
	g_clear_error(&e);
	assert_false(virt_rootfs_present(v, s1));
	/* the real thing */
	g_free(cmd);
	cmd = g_strdup_printf("tar -C %s --numeric-owner -cf %s .", tree, part);
	sh(cmd);
	assert_ok(virt_rootfs_commit(v, s1, &e));
	assert_true(virt_rootfs_present(v, s1));
	assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
	g_autofree char *s4 = tree_sum(final);
	assert_string_equal(s4, s1);
	/* eviction over the cache's limit: never one in use, else the least recently used */
	g_free(cmd);
	cmd = g_strdup_printf("truncate -s 2M %s/big", final);	/* 2 MiB of files > 1 MiB */
	sh(cmd);
	g_autofree char *name = g_strconcat(s1, ".rootfs", NULL);
	g_autoptr(GPtrArray) in_use = g_ptr_array_new();
	g_autoptr(GPtrArray) evicted = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(in_use, name);
	assert_ok(virt_image_evict(v, 1, in_use, evicted, &e));
	assert_int_equal(evicted->len, 0);
	assert_true(virt_rootfs_present(v, s1));
	assert_ok(virt_image_evict(v, 1, NULL, evicted, &e));
	assert_int_equal(evicted->len, 1);
	assert_string_equal(g_ptr_array_index(evicted, 0), name);
	assert_false(virt_rootfs_present(v, s1));
	virt_close(v);
	g_free(cmd);
	cmd = g_strdup_printf("rm -rf %s %s %s", tree, copy, cdir);
	sh(cmd);
}

/* over the cache's limit, the least recently used images no domain uses go first; an image
 * in use and an upload under way stay, and nothing goes while the cache fits */
static void test_image_evict(void **state)
{
	(void)state;
	GError *e = NULL;
	virt *v = open_test(false, NULL);
	g_autoptr(GPtrArray) in_use = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *blob = g_malloc0(1 << 20);
	char name[4][80];

	for (int i = 0; i < 4; i++) {
		g_autofree char *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
		    (const guchar *)&i, sizeof i);
		g_autofree char *path = NULL;
		struct timespec t[2] = { { .tv_sec = 1000000 + i * 10 }, { .tv_sec = 1000000 + i * 10 } };

		g_snprintf(name[i], sizeof name[i], "%s.%s", sum, i == 3 ? "part" : "qcow2");
		path = g_build_filename(image_dir, name[i], NULL);
		assert_true(g_file_set_contents(path, blob, 1 << 20, NULL));	/* 1 MiB each */
		assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);	/* 0 oldest, 2 newest */
	}
	g_ptr_array_add(in_use, g_strdup(name[0]));
	assert_ok(virt_image_evict(v, 0, in_use, gone, &e));		/* no limit */
	assert_ok(virt_image_evict(v, 3, in_use, gone, &e));		/* 3 MiB: fits */
	assert_int_equal(gone->len, 0);
	assert_ok(virt_image_evict(v, 1, in_use, gone, &e));
	/* 0 is in use, 1 is the oldest unused, then 2: both go; the upload (3) is not counted */
	assert_int_equal(gone->len, 2);
	assert_string_equal(gone->pdata[0], name[1]);
	assert_string_equal(gone->pdata[1], name[2]);
	for (int i = 0; i < 4; i++) {
		g_autofree char *path = g_build_filename(image_dir, name[i], NULL);

		assert_int_equal(g_file_test(path, G_FILE_TEST_EXISTS), i == 0 || i == 3);
		unlink(path);
	}
	virt_close(v);
}

static void test_define_list_roundtrip(void **state)
{
	(void)state;
	GError *e = NULL;
	virt *v = open_test(true, NULL);

	g_autofree char *xml = virt_render_domain(v, sc, dep, "h1", 1450, NULL, &e);
	assert_non_null(xml);
	assert_ok(virt_define_start(v, xml, &e));
	assert_ok(virt_define_start(v, xml, &e));	/* running already: left alone */
	GPtrArray *l = virt_list(v, &e);
	assert_non_null(l);
	/* the test driver's own "test" domain carries no nube metadata: only ours is listed */
	assert_int_equal(l->len, 1);
	virt_dom_info *i = g_ptr_array_index(l, 0);
	assert_string_equal(i->domain, "vt.h1");
	assert_string_equal(i->scenario, "vt");
	assert_string_equal(i->vm, "h1");
	assert_string_equal(i->state, "running");
	assert_true(i->active);
	assert_int_equal(i->mem_mib, 96);
	assert_int_equal(i->vcpus, 1);
	assert_int_equal(i->nets->len, 2);
	assert_string_equal(g_ptr_array_index(i->nets, 0), "Net0");
	assert_string_equal(g_ptr_array_index(i->nets, 1), "Net1");
	assert_int_equal(i->addrs->len, 3);
	assert_string_equal(g_ptr_array_index(i->addrs, 0), "1 Net0 10.1.0.2/24");
	assert_string_equal(g_ptr_array_index(i->addrs, 1), "1 Net0 2001:db8::2/64");
	assert_string_equal(g_ptr_array_index(i->addrs, 2), "2 Net1 10.1.1.2/24");
	/* the same, structured (names are never split on spaces), and the promised memory */
	assert_int_equal(i->ifaces->len, 3);
	const virt_dom_if *f = g_ptr_array_index(i->ifaces, 2);
	assert_int_equal(f->id, 2);
	assert_string_equal(f->net, "Net1");
	assert_string_equal(f->addr, "10.1.1.2/24");
	assert_int_equal(i->mem_max_mib, 96);
	g_ptr_array_unref(l);

	assert_ok(virt_destroy_undefine(v, "vt.h1", &e));
	l = virt_list(v, &e);
	assert_non_null(l);
	assert_int_equal(l->len, 0);
	g_ptr_array_unref(l);
	assert_ok(virt_destroy_undefine(v, "vt.h1", &e));	/* absent: not an error */
	virt_close(v);
}

/* xml with its <metadata> element cut out: a domain nube did not make */
static char *without_metadata(const char *xml)
{
	const char *a = strstr(xml, "<metadata>"), *b = strstr(xml, "</metadata>");

	assert_non_null(a);
	assert_non_null(b);
	return g_strdup_printf("%.*s%s", (int)(a - xml), xml, b + strlen("</metadata>"));
}

/* a domain of the name nube would use is only taken over when its metadata names the same
 * scenario and vm; a foreign one (no metadata) or another owner's is refused, left as is */
static void test_foreign_domain(void **state)
{
	(void)state;
	GError *e = NULL;
	virt *v = open_test(true, NULL);
	g_autofree char *xml = virt_render_domain(v, sc, dep, "h1", 1450, NULL, &e);
	g_autofree char *foreign = NULL, *other = NULL;
	GString *o;

	assert_non_null(xml);
	foreign = without_metadata(xml);
	assert_ok(virt_define_start(v, foreign, &e));
	assert_int_equal(virt_define_start(v, xml, &e), -1);
	assert_non_null(e);
	assert_non_null(strstr(e->message, "domain 'vt.h1' exists on test:///default and is not "
	    "nube's (no nube metadata): left untouched"));
	g_clear_error(&e);
	GPtrArray *l = virt_list(v, &e);
	assert_non_null(l);
	assert_int_equal(l->len, 0);	/* still the foreign one: no nube metadata was put on it */
	g_ptr_array_unref(l);
	assert_ok(virt_destroy_undefine(v, "vt.h1", &e));

	/* the same name with another owner's metadata */
	o = g_string_new(xml);
	g_string_replace(o, "scenario=\"vt\"", "scenario=\"other\"", 1);
	other = g_string_free(o, FALSE);
	assert_ok(virt_define_start(v, other, &e));
	assert_int_equal(virt_define_start(v, xml, &e), -1);
	assert_non_null(strstr(e->message, "domain 'vt.h1' exists on test:///default and belongs "
	    "to vm 'h1' of scenario 'other': left untouched"));
	g_clear_error(&e);
	l = virt_list(v, &e);
	assert_non_null(l);
	assert_int_equal(l->len, 1);
	assert_string_equal(((virt_dom_info *)g_ptr_array_index(l, 0))->scenario, "other");
	assert_true(((virt_dom_info *)g_ptr_array_index(l, 0))->active);
	g_ptr_array_unref(l);
	assert_ok(virt_destroy_undefine(v, "vt.h1", &e));
	virt_close(v);
}

static void test_errors(void **state)
{
	(void)state;
	GError *e = NULL;
	virt *v = open_test(true, NULL);

	assert_null(virt_render_domain(v, sc, dep, "nope", 0, NULL, &e));
	assert_non_null(strstr(e->message, "scenario 'vt' has no vm 'nope'"));
	g_clear_error(&e);

	/* a malformed domain is refused by libvirt, reported with name and URI */
	assert_int_equal(virt_define_start(v, "<domain type='qemu'><name>vt-bad</name>"
	    "<memory>x</memory></domain>", &e), -1);
	assert_non_null(e);
	assert_non_null(strstr(e->message, "define 'vt-bad' on test:///default: "));
	g_clear_error(&e);
	assert_int_equal(virt_define_start(v, "not xml", &e), -1);
	g_clear_error(&e);

	/* the test driver has no guest agent */
	g_autofree char *xml = virt_render_domain(v, sc, dep, "c1", 0, NULL, &e);
	assert_ok(virt_define_start(v, xml, &e));
	int code = 0;
	assert_int_equal(virt_guest_exec(v, "vt.c1", "true", 1, &code, NULL, NULL, &e), -1);
	assert_non_null(strstr(e->message, "guest-exec in 'vt.c1' on test:///default: "));
	g_clear_error(&e);
	assert_int_equal(virt_guest_exec(v, "vt.absent", "true", 1, &code, NULL, NULL, &e), -1);
	assert_non_null(strstr(e->message, "domain 'vt.absent' on test:///default: "));
	g_clear_error(&e);
	assert_int_equal(virt_guest_configure(v, sc, dep, "c1", 0, 1, &e), -1);
	/* readiness: an idle guest whose agent never answers is restarted once, then fails
	 * naming what was waited for, how long and the restart */
	assert_non_null(strstr(e->message, "guest agent of 'vt.c1' did not answer within "));
	assert_non_null(strstr(e->message, "restarted once after 1 s without progress"));
	g_clear_error(&e);
	assert_ok(virt_destroy_undefine(v, "vt.c1", &e));
	virt_close(v);

	/* kvm only when really usable: the test driver offers no kvm domain */
	virt_opts o = { .uri = "test:///default", .domain_type = "kvm", .type_fallback = true };
	assert_null(virt_open(&o, &e));
	assert_non_null(strstr(e->message, "KVM is not usable"));
	g_clear_error(&e);
	o.domain_type = "xen";
	assert_null(virt_open(&o, &e));
	assert_non_null(strstr(e->message, "unknown domain type 'xen'"));
	g_clear_error(&e);
	o.domain_type = NULL;
	o.uri = "bogus:///nothing";
	assert_null(virt_open(&o, &e));
	assert_non_null(strstr(e->message, "connect to bogus:///nothing: "));
	g_clear_error(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_lxc_fallback),
		cmocka_unit_test(test_lxc_config),
		cmocka_unit_test(test_existing_files),
		cmocka_unit_test(test_disks),
		cmocka_unit_test(test_media_disks),
		cmocka_unit_test(test_image_cache),
		cmocka_unit_test(test_image_evict),
		cmocka_unit_test(test_rootfs_cache),
		cmocka_unit_test(test_define_list_roundtrip),
		cmocka_unit_test(test_foreign_domain),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
