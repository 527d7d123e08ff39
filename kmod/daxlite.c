// SPDX-License-Identifier: GPL-2.0
/*
 * daxlite: a device-DAX-like character device over ordinary RAM.
 *
 * Each device (/dev/daxliteN, class "daxlite") is backed by memory taken
 * from the page allocator in 2 MiB physically contiguous chunks.  Chunks
 * that happen to be physically adjacent, in device-offset order, form one
 * range: one "daxliteN" resource in /proc/iomem and one mappingN folder in
 * sysfs, laid out as device-DAX lays out its ranges, so that tools written
 * for /dev/daxX.Y read the same attributes under /sys/dev/char/MAJ:MIN/.
 *
 * Mapping.  device-DAX maps ZONE_DEVICE pages with vmf_insert_pfn_pmd();
 * that needs memory the kernel does not otherwise own, which a module over
 * page-allocator memory does not have.  daxlite instead hands its pages to
 * the core fault path the way a filesystem hands page-cache pages:
 *
 *  - align >= 2 MiB: each chunk is one compound (order-9) page.  The fault
 *    handler returns the page locked; finish_fault() maps the whole chunk
 *    with one PMD when the vma is 2 MiB-aligned (do_set_pmd), so touching
 *    a chunk costs one fault, as on device-DAX.  A 1 GiB-aligned device
 *    enforces the 1 GiB mmap rules but is mapped with PMDs, not PUDs.
 *  - align == 4 KiB: each chunk is split into 512 order-0 pages and mapped
 *    with PTEs only, as device-DAX does for a 4 KiB-aligned device.
 *
 * The pages are refcounted and reverse-mapped like file pages, so
 * get_user_pages works on the mapping (O_DIRECT into it, vmsplice...),
 * unlike a VM_PFNMAP mapping.  That is also what makes the busy query
 * (DAXLITE_IOC_BUSY) possible: a page's reference count is its allocation
 * reference, plus one per page-table mapping, plus whatever the rest of the
 * kernel holds (pins); the query reports the last part.
 *
 * Removal.  A device is removed by rmmod (only possible while no file is
 * open, since open files hold the module) or, at any time, by writing its
 * name to /sys/class/daxlite/remove.  Removal clears the alive flag, waits
 * for an SRCU grace period so that every fault that saw the device alive
 * has locked its page, waits for those page locks (the fault installs its
 * page-table entry under the page lock), then zaps every user mapping.
 * Faults after that get SIGBUS; mmap, open and ioctls get ENXIO (the busy
 * query keeps working so that a drain can finish).  The memory is freed
 * when the last open file is closed, and a page still pinned by in-flight
 * I/O is freed by the last put_page().
 */
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pagemap.h>
#include <linux/pseudo_fs.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/srcu.h>
#include <linux/uaccess.h>
#include <linux/version.h>

#include "daxlite_uapi.h"

#define DAXLITE_CHUNK		SZ_2M
#define DAXLITE_CHUNK_ORDER	(21 - PAGE_SHIFT)
#define DAXLITE_CHUNK_PAGES	(1UL << DAXLITE_CHUNK_ORDER)
#define DAXLITE_MAX_DEVS	64
#define DAXLITE_FS_MAGIC	0x6461786c	/* "daxl" */

static unsigned int ndevs = 1;
module_param(ndevs, uint, 0444);
MODULE_PARM_DESC(ndevs, "number of devices (default 1, at most 64)");

static char *size = "64M";
module_param(size, charp, 0444);
MODULE_PARM_DESC(size,
	"bytes per device, comma-separated list, K/M/G suffixes; the last value repeats (default 64M)");

static char *align = "2M";
module_param(align, charp, 0444);
MODULE_PARM_DESC(align,
	"mmap alignment per device: 4K, 2M or 1G, comma-separated list; the last value repeats (default 2M)");

struct daxlite_range {
	u64 start;			/* physical, inclusive */
	u64 end;			/* physical, inclusive */
	unsigned long pgoff;		/* device page offset of start */
	struct resource res;
	char group_name[24];
	struct device_attribute attr_start, attr_end, attr_pgoff;
	struct attribute *attrs[4];
	struct attribute_group group;
};

