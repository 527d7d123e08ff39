// SPDX-License-Identifier: MIT
/*
 * Memory failure and bad blocks (libdax/poison.c): the owner of a poisoned
 * page is told through notify_failure with the entry locked and the right
 * index (4 KiB and 2 MiB entries), free and allocated pages never come out
 * of the allocator again, a page nobody owns is only recorded, the sorted
 * bad-page query, injection into emulated regions, and misuse.
 */
#include "helpers.h"
#include "libdax/internal.h"

#define MiB (UINT64_C(1) << 20)
#define PAGE 4096

static struct dax_region *r;
static struct dax_mapping *m;

struct call {
	struct dax_mapping *m;
	void *priv;
	uint64_t index, nr;
	unsigned flags;
	bool locked;
};
static struct call calls[8];
static unsigned nr_calls;
static int notify_ret;
static int priv_token;

static int notify(struct dax_mapping *mapping, void *priv, uint64_t index,
		  uint64_t nr, unsigned flags)
{
	uint64_t v = dax_tree_load(dax_mapping_tree(mapping), index);

	if (nr_calls < 8)
		calls[nr_calls] = (struct call){ mapping, priv, index, nr,
						 flags, dax_entry_is_locked(v) };
	nr_calls++;
	return notify_ret;
}

static const struct dax_mapping_ops ops = { .notify_failure = notify };
static const struct dax_mapping_ops no_ops;

static struct dax_region *open_region(const char *path, uint64_t size)
{
	struct dax_region_opts *o;
	struct dax_region *reg = NULL;

	cr_assert_eq(dax_region_opts_new(&o), 0);
	cr_assert_eq(dax_region_opts_set_size(o, size), 0);
	cr_assert_eq(dax_region_open(path, o, &reg), 0, "%s", dax_errormsg());
	dax_region_opts_delete(&o);
	return reg;
}

static void setup(void)
{
	r = open_region("memfd:poison-test", 8 * MiB);
	cr_assert_eq(dax_mapping_new(r, &ops, &priv_token, 4 * MiB, &m), 0,
		     "%s", dax_errormsg());
	nr_calls = 0;
	notify_ret = 0;
}

static void teardown(void)
{
	test_end_mapping_and_region(&m, &r);
}

static struct dax_fault_ext fault_ok(uint64_t index, unsigned flags)
{
	struct dax_fault_ext ext;

	cr_assert_eq(dax_fault(m, index, flags, &ext), 0, "%s",
		     dax_errormsg());
	return ext;
}

static uint64_t nr_bad(void)
{
	uint64_t n = 99;

	cr_assert_eq(dax_region_get_badblocks(r, NULL, 0, &n), 0);
	return n;
}

/* Allocate every free 4 KiB page; fail if @bad comes out.  Frees them. */
static void never_allocated(uint64_t bad)
{
	static uint64_t got[8 * MiB / PAGE];
	uint64_t n = 0, page;

	while (!dax_alloc_pages(r, 0, DAX_ALLOC_WAIT, &page)) {
		cr_assert_neq(page, bad, "poisoned page %llu was allocated",
			      (unsigned long long)bad);
		got[n++] = page;
	}
	cr_assert_gt(n, 0);
	for (uint64_t i = 0; i < n; i++)
		cr_assert_eq(dax_free_pages(r, got[i], 0), 0);
}

static void settle(void)
{
	struct dax_alloc_stats st;

	for (int i = 0; i < 100; i++) {
		dax_rcu_barrier();
		cr_assert_eq(dax_alloc_get_stats(r, &st), 0);
		if (!st.pending_pages)
			return;
	}
}

Test(poison, owner_is_told_with_the_entry_locked_and_its_index,
     .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext = fault_ok(7, DAX_FAULT_WRITE);

	cr_assert_eq(dax_memory_failure(r, ext.pfn, DAX_MF_ACTION_REQUIRED),
		     0, "%s", dax_errormsg());
	cr_assert_eq(nr_calls, 1);
	cr_assert_eq(calls[0].m, m);
	cr_assert_eq(calls[0].priv, &priv_token);
	cr_assert_eq(calls[0].index, 7);
	cr_assert_eq(calls[0].nr, 1);
	cr_assert_eq(calls[0].flags, DAX_MF_ACTION_REQUIRED);
	cr_assert(calls[0].locked);
	/* unlocked again afterwards, and the entry is still there */
	uint64_t v = dax_tree_load(dax_mapping_tree(m), 7);
	cr_assert(v && !dax_entry_is_locked(v));
	cr_assert_eq(nr_bad(), 1);
}

Test(poison, a_page_inside_a_2m_entry_gives_its_own_index, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext =
		fault_ok(512 + 3, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M);

	cr_assert_eq(ext.order, 9);
	cr_assert_eq(dax_memory_failure(r, ext.pfn + 100, 0), 0);
	cr_assert_eq(nr_calls, 1);
	cr_assert_eq(calls[0].index, 512 + 100);
	cr_assert(calls[0].locked);
}

Test(poison, a_second_report_fails_and_does_not_notify_again,
     .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext = fault_ok(2, DAX_FAULT_WRITE);

	cr_assert_eq(dax_memory_failure(r, ext.pfn, 0), 0);
	assert_fails_with(dax_memory_failure(r, ext.pfn, 0), -EHWPOISON,
			  "already poisoned");
	cr_assert_eq(nr_calls, 1);
	cr_assert_eq(nr_bad(), 1);
}

