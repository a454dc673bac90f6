// SPDX-License-Identifier: GPL-2.0
/*
 * usage: rxe_hardening   (RXE_HARD_ONLY=<substring>[,...] runs only the
 *                          tests whose name contains one, e.g. u1_,h4_)
 *
 * Regression tests for the fixes to stock rxe code at the front of our
 * patch series, each named after its row of the audit (U1, U2, U5: what a
 * remote peer sends; H1-H5: what a process writes into the queues it
 * maps; F3: READ responses that break the protocol, found by
 * tests/fuzz; P1-P2: keys of another protection domain). Remote input is crafted here: RoCE v2 packets with a valid ICRC,
 * sent from a UDP socket to port 4791 on this host, for a QP whose peer
 * does not exist (its QPN is FAKE_QPN) or is a QP of ours that never sends
 * what it is answered. Queue input is written into the rings of our
 * provider (userspace-provider/rxe_odp.h), which must be the one in use
 * (RDMAV_DRIVERS=$PWD/build/provider/librxe_odp). Without the fixes most
 * of these oops the kernel; the others fail their checks.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kselftest_harness.h"
#include "rdma_loop.h"
#include "../../userspace-provider/rxe_odp.h"

#define ROCE_PORT	4791
/* a QPN no rxe QP has: what is sent to it is dropped */
#define FAKE_QPN	0xabcdefu
#define PSN_A		0x1000u
#define PSN_B		0x5000u
#define MTU		1024
#define BUF_LEN		(64 * 1024)
#define WAIT_MS		5000
/* an address in the direct map far past the guest's memory */
#define BAD_SGE_INDEX	0xf0000000u

/* IBA opcodes (RC 0x00, UD 0x60) */
enum {
	OP_RC_SEND_FIRST = 0x00,
	OP_RC_SEND_MIDDLE = 0x01,
	OP_RC_SEND_LAST = 0x02,
	OP_RC_SEND_ONLY = 0x04,
	OP_RC_WRITE_ONLY = 0x0a,
	OP_RC_READ_REQ = 0x0c,
	OP_RC_READ_RESP_FIRST = 0x0d,
	OP_RC_READ_RESP_MIDDLE = 0x0e,
	OP_RC_READ_RESP_LAST = 0x0f,
	OP_RC_READ_RESP_ONLY = 0x10,
	OP_RC_ACK = 0x11,
	OP_UD_SEND_ONLY = 0x64,
};

/* ---- RoCE v2 packets ---- */

static uint32_t crc_table[256];

static void crc_init(void)
{
	uint32_t c;
	int i, k;

	for (i = 0; i < 256; i++) {
		for (c = i, k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* crc32_le() as the kernel has it: no inversion in or out */
static uint32_t crc32_le(uint32_t c, const uint8_t *p, size_t len)
{
	while (len--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	*p++ = v >> 8;
	*p++ = v;
	return p;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	return put16(put16(p, v >> 16), v);
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
	return put32(put32(p, v >> 32), v);
}

struct roce {
	int fd;
	uint32_t addr;		/* source, host order */
	uint32_t dst;		/* destination, host order */
	uint16_t sport;
};

static int roce_open(struct roce *r, uint32_t addr)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET, .sin_addr.s_addr = htonl(addr),
	};
	socklen_t alen = sizeof(a);
	int pmtu = IP_PMTUDISC_DO;

	crc_init();
	r->addr = addr;
	r->dst = addr;
	r->fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (r->fd < 0)
		return -1;
	/* DF on an unconnected socket: the IP ID is 0, which the ICRC covers */
	if (setsockopt(r->fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu,
		       sizeof(pmtu)) ||
	    bind(r->fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(r->fd, (struct sockaddr *)&a, &alen)) {
		close(r->fd);
		r->fd = -1;
		return -1;
	}
	r->sport = ntohs(a.sin_port);
	return 0;
}

static void roce_close(struct roce *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

/*
 * Build BTH(@opcode, @qpn, @psn) + @ext + @payload + pad + ICRC into @pkt
 * (12 + 64 + 8192 + 8 bytes), as sent from UDP port @sport of r->addr;
 * its length, or 0. The ICRC (rxe_icrc.c): CRC-32 seeded with 0xdebb20e3
 * over the IPv4 header with TOS, TTL and checksum set to ones, the UDP
 * header with its checksum set to ones, the BTH with resv8a set to ones,
 * and the rest; inverted, in little-endian byte order.
 */
static size_t roce_packet(struct roce *r, uint16_t sport, uint8_t *pkt,
			  uint8_t opcode, uint32_t qpn, uint32_t psn,
			  const uint8_t *ext, size_t ext_len,
			  const void *payload, size_t len)
{
	uint8_t ph[20 + 8 + 12], *p = pkt;
	unsigned int pad = -len & 3;
	size_t n;
	uint32_t crc;

	if (ext_len > 64 || len > 8192)
		return 0;
	*p++ = opcode;
	*p++ = pad << 4;
	p = put16(p, 0xffff);
	p = put32(p, qpn & 0xffffff);
	p = put32(p, 0x80000000u | (psn & 0xffffff));
	memcpy(p, ext, ext_len);
	p += ext_len;
	memcpy(p, payload, len);
	p += len;
	memset(p, 0, pad);
	p += pad;
	n = p - pkt + 4;

	p = ph;
	*p++ = 0x45;
	*p++ = 0xff;
	p = put16(p, 20 + 8 + n);
	p = put16(p, 0);
	p = put16(p, 0x4000);
	*p++ = 0xff;
	*p++ = IPPROTO_UDP;
	p = put16(p, 0xffff);
	p = put32(p, r->addr);
	p = put32(p, r->dst);
	p = put16(p, sport);
	p = put16(p, ROCE_PORT);
	p = put16(p, 8 + n);
	p = put16(p, 0xffff);
	memcpy(p, pkt, 12);
	p[4] = 0xff;
	crc = crc32_le(0xdebb20e3u, ph, sizeof(ph));
	crc = ~crc32_le(crc, pkt + 12, n - 4 - 12);
	pkt[n - 4] = crc;
	pkt[n - 3] = crc >> 8;
	pkt[n - 2] = crc >> 16;
	pkt[n - 1] = crc >> 24;
	return n;
}

/* Send roce_packet()'s packet from @r's socket. */
static int roce_send(struct roce *r, uint8_t opcode, uint32_t qpn,
		     uint32_t psn, const uint8_t *ext, size_t ext_len,
		     const void *payload, size_t len)
{
	uint8_t pkt[12 + 64 + 8192 + 8];
	struct sockaddr_in to = {
		.sin_family = AF_INET, .sin_port = htons(ROCE_PORT),
		.sin_addr.s_addr = htonl(r->dst),
	};
	size_t n = roce_packet(r, r->sport, pkt, opcode, qpn, psn, ext,
			       ext_len, payload, len);

	if (!n || sendto(r->fd, pkt, n, 0, (struct sockaddr *)&to,
			 sizeof(to)) != (ssize_t)n)
		return -1;
	return 0;
}

static size_t reth(uint8_t *b, uint64_t va, uint32_t rkey, uint32_t len)
{
	return put32(put32(put64(b, va), rkey), len) - b;
}

static size_t deth(uint8_t *b, uint32_t qkey, uint32_t src_qp)
{
	return put32(put32(b, qkey), src_qp & 0xffffff) - b;
}

static size_t aeth(uint8_t *b, uint8_t syndrome, uint32_t msn)
{
	return put32(b, (uint32_t)syndrome << 24 | (msn & 0xffffff)) - b;
}

/* ---- device, GIDs, QPs ---- */

static void v4_gid(union ibv_gid *gid, uint32_t addr)
{
	memset(gid, 0, sizeof(*gid));
	gid->raw[10] = 0xff;
	gid->raw[11] = 0xff;
	put32(&gid->raw[12], addr);
}

/* The index of @addr's RoCE v2 GID on port 1 of @lp's device, or -1. */
static int find_v4_gid(struct rdma_loop *lp, uint32_t addr)
{
	struct ibv_port_attr pa;
	union ibv_gid want, gid;
	char path[256], type[32];
	int i;
	FILE *f;

	if (ibv_query_port(lp->ctx, 1, &pa))
		return -1;
	v4_gid(&want, addr);
	for (i = 0; i < pa.gid_tbl_len; i++) {
		if (ibv_query_gid(lp->ctx, 1, i, &gid) ||
		    memcmp(&gid, &want, sizeof(gid)))
			continue;
		snprintf(path, sizeof(path),
			 "/sys/class/infiniband/%s/ports/1/gid_attrs/types/%d",
			 lp->dev_name, i);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(type, sizeof(type), f) &&
		    !strncmp(type, "RoCE v2", 7)) {
			fclose(f);
			return i;
		}
		fclose(f);
	}
	return -1;
}

struct qp_conf {
	enum ibv_qp_type type;
	uint32_t dest_qpn;
	int sgid_index;
	uint32_t dgid_addr;	/* IPv4, or 0 for @dgid */
	const union ibv_gid *dgid;
	uint8_t timeout;	/* 0: no retransmission */
	uint8_t rnr_retry;
	struct ibv_srq *srq;
	int max_inline;
};

static struct ibv_qp *new_qp(struct rdma_loop *lp, struct ibv_cq *cq,
			     const struct qp_conf *c)
{
	struct ibv_qp_init_attr init = {
		.send_cq = cq, .recv_cq = cq, .srq = c->srq,
		.cap = {
			.max_send_wr = 16, .max_recv_wr = 16,
			.max_send_sge = 4, .max_recv_sge = 4,
			.max_inline_data = c->max_inline,
		},
		.qp_type = c->type,
	};

	return ibv_create_qp(lp->pd, &init);
}

/* Bring @qp to RTS as @c says. */
static int connect_qp(struct ibv_qp *qp, const struct qp_conf *c)
{
	bool ud = c->type == IBV_QPT_UD;
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .port_num = 1,
		.qp_access_flags = IBV_ACCESS_LOCAL_WRITE |
				   IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_ATOMIC,
	};

	if (ud) {
		a.qkey = 0x1234;
		if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
				  IBV_QP_PORT | IBV_QP_QKEY))
			return -1;
		memset(&a, 0, sizeof(a));
		a.qp_state = IBV_QPS_RTR;
		if (ibv_modify_qp(qp, &a, IBV_QP_STATE))
			return -1;
		memset(&a, 0, sizeof(a));
		a.qp_state = IBV_QPS_RTS;
		a.sq_psn = PSN_B;
		return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN);
	}
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = c->dest_qpn;
	a.rq_psn = PSN_A;
	a.max_dest_rd_atomic = 16;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	if (c->dgid)
		a.ah_attr.grh.dgid = *c->dgid;
	else
		v4_gid(&a.ah_attr.grh.dgid, c->dgid_addr);
	a.ah_attr.grh.sgid_index = c->sgid_index;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = PSN_A;
	a.timeout = c->timeout;
	a.retry_cnt = 0;
	a.rnr_retry = c->rnr_retry;
	a.max_rd_atomic = 16;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN |
			     IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			     IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC);
}

