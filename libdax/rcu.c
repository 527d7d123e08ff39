// SPDX-License-Identifier: MIT
/*
 * RCU registration on behalf of the application.
 *
 * liburcu's memb flavor needs every reader thread registered.  libdax
 * promises its users that they never do it themselves, so the wrappers in
 * rcu.h register a thread the first time it enters a read-side section or
 * queues a callback, and a pthread key destructor unregisters it when the
 * thread exits.  The fast path is one initial-exec TLS load and a
 * predictable branch.  Threads that liburcu already has registered (its
 * call_rcu worker, or an application's own registered threads) are used as
 * they are.
 */
#include <pthread.h>

#include "internal.h"

__thread bool dax_rcu_thread_registered
	__attribute__((tls_model("initial-exec")));

static pthread_key_t dax_rcu_exit_key;
static pthread_once_t dax_rcu_key_once = PTHREAD_ONCE_INIT;

static void dax_rcu_thread_exit(void *unused)
{
	if (dax_rcu_thread_registered) {
		urcu_memb_unregister_thread();
		dax_rcu_thread_registered = false;
	}
}

static void dax_rcu_make_key(void)
{
	pthread_key_create(&dax_rcu_exit_key, dax_rcu_thread_exit);
}

void dax_rcu_register_slow(void)
{
	/*
	 * A thread that liburcu already knows (liburcu's own call_rcu worker
	 * running a libdax callback, or an application that registers its
	 * threads itself) must not be registered twice: liburcu asserts on
	 * it.  Such a thread stays registered by whoever registered it, so
	 * the exit destructor is armed only for a registration made here.
	 */
	if (URCU_TLS(urcu_memb_reader).registered) {
		dax_rcu_thread_registered = true;
		return;
	}
	pthread_once(&dax_rcu_key_once, dax_rcu_make_key);
	urcu_memb_register_thread();
	dax_rcu_thread_registered = true;
	/* Any non-NULL value makes the destructor run at thread exit. */
	pthread_setspecific(dax_rcu_exit_key, &dax_rcu_thread_registered);
}

void dax_rcu_synchronize(void)
{
	dax_rcu_ensure_registered();
	urcu_memb_synchronize_rcu();
}

void dax_call_rcu(struct rcu_head *head, void (*fn)(struct rcu_head *head))
{
	dax_rcu_ensure_registered();
	urcu_memb_call_rcu(head, fn);
}

void dax_rcu_barrier(void)
{
	dax_rcu_ensure_registered();
	urcu_memb_barrier();
}
