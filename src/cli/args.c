/* args: command-line values several commands take */
#include "cli/args.h"

#include <errno.h>
#include <stdlib.h>

int
args_seconds(const char *arg, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (end == arg || *end != '\0' || errno != 0 || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

int
args_timeout(const char *arg, int *out)
{
	return args_seconds(arg, 1, 86400, out);
}
