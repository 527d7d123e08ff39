/* SPDX-License-Identifier: MIT */
/*
 * Declarations shared by the library's files.  Not installed.  Each file's
 * section says which file defines it; data flows one way (region ->
 * allocator -> mapping -> fault / layout / writeback), so a section only
 * uses the sections above it.
 */
#ifndef LIBDAX_INTERNAL_H
#define LIBDAX_INTERNAL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config-host.h"
#include "libdax.h"

#define DAX_EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define DAX_PAGE_SHIFT 12
#define DAX_PAGE_SIZE (1UL << DAX_PAGE_SHIFT)

#define DAX_KiB (1ULL << 10)
#define DAX_MiB (1ULL << 20)
#define DAX_GiB (1ULL << 30)

/* ---- error.c: thread-local messages and logging ---------------------- */

#define DAX_ERRMSG_MAX 512

/*
 * Where a message goes besides dax_errormsg(): an object's log callback
 * (set through its options) and, when DAX_LOG is set in the environment,
 * stderr.  A NULL logger means "environment only".
 */
struct dax_logger {
	dax_log_fn fn;
	void *priv;
	enum dax_log_level level;
};

/* Record why an operation failed and return @err (a negative errno). */
int dax_fail(const struct dax_logger *log, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void dax_log(const struct dax_logger *log, enum dax_log_level level,
	     const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Forget the calling thread's last message (a call that succeeded). */
void dax_clear_errormsg(void);

/*
 * dax_check_align() - refuse @value when it is not a multiple of @align,
 * with a message that names @what and the two nearest valid values.
 * Return: 0, or -EINVAL with dax_errormsg() set.
 */
int dax_check_align(const struct dax_logger *log, const char *what,
		    uint64_t value, uint64_t align, const char *align_what);

/* "4 KiB", "2 MiB", "1 GiB", "1.5 MiB" or "0x1234" into @buf (>= 32 bytes). */
const char *dax_size_str(uint64_t bytes, char *buf, size_t len);

/* ---- rcu.c: the RCU flavor, with registration done for the caller ------- */
#include "rcu.h"

/* ---- region.c: per-region state owned by the layers above ------------------ */

/*
 * The layers above a region (the reverse map of mapping.c, the allocator)
 * keep per-region state in a slot of the region, created on first use.
 * The region never knows what a slot holds: dax_region_close() calls each
 * slot's release function once, after the last in-flight user has left.
 * This keeps the calls pointing down: the region only calls back through
 * the function pointer it was given.
 */
enum dax_region_slot {
	/* publish.c: first, so that close releases it last (the others'
	 * releases still update it) */
	DAX_REGION_SLOT_PUBLISH,
	DAX_REGION_SLOT_RMAP,	/* mapping.c: region page -> owning mapping */
	DAX_REGION_SLOT_ALLOC,	/* alloc.c: the block allocator */
	DAX_REGION_SLOT_FAULT,	/* fault.c: the zero area, zeroing method */
	DAX_REGION_SLOT_MEMFAIL, /* poison.c: bad pages, emulated sysfs side */
	DAX_REGION_SLOT_LAYOUT,	/* layout.c: last, released first: waits for pins */
	DAX_REGION_NR_SLOTS,
};

/*
 * dax_region_slot_get() - the object in @slot, or NULL when none yet.
 * Context: any thread, lock-free (an acquire load).
 */
void *dax_region_slot_get(const struct dax_region *region,
			  enum dax_region_slot slot);

/*
 * dax_region_slot_install() - put @obj in @slot unless one is there already.
 * Two threads may race to create a slot's object: the first install wins,
 * and the loser gets the winner's object back and must free its own.
 * Context: any thread, lock-free.
 * Return: the object that is in the slot after the call.
 */
void *dax_region_slot_install(struct dax_region *region,
			      enum dax_region_slot slot, void *obj,
			      void (*release)(void *obj));

/*
 * dax_region_enter() - start an operation on @region (a fault, a pin, a
 * flush): fails with -ENXIO and a message once dax_region_kill() has been
 * called, otherwise counts the caller as in flight until dax_region_exit().
 * dax_region_close() waits for every in-flight user before it unmaps, so
 * memory reached between enter and exit stays mapped.  Enter and exit may
 * run on different threads.
 * Context: any thread, lock-free (an RCU read-side section and one of 16
 * counters picked by thread); never sleeps.
 * Return: 0, or -ENXIO when the region is dead.
 */
int dax_region_enter(struct dax_region *region);
/* dax_region_exit() - end what dax_region_enter() started; never fails. */
void dax_region_exit(struct dax_region *region);
/* The region's log callback (from its options), for messages about it. */
const struct dax_logger *dax_region_logger(const struct dax_region *region);
/* The libpmem2 map behind the region (its memcpy/memset/flush functions). */
struct pmem2_map *dax_region_pmem2_map(const struct dax_region *region);
/* The open file descriptor of the device, file or memfd (owned by region). */
int dax_region_fd(const struct dax_region *region);
/*
 * dax_region_check_range() - refuse [@offset, @offset + @len) unless it
 * lies inside the mapped region and both ends are multiples of @align
 * (0: the region alignment).  @what names the request in the message.
 * Return: 0, -EINVAL (unaligned) or -ERANGE (past the end).
 */
int dax_region_check_range(const struct dax_region *region, const char *what,
			   uint64_t offset, uint64_t len, uint64_t align);

/* region_opts.c: what dax_region_open() is asked for. */
struct dax_region_opts {
	uint64_t align;			/* DAX_MiB * 2 unless set */
	bool align_set;
	uint64_t size;			/* 0: not set */
	unsigned flags;			/* enum dax_region_flag */
	uint64_t range_offset;		/* sub-range to map */
	uint64_t range_length;		/* 0: to the end */
	struct dax_resource *res;	/* emulated regions only */
	unsigned nr_res, res_cap;
	char *sysfs_root;		/* NULL: "/sys" */
	struct dax_logger log;
	struct dax_memfail_opts *memfail; /* poison.c: emulated sysfs side */
};

/* Is @align one of the alignments device-DAX supports (4K, 2M, 1G)? */
bool dax_region_align_supported(uint64_t align);
/* -EINVAL with a message naming the supported alignments. */
int dax_region_align_refuse(const struct dax_logger *log, const char *what,
			    uint64_t align);

/* sysfs.c: a character device's attributes under /sys/dev/char/MAJ:MIN. */
struct dax_sysfs_dev {
	enum dax_region_kind kind;
	uint64_t size;
	uint64_t align;
	int numa_node;			/* -1 when unknown */
	int target_node;		/* -1 when unknown */
	unsigned nr_res;
	struct dax_resource *res;	/* malloc'ed; mappingN/ in order */
	bool nd_backed;			/* under an NVDIMM bus (ndbusN) */
	char dir[4096];			/* the device's sysfs folder */
};

/*
 * dax_sysfs_read_dev() - find the kind, size, alignment, nodes and
 * resources of the character device @rdev (opened from @path) under
 * @root (normally "/sys").
 * Return: 0; -ENODEV when it is not a DAX device or an attribute is
 * missing or malformed; -ENOMEM.  Nothing to release on failure.
 */
int dax_sysfs_read_dev(const struct dax_logger *log, const char *root,
		       const char *path, unsigned major, unsigned minor,
		       struct dax_sysfs_dev *dev);

/* ---- tree.c: the entry locks' fast path and test hooks -------------------- */

/* Lock-free swap of an entry filling one slot (the entry locks' fast path). */
int dax_tree_cmpxchg_slot(struct dax_tree *tree, uint64_t index, uint64_t old,
			  uint64_t value, uint64_t *cur);
/* The value and one mark of the entry covering @index, in one walk. */
uint64_t dax_tree_load_mark(const struct dax_tree *tree, uint64_t index,
			    enum dax_tree_mark mark, bool *marked);
typedef uint64_t (*dax_tree_update_fn)(uint64_t value, void *arg);
int dax_tree_update_slot(struct dax_tree *tree, uint64_t index,
			 dax_tree_update_fn update, void *arg, uint64_t *old);
/* Fail the @nth node allocation of @tree from now on with -ENOMEM (0: off). */
void dax_tree_inject_alloc_failure(struct dax_tree *tree, unsigned long nth);
/* Node allocations @tree has made (each reserved node counts). */
uint64_t dax_tree_get_nr_allocs(struct dax_tree *tree);
/* Check every invariant; 0, or -EUCLEAN with dax_errormsg() saying which. */
int dax_tree_check(struct dax_tree *tree);

/* ---- entry.c, mapping.c, rmap.c, waitq.c: DAX entries and entry locks ---- */

/*
 * A DAX entry is one tree value (below 2^56), see the essay atop entry.c:
 *
 *	bit 0		VALID: always set, so that no entry is 0
 *	bit 1		LOCKED
 *	bit 2		ZERO: a read-only hole, backed by the shared zero page
 *	bit 3		EMPTY: a locked placeholder while blocks are allocated
 *	bit 4		SPARE: free for the fault path
 *	bits 5-10	order (the tree's order of the entry, kept in the word so
 *			that a value alone says how much it covers)
 *	bits 11-21	lock sequence: bumped by every lock, copied into cookies
 *	bits 22-55	region page number (pfn) of the first page; 0 for ZERO
 *			and EMPTY entries
 *
 * Dirty and to-write state are tree marks, not flags.
 */
#define DAX_ENTRY_VALID (UINT64_C(1) << 0)
#define DAX_ENTRY_LOCKED (UINT64_C(1) << 1)
#define DAX_ENTRY_ZERO (UINT64_C(1) << 2)
#define DAX_ENTRY_EMPTY (UINT64_C(1) << 3)
#define DAX_ENTRY_SPARE (UINT64_C(1) << 4)
#define DAX_ENTRY_FLAGS ((UINT64_C(1) << 5) - 1)
#define DAX_ENTRY_ORDER_SHIFT 5
#define DAX_ENTRY_SEQ_SHIFT 11
#define DAX_ENTRY_SEQ_BITS 11
#define DAX_ENTRY_SEQ_MASK ((UINT64_C(1) << DAX_ENTRY_SEQ_BITS) - 1)
#define DAX_ENTRY_PFN_SHIFT 22
#define DAX_ENTRY_MAX_PFN ((UINT64_C(1) << 34) - 1)

#define DAX_ENTRY_MARK_DIRTY DAX_TREE_MARK_0
#define DAX_ENTRY_MARK_TOWRITE DAX_TREE_MARK_1

/* @flags: DAX_ENTRY_LOCKED/ZERO/EMPTY/SPARE; VALID is added. */
static inline uint64_t dax_entry_make(uint64_t pfn, unsigned order,
				      uint64_t flags)
{
	return pfn << DAX_ENTRY_PFN_SHIFT |
	       (uint64_t)(order & 63) << DAX_ENTRY_ORDER_SHIFT |
	       (flags & DAX_ENTRY_FLAGS) | DAX_ENTRY_VALID;
}

static inline uint64_t dax_entry_pfn(uint64_t e)
{
	return e >> DAX_ENTRY_PFN_SHIFT;
}

static inline unsigned dax_entry_order(uint64_t e)
{
	return (e >> DAX_ENTRY_ORDER_SHIFT) & 63;
}

static inline unsigned dax_entry_seq(uint64_t e)
{
	return (e >> DAX_ENTRY_SEQ_SHIFT) & DAX_ENTRY_SEQ_MASK;
}

static inline uint64_t dax_entry_set_seq(uint64_t e, unsigned seq)
{
	return (e & ~(DAX_ENTRY_SEQ_MASK << DAX_ENTRY_SEQ_SHIFT)) |
	       ((uint64_t)seq & DAX_ENTRY_SEQ_MASK) << DAX_ENTRY_SEQ_SHIFT;
}

static inline bool dax_entry_is_locked(uint64_t e)
{
	return e & DAX_ENTRY_LOCKED;
}

static inline bool dax_entry_is_zero(uint64_t e)
{
	return e & DAX_ENTRY_ZERO;
}

static inline bool dax_entry_is_empty(uint64_t e)
{
	return e & DAX_ENTRY_EMPTY;
}

/* Backed by region pages (neither a hole nor a placeholder). */
static inline bool dax_entry_is_real(uint64_t e)
{
	return !(e & (DAX_ENTRY_ZERO | DAX_ENTRY_EMPTY));
}

static inline uint64_t dax_entry_nr_pages(uint64_t e)
{
	return UINT64_C(1) << dax_entry_order(e);
}

/* The canonical (first) index of entry @e, which covers @index. */
static inline uint64_t dax_entry_first(uint64_t e, uint64_t index)
{
	return index & ~(dax_entry_nr_pages(e) - 1);
}

/*
 * A locked entry as the entry functions hand it to their caller: its
 * canonical index and the word stored in the tree (LOCKED set).  The
 * functions below keep it up to date; the caller only reads it.
 */
struct dax_locked_entry {
	uint64_t first;
	uint64_t entry;
};

/* ThreadSanitizer cannot see RCU grace periods; these draw the edges. */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define dax_tsan_release(addr) __tsan_release(addr)
#define dax_tsan_acquire(addr) __tsan_acquire(addr)
#else
#define dax_tsan_release(addr) ((void)(addr))
#define dax_tsan_acquire(addr) ((void)(addr))
#endif

/*
 * mapping.c: the mapping object.  Its layout is here so that the entry
 * locks (entry.c) reach the tree and the wait table without a call; the
 * other files use the accessors.
 */
#include <pthread.h>

struct dax_rmap;
struct dax_waitq;
struct dax_range_lock;

struct dax_mapping {
	/* read by every lock and unlock */
	struct dax_tree *tree;
	struct dax_waitq *wq;
	_Atomic bool dead;
	unsigned spins;
	uint32_t id;
	uint32_t tag;			/* id bits that cookies carry */
	struct dax_rmap *rmap;
	const struct dax_mapping_ops *ops;
	void *priv;
	struct dax_region *region;
	_Atomic uint64_t size;
	_Atomic unsigned next_seq;

	_Atomic long refs __attribute__((aligned(64)));

	/* range-lock records (entry.c), under range_lock */
	pthread_mutex_t range_lock;
	struct dax_range_lock *ranges;
	uint32_t nr_ranges, free_range;
	struct rcu_head rcu;
	/* ThreadSanitizer cannot see grace periods: reverse-map lookups
	 * release this, the free callback acquires it. */
	char tsan_readers;
	/* fault.c's: its counters (updated with __atomic builtins), and the
	 * region's base address, cached by the first fault that locks */
	struct dax_fault_stats fault_stats;
	char *fault_base;
	/* layout.c's pins, leases and drain state, made on first use */
	struct dax_layout *_Atomic layout;
};

/* A mapping on a standalone reverse map (tests; dax_mapping_new() uses the
 * region's).  @region may be NULL. */
int dax_mapping_new_rmap(struct dax_rmap *rmap, struct dax_region *region,
			 const struct dax_mapping_ops *ops, void *priv,
			 uint64_t size, struct dax_mapping **mapping);
struct dax_tree *dax_mapping_tree(const struct dax_mapping *mapping);
const struct dax_mapping_ops *dax_mapping_ops(const struct dax_mapping *m);
struct dax_rmap *dax_mapping_rmap(const struct dax_mapping *mapping);
/*
 * dax_mapping_free_blocks() - give back the blocks of a real entry that was
 * just erased (truncate, hole punch, the last put), when the built-in
 * allocator made them: a mapping whose ops have no iomap_begin.  An
 * engine's blocks are its own: then nothing is done.  Reused only after an
 * RCU grace period.
 * Return: 0; -EINVAL (not a real entry, or not an allocated block).
 */
int dax_mapping_free_blocks(struct dax_mapping *mapping, uint64_t entry);
struct dax_waitq *dax_mapping_waitq(const struct dax_mapping *mapping);
/* The mapping's id in its reverse map (1..2^20-1). */
uint32_t dax_mapping_id(const struct dax_mapping *mapping);
/* A fresh lock sequence for a new entry. */
unsigned dax_mapping_next_seq(struct dax_mapping *mapping);
/*
 * dax_mapping_tryget() - take a reference unless the count already hit 0
 * Context: inside dax_rcu_read_lock() when the caller holds no reference
 * (the mapping's memory lives for a grace period after its last put).
 * Return: true when a reference was taken.
 */
bool dax_mapping_tryget(struct dax_mapping *mapping);

/* rmap.c: per-region reverse map (region page -> mapping, index), the
 * mapping id table and the region's wait table; refcounted. */
#define DAX_RMAP_MAX_ID ((UINT32_C(1) << 20) - 1)
#define DAX_WAITQ_DEFAULT_BUCKETS 1024

/* @nr_pages: region pages (pfns 0..nr_pages-1 are valid). */
int dax_rmap_new(uint64_t nr_pages, unsigned nr_wait_buckets,
		 struct dax_rmap **rmap);
void dax_rmap_get(struct dax_rmap *rmap);
void dax_rmap_put(struct dax_rmap *rmap);
/* The region's reverse map, made on first use when @create. */
struct dax_rmap *dax_region_rmap(struct dax_region *region, bool create);
/* Test hook: make the region's reverse map now, with @nr_wait_buckets
 * buckets (1 makes every key collide).  -EBUSY if it already exists. */
int dax_region_set_wait_buckets(struct dax_region *region,
				unsigned nr_wait_buckets);
struct dax_waitq *dax_rmap_waitq(const struct dax_rmap *rmap);
uint64_t dax_rmap_nr_pages(const struct dax_rmap *rmap);
/* The rmap's region is still open (its close has not released the rmap). */
bool dax_rmap_region_open(const struct dax_rmap *rmap);
int dax_rmap_register(struct dax_rmap *rmap, struct dax_mapping *mapping,
		      uint32_t *id);
void dax_rmap_unregister(struct dax_rmap *rmap, uint32_t id);
/* Record that pages [pfn, pfn + 2^order) back [index, ...) of mapping @id.
 * -EBUSY (with a message) when some of them belong to someone already. */
int dax_rmap_add(struct dax_rmap *rmap, uint64_t pfn, unsigned order,
		 uint32_t id, uint64_t index);
/* Forget the record covering @pfn if it is mapping @id's. */
void dax_rmap_remove(struct dax_rmap *rmap, uint64_t pfn, uint32_t id);
/* Forget every record of mapping @id in [pfn, pfn + 2^order). */
void dax_rmap_remove_range(struct dax_rmap *rmap, uint64_t pfn,
			   unsigned order, uint32_t id);
/* Undo a split: one record of @order at @pfn (aligned) again. */
int dax_rmap_merge(struct dax_rmap *rmap, uint64_t pfn, unsigned order);
/* Split the record covering @pfn down to @order pieces (same meaning). */
int dax_rmap_split(struct dax_rmap *rmap, uint64_t pfn, unsigned order);
/*
 * dax_rmap_lookup() - the owner of a region page, with a reference
 * @stamp: receives the record's raw value (to tell later if it changed)
 * Context: any thread; takes the RCU read lock itself.
 * Return: the mapping (the caller puts it) and *@index, or NULL.
 */
struct dax_mapping *dax_rmap_lookup(struct dax_rmap *rmap, uint64_t pfn,
				    uint64_t *index, uint64_t *stamp);
uint64_t dax_rmap_stamp(struct dax_rmap *rmap, uint64_t pfn);

/* waitq.c: the hashed wait table.  A waiter sleeps on its own futex word,
 * queued in the bucket of (obj, key); wake_one wakes the oldest waiter of
 * that exact key, wake_all every waiter of the key (or of obj: key ~0). */
#define DAX_WAITQ_ALL_KEYS UINT64_MAX

struct dax_waiter {
	struct dax_waiter *next, *prev;
	const void *obj;
	uint64_t key;
	_Atomic uint32_t woken;
	bool queued;
};

struct dax_waitq_stats {
	uint64_t sleeps;	/* futex waits entered */
	uint64_t wakes;		/* waiters woken (futex wakes issued) */
};

int dax_waitq_new(unsigned nr_buckets, struct dax_waitq **wq);
void dax_waitq_delete(struct dax_waitq **wq);
/* Queue @w, then a full barrier: the caller re-checks its condition next. */
void dax_waitq_prepare(struct dax_waitq *wq, struct dax_waiter *w,
		       const void *obj, uint64_t key);
/* Sleep until woken (returns early on a spurious wake-up). */
void dax_waitq_sleep(struct dax_waitq *wq, struct dax_waiter *w);
/* Dequeue @w if still queued.  Return: true if it had been woken. */
bool dax_waitq_finish(struct dax_waitq *wq, struct dax_waiter *w);
/* A full barrier, then wake the oldest waiter of (obj, key), or every one
 * when @all (key DAX_WAITQ_ALL_KEYS: every waiter of @obj). */
void dax_waitq_wake(struct dax_waitq *wq, const void *obj, uint64_t key,
		    bool all);
/* As dax_waitq_wake(), for a waker whose condition change was a seq_cst
 * read-modify-write: no second barrier.  Not for DAX_WAITQ_ALL_KEYS. */
void dax_waitq_wake_after_rmw(struct dax_waitq *wq, const void *obj,
			      uint64_t key, bool all);
void dax_waitq_get_stats(struct dax_waitq *wq, struct dax_waitq_stats *st);
unsigned dax_waitq_nr_buckets(const struct dax_waitq *wq);

/*
 * entry.c: what the fault path builds on.  Each takes and returns entries
 * locked; all may sleep.  A mapping that was killed makes them fail with
 * -ENXIO (grab) or report "nothing" (lock).
 */

/*
 * dax_entry_lock() - lock the entry covering @index, waiting for it
 * Return: 1 (locked, @le filled), 0 (no entry covers @index), -ENXIO (the
 * mapping was killed, possibly while waiting).
 */
int dax_entry_lock(struct dax_mapping *mapping, uint64_t index,
		   struct dax_locked_entry *le);
/*
 * dax_entry_grab() - lock the entry for a fault of 2^@order pages at @index
 *
 * The fault path's starting point (the kernel's grab_mapping_entry):
 * - an entry of order >= @order covers @index: wait for it and lock it,
 *   except that a ZERO entry larger than @order is erased (waking its
 *   waiters) and replaced as if absent, so a small write can go in;
 * - smaller entries lie in the aligned 2^@order range: -ERANGE, nothing
 *   changes (fall back to a smaller order; they are never erased);
 * - nothing there: a locked EMPTY entry of @order is inserted at @index
 *   rounded down to 2^@order.
 * Return: 0 with @le locked; -ERANGE; -ENXIO (killed); -ENOMEM; -EINVAL.
 */
int dax_entry_grab(struct dax_mapping *mapping, uint64_t index,
		   unsigned order, struct dax_locked_entry *le);
/*
 * dax_entry_replace() - give a locked entry new contents, same order
 * @pfn: first region page (aligned to the order) for a real entry; 0 with
 *	DAX_ENTRY_ZERO or DAX_ENTRY_EMPTY
 * @flags: 0 (real), DAX_ENTRY_ZERO or DAX_ENTRY_EMPTY, | DAX_ENTRY_SPARE
 *
 * Keeps the entry locked (same cookie) and its marks; updates the reverse
 * map (the new pages are recorded before the entry shows them, the old ones
 * forgotten after).
 * Return: 0; -EBUSY (pages owned by another entry); -EINVAL (bad pfn, or
 * @le is not locked as described); -ENOMEM.  On error nothing changed.
 */
int dax_entry_replace(struct dax_mapping *mapping,
		      struct dax_locked_entry *le, uint64_t pfn,
		      uint64_t flags);
/* Unlock, waking one waiter; an EMPTY placeholder is erased instead. */
void dax_entry_put(struct dax_mapping *mapping, struct dax_locked_entry *le);
/* Erase a locked entry (and its reverse-map record), waking all waiters. */
void dax_entry_erase(struct dax_mapping *mapping, struct dax_locked_entry *le);
/*
 * dax_entry_split() - split a locked entry into pieces of @order
 *
 * Real entries' pieces get their own pfns.  The piece covering @keep stays
 * locked (@le describes it afterwards); the others are unlocked, unless
 * @keep is UINT64_MAX: then every piece stays locked, and the caller
 * releases each (dax_entry_piece() describes them).  Waiters of the old
 * entry are all woken to revalidate.
 * Return: 0; -EINVAL; -ENOMEM (nothing changed).
 */
int dax_entry_split(struct dax_mapping *mapping, struct dax_locked_entry *le,
		    unsigned order, uint64_t keep);
/* The locked piece covering @index of an entry split with keep UINT64_MAX. */
void dax_entry_piece(const struct dax_locked_entry *le, uint64_t index,
		     struct dax_locked_entry *piece);
/* Free a dead mapping's range-lock records (mapping.c's last put). */
void dax_range_locks_free(struct dax_mapping *mapping);
/* The cookie dax_unlock() takes for @le (handing a grabbed entry over). */
dax_cookie_t dax_entry_cookie(const struct dax_mapping *mapping,
			      const struct dax_locked_entry *le);
/*
 * dax_cookie_owner() - the mapping and index a held pfn cookie locks
 * (borrowed: valid until dax_unlock_pfn()).  -EINVAL for a bad cookie.
 */
int dax_cookie_owner(struct dax_region *region, dax_cookie_t cookie,
		     struct dax_mapping **mapping, uint64_t *index);
/* Tests: the canonical index an entry cookie names; the entry cookies a
 * held range cookie holds (up to @max; *@n gets how many).  -EINVAL if the
 * range cookie is not held. */
uint64_t dax_cookie_index(dax_cookie_t cookie);
int dax_range_cookie_entries(struct dax_mapping *mapping, dax_cookie_t cookie,
			     dax_cookie_t *entries, uint64_t max,
			     uint64_t *n);
/* dax_lock_pfn() / dax_unlock_pfn() on a standalone reverse map. */
int dax_rmap_lock_pfn(struct dax_rmap *rmap, uint64_t pfn,
		      dax_cookie_t *cookie);
int dax_rmap_unlock_pfn(struct dax_rmap *rmap, dax_cookie_t cookie);
/* How long a locker of @mapping spins before it sleeps (tests, bench). */
void dax_mapping_set_spin(struct dax_mapping *mapping, unsigned spins);

/* ---- alloc.c: the block allocator (what the fault path and heap use) ----- */

/*
 * One allocator per region, in its DAX_REGION_SLOT_ALLOC slot; see the top
 * of alloc.c.  The dax_alloc_* calls do not enter the region: callers that
 * must refuse a killed region (allocation on behalf of a fault) call
 * dax_region_enter() around them, or use the public dax_alloc_pages().
 */
struct dax_alloc;

/* The region's allocator, created on first use; 0, -ENOMEM or -ENOSPC. */
int dax_alloc_get(struct dax_region *region, struct dax_alloc **alloc);
/* A block of 2^@order pages (flags: DAX_ALLOC_WAIT); -EINVAL, -ENOSPC. */
int dax_alloc_block(struct dax_alloc *alloc, unsigned order, unsigned flags,
		    uint64_t *page);
/* Free a block after an RCU grace period; -EINVAL if it is not allocated. */
int dax_alloc_free_block(struct dax_alloc *alloc, uint64_t page,
			 unsigned order);
/*
 * Wait until the blocks freed so far are free again (at most two grace
 * periods); never inside an RCU read-side section.  Tests use it to settle.
 */
void dax_alloc_drain(struct dax_alloc *alloc);
/*
 * Contiguous ranges of any length (the heap's extents): the smallest block
 * that holds @nr_pages, its tail freed at once.  dax_alloc_free_range()
 * frees any allocated pages, whole blocks or parts, with no grace period.
 */
int dax_alloc_range(struct dax_alloc *alloc, uint64_t nr_pages,
		    unsigned align_order, uint64_t *page);
int dax_alloc_free_range(struct dax_alloc *alloc, uint64_t page,
			 uint64_t nr_pages);
/*
 * Memory failure: never hand out @page again (a free page leaves at once,
 * an allocated one when its block is freed).  0, or -EINVAL out of range.
 */
int dax_alloc_poison(struct dax_alloc *alloc, uint64_t page);
bool dax_alloc_is_poisoned(struct dax_alloc *alloc, uint64_t page);
void dax_alloc_stats(struct dax_alloc *alloc, struct dax_alloc_stats *stats);
/* Every invariant, O(pages), for tests: 0, -ENOMEM or -EUCLEAN. */
int dax_alloc_check(struct dax_alloc *alloc);
/* The smallest order whose block holds @nr_pages pages. */
unsigned dax_order_for_pages(uint64_t nr_pages);

/* ---- heap.c ------------------------------------------------------------------ */

/*
 * The bytes of every extent jemalloc asked the heap for, and what the
 * smallest whole blocks would have taken (the waste the heap avoids by
 * trimming each block to its extent): for bench/heap_bench.c.
 */
void dax_heap_extent_sizes(struct dax_heap *heap, uint64_t *asked,
			   uint64_t *pow2);

/* ---- fault.c: the fault path ------------------------------------------------ */

/*
 * dax_fault_free_blocks() - dax_mapping_free_blocks(), under the name the
 * fault path's users know: give back a just-erased real entry's built-in
 * blocks (nothing for an engine's own).
 */
int dax_fault_free_blocks(struct dax_mapping *mapping, uint64_t entry);
/*
 * dax_fault_release_blocks() - erase every entry of @mapping, giving
 * built-in blocks back (dax_fault_free_blocks()).  The stopgap teardown
 * until layout.c's truncate; works on a dead mapping too.  No fault, lock
 * or pointer of the mapping may be in use.
 * Return: 0, or -EBUSY when a locked entry was found (left in place).
 */
int dax_fault_release_blocks(struct dax_mapping *mapping);

/* ---- layout.c: pins, leases, break layouts, truncate ------------------------ */

struct dax_layout;

/* Free a mapping's layout state (mapping.c's free callback). */
void dax_layout_free(struct dax_layout *layout);
/*
 * The fault path's hook: must a fill of the entry [@first, @last] wait
 * because a truncate or hole punch is erasing part of it?  Call with the
 * entry locked; if true, unlock it, dax_layout_fill_wait() and start over.
 */
bool dax_layout_fill_blocked(struct dax_mapping *mapping, uint64_t first,
			     uint64_t last);
void dax_layout_fill_wait(struct dax_mapping *mapping, uint64_t index);
/* Tests: call @fn(@arg) each time a layout change of @mapping is drained
 * (before it changes anything), to check that no pin is held then. */
int dax_layout_set_drained_hook(struct dax_mapping *mapping,
				void (*fn)(void *arg), void *arg);
/* Tests: pins and drains use full fences instead of membarrier (as where
 * it is missing) when @fenced; only while no pin or drain is in flight.
 * Return: the previous mode. */
bool dax_layout_set_fenced(bool fenced);
/* rmap.c, for the region revoke: the live mapping of the lowest id >= *@id,
 * with a reference; *@id gets its id.  NULL when none is left. */
struct dax_mapping *dax_rmap_next_mapping(struct dax_rmap *rmap, uint32_t *id);

/* ---- poison.c, writeback.c: memory failure, bad blocks, writeback ----------- */

/*
 * A region's memory-failure state, in its DAX_REGION_SLOT_MEMFAIL slot,
 * made on first use (poison.c).  @bad is sorted and holds each bad region
 * page once; @lock guards every field.
 */
struct dax_memfail {
	pthread_mutex_t lock;
	uint64_t *bad;
	uint64_t nr_bad, cap;
	uint64_t usc;			/* emulated unsafe-shutdown count */
	bool deep_flush;		/* deep_flush capability */
	char *deep_flush_path;		/* device-DAX: the nd region's */
	bool usc_ok;			/* @usc was read (or emulated) */
	uint64_t nr_deep_flushes;	/* dax_writeback()'s, for tests */
	/* tests: called for each range dax_writeback() flushes */
	void (*flush_hook)(void *priv, uint64_t pfn, uint64_t nr_pages);
	void *flush_hook_priv;
};

/* The region's state, made on first use; NULL (with a message) on ENOMEM. */
struct dax_memfail *dax_memfail_get(struct dax_region *region);
/* dax_writeback()'s deep flush of [@addr, @addr + @len); 0 or -EIO. */
int dax_memfail_deep_flush(struct dax_region *region, char *addr,
			   uint64_t len);
/* What the options ask of an emulated region's sysfs side (poison.c). */
struct dax_memfail_opts {
	uint64_t *bad;			/* pairs: byte offset, length */
	unsigned nr_bad, cap;
	bool deep_flush;
	uint64_t usc;
};

void dax_memfail_opts_free(struct dax_memfail_opts *mo);
/*
 * dax_memfail_open() - at the end of dax_region_open(): the bad blocks,
 * deep_flush capability and unsafe-shutdown count the options ask for
 * (emulated) or the device reports (a count that cannot be read is a
 * warning).  Return: 0, -EINVAL, -ERANGE or -ENOMEM.
 */
int dax_memfail_open(struct dax_region *region,
		     const struct dax_region_opts *opts);
/* The libpmem2 source behind the region (region.c). */
struct pmem2_source *dax_region_pmem2_source(const struct dax_region *region);
/* Tests: watch what dax_writeback() flushes on @region (NULL: stop). */
int dax_writeback_set_flush_hook(struct dax_region *region,
				 void (*fn)(void *priv, uint64_t pfn,
					    uint64_t nr_pages),
				 void *priv);

/* ---- publish.c: what a process does with a region, for daxctl-lite ------- */

/*
 * Each open region (unless DAX_PUBLISH=0; memfds only with DAX_PUBLISH=1)
 * has a small shared file in $DAX_RUNDIR or /run/libdax that the hooks
 * below keep up to date with relaxed stores; see the top of publish.c for
 * the file's layout.  Every hook does nothing for a region that is not
 * published, and none of them fails or makes a system call.
 */
enum dax_pub_counter {
	DAX_PUB_POISONED,	/* pages marked bad (alloc.c) */
	DAX_PUB_WITHDRAWN,	/* bad pages out of use (alloc.c) */
};

/* region.c: at the end of a successful open; never fails the open. */
void dax_publish_open(struct dax_region *region);
/* alloc.c: @alloc now has @nr free (or @used) blocks of @order. */
void dax_publish_blocks(struct dax_region *region, const void *alloc,
			bool used, unsigned order, uint64_t nr);
void dax_publish_set(struct dax_region *region, enum dax_pub_counter c,
		     uint64_t val);
/* heap.c: heaps made (+1) or destroyed (-1), region bytes taken or given. */
void dax_publish_heap(struct dax_region *region, int heaps, int64_t bytes);
/* mapping.c, layout.c: a mapping, pin or lease more (+1) or less (-1). */
void dax_publish_mapping(const struct dax_mapping *mapping, int delta);
void dax_publish_pin(const struct dax_mapping *mapping, int delta);
/* @mapping is needed when taking (+1) only; @lease names the lease. */
void dax_publish_lease(const struct dax_mapping *mapping, const void *lease,
		       int delta);

/* daxctl-lite's side: one publication file read and checked. */
struct dax_pub_info {
	unsigned version;
	int pid;
	unsigned kind;			/* enum dax_region_kind */
	uint64_t start_time;		/* ticks since boot */
	uint64_t open_time;		/* ns since the epoch */
	uint64_t dev, ino;		/* 0, 0 for a memfd */
	uint64_t size, align, offset;
	char boot_id[40];
	char comm[16];
	char path[256];
	uint64_t total_pages;
	unsigned max_order;
	bool alloc_made;
	uint64_t free_pages, used_pages, pending_pages;
	uint64_t poisoned_pages, withdrawn_pages;
	uint64_t nr_free[DAX_ALLOC_NR_ORDERS];
	uint64_t nr_used[DAX_ALLOC_NR_ORDERS];
	uint64_t mappings, pins, leases, heaps, heap_bytes;
};

/* $DAX_RUNDIR, or /run/libdax. */
const char *dax_publish_dir(void);
/* 0; -EBADMSG (not a publication, or cut short); -EPROTONOSUPPORT; -errno. */
int dax_publish_read(int dirfd, const char *name, struct dax_pub_info *info);
/* Field 22 of /proc/@pid/stat and (@state, may be NULL) field 3;
 * -ENOENT when there is no such process. */
int dax_publish_proc_start(int pid, uint64_t *start, char *state);
void dax_publish_boot_id(char *buf, size_t len);

#endif /* LIBDAX_INTERNAL_H */
