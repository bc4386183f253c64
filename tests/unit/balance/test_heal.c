/* test_heal: self-healing's pure decisions — healer election, grace, destination order and
 * fencing by generation (balance/heal.h) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "balance/heal.h"

static void
test_healer(void **state)
{
	heal_candidate c[] = {
		{ "host3", true, false, false },
		{ "host1", false, false, false },	/* gone: its last will fired */
		{ "host2", true, false, false },
		{ "host0", true, true, false },		/* standby: does not heal */
		{ "a-leaving", true, false, true },	/* draining: does not heal */
	};

	(void)state;
	assert_string_equal(heal_healer(c, 5), "host2");
	/* the same answer from any order: every survivor elects the same one */
	assert_string_equal(heal_healer(c + 2, 3), "host2");
	c[2].online = false;
	assert_string_equal(heal_healer(c, 5), "host3");
	c[0].standby = true;
	assert_null(heal_healer(c, 5));
	assert_null(heal_healer(c, 0));
}

static void
test_due(void **state)
{
	(void)state;
	assert_false(heal_due(0, 60, 1000));		/* not gone */
	assert_false(heal_due(-1, 60, 1000));
	assert_false(heal_due(950, 60, 1000));		/* gone 50 s of 60 */
	assert_true(heal_due(940, 60, 1000));		/* exactly the grace */
	assert_true(heal_due(100, 60, 1000));
}

static balance_host
host(const char *name, double cpus, double load, double mem_total, double mem_used)
{
	return (balance_host){ .name = name, .cpus = cpus, .load = load, .mem_total = mem_total,
		.mem_used = mem_used, .mem_reserve = 512, .online = true };
}

static void
test_rank(void **state)
{
	balance_host h[] = {
		host("h1", 2, 0.50, 4096, 1024),	/* 0.25 per core */
		host("h2", 1, 0.10, 4096, 1024),	/* 0.10 per core: first */
		host("h3", 4, 0.40, 4096, 3500),	/* 0.10 per core but no memory for 256 */
		host("h4", 2, 0.00, 4096, 0),		/* standby */
		host("h0", 1, 0.10, 4096, 0),		/* ties h2 on load: by name, first */
	};
	size_t order[5], k;

	(void)state;
	h[3].standby = true;
	k = heal_rank(h, 5, 256, order);
	assert_int_equal(k, 3);
	assert_string_equal(h[order[0]].name, "h0");
	assert_string_equal(h[order[1]].name, "h2");
	assert_string_equal(h[order[2]].name, "h1");
	/* memory is hard: promised memory counts as used */
	h[0].mem_promised = 3600;
	h[1].online = false;
	k = heal_rank(h, 5, 256, order);
	assert_int_equal(k, 1);
	assert_string_equal(h[order[0]].name, "h0");
	/* a host whose memory is unknown (0) is not ruled out on memory */
	h[2].mem_total = 0;
	k = heal_rank(h, 5, 256, order);
	assert_int_equal(k, 2);
}

static void
test_stale(void **state)
{
	(void)state;
	assert_true(heal_stale(1, 2));		/* restarted elsewhere: generation bumped */
	assert_false(heal_stale(2, 2));		/* the same VM (a migration hand-off) */
	assert_false(heal_stale(3, 2));		/* this copy is newer */
	assert_false(heal_stale(1, 0));		/* nobody claims it */
	assert_true(heal_stale(0, 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healer),
		cmocka_unit_test(test_due),
		cmocka_unit_test(test_rank),
		cmocka_unit_test(test_stale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
