// SPDX-License-Identifier: MIT
/*
 * Async I/O from a mapping to a file (libdax/aio.c) against fio's libaio
 * engine on the same file: 4 KiB O_DIRECT random writes at queue depth 1
 * and 32, in IOPS.  Both overwrite a file whose blocks are all written
 * first (no allocation in the file system during the runs), from memory
 * that is already there (libdax: a mapping whose pages are all faulted in;
 * fio: its own buffers).  libdax pays for a pin, a lock-free fault and a
 * statx (alignment check) per request on top of io_submit/io_getevents;
 * after a reap it resubmits the whole batch with one io_submit
 * (DAX_AIO_MORE), where fio submits one request per call by default.
 *
 * The machine is shared and its disk is virtual: the same run varies by 2x
 * from one second to the next.  So runs are short and paired (libdax and
 * fio back to back, alternating who goes first), and the ratio reported is
 * the median of the per-pair ratios.  CPU time per request (libdax: the
 * thread's user + system time; fio: its usr_cpu + sys_cpu over its
 * runtime) varies less and is reported alongside, without a goal.
 * Goal: libdax >= 0.95x fio's IOPS at both depths.
 *
 * DAX_BENCH_QUICK=1: 3 pairs of 1 s runs on a 64 MiB file (about 20 s).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "libdax.h"

#define PAGE 4096u
#define MiB (UINT64_C(1) << 20)
#define MAX_ROUNDS 7

static const struct dax_mapping_ops ops;
static struct dax_mapping *m;
static uint64_t map_pages, file_pages;

struct result {
	double iops;
	double cpu_us;		/* CPU time (user + system) per request */
};

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int die(const char *what, int ret)
{
	fprintf(stderr, "aio_bench: %s: %s: %s\n", what, strerror(-ret),
		dax_errormsg());
	exit(1);
}

static void submit_one(struct dax_aio *aio, int fd, uint64_t *seed,
		       unsigned flags)
{
	uint64_t moff = rnd(seed) % map_pages * PAGE;
	uint64_t foff = rnd(seed) % file_pages * PAGE;
	int ret = dax_aio_write(aio, moff, PAGE, fd, foff, flags, NULL);

	if (ret)
		die("dax_aio_write", ret);
}

/* IOPS of random 4 KiB writes at @depth for @secs. */
static struct result libdax_run(const char *path, unsigned depth,
				double secs)
{
	struct dax_aio_event ev[64];
	struct dax_aio *aio;
	uint64_t seed = 88172645463325252ull, done = 0;
	int fd = open(path, O_RDWR | O_DIRECT), ret;
	double t0, t, c0;

	if (fd < 0)
		die("open", -errno);
	ret = dax_aio_setup(m, depth, &aio);
	if (ret)
		die("dax_aio_setup", ret);
	t0 = now();
	c0 = cpu_seconds();
	for (unsigned i = 0; i < depth; i++)
		submit_one(aio, fd, &seed, i + 1 < depth ? DAX_AIO_MORE : 0);
	do {
		int n = dax_aio_reap(aio, 1, depth, ev, -1);

		if (n <= 0)
			die("dax_aio_reap", n ? n : -EIO);
		for (int i = 0; i < n; i++) {
			if (ev[i].result != PAGE)
				die("a write", (int)(ev[i].result < 0 ?
						     ev[i].result : -EIO));
			submit_one(aio, fd, &seed,
				   i + 1 < n ? DAX_AIO_MORE : 0);
		}
		done += (uint64_t)n;
		t = now();
	} while (t - t0 < secs);
	c0 = cpu_seconds() - c0;
	dax_aio_teardown(&aio);
	close(fd);
	return (struct result){ done / (t - t0), c0 * 1e6 / done };
}

/* The number after "key" at or after @from in @json; -1 if absent. */
static double json_number(const char *from, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\"", key);
	p = from ? strstr(from, k) : NULL;
	if (!p || !(p = strchr(p, ':')))
		return -1;
	return strtod(p + 1, NULL);
}

