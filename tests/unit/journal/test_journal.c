/* test_journal: the agent's event journal: seq strictly increasing and kept across a reopen
 * and a killed writer, reads since a seq with limit/more/last, concurrent appends, pruning
 * that never reuses a seq, the "events" reply */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <glib.h>

#include "agent/journal.h"

static char *
tmpdir(void)
{
	char *dir = g_dir_make_tmp("nube-journal-XXXXXX", NULL);

	assert_non_null(dir);
	return dir;
}

static void
rmtree(const char *dir)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

	assert_int_equal(system(cmd), 0);
}

/* ev: a new event like the agent's */
static json_t *
ev(const char *type, int i)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:{s:i}}", "ts",
	    (json_int_t)1700000000000 + i, "host", "h1", "type", type, "scenario", "lab", "vm",
	    "r1", "msg", "something happened", "data", "i", i);
}

static int64_t
append(journal *j, const char *type, int i)
{
	g_autoptr(GError) err = NULL;
	json_t *e = ev(type, i);
	int64_t seq = journal_append(j, e, &err);

	assert_null(err);
	assert_int_equal(json_integer_value(json_object_get(e, "seq")), seq);
	json_decref(e);
	return seq;
}

static int64_t
seq_at(const json_t *arr, size_t i)
{
	return json_integer_value(json_object_get(json_array_get(arr, i), "seq"));
}

static void
test_append_read(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "h1", JOURNAL_FILE, NULL);
	g_autoptr(GError) err = NULL;
	journal *j;
	json_t *r, *e;
	int64_t last = -1;
	bool more = true;

	(void)state;
	j = journal_open(path, 0, &err);	/* creates h1/ */
	assert_non_null(j);
	r = journal_read(j, 0, 10, &last, &more, &err);
	assert_int_equal(json_array_size(r), 0);
	assert_int_equal(last, 0);
	assert_false(more);
	json_decref(r);

	for (int i = 1; i <= 10; i++)
		assert_int_equal(append(j, i % 2 ? "admit" : "migrated", i), i);

	r = journal_read(j, 0, 1000, &last, &more, &err);
	assert_int_equal(json_array_size(r), 10);
	assert_int_equal(last, 10);
	assert_false(more);
	e = json_array_get(r, 1);	/* oldest first, as appended, with seq */
	assert_int_equal(json_integer_value(json_object_get(e, "seq")), 2);
	assert_string_equal(json_string_value(json_object_get(e, "type")), "migrated");
	assert_string_equal(json_string_value(json_object_get(e, "host")), "h1");
	assert_int_equal(json_integer_value(json_object_get(e, "ts")), 1700000000002);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "data"), "i")), 2);
	json_decref(r);

	/* since and limit: pages with "more" until the end */
	r = journal_read(j, 3, 3, &last, &more, &err);
	assert_int_equal(json_array_size(r), 3);
	assert_int_equal(seq_at(r, 0), 4);
	assert_int_equal(seq_at(r, 2), 6);
	assert_true(more);
	json_decref(r);
	r = journal_read(j, 7, 3, &last, &more, &err);	/* exactly the rest */
	assert_int_equal(json_array_size(r), 3);
	assert_int_equal(seq_at(r, 2), 10);
	assert_false(more);
	json_decref(r);
	r = journal_read(j, 10, 3, &last, &more, &err);
	assert_int_equal(json_array_size(r), 0);
	assert_int_equal(last, 10);
	assert_false(more);
	json_decref(r);
	r = journal_read(j, 99, 3, &last, &more, &err);	/* since past the end: nothing */
	assert_int_equal(json_array_size(r), 0);
	json_decref(r);

	/* bad arguments and events */
	assert_null(journal_read(j, 0, 0, &last, &more, &err));
	assert_non_null(err);
	g_clear_error(&err);
	assert_null(journal_read(j, -1, 5, &last, &more, &err));
	g_clear_error(&err);
	assert_null(journal_read(j, 0, JOURNAL_LIMIT_MAX + 1, &last, &more, &err));
	g_clear_error(&err);
	e = json_pack("{s:s}", "type", "x");	/* no ts */
	assert_int_equal(journal_append(j, e, &err), -1);
	assert_non_null(err);
	assert_null(json_object_get(e, "seq"));
	g_clear_error(&err);
	json_decref(e);

	/* a restart: the seq goes on, nothing is lost */
	journal_close(j);
	j = journal_open(path, 0, &err);
	assert_non_null(j);
	assert_int_equal(append(j, "drain-start", 11), 11);
	r = journal_read(j, 0, 100, &last, &more, &err);
	assert_int_equal(json_array_size(r), 11);
	assert_int_equal(last, 11);
	json_decref(r);
	journal_close(j);
	rmtree(dir);
}

