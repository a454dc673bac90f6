// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * On-Demand Paging (ODP) memory regions for rxe.
 *
 * An ODP MR pins nothing. Its pages are looked up, and faulted in when
 * missing, by hmm_range_fault() through ib_umem_odp at the moment the
 * requester, responder or completer touches them, and an mmu interval
 * notifier drops them again whenever the kernel invalidates the range
 * (munmap, migration, truncation, swap, THP split, fork COW...).
 *
 * rxe copies with the CPU: a page's "DMA address" in umem_odp->dma_list is
 * its kernel virtual address (rxe uses virtual DMA). All data-path
 * accesses go through rxe_odp_map_range_lock(), which returns with
 * umem_mutex held and the range mapped with the needed permission, and the
 * copy finishes before the mutex is released. The invalidation callback
 * takes the same mutex before it unmaps, so no copy touches a page after
 * the callback for it returned, and a copy that has faulted its pages in
 * always completes (forward progress under continuous invalidation). rxe
 * tasks run from a workqueue, so faulting (which sleeps) happens in
 * process context. Only there does the data path wait for a fault: the
 * requester that ibv_post_send() runs in the caller's system call gets
 * -EWOULDBLOCK for a page that is not mapped and goes on from its
 * workqueue (rxe_defer_task()), so that a post never waits for the page
 * cache, swap or a FUSE server.
 *
 * Implicit ODP (start 0, length U64_MAX) covers the whole address space.
 * It and every explicit MR but a hugetlb one have a root umem that is never
 * mapped itself; accesses go to child umems of up to
 * 1 << RXE_ODP_CHILD_SHIFT bytes, created when an access or prefetch
 * reaches their range and freed once nothing of them is mapped, so neither
 * registration time nor kernel memory depends on the MR's size: page
 * arrays exist only where pages are mapped.
 */

#include <linux/debugfs.h>
#include <linux/fault-inject.h>
#include <linux/hmm.h>
#include <linux/io.h>
#include <linux/magic.h>
#include <linux/memremap.h>
#include <linux/sched/mm.h>

#include "rxe.h"
#include "rxe_loc.h"

static void rxe_odp_log_inval(struct rxe_odp *odp, u64 start, u64 end)
{
	unsigned int slot;

	spin_lock(&odp->inval_lock);
	slot = odp->nr_invals++ % RXE_ODP_INVAL_LOG;
	odp->inval_log[slot].start = start;
	odp->inval_log[slot].end = end;
	spin_unlock(&odp->inval_lock);
}

static u64 rxe_odp_nr_invals(struct rxe_odp *odp)
{
	u64 n;

	spin_lock(&odp->inval_lock);
	n = odp->nr_invals;
	spin_unlock(&odp->inval_lock);
	return n;
}

/*
 * Whether an invalidation logged since the @since-th one hit [start, end),
 * or too many happened to tell.
 */
static bool rxe_odp_inval_hit(struct rxe_odp *odp, u64 since, u64 start,
			      u64 end)
{
	bool hit = false;
	u64 i;

	spin_lock(&odp->inval_lock);
	if (odp->nr_invals - since > RXE_ODP_INVAL_LOG)
		hit = true;
	for (i = since; i < odp->nr_invals && !hit; i++) {
		unsigned int slot = i % RXE_ODP_INVAL_LOG;

		hit = odp->inval_log[slot].start < end &&
		      odp->inval_log[slot].end > start;
	}
	spin_unlock(&odp->inval_lock);
	return hit;
}

/*
 * Prefetch work and the reaping of empty children run here rather than on
 * the QP task workqueues: however much of it users queue, it cannot hold
 * up the QP tasks. Module unload drains it.
 */
static struct workqueue_struct *rxe_odp_wq;

#ifdef CONFIG_FAULT_INJECTION_DEBUG_FS
/*
 * /sys/kernel/debug/fail_rxe_odp (Documentation/fault-injection): make the
 * allocations of ODP MRs, children, fault buffers and prefetch work fail,
 * to test that every such failure ends in a clean error.
 */
static DECLARE_FAULT_ATTR(rxe_odp_fail_attr);
static struct dentry *rxe_odp_fail_dir;

static bool rxe_odp_fail_alloc(void)
{
	return should_fail(&rxe_odp_fail_attr, 1);
}

static void rxe_odp_fail_init(void)
{
	rxe_odp_fail_dir = fault_create_debugfs_attr("fail_rxe_odp", NULL,
						     &rxe_odp_fail_attr);
}

static void rxe_odp_fail_exit(void)
{
	debugfs_remove_recursive(rxe_odp_fail_dir);
}
#else
static bool rxe_odp_fail_alloc(void)
{
	return false;
}

static void rxe_odp_fail_init(void)
{
}

static void rxe_odp_fail_exit(void)
{
}
#endif

static bool rxe_odp_invalidate(struct mmu_interval_notifier *mni,
			       const struct mmu_notifier_range *range,
			       unsigned long cur_seq)
{
	struct ib_umem_odp *umem = container_of(mni, struct ib_umem_odp,
						notifier);
	struct rxe_odp *odp = umem->private;
	unsigned long start, end;
	int npages;

	if (mmu_notifier_range_blockable(range))
		mutex_lock(&umem->umem_mutex);
	else if (!mutex_trylock(&umem->umem_mutex))
		return false;

	/*
	 * Whole umem pages (2 MiB for hugetlb) that the range touches. Clamp
	 * before aligning: range->end is ULONG_MAX on mm release, and
	 * ALIGN() of it would wrap to 0 and unmap nothing.
	 */
	start = ALIGN_DOWN(max_t(u64, ib_umem_start(umem), range->start),
			   BIT(umem->page_shift));
	end = ALIGN(min_t(u64, ib_umem_end(umem), range->end),
		    BIT(umem->page_shift));
	/*
	 * Change the sequence before logging the range. A fault samples the
	 * log before mmu_interval_read_begin(): if it saw this entry it also
	 * sees the new sequence, and read_begin() waits for the page tables
	 * to change; if it did not, the entry is one it checks. Logged first,
	 * a fault could pass read_begin() in between, walk the old page
	 * tables and then skip this entry as one it had seen.
	 */
	mmu_interval_set_seq(mni, cur_seq);
	if (odp)
		rxe_odp_log_inval(odp, start, end);
	npages = umem->npages;
	ib_umem_odp_unmap_dma_pages(umem, start, end);
	if (odp && umem->npages != npages) {
		rxe_counter_inc(odp->rxe, RXE_CNT_ODP_INVALIDATIONS);
		if (!umem->npages && umem != odp->umem)
			queue_work(rxe_odp_wq, &odp->reap_work);
	}

	mutex_unlock(&umem->umem_mutex);
	return true;
}

