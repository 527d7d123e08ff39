// SPDX-License-Identifier: MIT
/*
 * The block allocator (libdax/alloc.c): allocation at every order, address
 * alignment, exhaustion, fragmentation and coalescing, misuse (double free,
 * wrong order, out of range), deferred reuse after a grace period, poison,
 * killed regions, contiguous ranges, concurrent use.  Regions are memfds:
 * their pages cost memory only once touched, and these tests touch none.
 * Every test ends with dax_alloc_check() (every invariant from scratch).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "helpers.h"
#include <criterion/parameterized.h>
#include "libdax/internal.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static struct dax_region *open_region(uint64_t size, uint64_t align)
{
	struct dax_region_opts *opts;
	struct dax_region *r;

	cr_assert_eq(dax_region_opts_new(&opts), 0);
	cr_assert_eq(dax_region_opts_set_size(opts, size), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_opts_set_align(opts, align), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_open("memfd:alloc-test", opts, &r), 0, "%s",
		     dax_errormsg());
	dax_region_opts_delete(&opts);
	return r;
}

static struct dax_alloc *alloc_of(struct dax_region *r)
{
	struct dax_alloc *a;

	cr_assert_eq(dax_alloc_get(r, &a), 0, "%s", dax_errormsg());
	return a;
}

static void check(struct dax_region *r)
{
	cr_assert_eq(dax_alloc_check(alloc_of(r)), 0, "%s", dax_errormsg());
}

static struct dax_alloc_stats stats_of(struct dax_region *r)
{
	struct dax_alloc_stats st;

	cr_assert_eq(dax_alloc_get_stats(r, &st), 0, "%s", dax_errormsg());
	cr_assert_eq(st.total_pages, st.free_pages + st.used_pages +
					     st.pending_pages +
					     st.poisoned_pages);
	return st;
}

/* The counters that any failed call must leave as they were. */
static void assert_same_state(const struct dax_alloc_stats *a,
			      const struct dax_alloc_stats *b)
{
	cr_assert_eq(a->free_pages, b->free_pages);
	cr_assert_eq(a->used_pages, b->used_pages);
	cr_assert_eq(a->pending_pages, b->pending_pages);
	cr_assert_eq(a->poisoned_pages, b->poisoned_pages);
	cr_assert_arr_eq(a->nr_free, b->nr_free, sizeof(a->nr_free));
	cr_assert_arr_eq(a->nr_used, b->nr_used, sizeof(a->nr_used));
}

/* Wait until every free made so far has passed its grace period. */
static void settle(struct dax_region *r)
{
	dax_alloc_drain(alloc_of(r));
}

/* ---- orders 0, 9, 18 ---------------------------------------------------- */

struct order_case {
	unsigned order;
};

ParameterizedTestParameters(alloc, orders_0_9_18_allocate_aligned_blocks)
{
	static struct order_case cases[] = { { 0 }, { 9 }, { 18 } };

	return cr_make_param_array(struct order_case, cases, 3);
}

ParameterizedTest(struct order_case *c, alloc,
		  orders_0_9_18_allocate_aligned_blocks)
{
	struct dax_region *r = open_region(2 * GiB, 2 * MiB);
	uint64_t pages = UINT64_C(1) << c->order, p[2];
	uintptr_t base = (uintptr_t)dax_region_get_base(r);
	struct dax_alloc_stats st;

	for (int i = 0; i < 2; i++) {
		cr_assert_eq(dax_alloc_pages(r, c->order, 0, &p[i]), 0, "%s",
			     dax_errormsg());
		cr_assert_eq(p[i] % pages, 0, "page 0x%llx not aligned",
			     (unsigned long long)p[i]);
		cr_assert_eq((base + p[i] * 4096) % (pages * 4096 < 2 * MiB ?
							     pages * 4096 :
							     2 * MiB),
			     0);
	}
	cr_assert_neq(p[0], p[1]);
	st = stats_of(r);
	cr_assert_eq(st.total_pages, 2 * GiB / 4096);
	cr_assert_eq(st.used_pages, 2 * pages);
	cr_assert_eq(st.nr_used[c->order], 2);
	cr_assert_eq(st.max_order, 19);
	check(r);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(dax_free_pages(r, p[i], c->order), 0, "%s",
			     dax_errormsg());
	settle(r);
	st = stats_of(r);
	cr_assert_eq(st.free_pages, st.total_pages);
	cr_assert_eq(st.nr_free[19], 1, "coalesced back to one 2 GiB block");
	cr_assert_eq(st.fragmentation, 0);
	check(r);
	dax_region_close(&r);
}

