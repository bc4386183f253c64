/* the live agent against the fake environment (fake_env.c): several real nubed in one
 * process — telemetry, the MAPE loop, admission, migration, drain, the rpc ops — with libvirt,
 * netlink, the broker and the clock in memory. Suite "agent" (no root, no lab). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <glib/gstdio.h>

#include "fake_env.h"
#include "agent/mape.h"
#include "agent/mape_int.h"
#include "agent/heal.h"
#include "wire/topic.h"

#define WAIT_MS	20000	/* generous on a busy machine: every wait ends as soon as it can */

/* thresholds the cases are built around: a host is overloaded from 0.6, takes VMs under
 * 0.55 (nube margin 0.05); a penalty of 30 s + 10 s a failure */
#define BAL "load-threshold = 0.6;alarm-count = 2;penalty = 30;penalty-step = 10"

static const char *const net1[] = { "n1", NULL };

static double
num(const json_t *o, const char *path)
{
	g_auto(GStrv) keys = g_strsplit(path, ".", -1);

	for (int i = 0; keys[i] != NULL && o != NULL; i++)
		o = json_object_get(o, keys[i]);
	assert_non_null(o);
	return json_number_value(o);
}

static const char *
str(const json_t *o, const char *path)
{
	g_auto(GStrv) keys = g_strsplit(path, ".", -1);

	for (int i = 0; keys[i] != NULL && o != NULL; i++)
		o = json_object_get(o, keys[i]);
	return json_string_value(o);
}

/* job_ended: h's balancer runs no job (its moves, releases included, are over) */
static bool
job_ended(fake_cluster *c, void *ud)
{
	mape *m = ((fake_host *)ud)->n.mape;
	bool idle;

	(void)c;
	g_mutex_lock(&m->lock);
	idle = !m->executing;
	g_mutex_unlock(&m->lock);
	return idle;
}

/* overload -> plan -> admission at the peer -> live migration -> arrival: the VM runs on h2,
 * its net spans both hosts with a derived VNI, h2 counts the arrival's reservation only until
 * its own samples show the VM */
static void
test_overload_migrates(void **state)
{
	fake_cluster *c = fake_cluster_new();
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 2, 4096, BAL);
	fake_host *h2 = fake_host_add(c, "h2", "10.0.0.2", 2, 4096, BAL);
	const char *vm, *dom, *other;
	json_t *e, *res;
	guint at = 0;

	(void)state;
	fake_dom_add(h1, "s", "a", 0.9, 256, net1);	/* load (0.9 + 0.5) / 2 = 0.7 */
	fake_dom_add(h1, "s", "b", 0.5, 256, net1);
	fake_net_add(h1, "s", "n1", 0, NULL);		/* local: no VXLAN yet */
	fake_host_start(h2);
	fake_host_start(h1);
	fake_sample(c);
	assert_null(fake_event(c, "plan", NULL, &at, 0));	/* one high sample: not yet */
	fake_sample(c);
	e = fake_event(c, "plan", NULL, &at, WAIT_MS);
	assert_non_null(e);
	assert_string_equal(str(e, "host"), "h1");
	e = fake_event(c, "admit", NULL, &at, WAIT_MS);
	assert_non_null(e);
	assert_string_equal(str(e, "host"), "h2");
	assert_string_equal(str(e, "data.src"), "h1");
	vm = str(e, "vm");		/* events name the VM, their data its domain */
	dom = str(e, "data.domain");
	assert_string_equal(str(e, "scenario"), "s");
	assert_true(strcmp(vm, "a") == 0 || strcmp(vm, "b") == 0);
	e = fake_event(c, "migrated", vm, &at, WAIT_MS);
	assert_non_null(e);
	assert_int_equal(num(e, "data.duration_ms"), 1234);
	assert_int_equal(num(e, "data.downtime_ms"), 56);
	assert_string_equal(str(e, "data.dst"), "h2");
	assert_string_equal(str(e, "data.domain"), dom);
	assert_true(fake_dom_on(h2, dom));
	assert_false(fake_dom_on(h1, dom));
	other = strcmp(dom, "s.a") == 0 ? "s.b" : "s.a";
	assert_true(fake_dom_on(h1, other));
	/* the net spans two hosts now: one derived VNI on both, each the other's remote */
	assert_non_null(fake_net_get(h2, "s", "n1"));
	assert_int_not_equal(fake_net_get(h2, "s", "n1")->vni, 0);
	assert_int_equal(fake_net_get(h1, "s", "n1")->vni, fake_net_get(h2, "s", "n1")->vni);
	assert_int_equal(fake_net_get(h2, "s", "n1")->remotes->len, 1);
	assert_string_equal(fake_net_get(h2, "s", "n1")->remotes->pdata[0], "10.0.0.1");
	/* arrival: the reservation counts until the next full interval (2 x 1 s + 1), not for
	 * its 300 s time to live; h1 publishes "migrated" before it sends the release, so wait
	 * until its job (release included) ended */
	assert_true(fake_run_until(c, job_ended, h1, WAIT_MS));
	fake_sample(c);
	res = json_object_get(json_object_get(h2->n.last_state, "balance"), "reservations");
	assert_int_equal(json_array_size(res), 1);
	assert_string_equal(str(json_array_get(res, 0), "vm"), dom);
	assert_true(num(json_array_get(res, 0), "expires_in") <= 3.0);
	assert_int_equal(num(h1->n.last_state, "balance.migrations_ok"), 1);
	fake_cluster_free(c);
}

/* a VM on a managed="no" net (a bridge of its host that nube neither makes nor stretches)
 * stays: the only move that would relieve h1 is that VM's (the other does not fit on h2),
 * so h1 plans none and takes a penalty */
