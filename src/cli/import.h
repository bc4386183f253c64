/* import: the agents' event journals into the store's log, each event exactly once (by host
 * and seq), and the placements the imported migrations changed */
#ifndef NUBE_IMPORT_H
#define NUBE_IMPORT_H

#include <jansson.h>

#include "cli/client.h"
#include "store/store.h"

/* import_event: store one agent event (as published or as the "events" op returns it: with
 * "host" and "seq"; borrowed) with store_event_import; when it is new and a "migrated" or "moved-cold" event,
 * its VM's placement becomes data.dst. 1 new, 0 known already, -1 + err (the event is not
 * stored; a placement that cannot be recorded is only a warning on stderr). */
int import_event(store *st, const json_t *ev, GError **err);

/* import_moves: record the destination of every move with "status": "moved" of an agent's
 * drain or plan reply ([{"vm": domain or VM name, "scenario"?, "dst", "status"}], borrowed)
 * as its VM's placement; a placement that cannot be recorded is a warning on stderr */
void import_moves(store *st, const json_t *moves);

/* import_journals: ask every live host of c for its journal since the store's last seq of
 * that host ("events" op, page by page) and import what is new, oldest first by time. Hosts
 * that are not live, did not answer or failed get a warning on stderr ("nube: warning: host
 * 'h' ...: its events are not imported"), never an error. Returns the events imported now,
 * oldest first (new array), or NULL + err when the store failed. */
json_t *import_journals(client *c, store *st, GError **err);

#endif
