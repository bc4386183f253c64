/* balance: pure decision core of the autonomic VM manager — config, monitor helpers, scores,
 * detection, penalty, plans (seed, nube, drain), rendering and admission. See balance.h. */
#include "balance/balance.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- policies and config */

static const char *const policy_names[] = {
	[BALANCE_POLICY_NONE] = "none",
	[BALANCE_POLICY_SEED] = "seed",
	[BALANCE_POLICY_NUBE] = "nube",
};

int
balance_policy_from_name(const char *name, balance_policy *out)
{
	if (!name)
		return -1;
	for (size_t i = 0; i < G_N_ELEMENTS(policy_names); i++) {
		if (strcmp(name, policy_names[i]) == 0) {
			*out = (balance_policy)i;
			return 0;
		}
	}
	return -1;
}

const char *
balance_policy_name(balance_policy p)
{
	if ((size_t)p < G_N_ELEMENTS(policy_names))
		return policy_names[p];
	return "unknown";
}

void
balance_config_defaults(balance_config *cfg)
{
	*cfg = (balance_config){
		.policy = BALANCE_POLICY_NUBE,
		.interval = 10,
		.load_threshold = 0.6,
		.alarm_count = 2,
		.mem_threshold = 0.9,
		.penalty = 190,
		.penalty_step = 10,
		.w_pos = 0.333, .w_neg = 0.666,
		.w_cpus = 0.4, .w_mem = 0.6,
		.w_load = 0.4, .w_active = 0.2, .w_inactive = 0.05, .w_mem_use = 0.35,
		.w_down = 0.2, .w_up = 0.1, .w_vmload = 0.7,
		.margin = 0.05,
		.source_margin = 0.04,
		.cooldown = 600,
		.w_net = 0.15,
		.w_migrate = 0.06,
		.w_dest = 0.3,
		.w_overshoot = 0.5,
		.reservation_ttl = 300,
		.consolidate = false,
		.consolidate_below = 0.3,
		.consolidate_count = 3,
		.power_cooldown = 1800,
		.predict = false,
		.predict_window = 6,
		.predict_horizon = 1,
	};
}

typedef enum { KEY_DOUBLE, KEY_INT, KEY_POLICY, KEY_BOOL } key_type;

static const struct {
	const char *name;
	key_type type;
	size_t off;
	double min, max;	/* inclusive range for numbers */
} config_keys[] = {
	{ "policy", KEY_POLICY, offsetof(balance_config, policy), 0, 0 },
	{ "interval", KEY_DOUBLE, offsetof(balance_config, interval), 1e-3, 86400 },
	{ "load-threshold", KEY_DOUBLE, offsetof(balance_config, load_threshold), 1e-3, 1 },
	{ "alarm-count", KEY_INT, offsetof(balance_config, alarm_count), 1, 1000 },
	{ "mem-threshold", KEY_DOUBLE, offsetof(balance_config, mem_threshold), 1e-3, 1 },
	{ "penalty", KEY_DOUBLE, offsetof(balance_config, penalty), 0, 86400 },
	{ "penalty-step", KEY_DOUBLE, offsetof(balance_config, penalty_step), 0, 86400 },
	{ "w-pos", KEY_DOUBLE, offsetof(balance_config, w_pos), 0, 1e6 },
	{ "w-neg", KEY_DOUBLE, offsetof(balance_config, w_neg), 0, 1e6 },
	{ "w-cpus", KEY_DOUBLE, offsetof(balance_config, w_cpus), 0, 1e6 },
	{ "w-mem", KEY_DOUBLE, offsetof(balance_config, w_mem), 0, 1e6 },
	{ "w-load", KEY_DOUBLE, offsetof(balance_config, w_load), 0, 1e6 },
	{ "w-active", KEY_DOUBLE, offsetof(balance_config, w_active), 0, 1e6 },
	{ "w-inactive", KEY_DOUBLE, offsetof(balance_config, w_inactive), 0, 1e6 },
	{ "w-mem-use", KEY_DOUBLE, offsetof(balance_config, w_mem_use), 0, 1e6 },
	{ "w-down", KEY_DOUBLE, offsetof(balance_config, w_down), 0, 1e6 },
	{ "w-up", KEY_DOUBLE, offsetof(balance_config, w_up), 0, 1e6 },
	{ "w-vmload", KEY_DOUBLE, offsetof(balance_config, w_vmload), 0, 1e6 },
	{ "margin", KEY_DOUBLE, offsetof(balance_config, margin), 0, 1 },
	{ "source-margin", KEY_DOUBLE, offsetof(balance_config, source_margin), 0, 1 },
	{ "cooldown", KEY_DOUBLE, offsetof(balance_config, cooldown), 0, 86400 * 7 },
	{ "w-net", KEY_DOUBLE, offsetof(balance_config, w_net), 0, 1e6 },
	{ "w-migrate", KEY_DOUBLE, offsetof(balance_config, w_migrate), 0, 1e6 },
	{ "w-dest", KEY_DOUBLE, offsetof(balance_config, w_dest), 0, 1e6 },
	{ "w-overshoot", KEY_DOUBLE, offsetof(balance_config, w_overshoot), 0, 1e6 },
	{ "reservation-ttl", KEY_DOUBLE, offsetof(balance_config, reservation_ttl), 1e-3, 86400 },
	{ "consolidate", KEY_BOOL, offsetof(balance_config, consolidate), 0, 1 },
	{ "consolidate-below", KEY_DOUBLE, offsetof(balance_config, consolidate_below), 0, 1 },
	{ "consolidate-count", KEY_INT, offsetof(balance_config, consolidate_count), 1, 1000 },
	{ "power-cooldown", KEY_DOUBLE, offsetof(balance_config, power_cooldown), 0, 86400 * 7 },
	{ "predict", KEY_BOOL, offsetof(balance_config, predict), 0, 1 },
	{ "predict-window", KEY_INT, offsetof(balance_config, predict_window), 2, 1000 },
	{ "predict-horizon", KEY_DOUBLE, offsetof(balance_config, predict_horizon), 0, 100 },
};

int
balance_config_validate(const balance_config *cfg, GError **error)
{
	for (size_t i = 0; i < G_N_ELEMENTS(config_keys); i++) {
		const char *base = (const char *)cfg + config_keys[i].off;
		double v;
		switch (config_keys[i].type) {
		case KEY_POLICY:
			if ((size_t)*(const balance_policy *)base >= G_N_ELEMENTS(policy_names)) {
				g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
				    "balance: unknown policy %d", (int)*(const balance_policy *)base);
				return -1;
			}
			continue;
		case KEY_BOOL:
			continue;
		case KEY_INT:
			v = *(const int *)base;
			break;
		case KEY_DOUBLE:
		default:
			v = *(const double *)base;
			break;
		}
		if (!isfinite(v) || v < config_keys[i].min || v > config_keys[i].max) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
			    "balance: '%s' = %g is out of range [%g, %g]", config_keys[i].name, v,
			    config_keys[i].min, config_keys[i].max);
			return -1;
		}
	}
	if (cfg->margin >= cfg->load_threshold || cfg->source_margin >= cfg->load_threshold) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
		    "balance: 'margin' %g and 'source-margin' %g must be smaller than "
		    "'load-threshold' %g", cfg->margin, cfg->source_margin, cfg->load_threshold);
		return -1;
	}
	return 0;
}

