/* test_guestcfg: unit tests of VNX's autoconfiguration documents, the cloud-init seed and
 * the filetree resolver, on VNX's own sample scenarios and on odd names */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "guestcfg/guestcfg.h"

#define EX SRCDIR "/examples/vnx/"
#define DATA SRCDIR "/tests/data/guestcfg/"

/* ---- helpers ---- */

static scenario *
load(const char *path)
{
	g_autoptr(diag) d = diag_new();
	scenario *s = scenario_parse_file(path, d);

	assert_non_null(s);
	if (!scenario_validate(s, d) || diag_has_errors(d)) {
		diag_print(d, stderr);
		fail_msg("'%s' does not validate", path);
	}
	return s;
}

static const sc_vm *
vm_of(const scenario *s, const char *name)
{
	const sc_vm *v = scenario_vm(s, name);

	assert_non_null(v);
	return v;
}

/* fake_macs: "02:fd:00:00:VV:II" per interface (VV = VM index, II = if index) */
static GPtrArray *
fake_macs(const scenario *s, const sc_vm *v)
{
	GPtrArray *m = g_ptr_array_new_with_free_func(g_free);
	int vi = scenario_vm_index(s, v->name);

	for (guint i = 0; i < v->ifs->len; i++)
		g_ptr_array_add(m, g_strdup_printf("02:FD:00:00:%02x:%02x", vi, i));
	return m;
}

