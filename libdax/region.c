// SPDX-License-Identifier: MIT
/*
 * Regions: a device-DAX device, a device of the companion module, or a file
 * or memfd standing in for one, mapped whole or in part.
 *
 * Same rules for every kind.  Code tested on an emulated region must behave
 * the same on real device-DAX, so emulated regions enforce what the kernel
 * enforces for devices: an alignment of 4 KiB, 2 MiB or 1 GiB; sizes and
 * sub-ranges in multiples of it; shared mappings only; a mapping address
 * aligned to it (so 2 MiB and 1 GiB entries can be mapped with one page
 * table entry).
 *
 * Mapping.  libpmem2 owns persistence: each region is one pmem2_map, so its
 * persist/flush/drain and memcpy/memset are libpmem2's, chosen for the
 * memory behind it.  The map is placed at an aligned address inside a
 * pmem2_vm_reservation of len + align.  Two ways to get the map:
 *
 *   - files, memfds and the kernel's device-DAX: pmem2_source_from_fd() and
 *     pmem2_map_new() into the reservation.  libpmem2 does the mmap and
 *     picks the granularity (page for files, cache line or byte for DAX).
 *   - character devices libpmem2 does not take for device-DAX: the module's
 *     device (its sysfs subsystem is "daxlite", and libpmem2 only accepts
 *     "dax"), and any device found through a fake sysfs root (tests):
 *     pmem2_source_from_fd() refuses them (PMEM2_E_INVALID_FILE_TYPE).
 *     Also device-DAX that is not on an NVDIMM bus (hmem, CXL): libpmem2
 *     1.12 accepts it, then pmem2_map_new() asks libndctl for the
 *     device's namespace, and libndctl dereferences the namespace such a
 *     device does not have: the process dies with SIGSEGV (seen in the
 *     test VM on an hmem device, tests/vm).  Such devices take this path
 *     without ever being shown to libpmem2 as a source.
 *     libdax maps the device itself (MAP_SHARED | MAP_FIXED at the aligned
 *     address inside the reservation) and wraps the mapping with
 *     pmem2_map_from_existing(), given an anonymous source of the same
 *     size (the source is only a descriptor there: libpmem2 neither maps
 *     nor unmaps it) and CACHE_LINE granularity: the memory is RAM or
 *     pmem reached directly, so persist is a cache flush plus a fence,
 *     which is what libpmem2 does for device-DAX without eADR.  PAGE
 *     granularity would mean msync(), which a character device without an
 *     fsync operation refuses, and libpmem2's page persist aborts (or, as
 *     measured here on /dev/zero, spins) when msync fails.  On close, the
 *     range is put back to PROT_NONE before the reservation is deleted,
 *     so the address range never has a hole another mmap could fall into.
 *
 * Lifetime.  dax_region_kill() sets the dead flag and waits for an RCU
 * grace period.  dax_region_enter() checks the flag and counts itself in
 * flight inside one read-side section, so once kill returns every enter
 * either failed or is counted: nothing new starts.  The in-flight count is
 * split into per-thread-hashed counters (enter and exit touch one cache
 * line of their own; the sum is exact whichever thread exits).  Exits of a
 * live region only decrement; exits of a dead one take the region's mutex
 * and wake dax_region_close(), which sleeps until the sum is zero.  An
 * exit that saw the region alive ran its decrement inside a read-side
 * section, which kill's grace period waited for, so close never misses a
 * wake-up and never frees the region while an exit still touches it.
 *
 * Layers above keep per-region state in slots (internal.h); close releases
 * them once nobody is in flight, before the memory is unmapped.
 *
 * Known defect (libpmem2 1.12.1, Debian 12): pmem2_vm_reservation_new()
 * maps size + its alignment hint (2 MiB below 2 GiB, 1 GiB above) to
 * align the reservation, and never unmaps the part outside [addr, addr +
 * size): pmem2_vm_reservation_delete() only unmaps that.  Each open/close
 * therefore leaves 2 MiB (up to 2 GiB for regions of 2 GiB or more) of
 * PROT_NONE address space behind: no memory, no commit charge, adjacent
 * leftovers merge into one VMA, but address space all the same (measured
 * with /proc/self/maps).  libdax cannot free it safely: whether the range
 * beyond the reservation is libpmem2's leftover or another thread's
 * mapping cannot be told apart from outside, and unmapping a stranger's
 * mapping would be far worse.  Newer libpmem2 trims it; nothing to do
 * here then.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <libpmem2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"

#define REGION_NR_COUNTERS 16
#define REGION_COUNTER_BITS 4
#define MEMFD_PREFIX "memfd:"

struct region_counter {
	_Alignas(64) atomic_long n;
};

struct region_slot {
	_Atomic(void *) obj;
	_Atomic(void (*)(void *)) release;
};

struct dax_region {
	/* Users in flight, per hashed thread; first, for the alignment. */
	struct region_counter users[REGION_NR_COUNTERS];
	_Alignas(64) atomic_bool dead;
	pthread_mutex_t lock;		/* exits of a dead region, and close */
	pthread_cond_t drained;		/* the users' sum reached zero */
	struct region_slot slots[DAX_REGION_NR_SLOTS];

	/* Set at open, constant afterwards. */
	enum dax_region_kind kind;
	unsigned flags;
	char *path;
	uint64_t align;
	uint64_t device_size;		/* the whole device or file */
	uint64_t offset;		/* where the mapping starts in it */
	uint64_t size;			/* bytes mapped */
	int numa_node, target_node;
	unsigned nr_res;
	struct dax_resource *res;
	struct dax_logger log;
	int fd;
	void *base;
	bool own_mmap;			/* mapped by libdax, not libpmem2 */
	bool nd_backed;			/* device-DAX of an NVDIMM namespace */
	struct pmem2_source *src;
	struct pmem2_vm_reservation *rsv;
	struct pmem2_map *map;
	pmem2_persist_fn persist;
};

