// SPDX-License-Identifier: MIT
/*
 * Writeback (libdax/writeback.c): dirty marks set by write faults, what
 * dax_writeback() flushes and clears (only dirty entries of the range, a
 * 2 MiB entry whole), the TOWRITE tag left behind by nobody, the
 * granularity getter, data that survives a reopen of a file region, and
 * misuse.  A flush hook (internal) records what is flushed.  The race with
 * write faults is tests/stress/writeback_stress.c.
 */
#include <pthread.h>
#include <unistd.h>

#include "helpers.h"
#include "libdax/internal.h"

#define MiB (UINT64_C(1) << 20)
#define PAGE 4096

static struct dax_region *r;
static struct dax_mapping *m;
static const struct dax_mapping_ops default_ops;

struct flushed {
	uint64_t pfn, nr;
};
static struct flushed log_[64];
static unsigned nr_log;
static uint64_t nr_logged_pages;

static void hook(void *priv, uint64_t pfn, uint64_t nr)
{
	if (nr_log < 64)
		log_[nr_log] = (struct flushed){ pfn, nr };
	nr_log++;
	nr_logged_pages += nr;
}

static struct dax_region *open_region(const char *path, uint64_t size,
				      unsigned flags)
{
	struct dax_region_opts *o;
	struct dax_region *reg = NULL;

	cr_assert_eq(dax_region_opts_new(&o), 0);
	cr_assert_eq(dax_region_opts_set_size(o, size), 0);
	if (flags)
		cr_assert_eq(dax_region_opts_set_flags(o, flags), 0);
	cr_assert_eq(dax_region_open(path, o, &reg), 0, "%s", dax_errormsg());
	dax_region_opts_delete(&o);
	return reg;
}

static void setup(void)
{
	r = open_region("memfd:wb-test", 64 * MiB, 0);
	cr_assert_eq(dax_mapping_new(r, &default_ops, NULL, 32 * MiB, &m), 0,
		     "%s", dax_errormsg());
	cr_assert_eq(dax_writeback_set_flush_hook(r, hook, NULL), 0);
	nr_log = 0;
	nr_logged_pages = 0;
}

static void teardown(void)
{
	test_end_mapping_and_region(&m, &r);
}

static struct dax_fault_ext fault_ok(uint64_t index, unsigned flags)
{
	struct dax_fault_ext ext;
	int ret = dax_fault(m, index, flags, &ext);

	cr_assert_eq(ret, 0, "dax_fault(%llu): %s", (unsigned long long)index,
		     dax_errormsg());
	return ext;
}

static bool dirty(uint64_t index)
{
	return dax_tree_get_mark(dax_mapping_tree(m), index,
				 DAX_ENTRY_MARK_DIRTY);
}

static bool towrite_anywhere(void)
{
	uint64_t idx = 0;
	unsigned order;

	return dax_tree_find(dax_mapping_tree(m), &idx, DAX_MAPPING_MAX_INDEX,
			     DAX_ENTRY_MARK_TOWRITE, &order) != 0;
}

Test(writeback, write_fault_marks_dirty_and_writeback_clears_it,
     .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext = fault_ok(3, DAX_FAULT_WRITE);

	memset(ext.addr, 0xab, PAGE);
	cr_assert(dirty(3));
	cr_assert_eq(dax_writeback(m, 0, 100), 0, "%s", dax_errormsg());
	cr_assert_not(dirty(3));
	cr_assert_not(towrite_anywhere());
	cr_assert_eq(nr_log, 1);
	cr_assert_eq(log_[0].pfn, ext.pfn);
	cr_assert_eq(log_[0].nr, 1);
}

Test(writeback, read_faults_and_clean_entries_are_not_flushed,
     .init = setup, .fini = teardown)
{
	fault_ok(1, 0);			/* a hole: zero entry */
	fault_ok(2, DAX_FAULT_WRITE);
	cr_assert_eq(dax_writeback(m, 0, DAX_MAPPING_MAX_INDEX), 0);
	cr_assert_eq(nr_log, 1);
	nr_log = 0;
	/* Nothing dirty any more: a second call flushes nothing. */
	cr_assert_eq(dax_writeback(m, 0, DAX_MAPPING_MAX_INDEX), 0);
	cr_assert_eq(nr_log, 0);
	/* A fault on the now-clean entry dirties it again. */
	fault_ok(2, DAX_FAULT_WRITE);
	cr_assert(dirty(2));
}

