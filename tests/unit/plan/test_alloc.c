/* test_alloc: VNIs, MACs and management addresses are unique, in range and avoid those in use */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "plan/alloc.h"
#include "fixture.h"

/* MAC of interface k of VM i */
#define MAC(p, i, k) ((const char *)g_ptr_array_index((GPtrArray *)g_ptr_array_index((p)->vm_macs, (i)), (k)))

/* 12 VMs in a ring of nets over 3 hosts with round robin: every net crosses hosts,
 * plus one net local to one VM */
static scenario *
ring_scenario(const char *name)
{
	scenario *s = fx_scenario_new(name);
	char vm[16], a[16], b[16];

	for (int i = 0; i < 12; i++) {
		g_snprintf(a, sizeof a, "l%d", i);
		fx_net(s, a);
	}
	fx_net(s, "local");
	for (int i = 0; i < 12; i++) {
		g_snprintf(vm, sizeof vm, "v%d", i);
		g_snprintf(a, sizeof a, "l%d", i);
		g_snprintf(b, sizeof b, "l%d", (i + 11) % 12);
		if (i == 0)
			fx_vm(s, vm, 64, 1, a, b, "local", NULL);
		else
			fx_vm(s, vm, 64, 1, a, b, NULL);
	}
	return s;
}

static plan *
make_plan(const scenario *s)
{
	plan_host *h = fx_hosts(3, 1 << 20, 2);
	g_autoptr(diag) d = diag_new();
	plan *p = plan_partition(s, NULL, h, 3, PLAN_ROUND_ROBIN, d);

	assert_non_null(p);
	plan_hosts_free(h, 3);
	return p;
}

static void
test_vni(void **state)
{
	scenario *s = ring_scenario("vni");
	g_autoptr(plan) p = make_plan(s);
	g_autoptr(plan) q = make_plan(s);
	g_autoptr(GHashTable) used = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);
	alloc_ctx ctx = { .vni_min = 5000, .vni_max = 5030, .used_vnis = used };
	int cross = 0;

	(void)state;
	/* first pass without a used set tells which VNIs we would get; then forbid them all
	 * but a few and check they are avoided */
	{
		g_autoptr(diag) d = diag_new();

		assert_int_equal(alloc_plan(q, s, &ctx, d), 0);
		for (int j = 0; j < q->nnets; j++)
			if (q->net_vni[j] != 0 && j % 2 == 0)
				g_hash_table_add(used, GUINT_TO_POINTER(q->net_vni[j]));
	}
	g_autoptr(diag) d = diag_new();
	assert_int_equal(alloc_plan(p, s, &ctx, d), 0);
	for (int j = 0; j < p->nnets; j++) {
		uint32_t v = p->net_vni[j];

		if (p->net_hosts[j]->len < 2) {
			assert_int_equal(v, 0);
			continue;
		}
		cross++;
		assert_true(v >= 5000 && v <= 5030);
		assert_false(g_hash_table_contains(used, GUINT_TO_POINTER(v)));
		assert_false(g_hash_table_contains(seen, GUINT_TO_POINTER(v)));
		g_hash_table_add(seen, GUINT_TO_POINTER(v));
	}
	assert_int_equal(cross, plan_cross_host_nets(p));
	assert_true(cross >= 12);
	assert_true(g_hash_table_size(used) > 0);
	assert_int_equal(p->net_vni[12], 0);	/* "local" */

	/* too small a range */
	ctx.vni_min = 7;
	ctx.vni_max = 7 + cross - 2;
	ctx.used_vnis = NULL;
	{
		g_autoptr(diag) e = diag_new();

		assert_int_equal(alloc_plan(p, s, &ctx, e), -1);
		assert_true(diag_contains(e, DIAG_ERROR, "no free VNI in 7.."));
	}
	/* exactly enough: all of them, once each */
	ctx.vni_max = 7 + cross - 1;
	{
		g_autoptr(diag) e = diag_new();
		uint64_t sum = 0, expect = 0;

		assert_int_equal(alloc_plan(p, s, &ctx, e), 0);
		for (int j = 0; j < p->nnets; j++)
			sum += p->net_vni[j];
		for (uint32_t v = 7; v <= ctx.vni_max; v++)
			expect += v;
		assert_int_equal(sum, expect);
	}
	ctx.vni_min = 0;
	{
		g_autoptr(diag) e = diag_new();

		assert_int_equal(alloc_plan(p, s, &ctx, e), -1);
		assert_true(diag_contains(e, DIAG_ERROR, "VNI range"));
	}
	fx_scenario_free(s);
}

