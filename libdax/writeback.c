// SPDX-License-Identifier: MIT
/*
 * Writeback: dirty marks and flushing through libpmem2 (the msync of DAX).
 *
 * A write fault marks its entry with DAX_ENTRY_MARK_DIRTY (fault.c, under
 * the entry lock).  dax_writeback() works as the kernel's DAX writeback
 * does (tag_pages_for_writeback + dax_writeback_one), in batches:
 *
 *   1. tag: under the tree lock, every entry of the range that is dirty
 *      now gets DAX_ENTRY_MARK_TOWRITE.  Only those are written back, so
 *      writers that keep dirtying the range cannot make the call run
 *      forever.
 *   2. write, a batch at a time: one lock-free walk collects the next
 *      tagged entries (up to WB_BATCH entries or WB_BATCH_PAGES pages);
 *      one tree-lock hold locks every one of them that is unlocked; their
 *      pages are flushed (entries whose region pages follow each other by
 *      one libpmem2 flush call: one msync on page-granularity maps), one
 *      libpmem2 drain; then one tree-lock hold clears TOWRITE and DIRTY of
 *      each and unlocks it, and its waiters are woken.  A tagged entry that
 *      was locked by someone else (a writer holding DAX_FAULT_LOCK, a
 *      fault in progress) is done on its own afterwards: wait for its lock
 *      (dax_entry_lock()), and if it is still tagged, flush, drain, clear,
 *      unlock.
 *
 * Why the entries stay locked from before the flush until after the
 * clear, as in the kernel: a write fault takes the entry lock (or, on the
 * fast path, sees the entry dirty and unlocked), so faults on an entry
 * being written back wait, and mark it dirty again once it is clean: a
 * write that races a writeback under the entry lock is either flushed by
 * it or left dirty for the next one.  And a concurrent dax_writeback() of
 * the same range cannot return before our flush is done: it finds the
 * entry still tagged (TOWRITE is cleared only after the drain) and waits
 * for its lock, or finds it clean only once the flush is durable.  (The
 * earlier design cleared DIRTY first and flushed after the unlock: a
 * second writeback could then see the entry clean and return before the
 * first one's flush.)
 *
 * The locks are the entry locks of entry.c, taken its way: the LOCKED bit
 * of the entry word, set together with a sequence bump by a compare and
 * exchange under the tree lock, which is the only place the bit changes.
 * Taking a batch of them in one tree-lock hold is what makes writeback
 * cheap: the old per-entry dax_entry_lock() + mark clears + dax_entry_put()
 * took the tree lock four times and walked the tree from the root seven
 * times per entry (bench/writeback_bench.c measures both).
 *
 * There is no page table to write-protect in user space, so a store
 * through a pointer obtained without the entry lock is covered only if it
 * completed before dax_writeback() was called; a writer that stores while
 * a writeback may run holds the entry lock (DAX_FAULT_LOCK) across its
 * stores, or faults for write once more after them (that fault finds the
 * entry dirty and unlocked, so a later writeback covers the stores, or
 * waits for our lock and marks it dirty again).  Flushing a page that a truncate freed and reused meanwhile
 * cannot happen for a locked entry; the region stays mapped while the
 * call is in flight (dax_region_enter()).
 *
 * Flushing is libpmem2's: its flush function for the region's map (cache
 * line flushes on ADR pmem, msync for page-granularity mappings, nothing on
 * eADR platforms) and its drain.  With byte granularity no flush is issued
 * at all, but the marks are cleared just the same.  A region that reports
 * a deep_flush capability (poison.c: the nd region's deep_flush attribute
 * for device-DAX of an NVDIMM, an option for emulated regions) gets
 * libpmem2's deep flush over the flushed span once at the end of a call
 * that flushed anything.
 */
#include <libpmem2.h>
#include <stdlib.h>

#include "internal.h"

/* Entries tagged, locked or unlocked per tree-lock hold: bounds how long
 * faults wait on the tree lock. */
