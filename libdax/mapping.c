// SPDX-License-Identifier: MIT
/*
 * A mapping: the address_space of the kernel's DAX code.  It owns the entry
 * tree of one file-like object, its size and the engine's callbacks (one
 * ops table, kept by pointer), and it lives on a region, whose reverse map
 * records which mapping owns each region page.
 *
 * Lifetime.  A mapping is reference counted.  Its owner holds the first
 * reference; dax_mapping_get() adds one for a holder that already has one.
 * Code that holds only a region page number reaches the mapping through the
 * reverse map inside an RCU read-side section and takes a reference with
 * dax_mapping_tryget() (inc-not-zero), so a mapping whose count reached 0
 * is never revived.  The last put removes the mapping's reverse-map records
 * and its id, then frees the memory after a grace period: a reader still in
 * its read-side section sees a zero count, never freed memory.
 *
 * Death.  dax_mapping_kill() marks the mapping dead and wakes every waiter
 * of its entry locks: from then on lockers get cookie 0 and the fault path
 * -ENXIO.  Locks held at that moment stay held and are released normally.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAPPING_DEFAULT_SPINS 200

static int check_size(uint64_t size)
{
	if (size > DAX_MAPPING_MAX_SIZE)
		return dax_fail(NULL, -EINVAL,
				"mapping size 0x%llx is above the largest, "
				"0x%llx (2^36 pages)",
				(unsigned long long)size,
				(unsigned long long)DAX_MAPPING_MAX_SIZE);
	return 0;
}

int dax_mapping_new_rmap(struct dax_rmap *rmap, struct dax_region *region,
			 const struct dax_mapping_ops *ops, void *priv,
			 uint64_t size, struct dax_mapping **mapping)
{
	struct dax_mapping *m;
	int ret;

	if (!mapping)
		return dax_fail(NULL, -EINVAL, "mapping out-pointer is NULL");
	if (!ops)
		return dax_fail(NULL, -EINVAL,
				"a mapping needs an ops table (callbacks may "
				"be NULL, the table may not)");
	ret = check_size(size);
	if (ret)
		return ret;
	m = aligned_alloc(64, sizeof(*m));
	if (!m)
		return dax_fail(NULL, -ENOMEM, "no memory for a mapping");
	memset(m, 0, sizeof(*m));
	ret = dax_tree_new(&m->tree);
	if (ret) {
		free(m);
		return ret;
	}
	ret = dax_rmap_register(rmap, m, &m->id);
	if (ret) {
		dax_tree_delete(&m->tree);
		free(m);
		return ret;
	}
	dax_rmap_get(rmap);
	m->rmap = rmap;
	m->wq = dax_rmap_waitq(rmap);
	m->tag = m->id & 0x7f;
	m->spins = MAPPING_DEFAULT_SPINS;
	m->ops = ops;
	m->priv = priv;
	m->region = region;
	atomic_init(&m->dead, false);
	atomic_init(&m->size, size);
	/* Lock sequences start somewhere different for each mapping. */
	atomic_init(&m->next_seq, m->id * 0x9e37u);
	atomic_init(&m->refs, 1);
	pthread_mutex_init(&m->range_lock, NULL);
	m->free_range = UINT32_MAX;
	dax_publish_mapping(m, 1);
	*mapping = m;
	return 0;
}

/**
 * dax_mapping_new() - make a mapping (an address_space) on a region
 * @region: the region whose pages the mapping's entries will point to
 * @ops: the engine's callbacks; kept by pointer, must outlive the mapping
 * @priv: handed to every callback
 * @size: the size in bytes (at most DAX_MAPPING_MAX_SIZE)
 * @mapping: receives the mapping, holding one reference
 *
 * Context: any thread; allocates; the region must be open and alive.
 * Return: 0; -EINVAL (NULL argument, size too large); -ENXIO (the region
 * was killed); -ENOSPC (2^20 - 1 mappings on the region); -ENOMEM.
 */
