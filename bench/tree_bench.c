// SPDX-License-Identifier: MIT
/*
 * The entry tree (dax_tree_*) against its peers, built and run side by side
 * in one process: JudyL, JudyL behind a pthread rwlock, and liburcu's
 * cds_lfht (urcu-bp flavor, which, like libdax, needs no registration;
 * pre-sized, so it never resizes during the run).  All of them allocate
 * through the same malloc (jemalloc, which libdax links), and memory is the
 * growth of jemalloc's "stats.allocated" while a structure is built.
 *
 * Key sets: dense (0..N-1) and sparse (one random key in every block of 8,
 * so N keys over 8N indices), N = 1M and 16M.  Times are ns per operation,
 * the best of several runs (the machine's 2 CPUs are shared), and ratios
 * are tree time / peer time (below 1: the tree is faster), or, for the
 * threaded runs, tree throughput / peer throughput.  The goals of issue 4
 * are checked at the end, each also printed as a ratio line (bench/bench.h)
 * for `make bench`'s report.
 *
 * Run: tree_bench [--quick]   (or DAX_BENCH_QUICK=1): 1M dense and 256K
 * sparse keys only, one run each, no JudyL+rwlock single-thread rows,
 * threaded runs of 0.2 s on the dense set only: about 10 s of CPU (a full
 * run takes 50 minutes on a loaded 2-CPU machine).
 */
#define _LGPL_SOURCE
#include <Judy.h>
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu-bp.h>
#include <urcu/rculfhash.h>

#include "bench/bench.h"
#include "libdax.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* libdax internal (libdax/internal.h, reachable: this links libdax.a); the
 * tree returns its nodes to malloc only after a grace period. */
void dax_rcu_barrier(void);

static bool quick;
static int reps;
static double thread_secs;

/* Single-thread rows: bench_cpu_now(); threaded rows: wall clock. */

static uint64_t rnd_state = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void shuffle(uint64_t *a, size_t n)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rnd() % (i + 1);
		uint64_t t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

static uint64_t heap_allocated(void)
{
	uint64_t epoch = 1, allocated = 0;
	size_t sz = sizeof(epoch);

	mallctl("epoch", &epoch, &sz, &epoch, sz);
	sz = sizeof(allocated);
	if (mallctl("stats.allocated", &allocated, &sz, NULL, 0))
		return 0;
	return allocated;
}

static volatile uint64_t sink;

/* ---- the structures ----------------------------------------------------------- */

/* the tree */
ALWAYS_INLINE void *tree_create(uint64_t n)
{
	struct dax_tree *t;

	if (dax_tree_new(&t))
		abort();
	return t;
}

ALWAYS_INLINE void tree_destroy(void *d)
{
	struct dax_tree *t = d;

	dax_tree_delete(&t);
}

ALWAYS_INLINE void tree_insert(void *d, uint64_t k, uint64_t v)
{
	if (dax_tree_insert(d, k, 0, v))
		abort();
}

ALWAYS_INLINE uint64_t tree_load(void *d, uint64_t k)
{
	return dax_tree_load(d, k);
}

ALWAYS_INLINE void tree_update(void *d, uint64_t k, uint64_t v)
{
	dax_tree_store(d, k, 0, v, 0, NULL);
}

ALWAYS_INLINE void tree_erase(void *d, uint64_t k)
{
	dax_tree_erase(d, k);
}

static int tree_iter_cb(void *priv, uint64_t first, unsigned order,
			uint64_t value)
{
	*(uint64_t *)priv += value;
	return 0;
}

ALWAYS_INLINE uint64_t tree_iterate(void *d)
{
	uint64_t sum = 0;

	dax_tree_walk(d, 0, ~0ULL, DAX_TREE_PRESENT, tree_iter_cb, &sum);
	return sum;
}

/* JudyL, alone (single-threaded use) */
struct judy {
	Pvoid_t a;
	pthread_rwlock_t lock;
};

ALWAYS_INLINE void *judy_create(uint64_t n)
{
	struct judy *j = calloc(1, sizeof(*j));

	pthread_rwlock_init(&j->lock, NULL);
	return j;
}

ALWAYS_INLINE void judy_destroy(void *d)
{
	struct judy *j = d;

	JudyLFreeArray(&j->a, PJE0);
	pthread_rwlock_destroy(&j->lock);
	free(j);
}

