/* SPDX-License-Identifier: MIT */
/*
 * libdax: direct access to byte-addressable memory (persistent memory,
 * device-DAX, or DRAM/files standing in for it) for multithreaded storage
 * engines.  This is the only public header.  Every type is opaque; every
 * function returns 0 or a negative errno unless its man page says otherwise,
 * and dax_errormsg() explains the last failure of the calling thread.
 *
 * The man pages are the reference: libdax(7) for the overview, one page per
 * function group in section 3.
 */
#ifndef LIBDAX_H
#define LIBDAX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors and logging ------------------------------------------------ */

/* The text of the calling thread's last failure ("" when there was none). */
const char *dax_errormsg(void);

enum dax_log_level {
	DAX_LOG_ERR = 3,
	DAX_LOG_WARN = 4,
	DAX_LOG_INFO = 6,
	DAX_LOG_DEBUG = 7,
};

/* A log sink: gets every message at or below the level it was set with. */
typedef void (*dax_log_fn)(void *priv, enum dax_log_level level,
			   const char *msg);

/* ---- region options ------------------------------------------------------ */

struct dax_region_opts;

enum dax_region_flag {
	DAX_REGION_READONLY = 1 << 0,	/* map PROT_READ only */
	DAX_REGION_PRIVATE = 1 << 1,	/* ask for MAP_PRIVATE: always refused */
	DAX_REGION_CREATE = 1 << 2,	/* emulated file: create / extend it */
};

int dax_region_opts_new(struct dax_region_opts **opts);
void dax_region_opts_delete(struct dax_region_opts **opts);
int dax_region_opts_set_align(struct dax_region_opts *opts, uint64_t align);
int dax_region_opts_set_size(struct dax_region_opts *opts, uint64_t size);
int dax_region_opts_set_flags(struct dax_region_opts *opts, unsigned flags);
int dax_region_opts_set_range(struct dax_region_opts *opts, uint64_t offset,
			      uint64_t length);
int dax_region_opts_add_resource(struct dax_region_opts *opts,
				 uint64_t phys_start, uint64_t size);
int dax_region_opts_set_sysfs_root(struct dax_region_opts *opts,
				   const char *root);
int dax_region_opts_set_log(struct dax_region_opts *opts, dax_log_fn fn,
			    void *priv, enum dax_log_level level);

/* ---- regions --------------------------------------------------------------- */

struct dax_region;

enum dax_region_kind {
	DAX_REGION_KIND_DEVDAX = 1,	/* kernel device-DAX, /dev/daxX.Y */
	DAX_REGION_KIND_MODULE = 2,	/* the companion module's device */
	DAX_REGION_KIND_EMULATED = 3,	/* a regular file or a memfd */
};

/* One physical range of a region, as device-DAX's mappingN/ describes it. */
struct dax_resource {
	uint64_t start;		/* physical address of the first byte */
	uint64_t end;		/* physical address of the last byte */
	uint64_t page_offset;	/* first region page (4 KiB) it backs */
};

int dax_region_open(const char *path, const struct dax_region_opts *opts,
		    struct dax_region **region);
int dax_region_close(struct dax_region **region);
int dax_region_kill(struct dax_region *region);
bool dax_region_is_alive(const struct dax_region *region);

uint64_t dax_region_get_size(const struct dax_region *region);
uint64_t dax_region_get_align(const struct dax_region *region);
uint64_t dax_region_get_offset(const struct dax_region *region);
uint64_t dax_region_get_device_size(const struct dax_region *region);
void *dax_region_get_base(const struct dax_region *region);
enum dax_region_kind dax_region_get_kind(const struct dax_region *region);
const char *dax_region_kind_name(enum dax_region_kind kind);
const char *dax_region_get_path(const struct dax_region *region);
int dax_region_get_numa_node(const struct dax_region *region);
int dax_region_get_target_node(const struct dax_region *region);
unsigned dax_region_get_nr_resources(const struct dax_region *region);
int dax_region_get_resource(const struct dax_region *region, unsigned index,
			    struct dax_resource *res);
int dax_region_offset_to_phys(const struct dax_region *region,
			      uint64_t offset, uint64_t *phys,
			      unsigned *resource);
int dax_region_persist(struct dax_region *region, uint64_t offset,
		       uint64_t len);

/* ---- the entry tree -------------------------------------------------------- */

/* ---- mappings, entries and entry locks --------------------------------------- */

/* ---- allocator, fault path, heap --------------------------------------------- */

/* ---- pins, leases, layout changes, async I/O --------------------------------- */

/* ---- writeback, memory failure ----------------------------------------------- */

#ifdef __cplusplus
}
#endif

#endif /* LIBDAX_H */
