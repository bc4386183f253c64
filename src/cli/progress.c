/* progress: an agent's progress messages as the operator sees them */
#include "cli/progress.h"

#include <stdio.h>

void
progress_print(client_call *call, const char *text, void *ud)
{
	(void)ud;
	fprintf(stderr, "%s: %s\n", call->host, text);
}
