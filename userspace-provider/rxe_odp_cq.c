// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Completion queues: rdma_rxe produces struct ib_uverbs_wc entries into a
 * ring mapped from the uverbs fd; the provider consumes them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rxe_odp.h"

enum {
	RXE_ODP_WC_FLAGS_SUP = IBV_WC_EX_WITH_BYTE_LEN | IBV_WC_EX_WITH_IMM |
			       IBV_WC_EX_WITH_QP_NUM | IBV_WC_EX_WITH_SRC_QP |
			       IBV_WC_EX_WITH_SLID | IBV_WC_EX_WITH_SL |
			       IBV_WC_EX_WITH_DLID_PATH_BITS,
};

static unsigned int wc_flags_from_kernel(uint32_t kflags)
{
	unsigned int flags = kflags & (IBV_WC_GRH | IBV_WC_WITH_IMM);

	if (kflags & RXE_ODP_KWC_WITH_INV)
		flags |= IBV_WC_WITH_INV;
	return flags;
}

static int cq_map(struct rxe_odp_cq *cq, int cmd_fd, const struct mminfo *mi)
{
	int ret;

	ret = rxe_odp_ring_map(&cq->ring, cmd_fd, mi);
	if (ret)
		return ret;

	if (ring_elem_size(cq->ring.buf) < sizeof(struct ib_uverbs_wc)) {
		rxe_odp_ring_unmap(&cq->ring);
		return EINVAL;
	}
	return 0;
}

/* Set up a CQ the kernel has just created; destroys it if that fails. */
static int cq_setup(struct rxe_odp_cq *cq, int cmd_fd, const struct mminfo *mi)
{
	int ret = cq_map(cq, cmd_fd, mi);

	if (ret) {
		ibv_cmd_destroy_cq(&cq->vcq.cq);
		return ret;
	}
	pthread_spin_init(&cq->lock, PTHREAD_PROCESS_PRIVATE);
	return 0;
}

struct ibv_cq *rxe_odp_create_cq(struct ibv_context *ctx, int cqe,
				 struct ibv_comp_channel *channel,
				 int comp_vector)
{
	struct rxe_odp_create_cq_resp resp = {};
	struct rxe_odp_cq *cq;
	int ret;

	cq = calloc(1, sizeof(*cq));
	if (!cq)
		return NULL;

	ret = ibv_cmd_create_cq(ctx, cqe, channel, comp_vector, &cq->vcq.cq,
				NULL, 0, &resp.ibv_resp, sizeof(resp));
	if (!ret)
		ret = cq_setup(cq, ctx->cmd_fd, &resp.drv.mi);
	if (ret)
		goto err_free;
	return &cq->vcq.cq;

err_free:
	free(cq);
	errno = ret;
	return NULL;
}

static void cq_load_cur(struct rxe_odp_cq *cq)
{
	cq->cur = ring_slot(cq->ring.buf, cq->cur_index);
	cq->vcq.cq_ex.status = cq->cur->status;
	cq->vcq.cq_ex.wr_id = cq->cur->wr_id;
}

static bool cq_cur_empty(struct rxe_odp_cq *cq)
{
	return cq->cur_index ==
	       atomic_load_explicit(ring_prod(cq->ring.buf),
				    memory_order_acquire);
}

static int cq_start_poll(struct ibv_cq_ex *ibcq, struct ibv_poll_cq_attr *attr)
{
	struct rxe_odp_cq *cq = cqex_to_rcq(ibcq);

	(void)attr;
	pthread_spin_lock(&cq->lock);
	if (!cq->ring.buf) {
		/* the ring could not be mapped again after a resize */
		pthread_spin_unlock(&cq->lock);
		return EIO;
	}
	cq->cur_index = atomic_load_explicit(ring_cons(cq->ring.buf),
					     memory_order_relaxed);
	if (cq_cur_empty(cq)) {
		pthread_spin_unlock(&cq->lock);
		errno = ENOENT;
		return ENOENT;
	}
	cq_load_cur(cq);
	return 0;
}

static int cq_next_poll(struct ibv_cq_ex *ibcq)
{
	struct rxe_odp_cq *cq = cqex_to_rcq(ibcq);

	/*
	 * After ENOENT cur_index is the first slot not consumed yet: look at
	 * it again (callers retry next_poll until a completion comes).
	 */
	if (cq->cur)
		cq->cur_index = ring_next(cq->ring.buf, cq->cur_index);
	if (cq_cur_empty(cq)) {
		cq->cur = NULL;
		errno = ENOENT;
		return ENOENT;
	}
	cq_load_cur(cq);
	return 0;
}

static void cq_end_poll(struct ibv_cq_ex *ibcq)
{
	struct rxe_odp_cq *cq = cqex_to_rcq(ibcq);

	if (cq->cur)
		cq->cur_index = ring_next(cq->ring.buf, cq->cur_index);
	cq->cur = NULL;
	atomic_store_explicit(ring_cons(cq->ring.buf), cq->cur_index,
			      memory_order_release);
	pthread_spin_unlock(&cq->lock);
}

static enum ibv_wc_opcode cq_read_opcode(struct ibv_cq_ex *ibcq)
{
	return cqex_to_rcq(ibcq)->cur->opcode;
}

static uint32_t cq_read_vendor_err(struct ibv_cq_ex *ibcq)
{
	return cqex_to_rcq(ibcq)->cur->vendor_err;
}

static uint32_t cq_read_byte_len(struct ibv_cq_ex *ibcq)
{
	return cqex_to_rcq(ibcq)->cur->byte_len;
}

static __be32 cq_read_imm_data(struct ibv_cq_ex *ibcq)
{
	return cqex_to_rcq(ibcq)->cur->ex.imm_data;
}

