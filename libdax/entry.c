// SPDX-License-Identifier: MIT
/*
 * DAX entries and their locks.
 *
 * The entry word
 * --------------
 * A mapping's tree (tree.c) holds one DAX entry per extent: a 56-bit value
 * that packs the region page number (pfn) of its first page, its order, a
 * lock sequence and the flags VALID, LOCKED, ZERO (a read-only hole backed
 * by the zero page), EMPTY (a locked placeholder while blocks are being
 * allocated) and one spare bit for the fault path (layout in internal.h).
 * The order is the tree's order of the entry, repeated in the word so that
 * a value alone says what it covers; dirty state is a tree mark.
 *
 * The lock protocol
 * -----------------
 * As in the kernel, the lock is the LOCKED bit of the entry itself.  A
 * locker reads the entry lock-free, and if it is unlocked, exchanges it for
 * the locked word.  An entry that fills one tree slot (every 4 KiB entry)
 * is exchanged with one compare-and-swap on the slot, without the tree's
 * writer lock (dax_tree_cmpxchg_slot(); writers under that lock claim such
 * slots by compare-and-swap too, so neither side loses a change).  A
 * multi-slot entry (2 MiB: 8 slots) is exchanged under the tree lock
 * (dax_tree_cmpxchg_locked() replaces it whole), since readers may look at
 * any of its slots.  Only the holder of an entry's lock changes it: replaces it
 * (EMPTY -> real, ZERO -> real), splits it, erases it.  Every lock bumps
 * the entry's 11-bit sequence; the value therefore changes on every lock,
 * and a locker that compares values can never mistake a relocked, split or
 * replaced entry for the one it read.
 *
 * A lock covers the whole entry: locking index 700 of an order-9 entry that
 * starts at 512 locks the entry at 512.  Entries are locked one at a time;
 * a thread that needs several locks them in index order (dax_lock_range()
 * does), which is what keeps overlapping range lockers from deadlocking.
 *
 * Cookies, and the two bugs they prevent
 * --------------------------------------
 * In 2018 the kernel's DAX code had to fix its entry unlocking twice.  Its
 * unlock re-derived what to unlock from the page it was handed, after the
 * sleep in which the entry could have changed: a 2 MiB entry locked through
 * one of its 4 KiB pages was unlocked as a 4 KiB entry, leaving the real
 * entry locked forever and waking nobody (the fix made lockers carry the
 * entry value they locked).  And dax_lock_page(), which finds an entry from
 * a page for memory failure, had to keep the inode alive across the sleep
 * for the entry lock, because the page's mapping could be freed under the
 * sleeper (the fix: RCU plus revalidation after waking).
 *
 * Here a lock returns a cookie that names exactly what was locked, and the
 * unlock takes it back; nothing is re-derived.  A cookie is a 64-bit value
 * (never 0: 0 means "nothing was locked"):
 *
 *	bits 0-1	kind: 1 one entry, 2 a range, 3 an entry locked by pfn
 *	bits 2-12	the entry's lock sequence (range: the record's
 *			generation)
 *	bits 13-19	the mapping's tag (low bits of its id)
 *	bits 20-63	the entry's canonical index (range: the record; pfn:
 *			the pfn)
 *
 * Unlock checks that the entry at the canonical index
 * starts there, is locked, and has the cookie's sequence; anything else is
 * -EINVAL with a message: a forged or stale cookie, a double unlock, an
 * unlock with a cookie taken before someone else relocked the entry, an
 * unlock after the entry (or the whole mapping) went away.  The check is
 * exact except for an 11-bit wrap: a stale cookie whose entry was relocked
 * a multiple of 2048 times since goes unnoticed.
 *
 * Waiting: the hashed wait table
 * ------------------------------
 * A locker that finds the entry locked first spins, re-reading the entry
 * (a wake-up across CPUs costs ~50 us on the machines this was measured
 * on, a few hundred re-reads a fraction of that), then sleeps on the
 * region's hashed wait table (waitq.c), keyed by (mapping, canonical
 * index).  Each waiter sleeps on its own futex word, queued in its bucket;
 * an unlock wakes the oldest waiter of exactly its key (an exclusive
 * wake-up, as the kernel's entry wait queues do), so waiters of colliding
 * keys are neither woken for nothing nor robbed.  When an entry changes
 * shape (erased, split, downgraded) or the mapping is killed, every waiter
 * of the key is woken, since the exclusive waiter might not want the new
 * state and would swallow the wake-up.  A woken waiter revalidates from
 * scratch: it reloads the entry covering its index, which may now be
 * smaller (split), absent (erased) or another entry altogether.
 *
 * Memory ordering: a sleeper queues itself, issues a full barrier, then
 * re-reads the entry and sleeps only if it is still the locked value it
 * saw; an unlocker changes the entry, issues a full barrier, then reads the
 * bucket's waiter count.  One of the two sees the other (waitq.c), so no
 * wake-up is lost, and an unlock with no waiters costs a fence and a load.
 *
 * Cost
 * ----
 * An uncontended lock is a lock-free load plus one exchange under the tree
 * lock; an unlock by the locking thread is one exchange under the tree lock
 * (the thread remembers the word it locked, so it need not read it first),
 * a full barrier and one load of the wait bucket.  Two tree-lock round trips
 * per pair dominate: bench/lock_bench.c measures about 40-75 ns a pair
 * against 4-8 ns for a bare pthread mutex pair on the 2-core test machine.
 * Getting near the mutex needs a lock-free compare-and-exchange of an
 * entry's value in the tree (for entries held in one slot), which tree.c
 * does not offer today; the lock protocol above would not change.
 *
 * Lock by pfn
 * -----------
 * dax_lock_pfn() starts from a region page: the region's reverse map
 * (rmap.c) names the owner's id and the index, an RCU read-side section
 * covers the reading of the id table, and inc-not-zero takes a reference
 * that keeps the mapping alive across the sleep.  After locking it checks
 * that the entry still holds that pfn (the entry might have been replaced
 * while it slept), and retries while the reverse map keeps changing.  The
 * reverse map is updated by the entry's lock holder: new pages recorded
 * before the entry shows them, old ones forgotten before the entry drops
 * them, so a locker that woke up on a changed entry finds a changed record.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define COOKIE_ENTRY 1
#define COOKIE_RANGE 2
#define COOKIE_PFN 3
#define COOKIE_SEQ_SHIFT 2
#define COOKIE_TAG_SHIFT 13
#define COOKIE_TAG_MASK 0x7f
#define COOKIE_PAYLOAD_SHIFT 20

struct dax_range_lock {
	uint32_t gen;
	uint32_t next_free;
	uint64_t nr;
	dax_cookie_t *cookies;	/* NULL while the record is free */
};

