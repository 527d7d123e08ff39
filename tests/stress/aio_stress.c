// SPDX-License-Identifier: MIT
/*
 * Async transfers racing with truncate and hole punch (libdax/aio.c).
 *
 * Writers own disjoint 64 KiB ranges of a mapping and the same ranges of
 * an O_DIRECT file.  Each round a writer pins its range, faults it for
 * writing (2 MiB where the range starts a 2 MiB block that is a hole),
 * fills it with the range's next generation pattern, submits a
 * dax_aio_write() of it with DAX_AIO_NOWAIT (sometimes DAX_AIO_MORE and a
 * separate dax_aio_submit()), drops its own pin and waits for the
 * completion, which a reaper thread collects through a done callback.
 * Then the file range must hold exactly that generation.  The writer reads
 * it back into a scratch range with dax_aio_read() and checks the scratch
 * bytes under a pin.  A changer meanwhile truncates the mapping at random
 * sizes (growing it back) and punches random holes, so blocks are freed
 * and reused all the time: a transfer into or out of a freed block shows
 * as a wrong generation in the file or in the scratch copy.
 *
 * A second scenario checks the ordering itself: a slow reaper (a poll,
 * then a nap) leaves completed requests unreaped for a while, and a
 * changer that saw a request in flight before it truncated must find,
 * once the truncate returned, that a reap call began after the last one
 * that had ended when it looked: the truncate waited for the pin, which
 * only a reap drops.
 *
 * Allowed failures, each counted: a fault past a truncated end (ENXIO), a
 * NOWAIT request while the range drains (EAGAIN), a scratch range past a
 * truncated end (EINVAL).  Anything else, or any event that is not the
 * full length, is a violation.  At the end nothing may be in flight or
 * pinned, and the allocator's used pages must equal the mapped pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "stress.h"
#include "libdax/internal.h"
#include "accounting.h"

#define PAGE 4096u
#define RANGE (64u << 10)
#define RANGE_PAGES (RANGE / PAGE)
#define DATA (8u << 20)			/* ranges live in [0, DATA) */
#define NR_RANGES (DATA / RANGE)
#define SCRATCH DATA			/* each writer's 2 MiB from here */
#define NR_WRITERS 3
#define MAP_SIZE (SCRATCH + NR_WRITERS * (2u << 20))

static struct dax_region *r;
static struct dax_mapping *m;
static struct dax_aio *aio;
static const struct dax_mapping_ops ops;
static int fd = -1, plain_fd = -1;
static _Atomic bool stop, submitters_gone;
static _Atomic long violations, writes_ok, reads_ok, truncates, punches;
static _Atomic long skip_enxio, skip_eagain, skip_einval;

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int64_t result;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint8_t pattern(unsigned range, unsigned gen, unsigned byte)
{
	return (uint8_t)(range * 131 + gen * 17 + byte / 512 * 3 + byte % 7 +
			 1);
}

#define violation(...)                                                         \
	do {                                                                   \
		if (atomic_fetch_add(&violations, 1) < 10) {                   \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, " (%s)\n", dax_errormsg());            \
		}                                                              \
	} while (0)

