/* progress: an agent's progress messages as the operator sees them */
#ifndef NUBE_PROGRESS_H
#define NUBE_PROGRESS_H

#include "cli/client.h"

/* progress_print: a client_progress_cb printing "<host>: <text>" on stderr (ud unused) */
void progress_print(client_call *call, const char *text, void *ud);

#endif
