// SPDX-License-Identifier: MIT
/*
 * kvstore: the command line of the kvstore example, and libdax's main
 * demo.
 *
 * Without arguments it makes a store in a 128 MiB file under /tmp (an
 * emulated region: a file, so that what was committed survives the
 * process), runs a multithreaded mix of gets, puts and deletes with
 * compaction and group commit in the background and a backup every few
 * seconds, then backs the log up through async I/O and checks the copy,
 * closes the store, opens it again and checks that every committed key
 * came back.  It ends with what libdax did: faults by entry size, pins,
 * leases broken, bytes written back, hole punches.
 *
 * Build: make B=build build/examples/kvstore  (the Makefile builds one
 *        program from every .c file in this folder, against libdax.so)
 * Run:   kvstore                     the demo, /tmp/kvstore-demo.region
 *        kvstore /tmp/my.region      a file (made, or opened if it holds a
 *                                    store: the keys come back)
 *        kvstore /dev/dax0.0         kernel device-DAX, or a daxlite device
 *        kvstore --help              every option
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kv_internal.h"
#include "workload.h"

#define MiB (UINT64_C(1) << 20)
#define DEFAULT_PATH "/tmp/kvstore-demo.region"

struct cli {
	const char *path;
	uint64_t size, align;
	bool size_given;	/* --size: else a file keeps its size */
	struct wl_opts wl;
	bool compact;		/* background compaction (on by default) */
	const char *backup;	/* the final backup's file */
	bool verify;		/* reopen and check every key */
	bool fresh;
	bool quiet;
	bool crash_child;
	uint64_t start_op;
	int commit_ms;
	bool remove;		/* the demo's own files: removed at the end */
};

static int fail(const char *what, int ret)
{
	fprintf(stderr, "kvstore: %s: %s (%s)\n", what, kv_errormsg(),
		strerror(-ret));
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: kvstore [options] [PATH]\n"
"  PATH              a file, memfd:NAME, /dev/daxX.Y or a daxlite device;\n"
"                    a store on it is opened and recovered, anything else\n"
"                    on it is overwritten by a new store (default\n"
"                    " DEFAULT_PATH ", remade each run)\n"
"  --threads N       worker threads (4)\n"
"  --seconds S       run S seconds (12)\n"
"  --ops N           run N operations instead\n"
"  --keys N          key space (20000)\n"
"  --value-size B    mean value size in bytes, values vary +-50%% (200)\n"
"  --read-pct P      share of gets in percent (80); of the rest, one in\n"
"                    20 is a delete\n"
"  --size BYTES      region size for a new file or memfd (64 MiB; an\n"
"                    existing file keeps its own size)\n"
"  --align BYTES     alignment of a file or memfd region: 4096 gives\n"
"                    4 KiB entries only, as a 4 KiB device-DAX (2 MiB)\n"
"  --commit-ms MS    group commit period (10); 0: every put commits\n"
"  --no-compact      no background compaction (a full log still\n"
"                    compacts when a put needs room)\n"
"  --backup FILE     the final backup's file (PATH.backup)\n"
"  --no-verify       skip the reopen and recovery check\n"
"  --fresh           format PATH even if it holds a store\n"
"  --quiet           no progress lines\n"
"  --crash-test-child [--start-op N]\n"
"                    apply the crash test's operations from N on to\n"
"                    PATH, print the committed count after each commit,\n"
"                    until killed (tests/kvstore_crash.c)\n");
}

