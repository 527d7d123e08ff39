// SPDX-License-Identifier: MIT
/*
 * daxctl-lite list: devices found in a fake sysfs tree (device-DAX and the
 * companion module), and files / memfds named on the command line.
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

TestSuite(cli_list, .init = make_root, .fini = remove_root);

/* dax0.0 as ndctl create-namespace -m devdax -a 2M makes it. */
static void fake_pmem_device(void)
{
	fake_devdax(root, 0, 0, "device_dax");
	fake_attr(root, DEVDAX_DIR(0, 0) "/size", "526385152");
	fake_attr(root, DEVDAX_DIR(0, 0) "/align", "2097152");
	fake_attr(root, DEVDAX_DIR(0, 0) "/resource", "0x40a00000");
	fake_attr(root, DEVDAX_DIR(0, 0) "/numa_node", "0");
	fake_attr(root, DEVDAX_DIR(0, 0) "/target_node", "1");
	fake_attr(root, DEVDAX_DIR(0, 0) "/mapping0/start", "0x40a00000");
	fake_attr(root, DEVDAX_DIR(0, 0) "/mapping0/end", "0x5fffffff");
	fake_attr(root, DEVDAX_DIR(0, 0) "/mapping0/page_offset", "0x0");
	fake_attr(root, DAXREGION_DIR(0, 0) "/id", "0");
	fake_attr(root, DAXREGION_DIR(0, 0) "/align", "2097152");
	fake_attr(root, DAXREGION_DIR(0, 0) "/size", "526385152");
}

Test(cli_list, empty_sysfs_gives_the_full_shape_with_empty_arrays)
{
	struct cli_run r;

	cli_run(&r, "list", "--sysfs-root", root);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	assert_report_shape(&r);
	cr_assert_eq(json_object_array_length(report_array(&r, "regions")), 0);
	cr_assert_eq(json_object_array_length(report_array(&r, "errors")), 0);
	cr_assert_str_eq(r.err, "");
	cli_free(&r);
}

Test(cli_list, devdax_attributes_come_from_sysfs)
{
	struct json_object *jr, *jm;
	struct cli_run r;

	fake_pmem_device();
	cli_run(&r, "list", "--sysfs-root", root);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	assert_report_shape(&r);
	cr_assert_eq(json_object_array_length(report_array(&r, "regions")), 1);
	jr = report_item(&r, "regions", 0);
	assert_region_shape(jr);
	cr_assert_str_eq(jstr(jr, "path"), "/dev/dax0.0");
	cr_assert_str_eq(jstr(jr, "chardev"), "dax0.0");
	cr_assert_str_eq(jstr(jr, "kind"), "devdax");
	cr_assert_str_eq(jstr(jr, "mode"), "devdax");
	cr_assert_eq(jnum(jr, "size"), 526385152);
	cr_assert_eq(jnum(jr, "align"), 2097152);
	cr_assert_eq(jnum(jr, "numa_node"), 0);
	cr_assert_eq(jnum(jr, "target_node"), 1);
	cr_assert_eq(jnum(jr, "region_id"), 0);
	jm = json_object_array_get_idx(json_object_object_get(jr, "mappings"),
				       0);
	cr_assert_not_null(jm);
	cr_assert_eq(jnum(jm, "start"), 0x40a00000);
	cr_assert_eq(jnum(jm, "end"), 0x5fffffff);
	cr_assert_eq(jnum(jm, "size"), 0x5fffffff - 0x40a00000 + 1);
	cr_assert_eq(jnum(jm, "page_offset"), 0);
	cli_free(&r);
}

