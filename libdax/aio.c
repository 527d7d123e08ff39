// SPDX-License-Identifier: MIT
/*
 * Async I/O: transfers between a mapping range and a file descriptor
 * through libaio, each holding a pin of its range until it is reaped.
 *
 * Why a pin, and why until the reap
 * ---------------------------------
 * The kernel reads or writes the mapping's memory by address while the
 * request is in flight (get_user_pages on the region's pages, as for any
 * O_DIRECT buffer).  If a truncate or hole punch freed those blocks
 * meanwhile and the allocator handed them to another file, the transfer
 * would write into, or read from, somebody else's data: the DMA-vs-truncate
 * bug the kernel closed in 2018 by making truncate wait for the page
 * references.  Here every request takes dax_pin_range() of its page range
 * before it faults the pages in, and drops it only when its completion has
 * been reaped (dax_aio_reap(), dax_aio_teardown()): a truncate or punch of
 * the mapping drains the pin and therefore waits for the reap, not merely
 * for the kernel's completion.  Holding the pin to the reap costs a
 * truncate a little latency and keeps the rule simple: what an engine has
 * not reaped it still owns.
 *
 * A request, from call to event
 * -----------------------------
 *   1. validate (alignment to 512 bytes, or to the file's direct I/O
 *      alignment where statx(STATX_DIOALIGN) reports a larger one, asked
 *      once per descriptor number; the range inside the mapping's size)
 *      and take a request slot: a failure here changes nothing;
 *   2. pin the page range (DAX_AIO_NOWAIT: -EAGAIN instead of waiting for
 *      a layout change that is draining the range);
 *   3. fault the pages in with dax_fault(): read faults when the mapping is
 *      the source (a hole maps the read-only zero area, so a file gets
 *      zeroes for it without allocating), write faults when it is the
 *      destination (blocks are allocated and entries marked dirty, as for
 *      any write); 2 MiB and 1 GiB entries are asked for where the range
 *      covers them, and whatever entry is present is used as it is;
 *   4. one iovec per run of consecutive addresses (entries whose memory
 *      follows each other merge; zero runs share the zero area), split into
 *      as many iocbs as the kernel's limits need (1024 iovecs, 1 GiB each);
 *   5. queue the iocbs; without DAX_AIO_MORE, io_submit() every queued one.
 *      An iocb that io_submit() refuses completes its request with the
 *      errno (for instance -EBADF for a descriptor not open for writing);
 *   6. dax_aio_reap(): io_getevents(); a request whose iocbs are all done
 *      gets its result (the bytes of its leading complete iocbs, or the
 *      errno of the first one if that failed); a read marks its entries
 *      dirty again (a dax_writeback() that ran during the transfer cleared
 *      marks over bytes the kernel was still storing); the pin is dropped;
 *      the request slot is freed; then the event is returned or the done
 *      callback called.
 *
 * Locking
 * -------
 * One mutex (lock) guards the slots, the queue, the done list and the
 * counters; io_submit() runs under it, so a reaper that saw an iocb counted
 * as in the kernel can wait for it without missing a completion.  Faulting
 * and pinning (steps 2-4) run outside it, so submitters on several threads
 * overlap there.  Reapers are serialized by reap_lock; io_getevents() runs
 * outside lock.  A reaper with nothing in the kernel sleeps on the progress
 * condition, which every io_submit() signals.  Callbacks are called with
 * neither held, after the slot is free and the pin dropped, so a callback
 * may submit the next request (it cannot deadlock on a drain that waits
 * for its own request's pin).
 *
 * A descriptor opened without O_DIRECT works too: the kernel then copies
 * through the page cache inside io_submit(), and the request completes at
 * once (but is reaped, and unpinned, like any other).
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <fcntl.h>

#include <libaio.h>

#include "internal.h"

#define AIO_ALL_FLAGS (DAX_AIO_MORE | DAX_AIO_NOWAIT)
#define AIO_MIN_ALIGN 512u
#define AIO_MAX_DEPTH 65536u
/* The kernel caps one transfer at about 2 GiB and 1024 iovecs (UIO_MAXIOV). */
#define AIO_SEG_MAX_IOV 1024u
#define AIO_SEG_MAX_BYTES DAX_GiB
/* fault.c's zero area: FAULT_ZERO_SIZE bytes from a ZERO entry's
 * entry_addr all read as zeroes. */
#define AIO_ZERO_AREA DAX_GiB
#define AIO_REAP_BATCH 64u
#define AIO_FD_CACHE 8u

struct aio_req;

/* One iocb: a request needs one per 1024 iovecs or 1 GiB. */
struct aio_seg {
	struct iocb cb;
	struct aio_req *req;
	struct aio_seg *next;		/* in its request (file order), or free */
	uint64_t len;
	int64_t res;
};