static struct ibv_qp *make_qp(struct rdma_loop *lp, struct ibv_cq *cq,
			      const struct qp_conf *c)
{
	struct ibv_qp *qp = new_qp(lp, cq, c);

	if (qp && connect_qp(qp, c)) {
		ibv_destroy_qp(qp);
		qp = NULL;
	}
	return qp;
}

static int qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr a;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &init))
		return -1;
	return a.qp_state;
}

/* Wait for a completion on @cq: 1 with *@wc, 0 after @ms, -1 on error. */
static int wait_wc(struct ibv_cq *cq, struct ibv_wc *wc, int ms)
{
	long long deadline = now_ms() + ms;
	int n;

	do {
		n = ibv_poll_cq(cq, 1, wc);
		if (n)
			return n < 0 ? -1 : 1;
		usleep(1000);
	} while (now_ms() < deadline);
	return 0;
}

static int post_recv(struct ibv_qp *qp, struct ibv_mr *mr, void *addr,
		     uint32_t len, uint64_t wr_id)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)addr, .length = len, .lkey = mr->lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1,
	}, *bad;

	return ibv_post_recv(qp, &wr, &bad);
}

/* ---- our provider's rings ---- */

static bool ours(struct ibv_qp *qp)
{
	struct rxe_odp_qp *rqp = to_rqp(qp);

	return rqp->db.hdr.command == IB_USER_VERBS_CMD_POST_SEND &&
	       rqp->db.cmd.qp_handle == qp->handle && rqp->sq.ring.buf;
}

/* The free slot at the producer index of @ring, zeroed. */
static void *ring_next_slot(struct rxe_odp_ring *ring)
{
	struct rxe_queue_buf *q = ring->buf;
	void *slot;

	slot = ring_slot(q, atomic_load_explicit(ring_prod(q),
						 memory_order_relaxed));
	memset(slot, 0, ring_elem_size(q));
	return slot;
}

static void ring_publish(struct rxe_odp_ring *ring)
{
	struct rxe_queue_buf *q = ring->buf;
	uint32_t prod = atomic_load_explicit(ring_prod(q),
					     memory_order_relaxed);

	atomic_store_explicit(ring_prod(q), ring_next(q, prod),
			      memory_order_release);
}

/* Publish the send WQE just written and run the requester. */
static int sq_ring(struct ibv_qp *qp)
{
	struct rxe_odp_qp *rqp = to_rqp(qp);

	ring_publish(&rqp->sq.ring);
	if (write(rqp->cmd_fd, &rqp->db, sizeof(rqp->db)) != sizeof(rqp->db))
		return -1;
	return 0;
}

/* The send WQE last published on @qp. */
static struct rxe_send_wqe *sq_last(struct ibv_qp *qp)
{
	struct rxe_queue_buf *q = to_rqp(qp)->sq.ring.buf;
	uint32_t prod = atomic_load_explicit(ring_prod(q),
					     memory_order_relaxed);

	return ring_slot(q, (prod - 1) & q->index_mask);
}

/* ---- the fixture ---- */

/* Whether @name contains one of the comma-separated substrings of @only. */
static bool selected(const char *name, const char *only)
{
	char buf[256], *tok, *save;

	snprintf(buf, sizeof(buf), "%s", only);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		if (strstr(name, tok))
			return true;
	return false;
}

/* a SKIP() in FIXTURE_SETUP() would still run the test */
#define SKIP_SETUP(fmt, ...) \
	SKIP(longjmp(_metadata->env, 1), fmt, ##__VA_ARGS__)

FIXTURE(hard) {
	struct rdma_loop lp;	/* an RC pair, for ring tests */
	struct roce r;
	int gid4;		/* RoCE v2 GID of 127.0.0.1 */
	struct ibv_cq *cq[2];
	char *buf[2];
	struct ibv_mr *mr[2];
};

FIXTURE_SETUP(hard)
{
	int i;

	const char *only = getenv("RXE_HARD_ONLY");

	if (only && !selected(_metadata->name, only))
		SKIP_SETUP("not selected by RXE_HARD_ONLY=%s", only);
	self->r.fd = -1;
	ASSERT_EQ(0, rdma_loop_open(&self->lp)) TH_LOG("%s", strerror(errno));
	if (!ours(self->lp.qp[0]))
		SKIP_SETUP("not our provider: set RDMAV_DRIVERS");
	self->gid4 = find_v4_gid(&self->lp, INADDR_LOOPBACK);
	ASSERT_LE(0, self->gid4) TH_LOG("no RoCE v2 GID for 127.0.0.1");
	ASSERT_EQ(0, roce_open(&self->r, INADDR_LOOPBACK))
		TH_LOG("UDP socket: %s", strerror(errno));
	for (i = 0; i < 2; i++) {
		self->cq[i] = ibv_create_cq(self->lp.ctx, 64, NULL, NULL, 0);
		ASSERT_NE(NULL, self->cq[i]);
		self->buf[i] = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, self->buf[i]);
		memset(self->buf[i], 0, BUF_LEN);
		self->mr[i] = rdma_loop_reg(&self->lp, self->buf[i], BUF_LEN,
					    0);
		ASSERT_NE(NULL, self->mr[i]);
	}
}

