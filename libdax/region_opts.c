// SPDX-License-Identifier: MIT
/*
 * Region options: what dax_region_open() is asked for.
 *
 * An options object only records requests.  Each setter refuses what is
 * wrong on its own (an alignment device-DAX does not know, a size of 0, a
 * length that is not a whole number of pages, overlapping resources) and
 * leaves the object unchanged when it does.  What depends on other options
 * or on the device (a size that is not a multiple of the alignment, a
 * sub-range past the end) is checked by dax_region_open(), which is the
 * one place that knows everything.  The object is copied into the region
 * at open: it can be changed or deleted as soon as open returns.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

bool dax_region_align_supported(uint64_t align)
{
	return align == 4 * DAX_KiB || align == 2 * DAX_MiB ||
	       align == DAX_GiB;
}

int dax_region_align_refuse(const struct dax_logger *log, const char *what,
			    uint64_t align)
{
	char sz[32];

	if (align == 0 || (align & (align - 1)))
		return dax_fail(log, -EINVAL,
				"%s %llu bytes is not a power of two; device-DAX "
				"supports 4 KiB, 2 MiB or 1 GiB",
				what, (unsigned long long)align);
	return dax_fail(log, -EINVAL,
			"%s %s is not supported; device-DAX supports 4 KiB, "
			"2 MiB or 1 GiB",
			what, dax_size_str(align, sz, sizeof(sz)));
}

static int opts_null(const char *fn)
{
	return dax_fail(NULL, -EINVAL, "%s: opts is NULL", fn);
}

/**
 * dax_region_opts_new() - make an options object with the defaults
 * @opts: where to store it
 *
 * Defaults: 2 MiB alignment for emulated regions, the size of the file,
 * the whole device or file mapped, read-write, real sysfs at /sys, no log
 * callback.
 *
 * Context: any thread.
 * Return: 0, -EINVAL if @opts is NULL, -ENOMEM.
 */
DAX_EXPORT int dax_region_opts_new(struct dax_region_opts **opts)
{
	struct dax_region_opts *o;

	if (!opts)
		return opts_null(__func__);
	o = calloc(1, sizeof(*o));
	if (!o)
		return dax_fail(NULL, -ENOMEM, "%s: out of memory", __func__);
	o->align = 2 * DAX_MiB;
	o->log.level = DAX_LOG_ERR;
	*opts = o;
	return 0;
}

/**
 * dax_region_opts_delete() - free an options object and set *@opts to NULL
 * @opts: the object (NULL or *NULL: nothing to do)
 *
 * Context: any thread; regions opened with it are not affected.
 * Return: nothing.
 */
DAX_EXPORT void dax_region_opts_delete(struct dax_region_opts **opts)
{
	if (!opts || !*opts)
		return;
	free((*opts)->res);
	free((*opts)->sysfs_root);
	dax_memfail_opts_free((*opts)->memfail);	/* poison.c */
	free(*opts);
	*opts = NULL;
}

/**
 * dax_region_opts_set_align() - the alignment of an emulated region
 * @opts: the options
 * @align: 4 KiB, 2 MiB or 1 GiB
 *
 * A device's alignment comes from sysfs; when one is set here as well,
 * dax_region_open() refuses a device whose alignment differs.
 *
 * Context: any thread; not concurrently with other calls on @opts.
 * Return: 0, or -EINVAL (NULL @opts, not a power of two, unsupported).
 */
DAX_EXPORT int dax_region_opts_set_align(struct dax_region_opts *opts,
					 uint64_t align)
{
	if (!opts)
		return opts_null(__func__);
	if (!dax_region_align_supported(align))
		return dax_region_align_refuse(&opts->log, "alignment", align);
	opts->align = align;
	opts->align_set = true;
	return 0;
}

/**
 * dax_region_opts_set_size() - the size of an emulated region
 * @opts: the options
 * @size: bytes, a multiple of 4 KiB (and, at open, of the alignment)
 *
 * Needed for memfd regions; for a file, the size the file must have (or
 * is extended to with DAX_REGION_CREATE); for a device, the size it must
 * have.
 *
 * Context: any thread; not concurrently with other calls on @opts.
 * Return: 0, or -EINVAL (NULL @opts, 0, not a multiple of 4 KiB).
 */
