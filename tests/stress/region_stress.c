// SPDX-License-Identifier: MIT
/*
 * Concurrency stress for regions (libdax/region.c), run plain, under ASan
 * and under TSan.  Three scenarios, each for half of DAX_STRESS_SECONDS:
 *
 *   kill_stops_new_operations: workers persist and enter/write/exit on a
 *	region while one or two threads kill it.  Invariant: once a kill
 *	has returned, no operation starts (a worker that read "killed"
 *	before its call must get -ENXIO), and every -ENXIO comes from a
 *	dead region.
 *   close_waits_for_users: workers enter the region, write their page for
 *	a while and exit, some of them exactly while the main thread closes
 *	it.  Invariant: close returns only after every user has left (the
 *	workers' own count is zero), and no write faults (ASan / SIGSEGV
 *	would catch a premature unmap).
 *   open_map_persist_in_parallel: threads open memfd and file regions of
 *	random alignment, check the base alignment, write, persist, read
 *	back, kill and close, all at once.
 */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "stress.h"
#include "libdax/internal.h"

#define NR_WORKERS 3

static double scenario_seconds(void)
{
	return stress_seconds() / 2;
}

/* A tiny xorshift per thread: no shared state, no libc rand() lock. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int open_memfd(const char *name, uint64_t align, uint64_t size,
		      struct dax_region **r)
{
	struct dax_region_opts *opts;
	int ret;

	ret = dax_region_opts_new(&opts);
	if (ret)
		return ret;
	ret = dax_region_opts_set_align(opts, align);
	if (!ret)
		ret = dax_region_opts_set_size(opts, size);
	if (!ret)
		ret = dax_region_open(name, opts, r);
	dax_region_opts_delete(&opts);
	return ret;
}

/* ---- kill_stops_new_operations ------------------------------------------- */

struct kill_round {
	struct dax_region *r;
	atomic_bool killed;	/* a kill has returned */
	atomic_int violations;
	atomic_long ops, refused;
};

struct kill_worker_arg {
	struct kill_round *k;
	unsigned id;
};

static void *kill_worker(void *arg)
{
	struct kill_worker_arg *a = arg;
	struct kill_round *k = a->k;
	uint64_t seed = 0x9e3779b97f4a7c15ULL * (a->id + 1) + (uintptr_t)&seed;
	volatile char *base = dax_region_get_base(k->r);
	uint64_t pages = dax_region_get_size(k->r) / DAX_PAGE_SIZE;

	for (;;) {
		bool was_killed = atomic_load(&k->killed);
		/* Each worker writes its own pages: no race in the test. */
		uint64_t page = (next_rand(&seed) % (pages / NR_WORKERS)) *
					NR_WORKERS + a->id;
		int ret;

		if (next_rand(&seed) & 1) {
			ret = dax_region_persist(k->r, page * DAX_PAGE_SIZE,
						 64);
		} else {
			ret = dax_region_enter(k->r);
			if (!ret) {
				base[page * DAX_PAGE_SIZE] = (char)page;
				dax_region_exit(k->r);
			}
		}
		if (ret == 0 && was_killed) {
			fprintf(stderr, "an operation started after kill "
					"returned\n");
			atomic_fetch_add(&k->violations, 1);
		} else if (ret == -ENXIO && dax_region_is_alive(k->r)) {
			fprintf(stderr, "-ENXIO from a live region\n");
			atomic_fetch_add(&k->violations, 1);
		} else if (ret && ret != -ENXIO) {
			fprintf(stderr, "unexpected error %d: %s\n", ret,
				dax_errormsg());
			atomic_fetch_add(&k->violations, 1);
		}
		if (ret) {
			atomic_fetch_add(&k->refused, 1);
			/* A few more tries after the kill, then stop. */
			if (atomic_fetch_add(&k->refused, 0) > 8 * NR_WORKERS)
				return NULL;
		} else {
			atomic_fetch_add(&k->ops, 1);
		}
	}
}

