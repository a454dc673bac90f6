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
 * its kernel virtual address (rxe uses virtual DMA). The data path runs
 * where rxe's tasks run, in the receive softirq, a tasklet or the thread
 * that posts, and never sleeps: it copies under the umem's map_lock
 * (spinlock) if the pages are mapped with the needed permission. The
 * invalidation callback takes map_lock before it unmaps, so no copy
 * touches a page after the callback for it returned.
 *
 * A page that is missing makes the access queue the fault (struct
 * rxe_odp_fault) on rxe_odp_fault_wq and return -EWOULDBLOCK: the QP's
 * task stops at that packet or WQE and runs it again once the work has
 * faulted the range in, as ODP hardware holds a QP on a page fault. So
 * neither a post nor a packet ever waits for the page cache, swap or a
 * FUSE server, and the fault holds the MR, not the QP.
 *
 * Implicit ODP (start 0, length U64_MAX) covers the whole address space.
 * It and every explicit MR but a hugetlb one have a root umem that is never
 * mapped itself; accesses go to child umems of up to
 * 1 << RXE_ODP_CHILD_SHIFT bytes, created when a fault or prefetch
 * reaches their range and freed once nothing of them is mapped, so neither
 * registration time nor kernel memory depends on the MR's size: page
 * arrays exist only where pages are mapped.
 */

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fault-inject.h>
#include <linux/hmm.h>
#include <linux/io.h>
#include <linux/magic.h>
#include <linux/memremap.h>
#include <linux/sched/mm.h>
#include <linux/userfaultfd_k.h>
#include <net/netlink.h>
#include <rdma/restrack.h>

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
/*
 * Data-path faults: a QP waits for each one, as it waits for a page fault
 * on ODP hardware. High priority, because the threads that wait for the
 * QP usually poll its CQ: at normal priority the woken worker would queue
 * behind them for up to a scheduler tick. A fault maps at most its access
 * and RXE_ODP_FAULT_AHEAD more (and looks RXE_ODP_LOOK_AHEAD further up
 * without faulting), and sleeps between retries once
 * invalidations keep overtaking it (rxe_odp_fault_range()), so it does
 * not hog a CPU the way a large prefetch could.
 */
static struct workqueue_struct *rxe_odp_fault_wq;

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

static void rxe_odp_stat_add(struct rxe_odp *odp, enum rxe_odp_stat stat,
			     u64 n)
{
	atomic64_add(n, &odp->stats[stat]);
}

/*
 * The statistics' unit is PAGE_SIZE, as mlx5's: the umem pages (2 MiB for
 * a hugetlb MR, which faults and unmaps whole ones) that [va, va + len)
 * touches, @len > 0, in PAGE_SIZE pages.
 */
static u64 rxe_odp_stat_pages(struct rxe_odp *odp, u64 va, u64 len)
{
	unsigned int shift = odp->umem->is_implicit_odp ? PAGE_SHIFT :
			     odp->umem->page_shift;
	u64 size = BIT_ULL(shift);

	return (((ALIGN_DOWN(va + len - 1, size) - ALIGN_DOWN(va, size)) >>
		 shift) + 1) << (shift - PAGE_SHIFT);
}

/*
 * Make [start, end) of @ou count as unmapped for the data path, or (0, 0)
 * nothing. Under umem_mutex: one invalidation of a umem at a time.
 */
static void rxe_odp_revoke(struct rxe_odp_umem *ou, u64 start, u64 end)
{
	lockdep_assert_held(&ou->umem->umem_mutex);
	spin_lock_bh(&ou->map_lock);
	ou->revoke_start = start;
	ou->revoke_end = end;
	spin_unlock_bh(&ou->map_lock);
}