static const struct mmu_interval_notifier_ops rxe_odp_mni_ops = {
	.invalidate = rxe_odp_invalidate,
};

void rxe_odp_init_caps(struct rxe_dev *rxe)
{
	struct ib_odp_caps *caps = &rxe->attr.odp_caps;

	if (!IS_ENABLED(CONFIG_INFINIBAND_ON_DEMAND_PAGING))
		return;

	rxe->attr.kernel_cap_flags |= IBK_ON_DEMAND_PAGING;
	caps->general_caps = IB_ODP_SUPPORT | IB_ODP_SUPPORT_IMPLICIT;
	caps->per_transport_caps.rc_odp_caps = IB_ODP_SUPPORT_SEND |
		IB_ODP_SUPPORT_RECV | IB_ODP_SUPPORT_WRITE |
		IB_ODP_SUPPORT_READ | IB_ODP_SUPPORT_ATOMIC |
		IB_ODP_SUPPORT_SRQ_RECV;
	caps->per_transport_caps.uc_odp_caps = IB_ODP_SUPPORT_SEND |
		IB_ODP_SUPPORT_RECV | IB_ODP_SUPPORT_WRITE;
	caps->per_transport_caps.ud_odp_caps = IB_ODP_SUPPORT_SEND |
		IB_ODP_SUPPORT_RECV | IB_ODP_SUPPORT_SRQ_RECV;
}

static bool rxe_odp_is_implicit(u64 start, u64 length)
{
	return !start && length == U64_MAX;
}

static void rxe_odp_reap_work(struct work_struct *work);

/*
 * Register an ODP MR. An explicit IB_ACCESS_HUGETLB MR (2 MiB pages) gets
 * a umem of its own from ib_umem_odp_get(), which allocates page arrays
 * for the whole range (8 bytes per 2 MiB page for each of them). Every
 * other MR gets a root umem and children, so that registration costs the
 * same for any size, and memory for page arrays follows the memory
 * actually mapped.
 */
int rxe_odp_mr_init_user(struct rxe_dev *rxe, u64 start, u64 length,
			 u64 iova, int access, struct rxe_mr *mr)
{
	bool implicit = rxe_odp_is_implicit(start, length);
	struct ib_umem_odp *umem;
	struct rxe_odp *odp;
	u64 end;

	if (!IS_ENABLED(CONFIG_INFINIBAND_ON_DEMAND_PAGING))
		return -EOPNOTSUPP;
	if (implicit && iova)
		return -EINVAL;
	if (!length)
		return -EINVAL;
	if (implicit)
		end = TASK_SIZE;
	else if (check_add_overflow(start, length, &end))
		return -EOVERFLOW;

	odp = rxe_odp_fail_alloc() ? NULL : kzalloc(sizeof(*odp), GFP_KERNEL);
	if (!odp)
		return -ENOMEM;

	if (!implicit && (access & IB_ACCESS_HUGETLB)) {
		umem = ib_umem_odp_get(&rxe->ib_dev, start, length, access,
				       &rxe_odp_mni_ops);
	} else {
		umem = ib_umem_odp_alloc_implicit(&rxe->ib_dev, access);
		/*
		 * Unlike a umem with a notifier, the root holds no reference
		 * on the mm its children will be created in.
		 */
		if (!IS_ERR(umem))
			mmgrab(umem->umem.owning_mm);
	}
	if (IS_ERR(umem)) {
		kfree(odp);
		return PTR_ERR(umem);
	}

	odp->rxe = rxe;
	odp->umem = umem;
	odp->start = implicit ? 0 : start;
	odp->end = end;
	xa_init(&odp->children);
	mutex_init(&odp->children_lock);
	INIT_WORK(&odp->reap_work, rxe_odp_reap_work);
	odp->whole.umem = umem;
	odp->whole.odp = odp;
	spin_lock_init(&odp->inval_lock);
	umem->private = odp;

	rxe_mr_init(access, mr);
	mr->odp = odp;
	mr->umem = &umem->umem;
	mr->access = access;
	mr->state = RXE_MR_STATE_VALID;
	mr->type = IB_MR_TYPE_USER;
	return 0;
}

/*
 * The page arrays of all children of all ODP MRs (ib_core allocates a pfn
 * and a DMA entry per page of a child when it is created) stay below
 * 1/RXE_ODP_CHILD_MEM_SHARE of RAM: a child costs 256 KiB even when it
 * maps a single (zero) page, so without a bound a peer with an implicit
 * MR's rkey could make the kernel allocate 64 times what the memory it
 * touches costs the process. Past the bound, an access that needs a new
 * child fails with -ENOMEM.
 */
#define RXE_ODP_CHILD_MEM_SHARE	16
static atomic_long_t rxe_odp_child_bytes;

/* The page arrays of a child over [start, end): whole pages, as ib_core. */
static long rxe_odp_child_cost(u64 start, u64 end)
{
	return ((ALIGN(end, PAGE_SIZE) - ALIGN_DOWN(start, PAGE_SIZE)) >>
		PAGE_SHIFT) * 2 * sizeof(u64);
}

static bool rxe_odp_charge_child(long cost)
{
	long limit = (totalram_pages() << PAGE_SHIFT) /
		     RXE_ODP_CHILD_MEM_SHARE;

	if (atomic_long_add_return(cost, &rxe_odp_child_bytes) <= limit)
		return true;
	atomic_long_sub(cost, &rxe_odp_child_bytes);
	return false;
}

