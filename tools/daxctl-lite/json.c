// SPDX-License-Identifier: MIT
/*
 * The report every command builds, and display(), the one function that
 * prints it: JSON for scripts, or text for people with --human.  Region
 * objects start from json_region_new() with every key present (null until
 * known), so the shape never depends on what could be read.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daxctl-lite.h"

struct json_object *json_new_report(void)
{
	struct json_object *report = json_object_new_object();

	json_object_object_add(report, "schema",
			       json_object_new_int(DAXCTL_LITE_SCHEMA));
	json_object_object_add(report, "regions", json_object_new_array());
	json_object_object_add(report, "translations", json_object_new_array());
	json_object_object_add(report, "errors", json_object_new_array());
	json_object_object_add(report, "users", json_object_new_array());
	return report;
}

void json_add_error(struct json_object *report, const char *path, int err,
		    const char *msg)
{
	struct json_object *je = json_object_new_object();

	json_set_str(je, "path", path);
	json_object_object_add(je, "errno", json_object_new_int(-err));
	json_set_str(je, "error", strerror(-err));
	json_set_str(je, "message", msg);
	json_object_array_add(json_object_object_get(report, "errors"), je);
}

struct json_object *json_region_new(void)
{
	static const char *const keys[] = {
		"path", "chardev", "kind", "mode", "size", "align",
		"numa_node", "target_node", "region_id",
	};
	struct json_object *jr = json_object_new_object();
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		json_object_object_add(jr, keys[i], NULL);
	json_object_object_add(jr, "mappings", json_object_new_array());
	/* null until the region is opened (badblocks.c fills it then) */
	json_object_object_add(jr, "badblocks", NULL);
	/* null unless the busy or check command filled them (check.c) */
	json_object_object_add(jr, "busy_pages", NULL);
	json_object_object_add(jr, "check", NULL);
	return jr;
}

struct json_object *json_mapping_new(uint64_t start, uint64_t end,
				     uint64_t page_offset)
{
	struct json_object *jm = json_object_new_object();

	json_set_u64(jm, "page_offset", page_offset);
	json_set_u64(jm, "start", start);
	json_set_u64(jm, "end", end);
	json_set_u64(jm, "size", end - start + 1);
	return jm;
}

/* Sizes and addresses fit in int64 (json-c's integer) on every machine. */
void json_set_u64(struct json_object *obj, const char *key, uint64_t val)
{
	json_object_object_add(obj, key, json_object_new_int64((int64_t)val));
}

void json_set_int_or_null(struct json_object *obj, const char *key, int val)
{
	json_object_object_add(obj, key,
			       val < 0 ? NULL : json_object_new_int(val));
}

void json_set_str(struct json_object *obj, const char *key, const char *val)
{
	json_object_object_add(obj, key,
			       val ? json_object_new_string(val) : NULL);
}

/* ---- --human ------------------------------------------------------------ */

static uint64_t get_u64(struct json_object *obj, const char *key)
{
	return (uint64_t)json_object_get_int64(json_object_object_get(obj, key));
}

/* "2 MiB" when exact, else "502.25 MiB"; bytes below 1 KiB. */
const char *human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	int u = -1;

	while (u < 3 && bytes >= (1024ULL << (10 * (u + 1))))
		u++;
	if (u < 0)
		snprintf(buf, len, "%" PRIu64 " bytes", bytes);
	else if (!(bytes & ((1ULL << (10 * (u + 1))) - 1)))
		snprintf(buf, len, "%" PRIu64 " %s", bytes >> (10 * (u + 1)),
			 units[u]);
	else
		snprintf(buf, len, "%.2f %s",
			 (double)bytes / (double)(1ULL << (10 * (u + 1))),
			 units[u]);
	return buf;
}

static void print_field(struct json_object *jr, const char *key)
{
	struct json_object *v = json_object_object_get(jr, key);
	char buf[64];

	printf("  %-12s ", key);
	if (!v)		/* null: unknown, or does not apply */
		printf("-\n");
	else if (!strcmp(key, "size") || !strcmp(key, "align"))
		printf("%s (%" PRIu64 ")\n",
		       human_size(get_u64(jr, key), buf, sizeof(buf)),
		       get_u64(jr, key));
	else
		printf("%s\n", json_object_get_string(v));
}

