/* test_scenario: unit tests of the VNX parser, restrictions, cluster.conf and validation */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "scenario/scenario.h"

#define EX SRCDIR "/examples/"
#define BAD SRCDIR "/tests/data/bad/"

/* ---- helpers ---- */

/* has: some item of severity sev, whose file ends with file, at line, contains needle */
static bool
has(const diag *d, diag_severity sev, const char *file, int line, const char *needle)
{
	for (guint i = 0; i < d->items->len; i++) {
		const diag_item *it = g_ptr_array_index(d->items, i);

		if (it->severity == sev && it->line == line && it->file != NULL &&
				g_str_has_suffix(it->file, file) && strstr(it->msg, needle) != NULL)
			return true;
	}
	return false;
}

static void
expect(const diag *d, diag_severity sev, const char *file, int line, const char *needle)
{
	if (!has(d, sev, file, line, needle)) {
		diag_print(d, stderr);
		fail_msg("expected %s at %s:%d containing \"%s\"",
				sev == DIAG_ERROR ? "error" : "warning", file, line, needle);
	}
}

/* load: parse + validate an example or fixture; asserts the parse gave a model */
static scenario *
load(const char *path, diag *d, bool *valid)
{
	scenario *s = scenario_parse_file(path, d);

	assert_non_null(s);
	*valid = scenario_validate(s, d);
	return s;
}

static const sc_if *
vm_if(const sc_vm *v, guint i)
{
	assert_true(i < v->ifs->len);
	return g_ptr_array_index(v->ifs, i);
}

static const sc_ip *
if_ip(const sc_if *f, guint i)
{
	assert_true(i < f->ips->len);
	return g_ptr_array_index(f->ips, i);
}

static const sc_exec *
vm_exec(const sc_vm *v, const char *seq, int nth)
{
	for (guint i = 0; i < v->execs->len; i++) {
		const sc_exec *e = g_ptr_array_index(v->execs, i);

		if (strcmp(e->seq, seq) == 0 && nth-- == 0)
			return e;
	}
	fail_msg("vm '%s' has no exec seq '%s'", v->name, seq);
	return NULL;
}

/* ---- the VNX examples ---- */

static void
test_examples_parse_clean(void **state)
{
	static const char *const files[] = { "vnx/multi_server.xml", "vnx/simple_ubuntu.xml",
		"vnx/tutorial_lxc_ubuntu.xml", "vnx/tutorial_ubuntu.xml", "lab-tutorial.xml",
		"lab-12.xml", NULL };

	(void)state;
	for (int i = 0; files[i] != NULL; i++) {
		g_autofree char *path = g_strconcat(EX, files[i], NULL);
		g_autoptr(diag) d = diag_new();
		bool valid;
		g_autoptr(scenario) s = load(path, d, &valid);

		if (!valid || diag_has_errors(d))
			diag_print(d, stderr);
		assert_true(valid);
		assert_false(diag_has_errors(d));
		assert_non_null(s->name);
		assert_true(s->vms->len > 0);
	}
}

/* the VNX samples beside the checkout (../shared/vnx) parse cleanly and equal the copies in
 * examples/vnx; reported as skipped (not passed) where that folder does not exist */
static void
test_shared_vnx(void **state)
{
	const char *dir = SRCDIR "/../shared/vnx";
	g_autoptr(GDir) dp = g_dir_open(dir, 0, NULL);
	const char *name;
	int n = 0;

	(void)state;
	if (dp == NULL)
		skip();
	while ((name = g_dir_read_name(dp)) != NULL) {
		g_autofree char *path = g_build_filename(dir, name, NULL);
		g_autofree char *copy = g_build_filename(EX, "vnx", name, NULL);
		g_autofree char *a = NULL, *b = NULL;
		g_autoptr(diag) d = diag_new();
		g_autoptr(scenario) s = NULL;
		bool valid;

		if (!g_str_has_suffix(name, ".xml"))
			continue;
		s = load(path, d, &valid);
		if (!valid)
			diag_print(d, stderr);
		assert_true(valid);
		assert_true(g_file_get_contents(path, &a, NULL, NULL));
		assert_true(g_file_get_contents(copy, &b, NULL, NULL));
		assert_string_equal(a, b);
		n++;
	}
	assert_true(n >= 4);
}

/* what VNX passes on to the guest (vnxboot.xml) is kept: if name= and <dns>, filetree
 * user=/group=/perms=, the exec text as written, <vm_defaults><basedir> */
static void
test_guest_fields(void **state)
{
	static const char xml[] =
		"<vnx><global><version>2.0</version><scenario_name>g</scenario_name>"
		"<vm_defaults><basedir>/srv/lab</basedir></vm_defaults></global>"
		"<net name='n' mode='virtual_bridge'/>"
		"<vm name='a' type='libvirt'>"
		"<if id='1' net='n' name='e0/0'><ipv4>10.0.0.1/24</ipv4><dns>10.0.0.53</dns>"
		"<dns>2001:db8::53</dns></if>"
		"<if id='2' net='n'/>"
		"<filetree seq='on_boot' root='/var/www/' user='www-data' group='adm' perms='644'>"
		"conf/www</filetree>"
		"<filetree seq='x' root='/tmp/'>f</filetree>"
		"<exec seq='on_boot' type='verbatim'>\n   ls\n   pwd\n  </exec>"
		"</vm></vnx>";
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = scenario_parse_memory(xml, sizeof(xml) - 1, "g.xml", d);
	const sc_vm *v;
	const sc_if *f;
	const sc_filetree *ft;
	const sc_exec *ex;

	(void)state;
	assert_non_null(s);
	assert_true(scenario_validate(s, d));
	/* the only warning: if name= reaches VNX images only */
	assert_int_equal(d->nwarnings, 1);
	assert_true(diag_contains(d, DIAG_WARNING, "name=\"e0/0\": given to VNX images"));
	assert_string_equal(s->basedir, "/srv/lab");
	v = scenario_vm(s, "a");
	f = vm_if(v, 0);
	assert_string_equal(f->name, "e0/0");
	assert_int_equal(f->dns->len, 2);
	assert_string_equal(g_ptr_array_index(f->dns, 0), "10.0.0.53");
	assert_string_equal(g_ptr_array_index(f->dns, 1), "2001:db8::53");
	f = vm_if(v, 1);
	assert_null(f->name);
	assert_true(f->dns == NULL || f->dns->len == 0);
	ft = g_ptr_array_index(v->filetrees, 0);
	assert_string_equal(ft->user, "www-data");
	assert_string_equal(ft->group, "adm");
	assert_string_equal(ft->perms, "644");
	ft = g_ptr_array_index(v->filetrees, 1);
	assert_null(ft->user);
	assert_null(ft->group);
	assert_null(ft->perms);
	ex = g_ptr_array_index(v->execs, 0);
	assert_string_equal(ex->text, "ls\npwd");
	assert_string_equal(ex->raw, "\n   ls\n   pwd\n  ");
}