Test(alloc, a_2mib_aligned_region_hands_out_4kib_blocks)
{
	struct dax_region *r = open_region(4 * MiB, 2 * MiB);
	uint64_t p;

	cr_assert_eq(dax_alloc_pages(r, 0, 0, &p), 0, "%s", dax_errormsg());
	cr_assert_eq(stats_of(r).used_pages, 1);
	cr_assert_eq(dax_free_pages(r, p, 0), 0);
	dax_region_close(&r);
}

Test(alloc, a_region_of_odd_size_is_tiled_by_aligned_blocks)
{
	/* 3 MiB + 12 KiB = 771 pages = 512 + 256 + 2 + 1. */
	struct dax_region *r = open_region(3 * MiB + 12 * KiB, 4 * KiB);
	struct dax_alloc_stats st = stats_of(r);
	uint64_t p, n = 0;

	cr_assert_eq(st.total_pages, 771);
	cr_assert_eq(st.max_order, 9);
	cr_assert_eq(st.nr_free[9], 1);
	cr_assert_eq(st.nr_free[8], 1);
	cr_assert_eq(st.nr_free[1], 1);
	cr_assert_eq(st.nr_free[0], 1);
	cr_assert_eq(st.largest_free_order, 9);
	while (dax_alloc_pages(r, 0, 0, &p) == 0) {
		cr_assert_lt(p, 771);
		n++;
	}
	cr_assert_eq(n, 771);
	check(r);
	dax_region_close(&r);
}

Test(alloc, any_order_up_to_the_region_size_works)
{
	struct dax_region *r = open_region(64 * MiB, 2 * MiB);
	uint64_t p;

	for (unsigned k = 0; k <= 14; k++) {
		cr_assert_eq(dax_alloc_pages(r, k, 0, &p), 0, "order %u: %s",
			     k, dax_errormsg());
		cr_assert_eq(p % (UINT64_C(1) << k), 0);
		cr_assert_eq(dax_free_pages(r, p, k), 0);
		settle(r);
	}
	cr_assert_eq(stats_of(r).nr_free[14], 1);
	check(r);
	dax_region_close(&r);
}

Test(alloc, an_order_larger_than_the_region_is_einval)
{
	struct dax_region *r = open_region(64 * MiB, 2 * MiB);
	struct dax_alloc_stats before = stats_of(r), after;
	uint64_t p = 7;

	assert_fails_with(dax_alloc_pages(r, 15, 0, &p), -EINVAL,
			  "largest block it holds is order 14");
	assert_fails_with(dax_alloc_pages(r, 200, 0, &p), -EINVAL,
			  "order 200");
	cr_assert_eq(p, 7, "out-pointer untouched on failure");
	after = stats_of(r);
	assert_same_state(&before, &after);
	dax_region_close(&r);
}

Test(alloc, unknown_flags_and_null_arguments_are_einval)
{
	struct dax_region *r = open_region(4 * MiB, 2 * MiB);
	struct dax_alloc_stats st;
	uint64_t p;

	assert_fails_with(dax_alloc_pages(r, 0, 0x80, &p), -EINVAL,
			  "unknown flags 0x80");
	assert_fails_with(dax_alloc_pages(NULL, 0, 0, &p), -EINVAL,
			  "region is NULL");
	assert_fails_with(dax_alloc_pages(r, 0, 0, NULL), -EINVAL,
			  "page is NULL");
	assert_fails_with(dax_alloc_get_stats(r, NULL), -EINVAL,
			  "stats is NULL");
	assert_fails_with(dax_alloc_get_stats(NULL, &st), -EINVAL,
			  "region is NULL");
	assert_fails_with(dax_free_pages(NULL, 0, 0), -EINVAL,
			  "region is NULL");
	dax_region_close(&r);
}

/* ---- exhaustion, fragmentation, coalescing --------------------------------- */

