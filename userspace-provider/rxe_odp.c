// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * rxe_odp: userspace provider for the Soft-RoCE (rdma_rxe) device, for the
 * libibverbs 44 provider ABI. Device, context, PD, MR, MW and AH verbs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <rdma/ib_user_ioctl_verbs.h>

#include "rxe_odp.h"

int rxe_odp_ring_map(struct rxe_odp_ring *ring, int cmd_fd,
		     const struct mminfo *mi)
{
	void *buf;

	if (!mi->size)
		return EINVAL;

	buf = mmap(NULL, mi->size, PROT_READ | PROT_WRITE, MAP_SHARED, cmd_fd,
		   mi->offset);
	if (buf == MAP_FAILED)
		return errno;

	ring->buf = buf;
	ring->map_size = mi->size;
	return 0;
}

void rxe_odp_ring_unmap(struct rxe_odp_ring *ring)
{
	if (ring->map_size)
		munmap(ring->buf, ring->map_size);
	ring->buf = NULL;
	ring->map_size = 0;
}

static int rxe_odp_query_device(struct ibv_context *ctx,
				const struct ibv_query_device_ex_input *input,
				struct ibv_device_attr_ex *attr,
				size_t attr_size)
{
	struct ib_uverbs_ex_query_device_resp resp;
	size_t resp_size = sizeof(resp);
	uint64_t fw;
	int ret;

	ret = ibv_cmd_query_device_any(ctx, input, attr, attr_size, &resp,
				       &resp_size);
	if (ret)
		return ret;

	fw = resp.base.fw_ver;
	snprintf(attr->orig_attr.fw_ver, sizeof(attr->orig_attr.fw_ver),
		 "%u.%u.%u", (unsigned int)(fw >> 32) & 0xffff,
		 (unsigned int)(fw >> 16) & 0xffff, (unsigned int)fw & 0xffff);
	return 0;
}

static int rxe_odp_query_port(struct ibv_context *ctx, uint8_t port,
			      struct ibv_port_attr *attr)
{
	struct ibv_query_port cmd;

	return ibv_cmd_query_port(ctx, port, attr, &cmd, sizeof(cmd));
}

static struct ibv_pd *rxe_odp_alloc_pd(struct ibv_context *ctx)
{
	struct ib_uverbs_alloc_pd_resp resp;
	struct ibv_alloc_pd cmd;
	struct ibv_pd *pd;
	int ret;

	pd = calloc(1, sizeof(*pd));
	if (!pd)
		return NULL;

	ret = ibv_cmd_alloc_pd(ctx, pd, &cmd, sizeof(cmd), &resp, sizeof(resp));
	if (ret) {
		free(pd);
		errno = ret;
		return NULL;
	}
	return pd;
}

static int rxe_odp_dealloc_pd(struct ibv_pd *pd)
{
	int ret;

	ret = ibv_cmd_dealloc_pd(pd);
	if (!ret)
		free(pd);
	return ret;
}

static struct ibv_mr *rxe_odp_reg_mr(struct ibv_pd *pd, void *addr,
				     size_t length, uint64_t hca_va,
				     int access)
{
	struct ib_uverbs_reg_mr_resp resp;
	struct ibv_reg_mr cmd;
	struct verbs_mr *vmr;
	int ret;

	vmr = calloc(1, sizeof(*vmr));
	if (!vmr)
		return NULL;

	ret = ibv_cmd_reg_mr(pd, addr, length, hca_va, access, vmr, &cmd,
			     sizeof(cmd), &resp, sizeof(resp));
	if (ret) {
		free(vmr);
		errno = ret;
		return NULL;
	}
	return &vmr->ibv_mr;
}

static int rxe_odp_rereg_mr(struct verbs_mr *vmr, int flags, struct ibv_pd *pd,
			    void *addr, size_t length, int access)
{
	struct ib_uverbs_rereg_mr_resp resp;
	struct ibv_rereg_mr cmd;
	int ret;

	ret = ibv_cmd_rereg_mr(vmr, flags, addr, length, (uintptr_t)addr,
			       access, pd, &cmd, sizeof(cmd), &resp,
			       sizeof(resp));
	if (ret)
		errno = ret;
	return ret;
}

static int rxe_odp_dereg_mr(struct verbs_mr *vmr)
{
	int ret;

	ret = ibv_cmd_dereg_mr(vmr);
	if (!ret)
		free(vmr);
	return ret;
}

static int rxe_odp_advise_mr(struct ibv_pd *pd,
			     enum ibv_advise_mr_advice advice, uint32_t flags,
			     struct ibv_sge *sg_list, uint32_t num_sge)
{
	return ibv_cmd_advise_mr(pd, advice, flags, sg_list, num_sge);
}

