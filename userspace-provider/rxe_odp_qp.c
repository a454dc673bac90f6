// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Queue pairs: the send and receive rings are mapped from the uverbs fd; WQEs
 * are written in place and a zero-WR post_send command kicks the requester.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rxe_odp.h"

enum {
	RXE_ODP_QP_COMP_SUP = IBV_QP_INIT_ATTR_PD |
			      IBV_QP_INIT_ATTR_CREATE_FLAGS |
			      IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
	RXE_ODP_UD_OPS = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM,
	RXE_ODP_UC_OPS = RXE_ODP_UD_OPS | IBV_QP_EX_WITH_RDMA_WRITE |
			 IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM |
			 IBV_QP_EX_WITH_BIND_MW | IBV_QP_EX_WITH_SEND_WITH_INV,
	RXE_ODP_RC_OPS = RXE_ODP_UC_OPS | IBV_QP_EX_WITH_RDMA_READ |
			 IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP |
			 IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD |
			 IBV_QP_EX_WITH_LOCAL_INV | IBV_QP_EX_WITH_ATOMIC_WRITE,
};

static uint32_t next_mw_rkey(uint32_t rkey)
{
	return (rkey & 0xffffff00) | ((rkey + 1) & 0xff);
}

/* Needs the QP handle: call once the kernel has created the QP. */
static void doorbell_init(struct rxe_odp_qp *qp, int cmd_fd)
{
	struct rxe_odp_doorbell *db = &qp->db;

	qp->cmd_fd = cmd_fd;
	db->hdr.command = IB_USER_VERBS_CMD_POST_SEND;
	db->hdr.in_words = sizeof(*db) / 4;
	db->hdr.out_words = sizeof(qp->db_resp) / 4;
	db->cmd.response = (uintptr_t)&qp->db_resp;
	db->cmd.qp_handle = qp->vqp.qp.handle;
	db->cmd.wqe_size = sizeof(struct ib_uverbs_send_wr);
}

/* rdma_rxe runs the requester of a user QP from this system call. */
static int doorbell(struct rxe_odp_qp *qp)
{
	if (write(qp->cmd_fd, &qp->db, sizeof(qp->db)) != sizeof(qp->db))
		return errno;
	return 0;
}

/* No slot at @prod: one stays empty, so that full and empty differ. */
static bool ring_full(struct rxe_queue_buf *q, uint32_t prod)
{
	return ring_next(q, prod) ==
	       atomic_load_explicit(ring_cons(q), memory_order_acquire);
}

static bool sq_can_post(const struct ibv_qp *ibqp)
{
	return ibqp->state != IBV_QPS_RESET && ibqp->state != IBV_QPS_INIT &&
	       ibqp->state != IBV_QPS_RTR;
}

/* ibv_qp_ex builders: each takes one slot; setters amend the last one. */
static struct rxe_send_wqe *wr_new(struct ibv_qp_ex *ibqp, uint32_t opcode)
{
	struct rxe_odp_qp *qp = qpex_to_rqp(ibqp);
	struct rxe_queue_buf *q = qp->sq.ring.buf;
	struct rxe_send_wqe *wqe;

	if (qp->err)
		return NULL;
	if (ring_full(q, qp->cur_index)) {
		qp->err = ENOSPC;
		return NULL;
	}

	wqe = ring_slot(q, qp->cur_index);
	memset(wqe, 0, sizeof(*wqe));
	wqe->wr.wr_id = ibqp->wr_id;
	wqe->wr.opcode = opcode;
	wqe->wr.send_flags = ibqp->wr_flags;
	wqe->ssn = qp->ssn++;
	qp->cur_index = ring_next(q, qp->cur_index);
	return wqe;
}

static struct rxe_send_wqe *wr_last(struct ibv_qp_ex *ibqp)
{
	struct rxe_odp_qp *qp = qpex_to_rqp(ibqp);

	if (qp->err)
		return NULL;
	return ring_slot(qp->sq.ring.buf, qp->cur_index - 1);
}

static void wr_remote(struct rxe_send_wqe *wqe, uint32_t rkey, uint64_t addr)
{
	wqe->wr.wr.rdma.remote_addr = addr;
	wqe->wr.wr.rdma.rkey = rkey;
	wqe->iova = addr;
}

