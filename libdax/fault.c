// SPDX-License-Identifier: MIT
/*
 * The fault path: "give me a direct pointer to page N of this mapping, for
 * reading or writing", the userspace counterpart of the kernel's
 * dax_iomap_pte_fault() and dax_iomap_pmd_fault().
 *
 * Two paths
 * ---------
 * The fast path answers from a present entry without locking anything: one
 * lock-free tree load (plus a mark lookup for a write), the way a TLB hit
 * costs no page fault.  It serves a read of any unlocked ZERO or real
 * entry, and a write of an unlocked real entry that is already dirty.
 * Everything else takes the slow path, which works under the entry lock:
 *
 *   read of a hole     lock (a locked EMPTY placeholder is inserted), ask
 *                      the engine (iomap_begin without DAX_IOMAP_WRITE; the
 *                      built-in allocator has nothing to say), install a
 *                      ZERO entry (or the engine's extent), unlock;
 *   write              lock (EMPTY placeholder, or the ZERO entry), ask the
 *                      engine or the built-in allocator for blocks, zero
 *                      new ones, install the real entry, mark it dirty,
 *                      unlock (or hand the lock to the caller).
 *
 * The hole-vs-allocation race
 * ---------------------------
 * In 2015 the kernel's DAX fault code could map a hole (the zero page) for
 * a reader while a writer was allocating blocks at the same index: the
 * reader's page table then kept the zero page over real data, and reads
 * lost the write.  The fix serialized both on a per-entry lock.  Here a
 * ZERO entry is only ever installed over a locked EMPTY placeholder, and a
 * real entry only over a locked placeholder or a locked ZERO entry, by
 * whoever holds that lock; the fast path never installs anything.  A
 * reader therefore either sees the hole before the writer's entry went in
 * (and reads zeroes, ordered before the write) or the writer's entry.  The
 * one thing that cannot be shot down, unlike a page table entry, is a
 * pointer already handed out: a pointer into the zero area is a snapshot
 * of a hole, and a reader must fault again to see a later write
 * (dax_fault(3) spells out the lifetime rules).
 *
 * Sizes and fallback
 * ------------------
 * A 1 GiB request falls back to 2 MiB and a 2 MiB request to 4 KiB, each
 * step counted by reason: the region's alignment is smaller than the entry
 * (its mapping is not built from pages that large, and its resources need
 * not be contiguous across it), the aligned range crosses the mapping's
 * end, smaller entries lie in the range (found with find_conflict by
 * dax_entry_grab(), never erased), the allocator has no free block that
 * large, or the engine's iomap_begin mapped a smaller extent.
 *
 * Zeroing new blocks
 * ------------------
 * New blocks are zeroed while their entry is still the locked placeholder,
 * so nobody sees their old contents.  On device-DAX and module devices
 * that is libpmem2's memset (no flush: the entry is marked dirty, and
 * writeback flushes it).  On emulated regions (memfds and files) blocks of
 * 2 MiB and more are zeroed by punching a hole in the file instead: the
 * kernel hands out zeroed pages when they are next touched, so a first
 * touch is not paid twice (once by us, once by the kernel's own zeroing).
 *
 * What the layout work (pins, truncate) hooks into
 * ------------------------------------------------
 * A pin taken for a fault must be taken where the entry is known good: in
 * fault_done() while the entry is locked, and in the fast path after the
 * lock-free load, followed by a second load that must find the same entry
 * (the get_user_pages_fast() pattern), else drop the pin and go slow.  A
 * truncate must stop new faults in its range before it drains (the slow
 * path is where a per-range "being truncated" check belongs, after
 * dax_entry_grab(), as the kernel rechecks i_size under the entry lock),
 * erase each entry under its lock, and hand real entries' blocks to
 * dax_fault_free_blocks() (the built-in allocator's; an engine frees its
 * own).  Until then dax_fault_release_blocks() is the teardown.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libpmem2.h>

#include "internal.h"

#define FAULT_PMD_ORDER 9
#define FAULT_PUD_ORDER 18
#define FAULT_ZERO_SIZE (UINT64_C(1) << (FAULT_PUD_ORDER + DAX_PAGE_SHIFT))
#define FAULT_ALL_FLAGS                                                        \
	(DAX_FAULT_WRITE | DAX_FAULT_LOCK | DAX_FAULT_SIZE_2M |               \
	 DAX_FAULT_SIZE_1G)

/* dax_fault_at() and friends: the request falls back to a smaller size. */
#define FAULT_FALLBACK 1