static void
test_unmanaged_net_pins(void **state)
{
	static const char *const ext[] = { "ext", NULL };
	static const char spec[] = "<vnx><global><version>2.0</version><scenario_name>s"
	    "</scenario_name></global><net name='ext' mode='virtual_bridge' managed='no'/>"
	    "<net name='n1' mode='virtual_bridge'/>"
	    "<vm name='a' type='libvirt'><if id='1' net='ext'/></vm>"
	    "<vm name='b' type='libvirt'><if id='1' net='n1'/></vm></vnx>";
	fake_cluster *c = fake_cluster_new();
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 2, 4096, BAL);
	fake_host *h2 = fake_host_add(c, "h2", "10.0.0.2", 2, 4096, BAL);
	guint at = 0;

	(void)state;
	fake_dom_add(h1, "s", "a", 0.4, 256, ext);	/* load (0.4 + 1.0) / 2 = 0.7 */
	fake_dom_add(h1, "s", "b", 1.0, 256, net1);
	fake_net_add(h1, "s", "n1", 0, NULL);
	h2->base_load = 0.3;	/* takes a (0.5), not b (0.8) */
	nubed_spec_put(&h1->n, "s", spec);
	assert_true(nubed_net_unmanaged(&h1->n, "s", "ext"));
	assert_false(nubed_net_unmanaged(&h1->n, "s", "n1"));
	assert_false(nubed_net_unmanaged(&h1->n, "t", "ext"));	/* unknown scenario */
	fake_host_start(h2);
	fake_host_start(h1);
	fake_sample(c);
	fake_sample(c);
	assert_non_null(fake_event(c, "penalty", NULL, &at, WAIT_MS));
	assert_true(fake_run_until(c, job_ended, h1, WAIT_MS));
	assert_int_equal(fake_count(c, "migrated"), 0);
	assert_true(fake_dom_on(h1, "s.a") && fake_dom_on(h1, "s.b"));
	fake_cluster_free(c);
}

/* the operator's migrate: refused by a full destination (VM stays), admitted when forced */
static void
test_refuse_then_force(void **state)
{
	fake_cluster *c = fake_cluster_new();
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 2, 4096, BAL);
	fake_host *h2 = fake_host_add(c, "h2", "10.0.0.2", 2, 4096, BAL);
	json_t *r, *e;
	guint at = 0;

	(void)state;
	fake_dom_add(h1, "s", "a", 0.6, 256, NULL);
	h2->base_load = 0.5;	/* + 0.6 / 2 = 0.8: over the 0.55 limit */
	fake_host_start(h2);
	fake_host_start(h1);
	fake_sample(c);
	r = fake_rpc(c, "h1", json_pack("{s:s, s:s, s:s}", "op", "migrate", "vm", "a", "dst", "h2"),
	    WAIT_MS);
	assert_non_null(r);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(str(json_array_get(json_object_get(r, "moves"), 0), "status"),
	    "refused");
	json_decref(r);
	e = fake_event(c, "refuse", "a", &at, 0);
	assert_non_null(e);
	assert_string_equal(str(e, "host"), "h2");
	assert_true(fake_dom_on(h1, "s.a"));
	r = fake_rpc(c, "h1", json_pack("{s:s, s:s, s:s, s:b}", "op", "migrate", "vm", "s.a",
	    "dst", "h2", "force", 1), WAIT_MS);
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	e = fake_event(c, "admit", "a", &at, 0);
	assert_non_null(e);
	assert_true(json_is_true(json_object_get(json_object_get(e, "data"), "force")));
	assert_non_null(strstr(str(e, "data.reason"), "operator request"));
	assert_true(fake_dom_on(h2, "s.a"));
	assert_non_null(fake_event(c, "migrated", "a", &at, 0));
	fake_cluster_free(c);
}

/* cooldown_of: h's last state's cooldown entry of domain, or NULL */
static const json_t *
cooldown_of(fake_host *h, const char *domain)
{
	const json_t *a = json_object_get(json_object_get(h->n.last_state, "balance"), "cooldown");
	const json_t *x;
	size_t i;

	json_array_foreach(a, i, x)
		if (g_strcmp0(str(x, "vm"), domain) == 0)
			return x;
	return NULL;
}

/* every event is journaled under the host's next seq before it is published; the operator's
 * "events" op reads the journal back (a peer may not); the cooldown of an arrival outlives
 * the balancer: a new one on the same state_dir (a restarted agent) keeps it, not younger */
static void
test_journal_and_restart(void **state)
{
	fake_cluster *c = fake_cluster_new();
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 2, 4096, BAL ";enabled = no");
	fake_host *h2 = fake_host_add(c, "h2", "10.0.0.2", 2, 4096, BAL ";enabled = no");
	const json_t *evs, *x, *cd;
	json_t *r, *e;
	guint at = 0;
	double seq, ago;
	size_t i, n = 0;
	GError *err = NULL;

	(void)state;
	fake_dom_add(h1, "s", "a", 0.2, 256, NULL);
	fake_host_start(h2);
	fake_host_start(h1);
	fake_sample(c);
	r = fake_rpc(c, "h1", json_pack("{s:s, s:s, s:s}", "op", "migrate", "vm", "s.a", "dst",
	    "h2"), WAIT_MS);
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	e = fake_event(c, "migrated", "a", &at, WAIT_MS);
	assert_non_null(e);
	seq = num(e, "seq");
	assert_true(seq >= 1);

	r = fake_rpc(c, "h1", json_pack("{s:s, s:i}", "op", "events", "since", 0), WAIT_MS);
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	evs = json_object_get(r, "events");
	json_array_foreach(evs, i, x) {
		assert_string_equal(str(x, "host"), "h1");
		assert_true(i == 0 || num(x, "seq") > num(json_array_get(evs, i - 1), "seq"));
		if (g_strcmp0(str(x, "type"), "migrated") == 0) {
			n++;
			assert_true(num(x, "seq") == seq);
			assert_string_equal(str(x, "vm"), "a");
			assert_int_equal(num(x, "data.duration_ms"), 1234);
		}
	}
	assert_int_equal(n, 1);
	assert_true(num(r, "last") == num(json_array_get(evs, json_array_size(evs) - 1), "seq"));
	assert_true(json_is_false(json_object_get(r, "more")));
	json_decref(r);
	r = fake_rpc_as(c, "h2", "h1", json_pack("{s:s, s:i}", "op", "events", "since", 0),
	    WAIT_MS);
	assert_non_null(r);
	assert_false(json_is_true(json_object_get(r, "ok")));
	json_decref(r);

	fake_sample(c);
	cd = cooldown_of(h2, "s.a");
	assert_non_null(cd);
	assert_string_equal(str(cd, "from"), "h1");
	ago = num(cd, "ago");
	assert_null(cooldown_of(h1, "s.a"));
	/* h2's balancer starts again from its state_dir (the old one stays: threads may hold it) */
	h2->n.mape = mape_new(&h2->n);
	h2->n.on_sample_ud = h2->n.mape;
	assert_int_equal(mape_start(h2->n.mape, &err), 0);
	fake_sample(c);
	cd = cooldown_of(h2, "s.a");
	assert_non_null(cd);
	assert_string_equal(str(cd, "from"), "h1");
	assert_true(num(cd, "ago") >= ago + 0.5);	/* one more interval (1 s), not reset */
	fake_cluster_free(c);
}

