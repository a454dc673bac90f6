// SPDX-License-Identifier: GPL-2.0
/*
 * Connected RC QP pair on one device, with blocking one-shot operations.
 */
#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "pattern.h"
#include "rdma_loop.h"

#define LOOP_DEPTH	16
#define LOOP_TIMEOUT_MS	20000

static int env_int(const char *name, int dflt)
{
	const char *v = getenv(name);

	return v ? atoi(v) : dflt;
}

int rdma_loop_open(struct rdma_loop *lp)
{
	const char *want = getenv("RXE_ODP_DEV") ?: "rxe0";
	struct ibv_device **list;
	int i, n;


	memset(lp, 0, sizeof(*lp));
	lp->qp_type = IBV_QPT_RC;
	lp->gid_index = env_int("RXE_ODP_GID", 1);
	list = ibv_get_device_list(&n);
	if (!list)
		return -1;
	for (i = 0; i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), want))
			lp->ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!lp->ctx) {
		errno = ENODEV;
		return -1;
	}
	snprintf(lp->dev_name, sizeof(lp->dev_name), "%s", want);
	if (ibv_query_gid(lp->ctx, 1, lp->gid_index, &lp->gid))
		return -1;
	lp->pd = ibv_alloc_pd(lp->ctx);
	if (!lp->pd)
		return -1;
	for (i = 0; i < 2; i++) {
		lp->cq[i] = ibv_create_cq(lp->ctx, 2 * LOOP_DEPTH, NULL, NULL, 0);
		if (!lp->cq[i])
			return -1;
	}
	return rdma_loop_connect(lp);
}

/*
 * The path MTU: RXE_ODP_MTU (256, 512, 1024, 2048 or 4096; default 4096).
 * With less than 4096 most packets start part-way into a page.
 */
static enum ibv_mtu path_mtu(void)
{
	switch (env_int("RXE_ODP_MTU", 4096)) {
	case 256:
		return IBV_MTU_256;
	case 512:
		return IBV_MTU_512;
	case 1024:
		return IBV_MTU_1024;
	case 2048:
		return IBV_MTU_2048;
	case 4096:
		return IBV_MTU_4096;
	}
	fprintf(stderr, "# RXE_ODP_MTU=%s is not an IB MTU\n", getenv("RXE_ODP_MTU"));
	abort();
}

static int qp_to_rts(struct rdma_loop *lp, struct ibv_qp *qp, uint32_t dest)
{
	bool rc = lp->qp_type == IBV_QPT_RC;
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.qp_access_flags = IBV_ACCESS_LOCAL_WRITE |
				   IBV_ACCESS_REMOTE_WRITE |
				   (rc ? IBV_ACCESS_REMOTE_READ |
					 IBV_ACCESS_REMOTE_ATOMIC : 0),
	};
	int rtr_mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
		       IBV_QP_DEST_QPN | IBV_QP_RQ_PSN;
	int rts_mask = IBV_QP_STATE | IBV_QP_SQ_PSN;

	if (rc) {
		rtr_mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
		rts_mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			    IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC;
	}

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = path_mtu();
	a.dest_qp_num = dest;
	a.max_dest_rd_atomic = 16;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = lp->gid;
	a.ah_attr.grh.sgid_index = lp->gid_index;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &a, rtr_mask))
		return -1;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	/*
	 * 1 s transport timeout: under QEMU TCG on a loaded host, a 64 KiB
	 * READ reply that faults can take longer than the usual 67 ms
	 * (timeout 14), and every spurious retransmission makes the
	 * responder replay the READ again. 6 retries: rxe takes 7 as
	 * "retry for ever", which would turn a stall into a silent hang.
	 */
	a.timeout = 18;
	a.retry_cnt = 6;
	a.rnr_retry = 7;
	a.max_rd_atomic = 16;
	return ibv_modify_qp(qp, &a, rts_mask);
}

