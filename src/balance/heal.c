/* heal: self-healing's pure decisions — healer election, grace, destination order, fencing */
#include "balance/heal.h"

#include <math.h>
#include <glib.h>
#include <string.h>

const char *
heal_healer(const heal_candidate *c, size_t n)
{
	const char *best = NULL;

	for (size_t i = 0; i < n; i++) {
		if (c[i].name == NULL || !c[i].online || c[i].standby || c[i].leaving)
			continue;
		if (best == NULL || strcmp(c[i].name, best) < 0)
			best = c[i].name;
	}
	return best;
}

bool
heal_due(double gone_at, double grace, double now)
{
	return gone_at > 0 && now - gone_at >= grace;
}

static double
per_core(const balance_host *h)
{
	return h->cpus > 0 ? h->load / h->cpus : h->load;
}

static int
rank_cmp(gconstpointer a, gconstpointer b, gpointer ud)
{
	const balance_host *hosts = ud;
	const balance_host *x = &hosts[*(const size_t *)a], *y = &hosts[*(const size_t *)b];
	double lx = per_core(x), ly = per_core(y);

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x->name, y->name);
}

size_t
heal_rank(const balance_host *hosts, size_t n, double mem, size_t *order)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const balance_host *h = &hosts[i];
		double used = fmax(h->mem_used, h->mem_promised);

		if (h->name == NULL || !h->online || h->standby)
			continue;
		if (h->mem_total > 0 && h->mem_total - used - h->mem_reserve < mem)
			continue;
		order[k++] = i;
	}
	g_qsort_with_data(order, (gint)k, sizeof *order, rank_cmp, (gpointer)hosts);
	return k;
}

bool
heal_stale(int64_t mine, int64_t claim)
{
	return claim > mine;
}