static bool
is_mac(const char *m)
{
	unsigned b[6];
	char tail;

	if (m == NULL || strlen(m) != 17 ||
	    sscanf(m, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
	    &tail) != 6)
		return false;
	for (; *m; m++)
		if (g_ascii_isupper(*m))
			return false;
	return true;
}

static void
test_macs(void **state)
{
	scenario *s = ring_scenario("mac");
	g_autoptr(plan) p = make_plan(s);
	g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	alloc_ctx ctx = { .vni_min = 10000, .vni_max = 16777215, .used_macs = used };
	g_autofree char *taken = NULL;
	g_autofree char *first_before = NULL;

	(void)state;
	/* no automac: only explicit MACs, the rest NULL */
	fx_vm_if_mac(s, 3, 1, "AA:BB:CC:DD:EE:0F");
	{
		g_autoptr(diag) d = diag_new();
		GPtrArray *m3;

		assert_int_equal(alloc_plan(p, s, &ctx, d), 0);
		m3 = g_ptr_array_index(p->vm_macs, 3);
		assert_int_equal(m3->len, 2);
		assert_null(g_ptr_array_index(m3, 0));
		assert_string_equal(g_ptr_array_index(m3, 1), "aa:bb:cc:dd:ee:0f");
	}
	s->automac = true;
	s->automac_offset = 4;
	{
		g_autoptr(diag) d = diag_new();

		assert_int_equal(alloc_plan(p, s, &ctx, d), 0);
		first_before = g_strdup(MAC(p, 0, 0));
		/* mark the MAC the second interface of v5 got as used elsewhere */
		taken = g_strdup(MAC(p, 5, 1));
		g_hash_table_add(used, taken);
	}
	g_autoptr(diag) d = diag_new();
	assert_int_equal(alloc_plan(p, s, &ctx, d), 0);
	assert_false(diag_has_errors(d));
	assert_int_equal(p->vm_macs->len, 12);
	for (int i = 0; i < 12; i++) {
		GPtrArray *m = g_ptr_array_index(p->vm_macs, i);
		sc_vm *vm = g_ptr_array_index(s->vms, i);

		assert_int_equal(m->len, vm->ifs->len);
		for (guint k = 0; k < m->len; k++) {
			const char *mac = g_ptr_array_index(m, k);

			assert_non_null(mac);
			assert_true(is_mac(mac));
			if (!(i == 3 && k == 1))
				assert_true(g_str_has_prefix(mac, "02:fd:"));
			assert_false(g_hash_table_contains(used, mac));
			assert_false(g_hash_table_contains(seen, mac));
			g_hash_table_add(seen, (gpointer)mac);
		}
	}
	assert_string_equal(MAC(p, 3, 1),
	    "aa:bb:cc:dd:ee:0f");
	/* stable: the MACs not involved in the collision did not move */
	assert_string_equal(MAC(p, 0, 0), first_before);
	assert_string_not_equal(MAC(p, 5, 1), taken);
	/* another scenario name gives other MACs */
	{
		scenario *o = ring_scenario("other");
		g_autoptr(plan) q = make_plan(o);
		g_autoptr(diag) e = diag_new();

		o->automac = true;
		o->automac_offset = 4;
		assert_int_equal(alloc_plan(q, o, &ctx, e), 0);
		assert_string_not_equal(MAC(q, 0, 0),
		    first_before);
		fx_scenario_free(o);
	}
	/* a bad explicit MAC is an error */
	fx_vm_if_mac(s, 2, 0, "zz:bb");
	{
		g_autoptr(diag) e = diag_new();

		assert_int_equal(alloc_plan(p, s, &ctx, e), -1);
		assert_true(diag_contains(e, DIAG_ERROR, "'zz:bb' is not a MAC address"));
	}
	fx_scenario_free(s);
}

