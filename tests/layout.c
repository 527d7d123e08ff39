// SPDX-License-Identifier: MIT
/*
 * Pins, leases, break-layouts, truncate and hole punch (libdax/layout.c):
 * pins refused or made to wait while a drain of their range runs, late pins
 * outside it, readers holding pointers across a truncate, leases broken
 * cooperatively, ignored (revoked after the break time) or unbreakable,
 * a timed-out truncate that changes nothing, a 2 MiB entry split by a
 * truncate, hole punch.  Regions are memfds with the built-in allocator.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "helpers.h"
#include "libdax/internal.h"

#define MiB (UINT64_C(1) << 20)
#define PAGE 4096

static struct dax_region *r;
static struct dax_mapping *m;
static struct dax_lease *held_lease;
static _Atomic int breaks;
static bool cooperative;

static int on_lease_break(struct dax_mapping *mapping, void *priv,
			  struct dax_lease *lease, uint64_t start,
			  uint64_t last)
{
	atomic_fetch_add(&breaks, 1);
	if (cooperative && lease == held_lease)
		dax_lease_release(&held_lease);
	return 0;
}

static const struct dax_mapping_ops ops = { .lease_break = on_lease_break };

static void setup(void)
{
	struct dax_region_opts *o;

	cr_assert_eq(dax_region_opts_new(&o), 0);
	cr_assert_eq(dax_region_opts_set_size(o, 64 * MiB), 0);
	cr_assert_eq(dax_region_open("memfd:layout-test", o, &r), 0, "%s",
		     dax_errormsg());
	dax_region_opts_delete(&o);
	cr_assert_eq(dax_mapping_new(r, &ops, NULL, 16 * MiB, &m), 0, "%s",
		     dax_errormsg());
	atomic_store(&breaks, 0);
	cooperative = false;
	held_lease = NULL;
}

static void teardown(void)
{
	dax_lease_release(&held_lease);
	test_end_mapping_and_region(&m, &r);
}

static struct dax_alloc_stats alloc_stats(void)
{
	struct dax_alloc_stats st;

	cr_assert_eq(dax_alloc_get_stats(r, &st), 0, "%s", dax_errormsg());
	return st;
}

static void settle(void)
{
	for (int i = 0; i < 100 && alloc_stats().pending_pages; i++)
		dax_rcu_barrier();
}

static void *write_page(uint64_t index, unsigned flags, int byte)
{
	struct dax_fault_ext ext;
	int ret = dax_fault(m, index, DAX_FAULT_WRITE | flags, &ext);

	cr_assert_eq(ret, 0, "fault %llu: %s", (unsigned long long)index,
		     dax_errormsg());
	memset(ext.addr, byte, PAGE);
	return ext.addr;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- pins ------------------------------------------------------------------- */

Test(layout, pin_and_unpin_with_bad_arguments_refused, .init = setup,
     .fini = teardown)
{
	struct dax_pin *p = (void *)1;

	assert_fails_with(dax_pin_range(NULL, 0, 0, 0, &p), -EINVAL, "NULL");
	cr_assert_null(p);
	assert_fails_with(dax_pin_range(m, 5, 4, 0, &p), -EINVAL, "range");
	assert_fails_with(dax_pin_range(m, 0, 0, 0x80, &p), -EINVAL, "flags");
	cr_assert_eq(dax_pin_range(m, 0, 10, 0, &p), 0, "%s", dax_errormsg());
	cr_assert_not_null(p);
	cr_assert_eq(dax_unpin(&p), 0);
	cr_assert_null(p);
	cr_assert_eq(dax_unpin(&p), 0);
	cr_assert_eq(dax_unpin(NULL), 0);
}

struct breaker {
	uint64_t start, last;
	int timeout_ms;
	int ret;
	_Atomic bool done;
};

static void *break_thread(void *arg)
{
	struct breaker *b = arg;

	b->ret = dax_break_layouts(m, b->start, b->last, b->timeout_ms);
	atomic_store(&b->done, true);
	return NULL;
}

