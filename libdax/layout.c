// SPDX-License-Identifier: MIT
/*
 * Pins, leases, break-layouts, truncate and hole punch: the userspace
 * counterpart of the kernel's DMA-vs-truncate machinery (2018), where the
 * filesystem drains every pin of an inode before any operation that might
 * unmap extents (xfs_break_layouts, dax_layout_busy_page_range).
 *
 * Pins: a split count with an asymmetric barrier
 * ----------------------------------------------
 * A pin says "the blocks under this range must not be freed or reused".
 * Taking one must scale, so a mapping has PIN_NR_SLOTS counter pairs
 * (pins taken, pins dropped), each on its own cache line.  A thread owns
 * one slot index in every mapping (claimed on its first pin, given back at
 * thread exit); the owner alone writes its slot, with a plain load and
 * store, so the fast path has no locked instruction and touches no line
 * another thread writes.  Threads beyond PIN_NR_SLOTS - 1 share the last
 * slot and update it with atomic adds.  A pin counts in the slot of the
 * thread that takes it, an unpin in the slot of the thread that drops it:
 * the pins outstanding are sum(pins) - sum(unpins).
 *
 * The drain state is one flag per mapping (L->drain), read on every pin
 * and written only when a drain begins or ends.  A pin stores its count,
 * then reads the flag; a drainer stores the flag, then issues a heavy
 * barrier (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): every running
 * thread of the process executes a full fence), then reads the counts.
 * Either the pin read the flag after the barrier reached its CPU, and sees
 * DRAIN and backs out, or its count store came before that barrier and
 * the drainer sees it and waits.  There is no window in which a pin is
 * neither counted nor refused, which is the classic bug of a separate
 * "draining" flag read after the increment without ordering (here the
 * ordering is the compiler barrier on the pin side plus the heavy barrier
 * on the drain side: the light side of an asymmetric Dekker, as liburcu's
 * memb flavor does for its readers).  Where membarrier is missing, both
 * sides use a full fence instead (slower pins, same protocol).
 *
 * The drainer reads every slot's unpins before any slot's pins: a pin that
 * backs out decrements its own slot's pins, so reading in that order never
 * counts an undone pin's unpin without the pin, and the sum it reads is
 * never below the true number (it only ever waits too long, never too
 * little).
 *
 * A pin that saw DRAIN takes the slow path under the layout lock: if its
 * range overlaps the range being drained it waits for the drain to end (or
 * fails -EAGAIN with DAX_PIN_NOWAIT); otherwise it is counted as a "late"
 * pin under the lock, in late_new, which the current drain does not wait
 * for (it did not exist when the drain began).  When the drain ends,
 * late_new is folded into late_old, which the next drain waits for.  A pin
 * that finds the region dead (dax_region_kill(), or dax_region_revoke()
 * that woke it) fails -ENXIO and is not counted.
 *
 * Unpins that see DRAIN after their store take the layout lock and wake
 * the drainer; the whole unpin runs in an RCU read-side section, so that a
 * drainer which already saw the unpin, and an owner who then puts the
 * mapping, cannot free the layout under the wake-up (the mapping's memory
 * is freed after a grace period).
 *
 * Pin objects come from a per-thread cache (at most PIN_CACHE_MAX, freed
 * at thread exit), so the fast path does not call malloc.
 *
 * The region's lifetime: a pin does not enter the region.  It reads the
 * region's dead flag after its count store, as it reads DRAIN; a killed
 * region refuses it.  dax_region_close() releases the region's
 * DAX_REGION_SLOT_LAYOUT slot (installed by the first layout of one of
 * its mappings) before unmapping; that release closes the layout of every
 * live mapping of the region: it sets DRAIN for good, issues the heavy
 * barrier and waits for every pin, so memory reached through a pin stays
 * mapped until the unpin, and a pin of a mapping that outlived its region
 * fails -ENXIO without touching the freed region.
 *
 * The drain (one per mapping at a time, under L->change)
 * ------------------------------------------------------
 *   1. publish the range and set DRAIN (new pins in the range now wait);
 *   2. break the overlapping leases (an unbreakable one fails -ETXTBSY
 *      before step 1), giving each its break time before revoking it;
 *   3. wait until sum(pins) - sum(unpins) and late_old reach zero (and, on
 *      module regions, the kernel's pins of the range's pages), or time
 *      out: -ETIMEDOUT, DRAIN cleared, nothing changed;
 *   4. (truncate, punch) block fills of new entries in the range, change
 *      the size, zero the tails of partial pages, erase the entries under
 *      their locks, free their blocks after an RCU grace period;
 *   5. clear DRAIN, wake the waiters.
 *
 * Leases
 * ------
 * A lease is a long-lived claim on a range (an RDMA registration, say).
 * Breaking it calls the engine's lease_break op; the holder is expected to
 * release it within the mapping's break time, after which it is revoked
 * (taken off the mapping; dax_lease_is_revoked() tells the holder).  An
 * unbreakable lease makes the layout change fail with -ETXTBSY at once.
 * Leases are rare, so they live on a list under the layout lock.
 */
#include <libpmem2.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define PIN_NR_SLOTS 64
#define PIN_SHARED_SLOT (PIN_NR_SLOTS - 1)	/* threads without their own */
#define PIN_CACHE_MAX 32
#define PIN_ALL_FLAGS DAX_PIN_NOWAIT
#define LEASE_ALL_FLAGS (DAX_LEASE_UNBREAKABLE | DAX_LEASE_NOWAIT)
#define LAYOUT_DEFAULT_BREAK_MS 45000
#define LAYOUT_DEFAULT_DRAIN_MS 90000

/* Written by its owner thread only (or by atomic adds: the shared slot). */
struct pin_slot {
	_Atomic uint64_t pins, unpins;
} __attribute__((aligned(64)));

enum lease_state { LEASE_ACTIVE, LEASE_BREAKING, LEASE_REVOKED };

struct dax_lease {
	struct dax_layout *L;
	struct dax_lease *next;
	uint64_t start, last;
	unsigned flags;
	enum lease_state state;
	uint64_t break_deadline_ns;
	unsigned refs;			/* the holder's, and a breaker's */
};

/* One cache line each, so that two threads' pins never share one. */
struct dax_pin {
	struct dax_mapping *m;
	struct dax_layout *L;		/* m's, saving the unpin a load */
	uint64_t start, last;
	uint64_t gen;			/* late pins: the drain they came in */
	struct dax_pin *next;		/* in a thread's cache */
	bool late;
} __attribute__((aligned(64)));

struct dax_layout {
	/* read by every pin and unpin, written when a drain begins or ends */
	_Atomic bool drain __attribute__((aligned(64)));
	struct pin_slot slot[PIN_NR_SLOTS];
	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t cond;		/* drain progress, drain end, leases */
	pthread_mutex_t change;		/* one layout change at a time */
	bool draining;
	bool gone;			/* the region was closed: DRAIN for good */
	uint64_t drain_start, drain_last;
	uint64_t gen;			/* drains begun */
	uint64_t late_old, late_new;
	_Atomic bool fill_block;	/* fills in the drain range wait */
	struct dax_lease *leases;
	int break_ms;
	int drain_ms;
	void (*drained_hook)(void *arg);	/* tests: run once drained */
	void *drained_arg;
};

