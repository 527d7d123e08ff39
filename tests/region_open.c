// SPDX-License-Identifier: MIT
/*
 * Opening emulated regions (files and memfds) in libdax/region.c: the
 * alignment rules device-DAX enforces, sub-ranges, resources, and every
 * misuse refused with its errno and message while nothing changes: the
 * out-pointer keeps its value, no file is created, extended or removed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "helpers.h"
#include <criterion/parameterized.h>
#include "libdax/internal.h"

/* What an out-pointer holds before a call that must not touch it. */
#define UNTOUCHED ((struct dax_region *)0x5a5a)

static struct dax_region_opts *opts;
static char *dir;

static void setup(void)
{
	cr_assert_eq(dax_region_opts_new(&opts), 0);
	dir = test_tmpdir();
}

static void teardown(void)
{
	dax_region_opts_delete(&opts);
	test_rmdir(dir);
}

TestSuite(region_open, .init = setup, .fini = teardown);

static char *path_in(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static void make_file(const char *path, off_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, size), 0);
	close(fd);
}

static off_t file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return -1;
	return st.st_size;
}

/* Open must fail with @err and @msg and leave the out-pointer alone. */
static void assert_open_fails(const char *path, int err, const char *msg)
{
	struct dax_region *r = UNTOUCHED;
	int fds = test_count_fds(), maps = test_count_maps();

	assert_fails_with(dax_region_open(path, opts, &r), err, msg);
	cr_assert_eq(r, UNTOUCHED, "the out-pointer changed on failure");
	cr_assert_eq(test_count_fds(), fds, "a failed open leaked a descriptor");
	cr_assert_eq(test_count_maps(), maps, "a failed open left a mapping");
}

ParameterizedTestParameters(region_open, memfd_is_mapped_aligned)
{
	static uint64_t params[] = { 4 * DAX_KiB, 2 * DAX_MiB, DAX_GiB };

	return cr_make_param_array(uint64_t, params, 3);
}

ParameterizedTest(uint64_t *align, region_open, memfd_is_mapped_aligned,
		  .init = setup, .fini = teardown)
{
	struct dax_region *r = NULL;
	uint64_t size = *align * 2;
	char *base;

	cr_assert_eq(dax_region_opts_set_align(opts, *align), 0);
	cr_assert_eq(dax_region_opts_set_size(opts, size), 0);
	cr_assert_eq(dax_region_open("memfd:aligned", opts, &r), 0, "%s",
		     dax_errormsg());
	base = dax_region_get_base(r);
	cr_assert_eq((uintptr_t)base % *align, 0, "base %p", (void *)base);
	cr_assert_eq(dax_region_get_align(r), *align);
	cr_assert_eq(dax_region_get_size(r), size);
	cr_assert_eq(dax_region_get_device_size(r), size);
	cr_assert_eq(dax_region_get_offset(r), 0);
	cr_assert_eq(dax_region_get_kind(r), DAX_REGION_KIND_EMULATED);
	cr_assert_str_eq(dax_region_get_path(r), "memfd:aligned");
	cr_assert_eq(dax_region_get_numa_node(r), -1);
	cr_assert_eq(dax_region_get_target_node(r), -1);
	base[0] = 1;
	base[size - 1] = 2;
	cr_assert_eq(dax_region_persist(r, 0, size), 0);
	cr_assert(dax_region_is_alive(r));
	cr_assert_eq(dax_region_close(&r), 0);
	cr_assert_null(r);
}

Test(region_open, null_options_mean_2mib_and_the_file_size)
{
	struct dax_region *r = NULL;
	char *path = path_in("f");

	make_file(path, 4 * DAX_MiB);
	cr_assert_eq(dax_region_open(path, NULL, &r), 0, "%s", dax_errormsg());
	cr_assert_eq(dax_region_get_align(r), 2 * DAX_MiB);
	cr_assert_eq(dax_region_get_size(r), 4 * DAX_MiB);
	cr_assert_eq(dax_region_get_nr_resources(r), 1);
	dax_region_close(&r);
}

