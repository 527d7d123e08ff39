// SPDX-License-Identifier: MIT
/*
 * Concurrency stress for the entry tree (libdax/tree.c): readers load,
 * look up covering entries, find and walk while writers store, insert,
 * replace, split, cmpxchg, mark and erase over the same ranges, at orders
 * 0, 3, 9 and 18, near index 0, 2^40 and ULONG_MAX (so the root grows and
 * shrinks under the readers).
 *
 * Every value written encodes the range it was stored over and a sequence
 * number, so a reader can check that each value it sees was stored over
 * the index it asked for at some point (a split keeps the value, and its
 * pieces lie inside the range the value names), that the range the tree
 * reports lies inside that stored range, and that iteration moves forward
 * without overlap.  Under AddressSanitizer, nodes waiting in the tree's
 * cache are poisoned, so a reader that touched a node after its grace
 * period would be reported.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "stress.h"
#include "libdax/internal.h"

#define NR_READERS 3
#define NR_WRITERS 2
#define LOCAL_BITS 21	/* each region spans 2^21 indices: 8 order-18 */

static const uint64_t region_base[3] = {
	0,
	1ULL << 40,
	~0ULL - (1ULL << LOCAL_BITS) + 1,
};

static struct dax_tree *tree;
static atomic_bool stop;
static atomic_uint_fast64_t seq = 1;
static atomic_int violations;
static atomic_uint_fast64_t reads, writes;

/* value = seq:28 | region:2 | local first:21 | order:5 */
static uint64_t encode(unsigned region, uint64_t local_first, unsigned order)
{
	uint64_t s = atomic_fetch_add(&seq, 1) & ((1ULL << 28) - 1);

	return (s ? s : 1) << 28 | (uint64_t)region << 26 | local_first << 5 |
	       order;
}

struct decoded {
	uint64_t first, last;
	unsigned order;
};

static bool decode(uint64_t v, struct decoded *d)
{
	unsigned region = (v >> 26) & 3, order = v & 31;
	uint64_t local = (v >> 5) & ((1ULL << LOCAL_BITS) - 1);

	if (region > 2 || order > 18 || (local & ((1ULL << order) - 1)) ||
	    (v >> 28) == 0 || (v >> 28) >= atomic_load(&seq))
		return false;
	d->first = region_base[region] + local;
	d->last = d->first + (1ULL << order) - 1;
	d->order = order;
	return true;
}

static void violation(const char *what, uint64_t index, uint64_t v)
{
	if (atomic_fetch_add(&violations, 1) < 10)
		fprintf(stderr, "VIOLATION: %s: index 0x%llx value 0x%llx\n",
			what, (unsigned long long)index,
			(unsigned long long)v);
}