/* ---- the asymmetric barrier ------------------------------------------------ */

static pthread_once_t pin_once = PTHREAD_ONCE_INIT;
static bool pin_fenced;		/* no membarrier: full fences on both sides */
static pthread_key_t pin_key;

static void pin_thread_exit(void *arg);

static void pin_init(void)
{
	long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	pin_fenced = cmds < 0 ||
		     !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) ||
		     syscall(__NR_membarrier,
			     MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
	pthread_key_create(&pin_key, pin_thread_exit);
}

/* A full fence (ThreadSanitizer does not model fences: there, a seq_cst
 * read-modify-write, which is one on x86 and which it does model). */
static inline void full_fence(void)
{
#if defined(__SANITIZE_THREAD__)
	static _Atomic int fence_word;

	atomic_fetch_add_explicit(&fence_word, 0, memory_order_seq_cst);
#else
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* Tests: run the fallback (fences on both sides) as where membarrier is
 * missing.  Only with no pin call and no layout change in flight. */
bool dax_layout_set_fenced(bool fenced)
{
	bool old;

	pthread_once(&pin_once, pin_init);
	old = pin_fenced;
	pin_fenced = fenced;
	return old;
}

/* The pin side: order the count store before the flag load. */
static inline void pin_light_barrier(void)
{
	if (unlikely(pin_fenced))
		full_fence();
	else
		atomic_signal_fence(memory_order_seq_cst);
}

/* The drain side: every thread's earlier stores are visible after it,
 * and every thread's later loads see the stores made before it. */
static void pin_heavy_barrier(void)
{
	full_fence();
	if (!pin_fenced &&
	    syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))
		abort();	/* registered in pin_init(): cannot fail */
	full_fence();
}

/* ---- per-thread state: a slot index and a cache of pin objects ------------- */

/* Bit i: slot i is owned by a live thread (the shared slot never is). */
static _Atomic uint64_t pin_slots_owned;

struct pin_thread {
	struct dax_pin *cache;
	unsigned nr_cached;
	unsigned slot;
	bool owned;			/* slot is this thread's alone */
	bool ready;			/* slot chosen, exit destructor set */
	bool exited;			/* after the destructor: cache nothing */
};

static __thread struct pin_thread pin_tls
	__attribute__((tls_model("initial-exec")));

static void pin_thread_exit(void *arg)
{
	struct pin_thread *t = arg;

	while (t->cache) {
		struct dax_pin *p = t->cache;

		t->cache = p->next;
		free(p);
	}
	t->nr_cached = 0;
	if (t->owned)
		atomic_fetch_and_explicit(&pin_slots_owned,
					  ~(UINT64_C(1) << t->slot),
					  memory_order_release);
	t->owned = false;
	t->slot = PIN_SHARED_SLOT;
	t->exited = true;
}

/* The main thread runs no key destructor: free its cache at exit. */
__attribute__((destructor)) static void pin_process_exit(void)
{
	if (pin_tls.ready && !pin_tls.exited)
		pin_thread_exit(&pin_tls);
}

static __attribute__((noinline)) void pin_thread_init(struct pin_thread *t)
{
	uint64_t v;

	pthread_once(&pin_once, pin_init);
	t->slot = PIN_SHARED_SLOT;
	t->owned = false;
	t->ready = true;
	if (t->exited)
		return;		/* a pin from another key's destructor */
	if (pthread_setspecific(pin_key, t)) {
		t->exited = true;	/* no exit hook: no cache, no own slot */
		return;
	}
	v = atomic_load_explicit(&pin_slots_owned, memory_order_relaxed);
	for (;;) {
		uint64_t free_bits = ~v & ((UINT64_C(1) << PIN_SHARED_SLOT) - 1);
		unsigned i;

		if (!free_bits)
			return;		/* all taken: share the last slot */
		i = (unsigned)__builtin_ctzll(free_bits);
		if (atomic_compare_exchange_weak_explicit(
			    &pin_slots_owned, &v, v | (UINT64_C(1) << i),
			    memory_order_acquire, memory_order_relaxed)) {
			t->slot = i;
			t->owned = true;
			return;
		}
	}
}

static inline struct pin_thread *pin_thread(void)
{
	struct pin_thread *t = &pin_tls;

	if (unlikely(!t->ready))
		pin_thread_init(t);
	return t;
}

/* Add @d to a count of this thread's slot. */
static inline void slot_add(const struct pin_thread *t, _Atomic uint64_t *c,
			    int64_t d, memory_order mo)
{
	if (likely(t->owned))
		atomic_store_explicit(c, atomic_load_explicit(
					      c, memory_order_relaxed) +
					      (uint64_t)d, mo);
	else
		atomic_fetch_add_explicit(c, (uint64_t)d, mo);
}

static inline struct dax_pin *pin_obj_get(struct pin_thread *t)
{
	struct dax_pin *p = t->cache;

	if (likely(p)) {
		t->cache = p->next;
		t->nr_cached--;
		return p;
	}
	return aligned_alloc(64, sizeof(*p));
}

static inline void pin_obj_put(struct pin_thread *t, struct dax_pin *p)
{
	if (likely(t->nr_cached < PIN_CACHE_MAX && !t->exited)) {
		p->next = t->cache;
		t->cache = p;
		t->nr_cached++;
		return;
	}
	free(p);
}

/* ---- the per-mapping state ------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void deadline_ts(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
}

/* ms < 0: forever (UINT64_MAX). */
static uint64_t deadline_after(int ms)
{
	return ms < 0 ? UINT64_MAX : now_ns() + (uint64_t)ms * 1000000u;
}

static void layout_wait_until(struct dax_layout *L, uint64_t deadline)
{
	struct timespec ts;

	if (deadline == UINT64_MAX) {
		pthread_cond_wait(&L->cond, &L->lock);
		return;
	}
	deadline_ts(deadline, &ts);
	pthread_cond_timedwait(&L->cond, &L->lock, &ts);
}

void dax_layout_free(struct dax_layout *L)
{
	if (!L)
		return;
	pthread_mutex_destroy(&L->lock);
	pthread_cond_destroy(&L->cond);
	pthread_mutex_destroy(&L->change);
	free(L);
}

static void layout_region_release(void *region);

/*
 * The mapping's layout state, made on first use: NULL only on -ENOMEM.
 * The first layout of a region's mapping installs the region's layout
 * slot, whose release at close waits for the pins (see the top).  A
 * mapping that outlived its region gets a layout that is gone already.
 */
static struct dax_layout *layout_new(struct dax_mapping *m, bool install)
{
	struct dax_layout *L, *expected = NULL;
	pthread_condattr_t ca;

