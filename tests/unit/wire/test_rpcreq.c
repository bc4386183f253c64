/* test_rpcreq: the per-op field tables of rpc requests: every op, wrong types, missing
 * required fields and bad names are refused with one clear message; good requests pass */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <glib.h>

#include "wire/rpcreq.h"

/* check: rpcreq_check(json) is NULL when want is NULL, else a message containing want */
static void
check(const char *json, const char *want)
{
	json_error_t je;
	json_t *j = json_loads(json, 0, &je);
	char *got;

	if (j == NULL)
		fail_msg("test input %s: %s", json, je.text);
	got = rpcreq_check(j);
	if (want == NULL && got != NULL)
		fail_msg("%s: refused: %s", json, got);
	if (want != NULL && (got == NULL || strstr(got, want) == NULL))
		fail_msg("%s: want an error with '%s', got %s", json, want, got ? got : "none");
	g_free(got);
	json_decref(j);
}

/* what the senders in the tree (cli, mape) send is accepted */
static void
test_good(void **state)
{
	(void)state;
	check("{\"op\":\"deploy\",\"scenario\":\"lab\",\"deployment\":{},\"guest_timeout_s\":60}",
	    NULL);
	check("{\"op\":\"deploy\",\"scenario\":\"lab\",\"spec\":\"x\",\"vms\":[],\"nets\":[]}", NULL);
	check("{\"op\":\"undeploy\",\"scenario\":\"x-y\"}", NULL);
	check("{\"op\":\"exec\",\"scenario\":\"lab\",\"vm\":\"r1\",\"cmd\":\"true\","
	    "\"timeout_s\":30}", NULL);
	check("{\"op\":\"exec\",\"scenario\":\"lab\",\"vm\":\"r1\",\"seq\":\"on_boot\","
	    "\"spec\":\"<vnx/>\"}", NULL);
	check("{\"op\":\"status\"}", NULL);
	check("{\"op\":\"net-ensure\",\"scenario\":\"lab\",\"net\":\"Net0\",\"vni\":7,"
	    "\"hosts\":[\"host1\",\"h2.example\"],\"addrs\":[\"10.0.0.1\",\"10.0.0.2\"]}", NULL);
	check("{\"op\":\"net-ensure\",\"scenario\":\"lab\",\"net\":\"Net0\",\"mtu\":1450}", NULL);
	check("{\"op\":\"migrate\",\"vm\":\"lab.r1\"}", NULL);	/* no dst: the best host */
	check("{\"op\":\"net-remove\",\"scenario\":\"lab\",\"net\":\"Net0\"}", NULL);
	check("{\"op\":\"admit\",\"vm\":\"lab.r1\",\"scenario\":null,\"cpu\":0.5,\"mem\":128,"
	    "\"load_generated\":-1,\"force\":false}", NULL);
	check("{\"op\":\"release\",\"vm\":\"lab.r1\",\"ok\":true}", NULL);
	check("{\"op\":\"plan\",\"execute\":false}", NULL);
	check("{\"op\":\"plan\"}", NULL);
	check("{\"op\":\"migrate\",\"vm\":\"r1\",\"dst\":\"host2\",\"force\":true}", NULL);
	check("{\"op\":\"migrate\",\"vm\":\"lab.r1\",\"dst\":\"host2\"}", NULL);
	check("{\"op\":\"drain\",\"cancel\":true}", NULL);
	check("{\"op\":\"drain\"}", NULL);
	check("{\"op\":\"events\",\"since\":0}", NULL);
	check("{\"op\":\"events\",\"since\":123456789012,\"limit\":10000}", NULL);
}

