/* test_consolidate: the balance core's prediction, consolidation with standby hosts, power
 * hysteresis and wake-up choice, and their config keys */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "balance/balance.h"

static balance_config
cfg_on(void)
{
	balance_config c;
	balance_config_defaults(&c);
	c.consolidate = true;
	c.predict = true;
	return c;
}

static balance_vm
vm(const char *name, double cpu, double mem)
{
	return (balance_vm){ .name = name, .cpu = cpu, .load_generated = -1, .mem = mem,
		.last_moved = BALANCE_NEVER };
}

static balance_host
host(const char *name, int cpus, double load, double mem_used)
{
	return (balance_host){ .name = name, .cpus = cpus, .mem_total = 16384, .mem_used = mem_used,
		.load = load, .online = true };
}

static void
test_predict(void **state)
{
	(void)state;
	double line[] = { 0.1, 0.2, 0.3, 0.4 };
	assert_float_equal(balance_predict(line, 4, 1), 0.5, 1e-12);
	assert_float_equal(balance_predict(line, 4, 2), 0.6, 1e-12);
	assert_float_equal(balance_predict(line, 1, 5), 0.1, 1e-12);
	assert_float_equal(balance_predict(line, 0, 1), 0, 1e-12);
	balance_config c = cfg_on();
	c.predict_window = 3;
	/* only the last 3 samples count: 0.9, 0.5, 0.1 falls to -0.3, never below the last */
	double fall[] = { 0.0, 0.0, 0.9, 0.5, 0.1 };
	assert_float_equal(balance_predict_load(&c, fall, 5), 0.1, 1e-12);
	double rise[] = { 0.9, 0.9, 0.2, 0.3, 0.4 };
	assert_float_equal(balance_predict_load(&c, rise, 5), 0.5, 1e-12);
	c.predict = false;
	assert_float_equal(balance_predict_load(&c, rise, 5), 0.4, 1e-12);
	balance_host h = host("h", 8, 0.3, 0);
	h.load_predicted = 0.45;
	assert_float_equal(balance_effective_load(&h), 0.45, 1e-12);
	h.load_predicted = 0;
	assert_float_equal(balance_effective_load(&h), 0.3, 1e-12);
}

/* a rising host near the threshold acts at its first sample; without prediction it waits for
 * alarm_count samples; a host far under the threshold is not moved by a steep trend alone */
static void
test_analyse_predicted(void **state)
{
	(void)state;
	balance_config c = cfg_on();	/* threshold 0.6, margin 0.05, alarm_count 2 */
	balance_detector d = { 0 };
	balance_host h = host("h", 8, 0.57, 0);
	h.load_predicted = 0.66;
	assert_int_equal(balance_analyse(&d, NULL, &c, &h, 1, 0), BALANCE_OVERLOADED);
	h.load_predicted = 0.9;
	h.load = 0.4;
	d = (balance_detector){ 0 };
	assert_int_equal(balance_analyse(&d, NULL, &c, &h, 1, 10), BALANCE_OK);
	c.predict = false;
	h.load = 0.62;
	d = (balance_detector){ 0 };
	assert_int_equal(balance_analyse(&d, NULL, &c, &h, 1, 20), BALANCE_HIGH);
	assert_int_equal(balance_analyse(&d, NULL, &c, &h, 1, 30), BALANCE_OVERLOADED);
	/* a plan for a predicted overload moves enough for the predicted load */
	c.predict = true;
	balance_vm vs[] = { vm("a", 1, 512), vm("b", 1, 512), vm("c", 2, 512) };
	balance_host src = host("src", 8, 0.5, 1536);
	src.load_predicted = 0.7;
	src.vms = vs;
	src.n_vms = 3;
	balance_host peers[] = { host("dst", 8, 0.1, 0) };
	balance_plan *p = balance_plan_new(BALANCE_POLICY_NUBE, &c, &src, peers, 1, 100);
	assert_true(p->solved);
	assert_true(p->moves->len >= 1);
	assert_true(p->load_after < c.load_threshold - c.source_margin);
	balance_plan_free(p);
}

static const balance_move *
move_of(const balance_plan *p, const char *vm_name)
{
	for (guint i = 0; i < p->moves->len; i++) {
		const balance_move *m = p->moves->pdata[i];
		if (strcmp(m->vm, vm_name) == 0)
			return m;
	}
	return NULL;
}

/* consolidation empties a light host onto the fullest busier host that stays under
 * threshold - margin (effective load) with memory, never onto lighter or standby hosts, and
 * plans all VMs or none */
