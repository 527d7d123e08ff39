// SPDX-License-Identifier: MIT
/*
 * The reverse map of a region: which mapping, at which index, owns a region
 * page.  It is what the memory-failure path starts from (dax_lock_pfn()):
 * the kernel reads page->mapping and page->index; libdax has no struct page
 * per pfn, so it keeps a tree keyed by pfn, one record per DAX entry, of the
 * entry's order.
 *
 * A record is one tree value: the owner's id (20 bits) and the distance
 * from the pfn to the index, (first index - first pfn) mod 2^36.  The
 * distance is the same for every page of an entry, so splitting a record
 * (as an entry is split) keeps its meaning with no rewrite.  The id names a
 * mapping in the id table, an RCU-protected array: a lookup reads the
 * record and the table inside one read-side section and takes a reference
 * with inc-not-zero, so a mapping whose last reference is gone is simply
 * "not there".  Ids are recycled at once; a reader that raced with the
 * recycling finds a mapping whose entry does not hold that pfn, and the
 * caller revalidates under the entry lock anyway (entry.c).
 *
 * The same per-region object carries the region's wait table, so nothing
 * in the entry locks is global.  It is refcounted: the region's slot holds
 * one reference and every mapping one, so a mapping put after the region
 * closed still finds its reverse map.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RMAP_DELTA_BITS 36
#define RMAP_DELTA_MASK ((UINT64_C(1) << RMAP_DELTA_BITS) - 1)

/*
 * Old tables are kept until the reverse map goes: ThreadSanitizer cannot
 * see grace periods, and together they are smaller than the last one.
 */
struct rmap_table {
	struct rmap_table *older;
	uint32_t cap;
	struct dax_mapping *slots[];
};

struct dax_rmap {
	_Atomic long refs;
	uint64_t nr_pages;
	struct dax_tree *tree;		/* pfn -> id << 36 | delta */
	struct dax_waitq *wq;
	pthread_mutex_t lock;		/* the id table's writers */
	struct rmap_table *table;	/* RCU */
	uint32_t *free_ids;
	uint32_t nr_free, cap_free;
	uint32_t next_id;		/* ids from here on never used */
	/* In a region's slot, until the region's close releases it: the
	 * region (and its allocator) may be used only while this is set. */
	atomic_bool region_open;
	struct rcu_head rcu;
};

static inline uint64_t rec_make(uint32_t id, uint64_t pfn, uint64_t index)
{
	return (uint64_t)id << RMAP_DELTA_BITS |
	       ((index - pfn) & RMAP_DELTA_MASK);
}

static inline uint32_t rec_id(uint64_t rec)
{
	return rec >> RMAP_DELTA_BITS;
}

static inline uint64_t rec_index(uint64_t rec, uint64_t pfn)
{
	return (pfn + rec) & RMAP_DELTA_MASK;
}

int dax_rmap_new(uint64_t nr_pages, unsigned nr_wait_buckets,
		 struct dax_rmap **rmapp)
{
	struct dax_rmap *rmap;
	int ret;

	if (nr_pages == 0 || nr_pages > DAX_ENTRY_MAX_PFN + 1)
		return dax_fail(NULL, -EINVAL,
				"a reverse map covers 1 to 2^34 pages, not %llu",
				(unsigned long long)nr_pages);
	rmap = calloc(1, sizeof(*rmap));
	if (!rmap)
		return dax_fail(NULL, -ENOMEM, "no memory for a reverse map");
	ret = dax_tree_new(&rmap->tree);
	if (ret)
		goto fail;
	ret = dax_waitq_new(nr_wait_buckets, &rmap->wq);
	if (ret)
		goto fail;
	rmap->table = calloc(1, sizeof(*rmap->table) +
				     16 * sizeof(rmap->table->slots[0]));
	if (!rmap->table) {
		ret = dax_fail(NULL, -ENOMEM, "no memory for a reverse map");
		goto fail;
	}
	rmap->table->cap = 16;
	rmap->next_id = 1;
	rmap->nr_pages = nr_pages;
	pthread_mutex_init(&rmap->lock, NULL);
	atomic_init(&rmap->refs, 1);
	*rmapp = rmap;
	return 0;
fail:
	dax_waitq_delete(&rmap->wq);
	dax_tree_delete(&rmap->tree);
	free(rmap);
	return ret;
}

