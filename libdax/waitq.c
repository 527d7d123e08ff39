// SPDX-License-Identifier: MIT
/*
 * The hashed wait table behind the entry locks (see the essay atop entry.c).
 *
 * A waiter is a small record on the sleeping thread's stack with its own
 * futex word.  It is queued, in arrival order, on the bucket that
 * (object, key) hashes to; the bucket's mutex guards the queue.  A wake-up
 * for one key walks that bucket and wakes the oldest waiter with exactly
 * that key, so two keys that collide in a bucket never steal each other's
 * wake-up and never wake each other's waiters: there is no thundering herd
 * even across collisions, and no lost wake-up.
 *
 * Ordering.  The waker changes its condition (an entry word), then calls
 * dax_waitq_wake(), which issues a full barrier and reads the bucket's
 * waiter count; only a non-zero count makes it take the bucket lock.  The
 * waiter raises the count (under the bucket lock, with a sequentially
 * consistent increment), issues a full barrier, then re-reads the
 * condition.  Either the waker sees the waiter counted or the waiter sees
 * the new condition (the store-buffering pattern, closed by the two
 * fences), so an uncontended unlock pays one fence and one load.
 *
 * A woken waiter is dequeued by its waker under the bucket lock, and the
 * waiter takes that lock before it returns (dax_waitq_finish), so the waker
 * never touches a waiter record after its owner's stack frame is gone.
 */
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

struct wait_bucket {
	pthread_mutex_t lock;
	_Atomic unsigned long nr_waiters;
	struct dax_waiter *head, *tail;
} __attribute__((aligned(64)));

struct dax_waitq {
	unsigned mask;
	_Atomic uint64_t sleeps;
	_Atomic uint64_t wakes;
	struct wait_bucket *buckets;
};

/*
 * A full barrier.  ThreadSanitizer does not model fences (gcc warns), so
 * its builds use a sequentially consistent read-modify-write instead, which
 * is a full barrier on x86 and which it does understand.
 */
#if defined(__SANITIZE_THREAD__)
static _Atomic unsigned long waitq_fence_word;
static inline void full_barrier(void)
{
	atomic_fetch_add_explicit(&waitq_fence_word, 0, memory_order_seq_cst);
}
#elif defined(__x86_64__)
/* A locked add to the stack, as the kernel's smp_mb() on x86: a full
 * barrier for ordinary memory, cheaper than mfence. */
static inline void full_barrier(void)
{
	__asm__ __volatile__("lock; addl $0,-8(%%rsp)" ::: "memory", "cc");
}
#else
static inline void full_barrier(void)
{
	atomic_thread_fence(memory_order_seq_cst);
}
#endif

static long sys_futex(_Atomic uint32_t *uaddr, int op, uint32_t val)
{
	return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

static inline uint64_t hash_key(const void *obj, uint64_t key)
{
	uint64_t h = (uint64_t)(uintptr_t)obj ^ (key * 0x9e3779b97f4a7c15ULL);

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 32);
}

static inline struct wait_bucket *bucket_of(struct dax_waitq *wq,
					    const void *obj, uint64_t key)
{
	return &wq->buckets[hash_key(obj, key) & wq->mask];
}

int dax_waitq_new(unsigned nr_buckets, struct dax_waitq **wqp)
{
	struct dax_waitq *wq;
	unsigned n = 1;

	if (nr_buckets == 0 || nr_buckets > (1U << 20))
		return dax_fail(NULL, -EINVAL,
				"a wait table has 1 to 2^20 buckets, not %u",
				nr_buckets);
	while (n < nr_buckets)
		n <<= 1;
	wq = calloc(1, sizeof(*wq));
	if (!wq)
		return dax_fail(NULL, -ENOMEM, "no memory for a wait table");
	if (posix_memalign((void **)&wq->buckets, 64,
			   n * sizeof(*wq->buckets))) {
		free(wq);
		return dax_fail(NULL, -ENOMEM,
				"no memory for %u wait buckets", n);
	}
	for (unsigned i = 0; i < n; i++) {
		pthread_mutexattr_t attr;
		struct wait_bucket *b = &wq->buckets[i];

		pthread_mutexattr_init(&attr);
		pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
		pthread_mutex_init(&b->lock, &attr);
		pthread_mutexattr_destroy(&attr);
		atomic_init(&b->nr_waiters, 0);
		b->head = b->tail = NULL;
	}
	wq->mask = n - 1;
	*wqp = wq;
	return 0;
}

void dax_waitq_delete(struct dax_waitq **wqp)
{
	struct dax_waitq *wq = *wqp;

	if (!wq)
		return;
	for (unsigned i = 0; i <= wq->mask; i++)
		pthread_mutex_destroy(&wq->buckets[i].lock);
	free(wq->buckets);
	free(wq);
	*wqp = NULL;
}

