// SPDX-License-Identifier: MIT
/*
 * The entry tree: an RCU multi-order radix tree.
 *
 * What it is
 * ----------
 * A radix tree of 64-slot nodes over 64-bit indices, the XArray's idea in
 * userspace.  A node at shift s covers 2^(s+6) indices; slot i of it covers
 * the 2^s indices starting at (node base + i * 2^s).  Leaves have shift 0;
 * the root's shift grows and shrinks with the largest index stored (11
 * levels cover the whole 64-bit space, the top one using 16 slots).
 *
 * An entry of order k lives in the node of shift s = k rounded down to a
 * multiple of 6, and fills the 2^(k-s) slots it covers.  Every one of those
 * slots holds the same word, which carries the value and the order:
 *
 *	slot word	meaning
 *	0		empty
 *	node | 2	a child node (nodes are 8-byte aligned)
 *	v<<8 | k<<2 | 1	an entry of value v (1..2^56-1) and order k (0..63)
 *
 * (The XArray keeps the value in the first slot and "sibling" pointers in
 * the others.  That makes a lock-free reader do two dependent reads that a
 * writer can separate: the reader sees a sibling, the entry is erased and a
 * new order-0 entry stored in the first slot, and the reader returns a value
 * that never covered its index.  Copying the word into every slot makes a
 * load one read of one slot, and it gives the order, hence the canonical
 * index, with no second read: the covering-entry lookup the DAX code does
 * on every fault costs the same as a plain load.)
 *
 * Marks: three 64-bit bitmaps per node.  For an entry, the bit of its first
 * slot; for a child node, "some entry below has the mark".  A marked find
 * skips subtrees whose bit is clear.
 *
 * Concurrency
 * -----------
 * Readers (load, load_covering, get_mark, find*, walk, the getters) run in an
 * RCU read-side section that the call opens itself; they take no lock and
 * write no shared memory.  Writers hold the tree's mutex.  A writer changes
 * a slot with one release store, so a reader of a slot (an acquire load)
 * sees the old or the new word, and it builds new nodes completely before
 * it publishes them with that store.  A node unlinked from the tree is
 * never written again (only its free-list link, which shares space with
 * the parent pointer readers never read) and goes back to the tree's node
 * cache only after a grace period (call_rcu), so a reader that is still
 * inside it sees a consistent, frozen past state.
 *
 * Each index therefore moves through a sequence of values, and a reader's
 * load returns one of the values the index had while the load ran.  Changes
 * to a multi-slot entry (replace, split) are made slot by slot: two readers
 * of two indices of one 2 MiB entry may see old and new at the same time,
 * but never a value that did not cover the index they asked for.
 *
 * Marks follow the same rule for marked finds: a split or a replace sets
 * the new entries' mark bits before it changes the slots and clears the
 * old ones after, so an entry whose mark stays set is never skipped (a
 * reader looks only at the bit of an entry's first slot, so early bits on
 * the other slots of the old entry mean nothing to it).
 *
 * Writes never fail half-way.  Every write first walks the tree and works
 * out what it will do and how many nodes it needs (growth, a new path, a
 * split), takes all of those nodes from the allocator, and only then changes
 * the tree; -ENOMEM, -EBUSY, -EEXIST and -EINVAL all return before the first
 * store.  dax_tree_inject_alloc_failure() (internal.h) fails the Nth node
 * allocation so that tests can check every site.
 *
 * Memory
 * ------
 * Nodes are 552 bytes: a 40-byte header (shift, offset in the parent, slot
 * count, the parent pointer that doubles as the free-list link, three mark
 * words) and 64 slots of 8 bytes.  A slot is 8-byte aligned, so it never
 * straddles a cache line: a load reads one line per level, plus the root's
 * header for its shift.  Nodes are carved from chunks the tree allocates:
 * the first holds one node, so a small tree stays small, then 4, 8, 16, 32
 * and 64 KiB (7, 14, 29, 59 and 118 nodes; a 64 KiB chunk wastes 384
 * bytes, 0.6%).  Freed nodes return, after a grace period, to the tree's
 * own cache for reuse; the chunks go back to malloc when the tree is
 * deleted.  A general-purpose malloc would round each 552-byte node up to
 * its next size class (640 bytes in jemalloc, which libdax links): 16% more
 * memory on a dense tree.  1M dense keys take 16,645 nodes, 8.8 bytes per
 * entry (JudyL: 8.2); sparse keys (one in 8) fill a leaf to 8 of 64 slots,
 * 70 bytes per entry, where JudyL packs them in 14.
 *
 * RCU flavor
 * ----------
 * libdax/rcu.h uses liburcu's memb flavor, its read side inlined into
 * libdax with initial-exec TLS, and registers a thread itself on the
 * thread's first read-side section (a TLS flag and a predictable branch),
 * undone by a thread-exit destructor.  bench/rcu_flavor.c measured, with
 * liburcu 0.13 on this 2-CPU virtual machine shared with other work (load
 * average 6-8; read side: best of 20 runs, thread CPU time; grace periods:
 * wall clock, with two registered readers spinning in read-side sections):
 *
 *	flavor	lock+unlock	synchronize_rcu	call_rcu to callback
 *		out of line
 *	memb	  6.9 ns	   572 us	25 ms
 *	bp	  8.6 ns	   433 us	42 ms
 *	mb	 80.8 ns	   0.4 us	21 ms
 *	signal	  5.7 ns	19,163 us	48 ms
 *	qsbr	  2.6 ns	     -		-
 *
 *	inlined: memb in libdax.so, registration check included, adds
 *	1.36 ns to a dax_tree_load() (1.16 ns in libdax.a); bp's read side
 *	inlined into a program, its own registration check included: 0.98 ns.
 *	A thread's first call, which registers it: 10-17 us, once.
 *
 * Why memb with our own registration:
 *  - Every load pays the read side.  Inlined, memb costs 1.2-1.4 ns, the
 *    same as bp within this machine's noise; out of line, both pay a call
 *    and a general-dynamic TLS lookup (7-9 ns), hence the inlining.
 *  - mb puts a full fence in each read lock (81 ns, 60 times more); signal
 *    takes a signal (SIGUSR1) from the application and needs 19 ms per
 *    grace period (a signal to every reader); qsbr needs every application
 *    thread to announce quiescent states, which a library cannot ask.
 *  - memb and bp pay for a grace period with membarrier (430-570 us here,
 *    IPIs on a virtual machine; equal within the noise).  Tree writers
 *    never wait for one, so this only delays node reuse.  bp's one
 *    advantage, registration on first use, libdax gets from its TLS flag;
 *    memb keeps the reader state in the TLS block itself (bp reaches it
 *    through a pointer to its registry), and it is liburcu's default.
 *  - call_rcu latency (20-50 ms: the worker thread's wake-up and its own
 *    grace period) comes from the call_rcu machinery every flavor shares,
 *    so unlinked nodes wait in batches, one callback per batch, and an
 *    allocation that finds the cache empty grows a new chunk instead of
 *    waiting for a batch.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * Under AddressSanitizer, a node in the cache is poisoned (all but the word
 * that links the cache), so a reader that touches a node after its grace
 * period, which would be a use after free with malloc'd nodes, is reported.
 */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define node_poison(n) node_asan_poison(n, true)
#define node_unpoison(n) node_asan_poison(n, false)
#else
#define node_poison(n) ((void)(n))
#define node_unpoison(n) ((void)(n))
#endif

#define TREE_SHIFT 6
#define TREE_SLOTS 64
#define TREE_MAX_SHIFT 60
#define TREE_NR_MARKS 3

#define W_NODE 2UL
#define W_ENTRY 1UL

struct tree_node {
	uint8_t shift;		/* readers: this node's level */
	uint8_t offset;		/* writers: slot in the parent */
	uint8_t count;		/* writers: non-empty slots */
	uint8_t pad[5];
	union {
		struct tree_node *parent;	/* writers, while linked */
		struct tree_node *next_free;	/* unlinked: limbo or cache */
	};
	_Atomic uint64_t marks[TREE_NR_MARKS];
	_Atomic uint64_t slots[TREE_SLOTS];
};

_Static_assert(sizeof(struct tree_node) == 552, "64 slots + 40 bytes");

#if defined(__SANITIZE_ADDRESS__)
static void node_asan_poison(struct tree_node *n, bool poison)
{
	char *p = (char *)n;
	size_t keep = offsetof(struct tree_node, marks);

	if (poison) {
		ASAN_POISON_MEMORY_REGION(p, offsetof(struct tree_node, parent));
		ASAN_POISON_MEMORY_REGION(p + keep, sizeof(*n) - keep);
	} else {
		ASAN_UNPOISON_MEMORY_REGION(p, sizeof(*n));
	}
}
#endif

/* A block of nodes, in malloc size classes: 1 node, then 4 KiB .. 64 KiB. */
struct tree_chunk {
	struct tree_chunk *next;
	size_t bytes;
};

#define TREE_CHUNK_MAX (64 * 1024)

struct dax_tree {
	/* Read by every reader: alone on its cache line. */
	_Atomic uint64_t root __attribute__((aligned(64)));

	pthread_mutex_t lock __attribute__((aligned(64)));
	/* Counters: written under the lock, read by anyone. */
	_Atomic uint64_t nr_nodes;	/* linked nodes */
	_Atomic uint64_t nr_entries;
	_Atomic uint64_t memory;	/* bytes of chunks */
	struct tree_node *free;		/* node cache */
	struct tree_chunk *chunks;
	size_t next_chunk_bytes;
	unsigned long fail_alloc_in;	/* fault injection: 0 = off */
	uint64_t nr_allocs;

	/*
	 * Unlinked nodes wait for a grace period in batches, one call_rcu per
	 * batch: limbo collects them, and when no grace period is pending it
	 * becomes the waiting batch and one starts; gp_done, set by the
	 * callback, lets the next writer move the batch into the cache.
	 */
	struct tree_node *limbo, *waiting;
	bool gp_pending;
	_Atomic bool gp_done;
	struct rcu_head gp_rcu;

