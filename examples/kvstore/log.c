// SPDX-License-Identifier: MIT
/*
 * log.c: the on-region append log of the kvstore example.
 *
 * The log is a dax_mapping (see dax_mapping_new(3)): a file-like object of
 * 4 KiB pages whose blocks the engine chooses itself in its iomap_begin
 * callback, as a file system maps file offsets to disk blocks.  Log byte
 * offset L is page L / 4096 of the mapping, in segment L / 2 MiB, stored in
 * slot (L / 2 MiB) % nr_slots of the region.  Because that placement is a
 * pure function of the offset, nothing but the superblock has to be
 * persistent for the log to be found again after a restart: a new process
 * makes a new mapping with the same iomap_begin, and the same offsets lead
 * to the same bytes.
 *
 * Writing.  An append holds @lock, writes its record through a pointer
 * from dax_fault(DAX_FAULT_WRITE) and faults for write once more after the
 * stores.  The pointer came without the entry lock, so a commit's
 * writeback may flush the entry before the stores land, then clear its
 * dirty mark: the next commit would skip those stores.  dax_writeback(3)
 * holds the entry lock from before its flush to after it clears the mark,
 * so the second fault either finds the entry dirty and unlocked (no
 * writeback has flushed it since the stores, which are done: the next one
 * covers them) or waits for that lock and marks the entry dirty again.
 * When the entry is dirty and unlocked it costs a tree lookup.  (Holding
 * the entry lock across the stores, DAX_FAULT_LOCK, works too, but would
 * make every reader of the segment wait for the writer.)
 *
 * Committing.  log_commit() takes the written end under @lock (every
 * record below it is whole: appends store under the same lock), calls
 * dax_writeback(3) on the pages from the last commit to it, and then
 * writes the superblock with the new tail to the copy (A or B) the last
 * commit did not use, and persists it.  A crash before the superblock is
 * durable leaves the previous commit in force; the records past its tail
 * are ignored at the next open, even when some of them reached the media.
 *
 * Retiring.  Compaction (kvstore.c) moves the live records of the oldest
 * segments to the head, commits, and calls log_retire(): first_seg moves
 * past the old segments (from then on iomap_begin calls them holes), the
 * superblock records it, and dax_punch_hole(3) removes their entries,
 * which waits for every reader pin to drain.  Only then do the slots come
 * free for new segments.  A reader that looked a key up before the move
 * either pinned the range first (the punch waits for it: it copies valid
 * bytes) or faults after the punch and reads zeroes, which fail its
 * record checks, so it looks the key up again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv_internal.h"

#define SUPER_MAGIC "KVSTORE"
#define SUPER_VERSION 1

/* ---- CRC-32C (Castagnoli), one table lookup per byte --------------------------- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t kv_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

uint32_t kv_rec_crc(const struct kv_rec *hdr, const void *key,
		    const void *value)
{
	struct kv_rec h = *hdr;
	uint32_t crc;

	h.crc = 0;
	crc = kv_crc32c(0, &h, sizeof(h));
	crc = kv_crc32c(crc, key, hdr->klen);
	return kv_crc32c(crc, value, hdr->vlen);
}

/* ---- placement: the engine's iomap_begin ------------------------------------------ */

/*
 * Map page @index of the log.  Called by the fault path with the entry of
 * @index locked.  Segments outside [first_seg, head_seg] are holes: old
 * ones were retired (their slot may hold a newer segment already), new
 * ones are not started.  A write there would be a bug of the engine.
 */
int log_iomap_begin(struct dax_mapping *mapping, void *priv,
		    uint64_t index, unsigned order, unsigned flags,
		    struct dax_iomap *iomap)
{
	struct kv_log *log = priv;
	uint64_t seg = index / KV_SEG_PAGES;
	uint64_t first = atomic_load(&log->first_seg);
	uint64_t head = atomic_load(&log->head_seg);

