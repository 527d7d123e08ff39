// SPDX-License-Identifier: MIT
/*
 * Concurrency stress for the heap (libdax/heap.c).
 *
 * - objects: threads allocate, grow, shrink and free objects of 1 B to
 *   256 KiB in one heap, and pass objects to each other through mailboxes
 *   (so that each thread frees objects another thread allocated, through
 *   its own cache).  Every object carries its size and a pattern that is
 *   checked before it is freed: two holders of one byte would show.
 * - lifetimes: heaps are created and destroyed over and over while other
 *   threads use a long-lived heap of the same region; short-lived threads
 *   use a heap and exit after it is destroyed (their cache tables must
 *   outlive it safely).
 * Each scenario ends with every heap destroyed: the region's allocator
 * must have all of its pages free again, and dax_alloc_check() must pass.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "stress.h"
#include "libdax/internal.h"

#define NR_THREADS 4
#define MAILBOXES 64
#define REGION_SIZE (512ULL << 20)

static struct dax_region *region;
static struct dax_alloc *alloc;
static atomic_bool stop;
static atomic_int violations;
static atomic_uint_fast64_t ops;

static void violation(const char *what, const void *p, uint64_t extra)
{
	if (atomic_fetch_add(&violations, 1) < 10)
		fprintf(stderr, "VIOLATION: %s: %p (0x%llx)\n", what, p,
			(unsigned long long)extra);
}

static bool open_region(void)
{
	struct dax_region_opts *opts;
	int ret;

	if (dax_region_opts_new(&opts) ||
	    dax_region_opts_set_size(opts, REGION_SIZE))
		return false;
	ret = dax_region_open("memfd:heap-stress", opts, &region);
	dax_region_opts_delete(&opts);
	if (ret || dax_alloc_get(region, &alloc))
		return false;
	atomic_store(&stop, false);
	atomic_store(&violations, 0);
	atomic_store(&ops, 0);
	return true;
}

static bool all_back(void)
{
	struct dax_alloc_stats st;

	stress_check(atomic_load(&violations) == 0, "%d violations",
		     atomic_load(&violations));
	stress_check(dax_alloc_get_stats(region, &st) == 0, "stats");
	stress_check(st.free_pages == st.total_pages,
		     "%llu of %llu pages free after every heap was destroyed",
		     (unsigned long long)st.free_pages,
		     (unsigned long long)st.total_pages);
	stress_check(dax_alloc_check(alloc) == 0, "check");
	stress_check(dax_region_close(&region) == 0, "close");
	return true;
}

/* ---- objects ------------------------------------------------------------ */

/* An object: its length and a pattern byte, then the pattern. */
struct obj {
	size_t len;
	unsigned char pat;
	unsigned char data[];
};

static struct obj *obj_new(struct dax_heap *h, size_t len, unsigned char pat)
{
	struct obj *o = dax_heap_malloc(h, sizeof(*o) + len);

	if (!o) {
		violation("malloc failed", NULL, len);
		return NULL;
	}
	o->len = len;
	o->pat = pat;
	memset(o->data, pat, len);
	return o;
}

static void obj_check(const struct obj *o)
{
	for (size_t i = 0; i < o->len; i += 1 + o->len / 64)
		if (o->data[i] != o->pat) {
			violation("object overwritten", o, i);
			return;
		}
	if (o->len && o->data[o->len - 1] != o->pat)
		violation("object tail overwritten", o, o->len);
}

static struct dax_heap *shared_heap;
static _Atomic(struct obj *) mailbox[MAILBOXES];

static size_t some_size(unsigned *seed)
{
	switch (rand_r(seed) % 16) {
	case 0:
		return (size_t)rand_r(seed) % (256 << 10);
	case 1:
	case 2:
		return (size_t)rand_r(seed) % 16384;
	default:
		return (size_t)rand_r(seed) % 512;
	}
}

static void *objects_main(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
	struct dax_heap *h = shared_heap;
	struct obj *mine[128] = { NULL };

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		int i = rand_r(&seed) % 128;
		struct obj *o = mine[i];

		switch (rand_r(&seed) % 4) {
		case 0:	/* free */
			if (o) {
				obj_check(o);
				dax_heap_free(h, o);
				mine[i] = NULL;
			}
			break;
		case 1:	/* resize, keeping the pattern of the prefix */
			if (o) {
				size_t len = some_size(&seed), keep;

				obj_check(o);
				keep = len < o->len ? len : o->len;
				o = dax_heap_realloc(h, o, sizeof(*o) + len);
				if (!o) {
					violation("realloc failed", mine[i], len);
					break;
				}
				for (size_t k = 0; k < keep; k += 97)
					if (o->data[k] != o->pat)
						violation("realloc lost data", o,
							  k);
				o->len = len;
				memset(o->data, o->pat, len);
				mine[i] = o;
			}
			break;
		case 2:	/* swap with a mailbox: free what another made */
			if (o) {
				struct obj *theirs = atomic_exchange(
					&mailbox[rand_r(&seed) % MAILBOXES], o);

				mine[i] = NULL;
				if (theirs) {
					obj_check(theirs);
					dax_heap_free(h, theirs);
				}
			}
			break;
		default:
			if (!o)
				mine[i] = obj_new(h, some_size(&seed),
						  (unsigned char)rand_r(&seed));
			break;
		}
		atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
	}
	for (int i = 0; i < 128; i++) {
		if (mine[i]) {
			obj_check(mine[i]);
			dax_heap_free(h, mine[i]);
		}
	}
	return NULL;
}