/* ---- in-flight users ----------------------------------------------------- */

static inline unsigned region_counter_index(void)
{
	/* Its address tells threads apart; initial-exec: no call to find it. */
	static __thread char here __attribute__((tls_model("initial-exec")));

	return (unsigned)(((uintptr_t)&here * 0x9e3779b97f4a7c15ULL) >>
			  (64 - REGION_COUNTER_BITS));
}

static long region_users(struct dax_region *r)
{
	long n = 0;

	for (unsigned i = 0; i < REGION_NR_COUNTERS; i++)
		n += atomic_load_explicit(&r->users[i].n, memory_order_acquire);
	return n;
}

static int region_dead_fail(const struct dax_region *r)
{
	return dax_fail(&r->log, -ENXIO,
			"region %s was killed (dax_region_kill): no new "
			"operation can start on it",
			r->path);
}

int dax_region_enter(struct dax_region *r)
{
	dax_rcu_read_lock();
	if (unlikely(atomic_load(&r->dead))) {
		dax_rcu_read_unlock();
		return region_dead_fail(r);
	}
	atomic_fetch_add_explicit(&r->users[region_counter_index()].n, 1,
				  memory_order_relaxed);
	dax_rcu_read_unlock();
	return 0;
}

void dax_region_exit(struct dax_region *r)
{
	atomic_long *n = &r->users[region_counter_index()].n;

	dax_rcu_read_lock();
	if (likely(!atomic_load(&r->dead))) {
		/* The last touch of @r: close may free it right after. */
		atomic_fetch_sub_explicit(n, 1, memory_order_release);
		dax_rcu_read_unlock();
		return;
	}
	dax_rcu_read_unlock();
	/* Dead: close may be waiting; the mutex keeps @r alive meanwhile. */
	pthread_mutex_lock(&r->lock);
	atomic_fetch_sub_explicit(n, 1, memory_order_release);
	pthread_cond_broadcast(&r->drained);
	pthread_mutex_unlock(&r->lock);
}

/* ---- internal accessors -------------------------------------------------- */

const struct dax_logger *dax_region_logger(const struct dax_region *r)
{
	return r ? &r->log : NULL;
}

struct pmem2_map *dax_region_pmem2_map(const struct dax_region *r)
{
	return r->map;
}

struct pmem2_source *dax_region_pmem2_source(const struct dax_region *r)
{
	return r->src;
}

int dax_region_fd(const struct dax_region *r)
{
	return r->fd;
}

void *dax_region_slot_get(const struct dax_region *r,
			  enum dax_region_slot slot)
{
	struct dax_region *w = (struct dax_region *)r;

	return atomic_load_explicit(&w->slots[slot].obj, memory_order_acquire);
}

void *dax_region_slot_install(struct dax_region *r, enum dax_region_slot slot,
			      void *obj, void (*release)(void *obj))
{
	void *expected = NULL;

	if (atomic_compare_exchange_strong_explicit(
		    &r->slots[slot].obj, &expected, obj, memory_order_acq_rel,
		    memory_order_acquire)) {
		atomic_store_explicit(&r->slots[slot].release, release,
				      memory_order_release);
		return obj;
	}
	return expected;
}

int dax_region_check_range(const struct dax_region *r, const char *what,
			   uint64_t offset, uint64_t len, uint64_t align)
{
	char name[96];
	int ret;

	if (align == 0)
		align = r->align;
	if (align > 1) {
		snprintf(name, sizeof(name), "%s offset", what);
		ret = dax_check_align(&r->log, name, offset, align,
				      align == r->align ? "region alignment"
							: "required alignment");
		if (ret)
			return ret;
		snprintf(name, sizeof(name), "%s length", what);
		ret = dax_check_align(&r->log, name, len, align,
				      align == r->align ? "region alignment"
							: "required alignment");
		if (ret)
			return ret;
	}
	if (offset > r->size || len > r->size - offset)
		return dax_fail(&r->log, -ERANGE,
				"%s of 0x%llx bytes at offset 0x%llx goes past "
				"the end of the region (0x%llx bytes mapped)",
				what, (unsigned long long)len,
				(unsigned long long)offset,
				(unsigned long long)r->size);
	return 0;
}

/* ---- mapping ------------------------------------------------------------- */

static int pmem2_fail(const struct dax_logger *log, int ret, const char *what,
		      const char *path)
{
	/* PMEM2_E_* codes are libpmem2's own; what they mean is in the text. */
	int err = ret > -4096 ? ret : -EINVAL;

	return dax_fail(log, err, "%s: %s failed: %s", path, what,
			pmem2_errormsg());
}

/* Give the range back to the reservation: PROT_NONE, never a hole. */
static int region_rereserve(void *addr, size_t len)
{
	void *p = mmap(addr, len, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
		       -1, 0);

	return p == MAP_FAILED ? -errno : 0;
}

