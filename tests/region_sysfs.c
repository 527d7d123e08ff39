// SPDX-License-Identifier: MIT
/*
 * Device regions through a fake sysfs tree (libdax/sysfs.c and the device
 * path of libdax/region.c).  The test builds, under /tmp, what the kernel
 * shows for a device-DAX instance (see tests/vm for the real thing):
 *
 *   ROOT/dev/char/MAJ:MIN -> ROOT/devices/PARENT/dax0.0
 *   ROOT/devices/PARENT/dax0.0/{size,align,numa_node,target_node}
 *   ROOT/devices/PARENT/dax0.0/mappingN/{start,end,page_offset}
 *   ROOT/devices/PARENT/dax0.0/subsystem -> ROOT/bus/dax
 *   ROOT/devices/PARENT/dax_region/align
 *
 * with PARENT platform/hmem.0, or platform/e820_pmem/ndbus0/region0 for a
 * device of an NVDIMM namespace, for the MAJ:MIN of /dev/zero, which the region then maps for real (a shared
 * mapping of /dev/zero is plain shared memory).  libpmem2 does not take
 * /dev/zero for device-DAX, so these tests also cover the path that maps
 * a device with mmap and wraps it with pmem2_map_from_existing().
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "helpers.h"
#include <criterion/parameterized.h>
#include "libdax/internal.h"

#define DEVICE "/dev/zero"
#define UNTOUCHED ((struct dax_region *)0x5a5a)

struct fake_map {
	uint64_t start, end, page_offset;
};

struct fake_dev {
	char subsystem[16];	/* basename of the subsystem link */
	uint64_t size;
	uint64_t align;		/* the device's align; 0: no file */
	uint64_t region_align;	/* dax_region/align; 0: no file */
	int numa_node, target_node;	/* -2: no file */
	unsigned nr_maps;
	struct fake_map maps[4];
	uint64_t legacy_resource;	/* `resource` file when != 0 */
	char size_text[16];	/* written instead of size when set */
	bool ndbus;		/* under an NVDIMM bus, as pmem namespaces */
};

static struct dax_region_opts *opts;
static char *root;
static char devdir[512];

static void setup(void)
{
	cr_assert_eq(dax_region_opts_new(&opts), 0);
	root = test_tmpdir();
	cr_assert_eq(dax_region_opts_set_sysfs_root(opts, root), 0);
}

static void teardown(void)
{
	dax_region_opts_delete(&opts);
	test_rmdir(root);
}

TestSuite(region_sysfs, .init = setup, .fini = teardown);

/* Build @dev's tree under root for the MAJ:MIN of @device. */
static void fake_for(const struct fake_dev *dev, const char *device)
{
	char path[700], target[700];
	struct stat st;

	const char *parent = dev->ndbus ? "platform/e820_pmem/ndbus0/region0"
					: "platform/hmem.0";

	cr_assert_eq(stat(device, &st), 0);
	snprintf(devdir, sizeof(devdir), "%s/devices/%s/dax0.0", root, parent);
	test_mkdirs(devdir);
	snprintf(path, sizeof(path), "%s/devices/%s/dax_region", root, parent);
	test_mkdirs(path);
	if (dev->region_align)
		test_put_file(path, "align", "%llu\n",
		    (unsigned long long)dev->region_align);
	snprintf(target, sizeof(target), "%s/bus/%s", root, dev->subsystem);
	test_mkdirs(target);
	snprintf(path, sizeof(path), "%s/subsystem", devdir);
	cr_assert_eq(symlink(target, path), 0);
	snprintf(path, sizeof(path), "%s/dev/char", root);
	test_mkdirs(path);
	snprintf(path, sizeof(path), "%s/dev/char/%u:%u", root,
		 major(st.st_rdev), minor(st.st_rdev));
	cr_assert_eq(symlink(devdir, path), 0);

	if (dev->size_text[0])
		test_put_file(devdir, "size", "%s\n", dev->size_text);
	else
		test_put_file(devdir, "size", "%llu\n",
			      (unsigned long long)dev->size);
	if (dev->align)
		test_put_file(devdir, "align", "%llu\n",
			      (unsigned long long)dev->align);
	if (dev->numa_node != -2)
		test_put_file(devdir, "numa_node", "%d\n", dev->numa_node);
	if (dev->target_node != -2)
		test_put_file(devdir, "target_node", "%d\n", dev->target_node);
	if (dev->legacy_resource)
		test_put_file(devdir, "resource", "%#llx\n",
		    (unsigned long long)dev->legacy_resource);
	for (unsigned i = 0; i < dev->nr_maps; i++) {
		snprintf(path, sizeof(path), "%s/mapping%u", devdir, i);
		test_mkdirs(path);
		test_put_file(path, "start", "%#llx\n",
		    (unsigned long long)dev->maps[i].start);
		test_put_file(path, "end", "%#llx\n",
			      (unsigned long long)dev->maps[i].end);
		test_put_file(path, "page_offset", "%#llx\n",
		    (unsigned long long)dev->maps[i].page_offset);
	}
}

