/* test_sim: a small nube-sim run (10 hosts, 100 VMs, 1 h at the daily peak, five workload
 * seeds) — nube must not overload more than seed in total, never ping-pong, and both must
 * beat no balancing; every figure is computed by the simulator, none is written here */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sim.h"

static void
test_sim_small(void **state)
{
	(void)state;
	double over[3] = { 0 };
	int pp[3] = { 0 }, migr[3] = { 0 };
	const balance_policy pols[3] = { BALANCE_POLICY_NONE, BALANCE_POLICY_SEED, BALANCE_POLICY_NUBE };
	for (uint64_t seed = 1; seed <= 5; seed++) {
		sim_options o;
		sim_options_defaults(&o);
		o.hours = 1;
		o.start_hour = 11;
		o.seed = seed;
		generator_cluster *c = generator_cluster_new(10, 100, seed);
		c->load_scale = 1.3;
		for (int i = 0; i < 3; i++) {
			sim_result r;
			assert_int_equal(sim_run(&o, c, pols[i], &r), 0);
			assert_int_equal(r.policy, pols[i]);
			over[i] += r.overload_host_seconds;
			pp[i] += r.ping_pong;
			migr[i] += r.migrations;
			sim_result_clear(&r);
		}
		generator_cluster_free(c);
	}
	print_message("overload host-s none %.0f seed %.0f nube %.0f; migrations seed %d nube %d; "
	    "ping-pong seed %d nube %d\n", over[0], over[1], over[2], migr[1], migr[2], pp[1], pp[2]);
	/* the scenario must overload something, or the comparison says nothing */
	assert_true(over[0] > 0);
	assert_int_equal(migr[0], 0);
	assert_true(over[1] < over[0]);
	assert_true(over[2] <= over[1]);
	assert_int_equal(pp[2], 0);
	assert_true(migr[2] > 0);
}

/* same seed, same run: the simulator is deterministic */
static void
test_sim_deterministic(void **state)
{
	(void)state;
	sim_options o;
	sim_options_defaults(&o);
	o.hours = 0.5;
	o.start_hour = 11;
	sim_result a, b;
	generator_cluster *c = generator_cluster_new(10, 100, 3);
	c->load_scale = 1.3;
	assert_int_equal(sim_run(&o, c, BALANCE_POLICY_NUBE, &a), 0);
	assert_int_equal(sim_run(&o, c, BALANCE_POLICY_NUBE, &b), 0);
	assert_true(a.overload_host_seconds == b.overload_host_seconds);
	assert_int_equal(a.migrations, b.migrations);
	assert_true(a.mean_load == b.mean_load);
	generator_cluster_free(c);
	/* invalid options are refused */
	o.step = 0;
	c = generator_cluster_new(2, 4, 1);
	assert_int_equal(sim_run(&o, c, BALANCE_POLICY_NUBE, &a), -1);
	generator_cluster_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_small),
		cmocka_unit_test(test_sim_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
