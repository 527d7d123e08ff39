// SPDX-License-Identifier: MIT
/*
 * The heap (libdax/heap.c): objects of every size class live in the
 * region, calloc/realloc/aligned_alloc/usable_size behave as their libc
 * namesakes, limits and exhaustion fail with ENOMEM and a message, destroy
 * gives every page back to the allocator (its statistics prove it), thread
 * caches are reused and flushed, several heaps stay apart, and many threads
 * use one heap at once.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "helpers.h"
#include "libdax/internal.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)

static struct dax_region *open_region(uint64_t size)
{
	struct dax_region_opts *opts;
	struct dax_region *r;

	cr_assert_eq(dax_region_opts_new(&opts), 0);
	cr_assert_eq(dax_region_opts_set_size(opts, size), 0);
	cr_assert_eq(dax_region_open("memfd:heap-test", opts, &r), 0, "%s",
		     dax_errormsg());
	dax_region_opts_delete(&opts);
	return r;
}

static struct dax_heap *make_heap(struct dax_region *r, uint64_t limit,
				  bool tcache)
{
	struct dax_heap_opts *opts;
	struct dax_heap *h;

	cr_assert_eq(dax_heap_opts_new(&opts), 0);
	cr_assert_eq(dax_heap_opts_set_limit(opts, limit), 0);
	cr_assert_eq(dax_heap_opts_set_tcache(opts, tcache), 0);
	cr_assert_eq(dax_heap_create(r, opts, &h), 0, "%s", dax_errormsg());
	dax_heap_opts_delete(&opts);
	cr_assert_null(opts);
	return h;
}

static uint64_t free_pages(struct dax_region *r)
{
	struct dax_alloc_stats st;

	cr_assert_eq(dax_alloc_get_stats(r, &st), 0);
	return st.free_pages;
}

static void check(struct dax_region *r)
{
	struct dax_alloc *a;

	cr_assert_eq(dax_alloc_get(r, &a), 0);
	cr_assert_eq(dax_alloc_check(a), 0, "%s", dax_errormsg());
}

static bool in_region(struct dax_region *r, const void *p, size_t n)
{
	uintptr_t base = (uintptr_t)dax_region_get_base(r);

	return (uintptr_t)p >= base &&
	       (uintptr_t)p + n <= base + dax_region_get_size(r);
}

/* ---- objects --------------------------------------------------------------- */

Test(heap, objects_of_every_size_class_live_in_the_region)
{
	struct dax_region *r = open_region(64 * MiB);
	uint64_t before = free_pages(r);
	struct dax_heap *h = make_heap(r, 0, true);
	static const size_t sizes[] = { 0,	   1,	     8,	     16,
					100,	   4096,     5000,   14336,
					65536,	   100000,   1 << 20,
					3 << 20 };
	void *p[sizeof(sizes) / sizeof(sizes[0])];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p[i] = dax_heap_malloc(h, sizes[i]);
		cr_assert_not_null(p[i], "%zu: %s", sizes[i], dax_errormsg());
		cr_assert(in_region(r, p[i], sizes[i]), "size %zu", sizes[i]);
		cr_assert_geq(dax_heap_usable_size(h, p[i]), sizes[i]);
		cr_assert_eq((uintptr_t)p[i] % 8, 0);
		memset(p[i], 0xa5, sizes[i]);
	}
	cr_assert_lt(free_pages(r), before);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		dax_heap_free(h, p[i]);
	dax_heap_free(h, NULL);
	cr_assert_eq(dax_heap_usable_size(h, NULL), 0);
	cr_assert_eq(dax_heap_destroy(&h), 0, "%s", dax_errormsg());
	cr_assert_null(h);
	cr_assert_eq(free_pages(r), before, "destroy gave every page back");
	check(r);
	dax_region_close(&r);
}

Test(heap, calloc_zeroes_reused_memory_and_refuses_overflow)
{
	struct dax_region *r = open_region(16 * MiB);
	struct dax_heap *h = make_heap(r, 0, true);
	unsigned char *p, *q;

	p = dax_heap_malloc(h, 4000);
	memset(p, 0xff, 4000);
	dax_heap_free(h, p);
	q = dax_heap_calloc(h, 1000, 4);
	cr_assert_not_null(q);
	for (int i = 0; i < 4000; i++)
		cr_assert_eq(q[i], 0, "byte %d", i);
	dax_heap_free(h, q);
	errno = 0;
	cr_assert_null(dax_heap_calloc(h, SIZE_MAX / 2, 3));
	cr_assert_eq(errno, ENOMEM);
	cr_assert(strstr(dax_errormsg(), "overflows"), "%s", dax_errormsg());
	q = dax_heap_calloc(h, 0, 8);
	cr_assert_not_null(q);
	dax_heap_free(h, q);
	dax_heap_destroy(&h);
	dax_region_close(&r);
}

