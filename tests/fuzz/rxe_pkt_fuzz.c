// SPDX-License-Identifier: GPL-2.0
/*
 * usage: rxe_pkt_fuzz [-n COUNT] [-t SECONDS] [-s SEED] [-H EVERY]
 *                     [-r FIRST-LAST] [-x NAME,...] [-k BUG,...] [-v]
 *        rxe_pkt_fuzz -P BUG,...|all
 *
 * RoCE v2 packet fuzzer for rdma_rxe: anyone on the link can send UDP to
 * port 4791, so rxe's receive path must turn any packet into an error,
 * never a crash. This sets up live targets on rxe0 (an RC responder with
 * its own RQ, an RC responder on an SRQ, an RC requester with work in
 * flight, a UC and a UD QP, and QP1), pinned and ODP MRs with remote
 * access whose surroundings hold canaries, then sends packets from an
 * ordinary UDP socket to 127.0.0.1:4791: well-formed ones with a correct
 * ICRC, the same with fields mutated, multi-packet messages, truncated
 * packets, packets with a bad ICRC, random bytes, MADs to QP1.
 *
 * Every EVERY inputs (default 10000) and at the end: the canaries and the
 * read-only/local-only MRs must be intact, RDMA WRITE + READ with a data
 * check must work on a fresh QP pair (pinned and ODP memory), and a
 * well-formed RDMA WRITE packet must still land. Fuzzed QPs that went to
 * the error state are recreated as they go.
 *
 * Input i is generated from its own PRNG stream (SEED, i): -r FIRST-LAST
 * sends only those inputs again (with -v printing each), to narrow down
 * the input that broke a kernel. -x drops input classes or mutations by
 * name; -k holds back the packets of a kernel bug found before, so that a
 * long run can go on past it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_common.h"

#define MTU		256		/* path MTU of the fuzzed QPs */
#define IBMTU		IBV_MTU_256
#define RQ_DEPTH	32
#define SRQ_DEPTH	64
#define SQ_DEPTH	16
#define A_INFLIGHT	8
#define UD_QKEY		FUZZ_QKEY
#define WIN_LEN		(64 * 1024)
#define SMALL_LEN	(8 * 1024)
#define QUERY_EVERY	8

#define WR_RECV		(1ULL << 56)
#define WR_SEND		(2ULL << 56)

/* ---- names: input classes and mutations (for counts and -x) ---- */

enum cls {
	C_VALID, C_MUTATED, C_SEQ, C_TRUNC, C_BADICRC, C_RANDOM, C_GSI, C_NR
};

static const char *const cls_names[C_NR] = {
	"valid", "mutated", "seq", "trunc", "badicrc", "random", "gsi",
};

/* share of each class, per mille */
static const unsigned int cls_weight[C_NR] = {
	100, 450, 100, 110, 80, 80, 80,
};

enum mut {
	M_OPCODE, M_FLAGS, M_PKEY, M_QPN, M_RESV, M_PSN, M_RKEY, M_VA,
	M_DMALEN, M_PAYLEN, M_HDRS, M_AETH, M_DETH, M_IMM, M_ATOMIC, M_PAD,
	M_NR
};

static const char *const mut_names[M_NR] = {
	"opcode", "flags", "pkey", "qpn", "resv", "psn", "rkey", "va",
	"dmalen", "paylen", "hdrs", "aeth", "deth", "imm", "atomic", "pad",
};

/* ---- targets ---- */

enum role { ROLE_RESP, ROLE_REQ, ROLE_UD };

enum {
	T_RC, T_SRQ, T_REQ, T_UC, T_UD, T_NR
};

struct target {
	const char *name;
	enum ibv_qp_type type;
	enum role role;
	bool use_srq;
	struct ibv_qp *qp;
	struct ibv_cq *cq;
	uint32_t qpn;
	uint32_t psn;		/* responder: rq_psn; requester: sq_psn */
	unsigned long last_query;
	unsigned int recv_posted;
	unsigned int send_posted;
	/* requester: the PSNs of its WRs in flight, oldest first */
	struct inflight {
		uint32_t first_psn, npkts, len;
		enum ibv_wr_opcode op;
	} fl[SQ_DEPTH];
	unsigned int fl_head, fl_n;
	uint32_t next_psn;
	unsigned long recreated, inputs;
};

enum {
	W_PIN, W_ODP, W_RO, W_RO_ODP, W_LOCAL, W_NR
};

struct opts {
	unsigned long count;
	double seconds;
	uint64_t seed;
	unsigned long health_every;
	unsigned long first, last;
	bool verbose;
	unsigned int skip_cls, skip_mut;
	unsigned int avoid;		/* -k: known kernel bugs not to hit */
	unsigned int repro;		/* -P: send these known bugs' inputs */
};

/*
 * Kernel bugs this fuzzer found, by name: -k NAME keeps a long run from
 * hitting them again (the packets are counted, not sent).
 */
enum known {
	/* RC/UC RDMA WRITE FIRST/ONLY whose RETH says 0 bytes but which
	 * carries a payload: check_rkey() skips the MR lookup for a
	 * zero-length op, write_data_in() then copies the payload through
	 * qp->resp.mr == NULL (NULL pointer dereference in rxe_mr_copy) */
	K_ZERO_LEN_WRITE,
	/* RC SEND with invalidate (IETH) naming a type 2 MW that is not
	 * bound: rxe_check_invalidate_mw() lets a FREE MW through and
	 * rxe_do_invalidate_mw() puts its NULL qp/mr */
	K_INV_MW,
	/* an RDMA READ response (FIRST/LAST/ONLY) whose AETH is a NAK:
	 * check_ack() returns COMPST_ERROR without setting wqe->status, so
	 * the completer WARNs (status still IB_WC_SUCCESS) and completes
	 * the READ as a success with no data */
	K_READ_RESP_NAK,
	K_NR
};

static const char *const known_names[K_NR] = {
	"zero-len-write", "inv-unbound-mw", "read-resp-nak",
};

struct fz {
	struct opts o;
	struct rdma_loop lp;
	struct ibv_cq *sink_cq;
	struct ibv_qp *sink;
	struct ibv_srq *srq;
	struct ibv_mw *mw;		/* type 2, never bound */
	unsigned int srq_posted;
	struct target t[T_NR];
	struct window w[W_NR];
	struct roce_sock sock;
	struct health health;
	uint32_t stale_qpn;
	unsigned long index;		/* inputs generated (packets sent) */
	unsigned long by_cls[C_NR], by_mut[M_NR], by_target[T_NR + 1];
	unsigned long recreate_fail, post_fail, wc_err, wc_ok;
	unsigned long checks, avoided[K_NR], odp_drops;
	long long rcvd0;
	double t0;
};

/* ---- QPs ---- */

static struct ibv_qp *make_qp(struct fz *f, enum ibv_qp_type type,
			      struct ibv_cq *cq, struct ibv_srq *srq,
			      uint32_t dest, bool rts)
{
	static const struct ibv_qp_cap cap = {
		.max_send_wr = SQ_DEPTH, .max_recv_wr = RQ_DEPTH,
		.max_send_sge = 2, .max_recv_sge = 2, .max_inline_data = 64,
	};
	struct ibv_qp *qp = fuzz_qp(&f->lp, type, cq, srq, &cap);

	if (qp && rts && fuzz_qp_connect(&f->lp, qp, dest, IBMTU)) {
		ibv_destroy_qp(qp);
		qp = NULL;
	}
	return qp;
}

static void drain_cq(struct fz *f, struct target *t);

static int target_create(struct fz *f, struct target *t)
{
	t->qp = make_qp(f, t->type, t->cq, t->use_srq ? f->srq : NULL,
			f->sink->qp_num, true);
	if (!t->qp)
		return -1;
	t->qpn = t->qp->qp_num;
	t->psn = 0;
	t->recv_posted = 0;
	t->send_posted = 0;
	t->fl_head = t->fl_n = 0;
	t->next_psn = 0;
	t->last_query = f->index;
	return 0;
}

static int target_recreate(struct fz *f, struct target *t)
{
	if (t->qp) {
		f->stale_qpn = t->qpn;
		ibv_destroy_qp(t->qp);
		t->qp = NULL;
	}
	drain_cq(f, t);
	t->recreated++;
	if (target_create(f, t)) {
		f->recreate_fail++;
		return -1;
	}
	return 0;
}

/* ---- posting receives and the requester's work ---- */

static struct window *rnd_rw_window(struct fz *f, struct rng *r)
{
	return &f->w[rng_below(r, 2) ? W_ODP : W_PIN];
}

