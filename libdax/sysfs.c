// SPDX-License-Identifier: MIT
/*
 * Device attributes from sysfs.
 *
 * A character device is found through /sys/dev/char/MAJ:MIN, the one path
 * that leads from an open fd (fstat's st_rdev) to the device's folder
 * without knowing its name or bus.  Its kind is the basename of the
 * folder's `subsystem` link: `dax` for the kernel's device-DAX (a bus on
 * 6.x, a class on older kernels; both end in "dax"), `daxlite` for the
 * companion module, which publishes the same attributes.  Anything else is
 * not a DAX device.
 *
 * The alignment is read where the kernel keeps it: the device's `align`
 * (since 5.10, per device), falling back to the region's
 * `../dax_region/align` on older kernels.  Resources are mappingN/{start,
 * end,page_offset} (5.10+), or the single `resource` attribute before.
 * Every path is built under a root, normally /sys, so tests can point the
 * code at a fake tree: nothing here assumes the real sysfs.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Read a sysfs attribute as text; -errno when it cannot be read. */
static int sysfs_read_str(const char *dir, const char *name, char *buf,
			  size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

/*
 * A number as the kernel prints it (decimal, or 0x-prefixed hex); a
 * leading '-' is allowed when @sval is given (numa_node: -1).
 */
static int sysfs_read_num(const struct dax_logger *log, const char *dir,
			  const char *name, uint64_t *uval, int *sval)
{
	char buf[64], *end;
	int ret;

	ret = sysfs_read_str(dir, name, buf, sizeof(buf));
	if (ret)
		return ret;
	errno = 0;
	if (sval) {
		long v = strtol(buf, &end, 0);

		if (!errno && end != buf && !*end && v >= INT_MIN &&
		    v <= INT_MAX) {
			*sval = (int)v;
			return 0;
		}
	} else if (buf[0] != '-') {
		unsigned long long v = strtoull(buf, &end, 0);

		if (!errno && end != buf && !*end) {
			*uval = v;
			return 0;
		}
	}
	return dax_fail(log, -ENODEV, "%s/%s holds \"%s\", not a number", dir,
			name, buf);
}

static int sysfs_need(const struct dax_logger *log, const char *dir,
		      const char *name, uint64_t *val)
{
	int ret = sysfs_read_num(log, dir, name, val, NULL);

	if (ret == -ENODEV)
		return ret;	/* malformed: message already set */
	if (ret)
		return dax_fail(log, -ENODEV, "cannot read %s/%s: %s", dir,
				name, strerror(-ret));
	return 0;
}

static int sysfs_node(const char *dir, const char *name)
{
	int node;

	if (sysfs_read_num(NULL, dir, name, NULL, &node))
		return -1;
	return node;
}

static int sysfs_kind(const struct dax_logger *log, const char *path,
		      struct dax_sysfs_dev *dev)
{
	char link[PATH_MAX + 16], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(link, sizeof(link), "%s/subsystem", dev->dir);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return dax_fail(log, -ENODEV,
				"%s is not a DAX device: %s: %s", path, link,
				strerror(errno));
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (!strcmp(base, "dax"))
		dev->kind = DAX_REGION_KIND_DEVDAX;
	else if (!strcmp(base, "daxlite"))
		dev->kind = DAX_REGION_KIND_MODULE;
	else
		return dax_fail(log, -ENODEV,
				"%s is not a DAX device: its subsystem is "
				"\"%s\", not \"dax\" (device-DAX) or "
				"\"daxlite\" (the libdax module)",
				path, base);
	return 0;
}

static int sysfs_resources(const struct dax_logger *log,
			   struct dax_sysfs_dev *dev)
{
	char dir[PATH_MAX + 32];
	struct dax_resource *res = NULL, *grown;
	unsigned nr = 0, cap = 0;
	uint64_t start;
	int ret;

	for (;;) {
		struct dax_resource r;

		snprintf(dir, sizeof(dir), "%s/mapping%u", dev->dir, nr);
		if (access(dir, F_OK))
			break;
		ret = sysfs_read_num(log, dir, "start", &r.start, NULL);
		if (ret == -EACCES || ret == -EPERM)
			goto unreadable;
		if (ret && ret != -ENODEV)
			ret = dax_fail(log, -ENODEV, "cannot read %s/start: %s",
				       dir, strerror(-ret));
		if (!ret)
			ret = sysfs_need(log, dir, "end", &r.end);
		if (!ret)
			ret = sysfs_need(log, dir, "page_offset",
					 &r.page_offset);
		if (!ret && r.end < r.start)
			ret = dax_fail(log, -ENODEV,
				       "%s: end 0x%llx is below start 0x%llx",
				       dir, (unsigned long long)r.end,
				       (unsigned long long)r.start);
		if (ret)
			goto fail;
		if (nr == cap) {
			cap = cap ? cap * 2 : 4;
			grown = realloc(res, cap * sizeof(*res));
			if (!grown) {
				ret = dax_fail(log, -ENOMEM,
					       "out of memory reading %s", dir);
				goto fail;
			}
			res = grown;
		}
		res[nr++] = r;
	}
	/*
	 * Before 5.10: one range, in `resource`, backing the whole device.
	 * Unreadable (root only) or absent: no resources.
	 */
	if (nr == 0 && !sysfs_read_num(NULL, dev->dir, "resource", &start,
				       NULL)) {
		res = malloc(sizeof(*res));
		if (!res)
			return dax_fail(log, -ENOMEM, "out of memory");
		res[0] = (struct dax_resource){ start, start + dev->size - 1,
						0 };
		nr = 1;
	}
	dev->res = res;
	dev->nr_res = nr;
	return 0;
unreadable:
	/*
	 * The kernel makes mappingN/ readable by root only (0400), as the
	 * module does: physical addresses are not for everyone.  The device
	 * is still usable; only offset-to-physical translation is not.
	 */
	dax_log(log, DAX_LOG_WARN,
		"%s: no permission to read physical ranges (root only); "
		"offset to physical translation is unavailable",
		dev->dir);
	free(res);
	dev->res = NULL;
	dev->nr_res = 0;
	return 0;
fail:
	free(res);
	return ret;
}

int dax_sysfs_read_dev(const struct dax_logger *log, const char *root,
		       const char *path, unsigned major, unsigned minor,
		       struct dax_sysfs_dev *dev)
{
	char region_dir[PATH_MAX + 16], real[PATH_MAX];
	int ret;

	memset(dev, 0, sizeof(*dev));
	if ((size_t)snprintf(dev->dir, sizeof(dev->dir), "%s/dev/char/%u:%u",
			     root ? root : "/sys", major,
			     minor) >= sizeof(dev->dir))
		return dax_fail(log, -ENAMETOOLONG, "sysfs root is too long");
	ret = sysfs_kind(log, path, dev);
	if (ret)
		return ret;
	ret = sysfs_need(log, dev->dir, "size", &dev->size);
	if (ret)
		return ret;
	/* The device's own align (5.10+), else its region's. */
	ret = sysfs_read_num(log, dev->dir, "align", &dev->align, NULL);
	if (ret == -ENOENT) {
		snprintf(region_dir, sizeof(region_dir), "%s/../dax_region",
			 dev->dir);
		ret = sysfs_read_num(log, region_dir, "align", &dev->align,
				     NULL);
		if (ret && ret != -ENODEV)
			return dax_fail(log, -ENODEV,
					"%s has no align, and neither has %s: %s",
					dev->dir, region_dir, strerror(-ret));
	}
	if (ret == -ENODEV)
		return ret;
	if (ret)
		return dax_fail(log, -ENODEV, "cannot read %s/align: %s",
				dev->dir, strerror(-ret));
	if (!dax_region_align_supported(dev->align))
		return dax_region_align_refuse(log, "the device's align",
					       dev->align);
	if (dev->size == 0)
		return dax_fail(log, -ENODEV,
				"%s has size 0 (a device-DAX instance without "
				"memory; give it some with daxctl)", path);
	ret = dax_check_align(log, "device size", dev->size, dev->align,
			      "device alignment");
	if (ret)
		return ret;
	/*
	 * Device-DAX carved from an NVDIMM namespace lives under ndbusN;
	 * hmem, CXL and kmem devices do not.  libpmem2 1.12 looks device-DAX
	 * up through libndctl, which only knows the former: region.c must
	 * not hand it the others (see the top of region.c).
	 */
	if (realpath(dev->dir, real))
		dev->nd_backed = strstr(real, "/ndbus") != NULL;
	dev->numa_node = sysfs_node(dev->dir, "numa_node");
	dev->target_node = sysfs_node(dev->dir, "target_node");
	return sysfs_resources(log, dev);
}
