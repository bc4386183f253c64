/* cmd_exec: nube exec — run a command sequence (or one command) in a deployed scenario's VMs
 * wherever they run now, through their guest agent */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "cli/output.h"
#include "cli/stored.h"
#include "cli/where.h"
#include "guestcfg/guestcfg.h"
#include "scenario/scenario.h"
#include "store/store.h"

static const char exec_help[] =
"usage: nube exec SCENARIO SEQ [--vm VM] [--json] [--config FILE]\n"
"       nube exec SCENARIO --cmd COMMAND [--vm VM] [--json] [--config FILE]\n"
"\n"
"Run the command sequence SEQ (an <exec seq> or a <cmd-seq>, expanded in order) in the\n"
"VMs of a deployed scenario that have commands or files for it, wherever they run now,\n"
"through their guest agent. As under VNX, each seq first copies the VM's <filetree>s\n"
"of that seq (host files read here), then runs its <exec>s (type=\"file\": the file's\n"
"content; ostype=\"exec\": started in the background). VMs run in parallel, each VM's\n"
"steps in order. Every VM's output and exit status are printed. --cmd runs one ad-hoc\n"
"shell command instead, in VM or, without --vm, in every VM of the scenario.\n"
"\n"
"  -v, --vm VM         only this VM\n"
"  -c, --cmd COMMAND   run COMMAND (with /bin/sh -c) instead of a sequence\n"
"  -t, --timeout S     per-command timeout (default the config's [deploy] timeout)\n"
"  -j, --json          machine-readable output\n"
"      --config FILE   client config\n"
"  -h, --help          this help\n"
"\n"
"Exit status: 0 every command ran and exited 0; 1 a VM could not be reached or a\n"
"command failed; 2 bad command line; 3 broker unreachable.\n";


typedef struct exec_run exec_run;

/* one VM's part of an exec: its sequences run one after the other */
typedef struct {
	exec_run *x;
	const char *vm;
	const char *host;	/* where it runs now, NULL if not found */
	GPtrArray *seqs;	/* of const char* (borrowed), in order; empty with --cmd */
	GPtrArray *steps;	/* of json_t*, one per seq: guestcfg_exec_steps */
	guint next;		/* next seq to send */
	json_t *results;	/* [{seq, exit, stdout, stderr} or {seq, error}] */
	bool failed;
} vm_exec;

struct exec_run {
	session *sess;
	const char *scenario;
	const char *cmd;	/* ad-hoc command or NULL */
	const char *spec;	/* the stored spec: the VM's host may not know it (migrated) */
	int timeout_s;		/* per command, in the guest */
	int pending;		/* VMs not finished */
};

static void vm_exec_step(vm_exec *v);

static void
vm_exec_free(vm_exec *v)
{
	if (v == NULL)
		return;
	g_ptr_array_unref(v->seqs);
	g_ptr_array_unref(v->steps);
	json_decref(v->results);
	g_free(v);
}

static void
exec_done(client_call *call, void *ud)
{
	vm_exec *v = ud;
	const char *seq = v->x->cmd != NULL ? NULL : v->seqs->pdata[v->next - 1];
	json_t *res, *o;
	size_t i;

	if (!call->ok) {
		json_array_append_new(v->results, json_pack("{s:o, s:s}", "seq",
		    out_json_str(seq), "error", call->error));
		v->failed = true;
		v->x->pending--;
		return;
	}
	res = json_object_get(call->reply, "results");
	if (json_array_size(res) == 0) {
		json_array_append_new(v->results, json_pack("{s:o, s:s}", "seq",
		    out_json_str(seq), "error", "the agent returned no result"));
		v->failed = true;
	}
	json_array_foreach(res, i, o) {
		json_t *ex = json_object_get(o, "exit");
		json_t *r;

		if (json_is_string(json_object_get(o, "filetree"))) {
			r = json_pack("{s:o, s:O, s:O}", "seq", out_json_str(seq), "filetree",
			    json_object_get(o, "filetree"), "files", json_object_get(o, "files"));
		} else if (json_is_string(json_object_get(o, "error"))) {
			r = json_pack("{s:o, s:O}", "seq", out_json_str(seq), "error",
			    json_object_get(o, "error"));
			v->failed = true;
		} else {
			r = json_pack("{s:o, s:I, s:s, s:s}", "seq", out_json_str(seq),
			    "exit", json_is_integer(ex) ? json_integer_value(ex) : (json_int_t)-1,
			    "stdout", client_jstr(o, "stdout") != NULL ? client_jstr(o, "stdout") : "",
			    "stderr", client_jstr(o, "stderr") != NULL ? client_jstr(o, "stderr") : "");
			if (!json_is_integer(ex) || json_integer_value(ex) != 0)
				v->failed = true;
		}
		json_array_append_new(v->results, r);
	}
	vm_exec_step(v);
}

