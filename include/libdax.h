/* SPDX-License-Identifier: MIT */
/*
 * libdax: direct access to byte-addressable memory (persistent memory,
 * device-DAX, or DRAM/files standing in for it) for multithreaded storage
 * engines.  This is the only public header.  Every type is opaque; every
 * function returns 0 or a negative errno unless its man page says otherwise,
 * and dax_errormsg() explains the last failure of the calling thread.
 *
 * The man pages are the reference: libdax(7) for the overview, one page per
 * function group in section 3.
 */
#ifndef LIBDAX_H
#define LIBDAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors and logging ------------------------------------------------ */

/* The text of the calling thread's last failure ("" when there was none). */
const char *dax_errormsg(void);

enum dax_log_level {
	DAX_LOG_ERR = 3,
	DAX_LOG_WARN = 4,
	DAX_LOG_INFO = 6,
	DAX_LOG_DEBUG = 7,
};

/* A log sink: gets every message at or below the level it was set with. */
typedef void (*dax_log_fn)(void *priv, enum dax_log_level level,
			   const char *msg);

/* ---- region options ------------------------------------------------------ */

struct dax_region_opts;

enum dax_region_flag {
	DAX_REGION_READONLY = 1 << 0,	/* map PROT_READ only */
	DAX_REGION_PRIVATE = 1 << 1,	/* ask for MAP_PRIVATE: always refused */
	DAX_REGION_CREATE = 1 << 2,	/* emulated file: create / extend it */
};

int dax_region_opts_new(struct dax_region_opts **opts);
void dax_region_opts_delete(struct dax_region_opts **opts);
int dax_region_opts_set_align(struct dax_region_opts *opts, uint64_t align);
int dax_region_opts_set_size(struct dax_region_opts *opts, uint64_t size);
int dax_region_opts_set_flags(struct dax_region_opts *opts, unsigned flags);
int dax_region_opts_set_range(struct dax_region_opts *opts, uint64_t offset,
			      uint64_t length);
int dax_region_opts_add_resource(struct dax_region_opts *opts,
				 uint64_t phys_start, uint64_t size);
int dax_region_opts_set_sysfs_root(struct dax_region_opts *opts,
				   const char *root);
int dax_region_opts_set_log(struct dax_region_opts *opts, dax_log_fn fn,
			    void *priv, enum dax_log_level level);

/* ---- regions --------------------------------------------------------------- */

struct dax_region;

enum dax_region_kind {
	DAX_REGION_KIND_DEVDAX = 1,	/* kernel device-DAX, /dev/daxX.Y */
	DAX_REGION_KIND_MODULE = 2,	/* the companion module's device */
	DAX_REGION_KIND_EMULATED = 3,	/* a regular file or a memfd */
};

/* One physical range of a region, as device-DAX's mappingN/ describes it. */
struct dax_resource {
	uint64_t start;		/* physical address of the first byte */
	uint64_t end;		/* physical address of the last byte */
	uint64_t page_offset;	/* first region page (4 KiB) it backs */
};

int dax_region_open(const char *path, const struct dax_region_opts *opts,
		    struct dax_region **region);
int dax_region_close(struct dax_region **region);
int dax_region_kill(struct dax_region *region);
bool dax_region_is_alive(const struct dax_region *region);

uint64_t dax_region_get_size(const struct dax_region *region);
uint64_t dax_region_get_align(const struct dax_region *region);
uint64_t dax_region_get_offset(const struct dax_region *region);
uint64_t dax_region_get_device_size(const struct dax_region *region);
void *dax_region_get_base(const struct dax_region *region);
enum dax_region_kind dax_region_get_kind(const struct dax_region *region);
const char *dax_region_kind_name(enum dax_region_kind kind);
const char *dax_region_get_path(const struct dax_region *region);
int dax_region_get_numa_node(const struct dax_region *region);
int dax_region_get_target_node(const struct dax_region *region);
unsigned dax_region_get_nr_resources(const struct dax_region *region);
int dax_region_get_resource(const struct dax_region *region, unsigned index,
			    struct dax_resource *res);
int dax_region_offset_to_phys(const struct dax_region *region,
			      uint64_t offset, uint64_t *phys,
			      unsigned *resource);
int dax_region_persist(struct dax_region *region, uint64_t offset,
		       uint64_t len);