DAX_EXPORT int dax_mapping_new(struct dax_region *region,
			       const struct dax_mapping_ops *ops, void *priv,
			       uint64_t size, struct dax_mapping **mapping)
{
	struct dax_rmap *rmap;
	int ret;

	if (!region)
		return dax_fail(NULL, -EINVAL, "region is NULL");
	if (!mapping)
		return dax_fail(NULL, -EINVAL, "mapping out-pointer is NULL");
	ret = dax_region_enter(region);
	if (ret)
		return ret;
	rmap = dax_region_rmap(region, true);
	if (!rmap)
		ret = -ENOMEM;	/* message set by dax_rmap_new() */
	else
		ret = dax_mapping_new_rmap(rmap, region, ops, priv, size,
					   mapping);
	dax_region_exit(region);
	return ret;
}

/**
 * dax_mapping_get() - take another reference
 * @mapping: a mapping the caller holds a reference to
 *
 * Context: any thread, lock-free.
 * Return: @mapping (NULL when @mapping is NULL).
 */
DAX_EXPORT struct dax_mapping *dax_mapping_get(struct dax_mapping *mapping)
{
	if (mapping)
		atomic_fetch_add_explicit(&mapping->refs, 1,
					  memory_order_relaxed);
	return mapping;
}

bool dax_mapping_tryget(struct dax_mapping *m)
{
	long refs = atomic_load_explicit(&m->refs, memory_order_relaxed);

	do {
		if (refs <= 0)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
		&m->refs, &refs, refs + 1, memory_order_acquire,
		memory_order_relaxed));
	return true;
}

/*
 * Runs after a grace period: lookups that read the mapping from the id
 * table before it was cleared have left their read-side sections.  Only
 * frees memory (liburcu's callback thread must not queue callbacks through
 * libdax's wrappers, which would register it a second time).
 */
static void mapping_free_cb(struct rcu_head *head)
{
	struct dax_mapping *m = caa_container_of(head, struct dax_mapping, rcu);

	/* Edges ThreadSanitizer cannot see: the last put, and the lookups
	 * whose read-side sections this grace period waited for. */
	(void)atomic_load_explicit(&m->refs, memory_order_acquire);
	dax_tsan_acquire(&m->tsan_readers);
	dax_range_locks_free(m);
	dax_layout_free(m->layout);
	pthread_mutex_destroy(&m->range_lock);
	free(m);
}

int dax_mapping_free_blocks(struct dax_mapping *m, uint64_t entry)
{
	struct dax_alloc *alloc;
	int ret;

	if (!dax_entry_is_real(entry))
		return dax_fail(NULL, -EINVAL,
				"entry 0x%llx has no blocks (a hole or a "
				"placeholder)", (unsigned long long)entry);
	/*
	 * An engine that allocates (iomap_begin) owns its blocks; and once
	 * the region is closed (a mapping may outlive it), so is its
	 * allocator, with every block.
	 */
	if (m->ops->iomap_begin || !m->region ||
	    !dax_rmap_region_open(m->rmap))
		return 0;
	ret = dax_alloc_get(m->region, &alloc);
	if (ret)
		return ret;
	return dax_alloc_free_block(alloc, dax_entry_pfn(entry),
				    dax_entry_order(entry));
}

/*
 * The last put forgets the reverse map of every real entry and, for the
 * built-in allocator, gives its pages back: a mapping dropped without a
 * truncate must not keep region pages in use until the region closes.
 * Pages are freed by range, not by block: a truncate may have split a
 * 2 MiB block's entry and freed part of it.  They are collected during the
 * walk and freed after one grace period (put_free_pages()), so a lock-free
 * reader that still sees an entry reads memory nobody else owns yet.
 */
struct put_pages {
	struct dax_mapping *m;
	bool builtin;			/* free what the entries point to */
	uint64_t (*runs)[2];		/* first page, number of pages */
	size_t nr, cap;
};

static int forget_pages(void *priv, uint64_t first, unsigned order,
			uint64_t value)
{
	struct put_pages *p = priv;
	uint64_t pfn = dax_entry_pfn(value), n = UINT64_C(1) << order;

	if (!dax_entry_is_real(value))
		return 0;
	dax_rmap_remove_range(p->m->rmap, pfn, order, p->m->id);
	if (!p->builtin)
		return 0;
	if (p->nr && p->runs[p->nr - 1][0] + p->runs[p->nr - 1][1] == pfn) {
		p->runs[p->nr - 1][1] += n;
		return 0;
	}
	if (p->nr == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		void *runs = realloc(p->runs, cap * sizeof(*p->runs));

		/* Out of memory: the pages stay used until the region
		 * closes, which frees everything. */
		if (!runs)
			return 0;
		p->runs = runs;
		p->cap = cap;
	}
	p->runs[p->nr][0] = pfn;
	p->runs[p->nr][1] = n;
	p->nr++;
	return 0;
}