/* reparse: serialize doc as it goes on the medium and read it back with libxml2 */
static xmlDoc *
reparse(xmlDoc *doc)
{
	gsize len = 0;
	g_autofree char *text = guestcfg_xml_text(doc, &len);
	xmlDoc *back;

	assert_true(g_str_has_prefix(text, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
	back = xmlReadMemory(text, (int)len, "medium.xml", NULL, XML_PARSE_NONET);
	assert_non_null(back);
	return back;
}

/* xs: string value of an XPath expression (new string) */
static char *
xs(xmlDoc *doc, const char *expr)
{
	xmlXPathContext *ctx = xmlXPathNewContext(doc);
	g_autofree char *full = g_strdup_printf("string(%s)", expr);
	xmlXPathObject *o = xmlXPathEvalExpression(BAD_CAST full, ctx);
	char *out;

	assert_non_null(o);
	out = g_strdup((const char *)o->stringval);
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return out;
}

static int
xn(xmlDoc *doc, const char *expr)
{
	xmlXPathContext *ctx = xmlXPathNewContext(doc);
	g_autofree char *full = g_strdup_printf("count(%s)", expr);
	xmlXPathObject *o = xmlXPathEvalExpression(BAD_CAST full, ctx);
	int n;

	assert_non_null(o);
	n = (int)o->floatval;
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return n;
}

#define assert_xs(doc, expr, want) do { \
	g_autofree char *got_ = xs((doc), (expr)); \
	if (strcmp(got_, (want)) != 0) \
		fail_msg("%s: got \"%s\", want \"%s\"", (expr), got_, (want)); \
} while (0)

/* user_data_json: the user-data body after its "#cloud-config" line, parsed */
static json_t *
user_data_json(const char *ud)
{
	json_error_t err;
	json_t *j;

	assert_non_null(ud);
	assert_true(g_str_has_prefix(ud, "#cloud-config\n"));
	j = json_loads(ud + strlen("#cloud-config\n"), 0, &err);
	if (j == NULL)
		fail_msg("user-data is not JSON: %s (line %d)", err.text, err.line);
	return j;
}

static json_t *
parse_json(const char *text)
{
	json_error_t err;
	json_t *j;

	assert_non_null(text);
	j = json_loads(text, 0, &err);
	if (j == NULL)
		fail_msg("not JSON: %s (line %d)", err.text, err.line);
	return j;
}

/* write_file_entry: the write_files entry with that path, or NULL */
static json_t *
write_file_entry(json_t *ud, const char *path)
{
	json_t *files = json_object_get(ud, "write_files");
	size_t i;
	json_t *e;

	assert_true(json_is_array(files));
	json_array_foreach(files, i, e)
		if (strcmp(json_string_value(json_object_get(e, "path")), path) == 0)
			return e;
	return NULL;
}

static char *
b64_content(json_t *e)
{
	gsize len = 0;
	g_autofree guchar *raw = NULL;

	assert_string_equal(json_string_value(json_object_get(e, "encoding")), "b64");
	raw = g_base64_decode(json_string_value(json_object_get(e, "content")), &len);
	return g_strndup((const char *)raw, len);
}

static char *
file_text(const char *path)
{
	char *buf = NULL;

	assert_true(g_file_get_contents(path, &buf, NULL, NULL));
	return buf;
}

/* a scratch folder removed by the test's teardown */
static char *scratch;

static int
scratch_setup(void **state)
{
	(void)state;
	scratch = g_dir_make_tmp("guestcfg-XXXXXX", NULL);
	return scratch != NULL ? 0 : -1;
}

static void
rm_rf(const char *path)
{
	GDir *dp = g_dir_open(path, 0, NULL);
	const char *n;

	if (dp != NULL) {
		while ((n = g_dir_read_name(dp)) != NULL) {
			g_autofree char *p = g_build_filename(path, n, NULL);

			rm_rf(p);
		}
		g_dir_close(dp);
	}
	g_remove(path);
}

static int
scratch_teardown(void **state)
{
	(void)state;
	rm_rf(scratch);
	g_clear_pointer(&scratch, g_free);
	return 0;
}

static void
put(const char *rel, const char *content)
{
	g_autofree char *p = g_build_filename(scratch, rel, NULL);
	g_autofree char *dir = g_path_get_dirname(p);

	assert_int_equal(g_mkdir_with_parents(dir, 0755), 0);
	assert_true(g_file_set_contents(p, content, -1, NULL));
}

/* ---- VNX's command text ---- */

static void
test_vnx_commands(void **state)
{
	g_autofree char *a = guestcfg_vnx_commands("ls");
	g_autofree char *b = guestcfg_vnx_commands(
			"\n   # comment\n   chmod 644 /var/www/*\n\n   service apache2 start   \n  ");
	g_autofree char *c = guestcfg_vnx_commands("a;\nsleep 10 &\necho x \\\n    y\n");
	g_autofree char *e = guestcfg_vnx_commands("");
	g_autofree char *z = guestcfg_vnx_commands("0\nls");
	g_autofree char *v = guestcfg_vnx_commands("\v\fls -l\r\v\n\t#x\n");

	(void)state;
	assert_string_equal(a, "ls;\n");
	/* an empty first line: VNX starts the text with a newline */
	assert_string_equal(b, "\nchmod 644 /var/www/*;\nservice apache2 start;\n");
	/* ";" not doubled, "&" kept, a continuation joined by a space (after the blank before it) */
	assert_string_equal(c, "a;\nsleep 10 &\necho x  y;\n");
	assert_string_equal(e, "\n");
	/* Perl's truth: a first line "0" is false */
	assert_string_equal(z, "\n0;\nls;\n");
	/* Perl's \s: vertical tab and form feed are blanks too; a comment after blanks */
	assert_string_equal(v, "ls -l;\n");
}

static void
test_seq_has_and_id(void **state)
{
	g_autofree char *a = guestcfg_new_id("r1");
	g_autofree char *b = guestcfg_new_id("r1");

	(void)state;
	assert_true(guestcfg_seq_has("on_boot", "on_boot"));
	assert_true(guestcfg_seq_has("start, on_boot ,stop", "on_boot"));
	assert_false(guestcfg_seq_has("on_boot2", "on_boot"));
	assert_false(guestcfg_seq_has("on_boo", "on_boot"));
	assert_false(guestcfg_seq_has(NULL, "on_boot"));
	assert_true(g_str_has_prefix(a, "r1-"));
	assert_int_equal(strlen(a), strlen("r1-") + GC_ID_RANDOM_LEN);
	for (const char *p = a + 3; *p; p++)
		assert_true(g_ascii_isalnum(*p) || *p == '_');
	/* ids decide whether vnxaced takes a medium as new: two must (almost surely) differ */
	assert_string_not_equal(a, b);
}

/* ---- vnxboot.xml ---- */

static void
test_vnxboot_tutorial_ubuntu(void **state)
{
	g_autoptr(scenario) s = load(EX "tutorial_ubuntu.xml");
	const sc_vm *r1 = vm_of(s, "r1"), *h1 = vm_of(s, "h1");
	g_autoptr(GPtrArray) m1 = fake_macs(s, r1), mh = fake_macs(s, h1);
	gc_net n1 = { .macs = m1 }, nh = { .macs = mh };
	g_autoptr(diag) d = diag_new();
	g_autoptr(gc_seq) boot1 = guestcfg_resolve(s, r1, GC_SEQ_ON_BOOT, GC_RESOLVE_PATHS, d);
	g_autoptr(gc_seq) booth = guestcfg_resolve(s, h1, GC_SEQ_ON_BOOT, GC_RESOLVE_PATHS, d);
	xmlDoc *doc, *back;

	(void)state;
	assert_non_null(boot1);
	assert_non_null(booth);
	doc = guestcfg_vnxboot(s, r1, "r1-AbC_12", &n1, boot1, d);
	assert_non_null(doc);
	back = reparse(doc);
	assert_xs(back, "/create_conf/id", "r1-AbC_12");
	assert_int_equal(xn(back, "/create_conf/vm"), 1);
	assert_xs(back, "/create_conf/vm/@name", "r1");
	assert_xs(back, "/create_conf/vm/@type", "libvirt");
	assert_xs(back, "/create_conf/vm/@os", "linux");
	assert_xs(back, "/create_conf/vm/@exec_mode", "cdrom");
	assert_xs(back, "/create_conf/vm/@arch", "i686");
	assert_xs(back, "/create_conf/vm/@vcpu", "1");
	assert_xs(back, "/create_conf/vm/filesystem", "/usr/share/vnx/filesystems/rootfs_ubuntu");
	assert_xs(back, "/create_conf/vm/filesystem/@type", "cow");
	assert_xs(back, "/create_conf/vm/mem", "131072");	/* 128M in KiB */
	/* no management interface unless the caller plugs one */
	assert_int_equal(xn(back, "//if[@id='0']"), 0);
	assert_int_equal(xn(back, "/create_conf/vm/if"), 3);
	assert_xs(back, "/create_conf/vm/if[1]/@id", "1");
	assert_xs(back, "/create_conf/vm/if[1]/@net", "Net0");
	assert_xs(back, "/create_conf/vm/if[1]/@mac", ",02:FD:00:00:02:00");
	assert_xs(back, "/create_conf/vm/if[1]/ipv4", "10.1.0.1");
	assert_xs(back, "/create_conf/vm/if[1]/ipv4/@mask", "255.255.255.0");
	assert_xs(back, "/create_conf/vm/if[3]/@net", "Net3");
	assert_xs(back, "/create_conf/vm/if[3]/@mac", ",02:FD:00:00:02:02");
	assert_xs(back, "/create_conf/vm/if[3]/ipv4", "10.1.3.1");
	assert_int_equal(xn(back, "/create_conf/vm/route"), 1);
	assert_xs(back, "/create_conf/vm/route/@type", "ipv4");
	assert_xs(back, "/create_conf/vm/route/@gw", "10.1.1.2");
	assert_xs(back, "/create_conf/vm/route", "10.1.2.0/24");
	/* forwarding type="ip": VNX writes both families as two elements */
	assert_int_equal(xn(back, "/create_conf/vm/forwarding[@type='ipv4']"), 1);
	assert_int_equal(xn(back, "/create_conf/vm/forwarding[@type='ipv6']"), 1);
	assert_int_equal(xn(back, "//filetree | //exec"), 0);
	/* VNX's order: filesystem, mem, ifs, routes, forwarding */
	assert_xs(back, "name(/create_conf/vm/*[1])", "filesystem");
	assert_xs(back, "name(/create_conf/vm/*[2])", "mem");
	assert_xs(back, "name(/create_conf/vm/*[last()])", "forwarding");
	xmlFreeDoc(back);
	xmlFreeDoc(doc);

	/* h1: a default route, no forwarding, and its seqs are not on_boot: none in vnxboot */
	doc = guestcfg_vnxboot(s, h1, "h1-x", &nh, booth, d);
	back = reparse(doc);
	assert_xs(back, "/create_conf/vm/mem", "524288");
	assert_xs(back, "/create_conf/vm/route", "default");
	assert_xs(back, "/create_conf/vm/route/@gw", "10.1.0.1");
	assert_int_equal(xn(back, "//forwarding"), 0);
	assert_int_equal(xn(back, "//filetree | //exec"), 0);
	assert_false(diag_has_errors(d));
	xmlFreeDoc(back);
	xmlFreeDoc(doc);
}

static void
test_vnxboot_mgmt_and_missing_mac(void **state)
{
	g_autoptr(scenario) s = load(EX "tutorial_ubuntu.xml");
	const sc_vm *r2 = vm_of(s, "r2");
	g_autoptr(GPtrArray) m = fake_macs(s, r2);
	gc_net n = { .macs = m, .mgmt_mac = "02:fd:00:00:03:00", .mgmt_addr = "10.250.0.203/24" };
	g_autoptr(diag) d = diag_new();
	xmlDoc *doc = guestcfg_vnxboot(s, r2, "r2-1", &n, NULL, d);
	xmlDoc *back;

	(void)state;
	assert_non_null(doc);
	back = reparse(doc);
	/* management first, as VNX: mac with VNX's leading comma, net "" for type private */
	assert_xs(back, "/create_conf/vm/if[1]/@id", "0");
	assert_xs(back, "/create_conf/vm/if[1]/@mac", ",02:fd:00:00:03:00");
	assert_int_equal(xn(back, "/create_conf/vm/if[1]/@net"), 1);
	assert_xs(back, "/create_conf/vm/if[1]/@net", "");
	assert_xs(back, "/create_conf/vm/if[1]/ipv4", "10.250.0.203");
	assert_xs(back, "/create_conf/vm/if[1]/ipv4/@mask", "255.255.255.0");
	/* if name= goes on (r2: name="s1/0") */
	assert_xs(back, "/create_conf/vm/if[2]/@name", "s1/0");
	assert_xs(back, "/create_conf/vm/if[3]/@name", "e0/0");
	xmlFreeDoc(back);
	xmlFreeDoc(doc);

	/* one MAC short: an error naming the VM and the interface, no document */
	g_ptr_array_set_size(m, 1);
	doc = guestcfg_vnxboot(s, r2, "r2-2", &n, NULL, d);
	assert_null(doc);
	assert_true(diag_contains(d, DIAG_ERROR, "vm 'r2': no MAC address planned for interface 2"));
}

static void
test_vnxboot_ipv6_dhcp(void **state)
{
	g_autoptr(scenario) s = load(DATA "tutorial_kvm_ubuntu64.xml");
	const sc_vm *r1 = vm_of(s, "r1");
	g_autoptr(GPtrArray) m = fake_macs(s, r1);
	gc_net n = { .macs = m };
	g_autoptr(diag) d = diag_new();
	xmlDoc *doc = guestcfg_vnxboot(s, r1, "r1-6", &n, NULL, d);
	xmlDoc *back;

	(void)state;
	assert_non_null(doc);
	back = reparse(doc);
	assert_xs(back, "/create_conf/vm/@arch", "x86_64");
	assert_xs(back, "/create_conf/vm/mem", "524288");
	assert_xs(back, "/create_conf/vm/if[@id='1']/ipv6", "2001:db8:0::1/64");
	assert_xs(back, "/create_conf/vm/if[@id='2']/ipv6", "2001:db8:1::1/64");
	/* <ipv4>dhcp</ipv4>: VNX still writes its default mask */
	assert_xs(back, "/create_conf/vm/if[@id='9']/ipv4", "dhcp");
	assert_xs(back, "/create_conf/vm/if[@id='9']/ipv4/@mask", "255.255.255.0");
	assert_xs(back, "/create_conf/vm/if[@id='9']/@net", "virbr0");
	assert_xs(back, "/create_conf/vm/route[@type='ipv6']", "2001:db8:2::/64");
	assert_xs(back, "/create_conf/vm/route[@type='ipv6']/@gw", "2001:db8:1::2");
	xmlFreeDoc(back);
	xmlFreeDoc(doc);
}

/* ---- on_boot, exec of a seq, medium layout ---- */

static void
test_simple_ubuntu64_on_boot_and_exec(void **state)
{
	g_autoptr(scenario) s = load(DATA "simple_ubuntu64.xml");
	const sc_vm *v = vm_of(s, "ubuntu64");
	g_autoptr(GPtrArray) m = fake_macs(s, v);
	gc_net n = { .macs = m };
	g_autoptr(diag) d = diag_new();
	g_autoptr(gc_seq) boot = guestcfg_resolve(s, v, GC_SEQ_ON_BOOT, GC_RESOLVE_PATHS, d);
	g_autoptr(gc_seq) www = NULL;
	g_autoptr(GPtrArray) layout = NULL;
	const gc_tree *t;
	const gc_copy *c;
	xmlDoc *doc, *back;

	(void)state;
	assert_non_null(boot);
	assert_int_equal(boot->trees->len, 1);
	assert_int_equal(boot->cmds->len, 1);
	t = g_ptr_array_index(boot->trees, 0);
	assert_int_equal(t->num, 1);
	assert_int_equal(t->copies->len, 1);
	c = g_ptr_array_index(t->copies, 0);
	assert_string_equal(c->medium, "filetree/1/on_boot.txt");
	assert_string_equal(c->host, DATA "conf/on_boot.txt");
	assert_false(c->dir);
	layout = guestcfg_layout(boot);
	assert_int_equal(layout->len, 1);
	assert_ptr_equal(g_ptr_array_index(layout, 0), c);

	doc = guestcfg_vnxboot(s, v, "ubuntu64-q", &n, boot, d);
	assert_non_null(doc);
	back = reparse(doc);
	assert_xs(back, "/create_conf/vm/@exec_mode", "cdrom");
	assert_xs(back, "/create_conf/vm/mem", "1048576");
	/* only the on_boot filetree and exec, filetrees first, as written */
	assert_int_equal(xn(back, "/create_conf/vm/filetree"), 1);
	assert_xs(back, "/create_conf/vm/filetree/@seq", "on_boot");
	assert_xs(back, "/create_conf/vm/filetree/@root", "/root/");
	assert_xs(back, "/create_conf/vm/filetree", "conf/on_boot.txt");
	assert_int_equal(xn(back, "/create_conf/vm/exec"), 1);
	assert_xs(back, "/create_conf/vm/exec/@seq", "on_boot");
	assert_xs(back, "/create_conf/vm/exec/@ostype", "system");	/* VNX's default */
	assert_int_equal(xn(back, "/create_conf/vm/exec/@type"), 0);	/* VNX drops type= */
	assert_xs(back, "/create_conf/vm/exec", "cp /root/on_boot.txt /root/on_boot2.txt;\n");
	assert_xs(back, "name(/create_conf/vm/filetree/preceding-sibling::*[1])", "if");
	assert_int_equal(xn(back, "//*[contains(., 'on_shutdown')]"), 0);
	xmlFreeDoc(back);
	xmlFreeDoc(doc);

	/* exec of start-www: command.xml with the filetree's user/group/perms */
	www = guestcfg_resolve(s, v, "start-www", GC_RESOLVE_PATHS, d);
	assert_non_null(www);
	doc = guestcfg_command("ubuntu64-w", www);
	back = reparse(doc);
	assert_xs(back, "name(/*)", "command");
	assert_xs(back, "/command/id", "ubuntu64-w");
	assert_xs(back, "/command/filetree/@seq", "start-www");
	assert_xs(back, "/command/filetree/@root", "/var/www/");
	assert_xs(back, "/command/filetree/@user", "www-data");
	assert_xs(back, "/command/filetree/@group", "www-data");
	assert_xs(back, "/command/filetree/@perms", "644");
	assert_xs(back, "/command/filetree", "conf/txtfile");
	assert_int_equal(xn(back, "/command/exec"), 1);
	assert_xs(back, "/command/exec/@seq", "start-www");
	assert_xs(back, "/command/exec", "service apache2 start;\n");
	assert_xs(back, "name(/command/*[2])", "filetree");
	/* conf/txtfile is a folder written without '/': VNX puts the folder itself */
	t = g_ptr_array_index(www->trees, 0);
	c = g_ptr_array_index(t->copies, 0);
	assert_string_equal(c->medium, "filetree/1/txtfile");
	assert_true(c->dir);
	assert_int_equal(t->files->len, 1);
	assert_string_equal(((gc_file *)g_ptr_array_index(t->files, 0))->rel, "txtfile/vnx.txt");
	assert_false(diag_has_errors(d));
	xmlFreeDoc(back);
	xmlFreeDoc(doc);
}

/* the steps of an exec of a seq: filetrees (as write_files, owner and octal perms), then
 * the commands, detached for ostype exec; an unknown ostype is not run and warned */
static void
test_exec_steps(void **state)
{
	g_autoptr(scenario) s = load(DATA "simple_ubuntu64.xml");
	const sc_vm *v = vm_of(s, "ubuntu64");
	g_autoptr(diag) d = diag_new();
	g_autoptr(gc_seq) www = guestcfg_resolve(s, v, "start-www", GC_RESOLVE_DATA, d);
	g_autoptr(gc_seq) down = guestcfg_resolve(s, v, GC_SEQ_ON_SHUTDOWN, GC_RESOLVE_DATA, d);
	json_t *steps, *f;
	g_autofree char *txt = NULL, *want = NULL;
	gsize bytes = 0;

	(void)state;
	assert_non_null(www);
	steps = guestcfg_exec_steps(s, v, www, &bytes, d);
	assert_non_null(steps);
	assert_int_equal(json_array_size(steps), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 0),
	    "filetree")), "/var/www/");
	f = json_array_get(json_object_get(json_array_get(steps, 0), "write_files"), 0);
	assert_string_equal(json_string_value(json_object_get(f, "path")), "/var/www/txtfile/vnx.txt");
	assert_string_equal(json_string_value(json_object_get(f, "permissions")), "0644");
	assert_string_equal(json_string_value(json_object_get(f, "owner")), "www-data:www-data");
	txt = b64_content(f);
	want = file_text(DATA "conf/txtfile/vnx.txt");
	assert_string_equal(txt, want);
	assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 1), "cmd")),
	    "service apache2 start");
	assert_false(json_is_true(json_object_get(json_array_get(steps, 1), "detach")));
	assert_int_equal(bytes, strlen(want) + strlen("service apache2 start"));
	json_decref(steps);

	/* on_shutdown: its filetree first, then its exec, though the file writes them apart */
	assert_non_null(down);
	steps = guestcfg_exec_steps(s, v, down, NULL, d);
	assert_int_equal(json_array_size(steps), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 0),
	    "filetree")), "/root/");
	assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 1), "cmd")),
	    "cp /root/on_shutdown.txt /root/on_shutdown2.txt");
	json_decref(steps);
	assert_false(diag_has_errors(d));
}

