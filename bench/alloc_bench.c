// SPDX-License-Identifier: MIT
/*
 * Throughput of the block allocator (libdax/alloc.c), 1 and 2 threads:
 *
 *  - alloc+free pairs of order 0 and order 9 through the public calls
 *    (dax_free_pages() defers reuse through call_rcu);
 *  - the same with immediate frees (dax_alloc_range/dax_alloc_free_range,
 *    the heap's path), which isolates the lock from the RCU deferral;
 *  - a "fault-like" pattern: each thread allocates a batch of 64 blocks,
 *    then frees them all (a truncate), so that the lock is contended.
 *
 * Each figure is the best of several runs (the machine is shared and
 * noisy), each run ended by waiting for the frees' grace periods.  Order-9
 * runs stay below the region's 2048 blocks of 2 MiB: a loop that frees and
 * reallocates faster than grace periods end measures their length, not the
 * allocator.  The 2-thread/1-thread scaling of each row is also printed as
 * a ratio line (bench/bench.h; no goal was set) for `make bench`'s report.
 * Run: alloc_bench [--quick]  (or DAX_BENCH_QUICK=1)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "libdax.h"
#include "libdax/internal.h"

static bool quick;
static struct dax_region *region;
static struct dax_alloc *alloc;

enum mode { PAIR_DEFERRED, PAIR_IMMEDIATE, BATCH_DEFERRED };

struct job {
	enum mode mode;
	unsigned order;
	long iters;
	pthread_barrier_t *start;
	double t0, t1;	/* this worker's own start and end */
};

static void die(void)
{
	fprintf(stderr, "alloc_bench: %s\n", dax_errormsg());
	exit(1);
}

static void *worker(void *arg)
{
	struct job *j = arg;
	uint64_t pages[64];

	pthread_barrier_wait(j->start);
	j->t0 = bench_now();
	for (long i = 0; i < j->iters; i++) {
		switch (j->mode) {
		case PAIR_DEFERRED:
			if (dax_alloc_pages(region, j->order, DAX_ALLOC_WAIT,
					    &pages[0]) ||
			    dax_free_pages(region, pages[0], j->order))
				die();
			break;
		case PAIR_IMMEDIATE:
			if (dax_alloc_range(alloc, 1ULL << j->order, j->order,
					    &pages[0]) ||
			    dax_alloc_free_range(alloc, pages[0],
						 1ULL << j->order))
				die();
			break;
		case BATCH_DEFERRED:
			for (int k = 0; k < 64; k++)
				if (dax_alloc_pages(region, j->order,
						    DAX_ALLOC_WAIT, &pages[k]))
					die();
			for (int k = 0; k < 64; k++)
				if (dax_free_pages(region, pages[k], j->order))
					die();
			break;
		}
	}
	j->t1 = bench_now();
	return NULL;
}

/* Million block allocations (each with its free) per second. */
static double run(enum mode mode, unsigned order, int threads)
{
	long iters = quick ? 50000 : 200000;
	double best = 0;

	if (mode == BATCH_DEFERRED)
		iters /= 64;
	/*
	 * The region holds 2048 blocks of 2 MiB: stay below that between two
	 * drains, so that the figure is the allocator's, not the rate at
	 * which grace periods end.
	 */
	if (order == 9 && iters * (mode == BATCH_DEFERRED ? 64 : 1) > 900)
		iters = mode == BATCH_DEFERRED ? 900 / 64 : 900;
	for (int rep = 0; rep < (quick ? 3 : 5); rep++) {
		pthread_barrier_t start;
		pthread_t t[2];
		struct job j[2];
		double t0 = 1e300, t1 = 0, rate;

		pthread_barrier_init(&start, NULL, (unsigned)threads);
		for (int i = 0; i < threads; i++) {
			j[i] = (struct job){ mode, order, iters, &start, 0, 0 };
			pthread_create(&t[i], NULL, worker, &j[i]);
		}
		for (int i = 0; i < threads; i++) {
			pthread_join(t[i], NULL);
			t0 = j[i].t0 < t0 ? j[i].t0 : t0;
			t1 = j[i].t1 > t1 ? j[i].t1 : t1;
		}
		rate = (double)iters * threads *
		       (mode == BATCH_DEFERRED ? 64 : 1) / (t1 - t0) / 1e6;
		if (rate > best)
			best = rate;
		pthread_barrier_destroy(&start);
		dax_alloc_drain(alloc);
	}
	return best;
}

int main(int argc, char **argv)
{
	static const struct {
		enum mode mode;
		const char *name;
	} modes[] = {
		{ PAIR_DEFERRED, "alloc+free (RCU-deferred)" },
		{ PAIR_IMMEDIATE, "alloc+free (immediate)" },
		{ BATCH_DEFERRED, "64 allocs, then 64 frees" },
	};
	struct dax_region_opts *opts;

	quick = (argc > 1 && !strcmp(argv[1], "--quick")) || bench_quick();
	if (dax_region_opts_new(&opts) ||
	    dax_region_opts_set_size(opts, 4ULL << 30) ||
	    dax_region_open("memfd:alloc-bench", opts, &region) ||
	    dax_alloc_get(region, &alloc)) {
		fprintf(stderr, "alloc_bench: %s\n", dax_errormsg());
		return 1;
	}
	dax_region_opts_delete(&opts);
	printf("block allocator, 4 GiB memfd region, Mops/s (best of %d)\n",
	       quick ? 3 : 5);
	printf("%-28s %5s %9s %9s %8s\n", "pattern", "order", "1 thread",
	       "2 threads", "scaling");
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		for (unsigned order = 0; order <= 9; order += 9) {
			double one = run(modes[m].mode, order, 1);
			double two = run(modes[m].mode, order, 2);
			char metric[80];

			printf("%-28s %5u %9.2f %9.2f %7.2fx\n", modes[m].name,
			       order, one, two, two / one);
			snprintf(metric, sizeof(metric),
				 "%s, order %u, 2 threads' throughput",
				 modes[m].name, order);
			bench_ratio("alloc", metric, two / one, NULL,
				    "1 thread");
		}
	}
	dax_region_close(&region);
	return 0;
}
