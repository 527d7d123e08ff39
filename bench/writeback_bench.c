// SPDX-License-Identifier: MIT
/*
 * dax_writeback() against a raw libpmem2 persist of the same bytes, over a
 * mapping of 1 GiB in 4 KiB entries (the most entries per byte):
 *
 *  - fully dirty: every entry written; writeback of the whole mapping vs
 *    one pmem2 persist call per entry (the same ranges), and vs one call
 *    per run of consecutive region pages (what dax_writeback() does);
 *  - 1% dirty: every 100th entry; the same comparison;
 *  - clean: a writeback over the whole mapping with nothing dirty (the cost
 *    of finding nothing: one tagged-mark search), per call.
 *
 * The region is a memfd, so libpmem2's granularity is PAGE and both sides
 * flush with msync: the ratio measures libdax's overhead (marks, entry
 * locks, tree walks) around the same flushes.  Each figure is the best of
 * several runs (2 shared cores: noisy).  Run: writeback_bench [--quick]
 * (--quick: 64 MiB).
 */
#include <libpmem2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libdax.h"
#include "libdax/internal.h"

#define PAGE 4096
#define RUNS 5

static struct dax_region *region;
static struct dax_mapping *mapping;
static uint64_t nr_pages;
static uint64_t *pfns;		/* region page of each mapping index */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "writeback_bench: %s: %s\n", what, dax_errormsg());
	exit(1);
}

/* Dirty every @stride-th entry (a write fault and a store each). */
static void dirty(uint64_t stride)
{
	struct dax_fault_ext ext;

	for (uint64_t i = 0; i < nr_pages; i += stride) {
		if (dax_fault(mapping, i, DAX_FAULT_WRITE, &ext))
			die("dax_fault");
		*(volatile char *)ext.addr = (char)i;
		pfns[i] = ext.pfn;
	}
}

static double time_writeback(void)
{
	double t0 = now();

	if (dax_writeback(mapping, 0, nr_pages - 1))
		die("dax_writeback");
	return now() - t0;
}

static double time_raw(uint64_t stride)
{
	pmem2_persist_fn persist =
		pmem2_get_persist_fn(dax_region_pmem2_map(region));
	char *base = dax_region_get_base(region);
	double t0 = now();

	for (uint64_t i = 0; i < nr_pages; i += stride) {
		base[pfns[i] * PAGE] = (char)i;
		persist(base + pfns[i] * PAGE, PAGE);
	}
	return now() - t0;
}

/* The same bytes, one persist per run of consecutive region pages. */
static double time_raw_runs(uint64_t stride)
{
	pmem2_persist_fn persist =
		pmem2_get_persist_fn(dax_region_pmem2_map(region));
	char *base = dax_region_get_base(region);
	uint64_t run = 0, n = 0;
	double t0 = now();

	for (uint64_t i = 0; i < nr_pages; i += stride) {
		base[pfns[i] * PAGE] = (char)i;
		if (n && pfns[i] == run + n) {
			n++;
			continue;
		}
		if (n)
			persist(base + run * PAGE, n * PAGE);
		run = pfns[i];
		n = 1;
	}
	if (n)
		persist(base + run * PAGE, n * PAGE);
	return now() - t0;
}

static void compare(const char *name, uint64_t stride)
{
	double wb = 1e9, raw = 1e9, runs = 1e9, t;

	for (int run = 0; run < RUNS; run++) {
		dirty(stride);
		t = time_writeback();
		wb = t < wb ? t : wb;
		t = time_raw(stride);
		raw = t < raw ? t : raw;
		t = time_raw_runs(stride);
		runs = t < runs ? t : runs;
	}
	printf("%-12s %8llu entries  writeback %9.3f ms\n"
	       "%-12s raw persist per entry %9.3f ms (ratio %.2fx), per run "
	       "of consecutive pages %9.3f ms (ratio %.2fx)\n",
	       name, (unsigned long long)((nr_pages + stride - 1) / stride),
	       wb * 1e3, "", raw * 1e3, wb / raw, runs * 1e3, wb / runs);
}

int main(int argc, char **argv)
{
	static const struct dax_mapping_ops ops;
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	uint64_t bytes = quick ? 64 * DAX_MiB : DAX_GiB;
	struct dax_region_opts *o;
	enum dax_granularity g;
	double best = 1e9, t;

	nr_pages = bytes / PAGE;
	pfns = calloc(nr_pages, sizeof(*pfns));
	if (!pfns || dax_region_opts_new(&o) ||
	    dax_region_opts_set_size(o, bytes + 64 * DAX_MiB) ||
	    dax_region_open("memfd:writeback-bench", o, &region))
		die("open");
	dax_region_opts_delete(&o);
	if (dax_mapping_new(region, &ops, NULL, bytes, &mapping))
		die("dax_mapping_new");
	dax_region_get_granularity(region, &g);
	printf("writeback_bench: %llu MiB mapping, 4 KiB entries, granularity "
	       "%s, best of %d\n",
	       (unsigned long long)(bytes >> 20),
	       g == DAX_GRANULARITY_PAGE ? "page" :
	       g == DAX_GRANULARITY_CACHE_LINE ? "cache line" : "byte", RUNS);
	compare("fully dirty", 1);
	compare("1% dirty", 100);
	dirty(1);
	time_writeback();
	for (int run = 0; run < RUNS * 4; run++) {
		t = time_writeback();
		best = t < best ? t : best;
	}
	printf("%-12s %8llu entries  writeback %9.3f us per call (%.2f ns "
	       "per entry)\n",
	       "clean", (unsigned long long)nr_pages, best * 1e6,
	       best * 1e9 / (double)nr_pages);
	dax_fault_release_blocks(mapping);
	dax_mapping_put(&mapping);
	dax_region_close(&region);
	free(pfns);
	return 0;
}