/* migrate without a destination: the balancer's best host (the one with room) */
static void
test_migrate_best_host(void **state)
{
	fake_cluster *c = fake_cluster_new();
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 2, 4096, BAL ";enabled = no");
	fake_host *h2 = fake_host_add(c, "h2", "10.0.0.2", 2, 4096, BAL);
	fake_host *h3 = fake_host_add(c, "h3", "10.0.0.3", 2, 4096, BAL);
	json_t *r;

	(void)state;
	fake_dom_add(h1, "s", "a", 0.4, 256, NULL);
	h2->base_load = 0.45;	/* + 0.2 = 0.65: no room */
	h3->base_load = 0.3;	/* + 0.2 = 0.5: room */
	fake_host_start(h3);
	fake_host_start(h2);
	fake_host_start(h1);
	fake_sample(c);
	r = fake_rpc(c, "h1", json_pack("{s:s, s:s}", "op", "migrate", "vm", "s.a"), WAIT_MS);
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(str(json_array_get(json_object_get(r, "moves"), 0), "dst"), "h3");
	json_decref(r);
	assert_true(fake_dom_on(h3, "s.a"));
	/* nobody has room: refused before any admission, the VM stays */
	fake_dom_add(h1, "s", "big", 1.6, 256, NULL);
	fake_sample(c);		/* its first sample has no rate yet */
	fake_sample(c);
	r = fake_rpc(c, "h1", json_pack("{s:s, s:s}", "op", "migrate", "vm", "big"), WAIT_MS);
	assert_non_null(r);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(str(r, "error"), "no host can take 'big'"));
	json_decref(r);
	assert_true(fake_dom_on(h1, "s.big"));
	fake_cluster_free(c);
}

/* containers move cold: the operator's migrate (default move-containers = operator) stops,
 * copies and starts one on the destination (moved-cold with its interruption, results say
 * cold); a failed pack restarts it here (migrate-failed, restarted); the balancer's own
 * plans leave an overloading container alone unless move-containers = cold; never refuses
 * even the operator */