static void rxe_odp_uncharge_child(long cost)
{
	WARN_ON_ONCE(atomic_long_sub_return(cost, &rxe_odp_child_bytes) < 0);
}

/*
 * Take @child, which nobody uses any more, out of the xarray: an access
 * that still finds it under RCU fails to take a reference and creates a
 * new child under children_lock. rxe_odp_release_child() frees it.
 */
static void rxe_odp_unlink_child(struct rxe_odp_umem *child)
{
	lockdep_assert_held(&child->odp->children_lock);

	xa_erase(&child->odp->children,
		 ib_umem_start(child->umem) >> RXE_ODP_CHILD_SHIFT);
}

/*
 * Free an unlinked child. Not under children_lock: releasing the umem
 * waits for invalidations of the whole mm in progress, which must not
 * hold up the other accesses to the MR.
 */
static void rxe_odp_release_child(struct rxe_odp_umem *child)
{
	ib_umem_odp_release(child->umem);
	rxe_odp_uncharge_child(child->cost);
	/* a lookup under RCU may still be trying to take a reference */
	kfree_rcu(child, rcu);
}

/*
 * Unlink @child if nothing of it is mapped and nobody uses it. An access
 * mapping pages holds a reference, so the unlocked look at npages can only
 * miss pages an invalidation is taking away: the release unmaps those.
 */
static bool rxe_odp_unlink_if_unused(struct rxe_odp_umem *child)
{
	if (READ_ONCE(child->umem->npages) ||
	    !refcount_dec_if_one(&child->users))
		return false;
	rxe_odp_unlink_child(child);
	return true;
}

/* Free the children that invalidations left without a mapped page. */
static void rxe_odp_reap_work(struct work_struct *work)
{
	struct rxe_odp *odp = container_of(work, struct rxe_odp, reap_work);
	struct rxe_odp_umem *child, *next;
	unsigned long index;
	LIST_HEAD(unused);

	mutex_lock(&odp->children_lock);
	xa_for_each(&odp->children, index, child)
		if (rxe_odp_unlink_if_unused(child))
			list_add(&child->unused, &unused);
	mutex_unlock(&odp->children_lock);
	list_for_each_entry_safe(child, next, &unused, unused)
		rxe_odp_release_child(child);
}

/*
 * Release the umems of an ODP MR, children first, then the MR's own. Only
 * then is the notifier gone (ib_umem_odp_release() waits for callbacks in
 * progress), can no callback queue reap_work again, and may @odp, which
 * the callback uses, be freed. No access uses the MR any more: dereg
 * waited for every reference.
 */
void rxe_odp_mr_cleanup(struct rxe_mr *mr)
{
	struct rxe_odp *odp = mr->odp;
	struct mm_struct *mm = odp->umem->umem.owning_mm;
	bool root = odp->umem->is_implicit_odp;
	struct rxe_odp_umem *child, *next;
	unsigned long index;
	LIST_HEAD(unused);

	mutex_lock(&odp->children_lock);
	xa_for_each(&odp->children, index, child) {
		/* dereg waited for every access: only the xarray's reference */
		WARN_ON(refcount_read(&child->users) != 1);
		rxe_odp_unlink_child(child);
		list_add(&child->unused, &unused);
	}
	mutex_unlock(&odp->children_lock);
	list_for_each_entry_safe(child, next, &unused, unused)
		rxe_odp_release_child(child);
	cancel_work_sync(&odp->reap_work);
	xa_destroy(&odp->children);
	ib_umem_odp_release(odp->umem);
	if (root)
		mmdrop(mm);
	mr->umem = NULL;
	mr->odp = NULL;
	mutex_destroy(&odp->children_lock);
	kfree(odp);
}

/* Whether [start, end) of the MR's mm has a VMA, i.e. is worth a child. */
static bool rxe_odp_range_has_vma(struct rxe_odp *odp, u64 start, u64 end)
{
	struct mm_struct *mm = odp->umem->umem.owning_mm;
	bool found;

	if (!mmget_not_zero(mm))
		return false;
	mmap_read_lock(mm);
	found = find_vma_intersection(mm, start, end);
	mmap_read_unlock(mm);
	/* not mmput(): the last reference would tear the mm down right here */
	mmput_async(mm);
	return found;
}

/*
 * Create the child that covers @va: the part of the MR's range in the
 * 1 << RXE_ODP_CHILD_SHIFT bytes around it, for a user address that has a
 * VMA. It starts with a reference for the caller besides the xarray's.
 */
static struct rxe_odp_umem *rxe_odp_new_child(struct rxe_odp *odp, u64 va)
{
	unsigned long index = va >> RXE_ODP_CHILD_SHIFT;
	u64 start = max_t(u64, (u64)index << RXE_ODP_CHILD_SHIFT, odp->start);
	u64 end = min_t(u64, (u64)(index + 1) << RXE_ODP_CHILD_SHIFT, odp->end);
	long cost = rxe_odp_child_cost(start, end);
	struct rxe_odp_umem *child;
	struct ib_umem_odp *umem;
	int err;

	lockdep_assert_held(&odp->children_lock);

	if (!rxe_odp_range_has_vma(odp, start, end))
		return ERR_PTR(-EFAULT);
	if (!rxe_odp_charge_child(cost))
		return ERR_PTR(-ENOMEM);
	child = rxe_odp_fail_alloc() ? NULL : kzalloc(sizeof(*child), GFP_KERNEL);
	if (!child) {
		err = -ENOMEM;
		goto out_uncharge;
	}
	umem = rxe_odp_fail_alloc() ? ERR_PTR(-ENOMEM) :
	       ib_umem_odp_alloc_child(odp->umem, start, end - start,
				       &rxe_odp_mni_ops);
	if (IS_ERR(umem)) {
		err = PTR_ERR(umem);
		goto out_free;
	}
	umem->private = odp;
	child->umem = umem;
	child->odp = odp;
	child->cost = cost;
	refcount_set(&child->users, 2);
	err = xa_err(xa_store(&odp->children, index, child, GFP_KERNEL));
	if (err) {
		ib_umem_odp_release(umem);
		goto out_free;
	}
	return child;

out_free:
	kfree(child);
out_uncharge:
	rxe_odp_uncharge_child(cost);
	return ERR_PTR(err);
}

