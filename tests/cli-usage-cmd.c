// SPDX-License-Identifier: MIT
/*
 * daxctl-lite usage: a child process opens a region through libdax,
 * allocates blocks, makes a heap, a mapping, a pin and a lease, poisons a
 * page, tells the test its own dax_alloc_get_stats(), and then either
 * closes when told (the publication goes away), stays alive (usage shows
 * it live with those very counts), or is killed with SIGKILL (usage shows
 * it left behind; --clean removes it).  Plus the errors: a folder that is
 * not one, files that are not publications, and the switches that turn
 * publication off.  Every check goes through the real binary.
 *
 * The child is this test program run again with CLI_USAGE_CHILD set: a
 * constructor runs it before Criterion starts.
 */
#include <signal.h>

#include "cli.h"
#include "libdax/internal.h"

#define REGION_SIZE (16 << 20)

/* What the child tells the test through its stdout, once set up. */
struct child_report {
	struct dax_alloc_stats st;
	uint64_t heap_bytes;
	int pid;
};

/* ---- the child --------------------------------------------------------- */

static int child_fail(const char *what, int ret)
{
	fprintf(stderr, "child: %s: %s: %s\n", what, strerror(-ret),
		dax_errormsg());
	return 1;
}

static int child_main(const char *path)
{
	static const struct dax_mapping_ops ops = { 0 };
	struct dax_region_opts *opts;
	struct dax_heap_opts *hopts;
	struct dax_region *region = NULL;
	struct dax_mapping *m = NULL;
	struct dax_heap *heap = NULL;
	struct dax_lease *lease = NULL;
	struct dax_pin *pin = NULL;
	struct dax_heap_stats hs;
	struct child_report rep;
	struct dax_alloc *a;
	uint64_t pages[4];
	char c;
	void *obj;
	int ret, i;

	ret = dax_region_opts_new(&opts);
	if (!ret)
		ret = dax_region_opts_set_size(opts, REGION_SIZE);
	if (!ret && strncmp(path, "memfd:", 6))
		ret = dax_region_opts_set_flags(opts, DAX_REGION_CREATE);
	if (!ret)
		ret = dax_region_open(path, opts, &region);
	dax_region_opts_delete(&opts);
	if (ret)
		return child_fail("open", ret);
	for (i = 0; i < 3; i++)
		if ((ret = dax_alloc_pages(region, 0, 0, &pages[i])))
			return child_fail("alloc", ret);
	if ((ret = dax_alloc_pages(region, 9, 0, &pages[3])))
		return child_fail("alloc 2M", ret);
	if ((ret = dax_alloc_get(region, &a)) ||
	    (ret = dax_alloc_poison(a, REGION_SIZE / 4096 - 1)))
		return child_fail("poison", ret);
	ret = dax_heap_opts_new(&hopts);
	if (!ret)
		ret = dax_heap_opts_set_arenas(hopts, 1);
	if (!ret)
		ret = dax_heap_create(region, hopts, &heap);
	dax_heap_opts_delete(&hopts);
	if (ret)
		return child_fail("heap", ret);
	obj = dax_heap_malloc(heap, 100000);
	if (!obj)
		return child_fail("heap malloc", -ENOMEM);
	if ((ret = dax_mapping_new(region, &ops, NULL, 4 << 20, &m)) ||
	    (ret = dax_pin_range(m, 0, 0, 0, &pin)) ||
	    (ret = dax_lease_take(m, 0, 10, 0, &lease)))
		return child_fail("mapping, pin, lease", ret);
	memset(&rep, 0, sizeof(rep));
	if ((ret = dax_alloc_get_stats(region, &rep.st)) ||
	    (ret = dax_heap_get_stats(heap, &hs)))
		return child_fail("stats", ret);
	rep.heap_bytes = hs.region_bytes;
	rep.pid = getpid();
	if (write(1, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		return 1;
	/* Wait to be told to close (or to be killed). */
	if (read(0, &c, 1) < 0)
		return 1;
	dax_lease_release(&lease);
	dax_unpin(&pin);
	dax_mapping_put(&m);
	dax_heap_free(heap, obj);
	dax_heap_destroy(&heap);
	for (i = 0; i < 3; i++)
		dax_free_pages(region, pages[i], 0);
	dax_free_pages(region, pages[3], 9);
	dax_region_close(&region);
	return 0;
}

__attribute__((constructor)) static void maybe_child(void)
{
	const char *path = getenv("CLI_USAGE_CHILD");

	if (path)
		_exit(child_main(path));
}

/* ---- the test's side ------------------------------------------------------ */

struct child {
	pid_t pid;
	int to, from;		/* its stdin, its stdout */
	struct child_report rep;
};

static char *root;
static char rundir[1024], regionfile[1024];

static void setup(void)
{
	root = test_tmpdir();
	snprintf(rundir, sizeof(rundir), "%s/run", root);
	snprintf(regionfile, sizeof(regionfile), "%s/region", root);
	setenv("DAX_RUNDIR", rundir, 1);
	unsetenv("DAX_PUBLISH");
}

static void teardown(void)
{
	test_rmdir(root);
}

TestSuite(cli_usage_cmd, .init = setup, .fini = teardown);

/* Start a child on @path; false (and no child) when it failed to set up. */
static bool child_start(struct child *c, const char *path)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { "cli-usage-child", NULL };
	int in[2], out[2];
	size_t got = 0;
	ssize_t n;

	cr_assert_eq(pipe(in), 0);
	cr_assert_eq(pipe(out), 0);
	setenv("CLI_USAGE_CHILD", path, 1);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addclose(&fa, in[1]);
	posix_spawn_file_actions_addclose(&fa, out[0]);
	cr_assert_eq(posix_spawn(&c->pid, "/proc/self/exe", &fa, NULL, argv,
				 environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	unsetenv("CLI_USAGE_CHILD");
	close(in[0]);
	close(out[1]);
	c->to = in[1];
	c->from = out[0];
	while (got < sizeof(c->rep)) {
		n = read(c->from, (char *)&c->rep + got, sizeof(c->rep) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got == sizeof(c->rep);
}

/* Tell the child to close everything; its exit status. */
static int child_close(struct child *c)
{
	int status;

	cr_assert_eq(write(c->to, "x", 1), 1);
	close(c->to);
	close(c->from);
	cr_assert_eq(waitpid(c->pid, &status, 0), c->pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void child_kill(struct child *c, bool reap)
{
	int status;

	kill(c->pid, SIGKILL);
	close(c->to);
	close(c->from);
	if (reap)
		cr_assert_eq(waitpid(c->pid, &status, 0), c->pid);
}

static struct json_object *users(const struct cli_run *r)
{
	return report_array(r, "users");
}

static size_t nr_files(const char *dir)
{
	struct dirent *d;
	size_t n = 0;
	DIR *dp = opendir(dir);

	if (!dp)
		return 0;
	while ((d = readdir(dp)))
		n += d->d_name[0] != '.';
	closedir(dp);
	return n;
}

/* The USER's numbers are the child's own dax_alloc_get_stats(). */
static void assert_user_counts(struct json_object *ju,
			       const struct child_report *rep)
{
	struct json_object *ja = json_object_object_get(ju, "allocator");
	struct json_object *orders;
	size_t k;

	cr_assert_not_null(ja, "no allocator: %s",
			   json_object_to_json_string(ju));
	cr_assert_eq(jnum(ja, "total_pages"), (int64_t)rep->st.total_pages);
	cr_assert_eq(jnum(ja, "free_pages"), (int64_t)rep->st.free_pages);
	cr_assert_eq(jnum(ja, "used_pages"), (int64_t)rep->st.used_pages);
	cr_assert_eq(jnum(ja, "pending_pages"),
		     (int64_t)rep->st.pending_pages);
	cr_assert_eq(jnum(ja, "withdrawn_pages"),
		     (int64_t)rep->st.poisoned_pages);
	cr_assert_eq(jnum(ja, "poisoned_pages"), 1);
	cr_assert_eq(jnum(ja, "max_order"), (int64_t)rep->st.max_order);
	orders = json_object_object_get(ja, "orders");
	cr_assert_eq(json_object_array_length(orders),
		     (size_t)rep->st.max_order + 1);
	for (k = 0; k <= rep->st.max_order; k++) {
		struct json_object *o = json_object_array_get_idx(orders, k);

		cr_assert_eq(jnum(o, "order"), (int64_t)k);
		cr_assert_eq(jnum(o, "block_size"), (int64_t)4096 << k);
		cr_assert_eq(jnum(o, "free"), (int64_t)rep->st.nr_free[k],
			     "order %zu", k);
		cr_assert_eq(jnum(o, "used"), (int64_t)rep->st.nr_used[k],
			     "order %zu", k);
	}
	cr_assert_gt(rep->st.used_pages, 3 + 512, "the heap took pages too");
	cr_assert_eq(jnum(ju, "heaps"), 1);
	cr_assert_eq(jnum(ju, "heap_bytes"), (int64_t)rep->heap_bytes);
	cr_assert_gt(rep->heap_bytes, 0);
	cr_assert_eq(jnum(ju, "mappings"), 1);
	cr_assert_eq(jnum(ju, "pins"), 1);
	cr_assert_eq(jnum(ju, "leases"), 1);
	cr_assert_eq(jnum(ju, "size"), REGION_SIZE);
	cr_assert_eq(jnum(ju, "align"), 2 << 20);
}

/* Every USER has these keys, in this order. */
static void assert_user_shape(struct json_object *ju)
{
	static const char *const keys[] = {
		"file", "pid", "comm", "state", "detail", "start_time",
		"open_time", "path", "kind", "device", "size", "align",
		"allocator", "heaps", "heap_bytes", "mappings", "pins",
		"leases", "removed",
	};
	struct json_object_iterator it = json_object_iter_begin(ju);
	struct json_object_iterator end = json_object_iter_end(ju);
	size_t i = 0;

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		cr_assert_str_eq(json_object_iter_peek_name(&it), keys[i++]);
	cr_assert_eq(i, sizeof(keys) / sizeof(keys[0]));
}

Test(cli_usage_cmd, a_live_process_shows_its_own_counts_and_close_removes_it)
{
	struct json_object *ju;
	struct cli_run r;
	struct child c;

	cr_assert(child_start(&c, regionfile), "the child failed to set up");
	cli_run(&r, "usage");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	assert_report_shape(&r);
	cr_assert_eq(json_object_array_length(users(&r)), 1, "%s", r.out);
	ju = report_item(&r, "users", 0);
	assert_user_shape(ju);
	cr_assert_eq(jnum(ju, "pid"), c.pid);
	cr_assert_eq(c.rep.pid, c.pid);
	cr_assert_str_eq(jstr(ju, "state"), "live");
	cr_assert_null(jstr(ju, "detail"));
	cr_assert_str_eq(jstr(ju, "path"), regionfile);
	cr_assert_str_eq(jstr(ju, "kind"), "emulated");
	cr_assert_not_null(jstr(ju, "device"));
	cr_assert(!json_object_get_boolean(json_object_object_get(ju,
								  "removed")));
	assert_user_counts(ju, &c.rep);
	cli_free(&r);

	/* The same through the PATH filter; another PATH shows nothing. */
	cli_run(&r, "usage", regionfile);
	cr_assert_eq(json_object_array_length(users(&r)), 1, "%s", r.out);
	cli_free(&r);
	cli_run(&r, "usage", "memfd:other", "/dev/null");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_eq(json_object_array_length(users(&r)), 0, "%s", r.out);
	cli_free(&r);

	/* --clean leaves a live process's file alone. */
	cli_run(&r, "usage", "--clean");
	cr_assert_eq(json_object_array_length(users(&r)), 1);
	cr_assert_eq(nr_files(rundir), 1);
	cli_free(&r);

	cli_run(&r, "usage", "--human");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, ", live\n"), "%s", r.out);
	cr_assert(strstr(r.out, "  pins         1\n"), "%s", r.out);
	cli_free(&r);

	cr_assert_eq(child_close(&c), 0);
	cr_assert_eq(nr_files(rundir), 0, "close did not remove the file");
	cli_run(&r, "usage");
	cr_assert_eq(r.status, 0);
	cr_assert_eq(json_object_array_length(users(&r)), 0, "%s", r.out);
	cli_free(&r);
}

static void assert_left_behind(const struct child *c, const char *detail)
{
	struct json_object *ju;
	struct cli_run r;

	cli_run(&r, "usage");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_eq(json_object_array_length(users(&r)), 1, "%s", r.out);
	ju = report_item(&r, "users", 0);
	assert_user_shape(ju);
	cr_assert_str_eq(jstr(ju, "state"), "exited");
	cr_assert(strstr(jstr(ju, "detail"), detail), "%s",
		  jstr(ju, "detail"));
	assert_user_counts(ju, &c->rep);
	cli_free(&r);

	cli_run(&r, "usage", "-u");
	cr_assert(strstr(r.out, "), left behind:\n"), "%s", r.out);
	cr_assert(strstr(r.out, "exited without closing"), "%s", r.out);
	cli_free(&r);
}

Test(cli_usage_cmd, a_killed_process_is_left_behind_and_clean_removes_it)
{
	char path[64], stat[512];
	struct json_object *ju;
	struct cli_run r;
	struct child c;
	int tries;

	cr_assert(child_start(&c, regionfile), "the child failed to set up");
	child_kill(&c, false);
	/* Not yet reaped: a zombie has exited too. */
	snprintf(path, sizeof(path), "/proc/%d/stat", c.pid);
	for (tries = 0; tries < 1000; tries++) {
		FILE *f = fopen(path, "r");

		cr_assert_not_null(f);
		cr_assert_not_null(fgets(stat, sizeof(stat), f));
		fclose(f);
		if (strstr(stat, ") Z "))
			break;
		usleep(1000);
	}
	cr_assert(strstr(stat, ") Z "), "%s", stat);
	assert_left_behind(&c, "not yet reaped");
	cr_assert_eq(waitpid(c.pid, NULL, 0), c.pid);
	assert_left_behind(&c, "exited without closing");

	cli_run(&r, "usage", "--clean", regionfile);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	ju = report_item(&r, "users", 0);
	cr_assert(json_object_get_boolean(json_object_object_get(ju,
								  "removed")));
	cli_free(&r);
	cr_assert_eq(nr_files(rundir), 0);
	cli_run(&r, "usage");
	cr_assert_eq(json_object_array_length(users(&r)), 0);
	cli_free(&r);
}

/* A pid that now names another process: the start time tells them apart. */
Test(cli_usage_cmd, a_reused_pid_is_not_taken_for_the_publisher)
{
	char file[PATH_MAX], moved[PATH_MAX];
	struct json_object *ju;
	struct cli_run r;
	struct child c;
	DIR *dp;
	struct dirent *d;
	int fd;
	int32_t pid = getpid();

	cr_assert(child_start(&c, regionfile));
	child_kill(&c, true);
	dp = opendir(rundir);
	while ((d = readdir(dp)) && d->d_name[0] == '.')
		;
	cr_assert_not_null(d);
	snprintf(file, sizeof(file), "%s/%s", rundir, d->d_name);
	closedir(dp);
	/* Make the file name a pid that lives (ours), start time not ours. */
	fd = open(file, O_WRONLY);
	cr_assert_eq(pwrite(fd, &pid, sizeof(pid), 16), (ssize_t)sizeof(pid));
	close(fd);
	snprintf(moved, sizeof(moved), "%s/%d-1-0", rundir, pid);
	cr_assert_eq(rename(file, moved), 0);
	cli_run(&r, "usage");
	ju = report_item(&r, "users", 0);
	cr_assert_eq(jnum(ju, "pid"), pid);
	cr_assert_str_eq(jstr(ju, "state"), "exited");
	cr_assert(strstr(jstr(ju, "detail"), "belongs to another process"),
		  "%s", jstr(ju, "detail"));
	cli_free(&r);
}

Test(cli_usage_cmd, memfds_publish_only_when_asked_and_zero_turns_it_off)
{
	struct cli_run r;
	struct child c;

	cr_assert(child_start(&c, "memfd:cli-usage"));
	cli_run(&r, "usage");
	cr_assert_eq(json_object_array_length(users(&r)), 0, "%s", r.out);
	cli_free(&r);
	cr_assert_eq(child_close(&c), 0);

	setenv("DAX_PUBLISH", "1", 1);
	cr_assert(child_start(&c, "memfd:cli-usage"));
	cli_run(&r, "usage", "memfd:cli-usage");
	cr_assert_eq(json_object_array_length(users(&r)), 1, "%s", r.out);
	cr_assert_null(jstr(report_item(&r, "users", 0), "device"));
	assert_user_counts(report_item(&r, "users", 0), &c.rep);
	cli_free(&r);
	cr_assert_eq(child_close(&c), 0);

	setenv("DAX_PUBLISH", "0", 1);
	cr_assert(child_start(&c, regionfile));
	cli_run(&r, "usage");
	cr_assert_eq(json_object_array_length(users(&r)), 0, "%s", r.out);
	cli_free(&r);
	cr_assert_eq(child_close(&c), 0);
}

/* A folder that cannot be made is a warning: the open still works. */
Test(cli_usage_cmd, a_publication_that_cannot_be_made_does_not_fail_the_open)
{
	char bad[PATH_MAX];
	struct child c;

	snprintf(bad, sizeof(bad), "%s/region/run", root);	/* under a file */
	cr_assert(child_start(&c, regionfile));
	cr_assert_eq(child_close(&c), 0);	/* made the region file */
	setenv("DAX_RUNDIR", bad, 1);
	setenv("DAX_LOG", "1", 1);
	cr_assert(child_start(&c, regionfile), "the open failed");
	cr_assert_eq(child_close(&c), 0);
}

Test(cli_usage_cmd, a_folder_that_is_not_one_is_an_error)
{
	struct cli_run r;
	char missing[PATH_MAX];

	cr_assert_eq(close(open(regionfile, O_CREAT | O_WRONLY, 0644)), 0);
	cli_run(&r, "usage", "--rundir", regionfile);
	cr_assert_eq(r.status, 1);
	assert_report_shape(&r);
	cr_assert_eq(jnum(report_item(&r, "errors", 0), "errno"), ENOTDIR);
	cr_assert(strstr(r.err, regionfile), "%s", r.err);
	cli_free(&r);

	snprintf(missing, sizeof(missing), "%s/none", root);
	cli_run(&r, "usage", "--rundir", missing);
	cr_assert_eq(r.status, 1);
	cr_assert_eq(jnum(report_item(&r, "errors", 0), "errno"), ENOENT);
	cli_free(&r);

	/* Through the environment, a missing folder means nobody published. */
	setenv("DAX_RUNDIR", missing, 1);
	cli_run(&r, "usage");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_eq(json_object_array_length(users(&r)), 0);
	cli_free(&r);
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* Corrupt, cut short or unknown files are reported; the rest is shown. */
Test(cli_usage_cmd, bad_publication_files_are_reported_not_fatal)
{
	char file[PATH_MAX], path[PATH_MAX], *good;
	struct json_object *errs;
	struct cli_run r;
	struct child c;
	uint32_t v2 = 2;
	DIR *dp;
	struct dirent *d;
	size_t i;

	cr_assert(child_start(&c, regionfile));
	child_kill(&c, true);
	dp = opendir(rundir);
	while ((d = readdir(dp)) && d->d_name[0] == '.')
		;
	cr_assert_not_null(d);
	snprintf(file, sizeof(file), "%s/%s", rundir, d->d_name);
	closedir(dp);
	good = test_slurp(file);

	snprintf(path, sizeof(path), "%s/1-1-garbage", rundir);
	write_file(path, "hello, not a publication\n", 25);
	snprintf(path, sizeof(path), "%s/1-1-short", rundir);
	write_file(path, good, 1000);		/* cut short */
	snprintf(path, sizeof(path), "%s/1-1-empty", rundir);
	write_file(path, "", 0);
	snprintf(path, sizeof(path), "%s/1-1-v2", rundir);
	write_file(path, good, 2304);
	{
		int fd = open(path, O_WRONLY);

		cr_assert_eq(pwrite(fd, &v2, sizeof(v2), 8), 4);
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/1-1-dir", rundir);
	cr_assert_eq(mkdir(path, 0755), 0);
	free(good);

	cli_run(&r, "usage");
	cr_assert_eq(r.status, 1, "stderr: %s", r.err);
	assert_report_shape(&r);
	cr_assert_eq(json_object_array_length(users(&r)), 1, "%s", r.out);
	assert_user_counts(report_item(&r, "users", 0), &c.rep);
	errs = report_array(&r, "errors");
	cr_assert_eq(json_object_array_length(errs), 5, "%s", r.out);
	for (i = 0; i < 5; i++) {
		struct json_object *e = json_object_array_get_idx(errs, i);
		const char *p = jstr(e, "path");

		cr_assert_eq(jnum(e, "errno"),
			     strstr(p, "-v2") ? EPROTONOSUPPORT : EBADMSG,
			     "%s", p);
		cr_assert(strstr(r.err, p), "stderr lacks %s", p);
	}
	cli_free(&r);

	/* --clean removes only what a dead process left behind. */
	cli_run(&r, "usage", "--clean");
	cr_assert_eq(r.status, 1);
	cli_free(&r);
	cr_assert_eq(nr_files(rundir), 5);
}

Test(cli_usage_cmd, usage_errors_exit_2)
{
	struct cli_run r;

	cli_run(&r, "usage", "--rundir");
	cr_assert_eq(r.status, 2);
	cr_assert_str_eq(r.out, "");
	cli_free(&r);
	cli_run(&r, "usage", "--clean=yes");
	cr_assert_eq(r.status, 2);
	cli_free(&r);
	cli_run(&r, "usage", "--help");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "usage: daxctl-lite usage"), "%s", r.out);
	cli_free(&r);
}

/* A relative path is published absolute: it names the file for everyone. */
Test(cli_usage_cmd, a_relative_path_is_published_absolute)
{
	struct cli_run r;
	struct child c;

	cr_assert_eq(chdir(root), 0);
	cr_assert(child_start(&c, "region"));
	cli_run(&r, "usage", "region");		/* matched by device, inode */
	cr_assert_eq(json_object_array_length(users(&r)), 1, "%s", r.out);
	cr_assert_str_eq(jstr(report_item(&r, "users", 0), "path"),
			 regionfile);
	cli_free(&r);
	cr_assert_eq(child_close(&c), 0);
}
