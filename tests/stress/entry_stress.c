// SPDX-License-Identifier: MIT
/*
 * Concurrency stress for the entry locks (libdax/entry.c, waitq.c, rmap.c,
 * mapping.c): many threads lock and unlock entries by index, by range and
 * by pfn while others split, erase, replace and re-create them, and while
 * whole mappings are killed and freed under dax_lock_pfn() callers.
 *
 * Invariants:
 * - mutual exclusion: every holder claims the pages its entry covers in a
 *   per-page owner array; a claim that finds another owner is a violation;
 * - every cookie handed out unlocks with 0, and nothing is left locked;
 * - no lost wake-up: a watchdog fails the scenario when no thread made
 *   progress for WATCHDOG_SECONDS, and then kills the mapping so that the
 *   stuck waiters return (cookie 0) instead of hanging the run;
 * - no use after free: the mapping-death scenario frees mappings while
 *   dax_lock_pfn() callers sleep on them (ASan / TSan runs check it).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

/*
 * Beside liburcu (stress.h): tree.c's RCU callback tree_delete_cb() is
 * reported against the tree's allocation when a mapping is dropped by a
 * thread that reached it only through an RCU lookup: liburcu's
 * rcu_dereference() is a consume load, which orders the accesses but is no
 * acquire in TSan's eyes.
 */
#define STRESS_TSAN_EXTRA "race:tree_delete_cb\n"
#include "stress.h"
#include "libdax/internal.h"

#define NR_PAGES (UINT64_C(1) << 16)
#define SPAN 4096		/* indices used: 0..SPAN-1 */
#define WATCHDOG_SECONDS 10.0

static const struct dax_mapping_ops no_ops;
static struct dax_rmap *rmap;
static struct dax_mapping *m;
static _Atomic int owner[SPAN];
static atomic_bool stop, watchdog_stop;
static atomic_int violations;
static _Atomic unsigned long progress;

#define violation(...)                                                         \
	do {                                                                   \
		if (atomic_fetch_add(&violations, 1) < 5) {                    \
			fprintf(stderr, "violation: " __VA_ARGS__);            \
			fprintf(stderr, " (%s)\n", dax_errormsg());            \
		}                                                              \
	} while (0)

static void world_new(unsigned buckets, unsigned spins)
{
	if (dax_rmap_new(NR_PAGES, buckets, &rmap) ||
	    dax_mapping_new_rmap(rmap, NULL, &no_ops, NULL,
				 (uint64_t)SPAN << 12, &m)) {
		fprintf(stderr, "setup: %s\n", dax_errormsg());
		exit(1);
	}
	dax_mapping_set_spin(m, spins);
	atomic_store(&stop, false);
	atomic_store(&violations, 0);
	memset(owner, 0, sizeof(owner));
}

static void world_delete(void)
{
	dax_mapping_put(&m);
	dax_rmap_put(rmap);
	rmap = NULL;
	dax_rcu_barrier();
}

/* A real entry at @index of @order; its pages are its indices + SPAN. */
static bool install(struct dax_mapping *map, uint64_t index, unsigned order)
{
	struct dax_locked_entry le;

	if (dax_entry_grab(map, index, order, &le))
		return false;
	if (dax_entry_is_empty(le.entry) &&
	    dax_entry_replace(map, &le, le.first + SPAN, 0))
		violation("replace at %llu", (unsigned long long)index);
	dax_entry_put(map, &le);
	return true;
}

/* Claim / release the pages of the held entry covering @index. */
static void claim(int me, uint64_t index, uint64_t *first, uint64_t *n)
{
	unsigned order;

	if (!dax_tree_load_covering(m->tree, index, first, &order)) {
		violation("held entry at %llu vanished",
			  (unsigned long long)index);
		*n = 0;
		return;
	}
	*n = UINT64_C(1) << order;
	for (uint64_t i = *first; i < *first + *n && i < SPAN; i++) {
		int prev = 0;

		if (!atomic_compare_exchange_strong(&owner[i], &prev, me))
			violation("page %llu held by %d and %d",
				  (unsigned long long)i, prev, me);
	}
}

