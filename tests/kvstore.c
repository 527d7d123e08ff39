// SPDX-License-Identifier: MIT
/*
 * The kvstore example's engine (examples/kvstore/), compiled in: puts,
 * gets and deletes, recovery at reopen, compaction under concurrent
 * readers (on 2 MiB and 4 KiB entries), a backup through async I/O and
 * the check of its content, a full log, and bad input.  The crash test is
 * tests/kvstore_crash.c.
 */
#include <fcntl.h>
#include <pthread.h>

#include "helpers.h"

#include "examples/kvstore/backup.c"
#include "examples/kvstore/index.c"
#include "examples/kvstore/kvstore.c"
#include "examples/kvstore/log.c"
#include "examples/kvstore/workload.c"

#define MiB (UINT64_C(1) << 20)

/* @expr failed with @err and left a message containing @needle. */
#define kv_assert_fails(expr, err, needle)                                     \
	do {                                                                   \
		int r_ = (expr);                                               \
		cr_assert_eq(r_, (err), "%s returned %d (%s), wanted %d",      \
			     #expr, r_, strerror(-r_), (err));                 \
		cr_assert(strstr(kv_errormsg(), (needle)) != NULL,             \
			  "%s: message \"%s\" lacks \"%s\"", #expr,            \
			  kv_errormsg(), (needle));                            \
	} while (0)

static char *dir;
static char path[512];

static void setup(void)
{
	dir = test_tmpdir();
	snprintf(path, sizeof(path), "%s/store", dir);
}

static void teardown_dir(void)
{
	test_rmdir(dir);
}

TestSuite(kvstore, .init = setup, .fini = teardown_dir, .timeout = 120);

static struct kv_store *open_store(uint64_t size, uint64_t align, bool fresh)
{
	struct kv_opts o = { .path = path, .size = size, .align = align,
			     .fresh = fresh, .commit_ms = -1,
			     .compact_pct = -1, .keys_hint = 4096 };
	struct kv_store *kv = NULL;
	int ret = kv_open(&o, &kv);

	cr_assert_eq(ret, 0, "kv_open: %s", kv_errormsg());
	return kv;
}

static void put_key(struct kv_store *kv, unsigned k, uint64_t version,
		    size_t vlen)
{
	unsigned char val[65536];
	char key[WL_KEY_MAX];
	int ret;

	cr_assert_leq(vlen, sizeof(val));
	wl_value(k, version, val, vlen);
	ret = kv_put(kv, key, wl_key(k, key), val, vlen);
	cr_assert_eq(ret, 0, "kv_put key %u: %s", k, kv_errormsg());
}

/* The version of key @k's value, or -1 when the key is absent. */
static int64_t get_version(struct kv_store *kv, unsigned k)
{
	unsigned char buf[65536];
	char key[WL_KEY_MAX];
	uint64_t v;
	size_t vlen;
	int ret = kv_get(kv, key, wl_key(k, key), buf, sizeof(buf), &vlen);

	if (ret == -ENOENT)
		return -1;
	cr_assert_eq(ret, 0, "kv_get key %u: %s", k, kv_errormsg());
	cr_assert_eq(wl_value_check(k, buf, vlen, &v), 0,
		     "key %u: the value read is not one that was put", k);
	return (int64_t)v;
}

Test(kvstore, put_get_overwrite_delete)
{
	struct kv_store *kv = open_store(32 * MiB, 0, true);
	char key[WL_KEY_MAX];
	struct kv_stats s;

	cr_assert_eq(get_version(kv, 1), -1);
	put_key(kv, 1, 10, 100);
	put_key(kv, 2, 20, 3000);
	cr_assert_eq(get_version(kv, 1), 10);
	cr_assert_eq(get_version(kv, 2), 20);
	put_key(kv, 1, 11, 50);
	cr_assert_eq(get_version(kv, 1), 11);
	cr_assert_eq(kv_delete(kv, key, wl_key(1, key)), 0);
	cr_assert_eq(get_version(kv, 1), -1);
	kv_assert_fails(kv_delete(kv, key, wl_key(1, key)), -ENOENT,
			"no such key");
	/* An empty value is a value. */
	cr_assert_eq(kv_put(kv, "e", 1, NULL, 0), 0);
	{
		size_t vlen = 99;

		cr_assert_eq(kv_get(kv, "e", 1, NULL, 0, &vlen), 0);
		cr_assert_eq(vlen, 0);
	}
	cr_assert_eq(kv_get_stats(kv, &s), 0);
	cr_assert_eq(s.keys, 2);
	cr_assert_eq(s.puts, 4);
	cr_assert_eq(s.deletes, 1);
	cr_assert_eq(kv_close(&kv), 0);
	cr_assert_null(kv);
}

Test(kvstore, reopen_recovers_committed_keys_and_deletes)
{
	struct kv_store *kv = open_store(32 * MiB, 0, true);
	char key[WL_KEY_MAX];
	struct kv_stats s;

	for (unsigned k = 0; k < 3000; k++)
		put_key(kv, k, k, 16 + k % 700);
	for (unsigned k = 0; k < 3000; k += 3)
		cr_assert_eq(kv_delete(kv, key, wl_key(k, key)), 0);
	for (unsigned k = 1; k < 3000; k += 3)
		put_key(kv, k, 100000 + k, 40);
	cr_assert_eq(kv_commit(kv), 0);
	cr_assert_eq(kv_get_stats(kv, &s), 0);
	cr_assert_eq(s.committed, s.tail);
	cr_assert_eq(kv_close(&kv), 0);

	kv = open_store(0, 0, false);
	cr_assert_eq(kv_get_stats(kv, &s), 0);
	cr_assert_eq(s.recovered_keys, 2000);
	cr_assert_eq(s.recovered_records, 3000 + 1000 + 1000);
	for (unsigned k = 0; k < 3000; k++)
		cr_assert_eq(get_version(kv, k),
			     k % 3 == 0 ? -1 :
			     k % 3 == 1 ? (int64_t)(100000 + k) : (int64_t)k,
			     "key %u", k);
	/* New puts go on after the recovered tail. */
	put_key(kv, 5000, 5, 100);
	cr_assert_eq(kv_close(&kv), 0);
	kv = open_store(0, 0, false);
	cr_assert_eq(get_version(kv, 5000), 5);
	cr_assert_eq(get_version(kv, 2), 2);
	cr_assert_eq(kv_close(&kv), 0);
}

/* ---- compaction under readers --------------------------------------------------- */

struct reader_ctx {
	struct kv_store *kv;
	unsigned keys;
	_Atomic bool stop;
	_Atomic uint64_t reads, bad, errors;
};

static void *reader(void *arg)
{
	struct reader_ctx *c = arg;
	unsigned char buf[65536];
	uint64_t seed = (uint64_t)(uintptr_t)&buf, v;

	while (!atomic_load(&c->stop)) {
		unsigned k = (unsigned)(splitmix(&seed) % c->keys);
		char key[WL_KEY_MAX];
		size_t vlen;
		int ret = kv_get(c->kv, key, wl_key(k, key), buf, sizeof(buf),
				 &vlen);

		if (ret == 0 && wl_value_check(k, buf, vlen, &v))
			atomic_fetch_add(&c->bad, 1);
		else if (ret && ret != -ENOENT)
			atomic_fetch_add(&c->errors, 1);
		atomic_fetch_add(&c->reads, 1);
	}
	return NULL;
}

/*
 * Writers overwrite keys while readers copy values out and the main thread
 * compacts: every value read must be a whole value of its key, every key
 * stays readable, and the log keeps its slots.
 */
static void compaction_under_readers(uint64_t align, size_t vmax)
{
	struct kv_store *kv = open_store(48 * MiB, align, true);
	struct reader_ctx c = { .kv = kv, .keys = 2000 };
	struct dax_fault_stats fs;
	pthread_t t[2];
	struct kv_stats s;
	uint64_t version = 1;

	for (unsigned k = 0; k < c.keys; k++)
		put_key(kv, k, version++, 16 + k % vmax);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, reader, &c), 0);
	for (int round = 0; round < 12; round++) {
		for (unsigned i = 0; i < 3000; i++) {
			unsigned k = (unsigned)((i * 7919u + round) % c.keys);

			put_key(kv, k, version++, 16 + (i * 13) % vmax);
		}
		cr_assert_eq(kv_commit(kv), 0);
		cr_assert_eq(kv_compact(kv, 1000), 0, "%s", kv_errormsg());
	}
	atomic_store(&c.stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(c.bad, 0, "%llu gets returned bytes that are not a value",
		     (unsigned long long)c.bad);
	cr_assert_eq(c.errors, 0);
	cr_assert_gt(c.reads, 0);
	cr_assert_eq(kv_get_stats(kv, &s), 0);
	cr_assert_geq(s.compactions, 6);
	cr_assert_gt(s.segments_punched, 0);
	cr_assert_gt(s.records_copied, 0);
	cr_assert_eq(s.keys, c.keys);
	cr_assert_lt(s.used_slots, s.nr_slots / 2);
	cr_assert_eq(dax_fault_get_stats(kv_get_mapping(kv), &fs), 0);
	if (align == 4096)
		cr_assert(fs.faults[0] > 0 && fs.faults[1] == 0);
	else
		cr_assert(fs.faults[1] > 0 && fs.faults[0] == 0);
	for (unsigned k = 0; k < c.keys; k++)
		cr_assert_geq(get_version(kv, k), 0);
	cr_assert_eq(kv_close(&kv), 0);

	/* What compaction copied is what the next open finds. */
	kv = open_store(0, align, false);
	cr_assert_eq(kv_get_stats(kv, &s), 0);
	cr_assert_eq(s.recovered_keys, c.keys);
	for (unsigned k = 0; k < c.keys; k++)
		cr_assert_geq(get_version(kv, k), 0);
	cr_assert_eq(kv_close(&kv), 0);
}

