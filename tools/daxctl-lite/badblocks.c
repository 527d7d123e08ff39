// SPDX-License-Identifier: MIT
/*
 * badblocks: open each PATH and show its bad blocks, as
 * dax_region_get_badblocks(3) reports them (pages poisoned by a memory
 * failure, injected into an emulated region, or listed by the device),
 * merged into byte ranges.  The report is the one every command prints;
 * --human shows only the bad ranges of each region.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "libdax.h"
#include "daxctl-lite.h"

#define PAGE 4096

static void add_range(struct json_object *jb, uint64_t first, uint64_t n)
{
	struct json_object *b = json_object_new_object();

	json_set_u64(b, "offset", first * PAGE);
	json_set_u64(b, "length", n * PAGE);
	json_object_array_add(jb, b);
}

void badblocks_to_json(struct dax_region *region, struct json_object *jr)
{
	struct json_object *jb;
	uint64_t nr = 0, *pages, i, first, n;

	if (dax_region_get_badblocks(region, NULL, 0, &nr))
		return;		/* stays null: unknown */
	pages = nr ? malloc(nr * sizeof(*pages)) : NULL;
	if (nr && (!pages ||
		   dax_region_get_badblocks(region, pages, nr, &nr))) {
		free(pages);
		return;
	}
	jb = json_object_new_array();
	for (i = 0; i < nr; i += n) {
		first = pages[i];
		for (n = 1; i + n < nr && pages[i + n] == first + n; n++)
			;
		add_range(jb, first, n);
	}
	free(pages);
	json_object_object_add(jr, "badblocks", jb);
}

int cmd_badblocks(int argc, char **argv)
{
	static const struct cli_spec spec = {
		.name = "badblocks",
		.usage = "[-u] [--sysfs-root DIR] [-a ALIGN] [-s SIZE] PATH...",
		.min_paths = 1,
		.max_paths = -1,
	};
	struct json_object *report, *regions;
	struct cli_opts o = { 0 };
	int i, ret, status = EXIT_OK;
	char msg[512];
	size_t k;

	ret = parse_common_args(argc, argv, &spec, &o);
	if (ret >= 0)
		return ret;

	report = json_new_report();
	regions = json_object_object_get(report, "regions");
	for (i = optind; i < argc; i++) {
		struct dax_region *region = NULL;

		ret = region_open(&o, argv[i], &region, msg, sizeof(msg));
		if (ret) {
			report_error(report, argv[i], ret, msg);
			status = EXIT_RUNTIME;
			continue;
		}
		json_object_array_add(regions, region_to_json(&o, region));
		dax_region_close(&region);
	}
	if (o.human) {
		for (k = 0; k < json_object_array_length(regions); k++) {
			struct json_object *jr =
				json_object_array_get_idx(regions, k);

			printf("%s\n", json_object_get_string(
					       json_object_object_get(jr,
								      "path")));
			print_badblocks(jr);
		}
		if (fflush(stdout) || ferror(stdout))
			status = EXIT_RUNTIME;
	} else if (display(report, &o)) {
		status = EXIT_RUNTIME;
	}
	json_object_put(report);
	return status;
}