	(void)mapping;
	if (order > KV_SEG_ORDER)
		order = KV_SEG_ORDER;
	iomap->order = order;
	iomap->first = index & ~((UINT64_C(1) << order) - 1);
	iomap->flags = 0;
	iomap->priv = NULL;
	if (seg < first || seg > head) {
		if (flags & DAX_IOMAP_WRITE)
			return kv_fail(-EIO, "write fault in log segment %"
				       PRIu64 " outside the live log (%" PRIu64
				       "..%" PRIu64 ")", seg, first, head);
		iomap->type = DAX_IOMAP_HOLE;
		iomap->pfn = 0;
		return 0;
	}
	iomap->type = DAX_IOMAP_MAPPED;
	iomap->pfn = log->slot0_page + (seg % log->nr_slots) * KV_SEG_PAGES +
		     iomap->first % KV_SEG_PAGES;
	if ((flags & DAX_IOMAP_WRITE) && seg >= log->fresh_from)
		iomap->flags = DAX_IOMAP_F_NEW;
	return 0;
}

/* ---- copying through dax_fault ---------------------------------------------------- */

/*
 * Copy @len bytes at log offset @off out of the log.  One fault per entry
 * (one per segment with 2 MiB entries, one per page where the region
 * only has 4 KiB ones).  The caller keeps the range from being punched
 * meanwhile: a pin (readers), or being the only thread that punches
 * (compaction, recovery).
 */