Test(kvstore, compaction_under_readers_2m)
{
	compaction_under_readers(0, 2000);
}

/* 4 KiB alignment: every entry is 4 KiB, records span several. */
Test(kvstore, compaction_under_readers_4k)
{
	compaction_under_readers(4096, 5000);
}

/*
 * A reader whose record was moved and punched between its lookup and its
 * pin reads a hole, fails the record check and looks the key up again.
 * Provoked directly: a location from before a compaction, read after.
 */
Test(kvstore, stale_location_reads_a_hole_and_retries)
{
	struct kv_store *kv = open_store(32 * MiB, 0, true);
	unsigned char buf[256];
	char key[WL_KEY_MAX];
	size_t klen = wl_key(7, key);
	uint64_t old_off, hash = index_hash(key, klen);
	struct kv_stats s;

	put_key(kv, 7, 1, 200);
	/* Fill more than a segment so that the first one closes. */
	for (unsigned i = 0; i < 12000; i++)
		put_key(kv, 100 + i % 50, i + 2, 200);
	index_lock(&kv->ix, hash);
	old_off = index_find_locked(&kv->ix, hash, key, klen)->off;
	index_unlock(&kv->ix, hash);
	cr_assert_eq(kv_compact(kv, 1), 0, "%s", kv_errormsg());
	index_lock(&kv->ix, hash);
	cr_assert_neq(index_find_locked(&kv->ix, hash, key, klen)->off,
		      old_off);
	index_unlock(&kv->ix, hash);
	/* The old place reads as a hole now: the check refuses it. */
	cr_assert_eq(read_record(kv, old_off, key, klen, buf, 200), -EAGAIN);
	cr_assert_eq(get_version(kv, 7), 1);
	cr_assert_eq(kv_get_stats(kv, &s), 0);
	cr_assert_eq(s.compactions, 1);
	cr_assert_eq(s.segments_punched, 1);
	cr_assert_eq(kv_close(&kv), 0);
}