static void fake(const struct fake_dev *dev)
{
	fake_for(dev, DEVICE);
}

/* An 8 MiB device, 2 MiB aligned, in three ranges out of order. */
static const struct fake_dev devdax = {
	.subsystem = "dax",
	.size = 8 * DAX_MiB,
	.align = 2 * DAX_MiB,
	.region_align = 2 * DAX_MiB,
	.numa_node = 1,
	.target_node = 2,
	.nr_maps = 3,
	.maps = { { 0x48000000, 0x481fffff, 0x0 },
		  { 0x44000000, 0x443fffff, 0x200 },
		  { 0x4c000000, 0x4c1fffff, 0x600 } },
};

static void assert_open_fails_on(const char *device, int err,
				 const char *msg)
{
	struct dax_region *r = UNTOUCHED;
	int fds = test_count_fds(), maps = test_count_maps();

	assert_fails_with(dax_region_open(device, opts, &r), err, msg);
	cr_assert_eq(r, UNTOUCHED, "the out-pointer changed on failure");
	cr_assert_eq(test_count_fds(), fds, "a failed open leaked a descriptor");
	cr_assert_eq(test_count_maps(), maps, "a failed open left a mapping");
}

static void assert_open_fails(int err, const char *msg)
{
	assert_open_fails_on(DEVICE, err, msg);
}

Test(region_sysfs, device_dax_attributes_come_from_sysfs)
{
	struct dax_region *r = NULL;
	struct dax_resource res;
	char *base;

	fake(&devdax);
	cr_assert_eq(dax_region_open(DEVICE, opts, &r), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_get_kind(r), DAX_REGION_KIND_DEVDAX);
	cr_assert_str_eq(dax_region_kind_name(dax_region_get_kind(r)),
			 "devdax");
	cr_assert_eq(dax_region_get_size(r), 8 * DAX_MiB);
	cr_assert_eq(dax_region_get_device_size(r), 8 * DAX_MiB);
	cr_assert_eq(dax_region_get_align(r), 2 * DAX_MiB);
	cr_assert_eq(dax_region_get_numa_node(r), 1);
	cr_assert_eq(dax_region_get_target_node(r), 2);
	cr_assert_eq(dax_region_get_nr_resources(r), 3);
	for (unsigned i = 0; i < 3; i++) {
		cr_assert_eq(dax_region_get_resource(r, i, &res), 0);
		cr_assert_eq(res.start, devdax.maps[i].start);
		cr_assert_eq(res.end, devdax.maps[i].end);
		cr_assert_eq(res.page_offset, devdax.maps[i].page_offset);
	}
	base = dax_region_get_base(r);
	cr_assert_eq((uintptr_t)base % (2 * DAX_MiB), 0);
	memset(base, 0xab, 8 * DAX_MiB);
	cr_assert_eq(dax_region_persist(r, 0, 8 * DAX_MiB), 0);
	cr_assert_eq((unsigned char)base[8 * DAX_MiB - 1], 0xab);
	cr_assert_eq(dax_region_close(&r), 0);
}

struct phys_case {
	uint64_t range_offset;	/* the sub-range mapped (2 MiB long) */
	uint64_t offset, phys;
	unsigned resource;
};

