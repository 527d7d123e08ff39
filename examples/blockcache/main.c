// SPDX-License-Identifier: MIT
/*
 * blockcache: a multithreaded workload over the block cache of cache.c.
 *
 * Writes a backing file in which every 4 KiB block carries a pattern that
 * names the block and a version, opens a region (a memfd by default, or the
 * file or /dev/daxX.Y given with --region), puts a cache smaller than the
 * file in it, and runs threads that pick blocks from a skewed, zipf-like
 * distribution (80% of accesses to 20% of the blocks, recursively; hot
 * blocks spread over the file) and
 *
 *   - read them (copied out under a pin),
 *   - borrow them (a zero-copy pointer under a breakable lease), hold them
 *     a while -- cooperative borrowers return when asked, "rogue" ones keep
 *     the block past the break time and get revoked -- and
 *   - write them through to the file with a new version.
 *
 * Every byte read is checked: the block must carry its own number, every
 * word must match the pattern of the version it claims, and that version
 * must lie between the last write finished before the read began and the
 * last write begun after it ended (no torn, misplaced or stale block).  A
 * borrowed block is checked when borrowed and again after the hold; if
 * the lease was not revoked both must show the same version.  A revoked
 * borrow's bytes are thrown away, as the lease contract says.  Any
 * mismatch makes the exit status 1.
 *
 * Prints throughput, hit rate, read latency percentiles, evictions, and
 * the leases broken and revoked.
 *
 * Build: make B=build build/examples/blockcache  (in the libdax tree)
 * Run:   build/examples/blockcache                 defaults, 2 s
 *        build/examples/blockcache --help
 *        build/examples/blockcache --region /dev/dax0.0
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* pwrite, getopt_long, nanosleep */
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libdax.h>

#include "blockcache.h"

#define MiB (UINT64_C(1) << 20)
#define WORDS (BC_BLOCK_SIZE / 8)
#define VERSION_SHIFT 40
#define VERSION_MAX ((UINT64_C(1) << 24) - 1)
#define WRITE_STRIPES 1024
#define HIST_SUB 16			/* histogram buckets per power of two */
#define HIST_SIZE (64 * HIST_SUB)

struct options {
	const char *region, *file;
	double seconds;
	uint64_t file_mb, cache_mb, slots, ops, threads, shards, skew,
		write_pct, borrow_pct, rogue_pct, hold_us, break_ms, seed;
};

/* Everything the threads share. */
struct world {
	const struct options *o;
	struct bc_cache *cache;
	uint64_t nr_blocks;
	_Atomic uint32_t *started;	/* per block: last version begun */
	_Atomic uint32_t *committed;	/* per block: last version written */
	pthread_mutex_t stripes[WRITE_STRIPES];	/* one writer per block */
	uint64_t scatter;		/* rank -> block, a bijection */
	uint64_t deadline_ns;
	_Atomic bool stop;
	_Atomic uint64_t mismatches;
	pthread_mutex_t print_lock;
};

struct worker {
	struct world *w;
	pthread_t tid;
	uint64_t rng;
	uint64_t reads, writes, borrows, rogue, discarded, verified, errors;
	uint64_t hist[HIST_SIZE];
};

/* ---- the content of the backing file ------------------------------------ */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	return x ^ (x >> 33);
}

/* Word 0 names the block and the version; the rest follow from them. */
static uint64_t pattern_word(uint64_t block, uint64_t version, unsigned i)
{
	if (i == 0)
		return block | version << VERSION_SHIFT;
	return mix64(block * 0x9e3779b97f4a7c15ULL ^ version << 48 ^ i);
}

static void pattern_fill(uint64_t *words, uint64_t block, uint64_t version)
{
	for (unsigned i = 0; i < WORDS; i++)
		words[i] = pattern_word(block, version, i);
}

/*
 * Check a block read while the versions begun/finished were in [lo, hi].
 * Returns 0, or -1 with @why filled.  *@version receives the version seen.
 */
