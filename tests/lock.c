// SPDX-License-Identifier: MIT
/*
 * Entry locks and cookies (libdax/entry.c) through the public calls, and
 * the classic bugs: lost wake-ups (one entry, colliding buckets), unlocking
 * the wrong entry, lock by pfn inside a 2 MiB entry, the mapping going away
 * under a sleeping dax_lock_pfn(), entries split or erased under sleepers,
 * range locks against single locks, and every misuse.
 *
 * The mappings live on a standalone reverse map (dax_rmap_lock_pfn() is
 * dax_lock_pfn() minus the region lookup); tests/mapping.c covers regions.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "entry_world.h"

#define NR_PAGES ENTRY_WORLD_PAGES
#define KEY_SCALE 1000

static void setup(void)
{
	entry_world_make(DAX_WAITQ_DEFAULT_BUCKETS);
}

/* One bucket: every key collides. */
static void setup_collide(void)
{
	entry_world_make(1);
}

static void teardown(void)
{
	entry_world_end();
}

static bool locked_at(uint64_t index)
{
	return dax_entry_is_locked(dax_tree_load(m->tree, index));
}

static uint64_t sleeps(void)
{
	struct dax_waitq_stats st;

	dax_waitq_get_stats(m->wq, &st);
	return st.sleeps;
}

/* Wait (bounded) until @n more threads went to sleep on the wait table. */
static void wait_sleepers(uint64_t base, uint64_t n)
{
	for (int i = 0; i < 20000 && sleeps() < base + n; i++)
		usleep(100);
	cr_assert_geq(sleeps(), base + n, "nobody went to sleep");
	usleep(2000);
}

/* ---- single locks --------------------------------------------------------- */

Test(lock, no_entry_gives_cookie_zero, .init = setup, .fini = teardown)
{
	dax_cookie_t c = 123;

	cr_assert_eq(dax_lock_index(m, 5, &c), 0);
	cr_assert_eq(c, 0);
}

Test(lock, cookie_unlocks_the_whole_2mib_entry_named_through_index_700,
     .init = setup, .fini = teardown)
{
	uint64_t before[4], after;
	uint64_t where[4] = { 0, 1024, 1025, 2048 };
	dax_cookie_t c;

	install(m, 0, 0, 7);
	install(m, 512, 9, 512);
	install(m, 1024, 0, 1024);
	install(m, 1025, 0, 1025);
	install(m, 2048, 9, 0);
	for (int i = 0; i < 4; i++)
		before[i] = dax_tree_load(m->tree, where[i]);
	cr_assert_eq(dax_lock_index(m, 700, &c), 0);
	cr_assert_neq(c, 0);
	for (uint64_t i = 512; i < 1024; i += 37)
		cr_assert(locked_at(i), "index %llu", (unsigned long long)i);
	cr_assert_eq(dax_unlock(m, c), 0, "%s", dax_errormsg());
	cr_assert(!locked_at(512));
	cr_assert(!locked_at(1023));
	after = dax_tree_load(m->tree, 512);
	cr_assert_eq(dax_entry_order(after), 9);
	cr_assert_eq(dax_entry_pfn(after), 512);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(dax_tree_load(m->tree, where[i]), before[i],
			     "entry at %llu changed",
			     (unsigned long long)where[i]);
	cr_assert_eq(dax_mapping_get_nr_entries(m), 5);
}

Test(lock, cookies_are_never_zero_and_differ_each_time, .init = setup,
     .fini = teardown)
{
	dax_cookie_t c, prev = 0;

	install(m, 0, 0, 1);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(dax_lock_index(m, 0, &c), 0);
		cr_assert_neq(c, 0);
		cr_assert_neq(c, prev);
		cr_assert_eq(dax_unlock(m, c), 0);
		prev = c;
	}
}

/* ---- misuse ----------------------------------------------------------------- */