static void
test_tutorial_lxc_values(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) s = load(EX "vnx/tutorial_lxc_ubuntu.xml", d, &valid);
	const sc_vm *r1, *h1, *h3;
	const sc_route *rt;
	const sc_if *hif;
	g_autoptr(GPtrArray) seqs = g_ptr_array_new();

	(void)state;
	assert_true(valid);
	/* only what nube does not do: the host's interface and routes */
	assert_int_equal(d->items->len, 3);
	expect(d, DIAG_WARNING, "tutorial_lxc_ubuntu.xml", 151, "host: <hostif net=\"Net3\">: ignored");
	expect(d, DIAG_WARNING, "tutorial_lxc_ubuntu.xml", 155, "host: <route>: ignored");
	expect(d, DIAG_WARNING, "tutorial_lxc_ubuntu.xml", 156, "host: <route>: ignored");
	assert_string_equal(s->name, "tutorial_lxc_ubuntu");
	assert_string_equal(s->version, "2.0");
	assert_true(s->automac);
	assert_int_equal(s->automac_offset, 0);
	assert_int_equal(s->mgmt.type, SC_MGMT_NONE);
	assert_int_equal(s->vms->len, 6);
	assert_int_equal(s->nets->len, 4);
	assert_int_equal(scenario_net_index(s, "Net3"), 3);
	assert_int_equal(scenario_vm_index(s, "nosuch"), -1);
	assert_null(scenario_vm(s, "nosuch"));

	h1 = scenario_vm(s, "h1");
	assert_non_null(h1);
	assert_string_equal(h1->type, "lxc");
	assert_int_equal(h1->mem_mib, SC_DEFAULT_MEM_MIB);
	assert_int_equal(h1->vcpu, SC_DEFAULT_VCPU);
	assert_string_equal(h1->filesystem, "/usr/share/vnx/filesystems/rootfs_lxc");
	assert_string_equal(h1->fs_type, "cow");
	assert_int_equal(vm_if(h1, 0)->ips->len, 2);
	assert_int_equal(if_ip(vm_if(h1, 0), 1)->family, 6);
	assert_string_equal(if_ip(vm_if(h1, 0), 1)->addr, "2001:db8:0::2");
	assert_int_equal(if_ip(vm_if(h1, 0), 1)->prefix, 64);

	r1 = scenario_vm(s, "r1");
	assert_non_null(r1);
	assert_int_equal(r1->line, 80);
	assert_int_equal(r1->ifs->len, 3);
	assert_int_equal(vm_if(r1, 2)->id, 3);
	assert_string_equal(vm_if(r1, 2)->net, "Net3");
	assert_string_equal(if_ip(vm_if(r1, 2), 0)->addr, "10.1.3.1");
	assert_int_equal(if_ip(vm_if(r1, 2), 0)->prefix, 24);
	assert_true(r1->fwd_ipv4 && r1->fwd_ipv6);
	assert_int_equal(r1->routes->len, 2);
	rt = g_ptr_array_index(r1->routes, 0);
	assert_int_equal(rt->family, 4);
	assert_string_equal(rt->dest, "10.1.2.0/24");
	assert_string_equal(rt->gw, "10.1.1.2");
	rt = g_ptr_array_index(r1->routes, 1);
	assert_int_equal(rt->family, 6);
	assert_string_equal(rt->dest, "2001:db8:2::/64");

	/* multi-line exec: indentation and blank first/last lines stripped */
	h3 = scenario_vm(s, "h3");
	assert_non_null(h3);
	assert_string_equal(vm_exec(h3, "start-www", 0)->text,
			"chmod 644 /var/www/html/*\nservice apache2 start");
	assert_string_equal(vm_exec(h3, "start-www", 0)->ostype, "system");
	assert_string_equal(vm_exec(h3, "stop-www", 0)->text, "service apache2 stop");
	assert_int_equal(h3->filetrees->len, 1);
	assert_string_equal(((sc_filetree *)g_ptr_array_index(h3->filetrees, 0))->root,
			"/var/www/html");

	/* cmd-seq expansion, nested three deep */
	assert_int_equal(scenario_expand_seq(s, "ls1234", seqs), 0);
	assert_int_equal(seqs->len, 4);
	for (guint i = 0; i < 4; i++) {
		g_autofree char *want = g_strdup_printf("ls%u", i + 1);

		assert_string_equal(g_ptr_array_index(seqs, i), want);
	}
	g_ptr_array_set_size(seqs, 0);
	assert_int_equal(scenario_expand_seq(s, "plain", seqs), 0);
	assert_int_equal(seqs->len, 1);
	assert_string_equal(g_ptr_array_index(seqs, 0), "plain");

	/* the host side */
	assert_int_equal(s->host_ifs->len, 1);
	hif = g_ptr_array_index(s->host_ifs, 0);
	assert_string_equal(hif->net, "Net3");
	assert_string_equal(if_ip(hif, 0)->addr, "10.1.3.2");
	assert_int_equal(s->host_routes->len, 2);
	assert_string_equal(((sc_route *)g_ptr_array_index(s->host_routes, 0))->dest,
			"10.1.0.0/16");
}

static void
test_other_examples_values(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) tu = load(EX "vnx/tutorial_ubuntu.xml", d, &valid);
	g_autoptr(scenario) su = load(EX "vnx/simple_ubuntu.xml", d, &valid);
	g_autoptr(scenario) ms = load(EX "vnx/multi_server.xml", d, &valid);
	g_autoptr(scenario) lab = load(EX "lab-tutorial.xml", d, &valid);
	const sc_vm *v;
	const sc_filetree *ft;
	const sc_net *n;

	(void)state;
	/* tutorial_ubuntu: <mem>512M</mem>, private management, filetree */
	assert_int_equal(scenario_vm(tu, "h1")->mem_mib, 512);
	assert_int_equal(scenario_vm(tu, "h2")->mem_mib, 128);
	assert_string_equal(scenario_vm(tu, "h1")->subtype, "kvm");
	assert_int_equal(tu->mgmt.type, SC_MGMT_PRIVATE);
	assert_string_equal(tu->mgmt.network, "10.250.0.0");
	assert_int_equal(tu->mgmt.mask, 24);
	assert_int_equal(tu->mgmt.offset, 200);
	ft = g_ptr_array_index(scenario_vm(tu, "h1")->filetrees, 0);
	assert_string_equal(ft->seq, "vnxtxt");
	assert_string_equal(ft->root, "/tmp/");
	assert_string_equal(ft->src, "conf/txtfile");
	assert_string_equal(vm_exec(scenario_vm(tu, "h1"), "vnxtxt", 1)->ostype, "xexec");

	/* simple_ubuntu: automac offset */
	assert_true(su->automac);
	assert_int_equal(su->automac_offset, 4);
	assert_int_equal(scenario_vm(su, "ubuntu")->mem_mib, 256);

	/* multi_server: dhcp, unmanaged net, arch, VM-level cmd-seq, long exec text */
	v = scenario_vm(ms, "mserver");
	assert_non_null(v);
	assert_string_equal(v->arch, "x86_64");
	assert_true(if_ip(vm_if(v, 1), 0)->dhcp);
	assert_null(if_ip(vm_if(v, 1), 0)->addr);
	n = scenario_net(ms, "virbr0");
	assert_non_null(n);
	assert_false(n->managed);
	assert_true(scenario_net(ms, "mserver_net")->managed);
	assert_int_equal(ms->automac_offset, 64);
	assert_int_equal(ms->cmdseqs->len, 2);
	assert_int_equal(((sc_cmdseq *)g_ptr_array_index(ms->cmdseqs, 0))->members->len, 4);
	assert_string_equal(vm_exec(v, "start-tftp", 0)->text,
			"# Files located in /var/lib/tftpboot/\n"
			"echo \"hello\" | sudo tee /var/lib/tftpboot/hello.txt\n"
			"systemctl start tftpd-hpa");
	/* stop-dhcp is named by stop-all but defined nowhere: a warning */
	expect(d, DIAG_WARNING, "multi_server.xml", 98, "'stop-dhcp'");

	/* lab-tutorial: vm_defaults mem and kernel+initrd reach every VM */
	for (guint i = 0; i < lab->vms->len; i++) {
		const sc_vm *lv = g_ptr_array_index(lab->vms, i);

		assert_int_equal(lv->mem_mib, 96);
		assert_string_equal(lv->kernel, "/var/lib/nube/guest/vmlinuz");
		assert_string_equal(lv->initrd, "/var/lib/nube/guest/initrd.img");
	}
	assert_string_equal(vm_exec(scenario_vm(lab, "h2"), "info", 0)->text,
			"hostname\nip addr show\nip route show");
}

#define VNX_HEAD "<vnx><global><scenario_name>m</scenario_name>"

static scenario *
mem_parse(const char *xml, diag *d)
{
	return scenario_parse_memory(xml, strlen(xml), "mem.xml", d);
}

/* <vm order>: VNX's start order — the ordered VMs first, by order, then the others in file
 * order; anything but digits is an error at the VM's line */