static void release(int me, uint64_t first, uint64_t n)
{
	for (uint64_t i = first; i < first + n && i < SPAN; i++) {
		int cur = me;

		atomic_compare_exchange_strong(&owner[i], &cur, 0);
	}
}

/* Fails the scenario and frees stuck waiters when progress stops. */
static void *watchdog(void *arg)
{
	unsigned long last = atomic_load(&progress);
	double since = stress_now();

	/* Until every worker was joined: a lost wake-up may also strand a
	 * worker after the run's end. */
	while (!atomic_load(&watchdog_stop)) {
		usleep(20000);
		if (atomic_load(&progress) != last) {
			last = atomic_load(&progress);
			since = stress_now();
		} else if (stress_now() - since > WATCHDOG_SECONDS) {
			violation("no progress for %.0f s: lost wake-up?",
				  WATCHDOG_SECONDS);
			atomic_store(&stop, true);
			dax_mapping_kill(m);
			since = stress_now();
		}
	}
	return NULL;
}

static bool run_threads(int n, void *(*fn)(void *), pthread_t *extra,
			void *(*extra_fn)(void *))
{
	pthread_t th[16], wd;
	double end = stress_now() + stress_seconds();
	unsigned long before = atomic_load(&progress);
	struct dax_waitq_stats st0, st1;

	atomic_store(&watchdog_stop, false);
	dax_waitq_get_stats(m->wq, &st0);
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, fn, (void *)(intptr_t)(i + 1));
	if (extra)
		pthread_create(extra, NULL, extra_fn, NULL);
	pthread_create(&wd, NULL, watchdog, NULL);
	while (stress_now() < end && !atomic_load(&stop))
		usleep(10000);
	atomic_store(&stop, true);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	if (extra)
		pthread_join(*extra, NULL);
	atomic_store(&watchdog_stop, true);
	pthread_join(wd, NULL);
	dax_waitq_get_stats(m->wq, &st1);
	printf("     %lu operations, %llu sleeps, %llu wake-ups\n",
	       atomic_load(&progress) - before,
	       (unsigned long long)(st1.sleeps - st0.sleeps),
	       (unsigned long long)(st1.wakes - st0.wakes));
	return true;
}

static bool nothing_locked(void)
{
	uint64_t first, v;
	unsigned order;

	dax_tree_for_each(m->tree, first, order, v, 0, UINT64_MAX,
			  DAX_TREE_PRESENT)
		if (dax_entry_is_locked(v))
			return false;
	return true;
}

/* ---- scenario: hammer a few entries through random indices ---------------- */

static unsigned nr_hot;	/* entries 0, 512, 1024, ... of order 9 */

static void *hot_locker(void *arg)
{
	int me = (int)(intptr_t)arg;
	unsigned seed = (unsigned)me * 7919u;

	while (!atomic_load(&stop)) {
		uint64_t index = (rand_r(&seed) % nr_hot) * 512 +
				 rand_r(&seed) % 512, first, n;
		dax_cookie_t c;

		if (dax_lock_index(m, index, &c)) {
			violation("lock_index failed");
			continue;
		}
		if (!c) {
			if (!atomic_load(&stop))
				violation("cookie 0 on a live entry");
			continue;
		}
		claim(me, index, &first, &n);
		if (first != (index & ~511ULL))
			violation("index %llu locked the entry at %llu",
				  (unsigned long long)index,
				  (unsigned long long)first);
		if (rand_r(&seed) % 4 == 0)
			sched_yield();
		release(me, first, n);
		if (dax_unlock(m, c))
			violation("unlock");
		atomic_fetch_add(&progress, 1);
	}
	return NULL;
}

