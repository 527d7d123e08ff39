// SPDX-License-Identifier: MIT
/*
 * Mappings (libdax/mapping.c) on a real (memfd) region: life cycle, size,
 * kill, reference counting, and the public dax_lock_pfn() path through the
 * region's reverse map.
 */
#include <pthread.h>

#include "helpers.h"
#include "libdax/internal.h"

static struct dax_region *r;
static struct dax_mapping *m;
static int cookie_of_priv;
static const struct dax_mapping_ops ops;

static void setup(void)
{
	struct dax_region_opts *o;

	cr_assert_eq(dax_region_opts_new(&o), 0);
	cr_assert_eq(dax_region_opts_set_size(o, 64 << 20), 0);
	cr_assert_eq(dax_region_open("memfd:mapping-test", o, &r), 0, "%s",
		     dax_errormsg());
	dax_region_opts_delete(&o);
	cr_assert_eq(dax_mapping_new(r, &ops, &cookie_of_priv, 1 << 30, &m),
		     0, "%s", dax_errormsg());
}

static void teardown(void)
{
	dax_mapping_put(&m);
	cr_assert_eq(dax_region_close(&r), 0, "%s", dax_errormsg());
	dax_rcu_barrier();
}

static void install(struct dax_mapping *map, uint64_t index, unsigned order,
		    uint64_t pfn)
{
	struct dax_locked_entry le;

	cr_assert_eq(dax_entry_grab(map, index, order, &le), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_entry_replace(map, &le, pfn, 0), 0, "%s",
		     dax_errormsg());
	dax_entry_put(map, &le);
}

Test(mapping, getters_report_what_it_was_made_with, .init = setup,
     .fini = teardown)
{
	cr_assert_eq(dax_mapping_get_region(m), r);
	cr_assert_eq(dax_mapping_get_priv(m), &cookie_of_priv);
	cr_assert_eq(dax_mapping_get_size(m), 1 << 30);
	cr_assert(dax_mapping_is_alive(m));
	cr_assert_eq(dax_mapping_get_nr_entries(m), 0);
	cr_assert_eq(dax_mapping_ops(m), &ops, "kept by pointer");
	cr_assert_null(dax_mapping_get_region(NULL));
	cr_assert_null(dax_mapping_get_priv(NULL));
	cr_assert_eq(dax_mapping_get_size(NULL), 0);
	cr_assert(!dax_mapping_is_alive(NULL));
}

Test(mapping, bad_arguments_are_refused, .init = setup, .fini = teardown)
{
	struct dax_mapping *x = NULL;

	assert_fails_with(dax_mapping_new(NULL, &ops, NULL, 0, &x), -EINVAL,
			  "region is NULL");
	assert_fails_with(dax_mapping_new(r, NULL, NULL, 0, &x), -EINVAL,
			  "ops table");
	assert_fails_with(dax_mapping_new(r, &ops, NULL, 0, NULL), -EINVAL,
			  "out-pointer");
	assert_fails_with(dax_mapping_new(r, &ops, NULL,
					  DAX_MAPPING_MAX_SIZE + 1, &x),
			  -EINVAL, "above the largest");
	cr_assert_null(x);
	assert_fails_with(dax_mapping_kill(NULL), -EINVAL, "NULL");
	assert_fails_with(dax_mapping_set_size(NULL, 0), -EINVAL, "NULL");
	cr_assert_null(dax_mapping_get(NULL));
	dax_mapping_put(NULL);
	dax_mapping_put(&x);
}

Test(mapping, size_cannot_shrink_below_an_entry, .init = setup,
     .fini = teardown)
{
	install(m, 512, 9, 512);
	cr_assert_eq(dax_mapping_set_size(m, 4 << 20), 0);
	cr_assert_eq(dax_mapping_set_size(m, (4 << 20) - 1), 0);
	/* the 2 MiB entry would straddle the end, or lie beyond it */
	assert_fails_with(dax_mapping_set_size(m, (2 << 20) + 1), -EBUSY,
			  "truncate");
	assert_fails_with(dax_mapping_set_size(m, 2 << 20), -EBUSY,
			  "truncate");
	cr_assert_eq(dax_mapping_get_size(m), (4 << 20) - 1);
	assert_fails_with(dax_mapping_set_size(m, DAX_MAPPING_MAX_SIZE + 1),
			  -EINVAL, "above the largest");
	cr_assert_eq(dax_mapping_set_size(m, DAX_MAPPING_MAX_SIZE), 0);
}