/* ostype exec runs detached, an ostype VNX does not run on Linux is left out with a warning */
static void
test_exec_steps_ostypes(void **state)
{
	g_autoptr(scenario) s = NULL;
	g_autoptr(diag) d = diag_new();
	g_autoptr(gc_seq) q = NULL;
	g_autofree char *file = NULL;
	const sc_vm *v;
	json_t *steps;

	(void)state;
	put("cmds.sh", "echo one\n# a comment\necho two\n");
	put("s.xml", "<vnx><global><version>2.0</version><scenario_name>o</scenario_name>"
	    "<vm_mgmt type=\"none\"/></global><net name=\"n\" mode=\"virtual_bridge\"/>"
	    "<vm name=\"a\" type=\"libvirt\" subtype=\"kvm\" os=\"linux\">"
	    "<if id=\"1\" net=\"n\"><ipv4>10.0.0.1/24</ipv4></if>"
	    "<exec seq=\"x\" type=\"verbatim\" ostype=\"exec\">sleep 100</exec>"
	    "<exec seq=\"x\" type=\"verbatim\" ostype=\"show\">show version</exec>"
	    "<exec seq=\"x,y\" type=\"file\">cmds.sh</exec>"
	    "</vm></vnx>");
	file = g_build_filename(scratch, "s.xml", NULL);
	s = load(file);
	v = vm_of(s, "a");
	q = guestcfg_resolve(s, v, "x", GC_RESOLVE_DATA, d);
	assert_non_null(q);
	steps = guestcfg_exec_steps(s, v, q, NULL, d);
	assert_int_equal(json_array_size(steps), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 0), "cmd")),
	    "sleep 100");
	assert_true(json_is_true(json_object_get(json_array_get(steps, 0), "detach")));
	/* type="file": the host file's content, VNX's processing (comment dropped) */
	assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 1), "cmd")),
	    "echo one\necho two");
	assert_true(diag_contains(d, DIAG_WARNING, "ostype 'show'"));
	json_decref(steps);
}