static const unsigned level_order[DAX_FAULT_NR_SIZES] = {
	0, FAULT_PMD_ORDER, FAULT_PUD_ORDER
};

static const char *const fallback_name[DAX_FAULT_NR_FALLBACKS] = {
	[DAX_FAULT_FALLBACK_UNALIGNED] = "unaligned",
	[DAX_FAULT_FALLBACK_EOF] = "crosses the end",
	[DAX_FAULT_FALLBACK_CONFLICT] = "smaller entries",
	[DAX_FAULT_FALLBACK_NOSPACE] = "no space",
	[DAX_FAULT_FALLBACK_EXTENT] = "smaller extent",
};

/* Per-region state, in the region's DAX_REGION_SLOT_FAULT slot. */
struct fault_region {
	void *zero;		/* FAULT_ZERO_SIZE read-only bytes of zeroes */
	void *map;		/* what munmap() gets back */
	size_t map_len;
	bool readonly;		/* the region's file is open read-only */
	bool punch;		/* zero large blocks with FALLOC_FL_PUNCH_HOLE */
	pmem2_memset_fn memset_fn;
};

/* One call of dax_fault(). */
struct fault {
	struct dax_mapping *m;
	struct dax_region *r;
	struct fault_region *fr;
	uint64_t index;
	unsigned flags;
	unsigned want;		/* the order asked for */
	struct dax_fault_ext *ext;
};

static inline bool is_write(const struct fault *f)
{
	return f->flags & DAX_FAULT_WRITE;
}

static inline unsigned order_level(unsigned order)
{
	return order >= FAULT_PUD_ORDER ? 2 : order >= FAULT_PMD_ORDER ? 1 : 0;
}

static inline void stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static inline uint64_t mapping_pages(const struct dax_mapping *m)
{
	uint64_t size = atomic_load_explicit(&m->size, memory_order_acquire);

	return (size + DAX_PAGE_SIZE - 1) >> DAX_PAGE_SHIFT;
}

static inline bool mapping_dead(const struct dax_mapping *m)
{
	return atomic_load_explicit(&m->dead, memory_order_acquire);
}

/* ---- per-region state: the zero area ------------------------------------------ */

static void fault_region_release(void *obj)
{
	struct fault_region *fr = obj;

	munmap(fr->map, fr->map_len);
	free(fr);
}

/*
 * The zero area is 1 GiB of anonymous, private, read-only memory (address
 * space only: every page of it reads as the kernel's zero page, or its huge
 * zero page where THP allows), aligned to 2 MiB.  A store through it
 * faults (SIGSEGV): it can never be corrupted.
 */
static int fault_region_create(struct dax_region *r,
			       struct fault_region **out)
{
	struct fault_region *fr;
	uintptr_t start, aligned;
	size_t len = FAULT_ZERO_SIZE + 2 * DAX_MiB;
	struct pmem2_map *map;
	int fl;