#define WB_TAG_BATCH 1024
/*
 * Entries locked together, and the most pages they may cover: faults on
 * them wait for one batch's flush.  Cache-line flushes cost the same per
 * byte however they are grouped: 2 MiB per batch (a larger entry is a
 * batch of its own).  On page granularity each batch's flush is one
 * msync(), and on a file system on a disk every msync() commits the
 * journal and flushes the disk's cache (about 25 ms measured here), so
 * those batches are made much larger: 256 MiB, the writeback of a fully
 * dirty GiB then pays that four times instead of 512 times.
 */
#define WB_BATCH 512
#define WB_BATCH_PAGES 512
#define WB_PAGE_BATCH 65536
#define WB_PAGE_BATCH_PAGES 65536

struct wb_item {
	uint64_t first;
	uint64_t word;		/* as found; the locked word once locked */
	bool locked;		/* locked by the batch */
};

/* One call's state. */
struct wb {
	struct dax_mapping *m;
	struct dax_memfail *mf;		/* for the flush hook; may be NULL */
	pmem2_flush_fn flush;
	pmem2_drain_fn drain;
	char *base;
	bool skip;			/* byte granularity: nothing to flush */
	uint64_t run_pfn, run_nr;	/* pages waiting for one flush call */
	uint64_t lo, hi;		/* flushed span, region pages [lo, hi) */
	unsigned nr, max_nr;		/* entries collected, room */
	uint64_t pages, max_pages;
	struct wb_item item[];
};

static int wb_fail_null(const char *what)
{
	return dax_fail(NULL, -EINVAL, "dax_writeback: %s is NULL", what);
}

struct wb_tag_ctx {
	struct dax_tree *t;
	unsigned n;
	uint64_t next;		/* first index not visited when stopped */
};

static int wb_tag_one(void *priv, uint64_t first, unsigned order,
		      uint64_t value)
{
	struct wb_tag_ctx *c = priv;

	if (c->n == WB_TAG_BATCH) {
		c->next = first;
		return 1;
	}
	dax_tree_set_mark_locked(c->t, first, DAX_ENTRY_MARK_TOWRITE);
	c->n++;
	return 0;
}

/*
 * Pass 1: mark TOWRITE every entry of [start, last] that is dirty now, in
 * one walk per tree-lock hold of up to WB_TAG_BATCH entries.
 */
static void wb_tag(struct dax_tree *t, uint64_t start, uint64_t last)
{
	struct wb_tag_ctx c = { .t = t };

	for (;;) {
		c.n = 0;
		dax_tree_lock(t);
		c.next = start;
		int stopped = dax_tree_walk(t, start, last,
					    DAX_ENTRY_MARK_DIRTY, wb_tag_one,
					    &c);
		dax_tree_unlock(t);
		if (stopped != 1 || c.next <= start)
			return;
		start = c.next;
	}
}

/* Flush the pending run (nothing when empty). */
static void wb_flush_run(struct wb *w)
{
	if (!w->run_nr)
		return;
	if (!w->skip)
		w->flush(w->base + (w->run_pfn << DAX_PAGE_SHIFT),
			 w->run_nr << DAX_PAGE_SHIFT);
	if (w->run_pfn < w->lo)
		w->lo = w->run_pfn;
	if (w->run_pfn + w->run_nr > w->hi)
		w->hi = w->run_pfn + w->run_nr;
	w->run_nr = 0;
}

/* Add the pages of locked entry @e to the pending run. */
static void wb_add(struct wb *w, uint64_t e)
{
	uint64_t pfn, nr;

	if (!dax_entry_is_real(e))
		return;
	pfn = dax_entry_pfn(e);
	nr = dax_entry_nr_pages(e);
	if (w->run_nr && pfn == w->run_pfn + w->run_nr) {
		w->run_nr += nr;
		return;
	}
	wb_flush_run(w);
	w->run_pfn = pfn;
	w->run_nr = nr;
}

/*
 * Tests: tell the flush hook what the batch flushed, once it is durable
 * (after the drain) and still locked, run by run.
 */
