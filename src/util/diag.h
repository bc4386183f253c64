/* diag: collect errors and warnings with file:line so every problem is reported, not just the first */
#ifndef NUBE_DIAG_H
#define NUBE_DIAG_H

#include <stdbool.h>
#include <stdio.h>
#include <glib.h>

typedef enum { DIAG_WARNING, DIAG_ERROR } diag_severity;

typedef struct {
	diag_severity severity;
	char *file;	/* may be NULL (no file) */
	int line;	/* 0 when unknown */
	char *msg;
} diag_item;

typedef struct {
	GPtrArray *items;	/* of diag_item*, owned */
	int nerrors;
	int nwarnings;
} diag;

/* diag_new: empty collector; free with diag_free (accepts NULL). */
diag *diag_new(void);
void diag_free(diag *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(diag, diag_free)

/* diag_error/diag_warn: append a message; file may be NULL, line 0 if unknown.
 * d may be NULL, in which case the message is dropped. */
void diag_error(diag *d, const char *file, int line, const char *fmt, ...) G_GNUC_PRINTF(4, 5);
void diag_warn(diag *d, const char *file, int line, const char *fmt, ...) G_GNUC_PRINTF(4, 5);

/* diag_print: write every item as "file:line: error: msg" (the GNU convention). */
void diag_print(const diag *d, FILE *fp);

/* diag_has_errors: true when at least one error was recorded. */
bool diag_has_errors(const diag *d);

/* diag_contains: true when some item's message contains needle (tests use it). */
bool diag_contains(const diag *d, diag_severity sev, const char *needle);

#endif