	pthread_once(&pin_once, pin_init);
	if (posix_memalign((void **)&L, 64, sizeof(*L))) {
		dax_fail(NULL, -ENOMEM, "no memory for the layout state");
		return NULL;
	}
	memset(L, 0, sizeof(*L));
	pthread_mutex_init(&L->lock, NULL);
	pthread_mutex_init(&L->change, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&L->cond, &ca);
	pthread_condattr_destroy(&ca);
	L->break_ms = LAYOUT_DEFAULT_BREAK_MS;
	L->drain_ms = LAYOUT_DEFAULT_DRAIN_MS;
	if (m->region && m->rmap && !dax_rmap_region_open(m->rmap)) {
		L->gone = L->draining = true;
		L->drain_last = DAX_MAPPING_MAX_INDEX;
		atomic_store_explicit(&L->drain, true, memory_order_relaxed);
	} else if (m->region && install) {
		dax_region_slot_install(m->region, DAX_REGION_SLOT_LAYOUT,
					m->region, layout_region_release);
	}
	if (!atomic_compare_exchange_strong_explicit(&m->layout, &expected, L,
						     memory_order_acq_rel,
						     memory_order_acquire)) {
		dax_layout_free(L);
		L = expected;
	}
	return L;
}

static inline struct dax_layout *layout_get(struct dax_mapping *m)
{
	struct dax_layout *L = atomic_load_explicit(&m->layout,
						    memory_order_acquire);

	return likely(L) ? L : layout_new(m, true);
}

static inline bool overlaps(uint64_t s1, uint64_t l1, uint64_t s2,
			    uint64_t l2)
{
	return s1 <= l2 && s2 <= l1;
}

/* Under L->lock (or after a counted pin): the region refuses new pins. */
static bool layout_dead(struct dax_mapping *m, struct dax_layout *L)
{
	return L->gone || (m->region && !dax_region_is_alive(m->region));
}

/* ---- pins ------------------------------------------------------------------ */

static int pin_dead_fail(const struct dax_pin *p, const char *when)
{
	return dax_fail(NULL, -ENXIO,
			"pin of [0x%llx, 0x%llx]: the region is dead%s",
			(unsigned long long)p->start,
			(unsigned long long)p->last, when);
}

/* The pin saw DRAIN or a dead region (and backed out).  Return: 0 (a late
 * pin is held), 1 (retry the fast path), -EAGAIN or -ENXIO. */
static int pin_slow(struct dax_mapping *m, struct dax_layout *L,
		    struct dax_pin *p, unsigned flags)
{
	bool waited = false;
	int ret = 1;

	pthread_mutex_lock(&L->lock);
	pthread_cond_broadcast(&L->cond);	/* our transient count is gone */
	for (;;) {
		if (layout_dead(m, L)) {
			ret = pin_dead_fail(p, waited ? " (killed or revoked "
					    "while the pin waited for a drain)" :
					    "");
			break;
		}
		if (!L->draining)
			break;
		if (!overlaps(p->start, p->last, L->drain_start,
			      L->drain_last)) {
			p->late = true;
			p->gen = L->gen;
			L->late_new++;
			ret = 0;
			break;
		}
		if (flags & DAX_PIN_NOWAIT) {
			ret = dax_fail(NULL, -EAGAIN,
				       "pin of [0x%llx, 0x%llx]: a layout change "
				       "of [0x%llx, 0x%llx] is draining pins",
				       (unsigned long long)p->start,
				       (unsigned long long)p->last,
				       (unsigned long long)L->drain_start,
				       (unsigned long long)L->drain_last);
			break;
		}
		pthread_cond_wait(&L->cond, &L->lock);
		waited = true;
	}
	pthread_mutex_unlock(&L->lock);
	return ret;
}

/**
 * dax_pin_range() - keep the blocks under a range from being freed
 * @mapping: the mapping
 * @start: first page index
 * @last: last page index (inclusive)
 * @flags: 0 or DAX_PIN_NOWAIT
 * @pin: receives the pin (dax_unpin() ends it)
 *
 * While the pin is held no truncate, hole punch or break-layouts of the
 * mapping completes: they wait for it (see the top of this file).  A pin on
 * a range being drained waits for the drain to end, or fails -EAGAIN with
 * DAX_PIN_NOWAIT; one whose region is killed or revoked meanwhile fails
 * -ENXIO.  Pointers from dax_fault() of indices in the range, taken after
 * the pin, stay valid until dax_unpin().
 *
 * Context: any thread; may sleep (only while a drain of the range runs).
 * The mapping must outlive the pin.  The fast path takes no lock, makes
 * no locked instruction and no allocation.
 * Return: 0; -EINVAL; -EAGAIN; -ENXIO (mapping or region dead); -ENOMEM.
 */
DAX_EXPORT int dax_pin_range(struct dax_mapping *mapping, uint64_t start,
			     uint64_t last, unsigned flags,
			     struct dax_pin **pin)
{
	struct pin_thread *t;
	struct dax_layout *L;
	struct pin_slot *s;
	struct dax_pin *p;
	int ret;

	if (unlikely(!mapping || !pin || start > last ||
		     last > DAX_MAPPING_MAX_INDEX || (flags & ~PIN_ALL_FLAGS))) {
		if (pin)
			*pin = NULL;
		return dax_fail(NULL, -EINVAL,
				!mapping ? "dax_pin_range: mapping is NULL" :
				!pin ? "dax_pin_range: pin is NULL" :
				(flags & ~PIN_ALL_FLAGS) ?
				"dax_pin_range: unknown flags" :
				"dax_pin_range: bad range [0x%llx, 0x%llx]",
				(unsigned long long)start,
				(unsigned long long)last);
	}
	*pin = NULL;
	L = layout_get(mapping);
	if (unlikely(!L))
		return -ENOMEM;
	if (unlikely(atomic_load_explicit(&mapping->dead,
					  memory_order_relaxed)))
		return dax_fail(NULL, -ENXIO, "dax_pin_range: the mapping is "
				"dead");
	t = pin_thread();
	p = pin_obj_get(t);
	if (unlikely(!p))
		return dax_fail(NULL, -ENOMEM, "no memory for a pin");
	p->m = mapping;
	p->L = L;
	p->start = start;
	p->last = last;
	p->late = false;
	s = &L->slot[t->slot];
	for (;;) {
		slot_add(t, &s->pins, 1, memory_order_relaxed);
		pin_light_barrier();
		if (likely(!atomic_load_explicit(&L->drain,
						 memory_order_relaxed))) {
			if (likely(!mapping->region ||
				   dax_region_is_alive(mapping->region)))
				break;
		}
		/* Back out (the drainer reads unpins first: see the top). */
		slot_add(t, &s->pins, -1, memory_order_release);
		ret = pin_slow(mapping, L, p, flags);
		if (ret == 0)
			break;
		if (ret < 0) {
			pin_obj_put(t, p);
			return ret;
		}
	}
	dax_publish_pin(mapping, 1);
	*pin = p;
	return 0;
}

/**
 * dax_unpin() - end a pin
 * @pin: the pin; set to NULL.  NULL or *@pin NULL does nothing.
 *
 * Context: any thread (not necessarily the one that pinned); never sleeps
 * for long (it takes the layout lock only while a drain runs).
 * Return: 0.
 */
