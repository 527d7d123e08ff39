/* SPDX-License-Identifier: MIT */
/*
 * The one place that names the liburcu flavor.  Every RCU user in libdax
 * goes through these wrappers, so the application's threads never register
 * with RCU by hand: a thread is registered on its first read-side section
 * or call_rcu, and unregistered by a thread-exit destructor.
 *
 * Flavor: urcu-memb (membarrier).  Its read side is a TLS nesting counter
 * and a compiler barrier, with no fence; synchronize_rcu pays with the
 * membarrier syscall instead.  The choice is measured in bench/ (see the
 * top of tree.c).
 */
#ifndef LIBDAX_RCU_H
#define LIBDAX_RCU_H

#define URCU_INLINE_SMALL_FUNCTIONS
#include <urcu/urcu-memb.h>
#include <urcu/call-rcu.h>

extern __thread bool dax_rcu_thread_registered
	__attribute__((tls_model("initial-exec")));

void dax_rcu_register_slow(void);

static inline void dax_rcu_ensure_registered(void)
{
	if (__builtin_expect(!dax_rcu_thread_registered, 0))
		dax_rcu_register_slow();
}

static inline void dax_rcu_read_lock(void)
{
	dax_rcu_ensure_registered();
	urcu_memb_read_lock();
}

static inline void dax_rcu_read_unlock(void)
{
	urcu_memb_read_unlock();
}

/* Wait for every read-side section that started before the call. */
void dax_rcu_synchronize(void);
/* Run @fn(@head) after a grace period, from liburcu's call_rcu thread. */
void dax_call_rcu(struct rcu_head *head, void (*fn)(struct rcu_head *head));
/* Wait until every callback queued by dax_call_rcu() so far has run. */
void dax_rcu_barrier(void);

#define dax_rcu_dereference(p) rcu_dereference(p)
#define dax_rcu_assign_pointer(p, v) rcu_assign_pointer(p, v)

#endif /* LIBDAX_RCU_H */
