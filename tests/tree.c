// SPDX-License-Identifier: MIT
/*
 * The entry tree (libdax/tree.c), in the manner of the kernel's
 * lib/test_xarray.c: one test per property, each on a fresh tree that it
 * must leave empty, with no node left and every invariant intact (checked
 * by the fixture's teardown).  Orders 0, 9 and 18 are the ones the DAX code
 * uses (4 KiB, 2 MiB and 1 GiB); the boundaries are index 0, 2^k - 1, 2^k
 * and ULONG_MAX for every k.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "helpers.h"
#include <criterion/parameterized.h>
#include "libdax/internal.h"

static struct dax_tree *t;

static void setup(void)
{
	cr_assert_eq(dax_tree_new(&t), 0);
	cr_assert(dax_tree_empty(t));
}

static void assert_tree_ok(void)
{
	int ret = dax_tree_check(t);

	cr_assert_eq(ret, 0, "tree invariant broken: %s", dax_errormsg());
}

/* Every test must leave the tree as it found it: empty, without nodes. */
static void teardown(void)
{
	assert_tree_ok();
	cr_assert(dax_tree_empty(t), "the test left entries behind");
	cr_assert_eq(dax_tree_get_nr_nodes(t), 0, "%llu nodes leaked",
		     (unsigned long long)dax_tree_get_nr_nodes(t));
	cr_assert_eq(dax_tree_get_nr_entries(t), 0);
	dax_tree_delete(&t);
	cr_assert_null(t);
	dax_rcu_barrier();
}

TestSuite(tree, .init = setup, .fini = teardown);

static uint64_t mask(unsigned order)
{
	return order >= 64 ? ~0ULL : (1ULL << order) - 1;
}

/* The interesting indices: 0, 2^k - 1, 2^k for every k, and ULONG_MAX. */
static unsigned boundaries(uint64_t *out)
{
	unsigned n = 0;

	out[n++] = 0;
	for (unsigned k = 1; k < 64; k++) {
		out[n++] = (1ULL << k) - 1;
		out[n++] = 1ULL << k;
	}
	out[n++] = ~0ULL;
	return n;
}

/* Erase whatever a test stored, so that a failure does not cascade. */
static void erase_all(void)
{
	cr_assert_eq(dax_tree_store(t, 0, 63, 0, DAX_TREE_REPLACE, NULL), 0);
	cr_assert_eq(dax_tree_store(t, 1ULL << 63, 63, 0, DAX_TREE_REPLACE,
				    NULL), 0);
}

/* ---- a snapshot of the whole tree, to prove "unchanged" ------------------ */

struct snap_entry {
	uint64_t first, value;
	unsigned order, marks;
};

struct snap {
	struct snap_entry *e;
	size_t n, cap;
	uint64_t nodes, entries;
};

static int snap_cb(void *priv, uint64_t first, unsigned order, uint64_t value)
{
	struct snap *s = priv;
	struct snap_entry *e;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->e = realloc(s->e, s->cap * sizeof(*s->e));
		cr_assert_not_null(s->e);
	}
	e = &s->e[s->n++];
	e->first = first;
	e->order = order;
	e->value = value;
	e->marks = 0;
	for (unsigned m = 0; m < 3; m++)
		if (dax_tree_get_mark(t, first, m))
			e->marks |= 1U << m;
	return 0;
}

static void snap_take(struct snap *s)
{
	memset(s, 0, sizeof(*s));
	cr_assert_eq(dax_tree_walk(t, 0, ~0ULL, DAX_TREE_PRESENT, snap_cb, s),
		     0);
	s->nodes = dax_tree_get_nr_nodes(t);
	s->entries = dax_tree_get_nr_entries(t);
}

static bool snap_equal(const struct snap *a, const struct snap *b)
{
	return a->n == b->n && a->nodes == b->nodes &&
	       a->entries == b->entries &&
	       (a->n == 0 || !memcmp(a->e, b->e, a->n * sizeof(*a->e)));
}

static void snap_free(struct snap *s)
{
	free(s->e);
}

/* ---- load / store / erase at every order and boundary -------------------- */

ParameterizedTestParameters(tree, entry_covers_its_aligned_range)
{
	static unsigned orders[] = { 0, 1, 5, 6, 7, 9, 12, 18, 30, 63 };

	return cr_make_param_array(unsigned, orders,
				   sizeof(orders) / sizeof(orders[0]));
}

ParameterizedTest(unsigned *order, tree, entry_covers_its_aligned_range)
{
	uint64_t idx[130];
	unsigned n = boundaries(idx), k = *order;

	for (unsigned i = 0; i < n; i++) {
		uint64_t first = idx[i] & ~mask(k), last = first | mask(k);
		uint64_t f = 1;
		unsigned o = 99;

		cr_assert_eq(dax_tree_insert(t, first, k, 42), 0);
		cr_assert_eq(dax_tree_load(t, first), 42);
		cr_assert_eq(dax_tree_load(t, last), 42);
		cr_assert_eq(dax_tree_load(t, idx[i]), 42);
		if (first)
			cr_assert_eq(dax_tree_load(t, first - 1), 0,
				     "order %u at 0x%llx leaks below", k,
				     (unsigned long long)first);
		if (last != ~0ULL)
			cr_assert_eq(dax_tree_load(t, last + 1), 0,
				     "order %u at 0x%llx leaks above", k,
				     (unsigned long long)first);
		cr_assert_eq(dax_tree_load_covering(t, idx[i], &f, &o), 42);
		cr_assert_eq(f, first);
		cr_assert_eq(o, k);
		cr_assert_eq(dax_tree_get_nr_entries(t), 1);
		assert_tree_ok();
		/* erase through the last index: the whole entry goes */
		cr_assert_eq(dax_tree_erase(t, last), 42);
		cr_assert_eq(dax_tree_load(t, first), 0);
		cr_assert(dax_tree_empty(t));
		cr_assert_eq(dax_tree_get_nr_nodes(t), 0);
	}
}

