// SPDX-License-Identifier: MIT
/*
 * dax_region_count_busy() (libdax/busy.c) outside the VM: argument checks,
 * and -EOPNOTSUPP from every region whose kernel cannot tell.  The query
 * itself runs against daxlite(4) devices in tests/vm (regiontest).
 */
#include "helpers.h"

static struct dax_region_opts *opts;
static struct dax_region *r;

static void setup(void)
{
	cr_assert_eq(dax_region_opts_new(&opts), 0);
	cr_assert_eq(dax_region_opts_set_size(opts, 4 << 20), 0);
	cr_assert_eq(dax_region_open("memfd:busy", opts, &r), 0, "%s",
		     dax_errormsg());
}

static void teardown(void)
{
	dax_region_close(&r);
	dax_region_opts_delete(&opts);
}

TestSuite(busy, .init = setup, .fini = teardown);

Test(busy, emulated_regions_cannot_tell)
{
	uint64_t busy = 77;

	assert_fails_with(dax_region_count_busy(r, 0, 4096, &busy),
			  -EOPNOTSUPP, "only daxlite module devices");
	cr_assert_eq(busy, 77, "the out-parameter was touched");
}

Test(busy, null_arguments_are_refused)
{
	uint64_t busy;

	assert_fails_with(dax_region_count_busy(NULL, 0, 4096, &busy),
			  -EINVAL, "region is NULL");
	assert_fails_with(dax_region_count_busy(r, 0, 4096, NULL), -EINVAL,
			  "busy is NULL");
}

Test(busy, ranges_must_be_page_aligned_nonempty_and_inside)
{
	uint64_t busy;

	assert_fails_with(dax_region_count_busy(r, 0, 0, &busy), -EINVAL,
			  "length is 0");
	cr_assert_eq(dax_region_count_busy(r, 512, 4096, &busy), -EINVAL);
	cr_assert_eq(dax_region_count_busy(r, 0, 100, &busy), -EINVAL);
	cr_assert_eq(dax_region_count_busy(r, 4 << 20, 4096, &busy), -ERANGE,
		     "%s", dax_errormsg());
	cr_assert_eq(dax_region_count_busy(r, 0, 8 << 20, &busy), -ERANGE,
		     "%s", dax_errormsg());
}

Test(busy, a_killed_region_still_answers)
{
	uint64_t busy;

	cr_assert_eq(dax_region_kill(r), 0);
	assert_fails_with(dax_region_count_busy(r, 0, 4096, &busy),
			  -EOPNOTSUPP, "only daxlite module devices");
}
