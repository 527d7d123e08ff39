// SPDX-License-Identifier: MIT
/*
 * Memory failure and bad blocks (the kernel's memory_failure_dev_pagemap
 * for DAX, in user space).
 *
 * A page goes bad in one of three ways: the platform reports it (an engine
 * that caught SIGBUS, or a monitor, calls dax_memory_failure()), the device
 * lists it in sysfs (read at open), or a test injects it into an emulated
 * region (dax_region_inject_badblocks()).  Each way ends in
 * dax_memory_failure(), which:
 *
 *   1. records the page in the region's sorted bad list and tells the
 *      allocator never to hand it out again (a free page leaves the free
 *      lists at once; an allocated one when its block is freed), so neither
 *      the fault path nor the heap can get it;
 *   2. locks the entry that owns the page by pfn (dax_lock_pfn(): the
 *      reverse map finds the mapping and keeps it alive across the sleep),
 *      calls the owner's ops->notify_failure with the mapping index of the
 *      page, and unlocks with the cookie.  A page no mapping owns (free,
 *      or the heap's) is only recorded.
 *
 * Emulated regions also reproduce the rest of a device's sysfs side, so
 * that engines can be tested without hardware: bad blocks given at open
 * (dax_region_opts_add_badblocks()), a deep_flush capability (then
 * dax_writeback() ends with libpmem2's deep flush, as on an NVDIMM region
 * whose deep_flush attribute reads 1) and an unsafe-shutdown count a test
 * can bump.  A device-DAX region of an NVDIMM gets its bad blocks and its
 * deep_flush capability from the nd region's sysfs badblocks and
 * deep_flush at open.  For device-DAX the count comes from
 * libpmem2
 * (pmem2_source_device_usc()); when it cannot be read that is a warning
 * at open and -ENOTSUP from the getter, never a failure to open.
 *
 * Lock order: the region's memfail lock, then the allocator's lock; the
 * entry lock is taken after both are released.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <libpmem2.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"

#define SECTOR_SIZE 512

static void memfail_release(void *obj)
{
	struct dax_memfail *mf = obj;

	pthread_mutex_destroy(&mf->lock);
	free(mf->bad);
	free(mf->deep_flush_path);
	free(mf);
}

struct dax_memfail *dax_memfail_get(struct dax_region *r)
{
	struct dax_memfail *mf, *mine;

	mf = dax_region_slot_get(r, DAX_REGION_SLOT_MEMFAIL);
	if (mf)
		return mf;
	mine = calloc(1, sizeof(*mine));
	if (!mine) {
		dax_fail(dax_region_logger(r), -ENOMEM,
			 "no memory for the region's bad-page list");
		return NULL;
	}
	pthread_mutex_init(&mine->lock, NULL);
	mf = dax_region_slot_install(r, DAX_REGION_SLOT_MEMFAIL, mine,
				     memfail_release);
	if (mf != mine)
		memfail_release(mine);
	return mf;
}

/* Where @pfn is or would go in the sorted list; under mf->lock. */
static uint64_t bad_search(const struct dax_memfail *mf, uint64_t pfn)
{
	uint64_t lo = 0, hi = mf->nr_bad, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (mf->bad[mid] < pfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Record @pfn as bad, allocator first.  1: it was already bad. */
static int bad_add(struct dax_region *r, struct dax_memfail *mf, uint64_t pfn)
{
	struct dax_alloc *a;
	uint64_t at, *nb, cap;
	int ret;

	pthread_mutex_lock(&mf->lock);
	at = bad_search(mf, pfn);
	if (at < mf->nr_bad && mf->bad[at] == pfn) {
		pthread_mutex_unlock(&mf->lock);
		return 1;
	}
	if (mf->nr_bad == mf->cap) {
		cap = mf->cap ? mf->cap * 2 : 16;
		nb = realloc(mf->bad, cap * sizeof(*nb));
		if (!nb) {
			pthread_mutex_unlock(&mf->lock);
			return dax_fail(dax_region_logger(r), -ENOMEM,
					"no memory to record bad page 0x%llx",
					(unsigned long long)pfn);
		}
		mf->bad = nb;
		mf->cap = cap;
	}
	ret = dax_alloc_get(r, &a);
	if (!ret)
		ret = dax_alloc_poison(a, pfn);
	if (ret) {
		pthread_mutex_unlock(&mf->lock);
		return ret;
	}
	memmove(&mf->bad[at + 1], &mf->bad[at],
		(mf->nr_bad - at) * sizeof(*mf->bad));
	mf->bad[at] = pfn;
	mf->nr_bad++;
	pthread_mutex_unlock(&mf->lock);
	return 0;
}

/* Tell the owner of @pfn, if any, with its entry locked. */
static int notify_owner(struct dax_region *r, uint64_t pfn, unsigned flags)
{
	const struct dax_mapping_ops *ops;
	struct dax_mapping *m;
	dax_cookie_t cookie;
	uint64_t index;
	int ret;

	ret = dax_lock_pfn(r, pfn, &cookie);
	if (ret || !cookie)
		return ret;
	ret = dax_cookie_owner(r, cookie, &m, &index);
	if (ret) {
		dax_unlock_pfn(r, cookie);
		return ret;
	}
	ops = m->ops;
	if (ops && ops->notify_failure) {
		ret = ops->notify_failure(m, m->priv, index, 1, flags);
		if (ret > 0 || ret < -4095)
			ret = -EIO;
	} else {
		dax_log(dax_region_logger(r), DAX_LOG_WARN,
			"memory failure at region page 0x%llx (mapping index "
			"0x%llx): the mapping has no notify_failure callback",
			(unsigned long long)pfn, (unsigned long long)index);
	}
	dax_unlock_pfn(r, cookie);
	if (ret)
		return dax_fail(dax_region_logger(r), ret,
				"memory failure at region page 0x%llx: the "
				"owner's notify_failure for index 0x%llx "
				"returned %d (the page stays poisoned)",
				(unsigned long long)pfn,
				(unsigned long long)index, ret);
	return 0;
}

static int check_pfn(struct dax_region *r, const char *what, uint64_t pfn)
{
	uint64_t pages = dax_region_get_size(r) >> DAX_PAGE_SHIFT;

	if (pfn >= pages)
		return dax_fail(dax_region_logger(r), -EINVAL,
				"%s: pfn 0x%llx is beyond the region's 0x%llx "
				"pages",
				what, (unsigned long long)pfn,
				(unsigned long long)pages);
	return 0;
}

/**
 * dax_memory_failure() - a region page went bad
 * @region: the region
 * @pfn: the region page (offset / 4 KiB)
 * @flags: 0 or DAX_MF_ACTION_REQUIRED (passed on to notify_failure)
 *
 * Records @pfn as poisoned: the allocator never hands it out again, so
 * neither the fault path nor a heap gets it.  If a mapping's entry owns
 * the page, that entry is locked (dax_lock_pfn()), the mapping's
 * ops->notify_failure is called with the page's index and 1 page, and the
 * entry is unlocked.  The entry itself stays: the engine decides what to
 * do with it (punch it out, rewrite it elsewhere).
 *
 * Context: any thread; may sleep; takes the owner's entry lock, so the
 * caller must hold no entry lock of the owning mapping.  notify_failure
 * runs with the entry locked and must not lock it again.
 * Return: 0; -EINVAL (NULL region, unknown flags, @pfn beyond the region;
 * nothing changed); -EHWPOISON (already poisoned; the owner is not told
 * again); -ENOMEM (nothing changed); the negative errno notify_failure
 * returned (the page is poisoned all the same).
 */
DAX_EXPORT int dax_memory_failure(struct dax_region *region, uint64_t pfn,
				  unsigned flags)
{
	struct dax_memfail *mf;
	int ret;

	if (!region)
		return dax_fail(NULL, -EINVAL,
				"dax_memory_failure: region is NULL");
	if (flags & ~(unsigned)DAX_MF_ACTION_REQUIRED)
		return dax_fail(dax_region_logger(region), -EINVAL,
				"dax_memory_failure: unknown flags 0x%x",
				flags & ~(unsigned)DAX_MF_ACTION_REQUIRED);
	ret = check_pfn(region, "dax_memory_failure", pfn);
	if (ret)
		return ret;
	mf = dax_memfail_get(region);
	if (!mf)
		return -ENOMEM;
	ret = bad_add(region, mf, pfn);
	if (ret == 1)
		return dax_fail(dax_region_logger(region), -EHWPOISON,
				"dax_memory_failure: region page 0x%llx is "
				"already poisoned",
				(unsigned long long)pfn);
	if (ret)
		return ret;
	dax_log(dax_region_logger(region), DAX_LOG_WARN,
		"%s: region page 0x%llx is poisoned",
		dax_region_get_path(region), (unsigned long long)pfn);
	ret = notify_owner(region, pfn, flags);
	if (!ret)
		dax_clear_errormsg();
	return ret;
}

/**
 * dax_region_get_badblocks() - the region's poisoned pages
 * @region: the region
 * @pages: receives up to @max region page numbers, in increasing order
 *	(may be NULL when @max is 0)
 * @max: room in @pages
 * @nr: receives how many pages are poisoned in all (may exceed @max)
 *
 * Pages reported by dax_memory_failure(), injected, or listed by the
 * device's sysfs at open.
 *
 * Context: any thread; takes the region's bad-page lock briefly.
 * Return: 0; -EINVAL (NULL region or @nr, NULL @pages with @max > 0);
 * -ENOMEM.
 */
DAX_EXPORT int dax_region_get_badblocks(struct dax_region *region,
					uint64_t *pages, uint64_t max,
					uint64_t *nr)
{
	struct dax_memfail *mf;
	uint64_t n;

	if (!region || !nr || (!pages && max))
		return dax_fail(NULL, -EINVAL,
				"dax_region_get_badblocks: %s is NULL",
				!region ? "region" : !nr ? "nr" : "pages");
	mf = dax_memfail_get(region);
	if (!mf)
		return -ENOMEM;
	pthread_mutex_lock(&mf->lock);
	n = mf->nr_bad < max ? mf->nr_bad : max;
	if (n)
		memcpy(pages, mf->bad, n * sizeof(*pages));
	*nr = mf->nr_bad;
	pthread_mutex_unlock(&mf->lock);
	return 0;
}

/**
 * dax_region_inject_badblocks() - make a range of an emulated region bad
 * @region: an emulated region (a file or memfd)
 * @offset: byte offset in the region, a multiple of 512 (a sector)
 * @len: bytes, a multiple of 512, not 0
 *
 * What a device reports in its sysfs badblocks: every page the range
 * touches goes through dax_memory_failure() (owners are told).  Pages
 * already bad are skipped.
 *
 * Context: any thread; may sleep (see dax_memory_failure()).
 * Return: 0; -EINVAL (NULL region, unaligned or empty range); -ERANGE
 * (past the end); -EOPNOTSUPP (not an emulated region); -ENOMEM; or the
 * first error a notify_failure returned (every page is poisoned anyway).
 */
DAX_EXPORT int dax_region_inject_badblocks(struct dax_region *region,
					   uint64_t offset, uint64_t len)
{
	uint64_t pfn, end;
	int ret, first = 0;

	if (!region)
		return dax_fail(NULL, -EINVAL,
				"dax_region_inject_badblocks: region is NULL");
	if (dax_region_get_kind(region) != DAX_REGION_KIND_EMULATED)
		return dax_fail(dax_region_logger(region), -EOPNOTSUPP,
				"%s: bad blocks can be injected into emulated "
				"regions only (a device's come from sysfs)",
				dax_region_get_path(region));
	if (!len)
		return dax_fail(dax_region_logger(region), -EINVAL,
				"dax_region_inject_badblocks: length is 0");
	ret = dax_region_check_range(region, "bad block", offset, len,
				     SECTOR_SIZE);
	if (ret)
		return ret;
	end = (offset + len - 1) >> DAX_PAGE_SHIFT;
	for (pfn = offset >> DAX_PAGE_SHIFT; pfn <= end; pfn++) {
		ret = dax_memory_failure(region, pfn, 0);
		if (ret == -EHWPOISON)
			continue;
		if (ret == -ENOMEM)
			return ret;
		if (ret && !first)
			first = ret;
	}
	if (first)
		return dax_fail(dax_region_logger(region), first,
				"dax_region_inject_badblocks: a notify_failure "
				"callback failed with %d (every page of the "
				"range is poisoned)",
				first);
	dax_clear_errormsg();
	return 0;
}

/* ---- the emulated sysfs side: options, open, getters --------------------- */

void dax_memfail_opts_free(struct dax_memfail_opts *mo)
{
	if (!mo)
		return;
	free(mo->bad);
	free(mo);
}

static struct dax_memfail_opts *memfail_opts(struct dax_region_opts *o)
{
	if (!o->memfail)
		o->memfail = calloc(1, sizeof(*o->memfail));
	if (!o->memfail)
		dax_fail(&o->log, -ENOMEM, "out of memory");
	return o->memfail;
}

/**
 * dax_region_opts_add_badblocks() - an emulated region opens with a bad range
 * @opts: the options
 * @offset: byte offset in the region, a multiple of 512
 * @len: bytes, a multiple of 512, not 0
 *
 * As if the device listed the range in its sysfs badblocks: at open, every
 * page it touches is poisoned (dax_memory_failure()).  A range past the end
 * of the region makes dax_region_open() fail with -ERANGE.
 *
 * Context: the caller owns @opts.
 * Return: 0; -EINVAL (NULL opts, empty or unaligned range); -ENOMEM.
 */
DAX_EXPORT int dax_region_opts_add_badblocks(struct dax_region_opts *opts,
					     uint64_t offset, uint64_t len)
{
	struct dax_memfail_opts *mo;
	uint64_t *nb;
	unsigned cap;

	if (!opts)
		return dax_fail(NULL, -EINVAL,
				"dax_region_opts_add_badblocks: opts is NULL");
	if (!len || offset % SECTOR_SIZE || len % SECTOR_SIZE ||
	    offset + len < offset)
		return dax_fail(&opts->log, -EINVAL,
				"bad block range 0x%llx+0x%llx: offset and "
				"length must be multiples of 512 (sectors), "
				"the length not 0",
				(unsigned long long)offset,
				(unsigned long long)len);
	mo = memfail_opts(opts);
	if (!mo)
		return -ENOMEM;
	if (mo->nr_bad == mo->cap) {
		cap = mo->cap ? mo->cap * 2 : 4;
		nb = realloc(mo->bad, cap * 2 * sizeof(*nb));
		if (!nb)
			return dax_fail(&opts->log, -ENOMEM, "out of memory");
		mo->bad = nb;
		mo->cap = cap;
	}
	mo->bad[2 * mo->nr_bad] = offset;
	mo->bad[2 * mo->nr_bad + 1] = len;
	mo->nr_bad++;
	return 0;
}

/**
 * dax_region_opts_set_deep_flush() - give an emulated region deep_flush
 * @opts: the options
 * @enable: whether the region reports a deep_flush capability
 *
 * Context: the caller owns @opts.
 * Return: 0, or -EINVAL if @opts is NULL; -ENOMEM.
 */
DAX_EXPORT int dax_region_opts_set_deep_flush(struct dax_region_opts *opts,
					      bool enable)
{
	struct dax_memfail_opts *mo;

	if (!opts)
		return dax_fail(NULL, -EINVAL,
				"dax_region_opts_set_deep_flush: opts is NULL");
	mo = memfail_opts(opts);
	if (!mo)
		return -ENOMEM;
	mo->deep_flush = enable;
	return 0;
}

/**
 * dax_region_opts_set_unsafe_shutdown_count() - an emulated region's count
 * @opts: the options
 * @count: the unsafe-shutdown count the region reports at open
 *
 * Context: the caller owns @opts.
 * Return: 0, or -EINVAL if @opts is NULL; -ENOMEM.
 */
DAX_EXPORT int
dax_region_opts_set_unsafe_shutdown_count(struct dax_region_opts *opts,
					  uint64_t count)
{
	struct dax_memfail_opts *mo;

	if (!opts)
		return dax_fail(NULL, -EINVAL,
				"dax_region_opts_set_unsafe_shutdown_count: "
				"opts is NULL");
	mo = memfail_opts(opts);
	if (!mo)
		return -ENOMEM;
	mo->usc = count;
	return 0;
}

/* The region page backing physical address @phys, or UINT64_MAX. */
static uint64_t phys_to_pfn(struct dax_region *r, uint64_t phys)
{
	uint64_t first = dax_region_get_offset(r) >> DAX_PAGE_SHIFT;
	uint64_t nr = dax_region_get_size(r) >> DAX_PAGE_SHIFT, page;
	struct dax_resource res;

	for (unsigned i = 0; i < dax_region_get_nr_resources(r); i++) {
		if (dax_region_get_resource(r, i, &res) || phys < res.start ||
		    phys > res.end)
			continue;
		page = res.page_offset + ((phys - res.start) >> DAX_PAGE_SHIFT);
		if (page >= first && page - first < nr)
			return page - first;
	}
	return UINT64_MAX;
}

/*
 * The nd region above a device-DAX device: the first folder above the
 * device's (ROOT/dev/char/MAJ:MIN) that has a badblocks or a deep_flush
 * attribute: two levels up in the kernel (regionN/daxN.M/daxN.M), one in a
 * flat fake tree.  Return: true with @dir set; false for a device outside
 * an NVDIMM region (hmem, CXL) or a file.
 */
static bool nd_region_dir(struct dax_region *r, const char *root, char *dir,
			  size_t len)
{
	char path[PATH_MAX + 32];
	struct stat st;

	if (fstat(dax_region_fd(r), &st) || !S_ISCHR(st.st_mode))
		return false;
	snprintf(dir, len, "%s/dev/char/%u:%u", root ? root : "/sys",
		 major(st.st_rdev), minor(st.st_rdev));
	for (int up = 0; up < 3; up++) {
		if (strlen(dir) + 4 >= len)
			return false;
		strcat(dir, "/..");
		snprintf(path, sizeof(path), "%s/badblocks", dir);
		if (!access(path, F_OK))
			return true;
		snprintf(path, sizeof(path), "%s/deep_flush", dir);
		if (!access(path, F_OK))
			return true;
	}
	return false;
}

/*
 * The nd region's deep_flush attribute: "1" when the platform has flush
 * hints (or an asynchronous flush) that a write to it triggers, "0" when
 * it relies on ADR (the attribute is then read-only), absent when the
 * kernel does not know (a legacy e820 region, qemu's memmap=).  Only "1"
 * makes a capability; nothing here is an error.
 */
static bool read_nd_deep_flush(struct dax_region *r, struct dax_memfail *mf,
			       const char *dir)
{
	char path[PATH_MAX + 32], buf[8] = "";
	FILE *f;
	bool on;

	snprintf(path, sizeof(path), "%s/deep_flush", dir);
	f = fopen(path, "re");
	if (!f) {
		dax_log(dax_region_logger(r), DAX_LOG_DEBUG,
			"%s: no %s: no deep flush", dax_region_get_path(r),
			path);
		return false;
	}
	on = fgets(buf, sizeof(buf), f) && buf[0] == '1' &&
	     (buf[1] == '\n' || buf[1] == '\0');
	fclose(f);
	dax_log(dax_region_logger(r), DAX_LOG_DEBUG,
		"%s: %s is %s: deep flush %s", dax_region_get_path(r), path,
		buf[0] ? (buf[0] == '1' ? "1" : "not 1") : "empty",
		on ? "on" : "off");
	if (on) {
		mf->deep_flush_path = strdup(path);
		if (!mf->deep_flush_path)
			return false;
	}
	return on;
}

/*
 * dax_writeback()'s deep flush.  libpmem2's pmem2_deep_flush() when the
 * map was made from the device's fd (pmem2_map_new(): files, memfds,
 * device-DAX of an NVDIMM): for device-DAX it writes 1 to the nd region's
 * deep_flush attribute, for files it is msync.  A map libdax made itself
 * (pmem2_map_from_existing() on an anonymous source, see region.c) is one
 * libpmem2 cannot deep-flush: it would look for a DAX region behind the
 * anonymous source and fail.  For those the same write to the attribute
 * found at open is done here.
 */
int dax_memfail_deep_flush(struct dax_region *r, char *addr, uint64_t len)
{
	struct dax_memfail *mf = dax_region_slot_get(r, DAX_REGION_SLOT_MEMFAIL);
	struct pmem2_source *src = dax_region_pmem2_source(r);
	int fd, ret = 0;

	if (!mf || !mf->deep_flush)
		return 0;
	__atomic_add_fetch(&mf->nr_deep_flushes, 1, __ATOMIC_RELAXED);
	if (!mf->deep_flush_path || (src && !pmem2_source_get_fd(src, &fd))) {
		ret = pmem2_deep_flush(dax_region_pmem2_map(r), addr, len);
		if (ret)
			return dax_fail(dax_region_logger(r), -EIO,
					"dax_writeback: libpmem2's deep flush "
					"failed: %s",
					pmem2_errormsg());
		return 0;
	}
	fd = open(mf->deep_flush_path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "1", 1) != 1)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	if (ret)
		return dax_fail(dax_region_logger(r), -EIO,
				"dax_writeback: deep flush: writing 1 to %s: "
				"%s",
				mf->deep_flush_path, strerror(-ret));
	return 0;
}

/*
 * Device-DAX of an NVDIMM region: the region's sysfs badblocks lists
 * "first-sector count" lines, 512-byte sectors from the region's physical
 * start (its resource).  Nothing to read is not an error; a malformed
 * file is a warning.
 */
static int read_nd_badblocks(struct dax_region *r, struct dax_memfail *mf,
			     const char *dir)
{
	char path[PATH_MAX + 32], line[128];
	uint64_t rstart, sector, count, phys, pfn;
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/badblocks", dir);
	f = fopen(path, "re");
	if (!f)
		return 0;
	snprintf(path, sizeof(path), "%s/resource", dir);
	{
		FILE *rf = fopen(path, "re");
		int ok = rf && fscanf(rf, "%" SCNx64, &rstart) == 1;

		if (rf)
			fclose(rf);
		if (!ok) {
			dax_log(dax_region_logger(r), DAX_LOG_WARN,
				"%s: cannot read %s: bad blocks not known",
				dax_region_get_path(r), path);
			fclose(f);
			return 0;
		}
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%" SCNu64 " %" SCNu64, &sector, &count) != 2) {
			dax_log(dax_region_logger(r), DAX_LOG_WARN,
				"%s: malformed badblocks line \"%s\"",
				dax_region_get_path(r), line);
			continue;
		}
		for (uint64_t s = sector; s < sector + count && !ret; s++) {
			phys = rstart + s * 512;
			pfn = phys_to_pfn(r, phys);
			if (pfn != UINT64_MAX)
				ret = bad_add(r, mf, pfn) < 0 ? -ENOMEM : 0;
		}
	}
	fclose(f);
	return ret;
}

