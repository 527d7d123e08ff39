// SPDX-License-Identifier: MIT
/*
 * daxctl-lite's command line: usage errors exit 2 with nothing on stdout,
 * help and version exit 0.
 */
#include "cli.h"

#include <criterion/parameterized.h>

struct bad_args {
	const char *args[8];
	const char *needle;	/* expected on stderr */
};

/*
 * Criterion hands each parameter to a fresh process where pointers into
 * this table may not hold (no ASLR control here), so the parameter is the
 * index of the case, not the case.
 */
static const struct bad_args cases[] = {
	{ { NULL }, "no command" },
	{ { "frobnicate", NULL }, "unknown command 'frobnicate'" },
	{ { "list", "--no-such-option", NULL }, "'--no-such-option'" },
	{ { "list", "--size", "lots", NULL }, "--size: 'lots'" },
	{ { "list", "--size", "0", NULL }, "--size: '0'" },
	{ { "list", "--align", "2Q", NULL }, "--align: '2Q'" },
	{ { "list", "--size", "99999999999T", NULL }, "--size" },
	{ { "info", NULL }, "exactly one PATH (0 given)" },
	{ { "info", "a", "b", NULL }, "exactly one PATH (2 given)" },
	{ { "info", "-o", "x", "-s", "2M", "memfd:a", NULL }, "--offset: 'x'" },
	{ { "list", "--sysfs-root", NULL }, "'--sysfs-root'" },
	{ { "list", "memfd:a", NULL }, "memfd:a needs --size" },
	{ { "info", "memfd:a", NULL }, "memfd:a needs --size" },
	{ { "usage", "--rundir", NULL }, "'--rundir'" },
	{ { "usage", "--bogus", NULL }, "'--bogus'" },
	{ { "badblocks", NULL }, "badblocks takes at least one PATH" },
};

#define NR_CASES (sizeof(cases) / sizeof(cases[0]))

ParameterizedTestParameters(cli_usage, bad_command_lines_exit_2)
{
	static int index[NR_CASES];
	size_t i;

	for (i = 0; i < NR_CASES; i++)
		index[i] = (int)i;
	return cr_make_param_array(int, index, NR_CASES);
}

ParameterizedTest(int *i, cli_usage, bad_command_lines_exit_2)
{
	const struct bad_args *c = &cases[*i];
	struct cli_run r;

	cli_runv(&r, c->args);
	cr_assert_eq(r.status, 2, "case %d: exit %d, stderr: %s", *i,
		     r.status, r.err);
	cr_assert_str_eq(r.out, "", "case %d printed on stdout", *i);
	cr_assert(strstr(r.err, c->needle), "case %d: stderr lacks \"%s\": %s",
		  *i, c->needle, r.err);
	cli_free(&r);
}

Test(cli_usage, help_lists_every_command_and_the_exit_statuses)
{
	static const char *const want[] = { "list", "info", "badblocks",
					    "usage", "--human",
					    "--sysfs-root", "--align",
					    "--size", "--offset", "--rundir",
					    "--clean", "exit status" };
	struct cli_run r;
	size_t i;

	cli_run(&r, "help");
	cr_assert_eq(r.status, 0);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(strstr(r.out, want[i]), "help lacks %s", want[i]);
	cli_free(&r);
}

Test(cli_usage, version_names_the_schema)
{
	struct cli_run r;

	cli_run(&r, "--version");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "JSON schema 1"), "%s", r.out);
	cli_free(&r);
}

Test(cli_usage, command_help_exits_0)
{
	struct cli_run r;

	cli_run(&r, "list", "--help");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "usage: daxctl-lite list"), "%s", r.out);
	cli_free(&r);
}