/* Pages of a range the kernel holds (O_DIRECT in flight...); module only. */
int dax_region_count_busy(const struct dax_region *region, uint64_t offset,
			  uint64_t len, uint64_t *busy);

/* ---- the entry tree -------------------------------------------------------- */

/*
 * A radix tree of 64-slot nodes over 64-bit indices (the XArray idea).  An
 * entry of order k (0..DAX_TREE_MAX_ORDER) covers the 2^k indices aligned to
 * 2^k; a load of any of them returns it.  Entries are 64-bit words in
 * 1..DAX_TREE_VALUE_MAX; 0 means "no entry".  A pointer fits (user-space
 * addresses are below 2^56), so does a packed word such as a DAX entry.
 *
 * Readers (load, find, walk, get_mark, the getters) never block: they run
 * under RCU inside the call, from any thread, with no registration.
 * Writers serialize on the tree's own lock: each plain writer takes it for
 * one call; dax_tree_lock() holds it across several *_locked calls.  Every
 * write either happens whole or fails with nothing changed.
 */
struct dax_tree;

#define DAX_TREE_VALUE_MAX ((UINT64_C(1) << 56) - 1)
#define DAX_TREE_MAX_ORDER 63

/* Three marks per entry; DAX_TREE_PRESENT as a find filter means "any". */
enum dax_tree_mark {
	DAX_TREE_MARK_0 = 0,
	DAX_TREE_MARK_1 = 1,
	DAX_TREE_MARK_2 = 2,
	DAX_TREE_PRESENT = 3,
};

/* dax_tree_store() flags: what a store may do to the entries it overlaps. */
enum dax_tree_store_flag {
	DAX_TREE_SPLIT = 1 << 0,	/* inside a larger entry: split it */
	DAX_TREE_REPLACE = 1 << 1,	/* over smaller entries: replace them */
};

int dax_tree_new(struct dax_tree **tree);
void dax_tree_delete(struct dax_tree **tree);

/* Readers: lock-free, any thread, may run beside writers. */
uint64_t dax_tree_load(const struct dax_tree *tree, uint64_t index);
uint64_t dax_tree_load_covering(const struct dax_tree *tree, uint64_t index,
				uint64_t *first, unsigned *order);
bool dax_tree_get_mark(const struct dax_tree *tree, uint64_t index,
		       enum dax_tree_mark mark);
uint64_t dax_tree_find(const struct dax_tree *tree, uint64_t *index,
		       uint64_t last, enum dax_tree_mark filter,
		       unsigned *order);
uint64_t dax_tree_find_after(const struct dax_tree *tree, uint64_t *index,
			     uint64_t last, enum dax_tree_mark filter,
			     unsigned *order);
uint64_t dax_tree_find_conflict(const struct dax_tree *tree, uint64_t index,
				unsigned order, uint64_t *first,
				unsigned *entry_order);
/* Called for each entry in index order; a non-zero return stops the walk. */
typedef int (*dax_tree_walk_fn)(void *priv, uint64_t first, unsigned order,
				uint64_t value);
int dax_tree_walk(const struct dax_tree *tree, uint64_t start, uint64_t last,
		  enum dax_tree_mark filter, dax_tree_walk_fn fn, void *priv);
bool dax_tree_empty(const struct dax_tree *tree);
uint64_t dax_tree_get_nr_entries(const struct dax_tree *tree);
uint64_t dax_tree_get_nr_nodes(const struct dax_tree *tree);
uint64_t dax_tree_get_memory(const struct dax_tree *tree);

/*
 * Iterate over the entries overlapping [start, last] that pass @filter, in
 * index order: @first and @order receive each entry's first index and order.
 */
#define dax_tree_for_each(tree, first, order, value, start, last, filter)     \
	for ((first) = (start),                                                \
	    (value) = dax_tree_find(tree, &(first), last, filter, &(order));   \
	     (value) != 0;                                                     \
	     (value) = dax_tree_find_after(tree, &(first), last, filter,       \
					   &(order)))