/* Wait until a drain of [start, last] is running (a NOWAIT pin fails). */
static void wait_draining(uint64_t index)
{
	struct dax_pin *p;

	for (int i = 0; i < 5000; i++) {
		int ret = dax_pin_range(m, index, index, DAX_PIN_NOWAIT, &p);

		if (ret == -EAGAIN)
			return;
		cr_assert_eq(ret, 0);
		dax_unpin(&p);
		sleep_ms(1);
	}
	cr_assert_fail("the drain never started");
}

Test(layout, pin_in_a_draining_range_fails_with_nowait_outside_goes_in,
     .init = setup, .fini = teardown)
{
	struct dax_pin *old, *late, *p;
	struct breaker b = { .start = 100, .last = 200, .timeout_ms = -1 };
	pthread_t t;

	cr_assert_eq(dax_pin_range(m, 150, 160, 0, &old), 0);
	cr_assert_eq(pthread_create(&t, NULL, break_thread, &b), 0);
	wait_draining(150);
	assert_fails_with(dax_pin_range(m, 200, 300, DAX_PIN_NOWAIT, &p),
			  -EAGAIN, "draining");
	cr_assert_null(p);
	/* outside the range: goes in, and this drain does not wait for it */
	cr_assert_eq(dax_pin_range(m, 0, 99, DAX_PIN_NOWAIT, &late), 0);
	cr_assert_not(atomic_load(&b.done), "drained with a pin held");
	dax_unpin(&old);
	pthread_join(t, NULL);
	cr_assert_eq(b.ret, 0, "%s", strerror(-b.ret));
	/* the next drain waits for it: it existed when that one began */
	assert_fails_with(dax_break_layouts(m, 100, 200, 30), -ETIMEDOUT,
			  "pin");
	dax_unpin(&late);
	cr_assert_eq(dax_break_layouts(m, 100, 200, 1000), 0);
}

struct pinner {
	uint64_t index;
	int ret;
	_Atomic bool done;
	struct dax_pin *pin;
};

static void *pin_thread(void *arg)
{
	struct pinner *p = arg;

	p->ret = dax_pin_range(m, p->index, p->index, 0, &p->pin);
	atomic_store(&p->done, true);
	return NULL;
}

Test(layout, pin_in_a_draining_range_waits_for_the_drain, .init = setup,
     .fini = teardown)
{
	struct dax_pin *old;
	struct breaker b = { .start = 0, .last = 50, .timeout_ms = 10000 };
	struct pinner pn = { .index = 10 };
	pthread_t t, tp;

	cr_assert_eq(dax_pin_range(m, 0, 0, 0, &old), 0);
	cr_assert_eq(pthread_create(&t, NULL, break_thread, &b), 0);
	wait_draining(10);
	cr_assert_eq(pthread_create(&tp, NULL, pin_thread, &pn), 0);
	sleep_ms(50);
	cr_assert_not(atomic_load(&pn.done), "a pin slipped into a drain");
	dax_unpin(&old);
	pthread_join(t, NULL);
	pthread_join(tp, NULL);
	cr_assert_eq(b.ret, 0);
	cr_assert_eq(pn.ret, 0);
	dax_unpin(&pn.pin);
}

/* ---- pin and fault ------------------------------------------------------------ */

static void *truncate_to_zero(void *arg)
{
	*(int *)arg = dax_truncate(m, 0);
	return NULL;
}

Test(layout, pin_fault_keeps_the_pointer_until_the_unpin, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;
	struct dax_pin *p = (void *)1;
	unsigned char *addr;
	pthread_t t;
	int tret = 1;

	write_page(3, 0, 0x5a);
	cr_assert_eq(dax_pin_fault(m, 3, 0, &ext, &p), 0, "%s",
		     dax_errormsg());
	cr_assert_not_null(p);
	addr = ext.addr;
	cr_assert_eq(addr[10], 0x5a);
	cr_assert_eq(pthread_create(&t, NULL, truncate_to_zero, &tret), 0);
	sleep_ms(50);
	/* the truncate waits: the block is still ours */
	cr_assert_eq(dax_mapping_get_size(m), 16 * MiB);
	cr_assert_eq(addr[4095], 0x5a);
	dax_unpin(&p);
	pthread_join(t, NULL);
	cr_assert_eq(tret, 0);
	cr_assert_eq(dax_mapping_get_size(m), 0);
}

