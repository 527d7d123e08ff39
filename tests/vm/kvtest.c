// SPDX-License-Identifier: MIT
/*
 * kvtest: the kvstore example engine (examples/kvstore/) on a real device
 * in the test VM, checked from a second process (tests/vm/check-vm.sh;
 * built against $(B)/libdax.a with the engine's sources compiled in, as
 * tests/kvstore_crash.c does).
 *
 *   kvtest keys PATH NKEYS EXPECT
 *       Open the store on PATH (recovery from the committed log) and check
 *       every key of the demo's key space key0..key<NKEYS-1>: each one
 *       present holds a value that was put for that key (wl_value_check),
 *       there are EXPECT of them (what the kvstore run that wrote them
 *       reported recovered), and recovery found no other key.
 *
 *   kvtest crash PATH KVSTORE ROUNDS
 *       The crash test of tests/kvstore_crash.c with the real program as
 *       the child: format PATH, then ROUNDS times run "KVSTORE
 *       --crash-test-child --start-op N PATH" with its stdout on a pipe,
 *       wait for its first commit report, kill it with SIGKILL at a random
 *       moment after that, reopen the store and check that it holds
 *       exactly the state after some prefix of the operation sequence, no
 *       shorter than the child last reported committed and at most
 *       UNREPORTED_MAX longer.  On device-DAX the data lives in the
 *       device, so this is what a process crash leaves there.
 *
 * One "ok"/"not ok" line per check; exit 1 if any failed, 2 on bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "examples/kvstore/backup.c"
#include "examples/kvstore/index.c"
#include "examples/kvstore/kvstore.c"
#include "examples/kvstore/log.c"
#include "examples/kvstore/workload.c"

/* As in tests/kvstore_crash.c: a child commits after at most 64
 * operations, and may have committed one batch more than it reported. */
#define UNREPORTED_MAX 64
#define FIRST_REPORT_MS 60000

#include "vmtest.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A device's size is its own; a file (a try on the host) gets the size
 * the kvstore program gives it by default, so the child agrees. */
static int open_store(const char *path, bool fresh, struct kv_store **kv)
{
	struct kv_opts o = { .path = path, .size = UINT64_C(64) << 20,
			     .commit_ms = -1, .compact_pct = -1,
			     .fresh = fresh, .keys_hint = WL_CRASH_KEYS };
	int ret = kv_open(&o, kv);

	if (ret)
		check(0, "kv_open(%s%s): %s", path, fresh ? ", fresh" : "",
		      kv_errormsg());
	return ret;
}

/* ---- keys -------------------------------------------------------------------- */

static int do_keys(const char *path, unsigned nkeys, uint64_t expect)
{
	static unsigned char buf[KV_MAX_VALUE];
	uint64_t present = 0, bad = 0;
	struct kv_stats s;
	struct kv_store *kv;
	double t0 = now_s();

	if (open_store(path, false, &kv))
		return 1;
	for (unsigned k = 0; k < nkeys; k++) {
		char key[WL_KEY_MAX];
		size_t vlen;
		uint64_t v;
		int ret = kv_get(kv, key, wl_key(k, key), buf, sizeof(buf),
				 &vlen);

		if (ret == -ENOENT)
			continue;
		if (ret) {
			check(0, "kv_get(key%u): %s", k, kv_errormsg());
			bad++;
			continue;
		}
		present++;
		if (wl_value_check(k, buf, vlen, &v)) {
			if (!bad)
				check(0, "key%u: %zu bytes that are not a "
				      "value put for it", k, vlen);
			bad++;
		}
	}
	kv_get_stats(kv, &s);
	check(!bad, "%s: %" PRIu64 " records replayed by a new process, %"
	      PRIu64 " keys read back, %" PRIu64 " bad", path,
	      s.recovered_records, present, bad);
	check(present == expect, "%s: %" PRIu64 " keys recovered, the "
	      "writer reported %" PRIu64, path, present, expect);
	check(s.recovered_keys == present, "%s: recovery found %" PRIu64
	      " keys in all, %" PRIu64 " of them in key0..key%u", path,
	      s.recovered_keys, present, nkeys - 1);
	check(kv_close(&kv) == 0, "kv_close (%.2f s in all)", now_s() - t0);
	return failures ? 1 : 0;
}

/* ---- crash ------------------------------------------------------------------- */

struct reports {
	uint64_t last;
	bool any;
	char line[32];
	size_t len;
};

/* Take the complete "N\n" lines of @buf; the last one wins. */
static void parse_reports(struct reports *r, const char *buf, ssize_t n)
{
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			r->line[r->len] = '\0';
			r->last = strtoull(r->line, NULL, 10);
			r->any = true;
			r->len = 0;
		} else if (r->len < sizeof(r->line) - 1) {
			r->line[r->len++] = buf[i];
		}
	}
}

static void read_state(struct kv_store *kv, int64_t *state, bool *torn)
{
	static unsigned char buf[4096];

	*torn = false;
	for (unsigned k = 0; k < WL_CRASH_KEYS; k++) {
		char key[WL_KEY_MAX];
		size_t vlen;
		uint64_t v;
		int ret = kv_get(kv, key, wl_key(k, key), buf, sizeof(buf),
				 &vlen);

		state[k] = -1;
		if (ret == -ENOENT)
			continue;
		if (ret || wl_value_check(k, buf, vlen, &v)) {
			check(0, "key%u: %s", k, ret ? kv_errormsg() :
			      "recovered bytes are not a value put for it");
			*torn = true;
			continue;
		}
		state[k] = (int64_t)v;
	}
}