ParameterizedTestParameters(tree, every_operation_at_every_boundary)
{
	static unsigned orders[] = { 0, 9, 18 };

	return cr_make_param_array(unsigned, orders, 3);
}

ParameterizedTest(unsigned *order, tree, every_operation_at_every_boundary)
{
	uint64_t idx[130], cur, f;
	unsigned n = boundaries(idx), k = *order, o;

	for (unsigned i = 0; i < n; i++) {
		uint64_t first = idx[i] & ~mask(k), last = first | mask(k);

		/* store into empty, replace in place, cmpxchg, marks */
		cr_assert_eq(dax_tree_store(t, first, k, 7, 0, &cur), 0);
		cr_assert_eq(cur, 0);
		cr_assert_eq(dax_tree_store(t, first, k, 8, 0, &cur), 0);
		cr_assert_eq(cur, 7);
		cr_assert_eq(dax_tree_set_mark(t, last, DAX_TREE_MARK_1), 0);
		cr_assert_eq(dax_tree_cmpxchg(t, last, 7, 9, &cur), 0);
		cr_assert_eq(cur, 8, "a failed cmpxchg must report the value");
		cr_assert_eq(dax_tree_cmpxchg(t, last, 8, 9, &cur), 0);
		cr_assert_eq(cur, 8);
		cr_assert_eq(dax_tree_load_covering(t, first, &f, &o), 9);
		cr_assert_eq(f, first);
		cr_assert_eq(o, k);
		cr_assert(dax_tree_get_mark(t, first, DAX_TREE_MARK_1));
		cr_assert_not(dax_tree_get_mark(t, first, DAX_TREE_MARK_0));
		/* find and find_conflict from either end */
		f = last;
		cr_assert_eq(dax_tree_find(t, &f, ~0ULL, DAX_TREE_PRESENT, &o),
			     9);
		cr_assert_eq(f, first);
		f = 0;
		cr_assert_eq(dax_tree_find(t, &f, last, DAX_TREE_MARK_1, &o),
			     9);
		cr_assert_eq(f, first);
		cr_assert_eq(dax_tree_find_after(t, &f, ~0ULL,
						 DAX_TREE_PRESENT, &o), 0);
		cr_assert_eq(dax_tree_find_conflict(t, idx[i], 0, &f, &o), 9);
		cr_assert_eq(dax_tree_find_conflict(t, idx[i], 63, &f, &o),
			     9);
		cr_assert_eq(f, first);
		if (k) {
			cr_assert_eq(dax_tree_split(t, idx[i], 0), 0);
			cr_assert_eq(dax_tree_get_nr_entries(t), 1ULL << k);
			cr_assert_eq(dax_tree_load_covering(t, last, &f, &o),
				     9);
			cr_assert_eq(f, last);
			cr_assert_eq(o, 0);
			cr_assert(dax_tree_get_mark(t, last,
						    DAX_TREE_MARK_1));
			assert_tree_ok();
			cr_assert_eq(dax_tree_store(t, first, k, 0,
						    DAX_TREE_REPLACE, &cur),
				     0);
		} else {
			cr_assert_eq(dax_tree_cmpxchg(t, first, 9, 0, &cur),
				     0);
		}
		cr_assert_eq(cur, 9);
		cr_assert(dax_tree_empty(t));
		cr_assert_eq(dax_tree_get_nr_nodes(t), 0);
		cr_assert_eq(dax_tree_get_nr_entries(t), 0);
	}
}

Test(tree, dense_and_sparse_fill_then_erase)
{
	for (uint64_t i = 0; i < 70000; i++)
		cr_assert_eq(dax_tree_insert(t, i, 0, i + 1), 0);
	for (uint64_t i = 0; i < 5000; i++)
		cr_assert_eq(dax_tree_insert(t, i * 0x9e3779b97f4a7c1ULL | 1ULL
						    << 63, 0, i + 1), 0);
	assert_tree_ok();
	cr_assert_eq(dax_tree_get_nr_entries(t), 75000);
	for (uint64_t i = 0; i < 70000; i++)
		cr_assert_eq(dax_tree_load(t, i), i + 1);
	for (uint64_t i = 0; i < 5000; i++)
		cr_assert_eq(dax_tree_erase(t, i * 0x9e3779b97f4a7c1ULL |
						       1ULL << 63), i + 1);
	for (uint64_t i = 70000; i-- > 0;)
		cr_assert_eq(dax_tree_erase(t, i), i + 1);
}

/* ---- node accounting --------------------------------------------------------- */

Test(tree, node_count_follows_the_shape_and_shrinks_back)
{
	cr_assert_eq(dax_tree_insert(t, 0, 0, 1), 0);
	cr_assert_eq(dax_tree_get_nr_nodes(t), 1);
	cr_assert_eq(dax_tree_insert(t, 63, 0, 1), 0);
	cr_assert_eq(dax_tree_get_nr_nodes(t), 1);
	cr_assert_eq(dax_tree_insert(t, 64, 0, 1), 0);
	cr_assert_eq(dax_tree_get_nr_nodes(t), 3, "root at shift 6, 2 leaves");
	cr_assert_eq(dax_tree_insert(t, ~0ULL, 0, 1), 0);
	/* growth to shift 60 adds 9 roots, the path down from there 10 */
	cr_assert_eq(dax_tree_get_nr_nodes(t), 3 + 9 + 10);
	cr_assert_gt(dax_tree_get_memory(t),
		     dax_tree_get_nr_nodes(t) * 576 - 1);
	cr_assert_eq(dax_tree_erase(t, ~0ULL), 1);
	cr_assert_eq(dax_tree_get_nr_nodes(t), 3, "the tree shrinks back");
	cr_assert_eq(dax_tree_erase(t, 64), 1);
	cr_assert_eq(dax_tree_get_nr_nodes(t), 1);
	cr_assert_eq(dax_tree_erase(t, 0), 1);
	cr_assert_eq(dax_tree_erase(t, 63), 1);
}