Test(misuse, every_bad_cookie_is_einval_with_a_message, .init = setup,
     .fini = teardown)
{
	dax_cookie_t c, c2, r;
	struct dax_mapping *other;

	install(m, 512, 9, 512);
	install(m, 4, 0, 4);
	assert_fails_with(dax_unlock(m, 0), -EINVAL, "cookie 0");
	assert_fails_with(dax_unlock(m, (uint64_t)m->tag << 13 | 0x4000000),
			  -EINVAL, "not a cookie");
	assert_fails_with(dax_unlock(m, ~0ULL), -EINVAL, "");
	assert_fails_with(dax_unlock(NULL, 1), -EINVAL, "NULL");
	assert_fails_with(dax_lock_index(m, 0, NULL), -EINVAL, "NULL");
	assert_fails_with(dax_lock_index(NULL, 0, &c), -EINVAL, "NULL");
	assert_fails_with(dax_lock_index(m, DAX_MAPPING_MAX_INDEX + 1, &c),
			  -EINVAL, "above the largest");

	cr_assert_eq(dax_lock_index(m, 700, &c), 0);
	/* garbage: an index inside the entry, not its start */
	assert_fails_with(dax_unlock(m, (c & ((1ULL << 20) - 1)) |
					    (700ULL << 20)),
			  -EINVAL, "not the start");
	/* garbage: a wrong sequence */
	assert_fails_with(dax_unlock(m, c ^ (1 << 2)), -EINVAL, "sequence");
	/* garbage: no entry there */
	assert_fails_with(dax_unlock(m, (c & ((1ULL << 20) - 1)) |
					    (99999ULL << 20)),
			  -EINVAL, "no entry");
	cr_assert(locked_at(512), "still held after the bad unlocks");
	cr_assert_eq(dax_unlock(m, c), 0);
	/* double unlock */
	assert_fails_with(dax_unlock(m, c), -EINVAL, "not locked");
	/* stale: someone else holds it now */
	cr_assert_eq(dax_lock_index(m, 600, &c2), 0);
	assert_fails_with(dax_unlock(m, c), -EINVAL, "stale");
	cr_assert(locked_at(512));
	cr_assert_eq(dax_unlock(m, c2), 0);

	/* a cookie of another mapping */
	cr_assert_eq(dax_mapping_new_rmap(rmap, NULL, &no_ops, NULL, 1 << 30,
					  &other), 0);
	cr_assert_eq(dax_lock_index(m, 4, &c), 0);
	assert_fails_with(dax_unlock(other, c), -EINVAL, "this mapping");
	cr_assert_eq(dax_unlock(m, c), 0);
	dax_mapping_put(&other);

	/* range cookies */
	cr_assert_eq(dax_lock_range(m, 0, 4095, &r), 0);
	cr_assert_neq(r, 0);
	assert_fails_with(dax_unlock(m, r + (1 << 20)), -EINVAL,
			  "no range lock");
	assert_fails_with(dax_unlock(m, r ^ (1 << 2)), -EINVAL,
			  "no range lock");
	cr_assert_eq(dax_unlock(m, r), 0);
	assert_fails_with(dax_unlock(m, r), -EINVAL, "no range lock");
	assert_fails_with(dax_lock_range(m, 5, 4, &r), -EINVAL, "empty");

	/* pfn cookies on the wrong call, and the other way round */
	cr_assert_eq(dax_rmap_lock_pfn(rmap, 600, &c), 0);
	cr_assert_neq(c, 0);
	assert_fails_with(dax_unlock(m, c), -EINVAL, "dax_unlock_pfn");
	cr_assert_eq(dax_lock_index(m, 4, &c2), 0);
	assert_fails_with(dax_rmap_unlock_pfn(rmap, c2), -EINVAL,
			  "dax_lock_pfn");
	cr_assert_eq(dax_unlock(m, c2), 0);
	cr_assert_eq(dax_rmap_unlock_pfn(rmap, c), 0, "%s", dax_errormsg());
	assert_fails_with(dax_rmap_unlock_pfn(rmap, c), -EINVAL, "not locked");
	assert_fails_with(dax_rmap_unlock_pfn(rmap, 0), -EINVAL, "cookie 0");
	assert_fails_with(dax_rmap_lock_pfn(rmap, NR_PAGES, &c), -EINVAL,
			  "beyond");
}