Test(cli_list, several_mappings_are_listed_in_order)
{
	static const uint64_t m[3][3] = {	/* a resized hmem device */
		{ 0x48000000, 0x4bffffff, 0x0 },
		{ 0x44000000, 0x47ffffff, 0x4000 },
		{ 0x4c000000, 0x53ffffff, 0x8000 },
	};
	struct json_object *jms;
	struct cli_run r;
	char rel[256];
	int i;

	fake_devdax(root, 0, 1, "device_dax");
	fake_attr(root, DEVDAX_DIR(0, 1) "/size", "%d", 256 << 20);
	fake_attr(root, DEVDAX_DIR(0, 1) "/resource", "0x48000000");
	for (i = 0; i < 3; i++) {
		snprintf(rel, sizeof(rel), DEVDAX_DIR(0, 1) "/mapping%d/start", i);
		fake_attr(root, rel, "%#llx", (unsigned long long)m[i][0]);
		snprintf(rel, sizeof(rel), DEVDAX_DIR(0, 1) "/mapping%d/end", i);
		fake_attr(root, rel, "%#llx", (unsigned long long)m[i][1]);
		snprintf(rel, sizeof(rel),
			 DEVDAX_DIR(0, 1) "/mapping%d/page_offset", i);
		fake_attr(root, rel, "%#llx", (unsigned long long)m[i][2]);
	}
	cli_run(&r, "list", "--sysfs-root", root);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	jms = json_object_object_get(report_item(&r, "regions", 0), "mappings");
	cr_assert_eq(json_object_array_length(jms), 3);
	for (i = 0; i < 3; i++) {
		struct json_object *jm = json_object_array_get_idx(jms, i);

		cr_assert_eq(jnum(jm, "start"), (int64_t)m[i][0]);
		cr_assert_eq(jnum(jm, "end"), (int64_t)m[i][1]);
		cr_assert_eq(jnum(jm, "page_offset"), (int64_t)m[i][2]);
		cr_assert_eq(jnum(jm, "size"), (int64_t)(m[i][1] - m[i][0] + 1));
	}
	cli_free(&r);
}

Test(cli_list, align_falls_back_to_the_region_and_resource_to_one_mapping)
{
	struct json_object *jr, *jm;
	struct cli_run r;

	fake_devdax(root, 1, 0, "device_dax");
	fake_attr(root, DEVDAX_DIR(1, 0) "/size", "%d", 64 << 20);
	fake_attr(root, DEVDAX_DIR(1, 0) "/resource", "0x100000000");
	fake_attr(root, DAXREGION_DIR(1, 0) "/align", "1073741824");
	fake_attr(root, DAXREGION_DIR(1, 0) "/id", "1");
	cli_run(&r, "list", "--sysfs-root", root);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	jr = report_item(&r, "regions", 0);
	cr_assert_eq(jnum(jr, "align"), 1 << 30);
	cr_assert_eq(jnum(jr, "region_id"), 1);
	jm = json_object_array_get_idx(json_object_object_get(jr, "mappings"),
				       0);
	cr_assert_not_null(jm, "no mapping made from resource + size");
	cr_assert_eq(jnum(jm, "start"), 0x100000000LL);
	cr_assert_eq(jnum(jm, "end"), 0x100000000LL + (64 << 20) - 1);
	cli_free(&r);
}

Test(cli_list, unknown_attributes_are_null_never_missing)
{
	struct json_object *jr;
	struct cli_run r;

	fake_devdax(root, 0, 0, NULL);	/* disabled: no driver */
	fake_attr(root, DEVDAX_DIR(0, 0) "/numa_node", "-1");
	cli_run(&r, "list", "--sysfs-root", root);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	jr = report_item(&r, "regions", 0);
	assert_region_shape(jr);
	cr_assert_null(jstr(jr, "mode"));
	cr_assert_eq(jnum(jr, "numa_node"), -1);
	cr_assert_eq(jnum(jr, "target_node"), -1);
	cr_assert_eq(jnum(jr, "region_id"), -1);
	cr_assert_eq(jnum(jr, "align"), -1);
	cr_assert_eq(json_object_array_length(json_object_object_get(jr,
								     "mappings")),
		     0);
	cli_free(&r);
}

Test(cli_list, a_device_bound_to_kmem_is_system_ram)
{
	struct cli_run r;

	fake_devdax(root, 0, 0, "kmem");
	cli_run(&r, "list", "--sysfs-root", root);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(jstr(report_item(&r, "regions", 0), "mode"),
			 "system-ram");
	cli_free(&r);
}

Test(cli_list, devices_are_in_natural_order_then_module_devices)
{
	static const char *const want[] = { "dax0.2", "dax0.10", "dax1.0",
					    "daxlite0" };
	struct cli_run r;
	size_t i;

	fake_devdax(root, 0, 10, "device_dax");
	fake_devdax(root, 1, 0, "device_dax");
	fake_devdax(root, 0, 2, "device_dax");
	fake_attr(root, "devices/virtual/daxlite/daxlite0/size", "%d", 4 << 20);
	fake_attr(root, "devices/virtual/daxlite/daxlite0/align", "2097152");
	fake_link(root, "class/daxlite/daxlite0",
		  "../../devices/virtual/daxlite/daxlite0");
	fake_attr(root, "class/daxlite/remove", "");	/* a class file */
	cli_run(&r, "list", "--sysfs-root", root);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_eq(json_object_array_length(report_array(&r, "regions")), 4);
	for (i = 0; i < 4; i++)
		cr_assert_str_eq(jstr(report_item(&r, "regions", i), "chardev"),
				 want[i]);
	cr_assert_str_eq(jstr(report_item(&r, "regions", 3), "kind"), "module");
	cr_assert_str_eq(jstr(report_item(&r, "regions", 3), "path"),
			 "/dev/daxlite0");
	cli_free(&r);
}

