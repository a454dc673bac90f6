/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * On-Demand Paging for rxe memory regions.
 */

#ifndef RXE_ODP_H
#define RXE_ODP_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <rdma/ib_umem_odp.h>

/*
 * Implicit ODP MRs, and explicit ones without IB_ACCESS_HUGETLB, are
 * served by child umems of up to this size, created by the first access
 * to their range and freed again once nothing of them is mapped (see
 * rxe_odp_get_umem()).
 */
#define RXE_ODP_CHILD_SHIFT	26
/*
 * A fault that invalidations keep overtaking fails after ten times this of
 * wall time (see rxe_odp_fault_lock()): hmm users allow
 * HMM_RANGE_DEFAULT_TIMEOUT (1 s) for -EBUSY, rxe emulated in a VM needs more.
 */
#define RXE_ODP_FAULT_TIMEOUT_MS	1000
/* invalidations remembered per MR for rxe_odp_fault_lock() */
#define RXE_ODP_INVAL_LOG		16

struct rxe_dev;
struct rxe_odp;

/*
 * A umem that maps part of an ODP MR (a child, or a hugetlb MR's own), and
 * the accesses that use it.
 */
struct rxe_odp_umem {
	struct ib_umem_odp	*umem;
	struct rxe_odp		*odp;
	/*
	 * A child: one reference for odp->children, one for each access or
	 * prefetch using it; once it drops to 0 the child is out of the
	 * xarray and its umem released. Unused for a hugetlb MR's umem.
	 */
	refcount_t		users;
	/* what its page arrays count against the bound of all children's */
	long			cost;
	/* on a list of unlinked children waiting to be released */
	struct list_head	unused;
	struct rcu_head		rcu;
};

/* The ODP state of one MR; mr->odp is NULL for a pinned MR. */
struct rxe_odp {
	struct rxe_dev		*rxe;
	/*
	 * hugetlb MR: its umem; otherwise a root that is never mapped itself
	 * (umem->is_implicit_odp) and anchors the children
	 */
	struct ib_umem_odp	*umem;
	/* the user addresses [start, end) the MR covers */
	u64			start;
	u64			end;
	/*
	 * struct rxe_odp_umem of the children, indexed by address >>
	 * RXE_ODP_CHILD_SHIFT, looked up under RCU
	 */
	struct xarray		children;
	/* serializes adding children to and removing them from the xarray */
	struct mutex		children_lock;
	/* frees the children that invalidations left without pages */
	struct work_struct	reap_work;
	/* a hugetlb MR's umem, which is not a child */
	struct rxe_odp_umem	whole;
	/*
	 * The ranges of the last RXE_ODP_INVAL_LOG invalidations of the
	 * MR's umems, the nr_invals-th one at inval_log[nr_invals %
	 * RXE_ODP_INVAL_LOG]: a fault that an invalidation overtook starts
	 * again only if one of them hit its own range.
	 */
	spinlock_t		inval_lock;
	u64			nr_invals;
	struct {
		u64		start;
		u64		end;
	} inval_log[RXE_ODP_INVAL_LOG];
};

#endif /* RXE_ODP_H */