/* a writer killed right after its append returned: the event is there after a reopen */
static void
test_killed_writer(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, JOURNAL_FILE, NULL);
	g_autoptr(GError) err = NULL;
	journal *j;
	json_t *r;
	int64_t last = 0;
	bool more = false;
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		journal *cj = journal_open(path, 0, NULL);
		json_t *e = ev("migrated", 1);

		if (cj == NULL || journal_append(cj, e, NULL) != 1 ||
		    journal_append(cj, e, NULL) != 2)
			_exit(1);
		kill(getpid(), SIGKILL);	/* no close, no exit handlers */
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	j = journal_open(path, 0, &err);
	assert_non_null(j);
	r = journal_read(j, 0, 10, &last, &more, &err);
	assert_int_equal(json_array_size(r), 2);
	assert_int_equal(last, 2);
	json_decref(r);
	assert_int_equal(append(j, "admit", 3), 3);
	journal_close(j);
	rmtree(dir);
}

#define NTHREADS	4
#define PER_THREAD	50

static gpointer
appender(gpointer p)
{
	journal *j = p;

	for (int i = 0; i < PER_THREAD; i++) {
		json_t *e = ev("plan", i);

		if (journal_append(j, e, NULL) < 1)
			return GINT_TO_POINTER(1);
		json_decref(e);
	}
	return NULL;
}

/* appends from several threads: every seq once, 1..N, in the order read back */
static void
test_threads(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, JOURNAL_FILE, NULL);
	g_autoptr(GError) err = NULL;
	GThread *t[NTHREADS];
	journal *j;
	json_t *r;
	int64_t last = 0;
	bool more = false;

	(void)state;
	j = journal_open(path, 0, &err);
	assert_non_null(j);
	for (int i = 0; i < NTHREADS; i++)
		t[i] = g_thread_new("appender", appender, j);
	for (int i = 0; i < NTHREADS; i++)
		assert_null(g_thread_join(t[i]));
	r = journal_read(j, 0, JOURNAL_LIMIT_MAX, &last, &more, &err);
	assert_int_equal(json_array_size(r), NTHREADS * PER_THREAD);
	assert_int_equal(last, NTHREADS * PER_THREAD);
	for (size_t i = 0; i < json_array_size(r); i++)
		assert_int_equal(seq_at(r, i), (int64_t)i + 1);
	json_decref(r);
	journal_close(j);
	rmtree(dir);
}

/* pruning keeps the newest events; a seq is never given twice, also after a prune */
static void
test_prune(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, JOURNAL_FILE, NULL);
	g_autoptr(GError) err = NULL;
	journal *j;
	json_t *r;
	int64_t last = 0, n = 120;
	bool more = false;

	(void)state;
	j = journal_open(path, 50, &err);
	assert_non_null(j);
	for (int64_t i = 1; i <= n; i++)
		assert_int_equal(append(j, "plan", (int)i), i);
	r = journal_read(j, 0, JOURNAL_LIMIT_MAX, &last, &more, &err);
	assert_int_equal(last, n);
	/* pruned every 50 appends down to the newest 50: last at the 100th, the 20 after kept */
	assert_int_equal(json_array_size(r), 50 + (n - 100));
	assert_int_equal(seq_at(r, 0), 100 - 50 + 1);
	json_decref(r);
	journal_close(j);
	j = journal_open(path, 50, &err);
	assert_int_equal(append(j, "plan", 0), n + 1);
	journal_close(j);
	rmtree(dir);
}

/* the "events" op's reply: {"ok", "events", "last", "more"}, default limit 1000 */
static void
test_reply(void **state)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, JOURNAL_FILE, NULL);
	g_autoptr(GError) err = NULL;
	journal *j;
	json_t *req, *rep;

	(void)state;
	j = journal_open(path, 0, &err);
	assert_non_null(j);
	for (int i = 1; i <= 5; i++)
		append(j, "migrated", i);
	req = json_pack("{s:s, s:i, s:i}", "op", "events", "since", 1, "limit", 2);
	rep = journal_reply(j, req, &err);
	assert_non_null(rep);
	assert_true(json_is_true(json_object_get(rep, "ok")));
	assert_int_equal(json_array_size(json_object_get(rep, "events")), 2);
	assert_int_equal(seq_at(json_object_get(rep, "events"), 0), 2);
	assert_int_equal(json_integer_value(json_object_get(rep, "last")), 5);
	assert_true(json_is_true(json_object_get(rep, "more")));
	json_decref(rep);
	json_decref(req);
	req = json_pack("{s:s, s:i}", "op", "events", "since", 0);
	rep = journal_reply(j, req, &err);
	assert_int_equal(json_array_size(json_object_get(rep, "events")), 5);
	assert_true(json_is_false(json_object_get(rep, "more")));
	json_decref(rep);
	json_decref(req);
	journal_close(j);
	rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_read),
		cmocka_unit_test(test_killed_writer),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_prune),
		cmocka_unit_test(test_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