void dax_rmap_get(struct dax_rmap *rmap)
{
	atomic_fetch_add_explicit(&rmap->refs, 1, memory_order_relaxed);
}

static void rmap_free_cb(struct rcu_head *head)
{
	struct dax_rmap *rmap = caa_container_of(head, struct dax_rmap, rcu);

	/* The edge from the last put, which call_rcu hides from TSan. */
	(void)atomic_load_explicit(&rmap->refs, memory_order_acquire);
	dax_waitq_delete(&rmap->wq);
	pthread_mutex_destroy(&rmap->lock);
	while (rmap->table) {
		struct rmap_table *t = rmap->table;

		rmap->table = t->older;
		free(t);
	}
	free(rmap->free_ids);
	free(rmap);
}

void dax_rmap_put(struct dax_rmap *rmap)
{
	if (!rmap)
		return;
	if (atomic_fetch_sub_explicit(&rmap->refs, 1,
				      memory_order_acq_rel) != 1)
		return;
	/*
	 * The tree defers its own freeing; the rest waits for a grace period
	 * here, and the callback only frees memory (liburcu's callback thread
	 * must not queue callbacks through libdax's wrappers: they would
	 * register it a second time).
	 */
	dax_tree_delete(&rmap->tree);
	dax_call_rcu(&rmap->rcu, rmap_free_cb);
}

static void rmap_slot_release(void *obj)
{
	struct dax_rmap *rmap = obj;

	atomic_store_explicit(&rmap->region_open, false, memory_order_release);
	dax_rmap_put(rmap);
}

bool dax_rmap_region_open(const struct dax_rmap *rmap)
{
	return rmap && atomic_load_explicit(&rmap->region_open,
					    memory_order_acquire);
}

struct dax_rmap *dax_region_rmap(struct dax_region *region, bool create)
{
	struct dax_rmap *rmap, *won;

	rmap = dax_region_slot_get(region, DAX_REGION_SLOT_RMAP);
	if (rmap || !create)
		return rmap;
	if (dax_rmap_new(dax_region_get_size(region) >> DAX_PAGE_SHIFT,
			 DAX_WAITQ_DEFAULT_BUCKETS, &rmap))
		return NULL;
	atomic_store_explicit(&rmap->region_open, true, memory_order_relaxed);
	won = dax_region_slot_install(region, DAX_REGION_SLOT_RMAP, rmap,
				      rmap_slot_release);
	if (won != rmap)
		dax_rmap_put(rmap);
	return won;
}

int dax_region_set_wait_buckets(struct dax_region *region,
				unsigned nr_wait_buckets)
{
	struct dax_rmap *rmap, *won;
	int ret;

	if (dax_region_slot_get(region, DAX_REGION_SLOT_RMAP))
		return dax_fail(NULL, -EBUSY,
				"the region's wait table exists already");
	ret = dax_rmap_new(dax_region_get_size(region) >> DAX_PAGE_SHIFT,
			   nr_wait_buckets, &rmap);
	if (ret)
		return ret;
	atomic_store_explicit(&rmap->region_open, true, memory_order_relaxed);
	won = dax_region_slot_install(region, DAX_REGION_SLOT_RMAP, rmap,
				      rmap_slot_release);
	if (won != rmap) {
		dax_rmap_put(rmap);
		return dax_fail(NULL, -EBUSY,
				"the region's wait table exists already");
	}
	return 0;
}

struct dax_waitq *dax_rmap_waitq(const struct dax_rmap *rmap)
{
	return rmap->wq;
}

uint64_t dax_rmap_nr_pages(const struct dax_rmap *rmap)
{
	return rmap->nr_pages;
}

/* ---- the id table --------------------------------------------------------- */

