// SPDX-License-Identifier: MIT
/*
 * workload.c: what drives the kvstore example: a multithreaded mix of
 * gets, puts and deletes with latency histograms, and the crash-test
 * child.  See workload.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "workload.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ---- histograms ---------------------------------------------------------------- */

static unsigned hist_bucket(uint64_t ns)
{
	unsigned msb, b;

	if (ns < 64)
		return (unsigned)ns;
	msb = 63 - (unsigned)__builtin_clzll(ns);
	b = 64 + (msb - 6) * 32 + (unsigned)((ns >> (msb - 5)) & 31);
	return b < WL_HIST_BUCKETS ? b : WL_HIST_BUCKETS - 1;
}

/* The smallest value that falls in bucket @b. */
static uint64_t hist_value(unsigned b)
{
	unsigned msb;

	if (b < 64)
		return b;
	msb = (b - 64) / 32 + 6;
	return ((uint64_t)32 + (b - 64) % 32) << (msb - 5);
}

void wl_hist_add(struct wl_hist *h, uint64_t ns)
{
	h->n++;
	h->sum_ns += ns;
	h->bucket[hist_bucket(ns)]++;
}

void wl_hist_merge(struct wl_hist *to, const struct wl_hist *from)
{
	to->n += from->n;
	to->sum_ns += from->sum_ns;
	for (unsigned i = 0; i < WL_HIST_BUCKETS; i++)
		to->bucket[i] += from->bucket[i];
}

uint64_t wl_hist_pct(const struct wl_hist *h, double pct)
{
	uint64_t want = (uint64_t)(h->n * pct / 100.0), seen = 0;

	if (!h->n)
		return 0;
	for (unsigned i = 0; i < WL_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen > want)
			return hist_value(i);
	}
	return hist_value(WL_HIST_BUCKETS - 1);
}

/* ---- keys and values ------------------------------------------------------------------ */

size_t wl_key(unsigned k, char *buf)
{
	return (size_t)snprintf(buf, WL_KEY_MAX, "key%08u", k);
}

/* A value: key (4 bytes), length (4), version (8), then bytes from a
 * generator seeded by all three. */
void wl_value(unsigned k, uint64_t version, void *buf, size_t len)
{
	unsigned char *p = buf;
	uint64_t s = version * 0x100000001b3ULL ^ k ^ (uint64_t)len << 40;
	uint32_t l = (uint32_t)len;
	size_t i = 16;

	memcpy(p, &k, 4);
	memcpy(p + 4, &l, 4);
	memcpy(p + 8, &version, 8);
	for (; i + 8 <= len; i += 8) {
		uint64_t r = splitmix(&s);

		memcpy(p + i, &r, 8);
	}
	if (i < len) {
		uint64_t r = splitmix(&s);

		memcpy(p + i, &r, len - i);
	}
}

int wl_value_check(unsigned k, const void *buf, size_t len,
		   uint64_t *version)
{
	unsigned char want[KV_MAX_VALUE > 65536 ? 65536 : KV_MAX_VALUE];
	const unsigned char *p = buf;
	uint32_t key, l;
	uint64_t v;

	if (len < 16 || len > sizeof(want))
		return -1;
	memcpy(&key, p, 4);
	memcpy(&l, p + 4, 4);
	memcpy(&v, p + 8, 8);
	if (key != k || l != len)
		return -1;
	wl_value(k, v, want, len);
	if (memcmp(want, buf, len))
		return -1;
	*version = v;
	return 0;
}

/* ---- the workload ------------------------------------------------------------------------- */

struct worker {
	pthread_t thread;
	struct kv_store *kv;
	const struct wl_opts *o;
	unsigned id;
	_Atomic bool *stop;
	_Atomic uint64_t *budget;	/* operations left, with o->ops */
	_Atomic uint64_t done;		/* for the progress line */
	struct wl_result r;
};

static void note_error(struct wl_result *r, const char *what, int ret)
{
	if (!r->errors++)
		snprintf(r->first_error, sizeof(r->first_error), "%s: %s: %s",
			 what, strerror(-ret), kv_errormsg());
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct wl_opts *o = w->o;
	uint64_t seed = 0x5eed0000u + w->id, version = 0;
	size_t bufsize = (size_t)o->value_size * 3 / 2 + 64;
	unsigned char *val = malloc(bufsize), *buf = malloc(bufsize);
	char key[WL_KEY_MAX];

	if (!val || !buf) {
		note_error(&w->r, "malloc", -ENOMEM);
		goto out;
	}
	while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
		uint64_t r = splitmix(&seed), t0, v;
		unsigned k = (unsigned)(r % o->keys);
		unsigned dice = (unsigned)((r >> 32) % 100);
		size_t klen = wl_key(k, key), vlen;
		int ret;

		if (o->ops) {
			uint64_t left = atomic_load(w->budget);

			do {
				if (!left)
					goto out;
			} while (!atomic_compare_exchange_weak(w->budget,
							       &left,
							       left - 1));
		}
		t0 = now_ns();
		if (dice < o->read_pct) {
			ret = kv_get(w->kv, key, klen, buf, bufsize, &vlen);
			wl_hist_add(&w->r.get_lat, now_ns() - t0);
			w->r.gets++;
			if (ret == -ENOENT)
				w->r.misses++;
			else if (ret)
				note_error(&w->r, "kv_get", ret);
			else if (wl_value_check(k, buf, vlen, &v))
				w->r.bad_values++;
		} else if (dice % 20 == 0) {
			ret = kv_delete(w->kv, key, klen);
			wl_hist_add(&w->r.put_lat, now_ns() - t0);
			w->r.deletes++;
			if (ret && ret != -ENOENT)
				note_error(&w->r, "kv_delete", ret);
		} else {
			vlen = o->value_size / 2 + splitmix(&seed) %
						   (o->value_size + 1);
			if (vlen < 16)
				vlen = 16;
			/* Versions are unique per thread and key space. */
			wl_value(k, ((uint64_t)w->id << 48) | ++version, val,
				 vlen);
			t0 = now_ns();
			ret = kv_put(w->kv, key, klen, val, vlen);
			wl_hist_add(&w->r.put_lat, now_ns() - t0);
			w->r.puts++;
			if (ret)
				note_error(&w->r, "kv_put", ret);
		}
		w->r.ops++;
		atomic_store_explicit(&w->done, w->r.ops,
				      memory_order_relaxed);
		if (w->r.errors > 100)
			break;
	}
