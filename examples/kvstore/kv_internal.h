/* SPDX-License-Identifier: MIT */
/*
 * What the engine's files share (log.c, index.c, kvstore.c); not part of
 * the engine's API (kvstore.h).
 */
#ifndef KV_INTERNAL_H
#define KV_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "kvstore.h"

#define KV_PAGE 4096u
#define KV_SEG_SHIFT 21
#define KV_SEG_SIZE (UINT64_C(1) << KV_SEG_SHIFT)	/* 2 MiB */
#define KV_SEG_PAGES (KV_SEG_SIZE / KV_PAGE)		/* 512 */
#define KV_SEG_ORDER 9					/* log2(512) */
#define KV_SUPER_SIZE KV_PAGE
/* Slots only compaction may fill, so that it can always make room. */
#define KV_RESERVE_SLOTS 2

/* ---- errors (kvstore.c) --------------------------------------------------- */

/* Record @fmt as the calling thread's message; returns @err. */
int kv_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The same, with libdax's own message (dax_errormsg()) appended. */
int kv_fail_dax(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- records (log.c) ---------------------------------------------------------- */

#define KV_REC_MAGIC 0x3152564bu	/* "KVR1" */

enum kv_rec_type {
	KV_REC_PUT = 1,		/* key and value */
	KV_REC_DEL = 2,		/* key only: a tombstone */
	KV_REC_PAD = 3,		/* the rest of the segment is unused */
};

/*
 * A record: this header, the key, the value, then zeroes up to a multiple
 * of 8 bytes.  @crc is the CRC-32C of the header (with @crc 0), the key
 * and the value, so a record torn by a crash, or a page read after it was
 * punched (zeroes), never passes for a valid one.  Records never cross a
 * segment boundary.
 */
struct kv_rec {
	uint32_t magic;
	uint8_t type;
	uint8_t unused;
	uint16_t klen;
	uint32_t vlen;
	uint32_t crc;
	uint64_t seq;		/* order of puts and deletes; copies keep it */
};

#define KV_REC_ALIGN 8u

static inline uint64_t kv_rec_size(size_t klen, size_t vlen)
{
	return (sizeof(struct kv_rec) + klen + vlen + KV_REC_ALIGN - 1) &
	       ~(uint64_t)(KV_REC_ALIGN - 1);
}

uint32_t kv_crc32c(uint32_t crc, const void *buf, size_t len);
/* The CRC a record with this header, key and value must carry. */
uint32_t kv_rec_crc(const struct kv_rec *hdr, const void *key,
		    const void *value);

/* ---- the log (log.c) ------------------------------------------------------------ */

/* The superblock, as stored at region offset 0 (copy A) and 4096 (B). */
struct kv_super {
	char magic[8];		/* "KVSTORE" */
	uint32_t version;
	uint32_t crc;		/* CRC-32C of the structure with crc = 0 */
	uint64_t generation;	/* the copy with the larger one wins */
	uint64_t region_size;
	uint64_t slot0;		/* region offset of slot 0 */
	uint64_t nr_slots;
	uint64_t first;		/* log offset of the oldest live segment */
	uint64_t tail;		/* committed end of the log */
	uint64_t seq;		/* the next record's sequence number */
};

struct kv_log {
	struct dax_region *region;
	struct dax_mapping *mapping;
	char *base;			/* the region's memory */
	uint64_t slot0_page;		/* region page of slot 0 */
	uint64_t nr_slots;
	/* The blocks reserved from the allocator: superblock + slots. */
	uint64_t blocks[64];
	unsigned orders[64];
	unsigned nr_blocks;
	/* Segments at or past this were started by this process: their
	 * blocks hold nothing of value, so iomap_begin calls them new and
	 * the fault path zeroes them. */
	uint64_t fresh_from;

	/* Read lock-free by iomap_begin, written under @lock. */
	_Atomic uint64_t first_seg;	/* oldest live segment */
	_Atomic uint64_t head_seg;	/* the segment appends go to */
	/* Slots of segments below this are free: punched, or never mapped
	 * in this process. */
	_Atomic uint64_t punched_to;

	pthread_mutex_t lock;		/* appends: @tail and @seq */
	pthread_cond_t space;		/* signalled when slots come free */
	uint64_t tail;			/* the written end */
	uint64_t seq;			/* the next sequence number */

	pthread_mutex_t commit_lock;	/* commits, superblock writes */
	_Atomic uint64_t committed;	/* the durable end */
	uint64_t generation;

	_Atomic uint64_t nr_commits, nr_writebacks, bytes_committed;
};

/* Called by log_scan() for each record; a non-zero return stops it. */
typedef int (*kv_scan_fn)(void *priv, uint64_t off, const struct kv_rec *rec,
			  const void *key, const void *value);

int log_open(struct kv_log *log, struct dax_region *region, bool fresh,
	     unsigned heap_pct, bool *formatted);
int log_close(struct kv_log *log);
int log_append(struct kv_log *log, enum kv_rec_type type, const void *key,
	       size_t klen, const void *value, size_t vlen, uint64_t seq,
	       bool reserve, uint64_t *off);
int log_copy_out(struct kv_log *log, uint64_t off, void *dst, size_t len);
int log_scan(struct kv_log *log, uint64_t from, uint64_t to, kv_scan_fn fn,
	     void *priv);
int log_iomap_begin(struct dax_mapping *mapping, void *priv, uint64_t index,
		    unsigned order, unsigned flags, struct dax_iomap *iomap);
int log_commit(struct kv_log *log, bool force);
int log_retire(struct kv_log *log, uint64_t new_first_seg);
uint64_t log_free_slots(struct kv_log *log);

/* ---- the index (index.c) ----------------------------------------------------------- */

/* Where the current record of a key is. */
struct kv_item {
	struct kv_item *next;
	uint64_t off;		/* log offset of the record */
	uint32_t vlen;
	uint16_t klen;
	uint64_t hash;
	unsigned char key[];
};

struct kv_index {
	struct dax_heap *heap;
	uint64_t bucket_mask;		/* nr_buckets - 1 */
	uint64_t lock_mask;		/* nr_locks - 1 */
	struct kv_item **buckets;	/* in the heap */
	pthread_mutex_t *locks;		/* in the heap: bucket i uses
					   locks[i & lock_mask] */
	_Atomic uint64_t nr_keys;
};

int index_init(struct kv_index *ix, struct dax_heap *heap, unsigned hint);
void index_destroy(struct kv_index *ix);
uint64_t index_hash(const void *key, size_t klen);
void index_lock(struct kv_index *ix, uint64_t hash);
void index_unlock(struct kv_index *ix, uint64_t hash);
struct kv_item *index_find_locked(struct kv_index *ix, uint64_t hash,
				  const void *key, size_t klen);
struct kv_item *index_new_item(struct kv_index *ix, uint64_t hash,
			       const void *key, size_t klen);
void index_insert_locked(struct kv_index *ix, struct kv_item *item);
void index_remove_locked(struct kv_index *ix, struct kv_item *item);
void index_free_item(struct kv_index *ix, struct kv_item *item);
int index_for_each(struct kv_index *ix, kv_key_fn fn, void *priv);

/* ---- the store (kvstore.c) ------------------------------------------------------------ */

struct kv_store {
	struct kv_log log;	/* first: the mapping's priv */
	struct kv_index ix;
	struct dax_region *region;
	struct dax_heap *heap;
	int commit_ms, compact_pct;
	bool sync;

	pthread_mutex_t compact_lock;
	pthread_mutex_t lease_lock;
	struct dax_lease *backup_lease;	/* under lease_lock */
	_Atomic bool backup_broken;

	pthread_t commit_thread, compact_thread;
	bool have_commit_thread, have_compact_thread;
	pthread_mutex_t bg_lock;
	pthread_cond_t bg_cond;
	bool stopping;			/* under bg_lock */

	_Atomic uint64_t readers_pinned;	/* pins held right now */
	_Atomic uint64_t puts, deletes, gets, get_misses, get_retries, pins,
		pins_at_punch, compactions, segments_punched,
		records_copied, bytes_copied, leases_taken, leases_broken,
		backups, backup_restarts, backup_bytes;
	uint64_t recovered_records, recovered_keys;
};

/* backup.c */
int kv_lease_break(struct dax_mapping *mapping, void *priv,
		   struct dax_lease *lease, uint64_t start, uint64_t last);

#endif /* KV_INTERNAL_H */
