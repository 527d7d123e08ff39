// SPDX-License-Identifier: MIT
/*
 * DAX entries (libdax/entry.c), the reverse map (rmap.c) and the wait table
 * (waitq.c), through the internal API the fault path builds on.  Mappings
 * live on a standalone reverse map, so no region is needed.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "entry_world.h"

#define NR_PAGES ENTRY_WORLD_PAGES

static void setup(void)
{
	entry_world_make(64);
}

static void teardown(void)
{
	entry_world_end();
}

Test(entry, word_packs_pfn_order_flags_and_sequence)
{
	uint64_t e = dax_entry_make(DAX_ENTRY_MAX_PFN, 9, DAX_ENTRY_LOCKED);

	e = dax_entry_set_seq(e, 0x7ff);
	cr_assert_leq(e, DAX_TREE_VALUE_MAX);
	cr_assert_eq(dax_entry_pfn(e), DAX_ENTRY_MAX_PFN);
	cr_assert_eq(dax_entry_order(e), 9);
	cr_assert_eq(dax_entry_seq(e), 0x7ff);
	cr_assert(dax_entry_is_locked(e));
	cr_assert(dax_entry_is_real(e));
	cr_assert_eq(dax_entry_first(e, 700), 512);
	cr_assert_eq(dax_entry_nr_pages(e), 512);
	cr_assert_eq(dax_entry_seq(dax_entry_set_seq(e, 0x800)), 0);
	cr_assert_neq(dax_entry_make(0, 0, 0), 0, "no entry is 0");
	cr_assert(dax_entry_is_zero(dax_entry_make(0, 9, DAX_ENTRY_ZERO)));
	cr_assert(!dax_entry_is_real(dax_entry_make(0, 0, DAX_ENTRY_EMPTY)));
}

Test(entry, grab_inserts_a_locked_empty_placeholder, .init = setup,
     .fini = teardown)
{
	struct dax_locked_entry le;
	uint64_t first;
	unsigned order;
	uint64_t v;

	cr_assert_eq(dax_entry_grab(m, 700, 9, &le), 0);
	cr_assert_eq(le.first, 512);
	cr_assert(dax_entry_is_empty(le.entry) && dax_entry_is_locked(le.entry));
	v = dax_tree_load_covering(m->tree, 1000, &first, &order);
	cr_assert_eq(v, le.entry);
	cr_assert_eq(first, 512);
	cr_assert_eq(order, 9);
	cr_assert_eq(dax_entry_order(v), order, "word and tree agree");
	/* A failed fault puts the placeholder: it goes away. */
	dax_entry_put(m, &le);
	cr_assert(dax_tree_empty(m->tree));
}

Test(entry, replace_makes_a_hole_real_and_records_the_owner,
     .init = setup, .fini = teardown)
{
	struct dax_locked_entry le;
	struct dax_mapping *owner;
	uint64_t index;

	cr_assert_eq(dax_entry_grab(m, 512, 9, &le), 0);
	cr_assert_eq(dax_entry_replace(m, &le, 0, DAX_ENTRY_ZERO), 0);
	cr_assert(dax_entry_is_zero(le.entry) && dax_entry_is_locked(le.entry));
	dax_entry_put(m, &le);
	cr_assert(dax_entry_is_zero(dax_tree_load(m->tree, 600)));
	cr_assert(!dax_entry_is_locked(dax_tree_load(m->tree, 600)));

	/* ZERO -> real: the write over a hole. */
	cr_assert_eq(dax_entry_grab(m, 600, 9, &le), 0);
	cr_assert(dax_entry_is_zero(le.entry));
	cr_assert_eq(dax_entry_replace(m, &le, 4096, 0), 0, "%s",
		     dax_errormsg());
	dax_entry_put(m, &le);
	owner = dax_rmap_lookup(rmap, 4096 + 300, &index, NULL);
	cr_assert_eq(owner, m);
	cr_assert_eq(index, 512 + 300);
	dax_mapping_put(&owner);
	cr_assert_null(dax_rmap_lookup(rmap, 4096 + 512, &index, NULL));
}