	/* 1 for the tree + 1 while a grace period is pending. */
	_Atomic long refs;
	struct rcu_head rcu;
};

/* Nodes reserved for one write before it changes anything. */
struct tree_resv {
	struct tree_node *list;
	unsigned n;
};

/* ---- slot words ------------------------------------------------------- */

static inline bool w_is_node(uint64_t w)
{
	return (w & 3) == W_NODE;
}

static inline bool w_is_entry(uint64_t w)
{
	return w & W_ENTRY;
}

static inline struct tree_node *w_node(uint64_t w)
{
	return (struct tree_node *)(uintptr_t)(w & ~3UL);
}

static inline uint64_t mk_node(struct tree_node *n)
{
	return (uint64_t)(uintptr_t)n | W_NODE;
}

static inline uint64_t mk_entry(uint64_t value, unsigned order)
{
	return value << 8 | (uint64_t)order << 2 | W_ENTRY;
}

static inline uint64_t w_value(uint64_t w)
{
	return w >> 8;
}

static inline unsigned w_order(uint64_t w)
{
	return (w >> 2) & 63;
}

/* Readers read a node's shift while a reused node may be re-initialised. */
static inline unsigned node_shift(const struct tree_node *n)
{
	return __atomic_load_n(&n->shift, __ATOMIC_RELAXED);
}

static inline uint64_t slot_get(const struct tree_node *n, unsigned off)
{
	return atomic_load_explicit(&n->slots[off], memory_order_acquire);
}

static inline void slot_set(struct tree_node *n, unsigned off, uint64_t w)
{
	atomic_store_explicit(&n->slots[off], w, memory_order_release);
}

static inline uint64_t root_get(const struct dax_tree *t)
{
	return atomic_load_explicit(&t->root, memory_order_acquire);
}

static inline uint64_t mark_word(const struct tree_node *n, unsigned m)
{
	return atomic_load_explicit(&n->marks[m], memory_order_relaxed);
}

static inline void mark_word_set(struct tree_node *n, unsigned m, uint64_t v)
{
	atomic_store_explicit(&n->marks[m], v, memory_order_relaxed);
}

/* The shift of the node that holds an entry of @order. */
static inline unsigned order_shift(unsigned order)
{
	return order / TREE_SHIFT * TREE_SHIFT;
}

/* Mask of the index bits below @bits (bits may be 64). */
static inline uint64_t low_mask(unsigned bits)
{
	return bits >= 64 ? ~0ULL : (1ULL << bits) - 1;
}

/* Does a node of shift @sh cover @index (when its base is 0)? */
static inline bool shift_covers(unsigned sh, uint64_t index)
{
	return sh >= TREE_MAX_SHIFT || (index >> (sh + TREE_SHIFT)) == 0;
}

/* The smallest root shift that reaches @index. */
static unsigned fit_shift(uint64_t index)
{
	unsigned sh = 0;

	while (!shift_covers(sh, index))
		sh += TREE_SHIFT;
	return sh;
}

static inline uint64_t slot_bits(unsigned off, unsigned span)
{
	return (span >= 64 ? ~0ULL : (1ULL << span) - 1) << off;
}

/* ---- node allocation ----------------------------------------------------- */

static void tree_put(struct dax_tree *t)
{
	struct tree_chunk *c, *next;

	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (c = t->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static void tree_gp_cb(struct rcu_head *head)
{
	struct dax_tree *t = caa_container_of(head, struct dax_tree, gp_rcu);

	/* Pairs with the release in tree_reclaim(): liburcu's queue is not
	 * instrumented, so give ThreadSanitizer an edge it can see. */
	(void)atomic_load_explicit(&t->gp_done, memory_order_acquire);
	atomic_store_explicit(&t->gp_done, true, memory_order_release);
	tree_put(t);
}

/*
 * Under the lock: move a batch whose grace period ended into the cache,
 * and start a grace period for the nodes in limbo if none is pending.
 */
static void tree_reclaim(struct dax_tree *t)
{
	if (t->gp_pending &&
	    atomic_load_explicit(&t->gp_done, memory_order_acquire)) {
		while (t->waiting) {
			struct tree_node *n = t->waiting;

			t->waiting = n->next_free;
			n->next_free = t->free;
			t->free = n;
			node_poison(n);
		}
		t->gp_pending = false;
	}
	if (!t->gp_pending && t->limbo) {
		t->waiting = t->limbo;
		t->limbo = NULL;
		t->gp_pending = true;
		atomic_store_explicit(&t->gp_done, false, memory_order_release);
		atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
		dax_call_rcu(&t->gp_rcu, tree_gp_cb);
	}
}

static int tree_grow_cache(struct dax_tree *t)
{
	size_t bytes = t->next_chunk_bytes;
	size_t nr = (bytes - sizeof(struct tree_chunk)) /
		    sizeof(struct tree_node);
	struct tree_chunk *c = malloc(bytes);
	struct tree_node *n;

	if (!c)
		return -ENOMEM;
	c->next = t->chunks;
	c->bytes = bytes;
	t->chunks = c;
	atomic_store_explicit(&t->memory,
			      atomic_load_explicit(&t->memory,
						   memory_order_relaxed) +
				      bytes,
			      memory_order_relaxed);
	n = (struct tree_node *)(c + 1);
	for (size_t i = 0; i < nr; i++) {
		n[i].next_free = t->free;
		t->free = &n[i];
		node_poison(&n[i]);
	}
	if (t->next_chunk_bytes < 4096)
		t->next_chunk_bytes = 4096;
	else if (t->next_chunk_bytes < TREE_CHUNK_MAX)
		t->next_chunk_bytes *= 2;
	return 0;
}

/* One node for a reservation: the fault-injection point. */
static struct tree_node *node_alloc(struct dax_tree *t)
{
	struct tree_node *n;

	t->nr_allocs++;
	if (t->fail_alloc_in && --t->fail_alloc_in == 0)
		return NULL;
	if (!t->free)
		tree_reclaim(t);
	if (!t->free && tree_grow_cache(t))
		return NULL;
	n = t->free;
	t->free = n->next_free;
	return n;
}

static void resv_release(struct dax_tree *t, struct tree_resv *r)
{
	while (r->list) {
		struct tree_node *n = r->list;

		r->list = n->next_free;
		n->next_free = t->free;
		t->free = n;
	}
	r->n = 0;
}

static int resv_get(struct dax_tree *t, struct tree_resv *r, uint64_t nr)
{
	if (nr > (1ULL << 32))
		return dax_fail(NULL, -ENOMEM,
				"the tree would need %llu new nodes",
				(unsigned long long)nr);
	while (r->n < nr) {
		struct tree_node *n = node_alloc(t);

		if (!n) {
			resv_release(t, r);
			return dax_fail(NULL, -ENOMEM,
					"out of memory for a tree node");
		}
		n->next_free = r->list;
		r->list = n;
		r->n++;
	}
	return 0;
}

/* Counters change under the lock only: no atomic read-modify-write. */
static inline void counter_add(_Atomic uint64_t *c, uint64_t delta)
{
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) +
				      delta,
			      memory_order_relaxed);
}

/* A zeroed node from the reservation (the caller counted it). */
static struct tree_node *resv_take(struct dax_tree *t, struct tree_resv *r,
				   unsigned shift, struct tree_node *parent,
				   unsigned offset)
{
	struct tree_node *n = r->list;

	r->list = n->next_free;
	r->n--;
	node_unpoison(n);
	/* Atomic stores, not memset: the readers of the node's previous
	 * life are gone (a grace period passed), but ThreadSanitizer cannot
	 * see grace periods, so every field readers touch is accessed
	 * atomically and it has nothing to report. */
	__atomic_store_n(&n->shift, shift, __ATOMIC_RELAXED);
	n->offset = offset;
	n->count = 0;
	n->parent = parent;
	for (unsigned m = 0; m < TREE_NR_MARKS; m++)
		mark_word_set(n, m, 0);
	for (unsigned i = 0; i < TREE_SLOTS; i++)
		atomic_store_explicit(&n->slots[i], 0, memory_order_relaxed);
	counter_add(&t->nr_nodes, 1);
	return n;
}

/*
 * Unlinked @n goes back to the cache after a grace period.  Readers may
 * still be inside it: only next_free (which shares space with parent, a
 * field readers never read) is written.
 */
static void node_free(struct dax_tree *t, struct tree_node *n)
{
	counter_add(&t->nr_nodes, -1);
	n->next_free = t->limbo;
	t->limbo = n;
	tree_reclaim(t);
}

/* ---- marks (writers) ----------------------------------------------------- */

/* Set @m on slot @off of @n and on the path above. */
static void mark_set_up(struct tree_node *n, unsigned off, unsigned m)
{
	while (n) {
		uint64_t old = mark_word(n, m);

		if (old & (1ULL << off))
			return;
		mark_word_set(n, m, old | 1ULL << off);
		off = n->offset;
		n = n->parent;
	}
}

/* After bits of @n were cleared: clear the parents' bits that went empty. */
static void marks_fix_up(struct tree_node *n)
{
	for (unsigned m = 0; m < TREE_NR_MARKS; m++) {
		struct tree_node *c = n;

		while (c->parent && mark_word(c, m) == 0) {
			struct tree_node *p = c->parent;
			uint64_t bit = 1ULL << c->offset;

			if (!(mark_word(p, m) & bit))
				break;
			mark_word_set(p, m, mark_word(p, m) & ~bit);
			c = p;
		}
	}
}

/* Clear the bits of @mask in @n; return the marks that were set there. */
static unsigned marks_take(struct tree_node *n, uint64_t mask)
{
	unsigned had = 0;

	for (unsigned m = 0; m < TREE_NR_MARKS; m++) {
		uint64_t w = mark_word(n, m);

		if (w & mask) {
			had |= 1U << m;
			mark_word_set(n, m, w & ~mask);
		}
	}
	return had;
}

/* ---- removing nodes ----------------------------------------------------- */