static void put_free_pages(struct put_pages *p)
{
	struct dax_alloc *alloc;

	if (p->nr && !dax_alloc_get(p->m->region, &alloc)) {
		dax_rcu_synchronize();
		for (size_t i = 0; i < p->nr; i++)
			dax_alloc_free_range(alloc, p->runs[i][0],
					     p->runs[i][1]);
	}
	free(p->runs);
}

/**
 * dax_mapping_put() - drop a reference; the last one frees the mapping
 * @mapping: the handle; set to NULL.  NULL or *@mapping NULL does nothing.
 *
 * The last put forgets which region pages the mapping's entries pointed to,
 * gives the built-in allocator's blocks back (an engine with its own
 * iomap_begin frees its blocks itself, e.g. by truncating first) and frees
 * the mapping after an RCU grace period.  Nobody may hold one of its entry
 * locks any more.
 *
 * Context: any thread; must not be inside an RCU read-side section.
 */
DAX_EXPORT void dax_mapping_put(struct dax_mapping **mapping)
{
	struct put_pages pages = { 0 };
	struct dax_mapping *m;

	if (!mapping || !*mapping)
		return;
	m = *mapping;
	*mapping = NULL;
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
		return;
	pages.m = m;
	atomic_store_explicit(&m->dead, true, memory_order_seq_cst);
	/*
	 * An engine that allocates (iomap_begin) owns its blocks; a region
	 * already closed (a mapping may outlive it) took its allocator and
	 * every block with it; no allocator yet means it made no block.
	 */
	pages.builtin = !m->ops->iomap_begin && m->region &&
			dax_rmap_region_open(m->rmap) &&
			dax_region_slot_get(m->region, DAX_REGION_SLOT_ALLOC);
	dax_tree_walk(m->tree, 0, UINT64_MAX, DAX_TREE_PRESENT, forget_pages,
		      &pages);
	put_free_pages(&pages);
	dax_publish_mapping(m, -1);
	dax_rmap_unregister(m->rmap, m->id);
	/* Nobody reaches the tree any more (lookups fail inc-not-zero), and
	 * the tree defers its own freeing past its readers. */
	dax_tree_delete(&m->tree);
	dax_rmap_put(m->rmap);
	m->rmap = NULL;
	/* A release the callback's acquire pairs with: call_rcu's queue is
	 * not an edge ThreadSanitizer can see. */
	atomic_fetch_add_explicit(&m->refs, 0, memory_order_release);
	dax_call_rcu(&m->rcu, mapping_free_cb);
}

/**
 * dax_mapping_kill() - make a mapping go away
 * @mapping: the mapping
 *
 * Marks the mapping dead and wakes every thread waiting for one of its
 * entry locks.  From then on dax_lock_index(), dax_lock_range() and
 * dax_lock_pfn() report cookie 0 (nothing locked), including the waiters
 * just woken; entry locks held at the time stay held until their holders
 * call dax_unlock().  Idempotent.
 *
 * Context: any thread; does not sleep (it takes the wait table's bucket
 * locks briefly).
 * Return: 0, or -EINVAL when @mapping is NULL.
 */
DAX_EXPORT int dax_mapping_kill(struct dax_mapping *mapping)
{
	if (!mapping)
		return dax_fail(NULL, -EINVAL, "mapping is NULL");
	atomic_store_explicit(&mapping->dead, true, memory_order_seq_cst);
	dax_waitq_wake(mapping->wq, mapping, DAX_WAITQ_ALL_KEYS, true);
	return 0;
}

/**
 * dax_mapping_is_alive() - has the mapping not been killed?
 * @mapping: the mapping
 *
 * Context: any thread, lock-free.
 * Return: false once dax_mapping_kill() was called (or for NULL).
 */
