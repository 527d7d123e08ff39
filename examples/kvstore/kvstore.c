// SPDX-License-Identifier: MIT
/*
 * kvstore.c: the engine.  See kvstore.h for the layout and log.c for how
 * the log reaches the region.
 *
 * Locks, in the order they nest:
 *
 *   compact_lock     one compaction at a time (and a backup that gave up
 *                    waiting for compaction to leave it alone)
 *   a bucket lock    every change of a key: lookup, log append, index
 *                    update, so a key's records reach the log in the order
 *                    its changes happen (recovery replays them in log
 *                    order); readers hold it only to copy the location out
 *   log->lock        appends (taken inside the bucket lock)
 *   log->commit_lock commits (takes log->lock briefly to read the tail)
 *   lease_lock       the backup's lease, shared with the lease_break
 *                    callback
 *
 * libdax's own rules on top: nobody holds a pin while waiting for another
 * pin or punching (readers pin one record at a time, and the compactor
 * holds no pin); no entry lock is ever held by the engine across calls
 * (appends re-fault instead, see log.c).
 *
 * Why readers pin.  A get copies the location out of the index and lets go
 * of the bucket lock before touching the log, so that readers never wait
 * for a writer of the same bucket.  Between the two, compaction may move
 * the record and punch its old segment.  The pin closes that window: taken
 * before the fault, it is either counted by the punch, which then waits
 * for the copy to finish, or it waits for the punch, after which the
 * fault maps a hole, the record check fails, and the reader looks the key
 * up again (get_retries in the stats).  A reader never returns bytes from
 * a block that was freed or reused.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kv_internal.h"

#define DEFAULT_SIZE (UINT64_C(128) << 20)
#define DEFAULT_KEYS 65536
#define DEFAULT_HEAP_PCT 25
#define DEFAULT_COMMIT_MS 10
#define DEFAULT_COMPACT_PCT 50
/* Compaction takes at most this many segments per round. */
#define COMPACT_MAX_SEGMENTS 8

/* ---- errors ------------------------------------------------------------------------ */

static __thread char kv_msg[512];

const char *kv_errormsg(void)
{
	return kv_msg;
}

int kv_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(kv_msg, sizeof(kv_msg), fmt, ap);
	va_end(ap);
	return err;
}

int kv_fail_dax(int err, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return kv_fail(err, "%s: %s: %s", what, strerror(-err),
		       dax_errormsg());
}

static int check_key(const void *key, size_t klen)
{
	if (!key || !klen || klen > KV_MAX_KEY)
		return kv_fail(-EINVAL, "a key is 1 to %d bytes (got %zu%s)",
			       KV_MAX_KEY, klen, key ? "" : ", NULL");
	return 0;
}

/* ---- the mapping's callbacks ---------------------------------------------------- */

static const struct dax_mapping_ops kv_ops = {
	.iomap_begin = log_iomap_begin,
	.lease_break = kv_lease_break,
};

/* ---- put, delete, get ---------------------------------------------------------------- */

static int put_or_delete(struct kv_store *kv, enum kv_rec_type type,
			 const void *key, size_t klen, const void *value,
			 size_t vlen)
{
	uint64_t hash = index_hash(key, klen), off;
	struct kv_item *it, *spare = NULL;
	int ret, tries = 0;

again:
	index_lock(&kv->ix, hash);
	it = index_find_locked(&kv->ix, hash, key, klen);
	if (type == KV_REC_DEL && !it) {
		index_unlock(&kv->ix, hash);
		ret = kv_fail(-ENOENT, "no such key");
		goto out;
	}
	if (type == KV_REC_PUT && !it && !spare) {
		/* Before the append: a put that runs out of heap memory
		 * must fail before its record reaches the log. */
		spare = index_new_item(&kv->ix, hash, key, klen);
		if (!spare) {
			index_unlock(&kv->ix, hash);
			return -ENOMEM;
		}
	}
	ret = log_append(&kv->log, type, key, klen, value, vlen, 0, false,
			 &off);
	if (ret == -ENOSPC && tries++ < 4) {
		index_unlock(&kv->ix, hash);
		ret = kv_compact(kv, 0);
		if (ret && ret != -ENOSPC)
			goto out;
		goto again;
	}
	if (ret) {
		index_unlock(&kv->ix, hash);
		goto out;
	}
	if (type == KV_REC_DEL) {
		index_remove_locked(&kv->ix, it);
		index_free_item(&kv->ix, it);
	} else {
		if (!it) {
			it = spare;
			spare = NULL;
			index_insert_locked(&kv->ix, it);
		}
		it->off = off;
		it->vlen = (uint32_t)vlen;
	}
	index_unlock(&kv->ix, hash);
	atomic_fetch_add(type == KV_REC_PUT ? &kv->puts : &kv->deletes, 1);
	if (kv->sync)
		ret = kv_commit(kv);
out:
	if (spare)
		index_free_item(&kv->ix, spare);
	return ret;
}