static bool hot_scenario(unsigned buckets, unsigned entries, unsigned spins,
			 int threads)
{
	world_new(buckets, spins);
	nr_hot = entries;
	for (unsigned i = 0; i < entries; i++)
		install(m, i * 512, 9);
	run_threads(threads, hot_locker, NULL, NULL);
	stress_check(atomic_load(&violations) == 0, "%d violations",
		     atomic_load(&violations));
	stress_check(nothing_locked(), "an entry stayed locked");
	world_delete();
	return true;
}

static bool one_entry_many_waiters(void)
{
	return hot_scenario(DAX_WAITQ_DEFAULT_BUCKETS, 1, 0, 12);
}

static bool one_entry_spinning(void)
{
	return hot_scenario(DAX_WAITQ_DEFAULT_BUCKETS, 1, 200, 6);
}

static bool colliding_buckets(void)
{
	return hot_scenario(1, 4, 0, 10);
}

/* ---- scenario: ranges, singles, pfns, and a writer that reshapes ------------ */

static void *single_locker(void *arg)
{
	int me = (int)(intptr_t)arg;
	unsigned seed = (unsigned)me * 31337u;

	while (!atomic_load(&stop)) {
		uint64_t index = rand_r(&seed) % SPAN, first, n;
		bool by_pfn = rand_r(&seed) % 3 == 0;
		dax_cookie_t c;
		int ret;

		ret = by_pfn ? dax_rmap_lock_pfn(rmap, index + SPAN, &c)
			     : dax_lock_index(m, index, &c);
		if (ret)
			violation("lock");
		atomic_fetch_add(&progress, 1);
		if (!c)
			continue;	/* a hole */
		claim(me, index, &first, &n);
		release(me, first, n);
		ret = by_pfn ? dax_rmap_unlock_pfn(rmap, c) : dax_unlock(m, c);
		if (ret)
			violation("unlock");
	}
	return NULL;
}

static void *range_locker(void *arg)
{
	int me = (int)(intptr_t)arg;
	unsigned seed = (unsigned)me * 7u + 3;

	while (!atomic_load(&stop)) {
		uint64_t a = rand_r(&seed) % SPAN, len = rand_r(&seed) % 1500;
		uint64_t last = a + len < SPAN ? a + len : SPAN - 1, first, n;
		static __thread uint64_t claimed[SPAN][2];
		static __thread dax_cookie_t held[SPAN];
		uint64_t nc = 0, nh = 0, idx;
		dax_cookie_t c;

		if (dax_lock_range(m, a, last, &c))
			violation("lock_range");
		atomic_fetch_add(&progress, 1);
		if (!c)
			continue;
		/* exactly the entries the range cookie holds are ours */
		if (dax_range_cookie_entries(m, c, held, SPAN, &nh))
			violation("range cookie not held");
		for (uint64_t i = 0; i < nh && i < SPAN; i++) {
			idx = dax_cookie_index(held[i]);
			if (idx + (UINT64_C(1) << 9) <= a || idx > last)
				violation("range %llu..%llu locked %llu",
					  (unsigned long long)a,
					  (unsigned long long)last,
					  (unsigned long long)idx);
			claim(me, idx, &first, &n);
			claimed[nc][0] = first;
			claimed[nc++][1] = n;
		}
		for (uint64_t i = 0; i < nc; i++)
			release(me, claimed[i][0], claimed[i][1]);
		if (dax_unlock(m, c))
			violation("range unlock");
	}
	return NULL;
}

/* Re-shapes entries under the lockers: split, erase, re-create. */
static void *reshaper(void *arg)
{
	unsigned seed = 4242;
	struct dax_locked_entry le;

	while (!atomic_load(&stop)) {
		uint64_t index = rand_r(&seed) % SPAN;

		switch (rand_r(&seed) % 4) {
		case 0: /* (re)create a 2 MiB or 4 KiB entry */
			install(m, index, rand_r(&seed) % 2 ? 9 : 0);
			break;
		case 1: /* split, keeping one piece */
			if (dax_entry_lock(m, index, &le) == 1) {
				uint64_t first, n;

				claim(-1, index, &first, &n);
				release(-1, first, n);
				if (dax_entry_order(le.entry) > 0 &&
				    dax_entry_split(m, &le, 0, index))
					violation("split");
				dax_entry_put(m, &le);
			}
			break;
		default: /* erase */
			if (dax_entry_lock(m, index, &le) == 1) {
				uint64_t first, n;

				claim(-1, index, &first, &n);
				release(-1, first, n);
				dax_entry_erase(m, &le);
			}
			break;
		}
		atomic_fetch_add(&progress, 1);
	}
	return NULL;
}

