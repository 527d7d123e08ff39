// SPDX-License-Identifier: MIT
/*
 * quickstart: what libdax can do today, in six steps.
 *
 * Opens a region -- by default an emulated one in a 64 MiB memfd made of
 * two fake physical resources, or the file or /dev/daxX.Y named on the
 * command line -- shows its kind, alignment and resources (with the
 * offset -> physical address walk), writes a pattern through the mapping,
 * persists it, reads it back, then kills the region and shows that the next
 * operation is refused with an errno and an explanation.
 *
 * Build: cc quickstart.c $(pkg-config --cflags --libs libdax)
 * Run:   ./a.out                 a 64 MiB memfd, 2 MiB alignment
 *        ./a.out /tmp/region     a file (created or extended to 64 MiB)
 *        ./a.out /dev/dax0.0     kernel device-DAX (as root)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* strerrorname_np */
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdax.h>

#define MiB ((uint64_t)1 << 20)
#define DEMO_SIZE (64 * MiB)

/* Two fake physical ranges for the memfd, so the translation has work. */
static const struct { uint64_t phys, size; } fake_resources[] = {
	{ 0x140000000ULL, 32 * MiB },
	{ 0x280000000ULL, 32 * MiB },
};

/* 4096 -> "4 KiB", 2097152 -> "2 MiB", 1 GiB -> "1 GiB". */
static const char *size_str(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB" };
	unsigned u = 0;

	while (u < 3 && bytes && !(bytes & 1023)) {
		bytes >>= 10;
		u++;
	}
	snprintf(buf, len, "%" PRIu64 " %s", bytes, units[u]);
	return buf;
}

static int failed(const char *what, int ret)
{
	printf("      FAILED\n");
	fprintf(stderr, "quickstart: %s: %s (%s): %s\n", what,
		strerrorname_np(-ret), strerror(-ret), dax_errormsg());
	return 1;
}

static int open_region(const char *path, struct dax_region **r)
{
	struct dax_region_opts *opts = NULL;
	bool device = !strncmp(path, "/dev/", 5);
	size_t i;
	int ret;

	ret = dax_region_opts_new(&opts);
	if (ret)
		return failed("dax_region_opts_new", ret);
	if (!device)
		ret = dax_region_opts_set_size(opts, DEMO_SIZE);
	if (!ret && !device && strncmp(path, "memfd:", 6))
		ret = dax_region_opts_set_flags(opts, DAX_REGION_CREATE);
	for (i = 0; !ret && !strncmp(path, "memfd:", 6) && i < 2; i++)
		ret = dax_region_opts_add_resource(opts,
						   fake_resources[i].phys,
						   fake_resources[i].size);
	if (!ret)
		ret = dax_region_open(path, opts, r);
	dax_region_opts_delete(&opts);
	return ret ? failed(path, ret) : 0;
}

static int show_region(struct dax_region *r)
{
	uint64_t align = dax_region_get_align(r), phys, off;
	uintptr_t base = (uintptr_t)dax_region_get_base(r);
	unsigned i, n = dax_region_get_nr_resources(r), res;
	int ret, node = dax_region_get_numa_node(r);
	struct dax_resource rs;
	char buf[32];

	printf("      kind       %s\n",
	       dax_region_kind_name(dax_region_get_kind(r)));
	printf("      size       %s\n",
	       size_str(dax_region_get_size(r), buf, sizeof(buf)));
	printf("      align      %s\n", size_str(align, buf, sizeof(buf)));
	printf("      base       %p (%saligned to %s)\n", (void *)base,
	       base % align ? "NOT " : "", buf);
	if (node < 0)
		printf("      numa node  unknown\n");
	else
		printf("      numa node  %d\n", node);
	printf("      resources  %u\n", n);
	for (i = 0; i < n; i++) {
		ret = dax_region_get_resource(r, i, &rs);
		if (ret)
			return failed("dax_region_get_resource", ret);
		off = rs.page_offset * 4096;
		ret = dax_region_offset_to_phys(r, off, &phys, &res);
		if (ret)
			return failed("dax_region_offset_to_phys", ret);
		printf("        %u: phys 0x%" PRIx64 "-0x%" PRIx64
		       "; offset 0x%" PRIx64 " -> phys 0x%" PRIx64
		       " (resource %u)\n", i, rs.start, rs.end, off, phys, res);
	}
	return base % align ? failed("base alignment", -EINVAL) : 0;
}

/* Steps 2-4: write a pattern, persist it, read it back. */
static int write_and_verify(struct dax_region *r)
{
	uint64_t len = dax_region_get_size(r), i, bad = 0;
	uint64_t *words = dax_region_get_base(r);
	int ret;

	if (len > DEMO_SIZE)
		len = DEMO_SIZE;
	printf("[2/6] write a pattern into the first %" PRIu64
	       " MiB through the base pointer\n", len / MiB);
	for (i = 0; i < len / 8; i++)
		words[i] = i * 0x9e3779b97f4a7c15ULL;

	printf("[3/6] dax_region_persist(0, %" PRIu64 " MiB)\n", len / MiB);
	ret = dax_region_persist(r, 0, len);
	if (ret)
		return failed("dax_region_persist", ret);

	printf("[4/6] read it back: ");
	for (i = 0; i < len / 8; i++)
		bad += words[i] != i * 0x9e3779b97f4a7c15ULL;
	printf("%" PRIu64 " words checked, %" PRIu64 " wrong\n", len / 8,
	       bad);
	return bad ? failed("verify", -EIO) : 0;
}

/* Step 5: after a kill, the region refuses new work with -ENXIO. */
static int kill_region(struct dax_region *r)
{
	int ret;

	printf("[5/6] dax_region_kill(): the region is shut down\n");
	ret = dax_region_kill(r);
	if (ret)
		return failed("dax_region_kill", ret);
	printf("      alive: %s\n", dax_region_is_alive(r) ? "yes" : "no");
	ret = dax_region_persist(r, 0, dax_region_get_align(r));
	if (ret == 0) {
		fprintf(stderr, "quickstart: persist after kill succeeded\n");
		return 1;
	}
	printf("      persist after kill: %s (%s)\n      dax_errormsg(): %s\n",
	       strerrorname_np(-ret), strerror(-ret), dax_errormsg());
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "memfd:quickstart";
	struct dax_region *r = NULL;
	int ret;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [FILE | /dev/daxX.Y]\n", argv[0]);
		return 2;
	}
	printf("libdax quickstart\n[1/6] dax_region_open(\"%s\")\n", path);
	if (open_region(path, &r) || show_region(r) || write_and_verify(r) ||
	    kill_region(r)) {
		if (r)
			dax_region_close(&r);
		return 1;
	}

	printf("[6/6] dax_region_close()\n");
	ret = dax_region_close(&r);
	if (ret)
		return failed("dax_region_close", ret);
	printf("quickstart: all steps passed%s\n",
	       r == NULL ? "" : " (but the handle was not cleared)");
	return r == NULL ? 0 : 1;
}