Test(misuse, unlock_after_the_entry_went_away, .init = setup,
     .fini = teardown)
{
	struct dax_locked_entry le;
	dax_cookie_t c;

	install(m, 9, 0, 9);
	cr_assert_eq(dax_lock_index(m, 9, &c), 0);
	cr_assert_eq(dax_unlock(m, c), 0);
	cr_assert_eq(dax_entry_lock(m, 9, &le), 1);
	dax_entry_erase(m, &le);
	assert_fails_with(dax_unlock(m, c), -EINVAL, "no entry");
}

Test(misuse, unlock_after_the_mapping_died, .init = setup, .fini = teardown)
{
	dax_cookie_t c, c2;

	install(m, 9, 0, 9);
	cr_assert_eq(dax_lock_index(m, 9, &c), 0);
	cr_assert_eq(dax_mapping_kill(m), 0);
	cr_assert(!dax_mapping_is_alive(m));
	/* new lockers get nothing */
	cr_assert_eq(dax_lock_index(m, 9, &c2), 0);
	cr_assert_eq(c2, 0);
	/* the holder may still release what it held ... */
	cr_assert_eq(dax_unlock(m, c), 0, "%s", dax_errormsg());
	/* ... once */
	assert_fails_with(dax_unlock(m, c), -EINVAL, "the mapping is dead");
	cr_assert_eq(dax_lock_range(m, 0, 100, &c2), 0);
	cr_assert_eq(c2, 0);
}

/* ---- lost wake-ups ---------------------------------------------------------------- */

struct hammer {
	uint64_t index;		/* the entry to hammer */
	int rounds;
	_Atomic int *inside;	/* threads inside the entry's lock */
	long *count;		/* plain: protected by the entry lock */
	_Atomic int failures;
};

static void *hammer_fn(void *arg)
{
	struct hammer *h = arg;
	dax_cookie_t c;

	for (int i = 0; i < h->rounds; i++) {
		if (dax_lock_index(m, h->index, &c) || !c) {
			atomic_fetch_add(&h->failures, 1);
			continue;
		}
		if (atomic_fetch_add(h->inside, 1) != 0)
			atomic_fetch_add(&h->failures, 1);
		(*h->count)++;
		if (i % 8 == 0)
			sched_yield();	/* let the others queue up */
		atomic_fetch_sub(h->inside, 1);
		if (dax_unlock(m, c))
			atomic_fetch_add(&h->failures, 1);
	}
	return NULL;
}

/* @groups entries, @per threads each; every thread must finish. */
static void hammer(int groups, int per, int rounds)
{
	struct hammer h[8][16];
	pthread_t th[8][16];
	_Atomic int inside[8] = { 0 };
	long count[8] = { 0 };

	dax_mapping_set_spin(m, 0);	/* sleep at once: stress the wakes */
	for (int g = 0; g < groups; g++) {
		install(m, (uint64_t)g * 512 + 512, 9, (uint64_t)g * 512 + 512);
		for (int t = 0; t < per; t++) {
			h[g][t] = (struct hammer){
				.index = (uint64_t)g * 512 + 512 + t * 31,
				.rounds = rounds, .inside = &inside[g],
				.count = &count[g] };
			cr_assert_eq(pthread_create(&th[g][t], NULL, hammer_fn,
						    &h[g][t]), 0);
		}
	}
	for (int g = 0; g < groups; g++)
		for (int t = 0; t < per; t++) {
			pthread_join(th[g][t], NULL);
			cr_assert_eq(atomic_load(&h[g][t].failures), 0);
		}
	for (int g = 0; g < groups; g++)
		cr_assert_eq(count[g], (long)per * rounds,
			     "lost update on entry %d", g);
	cr_assert_gt(sleeps(), 0, "the waiters never slept");
}