Test(alloc, exhaustion_is_enospc_with_what_was_asked_and_what_is_left)
{
	struct dax_region *r = open_region(4 * MiB, 2 * MiB);
	struct dax_alloc_stats before, after;
	uint64_t p0, p1, small;

	cr_assert_eq(dax_alloc_pages(r, 9, 0, &p0), 0);
	cr_assert_eq(dax_alloc_pages(r, 0, 0, &small), 0);
	before = stats_of(r);
	cr_assert_eq(before.largest_free_order, 8);
	assert_fails_with(dax_alloc_pages(r, 9, 0, &p1), -ENOSPC,
			  "cannot allocate an order-9 block (2 MiB)");
	cr_assert(strstr(dax_errormsg(), "largest free block is 1 MiB"),
		  "%s", dax_errormsg());
	cr_assert(strstr(dax_errormsg(), "2044 KiB free in all") ||
			  strstr(dax_errormsg(), "free in all"),
		  "%s", dax_errormsg());
	after = stats_of(r);
	assert_same_state(&before, &after);
	cr_assert_eq(after.nr_failures, before.nr_failures + 1);
	check(r);
	dax_region_close(&r);
}

Test(alloc, a_full_region_says_none_is_free)
{
	struct dax_region *r = open_region(2 * MiB, 2 * MiB);
	uint64_t p;

	cr_assert_eq(dax_alloc_pages(r, 9, 0, &p), 0);
	assert_fails_with(dax_alloc_pages(r, 0, 0, &p), -ENOSPC,
			  "the largest free block is none");
	cr_assert_eq(stats_of(r).largest_free_order, -1);
	cr_assert_eq(stats_of(r).largest_free_pages, 0);
	dax_region_close(&r);
}

Test(alloc, fragmentation_then_coalescing_back_to_the_full_region)
{
	struct dax_region *r = open_region(8 * MiB, 2 * MiB);
	enum { N = 2048 };
	static uint64_t pages[N];
	struct dax_alloc_stats st;
	uint64_t p;

	for (int i = 0; i < N; i++)
		cr_assert_eq(dax_alloc_pages(r, 0, 0, &pages[i]), 0);
	cr_assert_eq(dax_alloc_pages(r, 0, 0, &p), -ENOSPC);
	/* Free every other page: half the region free, nothing above 4 KiB. */
	for (int i = 0; i < N; i++)
		if (pages[i] % 2 == 0)
			cr_assert_eq(dax_free_pages(r, pages[i], 0), 0);
	settle(r);
	st = stats_of(r);
	cr_assert_eq(st.free_pages, N / 2);
	cr_assert_eq(st.nr_free[0], N / 2);
	cr_assert_eq(st.largest_free_order, 0);
	cr_assert_eq(st.fragmentation, 999, "got %u", st.fragmentation);
	assert_fails_with(dax_alloc_pages(r, 1, 0, &p), -ENOSPC,
			  "largest free block is 4 KiB");
	check(r);
	for (int i = 0; i < N; i++)
		if (pages[i] % 2)
			cr_assert_eq(dax_free_pages(r, pages[i], 0), 0);
	settle(r);
	st = stats_of(r);
	cr_assert_eq(st.free_pages, N);
	cr_assert_eq(st.nr_free[11], 1, "one 8 MiB block again");
	cr_assert_eq(st.largest_free_order, 11);
	cr_assert_eq(st.fragmentation, 0);
	for (unsigned k = 0; k < 11; k++)
		cr_assert_eq(st.nr_free[k], 0);
	check(r);
	dax_region_close(&r);
}

Test(alloc, allocation_prefers_low_addresses_and_small_free_blocks)
{
	struct dax_region *r = open_region(4 * MiB, 2 * MiB);
	uint64_t a, b, c;

	cr_assert_eq(dax_alloc_pages(r, 0, 0, &a), 0);
	cr_assert_eq(a, 0);
	cr_assert_eq(dax_alloc_pages(r, 9, 0, &b), 0);
	cr_assert_eq(b, 512, "the untouched 2 MiB block, not a split one");
	cr_assert_eq(dax_alloc_pages(r, 0, 0, &c), 0);
	cr_assert_eq(c, 1, "the split block's leftover");
	check(r);
	dax_region_close(&r);
}

/* ---- misuse of free -------------------------------------------------------- */

Test(alloc, double_free_is_einval_and_changes_nothing)
{
	struct dax_region *r = open_region(4 * MiB, 2 * MiB);
	struct dax_alloc_stats before, after;
	uint64_t p, q;

	cr_assert_eq(dax_alloc_pages(r, 9, 0, &p), 0);
	cr_assert_eq(dax_alloc_pages(r, 0, 0, &q), 0);
	cr_assert_eq(dax_free_pages(r, p, 9), 0);
	/* Still in its grace period, or already free: both refused. */
	before = stats_of(r);
	assert_fails_with(dax_free_pages(r, p, 9), -EINVAL, "double free");
	after = stats_of(r);
	assert_same_state(&before, &after);
	settle(r);
	before = stats_of(r);
	assert_fails_with(dax_free_pages(r, p, 9), -EINVAL,
			  "is in a free block");
	after = stats_of(r);
	assert_same_state(&before, &after);
	check(r);
	dax_region_close(&r);
}

