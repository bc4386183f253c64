/* test_topic: rpc/reply topics built and split, the peer/operator op classification, and the
 * message size limit against a 10,000-VM deploy */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "plan/alloc.h"
#include "wire/deployment.h"
#include "wire/topic.h"

static void
test_host_topics(void **state)
{
	(void)state;
	g_autofree char *t = topic_host("host1", "state");
	assert_string_equal(t, "nube/v1/host/host1/state");
	g_autofree char *h = topic_host_parse(t, "state");
	assert_string_equal(h, "host1");
	assert_null(topic_host_parse(t, "online"));
	assert_null(topic_host_parse("nube/v1/host//state", "state"));
	assert_null(topic_host_parse("nube/v1/host/a+b/state", "state"));
	assert_null(topic_host_parse("nube/v2/host/h/state", "state"));
	assert_null(topic_host_parse("nube/v1/host/h/state/x", "state"));
}

static void
test_levels(void **state)
{
	char big[200];

	(void)state;
	assert_true(topic_level_ok("host1"));
	assert_true(topic_level_ok("nube-123-abc.def_9"));
	assert_false(topic_level_ok(NULL));
	assert_false(topic_level_ok(""));
	assert_false(topic_level_ok("a/b"));
	assert_false(topic_level_ok("+"));
	assert_false(topic_level_ok("a#"));
	assert_false(topic_level_ok("a\nb"));
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_false(topic_level_ok(big));
	big[128] = '\0';
	assert_true(topic_level_ok(big));
	big[129] = '\0';
	big[128] = 'x';
	assert_false(topic_level_ok(big));
}

static void
test_rpc(void **state)
{
	g_autofree char *t = topic_rpc("host2", "host1");
	char *h = NULL, *s = NULL;

	(void)state;
	assert_string_equal(t, "nube/v1/host/host2/rpc/host1");
	assert_int_equal(topic_rpc_parse(t, &h, &s), 0);
	assert_string_equal(h, "host2");
	assert_string_equal(s, "host1");
	g_free(h);
	g_free(s);
	assert_int_equal(topic_rpc_parse("nube/v1/host/h/rpc/operator", NULL, NULL), 0);
	/* not a request topic: nothing is returned */
	h = s = NULL;
	assert_int_equal(topic_rpc_parse("nube/v1/host/h/state", &h, &s), -1);
	assert_int_equal(topic_rpc_parse("nube/v1/host/h/rpc", &h, &s), -1);
	assert_int_equal(topic_rpc_parse("nube/v1/host/h/rpc/a/b", &h, &s), -1);
	assert_int_equal(topic_rpc_parse("nube/v1/host//rpc/a", &h, &s), -1);
	assert_int_equal(topic_rpc_parse("nube/v1/host/h/rpc/", &h, &s), -1);
	assert_int_equal(topic_rpc_parse("nube/v2/host/h/rpc/a", &h, &s), -1);
	assert_int_equal(topic_rpc_parse(NULL, &h, &s), -1);
	assert_null(h);
	assert_null(s);
}

static void
test_reply(void **state)
{
	g_autofree char *t = topic_reply("operator", "nube-42-abcdef", "host3");
	g_autofree char *sub = topic_reply_sub("operator", "nube-42-abcdef");
	char *u = NULL, *c = NULL, *h = NULL;

	(void)state;
	assert_string_equal(t, "nube/v1/reply/operator/nube-42-abcdef/host3");
	assert_string_equal(sub, "nube/v1/reply/operator/nube-42-abcdef/+");
	assert_int_equal(topic_reply_parse(t, &u, &c, &h), 0);
	assert_string_equal(u, "operator");
	assert_string_equal(c, "nube-42-abcdef");
	assert_string_equal(h, "host3");
	g_free(u);
	g_free(c);
	g_free(h);
	u = c = h = NULL;
	/* the old one-level reply topic and anything malformed are refused */
	assert_int_equal(topic_reply_parse("nube/v1/reply/nube-42-abcdef", &u, &c, &h), -1);
	assert_int_equal(topic_reply_parse("nube/v1/reply/u/c", &u, &c, &h), -1);
	assert_int_equal(topic_reply_parse("nube/v1/reply/u/c/h/x", &u, &c, &h), -1);
	assert_int_equal(topic_reply_parse("nube/v1/reply/u//h", &u, &c, &h), -1);
	assert_int_equal(topic_reply_parse("nube/v1/host/u/c/h", &u, &c, &h), -1);
	assert_null(u);
	assert_null(c);
	assert_null(h);
}

static void
test_op_peer(void **state)
{
	/* the balancer's calls between agents (src/agent/migrate.c, peer.c) */
	static const char *const peer[] = { "admit", "release", "net-ensure", "net-remove" };
	/* the operator's (src/cli): a peer must never send these */
	static const char *const oper[] = { "deploy", "undeploy", "exec", "status", "drain",
	    "migrate", "plan", "prepare-net", "nonsense", "" };

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(peer); i++)
		assert_true(topic_op_peer(peer[i]));
	for (size_t i = 0; i < G_N_ELEMENTS(oper); i++)
		assert_false(topic_op_peer(oper[i]));
	assert_false(topic_op_peer(NULL));
	assert_false(topic_op_peer("Deploy"));
	assert_false(topic_op_peer("admit "));
}