/*
 * Writers: the plain calls take the tree lock; *_locked expect it held.
 * store: @index aligned to 2^@order; replaces exactly one entry of the same
 *   range (keeping its marks) or fills an empty range; a range inside a
 *   larger entry fails -EBUSY unless DAX_TREE_SPLIT (the larger entry is
 *   split down to @order, its value and marks copied to each piece); a
 *   range over smaller entries fails -EBUSY unless DAX_TREE_REPLACE (the new
 *   entry gets the union of their marks).  @value 0 erases the range.
 *   *@old receives the value that covered @index (0 if none).
 * insert: -EEXIST if anything overlaps the range.
 * erase: removes the whole entry covering @index; returns its value.
 * cmpxchg: if the entry covering @index has value @old (0: no entry), it is
 *   replaced by @value in place, keeping its first index, order and marks
 *   (@value 0 erases it; @old 0 stores @value at @index with order 0).
 *   *@cur always receives the value found: it exchanged iff *@cur == @old.
 * split: the entry covering @index becomes 2^(k - @order) entries of order
 *   @order with the same value and marks.
 */
void dax_tree_lock(struct dax_tree *tree);
void dax_tree_unlock(struct dax_tree *tree);
int dax_tree_store(struct dax_tree *tree, uint64_t index, unsigned order,
		   uint64_t value, unsigned flags, uint64_t *old);
int dax_tree_store_locked(struct dax_tree *tree, uint64_t index,
			  unsigned order, uint64_t value, unsigned flags,
			  uint64_t *old);
int dax_tree_insert(struct dax_tree *tree, uint64_t index, unsigned order,
		    uint64_t value);
int dax_tree_insert_locked(struct dax_tree *tree, uint64_t index,
			   unsigned order, uint64_t value);
uint64_t dax_tree_erase(struct dax_tree *tree, uint64_t index);
uint64_t dax_tree_erase_locked(struct dax_tree *tree, uint64_t index);
int dax_tree_cmpxchg(struct dax_tree *tree, uint64_t index, uint64_t old,
		     uint64_t value, uint64_t *cur);
int dax_tree_cmpxchg_locked(struct dax_tree *tree, uint64_t index,
			    uint64_t old, uint64_t value, uint64_t *cur);
int dax_tree_split(struct dax_tree *tree, uint64_t index, unsigned order);
int dax_tree_split_locked(struct dax_tree *tree, uint64_t index,
			  unsigned order);
int dax_tree_set_mark(struct dax_tree *tree, uint64_t index,
		      enum dax_tree_mark mark);
int dax_tree_set_mark_locked(struct dax_tree *tree, uint64_t index,
			     enum dax_tree_mark mark);
int dax_tree_clear_mark(struct dax_tree *tree, uint64_t index,
			enum dax_tree_mark mark);
int dax_tree_clear_mark_locked(struct dax_tree *tree, uint64_t index,
			       enum dax_tree_mark mark);

/* ---- mappings, entries and entry locks --------------------------------------- */

/*
 * A mapping is the address_space of the kernel's DAX code: an entry tree
 * indexed by page (4 KiB) of a file-like object, its size, and the engine's
 * callbacks.  Each entry maps 2^order pages to a region page number (pfn),
 * or is a read-only hole (zero page) or a placeholder under allocation.
 *
 * Entries are locked one at a time through cookies: a lock call returns a
 * non-zero cookie naming exactly what it locked (the whole entry, whichever
 * of its indices was named), and dax_unlock() takes the cookie back.  A
 * cookie of 0 means nothing was locked (no entry there, or the mapping is
 * going away).  A stale, forged or doubly used cookie fails with -EINVAL.
 */
struct dax_mapping;
struct dax_lease;

typedef uint64_t dax_cookie_t;

/* The largest page index of a mapping: 2^36 - 1 (256 TiB of 4 KiB pages). */
#define DAX_MAPPING_MAX_INDEX ((UINT64_C(1) << 36) - 1)
#define DAX_MAPPING_MAX_SIZE ((DAX_MAPPING_MAX_INDEX + 1) << 12)

/* dax_mapping_ops.iomap_begin @flags: why the fault path asks. */
enum dax_iomap_flag {
	DAX_IOMAP_WRITE = 1 << 0,	/* allocate: the caller will write */
	DAX_IOMAP_FAULT = 1 << 1,	/* asked from dax_fault() */
	DAX_IOMAP_ZERO = 1 << 2,	/* the caller will zero the range */
};

/* What an extent is, as iomap_begin reports it. */
enum dax_iomap_type {
	DAX_IOMAP_HOLE = 1,	/* nothing allocated: reads see zeroes */
	DAX_IOMAP_MAPPED = 2,	/* backed by region pages from @pfn on */
	DAX_IOMAP_UNWRITTEN = 3, /* allocated, reads must see zeroes */
};

