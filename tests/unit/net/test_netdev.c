/* unit tests of netdev in a fresh private network namespace (needs root): bridge, vxlan, fdb
 * sync, idempotence, foreign-link refusal, list, remove; checked with iproute2's own JSON */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "net/netdev.h"
#include "wire/deployment.h"

#define SC "lab"
#define LOCAL "10.99.0.1"

/* run a command, fail the test on a non-zero exit; returns its stdout (g_free) */
static char *run(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static char *run(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	char *out = NULL, *errout = NULL;
	int status = 0;
	GError *e = NULL;

	if (!g_spawn_command_line_sync(cmd, &out, &errout, &status, &e))
		fail_msg("spawn '%s': %s", cmd, e->message);
	if (!g_spawn_check_wait_status(status, NULL))
		fail_msg("'%s' failed: %s", cmd, errout);
	g_free(errout);
	return out;
}

/* `ip -j -d link show dev name` as a json object, NULL when the link does not exist */
static json_t *link_json(const char *name)
{
	g_autofree char *cmd = g_strdup_printf("ip -j -d link show dev %s", name);
	char *out = NULL;
	g_autofree char *errout = NULL;
	int status = 0;

	if (!g_spawn_command_line_sync(cmd, &out, &errout, &status, NULL) ||
	    !g_spawn_check_wait_status(status, NULL)) {
		g_free(out);
		return NULL;
	}
	json_t *a = json_loads(out, 0, NULL);
	g_free(out);
	assert_non_null(a);
	json_t *l = json_incref(json_array_get(a, 0));
	json_decref(a);
	return l;
}

static int link_count(void)
{
	g_autofree char *out = run("ip -j link show");
	json_t *a = json_loads(out, 0, NULL);
	assert_non_null(a);
	int n = (int)json_array_size(a);
	json_decref(a);
	return n;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* sorted, comma-joined dst list of the all-zero fdb entries of dev */
static char *fdb_dsts(const char *dev)
{
	g_autofree char *out = run("bridge -j fdb show dev %s", dev);
	json_t *a = json_loads(out, 0, NULL);
	assert_non_null(a);
	g_autoptr(GPtrArray) d = g_ptr_array_new();
	size_t i;
	json_t *e;
	json_array_foreach(a, i, e) {
		const char *mac = json_string_value(json_object_get(e, "mac"));
		const char *dst = json_string_value(json_object_get(e, "dst"));
		if (mac && dst && strcmp(mac, "00:00:00:00:00:00") == 0)
			g_ptr_array_add(d, (gpointer)dst);
	}
	g_ptr_array_sort(d, cmp_str);
	g_ptr_array_add(d, NULL);
	char *s = g_strjoinv(",", (char **)d->pdata);
	json_decref(a);
	return s;
}

static const char *jstr(json_t *o, const char *path0, const char *path1, const char *key)
{
	json_t *x = o;
	if (path0)
		x = json_object_get(x, path0);
	if (path1)
		x = json_object_get(x, path1);
	return json_string_value(json_object_get(x, key));
}

/* a call that must succeed; shows the GError on failure */
#define assert_ok(call) do { \
		if ((call) != 0) \
			fail_msg("%s: %s", #call, e ? e->message : "(no error set)"); \
	} while (0)

static netdev *nd;

static int setup(void **state)
{
	(void)state;
	GError *e = NULL;

	nd = netdev_open(&e);
	if (!nd) {
		fprintf(stderr, "netdev_open: %s\n", e->message);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	netdev_close(nd);
	return 0;
}

static void test_single_host(void **state)
{
	(void)state;
	GError *e = NULL;
	char br[16], vx[16];
	proto_bridge_name(SC, "Net0", br);
	proto_vxlan_name(SC, "Net0", vx);

	assert_ok(netdev_ensure(nd, SC, "Net0", 0, NULL, NULL, 0, 1400, &e));
	assert_null(e);
	json_t *l = link_json(br);
	assert_non_null(l);
	assert_string_equal(jstr(l, "linkinfo", NULL, "info_kind"), "bridge");
	assert_string_equal(json_string_value(json_object_get(l, "ifalias")), "nube:lab/Net0");
	assert_int_equal(json_integer_value(json_object_get(l, "mtu")), 1400);
	g_autofree char *flags = json_dumps(json_object_get(l, "flags"), 0);
	assert_non_null(strstr(flags, "\"UP\""));
	json_decref(l);
	assert_null(link_json(vx));

	/* mtu change on re-ensure */
	assert_ok(netdev_ensure(nd, SC, "Net0", 0, NULL, NULL, 0, 1300, &e));
	l = link_json(br);
	assert_int_equal(json_integer_value(json_object_get(l, "mtu")), 1300);
	json_decref(l);
}

static void test_multi_host(void **state)
{
	(void)state;
	GError *e = NULL;
	char br[16], vx[16];
	proto_bridge_name(SC, "Net1", br);
	proto_vxlan_name(SC, "Net1", vx);
	const char *remotes[] = { "10.99.0.3", "10.99.0.2", LOCAL };	/* own address is skipped */

	assert_ok(netdev_ensure(nd, SC, "Net1", 4242, LOCAL, remotes, 3, 1450, &e));
	assert_null(e);
	json_t *l = link_json(vx);
	assert_non_null(l);
	assert_string_equal(jstr(l, "linkinfo", NULL, "info_kind"), "vxlan");
	json_t *d = json_object_get(json_object_get(l, "linkinfo"), "info_data");
	assert_int_equal(json_integer_value(json_object_get(d, "id")), 4242);
	assert_string_equal(json_string_value(json_object_get(d, "local")), LOCAL);
	assert_int_equal(json_integer_value(json_object_get(d, "port")), 4789);
	assert_true(json_is_false(json_object_get(d, "learning")));
	assert_string_equal(json_string_value(json_object_get(l, "master")), br);
	assert_int_equal(json_integer_value(json_object_get(l, "mtu")), 1450);
	json_decref(l);
	l = link_json(br);
	assert_int_equal(json_integer_value(json_object_get(l, "mtu")), 1450);
	json_decref(l);
	g_autofree char *f = fdb_dsts(vx);
	assert_string_equal(f, "10.99.0.2,10.99.0.3");

	/* changed remote set: .3 is stale, .4 new */
	const char *remotes2[] = { "10.99.0.2", "10.99.0.4" };
	assert_ok(netdev_ensure(nd, SC, "Net1", 4242, LOCAL, remotes2, 2, 1450, &e));
	assert_null(e);
	g_autofree char *f2 = fdb_dsts(vx);
	assert_string_equal(f2, "10.99.0.2,10.99.0.4");

	/* idempotent: nothing new is created, fdb unchanged */
	int before = link_count();
	assert_ok(netdev_ensure(nd, SC, "Net1", 4242, LOCAL, remotes2, 2, 1450, &e));
	assert_int_equal(link_count(), before);
	g_autofree char *f3 = fdb_dsts(vx);
	assert_string_equal(f3, "10.99.0.2,10.99.0.4");

	/* a new VNI re-creates the vxlan */
	assert_ok(netdev_ensure(nd, SC, "Net1", 4343, LOCAL, remotes2, 2, 1450, &e));
	l = link_json(vx);
	d = json_object_get(json_object_get(l, "linkinfo"), "info_data");
	assert_int_equal(json_integer_value(json_object_get(d, "id")), 4343);
	assert_string_equal(json_string_value(json_object_get(l, "master")), br);
	json_decref(l);
	g_autofree char *f4 = fdb_dsts(vx);
	assert_string_equal(f4, "10.99.0.2,10.99.0.4");
}

static void test_list(void **state)
{
	(void)state;
	GError *e = NULL;
	GPtrArray *a = netdev_list(nd, &e);
	assert_non_null(a);
	char br1[16];
	proto_bridge_name(SC, "Net1", br1);
	bool saw0 = false, saw1 = false;
	for (guint i = 0; i < a->len; i++) {
		netdev_info *x = g_ptr_array_index(a, i);
		assert_string_equal(x->scenario, SC);
		if (strcmp(x->net, "Net0") == 0) {
			saw0 = true;
			assert_int_equal(x->vni, 0);
			assert_int_equal(x->remotes->len, 0);
		} else if (strcmp(x->net, "Net1") == 0) {
			saw1 = true;
			assert_string_equal(x->bridge, br1);
			assert_int_equal(x->vni, 4343);
			assert_int_equal(x->remotes->len, 2);
			g_ptr_array_sort(x->remotes, cmp_str);
			assert_string_equal(g_ptr_array_index(x->remotes, 0), "10.99.0.2");
			assert_string_equal(g_ptr_array_index(x->remotes, 1), "10.99.0.4");
		}
	}
	assert_int_equal(a->len, 2);
	assert_true(saw0 && saw1);
	g_ptr_array_unref(a);
}

static void test_mtu_of_addr(void **state)
{
	(void)state;
	assert_int_equal(netdev_mtu_of_addr(nd, LOCAL), 1500);
	assert_int_equal(netdev_mtu_of_addr(nd, "10.99.0.77"), -1);
	assert_int_equal(netdev_mtu_of_addr(nd, "not an address"), -1);
}

static void test_foreign_and_bad_input(void **state)
{
	(void)state;
	GError *e = NULL;
	char br[16];
	proto_bridge_name(SC, "Foreign", br);
	g_free(run("ip link add %s type bridge", br));	/* same name, no nube alias */
	assert_int_equal(netdev_ensure(nd, SC, "Foreign", 0, NULL, NULL, 0, 1500, &e), -1);
	assert_non_null(e);
	assert_non_null(strstr(e->message, "is not nube's"));
	g_clear_error(&e);
	assert_int_equal(netdev_remove(nd, SC, "Foreign", &e), -1);	/* never deletes it */
	g_clear_error(&e);
	json_t *l = link_json(br);
	assert_non_null(l);
	json_decref(l);
	g_free(run("ip link del %s", br));
	/* same name, but another scenario's alias: refused, the owner named, left alone */
	g_free(run("ip link add %s type bridge", br));
	g_free(run("ip link set %s alias nube:other/Net9", br));
	assert_int_equal(netdev_ensure(nd, SC, "Foreign", 0, NULL, NULL, 0, 1500, &e), -1);
	assert_non_null(strstr(e->message, "alias 'nube:other/Net9'"));
	g_clear_error(&e);
	l = link_json(br);
	assert_non_null(l);
	assert_string_equal(json_string_value(json_object_get(l, "ifalias")), "nube:other/Net9");
	json_decref(l);
	g_free(run("ip link del %s", br));

	const char *bad[] = { "nope" };
	assert_int_equal(netdev_ensure(nd, SC, "Net2", 7, LOCAL, bad, 1, 1450, &e), -1);
	assert_non_null(strstr(e->message, "bad remote address 'nope'"));
	g_clear_error(&e);
	assert_int_equal(netdev_ensure(nd, SC, "Net2", 7, "x", NULL, 0, 1450, &e), -1);
	assert_non_null(strstr(e->message, "bad local address"));
	g_clear_error(&e);
	assert_int_equal(netdev_ensure(nd, SC, "Net2", 1u << 24, LOCAL, NULL, 0, 1450, &e), -1);
	g_clear_error(&e);
}

static void test_remove(void **state)
{
	(void)state;
	GError *e = NULL;
	char br[16], vx[16];
	proto_bridge_name(SC, "Net1", br);
	proto_vxlan_name(SC, "Net1", vx);

	/* shrinking Net1 to a single host drops the vxlan but keeps the bridge */
	assert_ok(netdev_ensure(nd, SC, "Net1", 0, NULL, NULL, 0, 1450, &e));
	json_t *l = link_json(vx);
	assert_null(l);
	l = link_json(br);
	assert_non_null(l);
	json_decref(l);
	assert_ok(netdev_ensure(nd, SC, "Net1", 4343, LOCAL, (const char *[]){ "10.99.0.2" }, 1, 1450, &e));

	assert_ok(netdev_remove(nd, SC, "Net1", &e));
	assert_null(link_json(vx));
	assert_null(link_json(br));
	assert_ok(netdev_remove(nd, SC, "Net1", &e));	/* absent: fine */
	assert_ok(netdev_remove(nd, SC, "Net0", &e));
	GPtrArray *a = netdev_list(nd, &e);
	assert_non_null(a);
	assert_int_equal(a->len, 0);
	g_ptr_array_unref(a);
}

static netdev_info *mk_info(const char *sc, const char *net)
{
	netdev_info *i = g_new0(netdev_info, 1);

	i->scenario = g_strdup(sc);
	i->net = g_strdup(net);
	i->bridge = g_strdup("nbr-test");
	i->remotes = g_ptr_array_new_with_free_func(g_free);
	return i;
}

/* netdev_unused (pure): a net is unused unless some (scenario, net) pair names it exactly;
 * the same net name in another scenario does not count */
static void test_unused(void **state)
{
	(void)state;
	g_autoptr(GPtrArray) present = g_ptr_array_new_with_free_func((GDestroyNotify)netdev_info_free);
	g_autoptr(GPtrArray) used = g_ptr_array_new();

	g_ptr_array_add(present, mk_info("a", "Net0"));
	g_ptr_array_add(present, mk_info("a", "Net1"));
	g_ptr_array_add(present, mk_info("b", "Net0"));
	g_ptr_array_add(present, mk_info("a-b", "Net0"));

	GPtrArray *u = netdev_unused(present, used);	/* no domain: every net is unused */
	assert_int_equal(u->len, 4);
	g_ptr_array_unref(u);

	g_ptr_array_add(used, "a");
	g_ptr_array_add(used, "Net0");
	g_ptr_array_add(used, "b");
	g_ptr_array_add(used, "Net1");	/* b has no Net1 here: uses nothing present */
	g_ptr_array_add(used, "a");
	g_ptr_array_add(used, "Net0");	/* twice: fine */
	u = netdev_unused(present, used);
	assert_int_equal(u->len, 3);
	assert_ptr_equal(u->pdata[0], present->pdata[1]);	/* a/Net1 */
	assert_ptr_equal(u->pdata[1], present->pdata[2]);	/* b/Net0 */
	assert_ptr_equal(u->pdata[2], present->pdata[3]);	/* a-b/Net0 */
	g_ptr_array_unref(u);

	g_ptr_array_add(used, "a");
	g_ptr_array_add(used, "Net1");
	g_ptr_array_add(used, "b");
	g_ptr_array_add(used, "Net0");
	g_ptr_array_add(used, "a-b");
	g_ptr_array_add(used, "Net0");
	u = netdev_unused(present, used);
	assert_int_equal(u->len, 0);
	g_ptr_array_unref(u);

	u = netdev_unused(NULL, used);	/* nothing present */
	assert_int_equal(u->len, 0);
	g_ptr_array_unref(u);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_netdev: must run as root (creates a private network namespace)\n");
		return 1;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		perror("test_netdev: unshare(CLONE_NEWNET)");
		return 1;
	}
	/* the "fabric": one end of a veth pair carrying the local address (dummy links are not
	 * available in every kernel) */
	g_free(run("ip link add fab0 type veth peer name fab1"));
	g_free(run("ip addr add " LOCAL "/24 dev fab0"));
	g_free(run("ip link set fab0 up"));
	g_free(run("ip link set fab1 up"));

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_host),
		cmocka_unit_test(test_multi_host),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_mtu_of_addr),
		cmocka_unit_test(test_foreign_and_bad_input),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_unused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