DAX_EXPORT int dax_region_opts_set_size(struct dax_region_opts *opts,
					uint64_t size)
{
	int ret;

	if (!opts)
		return opts_null(__func__);
	if (size == 0)
		return dax_fail(&opts->log, -EINVAL,
				"size 0: a region needs at least one page "
				"(4 KiB), in multiples of its alignment");
	ret = dax_check_align(&opts->log, "size", size, DAX_PAGE_SIZE,
			      "page size");
	if (ret)
		return ret;
	opts->size = size;
	return 0;
}

/**
 * dax_region_opts_set_flags() - DAX_REGION_READONLY, _PRIVATE, _CREATE
 * @opts: the options
 * @flags: an OR of enum dax_region_flag (replaces the previous flags)
 *
 * DAX_REGION_PRIVATE is accepted here so that the refusal comes from
 * dax_region_open(), as device-DAX's refusal comes from mmap().
 *
 * Context: any thread; not concurrently with other calls on @opts.
 * Return: 0, or -EINVAL (NULL @opts, unknown bits).
 */
DAX_EXPORT int dax_region_opts_set_flags(struct dax_region_opts *opts,
					 unsigned flags)
{
	const unsigned known = DAX_REGION_READONLY | DAX_REGION_PRIVATE |
			       DAX_REGION_CREATE;

	if (!opts)
		return opts_null(__func__);
	if (flags & ~known)
		return dax_fail(&opts->log, -EINVAL,
				"unknown region flags 0x%x (known: READONLY "
				"0x1, PRIVATE 0x2, CREATE 0x4)",
				flags & ~known);
	opts->flags = flags;
	return 0;
}

/**
 * dax_region_opts_set_range() - map only part of the device or file
 * @opts: the options
 * @offset: where the mapping starts in the device, a multiple of the
 *	region alignment (checked at open)
 * @length: how much to map, a multiple of the alignment; 0 for "to the end"
 *
 * Context: any thread; not concurrently with other calls on @opts.
 * Return: 0, or -EINVAL (NULL @opts, not whole pages, overflow).
 */
DAX_EXPORT int dax_region_opts_set_range(struct dax_region_opts *opts,
					 uint64_t offset, uint64_t length)
{
	int ret;

	if (!opts)
		return opts_null(__func__);
	ret = dax_check_align(&opts->log, "range offset", offset,
			      DAX_PAGE_SIZE, "page size");
	if (!ret)
		ret = dax_check_align(&opts->log, "range length", length,
				      DAX_PAGE_SIZE, "page size");
	if (ret)
		return ret;
	if (offset + length < offset)
		return dax_fail(&opts->log, -EINVAL,
				"range offset 0x%llx + length 0x%llx overflows",
				(unsigned long long)offset,
				(unsigned long long)length);
	opts->range_offset = offset;
	opts->range_length = length;
	return 0;
}

/**
 * dax_region_opts_add_resource() - one more physical range of an emulated
 * region
 * @opts: the options
 * @phys_start: the (made-up) physical address of its first byte
 * @size: its length in bytes
 *
 * Resources are laid out in the order they are added: the first backs the
 * region from offset 0, the next from where the first ends, and so on, as
 * device-DAX's mappingN/ ranges do.  At open, their sizes must add up to
 * the region size and each start and size must be a multiple of the
 * alignment.  Without any, an emulated region has one resource at 0.
 *
 * Context: any thread; not concurrently with other calls on @opts.
 * Return: 0; -EINVAL (NULL @opts, size 0, not whole pages, overflow, overlap
 * with a resource added before); -ENOMEM.
 */