static void *second_killer(void *arg)
{
	struct kill_round *k = arg;

	usleep(100);
	dax_region_kill(k->r);
	atomic_store(&k->killed, true);
	return NULL;
}

static bool kill_stops_new_operations(void)
{
	double end = stress_now() + scenario_seconds();
	uint64_t seed = 12345;
	long rounds = 0, ops = 0;
	int violations = 0;

	while (stress_now() < end) {
		struct kill_round k = { 0 };
		struct kill_worker_arg args[NR_WORKERS];
		pthread_t t[NR_WORKERS], killer;
		bool two = rounds & 1;

		stress_check(!open_memfd("memfd:kill", 4 * DAX_KiB,
					 64 * DAX_KiB, &k.r),
			     "open");
		for (unsigned i = 0; i < NR_WORKERS; i++) {
			args[i] = (struct kill_worker_arg){ &k, i };
			pthread_create(&t[i], NULL, kill_worker, &args[i]);
		}
		if (two)
			pthread_create(&killer, NULL, second_killer, &k);
		usleep(next_rand(&seed) % 500);
		dax_region_kill(k.r);
		atomic_store(&k.killed, true);
		if (two)
			pthread_join(killer, NULL);
		for (unsigned i = 0; i < NR_WORKERS; i++)
			pthread_join(t[i], NULL);
		stress_check(!dax_region_is_alive(k.r), "alive after kill");
		stress_check(dax_region_close(&k.r) == 0 && !k.r, "close");
		violations += atomic_load(&k.violations);
		ops += atomic_load(&k.ops);
		rounds++;
	}
	printf("     %ld rounds, %ld operations before the kills\n", rounds,
	       ops);
	stress_check(violations == 0, "%d violations", violations);
	return true;
}

/* ---- close_waits_for_users ----------------------------------------------- */

struct close_round {
	struct dax_region *r;
	atomic_int entered;
	atomic_int in_flight;	/* the workers' own count */
	atomic_int failures;
};

struct close_worker_arg {
	struct close_round *c;
	unsigned id;
	unsigned spins;
};

static void *close_worker(void *arg)
{
	struct close_worker_arg *a = arg;
	struct close_round *c = a->c;
	volatile uint64_t *page;

	if (dax_region_enter(c->r)) {
		atomic_fetch_add(&c->failures, 1);
		atomic_fetch_add(&c->entered, 1);
		return NULL;
	}
	atomic_fetch_add(&c->in_flight, 1);
	page = (volatile uint64_t *)((char *)dax_region_get_base(c->r) +
				     a->id * DAX_PAGE_SIZE);
	atomic_fetch_add(&c->entered, 1);
	for (unsigned i = 0; i < a->spins; i++) {
		page[i % 512] = i;
		if (page[i % 512] != i)
			atomic_fetch_add(&c->failures, 1);
		if (i % 64 == 0)
			sched_yield();
	}
	atomic_fetch_sub(&c->in_flight, 1);
	dax_region_exit(c->r);	/* the last touch of the region */
	return NULL;
}

static bool close_waits_for_users(void)
{
	double end = stress_now() + scenario_seconds();
	uint64_t seed = 777;
	long rounds = 0;

	while (stress_now() < end) {
		struct close_round c = { 0 };
		struct close_worker_arg args[NR_WORKERS];
		pthread_t t[NR_WORKERS];

		stress_check(!open_memfd("memfd:close", 4 * DAX_KiB,
					 NR_WORKERS * DAX_PAGE_SIZE, &c.r),
			     "open");
		for (unsigned i = 0; i < NR_WORKERS; i++) {
			args[i] = (struct close_worker_arg){
				&c, i, (unsigned)(next_rand(&seed) % 4096)
			};
			pthread_create(&t[i], NULL, close_worker, &args[i]);
		}
		/* Every worker is in before close: none calls enter after. */
		while (atomic_load(&c.entered) < NR_WORKERS)
			sched_yield();
		stress_check(dax_region_close(&c.r) == 0, "close");
		stress_check(atomic_load(&c.in_flight) == 0,
			     "close returned with %d users in flight",
			     atomic_load(&c.in_flight));
		for (unsigned i = 0; i < NR_WORKERS; i++)
			pthread_join(t[i], NULL);
		stress_check(atomic_load(&c.failures) == 0,
			     "%d workers failed", atomic_load(&c.failures));
		rounds++;
	}
	printf("     %ld rounds\n", rounds);
	return true;
}