struct daxlite_dev {
	struct device dev;
	struct cdev cdev;
	int id;
	bool alive;			/* READ_ONCE under daxlite_srcu */
	bool split;			/* 4 KiB: chunks are order-0 pages */
	unsigned long align;
	u64 size;
	unsigned long nr_chunks;
	struct page **chunks;		/* first page of each chunk */
	unsigned int nr_ranges;
	struct daxlite_range *ranges;
	const struct attribute_group **groups;
	struct inode *inode;		/* address_space of every mapping */
};

static DEFINE_MUTEX(daxlite_lock);	/* daxlite_devs[], removal */
static struct daxlite_dev *daxlite_devs[DAXLITE_MAX_DEVS];
static struct srcu_struct daxlite_srcu;
static struct class *daxlite_class;
static dev_t daxlite_devt;
static struct vfsmount *daxlite_mnt;
static int daxlite_mnt_count;

static struct daxlite_dev *to_daxlite(struct device *dev)
{
	return container_of(dev, struct daxlite_dev, dev);
}

static unsigned long daxlite_map_size(struct daxlite_dev *d)
{
	return d->split ? PAGE_SIZE : DAXLITE_CHUNK;
}

static struct page *daxlite_page(struct daxlite_dev *d, pgoff_t pgoff)
{
	return d->chunks[pgoff / DAXLITE_CHUNK_PAGES] +
	       pgoff % DAXLITE_CHUNK_PAGES;
}

/* ---- sysfs: the device-DAX attribute layout ---------------------------- */

static ssize_t align_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%lu\n", to_daxlite(dev)->align);
}
static DEVICE_ATTR_RO(align);

static ssize_t size_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%llu\n", to_daxlite(dev)->size);
}
static DEVICE_ATTR_RO(size);

static ssize_t resource_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%#llx\n", to_daxlite(dev)->ranges[0].start);
}
static DEVICE_ATTR(resource, 0400, resource_show, NULL);

static ssize_t numa_node_show(struct device *dev, struct device_attribute *attr,
			      char *buf)
{
	return sysfs_emit(buf, "%d\n", dev_to_node(dev));
}
static DEVICE_ATTR_RO(numa_node);

static ssize_t target_node_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", dev_to_node(dev));
}
static DEVICE_ATTR_RO(target_node);

static struct attribute *daxlite_attrs[] = {
	&dev_attr_align.attr,
	&dev_attr_size.attr,
	&dev_attr_resource.attr,
	&dev_attr_numa_node.attr,
	&dev_attr_target_node.attr,
	NULL,
};

static const struct attribute_group daxlite_attr_group = {
	.attrs = daxlite_attrs,
};

static ssize_t range_start_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	struct daxlite_range *r = container_of(attr, struct daxlite_range,
					       attr_start);
	return sysfs_emit(buf, "%#llx\n", r->start);
}

static ssize_t range_end_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	struct daxlite_range *r = container_of(attr, struct daxlite_range,
					       attr_end);
	return sysfs_emit(buf, "%#llx\n", r->end);
}

static ssize_t range_pgoff_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	struct daxlite_range *r = container_of(attr, struct daxlite_range,
					       attr_pgoff);
	return sysfs_emit(buf, "%#lx\n", r->pgoff);
}

static void daxlite_init_range_attr(struct device_attribute *a,
				    const char *name,
				    ssize_t (*show)(struct device *,
						    struct device_attribute *,
						    char *))
{
	sysfs_attr_init(&a->attr);
	a->attr.name = name;
	a->attr.mode = 0400;		/* physical addresses: root only */
	a->show = show;
}

/* ---- memory ------------------------------------------------------------ */

/*
 * Drop the device's reference on every page.  A page that someone still
 * holds (a pin of I/O in flight) is freed by their put_page() instead.
 */
static void daxlite_free_chunks(struct daxlite_dev *d)
{
	unsigned long i, j;

	for (i = 0; d->chunks && i < d->nr_chunks && d->chunks[i]; i++) {
		if (!d->split) {
			put_page(d->chunks[i]);
			continue;
		}
		for (j = 0; j < DAXLITE_CHUNK_PAGES; j++)
			put_page(d->chunks[i] + j);
	}
	kvfree(d->chunks);
	d->chunks = NULL;
}

