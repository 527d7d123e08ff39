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
 * A third contender isolates the library's own cost from any difference
 * between this loop and fio's: the same loop on bare libaio (io_prep_pwritev
 * of the same region pages, addresses looked up once before the run, no
 * pin, no fault, no checks).  Goal against it too: >= 0.95.
 *
 * The machine is shared and its disk is virtual: the same run varies by 2x
 * from one second to the next, more than any difference measured here.
 * So contenders alternate in short slices and each figure is the sum over
 * its slices (total requests / total time): libdax and bare libaio in
 * 0.25 s slices, libdax and fio in 1 s runs (fio's start-up is not in its
 * own figures).  CPU time per request (libdax and bare libaio: the
 * thread's user + system time; fio: usr_cpu + sys_cpu over its runtime)
 * varies less and is reported alongside, without a goal.
 * Goal: libdax >= 0.95x fio's IOPS, and >= 0.95x bare libaio's, at both
 * depths.
 *
 * DAX_BENCH_QUICK=1: 8 slices each against bare libaio, 4 runs each
 * against fio, on a 64 MiB file (about 30 s).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include <libaio.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "libdax.h"

#define PAGE 4096u
#define MiB (UINT64_C(1) << 20)
#define MAX_DEPTH 32

static const struct dax_mapping_ops ops;
static struct dax_mapping *m;
static uint64_t map_pages, file_pages;
static char *entry_addr[64];		/* each 2 MiB entry of the mapping */
static uint64_t run_seed = 88172645463325252ull;

/* One run, or the sum of several. */
struct result {
	double ops;		/* requests completed */
	double secs;		/* wall time */
	double cpu;		/* CPU time (user + system), seconds */
};

static void add(struct result *sum, struct result r)
{
	sum->ops += r.ops;
	sum->secs += r.secs;
	sum->cpu += r.cpu;
}

static double iops(struct result r)
{
	return r.ops / r.secs;
}

static double cpu_us(struct result r)
{
	return r.cpu * 1e6 / r.ops;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
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
	uint64_t seed = run_seed++, done = 0;
	int fd = open(path, O_RDWR | O_DIRECT), ret;
	double t0, t, c0;

	if (fd < 0)
		die("open", -errno);
	ret = dax_aio_setup(m, depth, &aio);
	if (ret)
		die("dax_aio_setup", ret);
	t0 = bench_now();
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
		t = bench_now();
	} while (t - t0 < secs);
	c0 = cpu_seconds() - c0;
	dax_aio_teardown(&aio);
	close(fd);
	return (struct result){ (double)done, t - t0, c0 };
}

static void raw_prep(struct iocb *cb, struct iovec *iov, int fd,
		     uint64_t *seed)
{
	uint64_t page = rnd(seed) % map_pages;
	uint64_t foff = rnd(seed) % file_pages * PAGE;

	iov->iov_base = entry_addr[page / 512] + page % 512 * PAGE;
	iov->iov_len = PAGE;
	io_prep_pwritev(cb, fd, iov, 1, (long long)foff);
}

/* The same loop on bare libaio, from the same region pages. */
static struct result raw_run(const char *path, unsigned depth, double secs)
{
	struct iocb cbs[MAX_DEPTH], *q[MAX_DEPTH];
	struct iovec iov[MAX_DEPTH];
	struct io_event ev[MAX_DEPTH];
	io_context_t ctx = 0;
	uint64_t seed = run_seed++, done = 0;
	int fd = open(path, O_RDWR | O_DIRECT), ret;
	double t0, t, c0;