FIXTURE_TEARDOWN(hard)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (self->mr[i])
			ibv_dereg_mr(self->mr[i]);
		if (self->buf[i] && self->buf[i] != MAP_FAILED)
			munmap(self->buf[i], BUF_LEN);
	}
	roce_close(&self->r);
	/* rdma_loop_close() destroys the PD: QPs and CQs must go first */
	for (i = 0; i < 2; i++)
		if (self->cq[i])
			ibv_destroy_cq(self->cq[i]);
	rdma_loop_close(&self->lp);
}

/* An RC QP on 127.0.0.1 that answers FAKE_QPN, or @peer. */
static struct ibv_qp *victim(FIXTURE_DATA(hard) *self, int side,
			     uint32_t peer)
{
	struct qp_conf c = {
		.type = IBV_QPT_RC, .dest_qpn = peer,
		.sgid_index = self->gid4, .dgid_addr = INADDR_LOOPBACK,
	};

	return make_qp(&self->lp, self->cq[side], &c);
}

static void fill(void *p, size_t len, unsigned char seed)
{
	unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = seed + i * 13 + (i >> 8);
}

/*
 * U1: a READ request whose RETH DMA length is above 2^31. The responder
 * must NAK it as an invalid request. Without the length check it took
 * the length as a negative payload; with our patches it failed the MR
 * copy with a remote access error instead, in stock 6.1 it went on to
 * compute the ICRC over ~2^64 bytes. B, whose READ the NAK answers, sees
 * which error it was.
 */
TEST_F(hard, u1_read_longer_than_2g)
{
	struct ibv_qp *a, *b;
	struct ibv_mr *imr;
	struct ibv_wc wc;
	uint8_t ext[16];
	struct ibv_sge sge = {
		.addr = (uintptr_t)self->buf[1], .length = 64,
		.lkey = self->mr[1]->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 0x101, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_READ, .send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = 0x1000, .rkey = 0x1234 },
	}, *bad;

	imr = ibv_reg_mr(self->lp.pd, NULL, SIZE_MAX,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
			 IBV_ACCESS_ON_DEMAND);
	if (!imr)
		SKIP(return, "implicit ODP MR: %s", strerror(errno));
	/* B's READ goes to FAKE_QPN; we send A its request */
	b = victim(self, 1, FAKE_QPN);
	ASSERT_NE(NULL, b);
	a = victim(self, 0, b->qp_num);
	ASSERT_NE(NULL, a);
	ASSERT_EQ(0, ibv_post_send(b, &wr, &bad));

	reth(ext, (uintptr_t)self->buf[0], imr->rkey, 0xffffffc0u);
	ASSERT_EQ(0, roce_send(&self->r, OP_RC_READ_REQ, a->qp_num, PSN_A,
			       ext, 16, NULL, 0));
	ASSERT_EQ(1, wait_wc(self->cq[1], &wc, WAIT_MS));
	EXPECT_EQ(0x101, wc.wr_id);
	EXPECT_EQ(IBV_WC_REM_INV_REQ_ERR, wc.status)
		TH_LOG("B's READ completed with %s",
		       ibv_wc_status_str(wc.status));
	EXPECT_EQ(IBV_QPS_ERR, qp_state(a));
	ibv_destroy_qp(a);
	ibv_destroy_qp(b);
	ibv_dereg_mr(imr);
}

/*
 * U1: a READ of exactly 2^31 bytes, which the IBA allows, is answered
 * one MTU at a time. As an int the length is INT_MIN: the responder asked
 * for a 2 GiB skb, failed and answered RNR NAK. Here the source is one
 * page followed by unmapped memory, so after 4 responses the READ ends
 * with a remote access error (the ODP fault fails), into B's page.
 */
TEST_F(hard, u1_read_of_2g)
{
	struct ibv_qp *a, *b;
	struct ibv_mr *imr;
	struct ibv_wc wc;
	uint8_t ext[16];
	char *src, *dst;
	struct ibv_sge sge;
	struct ibv_send_wr wr = {
		.wr_id = 0x102, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_READ, .send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = 0x1000, .rkey = 0x1234 },
	}, *bad;

	imr = ibv_reg_mr(self->lp.pd, NULL, SIZE_MAX,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
			 IBV_ACCESS_ON_DEMAND);
	if (!imr)
		SKIP(return, "implicit ODP MR: %s", strerror(errno));
	/* two pages each, the second unmapped */
	src = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, src);
	ASSERT_NE(MAP_FAILED, dst);
	munmap(src + 4096, 4096);
	munmap(dst + 4096, 4096);
	fill(src, 4096, 7);
	memset(dst, 0, 4096);

	sge.addr = (uintptr_t)dst;
	sge.length = 1U << 31;
	sge.lkey = imr->lkey;
	b = victim(self, 1, FAKE_QPN);
	ASSERT_NE(NULL, b);
	a = victim(self, 0, b->qp_num);
	ASSERT_NE(NULL, a);
	ASSERT_EQ(0, ibv_post_send(b, &wr, &bad));

	reth(ext, (uintptr_t)src, imr->rkey, 1U << 31);
	ASSERT_EQ(0, roce_send(&self->r, OP_RC_READ_REQ, a->qp_num, PSN_A,
			       ext, 16, NULL, 0));
	ASSERT_EQ(1, wait_wc(self->cq[1], &wc, WAIT_MS));
	EXPECT_EQ(0x102, wc.wr_id);
	EXPECT_EQ(IBV_WC_REM_ACCESS_ERR, wc.status)
		TH_LOG("B's READ completed with %s",
		       ibv_wc_status_str(wc.status));
	EXPECT_EQ(0, memcmp(src, dst, 4096));
	ibv_destroy_qp(a);
	ibv_destroy_qp(b);
	munmap(src, 4096);
	munmap(dst, 4096);
	ibv_dereg_mr(imr);
}

/*
 * U1: RC packets whose payload does not fit the path MTU (1024) are
 * invalid requests: the receive WQE they started completes with
 * IBV_WC_REM_INV_REQ_ERR. Without the check the responder took them.
 */
static void mtu_case(struct __test_metadata *_metadata,
		     FIXTURE_DATA(hard) *self, const uint8_t *ops,
		     const size_t *lens, int n)
{
	struct ibv_qp *a;
	struct ibv_wc wc;
	static char data[2 * MTU];
	int i;

	fill(data, sizeof(data), 3);
	a = victim(self, 0, FAKE_QPN);
	ASSERT_NE(NULL, a);
	ASSERT_EQ(0, post_recv(a, self->mr[0], self->buf[0], BUF_LEN, 0x111));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, roce_send(&self->r, ops[i], a->qp_num, PSN_A + i,
				       NULL, 0, data, lens[i]));
	ASSERT_EQ(1, wait_wc(self->cq[0], &wc, WAIT_MS))
		TH_LOG("no completion for the receive");
	EXPECT_EQ(0x111, wc.wr_id);
	EXPECT_EQ(IBV_WC_REM_INV_REQ_ERR, wc.status)
		TH_LOG("the receive completed with %s, %u bytes",
		       ibv_wc_status_str(wc.status), wc.byte_len);
	ibv_destroy_qp(a);
}

TEST_F(hard, u1_send_only_longer_than_mtu)
{
	const uint8_t ops[] = { OP_RC_SEND_ONLY };
	const size_t lens[] = { MTU + 4 };

	mtu_case(_metadata, self, ops, lens, 1);
}

TEST_F(hard, u1_send_first_shorter_than_mtu)
{
	const uint8_t ops[] = { OP_RC_SEND_FIRST, OP_RC_SEND_LAST };
	const size_t lens[] = { MTU - 4, 16 };

	mtu_case(_metadata, self, ops, lens, 2);
}

