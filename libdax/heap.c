// SPDX-License-Identifier: MIT
/*
 * The heap: a volatile malloc-style heap in a region's memory.
 *
 * What it is
 * ----------
 * A few jemalloc arenas (mallctl "experimental.arenas_create_ext"; one per
 * CPU by default) whose extent hooks take their memory from the region's
 * block allocator, so that heap memory and mapping blocks share one
 * accounting and poisoned pages never reach the heap.  Objects are
 * allocated with mallocx()/rallocx()/dallocx() and the flags
 * MALLOCX_ARENA(arena) | MALLOCX_TCACHE(cache) of the calling thread.
 * Debian's jemalloc is unprefixed: linking libdax makes jemalloc the
 * process's malloc too.  Nothing in the heap survives dax_heap_destroy() or
 * the region's close.
 *
 * Extents
 * -------
 * jemalloc asks for extents of any multiple of 4 KiB (it grows its arenas
 * geometrically: 2 MiB, 2.5, 3, 3.5, 4, 5 MiB, ...; and a large object gets
 * an extent of its own size).  The hook takes the smallest buddy block that
 * holds the extent and gives the tail back at once (dax_alloc_range()), so
 * the heap holds exactly the pages jemalloc asked for; the cost is that the
 * tail returns as smaller blocks (a 2.5 MiB extent leaves a 1 MiB and a
 * 512 KiB block free next to it).  jemalloc may split and merge extents as
 * it likes: the allocator frees any run of allocated pages, so an extent
 * freed in pieces or merged with its neighbour goes back exactly.
 * A heap keeps what it took until it is destroyed: the dalloc hook refuses
 * (see heap_extent_dalloc() for why), so jemalloc retains freed extents and
 * reuses them, and at arena destroy gives every one back through the
 * destroy hook, which frees it at once, with no grace period: no tree
 * entry points into heap memory.  The hooks cannot decommit or purge (the
 * memory is the region's; NULL hooks tell jemalloc so).  A limit
 * (dax_heap_opts_set_limit()) bounds what a heap may hold.
 *
 * Metadata: the arena is made with "experimental.arenas_create_ext" and
 * metadata_use_hooks = false, so jemalloc's own metadata for it (extent
 * descriptors, bins, the arena itself) lives in ordinary memory and only
 * objects live in the region.  That matters for correctness, not only
 * speed: jemalloc keeps references into a destroyed arena's metadata
 * (harmless when that memory is jemalloc's, reading back as zeroes), so
 * metadata handed back to the region and reused by another heap or a
 * mapping was found to corrupt a later arena with the same index (the
 * test memory_a_destroyed_heap_gave_back_can_be_reused_at_once scribbles
 * over the freed pages between heaps).
 * It also means a heap needs no clean 2 MiB of region for itself.
 *
 * Alignment: a block of order k is aligned to 2^k pages from the region's
 * start, and the region's base is aligned to the region alignment, so any
 * alignment up to the region alignment comes from the order.  A larger
 * one (rare: an aligned_alloc of more than 2 MiB) takes a range one
 * alignment longer and gives back the head and the tail.
 *
 * Threads, arenas and caches
 * --------------------------
 * A thread's first call on a heap gives it one of the heap's arenas, round
 * robin (as jemalloc spreads threads over its automatic arenas: with one
 * arena for all, two threads contend on its bin locks), and a cache.
 * jemalloc's automatic thread caches are per thread, not per arena: an
 * object freed into one could be handed out by another heap's malloc or
 * outlive the arena.  So each heap has its own explicit caches
 * ("tcache.create"), one per thread that uses the heap, found through a
 * small thread-local table (pool pointer -> mallocx flags; a few loads).  The
 * pool of a heap records every cache made for it: dax_heap_destroy() flushes
 * and destroys them all before "arena.<i>.destroy", and a thread that exits
 * flushes its caches and leaves their ids for the next thread.  The pool is
 * reference counted by the heap and by the threads' tables, so neither
 * needs the other to live longer.  bench/heap_bench.c measures the caches
 * against MALLOCX_TCACHE_NONE (dax_heap_opts_set_tcache(opts, false)).
 */
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define HEAP_TLS_SLOTS 8
#define HEAP_MAX_ARENAS 16

