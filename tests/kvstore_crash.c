// SPDX-License-Identifier: MIT
/*
 * Crash consistency of the kvstore example (examples/kvstore/): a child
 * process applies a fixed sequence of puts and deletes (crash_op() in
 * workload.c), commits after batches of random size, compacts now and
 * then, and after each commit writes the number of operations committed
 * to a pipe.  The parent kills it with SIGKILL at a random moment, reopens
 * the store and checks that what recovery found is exactly the state after
 * some prefix of the sequence: no shorter than what the child last
 * reported committed (every committed key has its value, every committed
 * delete stays deleted), and no longer than what the child could have
 * committed without reporting it (no uncommitted put or delete is
 * visible, even in part).  The next child goes on from that prefix.
 * Thirty rounds, at most about twenty seconds.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "helpers.h"

#include "examples/kvstore/backup.c"
#include "examples/kvstore/index.c"
#include "examples/kvstore/kvstore.c"
#include "examples/kvstore/log.c"
#include "examples/kvstore/workload.c"

#define MiB (UINT64_C(1) << 20)
#define ROUNDS 30
#define MIN_ROUNDS 10
#define TIME_LIMIT_S 20.0
#define STORE_SIZE (24 * MiB)
/* A child commits after at most 64 operations, and a compaction commits
 * whatever was written: past its last report it may have committed up to
 * 64 more before the next report. */
#define UNREPORTED_MAX 64

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The last complete number the child wrote, or @dflt. */
static uint64_t read_reports(int fd, uint64_t dflt)
{
	char buf[4096], line[32];
	uint64_t last = dflt;
	size_t len = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				line[len] = '\0';
				last = strtoull(line, NULL, 10);
				len = 0;
			} else if (len < sizeof(line) - 1) {
				line[len++] = buf[i];
			}
		}
	}
	return last;
}

/* The recovered state: per key, the version (operation) of its value, or
 * -1 when absent. */
static void read_state(struct kv_store *kv, int64_t *state)
{
	static unsigned char buf[4096];

	for (unsigned k = 0; k < WL_CRASH_KEYS; k++) {
		char key[WL_KEY_MAX];
		size_t vlen;
		uint64_t v;
		int ret = kv_get(kv, key, wl_key(k, key), buf, sizeof(buf),
				 &vlen);

		if (ret == -ENOENT) {
			state[k] = -1;
			continue;
		}
		cr_assert_eq(ret, 0, "kv_get key %u: %s", k, kv_errormsg());
		cr_assert_eq(wl_value_check(k, buf, vlen, &v), 0,
			     "key %u: recovered bytes are not a value put "
			     "for it (a torn or uncommitted record?)", k);
		state[k] = (int64_t)v;
	}
}

static void apply(int64_t *sim, uint64_t n)
{
	struct crash_op op;

	crash_op(n, &op);
	sim[op.key] = op.del ? -1 : (int64_t)n;
}

static bool same(const int64_t *a, const int64_t *b)
{
	return !memcmp(a, b, WL_CRASH_KEYS * sizeof(*a));
}

Test(kvstore_crash, sigkill_at_random_moments_loses_nothing_committed,
     .timeout = 180)
{
	char *dir = test_tmpdir(), path[512];
	int64_t sim[WL_CRASH_KEYS], got[WL_CRASH_KEYS];
	struct kv_opts o = { .size = STORE_SIZE, .commit_ms = -1,
			     .compact_pct = -1, .fresh = true };
	uint64_t prefix = 0, beyond = 0, first = 0;
	struct kv_store *kv;
	double t0 = now_s();
	int rounds = 0;
	unsigned seed = (unsigned)time(NULL);

	snprintf(path, sizeof(path), "%s/store", dir);
	o.path = path;
	cr_assert_eq(kv_open(&o, &kv), 0, "%s", kv_errormsg());
	cr_assert_eq(kv_close(&kv), 0);
	o.fresh = false;
	o.size = 0;
	cr_log_info("seed %u", seed);
	srand(seed);

	for (; rounds < ROUNDS; rounds++) {
		uint64_t reported, q, limit;
		struct kv_stats s;
		int pfd[2], status;
		bool found = false;
		pid_t pid;

		if (rounds >= MIN_ROUNDS && now_s() - t0 > TIME_LIMIT_S)
			break;
		cr_assert_eq(pipe(pfd), 0);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			close(pfd[0]);
			wl_crash_child(path, 0, prefix, pfd[1]);
			_exit(2);	/* it returns only on failure */
		}
		close(pfd[1]);
		/* From a few ms (often before the first commit) to 300 ms. */
		usleep(5000 + (unsigned)(rand() % 300) * 1000);
		kill(pid, SIGKILL);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			  "round %d: the child ended by itself (status 0x%x): "
			  "see its message above", rounds, status);
		reported = read_reports(pfd[0], prefix);
		close(pfd[0]);
		cr_assert_geq(reported, prefix);

		cr_assert_eq(kv_open(&o, &kv), 0, "round %d: reopen: %s",
			     rounds, kv_errormsg());
		read_state(kv, got);
		cr_assert_eq(kv_get_stats(kv, &s), 0);

		/* Find the prefix the store holds: state after q operations,
		 * for q from what was reported on. */
		for (unsigned k = 0; k < WL_CRASH_KEYS; k++)
			sim[k] = -1;
		for (q = 0; q < reported; q++)
			apply(sim, q);
		limit = reported + UNREPORTED_MAX;
		for (; q <= limit; q++) {
			if (same(sim, got)) {
				found = true;
				break;
			}
			apply(sim, q);
		}
		cr_assert(found, "round %d: the recovered store is not the "
			  "state after any prefix of %" PRIu64 "..%" PRIu64
			  " operations (child reported %" PRIu64 ")", rounds,
			  reported, limit, reported);
		{
			uint64_t present = 0;

			for (unsigned k = 0; k < WL_CRASH_KEYS; k++)
				present += got[k] >= 0;
			cr_assert_eq(s.recovered_keys, present);
		}
		beyond += q - reported;
		prefix = q;
		first = s.first;
		cr_assert_eq(kv_close(&kv), 0);
	}
	cr_log_info("%d rounds in %.1f s: %" PRIu64 " operations committed in "
		    "all, %" PRIu64 " committed but not yet reported when "
		    "killed", rounds, now_s() - t0, prefix, beyond);
	cr_assert_geq(rounds, MIN_ROUNDS);
	cr_assert_gt(prefix, 0, "no child ever committed anything");
	/* Compaction ran (and was killed) along the way: the log no longer
	 * starts at offset 0. */
	cr_assert_gt(first, 0, "no compaction retired a segment");
	test_rmdir(dir);
}