struct aio_req {
	struct aio_req *next;		/* free list, or the done list */
	struct dax_pin *pin;
	struct aio_seg *segs;
	void *priv;
	uint64_t first, last;		/* page indices pinned */
	int64_t result;
	unsigned segs_left;
	bool read;			/* file -> mapping */
	struct iovec *iov;		/* kept across uses of the slot */
	unsigned nr_iov, cap_iov;
};

/* A descriptor's direct I/O alignment, as statx() told it. */
struct aio_fd_cache {
	int fd;				/* the descriptor + 1; 0: unused */
	unsigned falign, malign;
};

struct dax_aio {
	struct dax_mapping *m;
	io_context_t ctx;
	unsigned depth;
	pthread_mutex_t lock;		/* everything below */
	dax_aio_done_fn done;
	struct aio_req *free_reqs;
	struct aio_seg *free_segs;
	unsigned nr_free_segs;
	struct iocb **queue;		/* depth entries */
	unsigned nr_queued;
	struct aio_req *done_head, **done_tail;
	unsigned nr_kernel;		/* iocbs submitted, not yet completed */
	_Atomic unsigned nr_requests;	/* accepted, not yet reaped */
	struct aio_fd_cache fd_cache[AIO_FD_CACHE];
	unsigned fd_cache_next;
	pthread_cond_t progress;	/* (lock) iocbs went to the kernel */
	pthread_mutex_t reap_lock;	/* one reaper at a time; events below */
	struct io_event *events;
	struct aio_req *reqs;
	struct aio_seg *segs;
};

/* ---- setup and teardown ------------------------------------------------ */

static void aio_free(struct dax_aio *a)
{
	if (a->reqs)
		for (unsigned i = 0; i < a->depth; i++)
			free(a->reqs[i].iov);
	free(a->reqs);
	free(a->segs);
	free(a->queue);
	free(a->events);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->reap_lock);
	pthread_cond_destroy(&a->progress);
	free(a);
}

/**
 * dax_aio_setup() - a context for transfers between a mapping and files
 * @mapping: the mapping whose memory the transfers read and write
 * @depth: the most requests (iocbs) in flight at once, 1..65536
 * @aio: receives the context (dax_aio_teardown() ends it)
 *
 * Makes a kernel AIO context (io_setup()) of @depth events and takes a
 * reference on @mapping, dropped by dax_aio_teardown().
 *
 * Context: any thread.
 * Return: 0; -EINVAL (NULL argument, depth 0 or too large); -EAGAIN (the
 * system-wide limit fs.aio-max-nr would be exceeded); -ENXIO (the mapping
 * is dead); -ENOMEM; or io_setup()'s errno.
 */
DAX_EXPORT int dax_aio_setup(struct dax_mapping *mapping, unsigned depth,
			     struct dax_aio **aio)
{
	pthread_condattr_t ca;
	struct dax_aio *a;
	int ret;

	if (aio)
		*aio = NULL;
	if (!mapping || !aio || !depth || depth > AIO_MAX_DEPTH)
		return dax_fail(NULL, -EINVAL, "dax_aio_setup: %s",
				!mapping ? "mapping is NULL" :
				!aio ? "aio is NULL" :
				"depth must be 1..65536");
	if (!dax_mapping_is_alive(mapping))
		return dax_fail(NULL, -ENXIO, "dax_aio_setup: the mapping is "
				"dead");
	a = calloc(1, sizeof(*a));
	if (!a)
		return dax_fail(NULL, -ENOMEM, "no memory for an aio context");
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->reap_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->progress, &ca);
	pthread_condattr_destroy(&ca);
	a->depth = depth;
	a->reqs = calloc(depth, sizeof(*a->reqs));
	a->segs = calloc(depth, sizeof(*a->segs));
	a->queue = calloc(depth, sizeof(*a->queue));
	a->events = calloc(depth, sizeof(*a->events));
	if (!a->reqs || !a->segs || !a->queue || !a->events) {
		aio_free(a);
		return dax_fail(NULL, -ENOMEM, "no memory for an aio context "
				"of depth %u", depth);
	}
	for (unsigned i = depth; i-- > 0;) {
		a->reqs[i].next = a->free_reqs;
		a->free_reqs = &a->reqs[i];
		a->segs[i].next = a->free_segs;
		a->free_segs = &a->segs[i];
	}
	a->nr_free_segs = depth;
	a->done_tail = &a->done_head;
	ret = io_setup((int)depth, &a->ctx);
	if (ret < 0) {
		aio_free(a);
		if (ret == -EAGAIN)
			return dax_fail(NULL, ret, "dax_aio_setup: io_setup(%u) "
					"failed: EAGAIN, the system-wide "
					"limit of AIO events (sysctl "
					"fs.aio-max-nr) would be exceeded",
					depth);
		return dax_fail(NULL, ret, "dax_aio_setup: io_setup(%u) "
				"failed: %s", depth, strerror(-ret));
	}
	a->m = dax_mapping_get(mapping);
	*aio = a;
	return 0;
}