static int daxlite_alloc_chunks(struct daxlite_dev *d)
{
	gfp_t gfp = GFP_HIGHUSER | __GFP_ZERO | __GFP_NOWARN |
		    __GFP_RETRY_MAYFAIL;
	unsigned long i;

	if (!d->split)
		gfp |= __GFP_COMP;
	d->chunks = kvcalloc(d->nr_chunks, sizeof(*d->chunks), GFP_KERNEL);
	if (!d->chunks)
		return -ENOMEM;
	for (i = 0; i < d->nr_chunks; i++) {
		struct page *page = alloc_pages(gfp, DAXLITE_CHUNK_ORDER);

		if (!page)
			return -ENOMEM;
		if (d->split)
			split_page(page, DAXLITE_CHUNK_ORDER);
		d->chunks[i] = page;
		cond_resched();
	}
	return 0;
}

/* Merge physically adjacent chunks (in offset order) into ranges. */
static int daxlite_build_ranges(struct daxlite_dev *d)
{
	unsigned long i, n = 0;

	d->ranges = kcalloc(d->nr_chunks, sizeof(*d->ranges), GFP_KERNEL);
	if (!d->ranges)
		return -ENOMEM;
	for (i = 0; i < d->nr_chunks; i++) {
		u64 start = PFN_PHYS(page_to_pfn(d->chunks[i]));

		if (n && d->ranges[n - 1].end + 1 == start) {
			d->ranges[n - 1].end += DAXLITE_CHUNK;
			continue;
		}
		d->ranges[n].start = start;
		d->ranges[n].end = start + DAXLITE_CHUNK - 1;
		d->ranges[n].pgoff = i * DAXLITE_CHUNK_PAGES;
		n++;
	}
	d->nr_ranges = n;

	/* The main group, one group (a mappingN folder) per range, NULL. */
	d->groups = kcalloc(n + 2, sizeof(*d->groups), GFP_KERNEL);
	if (!d->groups)
		return -ENOMEM;
	d->groups[0] = &daxlite_attr_group;
	for (i = 0; i < n; i++) {
		struct daxlite_range *r = &d->ranges[i];

		snprintf(r->group_name, sizeof(r->group_name), "mapping%lu", i);
		daxlite_init_range_attr(&r->attr_start, "start",
					range_start_show);
		daxlite_init_range_attr(&r->attr_end, "end", range_end_show);
		daxlite_init_range_attr(&r->attr_pgoff, "page_offset",
					range_pgoff_show);
		r->attrs[0] = &r->attr_start.attr;
		r->attrs[1] = &r->attr_end.attr;
		r->attrs[2] = &r->attr_pgoff.attr;
		r->group.name = r->group_name;
		r->group.attrs = r->attrs;
		d->groups[i + 1] = &r->group;
	}
	return 0;
}

/* /proc/iomem: each range as a "daxliteN" child of its System RAM entry. */
static void daxlite_claim_ranges(struct daxlite_dev *d)
{
	unsigned int i;

	for (i = 0; i < d->nr_ranges; i++) {
		struct daxlite_range *r = &d->ranges[i];

		r->res.name = dev_name(&d->dev);
		r->res.start = r->start;
		r->res.end = r->end;
		r->res.flags = IORESOURCE_MEM;
		if (insert_resource(&iomem_resource, &r->res))
			dev_dbg(&d->dev, "range %u not in /proc/iomem\n", i);
	}
}

static void daxlite_release(struct device *dev)
{
	struct daxlite_dev *d = to_daxlite(dev);
	unsigned int i;

	for (i = 0; d->ranges && i < d->nr_ranges; i++)
		if (d->ranges[i].res.parent)
			release_resource(&d->ranges[i].res);
	daxlite_free_chunks(d);
	if (d->inode)
		iput(d->inode);
	kfree(d->groups);
	kfree(d->ranges);
	kfree(d);
}

/* ---- the file ------------------------------------------------------------ */

