// SPDX-License-Identifier: MIT
/*
 * The block cache example (examples/blockcache) under load, so that its
 * reader, borrower and evictor protocols run under ThreadSanitizer and
 * AddressSanitizer too (tests/blockcache.c is Criterion, which TSan cannot
 * start).
 *
 * A 1 MiB file of 256 blocks behind a 64-slot cache: readers copy blocks
 * out, a borrower takes zero-copy borrows and returns them at once (a
 * cooperative one: an uncooperative borrower's reads race the refill by
 * design, see blockcache.h), a writer rewrites whole blocks through the
 * cache, an invalidator drops blocks, and misses evict all the time.
 * Every block holds its number and a version in its first 16 bytes and a
 * pattern of both after them; every copy must be one version of the right
 * block, never older than the version committed before the read began.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "stress.h"
#include "examples/blockcache/cache.c"

#define BS_BLOCKS 256
#define BS_SLOTS 64
#define BS_READERS 3

static struct bc_cache *bs_cache;
static atomic_bool bs_stop;
static atomic_int bs_violations;
static atomic_uint_fast64_t bs_committed[BS_BLOCKS];
static pthread_mutex_t bs_write_lock[BS_BLOCKS];
static atomic_uint_fast64_t bs_copies, bs_borrows, bs_writes;

static void bs_violation(const char *what, uint64_t block, uint64_t a,
			 uint64_t b)
{
	if (atomic_fetch_add(&bs_violations, 1) < 10)
		fprintf(stderr, "VIOLATION: %s: block %llu (%llu, %llu)\n",
			what, (unsigned long long)block,
			(unsigned long long)a, (unsigned long long)b);
}

static void bs_fill(unsigned char *buf, uint64_t block, uint64_t version)
{
	memcpy(buf, &block, 8);
	memcpy(buf + 8, &version, 8);
	for (unsigned i = 16; i < BC_BLOCK_SIZE; i++)
		buf[i] = (unsigned char)(block * 131 + version * 7 + i);
}

/* A copy of @block read after version @lo was committed: check it. */
static void bs_check(const unsigned char *buf, uint64_t block, uint64_t lo)
{
	uint64_t b, v;

	memcpy(&b, buf, 8);
	memcpy(&v, buf + 8, 8);
	if (b != block) {
		bs_violation("a copy of another block", block, b, v);
		return;
	}
	if (v < lo)
		bs_violation("a version older than the committed one", block,
			     v, lo);
	for (unsigned i = 16; i < BC_BLOCK_SIZE; i++)
		if (buf[i] != (unsigned char)(block * 131 + v * 7 + i)) {
			bs_violation("a torn block", block, v, i);
			return;
		}
}

static uint64_t bs_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *bs_reader(void *arg)
{
	uint64_t seed = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
	unsigned char buf[BC_BLOCK_SIZE];

	while (!atomic_load(&bs_stop)) {
		/* skewed: most reads in the first quarter, so blocks stay hot */
		uint64_t r = bs_rand(&seed), b = r % 4 ? r % (BS_BLOCKS / 4) :
					       r % BS_BLOCKS;
		uint64_t lo = atomic_load(&bs_committed[b]);
		int ret = bc_read(bs_cache, b, 0, buf, sizeof(buf));

		if (ret) {
			bs_violation("bc_read failed", b, (uint64_t)-ret, 0);
			continue;
		}
		bs_check(buf, b, lo);
		atomic_fetch_add(&bs_copies, 1);
	}
	return NULL;
}

static void *bs_borrower(void *arg)
{
	uint64_t seed = (uintptr_t)arg + 77;
	unsigned char buf[BC_BLOCK_SIZE];

	while (!atomic_load(&bs_stop)) {
		uint64_t b = bs_rand(&seed) % (BS_BLOCKS / 4);
		uint64_t lo = atomic_load(&bs_committed[b]);
		struct bc_borrow *bw = NULL;
		int ret = bc_borrow(bs_cache, b, &bw);

		if (ret) {
			bs_violation("bc_borrow failed", b, (uint64_t)-ret, 0);
			continue;
		}
		memcpy(buf, bc_borrow_data(bw), sizeof(buf));
		/* use, then check: a revoked borrow's bytes are not kept */
		if (!bc_borrow_revoked(bw))
			bs_check(buf, b, lo);
		bc_return(&bw);
		atomic_fetch_add(&bs_borrows, 1);
	}
	return NULL;
}

static void *bs_writer(void *arg)
{
	uint64_t seed = (uintptr_t)arg + 991;
	unsigned char buf[BC_BLOCK_SIZE];

	while (!atomic_load(&bs_stop)) {
		uint64_t b = bs_rand(&seed) % BS_BLOCKS, v;
		int ret;

		pthread_mutex_lock(&bs_write_lock[b]);
		v = atomic_load(&bs_committed[b]) + 1;
		bs_fill(buf, b, v);
		ret = bc_write(bs_cache, b, 0, buf, sizeof(buf));
		if (ret)
			bs_violation("bc_write failed", b, (uint64_t)-ret, v);
		else
			atomic_store(&bs_committed[b], v);
		pthread_mutex_unlock(&bs_write_lock[b]);
		atomic_fetch_add(&bs_writes, 1);
		usleep(200);
	}
	return NULL;
}