/* a field of the wrong type is an error, never a default */
static void
test_wrong_types(void **state)
{
	(void)state;
	check("{\"op\":\"drain\",\"cancel\":\"yes\"}", "malformed request: \"cancel\" must be a "
	    "boolean");
	check("{\"op\":\"drain\",\"cancel\":1}", "\"cancel\" must be a boolean");
	check("{\"op\":\"plan\",\"execute\":\"true\"}", "\"execute\" must be a boolean");
	check("{\"op\":\"migrate\",\"vm\":\"r1\",\"dst\":\"h2\",\"force\":1}",
	    "\"force\" must be a boolean");
	check("{\"op\":\"migrate\",\"vm\":7,\"dst\":\"h2\"}", "\"vm\" must be a string");
	check("{\"op\":\"admit\",\"vm\":\"a.b\",\"cpu\":\"1\",\"mem\":1}", "\"cpu\" must be a number");
	check("{\"op\":\"admit\",\"vm\":\"a.b\",\"cpu\":1,\"mem\":[]}", "\"mem\" must be a number");
	check("{\"op\":\"admit\",\"vm\":\"a.b\",\"cpu\":1,\"mem\":1,\"load_generated\":\"x\"}",
	    "\"load_generated\" must be a number");
	check("{\"op\":\"admit\",\"vm\":\"a.b\",\"cpu\":1,\"mem\":1,\"force\":\"no\"}",
	    "\"force\" must be a boolean");
	check("{\"op\":\"release\",\"vm\":\"a.b\",\"ok\":\"false\"}", "\"ok\" must be a boolean");
	check("{\"op\":\"exec\",\"scenario\":\"s\",\"vm\":\"v\",\"cmd\":\"x\",\"timeout_s\":\"9\"}",
	    "\"timeout_s\" must be an integer in 1..86400");
	check("{\"op\":\"exec\",\"scenario\":\"s\",\"vm\":\"v\",\"cmd\":\"x\",\"timeout_s\":1.5}",
	    "\"timeout_s\" must be an integer");
	check("{\"op\":\"exec\",\"scenario\":\"s\",\"vm\":\"v\",\"cmd\":\"x\",\"timeout_s\":0}",
	    "\"timeout_s\" must be an integer in 1..86400");
	check("{\"op\":\"exec\",\"scenario\":\"s\",\"vm\":\"v\",\"cmd\":7}", "\"cmd\" must be a string");
	check("{\"op\":\"exec\",\"scenario\":\"s\",\"vm\":\"v\",\"cmd\":\"\"}",
	    "\"cmd\" must be a non-empty string");
	check("{\"op\":\"exec\",\"scenario\":\"s\",\"vm\":\"v\",\"seq\":{}}", "\"seq\" must be a string");
	check("{\"op\":\"exec\",\"scenario\":\"s\",\"vm\":\"v\",\"seq\":\"q\",\"spec\":false}",
	    "\"spec\" must be a string");
	check("{\"op\":\"deploy\",\"deployment\":{},\"guest_timeout_s\":\"60\"}",
	    "\"guest_timeout_s\" must be an integer in 1..86400");
	check("{\"op\":\"deploy\",\"deployment\":[]}", "\"deployment\" must be an object");
	check("{\"op\":\"net-ensure\",\"scenario\":\"s\",\"net\":\"n\",\"vni\":\"7\"}",
	    "\"vni\" must be an integer in 0..16777215");
	check("{\"op\":\"net-ensure\",\"scenario\":\"s\",\"net\":\"n\",\"vni\":16777216}",
	    "\"vni\" must be an integer in 0..16777215");
	check("{\"op\":\"net-ensure\",\"scenario\":\"s\",\"net\":\"n\",\"mtu\":\"1500\"}",
	    "\"mtu\" must be an integer in 576..65535");
	check("{\"op\":\"net-ensure\",\"scenario\":\"s\",\"net\":\"n\",\"hosts\":\"h1\"}",
	    "\"hosts\" must be an array of strings");
	check("{\"op\":\"net-ensure\",\"scenario\":\"s\",\"net\":\"n\",\"addrs\":[1]}",
	    "\"addrs\"[0] must be a string");
	check("{\"op\":\"undeploy\",\"scenario\":[\"x\"]}", "\"scenario\" must be a string");
	check("{\"op\":5}", "\"op\" must be a string");
	check("{\"op\":\"events\",\"since\":-1}", "\"since\" must be an integer in 0..");
	check("{\"op\":\"events\",\"since\":\"5\"}", "\"since\" must be an integer");
	check("{\"op\":\"events\",\"since\":0,\"limit\":0}",
	    "\"limit\" must be an integer in 1..10000");
	check("{\"op\":\"events\",\"since\":0,\"limit\":10001}",
	    "\"limit\" must be an integer in 1..10000");
}

