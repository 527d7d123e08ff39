// SPDX-License-Identifier: MIT
/*
 * blockcache engine: hot 4 KiB blocks of a file, in DAX memory.
 *
 * The shape
 * ---------
 * A region holds two things.  The cache's metadata -- the slot table, the
 * hash index, its lock shards and the borrow handles -- lives in a dax_heap:
 * ordinary malloc-style objects that happen to sit in region memory, gone
 * when the cache is.  The cached bytes live in a dax_mapping of nr_slots
 * pages: slot i is page index i.  Every slot is faulted in for write once,
 * at bc_create() (2 MiB entries when the region is aligned to 2 MiB, so a
 * 64 MiB cache is 32 entries), and its address is kept in the slot table:
 * the cache never truncates or punches its mapping, so the pointers stay
 * valid for the cache's life.  The point of the mapping is not to find
 * memory but to NAME it: pins and leases are taken on page ranges of a
 * mapping, so making slots pages lets readers pin a slot and borrowers
 * lease one, and lets an eviction wait for both with one call,
 * dax_break_layouts(slot, slot).
 *
 * A slot's life
 * -------------
 * Each slot has a state word, (block << 2) | kind:
 *
 *   FREE     on the free list, in no hash chain;
 *   FILLING  in the chain of its block, owned by the thread reading the
 *            block from the file into it;
 *   VALID    in its chain, readable by anyone, evictable by anyone;
 *   BUSY     owned by one thread that is writing the block (still in its
 *            chain, so that lookups of the block wait) or evicting it
 *            (already out of its chain, so that lookups miss).
 *
 * Only the owner of a FILLING or BUSY slot changes its state or its bytes.
 * VALID -> BUSY happens under the shard lock of the block, so two threads
 * never claim one slot.  Lookups that find FILLING or BUSY wait on the
 * shard's condition variable, which the owner broadcasts when it is done.
 *
 * The reader's protocol (bc_read)
 * -------------------------------
 *   1. under the shard lock, find the block's slot; it is VALID;
 *   2. drop the lock, pin the slot (dax_pin_range(slot, slot));
 *   3. read the state word again: still VALID for this block?  Then copy
 *      the bytes out, unpin.  Otherwise unpin and start over.
 *
 * The evictor's (and writer's) protocol
 * -------------------------------------
 *   1. under the shard lock, claim the VALID slot: state BUSY (an evictor
 *      also unlinks it from its chain);
 *   2. drop the lock and call dax_break_layouts(slot, slot);
 *   3. now nobody reads the slot: change its bytes, then publish.
 *
 * Why this is enough: dax_break_layouts() waits for every pin of the
 * mapping counted before it began, and a pin that comes later waits for it
 * to end.  A reader whose pin was counted before is waited for, so it
 * finishes its copy (of the old, intact bytes) before step 3.  A reader
 * whose pin came later is held until the break is over, and then step 3
 * of its protocol reads the state word the claimer stored BEFORE the
 * break began: BUSY, or a newer state; it never copies bytes being
 * changed.  Pinning before looking again is the whole trick: look, pin,
 * look again -- the order of the kernel's lockless get_user_pages against
 * a concurrent unmap (read the PTE, take a reference, read the PTE again).
 * Readers never hold a pin while waiting for anything, and the claimer
 * holds no lock while it drains, so the drain cannot deadlock.
 *
 * Borrowers (bc_borrow)
 * ---------------------
 * A borrow is a long-lived pointer into a slot, for a caller that wants the
 * bytes without copying them (to send them on a socket, to parse them in
 * place).  A pin would be wrong for it: every eviction drains every pin of
 * the mapping, so one slow borrower would stall the whole cache.  A
 * borrower takes a breakable lease on its slot instead (dax_lease_take),
 * then checks the state word as a reader does.  dax_break_layouts() breaks
 * the leases overlapping the slot: the mapping's lease_break op (below)
 * bumps the slot's break epoch, which bc_borrow_break_requested() compares
 * with the epoch the borrower saw; a cooperative borrower returns the block
 * and the break proceeds at once.  An uncooperative one is given the
 * mapping's break time (dax_mapping_set_layout_times, set from break_ms),
 * then its lease is revoked, the break goes on, and the slot is reused under
 * its pointer.  It finds out through dax_lease_is_revoked(), which it must
 * check after using the bytes (bc_borrow_revoked).  This is the contract of
 * the kernel's layout leases for RDMA: the holder is told, then cut off.
 *
 * Eviction
 * --------
 * CLOCK over the slots: a hit sets the slot's reference bit, the hand
 * clears it, and a VALID slot whose bit is clear is the victim.  Borrowed
 * slots are passed over for two full turns of the hand (a break costs their
 * borrowers a return, or the evictor a break time), then taken anyway.
 * The hand is one atomic counter; the index is split into shards, each a
 * mutex and a condition variable, so hits on different shards never touch
 * the same lock.
 *
 * Every eviction and every write is a layout change of the one mapping, and
 * libdax runs those one at a time per mapping, each waiting for every pin of
 * the mapping (like the kernel, it does not guess which pages a pin
 * covers).  Readers hold a pin for one memcpy, so a break normally waits
 * microseconds; but a borrower that ignores a break holds up every eviction
 * for the break time, which is why break_ms is short and CLOCK passes over
 * borrowed slots.  A cache whose evictions must proceed in parallel would
 * spread its slots over several mappings.
 *
 * What is not here
 * ----------------
 * Write-back (dirty slots flushed on eviction) would keep a dirty bit per
 * slot and write the victim before step 3; write-through keeps the file the
 * truth at every moment and this example short.  Fills use pread(2); the
 * libaio path of libdax (dax_aio_read) could fill a slot without the copy
 * through the page cache, with an O_DIRECT file.  Memory failure
 * (notify_failure) is not handled: a cache would drop the slot and reread
 * the block.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* pread, PTHREAD_MUTEX_ADAPTIVE_NP */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libdax.h>

