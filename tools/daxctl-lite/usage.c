// SPDX-License-Identifier: MIT
/*
 * daxctl-lite usage [OPTIONS] [--clean] [PATH...]: who is using a region.
 *
 * Every process that opened a region through libdax publishes what it
 * holds in a small file in $DAX_RUNDIR or /run/libdax (libdax/publish.c
 * describes the layout and reads it: dax_publish_read()).  This command
 * reads each file, tells whether its process still runs (its pid exists,
 * with the start time it published, in this boot) or exited without
 * closing, and shows one USER per file: the allocator's free and used
 * blocks per order, bad pages, heaps, mappings, pins and leases.  With
 * PATHs only the files of those regions are shown; --clean removes the
 * files of processes that exited.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "libdax.h"
#include "libdax/internal.h"
#include "daxctl-lite.h"

struct usage_args {
	const char *rundir;	/* NULL: dax_publish_dir() */
	bool clean;
};

/* A PATH given on the command line, as publications name regions. */
struct usage_filter {
	const char *path;
	bool stat_ok, chardev;
	uint64_t dev, ino;
};

static int usage_option(int c, const char *arg, void *priv)
{
	struct usage_args *a = priv;

	switch (c) {
	case 'D':
		a->rundir = arg;
		return 1;
	case 'c':
		a->clean = true;
		return 1;
	}
	return 0;
}

static void filter_init(struct usage_filter *f, const char *path)
{
	struct stat st;

	memset(f, 0, sizeof(*f));
	f->path = path;
	if (strncmp(path, "memfd:", 6) && !stat(path, &st)) {
		f->stat_ok = true;
		f->chardev = S_ISCHR(st.st_mode);
		f->dev = f->chardev ? st.st_rdev : st.st_dev;
		f->ino = st.st_ino;
	}
}

/* Does the publication @pi name the region of one of the PATHs? */
static bool wanted(const struct dax_pub_info *pi,
		   const struct usage_filter *f, int n)
{
	int i;

	if (n == 0)
		return true;
	for (i = 0; i < n; i++) {
		if (!strcmp(pi->path, f[i].path))
			return true;
		if (!f[i].stat_ok || !pi->dev)
			continue;
		/* A device is the same device through any node. */
		if (f[i].chardev ? pi->kind != DAX_REGION_KIND_EMULATED &&
					   pi->dev == f[i].dev :
				   pi->dev == f[i].dev && pi->ino == f[i].ino)
			return true;
	}
	return false;
}

/*
 * Does the process that published @pi still run?  Return: NULL when it
 * does, else why not (into @buf).  *@note gets a remark for a process
 * taken for live without proof (its /proc entry could not be read).
 */
static const char *exited_why(const struct dax_pub_info *pi,
			      const char *boot_id, char *buf, size_t len,
			      const char **note)
{
	uint64_t start;
	char state = '?';
	int ret;

	if (pi->boot_id[0] && boot_id[0] && strcmp(pi->boot_id, boot_id)) {
		snprintf(buf, len, "published before the last boot");
		return buf;
	}
	if (pi->pid <= 0 || (kill(pi->pid, 0) && errno == ESRCH)) {
		snprintf(buf, len, "process %d exited without closing",
			 pi->pid);
		return buf;
	}
	ret = dax_publish_proc_start(pi->pid, &start, &state);
	/* A process reaped between kill() and the read: ENOENT or ESRCH. */
	if (ret == -ENOENT || ret == -ESRCH ||
	    (ret && kill(pi->pid, 0) && errno == ESRCH)) {
		snprintf(buf, len, "process %d exited without closing",
			 pi->pid);
		return buf;
	}
	if (ret) {	/* cannot tell: kill() says it exists */
		snprintf(buf, len, "cannot read /proc/%d/stat (%s): taken "
			 "for live", pi->pid, strerror(-ret));
		*note = buf;
		return NULL;
	}
	if (start != pi->start_time) {
		snprintf(buf, len,
			 "process %d exited without closing (its pid now "
			 "belongs to another process)",
			 pi->pid);
		return buf;
	}
	if (state == 'Z' || state == 'X') {
		snprintf(buf, len,
			 "process %d exited without closing (not yet reaped "
			 "by its parent)",
			 pi->pid);
		return buf;
	}
	return NULL;
}

static struct json_object *allocator_to_json(const struct dax_pub_info *pi)
{
	struct json_object *ja, *jo;
	unsigned k;