ALWAYS_INLINE void judy_insert(void *d, uint64_t k, uint64_t v)
{
	struct judy *j = d;
	PPvoid_t p = JudyLIns(&j->a, k, PJE0);

	*(Word_t *)p = v;
}

ALWAYS_INLINE uint64_t judy_load(void *d, uint64_t k)
{
	struct judy *j = d;
	PPvoid_t p = JudyLGet(j->a, k, PJE0);

	return p ? *(Word_t *)p : 0;
}

ALWAYS_INLINE void judy_update(void *d, uint64_t k, uint64_t v)
{
	judy_insert(d, k, v);
}

ALWAYS_INLINE void judy_erase(void *d, uint64_t k)
{
	struct judy *j = d;

	JudyLDel(&j->a, k, PJE0);
}

ALWAYS_INLINE uint64_t judy_iterate(void *d)
{
	struct judy *j = d;
	Word_t idx = 0;
	uint64_t sum = 0;
	PPvoid_t p;

	for (p = JudyLFirst(j->a, &idx, PJE0); p;
	     p = JudyLNext(j->a, &idx, PJE0))
		sum += *(Word_t *)p;
	return sum;
}

/* JudyL behind a pthread rwlock (glibc's default: readers preferred) */
ALWAYS_INLINE void *jrw_create(uint64_t n)
{
	return judy_create(n);
}

ALWAYS_INLINE void jrw_destroy(void *d)
{
	judy_destroy(d);
}

ALWAYS_INLINE void jrw_insert(void *d, uint64_t k, uint64_t v)
{
	struct judy *j = d;

	pthread_rwlock_wrlock(&j->lock);
	judy_insert(d, k, v);
	pthread_rwlock_unlock(&j->lock);
}

ALWAYS_INLINE uint64_t jrw_load(void *d, uint64_t k)
{
	struct judy *j = d;
	uint64_t v;

	pthread_rwlock_rdlock(&j->lock);
	v = judy_load(d, k);
	pthread_rwlock_unlock(&j->lock);
	return v;
}

ALWAYS_INLINE void jrw_update(void *d, uint64_t k, uint64_t v)
{
	jrw_insert(d, k, v);
}

ALWAYS_INLINE void jrw_erase(void *d, uint64_t k)
{
	struct judy *j = d;

	pthread_rwlock_wrlock(&j->lock);
	judy_erase(d, k);
	pthread_rwlock_unlock(&j->lock);
}

ALWAYS_INLINE uint64_t jrw_iterate(void *d)
{
	struct judy *j = d;
	uint64_t sum;

	pthread_rwlock_rdlock(&j->lock);
	sum = judy_iterate(d);
	pthread_rwlock_unlock(&j->lock);
	return sum;
}

/* cds_lfht */
struct hnode {
	struct cds_lfht_node node;
	uint64_t key, value;
	struct rcu_head rcu;
};

static inline unsigned long hash64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

static int hmatch(struct cds_lfht_node *n, const void *key)
{
	return caa_container_of(n, struct hnode, node)->key ==
	       *(const uint64_t *)key;
}

static void hfree(struct rcu_head *h)
{
	free(caa_container_of(h, struct hnode, rcu));
}

ALWAYS_INLINE void *lfht_create(uint64_t n)
{
	unsigned long size = 1;

	while (size < n)
		size <<= 1;
	return cds_lfht_new(size, size, 0,
			    CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
}

ALWAYS_INLINE void lfht_destroy(void *d)
{
	struct cds_lfht_iter it;
	struct hnode *h;

	rcu_read_lock();
	cds_lfht_for_each_entry(d, &it, h, node) {
		cds_lfht_del(d, &h->node);
		call_rcu(&h->rcu, hfree);
	}
	rcu_read_unlock();
	rcu_barrier();
	cds_lfht_destroy(d, NULL);
}

ALWAYS_INLINE void lfht_insert(void *d, uint64_t k, uint64_t v)
{
	struct hnode *h = malloc(sizeof(*h));

	h->key = k;
	h->value = v;
	cds_lfht_node_init(&h->node);
	rcu_read_lock();
	if (cds_lfht_add_unique(d, hash64(k), hmatch, &k, &h->node) !=
	    &h->node)
		abort();
	rcu_read_unlock();
}

ALWAYS_INLINE uint64_t lfht_load(void *d, uint64_t k)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;
	uint64_t v = 0;

	rcu_read_lock();
	cds_lfht_lookup(d, hash64(k), hmatch, &k, &it);
	n = cds_lfht_iter_get_node(&it);
	if (n)
		v = CMM_LOAD_SHARED(caa_container_of(n, struct hnode,
						     node)->value);
	rcu_read_unlock();
	return v;
}

