// SPDX-License-Identifier: MIT
/*
 * badblocks: open each PATH and show its bad blocks, as
 * dax_region_get_badblocks(3) reports them (pages poisoned by a memory
 * failure, injected into an emulated region, or listed by the device),
 * merged into byte ranges.  The report is the one every command prints;
 * --human shows only the bad ranges of each region.
 */
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

/* --human: each region's path, then its bad ranges. */
static void print_regions_badblocks(struct json_object *regions)
{
	for (size_t k = 0; k < json_object_array_length(regions); k++) {
		struct json_object *jr = json_object_array_get_idx(regions, k);

		printf("%s\n", json_object_get_string(
				       json_object_object_get(jr, "path")));
		print_badblocks(jr);
	}
}

int cmd_badblocks(int argc, char **argv)
{
	static const struct cli_spec spec = {
		.name = "badblocks",
		.usage = "[-u] [--sysfs-root DIR] [-a ALIGN] [-s SIZE] PATH...",
		.min_paths = 1,
		.max_paths = -1,
	};

	/* region_to_json() has the bad blocks already */
	return each_region(argc, argv, &spec, NULL, print_regions_badblocks);
}