Test(tree, order_18_entry_takes_one_slot)
{
	cr_assert_eq(dax_tree_insert(t, 1ULL << 18, 18, 5), 0);
	cr_assert_eq(dax_tree_get_nr_nodes(t), 1);
	cr_assert_eq(dax_tree_insert(t, 1ULL << 9, 9, 6), 0);
	cr_assert_eq(dax_tree_get_nr_nodes(t), 1 + 2);
	cr_assert_eq(dax_tree_erase(t, (1ULL << 18) + 12345), 5);
	cr_assert_eq(dax_tree_erase(t, 1ULL << 9), 6);
}

/* ---- multi-order overlap rules --------------------------------------------- */

Test(tree, insert_refuses_any_overlap)
{
	cr_assert_eq(dax_tree_insert(t, 512, 9, 1), 0);
	assert_fails_with(dax_tree_insert(t, 512, 9, 2), -EEXIST, "overlaps");
	assert_fails_with(dax_tree_insert(t, 700, 0, 2), -EEXIST, "overlaps");
	assert_fails_with(dax_tree_insert(t, 0, 18, 2), -EEXIST, "overlaps");
	cr_assert_eq(dax_tree_insert(t, 511, 0, 3), 0, "neighbour below");
	cr_assert_eq(dax_tree_insert(t, 1024, 9, 4), 0, "neighbour above");
	cr_assert_eq(dax_tree_load(t, 700), 1);
	cr_assert_eq(dax_tree_erase(t, 600), 1);
	cr_assert_eq(dax_tree_erase(t, 511), 3);
	cr_assert_eq(dax_tree_erase(t, 1024 + 511), 4);
}

Test(tree, small_store_inside_large_entry_needs_split)
{
	struct snap before, after;
	uint64_t old, f;
	unsigned o;

	cr_assert_eq(dax_tree_insert(t, 512, 9, 1), 0);
	cr_assert_eq(dax_tree_set_mark(t, 512, DAX_TREE_MARK_0), 0);
	snap_take(&before);
	assert_fails_with(dax_tree_store(t, 515, 0, 2, 0, &old), -EBUSY,
			  "DAX_TREE_SPLIT");
	assert_fails_with(dax_tree_store(t, 576, 6, 2, DAX_TREE_REPLACE, &old),
			  -EBUSY, "DAX_TREE_SPLIT");
	assert_fails_with(dax_tree_store(t, 515, 0, 0, 0, &old), -EBUSY,
			  "inside");
	snap_take(&after);
	cr_assert(snap_equal(&before, &after), "a refused store changed it");
	cr_assert_eq(dax_tree_store(t, 515, 0, 2, DAX_TREE_SPLIT, &old), 0);
	cr_assert_eq(old, 1);
	cr_assert_eq(dax_tree_load(t, 515), 2);
	cr_assert_eq(dax_tree_load_covering(t, 514, &f, &o), 1);
	cr_assert_eq(f, 514);
	cr_assert_eq(o, 0);
	cr_assert_eq(dax_tree_get_nr_entries(t), 512);
	cr_assert(dax_tree_get_mark(t, 515, DAX_TREE_MARK_0),
		  "the replaced piece keeps the split entry's marks");
	cr_assert(dax_tree_get_mark(t, 1023, DAX_TREE_MARK_0));
	assert_tree_ok();
	snap_free(&before);
	snap_free(&after);
	erase_all();
}

Test(tree, large_store_over_small_entries_needs_replace)
{
	struct snap before, after;
	uint64_t old;

	cr_assert_eq(dax_tree_insert(t, 515, 0, 1), 0);
	cr_assert_eq(dax_tree_insert(t, 600, 3, 2), 0);
	cr_assert_eq(dax_tree_insert(t, 1023, 0, 3), 0);
	cr_assert_eq(dax_tree_set_mark(t, 515, DAX_TREE_MARK_0), 0);
	cr_assert_eq(dax_tree_set_mark(t, 601, DAX_TREE_MARK_2), 0);
	snap_take(&before);
	assert_fails_with(dax_tree_store(t, 512, 9, 9, 0, &old), -EBUSY,
			  "DAX_TREE_REPLACE");
	assert_fails_with(dax_tree_store(t, 512, 9, 9, DAX_TREE_SPLIT, &old),
			  -EBUSY, "DAX_TREE_REPLACE");
	assert_fails_with(dax_tree_store(t, 0, 18, 9, 0, &old), -EBUSY,
			  "smaller entries");
	snap_take(&after);
	cr_assert(snap_equal(&before, &after));
	cr_assert_eq(dax_tree_store(t, 512, 9, 9, DAX_TREE_REPLACE, &old), 0);
	cr_assert_eq(old, 0, "nothing covered index 512");
	cr_assert_eq(dax_tree_get_nr_entries(t), 1);
	cr_assert_eq(dax_tree_load(t, 515), 9);
	cr_assert(dax_tree_get_mark(t, 512, DAX_TREE_MARK_0),
		  "marks of the replaced entries are kept (union)");
	cr_assert(dax_tree_get_mark(t, 1000, DAX_TREE_MARK_2));
	cr_assert_not(dax_tree_get_mark(t, 1000, DAX_TREE_MARK_1));
	assert_tree_ok();
	snap_free(&before);
	snap_free(&after);
	cr_assert_eq(dax_tree_erase(t, 512), 9);
}

Test(tree, replace_over_the_whole_tree_grows_above_it)
{
	cr_assert_eq(dax_tree_insert(t, 5, 0, 1), 0);
	cr_assert_eq(dax_tree_insert(t, 70, 0, 2), 0);
	cr_assert_eq(dax_tree_set_mark(t, 70, DAX_TREE_MARK_1), 0);
	cr_assert_eq(dax_tree_store(t, 0, 18, 3, DAX_TREE_REPLACE, NULL), 0);
	assert_tree_ok();
	cr_assert_eq(dax_tree_get_nr_entries(t), 1);
	cr_assert_eq(dax_tree_get_nr_nodes(t), 1);
	cr_assert_eq(dax_tree_load(t, 5), 3);
	cr_assert(dax_tree_get_mark(t, 0, DAX_TREE_MARK_1));
	cr_assert_eq(dax_tree_erase(t, 262143), 3);
}