/* Free the unlinked subtree @n; return the number of entries it held. */
static uint64_t subtree_release(struct dax_tree *t, struct tree_node *n)
{
	uint64_t entries = 0;

	for (unsigned i = 0; i < TREE_SLOTS; i++) {
		uint64_t w = slot_get(n, i);

		if (w_is_node(w)) {
			entries += subtree_release(t, w_node(w));
		} else if (w_is_entry(w)) {
			unsigned span = 1U << (w_order(w) - n->shift);

			if ((i & (span - 1)) == 0)
				entries++;
		}
	}
	node_free(t, n);
	return entries;
}

/*
 * Drop the root while it has only a child in slot 0, so that a tree whose
 * large indices were erased gets short again.
 */
static void tree_shrink(struct dax_tree *t)
{
	for (;;) {
		uint64_t rw = root_get(t);
		struct tree_node *r, *c;
		uint64_t w;

		if (!rw)
			return;
		r = w_node(rw);
		if (r->shift == 0 || r->count != 1)
			return;
		w = slot_get(r, 0);
		if (!w_is_node(w))
			return;
		c = w_node(w);
		c->parent = NULL;
		c->offset = 0;
		atomic_store_explicit(&t->root, w, memory_order_release);
		node_free(t, r);
	}
}

/* Unlink @n and its ancestors while they are empty, then shrink. */
static void node_prune(struct dax_tree *t, struct tree_node *n)
{
	while (n && n->count == 0) {
		struct tree_node *p = n->parent;
		unsigned off = n->offset;

		if (p) {
			slot_set(p, off, 0);
			p->count--;
			marks_take(p, 1ULL << off);
		} else {
			atomic_store_explicit(&t->root, 0, memory_order_release);
		}
		node_free(t, n);
		if (p)
			marks_fix_up(p);
		n = p;
	}
	tree_shrink(t);
}

/* ---- lookups -------------------------------------------------------------- */

/*
 * The word covering @index, and where it lies: under RCU for readers (@np may
 * then name a node that is already unlinked), under the lock for writers.
 */
static inline uint64_t tree_lookup(const struct dax_tree *t, uint64_t index,
				   struct tree_node **np, unsigned *offp)
{
	uint64_t w = root_get(t);
	struct tree_node *n;
	unsigned sh, off;

	if (!w)
		return 0;
	n = w_node(w);
	sh = node_shift(n);
	if (!shift_covers(sh, index))
		return 0;
	for (;;) {
		off = (index >> sh) & (TREE_SLOTS - 1);
		w = slot_get(n, off);
		if (!w_is_node(w))
			break;
		n = w_node(w);
		sh -= TREE_SHIFT;
	}
	if (np) {
		*np = n;
		*offp = off;
	}
	return w;
}

/* ---- writers: planning --------------------------------------------------- */

enum plan_kind {
	PLAN_EMPTY,		/* nothing overlaps the range */
	PLAN_EXACT,		/* one entry with exactly the range */
	PLAN_INSIDE,		/* the range lies inside a larger entry */
	PLAN_OVER,		/* the range holds smaller entries */
};

struct tree_plan {
	enum plan_kind kind;
	unsigned need_shift;	/* root shift after the write */
	uint64_t nodes;		/* nodes a store needs */
	/* PLAN_EXACT / PLAN_OVER at an existing node: the span there;
	 * PLAN_EMPTY without growth: the node where the path ends, and its
	 * level (the shift of the store, or above it at an empty slot) */
	struct tree_node *node;	/* NULL: the whole tree (PLAN_OVER at root) */
	unsigned off, span, level;
	/* PLAN_INSIDE: the larger entry */
	uint64_t big;
};

/* What storing [index, index + 2^order) would meet. */
static void tree_plan(const struct dax_tree *t, uint64_t index,
		      unsigned order, struct tree_plan *p)
{
	unsigned st = order_shift(order);
	uint64_t rw = root_get(t);
	struct tree_node *n;
	unsigned sh;

	memset(p, 0, sizeof(*p));
	p->need_shift = fit_shift(index);
	if (p->need_shift < st)
		p->need_shift = st;
	if (!rw) {
		p->kind = PLAN_EMPTY;
		p->nodes = (p->need_shift - st) / TREE_SHIFT + 1;
		return;
	}
	n = w_node(rw);
	if (p->need_shift > n->shift) {
		if (shift_covers(n->shift, index)) {
			/* index 0 and a range larger than the whole tree */
			p->kind = PLAN_OVER;
			p->nodes = (p->need_shift - st) / TREE_SHIFT + 1;
		} else {
			/* beyond everything stored: grow, then a new path */
			p->kind = PLAN_EMPTY;
			p->nodes = (p->need_shift - n->shift) / TREE_SHIFT +
				   (p->need_shift - st) / TREE_SHIFT;
		}
		return;
	}
	p->need_shift = n->shift;
	for (sh = n->shift; sh > st; sh -= TREE_SHIFT) {
		uint64_t w = slot_get(n, (index >> sh) & (TREE_SLOTS - 1));

		if (!w) {
			p->kind = PLAN_EMPTY;
			p->nodes = (sh - st) / TREE_SHIFT;
			p->node = n;
			p->level = sh;
			return;
		}
		if (!w_is_node(w)) {
			p->kind = PLAN_INSIDE;
			p->node = n;
			p->off = (index >> sh) & (TREE_SLOTS - 1);
			p->big = w;
			return;
		}
		n = w_node(w);
	}
	p->node = n;
	p->level = st;
	p->off = (index >> st) & (TREE_SLOTS - 1);
	p->span = 1U << (order - st);
	{
		uint64_t w = slot_get(n, p->off);

		if (w_is_entry(w) && w_order(w) > order) {
			p->kind = PLAN_INSIDE;
			p->big = w;
			return;
		}
		if (w_is_entry(w) && w_order(w) == order) {
			p->kind = PLAN_EXACT;
			return;
		}
	}
	p->kind = PLAN_EMPTY;
	for (unsigned i = 0; i < p->span; i++) {
		if (slot_get(n, p->off + i)) {
			p->kind = PLAN_OVER;
			return;
		}
	}
}

/* Nodes needed to split an entry @w held at shift @sh down to @order. */
static uint64_t split_nodes(uint64_t w, unsigned sh, unsigned order)
{
	unsigned span = 1U << (w_order(w) - sh);
	uint64_t per_slot = 0, level = 1;

	if (order >= sh)
		return 0;
	for (unsigned s = sh; s > order_shift(order); s -= TREE_SHIFT) {
		per_slot += level;
		if (level > (1ULL << 40) / TREE_SLOTS)
			return ~0ULL;
		level *= TREE_SLOTS;
	}
	if (per_slot > (1ULL << 40) / span)
		return ~0ULL;
	return per_slot * span;
}

/* ---- writers: changing the tree ------------------------------------------ */

static void tree_grow(struct dax_tree *t, struct tree_resv *r, unsigned shift)
{
	struct tree_node *old = w_node(root_get(t));

	while (old->shift < shift) {
		struct tree_node *n = resv_take(t, r, old->shift + TREE_SHIFT,
						NULL, 0);

		slot_set(n, 0, mk_node(old));
		n->count = 1;
		for (unsigned m = 0; m < TREE_NR_MARKS; m++)
			if (mark_word(old, m))
				mark_word_set(n, m, 1);
		old->parent = n;
		old->offset = 0;
		atomic_store_explicit(&t->root, mk_node(n),
				      memory_order_release);
		old = n;
	}
}

/*
 * A private chain of nodes from shift @top down to the shift of @order,
 * holding @word at @index with marks @marks; the caller publishes it.
 */
static struct tree_node *chain_build(struct dax_tree *t, struct tree_resv *r,
				     unsigned top, uint64_t index,
				     unsigned order, uint64_t word,
				     unsigned marks)
{
	unsigned st = order_shift(order);
	struct tree_node *head = NULL, *parent = NULL;
	unsigned poff = 0;

	for (unsigned sh = top;; sh -= TREE_SHIFT) {
		struct tree_node *n = resv_take(t, r, sh, parent, poff);
		unsigned off = (index >> sh) & (TREE_SLOTS - 1);

		if (parent)
			slot_set(parent, poff, mk_node(n));
		else
			head = n;
		if (parent)
			parent->count = 1;
		if (sh == st) {
			unsigned span = 1U << (order - st);

			for (unsigned i = 0; i < span; i++)
				slot_set(n, off + i, word);
			n->count = span;
			for (unsigned m = 0; m < TREE_NR_MARKS; m++)
				if (marks & (1U << m))
					mark_set_up(n, off, m);
			return head;
		}
		parent = n;
		poff = off;
	}
}

/* Fill the empty range of a PLAN_EMPTY store. */
static void store_fresh(struct dax_tree *t, struct tree_resv *r,
			const struct tree_plan *p, uint64_t index,
			unsigned order, uint64_t word)
{
	unsigned st = order_shift(order);
	uint64_t rw = root_get(t);
	struct tree_node *n;
	unsigned sh;

	counter_add(&t->nr_entries, 1);
	if (!rw) {
		n = chain_build(t, r, p->need_shift, index, order, word, 0);
		atomic_store_explicit(&t->root, mk_node(n),
				      memory_order_release);
		return;
	}
	if (p->node) {
		/* no growth: the walk of tree_plan() ended here */
		n = p->node;
		sh = p->level;
	} else {
		if (w_node(rw)->shift < p->need_shift)
			tree_grow(t, r, p->need_shift);
		n = w_node(root_get(t));
		sh = n->shift;
	}
	for (; sh > st; sh -= TREE_SHIFT) {
		unsigned off = (index >> sh) & (TREE_SLOTS - 1);
		uint64_t w = slot_get(n, off);

		if (!w) {
			struct tree_node *c = chain_build(
				t, r, sh - TREE_SHIFT, index, order, word, 0);

			c->parent = n;
			c->offset = off;
			slot_set(n, off, mk_node(c));
			n->count++;
			return;
		}
		n = w_node(w);
	}
	{
		unsigned off = (index >> st) & (TREE_SLOTS - 1);
		unsigned span = 1U << (order - st);

		for (unsigned i = 0; i < span; i++)
			slot_set(n, off + i, word);
		n->count += span;
	}
}

