/* output: aligned text tables and JSON printing shared by every nube command */
#include "cli/output.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

struct out_table {
	int ncols;
	GPtrArray *rows;	/* of char** (ncols strings); row 0 = headers */
	bool *right;		/* [ncols] */
};

out_table *
out_table_new(int ncols, const char *const *headers)
{
	out_table *t = g_new0(out_table, 1);
	char **h = g_new0(char *, ncols + 1);

	t->ncols = ncols;
	t->right = g_new0(bool, ncols);
	t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	for (int i = 0; i < ncols; i++)
		h[i] = g_utf8_strup(headers[i] != NULL ? headers[i] : "", -1);
	g_ptr_array_add(t->rows, h);
	return t;
}

void
out_table_free(out_table *t)
{
	if (t == NULL)
		return;
	g_ptr_array_unref(t->rows);
	g_free(t->right);
	g_free(t);
}

void
out_table_right(out_table *t, int col)
{
	if (t != NULL && col >= 0 && col < t->ncols)
		t->right[col] = true;
}

void
out_table_add(out_table *t, const char *const *cells)
{
	char **r = g_new0(char *, t->ncols + 1);

	for (int i = 0; i < t->ncols; i++)
		r[i] = g_strdup(cells[i] != NULL ? cells[i] : "-");
	g_ptr_array_add(t->rows, r);
}

void
out_table_addv(out_table *t, ...)
{
	const char **cells = g_new0(const char *, t->ncols);
	va_list ap;

	va_start(ap, t);
	for (int i = 0; i < t->ncols; i++)
		cells[i] = va_arg(ap, const char *);
	va_end(ap);
	out_table_add(t, cells);
	g_free(cells);
}

int
out_table_rows(const out_table *t)
{
	return t != NULL ? (int)t->rows->len - 1 : 0;
}

static void
pad(FILE *fp, long n)
{
	for (; n > 0; n--)
		fputc(' ', fp);
}

void
out_table_print(const out_table *t, FILE *fp)
{
	g_autofree long *w = NULL;

	if (t == NULL)
		return;
	w = g_new0(long, t->ncols);
	for (guint r = 0; r < t->rows->len; r++) {
		char **row = g_ptr_array_index(t->rows, r);

		for (int c = 0; c < t->ncols; c++)
			w[c] = MAX(w[c], g_utf8_strlen(row[c], -1));
	}
	for (guint r = 0; r < t->rows->len; r++) {
		char **row = g_ptr_array_index(t->rows, r);

		for (int c = 0; c < t->ncols; c++) {
			long gap = w[c] - g_utf8_strlen(row[c], -1);
			bool last = c == t->ncols - 1;

			if (c > 0)
				fputs("  ", fp);
			if (t->right[c])
				pad(fp, gap);
			fputs(row[c], fp);
			if (!t->right[c] && !last)
				pad(fp, gap);
		}
		fputc('\n', fp);
	}
}

int
out_json_print(const json_t *j, FILE *fp)
{
	if (json_dumpf(j, fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 || fputc('\n', fp) == EOF) {
		out_err("cannot write JSON output");
		return -1;
	}
	return 0;
}

json_t *
out_json_str(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

void
out_err(const char *fmt, ...)
{
	va_list ap;

	fputs("nube: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