static void wr_send(struct ibv_qp_ex *ibqp)
{
	wr_new(ibqp, IBV_WR_SEND);
}

static void wr_send_imm(struct ibv_qp_ex *ibqp, __be32 imm)
{
	struct rxe_send_wqe *wqe = wr_new(ibqp, IBV_WR_SEND_WITH_IMM);

	if (wqe)
		wqe->wr.ex.imm_data = imm;
}

static void wr_send_inv(struct ibv_qp_ex *ibqp, uint32_t rkey)
{
	struct rxe_send_wqe *wqe = wr_new(ibqp, IBV_WR_SEND_WITH_INV);

	if (wqe)
		wqe->wr.ex.invalidate_rkey = rkey;
}

static void wr_rdma_write(struct ibv_qp_ex *ibqp, uint32_t rkey,
			  uint64_t addr)
{
	struct rxe_send_wqe *wqe = wr_new(ibqp, IBV_WR_RDMA_WRITE);

	if (wqe)
		wr_remote(wqe, rkey, addr);
}

static void wr_rdma_write_imm(struct ibv_qp_ex *ibqp, uint32_t rkey,
			      uint64_t addr, __be32 imm)
{
	struct rxe_send_wqe *wqe = wr_new(ibqp, IBV_WR_RDMA_WRITE_WITH_IMM);

	if (wqe) {
		wr_remote(wqe, rkey, addr);
		wqe->wr.ex.imm_data = imm;
	}
}

static void wr_rdma_read(struct ibv_qp_ex *ibqp, uint32_t rkey, uint64_t addr)
{
	struct rxe_send_wqe *wqe = wr_new(ibqp, IBV_WR_RDMA_READ);

	if (wqe)
		wr_remote(wqe, rkey, addr);
}

static void wr_atomic(struct ibv_qp_ex *ibqp, uint32_t opcode, uint32_t rkey,
		      uint64_t addr, uint64_t compare_add, uint64_t swap)
{
	struct rxe_send_wqe *wqe = wr_new(ibqp, opcode);

	if (!wqe)
		return;
	wqe->wr.wr.atomic.remote_addr = addr;
	wqe->wr.wr.atomic.compare_add = compare_add;
	wqe->wr.wr.atomic.swap = swap;
	wqe->wr.wr.atomic.rkey = rkey;
	wqe->iova = addr;
}

static void wr_atomic_cmp_swp(struct ibv_qp_ex *ibqp, uint32_t rkey,
			      uint64_t addr, uint64_t compare, uint64_t swap)
{
	wr_atomic(ibqp, IBV_WR_ATOMIC_CMP_AND_SWP, rkey, addr, compare, swap);
}

static void wr_atomic_fetch_add(struct ibv_qp_ex *ibqp, uint32_t rkey,
				uint64_t addr, uint64_t add)
{
	wr_atomic(ibqp, IBV_WR_ATOMIC_FETCH_AND_ADD, rkey, addr, add, 0);
}

static void wr_atomic_write(struct ibv_qp_ex *ibqp, uint32_t rkey,
			    uint64_t addr, const void *value)
{
	struct rxe_send_wqe *wqe = wr_new(ibqp, IBV_WR_ATOMIC_WRITE);

	if (!wqe)
		return;
	wr_remote(wqe, rkey, addr);
	memcpy(wqe->dma.inline_data, value, 8);
	wqe->dma.length = 8;
	wqe->dma.resid = 8;
}

static void fill_mw_bind(struct rxe_send_wqe *wqe, struct ibv_mw *mw,
			 uint32_t rkey, const struct ibv_mw_bind_info *info)
{
	wqe->wr.wr.mw.addr = info->addr;
	wqe->wr.wr.mw.length = info->length;
	wqe->wr.wr.mw.mr_lkey = info->mr ? info->mr->lkey : 0;
	wqe->wr.wr.mw.mw_rkey = mw->rkey;
	wqe->wr.wr.mw.rkey = rkey;
	wqe->wr.wr.mw.access = info->mw_access_flags;
}

static void wr_bind_mw(struct ibv_qp_ex *ibqp, struct ibv_mw *mw,
		       uint32_t rkey, const struct ibv_mw_bind_info *info)
{
	struct rxe_send_wqe *wqe = wr_new(ibqp, IBV_WR_BIND_MW);

	if (wqe)
		fill_mw_bind(wqe, mw, rkey, info);
}