static int daxlite_open(struct inode *inode, struct file *filp)
{
	struct daxlite_dev *d = container_of(inode->i_cdev, struct daxlite_dev,
					     cdev);

	if (!READ_ONCE(d->alive))
		return -ENXIO;
	get_device(&d->dev);
	filp->private_data = d;
	/*
	 * Every open file shares the device's address_space, so that removal
	 * finds every mapping with one unmap_mapping_range().
	 */
	filp->f_mapping = d->inode->i_mapping;
	return 0;
}

static int daxlite_release_file(struct inode *inode, struct file *filp)
{
	struct daxlite_dev *d = filp->private_data;

	put_device(&d->dev);
	return 0;
}

/*
 * The fault handler only finds the page: the core maps it (a PMD for a
 * whole compound chunk when the vma allows, else a PTE).  The page is
 * locked inside the SRCU read section so that removal can wait for the
 * mapping to be installed before zapping (see the top of the file).
 */
static vm_fault_t daxlite_fault(struct vm_fault *vmf)
{
	struct daxlite_dev *d = vmf->vma->vm_private_data;
	vm_fault_t ret = VM_FAULT_SIGBUS;
	struct page *page;
	int idx;

	idx = srcu_read_lock(&daxlite_srcu);
	if (READ_ONCE(d->alive) && vmf->pgoff < (d->size >> PAGE_SHIFT)) {
		page = daxlite_page(d, vmf->pgoff);
		get_page(page);
		lock_page(page);
		vmf->page = page;
		ret = VM_FAULT_LOCKED;
	}
	srcu_read_unlock(&daxlite_srcu, idx);
	return ret;
}

static int daxlite_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	struct daxlite_dev *d = vma->vm_private_data;

	return IS_ALIGNED(addr, d->align) ? 0 : -EINVAL;
}

static unsigned long daxlite_pagesize(struct vm_area_struct *vma)
{
	return daxlite_map_size(vma->vm_private_data);
}

static const struct vm_operations_struct daxlite_vm_ops = {
	.fault = daxlite_fault,
	.may_split = daxlite_may_split,
	.pagesize = daxlite_pagesize,
};

