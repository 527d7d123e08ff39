// SPDX-License-Identifier: MIT
/*
 * The fault path (libdax/fault.c) with the built-in allocator: holes and
 * the read-only zero area, allocation and zeroing, dirty marks, the
 * reverse map, 2 MiB and 1 GiB entries and every fallback reason, the end
 * of the mapping, dead mappings and regions, returning with the lock held,
 * misuse, statistics and giving blocks back.  tests/fault_engine.c covers
 * an engine's iomap_begin/iomap_end.  Regions are memfds.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#include "helpers.h"
#include "libdax/internal.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define PAGE 4096

static struct dax_region *r;
static struct dax_mapping *m;
static const struct dax_mapping_ops default_ops;	/* all NULL */

static struct dax_region *open_region(const char *name, uint64_t size,
				      uint64_t align, unsigned flags)
{
	struct dax_region_opts *o;
	struct dax_region *reg = NULL;

	cr_assert_eq(dax_region_opts_new(&o), 0);
	cr_assert_eq(dax_region_opts_set_size(o, size), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_region_opts_set_align(o, align), 0, "%s",
		     dax_errormsg());
	if (flags)
		cr_assert_eq(dax_region_opts_set_flags(o, flags), 0);
	cr_assert_eq(dax_region_open(name, o, &reg), 0, "%s", dax_errormsg());
	dax_region_opts_delete(&o);
	return reg;
}

static void open_both(uint64_t region_size, uint64_t align,
		      uint64_t mapping_size)
{
	r = open_region("memfd:fault-test", region_size, align, 0);
	cr_assert_eq(dax_mapping_new(r, &default_ops, NULL, mapping_size, &m),
		     0, "%s", dax_errormsg());
}

static void setup(void)
{
	open_both(64 * MiB, 2 * MiB, 32 * MiB);
}

static void teardown(void)
{
	test_end_mapping_and_region(&m, &r);
}

static struct dax_fault_stats stats(void)
{
	struct dax_fault_stats st;

	cr_assert_eq(dax_fault_get_stats(m, &st), 0);
	return st;
}

static struct dax_alloc_stats alloc_stats(void)
{
	struct dax_alloc_stats st;

	cr_assert_eq(dax_alloc_get_stats(r, &st), 0, "%s", dax_errormsg());
	return st;
}

/* Wait until every block freed so far is free again (the allocator may
 * need more than one grace period: it frees in batches). */
static void settle(void)
{
	struct dax_alloc_stats st;

	for (int i = 0; i < 100; i++) {
		dax_rcu_barrier();
		st = alloc_stats();
		if (!st.pending_pages)
			return;
	}
}

static struct dax_fault_ext fault_ok(uint64_t index, unsigned flags)
{
	struct dax_fault_ext ext;
	int ret = dax_fault(m, index, flags, &ext);

	cr_assert_eq(ret, 0, "dax_fault(0x%llx, 0x%x): %s: %s",
		     (unsigned long long)index, flags, strerror(-ret),
		     dax_errormsg());
	cr_assert_not_null(ext.addr);
	return ext;
}

static bool all_zero(const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		if (c[i])
			return false;
	return true;
}

static char *region_page(uint64_t pfn)
{
	return (char *)dax_region_get_base(r) + pfn * PAGE;
}

/* ---- holes and the zero area ------------------------------------------------ */

Test(fault, read_of_a_hole_maps_the_zero_area, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext = fault_ok(5, 0), again;
	uint64_t v;

	cr_assert(ext.flags & DAX_FAULT_EXT_ZERO);
	cr_assert_eq(ext.order, 0);
	cr_assert_eq(ext.first, 5);
	cr_assert_eq(ext.pfn, 0);
	cr_assert_eq(ext.cookie, 0);
	cr_assert(all_zero(ext.addr, PAGE));
	v = dax_tree_load(dax_mapping_tree(m), 5);
	cr_assert(dax_entry_is_zero(v) && !dax_entry_is_locked(v));
	cr_assert_eq(stats().zero_installs, 1);
	cr_assert_eq(stats().read_faults, 1);
	cr_assert_eq(stats().faults[0], 1);
	cr_assert_eq(alloc_stats().used_pages, 0, "a hole allocates nothing");

	/* Present now: answered without a fault. */
	again = fault_ok(5, 0);
	cr_assert_eq(again.addr, ext.addr);
	cr_assert_eq(stats().read_faults, 1);
	cr_assert_eq(stats().zero_installs, 1);
}

