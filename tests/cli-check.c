// SPDX-License-Identifier: MIT
/*
 * daxctl-lite check (alignment of the mapping, one read per alignment
 * unit, page sizes from /proc/self/smaps) and busy (pages the kernel
 * holds: only module devices can tell, the others are an error).
 */
#include "cli.h"

static struct json_object *check_of(const struct cli_run *r, size_t i)
{
	struct json_object *jc = json_object_object_get(
		report_item(r, "regions", i), "check");

	cr_assert_not_null(jc, "no check in %s", r->out);
	return jc;
}

Test(cli_check, every_4k_unit_of_a_memfd_is_read_and_resident)
{
	struct json_object *jc;
	struct cli_run r;

	cli_run(&r, "check", "-s", "4M", "-a", "4K", "memfd:cli-check");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	assert_report_shape(&r);
	assert_region_shape(report_item(&r, "regions", 0));
	jc = check_of(&r, 0);
	cr_assert(json_object_get_boolean(json_object_object_get(
		jc, "base_aligned")));
	cr_assert_eq(jnum(jc, "units"), 1024);
	cr_assert_eq(jnum(jc, "touched"), 1024);
	cr_assert_eq(jnum(jc, "sigbus"), 0);
	cr_assert_eq(jnum(jc, "first_sigbus_offset"), -1);
	cr_assert_eq(jnum(jc, "kernel_page_size"), 4096);
	cr_assert_eq(jnum(jc, "mmu_page_size"), 4096);
	/* every page was read, so every page is mapped */
	cr_assert_eq(jnum(jc, "rss"), 4 << 20, "%s", r.out);
	cr_assert_geq(jnum(jc, "vmas"), 1);
	cr_assert_eq(jnum(report_item(&r, "regions", 0), "busy_pages"), -1);
	cli_free(&r);
}

Test(cli_check, a_2m_region_reads_one_byte_per_2m)
{
	struct json_object *jc;
	struct cli_run r;
	int64_t touched;

	cli_run(&r, "check", "-s", "64M", "memfd:cli-check");
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	jc = check_of(&r, 0);
	cr_assert_eq(jnum(jc, "units"), 32);
	touched = jnum(jc, "touched");
	cr_assert_eq(touched, 32);
	/* one 4 KiB page per unit, or whole 2 MiB pages where THP maps */
	cr_assert_geq(jnum(jc, "rss"), touched * 4096);
	cr_assert_leq(jnum(jc, "rss"),
		      touched * 4096 + jnum(jc, "pmd_mapped"));
	cli_free(&r);
}

Test(cli_check, human_output_names_the_page_sizes)
{
	struct cli_run r;
	char *root = test_tmpdir(), file[512];
	FILE *f;

	snprintf(file, sizeof(file), "%s/region", root);
	f = fopen(file, "w");
	cr_assert_not_null(f);
	cr_assert_eq(ftruncate(fileno(f), 8 << 20), 0);
	fclose(f);
	/* The file's own size: 8 MiB, four 2 MiB units. */
	cli_run(&r, "check", "-u", file);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert(strstr(r.out, "check        base aligned, 4 of 4 alignment "
				"units read, 0 SIGBUS"), "%s", r.out);
	cr_assert(strstr(r.out, "kernel page size 4 KiB"), "%s", r.out);
	cli_free(&r);
	test_rmdir(root);
}

Test(cli_check, list_and_info_leave_busy_and_check_null)
{
	struct json_object *jr;
	struct cli_run r;

	cli_run(&r, "info", "-s", "2M", "memfd:cli-check");
	cr_assert_eq(r.status, 0);
	jr = report_item(&r, "regions", 0);
	assert_region_shape(jr);
	cr_assert_eq(jnum(jr, "busy_pages"), -1);
	cr_assert_null(json_object_object_get(jr, "check"));
	cli_free(&r);
}

Test(cli_check, busy_on_a_region_that_cannot_tell_is_an_error)
{
	struct json_object *jr;
	struct cli_run r;

	cli_run(&r, "busy", "-s", "2M", "memfd:cli-busy");
	cr_assert_eq(r.status, 1, "stderr: %s", r.err);
	assert_report_shape(&r);
	jr = report_item(&r, "regions", 0);
	cr_assert_eq(jnum(jr, "busy_pages"), -1, "null: cannot know");
	cr_assert_eq(jnum(report_item(&r, "errors", 0), "errno"), EOPNOTSUPP);
	cr_assert(strstr(r.err, "module devices"), "%s", r.err);
	cli_free(&r);
}

Test(cli_check, both_need_a_path)
{
	struct cli_run r;

	cli_run(&r, "check");
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "check takes at least one PATH"), "%s", r.err);
	cli_free(&r);
	cli_run(&r, "busy", "memfd:x");
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "memfd:x needs --size"), "%s", r.err);
	cli_free(&r);
}
