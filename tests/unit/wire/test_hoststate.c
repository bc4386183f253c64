/* test_hoststate: the typed host state round-trips through JSON, refuses wrong types and has
 * one freshness rule */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "wire/hoststate.h"

static host_state *
sample(void)
{
	host_state *s = host_state_new();
	host_state_vm *v = host_state_vm_new();

	s->host = g_strdup("host1");
	s->ts_ms = 1700000000000;
	s->interval_s = 2;
	s->cpus = 1.5;
	s->load = 0.42;
	s->mem_total_mib = 4096;
	s->mem_used_mib = 1000;
	s->has_promised = true;
	s->mem_promised_mib = 768;
	s->mem_reserve_mib = 512;
	s->fabric_addr = g_strdup("10.0.0.1");
	s->libvirt = true;
	s->active = 1;
	v->scenario = g_strdup("lab");
	v->vm = g_strdup("r1");
	v->domain = g_strdup("lab.r1");
	v->active = true;
	v->cpu = 0.3;
	v->load = 0.2;
	v->mem_mib = 256;
	v->vcpus = 1;
	g_ptr_array_add(v->nets, g_strdup("net0"));
	g_ptr_array_add(s->vms, v);
	s->balance = json_pack("{s:f}", "reserved_load", 0.25);
	return s;
}

/* a container says so ("container": true) and a VM does not (the key is absent) */
static void
test_container(void **state)
{
	(void)state;
	g_autoptr(host_state) s = sample();
	host_state_vm *c = host_state_vm_new();
	GError *err = NULL;

	c->scenario = g_strdup("lab");
	c->vm = g_strdup("h1");
	c->domain = g_strdup("lab.h1");
	c->active = true;
	c->container = true;
	g_ptr_array_add(s->vms, c);
	json_t *j = host_state_to_json(s);
	json_t *jv = json_object_get(j, "vms");
	assert_null(json_object_get(json_array_get(jv, 0), "container"));
	assert_true(json_is_true(json_object_get(json_array_get(jv, 1), "container")));
	g_autoptr(host_state) b = host_state_from_json(j, &err);
	assert_null(err);
	assert_false(((host_state_vm *)g_ptr_array_index(b->vms, 0))->container);
	assert_true(((host_state_vm *)g_ptr_array_index(b->vms, 1))->container);
	g_autoptr(host_state) cp = host_state_copy(b);
	assert_true(((host_state_vm *)g_ptr_array_index(cp->vms, 1))->container);
	json_decref(j);
}

static void
test_round_trip(void **state)
{
	(void)state;
	g_autoptr(host_state) s = sample();
	json_t *j = host_state_to_json(s);
	GError *err = NULL;
	g_autoptr(host_state) b = host_state_from_json(j, &err);

	assert_null(err);
	assert_non_null(b);
	assert_string_equal(b->host, "host1");
	assert_int_equal(b->ts_ms, 1700000000000);
	assert_int_equal(b->interval_s, 2);
	assert_true(b->cpus == 1.5 && b->load == 0.42);
	assert_int_equal(b->mem_promised_mib, 768);
	assert_true(b->has_promised);
	assert_int_equal(b->mem_reserve_mib, 512);
	assert_string_equal(b->fabric_addr, "10.0.0.1");
	assert_int_equal(b->vms->len, 1);
	const host_state_vm *v = host_state_vm_find(b, "lab.r1");
	assert_non_null(v);
	assert_ptr_equal(v, host_state_vm_find(b, "r1"));
	assert_null(host_state_vm_find(b, "r2"));
	assert_string_equal(v->scenario, "lab");
	assert_true(v->active);
	assert_int_equal(v->mem_mib, 256);
	assert_int_equal(v->nets->len, 1);
	assert_string_equal(g_ptr_array_index(v->nets, 0), "net0");
	assert_true(json_real_value(json_object_get(b->balance, "reserved_load")) == 0.25);
	json_decref(j);

	/* without libvirt's answer the promised memory is absent, not 0 */
	s->has_promised = false;
	j = host_state_to_json(s);
	assert_null(json_object_get(j, "mem_promised_mib"));
	host_state *c = host_state_from_json(j, &err);
	assert_non_null(c);
	assert_false(c->has_promised);
	host_state_free(c);
	json_decref(j);
}

static void
test_copy(void **state)
{
	(void)state;
	host_state *s = sample();
	g_autoptr(host_state) c = host_state_copy(s);
	json_t *a = host_state_to_json(s), *b = host_state_to_json(c);

	host_state_free(s);	/* the copy owns nothing of the original */
	json_t *b2 = host_state_to_json(c);
	assert_true(json_equal(a, b));
	assert_true(json_equal(a, b2));
	assert_string_equal(((host_state_vm *)g_ptr_array_index(c->vms, 0))->domain, "lab.r1");
	json_decref(a);
	json_decref(b);
	json_decref(b2);
}

static void
expect_refused(const char *text, const char *needle)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	GError *err = NULL;

	assert_non_null(j);
	assert_null(host_state_from_json(j, &err));
	assert_non_null(err);
	if (strstr(err->message, needle) == NULL)
		fail_msg("'%s': error '%s' lacks '%s'", text, err->message, needle);
	g_error_free(err);
	json_decref(j);
}

static void
test_refused(void **state)
{
	(void)state;
	expect_refused("[]", "not a JSON object");
	expect_refused("{\"ts\": 5}", "\"host\" is missing");
	expect_refused("{\"host\": 3, \"ts\": 5}", "\"host\" is not a string");
	expect_refused("{\"host\": \"h\"}", "\"ts\"");
	expect_refused("{\"host\": \"h\", \"ts\": 1.5}", "\"ts\"");
	expect_refused("{\"host\": \"h\", \"ts\": 5, \"load\": \"high\"}", "'h': \"load\" is not a number");
	expect_refused("{\"host\": \"h\", \"ts\": 5, \"cpus\": -1}", "\"cpus\" is out of range");
	expect_refused("{\"host\": \"h\", \"ts\": 5, \"interval\": 0}", "\"interval\"");
	expect_refused("{\"host\": \"h\", \"ts\": 5, \"vms\": {}}", "\"vms\" is not an array");
	expect_refused("{\"host\": \"h\", \"ts\": 5, \"vms\": [1]}", "\"vms\" holds a non-object");
	expect_refused("{\"host\": \"h\", \"ts\": 5, \"vms\": [{\"active\": true}]}",
	    "\"domain\" is missing");
	expect_refused("{\"host\": \"h\", \"ts\": 5, \"vms\": [{\"domain\": \"a.b\", \"nets\": [1]}]}",
	    "\"nets\" holds a non-string");
	expect_refused("{\"host\": \"h\", \"ts\": 5, \"libvirt\": 1}", "\"libvirt\" is not a boolean");
	expect_refused("{\"host\": \"h\", \"ts\": 5, \"balance\": []}", "\"balance\" is not an object");
}

static void
test_fresh(void **state)
{
	(void)state;
	g_autoptr(host_state) s = sample();
	int64_t limit = s->ts_ms + HOST_STATE_FRESH_INTERVALS * 2 * 1000 + HOST_STATE_FRESH_GRACE_MS;

	assert_true(host_state_fresh(s, s->ts_ms));
	assert_true(host_state_fresh(s, limit));
	assert_false(host_state_fresh(s, limit + 1));
	s->ts_ms = 0;
	assert_false(host_state_fresh(s, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_fresh),
		cmocka_unit_test(test_container),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
