// SPDX-License-Identifier: MIT
/*
 * Concurrency stress for the fault path (libdax/fault.c): many threads
 * fault the same few indices of a fresh mapping, for read and for write,
 * at 4 KiB and 2 MiB, round after round; the race the kernel's DAX code
 * closed in 2015 (a reader maps a hole while a writer allocates the same
 * index) must never lose a write.
 *
 * Each index has one 64-bit counter at the start of its page.  A writer
 * faults for write and increments the counter atomically (under
 * DAX_FAULT_LOCK half of the time), then publishes the value it wrote in
 * published[i] (an atomic max).  A reader first reads published[i], then
 * faults for read and loads the counter.  Invariants:
 * - a read never sees less than what was published before it started: a
 *   reader that got the zero area after a write, or a writer that got a
 *   second block for the same index, shows up as a smaller value;
 * - at the end of a round, no entry is locked or an EMPTY placeholder, no
 *   two entries share a region page, and the pages of the entries are
 *   exactly the pages the allocator says are in use (nothing allocated
 *   twice, nothing leaked);
 * - after the round's blocks are given back and the mapping is destroyed,
 *   the allocator's accounting balances (every page free, dax_alloc_check).
 * A second scenario kills the mapping while threads fault: they must all
 * see -ENXIO from then on and leave nothing locked or leaked.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

/*
 * Beside liburcu (stress.h): tree.c's RCU callback tree_delete_cb() is
 * reported against the tree's allocation when a mapping is dropped by a
 * thread that reached it only through an RCU lookup: liburcu's
 * rcu_dereference() is a consume load, which orders the accesses but is no
 * acquire in TSan's eyes.
 */
#define STRESS_TSAN_EXTRA "race:tree_delete_cb\n"
#include "stress.h"
#include "libdax/internal.h"
#include "accounting.h"

#define NR_THREADS 4
#define SPAN 2048		/* pages of the mapping: four 2 MiB ranges */
#define HOT 64			/* indices per 2 MiB range that are used */
#define OPS_PER_ROUND 1500	/* per thread */
#define PAGE 4096

static const struct dax_mapping_ops default_ops;
static struct dax_region *region;
static struct dax_mapping *m;
static _Atomic uint64_t published[SPAN];
static pthread_barrier_t start_line, finish_line;
static atomic_bool stop, killing;
static atomic_int violations;
static _Atomic unsigned long nr_reads, nr_writes, nr_zero_reads;

#define violation(...)                                                         \
	do {                                                                   \
		if (atomic_fetch_add(&violations, 1) < 5) {                    \
			fprintf(stderr, "violation: " __VA_ARGS__);            \
			fprintf(stderr, " (%s)\n", dax_errormsg());            \
		}                                                              \
	} while (0)

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A hot index: HOT of them in each 2 MiB range, some at its start. */
static uint64_t pick_index(uint64_t *s)
{
	uint64_t range = rnd(s) % (SPAN / 512);

	return range * 512 + (rnd(s) % HOT) * 7;
}

static void publish(uint64_t i, uint64_t v)
{
	uint64_t cur = atomic_load(&published[i]);

	while (cur < v && !atomic_compare_exchange_weak(&published[i], &cur, v))
		;
}

static unsigned size_flag(uint64_t *s)
{
	return rnd(s) % 2 ? DAX_FAULT_SIZE_2M : 0;
}

