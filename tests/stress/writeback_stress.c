// SPDX-License-Identifier: MIT
/*
 * Writeback against write faults: writer threads fault pages for write
 * with the entry lock held (DAX_FAULT_LOCK), store a fresh value and
 * unlock, while another thread writes the whole mapping back in a loop.
 * A flush hook records what each flush saw in each page.  When everyone
 * stops, one last writeback runs; then every page must hold the value its
 * last flush saw: a write whose dirtiness a racing writeback lost would
 * never be flushed.  Also: no entry is left dirty or tagged TOWRITE.
 *
 * Two writebackers run at once, and each checks, when its call returns,
 * that every write published before the call (the writer stored under the
 * entry lock, unlocked, then published the value) is durable: some flush
 * that completed (the hook runs after the drain) saw it or a later value.
 * A writeback that returned while another one's flush of an entry it had
 * already cleaned was still in flight would fail this.
 */
#include <pthread.h>
#include <stdbool.h>

#include "libdax/internal.h"
#include "stress.h"

#define MiB (UINT64_C(1) << 20)
#define PAGE 4096
#define NR_INDICES 256
#define NR_WRITERS 2
#define NR_WRITEBACKERS 2

static struct dax_region *r;
static struct dax_mapping *m;
static const struct dax_mapping_ops ops;
static _Atomic uint64_t *flushed;	/* per region page: max value flushed */
static _Atomic uint64_t written[NR_INDICES];	/* max value published */
static _Atomic uint64_t pfn_of[NR_INDICES];	/* region page + 1 */
static atomic_bool stop;
static atomic_uint_fast64_t next_value = 1, nr_writes, nr_writebacks;
static atomic_uint_fast64_t nr_late;

static void atomic_max(_Atomic uint64_t *p, uint64_t v)
{
	uint64_t cur = atomic_load(p);

	while (cur < v && !atomic_compare_exchange_weak(p, &cur, v))
		;
}

/* After the drain, entries still locked: what the flush made durable. */
static void hook(void *priv, uint64_t pfn, uint64_t nr)
{
	char *base = dax_region_get_base(r);

	for (uint64_t i = 0; i < nr; i++)
		atomic_max(&flushed[pfn + i],
			   *(uint64_t *)(base + (pfn + i) * PAGE));
}

static void *writer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	struct dax_fault_ext ext;

	while (!atomic_load(&stop)) {
		uint64_t idx = rand_r(&seed) % NR_INDICES;

		if (dax_fault(m, idx, DAX_FAULT_WRITE | DAX_FAULT_LOCK, &ext))
			abort();
		uint64_t v = atomic_fetch_add(&next_value, 1);

		*(uint64_t *)ext.addr = v;
		atomic_store(&pfn_of[idx], ext.pfn + 1);
		dax_unlock(m, ext.cookie);
		atomic_max(&written[idx], v);
		atomic_fetch_add(&nr_writes, 1);
	}
	return NULL;
}

static void *writebacker(void *arg)
{
	uint64_t snap[NR_INDICES], pfn;

	while (!atomic_load(&stop)) {
		for (unsigned i = 0; i < NR_INDICES; i++)
			snap[i] = atomic_load(&written[i]);
		if (dax_writeback(m, 0, NR_INDICES - 1))
			abort();
		for (unsigned i = 0; i < NR_INDICES; i++) {
			pfn = atomic_load(&pfn_of[i]);
			if (snap[i] && atomic_load(&flushed[pfn - 1]) < snap[i])
				atomic_fetch_add(&nr_late, 1);
		}
		atomic_fetch_add(&nr_writebacks, 1);
	}
	return NULL;
}

static bool writeback_never_loses_a_racing_write(void)
{
	struct dax_region_opts *o;
	pthread_t w[NR_WRITERS], wb[NR_WRITEBACKERS];
	double end;
	uint64_t idx, v, lost = 0;
	unsigned order;

	stress_check(dax_region_opts_new(&o) == 0, "opts");
	dax_region_opts_set_size(o, 16 * MiB);
	stress_check(dax_region_open("memfd:wb-stress", o, &r) == 0, "open");
	dax_region_opts_delete(&o);
	flushed = calloc(16 * MiB / PAGE, sizeof(*flushed));
	stress_check(flushed != NULL, "calloc");
	stress_check(dax_mapping_new(r, &ops, NULL, NR_INDICES * PAGE, &m) ==
			     0, "mapping");
	stress_check(dax_writeback_set_flush_hook(r, hook, NULL) == 0, "hook");
	for (unsigned i = 0; i < NR_WRITERS; i++)
		pthread_create(&w[i], NULL, writer, (void *)(uintptr_t)(i + 1));
	for (unsigned i = 0; i < NR_WRITEBACKERS; i++)
		pthread_create(&wb[i], NULL, writebacker, NULL);
	end = stress_now() + stress_seconds();
	while (stress_now() < end)
		usleep(10000);
	atomic_store(&stop, true);
	for (unsigned i = 0; i < NR_WRITERS; i++)
		pthread_join(w[i], NULL);
	for (unsigned i = 0; i < NR_WRITEBACKERS; i++)
		pthread_join(wb[i], NULL);
	stress_check(dax_writeback(m, 0, NR_INDICES - 1) == 0, "last wb");

	for (idx = 0; idx < NR_INDICES; idx++) {
		uint64_t first = idx;

		v = dax_tree_find(dax_mapping_tree(m), &first, idx,
				  DAX_TREE_PRESENT, &order);
		if (!v || !dax_entry_is_real(v))
			continue;
		uint64_t pfn = dax_entry_pfn(v);
		uint64_t now = *(uint64_t *)((char *)dax_region_get_base(r) +
					     pfn * PAGE);
		if (flushed[pfn] != now)
			lost++;
	}
	printf("    %llu writes, %llu writebacks\n",
	       (unsigned long long)atomic_load(&nr_writes),
	       (unsigned long long)atomic_load(&nr_writebacks));
	stress_check(lost == 0, "%llu pages hold a write no flush saw",
		     (unsigned long long)lost);
	stress_check(atomic_load(&nr_late) == 0,
		     "%llu times a writeback returned before a write "
		     "published before it was durable",
		     (unsigned long long)atomic_load(&nr_late));
	idx = 0;
	stress_check(!dax_tree_find(dax_mapping_tree(m), &idx, NR_INDICES,
				    DAX_ENTRY_MARK_DIRTY, &order),
		     "index %llu still dirty", (unsigned long long)idx);
	idx = 0;
	stress_check(!dax_tree_find(dax_mapping_tree(m), &idx, NR_INDICES,
				    DAX_ENTRY_MARK_TOWRITE, &order),
		     "index %llu still tagged", (unsigned long long)idx);
	dax_fault_release_blocks(m);
	dax_mapping_put(&m);
	stress_check(dax_region_close(&r) == 0, "close");
	free(flushed);
	return true;
}

int main(void)
{
	stress_run(writeback_never_loses_a_racing_write);
	return stress_report();
}