static int region_map_pmem2(struct dax_region *r, size_t rsv_off)
{
	struct pmem2_config *cfg;
	unsigned prot = PMEM2_PROT_READ;
	int ret;

	if (!(r->flags & DAX_REGION_READONLY))
		prot |= PMEM2_PROT_WRITE;
	ret = pmem2_config_new(&cfg);
	if (ret)
		return pmem2_fail(&r->log, ret, "pmem2_config_new", r->path);
	if ((ret = pmem2_config_set_required_store_granularity(
		     cfg, PMEM2_GRANULARITY_PAGE)) ||
	    (ret = pmem2_config_set_offset(cfg, r->offset)) ||
	    (ret = pmem2_config_set_length(cfg, r->size)) ||
	    (ret = pmem2_config_set_sharing(cfg, PMEM2_SHARED)) ||
	    (ret = pmem2_config_set_protection(cfg, prot)) ||
	    (ret = pmem2_config_set_vm_reservation(cfg, r->rsv, rsv_off)))
		ret = pmem2_fail(&r->log, ret, "pmem2 configuration", r->path);
	else if ((ret = pmem2_map_new(&r->map, cfg, r->src)))
		ret = pmem2_fail(&r->log, ret, "pmem2_map_new", r->path);
	pmem2_config_delete(&cfg);
	return ret;
}

static int region_map_own(struct dax_region *r, void *addr)
{
	int prot = PROT_READ;
	void *p;
	int ret;

	if (!(r->flags & DAX_REGION_READONLY))
		prot |= PROT_WRITE;
	ret = pmem2_source_from_anon(&r->src, r->size);
	if (ret)
		return pmem2_fail(&r->log, ret, "pmem2_source_from_anon",
				  r->path);
	p = mmap(addr, r->size, prot, MAP_SHARED | MAP_FIXED, r->fd,
		 (off_t)r->offset);
	if (p == MAP_FAILED) {
		ret = -errno;
		region_rereserve(addr, r->size);
		return dax_fail(&r->log, ret,
				"%s: mmap of 0x%llx bytes at offset 0x%llx: %s",
				r->path, (unsigned long long)r->size,
				(unsigned long long)r->offset, strerror(-ret));
	}
	r->own_mmap = true;
	ret = pmem2_map_from_existing(&r->map, r->src, addr, r->size,
				      PMEM2_GRANULARITY_CACHE_LINE);
	if (ret) {
		ret = pmem2_fail(&r->log, ret, "pmem2_map_from_existing",
				 r->path);
		region_rereserve(addr, r->size);
		r->own_mmap = false;
	}
	return ret;
}

static int region_map(struct dax_region *r)
{
	uintptr_t start, aligned;
	size_t rsv_off;
	int ret;

	/* libpmem2 1.12 keeps 2 MiB more: see "Known defect" at the top. */
	ret = pmem2_vm_reservation_new(&r->rsv, NULL, r->size + r->align);
	if (ret)
		return pmem2_fail(&r->log, ret, "reserving address space",
				  r->path);
	start = (uintptr_t)pmem2_vm_reservation_get_address(r->rsv);
	aligned = (start + r->align - 1) & ~(uintptr_t)(r->align - 1);
	rsv_off = aligned - start;

	if (r->kind == DAX_REGION_KIND_DEVDAX && !r->nd_backed) {
		dax_log(&r->log, DAX_LOG_DEBUG,
			"%s: device-DAX outside an NVDIMM bus; libpmem2 1.12 "
			"would crash on it, mapping it with mmap",
			r->path);
		ret = region_map_own(r, (void *)aligned);
	} else if (r->kind != DAX_REGION_KIND_MODULE) {
		ret = pmem2_source_from_fd(&r->src, r->fd);
		if (!ret) {
			ret = region_map_pmem2(r, rsv_off);
		} else if (ret == PMEM2_E_INVALID_FILE_TYPE &&
			   r->kind == DAX_REGION_KIND_DEVDAX) {
			dax_log(&r->log, DAX_LOG_DEBUG,
				"%s: libpmem2 does not take it for device-DAX "
				"(%s); mapping it with mmap",
				r->path, pmem2_errormsg());
			ret = region_map_own(r, (void *)aligned);
		} else {
			ret = pmem2_fail(&r->log, ret, "pmem2_source_from_fd",
					 r->path);
		}
	} else {
		ret = region_map_own(r, (void *)aligned);
	}
	if (ret) {
		if (r->src)
			pmem2_source_delete(&r->src);
		pmem2_vm_reservation_delete(&r->rsv);
		return ret;
	}
	r->base = pmem2_map_get_address(r->map);
	r->persist = pmem2_get_persist_fn(r->map);
	dax_log(&r->log, DAX_LOG_DEBUG,
		"%s: mapped 0x%llx bytes at %p by %s, granularity %d", r->path,
		(unsigned long long)r->size, r->base,
		r->own_mmap ? "mmap + pmem2_map_from_existing"
			    : "pmem2_map_new",
		(int)pmem2_map_get_store_granularity(r->map));
	return 0;
}

