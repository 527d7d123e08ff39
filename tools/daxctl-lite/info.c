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

struct offsets {
	uint64_t v[MAX_OFFSETS];
	int n;
};

static int info_option(int c, const char *arg, void *priv)
{
	struct offsets *off = priv;

	if (c != 'o')
		return 0;
	if (off->n == MAX_OFFSETS) {
		usage_error("at most %d offsets", MAX_OFFSETS);
		return -1;
	}
	if (parse_size(arg, &off->v[off->n++])) {
		usage_error("--offset: '%s' is not an offset", arg);
		return -1;
	}
	return 1;
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
		{ "offset", required_argument, NULL, 'o' },
		{ 0 },
	};
	struct offsets offsets = { .n = 0 };
	const struct cli_spec spec = {
		.name = "info",
		.usage = "[-u] [--sysfs-root DIR] [-a ALIGN] [-s SIZE] "
			 "[-o OFFSET]... PATH",
		.shortopts = "o:",
		.longopts = longopts,
		.option = info_option,
		.priv = &offsets,
		.min_paths = 1,
		.max_paths = 1,
	};
	struct dax_region *region = NULL;
	struct json_object *report;
	struct cli_opts o = { 0 };
	int ret, status = EXIT_OK;
	char msg[512];

	ret = parse_common_args(argc, argv, &spec, &o);
	if (ret >= 0)
		return ret;

	report = json_new_report();
	ret = region_open(&o, argv[optind], &region, msg, sizeof(msg));
	if (ret) {
		report_error(report, argv[optind], ret, msg);
		status = EXIT_RUNTIME;
	} else {
		json_object_array_add(json_object_object_get(report, "regions"),
				      region_to_json(&o, region));
		if (translate_all(report, region, offsets.v, offsets.n))
			status = EXIT_RUNTIME;
		dax_region_close(&region);
	}
	if (display(report, &o))
		status = EXIT_RUNTIME;
	json_object_put(report);
	return status;
}
