/* test_planetlab: the PlanetLab/CloudSim model of nube-sim — trace parsing, the SPECpower
 * model, the regression, and a tiny thr-mmt day whose placement, energy, SLATAH and PDM are
 * computed by hand below */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "planetlab.h"

static void
test_parse(void **state)
{
	(void)state;
	uint8_t v[PL_SAMPLES];
	GError *err = NULL;
	assert_int_equal(pl_trace_parse("24\n34\r\n0\n100\n", v, &err), 0);
	assert_int_equal(v[0], 24);
	assert_int_equal(v[1], 34);
	assert_int_equal(v[2], 0);
	assert_int_equal(v[3], 100);
	assert_int_equal(v[4], 0);	/* missing lines read as 0, as CloudSim does */
	assert_int_equal(v[PL_SAMPLES - 1], 0);
	GString *full = g_string_new(NULL);
	for (int i = 0; i < PL_SAMPLES; i++)
		g_string_append_printf(full, "%d\n", i % 101);
	assert_int_equal(pl_trace_parse(full->str, v, &err), 0);
	assert_int_equal(v[PL_SAMPLES - 1], (PL_SAMPLES - 1) % 101);
	g_string_append(full, "5\n");
	assert_int_equal(pl_trace_parse(full->str, v, &err), -1);
	assert_non_null(strstr(err->message, "more than 288"));
	g_clear_error(&err);
	g_string_free(full, TRUE);
	assert_int_equal(pl_trace_parse("12\n1o1\n", v, &err), -1);
	assert_non_null(strstr(err->message, "line 2"));
	g_clear_error(&err);
	assert_int_equal(pl_trace_parse("12\n101\n", v, &err), -1);
	assert_non_null(strstr(err->message, "0..100"));
	g_clear_error(&err);
	assert_int_equal(pl_trace_parse("12\n\n3\n", v, &err), -1);
	g_clear_error(&err);
	assert_int_equal(pl_trace_parse("-1\n", v, &err), -1);
	g_clear_error(&err);
}

static void
test_power(void **state)
{
	(void)state;
	assert_float_equal(pl_power(PL_G4, 0), 86, 1e-12);
	assert_float_equal(pl_power(PL_G4, 1), 117, 1e-12);
	assert_float_equal(pl_power(PL_G5, 0), 93.7, 1e-12);
	assert_float_equal(pl_power(PL_G5, 1), 135, 1e-12);
	/* halfway between the 0 % and 10 % points: (86 + 89.4) / 2 */
	assert_float_equal(pl_power(PL_G4, 0.05), 87.7, 1e-9);
	/* between 50 % (116) and 60 % (121) */
	assert_float_equal(pl_power(PL_G5, 0.55), 118.5, 1e-9);
	/* 1000 of 3720 MIPS: 92.6 + 3.4 × 0.688 */
	assert_float_equal(pl_power(PL_G4, 1000.0 / 3720), 94.9392, 1e-3);
	assert_int_equal(pl_vm_type(0, 1052), 0);
	assert_int_equal(pl_vm_type(262, 1052), 0);
	assert_int_equal(pl_vm_type(263, 1052), 1);
	assert_int_equal(pl_vm_type(1051, 1052), 3);
	assert_int_equal(pl_vm_type(3, 4), 3);
}

static void
test_lr(void **state)
{
	(void)state;
	double y[10];
	for (int i = 0; i < 10; i++)
		y[i] = 0.1 + 0.05 * i;	/* a line: x = 1 -> 0.1, x = 10 -> 0.55 */
	assert_float_equal(pl_lr_predict(y, 10, 1), 0.6, 1e-9);
	assert_float_equal(pl_lr_predict(y, 10, 3), 0.7, 1e-9);
	double flat[10] = { 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5 };
	assert_float_equal(pl_lr_predict(flat, 10, 1), 0.5, 1e-12);
}

typedef struct {
	int n;
	int k[8], vm[8], src[8], dst[8];
} migs;

static void
on_mig(void *ud, int k, int vm, int src, int dst)
{
	migs *m = ud;
	if (m->n < 8) {
		m->k[m->n] = k;
		m->vm[m->n] = vm;
		m->src[m->n] = src;
		m->dst[m->n] = dst;
	}
	m->n++;
}

/* Three hosts (G4, G5, G4), four VMs, one of each type (2500/870, 2000/1740, 1000/1740,
 * 500/613 MIPS/MB), every sample 10 %.
 * Start (full MIPS requested): VM0 and VM1 fit only the G5 (PE 2660) -> h1; VM2: empty G4
 * +8.9 W beats h1, which lacks 1000 MIPS -> h0; VM3: empty h2 +4.5 W beats h0 +13.6 W and h1
 * +36.9 W -> h2.
 * Round 1 (300.1 s), demand 250, 200, 100, 50: nothing over 0.8. Least utilised h2 (50 of 3720):
 * VM3 costs +0.31 W on h1 (G5 slope 3.3 W per 532 MIPS) against +0.46 W on h0 -> h1. Next h0
 * (100 of 3720), h2 excluded: VM2 -> h1 (+1.0 W). h1 received VMs, so nothing is left to try.
 * Round 2: everything is on h1, the others are off: nothing moves.
 * Energy from 300.1 s to 600.1 s: while both migrate h0 counts VM2 fully (100), h2 VM3 (50) and
 * h1 its own 450 + 10 % of the incoming 150 = 465; VM3 lands after 613/62.5 = 9.808 s (h1 510,
 * h2 off), VM2 after 27.84 s (h1 600, h0 off): 9.808 (P4(100/3720) + P5(465/5320) +
 * P4(50/3720)) + 18.032 (P4(100/3720) + P5(510/5320)) + 272.16 P5(600/5320) J = 0.009027852 kWh.
 * SLATAH: h1 gets 465-510 of the 600 MIPS asked while VMs arrive (27.84 s) over active time
 * 27.84 (h0) + 300 (h1) + 9.808 (h2). PDM: 10 % of VM3's 50 MIPS for 9.808 s and of VM2's 100
 * for 27.84 s over the 600 MIPS × 300 s asked. */
