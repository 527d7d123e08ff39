/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the Criterion tests (the tests/ folder).  Header-only;
 * each test file is its own program linked with the static library, so tests
 * may use libdax/internal.h where they need to reach inside.
 */
#ifndef LIBDAX_TEST_HELPERS_H
#define LIBDAX_TEST_HELPERS_H

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "libdax.h"

/* Assert that @expr failed with @err and left a message containing @needle. */
#define assert_fails_with(expr, err, needle)                                   \
	do {                                                                   \
		int ret_ = (expr);                                             \
		cr_assert_eq(ret_, (err), "%s returned %d (%s), wanted %d",    \
			     #expr, ret_, strerror(-ret_), (err));             \
		cr_assert(strstr(dax_errormsg(), (needle)) != NULL,            \
			  "%s: message \"%s\" lacks \"%s\"", #expr,            \
			  dax_errormsg(), (needle));                           \
	} while (0)

/* A scratch directory under /tmp, removed by the caller with rm -rf. */
static inline char *test_tmpdir(void)
{
	char *dir = strdup("/tmp/libdax-test.XXXXXX");

	cr_assert_not_null(mkdtemp(dir));
	return dir;
}

static inline void test_rmdir(char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
	free(dir);
}

/* Open descriptors of the process: a failed call must leave none behind. */
static inline int test_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/*
 * Mappings of the process other than inaccessible anonymous ones: libpmem2
 * 1.12 leaves 2 MiB of PROT_NONE address space behind per reservation (see
 * the top of libdax/region.c), which this count ignores; a mapping of a
 * file, a memfd or a device left behind is counted.
 */
static inline int test_count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], perms[8];
	unsigned long inode;
	int n = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %7s %*s %*s %lu", perms, &inode) == 2 &&
		    !strcmp(perms, "---p") && inode == 0)
			continue;
		n++;
	}
	fclose(f);
	return n;
}

/* mkdir -p, without a shell (fake sysfs trees make dozens per test). */
static inline void test_mkdirs(const char *path)
{
	char buf[700];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		cr_assert(!mkdir(buf, 0755) || errno == EEXIST, "%s", buf);
		*p = '/';
	}
	cr_assert(!mkdir(buf, 0755) || errno == EEXIST, "%s", buf);
}

/* Write @dir/@name with the formatted text, as it is (a sysfs attribute). */
static inline void test_put_file(const char *dir, const char *name,
				 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline void test_put_file(const char *dir, const char *name,
				 const char *fmt, ...)
{
	char path[700];
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

/*
 * Open a read-only region on a fresh temporary file of @size bytes; the
 * file is unlinked at once (the mapping keeps it).
 */
static inline void test_open_readonly_file(uint64_t size,
					   struct dax_region **region)
{
	struct dax_region_opts *o;
	char path[] = "/tmp/libdax-test-ro.XXXXXX";
	int fd = mkstemp(path), ret;

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	close(fd);
	cr_assert_eq(dax_region_opts_new(&o), 0);
	cr_assert_eq(dax_region_opts_set_flags(o, DAX_REGION_READONLY), 0);
	ret = dax_region_open(path, o, region);
	dax_region_opts_delete(&o);
	unlink(path);
	cr_assert_eq(ret, 0, "%s", dax_errormsg());
}

/*
 * The end of a test that faulted blocks in a mapping of a region: the
 * blocks go back to the allocator (so its accounting ends even), then the
 * mapping, then the region, and the grace period that frees their nodes.
 * Needs libdax/internal.h (dax_fault_release_blocks) and the caller's
 * static mapping @m and region @r.
 */
#define test_end_mapping_and_region(m, r)                                       \
	do {                                                                     \
		if (*(m)) {                                                      \
			dax_fault_release_blocks(*(m));                          \
			dax_mapping_put(m);                                      \
		}                                                                \
		if (*(r))                                                        \
			cr_assert_eq(dax_region_close(r), 0, "%s",              \
				     dax_errormsg());                            \
		dax_rcu_barrier();                                               \
	} while (0)

#endif /* LIBDAX_TEST_HELPERS_H */
