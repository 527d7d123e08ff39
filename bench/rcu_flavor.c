// SPDX-License-Identifier: MIT
/*
 * Which liburcu flavor should libdax use?  (The answer is written at the top
 * of libdax/tree.c.)
 *
 * libdax is a shared library, and its users' threads must never register
 * with RCU by hand, so what matters is:
 *
 *  1. the read-side cost when the lock and unlock are not inlined into the
 *     application: each flavor's exported urcu_<flavor>_read_lock/unlock,
 *     called through dlsym'd pointers, as a shared library calling another
 *     one would;
 *  2. the read-side cost of the scheme libdax actually uses, measured in
 *     libdax.so itself: dax_tree_load() of an empty tree (memb read lock
 *     inlined into libdax, plus the "registered yet?" TLS check) against
 *     dax_tree_empty(), the same call without RCU;
 *  3. for comparison, bp's read side inlined (its static header) into this
 *     program: what a bp-based libdax would cost, registration check
 *     included (bp registers a thread on its first read lock);
 *  4. synchronize_rcu latency with two readers spinning in read-side
 *     sections (timed only once both are registered and running), and
 *     call_rcu latency (queue to callback) and cost.
 *
 * Read-side costs are in thread CPU time, the best of many short runs (the
 * 2 CPUs are shared with other work); latencies are wall-clock.
 *
 * qsbr is listed for the read side only: it needs every application thread
 * to announce quiescent states, which a library cannot ask of its users.
 *
 * No goal was set; the ratios (each flavor against memb, libdax's load
 * against the same call without RCU) are also printed as ratio lines
 * (bench/bench.h) for `make bench`'s report.
 *
 * Run: rcu_flavor [--quick]  (or DAX_BENCH_QUICK=1)
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <urcu/call-rcu.h>
/* bp's read side, inlined (row 3 only; the flavors are otherwise dlopen'ed) */
#include <urcu/static/urcu-bp.h>

#include "bench/bench.h"
#include "libdax.h"

static bool quick;

#define READ_REPS 20

struct flavor {
	const char *name;
	const char *lib;
	bool auto_register;	/* bp registers on first read lock */
	bool can_sync;		/* usable from a library at all */
	void *h;
	void (*read_lock)(void);
	void (*read_unlock)(void);
	void (*reg)(void);
	void (*unreg)(void);
	void (*sync)(void);
	void (*call_rcu)(struct rcu_head *, void (*)(struct rcu_head *));
	void (*barrier)(void);
};

static struct flavor flavors[] = {
	{ .name = "memb", .lib = "liburcu-memb.so.8", .can_sync = true },
	{ .name = "bp", .lib = "liburcu-bp.so.8", .auto_register = true,
	  .can_sync = true },
	{ .name = "mb", .lib = "liburcu-mb.so.8", .can_sync = true },
	{ .name = "signal", .lib = "liburcu-signal.so.8", .can_sync = true },
	{ .name = "qsbr", .lib = "liburcu-qsbr.so.8" },
};

static void *sym(struct flavor *f, const char *what)
{
	char name[64];
	void *p;

	snprintf(name, sizeof(name), "urcu_%s_%s", f->name, what);
	p = dlsym(f->h, name);
	if (!p) {
		fprintf(stderr, "rcu_flavor: %s: %s\n", name, dlerror());
		exit(1);
	}
	return p;
}

static void load(struct flavor *f)
{
	f->h = dlopen(f->lib, RTLD_NOW | RTLD_LOCAL);
	if (!f->h) {
		fprintf(stderr, "rcu_flavor: %s\n", dlerror());
		exit(1);
	}
	f->read_lock = sym(f, "read_lock");
	f->read_unlock = sym(f, "read_unlock");
	if (!f->auto_register) {
		f->reg = sym(f, "register_thread");
		f->unreg = sym(f, "unregister_thread");
	}
	if (f->can_sync) {
		f->sync = sym(f, "synchronize_rcu");
		f->call_rcu = sym(f, "call_rcu");
		f->barrier = sym(f, "barrier");
	}
}