static struct ibv_mw *rxe_odp_alloc_mw(struct ibv_pd *pd,
				       enum ibv_mw_type type)
{
	struct ib_uverbs_alloc_mw_resp resp = {};
	struct ibv_alloc_mw cmd = {};
	struct ibv_mw *mw;
	int ret;

	mw = calloc(1, sizeof(*mw));
	if (!mw)
		return NULL;

	ret = ibv_cmd_alloc_mw(pd, type, mw, &cmd, sizeof(cmd), &resp,
			       sizeof(resp));
	if (ret) {
		free(mw);
		errno = ret;
		return NULL;
	}
	return mw;
}

static int rxe_odp_dealloc_mw(struct ibv_mw *mw)
{
	int ret;

	ret = ibv_cmd_dealloc_mw(mw);
	if (!ret)
		free(mw);
	return ret;
}

static void gid_to_sockaddr(const union ibv_gid *gid, void *out)
{
	struct sockaddr_in *in4 = out;
	struct sockaddr_in6 *in6 = out;

	if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)gid->raw)) {
		memset(in4, 0, sizeof(*in4));
		in4->sin_family = AF_INET;
		memcpy(&in4->sin_addr.s_addr, gid->raw + 12, 4);
	} else {
		memset(in6, 0, sizeof(*in6));
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, gid->raw, 16);
	}
}

/* Kernels before 5.15 return no AH index: UD WQEs then carry the full AV. */
static int rxe_odp_fill_av(struct rxe_odp_ah *ah, struct ibv_pd *pd,
			   struct ibv_ah_attr *attr)
{
	struct rxe_av *av = &ah->av;
	union ibv_gid sgid;
	int ret;

	if (ibv_query_gid(pd->context, attr->port_num, attr->grh.sgid_index,
			  &sgid))
		return errno ? errno : EINVAL;

	av->port_num = attr->port_num;
	memcpy(av->grh.dgid.raw, attr->grh.dgid.raw, sizeof(av->grh.dgid));
	av->grh.flow_label = attr->grh.flow_label;
	av->grh.sgid_index = attr->grh.sgid_index;
	av->grh.hop_limit = attr->grh.hop_limit;
	av->grh.traffic_class = attr->grh.traffic_class;
	av->network_type =
		IN6_IS_ADDR_V4MAPPED((struct in6_addr *)attr->grh.dgid.raw) ?
		RXE_NETWORK_TYPE_IPV4 : RXE_NETWORK_TYPE_IPV6;
	gid_to_sockaddr(&sgid, &av->sgid_addr);
	gid_to_sockaddr(&attr->grh.dgid, &av->dgid_addr);

	/* 0, a negative errno, or -1 with errno set */
	ret = ibv_resolve_eth_l2_from_gid(pd->context, attr, av->dmac, NULL);
	if (ret == -1)
		return errno ? errno : EINVAL;
	return ret < 0 ? -ret : ret;
}

static struct ibv_ah *rxe_odp_create_ah(struct ibv_pd *pd,
					struct ibv_ah_attr *attr)
{
	struct rxe_odp_create_ah_resp resp = {};
	struct rxe_odp_ah *ah;
	int ret;

	ah = calloc(1, sizeof(*ah));
	if (!ah)
		return NULL;

	ret = ibv_cmd_create_ah(pd, &ah->ibv_ah, attr, &resp.ibv_resp,
				sizeof(resp));
	if (ret)
		goto err_free;

	ah->ah_num = resp.drv.ah_num;
	if (!ah->ah_num) {
		ret = rxe_odp_fill_av(ah, pd, attr);
		if (ret) {
			ibv_cmd_destroy_ah(&ah->ibv_ah);
			goto err_free;
		}
	}
	return &ah->ibv_ah;

err_free:
	free(ah);
	errno = ret;
	return NULL;
}

static int rxe_odp_destroy_ah(struct ibv_ah *ibah)
{
	int ret;

	ret = ibv_cmd_destroy_ah(ibah);
	if (!ret)
		free(to_rah(ibah));
	return ret;
}

static void rxe_odp_free_context(struct ibv_context *ibctx);