Test(tree, exact_store_replaces_in_place_and_keeps_marks)
{
	uint64_t old;

	cr_assert_eq(dax_tree_insert(t, 1ULL << 18, 18, 1), 0);
	cr_assert_eq(dax_tree_set_mark(t, 1ULL << 18, DAX_TREE_MARK_2), 0);
	cr_assert_eq(dax_tree_store(t, 1ULL << 18, 18, 2, 0, &old), 0);
	cr_assert_eq(old, 1);
	cr_assert(dax_tree_get_mark(t, (1ULL << 19) - 1, DAX_TREE_MARK_2));
	cr_assert_eq(dax_tree_store(t, 1ULL << 18, 18, 0, 0, &old), 0);
	cr_assert_eq(old, 2);
}

Test(tree, store_zero_with_split_punches_one_piece)
{
	cr_assert_eq(dax_tree_insert(t, 0, 9, 1), 0);
	cr_assert_eq(dax_tree_store(t, 64, 6, 0, DAX_TREE_SPLIT, NULL), 0);
	cr_assert_eq(dax_tree_load(t, 64), 0);
	cr_assert_eq(dax_tree_load(t, 127), 0);
	cr_assert_eq(dax_tree_load(t, 63), 1);
	cr_assert_eq(dax_tree_load(t, 128), 1);
	cr_assert_eq(dax_tree_get_nr_entries(t), 7);
	erase_all();
}

/* ---- find_conflict: the bug of the 2018 XArray conversion of DAX ------------ */

Test(tree, find_conflict_reports_small_entries_and_erases_nothing)
{
	uint64_t f;
	unsigned o;

	cr_assert_eq(dax_tree_insert(t, 512 + 3, 0, 11), 0);
	cr_assert_eq(dax_tree_insert(t, 512 + 500, 0, 12), 0);
	cr_assert_eq(dax_tree_insert(t, 511, 0, 13), 0);
	/* any index of the order-9 range names the range */
	cr_assert_eq(dax_tree_find_conflict(t, 512 + 300, 9, &f, &o), 11);
	cr_assert_eq(f, 515);
	cr_assert_eq(o, 0);
	cr_assert_eq(dax_tree_find_conflict(t, 512, 9, NULL, NULL), 11);
	/* nothing was erased or moved */
	cr_assert_eq(dax_tree_load(t, 515), 11);
	cr_assert_eq(dax_tree_load(t, 1012), 12);
	cr_assert_eq(dax_tree_get_nr_entries(t), 3);
	assert_tree_ok();
	/* a range with nothing in it */
	cr_assert_eq(dax_tree_find_conflict(t, 1024, 9, &f, &o), 0);
	cr_assert_eq(dax_tree_erase(t, 515), 11);
	cr_assert_eq(dax_tree_find_conflict(t, 512, 9, &f, &o), 12);
	cr_assert_eq(f, 1012);
	cr_assert_eq(dax_tree_erase(t, 1012), 12);
	cr_assert_eq(dax_tree_find_conflict(t, 512, 9, &f, &o), 0);
	cr_assert_eq(dax_tree_erase(t, 511), 13);
}

Test(tree, find_conflict_reports_the_larger_entry_around_the_range)
{
	uint64_t f;
	unsigned o;

	cr_assert_eq(dax_tree_insert(t, 1ULL << 18, 18, 21), 0);
	cr_assert_eq(dax_tree_find_conflict(t, (1ULL << 18) + 4096, 9, &f, &o),
		     21);
	cr_assert_eq(f, 1ULL << 18);
	cr_assert_eq(o, 18);
	cr_assert_eq(dax_tree_find_conflict(t, (1ULL << 18) - 1, 0, &f, &o),
		     0);
	cr_assert_eq(dax_tree_find_conflict(t, 0, 64, &f, &o), 21);
	cr_assert_eq(dax_tree_erase(t, 1ULL << 18), 21);
}

/* ---- split ------------------------------------------------------------------ */

struct split_case {
	unsigned from, to;
};