static void
test_cold_move(void **state)
{
	fake_cluster *c = fake_cluster_new();
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 4, 4096, BAL);	/* room */
	fake_host *h2 = fake_host_add(c, "h2", "10.0.0.2", 2, 4096, BAL);
	fake_host *h3 = fake_host_add(c, "h3", "10.0.0.3", 2, 4096, BAL ";move-containers = cold");
	fake_host *h4 = fake_host_add(c, "h4", "10.0.0.4", 2, 4096,
	    BAL ";move-containers = never;enabled = no");
	json_t *r, *e, *mv;
	guint at = 0;

	(void)state;
	fake_container_add(h1, "s", "c", 0.2, 128, net1);
	fake_net_add(h1, "s", "n1", 0, NULL);
	fake_host_start(h4);
	fake_host_start(h3);
	fake_host_start(h2);
	fake_host_start(h1);
	fake_sample(c);
	/* 1. a failed pack: it runs here again */
	h1->fail_migrations = 1;
	r = fake_rpc(c, "h1", json_pack("{s:s, s:s, s:s}", "op", "migrate", "vm", "s.c", "dst",
	    "h2"), WAIT_MS);
	assert_non_null(r);
	assert_false(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	e = fake_event(c, "migrate-failed", "c", &at, WAIT_MS);
	assert_non_null(e);
	assert_true(json_is_true(json_object_get(json_object_get(e, "data"), "restarted")));
	assert_true(fake_dom_on(h1, "s.c"));
	assert_false(fake_net_get(h2, "s", "n1") != NULL);	/* its net undone there */
	/* 2. the operator's move */
	fake_sample(c);
	r = fake_rpc(c, "h1", json_pack("{s:s, s:s, s:s}", "op", "migrate", "vm", "s.c", "dst",
	    "h2"), WAIT_MS);
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	mv = json_array_get(json_object_get(r, "moves"), 0);
	assert_string_equal(str(mv, "status"), "moved");
	assert_true(json_is_true(json_object_get(mv, "cold")));
	json_decref(r);
	e = fake_event(c, "moved-cold", "c", &at, WAIT_MS);
	assert_non_null(e);
	assert_string_equal(str(e, "data.dst"), "h2");
	assert_true(num(e, "data.interruption_ms") >= 0);
	assert_int_equal(num(e, "data.layer_bytes"), 4096);
	assert_int_equal(fake_count(c, "migrated"), 0);
	assert_true(fake_dom_on(h2, "s.c"));
	assert_false(fake_dom_on(h1, "s.c"));
	assert_non_null(fake_net_get(h2, "s", "n1"));
	assert_true(fake_run_until(c, job_ended, h1, WAIT_MS));
	/* 3. h2's balancer (operator) does not move its overloading containers (0.8; h1 would
	 * take either) */
	fake_container_add(h2, "s", "hot", 1.4, 128, NULL);
	fake_sample(c);
	fake_sample(c);
	fake_sample(c);
	assert_true(fake_run_until(c, job_ended, h2, WAIT_MS));
	assert_int_equal(fake_count(c, "moved-cold"), 1);
	assert_true(fake_dom_on(h2, "s.hot"));
	/* 4. h3's (cold) does */
	fake_container_add(h3, "t", "hot", 1.3, 128, NULL);	/* 0.65 here, 0.33 on h1 */
	fake_sample(c);
	fake_sample(c);
	fake_sample(c);
	e = fake_event(c, "moved-cold", "hot", &at, WAIT_MS);
	assert_non_null(e);
	assert_string_equal(str(e, "host"), "h3");
	assert_false(fake_dom_on(h3, "t.hot"));
	assert_true(fake_run_until(c, job_ended, h3, WAIT_MS));
	/* 5. never: the operator is refused */
	fake_container_add(h4, "u", "c", 0.1, 128, NULL);
	fake_sample(c);
	r = fake_rpc(c, "h4", json_pack("{s:s, s:s, s:s}", "op", "migrate", "vm", "u.c", "dst",
	    "h1"), WAIT_MS);
	assert_non_null(r);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(str(r, "error"), "move-containers is never"));
	json_decref(r);
	assert_true(fake_dom_on(h4, "u.c"));
	/* 6. a scenario's own move-containers (nube deploy --move-containers, in the domain's
	 * metadata) overrides its host's: never on h1 (operator) refuses the operator */
	fake_container_add(h1, "v", "c", 0.1, 128, NULL);
	g_mutex_lock(&c->lock);
	((fake_dom *)h1->doms->pdata[h1->doms->len - 1])->move = g_strdup("never");
	g_mutex_unlock(&c->lock);
	fake_sample(c);
	r = fake_rpc(c, "h1", json_pack("{s:s, s:s, s:s}", "op", "migrate", "vm", "v.c", "dst",
	    "h2"), WAIT_MS);
	assert_non_null(r);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(str(r, "error"), "never (nube deploy --move-containers)"));
	json_decref(r);
	assert_true(mape_container_movable(h1->n.mape, NULL, true));
	assert_false(mape_container_movable(h1->n.mape, NULL, false));
	assert_true(mape_container_movable(h1->n.mape, "cold", false));
	assert_false(mape_container_movable(h3->n.mape, "never", true));
	assert_false(mape_container_movable(h3->n.mape, "operator", false));
	assert_true(mape_container_movable(h3->n.mape, NULL, false));
	assert_false(mape_container_movable(h4->n.mape, NULL, true));
	assert_true(mape_container_movable(h4->n.mape, "operator", true));
	fake_cluster_free(c);
}

/* no move possible: a penalty of 30 s; when it is over and the host is still overloaded the
 * next one is 40 s (penalty-step 10) */
static void
test_penalty(void **state)
{
	fake_cluster *c = fake_cluster_new();
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 2, 4096, BAL);
	fake_host *h2 = fake_host_add(c, "h2", "10.0.0.2", 2, 4096, BAL);
	json_t *e;
	guint at = 0;

	(void)state;
	fake_dom_add(h1, "s", "a", 0.7, 256, NULL);
	fake_dom_add(h1, "s", "b", 0.7, 256, NULL);
	h2->base_load = 0.5;	/* no VM fits under 0.55 */
	fake_host_start(h2);
	fake_host_start(h1);
	fake_sample(c);
	fake_sample(c);
	e = fake_event(c, "penalty", NULL, &at, WAIT_MS);
	assert_non_null(e);
	assert_int_equal(num(e, "data.failures"), 1);
	assert_float_equal(num(e, "data.seconds"), 30, 0.01);
	assert_true(json_is_true(json_object_get(json_object_get(json_object_get(
	    h1->n.last_state, "balance"), "penalty"), "active")));
	fake_sample(c);		/* penalised: nothing new */
	fake_sample(c);
	assert_int_equal(fake_count(c, "penalty"), 1);
	g_mutex_lock(&c->lock);
	c->now += 31;
	g_mutex_unlock(&c->lock);
	fake_sample(c);
	e = fake_event(c, "penalty", NULL, &at, WAIT_MS);
	assert_non_null(e);
	assert_int_equal(num(e, "data.failures"), 2);
	assert_float_equal(num(e, "data.seconds"), 40, 0.01);
	assert_true(fake_dom_on(h1, "s.a") && fake_dom_on(h1, "s.b"));
	fake_cluster_free(c);
}

/* drain: every VM leaves, the drained host refuses admissions until the drain is cancelled */
static void
test_drain(void **state)
{
	fake_cluster *c = fake_cluster_new();
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 2, 4096, BAL);
	fake_host *h2 = fake_host_add(c, "h2", "10.0.0.2", 2, 4096, BAL);
	fake_host *h3 = fake_host_add(c, "h3", "10.0.0.3", 2, 4096, BAL);
	json_t *r, *admit = json_pack("{s:s, s:s, s:f, s:f}", "op", "admit", "vm", "t.x", "cpu",
	    0.1, "mem", 16.0);
	guint at = 0;

	(void)state;
	fake_dom_add(h1, "s", "a", 0.5, 256, NULL);
	fake_dom_add(h1, "s", "b", 0.5, 256, NULL);
	fake_dom_add(h1, "s", "c", 0.3, 256, NULL);
	fake_host_start(h3);
	fake_host_start(h2);
	fake_host_start(h1);
	fake_sample(c);
	r = fake_rpc(c, "h1", json_pack("{s:s}", "op", "drain"), WAIT_MS);
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(num(r, "left"), 0);
	assert_int_equal(json_array_size(json_object_get(r, "moves")), 3);
	json_decref(r);
	assert_non_null(fake_event(c, "drain-start", NULL, &at, 0));
	assert_non_null(fake_event(c, "drain-done", NULL, &at, 0));
	assert_false(fake_dom_on(h1, "s.a") || fake_dom_on(h1, "s.b") || fake_dom_on(h1, "s.c"));
	assert_true(fake_dom_on(h2, "s.a") || fake_dom_on(h3, "s.a"));
	fake_sample(c);
	r = fake_rpc_as(c, "h3", "h1", json_deep_copy(admit), WAIT_MS);
	assert_non_null(r);
	assert_false(json_is_true(json_object_get(r, "admitted")));
	assert_string_equal(str(r, "reason"), "this host is drained");
	json_decref(r);
	r = fake_rpc(c, "h1", json_pack("{s:s, s:b}", "op", "drain", "cancel", 1), WAIT_MS);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	assert_non_null(fake_event(c, "drain-cancelled", NULL, &at, 0));
	r = fake_rpc_as(c, "h3", "h1", admit, WAIT_MS);
	assert_true(json_is_true(json_object_get(r, "admitted")));
	json_decref(r);
	fake_cluster_free(c);
}