/* ---- 1. read side through the exported functions ---------------------- */

struct read_job {
	struct flavor *f;
	long iters;
	double ns;
};

static void *read_side(void *arg)
{
	struct read_job *j = arg;
	struct flavor *f = j->f;
	double best = 1e9;

	if (!f->auto_register)
		f->reg();
	for (int rep = 0; rep < READ_REPS; rep++) {
		double t0 = bench_cpu_now(), ns;

		for (long i = 0; i < j->iters; i++) {
			f->read_lock();
			f->read_unlock();
		}
		ns = (bench_cpu_now() - t0) * 1e9 / j->iters;
		if (ns < best)
			best = ns;
	}
	j->ns = best;
	if (!f->auto_register)
		f->unreg();
	return NULL;
}

/* ---- 2. libdax's scheme, inside libdax.so --------------------------------- */

struct dax_fns {
	int (*tree_new)(struct dax_tree **);
	void (*tree_delete)(struct dax_tree **);
	uint64_t (*load)(const struct dax_tree *, uint64_t);
	bool (*empty)(const struct dax_tree *);
	int (*insert)(struct dax_tree *, uint64_t, unsigned, uint64_t);
	uint64_t (*erase)(struct dax_tree *, uint64_t);
	const char *where;
};

static void dax_fns_static(struct dax_fns *d)
{
	d->tree_new = dax_tree_new;
	d->tree_delete = dax_tree_delete;
	d->load = dax_tree_load;
	d->empty = dax_tree_empty;
	d->insert = dax_tree_insert;
	d->erase = dax_tree_erase;
	d->where = "libdax.a (static: no shared-library TLS cost)";
}