	fr = calloc(1, sizeof(*fr));
	if (!fr)
		return dax_fail(dax_region_logger(r), -ENOMEM,
				"no memory for the fault path's region state");
	fr->map = mmap(NULL, len, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (fr->map == MAP_FAILED) {
		free(fr);
		return dax_fail(dax_region_logger(r), -ENOMEM,
				"cannot reserve the 1 GiB read-only zero area: "
				"%s", strerror(errno));
	}
	fr->map_len = len;
	start = (uintptr_t)fr->map;
	aligned = (start + 2 * DAX_MiB - 1) & ~(uintptr_t)(2 * DAX_MiB - 1);
	fr->zero = (void *)aligned;
	madvise(fr->zero, FAULT_ZERO_SIZE, MADV_HUGEPAGE);
	fl = fcntl(dax_region_fd(r), F_GETFL);
	fr->readonly = fl >= 0 && (fl & O_ACCMODE) == O_RDONLY;
	fr->punch = dax_region_get_kind(r) == DAX_REGION_KIND_EMULATED &&
		    !fr->readonly;
	map = dax_region_pmem2_map(r);
	fr->memset_fn = map ? pmem2_get_memset_fn(map) : NULL;
	*out = dax_region_slot_install(r, DAX_REGION_SLOT_FAULT, fr,
				       fault_region_release);
	if (*out != fr)
		fault_region_release(fr);	/* another thread won */
	return 0;
}

static inline struct fault_region *fault_region(const struct dax_region *r)
{
	return dax_region_slot_get(r, DAX_REGION_SLOT_FAULT);
}

/* ---- filling in the caller's extent ------------------------------------------- */

/* Describe entry @v (covering @index) to the caller; @fr may be NULL for a
 * real entry.  @rbase: the region's base address. */
static inline void ext_fill(struct dax_fault_ext *ext, char *rbase,
			    const struct fault_region *fr, uint64_t index,
			    uint64_t v, unsigned want, unsigned flags)
{
	unsigned order = dax_entry_order(v);
	uint64_t first = dax_entry_first(v, index);
	char *base;

	if (dax_entry_is_zero(v)) {
		base = fr->zero;
		ext->pfn = 0;
		flags |= DAX_FAULT_EXT_ZERO;
	} else {
		ext->pfn = dax_entry_pfn(v);
		base = rbase + (ext->pfn << DAX_PAGE_SHIFT);
	}
	if (order < want)
		flags |= DAX_FAULT_EXT_FALLBACK;
	ext->entry_addr = base;
	ext->addr = base + ((index - first) << DAX_PAGE_SHIFT);
	ext->first = first;
	ext->order = order;
	ext->flags = flags;
	ext->cookie = 0;
}

static void ext_clear(struct dax_fault_ext *ext)
{
	memset(ext, 0, sizeof(*ext));
}

/* ---- the fast path -------------------------------------------------------------- */

/*
 * Answer from a present entry, without locking: 0 with @ext filled, or 1
 * when the slow path must run (anything unusual, including every error,
 * which the slow path then reports with its message).
 */
static inline int fault_fast(struct dax_mapping *m, uint64_t index,
			     unsigned flags, struct dax_fault_ext *ext)
{
	struct dax_region *r = m->region;
	const struct fault_region *fr = NULL;
	char *base = __atomic_load_n(&m->fault_base, __ATOMIC_RELAXED);
	uint64_t v;

	if (unlikely(index >= mapping_pages(m) || mapping_dead(m) || !base))
		return 1;
	if (flags & DAX_FAULT_WRITE) {
		bool dirty;

		/* present, and dirty already: else the slow path marks it */
		v = dax_tree_load_mark(m->tree, index, DAX_ENTRY_MARK_DIRTY,
				       &dirty);
		if (!dirty)
			return 1;
	} else {
		v = dax_tree_load(m->tree, index);
	}
	if (unlikely(!v || (v & (DAX_ENTRY_LOCKED | DAX_ENTRY_EMPTY)) ||
		     dax_entry_order(v) > FAULT_PUD_ORDER))
		return 1;
	if (dax_entry_is_zero(v)) {
		if (flags & DAX_FAULT_WRITE)
			return 1;
		fr = fault_region(r);
		if (unlikely(!fr))
			return 1;
	}
	if (unlikely(!dax_region_is_alive(r)))
		return 1;
	ext_fill(ext, base, fr, index, v,
		 flags & DAX_FAULT_SIZE_1G ? FAULT_PUD_ORDER :
		 flags & DAX_FAULT_SIZE_2M ? FAULT_PMD_ORDER : 0, 0);
	return 0;
}

/* ---- the slow path ---------------------------------------------------------------- */

/* The fault is resolved to the locked entry @le: mark it, describe it, and
 * unlock it or hand the lock to the caller. */
static int fault_done(struct fault *f, struct dax_locked_entry *le,
		      unsigned ext_flags)
{
	struct dax_mapping *m = f->m;
	struct dax_fault_stats *st = &m->fault_stats;
	int ret;

	if (is_write(f) &&
	    !dax_tree_get_mark(m->tree, le->first, DAX_ENTRY_MARK_DIRTY)) {
		ret = dax_tree_set_mark(m->tree, le->first,
					DAX_ENTRY_MARK_DIRTY);
		if (ret) {
			dax_entry_put(m, le);
			return ret;
		}
	}
	ext_fill(f->ext, (char *)dax_region_get_base(f->r), f->fr, f->index,
		 le->entry, f->want, ext_flags);
	if (f->flags & DAX_FAULT_LOCK)
		f->ext->cookie = dax_entry_cookie(m, le);
	else
		dax_entry_put(m, le);
	stat_add(&st->faults[order_level(dax_entry_order(le->entry))], 1);
	stat_add(is_write(f) ? &st->write_faults : &st->read_faults, 1);
	return 0;
}

static int fallback(struct fault *f, enum dax_fault_fallback reason)
{
	stat_add(&f->m->fault_stats.fallbacks[reason], 1);
	dax_log(dax_region_logger(f->r), DAX_LOG_DEBUG,
		"fault at index 0x%llx: order-%u entry falls back (%s)",
		(unsigned long long)f->index, f->want, fallback_name[reason]);
	return FAULT_FALLBACK;
}

/* Zero 2^@order pages from region page @pfn before anyone sees them. */
static void zero_blocks(struct fault *f, uint64_t pfn, unsigned order)
{
	uint64_t len = (uint64_t)DAX_PAGE_SIZE << order;
	char *addr = (char *)dax_region_get_base(f->r) + (pfn << DAX_PAGE_SHIFT);

	if (f->fr->punch && order >= FAULT_PMD_ORDER &&
	    fallocate(dax_region_fd(f->r),
		      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(dax_region_get_offset(f->r) +
			      (pfn << DAX_PAGE_SHIFT)),
		      (off_t)len) == 0)
		return;
	if (f->fr->memset_fn)
		f->fr->memset_fn(addr, 0, len, PMEM2_F_MEM_NOFLUSH);
	else
		memset(addr, 0, len);
}

static int iomap_end(struct fault *f, unsigned order, unsigned iflags,
		     int outcome, struct dax_iomap *iomap)
{
	const struct dax_mapping_ops *ops = f->m->ops;

	if (!ops->iomap_end)
		return 0;
	return ops->iomap_end(f->m, f->m->priv, f->index, order, iflags,
			      outcome, iomap);
}

/* The built-in allocator's answer for a locked placeholder or ZERO entry. */
static int fill_default(struct fault *f, struct dax_locked_entry *le,
			unsigned order)
{
	struct dax_mapping *m = f->m;
	struct dax_alloc *alloc;
	uint64_t pfn;
	int ret;

	if (!is_write(f)) {
		ret = dax_entry_replace(m, le, 0, DAX_ENTRY_ZERO);
		if (ret) {
			dax_entry_put(m, le);
			return ret;
		}
		stat_add(&m->fault_stats.zero_installs, 1);
		return fault_done(f, le, 0);
	}
	ret = dax_alloc_get(f->r, &alloc);
	if (!ret)
		ret = dax_alloc_block(alloc, order,
				      order ? 0 : DAX_ALLOC_WAIT, &pfn);
	if (ret) {
		dax_entry_put(m, le);
		if (ret == -ENOSPC && order > 0)
			return fallback(f, DAX_FAULT_FALLBACK_NOSPACE);
		return ret;
	}
	zero_blocks(f, pfn, order);
	ret = dax_entry_replace(m, le, pfn, 0);
	if (ret) {
		dax_alloc_free_block(alloc, pfn, order);
		dax_entry_put(m, le);
		return ret;
	}
	stat_add(&m->fault_stats.allocations, 1);
	stat_add(&m->fault_stats.allocated_pages, UINT64_C(1) << order);
	return fault_done(f, le, DAX_FAULT_EXT_NEW);
}

/* Is @iomap a valid answer to a request of @order at @f->index? */
static int iomap_check(struct fault *f, unsigned order,
		       const struct dax_iomap *iomap)
{
	uint64_t pages = dax_region_get_size(f->r) >> DAX_PAGE_SHIFT;
	uint64_t n = UINT64_C(1) << (iomap->order & 63);
	const char *why = NULL;

	if (iomap->order > order)
		why = "an order above the one asked for";
	else if (iomap->first != (f->index & ~(n - 1)))
		why = "a first index that is not the index rounded down to "
		      "its order";
	else if (iomap->type != DAX_IOMAP_HOLE &&
		 iomap->type != DAX_IOMAP_MAPPED &&
		 iomap->type != DAX_IOMAP_UNWRITTEN)
		why = "an unknown type";
	else if (iomap->type == DAX_IOMAP_HOLE && is_write(f))
		why = "a hole for a write (it must allocate)";
	else if (iomap->type != DAX_IOMAP_HOLE &&
		 (iomap->pfn & (n - 1) || iomap->pfn >= pages ||
		  pages - iomap->pfn < n))
		why = "a pfn that is misaligned or beyond the region";
	if (!why)
		return 0;
	return dax_fail(dax_region_logger(f->r), -EIO,
			"fault at index 0x%llx: iomap_begin (order %u) answered "
			"with %s: first 0x%llx, order %u, type %d, pfn 0x%llx",
			(unsigned long long)f->index, order, why,
			(unsigned long long)iomap->first, iomap->order,
			(int)iomap->type, (unsigned long long)iomap->pfn);
}

/* The engine's answer (iomap_begin/iomap_end) for a locked placeholder or
 * ZERO entry. */
static int fill_engine(struct fault *f, struct dax_locked_entry *le,
		       unsigned order)
{
	struct dax_mapping *m = f->m;
	const struct dax_mapping_ops *ops = m->ops;
	unsigned iflags = DAX_IOMAP_FAULT | (is_write(f) ? DAX_IOMAP_WRITE : 0);
	uint64_t old_flags = le->entry & (DAX_ENTRY_ZERO | DAX_ENTRY_EMPTY);
	struct dax_iomap iomap;
	bool hole;
	int ret;

	memset(&iomap, 0, sizeof(iomap));
	ret = ops->iomap_begin(m, m->priv, f->index, order, iflags, &iomap);
	if (ret) {
		dax_entry_put(m, le);
		if (ret == -ENOSPC && order > 0)
			return fallback(f, DAX_FAULT_FALLBACK_NOSPACE);
		if (ret > 0 || ret < -4095)
			ret = -EIO;
		return dax_fail(dax_region_logger(f->r), ret,
				"fault at index 0x%llx: the engine's iomap_begin "
				"(order %u%s) failed: %s",
				(unsigned long long)f->index, order,
				is_write(f) ? ", write" : "", strerror(-ret));
	}
	ret = iomap_check(f, order, &iomap);
	if (ret) {
		iomap_end(f, order, iflags, ret, &iomap);
		dax_entry_put(m, le);
		return ret;
	}
	if (iomap.order < order) {
		/* Not used: the engine undoes it, and is asked again. */
		iomap_end(f, order, iflags, -ERANGE, &iomap);
		dax_entry_put(m, le);
		return fallback(f, DAX_FAULT_FALLBACK_EXTENT);
	}
	hole = iomap.type == DAX_IOMAP_HOLE ||
	       (iomap.type == DAX_IOMAP_UNWRITTEN && !is_write(f));
	if (!hole && ((iomap.flags & DAX_IOMAP_F_NEW) ||
		      iomap.type == DAX_IOMAP_UNWRITTEN))
		zero_blocks(f, iomap.pfn, order);
	ret = hole ? dax_entry_replace(m, le, 0, DAX_ENTRY_ZERO)
		   : dax_entry_replace(m, le, iomap.pfn, 0);
	if (ret) {
		iomap_end(f, order, iflags, ret, &iomap);
		dax_entry_put(m, le);
		return ret;
	}
	ret = iomap_end(f, order, iflags, 0, &iomap);
	if (ret) {
		/* The engine refused the outcome: put the entry back. */
		dax_entry_replace(m, le, 0, old_flags);
		dax_entry_put(m, le);
		if (ret > 0 || ret < -4095)
			ret = -EIO;
		return dax_fail(dax_region_logger(f->r), ret,
				"fault at index 0x%llx: the engine's iomap_end "
				"failed (%s); the entry is as it was",
				(unsigned long long)f->index, strerror(-ret));
	}
	if (hole) {
		stat_add(&m->fault_stats.zero_installs, 1);
		return fault_done(f, le, 0);
	}
	if (is_write(f)) {
		stat_add(&m->fault_stats.allocations, 1);
		stat_add(&m->fault_stats.allocated_pages, UINT64_C(1) << order);
	} else {
		stat_add(&m->fault_stats.mapped, 1);
	}
	return fault_done(f, le,
			  iomap.flags & DAX_IOMAP_F_NEW ? DAX_FAULT_EXT_NEW : 0);
}

static int past_end(struct fault *f, uint64_t pages)
{
	return dax_fail(dax_region_logger(f->r), -ENXIO,
			"fault at index 0x%llx is past the end of the mapping "
			"(0x%llx pages): the SIGBUS of a fault beyond EOF",
			(unsigned long long)f->index, (unsigned long long)pages);
}

/*
 * Resolve the fault with an entry of @order (or an existing entry of any
 * order covering the index where that serves).  Return: 0, FAULT_FALLBACK,
 * or a negative errno; the entry is unlocked on every path except a
 * success with DAX_FAULT_LOCK.
 */
static int fault_at(struct fault *f, unsigned order)
{
	struct dax_mapping *m = f->m;
	struct dax_locked_entry le;
	uint64_t v, pages;
	int ret;

again:
	for (;;) {
		v = dax_tree_load(m->tree, f->index);
		if (!v || (is_write(f) && dax_entry_is_zero(v)))
			break;
		/* Present (or being filled): wait for it, then use it. */
		ret = dax_entry_lock(m, f->index, &le);
		if (ret < 0)
			return dax_fail(dax_region_logger(f->r), -ENXIO,
					"fault at index 0x%llx: the mapping is "
					"dead", (unsigned long long)f->index);
		if (ret == 0)
			continue;
		if (is_write(f) && dax_entry_is_zero(le.entry)) {
			dax_entry_put(m, &le);
			break;
		}
		if (dax_entry_order(le.entry) > FAULT_PUD_ORDER) {
			dax_entry_put(m, &le);
			return dax_fail(dax_region_logger(f->r), -EINVAL,
					"fault at index 0x%llx: its entry has "
					"order %u, above the 1 GiB the fault "
					"path serves", (unsigned long long)f->index,
					dax_entry_order(le.entry));
		}
		if (dax_entry_order(le.entry) < order)
			stat_add(&m->fault_stats.fallbacks
					  [DAX_FAULT_FALLBACK_CONFLICT], 1);
		return fault_done(f, &le, 0);
	}

	ret = dax_entry_grab(m, f->index, order, &le);
	if (ret == -ERANGE)
		return fallback(f, DAX_FAULT_FALLBACK_CONFLICT);
	if (ret == -ENXIO)
		return dax_fail(dax_region_logger(f->r), -ENXIO,
				"fault at index 0x%llx: the mapping is dead",
				(unsigned long long)f->index);
	if (ret)
		return ret;
	if (dax_entry_is_real(le.entry) ||
	    (dax_entry_is_zero(le.entry) && !is_write(f)))
		return fault_done(f, &le, 0);	/* someone filled it */

	/* A placeholder of ours, or a ZERO entry to write over. */
	if (unlikely(dax_layout_fill_blocked(m, le.first,
					     le.first + dax_entry_nr_pages(
							le.entry) - 1))) {
		/* layout.c: a truncate or hole punch is erasing this range
		 * (its pins drained): fill nothing until it is done. */
		dax_entry_put(m, &le);
		dax_layout_fill_wait(m, f->index);
		goto again;
	}
	pages = mapping_pages(m);
	if (f->index >= pages) {
		dax_entry_put(m, &le);
		return past_end(f, pages);
	}
	if (le.first + (UINT64_C(1) << order) > pages) {
		dax_entry_put(m, &le);
		return fallback(f, DAX_FAULT_FALLBACK_EOF);
	}
	if (m->ops->iomap_begin)
		return fill_engine(f, &le, order);
	return fill_default(f, &le, order);
}

static __attribute__((noinline)) int
fault_slow(struct dax_mapping *m, uint64_t index, unsigned flags,
	   struct dax_fault_ext *ext)
{
	struct fault f = {
		.m = m, .r = m->region, .index = index, .flags = flags,
		.ext = ext,
	};
	unsigned level = flags & DAX_FAULT_SIZE_1G ? 2 :
			 flags & DAX_FAULT_SIZE_2M ? 1 : 0;
	uint64_t pages, size;
	int ret;