/* dax_iomap.flags */
enum dax_iomap_result_flag {
	DAX_IOMAP_F_NEW = 1 << 0,	/* just allocated: zero before use */
};

/*
 * The extent iomap_begin describes: it covers @index (the index the caller
 * asked for) and starts at @first, 2^@order pages aligned to 2^@order, with
 * @order at most the order asked for.  @pfn is the region page backing
 * @first (aligned to 2^@order); @priv is the engine's, handed back to
 * iomap_end.
 */
struct dax_iomap {
	uint64_t first;
	uint64_t pfn;
	unsigned order;
	enum dax_iomap_type type;
	unsigned flags;
	void *priv;
};

/*
 * The engine's callbacks, passed to dax_mapping_new() by pointer (never
 * copied: the table must outlive the mapping).  Each gets the mapping and
 * the priv pointer given with it.  Any may be NULL when the engine does not
 * use the feature that calls it.  Each returns 0 or a negative errno.
 *
 * iomap_begin: map (and with DAX_IOMAP_WRITE, allocate) the extent of up to
 *   2^@order pages containing @index; called with that index's entry locked.
 * iomap_end: the fault path is done with @iomap; @ret is its outcome (0, or
 *   the negative errno it fails with, e.g. to undo a reservation).
 * notify_failure: region pages backing [@index, @index + @nr_pages) are
 *   poisoned (memory failure); called with the entry locked.
 * lease_break: a layout change of [@start, @last] needs @lease to go.
 */
struct dax_mapping_ops {
	int (*iomap_begin)(struct dax_mapping *mapping, void *priv,
			   uint64_t index, unsigned order, unsigned flags,
			   struct dax_iomap *iomap);
	int (*iomap_end)(struct dax_mapping *mapping, void *priv,
			 uint64_t index, unsigned order, unsigned flags,
			 int ret, struct dax_iomap *iomap);
	int (*notify_failure)(struct dax_mapping *mapping, void *priv,
			      uint64_t index, uint64_t nr_pages,
			      unsigned flags);
	int (*lease_break)(struct dax_mapping *mapping, void *priv,
			   struct dax_lease *lease, uint64_t start,
			   uint64_t last);
};

int dax_mapping_new(struct dax_region *region,
		    const struct dax_mapping_ops *ops, void *priv,
		    uint64_t size, struct dax_mapping **mapping);
struct dax_mapping *dax_mapping_get(struct dax_mapping *mapping);
void dax_mapping_put(struct dax_mapping **mapping);
int dax_mapping_kill(struct dax_mapping *mapping);
bool dax_mapping_is_alive(const struct dax_mapping *mapping);
uint64_t dax_mapping_get_size(const struct dax_mapping *mapping);
int dax_mapping_set_size(struct dax_mapping *mapping, uint64_t size);
struct dax_region *dax_mapping_get_region(const struct dax_mapping *mapping);
void *dax_mapping_get_priv(const struct dax_mapping *mapping);
uint64_t dax_mapping_get_nr_entries(const struct dax_mapping *mapping);

/* Entry locks: see dax_lock_index(3) for the protocol. */
int dax_lock_index(struct dax_mapping *mapping, uint64_t index,
		   dax_cookie_t *cookie);
int dax_lock_range(struct dax_mapping *mapping, uint64_t start,
		   uint64_t last, dax_cookie_t *cookie);
int dax_unlock(struct dax_mapping *mapping, dax_cookie_t cookie);
int dax_lock_pfn(struct dax_region *region, uint64_t pfn,
		 dax_cookie_t *cookie);
int dax_unlock_pfn(struct dax_region *region, dax_cookie_t cookie);

/* ---- allocator, fault path, heap --------------------------------------------- */

/*
 * The block allocator: each region shares out its 4 KiB pages as blocks of
 * 2^order pages aligned to 2^order (0: 4 KiB, 9: 2 MiB, 18: 1 GiB, any
 * order up to the region's size).  A block is named by its first page
 * (region offset / 4 KiB).  A freed block can be allocated again only after
 * an RCU grace period; poisoned pages are never handed out.
 */
#define DAX_ALLOC_NR_ORDERS 48

enum dax_alloc_flag {
	/* When only blocks still in their grace period would fit, wait once. */
	DAX_ALLOC_WAIT = 1 << 0,
};