/* <if net="lo">: its addresses go to the guest's lo — a runcmd for cloud-init, an <if
 * net="lo"> without MAC in vnxboot.xml for VNX's daemon */
static void
test_loopback_addresses(void **state)
{
	g_autoptr(scenario) s = NULL;
	g_autoptr(diag) d = diag_new();
	g_autofree char *file = NULL, *ud = NULL;
	g_autoptr(GPtrArray) m = NULL;
	gc_net n = { 0 };
	json_t *doc, *runcmd, *c;
	const sc_vm *v;
	xmlDoc *x, *back;
	size_t i;
	bool found = false;

	(void)state;
	put("lo.xml", "<vnx><global><version>2.0</version><scenario_name>l</scenario_name>"
	    "<vm_mgmt type=\"none\"/></global><net name=\"n\" mode=\"virtual_bridge\"/>"
	    "<vm name=\"a\" type=\"libvirt\" subtype=\"kvm\" os=\"linux\">"
	    "<if id=\"1\" net=\"n\"><ipv4>10.0.0.1/24</ipv4></if>"
	    "<if id=\"2\" net=\"lo\"><ipv4>10.9.9.9/32</ipv4></if>"
	    "</vm></vnx>");
	file = g_build_filename(scratch, "lo.xml", NULL);
	s = load(file);
	v = vm_of(s, "a");
	ud = guestcfg_ci_user_data(s, v, NULL, d);
	assert_non_null(ud);
	doc = json_loads(ud + strlen("#cloud-config\n"), 0, NULL);
	assert_non_null(doc);
	runcmd = json_object_get(doc, "runcmd");
	json_array_foreach(runcmd, i, c) {
		g_autofree char *t = json_dumps(c, JSON_COMPACT);

		found = found || strcmp(t, "[\"ip\",\"-4\",\"addr\",\"replace\",\"10.9.9.9/32\","
		    "\"dev\",\"lo\"]") == 0;
	}
	assert_true(found);
	json_decref(doc);
	m = fake_macs(s, v);
	n.macs = m;
	x = guestcfg_vnxboot(s, v, "a-q", &n, NULL, d);
	assert_non_null(x);
	back = reparse(x);
	assert_xs(back, "/create_conf/vm/if[@net='lo']/@id", "2");
	assert_xs(back, "/create_conf/vm/if[@net='lo']/ipv4", "10.9.9.9");
	assert_int_equal(xn(back, "/create_conf/vm/if[@net='lo']/@mac"), 0);
	xmlFreeDoc(back);
	xmlFreeDoc(x);
	assert_false(diag_has_errors(d));
}

