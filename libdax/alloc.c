// SPDX-License-Identifier: MIT
/*
 * The block allocator: order-aligned blocks of a region's 4 KiB pages.
 *
 * What it is
 * ----------
 * A binary buddy allocator over the pages of one region (page 0 is the
 * first page of the region's mapping).  A block of order k is 2^k pages
 * whose first page is a multiple of 2^k; any order from 0 up to the largest
 * power of two that fits in the region can be asked for.  The region need
 * not be a power of two long: it starts as the maximal aligned blocks that
 * tile it, and two buddies merge only when both are free and inside it.
 *
 * Every order is allowed on every region, whatever its alignment: the
 * region is mapped whole at an address aligned to its alignment, and libdax
 * addresses 4 KiB pages inside that mapping (the fault path falls back from
 * 2 MiB to 4 KiB entries), so the device's mapping granularity constrains
 * how the region is mapped, not how its pages are shared out.  A block of
 * order k is aligned to 2^k pages from the region's start, so blocks of at
 * least the region alignment are aligned in memory too.
 *
 * Metadata lives outside the region: DAX memory may be poisoned, is slow to
 * write, and an emulated region's pages cost memory only once touched.  Per
 * order there are three bitmaps with one bit per block of that order: FREE
 * (hierarchical: a summary bit per 64-bit word, up to one top word, so the
 * lowest free block is found in a few word reads), USED (the first page of
 * an allocated block of exactly that order) and PENDING (freed, waiting for
 * its grace period); plus one POISON bit per page.  About 0.8 bit per page
 * in all: 48 KiB for a 1 GiB region.  Every page is in exactly one of:
 * a free block, a used block, a pending block, or "poisoned and withdrawn".
 * dax_alloc_check() verifies that from scratch.
 *
 * Allocation takes the lowest free block of the smallest order that fits
 * and splits it down (address-ordered first fit keeps large blocks whole).
 * Freeing coalesces with free buddies upwards.  Both are O(orders).
 *
 * Deferred reuse
 * --------------
 * A lock-free reader of a mapping's entry tree may still hold an entry that
 * points at a block being freed.  dax_free_pages() therefore checks the
 * block and marks it PENDING at once (so a second free is refused), and
 * appends it to a batch; a dax_call_rcu() callback returns a whole batch
 * to the free bitmaps after a grace period that started after the last
 * free in it (one batch in flight, the next one collecting; see struct
 * dax_alloc), so a free costs an array append, not a malloc and a
 * call_rcu of its own.  The allocator's release function (run by
 * dax_region_close()) waits for the batches with dax_rcu_barrier().  The heap frees its
 * extents at once (dax_alloc_free_range()): no tree entry points into heap
 * memory, and jemalloc only releases an extent no object lives in.
 *
 * Poison
 * ------
 * dax_alloc_poison() marks a page bad.  A free block holding it is split so
 * that every other page of it stays free; a used or pending block keeps it
 * until it is freed, and then only its good pages go back (the block is
 * split around the bad ones).  Free blocks therefore never contain poison,
 * and buddies never merge across a bad page.
 *
 * Concurrency
 * -----------
 * One mutex per allocator (adaptive: it spins briefly before sleeping)
 * around O(orders) work that touches a few cache lines; messages are
 * formatted after it is dropped.  Measured in bench/alloc_bench.c: see the
 * numbers in the man page's NOTES and the report of issue 6.  Per-order
 * locks do not fit a buddy allocator (a split or a merge crosses orders),
 * and per-thread caches would hide blocks from dax_alloc_get_stats() and
 * from other threads at exhaustion; with the fault path taking an entry
 * lock, asking the engine and inserting into a tree around each
 * allocation, the allocator's lock is not the bottleneck.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define FB_MAX_LEVELS 12
#define ALLOC_MAX_WAITS 16	/* grace periods DAX_ALLOC_WAIT waits for */

/* A bitmap that finds its lowest set bit in nr_levels word reads. */
struct fbitmap {
	unsigned nr_levels;
	uint64_t *words[FB_MAX_LEVELS];	/* level 0: one bit per block */
};

struct alloc_order {
	uint64_t nr_blocks;	/* blocks of this order wholly inside */
	uint64_t nr_free, nr_used, nr_pending;
	struct fbitmap free;
	uint64_t *used;
	uint64_t *pending;
};

/* Blocks freed, waiting for their grace period. */
struct alloc_batch {
	struct alloc_freed {
		uint64_t page;
		unsigned order;
	} *v;
	size_t nr, cap;
};

struct dax_alloc {
	pthread_mutex_t lock;
	struct dax_region *region;
	uint64_t nr_pages;
	unsigned max_order;
	/* Under lock: pages in each state; they add up to nr_pages. */
	uint64_t free_pages, used_pages, pending_pages, withdrawn_pages;
	uint64_t nr_poisoned;	/* pages marked bad, withdrawn or not */
	uint64_t nr_allocs, nr_frees, nr_failures;
	uint64_t *poison;	/* one bit per page */
	/*
	 * Frees waiting for a grace period, in two batches: "open" collects
	 * new frees (under lock); "closed" was handed to call_rcu when it was
	 * closed, so its grace period started after every free in it.  Only
	 * one batch is in flight: its callback releases it and, if frees came
	 * in meanwhile, closes the open batch and queues it.  One call_rcu per
	 * batch, not per block, and no memory allocated per free.
	 */
	struct alloc_batch open, closed;
	bool in_flight;		/* under lock: "closed" is queued */
	uint64_t nr_queued, nr_released;	/* batches, under lock */
	struct rcu_head rcu;
	struct alloc_order orders[DAX_ALLOC_NR_ORDERS];
};