Test(layout, pin_fault_that_fails_holds_no_pin, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;
	struct dax_pin *p = (void *)1;

	/* past the end: the fault fails, the pin is dropped again */
	assert_fails_with(dax_pin_fault(m, 16 * MiB / PAGE, 0, &ext, &p),
			  -ENXIO, "");
	cr_assert_null(p);
	cr_assert_eq(dax_break_layouts(m, 0, DAX_MAPPING_MAX_INDEX, 0), 0,
		     "a pin was left behind: %s", dax_errormsg());
	assert_fails_with(dax_pin_fault(m, 0, 0, NULL, &p), -EINVAL, "ext");
	cr_assert_null(p);
	/* a 2 MiB fault pins its whole aligned range */
	cr_assert_eq(dax_pin_fault(m, 700, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M,
				   &ext, &p), 0, "%s", dax_errormsg());
	cr_assert_eq(ext.order, 9);
	assert_fails_with(dax_break_layouts(m, 0, 0, 20), -ETIMEDOUT, "pin");
	dax_unpin(&p);
}

/* ---- truncate with readers -------------------------------------------------- */

struct reader {
	_Atomic bool pinned, release;
	uint64_t sum;
};

static void *reader_thread(void *arg)
{
	struct reader *rd = arg;
	struct dax_fault_ext ext;
	struct dax_pin *p;

	cr_assert_eq(dax_pin_range(m, 0, 7, 0, &p), 0);
	cr_assert_eq(dax_fault(m, 5, 0, &ext), 0);
	atomic_store(&rd->pinned, true);
	while (!atomic_load(&rd->release))
		sleep_ms(1);
	/* still our block: truncate waits for the unpin before freeing */
	for (size_t i = 0; i < PAGE; i++)
		rd->sum += ((unsigned char *)ext.addr)[i];
	dax_unpin(&p);
	return NULL;
}

Test(layout, truncate_waits_for_a_reader_holding_a_pointer, .init = setup,
     .fini = teardown)
{
	struct reader rd = { 0 };
	struct test_truncator tr = { .m = m, .size = 0 };
	struct dax_fault_ext ext;
	pthread_t t1, t2;

	for (uint64_t i = 0; i < 8; i++)
		write_page(i, 0, 1);
	cr_assert_eq(pthread_create(&t1, NULL, reader_thread, &rd), 0);
	while (!atomic_load(&rd.pinned))
		sleep_ms(1);
	cr_assert_eq(pthread_create(&t2, NULL, test_truncate_thread, &tr), 0);
	sleep_ms(50);
	cr_assert_not(atomic_load(&tr.done), "truncate did not wait");
	cr_assert_eq(dax_mapping_get_size(m), 16 * MiB);
	atomic_store(&rd.release, true);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	cr_assert_eq(tr.ret, 0, "%s", strerror(-tr.ret));
	cr_assert_eq(rd.sum, PAGE, "the reader saw other data");
	cr_assert_eq(dax_mapping_get_size(m), 0);
	cr_assert_eq(dax_mapping_get_nr_entries(m), 0);
	cr_assert_eq(dax_fault(m, 0, 0, &ext), -ENXIO);
	settle();
	cr_assert_eq(alloc_stats().used_pages, 0);
}

Test(layout, truncate_timing_out_leaves_everything_in_place, .init = setup,
     .fini = teardown)
{
	struct dax_pin *p;
	struct dax_alloc_stats before, after;
	uint64_t entries;

	for (uint64_t i = 0; i < 16; i++)
		write_page(i, 0, (int)i);
	write_page(512, DAX_FAULT_SIZE_2M, 7);
	entries = dax_mapping_get_nr_entries(m);
	before = alloc_stats();
	cr_assert_eq(dax_mapping_set_layout_times(m, -1, 30), 0);
	cr_assert_eq(dax_pin_range(m, 3, 3, 0, &p), 0);
	assert_fails_with(dax_truncate(m, 4 * PAGE), -ETIMEDOUT, "pin");
	assert_fails_with(dax_punch_hole(m, 0, 4 * MiB), -ETIMEDOUT, "pin");
	after = alloc_stats();
	cr_assert_eq(dax_mapping_get_size(m), 16 * MiB);
	cr_assert_eq(dax_mapping_get_nr_entries(m), entries);
	cr_assert_eq(after.used_pages, before.used_pages);
	cr_assert_eq(after.pending_pages, 0);
	for (uint64_t i = 0; i < 16; i++) {
		struct dax_fault_ext ext;

		cr_assert_eq(dax_fault(m, i, 0, &ext), 0);
		cr_assert_eq(((unsigned char *)ext.addr)[100], i);
	}
	dax_unpin(&p);
	cr_assert_eq(dax_truncate(m, 4 * PAGE), 0, "%s", dax_errormsg());
	cr_assert_eq(dax_mapping_get_nr_entries(m), 4);
}