static void
test_vm_order(void **state)
{
	static const char xml[] = VNX_HEAD "</global>\n"
		"<vm name='a' type='libvirt'/>\n"
		"<vm name='b' type='libvirt' order='10'/>\n"
		"<vm name='c' type='libvirt'/>\n"
		"<vm name='d' type='libvirt' order=' 2 '/>\n"
		"<vm name='e' type='libvirt' order='10'/>\n"
		"<vm name='f' type='libvirt' order='0'/>\n"
		"</vnx>";
	static const char bad[] = VNX_HEAD "</global>\n"
		"<vm name='a' type='libvirt'/>\n"
		"<vm name='b' type='libvirt' order='first'/>\n"
		"</vnx>";
	static const char *const want[] = { "f", "d", "b", "e", "a", "c" };
	g_autoptr(diag) d = diag_new();
	g_autoptr(diag) d2 = diag_new();
	g_autoptr(scenario) s = mem_parse(xml, d);
	g_autoptr(scenario) s2 = mem_parse(bad, d2);
	g_autoptr(GPtrArray) vms = g_ptr_array_new();

	(void)state;
	assert_non_null(s);
	assert_false(diag_has_errors(d));
	for (guint i = 0; i < s->vms->len; i++)
		g_ptr_array_add(vms, g_ptr_array_index(s->vms, i));
	scenario_vms_start_sort(vms);
	for (guint i = 0; i < G_N_ELEMENTS(want); i++)
		assert_string_equal(((sc_vm *)g_ptr_array_index(vms, i))->name, want[i]);
	assert_false(scenario_vm(s, "a")->has_order);
	assert_int_equal(scenario_vm(s, "d")->order, 2);
	assert_true(diag_has_errors(d2));
	expect(d2, DIAG_ERROR, "mem.xml", 3, "order: 'first' is not an integer");
}

/* <on_boot>no</on_boot>: the VM is defined, not started; anything but yes/no is an error;
 * without <mem> a VM gets VNX's 256 MiB */
static void
test_on_boot(void **state)
{
	static const char xml[] = VNX_HEAD "</global>\n"
		"<vm name='a' type='libvirt'><on_boot>no</on_boot></vm>\n"
		"<vm name='b' type='libvirt'><on_boot> yes </on_boot></vm>\n"
		"<vm name='c' type='libvirt'/>\n"
		"</vnx>";
	static const char bad[] = VNX_HEAD "</global>\n"
		"<vm name='a' type='libvirt'><on_boot>later</on_boot></vm>\n"
		"</vnx>";
	g_autoptr(diag) d = diag_new();
	g_autoptr(diag) d2 = diag_new();
	g_autoptr(scenario) s = mem_parse(xml, d);
	g_autoptr(scenario) s2 = mem_parse(bad, d2);

	(void)state;
	assert_non_null(s);
	assert_false(diag_has_errors(d));
	assert_true(scenario_vm(s, "a")->no_start);
	assert_false(scenario_vm(s, "b")->no_start);
	assert_false(scenario_vm(s, "c")->no_start);
	assert_int_equal(scenario_vm(s, "c")->mem_mib, 256);
	assert_true(diag_has_errors(d2));
	expect(d2, DIAG_ERROR, "mem.xml", 2, "vm 'a': <on_boot> 'later': 'yes' or 'no' expected");
}

static void
test_mem_units_and_defaults(void **state)
{
	static const char xml[] = VNX_HEAD
		"<vm_defaults vcpu='2'><mem>200M</mem></vm_defaults></global>\n"
		"<vm name='a' type='libvirt'><mem>1G</mem></vm>\n"
		"<vm name='b' type='libvirt'><mem>262144K</mem></vm>\n"
		"<vm name='c' type='libvirt'><mem>262144</mem></vm>\n"
		"<vm name='d' type='libvirt'><mem>100000K</mem></vm>\n"
		"<vm name='e' type='libvirt' vcpu='4'><mem> 512 MB </mem></vm>\n"
		"<vm name='f' type='libvirt'><vcpu>3</vcpu></vm>\n"
		"</vnx>";
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = mem_parse(xml, d);

	(void)state;
	assert_non_null(s);
	assert_false(diag_has_errors(d));
	assert_int_equal(s->default_mem_mib, 200);
	assert_int_equal(s->default_vcpu, 2);
	assert_int_equal(scenario_vm(s, "a")->mem_mib, 1024);
	assert_int_equal(scenario_vm(s, "b")->mem_mib, 256);
	assert_int_equal(scenario_vm(s, "c")->mem_mib, 256);	/* VNX default unit: K */
	assert_int_equal(scenario_vm(s, "d")->mem_mib, 98);	/* rounded up */
	assert_int_equal(scenario_vm(s, "e")->mem_mib, 512);
	assert_int_equal(scenario_vm(s, "e")->vcpu, 4);
	assert_int_equal(scenario_vm(s, "f")->mem_mib, 200);
	assert_int_equal(scenario_vm(s, "f")->vcpu, 3);
	assert_int_equal(scenario_vm(s, "a")->vcpu, 2);
	assert_int_equal(scenario_vm(s, "a")->mem_line, 2);
}

static void
test_ip_forms_and_mgmt(void **state)
{
	static const char xml[] = VNX_HEAD
		"<vm_mgmt type='net' network='10.99.0.0' mask='16' offset='5'>"
		"<mgmt_net net='M'/></vm_mgmt></global>\n"
		"<net name='M' mode='openvswitch' vlan='12'/><net name='E' mode='virtual_bridge' external='eth1'/>\n"
		"<vm name='a' type='libvirt'><if id='1' net='M'>\n"
		"<mac>02:fd:00:00:01:01</mac>\n"
		"<ipv4 mask='255.255.0.0'>10.1.0.2</ipv4>\n"
		"<ipv4 mask='20'>10.2.0.2</ipv4>\n"
		"<ipv4>10.3.0.2</ipv4>\n"
		"<ipv6 mask='48'>2001:db8:5::2</ipv6>\n"
		"<ipv6>dhcp</ipv6>\n"
		"</if><forwarding type='ipv6'/></vm></vnx>";
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = mem_parse(xml, d);
	const sc_if *f;

	(void)state;
	assert_non_null(s);
	assert_true(scenario_validate(s, d));
	assert_false(diag_has_errors(d));
	assert_int_equal(s->mgmt.type, SC_MGMT_NET);
	assert_string_equal(s->mgmt.net, "M");
	assert_int_equal(s->mgmt.mask, 16);
	assert_int_equal(s->mgmt.offset, 5);
	assert_int_equal(scenario_net(s, "M")->mode, SC_NET_OPENVSWITCH);
	assert_int_equal(scenario_net(s, "M")->vlan, 12);
	assert_int_equal(scenario_net(s, "E")->vlan, -1);
	assert_string_equal(scenario_net(s, "E")->external, "eth1");
	f = vm_if(scenario_vm(s, "a"), 0);
	assert_string_equal(f->mac, "02:fd:00:00:01:01");
	assert_int_equal(if_ip(f, 0)->prefix, 16);
	assert_int_equal(if_ip(f, 1)->prefix, 20);
	assert_int_equal(if_ip(f, 2)->prefix, -1);
	assert_int_equal(if_ip(f, 3)->prefix, 48);
	assert_true(if_ip(f, 4)->dhcp);
	assert_false(scenario_vm(s, "a")->fwd_ipv4);
	assert_true(scenario_vm(s, "a")->fwd_ipv6);
}

/* ---- bad inputs: one test per class, exact file:line and message ---- */

static void
test_bad_malformed(void **state)
{
	g_autoptr(diag) d = diag_new();
	static const char trunc[] = "<vnx><global>";

	(void)state;
	assert_null(scenario_parse_file(BAD "malformed.xml", d));
	expect(d, DIAG_ERROR, "malformed.xml", 8, "Opening and ending tag mismatch: net line 6");
	assert_null(scenario_parse_file(BAD "not-vnx.xml", d));
	expect(d, DIAG_ERROR, "not-vnx.xml", 3, "root element is <scenario>");
	assert_null(scenario_parse_file(BAD "does-not-exist.xml", d));
	expect(d, DIAG_ERROR, "does-not-exist.xml", 0, "cannot read scenario");
	assert_null(scenario_parse_memory(trunc, sizeof(trunc) - 1, "trunc.xml", d));
	expect(d, DIAG_ERROR, "trunc.xml", 1, "Premature end of data");
	assert_null(scenario_parse_memory("", 0, "empty.xml", d));
	assert_true(diag_contains(d, DIAG_ERROR, "empty"));
}

static void
test_bad_no_name(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) s = load(BAD "no-name.xml", d, &valid);

	(void)state;
	assert_false(valid);
	expect(d, DIAG_ERROR, "no-name.xml", 3, "missing scenario_name");	/* at <global> */
}