static void *mixed_locker(void *arg)
{
	int me = (int)(intptr_t)arg;

	return me % 3 == 0 ? range_locker(arg) : single_locker(arg);
}

static bool ranges_singles_pfns_and_reshaping(void)
{
	pthread_t rs;

	world_new(64, 50);
	for (uint64_t i = 0; i < SPAN; i += 512)
		install(m, i, 9);
	run_threads(6, mixed_locker, &rs, reshaper);
	stress_check(atomic_load(&violations) == 0, "%d violations",
		     atomic_load(&violations));
	stress_check(nothing_locked(), "an entry stayed locked");
	world_delete();
	return true;
}

/* ---- scenario: mappings die under dax_lock_pfn() callers ----------------------- */

#define VICTIM_SLOTS 8

static void *pfn_locker(void *arg)
{
	unsigned seed = (unsigned)(intptr_t)arg * 97u;

	while (!atomic_load(&stop)) {
		uint64_t pfn = SPAN + rand_r(&seed) % (VICTIM_SLOTS * 1024);
		dax_cookie_t c;

		if (dax_rmap_lock_pfn(rmap, pfn, &c))
			violation("lock_pfn");
		if (c && dax_rmap_unlock_pfn(rmap, c))
			violation("unlock_pfn");
		atomic_fetch_add(&progress, 1);
	}
	return NULL;
}

/* A 2 MiB entry at @index on pages @pfn..: a victim of an earlier round
 * still held by a sleeper may own them yet, which is not a violation. */
static void victim_install(struct dax_mapping *v, uint64_t index,
			   uint64_t pfn)
{
	struct dax_locked_entry le;

	if (dax_entry_grab(v, index, 9, &le)) {
		violation("victim grab");
		return;
	}
	dax_entry_replace(v, &le, pfn, 0);
	dax_entry_put(v, &le);
}

static void *killer(void *arg)
{
	for (unsigned round = 0; !atomic_load(&stop); round++) {
		uint64_t pfn = SPAN + (round % VICTIM_SLOTS) * 1024;
		struct dax_mapping *v;
		dax_cookie_t c;

		if (dax_mapping_new_rmap(rmap, NULL, &no_ops, NULL, 1 << 30,
					 &v)) {
			violation("new mapping");
			break;
		}
		dax_mapping_set_spin(v, 0);
		victim_install(v, 0, pfn);
		victim_install(v, 512, pfn + 512);
		if (dax_lock_index(v, 3, &c))
			violation("victim lock");
		usleep(300);		/* let pfn lockers sleep on it */
		dax_mapping_kill(v);
		if (c && dax_unlock(v, c))
			violation("victim unlock");
		dax_mapping_put(&v);	/* sleepers may hold the last refs */
		atomic_fetch_add(&progress, 1);
	}
	return NULL;
}

static bool mappings_die_under_pfn_lockers(void)
{
	pthread_t k;

	world_new(DAX_WAITQ_DEFAULT_BUCKETS, 0);
	run_threads(6, pfn_locker, &k, killer);
	stress_check(atomic_load(&violations) == 0, "%d violations",
		     atomic_load(&violations));
	world_delete();
	return true;
}

int main(void)
{
	stress_run(one_entry_many_waiters);
	stress_run(one_entry_spinning);
	stress_run(colliding_buckets);
	stress_run(ranges_singles_pfns_and_reshaping);
	stress_run(mappings_die_under_pfn_lockers);
	return stress_report();
}