static void wr_local_inv(struct ibv_qp_ex *ibqp, uint32_t rkey)
{
	struct rxe_send_wqe *wqe = wr_new(ibqp, IBV_WR_LOCAL_INV);

	if (wqe)
		wqe->wr.ex.invalidate_rkey = rkey;
}

static void set_ud(struct rxe_send_wqe *wqe, struct ibv_ah *ibah,
		   uint32_t remote_qpn, uint32_t remote_qkey)
{
	struct rxe_odp_ah *ah = to_rah(ibah);

	wqe->wr.wr.ud.remote_qpn = remote_qpn;
	wqe->wr.wr.ud.remote_qkey = remote_qkey;
	wqe->wr.wr.ud.ah_num = ah->ah_num;
	if (!ah->ah_num)
		wqe->wr.wr.ud.av = ah->av;
}

static void wr_set_ud_addr(struct ibv_qp_ex *ibqp, struct ibv_ah *ah,
			   uint32_t remote_qpn, uint32_t remote_qkey)
{
	struct rxe_send_wqe *wqe = wr_last(ibqp);

	if (wqe)
		set_ud(wqe, ah, remote_qpn, remote_qkey);
}

/* Total length of an SGE list, or -1 if it does not fit in a message. */
static int64_t sge_total(const struct ibv_sge *sg, size_t num_sge)
{
	uint64_t length = 0;
	size_t i;

	for (i = 0; i < num_sge; i++)
		length += sg[i].length;
	return length > UINT32_MAX ? -1 : (int64_t)length;
}

static void set_dma_length(struct rxe_send_wqe *wqe, uint32_t length)
{
	wqe->dma.length = length;
	wqe->dma.resid = length;
}

static void wr_set_sge(struct ibv_qp_ex *ibqp, uint32_t lkey, uint64_t addr,
		       uint32_t length)
{
	struct rxe_send_wqe *wqe = wr_last(ibqp);

	if (!wqe || !length)
		return;
	wqe->dma.sge[0].addr = addr;
	wqe->dma.sge[0].length = length;
	wqe->dma.sge[0].lkey = lkey;
	wqe->dma.num_sge = 1;
	set_dma_length(wqe, length);
}

static void wr_set_sge_list(struct ibv_qp_ex *ibqp, size_t num_sge,
			    const struct ibv_sge *sg)
{
	struct rxe_odp_qp *qp = qpex_to_rqp(ibqp);
	struct rxe_send_wqe *wqe = wr_last(ibqp);
	int64_t length;

	if (!wqe)
		return;
	if (num_sge > qp->sq.max_sge) {
		qp->err = ENOSPC;
		return;
	}
	length = sge_total(sg, num_sge);
	if (length < 0) {
		qp->err = EINVAL;
		return;
	}
	memcpy(wqe->dma.sge, sg, num_sge * sizeof(*sg));
	wqe->dma.num_sge = num_sge;
	set_dma_length(wqe, length);
}

static void wr_set_inline_data_list(struct ibv_qp_ex *ibqp, size_t num_buf,
				    const struct ibv_data_buf *buf)
{
	struct rxe_odp_qp *qp = qpex_to_rqp(ibqp);
	struct rxe_send_wqe *wqe = wr_last(ibqp);
	size_t length = 0;
	size_t i;

	if (!wqe)
		return;
	for (i = 0; i < num_buf; i++)
		length += buf[i].length;
	if (length > qp->sq.max_inline) {
		qp->err = ENOSPC;
		return;
	}

	length = 0;
	for (i = 0; i < num_buf; i++) {
		memcpy(wqe->dma.inline_data + length, buf[i].addr,
		       buf[i].length);
		length += buf[i].length;
	}
	wqe->dma.num_sge = 0;
	wqe->wr.send_flags |= IBV_SEND_INLINE;
	set_dma_length(wqe, length);
}

static void wr_set_inline_data(struct ibv_qp_ex *ibqp, void *addr,
			       size_t length)
{
	struct ibv_data_buf buf = { .addr = addr, .length = length };

	wr_set_inline_data_list(ibqp, 1, &buf);
}

static void wr_start(struct ibv_qp_ex *ibqp)
{
	struct rxe_odp_qp *qp = qpex_to_rqp(ibqp);

	pthread_spin_lock(&qp->sq.lock);
	qp->err = 0;
	qp->cur_index = atomic_load_explicit(ring_prod(qp->sq.ring.buf),
					     memory_order_relaxed);
}

