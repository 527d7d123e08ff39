/* SPDX-License-Identifier: MIT */
/*
 * workload.h: the multithreaded workload and the crash-test child of the
 * kvstore example, shared by main.c and the tests (tests/kvstore*.c).
 */
#ifndef KV_WORKLOAD_H
#define KV_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "kvstore.h"

/* Latency histogram: log-linear, 32 steps per power of two (3% wide). */
#define WL_HIST_BUCKETS (64 + 40 * 32)

struct wl_hist {
	uint64_t n, sum_ns;
	uint64_t bucket[WL_HIST_BUCKETS];
};

void wl_hist_add(struct wl_hist *h, uint64_t ns);
void wl_hist_merge(struct wl_hist *to, const struct wl_hist *from);
/* The @pct percentile in ns (0 for an empty histogram). */
uint64_t wl_hist_pct(const struct wl_hist *h, double pct);

struct wl_opts {
	unsigned threads;	/* worker threads */
	double seconds;		/* how long, when @ops is 0 */
	uint64_t ops;		/* total operations (0: run @seconds) */
	unsigned keys;		/* key space: key0 .. key<keys-1> */
	unsigned value_size;	/* mean value size; values vary +-50% */
	unsigned read_pct;	/* share of gets; of the rest, 1 in 20 is a
				   delete, the others puts */
	/* Called about once a second from the thread that runs wl_run(),
	 * with the operations done so far. */
	void (*tick)(void *priv, double elapsed, uint64_t ops);
	void *tick_priv;
};

struct wl_result {
	double seconds;
	uint64_t ops, puts, gets, deletes, misses;
	uint64_t bad_values;	/* gets that returned bytes that are not a
				   value ever put for that key: must be 0 */
	uint64_t errors;	/* calls that failed otherwise */
	char first_error[768];
	struct wl_hist get_lat, put_lat;
};

int wl_run(struct kv_store *kv, const struct wl_opts *o, struct wl_result *r);

/* Keys and values.  A value names its key and version and is otherwise
 * pseudo-random from them, so a reader can tell a right one from bytes
 * that merely look plausible. */
#define WL_KEY_MAX 32
size_t wl_key(unsigned k, char *buf);
void wl_value(unsigned k, uint64_t version, void *buf, size_t len);
/* 0 and *@version when @buf is a value of key @k; -1 when not. */
int wl_value_check(unsigned k, const void *buf, size_t len,
		   uint64_t *version);

/*
 * The crash test.  Operation n of a fixed sequence is either a put of
 * key crash_op_key(n) with a value of version n, or a delete of it.
 * wl_crash_child() opens the store at @path, applies operations from
 * @start on, commits after batches of random size (and compacts now and
 * then), and after each commit writes "N\n" to @fd: every operation below
 * N is committed.  It runs until killed.
 */
#define WL_CRASH_KEYS 256
struct crash_op {
	unsigned key;
	bool del;
	size_t vlen;
};
void crash_op(uint64_t n, struct crash_op *op);
int wl_crash_child(const char *path, uint64_t size, uint64_t start, int fd);

#endif /* KV_WORKLOAD_H */
