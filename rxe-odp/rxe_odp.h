/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * On-Demand Paging for rxe memory regions.
 */

#ifndef RXE_ODP_H
#define RXE_ODP_H

#include <linux/atomic.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <rdma/ib_umem_odp.h>

/*
 * Implicit ODP MRs, and explicit ones without IB_ACCESS_HUGETLB, are
 * served by child umems of up to this size, created by the first fault or
 * prefetch in their range and freed again once nothing of them is mapped
 * (see rxe_odp_get_umem()).
 */
#define RXE_ODP_CHILD_SHIFT	26
/*
 * A fault that invalidations keep overtaking fails after ten times this of
 * wall time (see rxe_odp_fault_range()): hmm users allow
 * HMM_RANGE_DEFAULT_TIMEOUT (1 s) for -EBUSY, rxe emulated in a VM needs more.
 */
#define RXE_ODP_FAULT_TIMEOUT_MS	1000
/* retries of a fault that only yield the CPU; later ones sleep a little */
#define RXE_ODP_FAULT_SPIN_RETRIES	8
/* invalidations remembered per MR for rxe_odp_fault_range() */
#define RXE_ODP_INVAL_LOG		16

struct rxe_dev;
struct rxe_mr;
struct rxe_odp;
struct rxe_task;

/*
 * A umem that maps part of an ODP MR (a child, or a hugetlb MR's own), and
 * the accesses that use it.
 */
struct rxe_odp_umem {
	struct ib_umem_odp	*umem;
	struct rxe_odp		*odp;
	/*
	 * A child: one reference for odp->children, one for each fault or
	 * prefetch using it (they sleep); once it drops to 0 the child is
	 * out of the xarray and its umem released (MR destruction releases
	 * children at 1: no fault or prefetch is left). The data path, which
	 * does not sleep, takes no reference: it finds and uses a child
	 * under RCU, and checks @dead under map_lock. Unused for a hugetlb
	 * MR's umem.
	 */
	refcount_t		users;
	/*
	 * Orders the data path, which copies under it in softirq context
	 * too, with what changes dma_list: rxe_odp_set_pages() records
	 * pages with it held, and the invalidation callback revokes a range
	 * under it ([revoke_start, revoke_end) counts as unmapped) before
	 * it unmaps the range without it. Both also hold umem_mutex. The
	 * release of a child sets @dead under it (without umem_mutex).
	 */
	spinlock_t		map_lock;
	u64			revoke_start;
	u64			revoke_end;
	/*
	 * Set under map_lock before a child's umem is released: an access
	 * that found the child under RCU before it was unlinked sees nothing
	 * mapped from then on (until then the umem is whole), and the struct
	 * itself outlives the access's RCU read section (kfree_rcu()).
	 */
	bool			dead;
	/* what its page arrays count against rxe_odp_charge()'s bound */
	long			cost;
	/* on a list of unlinked children waiting to be released */
	struct list_head	unused;
	struct rcu_head		rcu;
};

/*
 * Per-MR statistics for `rdma statistic show mr`, with mlx5's names: pages
 * (PAGE_SIZE ones, for hugetlb MRs too), and the events that handled them.
 */
enum rxe_odp_stat {
	RXE_ODP_STAT_FAULTS,		/* pages data-path faults mapped */
	RXE_ODP_STAT_FAULTS_HANDLED,	/* data-path faults */
	RXE_ODP_STAT_INVALIDATIONS,	/* pages invalidations unmapped */
	RXE_ODP_STAT_INVALIDATIONS_HANDLED, /* invalidations that unmapped */
	RXE_ODP_STAT_PREFETCH,		/* pages of prefetched ranges */
	RXE_ODP_STAT_MAX,
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
	 * RXE_ODP_CHILD_SHIFT from the chunk of @start on (an MR within one
	 * chunk has its child at index 0, in the xarray's head), looked up
	 * under RCU
	 */
	struct xarray		children;
	/* serializes adding children to and removing them from the xarray */
	struct mutex		children_lock;
	/*
	 * Frees the children that invalidations left without pages, and
	 * runs again a second later while one of them is still in use.
	 */
	struct delayed_work	reap_work;
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
	atomic64_t		stats[RXE_ODP_STAT_MAX];
};

/*
 * The page fault of one QP task (requester, responder or completer). The
 * data path never faults: an access that finds a page missing queues this
 * work, which faults the range in on rxe_odp_fault_wq, and the task stops
 * at that access (its packet or WQE kept) until the work schedules it
 * again.
 *
 * It is refcounted apart from the QP: a fault in progress holds it and the
 * MR, not the QP, so that destroying the QP never waits for a fault (which
 * may wait on a FUSE server for ever), and dereg of the MR waits for it.
 */
struct rxe_odp_fault {
	struct work_struct	work;
	refcount_t		ref;
	/* protects all below */
	spinlock_t		lock;
	/* the task to run once the fault is resolved; NULL once detached */
	struct rxe_task		*task;
	/* a fault is queued or running, for @mr with a reference */
	bool			busy;
	struct rxe_mr		*mr;
	u64			va;
	u64			len;
	/* bytes from @va the access goes on to: faulted in too if possible */
	u64			span;
	bool			write;
	/*
	 * The faults of one packet or WQE, from the first one until the
	 * task gets past it (rxe_odp_fault_progress()): the access the last
	 * fault was for and its error, when it completed, and when the
	 * packet stops being worth faulting for.
	 */
	bool			keyed;
	u32			key_lkey;
	u64			key_va;
	int			key_err;
	u64			key_done;
	u64			key_deadline;
};

/* Whether the task waits for a fault (a packet of the QP may be held). */
static inline bool rxe_odp_fault_busy(struct rxe_odp_fault *f)
{
	return f && READ_ONCE(f->busy);
}

void __rxe_odp_fault_progress(struct rxe_odp_fault *f);

/* The task got past the packet or WQE it faulted for, if any. */
static inline void rxe_odp_fault_progress(struct rxe_odp_fault *f)
{
	if (f && unlikely(READ_ONCE(f->keyed)))
		__rxe_odp_fault_progress(f);
}

#endif /* RXE_ODP_H */