/* ---- open_map_persist_in_parallel ---------------------------------------- */

struct opener {
	unsigned id;
	double end;
	long opened;
	int failures;
	char dir[64];
};

static bool one_region(struct opener *o, uint64_t *seed)
{
	static const uint64_t aligns[] = { 4 * DAX_KiB, 2 * DAX_MiB };
	uint64_t align = aligns[next_rand(seed) % 2];
	uint64_t size = align * (1 + next_rand(seed) % 2);
	struct dax_region_opts *opts;
	struct dax_region *r = NULL;
	char path[128];
	uint64_t *base;
	int ret;

	if (next_rand(seed) & 1)
		snprintf(path, sizeof(path), "memfd:open%u", o->id);
	else
		snprintf(path, sizeof(path), "%s/file%u", o->dir, o->id);
	stress_check(!dax_region_opts_new(&opts), "opts");
	dax_region_opts_set_align(opts, align);
	dax_region_opts_set_size(opts, size);
	dax_region_opts_set_flags(opts, DAX_REGION_CREATE *
						(path[0] == '/'));
	ret = dax_region_open(path, opts, &r);
	dax_region_opts_delete(&opts);
	stress_check(!ret, "open %s: %d", path, ret);
	if (path[0] == '/')
		unlink(path);	/* the mapping keeps the file alive */
	base = dax_region_get_base(r);
	stress_check((uintptr_t)base % align == 0, "base %p not aligned",
		     (void *)base);
	for (uint64_t i = 0; i < size / 8; i += 512)
		base[i] = i ^ o->id;
	stress_check(!dax_region_persist(r, 0, size), "persist");
	for (uint64_t i = 0; i < size / 8; i += 512)
		stress_check(base[i] == (i ^ o->id), "read back");
	stress_check(!dax_region_kill(r), "kill");
	stress_check(dax_region_persist(r, 0, 8) == -ENXIO,
		     "persist after kill");
	stress_check(!dax_region_close(&r), "close");
	return true;
}

static void *opener_thread(void *arg)
{
	struct opener *o = arg;
	uint64_t seed = 0x1234567 + o->id * 0x9e3779b97f4a7c15ULL;

	while (stress_now() < o->end) {
		if (!one_region(o, &seed)) {
			o->failures++;
			break;
		}
		o->opened++;
	}
	return NULL;
}

static bool open_map_persist_in_parallel(void)
{
	struct opener o[NR_WORKERS];
	pthread_t t[NR_WORKERS];
	char dir[] = "/tmp/libdax-stress.XXXXXX";
	long opened = 0;
	int failures = 0;

	stress_check(mkdtemp(dir), "mkdtemp");
	for (unsigned i = 0; i < NR_WORKERS; i++) {
		o[i] = (struct opener){ .id = i,
					.end = stress_now() +
					       scenario_seconds() };
		snprintf(o[i].dir, sizeof(o[i].dir), "%s", dir);
		pthread_create(&t[i], NULL, opener_thread, &o[i]);
	}
	for (unsigned i = 0; i < NR_WORKERS; i++) {
		pthread_join(t[i], NULL);
		opened += o[i].opened;
		failures += o[i].failures;
	}
	rmdir(dir);
	printf("     %ld regions opened, mapped, persisted, killed, closed\n",
	       opened);
	stress_check(failures == 0, "%d threads failed", failures);
	return true;
}

int main(void)
{
	stress_run(kill_stops_new_operations);
	stress_run(close_waits_for_users);
	stress_run(open_map_persist_in_parallel);
	return stress_report();
}