static void
test_exec_multiline_and_glob(void **state)
{
	g_autoptr(scenario) s = load(DATA "tutorial_kvm_ubuntu64.xml");
	const sc_vm *h3 = vm_of(s, "h3"), *h4 = vm_of(s, "h4");
	g_autoptr(diag) d = diag_new();
	g_autoptr(gc_seq) www = guestcfg_resolve(s, h3, "start-www", GC_RESOLVE_PATHS, d);
	g_autoptr(gc_seq) www4 = NULL;
	const gc_tree *t;
	xmlDoc *doc, *back;

	(void)state;
	assert_non_null(www);
	t = g_ptr_array_index(www->trees, 0);
	/* the glob pattern: every match, sorted, each under its own name */
	assert_int_equal(t->copies->len, 2);
	assert_string_equal(((gc_copy *)g_ptr_array_index(t->copies, 0))->medium,
			"filetree/1/index.html");
	assert_string_equal(((gc_copy *)g_ptr_array_index(t->copies, 1))->medium,
			"filetree/1/style.css");
	doc = guestcfg_command("h3-1", www);
	back = reparse(doc);
	assert_xs(back, "/command/filetree", "conf/tutorial_ubuntu/h3/*");
	/* the multi-line exec: VNX's leading newline, one command a line with ';' */
	assert_xs(back, "/command/exec", "\nchmod 644 /var/www/html/*;\nservice apache2 start;\n");
	xmlFreeDoc(back);
	xmlFreeDoc(doc);

	/* h4's folder does not exist: an error naming VM, path as written and line */
	www4 = guestcfg_resolve(s, h4, "start-www", GC_RESOLVE_PATHS, d);
	assert_null(www4);
	assert_true(diag_contains(d, DIAG_ERROR, "vm 'h4': filetree 'conf/tutorial_ubuntu/h4/*': "
				"no file matches"));
	assert_true(diag_contains(d, DIAG_ERROR, "tests/data/guestcfg/conf/tutorial_ubuntu/h4/*"));
	assert_int_equal(((diag_item *)g_ptr_array_index(d->items, 0))->line, 151);
}

static void
test_resolve_missing_and_folders(void **state)
{
	g_autofree char *xml = NULL;
	g_autofree char *path = g_build_filename(scratch, "lab.xml", NULL);
	g_autoptr(scenario) s = NULL;
	g_autoptr(diag) d = diag_new();
	g_autoptr(gc_seq) q = NULL;
	const sc_vm *v;
	const gc_tree *t;

	(void)state;
	xml = g_strdup(
		"<vnx><global><version>2.0</version><scenario_name>t</scenario_name>"
		"<vm_defaults><basedir>files</basedir></vm_defaults></global>"
		"<net name='n' mode='virtual_bridge'/>"
		"<vm name='a' type='libvirt' subtype='kvm' os='linux'><if id='1' net='n'/>"
		"<filetree seq='s1' root='/etc/'>cfg/</filetree>"
		"<filetree seq='s1' root='/opt/'>cfg</filetree>"
		"<filetree seq='s2' root='/x/'>nothere.conf</filetree>"
		"<exec seq='s2' type='file'>cmds/missing.sh</exec>"
		"<exec seq='s3' type='file'>cmds/run.sh</exec>"
		"</vm></vnx>");
	assert_true(g_file_set_contents(path, xml, -1, NULL));
	put("files/cfg/frr.conf", "router ospf\n");
	put("files/cfg/.hidden", "h\n");
	put("files/cfg/sub/daemons", "ospfd=yes\n");
	put("files/cmds/run.sh", "# setup\nsystemctl restart frr\n");
	s = load(path);
	v = vm_of(s, "a");

	/* basedir: relative to the scenario's folder */
	q = guestcfg_resolve(s, v, "s1", GC_RESOLVE_PATHS, d);
	assert_non_null(q);
	assert_int_equal(q->trees->len, 2);
	/* "cfg/": the entries (not the hidden one), walked recursively */
	t = g_ptr_array_index(q->trees, 0);
	assert_int_equal(t->num, 1);
	assert_int_equal(t->copies->len, 2);
	assert_string_equal(((gc_copy *)g_ptr_array_index(t->copies, 0))->medium, "filetree/1/frr.conf");
	assert_string_equal(((gc_copy *)g_ptr_array_index(t->copies, 1))->medium, "filetree/1/sub");
	assert_int_equal(t->files->len, 2);
	assert_string_equal(((gc_file *)g_ptr_array_index(t->files, 1))->rel, "sub/daemons");
	/* "cfg": the folder itself, hidden files inside included */
	t = g_ptr_array_index(q->trees, 1);
	assert_int_equal(t->num, 2);
	assert_int_equal(t->copies->len, 1);
	assert_string_equal(((gc_copy *)g_ptr_array_index(t->copies, 0))->medium, "filetree/2/cfg");
	assert_int_equal(t->files->len, 3);
	assert_string_equal(((gc_file *)g_ptr_array_index(t->files, 0))->rel, "cfg/.hidden");
	g_clear_pointer(&q, gc_seq_free);

	/* missing file and missing command file: both reported, VM and path named */
	q = guestcfg_resolve(s, v, "s2", GC_RESOLVE_PATHS, d);
	assert_null(q);
	assert_true(diag_contains(d, DIAG_ERROR, "vm 'a': filetree 'nothere.conf': No such file"));
	assert_true(diag_contains(d, DIAG_ERROR, "files/nothere.conf"));
	assert_true(diag_contains(d, DIAG_ERROR, "vm 'a': exec seq 's2': command file "
				"'cmds/missing.sh'"));
	assert_int_equal(d->nerrors, 2);

	/* exec type="file": the file's content, processed as VNX does */
	q = guestcfg_resolve(s, v, "s3", GC_RESOLVE_PATHS, d);
	assert_non_null(q);
	assert_string_equal(((gc_cmd *)g_ptr_array_index(q->cmds, 0))->text,
			"systemctl restart frr;\n");
}

static void
test_host_path(void **state)
{
	g_autoptr(scenario) s = load(EX "tutorial_ubuntu.xml");
	g_autofree char *abs = guestcfg_host_path(s, "/etc/hosts");
	g_autofree char *rel = guestcfg_host_path(s, "conf/txtfile");
	g_autofree char *home = guestcfg_host_path(s, "~/x/y");
	g_autofree char *want_home = g_build_filename(g_get_home_dir(), "x/y", NULL);

	(void)state;
	assert_string_equal(abs, "/etc/hosts");
	assert_string_equal(rel, EX "conf/txtfile");
	assert_string_equal(home, want_home);
}

/* ---- cloud-init ---- */

