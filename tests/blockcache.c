// SPDX-License-Identifier: MIT
/*
 * The block cache example (examples/blockcache/): its engine compiled into
 * this test, and its workload program run as a child.
 *
 * Hits and misses return the file's bytes; eviction reads blocks again;
 * a cooperative borrower is asked to go and goes; an uncooperative one is
 * revoked after the break time and sees dax_lease_is_revoked(), while its
 * slot is reused under its pointer; writes go through to the file and
 * break borrows; readers, borrowers, invalidations and evictions race with
 * every byte checked; bad input fails with an errno and a message and
 * changes nothing.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sys/wait.h>

#include "helpers.h"

/*
 * The engine itself, with its internals in reach.  Every 16th time a reader
 * passes a window of its protocol (lookup..pin, check..copy) it sleeps: a
 * correct engine copes (the pin makes evictions wait, the check after the
 * pin sees a slot that moved on); a broken one copies a slot being refilled.
 */
static void race_window(void);
#define BC_RACE_WINDOW() race_window()
#include "examples/blockcache/cache.c"

static _Atomic unsigned race_window_calls;

static void race_window(void)
{
	if (atomic_fetch_add(&race_window_calls, 1) % 16 == 0)
		usleep(200);
}

#define NR_BLOCKS 64
#define TAIL_BYTES 100	/* the file ends 100 bytes into block 64 */
#define FILE_SIZE (NR_BLOCKS * BC_BLOCK_SIZE + TAIL_BYTES)

static struct dax_region *region;
static char file_path[64];
static int fd = -1;

/* The file's content: word i of block b. */
static uint64_t word_of(uint64_t block, unsigned i)
{
	uint64_t x = block << 12 | i;

	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	return x ^ (x >> 29);
}

static void expect_block(uint64_t block, const void *data)
{
	const uint64_t *w = data;
	size_t valid = block < NR_BLOCKS ? BC_BLOCK_SIZE : TAIL_BYTES;

	for (unsigned i = 0; i < BC_BLOCK_SIZE / 8; i++) {
		uint64_t want = i * 8 < valid ? word_of(block, i) : 0;

		if (i * 8 < valid && i * 8 + 8 > valid)	/* straddles EOF */
			want &= (UINT64_C(1) << (8 * (valid % 8))) - 1;
		cr_assert_eq(w[i], want, "block %" PRIu64 " word %u: 0x%" PRIx64
			     " instead of 0x%" PRIx64, block, i, w[i], want);
	}
}

/* A region and a backing file of NR_BLOCKS blocks and a tail. */
static void setup(void)
{
	struct dax_region_opts *opts;
	uint64_t *buf = malloc(FILE_SIZE + BC_BLOCK_SIZE);

	cr_assert_not_null(buf);
	for (uint64_t b = 0; b <= NR_BLOCKS; b++)
		for (unsigned i = 0; i < BC_BLOCK_SIZE / 8; i++)
			buf[b * BC_BLOCK_SIZE / 8 + i] = word_of(b, i);
	strcpy(file_path, "/tmp/bc-test.XXXXXX");
	fd = mkstemp(file_path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, buf, FILE_SIZE, 0), FILE_SIZE);
	free(buf);
	cr_assert_eq(dax_region_opts_new(&opts), 0);
	cr_assert_eq(dax_region_opts_set_size(opts, 32 << 20), 0);
	cr_assert_eq(dax_region_open("memfd:bc-test", opts, &region), 0,
		     "%s", dax_errormsg());
	dax_region_opts_delete(&opts);
}

static void teardown(void)
{
	if (region)
		dax_region_close(&region);
	if (fd >= 0)
		close(fd);
	fd = -1;
	unlink(file_path);
}

static struct bc_cache *make_cache(uint64_t nr_slots, int break_ms)
{
	struct bc_config cfg = { .nr_slots = nr_slots, .nr_shards = 4,
				 .break_ms = break_ms };
	struct bc_cache *c;
	int ret = bc_create(region, fd, &cfg, &c);

	cr_assert_eq(ret, 0, "bc_create: %s", bc_errormsg());
	return c;
}

static struct bc_stats stats_of(struct bc_cache *c)
{
	struct bc_stats st;

