// SPDX-License-Identifier: MIT
/*
 * Publication: what each process is doing with a region, for daxctl-lite
 * usage to read from outside.
 *
 * Why
 * ---
 * The allocator, heaps, mappings, pins and leases of a region live in the
 * memory of the process that opened it; nothing in the kernel knows them.
 * An operator looking at a device-DAX device an engine left behind (or is
 * still using) wants to know who has it open and what they hold.  So each
 * open region gets a small file, mapped MAP_SHARED, that the library
 * updates at the points where its own counters change: relaxed stores and
 * adds to the shared page, no system call and no lock on those paths.
 *
 * When
 * ----
 * DAX_PUBLISH=0 turns it off, DAX_PUBLISH=1 on for every region; unset, it
 * is on for device-DAX, module and file regions and off for memfd regions
 * (private to the process, and what tests and benchmarks use).  The folder
 * is $DAX_RUNDIR, or /run/libdax, made 0755 when missing.  Publication
 * never fails an open: when the folder or file cannot be made, the region
 * opens all the same and a warning goes to the region's log.
 *
 * One file per open region: <folder>/<pid>-<start time>-<n>, mode 0644,
 * where start time is field 22 of /proc/<pid>/stat (so a pid reused later
 * never collides) and n counts the process's opens.  dax_region_close()
 * unmaps and removes it (from the process that made it only: a child after
 * fork shares the page and must not remove it).  A process that dies
 * without closing leaves its file behind, with the last state it
 * published; daxctl-lite usage tells live from exited by the pid and its
 * start time, and --clean removes files of processes that exited.
 *
 * The file (layout version 1; all integers native-endian, x86-64 here)
 * --------------------------------------------------------------------
 *	offset	size	field
 *	0	8	magic "LIBDAXPB" (written last, once the header is set)
 *	8	4	version: 1
 *	12	4	size of the whole layout in bytes (>= 1664 for v1)
 *	16	4	pid
 *	20	4	region kind (enum dax_region_kind: 0 devdax, 1 module,
 *			2 emulated)
 *	24	8	start time of the process (ticks since boot)
 *	32	8	open time (CLOCK_REALTIME, ns since the epoch)
 *	40	8	device: st_rdev of a character device, st_dev of a
 *			file, 0 for a memfd
 *	48	8	inode: st_ino of the device or file, 0 for a memfd
 *	56	8	bytes mapped
 *	64	8	region alignment
 *	72	8	offset of the mapping in the device or file
 *	80	40	boot id (/proc/sys/kernel/random/boot_id), NUL-ended
 *	120	16	command name of the process, NUL-ended
 *	136	256	region path (absolute when it can be made so, as
 *			given to dax_region_open() otherwise), NUL-ended
 *	--- counters, updated while the process runs ---
 *	392	8	total pages (bytes mapped / 4096)
 *	400	8	largest block order the region holds
 *	408	8	allocator made: 1 once the region's allocator exists
 *	416	8	pages marked bad (poisoned)
 *	424	8	bad pages withdrawn from use
 *	432	8	mappings
 *	440	8	leases held (a revoked lease counts until released)
 *	448	8	heaps
 *	456	8	bytes of region memory the heaps hold
 *	464	384	free blocks per order, 48 counters (order 0 first)
 *	848	384	used blocks per order, 48 counters
 *	1232	48	padding
 *	1280	1024	pins: 16 counters, one per 64 bytes (8 used, 56
 *			padding); the pins held are their sum modulo 2^64 (a
 *			pin and its unpin may land in different counters)
 *	(2304 bytes in all)
 *
 * Pages waiting for a grace period are total - free - used - withdrawn.
 * Counters are written one by one without a lock, so a reader may see an
 * operation half done (a block split with one order updated and the other
 * not yet); a process that is idle, or dead, shows exact values.  A later
 * layout that only appends fields keeps version 1 and grows the size; one
 * that moves or changes a field bumps the version.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "internal.h"

#define PUB_MAGIC "LIBDAXPB"
#define PUB_VERSION 1
#define PUB_NR_PIN_SLOTS 16
#define PUB_DEFAULT_DIR "/run/libdax"

struct pub_pin_slot {
	uint64_t v;
	uint64_t pad[7];
};

/* The file's layout, version 1 (see the table above). */
struct pub_page {
	char magic[8];
	uint32_t version;
	uint32_t size;
	int32_t pid;
	uint32_t kind;
	uint64_t start_time;
	uint64_t open_time;
	uint64_t dev;
	uint64_t ino;
	uint64_t region_size;
	uint64_t align;
	uint64_t offset;
	char boot_id[40];
	char comm[16];
	char path[256];
	/* counters */
	uint64_t total_pages;
	uint64_t max_order;
	uint64_t alloc_made;
	uint64_t poisoned;
	uint64_t withdrawn;
	uint64_t mappings;
	uint64_t leases;
	uint64_t heaps;
	uint64_t heap_bytes;
	uint64_t nr_free[DAX_ALLOC_NR_ORDERS];
	uint64_t nr_used[DAX_ALLOC_NR_ORDERS];
	struct pub_pin_slot pins[PUB_NR_PIN_SLOTS] __attribute__((aligned(64)));
};