/* An update replaces the node (values are immutable to readers). */
ALWAYS_INLINE void lfht_update(void *d, uint64_t k, uint64_t v)
{
	struct hnode *h = malloc(sizeof(*h));
	struct cds_lfht_node *old;

	h->key = k;
	h->value = v;
	cds_lfht_node_init(&h->node);
	rcu_read_lock();
	old = cds_lfht_add_replace(d, hash64(k), hmatch, &k, &h->node);
	rcu_read_unlock();
	if (old)
		call_rcu(&caa_container_of(old, struct hnode, node)->rcu,
			 hfree);
}

ALWAYS_INLINE void lfht_erase(void *d, uint64_t k)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	rcu_read_lock();
	cds_lfht_lookup(d, hash64(k), hmatch, &k, &it);
	n = cds_lfht_iter_get_node(&it);
	if (n && !cds_lfht_del(d, n))
		call_rcu(&caa_container_of(n, struct hnode, node)->rcu,
			 hfree);
	rcu_read_unlock();
}

ALWAYS_INLINE uint64_t lfht_iterate(void *d)
{
	struct cds_lfht_iter it;
	struct hnode *h;
	uint64_t sum = 0;

	rcu_read_lock();
	cds_lfht_for_each_entry(d, &it, h, node)
		sum += h->value;
	rcu_read_unlock();
	return sum;
}

/* ---- single-thread measurements -------------------------------------------- */

enum ds_id { DS_TREE, DS_JUDY, DS_JRW, DS_LFHT, NR_DS };

enum metric {
	M_INSERT, M_LOAD_RND, M_LOAD_SEQ, M_STORE, M_ITER, M_ERASE, M_MEM,
	NR_METRICS
};
static const char *const metric_name[NR_METRICS] = {
	"insert (random order)", "load, random", "load, sequential",
	"store (update)", "ordered iteration", "erase (random order)",
	"memory, bytes/entry",
};

struct dataset {
	const char *name;
	uint64_t n;
	uint64_t *sorted, *shuffled;
	double res[NR_METRICS][NR_DS];
	double insert_locked, for_each;	/* the tree's other ways */
};

static void best(double *slot, double v)
{
	if (*slot == 0 || v < *slot)
		*slot = v;
}

#define RUN_SINGLE(DS, ID, ds)                                       \
	do {                                                         \
		for (int rep = 0; rep < reps; rep++) {               \
			uint64_t n = ds->n, mem0, s = 0;             \
			dax_rcu_barrier();                           \
			rcu_barrier();                               \
			mem0 = heap_allocated();                     \
			void *d = DS##_create(n);                    \
			double t0 = bench_cpu_now();                 \
                                                                     \
			for (uint64_t i = 0; i < n; i++)             \
				DS##_insert(d, ds->shuffled[i],      \
					    ds->shuffled[i] + 1);    \
			best(&ds->res[M_INSERT][ID],                 \
			     (bench_cpu_now() - t0) * 1e9 / n);      \
			best(&ds->res[M_MEM][ID],                    \
			     (double)(heap_allocated() - mem0) / n); \
			t0 = bench_cpu_now();                        \
			for (uint64_t i = 0; i < n; i++)             \
				s += DS##_load(d, ds->shuffled[i]);  \
			best(&ds->res[M_LOAD_RND][ID],               \
			     (bench_cpu_now() - t0) * 1e9 / n);      \
			t0 = bench_cpu_now();                        \
			for (uint64_t i = 0; i < n; i++)             \
				s += DS##_load(d, ds->sorted[i]);    \
			best(&ds->res[M_LOAD_SEQ][ID],               \
			     (bench_cpu_now() - t0) * 1e9 / n);      \
			t0 = bench_cpu_now();                        \
			for (uint64_t i = 0; i < n; i++)             \
				DS##_update(d, ds->shuffled[i],      \
					    ds->shuffled[i] + 2);    \
			best(&ds->res[M_STORE][ID],                  \
			     (bench_cpu_now() - t0) * 1e9 / n);      \
			t0 = bench_cpu_now();                        \
			s += DS##_iterate(d);                        \
			best(&ds->res[M_ITER][ID],                   \
			     (bench_cpu_now() - t0) * 1e9 / n);      \
			t0 = bench_cpu_now();                        \
			for (uint64_t i = 0; i < n; i++)             \
				DS##_erase(d, ds->shuffled[i]);      \
			best(&ds->res[M_ERASE][ID],                  \
			     (bench_cpu_now() - t0) * 1e9 / n);      \
			DS##_destroy(d);                             \
			sink += s;                                   \
		}                                                    \
	} while (0)