static void
test_missing(void **state)
{
	(void)state;
	check("{\"op\":\"undeploy\"}", "malformed request: missing \"scenario\"");
	check("{\"op\":\"undeploy\",\"scenario\":null}", "missing \"scenario\"");
	check("{\"op\":\"exec\",\"scenario\":\"s\",\"cmd\":\"x\"}", "missing \"vm\"");
	check("{\"op\":\"net-ensure\",\"scenario\":\"s\"}", "missing \"net\"");
	check("{\"op\":\"net-remove\",\"net\":\"n\"}", "missing \"scenario\"");
	check("{\"op\":\"admit\",\"vm\":\"a.b\",\"mem\":1}", "missing \"cpu\"");
	check("{\"op\":\"admit\",\"cpu\":1,\"mem\":1}", "missing \"vm\"");
	check("{\"op\":\"release\"}", "missing \"vm\"");
	check("{\"op\":\"migrate\",\"dst\":\"h2\"}", "missing \"vm\"");
	check("{\"op\":\"events\"}", "missing \"since\"");
}

/* every field carrying a name follows the one name rule */
static void
test_bad_names(void **state)
{
	(void)state;
	check("{\"op\":\"undeploy\",\"scenario\":\"../../../../tmp/x\"}",
	    "malformed request: \"scenario\": '../../../../tmp/x' contains '/'");
	check("{\"op\":\"undeploy\",\"scenario\":\"a/b\"}", "'a/b' contains '/'");
	check("{\"op\":\"undeploy\",\"scenario\":\"\"}", "\"scenario\": '' is empty");
	check("{\"op\":\"undeploy\",\"scenario\":\"a b\"}", "contains whitespace");
	check("{\"op\":\"undeploy\",\"scenario\":\"a\\u0001\"}", "contains a control character");
	check("{\"op\":\"deploy\",\"scenario\":\"..\"}", "\"scenario\": '..' contains '.'");
	check("{\"op\":\"exec\",\"scenario\":\"s\",\"vm\":\"../v\",\"cmd\":\"x\"}",
	    "\"vm\": '../v' contains '/'");
	check("{\"op\":\"net-ensure\",\"scenario\":\"s\",\"net\":\"a/b\"}", "\"net\": 'a/b' contains");
	check("{\"op\":\"net-ensure\",\"scenario\":\"s\",\"net\":\"n\",\"hosts\":[\"h/1\"]}",
	    "\"hosts[0]\": 'h/1' contains '/'");
	check("{\"op\":\"net-remove\",\"scenario\":\"-x\",\"net\":\"n\"}", "starts with '-'");
	check("{\"op\":\"migrate\",\"vm\":\"r1\",\"dst\":\"../h\"}", "\"dst\": '../h' starts with");
	check("{\"op\":\"migrate\",\"vm\":\"r1\",\"dst\":\"h..x\"}", "\"dst\": 'h..x' contains '..'");
	check("{\"op\":\"migrate\",\"vm\":\"a.b.c\",\"dst\":\"h2\"}", "\"vm\": 'a.b.c' contains");
	check("{\"op\":\"admit\",\"vm\":\"../x\",\"cpu\":1,\"mem\":1}", "\"vm\": '../x'");
	check("{\"op\":\"admit\",\"vm\":\"a.b\",\"scenario\":\"a/b\",\"cpu\":1,\"mem\":1}",
	    "\"scenario\": 'a/b' contains '/'");
	check("{\"op\":\"release\",\"vm\":\"/etc\"}", "\"vm\": '/etc' contains '/'");
}

/* every op the agent answers has a table; an op without one is refused */
static void
test_every_op(void **state)
{
	static const char *const ops[] = { "deploy", "undeploy", "exec", "status", "net-ensure",
		"net-remove", "admit", "release", "plan", "migrate", "drain", "events",
		"image-status", "image-commit" };

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(ops); i++)
		assert_non_null(rpcreq_fields(ops[i]));
	assert_null(rpcreq_fields("reboot"));
	assert_null(rpcreq_fields(NULL));
	check("{\"op\":\"reboot\"}", "op 'reboot' has no field table");
	/* an image is named by its sum: anything else could name another file of the cache */
	check("{\"op\":\"image-status\",\"sha256\":\"../../etc/passwd\"}",
	    "\"sha256\": '../../etc/passwd' is not a sha256 (64 lowercase hex digits)");
	check("{\"op\":\"image-commit\",\"sha256\":"
	    "\"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\"}",
	    "missing \"format\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_every_op),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