ParameterizedTestParameters(tree, split_gives_equal_pieces)
{
	static struct split_case cases[] = {
		{ 9, 0 }, { 9, 3 }, { 9, 6 }, { 18, 9 }, { 18, 0 },
		{ 12, 6 }, { 7, 6 }, { 13, 1 },
	};

	return cr_make_param_array(struct split_case, cases,
				   sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct split_case *c, tree, split_gives_equal_pieces)
{
	uint64_t base = 3ULL << c->from, f, v;
	uint64_t pieces = 1ULL << (c->from - c->to), seen = 0;
	unsigned o;

	cr_assert_eq(dax_tree_insert(t, base, c->from, 77), 0);
	cr_assert_eq(dax_tree_set_mark(t, base, DAX_TREE_MARK_0), 0);
	cr_assert_eq(dax_tree_split(t, base + 1, c->to), 0);
	assert_tree_ok();
	cr_assert_eq(dax_tree_get_nr_entries(t), pieces);
	dax_tree_for_each(t, f, o, v, 0, ~0ULL, DAX_TREE_MARK_0) {
		cr_assert_eq(f, base + (seen << c->to));
		cr_assert_eq(o, c->to);
		cr_assert_eq(v, 77);
		seen++;
	}
	cr_assert_eq(seen, pieces, "every piece carries the mark");
	cr_assert_eq(dax_tree_load(t, base - 1), 0);
	cr_assert_eq(dax_tree_load(t, base + (1ULL << c->from)), 0);
	cr_assert_eq(dax_tree_store(t, base, c->from, 0, DAX_TREE_REPLACE,
				    NULL), 0);
}

Test(tree, split_refuses_bad_requests)
{
	assert_fails_with(dax_tree_split(t, 5, 0), -ENOENT, "no entry");
	cr_assert_eq(dax_tree_insert(t, 512, 9, 1), 0);
	assert_fails_with(dax_tree_split(t, 512, 9), -EINVAL, "cannot split");
	assert_fails_with(dax_tree_split(t, 512, 12), -EINVAL, "cannot split");
	cr_assert_eq(dax_tree_insert(t, 0, 0, 2), 0);
	assert_fails_with(dax_tree_split(t, 0, 0), -EINVAL, "cannot split");
	cr_assert_eq(dax_tree_erase(t, 512), 1);
	cr_assert_eq(dax_tree_erase(t, 0), 2);
}

/* ---- marks ------------------------------------------------------------------- */

Test(tree, marks_survive_split_and_go_with_erase)
{
	uint64_t f, v, n = 0;
	unsigned o;

	cr_assert_eq(dax_tree_insert(t, 1ULL << 18, 18, 1), 0);
	cr_assert_eq(dax_tree_set_mark(t, (1ULL << 18) + 99, DAX_TREE_MARK_0),
		     0);
	cr_assert_eq(dax_tree_set_mark(t, 1ULL << 18, DAX_TREE_MARK_2), 0);
	cr_assert_eq(dax_tree_split(t, 1ULL << 18, 9), 0);
	for (uint64_t i = 0; i < 512; i++) {
		uint64_t idx = (1ULL << 18) + (i << 9) + i;

		cr_assert(dax_tree_get_mark(t, idx, DAX_TREE_MARK_0));
		cr_assert_not(dax_tree_get_mark(t, idx, DAX_TREE_MARK_1));
		cr_assert(dax_tree_get_mark(t, idx, DAX_TREE_MARK_2));
	}
	/* clear one piece's mark, erase another: the rest keep theirs */
	cr_assert_eq(dax_tree_clear_mark(t, (1ULL << 18) + 512,
					 DAX_TREE_MARK_0), 0);
	cr_assert_eq(dax_tree_erase(t, (1ULL << 18) + 1024 + 7), 1);
	assert_tree_ok();
	dax_tree_for_each(t, f, o, v, 0, ~0ULL, DAX_TREE_MARK_0) n++;
	cr_assert_eq(n, 510);
	n = 0;
	dax_tree_for_each(t, f, o, v, 0, ~0ULL, DAX_TREE_MARK_2) n++;
	cr_assert_eq(n, 511);
	/* an erased entry's marks are gone when the index is reused */
	cr_assert_eq(dax_tree_insert(t, (1ULL << 18) + 1024, 9, 2), 0);
	cr_assert_not(dax_tree_get_mark(t, (1ULL << 18) + 1024,
					DAX_TREE_MARK_2));
	for (uint64_t i = 0; i < 512; i++)
		cr_assert_neq(dax_tree_erase(t, (1ULL << 18) + (i << 9)), 0);
	f = 0;
	cr_assert_eq(dax_tree_find(t, &f, ~0ULL, DAX_TREE_MARK_0, &o), 0);
}

Test(tree, mark_calls_check_their_arguments)
{
	assert_fails_with(dax_tree_set_mark(t, 3, DAX_TREE_MARK_0), -ENOENT,
			  "no entry");
	assert_fails_with(dax_tree_clear_mark(t, 3, DAX_TREE_MARK_0), -ENOENT,
			  "no entry");
	cr_assert_eq(dax_tree_insert(t, 3, 0, 1), 0);
	assert_fails_with(dax_tree_set_mark(t, 3, DAX_TREE_PRESENT), -EINVAL,
			  "mark");
	assert_fails_with(dax_tree_set_mark(t, 3, (enum dax_tree_mark)7),
			  -EINVAL, "mark");
	cr_assert_not(dax_tree_get_mark(t, 3, (enum dax_tree_mark)7));
	cr_assert_not(dax_tree_get_mark(t, 4, DAX_TREE_MARK_0));
	cr_assert_eq(dax_tree_erase(t, 3), 1);
}

Test(tree, marked_find_skips_unmarked_subtrees)
{
	uint64_t f, v, n = 0;
	unsigned o;

	for (uint64_t i = 0; i < 100000; i += 7)
		cr_assert_eq(dax_tree_insert(t, i, 0, i + 1), 0);
	cr_assert_eq(dax_tree_set_mark(t, 7 * 3, DAX_TREE_MARK_1), 0);
	cr_assert_eq(dax_tree_set_mark(t, 7 * 9000, DAX_TREE_MARK_1), 0);
	cr_assert_eq(dax_tree_set_mark(t, 7 * 14000, DAX_TREE_MARK_1), 0);
	dax_tree_for_each(t, f, o, v, 22, 7 * 14000 - 1, DAX_TREE_MARK_1) {
		cr_assert_eq(f, 7 * 9000);
		cr_assert_eq(v, f + 1);
		n++;
	}
	cr_assert_eq(n, 1);
	cr_assert_eq(dax_tree_clear_mark(t, 7 * 9000, DAX_TREE_MARK_1), 0);
	assert_tree_ok();
	f = 22;
	cr_assert_eq(dax_tree_find(t, &f, ~0ULL, DAX_TREE_MARK_1, &o),
		     7 * 14000 + 1);
	erase_all();
}

/* ---- iteration -------------------------------------------------------------- */

struct collect {
	uint64_t first[64];
	unsigned order[64];
	unsigned n, stop_at;
};

static int collect_cb(void *priv, uint64_t first, unsigned order,
		      uint64_t value)
{
	struct collect *c = priv;

	c->first[c->n] = first;
	c->order[c->n] = order;
	c->n++;
	return c->n == c->stop_at ? 42 : 0;
}

Test(tree, iteration_is_in_index_order_and_sees_each_entry_once)
{
	/* mixed orders, inserted out of order */
	static const struct {
		uint64_t index;
		unsigned order;
	} e[] = {
		{ 1ULL << 40, 18 }, { 5, 0 }, { 512, 9 }, { 64, 6 },
		{ 1024, 0 }, { ~0ULL, 0 }, { 1ULL << 18, 18 }, { 4, 0 },
		{ 1ULL << 63, 62 },
	};
	static const unsigned sorted[] = { 7, 1, 3, 2, 4, 6, 0, 8, 5 };
	struct collect c = { .stop_at = 0 };
	uint64_t f, v;
	unsigned o, n = 0;

	for (unsigned i = 0; i < 9; i++)
		cr_assert_eq(dax_tree_insert(t, e[i].index, e[i].order, i + 1),
			     0);
	dax_tree_for_each(t, f, o, v, 0, ~0ULL, DAX_TREE_PRESENT) {
		cr_assert_lt(n, 9);
		cr_assert_eq(f, e[sorted[n]].index, "entry %u: 0x%llx", n,
			     (unsigned long long)f);
		cr_assert_eq(o, e[sorted[n]].order);
		cr_assert_eq(v, sorted[n] + 1);
		n++;
	}
	cr_assert_eq(n, 9);
	cr_assert_eq(dax_tree_walk(t, 0, ~0ULL, DAX_TREE_PRESENT, collect_cb,
				   &c), 0);
	cr_assert_eq(c.n, 9);
	for (unsigned i = 0; i < 9; i++)
		cr_assert_eq(c.first[i], e[sorted[i]].index);
	/* a walk that starts inside a large entry reports it first */
	memset(&c, 0, sizeof(c));
	cr_assert_eq(dax_tree_walk(t, 600, 1ULL << 18, DAX_TREE_PRESENT,
				   collect_cb, &c), 0);
	cr_assert_eq(c.n, 3);
	cr_assert_eq(c.first[0], 512);
	cr_assert_eq(c.first[1], 1024);
	cr_assert_eq(c.first[2], 1ULL << 18);
	/* the callback stops the walk */
	memset(&c, 0, sizeof(c));
	c.stop_at = 2;
	cr_assert_eq(dax_tree_walk(t, 0, ~0ULL, DAX_TREE_PRESENT, collect_cb,
				   &c), 42);
	cr_assert_eq(c.n, 2);
	/* a range between entries */
	f = 1025;
	cr_assert_eq(dax_tree_find(t, &f, (1ULL << 18) - 1, DAX_TREE_PRESENT,
				   &o), 0);
	cr_assert_eq(f, 1025, "a failed find leaves the index alone");
	for (unsigned i = 0; i < 9; i++)
		cr_assert_eq(dax_tree_erase(t, e[i].index), i + 1);
}

Test(tree, walk_checks_its_arguments)
{
	assert_fails_with(dax_tree_walk(t, 0, 1, DAX_TREE_PRESENT, NULL, NULL),
			  -EINVAL, "NULL");
	assert_fails_with(dax_tree_walk(t, 0, 1, (enum dax_tree_mark)9,
					collect_cb, NULL), -EINVAL, "filter");
}

/* ---- cmpxchg ------------------------------------------------------------------ */

Test(tree, cmpxchg_replaces_the_whole_covering_entry)
{
	uint64_t cur, f;
	unsigned o;

	cr_assert_eq(dax_tree_insert(t, 1024, 9, 5), 0);
	cr_assert_eq(dax_tree_set_mark(t, 1024, DAX_TREE_MARK_0), 0);
	/* through a non-canonical index */
	cr_assert_eq(dax_tree_cmpxchg(t, 1500, 5, 6, &cur), 0);
	cr_assert_eq(cur, 5);
	cr_assert_eq(dax_tree_load_covering(t, 1024, &f, &o), 6);
	cr_assert_eq(f, 1024);
	cr_assert_eq(o, 9);
	cr_assert(dax_tree_get_mark(t, 1535, DAX_TREE_MARK_0));
	/* a mismatch changes nothing */
	cr_assert_eq(dax_tree_cmpxchg(t, 1100, 5, 7, &cur), 0);
	cr_assert_eq(cur, 6);
	cr_assert_eq(dax_tree_load(t, 1100), 6);
	/* old 0 on an occupied index is a mismatch */
	cr_assert_eq(dax_tree_cmpxchg(t, 1100, 0, 7, &cur), 0);
	cr_assert_eq(cur, 6);
	/* old 0 on an empty index stores an order-0 entry */
	cr_assert_eq(dax_tree_cmpxchg(t, 3, 0, 8, &cur), 0);
	cr_assert_eq(cur, 0);
	cr_assert_eq(dax_tree_load_covering(t, 3, &f, &o), 8);
	cr_assert_eq(o, 0);
	/* new 0 erases the whole entry */
	cr_assert_eq(dax_tree_cmpxchg(t, 1030, 6, 0, &cur), 0);
	cr_assert_eq(dax_tree_load(t, 1024), 0);
	cr_assert_eq(dax_tree_cmpxchg(t, 3, 8, 0, &cur), 0);
	cr_assert_eq(cur, 8);
	cr_assert_eq(dax_tree_cmpxchg(t, 3, 0, 0, &cur), 0);
	cr_assert_eq(cur, 0);
}

/* ---- the lock-free slot swap (the entry locks' fast path) ------------------- */

static uint64_t add_one(uint64_t v, void *arg)
{
	(void)arg;
	return v + 1;
}

static uint64_t decline(uint64_t v, void *arg)
{
	(void)v;
	(void)arg;
	return 0;
}

Test(tree, slot_swap_works_on_one_slot_entries_only)
{
	uint64_t cur = 0, old = 0;

	cr_assert_eq(dax_tree_insert(t, 7, 0, 10), 0);
	cr_assert_eq(dax_tree_insert(t, 64 * 3, 6, 20), 0);
	cr_assert_eq(dax_tree_insert(t, 1024, 9, 30), 0);
	cr_assert_eq(dax_tree_set_mark(t, 7, DAX_TREE_MARK_2), 0);

	cr_assert_eq(dax_tree_cmpxchg_slot(t, 7, 10, 11, &cur), 1);
	cr_assert_eq(dax_tree_load(t, 7), 11);
	cr_assert(dax_tree_get_mark(t, 7, DAX_TREE_MARK_2), "marks stay");
	/* an order-6 entry fills one slot one level up */
	cr_assert_eq(dax_tree_cmpxchg_slot(t, 64 * 3 + 5, 20, 21, &cur), 1);
	cr_assert_eq(dax_tree_load(t, 64 * 3 + 63), 21);
	/* a 2 MiB entry fills 8 slots: the caller must take the lock */
	cr_assert_eq(dax_tree_cmpxchg_slot(t, 1100, 30, 31, &cur), -EAGAIN);
	cr_assert_eq(dax_tree_update_slot(t, 1100, add_one, NULL, &old),
		     -EAGAIN);
	cr_assert_eq(old, 30);
	cr_assert_eq(dax_tree_load(t, 1024), 30);
	/* a mismatch, a hole: nothing changes, *cur says what is there */
	cr_assert_eq(dax_tree_cmpxchg_slot(t, 7, 10, 12, &cur), 0);
	cr_assert_eq(cur, 11);
	cr_assert_eq(dax_tree_cmpxchg_slot(t, 8, 10, 12, &cur), 0);
	cr_assert_eq(cur, 0);
	cr_assert_eq(dax_tree_cmpxchg_slot(t, 7, 11, 0, &cur), -EINVAL);
	cr_assert_eq(dax_tree_update_slot(t, 7, decline, NULL, &old), 0);
	cr_assert_eq(old, 11);
	cr_assert_eq(dax_tree_update_slot(t, 7, add_one, NULL, &old), 1);
	cr_assert_eq(dax_tree_load(t, 7), 12);
	cr_assert_eq(dax_tree_update_slot(t, 9, add_one, NULL, &old), 0);
	cr_assert_eq(old, 0);

	cr_assert_eq(dax_tree_erase(t, 7), 12);
	cr_assert_eq(dax_tree_erase(t, 64 * 3), 21);
	cr_assert_eq(dax_tree_erase(t, 1024), 30);
}

static atomic_bool swap_stop;

static void *bump_lock_free(void *arg)
{
	uint64_t old, *done = arg;

	while (!atomic_load(&swap_stop))
		if (dax_tree_update_slot(t, 5, add_one, NULL, &old) == 1)
			(*done)++;
	return NULL;
}

/*
 * Writers under the tree lock and lock-free swaps change the same one-slot
 * entry for a while: every increment must land.  A locked writer that read
 * the slot and stored over it (instead of claiming it by compare-and-swap)
 * loses the lock-free increments made in between.
 */
Test(tree, locked_writers_and_slot_swaps_lose_no_update)
{
	uint64_t cur, swaps = 0, locked = 0;
	struct timespec t0, now;
	pthread_t th;

	cr_assert_eq(dax_tree_insert(t, 5, 0, 1), 0);
	cr_assert_eq(dax_tree_insert(t, 6, 0, 1), 0);
	atomic_store(&swap_stop, false);
	cr_assert_eq(pthread_create(&th, NULL, bump_lock_free, &swaps), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 1000; i++) {
			uint64_t v = dax_tree_load(t, 5);

			dax_tree_lock(t);
			dax_tree_cmpxchg_locked(t, 5, v, v + 1, &cur);
			if (i % 64 == 0) {
				/* another writer in the same leaf */
				dax_tree_erase_locked(t, 6);
				dax_tree_insert_locked(t, 6, 0, 1);
			}
			dax_tree_unlock(t);
			locked += cur == v;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - t0.tv_sec) * 1000 +
		 (now.tv_nsec - t0.tv_nsec) / 1000000 < 500);
	atomic_store(&swap_stop, true);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_gt(swaps, 0);
	cr_assert_eq(dax_tree_load(t, 5), 1 + swaps + locked,
		     "%llu lock-free + %llu locked increments, value %llu",
		     (unsigned long long)swaps, (unsigned long long)locked,
		     (unsigned long long)dax_tree_load(t, 5));
	cr_assert_eq(dax_tree_erase(t, 5), 1 + swaps + locked);
	cr_assert_eq(dax_tree_erase(t, 6), 1);
}