static void make_dataset(struct dataset *ds, const char *name, uint64_t n,
			 bool sparse)
{
	memset(ds, 0, sizeof(*ds));
	ds->name = name;
	ds->n = n;
	ds->sorted = malloc(n * sizeof(uint64_t));
	ds->shuffled = malloc(n * sizeof(uint64_t));
	for (uint64_t i = 0; i < n; i++)
		ds->sorted[i] = sparse ? i * 8 + rnd() % 8 : i;
	memcpy(ds->shuffled, ds->sorted, n * sizeof(uint64_t));
	shuffle(ds->shuffled, n);
}

static void free_dataset(struct dataset *ds)
{
	free(ds->sorted);
	free(ds->shuffled);
}

static void run_tree_extras(struct dataset *ds)
{
	for (int rep = 0; rep < reps; rep++) {
		struct dax_tree *t;
		uint64_t n = ds->n, f, v, s = 0;
		unsigned o;
		double t0;

		dax_tree_new(&t);
		t0 = bench_cpu_now();
		dax_tree_lock(t);
		for (uint64_t i = 0; i < n; i++)
			dax_tree_insert_locked(t, ds->shuffled[i], 0,
					       ds->shuffled[i] + 1);
		dax_tree_unlock(t);
		best(&ds->insert_locked, (bench_cpu_now() - t0) * 1e9 / n);
		t0 = bench_cpu_now();
		dax_tree_for_each(t, f, o, v, 0, ~0ULL, DAX_TREE_PRESENT)
			s += v;
		best(&ds->for_each, (bench_cpu_now() - t0) * 1e9 / n);
		dax_tree_delete(&t);
		sink += s;
	}
}

static void run_dataset(struct dataset *ds)
{
	RUN_SINGLE(tree, DS_TREE, ds);
	run_tree_extras(ds);
	RUN_SINGLE(judy, DS_JUDY, ds);
	if (!quick)	/* JudyL plus an uncontended lock: no goal uses it */
		RUN_SINGLE(jrw, DS_JRW, ds);
	RUN_SINGLE(lfht, DS_LFHT, ds);
}

static void print_dataset(const struct dataset *ds)
{
	printf("\n%s (%llu keys)            %9s %9s %12s %9s   %8s %8s %8s\n",
	       ds->name, (unsigned long long)ds->n, "tree", "JudyL",
	       "JudyL+rw", "lfht", "/JudyL", "/Jrw", "/lfht");
	for (int m = 0; m < NR_METRICS; m++) {
		const double *r = ds->res[m];

		if (r[DS_JRW] > 0)
			printf("  %-27s %9.1f %9.1f %12.1f %9.1f   %8.2f %8.2f ",
			       metric_name[m], r[DS_TREE], r[DS_JUDY],
			       r[DS_JRW], r[DS_LFHT], r[DS_TREE] / r[DS_JUDY],
			       r[DS_TREE] / r[DS_JRW]);
		else	/* not run (quick) */
			printf("  %-27s %9.1f %9.1f %12s %9.1f   %8.2f %8s ",
			       metric_name[m], r[DS_TREE], r[DS_JUDY], "-",
			       r[DS_LFHT], r[DS_TREE] / r[DS_JUDY], "-");
		if (m == M_ITER)
			printf("%8s\n", "unord.");
		else
			printf("%8.2f\n", r[DS_TREE] / r[DS_LFHT]);
	}
	printf("  %-27s %9.1f %9s %12s %9s   %8.2f\n",
	       "insert, lock held across", ds->insert_locked, "", "", "",
	       ds->insert_locked / ds->res[M_INSERT][DS_JUDY]);
	printf("  %-27s %9.1f %9s %12s %9s   %8.2f\n",
	       "iteration, for_each", ds->for_each, "", "", "",
	       ds->for_each / ds->res[M_ITER][DS_JUDY]);
}

/* ---- the covering-entry lookup for order-9 entries ---------------------------- */