/* One operation; false when the mapping died (expected while killing). */
static bool one_op(uint64_t *s)
{
	uint64_t i = pick_index(s), before, v;
	unsigned flags = size_flag(s);
	struct dax_fault_ext ext;
	int ret;

	if (rnd(s) % 2) {
		bool lock = rnd(s) % 2;

		flags |= DAX_FAULT_WRITE | (lock ? DAX_FAULT_LOCK : 0);
		ret = dax_fault(m, i, flags, &ext);
		if (ret) {
			if (ret != -ENXIO || !atomic_load(&killing))
				violation("write fault of 0x%llx: %d",
					  (unsigned long long)i, ret);
			return false;
		}
		if (ext.flags & DAX_FAULT_EXT_ZERO)
			violation("write fault of 0x%llx returned a hole",
				  (unsigned long long)i);
		v = __atomic_add_fetch((uint64_t *)ext.addr, 1,
				       __ATOMIC_SEQ_CST);
		publish(i, v);
		if (lock && dax_unlock(m, ext.cookie))
			violation("unlock of 0x%llx", (unsigned long long)i);
		atomic_fetch_add_explicit(&nr_writes, 1, memory_order_relaxed);
		return true;
	}
	before = atomic_load(&published[i]);
	ret = dax_fault(m, i, flags, &ext);
	if (ret) {
		if (ret != -ENXIO || !atomic_load(&killing))
			violation("read fault of 0x%llx: %d",
				  (unsigned long long)i, ret);
		return false;
	}
	v = __atomic_load_n((uint64_t *)ext.addr, __ATOMIC_SEQ_CST);
	if (v < before)
		violation("index 0x%llx reads %llu after %llu was published "
			  "(%s)", (unsigned long long)i, (unsigned long long)v,
			  (unsigned long long)before,
			  ext.flags & DAX_FAULT_EXT_ZERO ? "the zero area"
							 : "a block");
	if (ext.flags & DAX_FAULT_EXT_ZERO)
		atomic_fetch_add_explicit(&nr_zero_reads, 1,
					  memory_order_relaxed);
	atomic_fetch_add_explicit(&nr_reads, 1, memory_order_relaxed);
	return true;
}

static void *worker(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;

	for (;;) {
		pthread_barrier_wait(&start_line);
		if (atomic_load(&stop))
			return NULL;
		for (unsigned n = 0; n < OPS_PER_ROUND; n++)
			if (!one_op(&seed))
				break;
		pthread_barrier_wait(&finish_line);
	}
}

/* ---- the end of a round -------------------------------------------------- */

struct extent {
	uint64_t pfn, pages;
};

struct audit {
	struct extent *ext;
	uint64_t n, cap, pages, bad;
};

static int audit_entry(void *priv, uint64_t first, unsigned order,
		       uint64_t v)
{
	struct audit *a = priv;

	if (dax_entry_is_locked(v) || dax_entry_is_empty(v) ||
	    dax_entry_order(v) != order) {
		a->bad++;
		return 0;
	}
	if (!dax_entry_is_real(v))
		return 0;
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 256;
		a->ext = realloc(a->ext, a->cap * sizeof(*a->ext));
	}
	a->ext[a->n].pfn = dax_entry_pfn(v);
	a->ext[a->n].pages = UINT64_C(1) << order;
	a->pages += UINT64_C(1) << order;
	a->n++;
	return 0;
}

static int by_pfn(const void *x, const void *y)
{
	const struct extent *a = x, *b = y;

	return a->pfn < b->pfn ? -1 : a->pfn > b->pfn;
}

/* Entries sane, disjoint, and exactly the allocator's used pages. */
static bool audit_mapping(void)
{
	struct dax_alloc_stats st;
	struct audit a = { 0 };
	bool ok = true;

	dax_tree_walk(dax_mapping_tree(m), 0, UINT64_MAX, DAX_TREE_PRESENT,
		      audit_entry, &a);
	if (a.bad) {
		violation("%llu entries locked or placeholders after a round",
			  (unsigned long long)a.bad);
		ok = false;
	}
	qsort(a.ext, a.n, sizeof(*a.ext), by_pfn);
	for (uint64_t k = 1; k < a.n; k++)
		if (a.ext[k - 1].pfn + a.ext[k - 1].pages > a.ext[k].pfn) {
			violation("pages 0x%llx.. are in two entries",
				  (unsigned long long)a.ext[k].pfn);
			ok = false;
			break;
		}
	dax_alloc_get_stats(region, &st);
	if (st.used_pages != a.pages) {
		violation("the allocator has %llu pages in use, the entries "
			  "%llu (leaked or doubly allocated)",
			  (unsigned long long)st.used_pages,
			  (unsigned long long)a.pages);
		ok = false;
	}
	free(a.ext);
	return ok;
}