Test(region_open, data_written_to_a_file_region_is_in_the_file)
{
	struct dax_region *r = NULL;
	char *path = path_in("data");
	char buf[6] = { 0 };
	int fd;

	make_file(path, 2 * DAX_MiB);
	cr_assert_eq(dax_region_open(path, opts, &r), 0);
	memcpy((char *)dax_region_get_base(r) + 4096, "hello", 5);
	cr_assert_eq(dax_region_persist(r, 4096, 5), 0);
	dax_region_close(&r);
	fd = open(path, O_RDONLY);
	cr_assert_eq(pread(fd, buf, 5, 4096), 5);
	close(fd);
	cr_assert_str_eq(buf, "hello");
}

Test(region_open, create_makes_and_extends_files)
{
	struct dax_region *r = NULL;
	char *path = path_in("made");

	cr_assert_eq(dax_region_opts_set_size(opts, 4 * DAX_MiB), 0);
	cr_assert_eq(dax_region_opts_set_flags(opts, DAX_REGION_CREATE), 0);
	cr_assert_eq(dax_region_open(path, opts, &r), 0, "%s", dax_errormsg());
	cr_assert_eq(file_size(path), 4 * DAX_MiB);
	dax_region_close(&r);
	cr_assert_eq(dax_region_opts_set_size(opts, 6 * DAX_MiB), 0);
	cr_assert_eq(dax_region_open(path, opts, &r), 0, "%s", dax_errormsg());
	cr_assert_eq(file_size(path), 6 * DAX_MiB);
	dax_region_close(&r);
}

Test(region_open, readonly_maps_for_reading)
{
	struct dax_region *r = NULL;
	char *path = path_in("ro");

	make_file(path, 2 * DAX_MiB);
	cr_assert_eq(chmod(path, 0444), 0);
	cr_assert_eq(dax_region_opts_set_flags(opts, DAX_REGION_READONLY), 0);
	cr_assert_eq(dax_region_open(path, opts, &r), 0, "%s", dax_errormsg());
	cr_assert_eq(((volatile char *)dax_region_get_base(r))[100], 0);
	cr_assert_eq(dax_region_persist(r, 0, 4096), 0);
	dax_region_close(&r);
}

Test(region_open, sub_range_maps_part_of_a_file)
{
	struct dax_region *r = NULL;
	char *path = path_in("part");
	uint64_t phys;
	int fd;

	make_file(path, 8 * DAX_MiB);
	fd = open(path, O_RDWR);
	cr_assert_eq(pwrite(fd, "X", 1, 4 * DAX_MiB), 1);
	close(fd);
	cr_assert_eq(dax_region_opts_set_range(opts, 4 * DAX_MiB,
					       2 * DAX_MiB), 0);
	cr_assert_eq(dax_region_opts_add_resource(opts, 0x100000000,
						  8 * DAX_MiB), 0);
	cr_assert_eq(dax_region_open(path, opts, &r), 0, "%s", dax_errormsg());
	cr_assert_eq(dax_region_get_offset(r), 4 * DAX_MiB);
	cr_assert_eq(dax_region_get_size(r), 2 * DAX_MiB);
	cr_assert_eq(dax_region_get_device_size(r), 8 * DAX_MiB);
	cr_assert_eq(*(char *)dax_region_get_base(r), 'X');
	cr_assert_eq(dax_region_offset_to_phys(r, 0x10, &phys, NULL), 0);
	cr_assert_eq(phys, 0x100000000 + 4 * DAX_MiB + 0x10);
	assert_fails_with(dax_region_persist(r, 2 * DAX_MiB - 1, 2), -ERANGE,
			  "goes past the end of the region");
	dax_region_close(&r);
}

Test(region_open, range_to_the_end_when_length_is_zero)
{
	struct dax_region *r = NULL;

	cr_assert_eq(dax_region_opts_set_size(opts, 8 * DAX_MiB), 0);
	cr_assert_eq(dax_region_opts_set_range(opts, 2 * DAX_MiB, 0), 0);
	cr_assert_eq(dax_region_open("memfd:tail", opts, &r), 0);
	cr_assert_eq(dax_region_get_size(r), 6 * DAX_MiB);
	dax_region_close(&r);
}