static int parse(int argc, char **argv, struct cli *c)
{
	static const struct option opts[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' },
		{ "ops", required_argument, NULL, 'n' },
		{ "keys", required_argument, NULL, 'k' },
		{ "value-size", required_argument, NULL, 'v' },
		{ "read-pct", required_argument, NULL, 'r' },
		{ "size", required_argument, NULL, 'S' },
		{ "align", required_argument, NULL, 'A' },
		{ "commit-ms", required_argument, NULL, 'c' },
		{ "no-compact", no_argument, NULL, 'C' },
		{ "compact", no_argument, NULL, 'P' },
		{ "backup", required_argument, NULL, 'b' },
		{ "verify", no_argument, NULL, 'V' },
		{ "no-verify", no_argument, NULL, 'N' },
		{ "fresh", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "crash-test-child", no_argument, NULL, 'X' },
		{ "start-op", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int ch;

	*c = (struct cli){
		.wl = { .threads = 4, .seconds = 12, .keys = 20000,
			.value_size = 200, .read_pct = 80 },
		.compact = true, .verify = true, .commit_ms = 10,
		.size = 64 * MiB,
	};
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end = NULL;
		unsigned long long v = 0;

		/* Every option's argument is a number except --seconds (a
		 * double, parsed below) and --backup (a file name). */
		if (optarg && ch != 's' && ch != 'b') {
			errno = 0;
			v = strtoull(optarg, &end, 0);
			if (errno || *end || end == optarg) {
				fprintf(stderr, "kvstore: not a number: %s\n",
					optarg);
				return -1;
			}
		}
		switch (ch) {
		case 't': c->wl.threads = (unsigned)v; break;
		case 's':
			c->wl.seconds = strtod(optarg, &end);
			if (*end || c->wl.seconds <= 0) {
				fprintf(stderr, "kvstore: --seconds %s\n",
					optarg);
				return -1;
			}
			break;
		case 'n': c->wl.ops = v; break;
		case 'k': c->wl.keys = (unsigned)v; break;
		case 'v': c->wl.value_size = (unsigned)v; break;
		case 'r': c->wl.read_pct = (unsigned)v; break;
		case 'S': c->size = v; c->size_given = true; break;
		case 'A': c->align = v; break;
		case 'c': c->commit_ms = (int)v; break;
		case 'C': c->compact = false; break;
		case 'P': c->compact = true; break;
		case 'b': c->backup = optarg; break;
		case 'V': c->verify = true; break;
		case 'N': c->verify = false; break;
		case 'f': c->fresh = true; break;
		case 'q': c->quiet = true; break;
		case 'X': c->crash_child = true; break;
		case 'o': c->start_op = v; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind + 1 < argc) {
		usage(stderr);
		return -1;
	}
	c->path = optind < argc ? argv[optind] : NULL;
	if (!c->wl.threads || c->wl.threads > 256 || !c->wl.keys ||
	    c->wl.value_size < 16 || c->wl.value_size > 40000 ||
	    c->wl.read_pct > 100 || c->commit_ms < 0) {
		fprintf(stderr, "kvstore: threads 1..256, keys >= 1, "
			"value size 16..40000, read-pct 0..100, commit-ms "
			">= 0\n");
		return -1;
	}
	return 0;
}

/* Put every key once, so that gets find something from the start. */
static int load(struct kv_store *kv, unsigned keys, unsigned value_size)
{
	unsigned char *val = malloc(value_size);
	char key[WL_KEY_MAX];
	int ret = 0;

	if (!val)
		return kv_fail(-ENOMEM, "out of memory");
	for (unsigned k = 0; k < keys && !ret; k++) {
		wl_value(k, 0, val, value_size);
		ret = kv_put(kv, key, wl_key(k, key), val, value_size);
	}
	free(val);
	return ret;
}

/* ---- the demo ------------------------------------------------------------------------- */

struct demo {
	struct cli *c;
	struct kv_store *kv;
	char backup_path[4096];
	bool tty;
	pthread_t backup_thread;
	_Atomic bool stop_backups;
	_Atomic uint64_t bg_backups, bg_backup_errors;
	uint64_t last_ops;
	double last_t;
};

static void tick(void *priv, double t, uint64_t ops)
{
	struct demo *d = priv;
	struct kv_stats s;

	if (d->c->quiet || kv_get_stats(d->kv, &s))
		return;
	printf("%s      %4.1f s  %7.0f kops/s  %" PRIu64 " keys  log %" PRIu64
	       "/%" PRIu64 " segments  %" PRIu64 " compactions  %" PRIu64
	       " commits  %" PRIu64 " backups%s",
	       d->tty ? "\r" : "", t,
	       (ops - d->last_ops) / (t - d->last_t) / 1000, s.keys,
	       s.used_slots, s.nr_slots, s.compactions, s.commits,
	       atomic_load(&d->bg_backups), d->tty ? "  " : "\n");
	fflush(stdout);
	d->last_ops = ops;
	d->last_t = t;
}

/* A backup every second while the workload runs. */
static void *backup_loop(void *arg)
{
	struct demo *d = arg;

	for (;;) {
		for (int i = 0; i < 10; i++) {
			if (atomic_load(&d->stop_backups))
				return NULL;
			usleep(100000);
		}
		if (kv_backup(d->kv, d->backup_path))
			atomic_fetch_add(&d->bg_backup_errors, 1);
		else
			atomic_fetch_add(&d->bg_backups, 1);
	}
}

struct bg_backup {
	struct demo *d;
	int ret;
	_Atomic bool done;
};

static void *one_backup(void *arg)
{
	struct bg_backup *b = arg;

	b->ret = kv_backup(b->d->kv, b->d->backup_path);
	if (b->ret)
		fprintf(stderr, "kvstore: kv_backup: %s\n", kv_errormsg());
	atomic_store(&b->done, true);
	return NULL;
}

/*
 * Start a backup, and as soon as it holds its lease, compact: the
 * compaction breaks the lease, the backup gives up what it was copying
 * and starts over on the compacted log.
 */
static int backup_vs_compaction(struct demo *d)
{
	struct bg_backup b = { .d = d };
	struct kv_stats s0, s;
	pthread_t t;
	int ret;

	/* Below the background compactor's threshold first, so that it
	 * stays idle and the compaction below starts at once. */
	for (;;) {
		kv_get_stats(d->kv, &s0);
		if (s0.used_slots * 2 < s0.nr_slots)
			break;
		ret = kv_compact(d->kv, 1);
		if (ret)
			return fail("kv_compact", ret);
	}
	if (pthread_create(&t, NULL, one_backup, &b))
		return fail("pthread_create", -EAGAIN);
	do {
		kv_get_stats(d->kv, &s);
	} while (s.leases_taken == s0.leases_taken && !atomic_load(&b.done));
	ret = kv_compact(d->kv, 1000);
	if (ret && ret != -ENOSPC)
		fail("kv_compact", ret);
	pthread_join(t, NULL);
	return ret && ret != -ENOSPC ? ret : b.ret;
}

static double us(uint64_t ns)
{
	return ns / 1000.0;
}

/* One key's value, for comparing before and after a reopen. */
struct snap {
	uint32_t crc;
	uint32_t len;
	bool present;
};

static uint32_t fnv(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *b++) * 16777619u;
	return h;
}

static int snapshot(struct kv_store *kv, unsigned keys, struct snap *s,
		    unsigned char *buf, size_t bufsize, uint64_t *present)
{
	char key[WL_KEY_MAX];

	*present = 0;
	for (unsigned k = 0; k < keys; k++) {
		size_t klen = wl_key(k, key), vlen;
		int ret = kv_get(kv, key, klen, buf, bufsize, &vlen);

		s[k] = (struct snap){ 0 };
		if (ret == -ENOENT)
			continue;
		if (ret)
			return ret;
		s[k] = (struct snap){ fnv(buf, vlen), (uint32_t)vlen, true };
		(*present)++;
	}
	return 0;
}

static void print_summary(struct demo *d, const struct wl_result *r,
			  const struct kv_stats *s,
			  const struct dax_fault_stats *fs,
			  const struct dax_heap_stats *hs)
{
	printf("[6/6] summary\n");
	printf("      throughput  %.0f ops/s over %.1f s (%" PRIu64 " gets, %"
	       PRIu64 " puts, %" PRIu64 " deletes; %u threads)\n",
	       r->ops / r->seconds, r->seconds, r->gets, r->puts, r->deletes,
	       d->c->wl.threads);
	printf("      get         p50 %.1f us  p99 %.1f us  (%" PRIu64
	       " misses, %" PRIu64 " wrong values)\n",
	       us(wl_hist_pct(&r->get_lat, 50)),
	       us(wl_hist_pct(&r->get_lat, 99)), r->misses, r->bad_values);
	printf("      put/delete  p50 %.1f us  p99 %.1f us\n",
	       us(wl_hist_pct(&r->put_lat, 50)),
	       us(wl_hist_pct(&r->put_lat, 99)));
	printf("      dax_fault   %" PRIu64 " faults on 2 MiB entries, %" PRIu64
	       " on 4 KiB entries: %" PRIu64 " writes (%" PRIu64
	       " installed fresh log blocks,\n"
	       "                  the others marked an entry dirty again after "
	       "a commit's writeback), %" PRIu64 " reads\n"
	       "                  that found their entry locked or missing (%"
	       PRIu64 " a hole left by a punch); the rest were lock-free\n",
	       fs->faults[1], fs->faults[0], fs->write_faults,
	       fs->allocations, fs->read_faults, fs->zero_installs);
	printf("      pins        %" PRIu64 " taken by readers; %" PRIu64
	       " held when a punch began, drained by it; %" PRIu64
	       " gets looked again after a punch\n",
	       s->pins, s->pins_at_punch, s->get_retries);
	printf("      leases      %" PRIu64 " taken by backups, %" PRIu64
	       " broken by compaction (%" PRIu64 " backups restarted)\n",
	       s->leases_taken, s->leases_broken, s->backup_restarts);
	printf("      writeback   %" PRIu64 " commits, %" PRIu64
	       " dax_writeback calls, %.1f MiB of log made durable\n",
	       s->commits, s->writebacks, s->bytes_committed / (double)MiB);
	printf("      compaction  %" PRIu64 " rounds, %" PRIu64
	       " segments punched, %" PRIu64 " live records copied (%.1f MiB)\n",
	       s->compactions, s->segments_punched, s->records_copied,
	       s->bytes_copied / (double)MiB);
	printf("      heap        %.1f MiB of region memory for the index "
	       "(%" PRIu64 " keys)\n", hs->region_bytes / (double)MiB, s->keys);
	printf("      (pins held at a punch and bytes made durable are "
	       "counted by the engine; libdax keeps no such counters)\n");
}

static int run_demo(struct cli *c)
{
	struct demo d = { .c = c, .tty = isatty(1) };
	struct kv_opts ko = { .path = c->path, .size = c->size,
			      .align = c->align,
			      .fresh = c->fresh, .keys_hint = c->wl.keys,
			      .commit_ms = c->commit_ms,
			      .sync = c->commit_ms == 0,
			      .compact_pct = c->compact ? 0 : -1 };
	struct dax_fault_stats fs;
	struct dax_heap_stats hs;
	struct kv_backup_info bi;
	struct kv_stats s, s0;
	struct wl_result *r = calloc(1, sizeof(*r));
	size_t bufsize = KV_MAX_VALUE;
	unsigned char *buf = malloc(bufsize);
	struct snap *before = calloc(c->wl.keys, sizeof(*before));
	uint64_t present, missing = 0, wrong = 0, extra = 0, ok = 0;
	struct dax_region *reg;
	int ret;

	if (!r || !buf || !before)
		return fail("malloc", -ENOMEM);
	snprintf(d.backup_path, sizeof(d.backup_path), "%s",
		 c->backup ? c->backup : "");
	if (!c->backup)
		snprintf(d.backup_path, sizeof(d.backup_path), "%s.backup",
			 strncmp(c->path, "/dev/", 5) &&
			 strncmp(c->path, "memfd:", 6) ? c->path :
			 "/tmp/kvstore-demo");

	printf("libdax kvstore demo: a persistent key-value engine "
	       "(examples/kvstore/)\n");
	printf("[1/6] kv_open(\"%s\")\n", c->path);
	ret = kv_open(&ko, &d.kv);
	if (ret)
		return fail("kv_open", ret);
	reg = kv_get_region(d.kv);
	kv_get_stats(d.kv, &s);
	printf("      %s region, %" PRIu64 " MiB, aligned to %" PRIu64
	       " KiB; log of %" PRIu64 " segments of 2 MiB; index in a "
	       "dax_heap\n",
	       dax_region_kind_name(dax_region_get_kind(reg)),
	       dax_region_get_size(reg) / MiB,
	       dax_region_get_align(reg) >> 10, s.nr_slots);
	printf("      %s: %" PRIu64 " records replayed, %" PRIu64
	       " keys\n", s.recovered_records ? "recovered" : "new store",
	       s.recovered_records, s.recovered_keys);

	ret = load(d.kv, c->wl.keys, c->wl.value_size);
	if (ret)
		return fail("kv_put", ret);
	printf("[2/6] loaded %u keys; workload: %u threads, ", c->wl.keys,
	       c->wl.threads);
	if (c->wl.ops)
		printf("%" PRIu64 " operations", c->wl.ops);
	else
		printf("%.0f s", c->wl.seconds);
	printf(", %u keys, %u-byte values (+-50%%), %u%% gets;\n",
	       c->wl.keys, c->wl.value_size, c->wl.read_pct);
	if (c->commit_ms)
		printf("      group commit every %d ms", c->commit_ms);
	else
		printf("      every put commits");
	printf(", compaction %s, a backup every second\n",
	       c->compact ? "in the background" : "when the log is full");
	c->wl.tick = tick;
	c->wl.tick_priv = &d;
	if (pthread_create(&d.backup_thread, NULL, backup_loop, &d))
		return fail("pthread_create", -EAGAIN);
	ret = wl_run(d.kv, &c->wl, r);
	atomic_store(&d.stop_backups, true);
	pthread_join(d.backup_thread, NULL);
	if (d.tty && !c->quiet)
		printf("\n");
	if (ret)
		return fail("workload", ret);
	if (r->errors) {
		fprintf(stderr, "kvstore: %" PRIu64 " failed calls; the first: "
			"%s\n", r->errors, r->first_error);
		return 1;
	}

	printf("[3/6] kv_backup(\"%s\") through dax_aio_write, and "
	       "kv_compact() at once\n", d.backup_path);
	kv_get_stats(d.kv, &s0);
	ret = backup_vs_compaction(&d);
	if (ret)
		return 1;
	kv_get_stats(d.kv, &s);
	printf("      the compaction broke the backup's lease %" PRIu64
	       " time(s); the backup started over %" PRIu64 " time(s)\n"
	       "      log now %" PRIu64 " of %" PRIu64 " segments after %"
	       PRIu64 " compactions in all\n",
	       s.leases_broken - s0.leases_broken,
	       s.backup_restarts - s0.backup_restarts, s.used_slots,
	       s.nr_slots, s.compactions);

	printf("[4/6] kv_backup_check(): read the backup back, replay it, "
	       "compare with the store\n");
	ret = kv_backup_check(d.kv, d.backup_path, &bi);
	if (ret)
		return fail("kv_backup_check", ret);
	printf("      %.1f MiB of log, %" PRIu64 " records, %" PRIu64
	       " keys: %" PRIu64 " equal to the store's (%" PRIu64
	       " background backups, %" PRIu64 " failed)\n",
	       (bi.tail - bi.first) / (double)MiB, bi.records, bi.keys,
	       bi.matching, atomic_load(&d.bg_backups),
	       atomic_load(&d.bg_backup_errors));
	if (bi.matching != bi.keys || bi.keys != s.keys)
		return fail("kv_backup_check", -EIO);

	ret = kv_commit(d.kv);
	if (ret)
		return fail("kv_commit", ret);
	ret = snapshot(d.kv, c->wl.keys, before, buf, bufsize, &present);
	if (ret)
		return fail("kv_get", ret);
	kv_get_stats(d.kv, &s);
	dax_fault_get_stats(kv_get_mapping(d.kv), &fs);
	dax_heap_get_stats(kv_get_heap(d.kv), &hs);

	if (c->verify && strncmp(c->path, "memfd:", 6)) {
		struct dax_fault_stats fs2;
		struct kv_stats s2;

		printf("[5/6] kv_close(), kv_open() again: recovery from the "
		       "committed log\n");
		ret = kv_close(&d.kv);
		if (ret)
			return fail("kv_close", ret);
		ko.fresh = false;
		ret = kv_open(&ko, &d.kv);
		if (ret)
			return fail("kv_open (reopen)", ret);
		for (unsigned k = 0; k < c->wl.keys; k++) {
			char key[WL_KEY_MAX];
			size_t klen = wl_key(k, key), vlen;
			int rg = kv_get(d.kv, key, klen, buf, bufsize, &vlen);

			if (rg == -ENOENT) {
				missing += before[k].present;
				continue;
			}
			if (rg)
				return fail("kv_get after reopen", rg);
			if (!before[k].present)
				extra++;
			else if (before[k].len != vlen ||
				 before[k].crc != fnv(buf, vlen))
				wrong++;
			else
				ok++;
		}
		kv_get_stats(d.kv, &s2);
		dax_fault_get_stats(kv_get_mapping(d.kv), &fs2);
		printf("      %" PRIu64 " records replayed from %" PRIu64
		       " faults of existing log blocks (iomap_begin: mapped)\n"
		       "      %" PRIu64 " committed keys recovered, %" PRIu64
		       " missing, %" PRIu64 " wrong, %" PRIu64 " unexpected\n",
		       s2.recovered_records, fs2.mapped, ok, missing, wrong,
		       extra);
	} else {
		printf("[5/6] (reopen skipped: %s)\n", c->verify ?
		       "a memfd does not outlive its close" : "--no-verify");
	}
	ret = kv_close(&d.kv);
	if (ret)
		return fail("kv_close", ret);

	print_summary(&d, r, &s, &fs, &hs);
	printf("      man pages: man -l man/man3/dax_fault.3 (also "
	       "dax_pin_range.3, dax_punch_hole.3,\n"
	       "      dax_lease_take.3, dax_writeback.3, dax_heap_create.3, "
	       "dax_aio_setup.3); the engine: examples/kvstore/kvstore.h\n");
	if (missing || wrong || extra || r->bad_values) {
		printf("kvstore: FAILED\n");
		return 1;
	}
	if (c->remove) {
		unlink(c->path);
		unlink(d.backup_path);
		printf("      (removed %s and %s)\n", c->path, d.backup_path);
	}
	printf("kvstore: all checks passed\n");
	free(r);
	free(buf);
	free(before);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c;
	char path[4096];
	struct stat st;

	if (parse(argc, argv, &c))
		return 2;
	/* An existing store file opens at its own size unless told. */
	if (c.path && !c.size_given && !stat(c.path, &st) &&
	    S_ISREG(st.st_mode) && st.st_size > 0)
		c.size = 0;
	if (c.crash_child) {
		if (!c.path) {
			fprintf(stderr, "kvstore: --crash-test-child needs a "
				"PATH\n");
			return 2;
		}
		return wl_crash_child(c.path, c.size, c.start_op, 1) ? 1 : 0;
	}
	if (!c.path) {
		/* The demo's own file: made afresh every run. */
		snprintf(path, sizeof(path), "%s", DEFAULT_PATH);
		c.path = path;
		c.fresh = true;
		c.remove = !c.backup;
	}
	return run_demo(&c);
}
