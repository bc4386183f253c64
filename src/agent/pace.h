/* pace: how many guests one agent lets boot at once — a ceiling that follows the host's
 * measured CPU load (pure: numbers in, numbers out; deploy.c measures and waits) */
#ifndef NUBE_AGENT_PACE_H
#define NUBE_AGENT_PACE_H

/* load at or above which the ceiling halves, below which it grows by one */
#define PACE_LOAD_HIGH	0.9
#define PACE_LOAD_LOW	0.6

/* pace_initial: the first ceiling of a host of cpus CPUs (its capacity: a cgroup quota
 * counts): two booting guests per CPU, at least one */
int pace_initial(double cpus);

/* pace_next: the ceiling after one measurement of the host's CPU load (0..1 of its
 * capacity): halved (at least 1) when the host is saturated, one more (at most four per CPU,
 * at least 2) when it has room, else kept. A busy or capped host thus starts fewer guests at
 * a time, an idle one more. */
int pace_next(int ceiling, double load, double cpus);

#endif
