// SPDX-License-Identifier: MIT
/*
 * Bad blocks of a device-DAX region of an NVDIMM, read at open from the nd
 * region's sysfs badblocks (libdax/poison.c), through a fake sysfs tree as
 * tests/region_sysfs.c builds it, for the MAJ:MIN of /dev/zero (which the
 * region maps as plain shared memory):
 *
 *   ROOT/dev/char/MAJ:MIN -> ROOT/devices/platform/e820_pmem/ndbus0/region0/dax0.0
 *   .../region0/{resource,badblocks,deep_flush}
 *   .../region0/dax0.0/{size,align,subsystem,mapping0/{start,end,page_offset}}
 */
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "helpers.h"
#include "libdax/internal.h"

#define DEVICE "/dev/zero"
#define REGION_PHYS 0x40000000ULL
#define DEV_PHYS (REGION_PHYS + 2 * DAX_MiB)	/* the device starts 2 MiB in */
#define DEV_SIZE (8 * DAX_MiB)

static struct dax_region_opts *opts;
static char *root;
static char regiondir[600];

static void setup(void)
{
	char devdir[700], path[800], target[700];
	struct stat st;

	cr_assert_eq(dax_region_opts_new(&opts), 0);
	root = test_tmpdir();
	cr_assert_eq(dax_region_opts_set_sysfs_root(opts, root), 0);
	cr_assert_eq(stat(DEVICE, &st), 0);
	snprintf(regiondir, sizeof(regiondir),
		 "%s/devices/platform/e820_pmem/ndbus0/region0", root);
	snprintf(devdir, sizeof(devdir), "%s/dax0.0", regiondir);
	test_mkdirs(devdir);
	snprintf(path, sizeof(path), "%s/dax_region", regiondir);
	test_mkdirs(path);
	test_put_file(path, "align", "2097152\n");
	snprintf(target, sizeof(target), "%s/bus/dax", root);
	test_mkdirs(target);
	snprintf(path, sizeof(path), "%s/subsystem", devdir);
	cr_assert_eq(symlink(target, path), 0);
	snprintf(path, sizeof(path), "%s/dev/char", root);
	test_mkdirs(path);
	snprintf(path, sizeof(path), "%s/dev/char/%u:%u", root,
		 major(st.st_rdev), minor(st.st_rdev));
	cr_assert_eq(symlink(devdir, path), 0);
	test_put_file(devdir, "size", "%llu\n", (unsigned long long)DEV_SIZE);
	test_put_file(devdir, "align", "2097152\n");
	snprintf(path, sizeof(path), "%s/mapping0", devdir);
	test_mkdirs(path);
	test_put_file(path, "start", "%#llx\n", (unsigned long long)DEV_PHYS);
	test_put_file(path, "end", "%#llx\n",
		      (unsigned long long)(DEV_PHYS + DEV_SIZE - 1));
	test_put_file(path, "page_offset", "0x0\n");
	test_put_file(regiondir, "resource", "%#llx\n",
		      (unsigned long long)REGION_PHYS);
}

static void teardown(void)
{
	dax_region_opts_delete(&opts);
	test_rmdir(root);
}

TestSuite(badblocks_sysfs, .init = setup, .fini = teardown);

static uint64_t sector_of_page(uint64_t page)
{
	return (DEV_PHYS - REGION_PHYS + page * 4096) / 512;
}

