/* telemetry: collect host metrics and VM counters in a worker, publish state from the loop */
#include "agent/telemetry.h"

#include <string.h>

#include "agent/env.h"
#include "agent/rpc.h"

host_state_vm *
telemetry_vm(const virt_dom_info *i, const telemetry_prev *prev, int64_t t_us, double cpus)
{
	host_state_vm *v = host_state_vm_new();

	if (prev != NULL && i->active) {
		int64_t dt = t_us - prev->t_us;

		v->cpu = metrics_rate(prev->cpu_time_ns, i->cpu_time_ns, dt) / 1e9;
		v->rx_bps = metrics_rate(prev->rx_bytes, i->rx_bytes, dt) * 8;
		v->tx_bps = metrics_rate(prev->tx_bytes, i->tx_bytes, dt) * 8;
	}
	v->scenario = g_strdup(i->scenario);
	v->vm = g_strdup(i->vm);
	v->domain = g_strdup(i->domain);
	v->state = g_strdup(i->state);
	v->active = i->active;
	v->load = cpus > 0 ? v->cpu / cpus : 0.0;
	v->mem_mib = i->mem_mib;
	v->vcpus = i->vcpus;
	v->container = i->container;
	v->move = g_strdup(i->move);
	for (guint k = 0; i->nets != NULL && k < i->nets->len; k++)
		g_ptr_array_add(v->nets, g_strdup(g_ptr_array_index(i->nets, k)));
	return v;
}

typedef struct {
	nubed *n;
	host_state *state;	/* result, NULL on failure */
	GPtrArray *waiters;	/* of tel_waiter*: told once this round is published */
} tel_job;

typedef struct {
	void (*fn)(void *ud);
	void *ud;
} tel_waiter;

/* one sample of host + VMs; fills vms (may stay NULL when libvirt is away) */
static int
sample(nubed *n, metrics_sample *ms, GPtrArray **vms, GError **err)
{
	GError *verr = NULL;

	if (n->env->metrics_read(n, ms, err) < 0)
		return -1;
	if (n->tel_virt == NULL)
		n->tel_virt = nubed_virt_open(n, &verr);
	if (n->tel_virt != NULL) {
		double t = nubed_now(n);

		*vms = n->env->virt_list(n->tel_virt, &verr);
		if (*vms != NULL)	/* what status answers until the next listing */
			nubed_doms_put(n, *vms, t);
		if (*vms == NULL) {	/* reconnect next time */
			n->env->virt_close(n->tel_virt);
			n->tel_virt = NULL;
		}
	}
	if (verr != NULL) {
		nubed_log(NLOG_WARN, "telemetry: libvirt: %s", verr->message);
		g_error_free(verr);
	}
	return 0;
}

static void
remember(nubed *n, GPtrArray *vms, int64_t t_us)
{
	g_hash_table_remove_all(n->prev_vm);
	for (guint k = 0; vms != NULL && k < vms->len; k++) {
		const virt_dom_info *i = g_ptr_array_index(vms, k);
		telemetry_prev *p = g_new0(telemetry_prev, 1);

		p->cpu_time_ns = i->cpu_time_ns;
		p->rx_bytes = i->rx_bytes;
		p->tx_bytes = i->tx_bytes;
		p->t_us = t_us;
		g_hash_table_replace(n->prev_vm, g_strdup(i->domain), p);
	}
}