/* Under children_lock: the child at @va with a reference, or a new one. */
static struct rxe_odp_umem *rxe_odp_find_or_new_child(struct rxe_odp *odp,
						      u64 va)
{
	struct rxe_odp_umem *child;

	mutex_lock(&odp->children_lock);
	/* under the lock, an entry in the xarray has a reference of its own */
	child = xa_load(&odp->children, va >> RXE_ODP_CHILD_SHIFT);
	if (child)
		refcount_inc(&child->users);
	else
		child = rxe_odp_new_child(odp, va);
	mutex_unlock(&odp->children_lock);
	return child;
}

/*
 * The child that covers @va, with a reference; created if needed and
 * @create, else -EWOULDBLOCK (creating one takes mmap_lock and allocates).
 */
static struct rxe_odp_umem *rxe_odp_get_child(struct rxe_odp *odp, u64 va,
					      bool create)
{
	unsigned long index = va >> RXE_ODP_CHILD_SHIFT;
	struct rxe_odp_umem *child;

	rcu_read_lock();
	child = xa_load(&odp->children, index);
	if (child && !refcount_inc_not_zero(&child->users))
		child = NULL;
	rcu_read_unlock();
	if (child)
		return child;
	if (va >= TASK_SIZE)
		return ERR_PTR(-EFAULT);
	if (!create)
		return ERR_PTR(-EWOULDBLOCK);

	child = rxe_odp_find_or_new_child(odp, va);
	/*
	 * At the bound on children's page arrays: free this MR's children
	 * that invalidations emptied and reap_work has not freed yet (it
	 * may lag behind a loop of accesses), then try once more.
	 */
	if (PTR_ERR_OR_ZERO(child) == -ENOMEM) {
		rxe_odp_reap_work(&odp->reap_work);
		child = rxe_odp_find_or_new_child(odp, va);
	}
	return child;
}

/*
 * Done with a umem from rxe_odp_get_umem(). A child whose access or
 * prefetch mapped nothing (no permission, PREFETCH_NO_FAULT over absent
 * pages, an invalidation meanwhile) is freed at once: children exist only
 * while they map something, whatever users or peers ask for.
 */
static void rxe_odp_put_umem(struct rxe_odp_umem *ou)
{
	struct rxe_odp *odp = ou->odp;
	bool unused;

	if (ou == &odp->whole)
		return;
	if (READ_ONCE(ou->umem->npages)) {
		/* not the last reference: the xarray holds one */
		refcount_dec(&ou->users);
		/*
		 * An invalidation that emptied the child meanwhile queued
		 * reap_work, which may have found it still in use: look at
		 * npages again once this reference is gone.
		 */
		smp_mb__after_atomic();
		if (!READ_ONCE(ou->umem->npages))
			queue_work(rxe_odp_wq, &odp->reap_work);
		return;
	}
	mutex_lock(&odp->children_lock);
	refcount_dec(&ou->users);
	unused = rxe_odp_unlink_if_unused(ou);
	mutex_unlock(&odp->children_lock);
	if (unused)
		rxe_odp_release_child(ou);
}

/*
 * The umem that maps @va (the MR's own, or a child), with a reference to
 * drop with rxe_odp_put_umem(), and in *@bytes how much of [va, end) it
 * covers, at most up to the next 1 << RXE_ODP_CHILD_SHIFT boundary:
 * accesses and prefetches walk a range chunk by chunk with this. A
 * missing child is created only if @create.
 */
static struct rxe_odp_umem *rxe_odp_get_umem(struct rxe_odp *odp, u64 va,
					     u64 end, u64 *bytes, bool create)
{
	struct rxe_odp_umem *ou;

	/*
	 * An implicit MR ends at TASK_SIZE, inside its last child's chunk:
	 * an address past it would be found in that child with 0 bytes.
	 */
	if (va >= odp->end)
		return ERR_PTR(-EFAULT);
	ou = odp->umem->is_implicit_odp ? rxe_odp_get_child(odp, va, create) :
					  &odp->whole;
	/* last bytes, not ends: the chunk may end at the top of the space */
	if (!IS_ERR(ou))
		*bytes = min3(end - 1, ib_umem_end(ou->umem) - 1,
			      va | (BIT_ULL(RXE_ODP_CHILD_SHIFT) - 1)) - va + 1;
	return ou;
}

static bool rxe_odp_range_mapped(struct ib_umem_odp *umem, u64 va, u64 len,
				 u64 perm)
{
	unsigned long idx = (va - ib_umem_start(umem)) >> umem->page_shift;
	unsigned long last = (va + len - 1 - ib_umem_start(umem)) >>
			     umem->page_shift;

	lockdep_assert_held(&umem->umem_mutex);

	for (; idx <= last; idx++)
		if ((umem->dma_list[idx] & perm) != perm)
			return false;
	return true;
}

/*
 * Record in dma_list the pages hmm_range_fault() found for @range. rxe
 * copies with the CPU, so a page's entry is its kernel address with the
 * permission bits its PTE allows. Device-private pages never show up here:
 * the range has no dev_private_owner, so hmm_range_fault() migrates them
 * back to RAM when faulting and reports them absent otherwise.
 */
