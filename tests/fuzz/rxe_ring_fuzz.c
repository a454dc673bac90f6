// SPDX-License-Identifier: GPL-2.0
/*
 * usage: rxe_ring_fuzz [-n COUNT] [-t SECONDS] [-s SEED] [-H EVERY]
 *                      [-r FIRST-LAST] [-x NAME,...] [-k BUG,...] [-v]
 *        rxe_ring_fuzz -P BUG,...|all
 *
 * Fuzzer of what user space writes into the queues rdma_rxe maps into the
 * process: with our provider (RDMAV_DRIVERS=.../build/provider/librxe_odp)
 * the send, receive and shared receive rings and the CQ rings are reached
 * through the provider's own structures (userspace-provider/rxe_odp.h).
 * Inputs write send WQEs (opcode, flags, SGE lists, inline data and
 * lengths, the kernel's own fields, remote address/key, atomic and UD
 * address fields, MW binds) into the SQ and ring the provider's doorbell
 * (a zero-WR post_send: the kernel's requester runs); write receive WQEs
 * into the RQ or SRQ and send messages at them (through the peer QP, or as
 * raw RoCE packets); or move the producer/consumer indices and the ring
 * headers (out of range, far ahead, back). Pairs of RC, UC, UD and
 * RC-on-SRQ QPs; pinned and ODP MRs with canaries; read-only MRs whose
 * contents no local write may change.
 *
 * Every EVERY inputs (default 10000) and at the end: canaries and read-only
 * MRs intact, RDMA WRITE + READ with a data check on a fresh QP pair, and
 * each fuzzed pair recreated and passing a SEND with a data check. Errors
 * put the fuzzed QPs in the error state; they are recreated as they go.
 * Options as rxe_pkt_fuzz's: -x drops classes or mutations, -k holds back
 * (rewrites) the WQEs of a kernel bug found before, -P sends one.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "rxe_odp.h"

#define MTU_ENUM	IBV_MTU_1024
#define MTU		1024
#define SQ_WR		32
#define RQ_WR		32
#define SRQ_WR		64
#define MAX_SGE		4
#define MAX_INLINE	128
#define WIN_LEN		(64 * 1024)
#define SMALL_LEN	(8 * 1024)
#define CQE		256
/* inputs between two looks at a pair's QP states: the ones in between
 * may meet a QP in the error state (its flush path is fuzzed too) */
#define CHECK_EVERY	32
/* rdma_rxe 6.1: rxe_wr_opcode_info[] ends at IB_WR_REG_MR (0x20) */
#define KERNEL_WR_OPCODES	0x21
#define KERNEL_WR_REG_MR	0x20
/* rdma_rxe: the responder's copy of a receive WQE has RXE_MAX_SGE SGEs */
#define KERNEL_MAX_SGE		32

/* ---- names ---- */

enum cls { C_SQ, C_SQ_RAW, C_RQ, C_SRQ, C_INDEX, C_VALID, C_NR };

static const char *const cls_names[C_NR] = {
	"sq", "sq-raw", "rq", "srq", "index", "valid",
};

static const unsigned int cls_weight[C_NR] = {
	380, 50, 220, 150, 150, 50,
};

enum mut {
	/* send WQE fields */
	S_OPCODE, S_FLAGS, S_NUM_SGE, S_SGE_ADDR, S_SGE_LEN, S_SGE_LKEY,
	S_LENGTH, S_CUR_SGE, S_SGE_OFFSET, S_INLINE, S_REMOTE, S_ATOMIC, S_UD,
	S_AV, S_MW, S_EX, S_WRID, S_KFIELDS,
	/* receive WQE fields */
	R_NUM_SGE, R_SGE_ADDR, R_SGE_LEN, R_SGE_LKEY, R_LENGTH, R_CUR_SGE,
	R_SGE_OFFSET, R_RESERVED,
	/* indices and ring headers */
	I_PROD_AHEAD, I_PROD_BACK, I_PROD_RAW, I_PROD_WRAP, I_CONS, I_HDR,
	I_CQ_CONS,
	M_NR
};

static const char *const mut_names[M_NR] = {
	"sq.opcode", "sq.flags", "sq.num_sge", "sq.sge_addr", "sq.sge_len",
	"sq.sge_lkey", "sq.length", "sq.cur_sge", "sq.sge_offset",
	"sq.inline", "sq.remote", "sq.atomic", "sq.ud", "sq.av", "sq.mw",
	"sq.ex", "sq.wr_id", "sq.kfields",
	"rq.num_sge", "rq.sge_addr", "rq.sge_len", "rq.sge_lkey", "rq.length",
	"rq.cur_sge", "rq.sge_offset", "rq.reserved",
	"idx.prod_ahead", "idx.prod_back", "idx.prod_raw", "idx.prod_wrap",
	"idx.cons", "idx.header", "idx.cq_cons",
};

/* kernel bugs found by this fuzzer (-k to hold back, -P to reproduce) */
enum known {
	K_OPCODE_OOB,	/* send opcode >= ARRAY_SIZE(rxe_wr_opcode_info) */
	K_REG_MR,	/* IB_WR_REG_MR from user space: a user pointer */
	K_INLINE_OOB,	/* inline data beyond the WQE slot */
	K_RQ_CUR_SGE,	/* receive WQE cur_sge beyond the kernel's copy */
	K_INV_MW,	/* SEND_WITH_INV/LOCAL_INV of an unbound type 2 MW */
	K_MW_BIND,	/* a type 2 MW bound to a QP that is then destroyed */
	K_SQ_CUR_SGE,	/* send WQE cur_sge: bound checked in the shared ring,
			 * then read again (seen with the stock module, where
			 * the requester runs on the other CPU meanwhile) */
	K_NR
};

static const char *const known_names[K_NR] = {
	"sq-opcode-oob", "sq-reg-mr", "sq-inline-oob", "rq-cur-sge",
	"inv-unbound-mw", "mw-bind-destroy", "sq-cur-sge",
};

/* -P all: the bugs that have an input of their own (not sq-cur-sge) */
#define K_REPRO_ALL	(((1u << K_NR) - 1) & ~(1u << K_SQ_CUR_SGE))

/* ---- state ---- */

enum { P_RC, P_UC, P_UD, P_SRQ, P_NR };
enum { W_PIN, W_ODP, W_RO, W_RO_ODP, W_NR };

struct pair {
	const char *name;
	enum ibv_qp_type type;
	bool use_srq;
	struct ibv_cq *cq[2];
	struct ibv_qp *qp[2];	/* [0] sends (SQ fuzzed), [1] receives */
	struct ibv_ah *ah;	/* UD: to qp[1]'s GID */
	bool dirty;		/* recreate before the next input */
	unsigned long last_check, created_at;
	unsigned long recreated, resets, inputs;
};

struct opts {
	unsigned long count;
	double seconds;
	uint64_t seed;
	unsigned long health_every;
	unsigned long first, last;
	bool verbose;
	uint64_t skip_cls, skip_mut;
	unsigned int avoid;
	unsigned int repro;	/* -P: these known bugs' WQEs */
};

struct rf {
	struct opts o;
	struct rdma_loop lp;
	struct ibv_pd *pd2;		/* for an AH of another PD */
	struct ibv_ah *ah_other_pd;
	uint32_t stale_ah_num;
	struct ibv_srq *srq;
	struct ibv_mw *mw1, *mw2;
	struct pair p[P_NR];
	struct window w[W_NR];
	struct roce_sock sock;
	struct health health;
	unsigned long index;
	unsigned long by_cls[C_NR], by_mut[M_NR], avoided[K_NR];
	unsigned long wc_ok, wc_err, db_err, post_err, recreate_fail;
	unsigned long checks, sends;
	uint32_t ssn;
	double t0;
};

/* ---- provider internals ---- */

static struct rxe_queue_buf *sq_of(struct ibv_qp *qp)
{
	return to_rqp(qp)->sq.ring.buf;
}

static struct rxe_queue_buf *rq_of(struct rf *f, struct pair *p)
{
	return p->use_srq ? to_rsrq(f->srq)->rq.ring.buf :
			    to_rqp(p->qp[1])->rq.ring.buf;
}

/* The provider's post_send doorbell: a POST_SEND command with no WR. */
static int doorbell(struct rf *f, struct ibv_qp *qp)
{
	struct rxe_odp_qp *rqp = to_rqp(qp);

	if (write(rqp->cmd_fd, &rqp->db, sizeof(rqp->db)) != sizeof(rqp->db)) {
		f->db_err++;
		return -1;
	}
	return 0;
}

static bool provider_is_ours(struct rdma_loop *lp, char *why, size_t n)
{
	Dl_info info;

	if (!dladdr((void *)lp->ctx->ops.post_send, &info) || !info.dli_fname) {
		snprintf(why, n, "cannot tell which provider serves %s", lp->dev_name);
		return false;
	}
	if (!strstr(info.dli_fname, "librxe_odp")) {
		snprintf(why, n, "%s is served by %s, not our provider: set RDMAV_DRIVERS=$PWD/build/provider/librxe_odp",
			 lp->dev_name, info.dli_fname);
		return false;
	}
	return true;
}