/* consolidation: light h1 (one VM) empties itself onto busier h2 and goes on standby (its
 * command ran, admission refuses, the state says so); then h2 overloads with no active host
 * to take its load: it wakes h1 (wake command ran) and its next plan moves a VM there */
static void
test_consolidate_standby_wake(void **state)
{
	g_autofree char *dir = g_dir_make_tmp("nube-power-XXXXXX", NULL);
	g_autofree char *bal = g_strdup_printf(BAL ";consolidate = true;consolidate-below = 0.3;"
	    "consolidate-count = 2;power-cooldown = 600;standby-command = touch %s/standby-$NUBE_HOST;"
	    "wake-command = touch %s/wake-$NUBE_HOST", dir, dir);
	g_autofree char *sb = g_build_filename(dir, "standby-h1", NULL);
	g_autofree char *wk = g_build_filename(dir, "wake-h1", NULL);
	fake_cluster *c = fake_cluster_new();
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 2, 4096, bal);
	fake_host *h2 = fake_host_add(c, "h2", "10.0.0.2", 2, 4096, bal);
	json_t *r, *e;
	guint at = 0;

	(void)state;
	fake_dom_add(h1, "s", "a", 0.2, 256, NULL);	/* h1 0.1: light */
	fake_dom_add(h2, "s", "b", 0.8, 256, NULL);	/* h2 0.4: over consolidate-below */
	fake_host_start(h2);
	fake_host_start(h1);
	fake_sample(c);
	assert_null(fake_event(c, "standby", NULL, &at, 0));	/* one light sample: not yet */
	fake_sample(c);
	e = fake_event(c, "standby", NULL, &at, WAIT_MS);
	assert_non_null(e);
	assert_string_equal(str(e, "host"), "h1");
	assert_int_equal(num(e, "data.exit"), 0);
	assert_true(fake_dom_on(h2, "s.a") && !fake_dom_on(h1, "s.a"));
	assert_true(g_file_test(sb, G_FILE_TEST_EXISTS));
	assert_false(g_file_test(wk, G_FILE_TEST_EXISTS));
	assert_int_equal(fake_count(c, "standby"), 1);	/* h2 (0.5 now) stays active */
	fake_sample(c);
	assert_true(json_is_true(json_object_get(json_object_get(h1->n.last_state, "balance"),
	    "standby")));
	/* h1's balancer starts again from its state_dir (a restarted agent): still on standby */
	h1->n.mape = mape_new(&h1->n);
	h1->n.on_sample_ud = h1->n.mape;
	assert_int_equal(mape_start(h1->n.mape, NULL), 0);
	fake_sample(c);
	assert_true(json_is_true(json_object_get(json_object_get(h1->n.last_state, "balance"),
	    "standby")));
	r = fake_rpc_as(c, "h2", "h1", json_pack("{s:s, s:s, s:f, s:f}", "op", "admit", "vm",
	    "t.x", "cpu", 0.1, "mem", 16.0), WAIT_MS);
	assert_non_null(r);
	assert_false(json_is_true(json_object_get(r, "admitted")));
	json_decref(r);

	/* h2 overloads (0.5 + 0.5 = 1.0): no active destination, so it wakes h1, then moves */
	h2->base_load = 0.5;
	fake_sample(c);
	fake_sample(c);
	e = fake_event(c, "wake-request", NULL, &at, WAIT_MS);
	assert_non_null(e);
	assert_string_equal(str(e, "host"), "h2");
	assert_string_equal(str(e, "data.host"), "h1");
	e = fake_event(c, "woken", NULL, NULL, WAIT_MS);
	assert_non_null(e);
	assert_string_equal(str(e, "host"), "h1");
	assert_string_equal(str(e, "data.by"), "h2");
	assert_true(g_file_test(wk, G_FILE_TEST_EXISTS));
	fake_sample(c);
	fake_sample(c);
	e = fake_event(c, "migrated", NULL, &at, WAIT_MS);
	assert_non_null(e);
	assert_string_equal(str(e, "data.dst"), "h1");
	assert_int_equal(fake_count(c, "penalty"), 0);
	fake_cluster_free(c);
	g_remove(sb);
	g_remove(wk);
	g_rmdir(dir);
}

/* ramp: h1's load rises 0.30, 0.42, 0.56, 0.70, 0.84 (one sample each, threshold 0.6,
 * alarm-count 2) beside an idle h2; the number of the sample after which h1 planned, 0 for
 * none. With prediction its trend crosses the threshold before its load does. */