/*
 * Erase the entry spanning [off, off + span) of @n; @cleared: its slots
 * already hold 0 (a one-slot entry claimed by compare-and-swap).
 */
static void erase_span_how(struct dax_tree *t, struct tree_node *n,
			   unsigned off, unsigned span, bool cleared)
{
	if (marks_take(n, 1ULL << off))
		marks_fix_up(n);
	for (unsigned i = 0; i < span && !cleared; i++)
		slot_set(n, off + i, 0);
	n->count -= span;
	counter_add(&t->nr_entries, -1);
	node_prune(t, n);
}

static void erase_span(struct dax_tree *t, struct tree_node *n, unsigned off,
		       unsigned span)
{
	erase_span_how(t, n, off, span, false);
}

/*
 * Replace whatever lies in [off, off + span) of @n (smaller entries and
 * subtrees) by @word (0: nothing), with the union of their marks.
 */
static void replace_span(struct dax_tree *t, struct tree_node *n,
			 unsigned off, unsigned span, uint64_t word)
{
	struct tree_node *gone[TREE_SLOTS];
	unsigned nr_gone = 0, filled = 0, marks = 0;
	uint64_t entries = 0, bits = slot_bits(off, span);

	/*
	 * The new entry's marks (the union) go on its first slot before the
	 * slots change, and the other bits of the range are cleared after:
	 * a marked find running beside the replace sees the range marked
	 * throughout instead of missing it in between.  The ancestors have
	 * these marks already, since something below @n carried them.
	 */
	for (unsigned m = 0; m < TREE_NR_MARKS; m++) {
		if (!(mark_word(n, m) & bits))
			continue;
		marks |= 1U << m;
		if (word)
			mark_word_set(n, m, mark_word(n, m) | 1ULL << off);
	}
	for (unsigned i = off; i < off + span; i++) {
		uint64_t w = slot_get(n, i);

		if (w)
			filled++;
		if (w_is_node(w)) {
			gone[nr_gone++] = w_node(w);
		} else if (w_is_entry(w)) {
			unsigned es = 1U << (w_order(w) - n->shift);

			if ((i & (es - 1)) == 0)
				entries++;
		}
		slot_set(n, i, word);
	}
	for (unsigned i = 0; i < nr_gone; i++)
		entries += subtree_release(t, gone[i]);
	counter_add(&t->nr_entries, -(uint64_t)(entries));
	if (word) {
		counter_add(&t->nr_entries, 1);
		n->count += span - filled;
		marks_take(n, bits & ~(1ULL << off));
	} else {
		n->count -= filled;
		if (marks)
			marks_take(n, bits);
		marks_fix_up(n);
		node_prune(t, n);
	}
}

/* A full private subtree at @sh whose every index holds @value at @order. */
static struct tree_node *split_build(struct dax_tree *t, struct tree_resv *r,
				     unsigned sh, struct tree_node *parent,
				     unsigned poff, uint64_t value,
				     unsigned order, unsigned marks)
{
	struct tree_node *n = resv_take(t, r, sh, parent, poff);

	if (order >= sh) {
		unsigned ps = 1U << (order - sh);
		uint64_t word = mk_entry(value, order);

		for (unsigned i = 0; i < TREE_SLOTS; i++)
			slot_set(n, i, word);
		for (unsigned m = 0; m < TREE_NR_MARKS; m++) {
			uint64_t bits = 0;

			if (!(marks & (1U << m)))
				continue;
			for (unsigned i = 0; i < TREE_SLOTS; i += ps)
				bits |= 1ULL << i;
			mark_word_set(n, m, bits);
		}
	} else {
		for (unsigned i = 0; i < TREE_SLOTS; i++)
			slot_set(n, i,
				 mk_node(split_build(t, r, sh - TREE_SHIFT, n,
						     i, value, order, marks)));
		for (unsigned m = 0; m < TREE_NR_MARKS; m++)
			if (marks & (1U << m))
				mark_word_set(n, m, ~0ULL);
	}
	n->count = TREE_SLOTS;
	return n;
}

/* Split the entry @w whose first slot is @off of @n down to @order. */
static void split_apply(struct dax_tree *t, struct tree_resv *r,
			struct tree_node *n, unsigned off, uint64_t w,
			unsigned order)
{
	unsigned sh = n->shift, span = 1U << (w_order(w) - sh);
	uint64_t value = w_value(w);
	unsigned marks = 0;

	for (unsigned m = 0; m < TREE_NR_MARKS; m++)
		if (mark_word(n, m) & (1ULL << off))
			marks |= 1U << m;
	counter_add(&t->nr_entries, (1ULL << (w_order(w) - order)) - 1);
	/*
	 * The pieces' mark bits go in before the pieces: a marked find that
	 * meets a piece (or a new subtree) must find its bit set, or it
	 * skips an entry that stayed marked all along.  Until a slot is
	 * rewritten, readers look only at the bit of the old entry's first
	 * slot, so the early bits change nothing for them.
	 */
	for (unsigned m = 0; m < TREE_NR_MARKS; m++) {
		uint64_t bits = 0;

		if (!(marks & (1U << m)))
			continue;
		if (order >= sh) {
			for (unsigned i = off; i < off + span;
			     i += 1U << (order - sh))
				bits |= 1ULL << i;
		} else {
			bits = slot_bits(off, span);
		}
		mark_word_set(n, m, mark_word(n, m) | bits);
	}
	if (order >= sh) {
		uint64_t word = mk_entry(value, order);

		for (unsigned i = off; i < off + span; i++)
			slot_set(n, i, word);
		return;
	}
	for (unsigned i = off; i < off + span; i++)
		slot_set(n, i,
			 mk_node(split_build(t, r, sh - TREE_SHIFT, n, i,
					     value, order, marks)));
}

/* ---- argument checks ---------------------------------------------------- */

static int check_range(uint64_t index, unsigned order)
{
	if (order > DAX_TREE_MAX_ORDER)
		return dax_fail(NULL, -EINVAL,
				"order %u is above the largest, %u", order,
				DAX_TREE_MAX_ORDER);
	if (index & low_mask(order))
		return dax_fail(NULL, -EINVAL,
				"index 0x%llx is not aligned to its order %u "
				"(0x%llx would be)",
				(unsigned long long)index, order,
				(unsigned long long)(index & ~low_mask(order)));
	return 0;
}

static int check_value(uint64_t value)
{
	if (value > DAX_TREE_VALUE_MAX)
		return dax_fail(NULL, -EINVAL,
				"value 0x%llx is above DAX_TREE_VALUE_MAX",
				(unsigned long long)value);
	return 0;
}

static int check_mark(enum dax_tree_mark mark)
{
	if ((unsigned)mark >= TREE_NR_MARKS)
		return dax_fail(NULL, -EINVAL,
				"mark %d is not one of DAX_TREE_MARK_0..2",
				(int)mark);
	return 0;
}

/* ---- the API: life cycle ---------------------------------------------------- */

/**
 * dax_tree_new() - make an empty tree
 * @tree: receives the tree
 *
 * Context: any thread; allocates.
 * Return: 0, or -EINVAL (@tree is NULL) or -ENOMEM.
 */
DAX_EXPORT int dax_tree_new(struct dax_tree **tree)
{
	pthread_mutexattr_t attr;
	struct dax_tree *t;

	if (!tree)
		return dax_fail(NULL, -EINVAL, "tree out-pointer is NULL");
	t = aligned_alloc(64, sizeof(*t));
	if (!t)
		return dax_fail(NULL, -ENOMEM, "out of memory for a tree");
	memset(t, 0, sizeof(*t));
	pthread_mutexattr_init(&attr);
	/* Spin a little before sleeping: a cross-CPU wake costs ~50 us. */
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&t->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	t->next_chunk_bytes = sizeof(struct tree_chunk) + sizeof(struct tree_node);
	/* an atomic store, not atomic_init(): the last put may run on liburcu's
	 * call_rcu thread, and ThreadSanitizer sees atomic_init as a plain write */
	atomic_store_explicit(&t->refs, 1, memory_order_relaxed);
	*tree = t;
	return 0;
}

static void tree_delete_cb(struct rcu_head *head)
{
	tree_put(caa_container_of(head, struct dax_tree, rcu));
}

/**
 * dax_tree_delete() - free a tree and all of its nodes
 * @tree: the tree; set to NULL.  NULL or *@tree NULL does nothing.
 *
 * The values stored are the caller's: nothing is done with them.  Readers
 * still running on the tree finish safely: the memory goes back after a
 * grace period.  No writer may use the tree any more.
 *
 * Context: any thread; must not hold the tree lock.
 */
DAX_EXPORT void dax_tree_delete(struct dax_tree **tree)
{
	struct dax_tree *t;

	if (!tree || !*tree)
		return;
	t = *tree;
	*tree = NULL;
	atomic_store_explicit(&t->root, 0, memory_order_release);
	/* A release that tree_put()'s acq_rel pairs with: the freeing thread
	 * must see our last writes, and call_rcu's queue is not an edge
	 * ThreadSanitizer can see. */
	atomic_fetch_add_explicit(&t->refs, 0, memory_order_release);
	dax_call_rcu(&t->rcu, tree_delete_cb);
}

/* ---- the API: readers ------------------------------------------------------- */

/**
 * dax_tree_load() - the value of the entry covering an index
 * @tree: the tree
 * @index: any index
 *
 * Context: any thread, lock-free (RCU inside); may run beside writers.
 * Return: the value, or 0 when no entry covers @index.
 */
DAX_EXPORT uint64_t dax_tree_load(const struct dax_tree *tree, uint64_t index)
{
	uint64_t w;

	dax_rcu_read_lock();
	w = tree_lookup(tree, index, NULL, NULL);
	dax_rcu_read_unlock();
	return w_value(w);
}