static int rxe_odp_set_pages(struct ib_umem_odp *umem,
			     const struct hmm_range *range)
{
	unsigned int shift = umem->page_shift;
	unsigned long npfns = (range->end - range->start) >> PAGE_SHIFT;
	unsigned long idx = (range->start - ib_umem_start(umem)) >> shift;
	unsigned long pfn_base = (range->start - ib_umem_start(umem)) >>
				 PAGE_SHIFT;
	unsigned long i;

	lockdep_assert_held(&umem->umem_mutex);

	for (i = 0; i < npfns; i += BIT(shift - PAGE_SHIFT), idx++) {
		unsigned long pfn = range->hmm_pfns[i];
		struct page *page;
		u64 perm;

		/*
		 * Absent (PREFETCH_NO_FAULT): leave the entry alone, another
		 * fault may have mapped the page since this lookup.
		 */
		if (!(pfn & HMM_PFN_VALID))
			continue;
		/* a 4 KiB page in the middle of a hugetlb umem's 2 MiB one */
		if (hmm_pfn_to_map_order(pfn) + PAGE_SHIFT < shift)
			return -EINVAL;
		page = hmm_pfn_to_page(pfn);
		if (WARN_ON_ONCE(is_device_private_page(page)))
			return -EFAULT;
		/* the unmap path finds the page to dirty through pfn_list */
		memcpy(&umem->pfn_list[pfn_base + i], &range->hmm_pfns[i],
		       BIT(shift - PAGE_SHIFT) * sizeof(*umem->pfn_list));

		perm = ODP_READ_ALLOWED_BIT;
		if (pfn & HMM_PFN_WRITE)
			perm |= ODP_WRITE_ALLOWED_BIT;
		/* still mapped: only the permission can have changed */
		if (umem->dma_list[idx]) {
			umem->dma_list[idx] = (umem->dma_list[idx] &
					       ODP_DMA_ADDR_MASK) | perm;
			continue;
		}
		/* INFINIBAND_VIRT_DMA, which rxe needs, excludes HIGHMEM */
		umem->dma_list[idx] = (uintptr_t)page_address(page) | perm;
		umem->npages++;
	}
	return 0;
}

/*
 * Whether [start, end) has a VMA whose pages rxe must not touch: memfd_secret
 * pages are removed from the kernel's direct map, and hmm_range_fault(),
 * unlike get_user_pages(), does not refuse them.
 */
static bool rxe_odp_range_refused(struct mm_struct *mm, u64 start, u64 end)
{
	struct vm_area_struct *vma;

	lockdep_assert_held(&mm->mmap_lock);
	for (vma = find_vma(mm, start); vma && vma->vm_start < end;
	     vma = find_vma(mm, vma->vm_end))
		if (vma->vm_file &&
		    file_inode(vma->vm_file)->i_sb->s_magic == SECRETMEM_MAGIC)
			return true;
	return false;
}

/*
 * One lookup of @range. Returns 0 with umem_mutex held if no invalidation
 * of the range overtook it, -EBUSY with nothing held if one did or if one
 * elsewhere in the umem aborted hmm_range_fault(), or an error.
 *
 * umem_mutex is taken before mmap_lock is released (the order the
 * invalidation callback also sees), so that invalidations that need
 * mmap_lock for writing (munmap, mprotect, fork) cannot come in between.
 * The notifier sequence changes for any invalidation of the umem: under a
 * steady stream of them elsewhere in a large MR (migrations, mprotect of
 * other pages) a slow fault would never complete, so the MR's log of
 * invalidated ranges decides whether one hit this range.
 */
static int rxe_odp_try_fault(struct rxe_odp *odp, struct ib_umem_odp *umem,
			     struct hmm_range *range)
{
	struct mm_struct *mm = umem->umem.owning_mm;
	/*
	 * Invalidations logged before this point have set their sequence
	 * (rxe_odp_invalidate()), so read_begin() waits for those still
	 * changing the page tables.
	 */
	u64 since = rxe_odp_nr_invals(odp);
	int ret;

	range->notifier_seq = mmu_interval_read_begin(range->notifier);
	mmap_read_lock(mm);
	if (rxe_odp_range_refused(mm, range->start, range->end))
		ret = -EFAULT;
	else
		ret = hmm_range_fault(range);
	if (!ret) {
		mutex_lock(&umem->umem_mutex);
		if (mmu_interval_read_retry(range->notifier,
					    range->notifier_seq) &&
		    rxe_odp_inval_hit(odp, since, range->start, range->end)) {
			mutex_unlock(&umem->umem_mutex);
			ret = -EBUSY;
		}
	}
	mmap_read_unlock(mm);
	return ret;
}

/* The pfns of one lookup: on the stack for the few pages of a packet. */
#define RXE_ODP_STACK_PFNS	16

/*
 * Look [va, va + len) of @umem up with hmm_range_fault(), faulting missing
 * pages in if @fault (for writing if @perm has ODP_WRITE_ALLOWED_BIT), and
 * record the pages in pfn_list and dma_list. Returns 0 with umem_mutex
 * held, or an error with nothing held.
 *
 * hmm_range_fault() fills a buffer of this call's own, whose valid entries
 * go to pfn_list under umem_mutex: another fault on the umem writing
 * pfn_list unlocked could otherwise store a pfn an invalidation has
 * already taken away.
 *
 * ib_umem_odp_map_dma_and_lock() retries without bound. Here a fault
 * fails with -EAGAIN, which the data path reports as an access error, once
 * 10 * RXE_ODP_FAULT_TIMEOUT_MS of wall time passed since it started,
 * waits included (measured in nanoseconds, not jiffies). Only an
 * invalidation of its own range makes it start again (see
 * rxe_odp_try_fault()). Every retry counts in odp_fault_retries.
 */
