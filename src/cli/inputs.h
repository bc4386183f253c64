/* inputs: the files validate and plan read (scenario, cluster, restrictions), parsed and
 * validated together */
#ifndef NUBE_INPUTS_H
#define NUBE_INPUTS_H

#include <stdbool.h>

#include "scenario/scenario.h"
#include "util/diag.h"

typedef struct {
	scenario *s;		/* owned, NULL until loaded */
	restrictions *r;	/* owned, NULL when not given */
	cluster *c;		/* owned, NULL when not given */
} inputs;

/* inputs_load: parse and validate the scenario at spath, the cluster at cpath and the
 * restrictions at rpath (either may be NULL: not given) into in, collecting every problem in
 * d. true when no error was found. in holds what parsed either way (inputs_clear). */
bool inputs_load(inputs *in, const char *spath, const char *rpath, const char *cpath, diag *d);

/* inputs_clear: free what in holds */
void inputs_clear(inputs *in);

#endif
