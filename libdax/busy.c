// SPDX-License-Identifier: MIT
/*
 * busy.c: are pages of a region referenced by the kernel?
 *
 * A pin taken by libdax is visible to libdax; a pin the kernel takes on the
 * mapped memory (get_user_pages for an O_DIRECT transfer into it, a pipe
 * buffer filled by vmsplice, an RDMA registration) is not, and a drain that
 * ignores it can free blocks the hardware is still writing.  No stock kernel
 * interface tells userspace about such references; the companion module
 * (daxlite(4)) answers DAXLITE_IOC_BUSY for its devices.  Other kinds of
 * region say -EOPNOTSUPP, so that a caller can tell "nothing is busy" from
 * "cannot know".
 */
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"
#include "kmod/daxlite_uapi.h"

/**
 * dax_region_count_busy() - pages of a range held by the kernel.
 * @region: an open region
 * @offset: byte offset into the region's mapping, a multiple of 4 KiB
 * @len: bytes, a non-zero multiple of 4 KiB, inside the mapping
 * @busy: set to the number of pages of the range that hold references
 *	besides the device's and the page tables' (0 when none)
 *
 * A snapshot: pins that start during the call may be missed, so a drain
 * stops new pins first and then polls until @busy is 0.  On a 2 MiB- or
 * 1 GiB-aligned module device references are attributed per 2 MiB chunk:
 * one reference makes every page of its chunk inside the range busy.
 *
 * Context: any thread; one ioctl, never blocks on libdax locks.  Works on
 * a killed region too, so that a drain can finish.
 * Return: 0; -EINVAL or -ERANGE for a range that is not aligned or not
 * inside the mapping; -EOPNOTSUPP for a region whose kernel cannot tell
 * (device-DAX, files, memfds); another negative errno from the ioctl.
 */
DAX_EXPORT int dax_region_count_busy(const struct dax_region *region,
				     uint64_t offset, uint64_t len,
				     uint64_t *busy)
{
	const struct dax_logger *log;
	struct daxlite_busy q = { 0 };
	int rc;

	if (!region || !busy)
		return dax_fail(NULL, -EINVAL, "dax_region_count_busy: %s is NULL",
				region ? "busy" : "region");
	log = dax_region_logger(region);
	if (!len)
		return dax_fail(log, -EINVAL,
				"dax_region_count_busy: the length is 0");
	rc = dax_region_check_range(region, "busy query", offset, len,
				    DAX_PAGE_SIZE);
	if (rc)
		return rc;
	if (dax_region_get_kind(region) != DAX_REGION_KIND_MODULE)
		return dax_fail(log, -EOPNOTSUPP,
				"%s: only %s module devices can report pages "
				"the kernel holds (a %s region cannot)",
				dax_region_get_path(region), DAXLITE_CLASS_NAME,
				dax_region_kind_name(dax_region_get_kind(region)));
	q.offset = dax_region_get_offset(region) + offset;
	q.length = len;
	if (ioctl(dax_region_fd(region), DAXLITE_IOC_BUSY, &q))
		return dax_fail(log, -errno, "%s: DAXLITE_IOC_BUSY: %s",
				dax_region_get_path(region), strerror(errno));
	*busy = q.busy;
	return 0;
}