/* automatic MACs step around an explicit MAC of the same plan */
static void
test_mac_explicit_collision(void **state)
{
	scenario *s = fx_scenario_new("col");
	alloc_ctx ctx = { .vni_min = 1, .vni_max = 100 };
	g_autofree char *auto0 = NULL;

	(void)state;
	fx_net(s, "n");
	fx_vm(s, "a", 64, 1, "n", NULL);
	fx_vm(s, "b", 64, 1, "n", NULL);
	s->automac = true;
	{
		g_autoptr(plan) p = make_plan(s);
		g_autoptr(diag) d = diag_new();

		assert_int_equal(alloc_plan(p, s, &ctx, d), 0);
		auto0 = g_strdup(MAC(p, 0, 0));
	}
	/* b explicitly takes the MAC a would get */
	fx_vm_if_mac(s, 1, 0, auto0);
	{
		g_autoptr(plan) p = make_plan(s);
		g_autoptr(diag) d = diag_new();

		assert_int_equal(alloc_plan(p, s, &ctx, d), 0);
		assert_string_equal(MAC(p, 1, 0), auto0);
		assert_string_not_equal(MAC(p, 0, 0), auto0);
		assert_false(diag_contains(d, DIAG_WARNING, "already in use"));
	}
	/* an explicit MAC another scenario holds is kept, with a warning */
	{
		g_autoptr(plan) p = make_plan(s);
		g_autoptr(diag) d = diag_new();
		g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);
		alloc_ctx c2 = ctx;

		g_hash_table_add(used, auto0);
		c2.used_macs = used;
		assert_int_equal(alloc_plan(p, s, &c2, d), 0);
		assert_string_equal(MAC(p, 1, 0), auto0);
		assert_true(diag_contains(d, DIAG_WARNING, "is already in use"));
	}
	fx_scenario_free(s);
}