static void rnd_sges(struct fz *f, struct rng *r, struct ibv_sge *sge,
		     int *num, uint32_t total, int max)
{
	int n = 1 + (max > 1 && total > 64 && rng_chance(r, 300)), i;
	uint32_t part[2] = { total, 0 };

	if (n == 2) {
		part[0] = total / 2;
		part[1] = total - part[0];
	}
	for (i = 0; i < n; i++) {
		struct window *w = rnd_rw_window(f, r);

		sge[i].addr = (uintptr_t)w->addr +
			      rng_below(r, w->len - part[i] + 1);
		sge[i].length = part[i];
		sge[i].lkey = w->mr->lkey;
	}
	*num = n;
}

static int post_recv(struct fz *f, struct target *t, struct rng *r)
{
	struct ibv_recv_wr wr = { .wr_id = WR_RECV }, *bad;
	struct ibv_sge sge[2];
	uint32_t len = t->role == ROLE_UD ? 1024 : 256 + rng_below(r, 769);

	rnd_sges(f, r, sge, &wr.num_sge, len, 2);
	wr.sg_list = sge;
	if (t->use_srq)
		return ibv_post_srq_recv(f->srq, &wr, &bad);
	return ibv_post_recv(t->qp, &wr, &bad);
}

static int post_req(struct fz *f, struct target *t, struct rng *r)
{
	struct ibv_send_wr wr = {
		.wr_id = WR_SEND, .send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	struct ibv_sge sge;
	uint32_t len;

	switch (rng_below(r, 5)) {
	case 0:
	case 1:
		wr.opcode = IBV_WR_RDMA_READ;
		len = 1 + rng_below(r, 1024);
		break;
	case 2:
		wr.opcode = rng_below(r, 2) ? IBV_WR_ATOMIC_FETCH_AND_ADD :
					      IBV_WR_ATOMIC_CMP_AND_SWP;
		len = 8;
		break;
	case 3:
		wr.opcode = IBV_WR_RDMA_WRITE;
		len = 1 + rng_below(r, 600);
		break;
	default:
		wr.opcode = IBV_WR_SEND;
		len = 1 + rng_below(r, 300);
		break;
	}
	rnd_sges(f, r, &sge, &wr.num_sge, len, 1);
	if (len == 8)
		sge.addr &= ~7ULL;
	wr.sg_list = &sge;
	/* the sink drops these: remote address and key do not matter */
	wr.wr.rdma.remote_addr = rng_next(r) & ~7ULL;
	wr.wr.rdma.rkey = rng_next(r);
	if (len == 8) {
		wr.wr.atomic.remote_addr = rng_next(r) & ~7ULL;
		wr.wr.atomic.rkey = rng_next(r);
		wr.wr.atomic.compare_add = rng_next(r);
		wr.wr.atomic.swap = rng_next(r);
	}
	if (ibv_post_send(t->qp, &wr, &bad))
		return -1;
	if (t->fl_n < SQ_DEPTH) {
		struct inflight *fl = &t->fl[(t->fl_head + t->fl_n++) % SQ_DEPTH];

		/* rxe gives a READ one PSN per response packet */
		fl->npkts = len == 8 ? 1 : (len + MTU - 1) / MTU;
		fl->first_psn = t->next_psn;
		fl->len = len;
		fl->op = wr.opcode;
		t->next_psn = (t->next_psn + fl->npkts) & 0xffffff;
	}
	return 0;
}

static void drain_cq(struct fz *f, struct target *t)
{
	struct ibv_wc wc[16];
	int n, i;

	while ((n = ibv_poll_cq(t->cq, 16, wc)) > 0) {
		for (i = 0; i < n; i++) {
			if (wc[i].status)
				f->wc_err++;
			else
				f->wc_ok++;
			if ((wc[i].wr_id & WR_RECV)) {
				if (t->use_srq) {
					if (f->srq_posted)
						f->srq_posted--;
				} else if (t->recv_posted) {
					t->recv_posted--;
				}
			} else if (t->send_posted) {
				t->send_posted--;
				if (t->fl_n) {
					t->fl_head = (t->fl_head + 1) % SQ_DEPTH;
					t->fl_n--;
				}
			}
		}
	}
}

/* Poll completions, post receives and requests back to their levels. */
static void refill(struct fz *f, struct target *t, struct rng *r)
{
	drain_cq(f, t);
	if (!t->qp)
		return;
	if (t->role == ROLE_REQ) {
		if (qp_state(t->qp) != IBV_QPS_RTS)
			return;
		while (t->send_posted < A_INFLIGHT) {
			if (post_req(f, t, r)) {
				f->post_fail++;
				break;
			}
			t->send_posted++;
		}
		return;
	}
	if (t->use_srq) {
		while (f->srq_posted < SRQ_DEPTH - 1) {
			if (post_recv(f, t, r)) {
				/* lost track (a QP took some with it) */
				f->srq_posted = SRQ_DEPTH - 1;
				break;
			}
			f->srq_posted++;
		}
		return;
	}
	while (t->recv_posted < RQ_DEPTH - 1) {
		if (post_recv(f, t, r)) {
			f->post_fail++;
			break;
		}
		t->recv_posted++;
	}
}

/*
 * State and PSN of @t from the kernel; recreate it if it is in error. Its
 * own PRNG stream: what an input draws must not depend on the kernel.
 */
static void target_sync(struct fz *f, struct target *t)
{
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr a;
	struct rng rs, *r = &rs;

	rng_input(r, f->o.seed ^ 0x7a7a7a7a, f->index);
	t->last_query = f->index;
	if (!t->qp || ibv_query_qp(t->qp, &a, IBV_QP_STATE | IBV_QP_RQ_PSN |
				   IBV_QP_SQ_PSN, &init) ||
	    a.qp_state == IBV_QPS_ERR || a.qp_state == IBV_QPS_SQE) {
		if (target_recreate(f, t))
			return;
		refill(f, t, r);
		return;
	}
	t->psn = t->role == ROLE_REQ ? a.sq_psn : a.rq_psn;
}

/*
 * Take the ODP windows' pages away from under their MRs (MADV_DONTNEED of
 * the pages wholly inside the fuzzable window; the read-only one is
 * dropped and rewritten by the CPU), so that packets keep hitting ODP
 * faults and invalidations, not only mapped pages.
 */
static void odp_drop(struct fz *f)
{
	struct window *w = &f->w[W_ODP];
	uintptr_t a = ((uintptr_t)w->addr + 4095) & ~4095UL;
	uintptr_t e = ((uintptr_t)w->addr + w->len) & ~4095UL;

	if (fuzz_no_odp)
		return;
	if (e > a)
		madvise((void *)a, e - a, MADV_DONTNEED);
	w = &f->w[W_RO_ODP];
	if (window_check(w) < 0) {
		madvise(w->map, w->map_len, MADV_DONTNEED);
		window_reset(w);
	}
	f->odp_drops++;
}

/* ---- input generation ---- */

struct input {
	enum cls cls;
	struct target *t;	/* NULL: a QPN that is no target */
	struct roce_hdr h;
	unsigned int flags;
	uint8_t payload[ROCE_MAX];
	size_t paylen;
	unsigned int muts;
	uint32_t psn_adv;	/* a valid request moves the PSN by this */
};

static const uint32_t psn_deltas[] = {
	1, 2, 3, 7, 16, 255, 256, 0x7fffff, 0x800000, 0x800001, 0xffffff,
	0xfffffe, 0xfffff0,
};

static uint32_t rnd_psn_near(struct rng *r, uint32_t psn)
{
	switch (rng_below(r, 4)) {
	case 0:
		return rng_next(r) & 0xffffff;
	default:
		return (psn + psn_deltas[rng_below(r, sizeof(psn_deltas) /
							sizeof(psn_deltas[0]))]) &
		       0xffffff;
	}
}

static uint32_t all_rkeys(struct fz *f, struct rng *r)
{
	struct window *w = &f->w[rng_below(r, W_NR)];

	if (rng_chance(r, 100))
		return f->mw->rkey;
	return w->mr->rkey ? w->mr->rkey : w->mr->lkey;
}

static struct window *window_of_rkey(struct fz *f, uint32_t rkey,
				     struct rng *r)
{
	int i;

	for (i = 0; i < W_NR; i++)
		if (f->w[i].mr->rkey == rkey || f->w[i].mr->lkey == rkey)
			return &f->w[i];
	return &f->w[rng_below(r, W_NR)];
}

/* A VA around @w for an access of @len bytes: inside, at and across the
 * edges, far outside. */
static uint64_t rnd_va(struct rng *r, const struct window *w, uint32_t len)
{
	uint64_t a = (uintptr_t)w->addr, e = a + w->len;

	switch (rng_below(r, 12)) {
	case 0: return a;
	case 1: return e - len;
	case 2: return e - len + 1 + rng_below(r, 8);
	case 3: return e;
	case 4: return a - 1 - rng_below(r, 8);
	case 5: return a - len;
	case 6: return 0;
	case 7: return ~0ULL - rng_below(r, len + 1);
	case 8: return rng_next(r);
	case 9: return e + rng_below(r, 1 << 20);
	case 10: return a + rng_below(r, w->len) ;
	default: return rng_edgy64(r);
	}
}

static void rnd_payload(struct rng *r, struct input *in, size_t len)
{
	if (len > sizeof(in->payload) - 64)
		len = sizeof(in->payload) - 64;
	in->paylen = len;
	rng_bytes(r, in->payload, len);
}

static void set_pad(struct input *in)
{
	in->h.pad = (4 - (in->paylen & 3)) & 3;
}

static uint8_t rc_req_ops[] = {
	OP_SEND_ONLY, OP_SEND_ONLY_IMM, OP_SEND_ONLY_INV, OP_WRITE_ONLY,
	OP_WRITE_ONLY_IMM, OP_READ_REQ, OP_CMP_SWAP, OP_FETCH_ADD,
};
static uint8_t uc_req_ops[] = {
	OP_SEND_ONLY, OP_SEND_ONLY_IMM, OP_WRITE_ONLY, OP_WRITE_ONLY_IMM,
};
static uint8_t resp_ops[] = {
	OP_READ_RESP_ONLY, OP_ACK, OP_ATOMIC_ACK, OP_READ_RESP_FIRST,
	OP_READ_RESP_MIDDLE, OP_READ_RESP_LAST,
};

#define PICK(r, a) ((a)[rng_below(r, sizeof(a) / sizeof((a)[0]))])

/* A well-formed single packet for @t at its expected PSN. */
static void gen_valid(struct fz *f, struct rng *r, struct input *in)
{
	struct target *t = in->t;
	struct roce_hdr *h = &in->h;
	struct window *w;
	uint8_t op;
	uint32_t len;

	memset(h, 0, sizeof(*h));
	h->pkey = 0xffff;
	h->qpn = t->qpn;
	h->psn = t->psn;
	h->ackreq = rng_chance(r, 500);
	h->se = rng_chance(r, 100);
	in->psn_adv = 1;
	in->paylen = 0;

	switch (t->role) {
	case ROLE_UD:
		h->opcode = OPC_UD | (rng_below(r, 2) ? OP_SEND_ONLY :
					       OP_SEND_ONLY_IMM);
		h->qkey = UD_QKEY;
		h->src_qp = rng_next(r) & 0xffffff;
		h->imm = rng_next(r);
		rnd_payload(r, in, rng_below(r, 985));
		set_pad(in);
		in->psn_adv = 0;
		break;
	case ROLE_REQ:
		if (t->fl_n && rng_chance(r, 800)) {
			/* the response the oldest WR in flight waits for */
			struct inflight *fl = &t->fl[t->fl_head];
			uint32_t k = rng_below(r, fl->npkts);

			h->opcode = OPC_RC | OP_ACK;
			h->psn = (fl->first_psn + fl->npkts - 1) & 0xffffff;
			h->syndrome = 0x1f;
			h->msn = rng_below(r, 64);
			h->orig = rng_next(r);
			len = 0;
			if (fl->op == IBV_WR_RDMA_READ) {
				h->psn = (fl->first_psn + k) & 0xffffff;
				len = k == fl->npkts - 1 ? fl->len - k * MTU : MTU;
				h->opcode = OPC_RC | (fl->npkts == 1 ?
					OP_READ_RESP_ONLY : k == 0 ?
					OP_READ_RESP_FIRST : k == fl->npkts - 1 ?
					OP_READ_RESP_LAST : OP_READ_RESP_MIDDLE);
			} else if (fl->op == IBV_WR_ATOMIC_FETCH_AND_ADD ||
				   fl->op == IBV_WR_ATOMIC_CMP_AND_SWP) {
				h->opcode = OPC_RC | OP_ATOMIC_ACK;
			}
			rnd_payload(r, in, len);
			set_pad(in);
			in->psn_adv = 0;
			break;
		}
		op = PICK(r, resp_ops);
		h->opcode = OPC_RC | op;
		/* in the requester's window of outstanding PSNs */
		h->psn = (t->psn - 1 - rng_below(r, 4)) & 0xffffff;
		h->syndrome = 0x1f;	/* ACK, invalid credit count */
		h->msn = rng_below(r, 64);
		h->orig = rng_next(r);
		if (op == OP_READ_RESP_MIDDLE)
			len = MTU;
		else if (op == OP_READ_RESP_FIRST)
			len = MTU;
		else if (op == OP_ACK || op == OP_ATOMIC_ACK)
			len = 0;
		else
			len = rng_below(r, MTU + 1);
		rnd_payload(r, in, len);
		set_pad(in);
		in->psn_adv = 0;
		break;
	case ROLE_RESP:
		op = t->type == IBV_QPT_UC ? PICK(r, uc_req_ops) :
					     PICK(r, rc_req_ops);
		h->opcode = (t->type == IBV_QPT_UC ? OPC_UC : OPC_RC) | op;
		h->imm = rng_next(r);
		switch (op) {
		case OP_SEND_ONLY_INV:
			h->inv_rkey = all_rkeys(f, r);
			/* fall through */
		case OP_SEND_ONLY:
		case OP_SEND_ONLY_IMM:
			rnd_payload(r, in, rng_below(r, MTU + 1));
			break;
		case OP_WRITE_ONLY:
		case OP_WRITE_ONLY_IMM:
			w = rnd_rw_window(f, r);
			len = rng_below(r, MTU + 1);
			h->va = (uintptr_t)w->addr +
				rng_below(r, w->len - len + 1);
			h->rkey = w->mr->rkey;
			h->dma_len = len;
			rnd_payload(r, in, len);
			break;
		case OP_READ_REQ:
			w = &f->w[rng_below(r, W_LOCAL)];
			len = rng_below(r, 1025);
			h->va = (uintptr_t)w->addr +
				rng_below(r, w->len - len + 1);
			h->rkey = w->mr->rkey;
			h->dma_len = len;
			in->psn_adv = len ? (len + MTU - 1) / MTU : 1;
			break;
		default:	/* atomics */
			w = rnd_rw_window(f, r);
			h->va = ((uintptr_t)w->addr +
				 rng_below(r, w->len - 8)) & ~7ULL;
			h->rkey = w->mr->rkey;
			h->swap_add = rng_next(r);
			h->compare = rng_below(r, 2) ? 0 : rng_next(r);
			break;
		}
		set_pad(in);
		break;
	}
	in->flags = roce_op_flags(h->opcode);
}

static void mutate_one(struct fz *f, struct rng *r, struct input *in,
		       enum mut m)
{
	struct roce_hdr *h = &in->h;
	struct window *w;
	uint8_t tr = h->opcode & 0xe0;
	unsigned int nf;

	switch (m) {
	case M_OPCODE:
		switch (rng_below(r, 4)) {
		case 0: h->opcode = rng_next(r); break;
		case 1: h->opcode = tr | rng_below(r, 0x18); break;
		case 2: h->opcode = (rng_below(r, 4) << 5) |
				    rng_below(r, 0x18); break;
		default: h->opcode += rng_below(r, 2) ? 1 : -1; break;
		}
		/* half of the time, the new opcode's own headers */
		nf = roce_op_flags(h->opcode);
		if (nf && rng_below(r, 2))
			in->flags = nf;
		break;
	case M_FLAGS:
		h->se = rng_below(r, 2);
		h->mig = rng_below(r, 2);
		if (rng_below(r, 3) == 0)
			h->tver = rng_below(r, 16);
		break;
	case M_PKEY: {
		static const uint16_t pk[] = { 0, 0x7fff, 0x8000, 0xfffe,
					       0x8001, 0x7ffe };

		h->pkey = rng_below(r, 3) ? PICK(r, pk) : rng_next(r);
		break;
	}
	case M_QPN:
		switch (rng_below(r, 9)) {
		case 0: h->qpn = 0; break;
		case 1: h->qpn = 1; break;
		case 2: h->qpn = MCAST_QPN; break;
		case 3: h->qpn = f->t[rng_below(r, T_NR)].qpn; break;
		case 4: h->qpn += rng_below(r, 2) ? 1 : -1; break;
		case 5: h->qpn = f->sink->qp_num; break;
		case 6: h->qpn = f->stale_qpn; break;
		case 7: h->qpn = f->lp.qp[rng_below(r, 2)]->qp_num; break;
		default: h->qpn = rng_next(r); break;
		}
		h->qpn &= 0xffffff;
		break;
	case M_RESV:
		h->resv8a = rng_next(r);
		h->resv7 = rng_next(r);
		h->ackreq = !h->ackreq;
		break;
	case M_PSN:
		h->psn = rnd_psn_near(r, h->psn);
		break;
	case M_RKEY:
		switch (rng_below(r, 7)) {
		case 0: h->rkey = all_rkeys(f, r); break;
		case 1: h->rkey ^= 1 + rng_below(r, 0xff); break;
		case 2: h->rkey += 0x100; break;
		case 3: h->rkey = 0; break;
		case 4: h->rkey = f->w[W_LOCAL].mr->lkey; break;
		case 5: h->rkey = f->health.mr[rng_below(r, 4)]->lkey ^ 0x80;
			break;
		default: h->rkey = rng_edgy32(r); break;
		}
		break;
	case M_VA:
		w = window_of_rkey(f, h->rkey, r);
		h->va = rnd_va(r, w, h->dma_len ? h->dma_len : 8);
		break;
	case M_DMALEN: {
		uint32_t wl = window_of_rkey(f, h->rkey, r)->len;
		uint32_t pl = in->paylen;
		uint32_t c[] = { 0, 1, pl - 1, pl + 1, MTU, MTU + 1, 2 * MTU,
				 wl, wl + 1, wl - 1, 0x7fffffff, 0x80000000u,
				 0xffffffffu, 4096 };

		h->dma_len = rng_below(r, 4) ? PICK(r, c) : rng_edgy32(r);
		break;
	}
	case M_PAYLEN: {
		size_t c[] = { 0, 1, 3, h->dma_len - 1, h->dma_len + 1, MTU,
			       MTU + 1, 2 * MTU, 4096, 4097,
			       rng_below(r, 7000) };
		size_t len = PICK(r, c);

		if (len > 7000)
			len = rng_below(r, 7000);
		rnd_payload(r, in, len);
		if (rng_below(r, 2))
			set_pad(in);
		break;
	}
	case M_HDRS:
		in->flags ^= 1u << rng_below(r, 8);
		break;
	case M_AETH: {
		static const uint8_t syn[] = {
			0x00, 0x01, 0x1f, 0x20, 0x21, 0x3f, 0x60, 0x61, 0x62,
			0x63, 0x64, 0x65, 0x7f, 0x40, 0x5f, 0x80, 0xff, 0xc0,
		};

		h->syndrome = rng_below(r, 4) ? PICK(r, syn) : rng_next(r);
		if (rng_below(r, 2))
			h->msn = rng_next(r);
		break;
	}
	case M_DETH:
		switch (rng_below(r, 5)) {
		case 0: h->qkey = GSI_QKEY; break;
		case 1: h->qkey = UD_QKEY ^ (1u << rng_below(r, 32)); break;
		case 2: h->qkey = 0x80000000u | rng_next(r); break;
		case 3: h->qkey = 0; break;
		default: h->qkey = rng_next(r); break;
		}
		h->src_qp = rng_next(r);
		break;
	case M_IMM:
		h->imm = rng_next(r);
		h->inv_rkey = rng_below(r, 2) ? all_rkeys(f, r) : rng_edgy32(r);
		break;
	case M_ATOMIC:
		w = window_of_rkey(f, h->rkey, r);
		switch (rng_below(r, 4)) {
		case 0: h->va |= 1 + rng_below(r, 7); break;
		case 1: h->va = (uintptr_t)w->addr + w->len - 8 +
				rng_below(r, 16); break;
		case 2: h->va = (uintptr_t)w->addr - 8 + rng_below(r, 8);
			break;
		default: h->va = rnd_va(r, w, 8); break;
		}
		h->swap_add = rng_edgy64(r);
		h->compare = rng_edgy64(r);
		break;
	case M_PAD:
		h->pad = rng_below(r, 4);
		break;
	default:
		break;
	}
	in->muts |= 1u << m;
}

static void mutate(struct fz *f, struct rng *r, struct input *in, int n)
{
	int i, tries;
	enum mut m;

	for (i = 0; i < n; i++) {
		for (tries = 0; tries < 32; tries++) {
			m = rng_below(r, M_NR);
			if (!(f->o.skip_mut & (1u << m)))
				break;
		}
		if (tries == 32)
			return;
		mutate_one(f, r, in, m);
		f->by_mut[m]++;
	}
}

static void describe(struct fz *f, const struct input *in, const uint8_t *pkt,
		     size_t len, const char *extra)
{
	char muts[160] = "";
	size_t n = 0;
	int m;

	if (!f->o.verbose)
		return;
	for (m = 0; m < M_NR; m++)
		if (in->muts & (1u << m))
			n += snprintf(muts + n, sizeof(muts) - n, "%s%s",
				      n ? "," : "", mut_names[m]);
	printf("# in %lu %s %s %s qpn=%#x psn=%#x va=%#llx rkey=%#x dlen=%#x paylen=%zu pad=%u syn=%#x len=%zu muts=%s%s\n",
	       f->index, cls_names[in->cls], in->t ? in->t->name : "-",
	       roce_op_name(pkt && len ? pkt[0] : in->h.opcode), in->h.qpn,
	       in->h.psn, (unsigned long long)in->h.va, in->h.rkey,
	       in->h.dma_len, in->paylen, in->h.pad, in->h.syndrome, len,
	       *muts ? muts : "-", extra ? extra : "");
}

/* Would this packet hit a known bug that -k says to avoid? */
static int known_bug(const struct fz *f, const uint8_t *p, size_t len)
{
	uint8_t op;
	long hdr, payload;

	if ((f->o.avoid & (1u << K_ZERO_LEN_WRITE)) && len >= BTH_LEN + RETH_LEN) {
		op = p[0];
		if ((op & 0xc0) == 0 && ((op & 0x1f) == OP_WRITE_FIRST ||
					 (op & 0x1f) == OP_WRITE_ONLY ||
					 (op & 0x1f) == OP_WRITE_ONLY_IMM)) {
			hdr = BTH_LEN + RETH_LEN +
			      ((op & 0x1f) == OP_WRITE_ONLY_IMM ? IMMDT_LEN : 0);
			payload = (long)len - hdr - ((p[1] >> 4) & 3) - ICRC_LEN;
			if (!p[24] && !p[25] && !p[26] && !p[27] && payload > 0)
				return K_ZERO_LEN_WRITE;
		}
	}
	if ((f->o.avoid & (1u << K_INV_MW)) && len >= BTH_LEN + IETH_LEN &&
	    (p[0] == (OPC_RC | OP_SEND_ONLY_INV) ||
	     p[0] == (OPC_RC | OP_SEND_LAST_INV)) &&
	    ((uint32_t)p[12] << 16 | p[13] << 8 | p[14]) == f->mw->rkey >> 8)
		return K_INV_MW;
	if ((f->o.avoid & (1u << K_READ_RESP_NAK)) &&
	    len >= BTH_LEN + AETH_LEN &&
	    (p[0] == (OPC_RC | OP_READ_RESP_FIRST) ||
	     p[0] == (OPC_RC | OP_READ_RESP_LAST) ||
	     p[0] == (OPC_RC | OP_READ_RESP_ONLY)) && (p[12] & 0x60))
		return K_READ_RESP_NAK;
	return -1;
}

static bool in_range(const struct fz *f)
{
	return f->index >= f->o.first && f->index <= f->o.last;
}

/* Send one built packet as input number f->index (if -r selects it). */
static void send_pkt(struct fz *f, struct input *in, uint8_t *pkt, size_t len,
		     const char *extra)
{
	int k;

	if (in_range(f) && (k = known_bug(f, pkt, len)) >= 0) {
		f->avoided[k]++;
	} else if (in_range(f)) {
		describe(f, in, pkt, len, extra);
		roce_send(&f->sock, pkt, len);
		f->by_cls[in->cls]++;
		f->by_target[in->t ? in->t - f->t : T_NR]++;
	}
	f->index++;
}

static size_t build(struct input *in, uint8_t *pkt)
{
	size_t len = roce_build(pkt, &in->h, in->flags, in->payload,
				in->paylen);

	roce_set_icrc(pkt, len);
	return len;
}

static struct target *pick_target(struct fz *f, struct rng *r)
{
	static const unsigned int w[T_NR] = { 30, 15, 25, 15, 15 };
	unsigned int x = rng_below(r, 100), i, acc = 0;

	for (i = 0; i < T_NR; i++) {
		acc += w[i];
		if (x < acc)
			return &f->t[i];
	}
	return &f->t[T_RC];
}

/* A message of 2..5 packets (SEND/WRITE, or a READ response to the
 * requester), one of them perhaps mutated, dropped or repeated. */
static void gen_seq(struct fz *f, struct rng *r, struct input *in,
		    uint8_t *pkt)
{
	struct target *t = in->t;
	unsigned int n = 2 + rng_below(r, 4), i, bad = rng_below(r, n);
	unsigned int how = rng_below(r, 10);
	uint8_t tr = t->type == IBV_QPT_UC ? OPC_UC : OPC_RC;
	bool write = rng_below(r, 2);
	struct window *w = rnd_rw_window(f, r);
	uint32_t total = (n - 1) * MTU + 1 + rng_below(r, MTU);
	uint64_t va = (uintptr_t)w->addr + rng_below(r, w->len - total + 1);
	uint32_t psn = t->psn;
	size_t len;

	if (t->role == ROLE_REQ)
		psn = (t->psn - n - rng_below(r, 3)) & 0xffffff;
	for (i = 0; i < n; i++) {
		struct input p = *in;
		bool first = i == 0, last = i == n - 1;

		memset(&p.h, 0, sizeof(p.h));
		p.muts = 0;
		p.h.pkey = 0xffff;
		p.h.qpn = t->qpn;
		p.h.psn = (psn + i) & 0xffffff;
		p.h.ackreq = last;
		if (t->role == ROLE_REQ) {
			p.h.opcode = OPC_RC | (first ? OP_READ_RESP_FIRST :
					       last ? OP_READ_RESP_LAST :
						      OP_READ_RESP_MIDDLE);
			p.h.syndrome = 0x1f;
		} else if (write) {
			p.h.opcode = tr | (first ? OP_WRITE_FIRST :
					   last ? (rng_below(r, 2) ?
						   OP_WRITE_LAST_IMM :
						   OP_WRITE_LAST) :
					   OP_WRITE_MIDDLE);
			p.h.va = va;
			p.h.rkey = w->mr->rkey;
			p.h.dma_len = total;
		} else {
			p.h.opcode = tr | (first ? OP_SEND_FIRST :
					   last ? (rng_below(r, 2) ?
						   OP_SEND_LAST_IMM :
						   OP_SEND_LAST) :
					   OP_SEND_MIDDLE);
			if (last && tr == OPC_RC && rng_chance(r, 200)) {
				p.h.opcode = OPC_RC | OP_SEND_LAST_INV;
				p.h.inv_rkey = all_rkeys(f, r);
			}
		}
		p.flags = roce_op_flags(p.h.opcode);
		rnd_payload(r, &p, last ? total - (n - 1) * MTU : MTU);
		set_pad(&p);
		if (i == bad && how < 5) {
			mutate(f, r, &p, 1);
		} else if (i == bad && how == 5) {
			f->index++;	/* dropped */
			continue;
		}
		len = build(&p, pkt);
		send_pkt(f, &p, pkt, len, i == bad && how == 6 ? " (again)" : "");
		if (i == bad && how == 6)
			send_pkt(f, &p, pkt, len, " (repeat)");
	}
	if (t->role == ROLE_RESP && how >= 7)
		t->psn = (t->psn + n) & 0xffffff;
}

static void gen_gsi(struct rng *r, struct input *in)
{
	static const uint8_t classes[] = {
		0x01, 0x81, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09, 0x0a, 0x10,
		0x21, 0x30, 0x4f,
	};
	struct roce_hdr *h = &in->h;

	memset(h, 0, sizeof(*h));
	in->t = NULL;
	h->opcode = OPC_UD | OP_SEND_ONLY;
	h->pkey = 0xffff;
	h->qpn = 1;
	h->psn = rng_next(r) & 0xffffff;
	h->qkey = GSI_QKEY;
	h->src_qp = rng_below(r, 4) ? 1 : rng_next(r);
	in->flags = roce_op_flags(h->opcode);
	rnd_payload(r, in, rng_below(r, 8) ? 256 : rng_below(r, 1024));
	if (in->paylen >= 24) {
		in->payload[0] = rng_below(r, 8) ? 1 : rng_next(r); /* base */
		in->payload[1] = rng_below(r, 4) ? PICK(r, classes) :
						   rng_next(r);
		in->payload[2] = rng_below(r, 4) ? 1 + rng_below(r, 3) :
						   rng_next(r);
		in->payload[3] = rng_below(r, 4) ? rng_below(r, 0x20) :
						   rng_next(r); /* method */
	}
	set_pad(in);
}

/* One input (one to a few packets). */
static void one_input(struct fz *f, uint64_t idx)
{
	static uint8_t pkt[ROCE_MAX];
	static struct input in;
	struct rng r;
	unsigned int x, acc = 0, c, tries = 0;
	size_t len, cut;
	struct target *t;

	rng_input(&r, f->o.seed, idx);
	do {
		x = rng_below(&r, 1000);
		acc = 0;
		for (c = 0; c < C_NR; c++) {
			acc += cls_weight[c];
			if (x < acc)
				break;
		}
	} while ((f->o.skip_cls & (1u << c)) && ++tries < 64);
	if (tries >= 64)
		return;

	memset(&in, 0, sizeof(in));
	in.cls = c;
	t = in.t = pick_target(f, &r);
	if (in_range(f) && f->index - t->last_query >= QUERY_EVERY)
		target_sync(f, t);
	t->inputs++;

	switch (c) {
	case C_VALID:
		gen_valid(f, &r, &in);
		len = build(&in, pkt);
		send_pkt(f, &in, pkt, len, NULL);
		t->psn = (t->psn + in.psn_adv) & 0xffffff;
		break;
	case C_MUTATED:
		gen_valid(f, &r, &in);
		mutate(f, &r, &in, 1 + rng_below(&r, 3));
		len = build(&in, pkt);
		send_pkt(f, &in, pkt, len, NULL);
		break;
	case C_SEQ:
		if (t->role == ROLE_UD)
			t = in.t = &f->t[T_RC];
		gen_seq(f, &r, &in, pkt);
		break;
	case C_TRUNC:
		gen_valid(f, &r, &in);
		if (rng_below(&r, 2))
			mutate(f, &r, &in, 1);
		len = build(&in, pkt);
		cut = rng_below(&r, len);
		/* half of the time with a correct ICRC at the new end */
		if (cut >= ICRC_LEN && rng_below(&r, 2))
			roce_set_icrc(pkt, cut);
		send_pkt(f, &in, pkt, cut, " (truncated)");
		break;
	case C_BADICRC:
		gen_valid(f, &r, &in);
		if (rng_below(&r, 2))
			mutate(f, &r, &in, 1);
		len = build(&in, pkt);
		if (rng_below(&r, 4))
			pkt[len - 1 - rng_below(&r, 4)] ^= 1u << rng_below(&r, 8);
		else
			pkt[rng_below(&r, len - ICRC_LEN)] ^= 1 + rng_below(&r, 255);
		send_pkt(f, &in, pkt, len, " (bad icrc)");
		break;
	case C_RANDOM:
		len = rng_below(&r, 4) ? rng_below(&r, 600) :
					 rng_below(&r, ROCE_MAX);
		rng_bytes(&r, pkt, len);
		memset(&in.h, 0, sizeof(in.h));
		if (len >= BTH_LEN + ICRC_LEN && rng_below(&r, 2)) {
			/* a plausible BTH for a live QP, a good ICRC */
			in.h.opcode = pkt[0] = rng_below(&r, 2) ?
				((t->type == IBV_QPT_UD ? OPC_UD :
				  t->type == IBV_QPT_UC ? OPC_UC : OPC_RC) |
				 rng_below(&r, 0x18)) : pkt[0];
			pkt[1] &= 0x30;
			pkt[2] = pkt[3] = 0xff;
			pkt[5] = t->qpn >> 16;
			pkt[6] = t->qpn >> 8;
			pkt[7] = t->qpn;
			in.h.qpn = t->qpn;
			roce_set_icrc(pkt, len);
		} else {
			in.t = NULL;
		}
		send_pkt(f, &in, pkt, len, " (random)");
		break;
	case C_GSI:
		gen_gsi(&r, &in);
		if (rng_below(&r, 4) == 0)
			mutate(f, &r, &in, 1);
		len = build(&in, pkt);
		send_pkt(f, &in, pkt, len, " (mad)");
		break;
	default:
		break;
	}
}

/* ---- checks ---- */

static int wait_change(volatile uint8_t *p, const uint8_t *want, size_t len,
		       double timeout)
{
	double end = fuzz_now() + timeout;

	while (fuzz_now() < end) {
		if (!memcmp((const void *)p, want, len))
			return 0;
		usleep(1000);
	}
	return -1;
}

/*
 * A fresh RC QP gets a well-formed RDMA WRITE packet (ICRC right): the
 * data must land at @off of the pinned window; with @bad_icrc, it must
 * not.
 */
static int probe_write(struct fz *f, uint64_t seed, bool bad_icrc,
		       struct window *w, char *why, size_t why_len)
{
	static uint8_t pkt[ROCE_MAX];
	struct input in;
	struct ibv_qp *qp;
	struct rng r;
	size_t len, off;
	int ret = 0;

	rng_input(&r, seed, 0xfeed);
	qp = make_qp(f, IBV_QPT_RC, f->sink_cq, NULL, f->sink->qp_num, true);
	if (!qp) {
		snprintf(why, why_len, "probe QP: %s", strerror(errno));
		return -1;
	}
	memset(&in, 0, sizeof(in));
	in.h.opcode = OPC_RC | OP_WRITE_ONLY;
	in.h.pkey = 0xffff;
	in.h.qpn = qp->qp_num;
	in.h.psn = 0;
	in.h.ackreq = 1;
	in.flags = roce_op_flags(in.h.opcode);
	off = 8 * rng_below(&r, (w->len - 64) / 8);
	in.h.va = (uintptr_t)w->addr + off;
	in.h.rkey = w->mr->rkey;
	in.h.dma_len = 64;
	rnd_payload(&r, &in, 64);
	len = build(&in, pkt);
	if (bad_icrc)
		pkt[len - 1] ^= 0x40;
	memset(w->addr + off, 0, 64);
	roce_send(&f->sock, pkt, len);
	if (wait_change((volatile uint8_t *)w->addr + off, in.payload, 64,
			bad_icrc ? 0.5 : 5.0) == 0) {
		if (bad_icrc) {
			snprintf(why, why_len, "%s: a packet with a bad ICRC was accepted",
				 w->name);
			ret = -1;
		}
	} else if (!bad_icrc) {
		snprintf(why, why_len, "%s: a well-formed RDMA WRITE did not land (ICRC or headers wrong, or the device is stuck)",
			 w->name);
		ret = -1;
	}
	ibv_destroy_qp(qp);
	return ret;
}

/* The requester's READ completes from one crafted READ response. */
static int probe_read_resp(struct fz *f, char *why, size_t why_len)
{
	static uint8_t pkt[ROCE_MAX];
	struct target *t = &f->t[T_REQ];
	struct window *w = &f->w[W_PIN];
	struct ibv_send_wr wr = { .wr_id = 77, .opcode = IBV_WR_RDMA_READ,
				  .send_flags = IBV_SEND_SIGNALED }, *bad;
	struct ibv_sge sge = { .addr = (uintptr_t)w->addr + 512, .length = 100,
			       .lkey = w->mr->lkey };
	struct ibv_wc wc;
	struct input in;
	double end;
	size_t len;
	int n = 0;

	if (target_recreate(f, t))
		return snprintf(why, why_len, "requester: %s", strerror(errno)), -1;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.wr.rdma.remote_addr = 0x1000;
	wr.wr.rdma.rkey = 0x1234;
	if (ibv_post_send(t->qp, &wr, &bad))
		return snprintf(why, why_len, "post READ: %s", strerror(errno)), -1;
	memset(&in, 0, sizeof(in));
	in.h.opcode = OPC_RC | OP_READ_RESP_ONLY;
	in.h.pkey = 0xffff;
	in.h.qpn = t->qpn;
	in.h.psn = 0;
	in.h.syndrome = 0x1f;
	in.flags = roce_op_flags(in.h.opcode);
	for (len = 0; len < 100; len++)
		in.payload[len] = 0x5a ^ len;
	in.paylen = 100;
	memset(w->addr + 512, 0, 100);
	/* let the READ go out first */
	usleep(50 * 1000);
	len = build(&in, pkt);
	roce_send(&f->sock, pkt, len);
	end = fuzz_now() + 5;
	while (fuzz_now() < end && (n = ibv_poll_cq(t->cq, 1, &wc)) == 0)
		usleep(1000);
	if (n != 1 || wc.status || wc.wr_id != 77) {
		snprintf(why, why_len, "READ response: %d completions, status %d",
			 n, n == 1 ? (int)wc.status : -1);
		return -1;
	}
	if (memcmp(w->addr + 512, in.payload, 100)) {
		snprintf(why, why_len, "READ response: data did not land");
		return -1;
	}
	return 0;
}

/* A UD SEND packet reaches the UD QP's receive with its payload. */
static int probe_ud(struct fz *f, char *why, size_t why_len)
{
	static uint8_t pkt[ROCE_MAX];
	struct target *t = &f->t[T_UD];
	struct window *w = &f->w[W_PIN];
	struct ibv_recv_wr wr = { .wr_id = WR_RECV | 99 }, *bad;
	struct ibv_sge sge = { .addr = (uintptr_t)w->addr + 2048, .length = 240,
			       .lkey = w->mr->lkey };
	struct ibv_wc wc;
	struct input in;
	double end;
	size_t len;
	int n = 0;

	if (target_recreate(f, t))
		return snprintf(why, why_len, "UD QP: %s", strerror(errno)), -1;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	if (ibv_post_recv(t->qp, &wr, &bad))
		return snprintf(why, why_len, "post recv: %s", strerror(errno)), -1;
	t->recv_posted++;
	memset(&in, 0, sizeof(in));
	in.h.opcode = OPC_UD | OP_SEND_ONLY;
	in.h.pkey = 0xffff;
	in.h.qpn = t->qpn;
	in.h.qkey = UD_QKEY;
	in.h.src_qp = 0x123;
	in.flags = roce_op_flags(in.h.opcode);
	for (len = 0; len < 200; len++)
		in.payload[len] = 0xa7 ^ len;
	in.paylen = 200;
	len = build(&in, pkt);
	roce_send(&f->sock, pkt, len);
	end = fuzz_now() + 5;
	while (fuzz_now() < end && (n = ibv_poll_cq(t->cq, 1, &wc)) == 0)
		usleep(1000);
	if (n == 1)
		t->recv_posted--;
	if (n != 1 || wc.status || wc.byte_len != 240 ||
	    wc.src_qp != 0x123) {
		snprintf(why, why_len, "UD SEND: %d completions, status %d, byte_len %u, src_qp %#x",
			 n, n == 1 ? (int)wc.status : -1, n == 1 ? wc.byte_len : 0,
			 n == 1 ? wc.src_qp : 0);
		return -1;
	}
	/* 40 bytes of GRH first, then the payload */
	if (memcmp(w->addr + 2048 + 40, in.payload, 200)) {
		snprintf(why, why_len, "UD SEND: data did not land");
		return -1;
	}
	return 0;
}

/*
 * -P BUG: the smallest input of a known bug, on fresh QPs; a fixed kernel
 * survives it (and the checks after it pass), an unfixed one crashes.
 */
static int repro_known(void *ctx, int k, char *why, size_t why_len)
{
	struct fz *f = ctx;
	static uint8_t pkt[ROCE_MAX];
	static const enum ibv_qp_type types[] = { IBV_QPT_UC, IBV_QPT_RC };
	struct input in;
	struct ibv_qp *qp;
	size_t len;
	unsigned int i;

	if (k == K_READ_RESP_NAK) {
		struct target *t = &f->t[T_REQ];
		struct window *w = &f->w[W_PIN];
		struct ibv_sge sge = { .addr = (uintptr_t)w->addr,
				       .length = 64, .lkey = w->mr->lkey };
		struct ibv_send_wr wr = { .wr_id = 0x4ead, .sg_list = &sge,
					  .num_sge = 1,
					  .opcode = IBV_WR_RDMA_READ,
					  .send_flags = IBV_SEND_SIGNALED },
				   *bad;
		struct ibv_wc wc;
		double end;
		int got = 0;

		if (target_recreate(f, t))
			return snprintf(why, why_len, "QP: %s",
					strerror(errno)), -1;
		wr.wr.rdma.remote_addr = 0x1000;
		wr.wr.rdma.rkey = 0x1234;
		memset(w->addr, 0x77, 64);
		if (ibv_post_send(t->qp, &wr, &bad))
			return snprintf(why, why_len, "post: %s",
					strerror(errno)), -1;
		usleep(50 * 1000);
		memset(&in, 0, sizeof(in));
		in.h.opcode = OPC_RC | OP_READ_RESP_ONLY;
		in.h.pkey = 0xffff;
		in.h.qpn = t->qpn;
		in.h.psn = 0;
		in.h.syndrome = 0x60;	/* NAK: PSN sequence error */
		in.flags = roce_op_flags(in.h.opcode);
		in.paylen = 64;
		len = build(&in, pkt);
		printf("# RDMA READ posted on QP %#x; sending it an RDMA READ RESPONSE ONLY, PSN 0, AETH syndrome 0x60 (NAK), 64 bytes\n",
		       t->qpn);
		roce_send(&f->sock, pkt, len);
		end = fuzz_now() + 3;
		while (!got && fuzz_now() < end)
			got = ibv_poll_cq(t->cq, 1, &wc);
		if (got != 1)
			return snprintf(why, why_len,
					"no completion for the READ in 3 s"), -1;
		printf("# the READ completed with status %d (%s)\n",
		       wc.status, ibv_wc_status_str(wc.status));
		/* the response broke the protocol: nothing was read */
		if (wc.status != IBV_WC_BAD_RESP_ERR)
			return snprintf(why, why_len,
					"READ completed with %s, not %s",
					ibv_wc_status_str(wc.status),
					ibv_wc_status_str(IBV_WC_BAD_RESP_ERR)), -1;
		return 0;
	}
	if (k == K_INV_MW) {
		struct window *w = &f->w[W_PIN];
		struct ibv_sge sge = { .addr = (uintptr_t)w->addr,
				       .length = 256, .lkey = w->mr->lkey };
		struct ibv_recv_wr rwr = { .sg_list = &sge, .num_sge = 1 },
				   *bad;

		qp = make_qp(f, IBV_QPT_RC, f->sink_cq, NULL, f->sink->qp_num,
			     true);
		if (!qp || ibv_post_recv(qp, &rwr, &bad))
			return snprintf(why, why_len, "QP: %s",
					strerror(errno)), -1;
		memset(&in, 0, sizeof(in));
		in.h.opcode = OPC_RC | OP_SEND_ONLY_INV;
		in.h.pkey = 0xffff;
		in.h.qpn = qp->qp_num;
		in.h.inv_rkey = f->mw->rkey;
		in.flags = roce_op_flags(in.h.opcode);
		in.paylen = 4;
		len = build(&in, pkt);
		printf("# sending RC SEND ONLY with invalidate, IETH rkey %#x (a type 2 MW never bound), PSN 0, to QP %#x\n",
		       f->mw->rkey, qp->qp_num);
		roce_send(&f->sock, pkt, len);
		usleep(500 * 1000);
		ibv_destroy_qp(qp);
	}
	for (i = 0; i < 2 && k == K_ZERO_LEN_WRITE; i++) {
		qp = make_qp(f, types[i], f->sink_cq, NULL, f->sink->qp_num,
			     true);
		if (!qp)
			return snprintf(why, why_len, "QP: %s",
					strerror(errno)), -1;
		memset(&in, 0, sizeof(in));
		/* RETH { va 0, rkey 0, length 0 }, then 4 bytes of payload;
		 * a UC QP takes a first packet whatever its PSN */
		in.h.opcode = (types[i] == IBV_QPT_UC ? OPC_UC : OPC_RC) |
			      OP_WRITE_ONLY;
		in.h.pkey = 0xffff;
		in.h.qpn = qp->qp_num;
		in.h.psn = types[i] == IBV_QPT_UC ? 0x123456 : 0;
		in.flags = roce_op_flags(in.h.opcode);
		in.paylen = 4;
		memcpy(in.payload, "boom", 4);
		len = build(&in, pkt);
		printf("# sending %s RDMA WRITE ONLY, RETH va 0 rkey 0 length 0, 4-byte payload, PSN %#x, to QP %#x\n",
		       types[i] == IBV_QPT_UC ? "UC" : "RC", in.h.psn,
		       qp->qp_num);
		roce_send(&f->sock, pkt, len);
		usleep(500 * 1000);
		ibv_destroy_qp(qp);
	}
	return 0;
}

static void progress(struct fz *f, const char *what)
{
	double dt = fuzz_now() - f->t0;
	long long rcvd = rdma_loop_counter(&f->lp, "rcvd_pkts");
	int c;

	printf("# %s: %lu inputs in %.0f s (%.0f/s), sent %lu (send errors %lu),",
	       what, f->index, dt, dt > 0 ? f->index / dt : 0, f->sock.sent,
	       f->sock.errors);
	for (c = 0; c < C_NR; c++)
		printf(" %s %lu", cls_names[c], f->by_cls[c]);
	printf("; rxe rcvd_pkts +%lld, odp_faults %lld, odp_invalidations %lld; MemAvailable %ld MiB\n",
	       rcvd >= 0 && f->rcvd0 >= 0 ? rcvd - f->rcvd0 : -1,
	       rdma_loop_counter(&f->lp, "odp_faults"),
	       rdma_loop_counter(&f->lp, "odp_invalidations"),
	       mem_available_mb());
}

/* The periodic check: windows, fresh-pair RDMA, the raw packet path. */
static bool checks(struct fz *f, const char *name)
{
	char why[256] = "", buf[300];
	struct rng r;
	bool ok = true;
	long bad;
	int i;

	f->checks++;
	tap_run(name);
	rng_input(&r, f->o.seed, ~f->checks);
	for (i = 0; i < T_NR; i++) {
		drain_cq(f, &f->t[i]);
		target_sync(f, &f->t[i]);
	}
	for (i = 0; i < W_NR; i++) {
		bad = window_check(&f->w[i]);
		if (bad >= 0) {
			long rel = bad - (f->w[i].addr - f->w[i].map);

			printf("# %s: window %s damaged at MR offset %ld (byte %#x, canary %#x)\n",
			       name, f->w[i].name, rel,
			       (uint8_t)f->w[i].map[bad],
			       window_canary(&f->w[i], bad));
			window_reset(&f->w[i]);
			ok = false;
		}
	}
	if (health_check(&f->health, f->o.seed + f->checks, why,
			 sizeof(why))) {
		printf("# %s: fresh-pair RDMA: %s\n", name, why);
		ok = false;
	}
	if (probe_write(f, f->o.seed + f->checks, false, &f->w[W_ODP], why,
			sizeof(why))) {
		printf("# %s: %s\n", name, why);
		ok = false;
	}
	for (i = 0; i < T_NR; i++)
		refill(f, &f->t[i], &r);
	snprintf(buf, sizeof(buf), "after %lu inputs", f->index);
	progress(f, name);
	tap_result(ok, name, "%s", buf);
	return ok;
}

/* ---- setup ---- */

static int setup(struct fz *f, char *why, size_t why_len)
{
	static const char *const tname[T_NR] = {
		"rc", "rc_srq", "rc_req", "uc", "ud",
	};
	static const enum ibv_qp_type ttype[T_NR] = {
		IBV_QPT_RC, IBV_QPT_RC, IBV_QPT_RC, IBV_QPT_UC, IBV_QPT_UD,
	};
	static const enum role trole[T_NR] = {
		ROLE_RESP, ROLE_RESP, ROLE_REQ, ROLE_RESP, ROLE_UD,
	};
	struct ibv_srq_init_attr sa = {
		.attr = { .max_wr = SRQ_DEPTH, .max_sge = 2 },
	};
	int i, ro = IBV_ACCESS_REMOTE_READ;
	struct rng r;

	if (rdma_loop_open(&f->lp))
		return snprintf(why, why_len, "rdma_loop_open: %s",
				strerror(errno)), -1;
	if (health_init(&f->health, &f->lp, 64 * 1024))
		return snprintf(why, why_len, "health buffers: %s",
				strerror(errno)), -1;
	if (window_alloc(&f->w[W_PIN], "pinned", WIN_LEN, 64, 0x11, false) ||
	    window_alloc(&f->w[W_ODP], "odp", WIN_LEN, 128, 0x22, false) ||
	    window_alloc(&f->w[W_RO], "pinned-readonly", SMALL_LEN, 32, 0x33,
			 true) ||
	    window_alloc(&f->w[W_RO_ODP], "odp-readonly", SMALL_LEN, 96, 0x44,
			 true) ||
	    window_alloc(&f->w[W_LOCAL], "local-only", SMALL_LEN, 8, 0x55,
			 true))
		return snprintf(why, why_len, "windows: %s", strerror(errno)), -1;
	f->w[W_PIN].mr = rdma_loop_reg(&f->lp, f->w[W_PIN].addr, WIN_LEN, 0);
	f->w[W_ODP].mr = reg_odp(f->lp.pd, f->w[W_ODP].addr, WIN_LEN,
				 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				 IBV_ACCESS_REMOTE_READ |
				 IBV_ACCESS_REMOTE_ATOMIC);
	f->w[W_RO].mr = ibv_reg_mr(f->lp.pd, f->w[W_RO].addr, SMALL_LEN, ro);
	f->w[W_RO_ODP].mr = reg_odp(f->lp.pd, f->w[W_RO_ODP].addr, SMALL_LEN,
				    ro);
	f->w[W_LOCAL].mr = ibv_reg_mr(f->lp.pd, f->w[W_LOCAL].addr, SMALL_LEN,
				      IBV_ACCESS_LOCAL_WRITE);
	for (i = 0; i < W_NR; i++)
		if (!f->w[i].mr)
			return snprintf(why, why_len, "MR %s: %s", f->w[i].name,
					strerror(errno)), -1;
	f->mw = ibv_alloc_mw(f->lp.pd, IBV_MW_TYPE_2);
	if (!f->mw)
		return snprintf(why, why_len, "MW: %s", strerror(errno)), -1;
	f->sink_cq = ibv_create_cq(f->lp.ctx, 64, NULL, NULL, 0);
	if (!f->sink_cq)
		return snprintf(why, why_len, "CQ: %s", strerror(errno)), -1;
	/* the fuzzed QPs' peer: a QP left in INIT drops what they send */
	f->sink = make_qp(f, IBV_QPT_RC, f->sink_cq, NULL, 0, false);
	f->srq = ibv_create_srq(f->lp.pd, &sa);
	if (!f->sink || !f->srq)
		return snprintf(why, why_len, "sink QP/SRQ: %s",
				strerror(errno)), -1;
	rng_input(&r, f->o.seed, ~0ULL);
	for (i = 0; i < T_NR; i++) {
		struct target *t = &f->t[i];

		t->name = tname[i];
		t->type = ttype[i];
		t->role = trole[i];
		t->use_srq = i == T_SRQ;
		t->cq = ibv_create_cq(f->lp.ctx, 256, NULL, NULL, 0);
		if (!t->cq || target_create(f, t))
			return snprintf(why, why_len, "target %s: %s", t->name,
					strerror(errno)), -1;
		refill(f, t, &r);
	}
	if (roce_sock_open(&f->sock))
		return snprintf(why, why_len, "UDP socket: %s",
				strerror(errno)), -1;
	return 0;
}

static void teardown(struct fz *f)
{
	int i;

	for (i = 0; i < T_NR; i++) {
		if (f->t[i].qp)
			ibv_destroy_qp(f->t[i].qp);
		if (f->t[i].cq)
			ibv_destroy_cq(f->t[i].cq);
	}
	if (f->srq)
		ibv_destroy_srq(f->srq);
	if (f->mw)
		ibv_dealloc_mw(f->mw);
	if (f->sink)
		ibv_destroy_qp(f->sink);
	if (f->sink_cq)
		ibv_destroy_cq(f->sink_cq);
	for (i = 0; i < W_NR; i++)
		window_free(&f->w[i]);
	health_fini(&f->health);
	roce_sock_close(&f->sock);
	rdma_loop_close(&f->lp);
}

/* ---- main ---- */

static void usage(FILE *out)
{
	int i;

	fprintf(out,
		"usage: rxe_pkt_fuzz [-n COUNT] [-t SECONDS] [-s SEED] [-H EVERY]\n"
		"                    [-r FIRST-LAST] [-x NAME,...] [-k BUG,...] [-v]\n"
		"  -n  inputs (packets) to send (default 100000; 0: no limit)\n"
		"  -t  stop after SECONDS (default 0: no limit)\n"
		"  -s  PRNG seed (default: from the clock; printed)\n"
		"  -H  health check every EVERY inputs (default 10000)\n"
		"  -r  only send inputs FIRST..LAST (to replay a seed's inputs)\n"
		"  -v  print every input\n"
		"  -P  send the inputs of these known bugs (or all) on fresh QPs, then check\n"
		"  -k  do not send packets that hit these known kernel bugs:");
	for (i = 0; i < K_NR; i++)
		fprintf(out, " %s", known_names[i]);
	fprintf(out, "\n"
		"  -x  skip input classes / mutations:");
	for (i = 0; i < C_NR; i++)
		fprintf(out, " %s", cls_names[i]);
	for (i = 0; i < M_NR; i++)
		fprintf(out, " %s", mut_names[i]);
	fprintf(out, "\n");
}

static int parse_skip(struct opts *o, char *list)
{
	char *tok, *save = NULL;
	int i;

	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < C_NR; i++)
			if (!strcmp(tok, cls_names[i]))
				break;
		if (i < C_NR) {
			o->skip_cls |= 1u << i;
			continue;
		}
		for (i = 0; i < M_NR; i++)
			if (!strcmp(tok, mut_names[i]))
				break;
		if (i == M_NR) {
			fprintf(stderr, "rxe_pkt_fuzz: -x %s: no such class or mutation\n",
				tok);
			return -1;
		}
		o->skip_mut |= 1u << i;
	}
	return 0;
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
			if (parse_skip(o, optarg))
				return -1;
			break;
		case 'k':
			if (name_mask("rxe_pkt_fuzz", known_names, K_NR,
				      0, optarg, &o->avoid))
				return -1;
			break;
		case 'P':
			if (name_mask("rxe_pkt_fuzz", known_names, K_NR,
				      (1u << K_NR) - 1, optarg, &o->repro))
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
	static struct fz f;
	char why[256] = "";
	unsigned long next_check, next_refill, next_clock, next_beat = 1000, next_drop = 500;
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

	tap_begin("rxe_pkt_fuzz");
	printf("# rxe_pkt_fuzz: seed %llu (-s to repeat), count %lu, time %.0f s\n",
	       (unsigned long long)f.o.seed, f.o.count, f.o.seconds);

	tap_run("setup");
	ok = !setup(&f, why, sizeof(why));
	tap_result(ok, "setup", "%s", why);
	if (!ok) {
		teardown(&f);
		return tap_end();
	}
	printf("# targets: rc %#x, rc_srq %#x, rc_req %#x, uc %#x, ud %#x, sink %#x; UDP source port %u\n",
	       f.t[T_RC].qpn, f.t[T_SRQ].qpn, f.t[T_REQ].qpn, f.t[T_UC].qpn,
	       f.t[T_UD].qpn, f.sink->qp_num, f.sock.sport);

	/* our packets must be right before their mutations mean anything */
	tap_run("wellformed");
	ok = !probe_write(&f, f.o.seed, false, &f.w[W_PIN], why, sizeof(why)) &&
	     !probe_write(&f, f.o.seed, false, &f.w[W_ODP], why, sizeof(why)) &&
	     !probe_write(&f, f.o.seed + 1, true, &f.w[W_PIN], why, sizeof(why)) &&
	     !probe_read_resp(&f, why, sizeof(why)) &&
	     !probe_ud(&f, why, sizeof(why));
	tap_result(ok, "wellformed", "%s", ok ? fuzz_no_odp ?
		   "RDMA WRITE (pinned; no ODP here), READ response and UD SEND packets accepted, bad ICRC dropped" :
		   "RDMA WRITE (pinned, ODP), READ response and UD SEND packets accepted, bad ICRC dropped" :
		   why);
	if (!ok) {
		teardown(&f);
		return tap_end();
	}
	for (i = 0; i < T_NR; i++) {
		struct rng r;

		rng_input(&r, f.o.seed, ~1ULL);
		refill(&f, &f.t[i], &r);
	}

	tap_known(f.o.repro, known_names, K_NR, repro_known, &f);
	f.t0 = fuzz_now();
	f.rcvd0 = rdma_loop_counter(&f.lp, "rcvd_pkts");
	next_check = f.o.health_every;
	next_refill = 64;
	next_clock = 256;
	for (;;) {
		uint64_t idx = f.index;

		if ((f.o.count && f.index >= f.o.count) || f.index > f.o.last ||
		    f.o.repro)
			break;
		one_input(&f, idx);
		if (f.index == idx)
			f.index++;	/* an input that sent nothing */
		if (f.index >= next_refill) {
			struct rng r;

			rng_input(&r, f.o.seed ^ 0x5555, f.index);
			for (i = 0; i < T_NR; i++)
				refill(&f, &f.t[i], &r);
			next_refill = f.index + 64;
		}
		if (f.index >= next_drop) {
			odp_drop(&f);
			next_drop = f.index + 500;
		}
		if (f.index >= next_clock) {
			if (f.o.seconds && fuzz_now() - f.t0 > f.o.seconds)
				break;
			next_clock = f.index + 256;
		}
		if (f.index >= next_beat) {
			/* where a crash happened, to -r around it */
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
	printf("\n# inputs by target:");
	for (i = 0; i < T_NR; i++)
		printf(" %s %lu", f.t[i].name, f.by_target[i]);
	printf(" other-qpn %lu\n# QPs recreated after errors:", f.by_target[T_NR]);
	for (i = 0; i < T_NR; i++)
		printf(" %s %lu", f.t[i].name, f.t[i].recreated);
	printf(" (failed %lu); completions ok %lu, error %lu; post failures %lu; ODP pages dropped %lu times\n",
	       f.recreate_fail, f.wc_ok, f.wc_err, f.post_fail, f.odp_drops);
	for (i = 0; i < K_NR; i++)
		if (f.o.avoid & (1u << i))
			printf("# known bug %s: %lu packets not sent (-k)\n",
			       known_names[i], f.avoided[i]);
	tap_run("summary");
	tap_result(tap_fail_count == 0 && f.recreate_fail == 0, "summary",
		   "%lu inputs, %lu health checks passed, %lu failed, seed %llu",
		   f.index, f.health.passed, f.health.failed,
		   (unsigned long long)f.o.seed);
	teardown(&f);
	return tap_end();
}
