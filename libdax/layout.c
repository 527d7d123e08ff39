// SPDX-License-Identifier: MIT
/*
 * Pins, leases, break-layouts, truncate and hole punch: the userspace
 * counterpart of the kernel's DMA-vs-truncate machinery (2018), where the
 * filesystem drains every pin of an inode before any operation that might
 * unmap extents (xfs_break_layouts, dax_layout_busy_page_range).
 *
 * Pins: a split refcount
 * ----------------------
 * A pin says "the blocks under this range must not be freed or reused".
 * Taking one must scale, so a mapping has PIN_NR_SLOTS counters, each on
 * its own cache line, and a thread counts its pins in the slot its TLS
 * address hashes to.  Bit 63 of every slot word is the DRAIN flag, so one
 * atomic fetch_add both counts the pin and reads the drain state: a pin
 * whose fetch_add came before the drainer's fetch_or is counted and waited
 * for; one whose fetch_add came after sees DRAIN in the old value and backs
 * out.  There is no window in which a pin is neither counted nor refused,
 * which is the classic bug of a separate "draining" flag read after the
 * increment without ordering.
 *
 * A pin that saw DRAIN takes the slow path under the layout lock: if its
 * range overlaps the range being drained it waits for the drain to end (or
 * fails -EAGAIN with DAX_PIN_NOWAIT); otherwise it is counted as a "late"
 * pin under the lock, in late_new, which the current drain does not wait
 * for (it did not exist when the drain began).  When the drain ends,
 * late_new is folded into late_old, which the next drain waits for.
 *
 * The drain (one per mapping at a time, under L->change)
 * ------------------------------------------------------
 *   1. publish the range and set DRAIN in every slot (new pins in the range
 *      now wait);
 *   2. break the overlapping leases (an unbreakable one fails -ETXTBSY
 *      before step 1), giving each its break time before revoking it;
 *   3. wait until every slot count and late_old reach zero (and, on module
 *      regions, the kernel's pins of the range's pages), or time out:
 *      -ETIMEDOUT, DRAIN cleared, nothing changed;
 *   4. (truncate, punch) block fills of new entries in the range, change
 *      the size, erase the entries under their locks, free their blocks
 *      after an RCU grace period;
 *   5. clear DRAIN, wake the waiters.
 * Unpins that see DRAIN in the value they decrement wake the drainer.
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
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define PIN_NR_SLOTS 16
#define PIN_SLOT_BITS 4
#define PIN_DRAIN (UINT64_C(1) << 63)
#define PIN_COUNT_MASK (PIN_DRAIN - 1)
#define PIN_ALL_FLAGS DAX_PIN_NOWAIT
#define LEASE_ALL_FLAGS (DAX_LEASE_UNBREAKABLE | DAX_LEASE_NOWAIT)
#define LAYOUT_DEFAULT_BREAK_MS 45000
#define LAYOUT_DEFAULT_DRAIN_MS 90000

struct pin_slot {
	_Atomic uint64_t v;
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

struct dax_pin {
	struct dax_mapping *m;
	uint64_t start, last;
	uint64_t gen;			/* late pins: the drain they came in */
	unsigned slot;
	bool late;
};

struct dax_layout {
	struct pin_slot slot[PIN_NR_SLOTS];
	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t cond;		/* drain progress, drain end, leases */
	pthread_mutex_t change;		/* one layout change at a time */
	bool draining;
	uint64_t drain_start, drain_last;
	uint64_t gen;			/* drains begun */
	uint64_t late_old, late_new;
	_Atomic bool fill_block;	/* fills in the drain range wait */
	struct dax_lease *leases;
	int break_ms;
	int drain_ms;
};

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

/* The mapping's layout state, made on first use: NULL only on -ENOMEM. */
static struct dax_layout *layout_get(struct dax_mapping *m)
{
	struct dax_layout *L = atomic_load_explicit(&m->layout,
						    memory_order_acquire);
	struct dax_layout *expected = NULL;
	pthread_condattr_t ca;