DAX_EXPORT int dax_unpin(struct dax_pin **pin)
{
	struct pin_thread *t;
	struct dax_layout *L;
	struct dax_pin *p;

	if (!pin || !*pin)
		return 0;
	p = *pin;
	*pin = NULL;
	t = pin_thread();
	L = p->L;
	if (likely(!p->late)) {
		dax_rcu_read_lock();
		slot_add(t, &L->slot[t->slot].unpins, 1, memory_order_release);
		pin_light_barrier();
		if (unlikely(atomic_load_explicit(&L->drain,
						  memory_order_relaxed))) {
			pthread_mutex_lock(&L->lock);
			pthread_cond_broadcast(&L->cond);
			pthread_mutex_unlock(&L->lock);
		}
		dax_rcu_read_unlock();
	} else {
		pthread_mutex_lock(&L->lock);
		if (L->draining && p->gen == L->gen)
			L->late_new--;
		else
			L->late_old--;
		pthread_cond_broadcast(&L->cond);
		pthread_mutex_unlock(&L->lock);
	}
	dax_publish_pin(p->m, -1);
	pin_obj_put(t, p);
	return 0;
}

/**
 * dax_pin_fault() - pin, then fault: a pointer that cannot go away
 * @mapping: the mapping
 * @index: the page index to fault
 * @flags: dax_fault() flags (DAX_FAULT_WRITE, DAX_FAULT_LOCK, sizes)
 * @ext: receives what dax_fault() returns
 * @pin: receives the pin (dax_unpin() ends it); NULL on failure
 *
 * The order matters: a pin taken first is counted by any layout change
 * that starts later (which then waits for it), or waits for one already
 * draining, after which the fault sees the new layout.  A fault first
 * and a pin second could hand out a block a truncate frees in between.
 * The pin covers the naturally aligned range the fault may return: one
 * page, or 512 or 262144 pages with DAX_FAULT_SIZE_2M or _1G.
 *
 * Context: as dax_pin_range() (may sleep while a drain of the range runs)
 * and dax_fault().  The mapping must outlive the pin.
 * Return: 0; an error of dax_pin_range() or of dax_fault(), after which
 * no pin is held.
 */
DAX_EXPORT int dax_pin_fault(struct dax_mapping *mapping, uint64_t index,
			     unsigned flags, struct dax_fault_ext *ext,
			     struct dax_pin **pin)
{
	unsigned order = flags & DAX_FAULT_SIZE_1G ? 18 :
			 flags & DAX_FAULT_SIZE_2M ? 9 : 0;
	uint64_t start, last;
	struct dax_pin *p;
	int ret;

	if (!pin || !ext || index > DAX_MAPPING_MAX_INDEX) {
		if (pin)
			*pin = NULL;
		return dax_fail(NULL, -EINVAL, "dax_pin_fault: %s",
				!pin ? "pin is NULL" : !ext ? "ext is NULL" :
				"index above DAX_MAPPING_MAX_INDEX");
	}
	start = index & ~((UINT64_C(1) << order) - 1);
	last = start + (UINT64_C(1) << order) - 1;
	if (last > DAX_MAPPING_MAX_INDEX)
		last = DAX_MAPPING_MAX_INDEX;
	ret = dax_pin_range(mapping, start, last, 0, &p);
	if (ret) {
		*pin = NULL;
		return ret;
	}
	ret = dax_fault(mapping, index, flags, ext);
	if (ret) {
		dax_unpin(&p);	/* keeps the fault's message */
		*pin = NULL;
		return ret;
	}
	*pin = p;
	return 0;
}

/* ---- draining -------------------------------------------------------------- */

static void drain_begin(struct dax_layout *L, uint64_t start, uint64_t last)
{
	pthread_mutex_lock(&L->lock);
	L->draining = true;
	L->drain_start = start;
	L->drain_last = last;
	pthread_mutex_unlock(&L->lock);
	atomic_store_explicit(&L->drain, true, memory_order_seq_cst);
	pin_heavy_barrier();
}

static void drain_end(struct dax_layout *L)
{
	atomic_store_explicit(&L->fill_block, false, memory_order_seq_cst);
	pthread_mutex_lock(&L->lock);
	if (!L->gone) {
		atomic_store_explicit(&L->drain, false, memory_order_release);
		L->draining = false;
	}
	L->late_old += L->late_new;
	L->late_new = 0;
	L->gen++;
	pthread_cond_broadcast(&L->cond);
	pthread_mutex_unlock(&L->lock);
}

/*
 * Under L->lock, after drain_begin(): the pins the drain waits for.  All
 * unpins are read before any pin (see the top): the result is never below
 * the true number.
 */
static uint64_t pins_outstanding(struct dax_layout *L)
{
	uint64_t pins = 0, unpins = 0;

	for (unsigned i = 0; i < PIN_NR_SLOTS; i++)
		unpins += atomic_load_explicit(&L->slot[i].unpins,
					       memory_order_acquire);
	/* (acquire loads: no pin is read before the unpins above) */
	for (unsigned i = 0; i < PIN_NR_SLOTS; i++)
		pins += atomic_load_explicit(&L->slot[i].pins,
					     memory_order_acquire);
	return pins - unpins + L->late_old;
}

struct busy_walk {
	struct dax_region *r;
	uint64_t busy;
};

static int busy_entry(void *priv, uint64_t first, unsigned order,
		      uint64_t value)
{
	struct busy_walk *w = priv;
	uint64_t n = 0;

	(void)first;
	if (dax_entry_is_real(value) &&
	    dax_region_count_busy(w->r, dax_entry_pfn(value) << DAX_PAGE_SHIFT,
				  DAX_PAGE_SIZE << order, &n) == 0)
		w->busy += n;
	return 0;
}

/* Pages of the range the kernel holds (module regions; 0 elsewhere). */
static uint64_t kernel_busy(struct dax_mapping *m, uint64_t start,
			    uint64_t last)
{
	struct busy_walk w = { .r = m->region };

	if (!m->region ||
	    dax_region_get_kind(m->region) != DAX_REGION_KIND_MODULE)
		return 0;
	dax_tree_walk(m->tree, start, last, DAX_TREE_PRESENT, busy_entry, &w);
	return w.busy;
}

static int drain_wait(struct dax_mapping *m, struct dax_layout *L,
		      uint64_t start, uint64_t last, uint64_t deadline)
{
	uint64_t n;

	pthread_mutex_lock(&L->lock);
	while ((n = pins_outstanding(L)) != 0) {
		if (now_ns() >= deadline) {
			pthread_mutex_unlock(&L->lock);
			return dax_fail(NULL, -ETIMEDOUT,
					"layout change of [0x%llx, 0x%llx]: "
					"%llu pin(s) still held at the timeout",
					(unsigned long long)start,
					(unsigned long long)last,
					(unsigned long long)n);
		}
		layout_wait_until(L, deadline);
	}
	pthread_mutex_unlock(&L->lock);
	while (kernel_busy(m, start, last)) {
		if (now_ns() >= deadline)
			return dax_fail(NULL, -ETIMEDOUT,
					"layout change of [0x%llx, 0x%llx]: "
					"the kernel still holds pages of it",
					(unsigned long long)start,
					(unsigned long long)last);
		usleep(1000);
	}
	return 0;
}

/* ---- leases ----------------------------------------------------------------- */

static void lease_unlink(struct dax_layout *L, struct dax_lease *l)
{
	for (struct dax_lease **pp = &L->leases; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			l->next = NULL;
			return;
		}
	}
}