#include "blockcache.h"

enum slot_kind { S_FREE = 0, S_FILLING = 1, S_VALID = 2, S_BUSY = 3 };

#define ST(block, kind) ((uint64_t)(block) << 2 | (kind))
#define ST_BLOCK(v) ((v) >> 2)
#define ST_KIND(v) ((unsigned)((v) & 3))
#define NIL UINT32_MAX
#define MAX_SLOTS (UINT64_C(1) << 31)
#define MAX_BLOCK (UINT64_C(1) << 61)	/* the state word keeps 62 bits */

/*
 * Marks the two windows of the reader's protocol: between the lookup and
 * the pin, and between the check and the copy.  Empty here;
 * tests/blockcache.c defines it to sleep now and then, so that a mistake
 * in the protocol (no check after the pin, no pin, no break before reuse)
 * lets a reader copy a slot being refilled often enough to be caught.
 */
#ifndef BC_RACE_WINDOW
#define BC_RACE_WINDOW() do { } while (0)
#endif

#define DEFAULT_SHARDS 64
#define MAX_SHARDS 4096
#define DEFAULT_BREAK_MS 100
/* CLOCK passes over borrowed slots for this many turns of the hand. */
#define BORROWED_TURNS 2

struct bc_slot {
	_Atomic uint64_t state;		/* ST(block, kind) */
	_Atomic uint32_t break_epoch;	/* bumped by lease_break */
	_Atomic uint32_t nr_borrows;	/* borrows taken on this slot */
	_Atomic bool ref;		/* CLOCK's reference bit */
	bool needs_break;		/* free, but pins may remain (owner) */
	uint32_t hnext;			/* next in the chain (shard lock) */
	char *addr;			/* the 4 KiB in the mapping */
};

/* One lock of the index; the counters are written under it. */
struct bc_shard {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* a fill or a write of it ended */
	uint64_t hits, waits;
} __attribute__((aligned(64)));

struct bc_borrow {
	struct bc_cache *cache;
	struct dax_lease *lease;
	const char *data;
	uint64_t block;
	uint32_t slot;
	uint32_t epoch;			/* the slot's break epoch, at borrow */
};

struct bc_cache {
	struct dax_region *region;
	struct dax_heap *heap;
	struct dax_mapping *mapping;
	int fd;
	bool writable;
	uint64_t nr_blocks, file_size;
	uint32_t nr_slots, nr_buckets;
	unsigned nr_shards, bucket_shift;
	int drain_timeout_ms;		/* for dax_break_layouts, -1: none */

	/* in the heap */
	struct bc_slot *slots;
	uint32_t *buckets;		/* first slot of each chain, or NIL */
	struct bc_shard *shards;
	uint32_t *free_stack;

	pthread_mutex_t free_lock;	/* free_stack, nr_free */
	uint32_t nr_free;
	_Atomic uint64_t hand;

	_Atomic uint64_t misses, retries, evictions, invalidations, writes,
		borrows, borrows_out, borrowed_skips, leases_broken,
		leases_revoked;
};

/* ---- errors ------------------------------------------------------------- */

static __thread char bc_msg[512];

const char *bc_errormsg(void)
{
	return bc_msg;
}

__attribute__((format(printf, 2, 3)))
static int bc_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(bc_msg, sizeof(bc_msg), fmt, ap);
	va_end(ap);
	return err;
}

/* A libdax call failed: keep its explanation, with what we were doing. */
static int dax_failed(int err, const char *what, uint64_t arg)
{
	return bc_fail(err, "%s %" PRIu64 ": %s", what, arg, dax_errormsg());
}

/* ---- the index ---------------------------------------------------------- */

static uint32_t bucket_of(const struct bc_cache *c, uint64_t block)
{
	return (uint32_t)((block * UINT64_C(0x9e3779b97f4a7c15)) >>
			  c->bucket_shift);
}

static struct bc_shard *shard_of(struct bc_cache *c, uint32_t bucket)
{
	return &c->shards[bucket & (c->nr_shards - 1)];
}

