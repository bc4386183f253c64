/* stored: a deployed scenario as the store keeps it, parsed again */
#include "cli/stored.h"

#include <string.h>

#include "cli/output.h"

scenario *
stored_load(store *st, const char *name, store_scenario **out)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(diag) d = diag_new();
	store_scenario *ss = store_get(st, name, &e);
	scenario *s;

	if (ss == NULL) {
		if (e != NULL)
			out_err("store: %s", e->message);
		else
			out_err("scenario '%s' is not deployed (see 'nube status')", name);
		return NULL;
	}
	/* named by its file: host files it names are found next to it, as at deploy */
	s = scenario_parse_memory(ss->spec, strlen(ss->spec), ss->source != NULL ? ss->source :
	    name, d);
	if (s == NULL || diag_has_errors(d)) {
		diag_print(d, stderr);
		out_err("the stored spec of '%s' does not parse", name);
		scenario_free(s);
		store_scenario_free(ss);
		return NULL;
	}
	if (out != NULL)
		*out = ss;
	else
		store_scenario_free(ss);
	return s;
}
