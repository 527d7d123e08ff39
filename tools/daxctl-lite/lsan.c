// SPDX-License-Identifier: MIT
/*
 * LeakSanitizer: libpmem2 1.12.1 (Debian 12) leaks 144 bytes per
 * pmem2_map_from_existing() + pmem2_map_delete() (its data mover is never
 * freed; pmem/pmdk issue 5594), which libdax uses to map module devices and
 * devices libpmem2 does not recognise.  The leak is per open and bounded;
 * only allocations made inside libpmem2 are exempt.  The hook does nothing
 * in a build without sanitizers.
 */
const char *__lsan_default_suppressions(void);

const char *__lsan_default_suppressions(void)
{
	return "leak:libpmem2.so\n";
}

/* Keep stderr for the tool's own messages: the tests read it. */
const char *__lsan_default_options(void);

const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}