int dax_rmap_register(struct dax_rmap *rmap, struct dax_mapping *mapping,
		      uint32_t *idp)
{
	struct rmap_table *t, *nt;
	uint32_t id;
	int ret = 0;

	pthread_mutex_lock(&rmap->lock);
	t = rmap->table;
	if (rmap->nr_free) {
		id = rmap->free_ids[--rmap->nr_free];
	} else if (rmap->next_id > DAX_RMAP_MAX_ID) {
		ret = dax_fail(NULL, -ENOSPC,
			       "a region holds at most %u mappings at once",
			       DAX_RMAP_MAX_ID);
		goto out;
	} else {
		id = rmap->next_id;
		if (id >= t->cap) {
			uint32_t cap = t->cap * 2;

			nt = calloc(1, sizeof(*nt) + cap * sizeof(nt->slots[0]));
			if (!nt) {
				ret = dax_fail(NULL, -ENOMEM,
					       "no memory for %u mapping ids",
					       cap);
				goto out;
			}
			nt->cap = cap;
			nt->older = t;
			for (uint32_t i = 0; i < t->cap; i++)
				nt->slots[i] = __atomic_load_n(&t->slots[i],
							       __ATOMIC_RELAXED);
			__atomic_store_n(&rmap->table, nt, __ATOMIC_RELEASE);
			t = nt;
		}
		rmap->next_id++;
	}
	__atomic_store_n(&t->slots[id], mapping, __ATOMIC_RELEASE);
	*idp = id;
out:
	pthread_mutex_unlock(&rmap->lock);
	return ret;
}

void dax_rmap_unregister(struct dax_rmap *rmap, uint32_t id)
{
	pthread_mutex_lock(&rmap->lock);
	__atomic_store_n(&rmap->table->slots[id], NULL, __ATOMIC_RELEASE);
	if (rmap->nr_free == rmap->cap_free) {
		uint32_t cap = rmap->cap_free ? rmap->cap_free * 2 : 16;
		uint32_t *ids = realloc(rmap->free_ids, cap * sizeof(*ids));

		if (!ids) {
			/* Leak the id rather than fail a teardown. */
			pthread_mutex_unlock(&rmap->lock);
			return;
		}
		rmap->free_ids = ids;
		rmap->cap_free = cap;
	}
	rmap->free_ids[rmap->nr_free++] = id;
	pthread_mutex_unlock(&rmap->lock);
}

/* ---- records ---------------------------------------------------------------- */

int dax_rmap_add(struct dax_rmap *rmap, uint64_t pfn, unsigned order,
		 uint32_t id, uint64_t index)
{
	uint64_t first;
	unsigned eorder;
	int ret;

	if (order > 34 || (pfn & ((UINT64_C(1) << order) - 1)) ||
	    pfn + (UINT64_C(1) << order) > rmap->nr_pages)
		return dax_fail(NULL, -EINVAL,
				"region pages 0x%llx..+2^%u are not an aligned "
				"range inside the region's 0x%llx pages",
				(unsigned long long)pfn, order,
				(unsigned long long)rmap->nr_pages);
	ret = dax_tree_insert(rmap->tree, pfn, order,
			      rec_make(id, pfn, index));
	if (ret == -EEXIST) {
		uint64_t rec = dax_tree_find_conflict(rmap->tree, pfn, order,
						      &first, &eorder);

		return dax_fail(NULL, -EBUSY,
				"region pages 0x%llx..+2^%u overlap pages "
				"0x%llx..+2^%u that mapping %u owns",
				(unsigned long long)pfn, order,
				(unsigned long long)first, eorder,
				rec_id(rec));
	}
	return ret;
}

void dax_rmap_remove(struct dax_rmap *rmap, uint64_t pfn, uint32_t id)
{
	uint64_t rec, cur;

	dax_tree_lock(rmap->tree);
	rec = dax_tree_load(rmap->tree, pfn);
	if (rec && rec_id(rec) == id)
		dax_tree_cmpxchg_locked(rmap->tree, pfn, rec, 0, &cur);
	dax_tree_unlock(rmap->tree);
}