Test(mapping, references_keep_it_until_the_last_put, .init = setup,
     .fini = teardown)
{
	struct dax_mapping *a = dax_mapping_get(m), *b = dax_mapping_get(m);
	dax_cookie_t c;

	cr_assert_eq(a, m);
	install(m, 0, 0, 3);
	dax_mapping_put(&a);
	cr_assert_null(a);
	dax_mapping_put(&b);
	cr_assert_eq(dax_lock_index(m, 0, &c), 0);
	cr_assert_neq(c, 0, "still alive");
	cr_assert_eq(dax_unlock(m, c), 0);
}

Test(mapping, killed_mapping_locks_nothing, .init = setup, .fini = teardown)
{
	dax_cookie_t c;

	install(m, 0, 0, 3);
	cr_assert_eq(dax_mapping_kill(m), 0);
	cr_assert_eq(dax_mapping_kill(m), 0, "idempotent");
	cr_assert_eq(dax_lock_index(m, 0, &c), 0);
	cr_assert_eq(c, 0);
	cr_assert_eq(dax_lock_pfn(r, 3, &c), 0);
	cr_assert_eq(c, 0);
}

Test(mapping, lock_pfn_through_the_region, .init = setup, .fini = teardown)
{
	struct dax_mapping *owner;
	dax_cookie_t c;
	uint64_t index;

	install(m, 1024, 9, 4096);
	cr_assert_eq(dax_lock_pfn(r, 4096 + 511, &c), 0);
	cr_assert_neq(c, 0);
	cr_assert_eq(dax_cookie_owner(r, c, &owner, &index), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(owner, m);
	cr_assert_eq(index, 1024 + 511);
	cr_assert(dax_entry_is_locked(dax_tree_load(m->tree, 1024)));
	cr_assert_eq(dax_unlock_pfn(r, c), 0, "%s", dax_errormsg());
	cr_assert(!dax_entry_is_locked(dax_tree_load(m->tree, 1024)));
	assert_fails_with(dax_unlock_pfn(r, c), -EINVAL, "not locked");
	assert_fails_with(dax_cookie_owner(r, c, &owner, &index), -EINVAL,
			  "not held");
	cr_assert_eq(dax_lock_pfn(r, 4096 + 512, &c), 0);
	cr_assert_eq(c, 0, "nobody owns it");
	assert_fails_with(dax_lock_pfn(r, (64 << 20) >> 12, &c), -EINVAL,
			  "beyond");
	assert_fails_with(dax_lock_pfn(NULL, 0, &c), -EINVAL, "NULL");
	assert_fails_with(dax_lock_pfn(r, 0, NULL), -EINVAL, "NULL");
	assert_fails_with(dax_unlock_pfn(NULL, c), -EINVAL, "NULL");
}

Test(mapping, two_mappings_cannot_own_one_page, .init = setup,
     .fini = teardown)
{
	struct dax_locked_entry le;
	struct dax_mapping *m2;

	cr_assert_eq(dax_mapping_new(r, &ops, NULL, 1 << 30, &m2), 0);
	install(m, 0, 9, 512);
	cr_assert_eq(dax_entry_grab(m2, 0, 0, &le), 0);
	assert_fails_with(dax_entry_replace(m2, &le, 700, 0), -EBUSY,
			  "owns");
	dax_entry_put(m2, &le);
	dax_mapping_put(&m2);
}

Test(mapping, region_without_mappings_has_no_owner)
{
	struct dax_region_opts *o;
	struct dax_region *rr;
	dax_cookie_t c = 1;

	cr_assert_eq(dax_region_opts_new(&o), 0);
	cr_assert_eq(dax_region_opts_set_size(o, 4 << 20), 0);
	cr_assert_eq(dax_region_open("memfd:empty", o, &rr), 0);
	dax_region_opts_delete(&o);
	cr_assert_eq(dax_lock_pfn(rr, 5, &c), 0);
	cr_assert_eq(c, 0);
	assert_fails_with(dax_unlock_pfn(rr, 5), -EINVAL, "no mapping");
	cr_assert_eq(dax_region_set_wait_buckets(rr, 4), 0);
	assert_fails_with(dax_region_set_wait_buckets(rr, 4), -EBUSY,
			  "exists");
	cr_assert_eq(dax_region_close(&rr), 0);
}

Test(mapping, outlives_its_region_safely)
{
	struct dax_region_opts *o;
	struct dax_region *rr;
	struct dax_mapping *mm;

	cr_assert_eq(dax_region_opts_new(&o), 0);
	cr_assert_eq(dax_region_opts_set_size(o, 4 << 20), 0);
	cr_assert_eq(dax_region_open("memfd:early-close", o, &rr), 0);
	dax_region_opts_delete(&o);
	cr_assert_eq(dax_mapping_new(rr, &ops, NULL, 1 << 20, &mm), 0);
	install(mm, 0, 0, 1);
	cr_assert_eq(dax_region_close(&rr), 0);
	/* the reverse map is refcounted: the last put still finds it */
	dax_mapping_put(&mm);
	dax_rcu_barrier();
}

Test(mapping, killed_region_refuses_new_mappings)
{
	struct dax_region_opts *o;
	struct dax_region *rr;
	struct dax_mapping *mm;

	cr_assert_eq(dax_region_opts_new(&o), 0);
	cr_assert_eq(dax_region_opts_set_size(o, 4 << 20), 0);
	cr_assert_eq(dax_region_open("memfd:killed", o, &rr), 0);
	dax_region_opts_delete(&o);
	cr_assert_eq(dax_region_kill(rr), 0);
	cr_assert_eq(dax_mapping_new(rr, &ops, NULL, 1 << 20, &mm), -ENXIO);
	cr_assert_eq(dax_region_close(&rr), 0);
}

static uint64_t used_pages(struct dax_region *region)
{
	struct dax_alloc_stats st;

	cr_assert_eq(dax_alloc_get_stats(region, &st), 0, "%s",
		     dax_errormsg());
	return st.used_pages;
}

Test(mapping, last_put_gives_builtin_blocks_back, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;
	struct dax_mapping *mm;
	uint64_t before = used_pages(r);

	cr_assert_eq(dax_mapping_new(r, &ops, NULL, 8 << 20, &mm), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_fault(mm, 3, DAX_FAULT_WRITE, &ext), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_fault(mm, 1024, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M,
			       &ext), 0, "%s", dax_errormsg());
	cr_assert_eq(ext.order, 9);
	cr_assert_eq(used_pages(r), before + 1 + 512);
	/* No truncate first: the last put alone must return the blocks. */
	dax_mapping_put(&mm);
	cr_assert_eq(used_pages(r), before);
}

Test(mapping, put_after_region_close_leaves_the_allocator_alone)
{
	struct dax_region_opts *o;
	struct dax_region *rr;
	struct dax_mapping *mm;
	struct dax_fault_ext ext;

	cr_assert_eq(dax_region_opts_new(&o), 0);
	cr_assert_eq(dax_region_opts_set_size(o, 4 << 20), 0);
	cr_assert_eq(dax_region_open("memfd:closed-first", o, &rr), 0);
	dax_region_opts_delete(&o);
	cr_assert_eq(dax_mapping_new(rr, &ops, NULL, 1 << 20, &mm), 0);
	cr_assert_eq(dax_fault(mm, 0, DAX_FAULT_WRITE, &ext), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_close(&rr), 0);
	/* The region and its allocator are gone: ASan sees any touch. */
	dax_mapping_put(&mm);
	dax_rcu_barrier();
}