static void
test_mgmt(void **state)
{
	scenario *s = ring_scenario("mgmt");
	g_autoptr(plan) p = make_plan(s);
	g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	alloc_ctx ctx = { .vni_min = 10000, .vni_max = 16777215, .used_addrs = used };

	(void)state;
	{
		g_autoptr(diag) d = diag_new();

		assert_int_equal(alloc_plan(p, s, &ctx, d), 0);
		assert_int_equal(p->vm_mgmt_addr->len, 12);
		for (int i = 0; i < 12; i++)
			assert_null(g_ptr_array_index(p->vm_mgmt_addr, i));
	}
	s->mgmt.type = SC_MGMT_PRIVATE;
	s->mgmt.network = g_strdup("10.250.0.0");
	s->mgmt.mask = 28;	/* 14 host addresses: .1 .. .14 */
	s->mgmt.offset = 0;
	g_hash_table_add(used, "10.250.0.2");
	g_hash_table_add(used, "10.250.0.5");
	{
		g_autoptr(diag) d = diag_new();

		assert_int_equal(alloc_plan(p, s, &ctx, d), 0);
		for (int i = 0; i < 12; i++) {
			const char *a = g_ptr_array_index(p->vm_mgmt_addr, i);
			g_autofree char *bare = g_strdup(a);
			unsigned o1, o2, o3, o4;

			assert_non_null(a);
			assert_true(g_str_has_suffix(a, "/28"));
			*strchr(bare, '/') = '\0';
			assert_false(g_hash_table_contains(used, bare));
			assert_false(g_hash_table_contains(seen, bare));
			assert_int_equal(sscanf(bare, "%u.%u.%u.%u", &o1, &o2, &o3, &o4), 4);
			assert_true(o1 == 10 && o2 == 250 && o3 == 0 && o4 >= 1 && o4 <= 14);
			g_hash_table_add(seen, g_steal_pointer(&bare));
		}
		assert_string_equal(g_ptr_array_index(p->vm_mgmt_addr, 0), "10.250.0.1/28");
		assert_string_equal(g_ptr_array_index(p->vm_mgmt_addr, 1), "10.250.0.3/28");
	}
	/* one more address in use: 12 VMs need 12 of the 11 left */
	g_hash_table_add(used, "10.250.0.9");
	{
		g_autoptr(diag) d = diag_new();

		assert_int_equal(alloc_plan(p, s, &ctx, d), -1);
		assert_true(diag_contains(d, DIAG_ERROR, "management network 10.250.0.0/28 is "
		    "exhausted at VM 'v11'"));
	}
	/* offset moves the start */
	g_hash_table_remove_all(used);
	s->mgmt.type = SC_MGMT_NET;
	s->mgmt.mask = 24;
	s->mgmt.offset = 100;
	{
		g_autoptr(diag) d = diag_new();

		assert_int_equal(alloc_plan(p, s, &ctx, d), 0);
		assert_string_equal(g_ptr_array_index(p->vm_mgmt_addr, 0), "10.250.0.101/24");
		assert_string_equal(g_ptr_array_index(p->vm_mgmt_addr, 11), "10.250.0.112/24");
	}
	s->mgmt.mask = 31;
	{
		g_autoptr(diag) d = diag_new();

		assert_int_equal(alloc_plan(p, s, &ctx, d), -1);
		assert_true(diag_contains(d, DIAG_ERROR, "is not usable"));
	}
	fx_scenario_free(s);
}

static void
test_deterministic(void **state)
{
	scenario *s = ring_scenario("det");
	g_autoptr(plan) p = make_plan(s);
	g_autoptr(plan) q = make_plan(s);
	alloc_ctx ctx = { .vni_min = 10000, .vni_max = 16777215 };
	g_autoptr(diag) d = diag_new();

	(void)state;
	s->automac = true;
	s->mgmt.type = SC_MGMT_NET;
	s->mgmt.network = g_strdup("192.168.0.0");
	s->mgmt.mask = 24;
	assert_int_equal(alloc_plan(p, s, &ctx, d), 0);
	assert_int_equal(alloc_plan(q, s, &ctx, d), 0);
	assert_memory_equal(p->net_vni, q->net_vni, sizeof(uint32_t) * p->nnets);
	for (int i = 0; i < p->nvms; i++) {
		GPtrArray *a = g_ptr_array_index(p->vm_macs, i), *b = g_ptr_array_index(q->vm_macs, i);

		for (guint k = 0; k < a->len; k++)
			assert_string_equal(g_ptr_array_index(a, k), g_ptr_array_index(b, k));
		assert_string_equal(g_ptr_array_index(p->vm_mgmt_addr, i),
		    g_ptr_array_index(q->vm_mgmt_addr, i));
	}
	/* a plan for another scenario */
	{
		scenario *o = ring_scenario("det");
		g_autoptr(diag) e = diag_new();

		fx_net(o, "extra");
		assert_int_equal(alloc_plan(p, o, &ctx, e), -1);
		assert_true(diag_contains(e, DIAG_ERROR, "does not belong"));
		fx_scenario_free(o);
	}
	fx_scenario_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vni),
		cmocka_unit_test(test_macs),
		cmocka_unit_test(test_mac_explicit_collision),
		cmocka_unit_test(test_mgmt),
		cmocka_unit_test(test_deterministic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