/* ---- submission ------------------------------------------------------- */

/* Under a->lock: a request is complete; put it on the done list. */
static void req_complete_locked(struct dax_aio *a, struct aio_req *req)
{
	int64_t total = 0, result;
	struct aio_seg *s = req->segs;

	result = s->res;
	for (; s; s = s->next) {
		if (s->res < 0) {
			result = total ? total : s->res;
			break;
		}
		total += s->res;
		result = total;
		if ((uint64_t)s->res < s->len)
			break;		/* short: later iocbs do not count */
	}
	req->result = result;
	while (req->segs) {
		s = req->segs;
		req->segs = s->next;
		s->next = a->free_segs;
		a->free_segs = s;
		a->nr_free_segs++;
	}
	req->next = NULL;
	*a->done_tail = req;
	a->done_tail = &req->next;
}

/* Under a->lock: an iocb of @req finished (or was refused) with @res. */
static void seg_done_locked(struct dax_aio *a, struct aio_seg *s, int64_t res)
{
	s->res = res;
	if (--s->req->segs_left == 0)
		req_complete_locked(a, s->req);
}

/*
 * Under a->lock: io_submit() every queued iocb.  An iocb the kernel
 * refuses completes with the errno; the ones after it are still offered.
 * Return: the number of requests whose last iocb went to the kernel.
 */
static int submit_locked(struct dax_aio *a)
{
	unsigned done = 0;
	int nreq = 0;

	while (done < a->nr_queued) {
		int ret = io_submit(a->ctx, (long)(a->nr_queued - done),
				    a->queue + done);

		if (ret == -EINTR)
			continue;
		if (ret <= 0) {
			struct aio_seg *s = (struct aio_seg *)a->queue[done];

			/* 0 cannot happen for nr > 0; treat it as EAGAIN */
			seg_done_locked(a, s, ret ? ret : -EAGAIN);
			done++;
			continue;
		}
		for (int i = 0; i < ret; i++) {
			struct aio_seg *s = (struct aio_seg *)a->queue[done + i];

			if (s->next == NULL)
				nreq++;
		}
		a->nr_kernel += (unsigned)ret;
		done += (unsigned)ret;
	}
	if (a->nr_queued)
		pthread_cond_broadcast(&a->progress);
	a->nr_queued = 0;
	return nreq;
}

/*
 * The file's direct I/O alignment (offset/length, memory), 512 at least.
 * statx() costs microseconds on a virtual machine, as much as the rest of
 * a submission, so the answer is kept per descriptor number in a small
 * cache: only the first request on a descriptor pays for it.  A number
 * closed and reused for another file keeps the old answer; the kernel
 * still checks alignment (and that the descriptor is open) and reports a
 * mismatch in the request's event, so the cache only decides whether the
 * error comes now or in the event.
 */
static int aio_fd_align(struct dax_aio *a, int fd, const char *fn,
			unsigned *falign, unsigned *malign)
{
	struct aio_fd_cache *c;
	struct statx stx;

	if (fd < 0)
		return dax_fail(NULL, -EBADF, "%s: file descriptor %d is not "
				"open", fn, fd);
	pthread_mutex_lock(&a->lock);
	for (unsigned i = 0; i < AIO_FD_CACHE; i++) {
		c = &a->fd_cache[i];
		if (c->fd == fd + 1) {
			*falign = c->falign;
			*malign = c->malign;
			pthread_mutex_unlock(&a->lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&a->lock);
	*falign = *malign = AIO_MIN_ALIGN;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx))
		return dax_fail(NULL, -EBADF, "%s: file descriptor %d is not "
				"open", fn, fd);
	if (stx.stx_mask & STATX_DIOALIGN) {
		if (stx.stx_dio_offset_align > *falign)
			*falign = stx.stx_dio_offset_align;
		if (stx.stx_dio_mem_align > *malign)
			*malign = stx.stx_dio_mem_align;
	}
	pthread_mutex_lock(&a->lock);
	c = &a->fd_cache[a->fd_cache_next++ % AIO_FD_CACHE];
	c->fd = fd + 1;
	c->falign = *falign;
	c->malign = *malign;
	pthread_mutex_unlock(&a->lock);
	return 0;
}