int dax_memfail_open(struct dax_region *r, const struct dax_region_opts *o)
{
	const struct dax_memfail_opts *mo = o->memfail;
	enum dax_region_kind kind = dax_region_get_kind(r);
	struct pmem2_source *src;
	struct dax_memfail *mf;
	char dir[PATH_MAX];
	uint64_t pfn, end;
	unsigned i;
	int ret;

	if (mo && kind != DAX_REGION_KIND_EMULATED &&
	    (mo->nr_bad || mo->deep_flush || mo->usc))
		return dax_fail(&o->log, -EINVAL,
				"%s: bad blocks, deep_flush and the unsafe-"
				"shutdown count are options of emulated "
				"regions; a device reports its own",
				dax_region_get_path(r));
	for (i = 0; mo && i < mo->nr_bad; i++) {
		ret = dax_region_check_range(r, "bad block", mo->bad[2 * i],
					     mo->bad[2 * i + 1], SECTOR_SIZE);
		if (ret)
			return ret;
	}
	mf = dax_memfail_get(r);
	if (!mf)
		return -ENOMEM;
	if (kind == DAX_REGION_KIND_EMULATED) {
		mf->deep_flush = mo && mo->deep_flush;
		mf->usc = mo ? mo->usc : 0;
		mf->usc_ok = true;
	} else if (kind == DAX_REGION_KIND_DEVDAX &&
		   (src = dax_region_pmem2_source(r)) &&
		   !pmem2_source_device_usc(src, &mf->usc)) {
		mf->usc_ok = true;
	} else {
		dax_log(dax_region_logger(r), DAX_LOG_WARN,
			"%s: the unsafe-shutdown count cannot be read (%s); "
			"dax_region_get_unsafe_shutdown_count() will fail "
			"with -ENOTSUP",
			dax_region_get_path(r),
			kind == DAX_REGION_KIND_DEVDAX ? pmem2_errormsg() :
							 "not an NVDIMM");
	}
	if (kind == DAX_REGION_KIND_DEVDAX &&
	    nd_region_dir(r, o->sysfs_root, dir, sizeof(dir))) {
		mf->deep_flush = read_nd_deep_flush(r, mf, dir);
		ret = read_nd_badblocks(r, mf, dir);
		if (ret)
			return ret;
	}
	for (i = 0; mo && i < mo->nr_bad; i++) {
		end = (mo->bad[2 * i] + mo->bad[2 * i + 1] - 1) >>
		      DAX_PAGE_SHIFT;
		for (pfn = mo->bad[2 * i] >> DAX_PAGE_SHIFT; pfn <= end;
		     pfn++) {
			ret = bad_add(r, mf, pfn);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

/**
 * dax_region_get_deep_flush() - does dax_writeback() end with a deep flush
 * @region: the region
 * @deep_flush: receives true for a device-DAX region whose NVDIMM region
 *	reads "1" in its sysfs deep_flush attribute at open (flush hints:
 *	libpmem2's deep flush writes to that attribute), and for an emulated
 *	region opened with dax_region_opts_set_deep_flush(); false otherwise
 *	(attribute "0" or absent, other kinds of device)
 *
 * Context: any thread; never sleeps.
 * Return: 0, or -EINVAL when an argument is NULL; -ENOMEM.
 */
DAX_EXPORT int dax_region_get_deep_flush(struct dax_region *region,
					 bool *deep_flush)
{
	struct dax_memfail *mf;

	if (!region || !deep_flush)
		return dax_fail(NULL, -EINVAL,
				"dax_region_get_deep_flush: %s is NULL",
				region ? "deep_flush" : "region");
	mf = dax_memfail_get(region);
	if (!mf)
		return -ENOMEM;
	pthread_mutex_lock(&mf->lock);
	*deep_flush = mf->deep_flush;
	pthread_mutex_unlock(&mf->lock);
	return 0;
}

/**
 * dax_region_get_unsafe_shutdown_count() - the device's unsafe-shutdown count
 * @region: the region
 * @count: receives the count: libpmem2's for device-DAX of an NVDIMM, the
 *	emulated one (options, plus dax_region_inject_unsafe_shutdown())
 *
 * An engine compares it with the count it stored at its last clean
 * shutdown: a change means stores may have been lost.
 *
 * Context: any thread; never sleeps.
 * Return: 0; -EINVAL (NULL argument); -ENOTSUP (the count could not be
 * read at open: a warning was logged then); -ENOMEM.
 */
DAX_EXPORT int dax_region_get_unsafe_shutdown_count(struct dax_region *region,
						    uint64_t *count)
{
	struct dax_memfail *mf;
	int ret = 0;

	if (!region || !count)
		return dax_fail(NULL, -EINVAL,
				"dax_region_get_unsafe_shutdown_count: %s is "
				"NULL",
				region ? "count" : "region");
	mf = dax_memfail_get(region);
	if (!mf)
		return -ENOMEM;
	pthread_mutex_lock(&mf->lock);
	if (mf->usc_ok)
		*count = mf->usc;
	else
		ret = -ENOTSUP;
	pthread_mutex_unlock(&mf->lock);
	if (ret)
		return dax_fail(dax_region_logger(region), ret,
				"%s: the device's unsafe-shutdown count could "
				"not be read at open",
				dax_region_get_path(region));
	return 0;
}

/**
 * dax_region_inject_unsafe_shutdown() - bump an emulated region's count
 * @region: an emulated region
 *
 * What a power loss without a clean flush does to a device's count.  The
 * count lives as long as the open region.
 *
 * Context: any thread.
 * Return: 0; -EINVAL (NULL region); -EOPNOTSUPP (not emulated); -ENOMEM.
 */
DAX_EXPORT int dax_region_inject_unsafe_shutdown(struct dax_region *region)
{
	struct dax_memfail *mf;

	if (!region)
		return dax_fail(NULL, -EINVAL,
				"dax_region_inject_unsafe_shutdown: region is "
				"NULL");
	if (dax_region_get_kind(region) != DAX_REGION_KIND_EMULATED)
		return dax_fail(dax_region_logger(region), -EOPNOTSUPP,
				"%s: only an emulated region's unsafe-shutdown "
				"count can be bumped",
				dax_region_get_path(region));
	mf = dax_memfail_get(region);
	if (!mf)
		return -ENOMEM;
	pthread_mutex_lock(&mf->lock);
	mf->usc++;
	pthread_mutex_unlock(&mf->lock);
	return 0;
}
