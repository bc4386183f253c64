/* diag: collect errors and warnings with file:line */
#include "util/diag.h"

#include <stdarg.h>
#include <string.h>

static void
diag_item_free(gpointer p)
{
	diag_item *it = p;

	if (it == NULL)
		return;
	g_free(it->file);
	g_free(it->msg);
	g_free(it);
}

diag *
diag_new(void)
{
	diag *d = g_new0(diag, 1);

	d->items = g_ptr_array_new_with_free_func(diag_item_free);
	return d;
}

void
diag_free(diag *d)
{
	if (d == NULL)
		return;
	g_ptr_array_unref(d->items);
	g_free(d);
}

static void
diag_add(diag *d, diag_severity sev, const char *file, int line, const char *fmt, va_list ap)
{
	diag_item *it;

	if (d == NULL)
		return;
	it = g_new0(diag_item, 1);
	it->severity = sev;
	it->file = g_strdup(file);
	it->line = line;
	it->msg = g_strdup_vprintf(fmt, ap);
	g_ptr_array_add(d->items, it);
	if (sev == DIAG_ERROR)
		d->nerrors++;
	else
		d->nwarnings++;
}

void
diag_error(diag *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(d, DIAG_ERROR, file, line, fmt, ap);
	va_end(ap);
}

void
diag_warn(diag *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(d, DIAG_WARNING, file, line, fmt, ap);
	va_end(ap);
}

void
diag_print(const diag *d, FILE *fp)
{
	if (d == NULL)
		return;
	for (guint i = 0; i < d->items->len; i++) {
		const diag_item *it = g_ptr_array_index(d->items, i);
		const char *sev = it->severity == DIAG_ERROR ? "error" : "warning";

		if (it->file != NULL && it->line > 0)
			fprintf(fp, "%s:%d: %s: %s\n", it->file, it->line, sev, it->msg);
		else if (it->file != NULL)
			fprintf(fp, "%s: %s: %s\n", it->file, sev, it->msg);
		else
			fprintf(fp, "nube: %s: %s\n", sev, it->msg);
	}
}

bool
diag_has_errors(const diag *d)
{
	return d != NULL && d->nerrors > 0;
}

bool
diag_contains(const diag *d, diag_severity sev, const char *needle)
{
	if (d == NULL)
		return false;
	for (guint i = 0; i < d->items->len; i++) {
		const diag_item *it = g_ptr_array_index(d->items, i);

		if (it->severity == sev && strstr(it->msg, needle) != NULL)
			return true;
	}
	return false;
}
