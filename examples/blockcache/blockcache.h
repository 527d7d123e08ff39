/* SPDX-License-Identifier: MIT */
/*
 * blockcache: a cache of 4 KiB blocks of a backing file, kept in DAX memory.
 *
 * This is the second example engine of libdax, of another shape than the
 * key-value store: nothing in it is persistent.  The backing file is the
 * truth; the cache keeps copies of its hot blocks in a region (device-DAX,
 * persistent memory used as a cheap second tier of RAM, or a memfd standing
 * in for it), the way memkind lets a program put caches in PMEM.
 *
 * What it shows of the library (the essay at the top of cache.c explains
 * each choice):
 *
 *   - a dax_heap for the cache's metadata (slot table, hash index, lock
 *     shards, borrow handles): volatile objects in region memory;
 *   - a dax_mapping whose page indices are the cache's slots: slot i is page
 *     i of the mapping, faulted in once (2 MiB entries where the region
 *     allows), so that pins and leases can name a slot by its index;
 *   - short reads copy a block out under a pin (dax_pin_range), which an
 *     eviction drains before it reuses the slot;
 *   - long-lived "zero-copy" borrows hold a breakable lease (dax_lease_take):
 *     evicting or writing a borrowed block breaks the lease (the mapping's
 *     lease_break op tells the borrower), and a borrower that does not give
 *     the block back within the break time has its lease revoked
 *     (dax_lease_is_revoked) and must throw away what it read;
 *   - eviction by CLOCK with sharded index locks, and dax_break_layouts()
 *     on the victim's slot before it is filled again;
 *   - write-through: bc_write() writes the file first, then the cached copy.
 *
 * Build (from the libdax tree): make B=build build/examples/blockcache; by hand
 *   cc -pthread cache.c main.c $(pkg-config --cflags --libs libdax)
 *
 * Every function returns 0 or a negative errno unless it says otherwise;
 * bc_errormsg() explains the calling thread's last failure.  All functions
 * are safe to call from any number of threads at once on one cache, except
 * bc_create() and bc_destroy().
 */
#ifndef BLOCKCACHE_H
#define BLOCKCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libdax.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The unit of caching: a block of the file, and a slot of the cache. */
#define BC_BLOCK_SIZE 4096u

struct bc_cache;
struct bc_borrow;

/*
 * How to make a cache.  Zero in any field but nr_slots means its default.
 *
 * nr_slots: how many blocks the cache holds (at least 1, at most 2^31).
 *	The region must have bc_region_bytes(nr_slots) free: the slots, 4 KiB
 *	each, and the metadata (about 60 bytes per slot, and a few MiB).
 * nr_shards: how many locks the hash index is split over, a power of two
 *	up to 4096 (default 64).  Lookups of blocks in different shards never
 *	contend.
 * break_ms: how long a borrower is given to return a block that an
 *	eviction or a write needs, before its lease is revoked (default 100;
 *	libdax's own default, 45 s, suits RDMA registrations, not a cache).
 * drain_timeout_ms: how long an eviction or a write waits in all for
 *	borrowers and for readers in the middle of a copy (default 0: as long
 *	as it takes; borrowers are revoked after break_ms anyway, and readers
 *	hold their pins for one memcpy).  When it runs out the call fails
 *	with -ETIMEDOUT.
 */
struct bc_config {
	uint64_t nr_slots;
	unsigned nr_shards;
	int break_ms;
	int drain_timeout_ms;
};

/*
 * Counters since bc_create().  Each is read atomically; the set is not a
 * snapshot of one instant.
 */
