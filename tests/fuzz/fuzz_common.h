/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared parts of the rxe fuzzers (rxe_pkt_fuzz, rxe_ring_fuzz): a seeded
 * PRNG, TAP output, guarded memory windows, a RoCE v2 packet builder with
 * the ICRC, and the device health check.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

#include "../odp/rdma_loop.h"

/* ---- PRNG: splitmix64, one stream per input (seed, index) ---- */

struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The stream of input @index: independent of what the inputs before did. */
static inline void rng_input(struct rng *r, uint64_t seed, uint64_t index)
{
	r->s = seed ^ (index * 0xd1b54a32d192ed03ULL);
	rng_next(r);
}

/* Uniform in [0, n); 0 when n is 0. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

/* True with probability @per_mille / 1000. */
static inline bool rng_chance(struct rng *r, unsigned int per_mille)
{
	return rng_below(r, 1000) < per_mille;
}

void rng_bytes(struct rng *r, void *p, size_t len);
/* A 32-bit value biased toward edges: 0, 1, ~0, powers of two and +-1. */
uint32_t rng_edgy32(struct rng *r);
uint64_t rng_edgy64(struct rng *r);

/*
 * Set in *mask the bit of each name of the comma-separated LIST in
 * NAMES[0..NR-1], or the bits of ALL for "all". 0, or -1 after a message
 * naming the unknown name.
 */
int name_mask(const char *tool, const char *const *names, int nr,
	      unsigned int all, const char *list, unsigned int *mask);

/* ---- TAP output, in the form tests/host/conftest.py parses ---- */

