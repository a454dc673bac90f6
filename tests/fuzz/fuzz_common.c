// SPDX-License-Identifier: GPL-2.0
/*
 * Shared parts of the rxe fuzzers: PRNG helpers, TAP, guarded windows, the
 * RoCE v2 packet builder and ICRC, the health check.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "../odp/pattern.h"

#define PAGE	4096UL

/* ---- PRNG helpers ---- */

void rng_bytes(struct rng *r, void *p, size_t len)
{
	uint8_t *b = p;
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (!(i & 7))
			v = rng_next(r);
		b[i] = v;
		v >>= 8;
	}
}

uint32_t rng_edgy32(struct rng *r)
{
	uint32_t bit = 1u << rng_below(r, 32);

	switch (rng_below(r, 8)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return ~0u;
	case 3: return bit;
	case 4: return bit - 1;
	case 5: return bit + 1;
	case 6: return 0x80000000u - rng_below(r, 4);
	default: return rng_next(r);
	}
}

uint64_t rng_edgy64(struct rng *r)
{
	uint64_t bit = 1ULL << rng_below(r, 64);

	switch (rng_below(r, 7)) {
	case 0: return 0;
	case 1: return ~0ULL;
	case 2: return bit;
	case 3: return bit - 1;
	case 4: return bit + 1;
	case 5: return 0x00007fffffffffffULL - rng_below(r, 16);
	default: return rng_next(r);
	}
}

/* ---- TAP ---- */

static const char *tap_tool;
static int tap_num, tap_pass, tap_skips;
int tap_fail_count;

void tap_begin(const char *tool)
{
	tap_tool = tool;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");
}

void tap_run(const char *name)
{
	printf("#  RUN           %s.%s ...\n", tap_tool, name);
}

void tap_result(bool ok, const char *name, const char *fmt, ...)
{
	char detail[512] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	printf("%sok %d %s.%s%s%s\n", ok ? "" : "not ", ++tap_num, tap_tool,
	       name, *detail ? " # " : "", detail);
	if (ok)
		tap_pass++;
	else
		tap_fail_count++;
}

void tap_skip(const char *name, const char *why)
{
	printf("ok %d %s.%s # SKIP %s\n", ++tap_num, tap_tool, name, why);
	tap_skips++;
}

void tap_known(unsigned int mask, const char *const *names, int nr,
	       int (*repro)(void *ctx, int k, char *why, size_t len),
	       void *ctx)
{
	char why[256];
	bool ok;
	int k;

	for (k = 0; k < nr; k++) {
		if (!(mask & (1u << k)))
			continue;
		why[0] = 0;
		tap_run(names[k]);
		ok = !repro(ctx, k, why, sizeof(why));
		tap_result(ok, names[k], "%s",
			   ok ? "sent; a kernel report in the log is the finding" : why);
	}
}

int tap_end(void)
{
	printf("1..%d\n", tap_num);
	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n",
	       tap_pass, tap_fail_count, tap_skips);
	return tap_fail_count ? 1 : 0;
}

/* ---- options ---- */

int name_mask(const char *tool, const char *const *names, int nr,
	      unsigned int all, const char *list, unsigned int *mask)
{
	char *copy = strdup(list), *tok, *save = NULL;
	int i, ret = 0;

	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok && !ret;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "all")) {
			*mask |= all;
			continue;
		}
		for (i = 0; i < nr && strcmp(tok, names[i]); i++)
			;
		if (i < nr) {
			*mask |= 1u << i;
		} else {
			fprintf(stderr, "%s: %s: no such known bug\n", tool, tok);
			ret = -1;
		}
	}
	free(copy);
	return ret;
}

/* ---- windows ---- */

int window_alloc(struct window *w, const char *name, size_t len,
		 size_t misalign, uint8_t seed, bool protect)
{
	memset(w, 0, sizeof(*w));
	w->name = name;
	w->len = len;
	w->seed = seed;
	w->protect = protect;
	w->map_len = ((PAGE + misalign + len + PAGE - 1) & ~(PAGE - 1)) + PAGE;
	w->map = mmap(NULL, w->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->map == MAP_FAILED) {
		w->map = NULL;
		return -1;
	}
	w->addr = w->map + PAGE + misalign;
	window_reset(w);
	return 0;
}

void window_free(struct window *w)
{
	if (w->mr)
		ibv_dereg_mr(w->mr);
	if (w->map)
		munmap(w->map, w->map_len);
	memset(w, 0, sizeof(*w));
}

static bool in_window(const struct window *w, size_t off)
{
	size_t start = w->addr - w->map;

	return off >= start && off < start + w->len;
}