static int aio_check(struct dax_aio *a, const char *fn, uint64_t offset,
		     uint64_t len, int fd, uint64_t file_offset,
		     unsigned flags)
{
	unsigned falign, malign;
	uint64_t size;
	int ret;

	if (!a)
		return dax_fail(NULL, -EINVAL, "%s: aio is NULL", fn);
	if (flags & ~AIO_ALL_FLAGS)
		return dax_fail(NULL, -EINVAL, "%s: unknown flags 0x%x", fn,
				flags & ~AIO_ALL_FLAGS);
	if (!len)
		return dax_fail(NULL, -EINVAL, "%s: length is 0", fn);
	size = dax_mapping_get_size(a->m);
	if (offset > size || len > size - offset)
		return dax_fail(NULL, -EINVAL, "%s: [0x%llx, +0x%llx) is not "
				"inside the mapping's size 0x%llx", fn,
				(unsigned long long)offset,
				(unsigned long long)len,
				(unsigned long long)size);
	if (file_offset > INT64_MAX || len > INT64_MAX - file_offset)
		return dax_fail(NULL, -EINVAL, "%s: file offset 0x%llx + "
				"length 0x%llx is beyond what a file can "
				"hold", fn, (unsigned long long)file_offset,
				(unsigned long long)len);
	ret = aio_fd_align(a, fd, fn, &falign, &malign);
	if (ret)
		return ret;
	if (offset % (falign > malign ? falign : malign))
		return dax_fail(NULL, -EINVAL, "%s: mapping offset 0x%llx is "
				"not a multiple of %u (direct I/O "
				"alignment)", fn, (unsigned long long)offset,
				falign > malign ? falign : malign);
	if (len % falign)
		return dax_fail(NULL, -EINVAL, "%s: length 0x%llx is not a "
				"multiple of %u (direct I/O alignment)", fn,
				(unsigned long long)len, falign);
	if (file_offset % falign)
		return dax_fail(NULL, -EINVAL, "%s: file offset 0x%llx is not "
				"a multiple of %u (direct I/O alignment)", fn,
				(unsigned long long)file_offset, falign);
	return 0;
}

static int iov_push(struct aio_req *req, void *base, uint64_t len)
{
	if (req->nr_iov == req->cap_iov) {
		unsigned cap = req->cap_iov ? 2 * req->cap_iov : 8;
		struct iovec *iov = realloc(req->iov, cap * sizeof(*iov));

		if (!iov)
			return dax_fail(NULL, -ENOMEM, "no memory for the "
					"iovecs of a transfer");
		req->iov = iov;
		req->cap_iov = cap;
	}
	req->iov[req->nr_iov].iov_base = base;
	req->iov[req->nr_iov].iov_len = len;
	req->nr_iov++;
	return 0;
}

/* A large entry where the range covers an aligned one, else 4 KiB. */
static unsigned fault_size(uint64_t index, uint64_t pages_left)
{
	if (!(index & ((UINT64_C(1) << 18) - 1)) && pages_left >= (1u << 18))
		return DAX_FAULT_SIZE_1G;
	if (!(index & 511) && pages_left >= 512)
		return DAX_FAULT_SIZE_2M;
	return 0;
}

/*
 * Steps 3 and 4 of the top comment: fault [offset, offset + len) in and
 * describe it as iovecs.  The pin is held.
 */
static int build_iov(struct dax_aio *a, struct aio_req *req, uint64_t offset,
		     uint64_t len)
{
	uint64_t off = offset, end = offset + len;
	bool last_zero = false;
	int ret;

	req->nr_iov = 0;
	while (off < end) {
		uint64_t index = off >> DAX_PAGE_SHIFT, entry_end, n;
		uint64_t pages_left = ((end - 1) >> DAX_PAGE_SHIFT) - index + 1;
		struct dax_fault_ext ext;
		struct iovec *prev;
		char *p;

		ret = dax_fault(a->m, index,
				(req->read ? DAX_FAULT_WRITE : 0) |
					fault_size(index, pages_left),
				&ext);
		if (ret)
			return ret;
		entry_end = (ext.first + (UINT64_C(1) << ext.order))
			    << DAX_PAGE_SHIFT;
		n = (entry_end < end ? entry_end : end) - off;
		prev = req->nr_iov ? &req->iov[req->nr_iov - 1] : NULL;
		if (ext.flags & DAX_FAULT_EXT_ZERO) {
			/* zeroes: any bytes of the zero area will do */
			while (n) {
				uint64_t room = prev && last_zero ?
					AIO_ZERO_AREA - prev->iov_len : 0;
				uint64_t k = n < room ? n : room;

				if (k) {
					prev->iov_len += k;
				} else {
					k = n < AIO_ZERO_AREA ? n :
								AIO_ZERO_AREA;
					ret = iov_push(req, ext.entry_addr, k);
					if (ret)
						return ret;
					prev = &req->iov[req->nr_iov - 1];
				}
				n -= k;
				off += k;
			}
			last_zero = true;
			continue;
		}
		p = (char *)ext.addr + (off & (DAX_PAGE_SIZE - 1));
		while (n) {
			uint64_t k;

			if (prev && !last_zero &&
			    (char *)prev->iov_base + prev->iov_len == p &&
			    prev->iov_len < AIO_SEG_MAX_BYTES) {
				k = AIO_SEG_MAX_BYTES - prev->iov_len;
				k = n < k ? n : k;
				prev->iov_len += k;
			} else {
				k = n < AIO_SEG_MAX_BYTES ? n :
							    AIO_SEG_MAX_BYTES;
				ret = iov_push(req, p, k);
				if (ret)
					return ret;
				prev = &req->iov[req->nr_iov - 1];
			}
			last_zero = false;
			n -= k;
			off += k;
			p += k;
		}
	}
	return 0;
}