unsigned dax_waitq_nr_buckets(const struct dax_waitq *wq)
{
	return wq->mask + 1;
}

static void bucket_unlink(struct wait_bucket *b, struct dax_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		b->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		b->tail = w->prev;
	w->queued = false;
	atomic_fetch_sub_explicit(&b->nr_waiters, 1, memory_order_relaxed);
}

void dax_waitq_prepare(struct dax_waitq *wq, struct dax_waiter *w,
		       const void *obj, uint64_t key)
{
	struct wait_bucket *b = bucket_of(wq, obj, key);

	w->obj = obj;
	w->key = key;
	w->next = NULL;
	atomic_store_explicit(&w->woken, 0, memory_order_relaxed);
	pthread_mutex_lock(&b->lock);
	w->prev = b->tail;
	if (b->tail)
		b->tail->next = w;
	else
		b->head = w;
	b->tail = w;
	w->queued = true;
	atomic_fetch_add_explicit(&b->nr_waiters, 1, memory_order_seq_cst);
	pthread_mutex_unlock(&b->lock);
	/* Pairs with the fence in dax_waitq_wake(): see the top of the file. */
	full_barrier();
}

void dax_waitq_sleep(struct dax_waitq *wq, struct dax_waiter *w)
{
	atomic_fetch_add_explicit(&wq->sleeps, 1, memory_order_relaxed);
	while (!atomic_load_explicit(&w->woken, memory_order_acquire)) {
		long ret = sys_futex(&w->woken, FUTEX_WAIT_PRIVATE, 0);

		if (ret == 0 || errno != EINTR)
			break;
	}
}

bool dax_waitq_finish(struct dax_waitq *wq, struct dax_waiter *w)
{
	struct wait_bucket *b = bucket_of(wq, w->obj, w->key);
	bool woken;

	pthread_mutex_lock(&b->lock);
	if (w->queued)
		bucket_unlink(b, w);
	woken = atomic_load_explicit(&w->woken, memory_order_relaxed);
	pthread_mutex_unlock(&b->lock);
	return woken;
}

static void wake_waiter(struct dax_waitq *wq, struct wait_bucket *b,
			struct dax_waiter *w)
{
	bucket_unlink(b, w);
	atomic_store_explicit(&w->woken, 1, memory_order_release);
	sys_futex(&w->woken, FUTEX_WAKE_PRIVATE, 1);
	atomic_fetch_add_explicit(&wq->wakes, 1, memory_order_relaxed);
}

static void bucket_wake(struct dax_waitq *wq, struct wait_bucket *b,
			const void *obj, uint64_t key, bool all)
{
	struct dax_waiter *w, *next;

	pthread_mutex_lock(&b->lock);
	for (w = b->head; w; w = next) {
		next = w->next;
		if (w->obj != obj ||
		    (key != DAX_WAITQ_ALL_KEYS && w->key != key))
			continue;
		wake_waiter(wq, b, w);
		if (!all)
			break;
	}
	pthread_mutex_unlock(&b->lock);
}

void dax_waitq_wake(struct dax_waitq *wq, const void *obj, uint64_t key,
		    bool all)
{
	struct wait_bucket *b;

	/* Pairs with the fence in dax_waitq_prepare(). */
	full_barrier();
	if (key == DAX_WAITQ_ALL_KEYS) {
		for (unsigned i = 0; i <= wq->mask; i++) {
			b = &wq->buckets[i];
			if (atomic_load_explicit(&b->nr_waiters,
						 memory_order_relaxed))
				bucket_wake(wq, b, obj, key, true);
		}
		return;
	}
	dax_waitq_wake_after_rmw(wq, obj, key, all);
}

/*
 * dax_waitq_wake() for a waker whose change of the condition was a
 * sequentially consistent read-modify-write (the entry locks' lock-free
 * unlock): that is already the barrier, so the waiter count is read with a
 * sequentially consistent load and no second barrier.  Either the waiter's
 * increment comes first in the single total order and the load sees it, or
 * the read-modify-write comes before the waiter's fence and the waiter's
 * re-read sees the new condition.
 */
void dax_waitq_wake_after_rmw(struct dax_waitq *wq, const void *obj,
			      uint64_t key, bool all)
{
	struct wait_bucket *b = bucket_of(wq, obj, key);

	if (likely(!atomic_load_explicit(&b->nr_waiters,
					 memory_order_seq_cst)))
		return;
	bucket_wake(wq, b, obj, key, all);
}

void dax_waitq_get_stats(struct dax_waitq *wq, struct dax_waitq_stats *st)
{
	st->sleeps = atomic_load_explicit(&wq->sleeps, memory_order_relaxed);
	st->wakes = atomic_load_explicit(&wq->wakes, memory_order_relaxed);
}