/* ---- the writer lock -------------------------------------------------------- */

static void *load_in_thread(void *arg)
{
	return (void *)(uintptr_t)dax_tree_load(t, (uint64_t)(uintptr_t)arg);
}

Test(tree, locked_sequence_leaves_readers_running)
{
	pthread_t th;
	void *ret;
	uint64_t cur;

	dax_tree_lock(t);
	cr_assert_eq(dax_tree_insert_locked(t, 512, 9, 1), 0);
	cr_assert_eq(dax_tree_cmpxchg_locked(t, 600, 1, 1 | 1ULL << 55, &cur),
		     0);
	cr_assert_eq(dax_tree_set_mark_locked(t, 600, DAX_TREE_MARK_1), 0);
	/* a reader in another thread does not wait for the lock */
	cr_assert_eq(pthread_create(&th, NULL, load_in_thread,
				    (void *)(uintptr_t)700), 0);
	cr_assert_eq(pthread_join(th, &ret), 0);
	cr_assert_eq((uint64_t)(uintptr_t)ret, 1 | 1ULL << 55);
	cr_assert_eq(dax_tree_split_locked(t, 512, 0), 0);
	cr_assert_eq(dax_tree_clear_mark_locked(t, 513, DAX_TREE_MARK_1), 0);
	cr_assert_eq(dax_tree_store_locked(t, 512, 9, 0, DAX_TREE_REPLACE,
					   NULL), 0);
	cr_assert_eq(dax_tree_insert_locked(t, 0, 0, 2), 0);
	cr_assert_eq(dax_tree_erase_locked(t, 0), 2);
	dax_tree_unlock(t);
}