/* Under L->lock: drop a reference. */
static void lease_put_locked(struct dax_lease *l)
{
	if (--l->refs == 0)
		free(l);
}

/* Under L->lock: an unbreakable lease overlapping the range, if any. */
static struct dax_lease *lease_unbreakable(struct dax_layout *L,
					   uint64_t start, uint64_t last)
{
	for (struct dax_lease *l = L->leases; l; l = l->next)
		if ((l->flags & DAX_LEASE_UNBREAKABLE) &&
		    overlaps(l->start, l->last, start, last))
			return l;
	return NULL;
}

/*
 * Break the leases overlapping [start, last]: tell each holder (lease_break
 * op, outside the lock), then wait until they are released or their break
 * time ran out (revoked).  -ETIMEDOUT when @deadline comes first.
 */
static int leases_break(struct dax_mapping *m, struct dax_layout *L,
			uint64_t start, uint64_t last, uint64_t deadline)
{
	const struct dax_mapping_ops *ops = m->ops;

	pthread_mutex_lock(&L->lock);
	for (;;) {
		struct dax_lease *tell = NULL;
		uint64_t wake = deadline, now = now_ns();
		bool any = false;

		for (struct dax_lease *l = L->leases, *next; l; l = next) {
			next = l->next;
			if (!overlaps(l->start, l->last, start, last))
				continue;
			if (l->state == LEASE_ACTIVE) {
				l->state = LEASE_BREAKING;
				l->break_deadline_ns = deadline_after(
					L->break_ms);
				tell = l;
				break;
			}
			if (now >= l->break_deadline_ns) {
				l->state = LEASE_REVOKED;
				lease_unlink(L, l);
				lease_put_locked(l);	/* the list's */
				continue;
			}
			any = true;
			if (l->break_deadline_ns < wake)
				wake = l->break_deadline_ns;
		}
		if (tell) {
			tell->refs++;
			pthread_mutex_unlock(&L->lock);
			if (ops && ops->lease_break)
				ops->lease_break(m, m->priv, tell, start, last);
			pthread_mutex_lock(&L->lock);
			lease_put_locked(tell);
			continue;
		}
		if (!any)
			break;
		if (now >= deadline) {
			pthread_mutex_unlock(&L->lock);
			return dax_fail(NULL, -ETIMEDOUT,
					"layout change of [0x%llx, 0x%llx]: a "
					"lease was not released in time",
					(unsigned long long)start,
					(unsigned long long)last);
		}
		layout_wait_until(L, wake);
	}
	pthread_mutex_unlock(&L->lock);
	return 0;
}

/**
 * dax_lease_take() - a long-lived claim on a range, with a break callback
 * @mapping: the mapping
 * @start: first page index
 * @last: last page index (inclusive)
 * @flags: DAX_LEASE_UNBREAKABLE, DAX_LEASE_NOWAIT
 * @lease: receives the lease (dax_lease_release() ends it)
 *
 * Context: any thread; may sleep while a layout change of the range runs
 * (unless DAX_LEASE_NOWAIT).
 * Return: 0; -EINVAL; -EAGAIN; -ENXIO; -ENOMEM.
 */
DAX_EXPORT int dax_lease_take(struct dax_mapping *mapping, uint64_t start,
			      uint64_t last, unsigned flags,
			      struct dax_lease **lease)
{
	struct dax_layout *L;
	struct dax_lease *l;

	if (!mapping || !lease || start > last ||
	    last > DAX_MAPPING_MAX_INDEX || (flags & ~LEASE_ALL_FLAGS)) {
		if (lease)
			*lease = NULL;
		return dax_fail(NULL, -EINVAL, "dax_lease_take: %s",
				!mapping ? "mapping is NULL" :
				!lease ? "lease is NULL" :
				(flags & ~LEASE_ALL_FLAGS) ? "unknown flags" :
				"bad range");
	}
	*lease = NULL;
	L = layout_get(mapping);
	if (!L)
		return -ENOMEM;
	if (!dax_mapping_is_alive(mapping))
		return dax_fail(NULL, -ENXIO, "dax_lease_take: the mapping is "
				"dead");
	l = calloc(1, sizeof(*l));
	if (!l)
		return dax_fail(NULL, -ENOMEM, "no memory for a lease");
	l->L = L;
	l->start = start;
	l->last = last;
	l->flags = flags;
	l->refs = 2;		/* the holder's and the list's */
	pthread_mutex_lock(&L->lock);
	while (L->draining && overlaps(start, last, L->drain_start,
				       L->drain_last)) {
		if (L->gone) {
			pthread_mutex_unlock(&L->lock);
			free(l);
			return dax_fail(NULL, -ENXIO, "dax_lease_take: the "
					"region is closed");
		}
		if (flags & DAX_LEASE_NOWAIT) {
			pthread_mutex_unlock(&L->lock);
			free(l);
			return dax_fail(NULL, -EAGAIN, "dax_lease_take: a "
					"layout change of the range runs");
		}
		pthread_cond_wait(&L->cond, &L->lock);
	}
	l->next = L->leases;
	L->leases = l;
	pthread_mutex_unlock(&L->lock);
	dax_publish_lease(mapping, l, 1);
	*lease = l;
	return 0;
}

/**
 * dax_lease_release() - give a lease back (also one that was revoked)
 * @lease: the lease; set to NULL.  NULL or *@lease NULL does nothing.
 *
 * Context: any thread, also from inside the lease_break op.
 * Return: 0.
 */
DAX_EXPORT int dax_lease_release(struct dax_lease **lease)
{
	struct dax_lease *l;
	struct dax_layout *L;
	unsigned drop;

	if (!lease || !*lease)
		return 0;
	l = *lease;
	*lease = NULL;
	dax_publish_lease(NULL, l, -1);
	L = l->L;
	pthread_mutex_lock(&L->lock);
	drop = 1;			/* the holder's */
	if (l->state != LEASE_REVOKED) {
		l->state = LEASE_REVOKED;
		lease_unlink(L, l);
		drop = 2;		/* and the list's */
	}
	l->refs -= drop;
	if (l->refs == 0)
		free(l);
	pthread_cond_broadcast(&L->cond);
	pthread_mutex_unlock(&L->lock);
	return 0;
}

/**
 * dax_lease_is_revoked() - was the lease taken away (or released)?
 * @lease: the lease
 *
 * Context: any thread.
 * Return: true once a layout change revoked it after its break time.
 */
DAX_EXPORT bool dax_lease_is_revoked(const struct dax_lease *lease)
{
	struct dax_layout *L;
	bool r;

	if (!lease)
		return true;
	L = lease->L;
	pthread_mutex_lock(&L->lock);
	r = lease->state == LEASE_REVOKED;
	pthread_mutex_unlock(&L->lock);
	return r;
}

/**
 * dax_mapping_set_layout_times() - how long layout changes wait
 * @mapping: the mapping
 * @break_ms: a broken lease's time to go before it is revoked (default
 *	45000, like the kernel's lease-break-time); -1 keeps the current
 * @drain_ms: how long dax_truncate() and dax_punch_hole() wait for leases
 *	and pins (default 90000; -1 keeps the current; 0 means no waiting)
 *
 * Context: any thread.
 * Return: 0; -EINVAL; -ENOMEM.
 */
