// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Shared receive queues: a receive ring mapped like a QP's; resizing it
 * (IBV_SRQ_MAX_WR) makes the kernel hand out a new ring to map.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rxe_odp.h"

/* Set up an SRQ the kernel has just created; destroys it if that fails. */
static int srq_setup(struct rxe_odp_srq *srq, int cmd_fd,
		     const struct rxe_odp_create_srq_resp *resp,
		     unsigned int max_sge)
{
	int ret;

	ret = rxe_odp_ring_map(&srq->rq.ring, cmd_fd, &resp->drv.mi);
	if (ret) {
		ibv_cmd_destroy_srq(&srq->vsrq.srq);
		return ret;
	}

	srq->rq.max_sge = max_sge;
	pthread_spin_init(&srq->rq.lock, PTHREAD_PROCESS_PRIVATE);
	return 0;
}

struct ibv_srq *rxe_odp_create_srq(struct ibv_pd *pd,
				   struct ibv_srq_init_attr *attr)
{
	struct rxe_odp_create_srq_resp resp = {};
	struct ibv_create_srq cmd = {};
	struct rxe_odp_srq *srq;
	int ret;

	srq = calloc(1, sizeof(*srq));
	if (!srq)
		return NULL;

	ret = ibv_cmd_create_srq(pd, &srq->vsrq.srq, attr, &cmd, sizeof(cmd),
				 &resp.ibv_resp, sizeof(resp));
	if (!ret)
		ret = srq_setup(srq, pd->context->cmd_fd, &resp,
				attr->attr.max_sge);
	if (ret)
		goto err_free;
	return &srq->vsrq.srq;

err_free:
	free(srq);
	errno = ret;
	return NULL;
}

struct ibv_srq *rxe_odp_create_srq_ex(struct ibv_context *ctx,
				      struct ibv_srq_init_attr_ex *attr)
{
	struct rxe_odp_create_srq_resp resp = {};
	struct ibv_create_xsrq cmd = {};
	struct rxe_odp_srq *srq;
	int ret;

	srq = calloc(1, sizeof(*srq));
	if (!srq)
		return NULL;

	ret = ibv_cmd_create_srq_ex(ctx, &srq->vsrq, attr, &cmd, sizeof(cmd),
				    &resp.ibv_resp, sizeof(resp));
	if (!ret)
		ret = srq_setup(srq, ctx->cmd_fd, &resp, attr->attr.max_sge);
	if (ret)
		goto err_free;
	return &srq->vsrq.srq;

err_free:
	free(srq);
	errno = ret;
	return NULL;
}

int rxe_odp_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr,
		       int attr_mask)
{
	struct rxe_odp_srq *srq = to_rsrq(ibsrq);
	struct rxe_odp_modify_srq cmd = {};
	struct mminfo mi = {};
	int ret;

	cmd.drv.mmap_info_addr = (uintptr_t)&mi;
	if (!(attr_mask & IBV_SRQ_MAX_WR))
		return ibv_cmd_modify_srq(ibsrq, attr, attr_mask, &cmd.ibv_cmd,
					  sizeof(cmd));

	pthread_spin_lock(&srq->rq.lock);
	ret = ibv_cmd_modify_srq(ibsrq, attr, attr_mask, &cmd.ibv_cmd,
				 sizeof(cmd));
	if (!ret) {
		rxe_odp_ring_unmap(&srq->rq.ring);
		ret = rxe_odp_ring_map(&srq->rq.ring, ibsrq->context->cmd_fd,
				       &mi);
	}
	pthread_spin_unlock(&srq->rq.lock);
	return ret;
}

int rxe_odp_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr)
{
	struct ibv_query_srq cmd = {};

	return ibv_cmd_query_srq(ibsrq, attr, &cmd, sizeof(cmd));
}

int rxe_odp_destroy_srq(struct ibv_srq *ibsrq)
{
	struct rxe_odp_srq *srq = to_rsrq(ibsrq);
	int ret;

	ret = ibv_cmd_destroy_srq(ibsrq);
	if (ret)
		return ret;

	rxe_odp_ring_unmap(&srq->rq.ring);
	pthread_spin_destroy(&srq->rq.lock);
	free(srq);
	return 0;
}

int rxe_odp_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
			  struct ibv_recv_wr **bad_wr)
{
	*bad_wr = NULL;
	return rxe_odp_post_recv_list(&to_rsrq(ibsrq)->rq, wr, bad_wr);
}