_Static_assert(offsetof(struct pub_page, total_pages) == 392, "layout v1");
_Static_assert(offsetof(struct pub_page, nr_free) == 464, "layout v1");
_Static_assert(offsetof(struct pub_page, nr_used) == 848, "layout v1");
_Static_assert(offsetof(struct pub_page, pins) == 1280, "layout v1");
_Static_assert(sizeof(struct pub_page) == 2304, "layout v1");

/* The in-process side, in the region's DAX_REGION_SLOT_PUBLISH slot. */
struct dax_pub {
	struct pub_page *page;
	pid_t pid;
	char file[PATH_MAX];
};

/* Leases are named by their handle only when released: which region's? */
struct pub_lease {
	const void *lease;
	struct dax_pub *pub;
};

static pthread_mutex_t lease_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pub_lease *leases;
static size_t nr_leases, cap_leases;
static _Atomic unsigned pub_seq;

static inline struct dax_pub *pub_of(const struct dax_region *region)
{
	return region ? dax_region_slot_get(region, DAX_REGION_SLOT_PUBLISH)
		      : NULL;
}

static inline void pub_store(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline void pub_add(uint64_t *p, int64_t d)
{
	__atomic_fetch_add(p, (uint64_t)d, __ATOMIC_RELAXED);
}

/* ---- the hooks ----------------------------------------------------------- */

void dax_publish_blocks(struct dax_region *region, const void *alloc,
			bool used, unsigned order, uint64_t nr)
{
	struct dax_pub *pub = pub_of(region);
	void *owner;

	if (likely(!pub) || order >= DAX_ALLOC_NR_ORDERS)
		return;
	/* A losing allocator of a creation race must not write over the
	 * winner's counts (both tile the region identically before either
	 * is installed, so what they write before that agrees). */
	owner = dax_region_slot_get(region, DAX_REGION_SLOT_ALLOC);
	if (owner && owner != alloc)
		return;
	pub_store(used ? &pub->page->nr_used[order] : &pub->page->nr_free[order],
		  nr);
	if (unlikely(!__atomic_load_n(&pub->page->alloc_made,
				      __ATOMIC_RELAXED)))
		pub_store(&pub->page->alloc_made, 1);
}

void dax_publish_set(struct dax_region *region, enum dax_pub_counter c,
		     uint64_t val)
{
	struct dax_pub *pub = pub_of(region);

	if (likely(!pub))
		return;
	switch (c) {
	case DAX_PUB_POISONED:
		pub_store(&pub->page->poisoned, val);
		break;
	case DAX_PUB_WITHDRAWN:
		pub_store(&pub->page->withdrawn, val);
		break;
	}
}

void dax_publish_heap(struct dax_region *region, int heaps, int64_t bytes)
{
	struct dax_pub *pub = pub_of(region);

	if (likely(!pub))
		return;
	if (heaps)
		pub_add(&pub->page->heaps, heaps);
	if (bytes)
		pub_add(&pub->page->heap_bytes, bytes);
}

/* The region of a mapping, while that region is still open. */
static struct dax_pub *mapping_pub(const struct dax_mapping *m)
{
	if (!m || !m->region || (m->rmap && !dax_rmap_region_open(m->rmap)))
		return NULL;
	return pub_of(m->region);
}

void dax_publish_mapping(const struct dax_mapping *mapping, int delta)
{
	struct dax_pub *pub = mapping_pub(mapping);

	if (pub)
		pub_add(&pub->page->mappings, delta);
}

/*
 * Pin counters, as layout.c counts pins: a thread owns one of the first 15
 * counters of every publication while it lives and adds to it with a
 * plain load and store (no locked instruction on the pin path); threads
 * beyond 15 share the last one with atomic adds.  Ownership passes on at
 * thread exit (the release of the mask orders the old owner's stores
 * before the new owner's).
 */
#define PUB_SHARED_PIN (PUB_NR_PIN_SLOTS - 1)

struct pub_pin_thread {
	unsigned counter;
	bool owned, ready, exited;
};

static _Atomic uint32_t pin_owned;
static pthread_key_t pin_key;
static pthread_once_t pin_once = PTHREAD_ONCE_INIT;
static __thread struct pub_pin_thread pin_tls
	__attribute__((tls_model("initial-exec")));

static void pin_thread_exit(void *arg)
{
	struct pub_pin_thread *t = arg;

	if (t->owned)
		atomic_fetch_and_explicit(&pin_owned, ~(UINT32_C(1) << t->counter),
					  memory_order_release);
	t->owned = false;
	t->counter = PUB_SHARED_PIN;
	t->exited = true;
}

static void pin_key_init(void)
{
	if (pthread_key_create(&pin_key, pin_thread_exit))
		pin_key = 0;	/* no destructor: counters stay claimed */
}

static __attribute__((noinline)) void pin_thread_init(struct pub_pin_thread *t)
{
	uint32_t v = atomic_load_explicit(&pin_owned, memory_order_relaxed);

	pthread_once(&pin_once, pin_key_init);
	t->counter = PUB_SHARED_PIN;
	t->ready = true;
	if (t->exited || pthread_setspecific(pin_key, t))
		return;
	for (;;) {
		uint32_t free_bits = ~v & ((UINT32_C(1) << PUB_SHARED_PIN) - 1);
		unsigned i;

		if (!free_bits)
			return;
		i = (unsigned)__builtin_ctz(free_bits);
		if (atomic_compare_exchange_weak_explicit(
			    &pin_owned, &v, v | (UINT32_C(1) << i),
			    memory_order_acquire, memory_order_relaxed)) {
			t->counter = i;
			t->owned = true;
			return;
		}
	}
}

void dax_publish_pin(const struct dax_mapping *mapping, int delta)
{
	struct pub_pin_thread *t = &pin_tls;
	struct dax_pub *pub;
	uint64_t *c;

	if (!mapping || !mapping->region)
		return;
	pub = pub_of(mapping->region);	/* it outlives the pin */
	if (likely(!pub))
		return;
	if (unlikely(!t->ready))
		pin_thread_init(t);
	c = &pub->page->pins[t->counter].v;
	if (likely(t->owned))
		pub_store(c, __atomic_load_n(c, __ATOMIC_RELAXED) +
				     (uint64_t)(int64_t)delta);
	else
		pub_add(c, delta);
}

void dax_publish_lease(const struct dax_mapping *mapping, const void *lease,
		       int delta)
{
	struct dax_pub *pub = delta > 0 ? mapping_pub(mapping) : NULL;
	size_t i;

	if (delta > 0 && !pub)
		return;
	pthread_mutex_lock(&lease_lock);
	if (delta > 0) {
		if (nr_leases == cap_leases) {
			size_t cap = cap_leases ? 2 * cap_leases : 16;
			struct pub_lease *v = realloc(leases, cap * sizeof(*v));

			if (!v) {	/* not counted: a gap, never a crash */
				pthread_mutex_unlock(&lease_lock);
				return;
			}
			leases = v;
			cap_leases = cap;
		}
		leases[nr_leases].lease = lease;
		leases[nr_leases].pub = pub;
		nr_leases++;
		pub_add(&pub->page->leases, 1);
	} else {
		for (i = 0; i < nr_leases; i++) {
			if (leases[i].lease != lease)
				continue;
			pub_add(&leases[i].pub->page->leases, -1);
			leases[i] = leases[--nr_leases];
			break;
		}
	}
	pthread_mutex_unlock(&lease_lock);
}

/* ---- open and close --------------------------------------------------------- */

/* Forget the leases counted on @pub (its region is closing). */
static void leases_forget(struct dax_pub *pub)
{
	size_t i = 0;

	pthread_mutex_lock(&lease_lock);
	while (i < nr_leases) {
		if (leases[i].pub == pub)
			leases[i] = leases[--nr_leases];
		else
			i++;
	}
	if (!nr_leases) {
		free(leases);
		leases = NULL;
		cap_leases = 0;
	}
	pthread_mutex_unlock(&lease_lock);
}

static void pub_release(void *obj)
{
	struct dax_pub *pub = obj;

	leases_forget(pub);
	if (getpid() == pub->pid)
		unlink(pub->file);
	munmap(pub->page, sizeof(*pub->page));
	free(pub);
}

/* Field 22 of /proc/@pid/stat: when the process started, in clock ticks
 * since boot; @state (may be NULL): field 3, 'Z' for a zombie.
 * Return: 0, or -errno (-ENOENT: no such process). */
int dax_publish_proc_start(int pid, uint64_t *start, char *state)
{
	char path[64], buf[1024], *p;
	unsigned long long v;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* the command name may hold anything */
	if (!p || !p[1] || !p[2])
		return -EIO;
	if (state)
		*state = p[2];
	/* ") S ppid ...": after ')' comes field 3 */
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &v) != 1)
		return -EIO;
	*start = v;
	return 0;
}