int kv_put(struct kv_store *kv, const void *key, size_t klen,
	   const void *value, size_t vlen)
{
	int ret = check_key(key, klen);

	if (ret)
		return ret;
	if (!kv || (!value && vlen) || vlen > KV_MAX_VALUE)
		return kv_fail(-EINVAL, "a value is 0 to %d bytes (got %zu%s)",
			       KV_MAX_VALUE, vlen, kv ? "" : ", no store");
	return put_or_delete(kv, KV_REC_PUT, key, klen, value, vlen);
}

int kv_delete(struct kv_store *kv, const void *key, size_t klen)
{
	int ret = check_key(key, klen);

	if (ret)
		return ret;
	if (!kv)
		return kv_fail(-EINVAL, "no store");
	return put_or_delete(kv, KV_REC_DEL, key, klen, NULL, 0);
}

/*
 * Copy the record at @off out under a pin and check that it is the one
 * the index named.  -EAGAIN: it is not there any more (moved and punched).
 */
static int read_record(struct kv_store *kv, uint64_t off, const void *key,
		       size_t klen, void *buf, size_t vlen)
{
	struct dax_mapping *m = kv->log.mapping;
	size_t len = sizeof(struct kv_rec) + klen + vlen;
	unsigned char kbuf[KV_MAX_KEY];
	struct dax_pin *pin;
	struct kv_rec hdr;
	int ret, ret2;

	atomic_fetch_add(&kv->readers_pinned, 1);
	ret = dax_pin_range(m, off / KV_PAGE, (off + len - 1) / KV_PAGE, 0,
			    &pin);
	if (ret) {
		atomic_fetch_sub(&kv->readers_pinned, 1);
		return kv_fail_dax(ret, "dax_pin_range");
	}
	atomic_fetch_add(&kv->pins, 1);
	ret = log_copy_out(&kv->log, off, &hdr, sizeof(hdr));
	if (ret)
		goto unpin;
	if (hdr.magic != KV_REC_MAGIC || hdr.type != KV_REC_PUT ||
	    hdr.klen != klen || hdr.vlen != vlen) {
		ret = -EAGAIN;
		goto unpin;
	}
	ret = log_copy_out(&kv->log, off + sizeof(hdr), kbuf, klen);
	if (!ret)
		ret = log_copy_out(&kv->log, off + sizeof(hdr) + klen, buf,
				   vlen);
	if (ret)
		goto unpin;
	if (memcmp(kbuf, key, klen))
		ret = -EAGAIN;
	else if (kv_rec_crc(&hdr, kbuf, buf) != hdr.crc)
		ret = kv_fail(-EIO, "log offset %" PRIu64 ": the record of "
			      "this key fails its checksum", off);
unpin:
	ret2 = dax_unpin(&pin);
	atomic_fetch_sub(&kv->readers_pinned, 1);
	return ret ? ret : ret2;
}