struct dax_heap_opts {
	uint64_t limit;		/* 0: the whole region */
	unsigned nr_arenas;	/* 0: one per online CPU */
	bool no_tcache;
};

/* The thread caches made for one heap; outlives it while threads hold it. */
struct heap_pool {
	pthread_mutex_t lock;
	atomic_uint refs;	/* the heap's and each thread table's */
	bool dead;		/* the heap is destroyed */
	unsigned *ids;		/* every cache made for the heap */
	unsigned nr_ids, cap_ids;
	unsigned *spare;	/* flushed caches of exited threads */
	unsigned nr_spare;
};

struct dax_heap {
	extent_hooks_t hooks;	/* jemalloc hands this pointer back */
	struct dax_region *region;
	struct dax_alloc *alloc;
	uintptr_t base;
	uint64_t region_align;
	unsigned arenas[HEAP_MAX_ARENAS];
	unsigned nr_arenas;
	atomic_uint next_arena;	/* round robin over threads */
	bool tcache;
	uint64_t limit;
	struct heap_pool *pool;
	_Atomic uint64_t region_bytes, peak_bytes, nr_extents;
	/* Every extent asked for, and what whole orders would have taken. */
	_Atomic uint64_t asked_bytes, pow2_bytes;
};

/*
 * jemalloc's arena_config_t (5.3: include/jemalloc/internal/arena_types.h),
 * the argument of "experimental.arenas_create_ext"; jemalloc checks its
 * size.  metadata_use_hooks = false keeps the arena's own metadata (its
 * "base": extent descriptors, bins) in ordinary memory.
 */
struct heap_arena_config {
	extent_hooks_t *hooks;
	bool metadata_use_hooks;
};

/* A thread's use of one heap: its arena and its cache, as mallocx flags. */
struct heap_tls_slot {
	struct heap_pool *pool;
	int flags;
	unsigned tcache;
	bool has_tcache;
};

struct heap_tls {
	unsigned nr;
	struct heap_tls_slot slot[HEAP_TLS_SLOTS];
};

/*
 * A thread's table, allocated at its first heap call.  Initial-exec: one
 * TLS load in libdax.so too (general-dynamic TLS would cost a
 * __tls_get_addr() call per malloc), and only 8 bytes of static TLS, which
 * a dlopen()ed libdax can still get.
 */
static __thread struct heap_tls *heap_tls
	__attribute__((tls_model("initial-exec")));
static pthread_key_t heap_exit_key;
static pthread_once_t heap_key_once = PTHREAD_ONCE_INIT;

static inline struct dax_heap *heap_of(extent_hooks_t *hooks)
{
	return (struct dax_heap *)hooks;	/* hooks is the first member */
}

static const struct dax_logger *heap_log(const struct dax_heap *h)
{
	return dax_region_logger(h->region);
}

/* ---- extent hooks ---------------------------------------------------------- */

static void heap_account(struct dax_heap *h, int64_t bytes, int extents)
{
	uint64_t now = atomic_fetch_add(&h->region_bytes, (uint64_t)bytes) +
		       (uint64_t)bytes;
	uint64_t peak = atomic_load_explicit(&h->peak_bytes,
					     memory_order_relaxed);

	atomic_fetch_add(&h->nr_extents, (uint64_t)(int64_t)extents);
	while (now > peak &&
	       !atomic_compare_exchange_weak(&h->peak_bytes, &peak, now))
		;
}