Test(wakeup, many_waiters_on_one_entry_all_get_it, .init = setup,
     .fini = teardown, .timeout = 60)
{
	hammer(1, 12, 400);
}

Test(wakeup, waiters_of_colliding_keys_all_get_theirs, .init = setup_collide,
     .fini = teardown, .timeout = 60)
{
	cr_assert_eq(dax_waitq_nr_buckets(m->wq), 1);
	hammer(4, 4, 300);
}

/* ---- sleepers and changing entries ---------------------------------------------- */

struct sleeper {
	uint64_t index;
	dax_cookie_t cookie;
	int ret;
	bool by_pfn;
	_Atomic bool finished;
	pthread_t th;
};

static void *sleeper_fn(void *arg)
{
	struct sleeper *s = arg;

	if (s->by_pfn)
		s->ret = dax_rmap_lock_pfn(rmap, s->index, &s->cookie);
	else
		s->ret = dax_lock_index(m, s->index, &s->cookie);
	atomic_store(&s->finished, true);
	return NULL;
}

static void *unlocker_fn(void *arg)
{
	struct sleeper *s = arg;

	s->ret = dax_unlock(m, s->cookie);
	return NULL;
}

static void start_sleeper(struct sleeper *s, uint64_t index, bool by_pfn)
{
	*s = (struct sleeper){ .index = index, .by_pfn = by_pfn };
	cr_assert_eq(pthread_create(&s->th, NULL, sleeper_fn, s), 0);
}

Test(change, entry_split_while_a_waiter_sleeps, .init = setup,
     .fini = teardown, .timeout = 30)
{
	struct dax_locked_entry le;
	struct sleeper s;
	uint64_t base = sleeps();

	install(m, 512, 9, 1024);
	cr_assert_eq(dax_entry_lock(m, 512, &le), 1);
	dax_mapping_set_spin(m, 0);
	start_sleeper(&s, 700, false);
	wait_sleepers(base, 1);
	/* Keep 512 locked, free the rest: the sleeper must get 700 alone. */
	cr_assert_eq(dax_entry_split(m, &le, 0, 512), 0);
	pthread_join(s.th, NULL);
	cr_assert_eq(s.ret, 0);
	cr_assert_neq(s.cookie, 0);
	cr_assert(locked_at(700));
	cr_assert(!locked_at(701));
	cr_assert(locked_at(512));
	cr_assert_eq(dax_unlock(m, s.cookie), 0, "%s", dax_errormsg());
	cr_assert(!locked_at(700));
	cr_assert(locked_at(512), "the other lock is untouched");
	dax_entry_put(m, &le);
}

Test(change, entry_erased_while_a_waiter_sleeps, .init = setup,
     .fini = teardown, .timeout = 30)
{
	struct dax_locked_entry le;
	struct sleeper s[3];
	uint64_t base = sleeps();

	install(m, 512, 9, 1024);
	cr_assert_eq(dax_entry_lock(m, 512, &le), 1);
	dax_mapping_set_spin(m, 0);
	start_sleeper(&s[0], 700, false);
	start_sleeper(&s[1], 512, false);
	start_sleeper(&s[2], 1024 + 3, true);
	wait_sleepers(base, 3);
	dax_entry_erase(m, &le);
	for (int i = 0; i < 3; i++) {
		pthread_join(s[i].th, NULL);
		cr_assert_eq(s[i].ret, 0);
		cr_assert_eq(s[i].cookie, 0, "sleeper %d locked a ghost", i);
	}
}

Test(change, entry_replaced_while_a_pfn_locker_sleeps, .init = setup,
     .fini = teardown, .timeout = 30)
{
	struct dax_locked_entry le;
	struct sleeper s;
	uint64_t base = sleeps();

	install(m, 512, 9, 1024);
	cr_assert_eq(dax_entry_lock(m, 512, &le), 1);
	dax_mapping_set_spin(m, 0);
	start_sleeper(&s, 1024 + 5, true);
	wait_sleepers(base, 1);
	/* The pages move: the old pfn has no owner when the sleeper wakes. */
	cr_assert_eq(dax_entry_replace(m, &le, 4096, 0), 0);
	dax_entry_put(m, &le);
	pthread_join(s.th, NULL);
	cr_assert_eq(s.cookie, 0);
	cr_assert(!locked_at(512));
}