/* Give the round's blocks back, destroy the mapping, check the books. */
static bool end_round(void)
{
	struct dax_alloc_stats st;
	struct dax_alloc *alloc;
	bool ok = audit_mapping();

	if (dax_fault_release_blocks(m)) {
		violation("release_blocks failed");
		ok = false;
	}
	dax_mapping_put(&m);
	stress_settled_alloc_stats(region, &st);
	if (st.used_pages || st.pending_pages || st.free_pages != st.total_pages) {
		violation("after the round: %llu used, %llu pending, %llu of "
			  "%llu free", (unsigned long long)st.used_pages,
			  (unsigned long long)st.pending_pages,
			  (unsigned long long)st.free_pages,
			  (unsigned long long)st.total_pages);
		ok = false;
	}
	if (dax_alloc_get(region, &alloc) || dax_alloc_check(alloc)) {
		violation("allocator check");
		ok = false;
	}
	return ok;
}

static bool new_round(void)
{
	memset(published, 0, sizeof(published));
	if (dax_mapping_new(region, &default_ops, NULL, SPAN * PAGE, &m)) {
		violation("mapping_new");
		return false;
	}
	return true;
}

static bool run_rounds(bool kill)
{
	pthread_t t[NR_THREADS];
	double end = stress_now() + stress_seconds();
	unsigned long rounds = 0;
	struct dax_fault_stats fs, total = { 0 };
	bool ok = true;

	atomic_store(&stop, false);
	atomic_store(&violations, 0);
	atomic_store(&nr_reads, 0);
	atomic_store(&nr_writes, 0);
	atomic_store(&nr_zero_reads, 0);
	atomic_store(&killing, kill);
	pthread_barrier_init(&start_line, NULL, NR_THREADS + 1);
	pthread_barrier_init(&finish_line, NULL, NR_THREADS + 1);
	for (uintptr_t k = 0; k < NR_THREADS; k++)
		pthread_create(&t[k], NULL, worker, (void *)(k + 1));
	while (ok && stress_now() < end) {
		if (!new_round())
			break;
		pthread_barrier_wait(&start_line);
		if (kill) {
			usleep(200 + rounds % 7 * 300);
			dax_mapping_kill(m);
		}
		pthread_barrier_wait(&finish_line);
		dax_fault_get_stats(m, &fs);
		for (unsigned k = 0; k < DAX_FAULT_NR_SIZES; k++)
			total.faults[k] += fs.faults[k];
		total.fallbacks[DAX_FAULT_FALLBACK_CONFLICT] +=
			fs.fallbacks[DAX_FAULT_FALLBACK_CONFLICT];
		total.zero_installs += fs.zero_installs;
		total.allocations += fs.allocations;
		ok = end_round() && atomic_load(&violations) == 0;
		rounds++;
	}
	atomic_store(&stop, true);
	pthread_barrier_wait(&start_line);
	for (unsigned k = 0; k < NR_THREADS; k++)
		pthread_join(t[k], NULL);
	pthread_barrier_destroy(&start_line);
	pthread_barrier_destroy(&finish_line);
	if (m)
		dax_mapping_put(&m);
	printf("     %lu rounds, %lu reads (%lu of zeroes), %lu writes; faults "
	       "4K %llu 2M %llu, conflicts %llu, zero installs %llu, "
	       "allocations %llu\n",
	       rounds, atomic_load(&nr_reads), atomic_load(&nr_zero_reads),
	       atomic_load(&nr_writes), (unsigned long long)total.faults[0],
	       (unsigned long long)total.faults[1],
	       (unsigned long long)total.fallbacks[DAX_FAULT_FALLBACK_CONFLICT],
	       (unsigned long long)total.zero_installs,
	       (unsigned long long)total.allocations);
	return ok && atomic_load(&violations) == 0 && rounds > 0;
}

static bool holes_and_writes_race_at_4k_and_2m(void)
{
	return run_rounds(false);
}

static bool faults_race_a_mapping_kill(void)
{
	return run_rounds(true);
}

int main(void)
{
	struct dax_region_opts *o;

	if (dax_region_opts_new(&o) || dax_region_opts_set_size(o, 64 << 20) ||
	    dax_region_open("memfd:fault-stress", o, &region)) {
		fprintf(stderr, "cannot open a region: %s\n", dax_errormsg());
		return 1;
	}
	dax_region_opts_delete(&o);
	stress_run(holes_and_writes_race_at_4k_and_2m);
	stress_run(faults_race_a_mapping_kill);
	dax_region_close(&region);
	dax_rcu_barrier();
	return stress_report();
}