static void apply(int64_t *sim, uint64_t n)
{
	struct crash_op op;

	crash_op(n, &op);
	sim[op.key] = op.del ? -1 : (int64_t)n;
}

/*
 * One child: start it, wait for its first report (so it is killed in the
 * middle of its work, not while it opens the store), let it run a random
 * while longer, kill it.  Returns the last count it reported, or -1.
 */
static int64_t one_child(const char *path, const char *prog, uint64_t start,
			 unsigned round)
{
	char startop[32], buf[4096];
	struct reports r = { .last = start };
	struct pollfd pfd;
	int pipefd[2], status;
	double t0 = now_s();
	pid_t pid;
	ssize_t n;

	snprintf(startop, sizeof(startop), "%" PRIu64, start);
	if (pipe(pipefd))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		execl(prog, prog, "--crash-test-child", "--start-op", startop,
		      path, (char *)NULL);
		dprintf(2, "kvtest: exec %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	pfd = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	while (!r.any && (now_s() - t0) * 1000 < FIRST_REPORT_MS) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(pipefd[0], buf, sizeof(buf));
		if (n <= 0)
			break;		/* the child ended */
		parse_reports(&r, buf, n);
	}
	if (r.any) {
		/* Up to 300 ms more, reading meanwhile so the child never
		 * waits on a full pipe at the moment it is killed. */
		double until = now_s() + (rand() % 300) / 1000.0;

		while (now_s() < until) {
			if (poll(&pfd, 1, 10) > 0 &&
			    (n = read(pipefd[0], buf, sizeof(buf))) > 0)
				parse_reports(&r, buf, n);
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	while ((n = read(pipefd[0], buf, sizeof(buf))) > 0)
		parse_reports(&r, buf, n);
	close(pipefd[0]);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL || !r.any) {
		check(0, "round %u: the child %s (status 0x%x, %s report)",
		      round, WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ?
		      "was killed" : "ended by itself", status,
		      r.any ? "a" : "no");
		return -1;
	}
	return (int64_t)r.last;
}

static int do_crash(const char *path, const char *prog, unsigned rounds)
{
	int64_t sim[WL_CRASH_KEYS], got[WL_CRASH_KEYS];
	uint64_t prefix = 0, beyond = 0, first = 0;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	struct kv_store *kv;
	double t0 = now_s();
	unsigned round;

	srand(seed);
	if (open_store(path, true, &kv))
		return 1;
	kv_close(&kv);
	for (round = 0; round < rounds; round++) {
		int64_t reported = one_child(path, prog, prefix, round);
		struct kv_stats s;
		uint64_t q, limit, present = 0;
		bool found = false, torn;

		if (reported < 0)
			break;
		if ((uint64_t)reported < prefix) {
			check(0, "round %u: the child reported %" PRId64
			      ", below its start %" PRIu64, round, reported,
			      prefix);
			break;
		}
		if (open_store(path, false, &kv))
			break;
		read_state(kv, got, &torn);
		kv_get_stats(kv, &s);
		for (unsigned k = 0; k < WL_CRASH_KEYS; k++) {
			sim[k] = -1;
			present += got[k] >= 0;
		}
		for (q = 0; q < (uint64_t)reported; q++)
			apply(sim, q);
		limit = (uint64_t)reported + UNREPORTED_MAX;
		for (; q <= limit; q++) {
			if (!memcmp(sim, got, sizeof(sim))) {
				found = true;
				break;
			}
			apply(sim, q);
		}
		if (torn || !found || s.recovered_keys != present) {
			check(0, "round %u: the recovered store (%" PRIu64
			      " keys, recovery counted %" PRIu64 ") is not "
			      "the state after %" PRId64 "..%" PRIu64
			      " operations", round, present, s.recovered_keys,
			      reported, limit);
			kv_close(&kv);
			break;
		}
		beyond += q - (uint64_t)reported;
		prefix = q;
		first = s.first;
		if (kv_close(&kv)) {
			check(0, "round %u: kv_close: %s", round,
			      kv_errormsg());
			break;
		}
	}
	check(round == rounds, "%s: %u of %u SIGKILLed children of %s "
	      "recovered exactly: %" PRIu64 " operations committed, %" PRIu64
	      " of them after the last report (%.1f s, seed %u)", path, round,
	      rounds, prog, prefix, beyond, now_s() - t0, seed);
	check(prefix > 0, "%s: the children committed something", path);
	if (first)
		printf("# compaction retired the log up to offset %" PRIu64
		       "\n", first);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "keys"))
		return do_keys(argv[2], (unsigned)strtoul(argv[3], NULL, 0),
			       strtoull(argv[4], NULL, 0));
	if (argc == 5 && !strcmp(argv[1], "crash"))
		return do_crash(argv[2], argv[3],
				(unsigned)strtoul(argv[4], NULL, 0));
	fprintf(stderr, "usage: kvtest keys PATH NKEYS EXPECT\n"
		"       kvtest crash PATH KVSTORE ROUNDS\n");
	return 2;
}