	if (!pi->alloc_made)
		return NULL;	/* nothing was ever allocated */
	ja = json_object_new_object();
	json_set_u64(ja, "total_pages", pi->total_pages);
	json_set_u64(ja, "free_pages", pi->free_pages);
	json_set_u64(ja, "used_pages", pi->used_pages);
	json_set_u64(ja, "pending_pages", pi->pending_pages);
	json_set_u64(ja, "poisoned_pages", pi->poisoned_pages);
	json_set_u64(ja, "withdrawn_pages", pi->withdrawn_pages);
	json_set_u64(ja, "max_order", pi->max_order);
	jo = json_object_new_array();
	for (k = 0; k <= pi->max_order; k++) {
		struct json_object *j = json_object_new_object();

		json_set_u64(j, "order", k);
		json_set_u64(j, "block_size", UINT64_C(4096) << k);
		json_set_u64(j, "free", pi->nr_free[k]);
		json_set_u64(j, "used", pi->nr_used[k]);
		json_object_array_add(jo, j);
	}
	json_object_object_add(ja, "orders", jo);
	return ja;
}

static struct json_object *user_to_json(const char *file,
					const struct dax_pub_info *pi,
					const char *why, const char *note)
{
	struct json_object *ju = json_object_new_object();
	char dev[32];

	json_set_str(ju, "file", file);
	json_object_object_add(ju, "pid", json_object_new_int(pi->pid));
	json_set_str(ju, "comm", pi->comm[0] ? pi->comm : NULL);
	json_set_str(ju, "state", why ? "exited" : "live");
	json_set_str(ju, "detail", why ? why : note);
	json_set_u64(ju, "start_time", pi->start_time);
	json_set_u64(ju, "open_time", pi->open_time / 1000000000u);
	json_set_str(ju, "path", pi->path);
	json_set_str(ju, "kind", region_kind_name(pi->kind));
	if (pi->dev) {
		snprintf(dev, sizeof(dev), "%u:%u", major(pi->dev),
			 minor(pi->dev));
		json_set_str(ju, "device", dev);
	} else {
		json_set_str(ju, "device", NULL);
	}
	json_set_u64(ju, "size", pi->size);
	json_set_u64(ju, "align", pi->align);
	json_object_object_add(ju, "allocator", allocator_to_json(pi));
	json_set_u64(ju, "heaps", pi->heaps);
	json_set_u64(ju, "heap_bytes", pi->heap_bytes);
	json_set_u64(ju, "mappings", pi->mappings);
	json_set_u64(ju, "pins", pi->pins);
	json_set_u64(ju, "leases", pi->leases);
	json_object_object_add(ju, "removed", json_object_new_boolean(0));
	return ju;
}

/* ---- --human ------------------------------------------------------------ */

static uint64_t u64(struct json_object *o, const char *key)
{
	return (uint64_t)json_object_get_int64(json_object_object_get(o, key));
}

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v = json_object_object_get(o, key);

	return v ? json_object_get_string(v) : "-";
}

static void print_pages(const char *what, uint64_t pages)
{
	char buf[64];

	printf("    %-10s %" PRIu64 " pages (%s)\n", what, pages,
	       human_size(pages * 4096, buf, sizeof(buf)));
}

static void print_user(struct json_object *ju)
{
	struct json_object *ja = json_object_object_get(ju, "allocator");
	char buf[64], when[64];
	time_t t = (time_t)u64(ju, "open_time");
	struct tm tm;
	size_t k;

	printf("%s\n", str(ju, "file"));
	printf("  process      %" PRIu64 " (%s), ", u64(ju, "pid"),
	       str(ju, "comm"));
	if (!strcmp(str(ju, "state"), "live"))
		printf("live%s%s\n", json_object_object_get(ju, "detail") ?
					      ": " : "",
		       json_object_object_get(ju, "detail") ?
			       str(ju, "detail") : "");
	else
		printf("left behind:\n%15s%s;\n%15swhat follows is the "
		       "last state it published\n", "", str(ju, "detail"),
		       "");
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	else
		snprintf(when, sizeof(when), "-");
	printf("  opened       %s\n", when);
	printf("  region       %s (%s, %s", str(ju, "path"), str(ju, "kind"),
	       human_size(u64(ju, "size"), buf, sizeof(buf)));
	printf(", align %s)\n", human_size(u64(ju, "align"), buf,
					   sizeof(buf)));
	if (!ja) {
		printf("  allocator    - (nothing allocated)\n");
	} else {
		printf("  allocator\n");
		print_pages("total", u64(ja, "total_pages"));
		print_pages("free", u64(ja, "free_pages"));
		print_pages("used", u64(ja, "used_pages"));
		print_pages("pending", u64(ja, "pending_pages"));
		print_pages("poisoned", u64(ja, "poisoned_pages"));
		print_pages("withdrawn", u64(ja, "withdrawn_pages"));
		printf("    %-10s %-10s %10s %10s\n", "order", "block", "free",
		       "used");
		for (k = 0; k < json_object_array_length(
					json_object_object_get(ja, "orders"));
		     k++) {
			struct json_object *o = json_object_array_get_idx(
				json_object_object_get(ja, "orders"), k);

			if (!u64(o, "free") && !u64(o, "used"))
				continue;
			printf("    %-10" PRIu64 " %-10s %10" PRIu64
			       " %10" PRIu64 "\n",
			       u64(o, "order"),
			       human_size(u64(o, "block_size"), buf,
					  sizeof(buf)),
			       u64(o, "free"), u64(o, "used"));
		}
	}
	printf("  heaps        %" PRIu64 ", holding %s\n", u64(ju, "heaps"),
	       human_size(u64(ju, "heap_bytes"), buf, sizeof(buf)));
	printf("  mappings     %" PRIu64 "\n", u64(ju, "mappings"));
	printf("  pins         %" PRIu64 "\n", u64(ju, "pins"));
	printf("  leases       %" PRIu64 "\n", u64(ju, "leases"));
	if (json_object_get_boolean(json_object_object_get(ju, "removed")))
		printf("  removed      yes (--clean)\n");
}