Test(entry, replace_refuses_bad_pfns_and_double_ownership, .init = setup,
     .fini = teardown)
{
	struct dax_locked_entry le;
	uint64_t before;

	install(m, 0, 9, 1024);
	cr_assert_eq(dax_entry_grab(m, 4096, 9, &le), 0);
	before = le.entry;
	assert_fails_with(dax_entry_replace(m, &le, 1024 + 512 - 1, 0),
			  -EINVAL, "not an aligned range");
	assert_fails_with(dax_entry_replace(m, &le, NR_PAGES, 0), -EINVAL,
			  "inside the region");
	assert_fails_with(dax_entry_replace(m, &le, 1024, 0), -EBUSY,
			  "that mapping");
	assert_fails_with(dax_entry_replace(m, &le, 5, DAX_ENTRY_ZERO),
			  -EINVAL, "no pfn");
	cr_assert_eq(le.entry, before, "nothing changed");
	cr_assert_eq(dax_tree_load(m->tree, 4096), before);
	dax_entry_put(m, &le);
}

Test(entry, grab_falls_back_when_smaller_entries_are_in_the_range,
     .init = setup, .fini = teardown)
{
	struct dax_locked_entry le;

	install(m, 520, 0, 77);
	assert_fails_with(dax_entry_grab(m, 700, 9, &le), -ERANGE,
			  "fall back");
	cr_assert_eq(dax_mapping_get_nr_entries(m), 1, "never erased");
	cr_assert_eq(dax_entry_grab(m, 700, 0, &le), 0);
	cr_assert_eq(le.first, 700);
	dax_entry_put(m, &le);
	cr_assert_eq(dax_mapping_get_nr_entries(m), 1);
}

Test(entry, small_grab_in_a_large_zero_entry_downgrades_it, .init = setup,
     .fini = teardown)
{
	struct dax_locked_entry le;

	install(m, 512, 9, 0);
	cr_assert_eq(dax_entry_grab(m, 700, 0, &le), 0);
	cr_assert_eq(le.first, 700);
	cr_assert(dax_entry_is_empty(le.entry));
	cr_assert_eq(dax_tree_load(m->tree, 600), 0, "the hole is a hole");
	dax_entry_put(m, &le);
}

Test(entry, small_grab_in_a_large_real_entry_locks_it_whole, .init = setup,
     .fini = teardown)
{
	struct dax_locked_entry le;

	install(m, 512, 9, 2048);
	cr_assert_eq(dax_entry_grab(m, 700, 0, &le), 0);
	cr_assert_eq(le.first, 512);
	cr_assert_eq(dax_entry_order(le.entry), 9);
	cr_assert_eq(dax_entry_pfn(le.entry), 2048);
	dax_entry_put(m, &le);
}

Test(entry, split_gives_each_piece_its_pages, .init = setup,
     .fini = teardown)
{
	struct dax_locked_entry le;
	struct dax_mapping *owner;
	uint64_t v, index;

	install(m, 512, 9, 2048);
	cr_assert_eq(dax_entry_lock(m, 600, &le), 1);
	cr_assert_eq(dax_entry_split(m, &le, 0, 700), 0, "%s", dax_errormsg());
	cr_assert_eq(le.first, 700);
	cr_assert_eq(dax_entry_pfn(le.entry), 2048 + 188);
	cr_assert_eq(dax_mapping_get_nr_entries(m), 512);
	for (uint64_t i = 512; i < 1024; i++) {
		v = dax_tree_load(m->tree, i);
		cr_assert_eq(dax_entry_order(v), 0);
		cr_assert_eq(dax_entry_pfn(v), 2048 + i - 512);
		cr_assert_eq(dax_entry_is_locked(v), i == 700);
	}
	owner = dax_rmap_lookup(rmap, 2048 + 5, &index, NULL);
	cr_assert_eq(owner, m);
	cr_assert_eq(index, 517, "records keep their meaning when split");
	dax_mapping_put(&owner);
	cr_assert_eq(dax_tree_check(m->tree), 0, "%s", dax_errormsg());
	/* Erase the kept piece: its page leaves the reverse map. */
	dax_entry_erase(m, &le);
	cr_assert_null(dax_rmap_lookup(rmap, 2048 + 188, &index, NULL));
	cr_assert_eq(dax_mapping_get_nr_entries(m), 511);
}