/* ---- argument checks ------------------------------------------------------------ */

Test(tree, bad_arguments_are_refused_with_a_reason)
{
	assert_fails_with(dax_tree_new(NULL), -EINVAL, "NULL");
	assert_fails_with(dax_tree_insert(t, 1, 0, DAX_TREE_VALUE_MAX + 1),
			  -EINVAL, "DAX_TREE_VALUE_MAX");
	assert_fails_with(dax_tree_insert(t, 1, 0, 0), -EINVAL, "value 0");
	assert_fails_with(dax_tree_insert(t, 0, 64, 1), -EINVAL, "order 64");
	assert_fails_with(dax_tree_store(t, 513, 9, 1, 0, NULL), -EINVAL,
			  "0x200 would be");
	assert_fails_with(dax_tree_store(t, 0, 0, 1, 0x10, NULL), -EINVAL,
			  "flags");
	assert_fails_with(dax_tree_cmpxchg(t, 0, 0, ~0ULL, NULL), -EINVAL,
			  "DAX_TREE_VALUE_MAX");
	cr_assert_eq(dax_tree_insert(t, 1, 0, DAX_TREE_VALUE_MAX), 0);
	cr_assert_eq(dax_tree_load(t, 1), DAX_TREE_VALUE_MAX);
	cr_assert_eq(dax_tree_erase(t, 1), DAX_TREE_VALUE_MAX);
	cr_assert_eq(dax_tree_erase(t, 1), 0);
	dax_tree_delete(NULL);
}