static void
test_consolidate_admission(void **state)
{
	(void)state;
	balance_config c = cfg_on();	/* destinations under 0.55 */
	balance_vm vs[] = { vm("v1", 0.8, 1024), vm("v2", 0.4, 1024) };
	balance_host self = host("self", 8, 0.15, 2048);
	self.vms = vs;
	self.n_vms = 2;
	balance_host peers[] = {
		host("full", 8, 0.50, 0),	/* 0.50 + 0.1 = 0.60: over the limit */
		host("mid", 8, 0.30, 0),	/* takes both: 0.30 + 0.1 + 0.05 = 0.45 */
		host("light", 8, 0.05, 0),	/* lighter than self: never a destination */
		host("sleep", 8, 0.0, 0),	/* standby */
		host("rising", 8, 0.32, 0),	/* about to rise */
	};
	peers[3].standby = true;
	peers[4].load_predicted = 0.52;
	balance_plan *p = balance_consolidate(&c, &self, peers, 5, 1000);
	assert_true(p->solved);
	assert_int_equal(p->moves->len, 2);
	assert_string_equal(move_of(p, "v1")->dst, "mid");
	assert_string_equal(move_of(p, "v2")->dst, "mid");
	assert_true(move_of(p, "v2")->dst_load_after < c.load_threshold - c.margin);
	balance_plan_free(p);

	/* memory is hard: "mid" cannot hold v1, nobody else can take it -> nothing moves */
	peers[1].mem_used = 16384 * c.mem_threshold - 512;
	p = balance_consolidate(&c, &self, peers, 5, 1000);
	assert_false(p->solved);
	assert_int_equal(p->moves->len, 0);
	assert_int_equal(p->unplaced->len, 1);
	assert_non_null(p->note);
	balance_plan_free(p);
	peers[1].mem_used = 0;

	/* a VM inside its cooldown keeps the host up */
	vs[1].last_moved = 900;
	p = balance_consolidate(&c, &self, peers, 5, 1000);
	assert_false(p->solved);
	assert_int_equal(p->moves->len, 0);
	balance_plan_free(p);
	vs[1].last_moved = BALANCE_NEVER;

	/* the destination's admission agrees with the plan and refuses a standby host */
	p = balance_consolidate(&c, &self, peers, 5, 1000);
	g_autoptr(balance_reservations) r = balance_reservations_new();
	for (guint i = 0; i < p->moves->len; i++) {
		balance_request rq = balance_move_request(p->moves->pdata[i]);
		assert_true(balance_admit(r, BALANCE_POLICY_NUBE, &c, &peers[1], &rq, 1000, NULL));
	}
	balance_request rq = balance_move_request(p->moves->pdata[0]);
	balance_admission a;
	g_autoptr(balance_reservations) r2 = balance_reservations_new();
	assert_false(balance_admit(r2, BALANCE_POLICY_NUBE, &c, &peers[3], &rq, 1000, &a));
	assert_non_null(strstr(a.reason, "standby"));
	/* the rising host's admission counts its predicted load */
	assert_false(balance_admit(r2, BALANCE_POLICY_NUBE, &c, &peers[4], &rq, 1000, &a));
	balance_plan_free(p);

	/* overload relief and drain never pick a standby host either */
	balance_vm big[] = { vm("x", 4, 512) };
	balance_host hot = host("hot", 8, 0.9, 512);
	hot.vms = big;
	hot.n_vms = 1;
	balance_host only[] = { host("sleep", 64, 0.0, 0) };
	only[0].standby = true;
	p = balance_plan_new(BALANCE_POLICY_NUBE, &c, &hot, only, 1, 0);
	assert_int_equal(p->moves->len, 0);
	balance_plan_free(p);
	p = balance_drain(BALANCE_POLICY_NUBE, &c, &hot, only, 1, 0);
	assert_int_equal(p->moves->len, 0);
	balance_plan_free(p);
}

/* hysteresis: consolidate_count low samples in a row, and power_cooldown since the last
 * power-state change (a woken host stays up at least that long) */