/* ---- lock by pfn ---------------------------------------------------------------- */

Test(pfn, lock_in_the_middle_of_a_2mib_entry, .init = setup,
     .fini = teardown)
{
	dax_cookie_t c, c2;

	install(m, 512, 9, 2048);
	cr_assert_eq(dax_rmap_lock_pfn(rmap, 2048 + 300, &c), 0);
	cr_assert_neq(c, 0);
	cr_assert(locked_at(512));
	cr_assert(locked_at(1023));
	/* the same entry through its index is busy now */
	cr_assert_eq(dax_rmap_unlock_pfn(rmap, c), 0, "%s", dax_errormsg());
	cr_assert(!locked_at(512));
	cr_assert_eq(dax_lock_index(m, 812, &c2), 0);
	cr_assert_neq(c2, 0);
	cr_assert_eq(dax_unlock(m, c2), 0);
	/* unowned pages and holes */
	cr_assert_eq(dax_rmap_lock_pfn(rmap, 2048 + 512, &c), 0);
	cr_assert_eq(c, 0);
	install(m, 5000, 0, 0);
	cr_assert_eq(dax_rmap_lock_pfn(rmap, 0, &c), 0);
	cr_assert_eq(c, 0);
}

Test(pfn, mapping_destroyed_while_a_pfn_locker_sleeps, .init = setup,
     .fini = teardown, .timeout = 30)
{
	struct dax_mapping *victim;
	struct sleeper s[2];
	dax_cookie_t c;
	uint64_t base;

	cr_assert_eq(dax_mapping_new_rmap(rmap, NULL, &no_ops, NULL, 1 << 30,
					  &victim), 0);
	install(victim, 512, 9, 8192);
	dax_mapping_set_spin(victim, 0);
	cr_assert_eq(dax_lock_index(victim, 513, &c), 0);
	{
		struct dax_waitq_stats st;

		dax_waitq_get_stats(victim->wq, &st);
		base = st.sleeps;
	}
	start_sleeper(&s[0], 8192 + 100, true);
	start_sleeper(&s[1], 8192 + 511, true);
	for (int i = 0; i < 20000; i++) {
		struct dax_waitq_stats st;

		dax_waitq_get_stats(victim->wq, &st);
		if (st.sleeps >= base + 2)
			break;
		usleep(100);
	}
	usleep(2000);
	/* The owner kills it, drops its lock and its reference: the
	 * sleepers hold the last references and must see it dead. */
	cr_assert_eq(dax_mapping_kill(victim), 0);
	cr_assert_eq(dax_unlock(victim, c), 0);
	dax_mapping_put(&victim);
	for (int i = 0; i < 2; i++) {
		pthread_join(s[i].th, NULL);
		cr_assert_eq(s[i].ret, 0);
		cr_assert_eq(s[i].cookie, 0);
	}
	dax_rcu_barrier();	/* ASan: the free really happened */
	cr_assert_eq(dax_rmap_lock_pfn(rmap, 8192 + 100, &c), 0);
	cr_assert_eq(c, 0, "the dead mapping's pages have no owner");
}

Test(pfn, mapping_put_while_a_pfn_lock_is_held, .init = setup,
     .fini = teardown)
{
	struct dax_mapping *victim;
	dax_cookie_t c;

	cr_assert_eq(dax_mapping_new_rmap(rmap, NULL, &no_ops, NULL, 1 << 30,
					  &victim), 0);
	install(victim, 0, 0, 77);
	cr_assert_eq(dax_rmap_lock_pfn(rmap, 77, &c), 0);
	cr_assert_neq(c, 0);
	dax_mapping_put(&victim);	/* the lock's reference keeps it */
	cr_assert_eq(dax_rmap_unlock_pfn(rmap, c), 0, "%s", dax_errormsg());
	dax_rcu_barrier();
	cr_assert_eq(dax_rmap_lock_pfn(rmap, 77, &c), 0);
	cr_assert_eq(c, 0);
}