	if (fd < 0)
		die("open", -errno);
	ret = io_setup((int)depth, &ctx);
	if (ret)
		die("io_setup", ret);
	t0 = bench_now();
	c0 = cpu_seconds();
	for (unsigned i = 0; i < depth; i++) {
		raw_prep(&cbs[i], &iov[i], fd, &seed);
		q[i] = &cbs[i];
	}
	if (io_submit(ctx, depth, q) != (int)depth)
		die("io_submit", -EIO);
	do {
		int n = io_getevents(ctx, 1, depth, ev, NULL);

		if (n < 0 && n != -EINTR)
			die("io_getevents", n);
		for (int i = 0; i < n; i++) {
			struct iocb *cb = ev[i].obj;

			if (ev[i].res != PAGE)
				die("a raw write", -EIO);
			raw_prep(cb, &iov[cb - cbs], fd, &seed);
			q[i] = cb;
		}
		if (n > 0 && io_submit(ctx, n, q) != n)
			die("io_submit", -EIO);
		done += n > 0 ? (uint64_t)n : 0;
		t = bench_now();
	} while (t - t0 < secs);
	c0 = cpu_seconds() - c0;
	io_destroy(ctx);	/* waits for the writes in flight */
	close(fd);
	return (struct result){ (double)done, t - t0, c0 };
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

/* fio's run, from its JSON output; ops < 0 when fio cannot run. */
static struct result fio_run(const char *path, uint64_t size, unsigned depth,
			     double secs)
{
	struct result res = { -1, 0, 0 };
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
	ios = json_number(strstr(out, "\"write\""), "total_ios");
	ms = json_number(out, "job_runtime");
	usr = json_number(out, "usr_cpu");
	sys = json_number(out, "sys_cpu");
	if (ios > 0 && ms > 0 && usr >= 0 && sys >= 0) {
		res.ops = ios;
		res.secs = ms / 1000;
		res.cpu = (usr + sys) / 100 * res.secs;
	}
	free(out);
	return res;
}

int main(void)
{
	bool quick = bench_quick();
	unsigned slices = quick ? 8 : 24, fio_runs = quick ? 4 : 10;
	double slice = 0.25;
	uint64_t file_size = (quick ? 64 : 256) * MiB, map_size = 64 * MiB;
	static const unsigned depths[] = { 1, MAX_DEPTH };
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
		entry_addr[i / 512] = ext.entry_addr;
	}

	printf("4 KiB O_DIRECT random writes, file %llu MiB on /var/tmp\n",
	       (unsigned long long)(file_size / MiB));
	for (unsigned d = 0; d < 2; d++) {
		struct result lib = { 0 }, raw = { 0 }, lib2 = { 0 };
		struct result fio = { 0 };
		unsigned depth = depths[d];
		char metric[64];

		/* libdax and bare libaio in alternating short slices */
		for (unsigned i = 0; i < 2 * slices; i++) {
			if (i % 2)
				add(&raw, raw_run(path, depth, slice));
			else
				add(&lib, libdax_run(path, depth, slice));
		}
		/* libdax and fio in alternating 1 s runs */
		for (unsigned i = 0; i < 2 * fio_runs; i++) {
			struct result f;

			if (i % 2) {
				add(&lib2, libdax_run(path, depth, 1));
				continue;
			}
			f = fio_run(path, file_size, depth, 1);
			if (f.ops < 0) {
				printf("fio did not run (installed?): no "
				       "ratio at depth %u\n", depth);
				goto out;
			}
			add(&fio, f);
		}
		printf("depth %2u: libdax %7.0f IOPS %5.1f us CPU/req vs bare "
		       "libaio %7.0f IOPS %5.1f us (%u x %.2f s slices each)\n",
		       depth, iops(lib), cpu_us(lib), iops(raw), cpu_us(raw),
		       slices, slice);
		printf("depth %2u: libdax %7.0f IOPS %5.1f us CPU/req vs fio "
		       "%7.0f IOPS %5.1f us (%u x 1 s runs each)\n", depth,
		       iops(lib2), cpu_us(lib2), iops(fio), cpu_us(fio),
		       fio_runs);
		snprintf(metric, sizeof(metric), "randwrite_4k_qd%u_iops",
			 depth);
		bench_ratio("aio", metric, iops(lib2) / iops(fio), ">=0.95",
			    "fio libaio");
		bench_ratio("aio", metric, iops(lib) / iops(raw), ">=0.95",
			    "bare libaio, same loop");
		snprintf(metric, sizeof(metric),
			 "randwrite_4k_qd%u_cpu_per_req", depth);
		bench_ratio("aio", metric, cpu_us(lib2) / cpu_us(fio), NULL,
			    "fio libaio");
		bench_ratio("aio", metric, cpu_us(lib) / cpu_us(raw), NULL,
			    "bare libaio, same loop");
	}
out:
	unlink(path);
	dax_truncate(m, 0);
	dax_mapping_put(&m);
	dax_region_close(&r);
	return 0;
}