/* How many iocbs the iovecs need: at most 1024 iovecs and 1 GiB each. */
static unsigned count_segs(const struct aio_req *req)
{
	unsigned segs = 0, n = 0;
	uint64_t bytes = 0;

	for (unsigned i = 0; i < req->nr_iov; i++) {
		if (!n || n == AIO_SEG_MAX_IOV ||
		    bytes + req->iov[i].iov_len > AIO_SEG_MAX_BYTES) {
			segs++;
			n = 0;
			bytes = 0;
		}
		n++;
		bytes += req->iov[i].iov_len;
	}
	return segs;
}

/* Under a->lock: take @nsegs iocbs, prepare and queue them. */
static void queue_segs_locked(struct dax_aio *a, struct aio_req *req,
			      unsigned nsegs, int fd, uint64_t file_offset)
{
	struct aio_seg **tail = &req->segs;
	unsigned i = 0;

	req->segs_left = nsegs;
	while (i < req->nr_iov) {
		struct aio_seg *s = a->free_segs;
		unsigned first = i;
		uint64_t bytes = 0;

		a->free_segs = s->next;
		a->nr_free_segs--;
		while (i < req->nr_iov && i - first < AIO_SEG_MAX_IOV &&
		       bytes + req->iov[i].iov_len <= AIO_SEG_MAX_BYTES)
			bytes += req->iov[i++].iov_len;
		if (req->read)
			io_prep_preadv(&s->cb, fd, req->iov + first,
				       (int)(i - first), (long long)file_offset);
		else
			io_prep_pwritev(&s->cb, fd, req->iov + first,
					(int)(i - first),
					(long long)file_offset);
		s->cb.data = s;
		s->req = req;
		s->len = bytes;
		s->res = 0;
		s->next = NULL;
		*tail = s;
		tail = &s->next;
		file_offset += bytes;
		a->queue[a->nr_queued++] = &s->cb;
	}
}

static void req_put(struct dax_aio *a, struct aio_req *req)
{
	pthread_mutex_lock(&a->lock);
	req->next = a->free_reqs;
	a->free_reqs = req;
	atomic_fetch_sub_explicit(&a->nr_requests, 1, memory_order_relaxed);
	pthread_mutex_unlock(&a->lock);
}

static int aio_queue(struct dax_aio *a, const char *fn, bool read,
		     uint64_t offset, uint64_t len, int fd,
		     uint64_t file_offset, unsigned flags, void *priv)
{
	struct aio_req *req;
	unsigned nsegs;
	int ret;

	ret = aio_check(a, fn, offset, len, fd, file_offset, flags);
	if (ret)
		return ret;
	pthread_mutex_lock(&a->lock);
	req = a->free_reqs;
	if (!req) {
		pthread_mutex_unlock(&a->lock);
		return dax_fail(NULL, -EAGAIN, "%s: all %u request slots are "
				"in use (reap completions first)", fn,
				a->depth);
	}
	a->free_reqs = req->next;
	atomic_fetch_add_explicit(&a->nr_requests, 1, memory_order_relaxed);
	pthread_mutex_unlock(&a->lock);

	req->read = read;
	req->priv = priv;
	req->first = offset >> DAX_PAGE_SHIFT;
	req->last = (offset + len - 1) >> DAX_PAGE_SHIFT;
	req->segs = NULL;
	ret = dax_pin_range(a->m, req->first, req->last,
			    (flags & DAX_AIO_NOWAIT) ? DAX_PIN_NOWAIT : 0,
			    &req->pin);
	if (ret)
		goto put;
	ret = build_iov(a, req, offset, len);
	if (ret)
		goto unpin;
	nsegs = count_segs(req);
	pthread_mutex_lock(&a->lock);
	if (nsegs > a->nr_free_segs) {
		unsigned free_segs = a->nr_free_segs;

		pthread_mutex_unlock(&a->lock);
		if (nsegs > a->depth)
			ret = dax_fail(NULL, -EINVAL, "%s: the range is in "
				       "%u pieces needing %u transfers, more "
				       "than the depth %u", fn, req->nr_iov,
				       nsegs, a->depth);
		else
			ret = dax_fail(NULL, -EAGAIN, "%s: the range needs %u "
				       "transfers and only %u slots are free",
				       fn, nsegs, free_segs);
		goto unpin;
	}
	queue_segs_locked(a, req, nsegs, fd, file_offset);
	if (!(flags & DAX_AIO_MORE))
		submit_locked(a);
	pthread_mutex_unlock(&a->lock);
	return 0;
unpin:
	dax_unpin(&req->pin);
put:
	req_put(a, req);
	return ret;
}