/* ---- backup ------------------------------------------------------------------------ */

Test(kvstore, backup_through_aio_and_its_content)
{
	struct kv_store *kv = open_store(32 * MiB, 0, true);
	struct kv_backup_info bi;
	char bpath[600], key[WL_KEY_MAX];
	struct kv_stats s;
	int fd;

	snprintf(bpath, sizeof(bpath), "%s/backup", dir);
	for (unsigned k = 0; k < 5000; k++)
		put_key(kv, k, k + 1, 16 + k % 900);
	for (unsigned k = 0; k < 5000; k += 10)
		cr_assert_eq(kv_delete(kv, key, wl_key(k, key)), 0);
	/* Some of it compacted away first: the backup starts at first_seg. */
	cr_assert_eq(kv_compact(kv, 1), 0);
	cr_assert_eq(kv_backup(kv, bpath), 0, "%s", kv_errormsg());
	cr_assert_eq(kv_backup_check(kv, bpath, &bi), 0, "%s", kv_errormsg());
	cr_assert_eq(kv_get_stats(kv, &s), 0);
	cr_assert_eq(bi.first, s.first);
	cr_assert_eq(bi.tail, s.committed);
	cr_assert_eq(bi.keys, 4500);
	cr_assert_eq(bi.matching, 4500);
	cr_assert_eq(s.backups, 1);
	cr_assert_eq(s.leases_taken, 1);
	cr_assert_geq(s.backup_bytes, bi.tail - bi.first);

	/* The store moves on: the backup keeps the old values. */
	put_key(kv, 1, 999999, 30);
	cr_assert_eq(kv_delete(kv, key, wl_key(2, key)), 0);
	cr_assert_eq(kv_backup_check(kv, bpath, &bi), 0);
	cr_assert_eq(bi.keys, 4500);
	cr_assert_eq(bi.matching, 4498);

	/* One flipped byte in a record: the check finds it. */
	fd = open(bpath, O_RDWR);
	cr_assert_geq(fd, 0);
	{
		unsigned char b;

		cr_assert_eq(pread(fd, &b, 1, 4096 + 5000), 1);
		b ^= 0x40;
		cr_assert_eq(pwrite(fd, &b, 1, 4096 + 5000), 1);
	}
	close(fd);
	kv_assert_fails(kv_backup_check(kv, bpath, &bi), -EIO, "bad record");

	/* Not a backup at all. */
	kv_assert_fails(kv_backup_check(kv, path, &bi), -EINVAL,
			"not a kvstore backup");
	kv_assert_fails(kv_backup(kv, "/nonexistent-dir/b"), -ENOENT,
			"/nonexistent-dir/b");
	cr_assert_eq(kv_close(&kv), 0);
}

