// SPDX-License-Identifier: MIT
/*
 * Region options (libdax/region_opts.c): every setter refuses what is wrong
 * with -EINVAL and a message that says what would be accepted, and leaves
 * the options as they were.
 */
#include "helpers.h"
#include <criterion/parameterized.h>
#include "libdax/internal.h"

static struct dax_region_opts *opts;

static void setup(void)
{
	cr_assert_eq(dax_region_opts_new(&opts), 0);
}

static void teardown(void)
{
	dax_region_opts_delete(&opts);
	cr_assert_null(opts);
}

TestSuite(region_opts, .init = setup, .fini = teardown);

Test(region_opts, defaults_are_2mib_shared_whole_and_real_sysfs)
{
	cr_assert_eq(opts->align, 2 * DAX_MiB);
	cr_assert_not(opts->align_set);
	cr_assert_eq(opts->size, 0);
	cr_assert_eq(opts->flags, 0);
	cr_assert_eq(opts->range_offset, 0);
	cr_assert_eq(opts->range_length, 0);
	cr_assert_eq(opts->nr_res, 0);
	cr_assert_null(opts->sysfs_root);
}

struct bad_align {
	uint64_t align;
	char msg[128];
};

ParameterizedTestParameters(region_opts, unsupported_alignment_is_refused)
{
	static struct bad_align params[] = {
		{ 0, "0 bytes is not a power of two; device-DAX supports "
		     "4 KiB, 2 MiB or 1 GiB" },
		{ 3000, "3000 bytes is not a power of two" },
		{ 2 * DAX_MiB + 4096, "is not a power of two" },
		{ 512, "alignment 512 bytes is not supported; device-DAX "
		       "supports 4 KiB, 2 MiB or 1 GiB" },
		{ 8192, "alignment 8 KiB is not supported" },
		{ 64 * DAX_KiB, "alignment 64 KiB is not supported" },
		{ 4 * DAX_MiB, "alignment 4 MiB is not supported" },
		{ 2 * DAX_GiB, "alignment 2 GiB is not supported" },
	};

	return cr_make_param_array(struct bad_align, params,
				   sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct bad_align *p, region_opts,
		  unsupported_alignment_is_refused, .init = setup,
		  .fini = teardown)
{
	assert_fails_with(dax_region_opts_set_align(opts, p->align), -EINVAL,
			  p->msg);
	cr_assert_eq(opts->align, 2 * DAX_MiB, "the alignment changed");
	cr_assert_not(opts->align_set);
}

ParameterizedTestParameters(region_opts, device_dax_alignments_are_taken)
{
	static uint64_t params[] = { 4 * DAX_KiB, 2 * DAX_MiB, DAX_GiB };

	return cr_make_param_array(uint64_t, params, 3);
}

ParameterizedTest(uint64_t *align, region_opts,
		  device_dax_alignments_are_taken, .init = setup,
		  .fini = teardown)
{
	cr_assert_eq(dax_region_opts_set_align(opts, *align), 0);
	cr_assert_eq(opts->align, *align);
	cr_assert(opts->align_set);
}

Test(region_opts, size_zero_is_refused)
{
	cr_assert_eq(dax_region_opts_set_size(opts, 4 * DAX_MiB), 0);
	assert_fails_with(dax_region_opts_set_size(opts, 0), -EINVAL,
			  "size 0: a region needs at least one page");
	cr_assert_eq(opts->size, 4 * DAX_MiB);
}

Test(region_opts, size_in_part_pages_is_refused)
{
	assert_fails_with(dax_region_opts_set_size(opts, 5000), -EINVAL,
			  "size 0x1388 is not a multiple of the page size "
			  "4 KiB; 0x1000 or 0x2000 would be");
	cr_assert_eq(opts->size, 0);
}

Test(region_opts, unknown_flags_are_refused)
{
	cr_assert_eq(dax_region_opts_set_flags(opts, DAX_REGION_READONLY), 0);
	assert_fails_with(dax_region_opts_set_flags(opts, 0x10 | 1), -EINVAL,
			  "unknown region flags 0x10");
	cr_assert_eq(opts->flags, DAX_REGION_READONLY);
}

Test(region_opts, private_is_accepted_here_and_refused_at_open)
{
	struct dax_region *r = (struct dax_region *)opts;

	cr_assert_eq(dax_region_opts_set_size(opts, 2 * DAX_MiB), 0);
	cr_assert_eq(dax_region_opts_set_flags(opts, DAX_REGION_PRIVATE), 0);
	assert_fails_with(dax_region_open("memfd:private", opts, &r), -EINVAL,
			  "device-DAX refuses private mappings");
	cr_assert_eq(r, (struct dax_region *)opts, "out-pointer changed");
}

struct bad_range {
	uint64_t offset, length;
	char msg[128];
};

ParameterizedTestParameters(region_opts, range_in_part_pages_is_refused)
{
	static struct bad_range params[] = {
		{ 100, 4096, "range offset 0x64 is not a multiple of the page "
			     "size 4 KiB; 0x0 or 0x1000 would be" },
		{ 4096, 4097, "range length 0x1001 is not a multiple of the "
			      "page size 4 KiB; 0x1000 or 0x2000 would be" },
		{ UINT64_MAX - 4095, 8192, "overflows" },
	};

	return cr_make_param_array(struct bad_range, params,
				   sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct bad_range *p, region_opts,
		  range_in_part_pages_is_refused, .init = setup,
		  .fini = teardown)
{
	cr_assert_eq(dax_region_opts_set_range(opts, 2 * DAX_MiB, 0), 0);
	assert_fails_with(dax_region_opts_set_range(opts, p->offset, p->length),
			  -EINVAL, p->msg);
	cr_assert_eq(opts->range_offset, 2 * DAX_MiB);
	cr_assert_eq(opts->range_length, 0);
}

struct bad_res {
	uint64_t start, size;
	char msg[128];
};

ParameterizedTestParameters(region_opts, bad_resource_is_refused)
{
	static struct bad_res params[] = {
		{ 0x100000000, 0, "has size 0" },
		{ 0x100000800, 4096, "resource start 0x100000800 is not a "
				     "multiple of the page size" },
		{ 0x200000000, 100, "resource size 0x64 is not a multiple" },
		{ UINT64_MAX - 4095, 8192, "overflows" },
		/* overlaps the one the test adds first */
		{ 0x40100000, 0x200000, "overlaps resource 0 "
					"(0x40000000-0x401fffff)" },
		{ 0x3ff00000, 0x200000, "overlaps resource 0" },
	};

	return cr_make_param_array(struct bad_res, params,
				   sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct bad_res *p, region_opts, bad_resource_is_refused,
		  .init = setup, .fini = teardown)
{
	cr_assert_eq(dax_region_opts_add_resource(opts, 0x40000000, 0x200000),
		     0);
	assert_fails_with(dax_region_opts_add_resource(opts, p->start, p->size),
			  -EINVAL, p->msg);
	cr_assert_eq(opts->nr_res, 1);
}

Test(region_opts, resources_are_laid_out_in_the_order_added)
{
	cr_assert_eq(dax_region_opts_add_resource(opts, 0x48000000,
						  0x4000000), 0);
	cr_assert_eq(dax_region_opts_add_resource(opts, 0x44000000,
						  0x4000000), 0);
	cr_assert_eq(dax_region_opts_add_resource(opts, 0x4c000000,
						  0x8000000), 0);
	for (unsigned i = 0; i < 5; i++)	/* grows past its first array */
		cr_assert_eq(dax_region_opts_add_resource(
				     opts, 0x100000000 + i * 0x200000,
				     0x200000), 0);
	cr_assert_eq(opts->nr_res, 8);
	cr_assert_eq(opts->res[0].page_offset, 0);
	cr_assert_eq(opts->res[1].page_offset, 0x4000);
	cr_assert_eq(opts->res[2].page_offset, 0x8000);
	cr_assert_eq(opts->res[2].end, 0x53ffffff);
	cr_assert_eq(opts->res[3].page_offset, 0x10000);
}

Test(region_opts, empty_sysfs_root_is_refused_and_null_means_sys)
{
	cr_assert_eq(dax_region_opts_set_sysfs_root(opts, "/tmp/fake"), 0);
	cr_assert_str_eq(opts->sysfs_root, "/tmp/fake");
	assert_fails_with(dax_region_opts_set_sysfs_root(opts, ""), -EINVAL,
			  "sysfs root is an empty string");
	cr_assert_str_eq(opts->sysfs_root, "/tmp/fake");
	cr_assert_eq(dax_region_opts_set_sysfs_root(opts, NULL), 0);
	cr_assert_null(opts->sysfs_root);
}

static void count_log(void *priv, enum dax_log_level level, const char *msg)
{
	(*(int *)priv)++;
}

Test(region_opts, log_level_must_be_a_level_and_sink_gets_setter_failures)
{
	int calls = 0;

	assert_fails_with(dax_region_opts_set_log(opts, count_log, &calls, 5),
			  -EINVAL, "log level 5 is not one of DAX_LOG_ERR");
	cr_assert_null(opts->log.fn);
	cr_assert_eq(dax_region_opts_set_log(opts, count_log, &calls,
					     DAX_LOG_ERR), 0);
	dax_region_opts_set_align(opts, 12345);
	cr_assert_eq(calls, 1);
}

Test(region_opts, null_options_are_refused_by_every_setter)
{
	assert_fails_with(dax_region_opts_new(NULL), -EINVAL, "opts is NULL");
	assert_fails_with(dax_region_opts_set_align(NULL, 4096), -EINVAL,
			  "dax_region_opts_set_align: opts is NULL");
	assert_fails_with(dax_region_opts_set_size(NULL, 4096), -EINVAL,
			  "opts is NULL");
	assert_fails_with(dax_region_opts_set_flags(NULL, 0), -EINVAL,
			  "opts is NULL");
	assert_fails_with(dax_region_opts_set_range(NULL, 0, 0), -EINVAL,
			  "opts is NULL");
	assert_fails_with(dax_region_opts_add_resource(NULL, 0, 4096),
			  -EINVAL, "opts is NULL");
	assert_fails_with(dax_region_opts_set_sysfs_root(NULL, "/"), -EINVAL,
			  "opts is NULL");
	assert_fails_with(dax_region_opts_set_log(NULL, NULL, NULL,
						  DAX_LOG_ERR),
			  -EINVAL, "opts is NULL");
	dax_region_opts_delete(NULL);	/* harmless */
}
