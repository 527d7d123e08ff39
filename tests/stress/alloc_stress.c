// SPDX-License-Identifier: MIT
/*
 * Concurrency stress for the block allocator (libdax/alloc.c).
 *
 * - churn: threads allocate and free blocks of orders 0..10 and ranges of
 *   any length; an atomic owner byte per page proves that no page is ever
 *   handed to two holders at once.
 * - grace: writers publish blocks in slots that lock-free readers look at
 *   under RCU, then unpublish and free them; a reader that sees the tag of
 *   its block change to another holder's inside one read-side section has
 *   caught a block reused before its grace period.
 * - poison: a thread poisons pages while others allocate; no block may
 *   hold a page whose poisoning had finished before the block was asked
 *   for.
 * Each scenario ends with every block freed: the counters must add up, the
 * region must be one free block again (less its bad pages), and
 * dax_alloc_check() must pass.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "stress.h"
#include "libdax/internal.h"

#define NR_THREADS 4
#define NR_PAGES 8192	/* 32 MiB: small, so that threads collide */
#define HELD 64

static struct dax_region *region;
static struct dax_alloc *alloc;
static atomic_uchar owner[NR_PAGES];
static atomic_bool stop;
static atomic_int violations;
static atomic_uint_fast64_t ops;

static void violation(const char *what, uint64_t page, uint64_t extra)
{
	if (atomic_fetch_add(&violations, 1) < 10)
		fprintf(stderr, "VIOLATION: %s: page 0x%llx (0x%llx)\n", what,
			(unsigned long long)page, (unsigned long long)extra);
}

static bool open_region(void)
{
	struct dax_region_opts *opts;
	int ret;

	if (dax_region_opts_new(&opts) ||
	    dax_region_opts_set_size(opts, NR_PAGES * 4096ULL))
		return false;
	ret = dax_region_open("memfd:alloc-stress", opts, &region);
	dax_region_opts_delete(&opts);
	if (ret || dax_alloc_get(region, &alloc))
		return false;
	memset(owner, 0, sizeof(owner));
	atomic_store(&stop, false);
	atomic_store(&violations, 0);
	atomic_store(&ops, 0);
	return true;
}

static void take(uint64_t page, uint64_t n, unsigned char who)
{
	for (uint64_t i = page; i < page + n; i++)
		if (atomic_exchange(&owner[i], who))
			violation("page handed out twice", i, who);
}

static void give(uint64_t page, uint64_t n, unsigned char who)
{
	for (uint64_t i = page; i < page + n; i++)
		if (atomic_exchange(&owner[i], 0) != who)
			violation("page lost its owner", i, who);
}

/* After every block is freed: whole again, counters balanced, invariants. */
static bool settle_and_check(uint64_t bad_pages)
{
	struct dax_alloc_stats st;

	dax_alloc_drain(alloc);
	stress_check(atomic_load(&violations) == 0, "%d violations",
		     atomic_load(&violations));
	stress_check(dax_alloc_get_stats(region, &st) == 0, "stats");
	stress_check(st.used_pages == 0 && st.pending_pages == 0,
		     "used %llu pending %llu",
		     (unsigned long long)st.used_pages,
		     (unsigned long long)st.pending_pages);
	stress_check(st.free_pages + st.poisoned_pages == NR_PAGES,
		     "free %llu poisoned %llu",
		     (unsigned long long)st.free_pages,
		     (unsigned long long)st.poisoned_pages);
	stress_check(st.poisoned_pages == bad_pages, "poisoned %llu, want %llu",
		     (unsigned long long)st.poisoned_pages,
		     (unsigned long long)bad_pages);
	if (!bad_pages)
		stress_check(st.nr_free[13] == 1, "not one block again");
	stress_check(dax_alloc_check(alloc) == 0, "check");
	stress_check(dax_region_close(&region) == 0, "close");
	return true;
}

/* ---- churn ---------------------------------------------------------------- */

struct held {
	uint64_t page, n;
	unsigned order;	/* 64: a range */
};

static void *churn_main(void *arg)
{
	unsigned char who = (unsigned char)(uintptr_t)arg;
	unsigned seed = who * 7919u;
	struct held held[HELD];
	int nheld = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		if (nheld < HELD && (nheld == 0 || rand_r(&seed) % 2)) {
			struct held h;
			int kind = rand_r(&seed) % 8;

			if (kind == 0) {
				h.n = rand_r(&seed) % 300 + 1;
				h.order = 64;
				if (dax_alloc_range(alloc, h.n, 0, &h.page))
					continue;
			} else {
				h.order = kind == 1 ? rand_r(&seed) % 11 : 0;
				h.n = 1ULL << h.order;
				if (dax_alloc_pages(region, h.order, 0,
						    &h.page))
					continue;
			}
			take(h.page, h.n, who);
			held[nheld++] = h;
		} else {
			int j = rand_r(&seed) % nheld;
			struct held h = held[j];

			give(h.page, h.n, who);
			if (h.order == 64 ?
				    dax_alloc_free_range(alloc, h.page, h.n) :
				    dax_free_pages(region, h.page, h.order))
				violation("free refused", h.page, h.order);
			held[j] = held[--nheld];
		}
		atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
	}
	while (nheld--) {
		struct held h = held[nheld];

		give(h.page, h.n, who);
		if (h.order == 64)
			dax_alloc_free_range(alloc, h.page, h.n);
		else
			dax_free_pages(region, h.page, h.order);
	}
	return NULL;
}

static void run_threads(void *(*fn)(void *), int n, pthread_t *t)
{
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, fn, (void *)(uintptr_t)(i + 1));
}