TEST_F(hard, u1_send_middle_shorter_than_mtu)
{
	const uint8_t ops[] = { OP_RC_SEND_FIRST, OP_RC_SEND_MIDDLE,
				OP_RC_SEND_LAST };
	const size_t lens[] = { MTU, MTU / 2, 16 };

	mtu_case(_metadata, self, ops, lens, 3);
}

TEST_F(hard, u1_send_last_empty)
{
	const uint8_t ops[] = { OP_RC_SEND_FIRST, OP_RC_SEND_LAST };
	const size_t lens[] = { MTU, 0 };

	mtu_case(_metadata, self, ops, lens, 2);
}

/*
 * U2: a UD SEND bigger than the receive buffer is dropped; it used to
 * move the QP to the error state. The same buffer then takes a SEND
 * that fits.
 */
TEST_F(hard, u2_ud_send_larger_than_recv_buffer)
{
	struct qp_conf c = { .type = IBV_QPT_UD };
	static char data[1024];
	struct ibv_qp *u;
	struct ibv_wc wc;
	uint8_t ext[8];

	u = make_qp(&self->lp, self->cq[0], &c);
	ASSERT_NE(NULL, u);
	/* 40 bytes of GRH, then 64 of payload */
	ASSERT_EQ(0, post_recv(u, self->mr[0], self->buf[0], 40 + 64, 0x201));
	fill(data, sizeof(data), 9);
	deth(ext, 0x1234, 0x42);
	ASSERT_EQ(0, roce_send(&self->r, OP_UD_SEND_ONLY, u->qp_num, 1,
			       ext, 8, data, sizeof(data)));
	EXPECT_EQ(0, wait_wc(self->cq[0], &wc, 500))
		TH_LOG("the receive completed with %s",
		       ibv_wc_status_str(wc.status));
	ASSERT_EQ(IBV_QPS_RTS, qp_state(u));

	ASSERT_EQ(0, roce_send(&self->r, OP_UD_SEND_ONLY, u->qp_num, 2,
			       ext, 8, data, 64));
	ASSERT_EQ(1, wait_wc(self->cq[0], &wc, WAIT_MS));
	EXPECT_EQ(0x201, wc.wr_id);
	EXPECT_EQ(IBV_WC_SUCCESS, wc.status);
	EXPECT_EQ(40 + 64, wc.byte_len);
	EXPECT_EQ(0x42, wc.src_qp);
	EXPECT_EQ(0, memcmp(self->buf[0] + 40, data, 64));
	ibv_destroy_qp(u);
}

/*
 * U5: a zero-length READ needs no valid rkey, and neither does its
 * duplicate. The replay used to look the rkey up, NAK and move the QP to
 * the error state.
 */
TEST_F(hard, u5_duplicate_zero_length_read)
{
	long long dups;
	struct ibv_qp *a;
	uint8_t ext[16];
	long long deadline;

	a = victim(self, 0, FAKE_QPN);
	ASSERT_NE(NULL, a);
	reth(ext, 0, 0xdeadbeef, 0);
	dups = rdma_loop_counter(&self->lp, "duplicate_request");
	ASSERT_EQ(0, roce_send(&self->r, OP_RC_READ_REQ, a->qp_num, PSN_A,
			       ext, 16, NULL, 0));
	usleep(100 * 1000);
	ASSERT_EQ(0, roce_send(&self->r, OP_RC_READ_REQ, a->qp_num, PSN_A,
			       ext, 16, NULL, 0));
	deadline = now_ms() + WAIT_MS;
	while (rdma_loop_counter(&self->lp, "duplicate_request") == dups &&
	       now_ms() < deadline)
		;
	ASSERT_LT(dups, rdma_loop_counter(&self->lp, "duplicate_request"));
	usleep(100 * 1000);
	EXPECT_EQ(IBV_QPS_RTS, qp_state(a));
	ibv_destroy_qp(a);
}

#define U5_NS		"rxehard"
#define U5_DEV		"rxeh"
#define U5_ADDR		0x0ad50001u	/* 10.213.0.1 on rxeh0 */
#define U5_PEER		0x0ad50002u	/* 10.213.0.2 on rxeh1, in U5_NS */

static int sh(const char *cmd)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s >/dev/null 2>&1", cmd);
	return system(buf);
}

static void u5_net_down(void)
{
	sh("rdma link del " U5_DEV);
	sh("ip link del rxeh0");
	sh("ip netns del " U5_NS);
}

static int u5_net_up(void)
{
	u5_net_down();
	return sh("ip netns add " U5_NS) ||
	       sh("ip link add rxeh0 type veth peer name rxeh1 netns " U5_NS) ||
	       sh("ip addr add 10.213.0.1/24 dev rxeh0") ||
	       sh("ip link set rxeh0 up") ||
	       sh("ip -n " U5_NS " addr add 10.213.0.2/24 dev rxeh1") ||
	       sh("ip -n " U5_NS " link set rxeh1 up") ||
	       sh("rdma link add " U5_DEV " type rxe netdev rxeh0");
}

/* Wait until @addr's GID is at an index other than @not, or is gone. */
static int wait_v4_gid(struct rdma_loop *lp, uint32_t addr, int not,
		       bool gone)
{
	long long deadline = now_ms() + WAIT_MS;
	int i;

	do {
		i = find_v4_gid(lp, addr);
		if (gone ? i < 0 : i >= 0 && i != not)
			return i;
		usleep(10 * 1000);
	} while (now_ms() < deadline);
	return -2;
}

/* A UDP socket in network namespace @ns. */
static int roce_open_ns(struct roce *r, const char *ns, uint32_t addr)
{
	char path[64];
	int self_ns, fd, ret;

	snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
	fd = open(path, O_RDONLY);
	self_ns = open("/proc/self/ns/net", O_RDONLY);
	if (fd < 0 || self_ns < 0 || setns(fd, CLONE_NEWNET))
		return -1;
	ret = roce_open(r, addr);
	if (setns(self_ns, CLONE_NEWNET))
		ret = -1;
	close(fd);
	close(self_ns);
	return ret;
}

/*
 * U5: a zero-length READ whose reply cannot be built used to rxe_put() the
 * NULL MR. Here rxe_init_packet() fails: 10.213.0.1 is deleted from its
 * netdev and added back, so QP A's source GID index names a deleted entry
 * (A's reference keeps it from being reused) while the address is in the
 * table again, at another index, and the request passes the destination
 * GID check. rxe on lo cannot do it: ib_core does not follow lo's
 * addresses. So this runs on an rxe device of its own, on one end of a
 * veth pair, with the other end, where the request is sent from, in a
 * network namespace. The reply takes the RNR path, whose NAK cannot be
 * sent either.
 */