static void
test_bad_dup_names(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) s = load(BAD "dup-names.xml", d, &valid);

	(void)state;
	assert_false(valid);
	expect(d, DIAG_ERROR, "dup-names.xml", 7, "duplicate net name 'Net0' (first at line 6)");
	expect(d, DIAG_ERROR, "dup-names.xml", 10, "duplicate vm name 'a' (first at line 8)");
	assert_int_equal(d->nerrors, 2);
}

/* the one name rule: good names and every way to break it, at its boundaries */
static void
test_name_rule(void **state)
{
	static const char *const good[] = { "a", "Z", "0", "_", "r1", "x-y", "x_y", "tutorial_lxc",
		"a-", "63charsxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" };
	static const struct { const char *name, *why; } bad[] = {
		{ "", "is empty" },
		{ "64charsxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		  "is longer than 63 characters" },
		{ "a/b", "contains '/'" },
		{ "/", "contains '/'" },
		{ "..", "contains '.'" },
		{ "../../tmp/x", "contains '/'" },
		{ "-a/b", "contains '/'" },
		{ "x.y", "contains '.' (it separates scenario and vm in domain names)" },
		{ "-x", "starts with '-'" },
		{ "a b", "contains whitespace" },
		{ "a\tb", "contains whitespace" },
		{ "a\nb", "contains whitespace" },
		{ "a\x01", "contains a control character" },
		{ "a\x7f", "contains a control character" },
		{ "a:b", "contains a character other than letters, digits, '_' and '-'" },
		{ "caf\xc3\xa9", "contains a character other than" },
		{ "a*", "contains a character other than" },
	};

	(void)state;
	assert_int_equal(strlen(good[G_N_ELEMENTS(good) - 1]), SC_NAME_MAX);
	assert_int_equal(strlen(bad[1].name), SC_NAME_MAX + 1);
	for (size_t i = 0; i < G_N_ELEMENTS(good); i++)
		if (sc_name_check(good[i]) != NULL)
			fail_msg("'%s' refused: %s", good[i], sc_name_check(good[i]));
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		const char *why = sc_name_check(bad[i].name);

		if (why == NULL || strstr(why, bad[i].why) == NULL)
			fail_msg("'%s': want '%s', got '%s'", bad[i].name, bad[i].why,
			    why != NULL ? why : "(accepted)");
	}
	assert_non_null(sc_name_check(NULL));
	/* host names also take '.', never '..' or a leading '.'/'-' */
	assert_null(sc_host_name_check("host1"));
	assert_null(sc_host_name_check("h2.example.org"));
	assert_null(sc_host_name_check("a_b-c"));
	assert_string_equal(sc_host_name_check(""), "is empty");
	assert_string_equal(sc_host_name_check(".."), "starts with '-' or '.'");
	assert_string_equal(sc_host_name_check("a..b"), "contains '..'");
	assert_string_equal(sc_host_name_check("a/b"), "contains '/'");
	assert_string_equal(sc_host_name_check("a b"), "contains whitespace");
	assert_string_equal(sc_host_name_check("-h"), "starts with '-' or '.'");
	assert_non_null(sc_host_name_check("h#"));
	assert_non_null(sc_host_name_check("h+"));
	assert_non_null(strstr(sc_host_name_check(
	    "h2345678901234567890123456789012345678901234567890123456789012345"), "longer than 64"));
	assert_null(sc_host_name_check(
	    "h234567890123456789012345678901234567890123456789012345678901234"));
}

/* names that break the rule are file:line errors of validate, every one of them */
static void
test_bad_names(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) s = load(BAD "bad-names.xml", d, &valid);

	(void)state;
	assert_false(valid);
	expect(d, DIAG_ERROR, "bad-names.xml", 4, "scenario_name '../../tmp/x' contains '/'");
	expect(d, DIAG_ERROR, "bad-names.xml", 6, "net name 'Net/0' contains '/'");
	expect(d, DIAG_ERROR, "bad-names.xml", 7, "net name 'net 1' contains whitespace");
	expect(d, DIAG_ERROR, "bad-names.xml", 8, "net name 'n.2' contains '.'");
	expect(d, DIAG_ERROR, "bad-names.xml", 9, "vm name 'r1.a' contains '.'");
	expect(d, DIAG_ERROR, "bad-names.xml", 10, "vm name '-r2' starts with '-'");
	expect(d, DIAG_ERROR, "bad-names.xml", 11, "is longer than 63 characters");
	expect(d, DIAG_ERROR, "bad-names.xml", 13, "vm name 'r\t5' contains whitespace");
	assert_int_equal(d->nerrors, 8);
}

/* host names of restrictions and cluster.conf follow the host name rule */
static void
test_bad_host_names(void **state)
{
	static const char xml[] = "<vnx><global><scenario_name>s</scenario_name></global>"
	    "<vm name='v' type='libvirt'/></vnx>";
	static const char rs[] = "<deployment_restrictions>\n<vm_deploy_at vm='v' host='../h'/>\n"
	    "</deployment_restrictions>";
	static const char conf[] = "[cluster]\nhost = h1\nhost = a..b\n\n[h1]\nmem = 1024\n"
	    "cpu = 1\n\n[a..b]\nmem = 1024\ncpu = 1\n";
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = mem_parse(xml, d);
	g_autoptr(restrictions) r = restrictions_parse_memory(rs, strlen(rs), "r.xml", d);
	g_autoptr(cluster) c = NULL;

	(void)state;
	assert_non_null(s);
	assert_non_null(r);
	assert_false(restrictions_validate(r, s, NULL, d));
	expect(d, DIAG_ERROR, "r.xml", 2, "vm_deploy_at: host name '../h' starts with '-' or '.'");
	c = cluster_parse_memory(conf, strlen(conf), "c.conf", d);
	expect(d, DIAG_ERROR, "c.conf", 3, "host name 'a..b' contains '..'");
}

/* a scenario without VMs would deploy nothing: an error, at the scenario name */
static void
test_no_vms(void **state)
{
	const char *xml = "<vnx><global><scenario_name>empty</scenario_name></global>\n"
	    "<net name='a' mode='virtual_bridge'/></vnx>";
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = mem_parse(xml, d);

	(void)state;
	assert_non_null(s);
	assert_false(scenario_validate(s, d));
	expect(d, DIAG_ERROR, "mem.xml", 1, "scenario 'empty' has no vm: nothing to deploy");
	assert_int_equal(d->nerrors, 1);
}

static void
test_bad_unknown_net(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) s = load(BAD "unknown-net.xml", d, &valid);

	(void)state;
	assert_false(valid);
	expect(d, DIAG_ERROR, "unknown-net.xml", 9, "interface 2 is on unknown net 'Net9'");
	expect(d, DIAG_ERROR, "unknown-net.xml", 12, "unknown net 'NetX'");
	assert_int_equal(d->nerrors, 2);
}

static void
test_bad_dup_if(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) s = load(BAD "dup-if.xml", d, &valid);

	(void)state;
	assert_false(valid);
	expect(d, DIAG_ERROR, "dup-if.xml", 10, "duplicate interface id 1 (first at line 9)");
	assert_int_equal(d->nerrors, 1);
}

static void
test_bad_dup_direct(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) s = load(BAD "dup-direct.xml", d, &valid);

	(void)state;
	assert_false(valid);
	expect(d, DIAG_ERROR, "dup-direct.xml", 11, "vm 'b': filesystem '/var/lib/images/router.qcow2' "
	    "(type \"direct\") is vm 'a''s too; a direct image has one user");
	assert_int_equal(d->nerrors, 1);
}

static void
test_bad_addresses(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) s = load(BAD "bad-addr.xml", d, &valid);

	(void)state;
	assert_false(valid);
	expect(d, DIAG_ERROR, "bad-addr.xml", 9, "'10.1.0.300' is not an IPv4 address");
	expect(d, DIAG_ERROR, "bad-addr.xml", 10, "'2001:db8::g' is not an IPv6 address");
	expect(d, DIAG_ERROR, "bad-addr.xml", 11, "bad IPv4 prefix '/33'");
	expect(d, DIAG_ERROR, "bad-addr.xml", 12, "bad IPv6 prefix '/129'");
	expect(d, DIAG_ERROR, "bad-addr.xml", 13, "bad netmask '255.0.255.0'");
	expect(d, DIAG_ERROR, "bad-addr.xml", 14, "'2001:db8::5' is not an IPv4 address");
}

