/* test_persist: the balancer's cooldown and penalty across an agent restart: saved as wall
 * clock, loaded onto a monotonic clock that may have restarted; old arrivals and finished
 * penalties dropped; a missing file is no error, a malformed one changes nothing */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <glib.h>

#include "agent/persist.h"

#define WALL	1700000000.0	/* a wall-clock instant, s */

static char *
tmpdir(void)
{
	char *dir = g_dir_make_tmp("nube-persist-XXXXXX", NULL);

	assert_non_null(dir);
	return dir;
}

static void
rmtree(const char *dir)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

	assert_int_equal(system(cmd), 0);
}

static GHashTable *
moved_table(void)
{
	return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, persist_moved_free);
}

/* the same process saves and loads: nothing changes */
static void
test_roundtrip(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "h1", PERSIST_FILE, NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(GHashTable) m = moved_table();
	g_autoptr(GHashTable) back = moved_table();
	balance_penalty pen = { .active = true, .until = 5200.0, .failures = 2 }, p2 = { 0 };
	const persist_moved *x;
	g_autoptr(GDir) d = NULL;

	(void)state;
	g_hash_table_insert(m, g_strdup("lab.r1"), persist_moved_new(4900.5, "host2"));
	g_hash_table_insert(m, g_strdup("lab.r2"), persist_moved_new(4000.0, NULL));
	assert_int_equal(persist_save(path, m, &pen, NULL, 5000.0, WALL, &err), 0);	/* creates h1/ */
	assert_null(err);
	assert_int_equal(persist_load(path, back, &p2, NULL, 5000.0, WALL, 0, &err), 0);
	assert_int_equal(g_hash_table_size(back), 2);
	x = g_hash_table_lookup(back, "lab.r1");
	assert_non_null(x);
	assert_float_equal(x->at, 4900.5, 1e-3);
	assert_string_equal(x->prev_host, "host2");
	x = g_hash_table_lookup(back, "lab.r2");
	assert_float_equal(x->at, 4000.0, 1e-3);
	assert_null(x->prev_host);
	assert_true(p2.active);
	assert_float_equal(p2.until, 5200.0, 1e-3);
	assert_int_equal(p2.failures, 2);

	/* saved again over it: one file, no temporary left behind */
	assert_int_equal(persist_save(path, m, &pen, NULL, 5001.0, WALL + 1, &err), 0);
	{
		g_autofree char *h1 = g_build_filename(dir, "h1", NULL);
		int n = 0;

		d = g_dir_open(h1, 0, NULL);
		while (g_dir_read_name(d) != NULL)
			n++;
		assert_int_equal(n, 1);
	}
	rmtree(dir);
}

/* a restart after a reboot: the monotonic clock started again near 0 and 30 s went by; the
 * cooldown left and the penalty left are what they were minus those 30 s */
static void
test_restart_other_clock(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, PERSIST_FILE, NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(GHashTable) m = moved_table();
	g_autoptr(GHashTable) back = moved_table();
	balance_penalty pen = { .active = true, .until = 100100.0, .failures = 1 }, p2 = { 0 };
	const persist_moved *x;
	double mono_before = 100000.0, mono_after = 12.0;

	(void)state;
	/* arrived 60 s before the save */
	g_hash_table_insert(m, g_strdup("lab.r1"), persist_moved_new(mono_before - 60, "host2"));
	assert_int_equal(persist_save(path, m, &pen, NULL, mono_before, WALL, &err), 0);
	assert_int_equal(persist_load(path, back, &p2, NULL, mono_after, WALL + 30, 600, &err), 0);
	x = g_hash_table_lookup(back, "lab.r1");
	assert_non_null(x);
	assert_float_equal(mono_after - x->at, 90.0, 1e-3);	/* moved 90 s ago now */
	assert_true(p2.active);
	assert_float_equal(p2.until - mono_after, 70.0, 1e-3);	/* 100 s left then, 70 now */
	assert_int_equal(p2.failures, 1);
	rmtree(dir);
}

/* arrivals older than max_age are left out; a penalty that ended while down is inactive but
 * its failure streak stays */
static void
test_expired(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, PERSIST_FILE, NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(GHashTable) m = moved_table();
	g_autoptr(GHashTable) back = moved_table();
	balance_penalty pen = { .active = true, .until = 1100.0, .failures = 3 }, p2 = { 0 };

	(void)state;
	g_hash_table_insert(m, g_strdup("old"), persist_moved_new(100.0, "h2"));
	g_hash_table_insert(m, g_strdup("new"), persist_moved_new(990.0, "h3"));
	assert_int_equal(persist_save(path, m, &pen, NULL, 1000.0, WALL, &err), 0);
	/* 200 s later, cooldown 600 s: "old" (1100 s ago) is out, "new" (210 s) stays */
	assert_int_equal(persist_load(path, back, &p2, NULL, 1200.0, WALL + 200, 600, &err), 0);
	assert_int_equal(g_hash_table_size(back), 1);
	assert_non_null(g_hash_table_lookup(back, "new"));
	assert_false(p2.active);
	assert_int_equal(p2.failures, 3);
	rmtree(dir);
}