static inline dax_cookie_t cookie_make(unsigned kind, unsigned seq,
				       unsigned tag, uint64_t payload)
{
	return (dax_cookie_t)kind |
	       (dax_cookie_t)(seq & DAX_ENTRY_SEQ_MASK) << COOKIE_SEQ_SHIFT |
	       (dax_cookie_t)(tag & COOKIE_TAG_MASK) << COOKIE_TAG_SHIFT |
	       payload << COOKIE_PAYLOAD_SHIFT;
}

static inline unsigned cookie_kind(dax_cookie_t c)
{
	return c & 3;
}

static inline unsigned cookie_seq(dax_cookie_t c)
{
	return (c >> COOKIE_SEQ_SHIFT) & DAX_ENTRY_SEQ_MASK;
}

static inline unsigned cookie_tag(dax_cookie_t c)
{
	return (c >> COOKIE_TAG_SHIFT) & COOKIE_TAG_MASK;
}

static inline uint64_t cookie_payload(dax_cookie_t c)
{
	return c >> COOKIE_PAYLOAD_SHIFT;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static inline bool mapping_dead(const struct dax_mapping *m)
{
	return atomic_load_explicit(&m->dead, memory_order_acquire);
}

/* The word a lock stores: LOCKED, and the next sequence. */
static inline uint64_t locked_word(uint64_t v)
{
	return dax_entry_set_seq(v, dax_entry_seq(v) + 1) | DAX_ENTRY_LOCKED;
}

/* ---- waiting ------------------------------------------------------------------ */

/*
 * Wait until the entry covering @index is no longer the locked value @v,
 * or the mapping dies: spin, then sleep on the wait table.  The caller
 * revalidates from scratch either way.
 */
static void entry_wait(struct dax_mapping *m, uint64_t index, uint64_t v)
{
	unsigned spins = __atomic_load_n(&m->spins, __ATOMIC_RELAXED);
	struct dax_waiter w;

	/*
	 * Spin with a growing pause between looks: each look pulls the
	 * entry's cache line away from the holder, who needs it back to
	 * unlock (and often to lock again at once).
	 */
	for (unsigned i = 0, pause = 1; i < spins; i += pause) {
		for (unsigned j = 0; j < pause; j++)
			cpu_relax();
		if (dax_tree_load(m->tree, index) != v || mapping_dead(m))
			return;
		if (pause < 32)
			pause <<= 1;
	}
	dax_waitq_prepare(m->wq, &w, m, dax_entry_first(v, index));
	if (dax_tree_load(m->tree, index) == v && !mapping_dead(m))
		dax_waitq_sleep(m->wq, &w);
	dax_waitq_finish(m->wq, &w);
}

static inline void wake_one(struct dax_mapping *m, uint64_t first)
{
	dax_waitq_wake(m->wq, m, first, false);
}

static inline void wake_all(struct dax_mapping *m, uint64_t first)
{
	dax_waitq_wake(m->wq, m, first, true);
}

/* ---- locking and unlocking one entry --------------------------------------------- */

/*
 * Swap the entry word @old covering @index for @nw under the tree lock, for
 * an entry that spans several slots.  Return: true when swapped; false with
 * *@cur set to what was there.
 */
static bool tree_swap_locked(struct dax_tree *t, uint64_t index, uint64_t old,
			     uint64_t nw, uint64_t *cur)
{
	dax_tree_lock(t);
	dax_tree_cmpxchg_locked(t, index, old, nw, cur);
	dax_tree_unlock(t);
	return *cur == old;
}

/*
 * Swap the entry word @old covering @index for @nw (neither 0): one
 * compare-and-swap when the entry fills one tree slot (every 4 KiB entry),
 * the tree lock otherwise.  Return: as tree_swap_locked().
 */
static inline bool tree_swap(struct dax_tree *t, uint64_t index, uint64_t old,
			     uint64_t nw, uint64_t *cur)
{
	int ret = dax_tree_cmpxchg_slot(t, index, old, nw, cur);

	if (likely(ret >= 0))
		return ret == 1;
	return tree_swap_locked(t, index, old, nw, cur);
}

/*
 * The word this thread locked last: an unlock of it by the same thread (the
 * common case) exchanges it at once instead of reading it first.  A guess
 * only: the exchange under the tree lock checks it, and a miss falls back to
 * reading the entry.
 */
static __thread struct {
	const struct dax_mapping *m;
	uint64_t first;
	uint64_t word;
} last_locked __attribute__((tls_model("initial-exec")));

static inline void remember_locked(const struct dax_mapping *m,
				   uint64_t first, uint64_t word)
{
	last_locked.m = m;
	last_locked.first = first;
	last_locked.word = word;
}

static uint64_t lock_if_unlocked(uint64_t v, void *arg)
{
	(void)arg;
	return dax_entry_is_locked(v) ? 0 : locked_word(v);
}

int dax_entry_lock(struct dax_mapping *m, uint64_t index,
		   struct dax_locked_entry *le)
{
	struct dax_tree *t = m->tree;
	uint64_t v, nv, cur;
	int ret;

	for (;;) {
		if (unlikely(mapping_dead(m)))
			return -ENXIO;
		ret = dax_tree_update_slot(t, index, lock_if_unlocked, NULL,
					   &v);
		if (!v)
			return 0;
		if (likely(ret == 1) ||
		    (ret == -EAGAIN && !dax_entry_is_locked(v) &&
		     tree_swap_locked(t, index, v, locked_word(v), &cur))) {
			nv = locked_word(v);
			le->first = dax_entry_first(v, index);
			le->entry = nv;
			remember_locked(m, le->first, nv);
			return 1;
		}
		if (dax_entry_is_locked(v))
			entry_wait(m, index, v);
	}
}

static const char *dead_note(const struct dax_mapping *m)
{
	return mapping_dead(m) ? " (the mapping is dead)" : "";
}

/*
 * Unlock the entry starting at @first if it is locked with sequence @seq;
 * an EMPTY placeholder is erased instead.  -EINVAL (with a message naming
 * @what) when it is not.
 */
static int entry_unlock(struct dax_mapping *m, uint64_t first, unsigned seq,
			const char *what)
{
	struct dax_tree *t = m->tree;
	uint64_t v, cur;
	int ret;
	bool erase;

	if (last_locked.m == m && last_locked.first == first &&
	    dax_entry_seq(last_locked.word) == seq &&
	    !dax_entry_is_empty(last_locked.word)) {
		v = last_locked.word;
		last_locked.m = NULL;
		ret = dax_tree_cmpxchg_slot(t, first, v, v & ~DAX_ENTRY_LOCKED,
					    &cur);
		if (likely(ret == 1)) {
			dax_waitq_wake_after_rmw(m->wq, m, first, false);
			return 0;
		}
		if (ret == -EAGAIN &&
		    tree_swap_locked(t, first, v, v & ~DAX_ENTRY_LOCKED,
				     &cur)) {
			wake_one(m, first);
			return 0;
		}
	}
	dax_tree_lock(t);
	v = dax_tree_load(t, first);
	if (unlikely(!v || dax_entry_first(v, first) != first ||
		     !dax_entry_is_locked(v) || dax_entry_seq(v) != seq)) {
		dax_tree_unlock(t);
		if (!v)
			return dax_fail(NULL, -EINVAL,
					"%s: no entry at index 0x%llx any "
					"more%s",
					what, (unsigned long long)first,
					dead_note(m));
		if (dax_entry_first(v, first) != first)
			return dax_fail(NULL, -EINVAL,
					"%s: index 0x%llx is inside the order-%u "
					"entry at 0x%llx, not the start of one "
					"(a forged or stale cookie)%s",
					what, (unsigned long long)first,
					dax_entry_order(v),
					(unsigned long long)dax_entry_first(v,
									   first),
					dead_note(m));
		if (!dax_entry_is_locked(v))
			return dax_fail(NULL, -EINVAL,
					"%s: the entry at 0x%llx is not locked "
					"(unlocked twice?)%s",
					what, (unsigned long long)first,
					dead_note(m));
		return dax_fail(NULL, -EINVAL,
				"%s: the entry at 0x%llx is locked under "
				"sequence %u, the cookie has %u (a stale "
				"cookie: someone else holds it now)%s",
				what, (unsigned long long)first,
				dax_entry_seq(v), seq, dead_note(m));
	}
	erase = dax_entry_is_empty(v);
	dax_tree_cmpxchg_locked(t, first, v,
				erase ? 0 : v & ~DAX_ENTRY_LOCKED, &cur);
	dax_tree_unlock(t);
	dax_waitq_wake(m->wq, m, first, erase);
	return 0;
}

/* ---- what the fault path builds on ---------------------------------------------- */

int dax_entry_grab(struct dax_mapping *m, uint64_t index, unsigned order,
		   struct dax_locked_entry *le)
{
	struct dax_tree *t = m->tree;
	uint64_t base, v, first, w;
	unsigned eorder;
	int ret;

	if (order > 30 || index > DAX_MAPPING_MAX_INDEX)
		return dax_fail(NULL, -EINVAL,
				"cannot grab an order-%u entry at index 0x%llx",
				order, (unsigned long long)index);
	base = index & ~((UINT64_C(1) << order) - 1);
	for (;;) {
		if (mapping_dead(m))
			return dax_fail(NULL, -ENXIO, "the mapping is dead");
		v = dax_tree_find_conflict(t, index, order, &first, &eorder);
		if (v && eorder < order)
			return dax_fail(NULL, -ERANGE,
					"an order-%u entry at 0x%llx lies in "
					"the order-%u range at 0x%llx; fall "
					"back to a smaller order",
					eorder, (unsigned long long)first,
					order, (unsigned long long)base);
		if (v) {
			ret = dax_entry_lock(m, index, le);
			if (ret == 0)
				continue;
			if (ret < 0)
				return dax_fail(NULL, ret,
						"the mapping is dead");
			eorder = dax_entry_order(le->entry);
			if (eorder < order) {
				/* split while we slept */
				dax_entry_put(m, le);
				continue;
			}
			if (eorder > order &&
			    (dax_entry_is_zero(le->entry) ||
			     dax_entry_is_empty(le->entry))) {
				/* a small write into a large hole */
				dax_entry_erase(m, le);
				continue;
			}
			return 0;
		}
		w = dax_entry_make(0, order,
				   DAX_ENTRY_EMPTY | DAX_ENTRY_LOCKED);
		w = dax_entry_set_seq(w, dax_mapping_next_seq(m));
		ret = dax_tree_insert(t, base, order, w);
		if (ret == -EEXIST)
			continue;
		if (ret)
			return ret;
		le->first = base;
		le->entry = w;
		return 0;
	}
}

/* Exchange the locked @le->entry for @nw; -EINVAL when @le is stale. */
static int entry_exchange(struct dax_mapping *m,
			  const struct dax_locked_entry *le, uint64_t nw,
			  const char *what)
{
	uint64_t cur;

	if (nw) {
		if (tree_swap(m->tree, le->first, le->entry, nw, &cur))
			return 0;
	} else {
		dax_tree_lock(m->tree);
		dax_tree_cmpxchg_locked(m->tree, le->first, le->entry, 0,
					&cur);
		dax_tree_unlock(m->tree);
	}
	if (cur != le->entry)
		return dax_fail(NULL, -EINVAL,
				"%s: the entry at 0x%llx is 0x%llx, not the "
				"locked 0x%llx the caller holds",
				what, (unsigned long long)le->first,
				(unsigned long long)cur,
				(unsigned long long)le->entry);
	return 0;
}

int dax_entry_replace(struct dax_mapping *m, struct dax_locked_entry *le,
		      uint64_t pfn, uint64_t flags)
{
	uint64_t old = le->entry, nw;
	unsigned order = dax_entry_order(old);
	bool was_real = dax_entry_is_real(old), same;
	int ret;

	flags &= DAX_ENTRY_ZERO | DAX_ENTRY_EMPTY | DAX_ENTRY_SPARE;
	if ((flags & DAX_ENTRY_ZERO) && (flags & DAX_ENTRY_EMPTY))
		return dax_fail(NULL, -EINVAL,
				"an entry is ZERO or EMPTY, not both");
	if (!dax_entry_is_locked(old))
		return dax_fail(NULL, -EINVAL,
				"replace: the entry at 0x%llx is not locked",
				(unsigned long long)le->first);
	nw = dax_entry_make(pfn, order, flags | DAX_ENTRY_LOCKED);
	nw = dax_entry_set_seq(nw, dax_entry_seq(old));
	if (!dax_entry_is_real(nw) && pfn)
		return dax_fail(NULL, -EINVAL,
				"a ZERO or EMPTY entry has no pfn (got "
				"0x%llx)", (unsigned long long)pfn);
	if (nw == old)
		return 0;
	same = was_real && dax_entry_is_real(nw) &&
	       dax_entry_pfn(old) == pfn;
	if (dax_entry_is_real(nw) && !same) {
		ret = dax_rmap_add(m->rmap, pfn, order, m->id, le->first);
		if (ret)
			return ret;
	}
	ret = entry_exchange(m, le, nw, "replace");
	if (ret) {
		if (dax_entry_is_real(nw) && !same)
			dax_rmap_remove(m->rmap, pfn, m->id);
		return ret;
	}
	if (was_real && !same)
		dax_rmap_remove_range(m->rmap, dax_entry_pfn(old), order, m->id);
	le->entry = nw;
	return 0;
}

void dax_entry_put(struct dax_mapping *m, struct dax_locked_entry *le)
{
	if (dax_entry_is_empty(le->entry)) {
		dax_entry_erase(m, le);
		return;
	}
	if (entry_exchange(m, le, le->entry & ~DAX_ENTRY_LOCKED, "put") == 0)
		wake_one(m, le->first);
	le->entry &= ~DAX_ENTRY_LOCKED;
}

void dax_entry_erase(struct dax_mapping *m, struct dax_locked_entry *le)
{
	if (dax_entry_is_real(le->entry))
		dax_rmap_remove_range(m->rmap, dax_entry_pfn(le->entry),
				      dax_entry_order(le->entry), m->id);
	if (entry_exchange(m, le, 0, "erase") == 0)
		wake_all(m, le->first);
	le->entry = 0;
}

void dax_entry_piece(const struct dax_locked_entry *le, uint64_t index,
		     struct dax_locked_entry *piece)
{
	uint64_t e = le->entry;
	uint64_t first = dax_entry_first(e, index);

	piece->first = first;
	piece->entry = e;
	if (dax_entry_is_real(e))
		piece->entry = (e & ((UINT64_C(1) << DAX_ENTRY_PFN_SHIFT) - 1)) |
			       (dax_entry_pfn(e) + (first - le->first))
				       << DAX_ENTRY_PFN_SHIFT;
}

int dax_entry_split(struct dax_mapping *m, struct dax_locked_entry *le,
		    unsigned order, uint64_t keep)
{
	struct dax_tree *t = m->tree;
	uint64_t old = le->entry, base, cur, n;
	unsigned k = dax_entry_order(old);
	struct dax_locked_entry p0, p;
	int ret;

	if (order >= k)
		return dax_fail(NULL, -EINVAL,
				"cannot split an order-%u entry into order-%u "
				"pieces", k, order);
	if (keep != UINT64_MAX &&
	    (keep < le->first || keep - le->first >= (UINT64_C(1) << k)))
		return dax_fail(NULL, -EINVAL,
				"index 0x%llx to keep is outside the entry "
				"at 0x%llx", (unsigned long long)keep,
				(unsigned long long)le->first);
	if (dax_entry_is_real(old)) {
		ret = dax_rmap_split(m->rmap, dax_entry_pfn(old), order);
		if (ret)
			return ret;
	}
	dax_tree_lock(t);
	if (dax_tree_load(t, le->first) != old) {
		dax_tree_unlock(t);
		return dax_fail(NULL, -EINVAL,
				"split: the entry at 0x%llx is not the locked "
				"entry the caller holds",
				(unsigned long long)le->first);
	}
	ret = dax_tree_split_locked(t, le->first, order);
	if (ret) {
		dax_tree_unlock(t);
		/* Put the reverse map back as it was (it needs no node). */
		if (dax_entry_is_real(old))
			dax_rmap_merge(m->rmap, dax_entry_pfn(old), k);
		return ret;
	}
	p0.first = le->first;
	p0.entry = (old & ~(UINT64_C(63) << DAX_ENTRY_ORDER_SHIFT)) |
		   (uint64_t)order << DAX_ENTRY_ORDER_SHIFT;
	n = UINT64_C(1) << (k - order);
	base = le->first;
	for (uint64_t i = 0; i < n; i++) {
		dax_entry_piece(&p0, base + (i << order), &p);
		if (keep != UINT64_MAX &&
		    !(keep >= p.first && keep - p.first < (UINT64_C(1) << order)))
			p.entry &= ~DAX_ENTRY_LOCKED;
		dax_tree_cmpxchg_locked(t, p.first, old, p.entry, &cur);
		if (keep == UINT64_MAX ? i == 0 : p.entry & DAX_ENTRY_LOCKED)
			*le = p;
	}
	dax_tree_unlock(t);
	/* The waiters of the old entry wait under its key: all revalidate. */
	wake_all(m, base);
	return 0;
}

dax_cookie_t dax_entry_cookie(const struct dax_mapping *m,
			      const struct dax_locked_entry *le)
{
	return cookie_make(COOKIE_ENTRY, dax_entry_seq(le->entry), m->tag,
			   le->first);
}

/* ---- the public lock calls ------------------------------------------------------- */

/**
 * dax_lock_index() - lock the entry covering an index
 * @mapping: the mapping
 * @index: any page index the entry covers (0..DAX_MAPPING_MAX_INDEX)
 * @cookie: receives the cookie to unlock with, or 0 when nothing was locked
 *
 * Waits while another thread holds the entry (spinning briefly, then
 * sleeping), then locks the whole entry covering @index: for a 2 MiB entry,
 * whichever of its 512 indices was named.  A cookie of 0 means no entry
 * covers @index or the mapping is dead (dax_mapping_kill()), before or
 * during the wait.
 *
 * Context: any thread; may sleep.  The caller must not already hold a lock
 * on an entry at a higher index of the mapping (lock in index order).
 * Return: 0 (look at *@cookie), or -EINVAL (NULL argument, index too large).
 */
DAX_EXPORT int dax_lock_index(struct dax_mapping *mapping, uint64_t index,
			      dax_cookie_t *cookie)
{
	struct dax_locked_entry le;

	if (unlikely(!cookie))
		return dax_fail(NULL, -EINVAL, "cookie out-pointer is NULL");
	*cookie = 0;
	if (unlikely(!mapping))
		return dax_fail(NULL, -EINVAL, "mapping is NULL");
	if (unlikely(index > DAX_MAPPING_MAX_INDEX))
		return dax_fail(NULL, -EINVAL,
				"index 0x%llx is above the largest, 0x%llx",
				(unsigned long long)index,
				(unsigned long long)DAX_MAPPING_MAX_INDEX);
	if (dax_entry_lock(mapping, index, &le) == 1)
		*cookie = dax_entry_cookie(mapping, &le);
	return 0;
}

static void unlock_all(struct dax_mapping *m, const dax_cookie_t *cookies,
		       uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		entry_unlock(m, cookie_payload(cookies[i]),
			     cookie_seq(cookies[i]), "range unlock");
}

/* Store @cookies (n of them) in a free record; its cookie, or 0. */
static dax_cookie_t range_record(struct dax_mapping *m, dax_cookie_t *cookies,
				 uint64_t n)
{
	struct dax_range_lock *r;
	uint32_t slot;

	pthread_mutex_lock(&m->range_lock);
	if (m->free_range == UINT32_MAX) {
		uint32_t cap = m->nr_ranges ? m->nr_ranges * 2 : 8;
		struct dax_range_lock *nr;

		nr = realloc(m->ranges, cap * sizeof(*nr));
		if (!nr) {
			pthread_mutex_unlock(&m->range_lock);
			return 0;
		}
		for (uint32_t i = m->nr_ranges; i < cap; i++) {
			nr[i].gen = 0;
			nr[i].nr = 0;
			nr[i].cookies = NULL;
			nr[i].next_free = i + 1 < cap ? i + 1 : m->free_range;
		}
		m->free_range = m->nr_ranges;
		m->ranges = nr;
		m->nr_ranges = cap;
	}
	slot = m->free_range;
	r = &m->ranges[slot];
	m->free_range = r->next_free;
	r->cookies = cookies;
	r->nr = n;
	pthread_mutex_unlock(&m->range_lock);
	return cookie_make(COOKIE_RANGE, r->gen, m->tag, slot);
}

/**
 * dax_lock_range() - lock every entry overlapping a range of indices
 * @mapping: the mapping
 * @start: the first index of the range
 * @last: the last index of the range (inclusive)
 * @cookie: receives one cookie for all of them, or 0 when nothing was locked
 *
 * Locks, in index order, each entry that overlaps [@start, @last]
 * (including an entry that straddles either end), waiting for each in
 * turn.  Holes are not locked: an entry may appear in one while the range
 * is held.  Because every range locker goes in index order, overlapping
 * range lockers cannot deadlock.  A cookie of 0 means the range holds no
 * entry, or the mapping died meanwhile (then nothing stays locked).
 *
 * Context: any thread; may sleep; allocates.  The caller must hold no
 * other entry lock of the mapping at an index above @start.
 * Return: 0 (look at *@cookie); -EINVAL (NULL argument, @last < @start,
 * index too large); -ENOMEM (nothing stays locked).
 */
DAX_EXPORT int dax_lock_range(struct dax_mapping *mapping, uint64_t start,
			      uint64_t last, dax_cookie_t *cookie)
{
	struct dax_locked_entry le;
	dax_cookie_t *cookies = NULL, *nc;
	uint64_t n = 0, cap = 0, cursor = start, at, idx, next, v;
	unsigned order;
	int ret;

	if (!cookie)
		return dax_fail(NULL, -EINVAL, "cookie out-pointer is NULL");
	*cookie = 0;
	if (!mapping)
		return dax_fail(NULL, -EINVAL, "mapping is NULL");
	if (last < start || last > DAX_MAPPING_MAX_INDEX)
		return dax_fail(NULL, -EINVAL,
				"range 0x%llx..0x%llx is empty or goes above "
				"index 0x%llx",
				(unsigned long long)start,
				(unsigned long long)last,
				(unsigned long long)DAX_MAPPING_MAX_INDEX);
	for (;;) {
		idx = cursor;
		v = dax_tree_find(mapping->tree, &idx, last, DAX_TREE_PRESENT,
				  &order);
		if (!v)
			break;
		at = idx > cursor ? idx : cursor;
		ret = dax_entry_lock(mapping, at, &le);
		if (ret < 0) {
			unlock_all(mapping, cookies, n);
			free(cookies);
			return 0;
		}
		if (ret == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			nc = realloc(cookies, cap * sizeof(*nc));
			if (!nc) {
				entry_unlock(mapping, le.first,
					     dax_entry_seq(le.entry), "range");
				unlock_all(mapping, cookies, n);
				free(cookies);
				return dax_fail(NULL, -ENOMEM,
						"no memory for a range lock");
			}
			cookies = nc;
		}
		cookies[n++] = dax_entry_cookie(mapping, &le);
		next = le.first + dax_entry_nr_pages(le.entry);
		if (next > last || next == 0)
			break;
		cursor = next;
	}
	if (!n)
		return 0;
	*cookie = range_record(mapping, cookies, n);
	if (!*cookie) {
		unlock_all(mapping, cookies, n);
		free(cookies);
		return dax_fail(NULL, -ENOMEM, "no memory for a range lock");
	}
	return 0;
}

static int range_unlock(struct dax_mapping *m, dax_cookie_t cookie)
{
	uint64_t slot = cookie_payload(cookie), n;
	dax_cookie_t *cookies;
	struct dax_range_lock *r;
	int ret = 0;

	pthread_mutex_lock(&m->range_lock);
	if (slot >= m->nr_ranges || !m->ranges[slot].cookies ||
	    (m->ranges[slot].gen & DAX_ENTRY_SEQ_MASK) != cookie_seq(cookie)) {
		pthread_mutex_unlock(&m->range_lock);
		return dax_fail(NULL, -EINVAL,
				"range cookie 0x%llx names no range lock held "
				"now (unlocked twice, or stale)%s",
				(unsigned long long)cookie, dead_note(m));
	}
	r = &m->ranges[slot];
	cookies = r->cookies;
	n = r->nr;
	r->cookies = NULL;
	r->nr = 0;
	r->gen++;
	r->next_free = m->free_range;
	m->free_range = slot;
	pthread_mutex_unlock(&m->range_lock);
	for (uint64_t i = 0; i < n; i++) {
		int err = entry_unlock(m, cookie_payload(cookies[i]),
				       cookie_seq(cookies[i]), "range unlock");

		if (err && !ret)
			ret = err;
	}
	free(cookies);
	return ret;
}

int dax_range_cookie_entries(struct dax_mapping *m, dax_cookie_t cookie,
			     dax_cookie_t *entries, uint64_t max, uint64_t *n)
{
	uint64_t slot = cookie_payload(cookie);
	struct dax_range_lock *r;
	int ret = 0;

	pthread_mutex_lock(&m->range_lock);
	r = slot < m->nr_ranges ? &m->ranges[slot] : NULL;
	if (cookie_kind(cookie) != COOKIE_RANGE || !r || !r->cookies ||
	    (r->gen & DAX_ENTRY_SEQ_MASK) != cookie_seq(cookie)) {
		ret = dax_fail(NULL, -EINVAL, "range cookie is not held");
	} else {
		*n = r->nr;
		memcpy(entries, r->cookies,
		       (r->nr < max ? r->nr : max) * sizeof(*entries));
	}
	pthread_mutex_unlock(&m->range_lock);
	return ret;
}

uint64_t dax_cookie_index(dax_cookie_t cookie)
{
	return cookie_payload(cookie);
}

void dax_range_locks_free(struct dax_mapping *m)
{
	for (uint32_t i = 0; i < m->nr_ranges; i++)
		free(m->ranges[i].cookies);
	free(m->ranges);
	m->ranges = NULL;
	m->nr_ranges = 0;
}

/**
 * dax_unlock() - unlock what a cookie locked
 * @mapping: the mapping the cookie was taken on
 * @cookie: from dax_lock_index() or dax_lock_range()
 *
 * Unlocks exactly the entry (or, for a range cookie, the entries) the
 * cookie names, and wakes a waiter.  Nothing is re-derived from an index:
 * a 2 MiB entry locked through any of its indices is unlocked whole.  Held
 * locks can be released after dax_mapping_kill().
 *
 * Context: any thread (not necessarily the locker); does not sleep for
 * long (the tree lock and a wait-table bucket lock).
 * Return: 0; -EINVAL (with dax_errormsg() saying which) for cookie 0, a
 * cookie of another kind or mapping, a stale or forged cookie, a double
 * unlock, or an entry that is gone.
 */
DAX_EXPORT int dax_unlock(struct dax_mapping *mapping, dax_cookie_t cookie)
{
	if (unlikely(!mapping))
		return dax_fail(NULL, -EINVAL, "mapping is NULL");
	if (unlikely(cookie_tag(cookie) != mapping->tag && cookie))
		return dax_fail(NULL, -EINVAL,
				"cookie 0x%llx was not taken on this mapping",
				(unsigned long long)cookie);
	switch (cookie_kind(cookie)) {
	case COOKIE_ENTRY:
		if (cookie_payload(cookie) > DAX_MAPPING_MAX_INDEX)
			break;
		return entry_unlock(mapping, cookie_payload(cookie),
				    cookie_seq(cookie), "unlock");
	case COOKIE_RANGE:
		return range_unlock(mapping, cookie);
	case COOKIE_PFN:
		return dax_fail(NULL, -EINVAL,
				"cookie 0x%llx comes from dax_lock_pfn(); "
				"unlock it with dax_unlock_pfn()",
				(unsigned long long)cookie);
	default:
		if (!cookie)
			return dax_fail(NULL, -EINVAL,
					"cookie 0 locks nothing: there is "
					"nothing to unlock");
		break;
	}
	return dax_fail(NULL, -EINVAL, "cookie 0x%llx is not a cookie",
			(unsigned long long)cookie);
}

/* ---- lock by pfn ------------------------------------------------------------------- */

int dax_rmap_lock_pfn(struct dax_rmap *rmap, uint64_t pfn,
		      dax_cookie_t *cookie)
{
	struct dax_locked_entry le;
	struct dax_mapping *m;
	uint64_t index, stamp, epfn;
	int ret;

	if (!cookie)
		return dax_fail(NULL, -EINVAL, "cookie out-pointer is NULL");
	*cookie = 0;
	if (pfn >= dax_rmap_nr_pages(rmap))
		return dax_fail(NULL, -EINVAL,
				"pfn 0x%llx is beyond the region's 0x%llx "
				"pages", (unsigned long long)pfn,
				(unsigned long long)dax_rmap_nr_pages(rmap));
	for (;;) {
		m = dax_rmap_lookup(rmap, pfn, &index, &stamp);
		if (!m)
			return 0;
		/* Our reference keeps @m alive across the sleep. */
		ret = dax_entry_lock(m, index, &le);
		if (ret == 1) {
			epfn = dax_entry_pfn(le.entry);
			if (dax_entry_is_real(le.entry) && pfn >= epfn &&
			    pfn - epfn == index - le.first) {
				*cookie = cookie_make(COOKIE_PFN,
						      dax_entry_seq(le.entry),
						      m->tag, pfn);
				return 0;	/* the reference stays */
			}
			dax_entry_put(m, &le);
		}
		dax_mapping_put(&m);
		if (ret < 0)
			return 0;	/* the owner died while we slept */
		/* Revalidate: retry only while the record keeps changing. */
		if (dax_rmap_stamp(rmap, pfn) == stamp)
			return 0;
	}
}

/* The mapping (with a reference) and entry a held pfn cookie names. */
static int pfn_cookie_owner(struct dax_rmap *rmap, dax_cookie_t cookie,
			    struct dax_mapping **mp, uint64_t *first)
{
	uint64_t pfn = cookie_payload(cookie), index, v;
	struct dax_mapping *m;

	if (cookie_kind(cookie) != COOKIE_PFN)
		return dax_fail(NULL, -EINVAL,
				"cookie 0x%llx does not come from "
				"dax_lock_pfn()%s", (unsigned long long)cookie,
				cookie ? "" : " (cookie 0 locks nothing)");
	m = dax_rmap_lookup(rmap, pfn, &index, NULL);
	if (!m)
		return dax_fail(NULL, -EINVAL,
				"pfn cookie 0x%llx: no mapping owns pfn 0x%llx "
				"any more (unlocked twice, or stale)",
				(unsigned long long)cookie,
				(unsigned long long)pfn);
	if (m->tag != cookie_tag(cookie)) {
		dax_mapping_put(&m);
		return dax_fail(NULL, -EINVAL,
				"pfn cookie 0x%llx: pfn 0x%llx belongs to "
				"another mapping now (stale cookie)",
				(unsigned long long)cookie,
				(unsigned long long)pfn);
	}
	v = dax_tree_load(m->tree, index);
	*first = v ? dax_entry_first(v, index) : index;
	*mp = m;
	return 0;
}

int dax_rmap_unlock_pfn(struct dax_rmap *rmap, dax_cookie_t cookie)
{
	struct dax_mapping *m;
	uint64_t first;
	int ret;

	ret = pfn_cookie_owner(rmap, cookie, &m, &first);
	if (ret)
		return ret;
	ret = entry_unlock(m, first, cookie_seq(cookie), "unlock_pfn");
	if (ret == 0) {
		struct dax_mapping *lock_ref = m;

		dax_mapping_put(&lock_ref);	/* dax_lock_pfn()'s */
	}
	dax_mapping_put(&m);			/* the lookup's */
	return ret;
}

int dax_cookie_owner(struct dax_region *region, dax_cookie_t cookie,
		     struct dax_mapping **mapping, uint64_t *index)
{
	struct dax_rmap *rmap = region ? dax_region_rmap(region, false) : NULL;
	struct dax_mapping *m;
	uint64_t first, v;
	int ret;

	if (!rmap)
		return dax_fail(NULL, -EINVAL, "no mapping lives on the region");
	ret = pfn_cookie_owner(rmap, cookie, &m, &first);
	if (ret)
		return ret;
	v = dax_tree_load(m->tree, first);
	if (!v || !dax_entry_is_locked(v) ||
	    dax_entry_seq(v) != cookie_seq(cookie)) {
		dax_mapping_put(&m);
		return dax_fail(NULL, -EINVAL,
				"pfn cookie 0x%llx is not held",
				(unsigned long long)cookie);
	}
	*index = first + (cookie_payload(cookie) - dax_entry_pfn(v));
	*mapping = m;
	dax_mapping_put(&m);	/* borrowed: the lock keeps it alive */
	return 0;
}

/**
 * dax_lock_pfn() - lock the entry that owns a region page
 * @region: the region
 * @pfn: the region page number (offset / 4 KiB), any page of an entry
 * @cookie: receives the cookie for dax_unlock_pfn(), or 0
 *
 * The memory-failure path: finds the mapping and index that own @pfn
 * through the region's reverse map, takes a reference on the mapping that
 * keeps it alive while this call sleeps for the entry lock, locks the whole
 * entry (a pfn in the middle of a 2 MiB entry locks the 2 MiB entry), and
 * checks after waking that the entry still owns @pfn, retrying while the
 * owner changes.  A cookie of 0 means no mapping owns @pfn, or its owner
 * died (dax_mapping_kill() or the last dax_mapping_put()) meanwhile.  The
 * reference is kept until dax_unlock_pfn().
 *
 * Context: any thread; may sleep.
 * Return: 0 (look at *@cookie); -EINVAL (NULL argument, @pfn beyond the
 * region).
 */
DAX_EXPORT int dax_lock_pfn(struct dax_region *region, uint64_t pfn,
			    dax_cookie_t *cookie)
{
	struct dax_rmap *rmap;
	uint64_t pages;

	if (!cookie)
		return dax_fail(NULL, -EINVAL, "cookie out-pointer is NULL");
	*cookie = 0;
	if (!region)
		return dax_fail(NULL, -EINVAL, "region is NULL");
	rmap = dax_region_rmap(region, false);
	if (!rmap) {
		pages = dax_region_get_size(region) >> DAX_PAGE_SHIFT;
		if (pfn >= pages)
			return dax_fail(NULL, -EINVAL,
					"pfn 0x%llx is beyond the region's "
					"0x%llx pages",
					(unsigned long long)pfn,
					(unsigned long long)pages);
		return 0;
	}
	return dax_rmap_lock_pfn(rmap, pfn, cookie);
}

/**
 * dax_unlock_pfn() - unlock what dax_lock_pfn() locked
 * @region: the region given to dax_lock_pfn()
 * @cookie: its cookie
 *
 * Unlocks the entry and drops the reference dax_lock_pfn() took on its
 * mapping (which may free a mapping whose owner let go of it meanwhile).
 *
 * Context: any thread; must not be inside an RCU read-side section.
 * Return: 0; -EINVAL (with dax_errormsg() saying which) for cookie 0, a
 * cookie of another kind, a stale or forged cookie, or a double unlock.
 */
DAX_EXPORT int dax_unlock_pfn(struct dax_region *region, dax_cookie_t cookie)
{
	struct dax_rmap *rmap;

	if (!region)
		return dax_fail(NULL, -EINVAL, "region is NULL");
	rmap = dax_region_rmap(region, false);
	if (!rmap)
		return dax_fail(NULL, -EINVAL,
				"cookie 0x%llx: no mapping lives on the region",
				(unsigned long long)cookie);
	return dax_rmap_unlock_pfn(rmap, cookie);
}