long window_check(const struct window *w)
{
	const uint8_t *b = (const uint8_t *)w->map;
	size_t off;

	for (off = 0; off < w->map_len; off++) {
		if (!w->protect && in_window(w, off))
			continue;
		if (b[off] != window_canary(w, off))
			return off;
	}
	return -1;
}

void window_reset(struct window *w)
{
	uint8_t *b = (uint8_t *)w->map;
	size_t off;

	for (off = 0; off < w->map_len; off++)
		if (w->protect || !in_window(w, off))
			b[off] = window_canary(w, off);
}

/* ---- RoCE v2 ---- */

static const char *const op_names[0x18] = {
	"SEND_FIRST", "SEND_MIDDLE", "SEND_LAST", "SEND_LAST_IMM",
	"SEND_ONLY", "SEND_ONLY_IMM", "WRITE_FIRST", "WRITE_MIDDLE",
	"WRITE_LAST", "WRITE_LAST_IMM", "WRITE_ONLY", "WRITE_ONLY_IMM",
	"READ_REQ", "READ_RESP_FIRST", "READ_RESP_MIDDLE", "READ_RESP_LAST",
	"READ_RESP_ONLY", "ACK", "ATOMIC_ACK", "CMP_SWAP", "FETCH_ADD",
	"RESERVED_15", "SEND_LAST_INV", "SEND_ONLY_INV",
};

/* IBA vol 1 9.2/9.3: headers of each operation, by its low 5 bits. */
static unsigned int op_suffix_flags(unsigned int op)
{
	switch (op) {
	case OP_SEND_FIRST: return HDR_PAYLOAD | OP_REQ | OP_FIRST;
	case OP_SEND_MIDDLE: return HDR_PAYLOAD | OP_REQ | OP_MIDDLE;
	case OP_SEND_LAST: return HDR_PAYLOAD | OP_REQ | OP_LAST;
	case OP_SEND_LAST_IMM:
		return HDR_IMMDT | HDR_PAYLOAD | OP_REQ | OP_LAST;
	case OP_SEND_ONLY: return HDR_PAYLOAD | OP_REQ | OP_ONLY;
	case OP_SEND_ONLY_IMM:
		return HDR_IMMDT | HDR_PAYLOAD | OP_REQ | OP_ONLY;
	case OP_WRITE_FIRST:
		return HDR_RETH | HDR_PAYLOAD | OP_REQ | OP_FIRST;
	case OP_WRITE_MIDDLE: return HDR_PAYLOAD | OP_REQ | OP_MIDDLE;
	case OP_WRITE_LAST: return HDR_PAYLOAD | OP_REQ | OP_LAST;
	case OP_WRITE_LAST_IMM:
		return HDR_IMMDT | HDR_PAYLOAD | OP_REQ | OP_LAST;
	case OP_WRITE_ONLY: return HDR_RETH | HDR_PAYLOAD | OP_REQ | OP_ONLY;
	case OP_WRITE_ONLY_IMM:
		return HDR_RETH | HDR_IMMDT | HDR_PAYLOAD | OP_REQ | OP_ONLY;
	case OP_READ_REQ: return HDR_RETH | OP_REQ | OP_ONLY;
	case OP_READ_RESP_FIRST: return HDR_AETH | HDR_PAYLOAD | OP_FIRST;
	case OP_READ_RESP_MIDDLE: return HDR_PAYLOAD | OP_MIDDLE;
	case OP_READ_RESP_LAST: return HDR_AETH | HDR_PAYLOAD | OP_LAST;
	case OP_READ_RESP_ONLY: return HDR_AETH | HDR_PAYLOAD | OP_ONLY;
	case OP_ACK: return HDR_AETH | OP_ONLY;
	case OP_ATOMIC_ACK: return HDR_AETH | HDR_ATMACK | OP_ONLY;
	case OP_CMP_SWAP:
	case OP_FETCH_ADD: return HDR_ATMETH | OP_REQ | OP_ONLY;
	case OP_SEND_LAST_INV:
		return HDR_IETH | HDR_PAYLOAD | OP_REQ | OP_LAST;
	case OP_SEND_ONLY_INV:
		return HDR_IETH | HDR_PAYLOAD | OP_REQ | OP_ONLY;
	default: return 0;
	}
}

