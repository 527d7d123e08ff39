// SPDX-License-Identifier: MIT
/*
 * Writeback: dirty marks and flushing through libpmem2 (the msync of DAX).
 *
 * A write fault marks its entry with DAX_ENTRY_MARK_DIRTY (fault.c, under
 * the entry lock).  dax_writeback() works in two passes, as the kernel's
 * DAX writeback does:
 *
 *   1. tag: under the tree lock, every entry of the range that is dirty
 *      now gets DAX_ENTRY_MARK_TOWRITE.  Only those are written back, so
 *      writers that keep dirtying the range cannot make the call run
 *      forever.
 *   2. write: for each tagged entry, take its entry lock, clear TOWRITE
 *      and DIRTY, unlock, and flush its pages with libpmem2's flush
 *      function: entries whose region pages follow each other are flushed
 *      by one call (one msync on page-granularity mappings instead of one
 *      per entry).  One libpmem2 drain at the end.
 *
 * Why DIRTY is cleared before the flush, with the entry locked: a write
 * fault takes the entry lock (or, on the fast path, sees the entry dirty
 * and unlocked).  Once DIRTY is clear, every later write fault takes the
 * slow path, waits for our lock and marks the entry dirty again, so a write
 * that races a writeback is either flushed by it or left dirty for the
 * next one; an entry first dirtied after the tag pass is not touched at
 * all.  The flush may come after the unlock: what it must cover was stored
 * before the clear, and a store after the clear belongs to a fault that
 * dirtied the entry again.  Flushing a page that a truncate freed and
 * reused meanwhile is harmless (the region stays mapped while the call is
 * in flight: dax_region_enter()).  There is no page table to write-protect in user space, so a store
 * through a pointer obtained before the writeback started is covered only
 * if it completed before dax_writeback() was called; a writer that stores
 * while a writeback may run holds the entry lock (DAX_FAULT_LOCK) across
 * its stores, or faults again (DAX_FAULT_WRITE) before storing.
 *
 * Flushing is libpmem2's: its flush function for the region's map (cache
 * line flushes on ADR pmem, msync for page-granularity mappings, nothing on
 * eADR platforms) and its drain.  With byte granularity no flush is issued
 * at all, but the marks are cleared just the same.  A region that reports
 * a deep_flush capability (poison.c) gets libpmem2's deep flush once at
 * the end of a call that flushed anything.
 */
#include <libpmem2.h>
#include <stdlib.h>

#include "internal.h"

/* Tags set per tree-lock hold: bounds how long faults wait on the lock. */
#define WB_TAG_BATCH 1024
/* The most pages one flush call covers when entries are contiguous. */
#define WB_RUN_MAX (UINT64_C(1) << 18)

static int wb_fail_null(const char *what)
{
	return dax_fail(NULL, -EINVAL, "dax_writeback: %s is NULL", what);
}

/*
 * Pass 1: mark TOWRITE every entry of [start, last] that is dirty now.
 * The tree lock is dropped every WB_TAG_BATCH entries.
 */
static void wb_tag(struct dax_tree *t, uint64_t start, uint64_t last)
{
	uint64_t cursor = start, idx, v;
	unsigned order, n;

	for (;;) {
		dax_tree_lock(t);
		idx = cursor;
		v = dax_tree_find(t, &idx, last, DAX_ENTRY_MARK_DIRTY, &order);
		for (n = 0; v && n < WB_TAG_BATCH; n++) {
			dax_tree_set_mark_locked(t, idx,
						 DAX_ENTRY_MARK_TOWRITE);
			v = dax_tree_find_after(t, &idx, last,
						DAX_ENTRY_MARK_DIRTY, &order);
		}
		dax_tree_unlock(t);
		if (!v)
			return;
		/* @idx is the next dirty entry, not yet tagged. */
		cursor = idx;
	}
}

/* Flush @nr region pages from @pfn (nothing when @nr is 0). */
static void wb_flush(pmem2_flush_fn flush, char *base, uint64_t pfn,
		     uint64_t nr)
{
	if (nr)
		flush(base + (pfn << DAX_PAGE_SHIFT), nr << DAX_PAGE_SHIFT);
}

/* Clear TOWRITE and DIRTY of the locked entry at @first. */
static void wb_clear(struct dax_tree *t, uint64_t first)
{
	dax_tree_lock(t);
	dax_tree_clear_mark_locked(t, first, DAX_ENTRY_MARK_TOWRITE);
	dax_tree_clear_mark_locked(t, first, DAX_ENTRY_MARK_DIRTY);
	dax_tree_unlock(t);
}

static enum dax_granularity wb_granularity(struct pmem2_map *map)
{
	switch (pmem2_map_get_store_granularity(map)) {
	case PMEM2_GRANULARITY_BYTE:
		return DAX_GRANULARITY_BYTE;
	case PMEM2_GRANULARITY_CACHE_LINE:
		return DAX_GRANULARITY_CACHE_LINE;
	default:
		return DAX_GRANULARITY_PAGE;
	}
}

/**
 * dax_writeback() - make the dirty entries of a range durable
 * @mapping: the mapping
 * @start: the first index (page) of the range
 * @last: the last index of the range (inclusive)
 *
 * Flushes, through libpmem2, the pages of every entry overlapping
 * [@start, @last] that was dirty when the call started, and clears its
 * dirty mark.  Entries dirtied after that stay dirty for the next call.
 * See the top of this file for which stores a writeback covers.
 *
 * Context: any thread, concurrently with faults and other writebacks of
 * the same mapping; takes each dirty entry's lock in turn (sleeps), so the
 * caller must hold no entry lock of @mapping.
 * Return: 0; -EINVAL (NULL mapping, @last < @start, index too large);
 * -ENXIO (the mapping or its region was killed; entries not reached stay
 * dirty).
 */