int rdma_loop_connect(struct rdma_loop *lp)
{
	struct ibv_qp_init_attr init = {
		.cap = {
			.max_send_wr = LOOP_DEPTH,
			.max_recv_wr = LOOP_DEPTH,
			.max_send_sge = RDMA_LOOP_MAX_SGE,
			.max_recv_sge = RDMA_LOOP_MAX_SGE,
		},
		.qp_type = lp->qp_type,
	};
	struct ibv_wc wc;
	int i;

	for (i = 0; i < 2; i++) {
		if (lp->qp[i])
			ibv_destroy_qp(lp->qp[i]);
		/* drop flushed completions of the QP just destroyed */
		while (ibv_poll_cq(lp->cq[i], 1, &wc) > 0)
			;
		init.send_cq = lp->cq[i];
		init.recv_cq = lp->cq[i];
		lp->qp[i] = ibv_create_qp(lp->pd, &init);
		if (!lp->qp[i])
			return -1;
	}
	if (qp_to_rts(lp, lp->qp[0], lp->qp[1]->qp_num) ||
	    qp_to_rts(lp, lp->qp[1], lp->qp[0]->qp_num))
		return -1;
	return 0;
}

int rdma_loop_open_pair(struct rdma_loop *lp, const struct rdma_loop *base,
			int cqe)
{
	int i;

	*lp = *base;
	lp->qp[0] = lp->qp[1] = NULL;
	lp->cq[0] = lp->cq[1] = NULL;
	for (i = 0; i < 2; i++) {
		lp->cq[i] = ibv_create_cq(lp->ctx, cqe, NULL, NULL, 0);
		if (!lp->cq[i])
			return -1;
	}
	return rdma_loop_connect(lp);
}

void rdma_loop_close_pair(struct rdma_loop *lp)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (lp->qp[i])
			ibv_destroy_qp(lp->qp[i]);
		if (lp->cq[i])
			ibv_destroy_cq(lp->cq[i]);
		lp->qp[i] = NULL;
		lp->cq[i] = NULL;
	}
}

void rdma_loop_close(struct rdma_loop *lp)
{
	rdma_loop_close_pair(lp);
	if (lp->pd)
		ibv_dealloc_pd(lp->pd);
	if (lp->ctx)
		ibv_close_device(lp->ctx);
	memset(lp, 0, sizeof(*lp));
}

struct ibv_mr *rdma_loop_reg(struct rdma_loop *lp, void *addr, size_t len,
			     int extra_access)
{
	return ibv_reg_mr(lp->pd, addr, len, IBV_ACCESS_LOCAL_WRITE |
			  IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
			  IBV_ACCESS_REMOTE_ATOMIC | extra_access);
}

/* Wait for the next completion of qp[@side]; returns its status or -1. */
static int wait_wc(struct rdma_loop *lp, int side)
{
	long long deadline = now_ms() + LOOP_TIMEOUT_MS;
	struct ibv_wc wc;
	int n;

	while (now_ms() < deadline) {
		n = ibv_poll_cq(lp->cq[side], 1, &wc);
		if (n < 0)
			return -1;
		if (n)
			return wc.status;
	}
	errno = ETIMEDOUT;
	return -1;
}

int rdma_loop_post_wait(struct rdma_loop *lp, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad;

	wr->wr_id = 1;
	wr->send_flags = IBV_SEND_SIGNALED;
	if (ibv_post_send(lp->qp[0], wr, &bad))
		return -1;
	return wait_wc(lp, 0);
}

static int rdma_op(struct rdma_loop *lp, enum ibv_wr_opcode op,
		   struct ibv_mr *lmr, void *laddr, struct ibv_mr *rmr,
		   void *raddr, uint32_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)laddr, .length = len, .lkey = lmr->lkey,
	};
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = op,
		.wr.rdma = { .remote_addr = (uintptr_t)raddr, .rkey = rmr->rkey },
	};

	return rdma_loop_post_wait(lp, &wr);
}

/*
 * A UC WRITE completes once it is sent, before the responder has placed
 * it. A zero-length SEND behind it, once received, means it has been:
 * the responder handles a QP's packets in order. RC needs nothing.
 */
int rdma_loop_placed(struct rdma_loop *lp)
{
	struct ibv_recv_wr rwr = { .wr_id = 2 }, *bad;
	struct ibv_send_wr wr = { .opcode = IBV_WR_SEND };
	int status;

	if (lp->qp_type != IBV_QPT_UC)
		return 0;
	if (ibv_post_recv(lp->qp[1], &rwr, &bad))
		return -1;
	status = rdma_loop_post_wait(lp, &wr);
	return status ? status : wait_wc(lp, 1);
}

int rdma_loop_write(struct rdma_loop *lp, struct ibv_mr *lmr, void *laddr,
		    struct ibv_mr *rmr, void *raddr, uint32_t len)
{
	int status = rdma_op(lp, IBV_WR_RDMA_WRITE, lmr, laddr, rmr, raddr, len);