int
balance_config_load_keyfile(GKeyFile *kf, const char *group, balance_config *cfg, GError **error)
{
	if (!kf || !group || !cfg) {
		g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
		    "balance: no key file, group or config given");
		return -1;
	}
	if (!g_key_file_has_group(kf, group))
		return 0;
	gsize n = 0;
	g_auto(GStrv) keys = g_key_file_get_keys(kf, group, &n, error);
	if (!keys)
		return -1;
	for (gsize k = 0; k < n; k++) {
		size_t i;
		for (i = 0; i < G_N_ELEMENTS(config_keys); i++)
			if (strcmp(keys[k], config_keys[i].name) == 0)
				break;
		if (i == G_N_ELEMENTS(config_keys)) {
			g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
			    "balance: unknown key '%s' in group [%s]", keys[k], group);
			return -1;
		}
		char *base = (char *)cfg + config_keys[i].off;
		GError *err = NULL;
		if (config_keys[i].type == KEY_POLICY) {
			g_autofree char *s = g_key_file_get_string(kf, group, keys[k], &err);
			if (!s) {
				g_propagate_error(error, err);
				return -1;
			}
			g_strstrip(s);
			if (balance_policy_from_name(s, (balance_policy *)base) < 0) {
				g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
				    "balance: unknown policy '%s' in [%s] (none, seed, nube)", s, group);
				return -1;
			}
		} else if (config_keys[i].type == KEY_BOOL) {
			gboolean v = g_key_file_get_boolean(kf, group, keys[k], &err);
			if (err) {
				g_propagate_prefixed_error(error, err, "balance: '%s': ", keys[k]);
				return -1;
			}
			*(bool *)base = v;
		} else if (config_keys[i].type == KEY_INT) {
			int v = g_key_file_get_integer(kf, group, keys[k], &err);
			if (err) {
				g_propagate_prefixed_error(error, err, "balance: '%s': ", keys[k]);
				return -1;
			}
			*(int *)base = v;
		} else {
			double v = g_key_file_get_double(kf, group, keys[k], &err);
			if (err) {
				g_propagate_prefixed_error(error, err, "balance: '%s': ", keys[k]);
				return -1;
			}
			*(double *)base = v;
		}
	}
	return balance_config_validate(cfg, error);
}

/* ---------------------------------------------------------------- monitor helpers */

double
balance_cpu_use(uint64_t cputime_ns, uint64_t cputime_old_ns, double interval_s)
{
	if (!(interval_s > 0) || cputime_ns < cputime_old_ns)
		return 0;
	return (double)(cputime_ns - cputime_old_ns) / 1e9 / interval_s;
}

double
balance_vm_load_generated(double host_load, double cpu, double host_cpus)
{
	if (host_cpus <= 0)
		return 0;
	return host_load * cpu / host_cpus;
}

double
balance_net_util(uint64_t bytes, uint64_t bytes_old, double interval_s, double link_bps)
{
	if (!(interval_s > 0) || !(link_bps > 0) || bytes < bytes_old)
		return 0;
	double u = (double)(bytes - bytes_old) * 8.0 / (link_bps * interval_s);
	return u > 1 ? 1 : u;
}

/* ---------------------------------------------------------------- scores */

static double
seed_score_raw(const balance_config *cfg, double cpus, double mem_total, double mem_used, double load,
    int active, int inactive)
{
	double mem_gib = mem_total / 1024.0;
	double mem_use = mem_total > 0 ? mem_used / mem_total : 1;
	double pos = cpus * cfg->w_cpus + mem_gib * cfg->w_mem;
	double neg = load * cfg->w_load + active * cfg->w_active + inactive * cfg->w_inactive +
	    mem_use * cfg->w_mem_use;
	return cfg->w_pos * pos - cfg->w_neg * neg;
}

double
balance_seed_host_score(const balance_config *cfg, const balance_host *h)
{
	return seed_score_raw(cfg, h->cpus, h->mem_total, h->mem_used, h->load, h->active, h->inactive);
}

static double
vm_lg(const balance_vm *vm, const balance_host *host)
{
	if (vm->load_generated >= 0)
		return vm->load_generated;
	return host ? balance_vm_load_generated(host->load, vm->cpu, host->cpus) : 0;
}

double
balance_seed_vm_score(const balance_config *cfg, const balance_vm *vm, const balance_host *host)
{
	return vm->down * cfg->w_down + vm->up * cfg->w_up + vm_lg(vm, host) * cfg->w_vmload;
}

/* ---------------------------------------------------------------- analyse */

static const char *const state_names[] = {
	[BALANCE_OK] = "ok",
	[BALANCE_HIGH] = "high",
	[BALANCE_OVERLOADED] = "overloaded",
	[BALANCE_ALONE] = "alone",
	[BALANCE_PENALISED] = "penalised",
};

const char *
balance_state_name(balance_state s)
{
	if ((size_t)s < G_N_ELEMENTS(state_names))
		return state_names[s];
	return "unknown";
}

static bool
mem_high(const balance_config *cfg, const balance_host *h)
{
	return cfg->mem_threshold < 1 && h->mem_total > 0 &&
	    h->mem_used / h->mem_total >= cfg->mem_threshold;
}

balance_state
balance_analyse(balance_detector *d, balance_penalty *pen, const balance_config *cfg,
    const balance_host *self, size_t online_peers, double now)
{
	bool lh = self->load >= cfg->load_threshold;
	bool mh = mem_high(cfg, self);
	/* a host whose trend crosses the threshold within the horizon acts at once */
	bool ph = cfg->predict && self->load_predicted >= cfg->load_threshold &&
	    self->load >= cfg->load_threshold - cfg->margin;
	d->count = lh || ph ? d->count + 1 : 0;
	if (ph && d->count < cfg->alarm_count)
		d->count = cfg->alarm_count;
	lh = lh || ph;
	d->mem_count = mh ? d->mem_count + 1 : 0;
	/* a memory overload is not solved by a low CPU load: keep the penalty then */
	double pl = ph ? fmax(self->load, self->load_predicted) : self->load;
	bool penalised = pen && balance_penalty_update(pen, cfg,
	    mh ? fmax(pl, cfg->load_threshold) : pl, now);
	if (!lh && !mh)
		return BALANCE_OK;
	if (d->count < cfg->alarm_count && d->mem_count < cfg->alarm_count)
		return BALANCE_HIGH;
	if (online_peers == 0)
		return BALANCE_ALONE;
	if (penalised)
		return BALANCE_PENALISED;
	d->count = 0;
	d->mem_count = 0;
	return BALANCE_OVERLOADED;
}

void
balance_penalty_fail(balance_penalty *p, const balance_config *cfg, double now)
{
	p->active = true;
	p->until = now + cfg->penalty + cfg->penalty_step * p->failures;
	p->failures++;
}

void
balance_penalty_clear(balance_penalty *p)
{
	p->active = false;
	p->until = 0;
	p->failures = 0;
}

bool
balance_penalty_update(balance_penalty *p, const balance_config *cfg, double load, double now)
{
	if (load < cfg->load_threshold) {
		balance_penalty_clear(p);
		return false;
	}
	if (p->active && now >= p->until)
		p->active = false;
	return p->active;
}

/* ---------------------------------------------------------------- plan helpers */

static balance_plan *
plan_alloc(balance_policy policy, const balance_host *self, double now)
{
	balance_plan *p = g_new0(balance_plan, 1);
	p->policy = policy;
	p->host = g_strdup(self && self->name ? self->name : "?");
	p->now = now;
	p->moves = g_ptr_array_new();
	p->unplaced = g_ptr_array_new();
	if (self) {
		p->load_before = p->load_after = self->load;
		p->mem_before = p->mem_after = self->mem_used;
	}
	return p;
}

static void
move_free(balance_move *m)
{
	if (!m)
		return;
	g_free(m->vm);
	g_free(m->scenario);
	g_free(m->src);
	g_free(m->dst);
	g_free(m->why);
	g_free(m);
}

