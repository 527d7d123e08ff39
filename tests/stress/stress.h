/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the concurrency stress programs.  Criterion cannot start under
 * ThreadSanitizer, so these are plain programs: each runs its scenarios for a
 * bounded time (DAX_STRESS_SECONDS, default 2 per scenario), checks
 * invariants, prints "N passed, N failed" and exits non-zero on any failure.
 */
#ifndef LIBDAX_STRESS_H
#define LIBDAX_STRESS_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libdax.h"

static int stress_passed, stress_failed;

#if defined(__SANITIZE_THREAD__)
/*
 * liburcu is not built with ThreadSanitizer, so the hand-offs inside it
 * (call_rcu's wait-free queue, the futex its worker sleeps on, the
 * completion rcu_barrier() allocates in the caller and the worker frees)
 * are invisible, and TSan reports liburcu's own malloc/free pairs as races.
 * Only interceptors called from liburcu itself are suppressed; libdax marks
 * its own edges around call_rcu (dax_tsan_release/acquire).  jemalloc is
 * not suppressed: its locks are pthread mutexes, which TSan sees, and they
 * are the edges between a free and the next malloc.  A program may add
 * lines of its own, with their reason, by defining STRESS_TSAN_EXTRA before
 * including this file.
 */
#ifndef STRESS_TSAN_EXTRA
#define STRESS_TSAN_EXTRA ""
#endif
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
	return "called_from_lib:liburcu-memb.so\n"
	       "called_from_lib:liburcu-common.so\n" STRESS_TSAN_EXTRA;
}
#endif

static inline double stress_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Seconds each scenario runs for. */
static inline double stress_seconds(void)
{
	const char *s = getenv("DAX_STRESS_SECONDS");
	double v = s ? atof(s) : 0;

	return v > 0 ? v : 2.0;
}

/* Count an invariant; print the failure with its reason. */
#define stress_check(cond, ...)                                                \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAILED %s:%d: %s: ", __FILE__,        \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, " (dax_errormsg: %s)\n",               \
				dax_errormsg());                               \
			return false;                                          \
		}                                                              \
	} while (0)

/* Run one scenario (a function returning true when all invariants held). */
#define stress_run(fn)                                                         \
	do {                                                                   \
		double t0_ = stress_now();                                     \
		bool ok_ = fn();                                               \
		printf("%s %s (%.1fs)\n", ok_ ? "ok  " : "FAIL", #fn,          \
		       stress_now() - t0_);                                    \
		fflush(stdout);                                                \
		if (ok_)                                                       \
			stress_passed++;                                       \
		else                                                           \
			stress_failed++;                                       \
	} while (0)

static inline int stress_report(void)
{
	printf("%d passed, %d failed\n", stress_passed, stress_failed);
	return stress_failed ? 1 : 0;
}

#endif /* LIBDAX_STRESS_H */
