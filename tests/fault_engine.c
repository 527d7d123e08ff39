// SPDX-License-Identifier: MIT
/*
 * The fault path through an engine's callbacks (struct dax_mapping_ops
 * iomap_begin / iomap_end): a fake engine whose block map sends index i to
 * region page base + i, with knobs to answer holes, unwritten or new
 * extents, smaller extents, nonsense, -ENOSPC and other errors.  Checks
 * what the engine is asked, that iomap_end hears every outcome, and that a
 * failed fault leaves the mapping as it was.
 */
#include "helpers.h"
#include "libdax/internal.h"

#define MiB (UINT64_C(1) << 20)
#define PAGE 4096

struct engine {
	uint64_t base;		/* region page of index 0 */
	enum dax_iomap_type type;
	unsigned iomap_flags;
	int small_order;	/* >= 0: answer with this order */
	int begin_ret, end_ret;
	unsigned nospace_above;	/* -ENOSPC for orders above this */
	bool misalign;		/* answer a pfn off by one */
	/* what it saw */
	int nr_begin, nr_end;
	unsigned begin_order[8], begin_flags[8];
	int end_outcome[8];
};

static struct dax_region *r;
static struct dax_mapping *m;
static struct engine eng;

static int engine_begin(struct dax_mapping *map, void *priv, uint64_t index,
			unsigned order, unsigned flags, struct dax_iomap *iomap)
{
	struct engine *e = priv;
	unsigned o = order;

	cr_assert_eq(map, m);
	if (e->nr_begin < 8) {
		e->begin_order[e->nr_begin] = order;
		e->begin_flags[e->nr_begin] = flags;
	}
	e->nr_begin++;
	if (e->begin_ret)
		return e->begin_ret;
	if (order > e->nospace_above)
		return -ENOSPC;
	if (e->small_order >= 0 && (unsigned)e->small_order < o)
		o = e->small_order;
	iomap->order = o;
	iomap->first = index & ~((UINT64_C(1) << o) - 1);
	iomap->type = e->type;
	iomap->pfn = e->base + iomap->first + (e->misalign ? 1 : 0);
	iomap->flags = e->iomap_flags;
	iomap->priv = e;
	return 0;
}

static int engine_end(struct dax_mapping *map, void *priv, uint64_t index,
		      unsigned order, unsigned flags, int ret,
		      struct dax_iomap *iomap)
{
	struct engine *e = priv;

	cr_assert_eq(iomap->priv, e, "iomap_end gets the extent back");
	if (e->nr_end < 8)
		e->end_outcome[e->nr_end] = ret;
	e->nr_end++;
	return e->end_ret;
}

static const struct dax_mapping_ops engine_ops = {
	.iomap_begin = engine_begin,
	.iomap_end = engine_end,
};

static void setup(void)
{
	struct dax_region_opts *o;

	cr_assert_eq(dax_region_opts_new(&o), 0);
	cr_assert_eq(dax_region_opts_set_size(o, 16 * MiB), 0);
	cr_assert_eq(dax_region_open("memfd:fault-engine", o, &r), 0, "%s",
		     dax_errormsg());
	dax_region_opts_delete(&o);
	memset(&eng, 0, sizeof(eng));
	eng.small_order = -1;
	eng.nospace_above = 64;
	eng.type = DAX_IOMAP_MAPPED;
	/* The engine's blocks: 8 MiB from the built-in allocator. */
	cr_assert_eq(dax_alloc_pages(r, 11, 0, &eng.base), 0);
	memset((char *)dax_region_get_base(r) + eng.base * PAGE, 0x5a,
	       8 * MiB);
	cr_assert_eq(dax_mapping_new(r, &engine_ops, &eng, 8 * MiB, &m), 0);
}

static void teardown(void)
{
	cr_assert_eq(dax_fault_release_blocks(m), 0);
	dax_mapping_put(&m);
	cr_assert_eq(dax_region_close(&r), 0);
	dax_rcu_barrier();
}

static struct dax_fault_stats stats(void)
{
	struct dax_fault_stats st;

	cr_assert_eq(dax_fault_get_stats(m, &st), 0);
	return st;
}

static struct dax_fault_ext fault_ok(uint64_t index, unsigned flags)
{
	struct dax_fault_ext ext;
	int ret = dax_fault(m, index, flags, &ext);

	cr_assert_eq(ret, 0, "dax_fault(0x%llx): %s: %s",
		     (unsigned long long)index, strerror(-ret),
		     dax_errormsg());
	return ext;
}

static unsigned char byte_at(const void *p)
{
	return *(const unsigned char *)p;
}