out:
	free(val);
	free(buf);
	return NULL;
}

int wl_run(struct kv_store *kv, const struct wl_opts *o, struct wl_result *r)
{
	_Atomic bool stop = false;
	_Atomic uint64_t budget = o->ops;
	struct worker *w = calloc(o->threads, sizeof(*w));
	uint64_t t0 = now_ns(), next = t0 + 1000000000u;
	unsigned i, started = 0;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (!w || !o->threads || !o->keys) {
		free(w);
		return -EINVAL;
	}
	for (i = 0; i < o->threads; i++) {
		w[i] = (struct worker){ .kv = kv, .o = o, .id = i + 1,
					.stop = &stop, .budget = &budget };
		ret = -pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
		if (ret)
			break;
		started++;
	}
	while (!ret) {
		uint64_t t = now_ns(), done = 0;
		bool finished = o->ops ? atomic_load(&budget) == 0 :
					 t - t0 >= o->seconds * 1e9;

		if (finished)
			break;
		if (t >= next) {
			for (i = 0; i < started; i++)
				done += atomic_load(&w[i].done);
			if (o->tick)
				o->tick(o->tick_priv, (t - t0) / 1e9, done);
			next += 1000000000u;
		}
		usleep(20000);
	}
	atomic_store(&stop, true);
	for (i = 0; i < started; i++) {
		pthread_join(w[i].thread, NULL);
		r->ops += w[i].r.ops;
		r->puts += w[i].r.puts;
		r->gets += w[i].r.gets;
		r->deletes += w[i].r.deletes;
		r->misses += w[i].r.misses;
		r->bad_values += w[i].r.bad_values;
		if (w[i].r.errors && !r->errors)
			memcpy(r->first_error, w[i].r.first_error,
			       sizeof(r->first_error));
		r->errors += w[i].r.errors;
		wl_hist_merge(&r->get_lat, &w[i].r.get_lat);
		wl_hist_merge(&r->put_lat, &w[i].r.put_lat);
	}
	r->seconds = (now_ns() - t0) / 1e9;
	free(w);
	return ret;
}

/* ---- the crash-test child ---------------------------------------------------------------------- */

void crash_op(uint64_t n, struct crash_op *op)
{
	uint64_t s = n * 0x9e3779b97f4a7c15ULL + 12345;
	uint64_t r = splitmix(&s);

	op->key = (unsigned)(r % WL_CRASH_KEYS);
	op->del = (r >> 32) % 10 == 0;
	op->vlen = 16 + (size_t)((r >> 40) % 3000);
}

int wl_crash_child(const char *path, uint64_t size, uint64_t start, int fd)
{
	struct kv_opts ko = { .path = path, .size = size, .commit_ms = -1,
			      .compact_pct = -1, .keys_hint = WL_CRASH_KEYS };
	unsigned char val[3100];
	struct kv_store *kv;
	uint64_t seed = start ^ (uint64_t)getpid() << 20, n = start;
	char key[WL_KEY_MAX], line[32];
	int ret;

	ret = kv_open(&ko, &kv);
	if (ret) {
		fprintf(stderr, "crash child: %s\n", kv_errormsg());
		return ret;
	}
	for (;;) {
		uint64_t batch = 1 + splitmix(&seed) % 64;

		for (uint64_t i = 0; i < batch; i++, n++) {
			struct crash_op op;
			size_t klen;

			crash_op(n, &op);
			klen = wl_key(op.key, key);
			if (op.del) {
				ret = kv_delete(kv, key, klen);
				if (ret == -ENOENT)
					ret = 0;
			} else {
				wl_value(op.key, n, val, op.vlen);
				ret = kv_put(kv, key, klen, val, op.vlen);
			}
			if (ret)
				goto fail;
			if (n % 997 == 0) {
				ret = kv_compact(kv, 0);
				if (ret && ret != -ENOSPC)
					goto fail;
			}
		}
		ret = kv_commit(kv);
		if (ret)
			goto fail;
		snprintf(line, sizeof(line), "%" PRIu64 "\n", n);
		if (write(fd, line, strlen(line)) < 0)
			return -errno;
	}
fail:
	fprintf(stderr, "crash child: op %" PRIu64 ": %s\n", n,
		kv_errormsg());
	return ret;
}
