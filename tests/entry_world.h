/* SPDX-License-Identifier: MIT */
/*
 * The world tests/entry.c and tests/lock.c run in: one mapping on a
 * standalone reverse map (no region), so dax_rmap_lock_pfn() can stand in
 * for dax_lock_pfn() and entries can name any pfn below ENTRY_WORLD_PAGES.
 */
#ifndef LIBDAX_TEST_ENTRY_WORLD_H
#define LIBDAX_TEST_ENTRY_WORLD_H

#include "helpers.h"
#include "libdax/internal.h"

#define ENTRY_WORLD_PAGES (UINT64_C(1) << 20)

static const struct dax_mapping_ops no_ops;
static struct dax_rmap *rmap;
static struct dax_mapping *m;

/* buckets: the wait table's size; 1 makes every key collide. */
static inline void entry_world_make(unsigned buckets)
{
	cr_assert_eq(dax_rmap_new(ENTRY_WORLD_PAGES, buckets, &rmap), 0);
	cr_assert_eq(dax_mapping_new_rmap(rmap, NULL, &no_ops, NULL,
					  UINT64_C(1) << 40, &m), 0);
}

static inline void entry_world_end(void)
{
	dax_mapping_put(&m);
	dax_rmap_put(rmap);
	dax_rcu_barrier();
}

/* Install an unlocked entry; pfn 0 makes a ZERO entry. */
static inline void install(struct dax_mapping *map, uint64_t index,
			   unsigned order, uint64_t pfn)
{
	struct dax_locked_entry le;

	cr_assert_eq(dax_entry_grab(map, index, order, &le), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_entry_replace(map, &le, pfn,
				       pfn ? 0 : DAX_ENTRY_ZERO), 0, "%s",
		     dax_errormsg());
	dax_entry_put(map, &le);
}

#endif /* LIBDAX_TEST_ENTRY_WORLD_H */