static int daxlite_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct daxlite_dev *d = filp->private_data;
	unsigned long mask = d->align - 1;
	int idx, rc = 0;

	idx = srcu_read_lock(&daxlite_srcu);
	if (!READ_ONCE(d->alive)) {
		rc = -ENXIO;
	} else if (!(vma->vm_flags & VM_MAYSHARE)) {
		dev_info_ratelimited(&d->dev,
			"%s: %s: fail, attempted private mapping\n",
			current->comm, __func__);
		rc = -EINVAL;
	} else if ((vma->vm_start & mask) || (vma->vm_end & mask) ||
		   (vma->vm_pgoff & (mask >> PAGE_SHIFT))) {
		dev_info_ratelimited(&d->dev,
			"%s: %s: fail, unaligned vma (%#lx - %#lx, pgoff %#lx, %#lx)\n",
			current->comm, __func__, vma->vm_start, vma->vm_end,
			vma->vm_pgoff, mask);
		rc = -EINVAL;
	} else {
		vma->vm_ops = &daxlite_vm_ops;
		vma->vm_private_data = d;
		/*
		 * VM_DONTEXPAND: no mremap growth, and (being VM_SPECIAL) no
		 * mlock or khugepaged on pages the device owns.
		 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
		vm_flags_set(vma, VM_DONTEXPAND);
#else
		vma->vm_flags |= VM_DONTEXPAND;
#endif
	}
	srcu_read_unlock(&daxlite_srcu, idx);
	return rc;
}

/*
 * Without MAP_FIXED or a hint, place the mapping at an address with the
 * same alignment as its offset: ask for len + align and round up.
 */
static unsigned long daxlite_get_unmapped_area(struct file *filp,
		unsigned long addr, unsigned long len, unsigned long pgoff,
		unsigned long flags)
{
	struct daxlite_dev *d = filp->private_data;
	unsigned long al = d->align, base;

	if (addr || al <= PAGE_SIZE || len + al < len ||
	    (pgoff & ((al >> PAGE_SHIFT) - 1)) || len > TASK_SIZE)
		goto plain;
	base = current->mm->get_unmapped_area(filp, 0, len + al, pgoff, flags);
	if (IS_ERR_VALUE(base))
		goto plain;
	return ALIGN(base, al);
plain:
	return current->mm->get_unmapped_area(filp, addr, len, pgoff, flags);
}

/* Mappings of a folio by page tables: each holds one folio reference. */
static long daxlite_folio_mappings(struct folio *folio)
{
	long n;
	int i, entire;

	if (!folio_test_large(folio))
		return atomic_read(&folio->_mapcount) + 1;
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
	/*
	 * 6.1 file folios: a PMD mapping counts in folio_entire_mapcount()
	 * and in every subpage's _mapcount (folio_mapcount() is not
	 * exported there; this is its file-folio arithmetic).
	 */
	entire = folio_entire_mapcount(folio);
	n = entire;
	for (i = 0; i < folio_nr_pages(folio); i++)
		n += atomic_read(&folio_page(folio, i)->_mapcount) + 1;
	return n - (long)entire * folio_nr_pages(folio);
#else
	(void)i;
	(void)entire;
	return folio_mapcount(folio);
#endif
}

/*
 * References beyond the device's own and one per page-table mapping.  The
 * mapcount is read on both sides of the refcount and the read retried if a
 * mapping came or went in between, so that a concurrent munmap cannot hide
 * a pin; a fault in progress can still show up as a transient reference.
 */
static long daxlite_folio_extra_refs(struct folio *folio)
{
	long m1, m2, r;
	int tries = 0;

	do {
		/*
		 * Order the reads: a mapping takes its reference before it
		 * is counted and is uncounted before its reference drops.
		 */
		m1 = daxlite_folio_mappings(folio);
		smp_rmb();	/* mappings, then references */
		r = folio_ref_count(folio);
		smp_rmb();	/* as above */
		m2 = daxlite_folio_mappings(folio);
	} while (m1 != m2 && ++tries < 8);
	r -= 1 + max(m1, m2);
	return r > 0 ? r : 0;
}

static int daxlite_busy(struct daxlite_dev *d, struct daxlite_busy *q)
{
	unsigned long gran = d->split ? 1 : DAXLITE_CHUNK_PAGES;
	pgoff_t first, last, pg;

	if (!q->length || (q->offset | q->length) & ~PAGE_MASK ||
	    q->offset >= d->size || q->length > d->size - q->offset)
		return -EINVAL;
	first = q->offset >> PAGE_SHIFT;
	last = first + (q->length >> PAGE_SHIFT);	/* exclusive */
	q->busy = q->pinned = q->refs = 0;
	q->granule = gran << PAGE_SHIFT;
	for (pg = first; pg < last; pg = round_down(pg, gran) + gran) {
		struct folio *folio = page_folio(daxlite_page(d, pg));
		u64 here = min_t(u64, last, round_down(pg, gran) + gran) - pg;
		long extra = daxlite_folio_extra_refs(folio);

		if (extra) {
			q->busy += here;
			q->refs += extra;
		}
		if (folio_maybe_dma_pinned(folio))
			q->pinned += here;
		cond_resched();
	}
	return 0;
}

static long daxlite_ioctl(struct file *filp, unsigned int cmd,
			  unsigned long arg)
{
	struct daxlite_dev *d = filp->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case DAXLITE_IOC_INFO: {
		struct daxlite_info info = {
			.size = d->size,
			.align = d->align,
			.map_size = daxlite_map_size(d),
			.nr_ranges = d->nr_ranges,
			.id = d->id,
			.alive = READ_ONCE(d->alive),
		};

		return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
	}
	case DAXLITE_IOC_BUSY: {
		struct daxlite_busy q;
		int rc;

		if (copy_from_user(&q, uarg, sizeof(q)))
			return -EFAULT;
		/* Allowed after removal: a drain must be able to finish. */
		rc = daxlite_busy(d, &q);
		if (rc)
			return rc;
		return copy_to_user(uarg, &q, sizeof(q)) ? -EFAULT : 0;
	}
	}
	return -ENOTTY;
}

/*
 * No read/write (the VFS answers EINVAL, as for device-DAX).  fsync
 * succeeds: the memory is RAM, and msync(MS_SYNC) on a mapping then works.
 */
static int daxlite_fsync(struct file *filp, loff_t start, loff_t end,
			 int datasync)
{
	return 0;
}