/* Under the shard lock: the slot holding @block in its chain, or NIL. */
static uint32_t chain_find(struct bc_cache *c, uint32_t bucket,
			   uint64_t block, uint64_t *state)
{
	for (uint32_t s = c->buckets[bucket]; s != NIL;
	     s = c->slots[s].hnext) {
		uint64_t v = atomic_load(&c->slots[s].state);

		if (ST_BLOCK(v) == block && ST_KIND(v) != S_FREE) {
			*state = v;
			return s;
		}
	}
	return NIL;
}

/* Under the shard lock. */
static void chain_link(struct bc_cache *c, uint32_t bucket, uint32_t s)
{
	c->slots[s].hnext = c->buckets[bucket];
	c->buckets[bucket] = s;
}

/* Under the shard lock. */
static void chain_unlink(struct bc_cache *c, uint32_t bucket, uint32_t s)
{
	for (uint32_t *pp = &c->buckets[bucket]; *pp != NIL;
	     pp = &c->slots[*pp].hnext) {
		if (*pp == s) {
			*pp = c->slots[s].hnext;
			c->slots[s].hnext = NIL;
			return;
		}
	}
}

/* Wake the lookups of @block waiting for its fill or write to end. */
static void shard_wake(struct bc_cache *c, uint64_t block)
{
	struct bc_shard *sh = shard_of(c, bucket_of(c, block));

	pthread_mutex_lock(&sh->lock);
	pthread_cond_broadcast(&sh->cond);
	pthread_mutex_unlock(&sh->lock);
}

/* The owner of slot @s makes it VALID for @block, readable by all. */
static void slot_publish(struct bc_cache *c, uint32_t s, uint64_t block)
{
	atomic_store_explicit(&c->slots[s].state, ST(block, S_VALID),
			      memory_order_release);
	atomic_store_explicit(&c->slots[s].ref, true, memory_order_relaxed);
	shard_wake(c, block);
}

/* ---- slots: the free list, break, eviction ------------------------------ */

static void free_push(struct bc_cache *c, uint32_t s, bool needs_break)
{
	atomic_store(&c->slots[s].state, ST(0, S_FREE));
	c->slots[s].needs_break = needs_break;
	pthread_mutex_lock(&c->free_lock);
	c->free_stack[c->nr_free++] = s;
	pthread_mutex_unlock(&c->free_lock);
}

/*
 * Step 2 of the claimer's protocol: the slot is ours (BUSY, or FREE and
 * off the free list); wait until nobody reads or borrows it.
 */
static int slot_break(struct bc_cache *c, uint32_t s)
{
	int ret = dax_break_layouts(c->mapping, s, s, c->drain_timeout_ms);

	return ret ? dax_failed(ret, "dax_break_layouts of slot", s) : 0;
}

/*
 * Evict one block: CLOCK.  Returns the victim's slot, owned by the caller,
 * out of every chain, drained.
 */
static int evict_one(struct bc_cache *c, uint32_t *slot)
{
	uint64_t limit = (uint64_t)c->nr_slots * BORROWED_TURNS;

	for (uint64_t scanned = 0;; scanned++) {
		uint32_t s = (uint32_t)(atomic_fetch_add_explicit(
				&c->hand, 1, memory_order_relaxed) %
					c->nr_slots);
		struct bc_slot *sl = &c->slots[s];
		uint64_t v = atomic_load(&sl->state);
		struct bc_shard *sh;
		uint32_t bucket;
		int ret;

		/* All slots being filled or written: let their owners run. */
		if (scanned && scanned % (4 * (uint64_t)c->nr_slots) == 0)
			sched_yield();
		if (ST_KIND(v) != S_VALID)
			continue;
		if (atomic_exchange_explicit(&sl->ref, false,
					     memory_order_relaxed))
			continue;
		if (atomic_load(&sl->nr_borrows) && scanned < limit) {
			atomic_fetch_add(&c->borrowed_skips, 1);
			continue;
		}
		bucket = bucket_of(c, ST_BLOCK(v));
		sh = shard_of(c, bucket);
		pthread_mutex_lock(&sh->lock);
		if (atomic_load(&sl->state) != v) {
			pthread_mutex_unlock(&sh->lock);
			continue;
		}
		chain_unlink(c, bucket, s);
		atomic_store(&sl->state, ST(ST_BLOCK(v), S_BUSY));
		pthread_mutex_unlock(&sh->lock);

		ret = slot_break(c, s);
		if (ret) {
			/* Out of the index, but a reader or borrower may
			 * still be in it: the next user breaks it again. */
			free_push(c, s, true);
			return ret;
		}
		atomic_fetch_add(&c->evictions, 1);
		*slot = s;
		return 0;
	}
}

/* A slot for a new block: a free one, or an evicted one. */
static int slot_get(struct bc_cache *c, uint32_t *slot)
{
	uint32_t s = NIL;
	int ret;

	pthread_mutex_lock(&c->free_lock);
	if (c->nr_free)
		s = c->free_stack[--c->nr_free];
	pthread_mutex_unlock(&c->free_lock);
	if (s == NIL)
		return evict_one(c, slot);
	if (c->slots[s].needs_break) {
		ret = slot_break(c, s);
		if (ret) {
			free_push(c, s, true);
			return ret;
		}
		c->slots[s].needs_break = false;
	}
	*slot = s;
	return 0;
}

