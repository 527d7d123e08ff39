/* SPDX-License-Identifier: MIT */
/*
 * kvstore: a small persistent key-value engine on a libdax region.
 *
 * This is an example meant to be read.  It shows, in a little over two
 * thousand lines, how a storage engine uses libdax the way a file system
 * uses the kernel's DAX code:
 *
 *   log.c       values live in an append-only log of 2 MiB segments, a
 *               dax_mapping whose blocks the engine places itself
 *               (iomap_begin), reached through dax_fault(3) and made
 *               durable with dax_writeback(3) at commit; a superblock at
 *               region offset 0 says where the committed log ends;
 *   index.c     a volatile hash index (key -> log offset) in a dax_heap,
 *               rebuilt on open by scanning the committed log;
 *   kvstore.c   the engine: put, get (readers pin what they copy,
 *               dax_pin_range(3)), delete, group commit, compaction (copy
 *               the live records of old segments to the head, commit, then
 *               dax_punch_hole(3) them under live readers);
 *   backup.c    a copy of the log to a file through the async I/O path
 *               (dax_aio_setup(3)) under a breakable lease
 *               (dax_lease_take(3)), and the check of such a copy;
 *   kv_internal.h  what those files share;
 *   workload.c  the multithreaded workload, latency histograms and the
 *               crash-test child shared by the CLI and the tests;
 *   main.c      the command line and the demo's summary.
 *
 * On-region layout (all little-endian, the region's first bytes first):
 *
 *   region offset 0        superblock copy A (4 KiB)
 *   region offset 4096     superblock copy B (4 KiB)
 *   ... up to 2 MiB        unused (the rest of the superblock's block)
 *   2 MiB + s * 2 MiB      log slot s, for s in 0 .. nr_slots - 1
 *   after the last slot    left to the region's allocator: the heap
 *
 * The log is addressed by a log offset that only grows (a 64-bit byte
 * count since the store was made).  Log segment n (offsets n * 2 MiB to
 * (n + 1) * 2 MiB - 1) lives in slot n % nr_slots; it is page n * 512 of
 * the log's mapping.  The live log is the segments from first_seg to the
 * head; a slot is reused only after compaction has moved its live records
 * to the head, committed, recorded the new first_seg in the superblock and
 * punched the old segment out of the mapping.
 *
 * The superblock records first (the log offset of the oldest live byte),
 * tail (the committed end of the log) and the next sequence number.  It is
 * written alternately to copy A and B with a generation and a checksum, so
 * a crash in the middle of a superblock write leaves the other copy.
 *
 * Thread safety: every kv_* call may run from any number of threads at
 * once, except kv_open() and kv_close(), which must have the store to
 * themselves.
 */
#ifndef KVSTORE_H
#define KVSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libdax.h>

#define KV_MAX_KEY 1024			/* bytes */
#define KV_MAX_VALUE (256 * 1024)	/* bytes */

struct kv_store;

/* How to open a store.  Zeroed fields take the defaults in brackets. */
struct kv_opts {
	/* A file (made if missing), memfd:NAME, /dev/daxX.Y or a daxlite
	 * device.  See dax_region_open(3). */
	const char *path;
	/* Size of a file or memfd to create or extend [128 MiB]; a device's
	 * size is its own. */
	uint64_t size;
	/* Alignment of a file or memfd region [2 MiB]; 4096 makes every
	 * entry 4 KiB, as on a device-DAX with 4 KiB alignment. */
	uint64_t align;
	/* Format the region even when it holds a store. */
	bool fresh;
	/* Expected number of keys: sizes the hash table [65536]. */
	unsigned keys_hint;
	/* Share of the region left to the heap, in percent [25]. */
	unsigned heap_pct;
	/* Group commit: a thread commits every this many ms [10]; -1: no
	 * thread (callers commit with kv_commit()). */
	int commit_ms;
	/* Every put and delete commits before it returns (concurrent ones
	 * share a commit). */
	bool sync;
	/* Compact in a background thread when the log is this full, in
	 * percent [50]; -1: only when a put finds the log full. */
	int compact_pct;
};

/* Counters since the store was opened (the engine's own bookkeeping). */
struct kv_stats {
	uint64_t puts, deletes, gets, get_misses;
	uint64_t get_retries;		/* a get found its record punched */
	uint64_t pins;			/* dax_pin_range() calls by readers */
	uint64_t pins_at_punch;		/* reader pins held when compaction's
					   break-layouts or punch began, which
					   it had to drain */
	uint64_t commits;		/* commits that wrote a superblock */
	uint64_t writebacks;		/* dax_writeback() calls */
	uint64_t bytes_committed;	/* log bytes made durable */
	uint64_t compactions, segments_punched, records_copied,
		 bytes_copied;
	uint64_t leases_taken, leases_broken;
	uint64_t backups, backup_restarts, backup_bytes;
	uint64_t recovered_records, recovered_keys;	/* at open */
	uint64_t nr_slots, used_slots;	/* log segments: capacity, in use */
	uint64_t first, tail, committed;	/* log offsets */
	uint64_t keys;			/* in the index now */
};

/* What kv_backup_check() found in a backup file. */
struct kv_backup_info {
	uint64_t first, tail;		/* the log range it holds */
	uint64_t records, keys;		/* valid records, distinct live keys */
	uint64_t matching;		/* keys whose value equals the store's
					   current one */
};

int kv_open(const struct kv_opts *opts, struct kv_store **kv);
int kv_close(struct kv_store **kv);

int kv_put(struct kv_store *kv, const void *key, size_t klen,
	   const void *value, size_t vlen);
int kv_delete(struct kv_store *kv, const void *key, size_t klen);
/*
 * Copy the value of @key into @buf (@buflen bytes) and its length into
 * *@vlen.  -ENOENT: no such key.  -ENOBUFS: @buf is too small (*@vlen says
 * how large it must be).
 */
int kv_get(struct kv_store *kv, const void *key, size_t klen, void *buf,
	   size_t buflen, size_t *vlen);
/* Make every put and delete that returned before this call durable. */
int kv_commit(struct kv_store *kv);
/* Move the live records of up to @max_segments oldest segments (0: the
 * policy's choice) to the head and punch the old segments out. */
int kv_compact(struct kv_store *kv, unsigned max_segments);
/* Copy the committed log to @file through async I/O (O_DIRECT). */
int kv_backup(struct kv_store *kv, const char *file);
/* Read a backup back, check every record, compare with the store. */
int kv_backup_check(struct kv_store *kv, const char *file,
		    struct kv_backup_info *info);

/* Called for each key of the index; a non-zero return stops the walk. */
typedef int (*kv_key_fn)(void *priv, const void *key, size_t klen);
int kv_for_each_key(struct kv_store *kv, kv_key_fn fn, void *priv);

int kv_get_stats(struct kv_store *kv, struct kv_stats *stats);
struct dax_mapping *kv_get_mapping(struct kv_store *kv);
struct dax_region *kv_get_region(struct kv_store *kv);
struct dax_heap *kv_get_heap(struct kv_store *kv);

/* The calling thread's last kv_* failure in words ("" when none). */
const char *kv_errormsg(void);

#endif /* KVSTORE_H */