enum block_state { BLOCK_NONE, BLOCK_FREE, BLOCK_USED, BLOCK_PENDING };

static inline bool bit_test(const uint64_t *map, uint64_t i)
{
	return map[i / 64] >> (i % 64) & 1;
}

static inline void bit_set(uint64_t *map, uint64_t i)
{
	map[i / 64] |= UINT64_C(1) << (i % 64);
}

static inline void bit_clear(uint64_t *map, uint64_t i)
{
	map[i / 64] &= ~(UINT64_C(1) << (i % 64));
}

static inline uint64_t words_for(uint64_t bits)
{
	return (bits + 63) / 64;
}

static int fb_init(struct fbitmap *fb, uint64_t nr_bits)
{
	uint64_t bits = nr_bits;

	fb->nr_levels = 0;
	do {
		if (fb->nr_levels == FB_MAX_LEVELS)
			return -ENOMEM;
		fb->words[fb->nr_levels] =
			calloc(words_for(bits), sizeof(uint64_t));
		if (!fb->words[fb->nr_levels])
			return -ENOMEM;
		fb->nr_levels++;
		bits = words_for(bits);
	} while (bits > 1);
	return 0;
}

static void fb_destroy(struct fbitmap *fb)
{
	for (unsigned l = 0; l < fb->nr_levels; l++)
		free(fb->words[l]);
	fb->nr_levels = 0;
}

static inline bool fb_test(const struct fbitmap *fb, uint64_t i)
{
	return bit_test(fb->words[0], i);
}

static void fb_set(struct fbitmap *fb, uint64_t i)
{
	for (unsigned l = 0; l < fb->nr_levels; l++) {
		uint64_t *w = &fb->words[l][i / 64];
		uint64_t was = *w;

		*w = was | UINT64_C(1) << (i % 64);
		if (was)
			break;	/* the levels above already say "some" */
		i /= 64;
	}
}

static void fb_clear(struct fbitmap *fb, uint64_t i)
{
	for (unsigned l = 0; l < fb->nr_levels; l++) {
		uint64_t *w = &fb->words[l][i / 64];

		*w &= ~(UINT64_C(1) << (i % 64));
		if (*w)
			break;
		i /= 64;
	}
}

/* The lowest set bit, or UINT64_MAX when none is. */
static uint64_t fb_find_first(const struct fbitmap *fb)
{
	uint64_t i = 0;

	for (int l = (int)fb->nr_levels - 1; l >= 0; l--) {
		uint64_t w = fb->words[l][i];

		if (!w)
			return UINT64_MAX;
		i = i * 64 + (uint64_t)__builtin_ctzll(w);
	}
	return i;
}

static inline uint64_t order_pages(unsigned order)
{
	return UINT64_C(1) << order;
}

static const char *order_str(unsigned order, char *buf, size_t len)
{
	return dax_size_str(order_pages(order) * DAX_PAGE_SIZE, buf, len);
}

static const struct dax_logger *alloc_log(const struct dax_alloc *a)
{
	return a ? dax_region_logger(a->region) : NULL;
}

/* ---- bitmaps under the lock ------------------------------------------- */

static bool range_has_poison(const struct dax_alloc *a, uint64_t page,
			     uint64_t nr)
{
	uint64_t end = page + nr;

	if (!a->nr_poisoned)
		return false;
	while (page < end) {
		uint64_t bit = page % 64;
		uint64_t n = 64 - bit < end - page ? 64 - bit : end - page;
		uint64_t mask = n == 64 ? ~UINT64_C(0) :
					  ((UINT64_C(1) << n) - 1) << bit;

		if (a->poison[page / 64] & mask)
			return true;
		page += n;
	}
	return false;
}

/*
 * The state of the block that holds @page, its order and first page.  At
 * most one block holds a page (dax_alloc_check() proves it); a poisoned
 * withdrawn page is in none.
 */
static enum block_state find_block(const struct dax_alloc *a, uint64_t page,
				   unsigned *order, uint64_t *first)
{
	for (unsigned k = 0; k <= a->max_order; k++) {
		const struct alloc_order *o = &a->orders[k];
		uint64_t i = page >> k;
		enum block_state st = BLOCK_NONE;

		if (i >= o->nr_blocks)
			break;
		if (fb_test(&o->free, i))
			st = BLOCK_FREE;
		else if (bit_test(o->used, i))
			st = BLOCK_USED;
		else if (bit_test(o->pending, i))
			st = BLOCK_PENDING;
		if (st != BLOCK_NONE) {
			*order = k;
			*first = i << k;
			return st;
		}
	}
	return BLOCK_NONE;
}

static void mark_free(struct dax_alloc *a, uint64_t i, unsigned k)
{
	fb_set(&a->orders[k].free, i);
	a->orders[k].nr_free++;
	dax_publish_blocks(a->region, a, false, k, a->orders[k].nr_free);
}

static void unmark_free(struct dax_alloc *a, uint64_t i, unsigned k)
{
	fb_clear(&a->orders[k].free, i);
	a->orders[k].nr_free--;
	dax_publish_blocks(a->region, a, false, k, a->orders[k].nr_free);
}

static void mark_used(struct dax_alloc *a, uint64_t i, unsigned k)
{
	bit_set(a->orders[k].used, i);
	a->orders[k].nr_used++;
	dax_publish_blocks(a->region, a, true, k, a->orders[k].nr_used);
}

static void unmark_used(struct dax_alloc *a, uint64_t i, unsigned k)
{
	bit_clear(a->orders[k].used, i);
	a->orders[k].nr_used--;
	dax_publish_blocks(a->region, a, true, k, a->orders[k].nr_used);
}