static void on_done(struct dax_aio *a, const struct dax_aio_event *ev)
{
	struct waiter *w = ev->priv;

	(void)a;
	pthread_mutex_lock(&w->lock);
	w->result = ev->result;
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static int64_t wait_done(struct waiter *w)
{
	int64_t res;

	pthread_mutex_lock(&w->lock);
	while (!w->done)
		pthread_cond_wait(&w->cond, &w->lock);
	w->done = false;
	res = w->result;
	pthread_mutex_unlock(&w->lock);
	return res;
}

static void *reaper(void *arg)
{
	(void)arg;
	for (;;) {
		unsigned nr = 0;
		int n = dax_aio_reap(aio, 1, 16, NULL, 20);

		if (n < 0)
			violation("reap: %s", strerror(-n));
		dax_aio_get_in_flight(aio, &nr);
		if (atomic_load(&submitters_gone) && !nr)
			break;
	}
	return NULL;
}

/* Fault [first page of @off, +RANGE) for writing and fill it: 0 or the
 * fault's errno (the pin is held). */
static int fill(uint64_t off, unsigned range, unsigned gen)
{
	for (unsigned p = 0; p < RANGE_PAGES;) {
		uint64_t index = off / PAGE + p;
		struct dax_fault_ext ext;
		int ret = dax_fault(m, index,
				    DAX_FAULT_WRITE |
					    (index % 512 ? 0 : DAX_FAULT_SIZE_2M),
				    &ext);
		uint64_t end;

		if (ret)
			return ret;
		end = ext.first + (UINT64_C(1) << ext.order);
		for (; index < end && p < RANGE_PAGES; index++, p++) {
			uint8_t *c = (uint8_t *)ext.entry_addr +
				     (index - ext.first) * PAGE;

			for (unsigned b = 0; b < PAGE; b++)
				c[b] = pattern(range, gen, p * PAGE + b);
		}
	}
	return 0;
}

static void count_skip(int ret, const char *what)
{
	if (ret == -ENXIO)
		atomic_fetch_add(&skip_enxio, 1);
	else if (ret == -EAGAIN)
		atomic_fetch_add(&skip_eagain, 1);
	else if (ret == -EINVAL)
		atomic_fetch_add(&skip_einval, 1);
	else
		violation("%s: unexpected %s", what, strerror(-ret));
}

/* Read the range back into the writer's scratch range and check it. */
static void read_back(unsigned id, unsigned range, unsigned gen,
		      struct waiter *w, uint64_t *seed)
{
	uint64_t soff = SCRATCH + (uint64_t)id * (2u << 20) +
			rnd(seed) % ((2u << 20) / RANGE) * RANGE;
	struct dax_pin *pin;
	int64_t res;
	int ret;

	if (dax_pin_range(m, soff / PAGE, (soff + RANGE - 1) / PAGE, 0, &pin))
		return;
	ret = dax_aio_read(aio, fd, (uint64_t)range * RANGE, soff, RANGE,
			   DAX_AIO_NOWAIT, w);
	if (ret) {
		dax_unpin(&pin);
		if (ret != -EINVAL)
			count_skip(ret, "dax_aio_read");
		else
			atomic_fetch_add(&skip_einval, 1);
		return;
	}
	res = wait_done(w);
	if (res != RANGE) {
		violation("read of range %u: result %lld", range,
			  (long long)res);
		dax_unpin(&pin);
		return;
	}
	for (unsigned p = 0; p < RANGE_PAGES; p++) {
		struct dax_fault_ext ext;
		const uint8_t *c;

		if (dax_fault(m, soff / PAGE + p, 0, &ext)) {
			violation("scratch fault under a pin");
			break;
		}
		c = ext.addr;
		for (unsigned b = 0; b < PAGE; b++) {
			if (c[b] != pattern(range, gen, p * PAGE + b)) {
				violation("range %u gen %u: scratch byte "
					  "0x%x is %u", range, gen,
					  p * PAGE + b, c[b]);
				p = RANGE_PAGES;
				break;
			}
		}
	}
	dax_unpin(&pin);
	atomic_fetch_add(&reads_ok, 1);
}

static void *writer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t seed = id * 7919 + 11;
	unsigned gen[NR_RANGES] = { 0 };
	uint8_t *buf = malloc(RANGE);
	struct waiter w;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	w.done = false;
	while (buf && !atomic_load(&stop)) {
		unsigned range = (unsigned)(rnd(&seed) % (NR_RANGES /
							  NR_WRITERS)) *
					 NR_WRITERS + id;
		uint64_t off = (uint64_t)range * RANGE;
		unsigned g = ++gen[range], flags = DAX_AIO_NOWAIT;
		struct dax_pin *pin;
		int64_t res;
		int ret;

		if (range >= NR_RANGES)
			continue;
		if (dax_pin_range(m, off / PAGE, (off + RANGE - 1) / PAGE, 0,
				  &pin))
			continue;
		ret = fill(off, range, g);
		if (ret) {
			dax_unpin(&pin);
			count_skip(ret, "fill");
			continue;
		}
		if (rnd(&seed) % 4 == 0)
			flags |= DAX_AIO_MORE;
		/* NOWAIT: this thread holds a pin, so it must not wait for a
		 * drain (the drain waits for that pin) */
		ret = dax_aio_write(aio, off, RANGE, fd, off, flags, &w);
		if (!ret && (flags & DAX_AIO_MORE) &&
		    dax_aio_submit(aio) < 0)
			violation("dax_aio_submit");
		dax_unpin(&pin);
		if (ret) {
			count_skip(ret, "dax_aio_write");
			continue;
		}
		res = wait_done(&w);
		if (res != RANGE) {
			violation("write of range %u: result %lld", range,
				  (long long)res);
			continue;
		}
		if (pread(plain_fd, buf, RANGE, (off_t)off) != RANGE) {
			violation("pread");
			continue;
		}
		for (unsigned b = 0; b < RANGE; b++) {
			if (buf[b] != pattern(range, g, b)) {
				violation("range %u gen %u: file byte 0x%x "
					  "is %u, want %u", range, g, b,
					  buf[b], pattern(range, g, b));
				break;
			}
		}
		atomic_fetch_add(&writes_ok, 1);
		if (rnd(&seed) % 2)
			read_back(id, range, g, &w, &seed);
	}
	free(buf);
	pthread_mutex_destroy(&w.lock);
	pthread_cond_destroy(&w.cond);
	return NULL;
}