static const struct file_operations daxlite_fops = {
	.owner = THIS_MODULE,
	.open = daxlite_open,
	.release = daxlite_release_file,
	.mmap = daxlite_mmap,
	.get_unmapped_area = daxlite_get_unmapped_area,
	.unlocked_ioctl = daxlite_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.fsync = daxlite_fsync,
	.llseek = noop_llseek,
};

/* ---- the pseudo filesystem that owns each device's address_space --------- */

static int daxlite_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, DAXLITE_FS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type daxlite_fs_type = {
	.name = "daxlite",
	.init_fs_context = daxlite_init_fs_context,
	.kill_sb = kill_anon_super,
};

/* ---- creation and removal ------------------------------------------------ */

static int daxlite_create(int id, u64 bytes, unsigned long al)
{
	struct daxlite_dev *d;
	int rc;

	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	d->id = id;
	d->align = al;
	d->size = bytes;
	d->split = al == PAGE_SIZE;
	d->nr_chunks = bytes / DAXLITE_CHUNK;

	device_initialize(&d->dev);
	d->dev.class = daxlite_class;
	d->dev.devt = MKDEV(MAJOR(daxlite_devt), id);
	d->dev.release = daxlite_release;
	rc = dev_set_name(&d->dev, "daxlite%d", id);
	if (rc)
		goto out_put;

	rc = daxlite_alloc_chunks(d);
	if (rc) {
		pr_err("daxlite%d: cannot allocate %llu bytes in 2 MiB chunks\n",
		       id, bytes);
		goto out_put;
	}
	rc = daxlite_build_ranges(d);
	if (rc)
		goto out_put;
	d->dev.groups = d->groups;
	set_dev_node(&d->dev, page_to_nid(d->chunks[0]));

	d->inode = alloc_anon_inode(daxlite_mnt->mnt_sb);
	if (IS_ERR(d->inode)) {
		rc = PTR_ERR(d->inode);
		d->inode = NULL;
		goto out_put;
	}

	cdev_init(&d->cdev, &daxlite_fops);
	d->cdev.owner = THIS_MODULE;
	d->alive = true;
	rc = cdev_device_add(&d->cdev, &d->dev);
	if (rc) {
		d->alive = false;
		goto out_put;
	}
	daxlite_claim_ranges(d);
	daxlite_devs[id] = d;
	dev_info(&d->dev, "%llu bytes, align %#lx, %u range(s), node %d\n",
		 bytes, al, d->nr_ranges, dev_to_node(&d->dev));
	return 0;

out_put:
	put_device(&d->dev);		/* daxlite_release frees what exists */
	return rc;
}

/* Called with daxlite_lock held. */
static void daxlite_remove(struct daxlite_dev *d)
{
	unsigned long i, n;

	WRITE_ONCE(d->alive, false);
	/* Every fault that saw the device alive now holds its page lock... */
	synchronize_srcu(&daxlite_srcu);
	/* ...and has installed its mapping once the lock is free. */
	n = d->split ? d->nr_chunks * DAXLITE_CHUNK_PAGES : d->nr_chunks;
	for (i = 0; i < n; i++) {
		struct page *page = d->split ? daxlite_page(d, i) : d->chunks[i];

		lock_page(page);
		unlock_page(page);
		cond_resched();
	}
	unmap_mapping_range(d->inode->i_mapping, 0, 0, 1);
	cdev_device_del(&d->cdev, &d->dev);
	daxlite_devs[d->id] = NULL;
	dev_info(&d->dev, "removed\n");
	put_device(&d->dev);
}

static ssize_t remove_store(struct class *class, struct class_attribute *attr,
			    const char *buf, size_t count)
{
	struct daxlite_dev *d = NULL;
	int i;

	mutex_lock(&daxlite_lock);
	for (i = 0; i < DAXLITE_MAX_DEVS; i++)
		if (daxlite_devs[i] && sysfs_streq(buf,
					dev_name(&daxlite_devs[i]->dev)))
			d = daxlite_devs[i];
	if (d)
		daxlite_remove(d);
	mutex_unlock(&daxlite_lock);
	return d ? count : -ENODEV;
}
static CLASS_ATTR_WO(remove);