int kv_get(struct kv_store *kv, const void *key, size_t klen, void *buf,
	   size_t buflen, size_t *vlen)
{
	uint64_t hash, off;
	struct kv_item *it;
	size_t len;
	int ret = check_key(key, klen);

	if (ret)
		return ret;
	if (!kv || !vlen || (!buf && buflen))
		return kv_fail(-EINVAL, "kv_get needs a store, a buffer and "
			       "a length pointer");
	hash = index_hash(key, klen);
	atomic_fetch_add(&kv->gets, 1);
	for (unsigned tries = 0;; tries++) {
		index_lock(&kv->ix, hash);
		it = index_find_locked(&kv->ix, hash, key, klen);
		if (it) {
			off = it->off;
			len = it->vlen;
		}
		index_unlock(&kv->ix, hash);
		if (!it) {
			atomic_fetch_add(&kv->get_misses, 1);
			return kv_fail(-ENOENT, "no such key");
		}
		*vlen = len;
		if (len > buflen)
			return kv_fail(-ENOBUFS, "the value is %zu bytes, the "
				       "buffer %zu", len, buflen);
		ret = read_record(kv, off, key, klen, buf, len);
		if (ret != -EAGAIN)
			return ret;
		atomic_fetch_add(&kv->get_retries, 1);
		if (tries > 1000)
			return kv_fail(-EIO, "key keeps moving: gave up "
				       "after %u lookups", tries);
	}
}

int kv_commit(struct kv_store *kv)
{
	if (!kv)
		return kv_fail(-EINVAL, "no store");
	return log_commit(&kv->log, false);
}

/* ---- compaction ------------------------------------------------------------------------ */

struct compact_ctx {
	struct kv_store *kv;
	uint64_t copied, bytes;
};

/* A record of a victim segment: copy it to the head if it is live. */
static int copy_live(void *priv, uint64_t off, const struct kv_rec *rec,
		     const void *key, const void *value)
{
	struct compact_ctx *c = priv;
	struct kv_store *kv = c->kv;
	uint64_t hash, new_off;
	struct kv_item *it;
	int ret = 0;

	if (rec->type != KV_REC_PUT)
		return 0;	/* a tombstone: what it deleted is older */
	hash = index_hash(key, rec->klen);
	index_lock(&kv->ix, hash);
	it = index_find_locked(&kv->ix, hash, key, rec->klen);
	if (it && it->off == off) {
		ret = log_append(&kv->log, KV_REC_PUT, key, rec->klen, value,
				 rec->vlen, rec->seq, true, &new_off);
		if (!ret) {
			it->off = new_off;
			c->copied++;
			c->bytes += kv_rec_size(rec->klen, rec->vlen);
		}
	}
	index_unlock(&kv->ix, hash);
	return ret;
}

/*
 * Compaction, the simplest cleaner of a log-structured store: the oldest
 * segments are mostly overwritten, so copy what is still live in them to
 * the head, commit (the copies are durable before anything is dropped),
 * record the new start of the log, and punch the old segments out of the
 * mapping, which waits for the readers still copying from them.
 */
int kv_compact(struct kv_store *kv, unsigned max_segments)
{
	struct compact_ctx c = { .kv = kv };
	uint64_t first, head, n, done = 0;
	int ret = 0;

	if (!kv)
		return kv_fail(-EINVAL, "no store");
	pthread_mutex_lock(&kv->compact_lock);
	first = atomic_load(&kv->log.first_seg);
	head = atomic_load(&kv->log.head_seg);
	n = head - first;	/* closed segments: never the head */
	if (!max_segments)
		max_segments = COMPACT_MAX_SEGMENTS;
	if (n > max_segments)
		n = max_segments;
	if (!n)
		goto out;
	/*
	 * Tell the long-lived users of the victims (a backup's lease) to let
	 * go now rather than at the punch: they would spend the whole round
	 * copying records it is about to drop.  This also waits for the
	 * readers pinned at this moment, which costs them nothing.
	 */
	atomic_fetch_add(&kv->pins_at_punch,
			 atomic_load(&kv->readers_pinned));
	ret = dax_break_layouts(kv->log.mapping, first * KV_SEG_PAGES,
				(first + n) * KV_SEG_PAGES - 1, 10000);
	if (ret) {
		ret = kv_fail_dax(ret, "dax_break_layouts of log segments %"
				  PRIu64 "..%" PRIu64, first, first + n - 1);
		goto out;
	}
	for (; done < n; done++) {
		ret = log_scan(&kv->log, (first + done) * KV_SEG_SIZE,
			       (first + done + 1) * KV_SEG_SIZE, copy_live, &c);
		if (ret)
			break;	/* e.g. -ENOSPC: retire what was done */
	}
	if (!done)
		goto out;
	ret = log_commit(&kv->log, false);
	if (ret)
		goto out;
	atomic_fetch_add(&kv->pins_at_punch,
			 atomic_load(&kv->readers_pinned));
	ret = log_retire(&kv->log, first + done);
	if (ret)
		goto out;
	atomic_fetch_add(&kv->compactions, 1);
	atomic_fetch_add(&kv->segments_punched, done);
	atomic_fetch_add(&kv->records_copied, c.copied);
	atomic_fetch_add(&kv->bytes_copied, c.bytes);
out:
	pthread_mutex_unlock(&kv->compact_lock);
	return ret;
}