static int print_users(struct json_object *report, const char *dir)
{
	struct json_object *users = json_object_object_get(report, "users");
	size_t i, n = json_object_array_length(users);

	if (!n)
		printf("no process has a region open (nothing published in "
		       "%s)\n", dir);
	for (i = 0; i < n; i++) {
		if (i)
			printf("\n");
		print_user(json_object_array_get_idx(users, i));
	}
	return fflush(stdout) || ferror(stdout) ? -EIO : 0;
}

/* ---- the command ---------------------------------------------------------- */

static int skip_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static const char *read_error(int err)
{
	switch (err) {
	case -EBADMSG:
		return "not a libdax publication (wrong magic, or cut short)";
	case -EPROTONOSUPPORT:
		return "a publication layout this daxctl-lite does not know";
	}
	return "cannot read the publication";
}

/* Read, filter and (with --clean) remove the files of @dir into @report. */
static int scan(struct json_object *report, const char *dir,
		const struct usage_args *a, const struct usage_filter *f,
		int nf)
{
	struct json_object *users = json_object_object_get(report, "users");
	char boot_id[40], file[PATH_MAX], why[128];
	struct dirent **names;
	int dfd, i, n, status = EXIT_OK;

	dax_publish_boot_id(boot_id, sizeof(boot_id));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ENOENT && !a->rundir)
			return EXIT_OK;	/* nobody ever published here */
		report_error(report, dir, -errno,
			     "cannot open the publication folder");
		return EXIT_RUNTIME;
	}
	n = scandirat(dfd, ".", &names, skip_dots, versionsort);
	if (n < 0) {
		report_error(report, dir, -errno,
			     "cannot read the publication folder");
		close(dfd);
		return EXIT_RUNTIME;
	}
	for (i = 0; i < n; i++) {
		struct dax_pub_info pi;
		struct json_object *ju;
		const char *gone, *note = NULL;
		int ret;

		snprintf(file, sizeof(file), "%s/%s", dir, names[i]->d_name);
		ret = dax_publish_read(dfd, names[i]->d_name, &pi);
		if (ret == -ENOENT)	/* closed while we looked */
			goto next;
		if (ret) {
			report_error(report, file, ret, read_error(ret));
			status = EXIT_RUNTIME;
			goto next;
		}
		if (!wanted(&pi, f, nf))
			goto next;
		gone = exited_why(&pi, boot_id, why, sizeof(why), &note);
		ju = user_to_json(file, &pi, gone, note);
		if (gone && a->clean) {
			if (unlinkat(dfd, names[i]->d_name, 0) &&
			    errno != ENOENT) {
				report_error(report, file, -errno,
					     "cannot remove it");
				status = EXIT_RUNTIME;
			} else {
				json_object_object_add(
					ju, "removed",
					json_object_new_boolean(1));
			}
		}
		json_object_array_add(users, ju);
next:
		free(names[i]);
	}
	free(names);
	close(dfd);
	return status;
}

int cmd_usage(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rundir", required_argument, NULL, 'D' },
		{ "clean", no_argument, NULL, 'c' },
		{ 0 },
	};
	struct usage_args a = { 0 };
	const struct cli_spec spec = {
		.name = "usage",
		.usage = "[-u] [--rundir DIR] [--clean] [PATH...]",
		.longopts = longopts,
		.option = usage_option,
		.priv = &a,
		.max_paths = -1,
		.any_memfd = true,
	};
	struct usage_filter *f = NULL;
	struct json_object *report;
	struct cli_opts o = { 0 };
	const char *dir;
	int i, nf, ret, status;

	ret = parse_common_args(argc, argv, &spec, &o);
	if (ret >= 0)
		return ret;
	nf = argc - optind;
	if (nf) {
		f = calloc((size_t)nf, sizeof(*f));
		if (!f) {
			fprintf(stderr, "%s: out of memory\n", progname);
			return EXIT_RUNTIME;
		}
	}
	for (i = 0; i < nf; i++)
		filter_init(&f[i], argv[optind + i]);
	dir = a.rundir ? a.rundir : dax_publish_dir();

	report = json_new_report();
	status = scan(report, dir, &a, f, nf);
	if (o.human ? print_users(report, dir) : display(report, &o))
		status = EXIT_RUNTIME;
	json_object_put(report);
	free(f);
	return status;
}