Test(fault_engine, read_installs_the_engines_extent_clean, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext = fault_ok(12, 0);

	cr_assert_eq(eng.nr_begin, 1);
	cr_assert_eq(eng.begin_order[0], 0);
	cr_assert_eq(eng.begin_flags[0], DAX_IOMAP_FAULT, "no WRITE on read");
	cr_assert_eq(eng.nr_end, 1);
	cr_assert_eq(eng.end_outcome[0], 0);
	cr_assert_eq(ext.pfn, eng.base + 12);
	cr_assert_eq(byte_at(ext.addr), 0x5a, "existing data is not zeroed");
	cr_assert(!dax_tree_get_mark(dax_mapping_tree(m), 12,
				     DAX_ENTRY_MARK_DIRTY));
	cr_assert_eq(stats().mapped, 1);
	cr_assert_eq(stats().allocations, 0);
	/* Present: the engine is not asked again. */
	fault_ok(12, 0);
	cr_assert_eq(eng.nr_begin, 1);
	/* A write of the clean entry marks it without asking either. */
	fault_ok(12, DAX_FAULT_WRITE);
	cr_assert_eq(eng.nr_begin, 1);
	cr_assert(dax_tree_get_mark(dax_mapping_tree(m), 12,
				    DAX_ENTRY_MARK_DIRTY));
}

Test(fault_engine, holes_and_unwritten_extents_read_as_zeroes, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;

	eng.type = DAX_IOMAP_HOLE;
	ext = fault_ok(3, 0);
	cr_assert(ext.flags & DAX_FAULT_EXT_ZERO);
	eng.type = DAX_IOMAP_UNWRITTEN;
	ext = fault_ok(4, 0);
	cr_assert(ext.flags & DAX_FAULT_EXT_ZERO);
	cr_assert_eq(stats().zero_installs, 2);
	cr_assert_eq(eng.nr_end, 2);
}

Test(fault_engine, write_asks_to_allocate_and_zeroes_new_or_unwritten,
     .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext;

	eng.iomap_flags = DAX_IOMAP_F_NEW;
	ext = fault_ok(20, DAX_FAULT_WRITE);
	cr_assert_eq(eng.begin_flags[0], DAX_IOMAP_FAULT | DAX_IOMAP_WRITE);
	cr_assert(ext.flags & DAX_FAULT_EXT_NEW);
	cr_assert_eq(byte_at(ext.addr), 0, "F_NEW blocks are zeroed");
	eng.iomap_flags = 0;
	eng.type = DAX_IOMAP_UNWRITTEN;
	ext = fault_ok(21, DAX_FAULT_WRITE);
	cr_assert_eq(byte_at((char *)ext.addr + PAGE - 1), 0,
		     "unwritten extents are zeroed");
	eng.type = DAX_IOMAP_MAPPED;
	ext = fault_ok(22, DAX_FAULT_WRITE);
	cr_assert_eq(byte_at(ext.addr), 0x5a, "mapped blocks keep their data");
	cr_assert_eq(stats().allocations, 3);
	cr_assert_eq(eng.end_outcome[2], 0);
}

Test(fault_engine, write_over_a_hole_replaces_the_zero_entry, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;

	eng.type = DAX_IOMAP_HOLE;
	fault_ok(30, 0);
	eng.type = DAX_IOMAP_MAPPED;
	ext = fault_ok(30, DAX_FAULT_WRITE);
	cr_assert(!(ext.flags & DAX_FAULT_EXT_ZERO));
	cr_assert_eq(ext.pfn, eng.base + 30);
	cr_assert(dax_entry_is_real(dax_tree_load(dax_mapping_tree(m), 30)));
}

Test(fault_engine, a_2m_request_falls_back_on_a_smaller_extent,
     .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext;

	eng.small_order = 0;
	ext = fault_ok(512 + 5, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M);
	cr_assert_eq(ext.order, 0);
	cr_assert_eq(eng.nr_begin, 2);
	cr_assert_eq(eng.begin_order[0], 9);
	cr_assert_eq(eng.begin_order[1], 0);
	cr_assert_eq(eng.end_outcome[0], -ERANGE,
		     "the unused extent is handed back with -ERANGE");
	cr_assert_eq(eng.end_outcome[1], 0);
	cr_assert_eq(stats().fallbacks[DAX_FAULT_FALLBACK_EXTENT], 1);
	/* And with a 2 MiB extent, a 2 MiB entry. */
	eng.small_order = -1;
	ext = fault_ok(1024, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M);
	cr_assert_eq(ext.order, 9);
	cr_assert_eq(ext.pfn, eng.base + 1024);
}

Test(fault_engine, enospc_at_2m_falls_back_and_at_4k_fails, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;

	eng.nospace_above = 0;
	ext = fault_ok(512, DAX_FAULT_WRITE | DAX_FAULT_SIZE_2M);
	cr_assert_eq(ext.order, 0);
	cr_assert_eq(stats().fallbacks[DAX_FAULT_FALLBACK_NOSPACE], 1);
	cr_assert_eq(eng.nr_end, 1, "iomap_end only after a begin succeeded");
	eng.begin_ret = -ENOSPC;
	assert_fails_with(dax_fault(m, 7, DAX_FAULT_WRITE, &ext), -ENOSPC,
			  "iomap_begin");
}

