// SPDX-License-Identifier: MIT
/*
 * backup.c: copy the committed log to a file through libdax's async I/O
 * path, under a lease that compaction breaks.
 *
 * A backup is a 4 KiB header (struct backup_header) followed by the log
 * bytes from the first live segment to the committed tail, rounded up to
 * a page: the same records, in the same order, a recovery would replay.
 *
 * The copy goes straight from the region to the file: dax_aio_write(3)
 * submits O_DIRECT writes whose source is the mapping's memory, and pins
 * each range from submission until it is reaped, so no punch can free the
 * blocks under a transfer in flight.  A pin only delays a punch, though;
 * the backup also needs to know whether the log range it is copying is
 * still the live one.  That is what the lease is for (dax_lease_take(3)):
 * a long-lived, breakable claim on the range.  When compaction punches
 * segments the backup covers, libdax calls the mapping's lease_break
 * operation; the backup gives the lease up at once (so the punch waits
 * only for the transfers in flight), stops submitting, and starts over on
 * the new range.  After BACKUP_TRIES broken attempts it holds compaction
 * off for the time of one copy, so it always finishes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kv_internal.h"

#define BACKUP_MAGIC "KVBACKUP"
#define BACKUP_VERSION 1
#define BACKUP_TRIES 3
#define BACKUP_CHUNK (UINT64_C(1) << 20)
#define BACKUP_DEPTH 8

struct backup_header {
	char magic[8];
	uint32_t version;
	uint32_t crc;		/* CRC-32C of the header with crc = 0 */
	uint64_t first;		/* log offset of the first byte copied */
	uint64_t tail;		/* the committed tail: where replay stops */
	uint64_t seq;		/* unused by readers; for inspection */
};

static uint32_t header_crc(const struct backup_header *h)
{
	struct backup_header c = *h;

	c.crc = 0;
	return kv_crc32c(0, &c, sizeof(c));
}

/*
 * The mapping's lease_break operation.  Give the lease up at once: the
 * transfers in flight keep their pins, so the punch still waits for them,
 * and the backup sees backup_broken and starts over.
 */
int kv_lease_break(struct dax_mapping *mapping, void *priv,
		   struct dax_lease *lease, uint64_t start, uint64_t last)
{
	struct kv_store *kv = priv;	/* the log is its first member */

	(void)mapping;
	(void)start;
	(void)last;
	pthread_mutex_lock(&kv->lease_lock);
	if (kv->backup_lease == lease) {
		atomic_store(&kv->backup_broken, true);
		atomic_fetch_add(&kv->leases_broken, 1);
		dax_lease_release(&kv->backup_lease);
	}
	pthread_mutex_unlock(&kv->lease_lock);
	return 0;
}

static void drop_lease(struct kv_store *kv)
{
	pthread_mutex_lock(&kv->lease_lock);
	if (kv->backup_lease)
		dax_lease_release(&kv->backup_lease);
	pthread_mutex_unlock(&kv->lease_lock);
}

/* Reap until at most @keep transfers are in flight; check each result. */
static int reap(struct dax_aio *aio, unsigned *in_flight, unsigned keep,
		uint64_t *bytes)
{
	struct dax_aio_event ev[BACKUP_DEPTH];
	int ret = 0;

	while (*in_flight > keep) {
		int n = dax_aio_reap(aio, 1, BACKUP_DEPTH, ev, 30000);

		if (n < 0)
			return kv_fail_dax(n, "dax_aio_reap");
		if (n == 0)
			return kv_fail(-ETIMEDOUT, "a backup write took more "
				       "than 30 s");
		for (int i = 0; i < n; i++) {
			uint64_t want = (uint64_t)(uintptr_t)ev[i].priv;

			if (ev[i].result < 0 && !ret)
				ret = kv_fail((int)ev[i].result, "backup write: "
					      "%s", strerror((int)-ev[i].result));
			else if ((uint64_t)ev[i].result != want && !ret)
				ret = kv_fail(-EIO, "short backup write: %" PRId64
					      " of %" PRIu64 " bytes",
					      ev[i].result, want);
			else
				*bytes += want;
		}
		*in_flight -= (unsigned)n;
	}
	return ret;
}

/*
 * One attempt: lease [first, tail), copy it, release.  -EAGAIN when
 * compaction broke the lease (the file holds a mix of old and new).
 *
 * Unless @hold (compaction is kept out), each write is submitted with
 * DAX_AIO_NOWAIT.  A compaction's dax_break_layouts() blocks new pins of
 * the range before it calls the lease_break operation, then waits for the
 * pins taken before it, among them this attempt's transfers in flight,
 * which only this thread's reap drops.  A write that found backup_broken
 * still clear and then waited for its pin would wait for the break, which
 * waits for it: the break timed out (10 s) in the test VM, on a 4 KiB
 * device-DAX, where faulting a chunk in takes 256 faults and the window is
 * wide.  With NOWAIT the write fails with EAGAIN instead, and the attempt
 * reaps what it has in flight and starts over, as for a broken lease.
 */
