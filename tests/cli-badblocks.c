// SPDX-License-Identifier: MIT
/*
 * daxctl-lite's bad blocks: the "badblocks" key of every REGION (null for
 * a device listed from sysfs without opening it, an array once opened) and
 * the badblocks command (JSON, --human, usage errors, a path that cannot
 * be opened).
 */
#include "cli.h"

static char *root;

static void make_root(void)
{
	root = test_tmpdir();
}

static void remove_root(void)
{
	test_rmdir(root);
}

TestSuite(cli_badblocks, .init = make_root, .fini = remove_root);

Test(cli_badblocks, an_opened_region_has_an_array_of_bad_ranges)
{
	struct json_object *jr, *jb;
	struct cli_run r;

	cli_run(&r, "badblocks", "-s", "4M", "memfd:cli-bb");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	assert_report_shape(&r);
	jr = report_item(&r, "regions", 0);
	assert_region_shape(jr);
	jb = json_object_object_get(jr, "badblocks");
	cr_assert(json_object_is_type(jb, json_type_array));
	cr_assert_eq(json_object_array_length(jb), 0);
	cli_free(&r);
}

Test(cli_badblocks, info_shows_them_too)
{
	struct cli_run r;

	cli_run(&r, "info", "-s", "4M", "memfd:cli-bb");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(json_object_is_type(
		json_object_object_get(report_item(&r, "regions", 0),
				       "badblocks"),
		json_type_array));
	cli_free(&r);
}

Test(cli_badblocks, a_device_listed_from_sysfs_has_null)
{
	struct json_object *jr, *jb = (struct json_object *)1;
	struct cli_run r;

	fake_devdax(root, 0, 0, "device_dax");
	fake_attr(root, DEVDAX_DIR(0, 0) "/size", "526385152");
	fake_attr(root, DEVDAX_DIR(0, 0) "/align", "2097152");
	cli_run(&r, "list", "--sysfs-root", root);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	jr = report_item(&r, "regions", 0);
	assert_region_shape(jr);
	cr_assert(json_object_object_get_ex(jr, "badblocks", &jb));
	cr_assert_null(jb);
	cli_free(&r);
}

Test(cli_badblocks, human_output_counts_them)
{
	struct cli_run r;

	cli_run(&r, "badblocks", "--human", "-s", "4M", "memfd:cli-bb");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(strstr(r.out, "memfd:cli-bb"), "%s", r.out);
	cr_assert(strstr(r.out, "badblocks    0"), "%s", r.out);
	cli_free(&r);
}

Test(cli_badblocks, without_a_path_is_a_usage_error)
{
	struct cli_run r;

	cli_run(&r, "badblocks");
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "at least one PATH"), "%s", r.err);
	cli_free(&r);
}

Test(cli_badblocks, a_path_that_cannot_be_opened_is_reported)
{
	struct cli_run r;

	cli_run(&r, "badblocks", "-s", "4M", "/nonexistent/region",
		"memfd:cli-bb");
	cr_assert_eq(r.status, 1);
	assert_report_shape(&r);
	cr_assert_eq(json_object_array_length(report_array(&r, "errors")), 1);
	cr_assert_eq(json_object_array_length(report_array(&r, "regions")), 1);
	cli_free(&r);
}