int log_copy_out(struct kv_log *log, uint64_t off, void *dst, size_t len)
{
	char *to = dst;

	while (len) {
		struct dax_fault_ext ext;
		uint64_t end;
		size_t n;
		int ret;

		ret = dax_fault(log->mapping, off / KV_PAGE, DAX_FAULT_SIZE_2M,
				&ext);
		if (ret)
			return kv_fail_dax(ret, "read fault at log offset %"
					   PRIu64, off);
		end = (ext.first + (UINT64_C(1) << ext.order)) * KV_PAGE;
		n = end - off < len ? end - off : len;
		memcpy(to, (char *)ext.addr + off % KV_PAGE, n);
		to += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* The same, the other way; the entries end up dirty.  @lock held. */
static int log_copy_in(struct kv_log *log, uint64_t off, const void *src,
		       size_t len)
{
	const char *from = src;
	const unsigned flags = DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M;

	while (len) {
		struct dax_fault_ext ext;
		uint64_t end;
		size_t n;
		int ret;

		ret = dax_fault(log->mapping, off / KV_PAGE, flags, &ext);
		if (ret)
			return kv_fail_dax(ret, "write fault at log offset %"
					   PRIu64, off);
		end = (ext.first + (UINT64_C(1) << ext.order)) * KV_PAGE;
		n = end - off < len ? end - off : len;
		memcpy((char *)ext.addr + off % KV_PAGE, from, n);
		/* Dirty again in case a writeback cleaned it under us. */
		ret = dax_fault(log->mapping, off / KV_PAGE, flags, &ext);
		if (ret)
			return kv_fail_dax(ret, "write fault at log offset %"
					   PRIu64, off);
		from += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* ---- appending -------------------------------------------------------------------------- */

uint64_t log_free_slots(struct kv_log *log)
{
	uint64_t limit = atomic_load(&log->punched_to) + log->nr_slots;
	uint64_t head = atomic_load(&log->head_seg);

	return limit > head + 1 ? limit - head - 1 : 0;
}

/*
 * Move the head to the next segment, closing the current one with a pad
 * record when one fits.  Normal appends leave KV_RESERVE_SLOTS slots to
 * compaction (@reserve), which needs room to copy into before it frees
 * anything.  @lock held.
 */
static int log_next_segment(struct kv_log *log, bool reserve)
{
	uint64_t head = atomic_load(&log->head_seg);
	uint64_t limit = atomic_load(&log->punched_to) + log->nr_slots;
	uint64_t room = (head + 1) * KV_SEG_SIZE - log->tail;
	int ret;

	if (!reserve)
		limit -= KV_RESERVE_SLOTS;
	if (head + 1 >= limit)
		return kv_fail(-ENOSPC, "the log is full: %" PRIu64 " of %"
			       PRIu64 " segments hold live data; compact it",
			       head + 1 - atomic_load(&log->first_seg),
			       log->nr_slots);
	if (room >= sizeof(struct kv_rec)) {
		struct kv_rec pad = { .magic = KV_REC_MAGIC,
				      .type = KV_REC_PAD };

		pad.crc = kv_rec_crc(&pad, NULL, NULL);
		ret = log_copy_in(log, log->tail, &pad, sizeof(pad));
		if (ret)
			return ret;
	}
	atomic_store(&log->head_seg, head + 1);
	log->tail = (head + 1) * KV_SEG_SIZE;
	return 0;
}

/*
 * Append a record and store its log offset in *@off.  @seq 0 means a new
 * record (the next sequence number); compaction passes the sequence
 * number of the record it copies.  On failure nothing was appended.
 */
int log_append(struct kv_log *log, enum kv_rec_type type, const void *key,
	       size_t klen, const void *value, size_t vlen, uint64_t seq,
	       bool reserve, uint64_t *off)
{
	uint64_t size = kv_rec_size(klen, vlen);
	struct kv_rec hdr = {
		.magic = KV_REC_MAGIC, .type = (uint8_t)type,
		.klen = (uint16_t)klen, .vlen = (uint32_t)vlen,
	};
	int ret;

	pthread_mutex_lock(&log->lock);
	if (log->tail + size > (atomic_load(&log->head_seg) + 1) * KV_SEG_SIZE) {
		ret = log_next_segment(log, reserve);
		if (ret)
			goto out;
	}
	hdr.seq = seq ? seq : log->seq++;
	hdr.crc = kv_rec_crc(&hdr, key, value);
	/* Header last would not help: a crash may persist any subset of the
	 * lines anyway.  The commit's tail and the CRC are what count. */
	ret = log_copy_in(log, log->tail + sizeof(hdr), key, klen);
	if (!ret)
		ret = log_copy_in(log, log->tail + sizeof(hdr) + klen, value,
				  vlen);
	if (!ret)
		ret = log_copy_in(log, log->tail, &hdr, sizeof(hdr));
	if (ret)
		goto out;
	*off = log->tail;
	log->tail += size;
out:
	pthread_mutex_unlock(&log->lock);
	return ret;
}

/* ---- scanning ------------------------------------------------------------------------------ */

/*
 * Call @fn for each record from log offset @from to @to.  Pointers passed
 * to @fn point into the region and are valid during the call.  Every
 * record below the committed tail, and every record of a closed segment,
 * was written whole, so one that fails its checks is corruption: -EIO.
 * The caller keeps [@from, @to) from being punched.
 */
int log_scan(struct kv_log *log, uint64_t from, uint64_t to, kv_scan_fn fn,
	     void *priv)
{
	uint64_t off = from;

	while (off < to) {
		uint64_t room = KV_SEG_SIZE - off % KV_SEG_SIZE;
		struct dax_fault_ext ext;
		const struct kv_rec *rec;
		const char *p;
		uint64_t size;
		int ret;

		if (room < sizeof(*rec)) {
			off += room;
			continue;
		}
		/* A whole segment is one 2 MiB entry where the region allows
		 * it; otherwise a record may span 4 KiB entries, whose
		 * blocks are still adjacent in the slot. */
		ret = dax_fault(log->mapping, off / KV_PAGE, DAX_FAULT_SIZE_2M,
				&ext);
		if (ret)
			return kv_fail_dax(ret, "read fault at log offset %"
					   PRIu64, off);
		p = (const char *)ext.addr + off % KV_PAGE;
		rec = (const struct kv_rec *)p;
		if (rec->magic != KV_REC_MAGIC ||
		    rec->type < KV_REC_PUT || rec->type > KV_REC_PAD ||
		    kv_rec_size(rec->klen, rec->vlen) > room)
			return kv_fail(-EIO, "log offset %" PRIu64 ": no valid "
				       "record header (magic 0x%08x)", off,
				       rec->magic);
		if (rec->type == KV_REC_PAD) {
			off += room;
			continue;
		}
		size = kv_rec_size(rec->klen, rec->vlen);
		if (ext.order < KV_SEG_ORDER) {
			/* Touch the record's other pages so that the pointer
			 * arithmetic below stays inside faulted entries. */
			for (uint64_t pg = off / KV_PAGE + 1;
			     pg <= (off + size - 1) / KV_PAGE; pg++) {
				struct dax_fault_ext e2;

				ret = dax_fault(log->mapping, pg, 0, &e2);
				if (ret)
					return kv_fail_dax(ret, "read fault at"
							   " log page %" PRIu64,
							   pg);
			}
		}
		if (kv_rec_crc(rec, p + sizeof(*rec),
			       p + sizeof(*rec) + rec->klen) != rec->crc)
			return kv_fail(-EIO, "log offset %" PRIu64 ": record "
				       "checksum mismatch (seq %" PRIu64 ")",
				       off, rec->seq);
		ret = fn(priv, off, rec, p + sizeof(*rec),
			 p + sizeof(*rec) + rec->klen);
		if (ret)
			return ret;
		off += size;
	}
	return 0;
}

/* ---- the superblock ----------------------------------------------------------------------------- */

static uint32_t super_crc(const struct kv_super *sb)
{
	struct kv_super s = *sb;

	s.crc = 0;
	return kv_crc32c(0, &s, sizeof(s));
}

/* A superblock copy written by this engine (whatever region it fits). */
static bool super_is_store(const struct kv_super *sb)
{
	return !memcmp(sb->magic, SUPER_MAGIC, sizeof(SUPER_MAGIC)) &&
	       sb->version == SUPER_VERSION && sb->crc == super_crc(sb);
}

static bool super_valid(const struct kv_super *sb, uint64_t region_size)
{
	return super_is_store(sb) &&
	       sb->region_size == region_size && sb->nr_slots >= 4 &&
	       sb->slot0 == KV_SEG_SIZE &&
	       sb->slot0 + sb->nr_slots * KV_SEG_SIZE <= region_size &&
	       sb->first % KV_SEG_SIZE == 0 && sb->first <= sb->tail;
}

/* Write the superblock to the copy the last write did not use, durably. */
static int super_write(struct kv_log *log, uint64_t first, uint64_t tail,
		       uint64_t seq)
{
	uint64_t gen = log->generation + 1;
	uint64_t where = (gen & 1) * KV_SUPER_SIZE;
	struct kv_super sb = {
		.magic = SUPER_MAGIC, .version = SUPER_VERSION,
		.generation = gen,
		.region_size = dax_region_get_size(log->region),
		.slot0 = log->slot0_page * KV_PAGE, .nr_slots = log->nr_slots,
		.first = first, .tail = tail, .seq = seq,
	};
	int ret;

	sb.crc = super_crc(&sb);
	memcpy(log->base + where, &sb, sizeof(sb));
	ret = dax_region_persist(log->region, where, KV_SUPER_SIZE);
	if (ret)
		return kv_fail_dax(ret, "persisting the superblock");
	log->generation = gen;
	return 0;
}

/*
 * Make the log durable up to its written end.  With @force, write the
 * superblock even when the tail did not move (first_seg did).
 */
int log_commit(struct kv_log *log, bool force)
{
	uint64_t tail, seq, first, done;
	int ret = 0;

	pthread_mutex_lock(&log->lock);
	tail = log->tail;
	pthread_mutex_unlock(&log->lock);
	if (!force && tail <= atomic_load(&log->committed))
		return 0;	/* someone else's commit covered ours */

	pthread_mutex_lock(&log->commit_lock);
	done = atomic_load(&log->committed);
	if (!force && tail <= done)
		goto out;
	/* Take as much as is written now: one commit for every writer that
	 * queued behind the lock (group commit). */
	pthread_mutex_lock(&log->lock);
	tail = log->tail;
	seq = log->seq;
	first = atomic_load(&log->first_seg) * KV_SEG_SIZE;
	pthread_mutex_unlock(&log->lock);
	if (tail > done) {
		ret = dax_writeback(log->mapping, done / KV_PAGE,
				    (tail - 1) / KV_PAGE);
		if (ret) {
			ret = kv_fail_dax(ret, "dax_writeback of log pages %"
					  PRIu64 "..%" PRIu64, done / KV_PAGE,
					  (tail - 1) / KV_PAGE);
			goto out;
		}
		atomic_fetch_add(&log->nr_writebacks, 1);
	}
	ret = super_write(log, first, tail, seq);
	if (ret)
		goto out;
	atomic_fetch_add(&log->bytes_committed, tail - done);
	atomic_fetch_add(&log->nr_commits, 1);
	atomic_store(&log->committed, tail);
out:
	pthread_mutex_unlock(&log->commit_lock);
	return ret;
}

/*
 * Retire the segments below @new_first_seg, whose live records compaction
 * has copied to the head and committed.  The caller holds no pin of the
 * mapping (the punch waits for every pin).
 */
int log_retire(struct kv_log *log, uint64_t new_first_seg)
{
	uint64_t old = atomic_load(&log->first_seg);
	int ret;

	if (new_first_seg <= old)
		return 0;
	pthread_mutex_lock(&log->lock);
	atomic_store(&log->first_seg, new_first_seg);
	pthread_mutex_unlock(&log->lock);
	ret = log_commit(log, true);
	if (ret)
		return ret;
	ret = dax_punch_hole(log->mapping, old * KV_SEG_SIZE,
			     (new_first_seg - old) * KV_SEG_SIZE);
	if (ret)
		return kv_fail_dax(ret, "dax_punch_hole of log segments %"
				   PRIu64 "..%" PRIu64, old,
				   new_first_seg - 1);
	pthread_mutex_lock(&log->lock);
	atomic_store(&log->punched_to, new_first_seg);
	pthread_cond_broadcast(&log->space);
	pthread_mutex_unlock(&log->lock);
	return 0;
}

/* ---- open and close ------------------------------------------------------------------------------ */

static void log_unreserve(struct kv_log *log)
{
	while (log->nr_blocks) {
		log->nr_blocks--;
		dax_free_pages(log->region, log->blocks[log->nr_blocks],
			       log->orders[log->nr_blocks]);
	}
}

/*
 * Take the superblock's block and the slots, region pages 0 to W - 1, out
 * of the region's allocator, so that the heap never gets them.  The
 * allocator cannot be asked for a given place, but its rule is known
 * (dax_alloc_pages(3)): the lowest free block of the smallest order that
 * holds the request.  So ask for the blocks of W's binary decomposition,
 * largest first; when a request is served from a smaller free block
 * elsewhere (a 100 MiB region is tiled 64 + 32 + 4 MiB, and a 2 MiB
 * request comes out of the 4 MiB block), keep that block aside and ask
 * again, until the allocator splits the block we want.  The blocks set
 * aside are given back at the end, and we wait for their grace period
 * (see dax_free_pages(3)) so that the heap made next can use them.
 */
static int log_reserve(struct kv_log *log)
{
	uint64_t want = (1 + log->nr_slots) * KV_SEG_PAGES, at = 0, page;
	uint64_t aside[64];
	unsigned aside_order[64], nr_aside = 0;
	struct dax_alloc_stats st;
	int ret = 0;

	log->nr_blocks = 0;
	for (int order = 63; order >= 0 && !ret; order--) {
		if (!(want & (UINT64_C(1) << order)))
			continue;
		for (;;) {
			ret = dax_alloc_pages(log->region, (unsigned)order, 0,
					      &page);
			if (ret || page == at || nr_aside == 64) {
				if (!ret && page != at)
					dax_free_pages(log->region, page,
						       (unsigned)order);
				break;
			}
			aside[nr_aside] = page;
			aside_order[nr_aside++] = (unsigned)order;
		}
		if (ret || page != at) {
			ret = kv_fail(ret ? ret : -EBUSY, "cannot reserve "
				      "region pages %" PRIu64 "..%" PRIu64
				      " for the log (the region's first %"
				      PRIu64 " MiB): %s", at,
				      at + (UINT64_C(1) << order) - 1,
				      want >> 8, ret ? dax_errormsg() :
				      "they are in use");
			break;
		}
		log->blocks[log->nr_blocks] = page;
		log->orders[log->nr_blocks++] = (unsigned)order;
		at += UINT64_C(1) << order;
	}
	while (nr_aside) {
		nr_aside--;
		dax_free_pages(log->region, aside[nr_aside],
			       aside_order[nr_aside]);
	}
	if (ret) {
		log_unreserve(log);
		return ret;
	}
	/* Freed blocks come back after an RCU grace period: milliseconds. */
	for (int i = 0; i < 5000; i++) {
		if (dax_alloc_get_stats(log->region, &st) ||
		    !st.pending_pages)
			break;
		usleep(1000);
	}
	return 0;
}

/*
 * Find the store on @region (or make one: @fresh, or no valid
 * superblock) and reserve its blocks.  The mapping is made by the caller
 * (kvstore.c owns the callbacks table), then recovery scans the log.
 */
int log_open(struct kv_log *log, struct dax_region *region, bool fresh,
	     unsigned heap_pct, bool *formatted)
{
	uint64_t size = dax_region_get_size(region), head;
	struct kv_super a, b, *sb = NULL;
	int ret;

	log->region = region;
	log->base = dax_region_get_base(region);
	pthread_mutex_init(&log->lock, NULL);
	pthread_mutex_init(&log->commit_lock, NULL);
	pthread_cond_init(&log->space, NULL);
	*formatted = false;

	if (size < 8 * KV_SEG_SIZE)
		return kv_fail(-EINVAL, "region of %" PRIu64 " bytes: the "
			       "store needs at least 16 MiB", size);
	memcpy(&a, log->base, sizeof(a));
	memcpy(&b, log->base + KV_SUPER_SIZE, sizeof(b));
	if (!fresh) {
		bool va = super_valid(&a, size), vb = super_valid(&b, size);
		const struct kv_super *other = super_is_store(&a) ? &a :
					       super_is_store(&b) ? &b : NULL;

		/*
		 * A store made for a region of another size is not garbage
		 * to format over: a wrong --size must not cost the data.
		 */
		if (!va && !vb && other && other->region_size != size)
			return kv_fail(-EINVAL, "the region holds a store made "
				       "for a region of %" PRIu64 " bytes, "
				       "not %" PRIu64 ": open it with that "
				       "size, or format it (fresh)",
				       other->region_size, size);

		if (va && vb)
			sb = a.generation > b.generation ? &a : &b;
		else if (va || vb)
			sb = va ? &a : &b;
	}
	log->slot0_page = KV_SEG_PAGES;
	if (sb) {
		log->nr_slots = sb->nr_slots;
		log->generation = sb->generation;
		log->tail = sb->tail;
		log->seq = sb->seq;
		atomic_store(&log->first_seg, sb->first / KV_SEG_SIZE);
	} else {
		uint64_t heap = size / 100 * heap_pct;

		log->nr_slots = (size - KV_SEG_SIZE - heap) / KV_SEG_SIZE;
		if (log->nr_slots < 4)
			return kv_fail(-EINVAL, "region of %" PRIu64 " bytes "
				       "with %u%% for the heap leaves fewer "
				       "than 4 log segments", size, heap_pct);
		log->generation = 0;
		log->tail = 0;
		log->seq = 1;
		atomic_store(&log->first_seg, 0);
	}
	atomic_store(&log->committed, log->tail);
	/* The head is the segment of the last committed byte: a tail at
	 * the very end of a segment does not own the next one (its slot
	 * may still hold the oldest live segment). */
	head = log->tail > atomic_load(&log->first_seg) * KV_SEG_SIZE ?
	       (log->tail - 1) / KV_SEG_SIZE : log->tail / KV_SEG_SIZE;
	atomic_store(&log->head_seg, head);
	atomic_store(&log->punched_to, atomic_load(&log->first_seg));
	log->fresh_from = head + 1;

	ret = log_reserve(log);
	if (ret)
		return ret;
	if (!sb) {
		/* Both copies: a stale one must never win later. */
		memset(log->base, 0, 2 * KV_SUPER_SIZE);
		ret = super_write(log, 0, 0, 1);
		if (!ret)
			ret = super_write(log, 0, 0, 1);
		if (ret)
			return ret;
		log->fresh_from = 0;
		*formatted = true;
	}
	return 0;
}

/* The caller has put the mapping; give the blocks back. */
int log_close(struct kv_log *log)
{
	log_unreserve(log);
	pthread_cond_destroy(&log->space);
	pthread_mutex_destroy(&log->lock);
	pthread_mutex_destroy(&log->commit_lock);
	return 0;
}