static int pattern_check(const void *data, uint64_t block, uint64_t lo,
			 uint64_t hi, uint64_t *version, char *why,
			 size_t len)
{
	const uint64_t *words = data;
	uint64_t w0 = words[0], v = w0 >> VERSION_SHIFT;

	*version = v;
	if ((w0 & ((UINT64_C(1) << VERSION_SHIFT) - 1)) != block) {
		snprintf(why, len, "block %" PRIu64 " holds block %" PRIu64 "'s"
			 " header", block,
			 w0 & ((UINT64_C(1) << VERSION_SHIFT) - 1));
		return -1;
	}
	if (v < lo || v > hi) {
		snprintf(why, len, "block %" PRIu64 " has version %" PRIu64
			 ", outside [%" PRIu64 ", %" PRIu64 "]%s", block, v,
			 lo, hi, v < lo ? " (stale)" : "");
		return -1;
	}
	for (unsigned i = 1; i < WORDS; i++) {
		if (words[i] != pattern_word(block, v, i)) {
			snprintf(why, len, "block %" PRIu64 " version %" PRIu64
				 ": word %u is 0x%016" PRIx64 ", not 0x%016"
				 PRIx64 " (torn or foreign)", block, v, i,
				 words[i], pattern_word(block, v, i));
			return -1;
		}
	}
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static uint64_t rng_next(uint64_t *s)	/* splitmix64 */
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/*
 * A skewed ("zipfian-ish") choice of block without libm: the self-similar
 * distribution of Gray et al. ("Quickly generating billion-record synthetic
 * databases", 1994).  skew percent of the accesses go to the hottest fifth
 * of the blocks, skew percent of those to the hottest fifth of that fifth,
 * and so on (80 gives the 80/20 rule at every scale).  The ranks are then
 * scattered over the file by a multiplication modulo n, a bijection, so
 * that the hot blocks are not neighbours.
 */
static void skew_init(struct world *w, uint64_t n)
{
	w->scatter = UINT64_C(2654435761) % n;
	while (w->scatter == 0 || gcd(w->scatter, n) != 1)
		w->scatter = (w->scatter + 1) % n;
}

static uint64_t skewed_block(struct worker *k)
{
	const struct world *w = k->w;
	uint64_t n = w->nr_blocks, lo = 0, len = n, rank;

	for (;;) {
		uint64_t hot = len / 5;

		if (hot == 0) {
			rank = lo + rng_next(&k->rng) % len;
			break;
		}
		if (rng_next(&k->rng) % 100 < w->o->skew) {
			len = hot;
			continue;
		}
		rank = lo + hot + rng_next(&k->rng) % (len - hot);
		break;
	}
	return (uint64_t)(((unsigned __int128)rank * w->scatter) % n);
}

static void hist_add(uint64_t *hist, uint64_t ns)
{
	unsigned b;

	if (ns < HIST_SUB) {
		hist[ns]++;
		return;
	}
	b = 63 - (unsigned)__builtin_clzll(ns);	/* ns in [2^b, 2^(b+1)) */
	hist[b * HIST_SUB + (unsigned)((ns >> (b - 4)) & (HIST_SUB - 1))]++;
}

/* The lower edge of a histogram bucket, in ns. */
static uint64_t hist_value(unsigned i)
{
	unsigned b = i / HIST_SUB, sub = i % HIST_SUB;

	if (b < 4)
		return i < HIST_SUB ? i : 0;
	return (UINT64_C(1) << b) + ((uint64_t)sub << (b - 4));
}

static uint64_t hist_pct(const uint64_t *hist, double pct)
{
	uint64_t total = 0, seen = 0;

	for (unsigned i = 0; i < HIST_SIZE; i++)
		total += hist[i];
	if (!total)
		return 0;
	for (unsigned i = 0; i < HIST_SIZE; i++) {
		seen += hist[i];
		if ((double)seen >= pct / 100.0 * (double)total)
			return hist_value(i);
	}
	return 0;
}

static void mismatch(struct worker *k, const char *what, const char *why)
{
	struct world *w = k->w;

	if (atomic_fetch_add(&w->mismatches, 1) < 10) {
		pthread_mutex_lock(&w->print_lock);
		fprintf(stderr, "blockcache: MISMATCH (%s): %s\n", what, why);
		pthread_mutex_unlock(&w->print_lock);
	}
}

static void op_error(struct worker *k, const char *what, uint64_t block,
		     int ret)
{
	struct world *w = k->w;

	k->errors++;
	atomic_store(&w->stop, true);
	pthread_mutex_lock(&w->print_lock);
	fprintf(stderr, "blockcache: %s of block %" PRIu64 ": %s: %s\n", what,
		block, strerror(-ret), bc_errormsg());
	pthread_mutex_unlock(&w->print_lock);
}

/* ---- the three operations ----------------------------------------------- */

static void do_read(struct worker *k, uint64_t block)
{
	struct world *w = k->w;
	uint64_t buf[WORDS], lo, hi, v, t0;
	char why[256];
	int ret;

	lo = atomic_load(&w->committed[block]);
	t0 = now_ns();
	ret = bc_read(w->cache, block, 0, buf, sizeof(buf));
	hist_add(k->hist, now_ns() - t0);
	hi = atomic_load(&w->started[block]);
	if (ret) {
		op_error(k, "bc_read", block, ret);
		return;
	}
	k->reads++;
	k->verified++;
	if (pattern_check(buf, block, lo, hi, &v, why, sizeof(why)))
		mismatch(k, "read", why);
}

static void do_write(struct worker *k, uint64_t block)
{
	struct world *w = k->w;
	pthread_mutex_t *stripe = &w->stripes[block % WRITE_STRIPES];
	uint64_t buf[WORDS], v;
	int ret;

	pthread_mutex_lock(stripe);
	v = atomic_load(&w->started[block]) + 1;
	if (v > VERSION_MAX) {
		pthread_mutex_unlock(stripe);
		return;
	}
	atomic_store(&w->started[block], (uint32_t)v);
	pattern_fill(buf, block, v);
	ret = bc_write(w->cache, block, 0, buf, sizeof(buf));
	if (ret) {
		pthread_mutex_unlock(stripe);
		op_error(k, "bc_write", block, ret);
		return;
	}
	atomic_store(&w->committed[block], (uint32_t)v);
	pthread_mutex_unlock(stripe);
	k->writes++;
}

/*
 * Borrow, check, hold, check again, then ask whether the lease survived:
 * only then do the checks count.  A cooperative borrower holds up to
 * hold_us and returns at once when the cache asks; a rogue one sleeps
 * three break times and ignores the request.
 */
static void do_borrow(struct worker *k, uint64_t block)
{
	struct world *w = k->w;
	const struct options *o = w->o;
	bool rogue = rng_next(&k->rng) % 100 < o->rogue_pct;
	uint64_t lo, hi, v1 = 0, v2 = 0, until;
	struct bc_borrow *b;
	char why1[256], why2[256];
	int bad1, bad2, ret;

	lo = atomic_load(&w->committed[block]);
	ret = bc_borrow(w->cache, block, &b);
	if (ret) {
		op_error(k, "bc_borrow", block, ret);
		return;
	}
	hi = atomic_load(&w->started[block]);
	bad1 = pattern_check(bc_borrow_data(b), block, lo, hi, &v1, why1,
			     sizeof(why1));
	if (rogue) {
		sleep_us((unsigned)(o->break_ms * 3000));
		k->rogue++;
	} else {
		until = now_ns() + o->hold_us * 1000;
		while (now_ns() < until && !bc_borrow_break_requested(b))
			sleep_us(20);
	}
	/* "Use" the bytes again: they must not have changed under us. */
	hi = atomic_load(&w->started[block]);
	bad2 = pattern_check(bc_borrow_data(b), block, lo, hi, &v2, why2,
			     sizeof(why2));
	if (bc_borrow_revoked(b)) {
		k->discarded++;		/* what we read may be garbage */
	} else {
		k->verified += 2;
		if (bad1)
			mismatch(k, "borrow", why1);
		else if (bad2)
			mismatch(k, "borrow, after the hold", why2);
		else if (v1 != v2) {
			snprintf(why1, sizeof(why1), "block %" PRIu64
				 " changed from version %" PRIu64 " to %"
				 PRIu64 " under a live lease", block, v1, v2);
			mismatch(k, "borrow", why1);
		}
	}
	bc_return(&b);
	k->borrows++;
}

static void *worker_main(void *arg)
{
	struct worker *k = arg;
	struct world *w = k->w;
	const struct options *o = w->o;

	for (uint64_t n = 0; !atomic_load_explicit(&w->stop,
						   memory_order_relaxed); n++) {
		uint64_t block = skewed_block(k);
		unsigned dice = (unsigned)(rng_next(&k->rng) % 100);

		if (o->ops ? n >= o->ops : (n % 64 == 0 &&
					    now_ns() >= w->deadline_ns))
			break;
		if (dice < o->write_pct)
			do_write(k, block);
		else if (dice < o->write_pct + o->borrow_pct)
			do_borrow(k, block);
		else
			do_read(k, block);
	}
	return NULL;
}

/* ---- set-up ------------------------------------------------------------- */

static int write_file(const struct options *o, char *tmp, int *fdp,
		      uint64_t nr_blocks)
{
	uint64_t words[WORDS];
	int fd;

	if (o->file)
		fd = open(o->file, O_RDWR | O_CREAT | O_TRUNC, 0644);
	else
		fd = mkstemp(tmp);
	if (fd < 0) {
		fprintf(stderr, "blockcache: %s: %s\n", o->file ? o->file : tmp,
			strerror(errno));
		return -1;
	}
	if (!o->file)
		unlink(tmp);	/* gone when we exit */
	for (uint64_t b = 0; b < nr_blocks; b++) {
		pattern_fill(words, b, 0);
		if (pwrite(fd, words, sizeof(words),
			   (off_t)(b * BC_BLOCK_SIZE)) != sizeof(words)) {
			fprintf(stderr, "blockcache: writing the backing file: "
				"%s\n", strerror(errno));
			close(fd);
			return -1;
		}
	}
	*fdp = fd;
	return 0;
}

static int open_region(const struct options *o, uint64_t nr_slots,
		       struct dax_region **r)
{
	bool device = !strncmp(o->region, "/dev/", 5);
	uint64_t size = bc_region_bytes(nr_slots);
	struct dax_region_opts *opts;
	int ret;

	ret = dax_region_opts_new(&opts);
	if (!ret && !device)
		ret = dax_region_opts_set_size(opts, size);
	if (!ret && !device && strncmp(o->region, "memfd:", 6))
		ret = dax_region_opts_set_flags(opts, DAX_REGION_CREATE);
	if (!ret)
		ret = dax_region_open(o->region, opts, r);
	dax_region_opts_delete(&opts);
	if (ret)
		fprintf(stderr, "blockcache: %s: %s: %s\n", o->region,
			strerror(-ret), dax_errormsg());
	return ret;
}

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
"usage: %s [OPTION]...\n"
"A block cache in DAX memory under a skewed read/borrow/write workload;\n"
"every byte read is checked against the file's known content.\n"
"  -r, --region=PATH     region: memfd:NAME, a file, /dev/daxX.Y\n"
"                        (default memfd:blockcache)\n"
"  -f, --file=PATH       backing file, overwritten (default: a temp file)\n"
"  -F, --file-mb=N       backing file size in MiB (default 64)\n"
"  -c, --cache-mb=N      cache size in MiB (default 8)\n"
"      --slots=N         cache size in 4 KiB slots (overrides -c)\n"
"  -t, --threads=N       worker threads (default 4)\n"
"  -d, --seconds=S       run time (default 2)\n"
"  -n, --ops=N           operations per thread instead of a run time\n"
"  -z, --skew=P          percent of accesses to the hottest fifth of the\n"
"                        blocks, and so on inside it (default 80)\n"
"  -w, --write-pct=P     percent of writes (default 1)\n"
"  -b, --borrow-pct=P    percent of borrows (default 2)\n"
"  -R, --rogue-pct=P     percent of borrowers that ignore a break\n"
"                        request and hold three break times (default 2)\n"
"  -H, --hold-us=N       how long a cooperative borrower holds (default 200)\n"
"  -B, --break-ms=N      break time before revocation (default 5)\n"
"  -S, --shards=N        index lock shards, a power of two (default 64)\n"
"  -s, --seed=N          random seed (default 1)\n"
"  -h, --help            this text\n"
"Exit status: 0 all checks passed, 1 a mismatch or an error, 2 bad usage.\n",
		argv0);
}