static void wb_report(struct wb *w)
{
	uint64_t pfn = 0, nr = 0, p, n;
	struct wb_item *it;

	if (!w->mf || !w->mf->flush_hook)
		return;
	for (unsigned i = 0; i <= w->nr; i++) {
		it = &w->item[i];
		if (i < w->nr && (!it->locked || !dax_entry_is_real(it->word)))
			continue;
		p = i < w->nr ? dax_entry_pfn(it->word) : 0;
		n = i < w->nr ? dax_entry_nr_pages(it->word) : 0;
		if (nr && i < w->nr && p == pfn + nr) {
			nr += n;
			continue;
		}
		if (nr)
			w->mf->flush_hook(w->mf->flush_hook_priv, pfn, nr);
		pfn = p;
		nr = n;
	}
}

static int wb_collect(void *priv, uint64_t first, unsigned order,
		      uint64_t value)
{
	struct wb *w = priv;
	uint64_t nr = UINT64_C(1) << order;

	if (w->nr == w->max_nr || (w->nr && w->pages + nr > w->max_pages))
		return 1;
	w->item[w->nr++] = (struct wb_item){ first, value, false };
	w->pages += nr;
	return 0;
}

/*
 * Lock every collected entry that is still the unlocked value the walk
 * saw, in one tree-lock hold, the way dax_entry_lock() does (LOCKED set,
 * sequence bumped).  An unchanged value means nobody locked the entry
 * since the walk, so its TOWRITE tag (cleared only under the entry lock)
 * is still there.
 */
static void wb_lock_batch(struct wb *w)
{
	struct dax_tree *t = w->m->tree;
	uint64_t v, nv, cur;

	dax_tree_lock(t);
	for (unsigned i = 0; i < w->nr; i++) {
		if (i && i % WB_TAG_BATCH == 0) {
			dax_tree_unlock(t);	/* let waiting faults in */
			dax_tree_lock(t);
		}
		v = w->item[i].word;
		if (dax_entry_is_locked(v))
			continue;
		nv = dax_entry_set_seq(v, dax_entry_seq(v) + 1) |
		     DAX_ENTRY_LOCKED;
		dax_tree_cmpxchg_locked(t, w->item[i].first, v, nv, &cur);
		if (cur == v) {
			w->item[i].word = nv;
			w->item[i].locked = true;
		}
	}
	dax_tree_unlock(t);
}

/* Clear the marks of the batch's locked entries and unlock them. */
static void wb_unlock_batch(struct wb *w)
{
	struct dax_tree *t = w->m->tree;
	struct wb_item *it;
	uint64_t cur;

	dax_tree_lock(t);
	for (unsigned i = 0; i < w->nr; i++) {
		if (i && i % WB_TAG_BATCH == 0) {
			dax_tree_unlock(t);	/* let waiting faults in */
			dax_tree_lock(t);
		}
		it = &w->item[i];
		if (!it->locked)
			continue;
		dax_tree_clear_mark_locked(t, it->first,
					   DAX_ENTRY_MARK_TOWRITE);
		dax_tree_clear_mark_locked(t, it->first, DAX_ENTRY_MARK_DIRTY);
		dax_tree_cmpxchg_locked(t, it->first, it->word,
					it->word & ~DAX_ENTRY_LOCKED, &cur);
	}
	dax_tree_unlock(t);
	/* After the unlock: a full barrier, then a look at the wait bucket. */
	for (unsigned i = 0; i < w->nr; i++)
		if (w->item[i].locked)
			dax_waitq_wake(w->m->wq, w->m, w->item[i].first, false);
}

/*
 * A tagged entry someone else had locked: wait for it, then write it back
 * on its own if it is still tagged.  Return: 0, or -ENXIO (killed).
 */