Test(fault_engine, begin_errors_propagate_and_change_nothing, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;

	eng.type = DAX_IOMAP_HOLE;
	fault_ok(40, 0);
	eng.begin_ret = -EDQUOT;
	assert_fails_with(dax_fault(m, 40, DAX_FAULT_WRITE, &ext), -EDQUOT,
			  "iomap_begin");
	cr_assert(dax_entry_is_zero(dax_tree_load(dax_mapping_tree(m), 40)),
		  "the hole stays a hole");
	cr_assert(!dax_entry_is_locked(dax_tree_load(dax_mapping_tree(m), 40)));
	assert_fails_with(dax_fault(m, 41, 0, &ext), -EDQUOT, "iomap_begin");
	cr_assert_eq(dax_tree_load(dax_mapping_tree(m), 41), 0,
		     "the placeholder is gone");
	cr_assert_eq(dax_mapping_get_nr_entries(m), 1);
	cr_assert_eq(eng.nr_end, 1, "no iomap_end after a failed begin");
	eng.begin_ret = 12345;	/* nonsense: a positive value */
	assert_fails_with(dax_fault(m, 41, 0, &ext), -EIO, "iomap_begin");
	cr_assert_eq(stats().errors, 3);
}

Test(fault_engine, end_errors_undo_the_fault, .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext;

	eng.type = DAX_IOMAP_HOLE;
	fault_ok(50, 0);
	eng.type = DAX_IOMAP_MAPPED;
	eng.end_ret = -EIO;
	assert_fails_with(dax_fault(m, 50, DAX_FAULT_WRITE, &ext), -EIO,
			  "iomap_end");
	cr_assert_eq(eng.end_outcome[1], 0, "it was told the fault succeeded");
	cr_assert(dax_entry_is_zero(dax_tree_load(dax_mapping_tree(m), 50)));
	cr_assert(!dax_tree_get_mark(dax_mapping_tree(m), 50,
				     DAX_ENTRY_MARK_DIRTY));
	assert_fails_with(dax_fault(m, 51, 0, &ext), -EIO, "iomap_end");
	cr_assert_eq(dax_tree_load(dax_mapping_tree(m), 51), 0);
	/* The pages it named are nobody's in the reverse map. */
	dax_cookie_t c;

	cr_assert_eq(dax_lock_pfn(r, eng.base + 51, &c), 0);
	cr_assert_eq(c, 0);
	cr_assert_eq(dax_lock_pfn(r, eng.base + 50, &c), 0);
	cr_assert_eq(c, 0);
}

Test(fault_engine, nonsense_answers_fail_eio, .init = setup, .fini = teardown)
{
	struct dax_fault_ext ext;

	eng.misalign = true;
	assert_fails_with(dax_fault(m, 512, DAX_FAULT_SIZE_2M, &ext), -EIO,
			  "misaligned");
	cr_assert_eq(eng.end_outcome[0], -EIO);
	eng.misalign = false;
	eng.type = DAX_IOMAP_HOLE;
	assert_fails_with(dax_fault(m, 3, DAX_FAULT_WRITE, &ext), -EIO,
			  "hole for a write");
	eng.type = 77;
	assert_fails_with(dax_fault(m, 3, 0, &ext), -EIO, "unknown type");
	cr_assert_eq(dax_mapping_get_nr_entries(m), 0);
	cr_assert_eq(eng.nr_end, 3);
}

Test(fault_engine, a_page_owned_by_another_entry_is_refused, .init = setup,
     .fini = teardown)
{
	struct dax_fault_ext ext;

	fault_ok(60, 0);
	/* Index 61 answered with index 60's page. */
	eng.base -= 1;
	cr_assert_neq(dax_fault(m, 61, DAX_FAULT_WRITE, &ext), 0);
	cr_assert_eq(dax_tree_load(dax_mapping_tree(m), 61), 0);
	cr_assert_neq(eng.end_outcome[1], 0, "iomap_end hears the failure");
	eng.base += 1;
}

Test(fault_engine, writes_on_a_read_only_region_fail_erofs_even_when_mapped)
{
	struct dax_fault_ext ext;

	test_open_readonly_file(4 * MiB, &r);
	memset(&eng, 0, sizeof(eng));
	eng.small_order = -1;
	eng.nospace_above = 64;
	eng.type = DAX_IOMAP_MAPPED;
	cr_assert_eq(dax_mapping_new(r, &engine_ops, &eng, 4 * MiB, &m), 0);
	ext = fault_ok(5, 0);
	cr_assert_eq(ext.pfn, 5);
	assert_fails_with(dax_fault(m, 5, DAX_FAULT_WRITE, &ext), -EROFS,
			  "read-only");
	assert_fails_with(dax_fault(m, 6, DAX_FAULT_WRITE, &ext), -EROFS,
			  "read-only");
	cr_assert(!dax_tree_get_mark(dax_mapping_tree(m), 5,
				     DAX_ENTRY_MARK_DIRTY));
	cr_assert_eq(eng.nr_begin, 1, "the engine is not asked to allocate");
	teardown();
}
