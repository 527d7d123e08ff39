// SPDX-License-Identifier: MIT
/*
 * Pins, faults and truncates racing on one mapping (libdax/layout.c).
 *
 * Writers pin a page, fault it for writing (4 KiB or 2 MiB) and fill it
 * with its tag; readers pin a page, fault it and check, twice over a short
 * wait, that every byte is 0 or the page's tag (a block freed under a pin
 * and reused for another page shows a foreign tag); a changer truncates the
 * mapping at random points (growing it back) and punches random holes,
 * checking that every block outside the removed range is still where it
 * was (no lost data).  At the end the real entries' pages must equal the allocator's
 * used pages (no block both free and mapped, none leaked).
 *
 * A second scenario checks the drain handshake itself: pinners mark
 * themselves holding right after dax_pin_range() returns and clear the
 * mark before dax_unpin(), while a drainer runs dax_break_layouts() over
 * the whole mapping in a loop; a hook that layout.c calls once a change
 * is drained watches the marks for a while.  A pin that slipped past a
 * drain (counted after the drainer read the counts, yet not refused) shows
 * up as a mark set inside the drained window.  It runs a second time with
 * the fallback for kernels without membarrier (full fences on both sides).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "stress.h"
#include "libdax/internal.h"
#include "accounting.h"

#define PAGE 4096
#define NR_PAGES 2048			/* 8 MiB mapping */
#define NR_WRITERS 2
#define NR_READERS 2

static struct dax_region *r;
static struct dax_mapping *m;
static struct dax_region *regions[3];	/* made by prepare() */
static struct dax_mapping *mappings[3];
static const struct dax_mapping_ops ops;
static _Atomic bool stop;
static _Atomic long violations, reads_checked, truncates, punches;

static unsigned char tag(uint64_t index)
{
	return (unsigned char)(index % 251 + 1);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *writer(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 7919 + 1;

	while (!atomic_load(&stop)) {
		uint64_t idx = rnd(&seed) % NR_PAGES;
		unsigned flags = DAX_FAULT_WRITE |
				 (rnd(&seed) % 8 == 0 ? DAX_FAULT_SIZE_2M : 0);
		struct dax_fault_ext ext;
		struct dax_pin *p;

		if (dax_pin_range(m, idx, idx, 0, &p))
			continue;
		if (dax_fault(m, idx, flags, &ext) == 0)
			memset(ext.addr, tag(idx), PAGE);
		dax_unpin(&p);
	}
	return NULL;
}

static bool page_ok(const unsigned char *c, unsigned char t)
{
	for (size_t i = 0; i < PAGE; i += 64)
		if (c[i] && c[i] != t)
			return false;
	return true;
}

/*
 * Read the entry as dax_fault()'s fast path does: by the word's own order.
 * A split (a truncate cutting a 2 MiB entry the pin does not cover)
 * rewrites the pieces' slots one by one under the entry lock, so a
 * lock-free load may briefly find the old, locked order-9 word in an
 * order-0 slot; the word still says which page backs @idx.
 */
static bool pfn_still(uint64_t idx, const struct dax_fault_ext *ext)
{
	uint64_t v = dax_tree_load(m->tree, idx);

	return v && dax_entry_is_real(v) &&
	       dax_entry_pfn(v) + (idx - dax_entry_first(v, idx)) ==
		       ext->pfn + (idx - ext->first);
}

static void *reader(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 104729 + 3;

	while (!atomic_load(&stop)) {
		uint64_t idx = rnd(&seed) % NR_PAGES;
		struct dax_fault_ext ext;
		struct dax_pin *p;

		if (dax_pin_range(m, idx, idx, rnd(&seed) % 2 ? DAX_PIN_NOWAIT : 0,
				  &p))
			continue;
		if (dax_fault(m, idx, 0, &ext) == 0) {
			if (!page_ok(ext.addr, tag(idx)) &&
			    atomic_fetch_add(&violations, 1) < 10)
				fprintf(stderr, "page %llu: foreign data\n",
					(unsigned long long)idx);
			for (volatile int i = 0; i < 2000; i++)
				;
			if (!page_ok(ext.addr, tag(idx)))
				atomic_fetch_add(&violations, 1);
			/* no layout change completes while a pin is held:
			 * a real entry stays where it is */
			if (ext.pfn && !pfn_still(idx, &ext) &&
			    atomic_fetch_add(&violations, 1) < 10)
				fprintf(stderr, "page %llu: its block went "
					"away under a pin\n",
					(unsigned long long)idx);
			atomic_fetch_add(&reads_checked, 1);
		}
		dax_unpin(&p);
	}
	return NULL;
}

struct snap {
	uint64_t index, pfn;
};

static struct snap snaps[NR_PAGES];

/* Record the real entries wholly outside [lo, hi]: only the changer thread
 * removes entries, and a fault never replaces a real entry. */
static unsigned snapshot(uint64_t lo, uint64_t hi)
{
	uint64_t index = 0, v;
	unsigned order, n = 0;

	while ((v = dax_tree_find(m->tree, &index, NR_PAGES - 1,
				  DAX_TREE_PRESENT, &order)) != 0) {
		uint64_t last = index + (UINT64_C(1) << order) - 1;

		if (dax_entry_is_real(v) && (last < lo || index > hi))
			snaps[n++] = (struct snap){ index, dax_entry_pfn(v) };
		index = last + 1;
		if (index >= NR_PAGES)
			break;
	}
	return n;
}

static void check_snapshot(unsigned n, const char *what, uint64_t lo,
			   uint64_t hi)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t first, v;
		unsigned order;

		v = dax_tree_load_covering(m->tree, snaps[i].index, &first,
					   &order);
		if (!v || !dax_entry_is_real(v) ||
		    dax_entry_pfn(v) + (snaps[i].index - first) !=
			    snaps[i].pfn) {
			if (atomic_fetch_add(&violations, 1) < 10)
				fprintf(stderr, "block at %llu lost by a %s "
					"of [%llu, %llu]\n",
					(unsigned long long)snaps[i].index,
					what, (unsigned long long)lo,
					(unsigned long long)hi);
		}
	}
}