/* The running kernel's boot id, or "" when it cannot be read. */
void dax_publish_boot_id(char *buf, size_t len)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

const char *dax_publish_dir(void)
{
	const char *dir = getenv("DAX_RUNDIR");

	return dir && dir[0] ? dir : PUB_DEFAULT_DIR;
}

/* Does the environment (and the kind of region) ask for a publication? */
static bool pub_wanted(const struct dax_region *region)
{
	const char *env = getenv("DAX_PUBLISH");

	if (env && env[0])
		return strcmp(env, "0") != 0;
	return strncmp(dax_region_get_path(region), "memfd:", 6) != 0;
}

static void pub_fill(struct dax_region *region, struct pub_page *pg,
		     uint64_t start)
{
	const char *path = dax_region_get_path(region);
	uint64_t nr_pages = dax_region_get_size(region) / DAX_PAGE_SIZE;
	char real[PATH_MAX];
	struct timespec ts;
	struct stat st;
	unsigned max_order;

	pg->version = PUB_VERSION;
	pg->size = sizeof(*pg);
	pg->pid = getpid();
	pg->kind = (uint32_t)dax_region_get_kind(region);
	pg->start_time = start;
	clock_gettime(CLOCK_REALTIME, &ts);
	pg->open_time = (uint64_t)ts.tv_sec * 1000000000u +
			(uint64_t)ts.tv_nsec;
	if (!fstat(dax_region_fd(region), &st)) {
		pg->dev = S_ISCHR(st.st_mode) ? st.st_rdev : st.st_dev;
		pg->ino = strncmp(path, "memfd:", 6) ? st.st_ino : 0;
		if (!pg->ino)
			pg->dev = 0;
	}
	pg->region_size = dax_region_get_size(region);
	pg->align = dax_region_get_align(region);
	pg->offset = dax_region_get_offset(region);
	dax_publish_boot_id(pg->boot_id, sizeof(pg->boot_id));
	prctl(PR_GET_NAME, pg->comm, 0, 0, 0);
	pg->comm[sizeof(pg->comm) - 1] = '\0';
	/* An absolute path means something to another process; a name too
	 * long for the field is cut (readers match devices and files by
	 * device and inode, not by name). */
	if (strncmp(path, "memfd:", 6) && realpath(path, real) &&
	    strlen(real) < sizeof(pg->path))
		path = real;
	snprintf(pg->path, sizeof(pg->path), "%s", path);
	pg->total_pages = nr_pages;
	max_order = nr_pages ? 63 - (unsigned)__builtin_clzll(nr_pages) : 0;
	pg->max_order = max_order < DAX_ALLOC_NR_ORDERS ?
				max_order : DAX_ALLOC_NR_ORDERS - 1;
	/* The header before the magic: a reader that sees the magic sees it
	 * (one release store of the 8 magic bytes, at offset 0). */
	{
		uint64_t magic;

		memcpy(&magic, PUB_MAGIC, sizeof(magic));
		__atomic_store_n((uint64_t *)(void *)pg->magic, magic,
				 __ATOMIC_RELEASE);
	}
}

