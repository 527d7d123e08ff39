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

#include <urcu/urcu-memb.h>
#include <urcu/call-rcu.h>
/*
 * The read side inlined.  liburcu 0.13 only inlines it under _LGPL_SOURCE
 * (URCU_INLINE_SMALL_FUNCTIONS came later), so the two functions went
 * through the PLT: 7 ns per load.  They are the short helpers liburcu
 * writes for non-LGPL users (the LGPL's small-inline-function clause), so
 * include their static header directly.
 */
#include <urcu/static/urcu-memb.h>

/*
 * And its TLS reached directly: from a shared library, liburcu's reader
 * state is "general dynamic" TLS, one __tls_get_addr() call per access
 * (4.6 ns of a 6 ns load).  liburcu-memb is a DT_NEEDED of libdax, loaded
 * with it, so the initial-exec model is valid (a dlopen of libdax draws
 * from glibc's static TLS surplus, as dax_rcu_thread_registered does).
 */
extern __thread struct urcu_reader urcu_memb_reader
	__attribute__((tls_model("initial-exec")));

/*
 * Under ThreadSanitizer, call liburcu's out-of-line functions instead: the
 * inlined read side races with synchronize_rcu() on purpose (plain
 * volatile accesses ordered by membarrier), which TSan would report as
 * races in our code, while liburcu itself is not instrumented.
 */
#if defined(__SANITIZE_THREAD__)
#define dax_urcu_read_lock() urcu_memb_read_lock()
#define dax_urcu_read_unlock() urcu_memb_read_unlock()
#else
#define dax_urcu_read_lock() _urcu_memb_read_lock()
#define dax_urcu_read_unlock() _urcu_memb_read_unlock()
#endif

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
	dax_urcu_read_lock();
}

static inline void dax_rcu_read_unlock(void)
{
	dax_urcu_read_unlock();
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