/*
 * Give the pages of block (@page, @k), which is in no state, back to the
 * free bitmaps, merging with free buddies; bad pages are withdrawn and the
 * block split around them.
 */
static void release_locked(struct dax_alloc *a, uint64_t page, unsigned k)
{
	uint64_t i;

	if (range_has_poison(a, page, order_pages(k))) {
		if (k == 0) {
			a->withdrawn_pages++;
			dax_publish_set(a->region, DAX_PUB_WITHDRAWN,
					a->withdrawn_pages);
			return;
		}
		release_locked(a, page, k - 1);
		release_locked(a, page + order_pages(k - 1), k - 1);
		return;
	}
	a->free_pages += order_pages(k);
	i = page >> k;
	while (k < a->max_order) {
		uint64_t buddy = i ^ 1;

		if (buddy >= a->orders[k].nr_blocks ||
		    !fb_test(&a->orders[k].free, buddy))
			break;
		unmark_free(a, buddy, k);
		i >>= 1;
		k++;
	}
	mark_free(a, i, k);
}

/* Take the lowest free block of the smallest order >= @k, split to @k. */
static int take_locked(struct dax_alloc *a, unsigned k, uint64_t *page)
{
	unsigned j = k;
	uint64_t i;

	while (j <= a->max_order && !a->orders[j].nr_free)
		j++;
	if (j > a->max_order)
		return -ENOSPC;
	i = fb_find_first(&a->orders[j].free);
	unmark_free(a, i, j);
	while (j > k) {
		j--;
		i *= 2;
		mark_free(a, i + 1, j);
	}
	mark_used(a, i, k);
	a->free_pages -= order_pages(k);
	a->used_pages += order_pages(k);
	*page = i << k;
	return 0;
}

/* Split the used block (@first, *@k) down until one piece starts at @page
 * and ends at or before @end; the other pieces stay used. */
static void split_used_locked(struct dax_alloc *a, uint64_t *first,
			      unsigned *k, uint64_t page, uint64_t end)
{
	while (*first != page || *first + order_pages(*k) > end) {
		unsigned j = *k - 1;

		unmark_used(a, *first >> *k, *k);
		mark_used(a, *first >> j, j);
		mark_used(a, (*first >> j) + 1, j);
		*k = j;
		if (page >= *first + order_pages(j))
			*first += order_pages(j);
	}
}

/* ---- creation and teardown --------------------------------------------- */

