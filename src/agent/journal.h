/* journal: the agent's durable event log, one SQLite file in its state_dir. Every event the
 * agent emits is appended here before it is published and gets this host's next "seq":
 * strictly increasing, never reused, kept across restarts. The "events" rpc op reads it back,
 * so an operator who was not following misses nothing and imports each event once
 * (store_event_import keys on host + seq). */
#ifndef NUBE_AGENT_JOURNAL_H
#define NUBE_AGENT_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <jansson.h>

#include "wire/rpcreq.h"

#define JOURNAL_FILE		"journal.db"	/* in <state_dir>/<host>/ */
/* events per read when the caller gives no limit, and at most (the "events" op's) */
#define JOURNAL_LIMIT_DEFAULT	RPCREQ_EVENTS_LIMIT_DEFAULT
#define JOURNAL_LIMIT_MAX	RPCREQ_EVENTS_LIMIT_MAX
#define JOURNAL_KEEP_DEFAULT	100000	/* events kept; older ones are pruned (seq goes on) */

typedef struct journal journal;

/* journal_open: open or create the journal at path (parent directories created), keeping the
 * newest keep events (0 = all). NULL + err on failure. Close with journal_close. */
journal *journal_open(const char *path, int64_t keep, GError **err);
void journal_close(journal *j);	/* NULL is fine */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(journal, journal_close)

/* journal_append: store ev (a JSON object: {"ts","host","type",...}, borrowed) durably under
 * the next seq and set ev's "seq" to it. Thread-safe. Returns the seq (>= 1), or -1 + err
 * (ev unchanged then). */
int64_t journal_append(journal *j, json_t *ev, GError **err);

/* journal_read: the events with seq > since, oldest first, at most limit (1..JOURNAL_LIMIT_MAX),
 * each with its "seq". *last = the highest seq in the journal (0 when empty), *more =
 * events after the last one returned exist. Thread-safe. New array (caller json_decref), or
 * NULL + err. */
json_t *journal_read(journal *j, int64_t since, int limit, int64_t *last, bool *more,
    GError **err);

/* journal_reply: the "events" op's answer to {"since": N, "limit"?: M} (fields checked by
 * rpcreq): {"ok": true, "events": [...], "last": L, "more": bool}, or NULL + err. New. */
json_t *journal_reply(journal *j, const json_t *req, GError **err);

#endif