/* Did @v cover [first, first + 2^order) when it was stored? */
static void check_seen(uint64_t index, uint64_t v, uint64_t first,
		       unsigned order)
{
	struct decoded d;
	uint64_t last = first + ((1ULL << order) - 1);

	if (!decode(v, &d)) {
		violation("a value that was never stored", index, v);
		return;
	}
	if (index < d.first || index > d.last)
		violation("a value stored at another index", index, v);
	if (first < d.first || last > d.last || order > d.order ||
	    (first & ((1ULL << order) - 1)) || index < first || index > last)
		violation("a range the value never covered", index, v);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static const unsigned orders[] = { 0, 0, 0, 3, 9, 9, 18 };

static void pick(uint64_t *s, unsigned *region, uint64_t *local,
		 unsigned *order)
{
	*region = rnd(s) % 3;
	*order = orders[rnd(s) % (sizeof(orders) / sizeof(orders[0]))];
	*local = rnd(s) & ((1ULL << LOCAL_BITS) - 1) & ~((1ULL << *order) - 1);
	/* crowd the ranges so that writers meet each other's entries */
	if (*order == 0 && (rnd(s) & 1))
		*local &= (1ULL << 12) - 1;
}

/*
 * Keep a split at most 9 orders deep: 18 -> 0 builds 4161 nodes, which
 * under ThreadSanitizer leaves the writers doing little else.
 */
static void limit_split(uint64_t *index, uint64_t *local, unsigned *order)
{
	uint64_t f;
	unsigned o;

	if (dax_tree_load_covering(tree, *index, &f, &o) && o > *order + 9) {
		*order = o - 9;
		*index &= ~((1ULL << *order) - 1);
		*local &= ~((1ULL << *order) - 1);
	}
}

static void *writer(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL | 1;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned region, order, op = rnd(&s) % 12;
		uint64_t local, index, old, cur;

		pick(&s, &region, &local, &order);
		index = region_base[region] + local;
		switch (op) {
		case 0:
		case 1:
			dax_tree_insert(tree, index, order,
					encode(region, local, order));
			break;
		case 2:
			dax_tree_store(tree, index, order,
				       encode(region, local, order),
				       DAX_TREE_REPLACE, &old);
			break;
		case 3:
			limit_split(&index, &local, &order);
			dax_tree_store(tree, index, order,
				       encode(region, local, order),
				       DAX_TREE_SPLIT, &old);
			break;
		case 4:
		case 5:
			dax_tree_erase(tree, index + (rnd(&s) &
						      ((1ULL << order) - 1)));
			break;
		case 6:
			dax_tree_split(tree, index, order < 9 ? 0 : order - 9);
			break;
		case 7: {
			uint64_t f;
			unsigned o;
			uint64_t v = dax_tree_load_covering(tree, index, &f,
							    &o);

			if (v) {
				uint64_t lf = f - region_base[region];

				dax_tree_cmpxchg(tree, index, v,
						 encode(region, lf, o), &cur);
			}
			break;
		}
		case 8:
			dax_tree_set_mark(tree, index, rnd(&s) % 3);
			break;
		case 9:
			dax_tree_clear_mark(tree, index, rnd(&s) % 3);
			break;
		case 10:
			/* a locked sequence: erase a range, refill half */
			limit_split(&index, &local, &order);
			dax_tree_lock(tree);
			dax_tree_store_locked(tree, index, order, 0,
					      DAX_TREE_REPLACE |
						      DAX_TREE_SPLIT,
					      &old);
			if (order) {
				unsigned h = order - 1;

				dax_tree_insert_locked(
					tree, index, h,
					encode(region, local, h));
			}
			dax_tree_unlock(tree);
			break;
		default:
			limit_split(&index, &local, &order);
			dax_tree_store(tree, index, order, 0,
				       DAX_TREE_REPLACE | DAX_TREE_SPLIT,
				       &old);
			break;
		}
		atomic_fetch_add_explicit(&writes, 1, memory_order_relaxed);
	}
	return NULL;
}

struct walk_state {
	uint64_t next;	/* the lowest first index allowed next */
	bool any;
};

static int walk_check(void *priv, uint64_t first, unsigned order,
		      uint64_t value)
{
	struct walk_state *w = priv;

	if (w->any && first < w->next)
		violation("iteration went backwards or overlapped", first,
			  value);
	check_seen(first, value, first, order);
	w->next = first + (1ULL << order);
	w->any = true;
	return 0;
}

static void *reader(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0xbf58476d1ce4e5b9ULL | 1;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned region = rnd(&s) % 3, op = rnd(&s) % 8, o;
		uint64_t base = region_base[region], index, v, f;

		index = base + (rnd(&s) & ((1ULL << LOCAL_BITS) - 1));
		if (rnd(&s) & 1)
			index = base + (rnd(&s) & ((1ULL << 12) - 1));
		switch (op) {
		case 0:
		case 1:
		case 2:
			v = dax_tree_load(tree, index);
			if (v)
				check_seen(index, v, index, 0);
			break;
		case 3:
		case 4:
			v = dax_tree_load_covering(tree, index, &f, &o);
			if (v)
				check_seen(index, v, f, o);
			break;
		case 5: {
			/* find, then find_after to the end of the region */
			struct walk_state w = { 0 };
			uint64_t last = base + (1ULL << LOCAL_BITS) - 1;
			unsigned n = 0;

			f = index;
			for (v = dax_tree_find(tree, &f, last,
					       DAX_TREE_PRESENT, &o);
			     v && n < 64;
			     v = dax_tree_find_after(tree, &f, last,
						     DAX_TREE_PRESENT, &o), n++)
				walk_check(&w, f, o, v);
			break;
		}
		case 6: {
			struct walk_state w = { 0 };

			dax_tree_walk(tree, index,
				      index + (1ULL << 14) < index ?
					      ~0ULL :
					      index + (1ULL << 14),
				      rnd(&s) & 1 ? DAX_TREE_PRESENT :
						    (enum dax_tree_mark)(rnd(&s) %
									 3),
				      walk_check, &w);
			break;
		}
		default:
			v = dax_tree_find_conflict(tree, index, 9, &f, &o);
			if (v)
				check_seen(f, v, f, o);
			dax_tree_get_mark(tree, index, rnd(&s) % 3);
			break;
		}
		atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
	}
	return NULL;
}