Test(layout, truncate_splits_a_straddling_2m_entry, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;
	uint64_t keep = 259;	/* pages below the new end */
	unsigned char *base;

	cr_assert_eq(dax_fault(m, 0, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M, &ext),
		     0);
	cr_assert_eq(ext.order, 9);
	base = ext.entry_addr;
	for (uint64_t i = 0; i < 512; i++)
		memset(base + i * PAGE, (int)(i & 0xff) | 1, PAGE);
	settle();
	cr_assert_eq(alloc_stats().used_pages, 512);
	cr_assert_eq(dax_truncate(m, keep * PAGE - 100), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_mapping_get_nr_entries(m), keep);
	for (uint64_t i = 0; i < keep; i++) {
		cr_assert_eq(dax_fault(m, i, 0, &ext), 0);
		cr_assert_eq(ext.order, 0);
		cr_assert_eq(((unsigned char *)ext.addr)[7],
			     (unsigned char)((i & 0xff) | 1));
	}
	cr_assert_eq(dax_fault(m, keep, 0, &ext), -ENXIO);
	settle();
	cr_assert_eq(alloc_stats().used_pages, keep);
}

Test(layout, punch_hole_removes_a_range_and_keeps_the_size, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;

	for (uint64_t i = 0; i < 10; i++)
		write_page(i, 0, 9);
	cr_assert_eq(dax_punch_hole(m, 2 * PAGE, 3 * PAGE), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_mapping_get_size(m), 16 * MiB);
	cr_assert_eq(dax_mapping_get_nr_entries(m), 7);
	cr_assert_eq(dax_fault(m, 3, 0, &ext), 0);
	cr_assert(ext.flags & DAX_FAULT_EXT_ZERO);
	cr_assert_eq(dax_fault(m, 5, 0, &ext), 0);
	cr_assert_eq(((unsigned char *)ext.addr)[0], 9);
	assert_fails_with(dax_punch_hole(m, 100, 0), -EINVAL, "empty");
	settle();
	cr_assert_eq(alloc_stats().used_pages, 7);
}

static void assert_bytes(uint64_t index, unsigned from, unsigned to,
			 unsigned char want)
{
	struct dax_fault_ext ext;
	struct dax_pin *p;

	cr_assert_eq(dax_pin_fault(m, index, 0, &ext, &p), 0, "%s",
		     dax_errormsg());
	for (unsigned i = from; i < to; i++)
		cr_assert_eq(((unsigned char *)ext.addr)[i], want,
			     "page %llu byte %u is 0x%x, wanted 0x%x",
			     (unsigned long long)index, i,
			     ((unsigned char *)ext.addr)[i], want);
	dax_unpin(&p);
}

static bool page_dirty(uint64_t index)
{
	uint64_t first, v;
	unsigned order;

	v = dax_tree_load_covering(m->tree, index, &first, &order);
	cr_assert(v && dax_entry_is_real(v), "page %llu has no block",
		  (unsigned long long)index);
	return dax_tree_get_mark(m->tree, first, DAX_ENTRY_MARK_DIRTY);
}