static uint32_t cq_read_qp_num(struct ibv_cq_ex *ibcq)
{
	return cqex_to_rcq(ibcq)->cur->qp_num;
}

static uint32_t cq_read_src_qp(struct ibv_cq_ex *ibcq)
{
	return cqex_to_rcq(ibcq)->cur->src_qp;
}

static unsigned int cq_read_wc_flags(struct ibv_cq_ex *ibcq)
{
	return wc_flags_from_kernel(cqex_to_rcq(ibcq)->cur->wc_flags);
}

static uint32_t cq_read_slid(struct ibv_cq_ex *ibcq)
{
	return cqex_to_rcq(ibcq)->cur->slid;
}

static uint8_t cq_read_sl(struct ibv_cq_ex *ibcq)
{
	return cqex_to_rcq(ibcq)->cur->sl;
}

static uint8_t cq_read_dlid_path_bits(struct ibv_cq_ex *ibcq)
{
	return cqex_to_rcq(ibcq)->cur->dlid_path_bits;
}

static void cq_set_ex_ops(struct ibv_cq_ex *ex, uint64_t wc_flags)
{
	ex->start_poll = cq_start_poll;
	ex->next_poll = cq_next_poll;
	ex->end_poll = cq_end_poll;
	ex->read_opcode = cq_read_opcode;
	ex->read_vendor_err = cq_read_vendor_err;
	ex->read_wc_flags = cq_read_wc_flags;
	if (wc_flags & IBV_WC_EX_WITH_BYTE_LEN)
		ex->read_byte_len = cq_read_byte_len;
	if (wc_flags & IBV_WC_EX_WITH_IMM)
		ex->read_imm_data = cq_read_imm_data;
	if (wc_flags & IBV_WC_EX_WITH_QP_NUM)
		ex->read_qp_num = cq_read_qp_num;
	if (wc_flags & IBV_WC_EX_WITH_SRC_QP)
		ex->read_src_qp = cq_read_src_qp;
	if (wc_flags & IBV_WC_EX_WITH_SLID)
		ex->read_slid = cq_read_slid;
	if (wc_flags & IBV_WC_EX_WITH_SL)
		ex->read_sl = cq_read_sl;
	if (wc_flags & IBV_WC_EX_WITH_DLID_PATH_BITS)
		ex->read_dlid_path_bits = cq_read_dlid_path_bits;
}

struct ibv_cq_ex *rxe_odp_create_cq_ex(struct ibv_context *ctx,
				       struct ibv_cq_init_attr_ex *attr)
{
	struct rxe_odp_create_cq_ex_resp resp = {};
	struct rxe_odp_cq *cq;
	int ret;

	if (attr->wc_flags & ~(uint64_t)RXE_ODP_WC_FLAGS_SUP) {
		errno = EOPNOTSUPP;
		return NULL;
	}

	cq = calloc(1, sizeof(*cq));
	if (!cq)
		return NULL;

	ret = ibv_cmd_create_cq_ex(ctx, attr, &cq->vcq, NULL, 0,
				   &resp.ibv_resp, sizeof(resp), 0);
	if (!ret)
		ret = cq_setup(cq, ctx->cmd_fd, &resp.drv.mi);
	if (ret)
		goto err_free;
	cq_set_ex_ops(&cq->vcq.cq_ex, attr->wc_flags);
	return &cq->vcq.cq_ex;

err_free:
	free(cq);
	errno = ret;
	return NULL;
}

int rxe_odp_resize_cq(struct ibv_cq *ibcq, int cqe)
{
	struct rxe_odp_cq *cq = to_rcq(ibcq);
	struct rxe_odp_resize_cq_resp resp = {};
	struct ibv_resize_cq cmd;
	int ret;

	pthread_spin_lock(&cq->lock);
	ret = ibv_cmd_resize_cq(ibcq, cqe, &cmd, sizeof(cmd), &resp.ibv_resp,
				sizeof(resp));
	if (!ret) {
		rxe_odp_ring_unmap(&cq->ring);
		ret = cq_map(cq, ibcq->context->cmd_fd, &resp.drv.mi);
	}
	pthread_spin_unlock(&cq->lock);
	return ret;
}

int rxe_odp_destroy_cq(struct ibv_cq *ibcq)
{
	struct rxe_odp_cq *cq = to_rcq(ibcq);
	int ret;

	ret = ibv_cmd_destroy_cq(ibcq);
	if (ret)
		return ret;

	rxe_odp_ring_unmap(&cq->ring);
	pthread_spin_destroy(&cq->lock);
	free(cq);
	return 0;
}

int rxe_odp_poll_cq(struct ibv_cq *ibcq, int ne, struct ibv_wc *wc)
{
	struct rxe_odp_cq *cq = to_rcq(ibcq);
	struct rxe_queue_buf *q;
	uint32_t cons, prod;
	int n;

	pthread_spin_lock(&cq->lock);
	q = cq->ring.buf;
	if (!q) {
		/* the ring could not be mapped again after a resize */
		pthread_spin_unlock(&cq->lock);
		return -1;
	}
	cons = atomic_load_explicit(ring_cons(q), memory_order_relaxed);
	prod = atomic_load_explicit(ring_prod(q), memory_order_acquire);
	for (n = 0; n < ne && cons != prod; n++) {
		memcpy(&wc[n], ring_slot(q, cons), sizeof(wc[n]));
		wc[n].wc_flags = wc_flags_from_kernel(wc[n].wc_flags);
		cons = ring_next(q, cons);
	}
	if (n)
		atomic_store_explicit(ring_cons(q), cons, memory_order_release);
	pthread_spin_unlock(&cq->lock);
	return n;
}