/* The bad ranges of a region: "-" when unknown (not opened). */
void print_badblocks(struct json_object *jr)
{
	struct json_object *jb = json_object_object_get(jr, "badblocks");
	size_t i, n = jb ? json_object_array_length(jb) : 0;

	if (!jb) {
		printf("  %-12s -\n", "badblocks");
		return;
	}
	printf("  %-12s %zu\n", "badblocks", n);
	for (i = 0; i < n; i++) {
		struct json_object *b = json_object_array_get_idx(jb, i);

		printf("    offset 0x%" PRIx64 ", %" PRIu64 " bytes\n",
		       get_u64(b, "offset"), get_u64(b, "length"));
	}
}

/* busy and check results, when those commands filled them. */
static void print_check(struct json_object *jr)
{
	struct json_object *jc = json_object_object_get(jr, "check");
	struct json_object *v;
	char buf[64];

	if (json_object_object_get(jr, "busy_pages"))
		printf("  %-12s %" PRIu64 "\n", "busy_pages",
		       get_u64(jr, "busy_pages"));
	if (!jc)
		return;
	printf("  %-12s base %s, %" PRIu64 " of %" PRIu64
	       " alignment units read, %" PRIu64 " SIGBUS\n", "check",
	       json_object_get_boolean(json_object_object_get(jc,
							      "base_aligned")) ?
		       "aligned" : "NOT aligned",
	       get_u64(jc, "touched"), get_u64(jc, "units"),
	       get_u64(jc, "sigbus"));
	v = json_object_object_get(jc, "kernel_page_size");
	if (!v) {
		printf("    page sizes unknown (no /proc/self/smaps entry)\n");
		return;
	}
	printf("    kernel page size %s", human_size(get_u64(jc,
		"kernel_page_size"), buf, sizeof(buf)));
	printf(", MMU page size %s\n", human_size(get_u64(jc,
		"mmu_page_size"), buf, sizeof(buf)));
	printf("    resident %s", human_size(get_u64(jc, "rss"), buf,
					     sizeof(buf)));
	printf(", of which mapped by 2 MiB entries %s", human_size(
		get_u64(jc, "pmd_mapped"), buf, sizeof(buf)));
	printf(" (%" PRIu64 " VMA%s)\n", get_u64(jc, "vmas"),
	       get_u64(jc, "vmas") == 1 ? "" : "s");
}

static void print_region(struct json_object *jr)
{
	static const char *const keys[] = {
		"chardev", "kind", "mode", "size", "align",
		"numa_node", "target_node", "region_id",
	};
	struct json_object *jm = json_object_object_get(jr, "mappings");
	size_t i, n = json_object_array_length(jm);
	char buf[64];

	printf("%s\n", json_object_get_string(json_object_object_get(jr,
								     "path")));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		print_field(jr, keys[i]);
	printf("  %-12s %zu\n", "mappings", n);
	for (i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(jm, i);

		printf("    %zu: phys 0x%" PRIx64 "-0x%" PRIx64
		       ", %s, page_offset 0x%" PRIx64 "\n", i,
		       get_u64(m, "start"), get_u64(m, "end"),
		       human_size(get_u64(m, "size"), buf, sizeof(buf)),
		       get_u64(m, "page_offset"));
	}
	print_badblocks(jr);
	print_check(jr);
}

static void print_human(struct json_object *report)
{
	struct json_object *regions = json_object_object_get(report, "regions");
	struct json_object *trans = json_object_object_get(report,
							   "translations");
	size_t i, n = json_object_array_length(regions);

	if (n == 0)
		printf("no regions found\n");
	for (i = 0; i < n; i++) {
		if (i)
			printf("\n");
		print_region(json_object_array_get_idx(regions, i));
	}
	if (json_object_array_length(trans) == 0)
		return;
	printf("  %-12s %zu\n", "translations",
	       json_object_array_length(trans));
	for (i = 0; i < json_object_array_length(trans); i++) {
		struct json_object *t = json_object_array_get_idx(trans, i);

		printf("    offset 0x%" PRIx64 " -> phys 0x%" PRIx64
		       " (mapping %" PRIu64 ")\n", get_u64(t, "offset"),
		       get_u64(t, "phys"), get_u64(t, "mapping"));
	}
}

/*
 * display() - print @report on stdout, as JSON or (--human) as text.
 * Errors were already reported on stderr where they happened.
 * Return: 0, or -EIO when stdout could not be written.
 */
int display(struct json_object *report, const struct cli_opts *o)
{
	if (o->human)
		print_human(report);
	else
		printf("%s\n", json_object_to_json_string_ext(report,
			JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			JSON_C_TO_STRING_NOSLASHESCAPE));
	return fflush(stdout) || ferror(stdout) ? -EIO : 0;
}