TEST_F(hard, u5_zero_length_read_reply_fails)
{
	struct ibv_device **list;
	struct rdma_loop dev = { .dev_name = U5_DEV };
	struct roce peer = { .fd = -1 };
	struct qp_conf c = {
		.type = IBV_QPT_RC, .dest_qpn = FAKE_QPN,
		.dgid_addr = U5_PEER,
	};
	long long rnr, deadline;
	struct ibv_qp *a = NULL;
	struct ibv_cq *cq = NULL;
	uint8_t ext[16];
	int i, n, old;

	if (geteuid())
		SKIP(return, "needs root for ip and rdma link");
	if (u5_net_up()) {
		u5_net_down();
		SKIP(return, "cannot set up veth, netns and rxe device");
	}
	list = ibv_get_device_list(&n);
	ASSERT_NE(NULL, list);
	for (i = 0; i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), U5_DEV))
			dev.ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	ASSERT_NE(NULL, dev.ctx);
	dev.pd = ibv_alloc_pd(dev.ctx);
	ASSERT_NE(NULL, dev.pd);
	cq = ibv_create_cq(dev.ctx, 16, NULL, NULL, 0);
	ASSERT_NE(NULL, cq);

	old = wait_v4_gid(&dev, U5_ADDR, -1, false);
	ASSERT_LE(0, old) TH_LOG("no GID for 10.213.0.1");
	c.sgid_index = old;
	a = make_qp(&dev, cq, &c);
	ASSERT_NE(NULL, a) TH_LOG("QP to 10.213.0.2: %s", strerror(errno));
	ASSERT_EQ(0, sh("ip addr del 10.213.0.1/24 dev rxeh0"));
	ASSERT_EQ(-1, wait_v4_gid(&dev, U5_ADDR, -1, true));
	ASSERT_EQ(0, sh("ip addr add 10.213.0.1/24 dev rxeh0"));
	ASSERT_LE(0, wait_v4_gid(&dev, U5_ADDR, old, false))
		TH_LOG("10.213.0.1 is not back at another GID index");
	ASSERT_EQ(0, roce_open_ns(&peer, U5_NS, U5_PEER));
	peer.dst = U5_ADDR;

	rnr = rdma_loop_counter(&dev, "send_rnr_err");
	reth(ext, 0, 0, 0);
	ASSERT_EQ(0, roce_send(&peer, OP_RC_READ_REQ, a->qp_num, PSN_A,
			       ext, 16, NULL, 0));
	deadline = now_ms() + WAIT_MS;
	while (rdma_loop_counter(&dev, "send_rnr_err") == rnr &&
	       now_ms() < deadline)
		;
	EXPECT_LT(rnr, rdma_loop_counter(&dev, "send_rnr_err"))
		TH_LOG("the reply did not fail as it should have");
	EXPECT_EQ(IBV_QPS_RTS, qp_state(a));
	roce_close(&peer);
	ibv_destroy_qp(a);
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(dev.pd);
	ibv_close_device(dev.ctx);
	u5_net_down();
}

/* Write a send WQE of @opcode on qp[0] of the fixture's pair. */
static struct rxe_send_wqe *new_send_wqe(FIXTURE_DATA(hard) *self,
					 uint32_t opcode, uint64_t wr_id)
{
	struct rxe_send_wqe *wqe;

	wqe = ring_next_slot(&to_rqp(self->lp.qp[0])->sq.ring);
	wqe->wr.wr_id = wr_id;
	wqe->wr.opcode = opcode;
	wqe->wr.send_flags = IBV_SEND_SIGNALED;
	return wqe;
}

static void expect_send_error(struct __test_metadata *_metadata,
			      FIXTURE_DATA(hard) *self, uint64_t wr_id,
			      enum ibv_wc_status status)
{
	struct ibv_wc wc;

	ASSERT_EQ(0, sq_ring(self->lp.qp[0]));
	ASSERT_EQ(1, wait_wc(self->lp.cq[0], &wc, WAIT_MS))
		TH_LOG("no completion");
	EXPECT_EQ(wr_id, wc.wr_id);
	EXPECT_EQ(status, wc.status)
		TH_LOG("completed with %s", ibv_wc_status_str(wc.status));
}

/*
 * H1: IB_WR_REG_MR is a kernel-only opcode; its WQE carries a struct
 * ib_mr pointer, here a non-canonical one. rxe_reg_fast_mr() used to
 * dereference it.
 */
TEST_F(hard, h1_user_reg_mr)
{
	struct rxe_send_wqe *wqe = new_send_wqe(self, 0x20, 0x401);

	/* wr.reg.mr in the kernel's layout of the union */
	wqe->wr.wr.rdma.remote_addr = 0xdead000000000000ULL;
	expect_send_error(_metadata, self, 0x401, IBV_WC_LOC_QP_OP_ERR);
}

/* H2: an opcode past rxe_wr_opcode_info[] indexed it ~85 GB away. */
TEST_F(hard, h2_opcode_out_of_table)
{
	new_send_wqe(self, 0x7fffffff, 0x402);
	expect_send_error(_metadata, self, 0x402, IBV_WC_LOC_QP_OP_ERR);
}

/*
 * H3: an inline SEND whose sge_offset points past the end of the send
 * queue, into the vmalloc guard page after it: the requester used to copy
 * from there (or from any kernel memory within 4 GiB) onto the wire.
 */
TEST_F(hard, h3_inline_offset_out_of_wqe)
{
	struct rxe_odp_ring *ring = &to_rqp(self->lp.qp[0])->sq.ring;
	struct rxe_send_wqe *wqe = new_send_wqe(self, IBV_WR_SEND, 0x403);
	size_t end = (ring->map_size + 4095) & ~4095UL;
	size_t at = (char *)wqe->dma.inline_data - (char *)ring->buf;

	wqe->wr.send_flags |= IBV_SEND_INLINE;
	wqe->dma.length = 64;
	wqe->dma.resid = 64;
	wqe->dma.sge_offset = end - at + 16;
	expect_send_error(_metadata, self, 0x403, IBV_WC_LOC_QP_OP_ERR);
}

/*
 * H4: the header of a receive WQE (here cur_sge) was taken from the user's
 * ring as it was, and copy_data() indexed the SGEs with it. The WQE must
 * receive as if it were posted normally.
 */
static void recv_wqe_fields(struct __test_metadata *_metadata,
			    FIXTURE_DATA(hard) *self, struct ibv_qp *src,
			    struct ibv_cq *dst_cq, struct rxe_odp_ring *ring)
{
	struct rxe_recv_wqe *rwqe = ring_next_slot(ring);
	struct ibv_sge sge = {
		.addr = (uintptr_t)self->buf[0], .length = 64,
		.lkey = self->mr[0]->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 0x404, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	struct ibv_wc wc;

	rwqe->wr_id = 0x405;
	rwqe->dma.num_sge = 1;
	rwqe->dma.cur_sge = BAD_SGE_INDEX;
	rwqe->dma.length = 4096;
	rwqe->dma.resid = 4096;
	rwqe->dma.sge[0].addr = (uintptr_t)self->buf[1];
	rwqe->dma.sge[0].length = 4096;
	rwqe->dma.sge[0].lkey = self->mr[1]->lkey;
	ring_publish(ring);

	fill(self->buf[0], 64, 5);
	ASSERT_EQ(0, ibv_post_send(src, &wr, &bad));
	ASSERT_EQ(1, wait_wc(dst_cq, &wc, WAIT_MS)) TH_LOG("no receive");
	EXPECT_EQ(0x405, wc.wr_id);
	EXPECT_EQ(IBV_WC_SUCCESS, wc.status)
		TH_LOG("received with %s", ibv_wc_status_str(wc.status));
	EXPECT_EQ(64, wc.byte_len);
	EXPECT_EQ(0, memcmp(self->buf[0], self->buf[1], 64));
}

TEST_F(hard, h4_recv_wqe_fields)
{
	recv_wqe_fields(_metadata, self, self->lp.qp[0], self->lp.cq[1],
			&to_rqp(self->lp.qp[1])->rq.ring);
}

/*
 * An RC pair: a (cq[0]) sends to b (cq[1]), which receives from @srq.
 * Returns 0, or -1 with nothing to destroy but what it stored.
 */
static int srq_pair(FIXTURE_DATA(hard) *self, struct ibv_srq *srq,
		    struct ibv_qp **a, struct ibv_qp **b)
{
	struct qp_conf c = {
		.type = IBV_QPT_RC, .sgid_index = self->gid4,
		.dgid_addr = INADDR_LOOPBACK, .timeout = 18, .rnr_retry = 7,
	};

	*a = new_qp(&self->lp, self->cq[0], &c);
	c.srq = srq;
	*b = new_qp(&self->lp, self->cq[1], &c);
	if (!*a || !*b)
		return -1;
	c.dest_qpn = (*a)->qp_num;
	if (connect_qp(*b, &c))
		return -1;
	c.srq = NULL;
	c.dest_qpn = (*b)->qp_num;
	return connect_qp(*a, &c);
}

TEST_F(hard, h4_srq_wqe_fields)
{
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 16,
						  .max_sge = 4 } };
	struct ibv_qp *a, *b;
	struct ibv_srq *srq;

	srq = ibv_create_srq(self->lp.pd, &sa);
	ASSERT_NE(NULL, srq);
	ASSERT_EQ(0, srq_pair(self, srq, &a, &b));
	recv_wqe_fields(_metadata, self, a, self->cq[1],
			&to_rsrq(srq)->rq.ring);
	ibv_destroy_qp(a);
	ibv_destroy_qp(b);
	ibv_destroy_srq(srq);
}

