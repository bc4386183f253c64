/* store: the operator-side state in SQLite (WAL, foreign keys, schema version + migrations):
 * scenarios (spec text, state), VM placement, allocations (VNIs, MACs, addresses) and an
 * append-only event log (the CLI's own events and, once each, those of the agents' journals,
 * by host and seq). Safe against concurrent nube processes (BEGIN IMMEDIATE + UNIQUE). */
#ifndef NUBE_STORE_H
#define NUBE_STORE_H

#include <stdint.h>
#include <glib.h>
#include <jansson.h>

#include "scenario/scenario.h"
#include "plan/plan.h"
#include "plan/alloc.h"
#include "util/diag.h"

typedef struct store store;

#define STORE_DEFAULT_PATH "/var/lib/nube/nube.db"

/* GError domain of the store (added by the store module) */
#define STORE_ERROR (store_error_quark())
GQuark store_error_quark(void);
typedef enum {
	STORE_ERROR_DB,		/* SQLite failed (message carries sqlite3_errmsg) */
	STORE_ERROR_NOT_FOUND,	/* the scenario / VM named is not in the store */
	STORE_ERROR_INVALID,	/* bad argument (unknown state, NULL name) */
} store_error_code;

/* store_schema_version: the user_version a fully migrated database has */
int store_schema_version(void);

/* store_open: open or create the database at path (parent dirs created), apply migrations.
 * NULL + err on failure. */
store *store_open(const char *path, GError **err);
/* (path NULL = STORE_DEFAULT_PATH, ":memory:" = a private in-memory database) */
void store_close(store *st);

/* store_reserve: in one IMMEDIATE transaction: fail if scenario s->name exists, read every
 * VNI/MAC/address in use, run alloc_plan(p, s, ctx with those sets), insert the scenario
 * (spec, state "deploying", algorithm), its placements and allocations. Two concurrent
 * callers can never get the same VNI/MAC/address. 0, or -1 with the reason in d. */
int store_reserve(store *st, const scenario *s, const char *spec, plan *p,
    uint32_t vni_min, uint32_t vni_max, diag *d);

/* store_vni_range_check: vni_min..vni_max (a cluster's [deploy] range, plan --vni-range) lies
 * inside NUBE_VNI_DEPLOY_MIN..MAX (wire/names.h; the VNIs above are the agents' own, for
 * nets a migration stretches). 0, or -1 + err (STORE_ERROR_INVALID) saying both ranges.
 * store_reserve checks it too. */
int store_vni_range_check(uint32_t vni_min, uint32_t vni_max, GError **err);

/* store_used_sets: what store_reserve would avoid, read in one transaction: *vnis
 * (GUINT_TO_POINTER set), *macs (lower-case strings), *addrs (mgmt addresses without prefix);
 * new tables owned by the caller (fit for alloc_ctx). 0, or -1 + err. (added by store) */
int store_used_sets(store *st, GHashTable **vnis, GHashTable **macs, GHashTable **addrs,
    GError **err);

/* store_set_state: "deploying", "deployed", "degraded" (some VMs failed: store_failed, the
 * others run), "failed", "undeploying" */
int store_set_state(store *st, const char *scenario, const char *state, GError **err);

/* store_set_placement: record that vm now runs on host (after a migration) */
int store_set_placement(store *st, const char *scenario, const char *vm, const char *host,
    GError **err);

/* store_set_net_vni: record that net of scenario now carries VNI vni (a net the agents
 * stretched onto another host by a migration, as the hosts report it); vni 0 = the net has no
 * VNI any more (one host only). Replaces the net's earlier VNI. Fails with NOT_FOUND when the
 * scenario is absent, INVALID when vni > 2^24-1 or another net holds it already. */
int store_set_net_vni(store *st, const char *scenario, const char *net, uint32_t vni,
    GError **err);
/* store_net_vnis: the VNIs of the scenario's nets (deploy's and stretched), GHashTable net
 * (char*, owned by the table) -> GUINT_TO_POINTER(vni); nets without a VNI are absent.
 * NULL + err on failure. */
GHashTable *store_net_vnis(store *st, const char *scenario, GError **err);

/* store_delete: remove the scenario, its placements and allocations (events stay).
 * store_set_state/store_set_placement/store_delete fail with STORE_ERROR_NOT_FOUND when the
 * scenario (or VM) is absent. */
int store_delete(store *st, const char *scenario, GError **err);

typedef struct {
	char *name;
	char *state;
	char *algorithm;
	char *spec;
	int64_t created;	/* unix seconds */
	char *source;		/* the scenario file's absolute path at deploy, or NULL */
} store_scenario;

void store_scenario_free(store_scenario *s);
/* store_get: the scenario or NULL (absent is not an error: *err stays NULL) */
store_scenario *store_get(store *st, const char *name, GError **err);
/* store_list: all scenarios, GPtrArray of store_scenario* */
GPtrArray *store_list(store *st, GError **err);

/* store_placements: GHashTable vm -> host (both char*, owned by the table) */
GHashTable *store_placements(store *st, const char *scenario, GError **err);

/* store_set_failed: the deploy of vm failed for why (NULL: it is fine again). 0 or -1 + err
 * (no such placement). store_failed: GHashTable vm -> why of the failed VMs of scenario
 * (g_hash_table_unref), NULL + err on a database error. */
int store_set_failed(store *st, const char *scenario, const char *vm, const char *why,
    GError **err);
GHashTable *store_failed(store *st, const char *scenario, GError **err);

/* store_set_deployment: keep the deployment message (JSON text, without media) a scenario
 * was deployed with; store_deployment: it (g_free), or NULL (none kept, or + err) */
int store_set_deployment(store *st, const char *scenario, const char *deployment,
    GError **err);
char *store_deployment(store *st, const char *scenario, GError **err);

/* store_event: append the CLI's own event to the log (no seq); fields may be NULL; ts in unix
 * milliseconds */
int store_event(store *st, int64_t ts_ms, const char *host, const char *type,
    const char *scenario, const char *vm, const char *msg, GError **err);

/* store_event_import: append an agent's journaled event, as the agent publishes it or the
 * "events" op returns it: {"ts": unix_ms, "host", "seq" >= 1, "type", "scenario"?, "vm"?,
 * "msg"?, "data"?: {...}} (other keys ignored; ev borrowed). Exactly once per (host, seq):
 * returns 1 when it was new, 0 when that host's seq is in the log already, -1 + err
 * (STORE_ERROR_INVALID for a malformed event, STORE_ERROR_DB). */
int store_event_import(store *st, const json_t *ev, GError **err);

/* store_host_last_seq: the highest seq imported from host's journal, 0 when none (ask the
 * agent's "events" op for since = this). -1 + err on failure. */
int64_t store_host_last_seq(store *st, const char *host, GError **err);

typedef struct {
	int64_t id, ts_ms;
	char *host, *type, *scenario, *vm, *msg;
	int64_t seq;		/* the agent journal's seq, 0 for the CLI's own events */
	char *data;		/* the event's data object as compact JSON text, or NULL */
} store_event_row;
void store_event_row_free(store_event_row *e);
/* store_events: events with id > since_id, newest last; since_id 0 = all; limit 0 = no
 * limit, else only the newest `limit` of them (a tail). GPtrArray of store_event_row*. */
GPtrArray *store_events(store *st, int64_t since_id, int limit, GError **err);

#endif