static void
test_bad_dup_addr(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) s = load(BAD "dup-addr.xml", d, &valid);

	(void)state;
	assert_false(valid);
	expect(d, DIAG_ERROR, "dup-addr.xml", 15,
	    "address 10.1.0.2 is already used on net 'Net0' by vm 'a' (line 9)");
	/* written differently, same address */
	expect(d, DIAG_ERROR, "dup-addr.xml", 16,
	    "address 2001:db8::2 is already used on net 'Net0' by vm 'a'");
	expect(d, DIAG_ERROR, "dup-addr.xml", 21, "host: address 10.1.0.2 is already used");
	assert_int_equal(d->nerrors, 3);
}

static void
test_bad_routes(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) s = load(BAD "route-gw.xml", d, &valid);

	(void)state;
	assert_false(valid);
	expect(d, DIAG_ERROR, "route-gw.xml", 13, "gateway 10.9.0.1 is not on any subnet");
	expect(d, DIAG_ERROR, "route-gw.xml", 14, "gateway 2001:db9::1 is not on any subnet");
	expect(d, DIAG_ERROR, "route-gw.xml", 15, "destination '10.3.0.0/40'");
	expect(d, DIAG_ERROR, "route-gw.xml", 16, "gateway 'not-an-ip' is not an IPv4 address");
	/* line 12 (gateway on the subnet) and the dhcp VM's route (line 22) are fine */
	assert_int_equal(d->nerrors, 4);
}

static void
test_bad_cmdseq(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) s = load(BAD "cmdseq.xml", d, &valid);
	g_autoptr(GPtrArray) out = g_ptr_array_new();

	(void)state;
	assert_false(valid);
	expect(d, DIAG_ERROR, "cmdseq.xml", 7, "cmd-seq cycle: loop1 -> loop2 -> loop1");
	expect(d, DIAG_ERROR, "cmdseq.xml", 8, "cmd-seq cycle: self -> self");
	expect(d, DIAG_WARNING, "cmdseq.xml", 9, "'tow' is neither");
	assert_int_equal(d->nerrors, 2);
	assert_int_equal(scenario_expand_seq(s, "all", out), -1);
	assert_int_equal(scenario_expand_seq(s, "self", out), -1);
	g_ptr_array_set_size(out, 0);
	assert_int_equal(scenario_expand_seq(s, "typo", out), 0);
	assert_int_equal(out->len, 2);
}

/* cmd-seq nesting and expansion limits: only the cmd-seq crossing a limit is reported */
static void
test_bad_cmdseq_limits(void **state)
{
	GString *x = g_string_new(VNX_HEAD "\n");
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = NULL;
	g_autoptr(GPtrArray) out = g_ptr_array_new();
	int deep_line = 0, wide_line = 0;

	(void)state;
	/* line k+2: d<k> -> d<k+1>; d69 -> leaf: d(69-j) nests j+1 levels, d5 has 65 */
	for (int k = 0; k < 70; k++) {
		if (k < 69)
			g_string_append_printf(x, "<cmd-seq seq='d%d'>d%d</cmd-seq>\n", k, k + 1);
		else
			g_string_append(x, "<cmd-seq seq='d69'>leaf</cmd-seq>\n");
		if (k == 5)
			deep_line = k + 2;
	}
	/* w<k> = w<k-1>,w<k-1>: w13 expands to 16384 > 10000 */
	g_string_append(x, "<cmd-seq seq='w0'>leaf,leaf</cmd-seq>\n");
	for (int k = 1; k < 16; k++) {
		g_string_append_printf(x, "<cmd-seq seq='w%d'>w%d,w%d</cmd-seq>\n", k, k - 1, k - 1);
		if (k == 13)
			wide_line = 72 + k;
	}
	g_string_append(x, "</global><vm name='a' type='libvirt'>"
			"<exec seq='leaf' type='verbatim'>true</exec></vm></vnx>");
	s = scenario_parse_memory(x->str, x->len, "limits.xml", d);
	g_string_free(x, TRUE);
	assert_non_null(s);
	assert_false(scenario_validate(s, d));
	expect(d, DIAG_ERROR, "limits.xml", deep_line, "cmd-seq 'd5' nests more than 64 levels");
	expect(d, DIAG_ERROR, "limits.xml", wide_line, "cmd-seq 'w13' expands to more than 10000");
	assert_int_equal(d->nerrors, 2);
	assert_int_equal(scenario_expand_seq(s, "d0", out), -1);
	assert_int_equal(scenario_expand_seq(s, "w15", out), -1);
	assert_int_equal(out->len, 0);
	assert_int_equal(scenario_expand_seq(s, "d6", out), 0);
	assert_int_equal(out->len, 1);
	assert_int_equal(scenario_expand_seq(s, "w12", out), 0);
	assert_int_equal(out->len, 1 + 8192);
}

/* issue 11, "accept what VNX accepts": what VNX's CheckSemantics takes must validate, with
 * the reserved nets kept out of vm->ifs (no bridge, no plan sees them) */
static void
test_vnx_accepts(void **state)
{
	static const char xml[] = VNX_HEAD
		"<vm_mgmt type='net'><mgmt_net net='virbr0' managed='no' config='dhcp'/></vm_mgmt>"
		"</global>\n"
		"<net name='A' mode='virtual_bridge' vlan='' external=''/>\n"		/* 2 */
		"<net name='B' mode='virtual_bridge'/>\n"					/* 3 */
		"<net name='P' mode='veth' type='p2p'/>\n"					/* 4 */
		"<net name='U' mode='uml_switch'/>\n"					/* 5 */
		"<vm name='r' type='libvirt' os='linux'>\n"					/* 6 */
		"<if id='0' net='vm_mgmt'/>\n"						/* 7 */
		"<if id='1' net='A'><ipv4>10.0.0.1/24</ipv4></if>\n"			/* 8 */
		"<if id='1' net='lo'><ipv4>10.9.9.1/32</ipv4></if>\n"			/* 9 */
		"<if id='2' net='B'><ipv4>10.0.0.1/24</ipv4></if>\n"			/* 10 */
		"<if id='3' net='unconnected'/>\n"						/* 11 */
		"<if id='4' net='P'/><if id='5' net='U'/>\n"				/* 12 */
		"<exec seq='on_boot, start' type='verbatim'>echo hi</exec>\n"		/* 13 */
		"<filetree seq='start,stop' root='/tmp'>conf</filetree>\n"			/* 14 */
		"</vm>\n"
		"<vm name='w' type='libvirt' os='win'>\n"					/* 16 */
		"<if id='1' net='P'/>\n"
		"<filetree seq='on_boot' root='c:\\temp'>conf</filetree>\n"		/* 18 */
		"</vm>\n"
		"<host><exec seq='hostseq' type='verbatim'>true</exec></host>\n"		/* 20 */
		"<global><cmd-seq seq='all'>start,hostseq</cmd-seq></global>\n"
		"</vnx>";
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = mem_parse(xml, d);
	const sc_vm *r;
	const sc_net *a;

	(void)state;
	assert_non_null(s);
	if (!scenario_validate(s, d) || diag_has_errors(d)) {
		diag_print(d, stderr);
		fail_msg("a scenario VNX accepts was refused");
	}
	r = scenario_vm(s, "r");
	/* only declared nets in ifs; the reserved ones beside them */
	assert_int_equal(r->ifs->len, 4);
	for (guint i = 0; i < r->ifs->len; i++)
		assert_non_null(scenario_net(s, vm_if(r, i)->net));
	assert_int_equal(r->reserved_ifs->len, 3);
	assert_string_equal(((sc_if *)g_ptr_array_index(r->reserved_ifs, 0))->net, "vm_mgmt");
	assert_string_equal(((sc_if *)g_ptr_array_index(r->reserved_ifs, 1))->net, "lo");
	assert_string_equal(((sc_if *)g_ptr_array_index(r->reserved_ifs, 2))->net, "unconnected");
	/* empty attributes are absent ones */
	a = scenario_net(s, "A");
	assert_int_equal(a->vlan, -1);
	assert_null(a->external);
	assert_true(scenario_net(s, "P")->p2p);
	assert_int_equal(scenario_net(s, "P")->mode, SC_NET_VETH);
	assert_int_equal(scenario_net(s, "U")->mode, SC_NET_UML_SWITCH);
	/* seq lists are split, one entry per seq, in file order */
	assert_int_equal(r->execs->len, 2);
	assert_string_equal(vm_exec(r, "on_boot", 0)->text, "echo hi");
	assert_string_equal(vm_exec(r, "start", 0)->text, "echo hi");
	assert_int_equal(r->filetrees->len, 2);
	assert_string_equal(((sc_filetree *)g_ptr_array_index(r->filetrees, 1))->seq, "stop");
	/* a host exec's seq is a defined one: no warning on cmd-seq 'all' */
	assert_false(diag_contains(d, DIAG_WARNING, "neither an exec/filetree"));
	assert_int_equal(s->host_execs->len, 1);
	/* the management net is an existing host bridge */
	assert_int_equal(s->mgmt.type, SC_MGMT_NET);
	assert_string_equal(s->mgmt.net, "virbr0");
	assert_false(s->mgmt.net_managed);
	/* VNX's default memory */
	assert_int_equal(r->mem_mib, 256);
	/* what runs differently is said */
	expect(d, DIAG_WARNING, "mem.xml", 4, "mode veth runs as a Linux bridge with two ports");
	expect(d, DIAG_WARNING, "mem.xml", 5, "mode uml_switch runs as a Linux bridge");
}

