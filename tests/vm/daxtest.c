// SPDX-License-Identifier: MIT
/*
 * daxtest: check the mapping rules of a device-DAX character device
 * (/dev/daxX.Y) or of a daxlite device (/dev/daxliteN) from userspace.
 * Runs in the test VM (tests/vm/check-vm.sh); built static.
 *
 *   daxtest DEVICE [MAP_SIZE]
 *
 * MAP_SIZE is the page-table mapping size the device is expected to use
 * when faulting (default: its alignment, at most 1 GiB; a daxlite device
 * says its own through DAXLITE_IOC_INFO).  Prints one "ok"/"not ok" line
 * per check and exits 1 if any check failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "daxlite_uapi.h"

#include "vmtest.h"

static char sysdir[128];	/* /sys/dev/char/MAJ:MIN */

static int sysfs_read(const char *name, char *buf, size_t len)
{
	char path[256];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", sysdir, name);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (!ok)
		return -EIO;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int sysfs_ull(const char *name, unsigned long long *val)
{
	char buf[64], *end;
	int rc = sysfs_read(name, buf, sizeof(buf));

	if (rc)
		return rc;
	*val = strtoull(buf, &end, 0);
	if (*end || end == buf)
		return -EINVAL;
	printf("# %s/%s = %s\n", sysdir, name, buf);
	return 0;
}

/* Map len bytes MAP_SHARED at an address that is a multiple of align. */
static void *map_aligned(int fd, size_t len, size_t align, off_t off)
{
	uint8_t *res, *want, *p;

	res = mmap(NULL, len + align, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return MAP_FAILED;
	want = (uint8_t *)(((uintptr_t)res + align - 1) & ~(uintptr_t)(align - 1));
	p = mmap(want, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 fd, off);
	if (p == MAP_FAILED) {
		int e = errno;
		munmap(res, len + align);
		errno = e;
		return MAP_FAILED;
	}
	if (want > res)
		munmap(res, want - res);
	if (res + len + align > want + len)
		munmap(want + len, res + len + align - (want + len));
	return p;
}

/* errno of an mmap that is expected to fail; 0 if it succeeded. */
static int mmap_errno(void *addr, size_t len, int flags, int fd, off_t off)
{
	void *p = mmap(addr, len, PROT_READ | PROT_WRITE, flags, fd, off);

	if (p == MAP_FAILED)
		return errno;
	munmap(p, len);
	return 0;
}

static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_jmp, 1);
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static uint64_t pattern(size_t off)
{
	return 0x9e3779b97f4a7c15ull ^ off;
}

/* The mappingN folders must tile [0, size) in page_offset order. */
static void check_mappings(unsigned long long size)
{
	unsigned long long next = 0, start, end, pgoff;
	char name[64];
	int n;

	for (n = 0;; n++) {
		snprintf(name, sizeof(name), "mapping%d/start", n);
		if (sysfs_read(name, (char[8]){ 0 }, 8) == -ENOENT)
			break;
		snprintf(name, sizeof(name), "mapping%d/start", n);
		if (sysfs_ull(name, &start))
			break;
		snprintf(name, sizeof(name), "mapping%d/end", n);
		if (sysfs_ull(name, &end))
			break;
		snprintf(name, sizeof(name), "mapping%d/page_offset", n);
		if (sysfs_ull(name, &pgoff))
			break;
		if (pgoff * 4096 != next || end < start)
			break;
		next += end - start + 1;
	}
	check(n > 0 && next == size, "%d mappingN ranges tile the %llu bytes "
	      "(%llu covered)", n, size, next);
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/dax0.0";
	unsigned long long align = 0, size = 0, res = 0, map_size = 0;
	size_t chunks, stride, touched, pg = sysconf(_SC_PAGESIZE);
	char subsys[256], link[300];
	struct daxlite_info info;
	bool daxlite = false;
	struct stat st;
	uint8_t *p;
	ssize_t n;
	int fd, e;

	fd = open(dev, O_RDWR);
	check(fd >= 0, "open %s (%s)", dev, fd < 0 ? strerror(errno) : "");
	if (fd < 0 || fstat(fd, &st) || !S_ISCHR(st.st_mode))
		return 1;
	snprintf(sysdir, sizeof(sysdir), "/sys/dev/char/%u:%u",
		 major(st.st_rdev), minor(st.st_rdev));
	snprintf(link, sizeof(link), "%s/subsystem", sysdir);
	n = readlink(link, subsys, sizeof(subsys) - 1);
	subsys[n > 0 ? n : 0] = '\0';
	daxlite = !strcmp(basename(subsys), DAXLITE_CLASS_NAME);
	check(daxlite || !strcmp(basename(subsys), "dax"),
	      "%s/subsystem is \"dax\" or \"daxlite\": \"%s\"", sysdir,
	      basename(subsys));

	check(sysfs_ull("align", &align) == 0 && align >= pg &&
	      !(align & (align - 1)), "sysfs align is a power of two >= %zu", pg);
	check(sysfs_ull("size", &size) == 0 && size && !(size % align),
	      "sysfs size is a non-zero multiple of align");
	check(sysfs_ull("resource", &res) == 0 && res && !(res % pg),
	      "sysfs resource is a page-aligned physical address");
	unsigned long long node;
	check(sysfs_ull("numa_node", &node) == 0, "sysfs numa_node readable");
	check(sysfs_ull("target_node", &node) == 0, "sysfs target_node readable");
	if (failures)
		return 1;
	check_mappings(size);

	map_size = align < (1ull << 30) ? align : (1ull << 30);
	if (daxlite) {
		e = ioctl(fd, DAXLITE_IOC_INFO, &info) ? errno : 0;
		check(!e && info.size == size && info.align == align && info.alive,
		      "DAXLITE_IOC_INFO agrees with sysfs (%s; map_size %llu, "
		      "%u ranges)", strerror(e),
		      (unsigned long long)info.map_size, info.nr_ranges);
		if (!e)
			map_size = info.map_size;
	} else {
		e = ioctl(fd, DAXLITE_IOC_INFO, &info) ? errno : 0;
		check(e == ENOTTY, "device-DAX refuses daxlite ioctls: %s",
		      strerror(e));
	}
	if (argc > 2)
		map_size = strtoull(argv[2], NULL, 0);
	printf("# expected mapping size %#llx\n", map_size);

	/* Without MAP_FIXED the kernel picks an aligned address. */
	p = mmap(NULL, align, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check(p != MAP_FAILED && !((uintptr_t)p & (align - 1)),
	      "mmap(NULL, align) returns an aligned address: %p", (void *)p);
	if (p != MAP_FAILED)
		munmap(p, align);

	/* Whole device, shared, at an aligned address. */
	p = map_aligned(fd, size, align, 0);
	check(p != MAP_FAILED, "mmap whole device MAP_SHARED|MAP_FIXED (%s)",
	      p == MAP_FAILED ? strerror(errno) : "success");
	if (p == MAP_FAILED)
		return 1;

	/* Touch every page of up to 16 align-sized chunks (64 MiB at most). */
	chunks = size / align < 16 ? size / align : 16;
	touched = chunks * align < (64u << 20) ? chunks * align : (64u << 20);
	long f0 = minor_faults();
	for (size_t off = 0; off < touched; off += pg)
		*(volatile uint64_t *)(p + off) = pattern(off);
	long faults = minor_faults() - f0;
	printf("# %zu pages touched: %ld minor faults\n", touched / pg, faults);
	if (map_size > pg)
		check(faults <= (long)((touched + map_size - 1) / map_size) * 2,
		      "huge mappings: at most 2 faults per %#llx mapped", map_size);

	/* Sparse pattern over the whole device, then read it back elsewhere. */
	stride = size / 64 > align ? size / 64 / align * align : align;
	for (size_t off = 0; off < size; off += stride)
		*(uint64_t *)(p + off + align - 8) = pattern(off);
	munmap(p, size);
	p = map_aligned(fd, size, align, 0);
	check(p != MAP_FAILED, "remap whole device");
	if (p == MAP_FAILED)
		return 1;
	int bad = 0;
	for (size_t off = 0; off < touched; off += pg)
		bad += *(uint64_t *)(p + off) != pattern(off);
	for (size_t off = 0; off < size; off += stride)
		bad += *(uint64_t *)(p + off + align - 8) != pattern(off);
	check(!bad, "data written before munmap reads back after remap "
	      "(%d mismatches)", bad);
	munmap(p, size);

	/* The rules. */
	e = mmap_errno(NULL, align, MAP_PRIVATE, fd, 0);
	check(e == EINVAL, "MAP_PRIVATE refused: errno %d (%s)", e, strerror(e));
	if (align > pg) {
		e = mmap_errno(NULL, pg, MAP_SHARED, fd, 0);
		check(e == EINVAL, "length %#zx < align refused: errno %d (%s)",
		      pg, e, strerror(e));
		e = mmap_errno(NULL, align, MAP_SHARED, fd, pg);
		check(e == EINVAL, "offset %#zx not aligned refused: errno %d (%s)",
		      pg, e, strerror(e));
		uint8_t *r = mmap(NULL, 3 * align, PROT_NONE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r != MAP_FAILED) {
			uint8_t *a = (uint8_t *)(((uintptr_t)r + align - 1) &
						 ~(uintptr_t)(align - 1));
			e = mmap_errno(a + pg, align, MAP_SHARED | MAP_FIXED, fd, 0);
			check(e == EINVAL, "MAP_FIXED at an address %#zx past "
			      "alignment refused: errno %d (%s)", pg, e, strerror(e));
			munmap(r, 3 * align);
		}
	}

	/*
	 * Where device-DAX and daxlite may differ: printed as "# behaviour"
	 * lines for the comparison, checked only where daxlite promises.
	 */
	if (align > pg && size >= 2 * align) {
		uint8_t *r = mmap(NULL, 3 * align, PROT_NONE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r != MAP_FAILED) {
			uint8_t *a = (uint8_t *)(((uintptr_t)r + align - 1) &
						 ~(uintptr_t)(align - 1));
			e = mmap_errno(a, align, MAP_SHARED | MAP_FIXED, fd, pg);
			printf("# behaviour: aligned MAP_FIXED address, offset "
			       "%#zx: %s\n", pg, e ? strerror(e) : "mapped");
			if (daxlite)
				check(e == EINVAL, "aligned address, unaligned "
				      "offset refused: %s", strerror(e));
			munmap(r, 3 * align);
		}
	}
	p = map_aligned(fd, align, align, 0);
	if (p != MAP_FAILED) {
		void *q;

		e = msync(p, align, MS_SYNC) ? errno : 0;
		printf("# behaviour: msync(MS_SYNC): %s\n",
		       e ? strerror(e) : "0");
		if (daxlite)
			check(e == 0, "msync(MS_SYNC) succeeds: %s", strerror(e));
		e = mlock(p, align) ? errno : 0;
		printf("# behaviour: mlock: %s\n", e ? strerror(e) : "0");
		munlock(p, align);
		q = mremap(p, align, 2 * align, 0);
		e = q == MAP_FAILED ? errno : 0;
		printf("# behaviour: mremap grow in place: %s\n",
		       e ? strerror(e) : "grown");
		munmap(p, q == MAP_FAILED ? align : 2 * align);
	}

	/* A vma cannot be split at an address that is not aligned. */
	if (align > pg && size >= 2 * align) {
		uint8_t *q = map_aligned(fd, 2 * align, align, 0);

		if (q != MAP_FAILED) {
			e = munmap(q + pg, pg) ? errno : 0;
			check(e == EINVAL, "partial munmap inside an aligned "
			      "block refused: errno %d (%s)", e, strerror(e));
			e = mprotect(q + align - pg, 2 * pg, PROT_READ) ? errno : 0;
			check(e == EINVAL, "mprotect across an aligned block "
			      "boundary refused: errno %d (%s)", e, strerror(e));
			e = munmap(q + align, align) ? errno : 0;
			check(e == 0, "munmap of the second aligned block: %s",
			      strerror(e));
			munmap(q, align);
		}
	}

	/* Past the end: the mapping is made, an access raises SIGBUS. */
	struct sigaction sa = { .sa_handler = on_sigbus };
	sigaction(SIGBUS, &sa, NULL);
	p = mmap(NULL, align, PROT_READ | PROT_WRITE, MAP_SHARED, fd, size);
	if (p == MAP_FAILED) {
		e = errno;
		check(0, "mmap past the end fails: errno %d (%s)", e, strerror(e));
	} else {
		volatile int got_bus = 0;
		if (!sigsetjmp(bus_jmp, 1))
			(void)*(volatile uint8_t *)p;
		else
			got_bus = 1;
		check(got_bus, "mmap past the end succeeds, access %s",
		      got_bus ? "raises SIGBUS" : "does NOT fault");
		munmap(p, align);
	}

	char b[64] = { 0 };
	n = read(fd, b, sizeof(b));
	e = n < 0 ? errno : 0;
	check(n < 0 && e == EINVAL, "read(2) refused: %zd (%s)", n, strerror(e));
	n = write(fd, b, sizeof(b));
	e = n < 0 ? errno : 0;
	check(n < 0 && e == EINVAL, "write(2) refused: %zd (%s)", n, strerror(e));

	close(fd);
	printf("# %s: %d failure(s)\n", dev, failures);
	return failures ? 1 : 0;
}
