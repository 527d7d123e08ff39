// SPDX-License-Identifier: MIT
/*
 * daxctl-lite check PATH...: does the mapping a program gets look the way
 * device-DAX promises?  Open the region, check that libdax placed it at an
 * address aligned to the region alignment, read one byte per alignment
 * unit (read-only; a unit whose read raises SIGBUS is counted, not fatal),
 * and report what the kernel says about the mapping in /proc/self/smaps:
 * its page size, and how much of it is mapped with 2 MiB (PMD) entries.
 * That is how a device-DAX user sees whether 2 MiB or 1 GiB mappings
 * really happened.
 *
 * daxctl-lite busy PATH...: pages of the region the kernel holds
 * (get_user_pages pins: O_DIRECT I/O, vmsplice, RDMA), as
 * dax_region_count_busy(3) reports them; only the companion module's
 * devices can tell, the others are an error ("cannot know").
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libdax.h"
#include "daxctl-lite.h"

/* ---- reading each alignment unit ------------------------------------------ */

static sigjmp_buf touch_env;

static void touch_sigbus(int sig)
{
	siglongjmp(touch_env, 1);
}

struct touch_result {
	uint64_t units, touched, sigbus;
	int64_t first_sigbus;	/* -1: none */
};

/*
 * Read the first byte of every @align unit of [@base, @base + @size);
 * a unit whose read raises SIGBUS (poison, a device gone) is counted.
 */
static void touch_units(const volatile char *base, uint64_t size,
			uint64_t align, struct touch_result *t)
{
	struct sigaction sa, old;
	volatile uint64_t off;

	memset(t, 0, sizeof(*t));
	t->first_sigbus = -1;
	t->units = size / align;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = touch_sigbus;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	for (off = 0; off < size; off += align) {
		if (sigsetjmp(touch_env, 1)) {
			t->sigbus++;
			if (t->first_sigbus < 0)
				t->first_sigbus = (int64_t)off;
			continue;
		}
		(void)base[off];
		t->touched++;
	}
	sigaction(SIGBUS, &old, NULL);
}

/* ---- /proc/self/smaps ------------------------------------------------------- */

struct smaps_sum {
	unsigned vmas;
	uint64_t kernel_page, mmu_page;	/* bytes, of the first VMA */
	uint64_t rss, pmd_mapped;	/* bytes, summed */
};

/* "Name:   123 kB" -> bytes; false for another line. */
static bool smaps_field(const char *line, const char *name, uint64_t *bytes)
{
	size_t n = strlen(name);
	unsigned long long kb;

	if (strncmp(line, name, n) || line[n] != ':' ||
	    sscanf(line + n + 1, "%llu", &kb) != 1)
		return false;
	*bytes = (uint64_t)kb * 1024;
	return true;
}

/* The VMAs overlapping [@start, @end). Return: 0 or -errno. */
static int smaps_read(uintptr_t start, uintptr_t end, struct smaps_sum *s)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	bool in = false;
	uint64_t v;

	memset(s, 0, sizeof(*s));
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {	/* a VMA */
			in = lo < end && hi > start;
			s->vmas += in;
			continue;
		}
		if (!in)
			continue;
		if (s->vmas == 1 && smaps_field(line, "KernelPageSize", &v))
			s->kernel_page = v;
		else if (s->vmas == 1 && smaps_field(line, "MMUPageSize", &v))
			s->mmu_page = v;
		else if (smaps_field(line, "Rss", &v))
			s->rss += v;
		else if (smaps_field(line, "FilePmdMapped", &v) ||
			 smaps_field(line, "ShmemPmdMapped", &v) ||
			 smaps_field(line, "AnonHugePages", &v))
			s->pmd_mapped += v;
	}
	fclose(f);
	return 0;
}

/* ---- the commands ------------------------------------------------------------- */

/* Return: 0, or -errno when the check failed (already reported). */
static int check_region(struct json_object *report, struct dax_region *region,
			struct json_object *jr)
{
	const char *base = dax_region_get_base(region);
	uint64_t size = dax_region_get_size(region);
	uint64_t align = dax_region_get_align(region);
	struct json_object *jc = json_object_new_object();
	struct touch_result t;
	struct smaps_sum s;
	bool aligned = ((uintptr_t)base & (align - 1)) == 0;
	char msg[160];
	int ret, err = 0;

	touch_units(base, size, align, &t);
	ret = smaps_read((uintptr_t)base, (uintptr_t)base + size, &s);
	json_object_object_add(jc, "base_aligned",
			       json_object_new_boolean(aligned));
	json_set_u64(jc, "units", t.units);
	json_set_u64(jc, "touched", t.touched);
	json_set_u64(jc, "sigbus", t.sigbus);
	if (t.first_sigbus >= 0)
		json_set_u64(jc, "first_sigbus_offset",
			     (uint64_t)t.first_sigbus);
	else
		json_object_object_add(jc, "first_sigbus_offset", NULL);
	if (ret || !s.vmas) {
		static const char *const keys[] = {
			"vmas", "kernel_page_size", "mmu_page_size", "rss",
			"pmd_mapped",
		};

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			json_object_object_add(jc, keys[i], NULL);
	} else {
		json_set_u64(jc, "vmas", s.vmas);
		json_set_u64(jc, "kernel_page_size", s.kernel_page);
		json_set_u64(jc, "mmu_page_size", s.mmu_page);
		json_set_u64(jc, "rss", s.rss);
		json_set_u64(jc, "pmd_mapped", s.pmd_mapped);
	}
	json_object_object_add(jr, "check", jc);
	if (!aligned) {
		snprintf(msg, sizeof(msg),
			 "the mapping at %p is not aligned to 0x%" PRIx64,
			 (const void *)base, align);
		report_error(report, dax_region_get_path(region), -EFAULT,
			     msg);
		err = -EFAULT;
	}
	if (t.sigbus) {
		snprintf(msg, sizeof(msg),
			 "%" PRIu64 " of %" PRIu64 " alignment units raised "
			 "SIGBUS when read, the first at offset 0x%" PRIx64,
			 t.sigbus, t.units, (uint64_t)t.first_sigbus);
		report_error(report, dax_region_get_path(region), -EIO, msg);
		err = -EIO;
	}
	if (ret) {
		report_error(report, "/proc/self/smaps", ret,
			     "cannot read the mapping's page sizes");
		err = ret;
	}
	return err;
}

static int busy_region(struct json_object *report, struct dax_region *region,
		       struct json_object *jr)
{
	uint64_t busy = 0;
	int ret;

	ret = dax_region_count_busy(region, 0, dax_region_get_size(region),
				    &busy);
	if (ret) {
		report_error(report, dax_region_get_path(region), ret,
			     dax_errormsg());
		return ret;
	}
	json_set_u64(jr, "busy_pages", busy);
	return 0;
}

int cmd_check(int argc, char **argv)
{
	static const struct cli_spec spec = {
		.name = "check",
		.usage = "[-u] [--sysfs-root DIR] [-a ALIGN] [-s SIZE] PATH...",
		.min_paths = 1,
		.max_paths = -1,
	};

	return each_region(argc, argv, &spec, check_region, NULL);
}

int cmd_busy(int argc, char **argv)
{
	static const struct cli_spec spec = {
		.name = "busy",
		.usage = "[-u] [--sysfs-root DIR] [-a ALIGN] [-s SIZE] PATH...",
		.min_paths = 1,
		.max_paths = -1,
	};

	return each_region(argc, argv, &spec, busy_region, NULL);
}
