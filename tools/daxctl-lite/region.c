// SPDX-License-Identifier: MIT
/*
 * Regions opened through libdax (files, memfds, and devices named on the
 * command line), described with the same region object as sysfs.c uses.
 * The CLI only looks: regions are opened read-only.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "libdax.h"
#include "daxctl-lite.h"

/*
 * region_open() - open @path read-only with the command line's alignment,
 * size and sysfs root.  On failure the library's explanation is copied to
 * @msg (dax_errormsg() would not survive the cleanup).
 * Return: 0, or the library's -errno.
 */
int region_open(const struct cli_opts *o, const char *path,
		struct dax_region **region, char *msg, size_t len)
{
	struct dax_region_opts *opts;
	int ret;

	ret = dax_region_opts_new(&opts);
	if (!ret && o->align)
		ret = dax_region_opts_set_align(opts, o->align);
	if (!ret && o->size)
		ret = dax_region_opts_set_size(opts, o->size);
	if (!ret && o->sysfs_root)
		ret = dax_region_opts_set_sysfs_root(opts, o->sysfs_root);
	if (!ret)
		ret = dax_region_opts_set_flags(opts, DAX_REGION_READONLY);
	if (!ret)
		ret = dax_region_open(path, opts, region);
	if (ret)
		snprintf(msg, len, "%s", dax_errormsg());
	dax_region_opts_delete(&opts);
	return ret;
}

const char *region_kind_name(unsigned kind)
{
	switch (kind) {
	case DAX_REGION_KIND_DEVDAX:
		return "devdax";
	case DAX_REGION_KIND_MODULE:
		return "module";
	case DAX_REGION_KIND_EMULATED:
		return "emulated";
	}
	return NULL;
}

struct json_object *region_to_json(const struct cli_opts *o,
				   const struct dax_region *region)
{
	enum dax_region_kind kind = dax_region_get_kind(region);
	const char *path = dax_region_get_path(region);
	struct json_object *jr = json_region_new();
	struct json_object *jm = json_object_object_get(jr, "mappings");
	struct dax_resource res;
	unsigned i;

	json_set_str(jr, "path", path);
	json_set_str(jr, "kind", region_kind_name(kind));
	if (kind != DAX_REGION_KIND_EMULATED) {
		json_set_str(jr, "chardev",
			     strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
		/* Only a device bound to device_dax has a /dev node. */
		json_set_str(jr, "mode", "devdax");
		sysfs_describe_chardev(o, path, jr);
	}
	json_set_u64(jr, "size", dax_region_get_size(region));
	json_set_u64(jr, "align", dax_region_get_align(region));
	json_set_int_or_null(jr, "numa_node", dax_region_get_numa_node(region));
	json_set_int_or_null(jr, "target_node",
			     dax_region_get_target_node(region));
	for (i = 0; i < dax_region_get_nr_resources(region); i++)
		if (!dax_region_get_resource(region, i, &res))
			json_object_array_add(jm, json_mapping_new(res.start,
								   res.end,
								   res.page_offset));
	badblocks_to_json((struct dax_region *)region, jr);
	return jr;
}

/*
 * The body of the commands that open each PATH (badblocks, check, busy):
 * parse the options by @spec, open each region, let @fn (if any) add to
 * its JSON object, and show the report: as JSON, or with --human through
 * @human (given the regions array; NULL: the report's usual text).
 * Return: the exit status.
 */
int each_region(int argc, char **argv, const struct cli_spec *spec,
		int (*fn)(struct json_object *report, struct dax_region *region,
			  struct json_object *jr),
		void (*human)(struct json_object *regions))
{
	struct json_object *report, *regions;
	struct cli_opts o = { 0 };
	int i, ret, status = EXIT_OK;
	char msg[512];

	ret = parse_common_args(argc, argv, spec, &o);
	if (ret >= 0)
		return ret;
	report = json_new_report();
	regions = json_object_object_get(report, "regions");
	for (i = optind; i < argc; i++) {
		struct dax_region *region = NULL;
		struct json_object *jr;

		ret = region_open(&o, argv[i], &region, msg, sizeof(msg));
		if (ret) {
			report_error(report, argv[i], ret, msg);
			status = EXIT_RUNTIME;
			continue;
		}
		jr = region_to_json(&o, region);
		if (fn && fn(report, region, jr))
			status = EXIT_RUNTIME;
		json_object_array_add(regions, jr);
		dax_region_close(&region);
	}
	if (o.human && human) {
		human(regions);
		if (fflush(stdout) || ferror(stdout))
			status = EXIT_RUNTIME;
	} else if (display(report, &o)) {
		status = EXIT_RUNTIME;
	}
	json_object_put(report);
	return status;
}