/* A backup running while compaction punches its range starts over and
 * still produces a copy equal to the store. */
struct backup_ctx {
	struct kv_store *kv;
	const char *file;
	int ret;
};

static void *backup_thread(void *arg)
{
	struct backup_ctx *b = arg;

	b->ret = kv_backup(b->kv, b->file);
	return NULL;
}

/*
 * The backup holds a lease on the log while it copies; a compaction that
 * starts meanwhile breaks it, and the backup starts over and still ends
 * equal to the store.  Whether the compaction starts before the copy ends
 * is a race (a loaded machine can finish a 20 MiB copy first), so the
 * scenario runs up to five times and must see a break in one of them;
 * every round's backup must check out either way.
 */
Test(kvstore, compaction_breaks_a_backup_lease)
{
	struct kv_store *kv = open_store(64 * MiB, 0, true);
	struct backup_ctx b = { .kv = kv };
	struct kv_backup_info bi;
	struct kv_stats s;
	char bpath[600];
	unsigned round;
	pthread_t t;

	snprintf(bpath, sizeof(bpath), "%s/backup", dir);
	b.file = bpath;
	for (round = 0; round < 5; round++) {
		uint64_t taken, backups;

		for (unsigned i = 0; i < 60000; i++)
			put_key(kv, i % 3000, round * 60000 + i + 1, 300);
		cr_assert_eq(kv_commit(kv), 0);
		cr_assert_eq(kv_get_stats(kv, &s), 0);
		taken = s.leases_taken;
		backups = s.backups;
		cr_assert_eq(pthread_create(&t, NULL, backup_thread, &b), 0);
		do {
			cr_assert_eq(kv_get_stats(kv, &s), 0);
		} while (s.leases_taken == taken && s.backups == backups);
		cr_assert_eq(kv_compact(kv, 1000), 0, "%s", kv_errormsg());
		pthread_join(t, NULL);
		cr_assert_eq(b.ret, 0, "%s", kv_errormsg());
		cr_assert_eq(kv_backup_check(kv, bpath, &bi), 0, "%s",
			     kv_errormsg());
		cr_assert_eq(bi.keys, 3000);
		cr_assert_eq(bi.matching, 3000);
		cr_assert_eq(kv_get_stats(kv, &s), 0);
		if (s.leases_broken)
			break;
	}
	cr_assert_geq(s.leases_broken, 1,
		      "in 5 rounds, no compaction broke the backup's lease");
	cr_assert_geq(s.backup_restarts, s.leases_broken);
	cr_assert_eq(kv_close(&kv), 0);
}

