// SPDX-License-Identifier: MIT
/* Option values shared by the commands: sizes, offsets, the common options. */
#include <ctype.h>
#include <errno.h>
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
int check_paths(const struct cli_opts *o, char *const *paths, int n)
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