struct bc_stats {
	uint64_t hits;		/* lookups that found the block cached */
	uint64_t misses;	/* blocks read from the file into a slot */
	uint64_t waits;		/* lookups that waited for a fill or write */
	uint64_t retries;	/* found a slot, lost it before pinning it */
	uint64_t evictions;	/* cached blocks pushed out for others */
	uint64_t invalidations;	/* blocks dropped by bc_invalidate() */
	uint64_t writes;	/* bc_write() calls that succeeded */
	uint64_t borrows;	/* bc_borrow() calls that succeeded */
	uint64_t borrows_out;	/* borrows not yet returned */
	uint64_t borrowed_skips; /* CLOCK passed over a borrowed slot */
	uint64_t leases_broken;	/* lease_break calls: borrowers asked to go */
	uint64_t leases_revoked; /* borrows returned after their revocation */
	uint64_t heap_bytes;	/* region memory held by the metadata heap */
	uint64_t slot_entries_2m; /* mapping entries holding the slots, 2 MiB */
	uint64_t slot_entries_4k; /* ... and 4 KiB */
};

/*
 * bc_create() - make a cache of the blocks of file @fd in @region
 * @region: an open region; the cache takes its memory from the region's
 *	allocator and must be destroyed before the region is closed
 * @fd: the backing file, a regular file opened O_RDONLY or O_RDWR (only
 *	the latter allows bc_write()).  It is not closed by bc_destroy().
 *	Its size is read once: a block past the end at bc_create() time does
 *	not exist for the cache, and the last block, if partial, reads as
 *	zeroes past the end of the file.
 * @cfg: the configuration (copied)
 * @cache: receives the cache
 *
 * Context: any thread.
 * Return: 0; -EINVAL (a NULL argument, a bad field of @cfg, an fd that is
 * not an open regular file, an empty file); -EBADF (@fd not open for
 * reading); -ENOSPC (the region lacks room for the slots and metadata);
 * -ENOMEM; or the error of the libdax call that failed.  On failure
 * nothing is left allocated in the region.
 */
int bc_create(struct dax_region *region, int fd, const struct bc_config *cfg,
	      struct bc_cache **cache);

/*
 * bc_destroy() - free the cache and give its region memory back
 * @cache: the cache; set to NULL
 *
 * Context: no other thread may use the cache during or after the call.
 * Return: 0; -EINVAL (NULL); -EBUSY (borrows are still out: return them
 * first; nothing was freed).
 */
int bc_destroy(struct bc_cache **cache);

/*
 * bc_read() - copy bytes of one block out of the cache
 * @cache: the cache
 * @block: the block number (file offset / 4096)
 * @offset: where in the block to start, 0..4095
 * @buf: where to copy to
 * @len: how many bytes, with @offset + @len at most 4096 (0 is allowed)
 *
 * A cached block is copied out under a pin of its slot, so that no
 * eviction or write can reuse the slot during the copy; a missing block is
 * read from the file into a slot first (evicting another block if the
 * cache is full).  What bc_read() returns is always what the file held at
 * some moment during the call (or what a bc_write() that finished before
 * the call wrote).
 *
 * Context: any thread; may sleep (file I/O, an eviction).  The caller must
 * hold no pin of the cache's slots (there is no API that gives one out).
 * Return: 0; -EINVAL; -ENXIO (@block is past the end of the file); -EIO and
 * other errors of pread(2); an error of an eviction (see bc_invalidate()).
 */
int bc_read(struct bc_cache *cache, uint64_t block, size_t offset, void *buf,
	    size_t len);

/*
 * bc_write() - write bytes of one block, through the cache to the file
 * @cache: the cache
 * @block: the block number
 * @offset: where in the block to start
 * @buf: the bytes
 * @len: how many, with @offset + @len at most 4096
 *
 * Write-through: the block is taken out of readers' reach (a missing block
 * is read in first), its borrowers' leases are broken and the copies in
 * progress drained, the bytes go to the file with pwrite(2), then into the
 * cached copy, and the block is readable again.  Lookups of the block wait
 * meanwhile.  If pwrite(2) fails or writes less, the cached copy is
 * dropped, so that the next read sees whatever the file now holds.  Writes
 * of one block are serialized.  bc_sync() makes them durable.
 *
 * A thread must not write a block it has borrowed: the write would wait
 * break_ms for the borrow to come back, then revoke it.
 *
 * Context: any thread; sleeps.
 * Return: 0; -EINVAL; -ENXIO; -EBADF (the file is read-only); errors of
 * pread(2)/pwrite(2); -ETIMEDOUT (drain_timeout_ms ran out; nothing was
 * written).
 */