/* vm_exec_step: send the VM's next command, or mark the VM finished */
static void
vm_exec_step(vm_exec *v)
{
	exec_run *x = v->x;
	json_t *req;

	if (x->cmd != NULL ? v->next > 0 : v->next >= v->seqs->len) {
		x->pending--;
		return;
	}
	req = json_pack("{s:s, s:s, s:s}", "op", "exec", "scenario", x->scenario, "vm", v->vm);
	if (x->cmd != NULL) {
		json_object_set_new(req, "cmd", json_string(x->cmd));
	} else {
		json_object_set_new(req, "seq", json_string(v->seqs->pdata[v->next]));
		json_object_set_new(req, "steps", json_incref(v->steps->pdata[v->next]));
	}
	json_object_set_new(req, "timeout_s", json_integer(x->timeout_s));
	v->next++;
	/* the agent answers once the command ended: allow its timeout plus a margin */
	client_call_start(x->sess->c, v->host, req, (x->timeout_s + 15) * 1000, NULL, NULL,
	    exec_done, v);
}

static void
print_block(const char *text)
{
	size_t n;

	if (text == NULL || *text == '\0')
		return;
	n = strlen(text);
	fputs(text, stdout);
	if (text[n - 1] != '\n')
		fputc('\n', stdout);
}

