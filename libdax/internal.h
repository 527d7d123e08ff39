/* SPDX-License-Identifier: MIT */
/*
 * Declarations shared by the library's files.  Not installed.  Each file's
 * section says which file defines it; data flows one way (region ->
 * allocator -> mapping -> fault / layout / writeback), so a section only
 * uses the sections above it.
 */
#ifndef LIBDAX_INTERNAL_H
#define LIBDAX_INTERNAL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config-host.h"
#include "libdax.h"

#define DAX_EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define DAX_PAGE_SHIFT 12
#define DAX_PAGE_SIZE (1UL << DAX_PAGE_SHIFT)

#define DAX_KiB (1ULL << 10)
#define DAX_MiB (1ULL << 20)
#define DAX_GiB (1ULL << 30)

/* ---- error.c: thread-local messages and logging ---------------------- */

#define DAX_ERRMSG_MAX 512

/*
 * Where a message goes besides dax_errormsg(): an object's log callback
 * (set through its options) and, when DAX_LOG is set in the environment,
 * stderr.  A NULL logger means "environment only".
 */
struct dax_logger {
	dax_log_fn fn;
	void *priv;
	enum dax_log_level level;
};

/* Record why an operation failed and return @err (a negative errno). */
int dax_fail(const struct dax_logger *log, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void dax_log(const struct dax_logger *log, enum dax_log_level level,
	     const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Forget the calling thread's last message (a call that succeeded). */
void dax_clear_errormsg(void);

/*
 * dax_check_align() - refuse @value when it is not a multiple of @align,
 * with a message that names @what and the two nearest valid values.
 * Return: 0, or -EINVAL with dax_errormsg() set.
 */
int dax_check_align(const struct dax_logger *log, const char *what,
		    uint64_t value, uint64_t align, const char *align_what);

/* "4 KiB", "2 MiB", "1 GiB", "1.5 MiB" or "0x1234" into @buf (>= 32 bytes). */
const char *dax_size_str(uint64_t bytes, char *buf, size_t len);

/* ---- rcu.c: the RCU flavor, with registration done for the caller ------- */
#include "rcu.h"

/* ---- region.c: per-region state owned by the layers above ------------------ */

/*
 * The layers above a region (the reverse map of mapping.c, the allocator)
 * keep per-region state in a slot of the region, created on first use.
 * The region never knows what a slot holds: dax_region_close() calls each
 * slot's release function once, after the last in-flight user has left.
 * This keeps the calls pointing down: the region only calls back through
 * the function pointer it was given.
 */
enum dax_region_slot {
	DAX_REGION_SLOT_RMAP,	/* mapping.c: region page -> owning mapping */
	DAX_REGION_SLOT_ALLOC,	/* alloc.c: the block allocator */
	DAX_REGION_NR_SLOTS,
};

/*
 * dax_region_slot_get() - the object in @slot, or NULL when none yet.
 * Context: any thread, lock-free (an acquire load).
 */
void *dax_region_slot_get(const struct dax_region *region,
			  enum dax_region_slot slot);

/*
 * dax_region_slot_install() - put @obj in @slot unless one is there already.
 * Two threads may race to create a slot's object: the first install wins,
 * and the loser gets the winner's object back and must free its own.
 * Context: any thread, lock-free.
 * Return: the object that is in the slot after the call.
 */
void *dax_region_slot_install(struct dax_region *region,
			      enum dax_region_slot slot, void *obj,
			      void (*release)(void *obj));

/* ---- tree.c: test hooks for the entry tree ------------------------------ */

/* Fail the @nth node allocation of @tree from now on with -ENOMEM (0: off). */
void dax_tree_inject_alloc_failure(struct dax_tree *tree, unsigned long nth);
/* Node allocations @tree has made (each reserved node counts). */
uint64_t dax_tree_get_nr_allocs(struct dax_tree *tree);
/* Check every invariant; 0, or -EUCLEAN with dax_errormsg() saying which. */
int dax_tree_check(struct dax_tree *tree);

#endif /* LIBDAX_INTERNAL_H */