/* pread the whole block into @dst; past the end of the file is zeroes. */
static int read_block(struct bc_cache *c, uint64_t block, char *dst)
{
	size_t done = 0, want = BC_BLOCK_SIZE;
	uint64_t off = block * BC_BLOCK_SIZE;

	if (off + want > c->file_size)
		want = (size_t)(c->file_size - off);
	while (done < want) {
		ssize_t n = pread(c->fd, dst + done, want - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return bc_fail(-errno, "pread of block %" PRIu64
				       ": %s", block, strerror(errno));
		if (n == 0)
			break;	/* the file shrank under us: zeroes */
		done += (size_t)n;
	}
	memset(dst + done, 0, BC_BLOCK_SIZE - done);
	return 0;
}

/*
 * A miss: claim a slot, link it as @kind (FILLING or BUSY) for @block, and
 * read the block into it.  Returns 0 with the slot owned by the caller;
 * 1 when another thread inserted the block meanwhile (look again).
 */
static int fill(struct bc_cache *c, uint64_t block, enum slot_kind kind,
		uint32_t *slot)
{
	uint32_t bucket = bucket_of(c, block), s;
	struct bc_shard *sh = shard_of(c, bucket);
	uint64_t v;
	int ret;

	ret = slot_get(c, &s);
	if (ret)
		return ret;
	pthread_mutex_lock(&sh->lock);
	if (chain_find(c, bucket, block, &v) != NIL) {
		pthread_mutex_unlock(&sh->lock);
		free_push(c, s, false);	/* drained already */
		return 1;
	}
	atomic_store(&c->slots[s].state, ST(block, kind));
	chain_link(c, bucket, s);
	pthread_mutex_unlock(&sh->lock);

	ret = read_block(c, block, c->slots[s].addr);
	if (ret) {
		pthread_mutex_lock(&sh->lock);
		chain_unlink(c, bucket, s);
		pthread_cond_broadcast(&sh->cond);
		pthread_mutex_unlock(&sh->lock);
		free_push(c, s, false);
		return ret;
	}
	atomic_fetch_add(&c->misses, 1);
	*slot = s;
	return 0;
}

/* ---- lookups ------------------------------------------------------------ */

enum lookup_result { FOUND, MISSING };

/*
 * Step 1 of the reader's protocol: wait out fills and writes of @block,
 * then say whether it is cached, and in which slot.  With @claim, a VALID
 * slot is claimed for a write (BUSY, left in its chain) instead.
 */
static enum lookup_result lookup(struct bc_cache *c, uint64_t block,
				 bool claim, uint32_t *slot)
{
	uint32_t bucket = bucket_of(c, block), s;
	struct bc_shard *sh = shard_of(c, bucket);
	uint64_t v;

	pthread_mutex_lock(&sh->lock);
	for (;;) {
		s = chain_find(c, bucket, block, &v);
		if (s == NIL || ST_KIND(v) == S_VALID)
			break;
		sh->waits++;
		pthread_cond_wait(&sh->cond, &sh->lock);
	}
	if (s != NIL && claim)
		atomic_store(&c->slots[s].state, ST(block, S_BUSY));
	else if (s != NIL)
		sh->hits++;
	pthread_mutex_unlock(&sh->lock);
	*slot = s;
	return s == NIL ? MISSING : FOUND;
}

static int check_block(const struct bc_cache *c, const char *fn,
		       uint64_t block, size_t offset, const void *buf,
		       size_t len)
{
	if (!c)
		return bc_fail(-EINVAL, "%s: cache is NULL", fn);
	if (!buf && len)
		return bc_fail(-EINVAL, "%s: buf is NULL", fn);
	if (offset > BC_BLOCK_SIZE || len > BC_BLOCK_SIZE - offset)
		return bc_fail(-EINVAL, "%s: offset %zu + length %zu is past "
			       "the end of a %u-byte block", fn, offset, len,
			       BC_BLOCK_SIZE);
	if (block >= c->nr_blocks)
		return bc_fail(-ENXIO, "%s: block %" PRIu64 " is past the end "
			       "of the file (%" PRIu64 " blocks)", fn, block,
			       c->nr_blocks);
	return 0;
}

int bc_read(struct bc_cache *c, uint64_t block, size_t offset, void *buf,
	    size_t len)
{
	struct dax_pin *pin;
	uint32_t s;
	int ret;

	ret = check_block(c, "bc_read", block, offset, buf, len);
	if (ret)
		return ret;
	for (;;) {
		if (lookup(c, block, false, &s) == MISSING) {
			ret = fill(c, block, S_FILLING, &s);
			if (ret == 1)
				continue;
			if (ret)
				return ret;
			/* Ours until published: no pin needed. */
			memcpy(buf, c->slots[s].addr + offset, len);
			slot_publish(c, s, block);
			return 0;
		}
		atomic_store_explicit(&c->slots[s].ref, true,
				      memory_order_relaxed);
		BC_RACE_WINDOW();
		ret = dax_pin_range(c->mapping, s, s, 0, &pin);
		if (ret)
			return dax_failed(ret, "dax_pin_range of slot", s);
		if (atomic_load_explicit(&c->slots[s].state,
					 memory_order_acquire) ==
		    ST(block, S_VALID)) {
			BC_RACE_WINDOW();
			memcpy(buf, c->slots[s].addr + offset, len);
			dax_unpin(&pin);
			return 0;
		}
		dax_unpin(&pin);
		atomic_fetch_add(&c->retries, 1);
	}
}

/* ---- writes ------------------------------------------------------------- */

static int write_file(struct bc_cache *c, uint64_t block, size_t offset,
		      const void *buf, size_t len)
{
	uint64_t off = block * BC_BLOCK_SIZE + offset;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(c->fd, (const char *)buf + done, len - done,
				   (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return bc_fail(n < 0 ? -errno : -EIO,
				       "pwrite of block %" PRIu64 ": %s", block,
				       n < 0 ? strerror(errno) :
				       "wrote nothing");
		done += (size_t)n;
	}
	return 0;
}

int bc_write(struct bc_cache *c, uint64_t block, size_t offset,
	     const void *buf, size_t len)
{
	uint32_t s, bucket;
	struct bc_shard *sh;
	int ret;

	ret = check_block(c, "bc_write", block, offset, buf, len);
	if (ret)
		return ret;
	if (!c->writable)
		return bc_fail(-EBADF, "bc_write: the backing file was opened "
			       "read-only");
	bucket = bucket_of(c, block);
	sh = shard_of(c, bucket);
	for (;;) {
		if (lookup(c, block, true, &s) == FOUND) {
			/* BUSY in its chain: lookups wait; drain readers. */
			ret = slot_break(c, s);
			if (ret) {
				slot_publish(c, s, block);
				return ret;
			}
			break;
		}
		/* Write-allocate: read the rest of the block in first. */
		ret = fill(c, block, S_BUSY, &s);
		if (ret == 0)
			break;
		if (ret < 0)
			return ret;
	}

	ret = write_file(c, block, offset, buf, len);
	if (ret) {
		/* The file may hold part of the write: forget the copy. */
		pthread_mutex_lock(&sh->lock);
		chain_unlink(c, bucket, s);
		pthread_cond_broadcast(&sh->cond);
		pthread_mutex_unlock(&sh->lock);
		free_push(c, s, false);
		return ret;
	}
	memcpy(c->slots[s].addr + offset, buf, len);
	slot_publish(c, s, block);
	atomic_fetch_add(&c->writes, 1);
	return 0;
}

int bc_invalidate(struct bc_cache *c, uint64_t block)
{
	uint32_t s, bucket;
	struct bc_shard *sh;
	int ret;

	ret = check_block(c, "bc_invalidate", block, 0, NULL, 0);
	if (ret)
		return ret;
	if (lookup(c, block, true, &s) == MISSING)
		return bc_fail(-ENOENT, "bc_invalidate: block %" PRIu64
			       " is not cached", block);
	bucket = bucket_of(c, block);
	sh = shard_of(c, bucket);
	pthread_mutex_lock(&sh->lock);
	chain_unlink(c, bucket, s);
	pthread_cond_broadcast(&sh->cond);	/* waiters now miss */
	pthread_mutex_unlock(&sh->lock);
	ret = slot_break(c, s);
	free_push(c, s, ret != 0);
	if (!ret)
		atomic_fetch_add(&c->invalidations, 1);
	return ret;
}

int bc_sync(struct bc_cache *c)
{
	if (!c)
		return bc_fail(-EINVAL, "bc_sync: cache is NULL");
	if (fdatasync(c->fd))
		return bc_fail(-errno, "fdatasync: %s", strerror(errno));
	return 0;
}

/* ---- borrows ------------------------------------------------------------ */

/*
 * The mapping's lease_break op, called by dax_break_layouts() (in the
 * evicting or writing thread, with no lock of ours held) once per lease it
 * breaks.  Every borrow of a slot in the range is asked to go: the range is
 * always exactly one slot, and every borrow of a slot leases all of it.
 * It must not block: an atomic add is all.
 */
static int bc_lease_break(struct dax_mapping *m, void *priv,
			  struct dax_lease *lease, uint64_t start,
			  uint64_t last)
{
	struct bc_cache *c = priv;

	(void)m;
	(void)lease;
	for (uint64_t s = start; s <= last && s < c->nr_slots; s++)
		atomic_fetch_add(&c->slots[s].break_epoch, 1);
	atomic_fetch_add(&c->leases_broken, 1);
	return 0;
}

static const struct dax_mapping_ops bc_ops = {
	.lease_break = bc_lease_break,
};

int bc_borrow(struct bc_cache *c, uint64_t block, struct bc_borrow **borrow)
{
	struct dax_lease *lease;
	struct bc_borrow *b;
	uint32_t s, epoch;
	bool owned;
	int ret;

	if (!borrow)
		return bc_fail(-EINVAL, "bc_borrow: borrow is NULL");
	*borrow = NULL;
	ret = check_block(c, "bc_borrow", block, 0, NULL, 0);
	if (ret)
		return ret;
	b = dax_heap_malloc(c->heap, sizeof(*b));
	if (!b)
		return bc_fail(-ENOMEM, "bc_borrow: %s", dax_errormsg());
	for (;;) {
		owned = lookup(c, block, false, &s) == MISSING;
		if (owned) {
			ret = fill(c, block, S_FILLING, &s);
			if (ret == 1)
				continue;
			if (ret)
				break;
		}
		/*
		 * The epoch before the lease: a break that reaches our lease
		 * comes after it, so it cannot be missed (an earlier break
		 * of other leases only makes us return early).
		 */
		epoch = atomic_load(&c->slots[s].break_epoch);
		ret = dax_lease_take(c->mapping, s, s, 0, &lease);
		if (ret) {
			ret = dax_failed(ret, "dax_lease_take of slot", s);
			if (owned) {
				/* Ours, read in: leave it cached. */
				slot_publish(c, s, block);
			}
			break;
		}
		if (owned)
			slot_publish(c, s, block);
		else
			atomic_store_explicit(&c->slots[s].ref, true,
					      memory_order_relaxed);
		/* Count the borrow before the check, so CLOCK sees it. */
		atomic_fetch_add(&c->slots[s].nr_borrows, 1);
		if (atomic_load_explicit(&c->slots[s].state,
					 memory_order_acquire) ==
		    ST(block, S_VALID)) {
			*b = (struct bc_borrow){ .cache = c, .lease = lease,
						 .data = c->slots[s].addr,
						 .block = block, .slot = s,
						 .epoch = epoch };
			atomic_fetch_add(&c->borrows, 1);
			atomic_fetch_add(&c->borrows_out, 1);
			*borrow = b;
			return 0;
		}
		atomic_fetch_sub(&c->slots[s].nr_borrows, 1);
		dax_lease_release(&lease);
		atomic_fetch_add(&c->retries, 1);
	}
	dax_heap_free(c->heap, b);
	return ret;
}

const void *bc_borrow_data(const struct bc_borrow *b)
{
	return b ? b->data : NULL;
}

uint64_t bc_borrow_get_block(const struct bc_borrow *b)
{
	return b ? b->block : 0;
}

bool bc_borrow_break_requested(const struct bc_borrow *b)
{
	return !b || atomic_load(&b->cache->slots[b->slot].break_epoch) !=
			     b->epoch;
}

bool bc_borrow_revoked(const struct bc_borrow *b)
{
	/* The caller's reads of the data come before the answer:
	 * dax_lease_is_revoked() orders memory like a lock (its man page). */
	return !b || dax_lease_is_revoked(b->lease);
}

int bc_return(struct bc_borrow **borrow)
{
	struct bc_borrow *b;
	struct bc_cache *c;

	if (!borrow || !*borrow)
		return 0;
	b = *borrow;
	*borrow = NULL;
	c = b->cache;
	if (dax_lease_is_revoked(b->lease))
		atomic_fetch_add(&c->leases_revoked, 1);
	atomic_fetch_sub(&c->slots[b->slot].nr_borrows, 1);
	dax_lease_release(&b->lease);
	atomic_fetch_sub(&c->borrows_out, 1);
	dax_heap_free(c->heap, b);
	return 0;
}

/* ---- making and destroying ---------------------------------------------- */

/*
 * Fault every slot in for write, 2 MiB entries where they fit; with the slot
 * table made, record each slot's address (a second call is answered from
 * the entries present, without locking or allocating).
 */
static int slots_fault(struct bc_cache *c)
{
	uint64_t i = 0;

	while (i < c->nr_slots) {
		struct dax_fault_ext ext;
		int ret = dax_fault(c->mapping, i,
				    DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M, &ext);

		if (ret)
			return dax_failed(ret, "dax_fault of slot", i);
		for (uint64_t j = ext.first;
		     c->slots && j < ext.first + (UINT64_C(1) << ext.order) &&
		     j < c->nr_slots; j++)
			c->slots[j].addr = (char *)ext.entry_addr +
					   (j - ext.first) * BC_BLOCK_SIZE;
		i = ext.first + (UINT64_C(1) << ext.order);
	}
	return 0;
}

static int check_config(const struct bc_config *cfg)
{
	if (cfg->nr_slots < 1 || cfg->nr_slots > MAX_SLOTS)
		return bc_fail(-EINVAL, "bc_create: nr_slots %" PRIu64
			       " is not in 1..%" PRIu64, cfg->nr_slots,
			       MAX_SLOTS);
	if (cfg->nr_shards > MAX_SHARDS ||
	    (cfg->nr_shards & (cfg->nr_shards - 1)))
		return bc_fail(-EINVAL, "bc_create: nr_shards %u is not a "
			       "power of two up to %u", cfg->nr_shards,
			       MAX_SHARDS);
	if (cfg->break_ms < 0 || cfg->drain_timeout_ms < 0)
		return bc_fail(-EINVAL, "bc_create: negative %s",
			       cfg->break_ms < 0 ? "break_ms" :
			       "drain_timeout_ms");
	return 0;
}

static int check_file(int fd, struct stat *st, bool *writable)
{
	int fl;

	if (fd < 0 || fstat(fd, st))
		return bc_fail(fd < 0 ? -EINVAL : -errno, "bc_create: fd %d "
			       "is not an open file", fd);
	if (!S_ISREG(st->st_mode))
		return bc_fail(-EINVAL, "bc_create: fd %d is not a regular "
			       "file", fd);
	if (st->st_size == 0)
		return bc_fail(-EINVAL, "bc_create: the backing file is "
			       "empty");
	fl = fcntl(fd, F_GETFL);
	if ((fl & O_ACCMODE) == O_WRONLY)
		return bc_fail(-EBADF, "bc_create: fd %d is open for writing "
			       "only", fd);
	*writable = (fl & O_ACCMODE) == O_RDWR;
	return 0;
}

uint64_t bc_region_bytes(uint64_t nr_slots)
{
	uint64_t meta, total;

	if (nr_slots < 1 || nr_slots > MAX_SLOTS)
		return 0;
	/* slot table, free stack, buckets (up to 2 per slot), shards */
	meta = nr_slots * (sizeof(struct bc_slot) + sizeof(uint32_t)) +
	       2 * nr_slots * sizeof(uint32_t) +
	       MAX_SHARDS * sizeof(struct bc_shard);
	/*
	 * Twice that: jemalloc rounds large objects up to its size classes
	 * and grows its extents geometrically, keeping what it does not
	 * use; its first extents and the thread caches take a few MiB.
	 */
	total = nr_slots * BC_BLOCK_SIZE + 2 * meta + (8u << 20);
	return (total + (2u << 20) - 1) & ~(uint64_t)((2u << 20) - 1);
}

/* The region must hold the slots and the metadata. */
static int check_room(struct dax_region *r, uint64_t nr_slots)
{
	struct dax_alloc_stats st;
	uint64_t need = bc_region_bytes(nr_slots);
	int ret = dax_alloc_get_stats(r, &st);

	if (ret)
		return dax_failed(ret, "dax_alloc_get_stats, slots", nr_slots);
	if (st.free_pages * 4096 < need)
		return bc_fail(-ENOSPC, "bc_create: %" PRIu64 " slots need "
			       "about %" PRIu64 " KiB of the region, which has "
			       "%" PRIu64 " KiB free", nr_slots, need >> 10,
			       st.free_pages * 4);
	return 0;
}

static void cache_free(struct bc_cache *c)
{
	if (c->shards)
		for (unsigned i = 0; i < c->nr_shards; i++) {
			pthread_mutex_destroy(&c->shards[i].lock);
			pthread_cond_destroy(&c->shards[i].cond);
		}
	if (c->mapping)
		dax_mapping_put(&c->mapping);	/* gives the slots back */
	if (c->heap)
		dax_heap_destroy(&c->heap);	/* and every metadata object */
	pthread_mutex_destroy(&c->free_lock);
	free(c);
}

int bc_create(struct dax_region *region, int fd, const struct bc_config *cfg,
	      struct bc_cache **cache)
{
	pthread_mutexattr_t ma;
	struct bc_cache *c;
	struct stat st;
	bool writable = false;
	int ret;

	if (!cache)
		return bc_fail(-EINVAL, "bc_create: cache is NULL");
	*cache = NULL;
	if (!region || !cfg)
		return bc_fail(-EINVAL, "bc_create: %s is NULL",
			       !region ? "region" : "cfg");
	ret = check_config(cfg);
	if (!ret)
		ret = check_file(fd, &st, &writable);
	if (!ret)
		ret = check_room(region, cfg->nr_slots);
	if (ret)
		return ret;
	if ((uint64_t)st.st_size / BC_BLOCK_SIZE >= MAX_BLOCK)
		return bc_fail(-EFBIG, "bc_create: the file is too large");

	c = calloc(1, sizeof(*c));
	if (!c)
		return bc_fail(-ENOMEM, "bc_create: out of memory");
	pthread_mutex_init(&c->free_lock, NULL);
	c->region = region;
	c->fd = fd;
	c->writable = writable;
	c->file_size = (uint64_t)st.st_size;
	c->nr_blocks = (c->file_size + BC_BLOCK_SIZE - 1) / BC_BLOCK_SIZE;
	c->nr_slots = (uint32_t)cfg->nr_slots;
	c->nr_shards = cfg->nr_shards ? cfg->nr_shards : DEFAULT_SHARDS;
	c->drain_timeout_ms = cfg->drain_timeout_ms ? cfg->drain_timeout_ms
						    : -1;
	/*
	 * Buckets: a power of two, at least one per slot and per shard, and
	 * at least two (a shift by 64 would be undefined).
	 */
	c->nr_buckets = c->nr_shards < 2 ? 2 : c->nr_shards;
	while (c->nr_buckets < c->nr_slots)
		c->nr_buckets <<= 1;
	c->bucket_shift = 64 - (unsigned)__builtin_ctz(c->nr_buckets);

	ret = dax_mapping_new(region, &bc_ops, c,
			      (uint64_t)c->nr_slots * BC_BLOCK_SIZE,
			      &c->mapping);
	if (ret) {
		ret = dax_failed(ret, "dax_mapping_new, slots", c->nr_slots);
		goto fail;
	}
	ret = dax_mapping_set_layout_times(c->mapping,
					   cfg->break_ms ? cfg->break_ms :
					   DEFAULT_BREAK_MS, -1);
	if (ret) {
		ret = dax_failed(ret, "dax_mapping_set_layout_times, break_ms",
				 (uint64_t)cfg->break_ms);
		goto fail;
	}
	/* The slots first, while the region is in one piece: 2 MiB entries. */
	ret = slots_fault(c);
	if (ret)
		goto fail;

	ret = dax_heap_create(region, NULL, &c->heap);
	if (ret) {
		ret = dax_failed(ret, "dax_heap_create, slots", cfg->nr_slots);
		goto fail;
	}
	c->slots = dax_heap_calloc(c->heap, c->nr_slots, sizeof(*c->slots));
	c->buckets = dax_heap_malloc(c->heap,
				     c->nr_buckets * sizeof(*c->buckets));
	c->shards = dax_heap_aligned_alloc(c->heap, 64, c->nr_shards *
					   sizeof(*c->shards));
	c->free_stack = dax_heap_malloc(c->heap,
					c->nr_slots * sizeof(*c->free_stack));
	if (!c->slots || !c->buckets || !c->shards || !c->free_stack) {
		ret = bc_fail(-ENOMEM, "bc_create: metadata heap: %s",
			      dax_errormsg());
		c->shards = NULL;	/* not initialised yet */
		goto fail;
	}
	memset(c->buckets, 0xff, c->nr_buckets * sizeof(*c->buckets));
	pthread_mutexattr_init(&ma);
	/* Short critical sections: spin a little before sleeping. */
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
	for (unsigned i = 0; i < c->nr_shards; i++) {
		memset(&c->shards[i], 0, sizeof(c->shards[i]));
		pthread_mutex_init(&c->shards[i].lock, &ma);
		pthread_cond_init(&c->shards[i].cond, NULL);
	}
	pthread_mutexattr_destroy(&ma);
	for (uint32_t i = 0; i < c->nr_slots; i++) {
		c->slots[i].hnext = NIL;
		/* Slot 0 on top of the stack: fills go in index order. */
		c->free_stack[i] = c->nr_slots - 1 - i;
	}
	c->nr_free = c->nr_slots;

	ret = slots_fault(c);	/* now with c->slots: their addresses */
	if (ret)
		goto fail;
	*cache = c;
	return 0;
fail:
	cache_free(c);
	return ret;
}

int bc_destroy(struct bc_cache **cache)
{
	struct bc_cache *c;
	uint64_t out;

	if (!cache || !*cache)
		return bc_fail(-EINVAL, "bc_destroy: cache is NULL");
	c = *cache;
	out = atomic_load(&c->borrows_out);
	if (out)
		return bc_fail(-EBUSY, "bc_destroy: %" PRIu64 " borrow(s) "
			       "still out", out);
	cache_free(c);
	*cache = NULL;
	return 0;
}

/* ---- getters ------------------------------------------------------------ */

uint64_t bc_get_nr_blocks(const struct bc_cache *c)
{
	return c ? c->nr_blocks : 0;
}

int bc_get_stats(struct bc_cache *c, struct bc_stats *st)
{
	struct dax_fault_stats fs;
	struct dax_heap_stats hs;
	int ret;

	if (!c || !st)
		return bc_fail(-EINVAL, "bc_get_stats: %s is NULL",
			       !c ? "cache" : "stats");
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < c->nr_shards; i++) {
		pthread_mutex_lock(&c->shards[i].lock);
		st->hits += c->shards[i].hits;
		st->waits += c->shards[i].waits;
		pthread_mutex_unlock(&c->shards[i].lock);
	}
	st->misses = atomic_load(&c->misses);
	st->retries = atomic_load(&c->retries);
	st->evictions = atomic_load(&c->evictions);
	st->invalidations = atomic_load(&c->invalidations);
	st->writes = atomic_load(&c->writes);
	st->borrows = atomic_load(&c->borrows);
	st->borrows_out = atomic_load(&c->borrows_out);
	st->borrowed_skips = atomic_load(&c->borrowed_skips);
	st->leases_broken = atomic_load(&c->leases_broken);
	st->leases_revoked = atomic_load(&c->leases_revoked);
	ret = dax_heap_get_stats(c->heap, &hs);
	if (ret)
		return dax_failed(ret, "dax_heap_get_stats, slots",
				  c->nr_slots);
	st->heap_bytes = hs.region_bytes;
	ret = dax_fault_get_stats(c->mapping, &fs);
	if (ret)
		return dax_failed(ret, "dax_fault_get_stats, slots",
				  c->nr_slots);
	st->slot_entries_4k = fs.faults[0];
	st->slot_entries_2m = fs.faults[1];
	return 0;
}
