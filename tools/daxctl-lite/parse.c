// SPDX-License-Identifier: MIT
/* Option values shared by the commands: sizes, offsets, the common options. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daxctl-lite.h"

/*
 * parse_size() - "4096", "0x200000", "4K", "2M", "2MiB", "1G", "1GiB" into
 * bytes.  Suffixes are binary.  Return: 0, or -EINVAL when @arg is not a
 * number or does not fit in 64 bits.
 */
int parse_size(const char *arg, uint64_t *out)
{
	static const struct { const char *suffix; unsigned shift; } units[] = {
		{ "", 0 }, { "K", 10 }, { "KiB", 10 }, { "M", 20 },
		{ "MiB", 20 }, { "G", 30 }, { "GiB", 30 }, { "T", 40 },
		{ "TiB", 40 },
	};
	unsigned long long val;
	char *end;
	size_t i;

	if (!arg || !isdigit((unsigned char)arg[0]))
		return -EINVAL;
	errno = 0;	/* decimal or 0x hex; a leading 0 is not octal */
	val = strtoull(arg, &end, strncasecmp(arg, "0x", 2) ? 10 : 16);
	if (errno)
		return -EINVAL;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].suffix))
			continue;
		if (units[i].shift && val > (UINT64_MAX >> units[i].shift))
			return -EINVAL;
		*out = (uint64_t)val << units[i].shift;
		return 0;
	}
	return -EINVAL;
}

int parse_common_option(int c, const char *arg, struct cli_opts *o)
{
	switch (c) {
	case 'u':
		o->human = true;
		return 1;
	case 'R':
		o->sysfs_root = arg;
		return 1;
	case 'a':
		if (parse_size(arg, &o->align) || !o->align) {
			usage_error("--align: '%s' is not a size (try 4K, 2M or 1G)",
				    arg);
			return -1;
		}
		return 1;
	case 's':
		if (parse_size(arg, &o->size) || !o->size) {
			usage_error("--size: '%s' is not a size (e.g. 64M)", arg);
			return -1;
		}
		return 1;
	}
	return 0;
}

/* A memfd has no size of its own: say so before the library does. */
static int check_paths(const struct cli_opts *o, char *const *paths, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (!strncmp(paths[i], "memfd:", 6) && !o->size) {
			usage_error("%s needs --size (e.g. --size 64M)",
				    paths[i]);
			return -1;
		}
	}
	return 0;
}

/* The count of PATHs @spec allows; reports and returns false when wrong. */
static bool check_path_count(const struct cli_spec *spec, int n)
{
	if (spec->min_paths == 1 && spec->max_paths == 1 && n != 1) {
		usage_error("%s takes exactly one PATH (%d given)", spec->name,
			    n);
		return false;
	}
	if (spec->min_paths > 0 && n < spec->min_paths) {
		usage_error("%s takes at least one PATH", spec->name);
		return false;
	}
	if (spec->max_paths >= 0 && n > spec->max_paths) {
		usage_error("%s takes at most %d PATH (%d given)", spec->name,
			    spec->max_paths, n);
		return false;
	}
	return true;
}

/*
 * parse_common_args() - the one option loop of every command: the common
 * options into @o, the command's own through @spec->option, -h, the count
 * of PATHs, and (unless @spec->any_memfd) a size for each memfd:NAME.
 * On return optind is the first PATH.
 * Return: -1 to go on, or the exit status to return at once (EXIT_OK
 * after --help, EXIT_USAGE after a usage error, already reported).
 */
int parse_common_args(int argc, char **argv, const struct cli_spec *spec,
		      struct cli_opts *o)
{
	static const struct option common[] = { COMMON_LONGOPTS };
	struct option longopts[CLI_MAX_LONGOPTS];
	char shortopts[64];
	size_t n = 0, i;
	int c, ret;

	for (i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		longopts[n++] = common[i];
	for (i = 0; spec->longopts && spec->longopts[i].name; i++)
		if (n < CLI_MAX_LONGOPTS - 1)
			longopts[n++] = spec->longopts[i];
	memset(&longopts[n], 0, sizeof(longopts[n]));
	snprintf(shortopts, sizeof(shortopts), "%s%s", COMMON_SHORTOPTS,
		 spec->shortopts ? spec->shortopts : "");

	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) !=
	       -1) {
		if (c == 'h') {
			printf("usage: %s %s %s\n", progname, spec->name,
			       spec->usage);
			return EXIT_OK;
		}
		ret = parse_common_option(c, optarg, o);
		if (ret == 0 && spec->option)
			ret = spec->option(c, optarg, spec->priv);
		if (ret == 0)
			bad_option(argv);
		if (ret <= 0)
			return EXIT_USAGE;
	}
	if (!check_path_count(spec, argc - optind))
		return EXIT_USAGE;
	if (!spec->any_memfd && check_paths(o, argv + optind, argc - optind))
		return EXIT_USAGE;
	return -1;
}
