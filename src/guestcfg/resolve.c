/* resolve: find (and read) the host files a VM's <filetree> and <exec type="file"> name, the
 * way VNX's get_abs_path and its copy commands do; the only part of guestcfg touching files */
#include "guestcfg/guestcfg.h"

#include <errno.h>
#include <glob.h>
#include <string.h>
#include <sys/stat.h>

/* ---- small shared helpers ---- */

bool
guestcfg_seq_has(const char *list, const char *seq)
{
	g_auto(GStrv) parts = NULL;

	if (list == NULL || seq == NULL)
		return false;
	parts = g_strsplit(list, ",", -1);
	for (guint i = 0; parts[i] != NULL; i++)
		if (strcmp(g_strstrip(parts[i]), seq) == 0)
			return true;
	return false;
}

char *
guestcfg_new_id(const char *vm)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
	GString *id = g_string_new(vm);

	g_string_append_c(id, '-');
	for (int i = 0; i < GC_ID_RANDOM_LEN; i++)
		g_string_append_c(id, chars[g_random_int_range(0, (gint32)sizeof(chars) - 1)]);
	return g_string_free(id, FALSE);
}

/* gc_scenario_dir: absolute folder of the scenario file (the current directory for a
 * scenario read from memory under a bare name) */
static char *
gc_scenario_dir(const scenario *s)
{
	g_autofree char *dir = g_path_get_dirname(s->file != NULL ? s->file : ".");

	return g_canonicalize_filename(dir, NULL);
}

char *
guestcfg_host_path(const scenario *s, const char *written)
{
	g_autofree char *dir = NULL;
	g_autofree char *base = NULL;

	if (g_path_is_absolute(written))
		return g_strdup(written);
	if (g_str_has_prefix(written, "~/"))
		return g_build_filename(g_get_home_dir(), written + 2, NULL);
	dir = gc_scenario_dir(s);
	if (s->basedir != NULL && s->basedir[0] != '\0') {
		if (g_str_has_prefix(s->basedir, "~/"))
			base = g_build_filename(g_get_home_dir(), s->basedir + 2, NULL);
		else
			base = g_canonicalize_filename(s->basedir, dir);
		return g_build_filename(base, written, NULL);
	}
	return g_build_filename(dir, written, NULL);
}

/* ---- freeing ---- */

static void
gc_file_free(gpointer p)
{
	gc_file *f = p;

	if (f == NULL)
		return;
	g_free(f->host);
	g_free(f->rel);
	if (f->data != NULL)
		g_bytes_unref(f->data);
	g_free(f);
}

static void
gc_copy_free(gpointer p)
{
	gc_copy *c = p;

	if (c == NULL)
		return;
	g_free(c->host);
	g_free(c->medium);
	g_free(c);
}

static void
gc_tree_free(gpointer p)
{
	gc_tree *t = p;

	if (t == NULL)
		return;
	if (t->copies != NULL)
		g_ptr_array_unref(t->copies);
	if (t->files != NULL)
		g_ptr_array_unref(t->files);
	g_free(t);
}

static void
gc_cmd_free(gpointer p)
{
	gc_cmd *c = p;

	if (c == NULL)
		return;
	g_free(c->ostype);
	g_free(c->text);
	g_free(c);
}

void
gc_seq_free(gc_seq *q)
{
	if (q == NULL)
		return;
	g_free(q->seq);
	if (q->trees != NULL)
		g_ptr_array_unref(q->trees);
	if (q->cmds != NULL)
		g_ptr_array_unref(q->cmds);
	g_free(q);
}

/* ---- filetrees ---- */

typedef struct {
	const scenario *s;
	const sc_vm *vm;
	diag *d;
	gc_resolve_flags flags;
	gsize bytes;		/* data read so far */
} gc_ctx;

static int
gc_cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* gc_walk: add the regular files at host (a file, or a folder walked recursively; rel is
 * its path below filetree/<num>/) to t->files. Returns false after reporting. */