struct cover {
	uint64_t n, nq, *queries;
	double ns[3];	/* tree, JudyL, lfht */
};

static void run_cover(struct cover *c)
{
	uint64_t nent = c->n >> 9;

	for (int rep = 0; rep < reps; rep++) {
		struct dax_tree *t;
		struct judy *j = judy_create(0);
		void *h = lfht_create(nent);
		uint64_t s = 0;
		double t0;

		dax_tree_new(&t);
		for (uint64_t e = 0; e < nent; e++) {
			dax_tree_insert(t, e << 9, 9, e + 1);
			/* Judy: first index -> value, order known (9) */
			judy_insert(j, e << 9, e + 1);
			/* hash: key = index << 1 | (order == 9) */
			lfht_insert(h, (e << 9) << 1 | 1, e + 1);
		}
		t0 = bench_cpu_now();
		for (uint64_t i = 0; i < c->nq; i++) {
			uint64_t first;
			unsigned order;

			s += dax_tree_load_covering(t, c->queries[i], &first,
						    &order) + first + order;
		}
		best(&c->ns[0], (bench_cpu_now() - t0) * 1e9 / c->nq);
		t0 = bench_cpu_now();
		for (uint64_t i = 0; i < c->nq; i++) {
			Word_t idx = c->queries[i];
			PPvoid_t p = JudyLLast(j->a, &idx, PJE0);

			if (p && c->queries[i] - idx < 512)
				s += *(Word_t *)p + idx;
		}
		best(&c->ns[1], (bench_cpu_now() - t0) * 1e9 / c->nq);
		t0 = bench_cpu_now();
		for (uint64_t i = 0; i < c->nq; i++) {
			uint64_t q = c->queries[i];
			uint64_t v = lfht_load(h, q << 1);	/* order 0? */

			if (!v)		/* order 9 */
				v = lfht_load(h, (q & ~511ULL) << 1 | 1);
			s += v;
		}
		best(&c->ns[2], (bench_cpu_now() - t0) * 1e9 / c->nq);
		dax_tree_delete(&t);
		judy_destroy(j);
		lfht_destroy(h);
		sink += s;
	}
}

/* ---- threads ------------------------------------------------------------------ */

/*
 * T_W1, one writer alone, is the yardstick for the writer of T_R2W1: both
 * are wall-clock rates of the same thread function under the same load.
 */
enum trun { T_READ2, T_MIX2, T_R2W1, T_W1, NR_TRUNS };
static const char *const trun_name[NR_TRUNS] = {
	"2 readers", "2 threads, 10% updates", "2 readers + 1 writer",
	"1 writer alone",
};

struct tshared {
	void *d;
	const uint64_t *q;
	uint64_t nq;
	atomic_bool stop;
};

struct targ {
	struct tshared *sh;
	uint64_t start, ops;
	int mode;	/* 0 read, 1 mixed, 2 write */
};

#define DEFINE_WORKER(DS)                                                    \
	static void *DS##_worker(void *arg)                                    \
	{                                                                      \
		struct targ *a = arg;                                          \
		struct tshared *sh = a->sh;                                    \
		uint64_t i = a->start, ops = 0, s = 0;                         \
                                                                               \
		while (!atomic_load_explicit(&sh->stop,                        \
					     memory_order_relaxed)) {          \
			for (int k = 0; k < 64; k++) {                         \
				uint64_t key = sh->q[i];                       \
                                                                               \
				if (++i == sh->nq)                             \
					i = 0;                                 \
				if (a->mode == 2 ||                            \
				    (a->mode == 1 && ops % 10 == 9))           \
					DS##_update(sh->d, key, key + ops + 1);    \
				else                                           \
					s += DS##_load(sh->d, key);            \
				ops++;                                         \
			}                                                      \
		}                                                              \
		a->ops = ops;                                                  \
		sink += s;                                                     \
		return NULL;                                                   \
	}

DEFINE_WORKER(tree)
DEFINE_WORKER(jrw)
DEFINE_WORKER(lfht)

struct tresult {
	double mops[NR_TRUNS][NR_DS];	/* readers' (or all, or the lone
					   writer's) Mops/s */
	double wmops[NR_DS];		/* the writer of 2R+1W */
};