/* ---- pairs ---- */

static void note(struct rf *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void drain(struct rf *f, struct pair *p)
{
	struct ibv_wc wc[32];
	int i, j, n;

	for (i = 0; i < 2; i++) {
		if (!p->cq[i])
			continue;
		/* bounded: a fuzzed CQ consumer index may expose stale slots */
		for (j = 0; j < 16; j++) {
			n = ibv_poll_cq(p->cq[i], 32, wc);
			if (n <= 0)
				break;
			while (n--)
				wc[n].status ? f->wc_err++ : f->wc_ok++;
		}
	}
}

static void pair_close(struct pair *p)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (p->qp[i])
			ibv_destroy_qp(p->qp[i]);
		p->qp[i] = NULL;
	}
	for (i = 0; i < 2; i++) {
		if (p->cq[i])
			ibv_destroy_cq(p->cq[i]);
		p->cq[i] = NULL;
	}
}

static int pair_open(struct rf *f, struct pair *p)
{
	static const struct ibv_qp_cap cap = {
		.max_send_wr = SQ_WR, .max_recv_wr = RQ_WR,
		.max_send_sge = MAX_SGE, .max_recv_sge = MAX_SGE,
		.max_inline_data = MAX_INLINE,
	};
	int i;

	for (i = 0; i < 2; i++) {
		p->cq[i] = ibv_create_cq(f->lp.ctx, CQE, NULL, NULL, 0);
		if (!p->cq[i])
			goto err;
	}
	p->qp[0] = fuzz_qp(&f->lp, p->type, p->cq[0], NULL, &cap);
	p->qp[1] = fuzz_qp(&f->lp, p->type, p->cq[1],
			   p->use_srq ? f->srq : NULL, &cap);
	if (!p->qp[0] || !p->qp[1] ||
	    fuzz_qp_connect(&f->lp, p->qp[0], p->qp[1]->qp_num, MTU_ENUM) ||
	    fuzz_qp_connect(&f->lp, p->qp[1], p->qp[0]->qp_num, MTU_ENUM))
		goto err;
	if (p->type == IBV_QPT_UD && !p->ah) {
		struct ibv_ah_attr aa = {
			.is_global = 1, .port_num = 1,
			.grh = { .dgid = f->lp.gid, .sgid_index = f->lp.gid_index,
				 .hop_limit = 1 },
		};

		p->ah = ibv_create_ah(f->lp.pd, &aa);
		if (!p->ah)
			goto err;
	}
	p->dirty = false;
	p->created_at = p->last_check = f->index;
	return 0;
err:
	pair_close(p);
	return -1;
}

static int pair_recreate(struct rf *f, struct pair *p)
{
	drain(f, p);
	pair_close(p);
	p->recreated++;
	note(f, "recreate %s", p->name);
	if (p->use_srq) {
		/* what the fuzzer left in the SRQ goes with it */
		struct ibv_srq_init_attr sa = {
			.attr = { .max_wr = SRQ_WR, .max_sge = MAX_SGE },
		};

		if (f->srq)
			ibv_destroy_srq(f->srq);
		f->srq = ibv_create_srq(f->lp.pd, &sa);
		if (!f->srq) {
			f->recreate_fail++;
			return -1;
		}
	}
	if (pair_open(f, p)) {
		f->recreate_fail++;
		return -1;
	}
	return 0;
}

/*
 * Back to RTS through RESET (cheaper than new QPs: the kernel empties the
 * rings); new QPs and CQs when that fails.
 */
static int pair_reset(struct rf *f, struct pair *p)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };
	struct ibv_qp_attr ia = { .qp_state = IBV_QPS_INIT, .port_num = 1 };
	int i, mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT;

	drain(f, p);
	if (p->type == IBV_QPT_UD) {
		ia.qkey = FUZZ_QKEY;
		mask |= IBV_QP_QKEY;
	} else {
		ia.qp_access_flags = IBV_ACCESS_LOCAL_WRITE |
				     IBV_ACCESS_REMOTE_WRITE;
		if (p->type == IBV_QPT_RC)
			ia.qp_access_flags |= IBV_ACCESS_REMOTE_READ |
					      IBV_ACCESS_REMOTE_ATOMIC;
		mask |= IBV_QP_ACCESS_FLAGS;
	}
	for (i = 0; i < 2; i++)
		if (ibv_modify_qp(p->qp[i], &a, IBV_QP_STATE) ||
		    ibv_modify_qp(p->qp[i], &ia, mask))
			return pair_recreate(f, p);
	if (fuzz_qp_connect(&f->lp, p->qp[0], p->qp[1]->qp_num, MTU_ENUM) ||
	    fuzz_qp_connect(&f->lp, p->qp[1], p->qp[0]->qp_num, MTU_ENUM))
		return pair_recreate(f, p);
	drain(f, p);
	p->resets++;
	note(f, "reset %s", p->name);
	return 0;
}

static bool pair_bad(struct pair *p)
{
	int i, s;

	for (i = 0; i < 2; i++) {
		if (!p->qp[i])
			return true;
		s = qp_state(p->qp[i]);
		if (s != IBV_QPS_RTS)
			return true;
	}
	return false;
}

/* ---- legit pieces ---- */

static struct window *rw_window(struct rf *f, struct rng *r)
{
	return &f->w[rng_below(r, 2) ? W_ODP : W_PIN];
}

static struct window *any_window(struct rf *f, struct rng *r)
{
	return &f->w[rng_below(r, W_NR)];
}

/* @n SGEs over @len bytes in @w-style windows (writable if @wr). */
static void fill_sges(struct rf *f, struct rng *r, struct rxe_sge *sge,
		      unsigned int n, uint32_t len, bool writable)
{
	unsigned int i;
	uint32_t part, left = len;

	for (i = 0; i < n; i++) {
		struct window *w = writable ? rw_window(f, r) : any_window(f, r);

		part = i == n - 1 ? left : rng_below(r, left + 1);
		if (part > w->len)
			part = w->len;
		left -= part;
		sge[i].addr = (uintptr_t)w->addr + rng_below(r, w->len - part + 1);
		sge[i].length = part;
		sge[i].lkey = w->mr->lkey;
	}
}

static const uint32_t rc_ops[] = {
	IBV_WR_RDMA_WRITE, IBV_WR_RDMA_WRITE_WITH_IMM, IBV_WR_SEND,
	IBV_WR_SEND_WITH_IMM, IBV_WR_RDMA_READ, IBV_WR_ATOMIC_CMP_AND_SWP,
	IBV_WR_ATOMIC_FETCH_AND_ADD, IBV_WR_LOCAL_INV, IBV_WR_BIND_MW,
	IBV_WR_SEND_WITH_INV,
};
static const uint32_t uc_ops[] = {
	IBV_WR_RDMA_WRITE, IBV_WR_RDMA_WRITE_WITH_IMM, IBV_WR_SEND,
	IBV_WR_SEND_WITH_IMM, IBV_WR_LOCAL_INV, IBV_WR_BIND_MW,
	IBV_WR_SEND_WITH_INV,
};
static const uint32_t ud_ops[] = { IBV_WR_SEND, IBV_WR_SEND_WITH_IMM };

#define PICK(r, a) ((a)[rng_below(r, sizeof(a) / sizeof((a)[0]))])

static size_t inline_cap(struct rxe_queue_buf *q)
{
	return ring_elem_size(q) - offsetof(struct rxe_send_wqe, dma.inline_data);
}

static unsigned int slot_sges(struct rxe_queue_buf *q, size_t hdr)
{
	return (ring_elem_size(q) - hdr) / sizeof(struct rxe_sge);
}

/* A send WQE as the provider would write it, for @p's sender. */
static void legit_send(struct rf *f, struct rng *r, struct pair *p,
		       struct rxe_queue_buf *q, struct rxe_send_wqe *w)
{
	uint32_t op, len;
	unsigned int n;
	struct window *rw;
	bool is_rc = p->type == IBV_QPT_RC;

	memset(w, 0, ring_elem_size(q));
	op = p->type == IBV_QPT_UD ? PICK(r, ud_ops) :
	     is_rc ? PICK(r, rc_ops) : PICK(r, uc_ops);
	w->wr.wr_id = rng_next(r);
	w->wr.opcode = op;
	w->wr.send_flags = rng_chance(r, 900) ? IBV_SEND_SIGNALED : 0;
	if (rng_chance(r, 100))
		w->wr.send_flags |= IBV_SEND_SOLICITED;
	if (rng_chance(r, 50))
		w->wr.send_flags |= IBV_SEND_FENCE;
	w->wr.ex.imm_data = rng_next(r);
	w->ssn = f->ssn++;