	return status ? status : rdma_loop_placed(lp);
}

int rdma_loop_read(struct rdma_loop *lp, struct ibv_mr *lmr, void *laddr,
		   struct ibv_mr *rmr, void *raddr, uint32_t len)
{
	return rdma_op(lp, IBV_WR_RDMA_READ, lmr, laddr, rmr, raddr, len);
}

static int atomic_op(struct rdma_loop *lp, enum ibv_wr_opcode op,
		     struct ibv_mr *lmr, uint64_t *result, struct ibv_mr *rmr,
		     uint64_t *target, uint64_t compare_add, uint64_t swap)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)result, .length = 8, .lkey = lmr->lkey,
	};
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = op,
		.wr.atomic = {
			.remote_addr = (uintptr_t)target, .rkey = rmr->rkey,
			.compare_add = compare_add, .swap = swap,
		},
	};

	return rdma_loop_post_wait(lp, &wr);
}

int rdma_loop_fetch_add(struct rdma_loop *lp, struct ibv_mr *lmr,
			uint64_t *result, struct ibv_mr *rmr, uint64_t *target,
			uint64_t add)
{
	return atomic_op(lp, IBV_WR_ATOMIC_FETCH_AND_ADD, lmr, result, rmr,
			 target, add, 0);
}

int rdma_loop_cmp_swap(struct rdma_loop *lp, struct ibv_mr *lmr,
		       uint64_t *result, struct ibv_mr *rmr, uint64_t *target,
		       uint64_t compare, uint64_t swap)
{
	return atomic_op(lp, IBV_WR_ATOMIC_CMP_AND_SWP, lmr, result, rmr,
			 target, compare, swap);
}

int rdma_loop_send(struct rdma_loop *lp, struct ibv_mr *lmr, void *laddr,
		   struct ibv_mr *rmr, void *raddr, uint32_t len)
{
	struct ibv_sge rsge = {
		.addr = (uintptr_t)raddr, .length = len, .lkey = rmr->lkey,
	};
	struct ibv_recv_wr rwr = { .wr_id = 2, .sg_list = &rsge, .num_sge = 1 };
	struct ibv_sge sge = {
		.addr = (uintptr_t)laddr, .length = len, .lkey = lmr->lkey,
	};
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
	};
	struct ibv_recv_wr *bad;
	int status;

	if (ibv_post_recv(lp->qp[1], &rwr, &bad))
		return -1;
	status = rdma_loop_post_wait(lp, &wr);
	if (status)
		return status;
	return wait_wc(lp, 1);
}

int rdma_loop_stream(struct rdma_loop *lp, enum ibv_wr_opcode op,
		     struct ibv_mr *lmr, char *laddr, struct ibv_mr *rmr,
		     char *raddr, uint32_t msg, size_t span, unsigned int count,
		     unsigned int depth)
{
	unsigned int posted = 0, done = 0;
	long long deadline = now_ms() + LOOP_TIMEOUT_MS;
	struct ibv_wc wc[LOOP_DEPTH];
	int i, n;

	if (depth > LOOP_DEPTH)
		depth = LOOP_DEPTH;
	while (done < count) {
		while (posted < count && posted - done < depth) {
			size_t off = ((size_t)posted * msg) % span;
			struct ibv_sge sge = {
				.addr = (uintptr_t)(laddr + off), .length = msg,
				.lkey = lmr->lkey,
			};
			struct ibv_send_wr wr = {
				.wr_id = posted, .sg_list = &sge, .num_sge = 1,
				.opcode = op, .send_flags = IBV_SEND_SIGNALED,
				.wr.rdma = {
					.remote_addr = (uintptr_t)(raddr + off),
					.rkey = rmr->rkey,
				},
			}, *bad;

			if (ibv_post_send(lp->qp[0], &wr, &bad))
				return -1;
			posted++;
		}
		n = ibv_poll_cq(lp->cq[0], LOOP_DEPTH, wc);
		if (n < 0)
			return -1;
		for (i = 0; i < n; i++)
			if (wc[i].status)
				return wc[i].status;
		done += n;
		if (n)
			deadline = now_ms() + LOOP_TIMEOUT_MS;
		else if (now_ms() > deadline)
			return errno = ETIMEDOUT, -1;
	}
	return 0;
}