static void *changer(void *arg)
{
	uint64_t seed = 4242;

	(void)arg;
	while (!atomic_load(&stop)) {
		uint64_t pages = MAP_SIZE / PAGE;
		uint64_t lo = pages / 4 + rnd(&seed) % (pages - pages / 4);
		bool punch = rnd(&seed) % 2;
		int ret;

		if (punch) {
			uint64_t n = 1 + rnd(&seed) % 700;

			if (lo + n > pages)
				n = pages - lo;
			lo = rnd(&seed) % (pages - n + 1);
			ret = dax_punch_hole(m, lo * PAGE, n * PAGE);
		} else {
			ret = dax_truncate(m, lo * PAGE);
			if (!ret)
				ret = dax_truncate(m, MAP_SIZE);
		}
		if (ret)
			violation("%s: %s", punch ? "punch" : "truncate",
				  strerror(-ret));
		atomic_fetch_add(punch ? &punches : &truncates, 1);
		usleep((useconds_t)(rnd(&seed) % 3000));
	}
	return NULL;
}

/*
 * What both scenarios run in: a file opened O_DIRECT as fd (and plainly as
 * plain_fd when @plain, for checking reads), a memfd region @name, a mapping
 * of MAP_SIZE on it, and an aio context of @depth calling @done.
 */
static bool world_open(const char *name, bool plain, unsigned depth,
		       dax_aio_done_fn done)
{
	char path[] = "/var/tmp/libdax-aio-stress.XXXXXX";
	struct dax_region_opts *o;
	int tmp;

	tmp = mkstemp(path);
	stress_check(tmp >= 0, "mkstemp %s", path);
	close(tmp);
	fd = open(path, O_RDWR | O_DIRECT);
	if (plain)
		plain_fd = open(path, O_RDWR);
	unlink(path);
	stress_check(fd >= 0 && (!plain || plain_fd >= 0),
		     "O_DIRECT open of %s", path);
	stress_check(dax_region_opts_new(&o) == 0, "opts");
	dax_region_opts_set_size(o, 64u << 20);
	stress_check(dax_region_open(name, o, &r) == 0, "open");
	dax_region_opts_delete(&o);
	stress_check(dax_mapping_new(r, &ops, NULL, MAP_SIZE, &m) == 0,
		     "mapping");
	stress_check(dax_aio_setup(m, depth, &aio) == 0, "dax_aio_setup");
	stress_check(dax_aio_set_done(aio, done) == 0, "set_done");
	return true;
}