/**
 * dax_tree_load_covering() - the entry covering an index, with its range
 * @tree: the tree
 * @index: any index
 * @first: receives the entry's first (canonical) index; may be NULL
 * @order: receives the entry's order; may be NULL
 *
 * The three results come from one read of one slot: they describe the same
 * entry.  @first and @order are left alone when no entry covers @index.
 *
 * Context: any thread, lock-free (RCU inside).
 * Return: the value, or 0 when no entry covers @index.
 */
DAX_EXPORT uint64_t dax_tree_load_covering(const struct dax_tree *tree,
					   uint64_t index, uint64_t *first,
					   unsigned *order)
{
	uint64_t w;

	dax_rcu_read_lock();
	w = tree_lookup(tree, index, NULL, NULL);
	dax_rcu_read_unlock();
	if (!w)
		return 0;
	if (first)
		*first = index & ~low_mask(w_order(w));
	if (order)
		*order = w_order(w);
	return w_value(w);
}

/**
 * dax_tree_load_mark() - dax_tree_load() and dax_tree_get_mark() in one walk
 * @tree: the tree
 * @index: any index
 * @mark: DAX_TREE_MARK_0, _1 or _2
 * @marked: receives whether the entry has @mark (false when no entry)
 *
 * For the fault path's write fast path, which needs both ("present and
 * already dirty"): one walk and one read-side section instead of two.
 *
 * Context: any thread, lock-free (RCU inside).
 * Return: the value, or 0 when no entry covers @index.
 */
uint64_t dax_tree_load_mark(const struct dax_tree *tree, uint64_t index,
			    enum dax_tree_mark mark, bool *marked)
{
	struct tree_node *n;
	unsigned off;
	uint64_t w;

	*marked = false;
	dax_rcu_read_lock();
	w = tree_lookup(tree, index, &n, &off);
	if (w && (unsigned)mark < TREE_NR_MARKS) {
		unsigned span = 1U << (w_order(w) - node_shift(n));

		*marked = mark_word(n, mark) >> (off & ~(span - 1)) & 1;
	}
	dax_rcu_read_unlock();
	return w_value(w);
}

/**
 * dax_tree_get_mark() - is a mark set on the entry covering an index?
 * @tree: the tree
 * @index: any index of the entry
 * @mark: DAX_TREE_MARK_0, _1 or _2
 *
 * Context: any thread, lock-free (RCU inside).
 * Return: true when an entry covers @index and has @mark; false otherwise
 * (also for an invalid @mark).
 */
DAX_EXPORT bool dax_tree_get_mark(const struct dax_tree *tree, uint64_t index,
				  enum dax_tree_mark mark)
{
	struct tree_node *n;
	unsigned off;
	uint64_t w;
	bool set = false;

	if ((unsigned)mark >= TREE_NR_MARKS)
		return false;
	dax_rcu_read_lock();
	w = tree_lookup(tree, index, &n, &off);
	if (w) {
		unsigned span = 1U << (w_order(w) - node_shift(n));

		set = mark_word(n, mark) >> (off & ~(span - 1)) & 1;
	}
	dax_rcu_read_unlock();
	return set;
}

/*
 * The scan behind find and walk: call @fn for each entry overlapping
 * [start, last] that passes @filter, in index order, until it returns
 * non-zero.  Runs under RCU.  A stack of (node, base) replaces the parent
 * pointers, which readers do not use.
 *
 * Reported entries never overlap and their first indices only grow: only
 * the first report may start before @start (an entry covering it), and only
 * when @covering allows.  A writer that, during the scan, stores an entry
 * beginning behind the scan position (say, a 2 MiB entry replacing the
 * small ones the scan already reported) is not reported: to the scan it is
 * an entry stored after it passed.
 */
typedef int (*scan_fn)(void *priv, uint64_t first, unsigned order,
		       uint64_t value);

static int tree_scan(const struct dax_tree *t, uint64_t start, uint64_t last,
		     enum dax_tree_mark filter, bool covering, scan_fn fn,
		     void *priv)
{
	struct {
		const struct tree_node *n;
		uint64_t base;
	} stack[12];
	unsigned depth = 0, off;
	const struct tree_node *n;
	uint64_t base, rw = root_get(t), idx = start, pos = start;
	bool marked = filter != DAX_TREE_PRESENT;
	int ret;

	if (!rw || start > last)
		return 0;
	n = w_node(rw);
	if (!shift_covers(node_shift(n), start))
		return 0;
	base = 0;
	for (;;) {
		unsigned sh = node_shift(n);

		off = (idx - base) >> sh;
		while (off < TREE_SLOTS) {
			uint64_t sbase = base + ((uint64_t)off << sh);
			uint64_t w;

			if (sbase > last)
				return 0;
			if (marked) {
				/* jump to the next marked slot, but look at
				 * the slot of idx: its entry may start before */
				uint64_t mw = mark_word(n, filter);
				uint64_t ahead = mw & (~0ULL << off);

				w = slot_get(n, off);
				if (w_is_entry(w)) {
					unsigned span = 1U
							<< (w_order(w) - sh);
					unsigned c = off & ~(span - 1);

					if (mw >> c & 1)
						goto found_entry;
					off = c + span;
					continue;
				}
				if (w_is_node(w) && (mw >> off & 1))
					goto found_node;
				ahead &= ~(1ULL << off);
				if (!ahead)
					break;
				off = __builtin_ctzll(ahead);
				continue;
			}
			w = slot_get(n, off);
			if (!w) {
				off++;
				continue;
			}
			if (w_is_node(w))
				goto found_node;
found_entry:
			{
				unsigned order = w_order(w);
				unsigned span = 1U << (order - sh);
				uint64_t first = base +
					((uint64_t)(off & ~(span - 1)) << sh);

				if (first > last)
					return 0;
				if (first < pos && !covering) {
					off = (off & ~(span - 1)) + span;
					continue;
				}
				ret = fn(priv, first, order, w_value(w));
				if (ret)
					return ret;
				covering = false;
				pos = first + low_mask(order);
				if (pos == ~0ULL)
					return 0;
				pos++;
				off = (off & ~(span - 1)) + span;
				if (off >= TREE_SLOTS)
					break;
				idx = base + ((uint64_t)off << sh);
				if (idx > last)
					return 0;
				continue;
			}
found_node:
			if (sbase > idx)
				idx = sbase;
			stack[depth].n = n;
			stack[depth].base = base;
			depth++;
			n = w_node(w);
			base = sbase;
			goto descend;
		}
		/* this node is done: continue after it in its parent */
		{
			uint64_t end = base + low_mask(sh + TREE_SHIFT);

			if (end == ~0ULL || end >= last || depth == 0)
				return 0;
			idx = end + 1;
			depth--;
			n = stack[depth].n;
			base = stack[depth].base;
		}
descend:;
	}
}

struct find_result {
	uint64_t first, value;
	unsigned order;
};

static int find_first_cb(void *priv, uint64_t first, unsigned order,
			 uint64_t value)
{
	struct find_result *r = priv;

	r->first = first;
	r->order = order;
	r->value = value;
	return 1;
}

static uint64_t tree_find(const struct dax_tree *t, uint64_t *index,
			  uint64_t start, uint64_t last,
			  enum dax_tree_mark filter, bool covering,
			  unsigned *order)
{
	struct find_result r = { 0 };

	if ((unsigned)filter > DAX_TREE_PRESENT)
		return 0;
	dax_rcu_read_lock();
	tree_scan(t, start, last, filter, covering, find_first_cb, &r);
	dax_rcu_read_unlock();
	if (!r.value)
		return 0;
	*index = r.first;
	if (order)
		*order = r.order;
	return r.value;
}

/**
 * dax_tree_find() - the first entry overlapping a range
 * @tree: the tree
 * @index: in: the first index of the range; out: the found entry's first
 *	index (which is below the input when the entry covers it)
 * @last: the last index of the range (inclusive)
 * @filter: DAX_TREE_PRESENT for any entry, or a mark the entry must have
 * @order: receives the found entry's order; may be NULL
 *
 * Context: any thread, lock-free (RCU inside).
 * Return: the value of the entry, or 0 when none (@index, @order unchanged).
 */
DAX_EXPORT uint64_t dax_tree_find(const struct dax_tree *tree,
				  uint64_t *index, uint64_t last,
				  enum dax_tree_mark filter, unsigned *order)
{
	return tree_find(tree, index, *index, last, filter, true, order);
}

/**
 * dax_tree_find_after() - the first entry after a found one
 * @tree: the tree
 * @index: in: a found entry's first index; out: the next entry's
 * @last: the last index of the range (inclusive)
 * @filter: as for dax_tree_find()
 * @order: in: the found entry's order; out: the next entry's order
 *
 * Looks from @index + 2^@order on, and reports only an entry that starts
 * there or later, so that no entry is seen twice and, even while writers
 * run, the entries of a dax_tree_for_each() loop never overlap.
 *
 * Context: any thread, lock-free (RCU inside).
 * Return: the value of the entry, or 0 when none (@index, @order unchanged).
 */
DAX_EXPORT uint64_t dax_tree_find_after(const struct dax_tree *tree,
					uint64_t *index, uint64_t last,
					enum dax_tree_mark filter,
					unsigned *order)
{
	uint64_t start = (*index | low_mask(*order)) + 1;

	if (start == 0 || *order > DAX_TREE_MAX_ORDER)
		return 0;
	return tree_find(tree, index, start, last, filter, false, order);
}

/**
 * dax_tree_find_conflict() - the first entry overlapping an aligned range
 * @tree: the tree
 * @index: any index of the range; the range is the 2^@order indices aligned
 *	to 2^@order that contain it
 * @order: the range's order (0..64)
 * @first: receives the entry's first index; may be NULL
 * @entry_order: receives the entry's order; may be NULL
 *
 * Reports an entry that covers the whole range as well as entries inside
 * it, always the one with the lowest index.  It only looks: nothing is
 * erased or changed.
 *
 * Context: any thread, lock-free (RCU inside).
 * Return: the value of that entry, or 0 when the range is empty.
 */