	if (likely(L))
		return L;
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
	if (!atomic_compare_exchange_strong_explicit(&m->layout, &expected, L,
						     memory_order_acq_rel,
						     memory_order_acquire)) {
		dax_layout_free(L);
		L = expected;
	}
	return L;
}

static inline bool overlaps(uint64_t s1, uint64_t l1, uint64_t s2,
			    uint64_t l2)
{
	return s1 <= l2 && s2 <= l1;
}

/*
 * A thread's slot: handed out round-robin on its first pin (hashing TLS
 * addresses put both threads of the benchmark on one slot), 1..16 stored so
 * that 0 means "not yet".  The counter is only a hint: a race gives two
 * threads one slot, which costs speed, never correctness.
 */
static inline unsigned pin_slot_index(void)
{
	static __thread unsigned slot __attribute__((tls_model("initial-exec")));
	static _Atomic unsigned next_slot;

	if (unlikely(!slot))
		slot = atomic_fetch_add_explicit(&next_slot, 1,
						 memory_order_relaxed) %
			       PIN_NR_SLOTS + 1;
	return slot - 1;
}

/* ---- pins ------------------------------------------------------------------ */

/* The pin saw DRAIN (and backed out).  Return: 0 (a late pin is held),
 * 1 (retry the fast path), or -EAGAIN. */
