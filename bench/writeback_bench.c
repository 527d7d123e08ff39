// SPDX-License-Identifier: MIT
/*
 * dax_writeback() against a raw libpmem2 persist of the same bytes, on the
 * same region (so the same libpmem2 map and persist function on both
 * sides), over a mapping in 4 KiB entries (the most entries per byte):
 *
 *  - fully dirty: every entry written; a writeback of the whole mapping vs
 *    one pmem2 persist call per run of consecutive region pages (the
 *    fewest calls that cover exactly the dirty bytes);
 *  - 1% dirty: every 100th entry; vs one persist per dirty page;
 *  - clean: a writeback of the whole mapping with nothing dirty, per call
 *    and per mapped GiB (no peer).
 *
 * Both sides store 8 bytes into each dirty page right before they are
 * timed (the writeback side through a write fault, which marks the entry
 * dirty), so each flushes the same dirty cache lines or page-cache pages.
 * Regions, because libpmem2's granularity decides what a flush is:
 *
 *  - memfd: tmpfs, PAGE granularity: persist is msync, which tmpfs
 *    answers without I/O (a few microseconds per GiB), so the ratio is
 *    libdax's bookkeeping over almost nothing;
 *  - file: a file in $TMPDIR (default /tmp, a disk here), PAGE: msync
 *    writes the dirty pages out;
 *  - cacheline: /dev/zero presented as device-DAX through a fake sysfs
 *    tree (libdax maps it itself and gives libpmem2 CACHE_LINE
 *    granularity, as for the module's devices): persist is a cache-line
 *    flush of every line plus a fence, what ADR pmem costs.
 *
 * Each figure is the best of several runs (2 shared cores: noisy).
 * Prints bench_ratio() lines (bench/bench.h).  DAX_BENCH_QUICK=1: 64 MiB
 * (16 MiB for the disk file) and fewer runs, well under a minute.
 */
#include <libpmem2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "libdax.h"
#include "libdax/internal.h"

#define PAGE 4096

static struct dax_region *region;
static struct dax_mapping *mapping;
static uint64_t nr_pages;
static uint64_t *pfns;		/* region page of each mapping index */
static int runs;

static void die(const char *what)
{
	fprintf(stderr, "writeback_bench: %s: %s\n", what, dax_errormsg());
	exit(1);
}

/* Dirty every @stride-th entry (a write fault and a store each). */
static void dirty(uint64_t stride, uint64_t v)
{
	struct dax_fault_ext ext;

	for (uint64_t i = 0; i < nr_pages; i += stride) {
		if (dax_fault(mapping, i, DAX_FAULT_WRITE, &ext))
			die("dax_fault");
		*(volatile uint64_t *)ext.addr = v + i;
		pfns[i] = ext.pfn;
	}
}

/* The same stores without faults, for the raw side. */
static void store(uint64_t stride, uint64_t v)
{
	char *base = dax_region_get_base(region);

	for (uint64_t i = 0; i < nr_pages; i += stride)
		*(volatile uint64_t *)(base + pfns[i] * PAGE) = v + i;
}

static double time_writeback(void)
{
	double t0 = bench_now();

	if (dax_writeback(mapping, 0, nr_pages - 1))
		die("dax_writeback");
	return bench_now() - t0;
}

/* One persist per run of consecutive region pages among the dirty ones. */
static double time_raw(uint64_t stride)
{
	pmem2_persist_fn persist =
		pmem2_get_persist_fn(dax_region_pmem2_map(region));
	char *base = dax_region_get_base(region);
	uint64_t run = 0, n = 0;
	double t0 = bench_now();

	for (uint64_t i = 0; i < nr_pages; i += stride) {
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
	return bench_now() - t0;
}

static double min(double a, double b)
{
	return a < b ? a : b;
}

static void compare(const char *kind, const char *name, uint64_t stride)
{
	double wb = 1e9, raw = 1e9;
	char metric[96];

	for (int run = 0; run < runs; run++) {
		dirty(stride, (uint64_t)run << 32);
		wb = min(wb, time_writeback());
		store(stride, (uint64_t)run << 40);
		raw = min(raw, time_raw(stride));
	}
	printf("%-10s %-12s %8llu entries: writeback %9.3f ms, raw persist "
	       "%9.3f ms (%.1f ns per entry more)\n",
	       kind, name,
	       (unsigned long long)((nr_pages + stride - 1) / stride), wb * 1e3,
	       raw * 1e3,
	       (wb - raw) * 1e9 / (double)((nr_pages + stride - 1) / stride));
	snprintf(metric, sizeof(metric), "%s_%s_vs_raw_persist", kind, name);
	bench_ratio("writeback", metric, wb / raw, "<=1.1",
		    "libpmem2 persist of the same bytes");
}

/* A clean call is too short to time alone: calls per sample. */
#define CLEAN_CALLS 10000

static void clean(const char *kind, uint64_t bytes)
{
	double best = 1e9, t0;
	char metric[96];

	dirty(1, 0);
	time_writeback();
	for (int run = 0; run < runs; run++) {
		t0 = bench_now();
		for (int i = 0; i < CLEAN_CALLS; i++)
			if (dax_writeback(mapping, 0, nr_pages - 1))
				die("dax_writeback");
		best = min(best, (bench_now() - t0) / CLEAN_CALLS);
	}
	printf("%-10s %-12s %8llu entries: writeback %9.3f us per call, "
	       "%.3f us per mapped GiB\n",
	       kind, "clean", (unsigned long long)nr_pages, best * 1e6,
	       best * 1e6 / ((double)bytes / DAX_GiB));
	/* ns per call over ns of nothing: reported, no goal and no peer */
	snprintf(metric, sizeof(metric), "%s_clean_ns_per_call", kind);
	bench_ratio("writeback", metric, best * 1e9, NULL, "none (ns)");
}

static void put(const char *root, const char *name, const char *text)
{
	char path[320];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f))
		die(path);
}

