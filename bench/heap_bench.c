// SPDX-License-Identifier: MIT
/*
 * The heap (libdax/heap.c) against jemalloc's default arenas and glibc's
 * malloc: malloc/free pairs of 64 B to 64 KiB objects over a ring of live
 * objects per thread (1024 slots: each step frees the oldest object and
 * allocates a new one), 1 and 2 threads.
 *
 * Contenders, all in this one process:
 *   dax_heap         dax_heap_malloc/free (per-heap per-thread caches)
 *   dax_heap notc    the same heap with MALLOCX_TCACHE_NONE
 *   je malloc        malloc/free: jemalloc's default arenas (libdax makes
 *                    jemalloc the process allocator)
 *   je mallocx       mallocx/dallocx with flags 0 (the same arenas, through
 *                    the entry points the heap uses)
 *   glibc            __libc_malloc/__libc_free
 * The ratio is dax_heap's time per pair over jemalloc's malloc (goal: at
 * most 1.2).  The machine has 2 cores shared with other work, so each
 * figure is the best of many short passes, the contenders' passes
 * interleaved (one long run each would give whichever ran during a quiet
 * spell the advantage).
 *
 * Then the memory the heap takes from the region: for a mixed workload,
 * the bytes of its extents against the bytes of live objects, and the
 * extents' bytes against what whole buddy blocks would have taken.
 *
 * Every row's ratio is also printed as a ratio line (bench/bench.h) for
 * `make bench`'s report, the goal on each, and the extents' overhead
 * without one.
 *
 * Run: heap_bench [--quick]  (or DAX_BENCH_QUICK=1)
 */
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "libdax.h"
#include "libdax/internal.h"

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);

#define RING 1024

static bool quick;
static int reps;
static struct dax_region *region;
static struct dax_heap *heap_tc, *heap_notc;

enum kind { DAX_TC, DAX_NOTC, JE_MALLOC, JE_MALLOCX, GLIBC, NR_KINDS };

static const char *const kind_name[NR_KINDS] = {
	"dax_heap", "dax_heap notc", "je malloc", "je mallocx", "glibc",
};

static inline void *do_malloc(enum kind k, size_t n)
{
	switch (k) {
	case DAX_TC:
		return dax_heap_malloc(heap_tc, n);
	case DAX_NOTC:
		return dax_heap_malloc(heap_notc, n);
	case JE_MALLOC:
		return malloc(n);
	case JE_MALLOCX:
		return mallocx(n, 0);
	default:
		return __libc_malloc(n);
	}
}

static inline void do_free(enum kind k, void *p)
{
	switch (k) {
	case DAX_TC:
		dax_heap_free(heap_tc, p);
		break;
	case DAX_NOTC:
		dax_heap_free(heap_notc, p);
		break;
	case JE_MALLOC:
		free(p);
		break;
	case JE_MALLOCX:
		if (p)
			dallocx(p, 0);
		break;
	default:
		__libc_free(p);
		break;
	}
}

struct job {
	enum kind kind;
	size_t size;	/* 0: mixed sizes */
	long steps;
	pthread_barrier_t *start;
	double t0, t1;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	void *ring[RING] = { NULL };
	unsigned seed = 12345;
	size_t sizes[256];

	for (int i = 0; i < 256; i++)	/* 64 B .. 64 KiB, mostly small */
		sizes[i] = j->size ? j->size :
				     (size_t)64 << (rand_r(&seed) % 4 ?
							    rand_r(&seed) % 5 :
							    rand_r(&seed) % 11);
	pthread_barrier_wait(j->start);
	j->t0 = bench_now();
	for (long i = 0; i < j->steps; i++) {
		unsigned s = (unsigned)(i % RING);

		do_free(j->kind, ring[s]);
		ring[s] = do_malloc(j->kind, sizes[i & 255]);
		if (!ring[s])
			abort();
		*(volatile char *)ring[s] = 1;	/* touch it */
	}
	j->t1 = bench_now();
	for (int s = 0; s < RING; s++)
		do_free(j->kind, ring[s]);
	return NULL;
}

