/* stored: a deployed scenario as the store keeps it, parsed again */
#ifndef NUBE_STORED_H
#define NUBE_STORED_H

#include "scenario/scenario.h"
#include "store/store.h"

/* stored_load: the stored scenario name parsed again from its spec (scenario_free), and the
 * store's record into *out (store_scenario_free; out may be NULL). NULL with the error
 * printed ("scenario 'S' is not deployed", "store: ...", a spec that does not parse). */
scenario *stored_load(store *st, const char *name, store_scenario **out);

#endif