/* A fake sysfs tree presenting /dev/zero as device-DAX of @size bytes. */
static char *fake_sysfs(uint64_t size)
{
	static const char *const dirs[] = { "dax0.0", "bus", "bus/dax", "dev",
					    "dev/char" };
	static char root[] = "/tmp/wb-bench-sysfs-XXXXXX";
	char path[320], target[320], text[32];
	struct stat st;

	if (!mkdtemp(root) || stat("/dev/zero", &st))
		die("fake sysfs");
	for (unsigned i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		if (mkdir(path, 0755))
			die(path);
	}
	snprintf(target, sizeof(target), "%s/bus/dax", root);
	snprintf(path, sizeof(path), "%s/dax0.0/subsystem", root);
	if (symlink(target, path))
		die(path);
	snprintf(target, sizeof(target), "%s/dax0.0", root);
	snprintf(path, sizeof(path), "%s/dev/char/%u:%u", root,
		 major(st.st_rdev), minor(st.st_rdev));
	if (symlink(target, path))
		die(path);
	snprintf(text, sizeof(text), "%llu\n", (unsigned long long)size);
	put(target, "size", text);
	put(target, "align", "2097152\n");
	return root;
}

static void remove_fake_sysfs(const char *root)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd))
		fprintf(stderr, "writeback_bench: could not remove %s\n", root);
}

static void run_kind(const char *kind, uint64_t bytes)
{
	static const struct dax_mapping_ops ops;
	struct dax_region_opts *o;
	enum dax_granularity g;
	char path[256], *root = NULL;
	uint64_t size = bytes + 64 * DAX_MiB;

	nr_pages = bytes / PAGE;
	pfns = calloc(nr_pages, sizeof(*pfns));
	if (!pfns || dax_region_opts_new(&o) ||
	    dax_region_opts_set_size(o, size))
		die("options");
	if (!strcmp(kind, "memfd")) {
		snprintf(path, sizeof(path), "memfd:writeback-bench");
	} else if (!strcmp(kind, "file")) {
		const char *dir = getenv("TMPDIR");

		snprintf(path, sizeof(path), "%s/wb-bench-%d",
			 dir ? dir : "/tmp", (int)getpid());
		if (dax_region_opts_set_flags(o, DAX_REGION_CREATE))
			die("options");
	} else {
		root = fake_sysfs(size);
		snprintf(path, sizeof(path), "/dev/zero");
		dax_region_opts_delete(&o);
		if (dax_region_opts_new(&o) ||
		    dax_region_opts_set_sysfs_root(o, root))
			die("options");
	}
	if (dax_region_open(path, o, &region))
		die(path);
	dax_region_opts_delete(&o);
	if (dax_mapping_new(region, &ops, NULL, bytes, &mapping))
		die("dax_mapping_new");
	dax_region_get_granularity(region, &g);
	printf("%s: %s, %llu MiB mapping in 4 KiB entries, granularity %s, "
	       "best of %d\n",
	       kind, path, (unsigned long long)(bytes >> 20),
	       g == DAX_GRANULARITY_PAGE ? "page" :
	       g == DAX_GRANULARITY_CACHE_LINE ? "cache line" : "byte", runs);
	compare(kind, "full_dirty", 1);
	compare(kind, "1pct_dirty", 100);
	clean(kind, bytes);
	dax_mapping_put(&mapping);
	if (dax_region_close(&region))
		die("close");
	if (!strcmp(kind, "file"))
		unlink(path);
	if (root)
		remove_fake_sysfs(root);
	free(pfns);
}

int main(int argc, char **argv)
{
	bool quick = bench_quick() || (argc > 1 && !strcmp(argv[1], "--quick"));
	uint64_t bytes = quick ? 64 * DAX_MiB : DAX_GiB;

	runs = quick ? 3 : 5;
	run_kind("memfd", bytes);
	run_kind("cacheline", bytes);
	/* msync to a disk: fewer bytes, the cost is the disk's */
	runs = quick ? 2 : 3;
	run_kind("file", quick ? 16 * DAX_MiB : 256 * DAX_MiB);
	return 0;
}