	ext_clear(ext);
	f.want = level_order[level];
	ret = dax_region_enter(f.r);
	if (ret)
		goto out;
	pages = mapping_pages(m);
	if (index >= pages) {
		ret = past_end(&f, pages);
		goto exit;
	}
	if (mapping_dead(m)) {
		ret = dax_fail(dax_region_logger(f.r), -ENXIO,
			       "fault at index 0x%llx: the mapping is dead "
			       "(dax_mapping_kill)", (unsigned long long)index);
		goto exit;
	}
	if (!__atomic_load_n(&m->fault_base, __ATOMIC_RELAXED))
		/* for the fast path: one call less */
		__atomic_store_n(&m->fault_base, dax_region_get_base(f.r),
				 __ATOMIC_RELAXED);
	f.fr = fault_region(f.r);
	if (!f.fr) {
		ret = fault_region_create(f.r, &f.fr);
		if (ret)
			goto exit;
	}
	if ((flags & DAX_FAULT_WRITE) && f.fr->readonly) {
		ret = dax_fail(dax_region_logger(f.r), -EROFS,
			       "write fault at index 0x%llx: the region is "
			       "read-only (DAX_REGION_READONLY)",
			       (unsigned long long)index);
		goto exit;
	}
	for (;;) {
		unsigned order = level_order[level];

		if (level > 0) {
			size = (uint64_t)DAX_PAGE_SIZE << order;
			if (dax_region_get_align(f.r) < size) {
				fallback(&f, DAX_FAULT_FALLBACK_UNALIGNED);
				level--;
				continue;
			}
			if ((index & ~((UINT64_C(1) << order) - 1)) +
				    (UINT64_C(1) << order) > pages) {
				fallback(&f, DAX_FAULT_FALLBACK_EOF);
				level--;
				continue;
			}
		}
		ret = fault_at(&f, order);
		if (ret != FAULT_FALLBACK)
			break;
		if (level == 0) {	/* cannot happen: order 0 never falls back */
			ret = dax_fail(dax_region_logger(f.r), -EIO,
				       "fault at index 0x%llx: a 4 KiB fault "
				       "fell back", (unsigned long long)index);
			break;
		}
		level--;
		pages = mapping_pages(m);
	}
exit:
	dax_region_exit(f.r);
out:
	if (ret) {
		ext_clear(ext);
		stat_add(&m->fault_stats.errors, 1);
	}
	return ret;
}

/**
 * dax_fault() - a direct pointer to a page of a mapping
 * @mapping: the mapping (on a region)
 * @index: the page (4 KiB) index
 * @flags: DAX_FAULT_WRITE, DAX_FAULT_LOCK, and at most one of
 *	DAX_FAULT_SIZE_2M and DAX_FAULT_SIZE_1G (else 4 KiB)
 * @ext: receives the pointer and the entry it lies in
 *
 * Resolves @index as the kernel's DAX fault handlers do (see the top of
 * this file and dax_fault(3)): a read of a hole installs a ZERO entry and
 * points into a read-only zero area; a write allocates through the
 * engine's iomap_begin (the built-in allocator when it is NULL), zeroes
 * new blocks, installs the entry and marks it dirty; large requests fall
 * back to smaller entries.  With DAX_FAULT_LOCK the entry stays locked and
 * @ext->cookie unlocks it (dax_unlock()); the pointer is valid while it is
 * held.
 *
 * Context: any thread; may sleep (entry locks, iomap_begin, allocation).
 * The caller must not hold an entry lock of the mapping at a higher index.
 * Present entries are answered lock-free.
 * Return: 0; -EINVAL (bad argument, no region); -ENXIO (past the mapping's
 * size, the mapping or region is dead); -ENOSPC (no free block); -EROFS
 * (write on a read-only region); -ENOMEM; -EIO or the engine's errno
 * (iomap_begin or iomap_end failed, or answered nonsense).  On failure
 * nothing changed and @ext is zeroed.
 */
DAX_EXPORT int dax_fault(struct dax_mapping *mapping, uint64_t index,
			 unsigned flags, struct dax_fault_ext *ext)
{
	if (unlikely(!mapping || !ext || !mapping->region ||
		     (flags & ~FAULT_ALL_FLAGS) ||
		     (flags & DAX_FAULT_SIZE_2M && flags & DAX_FAULT_SIZE_1G))) {
		if (ext)
			ext_clear(ext);
		return dax_fail(NULL, -EINVAL,
				!mapping ? "dax_fault: mapping is NULL" :
				!ext ? "dax_fault: ext out-pointer is NULL" :
				!mapping->region ?
					"dax_fault: the mapping has no region" :
				(flags & ~FAULT_ALL_FLAGS) ?
					"dax_fault: unknown flags" :
					"dax_fault: DAX_FAULT_SIZE_2M and "
					"DAX_FAULT_SIZE_1G together");
	}
	if (likely(!(flags & DAX_FAULT_LOCK)) &&
	    likely(fault_fast(mapping, index, flags, ext) == 0))
		return 0;
	return fault_slow(mapping, index, flags, ext);
}

/**
 * dax_fault_get_stats() - the fault counters of a mapping
 * @mapping: the mapping
 * @stats: receives a snapshot (each counter read atomically on its own)
 *
 * Context: any thread, lock-free.
 * Return: 0, or -EINVAL for a NULL argument.
 */
DAX_EXPORT int dax_fault_get_stats(const struct dax_mapping *mapping,
				   struct dax_fault_stats *stats)
{
	const uint64_t *src;
	uint64_t *dst;