/*
 * The doorbell runs the kernel's requester, which may sleep faulting ODP
 * pages in: ring it after unlocking, as post_send does, so that other
 * threads posting to the QP do not spin meanwhile.
 */
static int wr_complete(struct ibv_qp_ex *ibqp)
{
	struct rxe_odp_qp *qp = qpex_to_rqp(ibqp);
	struct rxe_queue_buf *q = qp->sq.ring.buf;
	int ret = qp->err;
	bool ring = false;

	if (!ret && !sq_can_post(&qp->vqp.qp))
		ret = EINVAL;
	if (!ret && qp->cur_index !=
	    atomic_load_explicit(ring_prod(q), memory_order_relaxed)) {
		atomic_store_explicit(ring_prod(q), qp->cur_index,
				      memory_order_release);
		ring = true;
	}
	pthread_spin_unlock(&qp->sq.lock);
	return ring ? doorbell(qp) : ret;
}

static void wr_abort(struct ibv_qp_ex *ibqp)
{
	pthread_spin_unlock(&qpex_to_rqp(ibqp)->sq.lock);
}

static void set_send_ops(struct rxe_odp_qp *qp, uint64_t ops)
{
	struct ibv_qp_ex *ex = &qp->vqp.qp_ex;

	if (ops & IBV_QP_EX_WITH_SEND)
		ex->wr_send = wr_send;
	if (ops & IBV_QP_EX_WITH_SEND_WITH_IMM)
		ex->wr_send_imm = wr_send_imm;
	if (ops & IBV_QP_EX_WITH_SEND_WITH_INV)
		ex->wr_send_inv = wr_send_inv;
	if (ops & IBV_QP_EX_WITH_RDMA_WRITE)
		ex->wr_rdma_write = wr_rdma_write;
	if (ops & IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM)
		ex->wr_rdma_write_imm = wr_rdma_write_imm;
	if (ops & IBV_QP_EX_WITH_RDMA_READ)
		ex->wr_rdma_read = wr_rdma_read;
	if (ops & IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP)
		ex->wr_atomic_cmp_swp = wr_atomic_cmp_swp;
	if (ops & IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD)
		ex->wr_atomic_fetch_add = wr_atomic_fetch_add;
	if (ops & IBV_QP_EX_WITH_ATOMIC_WRITE)
		ex->wr_atomic_write = wr_atomic_write;
	if (ops & IBV_QP_EX_WITH_BIND_MW)
		ex->wr_bind_mw = wr_bind_mw;
	if (ops & IBV_QP_EX_WITH_LOCAL_INV)
		ex->wr_local_inv = wr_local_inv;

	ex->wr_set_ud_addr = wr_set_ud_addr;
	ex->wr_set_sge = wr_set_sge;
	ex->wr_set_sge_list = wr_set_sge_list;
	ex->wr_set_inline_data = wr_set_inline_data;
	ex->wr_set_inline_data_list = wr_set_inline_data_list;
	ex->wr_start = wr_start;
	ex->wr_complete = wr_complete;
	ex->wr_abort = wr_abort;
}

static uint64_t supported_send_ops(struct rxe_odp_context *ctx,
				   enum ibv_qp_type type)
{
	uint64_t ops;

	switch (type) {
	case IBV_QPT_RC:
		ops = RXE_ODP_RC_OPS;
		break;
	case IBV_QPT_UC:
		ops = RXE_ODP_UC_OPS;
		break;
	case IBV_QPT_UD:
		ops = RXE_ODP_UD_OPS;
		break;
	default:
		return 0;
	}
	if (!(ctx->device_cap_ex & RXE_ODP_DEVICE_ATOMIC_WRITE))
		ops &= ~(uint64_t)IBV_QP_EX_WITH_ATOMIC_WRITE;
	return ops;
}

static int check_qp_attr(struct rxe_odp_context *ctx,
			 const struct ibv_qp_init_attr_ex *attr)
{
	if (attr->comp_mask & ~(uint32_t)RXE_ODP_QP_COMP_SUP)
		return EOPNOTSUPP;
	if ((attr->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) &&
	    attr->create_flags)
		return EOPNOTSUPP;
	if ((attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) &&
	    (attr->send_ops_flags &
	     ~supported_send_ops(ctx, attr->qp_type)))
		return EOPNOTSUPP;
	return 0;
}