DAX_EXPORT int dax_mapping_set_layout_times(struct dax_mapping *mapping,
					    int break_ms, int drain_ms)
{
	struct dax_layout *L;

	if (!mapping || break_ms < -1 || drain_ms < -1)
		return dax_fail(NULL, -EINVAL, "dax_mapping_set_layout_times: "
				"%s", !mapping ? "mapping is NULL" :
				"a negative time other than -1");
	L = layout_get(mapping);
	if (!L)
		return -ENOMEM;
	pthread_mutex_lock(&L->lock);
	if (break_ms >= 0)
		L->break_ms = break_ms;
	if (drain_ms >= 0)
		L->drain_ms = drain_ms;
	pthread_mutex_unlock(&L->lock);
	return 0;
}

/* ---- break layouts, truncate, punch hole --------------------------------------- */

/* Steps 1-3 of the protocol; on failure the drain is ended again. */
static int layout_break(struct dax_mapping *m, struct dax_layout *L,
			uint64_t start, uint64_t last, uint64_t deadline,
			bool force)
{
	int ret;

	pthread_mutex_lock(&L->lock);
	if (L->gone) {
		pthread_mutex_unlock(&L->lock);
		return dax_fail(NULL, -ENXIO, "layout change of [0x%llx, "
				"0x%llx]: the region is closed",
				(unsigned long long)start,
				(unsigned long long)last);
	}
	if (!force && lease_unbreakable(L, start, last)) {
		pthread_mutex_unlock(&L->lock);
		return dax_fail(NULL, -ETXTBSY,
				"layout change of [0x%llx, 0x%llx]: an "
				"unbreakable lease covers part of it",
				(unsigned long long)start,
				(unsigned long long)last);
	}
	pthread_mutex_unlock(&L->lock);
	drain_begin(L, start, last);
	ret = leases_break(m, L, start, last, deadline);
	if (!ret)
		ret = drain_wait(m, L, start, last, deadline);
	if (ret) {
		drain_end(L);
		return ret;
	}
	if (L->drained_hook)
		L->drained_hook(L->drained_arg);
	return 0;
}

int dax_layout_set_drained_hook(struct dax_mapping *mapping,
				void (*fn)(void *arg), void *arg)
{
	struct dax_layout *L = layout_get(mapping);

	if (!L)
		return -ENOMEM;
	pthread_mutex_lock(&L->change);
	L->drained_hook = fn;
	L->drained_arg = arg;
	pthread_mutex_unlock(&L->change);
	return 0;
}

/**
 * dax_break_layouts() - break leases on a range and drain every pin
 * @mapping: the mapping
 * @start: first page index
 * @last: last page index (inclusive)
 * @timeout_ms: how long to wait in all (-1: forever)
 *
 * Context: any thread; sleeps.  Calls the lease_break op.
 * Return: 0; -EINVAL; -ETXTBSY (an unbreakable lease); -ETIMEDOUT (nothing
 * changed, but leases told to break stay breaking); -ENXIO (the region was
 * closed); -ENOMEM.
 */
DAX_EXPORT int dax_break_layouts(struct dax_mapping *mapping, uint64_t start,
				 uint64_t last, int timeout_ms)
{
	struct dax_layout *L;
	int ret;

	if (!mapping || start > last || timeout_ms < -1)
		return dax_fail(NULL, -EINVAL, "dax_break_layouts: %s",
				!mapping ? "mapping is NULL" :
				start > last ? "start after last" :
				"bad timeout");
	L = layout_get(mapping);
	if (!L)
		return -ENOMEM;
	pthread_mutex_lock(&L->change);
	ret = layout_break(mapping, L, start, last, deadline_after(timeout_ms),
			   false);
	if (!ret)
		drain_end(L);
	pthread_mutex_unlock(&L->change);
	return ret;
}

/*
 * The fault path's hook: must a fill of the entry [@first, @last] wait (a
 * truncate or punch is erasing part of it)?  Called with the entry locked,
 * after a full
 * barrier, so that either the eraser sees the entry or this sees the block.
 */
bool dax_layout_fill_blocked(struct dax_mapping *m, uint64_t first,
			     uint64_t last)
{
	struct dax_layout *L = atomic_load_explicit(&m->layout,
						    memory_order_acquire);
	bool blocked;

	if (!L)
		return false;
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&L->fill_block, memory_order_seq_cst))
		return false;
	pthread_mutex_lock(&L->lock);
	blocked = L->draining &&
		  overlaps(first, last, L->drain_start, L->drain_last);
	pthread_mutex_unlock(&L->lock);
	return blocked;
}

/* Wait until the erasing layout change is over (no entry lock held). */
void dax_layout_fill_wait(struct dax_mapping *m, uint64_t index)
{
	struct dax_layout *L = atomic_load_explicit(&m->layout,
						    memory_order_acquire);

	pthread_mutex_lock(&L->lock);
	(void)index;
	while (L->draining && atomic_load(&L->fill_block))
		pthread_cond_wait(&L->cond, &L->lock);
	pthread_mutex_unlock(&L->lock);
}

/*
 * The built-in allocator's pages of the erased entries, given back after
 * one grace period as ranges: an entry split by an earlier truncate covers
 * part of an allocator block (or what is left of it), so pages are freed
 * by range, never by the entry's order.
 */
struct part_free {
	uint64_t pfn, n;
};

struct erase_ctx {
	struct dax_mapping *m;
	uint64_t start, last;
	struct part_free *parts;
	unsigned nr_parts, cap_parts;
	int err;
};