/* ---- background threads: group commit and compaction -------------------------------- */

/* Sleep @ms unless the store is closing; true when it is. */
static bool bg_sleep(struct kv_store *kv, int ms)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_mutex_lock(&kv->bg_lock);
	if (!kv->stopping)
		pthread_cond_timedwait(&kv->bg_cond, &kv->bg_lock, &ts);
	stop = kv->stopping;
	pthread_mutex_unlock(&kv->bg_lock);
	return stop;
}

/* Group commit: one writeback and superblock write for all recent puts. */
static void *commit_thread(void *arg)
{
	struct kv_store *kv = arg;

	while (!bg_sleep(kv, kv->commit_ms))
		if (log_commit(&kv->log, false))
			fprintf(stderr, "kvstore: commit: %s\n", kv_errormsg());
	return NULL;
}

static void *compact_thread(void *arg)
{
	struct kv_store *kv = arg;

	while (!bg_sleep(kv, 5)) {
		uint64_t used = kv->log.nr_slots - log_free_slots(&kv->log);
		int ret;

		if (used * 100 < (uint64_t)kv->compact_pct * kv->log.nr_slots)
			continue;
		ret = kv_compact(kv, 0);
		if (ret && ret != -ENOSPC)
			fprintf(stderr, "kvstore: compact: %s\n",
				kv_errormsg());
	}
	return NULL;
}

/* ---- open and close ---------------------------------------------------------------------- */

struct recover_ctx {
	struct kv_store *kv;
	uint64_t records, max_seq;
};

/* Replay one committed record into the index. */
static int recover_one(void *priv, uint64_t off, const struct kv_rec *rec,
		       const void *key, const void *value)
{
	struct recover_ctx *r = priv;
	struct kv_index *ix = &r->kv->ix;
	uint64_t hash = index_hash(key, rec->klen);
	struct kv_item *it;

	(void)value;
	r->records++;
	if (rec->seq > r->max_seq)
		r->max_seq = rec->seq;
	it = index_find_locked(ix, hash, key, rec->klen);
	if (rec->type == KV_REC_DEL) {
		if (it) {
			index_remove_locked(ix, it);
			index_free_item(ix, it);
		}
		return 0;
	}
	if (!it) {
		it = index_new_item(ix, hash, key, rec->klen);
		if (!it)
			return -ENOMEM;
		index_insert_locked(ix, it);
	}
	it->off = off;
	it->vlen = rec->vlen;
	return 0;
}

static int open_region(const struct kv_opts *o, struct dax_region **region)
{
	const char *path = o->path;
	bool device = !strncmp(path, "/dev/", 5);
	bool memfd = !strncmp(path, "memfd:", 6);
	struct dax_region_opts *ro;
	uint64_t size = o->size;
	struct stat st;
	int ret;

	ret = dax_region_opts_new(&ro);
	if (ret)
		return kv_fail_dax(ret, "dax_region_opts_new");
	if (!device) {
		/* An existing file keeps its size unless one is asked. */
		if (!size && !memfd && !stat(path, &st) && st.st_size > 0)
			size = (uint64_t)st.st_size;
		if (!size)
			size = DEFAULT_SIZE;
		ret = dax_region_opts_set_size(ro, size);
		if (!ret && o->align)
			ret = dax_region_opts_set_align(ro, o->align);
		if (!ret && !memfd)
			ret = dax_region_opts_set_flags(ro, DAX_REGION_CREATE);
	}
	if (!ret)
		ret = dax_region_open(path, ro, region);
	dax_region_opts_delete(&ro);
	return ret ? kv_fail_dax(ret, "dax_region_open(%s)", path) : 0;
}

