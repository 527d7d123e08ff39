// SPDX-License-Identifier: MIT
/*
 * Async I/O (libdax/aio.c): data through a real O_DIRECT file and back,
 * requests over mixed 4 KiB / 2 MiB entries and holes, errors carried by
 * events (a descriptor not open for writing, a read past the end of the
 * file), argument checks that leave nothing in flight or pinned, a full
 * queue, DAX_AIO_MORE, callbacks, teardown with requests in flight, and the
 * point of it all: a truncate of the range waits until the completion is
 * reaped, and a DAX_AIO_NOWAIT request fails while a drain runs.  Regions
 * are memfds with the built-in allocator; files live in a scratch folder
 * under /var/tmp (ext4 here; any file system with O_DIRECT will do).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "helpers.h"
#include "libdax/internal.h"

#define MiB (UINT64_C(1) << 20)
#define PAGE 4096u

static struct dax_region *r;
static struct dax_mapping *m;
static struct dax_aio *aio;
static char dir[] = "/var/tmp/libdax-aio-test.XXXXXX";
static char path[sizeof(dir) + 16];
static int fd = -1;		/* O_RDWR | O_DIRECT on path */
static int plain_fd = -1;	/* O_RDWR on path, to check contents */

static const struct dax_mapping_ops ops;	/* the built-in allocator */

