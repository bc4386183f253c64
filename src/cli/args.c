/* args: command-line values several commands take */
#include "cli/args.h"

#include <stdlib.h>

int
args_timeout(const char *arg, int *out)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (end == arg || *end != '\0' || v < 1 || v > 86400)
		return -1;
	*out = (int)v;
	return 0;
}
