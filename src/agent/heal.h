/* heal: self-healing — the record of what runs here that lets the others restart it when this
 * host is gone, the heal job of the one survivor that does so, the "heal" op of a destination,
 * and the fencing of stale copies by a returning host.
 *
 * Record: every agent keeps, for each VM it runs, what a deploy gave it (the scenario's spec
 * once per scenario, the VM's placement with its media and image by content, its nets'
 * placements with their VNIs) and a generation, and publishes it retained on
 * nube/v1/host/<h>/heal (only h may write it: broker ACL) and in <state_dir>/<h>/heal.json.
 * A deploy adds its VMs (generation 1), an undeploy drops its scenario, a migration hands the
 * VM's entry to the destination (release), a heal adds the VM on its new host with the
 * generation bumped.
 *
 * Healing: a peer whose last will fired ("online" 0) and that stays gone [heal] grace seconds
 * is healed by exactly one survivor (balance/heal.h: the online host with the lowest name, not
 * on standby, not leaving). The healer asks the gone host's libvirtd (migrate URI); when it
 * answers the VMs may still run and nothing is restarted. Otherwise, for each VM of the gone
 * host's record: destinations by load (heal_rank), each asked for admission (admit, memory
 * hard), then "heal" {host, domain, gen}: the destination takes the VM's deployment from the
 * gone host's own retained record (never from the request), places it on itself and deploys
 * it as a deploy would: nets, overlay from the image, define, start. The other carriers of its
 * nets are told (net-ensure) to forward to the destination instead of the gone host. Event
 * "healed" (scenario, VM, data src/dst/gen/disk_changes_lost); the CLI imports it into the
 * store's placement like a migration. Its disk changes since it started on the gone host are
 * lost (nube keeps overlays on each host's own disk). When all went, the healer's record marks
 * the gone host's record as done ("healed": {host: ts}), so no survivor heals it again.
 *
 * Fencing: an agent starting up waits for the peers' retained records; every nube domain
 * defined here that a peer's record claims with a higher generation than this host's own
 * record gives it was restarted elsewhere while this host was gone: it is destroyed and
 * undefined (event "fenced"), never started, and its nets go with the start-up reconcile.
 *
 * Events: heal-start, healed, heal-failed, heal-done, heal-deferred, fenced. */
#ifndef NUBE_AGENT_HEAL_H
#define NUBE_AGENT_HEAL_H

#include <jansson.h>

#include "agent/nubed.h"

#define HEAL_FILE	"heal.json"	/* in <state_dir>/<host>/ */

/* heal_record_load: the record kept in the state dir (main thread, at start); a missing or
 * malformed file leaves it empty (logged) */
void heal_record_load(nubed *n);

/* heal_record_deployed: VMs of a deployment (dj: its JSON, borrowed) now run here: vms of
 * char* VM names, nets (of char*, parallel: a NULL-ended char** of net names per VM); gen
 * their generation (1 for a deploy). Published. Any thread. */
void heal_record_deployed(nubed *n, const json_t *dj, const char *vm, const char *const *nets,
    json_int_t gen);
/* heal_record_publish: publish the record (retained) and save it. Any thread. */
void heal_record_publish(nubed *n);
/* heal_record_drop_scenario: the scenario's VMs left (undeploy); published */
void heal_record_drop_scenario(nubed *n, const char *scenario);
/* heal_record_take: remove and return the entry of domain (json_decref) or NULL; the
 * scenario's spec comes with it as "spec"/"algorithm" (a migration hands it over) */
json_t *heal_record_take(nubed *n, const char *domain);
/* heal_record_give: add an entry handed over (take's result, borrowed) for domain */
void heal_record_give(nubed *n, const char *domain, const json_t *entry);

/* heal_deployment: the deployment JSON of one entry of record rec (new reference) with the
 * VM placed on host dst (fabric address dst_addr) instead of gone: its nets' carriers gone
 * replaced by dst. NULL when the entry is malformed. Pure. */
json_t *heal_deployment(const json_t *rec, const char *domain, const char *gone, const char *dst,
    const char *dst_addr);

#endif