static void stop_threads(struct kv_store *kv)
{
	pthread_mutex_lock(&kv->bg_lock);
	kv->stopping = true;
	pthread_cond_broadcast(&kv->bg_cond);
	pthread_mutex_unlock(&kv->bg_lock);
	if (kv->have_commit_thread)
		pthread_join(kv->commit_thread, NULL);
	if (kv->have_compact_thread)
		pthread_join(kv->compact_thread, NULL);
	kv->have_commit_thread = kv->have_compact_thread = false;
}

/* Undo kv_open() from whatever point it reached. */
static void teardown(struct kv_store *kv)
{
	stop_threads(kv);
	if (kv->log.mapping)
		dax_mapping_put(&kv->log.mapping);
	if (kv->heap) {
		index_destroy(&kv->ix);
		dax_heap_destroy(&kv->heap);
	}
	if (kv->log.region)
		log_close(&kv->log);
	if (kv->region)
		dax_region_close(&kv->region);
	pthread_mutex_destroy(&kv->compact_lock);
	pthread_mutex_destroy(&kv->lease_lock);
	pthread_mutex_destroy(&kv->bg_lock);
	pthread_cond_destroy(&kv->bg_cond);
	free(kv);
}

int kv_open(const struct kv_opts *o, struct kv_store **kvp)
{
	struct recover_ctx rc = { 0 };
	struct dax_heap_opts *ho;
	struct kv_store *kv;
	bool formatted;
	uint64_t first;
	int ret;

	if (!o || !o->path || !kvp)
		return kv_fail(-EINVAL, "kv_open needs options with a path");
	if (o->heap_pct > 90)
		return kv_fail(-EINVAL, "heap share %u%%: at most 90%%",
			       o->heap_pct);
	kv = calloc(1, sizeof(*kv));
	if (!kv)
		return kv_fail(-ENOMEM, "out of memory");
	rc.kv = kv;
	pthread_mutex_init(&kv->compact_lock, NULL);
	pthread_mutex_init(&kv->lease_lock, NULL);
	pthread_mutex_init(&kv->bg_lock, NULL);
	pthread_cond_init(&kv->bg_cond, NULL);
	kv->commit_ms = o->commit_ms ? o->commit_ms : DEFAULT_COMMIT_MS;
	if (o->commit_ms < 0)
		kv->commit_ms = -1;
	kv->compact_pct = o->compact_pct ? o->compact_pct : DEFAULT_COMPACT_PCT;
	kv->sync = o->sync;

	ret = open_region(o, &kv->region);
	if (ret)
		goto fail;
	/* The log's blocks first, then the heap takes from what is left. */
	ret = log_open(&kv->log, kv->region, o->fresh,
		       o->heap_pct ? o->heap_pct : DEFAULT_HEAP_PCT, &formatted);
	if (ret)
		goto fail;
	ret = dax_heap_opts_new(&ho);
	if (ret) {
		ret = kv_fail_dax(ret, "dax_heap_opts_new");
		goto fail;
	}
	ret = dax_heap_create(kv->region, ho, &kv->heap);
	dax_heap_opts_delete(&ho);
	if (ret) {
		ret = kv_fail_dax(ret, "dax_heap_create");
		goto fail;
	}
	ret = index_init(&kv->ix, kv->heap,
			 o->keys_hint ? o->keys_hint : DEFAULT_KEYS);
	if (ret)
		goto fail;
	ret = dax_mapping_new(kv->region, &kv_ops, &kv->log,
			      DAX_MAPPING_MAX_SIZE, &kv->log.mapping);
	if (ret) {
		ret = kv_fail_dax(ret, "dax_mapping_new");
		goto fail;
	}
	/* A reader never holds a pin for long, and the backup gives its
	 * lease up at once: a layout change that waits seconds is a bug. */
	ret = dax_mapping_set_layout_times(kv->log.mapping, 2000, 30000);
	if (ret) {
		ret = kv_fail_dax(ret, "dax_mapping_set_layout_times");
		goto fail;
	}

	/* Recovery: replay the committed log into the index. */
	first = atomic_load(&kv->log.first_seg) * KV_SEG_SIZE;
	ret = log_scan(&kv->log, first, kv->log.tail, recover_one, &rc);
	if (ret)
		goto fail;
	if (rc.max_seq >= kv->log.seq)
		kv->log.seq = rc.max_seq + 1;
	kv->recovered_records = rc.records;
	kv->recovered_keys = atomic_load(&kv->ix.nr_keys);
	(void)formatted;

	if (kv->commit_ms > 0) {
		ret = -pthread_create(&kv->commit_thread, NULL, commit_thread,
				      kv);
		if (ret) {
			ret = kv_fail(ret, "cannot start the commit thread");
			goto fail;
		}
		kv->have_commit_thread = true;
	}
	if (kv->compact_pct > 0) {
		ret = -pthread_create(&kv->compact_thread, NULL,
				      compact_thread, kv);
		if (ret) {
			ret = kv_fail(ret, "cannot start the compactor");
			goto fail;
		}
		kv->have_compact_thread = true;
	}
	*kvp = kv;
	return 0;
fail:
	teardown(kv);
	return ret;
}