static int daxlite_parse(const char *list, unsigned int i, u64 *val)
{
	const char *p = list, *end;
	char tmp[32], *rest;
	size_t n;

	for (;;) {			/* the i-th item, or the last one */
		end = strchrnul(p, ',');
		if (!i-- || !*end)
			break;
		p = end + 1;
	}
	n = end - p;
	if (!n || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	*val = memparse(tmp, &rest);
	return *rest ? -EINVAL : 0;
}

static int __init daxlite_init(void)
{
	unsigned int i;
	int rc;

	if (!ndevs || ndevs > DAXLITE_MAX_DEVS) {
		pr_err("daxlite: ndevs must be 1..%d\n", DAXLITE_MAX_DEVS);
		return -EINVAL;
	}
	for (i = 0; i < ndevs; i++) {
		u64 bytes, al;

		if (daxlite_parse(size, i, &bytes) ||
		    daxlite_parse(align, i, &al)) {
			pr_err("daxlite: cannot parse size=%s align=%s\n",
			       size, align);
			return -EINVAL;
		}
		if (al != SZ_4K && al != SZ_2M && al != SZ_1G) {
			pr_err("daxlite%u: align %#llx is not 4K, 2M or 1G\n",
			       i, al);
			return -EINVAL;
		}
		if (!bytes || bytes % max_t(u64, al, DAXLITE_CHUNK)) {
			pr_err("daxlite%u: size %llu is not a non-zero multiple of %#llx\n",
			       i, bytes,
			       max_t(u64, al, DAXLITE_CHUNK));
			return -EINVAL;
		}
	}

	rc = init_srcu_struct(&daxlite_srcu);
	if (rc)
		return rc;
	rc = simple_pin_fs(&daxlite_fs_type, &daxlite_mnt, &daxlite_mnt_count);
	if (rc)
		goto out_srcu;
	rc = alloc_chrdev_region(&daxlite_devt, 0, DAXLITE_MAX_DEVS,
				 DAXLITE_CLASS_NAME);
	if (rc)
		goto out_fs;
	daxlite_class = class_create(THIS_MODULE, DAXLITE_CLASS_NAME);
	if (IS_ERR(daxlite_class)) {
		rc = PTR_ERR(daxlite_class);
		goto out_chrdev;
	}
	rc = class_create_file(daxlite_class, &class_attr_remove);
	if (rc)
		goto out_class;

	mutex_lock(&daxlite_lock);
	for (i = 0; i < ndevs && !rc; i++) {
		u64 bytes, al;

		daxlite_parse(size, i, &bytes);
		daxlite_parse(align, i, &al);
		rc = daxlite_create(i, bytes, al);
	}
	if (rc)
		for (i = 0; i < DAXLITE_MAX_DEVS; i++)
			if (daxlite_devs[i])
				daxlite_remove(daxlite_devs[i]);
	mutex_unlock(&daxlite_lock);
	if (rc)
		goto out_file;
	return 0;

out_file:
	class_remove_file(daxlite_class, &class_attr_remove);
out_class:
	class_destroy(daxlite_class);
out_chrdev:
	unregister_chrdev_region(daxlite_devt, DAXLITE_MAX_DEVS);
out_fs:
	simple_release_fs(&daxlite_mnt, &daxlite_mnt_count);
out_srcu:
	cleanup_srcu_struct(&daxlite_srcu);
	return rc;
}

static void __exit daxlite_exit(void)
{
	int i;

	class_remove_file(daxlite_class, &class_attr_remove);
	mutex_lock(&daxlite_lock);
	for (i = 0; i < DAXLITE_MAX_DEVS; i++)
		if (daxlite_devs[i])
			daxlite_remove(daxlite_devs[i]);
	mutex_unlock(&daxlite_lock);
	class_destroy(daxlite_class);
	unregister_chrdev_region(daxlite_devt, DAXLITE_MAX_DEVS);
	simple_release_fs(&daxlite_mnt, &daxlite_mnt_count);
	cleanup_srcu_struct(&daxlite_srcu);
}

module_init(daxlite_init);
module_exit(daxlite_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("device-DAX-like character devices over RAM, for libdax");