/* ---- ranges ---------------------------------------------------------------------- */

Test(range, locks_every_entry_overlapping_and_unlocks_them_all,
     .init = setup, .fini = teardown)
{
	dax_cookie_t r, c;

	install(m, 0, 9, 512);		/* straddles the start */
	install(m, 600, 0, 2);
	install(m, 601, 0, 3);
	install(m, 1024, 9, 0);		/* straddles the end */
	install(m, 4096, 0, 5);		/* outside */
	cr_assert_eq(dax_lock_range(m, 100, 1100, &r), 0);
	cr_assert_neq(r, 0);
	cr_assert(locked_at(0) && locked_at(600) && locked_at(601) &&
		  locked_at(1024));
	cr_assert(!locked_at(4096));
	cr_assert_eq(dax_lock_index(m, 4096, &c), 0);
	cr_assert_eq(dax_unlock(m, c), 0);
	cr_assert_eq(dax_unlock(m, r), 0, "%s", dax_errormsg());
	cr_assert(!locked_at(0) && !locked_at(600) && !locked_at(601) &&
		  !locked_at(1024));
	cr_assert_eq(dax_lock_range(m, 2000, 3000, &r), 0);
	cr_assert_eq(r, 0, "a range without entries locks nothing");
}

struct racer {
	int id;
	_Atomic int *owner;	/* per index 0..1023 */
	_Atomic int stop;
	_Atomic long done;
	_Atomic int bad;
	unsigned seed;
};

static bool claim(struct racer *r, uint64_t first, uint64_t n)
{
	bool ok = true;

	for (uint64_t i = first; i < first + n; i++) {
		int prev = 0;

		if (!atomic_compare_exchange_strong(&r->owner[i], &prev,
						    r->id))
			ok = false;
	}
	return ok;
}

static void release(struct racer *r, uint64_t first, uint64_t n)
{
	for (uint64_t i = first; i < first + n; i++) {
		int me = r->id;

		atomic_compare_exchange_strong(&r->owner[i], &me, 0);
	}
}

static void *range_racer(void *arg)
{
	struct racer *r = arg;
	dax_cookie_t c;

	while (!atomic_load(&r->stop)) {
		uint64_t a = rand_r(&r->seed) % 1024, b = rand_r(&r->seed) % 1024;
		uint64_t lo = a < b ? a : b, hi = a < b ? b : a;

		if (dax_lock_range(m, lo, hi, &c) || !c) {
			atomic_fetch_add(&r->bad, 1);
			continue;
		}
		/* entries are 64 pages here: claim what the range covers */
		if (!claim(r, lo & ~63ULL, (hi | 63) + 1 - (lo & ~63ULL)))
			atomic_fetch_add(&r->bad, 1);
		release(r, lo & ~63ULL, (hi | 63) + 1 - (lo & ~63ULL));
		if (dax_unlock(m, c))
			atomic_fetch_add(&r->bad, 1);
		atomic_fetch_add(&r->done, 1);
	}
	return NULL;
}

static void *single_racer(void *arg)
{
	struct racer *r = arg;
	dax_cookie_t c;

	while (!atomic_load(&r->stop)) {
		uint64_t i = rand_r(&r->seed) % 1024;

		if (dax_lock_index(m, i, &c) || !c) {
			atomic_fetch_add(&r->bad, 1);
			continue;
		}
		if (!claim(r, i & ~63ULL, 64))
			atomic_fetch_add(&r->bad, 1);
		release(r, i & ~63ULL, 64);
		if (dax_unlock(m, c))
			atomic_fetch_add(&r->bad, 1);
		atomic_fetch_add(&r->done, 1);
	}
	return NULL;
}