/* The numeric options: the field each sets and the values it takes. */
static const struct num_opt {
	int key;
	const char *name;
	uint64_t min, max;
	size_t field;		/* offset of a uint64_t in struct options */
} num_opts[] = {
	{ 'F', "file-mb", 1, 1 << 20, offsetof(struct options, file_mb) },
	{ 'c', "cache-mb", 1, 1 << 20, offsetof(struct options, cache_mb) },
	{ 'L', "slots", 1, UINT32_MAX, offsetof(struct options, slots) },
	{ 't', "threads", 1, 256, offsetof(struct options, threads) },
	{ 'n', "ops", 1, UINT64_MAX, offsetof(struct options, ops) },
	{ 'z', "skew", 20, 99, offsetof(struct options, skew) },
	{ 'w', "write-pct", 0, 100, offsetof(struct options, write_pct) },
	{ 'b', "borrow-pct", 0, 100, offsetof(struct options, borrow_pct) },
	{ 'R', "rogue-pct", 0, 100, offsetof(struct options, rogue_pct) },
	{ 'H', "hold-us", 0, 10000000, offsetof(struct options, hold_us) },
	{ 'B', "break-ms", 1, 60000, offsetof(struct options, break_ms) },
	{ 'S', "shards", 1, 4096, offsetof(struct options, shards) },
	{ 's', "seed", 0, UINT64_MAX, offsetof(struct options, seed) },
};