	len = rng_below(r, 3 * MTU + 1);
	if (p->type == IBV_QPT_UD)
		len = rng_below(r, MTU + 1);
	rw = rw_window(f, r);
	switch (op) {
	case IBV_WR_ATOMIC_CMP_AND_SWP:
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
		len = 8;
		w->wr.wr.atomic.remote_addr =
			((uintptr_t)rw->addr + rng_below(r, rw->len - 8)) & ~7ULL;
		w->wr.wr.atomic.rkey = rw->mr->rkey;
		w->wr.wr.atomic.compare_add = rng_next(r);
		w->wr.wr.atomic.swap = rng_next(r);
		w->iova = w->wr.wr.atomic.remote_addr;
		break;
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
	case IBV_WR_RDMA_READ:
		w->wr.wr.rdma.remote_addr = (uintptr_t)rw->addr +
					    rng_below(r, rw->len - len + 1);
		w->wr.wr.rdma.rkey = rw->mr->rkey;
		w->iova = w->wr.wr.rdma.remote_addr;
		break;
	case IBV_WR_LOCAL_INV:
	case IBV_WR_SEND_WITH_INV:
		w->wr.ex.invalidate_rkey = rng_below(r, 2) ? f->mw2->rkey :
					   rw->mr->rkey;
		break;
	case IBV_WR_BIND_MW: {
		struct ibv_mw *mw = rng_below(r, 2) ? f->mw1 : f->mw2;
		uint32_t ml = rng_below(r, 4096);

		len = 0;
		w->wr.wr.mw.addr = (uintptr_t)f->w[W_PIN].addr +
				   rng_below(r, WIN_LEN - ml);
		w->wr.wr.mw.length = ml;
		w->wr.wr.mw.mr_lkey = f->w[W_PIN].mr->lkey;
		w->wr.wr.mw.mw_rkey = mw->rkey;
		w->wr.wr.mw.rkey = (mw->rkey & ~0xffu) | rng_below(r, 256);
		w->wr.wr.mw.access = IBV_ACCESS_REMOTE_WRITE |
				     IBV_ACCESS_REMOTE_READ;
		break;
	}
	default:
		break;
	}
	if (p->type == IBV_QPT_UD) {
		struct rxe_odp_ah *ah = to_rah(p->ah);

		w->wr.wr.ud.remote_qpn = p->qp[1]->qp_num;
		w->wr.wr.ud.remote_qkey = FUZZ_QKEY;
		w->wr.wr.ud.ah_num = ah->ah_num;
		if (!ah->ah_num)
			w->wr.wr.ud.av = ah->av;
	}
	if (op == IBV_WR_LOCAL_INV || op == IBV_WR_BIND_MW) {
		len = 0;
	} else if (len <= MAX_INLINE && op != IBV_WR_RDMA_READ &&
		   len != 8 && rng_chance(r, 250)) {
		w->wr.send_flags |= IBV_SEND_INLINE;
		rng_bytes(r, w->dma.inline_data, len);
	} else if (len) {
		n = 1 + rng_below(r, MAX_SGE);
		fill_sges(f, r, w->dma.sge, n, len,
			  op == IBV_WR_RDMA_READ || len == 8);
		w->dma.num_sge = n;
		if (len == 8)
			w->dma.sge[n - 1].addr &= ~7ULL;
	}
	w->dma.length = w->dma.resid = len;
}

static void legit_recv(struct rf *f, struct rng *r, struct rxe_queue_buf *q,
		       struct rxe_recv_wqe *w, uint32_t len)
{
	unsigned int n = 1 + rng_below(r, MAX_SGE);

	memset(w, 0, ring_elem_size(q));
	w->wr_id = rng_next(r);
	fill_sges(f, r, w->dma.sge, n, len, true);
	w->dma.num_sge = n;
	w->dma.length = w->dma.resid = len;
}

/* ---- mutations ---- */

static uint64_t edge_addr(struct rng *r, struct window *w, uint32_t len)
{
	uint64_t a = (uintptr_t)w->addr, e = a + w->len;

	switch (rng_below(r, 9)) {
	case 0: return a - 1 - rng_below(r, 64);
	case 1: return e - len + 1 + rng_below(r, 64);
	case 2: return e;
	case 3: return 0;
	case 4: return ~0ULL - rng_below(r, 4096);
	case 5: return (uintptr_t)w->map;	/* the canary page */
	case 6: return rng_edgy64(r);
	case 7: return a;
	default: return rng_next(r);
	}
}

static uint32_t rnd_key(struct rf *f, struct rng *r)
{
	struct window *w = any_window(f, r);

	switch (rng_below(r, 7)) {
	case 0: return w->mr->lkey;
	case 1: return w->mr->rkey;
	case 2: return w->mr->lkey ^ (1 + rng_below(r, 255));
	case 3: return w->mr->lkey + 0x100;
	case 4: return f->mw2->rkey;
	case 5: return f->health.mr[rng_below(r, 4)]->lkey;
	default: return rng_edgy32(r);
	}
}

static uint32_t rnd_len(struct rng *r)
{
	static const uint32_t c[] = {
		0, 1, 7, 8, 9, MTU - 1, MTU, MTU + 1, 4096, 65536, 65537,
		0x7fffffff, 0x80000000u, 0xffffffffu, 0xfffffff8u,
	};

	return rng_below(r, 3) ? PICK(r, c) : rng_edgy32(r);
}

static void mut_send(struct rf *f, struct rng *r, struct pair *p,
		     struct rxe_queue_buf *q, struct rxe_send_wqe *w,
		     enum mut m)
{
	unsigned int cap_sge = slot_sges(q, offsetof(struct rxe_send_wqe,
						     dma.sge));
	unsigned int i = rng_below(r, cap_sge ? cap_sge : 1);
	struct window *win = any_window(f, r);

	switch (m) {
	case S_OPCODE:
		switch (rng_below(r, 5)) {
		case 0: w->wr.opcode = rng_below(r, KERNEL_WR_OPCODES); break;
		case 1: w->wr.opcode = rng_below(r, 16); break;
		case 2: w->wr.opcode = PICK(r, rc_ops); break;
		case 3: w->wr.opcode = KERNEL_WR_OPCODES + rng_below(r, 64);
			break;
		default: w->wr.opcode = rng_edgy32(r); break;
		}
		break;
	case S_FLAGS:
		w->wr.send_flags = rng_below(r, 2) ? rng_below(r, 32) :
				   rng_next(r);
		break;
	case S_NUM_SGE: {
		static const uint32_t c[] = { 0, 1, MAX_SGE, MAX_SGE + 1, 31,
					      32, 33, 255, 0x80000000u,
					      0xffffffffu };

		w->dma.num_sge = rng_below(r, 2) ? PICK(r, c) :
				 rng_below(r, MAX_SGE + 1);
		break;
	}
	case S_SGE_ADDR:
		w->dma.sge[i].addr = edge_addr(r, win, w->dma.sge[i].length);
		break;
	case S_SGE_LEN:
		w->dma.sge[i].length = rnd_len(r);
		break;
	case S_SGE_LKEY:
		w->dma.sge[i].lkey = rnd_key(f, r);
		break;
	case S_LENGTH:
		switch (rng_below(r, 4)) {
		case 0: w->dma.length = rnd_len(r); break;
		case 1: w->dma.resid = rnd_len(r); break;
		case 2: w->dma.length = w->dma.resid = rnd_len(r); break;
		default: w->dma.resid = w->dma.length + 1 + rng_below(r, 64);
			break;
		}
		break;
	case S_CUR_SGE:
		w->dma.cur_sge = rng_below(r, 2) ? rng_below(r, MAX_SGE + 2) :
				 rng_edgy32(r);
		break;
	case S_SGE_OFFSET:
		w->dma.sge_offset = rng_below(r, 2) ? rng_below(r, 4096) :
				    rng_edgy32(r);
		break;
	case S_INLINE: {
		size_t cap = inline_cap(q), len;

		w->wr.send_flags ^= IBV_SEND_INLINE;
		len = rng_below(r, 3) ? rng_below(r, cap + 1) : rnd_len(r);
		w->dma.length = w->dma.resid = len;
		w->dma.num_sge = rng_below(r, 2) ? 0 : rng_below(r, 3);
		rng_bytes(r, w->dma.inline_data, len < cap ? len : cap);
		break;
	}
	case S_REMOTE:
		w->wr.wr.rdma.remote_addr = edge_addr(r, win, w->dma.length);
		if (rng_below(r, 2))
			w->wr.wr.rdma.rkey = rnd_key(f, r);
		w->iova = rng_below(r, 2) ? w->wr.wr.rdma.remote_addr :
			  rng_next(r);
		break;
	case S_ATOMIC:
		w->wr.wr.atomic.remote_addr = rng_below(r, 2) ?
			w->wr.wr.atomic.remote_addr | (1 + rng_below(r, 7)) :
			edge_addr(r, win, 8);
		w->wr.wr.atomic.rkey = rnd_key(f, r);
		w->wr.wr.atomic.compare_add = rng_edgy64(r);
		w->wr.wr.atomic.swap = rng_edgy64(r);
		break;
	case S_UD:
		switch (rng_below(r, 6)) {
		case 0: w->wr.wr.ud.ah_num = 0; break;
		case 1: w->wr.wr.ud.ah_num = rng_edgy32(r); break;
		case 2: w->wr.wr.ud.ah_num = f->stale_ah_num; break;
		case 3: w->wr.wr.ud.ah_num =
				to_rah(f->ah_other_pd)->ah_num; break;
		case 4: w->wr.wr.ud.remote_qpn = rng_below(r, 2) ? 1 :
						 rng_next(r); break;
		default: w->wr.wr.ud.remote_qkey = rng_next(r);
			w->wr.wr.ud.pkey_index = rng_next(r); break;
		}
		break;
	case S_AV: {
		struct rxe_av *av = &w->wr.wr.ud.av;

		w->wr.wr.ud.ah_num = 0;
		if (rng_below(r, 3) == 0) {
			rng_bytes(r, av, sizeof(*av));
		} else {
			av->network_type = rng_below(r, 4);
			av->port_num = rng_below(r, 3);
			av->grh.sgid_index = rng_below(r, 4);
			av->grh.hop_limit = rng_next(r);
			av->dgid_addr._sockaddr_in.sin_family =
				rng_below(r, 2) ? AF_INET : AF_INET6;
			av->dgid_addr._sockaddr_in.sin_addr.s_addr =
				rng_below(r, 2) ? htonl(0x7f000001) : rng_next(r);
			av->sgid_addr._sockaddr_in.sin_family =
				rng_below(r, 2) ? AF_INET : rng_next(r);
			av->sgid_addr._sockaddr_in.sin_addr.s_addr =
				rng_below(r, 2) ? htonl(0x7f000001) : rng_next(r);
		}
		break;
	}
	case S_MW:
		w->wr.wr.mw.addr = edge_addr(r, &f->w[W_PIN], 64);
		w->wr.wr.mw.length = rng_edgy64(r);
		w->wr.wr.mw.mr_lkey = rnd_key(f, r);
		w->wr.wr.mw.mw_rkey = rng_below(r, 2) ? f->mw1->rkey :
				      rnd_key(f, r);
		w->wr.wr.mw.rkey = rng_next(r);
		w->wr.wr.mw.access = rng_next(r);
		break;
	case S_EX:
		w->wr.ex.invalidate_rkey = rnd_key(f, r);
		break;
	case S_WRID:
		w->wr.wr_id = rng_next(r);
		w->wr.reserved = rng_next(r);
		break;
	case S_KFIELDS:
		switch (rng_below(r, 6)) {
		case 0: w->state = rng_below(r, 2) ? rng_below(r, 4) :
				   rng_next(r); break;
		case 1: w->status = rng_next(r); break;
		case 2: w->mask = rng_next(r); break;
		case 3: w->first_psn = rng_next(r);
			w->last_psn = rng_next(r); break;
		case 4: w->ack_length = rng_next(r);
			w->has_rd_atomic = rng_next(r); break;
		default: w->ssn = rng_next(r); w->iova = rng_next(r); break;
		}
		break;
	default:
		break;
	}
}