Test(writeback, only_the_range_is_written_back, .init = setup,
     .fini = teardown)
{
	fault_ok(10, DAX_FAULT_WRITE);
	fault_ok(20, DAX_FAULT_WRITE);
	fault_ok(30, DAX_FAULT_WRITE);
	cr_assert_eq(dax_writeback(m, 15, 25), 0);
	cr_assert(dirty(10));
	cr_assert_not(dirty(20));
	cr_assert(dirty(30));
	cr_assert_eq(nr_log, 1);
	cr_assert_not(towrite_anywhere());
}

Test(writeback, a_2m_entry_is_flushed_whole_from_any_index_in_it,
     .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext =
		fault_ok(512 + 7, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M);

	cr_assert_eq(ext.order, 9);
	cr_assert_eq(dax_writeback(m, 512 + 100, 512 + 100), 0);
	cr_assert_eq(nr_log, 1);
	cr_assert_eq(log_[0].pfn, ext.pfn);
	cr_assert_eq(log_[0].nr, 512);
	cr_assert_not(dirty(512));
}

Test(writeback, many_entries_beyond_one_tag_batch, .init = setup,
     .fini = teardown)
{
	uint64_t i, n = 3000;

	for (i = 0; i < n; i++)
		fault_ok(i, DAX_FAULT_WRITE);
	cr_assert_eq(dax_writeback(m, 0, n - 1), 0, "%s", dax_errormsg());
	/* every page once; consecutive region pages in few flush calls */
	cr_assert_eq(nr_logged_pages, n);
	cr_assert_lt(nr_log, n / 4);
	for (i = 0; i < n; i++)
		cr_assert_not(dirty(i));
	cr_assert_not(towrite_anywhere());
}

/* Every other page dirty: nothing merges, each entry is its own flush. */
Test(writeback, scattered_entries_are_flushed_one_by_one, .init = setup,
     .fini = teardown)
{
	uint64_t i, n = 1200;

	for (i = 0; i < n; i++)
		fault_ok(i, DAX_FAULT_WRITE);
	cr_assert_eq(dax_writeback(m, 0, n - 1), 0);
	for (i = 0; i < n; i += 2)
		fault_ok(i, DAX_FAULT_WRITE);
	nr_log = 0;
	nr_logged_pages = 0;
	cr_assert_eq(dax_writeback(m, 0, n - 1), 0);
	cr_assert_eq(nr_logged_pages, n / 2);
	cr_assert_eq(nr_log, n / 2);
	cr_assert_not(towrite_anywhere());
}

struct holder {
	uint64_t index;
	dax_cookie_t cookie;
};

static void *store_then_unlock(void *arg)
{
	struct holder *h = arg;

	usleep(50000);
	cr_assert_eq(dax_unlock(m, h->cookie), 0);
	return NULL;
}

/*
 * One entry in the middle of a batch is held by a writer: the others are
 * written back in the batch, that one after its lock is let go; nothing is
 * left dirty or tagged, and every page was flushed exactly once.
 */
Test(writeback, an_entry_held_inside_a_batch_is_waited_for, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;
	struct holder h = { .index = 700 };
	uint64_t i, n = 1500;
	pthread_t t;

	for (i = 0; i < n; i++)
		fault_ok(i, DAX_FAULT_WRITE);
	ext = fault_ok(h.index, DAX_FAULT_WRITE | DAX_FAULT_LOCK);
	h.cookie = ext.cookie;
	cr_assert_eq(pthread_create(&t, NULL, store_then_unlock, &h), 0);
	cr_assert_eq(dax_writeback(m, 0, n - 1), 0, "%s", dax_errormsg());
	pthread_join(t, NULL);
	cr_assert_eq(nr_logged_pages, n);
	for (i = 0; i < n; i++)
		cr_assert_not(dirty(i), "index %llu", (unsigned long long)i);
	cr_assert_not(towrite_anywhere());
}