static void
test_cloud_init_simple_ubuntu64(void **state)
{
	g_autoptr(scenario) s = load(DATA "simple_ubuntu64.xml");
	const sc_vm *v = vm_of(s, "ubuntu64");
	g_autoptr(diag) d = diag_new();
	g_autoptr(gc_seq) boot = guestcfg_resolve(s, v, GC_SEQ_ON_BOOT, GC_RESOLVE_DATA, d);
	g_autofree char *md = guestcfg_ci_meta_data(v, "iid-ubuntu64-1");
	g_autofree char *ud = NULL;
	g_autofree char *content = NULL, *want = NULL, *mode = NULL;
	json_t *j, *e, *run;
	struct stat st;

	(void)state;
	assert_non_null(boot);
	j = parse_json(md);
	assert_string_equal(json_string_value(json_object_get(j, "instance-id")), "iid-ubuntu64-1");
	assert_string_equal(json_string_value(json_object_get(j, "local-hostname")), "ubuntu64");
	json_decref(j);

	ud = guestcfg_ci_user_data(s, v, boot, d);
	j = user_data_json(ud);
	assert_string_equal(json_string_value(json_object_get(j, "hostname")), "ubuntu64");
	e = write_file_entry(j, "/root/on_boot.txt");
	assert_non_null(e);
	content = b64_content(e);
	want = file_text(DATA "conf/on_boot.txt");
	assert_string_equal(content, want);
	assert_int_equal(stat(DATA "conf/on_boot.txt", &st), 0);
	mode = g_strdup_printf("0%03o", st.st_mode & 07777);
	assert_string_equal(json_string_value(json_object_get(e, "permissions")), mode);
	assert_null(json_object_get(e, "owner"));
	/* no forwarding: VNX's explicit zeros */
	e = write_file_entry(j, GC_FWD_SYSCTL_PATH);
	assert_non_null(e);
	assert_non_null(strstr(json_string_value(json_object_get(e, "content")),
				"net.ipv4.ip_forward=0\nnet.ipv6.conf.all.forwarding=0\n"));
	/* on_shutdown and start-www files are not in the seed */
	assert_null(write_file_entry(j, "/root/on_shutdown.txt"));
	assert_null(write_file_entry(j, "/var/www/txtfile/vnx.txt"));
	run = json_object_get(j, "runcmd");
	assert_int_equal(json_array_size(run), 2);
	assert_string_equal(json_string_value(json_array_get(json_array_get(run, 0), 0)), "sysctl");
	e = json_array_get(run, 1);
	assert_int_equal(json_array_size(e), 3);
	assert_string_equal(json_string_value(json_array_get(e, 0)), "bash");
	assert_string_equal(json_string_value(json_array_get(e, 1)), "-c");
	assert_string_equal(json_string_value(json_array_get(e, 2)),
			"cp /root/on_boot.txt /root/on_boot2.txt");
	json_decref(j);
}

static void
test_network_config_ipv6_routes(void **state)
{
	g_autoptr(scenario) s = load(DATA "tutorial_kvm_ubuntu64.xml");
	const sc_vm *r1 = vm_of(s, "r1"), *h1 = vm_of(s, "h1");
	g_autoptr(GPtrArray) m = fake_macs(s, r1), mh = fake_macs(s, h1);
	gc_net n = { .macs = m, .mtu = 1450 }, nh = { .macs = mh };
	g_autoptr(diag) d = diag_new();
	g_autofree char *nc = guestcfg_ci_network_config(s, r1, &n, d);
	g_autofree char *nch = NULL;
	g_autofree char *ud = NULL;
	json_t *j, *eths, *e, *r;

	(void)state;
	j = parse_json(nc);
	assert_int_equal(json_integer_value(json_object_get(j, "version")), 2);
	eths = json_object_get(j, "ethernets");
	assert_int_equal(json_object_size(eths), 4);
	e = json_object_get(eths, "eth1");
	assert_non_null(e);
	/* matched by MAC (lower case, as the kernel shows it), renamed eth<id> as VNX does */
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "match"),
					"macaddress")), "02:fd:00:00:02:00");
	assert_string_equal(json_string_value(json_object_get(e, "set-name")), "eth1");
	assert_int_equal(json_integer_value(json_object_get(e, "mtu")), 1450);
	assert_string_equal(json_string_value(json_array_get(json_object_get(e, "addresses"), 0)),
			"10.1.0.1/24");
	assert_string_equal(json_string_value(json_array_get(json_object_get(e, "addresses"), 1)),
			"2001:db8:0::1/64");
	assert_true(json_is_false(json_object_get(e, "dhcp4")));
	assert_null(json_object_get(e, "routes"));
	e = json_object_get(eths, "eth9");
	assert_true(json_is_true(json_object_get(e, "dhcp4")));
	assert_int_equal(json_array_size(json_object_get(e, "addresses")), 0);
	/* both routes leave through eth2 (10.1.1.0/24, 2001:db8:1::/64) */
	r = json_object_get(json_object_get(eths, "eth2"), "routes");
	assert_int_equal(json_array_size(r), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "to")),
			"10.1.2.0/24");
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "via")),
			"10.1.1.2");
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 1), "to")),
			"2001:db8:2::/64");
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 1), "via")),
			"2001:db8:1::2");
	json_decref(j);

	/* forwarding type="ip": both on */
	ud = guestcfg_ci_user_data(s, r1, NULL, d);
	j = user_data_json(ud);
	assert_non_null(strstr(json_string_value(json_object_get(write_file_entry(j,
						GC_FWD_SYSCTL_PATH), "content")),
				"net.ipv4.ip_forward=1\nnet.ipv6.conf.all.forwarding=1\n"));
	json_decref(j);

	/* h1: 10.1.0.0/16 via 10.1.0.1 on eth1; no mtu when none is given */
	nch = guestcfg_ci_network_config(s, h1, &nh, d);
	j = parse_json(nch);
	e = json_object_get(json_object_get(j, "ethernets"), "eth1");
	assert_null(json_object_get(e, "mtu"));
	r = json_object_get(e, "routes");
	assert_int_equal(json_array_size(r), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "to")),
			"10.1.0.0/16");
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 1), "to")),
			"2001:db8::/32");
	json_decref(j);
	assert_false(diag_has_errors(d));
	assert_int_equal(d->nwarnings, 0);
}

static void
test_network_config_default_route_mgmt_and_strays(void **state)
{
	g_autoptr(scenario) s = load(EX "tutorial_ubuntu.xml");
	const sc_vm *h2 = vm_of(s, "h2");
	g_autoptr(GPtrArray) m = fake_macs(s, h2);
	gc_net n = { .macs = m, .mgmt_mac = "02:FD:00:00:09:00", .mgmt_addr = "10.250.0.9/24" };
	g_autoptr(diag) d = diag_new();
	g_autofree char *nc = guestcfg_ci_network_config(s, h2, &n, d);
	g_autofree char *nc2 = NULL;
	sc_route *rt;
	json_t *j, *e;

	(void)state;
	j = parse_json(nc);
	e = json_object_get(json_object_get(j, "ethernets"), "eth0");
	assert_non_null(e);
	assert_string_equal(json_string_value(json_array_get(json_object_get(e, "addresses"), 0)),
			"10.250.0.9/24");
	e = json_object_get(json_object_get(j, "ethernets"), "eth1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(e,
							"routes"), 0), "to")), "0.0.0.0/0");
	json_decref(j);

	/* a gateway on no interface's subnet: a warning, the route left out */
	rt = g_ptr_array_index(h2->routes, 0);
	g_free(rt->gw);
	rt->gw = g_strdup("192.0.2.1");
	nc2 = guestcfg_ci_network_config(s, h2, &n, d);
	j = parse_json(nc2);
	assert_null(json_object_get(json_object_get(json_object_get(j, "ethernets"), "eth1"), "routes"));
	assert_true(diag_contains(d, DIAG_WARNING, "gateway '192.0.2.1' is on no interface's subnet"));
	json_decref(j);
}