DAX_EXPORT uint64_t dax_tree_find_conflict(const struct dax_tree *tree,
					   uint64_t index, unsigned order,
					   uint64_t *first,
					   unsigned *entry_order)
{
	uint64_t start, found = 0, v;
	unsigned o = 0;

	if (order > 64)
		return 0;
	start = index & ~low_mask(order);
	v = tree_find(tree, &found, start, start | low_mask(order),
		      DAX_TREE_PRESENT, true, &o);
	if (!v)
		return 0;
	if (first)
		*first = found;
	if (entry_order)
		*entry_order = o;
	return v;
}

struct walk_ctx {
	dax_tree_walk_fn fn;
	void *priv;
};

static int walk_cb(void *priv, uint64_t first, unsigned order, uint64_t value)
{
	struct walk_ctx *w = priv;

	return w->fn(w->priv, first, order, value);
}

/**
 * dax_tree_walk() - call a function for each entry of a range
 * @tree: the tree
 * @start: the first index
 * @last: the last index (inclusive)
 * @filter: DAX_TREE_PRESENT or a mark
 * @fn: called as fn(@priv, first, order, value) in index order
 * @priv: passed to @fn
 *
 * The walk runs in one RCU read-side section without re-descending from
 * the root, so it is the fast way to visit many entries.  @fn may call the
 * tree's readers and writers (a writer takes the lock, it never waits for a
 * grace period); it should not block for long, since that holds back the
 * reclaim of every RCU user.  An entry changed during the walk is reported
 * with its old or its new value, or not at all if it was erased.
 *
 * Context: any thread, lock-free (RCU inside).
 * Return: 0 after the last entry, or the first non-zero value of @fn.
 */
DAX_EXPORT int dax_tree_walk(const struct dax_tree *tree, uint64_t start,
			     uint64_t last, enum dax_tree_mark filter,
			     dax_tree_walk_fn fn, void *priv)
{
	struct walk_ctx w = { fn, priv };
	int ret;

	if ((unsigned)filter > DAX_TREE_PRESENT || !fn)
		return dax_fail(NULL, -EINVAL, "bad filter or NULL function");
	dax_rcu_read_lock();
	ret = tree_scan(tree, start, last, filter, true, walk_cb, &w);
	dax_rcu_read_unlock();
	return ret;
}

/**
 * dax_tree_empty() - does the tree hold no entry?
 * @tree: the tree
 *
 * Context: any thread, lock-free.
 * Return: true when the tree is empty.
 */
DAX_EXPORT bool dax_tree_empty(const struct dax_tree *tree)
{
	return root_get(tree) == 0;
}

/**
 * dax_tree_get_nr_entries() - number of entries (a large one counts once)
 * @tree: the tree
 *
 * Context: any thread, lock-free; exact under the tree lock.
 * Return: the count.
 */
DAX_EXPORT uint64_t dax_tree_get_nr_entries(const struct dax_tree *tree)
{
	return atomic_load_explicit(&tree->nr_entries, memory_order_relaxed);
}

/**
 * dax_tree_get_nr_nodes() - number of nodes linked in the tree
 * @tree: the tree
 *
 * Context: any thread, lock-free; exact under the tree lock.
 * Return: the count (0 for an empty tree).
 */
DAX_EXPORT uint64_t dax_tree_get_nr_nodes(const struct dax_tree *tree)
{
	return atomic_load_explicit(&tree->nr_nodes, memory_order_relaxed);
}

/**
 * dax_tree_get_memory() - bytes of memory the tree holds
 * @tree: the tree
 *
 * The tree's node chunks plus the tree itself.  Freed nodes stay in the
 * tree's cache for reuse until the tree is deleted, so this figure never
 * goes down.
 *
 * Context: any thread, lock-free.
 * Return: the byte count.
 */
DAX_EXPORT uint64_t dax_tree_get_memory(const struct dax_tree *tree)
{
	return atomic_load_explicit(&tree->memory, memory_order_relaxed) +
	       sizeof(*tree);
}

/* ---- the API: writers ------------------------------------------------------- */

/**
 * dax_tree_lock() - take the tree's writer lock
 * @tree: the tree
 *
 * Hold it to make several *_locked calls one atomic step for other writers
 * (readers still run, and see each call's effect as it happens).  Not
 * recursive.
 *
 * Context: any thread; may sleep (spins briefly first).
 */
DAX_EXPORT void dax_tree_lock(struct dax_tree *tree)
{
	pthread_mutex_lock(&tree->lock);
}

/**
 * dax_tree_unlock() - release the tree's writer lock
 * @tree: the tree
 *
 * Context: the caller holds the tree lock.
 */
DAX_EXPORT void dax_tree_unlock(struct dax_tree *tree)
{
	pthread_mutex_unlock(&tree->lock);
}

/**
 * dax_tree_store_locked() - store an entry over a range
 * @tree: the tree
 * @index: the first index, a multiple of 2^@order
 * @order: the entry's order (0..DAX_TREE_MAX_ORDER)
 * @value: 1..DAX_TREE_VALUE_MAX, or 0 to erase the range
 * @flags: DAX_TREE_SPLIT, DAX_TREE_REPLACE
 * @old: receives the value that covered @index before; may be NULL
 *
 * An entry with exactly this range is replaced in place and keeps its
 * marks.  An empty range is filled.  A range inside a larger entry fails
 * unless @flags has DAX_TREE_SPLIT: the larger entry is then split down to
 * @order (each piece keeps its value and marks) and the piece at @index is
 * replaced.  A range holding smaller entries fails unless @flags has
 * DAX_TREE_REPLACE: they are then all removed, and the new entry gets the
 * union of their marks.
 *
 * Context: the caller holds the tree lock.
 * Return: 0; -EINVAL for a bad order, alignment, value or flag; -EBUSY for
 * an overlap the flags do not allow; -ENOMEM when a node could not be
 * allocated.  On error the tree is unchanged.
 */
DAX_EXPORT int dax_tree_store_locked(struct dax_tree *tree, uint64_t index,
				     unsigned order, uint64_t value,
				     unsigned flags, uint64_t *old)
{
	struct tree_resv r = { 0 };
	struct tree_plan p;
	uint64_t word = value ? mk_entry(value, order) : 0;
	int ret;

	ret = check_range(index, order);
	if (!ret)
		ret = check_value(value);
	if (ret)
		return ret;
	if (flags & ~(unsigned)(DAX_TREE_SPLIT | DAX_TREE_REPLACE))
		return dax_fail(NULL, -EINVAL, "unknown store flags 0x%x",
				flags);
	tree_plan(tree, index, order, &p);
	switch (p.kind) {
	case PLAN_EMPTY:
		if (old)
			*old = 0;
		if (!value)
			return 0;
		ret = resv_get(tree, &r, p.nodes);
		if (ret)
			return ret;
		store_fresh(tree, &r, &p, index, order, word);
		break;
	case PLAN_EXACT:
		if (old)
			*old = w_value(slot_get(p.node, p.off));
		if (!value) {
			erase_span(tree, p.node, p.off, p.span);
			return 0;
		}
		for (unsigned i = 0; i < p.span; i++)
			slot_set(p.node, p.off + i, word);
		return 0;
	case PLAN_INSIDE: {
		unsigned bspan = 1U << (w_order(p.big) - p.node->shift);
		unsigned boff = p.off & ~(bspan - 1);

		if (!(flags & DAX_TREE_SPLIT))
			return dax_fail(NULL, -EBUSY,
					"index 0x%llx (order %u) lies inside "
					"an order-%u entry at 0x%llx; "
					"DAX_TREE_SPLIT would split it",
					(unsigned long long)index, order,
					w_order(p.big),
					(unsigned long long)(index &
						~low_mask(w_order(p.big))));
		ret = resv_get(tree, &r,
			       split_nodes(p.big, p.node->shift, order));
		if (ret)
			return ret;
		if (old)
			*old = w_value(p.big);
		split_apply(tree, &r, p.node, boff, p.big, order);
		tree_shrink(tree);
		tree_plan(tree, index, order, &p);
		if (value) {
			for (unsigned i = 0; i < p.span; i++)
				slot_set(p.node, p.off + i, word);
		} else {
			erase_span(tree, p.node, p.off, p.span);
		}
		break;
	}
	case PLAN_OVER:
		if (!(flags & DAX_TREE_REPLACE))
			return dax_fail(NULL, -EBUSY,
					"the order-%u range at 0x%llx holds "
					"smaller entries; DAX_TREE_REPLACE "
					"would replace them",
					order, (unsigned long long)index);
		if (old)
			*old = w_value(tree_lookup(tree, index, NULL, NULL));
		if (p.node) {
			replace_span(tree, p.node, p.off, p.span, word);
			break;
		}
		/* the range covers the whole tree (index 0) */
		ret = resv_get(tree, &r, value ? p.nodes : 0);
		if (ret)
			return ret;
		{
			struct tree_node *oldroot = w_node(root_get(tree));
			unsigned marks = 0;
			uint64_t gone;

			for (unsigned m = 0; m < TREE_NR_MARKS; m++)
				if (mark_word(oldroot, m))
					marks |= 1U << m;
			if (value) {
				struct tree_node *n = chain_build(
					tree, &r, p.need_shift, index, order,
					word, marks);

				atomic_store_explicit(&tree->root,
						      mk_node(n),
						      memory_order_release);
				counter_add(&tree->nr_entries, 1);
			} else {
				atomic_store_explicit(&tree->root, 0,
						      memory_order_release);
			}
			gone = subtree_release(tree, oldroot);
			counter_add(&tree->nr_entries, -(uint64_t)(gone));
		}
		break;
	}
	resv_release(tree, &r);
	return 0;
}

/**
 * dax_tree_store() - dax_tree_store_locked() under the tree lock
 * @tree: the tree
 * @index: the first index, a multiple of 2^@order
 * @order: the entry's order
 * @value: the value, or 0 to erase the range
 * @flags: DAX_TREE_SPLIT, DAX_TREE_REPLACE
 * @old: receives the value that covered @index before; may be NULL
 *
 * Context: takes the tree lock; may sleep.
 * Return: as dax_tree_store_locked().
 */