static bool run_mix(void)
{
	pthread_t r[NR_READERS], w[NR_WRITERS];
	double end;
	int ret;

	stress_check(dax_tree_new(&tree) == 0, "dax_tree_new");
	atomic_store(&stop, false);
	atomic_store(&violations, 0);
	atomic_store(&reads, 0);
	for (uintptr_t i = 0; i < NR_WRITERS; i++)
		pthread_create(&w[i], NULL, writer, (void *)(i + 1));
	for (uintptr_t i = 0; i < NR_READERS; i++)
		pthread_create(&r[i], NULL, reader, (void *)(i + 11));
	end = stress_now() + stress_seconds();
	while (stress_now() < end && atomic_load(&violations) == 0) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < NR_WRITERS; i++)
		pthread_join(w[i], NULL);
	for (int i = 0; i < NR_READERS; i++)
		pthread_join(r[i], NULL);
	printf("     %llu reads, %llu writes, %llu entries, %llu nodes\n",
	       (unsigned long long)atomic_load(&reads),
	       (unsigned long long)atomic_load(&writes),
	       (unsigned long long)dax_tree_get_nr_entries(tree),
	       (unsigned long long)dax_tree_get_nr_nodes(tree));
	ret = dax_tree_check(tree);
	stress_check(ret == 0, "tree invariants after the run");
	stress_check(atomic_load(&violations) == 0, "%d reader violations",
		     atomic_load(&violations));
	for (int i = 0; i < 3; i++) {
		uint64_t b = region_base[i];

		stress_check(dax_tree_store(tree, b, LOCAL_BITS, 0,
					    DAX_TREE_REPLACE, NULL) == 0,
			     "erase region %d", i);
	}
	stress_check(dax_tree_empty(tree), "tree empty after erasing");
	stress_check(dax_tree_get_nr_nodes(tree) == 0, "%llu nodes left",
		     (unsigned long long)dax_tree_get_nr_nodes(tree));
	dax_tree_delete(&tree);
	dax_rcu_barrier();
	return true;
}

/* Readers hammer one index while a writer flips its entry's order. */
static atomic_uint_fast64_t flip_gen;

static void *flip_reader(void *arg)
{
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (uint64_t i = 0; i < 1024; i += 37) {
			uint64_t f, v;
			unsigned o;

			v = dax_tree_load_covering(tree, (1ULL << 18) + i, &f,
						   &o);
			if (v)
				check_seen((1ULL << 18) + i, v, f, o);
		}
		atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
	}
	return NULL;
}

static bool run_order_flips(void)
{
	pthread_t r[NR_READERS];
	double end;

	stress_check(dax_tree_new(&tree) == 0, "dax_tree_new");
	atomic_store(&stop, false);
	atomic_store(&violations, 0);
	atomic_store(&reads, 0);
	for (uintptr_t i = 0; i < NR_READERS; i++)
		pthread_create(&r[i], NULL, flip_reader, NULL);
	end = stress_now() + stress_seconds();
	while (stress_now() < end && atomic_load(&violations) == 0) {
		/* 18 -> split to 9 -> split to 0 -> replace by 18 again */
		uint64_t b = 1ULL << 18;

		dax_tree_store(tree, b, 18, encode(0, b, 18),
			       DAX_TREE_REPLACE, NULL);
		dax_tree_split(tree, b + 5, 9);
		dax_tree_split(tree, b + 700, 0);
		dax_tree_store(tree, b + 512, 9, encode(0, b + 512, 9),
			       DAX_TREE_REPLACE, NULL);
		dax_tree_erase(tree, b + 3);
		dax_tree_insert(tree, b + 3, 0, encode(0, b + 3, 0));
		atomic_fetch_add(&flip_gen, 1);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < NR_READERS; i++)
		pthread_join(r[i], NULL);
	printf("     %llu flips, %llu reader rounds\n",
	       (unsigned long long)atomic_load(&flip_gen),
	       (unsigned long long)atomic_load(&reads));
	stress_check(dax_tree_check(tree) == 0, "tree invariants");
	stress_check(atomic_load(&violations) == 0, "%d reader violations",
		     atomic_load(&violations));
	stress_check(dax_tree_store(tree, 0, 40, 0, DAX_TREE_REPLACE, NULL) ==
			     0,
		     "erase");
	stress_check(dax_tree_get_nr_nodes(tree) == 0, "nodes left");
	dax_tree_delete(&tree);
	dax_rcu_barrier();
	return true;
}