static int region_unmap(struct dax_region *r)
{
	int ret = 0, err;

	if (!r->map)
		return 0;
	err = pmem2_map_delete(&r->map);
	if (err) {
		/* Leave the memory mapped rather than free a live range. */
		return pmem2_fail(&r->log, err, "pmem2_map_delete", r->path);
	}
	if (r->own_mmap) {
		err = region_rereserve(r->base, r->size);
		if (err)
			ret = dax_fail(&r->log, err, "%s: unmapping: %s",
				       r->path, strerror(-err));
	}
	if (!ret) {
		err = pmem2_vm_reservation_delete(&r->rsv);
		if (err)
			ret = pmem2_fail(&r->log, err,
					 "pmem2_vm_reservation_delete",
					 r->path);
	}
	pmem2_source_delete(&r->src);
	return ret;
}

/* ---- open ---------------------------------------------------------------- */

/* The sub-range to map, checked against the device and its alignment. */
static int region_set_range(struct dax_region *r,
			    const struct dax_region_opts *o)
{
	uint64_t off = o->range_offset, len = o->range_length;
	int ret;

	ret = dax_check_align(&r->log, "range offset", off, r->align,
			      "region alignment");
	if (!ret && len)
		ret = dax_check_align(&r->log, "range length", len, r->align,
				      "region alignment");
	if (ret)
		return ret;
	if (off >= r->device_size || len > r->device_size - off)
		return dax_fail(&r->log, -ERANGE,
				"range 0x%llx+0x%llx goes past the end of %s "
				"(0x%llx bytes)",
				(unsigned long long)off,
				(unsigned long long)len, r->path,
				(unsigned long long)r->device_size);
	r->offset = off;
	r->size = len ? len : r->device_size - off;
	return 0;
}

/* An emulated region's resources: the options', or one at 0. */
static int region_set_resources(struct dax_region *r,
				const struct dax_region_opts *o)
{
	uint64_t total = 0;
	char a[32], b[32], what[48];
	int ret;

	for (unsigned i = 0; i < o->nr_res; i++) {
		const struct dax_resource *res = &o->res[i];

		snprintf(what, sizeof(what), "resource %u start", i);
		ret = dax_check_align(&r->log, what, res->start, r->align,
				      "region alignment");
		if (ret)
			return ret;
		snprintf(what, sizeof(what), "resource %u size", i);
		ret = dax_check_align(&r->log, what, res->end - res->start + 1,
				      r->align, "region alignment");
		if (ret)
			return ret;
		total += res->end - res->start + 1;
	}
	if (o->nr_res && total != r->device_size)
		return dax_fail(&r->log, -EINVAL,
				"the %u resources add up to %s but the region "
				"is %s",
				o->nr_res, dax_size_str(total, a, sizeof(a)),
				dax_size_str(r->device_size, b, sizeof(b)));
	r->nr_res = o->nr_res ? o->nr_res : 1;
	r->res = malloc(r->nr_res * sizeof(*r->res));
	if (!r->res)
		return dax_fail(&r->log, -ENOMEM, "out of memory");
	if (o->nr_res)
		memcpy(r->res, o->res, o->nr_res * sizeof(*r->res));
	else
		r->res[0] = (struct dax_resource){ 0, r->device_size - 1, 0 };
	return 0;
}

static int region_check_emulated_size(struct dax_region *r, uint64_t size,
				      const char *what)
{
	return dax_check_align(&r->log, what, size, r->align,
			       "region alignment");
}

static int region_open_memfd(struct dax_region *r,
			     const struct dax_region_opts *o)
{
	const char *name = r->path + strlen(MEMFD_PREFIX);
	int ret;

	r->kind = DAX_REGION_KIND_EMULATED;
	r->align = o->align;
	if (!o->size)
		return dax_fail(&r->log, -EINVAL,
				"%s needs a size: call "
				"dax_region_opts_set_size()",
				r->path);
	ret = region_check_emulated_size(r, o->size, "size");
	if (ret)
		return ret;
	r->device_size = o->size;
	ret = region_set_range(r, o);
	if (!ret)
		ret = region_set_resources(r, o);
	if (ret)
		return ret;
	r->fd = memfd_create(name, MFD_CLOEXEC);
	if (r->fd < 0)
		return dax_fail(&r->log, -errno, "memfd_create(\"%s\"): %s",
				name, strerror(errno));
	if (ftruncate(r->fd, (off_t)o->size))
		return dax_fail(&r->log, -errno, "%s: ftruncate to %llu: %s",
				r->path, (unsigned long long)o->size,
				strerror(errno));
	return region_map(r);
}

/* Open @path, creating it (O_EXCL, so we know we did) when asked to. */
static int region_open_file_fd(struct dax_region *r, bool exists,
			       bool *created)
{
	int flags = O_CLOEXEC |
		    (r->flags & DAX_REGION_READONLY ? O_RDONLY : O_RDWR);

	*created = false;
	if (!exists && (r->flags & DAX_REGION_CREATE)) {
		r->fd = open(r->path, flags | O_CREAT | O_EXCL, 0666);
		if (r->fd >= 0) {
			*created = true;
			return 0;
		}
		if (errno != EEXIST)
			goto fail;
	}
	r->fd = open(r->path, flags);
	if (r->fd >= 0)
		return 0;
fail:
	return dax_fail(&r->log, -errno, "cannot open %s: %s", r->path,
			strerror(errno));
}

