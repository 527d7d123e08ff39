/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the daxctl-lite tests (tests/cli-*.c): run the built binary
 * ($(B)/daxctl-lite, found next to this test's own folder) with its output
 * captured, parse the JSON report with json-c, and build fake sysfs trees
 * shaped like the kernel's (see shared/vm/README.md).
 */
#ifndef LIBDAX_TEST_CLI_H
#define LIBDAX_TEST_CLI_H

#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <json-c/json.h>

#include "helpers.h"

struct cli_run {
	int status;		/* exit status, or 128 + signal */
	char *out;		/* all of stdout */
	char *err;		/* all of stderr */
	struct json_object *json;	/* stdout parsed, NULL if not JSON */
};

/* Run $(B)/daxctl-lite with the NULL-terminated arguments after @r. */
static inline void cli_runv(struct cli_run *r, const char *const *args)
{
	r->status = test_run_built("daxctl-lite", args, &r->out, &r->err);
	r->json = json_tokener_parse(r->out);
}

#define cli_run(r, ...)                                                        \
	cli_runv(r, (const char *const[]){ __VA_ARGS__, NULL })

static inline void cli_free(struct cli_run *r)
{
	json_object_put(r->json);
	free(r->out);
	free(r->err);
}

/* The report's top level: always these five keys, arrays where promised. */
static inline void assert_report_shape(const struct cli_run *r)
{
	static const char *const arrays[] = { "regions", "translations",
					      "errors", "users" };
	struct json_object *v;
	size_t i;

	cr_assert_not_null(r->json, "stdout is not JSON:\n%s\nstderr:\n%s",
			   r->out, r->err);
	cr_assert_eq(json_object_object_length(r->json), 5);
	cr_assert(json_object_object_get_ex(r->json, "schema", &v));
	cr_assert_eq(json_object_get_int(v), 1);
	for (i = 0; i < 4; i++) {
		cr_assert(json_object_object_get_ex(r->json, arrays[i], &v),
			  "no \"%s\"", arrays[i]);
		cr_assert(json_object_is_type(v, json_type_array));
	}
}

static inline struct json_object *report_array(const struct cli_run *r,
					       const char *key)
{
	return json_object_object_get(r->json, key);
}

static inline struct json_object *report_item(const struct cli_run *r,
					      const char *key, size_t i)
{
	struct json_object *a = report_array(r, key);

	cr_assert_lt(i, json_object_array_length(a), "%s has no item %zu",
		     key, i);
	return json_object_array_get_idx(a, i);
}

/* Every region object carries every key, in this order, whatever it was. */
static inline void assert_region_shape(struct json_object *jr)
{
	static const char *const keys[] = {
		"path", "chardev", "kind", "mode", "size", "align",
		"numa_node", "target_node", "region_id", "mappings",
		"badblocks", "busy_pages", "check",
	};
	struct json_object_iterator it = json_object_iter_begin(jr);
	struct json_object_iterator end = json_object_iter_end(jr);
	size_t i = 0;

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		cr_assert_str_eq(json_object_iter_peek_name(&it), keys[i++]);
	cr_assert_eq(i, sizeof(keys) / sizeof(keys[0]));
}

/* A field as a number; -1 when it is null. */
static inline int64_t jnum(struct json_object *obj, const char *key)
{
	struct json_object *v;

	cr_assert(json_object_object_get_ex(obj, key, &v), "no \"%s\"", key);
	return v ? json_object_get_int64(v) : -1;
}

static inline const char *jstr(struct json_object *obj, const char *key)
{
	struct json_object *v;

	cr_assert(json_object_object_get_ex(obj, key, &v), "no \"%s\"", key);
	return v ? json_object_get_string(v) : NULL;
}

/* ---- fake sysfs trees ----------------------------------------------- */

/* Write @fmt to @root/@rel, creating the folders on the way. */
static inline void fake_attr(const char *root, const char *rel,
			     const char *fmt, ...)
{
	char path[PATH_MAX], *p;
	va_list ap;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	f = fopen(path, "w");
	cr_assert_not_null(f, "cannot write %s", path);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

static inline void fake_link(const char *root, const char *rel,
			     const char *target)
{
	char path[PATH_MAX], *p;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	cr_assert_eq(symlink(target, path), 0, "symlink %s", path);
}

/*
 * A kernel device-DAX device daxR.N of region R, bound to @driver (NULL:
 * none), as 6.1 lays it out: the device folder under its region, reached
 * from bus/dax/devices, dax_region/ one level up.
 */
static inline void fake_devdax(const char *root, int region, int n,
			       const char *driver)
{
	char dev[128], rel[256], link[256];

	snprintf(dev, sizeof(dev),
		 "devices/platform/e820_pmem/ndbus0/region%d/dax%d.%d/dax%d.%d",
		 region, region, n, region, n);
	snprintf(rel, sizeof(rel), "bus/dax/devices/dax%d.%d", region, n);
	snprintf(link, sizeof(link), "../../../%s", dev);
	fake_link(root, rel, link);
	snprintf(rel, sizeof(rel), "%s/size", dev);
	fake_attr(root, rel, "0");	/* makes the folder; tests fill it */
	if (driver) {
		snprintf(rel, sizeof(rel), "%s/driver", dev);
		snprintf(link, sizeof(link), "../../../../../../../bus/dax/drivers/%s",
			 driver);
		fake_link(root, rel, link);
	}
}

/* Folders of devices made by fake_devdax(), for fake_attr(). */
#define DEVDAX_DIR(r, n)                                                       \
	"devices/platform/e820_pmem/ndbus0/region" #r "/dax" #r "." #n       \
	"/dax" #r "." #n
#define DAXREGION_DIR(r, n)                                                    \
	"devices/platform/e820_pmem/ndbus0/region" #r "/dax" #r "." #n       \
	"/dax_region"

#endif /* LIBDAX_TEST_CLI_H */