static int
ramp(bool predict)
{
	static const double base[] = { 0.20, 0.32, 0.46, 0.60, 0.74 };
	g_autofree char *bal = g_strdup_printf(BAL ";predict = %s;predict-window = 6",
	    predict ? "true" : "false");
	fake_cluster *c = fake_cluster_new();
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 2, 4096, bal);
	fake_host *h2 = fake_host_add(c, "h2", "10.0.0.2", 2, 4096, bal);
	guint at = 0;
	int when = 0;

	fake_dom_add(h1, "s", "a", 0.2, 256, net1);	/* 0.1 of h1 */
	fake_net_add(h1, "s", "n1", 0, NULL);
	fake_host_start(h2);
	fake_host_start(h1);
	for (int i = 0; i < 5 && when == 0; i++) {
		h1->base_load = base[i];
		fake_sample(c);
		if (fake_event(c, "plan", NULL, &at, 0) != NULL)
			when = i + 1;
	}
	/* the balance JSON of its state says what it predicted */
	if (predict)
		assert_true(num(h1->n.last_state, "balance.load_predicted") >
		    num(h1->n.last_state, "load"));
	else
		assert_null(json_object_get(json_object_get(h1->n.last_state, "balance"),
		    "load_predicted"));
	assert_true(fake_run_until(c, job_ended, h1, WAIT_MS));
	fake_cluster_free(c);
	return when;
}

/* prediction in the live agent: the trend of a host's own samples makes it act on the third
 * sample of the ramp (load 0.56, still under 0.6, predicted 0.70); without it, it waits for
 * two samples over the threshold (the fifth) */
static void
test_predict(void **state)
{
	(void)state;
	assert_int_equal(ramp(true), 3);
	assert_int_equal(ramp(false), 5);
}

/* a migration libvirt refuses: the VM keeps running at home, the destination drops its
 * reservation and the net stretched for it, the plan ends in a penalty */
static void
test_failed_migration(void **state)
{
	fake_cluster *c = fake_cluster_new();
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 2, 4096, BAL);
	fake_host *h2 = fake_host_add(c, "h2", "10.0.0.2", 2, 4096, BAL);
	json_t *e;
	guint at = 0;

	(void)state;
	fake_dom_add(h1, "s", "a", 0.9, 256, net1);
	fake_dom_add(h1, "s", "b", 0.5, 256, net1);
	fake_net_add(h1, "s", "n1", 0, NULL);
	h1->fail_migrations = 10;
	fake_host_start(h2);
	fake_host_start(h1);
	fake_sample(c);
	fake_sample(c);
	e = fake_event(c, "migrate-failed", NULL, &at, WAIT_MS);
	assert_non_null(e);
	assert_non_null(strstr(str(e, "data.error"), "fake: migration"));
	e = fake_event(c, "penalty", NULL, &at, WAIT_MS);
	assert_non_null(e);
	assert_non_null(strstr(str(e, "data.why"), "0 of 1 move(s) done"));
	assert_true(fake_dom_on(h1, "s.a") && fake_dom_on(h1, "s.b"));
	assert_null(fake_net_get(h2, "s", "n1"));	/* the stretch was undone */
	assert_int_equal(fake_net_get(h1, "s", "n1")->vni, 0);
	fake_sample(c);
	assert_int_equal(json_array_size(json_object_get(json_object_get(h2->n.last_state,
	    "balance"), "reservations")), 0);
	assert_int_equal(num(h1->n.last_state, "balance.migrations_failed"), 1);
	fake_cluster_free(c);
}

/* restart recovery: a net an unfinished job left behind (no domain here uses it) is removed
 * at start-up, and its other carrier stops forwarding it here */
static void
test_restart_reconcile(void **state)
{
	static const char *const to_h1[] = { "10.0.0.1", NULL }, *const to_h2[] = { "10.0.0.2",
	    NULL }, *const old[] = { "old", NULL };
	fake_cluster *c = fake_cluster_new();
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 2, 4096, BAL);
	fake_host *h2 = fake_host_add(c, "h2", "10.0.0.2", 2, 4096, BAL);
	json_t *e;
	guint at = 0;

	(void)state;
	fake_net_add(h1, "s", "old", 4242, to_h2);	/* left by a migration h1 did not finish */
	fake_dom_add(h2, "s", "c", 0.1, 128, old);
	fake_net_add(h2, "s", "old", 4242, to_h1);
	fake_dom_add(h1, "s", "a", 0.1, 128, net1);
	fake_net_add(h1, "s", "n1", 0, NULL);		/* in use: kept */
	fake_host_start(h2);
	fake_host_start(h1);		/* the agent (re)starts */
	assert_null(fake_net_get(h1, "s", "old"));
	assert_non_null(fake_net_get(h1, "s", "n1"));
	fake_sample(c);			/* the peers' states tell who is at 10.0.0.2 */
	e = fake_event(c, "net-cleanup", NULL, &at, WAIT_MS);
	assert_non_null(e);
	assert_true(json_is_true(json_object_get(json_object_get(e, "data"), "startup")));
	assert_non_null(fake_net_get(h2, "s", "old"));
	assert_int_equal(fake_net_get(h2, "s", "old")->remotes->len, 0);
	assert_int_equal(fake_net_get(h2, "s", "old")->vni, 4242);
	fake_cluster_free(c);
}

/* a one-VM deployment of scenario s as a deploy gives it: vm on host, its net n1 (VNI 100)
 * carried by host and other */
static json_t *
heal_dj(const char *vm, const char *host, const char *addr, const char *other,
    const char *other_addr)
{
	return json_pack("{s:s, s:s, s:n, s:[{s:s, s:s, s:[]}], s:[{s:s, s:i, s:[s,s], s:[s,s]}]}",
	    "scenario", "s", "spec", "<vnx/>", "algorithm", "vms", "vm", vm, "host", host, "macs",
	    "nets", "net", "n1", "vni", 100, "hosts", host, other, "addrs", addr, other_addr);
}