static int pin_slow(struct dax_layout *L, struct dax_pin *p, unsigned flags)
{
	int ret = 1;

	pthread_mutex_lock(&L->lock);
	pthread_cond_broadcast(&L->cond);	/* our transient count is gone */
	while (L->draining) {
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
 * DAX_PIN_NOWAIT.  Pointers from dax_fault() of indices in the range, taken
 * after the pin, stay valid until dax_unpin().
 *
 * Context: any thread; may sleep (only while a drain of the range runs).
 * The mapping must outlive the pin.
 * Return: 0; -EINVAL; -EAGAIN; -ENXIO (mapping or region dead); -ENOMEM.
 */
DAX_EXPORT int dax_pin_range(struct dax_mapping *mapping, uint64_t start,
			     uint64_t last, unsigned flags,
			     struct dax_pin **pin)
{
	struct dax_layout *L;
	struct dax_pin *p;
	unsigned s;
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
	if (!L)
		return -ENOMEM;
	if (atomic_load_explicit(&mapping->dead, memory_order_acquire))
		return dax_fail(NULL, -ENXIO, "dax_pin_range: the mapping is "
				"dead");
	p = malloc(sizeof(*p));
	if (!p)
		return dax_fail(NULL, -ENOMEM, "no memory for a pin");
	if (mapping->region) {
		ret = dax_region_enter(mapping->region);
		if (ret) {
			free(p);
			return ret;
		}
	}
	p->m = mapping;
	p->start = start;
	p->last = last;
	p->late = false;
	s = pin_slot_index();
	for (;;) {
		uint64_t old = atomic_fetch_add_explicit(&L->slot[s].v, 1,
							 memory_order_acq_rel);

		if (likely(!(old & PIN_DRAIN))) {
			p->slot = s;
			break;
		}
		atomic_fetch_sub_explicit(&L->slot[s].v, 1,
					  memory_order_release);
		ret = pin_slow(L, p, flags);
		if (ret == 0)
			break;
		if (ret < 0) {
			if (mapping->region)
				dax_region_exit(mapping->region);
			free(p);
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
	struct dax_pin *p;
	struct dax_layout *L;

	if (!pin || !*pin)
		return 0;
	p = *pin;
	*pin = NULL;
	L = atomic_load_explicit(&p->m->layout, memory_order_acquire);
	if (likely(!p->late)) {
		uint64_t old = atomic_fetch_sub_explicit(&L->slot[p->slot].v,
							 1,
							 memory_order_acq_rel);

		if (unlikely(old & PIN_DRAIN)) {
			pthread_mutex_lock(&L->lock);
			pthread_cond_broadcast(&L->cond);
			pthread_mutex_unlock(&L->lock);
		}
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
	if (p->m->region)
		dax_region_exit(p->m->region);
	free(p);
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
	for (unsigned i = 0; i < PIN_NR_SLOTS; i++)
		atomic_fetch_or_explicit(&L->slot[i].v, PIN_DRAIN,
					 memory_order_acq_rel);
}

static void drain_end(struct dax_layout *L)
{
	atomic_store_explicit(&L->fill_block, false, memory_order_seq_cst);
	for (unsigned i = 0; i < PIN_NR_SLOTS; i++)
		atomic_fetch_and_explicit(&L->slot[i].v, ~PIN_DRAIN,
					  memory_order_acq_rel);
	pthread_mutex_lock(&L->lock);
	L->draining = false;
	L->late_old += L->late_new;
	L->late_new = 0;
	L->gen++;
	pthread_cond_broadcast(&L->cond);
	pthread_mutex_unlock(&L->lock);
}

/* Under L->lock: pins the drain waits for. */
static uint64_t pins_outstanding(struct dax_layout *L)
{
	uint64_t n = L->late_old;

	for (unsigned i = 0; i < PIN_NR_SLOTS; i++)
		n += atomic_load_explicit(&L->slot[i].v, memory_order_acquire) &
		     PIN_COUNT_MASK;
	return n;
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
	if (ret)
		drain_end(L);
	return ret;
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
 * changed, but leases told to break stay breaking); -ENOMEM.
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

/*
 * Remove [start, last] of @m: the common part of truncate and punch.
 * @new_size: the size to set once drained (UINT64_MAX: keep it).
 */
static int layout_remove(struct dax_mapping *m, uint64_t start, uint64_t last,
			 uint64_t new_size)
{
	struct dax_layout *L = layout_get(m);
	struct erase_ctx c = { .m = m, .start = start, .last = last };
	int ret, ms;

	if (!L)
		return -ENOMEM;
	pthread_mutex_lock(&L->change);
	pthread_mutex_lock(&L->lock);
	ms = L->drain_ms;
	pthread_mutex_unlock(&L->lock);
	ret = layout_break(m, L, start, last, deadline_after(ms), false);
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
 * Context: any thread; sleeps.  Calls the lease_break op.  The caller must
 * hold no pin, lease or entry lock of the mapping.
 * Return: 0; -EINVAL; -ETXTBSY; -ETIMEDOUT (nothing changed); -ENXIO;
 * -ENOMEM.
 */
DAX_EXPORT int dax_truncate(struct dax_mapping *mapping, uint64_t new_size)
{
	uint64_t pages, old;

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
	return layout_remove(mapping, pages, DAX_MAPPING_MAX_INDEX, new_size);
}

/**
 * dax_punch_hole() - remove the blocks of a range, keeping the size
 * @mapping: the mapping
 * @offset: first byte, a multiple of 4096
 * @len: bytes, a multiple of 4096
 *
 * Context: as dax_truncate().
 * Return: as dax_truncate().
 */
DAX_EXPORT int dax_punch_hole(struct dax_mapping *mapping, uint64_t offset,
			      uint64_t len)
{
	if (!mapping || !len || (offset | len) & (DAX_PAGE_SIZE - 1) ||
	    offset + len > DAX_MAPPING_MAX_SIZE || offset + len < offset)
		return dax_fail(NULL, -EINVAL, "dax_punch_hole: %s",
				!mapping ? "mapping is NULL" :
				!len ? "empty range" :
				(offset | len) & (DAX_PAGE_SIZE - 1) ?
				"offset and length must be multiples of 4096" :
				"range too large");
	if (!dax_mapping_is_alive(mapping))
		return dax_fail(NULL, -ENXIO, "dax_punch_hole: the mapping is "
				"dead");
	return layout_remove(mapping, offset >> DAX_PAGE_SHIFT,
			     ((offset + len) >> DAX_PAGE_SHIFT) - 1, UINT64_MAX);
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