static int rxe_odp_fault_lock(struct rxe_odp *odp, struct ib_umem_odp *umem,
			      u64 va, u64 len, u64 perm, bool fault)
{
	u64 deadline = ktime_get_ns() + 10 * RXE_ODP_FAULT_TIMEOUT_MS *
		       NSEC_PER_MSEC;
	unsigned long stack_pfns[RXE_ODP_STACK_PFNS];
	struct mm_struct *mm = umem->umem.owning_mm;
	u64 page_size = BIT_ULL(umem->page_shift);
	struct hmm_range range = {
		.notifier = &umem->notifier,
		.start = ALIGN_DOWN(va, page_size),
		.end = ALIGN(va + len, page_size),
		.hmm_pfns = stack_pfns,
	};
	unsigned long npfns = (range.end - range.start) >> PAGE_SHIFT;
	int ret;

	if (fault)
		range.default_flags = HMM_PFN_REQ_FAULT |
			(perm & ODP_WRITE_ALLOWED_BIT ? HMM_PFN_REQ_WRITE : 0);
	if (rxe_odp_fail_alloc())
		return -ENOMEM;
	if (npfns > ARRAY_SIZE(stack_pfns)) {
		range.hmm_pfns = kvmalloc_array(npfns, sizeof(*range.hmm_pfns),
						GFP_KERNEL);
		if (!range.hmm_pfns)
			return -ENOMEM;
	}
	if (!mmget_not_zero(mm)) {
		ret = -EFAULT;
		goto out_free;
	}

	for (;;) {
		ret = rxe_odp_try_fault(odp, umem, &range);
		if (ret != -EBUSY)
			break;
		rxe_counter_inc(odp->rxe, RXE_CNT_ODP_FAULT_RETRIES);
		if (ktime_get_ns() >= deadline) {
			ret = -EAGAIN;
			break;
		}
		cond_resched();
	}
	if (!ret) {
		ret = rxe_odp_set_pages(umem, &range);
		if (ret)
			mutex_unlock(&umem->umem_mutex);
	}
	/*
	 * Not mmput(): dropping the last reference here would tear the mm
	 * down, and its notifier would then wait for the umem_mutex we hold.
	 */
	mmput_async(mm);
out_free:
	if (range.hmm_pfns != stack_pfns)
		kvfree(range.hmm_pfns);
	return ret;
}

/*
 * Make [va, va + len) of @umem present with read (and, if @write, write)
 * permission and return with umem_mutex held: 1 if pages had to be
 * faulted in, 0 if they all were present. The mapping stays valid until
 * the caller unlocks. On error nothing is held; -EWOULDBLOCK if pages are
 * missing and @may_fault is false.
 */
static int rxe_odp_map_range_lock(struct rxe_odp *odp,
				  struct ib_umem_odp *umem, u64 va, u64 len,
				  bool write, bool may_fault)
{
	u64 perm = ODP_READ_ALLOWED_BIT | (write ? ODP_WRITE_ALLOWED_BIT : 0);
	int ret;

	if (write && !umem->umem.writable)
		return -EPERM;

	/*
	 * This runs once per packet. mutex_lock() starts with might_sleep(),
	 * a voluntary preemption point: on PREEMPT_VOLUNTARY kernels a READ
	 * reply, sent packet by packet, then keeps handing the CPU over, which
	 * cost 10-20% of READ bandwidth against a pinned MR. Only the
	 * contended case needs to sleep.
	 */
	if (!mutex_trylock(&umem->umem_mutex))
		mutex_lock(&umem->umem_mutex);
	if (rxe_odp_range_mapped(umem, va, len, perm))
		return 0;
	mutex_unlock(&umem->umem_mutex);
	if (!may_fault)
		return -EWOULDBLOCK;

	ret = rxe_odp_fault_lock(odp, umem, va, len, perm, true);
	return ret < 0 ? ret : 1;
}

/*
 * Whether the data path may fault here. rxe's tasks run from workqueues;
 * anywhere else (the requester that ibv_post_send() runs in its system
 * call) a page to fault in is -EWOULDBLOCK, and the caller goes on from
 * its workqueue.
 */
static bool rxe_odp_may_fault(void)
{
	return in_task() && current_work();
}

/*
 * The error of a data-path access: -EWOULDBLOCK when it would have to
 * fault and may not, -EFAULT for anything else (the fault budget's -EAGAIN
 * included, which has the same value).
 */
static int rxe_odp_access_err(int err, bool may_fault)
{
	return !may_fault && err == -EWOULDBLOCK ? err : -EFAULT;
}

/* Map for an access of the data path, counting the faults it takes. */
static int rxe_odp_access_lock(struct rxe_odp *odp, struct ib_umem_odp *umem,
			       u64 va, u64 len, bool write, bool may_fault)
{
	int ret = rxe_odp_map_range_lock(odp, umem, va, len, write, may_fault);

	if (ret <= 0)
		return ret;
	rxe_counter_inc(odp->rxe, RXE_CNT_ODP_FAULTS);
	return 0;
}

/*
 * PCI P2PDMA pages are device memory (a BAR of another PCI device). The
 * kernel maps them like RAM, but the CPU must reach them with the I/O
 * accessors: no memcpy() tricks (non-temporal stores, unaligned or
 * repeated accesses) that are only valid on system memory.
 */
static bool rxe_odp_is_iomem(const void *kva)
{
	return is_pci_p2pdma_page(virt_to_page(kva));
}

static void rxe_odp_copy_page(u8 *kva, void *addr, u64 bytes,
			      enum rxe_mr_copy_dir dir)
{
	void __iomem *io = (void __force __iomem *)kva;

	if (dir == RXE_TO_MR_OBJ) {
		if (rxe_odp_is_iomem(kva))
			memcpy_toio(io, addr, bytes);
		else
			memcpy(kva, addr, bytes);
	} else {
		if (rxe_odp_is_iomem(kva))
			memcpy_fromio(addr, io, bytes);
		else
			memcpy(addr, kva, bytes);
	}
}

static void rxe_odp_copy_locked(struct ib_umem_odp *umem, u64 va, void *addr,
				u64 len, enum rxe_mr_copy_dir dir)
{
	unsigned int shift = umem->page_shift;

	lockdep_assert_held(&umem->umem_mutex);

	while (len) {
		unsigned long idx = (va - ib_umem_start(umem)) >> shift;
		u64 offset = va & (BIT_ULL(shift) - 1);
		u64 bytes = min_t(u64, len, BIT_ULL(shift) - offset);
		u8 *kva = (u8 *)(uintptr_t)(umem->dma_list[idx] &
					     ODP_DMA_ADDR_MASK) + offset;

		rxe_odp_copy_page(kva, addr, bytes, dir);
		va += bytes;
		addr += bytes;
		len -= bytes;
	}
}