Test(poison, a_failing_callback_is_reported_and_the_page_stays_bad,
     .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext = fault_ok(2, DAX_FAULT_WRITE);

	notify_ret = -EIO;
	assert_fails_with(dax_memory_failure(r, ext.pfn, 0), -EIO,
			  "notify_failure");
	cr_assert_eq(nr_bad(), 1);
	cr_assert_not(dax_entry_is_locked(
		dax_tree_load(dax_mapping_tree(m), 2)));
}

Test(poison, a_free_page_is_never_allocated_again, .init = setup,
     .fini = teardown)
{
	struct dax_alloc_stats st;

	cr_assert_eq(dax_memory_failure(r, 1000, 0), 0);
	cr_assert_eq(nr_calls, 0);
	cr_assert_eq(dax_alloc_get_stats(r, &st), 0);
	cr_assert_eq(st.poisoned_pages, 1);
	never_allocated(1000);
}

Test(poison, an_allocated_page_is_not_reused_after_its_block_is_freed,
     .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext = fault_ok(0, DAX_FAULT_WRITE);
	uint64_t pfn = ext.pfn;

	cr_assert_eq(dax_memory_failure(r, pfn, 0), 0);
	cr_assert_eq(dax_fault_release_blocks(m), 0);
	settle();
	never_allocated(pfn);
}

Test(poison, a_mapping_without_the_callback_is_only_recorded)
{
	struct dax_fault_ext ext;

	r = open_region("memfd:poison-noops", 8 * MiB);
	cr_assert_eq(dax_mapping_new(r, &no_ops, NULL, 4 * MiB, &m), 0);
	ext = fault_ok(1, DAX_FAULT_WRITE);
	cr_assert_eq(dax_memory_failure(r, ext.pfn, 0), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(nr_bad(), 1);
	teardown();
}

Test(poison, badblocks_come_back_sorted_and_truncated_to_max,
     .init = setup, .fini = teardown)
{
	uint64_t pages[2] = { 0, 0 }, n = 0;

	cr_assert_eq(dax_memory_failure(r, 900, 0), 0);
	cr_assert_eq(dax_memory_failure(r, 5, 0), 0);
	cr_assert_eq(dax_memory_failure(r, 300, 0), 0);
	cr_assert_eq(dax_region_get_badblocks(r, pages, 2, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(pages[0], 5);
	cr_assert_eq(pages[1], 300);
}

Test(poison, injected_sectors_poison_the_pages_they_touch, .init = setup,
     .fini = teardown)
{
	uint64_t pages[4], n;
	struct dax_fault_ext ext = fault_ok(3, DAX_FAULT_WRITE);

	/* 512 bytes at the end of page 9 and the start of page 10 */
	cr_assert_eq(dax_region_inject_badblocks(r, 10 * PAGE - 512, 1024), 0,
		     "%s", dax_errormsg());
	cr_assert_eq(dax_region_get_badblocks(r, pages, 4, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(pages[0], 9);
	cr_assert_eq(pages[1], 10);
	/* the owner of an injected page is told */
	cr_assert_eq(dax_region_inject_badblocks(r, ext.pfn * PAGE, PAGE), 0);
	cr_assert_eq(nr_calls, 1);
	cr_assert_eq(calls[0].index, 3);
	/* again: already bad, skipped */
	cr_assert_eq(dax_region_inject_badblocks(r, 9 * PAGE, 2 * PAGE), 0);
	cr_assert_eq(nr_bad(), 3);
}

Test(poison, misuse_fails_and_changes_nothing, .init = setup,
     .fini = teardown)
{
	uint64_t n, pages[1];
	uint64_t nr_pages = 8 * MiB / PAGE;

	assert_fails_with(dax_memory_failure(NULL, 0, 0), -EINVAL,
			  "region is NULL");
	assert_fails_with(dax_memory_failure(r, 0, 0x100), -EINVAL,
			  "unknown flags");
	assert_fails_with(dax_memory_failure(r, nr_pages, 0), -EINVAL,
			  "beyond");
	assert_fails_with(dax_region_get_badblocks(NULL, pages, 1, &n),
			  -EINVAL, "region is NULL");
	assert_fails_with(dax_region_get_badblocks(r, pages, 1, NULL),
			  -EINVAL, "nr is NULL");
	assert_fails_with(dax_region_get_badblocks(r, NULL, 1, &n), -EINVAL,
			  "pages is NULL");
	assert_fails_with(dax_region_inject_badblocks(NULL, 0, 512), -EINVAL,
			  "region is NULL");
	assert_fails_with(dax_region_inject_badblocks(r, 0, 0), -EINVAL,
			  "length is 0");
	assert_fails_with(dax_region_inject_badblocks(r, 100, 512), -EINVAL,
			  "offset");
	assert_fails_with(dax_region_inject_badblocks(r, 0, 100), -EINVAL,
			  "length");
	assert_fails_with(dax_region_inject_badblocks(r, 8 * MiB - 512, 1024),
			  -ERANGE, "past the end");
	cr_assert_eq(nr_bad(), 0);
	cr_assert_eq(nr_calls, 0);
}