static void *heap_extent_alloc(extent_hooks_t *hooks, void *new_addr,
			       size_t size, size_t alignment, bool *zero,
			       bool *commit, unsigned arena_ind)
{
	struct dax_heap *h = heap_of(hooks);
	uint64_t nr = size / DAX_PAGE_SIZE, align_pages, page, extra = 0;
	unsigned align_order = 0;
	uint64_t held;

	if (new_addr || !size || size % DAX_PAGE_SIZE)
		return NULL;	/* no placement at a given address */
	if (alignment < DAX_PAGE_SIZE)
		alignment = DAX_PAGE_SIZE;
	if (alignment & (alignment - 1))
		return NULL;
	align_pages = alignment / DAX_PAGE_SIZE;
	if (alignment <= h->region_align)
		align_order = (unsigned)__builtin_ctzll(align_pages);
	else
		extra = align_pages - 1;	/* trim to alignment below */
	/*
	 * Count the bytes first, so that racing threads cannot overshoot the
	 * limit together; given back if the allocation fails.
	 */
	held = atomic_fetch_add(&h->region_bytes, size);
	if (h->limit && held + size > h->limit)
		goto unreserve;
	if (dax_region_enter(h->region))
		goto unreserve;		/* killed: the heap takes nothing new */
	if (dax_alloc_range(h->alloc, nr + extra, align_order, &page)) {
		dax_region_exit(h->region);
		goto unreserve;
	}
	if (extra) {
		uint64_t first = page;
		uintptr_t addr = h->base + page * DAX_PAGE_SIZE;

		page += ((alignment - addr % alignment) % alignment) /
			DAX_PAGE_SIZE;
		if (page > first)
			dax_alloc_free_range(h->alloc, first, page - first);
		if (first + nr + extra > page + nr)
			dax_alloc_free_range(h->alloc, page + nr,
					     first + nr + extra - page - nr);
	}
	dax_region_exit(h->region);
	heap_account(h, 0, 1);	/* the bytes were reserved above */
	dax_publish_heap(h->region, 0, (int64_t)size);
	atomic_fetch_add_explicit(&h->asked_bytes, size, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->pow2_bytes,
				  DAX_PAGE_SIZE << dax_order_for_pages(nr),
				  memory_order_relaxed);
	*zero = false;
	*commit = true;
	return (void *)(h->base + page * DAX_PAGE_SIZE);

unreserve:
	atomic_fetch_sub(&h->region_bytes, size);
	return NULL;
}

static void heap_extent_release(struct dax_heap *h, void *addr, size_t size)
{
	uint64_t page = ((uintptr_t)addr - h->base) / DAX_PAGE_SIZE;

	if (dax_alloc_free_range(h->alloc, page, size / DAX_PAGE_SIZE))
		dax_log(heap_log(h), DAX_LOG_ERR,
			"heap: jemalloc returned an extent the allocator "
			"does not know: %s",
			dax_errormsg());
	else {
		heap_account(h, -(int64_t)size, -1);
		dax_publish_heap(h->region, 0, -(int64_t)size);
	}
}

/*
 * Refused: jemalloc keeps the extent as "retained" and reuses it, and gives
 * it back through the destroy hook when the arena is destroyed.  Accepting
 * would break an assumption jemalloc makes under opt.retain (Linux's
 * default): that the extent below a piece it split off a larger one is its
 * own.  With the lower piece back in the region and handed to another heap,
 * jemalloc's coalescing took the other arena's extent for its own and
 * corrupted both (bench/heap_bench.c with two heaps on one region crashed
 * in arena destroy; a guard page between extents, or refusing here, cured
 * it).
 */
static bool heap_extent_dalloc(extent_hooks_t *hooks, void *addr, size_t size,
			       bool committed, unsigned arena_ind)
{
	return true;
}

static void heap_extent_destroy(extent_hooks_t *hooks, void *addr,
				size_t size, bool committed, unsigned arena_ind)
{
	heap_extent_release(heap_of(hooks), addr, size);
}

static bool heap_extent_commit(extent_hooks_t *hooks, void *addr, size_t size,
			       size_t offset, size_t length, unsigned arena_ind)
{
	return false;	/* region memory is always committed */
}

static bool heap_extent_split(extent_hooks_t *hooks, void *addr, size_t size,
			      size_t size_a, size_t size_b, bool committed,
			      unsigned arena_ind)
{
	/* Each extent's pages are counted; split pieces count as extents. */
	atomic_fetch_add(&heap_of(hooks)->nr_extents, 1);
	return false;
}