int
cmd_exec(session *sess, int argc, char **argv)
{
	enum { OPT_CONFIG = 256 };
	static const struct option opts[] = {
		{ "vm", required_argument, NULL, 'v' },
		{ "cmd", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *only = NULL, *cmd = NULL, *name, *seq = NULL;
	g_autoptr(scenario) s = NULL;
	g_autoptr(GPtrArray) seqs = g_ptr_array_new();
	g_autoptr(GPtrArray) vms = g_ptr_array_new_with_free_func((GDestroyNotify)vm_exec_free);
	g_autoptr(GPtrArray) where = NULL;
	g_autoptr(GPtrArray) unanswered = NULL, silent = NULL;
	g_autoptr(GHashTable) placed = NULL;
	exec_run x = { 0 };
	store_scenario *ss = NULL;
	g_autoptr(diag) d = diag_new();
	bool json = false, failed = false;
	int timeout_s = 0, ch, rc;

	while ((ch = getopt_long(argc, argv, "v:c:t:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'v':
			only = optarg;
			break;
		case 'c':
			cmd = optarg;
			break;
		case 't':
			if (args_timeout(optarg, &timeout_s) < 0)
				return out_usage("exec", "--timeout wants seconds (1..86400)");
			break;
		case 'j':
			json = true;
			break;
		case OPT_CONFIG:
			sess->config = optarg;
			break;
		case 'h':
			fputs(exec_help, stdout);
			return CLI_OK;
		default:
			return out_usage("exec", NULL);
		}
	}
	if (cmd != NULL ? optind != argc - 1 : optind != argc - 2)
		return out_usage("exec", cmd != NULL ? "SCENARIO expected (with --cmd, no SEQ)"
		    : "SCENARIO and SEQ expected");
	name = argv[optind];
	if (cmd == NULL)
		seq = argv[optind + 1];
	if ((rc = out_check_name("exec", "scenario", name, false)) != 0 ||
	    (only != NULL && (rc = out_check_name("exec", "vm", only, false)) != 0))
		return rc;

	if (session_open(sess, SESSION_STORE) < 0)
		return sess->status;
	rc = CLI_FAIL;
	if ((s = stored_load(sess->st, name, &ss)) == NULL)
		goto out;
	if (only != NULL && scenario_vm(s, only) == NULL) {
		out_err("scenario '%s' has no VM '%s'", name, only);
		goto out;
	}
	if (seq != NULL && scenario_expand_seq(s, seq, seqs) < 0) {
		out_err("sequence '%s' of '%s' is cyclic", seq, name);
		goto out;
	}

	/* the VMs concerned, in file order, each with its own sequences */
	x = (exec_run){ .sess = sess, .scenario = name, .cmd = cmd, .spec = ss->spec };
	for (guint i = 0; i < s->vms->len; i++) {
		const sc_vm *vm = s->vms->pdata[i];
		vm_exec *v;

		if (only != NULL && strcmp(vm->name, only) != 0)
			continue;
		v = g_new0(vm_exec, 1);
		v->x = &x;
		v->vm = vm->name;
		v->seqs = g_ptr_array_new();
		v->steps = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
		v->results = json_array();
		for (guint k = 0; k < seqs->len; k++) {
			g_autoptr(gc_seq) q = NULL;
			gsize bytes = 0;
			json_t *steps;

			/* its filetrees and execs of that seq, host files read here */
			q = guestcfg_resolve(s, vm, seqs->pdata[k], GC_RESOLVE_DATA, d);
			if (q == NULL || (q->trees->len == 0 && q->cmds->len == 0))
				continue;
			steps = guestcfg_exec_steps(s, vm, q, &bytes, d);
			if (steps == NULL)
				continue;
			if (bytes > GC_MAX_SEED_BYTES) {
				diag_error(d, s->file, 0, "vm '%s': seq '%s' carries %" G_GSIZE_FORMAT
				    " bytes of files and commands (at most %u)", vm->name,
				    (char *)seqs->pdata[k], bytes, GC_MAX_SEED_BYTES);
				json_decref(steps);
				continue;
			}
			g_ptr_array_add(v->seqs, seqs->pdata[k]);
			g_ptr_array_add(v->steps, steps);
		}
		if (cmd == NULL && v->seqs->len == 0)
			vm_exec_free(v);
		else
			g_ptr_array_add(vms, v);
	}
	diag_print(d, stderr);
	if (diag_has_errors(d))
		goto out;
	if (vms->len == 0) {
		out_err("no VM of '%s'%s%s%s has commands for sequence '%s'", name,
		    only ? " (--vm " : "", only ? only : "", only ? ")" : "", seq);
		goto out;
	}

	/* where they run now, then every VM in parallel */
	if (session_open(sess, SESSION_BUS) < 0) {
		rc = sess->status;
		goto out;
	}
	x.timeout_s = timeout_s > 0 ? timeout_s : sess->conf->timeout_s;
	where = where_now(sess->c, &unanswered, &silent, NULL);
	for (guint i = 0; i < unanswered->len; i++)
		out_err("warning: %s", (char *)unanswered->pdata[i]);
	placed = store_placements(sess->st, name, NULL);
	for (guint i = 0; i < vms->len; i++) {
		vm_exec *v = vms->pdata[i];
		vm_where *w = where_find(where, name, v->vm);
		const char *ph = placed != NULL ? g_hash_table_lookup(placed, v->vm) : NULL;

		/* a host too busy to answer status is asked anyway for the VMs placed on it:
		 * its agent says whether it runs them */
		if (w == NULL && where_silent(silent, ph)) {
			v->host = ph;
		} else if (w == NULL) {
			json_array_append_new(v->results, json_pack("{s:o, s:s}", "seq",
			    out_json_str(seq), "error", "not running on any live host"));
			v->failed = true;
			continue;
		} else {
			v->host = w->host;
		}
		x.pending++;
		vm_exec_step(v);
	}
	client_wait_calls(&x.pending, NULL, -1);

	if (json) {
		json_auto_t *root = json_object();
		json_t *arr = json_array();

		for (guint i = 0; i < vms->len; i++) {
			vm_exec *v = vms->pdata[i];
			json_t *o;
			size_t k;

			json_array_foreach(v->results, k, o) {
				json_t *r = json_pack("{s:s, s:o}", "vm", v->vm, "host",
				    out_json_str(v->host));

				json_object_update(r, o);
				if (cmd != NULL)
					json_object_set_new(r, "cmd", json_string(cmd));
				json_array_append_new(arr, r);
			}
			failed = failed || v->failed;
		}
		json_object_set_new(root, "scenario", json_string(name));
		json_object_set_new(root, "results", arr);
		out_json_print(root, stdout);
	} else {
		for (guint i = 0; i < vms->len; i++) {
			vm_exec *v = vms->pdata[i];
			json_t *o;
			size_t k;

			json_array_foreach(v->results, k, o) {
				const char *sq = client_jstr(o, "seq");
				g_autofree char *what = cmd != NULL ? g_strdup("cmd") :
				    g_strdup_printf("seq %s", sq != NULL ? sq : seq);
				g_autofree char *where_s = v->host != NULL ?
				    g_strdup_printf(" (%s)", v->host) : g_strdup("");

				if (client_jstr(o, "error") != NULL) {
					printf("== %s%s %s: error: %s\n", v->vm, where_s, what,
					    client_jstr(o, "error"));
					continue;
				}
				if (client_jstr(o, "filetree") != NULL) {
					json_int_t nf = json_integer_value(json_object_get(o, "files"));

					printf("== %s%s %s: copied %" JSON_INTEGER_FORMAT " file%s to %s\n",
					    v->vm, where_s, what, nf, nf == 1 ? "" : "s",
					    client_jstr(o, "filetree"));
					continue;
				}
				printf("== %s%s %s: exit %" JSON_INTEGER_FORMAT "\n", v->vm,
				    where_s, what, json_integer_value(json_object_get(o, "exit")));
				print_block(client_jstr(o, "stdout"));
				print_block(client_jstr(o, "stderr"));
			}
			failed = failed || v->failed;
		}
	}
	fflush(stdout);
	rc = failed ? CLI_FAIL : CLI_OK;
out:
	store_scenario_free(ss);
	return rc;
}

