/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef RXE_ODP_H
#define RXE_ODP_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include <rdma/rdma_user_rxe.h>
#include "rxe_odp_abi.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* IB_UVERBS_DEVICE_ATOMIC_WRITE, reported by kernels >= 6.2 */
#define RXE_ODP_DEVICE_ATOMIC_WRITE (1ULL << 40)

/* the kernel's IB_WC_WITH_INVALIDATE, copied as is into ib_uverbs_wc */
#define RXE_ODP_KWC_WITH_INV (1U << 2)

struct rxe_odp_device {
	struct verbs_device vdev;
	uint32_t abi_version;
};

struct rxe_odp_context {
	struct verbs_context vctx;
	uint64_t device_cap_ex;
};

struct rxe_odp_ring {
	struct rxe_queue_buf *buf;
	size_t map_size;
};

struct rxe_odp_cq {
	struct verbs_cq vcq;
	struct rxe_odp_ring ring;
	pthread_spinlock_t lock;
	struct ib_uverbs_wc *cur;
	uint32_t cur_index;
};

struct rxe_odp_wq {
	struct rxe_odp_ring ring;
	pthread_spinlock_t lock;
	unsigned int max_sge;
	unsigned int max_inline;
};

/*
 * The send doorbell: a legacy write() of a POST_SEND command with no work
 * request, built once per QP. libibverbs' ibv_cmd_post_send() would go
 * through the ioctl INVOKE_WRITE method on current kernels, which costs
 * more in both user space and the kernel for the same effect.
 */
struct rxe_odp_doorbell {
	struct ib_uverbs_cmd_hdr hdr;
	struct ib_uverbs_post_send cmd;
};

struct rxe_odp_qp {
	struct verbs_qp vqp;
	struct rxe_odp_wq sq;
	struct rxe_odp_wq rq;
	uint32_t ssn;
	uint32_t cur_index;
	int err;
	int cmd_fd;
	struct rxe_odp_doorbell db;
	/* the kernel writes bad_wr here, always 0 for no work request */
	struct ib_uverbs_post_send_resp db_resp;
};

struct rxe_odp_srq {
	struct verbs_srq vsrq;
	struct rxe_odp_wq rq;
};

struct rxe_odp_ah {
	struct ibv_ah ibv_ah;
	struct rxe_av av;
	uint32_t ah_num;
};

struct rxe_odp_create_cq_resp {
	struct ib_uverbs_create_cq_resp ibv_resp;
	struct rxe_create_cq_resp drv;
};

struct rxe_odp_create_cq_ex_resp {
	struct ib_uverbs_ex_create_cq_resp ibv_resp;
	struct rxe_create_cq_resp drv;
};

struct rxe_odp_resize_cq_resp {
	struct ib_uverbs_resize_cq_resp ibv_resp;
	struct rxe_resize_cq_resp drv;
};

struct rxe_odp_create_qp_resp {
	struct ib_uverbs_create_qp_resp ibv_resp;
	struct rxe_create_qp_resp drv;
};

struct rxe_odp_create_qp_ex_resp {
	struct ib_uverbs_ex_create_qp_resp ibv_resp;
	struct rxe_create_qp_resp drv;
};

struct rxe_odp_create_srq_resp {
	struct ib_uverbs_create_srq_resp ibv_resp;
	struct rxe_create_srq_resp drv;
};

struct rxe_odp_modify_srq {
	struct ibv_modify_srq ibv_cmd;
	struct rxe_modify_srq_cmd drv;
};

struct rxe_odp_create_ah_resp {
	struct ib_uverbs_create_ah_resp ibv_resp;
	struct rxe_create_ah_resp drv;
};

_Static_assert(sizeof(struct rxe_odp_create_qp_ex_resp) == 40 + 32, "resp");
_Static_assert(sizeof(struct rxe_odp_modify_srq) == 32, "cmd");
_Static_assert(sizeof(struct rxe_odp_create_ah_resp) == 12, "resp");
_Static_assert(sizeof(struct ibv_wc) == sizeof(struct ib_uverbs_wc) &&
	       offsetof(struct ibv_wc, wc_flags) ==
	       offsetof(struct ib_uverbs_wc, wc_flags) &&
	       offsetof(struct ibv_wc, dlid_path_bits) ==
	       offsetof(struct ib_uverbs_wc, dlid_path_bits),
	       "ibv_wc must mirror ib_uverbs_wc");
_Static_assert(sizeof(struct ibv_sge) == sizeof(struct rxe_sge), "sge");

static inline struct rxe_odp_context *to_rctx(struct ibv_context *ibctx)
{
	return container_of(ibctx, struct rxe_odp_context, vctx.context);
}

