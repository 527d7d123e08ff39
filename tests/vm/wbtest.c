// SPDX-License-Identifier: MIT
/*
 * wbtest: libdax's sysfs side of an NVDIMM region and writeback on a real
 * device-DAX device, in the test VM (tests/vm/check-vm.sh).
 *
 *   wbtest DEVICE DEEP_FLUSH NR_BAD
 *
 * DEEP_FLUSH is what the guest script read from the nd region's
 * deep_flush attribute ("1", "0", or "absent"); NR_BAD the number of
 * region pages the guest script expects bad (from the region's badblocks
 * file, 0 when it is empty).  Opens DEVICE with dax_region_open() and
 * checks that dax_region_get_deep_flush() is true exactly for "1", that
 * dax_region_get_badblocks() lists NR_BAD pages, in order, that the
 * allocator never hands them out, and that dax_writeback() of a dirty
 * 2 MiB entry and of 4 KiB entries works and leaves nothing dirty (with a
 * deep flush at the end when the capability is there).  One "ok"/"not ok"
 * line per check; exit 1 if any failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libdax.h"

#include "vmtest.h"

static void log_line(void *priv, enum dax_log_level level, const char *msg)
{
	(void)priv;
	printf("libdax[%d]: %s\n", (int)level, msg);
}

int main(int argc, char **argv)
{
	static const struct dax_mapping_ops ops;	/* built-in allocator */
	struct dax_region_opts *opts = NULL;
	struct dax_region *r = NULL;
	struct dax_mapping *m = NULL;
	struct dax_fault_ext ext;
	uint64_t pages[64], nr = 0, want_bad, i;
	bool df = false, want_df;
	int rc;

	if (argc != 4) {
		fprintf(stderr, "usage: wbtest DEVICE DEEP_FLUSH NR_BAD\n");
		return 2;
	}
	want_df = !strcmp(argv[2], "1");
	want_bad = strtoull(argv[3], NULL, 0);
	if (dax_region_opts_new(&opts) ||
	    dax_region_opts_set_log(opts, log_line, NULL, DAX_LOG_DEBUG)) {
		printf("not ok - options: %s\n", dax_errormsg());
		return 1;
	}
	rc = dax_region_open(argv[1], opts, &r);
	dax_region_opts_delete(&opts);
	check(rc == 0, "open %s: %s", argv[1], rc ? dax_errormsg() : "");
	if (rc)
		return 1;

	rc = dax_region_get_deep_flush(r, &df);
	check(rc == 0 && df == want_df,
	      "deep_flush capability %d for sysfs deep_flush \"%s\"", df,
	      argv[2]);

	rc = dax_region_get_badblocks(r, pages, 64, &nr);
	check(rc == 0 && nr == want_bad,
	      "dax_region_get_badblocks: %llu pages (want %llu)",
	      (unsigned long long)nr, (unsigned long long)want_bad);
	for (i = 0; i < nr && i < 64; i++) {
		printf("    bad region page 0x%llx\n",
		       (unsigned long long)pages[i]);
		if (i)
			check(pages[i] > pages[i - 1], "bad pages in order");
	}

	rc = dax_mapping_new(r, &ops, NULL, 64 << 20, &m);
	check(rc == 0, "dax_mapping_new: %s", rc ? dax_errormsg() : "");
	if (rc)
		goto out;
	rc = dax_fault(m, 0, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M, &ext);
	check(rc == 0, "a 2 MiB write fault: %s", rc ? dax_errormsg() : "");
	if (!rc)
		memset(ext.addr, 0x5a, 4096);
	for (i = 1024; i < 1024 + 300 && !rc; i++) {
		rc = dax_fault(m, i, DAX_FAULT_WRITE, &ext);
		if (!rc) {
			*(volatile uint64_t *)ext.addr = i;
			for (uint64_t b = 0; b < nr && b < 64; b++)
				if (ext.pfn == pages[b])
					check(0, "page 0x%llx is bad but was "
						 "handed out",
					      (unsigned long long)ext.pfn);
		}
	}
	check(rc == 0, "300 4 KiB write faults: %s", rc ? dax_errormsg() : "");
	rc = dax_writeback(m, 0, (64 << 20) / 4096 - 1);
	check(rc == 0, "dax_writeback of a 2 MiB entry and 300 4 KiB ones: %s",
	      rc ? dax_errormsg() : "");
	rc = dax_writeback(m, 0, (64 << 20) / 4096 - 1);
	check(rc == 0, "a second (clean) dax_writeback: %s",
	      rc ? dax_errormsg() : "");
	dax_mapping_put(&m);	/* the last put frees the blocks */
out:
	rc = dax_region_close(&r);
	check(rc == 0, "close: %s", rc ? dax_errormsg() : "");
	return failures ? 1 : 0;
}