/* no file: nothing changes, no error; a malformed file: error, nothing changes */
static void
test_missing_and_malformed(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, PERSIST_FILE, NULL);
	g_autoptr(GHashTable) back = moved_table();
	balance_penalty p2 = { .active = true, .until = 7.0, .failures = 4 };
	static const char *const bad[] = {
		"not json",
		"{\"version\": 2, \"moved\": [], \"penalty\": {\"active\": false, \"until\": 0, "
		    "\"failures\": 0}}",
		"{\"version\": 1, \"moved\": {}, \"penalty\": {\"active\": false, \"until\": 0, "
		    "\"failures\": 0}}",
		"{\"version\": 1, \"moved\": [{\"domain\": \"a\", \"at\": 1.0}, {\"at\": 2.0}], "
		    "\"penalty\": {\"active\": false, \"until\": 0, \"failures\": 0}}",
		"{\"version\": 1, \"moved\": [], \"penalty\": {\"active\": 1, \"until\": 0, "
		    "\"failures\": 0}}",
		"{\"version\": 1, \"moved\": [], \"penalty\": {\"active\": false, \"until\": 0, "
		    "\"failures\": 0}, \"power\": {\"standby\": \"yes\", \"changed\": null}}",
	};

	(void)state;
	g_hash_table_insert(back, g_strdup("kept"), persist_moved_new(1.0, NULL));
	assert_int_equal(persist_load(path, back, &p2, NULL, 10.0, WALL, 0, NULL), 0);
	assert_int_equal(g_hash_table_size(back), 1);
	assert_true(p2.active);
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) err = NULL;

		assert_true(g_file_set_contents(path, bad[i], -1, NULL));
		assert_int_equal(persist_load(path, back, &p2, NULL, 10.0, WALL, 0, &err), -1);
		assert_non_null(err);
		assert_non_null(strstr(err->message, path));
		assert_int_equal(g_hash_table_size(back), 1);
		assert_true(p2.active);
		assert_int_equal(p2.failures, 4);
	}
	rmtree(dir);
}

/* the power state: a host on standby stays on standby across a restart after a reboot (the
 * time of its change moved to the new monotonic clock); a file without it (an older agent's)
 * leaves the state as it is */
static void
test_power(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, PERSIST_FILE, NULL);
	g_autoptr(GHashTable) m = moved_table();
	g_autoptr(GHashTable) back = moved_table();
	balance_penalty pen = { 0 }, p2 = { 0 };
	balance_power pw = { .standby = true, .changed = 100000.0 - 40 };
	balance_power back_pw = { .standby = false, .changed = BALANCE_NEVER };
	balance_power never = { .standby = false, .changed = BALANCE_NEVER };
	balance_power untouched = { .standby = true, .changed = 3.0 };

	(void)state;
	assert_int_equal(persist_save(path, m, &pen, &pw, 100000.0, WALL, NULL), 0);
	assert_int_equal(persist_load(path, back, &p2, &back_pw, 12.0, WALL + 30, 600, NULL), 0);
	assert_true(back_pw.standby);
	assert_float_equal(12.0 - back_pw.changed, 70.0, 1e-3);	/* 40 s then, 70 s now */
	/* never changed: "changed" null comes back as BALANCE_NEVER */
	assert_int_equal(persist_save(path, m, &pen, &never, 100000.0, WALL, NULL), 0);
	back_pw.standby = true;
	assert_int_equal(persist_load(path, back, &p2, &back_pw, 12.0, WALL, 600, NULL), 0);
	assert_false(back_pw.standby);
	assert_true(back_pw.changed == BALANCE_NEVER);
	/* saved without a power state: loading leaves the caller's */
	assert_int_equal(persist_save(path, m, &pen, NULL, 100000.0, WALL, NULL), 0);
	assert_int_equal(persist_load(path, back, &p2, &untouched, 12.0, WALL, 600, NULL), 0);
	assert_true(untouched.standby);
	assert_float_equal(untouched.changed, 3.0, 1e-9);
	rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_restart_other_clock),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_missing_and_malformed),
		cmocka_unit_test(test_power),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
