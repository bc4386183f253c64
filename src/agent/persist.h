/* persist: the balancer's memory that must outlive an agent restart — the cooldown of the VMs
 * that arrived here ("moved": a VM just moved is not moved back), the penalty and the power
 * state (standby or active, and since when) — kept in one
 * JSON file in the agent's state_dir, replaced atomically. The agent counts time on the
 * monotonic clock, which does not survive a reboot, so the file holds wall-clock times and
 * load converts them back. */
#ifndef NUBE_AGENT_PERSIST_H
#define NUBE_AGENT_PERSIST_H

#include <glib.h>

#include "balance/balance.h"

#define PERSIST_FILE	"balance.json"	/* in <state_dir>/<host>/ */

/* A VM that arrived here by a migration. */
typedef struct {
	double at;		/* monotonic s of its arrival */
	char *prev_host;	/* the host it left, may be NULL */
} persist_moved;

/* persist_moved_new: a new entry (prev_host copied); free with persist_moved_free (accepts
 * NULL; fits a GHashTable's value destroy function) */
persist_moved *persist_moved_new(double at, const char *prev_host);
void persist_moved_free(gpointer p);

/* persist_save: write moved (domain -> persist_moved*, borrowed), pen and pw (may be NULL:
 * active) to path: a temporary
 * file, synced, renamed over path (a crash leaves the old or the new file, never half of
 * one). mono_now and wall_now are the same instant on the monotonic and the wall clock (s);
 * every time t is stored as wall_now - (mono_now - t). 0, or -1 + err. */
int persist_save(const char *path, GHashTable *moved, const balance_penalty *pen,
    const balance_power *pw, double mono_now, double wall_now, GError **err);

/* persist_load: read path back into moved (entries added or replaced; the table's keys must be
 * freed with g_free, its values with persist_moved_free), *pen and *pw (when not NULL: its
 * standby flag and the time of its last change; a file without "power" leaves it as it is),
 * times converted to the
 * monotonic clock given by mono_now/wall_now. Arrivals older than max_age s (0 = keep all)
 * are left out; a penalty whose end has passed comes back inactive (its failure count kept).
 * A missing file is not an error: nothing changes and 0 is returned. A malformed file: -1 +
 * err, nothing changed. */
int persist_load(const char *path, GHashTable *moved, balance_penalty *pen, balance_power *pw,
    double mono_now, double wall_now, double max_age, GError **err);

#endif