Test(range, range_locks_race_single_locks_without_deadlock, .init = setup,
     .fini = teardown, .timeout = 60)
{
	static _Atomic int owner[1024];
	struct racer r[6];
	pthread_t th[6];

	for (uint64_t i = 0; i < 1024; i += 64)
		install(m, i, 6, i + 64);
	for (int i = 0; i < 6; i++) {
		r[i] = (struct racer){ .id = i + 1, .owner = owner,
				       .seed = 77u * (unsigned)i + 1 };
		cr_assert_eq(pthread_create(&th[i], NULL,
					    i < 3 ? range_racer : single_racer,
					    &r[i]), 0);
	}
	usleep(500000);
	for (int i = 0; i < 6; i++)
		atomic_store(&r[i].stop, 1);
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(atomic_load(&r[i].bad), 0, "racer %d", i);
		cr_assert_gt(atomic_load(&r[i].done), 0, "racer %d starved", i);
	}
	for (uint64_t i = 0; i < 1024; i += 64)
		cr_assert(!locked_at(i));
}

Test(lock, unlock_after_the_holder_replaced_the_entry, .init = setup,
     .fini = teardown)
{
	struct dax_locked_entry le;

	install(m, 512, 9, 0);
	cr_assert_eq(dax_entry_lock(m, 600, &le), 1);
	/* the holder turns the hole into pages; the cookie stays valid */
	cr_assert_eq(dax_entry_replace(m, &le, 1536, 0), 0);
	cr_assert_eq(dax_unlock(m, dax_entry_cookie(m, &le)), 0, "%s",
		     dax_errormsg());
	cr_assert(!locked_at(512));
	cr_assert_eq(dax_entry_pfn(dax_tree_load(m->tree, 512)), 1536);
}

Test(lock, unlock_from_another_thread, .init = setup, .fini = teardown)
{
	struct sleeper s = { 0 };
	dax_cookie_t c;

	install(m, 3, 0, 3);
	cr_assert_eq(dax_lock_index(m, 3, &c), 0);
	s.index = 3;
	s.cookie = c;
	cr_assert_eq(pthread_create(&s.th, NULL, unlocker_fn, &s), 0);
	pthread_join(s.th, NULL);
	cr_assert_eq(s.ret, 0);
	cr_assert(!locked_at(3));
}

static uint64_t wakes(void)
{
	struct dax_waitq_stats st;

	dax_waitq_get_stats(m->wq, &st);
	return st.wakes;
}

Test(wakeup, an_unlock_wakes_exactly_one_waiter, .init = setup,
     .fini = teardown)
{
	struct sleeper s[4];
	dax_cookie_t c;
	uint64_t base = sleeps(), w0;
	int done;

	install(m, 512, 9, 512);
	dax_mapping_set_spin(m, 0);
	cr_assert_eq(dax_lock_index(m, 512, &c), 0);
	for (int i = 0; i < 4; i++)
		start_sleeper(&s[i], 512 + 100 * i, false);
	wait_sleepers(base, 4);
	for (int round = 0; round < 4; round++) {
		w0 = wakes();
		cr_assert_eq(dax_unlock(m, c), 0, "%s", dax_errormsg());
		/* exactly one sleeper takes it; the others sleep on */
		c = 0;
		for (int t = 0; t < 20000 && !c; t++) {
			for (int i = 0; i < 4; i++)
				if (atomic_load(&s[i].finished) &&
				    s[i].ret == 0) {
					pthread_join(s[i].th, NULL);
					c = s[i].cookie;
					s[i].ret = 1;	/* taken */
				}
			if (!c)
				usleep(100);
		}
		cr_assert_neq(c, 0, "nobody got the lock");
		usleep(5000);
		cr_assert_eq(wakes() - w0, 1, "round %d woke %llu", round,
			     (unsigned long long)(wakes() - w0));
		done = 0;
		for (int i = 0; i < 4; i++)
			done += s[i].ret == 1;
		cr_assert_eq(done, round + 1);
	}
	cr_assert_eq(dax_unlock(m, c), 0);
}
