// SPDX-License-Identifier: MIT
/*
 * daxctl-lite list [OPTIONS] [PATH...]: every device-DAX and module device
 * found in sysfs, then each PATH (a file, memfd:NAME or device) opened
 * through libdax.  A PATH that cannot be opened is reported on stderr and
 * in "errors", the others are still listed, and the exit status is 1.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libdax.h"
#include "daxctl-lite.h"

/* A device named on the command line that sysfs already listed. */
static bool already_listed(struct json_object *regions, const char *path)
{
	char real[PATH_MAX];
	size_t i;

	if (!realpath(path, real))
		return false;
	for (i = 0; i < json_object_array_length(regions); i++) {
		struct json_object *jr = json_object_array_get_idx(regions, i);
		const char *p = json_object_get_string(
			json_object_object_get(jr, "path"));

		if (p && !strcmp(p, real))
			return true;
	}
	return false;
}

/* Report a failure on stderr and in the report's "errors". */
void report_error(struct json_object *report, const char *path, int err,
		  const char *msg)
{
	fprintf(stderr, "%s: %s: %s%s%s\n", progname, path, strerror(-err),
		msg[0] ? ": " : "", msg);
	json_add_error(report, path, err, msg);
}

int cmd_list(int argc, char **argv)
{
	static const struct cli_spec spec = {
		.name = "list",
		.usage = "[-u] [--sysfs-root DIR] [-a ALIGN] [-s SIZE] [PATH...]",
		.max_paths = -1,
	};
	struct json_object *report, *regions;
	struct cli_opts o = { 0 };
	int i, ret, status = EXIT_OK;
	char msg[512];

	ret = parse_common_args(argc, argv, &spec, &o);
	if (ret >= 0)
		return ret;

	report = json_new_report();
	regions = json_object_object_get(report, "regions");
	ret = sysfs_list_devices(&o, regions);
	if (ret) {
		report_error(report, sysfs_root(&o), ret, "cannot read sysfs");
		status = EXIT_RUNTIME;
	}
	for (i = optind; i < argc; i++) {
		struct dax_region *region = NULL;

		if (already_listed(regions, argv[i]))
			continue;
		ret = region_open(&o, argv[i], &region, msg, sizeof(msg));
		if (ret) {
			report_error(report, argv[i], ret, msg);
			status = EXIT_RUNTIME;
			continue;
		}
		json_object_array_add(regions, region_to_json(&o, region));
		dax_region_close(&region);
	}
	if (display(report, &o))
		status = EXIT_RUNTIME;
	json_object_put(report);
	return status;
}
