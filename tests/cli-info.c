// SPDX-License-Identifier: MIT
/* daxctl-lite info: one region opened through libdax, offsets translated. */
#include <sys/sysmacros.h>

#include "cli.h"

Test(cli_info, shows_one_region_and_translates_each_mapping_end)
{
	struct json_object *jr, *jm, *jt;
	int64_t start, end;
	struct cli_run r;
	size_t i, n;

	cli_run(&r, "info", "--size", "4M", "memfd:cli-info");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	assert_report_shape(&r);
	cr_assert_eq(json_object_array_length(report_array(&r, "regions")), 1);
	jr = report_item(&r, "regions", 0);
	assert_region_shape(jr);
	cr_assert_str_eq(jstr(jr, "kind"), "emulated");
	cr_assert_eq(jnum(jr, "size"), 4 << 20);
	n = json_object_array_length(json_object_object_get(jr, "mappings"));
	cr_assert_eq(json_object_array_length(report_array(&r, "translations")),
		     2 * n, "want first and last byte of each of %zu mappings",
		     n);
	for (i = 0; i < n; i++) {
		jm = json_object_array_get_idx(json_object_object_get(jr,
								      "mappings"),
					       i);
		start = jnum(jm, "start");
		end = jnum(jm, "end");
		jt = report_item(&r, "translations", 2 * i);
		cr_assert_eq(jnum(jt, "offset"), jnum(jm, "page_offset") * 4096);
		cr_assert_eq(jnum(jt, "phys"), start);
		cr_assert_eq(jnum(jt, "mapping"), (int64_t)i);
		jt = report_item(&r, "translations", 2 * i + 1);
		cr_assert_eq(jnum(jt, "phys"), end);
	}
	cli_free(&r);
}

Test(cli_info, translates_the_offsets_asked_for)
{
	struct json_object *jm, *jt;
	struct cli_run r;

	cli_run(&r, "info", "-s", "4M", "-o", "0x1000", "--offset", "3M",
		"memfd:cli-info");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_eq(json_object_array_length(report_array(&r, "translations")),
		     2);
	jm = json_object_array_get_idx(
		json_object_object_get(report_item(&r, "regions", 0),
				       "mappings"), 0);
	cr_assert_not_null(jm, "an emulated region has at least one mapping");
	jt = report_item(&r, "translations", 0);
	cr_assert_eq(jnum(jt, "offset"), 0x1000);
	cr_assert_eq(jnum(jt, "phys"), jnum(jm, "start") + 0x1000);
	jt = report_item(&r, "translations", 1);
	cr_assert_eq(jnum(jt, "offset"), 3 << 20);
	cli_free(&r);
}

Test(cli_info, an_offset_past_the_end_fails_with_the_library_message)
{
	struct cli_run r;

	cli_run(&r, "info", "-s", "2M", "-o", "2M", "memfd:cli-info");
	cr_assert_eq(r.status, 1);
	assert_report_shape(&r);
	cr_assert_eq(json_object_array_length(report_array(&r, "regions")), 1,
		     "the region is still shown");
	cr_assert_gt(strlen(jstr(report_item(&r, "errors", 0), "message")), 0);
	cr_assert(strstr(r.err, "memfd:cli-info"), "stderr: %s", r.err);
	cli_free(&r);
}

Test(cli_info, a_region_that_cannot_open_gives_errors_and_exit_1)
{
	struct cli_run r;

	/* 3 MiB is not a multiple of the default 2 MiB alignment. */
	cli_run(&r, "info", "-s", "3M", "memfd:cli-info");
	cr_assert_eq(r.status, 1);
	assert_report_shape(&r);
	cr_assert_eq(json_object_array_length(report_array(&r, "regions")), 0);
	cr_assert_eq(jnum(report_item(&r, "errors", 0), "errno"), EINVAL);
	cr_assert(strstr(r.err, "Invalid argument: "), "stderr: %s", r.err);
	cli_free(&r);
}

Test(cli_info, a_directory_is_refused)
{
	struct cli_run r;

	cli_run(&r, "info", "/tmp");
	cr_assert_eq(r.status, 1);
	assert_report_shape(&r);
	cr_assert_neq(jnum(report_item(&r, "errors", 0), "errno"), 0);
	cli_free(&r);
}

Test(cli_info, human_output_lists_translations)
{
	struct cli_run r;

	cli_run(&r, "info", "-u", "-s", "4M", "-a", "4K", "-o", "0x2000",
		"memfd:cli-info");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(strstr(r.out, "memfd:cli-info\n"), "%s", r.out);
	cr_assert(strstr(r.out, "4 KiB (4096)"), "%s", r.out);
	cr_assert(strstr(r.out, "offset 0x2000 -> phys 0x"), "%s", r.out);
	cli_free(&r);
}

/*
 * A device in a fake sysfs tree: /dev/zero (1:5) dressed as dax0.0 through
 * <root>/dev/char/1:5.  The library opens and maps it as device-DAX; the
 * tool adds what only sysfs knows (mode, region_id).
 */
Test(cli_info, a_device_joins_library_and_sysfs_fields)
{
	struct json_object *jr;
	struct cli_run r;
	char *root = test_tmpdir();
	struct stat st;

	cr_assert_eq(stat("/dev/zero", &st), 0);
	cr_assert_eq(major(st.st_rdev), 1);
	cr_assert_eq(minor(st.st_rdev), 5);
	fake_devdax(root, 0, 0, "device_dax");
	fake_attr(root, DEVDAX_DIR(0, 0) "/size", "%d", 8 << 20);
	fake_attr(root, DEVDAX_DIR(0, 0) "/align", "2097152");
	fake_attr(root, DEVDAX_DIR(0, 0) "/numa_node", "0");
	fake_attr(root, DEVDAX_DIR(0, 0) "/target_node", "-1");
	fake_attr(root, DEVDAX_DIR(0, 0) "/mapping0/start", "0x100000000");
	fake_attr(root, DEVDAX_DIR(0, 0) "/mapping0/end", "0x1007fffff");
	fake_attr(root, DEVDAX_DIR(0, 0) "/mapping0/page_offset", "0x0");
	fake_attr(root, DAXREGION_DIR(0, 0) "/id", "3");
	fake_link(root, DEVDAX_DIR(0, 0) "/subsystem",
		  "../../../../../../../bus/dax");
	fake_link(root, "dev/char/1:5", "../../" DEVDAX_DIR(0, 0));

	cli_run(&r, "info", "--sysfs-root", root, "/dev/zero");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	assert_report_shape(&r);
	jr = report_item(&r, "regions", 0);
	assert_region_shape(jr);
	cr_assert_str_eq(jstr(jr, "kind"), "devdax");
	cr_assert_str_eq(jstr(jr, "chardev"), "zero");
	cr_assert_str_eq(jstr(jr, "mode"), "devdax");
	cr_assert_eq(jnum(jr, "size"), 8 << 20);
	cr_assert_eq(jnum(jr, "align"), 2 << 20);
	cr_assert_eq(jnum(jr, "numa_node"), 0);
	cr_assert_eq(jnum(jr, "target_node"), -1);
	cr_assert_eq(jnum(jr, "region_id"), 3);
	cr_assert_eq(jnum(report_item(&r, "translations", 1), "phys"),
		     0x1007fffffLL);
	cli_free(&r);
	test_rmdir(root);
}
