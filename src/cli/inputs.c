/* inputs: the files validate and plan read (scenario, cluster, restrictions), parsed and
 * validated together */
#include "cli/inputs.h"

void
inputs_clear(inputs *in)
{
	scenario_free(in->s);
	restrictions_free(in->r);
	cluster_free(in->c);
}

bool
inputs_load(inputs *in, const char *spath, const char *rpath, const char *cpath, diag *d)
{
	in->s = scenario_parse_file(spath, d);
	if (in->s == NULL && !diag_has_errors(d))
		diag_error(d, spath, 0, "cannot read the scenario");
	if (in->s != NULL)
		scenario_validate(in->s, d);
	if (cpath != NULL) {
		in->c = cluster_parse_file(cpath, d);
		if (in->c == NULL && !diag_has_errors(d))
			diag_error(d, cpath, 0, "cannot read the cluster description");
	}
	if (rpath != NULL) {
		in->r = restrictions_parse_file(rpath, d);
		if (in->r == NULL && !diag_has_errors(d))
			diag_error(d, rpath, 0, "cannot read the restrictions");
		if (in->r != NULL && in->s != NULL)
			restrictions_validate(in->r, in->s, in->c, d);
	}
	return in->s != NULL && (cpath == NULL || in->c != NULL) && (rpath == NULL || in->r != NULL)
	    && !diag_has_errors(d);
}
