/* planetlab: CloudSim's consolidation benchmark over the PlanetLab traces — trace parsing, the
 * host power model, CloudSim 3.0's MIPS/migration/SLA accounting, thr-mmt, lr-mmt and nube */
#include "planetlab.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double pl_host_pe_mips[2] = { 1860, 2660 };
const double pl_vm_mips[4] = { 2500, 2000, 1000, 500 };
const double pl_vm_ram[4] = { 870, 1740, 1740, 613 };

#define HOST_BW 1000000.0	/* kbit/s */
#define VM_BW 100000.0
#define LR_WINDOW 10		/* CloudSim's local regression uses the last 10 samples */
#define HISTORY 30		/* PowerVm.HISTORY_LENGTH */
#define PL_ROUND_OFFSET 0.1	/* CloudSim's rounds run at 300.1 s, 600.1 s, ... */

/* SPECpower figures at 0, 10, ..., 100 % (HP ProLiant ML110 G4 Xeon 3040, G5 Xeon 3075) */
static const double power_table[2][11] = {
	{ 86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117 },
	{ 93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135 },
};

/* ---------------------------------------------------------------- traces */

int
pl_trace_parse(const char *text, uint8_t *out, GError **error)
{
	memset(out, 0, PL_SAMPLES);
	const char *p = text;
	for (int line = 1; *p; line++) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (line > PL_SAMPLES) {
			if (len > 0) {
				g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
				    "more than %d values (line %d)", PL_SAMPLES, line);
				return -1;
			}
		} else {
			char buf[16];
			char *end = NULL;
			if (len == 0 || len >= sizeof buf) {
				g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
				    "line %d: not a CPU percentage", line);
				return -1;
			}
			memcpy(buf, p, len);
			buf[len] = '\0';
			errno = 0;
			long v = strtol(buf, &end, 10);
			if (errno || *end || v < 0 || v > 100) {
				g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
				    "line %d: '%s' is not a CPU percentage 0..100", line, buf);
				return -1;
			}
			out[line - 1] = (uint8_t)v;
		}
		if (!eol)
			break;
		p = eol + 1;
	}
	return 0;
}

int
pl_trace_load(const char *dir, pl_trace *out, GError **error)
{
	memset(out, 0, sizeof *out);
	GDir *d = g_dir_open(dir, 0, NULL);
	if (!d) {
		int err = errno;
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "%s", g_strerror(err));
		return -1;
	}
	GPtrArray *names = g_ptr_array_new();
	const char *n;
	while ((n = g_dir_read_name(d))) {
		g_autofree char *path = g_build_filename(dir, n, NULL);
		if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
			g_ptr_array_add(names, g_strdup(n));
	}
	g_dir_close(d);
	if (names->len == 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "no trace file in '%s'", dir);
		g_ptr_array_free(names, TRUE);
		return -1;
	}
	/* directory order, as CloudSim's File.listFiles() gives them: VM types follow it */
	out->n_vms = (int)names->len;
	out->util = g_new0(uint8_t, (size_t)out->n_vms * PL_SAMPLES);
	for (int i = 0; i < out->n_vms; i++) {
		g_autofree char *path = g_build_filename(dir, names->pdata[i], NULL);
		g_autofree char *text = NULL;
		GError *e = NULL;
		if (!g_file_get_contents(path, &text, NULL, &e) ||
		    pl_trace_parse(text, &out->util[(size_t)i * PL_SAMPLES], &e) < 0) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "trace '%s': %s", path,
			    e->message);
			g_error_free(e);
			g_ptr_array_add(names, NULL);
			out->names = (char **)g_ptr_array_free(names, FALSE);
			pl_trace_clear(out);
			return -1;
		}
	}
	g_ptr_array_add(names, NULL);
	out->names = (char **)g_ptr_array_free(names, FALSE);
	return 0;
}