/**
 * dax_aio_write() - write a mapping range to a file, asynchronously
 * @aio: the context
 * @offset: the first byte of the mapping (a multiple of 512, or of the
 *	file's direct I/O alignment)
 * @len: bytes, likewise aligned, not 0
 * @fd: a file descriptor open for writing (O_DIRECT for a real async
 *	transfer)
 * @file_offset: where in the file, likewise aligned
 * @flags: DAX_AIO_MORE (queue only), DAX_AIO_NOWAIT (-EAGAIN rather than
 *	wait for a layout change draining the range)
 * @priv: handed back in the request's event
 *
 * Pins the range, read-faults it (holes read as zeroes, nothing is
 * allocated) and submits it; the pin is held until the completion is
 * reaped.
 *
 * Context: any thread, concurrently with other submissions and a reaper;
 * may sleep (pin, fault, io_submit).  The caller must hold no entry lock
 * of the mapping.
 * Return: 0 (the request is in flight; its outcome comes as an event);
 * -EINVAL; -EBADF (@fd is not open); -EAGAIN (no free slot, or NOWAIT and
 * the range is draining); -ENXIO (the range is no longer inside the
 * mapping, or the mapping or region is dead); -ENOMEM; or a fault's errno.
 * On failure nothing is in flight and nothing is pinned.
 */
DAX_EXPORT int dax_aio_write(struct dax_aio *aio, uint64_t offset,
			     uint64_t len, int fd, uint64_t file_offset,
			     unsigned flags, void *priv)
{
	return aio_queue(aio, "dax_aio_write", false, offset, len, fd,
			 file_offset, flags, priv);
}

/**
 * dax_aio_read() - read a file into a mapping range, asynchronously
 * @aio: the context
 * @fd: a file descriptor open for reading (O_DIRECT for a real async
 *	transfer)
 * @file_offset: where in the file (aligned as for dax_aio_write())
 * @offset: the first byte of the mapping
 * @len: bytes, not 0
 * @flags: DAX_AIO_MORE, DAX_AIO_NOWAIT
 * @priv: handed back in the request's event
 *
 * Pins the range and write-faults it (blocks are allocated, entries marked
 * dirty, and marked again at the reap) before submitting.
 *
 * Context: as dax_aio_write().
 * Return: as dax_aio_write(); also -ENOSPC (no block), -EROFS (read-only
 * region).
 */
DAX_EXPORT int dax_aio_read(struct dax_aio *aio, int fd, uint64_t file_offset,
			    uint64_t offset, uint64_t len, unsigned flags,
			    void *priv)
{
	return aio_queue(aio, "dax_aio_read", true, offset, len, fd,
			 file_offset, flags, priv);
}

/**
 * dax_aio_submit() - hand every queued request (DAX_AIO_MORE) to the kernel
 * @aio: the context
 *
 * Context: any thread; may sleep in io_submit().
 * Return: the number of requests handed to the kernel (0 when nothing was
 * queued; a refused iocb completes its request with the errno instead);
 * -EINVAL (NULL).
 */
DAX_EXPORT int dax_aio_submit(struct dax_aio *aio)
{
	int n;

	if (!aio)
		return dax_fail(NULL, -EINVAL, "dax_aio_submit: aio is NULL");
	pthread_mutex_lock(&aio->lock);
	n = submit_locked(aio);
	pthread_mutex_unlock(&aio->lock);
	return n;
}

/* ---- completion --------------------------------------------------------- */

/* The context whose done callback this thread is running, if any. */
static __thread const struct dax_aio *aio_in_done;

/* Under a->lock: take done requests, up to @max, onto @out. */
static unsigned take_done_locked(struct dax_aio *a, struct aio_req **out,
				 unsigned max)
{
	unsigned n = 0;

	while (n < max && a->done_head) {
		out[n++] = a->done_head;
		a->done_head = a->done_head->next;
	}
	if (!a->done_head)
		a->done_tail = &a->done_head;
	return n;
}

/*
 * A read's entries become dirty again: a dax_writeback() that ran while
 * the kernel was storing may have cleared their marks.  The pin keeps them
 * in place, so a write fault of each is answered by the fast path unless
 * its mark is gone.
 */
static void redirty(struct dax_aio *a, struct aio_req *req)
{
	uint64_t index = req->first;

	while (index <= req->last) {
		struct dax_fault_ext ext;

		if (dax_fault(a->m, index, DAX_FAULT_WRITE, &ext))
			break;
		index = ext.first + (UINT64_C(1) << ext.order);
	}
}