Test(heap, realloc_keeps_the_contents_when_it_grows_and_shrinks)
{
	struct dax_region *r = open_region(32 * MiB);
	uint64_t before = free_pages(r);
	struct dax_heap *h = make_heap(r, 0, true);
	unsigned char *p = dax_heap_realloc(h, NULL, 100);

	cr_assert_not_null(p);
	for (int i = 0; i < 100; i++)
		p[i] = (unsigned char)i;
	p = dax_heap_realloc(h, p, 2 << 20);
	cr_assert_not_null(p, "%s", dax_errormsg());
	cr_assert(in_region(r, p, 2 << 20));
	for (int i = 0; i < 100; i++)
		cr_assert_eq(p[i], i);
	p = dax_heap_realloc(h, p, 10);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(p[i], i);
	cr_assert_null(dax_heap_realloc(h, p, 0), "size 0 frees");
	dax_heap_destroy(&h);
	cr_assert_eq(free_pages(r), before);
	dax_region_close(&r);
}

Test(heap, aligned_alloc_honours_alignments_past_the_region_alignment)
{
	struct dax_region *r = open_region(64 * MiB);
	uint64_t before = free_pages(r);
	struct dax_heap *h = make_heap(r, 0, true);
	static const size_t aligns[] = { 1,	  16,	    64,	     4096,
					 65536,	  2 << 20, 4 << 20, 8 << 20 };

	for (size_t i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		void *p = dax_heap_aligned_alloc(h, aligns[i], 5000);

		cr_assert_not_null(p, "align %zu: %s", aligns[i],
				   dax_errormsg());
		cr_assert_eq((uintptr_t)p % aligns[i], 0, "align %zu",
			     aligns[i]);
		cr_assert(in_region(r, p, 5000));
		dax_heap_free(h, p);
	}
	errno = 0;
	cr_assert_null(dax_heap_aligned_alloc(h, 48, 10));
	cr_assert_eq(errno, EINVAL);
	cr_assert(strstr(dax_errormsg(), "not a power of two"));
	cr_assert_null(dax_heap_aligned_alloc(h, 0, 10));
	dax_heap_destroy(&h);
	cr_assert_eq(free_pages(r), before);
	check(r);
	dax_region_close(&r);
}

/* ---- limits, exhaustion, poison ------------------------------------------------ */

Test(heap, a_limit_caps_the_region_memory_the_heap_takes)
{
	struct dax_region *r = open_region(64 * MiB);
	struct dax_heap *h = make_heap(r, 8 * MiB, true);
	struct dax_heap_stats st;
	void *p[64];
	int n = 0;

	while (n < 64 && (p[n] = dax_heap_malloc(h, 1 << 20)))
		n++;
	cr_assert_lt(n, 8);
	cr_assert_gt(n, 2);
	cr_assert_eq(errno, ENOMEM);
	cr_assert(strstr(dax_errormsg(), "cannot allocate 1048576 bytes"),
		  "%s", dax_errormsg());
	cr_assert_eq(dax_heap_get_stats(h, &st), 0);
	cr_assert_leq(st.region_bytes, 8 * MiB);
	cr_assert_leq(st.peak_region_bytes, 8 * MiB);
	cr_assert_geq(st.allocated_bytes, (uint64_t)n << 20);
	while (n--)
		dax_heap_free(h, p[n]);
	dax_heap_destroy(&h);
	dax_region_close(&r);
}

Test(heap, an_exhausted_region_makes_malloc_fail_with_enomem)
{
	struct dax_region *r = open_region(4 * MiB);
	struct dax_heap *h = make_heap(r, 0, true);
	void *p;

	errno = 0;
	p = dax_heap_malloc(h, 8 << 20);
	cr_assert_null(p);
	cr_assert_eq(errno, ENOMEM);
	cr_assert(strstr(dax_errormsg(), "the region has"), "%s",
		  dax_errormsg());
	p = dax_heap_malloc(h, 1000);
	cr_assert_not_null(p, "small objects still fit");
	cr_assert_null(dax_heap_realloc(h, p, 16 << 20));
	cr_assert_eq(*(volatile char *)p, *(volatile char *)p,
		     "the object stays after a failed realloc");
	dax_heap_free(h, p);
	dax_heap_destroy(&h);
	cr_assert_eq(free_pages(r), 1024);
	dax_region_close(&r);
}