/* The user virtual address of @iova in an ODP MR. */
static u64 rxe_odp_va(struct rxe_mr *mr, u64 iova)
{
	return iova - mr->ibmr.iova + mr->odp->start;
}

/*
 * Copy between @addr and [iova, iova + length) of an ODP MR, faulting the
 * pages in as needed (with write permission when copying into the MR).
 * Called from process context. Outside a workqueue, a page that needs a
 * fault makes it return -EWOULDBLOCK, having copied part of the range
 * perhaps, for the caller to start again from a workqueue. Whatever else
 * made the access fail (no VMA, no permission, the fault budget, memory
 * for a child), it is -EFAULT: an access error for the work request
 * (IB_WC_LOC_PROT_ERR on the requester, a NAK for remote access).
 */
int rxe_odp_mr_copy(struct rxe_mr *mr, u64 iova, void *addr, int length,
		    enum rxe_mr_copy_dir dir)
{
	bool write = dir == RXE_TO_MR_OBJ;
	bool may_fault = rxe_odp_may_fault();
	struct rxe_odp *odp = mr->odp;
	u64 va, end;
	int err;

	/* may sleep; no preemption point per packet: rxe_odp_map_range_lock() */
	__might_sleep(__FILE__, __LINE__);
	if (length < 0 || mr_check_range(mr, iova, length))
		return -EFAULT;

	va = rxe_odp_va(mr, iova);
	end = va + length;
	while (va < end) {
		struct rxe_odp_umem *ou;
		u64 bytes;

		ou = rxe_odp_get_umem(odp, va, end, &bytes, may_fault);
		if (IS_ERR(ou))
			return rxe_odp_access_err(PTR_ERR(ou), may_fault);
		err = rxe_odp_access_lock(odp, ou->umem, va, bytes, write,
					  may_fault);
		if (!err) {
			rxe_odp_copy_locked(ou->umem, va, addr, bytes, dir);
			mutex_unlock(&ou->umem->umem_mutex);
		}
		rxe_odp_put_umem(ou);
		if (err)
			return rxe_odp_access_err(err, may_fault);

		va += bytes;
		addr += bytes;
	}
	return 0;
}

/*
 * For an atomic operation: map the aligned 8 bytes at @iova for writing and
 * return their kernel address, with the umem that maps them locked and
 * referenced in *@locked, so that the page cannot be invalidated until
 * rxe_odp_unlock(*@locked). Returns NULL, with nothing locked, when the
 * address is not 8-byte aligned, and an ERR_PTR() when the memory cannot
 * be accessed.
 */
u64 *rxe_odp_atomic_vaddr_lock(struct rxe_mr *mr, u64 iova,
			       struct rxe_odp_umem **locked)
{
	struct rxe_odp *odp = mr->odp;
	struct rxe_odp_umem *ou;
	struct ib_umem_odp *umem;
	unsigned long idx;
	u64 va, bytes, *kva;
	int err;

	if (mr_check_range(mr, iova, sizeof(u64)))
		return ERR_PTR(-EFAULT);
	va = rxe_odp_va(mr, iova);
	if (va & (sizeof(u64) - 1))
		return NULL;

	/* the responder's, which runs from a workqueue */
	ou = rxe_odp_get_umem(odp, va, va + sizeof(u64), &bytes, true);
	if (IS_ERR(ou))
		return ERR_CAST(ou);
	umem = ou->umem;
	err = rxe_odp_access_lock(odp, umem, va, sizeof(u64), true, true);
	if (err) {
		rxe_odp_put_umem(ou);
		return ERR_PTR(err);
	}

	idx = (va - ib_umem_start(umem)) >> umem->page_shift;
	kva = (u64 *)((uintptr_t)(umem->dma_list[idx] & ODP_DMA_ADDR_MASK) +
		      (va & (BIT_ULL(umem->page_shift) - 1)));
	/*
	 * rxe's atomics are plain loads and stores under a spinlock, which
	 * device memory does not support: refuse them on P2PDMA pages.
	 */
	if (rxe_odp_is_iomem(kva)) {
		rxe_odp_unlock(ou);
		return ERR_PTR(-EOPNOTSUPP);
	}
	*locked = ou;
	return kva;
}

void rxe_odp_unlock(struct rxe_odp_umem *locked)
{
	mutex_unlock(&locked->umem->umem_mutex);
	rxe_odp_put_umem(locked);
}

int rxe_odp_init(void)
{
	rxe_odp_wq = alloc_workqueue("rxe_odp", WQ_UNBOUND, 0);
	if (!rxe_odp_wq)
		return -ENOMEM;
	rxe_odp_fail_init();
	return 0;
}

void rxe_odp_exit(void)
{
	rxe_odp_fail_exit();
	destroy_workqueue(rxe_odp_wq);
}

/* One SGE of an advise_mr() call, with a reference on its MR. */
struct rxe_odp_prefetch_sge {
	struct rxe_mr		*mr;
	u64			iova;
	u32			length;
};

struct rxe_odp_prefetch_work {
	struct work_struct	work;
	enum ib_uverbs_advise_mr_advice advice;
	u32			num_sge;
	struct rxe_odp_prefetch_sge sge[];
};

/*
 * Drop the references on the MRs of @sge that are being deregistered
 * (rxe_dereg_mr() marks them invalid, then waits for the references): a
 * dereg must not wait for the prefetch of other MRs of the same call.
 */
static void rxe_odp_prefetch_put_dead(struct rxe_odp_prefetch_sge *sge,
				      u32 num_sge)
{
	u32 i;

	for (i = 0; i < num_sge; i++) {
		if (sge[i].mr &&
		    READ_ONCE(sge[i].mr->state) != RXE_MR_STATE_VALID) {
			rxe_put(sge[i].mr);
			sge[i].mr = NULL;
		}
	}
}

/*
 * Drop the references on the MRs of the call that are being destroyed;
 * then whether range @i's MR is still there (its reference held).
 */
static bool rxe_odp_prefetch_mr_alive(struct rxe_odp_prefetch_sge *sge,
				      u32 num_sge, u32 i)
{
	rxe_odp_prefetch_put_dead(sge, num_sge);
	return sge[i].mr;
}

