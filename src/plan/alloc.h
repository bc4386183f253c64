/* alloc: VXLAN VNIs, MACs and management addresses for a plan, avoiding those already taken
 * by other scenarios (pure: the caller passes what is in use, e.g. from the store) */
#ifndef NUBE_ALLOC_H
#define NUBE_ALLOC_H

#include <stdint.h>
#include <glib.h>

#include "plan/plan.h"

typedef struct {
	uint32_t vni_min, vni_max;	/* configured range, inclusive (default 10000..16777215) */
	GHashTable *used_vnis;		/* GUINT_TO_POINTER(vni) set, borrowed, may be NULL */
	GHashTable *used_macs;		/* char* lower-case "aa:bb:..." set, borrowed, may be NULL */
	GHashTable *used_addrs;		/* char* "a.b.c.d" set (mgmt addresses), borrowed, may be NULL */
} alloc_ctx;

/* alloc_plan: give each net spanning >1 host a unique VNI (p->net_vni), each interface a MAC
 * (explicit <mac> kept; automac: 02:fd:xx:xx:xx:xx derived from scenario name, offset, VM
 * and interface, then bumped past collisions), each VM a management address when vm_mgmt
 * is private/net. Newly taken values are added to nothing: the caller records them.
 * Returns 0, or -1 with the reason in d (VNI range or mgmt subnet exhausted). */
int alloc_plan(plan *p, const scenario *s, const alloc_ctx *ctx, diag *d);

#endif