DAX_EXPORT int dax_tree_store(struct dax_tree *tree, uint64_t index,
			      unsigned order, uint64_t value, unsigned flags,
			      uint64_t *old)
{
	int ret;

	dax_tree_lock(tree);
	ret = dax_tree_store_locked(tree, index, order, value, flags, old);
	dax_tree_unlock(tree);
	return ret;
}

/**
 * dax_tree_insert_locked() - store an entry into an empty range
 * @tree: the tree
 * @index: the first index, a multiple of 2^@order
 * @order: the entry's order
 * @value: 1..DAX_TREE_VALUE_MAX
 *
 * Context: the caller holds the tree lock.
 * Return: 0; -EEXIST when any entry overlaps the range (a larger one
 * around it or smaller ones inside); -EINVAL; -ENOMEM.  On error the tree
 * is unchanged.
 */
DAX_EXPORT int dax_tree_insert_locked(struct dax_tree *tree, uint64_t index,
				      unsigned order, uint64_t value)
{
	struct tree_resv r = { 0 };
	struct tree_plan p;
	int ret;

	ret = check_range(index, order);
	if (!ret)
		ret = check_value(value);
	if (!ret && !value)
		ret = dax_fail(NULL, -EINVAL, "cannot insert the value 0");
	if (ret)
		return ret;
	tree_plan(tree, index, order, &p);
	if (p.kind != PLAN_EMPTY)
		return dax_fail(NULL, -EEXIST,
				"an entry already overlaps the order-%u range "
				"at 0x%llx",
				order, (unsigned long long)index);
	ret = resv_get(tree, &r, p.nodes);
	if (ret)
		return ret;
	store_fresh(tree, &r, &p, index, order, mk_entry(value, order));
	resv_release(tree, &r);
	return 0;
}

/**
 * dax_tree_insert() - dax_tree_insert_locked() under the tree lock
 * @tree: the tree
 * @index: the first index, a multiple of 2^@order
 * @order: the entry's order
 * @value: 1..DAX_TREE_VALUE_MAX
 *
 * Context: takes the tree lock; may sleep.
 * Return: as dax_tree_insert_locked().
 */
DAX_EXPORT int dax_tree_insert(struct dax_tree *tree, uint64_t index,
			       unsigned order, uint64_t value)
{
	int ret;

	dax_tree_lock(tree);
	ret = dax_tree_insert_locked(tree, index, order, value);
	dax_tree_unlock(tree);
	return ret;
}

/**
 * dax_tree_erase_locked() - erase the entry covering an index
 * @tree: the tree
 * @index: any index of the entry; the whole entry goes, with its marks
 *
 * Context: the caller holds the tree lock.  Never allocates.
 * Return: the erased entry's value, or 0 when nothing covered @index.
 */
DAX_EXPORT uint64_t dax_tree_erase_locked(struct dax_tree *tree,
					  uint64_t index)
{
	struct tree_node *n;
	unsigned off, span;
	uint64_t w = tree_lookup(tree, index, &n, &off);

	if (!w)
		return 0;
	span = 1U << (w_order(w) - n->shift);
	erase_span(tree, n, off & ~(span - 1), span);
	return w_value(w);
}

/**
 * dax_tree_erase() - dax_tree_erase_locked() under the tree lock
 * @tree: the tree
 * @index: any index of the entry
 *
 * Context: takes the tree lock; may sleep.
 * Return: the erased entry's value, or 0.
 */
DAX_EXPORT uint64_t dax_tree_erase(struct dax_tree *tree, uint64_t index)
{
	uint64_t v;

	dax_tree_lock(tree);
	v = dax_tree_erase_locked(tree, index);
	dax_tree_unlock(tree);
	return v;
}

/**
 * dax_tree_cmpxchg_locked() - replace the entry covering an index if it
 * still has an expected value
 * @tree: the tree
 * @index: any index of the entry
 * @old: the expected value (0: no entry covers @index)
 * @value: the new value (0: erase the entry)
 * @cur: receives the value found; the exchange happened iff *@cur == @old
 *
 * The whole entry is replaced in place: same first index, same order, same
 * marks.  When @old is 0 and nothing covers @index, @value is stored at
 * @index with order 0.
 *
 * Context: the caller holds the tree lock.
 * Return: 0 (whether or not it exchanged); -EINVAL for a bad @value;
 * -ENOMEM when storing into an empty index needed a node (nothing changed).
 */
DAX_EXPORT int dax_tree_cmpxchg_locked(struct dax_tree *tree, uint64_t index,
				       uint64_t old, uint64_t value,
				       uint64_t *cur)
{
	struct tree_node *n;
	unsigned off, span;
	uint64_t w;
	int ret = check_value(value);

	if (ret)
		return ret;
	w = tree_lookup(tree, index, &n, &off);
	if (cur)
		*cur = w_value(w);
	if (w_value(w) != old || old == value)
		return 0;
	if (!w)
		return dax_tree_insert_locked(tree, index, 0, value);
	span = 1U << (w_order(w) - n->shift);
	off &= ~(span - 1);
	if (span == 1) {
		/*
		 * A one-slot entry may be changed by dax_tree_update_slot()
		 * without the lock: claim the slot with a compare-and-swap
		 * so neither change is lost.
		 */
		uint64_t seen = w;
		uint64_t nw = value ? mk_entry(value, w_order(w)) : 0;

		if (!atomic_compare_exchange_strong_explicit(
			    &n->slots[off], &seen, nw, memory_order_acq_rel,
			    memory_order_acquire)) {
			if (cur)
				*cur = w_is_entry(seen) ? w_value(seen) : 0;
			return 0;
		}
		if (!value)
			erase_span_how(tree, n, off, 1, true);
		return 0;
	}
	if (!value) {
		erase_span(tree, n, off, span);
		return 0;
	}
	w = mk_entry(value, w_order(w));
	for (unsigned i = 0; i < span; i++)
		slot_set(n, off + i, w);
	return 0;
}

/**
 * dax_tree_update_slot() - change a one-slot entry without the tree lock
 * @tree: the tree
 * @index: any index
 * @update: returns the new value for the value it is given, or 0 to leave
 *          it alone; it may be called more than once (a lost race retries)
 * @arg: passed to @update
 * @old: receives the value the decision was made on (0: no entry)
 *
 * The entry locks' fast path ("if it is unlocked, lock it"): an entry that
 * fills exactly one slot (order 0 in a leaf, order 6 one level up, ...) is
 * changed with one walk and one compare-and-swap on that slot.  Writers
 * holding the tree lock claim such slots with a compare-and-swap too
 * (dax_tree_cmpxchg_locked()), and no writer moves an entry's slot to
 * another node, so the two never lose each other's change.  The node cannot
 * be freed under us (RCU read side), and an unlinked node has every slot
 * cleared, so a swap into one fails.  The swap is sequentially consistent
 * (the entry unlock's wake-up relies on it: dax_waitq_wake_after_rmw()).
 *
 * Context: any thread, lock-free (RCU inside); never allocates.
 * Return: 1 when changed; 0 when there is no entry or @update declined;
 * -EAGAIN when the entry spans more than one slot (*@old has its value: use
 * dax_tree_cmpxchg_locked()).
 */
int dax_tree_update_slot(struct dax_tree *tree, uint64_t index,
			 dax_tree_update_fn update, void *arg, uint64_t *old)
{
	struct tree_node *n;
	unsigned off = 0;
	uint64_t w, nv;
	int ret = 0;

	dax_rcu_read_lock();
	w = tree_lookup(tree, index, &n, &off);
	for (;;) {
		*old = w_is_entry(w) ? w_value(w) : 0;
		if (!*old)
			break;
		if (w_order(w) != node_shift(n)) {
			ret = -EAGAIN;
			break;
		}
		nv = update(*old, arg);
		if (!nv || nv == *old || nv > DAX_TREE_VALUE_MAX)
			break;
		if (atomic_compare_exchange_strong_explicit(
			    &n->slots[off], &w, mk_entry(nv, w_order(w)),
			    memory_order_seq_cst, memory_order_acquire)) {
			ret = 1;
			break;
		}
		/* w has the slot's new word: an entry, 0, or a child node */
		if (w_is_node(w))
			w = tree_lookup(tree, index, &n, &off);
	}
	dax_rcu_read_unlock();
	return ret;
}

struct slot_swap {
	uint64_t old, value;
};

static uint64_t swap_if_old(uint64_t v, void *arg)
{
	const struct slot_swap *sw = arg;

	return v == sw->old ? sw->value : 0;
}

/**
 * dax_tree_cmpxchg_slot() - dax_tree_update_slot() for a known value
 * @tree: the tree
 * @index: any index of the entry
 * @old: the value expected there (not 0)
 * @value: its replacement (not 0, not @old; the entry keeps its order and
 *         marks)
 * @cur: receives the value found when the swap fails
 *
 * Context: any thread, lock-free (RCU inside); never allocates.
 * Return: 1 when swapped; 0 when the entry covering @index is not @old
 * (*@cur has what is there, 0 for nothing); -EAGAIN when the entry spans
 * more than one slot (use dax_tree_cmpxchg_locked()); -EINVAL for a bad
 * value.
 */
int dax_tree_cmpxchg_slot(struct dax_tree *tree, uint64_t index, uint64_t old,
			  uint64_t value, uint64_t *cur)
{
	struct slot_swap sw = { .old = old, .value = value };

	if (!old || !value || value > DAX_TREE_VALUE_MAX)
		return -EINVAL;
	return dax_tree_update_slot(tree, index, swap_if_old, &sw, cur);
}

/**
 * dax_tree_cmpxchg() - dax_tree_cmpxchg_locked() under the tree lock
 * @tree: the tree
 * @index: any index of the entry
 * @old: the expected value (0: none)
 * @value: the new value (0: erase)
 * @cur: receives the value found
 *
 * Context: takes the tree lock; may sleep.
 * Return: as dax_tree_cmpxchg_locked().
 */
