/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the Criterion tests (the tests/ folder).  Header-only;
 * each test file is its own program linked with the static library, so tests
 * may use libdax/internal.h where they need to reach inside.
 */
#ifndef LIBDAX_TEST_HELPERS_H
#define LIBDAX_TEST_HELPERS_H

#include <dirent.h>
#include <limits.h>
#include <spawn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/*
 * A dax_truncate() in a thread of its own (pthread_create with
 * test_truncate_thread and a pointer to this), for tests that check it
 * waits: done turns true when it has returned ret.
 */
struct test_truncator {
	struct dax_mapping *m;
	uint64_t size;
	int ret;
	_Atomic bool done;
};

static inline void *test_truncate_thread(void *arg)
{
	struct test_truncator *t = arg;

	t->ret = dax_truncate(t->m, t->size);
	atomic_store(&t->done, true);
	return NULL;
}

extern char **environ;

/* All of a file, NUL-terminated, in a malloc'd buffer. */
static inline char *test_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	cr_assert_not_null(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/*
 * Run the program the build made at $(B)/@rel ("daxctl-lite",
 * "examples/blockcache"), found from this test's own path $(B)/tests/NAME,
 * with the NULL-terminated @args.  *@out and *@err receive all of its
 * stdout and stderr (free them).
 * Return: its exit status, or 128 + the signal that ended it.
 */
static inline int test_run_built(const char *rel, const char *const *args,
				 char **out, char **err)
{
	char self[PATH_MAX], exe[PATH_MAX + 64], out_path[] =
		"/tmp/test-out.XXXXXX", err_path[] = "/tmp/test-err.XXXXXX";
	const char *argv[64];
	posix_spawn_file_actions_t fa;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int i, fo, fe, wstatus;
	pid_t pid;

	cr_assert_gt(n, 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	cr_assert_lt(snprintf(exe, sizeof(exe), "%s/../%s", self, rel),
		     (int)sizeof(exe));
	cr_assert_eq(access(exe, X_OK), 0, "%s is missing: build it with make",
		     exe);
	argv[0] = strrchr(exe, '/') + 1;
	for (i = 0; args[i]; i++) {
		cr_assert_lt(i, 62);
		argv[i + 1] = args[i];
	}
	argv[i + 1] = NULL;
	fo = mkstemp(out_path);
	fe = mkstemp(err_path);
	cr_assert(fo >= 0 && fe >= 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fo, 1);
	posix_spawn_file_actions_adddup2(&fa, fe, 2);
	cr_assert_eq(posix_spawn(&pid, exe, &fa, NULL, (char **)argv,
				 environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert_eq(waitpid(pid, &wstatus, 0), pid);
	close(fo);
	close(fe);
	*out = test_slurp(out_path);
	*err = test_slurp(err_path);
	unlink(out_path);
	unlink(err_path);
	return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus)
				  : 128 + WTERMSIG(wstatus);
}

#endif /* LIBDAX_TEST_HELPERS_H */