Test(entry, split_keeping_every_piece_locked, .init = setup,
     .fini = teardown)
{
	struct dax_locked_entry le, p;

	install(m, 0, 9, 512);
	cr_assert_eq(dax_entry_lock(m, 3, &le), 1);
	cr_assert_eq(dax_entry_split(m, &le, 6, UINT64_MAX), 0);
	cr_assert_eq(le.first, 0);
	for (uint64_t i = 0; i < 512; i += 64) {
		dax_entry_piece(&le, i + 5, &p);
		cr_assert_eq(p.first, i);
		cr_assert_eq(dax_tree_load(m->tree, i), p.entry);
		cr_assert(dax_entry_is_locked(p.entry));
		dax_entry_put(m, &p);
	}
	cr_assert(!dax_entry_is_locked(dax_tree_load(m->tree, 100)));
}

Test(entry, put_with_a_stale_description_changes_nothing, .init = setup,
     .fini = teardown)
{
	struct dax_locked_entry le, stale;
	uint64_t v;

	install(m, 8, 0, 100);
	cr_assert_eq(dax_entry_lock(m, 8, &le), 1);
	stale = le;
	dax_entry_put(m, &le);
	cr_assert_eq(dax_entry_lock(m, 8, &le), 1);
	v = dax_tree_load(m->tree, 8);
	dax_entry_put(m, &stale);
	cr_assert_str_neq(dax_errormsg(), "");
	cr_assert_eq(dax_tree_load(m->tree, 8), v, "still locked by le");
	dax_entry_put(m, &le);
}

Test(entry, every_lock_bumps_the_sequence, .init = setup, .fini = teardown)
{
	struct dax_locked_entry le;
	unsigned seq = 0;

	install(m, 1, 0, 1);
	for (int i = 0; i < 5000; i++) {
		cr_assert_eq(dax_entry_lock(m, 1, &le), 1);
		if (i)
			cr_assert_eq(dax_entry_seq(le.entry),
				     (seq + 1) & DAX_ENTRY_SEQ_MASK);
		seq = dax_entry_seq(le.entry);
		dax_entry_put(m, &le);
	}
}

Test(entry, a_dead_mapping_refuses_grabs, .init = setup, .fini = teardown)
{
	struct dax_locked_entry le;

	install(m, 1, 0, 1);
	cr_assert_eq(dax_mapping_kill(m), 0);
	assert_fails_with(dax_entry_grab(m, 1, 0, &le), -ENXIO, "dead");
	cr_assert_eq(dax_entry_lock(m, 1, &le), -ENXIO);
}

/* ---- the reverse map ---------------------------------------------------- */

Test(rmap, last_put_forgets_the_mapping_pages, .init = setup,
     .fini = teardown)
{
	struct dax_mapping *m2, *owner;
	uint64_t index;

	cr_assert_eq(dax_mapping_new_rmap(rmap, NULL, &no_ops, NULL, 1 << 30,
					  &m2), 0);
	install(m2, 0, 9, 512);
	owner = dax_rmap_lookup(rmap, 600, &index, NULL);
	cr_assert_eq(owner, m2);
	dax_mapping_put(&owner);
	dax_mapping_put(&m2);
	cr_assert_null(dax_rmap_lookup(rmap, 600, &index, NULL));
	/* Its pages are free for another mapping. */
	install(m, 0, 9, 512);
}

Test(rmap, ids_are_recycled, .init = setup, .fini = teardown)
{
	struct dax_mapping *ms[100];

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 100; i++)
			cr_assert_eq(dax_mapping_new_rmap(rmap, NULL, &no_ops,
							  NULL, 0, &ms[i]),
				     0);
		for (int i = 0; i < 100; i++) {
			cr_assert_leq(dax_mapping_id(ms[i]), 102);
			dax_mapping_put(&ms[i]);
		}
	}
}

