/* pace: the adaptive ceiling of guests booting at once on one host (see pace.h) */
#include "agent/pace.h"

#include <math.h>

static int
pace_max(double cpus)
{
	int m = (int)ceil(4 * cpus);

	return m < 2 ? 2 : m;
}

int
pace_initial(double cpus)
{
	int c = (int)lround(2 * cpus);

	if (c < 1)
		c = 1;
	return c > pace_max(cpus) ? pace_max(cpus) : c;
}

int
pace_next(int ceiling, double load, double cpus)
{
	if (load >= PACE_LOAD_HIGH)
		ceiling /= 2;
	else if (load < PACE_LOAD_LOW)
		ceiling++;
	if (ceiling < 1)
		ceiling = 1;
	return ceiling > pace_max(cpus) ? pace_max(cpus) : ceiling;
}
