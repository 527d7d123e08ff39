// SPDX-License-Identifier: MIT
/*
 * Killing and closing regions (libdax/region.c): after dax_region_kill()
 * nothing new starts (-ENXIO with a message) while getters keep working;
 * dax_region_close() waits for users in flight; per-region slots are
 * released once, at close.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "helpers.h"
#include "libdax/internal.h"

static struct dax_region *r;

static void setup(void)
{
	struct dax_region_opts *opts;

	cr_assert_eq(dax_region_opts_new(&opts), 0);
	cr_assert_eq(dax_region_opts_set_size(opts, 4 * DAX_MiB), 0);
	cr_assert_eq(dax_region_opts_add_resource(opts, 0x40000000,
						  4 * DAX_MiB), 0);
	cr_assert_eq(dax_region_open("memfd:kill", opts, &r), 0);
	dax_region_opts_delete(&opts);
}

static void teardown(void)
{
	cr_assert_eq(dax_region_close(&r), 0);
	cr_assert_null(r);
}

TestSuite(region_kill, .init = setup, .fini = teardown);

Test(region_kill, every_operation_after_kill_fails_with_enxio)
{
	cr_assert_eq(dax_region_kill(r), 0);
	cr_assert_not(dax_region_is_alive(r));
	assert_fails_with(dax_region_persist(r, 0, 4096), -ENXIO,
			  "region memfd:kill was killed (dax_region_kill): no "
			  "new operation can start on it");
	assert_fails_with(dax_region_persist(r, 0, 0), -ENXIO, "was killed");
	assert_fails_with(dax_region_enter(r), -ENXIO, "was killed");
	cr_assert_eq(dax_region_kill(r), 0, "a second kill is harmless");
}

Test(region_kill, getters_keep_working_after_kill)
{
	struct dax_resource res;
	uint64_t phys;
	void *base = dax_region_get_base(r);

	cr_assert_eq(dax_region_kill(r), 0);
	cr_assert_eq(dax_region_get_base(r), base);
	cr_assert_eq(dax_region_get_size(r), 4 * DAX_MiB);
	cr_assert_eq(dax_region_get_align(r), 2 * DAX_MiB);
	cr_assert_eq(dax_region_get_kind(r), DAX_REGION_KIND_EMULATED);
	cr_assert_str_eq(dax_region_get_path(r), "memfd:kill");
	cr_assert_eq(dax_region_get_nr_resources(r), 1);
	cr_assert_eq(dax_region_get_resource(r, 0, &res), 0);
	cr_assert_eq(dax_region_offset_to_phys(r, 0x2000, &phys, NULL), 0);
	cr_assert_eq(phys, 0x40002000);
	/* The memory stays mapped until close. */
	((volatile char *)base)[0] = 1;
}

Test(region_kill, kill_does_not_wait_for_users_in_flight)
{
	cr_assert_eq(dax_region_enter(r), 0);
	cr_assert_eq(dax_region_kill(r), 0);
	((volatile char *)dax_region_get_base(r))[4096] = 7;
	dax_region_exit(r);
}

static void *exit_region(void *region)
{
	dax_region_exit(region);
	return NULL;
}

Test(region_kill, enter_and_exit_may_be_on_different_threads)
{
	pthread_t t;

	cr_assert_eq(dax_region_enter(r), 0);
	cr_assert_eq(pthread_create(&t, NULL, exit_region, r), 0);
	pthread_join(t, NULL);
	/* teardown's close would hang if the count did not balance */
}

struct holder {
	struct dax_region *r;
	atomic_int entered;
	atomic_int done;
};

static void *hold_then_exit(void *arg)
{
	struct holder *h = arg;
	volatile char *base;

	cr_assert_eq(dax_region_enter(h->r), 0);
	base = dax_region_get_base(h->r);
	atomic_fetch_add(&h->entered, 1);
	/* Keep using the memory while close is waiting for us. */
	for (int i = 0; i < 50; i++) {
		base[i * 4096] = (char)i;
		usleep(2000);
	}
	atomic_store(&h->done, 1);
	dax_region_exit(h->r);
	return NULL;
}

Test(region_kill, close_waits_for_users_in_flight)
{
	struct holder h = { .r = r };
	pthread_t t[3];

	for (int i = 0; i < 3; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, hold_then_exit, &h),
			     0);
	/* Everyone in before close: nothing may call enter after it. */
	while (atomic_load(&h.entered) < 3)
		usleep(100);
	cr_assert_eq(dax_region_close(&r), 0);
	cr_assert_eq(atomic_load(&h.done), 1,
		     "close returned while a user was in flight");
	cr_assert_null(r);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(atomic_load(&h.done), 1);
}

static int releases;

static void count_release(void *obj)
{
	releases++;
	free(obj);
}

Test(region_kill, slots_are_installed_once_and_released_at_close)
{
	int *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	cr_assert_null(dax_region_slot_get(r, DAX_REGION_SLOT_ALLOC));
	cr_assert_eq(dax_region_slot_install(r, DAX_REGION_SLOT_ALLOC, a,
					     count_release), a);
	cr_assert_eq(dax_region_slot_install(r, DAX_REGION_SLOT_ALLOC, b,
					     count_release), a,
		     "the second install must get the first object back");
	free(b);
	cr_assert_eq(dax_region_slot_get(r, DAX_REGION_SLOT_ALLOC), a);
	cr_assert_eq(releases, 0);
	cr_assert_eq(dax_region_close(&r), 0);
	cr_assert_eq(releases, 1);
}

Test(region_kill, internal_range_check_names_the_alignment)
{
	assert_fails_with(dax_region_check_range(r, "flush", 0x1000,
						 2 * DAX_MiB, 0),
			  -EINVAL,
			  "flush offset 0x1000 is not a multiple of the "
			  "region alignment 2 MiB; 0x0 or 0x200000 would be");
	assert_fails_with(dax_region_check_range(r, "flush", 0, 0x1800, 4096),
			  -EINVAL,
			  "flush length 0x1800 is not a multiple of the "
			  "required alignment 4 KiB; 0x1000 or 0x2000 "
			  "would be");
	assert_fails_with(dax_region_check_range(r, "flush", 2 * DAX_MiB,
						 4 * DAX_MiB, 0),
			  -ERANGE, "goes past the end of the region");
	cr_assert_eq(dax_region_check_range(r, "flush", 2 * DAX_MiB,
					    2 * DAX_MiB, 0), 0);
	cr_assert_eq(dax_region_logger(r) != NULL, 1);
	cr_assert_not_null(dax_region_pmem2_map(r));
	cr_assert_geq(dax_region_fd(r), 0);
}