/*
 * Prefetch range @i of @sge chunk by chunk: fault it in (for writing with
 * PREFETCH_WRITE), or with PREFETCH_NO_FAULT map only the pages that are
 * present already. Before each chunk, MRs being destroyed are let go (range
 * @i's own included: the prefetch of a deregistered MR ends with -ENOENT)
 * and a synchronous caller that got a fatal signal stops.
 */
static int rxe_odp_prefetch_range(struct rxe_odp_prefetch_sge *sge,
				  u32 num_sge, u32 i,
				  enum ib_uverbs_advise_mr_advice advice,
				  bool sync)
{
	bool write = advice == IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE;
	u64 done = 0;
	int ret;

	while (done < sge[i].length) {
		struct rxe_odp_umem *ou;
		struct rxe_odp *odp;
		u64 va, bytes;

		if (!rxe_odp_prefetch_mr_alive(sge, num_sge, i))
			return -ENOENT;
		if (sync && fatal_signal_pending(current))
			return -EINTR;
		odp = sge[i].mr->odp;
		va = rxe_odp_va(sge[i].mr, sge[i].iova) + done;
		ou = rxe_odp_get_umem(odp, va, va + sge[i].length - done,
				      &bytes, true);
		if (IS_ERR(ou))
			return PTR_ERR(ou);
		if (advice == IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT)
			ret = rxe_odp_fault_lock(odp, ou->umem, va, bytes,
						 ODP_READ_ALLOWED_BIT, false);
		else
			ret = rxe_odp_map_range_lock(odp, ou->umem, va, bytes,
						     write, true);
		if (ret >= 0)
			mutex_unlock(&ou->umem->umem_mutex);
		rxe_odp_put_umem(ou);
		if (ret < 0)
			return ret;
		rxe_counter_inc(odp->rxe, RXE_CNT_ODP_PREFETCHES);
		done += bytes;
	}
	return 0;
}

/*
 * Prefetch every range of a call. A synchronous call stops at the first
 * error; queued work, whose errors nobody sees, goes on with the ranges of
 * the MRs that are still there.
 */
static int rxe_odp_prefetch(enum ib_uverbs_advise_mr_advice advice,
			    struct rxe_odp_prefetch_sge *sge, u32 num_sge,
			    bool sync)
{
	int ret = 0;
	u32 i;

	for (i = 0; i < num_sge && !ret; i++) {
		ret = rxe_odp_prefetch_range(sge, num_sge, i, advice, sync);
		if (ret == -ENOENT && !sync)
			ret = 0;
	}
	return ret;
}

static void rxe_odp_put_sges(struct rxe_odp_prefetch_sge *sge, u32 num_sge)
{
	u32 i;

	for (i = 0; i < num_sge; i++)
		if (sge[i].mr)
			rxe_put(sge[i].mr);
}

/* Asynchronous prefetch: best effort, errors are not reported. */
static void rxe_odp_prefetch_work(struct work_struct *w)
{
	struct rxe_odp_prefetch_work *work =
		container_of(w, struct rxe_odp_prefetch_work, work);

	rxe_odp_prefetch(work->advice, work->sge, work->num_sge, false);
	rxe_odp_put_sges(work->sge, work->num_sge);
	kvfree(work);
}

/* Look up and check one SGE: an ODP MR of @pd, in range, writable if needed. */
static int rxe_odp_prefetch_sge(struct rxe_pd *pd,
				enum ib_uverbs_advise_mr_advice advice,
				const struct ib_sge *in,
				struct rxe_odp_prefetch_sge *out)
{
	struct rxe_mr *mr = lookup_mr(pd, 0, in->lkey, RXE_LOOKUP_LOCAL);

	if (!mr)
		return -ENOENT;
	out->mr = mr;
	out->iova = in->addr;
	out->length = in->length;
	if (!mr->odp)
		return -EINVAL;
	if (advice == IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE &&
	    !(mr->access & IB_ACCESS_LOCAL_WRITE))
		return -EPERM;
	if (mr_check_range(mr, in->addr, in->length))
		return -EFAULT;
	return 0;
}

/*
 * ib_device_ops.advise_mr: prefetch ranges of ODP MRs. With
 * IB_UVERBS_ADVISE_MR_FLAG_FLUSH the pages are mapped when this returns;
 * otherwise the work is queued and this returns once the SGEs are checked.
 * Queued work holds references on the MRs (their destruction waits for it)
 * and runs on rxe_odp_wq, which module unload drains.
 */
int rxe_odp_advise_mr(struct ib_pd *ibpd,
		      enum ib_uverbs_advise_mr_advice advice, u32 flags,
		      struct ib_sge *sg_list, u32 num_sge,
		      struct uverbs_attr_bundle *attrs)
{
	struct rxe_odp_prefetch_work *work;
	int err = 0;
	u32 i;

	switch (advice) {
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH:
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE:
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT:
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (flags & ~IB_UVERBS_ADVISE_MR_FLAG_FLUSH)
		return -EOPNOTSUPP;

	work = rxe_odp_fail_alloc() ? NULL :
	       kvzalloc(struct_size(work, sge, num_sge), GFP_KERNEL);
	if (!work)
		return -ENOMEM;
	work->advice = advice;
	work->num_sge = num_sge;
	for (i = 0; i < num_sge && !err; i++)
		err = rxe_odp_prefetch_sge(to_rpd(ibpd), advice, &sg_list[i],
					   &work->sge[i]);

	if (!err && (flags & IB_UVERBS_ADVISE_MR_FLAG_FLUSH))
		err = rxe_odp_prefetch(advice, work->sge, num_sge, true);
	if (err || (flags & IB_UVERBS_ADVISE_MR_FLAG_FLUSH)) {
		rxe_odp_put_sges(work->sge, num_sge);
		kvfree(work);
		return err;
	}

	INIT_WORK(&work->work, rxe_odp_prefetch_work);
	queue_work(rxe_odp_wq, &work->work);
	return 0;
}