static bool rxe_odp_invalidate(struct mmu_interval_notifier *mni,
			       const struct mmu_notifier_range *range,
			       unsigned long cur_seq)
{
	struct ib_umem_odp *umem = container_of(mni, struct ib_umem_odp,
						notifier);
	/* NULL while ib_umem_odp_get() registers a hugetlb MR's umem */
	struct rxe_odp_umem *ou = umem->private;
	struct rxe_odp *odp = ou ? ou->odp : NULL;
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
	 * Once the range is revoked under map_lock, no copy of the data
	 * path is in it or gets into it. The unmap, which dirties written
	 * pages (file system locks), runs without map_lock: nothing taken
	 * in softirq context may wait for those.
	 */
	if (ou)
		rxe_odp_revoke(ou, start, end);
	mmu_interval_set_seq(mni, cur_seq);
	npages = umem->npages;
	ib_umem_odp_unmap_dma_pages(umem, start, end);
	if (ou)
		rxe_odp_revoke(ou, 0, 0);
	/*
	 * Change the sequence before logging the range (both before
	 * umem_mutex, under which faults check the log, is released). A
	 * fault samples the log before mmu_interval_read_begin(): if it saw
	 * this entry it also sees the new sequence, and read_begin() waits
	 * for the page tables to change; if it did not, the entry is one it
	 * checks. Logged first, a fault could pass read_begin() in between,
	 * walk the old page tables and then skip this entry as one it had
	 * seen.
	 */
	if (odp)
		rxe_odp_log_inval(odp, start, end);
	if (odp && umem->npages != npages) {
		rxe_counter_inc(odp->rxe, RXE_CNT_ODP_INVALIDATIONS);
		rxe_odp_stat_add(odp, RXE_ODP_STAT_INVALIDATIONS,
				 (u64)(npages - umem->npages) <<
				 (umem->page_shift - PAGE_SHIFT));
		rxe_odp_stat_add(odp, RXE_ODP_STAT_INVALIDATIONS_HANDLED, 1);
		if (!umem->npages && umem != odp->umem)
			mod_delayed_work(rxe_odp_wq, &odp->reap_work, 0);
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

/*
 * The page arrays of all umems of all ODP MRs (ib_core allocates a pfn and
 * a DMA entry per page of a child when it is created, and of a hugetlb MR
 * over its whole range at registration) stay below
 * 1/RXE_ODP_CHILD_MEM_SHARE of RAM: a child costs 256 KiB even when it
 * maps a single (zero) page, and a hugetlb MR 2 MiB per GiB of address
 * space even when nothing is mapped there, so without a bound a peer with
 * an implicit MR's rkey, or a process registering reserved address space,
 * could make the kernel allocate many times what the memory costs the
 * process. Past the bound, an access that needs a new child fails, and so
 * does the registration, with -ENOMEM.
 */
#define RXE_ODP_CHILD_MEM_SHARE	16
static atomic_long_t rxe_odp_umem_bytes;

/*
 * What ib_umem_odp_get() allocates for a umem over [start, end) with
 * pages of 1 << @shift bytes: a pfn per PAGE_SIZE page and a DMA entry per
 * page of the range in whole pages; -EOVERFLOW if that range ends past the
 * top of u64.
 */
static long rxe_odp_array_cost(u64 start, u64 end, unsigned int shift)
{
	u64 size = 1ULL << shift, last, span;

	if (check_add_overflow(end, size - 1, &last))
		return -EOVERFLOW;
	span = ALIGN_DOWN(last, size) - ALIGN_DOWN(start, size);
	return ((span >> PAGE_SHIFT) + (span >> shift)) * sizeof(u64);
}

/* A hugetlb MR's umem has pages of the default huge page size. */
static long rxe_odp_hugetlb_cost(u64 start, u64 end)
{
#ifdef CONFIG_HUGETLB_PAGE
	return rxe_odp_array_cost(start, end, HPAGE_SHIFT);
#else
	return rxe_odp_array_cost(start, end, PAGE_SHIFT);
#endif
}

static bool rxe_odp_charge(long cost)
{
	long limit = (totalram_pages() << PAGE_SHIFT) /
		     RXE_ODP_CHILD_MEM_SHARE;
	long cur = atomic_long_read(&rxe_odp_umem_bytes);

	/*
	 * Never stored above the limit, not even for a moment: a charge
	 * that fails must not make others fail meanwhile.
	 */
	do {
		if (cost > limit - cur)
			return false;
	} while (!atomic_long_try_cmpxchg(&rxe_odp_umem_bytes, &cur,
					  cur + cost));
	return true;
}

static void rxe_odp_uncharge(long cost)
{
	WARN_ON_ONCE(atomic_long_sub_return(cost, &rxe_odp_umem_bytes) < 0);
}

static void rxe_odp_reap_work(struct work_struct *work);

/*
 * Register an ODP MR. An explicit IB_ACCESS_HUGETLB MR (2 MiB pages) gets
 * a umem of its own from ib_umem_odp_get(), which allocates page arrays
 * for the whole range (8 bytes per 4 KiB page and per 2 MiB page), charged
 * against the bound of rxe_odp_charge(). Every other MR gets a root umem
 * and children, so that registration costs the same for any size, and
 * memory for page arrays follows the memory actually mapped.
 */
int rxe_odp_mr_init_user(struct rxe_dev *rxe, u64 start, u64 length,
			 u64 iova, int access, struct rxe_mr *mr)
{
	bool implicit = rxe_odp_is_implicit(start, length);
	bool hugetlb = !implicit && (access & IB_ACCESS_HUGETLB);
	struct ib_umem_odp *umem;
	struct rxe_odp *odp;
	long cost = 0;
	u64 end;

	if (!IS_ENABLED(CONFIG_INFINIBAND_ON_DEMAND_PAGING))
		return -EOPNOTSUPP;
	if (implicit && iova)
		return -EINVAL;
	if (!length)
		return -EINVAL;
	if (implicit)
		end = current->mm->task_size;
	else if (check_add_overflow(start, length, &end))
		return -EOVERFLOW;

	if (hugetlb) {
		cost = rxe_odp_hugetlb_cost(start, end);
		if (cost < 0)
			return cost;
		if (!rxe_odp_charge(cost))
			return -ENOMEM;
	}

	odp = rxe_odp_fail_alloc() ? NULL : kzalloc(sizeof(*odp), GFP_KERNEL);
	if (!odp) {
		rxe_odp_uncharge(cost);
		return -ENOMEM;
	}

	if (hugetlb) {
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
		rxe_odp_uncharge(cost);
		return PTR_ERR(umem);
	}

	odp->rxe = rxe;
	odp->umem = umem;
	odp->start = implicit ? 0 : start;
	odp->end = end;
	xa_init(&odp->children);
	mutex_init(&odp->children_lock);
	INIT_DELAYED_WORK(&odp->reap_work, rxe_odp_reap_work);
	odp->whole.umem = umem;
	odp->whole.odp = odp;
	odp->whole.cost = cost;
	spin_lock_init(&odp->whole.map_lock);
	spin_lock_init(&odp->inval_lock);
	/* the callback's, for a hugetlb MR; a root has no notifier */
	umem->private = &odp->whole;

	rxe_mr_init(access, mr);
	mr->odp = odp;
	mr->umem = &umem->umem;
	mr->access = access;
	mr->state = RXE_MR_STATE_VALID;
	mr->type = IB_MR_TYPE_USER;
	return 0;
}

/*
 * The index in odp->children of the chunk of @va: counted from the MR's
 * first chunk, so that the child of an MR that lies within one chunk is
 * the xarray's only entry at index 0, which xa_load() finds in the head
 * without walking nodes. Implicit MRs start at 0.
 */
static unsigned long rxe_odp_child_index(struct rxe_odp *odp, u64 va)
{
	return (va >> RXE_ODP_CHILD_SHIFT) - (odp->start >> RXE_ODP_CHILD_SHIFT);
}

/*
 * Take @child, which no fault or prefetch uses any more, out of the
 * xarray: one that still finds it under RCU fails to take a reference and
 * creates a new child under children_lock. A data-path access that found
 * it uses it until rxe_odp_release_child() marks it dead and frees it.
 */
static void rxe_odp_unlink_child(struct rxe_odp_umem *child)
{
	struct rxe_odp *odp = child->odp;

	lockdep_assert_held(&odp->children_lock);

	xa_erase(&odp->children,
		 rxe_odp_child_index(odp, ib_umem_start(child->umem)));
}

/*
 * Free an unlinked child. Not under children_lock: releasing the umem
 * waits for invalidations of the whole mm in progress, which must not
 * hold up the other accesses to the MR.
 */
static void rxe_odp_release_child(struct rxe_odp_umem *child)
{
	/* an access may have found it under RCU, without a reference */
	spin_lock_bh(&child->map_lock);
	child->dead = true;
	spin_unlock_bh(&child->map_lock);
	ib_umem_odp_release(child->umem);
	rxe_odp_uncharge(child->cost);
	kfree_rcu(child, rcu);
}

/*
 * Unlink @child if nothing of it is mapped and nobody uses it. Faults and
 * prefetches map pages with a reference held, and may have mapped some
 * and dropped theirs between the first look at npages and the reference
 * count: look again once the count is 0. Under children_lock no fault or
 * prefetch can take a reference then, so that look is exact (it can only
 * miss pages an invalidation is taking away: the release unmaps those).
 */
static bool rxe_odp_unlink_if_unused(struct rxe_odp_umem *child)
{
	lockdep_assert_held(&child->odp->children_lock);

	if (READ_ONCE(child->umem->npages) ||
	    !refcount_dec_if_one(&child->users))
		return false;
	/* the last user's pages before its refcount_dec() (a release) */
	smp_acquire__after_ctrl_dep();
	if (READ_ONCE(child->umem->npages)) {
		refcount_set(&child->users, 1);
		return false;
	}
	rxe_odp_unlink_child(child);
	return true;
}

/*
 * Free the children that invalidations left without a mapped page. Returns
 * whether one of them was still in use: its last user may drop it without
 * looking at it again (rxe_odp_put_umem()).
 */
static bool rxe_odp_reap(struct rxe_odp *odp)
{
	struct rxe_odp_umem *child, *next;
	unsigned long index;
	bool busy = false;
	LIST_HEAD(unused);

	mutex_lock(&odp->children_lock);
	xa_for_each(&odp->children, index, child) {
		if (rxe_odp_unlink_if_unused(child))
			list_add(&child->unused, &unused);
		else if (!READ_ONCE(child->umem->npages))
			busy = true;
	}
	mutex_unlock(&odp->children_lock);
	list_for_each_entry_safe(child, next, &unused, unused)
		rxe_odp_release_child(child);
	return busy;
}

static void rxe_odp_reap_work(struct work_struct *work)
{
	struct rxe_odp *odp = container_of(to_delayed_work(work),
					   struct rxe_odp, reap_work);

	if (rxe_odp_reap(odp))
		queue_delayed_work(rxe_odp_wq, &odp->reap_work, HZ);
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
	cancel_delayed_work_sync(&odp->reap_work);
	xa_destroy(&odp->children);
	ib_umem_odp_release(odp->umem);
	if (root)
		mmdrop(mm);
	else
		rxe_odp_uncharge(odp->whole.cost);
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
	u64 chunk = va >> RXE_ODP_CHILD_SHIFT;
	u64 start = max_t(u64, chunk << RXE_ODP_CHILD_SHIFT, odp->start);
	u64 end = min_t(u64, (chunk + 1) << RXE_ODP_CHILD_SHIFT, odp->end);
	long cost = rxe_odp_array_cost(start, end, PAGE_SHIFT);
	struct rxe_odp_umem *child;
	struct ib_umem_odp *umem;
	int err;

	lockdep_assert_held(&odp->children_lock);

	/* a negative cost would raise the bound instead of using it up */
	if (cost < 0)
		return ERR_PTR(cost);
	if (!rxe_odp_range_has_vma(odp, start, end))
		return ERR_PTR(-EFAULT);
	if (!rxe_odp_charge(cost))
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
	child->umem = umem;
	child->odp = odp;
	child->cost = cost;
	spin_lock_init(&child->map_lock);
	umem->private = child;
	refcount_set(&child->users, 2);
	err = xa_err(xa_store(&odp->children, rxe_odp_child_index(odp, va),
			      child, GFP_KERNEL));
	if (err) {
		ib_umem_odp_release(umem);
		goto out_free;
	}
	return child;

out_free:
	kfree(child);
out_uncharge:
	rxe_odp_uncharge(cost);
	return ERR_PTR(err);
}

/* Under children_lock: the child at @va with a reference, or a new one. */
static struct rxe_odp_umem *rxe_odp_find_or_new_child(struct rxe_odp *odp,
						      u64 va)
{
	struct rxe_odp_umem *child;

	mutex_lock(&odp->children_lock);
	/* under the lock, an entry in the xarray has a reference of its own */
	child = xa_load(&odp->children, rxe_odp_child_index(odp, va));
	if (child)
		refcount_inc(&child->users);
	else
		child = rxe_odp_new_child(odp, va);
	mutex_unlock(&odp->children_lock);
	return child;
}

/*
 * Whether @va can have a child: a user address of the MR's mm. Not
 * TASK_SIZE: that is the current task's, and the data path runs in
 * whatever task a softirq interrupted or sent the packet, a 32-bit one
 * with a 4 GiB TASK_SIZE among them, and faults in a kworker.
 */
static bool rxe_odp_user_va(struct rxe_odp *odp, u64 va)
{
	return va < odp->umem->umem.owning_mm->task_size;
}

/*
 * The child that covers @va, with a reference; created if needed (which
 * takes mmap_lock and allocates). Process context.
 */
static struct rxe_odp_umem *rxe_odp_get_child(struct rxe_odp *odp, u64 va)
{
	struct rxe_odp_umem *child;

	rcu_read_lock();
	child = xa_load(&odp->children, rxe_odp_child_index(odp, va));
	if (child && !refcount_inc_not_zero(&child->users))
		child = NULL;
	rcu_read_unlock();
	if (child)
		return child;
	if (!rxe_odp_user_va(odp, va))
		return ERR_PTR(-EFAULT);

	child = rxe_odp_find_or_new_child(odp, va);
	/*
	 * At the bound on children's page arrays: free this MR's children
	 * that invalidations emptied and reap_work has not freed yet (it
	 * may lag behind a loop of accesses), then try once more.
	 */
	if (PTR_ERR_OR_ZERO(child) == -ENOMEM) {
		rxe_odp_reap(odp);
		child = rxe_odp_find_or_new_child(odp, va);
	}
	return child;
}

/*
 * Done with a umem from rxe_odp_get_umem(). A child that maps nothing
 * after a fault or prefetch (no permission, PREFETCH_NO_FAULT over absent
 * pages, an invalidation meanwhile) is freed at once: children exist only
 * while they map something, whatever users or peers ask for. Process
 * context.
 */
static void rxe_odp_put_umem(struct rxe_odp_umem *ou)
{
	struct rxe_odp *odp = ou->odp;
	bool unused;

	if (ou == &odp->whole)
		return;
	/*
	 * Not looked at after the reference is gone: reap_work may free
	 * the child then. It looks again later at an empty child that was
	 * in use when it ran.
	 */
	if (READ_ONCE(ou->umem->npages)) {
		/* not the last reference: the xarray holds one */
		refcount_dec(&ou->users);
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
 * How much of [va, end) the umem that maps @va covers, at most up to the
 * next 1 << RXE_ODP_CHILD_SHIFT boundary (accesses and prefetches walk a
 * range chunk by chunk with this). Last bytes, not ends: the chunk may end
 * at the top of the space. An implicit MR ends at TASK_SIZE, inside its
 * last child's chunk.
 */
static u64 rxe_odp_chunk_bytes(struct rxe_odp *odp, u64 va, u64 end)
{
	return min3(end - 1, odp->end - 1,
		    va | (BIT_ULL(RXE_ODP_CHILD_SHIFT) - 1)) - va + 1;
}

/*
 * The umem that maps @va (the MR's own, or a child, created if missing),
 * with a reference to drop with rxe_odp_put_umem(), and in *@bytes how
 * much of [va, end) it covers. For faults and prefetches: process context.
 */
static struct rxe_odp_umem *rxe_odp_get_umem(struct rxe_odp *odp, u64 va,
					     u64 end, u64 *bytes)
{
	struct rxe_odp_umem *ou;

	if (va < odp->start || va >= odp->end)
		return ERR_PTR(-EFAULT);
	ou = odp->umem->is_implicit_odp ? rxe_odp_get_child(odp, va) :
					  &odp->whole;
	if (!IS_ERR(ou))
		*bytes = rxe_odp_chunk_bytes(odp, va, end);
	return ou;
}

/*
 * For the data path, which must not sleep: the umem that maps @va, found
 * under the caller's rcu_read_lock() and without a reference, so that an
 * access costs no atomic operation and no lock beyond map_lock. A child
 * may be unlinked and released meanwhile: its umem is valid until
 * map_lock shows it dead (rxe_odp_release_child()). -EWOULDBLOCK if @va
 * has no child yet.
 */
static struct rxe_odp_umem *rxe_odp_find_umem(struct rxe_odp *odp, u64 va)
{
	struct rxe_odp_umem *child;

	RCU_LOCKDEP_WARN(!rcu_read_lock_held(),
			 "a data-path lookup outside an RCU read section");
	if (va < odp->start || va >= odp->end)
		return ERR_PTR(-EFAULT);
	if (!odp->umem->is_implicit_odp)
		return &odp->whole;
	child = xa_load(&odp->children, rxe_odp_child_index(odp, va));
	if (child)
		return child;
	return ERR_PTR(rxe_odp_user_va(odp, va) ? -EWOULDBLOCK : -EFAULT);
}

static bool rxe_odp_range_mapped(struct rxe_odp_umem *ou, u64 va, u64 len,
				 u64 perm)
{
	struct ib_umem_odp *umem;
	unsigned long idx, last;

	lockdep_assert_held(&ou->map_lock);

	/* a dead child's umem may be gone */
	if (ou->dead || (va < ou->revoke_end && va + len > ou->revoke_start))
		return false;
	umem = ou->umem;
	idx = (va - ib_umem_start(umem)) >> umem->page_shift;
	last = (va + len - 1 - ib_umem_start(umem)) >> umem->page_shift;
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
static int rxe_odp_set_pages(struct rxe_odp_umem *ou,
			     const struct hmm_range *range)
{
	struct ib_umem_odp *umem = ou->umem;
	unsigned int shift = umem->page_shift;
	unsigned long npfns = (range->end - range->start) >> PAGE_SHIFT;
	unsigned long idx = (range->start - ib_umem_start(umem)) >> shift;
	unsigned long pfn_base = (range->start - ib_umem_start(umem)) >>
				 PAGE_SHIFT;
	unsigned long i;

	lockdep_assert_held(&umem->umem_mutex);
	lockdep_assert_held(&ou->map_lock);

	for (i = 0; i < npfns; i += BIT(shift - PAGE_SHIFT), idx++) {
		unsigned long pfn = range->hmm_pfns[i];
		struct page *page;
		u64 perm;

		/*
		 * Absent (PREFETCH_NO_FAULT, a fault's look-ahead): leave the
		 * entry alone, another fault may have mapped the page since
		 * this lookup.
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
		/*
		 * Still mapped: a permission can only have been added (taking
		 * one away invalidates the entry), perhaps after this lookup.
		 */
		if (umem->dma_list[idx]) {
			umem->dma_list[idx] |= perm;
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
 * Whether [start, end) has a VMA registered with userfaultfd. A fault
 * there may need the process's handler, which hmm_range_fault() cannot
 * wait for: it faults without FAULT_FLAG_ALLOW_RETRY, so userfaultfd fails
 * the fault (SIGBUS), and a CONFIG_DEBUG_VM kernel logs a stack dump for
 * each one.
 */
static bool rxe_odp_range_uffd(struct mm_struct *mm, u64 start, u64 end)
{
	struct vm_area_struct *vma;

	lockdep_assert_held(&mm->mmap_lock);
	for (vma = find_vma(mm, start); vma && vma->vm_start < end;
	     vma = find_vma(mm, vma->vm_end))
		if (userfaultfd_armed(vma))
			return true;
	return false;
}

/*
 * rxe_odp_fault_uffd() faulted pages: look the range up again, at once.
 * Not an invalidation's retry: it neither counts in odp_fault_retries nor
 * backs off, only the fault's deadline bounds it.
 */
#define RXE_ODP_LOOK_AGAIN	1

/*
 * Fault the page at @addr of @vma, in a range with a VMA registered with
 * userfaultfd. In a registered VMA, as a fault that must not wait for
 * user space: FAULT_FLAG_RETRY_NOWAIT keeps mmap_lock held and makes
 * userfaultfd answer VM_FAULT_RETRY at once, without queueing a message
 * for the handler; the second try (FAULT_FLAG_TRIED) waits for the anon
 * or shmem page lock the first may not have waited for, so a
 * VM_FAULT_RETRY from it is the handler's business: -EFAULT. Not
 * FAULT_FLAG_KILLABLE: with it a fatal signal would drop mmap_lock. In
 * another VMA of the range, as hmm_range_fault() faults (it cannot get to
 * a handler there). Returns 0, or -EFAULT or -EPERM as hmm_range_fault().
 */
static int rxe_odp_fault_page(struct vm_area_struct *vma, unsigned long addr,
			      bool write)
{
	unsigned int flags = FAULT_FLAG_REMOTE;
	vm_fault_t ret;

	if (write) {
		/* handle_mm_fault() leaves the permission check to its caller */
		if (!(vma->vm_flags & VM_WRITE))
			return -EPERM;
		flags |= FAULT_FLAG_WRITE;
	}
	if (!userfaultfd_armed(vma))
		return handle_mm_fault(vma, addr, flags, NULL) & VM_FAULT_ERROR ?
		       -EFAULT : 0;
	flags |= FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_RETRY_NOWAIT;
	ret = handle_mm_fault(vma, addr, flags, NULL);
	if (ret & VM_FAULT_RETRY)
		ret = handle_mm_fault(vma, addr, flags | FAULT_FLAG_TRIED, NULL);
	return ret & (VM_FAULT_ERROR | VM_FAULT_RETRY) ? -EFAULT : 0;
}

/*
 * hmm_range_fault() for a @range with a VMA registered with userfaultfd:
 * look the pages up without faulting, then fault each page that is short
 * of the request with rxe_odp_fault_page(), and return RXE_ODP_LOOK_AGAIN
 * so that the pfns recorded come from a lookup of their own. Whatever the
 * kernel resolves by itself (swap-in, COW, migration and NUMA hinting
 * entries, pages present in the page cache) is faulted as by
 * hmm_range_fault(); only a page that needs the process's handler fails
 * the access.
 */
static int rxe_odp_fault_uffd(struct mm_struct *mm, struct hmm_range *range)
{
	unsigned long want = range->default_flags;
	unsigned long npfns = (range->end - range->start) >> PAGE_SHIFT;
	struct vm_area_struct *vma = NULL;
	bool faulted = false;
	unsigned long i, addr;
	int ret;

	range->default_flags = 0;
	ret = hmm_range_fault(range);
	range->default_flags = want;
	if (ret)
		return ret;
	for (i = 0; i < npfns; i++) {
		/* the request bits are the bits of the answer (linux/hmm.h) */
		if ((range->hmm_pfns[i] & want) == want)
			continue;
		/* no VMA, or one hmm_range_fault() refuses (VM_IO, VM_PFNMAP, !VM_READ) */
		if (range->hmm_pfns[i] & HMM_PFN_ERROR)
			return -EFAULT;
		addr = range->start + (i << PAGE_SHIFT);
		if (!vma || addr >= vma->vm_end)
			vma = vma_lookup(mm, addr);
		if (!vma)
			return -EFAULT;
		ret = rxe_odp_fault_page(vma, addr, want & HMM_PFN_REQ_WRITE);
		if (ret)
			return ret;
		faulted = true;
		cond_resched();
	}
	return faulted ? RXE_ODP_LOOK_AGAIN : 0;
}

/*
 * The pages of @look (after the ones a fault needs: see
 * RXE_ODP_LOOK_AHEAD) that the CPU page tables have, in the same
 * notifier sequence as the fault, or none. hmm_range_fault() without
 * request flags neither faults nor fails on holes; anything that stops it
 * (an invalidation meanwhile) or a VMA rxe refuses just leaves the pages
 * out. Returns whether @look's pfns are worth recording.
 */
static bool rxe_odp_look(struct mm_struct *mm, struct hmm_range *look,
			 unsigned long notifier_seq)
{
	if (look->start == look->end ||
	    rxe_odp_range_refused(mm, look->start, look->end))
		return false;
	look->notifier_seq = notifier_seq;
	return !hmm_range_fault(look);
}

/*
 * One lookup of @range, and of @look after it. Returns 0 with umem_mutex
 * held if no invalidation of @range overtook it, -EBUSY with nothing held
 * if one did or if one elsewhere in the umem aborted hmm_range_fault(),
 * RXE_ODP_LOOK_AGAIN after faulting pages of a range with a userfaultfd
 * VMA, or an error. @look's pfns are left 0 (absent) unless they are as valid as
 * @range's: an invalidation that hit only @look costs the look-ahead, not
 * the fault.
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
			     struct hmm_range *range, struct hmm_range *look)
{
	struct mm_struct *mm = umem->umem.owning_mm;
	/*
	 * Invalidations logged before this point have set their sequence
	 * (rxe_odp_invalidate()), so read_begin() waits for those still
	 * changing the page tables.
	 */
	u64 since = rxe_odp_nr_invals(odp);
	unsigned long nlook = (look->end - look->start) >> PAGE_SHIFT;
	bool looked = false;
	int ret;

	range->notifier_seq = mmu_interval_read_begin(range->notifier);
	mmap_read_lock(mm);
	if (rxe_odp_range_refused(mm, range->start, range->end))
		ret = -EFAULT;
	else if (range->default_flags &&
		 rxe_odp_range_uffd(mm, range->start, range->end))
		ret = rxe_odp_fault_uffd(mm, range);
	else
		ret = hmm_range_fault(range);
	if (!ret) {
		looked = rxe_odp_look(mm, look, range->notifier_seq);
		mutex_lock(&umem->umem_mutex);
		if (mmu_interval_read_retry(range->notifier,
					    range->notifier_seq)) {
			if (rxe_odp_inval_hit(odp, since, range->start,
					      range->end)) {
				mutex_unlock(&umem->umem_mutex);
				ret = -EBUSY;
			} else if (looked) {
				looked = !rxe_odp_inval_hit(odp, since,
							    look->start,
							    look->end);
			}
		}
	}
	mmap_read_unlock(mm);
	if (!looked)
		memset(look->hmm_pfns, 0, nlook * sizeof(*look->hmm_pfns));
	return ret;
}

/* The pfns of one lookup: on the stack for the few pages of a packet. */
#define RXE_ODP_STACK_PFNS	16

static void rxe_odp_pfns_read_only(struct hmm_range *range)
{
	unsigned long npfns = (range->end - range->start) >> PAGE_SHIFT;
	unsigned long i;

	for (i = 0; i < npfns; i++)
		range->hmm_pfns[i] &= ~HMM_PFN_WRITE;
}

/*
 * Look [va, va + len) of @ou up with hmm_range_fault(), faulting missing
 * pages in if @fault (for writing if @perm has ODP_WRITE_ALLOWED_BIT), and
 * the @look bytes after it without faulting (not in a hugetlb umem, whose
 * one page a fault maps is large already), and record the pages found in
 * pfn_list and dma_list. Process context; returns 0 or an error, with
 * nothing held.
 *
 * hmm_range_fault() fills a buffer of this call's own, whose valid entries
 * go to pfn_list under umem_mutex: another fault on the umem writing
 * pfn_list unlocked could otherwise store a pfn an invalidation has
 * already taken away. Once it has to fault a page, it faults the rest of
 * that page table's part of the range too: the look-ahead has to be a
 * lookup of its own.
 *
 * ib_umem_odp_map_dma_and_lock() retries without bound. Here a fault
 * fails with -EAGAIN, which the data path reports as an access error, once
 * 10 * RXE_ODP_FAULT_TIMEOUT_MS of wall time passed since it started,
 * waits included (measured in nanoseconds, not jiffies). Only an
 * invalidation of its own range makes it start again (see
 * rxe_odp_try_fault()). Every retry counts in odp_fault_retries.
 */
static int rxe_odp_fault_range(struct rxe_odp_umem *ou, u64 va, u64 len,
			       u64 look, u64 perm, bool fault)
{
	u64 deadline = ktime_get_ns() + 10 * RXE_ODP_FAULT_TIMEOUT_MS *
		       NSEC_PER_MSEC;
	unsigned long stack_pfns[RXE_ODP_STACK_PFNS];
	struct ib_umem_odp *umem = ou->umem;
	struct mm_struct *mm = umem->umem.owning_mm;
	u64 page_size = BIT_ULL(umem->page_shift);
	struct rxe_odp *odp = ou->odp;
	struct hmm_range range = {
		.notifier = &umem->notifier,
		.start = ALIGN_DOWN(va, page_size),
		.end = ALIGN(va + len, page_size),
		.hmm_pfns = stack_pfns,
	};
	struct hmm_range look_range = {
		.notifier = &umem->notifier,
		.start = range.end,
		.end = range.end,
	};
	unsigned long nfault = (range.end - range.start) >> PAGE_SHIFT;
	unsigned long npfns;
	unsigned int retries;
	int ret;

	if (fault)
		range.default_flags = HMM_PFN_REQ_FAULT |
			(perm & ODP_WRITE_ALLOWED_BIT ? HMM_PFN_REQ_WRITE : 0);
	if (umem->page_shift == PAGE_SHIFT && va + len + look > range.end)
		look_range.end = min_t(u64, PAGE_ALIGN(va + len + look),
				       ib_umem_end(umem));
	npfns = (look_range.end - range.start) >> PAGE_SHIFT;
	if (rxe_odp_fail_alloc())
		return -ENOMEM;
	if (npfns > ARRAY_SIZE(stack_pfns)) {
		range.hmm_pfns = kvmalloc_array(npfns, sizeof(*range.hmm_pfns),
						GFP_KERNEL);
		/* the look-ahead is not worth failing an access for */
		if (!range.hmm_pfns && nfault <= ARRAY_SIZE(stack_pfns)) {
			look_range.end = range.end;
			range.hmm_pfns = stack_pfns;
		}
		if (!range.hmm_pfns)
			return -ENOMEM;
	}
	look_range.hmm_pfns = range.hmm_pfns + nfault;
	if (!mmget_not_zero(mm)) {
		ret = -EFAULT;
		goto out_free;
	}

	for (retries = 0;;) {
		ret = rxe_odp_try_fault(odp, umem, &range, &look_range);
		if (ret != -EBUSY && ret != RXE_ODP_LOOK_AGAIN)
			break;
		if (ktime_get_ns() >= deadline) {
			ret = -EAGAIN;
			break;
		}
		if (ret == RXE_ODP_LOOK_AGAIN) {
			cond_resched();
			continue;
		}
		rxe_counter_inc(odp->rxe, RXE_CNT_ODP_FAULT_RETRIES);
		/*
		 * A range that invalidations keep hitting: sleep between
		 * tries, so that a fault worker (high priority) cannot spin
		 * on a CPU for the whole budget.
		 */
		if (retries++ < RXE_ODP_FAULT_SPIN_RETRIES)
			cond_resched();
		else
			usleep_range(20, 100);
	}
	if (!ret) {
		/*
		 * Read faults record the look-ahead read-only: a page mapped
		 * for writing is dirtied when it is unmapped, which would
		 * keep MADV_FREE pages nobody wrote from being discarded.
		 */
		if (!(perm & ODP_WRITE_ALLOWED_BIT))
			rxe_odp_pfns_read_only(&look_range);
		spin_lock_bh(&ou->map_lock);
		ret = rxe_odp_set_pages(ou, &range);
		if (!ret)
			ret = rxe_odp_set_pages(ou, &look_range);
		spin_unlock_bh(&ou->map_lock);
		mutex_unlock(&umem->umem_mutex);
	}
	/*
	 * Not mmput(): the last reference tears the mm down, which is the
	 * business of its own process, not of a fault or a prefetch.
	 */
	mmput_async(mm);
out_free:
	if (range.hmm_pfns != stack_pfns)
		kvfree(range.hmm_pfns);
	return ret;
}

/*
 * Make [va, va + len) of @ou present with read (and, if @write, write)
 * permission; if it was not, also record what of the @look bytes after it
 * is present in the CPU page tables. Process context; returns 1 if pages
 * had to be faulted in, 0 if they all were present, or an error.
 */
static int rxe_odp_map_range(struct rxe_odp_umem *ou, u64 va, u64 len,
			     u64 look, bool write)
{
	u64 perm = ODP_READ_ALLOWED_BIT | (write ? ODP_WRITE_ALLOWED_BIT : 0);
	bool mapped;
	int ret;

	if (write && !ou->umem->umem.writable)
		return -EPERM;
	spin_lock_bh(&ou->map_lock);
	mapped = rxe_odp_range_mapped(ou, va, len, perm);
	spin_unlock_bh(&ou->map_lock);
	if (mapped)
		return 0;
	ret = rxe_odp_fault_range(ou, va, len, look, perm, true);
	return ret < 0 ? ret : 1;
}

/*
 * Map the part of [va, end) that one umem covers, *@bytes long, as @advice
 * says: fault it in for reading or writing, or (PREFETCH_NO_FAULT) record
 * only the pages that are present. A fault also looks at what the umem
 * covers of [end, look_end) (see RXE_ODP_LOOK_AHEAD). Process context;
 * returns as rxe_odp_map_range().
 */
static int rxe_odp_map_chunk(struct rxe_odp *odp, u64 va, u64 end,
			     u64 look_end,
			     enum ib_uverbs_advise_mr_advice advice,
			     u64 *bytes)
{
	struct rxe_odp_umem *ou;
	u64 covered;
	int ret;

	ou = rxe_odp_get_umem(odp, va, look_end, &covered);
	if (IS_ERR(ou))
		return PTR_ERR(ou);
	*bytes = min(covered, end - va);
	if (advice == IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT)
		ret = rxe_odp_fault_range(ou, va, *bytes, 0,
					  ODP_READ_ALLOWED_BIT, false);
	else
		ret = rxe_odp_map_range(ou, va, *bytes, covered - *bytes,
					advice ==
					IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE);
	rxe_odp_put_umem(ou);
	return ret;
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

static void rxe_odp_copy_locked(struct rxe_odp_umem *ou, u64 va, void *addr,
				u64 len, enum rxe_mr_copy_dir dir)
{
	struct ib_umem_odp *umem = ou->umem;
	unsigned int shift = umem->page_shift;

	lockdep_assert_held(&ou->map_lock);

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

/*
 * Copy between @addr and [va, va + len) of @ou, under map_lock, if all of
 * it is mapped with the permission the direction needs; -EWOULDBLOCK if
 * it is not. Any context, under rcu_read_lock() (rxe_odp_find_umem()).
 */
static int rxe_odp_copy_mapped(struct rxe_odp_umem *ou, u64 va, void *addr,
			       u64 len, enum rxe_mr_copy_dir dir)
{
	bool write = dir == RXE_TO_MR_OBJ;
	u64 perm = ODP_READ_ALLOWED_BIT | (write ? ODP_WRITE_ALLOWED_BIT : 0);

	/* the root's: a child's umem may be gone until map_lock says not */
	if (write && !ou->odp->umem->umem.writable)
		return -EPERM;
	spin_lock_bh(&ou->map_lock);
	if (!rxe_odp_range_mapped(ou, va, len, perm)) {
		spin_unlock_bh(&ou->map_lock);
		return -EWOULDBLOCK;
	}
	rxe_odp_copy_locked(ou, va, addr, len, dir);
	spin_unlock_bh(&ou->map_lock);
	return 0;
}

/* The user virtual address of @iova in an ODP MR. */
static u64 rxe_odp_va(struct rxe_mr *mr, u64 iova)
{
	return iova - mr->ibmr.iova + mr->odp->start;
}

static void rxe_odp_fault_put(struct rxe_odp_fault *f)
{
	if (refcount_dec_and_test(&f->ref))
		kfree(f);
}

/* Whether @f's last fault was for the access that starts at @start of @mr. */
static bool rxe_odp_fault_is_key(struct rxe_odp_fault *f, struct rxe_mr *mr,
				 u64 start)
{
	lockdep_assert_held(&f->lock);
	return f->key_lkey == mr->lkey && f->key_va == start;
}

/*
 * The faults of one packet or WQE: the task tries again right after each
 * of them completes. A task that comes back later than this found its
 * packet gone (flushed, reset) and a new one in its place.
 */
#define RXE_ODP_FAULT_GAP_NS	NSEC_PER_SEC

/*
 * The access that starts at @start of @mr found [va, va + len) missing:
 * queue the fault of that range (and of up to @span bytes from @va, which
 * the access goes on to) and return -EWOULDBLOCK, for the task to stop
 * until the fault work runs it again. -EFAULT if this very access's last
 * fault failed, or if the packet has been faulting for longer than the
 * fault budget since its first fault completed (invalidations keep taking
 * the pages away again). Any context.
 */
static int rxe_odp_fault_queue(struct rxe_odp_fault *f, struct rxe_mr *mr,
			       u64 start, u64 va, u64 len, u64 span,
			       bool write)
{
	u64 now = ktime_get_ns();
	unsigned long flags;
	int ret = -EWOULDBLOCK;

	/* a kernel QP, which has no ODP MRs */
	if (!f)
		return -EFAULT;
	spin_lock_irqsave(&f->lock, flags);
	if (!f->task) {
		ret = -EFAULT;
		goto out;
	}
	/* the task ran again meanwhile (a timer): the fault is on its way */
	if (f->busy)
		goto out;
	if (f->keyed && now - f->key_done > RXE_ODP_FAULT_GAP_NS)
		WRITE_ONCE(f->keyed, false);
	if (f->keyed) {
		if ((f->key_err && rxe_odp_fault_is_key(f, mr, start)) ||
		    (f->key_deadline && now >= f->key_deadline)) {
			WRITE_ONCE(f->keyed, false);
			ret = -EFAULT;
			goto out;
		}
	} else {
		WRITE_ONCE(f->keyed, true);
		f->key_deadline = 0;
	}
	f->key_lkey = mr->lkey;
	f->key_va = start;
	f->key_err = 0;
	/* the caller's reference keeps it from 0 */
	rxe_get(mr);
	f->mr = mr;
	f->va = va;
	f->len = len;
	f->span = max(span, len);
	f->write = write;
	f->busy = true;
	refcount_inc(&f->ref);
	queue_work(rxe_odp_fault_wq, &f->work);
out:
	spin_unlock_irqrestore(&f->lock, flags);
	return ret;
}

/* From rxe_odp_fault_progress(): the packet @f faulted for is done. */
void __rxe_odp_fault_progress(struct rxe_odp_fault *f)
{
	unsigned long flags;

	spin_lock_irqsave(&f->lock, flags);
	WRITE_ONCE(f->keyed, false);
	spin_unlock_irqrestore(&f->lock, flags);
}

/*
 * Beyond what it faults in, a data-path fault records the pages of the
 * next RXE_ODP_LOOK_AHEAD bytes that the CPU page tables have, in the same
 * umem. An invalidation that left the PTEs present (NUMA balancing's scan
 * over pages change_prot_numa() leaves alone, an mprotect() that changed
 * the VMA but kept its pages readable) then costs one fault per this
 * much, not one per packet or message, and so do pages the process has
 * touched itself. Nothing is faulted in or allocated for it.
 */
#define RXE_ODP_LOOK_AHEAD	SZ_2M

/*
 * Map [va, va + len) of @odp chunk by chunk for the data path, and look
 * up to @look bytes further, counting the chunks that had to be faulted
 * in (port counter), and adding to *@pages the pages of those chunks (the
 * MR's statistics).
 */
static int rxe_odp_fault_in(struct rxe_odp *odp, u64 va, u64 len, u64 look,
			    bool write, u64 *pages)
{
	enum ib_uverbs_advise_mr_advice advice = write ?
		IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE :
		IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH;
	u64 end = va + len;
	u64 look_end = end + min(look, odp->end > end ? odp->end - end : 0);

	while (va < end) {
		u64 bytes;
		int ret;

		ret = rxe_odp_map_chunk(odp, va, end, look_end, advice, &bytes);
		if (ret < 0)
			return ret;
		if (ret) {
			rxe_counter_inc(odp->rxe, RXE_CNT_ODP_FAULTS);
			*pages += rxe_odp_stat_pages(odp, va, bytes);
		}
		va += bytes;
	}
	return 0;
}

/*
 * rxe_odp_fault_wq: a data-path fault. It maps the access's span if it
 * can (the rest of an SGE or of an RDMA WRITE: one fault for many
 * packets) and what is present after it, else just what the access
 * needs, then runs the task again, which copies if the pages are still
 * there.
 */
static void rxe_odp_fault_work(struct work_struct *work)
{
	struct rxe_odp_fault *f = container_of(work, struct rxe_odp_fault,
					       work);
	/* queued with the fields set and not changed until busy is cleared */
	struct rxe_mr *mr = f->mr;
	unsigned long flags;
	int err = -EFAULT;
	u64 pages = 0;

	if (READ_ONCE(mr->state) == RXE_MR_STATE_VALID) {
		err = rxe_odp_fault_in(mr->odp, f->va, f->span,
				       RXE_ODP_LOOK_AHEAD, f->write, &pages);
		if (err && f->span > f->len)
			err = rxe_odp_fault_in(mr->odp, f->va, f->len, 0,
					       f->write, &pages);
		/* a fault the access failed on is not one that was handled */
		if (!err && pages) {
			rxe_odp_stat_add(mr->odp, RXE_ODP_STAT_FAULTS, pages);
			rxe_odp_stat_add(mr->odp, RXE_ODP_STAT_FAULTS_HANDLED,
					 1);
		}
	}

	spin_lock_irqsave(&f->lock, flags);
	f->busy = false;
	f->mr = NULL;
	f->key_err = err;
	f->key_done = ktime_get_ns();
	/* the budget of the packet's faults starts once the first is done */
	if (!f->key_deadline)
		f->key_deadline = f->key_done + 10ULL *
				  RXE_ODP_FAULT_TIMEOUT_MS * NSEC_PER_MSEC;
	if (f->task)
		rxe_sched_task(f->task);
	spin_unlock_irqrestore(&f->lock, flags);
	rxe_put(mr);
	rxe_odp_fault_put(f);
}

/* The fault of @task, a user QP's; NULL without memory. */
struct rxe_odp_fault *rxe_odp_fault_alloc(struct rxe_task *task)
{
	struct rxe_odp_fault *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return NULL;
	INIT_WORK(&f->work, rxe_odp_fault_work);
	refcount_set(&f->ref, 1);
	spin_lock_init(&f->lock);
	f->task = task;
	return f;
}

/*
 * The QP is being destroyed: its task is no longer run from the fault,
 * which may go on (the MR waits for it), but does not hold the QP. Before
 * the task is cleaned up, which the fault must then not schedule again.
 */
void rxe_odp_fault_detach(struct rxe_odp_fault *f)
{
	unsigned long flags;

	if (!f)
		return;
	spin_lock_irqsave(&f->lock, flags);
	f->task = NULL;
	spin_unlock_irqrestore(&f->lock, flags);
	rxe_odp_fault_put(f);
}

/* Beyond what an access needs, a data-path fault maps at most this much. */
#define RXE_ODP_FAULT_AHEAD	SZ_2M

/*
 * Copy between @addr and [iova, iova + length) of an ODP MR if its pages
 * are mapped (with write permission when copying into the MR); @span (at
 * least @length) is how far from @iova the operation goes on. Any
 * context: a page that is missing is faulted in by @fault's work, and this
 * returns -EWOULDBLOCK, having copied part of the range perhaps, for the
 * task to copy again when it runs next. Whatever else made the access fail
 * (no VMA, no permission, the fault budget, memory for a child), it is
 * -EFAULT: an access error for the work request (IB_WC_LOC_PROT_ERR on
 * the requester, a NAK for remote access).
 */
int rxe_odp_mr_copy(struct rxe_mr *mr, u64 iova, void *addr, int length,
		    enum rxe_mr_copy_dir dir, struct rxe_odp_fault *fault,
		    u64 span)
{
	struct rxe_odp *odp = mr->odp;
	u64 va, start, end, ahead;
	int err = 0;

	if (length < 0 || mr_check_range(mr, iova, length))
		return -EFAULT;

	start = rxe_odp_va(mr, iova);
	end = start + length;
	rcu_read_lock();
	for (va = start; va < end;) {
		struct rxe_odp_umem *ou = rxe_odp_find_umem(odp, va);
		u64 bytes;

		if (IS_ERR(ou)) {
			err = PTR_ERR(ou);
			break;
		}
		bytes = rxe_odp_chunk_bytes(odp, va, end);
		err = rxe_odp_copy_mapped(ou, va, addr, bytes, dir);
		if (err)
			break;
		va += bytes;
		addr += bytes;
	}
	rcu_read_unlock();
	if (!err)
		return 0;
	if (err != -EWOULDBLOCK)
		return -EFAULT;
	/* span stops at the MR's end and RXE_ODP_FAULT_AHEAD past end */
	ahead = min3(max_t(u64, span, length) - length,
		     odp->end > end ? odp->end - end : 0,
		     (u64)RXE_ODP_FAULT_AHEAD);
	return rxe_odp_fault_queue(fault, mr, start, va, end - va,
				   end + ahead - va, dir == RXE_TO_MR_OBJ);
}

/*
 * For an atomic operation: the kernel address of the aligned 8 bytes at
 * @iova if they are mapped for writing, with the umem that maps them
 * locked in *@locked (map_lock, inside an RCU read section, as for a
 * copy), so that the page cannot be invalidated until
 * rxe_odp_unlock(*@locked). Any context. Returns NULL, with nothing
 * locked, when the address is not 8-byte aligned, and an ERR_PTR() when
 * the memory cannot be accessed: -EWOULDBLOCK while @fault's work faults
 * the page in (see rxe_odp_mr_copy()).
 */
u64 *rxe_odp_atomic_vaddr_lock(struct rxe_mr *mr, u64 iova,
			       struct rxe_odp_umem **locked,
			       struct rxe_odp_fault *fault)
{
	u64 perm = ODP_READ_ALLOWED_BIT | ODP_WRITE_ALLOWED_BIT;
	struct rxe_odp *odp = mr->odp;
	struct rxe_odp_umem *ou;
	struct ib_umem_odp *umem;
	unsigned long idx;
	u64 va, *kva;

	if (mr_check_range(mr, iova, sizeof(u64)))
		return ERR_PTR(-EFAULT);
	va = rxe_odp_va(mr, iova);
	if (va & (sizeof(u64) - 1))
		return NULL;
	if (!odp->umem->umem.writable)
		return ERR_PTR(-EFAULT);

	rcu_read_lock();
	ou = rxe_odp_find_umem(odp, va);
	if (IS_ERR(ou)) {
		rcu_read_unlock();
		if (PTR_ERR(ou) != -EWOULDBLOCK)
			return ERR_PTR(-EFAULT);
		goto fault;
	}
	spin_lock_bh(&ou->map_lock);
	if (!rxe_odp_range_mapped(ou, va, sizeof(u64), perm)) {
		rxe_odp_unlock(ou);
		goto fault;
	}

	umem = ou->umem;
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

fault:
	return ERR_PTR(rxe_odp_fault_queue(fault, mr, va, va, sizeof(u64),
					   sizeof(u64), true));
}

void rxe_odp_unlock(struct rxe_odp_umem *locked)
	__releases(&locked->map_lock) __releases(RCU)
{
	spin_unlock_bh(&locked->map_lock);
	rcu_read_unlock();
}

int rxe_odp_init(void)
{
	rxe_odp_wq = alloc_workqueue("rxe_odp", WQ_UNBOUND, 0);
	if (!rxe_odp_wq)
		return -ENOMEM;
	rxe_odp_fault_wq = alloc_workqueue("rxe_odp_fault",
					   WQ_UNBOUND | WQ_HIGHPRI, 0);
	if (!rxe_odp_fault_wq) {
		destroy_workqueue(rxe_odp_wq);
		return -ENOMEM;
	}
	rxe_odp_fail_init();
	return 0;
}

void rxe_odp_exit(void)
{
	rxe_odp_fail_exit();
	destroy_workqueue(rxe_odp_fault_wq);
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
	u64 done = 0;
	int ret;

	while (done < sge[i].length) {
		struct rxe_odp *odp;
		u64 va, end, bytes;

		if (!rxe_odp_prefetch_mr_alive(sge, num_sge, i))
			return -ENOENT;
		if (sync && fatal_signal_pending(current))
			return -EINTR;
		odp = sge[i].mr->odp;
		va = rxe_odp_va(sge[i].mr, sge[i].iova) + done;
		end = va + sge[i].length - done;
		ret = rxe_odp_map_chunk(odp, va, end, end, advice, &bytes);
		if (ret < 0)
			return ret;
		rxe_counter_inc(odp->rxe, RXE_CNT_ODP_PREFETCHES);
		rxe_odp_stat_add(odp, RXE_ODP_STAT_PREFETCH,
				 rxe_odp_stat_pages(odp, va, bytes));
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

static const char * const rxe_odp_stat_names[RXE_ODP_STAT_MAX] = {
	[RXE_ODP_STAT_FAULTS] = "page_faults",
	[RXE_ODP_STAT_FAULTS_HANDLED] = "page_faults_handled",
	[RXE_ODP_STAT_INVALIDATIONS] = "page_invalidations",
	[RXE_ODP_STAT_INVALIDATIONS_HANDLED] = "page_invalidations_handled",
	[RXE_ODP_STAT_PREFETCH] = "page_prefetch",
};

/*
 * ib_device_ops.fill_stat_mr_entry: the statistics of an ODP MR for
 * `rdma statistic show mr`; nothing for a pinned MR. The core holds the
 * MR's restrack entry, which dereg waits for before it destroys the MR.
 */
int rxe_odp_fill_stat_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr)
{
	struct rxe_odp *odp = to_rmr(ibmr)->odp;
	struct nlattr *table;
	int i;

	if (!odp)
		return 0;
	table = nla_nest_start(msg, RDMA_NLDEV_ATTR_STAT_HWCOUNTERS);
	if (!table)
		return -EMSGSIZE;
	for (i = 0; i < RXE_ODP_STAT_MAX; i++) {
		int err = rdma_nl_stat_hwcounter_entry(msg,
						       rxe_odp_stat_names[i],
						       atomic64_read(&odp->stats[i]));

		if (err) {
			nla_nest_cancel(msg, table);
			return err;
		}
	}
	nla_nest_end(msg, table);
	return 0;
}