Test(heap, poisoned_pages_never_reach_the_heap)
{
	struct dax_region *r = open_region(16 * MiB);
	struct dax_alloc *a;
	struct dax_heap *h;
	uintptr_t base = (uintptr_t)dax_region_get_base(r);
	static void *p[4096];
	int n = 0;

	/* Bad pages all over: no 2 MiB of the region is clean. */
	cr_assert_eq(dax_alloc_get(r, &a), 0);
	for (uint64_t page = 3; page < 4096; page += 97)
		cr_assert_eq(dax_alloc_poison(a, page), 0);
	h = make_heap(r, 0, false);
	while (n < 4096 && (p[n] = dax_heap_malloc(h, 16384)))
		n++;
	cr_assert_gt(n, 100);
	for (int i = 0; i < n; i++) {
		uint64_t first = ((uintptr_t)p[i] - base) / 4096;

		for (uint64_t pg = first; pg < first + 4; pg++)
			cr_assert_not(dax_alloc_is_poisoned(a, pg),
				      "object %d on bad page %llu", i,
				      (unsigned long long)pg);
	}
	dax_heap_destroy(&h);
	check(r);
	dax_region_close(&r);
}

/* ---- lifetimes --------------------------------------------------------------- */

Test(heap, destroy_frees_objects_still_allocated)
{
	struct dax_region *r = open_region(64 * MiB);
	uint64_t before = free_pages(r);
	struct dax_heap *h = make_heap(r, 0, true);
	struct dax_heap_stats st;

	for (int i = 0; i < 10000; i++)
		cr_assert_not_null(dax_heap_malloc(h, (size_t)(i % 700) * 8));
	for (int i = 0; i < 20; i++)
		cr_assert_not_null(dax_heap_malloc(h, 100000));
	cr_assert_eq(dax_heap_get_stats(h, &st), 0);
	cr_assert_gt(st.region_bytes, 0);
	cr_assert_gt(st.nr_extents, 0);
	cr_assert_eq(before - free_pages(r), st.region_bytes / 4096,
		     "the heap's count is the allocator's");
	cr_assert_eq(dax_heap_destroy(&h), 0);
	cr_assert_eq(free_pages(r), before);
	check(r);
	dax_region_close(&r);
}

Test(heap, two_heaps_on_one_region_stay_apart)
{
	struct dax_region *r = open_region(64 * MiB);
	uint64_t before = free_pages(r);
	struct dax_heap *a = make_heap(r, 0, true);
	struct dax_heap *b = make_heap(r, 0, true);
	char *pa = dax_heap_malloc(a, 64), *pb = dax_heap_malloc(b, 64);
	char *pa2;

	strcpy(pa, "heap a");
	strcpy(pb, "heap b");
	cr_assert_eq(dax_heap_destroy(&a), 0);
	cr_assert_str_eq(pb, "heap b");
	pa2 = dax_heap_malloc(b, 64);
	cr_assert_not_null(pa2);
	dax_heap_free(b, pb);
	dax_heap_free(b, pa2);
	cr_assert_eq(dax_heap_destroy(&b), 0);
	cr_assert_eq(free_pages(r), before);
	dax_region_close(&r);
}

Test(heap, a_heap_created_again_and_again_leaks_nothing)
{
	struct dax_region *r = open_region(32 * MiB);
	uint64_t before = free_pages(r);

	for (int i = 0; i < 50; i++) {
		struct dax_heap *h = make_heap(r, 0, i % 2);

		for (int j = 0; j < 100; j++)
			dax_heap_malloc(h, (size_t)j * 100);
		cr_assert_eq(dax_heap_destroy(&h), 0);
	}
	cr_assert_eq(free_pages(r), before);
	dax_region_close(&r);
}

/* Write over every free page of the region, as a mapping would. */
static void scribble_free_pages(struct dax_region *r)
{
	static uint64_t pages[1 << 16];
	char *base = dax_region_get_base(r);
	struct dax_alloc *a;
	uint64_t p;
	int n = 0;

	cr_assert_eq(dax_alloc_get(r, &a), 0);
	while (n < (1 << 16) && dax_alloc_range(a, 1, 0, &p) == 0) {
		memset(base + p * 4096, 0x07, 4096);
		pages[n++] = p;
	}
	while (n--)
		cr_assert_eq(dax_alloc_free_range(a, pages[n], 1), 0);
}

