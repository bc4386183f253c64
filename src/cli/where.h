/* where: what runs where now, as the live hosts report it ("status" rpc to each) */
#ifndef NUBE_WHERE_H
#define NUBE_WHERE_H

#include <stdbool.h>
#include <glib.h>
#include <jansson.h>

#include "cli/client.h"

/* One VM a host runs (or, as a row of nube status, one the store knows). */
typedef struct {
	char *scenario;
	char *vm;
	char *host;		/* NULL in a status row of a VM no host runs */
	char *state;
	char *config;		/* how the VM is configured ("qemu-ga", "vnx+cloud-init",
				 * "container"), NULL when its agent does not say */
	json_t *addrs;		/* array of "addr/len" strings (owned) */
	json_t *ifaces;		/* array of {"if", "net", "addr"} (owned) */
	bool stored;		/* status rows: the store knows the VM */
	char *sc_state;		/* status rows: the store's state of its scenario, or NULL */
} vm_where;

void vm_where_free(vm_where *w);

/* where_now: ask every live host of c what it runs (agents answer from memory; a host silent
 * for WHERE_SILENCE_MS, progress re-arming it, counts as not answering). Returns vm_where*
 * (owned by the array, g_ptr_array_unref); hosts that did not answer go to *failed as "host
 * 'h': reason" (new array of strings; failed may be NULL) and their names to *silent (new
 * array of strings; may be NULL): what they run is unknown, not absent; the scenario nets
 * each host has go to *nets as [{"host", "scenario", "net", "vni": 0 = none}] (new
 * reference; nets may be NULL). */
#define WHERE_SILENCE_MS	5000
GPtrArray *where_now(client *c, GPtrArray **failed, GPtrArray **silent, json_t **nets);

/* where_silent: name is in silent (a where_now answer, may be NULL) */
bool where_silent(const GPtrArray *silent, const char *name);

/* where_find: the entry of scenario's vm in where, or NULL (borrowed) */
vm_where *where_find(GPtrArray *where, const char *scenario, const char *vm);

#endif
