/* SPDX-License-Identifier: MIT */
/*
 * The books a stress scenario checks at its end (include after
 * libdax/internal.h): the pages a mapping's real entries map, and the
 * allocator's counters once its batched frees have landed.  "No block both
 * free and mapped" is then: used pages == mapped pages.
 */
#ifndef LIBDAX_STRESS_ACCOUNTING_H
#define LIBDAX_STRESS_ACCOUNTING_H

static int stress_count_real(void *priv, uint64_t first, unsigned order,
			     uint64_t value)
{
	(void)first;
	if (dax_entry_is_real(value))
		*(uint64_t *)priv += UINT64_C(1) << order;
	return 0;
}

/* Pages mapped by @m's real entries (not holes, not placeholders). */
static inline uint64_t stress_mapped_pages(struct dax_mapping *m)
{
	uint64_t mapped = 0;

	dax_tree_walk(m->tree, 0, UINT64_MAX, DAX_TREE_PRESENT,
		      stress_count_real, &mapped);
	return mapped;
}

/*
 * @r's allocator counters after the frees it batches per grace period have
 * landed (no pending page left, or 100 grace periods gone by).
 */
static inline void stress_settled_alloc_stats(struct dax_region *r,
					      struct dax_alloc_stats *st)
{
	for (int i = 0; i < 100; i++) {
		dax_rcu_barrier();
		dax_alloc_get_stats(r, st);
		if (!st->pending_pages)
			break;
	}
}

#endif /* LIBDAX_STRESS_ACCOUNTING_H */
