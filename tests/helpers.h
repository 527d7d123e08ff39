/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the Criterion tests (the tests/ folder).  Header-only;
 * each test file is its own program linked with the static library, so tests
 * may use libdax/internal.h where they need to reach inside.
 */
#ifndef LIBDAX_TEST_HELPERS_H
#define LIBDAX_TEST_HELPERS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "libdax.h"

/* Assert that @expr failed with @err and left a message containing @needle. */
#define assert_fails_with(expr, err, needle)                                   \
	do {                                                                   \
		int ret_ = (expr);                                             \
		cr_assert_eq(ret_, (err), "%s returned %d (%s), wanted %d",    \
			     #expr, ret_, strerror(-ret_), (err));             \
		cr_assert(strstr(dax_errormsg(), (needle)) != NULL,            \
			  "%s: message \"%s\" lacks \"%s\"", #expr,            \
			  dax_errormsg(), (needle));                           \
	} while (0)

/* A scratch directory under /tmp, removed by the caller with rm -rf. */
static inline char *test_tmpdir(void)
{
	char *dir = strdup("/tmp/libdax-test.XXXXXX");

	cr_assert_not_null(mkdtemp(dir));
	return dir;
}

static inline void test_rmdir(char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
	free(dir);
}

#endif /* LIBDAX_TEST_HELPERS_H */
