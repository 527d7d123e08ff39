/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * daxlite_uapi.h: ioctls of the daxlite character devices (/dev/daxliteN).
 *
 * Usable from the kernel module and from userspace C (it needs only
 * <linux/ioctl.h> and <linux/types.h>).  See daxlite(4).
 */
#ifndef DAXLITE_UAPI_H
#define DAXLITE_UAPI_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* The basename of /sys/dev/char/MAJ:MIN/subsystem for these devices. */
#define DAXLITE_CLASS_NAME "daxlite"

/**
 * struct daxlite_info - DAXLITE_IOC_INFO: what sysfs says, in one call.
 * @size:	usable bytes (a multiple of @align)
 * @align:	mmap alignment: 4096, 2097152 or 1073741824
 * @map_size:	largest page-table mapping the fault handler installs:
 *		4096 for a 4 KiB-aligned device, 2097152 otherwise
 * @nr_ranges:	physical ranges (sysfs mapping0..N-1)
 * @id:		N of /dev/daxliteN
 * @alive:	1 until the device is removed
 * @reserved:	zero
 */
struct daxlite_info {
	__u64 size;
	__u64 align;
	__u64 map_size;
	__u32 nr_ranges;
	__u32 id;
	__u32 alive;
	__u32 reserved[3];
};

/**
 * struct daxlite_busy - DAXLITE_IOC_BUSY: are pages of a range referenced
 * by someone other than the device and the page tables that map it?
 * @offset:	in: byte offset into the device, a multiple of 4096
 * @length:	in: bytes, a non-zero multiple of 4096, within the device
 * @busy:	out: pages of the range that hold extra references
 *		(get_user_pages pins such as O_DIRECT I/O in flight, pipe
 *		buffers from vmsplice, faults in progress)
 * @pinned:	out: pages of the range whose memory is FOLL_PIN-pinned
 *		(folio_maybe_dma_pinned: RDMA, io_uring, VFIO...)
 * @refs:	out: extra references found in total
 * @granule:	out: the unit references are attributed to, in bytes:
 *		4096 on a 4 KiB-aligned device (order-0 pages, exact),
 *		2097152 otherwise (a reference on any page of a 2 MiB chunk
 *		makes every page of the chunk inside the range busy)
 * @reserved:	zero
 *
 * The counts are a snapshot taken without stopping faults or I/O; they can
 * only be trusted to reach zero once the caller has stopped new pins (a
 * drain loop polls until @busy is 0).
 */
struct daxlite_busy {
	__u64 offset;
	__u64 length;
	__u64 busy;
	__u64 pinned;
	__u64 refs;
	__u64 granule;
	__u64 reserved[2];
};

#define DAXLITE_IOC_MAGIC 0xDA
#define DAXLITE_IOC_INFO _IOR(DAXLITE_IOC_MAGIC, 0, struct daxlite_info)
#define DAXLITE_IOC_BUSY _IOWR(DAXLITE_IOC_MAGIC, 1, struct daxlite_busy)

#endif /* DAXLITE_UAPI_H */