static int parse_num(const struct num_opt *n, const char *arg,
		     struct options *o, const char *argv0)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || end == arg || *end || arg[0] == '-' || v < n->min ||
	    v > n->max) {
		fprintf(stderr, "%s: --%s wants a number from %" PRIu64
			" to %" PRIu64 ", not '%s'\n", argv0, n->name, n->min,
			n->max, arg);
		return -1;
	}
	*(uint64_t *)((char *)o + n->field) = v;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "region", required_argument, NULL, 'r' },
		{ "file", required_argument, NULL, 'f' },
		{ "file-mb", required_argument, NULL, 'F' },
		{ "cache-mb", required_argument, NULL, 'c' },
		{ "slots", required_argument, NULL, 'L' },
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 'd' },
		{ "ops", required_argument, NULL, 'n' },
		{ "skew", required_argument, NULL, 'z' },
		{ "write-pct", required_argument, NULL, 'w' },
		{ "borrow-pct", required_argument, NULL, 'b' },
		{ "rogue-pct", required_argument, NULL, 'R' },
		{ "hold-us", required_argument, NULL, 'H' },
		{ "break-ms", required_argument, NULL, 'B' },
		{ "shards", required_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	*o = (struct options){ .region = "memfd:blockcache", .file_mb = 64,
			       .cache_mb = 8, .threads = 4, .seconds = 2,
			       .skew = 80, .write_pct = 1, .borrow_pct = 2,
			       .rogue_pct = 2, .hold_us = 200, .break_ms = 5,
			       .shards = 64, .seed = 1 };
	while ((c = getopt_long(argc, argv, "r:f:F:c:t:d:n:z:w:b:R:H:B:S:s:h",
				longopts, NULL)) != -1) {
		const struct num_opt *n = NULL;

		switch (c) {
		case 'r':
			o->region = optarg;
			continue;
		case 'f':
			o->file = optarg;
			continue;
		case 'd':
			o->seconds = strtod(optarg, &end);
			if (end == optarg || *end || !(o->seconds > 0) ||
			    o->seconds > 3600) {
				fprintf(stderr, "%s: --seconds wants a time "
					"above 0 and up to 3600, not '%s'\n",
					argv[0], optarg);
				return -1;
			}
			continue;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		case '?':
			return -1;
		}
		for (size_t i = 0; i < sizeof(num_opts) / sizeof(*num_opts);
		     i++)
			if (num_opts[i].key == c)
				n = &num_opts[i];
		if (!n || parse_num(n, optarg, o, argv[0]))
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0],
			argv[optind]);
		return -1;
	}
	if (o->shards & (o->shards - 1)) {
		fprintf(stderr, "%s: --shards must be a power of two\n",
			argv[0]);
		return -1;
	}
	if (o->write_pct + o->borrow_pct > 100) {
		fprintf(stderr, "%s: --write-pct + --borrow-pct is over 100\n",
			argv[0]);
		return -1;
	}
	if (!o->slots)
		o->slots = o->cache_mb * (MiB / BC_BLOCK_SIZE);
	return 0;
}