static void run_threads(void *(*worker)(void *), void *d, const uint64_t *q,
			uint64_t nq, enum trun run, double *mops,
			double *wmops)
{
	struct tshared sh = { .d = d, .q = q, .nq = nq };
	struct targ a[3];
	pthread_t th[3];
	int nr = run == T_R2W1 ? 3 : run == T_W1 ? 1 : 2;
	uint64_t rops = 0;
	/* tv_nsec must stay below 1e9: nanosleep() refuses 1.0 s as
	 * { 0, 1000000000 } with EINVAL and returns at once */
	struct timespec ts = {
		(time_t)thread_secs,
		(long)((thread_secs - (time_t)thread_secs) * 1e9)
	};
	double t0;

	atomic_init(&sh.stop, false);
	for (int i = 0; i < nr; i++) {
		a[i].sh = &sh;
		a[i].start = (nq / 3) * i;
		a[i].ops = 0;
		a[i].mode = run == T_READ2 ? 0 : run == T_MIX2 ? 1 :
			    run == T_W1 ? 2 : (i == 2 ? 2 : 0);
	}
	t0 = bench_now();
	for (int i = 0; i < nr; i++)
		pthread_create(&th[i], NULL, worker, &a[i]);
	while (nanosleep(&ts, &ts))
		;
	atomic_store(&sh.stop, true);
	for (int i = 0; i < nr; i++)
		pthread_join(th[i], NULL);
	t0 = bench_now() - t0;
	for (int i = 0; i < nr && i < 2; i++)
		rops += a[i].ops;
	if (rops / t0 / 1e6 > *mops)
		*mops = rops / t0 / 1e6;
	if (run == T_R2W1 && a[2].ops / t0 / 1e6 > *wmops)
		*wmops = a[2].ops / t0 / 1e6;
}

static void run_all_threads(const struct dataset *ds, struct tresult *r)
{
	void *d[NR_DS];

	/* built once (16M keys take a while), then every run, best of reps */
	d[DS_TREE] = tree_create(ds->n);
	d[DS_JRW] = judy_create(ds->n);
	d[DS_LFHT] = lfht_create(ds->n);
	for (uint64_t i = 0; i < ds->n; i++) {
		tree_insert(d[DS_TREE], ds->sorted[i], i + 1);
		judy_insert(d[DS_JRW], ds->sorted[i], i + 1);
		lfht_insert(d[DS_LFHT], ds->sorted[i], i + 1);
	}
	for (int rep = 0; rep < reps; rep++) {
		for (int run = 0; run < NR_TRUNS; run++) {
			run_threads(tree_worker, d[DS_TREE], ds->shuffled,
				    ds->n, run, &r->mops[run][DS_TREE],
				    &r->wmops[DS_TREE]);
			run_threads(jrw_worker, d[DS_JRW], ds->shuffled, ds->n,
				    run, &r->mops[run][DS_JRW],
				    &r->wmops[DS_JRW]);
			run_threads(lfht_worker, d[DS_LFHT], ds->shuffled,
				    ds->n, run, &r->mops[run][DS_LFHT],
				    &r->wmops[DS_LFHT]);
		}
	}
	tree_destroy(d[DS_TREE]);
	judy_destroy(d[DS_JRW]);
	lfht_destroy(d[DS_LFHT]);
}

static void print_threads(const struct dataset *ds, const struct tresult *tr)
{
	printf("  threads, random keys (Mops/s; readers' total, or all "
	       "threads')\n");
	printf("  %-28s %9s %12s %9s   %8s %8s\n", "", "tree", "JudyL+rw",
	       "lfht", "x Jrw", "x lfht");
	for (int run = 0; run < NR_TRUNS; run++)
		printf("  %-28s %9.2f %12.2f %9.2f   %8.2f %8.2f\n",
		       trun_name[run], tr->mops[run][DS_TREE],
		       tr->mops[run][DS_JRW], tr->mops[run][DS_LFHT],
		       tr->mops[run][DS_TREE] / tr->mops[run][DS_JRW],
		       tr->mops[run][DS_TREE] / tr->mops[run][DS_LFHT]);
	printf("  %-28s %9.3f %12.3f %9.3f\n", "  the writer of 2R+1W",
	       tr->wmops[DS_TREE], tr->wmops[DS_JRW], tr->wmops[DS_LFHT]);
	printf("  %-28s %9.3f %12.3f %9.3f\n", "  it, vs the writer alone",
	       tr->wmops[DS_TREE] / tr->mops[T_W1][DS_TREE],
	       tr->wmops[DS_JRW] / tr->mops[T_W1][DS_JRW],
	       tr->wmops[DS_LFHT] / tr->mops[T_W1][DS_LFHT]);
}

