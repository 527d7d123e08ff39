// SPDX-License-Identifier: MIT
/*
 * Pin/unpin throughput (dax_pin_range + dax_unpin) with 1 and 2 threads
 * against one shared atomic counter taken and dropped the same way (the
 * design pins avoid), and dax_truncate() latency with 0, 1 and 1000 pins
 * outstanding (held on pages below the cut, released by a helper thread
 * after 1 ms so that the truncate has to drain them).  Best of several short
 * interleaved runs: the machine is small and shared.  Prints RATIO lines
 * (bench/bench.h); DAX_BENCH_QUICK=1 makes fewer, shorter runs.
 *
 * The wall-clock rates need two idle CPUs to show scaling.  On a busy
 * machine the two threads share what CPU time they get, so the program
 * also reports the CPU time each pair cost (per-thread CPU clocks summed):
 * a cost per pair that stays flat from 1 to 2 threads means nothing is
 * shared, whatever the wall clock says.
 *
 *   make B=build bench && ./build/bench/pin_bench
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "libdax.h"

static int runs = 5;
static int nr_ops = 3000000;

static struct dax_mapping *m;
static const struct dax_mapping_ops ops;
static _Atomic long shared __attribute__((aligned(64)));
static pthread_barrier_t bar;

static double cpu_used[2];	/* seconds of CPU each thread's loop took */

static void *pin_loop(void *arg)
{
	uint64_t idx = (uintptr_t)arg * 64;
	double c0;

	pthread_barrier_wait(&bar);
	c0 = bench_cpu_now();
	for (int i = 0; i < nr_ops; i++) {
		struct dax_pin *p;

		if (dax_pin_range(m, idx, idx, 0, &p))
			abort();
		dax_unpin(&p);
	}
	cpu_used[(uintptr_t)arg] = bench_cpu_now() - c0;
	return NULL;
}

static void *shared_loop(void *arg)
{
	double c0;

	pthread_barrier_wait(&bar);
	c0 = bench_cpu_now();
	for (int i = 0; i < nr_ops; i++) {
		atomic_fetch_add(&shared, 1);
		atomic_fetch_sub(&shared, 1);
	}
	cpu_used[(uintptr_t)arg] = bench_cpu_now() - c0;
	return NULL;
}

/* Million pin+unpin pairs per second over @n threads; *@cpu_ns: CPU
 * nanoseconds per pair. */
static double run(void *(*fn)(void *), unsigned n, double *cpu_ns)
{
	pthread_t t[2];
	double t0, cpu = 0;

	pthread_barrier_init(&bar, NULL, n + 1);
	for (uintptr_t i = 0; i < n; i++)
		pthread_create(&t[i], NULL, fn, (void *)i);
	pthread_barrier_wait(&bar);
	t0 = bench_now();
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&bar);
	for (unsigned i = 0; i < n; i++)
		cpu += cpu_used[i];
	*cpu_ns = cpu * 1e9 / ((double)n * nr_ops);
	return (double)n * nr_ops / (bench_now() - t0) / 1e6;
}

struct holder {
	struct dax_pin **pins;
	unsigned n;
};

static void *release_later(void *arg)
{
	struct holder *h = arg;

	usleep(1000);
	for (unsigned i = 0; i < h->n; i++)
		dax_unpin(&h->pins[i]);
	return NULL;
}

/* Microseconds of one truncate of 16 MiB of 4 KiB entries down to 8 MiB,
 * with @n pins outstanding (released 1 ms in); -1 on failure. */
static double truncate_us(unsigned n)
{
	static struct dax_pin *pins[1000];
	struct holder h = { pins, n };
	struct dax_fault_ext ext;
	pthread_t t;
	double t0, us;

	if (dax_truncate(m, 16 << 20))
		return -1;
	for (uint64_t i = 2048; i < 4096; i += 16)
		if (dax_fault(m, i, DAX_FAULT_WRITE, &ext))
			return -1;
	for (unsigned i = 0; i < n; i++)
		if (dax_pin_range(m, i, i, 0, &pins[i]))
			return -1;
	if (n)
		pthread_create(&t, NULL, release_later, &h);
	t0 = bench_now();
	if (dax_truncate(m, 8 << 20))
		return -1;
	us = (bench_now() - t0) * 1e6;
	if (n)
		pthread_join(t, NULL);
	return us;
}