/* ---- odd names and paths: escaping everywhere ---- */

static const char odd_root[] = "/srv/a&b <c>/\"q\" 'x'/ü/";
static const char odd_cmd[] = "echo \"<&>\" 'it''s' $HOME \\\\ ünï\xc2\x85\xc2\x80 \U0001F600\tend";

static void
test_odd_names(void **state)
{
	g_autofree char *path = g_build_filename(scratch, "odd.xml", NULL);
	g_autofree char *xml = NULL;
	g_autofree char *root_esc = g_markup_escape_text(odd_root, -1);
	g_autofree char *cmd_esc = g_markup_escape_text(odd_cmd, -1);
	g_autoptr(scenario) s = NULL;
	g_autoptr(diag) d = diag_new();
	g_autoptr(gc_seq) boot = NULL;
	g_autoptr(GPtrArray) m = NULL;
	g_autofree char *ud = NULL, *want = NULL, *got = NULL, *content = NULL;
	gc_net n;
	const sc_vm *v;
	xmlDoc *doc, *back;
	json_t *j, *e, *run;

	(void)state;
	xml = g_strdup_printf(
		"<vnx><global><version>2.0</version><scenario_name>odd</scenario_name></global>"
		"<net name='n' mode='virtual_bridge'/>"
		"<vm name='odd-1' type='libvirt' subtype='kvm' os='linux'>"
		"<if id='1' net='n' name='a&amp;b'><ipv4>10.0.0.1/24</ipv4><dns>10.0.0.53</dns></if>"
		"<filetree seq='on_boot' root='%s' user='www-data' perms='u+x'>my files/</filetree>"
		"<filetree seq='other,on_boot' root='/etc/one&amp;only.conf'>single &amp; file.txt</filetree>"
		"<exec seq='on_boot' type='verbatim' ostype='exec'>%s</exec>"
		"</vm></vnx>", root_esc, cmd_esc);
	assert_true(g_file_set_contents(path, xml, -1, NULL));
	put("my files/a&b <c>.txt", "amp\n");
	put("my files/quote\"'.txt", "quote\n");
	put("single & file.txt", "single\n");
	s = load(path);
	v = vm_of(s, "odd-1");
	m = fake_macs(s, v);
	n = (gc_net){ .macs = m };
	boot = guestcfg_resolve(s, v, GC_SEQ_ON_BOOT, GC_RESOLVE_DATA, d);
	assert_non_null(boot);
	assert_int_equal(boot->trees->len, 2);

	/* vnxboot.xml: every odd value comes back byte for byte */
	doc = guestcfg_vnxboot(s, v, "odd-1-<&>", &n, boot, d);
	assert_non_null(doc);
	back = reparse(doc);
	assert_xs(back, "/create_conf/id", "odd-1-<&>");
	assert_xs(back, "/create_conf/vm/if/@name", "a&b");
	assert_xs(back, "/create_conf/vm/if/dns", "10.0.0.53");
	assert_xs(back, "/create_conf/vm/filetree[1]/@root", odd_root);
	assert_xs(back, "/create_conf/vm/filetree[1]/@perms", "u+x");
	assert_xs(back, "/create_conf/vm/filetree[1]", "my files/");
	/* seq='other,on_boot' is split as VNX does: the on_boot copy says on_boot */
	assert_xs(back, "/create_conf/vm/filetree[2]/@seq", "on_boot");
	assert_xs(back, "/create_conf/vm/filetree[2]", "single & file.txt");
	want = g_strconcat(odd_cmd, ";\n", NULL);
	assert_xs(back, "/create_conf/vm/exec", want);
	assert_xs(back, "/create_conf/vm/exec/@ostype", "exec");
	xmlFreeDoc(back);
	xmlFreeDoc(doc);

	/* user-data: paths, owner, content and the command come back through JSON */
	ud = guestcfg_ci_user_data(s, v, boot, d);
	j = user_data_json(ud);
	got = g_strconcat(odd_root, "a&b <c>.txt", NULL);
	e = write_file_entry(j, got);
	assert_non_null(e);
	content = b64_content(e);
	assert_string_equal(content, "amp\n");
	assert_string_equal(json_string_value(json_object_get(e, "owner")), "www-data");
	g_free(got);
	got = g_strconcat(odd_root, "quote\"'.txt", NULL);
	assert_non_null(write_file_entry(j, got));
	assert_non_null(write_file_entry(j, "/etc/one&only.conf"));
	run = json_object_get(j, "runcmd");
	/* sysctl, chmod for each entry (symbolic perms), the detached command */
	assert_int_equal(json_array_size(run), 4);
	e = json_array_get(run, 1);
	assert_string_equal(json_string_value(json_array_get(e, 0)), "chmod");
	assert_string_equal(json_string_value(json_array_get(e, 2)), "u+x");
	g_free(got);
	got = g_strconcat(odd_root, "a&b <c>.txt", NULL);
	assert_string_equal(json_string_value(json_array_get(e, 3)), got);
	e = json_array_get(run, 3);
	assert_int_equal(json_array_size(e), 4);
	assert_string_equal(json_string_value(json_array_get(e, 3)), odd_cmd);
	json_decref(j);
	/* C1 controls never appear raw (YAML refuses them), only escaped */
	assert_null(strstr(ud, "\xc2\x85"));
	assert_null(strstr(ud, "\xc2\x80"));
	assert_non_null(strstr(ud, "\\u0085"));
	assert_false(diag_has_errors(d));
}

/* YAML is what cloud-init reads: with PyYAML present, each document must load to the same
 * value under yaml.safe_load as under a JSON parser */