static void *bs_invalidator(void *arg)
{
	uint64_t seed = (uintptr_t)arg + 4242;

	while (!atomic_load(&bs_stop)) {
		uint64_t b = bs_rand(&seed) % BS_BLOCKS;
		int ret = bc_invalidate(bs_cache, b);

		if (ret && ret != -ENOENT)
			bs_violation("bc_invalidate failed", b,
				     (uint64_t)-ret, 0);
		usleep(500);
	}
	return NULL;
}

static bool readers_borrowers_writers_and_evictions(void)
{
	struct bc_config cfg = { .nr_slots = BS_SLOTS, .break_ms = 50 };
	char dir[] = "/tmp/blockcache-stress-XXXXXX", path[64];
	unsigned char buf[BC_BLOCK_SIZE];
	struct dax_region_opts *opts;
	struct dax_region *region = NULL;
	pthread_t th[BS_READERS + 3];
	uint64_t size;
	int fd;

	stress_check(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	stress_check(fd >= 0, "open %s: %s", path, strerror(errno));
	for (uint64_t b = 0; b < BS_BLOCKS; b++) {
		bs_fill(buf, b, 0);
		stress_check(pwrite(fd, buf, sizeof(buf),
				    (off_t)(b * BC_BLOCK_SIZE)) ==
				     (ssize_t)sizeof(buf),
			     "pwrite: %s", strerror(errno));
		atomic_store(&bs_committed[b], 0);
		pthread_mutex_init(&bs_write_lock[b], NULL);
	}
	size = (bc_region_bytes(BS_SLOTS) + (2 << 20) - 1) &
	       ~(uint64_t)((2 << 20) - 1);
	stress_check(dax_region_opts_new(&opts) == 0 &&
			     dax_region_opts_set_size(opts, size) == 0 &&
			     dax_region_open("memfd:blockcache-stress", opts,
					     &region) == 0,
		     "region of %llu bytes", (unsigned long long)size);
	dax_region_opts_delete(&opts);
	stress_check(bc_create(region, fd, &cfg, &bs_cache) == 0,
		     "bc_create: %s", bc_errormsg());

	atomic_store(&bs_stop, false);
	for (uintptr_t i = 0; i < BS_READERS; i++)
		pthread_create(&th[i], NULL, bs_reader, (void *)i);
	pthread_create(&th[BS_READERS], NULL, bs_borrower, (void *)1);
	pthread_create(&th[BS_READERS + 1], NULL, bs_writer, (void *)2);
	pthread_create(&th[BS_READERS + 2], NULL, bs_invalidator, (void *)3);
	usleep((useconds_t)(stress_seconds() * 1e6));
	atomic_store(&bs_stop, true);
	for (unsigned i = 0; i < BS_READERS + 3; i++)
		pthread_join(th[i], NULL);

	{
		struct bc_stats st;

		bc_get_stats(bs_cache, &st);
		printf("     %llu copies, %llu borrows, %llu writes; %llu hits, "
		       "%llu misses, %llu evictions, %llu invalidations\n",
		       (unsigned long long)atomic_load(&bs_copies),
		       (unsigned long long)atomic_load(&bs_borrows),
		       (unsigned long long)atomic_load(&bs_writes),
		       (unsigned long long)st.hits,
		       (unsigned long long)st.misses,
		       (unsigned long long)st.evictions,
		       (unsigned long long)st.invalidations);
		stress_check(st.evictions > 0, "the cache never evicted");
		stress_check(st.borrows_out == 0, "%llu borrows still out",
			     (unsigned long long)st.borrows_out);
	}
	stress_check(bc_destroy(&bs_cache) == 0, "bc_destroy: %s",
		     bc_errormsg());
	/* the file holds every committed version */
	for (uint64_t b = 0; b < BS_BLOCKS; b++) {
		stress_check(pread(fd, buf, sizeof(buf),
				   (off_t)(b * BC_BLOCK_SIZE)) ==
				     (ssize_t)sizeof(buf),
			     "pread: %s", strerror(errno));
		bs_check(buf, b, atomic_load(&bs_committed[b]));
	}
	close(fd);
	unlink(path);
	rmdir(dir);
	stress_check(dax_region_close(&region) == 0, "close: %s",
		     dax_errormsg());
	stress_check(atomic_load(&bs_violations) == 0, "%d violations",
		     atomic_load(&bs_violations));
	return true;
}

int main(void)
{
	stress_run(readers_borrowers_writers_and_evictions);
	return stress_report();
}