/* heal_deployment: the VM placed on the destination, the gone host out of its nets' carriers */
static void
test_heal_deployment(void **state)
{
	json_t *dj = heal_dj("c", "h3", "10.0.0.3", "h1", "10.0.0.1");
	json_t *rec = json_pack("{s:{s:{s:s, s:n}}, s:{s:{s:s, s:s, s:i, s:O, s:O}}}", "scenarios",
	    "s", "spec", "<vnx/>", "algorithm", "vms", "s.c", "scenario", "s", "vm", "c", "gen", 1,
	    "place", json_array_get(json_object_get(dj, "vms"), 0), "nets",
	    json_object_get(dj, "nets"));
	json_t *d = heal_deployment(rec, "s.c", "h3", "h2", "10.0.0.2"), *np;

	(void)state;
	assert_non_null(d);
	assert_string_equal(str(d, "spec"), "<vnx/>");
	assert_string_equal(str(json_array_get(json_object_get(d, "vms"), 0), "host"), "h2");
	np = json_array_get(json_object_get(d, "nets"), 0);
	assert_int_equal(num(np, "vni"), 100);
	assert_int_equal(json_array_size(json_object_get(np, "hosts")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(np, "hosts"), 0)), "h1");
	assert_string_equal(json_string_value(json_array_get(json_object_get(np, "hosts"), 1)), "h2");
	assert_string_equal(json_string_value(json_array_get(json_object_get(np, "addrs"), 1)),
	    "10.0.0.2");
	json_decref(d);
	/* onto a host that carried the net already: listed once */
	d = heal_deployment(rec, "s.c", "h3", "h1", "10.0.0.1");
	np = json_array_get(json_object_get(d, "nets"), 0);
	assert_int_equal(json_array_size(json_object_get(np, "hosts")), 1);
	json_decref(d);
	assert_null(heal_deployment(rec, "s.x", "h3", "h1", "10.0.0.1"));	/* no such VM */
	json_decref(rec);
	json_decref(dj);
}

/* self-healing's detection and election: h3's last will fires; while its libvirtd answers
 * nothing is restarted (heal-deferred); once it is silent past the grace, exactly one survivor
 * (h1, the lowest name) starts healing, asks for admission and sends "heal" to the
 * destination, which deploys from h3's own record (the fake cannot render a domain: the
 * restart fails there, reported) */
static void
test_heal_elect(void **state)
{
	static const char *const n1[] = { "n1", NULL };
	fake_cluster *c = fake_cluster_new();
	fake_host *h2 = fake_host_add(c, "h2", "10.0.0.2", 2, 4096, BAL);
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 2, 4096, BAL);
	fake_host *h3 = fake_host_add(c, "h3", "10.0.0.3", 2, 4096, BAL);
	json_t *dj = heal_dj("c", "h3", "10.0.0.3", "h1", "10.0.0.1"), *e;
	guint at = 0;

	(void)state;
	for (guint i = 0; i < c->hosts->len; i++)
		((fake_host *)c->hosts->pdata[i])->n.cfg->heal_grace = 3;
	fake_dom_add(h3, "s", "c", 0.1, 128, n1);
	heal_record_deployed(&h3->n, dj, "c", n1, 1);
	fake_host_start(h1);
	fake_host_start(h2);
	fake_host_start(h3);
	heal_record_publish(&h3->n);
	fake_sample(c);
	fake_sample(c);
	/* the last will; h3's libvirtd still answers */
	fake_publish(c, "nube/v1/host/h3/online", "0");
	for (int i = 0; i < 5; i++)
		fake_sample(c);
	e = fake_event(c, "heal-deferred", NULL, &at, WAIT_MS);
	assert_non_null(e);
	assert_string_equal(str(e, "host"), "h1");
	assert_int_equal(fake_count(c, "heal-start"), 0);
	/* now it is silent too */
	h3->libvirt_down = true;
	at = 0;
	for (int i = 0; i < 5 && fake_count(c, "heal-start") == 0; i++)
		fake_sample(c);
	e = fake_event(c, "heal-start", NULL, &at, WAIT_MS);
	assert_non_null(e);
	assert_string_equal(str(e, "host"), "h1");
	assert_string_equal(str(e, "data.host"), "h3");
	e = fake_event(c, "heal-failed", "c", &at, WAIT_MS);	/* the fake renders no domain */
	assert_non_null(e);
	assert_string_equal(str(e, "data.src"), "h3");
	assert_non_null(strstr(str(e, "data.error"), "spec"));	/* it got as far as the deploy */
	for (int i = 0; i < 3; i++)
		fake_sample(c);
	assert_true(fake_count(c, "heal-start") >= 1);	/* a failed heal is tried again */
	/* h2 never acted: every heal-start is h1's */
	for (guint i = 0; i < c->events->len; i++) {
		const json_t *x = c->events->pdata[i];

		if (g_strcmp0(str(x, "type"), "heal-start") == 0)
			assert_string_equal(str(x, "host"), "h1");
	}
	/* a peer may not make a host restart a VM of a host that is not gone */
	e = fake_rpc_as(c, "h1", "h2", json_pack("{s:s, s:s, s:s, s:i}", "op", "heal", "host", "h1",
	    "domain", "s.c", "gen", 2), WAIT_MS);
	assert_non_null(e);
	assert_false(json_is_true(json_object_get(e, "ok")));
	json_decref(e);
	json_decref(dj);
	fake_cluster_free(c);
}

/* fencing: a host that comes back finds a peer's record claiming its VM at a higher
 * generation (restarted there while it was gone): its stale copy is removed, never run */