static void
test_yaml_reads_the_same(void **state)
{
	g_autoptr(scenario) s = load(DATA "tutorial_kvm_ubuntu64.xml");
	const sc_vm *r1 = vm_of(s, "r1");
	g_autoptr(GPtrArray) m = fake_macs(s, r1);
	gc_net n = { .macs = m };
	g_autoptr(diag) d = diag_new();
	g_autofree char *nc = guestcfg_ci_network_config(s, r1, &n, d);
	g_autofree char *ud = guestcfg_ci_user_data(s, r1, NULL, d);
	g_autofree char *md = guestcfg_ci_meta_data(r1, "i-<odd>: \"x\" \xc2\x85 \U0001F600 #c");
	const char *docs[] = { nc, ud, md };
	const char *argv[] = { "python3", "-c",
		"import sys, json\n"
		"try:\n"
		"    import yaml\n"
		"except ImportError:\n"
		"    sys.exit(77)\n"
		"for i, f in enumerate(sys.argv[1:]):\n"
		"    t = open(f, encoding='utf-8').read()\n"
		"    y = yaml.safe_load(t)\n"
		"    j = json.loads(t.split('\\n', 1)[1] if t.startswith('#cloud-config') else t)\n"
		"    if y != j:\n"
		"        sys.exit('document %d reads differently as YAML: %r' % (i, y))\n",
		NULL, NULL, NULL, NULL };
	g_autofree char *err = NULL;
	int status = 0;

	(void)state;
	for (guint i = 0; i < G_N_ELEMENTS(docs); i++) {
		g_autofree char *name = g_strdup_printf("doc%u.yaml", i);
		char *f = g_build_filename(scratch, name, NULL);

		assert_non_null(docs[i]);
		assert_true(g_file_set_contents(f, docs[i], -1, NULL));
		argv[3 + i] = f;
	}
	/* one python3 for the three documents: it starts slowly on a busy machine */
	assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
				&err, &status, NULL));
	for (guint i = 0; i < G_N_ELEMENTS(docs); i++)
		g_free((char *)argv[3 + i]);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		skip();		/* no PyYAML here: reported as skipped */
	if (!g_spawn_check_wait_status(status, NULL))
		fail_msg("%s", err);
}

static void
test_user_data_file_root_errors(void **state)
{
	g_autofree char *path = g_build_filename(scratch, "bad.xml", NULL);
	g_autoptr(scenario) s = NULL;
	g_autoptr(diag) d = diag_new();
	g_autoptr(gc_seq) boot = NULL;
	g_autofree char *ud = NULL;

	(void)state;
	assert_true(g_file_set_contents(path,
			"<vnx><global><version>2.0</version><scenario_name>b</scenario_name></global>"
			"<net name='n' mode='virtual_bridge'/>"
			"<vm name='b' type='libvirt' subtype='kvm' os='linux'><if id='1' net='n'/>"
			"<filetree seq='on_boot' root='/etc/x.conf'>dir</filetree></vm></vnx>", -1, NULL));
	put("dir/one", "1\n");
	put("dir/two", "2\n");
	s = load(path);
	boot = guestcfg_resolve(s, vm_of(s, "b"), GC_SEQ_ON_BOOT, GC_RESOLVE_DATA, d);
	assert_non_null(boot);
	ud = guestcfg_ci_user_data(s, vm_of(s, "b"), boot, d);
	assert_null(ud);
	assert_true(diag_contains(d, DIAG_ERROR, "vm 'b': filetree 'dir': root '/etc/x.conf' is a "
				"file (no trailing '/') but the source is a folder"));

	/* a relative root (scenario_validate refuses it too; this model was not validated):
	 * nowhere cloud-init could write it */
	g_clear_pointer(&boot, gc_seq_free);
	g_clear_pointer(&s, scenario_free);
	assert_true(g_file_set_contents(path,
			"<vnx><global><version>2.0</version><scenario_name>b</scenario_name></global>"
			"<net name='n' mode='virtual_bridge'/>"
			"<vm name='b' type='libvirt' subtype='kvm' os='linux'><if id='1' net='n'/>"
			"<filetree seq='on_boot' root='etc/'>dir</filetree></vm></vnx>", -1, NULL));
	s = scenario_parse_file(path, d);
	assert_non_null(s);
	boot = guestcfg_resolve(s, vm_of(s, "b"), GC_SEQ_ON_BOOT, GC_RESOLVE_DATA, d);
	assert_non_null(boot);
	assert_null(guestcfg_ci_user_data(s, vm_of(s, "b"), boot, d));
	assert_true(diag_contains(d, DIAG_ERROR, "vm 'b': filetree 'dir': root 'etc/' is not an "
				"absolute path"));
}

/* golden files: the exact bytes that go on the medium (regenerate only after checking a
 * difference against VNX's make_vmAPI_doc / execute_cmd) */
static void
test_golden(void **state)
{
	g_autoptr(scenario) s = load(EX "tutorial_ubuntu.xml");
	g_autoptr(scenario) k = load(DATA "tutorial_kvm_ubuntu64.xml");
	const sc_vm *r1 = vm_of(s, "r1"), *h3 = vm_of(k, "h3");
	g_autoptr(GPtrArray) m = fake_macs(s, r1);
	gc_net n = { .macs = m };
	g_autoptr(diag) d = diag_new();
	g_autoptr(gc_seq) boot = guestcfg_resolve(s, r1, GC_SEQ_ON_BOOT, GC_RESOLVE_PATHS, d);
	g_autoptr(gc_seq) www = guestcfg_resolve(k, h3, "start-www", GC_RESOLVE_PATHS, d);
	xmlDoc *doc;
	g_autofree char *got = NULL, *want = NULL, *got2 = NULL, *want2 = NULL;

	(void)state;
	doc = guestcfg_vnxboot(s, r1, "r1-AbC_12", &n, boot, d);
	got = guestcfg_xml_text(doc, NULL);
	xmlFreeDoc(doc);
	want = file_text(DATA "tutorial_ubuntu.r1.vnxboot.xml");
	assert_string_equal(got, want);
	doc = guestcfg_command("h3-Zz9_00", www);
	got2 = guestcfg_xml_text(doc, NULL);
	xmlFreeDoc(doc);
	want2 = file_text(DATA "tutorial_kvm_ubuntu64.h3.start-www.command.xml");
	assert_string_equal(got2, want2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vnx_commands),
		cmocka_unit_test(test_seq_has_and_id),
		cmocka_unit_test(test_vnxboot_tutorial_ubuntu),
		cmocka_unit_test(test_vnxboot_mgmt_and_missing_mac),
		cmocka_unit_test(test_vnxboot_ipv6_dhcp),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_simple_ubuntu64_on_boot_and_exec),
		cmocka_unit_test(test_exec_multiline_and_glob),
		cmocka_unit_test(test_exec_steps),
		cmocka_unit_test_setup_teardown(test_loopback_addresses, scratch_setup,
		    scratch_teardown),
		cmocka_unit_test_setup_teardown(test_exec_steps_ostypes, scratch_setup,
		    scratch_teardown),
		cmocka_unit_test_setup_teardown(test_resolve_missing_and_folders, scratch_setup,
				scratch_teardown),
		cmocka_unit_test(test_host_path),
		cmocka_unit_test(test_cloud_init_simple_ubuntu64),
		cmocka_unit_test(test_network_config_ipv6_routes),
		cmocka_unit_test(test_network_config_default_route_mgmt_and_strays),
		cmocka_unit_test_setup_teardown(test_odd_names, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_yaml_reads_the_same, scratch_setup,
				scratch_teardown),
		cmocka_unit_test_setup_teardown(test_user_data_file_root_errors, scratch_setup,
				scratch_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