static void mut_recv(struct rf *f, struct rng *r, struct rxe_queue_buf *q,
		     struct rxe_recv_wqe *w, enum mut m)
{
	unsigned int cap = slot_sges(q, offsetof(struct rxe_recv_wqe, dma.sge));
	unsigned int i = rng_below(r, cap ? cap : 1);
	struct window *win = any_window(f, r);

	switch (m) {
	case R_NUM_SGE: {
		static const uint32_t c[] = { 0, 1, MAX_SGE, MAX_SGE + 1, 31,
					      32, 33, 0xffffffffu };

		w->dma.num_sge = PICK(r, c);
		break;
	}
	case R_SGE_ADDR:
		w->dma.sge[i].addr = edge_addr(r, win, w->dma.sge[i].length);
		break;
	case R_SGE_LEN:
		w->dma.sge[i].length = rnd_len(r);
		break;
	case R_SGE_LKEY:
		w->dma.sge[i].lkey = rnd_key(f, r);
		break;
	case R_LENGTH:
		if (rng_below(r, 2))
			w->dma.resid = rnd_len(r);
		else
			w->dma.length = rnd_len(r);
		break;
	case R_CUR_SGE:
		w->dma.cur_sge = rng_below(r, 2) ? rng_below(r, MAX_SGE + 2) :
				 rng_edgy32(r);
		break;
	case R_SGE_OFFSET:
		w->dma.sge_offset = rng_below(r, 2) ? rng_below(r, 4096) :
				    rng_edgy32(r);
		break;
	case R_RESERVED:
		w->reserved = rng_next(r);
		w->padding = rng_next(r);
		w->dma.reserved = rng_next(r);
		w->wr_id = rng_next(r);
		break;
	default:
		break;
	}
}

static bool skip_mut(struct rf *f, enum mut m)
{
	return f->o.skip_mut & (1ULL << m);
}

static void mutate_send(struct rf *f, struct rng *r, struct pair *p,
			struct rxe_queue_buf *q, struct rxe_send_wqe *w, int n)
{
	enum mut m;
	int tries;

	while (n-- > 0) {
		for (tries = 0; tries < 32; tries++) {
			m = S_OPCODE + rng_below(r, S_KFIELDS - S_OPCODE + 1);
			if (!skip_mut(f, m))
				break;
		}
		if (tries == 32)
			return;
		mut_send(f, r, p, q, w, m);
		f->by_mut[m]++;
	}
}

static void mutate_recv(struct rf *f, struct rng *r, struct rxe_queue_buf *q,
			struct rxe_recv_wqe *w, int n)
{
	enum mut m;
	int tries;

	while (n-- > 0) {
		for (tries = 0; tries < 32; tries++) {
			m = R_NUM_SGE + rng_below(r, R_RESERVED - R_NUM_SGE + 1);
			if (!skip_mut(f, m))
				break;
		}
		if (tries == 32)
			return;
		mut_recv(f, r, q, w, m);
		f->by_mut[m]++;
	}
}

/* ---- known bugs: hold back (rewrite) what -k names ---- */

static int known_send(struct rf *f, struct rxe_queue_buf *q,
		      const struct rxe_send_wqe *w)
{
	uint64_t cap = inline_cap(q);

	if ((f->o.avoid & (1u << K_OPCODE_OOB)) &&
	    w->wr.opcode >= KERNEL_WR_OPCODES)
		return K_OPCODE_OOB;
	if ((f->o.avoid & (1u << K_REG_MR)) &&
	    w->wr.opcode == KERNEL_WR_REG_MR)
		return K_REG_MR;
	if ((f->o.avoid & (1u << K_INLINE_OOB)) &&
	    (w->wr.send_flags & IBV_SEND_INLINE) &&
	    (w->dma.length > cap ||
	     (uint64_t)w->dma.sge_offset + w->dma.resid > cap))
		return K_INLINE_OOB;
	if ((f->o.avoid & (1u << K_INV_MW)) &&
	    (w->wr.opcode == IBV_WR_LOCAL_INV ||
	     w->wr.opcode == IBV_WR_SEND_WITH_INV) &&
	    ((w->wr.ex.invalidate_rkey >> 8) == (f->mw1->rkey >> 8) ||
	     (w->wr.ex.invalidate_rkey >> 8) == (f->mw2->rkey >> 8)))
		return K_INV_MW;
	if ((f->o.avoid & (1u << K_MW_BIND)) &&
	    w->wr.opcode == IBV_WR_BIND_MW &&
	    (w->wr.wr.mw.mw_rkey >> 8) == (f->mw2->rkey >> 8))
		return K_MW_BIND;
	if ((f->o.avoid & (1u << K_SQ_CUR_SGE)) && w->dma.cur_sge >= MAX_SGE)
		return K_SQ_CUR_SGE;
	return -1;
}

static void fix_send(struct rf *f, struct rxe_send_wqe *w, int k)
{
	switch (k) {
	case K_INV_MW:
		w->wr.ex.invalidate_rkey = f->w[W_PIN].mr->rkey;
		break;
	case K_MW_BIND:
		w->wr.wr.mw.mw_rkey = f->mw1->rkey;
		break;
	case K_SQ_CUR_SGE:
		w->dma.cur_sge = 0;
		break;
	case K_OPCODE_OOB:
	case K_REG_MR:
		w->wr.opcode = IBV_WR_SEND;
		break;
	case K_INLINE_OOB:
		w->wr.send_flags &= ~IBV_SEND_INLINE;
		break;
	}
}

static int known_recv(struct rf *f, const struct rxe_recv_wqe *w)
{
	if ((f->o.avoid & (1u << K_RQ_CUR_SGE)) &&
	    w->dma.cur_sge >= KERNEL_MAX_SGE)
		return K_RQ_CUR_SGE;
	return -1;
}

/* Check the slots [from, to) about to be published (stale ones too). */
static void sanitize(struct rf *f, struct rxe_queue_buf *q, uint32_t from,
		     uint32_t to, bool send)
{
	uint32_t i, n = (to - from) & q->index_mask;
	int k;

	if (!f->o.avoid)
		return;
	if (n == 0 && to != from)
		n = q->index_mask + 1;
	for (i = 0; i < n; i++) {
		void *slot = ring_slot(q, from + i);

		if (send) {
			struct rxe_send_wqe *w = slot;

			while ((k = known_send(f, q, w)) >= 0) {
				fix_send(f, w, k);
				f->avoided[k]++;
			}
		} else {
			struct rxe_recv_wqe *w = slot;

			if ((k = known_recv(f, w)) >= 0) {
				w->dma.cur_sge = 0;
				f->avoided[k]++;
			}
		}
	}
}