DAX_EXPORT int dax_writeback(struct dax_mapping *mapping, uint64_t start,
			     uint64_t last)
{
	struct dax_locked_entry le;
	struct dax_region *r;
	struct dax_memfail *mf;
	struct pmem2_map *map;
	pmem2_flush_fn flush;
	uint64_t cursor = start, idx, v, nr;
	char *deep = NULL;		/* a flushed page, for the deep flush */
	uint64_t run_pfn = 0, run_nr = 0; /* pages waiting for one flush */
	unsigned order;
	char *base;
	bool skip;
	int ret;

	if (!mapping)
		return wb_fail_null("mapping");
	if (last < start || last > DAX_MAPPING_MAX_INDEX)
		return dax_fail(NULL, -EINVAL,
				"dax_writeback: range 0x%llx..0x%llx is empty "
				"or goes above index 0x%llx",
				(unsigned long long)start,
				(unsigned long long)last,
				(unsigned long long)DAX_MAPPING_MAX_INDEX);
	r = mapping->region;
	if (!r)
		return dax_fail(NULL, -EINVAL,
				"dax_writeback: the mapping has no region");
	if (!dax_mapping_is_alive(mapping))
		return dax_fail(dax_region_logger(r), -ENXIO,
				"dax_writeback: the mapping was killed");
	ret = dax_region_enter(r);
	if (ret)
		return ret;
	map = dax_region_pmem2_map(r);
	flush = pmem2_get_flush_fn(map);
	skip = wb_granularity(map) == DAX_GRANULARITY_BYTE;
	base = dax_region_get_base(r);
	mf = dax_region_slot_get(r, DAX_REGION_SLOT_MEMFAIL);

	wb_tag(mapping->tree, start, last);
	for (;;) {
		idx = cursor;
		v = dax_tree_find(mapping->tree, &idx, last,
				  DAX_ENTRY_MARK_TOWRITE, &order);
		if (!v)
			break;
		ret = dax_entry_lock(mapping, idx > cursor ? idx : cursor, &le);
		if (ret < 0) {
			ret = dax_fail(dax_region_logger(r), -ENXIO,
				       "dax_writeback: the mapping was killed "
				       "at index 0x%llx",
				       (unsigned long long)idx);
			break;
		}
		if (ret == 0) {
			/* Erased since the find (truncate): go past it. */
			cursor = idx + (UINT64_C(1) << order);
			ret = 0;
			goto next;
		}
		ret = 0;
		nr = dax_entry_nr_pages(le.entry);
		if (dax_tree_get_mark(mapping->tree, le.first,
				      DAX_ENTRY_MARK_TOWRITE)) {
			wb_clear(mapping->tree, le.first);
			if (dax_entry_is_real(le.entry)) {
				uint64_t pfn = dax_entry_pfn(le.entry);

				if (skip) {
				} else if (run_nr && pfn == run_pfn + run_nr &&
					   run_nr < WB_RUN_MAX) {
					run_nr += nr;
				} else {
					wb_flush(flush, base, run_pfn, run_nr);
					run_pfn = pfn;
					run_nr = nr;
				}
				if (!deep)
					deep = base + (pfn << DAX_PAGE_SHIFT);
				if (mf && mf->flush_hook)
					mf->flush_hook(mf->flush_hook_priv,
						       pfn, nr);
			}
		}
		cursor = le.first + nr;
		dax_entry_put(mapping, &le);
next:
		if (cursor == 0 || cursor > last)
			break;
	}
	wb_flush(flush, base, run_pfn, run_nr);
	pmem2_get_drain_fn(map)();
	/* The region reports deep_flush (set at open, constant after). */
	if (deep && mf && mf->deep_flush) {
		int dret = pmem2_deep_flush(map, deep, 1);

		__atomic_add_fetch(&mf->nr_deep_flushes, 1, __ATOMIC_RELAXED);
		if (dret && !ret)
			ret = dax_fail(dax_region_logger(r), -EIO,
				       "dax_writeback: libpmem2's deep flush "
				       "failed: %s",
				       pmem2_errormsg());
	}
	dax_region_exit(r);
	if (!ret)
		dax_clear_errormsg();
	return ret;
}

/**
 * dax_region_get_granularity() - what the platform makes durable by itself
 * @region: the region
 * @granularity: receives libpmem2's store granularity for the region's map:
 *	DAX_GRANULARITY_BYTE (eADR: nothing to flush), _CACHE_LINE (ADR:
 *	cache lines to flush) or _PAGE (a page-cache mapping: msync)
 *
 * dax_writeback() flushes nothing with byte granularity.
 *
 * Context: any thread; never sleeps.
 * Return: 0, or -EINVAL when an argument is NULL.
 */
DAX_EXPORT int dax_region_get_granularity(const struct dax_region *region,
					  enum dax_granularity *granularity)
{
	if (!region || !granularity)
		return dax_fail(NULL, -EINVAL,
				"dax_region_get_granularity: %s is NULL",
				region ? "granularity" : "region");
	*granularity = wb_granularity(dax_region_pmem2_map(region));
	return 0;
}

int dax_writeback_set_flush_hook(struct dax_region *region,
				 void (*fn)(void *priv, uint64_t pfn,
					    uint64_t nr_pages),
				 void *priv)
{
	struct dax_memfail *mf = dax_memfail_get(region);

	if (!mf)
		return -ENOMEM;
	pthread_mutex_lock(&mf->lock);
	mf->flush_hook_priv = priv;
	mf->flush_hook = fn;
	pthread_mutex_unlock(&mf->lock);
	return 0;
}