unsigned int roce_op_flags(uint8_t opcode)
{
	unsigned int op = opcode & 0x1f, f;

	switch (opcode & 0xe0) {
	case OPC_RC:
		if (op > OP_SEND_ONLY_INV || op == OP_RESERVED_15)
			return 0;
		return op_suffix_flags(op) | OP_VALID;
	case OPC_UC:
		if (op > OP_WRITE_ONLY_IMM)
			return 0;
		return op_suffix_flags(op) | OP_VALID;
	case OPC_RD:
		if (op > OP_FETCH_ADD)
			return 0;
		/* RD: an RDETH on every packet, a DETH on requests only */
		f = op_suffix_flags(op) | HDR_RDETH | OP_VALID;
		return f & OP_REQ ? f | HDR_DETH : f;
	case OPC_UD:
		if (op != OP_SEND_ONLY && op != OP_SEND_ONLY_IMM)
			return 0;
		return op_suffix_flags(op) | HDR_DETH | OP_VALID;
	default:
		return 0;
	}
}

const char *roce_op_name(uint8_t opcode)
{
	static const char *const tr[8] = { "RC", "UC", "RD", "UD",
					   "X4", "X5", "CNP", "X7" };
	static char buf[8][32];
	static unsigned int n;
	char *b = buf[n++ & 7];
	unsigned int op = opcode & 0x1f;

	snprintf(b, 32, "%s_%s", tr[opcode >> 5],
		 op < 0x18 ? op_names[op] : "INVALID");
	return b;
}

size_t roce_ext_len(unsigned int flags)
{
	size_t n = 0;

	n += flags & HDR_RDETH ? RDETH_LEN : 0;
	n += flags & HDR_DETH ? DETH_LEN : 0;
	n += flags & HDR_RETH ? RETH_LEN : 0;
	n += flags & HDR_ATMETH ? ATMETH_LEN : 0;
	n += flags & HDR_AETH ? AETH_LEN : 0;
	n += flags & HDR_ATMACK ? ATMACK_LEN : 0;
	n += flags & HDR_IMMDT ? IMMDT_LEN : 0;
	n += flags & HDR_IETH ? IETH_LEN : 0;
	return n;
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
	return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
	return put32(put32(p, v >> 32), v);
}

size_t roce_build(uint8_t *buf, const struct roce_hdr *h, unsigned int flags,
		  const void *payload, size_t paylen)
{
	uint8_t *p = buf;
	size_t len;

	*p++ = h->opcode;
	*p++ = (h->se ? 0x80 : 0) | (h->mig ? 0x40 : 0) |
	       ((h->pad & 3) << 4) | (h->tver & 0xf);
	p = put16(p, h->pkey);
	*p++ = h->resv8a;
	*p++ = h->qpn >> 16;
	*p++ = h->qpn >> 8;
	*p++ = h->qpn;
	p = put32(p, (h->ackreq ? 0x80000000u : 0) |
		  ((uint32_t)(h->resv7 & 0x7f) << 24) | (h->psn & 0xffffff));
	if (flags & HDR_RDETH)
		p = put32(p, h->een & 0xffffff);
	if (flags & HDR_DETH) {
		p = put32(p, h->qkey);
		p = put32(p, h->src_qp & 0xffffff);
	}
	if (flags & HDR_RETH) {
		p = put64(p, h->va);
		p = put32(p, h->rkey);
		p = put32(p, h->dma_len);
	}
	if (flags & HDR_ATMETH) {
		p = put64(p, h->va);
		p = put32(p, h->rkey);
		p = put64(p, h->swap_add);
		p = put64(p, h->compare);
	}
	if (flags & HDR_AETH)
		p = put32(p, ((uint32_t)h->syndrome << 24) |
			  (h->msn & 0xffffff));
	if (flags & HDR_ATMACK)
		p = put64(p, h->orig);
	if (flags & HDR_IMMDT)
		p = put32(p, h->imm);
	if (flags & HDR_IETH)
		p = put32(p, h->inv_rkey);
	len = p - buf;
	if (len + paylen + 3 + ICRC_LEN > ROCE_MAX)
		paylen = ROCE_MAX - len - 3 - ICRC_LEN;
	if (payload)
		memcpy(p, payload, paylen);
	else
		memset(p, 0, paylen);
	p += paylen;
	memset(p, 0, h->pad & 3);
	p += h->pad & 3;
	memset(p, 0, ICRC_LEN);
	return p + ICRC_LEN - buf;
}

/*
 * The ICRC (IBA vol 1 annex A17.3.3, as rxe_icrc.c computes it): CRC-32
 * (the reflected 0xedb88320 polynomial) seeded with the state after 8
 * bytes of 0xff (a masked LRH), over the IPv4 header with TOS, TTL and
 * checksum masked to ones, the UDP header with its checksum masked, the
 * BTH with its resv8a byte masked, and everything after up to the ICRC;
 * the complement is sent, least significant byte first.
 */
