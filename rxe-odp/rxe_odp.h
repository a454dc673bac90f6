/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * On-Demand Paging for rxe memory regions.
 */

#ifndef RXE_ODP_H
#define RXE_ODP_H

#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/xarray.h>
#include <rdma/ib_umem_odp.h>

/*
 * Implicit ODP MRs, and explicit ones without IB_ACCESS_HUGETLB, are
 * served by child umems of this size, created on first access (see
 * rxe_odp_child()).
 */
#define RXE_ODP_CHILD_SHIFT	26
/* at most this many children (4096 x 64 MiB = 256 GiB of address space) */
#define RXE_ODP_MAX_CHILDREN	4096
#define RXE_ODP_MAX_CHILDREN_SPAN	((u64)RXE_ODP_MAX_CHILDREN << \
					 RXE_ODP_CHILD_SHIFT)
/*
 * How long a fault may spend in attempts that invalidations of its range
 * overtook before the access fails (see rxe_odp_fault_lock()); the
 * HMM_RANGE_DEFAULT_TIMEOUT that hmm users allow for -EBUSY.
 */
#define RXE_ODP_FAULT_TIMEOUT_MS	1000
/* invalidations remembered per MR for rxe_odp_fault_lock() */
#define RXE_ODP_INVAL_LOG		16

struct rxe_dev;

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
	/* child umems indexed by address >> CHILD_SHIFT */
	struct xarray		children;
	/* serializes the creation of children, protects nr_children */
	struct mutex		children_lock;
	unsigned int		nr_children;
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
