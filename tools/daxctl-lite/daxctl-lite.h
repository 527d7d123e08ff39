/* SPDX-License-Identifier: MIT */
/*
 * daxctl-lite: inspect the regions libdax can open.  Declarations shared by
 * the CLI's files: main.c (command table), parse.c (option values), sysfs.c
 * (devices found in sysfs), region.c (regions opened through libdax),
 * list.c, info.c, badblocks.c and usage.c (the commands), json.c (the
 * one display function).
 *
 * Every command builds one JSON object, { "schema": N, "regions": [...],
 * ... }, and hands it to display(); the shape is documented field by field
 * in daxctl-lite(1) and only ever grows under a new schema number.
 */
#ifndef DAXCTL_LITE_H
#define DAXCTL_LITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <getopt.h>

#include <json-c/json.h>

#define DAXCTL_LITE_SCHEMA 1

/*
 * The report: { "schema", "regions", "translations", "errors", "users" },
 * every key in every command's report (arrays may be empty).
 */

/* Exit statuses that scripts can trust (documented in daxctl-lite(1)). */
enum {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1,	/* a region could not be read or opened */
	EXIT_USAGE = 2,		/* bad command line */
};

/* What every command accepts; filled by parse_common_option(). */
struct cli_opts {
	bool human;
	const char *sysfs_root;	/* NULL: the library's default, /sys */
	uint64_t align;		/* 0: the library's default */
	uint64_t size;		/* 0: the file's size */
};

/* The long options every command shares, and the matching short ones. */
#define COMMON_SHORTOPTS "ua:s:h"
#define COMMON_LONGOPTS                                                        \
	{ "human", no_argument, NULL, 'u' },                                   \
	{ "sysfs-root", required_argument, NULL, 'R' },                        \
	{ "align", required_argument, NULL, 'a' },                             \
	{ "size", required_argument, NULL, 's' },                              \
	{ "help", no_argument, NULL, 'h' }

/* main.c */
extern const char *progname;
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bad_option(char **argv);

/* parse.c */
int parse_size(const char *arg, uint64_t *out);
/* Return 1 if @c was a common option (consumed), 0 if not, -1 on bad value. */
int parse_common_option(int c, const char *arg, struct cli_opts *o);

#define CLI_MAX_LONGOPTS 16

/* What a command accepts beyond the common options. */
struct cli_spec {
	const char *name;		/* the command, for messages */
	const char *usage;		/* its synopsis after the name */
	const char *shortopts;		/* its own short options, or NULL */
	const struct option *longopts;	/* its own, { 0 }-terminated, or NULL */
	/* Like parse_common_option() for the command's own options. */
	int (*option)(int c, const char *arg, void *priv);
	void *priv;
	int min_paths, max_paths;	/* max_paths -1: any number */
	bool any_memfd;			/* memfd:NAME needs no --size */
};

/* Return: -1 to go on (optind: the first PATH), or an exit status. */
int parse_common_args(int argc, char **argv, const struct cli_spec *spec,
		      struct cli_opts *o);

/* sysfs.c: devices of the device-DAX bus and of the companion module */
const char *sysfs_root(const struct cli_opts *o);
int sysfs_list_devices(const struct cli_opts *o, struct json_object *regions);
/* Fill @jregion's sysfs-only fields (mode, region_id) for char device @path. */
void sysfs_describe_chardev(const struct cli_opts *o, const char *path,
			    struct json_object *jregion);

/* region.c: regions opened through libdax */
/* The JSON schema's name of a kind ("devdax", "module", "emulated"), NULL
 * for a kind it does not know: independent of dax_region_kind_name(). */
const char *region_kind_name(unsigned kind);
struct dax_region;
int region_open(const struct cli_opts *o, const char *path,
		struct dax_region **region, char *msg, size_t len);
struct json_object *region_to_json(const struct cli_opts *o,
				   const struct dax_region *region);
int each_region(int argc, char **argv, const struct cli_spec *spec,
		int (*fn)(struct json_object *report, struct dax_region *region,
			  struct json_object *jr),
		void (*human)(struct json_object *regions));

/* json.c */
struct json_object *json_new_report(void);
void json_add_error(struct json_object *report, const char *path, int err,
		    const char *msg);
struct json_object *json_region_new(void);
struct json_object *json_mapping_new(uint64_t start, uint64_t end,
				     uint64_t page_offset);
void json_set_u64(struct json_object *obj, const char *key, uint64_t val);
void json_set_int_or_null(struct json_object *obj, const char *key, int val);
void json_set_str(struct json_object *obj, const char *key, const char *val);
int display(struct json_object *report, const struct cli_opts *o);
const char *human_size(uint64_t bytes, char *buf, size_t len);
void print_badblocks(struct json_object *jregion);

/* badblocks.c: the region's bad ranges into @jregion's "badblocks" */
void badblocks_to_json(struct dax_region *region, struct json_object *jregion);
int cmd_badblocks(int argc, char **argv);

/* list.c, info.c */
void report_error(struct json_object *report, const char *path, int err,
		  const char *msg);
int cmd_list(int argc, char **argv);
int cmd_info(int argc, char **argv);

/* usage.c: who has a region open, from libdax's publications */
int cmd_usage(int argc, char **argv);

/* check.c: the mapping as the kernel made it; pages the kernel holds */
int cmd_check(int argc, char **argv);
int cmd_busy(int argc, char **argv);

#endif /* DAXCTL_LITE_H */