Test(layout, truncate_zeroes_the_tail_of_a_partial_page, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;

	for (uint64_t i = 0; i < 6; i++)
		write_page(i, 0, 0xab);
	cr_assert_eq(dax_writeback(m, 0, DAX_MAPPING_MAX_INDEX), 0, "%s",
		     dax_errormsg());
	cr_assert_not(page_dirty(3));
	cr_assert_eq(dax_truncate(m, 3 * PAGE + 100), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_mapping_get_size(m), 3 * PAGE + 100);
	cr_assert_eq(dax_mapping_get_nr_entries(m), 4);
	/* the zeroes must reach writeback */
	cr_assert(page_dirty(3), "the zeroed tail is not marked dirty");
	cr_assert_not(page_dirty(2));
	/* grow again: the old bytes past the size must not come back */
	cr_assert_eq(dax_truncate(m, 16 * MiB), 0);
	assert_bytes(2, 0, PAGE, 0xab);
	assert_bytes(3, 0, 100, 0xab);
	assert_bytes(3, 100, PAGE, 0);
	cr_assert_eq(dax_fault(m, 4, 0, &ext), 0);
	cr_assert(ext.flags & DAX_FAULT_EXT_ZERO);
	/* the same inside a 2 MiB entry, grown back with set_size */
	cr_assert_eq(dax_fault(m, 512, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M,
			       &ext), 0);
	cr_assert_eq(ext.order, 9);
	memset(ext.entry_addr, 0xcd, 2 * MiB);
	cr_assert_eq(dax_truncate(m, 515 * PAGE + 1), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_mapping_set_size(m, 16 * MiB), 0);
	assert_bytes(514, 0, PAGE, 0xcd);
	assert_bytes(515, 0, 1, 0xcd);
	assert_bytes(515, 1, PAGE, 0);
	cr_assert_eq(dax_fault(m, 516, 0, &ext), 0);
	cr_assert(ext.flags & DAX_FAULT_EXT_ZERO);
}