static int backup_once(struct kv_store *kv, int fd, struct dax_aio *aio,
		       void *hbuf, bool hold, uint64_t *bytes)
{
	struct dax_mapping *m = kv->log.mapping;
	struct backup_header h = { .magic = BACKUP_MAGIC,
				   .version = BACKUP_VERSION };
	unsigned in_flight = 0;
	uint64_t end, off;
	int ret, ret2;

	h.first = atomic_load(&kv->log.first_seg) * KV_SEG_SIZE;
	h.tail = atomic_load(&kv->log.committed);
	h.seq = 0;
	if (h.tail == h.first)
		goto header;	/* an empty log: the header says so */
	end = (h.tail + KV_PAGE - 1) / KV_PAGE * KV_PAGE;

	pthread_mutex_lock(&kv->lease_lock);
	atomic_store(&kv->backup_broken, false);
	ret = dax_lease_take(m, h.first / KV_PAGE, end / KV_PAGE - 1, 0,
			     &kv->backup_lease);
	pthread_mutex_unlock(&kv->lease_lock);
	if (ret)
		return kv_fail_dax(ret, "dax_lease_take");
	atomic_fetch_add(&kv->leases_taken, 1);
	/* A compaction that retired segments between reading first_seg and
	 * taking the lease did not break it: look again. */
	if (atomic_load(&kv->log.first_seg) * KV_SEG_SIZE != h.first) {
		drop_lease(kv);
		return -EAGAIN;
	}

	ret = 0;
	for (off = h.first; off < end && !ret; off += BACKUP_CHUNK) {
		uint64_t len = end - off < BACKUP_CHUNK ? end - off :
							   BACKUP_CHUNK;

		if (atomic_load(&kv->backup_broken))
			break;
		ret = reap(aio, &in_flight, BACKUP_DEPTH - 1, bytes);
		if (ret)
			break;
		ret = dax_aio_write(aio, off, len, fd,
				    KV_PAGE + (off - h.first),
				    hold ? 0 : DAX_AIO_NOWAIT,
				    (void *)(uintptr_t)len);
		if (ret == -EAGAIN && !hold)
			break;		/* a break is draining: start over */
		if (ret)
			ret = kv_fail_dax(ret, "dax_aio_write of log bytes %"
					  PRIu64 "..%" PRIu64, off,
					  off + len - 1);
		else
			in_flight++;
	}
	ret2 = reap(aio, &in_flight, 0, bytes);
	if (ret2 && (!ret || ret == -EAGAIN))
		ret = ret2;
	drop_lease(kv);
	if (ret)
		return ret;
	if (atomic_load(&kv->backup_broken))
		return -EAGAIN;
header:
	h.crc = header_crc(&h);
	memset(hbuf, 0, KV_PAGE);
	memcpy(hbuf, &h, sizeof(h));
	if (pwrite(fd, hbuf, KV_PAGE, 0) != KV_PAGE)
		return kv_fail(-errno, "writing the backup header: %s",
			       strerror(errno));
	return 0;
}

int kv_backup(struct kv_store *kv, const char *file)
{
	struct dax_aio *aio = NULL;
	uint64_t bytes = 0;
	void *hbuf = NULL;
	int fd, ret;

	if (!kv || !file)
		return kv_fail(-EINVAL, "kv_backup needs a store and a file");
	/* O_DIRECT: the data goes from the region to the device, not
	 * through the page cache (dax_aio_setup(3) says what it needs). */
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT, 0644);
	if (fd < 0)
		return kv_fail(-errno, "%s: %s", file, strerror(errno));
	ret = posix_memalign(&hbuf, KV_PAGE, KV_PAGE);
	if (ret) {
		ret = kv_fail(-ret, "out of memory");
		goto out;
	}
	ret = kv_commit(kv);
	if (ret)
		goto out;
	ret = dax_aio_setup(kv->log.mapping, BACKUP_DEPTH, &aio);
	if (ret) {
		ret = kv_fail_dax(ret, "dax_aio_setup");
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		bool hold = attempt >= BACKUP_TRIES;

		/* Past the last try, keep compaction out for one copy. */
		if (hold)
			pthread_mutex_lock(&kv->compact_lock);
		bytes = 0;
		ret = backup_once(kv, fd, aio, hbuf, hold, &bytes);
		if (hold)
			pthread_mutex_unlock(&kv->compact_lock);
		if (ret != -EAGAIN)
			break;
		atomic_fetch_add(&kv->backup_restarts, 1);
	}
	if (!ret && fsync(fd))
		ret = kv_fail(-errno, "fsync(%s): %s", file, strerror(errno));
	if (!ret) {
		atomic_fetch_add(&kv->backups, 1);
		atomic_fetch_add(&kv->backup_bytes, bytes);
	}
out:
	if (aio)
		dax_aio_teardown(&aio);
	free(hbuf);
	if (close(fd) && !ret)
		ret = kv_fail(-errno, "close(%s): %s", file, strerror(errno));
	return ret;
}

/* ---- reading a backup back --------------------------------------------------------------- */

