// SPDX-License-Identifier: MIT
/*
 * regiontest: libdax regions on a real device, in the test VM
 * (tests/vm/check-vm.sh; built against $(B)/libdax.a once libdax/region.c
 * exists, its shared libraries copied into the image).
 *
 *   regiontest DEVICE
 *
 * Opens DEVICE (/dev/daxX.Y or /dev/daxliteN) with dax_region_open() and
 * checks what libdax reports against what sysfs says: kind, alignment,
 * size, resources and offset-to-physical translation; that the mapping is
 * aligned; that data written through it reads back after a reopen; that a
 * private open is refused; that a killed region says so.  One "ok"/"not
 * ok" line per check; exit 1 if any failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include "libdax.h"

#include "vmtest.h"

static char sysdir[128];

static int sysfs_ull(const char *name, unsigned long long *val)
{
	char path[256];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "%s/%s", sysdir, name);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fscanf(f, "%lli", (long long *)val);
	fclose(f);
	return n == 1 ? 0 : -EINVAL;
}

static uint64_t pattern(uint64_t off)
{
	return 0x243f6a8885a308d3ull ^ (off * 0x9e3779b97f4a7c15ull);
}

/* A crash in libdax or below it prints where, for the VM's log. */
static void on_crash(int sig)
{
	void *frames[32];
	int n = backtrace(frames, 32);

	dprintf(1, "not ok - signal %d; backtrace:\n", sig);
	backtrace_symbols_fd(frames, n, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/dax0.0";
	unsigned long long align, size, start, end, pgoff;
	enum dax_region_kind want;
	struct dax_region_opts *opts = NULL;
	struct dax_region *r = NULL;
	struct dax_resource res;
	struct stat st;
	unsigned nres, n;
	uint64_t phys, stride;
	unsigned idx;
	uint8_t *base;
	int rc, bad;

	signal(SIGSEGV, on_crash);
	signal(SIGBUS, on_crash);
	signal(SIGABRT, on_crash);
	if (stat(dev, &st) || !S_ISCHR(st.st_mode)) {
		printf("not ok - %s is not a character device\n", dev);
		return 1;
	}
	snprintf(sysdir, sizeof(sysdir), "/sys/dev/char/%u:%u",
		 major(st.st_rdev), minor(st.st_rdev));
	want = strstr(dev, "daxlite") ? DAX_REGION_KIND_MODULE :
					DAX_REGION_KIND_DEVDAX;
	if (sysfs_ull("align", &align) || sysfs_ull("size", &size)) {
		printf("not ok - %s: no align/size in sysfs\n", sysdir);
		return 1;
	}

	rc = dax_region_open(dev, NULL, &r);
	check(!rc, "dax_region_open(%s): %s %s", dev, strerror(-rc),
	      rc ? dax_errormsg() : "");
	if (rc)
		return 1;
	check(dax_region_get_kind(r) == want, "kind %s",
	      dax_region_kind_name(dax_region_get_kind(r)));
	check(dax_region_get_align(r) == align, "align %#llx == sysfs %#llx",
	      (unsigned long long)dax_region_get_align(r), align);
	check(dax_region_get_device_size(r) == size,
	      "device size %llu == sysfs %llu",
	      (unsigned long long)dax_region_get_device_size(r), size);
	check(dax_region_get_size(r) == size, "mapped size %llu == %llu",
	      (unsigned long long)dax_region_get_size(r), size);
	base = dax_region_get_base(r);
	check(base && !((uintptr_t)base % align), "base %p is aligned",
	      (void *)base);

	/* Resources: the same ranges as mappingN/, in order. */
	nres = dax_region_get_nr_resources(r);
	for (n = 0; n < nres; n++) {
		char name[64];

		snprintf(name, sizeof(name), "mapping%u/start", n);
		if (sysfs_ull(name, &start))
			break;
		snprintf(name, sizeof(name), "mapping%u/end", n);
		sysfs_ull(name, &end);
		snprintf(name, sizeof(name), "mapping%u/page_offset", n);
		sysfs_ull(name, &pgoff);
		if (dax_region_get_resource(r, n, &res) || res.start != start ||
		    res.end != end || res.page_offset != pgoff)
			break;
	}
	char extra[64];
	snprintf(extra, sizeof(extra), "mapping%u/start", nres);
	check(nres > 0 && n == nres && sysfs_ull(extra, &start) == -ENOENT,
	      "%u resources match mapping0..%u, and there are no more", nres,
	      nres - 1);

	/* Translation: the first byte of each resource, and one inside. */
	bad = 0;
	for (n = 0; n < nres; n++) {
		if (dax_region_get_resource(r, n, &res))
			break;
		uint64_t off = res.page_offset * 4096;
		if (dax_region_offset_to_phys(r, off, &phys, &idx) ||
		    phys != res.start || idx != n)
			bad++;
		off += (res.end - res.start) / 2 & ~4095ull;
		if (dax_region_offset_to_phys(r, off, &phys, &idx) ||
		    phys != res.start + (off - res.page_offset * 4096) ||
		    idx != n)
			bad++;
	}
	check(!bad, "dax_region_offset_to_phys agrees with the resources "
	      "(%d mismatches)", bad);
	rc = dax_region_offset_to_phys(r, size, &phys, &idx);
	check(rc == -EINVAL || rc == -ERANGE || rc == -ENXIO,
	      "offset_to_phys past the end refused: %d", rc);

	/* Data: written through the region, read back after a reopen. */
	stride = size / 256 > 4096 ? size / 256 / 4096 * 4096 : 4096;
	for (uint64_t off = 0; off < size; off += stride)
		*(volatile uint64_t *)(base + off) = pattern(off);
	rc = dax_region_persist(r, 0, align);
	check(!rc, "dax_region_persist(0, align): %s", strerror(-rc));
	rc = dax_region_close(&r);
	check(!rc && !r, "dax_region_close: %s", strerror(-rc));

	rc = dax_region_open(dev, NULL, &r);
	check(!rc, "reopen: %s", strerror(-rc));
	if (rc)
		return 1;
	base = dax_region_get_base(r);
	bad = 0;
	for (uint64_t off = 0; off < size; off += stride)
		bad += *(volatile uint64_t *)(base + off) != pattern(off);
	check(!bad, "data reads back after reopen (%d mismatches)", bad);

	/*
	 * Pages the kernel holds: a pipe filled by vmsplice takes references
	 * on 16 pages of the mapping until it is read.
	 */
	uint64_t nbusy = 99;
	rc = dax_region_count_busy(r, 0, size, &nbusy);
	if (want != DAX_REGION_KIND_MODULE) {
		check(rc == -EOPNOTSUPP, "count_busy on device-DAX: %d (%s)",
		      rc, dax_errormsg());
	} else {
		struct iovec iov = { .iov_base = base + align, .iov_len = 65536 };
		uint64_t held = 99, after = 99;
		int pfd[2];

		check(!rc && nbusy == 0, "count_busy, idle: %d, %llu", rc,
		      (unsigned long long)nbusy);
		if (size >= 2 * align && !pipe(pfd) &&
		    vmsplice(pfd[1], &iov, 1, 0) == 65536) {
			static char sink[65536];

			rc = dax_region_count_busy(r, 0, size, &held);
			check(!rc && held >= 16, "count_busy with a vmsplice'd "
			      "pipe: %d, %llu pages", rc,
			      (unsigned long long)held);
			rc = dax_region_count_busy(r, 0, align, &nbusy);
			check(!rc && nbusy == 0, "count_busy of another block: "
			      "%llu", (unsigned long long)nbusy);
			for (size_t got = 0; got < sizeof(sink);)
				got += read(pfd[0], sink, sizeof(sink));
			rc = dax_region_count_busy(r, 0, size, &after);
			check(!rc && after == 0, "count_busy after the pipe is "
			      "read: %llu", (unsigned long long)after);
			close(pfd[0]);
			close(pfd[1]);
		}
	}

	rc = dax_region_kill(r);
	check(!rc && !dax_region_is_alive(r), "dax_region_kill: %s, alive %d",
	      strerror(-rc), dax_region_is_alive(r));
	dax_region_close(&r);

	/* A private mapping is refused, as the kernel refuses it. */
	if (!dax_region_opts_new(&opts)) {
		dax_region_opts_set_flags(opts, DAX_REGION_PRIVATE);
		rc = dax_region_open(dev, opts, &r);
		check(rc == -EINVAL, "DAX_REGION_PRIVATE refused: %d (%s)", rc,
		      dax_errormsg());
		if (!rc)
			dax_region_close(&r);
		dax_region_opts_delete(&opts);
	}

	printf("# regiontest %s: %d failure(s)\n", dev, failures);
	return failures ? 1 : 0;
}