Test(fault, writing_through_the_zero_area_kills_with_sigsegv, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext = fault_ok(7, 0);
	int status;
	pid_t pid;

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);	/* not ASan's handler */
		((volatile char *)ext.addr)[100] = 1;
		_exit(0);	/* not reached */
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
		  "a store into the zero area must fault (status 0x%x)",
		  status);
	cr_assert(all_zero(ext.addr, PAGE), "and leave it zero");
}

Test(fault, a_2m_read_of_a_hole_maps_2m_of_zeroes, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext = fault_ok(512 + 3, DAX_FAULT_SIZE_2M);

	cr_assert(ext.flags & DAX_FAULT_EXT_ZERO);
	cr_assert_eq(ext.order, 9);
	cr_assert_eq(ext.first, 512);
	cr_assert_eq((char *)ext.addr - (char *)ext.entry_addr, 3 * PAGE);
	cr_assert(all_zero(ext.entry_addr, 2 * MiB));
	cr_assert_eq(stats().faults[1], 1);
	/* A 4 KiB read inside it is the same entry. */
	ext = fault_ok(512 + 100, 0);
	cr_assert_eq(ext.order, 9);
	cr_assert(!(ext.flags & DAX_FAULT_EXT_FALLBACK),
		  "larger than asked is not a fallback");
}

/* ---- writes ------------------------------------------------------------------- */

/* Leave garbage in the first blocks of the region, then free them, so that
 * the next allocations get dirty memory that the fault path must zero. */
static void dirty_free_blocks(unsigned order, unsigned n)
{
	uint64_t pages[8];

	cr_assert_leq(n, 8);
	for (unsigned i = 0; i < n; i++) {
		cr_assert_eq(dax_alloc_pages(r, order, 0, &pages[i]), 0, "%s",
			     dax_errormsg());
		memset(region_page(pages[i]), 0xa5, (size_t)PAGE << order);
	}
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(dax_free_pages(r, pages[i], order), 0);
	settle();
}

Test(fault, write_allocates_a_zeroed_block_and_marks_it_dirty, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;
	dax_cookie_t c;

	dirty_free_blocks(0, 4);
	ext = fault_ok(9, DAX_FAULT_WRITE);
	cr_assert(ext.flags & DAX_FAULT_EXT_NEW);
	cr_assert(!(ext.flags & DAX_FAULT_EXT_ZERO));
	cr_assert_eq(ext.order, 0);
	cr_assert_eq(ext.addr, region_page(ext.pfn));
	cr_assert_lt(ext.pfn, 4, "the allocator reused a dirtied block");
	cr_assert(all_zero(ext.addr, PAGE), "new blocks are zeroed");
	cr_assert(dax_tree_get_mark(dax_mapping_tree(m), 9,
				    DAX_ENTRY_MARK_DIRTY));
	cr_assert_eq(alloc_stats().used_pages, 1);
	cr_assert_eq(stats().allocations, 1);
	cr_assert_eq(stats().allocated_pages, 1);
	cr_assert_eq(stats().write_faults, 1);

	/* Registered in the reverse map: lock by pfn finds it. */
	cr_assert_eq(dax_lock_pfn(r, ext.pfn, &c), 0);
	cr_assert_neq(c, 0, "the reverse map knows the new block");
	cr_assert_eq(dax_unlock_pfn(r, c), 0);
}

Test(fault, a_2m_write_zeroes_the_whole_block, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;

	dirty_free_blocks(9, 2);
	ext = fault_ok(1024 + 17, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M);
	cr_assert_eq(ext.order, 9);
	cr_assert_eq(ext.first, 1024);
	cr_assert_eq(ext.pfn % 512, 0);
	cr_assert_lt(ext.pfn, 1024, "the allocator reused a dirtied block");
	cr_assert_eq((uintptr_t)ext.entry_addr % (2 * MiB), 0,
		     "2 MiB entries are 2 MiB aligned in memory");
	cr_assert_eq((char *)ext.addr - (char *)ext.entry_addr, 17 * PAGE);
	cr_assert(all_zero(ext.entry_addr, 2 * MiB));
	cr_assert_eq(stats().faults[1], 1);
	cr_assert_eq(stats().allocated_pages, 512);
	cr_assert_eq(alloc_stats().used_pages, 512);
}

