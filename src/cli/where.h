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
	json_t *addrs;		/* array of "addr/len" strings (owned) */
	json_t *ifaces;		/* array of {"if", "net", "addr"} (owned) */
	bool stored;		/* status rows: the store knows the VM */
	char *sc_state;		/* status rows: the store's state of its scenario, or NULL */
} vm_where;

void vm_where_free(vm_where *w);

/* where_now: ask every live host of c what it runs. Returns vm_where* (owned by the array,
 * g_ptr_array_unref); hosts that did not answer go to *failed as "host 'h': reason" (new
 * array of strings; failed may be NULL); the scenario nets each host has go to *nets as
 * [{"host", "scenario", "net", "vni": 0 = none}] (new reference; nets may be NULL). */
GPtrArray *where_now(client *c, GPtrArray **failed, json_t **nets);

/* where_find: the entry of scenario's vm in where, or NULL (borrowed) */
vm_where *where_find(GPtrArray *where, const char *scenario, const char *vm);

#endif