	cr_assert_eq(bc_get_stats(c, &st), 0, "%s", bc_errormsg());
	return st;
}

/* Like assert_fails_with(), for the cache's own message. */
#define assert_bc_fails(expr, err, needle)                                     \
	do {                                                                   \
		int ret_ = (expr);                                             \
		cr_assert_eq(ret_, (err), "%s returned %d (%s), wanted %d",    \
			     #expr, ret_, strerror(-ret_), (err));             \
		cr_assert(strstr(bc_errormsg(), (needle)) != NULL,             \
			  "%s: message \"%s\" lacks \"%s\"", #expr,            \
			  bc_errormsg(), (needle));                            \
	} while (0)

TestSuite(blockcache, .init = setup, .fini = teardown, .timeout = 120);

Test(blockcache, misses_then_hits_return_the_files_bytes)
{
	struct bc_cache *c = make_cache(16, 0);
	char buf[BC_BLOCK_SIZE], part[200];
	struct bc_stats st;

	cr_assert_eq(bc_get_nr_blocks(c), NR_BLOCKS + 1);
	for (int round = 0; round < 2; round++)
		for (uint64_t b = 0; b < 16; b++) {
			memset(buf, 0xa5, sizeof(buf));
			cr_assert_eq(bc_read(c, b, 0, buf, sizeof(buf)), 0,
				     "%s", bc_errormsg());
			expect_block(b, buf);
		}
	st = stats_of(c);
	cr_assert_eq(st.misses, 16);
	cr_assert_eq(st.hits, 16);
	cr_assert_eq(st.evictions, 0);
	/* A piece of a cached block, and the partial last block. */
	cr_assert_eq(bc_read(c, 5, 100, part, sizeof(part)), 0);
	for (unsigned i = 0; i < sizeof(part); i++) {
		uint64_t wd = word_of(5, (100 + i) / 8);

		cr_assert_eq((unsigned char)part[i],
			     (unsigned char)(wd >> (8 * ((100 + i) % 8))));
	}
	cr_assert_eq(bc_read(c, NR_BLOCKS, 0, buf, sizeof(buf)), 0);
	expect_block(NR_BLOCKS, buf);
	cr_assert_eq(bc_read(c, 7, 4096, buf, 0), 0, "an empty read is fine");
	st = stats_of(c);
	cr_assert_eq(st.misses, 17);
	cr_assert_eq(st.hits, 18);
	cr_assert_eq(st.slot_entries_4k + 512 * st.slot_entries_2m >= 16, 1);
	cr_assert_gt(st.heap_bytes, 0, "the metadata lives in the heap");
	cr_assert_eq(bc_destroy(&c), 0);
	cr_assert_null(c);
}

Test(blockcache, a_full_cache_evicts_and_reads_the_file_again)
{
	struct bc_cache *c = make_cache(4, 0);
	char buf[BC_BLOCK_SIZE];
	struct bc_stats st;

	for (int round = 0; round < 3; round++)
		for (uint64_t b = 0; b < 10; b++) {
			cr_assert_eq(bc_read(c, b, 0, buf, sizeof(buf)), 0,
				     "%s", bc_errormsg());
			expect_block(b, buf);
		}
	st = stats_of(c);
	cr_assert_eq(st.misses + st.hits, 30);
	cr_assert_geq(st.misses, 26, "4 slots cannot hold 10 blocks");
	cr_assert_eq(st.evictions, st.misses - 4);
	/* Every cached block is in one slot, and every slot's bytes match. */
	for (uint32_t s = 0; s < c->nr_slots; s++) {
		uint64_t v = atomic_load(&c->slots[s].state);

		cr_assert_eq(ST_KIND(v), S_VALID);
		expect_block(ST_BLOCK(v), c->slots[s].addr);
	}
	cr_assert_eq(bc_destroy(&c), 0);
}

Test(blockcache, invalidate_drops_a_block_and_the_next_read_misses)
{
	struct bc_cache *c = make_cache(8, 0);
	char buf[BC_BLOCK_SIZE];

	cr_assert_eq(bc_read(c, 3, 0, buf, sizeof(buf)), 0);
	cr_assert_eq(bc_invalidate(c, 3), 0, "%s", bc_errormsg());
	cr_assert_eq(bc_invalidate(c, 3), -ENOENT);
	cr_assert(strstr(bc_errormsg(), "not cached"));
	cr_assert_eq(bc_read(c, 3, 0, buf, sizeof(buf)), 0);
	expect_block(3, buf);
	cr_assert_eq(stats_of(c).misses, 2);
	cr_assert_eq(stats_of(c).invalidations, 1);
	cr_assert_eq(bc_destroy(&c), 0);
}

/* ---- borrowers ---------------------------------------------------------- */

struct borrower {
	struct bc_cache *c;
	struct bc_borrow *b;
	_Atomic bool holding;
	bool saw_break, revoked;
};

/* Hold the borrow until the cache asks for it, then check and return. */
static void *cooperative(void *arg)
{
	struct borrower *br = arg;

	atomic_store(&br->holding, true);
	while (!bc_borrow_break_requested(br->b))
		usleep(100);
	br->saw_break = true;
	expect_block(bc_borrow_get_block(br->b), bc_borrow_data(br->b));
	br->revoked = bc_borrow_revoked(br->b);
	bc_return(&br->b);
	return NULL;
}

Test(blockcache, a_cooperative_borrower_returns_when_asked)
{
	/* A break time no test run reaches: only a return ends the break. */
	struct bc_cache *c = make_cache(8, 600000);
	struct borrower br = { .c = c };
	struct bc_stats st;
	pthread_t t;

	cr_assert_eq(bc_borrow(c, 3, &br.b), 0, "%s", bc_errormsg());
	expect_block(3, bc_borrow_data(br.b));
	cr_assert_not(bc_borrow_break_requested(br.b));
	cr_assert_not(bc_borrow_revoked(br.b));
	cr_assert_eq(stats_of(c).borrows_out, 1);
	cr_assert_eq(pthread_create(&t, NULL, cooperative, &br), 0);
	while (!atomic_load(&br.holding))
		usleep(100);

	cr_assert_eq(bc_invalidate(c, 3), 0, "%s", bc_errormsg());
	pthread_join(t, NULL);
	cr_assert(br.saw_break);
	cr_assert_not(br.revoked, "returned in time, never revoked");
	st = stats_of(c);
	cr_assert_eq(st.leases_broken, 1);
	cr_assert_eq(st.leases_revoked, 0);
	cr_assert_eq(st.borrows_out, 0);
	cr_assert_eq(bc_destroy(&c), 0);
}

Test(blockcache, an_uncooperative_borrower_is_revoked_and_its_slot_reused)
{
	struct bc_cache *c = make_cache(1, 50);
	struct bc_borrow *b;
	char buf[BC_BLOCK_SIZE];
	struct bc_stats st;

	cr_assert_eq(bc_borrow(c, 9, &b), 0, "%s", bc_errormsg());
	expect_block(9, bc_borrow_data(b));
	/* The only slot is borrowed: this read must evict it, breaking the
	 * lease; nobody returns it, so the lease is revoked after 50 ms. */
	cr_assert_eq(bc_read(c, 20, 0, buf, sizeof(buf)), 0, "%s",
		     bc_errormsg());
	expect_block(20, buf);
	cr_assert(bc_borrow_break_requested(b));
	cr_assert(bc_borrow_revoked(b));
	cr_assert(dax_lease_is_revoked(b->lease),
		  "the library's own answer agrees");
	/* The pointer still reads (the memory stays mapped), but the slot
	 * now holds block 20: exactly why revoked data must be dropped. */
	expect_block(20, bc_borrow_data(b));
	st = stats_of(c);
	cr_assert_eq(st.evictions, 1);
	cr_assert_eq(st.leases_broken, 1);
	cr_assert_eq(st.leases_revoked, 0, "counted when it comes back");
	cr_assert_eq(bc_destroy(&c), -EBUSY);
	cr_assert(strstr(bc_errormsg(), "1 borrow(s) still out"));
	cr_assert_not_null(c);
	cr_assert_eq(bc_return(&b), 0);
	cr_assert_null(b);
	cr_assert_eq(stats_of(c).leases_revoked, 1);
	cr_assert_eq(bc_destroy(&c), 0);
}

Test(blockcache, writes_go_through_to_the_file_and_break_borrows)
{
	struct bc_cache *c = make_cache(8, 600000);
	struct borrower br = { .c = c };
	char buf[BC_BLOCK_SIZE], file[BC_BLOCK_SIZE], msg[] = "written!";
	pthread_t t;

	cr_assert_eq(bc_borrow(c, 4, &br.b), 0, "%s", bc_errormsg());
	cr_assert_eq(pthread_create(&t, NULL, cooperative, &br), 0);
	while (!atomic_load(&br.holding))
		usleep(100);
	cr_assert_eq(bc_write(c, 4, 1000, msg, sizeof(msg)), 0, "%s",
		     bc_errormsg());
	pthread_join(t, NULL);
	cr_assert(br.saw_break);
	cr_assert_not(br.revoked);

	/* The file is the truth, and the cache agrees with it. */
	cr_assert_eq(pread(fd, file, sizeof(file), 4 * BC_BLOCK_SIZE),
		     BC_BLOCK_SIZE);
	cr_assert_eq(memcmp(file + 1000, msg, sizeof(msg)), 0);
	cr_assert_eq(bc_read(c, 4, 0, buf, sizeof(buf)), 0);
	cr_assert_eq(memcmp(buf, file, sizeof(buf)), 0);
	cr_assert_eq(bc_read(c, 4, 1000, buf, sizeof(msg)), 0);
	cr_assert_str_eq(buf, msg);
	/* A write to an uncached block reads it in around the bytes. */
	cr_assert_eq(bc_write(c, 40, 0, msg, sizeof(msg)), 0);
	cr_assert_eq(pread(fd, file, sizeof(file), 40 * BC_BLOCK_SIZE),
		     BC_BLOCK_SIZE);
	cr_assert_eq(bc_read(c, 40, 0, buf, sizeof(buf)), 0);
	cr_assert_eq(memcmp(buf, file, sizeof(buf)), 0);
	cr_assert_eq(memcmp(buf, msg, sizeof(msg)), 0);
	cr_assert_eq(((uint64_t *)buf)[100], word_of(40, 100));
	cr_assert_eq(bc_sync(c), 0);
	cr_assert_eq(stats_of(c).writes, 2);
	cr_assert_eq(bc_destroy(&c), 0);
}

Test(blockcache, a_drain_timeout_fails_a_write_and_changes_nothing)
{
	struct bc_config cfg = { .nr_slots = 8, .break_ms = 600000,
				 .drain_timeout_ms = 50 };
	char buf[BC_BLOCK_SIZE], file[BC_BLOCK_SIZE], msg[] = "not yet";
	struct bc_borrow *b;
	struct bc_cache *c;

	cr_assert_eq(bc_create(region, fd, &cfg, &c), 0, "%s", bc_errormsg());
	cr_assert_eq(bc_borrow(c, 7, &b), 0, "%s", bc_errormsg());
	/* The borrower ignores the break: the write gives up after 50 ms. */
	assert_bc_fails(bc_write(c, 7, 0, msg, sizeof(msg)), -ETIMEDOUT,
			"dax_break_layouts of slot");
	cr_assert(bc_borrow_break_requested(b));
	cr_assert_not(bc_borrow_revoked(b), "the break time is 10 minutes");
	cr_assert_eq(pread(fd, file, sizeof(file), 7 * BC_BLOCK_SIZE),
		     BC_BLOCK_SIZE);
	expect_block(7, file);
	cr_assert_eq(bc_read(c, 7, 0, buf, sizeof(buf)), 0, "%s",
		     bc_errormsg());
	expect_block(7, buf);
	expect_block(7, bc_borrow_data(b));
	cr_assert_eq(stats_of(c).writes, 0);

	/* An invalidation times out too, but the block is gone from the
	 * index; its slot is broken again before anyone reuses it. */
	assert_bc_fails(bc_invalidate(c, 7), -ETIMEDOUT,
			"dax_break_layouts of slot");
	cr_assert_eq(bc_invalidate(c, 7), -ENOENT);
	cr_assert_eq(bc_return(&b), 0);
	cr_assert_eq(bc_write(c, 7, 0, msg, sizeof(msg)), 0, "%s",
		     bc_errormsg());
	cr_assert_eq(pread(fd, file, sizeof(file), 7 * BC_BLOCK_SIZE),
		     BC_BLOCK_SIZE);
	cr_assert_str_eq(file, msg);
	for (uint64_t blk = 10; blk < 30; blk++) {	/* every slot reused */
		cr_assert_eq(bc_read(c, blk, 0, buf, sizeof(buf)), 0, "%s",
			     bc_errormsg());
		expect_block(blk, buf);
	}
	cr_assert_eq(bc_destroy(&c), 0);
}

/* ---- racing ------------------------------------------------------------- */

#define RACE_THREADS 4
#define RACE_OPS 4000

struct racer {
	struct bc_cache *c;
	unsigned id;
	uint64_t errors, borrows, wrong, checked;
};

/* expect_block() without asserting (Criterion asserts on the main thread). */
static bool block_is_right(uint64_t block, const void *data)
{
	const uint64_t *w = data;

	if (block >= NR_BLOCKS)
		return w[0] == word_of(block, 0) && w[100] == 0;
	for (unsigned i = 0; i < BC_BLOCK_SIZE / 8; i++)
		if (w[i] != word_of(block, i))
			return false;
	return true;
}

static uint64_t racer_rand(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

/* Reads (and every fourth thread borrows and invalidates) random blocks. */
static void *racer_main(void *arg)
{
	struct racer *r = arg;
	uint64_t seed = r->id + 1;
	char buf[BC_BLOCK_SIZE];

	for (unsigned n = 0; n < RACE_OPS; n++) {
		uint64_t b = racer_rand(&seed) % (NR_BLOCKS + 1);
		unsigned op = (unsigned)(racer_rand(&seed) % 16);
		struct bc_borrow *bw;
		int ret;

		if (r->id == 0 && op == 0) {
			ret = bc_invalidate(r->c, b);
			if (ret && ret != -ENOENT)
				r->errors++;
		} else if (r->id == 0 && op < 4) {
			ret = bc_borrow(r->c, b, &bw);
			if (ret) {
				r->errors++;
				continue;
			}
			/* Use the bytes, then ask if they were ours. */
			memcpy(buf, bc_borrow_data(bw), sizeof(buf));
			if (!bc_borrow_revoked(bw)) {
				r->wrong += !block_is_right(b, buf);
				r->checked++;
			}
			bc_return(&bw);
			r->borrows++;
		} else {
			ret = bc_read(r->c, b, 0, buf, sizeof(buf));
			if (ret) {
				r->errors++;
				continue;
			}
			r->wrong += !block_is_right(b, buf);
			r->checked++;
		}
	}
	return NULL;
}

Test(blockcache, readers_borrowers_and_evictions_race_without_a_wrong_byte)
{
	struct bc_cache *c = make_cache(8, 20);
	struct racer r[RACE_THREADS];
	pthread_t t[RACE_THREADS];
	struct bc_stats st;

	for (unsigned i = 0; i < RACE_THREADS; i++) {
		r[i] = (struct racer){ .c = c, .id = i };
		cr_assert_eq(pthread_create(&t[i], NULL, racer_main, &r[i]),
			     0);
	}
	for (unsigned i = 0; i < RACE_THREADS; i++)
		pthread_join(t[i], NULL);
	for (unsigned i = 0; i < RACE_THREADS; i++) {
		cr_assert_eq(r[i].errors, 0, "thread %u: %" PRIu64 " errors",
			     i, r[i].errors);
		cr_assert_eq(r[i].wrong, 0, "thread %u: %" PRIu64 " of %"
			     PRIu64 " blocks wrong", i, r[i].wrong,
			     r[i].checked);
		cr_assert_gt(r[i].checked, RACE_OPS / 2);
	}
	st = stats_of(c);
	cr_expect_gt(st.evictions, 1000, "8 slots for 65 blocks: %" PRIu64,
		     st.evictions);
	cr_assert_eq(st.borrows, r[0].borrows);
	cr_assert_eq(st.borrows_out, 0);
	cr_assert_geq(st.hits + st.misses, RACE_THREADS * RACE_OPS * 3 / 4);
	cr_assert_eq(bc_destroy(&c), 0);
}

/* ---- bad input ---------------------------------------------------------- */

Test(blockcache, bad_arguments_to_create_fail_and_leave_the_region_as_it_was)
{
	struct bc_config cfg = { .nr_slots = 8 };
	struct dax_alloc_stats before, after;
	struct bc_cache *c = (void *)1;
	char dir[] = "/tmp/bc-test-dir.XXXXXX";
	char empty[] = "/tmp/bc-empty.XXXXXX";
	int dfd, efd, wfd;

	cr_assert_eq(dax_alloc_get_stats(region, &before), 0);
	assert_bc_fails(bc_create(region, fd, &cfg, NULL), -EINVAL,
			"cache is NULL");
	assert_bc_fails(bc_create(NULL, fd, &cfg, &c), -EINVAL,
			"region is NULL");
	cr_assert_null(c, "the out-pointer is cleared on failure");
	assert_bc_fails(bc_create(region, fd, NULL, &c), -EINVAL,
			"cfg is NULL");
	cfg.nr_slots = 0;
	assert_bc_fails(bc_create(region, fd, &cfg, &c), -EINVAL,
			"nr_slots 0 is not in 1..");
	cfg.nr_slots = UINT64_C(1) << 32;
	assert_bc_fails(bc_create(region, fd, &cfg, &c), -EINVAL,
			"nr_slots 4294967296");
	cfg.nr_slots = 8;
	cfg.nr_shards = 3;
	assert_bc_fails(bc_create(region, fd, &cfg, &c), -EINVAL,
			"nr_shards 3 is not a power of two");
	cfg.nr_shards = 0;
	cfg.break_ms = -1;
	assert_bc_fails(bc_create(region, fd, &cfg, &c), -EINVAL,
			"negative break_ms");
	cfg.break_ms = 0;
	assert_bc_fails(bc_create(region, -1, &cfg, &c), -EINVAL,
			"fd -1 is not an open file");
	cr_assert_not_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_bc_fails(bc_create(region, dfd, &cfg, &c), -EINVAL,
			"is not a regular file");
	close(dfd);
	rmdir(dir);
	efd = mkstemp(empty);
	assert_bc_fails(bc_create(region, efd, &cfg, &c), -EINVAL,
			"the backing file is empty");
	close(efd);
	unlink(empty);
	wfd = open(file_path, O_WRONLY);
	assert_bc_fails(bc_create(region, wfd, &cfg, &c), -EBADF,
			"open for writing only");
	close(wfd);
	cfg.nr_slots = 9000;	/* 35 MiB of slots in a 32 MiB region */
	assert_bc_fails(bc_create(region, fd, &cfg, &c), -ENOSPC,
			"9000 slots need about");
	cr_assert_null(c);
	cr_assert_eq(dax_alloc_get_stats(region, &after), 0);
	cr_assert_eq(after.used_pages, before.used_pages,
		     "a failed create leaves nothing in the region");
	assert_bc_fails(bc_destroy(NULL), -EINVAL, "cache is NULL");
	assert_bc_fails(bc_destroy(&c), -EINVAL, "cache is NULL");
}

Test(blockcache, bad_arguments_to_the_calls_fail_and_change_nothing)
{
	struct bc_cache *c = make_cache(8, 0);
	struct bc_cache *ro;
	struct bc_config cfg = { .nr_slots = 4 };
	struct bc_borrow *b = (void *)1;
	char buf[BC_BLOCK_SIZE];
	struct bc_stats st;
	int rofd;

	cr_assert_eq(bc_read(c, 1, 0, buf, sizeof(buf)), 0);
	assert_bc_fails(bc_read(NULL, 1, 0, buf, 1), -EINVAL,
			"cache is NULL");
	assert_bc_fails(bc_read(c, 1, 0, NULL, 1), -EINVAL, "buf is NULL");
	assert_bc_fails(bc_read(c, 1, 4000, buf, 97), -EINVAL,
			"offset 4000 + length 97 is past the end");
	assert_bc_fails(bc_read(c, 1, 5000, buf, 0), -EINVAL,
			"offset 5000 + length 0");
	assert_bc_fails(bc_read(c, NR_BLOCKS + 1, 0, buf, 1), -ENXIO,
			"block 65 is past the end of the file (65 blocks)");
	assert_bc_fails(bc_write(c, NR_BLOCKS + 1, 0, buf, 1), -ENXIO,
			"bc_write: block 65");
	assert_bc_fails(bc_write(c, 1, 1, buf, BC_BLOCK_SIZE), -EINVAL,
			"offset 1 + length 4096");
	assert_bc_fails(bc_invalidate(c, UINT64_MAX), -ENXIO,
			"past the end");
	assert_bc_fails(bc_borrow(c, 1, NULL), -EINVAL, "borrow is NULL");
	assert_bc_fails(bc_borrow(c, NR_BLOCKS + 1, &b), -ENXIO,
			"past the end");
	cr_assert_null(b);
	assert_bc_fails(bc_get_stats(c, NULL), -EINVAL, "stats is NULL");
	assert_bc_fails(bc_sync(NULL), -EINVAL, "cache is NULL");
	cr_assert_eq(bc_return(NULL), 0);
	cr_assert_eq(bc_return(&b), 0, "a NULL handle is nothing to do");
	st = stats_of(c);
	cr_assert_eq(st.misses, 1);
	cr_assert_eq(st.hits, 0);
	cr_assert_eq(st.writes + st.borrows + st.invalidations, 0);

	/* A read-only file: reads work, writes are refused. */
	rofd = open(file_path, O_RDONLY);
	cr_assert_geq(rofd, 0);
	cr_assert_eq(bc_create(region, rofd, &cfg, &ro), 0, "%s",
		     bc_errormsg());
	cr_assert_eq(bc_read(ro, 2, 0, buf, sizeof(buf)), 0);
	expect_block(2, buf);
	assert_bc_fails(bc_write(ro, 2, 0, buf, 8), -EBADF, "read-only");
	cr_assert_eq(bc_read(ro, 2, 0, buf, sizeof(buf)), 0);
	expect_block(2, buf);
	cr_assert_eq(bc_destroy(&ro), 0);
	close(rofd);
	cr_assert_eq(bc_destroy(&c), 0);
}

/* ---- the workload program ----------------------------------------------- */

struct run {
	int status;
	char *out, *err;	/* all of stdout and stderr */
};

/* Run $(B)/examples/blockcache; free the output with run_free(). */
static void run_workload(struct run *r, const char *const *args)
{
	r->status = test_run_built("examples/blockcache", args, &r->out,
				   &r->err);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

Test(blockcache, the_workload_checks_every_byte_and_passes)
{
	static const char *const args[] = {
		"--file-mb", "2", "--slots", "64", "--threads", "3",
		"--ops", "3000", "--write-pct", "5", "--borrow-pct", "10",
		"--rogue-pct", "20", "--break-ms", "2", "--hold-us", "50",
		NULL,
	};
	struct run r;

	run_workload(&r, args);
	cr_assert_eq(r.status, 0, "exit %d\nstdout:\n%s\nstderr:\n%s",
		     r.status, r.out, r.err);
	cr_assert(strstr(r.out, " 0 mismatches"), "%s", r.out);
	cr_assert(strstr(r.out, "operations   9000 "), "%s", r.out);
	cr_assert(strstr(r.out, "read latency p50 "), "%s", r.out);
	cr_assert(strstr(r.out, "blockcache: all checks passed"), "%s", r.out);
	cr_assert_str_empty(r.err);
	run_free(&r);
}

Test(blockcache, the_workload_refuses_bad_options_with_status_2)
{
	static const char *const bad[][3] = {
		{ "--threads", "0", NULL },
		{ "--shards", "3", NULL },
		{ "--skew", "10", NULL },
		{ "--bogus", NULL, NULL },
		{ "extra", NULL, NULL },
	};
	static const char *const over[] = { "--write-pct", "60",
					    "--borrow-pct", "50", NULL };
	struct run r;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_workload(&r, bad[i]);
		cr_assert_eq(r.status, 2, "%s: exit %d", bad[i][0], r.status);
		cr_assert(strstr(r.err, "usage:"), "%s", r.err);
		run_free(&r);
	}
	run_workload(&r, over);
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "is over 100"), "%s", r.err);
	run_free(&r);
}