Test(fault, later_reads_see_what_was_written, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext w = fault_ok(33, DAX_FAULT_WRITE), rd;

	memcpy((char *)w.addr + 10, "hello", 6);
	rd = fault_ok(33, 0);
	cr_assert_eq(rd.addr, w.addr);
	cr_assert_str_eq((char *)rd.addr + 10, "hello");
	/* A second write of a dirty entry needs no fault. */
	rd = fault_ok(33, DAX_FAULT_WRITE);
	cr_assert_eq(rd.addr, w.addr);
	cr_assert(!(rd.flags & DAX_FAULT_EXT_NEW));
	cr_assert_eq(stats().write_faults, 1);
	cr_assert_eq(stats().allocations, 1);
}

Test(fault, write_over_a_zero_entry_replaces_it, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext hole = fault_ok(40, 0), w;
	uint64_t v;

	w = fault_ok(40, DAX_FAULT_WRITE);
	cr_assert(w.flags & DAX_FAULT_EXT_NEW);
	cr_assert_neq(w.addr, hole.addr);
	v = dax_tree_load(dax_mapping_tree(m), 40);
	cr_assert(dax_entry_is_real(v));
	cr_assert_eq(dax_entry_pfn(v), w.pfn);
	cr_assert_eq(dax_mapping_get_nr_entries(m), 1);
	memset(w.addr, 0x11, PAGE);
	cr_assert(all_zero(hole.addr, PAGE), "the zero area stays zero");
	cr_assert(((char *)fault_ok(40, 0).addr)[5] == 0x11);
}

Test(fault, small_write_into_a_2m_hole_takes_a_4k_block, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext w, rd;

	fault_ok(512, DAX_FAULT_SIZE_2M);	/* a 2 MiB ZERO entry */
	w = fault_ok(512 + 9, DAX_FAULT_WRITE);
	cr_assert_eq(w.order, 0);
	cr_assert_eq(alloc_stats().used_pages, 1);
	memset(w.addr, 0x22, PAGE);
	/* The rest of the old hole still reads zeroes. */
	rd = fault_ok(512 + 10, 0);
	cr_assert(rd.flags & DAX_FAULT_EXT_ZERO);
	cr_assert(all_zero(rd.addr, PAGE));
	cr_assert_eq(((char *)fault_ok(512 + 9, 0).addr)[0], 0x22);
}

Test(fault, 4k_fault_inside_a_2m_entry_returns_the_2m_entry, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext big = fault_ok(2048, DAX_FAULT_WRITE |
						  DAX_FAULT_SIZE_2M);
	struct dax_fault_ext small = fault_ok(2048 + 300, DAX_FAULT_WRITE);

	cr_assert_eq(small.order, 9);
	cr_assert_eq(small.first, 2048);
	cr_assert_eq(small.entry_addr, big.entry_addr);
	cr_assert_eq((char *)small.addr, (char *)big.entry_addr + 300 * PAGE);
	cr_assert_eq(alloc_stats().used_pages, 512);
}

Test(fault, write_of_a_clean_entry_marks_it_dirty_again, .init = setup,
     .fini = teardown)
{
	struct dax_tree *t;

	fault_ok(70, DAX_FAULT_WRITE);
	t = dax_mapping_tree(m);
	cr_assert_eq(dax_tree_clear_mark(t, 70, DAX_ENTRY_MARK_DIRTY), 0);
	fault_ok(70, 0);
	cr_assert(!dax_tree_get_mark(t, 70, DAX_ENTRY_MARK_DIRTY),
		  "a read does not dirty");
	fault_ok(70, DAX_FAULT_WRITE);
	cr_assert(dax_tree_get_mark(t, 70, DAX_ENTRY_MARK_DIRTY));
	cr_assert_eq(stats().write_faults, 2);
	cr_assert_eq(stats().allocations, 1);
}

/* ---- fallbacks ------------------------------------------------------------------ */