DAX_EXPORT bool dax_mapping_is_alive(const struct dax_mapping *mapping)
{
	return mapping &&
	       !atomic_load_explicit(&mapping->dead, memory_order_acquire);
}

/**
 * dax_mapping_get_size() - the mapping's size in bytes
 * @mapping: the mapping
 *
 * Context: any thread, lock-free.
 * Return: the size (0 for NULL).
 */
DAX_EXPORT uint64_t dax_mapping_get_size(const struct dax_mapping *mapping)
{
	return mapping ? atomic_load_explicit(&mapping->size,
					      memory_order_acquire)
		       : 0;
}

/**
 * dax_mapping_set_size() - record a new size
 * @mapping: the mapping
 * @size: the new size in bytes
 *
 * Only records the size: it never removes entries.  Shrinking below an
 * existing entry is refused (truncate the range first).  The caller
 * serializes size changes with its faults, as a filesystem does with its
 * inode lock.
 *
 * Context: any thread.
 * Return: 0; -EINVAL (NULL, size too large); -EBUSY (entries beyond @size).
 */
DAX_EXPORT int dax_mapping_set_size(struct dax_mapping *mapping, uint64_t size)
{
	uint64_t index, pages;
	unsigned order;
	int ret;

	if (!mapping)
		return dax_fail(NULL, -EINVAL, "mapping is NULL");
	ret = check_size(size);
	if (ret)
		return ret;
	pages = (size + DAX_PAGE_SIZE - 1) >> DAX_PAGE_SHIFT;
	index = pages;
	if (pages <= DAX_MAPPING_MAX_INDEX &&
	    dax_tree_find(mapping->tree, &index, UINT64_MAX, DAX_TREE_PRESENT,
			  &order))
		return dax_fail(NULL, -EBUSY,
				"size 0x%llx would leave the entry at page "
				"0x%llx (order %u) beyond the end; truncate "
				"it first",
				(unsigned long long)size,
				(unsigned long long)index, order);
	atomic_store_explicit(&mapping->size, size, memory_order_release);
	return 0;
}

/**
 * dax_mapping_get_region() - the region a mapping lives on
 * @mapping: the mapping
 *
 * Context: any thread.
 * Return: the region (NULL for NULL, or for a mapping made without one).
 */
DAX_EXPORT struct dax_region *
dax_mapping_get_region(const struct dax_mapping *mapping)
{
	return mapping ? mapping->region : NULL;
}

/**
 * dax_mapping_get_priv() - the priv pointer given to dax_mapping_new()
 * @mapping: the mapping
 *
 * Context: any thread.
 * Return: priv (NULL for NULL).
 */
DAX_EXPORT void *dax_mapping_get_priv(const struct dax_mapping *mapping)
{
	return mapping ? mapping->priv : NULL;
}

/**
 * dax_mapping_get_nr_entries() - how many entries the mapping's tree holds
 * @mapping: the mapping
 *
 * Context: any thread, lock-free; a snapshot.
 * Return: the count (0 for NULL).
 */
DAX_EXPORT uint64_t
dax_mapping_get_nr_entries(const struct dax_mapping *mapping)
{
	return mapping ? dax_tree_get_nr_entries(mapping->tree) : 0;
}

struct dax_tree *dax_mapping_tree(const struct dax_mapping *mapping)
{
	return mapping->tree;
}

const struct dax_mapping_ops *dax_mapping_ops(const struct dax_mapping *m)
{
	return m->ops;
}

struct dax_rmap *dax_mapping_rmap(const struct dax_mapping *mapping)
{
	return mapping->rmap;
}

struct dax_waitq *dax_mapping_waitq(const struct dax_mapping *mapping)
{
	return mapping->wq;
}

uint32_t dax_mapping_id(const struct dax_mapping *mapping)
{
	return mapping->id;
}

unsigned dax_mapping_next_seq(struct dax_mapping *mapping)
{
	return atomic_fetch_add_explicit(&mapping->next_seq, 1,
					 memory_order_relaxed);
}

void dax_mapping_set_spin(struct dax_mapping *mapping, unsigned spins)
{
	__atomic_store_n(&mapping->spins, spins, __ATOMIC_RELAXED);
}
