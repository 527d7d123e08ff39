/* SPDX-License-Identifier: MIT */
/*
 * What every benchmark shares: the ratio lines that `make bench` collects
 * into bench/results/REPORT.md, and the quick mode that keeps a full run of
 * every suite short enough to finish on a busy two-core machine.
 *
 * A ratio line is tab-separated so a shell script can read it without a
 * parser:
 *
 *	RATIO <suite> <metric> <value> <goal> <peer>
 *
 * value is libdax's figure divided by the peer's, oriented so the goal
 * reads naturally: "<=1.2" for costs (time per op, bytes), ">=4" for
 * rates (ops per second); an empty goal means "reported, no target".
 */
#ifndef LIBDAX_BENCH_H
#define LIBDAX_BENCH_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Wall-clock seconds. */
static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * This thread's CPU seconds: on a shared machine a wall-clock run also
 * counts the time other programs held the CPU, so single-thread rows are
 * timed with this.  (Cache pollution by them still shows.)
 */
static inline double bench_cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* DAX_BENCH_QUICK set (to anything but "0"): fewer runs, smaller sets. */
static inline bool bench_quick(void)
{
	const char *q = getenv("DAX_BENCH_QUICK");

	return q && *q && !(q[0] == '0' && q[1] == '\0');
}

static inline void bench_ratio(const char *suite, const char *metric,
			       double value, const char *goal,
			       const char *peer)
{
	printf("RATIO\t%s\t%s\t%.3f\t%s\t%s\n", suite, metric, value,
	       goal ? goal : "", peer);
	fflush(stdout);
}

#endif /* LIBDAX_BENCH_H */