/* ---- the report --------------------------------------------------------- */

static void print_report(const struct options *o, struct world *w,
			 struct worker *k, double secs, struct dax_region *r,
			 const struct bc_stats *st)
{
	uint64_t reads = 0, writes = 0, borrows = 0, rogue = 0, discarded = 0,
		 verified = 0, ops;
	uint64_t *hist = calloc(HIST_SIZE, sizeof(*hist));
	double lookups = (double)(st->hits + st->misses);

	for (unsigned t = 0; t < o->threads; t++) {
		reads += k[t].reads;
		writes += k[t].writes;
		borrows += k[t].borrows;
		rogue += k[t].rogue;
		discarded += k[t].discarded;
		verified += k[t].verified;
		for (unsigned i = 0; hist && i < HIST_SIZE; i++)
			hist[i] += k[t].hist[i];
	}
	ops = reads + writes + borrows;
	printf("region       %s (%s, %" PRIu64 " MiB, aligned to %" PRIu64
	       " KiB)\n", o->region,
	       dax_region_kind_name(dax_region_get_kind(r)),
	       dax_region_get_size(r) / MiB, dax_region_get_align(r) >> 10);
	printf("cache        %" PRIu64 " slots (%" PRIu64 " KiB) in %" PRIu64
	       " x 2 MiB + %" PRIu64 " x 4 KiB mapping entries; metadata "
	       "heap %" PRIu64 " KiB\n", o->slots, o->slots * 4,
	       st->slot_entries_2m, st->slot_entries_4k, st->heap_bytes >> 10);
	printf("file         %" PRIu64 " blocks (%" PRIu64 " MiB), skew %"
	       PRIu64 "/20 self-similar, %" PRIu64 " threads, %.2f s\n",
	       w->nr_blocks, w->nr_blocks * BC_BLOCK_SIZE / MiB, o->skew,
	       o->threads, secs);
	printf("operations   %" PRIu64 " (%.0f ops/s): %" PRIu64 " reads, %"
	       PRIu64 " borrows (%" PRIu64 " rogue), %" PRIu64 " writes\n",
	       ops, (double)ops / secs, reads, borrows, rogue, writes);
	printf("hit rate     %.1f%% (%" PRIu64 " hits, %" PRIu64 " misses; %"
	       PRIu64 " waited for a fill or write, %" PRIu64 " retried)\n",
	       lookups ? 100.0 * (double)st->hits / lookups : 0.0, st->hits,
	       st->misses, st->waits, st->retries);
	if (hist)
		printf("read latency p50 %.1f us, p99 %.1f us, p99.9 %.1f us\n",
		       (double)hist_pct(hist, 50) / 1000,
		       (double)hist_pct(hist, 99) / 1000,
		       (double)hist_pct(hist, 99.9) / 1000);
	printf("evictions    %" PRIu64 " (CLOCK passed over borrowed slots %"
	       PRIu64 " times)\n", st->evictions, st->borrowed_skips);
	printf("leases       %" PRIu64 " broken, %" PRIu64 " revoked; %" PRIu64
	       " borrowed reads discarded after a revocation\n",
	       st->leases_broken, st->leases_revoked, discarded);
	printf("verified     %" PRIu64 " block copies, %" PRIu64
	       " mismatches\n", verified, atomic_load(&w->mismatches));
	free(hist);
}