static bool
gc_walk(gc_ctx *c, const sc_filetree *ft, gc_tree *t, const char *host, const char *rel, int depth)
{
	struct stat st;

	if (depth > 64) {
		diag_error(c->d, c->s->file, ft->line, "vm '%s': filetree '%s': folders nested too "
				"deep at '%s'", c->vm->name, ft->src, host);
		return false;
	}
	if (stat(host, &st) != 0) {
		diag_error(c->d, c->s->file, ft->line, "vm '%s': filetree '%s': cannot read '%s': %s",
				c->vm->name, ft->src, host, g_strerror(errno));
		return false;
	}
	if (S_ISDIR(st.st_mode)) {
		g_autoptr(GError) err = NULL;
		g_autoptr(GDir) dp = g_dir_open(host, 0, &err);
		g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
		const char *name;

		if (dp == NULL) {
			diag_error(c->d, c->s->file, ft->line, "vm '%s': filetree '%s': %s",
					c->vm->name, ft->src, err->message);
			return false;
		}
		while ((name = g_dir_read_name(dp)) != NULL)
			g_ptr_array_add(names, g_strdup(name));
		g_ptr_array_sort(names, gc_cmp_str);
		for (guint i = 0; i < names->len; i++) {
			const char *n = g_ptr_array_index(names, i);
			g_autofree char *h = g_build_filename(host, n, NULL);
			g_autofree char *r = g_build_filename(rel, n, NULL);

			if (!gc_walk(c, ft, t, h, r, depth + 1))
				return false;
		}
		return true;
	}
	if (!S_ISREG(st.st_mode))
		return true;	/* sockets, fifos, devices: nothing a medium can carry */
	gc_file *f = g_new0(gc_file, 1);

	f->host = g_strdup(host);
	f->rel = g_strdup(rel);
	f->mode = st.st_mode & 07777;
	g_ptr_array_add(t->files, f);
	if (c->flags & GC_RESOLVE_DATA) {
		g_autoptr(GError) err = NULL;
		char *buf = NULL;
		gsize len = 0;

		if (!g_file_get_contents(host, &buf, &len, &err)) {
			diag_error(c->d, c->s->file, ft->line, "vm '%s': filetree '%s': %s",
					c->vm->name, ft->src, err->message);
			return false;
		}
		f->data = g_bytes_new_take(buf, len);
		c->bytes += len;
		if (c->bytes > GC_MAX_SEED_BYTES) {
			diag_error(c->d, c->s->file, ft->line, "vm '%s': filetree '%s': the files of "
					"seq '%s' exceed %u MiB", c->vm->name, ft->src, ft->seq,
					GC_MAX_SEED_BYTES >> 20);
			return false;
		}
	}
	return true;
}

/* gc_add_copy: one top-level entry of filetree/<num>/ named name */
static bool
gc_add_copy(gc_ctx *c, const sc_filetree *ft, gc_tree *t, const char *host, const char *name)
{
	gc_copy *cp = g_new0(gc_copy, 1);

	cp->host = g_strdup(host);
	cp->medium = g_strdup_printf("filetree/%u/%s", t->num, name);
	cp->dir = g_file_test(host, G_FILE_TEST_IS_DIR);
	g_ptr_array_add(t->copies, cp);
	return gc_walk(c, ft, t, host, name, 0);
}

static bool
gc_has_glob(const char *p)
{
	return strpbrk(p, "*?[") != NULL;
}