static void
tel_collect(tel_job *j)
{
	nubed *n = j->n;
	metrics_sample ms;
	g_autoptr(GPtrArray) vms = NULL;
	GError *err = NULL;
	host_state *s = host_state_new();
	uint64_t promised = 0, rss = 0;

	if (!n->have_prev_host) {	/* first round: a baseline, then measure over 0.5 s */
		g_autoptr(GPtrArray) base = NULL;

		if (sample(n, &n->prev_host, &base, &err) == 0) {
			n->have_prev_host = true;
			remember(n, base, n->prev_host.t_us);
		}
		g_clear_error(&err);
	}
	{	/* rates over at least 0.5 s, even when rounds are asked back to back */
		int64_t since = (int64_t)(nubed_now(n) * 1e6) - n->prev_host.t_us;

		if (since >= 0 && since < 500 * 1000)
			g_usleep((gulong)(500 * 1000 - since));
	}
	if (sample(n, &ms, &vms, &err) < 0) {
		nubed_log(NLOG_ERR, "telemetry: %s", err->message);
		g_error_free(err);
		host_state_free(s);
		return;
	}
	s->load = n->have_prev_host ? metrics_load(&n->prev_host, &ms) : 0;
	for (guint k = 0; vms != NULL && k < vms->len; k++) {
		const virt_dom_info *i = g_ptr_array_index(vms, k);
		const telemetry_prev *p = g_hash_table_lookup(n->prev_vm, i->domain);

		g_ptr_array_add(s->vms, telemetry_vm(i, p, ms.t_us, ms.cpus));
		promised += i->mem_max_mib;
		rss += i->active ? i->mem_rss_mib : 0;
		if (i->active)
			s->active++;
		else
			s->inactive++;
	}
	remember(n, vms, ms.t_us);
	n->prev_host = ms;
	n->have_prev_host = true;
	/* a capacity set in the config (a host sharing the machine, e.g. in the lab) counts
	 * only what this host's VMs hold resident: the machine's own use is not this host's */
	s->mem_total_mib = ms.mem_total_kib / 1024;
	s->mem_used_mib = (ms.mem_total_kib - MIN(ms.mem_avail_kib, ms.mem_total_kib)) / 1024;
	if (n->cfg->mem_mib > 0) {
		s->mem_total_mib = n->cfg->mem_mib;
		s->mem_used_mib = MIN(rss, s->mem_total_mib);
	}
	s->host = g_strdup(n->cfg->host);
	s->ts_ms = n->env->wall_ms(n);
	s->interval_s = n->cfg->interval_s;
	s->cpus = ms.cpus;
	s->fabric_addr = g_strdup(n->cfg->fabric_addr);
	s->domain_type = g_strdup(n->tel_virt != NULL ? n->env->virt_domain_type(n->tel_virt) :
	    NULL);
	s->libvirt = vms != NULL;
	/* what placed VMs were given and what the host keeps: planners and admission count
	 * these, not only the memory in use (guests may touch their memory later); unknown
	 * without libvirt: planners then count used only */
	s->has_promised = vms != NULL;
	s->mem_promised_mib = promised;
	s->mem_reserve_mib = n->cfg->mem_reserve_mib;
	j->state = s;
}

static void
tel_publish(void *p)
{
	tel_job *j = p;
	nubed *n = j->n;

	n->telemetry_busy = false;
	if (j->state != NULL) {
		if (n->on_sample != NULL)	/* the balancer analyses it, adds "balance" */
			n->on_sample(j->state, n->on_sample_ud);
		json_decref(n->last_state);
		n->last_state = host_state_to_json(j->state);
		nubed_log(NLOG_DEBUG, "state: load %.2f, %u vms", j->state->load,
		    j->state->vms->len);
		if (n->env->connected(n))	/* else the last one goes out on connect */
			n->env->publish(n, n->state_topic, json_incref(n->last_state), true);
	}
	host_state_free(j->state);
	if (!n->sampled) {	/* the ops that came before it run now */
		n->sampled = true;
		rpc_run_early(n);
	}
	for (guint i = 0; j->waiters != NULL && i < j->waiters->len; i++) {
		tel_waiter *w = j->waiters->pdata[i];

		w->fn(w->ud);
		g_free(w);
	}
	if (j->waiters != NULL)
		g_ptr_array_unref(j->waiters);
	g_free(j);
	if (n->telemetry_again) {
		n->telemetry_again = false;
		telemetry_start(n);
	}
}

static gpointer
tel_thread(gpointer p)
{
	tel_job *j = p;

	tel_collect(j);
	nubed_post(j->n, tel_publish, j);
	return NULL;
}

void
telemetry_start(nubed *n)
{
	tel_job *j;

	if (n->telemetry_busy) {
		n->telemetry_again = true;
		return;
	}
	n->telemetry_busy = true;
	j = g_new0(tel_job, 1);
	j->n = n;
	j->waiters = n->tel_waiters;	/* this round is the one they wait for */
	n->tel_waiters = NULL;
	/* its own thread: a long deploy filling the pool never delays telemetry */
	g_thread_unref(g_thread_new("telemetry", tel_thread, j));
}

static void
start_main(void *p)
{
	telemetry_start(p);
}

void
telemetry_then(nubed *n, void (*fn)(void *ud), void *ud)
{
	tel_waiter *w = g_new0(tel_waiter, 1);

	w->fn = fn;
	w->ud = ud;
	if (n->tel_waiters == NULL)
		n->tel_waiters = g_ptr_array_new();
	g_ptr_array_add(n->tel_waiters, w);
	telemetry_start(n);	/* busy: the round after the one in flight takes them */
}

void
telemetry_start_async(nubed *n)
{
	nubed_post(n, start_main, n);
}