int main(int argc, char **argv)
{
	struct options o;
	struct world *w;
	struct worker *k;
	struct dax_region *r = NULL;
	struct bc_cache *cache = NULL;
	struct bc_config cfg = { 0 };
	struct bc_stats st;
	char tmp[] = "/tmp/blockcache.XXXXXX";
	uint64_t t0, errors = 0;
	double secs;
	int fd = -1, ret, status = 1;

	if (parse_options(argc, argv, &o)) {
		fprintf(stderr, "usage: %s [OPTION]... (--help lists them)\n",
			argv[0]);
		return 2;
	}
	w = calloc(1, sizeof(*w));
	k = calloc(o.threads, sizeof(*k));
	if (!w || !k) {
		fprintf(stderr, "blockcache: out of memory\n");
		return 1;
	}
	w->o = &o;
	w->nr_blocks = o.file_mb * (MiB / BC_BLOCK_SIZE);
	w->started = calloc(w->nr_blocks, sizeof(*w->started));
	w->committed = calloc(w->nr_blocks, sizeof(*w->committed));
	if (!w->started || !w->committed) {
		fprintf(stderr, "blockcache: out of memory\n");
		return 1;
	}
	pthread_mutex_init(&w->print_lock, NULL);
	for (unsigned i = 0; i < WRITE_STRIPES; i++)
		pthread_mutex_init(&w->stripes[i], NULL);
	skew_init(w, w->nr_blocks);

	printf("blockcache: writing the %" PRIu64 " MiB backing file\n",
	       o.file_mb);
	if (write_file(&o, tmp, &fd, w->nr_blocks))
		goto out;
	if (open_region(&o, o.slots, &r))
		goto out;
	cfg.nr_slots = o.slots;
	cfg.nr_shards = (unsigned)o.shards;
	cfg.break_ms = (int)o.break_ms;
	ret = bc_create(r, fd, &cfg, &cache);
	if (ret) {
		fprintf(stderr, "blockcache: bc_create: %s: %s\n",
			strerror(-ret), bc_errormsg());
		goto out;
	}
	w->cache = cache;

	printf("blockcache: %" PRIu64 " threads, %s\n", o.threads,
	       o.ops ? "fixed operation count" : "timed run");
	t0 = now_ns();
	w->deadline_ns = t0 + (uint64_t)(o.seconds * 1e9);
	for (unsigned t = 0; t < o.threads; t++) {
		k[t].w = w;
		k[t].rng = o.seed * 1000003 + t;
		ret = pthread_create(&k[t].tid, NULL, worker_main, &k[t]);
		if (ret) {
			fprintf(stderr, "blockcache: pthread_create: %s\n",
				strerror(ret));
			atomic_store(&w->stop, true);
			for (unsigned u = 0; u < t; u++)
				pthread_join(k[u].tid, NULL);
			goto out;
		}
	}
	for (unsigned t = 0; t < o.threads; t++) {
		pthread_join(k[t].tid, NULL);
		errors += k[t].errors;
	}
	secs = (double)(now_ns() - t0) / 1e9;

	ret = bc_get_stats(cache, &st);
	if (ret) {
		fprintf(stderr, "blockcache: bc_get_stats: %s\n",
			bc_errormsg());
		goto out;
	}
	print_report(&o, w, k, secs, r, &st);
	if (st.borrows_out)
		fprintf(stderr, "blockcache: %" PRIu64 " borrows still out\n",
			st.borrows_out);
	status = errors || atomic_load(&w->mismatches) || st.borrows_out;
out:
	if (cache && (ret = bc_destroy(&cache))) {
		fprintf(stderr, "blockcache: bc_destroy: %s\n", bc_errormsg());
		status = 1;
	}
	if (r && (ret = dax_region_close(&r))) {
		fprintf(stderr, "blockcache: dax_region_close: %s\n",
			dax_errormsg());
		status = 1;
	}
	if (fd >= 0)
		close(fd);
	printf("blockcache: %s\n", status ? "FAILED" : "all checks passed");
	free(w->started);
	free(w->committed);
	free(w);
	free(k);
	return status;
}