/* ---- the wait table ------------------------------------------------------- */

struct sleeper {
	struct dax_waitq *wq;
	const void *obj;
	uint64_t key;
	_Atomic int state;	/* 0 new, 1 queued, 2 woken */
};

static void *sleeper_fn(void *arg)
{
	struct sleeper *s = arg;
	struct dax_waiter w;

	dax_waitq_prepare(s->wq, &w, s->obj, s->key);
	atomic_store(&s->state, 1);
	while (!atomic_load(&w.woken))
		dax_waitq_sleep(s->wq, &w);
	dax_waitq_finish(s->wq, &w);
	atomic_store(&s->state, 2);
	return NULL;
}

static void wait_state(struct sleeper *s, int n, int state)
{
	for (int i = 0; i < n; i++)
		while (atomic_load(&s[i].state) != state)
			usleep(100);
}

Test(waitq, colliding_keys_neither_steal_nor_share_wakeups)
{
	struct dax_waitq *wq;
	struct sleeper s[6];
	pthread_t th[6];
	int x, y;

	cr_assert_eq(dax_waitq_new(1, &wq), 0);
	cr_assert_eq(dax_waitq_nr_buckets(wq), 1, "every key collides");
	for (int i = 0; i < 6; i++) {
		s[i] = (struct sleeper){ wq, i < 3 ? (void *)&x : (void *)&y,
					 (uint64_t)i % 3 == 0 ? 7 : 9, 0 };
		cr_assert_eq(pthread_create(&th[i], NULL, sleeper_fn, &s[i]),
			     0);
	}
	wait_state(s, 6, 1);
	/* (x, 7) has one waiter, s[0]: the others stay asleep. */
	dax_waitq_wake(wq, &x, 7, false);
	wait_state(s, 1, 2);
	usleep(20000);
	for (int i = 1; i < 6; i++)
		cr_assert_eq(atomic_load(&s[i].state), 1, "waiter %d woke", i);
	/* (x, 9): s[1] then s[2], one per wake, oldest first. */
	dax_waitq_wake(wq, &x, 9, false);
	dax_waitq_wake(wq, &x, 9, false);
	wait_state(&s[1], 2, 2);
	/* Everything of y. */
	dax_waitq_wake(wq, &y, DAX_WAITQ_ALL_KEYS, true);
	for (int i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	dax_waitq_delete(&wq);
	cr_assert_null(wq);
}

Test(waitq, bad_sizes_are_refused)
{
	struct dax_waitq *wq;

	assert_fails_with(dax_waitq_new(0, &wq), -EINVAL, "buckets");
	cr_assert_eq(dax_waitq_new(1000, &wq), 0);
	cr_assert_eq(dax_waitq_nr_buckets(wq), 1024);
	dax_waitq_delete(&wq);
}

Test(entry, failed_split_leaves_entry_and_reverse_map_as_they_were,
     .init = setup, .fini = teardown)
{
	struct dax_locked_entry le;
	uint64_t before, index;
	struct dax_mapping *owner;

	install(m, 512, 9, 2048);
	cr_assert_eq(dax_entry_lock(m, 512, &le), 1);
	before = le.entry;
	dax_tree_inject_alloc_failure(m->tree, 1);
	cr_assert_eq(dax_entry_split(m, &le, 0, 512), -ENOMEM);
	dax_tree_inject_alloc_failure(m->tree, 0);
	cr_assert_eq(le.entry, before);
	cr_assert_eq(dax_tree_load(m->tree, 700), before);
	owner = dax_rmap_lookup(rmap, 2048 + 300, &index, NULL);
	cr_assert_eq(owner, m);
	cr_assert_eq(index, 812);
	dax_mapping_put(&owner);
	/* erasing it forgets every one of its pages */
	dax_entry_erase(m, &le);
	for (uint64_t p = 2048; p < 2048 + 512; p += 17)
		cr_assert_null(dax_rmap_lookup(rmap, p, &index, NULL));
}