/*
 * Run @reap_fn, @nr threads of @submit_fn (each given its number) and
 * @change_fn for the scenario's time, then stop them; the reaper goes last,
 * once the submitters are gone, so that it reaps what they left in flight.
 */
static void world_run(void *(*reap_fn)(void *), void *(*submit_fn)(void *),
		      unsigned nr, void *(*change_fn)(void *))
{
	pthread_t t[16];
	unsigned n = 0;
	double end;

	if (nr + 2 > sizeof(t) / sizeof(t[0]))
		abort();	/* a scenario asked for more threads than t[] */
	atomic_store(&stop, false);
	atomic_store(&submitters_gone, false);
	pthread_create(&t[n++], NULL, reap_fn, NULL);
	for (uintptr_t i = 0; i < nr; i++)
		pthread_create(&t[n++], NULL, submit_fn, (void *)i);
	pthread_create(&t[n++], NULL, change_fn, NULL);
	end = stress_now() + stress_seconds();
	while (stress_now() < end)
		usleep(10000);
	atomic_store(&stop, true);
	for (unsigned i = n; i-- > 1;)
		pthread_join(t[i], NULL);
	atomic_store(&submitters_gone, true);
	pthread_join(t[0], NULL);
}

static bool aio_transfers_race_truncate_and_punch(void)
{
	struct dax_alloc_stats st;
	uint64_t mapped;
	unsigned nr = 99;

	if (!world_open("memfd:aio-stress", true, 32, on_done))
		return false;
	stress_check(ftruncate(fd, DATA) == 0, "ftruncate");
	world_run(reaper, writer, NR_WRITERS, changer);
	printf("  %ld writes and %ld reads checked, %ld truncates, %ld "
	       "punches; skipped: %ld ENXIO, %ld EAGAIN, %ld EINVAL\n",
	       atomic_load(&writes_ok), atomic_load(&reads_ok),
	       atomic_load(&truncates), atomic_load(&punches),
	       atomic_load(&skip_enxio), atomic_load(&skip_eagain),
	       atomic_load(&skip_einval));
	stress_check(atomic_load(&violations) == 0, "%ld violations",
		     atomic_load(&violations));
	stress_check(atomic_load(&writes_ok) > 0 && atomic_load(&reads_ok) > 0,
		     "no transfer was checked");
	stress_check(dax_aio_get_in_flight(aio, &nr) == 0 && nr == 0,
		     "%u requests left in flight", nr);
	stress_check(dax_aio_teardown(&aio) == 0, "teardown");
	stress_check(dax_break_layouts(m, 0, DAX_MAPPING_MAX_INDEX, 0) == 0,
		     "a pin was left behind");
	mapped = stress_mapped_pages(m);
	stress_settled_alloc_stats(r, &st);
	stress_check(st.used_pages == mapped,
		     "allocator has %llu pages in use, entries map %llu",
		     (unsigned long long)st.used_pages,
		     (unsigned long long)mapped);
	stress_check(dax_truncate(m, 0) == 0, "final truncate");
	dax_mapping_put(&m);
	stress_check(dax_region_close(&r) == 0, "close");
	close(fd);
	close(plain_fd);
	return true;
}

/* ---- truncate waits for the reap ------------------------------------------ */

#define NR_SUBMITTERS 2

static _Atomic long reap_begin, reap_end, ordered_checks;
/* per submitter: the last request submitted (stored once dax_aio_write()
 * returned, so its pin is held) and the last one whose callback ran */
static _Atomic long submitted_gen[NR_SUBMITTERS], reaped_gen[NR_SUBMITTERS];

struct submission {
	struct waiter w;		/* first: the callback's priv */
	unsigned id;
	long gen;
};