int main(void)
{
	struct dax_region_opts *o;
	struct dax_region *r;
	double best[4] = { 0 }, lat[3] = { 1e30, 1e30, 1e30 };
	double cpu[4] = { 1e30, 1e30, 1e30, 1e30 };
	static const unsigned npins[3] = { 0, 1, 1000 };

	if (bench_quick()) {
		runs = 3;
		nr_ops = 1000000;
	}
	if (dax_region_opts_new(&o))
		return 1;
	dax_region_opts_set_size(o, 64 << 20);
	if (dax_region_open("memfd:pin-bench", o, &r)) {
		fprintf(stderr, "open: %s\n", dax_errormsg());
		return 1;
	}
	dax_region_opts_delete(&o);
	if (dax_mapping_new(r, &ops, NULL, 16 << 20, &m))
		return 1;
	for (int k = 0; k < runs; k++) {
		double c[4], v[4] = { run(pin_loop, 1, &c[0]),
				      run(shared_loop, 1, &c[1]),
				      run(pin_loop, 2, &c[2]),
				      run(shared_loop, 2, &c[3]) };

		for (int i = 0; i < 4; i++) {
			if (v[i] > best[i])
				best[i] = v[i];
			if (c[i] < cpu[i])
				cpu[i] = c[i];
		}
		for (int i = 0; i < 3; i++) {
			double us = truncate_us(npins[i]);

			if (us < 0) {
				fprintf(stderr, "truncate: %s\n",
					dax_errormsg());
				return 1;
			}
			if (us < lat[i])
				lat[i] = us;
		}
	}
	printf("pin+unpin, 1 thread:  %7.2f M/s   shared atomic: %7.2f M/s\n",
	       best[0], best[1]);
	printf("pin+unpin, 2 threads: %7.2f M/s   shared atomic: %7.2f M/s\n",
	       best[2], best[3]);
	bench_ratio("pin", "pin+unpin 1 thread vs shared atomic",
		    best[0] / best[1], "", "shared atomic, 1 thread");
	bench_ratio("pin", "2 threads vs shared atomic", best[2] / best[3],
		    ">=4", "shared atomic, 2 threads");
	bench_ratio("pin", "scaling 1->2 threads", best[2] / best[0], ">=1.8",
		    "pins, 1 thread");
	printf("CPU per pair: pins %.2f ns (1 thread) %.2f ns (2 threads), "
	       "shared atomic %.2f ns / %.2f ns\n", cpu[0], cpu[2], cpu[1],
	       cpu[3]);
	bench_ratio("pin", "CPU per pair, shared atomic / pins, 2 threads",
		    cpu[3] / cpu[2], "", "shared atomic, 2 threads");
	bench_ratio("pin", "CPU per pair, 1 thread / 2 threads (pins)",
		    cpu[0] / cpu[2], "", "pins, 1 thread");
	for (int i = 0; i < 3; i++) {
		char metric[64];

		printf("truncate 8 MiB (128 entries) with %4u pins outstanding "
		       "(released after 1 ms when any): %8.1f us\n",
		       npins[i], lat[i]);
		if (i == 0)
			continue;
		/* a ratio, as every RATIO line is: the cost of waiting */
		snprintf(metric, sizeof(metric),
			 "truncate with %u pins released after 1 ms", npins[i]);
		bench_ratio("pin", metric, lat[i] / lat[0], "",
			    "truncate with no pin");
	}
	dax_truncate(m, 0);
	dax_mapping_put(&m);
	dax_region_close(&r);
	return 0;
}