Test(alloc, freeing_a_pending_block_again_says_it_waits_for_a_grace_period)
{
	struct dax_region *r = open_region(4 * MiB, 2 * MiB);
	uint64_t p;

	cr_assert_eq(dax_alloc_pages(r, 0, 0, &p), 0);
	dax_rcu_read_lock();
	cr_assert_eq(dax_free_pages(r, p, 0), 0);
	assert_fails_with(dax_free_pages(r, p, 0), -EINVAL,
			  "waits for a grace period");
	dax_rcu_read_unlock();
	dax_region_close(&r);
}

Test(alloc, wrong_order_unaligned_and_out_of_range_frees_are_einval)
{
	struct dax_region *r = open_region(4 * MiB, 2 * MiB);
	struct dax_alloc_stats before, after;
	uint64_t p;

	cr_assert_eq(dax_alloc_pages(r, 9, 0, &p), 0);
	before = stats_of(r);
	assert_fails_with(dax_free_pages(r, p, 0), -EINVAL,
			  "starts an allocated block of order 9 (2 MiB)");
	assert_fails_with(dax_free_pages(r, p, 8), -EINVAL,
			  "free it with order 9");
	assert_fails_with(dax_free_pages(r, p + 1, 0), -EINVAL,
			  "inside the allocated block of order 9 (2 MiB) at "
			  "page 0x0");
	assert_fails_with(dax_free_pages(r, 3, 1), -EINVAL,
			  "must be a multiple of 2");
	assert_fails_with(dax_free_pages(r, 1024, 0), -EINVAL,
			  "outside the region's 1024 pages");
	assert_fails_with(dax_free_pages(r, 768, 9), -EINVAL,
			  "outside the region");
	assert_fails_with(dax_free_pages(r, 0, 11), -EINVAL,
			  "largest block it holds is order 10");
	assert_fails_with(dax_free_pages(r, UINT64_MAX, 0), -EINVAL,
			  "outside the region");
	after = stats_of(r);
	assert_same_state(&before, &after);
	check(r);
	dax_region_close(&r);
}

Test(alloc, freeing_into_a_region_never_allocated_from_is_einval)
{
	struct dax_region *r = open_region(4 * MiB, 2 * MiB);

	assert_fails_with(dax_free_pages(r, 0, 0), -EINVAL,
			  "nothing was ever allocated");
	dax_region_close(&r);
}

/* ---- deferred reuse ---------------------------------------------------------- */

struct reader {
	pthread_t thread;
	atomic_int state;	/* 0 start, 1 inside, 2 leave */
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;

	dax_rcu_read_lock();
	atomic_store(&rd->state, 1);
	while (atomic_load(&rd->state) != 2)
		usleep(1000);
	dax_rcu_read_unlock();
	return NULL;
}

static void reader_start(struct reader *rd)
{
	atomic_init(&rd->state, 0);
	cr_assert_eq(pthread_create(&rd->thread, NULL, reader_main, rd), 0);
	while (atomic_load(&rd->state) != 1)
		usleep(1000);
}

static void reader_stop(struct reader *rd)
{
	atomic_store(&rd->state, 2);
	pthread_join(rd->thread, NULL);
}

Test(alloc, a_freed_block_is_not_reused_before_a_grace_period)
{
	struct dax_region *r = open_region(2 * MiB, 2 * MiB);
	struct reader rd;
	struct dax_alloc_stats st;
	uint64_t p, q;

	cr_assert_eq(dax_alloc_pages(r, 9, 0, &p), 0);
	reader_start(&rd);	/* a reader that may still see the block */
	cr_assert_eq(dax_free_pages(r, p, 9), 0);
	usleep(50 * 1000);
	st = stats_of(r);
	cr_assert_eq(st.pending_pages, 512);
	cr_assert_eq(st.nr_pending[9], 1);
	cr_assert_eq(st.free_pages, 0);
	assert_fails_with(dax_alloc_pages(r, 0, 0, &q), -ENOSPC,
			  "2 MiB waiting for a grace period");
	reader_stop(&rd);
	settle(r);
	st = stats_of(r);
	cr_assert_eq(st.pending_pages, 0);
	cr_assert_eq(st.free_pages, 512);
	cr_assert_eq(dax_alloc_pages(r, 9, 0, &q), 0);
	cr_assert_eq(q, p);
	check(r);
	dax_region_close(&r);
}