static void
test_thr_tiny_day(void **state)
{
	(void)state;
	pl_trace t = { .n_vms = 4 };
	t.util = g_new(uint8_t, 4 * PL_SAMPLES);
	memset(t.util, 10, 4 * PL_SAMPLES);
	pl_options o;
	pl_options_defaults(&o);
	o.n_hosts = 3;
	o.rounds = 2;
	migs m = { 0 };
	o.on_migration = on_mig;
	o.ud = &m;
	pl_result r;
	assert_int_equal(pl_run(&o, &t, PL_POLICY_THR_MMT, &r), 0);
	assert_int_equal(m.n, 2);
	assert_int_equal(r.migrations, 2);
	assert_int_equal(m.k[0], 1);
	assert_int_equal(m.vm[0], 3);
	assert_int_equal(m.src[0], 2);
	assert_int_equal(m.dst[0], 1);
	assert_int_equal(m.vm[1], 2);
	assert_int_equal(m.src[1], 0);
	assert_int_equal(m.dst[1], 1);
	assert_float_equal(r.energy_kwh, 0.009027852168907934, 1e-12);
	assert_float_equal(r.slatah, 27.84 / (27.84 + 300 + 9.808), 1e-9);
	assert_float_equal(r.pdm, (0.1 * 50 * 9.808 + 0.1 * 100 * 27.84) / (600.0 * 300), 1e-9);
	assert_float_equal(r.esv, r.energy_kwh * r.slatah * r.pdm, 1e-15);
	assert_int_equal(r.active_hosts[0], 3);
	assert_int_equal(r.active_hosts[1], 1);
	pl_result_clear(&r);

	/* a VM that asks for nothing at a round (samples 1 and 2 are 0, so is everything in
	 * between) is taken for finished and removed for good (CloudSim's getCompletedVms): VM3
	 * comes back to 10 % from sample 3 on, but it is gone — h2 stays off at round 3 and only
	 * VM2 ever moves (h0 -> h1 at round 1) */
	for (int i = 0; i < 3; i++)
		t.util[3 * PL_SAMPLES + i] = 0;
	m.n = 0;
	o.rounds = 3;
	assert_int_equal(pl_run(&o, &t, PL_POLICY_THR_MMT, &r), 0);
	assert_int_equal(r.active_hosts[0], 2);
	assert_int_equal(r.active_hosts[2], 1);
	assert_int_equal(m.n, 1);
	assert_int_equal(m.vm[0], 2);
	pl_result_clear(&r);
	g_free(t.util);
}

/* MMT on an overloaded host. Four hosts (G4, G5, G4, G5), eight VMs, two of each type
 * (VM0-1 2500/870, VM2-3 2000/1740, VM4-5 1000/1740, VM6-7 500/613). Start (full MIPS, each
 * host's power counted from idle): VM0 h1; VM1 h3 (+20.5 W against +36.9 W on h1); VM2 h1 and
 * VM3 h3 (G5 only, +37.1 W each, h1 first); VM4 h0 and VM5 h2 (empty G4s, +8.9 W); VM6 h0
 * (+13.6 W, tie with h2, first wins); VM7 h2 (+13.6 W against +17.5 W on h0).
 * Round 1: VM0 asks 100 % (2500) and VM2 90 % (1800): h1 at 4300 / 5320 = 0.81 > 0.8. MMT takes
 * the smallest RAM, VM0 (870 MB, not VM2's 1740), after which h1 is at 0.34. VM0 cannot go to
 * a G4 (2500 > 1860 MIPS per PE), h3 (450 + 2500 = 0.55) takes it. Then the least utilised
 * host, h0 (150 / 3720, tie with h2), is emptied onto h2 (+0.9 and +1.4 W against +23 W on h3),
 * biggest demand first: VM4 then VM6. h3 is tried last and cannot be emptied (VM0 fits no
 * G4), so its plan is dropped. */
static void
test_thr_mmt_overload(void **state)
{
	(void)state;
	static const uint8_t pct[8] = { 100, 10, 90, 10, 10, 10, 10, 10 };
	pl_trace t = { .n_vms = 8 };
	t.util = g_new(uint8_t, 8 * PL_SAMPLES);
	for (int v = 0; v < 8; v++)
		memset(&t.util[v * PL_SAMPLES], pct[v], PL_SAMPLES);
	pl_options o;
	pl_options_defaults(&o);
	o.n_hosts = 4;
	o.rounds = 1;
	migs m = { 0 };
	o.on_migration = on_mig;
	o.ud = &m;
	pl_result r;
	assert_int_equal(pl_run(&o, &t, PL_POLICY_THR_MMT, &r), 0);
	assert_int_equal(m.n, 3);
	const int want[3][3] = { { 0, 1, 3 }, { 4, 0, 2 }, { 6, 0, 2 } };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(m.k[i], 1);
		assert_int_equal(m.vm[i], want[i][0]);
		assert_int_equal(m.src[i], want[i][1]);
		assert_int_equal(m.dst[i], want[i][2]);
	}
	pl_result_clear(&r);
	g_free(t.util);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_power),
		cmocka_unit_test(test_lr),
		cmocka_unit_test(test_thr_tiny_day),
		cmocka_unit_test(test_thr_mmt_overload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