Test(fault, 2m_falls_back_when_smaller_entries_lie_in_the_range,
     .init = setup, .fini = teardown)
{
	struct dax_fault_ext small = fault_ok(1030, DAX_FAULT_WRITE), ext;

	ext = fault_ok(1024, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M);
	cr_assert_eq(ext.order, 0);
	cr_assert(ext.flags & DAX_FAULT_EXT_FALLBACK);
	cr_assert_eq(stats().fallbacks[DAX_FAULT_FALLBACK_CONFLICT], 1);
	/* The smaller entry was not touched. */
	cr_assert_eq(dax_entry_pfn(dax_tree_load(dax_mapping_tree(m), 1030)),
		     small.pfn);
	/* A read of a hole there falls back too. */
	ext = fault_ok(1025, DAX_FAULT_SIZE_2M);
	cr_assert_eq(ext.order, 0);
	cr_assert(ext.flags & DAX_FAULT_EXT_ZERO);
	cr_assert_eq(stats().fallbacks[DAX_FAULT_FALLBACK_CONFLICT], 2);
	/* A 2 MiB fault on a present 4 KiB entry returns it. */
	ext = fault_ok(1030, DAX_FAULT_SIZE_2M);
	cr_assert_eq(ext.pfn, small.pfn);
	cr_assert(ext.flags & DAX_FAULT_EXT_FALLBACK);
	cr_assert_eq(stats().faults[1], 0);
}

Test(fault, 2m_falls_back_when_the_range_crosses_the_end)
{
	struct dax_fault_ext ext;

	open_both(64 * MiB, 2 * MiB, 3 * MiB);	/* pages 0..767 */
	ext = fault_ok(600, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M);
	cr_assert_eq(ext.order, 0);
	cr_assert_eq(stats().fallbacks[DAX_FAULT_FALLBACK_EOF], 1);
	ext = fault_ok(100, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M);
	cr_assert_eq(ext.order, 9, "the first 2 MiB lies inside");
	teardown();
}

Test(fault, 2m_falls_back_on_a_region_aligned_to_4k)
{
	struct dax_fault_ext ext;

	open_both(16 * MiB, 4 * KiB, 16 * MiB);
	ext = fault_ok(512, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M);
	cr_assert_eq(ext.order, 0);
	cr_assert_eq(stats().fallbacks[DAX_FAULT_FALLBACK_UNALIGNED], 1);
	teardown();
}

Test(fault, 2m_falls_back_when_no_2m_block_is_free)
{
	struct dax_fault_ext ext;
	struct dax_alloc_stats before;
	uint64_t page, n = 0, entries;
	int ret;

	open_both(4 * MiB, 2 * MiB, 64 * MiB);
	/* Take one 2 MiB block whole and split the other. */
	cr_assert_eq(dax_alloc_pages(r, 9, 0, &page), 0);
	cr_assert_eq(dax_alloc_pages(r, 0, 0, &page), 0);
	ext = fault_ok(0, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M);
	cr_assert_eq(ext.order, 0);
	cr_assert_eq(stats().fallbacks[DAX_FAULT_FALLBACK_NOSPACE], 1);
	/* Exhaust the rest: the failing fault changes nothing. */
	for (n = 1;; n++) {
		struct dax_fault_ext e;

		ret = dax_fault(m, n, DAX_FAULT_WRITE, &e);
		if (ret)
			break;
	}
	cr_assert_eq(ret, -ENOSPC, "%s", dax_errormsg());
	cr_assert_eq(n, 511, "512 pages minus the one taken");
	entries = dax_mapping_get_nr_entries(m);
	before = alloc_stats();
	ret = dax_fault(m, n, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M, &ext);
	cr_assert_eq(ret, -ENOSPC);
	cr_assert_null(ext.addr);
	cr_assert_eq(dax_mapping_get_nr_entries(m), entries);
	cr_assert_eq(dax_tree_load(dax_mapping_tree(m), n), 0,
		     "no placeholder left behind");
	cr_assert_eq(alloc_stats().used_pages, before.used_pages);
	/* A hole over it, then a failed write: the hole stays. */
	fault_ok(n, 0);
	cr_assert_eq(dax_fault(m, n, DAX_FAULT_WRITE, &ext), -ENOSPC);
	cr_assert(dax_entry_is_zero(dax_tree_load(dax_mapping_tree(m), n)));
	cr_assert(!dax_entry_is_locked(dax_tree_load(dax_mapping_tree(m), n)));
	cr_assert_geq(stats().errors, 3);
	teardown();
}

