/* journal: the agent's durable, numbered event log (SQLite) */
#include "agent/journal.h"

#include <errno.h>
#include <sqlite3.h>

G_DEFINE_QUARK(nube-journal-error-quark, journal_error)
#define JOURNAL_ERROR journal_error_quark()

#define JOURNAL_BUSY_MS	10000
#define JOURNAL_PRUNE_EVERY	1024	/* appends between two prunes (at most keep) */

/* seq is the rowid: AUTOINCREMENT never hands out a seq again, not even after a prune or a
 * crash that lost the newest row. The event is kept as its JSON text without "seq". */
static const char schema[] =
	"CREATE TABLE IF NOT EXISTS event ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ts_ms INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  json TEXT NOT NULL"
	");";

struct journal {
	GMutex lock;		/* the connection and everything below */
	sqlite3 *db;
	char *path;
	int64_t keep;
	unsigned appends;	/* since the last prune */
};

static void
db_error(journal *j, GError **err, const char *what)
{
	g_set_error(err, JOURNAL_ERROR, 1, "journal %s: %s: %s", j->path, what,
	    sqlite3_errmsg(j->db));
}

static int
exec(journal *j, const char *sql, GError **err)
{
	char *msg = NULL;

	if (sqlite3_exec(j->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		g_set_error(err, JOURNAL_ERROR, 1, "journal %s: %s", j->path,
		    msg != NULL ? msg : sqlite3_errmsg(j->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

journal *
journal_open(const char *path, int64_t keep, GError **err)
{
	g_autofree char *dir = NULL;
	journal *j;

	g_return_val_if_fail(path != NULL, NULL);
	dir = g_path_get_dirname(path);
	if (g_mkdir_with_parents(dir, 0755) < 0) {
		int e = errno;

		g_set_error(err, JOURNAL_ERROR, 1, "journal %s: cannot create '%s': %s", path, dir,
		    g_strerror(e));
		return NULL;
	}
	j = g_new0(journal, 1);
	g_mutex_init(&j->lock);
	j->path = g_strdup(path);
	j->keep = keep;
	if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		if (j->db != NULL)
			db_error(j, err, "open");
		else
			g_set_error(err, JOURNAL_ERROR, 1, "journal %s: out of memory", path);
		journal_close(j);
		return NULL;
	}
	sqlite3_busy_timeout(j->db, JOURNAL_BUSY_MS);
	/* WAL + synchronous FULL: an appended event is on disk when append returns */
	if (exec(j, "PRAGMA journal_mode = WAL", err) < 0 ||
	    exec(j, "PRAGMA synchronous = FULL", err) < 0 || exec(j, schema, err) < 0) {
		journal_close(j);
		return NULL;
	}
	return j;
}

void
journal_close(journal *j)
{
	if (j == NULL)
		return;
	sqlite3_close_v2(j->db);
	g_mutex_clear(&j->lock);
	g_free(j->path);
	g_free(j);
}

/* prune: drop all but the newest j->keep events (under j->lock). A failure leaves the old
 * events in place, which is harmless; the next prune tries again. */
static void
prune(journal *j, int64_t newest)
{
	sqlite3_stmt *stmt = NULL;

	if (j->keep <= 0 || newest <= j->keep)
		return;
	if (sqlite3_prepare_v2(j->db, "DELETE FROM event WHERE seq <= ?", -1, &stmt, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_int64(stmt, 1, newest - j->keep);
		sqlite3_step(stmt);
	}
	sqlite3_finalize(stmt);
}

int64_t
journal_append(journal *j, json_t *ev, GError **err)
{
	g_autofree char *text = NULL;
	const json_t *ts = json_object_get(ev, "ts");
	const char *type = json_string_value(json_object_get(ev, "type"));
	sqlite3_stmt *stmt = NULL;
	int64_t seq = -1;

	g_return_val_if_fail(j != NULL, -1);
	if (!json_is_object(ev) || !json_is_integer(ts) || type == NULL) {
		g_set_error(err, JOURNAL_ERROR, 1, "journal %s: an event needs \"ts\" and \"type\"",
		    j->path);
		return -1;
	}
	json_object_del(ev, "seq");
	text = json_dumps(ev, JSON_COMPACT);
	g_mutex_lock(&j->lock);
	if (sqlite3_prepare_v2(j->db, "INSERT INTO event(ts_ms, type, json) VALUES (?, ?, ?)", -1,
	    &stmt, NULL) != SQLITE_OK) {
		db_error(j, err, "prepare");
		goto out;
	}
	sqlite3_bind_int64(stmt, 1, json_integer_value(ts));
	sqlite3_bind_text(stmt, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, text, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		db_error(j, err, "appending an event");
		goto out;
	}
	seq = sqlite3_last_insert_rowid(j->db);
	if (j->keep > 0 && ++j->appends >= MIN(j->keep, JOURNAL_PRUNE_EVERY)) {
		j->appends = 0;
		prune(j, seq);
	}
out:
	sqlite3_finalize(stmt);
	g_mutex_unlock(&j->lock);
	if (seq > 0)
		json_object_set_new(ev, "seq", json_integer(seq));
	return seq;
}

json_t *
journal_read(journal *j, int64_t since, int limit, int64_t *last, bool *more, GError **err)
{
	sqlite3_stmt *stmt = NULL;
	json_t *out = NULL;
	int rc, n = 0;

	g_return_val_if_fail(j != NULL && last != NULL && more != NULL, NULL);
	if (since < 0 || limit < 1 || limit > JOURNAL_LIMIT_MAX) {
		g_set_error(err, JOURNAL_ERROR, 1, "journal: since must be >= 0 and limit in 1..%d",
		    JOURNAL_LIMIT_MAX);
		return NULL;
	}
	g_mutex_lock(&j->lock);
	/* one read transaction: the events and "last" agree */
	if (exec(j, "BEGIN", err) < 0)
		goto out;
	if (sqlite3_prepare_v2(j->db, "SELECT coalesce(max(seq), 0) FROM event", -1, &stmt,
	    NULL) != SQLITE_OK || sqlite3_step(stmt) != SQLITE_ROW) {
		db_error(j, err, "reading the last seq");
		goto end;
	}
	*last = sqlite3_column_int64(stmt, 0);
	g_clear_pointer(&stmt, sqlite3_finalize);
	if (sqlite3_prepare_v2(j->db, "SELECT seq, json FROM event WHERE seq > ? ORDER BY seq "
	    "LIMIT ?", -1, &stmt, NULL) != SQLITE_OK) {
		db_error(j, err, "prepare");
		goto end;
	}
	sqlite3_bind_int64(stmt, 1, since);
	sqlite3_bind_int(stmt, 2, limit);
	out = json_array();
	*more = false;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(stmt, 0);
		json_t *ev = json_loads((const char *)sqlite3_column_text(stmt, 1), 0, NULL);

		if (!json_is_object(ev)) {	/* written by journal_append only: cannot be */
			json_decref(ev);
			ev = json_pack("{s:s}", "type", "unreadable");
		}
		json_object_set_new(ev, "seq", json_integer(seq));
		json_array_append_new(out, ev);
		n++;
		if (n == limit)
			*more = seq < *last;
	}
	if (rc != SQLITE_DONE) {
		db_error(j, err, "reading events");
		g_clear_pointer(&out, json_decref);
	}
end:
	sqlite3_finalize(stmt);
	exec(j, "COMMIT", NULL);
out:
	g_mutex_unlock(&j->lock);
	return out;
}

json_t *
journal_reply(journal *j, const json_t *req, GError **err)
{
	const json_t *lim = json_object_get(req, "limit");
	int64_t last = 0;
	bool more = false;
	json_t *events;

	events = journal_read(j, json_integer_value(json_object_get(req, "since")),
	    json_is_integer(lim) ? (int)json_integer_value(lim) : JOURNAL_LIMIT_DEFAULT, &last,
	    &more, err);
	if (events == NULL)
		return NULL;
	return json_pack("{s:b, s:o, s:I, s:b}", "ok", 1, "events", events, "last",
	    (json_int_t)last, "more", more);
}