static void publish(struct rf *f, struct rxe_queue_buf *q, uint32_t prod,
		    bool send)
{
	uint32_t old = atomic_load_explicit(ring_prod(q), memory_order_relaxed);

	sanitize(f, q, old, prod, send);
	atomic_store_explicit(ring_prod(q), prod, memory_order_release);
}

/* ---- triggers ---- */

/* Messages from qp[0] at qp[1]'s receive queue (or SRQ). */
static void send_at(struct rf *f, struct rng *r, struct pair *p, int n)
{
	struct ibv_send_wr wr, *bad;
	struct ibv_sge sge;
	struct window *w;
	uint32_t len;

	while (n-- > 0) {
		memset(&wr, 0, sizeof(wr));
		w = any_window(f, r);
		len = p->type == IBV_QPT_UD ? rng_below(r, MTU + 1) :
		      rng_below(r, 2) ? rng_below(r, 512) : rng_below(r, 3 * MTU);
		if (len > w->len)
			len = w->len;
		sge.addr = (uintptr_t)w->addr + rng_below(r, w->len - len + 1);
		sge.length = len;
		sge.lkey = w->mr->lkey;
		wr.wr_id = 0x5e5d;
		wr.sg_list = &sge;
		wr.num_sge = len ? 1 : 0;
		wr.send_flags = IBV_SEND_SIGNALED;
		wr.opcode = rng_below(r, 2) ? IBV_WR_SEND : IBV_WR_SEND_WITH_IMM;
		if (p->type != IBV_QPT_UD && rng_chance(r, 200)) {
			struct window *t = rw_window(f, r);

			wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
			wr.wr.rdma.remote_addr = (uintptr_t)t->addr +
						 rng_below(r, t->len - len + 1);
			wr.wr.rdma.rkey = t->mr->rkey;
		}
		if (p->type == IBV_QPT_UD) {
			wr.wr.ud.ah = p->ah;
			wr.wr.ud.remote_qpn = p->qp[1]->qp_num;
			wr.wr.ud.remote_qkey = FUZZ_QKEY;
			if (rng_chance(r, 300)) {
				/* the same as a raw RoCE v2 packet */
				static uint8_t pkt[ROCE_MAX];
				struct roce_hdr h = {
					.opcode = OPC_UD | OP_SEND_ONLY,
					.pkey = 0xffff,
					.qpn = p->qp[1]->qp_num,
					.qkey = FUZZ_QKEY,
					.src_qp = p->qp[0]->qp_num,
				};
				size_t plen = len;

				h.pad = (4 - (plen & 3)) & 3;
				plen = roce_build(pkt, &h, roce_op_flags(h.opcode),
						  (void *)(uintptr_t)sge.addr, plen);
				roce_set_icrc(pkt, plen);
				roce_send(&f->sock, pkt, plen);
				f->sends++;
				continue;
			}
		}
		if (ibv_post_send(p->qp[0], &wr, &bad))
			f->post_err++;
		else
			f->sends++;
	}
}

/* A legit receive for the SENDs a fuzzed SQ may carry. */
static void post_legit_recv(struct rf *f, struct rng *r, struct pair *p)
{
	struct ibv_recv_wr wr = { .wr_id = 0x7ecu, .num_sge = 1 }, *bad;
	struct window *w = rw_window(f, r);
	struct ibv_sge sge = {
		.addr = (uintptr_t)w->addr, .length = 3 * MTU + 64,
		.lkey = w->mr->lkey,
	};
	int ret;

	wr.sg_list = &sge;
	ret = p->use_srq ? ibv_post_srq_recv(f->srq, &wr, &bad) :
			   ibv_post_recv(p->qp[1], &wr, &bad);
	if (ret)
		f->post_err++;
}

/* ---- inputs ---- */

static bool in_range(const struct rf *f)
{
	return f->index >= f->o.first && f->index <= f->o.last;
}