/* Truncates (and grows back) and punches holes, one at a time. */
static void *changer(void *arg)
{
	uint64_t seed = 12345;

	(void)arg;
	while (!atomic_load(&stop)) {
		uint64_t lo = rnd(&seed) % NR_PAGES, hi = NR_PAGES - 1;
		bool punch = rnd(&seed) % 2;
		unsigned n;
		int ret;

		if (punch) {
			hi = lo + rnd(&seed) % 600;
			if (hi >= NR_PAGES)
				hi = NR_PAGES - 1;
		}
		n = snapshot(lo, hi);
		ret = punch ? dax_punch_hole(m, lo * PAGE, (hi - lo + 1) * PAGE)
			    : dax_truncate(m, lo * PAGE);
		if (ret) {
			fprintf(stderr, "%s: %s: %s\n", punch ? "punch" :
				"truncate", strerror(-ret), dax_errormsg());
			atomic_fetch_add(&violations, 1);
			continue;
		}
		check_snapshot(n, punch ? "punch" : "truncate", lo, hi);
		if (!punch &&
		    dax_truncate(m, (uint64_t)NR_PAGES * PAGE))
			atomic_fetch_add(&violations, 1);
		atomic_fetch_add(punch ? &punches : &truncates, 1);
	}
	return NULL;
}

static bool pins_faults_and_truncates_race(void)
{
	pthread_t t[NR_WRITERS + NR_READERS + 1];
	struct dax_alloc_stats st;
	uint64_t mapped;
	unsigned n = 0;
	double end;

	r = regions[0];
	m = mappings[0];
	atomic_store(&stop, false);
	for (uintptr_t i = 0; i < NR_WRITERS; i++)
		pthread_create(&t[n++], NULL, writer, (void *)(i + 1));
	for (uintptr_t i = 0; i < NR_READERS; i++)
		pthread_create(&t[n++], NULL, reader, (void *)(i + 1));
	pthread_create(&t[n++], NULL, changer, NULL);
	end = stress_now() + stress_seconds();
	while (stress_now() < end)
		usleep(10000);
	atomic_store(&stop, true);
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);

	mapped = stress_mapped_pages(m);
	stress_settled_alloc_stats(r, &st);
	printf("  %ld reads checked, %ld truncates, %ld hole punches\n",
	       atomic_load(&reads_checked), atomic_load(&truncates),
	       atomic_load(&punches));
	stress_check(atomic_load(&violations) == 0, "%ld violations",
		     atomic_load(&violations));
	stress_check(st.used_pages == mapped,
		     "allocator has %llu pages in use, entries map %llu",
		     (unsigned long long)st.used_pages,
		     (unsigned long long)mapped);
	stress_check(dax_truncate(m, 0) == 0, "final truncate");
	dax_mapping_put(&m);
	stress_check(dax_region_close(&r) == 0, "close");
	return true;
}

/* ---- pins against the drain handshake ------------------------------------- */

#define NR_PINNERS 3

static _Atomic int holding[NR_PINNERS];
static _Atomic long slipped, drains, pins_taken, pins_refused;