static int region_open_file(struct dax_region *r,
			    const struct dax_region_opts *o, bool exists)
{
	char a[32], b[32];
	bool created, extended = false;
	struct stat st;
	uint64_t fsz = 0;
	int ret;

	r->kind = DAX_REGION_KIND_EMULATED;
	r->align = o->align;
	if (o->size) {
		ret = region_check_emulated_size(r, o->size, "size");
		if (ret)
			return ret;
	}
	ret = region_open_file_fd(r, exists, &created);
	if (ret)
		return ret;
	if (fstat(r->fd, &st)) {
		ret = dax_fail(&r->log, -errno, "fstat %s: %s", r->path,
			       strerror(errno));
		goto undo;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = dax_fail(&r->log, -ENODEV,
			       "%s changed under us: no longer a regular file",
			       r->path);
		goto undo;
	}
	fsz = (uint64_t)st.st_size;
	if (o->size) {
		r->device_size = o->size;
	} else if (fsz == 0) {
		ret = dax_fail(&r->log, -EINVAL,
			       "%s is empty: give the region a size with "
			       "dax_region_opts_set_size()%s",
			       r->path,
			       created ? "" : " and DAX_REGION_CREATE");
		goto undo;
	} else {
		ret = region_check_emulated_size(r, fsz, "file size");
		if (ret)
			goto undo;
		r->device_size = fsz;
	}
	if (fsz < r->device_size && !(r->flags & DAX_REGION_CREATE)) {
		ret = dax_fail(&r->log, -EINVAL,
			       "%s is too small: %s, the region needs %s "
			       "(set DAX_REGION_CREATE to extend it)",
			       r->path, dax_size_str(fsz, a, sizeof(a)),
			       dax_size_str(r->device_size, b, sizeof(b)));
		goto undo;
	}
	ret = region_set_range(r, o);
	if (!ret)
		ret = region_set_resources(r, o);
	if (ret)
		goto undo;
	if (fsz < r->device_size) {
		/* Allocate now: a sparse file would SIGBUS later when full. */
		extended = true;
		ret = -posix_fallocate(r->fd, 0, (off_t)r->device_size);
		if (ret) {
			ret = dax_fail(&r->log, ret,
				       "%s: cannot extend to %s: %s", r->path,
				       dax_size_str(r->device_size, a,
						    sizeof(a)),
				       strerror(-ret));
			goto undo;
		}
	}
	ret = region_map(r);
	if (!ret)
		return 0;
undo:
	/* Leave the file as it was: removed if we made it, else its size. */
	if (created)
		unlink(r->path);
	else if (extended)
		(void)!ftruncate(r->fd, (off_t)fsz);
	return ret;
}

static int region_open_chardev(struct dax_region *r,
			       const struct dax_region_opts *o)
{
	struct dax_sysfs_dev *dev;
	char a[32], b[32];
	struct stat st;
	int ret;

	if (r->flags & DAX_REGION_CREATE)
		return dax_fail(&r->log, -EINVAL,
				"DAX_REGION_CREATE is for regular files; %s is "
				"a character device",
				r->path);
	if (o->nr_res)
		return dax_fail(&r->log, -EINVAL,
				"%s: a device's resources come from sysfs; "
				"dax_region_opts_add_resource() is for "
				"emulated regions",
				r->path);
	r->fd = open(r->path, O_CLOEXEC | (r->flags & DAX_REGION_READONLY ?
						   O_RDONLY : O_RDWR));
	if (r->fd < 0)
		return dax_fail(&r->log, -errno, "cannot open %s: %s",
				r->path, strerror(errno));
	if (fstat(r->fd, &st))
		return dax_fail(&r->log, -errno, "fstat %s: %s", r->path,
				strerror(errno));
	if (!S_ISCHR(st.st_mode))
		return dax_fail(&r->log, -ENODEV,
				"%s changed under us: no longer a character "
				"device",
				r->path);
	dev = malloc(sizeof(*dev));
	if (!dev)
		return dax_fail(&r->log, -ENOMEM, "out of memory");
	ret = dax_sysfs_read_dev(&r->log, o->sysfs_root, r->path,
				 major(st.st_rdev), minor(st.st_rdev), dev);
	if (ret)
		goto out;
	r->kind = dev->kind;
	r->align = dev->align;
	r->device_size = dev->size;
	r->numa_node = dev->numa_node;
	r->target_node = dev->target_node;
	r->res = dev->res;
	r->nr_res = dev->nr_res;
	r->nd_backed = dev->nd_backed;
	if (o->align_set && o->align != dev->align) {
		ret = dax_fail(&r->log, -EINVAL,
			       "%s has alignment %s (sysfs align), the options "
			       "ask for %s",
			       r->path, dax_size_str(dev->align, a, sizeof(a)),
			       dax_size_str(o->align, b, sizeof(b)));
		goto out;
	}
	if (o->size && o->size != dev->size) {
		ret = dax_fail(&r->log, -EINVAL,
			       "%s is %s, the options ask for %s (map part "
			       "of it with dax_region_opts_set_range())",
			       r->path, dax_size_str(dev->size, a, sizeof(a)),
			       dax_size_str(o->size, b, sizeof(b)));
		goto out;
	}
	ret = region_set_range(r, o);
	if (!ret)
		ret = region_map(r);
out:
	free(dev);
	return ret;
}

static void region_free(struct dax_region *r)
{
	if (r->fd >= 0)
		close(r->fd);
	pthread_cond_destroy(&r->drained);
	pthread_mutex_destroy(&r->lock);
	free(r->res);
	free(r->path);
	free(r);
}