/* libdax.so next to this program's build folder: $(B)/bench/.. */
static bool dax_fns_shared(struct dax_fns *d)
{
	char exe[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	void *h;

	if (n <= 0)
		return false;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return false;
	*slash = 0;
	snprintf(path, sizeof(path), "%s/../libdax.so.0", exe);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return false;
	d->tree_new = (int (*)(struct dax_tree **))dlsym(h, "dax_tree_new");
	d->tree_delete = (void (*)(struct dax_tree **))dlsym(h,
							     "dax_tree_delete");
	d->load = (uint64_t(*)(const struct dax_tree *, uint64_t))dlsym(
		h, "dax_tree_load");
	d->empty = (bool (*)(const struct dax_tree *))dlsym(h,
							    "dax_tree_empty");
	d->insert = (int (*)(struct dax_tree *, uint64_t, unsigned,
			     uint64_t))dlsym(h, "dax_tree_insert");
	d->erase = (uint64_t(*)(struct dax_tree *, uint64_t))dlsym(
		h, "dax_tree_erase");
	d->where = "libdax.so (dlopen'ed)";
	return d->tree_new && d->load && d->empty;
}

struct dax_job {
	struct dax_fns *d;
	long iters;
	double load_ns, empty_ns, first_ns;
};

static void *dax_side(void *arg)
{
	struct dax_job *j = arg;
	struct dax_fns *d = j->d;
	struct dax_tree *t;
	volatile uint64_t sink = 0;
	double t0;

	d->tree_new(&t);
	d->insert(t, 1, 0, 5);
	t0 = bench_now();
	sink += d->load(t, 1);	/* first use: registers this thread */
	j->first_ns = (bench_now() - t0) * 1e9;
	d->erase(t, 1);
	j->load_ns = j->empty_ns = 1e9;
	for (int rep = 0; rep < READ_REPS; rep++) {
		double ns;

		t0 = bench_cpu_now();
		for (long i = 0; i < j->iters; i++)
			sink += d->load(t, i);
		ns = (bench_cpu_now() - t0) * 1e9 / j->iters;
		if (ns < j->load_ns)
			j->load_ns = ns;
		t0 = bench_cpu_now();
		for (long i = 0; i < j->iters; i++)
			sink += d->empty(t);
		ns = (bench_cpu_now() - t0) * 1e9 / j->iters;
		if (ns < j->empty_ns)
			j->empty_ns = ns;
	}
	d->tree_delete(&t);
	(void)sink;
	return NULL;
}

/* ---- 3. bp inlined ---------------------------------------------------------- */

struct bp_job {
	long iters;
	double ns;
};

static void *bp_inline_side(void *arg)
{
	struct bp_job *j = arg;

	j->ns = 1e9;
	for (int rep = 0; rep < READ_REPS; rep++) {
		double t0 = bench_cpu_now(), ns;

		for (long i = 0; i < j->iters; i++) {
			_urcu_bp_read_lock();
			_urcu_bp_read_unlock();
		}
		ns = (bench_cpu_now() - t0) * 1e9 / j->iters;
		if (ns < j->ns)
			j->ns = ns;
	}
	return NULL;
}

/* ---- 4. grace periods ----------------------------------------------------- */

static atomic_bool readers_stop;
static atomic_int readers_running;

static void *spin_reader(void *arg)
{
	struct flavor *f = arg;
	volatile unsigned x = 0;

	if (!f->auto_register)
		f->reg();
	f->read_lock();		/* bp: registers here */
	f->read_unlock();
	atomic_fetch_add(&readers_running, 1);
	while (!atomic_load_explicit(&readers_stop, memory_order_relaxed)) {
		f->read_lock();
		for (int i = 0; i < 50; i++)
			x++;
		f->read_unlock();
	}
	if (!f->auto_register)
		f->unreg();
	return NULL;
}

struct cb_probe {
	struct rcu_head head;
	double queued, ran;
	atomic_bool done;
};

static void cb_record(struct rcu_head *h)
{
	struct cb_probe *p = caa_container_of(h, struct cb_probe, head);

	p->ran = bench_now();
	atomic_store(&p->done, true);
}

static void cb_nothing(struct rcu_head *h)
{
	free(h);
}

struct gp_job {
	struct flavor *f;
	int nsync, ncalls;
	double sync_us, cb_latency_us, cb_cost_ns;
};

static void *grace_periods(void *arg)
{
	struct gp_job *j = arg;
	struct flavor *f = j->f;
	pthread_t r[2];
	double t0, lat = 0;

	atomic_store(&readers_stop, false);
	atomic_store(&readers_running, 0);
	for (int i = 0; i < 2; i++)
		pthread_create(&r[i], NULL, spin_reader, f);
	if (!f->auto_register)
		f->reg();
	/* a grace period with no registered reader proves nothing */
	while (atomic_load(&readers_running) < 2)
		sched_yield();
	t0 = bench_now();
	for (int i = 0; i < j->nsync; i++)
		f->sync();
	j->sync_us = (bench_now() - t0) * 1e6 / j->nsync;
	for (int i = 0; i < j->nsync; i++) {
		struct cb_probe p = { .queued = bench_now() };

		atomic_init(&p.done, false);
		f->call_rcu(&p.head, cb_record);
		while (!atomic_load(&p.done))
			sched_yield();
		lat += p.ran - p.queued;
	}
	j->cb_latency_us = lat * 1e6 / j->nsync;
	t0 = bench_now();
	for (int i = 0; i < j->ncalls; i++)
		f->call_rcu(malloc(sizeof(struct rcu_head)), cb_nothing);
	f->barrier();
	j->cb_cost_ns = (bench_now() - t0) * 1e9 / j->ncalls;
	if (!f->auto_register)
		f->unreg();
	atomic_store(&readers_stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	return NULL;
}

static void run_in_thread(void *(*fn)(void *), void *arg)
{
	pthread_t th;

	pthread_create(&th, NULL, fn, arg);
	pthread_join(th, NULL);
}

int main(int argc, char **argv)
{
	long iters;
	struct dax_fns shared, stat;
	struct dax_job js = { 0 }, jst = { 0 };
	bool have_shared;
	double read_ns[sizeof(flavors) / sizeof(flavors[0])];
	double sync_us[sizeof(flavors) / sizeof(flavors[0])];

	quick = (argc > 1 && !strcmp(argv[1], "--quick")) || bench_quick();
	iters = quick ? 1000000 : 5000000;	/* per run; READ_REPS runs */
	for (size_t i = 0; i < sizeof(flavors) / sizeof(flavors[0]); i++)
		load(&flavors[i]);

	printf("RCU flavors (liburcu 0.13), %s run; 2 CPUs shared; read side: "
	       "best of %d runs, thread CPU time\n\n",
	       quick ? "quick" : "full", READ_REPS);
	printf("%-8s %14s %12s %14s %14s\n", "flavor", "lock+unlock ns",
	       "sync us", "call_rcu->cb us", "call_rcu ns/cb");
	for (size_t i = 0; i < sizeof(flavors) / sizeof(flavors[0]); i++) {
		struct flavor *f = &flavors[i];
		struct read_job rj = { f, iters, 0 };
		struct gp_job gj = { .f = f, .nsync = quick ? 50 : 300,
				     .ncalls = quick ? 100000 : 1000000 };

		run_in_thread(read_side, &rj);
		read_ns[i] = rj.ns;
		if (f->can_sync) {
			run_in_thread(grace_periods, &gj);
			sync_us[i] = gj.sync_us;
			printf("%-8s %14.2f %12.1f %14.1f %14.1f\n", f->name,
			       rj.ns, gj.sync_us, gj.cb_latency_us,
			       gj.cb_cost_ns);
		} else {
			printf("%-8s %14.2f %12s %14s %14s\n", f->name, rj.ns,
			       "-", "-", "-");
		}
	}
	/* flavors[0] is memb, the one libdax uses */
	for (size_t i = 1; i < sizeof(flavors) / sizeof(flavors[0]); i++) {
		char metric[96];

		snprintf(metric, sizeof(metric), "%s read lock+unlock through "
			 "the exported calls, time", flavors[i].name);
		bench_ratio("rcu", metric, read_ns[i] / read_ns[0], NULL,
			    "memb");
		if (!flavors[i].can_sync)
			continue;
		snprintf(metric, sizeof(metric), "%s synchronize_rcu beside 2 "
			 "readers, time", flavors[i].name);
		bench_ratio("rcu", metric, sync_us[i] / sync_us[0], NULL,
			    "memb");
	}

	have_shared = dax_fns_shared(&shared);
	dax_fns_static(&stat);
	js.d = have_shared ? &shared : &stat;
	js.iters = iters;
	run_in_thread(dax_side, &js);
	jst.d = &stat;
	jst.iters = iters;
	run_in_thread(dax_side, &jst);
	{
		struct bp_job bj = { .iters = iters };

		run_in_thread(bp_inline_side, &bj);
		printf("\nbp, read side inlined into this program (registration "
		       "check included): %.2f ns\n", bj.ns);
	}
	printf("\nlibdax's scheme (memb, read lock inlined in libdax, TLS "
	       "registration check):\n");
	for (int k = 0; k < 2; k++) {
		struct dax_job *j = k ? &jst : &js;

		if (k && !have_shared)
			break;
		printf("  %s\n", j->d->where);
		printf("    dax_tree_load(empty tree) %6.2f ns, "
		       "dax_tree_empty() %6.2f ns: RCU costs %.2f ns\n",
		       j->load_ns, j->empty_ns, j->load_ns - j->empty_ns);
		printf("    first call in a new thread (registers it): "
		       "%.1f us\n", j->first_ns / 1000);
		bench_ratio("rcu", k ? "dax_tree_load of an empty tree, "
				       "libdax.a, time" :
				       have_shared ?
				       "dax_tree_load of an empty tree, "
				       "libdax.so, time" :
				       "dax_tree_load of an empty tree, "
				       "libdax.a, time",
			    j->load_ns / j->empty_ns, NULL,
			    "dax_tree_empty (no RCU)");
	}
	return 0;
}