/* A snapshot; pages: total = free + used + pending + poisoned. */
struct dax_alloc_stats {
	uint64_t total_pages;		/* the region's pages */
	uint64_t free_pages;		/* in free blocks */
	uint64_t used_pages;		/* in allocated blocks */
	uint64_t pending_pages;		/* freed, waiting for a grace period */
	uint64_t poisoned_pages;	/* bad and out of use for good */
	uint64_t largest_free_pages;	/* 0 when nothing is free */
	int largest_free_order;		/* -1 when nothing is free */
	unsigned max_order;		/* the largest order the region holds */
	unsigned fragmentation;		/* per mille of free pages outside
					   the largest free block */
	uint64_t nr_allocs, nr_frees, nr_failures;	/* calls since creation */
	uint64_t nr_free[DAX_ALLOC_NR_ORDERS];		/* blocks per order */
	uint64_t nr_used[DAX_ALLOC_NR_ORDERS];
	uint64_t nr_pending[DAX_ALLOC_NR_ORDERS];
};

int dax_alloc_pages(struct dax_region *region, unsigned order, unsigned flags,
		    uint64_t *page);
int dax_free_pages(struct dax_region *region, uint64_t page, unsigned order);
int dax_alloc_get_stats(struct dax_region *region,
			struct dax_alloc_stats *stats);

/*
 * The fault path: a direct pointer to a page of a mapping.  A read of a
 * hole maps a shared read-only zero area; a write allocates (the engine's
 * iomap_begin, or the built-in allocator when it is NULL), zeroes new
 * blocks and marks the entry dirty; 2 MiB and 1 GiB requests fall back to
 * smaller entries.  See dax_fault(3) for how long a pointer stays valid.
 */
enum dax_fault_flag {
	DAX_FAULT_WRITE = 1 << 0,	/* allocate, mark dirty, writable */
	DAX_FAULT_LOCK = 1 << 1,	/* return with the entry locked */
	DAX_FAULT_SIZE_2M = 1 << 2,	/* ask for a 2 MiB entry */
	DAX_FAULT_SIZE_1G = 1 << 3,	/* ask for a 1 GiB entry */
};

/* dax_fault_ext.flags: what the fault found or did. */
enum dax_fault_ext_flag {
	DAX_FAULT_EXT_ZERO = 1 << 0,	 /* a hole: read-only zeroes */
	DAX_FAULT_EXT_NEW = 1 << 1,	 /* blocks allocated by this call */
	DAX_FAULT_EXT_FALLBACK = 1 << 2, /* an entry smaller than asked */
};

/* The entry a fault resolved to: 2^order pages from index @first. */
struct dax_fault_ext {
	void *addr;		/* page @index (read-only for a hole) */
	void *entry_addr;	/* page @first */
	uint64_t first;
	unsigned order;		/* 0 (4 KiB), 9 (2 MiB) or 18 (1 GiB) */
	unsigned flags;		/* enum dax_fault_ext_flag */
	uint64_t pfn;		/* region page backing @first; 0: a hole */
	dax_cookie_t cookie;	/* with DAX_FAULT_LOCK, for dax_unlock() */
};

/* Why a 2 MiB or 1 GiB request was served by a smaller entry. */
enum dax_fault_fallback {
	DAX_FAULT_FALLBACK_UNALIGNED = 0, /* region alignment below the size */
	DAX_FAULT_FALLBACK_EOF = 1,	  /* the range crosses the end */
	DAX_FAULT_FALLBACK_CONFLICT = 2,  /* smaller entries in the range */
	DAX_FAULT_FALLBACK_NOSPACE = 3,	  /* no free block that large */
	DAX_FAULT_FALLBACK_EXTENT = 4,	  /* iomap_begin mapped less */
	DAX_FAULT_NR_FALLBACKS = 5,
};

/* Index 0, 1, 2 of dax_fault_stats.faults: 4 KiB, 2 MiB, 1 GiB entries. */
#define DAX_FAULT_NR_SIZES 3

/*
 * Counters since the mapping was made.  A fault is a call that had to
 * lock an entry; a call answered from a present entry without locking (a
 * TLB hit, in the kernel's terms) is not counted.
 */