void dax_rmap_remove_range(struct dax_rmap *rmap, uint64_t pfn,
			   unsigned order, uint32_t id)
{
	uint64_t last = pfn + (UINT64_C(1) << order) - 1, idx = pfn, rec, cur;
	unsigned o;

	dax_tree_lock(rmap->tree);
	while ((rec = dax_tree_find(rmap->tree, &idx, last, DAX_TREE_PRESENT,
				    &o)) != 0) {
		if (rec_id(rec) == id)
			dax_tree_cmpxchg_locked(rmap->tree, idx, rec, 0, &cur);
		idx += UINT64_C(1) << o;
		if (idx > last || idx == 0)
			break;
	}
	dax_tree_unlock(rmap->tree);
}

int dax_rmap_merge(struct dax_rmap *rmap, uint64_t pfn, unsigned order)
{
	uint64_t rec, first;
	unsigned o;
	int ret;

	dax_tree_lock(rmap->tree);
	rec = dax_tree_load_covering(rmap->tree, pfn, &first, &o);
	ret = rec && o < order ?
		dax_tree_store_locked(rmap->tree, pfn, order, rec,
				      DAX_TREE_REPLACE, NULL) : 0;
	dax_tree_unlock(rmap->tree);
	return ret;
}

int dax_rmap_split(struct dax_rmap *rmap, uint64_t pfn, unsigned order)
{
	unsigned cur;
	int ret = 0;

	dax_tree_lock(rmap->tree);
	if (dax_tree_load_covering(rmap->tree, pfn, NULL, &cur) && cur > order)
		ret = dax_tree_split_locked(rmap->tree, pfn, order);
	dax_tree_unlock(rmap->tree);
	return ret;
}

uint64_t dax_rmap_stamp(struct dax_rmap *rmap, uint64_t pfn)
{
	return dax_tree_load(rmap->tree, pfn);
}

struct dax_mapping *dax_rmap_lookup(struct dax_rmap *rmap, uint64_t pfn,
				    uint64_t *index, uint64_t *stamp)
{
	struct dax_mapping *m = NULL;
	struct rmap_table *t;
	uint64_t rec;
	uint32_t id;

	if (pfn >= rmap->nr_pages)
		return NULL;
	dax_rcu_read_lock();
	rec = dax_tree_load(rmap->tree, pfn);
	if (stamp)
		*stamp = rec;
	if (!rec)
		goto out;
	id = rec_id(rec);
	t = __atomic_load_n(&rmap->table, __ATOMIC_ACQUIRE);
	if (id >= t->cap)
		goto out;
	m = __atomic_load_n(&t->slots[id], __ATOMIC_ACQUIRE);
	if (m) {
		bool got = dax_mapping_tryget(m);

		/* After our last access to *m inside the section. */
		dax_tsan_release(&m->tsan_readers);
		if (!got)
			m = NULL;
	}
	if (m)
		*index = rec_index(rec, pfn);
out:
	dax_rcu_read_unlock();
	return m;
}

/*
 * dax_rmap_next_mapping() - the live mapping of the lowest id >= *@id, with
 * a reference (the caller puts it); *@id receives its id.  For walks over
 * every mapping of a region (layout.c's region revoke).
 * Context: any thread; takes the RCU read lock itself.
 * Return: the mapping, or NULL when there is none at or after *@id.
 */
struct dax_mapping *dax_rmap_next_mapping(struct dax_rmap *rmap, uint32_t *id)
{
	struct dax_mapping *m = NULL;
	struct rmap_table *t;

	dax_rcu_read_lock();
	t = __atomic_load_n(&rmap->table, __ATOMIC_ACQUIRE);
	for (uint32_t i = *id; i < t->cap; i++) {
		struct dax_mapping *c = __atomic_load_n(&t->slots[i],
							__ATOMIC_ACQUIRE);

		if (c && dax_mapping_tryget(c)) {
			dax_tsan_release(&c->tsan_readers);
			*id = i;
			m = c;
			break;
		}
	}
	dax_rcu_read_unlock();
	return m;
}