static gc_tree *
gc_resolve_tree(gc_ctx *c, const sc_filetree *ft, guint num)
{
	g_autofree char *host = NULL;
	gc_tree *t = g_new0(gc_tree, 1);
	bool ok = true;
	struct stat st;

	t->ft = ft;
	t->num = num;
	t->copies = g_ptr_array_new_with_free_func(gc_copy_free);
	t->files = g_ptr_array_new_with_free_func(gc_file_free);
	if (ft->src == NULL || ft->src[0] == '\0') {
		diag_error(c->d, c->s->file, ft->line, "vm '%s': filetree with root '%s' names no "
				"file", c->vm->name, ft->root);
		gc_tree_free(t);
		return NULL;
	}
	host = guestcfg_host_path(c->s, ft->src);
	if (gc_has_glob(ft->src)) {
		glob_t g = { 0 };
		int rc = glob(host, 0, NULL, &g);

		if (rc != 0) {
			diag_error(c->d, c->s->file, ft->line, "vm '%s': filetree '%s': %s ('%s')",
					c->vm->name, ft->src, rc == GLOB_NOMATCH ? "no file matches" :
					"cannot read the folder", host);
			ok = false;
		}
		for (size_t i = 0; ok && i < g.gl_pathc; i++) {
			g_autofree char *name = g_path_get_basename(g.gl_pathv[i]);

			ok = gc_add_copy(c, ft, t, g.gl_pathv[i], name);
		}
		globfree(&g);
	} else if (stat(host, &st) != 0) {
		diag_error(c->d, c->s->file, ft->line, "vm '%s': filetree '%s': %s ('%s')",
				c->vm->name, ft->src, g_strerror(errno), host);
		ok = false;
	} else if (S_ISDIR(st.st_mode) && g_str_has_suffix(ft->src, "/")) {
		/* VNX copies "SRC*" with SRC ending in a slash: the entries, not the hidden ones */
		g_autoptr(GDir) dp = g_dir_open(host, 0, NULL);
		g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
		const char *name;

		while (dp != NULL && (name = g_dir_read_name(dp)) != NULL)
			if (name[0] != '.')
				g_ptr_array_add(names, g_strdup(name));
		g_ptr_array_sort(names, gc_cmp_str);
		for (guint i = 0; ok && i < names->len; i++) {
			g_autofree char *h = g_build_filename(host, g_ptr_array_index(names, i), NULL);

			ok = gc_add_copy(c, ft, t, h, g_ptr_array_index(names, i));
		}
	} else {
		g_autofree char *trimmed = g_strdup(host);
		g_autofree char *name = NULL;

		while (strlen(trimmed) > 1 && g_str_has_suffix(trimmed, "/"))
			trimmed[strlen(trimmed) - 1] = '\0';
		name = g_path_get_basename(trimmed);
		ok = gc_add_copy(c, ft, t, trimmed, name);
	}
	if (!ok) {
		gc_tree_free(t);
		return NULL;
	}
	return t;
}

/* ---- execs ---- */

static gc_cmd *
gc_resolve_cmd(gc_ctx *c, const sc_exec *ex)
{
	gc_cmd *cmd = g_new0(gc_cmd, 1);

	cmd->ex = ex;
	cmd->ostype = g_strdup(ex->ostype != NULL && ex->ostype[0] != '\0' ? ex->ostype :
			GC_DEFAULT_OSTYPE);
	if (ex->type != NULL && strcmp(ex->type, "file") == 0) {
		g_autofree char *host = guestcfg_host_path(c->s, ex->text);
		g_autofree char *content = NULL;
		g_autoptr(GError) err = NULL;

		if (ex->text[0] == '\0' || !g_file_get_contents(host, &content, NULL, &err)) {
			diag_error(c->d, c->s->file, ex->line, "vm '%s': exec seq '%s': command file "
					"'%s': %s", c->vm->name, ex->seq, ex->text,
					err != NULL ? err->message : "no path given");
			gc_cmd_free(cmd);
			return NULL;
		}
		cmd->text = guestcfg_vnx_commands(content);
	} else {
		cmd->text = guestcfg_vnx_commands(ex->raw != NULL ? ex->raw : ex->text);
	}
	return cmd;
}

gc_seq *
guestcfg_resolve(const scenario *s, const sc_vm *vm, const char *seq, gc_resolve_flags flags,
		diag *d)
{
	gc_ctx c = { .s = s, .vm = vm, .d = d, .flags = flags };
	g_autoptr(gc_seq) q = g_new0(gc_seq, 1);
	bool ok = true;

	q->seq = g_strdup(seq);
	q->trees = g_ptr_array_new_with_free_func(gc_tree_free);
	q->cmds = g_ptr_array_new_with_free_func(gc_cmd_free);
	for (guint i = 0; vm->filetrees != NULL && i < vm->filetrees->len; i++) {
		const sc_filetree *ft = g_ptr_array_index(vm->filetrees, i);
		gc_tree *t;

		if (!guestcfg_seq_has(ft->seq, seq))
			continue;
		t = gc_resolve_tree(&c, ft, q->trees->len + 1);
		if (t == NULL) {
			ok = false;
			/* keep the numbering of the others as VNX would */
			t = g_new0(gc_tree, 1);
			t->ft = ft;
			t->num = q->trees->len + 1;
		}
		g_ptr_array_add(q->trees, t);
	}
	for (guint i = 0; vm->execs != NULL && i < vm->execs->len; i++) {
		const sc_exec *ex = g_ptr_array_index(vm->execs, i);
		gc_cmd *cmd;

		if (!guestcfg_seq_has(ex->seq, seq))
			continue;
		cmd = gc_resolve_cmd(&c, ex);
		if (cmd == NULL)
			ok = false;
		else
			g_ptr_array_add(q->cmds, cmd);
	}
	return ok ? g_steal_pointer(&q) : NULL;
}