struct dax_fault_stats {
	uint64_t faults[DAX_FAULT_NR_SIZES];	/* by the entry returned */
	uint64_t read_faults, write_faults;
	uint64_t fallbacks[DAX_FAULT_NR_FALLBACKS];	/* by reason */
	uint64_t zero_installs;		/* holes given a zero entry */
	uint64_t allocations;		/* entries given new blocks */
	uint64_t allocated_pages;	/* pages of those blocks */
	uint64_t mapped;		/* engine extents installed on read */
	uint64_t errors;		/* calls that failed */
};

int dax_fault(struct dax_mapping *mapping, uint64_t index, unsigned flags,
	      struct dax_fault_ext *ext);
int dax_fault_get_stats(const struct dax_mapping *mapping,
			struct dax_fault_stats *stats);

/*
 * A volatile malloc-style heap in a region's memory: a jemalloc arena whose
 * extents come from the region's allocator.  Nothing in it survives
 * dax_heap_destroy() or the region's close.  Linking libdax makes jemalloc
 * the process's malloc.
 */
struct dax_heap;
struct dax_heap_opts;

struct dax_heap_stats {
	uint64_t region_bytes;		/* region memory the heap holds now */
	uint64_t peak_region_bytes;	/* the most it held at once */
	uint64_t nr_extents;		/* extents taken and not given back */
	uint64_t allocated_bytes;	/* in live objects (jemalloc's count,
					   0 when it keeps none) */
	unsigned nr_tcaches;		/* thread caches created for it */
	unsigned nr_arenas;		/* jemalloc arenas it spreads over */
};

int dax_heap_opts_new(struct dax_heap_opts **opts);
void dax_heap_opts_delete(struct dax_heap_opts **opts);
int dax_heap_opts_set_limit(struct dax_heap_opts *opts, uint64_t bytes);
int dax_heap_opts_set_tcache(struct dax_heap_opts *opts, bool enable);
int dax_heap_opts_set_arenas(struct dax_heap_opts *opts, unsigned n);

int dax_heap_create(struct dax_region *region,
		    const struct dax_heap_opts *opts, struct dax_heap **heap);
int dax_heap_destroy(struct dax_heap **heap);
void *dax_heap_malloc(struct dax_heap *heap, size_t size);
void *dax_heap_calloc(struct dax_heap *heap, size_t nmemb, size_t size);
void *dax_heap_aligned_alloc(struct dax_heap *heap, size_t alignment,
			     size_t size);
void *dax_heap_realloc(struct dax_heap *heap, void *ptr, size_t size);
void dax_heap_free(struct dax_heap *heap, void *ptr);
size_t dax_heap_usable_size(struct dax_heap *heap, const void *ptr);
int dax_heap_get_stats(struct dax_heap *heap, struct dax_heap_stats *stats);

/* ---- pins, leases, layout changes, async I/O --------------------------------- */

/*
 * Pins keep the blocks under a range from being freed or reused; leases are
 * long-lived claims that a layout change breaks (lease_break op) and revokes
 * after the break time.  Truncate, hole punch and break-layouts drain every
 * pin of the mapping and break overlapping leases first: see dax_pin_range(3).
 */
struct dax_pin;

enum dax_pin_flag {
	DAX_PIN_NOWAIT = 1 << 0,	/* fail -EAGAIN instead of waiting */
};

enum dax_lease_flag {
	DAX_LEASE_UNBREAKABLE = 1 << 0,	/* layout changes fail -ETXTBSY */
	DAX_LEASE_NOWAIT = 1 << 1,	/* fail -EAGAIN instead of waiting */
};

int dax_pin_range(struct dax_mapping *mapping, uint64_t start, uint64_t last,
		  unsigned flags, struct dax_pin **pin);
int dax_unpin(struct dax_pin **pin);
int dax_pin_fault(struct dax_mapping *mapping, uint64_t index, unsigned flags,
		  struct dax_fault_ext *ext, struct dax_pin **pin);
int dax_lease_take(struct dax_mapping *mapping, uint64_t start, uint64_t last,
		   unsigned flags, struct dax_lease **lease);
int dax_lease_release(struct dax_lease **lease);
bool dax_lease_is_revoked(const struct dax_lease *lease);
int dax_mapping_set_layout_times(struct dax_mapping *mapping, int break_ms,
				 int drain_ms);
int dax_break_layouts(struct dax_mapping *mapping, uint64_t start,
		      uint64_t last, int timeout_ms);
int dax_truncate(struct dax_mapping *mapping, uint64_t new_size);
int dax_punch_hole(struct dax_mapping *mapping, uint64_t offset,
		   uint64_t len);