static const char *
addr_of(const char *host, void *ud)
{
	(void)ud;
	return host;
}

/* the deploy request the CLI sends for a scenario like examples/gen-large.py 10000 2000 (the
 * planner benchmark's) on 100 hosts fits PROTO_MAX_MESSAGE with room to spare */
static void
test_max_message(void **state)
{
	enum { NVMS = 10000, NNETS = 2000, NHOSTS = 100 };
	static const int mem[] = { 96, 128, 256, 512 };
	GString *x = g_string_new("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vnx>\n  <global>\n"
	    "    <version>2.0</version>\n    <scenario_name>large</scenario_name>\n"
	    "    <automac/>\n    <vm_mgmt type=\"none\"/>\n  </global>\n");
	plan_host *hosts = g_new0(plan_host, NHOSTS);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *spec = NULL, *req_s = NULL;
	diag *d = diag_new();
	alloc_ctx ac = { .vni_min = 10000, .vni_max = 16777215 };
	scenario *sc;
	plan *p;
	proto_deployment *dep;
	json_t *req;
	size_t len;

	(void)state;
	for (int n = 0; n < NNETS; n++)
		g_string_append_printf(x, "  <net name=\"n%d\" mode=\"virtual_bridge\"/>\n", n);
	for (int v = 0; v < NVMS; v++) {
		int n = v % NNETS, k = v / NNETS;

		g_string_append_printf(x, "  <vm name=\"vm%d\" type=\"libvirt\" subtype=\"kvm\" "
		    "os=\"linux\" vcpu=\"%d\">\n    <mem>%dM</mem>\n    <if id=\"1\" net=\"n%d\">"
		    "<ipv4>10.%d.%d.%d/19</ipv4></if>\n", v, 1 + v % 2, mem[v % 4], n, n / 8,
		    (n % 8) * 32, k + 1);
		if (v % 5 == 0)
			g_string_append_printf(x, "    <if id=\"2\" net=\"n%d\"><ipv4>10.%d.%d.%d/19"
			    "</ipv4></if>\n    <forwarding type=\"ipv4\"/>\n", (n + 7) % NNETS,
			    ((n + 7) % NNETS) / 8, (((n + 7) % NNETS) % 8) * 32, 100 + k);
		g_string_append(x, "  </vm>\n");
	}
	g_string_append(x, "</vnx>\n");
	spec = g_string_free(x, FALSE);
	for (int h = 0; h < NHOSTS; h++) {
		char *nm = g_strdup_printf("host%d", h + 1);

		g_ptr_array_add(names, nm);
		hosts[h] = (plan_host){ .name = nm, .cpus = 64, .mem_mib = 1 << 20, .online = true };
	}
	sc = scenario_parse_memory(spec, strlen(spec), "large.xml", d);
	assert_non_null(sc);
	assert_true(scenario_validate(sc, d));
	assert_int_equal(sc->vms->len, NVMS);
	p = plan_partition(sc, NULL, hosts, NHOSTS, PLAN_ROUND_ROBIN, d);
	assert_non_null(p);
	assert_int_equal(alloc_plan(p, sc, &ac, d), 0);
	dep = proto_deployment_from_plan(sc, p, spec, addr_of, NULL);
	req = json_pack("{s:s, s:s, s:o, s:i}", "op", "deploy", "scenario", "large", "deployment",
	    proto_deployment_to_json(dep), "guest_timeout_s", 60);
	req_s = json_dumps(req, JSON_COMPACT);
	len = strlen(req_s);
	print_message("deploy request of %d VMs, %d nets, %d hosts: %zu bytes (%.1f MiB, spec "
	    "%zu bytes); limit %d MiB\n", NVMS, NNETS, NHOSTS, len, (double)len / 1048576.0,
	    strlen(spec), PROTO_MAX_MESSAGE >> 20);
	assert_true(len * 2 < PROTO_MAX_MESSAGE);
	assert_true(PROTO_MAX_PACKET > PROTO_MAX_MESSAGE);
	json_decref(req);
	proto_deployment_free(dep);
	plan_free(p);
	scenario_free(sc);
	diag_free(d);
	g_free(hosts);
}

/* the broker configurations nube ships (lab, dist) set max_packet_size to PROTO_MAX_PACKET */
static const char *const *conf_files;

static void
test_broker_confs(void **state)
{
	g_autofree char *want = g_strdup_printf("max_packet_size %d", PROTO_MAX_PACKET);

	(void)state;
	assert_non_null(conf_files[0]);
	for (int i = 0; conf_files[i] != NULL; i++) {
		g_autofree char *text = NULL;

		if (!g_file_get_contents(conf_files[i], &text, NULL, NULL))
			fail_msg("cannot read '%s'", conf_files[i]);
		if (strstr(text, want) == NULL)
			fail_msg("'%s' does not set '%s'", conf_files[i], want);
	}
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_topics),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_rpc),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_op_peer),
		cmocka_unit_test(test_max_message),
		cmocka_unit_test(test_broker_confs),
	};

	conf_files = (const char *const *)argv + 1;	/* NULL-terminated, like argv */
	(void)argc;

	return cmocka_run_group_tests(tests, NULL, NULL);
}