static void stop_threads(int n, pthread_t *t)
{
	usleep((useconds_t)(stress_seconds() * 1e6));
	atomic_store(&stop, true);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

static bool churn(void)
{
	pthread_t t[NR_THREADS];

	stress_check(open_region(), "open: %s", dax_errormsg());
	run_threads(churn_main, NR_THREADS, t);
	stop_threads(NR_THREADS, t);
	printf("     churn: %.0f alloc/free calls\n", (double)atomic_load(&ops));
	return settle_and_check(0);
}

/* ---- grace ---------------------------------------------------------------- */

#define SLOTS 16

/* A published block: order << 32 | (page + 1); 0 when empty. */
static _Atomic uint64_t slot[SLOTS];
static _Atomic uint64_t tag[NR_PAGES];	/* the holder's tag, 0: none */
static atomic_uint_fast64_t next_tag = 1;

static void *grace_reader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t s, t1, t2;

		dax_rcu_read_lock();
		s = atomic_load(&slot[rand_r(&seed) % SLOTS]);
		if (s) {
			uint64_t p = (s & 0xffffffffu) - 1;

			t1 = atomic_load(&tag[p]);
			for (int i = 0; i < 200; i++)
				__asm__ volatile("" ::: "memory");
			t2 = atomic_load(&tag[p]);
			/* Unpublished (0) is fine; another holder is not. */
			if (t1 && t2 && t1 != t2)
				violation("block reused inside a grace period",
					  p, t2);
		}
		dax_rcu_read_unlock();
		atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
	}
	return NULL;
}

static void *grace_writer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 31u;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned order = rand_r(&seed) % 4 ? 0 : 9;
		uint64_t page, old;

		if (dax_alloc_pages(region, order, DAX_ALLOC_WAIT, &page))
			continue;
		atomic_store(&tag[page], atomic_fetch_add(&next_tag, 1));
		old = atomic_exchange(&slot[rand_r(&seed) % SLOTS],
				      page + 1 + ((uint64_t)order << 32));
		if (old) {
			uint64_t p = (old & 0xffffffffu) - 1;

			atomic_store(&tag[p], 0);
			if (dax_free_pages(region, p, (unsigned)(old >> 32)))
				violation("free refused", p, old >> 32);
		}
	}
	return NULL;
}

static bool grace(void)
{
	pthread_t r[2], w[2];

	stress_check(open_region(), "open: %s", dax_errormsg());
	memset(slot, 0, sizeof(slot));
	memset(tag, 0, sizeof(tag));
	run_threads(grace_reader, 2, r);
	run_threads(grace_writer, 2, w);
	usleep((useconds_t)(stress_seconds() * 1e6));
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++) {
		pthread_join(r[i], NULL);
		pthread_join(w[i], NULL);
	}
	for (int i = 0; i < SLOTS; i++) {
		uint64_t s = atomic_load(&slot[i]);

		if (s)
			dax_free_pages(region, (s & 0xffffffffu) - 1,
				       (unsigned)(s >> 32));
	}
	printf("     grace: %.0f read-side sections\n",
	       (double)atomic_load(&ops));
	return settle_and_check(0);
}

/* ---- poison --------------------------------------------------------------- */

static atomic_uint_fast64_t clock_seq = 1;
static _Atomic uint64_t poisoned_at[NR_PAGES];
static atomic_uint nr_bad;

static void *poison_main(void *arg)
{
	unsigned seed = 4242;

	while (!atomic_load_explicit(&stop, memory_order_relaxed) &&
	       atomic_load(&nr_bad) < NR_PAGES / 16) {
		uint64_t page = rand_r(&seed) % NR_PAGES;

		if (atomic_load(&poisoned_at[page]))
			continue;
		if (dax_alloc_poison(alloc, page))
			violation("poison refused", page, 0);
		atomic_store(&poisoned_at[page],
			     atomic_fetch_add(&clock_seq, 1));
		atomic_fetch_add(&nr_bad, 1);
		usleep(100);
	}
	return NULL;
}

static void *poison_user(void *arg)
{
	unsigned char who = (unsigned char)(uintptr_t)arg;
	unsigned seed = who;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned order = rand_r(&seed) % 3 ? 0 : rand_r(&seed) % 6;
		uint64_t now = atomic_load(&clock_seq), page;

		if (dax_alloc_pages(region, order, DAX_ALLOC_WAIT, &page))
			continue;
		for (uint64_t i = page; i < page + (1ULL << order); i++) {
			uint64_t at = atomic_load(&poisoned_at[i]);

			if (at && at < now)
				violation("handed out a poisoned page", i, at);
		}
		take(page, 1ULL << order, who);
		give(page, 1ULL << order, who);
		dax_free_pages(region, page, order);
		atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
	}
	return NULL;
}

static bool poison(void)
{
	pthread_t p, u[3];

	stress_check(open_region(), "open: %s", dax_errormsg());
	memset(poisoned_at, 0, sizeof(poisoned_at));
	atomic_store(&nr_bad, 0);
	run_threads(poison_main, 1, &p);
	run_threads(poison_user, 3, u);
	usleep((useconds_t)(stress_seconds() * 1e6));
	atomic_store(&stop, true);
	pthread_join(p, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(u[i], NULL);
	printf("     poison: %u bad pages, %.0f allocations\n",
	       atomic_load(&nr_bad), (double)atomic_load(&ops));
	return settle_and_check(atomic_load(&nr_bad));
}

int main(void)
{
	stress_run(churn);
	stress_run(grace);
	stress_run(poison);
	return stress_report();
}