/* the defects next to those: still refused, at their line */
static void
test_vnx_defects_kept(void **state)
{
	static const char xml[] = VNX_HEAD "</global>\n"
		"<net name='A' mode='virtual_bridge'/>\n"					/* 2 */
		"<net name='P' mode='veth' type='p2p'/>\n"					/* 3 */
		"<net name='lo' mode='virtual_bridge'/>\n"					/* 4 */
		"<vm name='r' type='libvirt' os='linux'>\n"					/* 5 */
		"<if id='1' net='A'><ipv4>10.0.0.1/24</ipv4></if>\n"			/* 6 */
		"<if id='2' net='lo'><mac>02:00:00:00:00:09</mac></if>\n"			/* 7 */
		"<if id='3' net='P'/>\n"							/* 8 */
		"<filetree seq='on_boot' root='c:\\temp'>conf</filetree>\n"		/* 9 */
		"<if id='4' net='Nope'/>\n"							/* 10 */
		"<route type='ipv4' gw='10.0.1.1'>default</route>\n"			/* 11 */
		"</vm>\n"
		"<vm name='s' type='libvirt'><if id='1' net='A'><ipv4>10.0.0.1/24</ipv4></if>"
		"<if id='2' net='P'/><if id='3' net='P'/></vm>\n"				/* 13 */
		"</vnx>";
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = mem_parse(xml, d);

	(void)state;
	assert_non_null(s);
	assert_false(scenario_validate(s, d));
	expect(d, DIAG_ERROR, "mem.xml", 3, "net 'P': a p2p net joins exactly two interfaces, not 3");
	expect(d, DIAG_ERROR, "mem.xml", 4, "net name 'lo' is reserved");
	expect(d, DIAG_ERROR, "mem.xml", 7, "<if net=\"lo\"> cannot have a <mac>");
	expect(d, DIAG_ERROR, "mem.xml", 9, "filetree root 'c:\\temp' is not an absolute path");
	expect(d, DIAG_ERROR, "mem.xml", 10, "interface 4 is on unknown net 'Nope'");
	expect(d, DIAG_ERROR, "mem.xml", 11, "route gateway 10.0.1.1 is not on any subnet");
	expect(d, DIAG_ERROR, "mem.xml", 13, "address 10.0.0.1 is already used on net 'A' by vm 'r'");
	assert_int_equal(d->nerrors, 7);
}

/* scenario_features: one row per construct used, in the table's order, with its count and
 * first line; warned constructs are warned at each use */
static void
test_features(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) s = load(BAD "vnx-constructs.xml", d, &valid);
	g_autoptr(GArray) fs = NULL;
	const sc_feature *first, *shaping = NULL, *conf = NULL;

	(void)state;
	assert_true(valid);
	fs = scenario_features(s);
	assert_int_equal(fs->len, 43);	/* the fixture uses every construct */
	first = &g_array_index(fs, sc_feature, 0);
	assert_string_equal(first->construct, SC_F_NET_BRIDGE);
	assert_int_equal(first->support, SC_SUPPORT_DONE);
	assert_int_equal(first->count, 3);
	assert_int_equal(first->first_line, 18);
	for (guint i = 0; i < fs->len; i++) {
		const sc_feature *f = &g_array_index(fs, sc_feature, i);

		assert_true(f->count > 0);
		if (strcmp(f->construct, SC_F_SHAPING) == 0)
			shaping = f;
		if (strcmp(f->construct, SC_F_ROUTER_CONF) == 0)
			conf = f;
	}
	assert_non_null(shaping);
	assert_int_equal(shaping->support, SC_SUPPORT_IGNORED);
	assert_non_null(conf);
	assert_int_equal(conf->count, 2);		/* <dynamips_ext> and r2's <conf> */
	assert_int_equal(conf->first_line, 12);
	expect(d, DIAG_WARNING, "vnx-constructs.xml", 12, "<dynamips_ext>: ignored");
	expect(d, DIAG_WARNING, "vnx-constructs.xml", 37, "vm 'r2': <conf>: ignored");
	/* implemented constructs and the ones with no effect are not warned */
	assert_false(diag_contains(d, DIAG_WARNING, "<console>"));
	assert_false(diag_contains(d, DIAG_WARNING, "<help>"));
}

static void
test_bad_mgmt_and_mac(void **state)
{
	static const char xml[] = VNX_HEAD
		"<vm_mgmt type='net' net='no/such'/></global>\n"
		"<net name='N' mode='virtual_bridge'/>\n"
		"<vm name='a' type='libvirt'><if id='0' net='N'><mac>02:00:00:00:00:01</mac></if></vm>\n"
		"<vm name='b' type='libvirt'><if id='1' net='N'><mac>02:00:00:00:00:1</mac></if></vm>\n"
		"<vm name='c' type='libvirt'><if id='1' net='N'><mac>zz:00</mac></if></vm>\n"
		"<net name='U' mode='veth'/>\n"
		"</vnx>";
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = mem_parse(xml, d);

	(void)state;
	assert_non_null(s);
	assert_false(scenario_validate(s, d));
	expect(d, DIAG_ERROR, "mem.xml", 1, "vm_mgmt net 'no/such' contains '/'");
	expect(d, DIAG_ERROR, "mem.xml", 3, "interface id 0 is reserved for the management");
	/* the same MAC written without the leading zero */
	expect(d, DIAG_ERROR, "mem.xml", 4, "MAC 02:00:00:00:00:1 is already used by vm 'a'");
	expect(d, DIAG_ERROR, "mem.xml", 5, "'zz:00' is not a MAC address");
	expect(d, DIAG_ERROR, "mem.xml", 6, "net 'U': mode veth needs type=\"p2p\"");
	assert_int_equal(d->nerrors, 5);
}

static void
test_bad_limits(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) s = load(BAD "limits.xml", d, &valid);

	(void)state;
	assert_false(valid);
	expect(d, DIAG_ERROR, "limits.xml", 7, "vm 'tiny': memory 8 MiB is out of range");
	expect(d, DIAG_ERROR, "limits.xml", 10, "vm 'huge': memory 2097152 MiB is out of range");
	expect(d, DIAG_ERROR, "limits.xml", 9, "vm 'huge': vcpu 1000 is out of range 1..256");
	expect(d, DIAG_ERROR, "limits.xml", 12, "vm 'zero': vcpu 0 is out of range");
	expect(d, DIAG_ERROR, "limits.xml", 13, "vcpu: 'two' is not an integer");
	expect(d, DIAG_ERROR, "limits.xml", 14, "bad memory size 'lots'");
}