static void run_for_a_while(void *(*fn)(void *), int n)
{
	pthread_t t[NR_THREADS];

	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, fn, (void *)(uintptr_t)(i + 1));
	usleep((useconds_t)(stress_seconds() * 1e6));
	atomic_store(&stop, true);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

static bool objects(void)
{
	struct dax_heap_stats st;

	stress_check(open_region(), "open: %s", dax_errormsg());
	stress_check(dax_heap_create(region, NULL, &shared_heap) == 0,
		     "create");
	run_for_a_while(objects_main, NR_THREADS);
	for (int i = 0; i < MAILBOXES; i++) {
		struct obj *o = atomic_exchange(&mailbox[i], NULL);

		if (o) {
			obj_check(o);
			dax_heap_free(shared_heap, o);
		}
	}
	stress_check(dax_heap_get_stats(shared_heap, &st) == 0, "stats");
	printf("     objects: %.0f operations, peak %.1f MiB of the region, "
	       "%u thread caches\n",
	       (double)atomic_load(&ops), st.peak_region_bytes / 1048576.0,
	       st.nr_tcaches);
	stress_check(dax_heap_destroy(&shared_heap) == 0, "destroy: %s",
		     dax_errormsg());
	return all_back();
}

/* ---- lifetimes -------------------------------------------------------------- */

/* Use a private heap briefly, from this thread and from a helper. */
struct helper {
	struct dax_heap *heap;
	atomic_int state;	/* 1: used it; 2: may exit */
};

static void *helper_main(void *arg)
{
	struct helper *hp = arg;
	struct obj *o = obj_new(hp->heap, 100, 0x5a);

	if (o) {
		obj_check(o);
		dax_heap_free(hp->heap, o);
	}
	atomic_store(&hp->state, 1);
	while (atomic_load(&hp->state) != 2)
		usleep(100);
	return NULL;	/* exits after the heap is gone */
}

static void *creator_main(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct helper hp = { NULL, 0 };
		struct obj *keep[32];
		pthread_t t;

		if (dax_heap_create(region, NULL, &hp.heap)) {
			violation("create failed", NULL, 0);
			continue;
		}
		pthread_create(&t, NULL, helper_main, &hp);
		for (int i = 0; i < 32; i++)
			keep[i] = obj_new(hp.heap, some_size(&seed),
					  (unsigned char)i);
		for (int i = 0; i < 32; i += 2)
			if (keep[i])
				obj_check(keep[i]);
		while (atomic_load(&hp.state) != 1)
			usleep(100);
		/* Destroy with objects still allocated. */
		if (dax_heap_destroy(&hp.heap))
			violation("destroy failed", NULL, 0);
		atomic_store(&hp.state, 2);
		pthread_join(t, NULL);
		atomic_fetch_add_explicit(&ops, 1, memory_order_relaxed);
	}
	return NULL;
}

static bool lifetimes(void)
{
	pthread_t t[NR_THREADS];

	stress_check(open_region(), "open: %s", dax_errormsg());
	stress_check(dax_heap_create(region, NULL, &shared_heap) == 0,
		     "create");
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, objects_main,
			       (void *)(uintptr_t)(i + 1));
	for (int i = 2; i < 4; i++)
		pthread_create(&t[i], NULL, creator_main,
			       (void *)(uintptr_t)(i + 1));
	usleep((useconds_t)(stress_seconds() * 1e6));
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < MAILBOXES; i++) {
		struct obj *o = atomic_exchange(&mailbox[i], NULL);

		if (o)
			dax_heap_free(shared_heap, o);
	}
	printf("     lifetimes: %.0f operations and heap lifetimes\n",
	       (double)atomic_load(&ops));
	stress_check(dax_heap_destroy(&shared_heap) == 0, "destroy");
	return all_back();
}

int main(void)
{
	stress_run(objects);
	stress_run(lifetimes);
	return stress_report();
}