DAX_EXPORT int dax_tree_cmpxchg(struct dax_tree *tree, uint64_t index,
				uint64_t old, uint64_t value, uint64_t *cur)
{
	int ret;

	dax_tree_lock(tree);
	ret = dax_tree_cmpxchg_locked(tree, index, old, value, cur);
	dax_tree_unlock(tree);
	return ret;
}

/**
 * dax_tree_split_locked() - split the entry covering an index
 * @tree: the tree
 * @index: any index of the entry
 * @order: the order of the pieces, below the entry's order
 *
 * The entry of order k becomes 2^(k - @order) entries of order @order, each
 * with the entry's value and marks.  A reader sees, at each index, the old
 * entry or its piece.
 *
 * Context: the caller holds the tree lock.
 * Return: 0; -ENOENT when no entry covers @index; -EINVAL when @order is
 * not below the entry's order; -ENOMEM (the tree is unchanged).
 */
DAX_EXPORT int dax_tree_split_locked(struct dax_tree *tree, uint64_t index,
				     unsigned order)
{
	struct tree_resv r = { 0 };
	struct tree_node *n;
	unsigned off, span;
	uint64_t w = tree_lookup(tree, index, &n, &off);
	int ret;

	if (!w)
		return dax_fail(NULL, -ENOENT, "no entry covers index 0x%llx",
				(unsigned long long)index);
	if (order >= w_order(w))
		return dax_fail(NULL, -EINVAL,
				"cannot split an order-%u entry into order %u",
				w_order(w), order);
	ret = resv_get(tree, &r, split_nodes(w, n->shift, order));
	if (ret)
		return ret;
	span = 1U << (w_order(w) - n->shift);
	split_apply(tree, &r, n, off & ~(span - 1), w, order);
	tree_shrink(tree);
	resv_release(tree, &r);
	return 0;
}

/**
 * dax_tree_split() - dax_tree_split_locked() under the tree lock
 * @tree: the tree
 * @index: any index of the entry
 * @order: the order of the pieces
 *
 * Context: takes the tree lock; may sleep.
 * Return: as dax_tree_split_locked().
 */
DAX_EXPORT int dax_tree_split(struct dax_tree *tree, uint64_t index,
			      unsigned order)
{
	int ret;

	dax_tree_lock(tree);
	ret = dax_tree_split_locked(tree, index, order);
	dax_tree_unlock(tree);
	return ret;
}

static int tree_mark(struct dax_tree *tree, uint64_t index,
		     enum dax_tree_mark mark, bool set)
{
	struct tree_node *n;
	unsigned off, span;
	uint64_t w;
	int ret = check_mark(mark);

	if (ret)
		return ret;
	w = tree_lookup(tree, index, &n, &off);
	if (!w)
		return dax_fail(NULL, -ENOENT, "no entry covers index 0x%llx",
				(unsigned long long)index);
	span = 1U << (w_order(w) - n->shift);
	off &= ~(span - 1);
	if (set) {
		mark_set_up(n, off, mark);
	} else if (mark_word(n, mark) & (1ULL << off)) {
		mark_word_set(n, mark, mark_word(n, mark) & ~(1ULL << off));
		marks_fix_up(n);
	}
	return 0;
}

/**
 * dax_tree_set_mark_locked() - set a mark on the entry covering an index
 * @tree: the tree
 * @index: any index of the entry
 * @mark: DAX_TREE_MARK_0, _1 or _2
 *
 * Context: the caller holds the tree lock.  Never allocates.
 * Return: 0; -ENOENT when no entry covers @index; -EINVAL for a bad mark.
 */
DAX_EXPORT int dax_tree_set_mark_locked(struct dax_tree *tree, uint64_t index,
					enum dax_tree_mark mark)
{
	return tree_mark(tree, index, mark, true);
}

/**
 * dax_tree_set_mark() - dax_tree_set_mark_locked() under the tree lock
 * @tree: the tree
 * @index: any index of the entry
 * @mark: the mark
 *
 * Context: takes the tree lock; may sleep.
 * Return: as dax_tree_set_mark_locked().
 */
DAX_EXPORT int dax_tree_set_mark(struct dax_tree *tree, uint64_t index,
				 enum dax_tree_mark mark)
{
	int ret;

	dax_tree_lock(tree);
	ret = tree_mark(tree, index, mark, true);
	dax_tree_unlock(tree);
	return ret;
}

/**
 * dax_tree_clear_mark_locked() - clear a mark on the entry covering an index
 * @tree: the tree
 * @index: any index of the entry
 * @mark: DAX_TREE_MARK_0, _1 or _2
 *
 * Context: the caller holds the tree lock.  Never allocates.
 * Return: 0; -ENOENT when no entry covers @index; -EINVAL for a bad mark.
 */
DAX_EXPORT int dax_tree_clear_mark_locked(struct dax_tree *tree,
					  uint64_t index,
					  enum dax_tree_mark mark)
{
	return tree_mark(tree, index, mark, false);
}

/**
 * dax_tree_clear_mark() - dax_tree_clear_mark_locked() under the tree lock
 * @tree: the tree
 * @index: any index of the entry
 * @mark: the mark
 *
 * Context: takes the tree lock; may sleep.
 * Return: as dax_tree_clear_mark_locked().
 */
DAX_EXPORT int dax_tree_clear_mark(struct dax_tree *tree, uint64_t index,
				   enum dax_tree_mark mark)
{
	int ret;

	dax_tree_lock(tree);
	ret = tree_mark(tree, index, mark, false);
	dax_tree_unlock(tree);
	return ret;
}

/* ---- internal: tests ------------------------------------------------------- */

void dax_tree_inject_alloc_failure(struct dax_tree *tree, unsigned long nth)
{
	dax_tree_lock(tree);
	tree->fail_alloc_in = nth;
	dax_tree_unlock(tree);
}

uint64_t dax_tree_get_nr_allocs(struct dax_tree *tree)
{
	return tree->nr_allocs;
}

static int check_node(const struct dax_tree *t, const struct tree_node *n,
		      const struct tree_node *parent, unsigned poff,
		      uint64_t *nodes, uint64_t *entries)
{
	unsigned count = 0;
	uint64_t marks[TREE_NR_MARKS] = { 0 };

	(*nodes)++;
	if (n->parent != parent || (parent && n->offset != poff))
		return dax_fail(NULL, -EUCLEAN, "node %p: bad parent link",
				(void *)n);
	if (parent && n->shift + TREE_SHIFT != parent->shift)
		return dax_fail(NULL, -EUCLEAN, "node %p: bad shift", (void *)n);
	for (unsigned i = 0; i < TREE_SLOTS; i++) {
		uint64_t w = slot_get(n, i);

		if (!w)
			continue;
		count++;
		if (w_is_node(w)) {
			const struct tree_node *c = w_node(w);
			int ret;

			if (n->shift == 0)
				return dax_fail(NULL, -EUCLEAN,
						"leaf %p has a child", (void *)n);
			ret = check_node(t, c, n, i, nodes, entries);
			if (ret)
				return ret;
			for (unsigned m = 0; m < TREE_NR_MARKS; m++)
				if (mark_word(c, m))
					marks[m] |= 1ULL << i;
			continue;
		}
		if (!w_is_entry(w) || w_order(w) < n->shift ||
		    w_order(w) >= n->shift + (unsigned)TREE_SHIFT)
			return dax_fail(NULL, -EUCLEAN,
					"node %p slot %u: bad word 0x%llx",
					(void *)n, i, (unsigned long long)w);
		{
			unsigned span = 1U << (w_order(w) - n->shift);
			unsigned c = i & ~(span - 1);

			for (unsigned j = c; j < c + span; j++)
				if (slot_get(n, j) != w)
					return dax_fail(NULL, -EUCLEAN,
							"node %p slot %u: "
							"torn entry",
							(void *)n, j);
			if (c == i) {
				(*entries)++;
				for (unsigned m = 0; m < TREE_NR_MARKS; m++)
					marks[m] |= mark_word(n, m) &
						    (1ULL << i);
			}
		}
	}
	if (count != n->count)
		return dax_fail(NULL, -EUCLEAN,
				"node %p: count %u, %u slots used", (void *)n,
				n->count, count);
	if (count == 0)
		return dax_fail(NULL, -EUCLEAN, "empty node %p is linked",
				(void *)n);
	for (unsigned m = 0; m < TREE_NR_MARKS; m++)
		if (marks[m] != mark_word(n, m))
			return dax_fail(NULL, -EUCLEAN,
					"node %p mark %u: 0x%llx, expected "
					"0x%llx",
					(void *)n, m,
					(unsigned long long)mark_word(n, m),
					(unsigned long long)marks[m]);
	return 0;
}

int dax_tree_check(struct dax_tree *tree)
{
	uint64_t nodes = 0, entries = 0, rw;
	int ret = 0;

	dax_tree_lock(tree);
	rw = root_get(tree);
	if (rw) {
		const struct tree_node *r = w_node(rw);

		ret = check_node(tree, r, NULL, 0, &nodes, &entries);
		if (!ret && r->shift && r->count == 1 &&
		    w_is_node(slot_get(r, 0)))
			ret = dax_fail(NULL, -EUCLEAN,
				       "the root could have shrunk");
	}
	if (!ret && nodes != dax_tree_get_nr_nodes(tree))
		ret = dax_fail(NULL, -EUCLEAN, "%llu nodes, counter says %llu",
			       (unsigned long long)nodes,
			       (unsigned long long)dax_tree_get_nr_nodes(tree));
	if (!ret && entries != dax_tree_get_nr_entries(tree))
		ret = dax_fail(NULL, -EUCLEAN,
			       "%llu entries, counter says %llu",
			       (unsigned long long)entries,
			       (unsigned long long)dax_tree_get_nr_entries(tree));
	dax_tree_unlock(tree);
	return ret;
}