/* fio's write IOPS, from its JSON output; iops < 0 when fio cannot run. */
static struct result fio_run(const char *path, uint64_t size, unsigned depth,
			     double secs)
{
	struct result res = { -1, -1 };
	char cmd[1024], *out = NULL;
	size_t len = 0, cap = 0;
	double usr, sys, ms, ios;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "fio --name=aio_bench --filename=%s --ioengine=libaio "
		 "--direct=1 --rw=randwrite --bs=4k --iodepth=%u "
		 "--size=%llu --runtime=%g --time_based --norandommap "
		 "--randrepeat=0 --output-format=json 2>/dev/null",
		 path, depth, (unsigned long long)size, secs);
	f = popen(cmd, "r");
	if (!f)
		return res;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? 2 * cap : 65536;
			out = realloc(out, cap);
			if (!out)
				die("fio output", -ENOMEM);
		}
		size_t n = fread(out + len, 1, 4096, f);

		if (!n)
			break;
		len += n;
	}
	if (pclose(f) != 0 || !out) {
		free(out);
		return res;
	}
	out[len] = '\0';
	/* jobs[0].write.iops and total_ios, jobs[0].job_runtime (ms),
	 * usr_cpu and sys_cpu (percent of the runtime) */
	res.iops = json_number(strstr(out, "\"write\""), "iops");
	ios = json_number(strstr(out, "\"write\""), "total_ios");
	ms = json_number(out, "job_runtime");
	usr = json_number(out, "usr_cpu");
	sys = json_number(out, "sys_cpu");
	if (ios > 0 && ms > 0 && usr >= 0 && sys >= 0)
		res.cpu_us = (usr + sys) / 100 * ms * 1000 / ios;
	free(out);
	return res;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(void)
{
	bool quick = bench_quick();
	unsigned rounds = quick ? 3 : MAX_ROUNDS;
	double secs = quick ? 1 : 2;
	uint64_t file_size = (quick ? 64 : 256) * MiB, map_size = 64 * MiB;
	static const unsigned depths[] = { 1, 32 };
	char path[] = "/var/tmp/libdax-aio-bench.XXXXXX";
	struct dax_region_opts *o;
	struct dax_region *r;
	char *buf;
	int fd, ret;

	fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp", -errno);
	/* every block written once: the runs overwrite, never allocate */
	buf = malloc(MiB);
	memset(buf, 0x5a, MiB);
	for (uint64_t off = 0; off < file_size; off += MiB)
		if (pwrite(fd, buf, MiB, (off_t)off) != (ssize_t)MiB)
			die("pwrite", -errno);
	fsync(fd);
	/* no cached pages: an O_DIRECT write over one pays to drop it, and
	 * whichever ran first would pay for all of them */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	free(buf);
	file_pages = file_size / PAGE;

	if (dax_region_opts_new(&o))
		return 1;
	dax_region_opts_set_size(o, 2 * map_size);
	ret = dax_region_open("memfd:aio-bench", o, &r);
	dax_region_opts_delete(&o);
	if (ret)
		die("dax_region_open", ret);
	ret = dax_mapping_new(r, &ops, NULL, map_size, &m);
	if (ret)
		die("dax_mapping_new", ret);
	map_pages = map_size / PAGE;
	for (uint64_t i = 0; i < map_pages; i += 512) {
		struct dax_fault_ext ext;

		ret = dax_fault(m, i, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M,
				&ext);
		if (ret)
			die("dax_fault", ret);
		memset(ext.entry_addr, 0xa5, 2 * MiB);
	}

	printf("4 KiB O_DIRECT random writes, file %llu MiB on /var/tmp, "
	       "%u round(s) of %.0f s per run\n",
	       (unsigned long long)(file_size / MiB), rounds, secs);
	for (unsigned d = 0; d < 2; d++) {
		struct result lib[MAX_ROUNDS], fio[MAX_ROUNDS];
		double li[MAX_ROUNDS], fi[MAX_ROUNDS], lc[MAX_ROUNDS];
		double fc[MAX_ROUNDS], ratio[MAX_ROUNDS], cratio[MAX_ROUNDS];
		double lm, fm;
		char metric[64];

		for (unsigned i = 0; i < rounds; i++) {
			/* alternate who goes first */
			if (i % 2)
				fio[i] = fio_run(path, file_size, depths[d],
						 secs);
			lib[i] = libdax_run(path, depths[d], secs);
			if (!(i % 2))
				fio[i] = fio_run(path, file_size, depths[d],
						 secs);
			if (fio[i].iops < 0) {
				printf("fio did not run (installed?): no "
				       "ratio at depth %u\n", depths[d]);
				goto out;
			}
		}
		for (unsigned i = 0; i < rounds; i++) {
			li[i] = lib[i].iops;
			fi[i] = fio[i].iops;
			lc[i] = lib[i].cpu_us;
			fc[i] = fio[i].cpu_us;
			ratio[i] = li[i] / fi[i];
			cratio[i] = fc[i] > 0 ? lc[i] / fc[i] : -1;
			printf("  round %u depth %2u: libdax %7.0f IOPS "
			       "%5.1f us CPU/req, fio %7.0f IOPS %5.1f us "
			       "CPU/req\n", i, depths[d], li[i], lc[i],
			       fi[i], fc[i]);
		}
		lm = median(li, rounds);
		fm = median(fi, rounds);
		printf("depth %2u: median libdax %7.0f IOPS, fio libaio %7.0f "
		       "IOPS; CPU per request %.1f us vs %.1f us\n",
		       depths[d], lm, fm, median(lc, rounds),
		       median(fc, rounds));
		snprintf(metric, sizeof(metric), "randwrite_4k_qd%u_iops",
			 depths[d]);
		bench_ratio("aio", metric, median(ratio, rounds), ">=0.95",
			    "fio libaio");
		snprintf(metric, sizeof(metric),
			 "randwrite_4k_qd%u_cpu_per_req", depths[d]);
		if (median(cratio, rounds) > 0)
			bench_ratio("aio", metric, median(cratio, rounds), NULL,
				    "fio libaio");
	}
out:
	unlink(path);
	dax_truncate(m, 0);
	dax_mapping_put(&m);
	dax_region_close(&r);
	return 0;
}