static int region_alloc(const char *path, const struct dax_region_opts *o,
			struct dax_region **out)
{
	struct dax_region *r = NULL;

	if (posix_memalign((void **)&r, 64, sizeof(*r)))
		return dax_fail(&o->log, -ENOMEM, "out of memory");
	memset(r, 0, sizeof(*r));
	r->path = strdup(path);
	if (!r->path) {
		free(r);
		return dax_fail(&o->log, -ENOMEM, "out of memory");
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->drained, NULL);
	r->fd = -1;
	r->numa_node = -1;
	r->target_node = -1;
	r->flags = o->flags;
	r->log = o->log;
	*out = r;
	return 0;
}

/**
 * dax_region_open() - map a device-DAX device, a module device, a file or
 * a memfd as a region
 * @path: "/dev/daxX.Y", the module's device, a regular file, or
 *	"memfd:NAME"
 * @opts: options (NULL: defaults); copied, may be deleted after the call
 * @region: where to store the new region; untouched on failure
 *
 * Character devices are recognised through sysfs (subsystem "dax" or
 * "daxlite"); their size, alignment, resources and nodes come from there.
 * Files and memfds are emulated regions with the options' alignment and
 * size.  The mapping is MAP_SHARED, at an address aligned to the region
 * alignment, through libpmem2 (see the top of this file).
 *
 * Context: any thread; may sleep (open, mmap).
 * Return: 0; -EINVAL for a refused option (private mapping, misaligned or
 * zero size, file too small, an option that does not fit the kind);
 * -ERANGE for a sub-range past the end; -ENOENT, -EACCES and other open
 * errors; -EISDIR; -ENODEV for something that is not a DAX device, a
 * regular file or a memfd; -ENOMEM.
 */
DAX_EXPORT int dax_region_open(const char *path,
			       const struct dax_region_opts *opts,
			       struct dax_region **region)
{
	struct dax_region_opts defaults = {
		.align = 2 * DAX_MiB,
		.log = { .level = DAX_LOG_ERR },
	};
	const struct dax_region_opts *o = opts ? opts : &defaults;
	struct dax_region *r = NULL;
	struct stat st;
	char a[32];
	int ret;

	if (!path || !region)
		return dax_fail(&o->log, -EINVAL, "dax_region_open: %s is NULL",
				path ? "region" : "path");
	if (o->flags & DAX_REGION_PRIVATE)
		return dax_fail(&o->log, -EINVAL,
				"device-DAX refuses private mappings "
				"(MAP_PRIVATE), so libdax refuses "
				"DAX_REGION_PRIVATE for every kind of region");
	if ((o->flags & DAX_REGION_READONLY) && (o->flags & DAX_REGION_CREATE))
		return dax_fail(&o->log, -EINVAL,
				"DAX_REGION_CREATE cannot create or extend a "
				"file opened DAX_REGION_READONLY");
	ret = region_alloc(path, o, &r);
	if (ret)
		return ret;
	if (!strncmp(path, MEMFD_PREFIX, strlen(MEMFD_PREFIX))) {
		ret = region_open_memfd(r, o);
	} else if (stat(path, &st)) {
		if (errno == ENOENT && (o->flags & DAX_REGION_CREATE))
			ret = region_open_file(r, o, false);
		else
			ret = dax_fail(&o->log, -errno, "cannot open %s: %s%s",
				       path, strerror(errno),
				       errno == ENOENT ?
					       " (DAX_REGION_CREATE creates a "
					       "file)" : "");
	} else if (S_ISDIR(st.st_mode)) {
		ret = dax_fail(&o->log, -EISDIR,
			       "%s is a directory; a region is a device-DAX "
			       "device, a regular file or memfd:NAME",
			       path);
	} else if (S_ISCHR(st.st_mode)) {
		ret = region_open_chardev(r, o);
	} else if (S_ISREG(st.st_mode)) {
		ret = region_open_file(r, o, true);
	} else {
		ret = dax_fail(&o->log, -ENODEV,
			       "%s is neither a character device nor a regular "
			       "file",
			       path);
	}
	if (ret) {
		region_free(r);
		return ret;
	}
	/* poison.c: bad blocks, deep_flush, unsafe-shutdown count */
	ret = dax_memfail_open(r, o);
	if (ret) {
		dax_region_close(&r);
		return ret;
	}
	dax_publish_open(r);	/* publish.c: never fails the open */
	dax_log(&r->log, DAX_LOG_INFO,
		"opened %s: %s, 0x%llx bytes at offset 0x%llx of 0x%llx, "
		"align %s, at %p",
		r->path, dax_region_kind_name(r->kind),
		(unsigned long long)r->size, (unsigned long long)r->offset,
		(unsigned long long)r->device_size,
		dax_size_str(r->align, a, sizeof(a)), r->base);
	*region = r;
	return 0;
}

/**
 * dax_region_kill() - let nothing new start on @region
 * @region: the region
 *
 * Marks the region dead and waits for an RCU grace period: when it
 * returns, every later dax_region_persist() (and fault, pin, lease of the
 * layers above) fails with -ENXIO, while what started before runs on; the
 * memory stays mapped until dax_region_close().  Calling it again is
 * harmless.
 *
 * Context: any thread, also one with an operation in flight on @region,
 * but not inside an RCU read-side section (a libdax callback); sleeps for
 * a grace period.
 * Return: 0, or -EINVAL if @region is NULL.
 */
