// SPDX-License-Identifier: MIT
/*
 * daxctl-lite info [OPTIONS] [-o OFFSET]... PATH: open one region through
 * libdax and show it with the physical address of each OFFSET, translated
 * by the library the way the kernel's pgoff_to_phys walks the resources.
 * Without -o, the first and last byte of every mapping are translated, which
 * shows that the library and sysfs agree on the layout.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "libdax.h"
#include "daxctl-lite.h"

#define MAX_OFFSETS 64

static void info_usage(void)
{
	printf("usage: %s info [-u] [--sysfs-root DIR] [-a ALIGN] [-s SIZE] "
	       "[-o OFFSET]... PATH\n", progname);
}

/* Return: 0, or -errno after reporting the failure. */
static int translate(struct json_object *report, struct dax_region *region,
		     uint64_t offset)
{
	struct json_object *jt;
	unsigned resource;
	uint64_t phys;
	int ret;

	ret = dax_region_offset_to_phys(region, offset, &phys, &resource);
	if (ret) {
		report_error(report, dax_region_get_path(region), ret,
			     dax_errormsg());
		return ret;
	}
	jt = json_object_new_object();
	json_set_u64(jt, "offset", offset);
	json_set_u64(jt, "phys", phys);
	json_set_u64(jt, "mapping", resource);
	json_object_array_add(json_object_object_get(report, "translations"),
			      jt);
	return 0;
}

static int translate_all(struct json_object *report,
			 struct dax_region *region, const uint64_t *offsets,
			 int nr_offsets)
{
	struct dax_resource res;
	int i, err = 0;
	unsigned r;

	for (i = 0; i < nr_offsets; i++)
		err |= translate(report, region, offsets[i]);
	if (nr_offsets)
		return err;
	for (r = 0; r < dax_region_get_nr_resources(region); r++) {
		if (dax_region_get_resource(region, r, &res))
			continue;
		err |= translate(report, region, res.page_offset << 12);
		err |= translate(report, region,
				 (res.page_offset << 12) + res.end - res.start);
	}
	return err;
}

int cmd_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "offset", required_argument, NULL, 'o' },
		{ 0 },
	};
	struct dax_region *region = NULL;
	uint64_t offsets[MAX_OFFSETS];
	struct json_object *report;
	struct cli_opts o = { 0 };
	int c, ret, nr_offsets = 0, status = EXIT_OK;
	char msg[512];

	while ((c = getopt_long(argc, argv, COMMON_SHORTOPTS "o:", longopts,
				NULL)) != -1) {
		if (c == 'h') {
			info_usage();
			return EXIT_OK;
		}
		if (c == 'o') {
			if (nr_offsets == MAX_OFFSETS) {
				usage_error("at most %d offsets", MAX_OFFSETS);
				return EXIT_USAGE;
			}
			if (parse_size(optarg, &offsets[nr_offsets++])) {
				usage_error("--offset: '%s' is not an offset",
					    optarg);
				return EXIT_USAGE;
			}
			continue;
		}
		ret = parse_common_option(c, optarg, &o);
		if (ret == 0)
			bad_option(argv);
		if (ret <= 0)
			return EXIT_USAGE;
	}
	if (argc - optind != 1) {
		usage_error("info takes exactly one PATH (%d given)",
			    argc - optind);
		return EXIT_USAGE;
	}
	if (check_paths(&o, argv + optind, 1))
		return EXIT_USAGE;

	report = json_new_report();
	ret = region_open(&o, argv[optind], &region, msg, sizeof(msg));
	if (ret) {
		report_error(report, argv[optind], ret, msg);
		status = EXIT_RUNTIME;
	} else {
		json_object_array_add(json_object_object_get(report, "regions"),
				      region_to_json(&o, region));
		if (translate_all(report, region, offsets, nr_offsets))
			status = EXIT_RUNTIME;
		dax_region_close(&region);
	}
	if (display(report, &o))
		status = EXIT_RUNTIME;
	json_object_put(report);
	return status;
}