Test(fault, 1g_entries_on_a_region_aligned_to_1g)
{
	struct dax_fault_ext ext;

	open_both(1 * GiB, 1 * GiB, 2 * GiB);
	ext = fault_ok(5, DAX_FAULT_WRITE | DAX_FAULT_SIZE_1G);
	cr_assert_eq(ext.order, 18);
	cr_assert_eq(ext.first, 0);
	cr_assert_eq((uintptr_t)ext.entry_addr % GiB, 0);
	((char *)ext.entry_addr)[GiB - 1] = 1;
	cr_assert_eq(stats().faults[2], 1);
	/* The second GiB: the region has no room, 2 MiB neither. */
	cr_assert_eq(dax_fault(m, 262144, DAX_FAULT_WRITE | DAX_FAULT_SIZE_1G,
			       &ext), -ENOSPC);
	/* A 1 GiB hole reads as zeroes. */
	ext = fault_ok(262144 + 1, DAX_FAULT_SIZE_1G);
	cr_assert_eq(ext.order, 18);
	cr_assert(ext.flags & DAX_FAULT_EXT_ZERO);
	cr_assert(all_zero((char *)ext.entry_addr + GiB - PAGE, PAGE));
	teardown();
}

Test(fault, 1g_falls_back_to_2m_on_a_region_aligned_to_2m, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext = fault_ok(3, DAX_FAULT_WRITE |
						   DAX_FAULT_SIZE_1G);

	cr_assert_eq(ext.order, 9);
	cr_assert(ext.flags & DAX_FAULT_EXT_FALLBACK);
	/* Unaligned for 1 GiB, and the mapping (32 MiB) is too short. */
	cr_assert_eq(stats().fallbacks[DAX_FAULT_FALLBACK_UNALIGNED], 1);
	cr_assert_eq(stats().faults[1], 1);
}

/* ---- the end, dead mappings and regions ------------------------------------------ */

Test(fault, past_the_end_fails_enxio_like_sigbus, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;
	uint64_t pages = 32 * MiB / PAGE;

	fault_ok(pages - 1, DAX_FAULT_WRITE);
	assert_fails_with(dax_fault(m, pages, 0, &ext), -ENXIO, "SIGBUS");
	cr_assert_null(ext.addr);
	assert_fails_with(dax_fault(m, pages, DAX_FAULT_WRITE, &ext), -ENXIO,
			  "past the end");
	assert_fails_with(dax_fault(m, UINT64_MAX, 0, &ext), -ENXIO,
			  "past the end");
	cr_assert_eq(dax_mapping_get_nr_entries(m), 1);
	/* A partial last page is inside. */
	cr_assert_eq(dax_mapping_set_size(m, 32 * MiB + 1), 0);
	fault_ok(pages, DAX_FAULT_WRITE);
}

Test(fault, a_dead_mapping_fails_enxio, .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext;

	fault_ok(1, DAX_FAULT_WRITE);
	cr_assert_eq(dax_mapping_kill(m), 0);
	assert_fails_with(dax_fault(m, 1, 0, &ext), -ENXIO, "dead");
	assert_fails_with(dax_fault(m, 2, DAX_FAULT_WRITE, &ext), -ENXIO,
			  "dead");
	cr_assert_eq(alloc_stats().used_pages, 1);
}

Test(fault, a_killed_region_fails_enxio, .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext;

	fault_ok(1, DAX_FAULT_WRITE);
	fault_ok(2, 0);
	cr_assert_eq(dax_region_kill(r), 0);
	assert_fails_with(dax_fault(m, 1, 0, &ext), -ENXIO, "killed");
	assert_fails_with(dax_fault(m, 2, 0, &ext), -ENXIO, "killed");
	assert_fails_with(dax_fault(m, 3, DAX_FAULT_WRITE, &ext), -ENXIO,
			  "killed");
}

Test(fault, a_write_on_a_read_only_region_fails_erofs)
{
	struct dax_fault_ext ext;

	test_open_readonly_file(4 * MiB, &r);
	cr_assert_eq(dax_mapping_new(r, &default_ops, NULL, 4 * MiB, &m), 0);
	fault_ok(3, 0);
	assert_fails_with(dax_fault(m, 3, DAX_FAULT_WRITE, &ext), -EROFS,
			  "read-only");
	cr_assert(dax_entry_is_zero(dax_tree_load(dax_mapping_tree(m), 3)));
	teardown();
}

/* ---- returning with the entry locked --------------------------------------------- */

static atomic_int reader_done;

