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
 * Lock order: the region's memfail lock, then the allocator's lock; the
 * entry lock is taken after both are released.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SECTOR_SIZE 512

static void memfail_release(void *obj)
{
	struct dax_memfail *mf = obj;

	pthread_mutex_destroy(&mf->lock);
	free(mf->bad);
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