static void
test_heal_fence(void **state)
{
	static const char *const n1[] = { "n1", NULL };
	fake_cluster *c = fake_cluster_new();
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 2, 4096, BAL);
	fake_host *h2 = fake_host_add(c, "h2", "10.0.0.2", 2, 4096, BAL);
	json_t *d1 = heal_dj("c", "h1", "10.0.0.1", "h2", "10.0.0.2");
	json_t *d2 = heal_dj("c", "h2", "10.0.0.2", "h1", "10.0.0.1");
	json_t *e;
	guint at = 0;

	(void)state;
	fake_dom_add(h1, "s", "c", 0.1, 128, n1);	/* restarted here: generation 2 */
	fake_dom_add(h2, "s", "c", 0.1, 128, n1);	/* the stale copy (generation 1) */
	fake_dom_add(h2, "s", "d", 0.1, 128, n1);	/* claimed by nobody: kept */
	heal_record_deployed(&h1->n, d1, "c", n1, 2);
	heal_record_deployed(&h2->n, d2, "c", n1, 1);
	fake_host_start(h1);
	fake_host_start(h2);		/* h2 comes back */
	heal_record_publish(&h1->n);
	e = fake_event(c, "fenced", "c", &at, WAIT_MS);
	assert_non_null(e);
	assert_string_equal(str(e, "host"), "h2");
	assert_int_equal(num(e, "data.claimed_gen"), 2);
	assert_false(fake_dom_on(h2, "s.c"));
	assert_true(fake_dom_on(h2, "s.d"));
	assert_true(fake_dom_on(h1, "s.c"));
	assert_int_equal(fake_count(c, "fenced"), 1);
	json_decref(d1);
	json_decref(d2);
	fake_cluster_free(c);
}

/* dispatch: the op table decides who may send what, fields are checked before any handler,
 * status reads the fake libvirt and kernel */
static void
test_rpc_dispatch(void **state)
{
	fake_cluster *c = fake_cluster_new();
	fake_host *h1 = fake_host_add(c, "h1", "10.0.0.1", 2, 4096, BAL);
	json_t *r;

	(void)state;
	fake_dom_add(h1, "s", "a", 0.1, 128, net1);
	fake_net_add(h1, "s", "n1", 0, NULL);
	fake_host_start(h1);
	r = fake_rpc_as(c, "h2", "h1", json_pack("{s:s, s:s}", "op", "undeploy", "scenario", "s"),
	    WAIT_MS);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(str(r, "error"), "op 'undeploy' may only be sent by the operator "
	    "(sender 'h2')");
	json_decref(r);
	r = fake_rpc(c, "h1", json_pack("{s:s}", "op", "prepare-net"), WAIT_MS);
	assert_string_equal(str(r, "error"), "unknown op 'prepare-net'");
	json_decref(r);
	r = fake_rpc(c, "h1", json_pack("{s:s, s:i}", "op", "migrate", "vm", 7), WAIT_MS);
	assert_non_null(strstr(str(r, "error"), "\"vm\" must be a string"));
	json_decref(r);
	/* a plan before the agent's first sample waits for it (it would know no VM of its
	 * own yet), then is answered on it */
	{
		g_autofree char *id = fake_rpc_start(c, "h1", json_pack("{s:s}", "op", "plan"));

		assert_null(fake_rpc_wait(c, id, 300));
		fake_sample(c);
		r = fake_rpc_wait(c, id, WAIT_MS);
		assert_non_null(r);
		assert_true(json_is_true(json_object_get(r, "ok")));
		assert_string_equal(str(r, "note"), "under every threshold: nothing to do");
		json_decref(r);
	}
	/* a VM not in the last sample is looked for again in a fresh one before the answer */
	r = fake_rpc(c, "h1", json_pack("{s:s, s:s}", "op", "migrate", "vm", "zz"), WAIT_MS);
	assert_non_null(r);
	assert_string_equal(str(r, "error"), "no running VM 'zz' here");
	json_decref(r);
	r = fake_rpc(c, "h1", json_pack("{s:s}", "op", "status"), WAIT_MS);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(str(r, "host"), "h1");
	assert_string_equal(str(json_array_get(json_object_get(r, "vms"), 0), "domain"), "s.a");
	assert_string_equal(str(json_array_get(json_object_get(r, "nets"), 0), "net"), "n1");
	json_decref(r);
	/* a peer may stretch a net here: net-ensure runs in the pool */
	r = fake_rpc_as(c, "h2", "h1", json_pack("{s:s, s:s, s:s, s:i, s:[s,s], s:[s,s]}", "op",
	    "net-ensure", "scenario", "s", "net", "n1", "vni", 77, "hosts", "h1", "h2", "addrs",
	    "10.0.0.1", "10.0.0.2"), WAIT_MS);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	assert_int_equal(fake_net_get(h1, "s", "n1")->vni, 77);
	assert_int_equal(fake_net_get(h1, "s", "n1")->remotes->len, 1);
	/* exec needs a guest agent: the fake has none, and says so as the error */
	r = fake_rpc(c, "h1", json_pack("{s:s, s:s, s:s, s:s}", "op", "exec", "scenario", "s",
	    "vm", "a", "cmd", "true"), WAIT_MS);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(str(r, "error"), "fake: no guest agent in 's.a'"));
	json_decref(r);
	/* undeploy: the scenario's domains and nets go */
	r = fake_rpc(c, "h1", json_pack("{s:s, s:s}", "op", "undeploy", "scenario", "s"),
	    WAIT_MS);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(num(r, "domains"), 1);
	assert_int_equal(num(r, "nets"), 1);
	json_decref(r);
	assert_false(fake_dom_on(h1, "s.a"));
	assert_null(fake_net_get(h1, "s", "n1"));
	assert_non_null(fake_event(c, "undeploy", NULL, NULL, WAIT_MS));
	fake_cluster_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rpc_dispatch),
		cmocka_unit_test(test_overload_migrates),
		cmocka_unit_test(test_refuse_then_force),
		cmocka_unit_test(test_journal_and_restart),
		cmocka_unit_test(test_migrate_best_host),
		cmocka_unit_test(test_penalty),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_cold_move),
		cmocka_unit_test(test_consolidate_standby_wake),
		cmocka_unit_test(test_predict),
		cmocka_unit_test(test_unmanaged_net_pins),
		cmocka_unit_test(test_failed_migration),
		cmocka_unit_test(test_restart_reconcile),
		cmocka_unit_test(test_heal_deployment),
		cmocka_unit_test(test_heal_elect),
		cmocka_unit_test(test_heal_fence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