static void
test_unknown_is_warning(void **state)
{
	g_autoptr(diag) d = diag_new();
	bool valid;
	g_autoptr(scenario) s = load(BAD "unknown-elem.xml", d, &valid);

	(void)state;
	assert_true(valid);
	assert_false(diag_has_errors(d));
	expect(d, DIAG_WARNING, "unknown-elem.xml", 5, "unknown element <frobnicate> in <global>");
	expect(d, DIAG_WARNING, "unknown-elem.xml", 7, "unknown attribute 'color' on <net>");
	expect(d, DIAG_WARNING, "unknown-elem.xml", 9, "unknown element <gpu> in <vm>");
	assert_int_equal(scenario_vm(s, "a")->ifs->len, 1);
}

/* golden: every problem of all-errors.xml, in order, exactly as the CLI prints them */
static void
test_golden_all_errors(void **state)
{
	g_autofree char *buf = NULL, *want = NULL, *got = NULL;
	gsize len = 0, glen = 0;
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = NULL;
	FILE *fp;

	(void)state;
	assert_true(g_file_get_contents(BAD "all-errors.xml", &buf, &len, NULL));
	assert_true(g_file_get_contents(BAD "all-errors.ok", &want, NULL, NULL));
	s = scenario_parse_memory(buf, len, "all-errors.xml", d);
	assert_non_null(s);
	assert_false(scenario_validate(s, d));
	fp = open_memstream(&got, &glen);
	assert_non_null(fp);
	diag_print(d, fp);
	fclose(fp);
	if (strcmp(got, want) != 0)
		fprintf(stderr, "got:\n%s\nwant:\n%s\n", got, want);
	assert_string_equal(got, want);
}

/* ---- restrictions ---- */

static void
rs_setup(scenario **s, cluster **c, diag *d)
{
	*s = scenario_parse_file(EX "lab-tutorial.xml", d);
	*c = cluster_parse_file(EX "cluster.conf", d);
	assert_non_null(*s);
	assert_non_null(*c);
}

static void
test_restrictions_example(void **state)
{
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = NULL;
	g_autoptr(cluster) c = NULL;
	g_autoptr(restrictions) r = NULL;
	const rs_at *at;
	const rs_group *g;

	(void)state;
	rs_setup(&s, &c, d);
	r = restrictions_parse_file(EX "restrictions.xml", d);
	assert_non_null(r);
	assert_true(restrictions_validate(r, s, c, d));
	assert_int_equal(d->items->len, 0);
	assert_int_equal(r->vm_at->len, 1);
	at = g_ptr_array_index(r->vm_at, 0);
	assert_string_equal(at->what, "h1");
	assert_string_equal(at->host, "host1");
	assert_int_equal(at->line, 6);
	assert_int_equal(r->net_at->len, 1);
	assert_int_equal(r->affinity->len, 1);
	g = g_ptr_array_index(r->affinity, 0);
	assert_int_equal(g->names->len, 2);
	assert_string_equal(g_ptr_array_index(g->names, 1), "h2");
	assert_int_equal(r->antiaffinity->len, 1);
	assert_int_equal(r->net_together->len, 1);
	g = g_ptr_array_index(r->net_together, 0);
	assert_string_equal(g_ptr_array_index(g->names, 0), "Net2");
	/* without a cluster the hosts are not checked */
	assert_true(restrictions_validate(r, s, NULL, d));

	/* an empty set is valid */
	restrictions_free(r);
	r = restrictions_new();
	assert_true(restrictions_validate(r, s, c, d));
}

static void
rs_check(const char *file, diag *d)
{
	g_autoptr(scenario) s = NULL;
	g_autoptr(cluster) c = NULL;
	g_autoptr(restrictions) r = NULL;
	g_autofree char *path = g_strconcat(BAD, file, NULL);

	rs_setup(&s, &c, d);
	r = restrictions_parse_file(path, d);
	assert_non_null(r);
	assert_false(restrictions_validate(r, s, c, d));
}

static void
test_restrictions_unknown_names(void **state)
{
	g_autoptr(diag) d = diag_new();

	(void)state;
	rs_check("restrict-unknown.xml", d);
	expect(d, DIAG_ERROR, "restrict-unknown.xml", 3, "unknown vm 'nosuchvm'");
	expect(d, DIAG_ERROR, "restrict-unknown.xml", 4, "unknown host 'host9'");
	expect(d, DIAG_ERROR, "restrict-unknown.xml", 5, "unknown net 'NetZ'");
	expect(d, DIAG_ERROR, "restrict-unknown.xml", 6, "affinity names unknown vm 'ghost'");
	expect(d, DIAG_ERROR, "restrict-unknown.xml", 10, "antiaffinity names unknown vm 'phantom'");
	expect(d, DIAG_ERROR, "restrict-unknown.xml", 14, "unknown net 'NetQ'");
	expect(d, DIAG_WARNING, "restrict-unknown.xml", 15, "unknown element <vm_deploy_where>");
	assert_int_equal(d->nerrors, 6);
}

static void
test_restrictions_affinity_vs_anti(void **state)
{
	g_autoptr(diag) d = diag_new();

	(void)state;
	/* h1-h2 and h2-r1 merge: h1 and r1 are together, so they cannot be apart */
	rs_check("restrict-aff-anti.xml", d);
	expect(d, DIAG_ERROR, "restrict-aff-anti.xml", 11, "vms 'h1' and 'r1' must be apart");
	assert_int_equal(d->nerrors, 1);
}

static void
test_restrictions_group_two_hosts(void **state)
{
	g_autoptr(diag) d = diag_new();

	(void)state;
	rs_check("restrict-pins.xml", d);
	expect(d, DIAG_ERROR, "restrict-pins.xml", 13,
			"conflicting hosts: vm 'r1' wants 'host2' but vm 'h1' (line 12) wants 'host1'");
	assert_int_equal(d->nerrors, 1);
}

static void
test_restrictions_net_together(void **state)
{
	g_autoptr(diag) d = diag_new();

	(void)state;
	rs_check("restrict-net.xml", d);
	expect(d, DIAG_ERROR, "restrict-net.xml", 5,
			"net 'Net2' (net_deploy_together) wants 'host3' but vm 'h3' (line 6) wants 'host1'");
	assert_int_equal(d->nerrors, 1);
}

static void
test_restrictions_anti_pinned(void **state)
{
	g_autoptr(diag) d = diag_new();

	(void)state;
	rs_check("restrict-anti-pinned.xml", d);
	/* r2 is pinned through Net2 (together) with h3 on host2, like r1 */
	expect(d, DIAG_ERROR, "restrict-anti-pinned.xml", 6,
			"anti-affine vms 'r1' and 'r2' are both pinned to host 'host2'");
	expect(d, DIAG_ERROR, "restrict-anti-pinned.xml", 11,
			"vm 'h4' is pinned to both 'host2' (line 10) and 'host3'");
	assert_int_equal(d->nerrors, 3);
}

static void
test_restrictions_malformed(void **state)
{
	static const char bad[] = "<deployment_restrictions>\n<vm_deploy_at vm='a'/>\n"
		"</deployment_restrictions>";
	static const char broken[] = "<deployment_restrictions>\n<affinity>\n</deployment_restrictions>";
	g_autoptr(diag) d = diag_new();
	g_autoptr(restrictions) r = restrictions_parse_memory(bad, strlen(bad), "r.xml", d);

	(void)state;
	assert_non_null(r);
	expect(d, DIAG_ERROR, "r.xml", 2, "<vm_deploy_at> needs vm= and host=");
	assert_int_equal(r->vm_at->len, 0);
	assert_null(restrictions_parse_memory(broken, strlen(broken), "b.xml", d));
	expect(d, DIAG_ERROR, "b.xml", 3, "mismatch");
	assert_null(restrictions_parse_memory("<vnx/>", 6, "v.xml", d));
	expect(d, DIAG_ERROR, "v.xml", 1, "not a restrictions file");
}

/* ---- cluster.conf ---- */