/*
 * dax_publish_open() - publish @region (region.c, at the end of a
 * successful open).  Never fails: a problem is a warning in the log.
 */
void dax_publish_open(struct dax_region *region)
{
	const struct dax_logger *log = dax_region_logger(region);
	const char *dir = dax_publish_dir();
	struct dax_pub *pub;
	uint64_t start = 0;
	int fd, err;
	void *page;

	if (!pub_wanted(region))
		return;
	pub = calloc(1, sizeof(*pub));
	if (!pub) {
		dax_log(log, DAX_LOG_WARN, "%s: not published: out of memory",
			dax_region_get_path(region));
		return;
	}
	pub->pid = getpid();
	dax_publish_proc_start(pub->pid, &start, NULL);
	if (mkdir(dir, 0755) && errno != EEXIST) {
		err = errno;
		goto warn_dir;
	}
	snprintf(pub->file, sizeof(pub->file), "%s/%d-%" PRIu64 "-%u", dir,
		 (int)pub->pid, start,
		 atomic_fetch_add_explicit(&pub_seq, 1, memory_order_relaxed));
	fd = open(pub->file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = errno;
		goto warn_file;
	}
	/* umask may have taken bits away; readers are other users. */
	if (fchmod(fd, 0644) || ftruncate(fd, sizeof(struct pub_page))) {
		err = errno;
		close(fd);
		unlink(pub->file);
		goto warn_file;
	}
	page = mmap(NULL, sizeof(struct pub_page), PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
	err = errno;
	close(fd);
	if (page == MAP_FAILED) {
		unlink(pub->file);
		goto warn_file;
	}
	pub->page = page;
	pub_fill(region, pub->page, start);
	dax_region_slot_install(region, DAX_REGION_SLOT_PUBLISH, pub,
				pub_release);
	dax_log(log, DAX_LOG_DEBUG, "%s: published in %s",
		dax_region_get_path(region), pub->file);
	return;

warn_dir:
	dax_log(log, DAX_LOG_WARN,
		"%s: not published for daxctl-lite usage: cannot make %s: %s "
		"(set DAX_RUNDIR, or DAX_PUBLISH=0)",
		dax_region_get_path(region), dir, strerror(err));
	free(pub);
	return;
warn_file:
	dax_log(log, DAX_LOG_WARN,
		"%s: not published for daxctl-lite usage: %s: %s",
		dax_region_get_path(region), pub->file, strerror(err));
	free(pub);
}

/* ---- reading (daxctl-lite) ---------------------------------------------------- */

/*
 * dax_publish_read() - read the publication file @name in folder @dirfd
 * Return: 0; -EBADMSG when it is not a publication (wrong magic, shorter
 * than its layout); -EPROTONOSUPPORT for a version this library does not
 * know; -errno when it cannot be opened or read.
 */
int dax_publish_read(int dirfd, const char *name, struct dax_pub_info *info)
{
	struct pub_page pg;
	struct stat st;
	uint64_t pins = 0;
	ssize_t n;
	int fd, err;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EBADMSG;
	}
	memset(&pg, 0, sizeof(pg));
	n = pread(fd, &pg, sizeof(pg), 0);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	if ((size_t)n < offsetof(struct pub_page, pid) ||
	    memcmp(pg.magic, PUB_MAGIC, sizeof(pg.magic)))
		return -EBADMSG;
	if (pg.version != PUB_VERSION)
		return -EPROTONOSUPPORT;
	if ((size_t)n < sizeof(pg) || pg.size < sizeof(pg))
		return -EBADMSG;
	memset(info, 0, sizeof(*info));
	info->version = pg.version;
	info->pid = pg.pid;
	info->kind = pg.kind;
	info->start_time = pg.start_time;
	info->open_time = pg.open_time;
	info->dev = pg.dev;
	info->ino = pg.ino;
	info->size = pg.region_size;
	info->align = pg.align;
	info->offset = pg.offset;
	memcpy(info->boot_id, pg.boot_id, sizeof(info->boot_id));
	info->boot_id[sizeof(info->boot_id) - 1] = '\0';
	memcpy(info->comm, pg.comm, sizeof(info->comm));
	info->comm[sizeof(info->comm) - 1] = '\0';
	memcpy(info->path, pg.path, sizeof(info->path));
	info->path[sizeof(info->path) - 1] = '\0';
	info->total_pages = pg.total_pages;
	info->max_order = pg.max_order < DAX_ALLOC_NR_ORDERS ?
				  (unsigned)pg.max_order :
				  DAX_ALLOC_NR_ORDERS - 1;
	info->alloc_made = pg.alloc_made != 0;
	info->poisoned_pages = pg.poisoned;
	info->withdrawn_pages = pg.withdrawn;
	for (unsigned k = 0; k < DAX_ALLOC_NR_ORDERS; k++) {
		info->nr_free[k] = pg.nr_free[k];
		info->nr_used[k] = pg.nr_used[k];
		/* counts from a torn or corrupt page must not overflow */
		if (k < 40) {
			info->free_pages += pg.nr_free[k] << k;
			info->used_pages += pg.nr_used[k] << k;
		}
	}
	info->pending_pages = info->total_pages >= info->free_pages +
					info->used_pages + info->withdrawn_pages ?
			info->total_pages - info->free_pages -
				info->used_pages - info->withdrawn_pages :
			0;
	for (unsigned i = 0; i < PUB_NR_PIN_SLOTS; i++)
		pins += pg.pins[i].v;
	info->pins = pins;
	info->mappings = pg.mappings;
	info->leases = pg.leases;
	info->heaps = pg.heaps;
	info->heap_bytes = pg.heap_bytes;
	return 0;
}
