// SPDX-License-Identifier: MIT
/* RCU registration done for the caller (libdax/rcu.c). */
#include <pthread.h>
#include <stdatomic.h>

#include "helpers.h"
#include "libdax/internal.h"

static void *read_side_in_new_thread(void *arg)
{
	dax_rcu_read_lock();
	dax_rcu_read_unlock();
	dax_rcu_synchronize();
	return arg;
}

Test(rcu, an_unregistered_thread_is_registered_on_first_use)
{
	static int token;
	pthread_t t;
	void *ret;

	cr_assert_eq(pthread_create(&t, NULL, read_side_in_new_thread,
				    &token), 0);
	cr_assert_eq(pthread_join(t, &ret), 0);
	cr_assert_eq(ret, &token);
}

static void *registered_by_hand(void *arg)
{
	urcu_memb_register_thread();
	dax_rcu_read_lock();
	dax_rcu_read_unlock();
	/* The application registered it, so the application unregisters. */
	urcu_memb_unregister_thread();
	return arg;
}

Test(rcu, a_thread_the_application_registered_is_used_as_it_is)
{
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, registered_by_hand, NULL), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
}

struct nested {
	struct rcu_head head;
	struct rcu_head inner;
	atomic_int stage;
};

static void inner_cb(struct rcu_head *head)
{
	struct nested *n = caa_container_of(head, struct nested, inner);

	atomic_store(&n->stage, 2);
}

/* Runs on liburcu's call_rcu worker, which liburcu registered itself. */
static void outer_cb(struct rcu_head *head)
{
	struct nested *n = caa_container_of(head, struct nested, head);

	dax_rcu_read_lock();
	dax_rcu_read_unlock();
	atomic_store(&n->stage, 1);
	dax_call_rcu(&n->inner, inner_cb);
}

Test(rcu, callbacks_may_use_the_wrappers_on_liburcus_worker)
{
	struct nested n = { .stage = 0 };

	dax_call_rcu(&n.head, outer_cb);
	dax_rcu_barrier();
	/* The inner callback was queued from the worker: wait for it too. */
	dax_rcu_barrier();
	cr_assert_eq(atomic_load(&n.stage), 2);
}