ParameterizedTestParameters(region_sysfs, offset_to_phys_walks_mappings)
{
	static struct phys_case params[] = {
		{ 0, 0, 0x48000000, 0 },
		{ 0, 0x1fffff, 0x481fffff, 0 },
		{ 2 * DAX_MiB, 0, 0x44000000, 1 },
		{ 4 * DAX_MiB, 0x1000, 0x44201000, 1 },
		{ 6 * DAX_MiB, 0x123, 0x4c000123, 2 },
		{ 6 * DAX_MiB, 0x1fffff, 0x4c1fffff, 2 },
	};

	return cr_make_param_array(struct phys_case, params,
				   sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct phys_case *p, region_sysfs,
		  offset_to_phys_walks_mappings, .init = setup,
		  .fini = teardown)
{
	struct dax_region *r = NULL;
	unsigned idx = 99;
	uint64_t phys = 0;

	fake(&devdax);
	cr_assert_eq(dax_region_opts_set_range(opts, p->range_offset,
					       2 * DAX_MiB), 0);
	cr_assert_eq(dax_region_open(DEVICE, opts, &r), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_get_offset(r), p->range_offset);
	cr_assert_eq(dax_region_get_size(r), 2 * DAX_MiB);
	cr_assert_eq((uintptr_t)dax_region_get_base(r) % (2 * DAX_MiB), 0);
	cr_assert_eq(dax_region_offset_to_phys(r, p->offset, &phys, &idx), 0,
		     "%s", dax_errormsg());
	cr_assert_eq(phys, p->phys, "phys %#lx, wanted %#lx",
		     (unsigned long)phys, (unsigned long)p->phys);
	cr_assert_eq(idx, p->resource);
	assert_fails_with(dax_region_offset_to_phys(r, 2 * DAX_MiB, &phys,
						    &idx),
			  -ERANGE, "past the end of the region");
	dax_region_close(&r);
}

struct align_case {
	uint64_t align, region_align, size;
	uint64_t want;		/* 0: refused */
	int err;
	char msg[128];
};

ParameterizedTestParameters(region_sysfs, alignment_is_read_where_kept)
{
	static struct align_case params[] = {
		{ 2 * DAX_MiB, 0, 4 * DAX_MiB, 2 * DAX_MiB, 0, "" },
		{ 4 * DAX_KiB, 2 * DAX_MiB, 4 * DAX_MiB, 4 * DAX_KiB, 0, "" },
		/* no align on the device: its region's (kernels < 5.10) */
		{ 0, 4 * DAX_KiB, 4 * DAX_MiB, 4 * DAX_KiB, 0, "" },
		{ 0, DAX_GiB, DAX_GiB, DAX_GiB, 0, "" },
		{ 0, 0, 4 * DAX_MiB, 0, -ENODEV,
		  "has no align, and neither has" },
		{ 64 * DAX_KiB, 0, 4 * DAX_MiB, 0, -EINVAL,
		  "the device's align 64 KiB is not supported; device-DAX "
		  "supports 4 KiB, 2 MiB or 1 GiB" },
		{ 2 * DAX_MiB, 0, 3 * DAX_MiB, 0, -EINVAL,
		  "device size 0x300000 is not a multiple of the device "
		  "alignment 2 MiB" },
	};

	return cr_make_param_array(struct align_case, params,
				   sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct align_case *p, region_sysfs,
		  alignment_is_read_where_kept, .init = setup,
		  .fini = teardown)
{
	struct fake_dev dev = {
		.subsystem = "dax", .size = p->size, .align = p->align,
		.region_align = p->region_align, .numa_node = 0,
		.target_node = 0, .nr_maps = 1,
		.maps = { { 0x100000000, 0x100000000 + p->size - 1, 0 } },
	};
	struct dax_region *r = NULL;

	fake(&dev);
	if (!p->want) {
		assert_open_fails(p->err, p->msg);
		return;
	}
	cr_assert_eq(dax_region_open(DEVICE, opts, &r), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_get_align(r), p->want);
	cr_assert_eq((uintptr_t)dax_region_get_base(r) % p->want, 0);
	dax_region_close(&r);
}

Test(region_sysfs, module_device_is_kind_module)
{
	struct fake_dev dev = devdax;
	struct dax_region *r = NULL;

	strcpy(dev.subsystem, "daxlite");
	fake(&dev);
	cr_assert_eq(dax_region_open(DEVICE, opts, &r), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_get_kind(r), DAX_REGION_KIND_MODULE);
	cr_assert_str_eq(dax_region_kind_name(dax_region_get_kind(r)),
			 "module");
	cr_assert_eq(dax_region_get_nr_resources(r), 3);
	memset(dax_region_get_base(r), 1, 4096);
	cr_assert_eq(dax_region_persist(r, 0, 4096), 0);
	dax_region_close(&r);
}

Test(region_sysfs, other_subsystem_is_not_a_dax_device)
{
	struct fake_dev dev = devdax;

	strcpy(dev.subsystem, "mem");
	fake(&dev);
	assert_open_fails(-ENODEV, "/dev/zero is not a DAX device: its "
				   "subsystem is \"mem\", not \"dax\"");
}

Test(region_sysfs, device_missing_from_sysfs_is_not_a_dax_device)
{
	assert_open_fails(-ENODEV, "/dev/zero is not a DAX device: ");
}

Test(region_sysfs, malformed_size_is_refused)
{
	struct fake_dev dev = devdax;

	strcpy(dev.size_text, "12abc");
	fake(&dev);
	assert_open_fails(-ENODEV, "/size holds \"12abc\", not a number");
}

Test(region_sysfs, legacy_resource_attribute_is_one_range)
{
	struct fake_dev dev = devdax;
	struct dax_region *r = NULL;
	struct dax_resource res;

	dev.nr_maps = 0;
	dev.legacy_resource = 0x40a00000;
	fake(&dev);
	cr_assert_eq(dax_region_open(DEVICE, opts, &r), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_get_nr_resources(r), 1);
	cr_assert_eq(dax_region_get_resource(r, 0, &res), 0);
	cr_assert_eq(res.start, 0x40a00000);
	cr_assert_eq(res.end, 0x40a00000 + 8 * DAX_MiB - 1);
	dax_region_close(&r);
}

Test(region_sysfs, device_without_resources_cannot_translate)
{
	struct fake_dev dev = devdax;
	struct dax_region *r = NULL;
	uint64_t phys;

	dev.nr_maps = 0;
	dev.numa_node = -2;	/* no numa_node / target_node files */
	dev.target_node = -2;
	fake(&dev);
	cr_assert_eq(dax_region_open(DEVICE, opts, &r), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_get_nr_resources(r), 0);
	cr_assert_eq(dax_region_get_numa_node(r), -1);
	cr_assert_eq(dax_region_get_target_node(r), -1);
	assert_fails_with(dax_region_offset_to_phys(r, 0, &phys, NULL),
			  -ENXIO, "is in none of the 0 resources");
	dax_region_close(&r);
}

Test(region_sysfs, readonly_device_is_mapped_for_reading)
{
	struct dax_region *r = NULL;

	fake(&devdax);
	cr_assert_eq(dax_region_opts_set_flags(opts, DAX_REGION_READONLY), 0);
	cr_assert_eq(dax_region_open(DEVICE, opts, &r), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(((volatile char *)dax_region_get_base(r))[0], 0);
	dax_region_close(&r);
}

/* Options that do not fit a device, each refused before anything maps. */
struct dev_misuse {
	uint64_t align, size, range_offset, range_length;
	unsigned flags;
	bool add_resource;
	int err;
	char msg[160];
};

ParameterizedTestParameters(region_sysfs, options_that_do_not_fit_a_device)
{
	static struct dev_misuse params[] = {
		{ 4 * DAX_KiB, 0, 0, 0, 0, false, -EINVAL,
		  "/dev/zero has alignment 2 MiB (sysfs align), the options "
		  "ask for 4 KiB" },
		{ 0, 4 * DAX_MiB, 0, 0, 0, false, -EINVAL,
		  "/dev/zero is 8 MiB, the options ask for 4 MiB (map part of "
		  "it with dax_region_opts_set_range())" },
		{ 0, 0, 0x1000, 0, 0, false, -EINVAL,
		  "range offset 0x1000 is not a multiple of the region "
		  "alignment 2 MiB; 0x0 or 0x200000 would be" },
		{ 0, 0, 2 * DAX_MiB, 0x3000, 0, false, -EINVAL,
		  "range length 0x3000 is not a multiple of the region "
		  "alignment 2 MiB; 0x0 or 0x200000 would be" },
		{ 0, 0, 6 * DAX_MiB, 4 * DAX_MiB, 0, false, -ERANGE,
		  "range 0x600000+0x400000 goes past the end of /dev/zero" },
		{ 0, 0, 0, 0, DAX_REGION_CREATE, false, -EINVAL,
		  "DAX_REGION_CREATE is for regular files" },
		{ 0, 0, 0, 0, DAX_REGION_PRIVATE, false, -EINVAL,
		  "device-DAX refuses private mappings" },
		{ 0, 0, 0, 0, 0, true, -EINVAL,
		  "a device's resources come from sysfs" },
	};

	return cr_make_param_array(struct dev_misuse, params,
				   sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct dev_misuse *p, region_sysfs,
		  options_that_do_not_fit_a_device, .init = setup,
		  .fini = teardown)
{
	fake(&devdax);
	if (p->align)
		cr_assert_eq(dax_region_opts_set_align(opts, p->align), 0);
	if (p->size)
		cr_assert_eq(dax_region_opts_set_size(opts, p->size), 0);
	if (p->range_offset || p->range_length)
		cr_assert_eq(dax_region_opts_set_range(opts, p->range_offset,
						       p->range_length), 0);
	if (p->add_resource)
		cr_assert_eq(dax_region_opts_add_resource(opts, 0, 8 * DAX_MiB),
			     0);
	cr_assert_eq(dax_region_opts_set_flags(opts, p->flags), 0);
	assert_open_fails(p->err, p->msg);
}

Test(region_sysfs, root_only_mappings_leave_the_device_usable)
{
	struct dax_region *r = NULL;
	char path[700];
	uint64_t phys;
	int ret;

	if (geteuid() != 0)
		cr_skip_test("needs root to play an unprivileged user");
	fake(&devdax);
	/* The kernel's mappingN/ attributes are 0400, root only. */
	for (unsigned i = 0; i < devdax.nr_maps; i++) {
		snprintf(path, sizeof(path), "%s/mapping%u/start", devdir, i);
		cr_assert_eq(chmod(path, 0400), 0);
	}
	cr_assert_eq(chmod(root, 0755), 0);
	cr_assert_eq(seteuid(65534), 0);
	ret = dax_region_open(DEVICE, opts, &r);
	cr_assert_eq(seteuid(0), 0);
	cr_assert_eq(ret, 0, "%s", dax_errormsg());
	cr_assert_eq(dax_region_get_nr_resources(r), 0);
	cr_assert_eq(dax_region_get_size(r), 8 * DAX_MiB);
	assert_fails_with(dax_region_offset_to_phys(r, 0, &phys, NULL),
			  -ENXIO, "is in none of the 0 resources");
	dax_region_close(&r);
}

Test(region_sysfs, failed_device_mmap_leaves_nothing_behind)
{
	/* sysfs says device-DAX, but /dev/null cannot be mapped. */
	fake_for(&devdax, "/dev/null");
	assert_open_fails_on("/dev/null", -ENODEV,
			     "/dev/null: mmap of 0x800000 bytes at offset 0x0: "
			     "No such device");
}

Test(region_sysfs, warm_open_close_leaves_nothing_behind)
{
	struct dax_region *r = NULL;
	int fds, maps;

	fake(&devdax);
	cr_assert_eq(dax_region_open(DEVICE, opts, &r), 0);
	dax_region_close(&r);	/* first use: libpmem2 and RCU set up */
	fds = test_count_fds();
	maps = test_count_maps();
	cr_assert_eq(dax_region_open(DEVICE, opts, &r), 0);
	dax_region_close(&r);
	cr_assert_eq(test_count_fds(), fds);
	cr_assert_eq(test_count_maps(), maps);
}

/* libpmem2 1.12 crashes on device-DAX outside an NVDIMM bus (region.c). */
Test(region_sysfs, nvdimm_backed_devices_are_told_from_hmem_ones)
{
	struct fake_dev dev = devdax;
	struct dax_sysfs_dev *info = malloc(sizeof(*info));
	struct stat st;

	cr_assert_eq(stat(DEVICE, &st), 0);
	fake(&dev);
	cr_assert_eq(dax_sysfs_read_dev(NULL, root, DEVICE, major(st.st_rdev),
					minor(st.st_rdev), info), 0, "%s",
		     dax_errormsg());
	cr_assert_not(info->nd_backed, "an hmem device taken for NVDIMM");
	cr_assert_eq(info->nr_res, 3);
	free(info->res);

	test_rmdir(root);
	root = test_tmpdir();
	dev.ndbus = true;
	fake(&dev);
	cr_assert_eq(dax_sysfs_read_dev(NULL, root, DEVICE, major(st.st_rdev),
					minor(st.st_rdev), info), 0, "%s",
		     dax_errormsg());
	cr_assert(info->nd_backed, "an NVDIMM namespace's device not seen");
	free(info->res);
	free(info);
}