Test(badblocks_sysfs, the_nd_regions_bad_sectors_become_bad_pages)
{
	struct dax_region *r = NULL;
	uint64_t pages[8], n = 0, page;

	/* page 3 (one sector), pages 0-1 (16 sectors), and one sector
	 * before the device and one past it: not the device's */
	test_put_file(regiondir, "badblocks", "%llu 1\n%llu 16\n0 1\n%llu 1\n",
	    (unsigned long long)sector_of_page(3) + 5,
	    (unsigned long long)sector_of_page(0),
	    (unsigned long long)sector_of_page(DEV_SIZE / 4096));
	cr_assert_eq(dax_region_open(DEVICE, opts, &r), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_get_badblocks(r, pages, 8, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(pages[0], 0);
	cr_assert_eq(pages[1], 1);
	cr_assert_eq(pages[2], 3);
	while (!dax_alloc_pages(r, 0, 0, &page))
		cr_assert(page != 0 && page != 1 && page != 3);
	cr_assert_eq(dax_region_close(&r), 0);
}

Test(badblocks_sysfs, no_badblocks_file_means_none)
{
	struct dax_region *r = NULL;
	uint64_t n = 9, c;

	cr_assert_eq(dax_region_open(DEVICE, opts, &r), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_get_badblocks(r, NULL, 0, &n), 0);
	cr_assert_eq(n, 0);
	/* /dev/zero has no unsafe-shutdown count: -ENOTSUP, open worked */
	assert_fails_with(dax_region_get_unsafe_shutdown_count(r, &c),
			  -ENOTSUP, "could not be read");
	assert_fails_with(dax_region_inject_unsafe_shutdown(r), -EOPNOTSUPP,
			  "emulated");
	assert_fails_with(dax_region_inject_badblocks(r, 0, 512), -EOPNOTSUPP,
			  "emulated");
	cr_assert_eq(dax_region_close(&r), 0);
}

Test(badblocks_sysfs, emulated_only_options_are_refused_for_a_device)
{
	struct dax_region *r = NULL;

	cr_assert_eq(dax_region_opts_set_deep_flush(opts, true), 0);
	assert_fails_with(dax_region_open(DEVICE, opts, &r), -EINVAL,
			  "options of emulated regions");
	cr_assert_null(r);
}

Test(badblocks_sysfs, a_malformed_line_is_skipped)
{
	struct dax_region *r = NULL;
	uint64_t n = 0;

	test_put_file(regiondir, "badblocks", "garbage\n%llu 1\n",
	    (unsigned long long)sector_of_page(2));
	cr_assert_eq(dax_region_open(DEVICE, opts, &r), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_get_badblocks(r, NULL, 0, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(dax_region_close(&r), 0);
}

static const char *path_of(const char *dir, const char *name)
{
	static char path[800];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/* The nd region's deep_flush attribute: "1" is the capability. */
static bool deep_flush_with(const char *content)
{
	struct dax_region *r = NULL;
	bool df = !content || content[0] != '1';

	if (content)
		test_put_file(regiondir, "deep_flush", "%s", content);
	cr_assert_eq(dax_region_open(DEVICE, opts, &r), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_get_deep_flush(r, &df), 0);
	cr_assert_eq(dax_region_close(&r), 0);
	return df;
}

Test(badblocks_sysfs, deep_flush_1_is_the_capability)
{
	cr_assert(deep_flush_with("1\n"));
}

Test(badblocks_sysfs, deep_flush_0_or_absent_is_none)
{
	cr_assert_not(deep_flush_with(NULL));
	cr_assert_not(deep_flush_with("0\n"));
	cr_assert_not(deep_flush_with("garbage\n"));
}

/* A region with only deep_flush (no badblocks file) is still found. */
Test(badblocks_sysfs, a_deep_flush_region_ends_writeback_with_a_deep_flush)
{
	static const struct dax_mapping_ops ops;
	struct dax_region *r = NULL;
	struct dax_mapping *m = NULL;
	struct dax_fault_ext ext;
	struct dax_memfail *mf;
	bool df = false;

	test_put_file(regiondir, "deep_flush", "1\n");
	cr_assert_eq(dax_region_open(DEVICE, opts, &r), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_get_deep_flush(r, &df), 0);
	cr_assert(df);
	mf = dax_memfail_get(r);
	cr_assert_eq(dax_mapping_new(r, &ops, NULL, 4 * DAX_MiB, &m), 0);
	/* libdax mapped /dev/zero itself (not libpmem2's device): it writes
	 * 1 to the attribute as libpmem2 would; "0" now, to see the write */
	test_put_file(regiondir, "deep_flush", "0\n");
	cr_assert_eq(dax_writeback(m, 0, 1023), 0);	/* nothing dirty */
	cr_assert_eq(mf->nr_deep_flushes, 0);
	cr_assert_eq(dax_fault(m, 3, DAX_FAULT_WRITE, &ext), 0, "%s",
		     dax_errormsg());
	*(volatile char *)ext.addr = 1;
	cr_assert_eq(dax_writeback(m, 0, 1023), 0, "%s", dax_errormsg());
	cr_assert_eq(mf->nr_deep_flushes, 1);
	{
		char path[700], c = 0;
		FILE *f;

		snprintf(path, sizeof(path), "%s/deep_flush", regiondir);
		f = fopen(path, "r");
		cr_assert_not_null(f);
		cr_assert_eq(fread(&c, 1, 1, f), 1);
		fclose(f);
		cr_assert_eq(c, '1', "the deep flush did not write 1");
	}
	/* a write that fails (a folder now: EISDIR, even for root) is -EIO
	 * naming the attribute, and the marks are cleared all the same */
	cr_assert_eq(unlink(path_of(regiondir, "deep_flush")), 0);
	test_mkdirs(path_of(regiondir, "deep_flush"));
	cr_assert_eq(dax_fault(m, 4, DAX_FAULT_WRITE, &ext), 0);
	assert_fails_with(dax_writeback(m, 0, 1023), -EIO, "deep_flush");
	cr_assert_not(dax_tree_get_mark(dax_mapping_tree(m), 4,
					DAX_ENTRY_MARK_DIRTY));
	dax_fault_release_blocks(m);
	dax_mapping_put(&m);
	cr_assert_eq(dax_region_close(&r), 0);
}