Test(cli_list, a_named_memfd_is_an_emulated_region)
{
	struct json_object *jr;
	struct cli_run r;

	fake_pmem_device();
	cli_run(&r, "list", "--sysfs-root", root, "--size", "8M",
		"memfd:cli-test");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	assert_report_shape(&r);
	cr_assert_eq(json_object_array_length(report_array(&r, "regions")), 2);
	jr = report_item(&r, "regions", 1);
	assert_region_shape(jr);
	cr_assert_str_eq(jstr(jr, "path"), "memfd:cli-test");
	cr_assert_str_eq(jstr(jr, "kind"), "emulated");
	cr_assert_null(jstr(jr, "chardev"));
	cr_assert_null(jstr(jr, "mode"));
	cr_assert_eq(jnum(jr, "size"), 8 << 20);
	cr_assert_eq(jnum(jr, "align"), 2 << 20, "the default alignment");
	cli_free(&r);
}

Test(cli_list, a_named_file_takes_the_given_alignment)
{
	char path[PATH_MAX];
	struct json_object *jr;
	struct cli_run r;
	int fd;

	snprintf(path, sizeof(path), "%s/region", root);
	fd = open(path, O_CREAT | O_RDWR, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 4 << 20), 0);
	close(fd);
	cli_run(&r, "list", "--sysfs-root", root, "-a", "4K", path);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	jr = report_item(&r, "regions", 0);
	cr_assert_str_eq(jstr(jr, "path"), path);
	cr_assert_eq(jnum(jr, "align"), 4096);
	cr_assert_eq(jnum(jr, "size"), 4 << 20);
	cli_free(&r);
}

Test(cli_list, a_bad_path_is_reported_and_the_rest_still_listed)
{
	struct json_object *je;
	struct cli_run r;

	cli_run(&r, "list", "--sysfs-root", root, "-s", "2M",
		"/nonexistent/region", "memfd:ok");
	cr_assert_eq(r.status, 1);
	assert_report_shape(&r);
	cr_assert_eq(json_object_array_length(report_array(&r, "regions")), 1);
	cr_assert_str_eq(jstr(report_item(&r, "regions", 0), "path"),
			 "memfd:ok");
	je = report_item(&r, "errors", 0);
	cr_assert_str_eq(jstr(je, "path"), "/nonexistent/region");
	cr_assert_eq(jnum(je, "errno"), ENOENT);
	cr_assert_str_eq(jstr(je, "error"), strerror(ENOENT));
	cr_assert_not_null(jstr(je, "message"));
	cr_assert(strstr(r.err, "/nonexistent/region"), "stderr: %s", r.err);
	cli_free(&r);
}

Test(cli_list, a_missing_sysfs_root_is_a_runtime_error)
{
	char path[PATH_MAX];
	struct cli_run r;

	snprintf(path, sizeof(path), "%s/nowhere", root);
	cli_run(&r, "list", "--sysfs-root", path);
	cr_assert_eq(r.status, 1);
	assert_report_shape(&r);
	cr_assert_eq(jnum(report_item(&r, "errors", 0), "errno"), ENOENT);
	cr_assert(strstr(r.err, "nowhere"), "stderr: %s", r.err);
	cli_free(&r);
}

Test(cli_list, human_output_is_text_with_binary_units)
{
	struct cli_run r;

	fake_pmem_device();
	cli_run(&r, "list", "--human", "--sysfs-root", root);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_null(r.json, "--human printed JSON");
	cr_assert(strstr(r.out, "/dev/dax0.0\n"), "%s", r.out);
	cr_assert(strstr(r.out, "2 MiB (2097152)"), "%s", r.out);
	cr_assert(strstr(r.out, "502 MiB (526385152)"), "%s", r.out);
	cr_assert(strstr(r.out, "0x40a00000-0x5fffffff"), "%s", r.out);
	cli_free(&r);
}

Test(cli_list, human_output_says_when_nothing_was_found)
{
	struct cli_run r;

	cli_run(&r, "list", "-u", "--sysfs-root", root);
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(r.out, "no regions found\n");
	cli_free(&r);
}