int kv_close(struct kv_store **kvp)
{
	struct kv_store *kv;
	int ret;

	if (!kvp || !*kvp)
		return kv_fail(-EINVAL, "no store");
	kv = *kvp;
	stop_threads(kv);
	ret = log_commit(&kv->log, false);
	teardown(kv);
	*kvp = NULL;
	return ret;
}

/* ---- getters ------------------------------------------------------------------------------------ */

int kv_for_each_key(struct kv_store *kv, kv_key_fn fn, void *priv)
{
	if (!kv || !fn)
		return kv_fail(-EINVAL, "kv_for_each_key needs a store and a "
			       "function");
	return index_for_each(&kv->ix, fn, priv);
}

int kv_get_stats(struct kv_store *kv, struct kv_stats *s)
{
	if (!kv || !s)
		return kv_fail(-EINVAL, "kv_get_stats needs a store and stats");
	memset(s, 0, sizeof(*s));
	s->puts = atomic_load(&kv->puts);
	s->deletes = atomic_load(&kv->deletes);
	s->gets = atomic_load(&kv->gets);
	s->get_misses = atomic_load(&kv->get_misses);
	s->get_retries = atomic_load(&kv->get_retries);
	s->pins = atomic_load(&kv->pins);
	s->pins_at_punch = atomic_load(&kv->pins_at_punch);
	s->commits = atomic_load(&kv->log.nr_commits);
	s->writebacks = atomic_load(&kv->log.nr_writebacks);
	s->bytes_committed = atomic_load(&kv->log.bytes_committed);
	s->compactions = atomic_load(&kv->compactions);
	s->segments_punched = atomic_load(&kv->segments_punched);
	s->records_copied = atomic_load(&kv->records_copied);
	s->bytes_copied = atomic_load(&kv->bytes_copied);
	s->leases_taken = atomic_load(&kv->leases_taken);
	s->leases_broken = atomic_load(&kv->leases_broken);
	s->backups = atomic_load(&kv->backups);
	s->backup_restarts = atomic_load(&kv->backup_restarts);
	s->backup_bytes = atomic_load(&kv->backup_bytes);
	s->recovered_records = kv->recovered_records;
	s->recovered_keys = kv->recovered_keys;
	s->nr_slots = kv->log.nr_slots;
	s->used_slots = kv->log.nr_slots - log_free_slots(&kv->log);
	s->first = atomic_load(&kv->log.first_seg) * KV_SEG_SIZE;
	pthread_mutex_lock(&kv->log.lock);
	s->tail = kv->log.tail;
	pthread_mutex_unlock(&kv->log.lock);
	s->committed = atomic_load(&kv->log.committed);
	s->keys = atomic_load(&kv->ix.nr_keys);
	return 0;
}

struct dax_mapping *kv_get_mapping(struct kv_store *kv)
{
	return kv ? kv->log.mapping : NULL;
}

struct dax_region *kv_get_region(struct kv_store *kv)
{
	return kv ? kv->region : NULL;
}

struct dax_heap *kv_get_heap(struct kv_store *kv)
{
	return kv ? kv->heap : NULL;
}