/* ---- out of memory at every allocation site --------------------------------- */

typedef int (*tree_op)(void);

static int op_insert_at_top(void)
{
	return dax_tree_insert(t, ~0ULL, 0, 3);
}

static int op_insert_deep(void)
{
	return dax_tree_insert(t, 0x123456789ULL, 0, 3);
}

static int op_split_18_to_6(void)
{
	return dax_tree_split(t, 1ULL << 19, 6);
}

static int op_split_9_to_0(void)
{
	return dax_tree_split(t, 1ULL << 30, 0);
}

static int op_store_split(void)
{
	return dax_tree_store(t, (1ULL << 30) + 5, 0, 4, DAX_TREE_SPLIT, NULL);
}

static int op_replace_over_tree(void)
{
	return dax_tree_store(t, 0, 63, 4, DAX_TREE_REPLACE, NULL);
}

static int op_cmpxchg_into_hole(void)
{
	return dax_tree_cmpxchg(t, 0x7777777ULL, 0, 5, NULL);
}

static int op_order_12_in_new_subtree(void)
{
	return dax_tree_insert(t, 0xabcULL << 40, 12, 6);
}

static void populate_for_oom(void)
{
	cr_assert_eq(dax_tree_insert(t, 7, 0, 1), 0);
	cr_assert_eq(dax_tree_insert(t, 1ULL << 19, 18, 2), 0);
	cr_assert_eq(dax_tree_insert(t, 1ULL << 30, 9, 3), 0);
	cr_assert_eq(dax_tree_set_mark(t, 1ULL << 19, DAX_TREE_MARK_1), 0);
	cr_assert_eq(dax_tree_set_mark(t, 7, DAX_TREE_MARK_0), 0);
}

Test(tree, out_of_memory_at_any_allocation_leaves_the_tree_unchanged)
{
	static const struct {
		const char *name;
		tree_op op;
	} ops[] = {
		{ "insert at ULONG_MAX (growth)", op_insert_at_top },
		{ "insert deep (new path)", op_insert_deep },
		{ "split 18 -> 6", op_split_18_to_6 },
		{ "split 9 -> 0", op_split_9_to_0 },
		{ "store with split", op_store_split },
		{ "replace over the tree", op_replace_over_tree },
		{ "cmpxchg into a hole", op_cmpxchg_into_hole },
		{ "order 12 in a new subtree", op_order_12_in_new_subtree },
	};

	for (unsigned i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		struct snap before, after;
		unsigned long nth;
		int ret;

		populate_for_oom();
		snap_take(&before);
		for (nth = 1;; nth++) {
			dax_tree_inject_alloc_failure(t, nth);
			ret = ops[i].op();
			if (ret != -ENOMEM)
				break;
			cr_assert(strstr(dax_errormsg(), "memory"));
			snap_take(&after);
			cr_assert(snap_equal(&before, &after),
				  "%s: failing allocation %lu changed the tree",
				  ops[i].name, nth);
			snap_free(&after);
			assert_tree_ok();
		}
		dax_tree_inject_alloc_failure(t, 0);
		cr_assert_eq(ret, 0, "%s: %s", ops[i].name, dax_errormsg());
		cr_assert_gt(nth, 1, "%s allocated nothing", ops[i].name);
		assert_tree_ok();
		snap_free(&before);
		erase_all();
	}
}

Test(tree, freed_nodes_are_reused_after_a_grace_period)
{
	uint64_t mem;

	for (uint64_t i = 0; i < 64 * 64; i += 64)
		cr_assert_eq(dax_tree_insert(t, i, 0, 1), 0);
	mem = dax_tree_get_memory(t);
	erase_all();
	/* nodes wait in batches, one grace period each: let two pass, with a
	 * write in between that moves the first batch into the cache */
	dax_rcu_barrier();
	cr_assert_eq(dax_tree_insert(t, 0, 0, 1), 0);
	cr_assert_eq(dax_tree_erase(t, 0), 1);
	dax_rcu_barrier();
	for (uint64_t i = 0; i < 64 * 64; i += 64)
		cr_assert_eq(dax_tree_insert(t, i, 0, 1), 0);
	cr_assert_eq(dax_tree_get_memory(t), mem);
	erase_all();
}
