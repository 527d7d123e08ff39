/* SPDX-License-Identifier: MIT */
/*
 * What every guest test program shares: one "ok - ..." or "not ok - ..."
 * line per check (the guest scripts and check-vm.sh count them), and the
 * count of failures that decides the exit status.
 */
#ifndef LIBDAX_VMTEST_H
#define LIBDAX_VMTEST_H

#include <stdarg.h>
#include <stdio.h>

static int failures;

static void __attribute__((format(printf, 2, 3)))
check(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", cond ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!cond)
		failures++;
}

#endif /* LIBDAX_VMTEST_H */