/* Nanoseconds per malloc+free pair, per thread, of one short pass. */
static double run(enum kind kind, size_t size, int threads)
{
	long steps = (quick ? 50000 : 200000) / (size >= 16384 ? 4 : 1);
	pthread_barrier_t start;
	pthread_t t[2];
	struct job j[2];
	double t0 = 1e300, t1 = 0;

	pthread_barrier_init(&start, NULL, (unsigned)threads);
	for (int i = 0; i < threads; i++) {
		j[i] = (struct job){ kind, size, steps, &start, 0, 0 };
		pthread_create(&t[i], NULL, worker, &j[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		t0 = j[i].t0 < t0 ? j[i].t0 : t0;
		t1 = j[i].t1 > t1 ? j[i].t1 : t1;
	}
	pthread_barrier_destroy(&start);
	return (t1 - t0) * 1e9 / (double)steps;
}

static void waste(void)
{
	struct dax_heap_stats st;
	struct dax_heap *heap;
	uint64_t asked, pow2;
	void **p = calloc(100000, sizeof(*p));
	unsigned seed = 7;

	if (!p || dax_heap_create(region, NULL, &heap)) {
		fprintf(stderr, "heap_bench: %s\n", dax_errormsg());
		exit(1);
	}

	for (int i = 0; i < 100000; i++)
		p[i] = dax_heap_malloc(heap,
				       (size_t)rand_r(&seed) % 4 ?
					       (size_t)rand_r(&seed) % 1024 + 1 :
					       (size_t)rand_r(&seed) % 65536 +
						       1);
	dax_heap_get_stats(heap, &st);
	dax_heap_extent_sizes(heap, &asked, &pow2);
	printf("\nregion memory of a new heap, 100000 live objects of "
	       "1 B - 64 KiB:\n");
	printf("  live objects (jemalloc's count)  %8.1f MiB\n",
	       st.allocated_bytes / 1048576.0);
	printf("  extents held from the region     %8.1f MiB (%.2fx live)\n",
	       st.region_bytes / 1048576.0,
	       (double)st.region_bytes / (double)st.allocated_bytes);
	printf("  every extent jemalloc asked for  %8.1f MiB\n",
	       asked / 1048576.0);
	printf("  as whole buddy blocks it'd take  %8.1f MiB (+%.0f%%; the "
	       "heap trims each block to its extent and takes none of "
	       "that)\n",
	       pow2 / 1048576.0, 100.0 * ((double)pow2 / (double)asked - 1));
	bench_ratio("heap", "region bytes held per live byte, mixed 1 B-64 KiB",
		    (double)st.region_bytes / (double)st.allocated_bytes, NULL,
		    "live objects");
	for (int i = 0; i < 100000; i++)
		dax_heap_free(heap, p[i]);
	free(p);
	dax_heap_destroy(&heap);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 64, 256, 1024, 4096, 16384, 65536, 0 };
	struct dax_region_opts *opts;
	struct dax_heap_opts *hopts;

	quick = (argc > 1 && !strcmp(argv[1], "--quick")) || bench_quick();
	reps = quick ? 5 : 15;
	if (dax_region_opts_new(&opts) ||
	    dax_region_opts_set_size(opts, 2ULL << 30) ||
	    dax_region_open("memfd:heap-bench", opts, &region) ||
	    dax_heap_create(region, NULL, &heap_tc) ||
	    dax_heap_opts_new(&hopts) ||
	    dax_heap_opts_set_tcache(hopts, false) ||
	    dax_heap_create(region, hopts, &heap_notc)) {
		fprintf(stderr, "heap_bench: %s\n", dax_errormsg());
		return 1;
	}
	dax_region_opts_delete(&opts);
	dax_heap_opts_delete(&hopts);

	printf("malloc+free pairs, ns per pair per thread (best of %d "
	       "interleaved passes); ratio = dax_heap / je malloc "
	       "(goal <= 1.2)\n",
	       reps);
	printf("%-7s %3s", "size", "thr");
	for (int k = 0; k < NR_KINDS; k++)
		printf(" %13s", kind_name[k]);
	printf(" %7s %9s\n", "ratio", "vs glibc");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (int threads = 1; threads <= 2; threads++) {
			double ns[NR_KINDS];
			char name[24], metric[80];

			if (sizes[s])
				snprintf(name, sizeof(name), "%zu", sizes[s]);
			else
				snprintf(name, sizeof(name), "mixed");
			printf("%-7s %3d", name, threads);
			for (int k = 0; k < NR_KINDS; k++)
				ns[k] = 1e300;
			for (int rep = 0; rep < reps; rep++) {
				for (int k = 0; k < NR_KINDS; k++) {
					double t = run((enum kind)k, sizes[s],
						       threads);

					ns[k] = t < ns[k] ? t : ns[k];
				}
			}
			for (int k = 0; k < NR_KINDS; k++)
				printf(" %13.1f", ns[k]);
			printf(" %6.2fx %8.2fx\n", ns[DAX_TC] / ns[JE_MALLOC],
			       ns[DAX_TC] / ns[GLIBC]);
			snprintf(metric, sizeof(metric),
				 "malloc+free, %s%s, %d thread%s, time", name,
				 sizes[s] ? " B" : " sizes", threads,
				 threads > 1 ? "s" : "");
			bench_ratio("heap", metric,
				    ns[DAX_TC] / ns[JE_MALLOC], "<=1.2",
				    "jemalloc malloc");
		}
	}
	waste();
	dax_heap_destroy(&heap_tc);
	dax_heap_destroy(&heap_notc);
	dax_region_close(&region);
	return 0;
}