void tap_begin(const char *tool);
void tap_run(const char *name);
void tap_result(bool ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void tap_skip(const char *name, const char *why);
/*
 * -P: for each known bug in @mask, a TAP result for @repro(@ctx, k): 0 if
 * its input was sent and its checks passed (a kernel report, which the
 * bench catches, is the finding), else -1 with why.
 */
void tap_known(unsigned int mask, const char *const *names, int nr,
	       int (*repro)(void *ctx, int k, char *why, size_t len),
	       void *ctx);
/* Plan and "# Totals:" line; the exit status (1 on any failure). */
int tap_end(void);
extern int tap_fail_count;

/* ---- memory windows with canaries around them ---- */

/*
 * [addr, addr + len) is what an MR covers; the bytes around it, in the same
 * pages and the pages either side, hold a canary pattern that no RDMA may
 * change. A "protected" window (a read-only or local-only MR) must keep
 * its own contents too.
 */
struct window {
	const char *name;
	char *map;		/* whole mapping */
	size_t map_len;
	char *addr;		/* the MR's range */
	size_t len;
	uint8_t seed;
	bool protect;		/* contents must not change */
	struct ibv_mr *mr;
};

int window_alloc(struct window *w, const char *name, size_t len,
		 size_t misalign, uint8_t seed, bool protect);
void window_free(struct window *w);
/* Offset (from map) of the first damaged canary/protected byte, or -1. */
long window_check(const struct window *w);
/* Put the canaries (and protected contents) back after a failed check. */
void window_reset(struct window *w);
static inline uint8_t window_canary(const struct window *w, size_t off)
{
	return (uint8_t)(w->seed + off * 131 + (off >> 8));
}

/* ---- RoCE v2 packets sent from a UDP socket to 127.0.0.1:4791 ---- */

#define ROCE_PORT	4791
#define ROCE_MAX	(8192)

/* extension headers, in the order they follow the BTH */
enum {
	HDR_RDETH = 1 << 0,
	HDR_DETH = 1 << 1,
	HDR_RETH = 1 << 2,
	HDR_ATMETH = 1 << 3,
	HDR_AETH = 1 << 4,
	HDR_ATMACK = 1 << 5,
	HDR_IMMDT = 1 << 6,
	HDR_IETH = 1 << 7,
	HDR_PAYLOAD = 1 << 8,
	/* classification, not headers */
	OP_VALID = 1 << 12,	/* an opcode rdma_rxe knows */
	OP_REQ = 1 << 13,	/* a request (not a response/ack) */
	OP_FIRST = 1 << 14,
	OP_MIDDLE = 1 << 15,
	OP_LAST = 1 << 16,
	OP_ONLY = OP_FIRST | OP_LAST,
};

#define BTH_LEN		12
#define RDETH_LEN	4
#define DETH_LEN	8
#define RETH_LEN	16
#define ATMETH_LEN	28
#define AETH_LEN	4
#define ATMACK_LEN	8
#define IMMDT_LEN	4
#define IETH_LEN	4
#define ICRC_LEN	4

/* IBA transport opcodes (the high 3 bits: RC 0, UC 1, RD 2, UD 3) */
enum {
	OPC_RC = 0x00, OPC_UC = 0x20, OPC_RD = 0x40, OPC_UD = 0x60,
	OP_SEND_FIRST = 0x00, OP_SEND_MIDDLE, OP_SEND_LAST, OP_SEND_LAST_IMM,
	OP_SEND_ONLY, OP_SEND_ONLY_IMM, OP_WRITE_FIRST, OP_WRITE_MIDDLE,
	OP_WRITE_LAST, OP_WRITE_LAST_IMM, OP_WRITE_ONLY, OP_WRITE_ONLY_IMM,
	OP_READ_REQ, OP_READ_RESP_FIRST, OP_READ_RESP_MIDDLE,
	OP_READ_RESP_LAST, OP_READ_RESP_ONLY, OP_ACK, OP_ATOMIC_ACK,
	OP_CMP_SWAP, OP_FETCH_ADD, OP_RESERVED_15, OP_SEND_LAST_INV,
	OP_SEND_ONLY_INV,
};

#define GSI_QKEY	0x80010000u
#define MCAST_QPN	0xffffffu

/* What follows the BTH for @opcode (HDR_* | OP_* bits). */
unsigned int roce_op_flags(uint8_t opcode);
const char *roce_op_name(uint8_t opcode);
/* Bytes of extension headers after the BTH. */
size_t roce_ext_len(unsigned int flags);

/* Header fields of one packet, before it is laid out. */
struct roce_hdr {
	uint8_t opcode;
	bool se, mig, ackreq;
	uint8_t pad;		/* 0..3 */
	uint8_t tver;		/* 0 in a valid packet */
	uint16_t pkey;
	uint8_t resv8a;		/* FECN/BECN/resv6a byte */
	uint32_t qpn;
	uint8_t resv7;
	uint32_t psn;
	/* RDETH, DETH */
	uint32_t een, qkey, src_qp;
	/* RETH, AtomicETH */
	uint64_t va;
	uint32_t rkey, dma_len;
	uint64_t swap_add, compare;
	/* AETH, AtomicAckETH */
	uint8_t syndrome;
	uint32_t msn;
	uint64_t orig;
	/* ImmDt, IETH */
	uint32_t imm, inv_rkey;
};

/*
 * Lay out @h with @flags' extension headers (not necessarily the opcode's:
 * a mismatch is a mutation), @paylen payload bytes from @payload (NULL:
 * zeros), h->pad pad bytes and room for the ICRC; returns the length.
 */
size_t roce_build(uint8_t *buf, const struct roce_hdr *h, unsigned int flags,
		  const void *payload, size_t paylen);
/* Write the ICRC of the @len-byte UDP payload into its last 4 bytes. */
void roce_set_icrc(uint8_t *buf, size_t len);

struct roce_sock {
	int fd;
	uint16_t sport;		/* our UDP source port, in the ICRC */
	unsigned long sent, errors;
};

int roce_sock_open(struct roce_sock *s);
void roce_sock_close(struct roce_sock *s);
int roce_send(struct roce_sock *s, const uint8_t *buf, size_t len);

/* ---- QPs ---- */

#define FUZZ_QKEY	0x11112222u

/* A QP in INIT (UD: with FUZZ_QKEY; RC/UC: remote access allowed). */
struct ibv_qp *fuzz_qp(struct rdma_loop *lp, enum ibv_qp_type type,
		       struct ibv_cq *cq, struct ibv_srq *srq,
		       const struct ibv_qp_cap *cap);
/* INIT -> RTR -> RTS; @dest is the peer QPN (RC/UC), PSNs start at 0. */
int fuzz_qp_connect(struct rdma_loop *lp, struct ibv_qp *qp, uint32_t dest,
		    enum ibv_mtu mtu);

/*
 * An ODP MR (IBV_ACCESS_ON_DEMAND | @access), or a pinned one where the
 * device has no ODP (the stock rdma_rxe); fuzz_no_odp says which.
 */
struct ibv_mr *reg_odp(struct ibv_pd *pd, void *addr, size_t len, int access);
extern bool fuzz_no_odp;

/* ---- device health ---- */

/*
 * On a fresh QP pair of @lp's device and PD: RDMA WRITE @seed's pattern
 * into the pinned and the ODP buffer, READ it back, compare. 0 or -1 with
 * @why filled in.
 */
struct health {
	struct rdma_loop *lp;
	char *buf[4];		/* pinned src/dst, ODP src/dst */
	struct ibv_mr *mr[4];
	size_t len;
	unsigned long passed, failed;
};

int health_init(struct health *h, struct rdma_loop *lp, size_t len);
int health_check(struct health *h, uint64_t seed, char *why, size_t why_len);
void health_fini(struct health *h);

/* QP state, or -1 if the query fails. */
int qp_state(struct ibv_qp *qp);
double fuzz_now(void);
/* MemAvailable in MiB, -1 if unknown. */
long mem_available_mb(void);

#endif