static bool heap_extent_merge(extent_hooks_t *hooks, void *addr_a,
			      size_t size_a, void *addr_b, size_t size_b,
			      bool committed, unsigned arena_ind)
{
	atomic_fetch_sub(&heap_of(hooks)->nr_extents, 1);
	return false;
}

static const extent_hooks_t heap_hooks = {
	.alloc = heap_extent_alloc,
	.dalloc = heap_extent_dalloc,
	.destroy = heap_extent_destroy,
	.commit = heap_extent_commit,
	.decommit = NULL,	/* cannot: the memory is the region's */
	.purge_lazy = NULL,
	.purge_forced = NULL,
	.split = heap_extent_split,
	.merge = heap_extent_merge,
};

/* ---- thread caches ------------------------------------------------------------ */

static void pool_put(struct heap_pool *pool)
{
	if (atomic_fetch_sub(&pool->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&pool->lock);
	free(pool->ids);
	free(pool->spare);
	free(pool);
}

/* At thread exit: flush this thread's caches and leave them for others. */
static void heap_thread_exit(void *arg)
{
	struct heap_tls *t = arg;

	for (unsigned i = 0; i < t->nr; i++) {
		struct heap_pool *pool = t->slot[i].pool;
		unsigned id = t->slot[i].tcache;

		pthread_mutex_lock(&pool->lock);
		if (!pool->dead && t->slot[i].has_tcache) {
			mallctl("tcache.flush", NULL, NULL, &id, sizeof(id));
			pool->spare[pool->nr_spare++] = id;
		}
		pthread_mutex_unlock(&pool->lock);
		pool_put(pool);
	}
	heap_tls = NULL;
	free(t);
}

static void heap_make_key(void)
{
	pthread_key_create(&heap_exit_key, heap_thread_exit);
}

/* Drop table entries of destroyed heaps. */
static void tls_prune(struct heap_tls *t)
{
	unsigned j = 0;

	for (unsigned i = 0; i < t->nr; i++) {
		struct heap_pool *pool = t->slot[i].pool;
		bool dead;

		pthread_mutex_lock(&pool->lock);
		dead = pool->dead;
		pthread_mutex_unlock(&pool->lock);
		if (dead)
			pool_put(pool);
		else
			t->slot[j++] = t->slot[i];
	}
	t->nr = j;
}

/*
 * The calling thread's first use of @h: an arena (round robin, as jemalloc
 * spreads threads over its automatic arenas) and a cache of its own.
 */
static int heap_flags_slow(struct dax_heap *h)
{
	struct heap_pool *pool = h->pool;
	struct heap_tls_slot slot = { pool, 0, 0, false };
	size_t sz = sizeof(unsigned);
	unsigned arena;

	arena = h->arenas[atomic_fetch_add(&h->next_arena, 1) % h->nr_arenas];
	slot.flags = MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE;
	pthread_once(&heap_key_once, heap_make_key);
	if (!heap_tls) {
		heap_tls = calloc(1, sizeof(*heap_tls));
		if (!heap_tls)
			return slot.flags;	/* no table: no cache */
		pthread_setspecific(heap_exit_key, heap_tls);
	}
	if (heap_tls->nr == HEAP_TLS_SLOTS)
		tls_prune(heap_tls);
	if (heap_tls->nr == HEAP_TLS_SLOTS)
		return slot.flags;	/* too many heaps: no cache */
	pthread_mutex_lock(&pool->lock);
	if (h->tcache && pool->nr_ids == pool->cap_ids) {
		unsigned cap = pool->cap_ids ? 2 * pool->cap_ids : 8;
		unsigned *ids = realloc(pool->ids, cap * sizeof(*ids));
		unsigned *spare = ids ? realloc(pool->spare,
						cap * sizeof(*spare)) :
					NULL;

		if (ids)
			pool->ids = ids;
		if (spare)
			pool->spare = spare;
		if (ids && spare)
			pool->cap_ids = cap;
	}
	if (h->tcache && pool->nr_spare) {
		slot.tcache = pool->spare[--pool->nr_spare];
		slot.has_tcache = true;
	} else if (h->tcache && pool->nr_ids < pool->cap_ids &&
		   !mallctl("tcache.create", &slot.tcache, &sz, NULL, 0)) {
		pool->ids[pool->nr_ids++] = slot.tcache;
		slot.has_tcache = true;
	}
	atomic_fetch_add(&pool->refs, 1);
	pthread_mutex_unlock(&pool->lock);
	/*
	 * A cache may end up holding objects of the heap's other arenas
	 * (objects freed by this thread that another thread allocated): that
	 * is fine, they are the heap's, and a flush returns each to its own
	 * arena.
	 */
	if (slot.has_tcache)
		slot.flags = MALLOCX_ARENA(arena) | MALLOCX_TCACHE(slot.tcache);
	heap_tls->slot[heap_tls->nr++] = slot;
	return slot.flags;
}

/* mallocx() flags for @h on the calling thread: a few loads. */
static inline int heap_flags(struct dax_heap *h)
{
	struct heap_tls *t = heap_tls;

	if (likely(t))
		for (unsigned i = 0; i < t->nr; i++)
			if (t->slot[i].pool == h->pool)
				return t->slot[i].flags;
	return heap_flags_slow(h);
}

/* ---- options ---------------------------------------------------------------- */

/**
 * dax_heap_opts_new() - options for dax_heap_create(), all defaults
 * @opts: receives them
 *
 * Defaults: no limit (the heap may take the whole region), thread caches on.
 * Context: any thread.
 * Return: 0 or -ENOMEM.
 */
DAX_EXPORT int dax_heap_opts_new(struct dax_heap_opts **opts)
{
	if (!opts)
		return dax_fail(NULL, -EINVAL, "dax_heap_opts_new: opts is NULL");
	*opts = calloc(1, sizeof(**opts));
	if (!*opts)
		return dax_fail(NULL, -ENOMEM, "out of memory for heap options");
	return 0;
}

/**
 * dax_heap_opts_delete() - free options and set *@opts to NULL
 * @opts: options from dax_heap_opts_new(), or a pointer to NULL
 */
DAX_EXPORT void dax_heap_opts_delete(struct dax_heap_opts **opts)
{
	if (opts) {
		free(*opts);
		*opts = NULL;
	}
}

/**
 * dax_heap_opts_set_limit() - the most region memory the heap may hold
 * @opts: the options
 * @bytes: a multiple of 4 KiB; 0 for no limit
 *
 * Return: 0, or -EINVAL when @bytes is not a multiple of 4 KiB.
 */
DAX_EXPORT int dax_heap_opts_set_limit(struct dax_heap_opts *opts,
				       uint64_t bytes)
{
	int ret;

	if (!opts)
		return dax_fail(NULL, -EINVAL,
				"dax_heap_opts_set_limit: opts is NULL");
	ret = dax_check_align(NULL, "heap limit", bytes, DAX_PAGE_SIZE,
			      "page size");
	if (ret)
		return ret;
	opts->limit = bytes;
	return 0;
}

/**
 * dax_heap_opts_set_arenas() - how many jemalloc arenas the heap spreads
 * its threads over
 * @opts: the options
 * @n: 1 to 16; 0 (the default) for one per online CPU, at most 16
 *
 * Each thread uses one arena of the heap, chosen round robin at its first
 * call; more arenas mean less lock contention between threads and more
 * region memory held (each arena grows its own extents).
 * Return: 0, or -EINVAL for @n above 16 or NULL @opts.
 */
DAX_EXPORT int dax_heap_opts_set_arenas(struct dax_heap_opts *opts, unsigned n)
{
	if (!opts)
		return dax_fail(NULL, -EINVAL,
				"dax_heap_opts_set_arenas: opts is NULL");
	if (n > HEAP_MAX_ARENAS)
		return dax_fail(NULL, -EINVAL,
				"%u arenas: a heap has at most %d (0: one per "
				"CPU)",
				n, HEAP_MAX_ARENAS);
	opts->nr_arenas = n;
	return 0;
}

/**
 * dax_heap_opts_set_tcache() - whether each thread gets its own cache
 * @opts: the options
 * @enable: true (the default) for per-thread caches of the heap
 *
 * Return: 0, or -EINVAL for NULL @opts.
 */
DAX_EXPORT int dax_heap_opts_set_tcache(struct dax_heap_opts *opts,
					bool enable)
{
	if (!opts)
		return dax_fail(NULL, -EINVAL,
				"dax_heap_opts_set_tcache: opts is NULL");
	opts->no_tcache = !enable;
	return 0;
}

/* ---- create and destroy --------------------------------------------------------- */

/* One arena of @h, its metadata out of the region. */
static int heap_arena_create(struct dax_heap *h, unsigned *arena)
{
	struct heap_arena_config cfg = { &h->hooks, false };
	size_t sz = sizeof(unsigned);
	int ret;

	ret = mallctl("experimental.arenas_create_ext", arena, &sz, &cfg,
		      sizeof(cfg));
	if (ret == ENOENT)
		return dax_fail(heap_log(h), -ENOTSUP,
				"this jemalloc has no "
				"experimental.arenas_create_ext (5.3 has): "
				"the heap needs it to keep arena metadata out "
				"of the region");
	if (ret)
		return dax_fail(heap_log(h), -EAGAIN,
				"jemalloc refused a new arena: %s",
				strerror(ret));
	return 0;
}

/* Destroy every arena of @h (its extents go back through the hooks). */
static int heap_arenas_destroy(struct dax_heap *h)
{
	char name[64];
	int ret = 0;

	for (unsigned i = 0; i < h->nr_arenas; i++) {
		int err;

		snprintf(name, sizeof(name), "arena.%u.destroy", h->arenas[i]);
		err = mallctl(name, NULL, NULL, NULL, 0);
		if (err && !ret)
			ret = dax_fail(heap_log(h), -EIO,
				       "jemalloc could not destroy arena %u: "
				       "%s",
				       h->arenas[i], strerror(err));
	}
	return ret;
}

/**
 * dax_heap_create() - a volatile heap in @region's memory
 * @region: an open, live region
 * @opts: options, or NULL for the defaults
 * @heap: receives the heap
 *
 * Context: any thread.
 * Return: 0; -EINVAL (NULL argument); -ENXIO (killed region); -ENOMEM;
 * -EAGAIN when jemalloc refuses a new arena.
 */
DAX_EXPORT int dax_heap_create(struct dax_region *region,
			       const struct dax_heap_opts *opts,
			       struct dax_heap **heap)
{
	struct dax_heap *h;
	long cpus;
	int ret;

	if (!region || !heap)
		return dax_fail(NULL, -EINVAL, "dax_heap_create: %s is NULL",
				region ? "heap" : "region");
	ret = dax_region_enter(region);
	if (ret)
		return ret;
	h = calloc(1, sizeof(*h));
	if (h)
		h->pool = calloc(1, sizeof(*h->pool));
	if (!h || !h->pool) {
		free(h);
		ret = dax_fail(dax_region_logger(region), -ENOMEM,
			       "out of memory for a heap");
		goto out;
	}
	pthread_mutex_init(&h->pool->lock, NULL);
	atomic_init(&h->pool->refs, 1);
	h->hooks = heap_hooks;
	h->region = region;
	h->base = (uintptr_t)dax_region_get_base(region);
	h->region_align = dax_region_get_align(region);
	h->limit = opts ? opts->limit : 0;
	h->tcache = !(opts && opts->no_tcache);
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	h->nr_arenas = opts && opts->nr_arenas ? opts->nr_arenas :
		       cpus < 1 ? 1 :
		       cpus > HEAP_MAX_ARENAS ? HEAP_MAX_ARENAS : (unsigned)cpus;
	ret = dax_alloc_get(region, &h->alloc);
	if (ret)
		goto out_free;
	for (unsigned i = 0; i < h->nr_arenas; i++) {
		ret = heap_arena_create(h, &h->arenas[i]);
		if (ret) {
			h->nr_arenas = i;
			heap_arenas_destroy(h);
			goto out_free;
		}
	}
	*heap = h;
	dax_publish_heap(region, 1, 0);
	goto out;

out_free:
	pool_put(h->pool);
	free(h);
out:
	dax_region_exit(region);
	return ret;
}

/**
 * dax_heap_destroy() - free every object of the heap and give all of its
 * memory back to the region's allocator
 * @heap: the heap; set to NULL
 *
 * No thread may use the heap during or after the call, and no pointer into
 * it may be used again.  Destroy a heap before closing its region.
 * Context: any thread.
 * Return: 0; -EINVAL for a NULL heap; -EIO when jemalloc could not destroy
 * the arena (the heap is gone all the same, its memory may be leaked).
 */
DAX_EXPORT int dax_heap_destroy(struct dax_heap **heap)
{
	struct dax_heap *h;
	struct heap_pool *pool;
	int ret;

	if (!heap || !*heap)
		return dax_fail(NULL, -EINVAL, "dax_heap_destroy: heap is NULL");
	h = *heap;
	*heap = NULL;
	pool = h->pool;
	/* Objects cached by any thread go back to the arena first. */
	pthread_mutex_lock(&pool->lock);
	pool->dead = true;
	for (unsigned i = 0; i < pool->nr_ids; i++)
		mallctl("tcache.destroy", NULL, NULL, &pool->ids[i],
			sizeof(pool->ids[i]));
	pool->nr_ids = pool->nr_spare = 0;
	pthread_mutex_unlock(&pool->lock);
	pool_put(pool);

	ret = heap_arenas_destroy(h);
	dax_publish_heap(h->region, -1, 0);
	if (!ret && atomic_load(&h->region_bytes))
		dax_log(heap_log(h), DAX_LOG_WARN,
			"heap: %llu bytes of region memory not returned",
			(unsigned long long)atomic_load(&h->region_bytes));
	free(h);
	return ret;
}

/* ---- objects ---------------------------------------------------------------- */

static void *heap_nomem(struct dax_heap *h, const char *what, size_t size)
{
	struct dax_alloc_stats st;
	char want[32], held[32], freeb[32];

	dax_alloc_stats(h->alloc, &st);
	dax_fail(heap_log(h), -ENOMEM,
		 "heap: cannot %s %zu bytes (%s): the heap holds %s of the "
		 "region%s, the region has %s free%s",
		 what, size, dax_size_str(size, want, sizeof(want)),
		 dax_size_str(atomic_load(&h->region_bytes), held,
			      sizeof(held)),
		 h->limit ? " (limit reached?)" : "",
		 dax_size_str(st.free_pages * DAX_PAGE_SIZE, freeb,
			      sizeof(freeb)),
		 dax_region_is_alive(h->region) ? "" :
						  " and is killed");
	errno = ENOMEM;
	return NULL;
}

/**
 * dax_heap_malloc() - @size bytes from the heap
 * @heap: the heap
 * @size: any size; 0 gives a unique minimal object
 *
 * Context: any thread, concurrently with every other object call.
 * Return: the object (16-byte aligned at least), or NULL with errno ENOMEM
 * and dax_errormsg() saying what the heap and the region hold.
 */
DAX_EXPORT void *dax_heap_malloc(struct dax_heap *heap, size_t size)
{
	void *p = mallocx(size ? size : 1, heap_flags(heap));

	return likely(p) ? p : heap_nomem(heap, "allocate", size);
}

/**
 * dax_heap_calloc() - @nmemb objects of @size bytes, zeroed
 *
 * Return: the memory, or NULL with errno ENOMEM (also when @nmemb * @size
 * overflows).
 */
DAX_EXPORT void *dax_heap_calloc(struct dax_heap *heap, size_t nmemb,
				 size_t size)
{
	size_t total;
	void *p;

	if (__builtin_mul_overflow(nmemb, size, &total)) {
		dax_fail(heap_log(heap), -ENOMEM,
			 "heap: calloc of %zu objects of %zu bytes overflows",
			 nmemb, size);
		errno = ENOMEM;
		return NULL;
	}
	p = mallocx(total ? total : 1, heap_flags(heap) | MALLOCX_ZERO);
	return likely(p) ? p : heap_nomem(heap, "allocate", total);
}

/**
 * dax_heap_aligned_alloc() - @size bytes aligned to @alignment
 * @alignment: a power of two
 *
 * Return: the object, or NULL with errno EINVAL (alignment not a power of
 * two) or ENOMEM.
 */
DAX_EXPORT void *dax_heap_aligned_alloc(struct dax_heap *heap,
					size_t alignment, size_t size)
{
	void *p;

	if (!alignment || (alignment & (alignment - 1))) {
		dax_fail(heap_log(heap), -EINVAL,
			 "heap: alignment %zu is not a power of two",
			 alignment);
		errno = EINVAL;
		return NULL;
	}
	p = mallocx(size ? size : 1,
		    heap_flags(heap) | MALLOCX_ALIGN(alignment));
	return likely(p) ? p : heap_nomem(heap, "allocate", size);
}

/**
 * dax_heap_realloc() - resize an object of the heap
 * @ptr: an object of @heap, or NULL (then like dax_heap_malloc())
 * @size: the new size; 0 frees @ptr and returns NULL
 *
 * Return: the object, moved or not; NULL with errno ENOMEM when it cannot
 * grow (@ptr is left as it was).
 */
DAX_EXPORT void *dax_heap_realloc(struct dax_heap *heap, void *ptr,
				  size_t size)
{
	void *p;

	if (!ptr)
		return dax_heap_malloc(heap, size);
	if (!size) {
		dallocx(ptr, heap_flags(heap));
		return NULL;
	}
	p = rallocx(ptr, size, heap_flags(heap));
	return likely(p) ? p : heap_nomem(heap, "grow an object to", size);
}

/**
 * dax_heap_free() - free an object of the heap
 * @ptr: an object of @heap (not of another heap, not of malloc), or NULL
 */
DAX_EXPORT void dax_heap_free(struct dax_heap *heap, void *ptr)
{
	if (ptr)
		dallocx(ptr, heap_flags(heap));
}

/**
 * dax_heap_usable_size() - how many bytes of @ptr can be used
 *
 * Return: at least the size asked for; 0 for NULL.
 */
DAX_EXPORT size_t dax_heap_usable_size(struct dax_heap *heap,
				       const void *ptr)
{
	return ptr ? sallocx(ptr, 0) : 0;
}

void dax_heap_extent_sizes(struct dax_heap *heap, uint64_t *asked,
			   uint64_t *pow2)
{
	*asked = atomic_load(&heap->asked_bytes);
	*pow2 = atomic_load(&heap->pow2_bytes);
}

/**
 * dax_heap_get_stats() - what the heap holds
 * @heap: the heap
 * @stats: receives the counters
 *
 * Context: any thread.
 * Return: 0, or -EINVAL for a NULL argument.
 */
DAX_EXPORT int dax_heap_get_stats(struct dax_heap *heap,
				  struct dax_heap_stats *stats)
{
	uint64_t epoch = 1;
	size_t sz;
	char name[64];

	if (!heap || !stats)
		return dax_fail(NULL, -EINVAL, "dax_heap_get_stats: %s is NULL",
				heap ? "stats" : "heap");
	memset(stats, 0, sizeof(*stats));
	stats->region_bytes = atomic_load(&heap->region_bytes);
	stats->peak_region_bytes = atomic_load(&heap->peak_bytes);
	stats->nr_extents = atomic_load(&heap->nr_extents);
	mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
	for (unsigned i = 0; i < heap->nr_arenas; i++) {
		static const char *const kinds[] = { "small", "large" };

		for (int k = 0; k < 2; k++) {
			size_t v = 0;

			snprintf(name, sizeof(name),
				 "stats.arenas.%u.%s.allocated",
				 heap->arenas[i], kinds[k]);
			sz = sizeof(v);
			if (!mallctl(name, &v, &sz, NULL, 0))
				stats->allocated_bytes += v;
		}
	}
	stats->nr_arenas = heap->nr_arenas;
	pthread_mutex_lock(&heap->pool->lock);
	stats->nr_tcaches = heap->pool->nr_ids;
	pthread_mutex_unlock(&heap->pool->lock);
	return 0;
}