static void setup(void)
{
	struct dax_region_opts *o;

	cr_assert_eq(dax_region_opts_new(&o), 0);
	cr_assert_eq(dax_region_opts_set_size(o, 64 * MiB), 0);
	cr_assert_eq(dax_region_open("memfd:aio-test", o, &r), 0, "%s",
		     dax_errormsg());
	dax_region_opts_delete(&o);
	cr_assert_eq(dax_mapping_new(r, &ops, NULL, 32 * MiB, &m), 0, "%s",
		     dax_errormsg());
	strcpy(dir, "/var/tmp/libdax-aio-test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_RDWR | O_CREAT | O_DIRECT, 0600);
	if (fd < 0)
		cr_skip_test("O_DIRECT open of %s: %s", path, strerror(errno));
	plain_fd = open(path, O_RDWR);
	cr_assert_geq(plain_fd, 0);
	cr_assert_eq(dax_aio_setup(m, 32, &aio), 0, "%s", dax_errormsg());
}

static void teardown(void)
{
	char cmd[128];

	cr_assert_eq(dax_aio_teardown(&aio), 0, "%s", dax_errormsg());
	if (fd >= 0)
		close(fd);
	if (plain_fd >= 0)
		close(plain_fd);
	fd = plain_fd = -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
	test_end_mapping_and_region(&m, &r);
}

static uint8_t pattern(uint64_t byte, unsigned seed)
{
	return (uint8_t)((byte >> 9) * 31 + (byte & 511) + seed * 7 + 1);
}

/* Write-fault pages [index, index + n) (entries as given) and fill them. */
static void fill(uint64_t index, uint64_t n, unsigned fault_flags,
		 unsigned seed)
{
	for (uint64_t i = index; i < index + n;) {
		struct dax_fault_ext ext;
		uint64_t next;

		cr_assert_eq(dax_fault(m, i, DAX_FAULT_WRITE | fault_flags,
				       &ext),
			     0, "fault %llu: %s", (unsigned long long)i,
			     dax_errormsg());
		next = ext.first + (UINT64_C(1) << ext.order);
		if (next > index + n)
			next = index + n;
		for (uint64_t b = i * PAGE; b < next * PAGE; b++)
			((uint8_t *)ext.entry_addr)[b - ext.first * PAGE] =
				pattern(b, seed);
		i = next;
	}
}

/* Do the mapping's bytes [off, off + len) hold pattern(seed) shifted so
 * that byte @off holds pattern(@src)? */
static void check_mapping(uint64_t off, uint64_t len, uint64_t src,
			  unsigned seed)
{
	for (uint64_t b = off; b < off + len; b += PAGE) {
		struct dax_fault_ext ext;
		const uint8_t *p;

		cr_assert_eq(dax_fault(m, b / PAGE, 0, &ext), 0, "%s",
			     dax_errormsg());
		p = ext.addr;
		for (unsigned i = 0; i < PAGE; i++)
			cr_assert_eq(p[i], pattern(src + (b - off) + i, seed),
				     "mapping byte 0x%llx",
				     (unsigned long long)(b + i));
	}
}

/* The file's bytes [foff, +len): pattern from mapping byte @src, or 0s
 * where @zero says so (NULL: none). */
static void check_file(uint64_t foff, uint64_t len, uint64_t src,
		       unsigned seed, bool (*zero)(uint64_t src_byte))
{
	uint8_t *buf = malloc(len);

	cr_assert_not_null(buf);
	cr_assert_eq(pread(plain_fd, buf, len, (off_t)foff), (ssize_t)len);
	for (uint64_t i = 0; i < len; i++) {
		uint8_t want = zero && zero(src + i) ? 0 :
						       pattern(src + i, seed);

		cr_assert_eq(buf[i], want, "file byte 0x%llx: %u, want %u",
			     (unsigned long long)(foff + i), buf[i], want);
	}
	free(buf);
}

static struct dax_aio_event reap_one(void)
{
	struct dax_aio_event ev;

	cr_assert_eq(dax_aio_reap(aio, 1, 1, &ev, 10000), 1, "%s",
		     dax_errormsg());
	return ev;
}

static unsigned in_flight(void)
{
	unsigned n = 99;

	cr_assert_eq(dax_aio_get_in_flight(aio, &n), 0);
	return n;
}

/* No pin of the mapping is held: a break-layouts with no time succeeds. */
static void assert_nothing_pinned(void)
{
	cr_assert_eq(dax_break_layouts(m, 0, DAX_MAPPING_MAX_INDEX, 0), 0,
		     "a pin is still held: %s", dax_errormsg());
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- data -------------------------------------------------------------------- */

Test(aio, write_to_a_file_and_read_back_round_trip, .init = setup,
     .fini = teardown)
{
	struct dax_aio_event ev;
	int marker;

	fill(0, 256, 0, 1);
	cr_assert_eq(dax_aio_write(aio, 0, MiB, fd, 8192, 0, &marker), 0, "%s",
		     dax_errormsg());
	ev = reap_one();
	cr_assert_eq(ev.priv, &marker);
	cr_assert_eq(ev.result, (int64_t)MiB, "%s",
		     strerror((int)-ev.result));
	check_file(8192, MiB, 0, 1, NULL);
	cr_assert_eq(in_flight(), 0);
	assert_nothing_pinned();

	/* back into a hole of the mapping, at an offset 512 bytes in */
	cr_assert_eq(dax_aio_read(aio, fd, 8192, 4 * MiB + 512, MiB - 512, 0,
				  NULL),
		     0, "%s", dax_errormsg());
	ev = reap_one();
	cr_assert_eq(ev.result, (int64_t)(MiB - 512));
	for (uint64_t b = 4 * MiB + 512; b < 5 * MiB; b += 4096 - 512) {
		struct dax_fault_ext ext;

		cr_assert_eq(dax_fault(m, b / PAGE, 0, &ext), 0);
		cr_assert_eq(((uint8_t *)ext.addr)[b % PAGE],
			     pattern(b - 4 * MiB - 512, 1));
	}
	/* the first 512 bytes of the page were zeroed by the allocation */
	{
		struct dax_fault_ext ext;

		cr_assert_eq(dax_fault(m, 4 * MiB / PAGE, 0, &ext), 0);
		for (unsigned i = 0; i < 512; i++)
			cr_assert_eq(((uint8_t *)ext.addr)[i], 0);
	}
	/* a read from a file is a write to the mapping: entries are dirty */
	cr_assert(dax_tree_get_mark(m->tree, 4 * MiB / PAGE,
				    DAX_ENTRY_MARK_DIRTY));
	cr_assert(dax_tree_get_mark(m->tree, 5 * MiB / PAGE - 1,
				    DAX_ENTRY_MARK_DIRTY));
	assert_nothing_pinned();
}

Test(aio, read_entries_are_dirty_again_after_a_writeback_during_the_transfer,
     .init = setup, .fini = teardown)
{
	uint64_t first = 2 * MiB / PAGE, last = first + 15;

	fill(0, 16, 0, 16);
	cr_assert_eq(dax_aio_write(aio, 0, 16 * PAGE, fd, 0, 0, NULL), 0);
	cr_assert_eq(reap_one().result, 16 * PAGE);
	cr_assert_eq(dax_aio_read(aio, fd, 0, 2 * MiB, 16 * PAGE, 0, NULL), 0);
	cr_assert(dax_tree_get_mark(m->tree, first, DAX_ENTRY_MARK_DIRTY));
	/* a writeback while the transfer is (or was) in flight, unreaped */
	cr_assert_eq(dax_writeback(m, first, last), 0, "%s", dax_errormsg());
	cr_assert_not(dax_tree_get_mark(m->tree, first,
					DAX_ENTRY_MARK_DIRTY));
	cr_assert_eq(reap_one().result, 16 * PAGE);
	for (uint64_t i = first; i <= last; i++)
		cr_assert(dax_tree_get_mark(m->tree, i, DAX_ENTRY_MARK_DIRTY),
			  "page %llu clean after the reap",
			  (unsigned long long)i);
	check_mapping(2 * MiB, 16 * PAGE, 0, 16);
}

static bool zero_hole(uint64_t src_byte)
{
	/* the range below starts at page 500: pages 500..507 and 1028..1030
	 * are holes */
	uint64_t page = src_byte / PAGE + 500;

	return page < 508 || page >= 1028;
}

Test(aio, one_request_over_4k_and_2m_entries_and_holes, .init = setup,
     .fini = teardown)
{
	struct dax_fault_stats before, after;
	struct dax_fault_ext ext;
	struct dax_aio_event ev;
	uint64_t off = 500 * PAGE, len = 531 * PAGE;

	fill(508, 4, 0, 2);
	fill(512, 512, DAX_FAULT_SIZE_2M, 2);
	fill(1024, 4, 0, 2);
	cr_assert_eq(dax_fault(m, 600, 0, &ext), 0);
	cr_assert_eq(ext.order, 9, "no 2 MiB entry to test with");
	cr_assert_eq(dax_fault_get_stats(m, &before), 0);
	cr_assert_eq(dax_aio_write(aio, off, len, fd, 0, 0, NULL), 0, "%s",
		     dax_errormsg());
	ev = reap_one();
	cr_assert_eq(ev.result, (int64_t)len, "%lld", (long long)ev.result);
	/* file byte i is mapping byte off + i: pattern(off + i) or zero */
	{
		uint8_t *buf = malloc(len);

		cr_assert_eq(pread(plain_fd, buf, len, 0), (ssize_t)len);
		for (uint64_t i = 0; i < len; i++)
			cr_assert_eq(buf[i], zero_hole(i) ? 0 :
					     pattern(off + i, 2),
				     "file byte 0x%llx",
				     (unsigned long long)i);
		free(buf);
	}
	cr_assert_eq(dax_fault_get_stats(m, &after), 0);
	cr_assert_eq(after.allocations, before.allocations,
		     "writing holes to a file allocated blocks");

	/* and back into a 2 MiB-aligned hole: served by a 2 MiB entry */
	cr_assert_eq(dax_aio_read(aio, fd, 8 * PAGE, 8 * MiB, 2 * MiB, 0,
				  NULL),
		     0, "%s", dax_errormsg());
	ev = reap_one();
	cr_assert_eq(ev.result, (int64_t)(2 * MiB));
	cr_assert_eq(dax_fault(m, 8 * MiB / PAGE, 0, &ext), 0);
	cr_assert_eq(ext.order, 9);
	/* file page 8 is mapping page 508 */
	check_mapping(8 * MiB, 2 * MiB, 508 * PAGE, 2);
}

Test(aio, fd_without_o_direct_is_accepted, .init = setup, .fini = teardown)
{
	struct dax_aio_event ev;

	fill(16, 4, 0, 3);
	cr_assert_eq(dax_aio_write(aio, 16 * PAGE, 4 * PAGE, plain_fd, 0, 0,
				   NULL),
		     0, "%s", dax_errormsg());
	ev = reap_one();
	cr_assert_eq(ev.result, 4 * PAGE);
	check_file(0, 4 * PAGE, 16 * PAGE, 3, NULL);
}

/* ---- errors carried by events ------------------------------------------------- */

Test(aio, write_to_a_descriptor_not_open_for_writing_ends_with_ebadf,
     .init = setup, .fini = teardown)
{
	int ro = open(path, O_RDONLY | O_DIRECT);
	struct dax_aio_event ev;

	cr_assert_geq(ro, 0);
	fill(0, 1, 0, 4);
	cr_assert_eq(dax_aio_write(aio, 0, PAGE, ro, 0, 0, NULL), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(in_flight(), 1);
	ev = reap_one();
	cr_assert_eq(ev.result, -EBADF, "%lld", (long long)ev.result);
	cr_assert_eq(in_flight(), 0);
	assert_nothing_pinned();
	close(ro);
}

Test(aio, read_past_the_end_of_the_file_is_short, .init = setup,
     .fini = teardown)
{
	struct dax_aio_event ev;

	fill(0, 2, 0, 5);
	cr_assert_eq(dax_aio_write(aio, 0, 2 * PAGE, fd, 0, 0, NULL), 0);
	cr_assert_eq(reap_one().result, 2 * PAGE);
	cr_assert_eq(dax_aio_read(aio, fd, 0, MiB, 16 * PAGE, 0, NULL), 0,
		     "%s", dax_errormsg());
	ev = reap_one();
	cr_assert_eq(ev.result, 2 * PAGE, "%lld", (long long)ev.result);
	check_mapping(MiB, 2 * PAGE, 0, 5);
	cr_assert_eq(dax_aio_read(aio, fd, 64 * PAGE, MiB, PAGE, 0, NULL), 0);
	cr_assert_eq(reap_one().result, 0);
}

/* ---- argument checks ------------------------------------------------------------- */

Test(aio, bad_arguments_refused_nothing_in_flight_nothing_pinned,
     .init = setup, .fini = teardown)
{
	struct dax_aio *a2 = (void *)1;
	struct dax_aio_event ev;
	int closed = dup(fd);

	close(closed);
	assert_fails_with(dax_aio_setup(NULL, 4, &a2), -EINVAL, "NULL");
	cr_assert_null(a2);
	assert_fails_with(dax_aio_setup(m, 0, &a2), -EINVAL, "depth");
	assert_fails_with(dax_aio_write(NULL, 0, PAGE, fd, 0, 0, NULL),
			  -EINVAL, "NULL");
	assert_fails_with(dax_aio_write(aio, 0, 0, fd, 0, 0, NULL), -EINVAL,
			  "length is 0");
	assert_fails_with(dax_aio_write(aio, 100, 512, fd, 0, 0, NULL),
			  -EINVAL, "mapping offset");
	assert_fails_with(dax_aio_write(aio, 0, 100, fd, 0, 0, NULL),
			  -EINVAL, "length");
	assert_fails_with(dax_aio_read(aio, fd, 100, 0, PAGE, 0, NULL),
			  -EINVAL, "file offset");
	assert_fails_with(dax_aio_write(aio, 32 * MiB - PAGE, 2 * PAGE, fd, 0,
					0, NULL),
			  -EINVAL, "inside the mapping");
	assert_fails_with(dax_aio_write(aio, 64 * MiB, PAGE, fd, 0, 0, NULL),
			  -EINVAL, "inside the mapping");
	assert_fails_with(dax_aio_write(aio, 0, PAGE, fd, 0, 0x100, NULL),
			  -EINVAL, "flags");
	assert_fails_with(dax_aio_write(aio, 0, PAGE, -1, 0, 0, NULL), -EBADF,
			  "not open");
	assert_fails_with(dax_aio_read(aio, closed, 0, 0, PAGE, 0, NULL),
			  -EBADF, "not open");
	assert_fails_with(dax_aio_reap(aio, 2, 1, &ev, 0), -EINVAL, "min_nr");
	assert_fails_with(dax_aio_reap(aio, 0, 1, NULL, 0), -EINVAL,
			  "events");
	assert_fails_with(dax_aio_get_in_flight(NULL, NULL), -EINVAL, "NULL");
	cr_assert_eq(in_flight(), 0);
	assert_nothing_pinned();
	cr_assert_eq(dax_aio_reap(aio, 0, 1, &ev, 0), 0);
}

Test(aio, setup_beyond_aio_max_nr_names_the_sysctl, .init = setup,
     .fini = teardown)
{
	struct dax_aio *a2;
	FILE *f = fopen("/proc/sys/fs/aio-max-nr", "r");
	unsigned long max = 0;

	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%lu", &max), 1);
	fclose(f);
	if (max >= 2 * 65536)
		cr_skip_test("fs.aio-max-nr is %lu: io_setup(65536) fits", max);
	assert_fails_with(dax_aio_setup(m, 65536, &a2), -EAGAIN,
			  "aio-max-nr");
	cr_assert_null(a2);
}

/* ---- queue ------------------------------------------------------------------------- */

Test(aio, full_queue_fails_with_eagain_until_reaped, .init = setup,
     .fini = teardown)
{
	struct dax_aio *a2;
	struct dax_aio_event ev[2];

	fill(0, 3, 0, 6);
	cr_assert_eq(dax_aio_setup(m, 2, &a2), 0, "%s", dax_errormsg());
	cr_assert_eq(dax_aio_write(a2, 0, PAGE, fd, 0, 0, NULL), 0);
	cr_assert_eq(dax_aio_write(a2, PAGE, PAGE, fd, PAGE, 0, NULL), 0);
	assert_fails_with(dax_aio_write(a2, 2 * PAGE, PAGE, fd, 2 * PAGE, 0,
					NULL),
			  -EAGAIN, "in use");
	cr_assert_eq(dax_aio_reap(a2, 2, 2, ev, 10000), 2);
	cr_assert_eq(dax_aio_write(a2, 2 * PAGE, PAGE, fd, 2 * PAGE, 0, NULL),
		     0);
	cr_assert_eq(dax_aio_reap(a2, 1, 2, ev, 10000), 1);
	cr_assert_eq(ev[0].result, PAGE);
	cr_assert_eq(dax_aio_teardown(&a2), 0);
	cr_assert_null(a2);
	check_file(0, 3 * PAGE, 0, 6, NULL);
}

Test(aio, more_queues_until_submit, .init = setup, .fini = teardown)
{
	struct dax_aio_event ev[3];
	unsigned nr;

	fill(0, 3, 0, 7);
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(dax_aio_write(aio, i * PAGE, PAGE, fd, i * PAGE,
					   DAX_AIO_MORE, NULL),
			     0);
	cr_assert_eq(dax_aio_get_in_flight(aio, &nr), 0);
	cr_assert_eq(nr, 3);
	/* nothing was handed to the kernel: nothing can complete */
	cr_assert_eq(dax_aio_reap(aio, 1, 3, ev, 50), 0);
	cr_assert_eq(dax_aio_submit(aio), 3);
	cr_assert_eq(dax_aio_submit(aio), 0);
	cr_assert_eq(dax_aio_reap(aio, 3, 3, ev, 10000), 3);
	check_file(0, 3 * PAGE, 0, 7, NULL);
	cr_assert_eq(in_flight(), 0);
}

struct reaper {
	int ret;
	struct dax_aio_event ev;
	_Atomic bool done;
};

static void *reap_thread(void *arg)
{
	struct reaper *rp = arg;

	rp->ret = dax_aio_reap(aio, 1, 1, &rp->ev, -1);
	atomic_store(&rp->done, true);
	return NULL;
}

Test(aio, idle_reaper_waits_for_a_submission_from_another_thread,
     .init = setup, .fini = teardown)
{
	struct reaper rp = { .ret = -1 };
	pthread_t t;
	int marker;

	fill(0, 1, 0, 15);
	cr_assert_eq(pthread_create(&t, NULL, reap_thread, &rp), 0);
	sleep_ms(100);
	cr_assert_not(atomic_load(&rp.done), "returned with nothing to reap");
	cr_assert_eq(dax_aio_write(aio, 0, PAGE, fd, 0, 0, &marker), 0);
	pthread_join(t, NULL);
	cr_assert_eq(rp.ret, 1, "%d", rp.ret);
	cr_assert_eq(rp.ev.priv, &marker);
	cr_assert_eq(rp.ev.result, PAGE);
}

Test(aio, a_range_in_many_pieces_is_split_into_several_iocbs, .init = setup,
     .fini = teardown)
{
	struct dax_aio_event ev;
	uint64_t n = 2100;

	/* every other page written first, so that neighbours are far apart
	 * in the region: one iovec per page */
	for (uint64_t i = 0; i < n; i += 2)
		fill(i, 1, 0, 8);
	for (uint64_t i = 1; i < n; i += 2)
		fill(i, 1, 0, 8);
	cr_assert_eq(dax_aio_write(aio, 0, n * PAGE, fd, 0, 0, NULL), 0, "%s",
		     dax_errormsg());
	ev = reap_one();
	cr_assert_eq(ev.result, (int64_t)(n * PAGE));
	check_file(0, n * PAGE, 0, 8, NULL);
}

/* ---- callbacks and teardown ------------------------------------------------------ */

static _Atomic int calls;
static struct dax_aio *cb_aio;	/* the context callbacks expect */
static uintptr_t seen_mask;
static int chain_left;

static void on_done(struct dax_aio *a, const struct dax_aio_event *ev)
{
	cr_assert_eq(a, cb_aio);
	cr_assert_eq(ev->result, PAGE);
	seen_mask |= (uintptr_t)1 << (uintptr_t)ev->priv;
	atomic_fetch_add(&calls, 1);
}

Test(aio, done_callback_is_called_once_per_request_by_the_reaper,
     .init = setup, .fini = teardown)
{
	atomic_store(&calls, 0);
	seen_mask = 0;
	cb_aio = aio;
	fill(0, 4, 0, 9);
	cr_assert_eq(dax_aio_set_done(aio, on_done), 0);
	for (uintptr_t i = 0; i < 4; i++)
		cr_assert_eq(dax_aio_write(aio, i * PAGE, PAGE, fd, i * PAGE, 0,
					   (void *)i),
			     0);
	cr_assert_eq(atomic_load(&calls), 0, "called before the reap");
	cr_assert_eq(dax_aio_reap(aio, 4, 4, NULL, 10000), 4);
	cr_assert_eq(atomic_load(&calls), 4);
	cr_assert_eq(seen_mask, 0xf);
	/* back to events */
	cr_assert_eq(dax_aio_set_done(aio, NULL), 0);
	cr_assert_eq(dax_aio_write(aio, 0, PAGE, fd, 0, 0, NULL), 0);
	cr_assert_eq(reap_one().result, PAGE);
	cr_assert_eq(atomic_load(&calls), 4);
}

static void on_done_chain(struct dax_aio *a, const struct dax_aio_event *ev)
{
	uintptr_t i = (uintptr_t)ev->priv;

	cr_assert_eq(ev->result, PAGE);
	atomic_fetch_add(&calls, 1);
	if (chain_left-- > 0)
		cr_assert_eq(dax_aio_write(a, (i + 1) * PAGE, PAGE, fd,
					   (i + 1) * PAGE, 0, (void *)(i + 1)),
			     0, "%s", dax_errormsg());
}

static _Atomic int reap_in_cb = 1;

static void on_done_reap(struct dax_aio *a, const struct dax_aio_event *ev)
{
	struct dax_aio_event e;
	struct dax_aio *self = a;

	atomic_store(&reap_in_cb, dax_aio_reap(a, 0, 1, &e, 0));
	cr_assert_eq(dax_aio_teardown(&self), -EDEADLK);
	cr_assert_eq(self, a);
}

Test(aio, done_callback_cannot_reap_or_tear_down_its_context,
     .init = setup, .fini = teardown)
{
	fill(0, 1, 0, 14);
	cr_assert_eq(dax_aio_set_done(aio, on_done_reap), 0);
	cr_assert_eq(dax_aio_write(aio, 0, PAGE, fd, 0, 0, NULL), 0);
	cr_assert_eq(dax_aio_reap(aio, 1, 1, NULL, 10000), 1);
	cr_assert_eq(atomic_load(&reap_in_cb), -EDEADLK);
	cr_assert_eq(in_flight(), 0);
}

Test(aio, done_callback_may_submit_the_next_request_at_depth_one,
     .init = setup, .fini = teardown)
{
	cr_assert_eq(dax_aio_teardown(&aio), 0);
	cr_assert_eq(dax_aio_setup(m, 1, &aio), 0);
	atomic_store(&calls, 0);
	chain_left = 7;
	fill(0, 8, 0, 10);
	cr_assert_eq(dax_aio_set_done(aio, on_done_chain), 0);
	cr_assert_eq(dax_aio_write(aio, 0, PAGE, fd, 0, 0, (void *)0), 0);
	while (atomic_load(&calls) < 8)
		cr_assert_eq(dax_aio_reap(aio, 1, 1, NULL, 10000), 1);
	check_file(0, 8 * PAGE, 0, 10, NULL);
}

Test(aio, teardown_waits_for_requests_in_flight_and_calls_back,
     .init = setup, .fini = teardown)
{
	atomic_store(&calls, 0);
	seen_mask = 0;
	cb_aio = aio;
	fill(0, 16, 0, 11);
	cr_assert_eq(dax_aio_set_done(aio, on_done), 0);
	for (uintptr_t i = 0; i < 16; i++)
		cr_assert_eq(dax_aio_write(aio, i * PAGE, PAGE, fd, i * PAGE,
					   i == 15 ? DAX_AIO_MORE : 0,
					   (void *)i),
			     0);
	cr_assert_eq(dax_aio_teardown(&aio), 0);
	cr_assert_null(aio);
	cr_assert_eq(atomic_load(&calls), 16);
	cr_assert_eq(seen_mask, 0xffff);
	assert_nothing_pinned();
	check_file(0, 16 * PAGE, 0, 11, NULL);
}

/* ---- against truncate --------------------------------------------------------------- */

Test(aio, truncate_of_the_range_waits_until_the_completion_is_reaped,
     .init = setup, .fini = teardown)
{
	struct test_truncator t = { .m = m, .size = 0 };
	struct dax_aio_event ev;
	pthread_t th;

	fill(0, 64, 0, 12);
	cr_assert_eq(dax_aio_write(aio, 0, 64 * PAGE, fd, 0, 0, NULL), 0);
	sleep_ms(100);		/* complete in the kernel, not reaped */
	cr_assert_eq(pthread_create(&th, NULL, test_truncate_thread, &t), 0);
	sleep_ms(200);
	cr_assert_not(atomic_load(&t.done),
		      "truncate went ahead of an unreaped transfer (%d)",
		      t.ret);
	cr_assert_eq(dax_mapping_get_size(m), 32 * MiB);
	cr_assert_eq(dax_aio_reap(aio, 1, 1, &ev, 10000), 1);
	cr_assert_eq(ev.result, 64 * PAGE);
	pthread_join(th, NULL);
	cr_assert_eq(t.ret, 0, "%s", strerror(-t.ret));
	cr_assert_eq(dax_mapping_get_size(m), 0);
	check_file(0, 64 * PAGE, 0, 12, NULL);
	/* and nothing may start in the truncated range now */
	assert_fails_with(dax_aio_write(aio, 0, PAGE, fd, 0, 0, NULL),
			  -EINVAL, "inside the mapping");
}

Test(aio, nowait_request_fails_with_eagain_while_the_range_drains,
     .init = setup, .fini = teardown)
{
	struct test_truncator t = { .m = m, .size = 16 * MiB };
	struct dax_pin *held;
	pthread_t th;
	int ret = 0;

	fill(4096, 1, 0, 13);
	cr_assert_eq(dax_pin_range(m, 0, 0, 0, &held), 0);
	cr_assert_eq(pthread_create(&th, NULL, test_truncate_thread, &t), 0);
	for (int i = 0; i < 5000; i++) {
		ret = dax_aio_write(aio, 16 * MiB, PAGE, fd, 0,
				    DAX_AIO_NOWAIT, NULL);
		if (ret == -EAGAIN)
			break;
		cr_assert_eq(ret, 0, "%s", dax_errormsg());
		cr_assert_eq(reap_one().result, PAGE);
		sleep_ms(1);
	}
	cr_assert_eq(ret, -EAGAIN, "the drain never started");
	cr_assert(strstr(dax_errormsg(), "draining"), "%s", dax_errormsg());
	cr_assert_eq(in_flight(), 0);
	/* outside the drained range it goes in */
	fill(0, 1, 0, 13);
	cr_assert_eq(dax_aio_write(aio, 0, PAGE, fd, 0, DAX_AIO_NOWAIT, NULL),
		     0, "%s", dax_errormsg());
	cr_assert_not(atomic_load(&t.done));
	dax_unpin(&held);
	cr_assert_eq(reap_one().result, PAGE);
	pthread_join(th, NULL);
	cr_assert_eq(t.ret, 0, "%s", strerror(-t.ret));
}