struct check_ctx {
	struct kv_store *kv;
	struct kv_index ix;	/* the backup's own index: key -> offset */
	const char *data;	/* the log bytes, data[0] is log offset first */
	uint64_t first;
	uint64_t records, matching;
};

/* Replay one record of the backup into its own index (as recovery does). */
static int check_one(struct check_ctx *c, uint64_t off,
		     const struct kv_rec *rec, const char *key)
{
	uint64_t hash = index_hash(key, rec->klen);
	struct kv_item *it = index_find_locked(&c->ix, hash, key, rec->klen);

	c->records++;
	if (rec->type == KV_REC_DEL) {
		if (it) {
			index_remove_locked(&c->ix, it);
			index_free_item(&c->ix, it);
		}
		return 0;
	}
	if (!it) {
		it = index_new_item(&c->ix, hash, key, rec->klen);
		if (!it)
			return -ENOMEM;
		index_insert_locked(&c->ix, it);
	}
	it->off = off;
	it->vlen = rec->vlen;
	return 0;
}

/* Each key of the backup: does the store hold the same value? */
static int compare_key(void *priv, const void *key, size_t klen)
{
	struct check_ctx *c = priv;
	uint64_t hash = index_hash(key, klen);
	struct kv_item *it = index_find_locked(&c->ix, hash, key, klen);
	const char *want = c->data + (it->off - c->first) +
			   sizeof(struct kv_rec) + klen;
	char *buf = malloc(it->vlen + 1);
	size_t vlen;
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = kv_get(c->kv, key, klen, buf, it->vlen + 1, &vlen);
	if (!ret && vlen == it->vlen && !memcmp(buf, want, vlen))
		c->matching++;
	free(buf);
	return ret == -ENOENT || ret == -ENOBUFS ? 0 : ret;
}

int kv_backup_check(struct kv_store *kv, const char *file,
		    struct kv_backup_info *info)
{
	struct check_ctx c = { .kv = kv };
	struct backup_header h;
	char *data = NULL;
	uint64_t len, off;
	int fd, ret = 0;
	ssize_t n;

	if (!kv || !file || !info)
		return kv_fail(-EINVAL, "kv_backup_check needs a store, a file "
			       "and an info structure");
	fd = open(file, O_RDONLY);
	if (fd < 0)
		return kv_fail(-errno, "%s: %s", file, strerror(errno));
	n = pread(fd, &h, sizeof(h), 0);
	if (n != sizeof(h) || memcmp(h.magic, BACKUP_MAGIC, 8) ||
	    h.version != BACKUP_VERSION || h.crc != header_crc(&h) ||
	    h.first % KV_SEG_SIZE || h.tail < h.first) {
		ret = kv_fail(-EINVAL, "%s: not a kvstore backup (bad header)",
			      file);
		goto out;
	}
	len = h.tail - h.first;
	data = malloc(len ? len : 1);
	if (!data) {
		ret = kv_fail(-ENOMEM, "no memory to read %" PRIu64 " bytes",
			      len);
		goto out;
	}
	for (off = 0; off < len; off += (uint64_t)n) {
		n = pread(fd, data + off, len - off, (off_t)(KV_PAGE + off));
		if (n <= 0) {
			ret = kv_fail(n ? -errno : -EIO, "%s: short backup "
				      "(%" PRIu64 " of %" PRIu64 " bytes)",
				      file, off, len);
			goto out;
		}
	}
	c.data = data;
	c.first = h.first;
	ret = index_init(&c.ix, kv->heap, 1024);
	if (ret)
		goto out;
	/* The same walk as log_scan(), over the file's bytes. */
	for (off = h.first; off < h.tail && !ret;) {
		uint64_t room = KV_SEG_SIZE - off % KV_SEG_SIZE, size;
		const struct kv_rec *rec;
		const char *p = data + (off - h.first);

		if (room < sizeof(*rec)) {
			off += room;
			continue;
		}
		rec = (const struct kv_rec *)p;
		size = kv_rec_size(rec->klen, rec->vlen);
		if (rec->magic != KV_REC_MAGIC || rec->type < KV_REC_PUT ||
		    rec->type > KV_REC_PAD || size > room ||
		    off + (rec->type == KV_REC_PAD ? 0 : size) > h.tail ||
		    kv_rec_crc(rec, p + sizeof(*rec),
			       p + sizeof(*rec) + rec->klen) != rec->crc) {
			ret = kv_fail(-EIO, "%s: log offset %" PRIu64 ": bad "
				      "record", file, off);
			break;
		}
		if (rec->type == KV_REC_PAD) {
			off += room;
			continue;
		}
		ret = check_one(&c, off, rec, p + sizeof(*rec));
		off += size;
	}
	if (!ret)
		ret = index_for_each(&c.ix, compare_key, &c);
	memset(info, 0, sizeof(*info));
	info->first = h.first;
	info->tail = h.tail;
	info->records = c.records;
	info->keys = atomic_load(&c.ix.nr_keys);
	info->matching = c.matching;
	index_destroy(&c.ix);
out:
	free(data);
	close(fd);
	return ret;
}