/* ---- the report --------------------------------------------------------------- */

static int goals_met, goals_missed;

/* One goal: a line for people, and the same as a ratio line. */
static void goal(const char *metric, const char *peer, double value,
		 double target, bool at_most)
{
	bool ok = at_most ? value <= target : value >= target;
	char what[128], g[32];

	snprintf(what, sizeof(what), "%s vs %s", metric, peer);
	snprintf(g, sizeof(g), "%s%g", at_most ? "<=" : ">=", target);
	printf("  %-6s %-66s %7.3fx (goal %s)\n", ok ? "MET" : "MISSED", what,
	       value, g);
	if (ok)
		goals_met++;
	else
		goals_missed++;
	bench_ratio("tree", metric, value, g, peer);
}

int main(int argc, char **argv)
{
	static struct dataset sets[4];
	static const struct {
		const char *name;
		bool sparse;
	} defs[4] = {
		{ "1M dense", false },
		{ "1M sparse", true },
		{ "16M dense", false },
		{ "16M sparse", true },
	};
	uint64_t defs_n[4] = { 1ULL << 20, 1ULL << 20, 16ULL << 20,
			       16ULL << 20 };
	struct cover cov = { 0 };
	static struct tresult trs[4];
	struct tresult *tr = &trs[0];
	int nsets;
	double t_start = bench_now();

	quick = (argc > 1 && !strcmp(argv[1], "--quick")) || bench_quick();
	reps = quick ? 1 : 3;
	/* quick: 1M dense, 256K sparse, one run each */
	thread_secs = quick ? 0.2 : 1.0;
	nsets = quick ? 2 : 4;
	if (quick)
		defs_n[1] = 1ULL << 18;

	printf("tree_bench: dax_tree vs JudyL, JudyL+rwlock, cds_lfht (%s run, "
	       "best of %d)\n", quick ? "quick" : "full", reps);
	printf("times in ns/op of thread CPU time (%s); ratios = tree time / "
	       "peer time\n(< 1: tree faster); memory = heap growth per "
	       "entry; threads: wall-clock Mops/s, %.1f s per run\n",
	       quick ? "one run" : "best of 3 for 1M, 2 for 16M",
	       thread_secs);
	fflush(stdout);
	for (int i = 0; i < nsets; i++) {
		make_dataset(&sets[i],
			     quick && i == 1 ? "256K sparse" : defs[i].name,
			     defs_n[i], defs[i].sparse);
		/* 16M keys: two runs each, or the run takes half an hour */
		reps = quick ? 1 : defs_n[i] > (1ULL << 20) ? 2 : 3;
		run_dataset(&sets[i]);
		print_dataset(&sets[i]);
		fflush(stdout);
		/* the thread goals are the dense set's */
		if (!quick || i == 0) {
			run_all_threads(&sets[i], &trs[i]);
			print_threads(&sets[i], &trs[i]);
		} else {
			printf("  threads: not run in quick mode\n");
		}
		if (i >= 1)
			free_dataset(&sets[i]);
		fflush(stdout);
	}

	/* covering lookups: order-9 entries over 1M (16M) indices */
	reps = quick ? 1 : 3;
	cov.n = quick ? 1ULL << 20 : 16ULL << 20;
	cov.nq = quick ? 1ULL << 19 : 4ULL << 20;
	cov.queries = malloc(cov.nq * sizeof(uint64_t));
	for (uint64_t i = 0; i < cov.nq; i++)
		cov.queries[i] = rnd() % cov.n;
	run_cover(&cov);
	printf("\ncovering entry of a random index, %llu order-9 entries "
	       "(ns/op)\n", (unsigned long long)(cov.n >> 9));
	printf("  tree load_covering %.1f   JudyL last-below+check %.1f   "
	       "lfht two probes %.1f   speedup x%.2f / x%.2f\n",
	       cov.ns[0], cov.ns[1], cov.ns[2], cov.ns[1] / cov.ns[0],
	       cov.ns[2] / cov.ns[0]);
	fflush(stdout);

	/* the goals of issue 4 */
	{
		double(*d)[NR_DS] = sets[0].res;
		const char *dn = sets[0].name;
		char m[96];

		printf("\ngoals (issue 4), measured above in this run:\n");
#define GOAL(what, peer, value, target, at_most)                        \
	do {                                                            \
		snprintf(m, sizeof(m), "%s: %s", dn, what);             \
		goal(m, peer, value, target, at_most);                  \
	} while (0)
		GOAL("random load, time", "JudyL",
		     d[M_LOAD_RND][DS_TREE] / d[M_LOAD_RND][DS_JUDY], 1.0,
		     true);
		GOAL("sequential load, time", "JudyL",
		     d[M_LOAD_SEQ][DS_TREE] / d[M_LOAD_SEQ][DS_JUDY], 0.6,
		     true);
		GOAL("insert, time", "JudyL",
		     d[M_INSERT][DS_TREE] / d[M_INSERT][DS_JUDY], 0.9, true);
		GOAL("insert, lock held across, time", "JudyL",
		     sets[0].insert_locked / d[M_INSERT][DS_JUDY], 0.9, true);
		GOAL("memory", "JudyL",
		     d[M_MEM][DS_TREE] / d[M_MEM][DS_JUDY], 1.1, true);
		for (int i = 1; i < nsets; i += 2) {
			static const int ms[] = { M_INSERT, M_LOAD_RND,
						  M_LOAD_SEQ, M_STORE,
						  M_ERASE };

			for (unsigned k = 0; k < 5; k++) {
				double(*s)[NR_DS] = sets[i].res;

				snprintf(m, sizeof(m), "%s: %s, time",
					 sets[i].name, metric_name[ms[k]]);
				goal(m, "cds_lfht",
				     s[ms[k]][DS_TREE] / s[ms[k]][DS_LFHT],
				     1.0, true);
			}
		}
		goal("order-9 covering lookup, speedup", "JudyL",
		     cov.ns[1] / cov.ns[0], 3.5, false);
		goal("order-9 covering lookup, speedup", "cds_lfht",
		     cov.ns[2] / cov.ns[0], 3.5, false);
		GOAL("2 readers, throughput", "JudyL+rwlock",
		     tr->mops[T_READ2][DS_TREE] / tr->mops[T_READ2][DS_JRW],
		     2.0, false);
		GOAL("2 readers, throughput", "cds_lfht",
		     tr->mops[T_READ2][DS_TREE] / tr->mops[T_READ2][DS_LFHT],
		     2.0, false);
		GOAL("2 threads 10% updates, throughput", "JudyL+rwlock",
		     tr->mops[T_MIX2][DS_TREE] / tr->mops[T_MIX2][DS_JRW],
		     20.0, false);
		GOAL("2 threads 10% updates, throughput", "cds_lfht",
		     tr->mops[T_MIX2][DS_TREE] / tr->mops[T_MIX2][DS_LFHT],
		     1.5, false);
		GOAL("2 readers + 1 writer, readers' throughput",
		     "JudyL+rwlock",
		     tr->mops[T_R2W1][DS_TREE] / tr->mops[T_R2W1][DS_JRW],
		     1.5, false);
		GOAL("2 readers + 1 writer, readers' throughput", "cds_lfht",
		     tr->mops[T_R2W1][DS_TREE] / tr->mops[T_R2W1][DS_LFHT],
		     1.5, false);
		/*
		 * Not starved: the writer's wall-clock rate beside 2 readers
		 * against the same writer's wall-clock rate alone (T_W1), so
		 * the machine's load weighs on both alike.  With 3 threads on
		 * 2 CPUs a fair share is about 2/3 of the lone rate.
		 */
		GOAL("2 readers + 1 writer, the writer's rate",
		     "the writer alone",
		     tr->wmops[DS_TREE] / tr->mops[T_W1][DS_TREE], 0.1, false);
#undef GOAL
		printf("  (the writers beside 2 readers, Mops/s, and their "
		       "share of their lone rate: tree %.3f, %.2f; "
		       "JudyL+rwlock %.3f, %.2f; cds_lfht %.3f, %.2f)\n",
		       tr->wmops[DS_TREE],
		       tr->wmops[DS_TREE] / tr->mops[T_W1][DS_TREE],
		       tr->wmops[DS_JRW],
		       tr->wmops[DS_JRW] / tr->mops[T_W1][DS_JRW],
		       tr->wmops[DS_LFHT],
		       tr->wmops[DS_LFHT] / tr->mops[T_W1][DS_LFHT]);
	}
	printf("\n%d goals met, %d missed (%.0f s)\n", goals_met, goals_missed,
	       bench_now() - t_start);
	free_dataset(&sets[0]);
	free(cov.queries);
	return 0;
}