static void wq_init(struct rxe_odp_wq *wq, unsigned int max_sge,
		    unsigned int max_inline)
{
	wq->max_sge = max_sge;
	wq->max_inline = max_inline;
	pthread_spin_init(&wq->lock, PTHREAD_PROCESS_PRIVATE);
}

/* Set up a QP the kernel has just created; destroys it if that fails. */
static int qp_setup(struct rxe_odp_qp *qp, int cmd_fd,
		    const struct ibv_qp_cap *cap, bool has_srq,
		    const struct rxe_create_qp_resp *resp)
{
	int ret = 0;

	if (!has_srq)
		ret = rxe_odp_ring_map(&qp->rq.ring, cmd_fd, &resp->rq_mi);
	if (!ret) {
		ret = rxe_odp_ring_map(&qp->sq.ring, cmd_fd, &resp->sq_mi);
		if (ret)
			rxe_odp_ring_unmap(&qp->rq.ring);
	}
	if (ret) {
		ibv_cmd_destroy_qp(&qp->vqp.qp);
		return ret;
	}

	wq_init(&qp->rq, cap->max_recv_sge, 0);
	wq_init(&qp->sq, cap->max_send_sge, cap->max_inline_data);
	doorbell_init(qp, cmd_fd);
	return 0;
}

struct ibv_qp *rxe_odp_create_qp(struct ibv_pd *pd,
				 struct ibv_qp_init_attr *attr)
{
	struct rxe_odp_create_qp_resp resp = {};
	struct ibv_create_qp cmd = {};
	struct rxe_odp_qp *qp;
	int ret;

	qp = calloc(1, sizeof(*qp));
	if (!qp)
		return NULL;

	ret = ibv_cmd_create_qp(pd, &qp->vqp.qp, attr, &cmd, sizeof(cmd),
				&resp.ibv_resp, sizeof(resp));
	if (!ret)
		ret = qp_setup(qp, pd->context->cmd_fd, &attr->cap, attr->srq,
			       &resp.drv);
	if (ret)
		goto err_free;
	return &qp->vqp.qp;

err_free:
	free(qp);
	errno = ret;
	return NULL;
}

struct ibv_qp *rxe_odp_create_qp_ex(struct ibv_context *ctx,
				    struct ibv_qp_init_attr_ex *attr)
{
	struct rxe_odp_create_qp_ex_resp resp = {};
	struct ibv_create_qp_ex cmd = {};
	struct rxe_odp_qp *qp;
	int ret;

	ret = check_qp_attr(to_rctx(ctx), attr);
	if (ret) {
		errno = ret;
		return NULL;
	}

	qp = calloc(1, sizeof(*qp));
	if (!qp)
		return NULL;

	ret = ibv_cmd_create_qp_ex2(ctx, &qp->vqp, attr, &cmd, sizeof(cmd),
				    &resp.ibv_resp, sizeof(resp));
	if (!ret)
		ret = qp_setup(qp, ctx->cmd_fd, &attr->cap, attr->srq,
			       &resp.drv);
	if (ret)
		goto err_free;

	if (attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) {
		set_send_ops(qp, attr->send_ops_flags);
		qp->vqp.comp_mask |= VERBS_QP_EX;
	}
	return &qp->vqp.qp;

err_free:
	free(qp);
	errno = ret;
	return NULL;
}

int rxe_odp_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
		     int attr_mask, struct ibv_qp_init_attr *init_attr)
{
	struct ibv_query_qp cmd = {};

	return ibv_cmd_query_qp(ibqp, attr, attr_mask, init_attr, &cmd,
				sizeof(cmd));
}

int rxe_odp_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
		      int attr_mask)
{
	struct ibv_modify_qp cmd = {};

	return ibv_cmd_modify_qp(ibqp, attr, attr_mask, &cmd, sizeof(cmd));
}

int rxe_odp_destroy_qp(struct ibv_qp *ibqp)
{
	struct rxe_odp_qp *qp = to_rqp(ibqp);
	int ret;

	ret = ibv_cmd_destroy_qp(ibqp);
	if (ret)
		return ret;

	rxe_odp_ring_unmap(&qp->rq.ring);
	rxe_odp_ring_unmap(&qp->sq.ring);
	pthread_spin_destroy(&qp->rq.lock);
	pthread_spin_destroy(&qp->sq.lock);
	free(qp);
	return 0;
}