/* Three resources out of order, like a resized hmem device. */
struct phys_case {
	uint64_t offset, phys;
	unsigned resource;
};

ParameterizedTestParameters(region_open, offset_to_phys_walks_resources)
{
	static struct phys_case params[] = {
		{ 0, 0x48000000, 0 },
		{ 0x1234, 0x48001234, 0 },
		{ 0x3ffffff, 0x4bffffff, 0 },
		{ 0x4000000, 0x44000000, 1 },
		{ 0x7ffffff, 0x47ffffff, 1 },
		{ 0x8000000, 0x4c000000, 2 },
		{ 0xfffffff, 0x53ffffff, 2 },
	};

	return cr_make_param_array(struct phys_case, params,
				   sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct phys_case *p, region_open,
		  offset_to_phys_walks_resources, .init = setup,
		  .fini = teardown)
{
	struct dax_region *r = NULL;
	struct dax_resource res;
	unsigned idx = 99;
	uint64_t phys = 0;

	cr_assert_eq(dax_region_opts_set_size(opts, 256 * DAX_MiB), 0);
	cr_assert_eq(dax_region_opts_add_resource(opts, 0x48000000,
						  64 * DAX_MiB), 0);
	cr_assert_eq(dax_region_opts_add_resource(opts, 0x44000000,
						  64 * DAX_MiB), 0);
	cr_assert_eq(dax_region_opts_add_resource(opts, 0x4c000000,
						  128 * DAX_MiB), 0);
	cr_assert_eq(dax_region_open("memfd:phys", opts, &r), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_get_nr_resources(r), 3);
	cr_assert_eq(dax_region_get_resource(r, 1, &res), 0);
	cr_assert_eq(res.start, 0x44000000);
	cr_assert_eq(res.end, 0x47ffffff);
	cr_assert_eq(res.page_offset, 0x4000);
	assert_fails_with(dax_region_get_resource(r, 3, &res), -ERANGE,
			  "has 3 resources; there is no resource 3");
	cr_assert_eq(dax_region_offset_to_phys(r, p->offset, &phys, &idx), 0);
	cr_assert_eq(phys, p->phys, "offset %#lx: phys %#lx, wanted %#lx",
		     (unsigned long)p->offset, (unsigned long)phys,
		     (unsigned long)p->phys);
	cr_assert_eq(idx, p->resource);
	assert_fails_with(dax_region_offset_to_phys(r, 256 * DAX_MiB, &phys,
						    &idx),
			  -ERANGE, "offset 0x10000000 is past the end");
	dax_region_close(&r);
}

/* ---- misuse: errno, message, nothing changed ---------------------------- */

struct misuse {
	const char *what;	/* (static string; not dereferenced in child) */
	uint64_t align;		/* 0: default */
	uint64_t size;		/* opts size, 0: none */
	uint64_t file_size;	/* the file made first; 0: none made */
	uint64_t range_offset, range_length;
	unsigned flags;
	int err;
	char msg[160];
};

ParameterizedTestParameters(region_open, misuse_is_refused_and_changes_nothing)
{
	static struct misuse params[] = {
		{ "missing file", 0, 0, 0, 0, 0, 0, -ENOENT,
		  "No such file or directory (DAX_REGION_CREATE creates" },
		{ "file too small", 0, 4 * DAX_MiB, 2 * DAX_MiB, 0, 0, 0,
		  -EINVAL, "is too small: 2 MiB, the region needs 4 MiB "
			   "(set DAX_REGION_CREATE to extend it)" },
		{ "one-byte file", 0, 0, 1, 0, 0, 0, -EINVAL,
		  "file size 0x1 is not a multiple of the region alignment "
		  "2 MiB; 0x0 or 0x200000 would be" },
		{ "file size not aligned", 0, 0, 3 * DAX_MiB, 0, 0, 0, -EINVAL,
		  "file size 0x300000 is not a multiple of the region "
		  "alignment 2 MiB; 0x200000 or 0x400000 would be" },
		{ "size not aligned", 0, 3 * DAX_MiB, 4 * DAX_MiB, 0, 0, 0,
		  -EINVAL, "size 0x300000 is not a multiple of the region "
			   "alignment 2 MiB; 0x200000 or 0x400000 would be" },
		{ "size not aligned to 1 GiB", DAX_GiB, 2 * DAX_MiB,
		  2 * DAX_MiB, 0, 0, 0, -EINVAL,
		  "size 0x200000 is not a multiple of the region alignment "
		  "1 GiB; 0x0 or 0x40000000 would be" },
		{ "range offset unaligned", 0, 0, 4 * DAX_MiB, 0x1000, 0, 0,
		  -EINVAL, "range offset 0x1000 is not a multiple of the "
			   "region alignment 2 MiB; 0x0 or 0x200000 would be" },
		{ "range length unaligned", 0, 0, 4 * DAX_MiB, 0, 0x201000, 0,
		  -EINVAL, "range length 0x201000 is not a multiple of the "
			   "region alignment 2 MiB; 0x200000 or 0x400000 "
			   "would be" },
		{ "range past the end", 0, 0, 4 * DAX_MiB, 2 * DAX_MiB,
		  4 * DAX_MiB, 0, -ERANGE,
		  "range 0x200000+0x400000 goes past the end" },
		{ "range offset at the end", 0, 0, 4 * DAX_MiB, 4 * DAX_MiB, 0,
		  0, -ERANGE, "goes past the end" },
		{ "private mapping", 0, 0, 4 * DAX_MiB, 0, 0,
		  DAX_REGION_PRIVATE, -EINVAL,
		  "device-DAX refuses private mappings (MAP_PRIVATE)" },
		{ "create a read-only file", 0, 4 * DAX_MiB, 0, 0, 0,
		  DAX_REGION_CREATE | DAX_REGION_READONLY, -EINVAL,
		  "DAX_REGION_CREATE cannot create or extend a file opened "
		  "DAX_REGION_READONLY" },
		/* created, then refused: the new file must go away again */
		{ "create, range past the end", 0, 4 * DAX_MiB, 0, 0,
		  8 * DAX_MiB, DAX_REGION_CREATE, -ERANGE,
		  "goes past the end" },
		/* extended, then refused: the file keeps its size */
		{ "extend, range unaligned", 0, 8 * DAX_MiB, 2 * DAX_MiB,
		  0x3000, 0, DAX_REGION_CREATE, -EINVAL,
		  "range offset 0x3000 is not a multiple" },
	};

	return cr_make_param_array(struct misuse, params,
				   sizeof(params) / sizeof(params[0]));
}

ParameterizedTest(struct misuse *p, region_open,
		  misuse_is_refused_and_changes_nothing, .init = setup,
		  .fini = teardown)
{
	char *path = path_in("misuse");

	if (p->file_size)
		make_file(path, (off_t)p->file_size);
	if (p->align)
		cr_assert_eq(dax_region_opts_set_align(opts, p->align), 0);
	if (p->size)
		cr_assert_eq(dax_region_opts_set_size(opts, p->size), 0);
	if (p->range_offset || p->range_length)
		cr_assert_eq(dax_region_opts_set_range(opts, p->range_offset,
						       p->range_length), 0);
	cr_assert_eq(dax_region_opts_set_flags(opts, p->flags), 0);
	assert_open_fails(path, p->err, p->msg);
	cr_assert_eq(file_size(path), p->file_size ? (off_t)p->file_size : -1,
		     "the file changed: size %lld", (long long)file_size(path));
}

Test(region_open, empty_file_needs_a_size)
{
	make_file(path_in("empty"), 0);
	assert_open_fails(path_in("empty"), -EINVAL,
			  "is empty: give the region a size with "
			  "dax_region_opts_set_size()");
	cr_assert_eq(file_size(path_in("empty")), 0);
}

Test(region_open, directory_is_refused)
{
	assert_open_fails(dir, -EISDIR, "is a directory; a region is a "
					"device-DAX device, a regular file");
}

Test(region_open, non_dax_character_device_is_refused)
{
	assert_open_fails("/dev/null", -ENODEV,
			  "/dev/null is not a DAX device: its subsystem is "
			  "\"mem\"");
}

Test(region_open, fifo_is_refused)
{
	cr_assert_eq(mkfifo(path_in("fifo"), 0600), 0);
	assert_open_fails(path_in("fifo"), -ENODEV,
			  "is neither a character device nor a regular file");
}

Test(region_open, memfd_needs_a_size)
{
	assert_open_fails("memfd:nosize", -EINVAL,
			  "memfd:nosize needs a size: call "
			  "dax_region_opts_set_size()");
}

Test(region_open, resources_must_cover_the_region)
{
	cr_assert_eq(dax_region_opts_set_size(opts, 8 * DAX_MiB), 0);
	cr_assert_eq(dax_region_opts_add_resource(opts, 0x40000000,
						  4 * DAX_MiB), 0);
	assert_open_fails("memfd:res", -EINVAL,
			  "the 1 resources add up to 4 MiB but the region is "
			  "8 MiB");
}

Test(region_open, resources_must_be_aligned_to_the_region)
{
	cr_assert_eq(dax_region_opts_set_size(opts, 4 * DAX_MiB), 0);
	cr_assert_eq(dax_region_opts_add_resource(opts, 0x40001000,
						  4 * DAX_MiB), 0);
	assert_open_fails("memfd:res", -EINVAL,
			  "resource 0 start 0x40001000 is not a multiple of "
			  "the region alignment 2 MiB");
}

Test(region_open, null_arguments_are_refused)
{
	struct dax_region *r = UNTOUCHED;

	assert_fails_with(dax_region_open(NULL, opts, &r), -EINVAL,
			  "path is NULL");
	assert_fails_with(dax_region_open("memfd:x", opts, NULL), -EINVAL,
			  "region is NULL");
	cr_assert_eq(r, UNTOUCHED);
	assert_fails_with(dax_region_close(NULL), -EINVAL, "region is NULL");
	r = NULL;
	cr_assert_eq(dax_region_close(&r), 0, "closing NULL is a no-op");
	assert_fails_with(dax_region_kill(NULL), -EINVAL, "region is NULL");
	assert_fails_with(dax_region_persist(NULL, 0, 1), -EINVAL,
			  "region is NULL");
	cr_assert_not(dax_region_is_alive(NULL));
	cr_assert_eq(dax_region_get_size(NULL), 0);
	cr_assert_null(dax_region_get_base(NULL));
	cr_assert_str_eq(dax_region_kind_name((enum dax_region_kind)9),
			 "unknown");
}

struct logged {
	int calls;
	char last[DAX_ERRMSG_MAX];
};

static void logger(void *priv, enum dax_log_level level, const char *msg)
{
	struct logged *l = priv;

	l->calls++;
	snprintf(l->last, sizeof(l->last), "%s", msg);
}

Test(region_open, log_callback_hears_about_failures_and_opens)
{
	struct logged l = { 0 };
	struct dax_region *r = NULL;

	cr_assert_eq(dax_region_opts_set_log(opts, logger, &l, DAX_LOG_INFO),
		     0);
	assert_open_fails("memfd:quiet", -EINVAL, "needs a size");
	cr_assert_eq(l.calls, 1);
	cr_assert(strstr(l.last, "needs a size"));
	cr_assert_eq(dax_region_opts_set_size(opts, 2 * DAX_MiB), 0);
	cr_assert_eq(dax_region_open("memfd:loud", opts, &r), 0);
	cr_assert(strstr(l.last, "opened memfd:loud"), "%s", l.last);
	dax_region_close(&r);
	cr_assert(strstr(l.last, "closed"), "%s", l.last);
}