DAX_EXPORT int dax_region_opts_add_resource(struct dax_region_opts *opts,
					    uint64_t phys_start, uint64_t size)
{
	struct dax_resource *res;
	uint64_t end, page = 0;
	int ret;

	if (!opts)
		return opts_null(__func__);
	if (size == 0)
		return dax_fail(&opts->log, -EINVAL,
				"resource at 0x%llx has size 0",
				(unsigned long long)phys_start);
	ret = dax_check_align(&opts->log, "resource start", phys_start,
			      DAX_PAGE_SIZE, "page size");
	if (!ret)
		ret = dax_check_align(&opts->log, "resource size", size,
				      DAX_PAGE_SIZE, "page size");
	if (ret)
		return ret;
	end = phys_start + size - 1;
	if (end < phys_start)
		return dax_fail(&opts->log, -EINVAL,
				"resource 0x%llx + 0x%llx overflows",
				(unsigned long long)phys_start,
				(unsigned long long)size);
	for (unsigned i = 0; i < opts->nr_res; i++) {
		const struct dax_resource *o = &opts->res[i];

		if (phys_start <= o->end && end >= o->start)
			return dax_fail(&opts->log, -EINVAL,
					"resource 0x%llx-0x%llx overlaps "
					"resource %u (0x%llx-0x%llx)",
					(unsigned long long)phys_start,
					(unsigned long long)end, i,
					(unsigned long long)o->start,
					(unsigned long long)o->end);
		page += (o->end - o->start + 1) >> DAX_PAGE_SHIFT;
	}
	if (opts->nr_res == opts->res_cap) {
		unsigned cap = opts->res_cap ? opts->res_cap * 2 : 4;

		res = realloc(opts->res, cap * sizeof(*res));
		if (!res)
			return dax_fail(&opts->log, -ENOMEM,
					"%s: out of memory", __func__);
		opts->res = res;
		opts->res_cap = cap;
	}
	opts->res[opts->nr_res++] = (struct dax_resource){
		.start = phys_start, .end = end, .page_offset = page
	};
	return 0;
}

/**
 * dax_region_opts_set_sysfs_root() - read device attributes under @root
 * instead of /sys (tests build a fake tree there)
 * @opts: the options
 * @root: a folder holding dev/char/MAJ:MIN/...; NULL for /sys.  Copied.
 *
 * Context: any thread; not concurrently with other calls on @opts.
 * Return: 0, -EINVAL (NULL @opts, empty @root), -ENOMEM.
 */
DAX_EXPORT int dax_region_opts_set_sysfs_root(struct dax_region_opts *opts,
					      const char *root)
{
	char *copy = NULL;

	if (!opts)
		return opts_null(__func__);
	if (root && !*root)
		return dax_fail(&opts->log, -EINVAL,
				"sysfs root is an empty string (NULL means /sys)");
	if (root) {
		copy = strdup(root);
		if (!copy)
			return dax_fail(&opts->log, -ENOMEM,
					"%s: out of memory", __func__);
	}
	free(opts->sysfs_root);
	opts->sysfs_root = copy;
	return 0;
}

/**
 * dax_region_opts_set_log() - where messages about the region go
 * @opts: the options
 * @fn: called with every message at or above @level (NULL: none)
 * @priv: passed to @fn
 * @level: the least severe level passed on
 *
 * The callback gets the failures of the option setters from now on, and
 * everything dax_region_open() and the region's later calls report.  It
 * may be called from any thread that uses the region.
 *
 * Context: any thread; not concurrently with other calls on @opts.
 * Return: 0, or -EINVAL (NULL @opts, a level that is not a dax_log_level).
 */
DAX_EXPORT int dax_region_opts_set_log(struct dax_region_opts *opts,
				       dax_log_fn fn, void *priv,
				       enum dax_log_level level)
{
	if (!opts)
		return opts_null(__func__);
	if (level != DAX_LOG_ERR && level != DAX_LOG_WARN &&
	    level != DAX_LOG_INFO && level != DAX_LOG_DEBUG)
		return dax_fail(&opts->log, -EINVAL,
				"log level %d is not one of DAX_LOG_ERR (3), "
				"_WARN (4), _INFO (6), _DEBUG (7)",
				(int)level);
	opts->log.fn = fn;
	opts->log.priv = priv;
	opts->log.level = level;
	return 0;
}