static int check_send_wr(struct rxe_odp_qp *qp, const struct ibv_send_wr *wr,
			 uint32_t length)
{
	enum ibv_qp_type type = qp->vqp.qp.qp_type;

	if ((wr->send_flags & IBV_SEND_INLINE) && length > qp->sq.max_inline)
		return EINVAL;

	switch (wr->opcode) {
	case IBV_WR_ATOMIC_CMP_AND_SWP:
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		if (length < 8 || (wr->wr.atomic.remote_addr & 7))
			return EINVAL;
		break;
	case IBV_WR_BIND_MW:
		if (wr->num_sge || (type != IBV_QPT_RC && type != IBV_QPT_UC))
			return EINVAL;
		break;
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
		if (type == IBV_QPT_UD && !wr->wr.ud.ah)
			return EINVAL;
		break;
	default:
		break;
	}
	return 0;
}

static void fill_send_wr(struct rxe_odp_qp *qp, struct rxe_send_wqe *wqe,
			 const struct ibv_send_wr *wr)
{
	wqe->wr.wr_id = wr->wr_id;
	wqe->wr.opcode = wr->opcode;
	wqe->wr.send_flags = wr->send_flags;
	wqe->wr.ex.imm_data = wr->imm_data;

	switch (wr->opcode) {
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
	case IBV_WR_RDMA_READ:
		wr_remote(wqe, wr->wr.rdma.rkey, wr->wr.rdma.remote_addr);
		break;
	case IBV_WR_ATOMIC_CMP_AND_SWP:
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		wqe->wr.wr.atomic.remote_addr = wr->wr.atomic.remote_addr;
		wqe->wr.wr.atomic.compare_add = wr->wr.atomic.compare_add;
		wqe->wr.wr.atomic.swap = wr->wr.atomic.swap;
		wqe->wr.wr.atomic.rkey = wr->wr.atomic.rkey;
		wqe->iova = wr->wr.atomic.remote_addr;
		break;
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
		if (qp->vqp.qp.qp_type == IBV_QPT_UD)
			set_ud(wqe, wr->wr.ud.ah, wr->wr.ud.remote_qpn,
			       wr->wr.ud.remote_qkey);
		break;
	case IBV_WR_BIND_MW:
		fill_mw_bind(wqe, wr->bind_mw.mw, wr->bind_mw.rkey,
			     &wr->bind_mw.bind_info);
		break;
	default:
		break;
	}
}