static int wb_one(struct wb *w, uint64_t index)
{
	struct dax_mapping *m = w->m;
	struct dax_locked_entry le;
	int ret = dax_entry_lock(m, index, &le);

	if (ret <= 0)
		return ret;		/* erased meanwhile (0), or killed */
	if (dax_tree_get_mark(m->tree, le.first, DAX_ENTRY_MARK_TOWRITE)) {
		wb_add(w, le.entry);
		wb_flush_run(w);
		w->drain();
		if (w->mf && w->mf->flush_hook && dax_entry_is_real(le.entry))
			w->mf->flush_hook(w->mf->flush_hook_priv,
					  dax_entry_pfn(le.entry),
					  dax_entry_nr_pages(le.entry));
		dax_tree_lock(m->tree);
		dax_tree_clear_mark_locked(m->tree, le.first,
					   DAX_ENTRY_MARK_TOWRITE);
		dax_tree_clear_mark_locked(m->tree, le.first,
					   DAX_ENTRY_MARK_DIRTY);
		dax_tree_unlock(m->tree);
	}
	dax_entry_put(m, &le);
	return 0;
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
 * the same mapping; locks dirty entries (a batch at a time) and waits for
 * entries others hold (sleeps), so the caller must hold no entry lock of
 * @mapping.
 * Return: 0; -EINVAL (NULL mapping, @last < @start, index too large);
 * -ENXIO (the mapping or its region was killed; entries not reached stay
 * dirty); -EIO (libpmem2's deep flush failed; the marks are cleared).
 */
DAX_EXPORT int dax_writeback(struct dax_mapping *mapping, uint64_t start,
			     uint64_t last)
{
	struct dax_region *r;
	struct pmem2_map *map;
	uint64_t cursor = start, end;
	struct wb *w;
	bool page;
	int ret = 0;

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
	/* Nothing dirty (the common case for a clean range): no setup. */
	end = start;
	if (!dax_tree_find(mapping->tree, &end, last, DAX_ENTRY_MARK_DIRTY,
			   NULL)) {
		dax_region_exit(r);
		dax_clear_errormsg();
		return 0;
	}
	map = dax_region_pmem2_map(r);
	page = pmem2_map_get_store_granularity(map) == PMEM2_GRANULARITY_PAGE;
	w = malloc(sizeof(*w) + (page ? WB_PAGE_BATCH : WB_BATCH) *
					sizeof(w->item[0]));
	if (!w) {
		dax_region_exit(r);
		return dax_fail(dax_region_logger(r), -ENOMEM,
				"dax_writeback: out of memory");
	}
	*w = (struct wb){
		.max_nr = page ? WB_PAGE_BATCH : WB_BATCH,
		.max_pages = page ? WB_PAGE_BATCH_PAGES : WB_BATCH_PAGES,
		.m = mapping,
		.mf = dax_region_slot_get(r, DAX_REGION_SLOT_MEMFAIL),
		.flush = pmem2_get_flush_fn(map),
		.drain = pmem2_get_drain_fn(map),
		.base = dax_region_get_base(r),
		.skip = pmem2_map_get_store_granularity(map) ==
			PMEM2_GRANULARITY_BYTE,
		.lo = UINT64_MAX,
	};

	wb_tag(mapping->tree, start, last);
	for (;;) {
		if (!dax_mapping_is_alive(mapping)) {
			ret = -ENXIO;
			break;
		}
		w->nr = 0;
		w->pages = 0;
		dax_tree_walk(mapping->tree, cursor, last,
			      DAX_ENTRY_MARK_TOWRITE, wb_collect, w);
		if (!w->nr)
			break;
		wb_lock_batch(w);
		for (unsigned i = 0; i < w->nr; i++)
			if (w->item[i].locked)
				wb_add(w, w->item[i].word);
		wb_flush_run(w);
		w->drain();
		wb_report(w);
		wb_unlock_batch(w);
		for (unsigned i = 0; i < w->nr && !ret; i++)
			if (!w->item[i].locked)
				ret = wb_one(w, w->item[i].first > cursor ?
						     w->item[i].first : cursor);
		if (ret)
			break;
		end = w->item[w->nr - 1].first +
		      dax_entry_nr_pages(w->item[w->nr - 1].word);
		if (end == 0 || end > last)
			break;
		cursor = end;
	}
	if (ret)
		ret = dax_fail(dax_region_logger(r), -ENXIO,
			       "dax_writeback: the mapping was killed at index "
			       "0x%llx",
			       (unsigned long long)cursor);
	/* The region reports deep_flush (set at open, constant after). */
	if (w->lo < w->hi && w->mf && w->mf->deep_flush) {
		int dret = dax_memfail_deep_flush(
			r, w->base + (w->lo << DAX_PAGE_SHIFT),
			(w->hi - w->lo) << DAX_PAGE_SHIFT);

		if (dret && !ret)
			ret = dret;
	}
	free(w);
	dax_region_exit(r);
	if (!ret)
		dax_clear_errormsg();
	return ret;
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