void
balance_plan_free(balance_plan *p)
{
	if (!p)
		return;
	for (guint i = 0; i < p->moves->len; i++)
		move_free(p->moves->pdata[i]);
	for (guint i = 0; i < p->unplaced->len; i++) {
		balance_unplaced *u = p->unplaced->pdata[i];
		g_free(u->vm);
		g_free(u->reason);
		g_free(u);
	}
	g_ptr_array_free(p->moves, TRUE);
	g_ptr_array_free(p->unplaced, TRUE);
	g_free(p->host);
	g_free(p->note);
	g_free(p);
}

static balance_move *
move_add(balance_plan *p, const balance_host *src, const balance_vm *vm, const char *dst)
{
	balance_move *m = g_new0(balance_move, 1);
	m->vm = g_strdup(vm->name ? vm->name : "?");
	m->scenario = g_strdup(vm->scenario);
	m->src = g_strdup(src->name ? src->name : "?");
	m->dst = g_strdup(dst ? dst : "?");
	m->cpu = vm->cpu;
	m->load_generated = vm_lg(vm, src);
	m->mem = vm->mem;
	g_ptr_array_add(p->moves, m);
	return m;
}

static void
unplaced_add(balance_plan *p, const balance_vm *vm, char *reason)
{
	balance_unplaced *u = g_new(balance_unplaced, 1);
	u->vm = g_strdup(vm->name ? vm->name : "?");
	u->reason = reason;
	g_ptr_array_add(p->unplaced, u);
}