Test(alloc, dax_alloc_wait_waits_for_the_grace_period)
{
	struct dax_region *r = open_region(2 * MiB, 2 * MiB);
	uint64_t p, q;

	cr_assert_eq(dax_alloc_pages(r, 9, 0, &p), 0);
	dax_rcu_read_lock();
	cr_assert_eq(dax_free_pages(r, p, 9), 0);
	/* Inside a read-side section waiting would deadlock: it does not. */
	assert_fails_with(dax_alloc_pages(r, 9, DAX_ALLOC_WAIT, &q), -ENOSPC,
			  "waiting for a grace period");
	dax_rcu_read_unlock();
	cr_assert_eq(dax_alloc_pages(r, 9, DAX_ALLOC_WAIT, &q), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(q, p);
	dax_region_close(&r);
}

Test(alloc, close_waits_for_frees_still_in_their_grace_period)
{
	struct dax_region *r = open_region(64 * MiB, 2 * MiB);
	uint64_t p[64];

	for (int i = 0; i < 64; i++)
		cr_assert_eq(dax_alloc_pages(r, 0, 0, &p[i]), 0);
	for (int i = 0; i < 64; i++)
		cr_assert_eq(dax_free_pages(r, p[i], 0), 0);
	/* The release must barrier; ASan flags a callback after the free. */
	cr_assert_eq(dax_region_close(&r), 0, "%s", dax_errormsg());
}

/* ---- poison ------------------------------------------------------------------ */

Test(alloc, a_poisoned_free_page_is_never_handed_out)
{
	struct dax_region *r = open_region(2 * MiB, 2 * MiB);
	struct dax_alloc *a = alloc_of(r);
	struct dax_alloc_stats st;
	uint64_t p, n = 0;

	cr_assert_eq(dax_alloc_poison(a, 77), 0);
	cr_assert(dax_alloc_is_poisoned(a, 77));
	cr_assert_not(dax_alloc_is_poisoned(a, 76));
	st = stats_of(r);
	cr_assert_eq(st.poisoned_pages, 1);
	cr_assert_eq(st.free_pages, 511);
	cr_assert_eq(st.largest_free_order, 8);
	check(r);
	assert_fails_with(dax_alloc_pages(r, 9, 0, &p), -ENOSPC,
			  "largest free block is 1 MiB");
	while (dax_alloc_pages(r, 0, 0, &p) == 0) {
		cr_assert_neq(p, 77);
		n++;
	}
	cr_assert_eq(n, 511);
	check(r);
	dax_region_close(&r);
}

Test(alloc, a_poisoned_page_of_a_used_block_is_withdrawn_when_freed)
{
	struct dax_region *r = open_region(4 * MiB, 2 * MiB);
	struct dax_alloc *a = alloc_of(r);
	struct dax_alloc_stats st;
	uint64_t p, q;

	cr_assert_eq(dax_alloc_pages(r, 9, 0, &p), 0);
	cr_assert_eq(dax_alloc_poison(a, p + 300), 0);
	st = stats_of(r);
	cr_assert_eq(st.used_pages, 512, "still the owner's until freed");
	cr_assert_eq(st.poisoned_pages, 0);
	cr_assert_eq(dax_free_pages(r, p, 9), 0);
	settle(r);
	st = stats_of(r);
	cr_assert_eq(st.poisoned_pages, 1);
	cr_assert_eq(st.free_pages, 1023);
	cr_assert_eq(st.nr_free[9], 1, "the other 2 MiB block stays whole");
	check(r);
	/* The poisoned block's half can never be one 2 MiB block again. */
	cr_assert_eq(dax_alloc_pages(r, 9, 0, &q), 0);
	cr_assert_neq(q, p);
	assert_fails_with(dax_alloc_pages(r, 9, 0, &q), -ENOSPC,
			  "largest free block is 1 MiB");
	dax_region_close(&r);
}

Test(alloc, a_page_poisoned_during_the_grace_period_is_withdrawn)
{
	struct dax_region *r = open_region(2 * MiB, 2 * MiB);
	struct dax_alloc *a = alloc_of(r);
	uint64_t p;

	cr_assert_eq(dax_alloc_pages(r, 1, 0, &p), 0);
	dax_rcu_read_lock();
	cr_assert_eq(dax_free_pages(r, p, 1), 0);
	cr_assert_eq(dax_alloc_poison(a, p), 0);
	dax_rcu_read_unlock();
	settle(r);
	cr_assert_eq(stats_of(r).poisoned_pages, 1);
	cr_assert_eq(stats_of(r).free_pages, 511);
	check(r);
	dax_region_close(&r);
}

Test(alloc, poisoning_twice_is_fine_and_out_of_range_is_einval)
{
	struct dax_region *r = open_region(2 * MiB, 2 * MiB);
	struct dax_alloc *a = alloc_of(r);

	cr_assert_eq(dax_alloc_poison(a, 5), 0);
	cr_assert_eq(dax_alloc_poison(a, 5), 0);
	cr_assert_eq(stats_of(r).poisoned_pages, 1);
	assert_fails_with(dax_alloc_poison(a, 512), -EINVAL,
			  "outside the region's 512 pages");
	cr_assert_not(dax_alloc_is_poisoned(a, 512));
	check(r);
	dax_region_close(&r);
}

Test(alloc, freeing_a_withdrawn_page_says_it_is_poisoned)
{
	struct dax_region *r = open_region(2 * MiB, 2 * MiB);
	struct dax_alloc *a = alloc_of(r);

	cr_assert_eq(dax_alloc_poison(a, 9), 0);
	assert_fails_with(dax_free_pages(r, 9, 0), -EINVAL, "poisoned");
	dax_region_close(&r);
}

/* ---- killed regions -------------------------------------------------------- */

Test(alloc, a_killed_region_refuses_allocation_but_takes_blocks_back)
{
	struct dax_region *r = open_region(4 * MiB, 2 * MiB);
	struct dax_alloc_stats before, after;
	uint64_t p, q;

	cr_assert_eq(dax_alloc_pages(r, 0, 0, &p), 0);
	cr_assert_eq(dax_region_kill(r), 0);
	before = stats_of(r);
	assert_fails_with(dax_alloc_pages(r, 0, 0, &q), -ENXIO, "");
	after = stats_of(r);
	assert_same_state(&before, &after);
	cr_assert_eq(dax_free_pages(r, p, 0), 0, "%s", dax_errormsg());
	settle(r);
	cr_assert_eq(stats_of(r).free_pages, 1024);
	dax_region_close(&r);
}

/* ---- ranges (the heap's extents) ------------------------------------------- */

Test(alloc, a_range_keeps_exactly_its_pages_and_frees_the_tail)
{
	struct dax_region *r = open_region(4 * MiB, 2 * MiB);
	struct dax_alloc *a = alloc_of(r);
	struct dax_alloc_stats st;
	uint64_t p;

	cr_assert_eq(dax_alloc_range(a, 5, 0, &p), 0, "%s", dax_errormsg());
	cr_assert_eq(p % 8, 0);
	st = stats_of(r);
	cr_assert_eq(st.used_pages, 5);
	cr_assert_eq(st.nr_used[2], 1);
	cr_assert_eq(st.nr_used[0], 1);
	check(r);
	/* Free part of it, then the rest in two pieces. */
	cr_assert_eq(dax_alloc_free_range(a, p + 1, 2), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(stats_of(r).used_pages, 3);
	check(r);
	assert_fails_with(dax_alloc_free_range(a, p, 4), -EINVAL,
			  "page 0x1 (order 0, 4 KiB) is not allocated");
	cr_assert_eq(stats_of(r).used_pages, 3, "nothing changed");
	cr_assert_eq(dax_alloc_free_range(a, p, 1), 0);
	cr_assert_eq(dax_alloc_free_range(a, p + 3, 2), 0);
	st = stats_of(r);
	cr_assert_eq(st.free_pages, 1024);
	cr_assert_eq(st.nr_free[10], 1);
	check(r);
	dax_region_close(&r);
}

Test(alloc, a_range_is_aligned_as_asked_and_spans_blocks)
{
	struct dax_region *r = open_region(8 * MiB, 2 * MiB);
	struct dax_alloc *a = alloc_of(r);
	uint64_t p, q;

	cr_assert_eq(dax_alloc_range(a, 3, 9, &p), 0);
	cr_assert_eq(p % 512, 0);
	cr_assert_eq(dax_alloc_range(a, 600, 0, &q), 0);
	cr_assert_eq(q % 1024, 0);
	cr_assert_eq(stats_of(r).used_pages, 603);
	check(r);
	/* One free over two separately allocated ranges is refused whole. */
	assert_fails_with(dax_alloc_free_range(a, p, 1024), -EINVAL,
			  "is not allocated");
	cr_assert_eq(dax_alloc_free_range(a, q, 600), 0);
	cr_assert_eq(dax_alloc_free_range(a, p, 3), 0);
	cr_assert_eq(stats_of(r).free_pages, 2048);
	assert_fails_with(dax_alloc_range(a, 4096, 0, &p), -EINVAL,
			  "largest block");
	assert_fails_with(dax_alloc_free_range(a, 2047, 2), -EINVAL,
			  "outside the region");
	check(r);
	dax_region_close(&r);
}

/* ---- concurrency ----------------------------------------------------------- */

#define CONC_THREADS 4
#define CONC_PAGES 4096	/* 16 MiB */

struct conc {
	struct dax_region *r;
	atomic_uchar owner[CONC_PAGES];
	atomic_int errors;
	unsigned seed;
};

static void *conc_main(void *arg)
{
	struct conc *c = arg;
	unsigned seed = __atomic_add_fetch(&c->seed, 7919, __ATOMIC_RELAXED);
	struct {
		uint64_t page;
		unsigned order;
	} held[32];
	int nheld = 0;

	for (int it = 0; it < 20000; it++) {
		if (nheld < 32 && (nheld == 0 || rand_r(&seed) % 2)) {
			unsigned order = rand_r(&seed) % 4 == 0 ?
						 rand_r(&seed) % 10 :
						 0;
			uint64_t p;

			if (dax_alloc_pages(c->r, order, 0, &p))
				continue;
			for (uint64_t i = 0; i < (UINT64_C(1) << order); i++)
				if (atomic_exchange(&c->owner[p + i], 1))
					atomic_fetch_add(&c->errors, 1);
			held[nheld].page = p;
			held[nheld++].order = order;
		} else {
			int j = rand_r(&seed) % nheld;
			uint64_t p = held[j].page;

			for (uint64_t i = 0; i < (UINT64_C(1) << held[j].order);
			     i++)
				if (!atomic_exchange(&c->owner[p + i], 0))
					atomic_fetch_add(&c->errors, 1);
			if (dax_free_pages(c->r, p, held[j].order))
				atomic_fetch_add(&c->errors, 1);
			held[j] = held[--nheld];
		}
	}
	while (nheld--) {
		for (uint64_t i = 0; i < (UINT64_C(1) << held[nheld].order);
		     i++)
			atomic_store(&c->owner[held[nheld].page + i], 0);
		dax_free_pages(c->r, held[nheld].page, held[nheld].order);
	}
	return NULL;
}

Test(alloc, threads_never_get_the_same_page_and_the_counts_balance)
{
	static struct conc c;
	pthread_t t[CONC_THREADS];
	struct dax_alloc_stats st;

	memset(&c, 0, sizeof(c));
	c.r = open_region(CONC_PAGES * 4096, 2 * MiB);
	for (int i = 0; i < CONC_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, conc_main, &c), 0);
	for (int i = 0; i < CONC_THREADS; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(atomic_load(&c.errors), 0);
	settle(c.r);
	st = stats_of(c.r);
	cr_assert_eq(st.free_pages, CONC_PAGES);
	cr_assert_eq(st.used_pages + st.pending_pages, 0);
	cr_assert_eq(st.nr_allocs, st.nr_frees);
	cr_assert_eq(st.nr_free[12], 1);
	check(c.r);
	dax_region_close(&c.r);
}

static void *get_alloc(void *region)
{
	struct dax_alloc *a = NULL;

	dax_alloc_get(region, &a);
	return a;
}

Test(alloc, threads_racing_to_create_the_allocator_agree_on_one)
{
	struct dax_region *r = open_region(4 * MiB, 2 * MiB);
	pthread_t t[4];
	struct dax_alloc *seen[4];

	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, get_alloc, r), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], (void **)&seen[i]);
	cr_assert_not_null(seen[0]);
	for (int i = 1; i < 4; i++)
		cr_assert_eq(seen[i], seen[0]);
	dax_region_close(&r);
}