static void note(struct rf *f, const char *fmt, ...)
{
	va_list ap;

	if (!f->o.verbose)
		return;
	va_start(ap, fmt);
	printf("# in %lu ", f->index);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static bool sq_room(struct rxe_queue_buf *q, unsigned int n)
{
	uint32_t prod = atomic_load_explicit(ring_prod(q), memory_order_relaxed);
	uint32_t cons = atomic_load_explicit(ring_cons(q), memory_order_acquire);

	return ((cons - prod - 1) & q->index_mask) >= n;
}

static void do_sq(struct rf *f, struct rng *r, struct pair *p, bool raw)
{
	struct rxe_queue_buf *q = sq_of(p->qp[0]);
	unsigned int n = 1 + rng_below(r, 4), i;
	uint32_t prod;
	bool send_op = false;

	if (!sq_room(q, n)) {
		p->dirty = true;
		return;
	}
	prod = atomic_load_explicit(ring_prod(q), memory_order_relaxed);
	for (i = 0; i < n; i++) {
		struct rxe_send_wqe *w = ring_slot(q, prod);

		if (raw) {
			rng_bytes(r, w, ring_elem_size(q));
		} else {
			legit_send(f, r, p, q, w);
			if (rng_chance(r, 850))
				mutate_send(f, r, p, q, w, 1 + rng_below(r, 3));
		}
		send_op |= (w->wr.opcode & ~1u) == IBV_WR_SEND ||
			   w->wr.opcode == IBV_WR_SEND_WITH_INV ||
			   w->wr.opcode == IBV_WR_RDMA_WRITE_WITH_IMM;
		note(f, "%s %s slot %u op %#x flags %#x num_sge %u len %u resid %u cur_sge %u off %u",
		     raw ? "sq-raw" : "sq", p->name, prod & q->index_mask,
		     w->wr.opcode, w->wr.send_flags, w->dma.num_sge,
		     w->dma.length, w->dma.resid, w->dma.cur_sge,
		     w->dma.sge_offset);
		prod = ring_next(q, prod);
	}
	if (send_op)
		post_legit_recv(f, r, p);
	publish(f, q, prod, true);
	doorbell(f, p->qp[0]);
}

static void do_rq(struct rf *f, struct rng *r, struct pair *p)
{
	struct rxe_queue_buf *q = rq_of(f, p);
	unsigned int n = 1 + rng_below(r, 3), i;
	uint32_t prod, cons;

	prod = atomic_load_explicit(ring_prod(q), memory_order_relaxed);
	cons = atomic_load_explicit(ring_cons(q), memory_order_acquire);
	if (((cons - prod - 1) & q->index_mask) < n) {
		p->dirty = true;
		return;
	}
	for (i = 0; i < n; i++) {
		struct rxe_recv_wqe *w = ring_slot(q, prod);

		legit_recv(f, r, q, w, p->type == IBV_QPT_UD ?
			   40 + MTU : rng_below(r, 3 * MTU + 1));
		if (rng_chance(r, 800))
			mutate_recv(f, r, q, w, 1 + rng_below(r, 3));
		note(f, "%s %s slot %u num_sge %u len %u resid %u cur_sge %u off %u",
		     p->use_srq ? "srq" : "rq", p->name, prod & q->index_mask,
		     w->dma.num_sge, w->dma.length, w->dma.resid,
		     w->dma.cur_sge, w->dma.sge_offset);
		prod = ring_next(q, prod);
	}
	publish(f, q, prod, false);
	send_at(f, r, p, n);
}

static void do_index(struct rf *f, struct rng *r, struct pair *p)
{
	struct rxe_queue_buf *q;
	uint32_t prod, size, log2, mask;
	int which = rng_below(r, 4);	/* SQ, RQ/SRQ, CQ, header */
	bool send = which == 0 || (which == 3 && rng_below(r, 2));
	enum mut m;

	q = send ? sq_of(p->qp[0]) : rq_of(f, p);
	prod = atomic_load_explicit(ring_prod(q), memory_order_relaxed);
	size = q->index_mask + 1;
	if (which == 2) {
		struct rxe_queue_buf *cq = to_rcq(p->cq[rng_below(r, 2)])->ring.buf;

		m = I_CQ_CONS;
		atomic_store_explicit(ring_cons(cq), rng_below(r, 2) ?
				      rng_next(r) :
				      cq->producer_index + 1 + rng_below(r, 4),
				      memory_order_release);
		note(f, "index %s cq consumer %u", p->name, cq->consumer_index);
		send_at(f, r, p, 1 + rng_below(r, 2));
		p->dirty = true;
	} else if (which == 3) {
		m = I_HDR;
		log2 = q->log2_elem_size;
		mask = q->index_mask;
		if (rng_below(r, 2))
			q->log2_elem_size = rng_next(r);
		else
			q->index_mask = rng_next(r);
		note(f, "index %s %s header log2 %u mask %#x", p->name,
		     send ? "sq" : "rq", q->log2_elem_size, q->index_mask);
		if (send)
			doorbell(f, p->qp[0]);
		else
			send_at(f, r, p, 1);
		/* the provider uses these itself: put them back */
		q->log2_elem_size = log2;
		q->index_mask = mask;
	} else {
		uint32_t np;

		switch (rng_below(r, 5)) {
		case 0:
			m = I_PROD_AHEAD;
			np = prod + 2 + rng_below(r, 2 * size);
			if (rng_below(r, 2))
				np &= q->index_mask;
			break;
		case 1:
			m = I_PROD_BACK;
			np = (prod - 1 - rng_below(r, size)) & q->index_mask;
			break;
		case 2:
			m = I_PROD_RAW;
			np = rng_edgy32(r);
			break;
		case 3:
			m = I_PROD_WRAP;
			np = prod + size * (1 + rng_below(r, 1000));
			break;
		default:
			m = I_CONS;
			np = prod;
			atomic_store_explicit(ring_cons(q), rng_edgy32(r),
					      memory_order_release);
			break;
		}
		note(f, "index %s %s producer %u -> %u (mask %#x)", p->name,
		     send ? "sq" : "rq", prod, np, q->index_mask);
		publish(f, q, np, send);
		if (send)
			doorbell(f, p->qp[0]);
		else
			send_at(f, r, p, 1 + rng_below(r, 3));
		if (rng_chance(r, 150))
			p->dirty = true;
	}
	f->by_mut[m]++;
}

static void do_valid(struct rf *f, struct rng *r, struct pair *p)
{
	struct ibv_send_wr wr = { .wr_id = 0xa11d, .num_sge = 1,
				  .send_flags = IBV_SEND_SIGNALED }, *bad;
	struct window *l = rw_window(f, r), *t = rw_window(f, r);
	uint32_t len = rng_below(r, 2 * MTU);
	struct ibv_sge sge = {
		.addr = (uintptr_t)l->addr, .length = len, .lkey = l->mr->lkey,
	};

	note(f, "valid %s", p->name);
	wr.sg_list = &sge;
	if (p->type == IBV_QPT_UD || rng_below(r, 2)) {
		post_legit_recv(f, r, p);
		send_at(f, r, p, 1);
		return;
	}
	wr.opcode = p->type == IBV_QPT_RC && rng_below(r, 2) ?
		    IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
	wr.wr.rdma.remote_addr = (uintptr_t)t->addr + MTU;
	wr.wr.rdma.rkey = t->mr->rkey;
	if (ibv_post_send(p->qp[0], &wr, &bad))
		f->post_err++;
}

static void one_input(struct rf *f, uint64_t idx)
{
	struct rng r;
	unsigned int x, acc, c, tries = 0;
	struct pair *p;

	rng_input(&r, f->o.seed, idx);
	do {
		x = rng_below(&r, 1000);
		for (acc = 0, c = 0; c < C_NR; c++) {
			acc += cls_weight[c];
			if (x < acc)
				break;
		}
	} while ((f->o.skip_cls & (1ULL << c)) && ++tries < 64);
	if (tries >= 64)
		return;
	p = &f->p[c == C_SRQ ? P_SRQ : rng_below(&r, P_NR)];
	if (c == C_RQ && p->use_srq)
		c = C_SRQ;
	if (!in_range(f))
		return;
	if (p->dirty || f->index - p->last_check >= CHECK_EVERY ||
	    f->index - p->created_at >= 3000) {
		p->last_check = f->index;
		/* new QPs (and CQs, SRQ) when the fuzzer dirtied more than
		 * the QP, and every 3000 inputs; else a reset will do */
		if (p->dirty || f->index - p->created_at >= 3000) {
			if (pair_recreate(f, p))
				return;
		} else if (pair_bad(p) && pair_reset(f, p)) {
			return;
		}
	}
	p->inputs++;
	f->by_cls[c]++;
	switch (c) {
	case C_SQ: do_sq(f, &r, p, false); break;
	case C_SQ_RAW: do_sq(f, &r, p, true); break;
	case C_RQ:
	case C_SRQ: do_rq(f, &r, p); break;
	case C_INDEX: do_index(f, &r, p); break;
	default: do_valid(f, &r, p); break;
	}
	drain(f, p);
}

/* ---- checks ---- */

/* A SEND of a pattern from qp[0] lands in a fresh receive on qp[1]. */
static int pair_probe(struct rf *f, struct pair *p, uint64_t seed, char *why,
		      size_t n)
{
	struct window *src = &f->w[W_PIN], *dst = &f->w[W_ODP];
	uint32_t len = 512, grh = p->type == IBV_QPT_UD ? 40 : 0;
	struct ibv_sge ssge = { .addr = (uintptr_t)src->addr + 4096,
				.length = len, .lkey = src->mr->lkey };
	struct ibv_sge rsge = { .addr = (uintptr_t)dst->addr + 8192,
				.length = len + grh, .lkey = dst->mr->lkey };
	struct ibv_recv_wr rwr = { .wr_id = 0x9bb1, .sg_list = &rsge,
				   .num_sge = 1 }, *rbad;
	struct ibv_send_wr swr = { .wr_id = 0x9bb0, .sg_list = &ssge,
				   .num_sge = 1, .opcode = IBV_WR_SEND,
				   .send_flags = IBV_SEND_SIGNALED }, *sbad;
	struct ibv_wc wc;
	double end;
	int got = 0, i, ret;
	uint32_t k;

	if (pair_recreate(f, p))
		return snprintf(why, n, "%s: recreate: %s", p->name,
				strerror(errno)), -1;
	for (k = 0; k < len; k++)
		((uint8_t *)src->addr)[4096 + k] = seed + k * 13;
	memset(dst->addr + 8192, 0, len + grh);
	if (p->type == IBV_QPT_UD) {
		swr.wr.ud.ah = p->ah;
		swr.wr.ud.remote_qpn = p->qp[1]->qp_num;
		swr.wr.ud.remote_qkey = FUZZ_QKEY;
	}
	ret = p->use_srq ? ibv_post_srq_recv(f->srq, &rwr, &rbad) :
			   ibv_post_recv(p->qp[1], &rwr, &rbad);
	if (ret || ibv_post_send(p->qp[0], &swr, &sbad))
		return snprintf(why, n, "%s: post: %s", p->name,
				strerror(ret ? ret : errno)), -1;
	/* stale receives of the SRQ may take the message first: look for
	 * ours among the completions */
	end = fuzz_now() + 10;
	while (got != 3 && fuzz_now() < end) {
		for (i = 0; i < 2; i++) {
			while (ibv_poll_cq(p->cq[i], 1, &wc) == 1) {
				if (wc.wr_id == 0x9bb0 || wc.wr_id == 0x9bb1) {
					if (wc.status)
						return snprintf(why, n, "%s: %s completion status %d",
								p->name, i ? "receive" : "send",
								wc.status), -1;
					got |= wc.wr_id == 0x9bb0 ? 1 : 2;
				}
			}
		}
		if (got != 3)
			usleep(1000);
	}
	if (got != 3) {
		if (p->use_srq && (got & 1)) {
			/* a stale fuzzed SRQ entry took it; post more */
			return 0;
		}
		return snprintf(why, n, "%s: completions missing (%d)",
				p->name, got), -1;
	}
	for (k = 0; k < len; k++)
		if (((uint8_t *)dst->addr)[8192 + grh + k] != (uint8_t)(seed + k * 13))
			return snprintf(why, n, "%s: data differs at %u", p->name,
					k), -1;
	return 0;
}

static void progress(struct rf *f, const char *what)
{
	double dt = fuzz_now() - f->t0;
	int c;

	printf("# %s: %lu inputs in %.0f s (%.0f/s),", what, f->index, dt,
	       dt > 0 ? f->index / dt : 0);
	for (c = 0; c < C_NR; c++)
		printf(" %s %lu", cls_names[c], f->by_cls[c]);
	printf("; completions ok %lu error %lu; odp_faults %lld; MemAvailable %ld MiB\n",
	       f->wc_ok, f->wc_err, rdma_loop_counter(&f->lp, "odp_faults"),
	       mem_available_mb());
}

static bool checks(struct rf *f, const char *name)
{
	char why[256];
	bool ok = true;
	long bad;
	int i;

	f->checks++;
	tap_run(name);
	for (i = 0; i < W_NR; i++) {
		bad = window_check(&f->w[i]);
		if (bad >= 0) {
			printf("# %s: window %s damaged at MR offset %ld (byte %#x, canary %#x)\n",
			       name, f->w[i].name,
			       bad - (long)(f->w[i].addr - f->w[i].map),
			       (uint8_t)f->w[i].map[bad],
			       window_canary(&f->w[i], bad));
			window_reset(&f->w[i]);
			ok = false;
		}
	}
	if (health_check(&f->health, f->o.seed + f->checks, why, sizeof(why))) {
		printf("# %s: fresh-pair RDMA: %s\n", name, why);
		ok = false;
	}
	for (i = 0; i < P_NR; i++) {
		if (pair_probe(f, &f->p[i], f->o.seed + f->checks + i, why,
			       sizeof(why))) {
			printf("# %s: %s\n", name, why);
			ok = false;
		}
		f->p[i].dirty = true;
	}
	progress(f, name);
	tap_result(ok, name, "after %lu inputs", f->index);
	return ok;
}

/* ---- setup ---- */

static int setup(struct rf *f, char *why, size_t n)
{
	static const char *const pname[P_NR] = { "rc", "uc", "ud", "rc_srq" };
	static const enum ibv_qp_type ptype[P_NR] = {
		IBV_QPT_RC, IBV_QPT_UC, IBV_QPT_UD, IBV_QPT_RC,
	};
	struct ibv_srq_init_attr sa = {
		.attr = { .max_wr = SRQ_WR, .max_sge = MAX_SGE },
	};
	struct ibv_ah_attr aa = {
		.is_global = 1, .port_num = 1,
	};
	struct ibv_ah *stale;
	int i, rw = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;

	if (rdma_loop_open(&f->lp))
		return snprintf(why, n, "rdma_loop_open: %s", strerror(errno)), -1;
	if (!provider_is_ours(&f->lp, why, n))
		return -1;
	if (health_init(&f->health, &f->lp, 64 * 1024))
		return snprintf(why, n, "health buffers: %s", strerror(errno)), -1;
	if (window_alloc(&f->w[W_PIN], "pinned", WIN_LEN, 64, 0x61, false) ||
	    window_alloc(&f->w[W_ODP], "odp", WIN_LEN, 128, 0x62, false) ||
	    window_alloc(&f->w[W_RO], "pinned-readonly", SMALL_LEN, 32, 0x63,
			 true) ||
	    window_alloc(&f->w[W_RO_ODP], "odp-readonly", SMALL_LEN, 96, 0x64,
			 true))
		return snprintf(why, n, "windows: %s", strerror(errno)), -1;
	f->w[W_PIN].mr = ibv_reg_mr(f->lp.pd, f->w[W_PIN].addr, WIN_LEN,
				    rw | IBV_ACCESS_MW_BIND);
	f->w[W_ODP].mr = reg_odp(f->lp.pd, f->w[W_ODP].addr, WIN_LEN, rw);
	/* no local write: receives and READ/atomic results must not land */
	f->w[W_RO].mr = ibv_reg_mr(f->lp.pd, f->w[W_RO].addr, SMALL_LEN,
				   IBV_ACCESS_REMOTE_READ);
	f->w[W_RO_ODP].mr = reg_odp(f->lp.pd, f->w[W_RO_ODP].addr, SMALL_LEN,
				    IBV_ACCESS_REMOTE_READ);
	for (i = 0; i < W_NR; i++)
		if (!f->w[i].mr)
			return snprintf(why, n, "MR %s: %s", f->w[i].name,
					strerror(errno)), -1;
	f->mw1 = ibv_alloc_mw(f->lp.pd, IBV_MW_TYPE_1);
	f->mw2 = ibv_alloc_mw(f->lp.pd, IBV_MW_TYPE_2);
	f->srq = ibv_create_srq(f->lp.pd, &sa);
	f->pd2 = ibv_alloc_pd(f->lp.ctx);
	if (!f->mw1 || !f->mw2 || !f->srq || !f->pd2)
		return snprintf(why, n, "MW/SRQ/PD: %s", strerror(errno)), -1;
	aa.grh.dgid = f->lp.gid;
	aa.grh.sgid_index = f->lp.gid_index;
	aa.grh.hop_limit = 1;
	f->ah_other_pd = ibv_create_ah(f->pd2, &aa);
	stale = ibv_create_ah(f->lp.pd, &aa);
	if (!f->ah_other_pd || !stale)
		return snprintf(why, n, "AH: %s", strerror(errno)), -1;
	f->stale_ah_num = to_rah(stale)->ah_num;
	ibv_destroy_ah(stale);
	for (i = 0; i < P_NR; i++) {
		f->p[i].name = pname[i];
		f->p[i].type = ptype[i];
		f->p[i].use_srq = i == P_SRQ;
		if (pair_open(f, &f->p[i]))
			return snprintf(why, n, "pair %s: %s", pname[i],
					strerror(errno)), -1;
	}
	if (roce_sock_open(&f->sock))
		return snprintf(why, n, "UDP socket: %s", strerror(errno)), -1;
	return 0;
}

static void teardown(struct rf *f)
{
	int i;

	for (i = 0; i < P_NR; i++) {
		pair_close(&f->p[i]);
		if (f->p[i].ah)
			ibv_destroy_ah(f->p[i].ah);
	}
	if (f->ah_other_pd)
		ibv_destroy_ah(f->ah_other_pd);
	if (f->pd2)
		ibv_dealloc_pd(f->pd2);
	if (f->srq)
		ibv_destroy_srq(f->srq);
	if (f->mw1)
		ibv_dealloc_mw(f->mw1);
	if (f->mw2)
		ibv_dealloc_mw(f->mw2);
	for (i = 0; i < W_NR; i++)
		window_free(&f->w[i]);
	health_fini(&f->health);
	roce_sock_close(&f->sock);
	rdma_loop_close(&f->lp);
}

/* -P BUG: one WQE of a known bug on a fresh pair. */
static int repro_known(void *ctx, int k, char *why, size_t n)
{
	struct rf *f = ctx;
	static char fake_mr[4096];
	struct pair *p = &f->p[P_RC];
	struct rxe_queue_buf *q;
	struct rng r;
	uint32_t prod;

	rng_input(&r, f->o.seed, 0xbad);
	if (pair_recreate(f, p))
		return snprintf(why, n, "pair: %s", strerror(errno)), -1;
	if (k == K_MW_BIND) {
		/* plain verbs: bind the type 2 MW through the RC QP, destroy
		 * the QP (the MW still holds it), deallocate the MW */
		struct ibv_send_wr wr = {
			.wr_id = 0xb1d, .opcode = IBV_WR_BIND_MW,
			.send_flags = IBV_SEND_SIGNALED,
		}, *bad;
		struct ibv_wc wc;
		double t, end = fuzz_now() + 5;
		int got = 0;

		wr.bind_mw.mw = f->mw2;
		wr.bind_mw.rkey = ibv_inc_rkey(f->mw2->rkey);
		wr.bind_mw.bind_info.mr = f->w[W_PIN].mr;
		wr.bind_mw.bind_info.addr = (uintptr_t)f->w[W_PIN].addr;
		wr.bind_mw.bind_info.length = 4096;
		wr.bind_mw.bind_info.mw_access_flags = IBV_ACCESS_REMOTE_WRITE;
		if (ibv_post_send(p->qp[0], &wr, &bad))
			return snprintf(why, n, "post bind: %s", strerror(errno)), -1;
		while (!got && fuzz_now() < end)
			got = ibv_poll_cq(p->cq[0], 1, &wc);
		printf("# type 2 MW bound through QP %#x: %s (status %d); destroying the QP\n",
		       p->qp[0]->qp_num, got == 1 ? "completed" : "no completion",
		       got == 1 ? (int)wc.status : -1);
		if (got != 1 || wc.status != IBV_WC_SUCCESS)
			return snprintf(why, n, "the bind did not complete"), -1;
		t = fuzz_now();
		pair_close(p);
		t = fuzz_now() - t;
		printf("# QP destroyed after %.1f s; deallocating the MW\n", t);
		ibv_dealloc_mw(f->mw2);
		f->mw2 = NULL;
		printf("# MW deallocated\n");
		/* rxe's pool gives up waiting for references after 50 s */
		if (t > 10)
			return snprintf(why, n, "destroy_qp took %.1f s", t), -1;
		return 0;
	}
	if (k == K_INV_MW) {
		/* plain verbs, no ring writes: a SEND with invalidate of the
		 * rkey of a type 2 MW that was allocated and never bound */
		struct ibv_sge sge = {
			.addr = (uintptr_t)f->w[W_PIN].addr, .length = 64,
			.lkey = f->w[W_PIN].mr->lkey,
		};
		struct ibv_send_wr wr = {
			.sg_list = &sge, .num_sge = 1,
			.opcode = IBV_WR_SEND_WITH_INV,
			.send_flags = IBV_SEND_SIGNALED,
			.invalidate_rkey = f->mw2->rkey,
		}, *bad;

		printf("# ibv_post_send RC SEND_WITH_INV, invalidate_rkey %#x (type 2 MW, not bound)\n",
		       f->mw2->rkey);
		post_legit_recv(f, &r, p);
		if (ibv_post_send(p->qp[0], &wr, &bad))
			return snprintf(why, n, "post: %s", strerror(errno)), -1;
	} else if (k == K_RQ_CUR_SGE) {
		struct rxe_recv_wqe *w;

		q = rq_of(f, p);
		prod = atomic_load_explicit(ring_prod(q), memory_order_relaxed);
		w = ring_slot(q, prod);
		legit_recv(f, &r, q, w, 256);
		w->dma.cur_sge = 0x10000000;
		printf("# RC receive WQE with dma.cur_sge %#x, then a 64-byte SEND at it\n",
		       w->dma.cur_sge);
		atomic_store_explicit(ring_prod(q), ring_next(q, prod),
				      memory_order_release);
		{
			struct ibv_sge sge = {
				.addr = (uintptr_t)f->w[W_PIN].addr,
				.length = 64, .lkey = f->w[W_PIN].mr->lkey,
			};
			struct ibv_send_wr wr = {
				.sg_list = &sge, .num_sge = 1,
				.opcode = IBV_WR_SEND,
				.send_flags = IBV_SEND_SIGNALED,
			}, *bad;

			ibv_post_send(p->qp[0], &wr, &bad);
		}
	} else {
		struct rxe_send_wqe *w;

		q = sq_of(p->qp[0]);
		prod = atomic_load_explicit(ring_prod(q), memory_order_relaxed);
		w = ring_slot(q, prod);
		memset(w, 0, ring_elem_size(q));
		w->wr.opcode = IBV_WR_SEND;
		w->wr.send_flags = IBV_SEND_SIGNALED;
		switch (k) {
		case K_OPCODE_OOB:
			w->wr.opcode = 0x7fffffff;
			break;
		case K_REG_MR:
			/* wr.wr.reg.mr (the kernel's view of wr.wr): a
			 * pointer the kernel dereferences and writes through */
			w->wr.opcode = KERNEL_WR_REG_MR;
			w->wr.wr.rdma.remote_addr = (uintptr_t)fake_mr;
			break;
		case K_INLINE_OOB:
			w->wr.send_flags |= IBV_SEND_INLINE;
			w->dma.length = w->dma.resid = 256;
			w->dma.sge_offset = 0x7ffff000;
			break;
		}
		printf("# RC send WQE: opcode %#x flags %#x length %u sge_offset %#x wr.rdma.remote_addr %#llx, then the doorbell\n",
		       w->wr.opcode, w->wr.send_flags, w->dma.length,
		       w->dma.sge_offset,
		       (unsigned long long)w->wr.wr.rdma.remote_addr);
		post_legit_recv(f, &r, p);
		atomic_store_explicit(ring_prod(q), ring_next(q, prod),
				      memory_order_release);
		doorbell(f, p->qp[0]);
	}
	usleep(500 * 1000);
	drain(f, p);
	return 0;
}

/* ---- main ---- */

static void usage(FILE *out)
{
	int i;

	fprintf(out,
		"usage: rxe_ring_fuzz [-n COUNT] [-t SECONDS] [-s SEED] [-H EVERY]\n"
		"                     [-r FIRST-LAST] [-x NAME,...] [-k BUG,...] [-v]\n"
		"       rxe_ring_fuzz -P BUG,...|all\n"
		"  -n  inputs (default 100000; 0: no limit)  -t  stop after SECONDS\n"
		"  -s  PRNG seed (default: from the clock)  -H  health check every EVERY inputs (10000)\n"
		"  -r  only inputs FIRST..LAST  -v  print every input\n"
		"  -k/-P  known kernel bugs:");
	for (i = 0; i < K_NR; i++)
		fprintf(out, " %s", known_names[i]);
	fprintf(out, "\n  -x  classes/mutations:");
	for (i = 0; i < C_NR; i++)
		fprintf(out, " %s", cls_names[i]);
	for (i = 0; i < M_NR; i++)
		fprintf(out, " %s", mut_names[i]);
	fprintf(out, "\n(needs RDMAV_DRIVERS=$PWD/build/provider/librxe_odp)\n");
}

static int lookup(const char *const *names, int nr, const char *tok)
{
	int i;

	for (i = 0; i < nr; i++)
		if (!strcmp(tok, names[i]))
			return i;
	return -1;
}

static int parse_list(struct opts *o, char *list, bool known)
{
	char *tok, *save = NULL;
	int i;

	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (known) {
			i = lookup(known_names, K_NR, tok);
			if (i < 0)
				goto bad;
			o->avoid |= 1u << i;
		} else if ((i = lookup(cls_names, C_NR, tok)) >= 0) {
			o->skip_cls |= 1ULL << i;
		} else if ((i = lookup(mut_names, M_NR, tok)) >= 0) {
			o->skip_mut |= 1ULL << i;
		} else {
			goto bad;
		}
	}
	return 0;
bad:
	fprintf(stderr, "rxe_ring_fuzz: unknown name %s\n", tok);
	return -1;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	int c;

	while ((c = getopt(argc, argv, "n:t:s:H:r:x:k:P:vh")) != -1) {
		switch (c) {
		case 'n': o->count = strtoul(optarg, NULL, 0); break;
		case 't': o->seconds = strtod(optarg, NULL); break;
		case 's': o->seed = strtoull(optarg, NULL, 0); break;
		case 'H': o->health_every = strtoul(optarg, NULL, 0); break;
		case 'r':
			if (sscanf(optarg, "%lu-%lu", &o->first, &o->last) != 2)
				return -1;
			break;
		case 'x':
			if (parse_list(o, optarg, false))
				return -1;
			break;
		case 'k':
			if (parse_list(o, optarg, true))
				return -1;
			break;
		case 'P':
			if (name_mask("rxe_ring_fuzz", known_names, K_NR,
				      K_REPRO_ALL, optarg, &o->repro))
				return -1;
			break;
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	return optind < argc ? -1 : 0;
}

int main(int argc, char **argv)
{
	static struct rf f;
	unsigned long next_check, next_clock = 256, next_beat = 1000;
	char why[256] = "";
	bool ok;
	int i;

	f.o.count = 100000;
	f.o.health_every = 10000;
	f.o.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	f.o.last = ~0UL;
	if (parse_opts(argc, argv, &f.o)) {
		usage(stderr);
		return 2;
	}
	if (!f.o.health_every)
		f.o.health_every = ~0UL;

	tap_begin("rxe_ring_fuzz");
	printf("# rxe_ring_fuzz: seed %llu (-s to repeat), count %lu, time %.0f s\n",
	       (unsigned long long)f.o.seed, f.o.count, f.o.seconds);
	tap_run("setup");
	ok = !setup(&f, why, sizeof(why));
	tap_result(ok, "setup", "%s", why);
	if (!ok) {
		teardown(&f);
		return tap_end();
	}
	printf("# pairs: rc %#x->%#x, uc %#x->%#x, ud %#x->%#x, rc_srq %#x->%#x; SQ slot %zu bytes (inline %zu), RQ slot %zu bytes\n",
	       f.p[0].qp[0]->qp_num, f.p[0].qp[1]->qp_num, f.p[1].qp[0]->qp_num,
	       f.p[1].qp[1]->qp_num, f.p[2].qp[0]->qp_num, f.p[2].qp[1]->qp_num,
	       f.p[3].qp[0]->qp_num, f.p[3].qp[1]->qp_num,
	       ring_elem_size(sq_of(f.p[0].qp[0])),
	       inline_cap(sq_of(f.p[0].qp[0])),
	       ring_elem_size(rq_of(&f, &f.p[0])));

	tap_known(f.o.repro, known_names, K_NR, repro_known, &f);
	f.t0 = fuzz_now();
	next_check = f.o.health_every;
	while (!f.o.repro) {
		if ((f.o.count && f.index >= f.o.count) || f.index > f.o.last)
			break;
		one_input(&f, f.index);
		f.index++;
		if (f.index >= next_clock) {
			if (f.o.seconds && fuzz_now() - f.t0 > f.o.seconds)
				break;
			next_clock = f.index + 256;
		}
		if (f.index >= next_beat) {
			printf("# at input %lu\n", f.index);
			next_beat = f.index + 1000;
		}
		if (f.index >= next_check) {
			char name[32];

			snprintf(name, sizeof(name), "health.%lu", f.checks + 1);
			checks(&f, name);
			next_check = f.index + f.o.health_every;
		}
	}
	checks(&f, "final");

	printf("# inputs by class:");
	for (i = 0; i < C_NR; i++)
		printf(" %s %lu", cls_names[i], f.by_cls[i]);
	printf("\n# mutations applied:");
	for (i = 0; i < M_NR; i++)
		printf(" %s %lu", mut_names[i], f.by_mut[i]);
	printf("\n# pairs recreated (reset to RTS):");
	for (i = 0; i < P_NR; i++)
		printf(" %s %lu (%lu)", f.p[i].name, f.p[i].recreated,
		       f.p[i].resets);
	printf(" (failed %lu); messages sent at receive queues %lu; doorbell errors %lu; post errors %lu; completions ok %lu, error %lu\n",
	       f.recreate_fail, f.sends, f.db_err, f.post_err, f.wc_ok,
	       f.wc_err);
	for (i = 0; i < K_NR; i++)
		if (f.o.avoid & (1u << i))
			printf("# known bug %s: %lu WQEs rewritten before publishing (-k)\n",
			       known_names[i], f.avoided[i]);
	tap_run("summary");
	tap_result(tap_fail_count == 0 && f.recreate_fail == 0, "summary",
		   "%lu inputs, %lu health checks passed, %lu failed, seed %llu",
		   f.index, f.health.passed, f.health.failed,
		   (unsigned long long)f.o.seed);
	teardown(&f);
	return tap_end();
}
