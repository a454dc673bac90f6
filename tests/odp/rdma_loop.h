/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A pair of connected RC QPs on one RDMA device (rxe0 on lo in the bench),
 * for tests that drive RDMA against memory they manipulate meanwhile.
 */
#ifndef RDMA_LOOP_H
#define RDMA_LOOP_H

#define RDMA_LOOP_MAX_SGE	4

#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

struct rdma_loop {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	/* qp[0] is the requester, qp[1] its responder; qp[i] uses cq[i] */
	struct ibv_cq *cq[2];
	struct ibv_qp *qp[2];
	union ibv_gid gid;
	int gid_index;
	/* IBV_QPT_RC (default) or IBV_QPT_UC, used by rdma_loop_connect() */
	enum ibv_qp_type qp_type;
	char dev_name[64];
};

/*
 * Open the device named by RXE_ODP_DEV (default rxe0), GID RXE_ODP_GID (1);
 * connected QPs use the path MTU RXE_ODP_MTU (default 4096).
 */
int rdma_loop_open(struct rdma_loop *lp);
/* (Re)create and connect the QP pair: after an error completion the QPs
 * are in the error state and a test that goes on needs new ones.
 */
int rdma_loop_connect(struct rdma_loop *lp);
void rdma_loop_close(struct rdma_loop *lp);
/*
 * Another QP pair (with CQs of @cqe entries) on the device and PD of
 * @base; rdma_loop_close_pair() destroys it and leaves them open.
 */
int rdma_loop_open_pair(struct rdma_loop *lp, const struct rdma_loop *base,
			int cqe);
void rdma_loop_close_pair(struct rdma_loop *lp);

struct ibv_mr *rdma_loop_reg(struct rdma_loop *lp, void *addr, size_t len,
			     int extra_access);

/*
 * Post one operation on qp[0] and wait for its completion: returns the
 * work completion status (IBV_WC_SUCCESS...), or -1 on a timeout or a
 * verbs error (errno set). On UC, rdma_loop_write() also waits until the
 * responder has handled the WRITE (a zero-length SEND behind it).
 */
int rdma_loop_write(struct rdma_loop *lp, struct ibv_mr *lmr, void *laddr,
		    struct ibv_mr *rmr, void *raddr, uint32_t len);
int rdma_loop_read(struct rdma_loop *lp, struct ibv_mr *lmr, void *laddr,
		   struct ibv_mr *rmr, void *raddr, uint32_t len);
int rdma_loop_fetch_add(struct rdma_loop *lp, struct ibv_mr *lmr,
			uint64_t *result, struct ibv_mr *rmr, uint64_t *target,
			uint64_t add);
int rdma_loop_cmp_swap(struct rdma_loop *lp, struct ibv_mr *lmr,
		       uint64_t *result, struct ibv_mr *rmr, uint64_t *target,
		       uint64_t compare, uint64_t swap);
/* SEND from laddr on qp[0] into a receive posted at raddr on qp[1]. */
int rdma_loop_send(struct rdma_loop *lp, struct ibv_mr *lmr, void *laddr,
		   struct ibv_mr *rmr, void *raddr, uint32_t len);

/*
 * Stream @count RDMA WRITEs or READs (@op) of @msg bytes on qp[0], keeping
 * up to @depth in flight; message i uses offset (i * msg) % @span on both
 * sides. Returns 0, a failed completion's status, or -1.
 */
int rdma_loop_stream(struct rdma_loop *lp, enum ibv_wr_opcode op,
		     struct ibv_mr *lmr, char *laddr, struct ibv_mr *rmr,
		     char *raddr, uint32_t msg, size_t span, unsigned int count,
		     unsigned int depth);

/*
 * RDMA WRITE or READ (@op) between [laddr, laddr + len) and [raddr, raddr +
 * len) in messages of @msg bytes (len a multiple of it), one at a time:
 * 0, the status of the first failed completion, or -1.
 */
int rdma_loop_span(struct rdma_loop *lp, enum ibv_wr_opcode op,
		   struct ibv_mr *lmr, char *laddr, struct ibv_mr *rmr,
		   char *raddr, size_t len, uint32_t msg);

/*
 * rdma_loop_span() over bytes [off, off + len) of @lbuf and @rbuf (same
 * offsets on both sides): WRITE @seed's pattern (pattern.h, by offset)
 * there, or READ the range back into @lbuf after filling it with 0xa5.
 */
int rdma_loop_write_pattern(struct rdma_loop *lp, struct ibv_mr *lmr,
			    char *lbuf, struct ibv_mr *rmr, char *rbuf,
			    size_t off, size_t len, uint32_t msg,
			    uint64_t seed);
int rdma_loop_read_back(struct rdma_loop *lp, struct ibv_mr *lmr, char *lbuf,
			struct ibv_mr *rmr, char *rbuf, size_t off, size_t len,
			uint32_t msg);

/* Post one WR on qp[0] (signaled) and wait: status or -1. */
int rdma_loop_post_wait(struct rdma_loop *lp, struct ibv_send_wr *wr);
/*
 * On UC, wait until the WRITEs posted before have been placed (a SEND
 * behind them is received); 0 at once on RC, whose completion says so.
 */
int rdma_loop_placed(struct rdma_loop *lp);

/*
 * A port counter of the device (odp_faults, odp_invalidations...). A
 * counter that cannot be read aborts the process (the test fails).
 */
long long rdma_loop_counter(struct rdma_loop *lp, const char *name);

/*
 * A statistic of one MR (page_faults, page_invalidations...) as iproute2's
 * `rdma statistic show mr` reports it: -1 if the MR has no such statistic,
 * -2 if the MR is not listed (or `rdma` failed; it needs CAP_NET_ADMIN).
 */
long long rdma_loop_mr_stat(struct rdma_loop *lp, struct ibv_mr *mr,
			    const char *name);

#endif
