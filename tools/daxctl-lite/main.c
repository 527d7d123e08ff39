// SPDX-License-Identifier: MIT
/*
 * daxctl-lite: list and inspect the regions libdax can open (kernel
 * device-DAX, the companion module's devices, emulated files and memfds).
 * The command table and top-level options live here; each command is a file.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-host.h"
#include "libdax.h"
#include "daxctl-lite.h"

const char *progname = "daxctl-lite";

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const struct cmd commands[] = {
	{ "list", cmd_list, "list the regions found in sysfs and named paths" },
	{ "info", cmd_info, "open one region and show it in detail" },
	{ "badblocks", cmd_badblocks, "open regions and show their bad blocks" },
	{ "usage", cmd_usage, "show which processes use regions, and how" },
	{ "check", cmd_check, "map regions, read each unit, show page sizes" },
	{ "busy", cmd_busy, "show pages of regions the kernel holds" },
	{ "help", cmd_help, "show this help" },
	{ "version", cmd_version, "show the version and JSON schema" },
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s help' or 'man daxctl-lite'.\n", progname);
}

/* getopt_long returned '?': opterr is 0, so say it here, in one style. */
void bad_option(char **argv)
{
	usage_error("unknown option or missing value: '%s'",
		    argv[optind - 1]);
}

static void print_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: %s COMMAND [OPTIONS] [PATH...]\n\ncommands:\n",
		progname);
	for (i = 0; i < NR_COMMANDS; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\noptions:\n"
		"  -u, --human            text for people instead of JSON\n"
		"  -a, --align SIZE       alignment of emulated regions (4K, 2M, 1G)\n"
		"  -s, --size SIZE        size of emulated regions (needed for memfd:NAME)\n"
		"      --sysfs-root DIR   read sysfs from DIR instead of /sys\n"
		"  -o, --offset OFF       (info) translate OFF to a physical address;\n"
		"                         may be repeated\n"
		"      --rundir DIR       (usage) read publications from DIR instead\n"
		"                         of $DAX_RUNDIR or /run/libdax\n"
		"      --clean            (usage) remove the publications of\n"
		"                         processes that exited\n"
		"\nexit status: 0 ok, 1 runtime failure, 2 usage error\n");
}

static int cmd_help(int argc, char **argv)
{
	print_usage(stdout);
	return EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
	printf("%s %s (JSON schema %d)\n", progname, LIBDAX_VERSION,
	       DAXCTL_LITE_SCHEMA);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	const char *name;
	size_t i;

	if (argc < 2) {
		usage_error("no command given");
		return EXIT_USAGE;
	}
	opterr = 0;
	/* The tool only looks: its own opens are nobody's usage. */
	setenv("DAX_PUBLISH", "0", 1);
	name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h"))
		return cmd_help(argc - 1, argv + 1);
	if (!strcmp(name, "--version"))
		return cmd_version(argc - 1, argv + 1);
	for (i = 0; i < NR_COMMANDS; i++)
		if (!strcmp(name, commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	usage_error("unknown command '%s'", name);
	return EXIT_USAGE;
}