/*
 * O1: SENDs into SRQ receive buffers of ODP pages not faulted in yet. The
 * responder holds each packet while its page is faulted in, then runs it
 * again: with the WQE it took from the SRQ, not the next one (which lost
 * the first WQE, and then waited for a third).
 */
TEST_F(hard, o1_srq_recv_into_odp_pages_not_present)
{
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 16,
						  .max_sge = 4 } };
	struct ibv_sge sge = {
		.addr = (uintptr_t)self->buf[0], .length = 64,
		.lkey = self->mr[0]->lkey,
	};
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	struct ibv_recv_wr rwr[2] = {}, *rbad;
	struct ibv_sge rsge[2];
	struct ibv_qp *a, *b;
	struct ibv_srq *srq;
	struct ibv_mr *odp;
	struct ibv_wc wc;
	char *dst;
	int i;

	dst = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, dst);
	odp = rdma_loop_reg(&self->lp, dst, 2 * 4096, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, odp);
	srq = ibv_create_srq(self->lp.pd, &sa);
	ASSERT_NE(NULL, srq);
	ASSERT_EQ(0, srq_pair(self, srq, &a, &b));
	for (i = 0; i < 2; i++) {
		rsge[i].addr = (uintptr_t)dst + i * 4096;
		rsge[i].length = 4096;
		rsge[i].lkey = odp->lkey;
		rwr[i].wr_id = 0x501 + i;
		rwr[i].sg_list = &rsge[i];
		rwr[i].num_sge = 1;
		rwr[i].next = i ? NULL : &rwr[1];
	}
	ASSERT_EQ(0, ibv_post_srq_recv(srq, rwr, &rbad));

	for (i = 0; i < 2; i++) {
		fill(self->buf[0], 64, 7 + i);
		ASSERT_EQ(0, ibv_post_send(a, &wr, &bad));
		ASSERT_EQ(1, wait_wc(self->cq[1], &wc, WAIT_MS))
			TH_LOG("SEND %d: no receive completion", i);
		EXPECT_EQ(0x501 + i, wc.wr_id)
			TH_LOG("SEND %d completed receive WQE %#llx", i,
			       (unsigned long long)wc.wr_id);
		EXPECT_EQ(IBV_WC_SUCCESS, wc.status)
			TH_LOG("received with %s", ibv_wc_status_str(wc.status));
		EXPECT_EQ(0, memcmp(dst + i * 4096, self->buf[0], 64));
		ASSERT_EQ(1, wait_wc(self->cq[0], &wc, WAIT_MS));
		EXPECT_EQ(IBV_WC_SUCCESS, wc.status);
	}
	ibv_destroy_qp(a);
	ibv_destroy_qp(b);
	ibv_destroy_srq(srq);
	ibv_dereg_mr(odp);
	munmap(dst, 2 * 4096);
}

/* tests/odp/udp_send32.c, a 32-bit process sending our packets */
struct sender32 {
	pid_t pid;
	int to, from;		/* its stdin, its stdout */
	uint16_t port;		/* its UDP source port */
};

/* 0 if it exited cleanly */
static int sender32_stop(struct sender32 *s)
{
	int status;

	close(s->to);
	close(s->from);
	if (waitpid(s->pid, &status, 0) != s->pid)
		return -1;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

/*
 * Whether @pid runs @path itself: binfmt_misc could hand an i386 program
 * to an emulator (qemu-user), which is a 64-bit process.
 */
static bool native(pid_t pid, const char *path)
{
	char link[64], exe[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	return !strcmp(exe, path);
}

/*
 * Start udp_send32 (next to this binary): 0, -1, or 1 if this kernel
 * cannot run i386 programs natively (no CONFIG_IA32_EMULATION).
 */
static int sender32_start(struct sender32 *s)
{
	char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	int in[2], out[2], status;
	char *slash;

	if (n <= 0)
		return -1;
	path[n] = 0;
	slash = strrchr(path, '/');
	if (!slash)
		return -1;
	strcpy(slash + 1, "udp_send32");
	if (pipe(in))
		return -1;
	if (pipe(out)) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	s->pid = fork();
	if (!s->pid) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(path, path, (char *)NULL);
		_exit(errno == ENOEXEC ? 126 : 127);
	}
	close(in[0]);
	close(out[1]);
	s->to = in[1];
	s->from = out[0];
	/* a sender that died fails sender32_send(), not the whole test */
	signal(SIGPIPE, SIG_IGN);
	if (s->pid > 0 && read(s->from, &s->port, 2) == 2) {
		if (native(s->pid, path))
			return 0;
		sender32_stop(s);
		return 1;
	}
	close(s->to);
	close(s->from);
	if (s->pid < 0 || waitpid(s->pid, &status, 0) != s->pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 126 ? 1 : -1;
}

static int sender32_send(struct sender32 *s, const uint8_t *pkt, size_t n)
{
	uint16_t len = n;
	char status;

	if (write(s->to, &len, 2) != 2 || write(s->to, pkt, n) != (ssize_t)n ||
	    read(s->from, &status, 1) != 1)
		return -1;
	return status ? -1 : 0;
}


/* Whether @len bytes at @dst become @want within WAIT_MS. */
static bool lands(const void *dst, const void *want, size_t len)
{
	double end = now_s() + WAIT_MS / 1000.0;

	do {
		if (!memcmp(dst, want, len))
			return true;
		usleep(1000);
	} while (now_s() < end);
	return false;
}

/*
 * O2: RDMA WRITEs into an implicit ODP MR, each into a 64 MiB chunk no
 * access has touched (so with no child umem yet), at addresses above
 * 4 GiB, one sent from this process and one from a 32-bit one. rxe runs
 * the responder in the sender's softirq, where TASK_SIZE is the current
 * task's: for the 32-bit sender it is 4 GiB, and rxe_odp_get_child() took
 * the target for a kernel address and failed the WRITE with a remote
 * access error.
 */
TEST_F(hard, o2_write_sent_by_a_32bit_process)
{
	const size_t chunk = 64 << 20;
	struct sender32 s32;
	struct ibv_mr *imr;
	uint8_t ext[16], pkt[12 + 64 + 8192 + 8];
	struct ibv_qp *a;
	char *mem, *dst;
	size_t n;
	int i, ret;

	mem = mmap(NULL, 3 * chunk, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_LE(4ULL << 30, (uintptr_t)mem);
	imr = ibv_reg_mr(self->lp.pd, NULL, SIZE_MAX,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			 IBV_ACCESS_ON_DEMAND);
	if (!imr)
		SKIP(return, "implicit ODP MR: %s", strerror(errno));
	ret = sender32_start(&s32);
	if (ret > 0)
		SKIP(return, "this kernel runs no i386 programs natively");
	ASSERT_EQ(0, ret) TH_LOG("udp_send32 (next to this tool) did not start");
	a = victim(self, 0, FAKE_QPN);
	ASSERT_NE(NULL, a);
	for (i = 0; i < 2; i++) {
		dst = (char *)(((uintptr_t)mem + (i + 1) * chunk) &
			       ~(uintptr_t)(chunk - 1)) + 4096;
		fill(self->buf[0], 64, 0x21 + i);
		reth(ext, (uintptr_t)dst, imr->rkey, 64);
		if (!i) {
			ASSERT_EQ(0, roce_send(&self->r, OP_RC_WRITE_ONLY,
					       a->qp_num, PSN_A, ext, 16,
					       self->buf[0], 64));
		} else {
			n = roce_packet(&self->r, s32.port, pkt,
					OP_RC_WRITE_ONLY, a->qp_num, PSN_A + 1,
					ext, 16, self->buf[0], 64);
			ASSERT_LT(0, n);
			ASSERT_EQ(0, sender32_send(&s32, pkt, n));
		}
		EXPECT_TRUE(lands(dst, self->buf[0], 64))
			TH_LOG("the WRITE from the %s process did not land (QP %s)",
			       i ? "32-bit" : "64-bit",
			       qp_state(a) == IBV_QPS_ERR ? "in error" :
			       "not in error");
	}
	EXPECT_EQ(0, sender32_stop(&s32));
	ibv_destroy_qp(a);
	ibv_dereg_mr(imr);
	munmap(mem, 3 * chunk);
}

/*
 * H5: the completer used the cur_sge of a READ's WQE as it is in the
 * user's ring when the response arrives; the requester checked it only
 * when it sent the request. A's READ goes to FAKE_QPN, we rewrite
 * cur_sge, then send A the response.
 */
TEST_F(hard, h5_read_response_after_wqe_rewrite)
{
	struct ibv_qp *a;
	struct ibv_wc wc;
	uint8_t ext[4];
	static char data[64];
	struct ibv_sge sge = {
		.addr = (uintptr_t)self->buf[0], .length = 64,
		.lkey = self->mr[0]->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = 0x406, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_READ, .send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = 0x1000, .rkey = 0x1234 },
	}, *bad;

	a = victim(self, 0, FAKE_QPN);
	ASSERT_NE(NULL, a);
	ASSERT_EQ(0, ibv_post_send(a, &wr, &bad));
	usleep(100 * 1000);
	sq_last(a)->dma.cur_sge = BAD_SGE_INDEX;

	fill(data, sizeof(data), 1);
	aeth(ext, 0x1f, 1);
	ASSERT_EQ(0, roce_send(&self->r, OP_RC_READ_RESP_ONLY, a->qp_num,
			       PSN_A, ext, 4, data, sizeof(data)));
	ASSERT_EQ(1, wait_wc(self->cq[0], &wc, WAIT_MS));
	EXPECT_EQ(0x406, wc.wr_id);
	EXPECT_EQ(IBV_WC_LOC_PROT_ERR, wc.status)
		TH_LOG("the READ completed with %s",
		       ibv_wc_status_str(wc.status));
	ibv_destroy_qp(a);
}

/*
 * An RC QP answering FAKE_QPN that has posted an RDMA READ of @len bytes
 * into buf[0] (signaled, @wr_id), for a test to send it the responses;
 * NULL if either step failed.
 */
static struct ibv_qp *read_to_fake_peer(FIXTURE_DATA(hard) *self,
					uint32_t len, uint64_t wr_id)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)self->buf[0], .length = len,
		.lkey = self->mr[0]->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_READ, .send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = 0x1000, .rkey = 0x1234 },
	}, *bad;
	struct ibv_qp *a = victim(self, 0, FAKE_QPN);

	if (a && ibv_post_send(a, &wr, &bad)) {
		ibv_destroy_qp(a);
		return NULL;
	}
	/* the READ request is out before the responses come */
	usleep(100 * 1000);
	return a;
}