Test(heap, memory_a_destroyed_heap_gave_back_can_be_reused_at_once)
{
	struct dax_region *r = open_region(64 * MiB);
	uint64_t before = free_pages(r);
	unsigned seed = 1;

	/* Same arena index each time; its old memory full of garbage. */
	for (int i = 0; i < 20; i++) {
		struct dax_heap *h = make_heap(r, 0, i % 2);

		for (int j = 0; j < 32; j++) {
			size_t n = (size_t)rand_r(&seed) % 3000;
			void *p = dax_heap_malloc(h, n);

			cr_assert_not_null(p);
			memset(p, j, n);
		}
		cr_assert_eq(dax_heap_destroy(&h), 0);
		cr_assert_eq(free_pages(r), before);
		scribble_free_pages(r);
	}
	check(r);
	dax_region_close(&r);
}

static void *one_malloc(void *heap)
{
	void *p = dax_heap_malloc(heap, 48);

	dax_heap_free(heap, p);
	return p;
}

Test(heap, threads_that_exit_leave_their_cache_to_the_next)
{
	struct dax_region *r = open_region(16 * MiB);
	struct dax_heap *h = make_heap(r, 0, true);
	struct dax_heap_stats st;

	for (int i = 0; i < 20; i++) {
		pthread_t t;

		cr_assert_eq(pthread_create(&t, NULL, one_malloc, h), 0);
		pthread_join(t, NULL);
	}
	cr_assert_eq(dax_heap_get_stats(h, &st), 0);
	cr_assert_leq(st.nr_tcaches, 2, "got %u", st.nr_tcaches);
	dax_heap_destroy(&h);
	dax_region_close(&r);
}

Test(heap, a_killed_region_refuses_a_new_heap_and_new_extents)
{
	struct dax_region *r = open_region(16 * MiB);
	struct dax_heap *h = make_heap(r, 0, true), *h2 = NULL;
	void *small = dax_heap_malloc(h, 32);

	cr_assert_not_null(small);
	cr_assert_eq(dax_region_kill(r), 0);
	assert_fails_with(dax_heap_create(r, NULL, &h2), -ENXIO, "");
	cr_assert_null(h2);
	cr_assert_null(dax_heap_malloc(h, 4 << 20), "no new extent");
	cr_assert(strstr(dax_errormsg(), "killed"), "%s", dax_errormsg());
	dax_heap_free(h, small);
	cr_assert_eq(dax_heap_destroy(&h), 0);
	cr_assert_eq(free_pages(r), 4096);
	dax_region_close(&r);
}

Test(heap, null_arguments_and_bad_options_are_einval)
{
	struct dax_region *r = open_region(4 * MiB);
	struct dax_heap_opts *opts;
	struct dax_heap *h = NULL;
	struct dax_heap_stats st;

	assert_fails_with(dax_heap_create(NULL, NULL, &h), -EINVAL,
			  "region is NULL");
	assert_fails_with(dax_heap_create(r, NULL, NULL), -EINVAL,
			  "heap is NULL");
	assert_fails_with(dax_heap_destroy(NULL), -EINVAL, "heap is NULL");
	assert_fails_with(dax_heap_destroy(&h), -EINVAL, "heap is NULL");
	cr_assert_eq(dax_heap_opts_new(&opts), 0);
	assert_fails_with(dax_heap_opts_set_limit(opts, 5000), -EINVAL,
			  "not a multiple of the page size");
	assert_fails_with(dax_heap_opts_set_limit(NULL, 4096), -EINVAL,
			  "opts is NULL");
	assert_fails_with(dax_heap_opts_set_tcache(NULL, true), -EINVAL,
			  "opts is NULL");
	assert_fails_with(dax_heap_opts_new(NULL), -EINVAL, "opts is NULL");
	dax_heap_opts_delete(&opts);
	dax_heap_opts_delete(NULL);
	cr_assert_eq(dax_heap_create(r, NULL, &h), 0);
	assert_fails_with(dax_heap_get_stats(h, NULL), -EINVAL,
			  "stats is NULL");
	assert_fails_with(dax_heap_get_stats(NULL, &st), -EINVAL,
			  "heap is NULL");
	dax_heap_destroy(&h);
	dax_region_close(&r);
}

/* ---- many threads ------------------------------------------------------------- */

struct worker {
	struct dax_heap *heap;
	struct dax_region *region;
	unsigned seed;
	atomic_int *errors;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	enum { SLOTS = 256 };
	unsigned char *obj[SLOTS] = { NULL };
	size_t len[SLOTS] = { 0 };
	unsigned char pat[SLOTS] = { 0 };