void
pl_trace_clear(pl_trace *t)
{
	g_strfreev(t->names);
	g_free(t->util);
	memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------- models */

double
pl_power(int type, double u)
{
	if (u < 0)
		u = 0;
	if (u > 1)
		u = 1;
	const double *p = power_table[type ? 1 : 0];
	if (fmod(u, 0.1) == 0)
		return p[(int)(u * 10)];
	int a = (int)floor(u * 10), b = (int)ceil(u * 10);
	double delta = (p[b] - p[a]) / 10;
	return p[a] + delta * (u - (double)a / 10) * 100;
}

int
pl_vm_type(int i, int n)
{
	int block = (n + 3) / 4;
	int t = block > 0 ? i / block : 0;
	return t > 3 ? 3 : t;
}

double
pl_lr_predict(const double *y, int n, double ahead)
{
	double sx = 0, sy = 0;
	for (int i = 0; i < n; i++) {
		sx += i + 1;
		sy += y[i];
	}
	double mx = sx / n, my = sy / n, sxx = 0, sxy = 0;
	for (int i = 0; i < n; i++) {
		sxx += (i + 1 - mx) * (i + 1 - mx);
		sxy += (i + 1 - mx) * (y[i] - my);
	}
	double b = sxx > 0 ? sxy / sxx : 0;
	return my - b * mx + b * (n + ahead);
}

static const char *const policy_names[] = {
	[PL_POLICY_THR_MMT] = "thr-mmt",
	[PL_POLICY_LR_MMT] = "lr-mmt",
	[PL_POLICY_NUBE] = "nube",
};

const char *
pl_policy_name(pl_policy p)
{
	return (size_t)p < G_N_ELEMENTS(policy_names) ? policy_names[p] : "unknown";
}

int
pl_policy_from_name(const char *name, pl_policy *out)
{
	for (size_t i = 0; name && i < G_N_ELEMENTS(policy_names); i++) {
		if (strcmp(name, policy_names[i]) == 0) {
			*out = (pl_policy)i;
			return 0;
		}
	}
	return -1;
}

void
pl_options_defaults(pl_options *o)
{
	*o = (pl_options){ .n_hosts = 800, .rounds = PL_SAMPLES - 1, .thr = 0.8, .lr_safety = 1.2,
		.lr_fallback = 0.7 };
	balance_config_defaults(&o->cfg);
	o->cfg.interval = PL_INTERVAL;
	o->cfg.load_threshold = 0.9;
	o->cfg.alarm_count = 1;
	o->cfg.mem_threshold = 1;
	o->cfg.margin = 0.05;
	o->cfg.source_margin = 0.05;
	o->cfg.cooldown = 3600;
	o->cfg.consolidate = true;
	o->cfg.consolidate_below = 0.5;
	o->cfg.consolidate_count = 3;
	o->cfg.power_cooldown = 3600;
	o->cfg.predict = true;
	o->cfg.predict_window = 6;
	o->cfg.predict_horizon = 1;
}

/* ---------------------------------------------------------------- simulation state */

typedef struct {
	int *v;			/* VMs in CloudSim's list order (migrating-in ones included) */
	int n, size;
} vlist;

static void
vlist_add(vlist *l, int v)
{
	if (l->n == l->size) {
		l->size = l->size ? l->size * 2 : 8;
		l->v = g_renew(int, l->v, l->size);
	}
	l->v[l->n++] = v;
}

static bool
vlist_remove(vlist *l, int v)
{
	for (int i = 0; i < l->n; i++) {
		if (l->v[i] == v) {
			memmove(&l->v[i], &l->v[i + 1], (size_t)(l->n - i - 1) * sizeof(int));
			l->n--;
			return true;
		}
	}
	return false;
}

/* a host as the consolidation round sees it (CloudSim plans on the live objects and restores
 * them afterwards; here the plan works on a copy) */
typedef struct {
	vlist l;
	double sc;		/* sum of requests capped at a PE */
	double sr;		/* sum of requests */
	double umips;		/* allocated MIPS */
	double avail;		/* MIPS the scheduler still has */
	double ram, maxram;
	double hist[LR_WINDOW];	/* utilisation history, newest first */
	bool lr_ok;		/* at least LR_WINDOW samples after trimming the zero tail */
} phost;

typedef struct {
	double time, alloc, req;
	bool flag, has;
} pstate;

typedef struct {
	const pl_options *o;
	const pl_trace *t;
	pl_policy pol;
	int nh, nv, k;		/* k: current sample */
	/* hosts */
	int *htype;
	double *cap, *pe;
	vlist *hl;		/* live lists */
	double *u_prev;		/* utilisation after the last update */
	double *u_round;	/* utilisation at this round's update (what planning sees) */
	pstate *hs;
	/* VMs */
	int *vtype;
	double *mips, *ram, *r;
	int *vhost;
	bool *vmig;
	pstate *vs;
	double *last_moved;
	/* planning */
	phost *P;
	bool *excl, *excl2;
	/* metrics */
	double energy, t_last;
	double act_time, viol_time, vm_req, vm_under_mig;
	int migrations;
	int removed;		/* VMs CloudSim took for finished */
	double hist_t[PL_SAMPLES];	/* rounds that added a history value */
	int n_hist;
	GArray *migs;		/* of pl_mig, this round */
	/* nube */
	balance_detector *det;
	balance_power *pow;
} eng;

typedef struct {
	int v, dst;
} pl_mig;

static inline double
utilv(const eng *e, int v, int k)
{
	if (k < 0 || k >= PL_SAMPLES)
		return 0;
	return e->t->util[(size_t)v * PL_SAMPLES + k] / 100.0;
}

static void
record(pstate *s, double t, double alloc, double req, bool flag, double *tot_a, double *tot_b,
    bool host)
{
	if (s->has) {
		double dt = t - s->time;
		if (host) {
			if (s->flag) {
				*tot_a += dt;
				if (s->alloc < s->req)
					*tot_b += dt;
			}
		} else {
			*tot_a += s->req * dt;
			if (s->alloc < s->req && s->flag)
				*tot_b += (s->req - s->alloc) * dt;
		}
	}
	*s = (pstate){ t, alloc, req, flag, true };
}

/* one host update (HostDynamicWorkload.updateVmsProcessing with the over-subscription
 * scheduler): allocate, record host and VM states at t, return the utilisation */
static double
host_update(eng *e, int h, double t)
{
	vlist *l = &e->hl[h];
	double cap = e->cap[h], pe = e->pe[h];
	double avail = cap, sum_eff = 0;
	bool fits = true;
	for (int i = 0; i < l->n; i++) {
		int v = l->v[i];
		double c = fmin(e->r[v], pe);
		double eff = e->vhost[v] != h ? c * 0.1 : c;
		sum_eff += eff;
		if (fits && avail >= eff)
			avail -= eff;
		else
			fits = false;
	}
	double f = sum_eff > 0 ? cap / sum_eff : 0;
	double umips = 0, req = 0;
	for (int i = 0; i < l->n; i++) {
		int v = l->v[i];
		bool in = e->vhost[v] != h, out = !in && e->vmig[v];
		double c = fmin(e->r[v], pe), a;
		if (fits)
			a = out ? c * 0.9 : in ? c * 0.1 : c;
		else
			a = floor(out ? c * f * 0.9 : in ? c * 0.1 * f : c * f);
		if (in) {
			umips += a;
		} else {
			record(&e->vs[v], t, a, e->r[v], e->vmig[v], &e->vm_req, &e->vm_under_mig, false);
			umips += e->vmig[v] ? a / 0.9 : a;
		}
		req += e->r[v];
	}
	record(&e->hs[h], t, umips, req, umips > 0, &e->act_time, &e->viol_time, true);
	double u = umips / cap;
	if (u > 1 && u < 1.01)
		u = 1;
	return u;
}

/* every VM's demand at t: the trace interpolated between its 5-minute values
 * (UtilizationModelPlanetLabInMemory; the value after the last one repeats it) */
static double
util_at(const eng *e, int v, double t)
{
	int k1 = (int)floor(t / PL_INTERVAL), k2 = (int)ceil(t / PL_INTERVAL);
	double u1 = utilv(e, v, k1 < PL_SAMPLES ? k1 : PL_SAMPLES - 1);
	if (fmod(t, PL_INTERVAL) == 0)
		return u1;
	double u2 = utilv(e, v, k2 < PL_SAMPLES ? k2 : PL_SAMPLES - 1);
	double delta = (u2 - u1) / ((k2 - k1) * PL_INTERVAL);
	return u1 + delta * (t - k1 * PL_INTERVAL);
}

static void
set_demand(eng *e, double t)
{
	for (int v = 0; v < e->nv; v++)
		e->r[v] = util_at(e, v, t) * e->mips[v];
}

/* a datacenter-wide update at t: every host, energy since the last one */
static void
advance(eng *e, double t)
{
	set_demand(e, t);
	double dt = t - e->t_last;
	for (int h = 0; h < e->nh; h++) {
		double u = host_update(e, h, t);
		if (dt > 0 && e->u_prev[h] > 0) {
			double a = pl_power(e->htype[h], e->u_prev[h]), b = pl_power(e->htype[h], u);
			e->energy += (a + (b - a) / 2) * dt;
		}
		e->u_prev[h] = u;
	}
	e->t_last = t;
	/* CloudSim takes a VM that requests no MIPS for a finished one and removes it for good
	 * (HostDynamicWorkload.getCompletedVms); the demand between samples is interpolated, so a
	 * VM goes when this sample and the next are both 0 */
	for (int h = 0; h < e->nh; h++) {
		vlist *l = &e->hl[h];
		for (int i = 0; i < l->n;) {
			int v = l->v[i];
			if (e->vhost[v] == h && !e->vmig[v] && e->r[v] == 0) {
				vlist_remove(l, v);
				e->vhost[v] = -1;
				e->removed++;
				continue;
			}
			i++;
		}
	}
}

static void
touch(eng *e, int h, double t)
{
	e->u_prev[h] = host_update(e, h, t);
}

/* ---------------------------------------------------------------- planning copy */

static double vm_hist(const eng *e, int v, int i);

static void
p_recompute(eng *e, int h)
{
	phost *p = &e->P[h];
	double cap = e->cap[h], pe = e->pe[h], a = cap;
	bool fits = true;
	p->sc = p->sr = p->ram = 0;
	p->maxram = -1;
	for (int i = 0; i < p->l.n; i++) {
		int v = p->l.v[i];
		double c = fmin(e->r[v], pe);
		p->sc += c;
		p->sr += e->r[v];
		p->ram += e->ram[v];
		if (e->ram[v] > p->maxram)
			p->maxram = e->ram[v];
		if (fits && a >= c)
			a -= c;
		else
			fits = false;
	}
	if (fits) {
		p->umips = p->sc;
		p->avail = a;
	} else {
		double f = cap / p->sc;
		p->umips = 0;
		for (int i = 0; i < p->l.n; i++)
			p->umips += floor(fmin(e->r[p->l.v[i]], pe) * f);
		p->avail = 0;
	}
	if (e->pol == PL_POLICY_LR_MMT) {
		int len = e->n_hist < HISTORY ? e->n_hist : HISTORY;
		p->lr_ok = false;
		for (int i = 0; i < LR_WINDOW; i++)
			p->hist[i] = 0;
		for (int j = 0; j < p->l.n; j++) {
			int v = p->l.v[j];
			for (int i = 0; i < LR_WINDOW && i < len; i++)
				p->hist[i] += vm_hist(e, v, i) * e->mips[v] / cap;
			for (int i = LR_WINDOW - 1; i < len && !p->lr_ok; i++)
				p->lr_ok = vm_hist(e, v, i) > 0;
		}
	}
}

/* the i-th newest value of a VM's utilisation history (PowerVm: one value per round whose
 * clock minus 0.1 is a multiple of 300 in floating point) */
static double
vm_hist(const eng *e, int v, int i)
{
	return util_at(e, v, e->hist_t[e->n_hist - 1 - i]);
}

static bool
p_over(eng *e, int h, int extra)
{
	phost *p = &e->P[h];
	double cap = e->cap[h];
	double sr = p->sr + (extra >= 0 ? e->r[extra] : 0);
	if (e->pol == PL_POLICY_THR_MMT)
		return sr / cap > e->o->thr;
	bool ok = p->lr_ok;
	int len = e->n_hist < HISTORY ? e->n_hist : HISTORY;
	if (extra >= 0)
		for (int i = LR_WINDOW - 1; i < len && !ok; i++)
			ok = vm_hist(e, extra, i) > 0;
	if (!ok)
		return sr / cap > e->o->lr_fallback;
	double y[LR_WINDOW];
	for (int i = 0; i < LR_WINDOW; i++) {
		double x = p->hist[i];
		if (extra >= 0 && i < len)
			x += vm_hist(e, extra, i) * e->mips[extra] / cap;
		y[LR_WINDOW - 1 - i] = x;
	}
	double maxram = p->maxram;
	if (extra >= 0 && e->ram[extra] > maxram)
		maxram = e->ram[extra];
	double ahead = ceil(maxram / (HOST_BW / (2 * 8000)) / PL_INTERVAL);
	return pl_lr_predict(y, LR_WINDOW, ahead) * e->o->lr_safety >= 1;
}

static bool
p_suitable(const eng *e, int h, int v)
{
	const phost *p = &e->P[h];
	/* RAM and bandwidth are not checked: once created, CloudSim's VMs request RAM and
	 * bandwidth through a null utilisation model (0), so only the initial placement is bound
	 * by them; RAM only sets the migration time */
	(void)p;
	return e->pe[h] >= e->r[v] && e->P[h].avail >= e->r[v];
}

/* PowerVmAllocationPolicyMigrationAbstract.findHostForVm: least power increase, skipping hosts
 * the VM would overload (except empty ones) */
static int
p_find_host(eng *e, int v, const bool *excl)
{
	double best = G_MAXDOUBLE;
	int host = -1;
	for (int h = 0; h < e->nh; h++) {
		if (excl[h] || !p_suitable(e, h, v))
			continue;
		phost *p = &e->P[h];
		if (p->umips != 0 && p_over(e, h, v))
			continue;
		double after = pl_power(e->htype[h], (p->umips + e->r[v]) / e->cap[h]);
		double diff = after - pl_power(e->htype[h], e->u_round[h]);
		if (diff < best) {
			best = diff;
			host = h;
		}
	}
	return host;
}

static void
p_add(eng *e, int h, int v)
{
	vlist_add(&e->P[h].l, v);
	p_recompute(e, h);
}

static void
p_del(eng *e, int h, int v)
{
	vlist_remove(&e->P[h].l, v);
	p_recompute(e, h);
}

/* stable sort by requested MIPS, largest first (VmList.sortByCpuUtilization) */
static void
sort_by_cpu(const eng *e, int *v, int n)
{
	for (int i = 1; i < n; i++) {
		int x = v[i], j = i;
		while (j > 0 && e->r[v[j - 1]] < e->r[x]) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

static void
mig_add(eng *e, int v, int dst)
{
	pl_mig m = { v, dst };
	g_array_append_val(e->migs, m);
}

/* PowerVmAllocationPolicyMigrationAbstract.optimizeAllocation with MMT selection */
static void
plan_cloudsim(eng *e)
{
	int nh = e->nh;
	for (int h = 0; h < nh; h++) {
		phost *p = &e->P[h];
		p->l.n = 0;
		for (int i = 0; i < e->hl[h].n; i++)
			vlist_add(&p->l, e->hl[h].v[i]);
		p_recompute(e, h);
	}
	bool *over = e->excl;
	for (int h = 0; h < nh; h++)
		over[h] = false;
	for (int h = 0; h < nh; h++)
		over[h] = p_over(e, h, -1);
	/* VMs to migrate from overloaded hosts */
	GArray *tm = g_array_new(FALSE, FALSE, sizeof(int));
	for (int h = 0; h < nh; h++) {
		if (!over[h])
			continue;
		for (;;) {
			phost *p = &e->P[h];
			int sel = -1;
			double min = G_MAXDOUBLE;
			for (int i = 0; i < p->l.n; i++) {
				int v = p->l.v[i];
				if (e->ram[v] < min) {
					min = e->ram[v];
					sel = v;
				}
			}
			if (sel < 0)
				break;
			g_array_append_val(tm, sel);
			p_del(e, h, sel);
			if (!p_over(e, h, -1))
				break;
		}
	}
	sort_by_cpu(e, (int *)tm->data, (int)tm->len);
	for (guint i = 0; i < tm->len; i++) {
		int v = g_array_index(tm, int, i);
		int d = p_find_host(e, v, over);
		if (d >= 0) {
			p_add(e, d, v);
			mig_add(e, v, d);
		}
	}
	g_array_free(tm, TRUE);
	/* under-utilised hosts, least utilised first */
	bool *ex_find = g_new(bool, nh), *ex_place = e->excl2;
	int n_ex = 0;
	for (int h = 0; h < nh; h++) {
		bool off = e->u_round[h] == 0;
		ex_find[h] = over[h] || off;
		ex_place[h] = over[h] || off;
		n_ex += ex_find[h];
	}
	int *vs = g_new(int, 64);
	int vs_size = 64;
	while (n_ex < nh) {
		int u = -1;
		double min = 1;
		for (int h = 0; h < nh; h++) {
			if (ex_find[h])
				continue;
			double x = e->u_round[h];
			if (x > 0 && x < min && e->P[h].l.n > 0) {
				min = x;
				u = h;
			}
		}
		if (u < 0)
			break;
		ex_find[u] = true;
		n_ex++;
		ex_place[u] = true;
		phost *p = &e->P[u];
		int n = p->l.n;
		if (n == 0)
			continue;
		if (n > vs_size) {
			vs_size = n;
			vs = g_renew(int, vs, vs_size);
		}
		memcpy(vs, p->l.v, (size_t)n * sizeof(int));
		sort_by_cpu(e, vs, n);
		guint mark = e->migs->len;
		bool ok = true;
		for (int i = 0; i < n; i++) {
			int d = p_find_host(e, vs[i], ex_place);
			if (d < 0) {
				ok = false;
				break;
			}
			p_add(e, d, vs[i]);
			mig_add(e, vs[i], d);
		}
		if (!ok) {
			for (guint i = mark; i < e->migs->len; i++) {
				pl_mig *m = &g_array_index(e->migs, pl_mig, i);
				p_del(e, m->dst, m->v);
			}
			g_array_set_size(e->migs, mark);
			continue;
		}
		for (guint i = mark; i < e->migs->len; i++) {
			int d = g_array_index(e->migs, pl_mig, i).dst;
			if (!ex_find[d]) {
				ex_find[d] = true;
				n_ex++;
			}
		}
	}
	g_free(vs);
	g_free(ex_find);
}

/* CloudSim's initial placement: every VM asks its full MIPS while being created, hosts have
 * not reported any utilisation yet (so every host's current power is its idle power) */
static void
place_initial(eng *e)
{
	for (int h = 0; h < e->nh; h++) {
		e->P[h].l.n = 0;
		e->P[h].sc = e->P[h].sr = e->P[h].ram = e->P[h].umips = 0;
		e->P[h].avail = e->cap[h];
	}
	for (int v = 0; v < e->nv; v++) {
		double full = e->mips[v];
		double best = G_MAXDOUBLE;
		int host = -1;
		for (int h = 0; h < e->nh; h++) {
			phost *p = &e->P[h];
			if (e->pe[h] < full || p->avail < full || p->ram + e->ram[v] > PL_HOST_RAM ||
			    (p->l.n + 1) * VM_BW > HOST_BW)
				continue;
			/* the VMs already placed request nothing yet: only the new one counts */
			double thr = e->pol == PL_POLICY_THR_MMT ? e->o->thr : e->o->lr_fallback;
			if (p->umips != 0 && full / e->cap[h] > thr)
				continue;
			double diff = pl_power(e->htype[h], (p->umips + full) / e->cap[h]) -
			    pl_power(e->htype[h], 0);
			if (diff < best) {
				best = diff;
				host = h;
			}
		}
		if (host < 0) {
			e->vhost[v] = -1;
			continue;
		}
		phost *p = &e->P[host];
		vlist_add(&p->l, v);
		double c = fmin(full, e->pe[host]);
		p->umips += c;
		p->avail -= c;
		p->ram += e->ram[v];
		vlist_add(&e->hl[host], v);
		e->vhost[v] = host;
	}
}

/* ---------------------------------------------------------------- nube */

static void plan_nube(eng *e, double now);

/* ---------------------------------------------------------------- run */

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
pl_run(const pl_options *o, const pl_trace *t, pl_policy policy, pl_result *out)
{
	GError *err = NULL;
	if (o->n_hosts < 1 || o->rounds < 1 || o->rounds > PL_SAMPLES - 1 || t->n_vms < 1 ||
	    (policy == PL_POLICY_NUBE && balance_config_validate(&o->cfg, &err) < 0)) {
		fprintf(stderr, "nube-sim: invalid planetlab options%s%s\n", err ? ": " : "",
		    err ? err->message : "");
		g_clear_error(&err);
		return -1;
	}
	gint64 wall0 = g_get_monotonic_time();
	memset(out, 0, sizeof *out);
	out->policy = policy;
	eng E = { .o = o, .t = t, .pol = policy, .nh = o->n_hosts, .nv = t->n_vms };
	eng *e = &E;
	int nh = e->nh, nv = e->nv;
	e->htype = g_new(int, nh);
	e->cap = g_new(double, nh);
	e->pe = g_new(double, nh);
	e->hl = g_new0(vlist, nh);
	e->u_prev = g_new0(double, nh);
	e->u_round = g_new0(double, nh);
	e->hs = g_new0(pstate, nh);
	e->P = g_new0(phost, nh);
	e->excl = g_new0(bool, nh);
	e->excl2 = g_new0(bool, nh);
	for (int h = 0; h < nh; h++) {
		e->htype[h] = h % 2;
		e->pe[h] = pl_host_pe_mips[h % 2];
		e->cap[h] = 2 * e->pe[h];
	}
	e->vtype = g_new(int, nv);
	e->mips = g_new(double, nv);
	e->ram = g_new(double, nv);
	e->r = g_new0(double, nv);
	e->vhost = g_new(int, nv);
	e->vmig = g_new0(bool, nv);
	e->vs = g_new0(pstate, nv);
	e->last_moved = g_new(double, nv);
	for (int v = 0; v < nv; v++) {
		e->vtype[v] = pl_vm_type(v, nv);
		e->mips[v] = pl_vm_mips[e->vtype[v]];
		e->ram[v] = pl_vm_ram[e->vtype[v]];
		e->last_moved[v] = BALANCE_NEVER;
	}
	e->migs = g_array_new(FALSE, FALSE, sizeof(pl_mig));
	e->det = g_new0(balance_detector, nh);
	e->pow = g_new0(balance_power, nh);
	for (int h = 0; h < nh; h++)
		e->pow[h].changed = BALANCE_NEVER;

	place_initial(e);
	int unplaced = 0;
	for (int v = 0; v < nv; v++) {
		if (e->vhost[v] < 0)
			unplaced++;
		e->r[v] = utilv(e, v, 0) * e->mips[v];
	}
	if (unplaced)
		fprintf(stderr, "nube-sim: %d VM(s) found no host at the start\n", unplaced);
	if (policy == PL_POLICY_NUBE) {
		/* hosts left empty by the initial placement start on standby */
		for (int h = 0; h < nh; h++)
			e->pow[h].standby = e->hl[h].n == 0;
	}
	/* CloudSim updates the hosts first at the first round: until then they report no
	 * utilisation, so the first 300 s cost no energy and count for no metric */
	e->t_last = 0;
	out->n_rounds = o->rounds;
	out->active_hosts = g_new0(int, o->rounds);
	out->energy_round = g_new0(double, o->rounds);
	double T = 0;
	for (int k = 1; k <= o->rounds; k++) {
		e->k = k;
		/* the clock advances by repeated addition, as CloudSim's event queue does */
		T = (k == 1 ? PL_ROUND_OFFSET : T) + PL_INTERVAL;
		if (fmod(T - PL_ROUND_OFFSET, PL_INTERVAL) == 0)
			e->hist_t[e->n_hist++] = T;
		double e0 = e->energy;
		advance(e, T);
		out->energy_round[k - 1] = (e->energy - e0) / 3.6e6;
		for (int h = 0; h < nh; h++) {
			e->u_round[h] = e->u_prev[h];
			out->active_hosts[k - 1] += e->u_round[h] > 0;
		}
		g_array_set_size(e->migs, 0);
		if (policy == PL_POLICY_NUBE)
			plan_nube(e, T);
		else
			plan_cloudsim(e);
		/* migrations start: the destination reserves the VM, which gets 90 % of its
		 * demand on the source (the destination's 10 % share) until it arrives */
		double ends[4];
		int n_ends = 0;
		for (guint i = 0; i < e->migs->len; i++) {
			pl_mig *m = &g_array_index(e->migs, pl_mig, i);
			int src = e->vhost[m->v];
			if (o->on_migration)
				o->on_migration(o->ud, k, m->v, src, m->dst);
			vlist_add(&e->hl[m->dst], m->v);
			e->vmig[m->v] = true;
			touch(e, m->dst, T);
			touch(e, src, T);
			e->migrations++;
			double end = T + e->ram[m->v] / PL_MIG_MBPS;
			bool seen = false;
			for (int j = 0; j < n_ends; j++)
				seen |= ends[j] == end;
			if (!seen && n_ends < 4)
				ends[n_ends++] = end;
		}
		qsort(ends, (size_t)n_ends, sizeof(double), dcmp);
		for (int j = 0; j < n_ends; j++) {
			advance(e, ends[j]);
			for (guint i = 0; i < e->migs->len; i++) {
				pl_mig *m = &g_array_index(e->migs, pl_mig, i);
				if (T + e->ram[m->v] / PL_MIG_MBPS != ends[j])
					continue;
				int src = e->vhost[m->v];
				vlist_remove(&e->hl[src], m->v);
				/* CloudSim re-creates the VM on its destination: it goes to the end */
				vlist_remove(&e->hl[m->dst], m->v);
				vlist_add(&e->hl[m->dst], m->v);
				e->vhost[m->v] = m->dst;
				e->vmig[m->v] = false;
				e->last_moved[m->v] = ends[j];
				touch(e, src, ends[j]);
				touch(e, m->dst, ends[j]);
			}
		}
	}
	out->energy_kwh = e->energy / 3.6e6;
	out->migrations = e->migrations;
	out->overload_host_seconds = e->viol_time;
	out->active_host_seconds = e->act_time;
	out->slatah = e->act_time > 0 ? e->viol_time / e->act_time : 0;
	out->pdm = e->vm_req > 0 ? e->vm_under_mig / e->vm_req : 0;
	out->slav = out->slatah * out->pdm;
	out->esv = out->energy_kwh * out->slav;
	for (int h = 0; h < nh; h++) {
		out->wakes += e->pow[h].wakes;
		out->standbys += e->pow[h].standbys;
	}
	for (int h = 0; h < nh; h++) {
		g_free(e->hl[h].v);
		g_free(e->P[h].l.v);
	}
	g_free(e->htype);
	g_free(e->cap);
	g_free(e->pe);
	g_free(e->hl);
	g_free(e->u_prev);
	g_free(e->u_round);
	g_free(e->hs);
	g_free(e->P);
	g_free(e->excl);
	g_free(e->excl2);
	g_free(e->vtype);
	g_free(e->mips);
	g_free(e->ram);
	g_free(e->r);
	g_free(e->vhost);
	g_free(e->vmig);
	g_free(e->vs);
	g_free(e->last_moved);
	g_free(e->det);
	g_free(e->pow);
	g_array_free(e->migs, TRUE);
	out->wall_seconds = (g_get_monotonic_time() - wall0) / 1e6;
	return 0;
}

void
pl_result_clear(pl_result *r)
{
	g_free(r->active_hosts);
	g_free(r->energy_round);
	memset(r, 0, sizeof *r);
}

json_t *
pl_result_to_json(const pl_result *r)
{
	json_t *act = json_array();
	for (int i = 0; i < r->n_rounds; i++)
		json_array_append_new(act, json_integer(r->active_hosts[i]));
	return json_pack("{s:s, s:f, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:o}",
	    "policy", pl_policy_name(r->policy), "energy_kwh", r->energy_kwh,
	    "migrations", r->migrations, "slatah", r->slatah, "pdm", r->pdm, "slav", r->slav,
	    "esv", r->esv, "overload_host_seconds", r->overload_host_seconds,
	    "active_host_seconds", r->active_host_seconds, "wakes", r->wakes,
	    "standbys", r->standbys, "active_hosts", act);
}

/* nube over the balance core: each host runs its MAPE round on the telemetry of all (loads as
 * fractions of the host's MIPS, VM demand in units of 10 MIPS so the core's integer CPUs fit),
 * overload relief with prediction, wake-ups when the active hosts cannot absorb a load, then
 * consolidation of light hosts onto busier ones under the same admission */
typedef struct {
	balance_host *hv;
	balance_vm *vv;
	int *vm_of;		/* vv index -> VM */
	int *vv_of;		/* VM -> vv index */
	char **hname, **vname;
	balance_reservations **res;
	bool *got;		/* received or sent VMs this round */
} nube_view;

static double
host_demand_at(const eng *e, int h, int k)
{
	double d = 0;
	const vlist *l = &e->hl[h];
	for (int i = 0; i < l->n; i++)
		d += utilv(e, l->v[i], k) * e->mips[l->v[i]];
	return d;
}

static void
nube_build(eng *e, nube_view *w, double now)
{
	const balance_config *cfg = &e->o->cfg;
	int k = 0;
	int win = cfg->predict_window;
	double *hist = g_new(double, win);
	for (int h = 0; h < e->nh; h++) {
		balance_host *hv = &w->hv[h];
		/* memory as the model provisions it: CloudSim's VMs hold their RAM only while
		 * being created (a null RAM utilisation model afterwards), so hosts report none */
		double cap = e->cap[h], ram = 0, d = 0;
		const vlist *l = &e->hl[h];
		for (int i = 0; i < l->n; i++) {
			int v = l->v[i];
			d += e->r[v];
			w->vm_of[k + i] = v;
			w->vv_of[v] = k + i;
			w->vv[k + i] = (balance_vm){ .name = w->vname[v], .cpu = e->r[v] / 10,
				.load_generated = -1, .mem = 0, .last_moved = e->last_moved[v],
				.prev_host = NULL, .pinned = e->vhost[v] != h || e->vmig[v] };
		}
		int n = 0;
		for (int j = e->k - win + 1; j <= e->k; j++)
			if (j >= 0)
				hist[n++] = host_demand_at(e, h, j) / cap;
		*hv = (balance_host){ .name = w->hname[h], .cpus = (int)(cap / 10),
			.mem_total = PL_HOST_RAM, .mem_used = ram, .load = d / cap,
			.active = l->n, .online = true, .standby = e->pow[h].standby,
			.load_predicted = cfg->predict ? balance_predict_load(cfg, hist, (size_t)n) : 0,
			.vms = &w->vv[k], .n_vms = (size_t)l->n };
		k += l->n;
	}
	g_free(hist);
	(void)now;
}

/* admit every move of p at its destination; apply the admitted ones to the live placement
 * (the migration list) and to the views; returns how many were refused */
static int
nube_apply(eng *e, nube_view *w, const balance_plan *p, int src, double now, bool all_or_none)
{
	const balance_config *cfg = &e->o->cfg;
	int refused = 0;
	int *dst = g_new(int, p->moves->len + 1);
	for (guint i = 0; i < p->moves->len; i++) {
		const balance_move *mv = p->moves->pdata[i];
		int d = atoi(mv->dst + 1);
		dst[i] = d;
		balance_request rq = balance_move_request(mv);
		balance_admission a;
		if (!balance_admit(w->res[d], BALANCE_POLICY_NUBE, cfg, &w->hv[d], &rq, now, &a)) {
			refused++;
			dst[i] = -1;
			if (e->o->trace)
				fprintf(stderr, "t=%.0f %s refused '%s' from %s: %s\n", now, mv->dst, mv->vm,
				    p->host, a.reason);
		}
	}
	if (all_or_none && refused) {
		for (guint i = 0; i < p->moves->len; i++) {
			const balance_move *mv = p->moves->pdata[i];
			if (dst[i] >= 0)
				balance_reservations_release(w->res[dst[i]], mv->vm);
		}
		g_free(dst);
		return refused;
	}
	for (guint i = 0; i < p->moves->len; i++) {
		if (dst[i] < 0)
			continue;
		const balance_move *mv = p->moves->pdata[i];
		int v = atoi(mv->vm + 1), d = dst[i];
		mig_add(e, v, d);
		w->got[d] = true;
		w->got[src] = true;
		/* the next plans see the move in the telemetry: the reservation is settled */
		balance_reservations_release(w->res[d], mv->vm);
		double dl = mv->cpu / w->hv[d].cpus, sl = mv->cpu / w->hv[src].cpus;
		w->hv[d].load += dl;
		if (w->hv[d].load_predicted > 0)
			w->hv[d].load_predicted += dl;
		w->hv[d].mem_used += mv->mem;
		w->hv[src].load -= sl;
		if (w->hv[src].load_predicted > 0)
			w->hv[src].load_predicted = fmax(0, w->hv[src].load_predicted - sl);
		w->hv[src].mem_used -= mv->mem;
		w->vv[w->vv_of[v]].pinned = true;
		if (e->o->trace) {
			g_autofree char *txt = balance_move_format(mv);
			fprintf(stderr, "t=%.0f %s\n", now, txt);
		}
	}
	g_free(dst);
	return refused;
}

static void
plan_nube(eng *e, double now)
{
	const balance_config *cfg = &e->o->cfg;
	int nh = e->nh, nv = e->nv;
	nube_view w = { 0 };
	w.hv = g_new0(balance_host, nh);
	w.vv = g_new0(balance_vm, nv > 0 ? nv : 1);
	w.vm_of = g_new0(int, nv > 0 ? nv : 1);
	w.vv_of = g_new0(int, nv > 0 ? nv : 1);
	w.hname = g_new(char *, nh);
	w.vname = g_new(char *, nv);
	w.res = g_new(balance_reservations *, nh);
	w.got = g_new0(bool, nh);
	for (int h = 0; h < nh; h++) {
		w.hname[h] = g_strdup_printf("h%d", h);
		w.res[h] = balance_reservations_new();
	}
	for (int v = 0; v < nv; v++)
		w.vname[v] = g_strdup_printf("v%d", v);
	nube_build(e, &w, now);
	/* 1. overload relief, most loaded first; wake a standby host when nothing fits */
	int *order = g_new(int, nh);
	for (int h = 0; h < nh; h++)
		order[h] = h;
	for (int i = 1; i < nh; i++) {
		int x = order[i], j = i;
		while (j > 0 && balance_effective_load(&w.hv[order[j - 1]]) <
		    balance_effective_load(&w.hv[x])) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = x;
	}
	for (int oi = 0; oi < nh; oi++) {
		int h = order[oi];
		if (e->pow[h].standby)
			continue;
		balance_state st = balance_analyse(&e->det[h], NULL, cfg, &w.hv[h], (size_t)nh - 1, now);
		if (st != BALANCE_OVERLOADED)
			continue;
		for (int tries = 0; tries < 4; tries++) {
			balance_plan *p = balance_plan_new(BALANCE_POLICY_NUBE, cfg, &w.hv[h], w.hv,
			    (size_t)nh, now);
			if (e->o->trace)
				fprintf(stderr, "t=%.0f %s load %.3f predicted %.3f: %u move(s)%s%s\n", now,
				    w.hname[h], w.hv[h].load, w.hv[h].load_predicted, p->moves->len,
				    p->note ? ": " : "", p->note ? p->note : "");
			bool solved = p->solved;
			double need = (p->load_after - p->target) * w.hv[h].cpus;
			nube_apply(e, &w, p, h, now, false);
			balance_plan_free(p);
			if (solved)
				break;
			/* the active hosts cannot absorb it: wake the standby host that fits */
			long wk = balance_wake_pick(cfg, w.hv, (size_t)nh, need);
			if (wk < 0)
				break;
			balance_power_wake(&e->pow[wk], now);
			w.hv[wk].standby = false;
			w.got[wk] = true;
			if (e->o->trace)
				fprintf(stderr, "t=%.0f wake %s for %.0f MIPS\n", now, w.hname[wk], need * 10);
		}
	}
	/* 2. consolidation: light hosts, lightest first, onto busier ones */
	if (cfg->consolidate) {
		bool *want = g_new0(bool, nh);
		for (int h = 0; h < nh; h++)
			if (!e->pow[h].standby)
				want[h] = balance_power_sample(&e->pow[h], cfg, &w.hv[h], now);
		for (int oi = nh - 1; oi >= 0; oi--) {
			int h = order[oi];
			if (!want[h] || w.got[h] || e->pow[h].standby)
				continue;
			balance_plan *p = balance_consolidate(cfg, &w.hv[h], w.hv, (size_t)nh, now);
			if (p->solved && nube_apply(e, &w, p, h, now, true) == 0) {
				balance_power_standby(&e->pow[h], now);
				w.hv[h].standby = true;
				if (e->o->trace)
					fprintf(stderr, "t=%.0f %s on standby after %u move(s)\n", now,
					    w.hname[h], p->moves->len);
			}
			balance_plan_free(p);
		}
		g_free(want);
	}
	/* hosts left without VMs and without incoming ones are off in the model anyway */
	for (int h = 0; h < nh; h++) {
		g_free(w.hname[h]);
		balance_reservations_free(w.res[h]);
	}
	for (int v = 0; v < nv; v++)
		g_free(w.vname[v]);
	g_free(order);
	g_free(w.hv);
	g_free(w.vv);
	g_free(w.vm_of);
	g_free(w.vv_of);
	g_free(w.hname);
	g_free(w.vname);
	g_free(w.res);
	g_free(w.got);
}