static uint32_t crc_table[256];

static void crc_init(void)
{
	uint32_t c;
	int i, k;

	if (crc_table[1])
		return;
	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc_update(uint32_t c, const uint8_t *p, size_t len)
{
	while (len--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

static uint16_t icrc_sport;

void roce_set_icrc(uint8_t *buf, size_t len)
{
	uint8_t ph[20 + 8 + BTH_LEN], *p = ph;
	uint32_t crc;

	if (len < ICRC_LEN)
		return;
	crc_init();
	/* IPv4: ver/ihl, TOS, total length, id 0 (DF, unconnected), DF,
	 * TTL, UDP, checksum, 127.0.0.1 -> 127.0.0.1 */
	*p++ = 0x45;
	*p++ = 0xff;
	p = put16(p, 20 + 8 + len);
	p = put16(p, 0);
	p = put16(p, 0x4000);
	*p++ = 0xff;
	*p++ = IPPROTO_UDP;
	p = put16(p, 0xffff);
	p = put32(p, INADDR_LOOPBACK);
	p = put32(p, INADDR_LOOPBACK);
	p = put16(p, icrc_sport);
	p = put16(p, ROCE_PORT);
	p = put16(p, 8 + len);
	p = put16(p, 0xffff);
	memset(p, 0, BTH_LEN);
	memcpy(p, buf, len - ICRC_LEN < BTH_LEN ? len - ICRC_LEN : BTH_LEN);
	p[4] = 0xff;
	crc = crc_update(0xdebb20e3u, ph, sizeof(ph));
	if (len - ICRC_LEN > BTH_LEN)
		crc = crc_update(crc, buf + BTH_LEN, len - ICRC_LEN - BTH_LEN);
	crc = ~crc;
	buf[len - 4] = crc;
	buf[len - 3] = crc >> 8;
	buf[len - 2] = crc >> 16;
	buf[len - 1] = crc >> 24;
}

int roce_sock_open(struct roce_sock *s)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t alen = sizeof(a);
	int pmtu = IP_PMTUDISC_DO, buf = 4 << 20;

	memset(s, 0, sizeof(*s));
	s->fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (s->fd < 0)
		return -1;
	/* DF set on an unconnected socket: the IP id is 0, as the ICRC
	 * above assumes */
	if (setsockopt(s->fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu,
		       sizeof(pmtu)) ||
	    bind(s->fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(s->fd, (struct sockaddr *)&a, &alen)) {
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	s->sport = ntohs(a.sin_port);
	icrc_sport = s->sport;
	return 0;
}

void roce_sock_close(struct roce_sock *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

int roce_send(struct roce_sock *s, const uint8_t *buf, size_t len)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_port = htons(ROCE_PORT),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};

	if (sendto(s->fd, buf, len, 0, (struct sockaddr *)&a,
		   sizeof(a)) != (ssize_t)len) {
		s->errors++;
		return -1;
	}
	s->sent++;
	return 0;
}

/* ---- QPs ---- */

struct ibv_qp *fuzz_qp(struct rdma_loop *lp, enum ibv_qp_type type,
		       struct ibv_cq *cq, struct ibv_srq *srq,
		       const struct ibv_qp_cap *cap)
{
	struct ibv_qp_init_attr init = {
		.send_cq = cq, .recv_cq = cq, .srq = srq, .qp_type = type,
		.cap = *cap,
	};
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .port_num = 1,
	};
	int mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT;
	struct ibv_qp *qp;

	qp = ibv_create_qp(lp->pd, &init);
	if (!qp)
		return NULL;
	if (type == IBV_QPT_UD) {
		a.qkey = FUZZ_QKEY;
		mask |= IBV_QP_QKEY;
	} else {
		a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE |
				    IBV_ACCESS_REMOTE_WRITE;
		if (type == IBV_QPT_RC)
			a.qp_access_flags |= IBV_ACCESS_REMOTE_READ |
					     IBV_ACCESS_REMOTE_ATOMIC;
		mask |= IBV_QP_ACCESS_FLAGS;
	}
	if (ibv_modify_qp(qp, &a, mask)) {
		ibv_destroy_qp(qp);
		return NULL;
	}
	return qp;
}

int fuzz_qp_connect(struct rdma_loop *lp, struct ibv_qp *qp, uint32_t dest,
		    enum ibv_mtu mtu)
{
	enum ibv_qp_type type = qp->qp_type;
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RTR };
	int mask = IBV_QP_STATE;

	if (type != IBV_QPT_UD) {
		a.path_mtu = mtu;
		a.dest_qp_num = dest;
		a.rq_psn = 0;
		a.ah_attr.is_global = 1;
		a.ah_attr.grh.dgid = lp->gid;
		a.ah_attr.grh.sgid_index = lp->gid_index;
		a.ah_attr.grh.hop_limit = 1;
		a.ah_attr.port_num = 1;
		mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			IBV_QP_RQ_PSN;
		if (type == IBV_QPT_RC) {
			a.max_dest_rd_atomic = 16;
			a.min_rnr_timer = 1;
			mask |= IBV_QP_MAX_DEST_RD_ATOMIC |
				IBV_QP_MIN_RNR_TIMER;
		}
	}
	if (ibv_modify_qp(qp, &a, mask))
		return -1;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = 0;
	mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
	if (type == IBV_QPT_RC) {
		/* ~270 ms transport timer, 6 retries (7 would be for ever) */
		a.timeout = 16;
		a.retry_cnt = 6;
		a.rnr_retry = 6;
		a.max_rd_atomic = 16;
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
	}
	return ibv_modify_qp(qp, &a, mask);
}

/* ---- MRs ---- */

bool fuzz_no_odp;

struct ibv_mr *reg_odp(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	struct ibv_mr *mr = NULL;

	if (!fuzz_no_odp) {
		mr = ibv_reg_mr(pd, addr, len, access | IBV_ACCESS_ON_DEMAND);
		if (!mr && (errno == EOPNOTSUPP || errno == EINVAL)) {
			printf("# no ODP MRs on this device (%s): pinned MRs stand in for them\n",
			       strerror(errno));
			fuzz_no_odp = true;
		}
	}
	return mr ? mr : ibv_reg_mr(pd, addr, len, access);
}

/* ---- health ---- */

int health_init(struct health *h, struct rdma_loop *lp, size_t len)
{
	int i;

	memset(h, 0, sizeof(*h));
	h->lp = lp;
	h->len = len;
	for (i = 0; i < 4; i++) {
		h->buf[i] = mmap(NULL, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (h->buf[i] == MAP_FAILED)
			return -1;
		if (i < 2)
			memset(h->buf[i], 0, len);
		h->mr[i] = i < 2 ? rdma_loop_reg(lp, h->buf[i], len, 0) :
			   reg_odp(lp->pd, h->buf[i], len,
				   IBV_ACCESS_LOCAL_WRITE |
				   IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_ATOMIC);
		if (!h->mr[i])
			return -1;
	}
	return 0;
}

int health_check(struct health *h, uint64_t seed, char *why, size_t why_len)
{
	struct rdma_loop pair;
	int st;
	long bad;

	*why = 0;
	if (rdma_loop_open_pair(&pair, h->lp, 32)) {
		snprintf(why, why_len, "fresh QP pair: %s", strerror(errno));
		rdma_loop_close_pair(&pair);
		goto fail;
	}
	/* pinned -> ODP write, then the CPU checks the ODP buffer */
	st = rdma_loop_write_pattern(&pair, h->mr[0], h->buf[0], h->mr[3],
				     h->buf[3], 0, h->len, 4096, seed);
	bad = st ? -1 : pattern_bad(h->buf[3], 0, h->len, seed);
	if (st || bad >= 0) {
		snprintf(why, why_len, "WRITE pinned->ODP: status %d, bad at %ld",
			 st, bad);
		rdma_loop_close_pair(&pair);
		goto fail;
	}
	/* READ pinned (CPU-written) into ODP */
	pattern_fill(h->buf[1], 0, h->len, seed + 1);
	st = rdma_loop_read_back(&pair, h->mr[2], h->buf[2], h->mr[1],
				 h->buf[1], 0, h->len, 4096);
	bad = st ? -1 : pattern_bad(h->buf[2], 0, h->len, seed + 1);
	if (st || bad >= 0) {
		snprintf(why, why_len, "READ pinned->ODP: status %d, bad at %ld",
			 st, bad);
		rdma_loop_close_pair(&pair);
		goto fail;
	}
	rdma_loop_close_pair(&pair);
	h->passed++;
	return 0;
fail:
	h->failed++;
	return -1;
}

void health_fini(struct health *h)
{
	int i;

	for (i = 0; i < 4; i++) {
		if (h->mr[i])
			ibv_dereg_mr(h->mr[i]);
		if (h->buf[i] && h->buf[i] != MAP_FAILED)
			munmap(h->buf[i], h->len);
	}
	memset(h, 0, sizeof(*h));
}

int qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr a;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &init))
		return -1;
	return a.qp_state;
}

double fuzz_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

long mem_available_mb(void)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb / 1024;
}