	for (int it = 0; it < 40000; it++) {
		int i = rand_r(&w->seed) % SLOTS;

		if (obj[i]) {
			/* Our pattern must still be there: nobody else has it. */
			for (size_t k = 0; k < len[i]; k += 61)
				if (obj[i][k] != pat[i])
					atomic_fetch_add(w->errors, 1);
			if (rand_r(&w->seed) % 4) {
				dax_heap_free(w->heap, obj[i]);
				obj[i] = NULL;
				continue;
			}
		}
		len[i] = rand_r(&w->seed) % 8 ? rand_r(&w->seed) % 2048 + 1 :
						rand_r(&w->seed) % 100000 + 1;
		obj[i] = obj[i] ? dax_heap_realloc(w->heap, obj[i], len[i]) :
				  dax_heap_malloc(w->heap, len[i]);
		if (!obj[i] || !in_region(w->region, obj[i], len[i])) {
			atomic_fetch_add(w->errors, 1);
			obj[i] = NULL;
			continue;
		}
		pat[i] = (unsigned char)rand_r(&w->seed);
		memset(obj[i], pat[i], len[i]);
	}
	for (int i = 0; i < SLOTS; i++)
		dax_heap_free(w->heap, obj[i]);
	return NULL;
}

Test(heap, many_threads_allocate_and_free_at_once)
{
	struct dax_region *r = open_region(256 * MiB);
	uint64_t before = free_pages(r);
	struct dax_heap *h = make_heap(r, 0, true);
	struct worker w[4];
	pthread_t t[4];
	atomic_int errors = 0;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ h, r, 1000u + (unsigned)i, &errors };
		cr_assert_eq(pthread_create(&t[i], NULL, worker_main, &w[i]),
			     0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(atomic_load(&errors), 0);
	cr_assert_eq(dax_heap_destroy(&h), 0);
	cr_assert_eq(free_pages(r), before);
	check(r);
	dax_region_close(&r);
}

/* Each round frees the ring it allocated, as the benchmark does. */
static void ring_round(struct dax_heap *h, size_t size, int steps)
{
	static void *ring[1024];

	memset(ring, 0, sizeof(ring));
	for (int i = 0; i < steps; i++) {
		dax_heap_free(h, ring[i % 1024]);
		ring[i % 1024] = dax_heap_malloc(h, size);
		cr_assert_not_null(ring[i % 1024]);
		*(volatile char *)ring[i % 1024] = 1;
	}
	for (int i = 0; i < 1024; i++)
		dax_heap_free(h, ring[i]);
}

Test(heap, two_heaps_taking_turns_on_one_region_stay_consistent)
{
	struct dax_region *r = open_region(512 * MiB);
	uint64_t before = free_pages(r);
	struct dax_heap *a = make_heap(r, 0, true);
	struct dax_heap *b = make_heap(r, 0, false);
	struct dax_heap_stats st1, st2;

	/*
	 * Extents of both heaps end up side by side in the region; jemalloc
	 * must never take one heap's extent for the other's (it did, when
	 * the heap handed extents back before destroy: see
	 * heap_extent_dalloc()).
	 */
	for (int round = 0; round < 2; round++) {
		static const size_t sizes[] = { 4096, 65536 };

		for (int s = 0; s < 2; s++) {
			ring_round(a, sizes[s], 20000);
			ring_round(b, sizes[s], 20000);
		}
	}
	/* Freed memory stays with a heap and is reused, not taken anew. */
	cr_assert_eq(dax_heap_get_stats(a, &st1), 0);
	ring_round(a, 4096, 20000);
	cr_assert_eq(dax_heap_get_stats(a, &st2), 0);
	cr_assert_eq(st2.region_bytes, st1.region_bytes);
	cr_assert_eq(dax_heap_destroy(&a), 0);
	cr_assert_eq(dax_heap_destroy(&b), 0);
	cr_assert_eq(free_pages(r), before);
	check(r);
	dax_region_close(&r);
}

static void *fill_until_full(void *heap)
{
	while (dax_heap_malloc(heap, 300 << 10))
		;
	return NULL;
}

Test(heap, threads_racing_for_the_last_bytes_do_not_overshoot_the_limit)
{
	struct dax_region *r = open_region(256 * MiB);
	struct dax_heap *h = make_heap(r, 16 * MiB, true);
	struct dax_heap_stats st;
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, fill_until_full, h),
			     0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(dax_heap_get_stats(h, &st), 0);
	cr_assert_leq(st.peak_region_bytes, 16 * MiB, "peak %llu",
		      (unsigned long long)st.peak_region_bytes);
	cr_assert_gt(st.allocated_bytes, 8 * MiB);
	cr_assert_eq(dax_heap_destroy(&h), 0);
	cr_assert_eq(free_pages(r), 65536);
	dax_region_close(&r);
}