static void fill_send_data(struct rxe_send_wqe *wqe,
			   const struct ibv_send_wr *wr, uint32_t length)
{
	uint8_t *dst = wqe->dma.inline_data;
	int i;

	if (wr->send_flags & IBV_SEND_INLINE) {
		for (i = 0; i < wr->num_sge; i++) {
			memcpy(dst, (void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			dst += wr->sg_list[i].length;
		}
	} else {
		memcpy(wqe->dma.sge, wr->sg_list,
		       wr->num_sge * sizeof(*wr->sg_list));
		wqe->dma.num_sge = wr->num_sge;
	}
	set_dma_length(wqe, length);
}

static int post_one_send(struct rxe_odp_qp *qp, uint32_t *prod,
			 const struct ibv_send_wr *wr)
{
	struct rxe_queue_buf *q = qp->sq.ring.buf;
	struct rxe_send_wqe *wqe;
	int64_t length;
	int ret;

	if (wr->num_sge < 0 || (unsigned int)wr->num_sge > qp->sq.max_sge)
		return EINVAL;
	length = sge_total(wr->sg_list, wr->num_sge);
	if (length < 0)
		return EINVAL;
	ret = check_send_wr(qp, wr, length);
	if (ret)
		return ret;
	if (ring_full(q, *prod))
		return ENOMEM;

	wqe = ring_slot(q, *prod);
	memset(wqe, 0, sizeof(*wqe));
	fill_send_wr(qp, wqe, wr);
	fill_send_data(wqe, wr, length);
	wqe->ssn = qp->ssn++;
	*prod = ring_next(q, *prod);
	return 0;
}

int rxe_odp_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		      struct ibv_send_wr **bad_wr)
{
	struct rxe_odp_qp *qp = to_rqp(ibqp);
	struct rxe_queue_buf *q = qp->sq.ring.buf;
	uint32_t prod, start;
	int ret = 0, db;

	*bad_wr = NULL;
	if (!wr)
		return EINVAL;
	if (!sq_can_post(ibqp)) {
		*bad_wr = wr;
		return EINVAL;
	}

	pthread_spin_lock(&qp->sq.lock);
	start = atomic_load_explicit(ring_prod(q), memory_order_relaxed);
	prod = start;
	for (; wr; wr = wr->next) {
		ret = post_one_send(qp, &prod, wr);
		if (ret) {
			*bad_wr = wr;
			break;
		}
	}
	if (prod != start)
		atomic_store_explicit(ring_prod(q), prod, memory_order_release);
	pthread_spin_unlock(&qp->sq.lock);

	if (prod == start)
		return ret;
	db = doorbell(qp);
	return ret ? ret : db;
}

int rxe_odp_bind_mw(struct ibv_qp *ibqp, struct ibv_mw *mw,
		    struct ibv_mw_bind *bind)
{
	struct ibv_send_wr wr = {}, *bad;
	int ret;

	if (bind->bind_info.mw_access_flags & IBV_ACCESS_ZERO_BASED)
		return EINVAL;

	wr.wr_id = bind->wr_id;
	wr.opcode = IBV_WR_BIND_MW;
	wr.send_flags = bind->send_flags;
	wr.bind_mw.mw = mw;
	wr.bind_mw.rkey = next_mw_rkey(mw->rkey);
	wr.bind_mw.bind_info = bind->bind_info;

	ret = rxe_odp_post_send(ibqp, &wr, &bad);
	if (ret)
		return ret;
	mw->rkey = wr.bind_mw.rkey;
	return 0;
}

static int post_one_recv(struct rxe_odp_wq *rq, uint32_t prod,
			 const struct ibv_recv_wr *wr)
{
	struct rxe_queue_buf *q = rq->ring.buf;
	struct rxe_recv_wqe *wqe;
	int64_t length;

	if (wr->num_sge < 0 || (unsigned int)wr->num_sge > rq->max_sge)
		return EINVAL;
	length = sge_total(wr->sg_list, wr->num_sge);
	if (length < 0)
		return EINVAL;
	if (ring_full(q, prod))
		return ENOMEM;

	wqe = ring_slot(q, prod);
	memset(wqe, 0, sizeof(*wqe));
	wqe->wr_id = wr->wr_id;
	memcpy(wqe->dma.sge, wr->sg_list, wr->num_sge * sizeof(*wr->sg_list));
	wqe->dma.num_sge = wr->num_sge;
	wqe->dma.length = length;
	wqe->dma.resid = length;
	return 0;
}

/* Receive WQEs of a QP or an SRQ: the new producer index is stored once. */
int rxe_odp_post_recv_list(struct rxe_odp_wq *rq, struct ibv_recv_wr *wr,
			   struct ibv_recv_wr **bad_wr)
{
	struct rxe_queue_buf *q;
	uint32_t prod, start;
	int ret = 0;

	if (!wr)
		return EINVAL;
	pthread_spin_lock(&rq->lock);
	q = rq->ring.buf;
	if (!q) {
		/* an SRQ whose ring could not be mapped again after a resize */
		pthread_spin_unlock(&rq->lock);
		*bad_wr = wr;
		return EIO;
	}
	start = atomic_load_explicit(ring_prod(q), memory_order_relaxed);
	for (prod = start; wr; wr = wr->next) {
		ret = post_one_recv(rq, prod, wr);
		if (ret) {
			*bad_wr = wr;
			break;
		}
		prod = ring_next(q, prod);
	}
	if (prod != start)
		atomic_store_explicit(ring_prod(q), prod, memory_order_release);
	pthread_spin_unlock(&rq->lock);
	return ret;
}

int rxe_odp_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad_wr)
{
	struct rxe_odp_qp *qp = to_rqp(ibqp);

	*bad_wr = NULL;
	if (!qp->rq.ring.buf || ibqp->state == IBV_QPS_RESET) {
		*bad_wr = wr;
		return EINVAL;
	}
	return rxe_odp_post_recv_list(&qp->rq, wr, bad_wr);
}