int rdma_loop_span(struct rdma_loop *lp, enum ibv_wr_opcode op,
		   struct ibv_mr *lmr, char *laddr, struct ibv_mr *rmr,
		   char *raddr, size_t len, uint32_t msg)
{
	return rdma_loop_stream(lp, op, lmr, laddr, rmr, raddr, msg, len,
				len / msg, 1);
}

int rdma_loop_write_pattern(struct rdma_loop *lp, struct ibv_mr *lmr,
			    char *lbuf, struct ibv_mr *rmr, char *rbuf,
			    size_t off, size_t len, uint32_t msg,
			    uint64_t seed)
{
	pattern_fill(lbuf + off, off, len, seed);
	return rdma_loop_span(lp, IBV_WR_RDMA_WRITE, lmr, lbuf + off, rmr,
			      rbuf + off, len, msg);
}

int rdma_loop_read_back(struct rdma_loop *lp, struct ibv_mr *lmr, char *lbuf,
			struct ibv_mr *rmr, char *rbuf, size_t off, size_t len,
			uint32_t msg)
{
	memset(lbuf + off, 0xa5, len);
	return rdma_loop_span(lp, IBV_WR_RDMA_READ, lmr, lbuf + off, rmr,
			      rbuf + off, len, msg);
}

long long rdma_loop_counter(struct rdma_loop *lp, const char *name)
{
	char path[256];
	long long v = -1;
	FILE *f;

	/* ib_core caches hw counters for 10 ms: read a fresh value */
	usleep(20 * 1000);

	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/1/hw_counters/%s",
		 lp->dev_name, name);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%lld", &v) != 1)
			v = -1;
		fclose(f);
	}
	/*
	 * A check against a counter that cannot be read would pass
	 * vacuously (-1 == -1): end the test instead.
	 */
	if (v < 0) {
		fprintf(stderr, "# cannot read %s: %s\n", path,
			f ? "not a number" : strerror(errno));
		abort();
	}
	return v;
}

/*
 * The value after the word @key in a line of iproute2's `rdma` output
 * ("dev rxe0 mrn 4 rkey 0x1a2b ..."), or -1.
 */
static long long rdma_tool_field(const char *line, const char *key)
{
	size_t n = strlen(key);
	const char *p = line;

	while ((p = strstr(p, key))) {
		bool word = (p == line || p[-1] == ' ') && p[n] == ' ';

		p += n;
		if (word)
			return strtoll(p + 1, NULL, 0);
	}
	return -1;
}

struct rdma_tool_match {
	const char *dev;	/* the line's device */
	const char *key;	/* it has this field... */
	long long value;	/* ...with this value */
	const char *want;	/* the field to return */
};

/*
 * Run `rdma ARGS` and return @m->want of the first line of @m->dev whose
 * @m->key is @m->value: -2 if no line matches (or the command fails), -1
 * if the line lacks @m->want.
 */
static long long rdma_tool_find(const char *args,
				const struct rdma_tool_match *m)
{
	char cmd[256], line[1024], dev[64];
	long long v = -2;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "rdma %s 2>/dev/null", args);
	snprintf(dev, sizeof(dev), "dev %s ", m->dev);
	p = popen(cmd, "r");
	if (!p)
		return -2;
	while (fgets(line, sizeof(line), p)) {
		if (v == -2 && !strncmp(line, dev, strlen(dev)) &&
		    rdma_tool_field(line, m->key) == m->value)
			v = rdma_tool_field(line, m->want);
	}
	pclose(p);
	return v;
}

long long rdma_loop_mr_stat(struct rdma_loop *lp, struct ibv_mr *mr,
			    const char *name)
{
	struct rdma_tool_match by_rkey = {
		.dev = lp->dev_name, .key = "rkey", .value = mr->rkey,
		.want = "mrn",
	};
	struct rdma_tool_match by_mrn = {
		.dev = lp->dev_name, .key = "mrn", .want = name,
	};
	char args[64];

	/* without CAP_NET_ADMIN the kernel lists no keys */
	by_mrn.value = rdma_tool_find("resource show mr", &by_rkey);
	if (by_mrn.value < 0)
		return -2;
	/* iproute2 6.1 filters MR statistics by mrn only, not by dev */
	snprintf(args, sizeof(args), "statistic show mr mrn %lld", by_mrn.value);
	return rdma_tool_find(args, &by_mrn);
}