static void on_done_flag(struct dax_aio *a, const struct dax_aio_event *ev)
{
	struct submission *sub = ev->priv;
	struct waiter *w = &sub->w;

	(void)a;
	if (ev->result != PAGE && ev->result != -ENXIO)
		violation("a write ended with %lld", (long long)ev->result);
	atomic_store(&reaped_gen[sub->id], sub->gen);
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void *slow_reaper(void *arg)
{
	uint64_t seed = 99;

	(void)arg;
	for (;;) {
		unsigned nr = 0;
		int n;

		atomic_fetch_add(&reap_begin, 1);
		n = dax_aio_reap(aio, 0, 16, NULL, 0);
		atomic_fetch_add(&reap_end, 1);
		if (n < 0)
			violation("reap: %s", strerror(-n));
		dax_aio_get_in_flight(aio, &nr);
		if (atomic_load(&submitters_gone) && !nr)
			break;
		usleep((useconds_t)(rnd(&seed) % 3000));
	}
	return NULL;
}

static void *submitter(void *arg)
{
	struct submission sub = { .id = (unsigned)(uintptr_t)arg };
	struct waiter *w = &sub.w;
	uint64_t seed = sub.id * 1299709 + 5;

	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->done = false;
	while (!atomic_load(&stop)) {
		uint64_t off = rnd(&seed) % (DATA / PAGE) * PAGE;
		int ret;

		sub.gen++;
		ret = dax_aio_write(aio, off, PAGE, fd, off, 0, &sub);
		if (ret) {
			count_skip(ret, "dax_aio_write");
			usleep(100);
			continue;
		}
		atomic_store(&submitted_gen[sub.id], sub.gen); /* pinned */
		pthread_mutex_lock(&w->lock);
		while (!w->done)
			pthread_cond_wait(&w->cond, &w->lock);
		w->done = false;
		pthread_mutex_unlock(&w->lock);
	}
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	return NULL;
}

static void *ordered_changer(void *arg)
{
	uint64_t seed = 777;

	(void)arg;
	while (!atomic_load(&stop)) {
		uint64_t size = rnd(&seed) % (DATA / PAGE) * PAGE;
		long e0 = atomic_load(&reap_end);
		bool any = false;
		int ret;

		/* a request submitted, whose callback had not run when we
		 * looked: its pin was held, or dropped by a reap still
		 * running (reap_end not yet past e0) */
		for (unsigned i = 0; i < NR_SUBMITTERS; i++) {
			long sg = atomic_load(&submitted_gen[i]);

			any |= atomic_load(&reaped_gen[i]) < sg;
		}
		ret = dax_truncate(m, size);
		if (!ret && any) {
			if (atomic_load(&reap_begin) <= e0)
				violation("a truncate returned while a "
					  "request it saw was unreaped");
			atomic_fetch_add(&ordered_checks, 1);
		}
		if (!ret)
			ret = dax_truncate(m, MAP_SIZE);
		if (ret)
			violation("truncate: %s", strerror(-ret));
		atomic_fetch_add(&truncates, 1);
		usleep((useconds_t)(rnd(&seed) % 1000));
	}
	return NULL;
}

static bool truncate_returns_only_after_the_reap(void)
{
	atomic_store(&truncates, 0);
	for (unsigned i = 0; i < NR_SUBMITTERS; i++) {
		atomic_store(&submitted_gen[i], 0);
		atomic_store(&reaped_gen[i], 0);
	}
	if (!world_open("memfd:aio-stress2", false, 8, on_done_flag))
		return false;
	world_run(slow_reaper, submitter, NR_SUBMITTERS, ordered_changer);
	printf("  %ld truncates, %ld of them with a request in flight\n",
	       atomic_load(&truncates), atomic_load(&ordered_checks));
	stress_check(atomic_load(&violations) == 0, "%ld violations",
		     atomic_load(&violations));
	stress_check(atomic_load(&ordered_checks) > 0,
		     "no truncate ran with a request in flight");
	stress_check(dax_aio_teardown(&aio) == 0, "teardown");
	stress_check(dax_truncate(m, 0) == 0, "final truncate");
	dax_mapping_put(&m);
	stress_check(dax_region_close(&r) == 0, "close");
	close(fd);
	return true;
}

int main(void)
{
	stress_run(aio_transfers_race_truncate_and_punch);
	stress_run(truncate_returns_only_after_the_reap);
	return stress_report();
}
