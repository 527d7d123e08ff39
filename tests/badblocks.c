// SPDX-License-Identifier: MIT
/*
 * The sysfs side of a device as emulated regions reproduce it
 * (libdax/poison.c): bad blocks given at open, the deep_flush capability
 * (and the deep flush dax_writeback() then issues), the unsafe-shutdown
 * count and its bump, and misuse of each.
 */
#include "helpers.h"
#include "libdax/internal.h"

#define MiB (UINT64_C(1) << 20)
#define PAGE 4096

static struct dax_region_opts *o;
static struct dax_region *r;

static void setup(void)
{
	cr_assert_eq(dax_region_opts_new(&o), 0);
	cr_assert_eq(dax_region_opts_set_size(o, 8 * MiB), 0);
}

static void teardown(void)
{
	dax_region_opts_delete(&o);
	if (r)
		cr_assert_eq(dax_region_close(&r), 0);
	dax_rcu_barrier();
}

static void open_ok(void)
{
	cr_assert_eq(dax_region_open("memfd:bb-test", o, &r), 0, "%s",
		     dax_errormsg());
}

Test(badblocks, ranges_given_at_open_are_bad_and_never_allocated,
     .init = setup, .fini = teardown)
{
	uint64_t pages[8], n, page;
	struct dax_alloc_stats st;

	cr_assert_eq(dax_region_opts_add_badblocks(o, 5 * PAGE, 512), 0);
	cr_assert_eq(dax_region_opts_add_badblocks(o, 2 * PAGE, 2 * PAGE), 0);
	open_ok();
	cr_assert_eq(dax_region_get_badblocks(r, pages, 8, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(pages[0], 2);
	cr_assert_eq(pages[1], 3);
	cr_assert_eq(pages[2], 5);
	cr_assert_eq(dax_alloc_get_stats(r, &st), 0);
	cr_assert_eq(st.poisoned_pages, 3);
	while (!dax_alloc_pages(r, 0, 0, &page))
		cr_assert(page != 2 && page != 3 && page != 5,
			  "bad page %llu allocated", (unsigned long long)page);
}

Test(badblocks, a_range_past_the_end_fails_the_open, .init = setup,
     .fini = teardown)
{
	cr_assert_eq(dax_region_opts_add_badblocks(o, 8 * MiB, 512), 0);
	assert_fails_with(dax_region_open("memfd:bb-test", o, &r), -ERANGE,
			  "past the end");
	cr_assert_null(r);
}

Test(badblocks, option_misuse_is_refused, .init = setup, .fini = teardown)
{
	assert_fails_with(dax_region_opts_add_badblocks(NULL, 0, 512),
			  -EINVAL, "opts is NULL");
	assert_fails_with(dax_region_opts_add_badblocks(o, 100, 512),
			  -EINVAL, "multiples of 512");
	assert_fails_with(dax_region_opts_add_badblocks(o, 0, 0), -EINVAL,
			  "multiples of 512");
	assert_fails_with(dax_region_opts_set_deep_flush(NULL, true), -EINVAL,
			  "opts is NULL");
	assert_fails_with(dax_region_opts_set_unsafe_shutdown_count(NULL, 1),
			  -EINVAL, "opts is NULL");
	/* nothing was recorded by the refused calls */
	open_ok();
	uint64_t n = 9;
	cr_assert_eq(dax_region_get_badblocks(r, NULL, 0, &n), 0);
	cr_assert_eq(n, 0);
}

Test(badblocks, deep_flush_is_off_unless_asked, .init = setup,
     .fini = teardown)
{
	bool df = true;

	open_ok();
	cr_assert_eq(dax_region_get_deep_flush(r, &df), 0);
	cr_assert_not(df);
	assert_fails_with(dax_region_get_deep_flush(NULL, &df), -EINVAL,
			  "region is NULL");
	assert_fails_with(dax_region_get_deep_flush(r, NULL), -EINVAL,
			  "deep_flush is NULL");
}

Test(badblocks, with_deep_flush_a_writeback_that_flushed_ends_with_one,
     .init = setup, .fini = teardown)
{
	static const struct dax_mapping_ops ops;
	struct dax_mapping *m;
	struct dax_fault_ext ext;
	struct dax_memfail *mf;
	bool df = false;

	cr_assert_eq(dax_region_opts_set_deep_flush(o, true), 0);
	open_ok();
	cr_assert_eq(dax_region_get_deep_flush(r, &df), 0);
	cr_assert(df);
	mf = dax_memfail_get(r);
	cr_assert_eq(dax_mapping_new(r, &ops, NULL, 4 * MiB, &m), 0);
	cr_assert_eq(dax_writeback(m, 0, 1023), 0);	/* nothing dirty */
	cr_assert_eq(mf->nr_deep_flushes, 0);
	cr_assert_eq(dax_fault(m, 1, DAX_FAULT_WRITE, &ext), 0);
	cr_assert_eq(dax_fault(m, 2, DAX_FAULT_WRITE, &ext), 0);
	cr_assert_eq(dax_writeback(m, 0, 1023), 0, "%s", dax_errormsg());
	cr_assert_eq(mf->nr_deep_flushes, 1);
	dax_fault_release_blocks(m);
	dax_mapping_put(&m);
}

Test(badblocks, unsafe_shutdown_count_comes_from_the_options_and_bumps,
     .init = setup, .fini = teardown)
{
	uint64_t c = 99;

	cr_assert_eq(dax_region_opts_set_unsafe_shutdown_count(o, 5), 0);
	open_ok();
	cr_assert_eq(dax_region_get_unsafe_shutdown_count(r, &c), 0);
	cr_assert_eq(c, 5);
	cr_assert_eq(dax_region_inject_unsafe_shutdown(r), 0);
	cr_assert_eq(dax_region_get_unsafe_shutdown_count(r, &c), 0);
	cr_assert_eq(c, 6);
	assert_fails_with(dax_region_get_unsafe_shutdown_count(NULL, &c),
			  -EINVAL, "region is NULL");
	assert_fails_with(dax_region_get_unsafe_shutdown_count(r, NULL),
			  -EINVAL, "count is NULL");
	assert_fails_with(dax_region_inject_unsafe_shutdown(NULL), -EINVAL,
			  "region is NULL");
	cr_assert_eq(dax_region_get_unsafe_shutdown_count(r, &c), 0);
	cr_assert_eq(c, 6);
}

Test(badblocks, an_emulated_region_without_options_reports_count_zero)
{
	struct dax_region_opts *p;
	uint64_t c = 99;

	cr_assert_eq(dax_region_opts_new(&p), 0);
	cr_assert_eq(dax_region_opts_set_size(p, 4 * MiB), 0);
	cr_assert_eq(dax_region_open("memfd:bb-plain", p, &r), 0);
	dax_region_opts_delete(&p);
	cr_assert_eq(dax_region_get_unsafe_shutdown_count(r, &c), 0);
	cr_assert_eq(c, 0);
	cr_assert_eq(dax_region_close(&r), 0);
}