static bool
same_name(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static bool
usable_peer(const balance_host *self, const balance_host *h)
{
	return h->online && !h->standby && h->cpus > 0 && !same_name(h->name, self->name);
}

/* ---------------------------------------------------------------- policy seed (§4.4.6) */

typedef struct {
	const balance_host *h;
	double load;
	double mem_used;
	double promised;	/* memory promised to its VMs + reserve (promise_fits) */
	int active;
	double score;
	size_t idx;
} seed_host;

/* promised_of: what a destination's admission counts against its memory: the memory promised
 * to its VMs (and to arrivals it reserved for) plus its reserve */
static double
promised_of(const balance_host *h)
{
	return h->mem_promised + h->mem_reserve;
}

/* promise_fits: a VM of mem MiB more keeps a destination's promises within its memory — the
 * hard rule of admission (balance_admit), so a planned move is not refused for memory */
static bool
promise_fits(const balance_host *h, double promised, double mem)
{
	return h->mem_total <= 0 || promised + mem <= h->mem_total;
}

typedef struct {
	const balance_vm *vm;
	double lg;
	double score;
	size_t idx;
} seed_vm;

static int
seed_host_cmp(const void *a, const void *b)
{
	const seed_host *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static int
seed_vm_cmp(const void *a, const void *b)
{
	const seed_vm *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static void
seed_rescore(const balance_config *cfg, seed_host *s)
{
	s->score = seed_score_raw(cfg, s->h->cpus, s->h->mem_total, s->mem_used, s->load, s->active,
	    s->h->inactive);
}

static seed_host *
seed_hosts(const balance_config *cfg, const balance_host *self, const balance_host *peers,
    size_t n_peers, size_t *n_out)
{
	seed_host *H = g_new(seed_host, n_peers ? n_peers : 1);
	size_t m = 0;
	for (size_t j = 0; j < n_peers; j++) {
		if (!usable_peer(self, &peers[j]))
			continue;
		H[m] = (seed_host){ .h = &peers[j], .load = peers[j].load, .mem_used = peers[j].mem_used,
			.promised = promised_of(&peers[j]), .active = peers[j].active, .idx = j };
		seed_rescore(cfg, &H[m]);
		m++;
	}
	qsort(H, m, sizeof *H, seed_host_cmp);
	*n_out = m;
	return H;
}

static balance_plan *
plan_seed(const balance_config *cfg, const balance_host *self, const balance_host *peers,
    size_t n_peers, double now)
{
	balance_plan *p = plan_alloc(BALANCE_POLICY_SEED, self, now);
	double thr = cfg->load_threshold;
	p->target = thr;
	if (self->load < thr) {
		p->solved = true;
		p->note = g_strdup_printf("load %.3f already under threshold %.3f", self->load, thr);
		return p;
	}
	size_t m;
	g_autofree seed_host *H = seed_hosts(cfg, self, peers, n_peers, &m);
	if (m == 0) {
		p->note = g_strdup("no other online host");
		return p;
	}
	g_autofree seed_vm *V = g_new(seed_vm, self->n_vms ? self->n_vms : 1);
	size_t n = 0;
	for (size_t i = 0; i < self->n_vms; i++) {
		const balance_vm *vm = &self->vms[i];
		if (vm->pinned)
			continue;
		V[n] = (seed_vm){ .vm = vm, .lg = vm_lg(vm, self), .idx = i };
		V[n].score = balance_seed_vm_score(cfg, vm, self);
		n++;
	}
	qsort(V, n, sizeof *V, seed_vm_cmp);
	double src = self->load;
	/* §4.4.6.3: the highest VM goes to the first host (in score order) whose predicted load
	 * stays under the threshold (the text says "origen" in that sentence, but figure 12 and
	 * the §4.4.6 introduction make clear the check is on the destination); hosts are
	 * re-sorted after each assignment; stop once the source is predicted under. */
	for (size_t i = 0; i < n && src >= thr; i++) {
		for (size_t j = 0; j < m; j++) {
			p->checks++;
			double after = H[j].load + V[i].lg;
			if (!(after < thr))
				continue;
			balance_move *mv = move_add(p, self, V[i].vm, H[j].h->name);
			mv->src_load_before = src;
			mv->src_load_after = src - V[i].lg;
			mv->dst_load_before = H[j].load;
			mv->dst_load_after = after;
			mv->dst_limit = thr;
			mv->dst_mem_after = H[j].mem_used + V[i].vm->mem;
			mv->vm_score = V[i].score;
			mv->host_score = H[j].score;
			mv->why = g_strdup_printf("highest VM score %.3f to best-scored host with room "
			    "(score %.3f)", V[i].score, H[j].score);
			src -= V[i].lg;
			p->mem_after -= V[i].vm->mem;
			H[j].load = after;
			H[j].active++;
			H[j].mem_used += V[i].vm->mem;
			seed_rescore(cfg, &H[j]);
			qsort(H, m, sizeof *H, seed_host_cmp);
			break;
		}
	}
	p->load_after = src;
	p->solved = src < thr;
	if (!p->solved && p->moves->len == 0)
		p->note = g_strdup("no VM fits under the threshold on any other host");
	return p;
}

/* ---------------------------------------------------------------- policy nube */

/* The scenario nets of self's VMs, and which candidate hosts already carry each of them. */
typedef struct {
	const char *scenario, *net;
	uint64_t hash;
	int src_count;		/* VMs of self attached to it */
} net_key;

typedef struct {
	net_key *keys;
	size_t n_keys;
	uint32_t *slots;	/* open addressing: key index + 1, 0 = empty */
	size_t mask;
	size_t *vm_off;		/* VM i's key indices are vm_keys[vm_off[i] .. vm_off[i+1]) */
	size_t *vm_keys;
	uint8_t *present;	/* n_keys × m: candidate host j carries key k */
	size_t m;
} net_index;

static uint64_t
fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	h ^= 0xff;	/* separator so ("ab","c") != ("a","bc") */
	h *= 0x100000001b3ULL;
	return h;
}

#define FNV_BASIS 0xcbf29ce484222325ULL

static long
net_find(const net_index *x, uint64_t h, const char *scenario, const char *net)
{
	for (size_t s = h & x->mask;; s = (s + 1) & x->mask) {
		uint32_t v = x->slots[s];
		if (v == 0)
			return -1;
		const net_key *k = &x->keys[v - 1];
		if (k->hash == h && strcmp(k->scenario, scenario) == 0 && strcmp(k->net, net) == 0)
			return (long)(v - 1);
	}
}

/* net_index_build: index self's VM nets and mark which of the m candidate hosts carry them. */
static void
net_index_build(net_index *x, const balance_host *self, const balance_host *const *cand, size_t m)
{
	size_t total = 0;
	for (size_t i = 0; i < self->n_vms; i++)
		if (self->vms[i].scenario)
			total += self->vms[i].n_nets;
	memset(x, 0, sizeof *x);
	x->m = m;
	x->keys = g_new(net_key, total ? total : 1);
	size_t cap = 8;
	while (cap < 2 * total + 2)
		cap <<= 1;
	x->mask = cap - 1;
	x->slots = g_new0(uint32_t, cap);
	x->vm_off = g_new(size_t, self->n_vms + 1);
	x->vm_keys = g_new(size_t, total ? total : 1);
	size_t nk = 0;
	for (size_t i = 0; i < self->n_vms; i++) {
		const balance_vm *vm = &self->vms[i];
		x->vm_off[i] = nk;
		if (!vm->scenario)
			continue;
		uint64_t hs = fnv1a(FNV_BASIS, vm->scenario);
		for (size_t k = 0; k < vm->n_nets; k++) {
			if (!vm->nets[k])
				continue;
			uint64_t h = fnv1a(hs, vm->nets[k]);
			long f = net_find(x, h, vm->scenario, vm->nets[k]);
			if (f < 0) {
				f = (long)x->n_keys++;
				x->keys[f] = (net_key){ vm->scenario, vm->nets[k], h, 0 };
				size_t s = h & x->mask;
				while (x->slots[s])
					s = (s + 1) & x->mask;
				x->slots[s] = (uint32_t)f + 1;
			}
			x->keys[f].src_count++;
			x->vm_keys[nk++] = (size_t)f;
		}
	}
	x->vm_off[self->n_vms] = nk;
	x->present = g_new0(uint8_t, x->n_keys * m + 1);
	if (x->n_keys == 0)
		return;
	/* scenario filter: hash of each scenario self carries */
	uint64_t shash[64];
	size_t ns = 0;
	bool filter = true;
	for (size_t k = 0; k < x->n_keys && filter; k++) {
		uint64_t h = fnv1a(FNV_BASIS, x->keys[k].scenario);
		size_t t;
		for (t = 0; t < ns && shash[t] != h; t++)
			;
		if (t == ns) {
			if (ns == G_N_ELEMENTS(shash))
				filter = false;
			else
				shash[ns++] = h;
		}
	}
	for (size_t j = 0; j < m; j++) {
		const balance_host *h = cand[j];
		for (size_t i = 0; i < h->n_vms; i++) {
			const balance_vm *vm = &h->vms[i];
			if (!vm->scenario || vm->n_nets == 0)
				continue;
			uint64_t hs = fnv1a(FNV_BASIS, vm->scenario);
			if (filter) {
				size_t t;
				for (t = 0; t < ns && shash[t] != hs; t++)
					;
				if (t == ns)
					continue;
			}
			for (size_t k = 0; k < vm->n_nets; k++) {
				if (!vm->nets[k])
					continue;
				long f = net_find(x, fnv1a(hs, vm->nets[k]), vm->scenario, vm->nets[k]);
				if (f >= 0)
					x->present[(size_t)f * m + j] = 1;
			}
		}
	}
}

static void
net_index_clear(net_index *x)
{
	g_free(x->keys);
	g_free(x->slots);
	g_free(x->vm_off);
	g_free(x->vm_keys);
	g_free(x->present);
}

/* nets VM i is the last one of on the source: they leave the source if it moves */
static int
net_src_drop(const net_index *x, size_t i)
{
	int d = 0;
	for (size_t t = x->vm_off[i]; t < x->vm_off[i + 1]; t++)
		d += x->keys[x->vm_keys[t]].src_count == 1;
	return d;
}

static void
net_apply(net_index *x, size_t i, size_t j)
{
	for (size_t t = x->vm_off[i]; t < x->vm_off[i + 1]; t++) {
		size_t k = x->vm_keys[t];
		x->present[k * x->m + j] = 1;
		x->keys[k].src_count--;
	}
}

typedef struct {
	const balance_host *h;
	double load;
	double mem_used;
	double mem_limit;
	double promised;	/* promised_of, plus what this plan sends it */
} nube_host;

static double
nube_mem_limit(const balance_config *cfg, const balance_host *h)
{
	return (cfg->mem_threshold < 1 ? cfg->mem_threshold : 1.0) * h->mem_total;
}

static bool
in_cooldown(const balance_config *cfg, const balance_vm *vm, double now)
{
	return vm->last_moved > BALANCE_NEVER / 2 && now - vm->last_moved < cfg->cooldown;
}

typedef struct {
	const balance_config *cfg;
	const balance_host *self;
	const nube_host *H;
	size_t m;
	const net_index *nx;	/* NULL: no net cost */
	double limit;
	const uint8_t *cool;
} nube_ctx;

/* cost of candidate j for VM i; false when j cannot take it */
static bool
nube_cost(const nube_ctx *x, size_t i, size_t j, double *cost, double *after, int *add)
{
	const balance_vm *vm = &x->self->vms[i];
	const nube_host *h = &x->H[j];
	if (x->cool[i] && same_name(vm->prev_host, h->h->name))
		return false;
	double a = h->load + vm->cpu / h->h->cpus;
	if (!(a < x->limit) || h->mem_used + vm->mem > h->mem_limit ||
	    !promise_fits(h->h, h->promised, vm->mem))
		return false;
	int d = 0;
	if (x->nx)
		for (size_t t = x->nx->vm_off[i]; t < x->nx->vm_off[i + 1]; t++)
			d += !x->nx->present[x->nx->vm_keys[t] * x->nx->m + j];
	*after = a;
	*add = d;
	*cost = x->cfg->w_dest * a + x->cfg->w_net * d;
	return true;
}

/* best candidate for VM i over every host; cost INFINITY when none */
static void
nube_best(const nube_ctx *x, size_t i, unsigned *checks, size_t *dst, double *cost, double *after,
    int *add)
{
	*cost = INFINITY;
	*dst = SIZE_MAX;
	for (size_t j = 0; j < x->m; j++) {
		double c, a;
		int d;
		(*checks)++;
		if (nube_cost(x, i, j, &c, &a, &d) && c < *cost) {
			*cost = c;
			*dst = j;
			*after = a;
			*add = d;
		}
	}
}

static int
move_relief_cmp(gconstpointer a, gconstpointer b, gpointer ud)
{
	(void)ud;
	const balance_move *x = *(balance_move *const *)a, *y = *(balance_move *const *)b;
	/* relief per MiB, with 256 MiB standing for the fixed cost of any migration */
	double rx = (x->src_load_before - x->src_load_after) / (x->mem + 256);
	double ry = (y->src_load_before - y->src_load_after) / (y->mem + 256);
	return rx > ry ? -1 : rx < ry;
}

static balance_plan *
plan_nube(const balance_config *cfg, const balance_host *self, const balance_host *peers,
    size_t n_peers, double now)
{
	balance_plan *p = plan_alloc(BALANCE_POLICY_NUBE, self, now);
	double limit = cfg->load_threshold - cfg->margin;
	double target = cfg->load_threshold - cfg->source_margin;
	double src_mem_limit = nube_mem_limit(cfg, self);
	p->target = target;
	double src = cfg->predict ? balance_effective_load(self) : self->load;
	double src_mem = self->mem_used;
	bool mem_known = cfg->mem_threshold < 1 && self->mem_total > 0;
	bool need_load = src > target, need_mem = mem_known && src_mem > src_mem_limit;
	if (!need_load && !need_mem) {
		p->solved = true;
		p->note = g_strdup_printf("load %.3f and memory already under their limits", src);
		return p;
	}
	if (self->cpus <= 0) {
		p->note = g_strdup("host reports no CPUs");
		return p;
	}
	g_autofree nube_host *H = g_new(nube_host, n_peers ? n_peers : 1);
	g_autofree const balance_host **cand = g_new(const balance_host *, n_peers ? n_peers : 1);
	size_t m = 0;
	for (size_t j = 0; j < n_peers; j++) {
		if (!usable_peer(self, &peers[j]) || peers[j].mem_total <= 0)
			continue;
		cand[m] = &peers[j];
		H[m] = (nube_host){ &peers[j], balance_effective_load(&peers[j]), peers[j].mem_used,
			nube_mem_limit(cfg, &peers[j]), promised_of(&peers[j]) };
		m++;
	}
	if (m == 0) {
		p->note = g_strdup("no other online host");
		return p;
	}
	net_index nx;
	bool use_net = cfg->w_net > 0;
	if (use_net)
		net_index_build(&nx, self, cand, m);
	/* Each VM's best destination is cached: a move changes one destination only (its load
	 * rises, its nets grow), so after it every VM re-examines that host alone, and rescans
	 * all hosts only when that host was its best. The source side of the net cost (nets the
	 * source would leave) is the same for every destination and added per round. */
	size_t n = self->n_vms;
	g_autofree uint8_t *moved = g_new0(uint8_t, n + 1);
	g_autofree uint8_t *cool = g_new0(uint8_t, n + 1);
	g_autofree double *bcost = g_new(double, n + 1);
	g_autofree double *bafter = g_new(double, n + 1);
	g_autofree int *badd = g_new(int, n + 1);
	g_autofree size_t *bdst = g_new(size_t, n + 1);
	nube_ctx ctx = { cfg, self, H, m, use_net ? &nx : NULL, limit, cool };
	for (size_t i = 0; i < n; i++) {
		cool[i] = in_cooldown(cfg, &self->vms[i], now);
		bcost[i] = INFINITY;
		bdst[i] = SIZE_MAX;
		if (self->vms[i].pinned)
			continue;
		nube_best(&ctx, i, &p->checks, &bdst[i], &bcost[i], &bafter[i], &badd[i]);
	}
	bool allow_cool = false;
	while (need_load || need_mem) {
		double need_l = src - target, need_m = src_mem - src_mem_limit;
		double best_u = -INFINITY;
		size_t bi = 0;
		bool found = false, any_cool = false;
		for (size_t i = 0; i < n; i++) {
			const balance_vm *vm = &self->vms[i];
			if (moved[i] || vm->pinned || !isfinite(bcost[i]))
				continue;
			if (cool[i] && !allow_cool) {
				any_cool = true;
				continue;
			}
			double contrib = vm->cpu / self->cpus;
			double gain = 0, over = 0;
			if (need_load) {
				gain += fmin(contrib, need_l) / need_l;
				over = fmax(0, contrib - need_l);
			}
			if (need_mem)
				gain += fmin(vm->mem, need_m) / need_m;
			if (!(gain > 0))
				continue;
			double u = gain - cfg->w_overshoot * over - cfg->w_migrate * vm->mem / 1024.0 -
			    bcost[i] + (use_net ? cfg->w_net * net_src_drop(&nx, i) : 0);
			if (u > best_u) {
				best_u = u;
				bi = i;
				found = true;
			}
		}
		if (!found) {
			if (!allow_cool && any_cool) {
				allow_cool = true;
				continue;
			}
			break;
		}
		const balance_vm *vm = &self->vms[bi];
		size_t bj = bdst[bi];
		double contrib = vm->cpu / self->cpus;
		int nd = use_net ? badd[bi] - net_src_drop(&nx, bi) : 0;
		balance_move *mv = move_add(p, self, vm, H[bj].h->name);
		mv->src_load_before = src;
		mv->src_load_after = src - contrib;
		mv->dst_load_before = H[bj].load;
		mv->dst_load_after = bafter[bi];
		mv->dst_limit = limit;
		mv->dst_mem_after = H[bj].mem_used + vm->mem;
		mv->vm_score = best_u;
		mv->host_score = bcost[bi];
		mv->net_delta = nd;
		mv->cooldown_override = cool[bi];
		mv->why = g_strdup_printf("%s%s; net spread %+d host(s)%s",
		    need_load ? (contrib >= need_l ? "fixes the overload alone" :
		    "largest useful share of the excess") : "frees memory",
		    need_mem && need_load ? " and memory" : "", nd,
		    cool[bi] ? "; inside its cooldown, nothing else helped" : "");
		moved[bi] = 1;
		src -= contrib;
		src_mem -= vm->mem;
		H[bj].load = bafter[bi];
		H[bj].mem_used += vm->mem;
		H[bj].promised += vm->mem;
		if (use_net)
			net_apply(&nx, bi, bj);
		need_load = src > target;
		need_mem = mem_known && src_mem > src_mem_limit;
		if (!need_load && !need_mem)
			break;
		for (size_t i = 0; i < n; i++) {
			if (moved[i] || self->vms[i].pinned)
				continue;
			if (bdst[i] == bj && isfinite(bcost[i])) {
				nube_best(&ctx, i, &p->checks, &bdst[i], &bcost[i], &bafter[i], &badd[i]);
				continue;
			}
			double c, a;
			int add;
			p->checks++;
			if (nube_cost(&ctx, i, bj, &c, &a, &add) && c < bcost[i]) {
				bdst[i] = bj;
				bcost[i] = c;
				bafter[i] = a;
				badd[i] = add;
			}
		}
	}
	if (use_net)
		net_index_clear(&nx);
	/* migrations from one host share its uplink and queue: run first those that relieve the
	 * most load per MiB copied, so the source gets under its limit soonest (Smith's rule) */
	g_ptr_array_sort_with_data(p->moves, move_relief_cmp, NULL);
	double run = cfg->predict ? balance_effective_load(self) : self->load;
	for (guint i = 0; i < p->moves->len; i++) {
		balance_move *mv = p->moves->pdata[i];
		double contrib = mv->src_load_before - mv->src_load_after;
		mv->src_load_before = run;
		run -= contrib;
		mv->src_load_after = run;
	}
	p->load_after = src;
	p->mem_after = src_mem;
	p->solved = !need_load && !need_mem;
	if (!p->solved && p->moves->len == 0)
		p->note = g_strdup_printf("no VM fits on any other host under load %.3f with its memory",
		    limit);
	return p;
}

balance_plan *
balance_plan_new(balance_policy policy, const balance_config *cfg, const balance_host *self,
    const balance_host *peers, size_t n_peers, double now)
{
	if (!cfg || !self) {
		balance_plan *p = plan_alloc(policy, self, now);
		p->note = g_strdup("no config or host given");
		return p;
	}
	switch (policy) {
	case BALANCE_POLICY_SEED:
		return plan_seed(cfg, self, peers, n_peers, now);
	case BALANCE_POLICY_NUBE:
		return plan_nube(cfg, self, peers, n_peers, now);
	case BALANCE_POLICY_NONE:
	default: {
		balance_plan *p = plan_alloc(policy, self, now);
		p->note = g_strdup("balancing is off (policy none)");
		return p;
	}
	}
}

/* ---------------------------------------------------------------- drain */

typedef struct {
	const balance_vm *vm;
	double key;
	size_t idx;
} drain_vm;

static int
drain_vm_cmp(const void *a, const void *b)
{
	const drain_vm *x = a, *y = b;
	if (x->key != y->key)
		return x->key > y->key ? -1 : 1;
	return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

balance_plan *
balance_drain(balance_policy policy, const balance_config *cfg, const balance_host *self,
    const balance_host *peers, size_t n_peers, double now)
{
	balance_plan *p = plan_alloc(policy, self, now);
	p->drain = true;
	p->target = 0;
	if (!cfg || !self) {
		p->note = g_strdup("no config or host given");
		return p;
	}
	bool seed = policy == BALANCE_POLICY_SEED;
	double limit = seed ? cfg->load_threshold : cfg->load_threshold - cfg->margin;
	size_t m;
	g_autofree seed_host *H = seed_hosts(cfg, self, peers, n_peers, &m);
	g_autofree drain_vm *V = g_new(drain_vm, self->n_vms ? self->n_vms : 1);
	size_t n = 0;
	for (size_t i = 0; i < self->n_vms; i++) {
		const balance_vm *vm = &self->vms[i];
		if (vm->pinned) {
			unplaced_add(p, vm, g_strdup("pinned"));
			continue;
		}
		/* biggest first: first-fit decreasing leaves the small ones for the gaps */
		V[n] = (drain_vm){ vm, seed ? vm_lg(vm, self) : vm->cpu + vm->mem / 1e6, i };
		n++;
	}
	qsort(V, n, sizeof *V, drain_vm_cmp);
	double src = self->load;
	for (size_t i = 0; i < n; i++) {
		const balance_vm *vm = V[i].vm;
		if (m == 0) {
			unplaced_add(p, vm, g_strdup("no other online host"));
			continue;
		}
		double lg = vm_lg(vm, self);
		long best = -1;
		double best_after = 0;
		int n_load = 0, n_mem = 0;
		long least = -1;
		double least_after = 0, most_free = -1;
		long most_free_j = -1;
		for (size_t j = 0; j < m; j++) {
			p->checks++;
			double delta = seed ? lg : vm->cpu / H[j].h->cpus;
			double after = H[j].load + delta;
			double mem_lim = seed ? H[j].h->mem_total : nube_mem_limit(cfg, H[j].h);
			double free_mem = mem_lim - H[j].mem_used;
			bool load_ok = after < limit, mem_ok = vm->mem <= free_mem &&
			    promise_fits(H[j].h, H[j].promised, vm->mem);
			if (least < 0 || after < least_after) {
				least = (long)j;
				least_after = after;
			}
			if (free_mem > most_free) {
				most_free = free_mem;
				most_free_j = (long)j;
			}
			n_load += !load_ok;
			n_mem += !mem_ok;
			if (!load_ok || !mem_ok)
				continue;
			/* seed: hosts are in score order, take the first; nube: least loaded after */
			if (best < 0 || (!seed && after < best_after)) {
				best = (long)j;
				best_after = after;
				if (seed)
					break;
			}
		}
		if (best < 0) {
			GString *r = g_string_new("no destination:");
			if (n_load)
				g_string_append_printf(r, " %d host(s) would reach the load limit %.3f "
				    "(least loaded '%s' would reach %.3f)", n_load, limit,
				    H[least].h->name, least_after);
			if (n_mem)
				g_string_append_printf(r, "%s %d host(s) lack memory (needs %.0f MiB, most "
				    "free '%s' has %.0f MiB)", n_load ? ";" : "", n_mem, vm->mem,
				    H[most_free_j].h->name, fmax(0, most_free));
			unplaced_add(p, vm, g_string_free(r, FALSE));
			continue;
		}
		seed_host *d = &H[best];
		balance_move *mv = move_add(p, self, vm, d->h->name);
		double contrib = seed ? lg : vm->cpu / self->cpus;
		mv->src_load_before = src;
		mv->src_load_after = src - contrib;
		mv->dst_load_before = d->load;
		mv->dst_load_after = best_after;
		mv->dst_limit = limit;
		mv->dst_mem_after = d->mem_used + vm->mem;
		mv->host_score = d->score;
		mv->why = g_strdup(seed ? "drain: best-scored host with room" :
		    "drain: least loaded host with room and memory");
		src -= contrib;
		p->mem_after -= vm->mem;
		d->load = best_after;
		d->mem_used += vm->mem;
		d->promised += vm->mem;
		d->active++;
		seed_rescore(cfg, d);
		if (seed)
			qsort(H, m, sizeof *H, seed_host_cmp);
	}
	p->load_after = src < 0 ? 0 : src;
	p->solved = p->unplaced->len == 0;
	if (!p->solved)
		p->note = g_strdup_printf("cannot empty '%s': %u VM(s) have no destination", p->host,
		    p->unplaced->len);
	return p;
}

balance_plan *
balance_plan_move(balance_policy policy, const balance_config *cfg, const balance_host *self,
    const balance_host *peers, size_t n_peers, const char *vm, const char *dst, double now)
{
	const balance_vm *v = NULL;
	if (policy == BALANCE_POLICY_NONE)
		policy = BALANCE_POLICY_NUBE;
	for (size_t i = 0; self && vm && i < self->n_vms; i++)
		if (same_name(self->vms[i].name, vm))
			v = &self->vms[i];
	if (!cfg || !v) {
		balance_plan *p = plan_alloc(policy, self, now);
		p->note = g_strdup_printf("'%s' does not run on '%s'", vm ? vm : "?", p->host);
		return p;
	}
	if (!dst) {	/* the best host: a drain of this one VM */
		balance_vm one = *v;
		balance_host h = *self;
		one.pinned = false;
		h.vms = &one;
		h.n_vms = 1;
		balance_plan *p = balance_drain(policy, cfg, &h, peers, n_peers, now);
		p->drain = false;
		for (guint i = 0; i < p->moves->len; i++) {
			balance_move *mv = p->moves->pdata[i];
			g_autofree char *was = mv->why;
			mv->why = g_strdup_printf("operator request (%s)", was + strlen("drain: "));
		}
		return p;
	}
	balance_plan *p = plan_alloc(policy, self, now);
	balance_move *mv = move_add(p, self, v, dst);
	bool seed = policy == BALANCE_POLICY_SEED;
	double contrib = seed ? mv->load_generated : self->cpus > 0 ? v->cpu / self->cpus : 0;
	mv->src_load_before = self->load;
	mv->src_load_after = self->load - contrib;
	for (size_t j = 0; j < n_peers; j++) {
		const balance_host *d = &peers[j];
		if (!same_name(d->name, dst) || d->cpus <= 0)
			continue;
		mv->dst_load_before = d->load;
		mv->dst_load_after = d->load + (seed ? mv->load_generated : v->cpu / d->cpus);
		mv->dst_limit = seed ? cfg->load_threshold : cfg->load_threshold - cfg->margin;
		mv->dst_mem_after = d->mem_used + v->mem;
	}
	mv->why = g_strdup("operator request");
	p->load_after = MAX(0, mv->src_load_after);
	p->mem_after -= v->mem;
	p->solved = true;
	return p;
}

/* ---------------------------------------------------------------- prediction, consolidation */

double
balance_predict(const double *samples, size_t n, double horizon)
{
	if (n == 0)
		return 0;
	if (n == 1)
		return samples[0];
	double mx = (n - 1) / 2.0, my = 0;
	for (size_t i = 0; i < n; i++)
		my += samples[i];
	my /= n;
	double sxx = 0, sxy = 0;
	for (size_t i = 0; i < n; i++) {
		sxx += (i - mx) * (i - mx);
		sxy += (i - mx) * (samples[i] - my);
	}
	double b = sxy / sxx;
	return my + b * ((double)(n - 1) + horizon - mx);
}

double
balance_predict_load(const balance_config *cfg, const double *samples, size_t n)
{
	if (n == 0)
		return 0;
	double last = samples[n - 1];
	if (!cfg->predict)
		return last;
	size_t w = (size_t)cfg->predict_window;
	if (w > n)
		w = n;
	double p = balance_predict(samples + (n - w), w, cfg->predict_horizon);
	return fmax(0, fmax(last, p));
}

double
balance_effective_load(const balance_host *h)
{
	return fmax(h->load, h->load_predicted);
}

bool
balance_power_sample(balance_power *pw, const balance_config *cfg, const balance_host *self,
    double now)
{
	if (!cfg->consolidate || pw->standby) {
		pw->low_count = 0;
		return false;
	}
	double l = cfg->predict ? balance_effective_load(self) : self->load;
	pw->low_count = l < cfg->consolidate_below ? pw->low_count + 1 : 0;
	return self->n_vms > 0 && pw->low_count >= cfg->consolidate_count &&
	    (pw->changed <= BALANCE_NEVER / 2 || now - pw->changed >= cfg->power_cooldown);
}

void
balance_power_standby(balance_power *pw, double now)
{
	pw->standby = true;
	pw->changed = now;
	pw->low_count = 0;
	pw->standbys++;
}

void
balance_power_wake(balance_power *pw, double now)
{
	pw->standby = false;
	pw->changed = now;
	pw->low_count = 0;
	pw->wakes++;
}

balance_plan *
balance_consolidate(const balance_config *cfg, const balance_host *self,
    const balance_host *peers, size_t n_peers, double now)
{
	balance_plan *p = plan_alloc(BALANCE_POLICY_NUBE, self, now);
	p->drain = true;
	p->target = 0;
	if (!cfg || !self || self->cpus <= 0) {
		p->note = g_strdup("no config or host given");
		return p;
	}
	double limit = cfg->load_threshold - cfg->margin;
	double own = cfg->predict ? balance_effective_load(self) : self->load;
	size_t m = 0;
	g_autofree nube_host *H = g_new(nube_host, n_peers ? n_peers : 1);
	for (size_t j = 0; j < n_peers; j++) {
		const balance_host *h = &peers[j];
		double l = cfg->predict ? balance_effective_load(h) : h->load;
		/* towards busier hosts only: two light hosts never trade VMs */
		if (!usable_peer(self, h) || h->mem_total <= 0 || l < own)
			continue;
		H[m++] = (nube_host){ h, l, h->mem_used, nube_mem_limit(cfg, h), promised_of(h) };
	}
	g_autofree drain_vm *V = g_new(drain_vm, self->n_vms ? self->n_vms : 1);
	size_t n = 0;
	for (size_t i = 0; i < self->n_vms; i++) {
		const balance_vm *vm = &self->vms[i];
		if (vm->pinned || in_cooldown(cfg, vm, now)) {
			unplaced_add(p, vm, g_strdup(vm->pinned ? "pinned" : "inside its cooldown"));
			continue;
		}
		V[n] = (drain_vm){ vm, vm->cpu + vm->mem / 1e6, i };
		n++;
	}
	qsort(V, n, sizeof *V, drain_vm_cmp);
	double src = self->load;
	for (size_t i = 0; i < n && p->unplaced->len == 0; i++) {
		const balance_vm *vm = V[i].vm;
		long best = -1;
		double best_after = -1;
		for (size_t j = 0; j < m; j++) {
			p->checks++;
			double after = H[j].load + vm->cpu / H[j].h->cpus;
			if (!(after < limit) || H[j].mem_used + vm->mem > H[j].mem_limit ||
			    !promise_fits(H[j].h, H[j].promised, vm->mem))
				continue;
			if (same_name(vm->prev_host, H[j].h->name) && in_cooldown(cfg, vm, now))
				continue;
			if (after > best_after) {
				best = (long)j;
				best_after = after;
			}
		}
		if (best < 0) {
			unplaced_add(p, vm, g_strdup_printf("no busier active host stays under %.3f "
			    "with it", limit));
			break;
		}
		nube_host *d = &H[best];
		balance_move *mv = move_add(p, self, vm, d->h->name);
		double contrib = vm->cpu / self->cpus;
		mv->src_load_before = src;
		mv->src_load_after = src - contrib;
		mv->dst_load_before = d->load;
		mv->dst_load_after = best_after;
		mv->dst_limit = limit;
		mv->dst_mem_after = d->mem_used + vm->mem;
		mv->why = g_strdup_printf("consolidate: '%s' (load %.3f) is light, fullest host "
		    "with room", p->host, own);
		src -= contrib;
		p->mem_after -= vm->mem;
		d->load = best_after;
		d->mem_used += vm->mem;
		d->promised += vm->mem;
	}
	if (p->unplaced->len > 0) {
		for (guint i = 0; i < p->moves->len; i++)
			move_free(p->moves->pdata[i]);
		g_ptr_array_set_size(p->moves, 0);
		p->load_after = self->load;
		p->mem_after = p->mem_before;
		p->note = g_strdup_printf("cannot consolidate '%s': %u VM(s) stay", p->host,
		    p->unplaced->len);
		return p;
	}
	p->load_after = src < 0 ? 0 : src;
	p->solved = true;
	return p;
}

long
balance_wake_pick(const balance_config *cfg, const balance_host *hosts, size_t n, double need)
{
	double limit = cfg->load_threshold - cfg->margin;
	long fit = -1, big = -1;
	for (size_t i = 0; i < n; i++) {
		if (!hosts[i].standby || hosts[i].cpus <= 0)
			continue;
		if (big < 0 || hosts[i].cpus > hosts[big].cpus)
			big = (long)i;
		if (hosts[i].cpus * limit >= need && (fit < 0 || hosts[i].cpus < hosts[fit].cpus))
			fit = (long)i;
	}
	return fit >= 0 ? fit : big;
}

/* ---------------------------------------------------------------- rendering */

char *
balance_move_format(const balance_move *m)
{
	GString *s = g_string_new(NULL);
	g_string_append_printf(s, "move '%s'", m->vm);
	if (m->scenario)
		g_string_append_printf(s, " (scenario '%s')", m->scenario);
	g_string_append_printf(s, " %s -> %s: %s load %.3f -> %.3f, %s load %.3f -> %.3f "
	    "(limit %.3f), %.0f MiB, %s", m->src, m->dst, m->src, m->src_load_before,
	    m->src_load_after, m->dst, m->dst_load_before, m->dst_load_after, m->dst_limit, m->mem,
	    m->why ? m->why : "");
	return g_string_free(s, FALSE);
}

char *
balance_plan_format(const balance_plan *p)
{
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < p->moves->len; i++) {
		g_autofree char *l = balance_move_format(p->moves->pdata[i]);
		g_string_append_printf(s, "%s\n", l);
	}
	for (guint i = 0; i < p->unplaced->len; i++) {
		const balance_unplaced *u = p->unplaced->pdata[i];
		g_string_append_printf(s, "keep '%s' on %s: %s\n", u->vm, p->host, u->reason);
	}
	g_string_append_printf(s, "%s %s (%s): load %.3f -> %.3f predicted, target %.3f, %u move(s), "
	    "%s%s%s\n", p->drain ? "drain" : "plan", p->host, balance_policy_name(p->policy),
	    p->load_before, p->load_after, p->target, p->moves->len,
	    p->solved ? "solved" : "not solved", p->note ? ": " : "", p->note ? p->note : "");
	return g_string_free(s, FALSE);
}

json_t *
balance_plan_to_json(const balance_plan *p)
{
	json_t *moves = json_array();
	for (guint i = 0; i < p->moves->len; i++) {
		const balance_move *m = p->moves->pdata[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, "
		    "s:f, s:i, s:b, s:s}",
		    "vm", m->vm, "src", m->src, "dst", m->dst, "cpu", m->cpu,
		    "load_generated", m->load_generated, "mem", m->mem,
		    "src_load_before", m->src_load_before, "src_load_after", m->src_load_after,
		    "dst_load_before", m->dst_load_before, "dst_load_after", m->dst_load_after,
		    "dst_limit", m->dst_limit, "dst_mem_after", m->dst_mem_after,
		    "vm_score", m->vm_score, "host_score", m->host_score, "net_delta", m->net_delta,
		    "cooldown_override", m->cooldown_override, "why", m->why ? m->why : "");
		if (m->scenario)
			json_object_set_new(o, "scenario", json_string(m->scenario));
		json_array_append_new(moves, o);
	}
	json_t *unplaced = json_array();
	for (guint i = 0; i < p->unplaced->len; i++) {
		const balance_unplaced *u = p->unplaced->pdata[i];
		json_array_append_new(unplaced, json_pack("{s:s, s:s}", "vm", u->vm, "reason", u->reason));
	}
	json_t *o = json_pack("{s:s, s:s, s:f, s:b, s:f, s:f, s:f, s:f, s:f, s:b, s:i, s:o, s:o}",
	    "policy", balance_policy_name(p->policy), "host", p->host, "now", p->now,
	    "drain", p->drain, "load_before", p->load_before, "load_after", p->load_after,
	    "mem_before", p->mem_before, "mem_after", p->mem_after, "target", p->target,
	    "solved", p->solved, "checks", (int)p->checks, "moves", moves, "unplaced", unplaced);
	if (p->note)
		json_object_set_new(o, "note", json_string(p->note));
	return o;
}

/* ---------------------------------------------------------------- admission */

balance_request
balance_move_request(const balance_move *m)
{
	return (balance_request){ .source = m->src, .vm = m->vm, .cpu = m->cpu,
		.load_generated = m->load_generated, .mem = m->mem };
}

static void
reservation_free(gpointer data)
{
	balance_reservation *r = data;
	g_free(r->vm);
	g_free(r->source);
	g_free(r);
}

balance_reservations *
balance_reservations_new(void)
{
	balance_reservations *r = g_new(balance_reservations, 1);
	r->items = g_ptr_array_new_with_free_func(reservation_free);
	return r;
}

void
balance_reservations_free(balance_reservations *r)
{
	if (!r)
		return;
	g_ptr_array_free(r->items, TRUE);
	g_free(r);
}

int
balance_reservations_expire(balance_reservations *r, double now)
{
	int n = 0;
	for (guint i = r->items->len; i-- > 0;) {
		const balance_reservation *x = r->items->pdata[i];
		if (x->expires <= now) {
			g_ptr_array_remove_index(r->items, i);
			n++;
		}
	}
	return n;
}

int
balance_reservations_arrived(balance_reservations *r, const char *vm, double until)
{
	int n = 0;
	for (guint i = 0; r && vm && i < r->items->len; i++) {
		balance_reservation *x = r->items->pdata[i];
		if (strcmp(x->vm, vm) == 0) {
			x->expires = MIN(x->expires, until);
			n++;
		}
	}
	return n;
}

int
balance_reservations_release(balance_reservations *r, const char *vm)
{
	if (!r || !vm)
		return 0;
	for (guint i = 0; i < r->items->len; i++) {
		const balance_reservation *x = r->items->pdata[i];
		if (strcmp(x->vm, vm) == 0) {
			g_ptr_array_remove_index(r->items, i);
			return 1;
		}
	}
	return 0;
}

double
balance_reservations_load(const balance_reservations *r, double now)
{
	double s = 0;
	for (guint i = 0; r && i < r->items->len; i++) {
		const balance_reservation *x = r->items->pdata[i];
		if (x->expires > now)
			s += x->load;
	}
	return s;
}

double
balance_reservations_mem(const balance_reservations *r, double now)
{
	double s = 0;
	for (guint i = 0; r && i < r->items->len; i++) {
		const balance_reservation *x = r->items->pdata[i];
		if (x->expires > now)
			s += x->mem;
	}
	return s;
}

bool
balance_admit(balance_reservations *r, balance_policy policy, const balance_config *cfg,
    const balance_host *self, const balance_request *req, double now, balance_admission *out)
{
	balance_admission a = { 0 };
	if (!r || !cfg || !self || !req || !req->vm || !(req->cpu >= 0) || !(req->mem >= 0)) {
		g_strlcpy(a.reason, "malformed admission request", sizeof a.reason);
		goto done;
	}
	if (policy == BALANCE_POLICY_NONE) {
		g_strlcpy(a.reason, "balancing is off (policy none)", sizeof a.reason);
		goto done;
	}
	if (!self->online || self->standby || self->cpus <= 0) {
		g_strlcpy(a.reason, "not accepting VMs (offline, standby or no CPUs)", sizeof a.reason);
		goto done;
	}
	balance_reservations_expire(r, now);
	for (guint i = 0; i < r->items->len; i++) {
		const balance_reservation *x = r->items->pdata[i];
		if (strcmp(x->vm, req->vm) == 0) {
			g_snprintf(a.reason, sizeof a.reason, "'%s' already has a reservation here",
			    req->vm);
			goto done;
		}
	}
	bool seed = policy == BALANCE_POLICY_SEED;
	double res_load = balance_reservations_load(r, now);
	double delta = seed && req->load_generated >= 0 ? req->load_generated : req->cpu / self->cpus;
	a.limit = seed ? cfg->load_threshold : cfg->load_threshold - cfg->margin;
	a.load_before = (seed ? self->load : balance_effective_load(self)) + res_load;
	a.load_after = a.load_before + delta;
	a.mem_after = self->mem_used + balance_reservations_mem(r, now) + req->mem;
	a.mem_limit = seed ? self->mem_total : nube_mem_limit(cfg, self);
	if (!(a.load_after < a.limit)) {
		g_snprintf(a.reason, sizeof a.reason, "load would reach %.3f (own %.3f + %u "
		    "reservation(s) %.3f + %.3f), limit %.3f", a.load_after, self->load,
		    r->items->len, res_load, delta, a.limit);
		goto refused;
	}
	if (a.mem_after > a.mem_limit) {
		g_snprintf(a.reason, sizeof a.reason, "memory would reach %.0f MiB, limit %.0f MiB",
		    a.mem_after, a.mem_limit);
		goto refused;
	}
	if (self->mem_total > 0) {
		a.promised_after = self->mem_promised + balance_reservations_mem(r, now) + req->mem;
		a.promised_limit = MAX(self->mem_total - self->mem_reserve, 0);
		if (a.promised_after > a.promised_limit) {
			g_snprintf(a.reason, sizeof a.reason, "memory promised to VMs would reach "
			    "%.0f MiB (%.0f here + %.0f reserved for incoming + %.0f), limit %.0f MiB "
			    "(%.0f MiB less a %.0f MiB reserve)", a.promised_after, self->mem_promised,
			    balance_reservations_mem(r, now), req->mem, a.promised_limit,
			    self->mem_total, self->mem_reserve);
			goto refused;
		}
	}
	g_snprintf(a.reason, sizeof a.reason, "admitted: load %.3f -> %.3f under %.3f, memory %.0f "
	    "of %.0f MiB", a.load_before, a.load_after, a.limit, a.mem_after, a.mem_limit);
	goto reserve;
refused:
	if (!req->force)
		goto done;
	g_snprintf(a.reason, sizeof a.reason, "admitted by operator request (load %.3f -> %.3f, "
	    "limit %.3f)", a.load_before, a.load_after, a.limit);
reserve:;
	balance_reservation *x = g_new(balance_reservation, 1);
	x->vm = g_strdup(req->vm);
	x->source = g_strdup(req->source ? req->source : "?");
	x->load = delta;
	x->mem = req->mem;
	x->expires = now + cfg->reservation_ttl;
	g_ptr_array_add(r->items, x);
	a.admitted = true;
done:
	if (out)
		*out = a;
	return a.admitted;
}