static void alloc_destroy(struct dax_alloc *a)
{
	for (unsigned k = 0; k < DAX_ALLOC_NR_ORDERS; k++) {
		fb_destroy(&a->orders[k].free);
		free(a->orders[k].used);
		free(a->orders[k].pending);
	}
	free(a->poison);
	free(a->open.v);
	free(a->closed.v);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* The region's slot release: wait for queued frees, then free it all. */
static void alloc_release(void *obj)
{
	struct dax_alloc *a = obj;

	dax_alloc_drain(a);	/* nothing else frees now: all of them */
	alloc_destroy(a);
}

static int alloc_create(struct dax_region *region, struct dax_alloc **out)
{
	uint64_t nr_pages = dax_region_get_size(region) / DAX_PAGE_SIZE;
	pthread_mutexattr_t attr;
	struct dax_alloc *a;
	uint64_t page;

	if (!nr_pages)
		return dax_fail(dax_region_logger(region), -ENOSPC,
				"the region has no page to allocate");
	a = calloc(1, sizeof(*a));
	if (!a)
		goto nomem;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&a->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	a->region = region;
	a->nr_pages = nr_pages;
	a->max_order = 63 - (unsigned)__builtin_clzll(nr_pages);
	if (a->max_order >= DAX_ALLOC_NR_ORDERS)
		a->max_order = DAX_ALLOC_NR_ORDERS - 1;
	a->poison = calloc(words_for(nr_pages), sizeof(uint64_t));
	if (!a->poison)
		goto nomem_free;
	for (unsigned k = 0; k <= a->max_order; k++) {
		struct alloc_order *o = &a->orders[k];

		o->nr_blocks = nr_pages >> k;
		o->used = calloc(words_for(o->nr_blocks), sizeof(uint64_t));
		o->pending = calloc(words_for(o->nr_blocks), sizeof(uint64_t));
		if (!o->used || !o->pending ||
		    fb_init(&o->free, o->nr_blocks))
			goto nomem_free;
	}
	/* Tile the region with maximal aligned blocks. */
	for (page = 0; page < nr_pages;) {
		unsigned k = page ? (unsigned)__builtin_ctzll(page) : 63;

		while (k > a->max_order || page + order_pages(k) > nr_pages)
			k--;
		mark_free(a, page >> k, k);
		a->free_pages += order_pages(k);
		page += order_pages(k);
	}
	*out = a;
	return 0;

nomem_free:
	alloc_destroy(a);
nomem:
	return dax_fail(dax_region_logger(region), -ENOMEM,
			"out of memory for the allocator of a region of "
			"%llu pages",
			(unsigned long long)nr_pages);
}

/**
 * dax_alloc_get() - the region's allocator, created on first use
 * @region: an open region
 * @alloc: receives the allocator, which lives until dax_region_close()
 *
 * Context: any thread; lock-free once the allocator exists.  Two threads
 * racing to create it agree on one (the region's slot decides).
 * Return: 0, -ENOMEM or -ENOSPC (a region smaller than a page).
 */
int dax_alloc_get(struct dax_region *region, struct dax_alloc **alloc)
{
	struct dax_alloc *a, *mine = NULL;
	int ret;

	a = dax_region_slot_get(region, DAX_REGION_SLOT_ALLOC);
	if (likely(a)) {
		*alloc = a;
		return 0;
	}
	ret = alloc_create(region, &mine);
	if (ret)
		return ret;
	a = dax_region_slot_install(region, DAX_REGION_SLOT_ALLOC, mine,
				    alloc_release);
	if (a != mine)
		alloc_destroy(mine);
	*alloc = a;
	return 0;
}

/* ---- allocation ----------------------------------------------------------- */

static int enospc(struct dax_alloc *a, const char *what, uint64_t want_pages)
{
	char want[32], largest[32], freeb[32], pend[32];
	uint64_t free_pages, pending_pages, big = 0;

	pthread_mutex_lock(&a->lock);
	a->nr_failures++;
	free_pages = a->free_pages;
	pending_pages = a->pending_pages;
	for (int k = (int)a->max_order; k >= 0; k--) {
		if (a->orders[k].nr_free) {
			big = order_pages((unsigned)k);
			break;
		}
	}
	pthread_mutex_unlock(&a->lock);
	return dax_fail(alloc_log(a), -ENOSPC,
			"cannot allocate %s (%s): the largest free block is "
			"%s, %s free in all, %s waiting for a grace period",
			what,
			dax_size_str(want_pages * DAX_PAGE_SIZE, want,
				     sizeof(want)),
			big ? dax_size_str(big * DAX_PAGE_SIZE, largest,
					   sizeof(largest)) :
			      "none",
			dax_size_str(free_pages * DAX_PAGE_SIZE, freeb,
				     sizeof(freeb)),
			dax_size_str(pending_pages * DAX_PAGE_SIZE, pend,
				     sizeof(pend)));
}

/**
 * dax_alloc_block() - allocate one block of order @order from @a
 * @a: the allocator
 * @order: log2 of the block's size in pages
 * @flags: DAX_ALLOC_WAIT or 0
 * @page: receives the block's first page
 *
 * Like dax_alloc_pages() without entering the region (the caller has, or
 * does not need to).
 * Context: any thread; takes the allocator's lock; with DAX_ALLOC_WAIT it
 * may sleep for a grace period, and then must not hold an RCU read lock.
 * Return: 0, -EINVAL or -ENOSPC.
 */
int dax_alloc_block(struct dax_alloc *a, unsigned order, unsigned flags,
		    uint64_t *page)
{
	char sz[32];
	int ret;

	if (unlikely(order > a->max_order))
		return dax_fail(alloc_log(a), -EINVAL,
				"order %u (%s) is larger than the region: "
				"the largest block it holds is order %u",
				order,
				order < 52 ? order_str(order, sz, sizeof(sz)) :
					     "too large",
				a->max_order);
	for (int waits = 0;; waits++) {
		uint64_t pending;

		pthread_mutex_lock(&a->lock);
		ret = take_locked(a, order, page);
		if (!ret)
			a->nr_allocs++;
		pending = a->pending_pages;
		pthread_mutex_unlock(&a->lock);
		if (likely(!ret))
			return 0;
		/*
		 * Blocks in their grace period might fit: with WAIT, wait for
		 * the frees queued so far and try again, a bounded number of
		 * times (other threads may take what came back, and free
		 * more), never inside a read-side section, where the grace
		 * period would wait for us.
		 */
		if (!(flags & DAX_ALLOC_WAIT) || !pending ||
		    waits == ALLOC_MAX_WAITS || urcu_memb_read_ongoing())
			break;
		dax_alloc_drain(a);
	}
	snprintf(sz, sizeof(sz), "an order-%u block", order);
	return enospc(a, sz, order_pages(order));
}

/**
 * dax_alloc_pages() - allocate a block of 2^@order pages of a region
 * @region: the region
 * @order: log2 of the block's size in 4 KiB pages (0: 4 KiB, 9: 2 MiB,
 *	18: 1 GiB, any order up to the region's size)
 * @flags: 0, or DAX_ALLOC_WAIT to wait once for blocks freed but still in
 *	their grace period when nothing else fits
 * @page: receives the block's first page (its offset / 4 KiB); it is a
 *	multiple of 2^@order
 *
 * Context: any thread; takes the allocator's lock for a few word
 * operations.  DAX_ALLOC_WAIT may sleep.
 * Return: 0; -EINVAL for an unknown flag or an order larger than the
 * region; -ENOSPC when no free block is large enough (nothing changed);
 * -ENXIO when the region is killed; -ENOMEM when the allocator could not be
 * created.
 */
DAX_EXPORT int dax_alloc_pages(struct dax_region *region, unsigned order,
			       unsigned flags, uint64_t *page)
{
	struct dax_alloc *a;
	int ret;

	if (unlikely(!region || !page))
		return dax_fail(NULL, -EINVAL, "dax_alloc_pages: %s is NULL",
				region ? "page" : "region");
	if (unlikely(flags & ~(unsigned)DAX_ALLOC_WAIT))
		return dax_fail(dax_region_logger(region), -EINVAL,
				"dax_alloc_pages: unknown flags 0x%x",
				flags & ~(unsigned)DAX_ALLOC_WAIT);
	ret = dax_region_enter(region);
	if (unlikely(ret))
		return ret;
	ret = dax_alloc_get(region, &a);
	if (likely(!ret))
		ret = dax_alloc_block(a, order, flags, page);
	dax_region_exit(region);
	return ret;
}

/* ---- freeing -------------------------------------------------------------- */

/* Say why (@page, @order) is not an allocated block; -EINVAL. */
static int not_allocated(struct dax_alloc *a, uint64_t page, unsigned order)
{
	char sz[32], bsz[32];
	uint64_t first = 0;
	unsigned k = 0;
	enum block_state st;
	bool bad;

	pthread_mutex_lock(&a->lock);
	st = find_block(a, page, &k, &first);
	bad = bit_test(a->poison, page);
	pthread_mutex_unlock(&a->lock);
	order_str(order, sz, sizeof(sz));
	order_str(k, bsz, sizeof(bsz));
	switch (st) {
	case BLOCK_FREE:
		return dax_fail(alloc_log(a), -EINVAL,
				"page 0x%llx (order %u, %s) is not allocated: "
				"it is in a free block of %s (a double free?)",
				(unsigned long long)page, order, sz, bsz);
	case BLOCK_PENDING:
		return dax_fail(alloc_log(a), -EINVAL,
				"page 0x%llx (order %u, %s) is not allocated: "
				"it was freed already and waits for a grace "
				"period (a double free?)",
				(unsigned long long)page, order, sz);
	case BLOCK_USED:
		if (first == page)
			return dax_fail(alloc_log(a), -EINVAL,
					"page 0x%llx starts an allocated "
					"block of order %u (%s), not one of "
					"order %u: free it with order %u",
					(unsigned long long)page, k, bsz,
					order, k);
		return dax_fail(alloc_log(a), -EINVAL,
				"page 0x%llx is inside the allocated block "
				"of order %u (%s) at page 0x%llx: free that "
				"block with its own page and order",
				(unsigned long long)page, k, bsz,
				(unsigned long long)first);
	default:
		return dax_fail(alloc_log(a), -EINVAL,
				"page 0x%llx is not allocated%s",
				(unsigned long long)page,
				bad ? ": it is poisoned and out of use" : "");
	}
}

static int check_block_args(struct dax_alloc *a, uint64_t page,
			    unsigned order)
{
	if (order > a->max_order)
		return dax_fail(alloc_log(a), -EINVAL,
				"order %u is larger than the region: the "
				"largest block it holds is order %u",
				order, a->max_order);
	if (page >= a->nr_pages || page + order_pages(order) > a->nr_pages)
		return dax_fail(alloc_log(a), -EINVAL,
				"block at page 0x%llx of order %u is outside "
				"the region's %llu pages",
				(unsigned long long)page, order,
				(unsigned long long)a->nr_pages);
	if (page & (order_pages(order) - 1))
		return dax_fail(alloc_log(a), -EINVAL,
				"page 0x%llx is not the start of an order-%u "
				"block: it must be a multiple of %llu",
				(unsigned long long)page, order,
				(unsigned long long)order_pages(order));
	return 0;
}

#define ALLOC_RELEASE_CHUNK 256	/* blocks released per lock hold */

/* The RCU callback: release the closed batch, queue the open one. */
static void batch_release(struct rcu_head *head)
{
	struct dax_alloc *a = caa_container_of(head, struct dax_alloc, rcu);
	size_t done = 0, nr;
	bool requeue;

	dax_tsan_acquire(&a->rcu);	/* the edge call_rcu hides from TSan */
	/* Only this callback touches "closed" while it is in flight. */
	nr = a->closed.nr;
	while (done < nr) {
		size_t end = done + ALLOC_RELEASE_CHUNK < nr ?
				     done + ALLOC_RELEASE_CHUNK :
				     nr;

		pthread_mutex_lock(&a->lock);
		for (; done < end; done++) {
			const struct alloc_freed *f = &a->closed.v[done];

			bit_clear(a->orders[f->order].pending,
				  f->page >> f->order);
			a->orders[f->order].nr_pending--;
			a->pending_pages -= order_pages(f->order);
			release_locked(a, f->page, f->order);
		}
		pthread_mutex_unlock(&a->lock);
	}
	pthread_mutex_lock(&a->lock);
	a->closed.nr = 0;
	a->nr_released++;
	requeue = a->open.nr > 0;
	if (requeue) {
		struct alloc_batch t = a->closed;

		a->closed = a->open;
		a->open = t;
		a->nr_queued++;
	} else {
		a->in_flight = false;
	}
	pthread_mutex_unlock(&a->lock);
	if (requeue) {
		/*
		 * liburcu registered its own callback thread; the wrapper
		 * would register it a second time (and abort).
		 */
		dax_tsan_release(&a->rcu);
		urcu_memb_call_rcu(&a->rcu, batch_release);
	}
}

/* Make room for one more entry in @b; false without memory. */
static bool batch_reserve(struct alloc_batch *b)
{
	struct alloc_freed *v;
	size_t cap;

	if (b->nr < b->cap)
		return true;
	cap = b->cap ? 2 * b->cap : 64;
	v = realloc(b->v, cap * sizeof(*v));
	if (!v)
		return false;
	b->v = v;
	b->cap = cap;
	return true;
}

/**
 * dax_alloc_drain() - wait until every block freed before the call is free
 * @a: the allocator
 *
 * At most two grace periods: the batch in flight, then the one that was
 * collecting.  Frees made meanwhile by other threads are not waited for.
 * Context: any thread but not inside an RCU read-side section (nor an RCU
 * callback); sleeps.
 */
void dax_alloc_drain(struct dax_alloc *a)
{
	uint64_t target;

	pthread_mutex_lock(&a->lock);
	target = a->nr_queued + (a->open.nr ? 1 : 0);
	while (a->nr_released < target) {
		pthread_mutex_unlock(&a->lock);
		dax_rcu_barrier();
		pthread_mutex_lock(&a->lock);
	}
	pthread_mutex_unlock(&a->lock);
}

/**
 * dax_alloc_free_block() - free block (@page, @order) of @a after a grace
 * period
 * @a: the allocator
 * @page: the block's first page, as dax_alloc_block() returned it
 * @order: the order it was allocated with
 *
 * The block is checked and taken out of use at once (a second free fails);
 * it becomes free for reuse after an RCU grace period, so that a lock-free
 * reader still looking at an entry that points at it sees the old data.
 * Frees are batched: one call_rcu per batch (see struct dax_alloc).
 * Context: any thread, inside an RCU read-side section too.  Takes the
 * allocator's lock.
 * Return: 0; -EINVAL when the block is not allocated (double free, wrong
 * order, out of range), nothing changed; -ENOMEM when no memory is left to
 * queue the free inside an RCU read-side section (outside one it waits for
 * a grace period instead).
 */
int dax_alloc_free_block(struct dax_alloc *a, uint64_t page, unsigned order)
{
	uint64_t i = page >> order;
	bool queue = false, queued;
	int ret;

	ret = check_block_args(a, page, order);
	if (ret)
		return ret;
	pthread_mutex_lock(&a->lock);
	if (unlikely(!bit_test(a->orders[order].used, i))) {
		pthread_mutex_unlock(&a->lock);
		return not_allocated(a, page, order);
	}
	queued = batch_reserve(&a->open);
	if (unlikely(!queued && urcu_memb_read_ongoing())) {
		pthread_mutex_unlock(&a->lock);
		return dax_fail(alloc_log(a), -ENOMEM,
				"out of memory to queue the free of page "
				"0x%llx inside an RCU read-side section",
				(unsigned long long)page);
	}
	unmark_used(a, i, order);
	bit_set(a->orders[order].pending, i);
	a->orders[order].nr_pending++;
	a->used_pages -= order_pages(order);
	a->pending_pages += order_pages(order);
	a->nr_frees++;
	if (likely(queued)) {
		a->open.v[a->open.nr].page = page;
		a->open.v[a->open.nr].order = order;
		a->open.nr++;
		if (!a->in_flight) {
			struct alloc_batch t = a->closed;

			a->closed = a->open;
			a->open = t;
			a->in_flight = queue = true;
			a->nr_queued++;
		}
	}
	pthread_mutex_unlock(&a->lock);

	if (queue) {
		dax_tsan_release(&a->rcu);
		dax_call_rcu(&a->rcu, batch_release);
	} else if (unlikely(!queued)) {
		/* No memory to queue it: wait for the grace period here. */
		dax_rcu_synchronize();
		pthread_mutex_lock(&a->lock);
		bit_clear(a->orders[order].pending, i);
		a->orders[order].nr_pending--;
		a->pending_pages -= order_pages(order);
		release_locked(a, page, order);
		pthread_mutex_unlock(&a->lock);
	}
	return 0;
}

/**
 * dax_free_pages() - give a block back to the region's allocator
 * @region: the region it was allocated from
 * @page: its first page, as dax_alloc_pages() returned it
 * @order: the order it was allocated with
 *
 * The block can be allocated again only after an RCU grace period.  A
 * killed region still takes blocks back.
 * Context: any thread; takes the allocator's lock.
 * Return: 0; -EINVAL when (@page, @order) is not an allocated block of the
 * region (double free, wrong order, out of range): nothing changed;
 * -ENOMEM (see dax_alloc_free_block()).
 */
DAX_EXPORT int dax_free_pages(struct dax_region *region, uint64_t page,
			      unsigned order)
{
	struct dax_alloc *a;

	if (unlikely(!region))
		return dax_fail(NULL, -EINVAL, "dax_free_pages: region is NULL");
	a = dax_region_slot_get(region, DAX_REGION_SLOT_ALLOC);
	if (unlikely(!a))
		return dax_fail(dax_region_logger(region), -EINVAL,
				"page 0x%llx is not allocated: nothing was "
				"ever allocated from this region",
				(unsigned long long)page);
	return dax_alloc_free_block(a, page, order);
}

/* ---- ranges (the heap's extents) ------------------------------------------ */

unsigned dax_order_for_pages(uint64_t nr_pages)
{
	return nr_pages <= 1 ? 0 :
			       64 - (unsigned)__builtin_clzll(nr_pages - 1);
}

/**
 * dax_alloc_range() - allocate @nr_pages contiguous pages
 * @a: the allocator
 * @nr_pages: how many (any number, not only a power of two)
 * @align_order: the first page is a multiple of 2^@align_order
 * @page: receives the first page
 *
 * Takes the smallest block that holds the range, keeps the range as the
 * aligned blocks of @nr_pages' binary decomposition and frees the tail at
 * once, so no page is wasted.  Free the range, or any part of it, with
 * dax_alloc_free_range().
 * Context: any thread; takes the allocator's lock.
 * Return: 0, -EINVAL (nothing that large) or -ENOSPC.
 */
int dax_alloc_range(struct dax_alloc *a, uint64_t nr_pages,
		    unsigned align_order, uint64_t *page)
{
	unsigned k = dax_order_for_pages(nr_pages);
	uint64_t first, off, tail, end;
	char what[64];
	int ret;

	if (k < align_order)
		k = align_order;
	if (!nr_pages || nr_pages > a->nr_pages || k > a->max_order)
		return dax_fail(alloc_log(a), -EINVAL,
				"cannot allocate %llu pages aligned to 2^%u "
				"pages: the largest block the region holds "
				"is order %u",
				(unsigned long long)nr_pages, align_order,
				a->max_order);
	pthread_mutex_lock(&a->lock);
	ret = take_locked(a, k, &first);
	if (ret) {
		pthread_mutex_unlock(&a->lock);
		snprintf(what, sizeof(what), "a range of %llu pages",
			 (unsigned long long)nr_pages);
		return enospc(a, what, nr_pages);
	}
	a->nr_allocs++;
	if (nr_pages < order_pages(k)) {
		unmark_used(a, first >> k, k);
		off = 0;
		for (int j = (int)k - 1; j >= 0; j--) {
			if (nr_pages >> j & 1) {
				mark_used(a, (first + off) >> j, (unsigned)j);
				off += order_pages((unsigned)j);
			}
		}
		/* The tail: maximal aligned blocks, buddies of the head's. */
		tail = first + nr_pages;
		end = first + order_pages(k);
		a->used_pages -= end - tail;
		while (tail < end) {
			unsigned j = (unsigned)__builtin_ctzll(tail);

			while (tail + order_pages(j) > end)
				j--;
			release_locked(a, tail, j);
			tail += order_pages(j);
		}
	}
	pthread_mutex_unlock(&a->lock);
	*page = first;
	return 0;
}

/**
 * dax_alloc_free_range() - free @nr_pages allocated pages at once
 * @a: the allocator
 * @page: the first page
 * @nr_pages: how many
 *
 * Every page of the range must be allocated (by dax_alloc_range() or
 * dax_alloc_block(), in one piece or several); allocated blocks that
 * straddle its ends are split and keep their pages outside the range.  The
 * pages are free for reuse at once, with no grace period: for memory no
 * lock-free reader can reach (the heap's extents).
 * Context: any thread; takes the allocator's lock.
 * Return: 0, or -EINVAL when a page of the range is not allocated (nothing
 * changed).
 */
int dax_alloc_free_range(struct dax_alloc *a, uint64_t page,
			 uint64_t nr_pages)
{
	uint64_t end = page + nr_pages, cur, first;
	unsigned k;

	if (!nr_pages || page >= a->nr_pages || nr_pages > a->nr_pages - page)
		return dax_fail(alloc_log(a), -EINVAL,
				"range of %llu pages at page 0x%llx is "
				"outside the region's %llu pages",
				(unsigned long long)nr_pages,
				(unsigned long long)page,
				(unsigned long long)a->nr_pages);
	pthread_mutex_lock(&a->lock);
	for (cur = page; cur < end; cur = first + order_pages(k)) {
		if (find_block(a, cur, &k, &first) != BLOCK_USED) {
			pthread_mutex_unlock(&a->lock);
			return not_allocated(a, cur, 0);
		}
	}
	for (cur = page; cur < end; cur = first + order_pages(k)) {
		find_block(a, cur, &k, &first);
		split_used_locked(a, &first, &k, cur, end);
		unmark_used(a, first >> k, k);
		a->used_pages -= order_pages(k);
		release_locked(a, first, k);
	}
	a->nr_frees++;
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/* ---- poison ---------------------------------------------------------------- */

/**
 * dax_alloc_poison() - never hand out @page again
 * @a: the allocator
 * @page: a page of the region
 *
 * A free page leaves the free bitmaps at once (its free block is split and
 * the rest stays free); a page of an allocated or pending block stays with
 * it until the block is freed, and then only the block's good pages go
 * back.  Poisoning a page twice is not an error.
 * Context: any thread; takes the allocator's lock.
 * Return: 0, or -EINVAL when @page is outside the region.
 */
int dax_alloc_poison(struct dax_alloc *a, uint64_t page)
{
	uint64_t first;
	unsigned k;

	if (page >= a->nr_pages)
		return dax_fail(alloc_log(a), -EINVAL,
				"page 0x%llx is outside the region's %llu "
				"pages",
				(unsigned long long)page,
				(unsigned long long)a->nr_pages);
	pthread_mutex_lock(&a->lock);
	if (bit_test(a->poison, page)) {
		pthread_mutex_unlock(&a->lock);
		return 0;
	}
	bit_set(a->poison, page);
	a->nr_poisoned++;
	dax_publish_set(a->region, DAX_PUB_POISONED, a->nr_poisoned);
	if (find_block(a, page, &k, &first) == BLOCK_FREE) {
		unmark_free(a, first >> k, k);
		a->free_pages -= order_pages(k);
		release_locked(a, first, k);
	}
	pthread_mutex_unlock(&a->lock);
	return 0;
}

/* Whether @page is marked bad (false for pages outside the region). */
bool dax_alloc_is_poisoned(struct dax_alloc *a, uint64_t page)
{
	bool bad;

	if (page >= a->nr_pages)
		return false;
	pthread_mutex_lock(&a->lock);
	bad = bit_test(a->poison, page);
	pthread_mutex_unlock(&a->lock);
	return bad;
}

/* ---- statistics and checks -------------------------------------------------- */

static void stats_locked(struct dax_alloc *a, struct dax_alloc_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->total_pages = a->nr_pages;
	st->free_pages = a->free_pages;
	st->used_pages = a->used_pages;
	st->pending_pages = a->pending_pages;
	st->poisoned_pages = a->withdrawn_pages;
	st->max_order = a->max_order;
	st->largest_free_order = -1;
	st->nr_allocs = a->nr_allocs;
	st->nr_frees = a->nr_frees;
	st->nr_failures = a->nr_failures;
	for (unsigned k = 0; k <= a->max_order; k++) {
		st->nr_free[k] = a->orders[k].nr_free;
		st->nr_used[k] = a->orders[k].nr_used;
		st->nr_pending[k] = a->orders[k].nr_pending;
		if (a->orders[k].nr_free)
			st->largest_free_order = (int)k;
	}
	if (st->largest_free_order >= 0) {
		uint64_t big = order_pages((unsigned)st->largest_free_order);

		st->largest_free_pages = big;
		st->fragmentation = (unsigned)(1000 * (st->free_pages - big) /
					       st->free_pages);
	}
}

/* dax_alloc_get_stats() for an allocator in hand. */
void dax_alloc_stats(struct dax_alloc *a, struct dax_alloc_stats *st)
{
	pthread_mutex_lock(&a->lock);
	stats_locked(a, st);
	pthread_mutex_unlock(&a->lock);
}

/**
 * dax_alloc_get_stats() - a consistent snapshot of the allocator's counters
 * @region: the region
 * @stats: receives them
 *
 * A region nothing was allocated from yet reports all of its pages free
 * (and creates its allocator to say so).
 * Context: any thread; takes the allocator's lock; a killed region too.
 * Return: 0, -EINVAL (NULL argument) or -ENOMEM.
 */
DAX_EXPORT int dax_alloc_get_stats(struct dax_region *region,
				   struct dax_alloc_stats *stats)
{
	struct dax_alloc *a;
	int ret;

	if (unlikely(!region || !stats))
		return dax_fail(NULL, -EINVAL,
				"dax_alloc_get_stats: %s is NULL",
				region ? "stats" : "region");
	ret = dax_alloc_get(region, &a);
	if (ret)
		return ret;
	dax_alloc_stats(a, stats);
	return 0;
}

static int check_fail(struct dax_alloc *a, const char *what, uint64_t page,
		      unsigned k)
{
	return dax_fail(alloc_log(a), -EUCLEAN,
			"allocator check: %s (page 0x%llx, order %u)", what,
			(unsigned long long)page, k);
}

/* Mark [page, page + n) in @seen; false if any was marked already. */
static bool mark_seen(uint64_t *seen, uint64_t page, uint64_t n)
{
	bool ok = true;

	for (uint64_t p = page; p < page + n;) {
		if (p % 64 == 0 && p + 64 <= page + n) {
			if (seen[p / 64])
				ok = false;
			seen[p / 64] = ~UINT64_C(0);
			p += 64;
		} else {
			if (bit_test(seen, p))
				ok = false;
			bit_set(seen, p);
			p++;
		}
	}
	return ok;
}

/**
 * dax_alloc_check() - verify every invariant of @a from scratch
 *
 * Each page is in exactly one free, used or pending block or withdrawn as
 * poisoned; no free block holds a bad page or has a free buddy; the
 * summary bits match; the counters match the bitmaps.  O(pages): for tests.
 * Context: any thread; holds the allocator's lock throughout.
 * Return: 0, -ENOMEM, or -EUCLEAN with dax_errormsg() saying what is wrong.
 */
int dax_alloc_check(struct dax_alloc *a)
{
	uint64_t *seen = calloc(words_for(a->nr_pages), sizeof(uint64_t));
	uint64_t pages[3] = { 0, 0, 0 }, withdrawn = 0, poisoned = 0;
	int ret = 0;

	if (!seen)
		return -ENOMEM;
	pthread_mutex_lock(&a->lock);
	for (unsigned k = 0; k <= a->max_order && !ret; k++) {
		struct alloc_order *o = &a->orders[k];
		uint64_t n[3] = { 0, 0, 0 };

		for (uint64_t i = 0; i < o->nr_blocks && !ret; i++) {
			uint64_t page = i << k;
			int states = fb_test(&o->free, i) +
				     bit_test(o->used, i) +
				     bit_test(o->pending, i);

			if (!states)
				continue;
			if (states > 1)
				ret = check_fail(a, "block in two states",
						 page, k);
			else if (!mark_seen(seen, page, order_pages(k)))
				ret = check_fail(a, "page in two blocks",
						 page, k);
			else if (fb_test(&o->free, i)) {
				n[0]++;
				if (range_has_poison(a, page, order_pages(k)))
					ret = check_fail(a,
						"free block holds a bad page",
						page, k);
				else if (k < a->max_order &&
					 (i ^ 1) < o->nr_blocks &&
					 fb_test(&o->free, i ^ 1))
					ret = check_fail(a,
						"free buddies not merged",
						page, k);
			} else if (bit_test(o->used, i)) {
				n[1]++;
			} else {
				n[2]++;
			}
		}
		/* Summary levels: bit set iff the word below is non-zero. */
		for (unsigned l = 1; l < o->free.nr_levels && !ret; l++) {
			uint64_t below = o->nr_blocks;

			for (unsigned m = 1; m < l; m++)
				below = words_for(below);
			below = words_for(below);
			for (uint64_t w = 0; w < below; w++) {
				if (bit_test(o->free.words[l], w) !=
				    (o->free.words[l - 1][w] != 0)) {
					ret = check_fail(a,
						"summary bit out of date", w,
						k);
					break;
				}
			}
		}
		if (!ret && (n[0] != o->nr_free || n[1] != o->nr_used ||
			     n[2] != o->nr_pending))
			ret = check_fail(a, "block counters disagree", 0, k);
		for (int s = 0; s < 3; s++)
			pages[s] += n[s] << k;
	}
	for (uint64_t p = 0; p < a->nr_pages && !ret; p++) {
		bool bad = bit_test(a->poison, p);

		poisoned += bad;
		if (!bit_test(seen, p)) {
			if (!bad)
				ret = check_fail(a, "page in no block", p, 0);
			withdrawn++;
		}
	}
	if (!ret && (pages[0] != a->free_pages || pages[1] != a->used_pages ||
		     pages[2] != a->pending_pages ||
		     withdrawn != a->withdrawn_pages ||
		     poisoned != a->nr_poisoned))
		ret = check_fail(a, "page counters disagree", 0, 0);
	pthread_mutex_unlock(&a->lock);
	free(seen);
	return ret;
}