static void *reader(void *arg)
{
	struct dax_fault_ext ext;

	(void)arg;
	cr_assert_eq(dax_fault(m, 50, 0, &ext), 0);
	atomic_store(&reader_done, 1);
	return NULL;
}

Test(fault, dax_fault_lock_holds_the_entry_until_dax_unlock, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext = fault_ok(50, DAX_FAULT_WRITE |
						DAX_FAULT_LOCK);
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	pthread_t t;

	cr_assert_neq(ext.cookie, 0);
	cr_assert(dax_entry_is_locked(dax_tree_load(dax_mapping_tree(m), 50)));
	atomic_store(&reader_done, 0);
	cr_assert_eq(pthread_create(&t, NULL, reader, NULL), 0);
	nanosleep(&ts, NULL);
	cr_assert_eq(atomic_load(&reader_done), 0,
		     "a reader waits for the lock holder");
	cr_assert_eq(dax_unlock(m, ext.cookie), 0, "%s", dax_errormsg());
	pthread_join(t, NULL);
	cr_assert_eq(atomic_load(&reader_done), 1);
	assert_fails_with(dax_unlock(m, ext.cookie), -EINVAL, "not locked");
	/* On a hole, and on a present entry. */
	ext = fault_ok(51, DAX_FAULT_LOCK);
	cr_assert(ext.flags & DAX_FAULT_EXT_ZERO);
	cr_assert_eq(dax_unlock(m, ext.cookie), 0);
	ext = fault_ok(50, DAX_FAULT_LOCK);
	cr_assert_eq(dax_unlock(m, ext.cookie), 0);
	ext = fault_ok(1024 + 5, DAX_FAULT_LOCK | DAX_FAULT_WRITE |
				      DAX_FAULT_SIZE_2M);
	cr_assert_eq(ext.order, 9);
	cr_assert_eq(dax_cookie_index(ext.cookie), 1024,
		     "the cookie names the whole entry");
	cr_assert_eq(dax_unlock(m, ext.cookie), 0);
}

/* ---- misuse ------------------------------------------------------------------------- */

Test(fault, bad_arguments_are_refused, .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext;
	struct dax_fault_stats st;
	struct dax_mapping *lone;
	struct dax_rmap *rmap;

	ext.addr = &ext;
	assert_fails_with(dax_fault(NULL, 0, 0, &ext), -EINVAL,
			  "mapping is NULL");
	cr_assert_null(ext.addr);
	assert_fails_with(dax_fault(m, 0, 0, NULL), -EINVAL, "ext");
	assert_fails_with(dax_fault(m, 0, 1 << 10, &ext), -EINVAL,
			  "unknown flags");
	assert_fails_with(dax_fault(m, 0, DAX_FAULT_SIZE_2M |
					       DAX_FAULT_SIZE_1G, &ext),
			  -EINVAL, "together");
	assert_fails_with(dax_fault_get_stats(NULL, &st), -EINVAL, "NULL");
	assert_fails_with(dax_fault_get_stats(m, NULL), -EINVAL, "NULL");
	cr_assert_eq(dax_rmap_new(1024, 16, &rmap), 0);
	cr_assert_eq(dax_mapping_new_rmap(rmap, NULL, &default_ops, NULL,
					  1 * MiB, &lone), 0);
	assert_fails_with(dax_fault(lone, 0, 0, &ext), -EINVAL, "no region");
	dax_mapping_put(&lone);
	dax_rmap_put(rmap);
	cr_assert_eq(dax_mapping_get_nr_entries(m), 0);
	cr_assert_eq(stats().errors, 0, "argument errors are not faults");
}

/* ---- giving blocks back ------------------------------------------------------------ */

Test(fault, release_blocks_gives_every_block_back, .init = setup,
     .fini = teardown)
{
	struct dax_alloc_stats st;

	fault_ok(0, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M);
	fault_ok(600, DAX_FAULT_WRITE);
	fault_ok(601, 0);
	fault_ok(1024, DAX_FAULT_SIZE_2M);
	cr_assert_eq(alloc_stats().used_pages, 513);
	cr_assert_eq(dax_fault_release_blocks(m), 0, "%s", dax_errormsg());
	cr_assert_eq(dax_mapping_get_nr_entries(m), 0);
	settle();
	st = alloc_stats();
	cr_assert_eq(st.used_pages, 0);
	cr_assert_eq(st.pending_pages, 0);
	cr_assert_eq(st.free_pages, st.total_pages);
}