int dax_region_revoke(struct dax_region *region, int timeout_ms);

/*
 * Async I/O: transfers between a mapping range and a file descriptor opened
 * with O_DIRECT, through libaio.  Each request pins its range from
 * submission until it is reaped, so a truncate or hole punch of the range
 * waits for the transfer: see dax_aio_setup(3).
 */
struct dax_aio;

struct dax_aio_event {
	void *priv;		/* as given to dax_aio_read/dax_aio_write */
	int64_t result;		/* bytes transferred, or a negative errno */
};

typedef void (*dax_aio_done_fn)(struct dax_aio *aio,
				const struct dax_aio_event *event);

enum dax_aio_flag {
	DAX_AIO_MORE = 1 << 0,	 /* queue only: submit with the next call */
	DAX_AIO_NOWAIT = 1 << 1, /* fail -EAGAIN rather than wait on a drain */
};

int dax_aio_setup(struct dax_mapping *mapping, unsigned depth,
		  struct dax_aio **aio);
int dax_aio_teardown(struct dax_aio **aio);
int dax_aio_set_done(struct dax_aio *aio, dax_aio_done_fn done);
/* mapping [offset, offset + len) -> fd at file_offset */
int dax_aio_write(struct dax_aio *aio, uint64_t offset, uint64_t len, int fd,
		  uint64_t file_offset, unsigned flags, void *priv);
/* fd at file_offset -> mapping [offset, offset + len), allocating blocks */
int dax_aio_read(struct dax_aio *aio, int fd, uint64_t file_offset,
		 uint64_t offset, uint64_t len, unsigned flags, void *priv);
int dax_aio_submit(struct dax_aio *aio);
int dax_aio_reap(struct dax_aio *aio, unsigned min_nr, unsigned max_nr,
		 struct dax_aio_event *events, int timeout_ms);
int dax_aio_get_in_flight(const struct dax_aio *aio, unsigned *nr);

/* ---- writeback, memory failure ----------------------------------------------- */

/*
 * Writeback: a write fault marks its entry dirty; dax_writeback() makes the
 * dirty entries of a range durable through libpmem2 and clears their marks
 * (the msync of DAX).  Entries dirtied while it runs stay dirty.
 */
enum dax_granularity {
	DAX_GRANULARITY_BYTE = 0,	/* eADR: stores are durable when seen */
	DAX_GRANULARITY_CACHE_LINE = 1,	/* ADR: cache lines must be flushed */
	DAX_GRANULARITY_PAGE = 2,	/* page cache: pages must be synced */
};

int dax_writeback(struct dax_mapping *mapping, uint64_t start, uint64_t last);
int dax_region_get_granularity(const struct dax_region *region,
			       enum dax_granularity *granularity);

/*
 * Memory failure: a poisoned page is reported to the mapping that owns it
 * (ops->notify_failure, entry locked) and never handed out again.
 */
enum dax_mf_flag {
	DAX_MF_ACTION_REQUIRED = 1 << 0, /* a consumer touched the page */
};

int dax_memory_failure(struct dax_region *region, uint64_t pfn,
		       unsigned flags);
int dax_region_get_badblocks(struct dax_region *region, uint64_t *pages,
			     uint64_t max, uint64_t *nr);
/* Emulated regions: a bad range, as a device would report it. */
int dax_region_inject_badblocks(struct dax_region *region, uint64_t offset,
				uint64_t len);

/*
 * The rest of a device's sysfs side: bad blocks at open, a deep_flush
 * capability and an unsafe-shutdown count, reproduced by emulated regions
 * (the options and the inject call) so engines can be tested without one.
 */
int dax_region_opts_add_badblocks(struct dax_region_opts *opts,
				  uint64_t offset, uint64_t len);
int dax_region_opts_set_deep_flush(struct dax_region_opts *opts, bool enable);
int dax_region_opts_set_unsafe_shutdown_count(struct dax_region_opts *opts,
					      uint64_t count);
int dax_region_get_deep_flush(struct dax_region *region, bool *deep_flush);
int dax_region_get_unsafe_shutdown_count(struct dax_region *region,
					 uint64_t *count);
int dax_region_inject_unsafe_shutdown(struct dax_region *region);

#ifdef __cplusplus
}
#endif

#endif /* LIBDAX_H */