/* The READ of read_to_fake_peer() completes as @wr_id with @status. */
static void expect_read_wc(struct __test_metadata *_metadata,
			   FIXTURE_DATA(hard) *self, uint64_t wr_id,
			   enum ibv_wc_status status)
{
	struct ibv_wc wc;

	ASSERT_EQ(1, wait_wc(self->cq[0], &wc, WAIT_MS))
		TH_LOG("no completion for the READ");
	EXPECT_EQ(wr_id, wc.wr_id);
	EXPECT_EQ(status, wc.status)
		TH_LOG("the READ completed with %s", ibv_wc_status_str(wc.status));
}

/*
 * F3: RDMA READ responses that break the protocol. A READ RESPONSE ONLY
 * whose AETH is a NAK; one that carries fewer bytes than the READ asked
 * for, followed by a second (a duplicate PSN); a READ RESPONSE FIRST at
 * the READ's only PSN, twice. Before the fix the
 * first completed the READ as a success without data (and a WARN), the
 * second left it pending for the duplicate to complete as a success.
 * Either must complete the READ with a bad response error.
 */
static void bad_read_response(struct __test_metadata *_metadata,
			      FIXTURE_DATA(hard) *self, uint8_t opcode,
			      uint8_t syndrome, size_t len, bool again)
{
	static char data[64];
	struct ibv_qp *a;
	uint8_t ext[4];

	a = read_to_fake_peer(self, sizeof(data), 0xf3);
	ASSERT_NE(NULL, a);
	fill(data, sizeof(data), 3);
	aeth(ext, syndrome, 1);
	ASSERT_EQ(0, roce_send(&self->r, opcode, a->qp_num, PSN_A, ext, 4,
			       data, len));
	if (again)
		ASSERT_EQ(0, roce_send(&self->r, opcode, a->qp_num, PSN_A, ext,
				       4, data, len));
	expect_read_wc(_metadata, self, 0xf3, IBV_WC_BAD_RESP_ERR);
	ibv_destroy_qp(a);
}

TEST_F(hard, f3_read_response_with_a_nak)
{
	bad_read_response(_metadata, self, OP_RC_READ_RESP_ONLY, 0x60, 64,
			  false);
}

TEST_F(hard, f3_read_response_short_then_duplicate)
{
	bad_read_response(_metadata, self, OP_RC_READ_RESP_ONLY, 0x1f, 0,
			  true);
}

/* a FIRST packet at the last (and only) PSN of the READ, then again */
TEST_F(hard, f3_read_response_first_at_last_psn)
{
	bad_read_response(_metadata, self, OP_RC_READ_RESP_FIRST, 0x1f, 32,
			  true);
}

/*
 * F4: a READ of three packets whose reply fails after the first one: the
 * responder sends READ RESPONSE FIRST, then a NAK (remote access error).
 * Our responder gives the NAK the PSN it would have sent next; upstream
 * 7.2's gives it the READ request's PSN, older than what the requester
 * expects by then, and the completer dropped it as a stale duplicate: the
 * READ was retried until IBV_WC_RETRY_EXC_ERR. Both NAKs must end the READ
 * with IBV_WC_REM_ACCESS_ERR.
 */
static void read_nak_mid_reply(struct __test_metadata *_metadata,
			       FIXTURE_DATA(hard) *self, uint32_t nak_psn)
{
	static char data[MTU];
	struct ibv_qp *a;
	uint8_t ext[4];

	a = read_to_fake_peer(self, 3 * MTU, 0xf4);
	ASSERT_NE(NULL, a);
	fill(data, sizeof(data), 4);
	/* FIRST carries an AETH too (an ACK; no credits) */
	aeth(ext, 0x1f, 1);
	ASSERT_EQ(0, roce_send(&self->r, OP_RC_READ_RESP_FIRST, a->qp_num,
			       PSN_A, ext, 4, data, sizeof(data)));
	/* NAK, remote access error */
	aeth(ext, 0x62, 1);
	ASSERT_EQ(0, roce_send(&self->r, OP_RC_ACK, a->qp_num, nak_psn, ext, 4,
			       NULL, 0));
	expect_read_wc(_metadata, self, 0xf4, IBV_WC_REM_ACCESS_ERR);
	EXPECT_EQ(0, memcmp(self->buf[0], data, sizeof(data)));
	ibv_destroy_qp(a);
}

TEST_F(hard, f4_read_nak_mid_reply_with_next_psn)
{
	read_nak_mid_reply(_metadata, self, PSN_A + 1);
}

TEST_F(hard, f4_read_nak_mid_reply_with_request_psn)
{
	read_nak_mid_reply(_metadata, self, PSN_A);
}

/*
 * F4, the other side: NAKs that do not belong to the READ in progress
 * leave it alone. After READ RESPONSE FIRST: a remote-access NAK with a
 * PSN before the READ's, a PSN sequence error NAK with the READ's first
 * PSN, an RNR NAK with it; then MIDDLE and LAST complete the READ.
 */