int bc_write(struct bc_cache *cache, uint64_t block, size_t offset,
	     const void *buf, size_t len);

/*
 * bc_invalidate() - drop a block from the cache now
 * @cache: the cache
 * @block: the block number
 *
 * The same as an eviction of that block: borrowers are asked to return it
 * (their leases broken, and revoked after break_ms), copies in progress
 * are waited for, and the slot is freed.
 *
 * Context: any thread; sleeps.  Not while holding a borrow of @block.
 * Return: 0; -EINVAL; -ENXIO; -ENOENT (the block was not cached);
 * -ETIMEDOUT (drain_timeout_ms ran out: the block is no longer cached, but
 * its slot stays out of use until a later eviction drains it).
 */
int bc_invalidate(struct bc_cache *cache, uint64_t block);

/* bc_sync() - fdatasync(2) the backing file.  Return: 0 or its error. */
int bc_sync(struct bc_cache *cache);

/*
 * bc_borrow() - a direct, read-only pointer to a cached block
 * @cache: the cache
 * @block: the block number
 * @borrow: receives the handle
 *
 * A zero-copy read: bc_borrow_data() points at the block's slot in DAX
 * memory.  The borrow holds a breakable lease on the slot, not a pin, so it
 * does not stop the cache from working: when an eviction or a bc_write()
 * needs the slot, the lease is broken, bc_borrow_break_requested() turns
 * true, and the borrower should finish with the bytes and bc_return()
 * soon.  If it has not returned the block within break_ms, its lease is
 * revoked and the slot is reused: the bytes under the pointer may then
 * change at any time (the memory stays mapped, so reading it never
 * faults).
 *
 * So a borrower uses the bytes, THEN checks bc_borrow_revoked(): when that
 * says false, everything read before the check was the block's content;
 * when it says true, what was read must be thrown away.
 *
 * Context: any thread; may sleep like bc_read().  A thread holding a
 * borrow must not bc_write() or bc_invalidate() the same block.
 * Return: 0; the errors of bc_read(); -ENOMEM.
 */
int bc_borrow(struct bc_cache *cache, uint64_t block,
	      struct bc_borrow **borrow);

/* The block's 4096 bytes (valid as bc_borrow() explains). */
const void *bc_borrow_data(const struct bc_borrow *borrow);

/* The block number borrowed. */
uint64_t bc_borrow_get_block(const struct bc_borrow *borrow);

/* Has the cache asked for the block back?  Lock-free; any thread. */
bool bc_borrow_break_requested(const struct bc_borrow *borrow);

/*
 * Was the borrow's lease revoked (the slot possibly reused)?  Wraps
 * dax_lease_is_revoked(); orders the caller's earlier reads of the data
 * before the check.
 */
bool bc_borrow_revoked(const struct bc_borrow *borrow);

/*
 * bc_return() - give a borrowed block back
 * @borrow: the handle; set to NULL (NULL or *@borrow NULL does nothing)
 *
 * Context: any thread, not necessarily the one that borrowed.
 * Return: 0.
 */
int bc_return(struct bc_borrow **borrow);

/*
 * bc_region_bytes() - how much region memory a cache of @nr_slots needs
 *
 * The slots (4 KiB each) and the metadata heap, with room for jemalloc's
 * rounding and first extents: what bc_create() checks the region has
 * free, and what an emulated region for the cache alone should hold.
 *
 * Return: a multiple of 2 MiB; 0 when @nr_slots is not in 1..2^31.
 */
uint64_t bc_region_bytes(uint64_t nr_slots);

/* Number of blocks of the backing file (as seen by bc_create()). */
uint64_t bc_get_nr_blocks(const struct bc_cache *cache);

/* Fill @stats.  Return: 0; -EINVAL. */
int bc_get_stats(struct bc_cache *cache, struct bc_stats *stats);

/* The calling thread's last failure, in words ("" if none yet). */
const char *bc_errormsg(void);

#ifdef __cplusplus
}
#endif

#endif /* BLOCKCACHE_H */