Test(layout, punch_hole_with_unaligned_ends_zeroes_the_partial_pages,
     .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext;
	uint64_t entries;

	for (uint64_t i = 0; i < 10; i++)
		write_page(i, 0, 9);
	cr_assert_eq(dax_writeback(m, 0, DAX_MAPPING_MAX_INDEX), 0);
	/* [2 pages + 100, 5 pages + 100): pages 3 and 4 go, 2 and 5 are cut */
	cr_assert_eq(dax_punch_hole(m, 2 * PAGE + 100, 3 * PAGE), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_mapping_get_size(m), 16 * MiB);
	cr_assert_eq(dax_mapping_get_nr_entries(m), 8);
	assert_bytes(2, 0, 100, 9);
	assert_bytes(2, 100, PAGE, 0);
	for (uint64_t i = 3; i < 5; i++) {
		cr_assert_eq(dax_fault(m, i, 0, &ext), 0);
		cr_assert(ext.flags & DAX_FAULT_EXT_ZERO, "page %llu kept",
			  (unsigned long long)i);
	}
	assert_bytes(5, 0, 100, 0);
	assert_bytes(5, 100, PAGE, 9);
	cr_assert(page_dirty(2) && page_dirty(5));
	cr_assert_not(page_dirty(6));
	/* inside one page: only those bytes, the entry stays */
	entries = dax_mapping_get_nr_entries(m);
	cr_assert_eq(dax_punch_hole(m, 7 * PAGE + 10, 20), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(dax_mapping_get_nr_entries(m), entries);
	assert_bytes(7, 0, 10, 9);
	assert_bytes(7, 10, 30, 0);
	assert_bytes(7, 30, PAGE, 9);
	/* an unaligned start with an aligned end, over a hole: nothing else */
	cr_assert_eq(dax_punch_hole(m, 8 * PAGE + 1, PAGE - 1), 0);
	assert_bytes(8, 0, 1, 9);
	assert_bytes(8, 1, PAGE, 0);
	assert_bytes(9, 0, PAGE, 9);
	settle();
	cr_assert_eq(alloc_stats().used_pages, 8);
}

/* ---- leases ------------------------------------------------------------------- */

Test(layout, cooperative_lease_is_released_on_break, .init = setup,
     .fini = teardown)
{
	cooperative = true;
	cr_assert_eq(dax_lease_take(m, 0, 100, 0, &held_lease), 0);
	write_page(50, 0, 1);
	cr_assert_eq(dax_truncate(m, 10 * PAGE), 0, "%s", dax_errormsg());
	cr_assert_eq(atomic_load(&breaks), 1);
	cr_assert_null(held_lease);
	cr_assert_eq(dax_mapping_get_size(m), 10 * PAGE);
}

Test(layout, ignored_lease_is_revoked_after_the_break_time, .init = setup,
     .fini = teardown)
{
	cr_assert_eq(dax_mapping_set_layout_times(m, 20, -1), 0);
	cr_assert_eq(dax_lease_take(m, 0, 100, 0, &held_lease), 0);
	cr_assert_not(dax_lease_is_revoked(held_lease));
	cr_assert_eq(dax_break_layouts(m, 50, 60, 5000), 0, "%s",
		     dax_errormsg());
	cr_assert_eq(atomic_load(&breaks), 1);
	cr_assert(dax_lease_is_revoked(held_lease));
	/* a second change does not see it any more */
	cr_assert_eq(dax_break_layouts(m, 0, 100, 0), 0);
	cr_assert_eq(atomic_load(&breaks), 1);
	cr_assert_eq(dax_lease_release(&held_lease), 0);
}

Test(layout, lease_outlasting_the_timeout_fails_with_etimedout,
     .init = setup, .fini = teardown)
{
	cr_assert_eq(dax_lease_take(m, 0, 100, 0, &held_lease), 0);
	assert_fails_with(dax_break_layouts(m, 0, 0, 20), -ETIMEDOUT,
			  "lease");
	cr_assert_not(dax_lease_is_revoked(held_lease));
}

Test(layout, unbreakable_lease_fails_layout_changes_with_etxtbsy,
     .init = setup, .fini = teardown)
{
	struct dax_lease *other;

	cr_assert_eq(dax_lease_take(m, 10, 20, DAX_LEASE_UNBREAKABLE,
				    &held_lease), 0);
	cr_assert_eq(dax_lease_take(m, 30, 40, 0, &other), 0);
	write_page(15, 0, 3);
	assert_fails_with(dax_truncate(m, PAGE), -ETXTBSY, "unbreakable");
	assert_fails_with(dax_break_layouts(m, 0, 100, -1), -ETXTBSY,
			  "unbreakable");
	cr_assert_eq(atomic_load(&breaks), 0, "a lease was broken");
	cr_assert_eq(dax_mapping_get_size(m), 16 * MiB);
	cr_assert_eq(dax_mapping_get_nr_entries(m), 1);
	/* outside it: fine */
	cooperative = false;
	cr_assert_eq(dax_punch_hole(m, 50 * PAGE, PAGE), 0);
	dax_lease_release(&other);
}

/* ---- region revoke ------------------------------------------------------------ */

struct late_unpin {
	struct dax_pin *pin;
};

static void *unpin_later(void *arg)
{
	struct late_unpin *u = arg;

	sleep_ms(20);
	dax_unpin(&u->pin);
	return NULL;
}

Test(layout, region_revoke_breaks_leases_drains_pins_then_kills,
     .init = setup, .fini = teardown)
{
	struct dax_mapping *m2;
	struct dax_lease *unbreakable;
	struct late_unpin u;
	struct dax_pin *p;
	pthread_t t;

	cr_assert_eq(dax_mapping_new(r, &ops, NULL, MiB, &m2), 0);
	cr_assert_eq(dax_mapping_set_layout_times(m, 10, -1), 0);
	cr_assert_eq(dax_mapping_set_layout_times(m2, 10, -1), 0);
	cr_assert_eq(dax_lease_take(m, 0, 10, 0, &held_lease), 0);
	cr_assert_eq(dax_lease_take(m2, 0, 10, DAX_LEASE_UNBREAKABLE,
				    &unbreakable), 0);
	cr_assert_eq(dax_pin_range(m2, 3, 3, 0, &u.pin), 0);
	/* a pin outlasting the timeout: nothing is killed */
	assert_fails_with(dax_region_revoke(r, 5), -ETIMEDOUT,
			  "layout change");
	cr_assert(dax_region_is_alive(r));
	cr_assert_eq(pthread_create(&t, NULL, unpin_later, &u), 0);
	cr_assert_eq(dax_region_revoke(r, 5000), 0, "%s", dax_errormsg());
	pthread_join(t, NULL);
	cr_assert_not(dax_region_is_alive(r));
	cr_assert(dax_lease_is_revoked(held_lease));
	cr_assert(dax_lease_is_revoked(unbreakable));
	cr_assert_eq(dax_pin_range(m, 0, 0, 0, &p), -ENXIO);
	dax_lease_release(&unbreakable);
	dax_mapping_put(&m2);
}

struct pin_result {
	uint64_t index;
	int ret;
	char msg[256];
	struct dax_pin *pin;
	_Atomic bool done;
};

static void *pin_and_record(void *arg)
{
	struct pin_result *pr = arg;

	pr->ret = dax_pin_range(m, pr->index, pr->index, 0, &pr->pin);
	snprintf(pr->msg, sizeof(pr->msg), "%s", dax_errormsg());
	atomic_store(&pr->done, true);
	return NULL;
}

struct revoker {
	int ret;
	_Atomic bool done;
};

static void *revoke_thread(void *arg)
{
	struct revoker *rv = arg;

	rv->ret = dax_region_revoke(r, 10000);
	atomic_store(&rv->done, true);
	return NULL;
}

Test(layout, region_revoke_fails_a_pin_waiting_for_its_drain, .init = setup,
     .fini = teardown)
{
	struct pin_result pr = { .index = 5 };
	struct revoker rv = { 0 };
	struct dax_pin *old;
	pthread_t t, tp;

	cr_assert_eq(dax_pin_range(m, 0, 0, 0, &old), 0);
	cr_assert_eq(pthread_create(&t, NULL, revoke_thread, &rv), 0);
	wait_draining(5);
	cr_assert_eq(pthread_create(&tp, NULL, pin_and_record, &pr), 0);
	sleep_ms(50);
	cr_assert_not(atomic_load(&pr.done), "a pin slipped into the revoke");
	cr_assert_not(atomic_load(&rv.done), "revoked with a pin held");
	dax_unpin(&old);
	pthread_join(t, NULL);
	pthread_join(tp, NULL);
	cr_assert_eq(rv.ret, 0, "%s", strerror(-rv.ret));
	cr_assert_not(dax_region_is_alive(r));
	/* the waiting pin failed, with a message, and holds nothing */
	cr_assert_eq(pr.ret, -ENXIO, "pin returned %d", pr.ret);
	cr_assert_null(pr.pin);
	cr_assert(strstr(pr.msg, "region is dead"), "message: %s", pr.msg);
	cr_assert(strstr(pr.msg, "waited"), "message: %s", pr.msg);
	cr_assert_eq(dax_break_layouts(m, 0, DAX_MAPPING_MAX_INDEX, 0), 0,
		     "the failed pin was counted: %s", dax_errormsg());
}

struct closer {
	int ret;
	_Atomic bool done;
};

static void *close_thread(void *arg)
{
	struct closer *c = arg;

	c->ret = dax_region_close(&r);
	atomic_store(&c->done, true);
	return NULL;
}

Test(layout, region_close_waits_for_pins_then_later_pins_fail,
     .init = setup, .fini = teardown)
{
	struct closer c = { 0 };
	struct dax_fault_ext ext;
	struct dax_lease *l;
	unsigned char *addr;
	struct dax_pin *p;
	pthread_t t;

	write_page(1, 0, 0x77);
	cr_assert_eq(dax_pin_fault(m, 1, 0, &ext, &p), 0);
	addr = ext.addr;
	cr_assert_eq(pthread_create(&t, NULL, close_thread, &c), 0);
	sleep_ms(50);
	/* the region is dead, but the pinned memory is still mapped */
	cr_assert_not(atomic_load(&c.done), "close did not wait for the pin");
	cr_assert_eq(addr[123], 0x77);
	dax_unpin(&p);
	pthread_join(t, NULL);
	cr_assert_eq(c.ret, 0);
	cr_assert_null(r);
	/* the mapping outlived its region: nothing new starts on it */
	assert_fails_with(dax_pin_range(m, 0, 0, 0, &p), -ENXIO, "dead");
	cr_assert_null(p);
	assert_fails_with(dax_lease_take(m, 0, 0, 0, &l), -ENXIO, "closed");
	assert_fails_with(dax_truncate(m, 0), -ENXIO, "closed");
	dax_mapping_put(&m);
}