TEST_F(hard, f4_stale_naks_leave_the_read_alone)
{
	static char data[3 * MTU];
	const struct { uint32_t psn; uint8_t syndrome; } stale[] = {
		{ PSN_A - 1, 0x62 },	/* remote access error */
		{ PSN_A, 0x60 },	/* PSN sequence error */
		{ PSN_A, 0x20 },	/* RNR */
	};
	struct ibv_qp *a;
	uint8_t ext[4];
	unsigned int i;

	a = read_to_fake_peer(self, 3 * MTU, 0xf5);
	ASSERT_NE(NULL, a);
	fill(data, sizeof(data), 5);
	aeth(ext, 0x1f, 1);
	ASSERT_EQ(0, roce_send(&self->r, OP_RC_READ_RESP_FIRST, a->qp_num,
			       PSN_A, ext, 4, data, MTU));
	for (i = 0; i < sizeof(stale) / sizeof(stale[0]); i++) {
		aeth(ext, stale[i].syndrome, 1);
		ASSERT_EQ(0, roce_send(&self->r, OP_RC_ACK, a->qp_num,
				       stale[i].psn, ext, 4, NULL, 0));
	}
	ASSERT_EQ(0, roce_send(&self->r, OP_RC_READ_RESP_MIDDLE, a->qp_num,
			       PSN_A + 1, NULL, 0, data + MTU, MTU));
	aeth(ext, 0x1f, 1);
	ASSERT_EQ(0, roce_send(&self->r, OP_RC_READ_RESP_LAST, a->qp_num,
			       PSN_A + 2, ext, 4, data + 2 * MTU, MTU));
	expect_read_wc(_metadata, self, 0xf5, IBV_WC_SUCCESS);
	EXPECT_EQ(0, memcmp(self->buf[0], data, sizeof(data)));
	ibv_destroy_qp(a);
}

/*
 * P1: a type 1 memory window bound where one of the three (the window, the
 * MR, the QP posting the bind) is of another protection domain: to an MR
 * of another PD (only its lkey is needed, and the window's rkey then gives
 * remote access to it), or through a QP of another PD (which can rebind or
 * unbind someone else's window). Each bind must fail. Posted as BIND_MW
 * work requests: ibv_bind_mw() checks the MR's PD in user space, the
 * kernel must not rely on it.
 */
/* An RC QP of @pd (victim() creates on lp.pd). */
static struct ibv_qp *victim_in_pd(FIXTURE_DATA(hard) *self, struct ibv_pd *pd)
{
	struct ibv_pd *pd1 = self->lp.pd;
	struct ibv_qp *qp;

	self->lp.pd = pd;
	qp = victim(self, 0, FAKE_QPN);
	self->lp.pd = pd1;
	return qp;
}

/*
 * Post a signaled BIND_MW of @mw to BUF_LEN bytes of @mr at @addr on @qp,
 * with the window's next rkey (in *@rkey): ibv_post_send()'s result.
 */
static int post_bind(struct ibv_qp *qp, uint64_t wr_id, struct ibv_mw *mw,
		     struct ibv_mr *mr, void *addr, int access, uint32_t *rkey)
{
	struct ibv_send_wr wr = {
		.wr_id = wr_id, .opcode = IBV_WR_BIND_MW,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;

	*rkey = ibv_inc_rkey(mw->rkey);
	wr.bind_mw.mw = mw;
	wr.bind_mw.rkey = *rkey;
	wr.bind_mw.bind_info.mr = mr;
	wr.bind_mw.bind_info.addr = (uintptr_t)addr;
	wr.bind_mw.bind_info.length = BUF_LEN;
	wr.bind_mw.bind_info.mw_access_flags = access;
	return ibv_post_send(qp, &wr, &bad);
}

static void bind_across_pds(struct __test_metadata *_metadata,
			    FIXTURE_DATA(hard) *self, bool mr_other,
			    bool qp_other)
{
	struct ibv_pd *pd2 = ibv_alloc_pd(self->lp.ctx), *pd1 = self->lp.pd;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	struct ibv_mw *mw;
	struct ibv_wc wc;
	uint32_t rkey;

	ASSERT_NE(NULL, pd2);
	/* the window is pd1's; the MR and the QP are pd2's if "other" */
	mr = ibv_reg_mr(mr_other ? pd2 : pd1, self->buf[0], BUF_LEN,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			IBV_ACCESS_REMOTE_READ | IBV_ACCESS_MW_BIND);
	ASSERT_NE(NULL, mr) TH_LOG("MR with MW_BIND: %s", strerror(errno));
	mw = ibv_alloc_mw(pd1, IBV_MW_TYPE_1);
	ASSERT_NE(NULL, mw) TH_LOG("ibv_alloc_mw: %s", strerror(errno));
	qp = victim_in_pd(self, qp_other ? pd2 : pd1);
	ASSERT_NE(NULL, qp);

	ASSERT_EQ(0, post_bind(qp, 0xb1d, mw, mr, self->buf[0],
			       IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE,
			       &rkey));
	ASSERT_EQ(1, wait_wc(self->cq[0], &wc, 5000));
	EXPECT_NE(IBV_WC_SUCCESS, wc.status)
		TH_LOG("a window was bound %s",
		       mr_other ? "to an MR of another PD" :
				  "through a QP of another PD");
	ibv_destroy_qp(qp);
	ibv_dealloc_mw(mw);
	ibv_dereg_mr(mr);
	ibv_dealloc_pd(pd2);
}

TEST_F(hard, p1_bind_mw_to_mr_of_another_pd)
{
	bind_across_pds(_metadata, self, true, false);
}

TEST_F(hard, p1_bind_mw_through_qp_of_another_pd)
{
	bind_across_pds(_metadata, self, false, true);
}

/*
 * P2: a Local Invalidate of a type 2 window of another protection domain
 * (bound there through a QP of that PD). The invalidation must fail and
 * leave the window bound, which its own QP then shows by invalidating it.
 */
TEST_F(hard, p2_local_inv_of_mw_of_another_pd)
{
	struct ibv_pd *pd2 = ibv_alloc_pd(self->lp.ctx);
	struct ibv_send_wr wr = {}, *bad;
	struct ibv_qp *qp2;
	struct ibv_mr *mr2;
	struct ibv_mw *mw2;
	struct ibv_wc wc;
	uint32_t rkey;

	ASSERT_NE(NULL, pd2);
	mr2 = ibv_reg_mr(pd2, self->buf[1], BUF_LEN,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_MW_BIND);
	ASSERT_NE(NULL, mr2);
	mw2 = ibv_alloc_mw(pd2, IBV_MW_TYPE_2);
	ASSERT_NE(NULL, mw2) TH_LOG("ibv_alloc_mw: %s", strerror(errno));
	qp2 = victim_in_pd(self, pd2);
	ASSERT_NE(NULL, qp2);

	ASSERT_EQ(0, post_bind(qp2, 0x1a5, mw2, mr2, self->buf[1],
			       IBV_ACCESS_REMOTE_WRITE, &rkey));
	ASSERT_EQ(1, wait_wc(self->cq[0], &wc, 5000));
	ASSERT_EQ(IBV_WC_SUCCESS, wc.status)
		TH_LOG("bind in its own PD: %s", ibv_wc_status_str(wc.status));

	/* the other PD's QP */
	wr.wr_id = 0x1a6;
	wr.opcode = IBV_WR_LOCAL_INV;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.invalidate_rkey = rkey;
	ASSERT_EQ(0, ibv_post_send(self->lp.qp[0], &wr, &bad));
	ASSERT_EQ(1, wait_wc(self->lp.cq[0], &wc, 5000));
	EXPECT_NE(IBV_WC_SUCCESS, wc.status)
		TH_LOG("a QP of one PD invalidated a window of another");

	/* still bound: its own QP invalidates it */
	wr.wr_id = 0x1a7;
	ASSERT_EQ(0, ibv_post_send(qp2, &wr, &bad));
	ASSERT_EQ(1, wait_wc(self->cq[0], &wc, 5000));
	EXPECT_EQ(IBV_WC_SUCCESS, wc.status)
		TH_LOG("invalidation in its own PD: %s",
		       ibv_wc_status_str(wc.status));

	ibv_destroy_qp(qp2);
	ibv_dealloc_mw(mw2);
	ibv_dereg_mr(mr2);
	ibv_dealloc_pd(pd2);
}

TEST_HARNESS_MAIN