	if (!mapping || !stats)
		return dax_fail(NULL, -EINVAL, "dax_fault_get_stats: %s is NULL",
				!mapping ? "mapping" : "stats");
	src = (const uint64_t *)&mapping->fault_stats;
	dst = (uint64_t *)stats;
	for (size_t i = 0; i < sizeof(*stats) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	return 0;
}

/* ---- giving blocks back ------------------------------------------------------------ */

int dax_fault_free_blocks(struct dax_mapping *m, uint64_t entry)
{
	return dax_mapping_free_blocks(m, entry);
}

int dax_fault_release_blocks(struct dax_mapping *m)
{
	uint64_t index = 0, v;
	unsigned order;
	int ret = 0, err;

	while ((v = dax_tree_find(m->tree, &index, UINT64_MAX,
				  DAX_TREE_PRESENT, &order)) != 0) {
		uint64_t first = index;

		if (dax_entry_is_locked(v)) {
			ret = dax_fail(NULL, -EBUSY,
				       "the entry at 0x%llx is locked: left "
				       "in place", (unsigned long long)first);
		} else {
			uint64_t cur = 0;

			/*
			 * Erase only the unlocked word seen above: a thread
			 * that locked the entry since then keeps it (a plain
			 * erase would remove a locked entry, stranding its
			 * waiters and leaking its blocks).  A lost race is
			 * reported like a locked entry.
			 */
			if (dax_tree_cmpxchg(m->tree, first, v, 0, &cur) ||
			    cur != v) {
				ret = dax_fail(NULL, -EBUSY,
					       "the entry at 0x%llx changed "
					       "under the release: left in "
					       "place",
					       (unsigned long long)first);
			} else if (dax_entry_is_real(v)) {
				dax_rmap_remove_range(m->rmap, dax_entry_pfn(v),
						      order, m->id);
				err = dax_fault_free_blocks(m, v);
				if (err && !ret)
					ret = err;
			}
		}
		index = first + (UINT64_C(1) << order);
		if (index == 0 || index > DAX_MAPPING_MAX_INDEX)
			break;
	}
	return ret;
}