/* A 2 MiB entry between 4 KiB ones: batches split on page counts. */
Test(writeback, mixed_sizes_are_all_flushed, .init = setup,
     .fini = teardown)
{
	uint64_t i;

	for (i = 0; i < 512; i++)
		fault_ok(i, DAX_FAULT_WRITE);
	cr_assert_eq(fault_ok(512, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M).order,
		     9);
	for (i = 1024; i < 1100; i++)
		fault_ok(i, DAX_FAULT_WRITE);
	cr_assert_eq(dax_writeback(m, 0, DAX_MAPPING_MAX_INDEX), 0);
	cr_assert_eq(nr_logged_pages, 512 + 512 + 76);
	cr_assert_not(dirty(0));
	cr_assert_not(dirty(600));
	cr_assert_not(dirty(1099));
	cr_assert_not(towrite_anywhere());
}

static void *hold_then_unlock(void *arg)
{
	dax_cookie_t *c = arg;

	usleep(50000);
	cr_assert_eq(dax_unlock(m, *c), 0);
	return NULL;
}

Test(writeback, waits_for_a_writer_that_holds_the_entry_lock,
     .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext = fault_ok(4, DAX_FAULT_WRITE | DAX_FAULT_LOCK);
	pthread_t t;

	cr_assert_neq(ext.cookie, 0);
	cr_assert_eq(pthread_create(&t, NULL, hold_then_unlock, &ext.cookie),
		     0);
	cr_assert_eq(dax_writeback(m, 4, 4), 0);
	/* It could only flush after the writer let go. */
	cr_assert_eq(nr_log, 1);
	cr_assert_not(dirty(4));
	pthread_join(t, NULL);
}

Test(writeback, granularity_of_a_memfd_is_page, .init = setup,
     .fini = teardown)
{
	enum dax_granularity g = 99;

	cr_assert_eq(dax_region_get_granularity(r, &g), 0);
	cr_assert_eq(g, DAX_GRANULARITY_PAGE);
	assert_fails_with(dax_region_get_granularity(NULL, &g), -EINVAL,
			  "region is NULL");
	assert_fails_with(dax_region_get_granularity(r, NULL), -EINVAL,
			  "granularity is NULL");
}

Test(writeback, misuse_fails_and_changes_nothing, .init = setup,
     .fini = teardown)
{
	fault_ok(5, DAX_FAULT_WRITE);
	assert_fails_with(dax_writeback(NULL, 0, 1), -EINVAL,
			  "mapping is NULL");
	assert_fails_with(dax_writeback(m, 6, 5), -EINVAL, "empty");
	assert_fails_with(dax_writeback(m, 0, DAX_MAPPING_MAX_INDEX + 1),
			  -EINVAL, "goes above");
	cr_assert(dirty(5));
	cr_assert_eq(nr_log, 0);
}

Test(writeback, a_killed_mapping_or_region_is_refused, .init = setup,
     .fini = teardown)
{
	fault_ok(5, DAX_FAULT_WRITE);
	cr_assert_eq(dax_region_kill(r), 0);
	assert_fails_with(dax_writeback(m, 0, 10), -ENXIO, "killed");
	cr_assert(dirty(5));
	cr_assert_eq(dax_mapping_kill(m), 0);
	assert_fails_with(dax_writeback(m, 0, 10), -ENXIO, "killed");
	cr_assert_eq(nr_log, 0);
}

Test(writeback, written_back_data_is_in_the_file_after_reopen)
{
	char path[] = "/tmp/libdax-wb-XXXXXX";
	struct dax_fault_ext ext;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	close(fd);
	unlink(path);
	r = open_region(path, 8 * MiB, DAX_REGION_CREATE);
	cr_assert_eq(dax_mapping_new(r, &default_ops, NULL, 4 * MiB, &m), 0);
	ext = fault_ok(9, DAX_FAULT_WRITE);
	memcpy(ext.addr, "committed", 10);
	cr_assert_eq(dax_writeback(m, 0, 1023), 0);
	dax_mapping_put(&m);	/* blocks stay where they are */
	cr_assert_eq(dax_region_close(&r), 0);
	r = open_region(path, 8 * MiB, 0);
	cr_assert_str_eq((char *)dax_region_get_base(r) + ext.pfn * PAGE,
			 "committed");
	cr_assert_eq(dax_region_close(&r), 0);
	unlink(path);
}