static int part_add(struct erase_ctx *c, uint64_t pfn, uint64_t n)
{
	struct part_free *prev = c->nr_parts ? &c->parts[c->nr_parts - 1] :
					       NULL;

	if (prev && prev->pfn + prev->n == pfn) {
		prev->n += n;
		return 0;
	}
	if (c->nr_parts == c->cap_parts) {
		unsigned cap = c->cap_parts ? 2 * c->cap_parts : 8;
		struct part_free *p = realloc(c->parts, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->parts = p;
		c->cap_parts = cap;
	}
	c->parts[c->nr_parts].pfn = pfn;
	c->parts[c->nr_parts].n = n;
	c->nr_parts++;
	return 0;
}

/* Split the locked entry @le that straddles the range; erase its pieces
 * inside, unlock the others. */
static int erase_straddling(struct erase_ctx *c, struct dax_locked_entry *le)
{
	struct dax_mapping *m = c->m;
	uint64_t first = le->first, n = dax_entry_nr_pages(le->entry);
	uint64_t lo = first > c->start ? first : c->start;
	uint64_t hi = first + n - 1 < c->last ? first + n - 1 : c->last;
	bool real = dax_entry_is_real(le->entry);
	uint64_t pfn0 = dax_entry_pfn(le->entry);
	int ret;

	ret = dax_entry_split(m, le, 0, UINT64_MAX);
	if (ret) {
		dax_entry_put(m, le);
		return ret;
	}
	for (uint64_t i = first; i < first + n; i++) {
		struct dax_locked_entry piece;

		dax_entry_piece(le, i, &piece);
		if (i >= lo && i <= hi)
			dax_entry_erase(m, &piece);
		else
			dax_entry_put(m, &piece);
	}
	if (real && !m->ops->iomap_begin && m->region)
		return part_add(c, pfn0 + (lo - first), hi - lo + 1);
	return 0;
}

/* Erase every entry overlapping [start, last] (the range is drained and
 * fills in it are blocked). */
static int erase_range(struct erase_ctx *c)
{
	struct dax_mapping *m = c->m;
	uint64_t index = c->start;
	unsigned order;
	int ret = 0;

	while (index <= c->last &&
	       dax_tree_find(m->tree, &index, c->last, DAX_TREE_PRESENT,
			     &order)) {
		struct dax_locked_entry le;
		uint64_t at = index < c->start ? c->start : index;
		int r = dax_entry_lock(m, at, &le);

		if (r < 0)
			return -ENXIO;
		if (r == 0)
			continue;	/* gone meanwhile: look again */
		index = le.first + dax_entry_nr_pages(le.entry);
		if (le.first < c->start ||
		    le.first + dax_entry_nr_pages(le.entry) - 1 > c->last) {
			r = erase_straddling(c, &le);
		} else {
			uint64_t v = le.entry;

			dax_entry_erase(m, &le);
			r = 0;
			if (dax_entry_is_real(v) && !m->ops->iomap_begin &&
			    m->region)
				r = part_add(c, dax_entry_pfn(v),
					     dax_entry_nr_pages(v));
		}
		if (r && !ret)
			ret = r;
		if (index == 0 || index > DAX_MAPPING_MAX_INDEX)
			break;
	}
	return ret;
}

static int free_parts(struct erase_ctx *c)
{
	struct dax_alloc *alloc;
	int ret = 0;

	if (!c->nr_parts)
		return 0;
	/* Lock-free readers may still see the erased pieces. */
	dax_rcu_synchronize();
	ret = dax_alloc_get(c->m->region, &alloc);
	for (unsigned i = 0; !ret && i < c->nr_parts; i++)
		ret = dax_alloc_free_range(alloc, c->parts[i].pfn,
					   c->parts[i].n);
	return ret;
}

/* Bytes [from, to) of page @index that a truncate or punch keeps the page
 * of but not the bytes. */
struct partial {
	uint64_t index;
	unsigned from, to;
};

/*
 * Zero the bytes of a partial page, as the kernel does for the partial
 * block of a truncate or hole punch (truncate_inode_partial_folio,
 * iomap_zero_range): under the entry's lock, once drained, so no pin
 * holds it and no fault races with it.  The entry is marked dirty so that
 * dax_writeback() makes the zeroes durable.  A hole (or no entry) reads
 * as zeroes already.
 */
static int zero_partial(struct dax_mapping *m, const struct partial *z)
{
	struct dax_locked_entry le;
	struct pmem2_map *map;
	char *addr;
	int ret;

	if (!m->region || z->from >= z->to)
		return 0;
	ret = dax_entry_lock(m, z->index, &le);
	if (ret < 0)
		return ret;
	if (ret == 0)
		return 0;
	ret = 0;
	if (dax_entry_is_real(le.entry)) {
		map = dax_region_pmem2_map(m->region);
		addr = (char *)dax_region_get_base(m->region) +
		       ((dax_entry_pfn(le.entry) + (z->index - le.first))
			<< DAX_PAGE_SHIFT) + z->from;
		if (map)
			pmem2_get_memset_fn(map)(addr, 0, z->to - z->from,
						 PMEM2_F_MEM_NOFLUSH);
		else
			memset(addr, 0, z->to - z->from);
		if (!dax_tree_get_mark(m->tree, le.first,
				       DAX_ENTRY_MARK_DIRTY))
			ret = dax_tree_set_mark(m->tree, le.first,
						DAX_ENTRY_MARK_DIRTY);
	}
	dax_entry_put(m, &le);
	return ret;
}

/*
 * The common part of truncate and punch: drain [@dstart, @dlast] (the
 * whole pages removed and the partial pages zeroed), then set the size
 * (@new_size; UINT64_MAX keeps it), zero the @nr_zero partial pages and
 * erase the whole pages [@estart, @elast] (none when @estart > @elast).
 */
static int layout_remove(struct dax_mapping *m, uint64_t dstart,
			 uint64_t dlast, uint64_t estart, uint64_t elast,
			 uint64_t new_size, const struct partial *zero,
			 unsigned nr_zero)
{
	struct dax_layout *L = layout_get(m);
	struct erase_ctx c = { .m = m, .start = estart, .last = elast };
	int ret = 0, ms;

	if (!L)
		return -ENOMEM;
	pthread_mutex_lock(&L->change);
	pthread_mutex_lock(&L->lock);
	ms = L->drain_ms;
	pthread_mutex_unlock(&L->lock);
	ret = layout_break(m, L, dstart, dlast, deadline_after(ms), false);
	if (ret)
		goto out;
	/* Drained: from here the change happens.  Fills in the range wait. */
	atomic_store_explicit(&L->fill_block, true, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	if (new_size != UINT64_MAX)
		atomic_store_explicit(&m->size, new_size, memory_order_seq_cst);
	/* a fill that read the old size has its entry in the tree by now (it
	 * fenced between inserting it and reading the size): the walk sees it */
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned i = 0; i < nr_zero && !ret; i++)
		ret = zero_partial(m, &zero[i]);
	if (!ret && estart <= elast)
		ret = erase_range(&c);
	if (!ret)
		ret = free_parts(&c);
	free(c.parts);
	drain_end(L);
out:
	pthread_mutex_unlock(&L->change);
	return ret;
}

/**
 * dax_truncate() - change a mapping's size, removing what lies beyond
 * @mapping: the mapping
 * @new_size: the new size in bytes
 *
 * Shrinking removes the pages wholly past @new_size and zeroes the bytes
 * of the last page from @new_size on (marking it dirty), as the kernel
 * does for a partial block, so that growing the mapping again shows
 * zeroes there, never the old bytes.
 *
 * Context: any thread; sleeps.  Calls the lease_break op.  The caller must
 * hold no pin, lease or entry lock of the mapping.
 * Return: 0; -EINVAL; -ETXTBSY; -ETIMEDOUT (nothing changed); -ENXIO;
 * -ENOMEM.
 */
DAX_EXPORT int dax_truncate(struct dax_mapping *mapping, uint64_t new_size)
{
	struct partial z;
	uint64_t pages, old;
	unsigned nr_zero = 0;

	if (!mapping || new_size > DAX_MAPPING_MAX_SIZE)
		return dax_fail(NULL, -EINVAL, "dax_truncate: %s",
				!mapping ? "mapping is NULL" :
				"size too large");
	if (!dax_mapping_is_alive(mapping))
		return dax_fail(NULL, -ENXIO, "dax_truncate: the mapping is "
				"dead");
	old = dax_mapping_get_size(mapping);
	if (new_size >= old)
		return dax_mapping_set_size(mapping, new_size);
	pages = (new_size + DAX_PAGE_SIZE - 1) >> DAX_PAGE_SHIFT;
	if (pages > DAX_MAPPING_MAX_INDEX) {
		atomic_store(&mapping->size, new_size);
		return 0;
	}
	if (new_size & (DAX_PAGE_SIZE - 1)) {
		z.index = new_size >> DAX_PAGE_SHIFT;
		z.from = (unsigned)(new_size & (DAX_PAGE_SIZE - 1));
		z.to = DAX_PAGE_SIZE;
		nr_zero = 1;
	}
	return layout_remove(mapping, new_size >> DAX_PAGE_SHIFT,
			     DAX_MAPPING_MAX_INDEX, pages,
			     DAX_MAPPING_MAX_INDEX, new_size, &z, nr_zero);
}

/**
 * dax_punch_hole() - remove the blocks of a range, keeping the size
 * @mapping: the mapping
 * @offset: first byte
 * @len: bytes (not 0)
 *
 * As the kernel's FALLOC_FL_PUNCH_HOLE: the pages wholly inside the range
 * are removed (reads see holes), and the bytes of the range in a page it
 * covers only partly (either end not a multiple of 4096) are zeroed in
 * place, the page marked dirty.
 *
 * Context: as dax_truncate().
 * Return: as dax_truncate().
 */
DAX_EXPORT int dax_punch_hole(struct dax_mapping *mapping, uint64_t offset,
			      uint64_t len)
{
	const uint64_t mask = DAX_PAGE_SIZE - 1;
	uint64_t end = offset + len;	/* exclusive */
	uint64_t first = offset >> DAX_PAGE_SHIFT;
	uint64_t last = (end - 1) >> DAX_PAGE_SHIFT;
	uint64_t estart = (offset + mask) >> DAX_PAGE_SHIFT;
	uint64_t eend = end >> DAX_PAGE_SHIFT, elast;
	struct partial z[2];
	unsigned nr = 0;

	if (!mapping || !len || end > DAX_MAPPING_MAX_SIZE || end < offset)
		return dax_fail(NULL, -EINVAL, "dax_punch_hole: %s",
				!mapping ? "mapping is NULL" :
				!len ? "empty range" : "range too large");
	if (!dax_mapping_is_alive(mapping))
		return dax_fail(NULL, -ENXIO, "dax_punch_hole: the mapping is "
				"dead");
	if (offset & mask) {
		z[nr].index = first;
		z[nr].from = (unsigned)(offset & mask);
		z[nr].to = first == last && (end & mask) ?
				   (unsigned)(end & mask) : DAX_PAGE_SIZE;
		nr++;
	}
	if ((end & mask) && (first != last || !(offset & mask))) {
		z[nr].index = last;
		z[nr].from = 0;
		z[nr].to = (unsigned)(end & mask);
		nr++;
	}
	/* whole pages: [estart, eend), maybe none (then estart > elast) */
	if (eend > estart) {
		elast = eend - 1;
	} else {
		estart = 1;
		elast = 0;
	}
	return layout_remove(mapping, first, last, estart, elast, UINT64_MAX,
			     z, nr);
}

/* ---- region close ------------------------------------------------------------- */

/*
 * dax_region_close() calls this (the region's DAX_REGION_SLOT_LAYOUT
 * release) once nothing is in flight on the killed region, before it
 * unmaps: every live mapping's layout is closed for good (DRAIN stays set,
 * later pins, leases and layout changes fail -ENXIO) and its pins are
 * waited for, so that memory reached through a pin stays mapped until the
 * unpin.  A layout change running on a mapping is let finish first.
 */
static void layout_region_release(void *region)
{
	struct dax_rmap *rmap = dax_region_rmap(region, false);
	struct dax_mapping *m;
	uint32_t id = 1;

	while (rmap && (m = dax_rmap_next_mapping(rmap, &id)) != NULL) {
		struct dax_layout *L = atomic_load_explicit(
			&m->layout, memory_order_acquire);

		if (!L)
			L = layout_new(m, false);
		if (L) {
			pthread_mutex_lock(&L->change);
			pthread_mutex_lock(&L->lock);
			L->gone = L->draining = true;
			L->drain_start = 0;
			L->drain_last = DAX_MAPPING_MAX_INDEX;
			pthread_cond_broadcast(&L->cond);
			pthread_mutex_unlock(&L->lock);
			atomic_store_explicit(&L->drain, true,
					      memory_order_seq_cst);
			pin_heavy_barrier();
			pthread_mutex_lock(&L->lock);
			while (pins_outstanding(L) + L->late_new)
				pthread_cond_wait(&L->cond, &L->lock);
			pthread_mutex_unlock(&L->lock);
			pthread_mutex_unlock(&L->change);
		}
		dax_mapping_put(&m);
		id++;
	}
}

/* ---- region revoke ------------------------------------------------------------ */

/**
 * dax_region_revoke() - take a region in use away from its users
 * @region: the region
 * @timeout_ms: how long to wait for leases and pins in all (-1: forever)
 *
 * For every mapping of the region (in id order, each held drained while
 * the next is done): break every lease, unbreakable ones too, and drain
 * every pin.  Then kill the region (dax_region_kill()): new faults, pins
 * and leases fail -ENXIO.  On timeout nothing is killed and every mapping
 * is let go again.
 *
 * Context: any thread; sleeps.  Calls lease_break ops.  The caller holds
 * no pin, lease or entry lock of the region's mappings.
 * Return: 0; -EINVAL; -ETIMEDOUT; -ENOMEM.
 */
DAX_EXPORT int dax_region_revoke(struct dax_region *region, int timeout_ms)
{
	struct dax_mapping **ms = NULL, *m;
	struct dax_rmap *rmap;
	uint64_t deadline = deadline_after(timeout_ms);
	unsigned n = 0, cap = 0, done = 0;
	uint32_t id = 1;
	int ret = 0;

	if (!region || timeout_ms < -1)
		return dax_fail(NULL, -EINVAL, "dax_region_revoke: %s",
				!region ? "region is NULL" : "bad timeout");
	rmap = dax_region_rmap(region, false);
	while (rmap && (m = dax_rmap_next_mapping(rmap, &id)) != NULL) {
		if (n == cap) {
			struct dax_mapping **t;

			cap = cap ? 2 * cap : 8;
			t = realloc(ms, cap * sizeof(*t));
			if (!t) {
				dax_mapping_put(&m);
				ret = dax_fail(NULL, -ENOMEM, "no memory to "
					       "revoke a region");
				goto out;
			}
			ms = t;
		}
		ms[n++] = m;
		id++;
	}
	for (; done < n; done++) {
		struct dax_layout *L = layout_get(ms[done]);

		if (!L) {
			ret = -ENOMEM;
			break;
		}
		pthread_mutex_lock(&L->change);
		ret = layout_break(ms[done], L, 0, DAX_MAPPING_MAX_INDEX,
				   deadline, true);
		if (ret) {
			pthread_mutex_unlock(&L->change);
			break;
		}
	}
	if (!ret)
		ret = dax_region_kill(region);
	for (unsigned i = 0; i < done; i++) {
		struct dax_layout *L = atomic_load(&ms[i]->layout);

		drain_end(L);
		pthread_mutex_unlock(&L->change);
	}
out:
	for (unsigned i = 0; i < n; i++)
		dax_mapping_put(&ms[i]);
	free(ms);
	return ret;
}