static inline struct rxe_odp_cq *to_rcq(struct ibv_cq *ibcq)
{
	return container_of(ibcq, struct rxe_odp_cq, vcq.cq);
}

static inline struct rxe_odp_cq *cqex_to_rcq(struct ibv_cq_ex *ibcq)
{
	return container_of(ibcq, struct rxe_odp_cq, vcq.cq_ex);
}

static inline struct rxe_odp_qp *to_rqp(struct ibv_qp *ibqp)
{
	return container_of(ibqp, struct rxe_odp_qp, vqp.qp);
}

static inline struct rxe_odp_qp *qpex_to_rqp(struct ibv_qp_ex *ibqp)
{
	return container_of(ibqp, struct rxe_odp_qp, vqp.qp_ex);
}

static inline struct rxe_odp_srq *to_rsrq(struct ibv_srq *ibsrq)
{
	return container_of(ibsrq, struct rxe_odp_srq, vsrq.srq);
}

static inline struct rxe_odp_ah *to_rah(struct ibv_ah *ibah)
{
	return container_of(ibah, struct rxe_odp_ah, ibv_ah);
}

/*
 * Rings shared with rdma_rxe (rxe_queue.h): one slot stays empty, indices are
 * kept masked. The side that produces publishes with a release store of its
 * index, the other side reads it with an acquire load.
 */
static inline _Atomic(uint32_t) *ring_prod(struct rxe_queue_buf *q)
{
	return (_Atomic(uint32_t) *)&q->producer_index;
}

static inline _Atomic(uint32_t) *ring_cons(struct rxe_queue_buf *q)
{
	return (_Atomic(uint32_t) *)&q->consumer_index;
}

static inline uint32_t ring_next(struct rxe_queue_buf *q, uint32_t index)
{
	return (index + 1) & q->index_mask;
}

static inline void *ring_slot(struct rxe_queue_buf *q, uint32_t index)
{
	return q->data + ((size_t)(index & q->index_mask) << q->log2_elem_size);
}

static inline size_t ring_elem_size(struct rxe_queue_buf *q)
{
	return (size_t)1 << q->log2_elem_size;
}

int rxe_odp_ring_map(struct rxe_odp_ring *ring, int cmd_fd,
		     const struct mminfo *mi);
void rxe_odp_ring_unmap(struct rxe_odp_ring *ring);

/* rxe_odp_cq.c */
struct ibv_cq *rxe_odp_create_cq(struct ibv_context *ctx, int cqe,
				 struct ibv_comp_channel *channel,
				 int comp_vector);
struct ibv_cq_ex *rxe_odp_create_cq_ex(struct ibv_context *ctx,
				       struct ibv_cq_init_attr_ex *attr);
int rxe_odp_resize_cq(struct ibv_cq *ibcq, int cqe);
int rxe_odp_destroy_cq(struct ibv_cq *ibcq);
int rxe_odp_poll_cq(struct ibv_cq *ibcq, int ne, struct ibv_wc *wc);

/* rxe_odp_qp.c */
struct ibv_qp *rxe_odp_create_qp(struct ibv_pd *pd,
				 struct ibv_qp_init_attr *attr);
struct ibv_qp *rxe_odp_create_qp_ex(struct ibv_context *ctx,
				    struct ibv_qp_init_attr_ex *attr);
int rxe_odp_query_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
		     int attr_mask, struct ibv_qp_init_attr *init_attr);
int rxe_odp_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr,
		      int attr_mask);
int rxe_odp_destroy_qp(struct ibv_qp *ibqp);
int rxe_odp_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
		      struct ibv_send_wr **bad_wr);
int rxe_odp_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
		      struct ibv_recv_wr **bad_wr);
int rxe_odp_bind_mw(struct ibv_qp *ibqp, struct ibv_mw *mw,
		    struct ibv_mw_bind *mw_bind);

/* rxe_odp_srq.c */
struct ibv_srq *rxe_odp_create_srq(struct ibv_pd *pd,
				   struct ibv_srq_init_attr *attr);
struct ibv_srq *rxe_odp_create_srq_ex(struct ibv_context *ctx,
				      struct ibv_srq_init_attr_ex *attr);
int rxe_odp_modify_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr,
		       int attr_mask);
int rxe_odp_query_srq(struct ibv_srq *ibsrq, struct ibv_srq_attr *attr);
int rxe_odp_destroy_srq(struct ibv_srq *ibsrq);
int rxe_odp_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
			  struct ibv_recv_wr **bad_wr);
int rxe_odp_post_recv_list(struct rxe_odp_wq *rq, struct ibv_recv_wr *wr,
			   struct ibv_recv_wr **bad_wr);

#endif