static void
test_power_hysteresis(void **state)
{
	(void)state;
	balance_config c = cfg_on();	/* below 0.3 for 3 samples, cooldown 1800 s */
	balance_vm vs[] = { vm("v", 0.5, 512) };
	balance_host h = host("h", 8, 0.1, 512);
	h.vms = vs;
	h.n_vms = 1;
	balance_power pw = { .changed = BALANCE_NEVER };
	assert_false(balance_power_sample(&pw, &c, &h, 0));
	assert_false(balance_power_sample(&pw, &c, &h, 10));
	h.load = 0.35;	/* one high sample restarts the count */
	assert_false(balance_power_sample(&pw, &c, &h, 20));
	h.load = 0.1;
	assert_false(balance_power_sample(&pw, &c, &h, 30));
	assert_false(balance_power_sample(&pw, &c, &h, 40));
	assert_true(balance_power_sample(&pw, &c, &h, 50));
	/* a rising trend counts as high */
	h.load_predicted = 0.4;
	assert_false(balance_power_sample(&pw, &c, &h, 60));
	h.load_predicted = 0;
	balance_power_standby(&pw, 100);
	assert_true(pw.standby);
	assert_int_equal(pw.standbys, 1);
	assert_false(balance_power_sample(&pw, &c, &h, 110));	/* standby: nothing to do */
	balance_power_wake(&pw, 200);
	assert_false(pw.standby);
	assert_int_equal(pw.wakes, 1);
	for (double t = 210; t < 200 + c.power_cooldown; t += 10)
		assert_false(balance_power_sample(&pw, &c, &h, t));
	assert_true(balance_power_sample(&pw, &c, &h, 200 + c.power_cooldown));
	c.consolidate = false;
	assert_false(balance_power_sample(&pw, &c, &h, 5000));
	h.n_vms = 0;	/* an empty host has nothing to consolidate */
	c.consolidate = true;
	pw = (balance_power){ .changed = BALANCE_NEVER };
	for (int i = 0; i < 5; i++)
		assert_false(balance_power_sample(&pw, &c, &h, i));
}

static void
test_wake_pick(void **state)
{
	(void)state;
	balance_config c = cfg_on();	/* destinations under 0.55 */
	balance_host hs[] = { host("a", 8, 0, 0), host("b", 32, 0, 0), host("c", 16, 0, 0),
		host("d", 64, 0.5, 0) };
	assert_int_equal(balance_wake_pick(&c, hs, 4, 2), -1);
	hs[0].standby = hs[1].standby = hs[2].standby = true;
	assert_int_equal(balance_wake_pick(&c, hs, 4, 4), 0);	/* 8 × 0.55 = 4.4 */
	assert_int_equal(balance_wake_pick(&c, hs, 4, 5), 2);	/* smallest that fits: 16 */
	assert_int_equal(balance_wake_pick(&c, hs, 4, 100), 1);	/* none fits: the biggest */
}

static void
test_config_keys(void **state)
{
	(void)state;
	balance_config c;
	balance_config_defaults(&c);
	assert_false(c.consolidate);
	assert_false(c.predict);
	g_autoptr(GKeyFile) kf = g_key_file_new();
	assert_true(g_key_file_load_from_data(kf, "[balance]\nconsolidate = true\n"
	    "consolidate-below = 0.4\nconsolidate-count = 5\npower-cooldown = 600\npredict = true\n"
	    "predict-window = 4\npredict-horizon = 2\n", -1, G_KEY_FILE_NONE, NULL));
	GError *err = NULL;
	assert_int_equal(balance_config_load_keyfile(kf, "balance", &c, &err), 0);
	assert_true(c.consolidate);
	assert_true(c.predict);
	assert_float_equal(c.consolidate_below, 0.4, 1e-12);
	assert_int_equal(c.consolidate_count, 5);
	assert_float_equal(c.power_cooldown, 600, 1e-12);
	assert_int_equal(c.predict_window, 4);
	assert_float_equal(c.predict_horizon, 2, 1e-12);
	g_autoptr(GKeyFile) bad = g_key_file_new();
	assert_true(g_key_file_load_from_data(bad, "[balance]\nconsolidate = maybe\n", -1,
	    G_KEY_FILE_NONE, NULL));
	assert_int_equal(balance_config_load_keyfile(bad, "balance", &c, &err), -1);
	assert_non_null(strstr(err->message, "consolidate"));
	g_clear_error(&err);
	g_autoptr(GKeyFile) bad2 = g_key_file_new();
	assert_true(g_key_file_load_from_data(bad2, "[balance]\npredict-window = 1\n", -1,
	    G_KEY_FILE_NONE, NULL));
	assert_int_equal(balance_config_load_keyfile(bad2, "balance", &c, &err), -1);
	g_clear_error(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_predict),
		cmocka_unit_test(test_analyse_predicted),
		cmocka_unit_test(test_consolidate_admission),
		cmocka_unit_test(test_power_hysteresis),
		cmocka_unit_test(test_wake_pick),
		cmocka_unit_test(test_config_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