DAX_EXPORT int dax_region_kill(struct dax_region *region)
{
	if (!region)
		return dax_fail(NULL, -EINVAL,
				"dax_region_kill: region is NULL");
	if (!atomic_exchange(&region->dead, true))
		dax_log(&region->log, DAX_LOG_INFO, "%s: killed", region->path);
	dax_rcu_synchronize();
	return 0;
}

/**
 * dax_region_is_alive() - has @region not been killed yet?
 * @region: the region (NULL: false)
 *
 * Context: any thread, lock-free.
 * Return: true until dax_region_kill() (or close) has started.
 */
DAX_EXPORT bool dax_region_is_alive(const struct dax_region *region)
{
	struct dax_region *r = (struct dax_region *)region;

	return r && !atomic_load(&r->dead);
}

/**
 * dax_region_close() - kill, wait for what is in flight, unmap and free
 * @region: the region; set to NULL (NULL or *NULL: nothing to do)
 *
 * Kills the region if that was not done, waits until every user that
 * entered it has left, releases the state the layers above kept in it,
 * unmaps it and closes the file descriptor.  No other call on the region
 * may start once close has been called.
 *
 * Context: any thread that is not itself in flight on the region; sleeps.
 * Return: 0; -EINVAL if @region is NULL; an unmap error from libpmem2
 * (the region is freed anyway, its address range may stay reserved).
 */
DAX_EXPORT int dax_region_close(struct dax_region **region)
{
	struct dax_region *r = NULL;
	int ret;

	if (!region)
		return dax_fail(NULL, -EINVAL,
				"dax_region_close: region is NULL");
	r = *region;
	if (!r)
		return 0;
	dax_region_kill(r);
	pthread_mutex_lock(&r->lock);
	while (region_users(r) != 0)
		pthread_cond_wait(&r->drained, &r->lock);
	pthread_mutex_unlock(&r->lock);
	for (int s = DAX_REGION_NR_SLOTS - 1; s >= 0; s--) {
		void *obj = atomic_load_explicit(&r->slots[s].obj,
						 memory_order_acquire);
		void (*release)(void *) = atomic_load_explicit(
			&r->slots[s].release, memory_order_acquire);

		if (obj && release)
			release(obj);
	}
	ret = region_unmap(r);
	dax_log(&r->log, DAX_LOG_INFO, "%s: closed", r->path);
	region_free(r);
	*region = NULL;
	return ret;
}

/* ---- getters ------------------------------------------------------------- */

/**
 * dax_region_get_size() - bytes mapped (the sub-range, or the whole)
 * @region: the region (NULL: 0)
 *
 * Context: any thread, also after kill.
 * Return: the size of the mapping at dax_region_get_base().
 */
DAX_EXPORT uint64_t dax_region_get_size(const struct dax_region *region)
{
	return region ? region->size : 0;
}

/**
 * dax_region_get_align() - the region alignment
 * @region: the region (NULL: 0)
 *
 * Context: any thread, also after kill.
 * Return: 4096, 2097152 or 1073741824.
 */
DAX_EXPORT uint64_t dax_region_get_align(const struct dax_region *region)
{
	return region ? region->align : 0;
}

/**
 * dax_region_get_offset() - where the mapping starts in the device or file
 * @region: the region (NULL: 0)
 *
 * Context: any thread, also after kill.
 * Return: the sub-range offset, 0 when the whole is mapped.
 */
DAX_EXPORT uint64_t dax_region_get_offset(const struct dax_region *region)
{
	return region ? region->offset : 0;
}

/**
 * dax_region_get_device_size() - the size of the whole device or file
 * @region: the region (NULL: 0)
 *
 * Context: any thread, also after kill.
 * Return: bytes.
 */
DAX_EXPORT uint64_t
dax_region_get_device_size(const struct dax_region *region)
{
	return region ? region->device_size : 0;
}

/**
 * dax_region_get_base() - the address of the mapping
 * @region: the region (NULL: NULL)
 *
 * Context: any thread, also after kill (valid until close).
 * Return: an address aligned to dax_region_get_align().
 */
DAX_EXPORT void *dax_region_get_base(const struct dax_region *region)
{
	return region ? region->base : NULL;
}

/**
 * dax_region_get_kind() - device-DAX, module device or emulated
 * @region: the region (NULL: 0)
 *
 * Context: any thread, also after kill.
 * Return: an enum dax_region_kind.
 */
DAX_EXPORT enum dax_region_kind
dax_region_get_kind(const struct dax_region *region)
{
	return region ? region->kind : (enum dax_region_kind)0;
}

/**
 * dax_region_kind_name() - "devdax", "module" or "emulated"
 * @kind: a kind
 *
 * Context: any thread.
 * Return: a static string; "unknown" for a value that is not a kind.
 */
DAX_EXPORT const char *dax_region_kind_name(enum dax_region_kind kind)
{
	switch (kind) {
	case DAX_REGION_KIND_DEVDAX:
		return "devdax";
	case DAX_REGION_KIND_MODULE:
		return "module";
	case DAX_REGION_KIND_EMULATED:
		return "emulated";
	}
	return "unknown";
}

/**
 * dax_region_get_path() - the path the region was opened with
 * @region: the region (NULL: NULL)
 *
 * Context: any thread, also after kill (valid until close).
 * Return: the path, e.g. "/dev/dax0.0" or "memfd:cache".
 */