static const struct verbs_context_ops rxe_odp_ctx_ops = {
	.advise_mr = rxe_odp_advise_mr,
	.alloc_mw = rxe_odp_alloc_mw,
	.alloc_pd = rxe_odp_alloc_pd,
	.attach_mcast = ibv_cmd_attach_mcast,
	.bind_mw = rxe_odp_bind_mw,
	.create_ah = rxe_odp_create_ah,
	.create_cq = rxe_odp_create_cq,
	.create_cq_ex = rxe_odp_create_cq_ex,
	.create_qp = rxe_odp_create_qp,
	.create_qp_ex = rxe_odp_create_qp_ex,
	.create_srq = rxe_odp_create_srq,
	.create_srq_ex = rxe_odp_create_srq_ex,
	.dealloc_mw = rxe_odp_dealloc_mw,
	.dealloc_pd = rxe_odp_dealloc_pd,
	.dereg_mr = rxe_odp_dereg_mr,
	.destroy_ah = rxe_odp_destroy_ah,
	.destroy_cq = rxe_odp_destroy_cq,
	.destroy_qp = rxe_odp_destroy_qp,
	.destroy_srq = rxe_odp_destroy_srq,
	.detach_mcast = ibv_cmd_detach_mcast,
	.free_context = rxe_odp_free_context,
	.modify_qp = rxe_odp_modify_qp,
	.modify_srq = rxe_odp_modify_srq,
	.poll_cq = rxe_odp_poll_cq,
	.post_recv = rxe_odp_post_recv,
	.post_send = rxe_odp_post_send,
	.post_srq_recv = rxe_odp_post_srq_recv,
	.query_device_ex = rxe_odp_query_device,
	.query_port = rxe_odp_query_port,
	.query_qp = rxe_odp_query_qp,
	.query_srq = rxe_odp_query_srq,
	.reg_mr = rxe_odp_reg_mr,
	.req_notify_cq = ibv_cmd_req_notify_cq,
	.rereg_mr = rxe_odp_rereg_mr,
	.resize_cq = rxe_odp_resize_cq,
};

static void rxe_odp_read_caps(struct rxe_odp_context *ctx)
{
	struct ib_uverbs_ex_query_device_resp resp;
	struct ibv_device_attr_ex attr = {};
	size_t resp_size = sizeof(resp);

	if (!ibv_cmd_query_device_any(&ctx->vctx.context, NULL, &attr,
				      sizeof(attr), &resp, &resp_size))
		ctx->device_cap_ex = attr.device_cap_flags_ex;
}

static struct verbs_context *rxe_odp_alloc_context(struct ibv_device *ibdev,
						   int cmd_fd,
						   void *private_data)
{
	struct ib_uverbs_get_context_resp resp;
	struct ibv_get_context cmd;
	struct rxe_odp_context *ctx;
	int ret;

	(void)private_data;
	/* libibverbs takes the offset of the verbs_context as a pointer */
	ctx = _verbs_init_and_alloc_context(ibdev, cmd_fd, sizeof(*ctx),
			(struct verbs_context *)offsetof(struct rxe_odp_context,
							 vctx),
			RDMA_DRIVER_RXE);
	if (!ctx)
		return NULL;

	ret = ibv_cmd_get_context(&ctx->vctx, &cmd, sizeof(cmd), &resp,
				  sizeof(resp));
	if (ret) {
		verbs_uninit_context(&ctx->vctx);
		free(ctx);
		errno = ret;
		return NULL;
	}

	verbs_set_ops(&ctx->vctx, &rxe_odp_ctx_ops);
	rxe_odp_read_caps(ctx);
	__verbs_log(&ctx->vctx, VERBS_LOG_DEBUG,
		    "rxe_odp: provider context on %s (abi %u)\n", ibdev->name,
		    container_of(ibdev, struct rxe_odp_device,
				 vdev.device)->abi_version);
	return &ctx->vctx;
}

static void rxe_odp_free_context(struct ibv_context *ibctx)
{
	struct rxe_odp_context *ctx = to_rctx(ibctx);

	verbs_uninit_context(&ctx->vctx);
	free(ctx);
}

static struct verbs_device *rxe_odp_alloc_device(struct verbs_sysfs_dev *sdev)
{
	struct rxe_odp_device *dev;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;

	dev->abi_version = sdev->abi_ver;
	return &dev->vdev;
}

static void rxe_odp_uninit_device(struct verbs_device *vdev)
{
	free(container_of(vdev, struct rxe_odp_device, vdev));
}

static const struct verbs_match_ent rxe_odp_match_table[] = {
	{ .u.driver_id = RDMA_DRIVER_RXE, .kind = VERBS_MATCH_DRIVER_ID },
	{ .u.modalias = "rdma_device:*Nrxe*", .kind = VERBS_MATCH_MODALIAS },
	{}
};

static const struct verbs_device_ops rxe_odp_dev_ops = {
	.name = "rxe_odp",
	.match_min_abi_version = 1,
	.match_max_abi_version = 2,
	.match_table = rxe_odp_match_table,
	.alloc_device = rxe_odp_alloc_device,
	.uninit_device = rxe_odp_uninit_device,
	.alloc_context = rxe_odp_alloc_context,
};

static __attribute__((constructor)) void rxe_odp_register(void)
{
	verbs_register_driver_34(&rxe_odp_dev_ops);
}