/* ---- limits and bad input ---------------------------------------------------------- */

Test(kvstore, full_log_fails_enospc_and_keeps_what_it_had)
{
	struct kv_store *kv = open_store(16 * MiB, 0, true);
	unsigned char val[60000];
	char key[WL_KEY_MAX];
	unsigned k;
	int ret = 0;

	/* Distinct keys only: nothing compaction can drop. */
	for (k = 0; k < 1000 && !ret; k++) {
		wl_value(k, 1, val, sizeof(val));
		ret = kv_put(kv, key, wl_key(k, key), val, sizeof(val));
	}
	kv_assert_fails(ret, -ENOSPC, "the log is full");
	cr_assert_gt(k, 50);
	for (unsigned i = 0; i < k - 1; i++)
		cr_assert_eq(get_version(kv, i), 1);
	cr_assert_eq(get_version(kv, k - 1), -1);
	cr_assert_eq(kv_close(&kv), 0);
	kv = open_store(0, 0, false);
	for (unsigned i = 0; i < k - 1; i++)
		cr_assert_eq(get_version(kv, i), 1);
	cr_assert_eq(kv_close(&kv), 0);
}

Test(kvstore, bad_input_fails_and_changes_nothing)
{
	struct kv_store *kv = open_store(32 * MiB, 0, true);
	struct kv_opts o = { 0 };
	char big[KV_MAX_KEY + 1] = { 0 }, buf[8];
	struct kv_store *none = NULL;
	size_t vlen = 0;

	put_key(kv, 1, 5, 100);
	kv_assert_fails(kv_put(kv, NULL, 3, "v", 1), -EINVAL, "a key is");
	kv_assert_fails(kv_put(kv, "k", 0, "v", 1), -EINVAL, "a key is");
	kv_assert_fails(kv_put(kv, big, sizeof(big), "v", 1), -EINVAL,
			"1 to 1024 bytes");
	kv_assert_fails(kv_put(kv, "k", 1, NULL, 5), -EINVAL, "a value is");
	kv_assert_fails(kv_put(kv, "k", 1, big, KV_MAX_VALUE + 1), -EINVAL,
			"a value is");
	kv_assert_fails(kv_get(kv, "k", 1, buf, sizeof(buf), NULL), -EINVAL,
			"kv_get needs");
	kv_assert_fails(kv_get(kv, "k", 1, buf, sizeof(buf), &vlen), -ENOENT,
			"no such key");
	{
		char key[WL_KEY_MAX];

		kv_assert_fails(kv_get(kv, key, wl_key(1, key), buf,
				       sizeof(buf), &vlen), -ENOBUFS,
				"the value is 100 bytes");
		cr_assert_eq(vlen, 100);
	}
	kv_assert_fails(kv_delete(kv, NULL, 1), -EINVAL, "a key is");
	kv_assert_fails(kv_commit(NULL), -EINVAL, "no store");
	kv_assert_fails(kv_compact(NULL, 0), -EINVAL, "no store");
	kv_assert_fails(kv_close(&none), -EINVAL, "no store");
	/* The failed calls left the store as it was. */
	cr_assert_eq(get_version(kv, 1), 5);
	{
		struct kv_stats s;

		cr_assert_eq(kv_get_stats(kv, &s), 0);
		cr_assert_eq(s.keys, 1);
		cr_assert_eq(s.tail, kv_rec_size(11, 100));
	}
	cr_assert_eq(kv_close(&kv), 0);

	kv_assert_fails(kv_open(NULL, &kv), -EINVAL, "needs options");
	kv_assert_fails(kv_open(&o, &kv), -EINVAL, "needs options");
	o.path = path;
	o.heap_pct = 95;
	kv_assert_fails(kv_open(&o, &kv), -EINVAL, "at most 90%");
	o.heap_pct = 0;
	o.size = 8 * MiB;
	o.fresh = true;
	kv_assert_fails(kv_open(&o, &kv), -EINVAL, "at least 16 MiB");
	o.path = "/dev/null";
	o.size = 0;
	kv_assert_fails(kv_open(&o, &kv), -ENODEV, "dax_region_open");
	cr_assert_null(kv);
}