DAX_EXPORT const char *dax_region_get_path(const struct dax_region *region)
{
	return region ? region->path : NULL;
}

/**
 * dax_region_get_numa_node() - the device's NUMA node (sysfs numa_node)
 * @region: the region
 *
 * Context: any thread, also after kill.
 * Return: the node, or -1 when unknown (emulated regions, NULL).
 */
DAX_EXPORT int dax_region_get_numa_node(const struct dax_region *region)
{
	return region ? region->numa_node : -1;
}

/**
 * dax_region_get_target_node() - the memory's own node (sysfs target_node)
 * @region: the region
 *
 * Context: any thread, also after kill.
 * Return: the node, or -1 when unknown (emulated regions, NULL).
 */
DAX_EXPORT int dax_region_get_target_node(const struct dax_region *region)
{
	return region ? region->target_node : -1;
}

/**
 * dax_region_get_nr_resources() - how many physical ranges back the device
 * @region: the region (NULL: 0)
 *
 * Context: any thread, also after kill.
 * Return: the count (0 when sysfs gave none).
 */
DAX_EXPORT unsigned
dax_region_get_nr_resources(const struct dax_region *region)
{
	return region ? region->nr_res : 0;
}

/**
 * dax_region_get_resource() - one physical range of the device
 * @region: the region
 * @index: 0 .. dax_region_get_nr_resources() - 1
 * @res: filled with start, end (inclusive) and page_offset (in 4 KiB
 *	pages from the start of the device, not of the mapped sub-range)
 *
 * Context: any thread, also after kill.
 * Return: 0, -EINVAL (NULL argument), -ERANGE (no such resource).
 */
DAX_EXPORT int dax_region_get_resource(const struct dax_region *region,
				       unsigned index, struct dax_resource *res)
{
	if (!region || !res)
		return dax_fail(NULL, -EINVAL,
				"dax_region_get_resource: %s is NULL",
				region ? "res" : "region");
	if (index >= region->nr_res)
		return dax_fail(&region->log, -ERANGE,
				"%s has %u resources; there is no resource %u",
				region->path, region->nr_res, index);
	*res = region->res[index];
	return 0;
}

/**
 * dax_region_offset_to_phys() - the physical address behind a byte
 * @region: the region
 * @offset: bytes from dax_region_get_base()
 * @phys: where to store the physical address
 * @resource: where to store the index of its resource (may be NULL)
 *
 * Walks the resources as the kernel's dax_pgoff_to_phys() does: the
 * resource whose pages [page_offset, page_offset + its pages) hold the
 * device page of @offset (the sub-range offset added) gives
 * start + (device offset - page_offset * 4096).  A pure translation: it
 * works after kill too.
 *
 * Context: any thread, lock-free.
 * Return: 0; -EINVAL (NULL argument); -ERANGE (@offset past the mapped
 * size); -ENXIO (no resource covers it, e.g. a device without resources).
 */
DAX_EXPORT int dax_region_offset_to_phys(const struct dax_region *region,
					 uint64_t offset, uint64_t *phys,
					 unsigned *resource)
{
	uint64_t dev_off, pgoff;

	if (!region || !phys)
		return dax_fail(NULL, -EINVAL,
				"dax_region_offset_to_phys: %s is NULL",
				region ? "phys" : "region");
	if (offset >= region->size)
		return dax_fail(&region->log, -ERANGE,
				"offset 0x%llx is past the end of the region "
				"(0x%llx bytes mapped)",
				(unsigned long long)offset,
				(unsigned long long)region->size);
	dev_off = region->offset + offset;
	pgoff = dev_off >> DAX_PAGE_SHIFT;
	for (unsigned i = 0; i < region->nr_res; i++) {
		const struct dax_resource *res = &region->res[i];
		uint64_t pages = (res->end - res->start + 1) >> DAX_PAGE_SHIFT;

		if (pgoff < res->page_offset ||
		    pgoff >= res->page_offset + pages)
			continue;
		*phys = res->start +
			(dev_off - (res->page_offset << DAX_PAGE_SHIFT));
		if (resource)
			*resource = i;
		return 0;
	}
	return dax_fail(&region->log, -ENXIO,
			"offset 0x%llx (device page 0x%llx) is in none of the "
			"%u resources of %s",
			(unsigned long long)offset, (unsigned long long)pgoff,
			region->nr_res, region->path);
}

/**
 * dax_region_persist() - make a range of the region durable
 * @region: the region
 * @offset: bytes from dax_region_get_base() (any byte)
 * @len: bytes (0: nothing to do)
 *
 * libpmem2's persist function for the mapping: cache flush and fence on
 * device-DAX and module devices, msync() on files and memfds.
 *
 * Context: any thread, concurrently with anything but close; may sleep
 * (msync).
 * Return: 0; -EINVAL (NULL @region); -ERANGE (past the end); -ENXIO after
 * dax_region_kill().
 */
DAX_EXPORT int dax_region_persist(struct dax_region *region, uint64_t offset,
				  uint64_t len)
{
	int ret;

	if (!region)
		return dax_fail(NULL, -EINVAL,
				"dax_region_persist: region is NULL");
	ret = dax_region_enter(region);
	if (ret)
		return ret;
	ret = dax_region_check_range(region, "persist", offset, len, 1);
	if (!ret && len)
		region->persist((char *)region->base + offset, len);
	dax_region_exit(region);
	return ret;
}