static void *pinner(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t seed = id * 31337 + 7;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t idx = rnd(&seed) % NR_PAGES;
		struct dax_pin *p;

		if (dax_pin_range(m, idx, idx, rnd(&seed) % 2 ? DAX_PIN_NOWAIT
							      : 0, &p)) {
			atomic_fetch_add_explicit(&pins_refused, 1,
						  memory_order_relaxed);
			continue;
		}
		/* first thing after the pin went in */
		atomic_fetch_add(&pins_taken, 1);
		atomic_store(&holding[id], 1);
		for (volatile int i = 0; i < (int)(rnd(&seed) % 64); i++)
			;
		atomic_store(&holding[id], 0);
		dax_unpin(&p);
	}
	return NULL;
}

/*
 * Called by layout.c with the whole mapping drained: nobody may hold a pin
 * and no pin can go in (the drain covers every index, so there are no late
 * pins either) until the change ends.  The hook sleeps a little so that a
 * pinner preempted inside dax_pin_range() gets to run: if its pin slipped
 * past the drain, it completes now and bumps pins_taken.
 */
static void drained(void *arg)
{
	long before = atomic_load(&pins_taken), after;
	struct timespec ts = { 0, 20000 };

	(void)arg;
	atomic_fetch_add_explicit(&drains, 1, memory_order_relaxed);
	for (unsigned i = 0; i < NR_PINNERS; i++)
		if (atomic_load(&holding[i]) &&
		    atomic_fetch_add(&slipped, 1) < 10)
			fprintf(stderr, "pinner %u holds a pin inside a "
				"drained window\n", i);
	nanosleep(&ts, NULL);
	after = atomic_load(&pins_taken);
	if (after != before && atomic_fetch_add(&slipped, 1) < 10)
		fprintf(stderr, "%ld pin(s) went in inside a drained window\n",
			after - before);
}

static bool drain_handshake(unsigned which)
{
	pthread_t t[NR_PINNERS];
	double end;

	r = regions[which];
	m = mappings[which];
	atomic_store(&slipped, 0);
	atomic_store(&drains, 0);
	atomic_store(&pins_taken, 0);
	atomic_store(&pins_refused, 0);
	stress_check(dax_layout_set_drained_hook(m, drained, NULL) == 0,
		     "hook");
	atomic_store(&stop, false);
	for (uintptr_t i = 0; i < NR_PINNERS; i++)
		pthread_create(&t[i], NULL, pinner, (void *)i);
	end = stress_now() + stress_seconds();
	while (stress_now() < end) {
		int ret = dax_break_layouts(m, 0, DAX_MAPPING_MAX_INDEX, -1);

		if (ret) {
			fprintf(stderr, "break layouts: %s\n", dax_errormsg());
			atomic_fetch_add(&slipped, 1);
			break;
		}
	}
	atomic_store(&stop, true);
	for (unsigned i = 0; i < NR_PINNERS; i++)
		pthread_join(t[i], NULL);
	printf("  %ld drains, %ld pins taken, %ld refused\n",
	       atomic_load(&drains), atomic_load(&pins_taken),
	       atomic_load(&pins_refused));
	stress_check(atomic_load(&slipped) == 0,
		     "%ld pins seen held inside a drained window",
		     atomic_load(&slipped));
	stress_check(atomic_load(&drains) > 0, "no drain completed");
	dax_mapping_put(&m);
	stress_check(dax_region_close(&r) == 0, "close");
	return true;
}

static bool no_pin_slips_into_a_drain(void)
{
	return drain_handshake(1);
}

/* The same where membarrier is missing: full fences on both sides. */
static bool no_pin_slips_into_a_drain_fenced(void)
{
	bool old = dax_layout_set_fenced(true), ok;

	ok = drain_handshake(2);
	dax_layout_set_fenced(old);
	return ok;
}

/*
 * All scenarios' regions and mappings are made before anything runs:
 * ThreadSanitizer cannot see liburcu's call_rcu hand-off, so a tree made
 * after the call_rcu thread exists and freed by it (the mapping's last
 * put) shows up as a false race on its reference count.
 */
static bool prepare(void)
{
	static const char *const names[3] = {
		"memfd:layout-stress", "memfd:layout-stress-drain",
		"memfd:layout-stress-fenced"
	};

	for (int i = 0; i < 3; i++) {
		struct dax_region_opts *o;

		stress_check(dax_region_opts_new(&o) == 0, "opts");
		dax_region_opts_set_size(o, 64 << 20);
		stress_check(dax_region_open(names[i], o, &regions[i]) == 0,
			     "open");
		dax_region_opts_delete(&o);
		stress_check(dax_mapping_new(regions[i], &ops, NULL,
					     (uint64_t)NR_PAGES * PAGE,
					     &mappings[i]) == 0, "mapping");
	}
	return true;
}

int main(void)
{
	if (!prepare())
		return 1;
	stress_run(pins_faults_and_truncates_race);
	stress_run(no_pin_slips_into_a_drain);
	stress_run(no_pin_slips_into_a_drain_fenced);
	return stress_report();
}