/* A superblock copy torn by a crash (bad CRC) loses to the other copy. */
Test(kvstore, torn_superblock_copy_falls_back_to_the_other)
{
	struct kv_store *kv = open_store(32 * MiB, 0, true);
	struct kv_super sb[2];
	int fd, newer;

	for (unsigned k = 0; k < 100; k++)
		put_key(kv, k, k, 100);
	cr_assert_eq(kv_commit(kv), 0);
	for (unsigned k = 100; k < 200; k++)
		put_key(kv, k, k, 100);
	cr_assert_eq(kv_close(&kv), 0);
	/* Tear the newer copy: the older one's tail holds keys 0..99. */
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &sb[0], sizeof(sb[0]), 0),
		     (ssize_t)sizeof(sb[0]));
	cr_assert_eq(pread(fd, &sb[1], sizeof(sb[1]), 4096),
		     (ssize_t)sizeof(sb[1]));
	newer = sb[1].generation > sb[0].generation;
	sb[newer].tail += 8;	/* a write that did not finish: bad CRC */
	cr_assert_eq(pwrite(fd, &sb[newer], sizeof(sb[newer]),
			    newer * 4096), (ssize_t)sizeof(sb[newer]));
	close(fd);
	kv = open_store(0, 0, false);
	for (unsigned k = 0; k < 200; k++)
		cr_assert_eq(get_version(kv, k), k < 100 ? (int64_t)k : -1,
			     "key %u", k);
	cr_assert_eq(kv_close(&kv), 0);
}

/*
 * A store opened as a region of another size (a wrong --size) is refused
 * with the size it was made for, and its keys are all there afterwards:
 * it is never mistaken for garbage and formatted over.
 */
Test(kvstore, a_store_opened_with_another_size_is_refused_not_formatted)
{
	struct kv_store *kv = open_store(48 * MiB, 0, true);
	struct kv_opts o = { .path = path, .size = 32 * MiB, .commit_ms = -1,
			     .compact_pct = -1, .keys_hint = 4096 };
	struct kv_store *other = NULL;

	for (unsigned k = 0; k < 50; k++)
		put_key(kv, k, k, 100);
	cr_assert_eq(kv_commit(kv), 0);
	cr_assert_eq(kv_close(&kv), 0);
	kv_assert_fails(kv_open(&o, &other), -EINVAL,
			"made for a region of 50331648 bytes");
	cr_assert_null(other);
	kv = open_store(0, 0, false);	/* its own size */
	for (unsigned k = 0; k < 50; k++)
		cr_assert_eq(get_version(kv, k), (int64_t)k, "key %u", k);
	cr_assert_eq(kv_close(&kv), 0);
}