/* A deadline @ms from now, CLOCK_MONOTONIC (ms >= 0). */
static void deadline_after(int ms, struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* What is left until @deadline, as a timeout; false when it has passed. */
static bool time_left(const struct timespec *deadline, struct timespec *left)
{
	struct timespec now;
	int64_t ns;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000000000 +
	     (deadline->tv_nsec - now.tv_nsec);
	if (ns <= 0)
		return false;
	left->tv_sec = ns / 1000000000;
	left->tv_nsec = ns % 1000000000;
	return true;
}

/*
 * Wait for completions until @min requests are done or @deadline (NULL:
 * none) passed, collecting up to @max onto @out (with what the last
 * io_getevents() returned beyond @min).  Called with reap_lock held.
 * Return: the number collected, or io_getevents()'s errno if none was.
 */
static int collect(struct dax_aio *a, unsigned min, unsigned max,
		   struct aio_req **out, const struct timespec *deadline)
{
	unsigned n = 0;

	for (;;) {
		struct timespec ts = { 0, 0 }, *tsp = &ts;
		unsigned in_kernel, want;
		bool poll;
		int got;

		pthread_mutex_lock(&a->lock);
		for (;;) {
			n += take_done_locked(a, out + n, max - n);
			in_kernel = a->nr_kernel;
			if (n >= min || in_kernel)
				break;
			/* nothing in the kernel: wait for a submission (a
			 * reaper thread must not spin while idle) */
			if (!deadline) {
				pthread_cond_wait(&a->progress, &a->lock);
			} else if (pthread_cond_timedwait(&a->progress,
							  &a->lock,
							  deadline)) {
				n += take_done_locked(a, out + n, max - n);
				break;
			}
		}
		pthread_mutex_unlock(&a->lock);
		if (n == max || !in_kernel)
			break;
		poll = n >= min;
		if (!poll && !deadline)
			tsp = NULL;
		else if (!poll && !time_left(deadline, &ts))
			poll = true;
		want = in_kernel < a->depth ? in_kernel : a->depth;
		got = io_getevents(a->ctx, poll ? 0 : 1, want, a->events, tsp);
		if (got == -EINTR)
			continue;
		if (got < 0) {
			if (n)
				break;
			return dax_fail(NULL, got, "dax_aio_reap: "
					"io_getevents failed: %s",
					strerror(-got));
		}
		pthread_mutex_lock(&a->lock);
		for (int i = 0; i < got; i++) {
			a->nr_kernel--;
			seg_done_locked(a, a->events[i].data,
					(long)a->events[i].res);
		}
		n += take_done_locked(a, out + n, max - n);
		pthread_mutex_unlock(&a->lock);
		/* One io_getevents() once @min are in: it returned what was
		 * there, and polling on while completions trickle in keeps
		 * the caller from resubmitting (the queue would run dry). */
		if (poll || n >= min)
			break;
	}
	return (int)n;
}

/**
 * dax_aio_set_done() - call a function for each completion instead
 * @aio: the context
 * @done: called by dax_aio_reap() (and dax_aio_teardown()) for each
 *	reaped request, in the reaping thread; NULL: events only
 *
 * Context: any thread.
 * Return: 0; -EINVAL (@aio NULL).
 */
DAX_EXPORT int dax_aio_set_done(struct dax_aio *aio, dax_aio_done_fn done)
{
	if (!aio)
		return dax_fail(NULL, -EINVAL, "dax_aio_set_done: aio is "
				"NULL");
	pthread_mutex_lock(&aio->lock);
	aio->done = done;
	pthread_mutex_unlock(&aio->lock);
	return 0;
}

/**
 * dax_aio_reap() - collect completed requests, dropping their pins
 * @aio: the context
 * @min_nr: wait until this many requests completed (0: do not wait)
 * @max_nr: return at most this many (1..)
 * @events: receives them (may be NULL when a done callback is set)
 * @timeout_ms: how long to wait for @min_nr (-1: forever, 0: poll)
 *
 * For each reaped request: a read marks its entries dirty again, the pin
 * is dropped (a truncate waiting for it may go on), the slot is freed,
 * then the event is stored in @events and the done callback, if any, is
 * called.  Fewer than @min_nr come back only when the timeout passes.
 * With nothing in the kernel the call waits for another thread's
 * submission (a reaper thread does not spin while idle); requests queued
 * with DAX_AIO_MORE complete only once submitted.
 *
 * Context: any thread; reapers are serialized; sleeps up to @timeout_ms.
 * A done callback may submit requests, not reap or tear down.
 * Return: the number of requests reaped (>= 0); -EINVAL; -EDEADLK (from
 * the context's done callback); or io_getevents()'s errno when nothing
 * was reaped.
 */
DAX_EXPORT int dax_aio_reap(struct dax_aio *aio, unsigned min_nr,
			    unsigned max_nr, struct dax_aio_event *events,
			    int timeout_ms)
{
	struct aio_req *batch[AIO_REAP_BATCH];
	struct timespec deadline;
	dax_aio_done_fn done;
	unsigned total = 0;
	int n;

	if (!aio || !max_nr || min_nr > max_nr || timeout_ms < -1)
		return dax_fail(NULL, -EINVAL, "dax_aio_reap: %s",
				!aio ? "aio is NULL" :
				!max_nr ? "max_nr is 0" :
				min_nr > max_nr ? "min_nr is above max_nr" :
				"timeout below -1");
	pthread_mutex_lock(&aio->lock);
	done = aio->done;
	pthread_mutex_unlock(&aio->lock);
	if (!events && !done)
		return dax_fail(NULL, -EINVAL, "dax_aio_reap: events is NULL "
				"and no done callback is set");
	if (aio_in_done == aio)
		return dax_fail(NULL, -EDEADLK, "dax_aio_reap: called from "
				"the context's own done callback");
	if (timeout_ms >= 0)
		deadline_after(timeout_ms, &deadline);
	pthread_mutex_lock(&aio->reap_lock);
	do {
		unsigned want = max_nr - total, wmin;

		if (want > AIO_REAP_BATCH)
			want = AIO_REAP_BATCH;
		wmin = min_nr > total ? min_nr - total : 0;
		if (wmin > want)
			wmin = want;
		n = collect(aio, wmin, want, batch,
			    timeout_ms >= 0 ? &deadline : NULL);
		if (n < 0)
			break;
		for (int i = 0; i < n; i++) {
			struct aio_req *req = batch[i];
			struct dax_aio_event ev = { .priv = req->priv,
						    .result = req->result };

			if (req->read)
				redirty(aio, req);
			dax_unpin(&req->pin);
			req_put(aio, req);
			if (events)
				events[total] = ev;
			total++;
			if (done) {
				aio_in_done = aio;
				done(aio, &ev);
				aio_in_done = NULL;
			}
		}
	} while (n == AIO_REAP_BATCH && total < max_nr);
	pthread_mutex_unlock(&aio->reap_lock);
	if (n < 0 && !total)
		return n;
	return (int)total;
}

/**
 * dax_aio_get_in_flight() - requests accepted and not yet reaped
 * @aio: the context
 * @nr: receives the count (queued, in the kernel, or completed unreaped)
 *
 * Each holds a pin of its range.
 *
 * Context: any thread, lock-free; a snapshot.
 * Return: 0; -EINVAL.
 */
DAX_EXPORT int dax_aio_get_in_flight(const struct dax_aio *aio, unsigned *nr)
{
	if (!aio || !nr)
		return dax_fail(NULL, -EINVAL, "dax_aio_get_in_flight: %s is "
				"NULL", !aio ? "aio" : "nr");
	*nr = atomic_load_explicit(&aio->nr_requests, memory_order_relaxed);
	return 0;
}

/**
 * dax_aio_teardown() - wait for every request, then end the context
 * @aio: the context; set to NULL.  NULL or *@aio NULL does nothing.
 *
 * Submits what is queued, reaps every request (the done callback is called
 * for each; without one their events are dropped), then io_destroy() and
 * drops the mapping reference.
 *
 * Context: any thread; sleeps until the transfers complete.  No other call
 * on the context may run at the same time or after.
 * Return: 0; -EDEADLK (from the context's done callback: nothing done); or
 * io_destroy()'s errno (the context is freed regardless).
 */
DAX_EXPORT int dax_aio_teardown(struct dax_aio **aio)
{
	struct dax_aio_event evs[AIO_REAP_BATCH];
	struct dax_aio *a;
	int ret;

	if (!aio || !*aio)
		return 0;
	a = *aio;
	if (aio_in_done == a)
		return dax_fail(NULL, -EDEADLK, "dax_aio_teardown: called "
				"from the context's own done callback");
	*aio = NULL;
	dax_aio_submit(a);
	while (atomic_load(&a->nr_requests) > 0)
		if (dax_aio_reap(a, 1, AIO_REAP_BATCH, evs, -1) <= 0)
			break;	/* nothing left that can complete */
	ret = io_destroy(a->ctx);
	/* Only if reaping failed: io_destroy() waited for what the kernel
	 * still had, so no transfer touches the ranges any more. */
	for (unsigned i = 0; i < a->depth; i++)
		dax_unpin(&a->reqs[i].pin);
	dax_mapping_put(&a->m);
	aio_free(a);
	if (ret < 0)
		return dax_fail(NULL, ret, "dax_aio_teardown: io_destroy "
				"failed: %s", strerror(-ret));
	return 0;
}