static void
test_cluster_examples(void **state)
{
	g_autoptr(diag) d = diag_new();
	g_autoptr(cluster) c = cluster_parse_file(EX "cluster.conf", d);
	g_autoptr(cluster) big = cluster_parse_file(EX "cluster-100.conf", d);
	const cl_host *h;

	(void)state;
	assert_non_null(c);
	assert_int_equal(d->items->len, 0);
	assert_int_equal(c->hosts->len, 3);
	for (guint i = 0; i < 3; i++) {
		g_autofree char *want = g_strdup_printf("host%u", i + 1);

		h = g_ptr_array_index(c->hosts, i);
		assert_string_equal(h->name, want);
		assert_int_equal(h->mem_mib, 2048);
		assert_true(h->cpu == 1.0);
		assert_int_equal(h->max_vms, 0);
		assert_true(h->online);
	}
	h = g_ptr_array_index(c->hosts, 1);
	assert_int_equal(h->line, 19);
	assert_non_null(big);
	assert_int_equal(big->hosts->len, 100);
	h = g_ptr_array_index(big->hosts, 99);
	assert_string_equal(h->name, "host100");
	assert_true(h->load >= 0 && h->load <= 0.5);
}

static void
test_cluster_lists(void **state)
{
	static const char ini[] = "[db]\ntype = mysql\n\n[cluster]\nhost = b, a\nhost = c\n"
		"mgmt_network = 10.250.0.0\n\n"
		"[a]\nhost_name = 10.0.0.1\nmem = 1024\ncpu = 2.5\nmax_vms = 7\nload = 0.25\n"
		"[b]\nmem = 512\ncpu = 1\n[c]\nmem = 256\ncpu = 4\nifname = eth1\n";
	g_autoptr(diag) d = diag_new();
	g_autoptr(cluster) c = cluster_parse_memory(ini, strlen(ini), "c.conf", d);
	const cl_host *a;

	(void)state;
	assert_non_null(c);
	assert_int_equal(d->items->len, 0);
	assert_int_equal(c->hosts->len, 3);
	assert_string_equal(((cl_host *)g_ptr_array_index(c->hosts, 0))->name, "b");
	assert_string_equal(((cl_host *)g_ptr_array_index(c->hosts, 0))->host_name, "b");
	a = g_ptr_array_index(c->hosts, 1);
	assert_string_equal(a->name, "a");
	assert_string_equal(a->host_name, "10.0.0.1");
	assert_int_equal(a->mem_mib, 1024);
	assert_true(a->cpu == 2.5);
	assert_int_equal(a->max_vms, 7);
	assert_true(a->load == 0.25);
	assert_int_equal(a->line, 9);
	assert_string_equal(((cl_host *)g_ptr_array_index(c->hosts, 2))->name, "c");
}

static void
test_cluster_bad(void **state)
{
	g_autoptr(diag) d = diag_new();
	g_autoptr(cluster) ns = cluster_parse_file(BAD "cluster-nosection.conf", d);
	g_autoptr(cluster) vals = cluster_parse_file(BAD "cluster-values.conf", d);
	g_autoptr(cluster) syn = cluster_parse_file(BAD "cluster-syntax.conf", d);
	g_autoptr(scenario) s = scenario_parse_file(EX "lab-tutorial.xml", d);
	g_autoptr(restrictions) r = restrictions_parse_file(EX "restrictions.xml", d);

	(void)state;
	assert_non_null(ns);
	assert_int_equal(ns->hosts->len, 2);
	expect(d, DIAG_ERROR, "cluster-nosection.conf", 4, "host 'host3' is listed in [cluster] but has no [host3]");
	expect(d, DIAG_ERROR, "cluster-nosection.conf", 5, "host 'host2' is listed twice");
	assert_non_null(vals);
	expect(d, DIAG_ERROR, "cluster-values.conf", 6, "[a] mem = 'lots' is not a number");
	expect(d, DIAG_ERROR, "cluster-values.conf", 8, "[a] max_vms = '-1'");
	expect(d, DIAG_ERROR, "cluster-values.conf", 9, "[a] load = '1.5' is not a number in 0..1");
	expect(d, DIAG_WARNING, "cluster-values.conf", 10, "unknown key 'colour' in [a]");
	expect(d, DIAG_ERROR, "cluster-values.conf", 12, "[b] has no mem");
	expect(d, DIAG_ERROR, "cluster-values.conf", 12, "[b] has no cpu");
	assert_null(syn);
	expect(d, DIAG_ERROR, "cluster-syntax.conf", 3, "'this line has no equals sign' is not a key = value line");
	assert_null(cluster_parse_file(BAD "no-such.conf", d));
	expect(d, DIAG_ERROR, "no-such.conf", 0, "cannot read cluster file");
	/* restrictions.xml pins to host1 and host3: host3 is missing from that cluster */
	assert_non_null(s);
	assert_non_null(r);
	assert_false(restrictions_validate(r, s, ns, d));
	expect(d, DIAG_ERROR, "restrictions.xml", 12, "net_deploy_at names unknown host 'host3'");
}

static void
test_free_null(void **state)
{
	(void)state;
	scenario_free(NULL);
	restrictions_free(NULL);
	cluster_free(NULL);
	assert_null(scenario_vm(NULL, "a"));
	assert_int_equal(scenario_net_index(NULL, "a"), -1);
	assert_false(scenario_validate(NULL, NULL));
}

/* features nube does not implement are warnings, never silent and never errors */
static void
test_unsupported_net_features_warn(void **state)
{
	(void)state;
	const char *xml = "<vnx><global><scenario_name>w</scenario_name></global>"
	    "<net name='a' mode='openvswitch'/>"
	    "<net name='b' mode='virtual_bridge' vlan='10'/>"
	    "<net name='c' mode='virtual_bridge' external='eth9'/>"
	    "<net name='d' mode='virtual_bridge'/><vm name='v' type='libvirt'/></vnx>";
	g_autoptr(diag) d = diag_new();
	g_autoptr(scenario) s = mem_parse(xml, d);

	assert_non_null(s);
	assert_true(scenario_validate(s, d));
	assert_true(diag_contains(d, DIAG_WARNING, "net 'a': mode openvswitch runs as a Linux bridge"));
	assert_true(diag_contains(d, DIAG_WARNING, "net 'b': vlan 10 is ignored"));
	assert_true(diag_contains(d, DIAG_WARNING, "net 'c': external interface 'eth9' is not attached"));
	assert_false(diag_contains(d, DIAG_WARNING, "net 'd'"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_examples_parse_clean),
		cmocka_unit_test(test_shared_vnx),
		cmocka_unit_test(test_tutorial_lxc_values),
		cmocka_unit_test(test_guest_fields),
		cmocka_unit_test(test_other_examples_values),
		cmocka_unit_test(test_mem_units_and_defaults),
		cmocka_unit_test(test_ip_forms_and_mgmt),
		cmocka_unit_test(test_bad_malformed),
		cmocka_unit_test(test_bad_no_name),
		cmocka_unit_test(test_bad_dup_names),
		cmocka_unit_test(test_bad_unknown_net),
		cmocka_unit_test(test_bad_dup_if),
		cmocka_unit_test(test_bad_dup_direct),
		cmocka_unit_test(test_on_boot),
		cmocka_unit_test(test_vm_order),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_bad_dup_addr),
		cmocka_unit_test(test_bad_routes),
		cmocka_unit_test(test_bad_cmdseq),
		cmocka_unit_test(test_bad_cmdseq_limits),
		cmocka_unit_test(test_bad_mgmt_and_mac),
		cmocka_unit_test(test_bad_limits),
		cmocka_unit_test(test_unknown_is_warning),
		cmocka_unit_test(test_golden_all_errors),
		cmocka_unit_test(test_vnx_accepts),
		cmocka_unit_test(test_vnx_defects_kept),
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_restrictions_example),
		cmocka_unit_test(test_restrictions_unknown_names),
		cmocka_unit_test(test_restrictions_affinity_vs_anti),
		cmocka_unit_test(test_restrictions_group_two_hosts),
		cmocka_unit_test(test_restrictions_net_together),
		cmocka_unit_test(test_restrictions_anti_pinned),
		cmocka_unit_test(test_restrictions_malformed),
		cmocka_unit_test(test_cluster_examples),
		cmocka_unit_test(test_cluster_lists),
		cmocka_unit_test(test_cluster_bad),
		cmocka_unit_test(test_free_null),
		cmocka_unit_test(test_unsupported_net_features_warn),
		cmocka_unit_test(test_name_rule),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_bad_host_names),
		cmocka_unit_test(test_no_vms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