/*
 * Readers do marked finds over the second half of marked large entries
 * while a writer splits them and then replaces the pieces by one entry
 * again: a split keeps every piece's marks and a replace gives the new
 * entry the union of the old ones', so while the range stays marked (the
 * generation is odd and did not move during the find), a marked find must
 * report an entry.  Two kinds of split: an order-17 entry (32 slots of a
 * shift-12 node) into order 0, which puts new subtrees under the node, and
 * an order-11 entry (32 slots of a shift-6 node) into order 6, which
 * rewrites the slots in place.
 */
#define MS_BIG (1ULL << 18)
#define MS_SMALL (MS_BIG + (1ULL << 17))

static atomic_uint_fast64_t mark_gen;

static bool marked_found(uint64_t start, uint64_t last)
{
	uint64_t g = atomic_load(&mark_gen), idx = start, v;
	unsigned o;

	v = dax_tree_find(tree, &idx, last, DAX_TREE_MARK_0, &o);
	return v || !(g & 1) || g != atomic_load(&mark_gen);
}

static void *mark_reader(void *arg)
{
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		if (!marked_found(MS_BIG + (1ULL << 16),
				  MS_BIG + (1ULL << 17) - 1))
			violation("marked find missed the big entry",
				  MS_BIG + (1ULL << 16), 0);
		if (!marked_found(MS_SMALL + (1ULL << 10),
				  MS_SMALL + (1ULL << 11) - 1))
			violation("marked find missed the small entry",
				  MS_SMALL + (1ULL << 10), 0);
		atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
	}
	return NULL;
}

static bool run_marked_splits(void)
{
	pthread_t r[NR_READERS];
	uint64_t rounds = 0;
	double end;

	stress_check(dax_tree_new(&tree) == 0, "dax_tree_new");
	atomic_store(&stop, false);
	atomic_store(&violations, 0);
	atomic_store(&reads, 0);
	atomic_store(&mark_gen, 0);
	for (uintptr_t i = 0; i < NR_READERS; i++)
		pthread_create(&r[i], NULL, mark_reader, NULL);
	end = stress_now() + stress_seconds();
	while (stress_now() < end && atomic_load(&violations) == 0) {
		stress_check(dax_tree_store(tree, MS_BIG, 17,
					    encode(0, MS_BIG, 17), 0,
					    NULL) == 0,
			     "store order 17");
		stress_check(dax_tree_store(tree, MS_SMALL, 11,
					    encode(0, MS_SMALL, 11), 0,
					    NULL) == 0,
			     "store order 11");
		dax_tree_set_mark(tree, MS_BIG, DAX_TREE_MARK_0);
		dax_tree_set_mark(tree, MS_SMALL, DAX_TREE_MARK_0);
		atomic_fetch_add(&mark_gen, 1);		/* odd: marked */
		stress_check(dax_tree_split(tree, MS_BIG, 0) == 0, "split");
		stress_check(dax_tree_split(tree, MS_SMALL, 6) == 0, "split");
		/* and back: one entry over the pieces, with their marks */
		stress_check(dax_tree_store(tree, MS_BIG, 17,
					    encode(0, MS_BIG, 17),
					    DAX_TREE_REPLACE, NULL) == 0,
			     "replace order 17");
		stress_check(dax_tree_store(tree, MS_SMALL, 11,
					    encode(0, MS_SMALL, 11),
					    DAX_TREE_REPLACE, NULL) == 0,
			     "replace order 11");
		atomic_fetch_add(&mark_gen, 1);		/* even */
		stress_check(dax_tree_store(tree, 0, 19, 0, DAX_TREE_REPLACE,
					    NULL) == 0,
			     "erase");
		rounds++;
	}
	atomic_store(&stop, true);
	for (int i = 0; i < NR_READERS; i++)
		pthread_join(r[i], NULL);
	printf("     %llu split rounds, %llu reader rounds\n",
	       (unsigned long long)rounds,
	       (unsigned long long)atomic_load(&reads));
	stress_check(atomic_load(&violations) == 0, "%d reader violations",
		     atomic_load(&violations));
	stress_check(dax_tree_check(tree) == 0, "tree invariants");
	stress_check(dax_tree_get_nr_nodes(tree) == 0, "nodes left");
	dax_tree_delete(&tree);
	dax_rcu_barrier();
	return true;
}

int main(void)
{
	stress_run(run_mix);
	stress_run(run_order_flips);
	stress_run(run_marked_splits);
	return stress_report();
}
