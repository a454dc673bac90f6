// SPDX-License-Identifier: GPL-2.0
/*
 * usage: odp_verbs
 *
 * Verbs details of On-Demand Paging MRs on rxe, each with its data or
 * exact status checked: an iova that differs from the address, WRs whose
 * SGEs mix ODP and pinned MRs, UC write and send, memory windows bound to
 * an ODP MR, ibv_rereg_mr, implicit ODP over memory mapped after the
 * registration (and its errors), bounds, zero-length transfers, the MR's
 * statistics in iproute2's `rdma statistic show mr`; the
 * kernel memory that large and implicit MRs take (only what maps pages);
 * and the provider's extended CQ polled the way rdma-core's own tests poll
 * it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kselftest_harness.h"
#include "meminfo.h"
#include "rdma_loop.h"

#define LEN	(1UL << 20)
#define XFER	(16 * 1024)
#define IOVA	0x100000000ULL
/* rxe-odp maps ODP MRs in children of up to 64 MiB-aligned chunks */
#define STEP	(64ULL << 20)

static char *map_rw(size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void fill(void *p, size_t len, unsigned char seed)
{
	unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = seed + i * 7 + (i >> 9);
}

static int same(const void *a, const void *b, size_t len)
{
	return !memcmp(a, b, len);
}

FIXTURE(verbs) {
	struct rdma_loop lp;
	char *odp;		/* untouched memory behind an ODP MR */
	struct ibv_mr *odp_mr;
	char *pin;
	struct ibv_mr *pin_mr;
};

FIXTURE_VARIANT(verbs) {
	enum ibv_qp_type qp_type;
};

FIXTURE_VARIANT_ADD(verbs, rc) { .qp_type = IBV_QPT_RC };
FIXTURE_VARIANT_ADD(verbs, uc) { .qp_type = IBV_QPT_UC };

FIXTURE_SETUP(verbs)
{
	ASSERT_EQ(0, rdma_loop_open(&self->lp)) TH_LOG("%s", strerror(errno));
	self->lp.qp_type = variant->qp_type;
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	self->odp = map_rw(LEN);
	self->pin = map_rw(LEN);
	ASSERT_NE(MAP_FAILED, self->odp);
	ASSERT_NE(MAP_FAILED, self->pin);
	memset(self->pin, 0, LEN);
	self->odp_mr = rdma_loop_reg(&self->lp, self->odp, LEN,
				     IBV_ACCESS_ON_DEMAND);
	self->pin_mr = rdma_loop_reg(&self->lp, self->pin, LEN, 0);
	ASSERT_NE(NULL, self->odp_mr);
	ASSERT_NE(NULL, self->pin_mr);
}

static int fail_rxe_odp(int percent);

FIXTURE_TEARDOWN(verbs)
{
	/* a test that failed part way leaves no fault injection behind */
	fail_rxe_odp(0);
	if (self->odp_mr)
		ibv_dereg_mr(self->odp_mr);
	if (self->pin_mr)
		ibv_dereg_mr(self->pin_mr);
	rdma_loop_close(&self->lp);
}

/* RDMA WRITE into, and SEND into / out of, an ODP MR on this QP type. */
TEST_F(verbs, write_and_send)
{
	fill(self->pin, XFER, 1);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write(&self->lp, self->pin_mr, self->pin,
				  self->odp_mr, self->odp + 4096, XFER));
	ASSERT_TRUE(same(self->pin, self->odp + 4096, XFER));

	fill(self->pin, XFER, 2);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_send(&self->lp, self->pin_mr, self->pin,
				 self->odp_mr, self->odp + LEN - XFER, XFER));
	ASSERT_TRUE(same(self->pin, self->odp + LEN - XFER, XFER));

	fill(self->odp, XFER, 3);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_send(&self->lp, self->odp_mr, self->odp,
				 self->pin_mr, self->pin + XFER, XFER));
	ASSERT_TRUE(same(self->odp, self->pin + XFER, XFER));
}

/*
 * `rdma statistic show mr` lists an ODP MR's page faults, invalidations and
 * prefetches under mlx5's names, counted in pages and in events, and
 * nothing for a pinned MR. Each reading runs iproute2 twice: on the debug
 * kernel under TCG the 22 runs took longer than the harness's default 30 s.
 */
TEST_F_TIMEOUT(verbs, per_mr_statistics, 180)
{
	struct ibv_sge sge = { (uintptr_t)self->odp, LEN, self->odp_mr->lkey };
	long long page = sysconf(_SC_PAGESIZE);
	struct rdma_loop *lp = &self->lp;
	struct ibv_mr *mr = self->odp_mr;

	if (geteuid())
		SKIP(return, "rdma resource show mr lists keys to root only");
	if (system("rdma -V >/dev/null 2>&1"))
		SKIP(return, "no iproute2 rdma tool");

	ASSERT_EQ(0, rdma_loop_mr_stat(lp, mr, "page_faults"))
		TH_LOG("a fresh ODP MR's page_faults in rdma statistic show mr");
	/* listed, without statistics */
	ASSERT_EQ(-1, rdma_loop_mr_stat(lp, self->pin_mr, "page_faults"));

	fill(self->pin, XFER, 4);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write(lp, self->pin_mr, self->pin, mr,
				  self->odp + page, XFER));
	ASSERT_EQ(0, rdma_loop_placed(lp));
	ASSERT_TRUE(same(self->pin, self->odp + page, XFER));
	EXPECT_GE(rdma_loop_mr_stat(lp, mr, "page_faults"), XFER / page);
	EXPECT_GE(rdma_loop_mr_stat(lp, mr, "page_faults_handled"), 1);
	EXPECT_LE(rdma_loop_mr_stat(lp, mr, "page_faults_handled"),
		  rdma_loop_mr_stat(lp, mr, "page_faults"));

	/*
	 * Every page written is unmapped once, by MADV_DONTNEED or by NUMA
	 * balancing before it.
	 */
	ASSERT_EQ(0, madvise(self->odp, LEN, MADV_DONTNEED));
	EXPECT_GE(rdma_loop_mr_stat(lp, mr, "page_invalidations"), XFER / page);
	EXPECT_GE(rdma_loop_mr_stat(lp, mr, "page_invalidations_handled"), 1);

	ASSERT_EQ(0, rdma_loop_mr_stat(lp, mr, "page_prefetch"));
	ASSERT_EQ(0, ibv_advise_mr(lp->pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				   IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1));
	EXPECT_EQ(LEN / page, rdma_loop_mr_stat(lp, mr, "page_prefetch"));
}

/* RDMA WRITE (@read: READ) of [0, LEN) of the ODP MR, XFER at a time. */
static int xfer_all(struct _test_data_verbs *self, bool read)
{
	size_t off;
	int st;

	for (off = 0; off < LEN; off += XFER) {
		st = read ? rdma_loop_read(&self->lp, self->pin_mr,
					   self->pin + off, self->odp_mr,
					   self->odp + off, XFER) :
			    rdma_loop_write(&self->lp, self->pin_mr,
					    self->pin + off, self->odp_mr,
					    self->odp + off, XFER);
		if (st)
			return st;
	}
	return 0;
}

/*
 * A data-path fault also records the pages after its access that the CPU
 * page tables already have (rxe_odp.c's RXE_ODP_LOOK_AHEAD): pages the
 * process touched, or kept through an invalidation that did not change
 * them, cost one fault, not one per message. Pages that are not there are
 * not faulted in for it.
 */
TEST_F(verbs, fault_looks_ahead_at_present_pages)
{
	struct rdma_loop *lp = &self->lp;
	long long faults, invals;

	/* present and writable, never accessed through the MR */
	fill(self->odp, LEN, 3);
	fill(self->pin, LEN, 5);
	faults = rdma_loop_counter(lp, "odp_faults");
	ASSERT_EQ(IBV_WC_SUCCESS, xfer_all(self, false));
	ASSERT_TRUE(same(self->pin, self->odp, LEN));
	/* one fault, and a few more if NUMA balancing scans meanwhile */
	EXPECT_LE(rdma_loop_counter(lp, "odp_faults") - faults, 4)
		TH_LOG("%lu messages into present pages", LEN / XFER);

	if (variant->qp_type == IBV_QPT_RC) {
		/* invalidated twice, the pages and their PTEs kept */
		invals = rdma_loop_counter(lp, "odp_invalidations");
		ASSERT_EQ(0, mprotect(self->odp, LEN, PROT_READ));
		ASSERT_EQ(0, mprotect(self->odp, LEN, PROT_READ | PROT_WRITE));
		ASSERT_LT(invals, rdma_loop_counter(lp, "odp_invalidations"));
		fill(self->odp, LEN, 7);
		memset(self->pin, 0, LEN);
		faults = rdma_loop_counter(lp, "odp_faults");
		ASSERT_EQ(IBV_WC_SUCCESS, xfer_all(self, true));
		ASSERT_TRUE(same(self->pin, self->odp, LEN));
		EXPECT_LE(rdma_loop_counter(lp, "odp_faults") - faults, 4)
			TH_LOG("%lu READs after mprotect", LEN / XFER);
	}

	/* absent pages: the fault maps what the access needs, no more */
	ASSERT_EQ(0, madvise(self->odp, LEN, MADV_DONTNEED));
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write(lp, self->pin_mr, self->pin, self->odp_mr,
				  self->odp, XFER));
	ASSERT_TRUE(same(self->pin, self->odp, XFER));
	EXPECT_EQ(0, resident(self->odp + XFER, LEN - XFER));
}

/* An MR registered at an iova other than its address. */
TEST_F(verbs, iova_differs_from_address)
{
	struct ibv_mr *mr;
	char *mem = map_rw(LEN);

	ASSERT_NE(MAP_FAILED, mem);
	mr = ibv_reg_mr_iova(self->lp.pd, mem, LEN, IOVA,
			     IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			     IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, mr);
	fill(self->pin, XFER, 4);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write(&self->lp, self->pin_mr, self->pin, mr,
				  (void *)(uintptr_t)(IOVA + 8192), XFER));
	ASSERT_TRUE(same(self->pin, mem + 8192, XFER));
	if (variant->qp_type == IBV_QPT_RC) {
		memset(self->pin + XFER, 0, XFER);
		ASSERT_EQ(IBV_WC_SUCCESS,
			  rdma_loop_read(&self->lp, self->pin_mr, self->pin + XFER,
					 mr, (void *)(uintptr_t)(IOVA + 8192), XFER));
		ASSERT_TRUE(same(self->pin, self->pin + XFER, XFER));
	}
	ASSERT_EQ(0, ibv_dereg_mr(mr));
	munmap(mem, LEN);
}

/* One WRITE gathered from pinned, ODP and pinned SGEs into an ODP MR. */
TEST_F(verbs, sges_mixing_odp_and_pinned)
{
	struct ibv_sge sge[3] = {
		{ (uintptr_t)self->pin, 1000, self->pin_mr->lkey },
		{ (uintptr_t)self->odp + 5000, 9000, self->odp_mr->lkey },
		{ (uintptr_t)self->pin + 20000, 3000, self->pin_mr->lkey },
	};
	struct ibv_send_wr wr = {
		.sg_list = sge, .num_sge = 3, .opcode = IBV_WR_RDMA_WRITE,
		.wr.rdma = { (uintptr_t)self->odp + LEN / 2, self->odp_mr->rkey },
	};
	char *dst = self->odp + LEN / 2;

	fill(self->pin, 1000, 5);
	fill(self->odp + 5000, 9000, 6);
	fill(self->pin + 20000, 3000, 7);
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_loop_post_wait(&self->lp, &wr));
	ASSERT_EQ(0, rdma_loop_placed(&self->lp));
	ASSERT_TRUE(same(dst, self->pin, 1000));
	ASSERT_TRUE(same(dst + 1000, self->odp + 5000, 9000));
	ASSERT_TRUE(same(dst + 10000, self->pin + 20000, 3000));
}

/* Memory windows on an ODP MR: the bind works and so does RDMA through it. */
TEST_F(verbs, memory_window)
{
	struct ibv_mw *mw;
	struct ibv_mw_bind bind = {
		.send_flags = IBV_SEND_SIGNALED,
		.bind_info = {
			.mr = self->odp_mr, .addr = (uintptr_t)self->odp,
			.length = LEN, .mw_access_flags = IBV_ACCESS_REMOTE_WRITE,
		},
	};
	struct ibv_mr *mr;
	struct ibv_wc wc;
	int i;

	if (variant->qp_type != IBV_QPT_RC)
		SKIP(return, "RC only");
	/* a MR that may be bound needs IBV_ACCESS_MW_BIND */
	ibv_dereg_mr(self->odp_mr);
	self->odp_mr = NULL;
	mr = rdma_loop_reg(&self->lp, self->odp, LEN,
			   IBV_ACCESS_ON_DEMAND | IBV_ACCESS_MW_BIND);
	ASSERT_NE(NULL, mr);
	self->odp_mr = mr;
	bind.bind_info.mr = mr;
	mw = ibv_alloc_mw(self->lp.pd, IBV_MW_TYPE_1);
	ASSERT_NE(NULL, mw) TH_LOG("ibv_alloc_mw: %s", strerror(errno));
	ASSERT_EQ(0, ibv_bind_mw(self->lp.qp[0], mw, &bind));
	for (i = 0; i < 10000000; i++)
		if (ibv_poll_cq(self->lp.cq[0], 1, &wc) == 1)
			break;
	ASSERT_EQ(IBV_WC_SUCCESS, wc.status);

	fill(self->pin, XFER, 8);
	{
		struct ibv_sge sge = { (uintptr_t)self->pin, XFER, self->pin_mr->lkey };
		struct ibv_send_wr wr = {
			.sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_RDMA_WRITE,
			.wr.rdma = { (uintptr_t)self->odp + 65536, mw->rkey },
		};

		ASSERT_EQ(IBV_WC_SUCCESS, rdma_loop_post_wait(&self->lp, &wr));
	}
	ASSERT_TRUE(same(self->pin, self->odp + 65536, XFER));
	ASSERT_EQ(0, ibv_dealloc_mw(mw));
}

/* 6.1 rxe has no rereg_mr: a clean EOPNOTSUPP, and the MR still works. */
TEST_F(verbs, rereg_is_refused)
{
	int ret;

	ret = ibv_rereg_mr(self->odp_mr, IBV_REREG_MR_CHANGE_ACCESS, NULL, NULL, 0,
			   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(0, ret);
	ASSERT_EQ(EOPNOTSUPP, errno);
	fill(self->pin, XFER, 9);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write(&self->lp, self->pin_mr, self->pin,
				  self->odp_mr, self->odp, XFER));
	ASSERT_TRUE(same(self->pin, self->odp, XFER));
}

/* Bounds: past the end fails; zero length succeeds. */
TEST_F(verbs, bounds)
{
	fill(self->pin, XFER, 10);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write(&self->lp, self->pin_mr, self->pin,
				  self->odp_mr, self->odp + LEN, 0));
	if (variant->qp_type == IBV_QPT_RC) {
		/* UC has no NAK: an access error is silent at the requester */
		ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
			  rdma_loop_write(&self->lp, self->pin_mr, self->pin,
					  self->odp_mr, self->odp + LEN - 100, XFER));
	}
}

/* A memfd_secret file of LEN bytes, or -1 with errno set. */
static int secret_file(void)
{
	int fd = syscall(SYS_memfd_secret, 0);

	if (fd >= 0 && ftruncate(fd, LEN)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * memfd_secret memory is not in the kernel's direct map: an ODP MR over it
 * registers (nothing is touched then), but RDMA into it must fail with an
 * access error, never reach the pages (the guest boots with
 * secretmem.enable=1). Accesses to pages right before it, in the same ODP
 * MR, work: a fault's look-ahead leaves out what rxe refuses.
 */
TEST_F(verbs, secretmem_refused)
{
	struct ibv_mr *mr, *whole;
	char *area, *secret;
	uint64_t *word;
	int fd;

	if (variant->qp_type != IBV_QPT_RC)
		SKIP(return, "RC only: UC has no NAK");
	fd = secret_file();
	if (fd < 0)
		SKIP(return, "memfd_secret: %s (boot with secretmem.enable=1)",
		     strerror(errno));
	area = map_rw(2 * LEN);
	ASSERT_NE(MAP_FAILED, area);
	secret = mmap(area + LEN, LEN, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_FIXED, fd, 0);
	ASSERT_EQ(area + LEN, secret);
	secret[0] = 1;
	mr = rdma_loop_reg(&self->lp, secret, LEN, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, mr) TH_LOG("ODP ibv_reg_mr: %s", strerror(errno));
	fill(self->pin, XFER, 12);
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_write(&self->lp, self->pin_mr, self->pin, mr,
				  secret, XFER));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_read(&self->lp, self->pin_mr, self->pin, mr,
				 secret, XFER));
	ASSERT_EQ(1, secret[0]);
	ibv_dereg_mr(mr);

	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	whole = rdma_loop_reg(&self->lp, area, 2 * LEN, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, whole);
	/* one packet each, untouched pages and then present ones */
	word = (uint64_t *)(secret - 8);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_fetch_add(&self->lp, self->pin_mr,
				      (uint64_t *)self->pin, whole, word, 5));
	ASSERT_EQ(5, *word);
	fill(self->pin, 64, 13);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write(&self->lp, self->pin_mr, self->pin, whole,
				  secret - 2 * 4096, 64));
	ASSERT_TRUE(same(self->pin, secret - 2 * 4096, 64));
	ASSERT_EQ(0, madvise(area, LEN, MADV_DONTNEED));
	memset(area + LEN - 4096, 7, 4096);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_read(&self->lp, self->pin_mr, self->pin, whole,
				 secret - 4096, 4096));
	ASSERT_TRUE(same(self->pin, secret - 4096, 4096));
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_fetch_add(&self->lp, self->pin_mr,
				      (uint64_t *)self->pin, whole, word, 1));
	ASSERT_EQ(0x0707070707070707ULL, *(uint64_t *)self->pin);
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_write(&self->lp, self->pin_mr, self->pin, whole,
				  secret, 64));
	ASSERT_EQ(1, secret[0]);
	ibv_dereg_mr(whole);
	munmap(area, 2 * LEN);
	close(fd);
}

/* Implicit ODP: memory mapped after registration, and its error cases. */
TEST_F(verbs, implicit_covers_new_mappings)
{
	char *later, *ro;
	struct ibv_mr *imr;

	imr = ibv_reg_mr(self->lp.pd, NULL, SIZE_MAX,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, imr) TH_LOG("implicit ODP: %s", strerror(errno));
	later = map_rw(LEN);
	ASSERT_NE(MAP_FAILED, later);
	fill(self->pin, XFER, 11);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write(&self->lp, self->pin_mr, self->pin, imr,
				  later + LEN - XFER, XFER));
	ASSERT_TRUE(same(self->pin, later + LEN - XFER, XFER));

	/* the implicit MR as a local SGE */
	fill(later, XFER, 12);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write(&self->lp, imr, later, self->pin_mr,
				  self->pin + XFER, XFER));
	ASSERT_TRUE(same(later, self->pin + XFER, XFER));

	if (variant->qp_type == IBV_QPT_RC) {
		/* read-only mapping: READ works, WRITE is refused */
		ro = mmap(NULL, LEN, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, ro);
		ASSERT_EQ(IBV_WC_SUCCESS,
			  rdma_loop_read(&self->lp, self->pin_mr, self->pin, imr,
					 ro, XFER));
		ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
			  rdma_loop_write(&self->lp, self->pin_mr, self->pin, imr,
					  ro, XFER));
		ASSERT_EQ(0, rdma_loop_connect(&self->lp));
		/* nothing mapped at the top of the address space */
		ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
			  rdma_loop_write(&self->lp, self->pin_mr, self->pin, imr,
					  (void *)(uintptr_t)(UINT64_MAX - XFER + 1), XFER));
		munmap(ro, LEN);
	}
	ASSERT_EQ(0, ibv_dereg_mr(imr));
	munmap(later, LEN);
}

/* Post a signaled RDMA WRITE of XFER bytes into the ODP MR on @lp's QP. */
static int post_write(struct _test_data_verbs *self, struct rdma_loop *lp,
		      uint64_t wr_id)
{
	struct ibv_sge sge = { (uintptr_t)self->pin, XFER, self->pin_mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_RDMA_WRITE, .send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { (uintptr_t)self->odp, self->odp_mr->rkey },
	}, *bad;

	return ibv_post_send(lp->qp[0], &wr, &bad);
}

/* Call @poll (start or next) until it is not ENOENT, for 10 s at most. */
#define POLL_WAIT(poll) ({						\
	time_t end_ = time(NULL) + 10;					\
	int ret_;							\
	while ((ret_ = (poll)) == ENOENT && time(NULL) < end_)		\
		;							\
	ret_;								\
})

/*
 * Extended CQ: ibv_next_poll() may be called again after it returned
 * ENOENT (rdma-core's tests/utils.py polls that way). It must then report
 * the next completion once it comes, never one already reported nor a slot
 * the kernel has not written, and end_poll must consume exactly what was
 * reported.
 */
TEST_F(verbs, cq_ex_next_poll_after_enoent)
{
	struct ibv_cq_init_attr_ex attr = {
		.cqe = 16, .wc_flags = IBV_WC_EX_WITH_BYTE_LEN,
	};
	struct ibv_poll_cq_attr poll_attr = {};
	struct rdma_loop pair = self->lp;
	struct ibv_cq_ex *cq;
	struct ibv_wc wc;
	int i;

	cq = ibv_create_cq_ex(self->lp.ctx, &attr);
	ASSERT_NE(NULL, cq);
	pair.qp[0] = NULL;
	pair.qp[1] = NULL;
	pair.cq[0] = ibv_cq_ex_to_cq(cq);
	pair.cq[1] = ibv_create_cq(self->lp.ctx, 16, NULL, NULL, 0);
	ASSERT_NE(NULL, pair.cq[1]);
	ASSERT_EQ(0, rdma_loop_connect(&pair));

	ASSERT_EQ(0, post_write(self, &pair, 1));
	ASSERT_EQ(0, post_write(self, &pair, 2));
	ASSERT_EQ(0, POLL_WAIT(ibv_start_poll(cq, &poll_attr)));
	ASSERT_EQ(1, cq->wr_id);
	ASSERT_EQ(IBV_WC_SUCCESS, cq->status);
	ASSERT_EQ(0, POLL_WAIT(ibv_next_poll(cq)));
	ASSERT_EQ(2, cq->wr_id);
	ASSERT_EQ(XFER, ibv_wc_read_byte_len(cq));
	/* nothing more, however often it is asked */
	for (i = 0; i < 3; i++)
		ASSERT_EQ(ENOENT, ibv_next_poll(cq));
	/* a completion that comes after ENOENT is the next one reported */
	ASSERT_EQ(0, post_write(self, &pair, 3));
	ASSERT_EQ(0, POLL_WAIT(ibv_next_poll(cq)));
	ASSERT_EQ(3, cq->wr_id);
	ASSERT_EQ(ENOENT, ibv_next_poll(cq));
	ibv_end_poll(cq);

	/* all three were consumed, and the ring goes on from there */
	ASSERT_EQ(0, ibv_poll_cq(pair.cq[0], 1, &wc));
	ASSERT_EQ(0, post_write(self, &pair, 4));
	ASSERT_EQ(0, POLL_WAIT(ibv_poll_cq(pair.cq[0], 1, &wc) ? 0 : ENOENT));
	ASSERT_EQ(4, wc.wr_id);
	ASSERT_EQ(IBV_WC_SUCCESS, wc.status);
	rdma_loop_close_pair(&pair);
}

/*
 * SGE lengths whose sum does not fit in 32 bits: refused (EINVAL), not
 * wrapped to a short length that passes the inline limit (which made
 * the provider copy 4 GiB into the ring); the QP works on.
 */
TEST_F(verbs, sge_length_overflow_refused)
{
	struct ibv_sge sge[2] = {
		{ (uintptr_t)self->pin, 0xfffffff0, self->pin_mr->lkey },
		{ (uintptr_t)self->pin, 0x20, self->pin_mr->lkey },
	};
	struct ibv_send_wr wr = {
		.sg_list = sge, .num_sge = 2, .opcode = IBV_WR_RDMA_WRITE,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { (uintptr_t)self->odp, self->odp_mr->rkey },
	}, *bad;

	ASSERT_EQ(EINVAL, ibv_post_send(self->lp.qp[0], &wr, &bad));
	ASSERT_EQ(&wr, bad);
	wr.send_flags |= IBV_SEND_INLINE;
	ASSERT_EQ(EINVAL, ibv_post_send(self->lp.qp[0], &wr, &bad));
	fill(self->pin, XFER, 12);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write(&self->lp, self->pin_mr, self->pin,
				  self->odp_mr, self->odp, XFER));
	ASSERT_TRUE(same(self->pin, self->odp, XFER));
}

/* The top of x86-64 user space: TASK_SIZE, where an implicit MR ends. */
#define USER_TOP	0x7ffffffff000ULL

/* RDMA WRITE pattern @seed into the last 64 bytes below USER_TOP. */
static bool write_top(struct _test_data_verbs *self, struct ibv_mr *imr,
		      unsigned char seed)
{
	void *top = (void *)(uintptr_t)(USER_TOP - 64);

	fill(self->pin, 64, seed);
	return rdma_loop_write(&self->lp, self->pin_mr, self->pin, imr, top,
			       64) == IBV_WC_SUCCESS &&
	       same(self->pin, top, 64);
}

/*
 * An implicit MR ends at TASK_SIZE, in the middle of its last 64 MiB
 * child: accesses that reach past it (from a page mapped just below) fail
 * with an access error, neither spin on an empty chunk nor read past the
 * child's page array. RC only (UC has no NAK).
 */
TEST_F(verbs, implicit_access_past_top_of_user_space)
{
	char *top = (char *)(uintptr_t)(USER_TOP - 4096);
	struct ibv_sge sge = { USER_TOP - 8, 16, 0 };
	struct ibv_mr *imr;
	uint64_t *result;
	int ret;

	if (variant->qp_type != IBV_QPT_RC)
		SKIP(return, "UC has no NAK for a failed remote access");
	if (mmap(top, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		 MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != top)
		SKIP(return, "the page below TASK_SIZE is in use: %s",
		     strerror(errno));
	imr = ibv_reg_mr(self->lp.pd, NULL, SIZE_MAX,
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC |
			 IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, imr);

	/* the last page itself works, and creates the last child */
	ASSERT_TRUE(write_top(self, imr, 13));
	/* 8 bytes below TASK_SIZE and 8 past it */
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_write(&self->lp, self->pin_mr, self->pin, imr,
				  (void *)(uintptr_t)(USER_TOP - 8), 16));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_read(&self->lp, self->pin_mr, self->pin, imr,
				 (void *)(uintptr_t)(USER_TOP - 8), 16));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	result = (uint64_t *)self->pin;
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_fetch_add(&self->lp, self->pin_mr, result, imr,
				      (uint64_t *)(uintptr_t)USER_TOP, 1));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	/* prefetch, where the provider has it */
	sge.lkey = imr->lkey;
	ret = ibv_advise_mr(self->lp.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			    IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
	if (ret != EOPNOTSUPP)
		ASSERT_EQ(EFAULT, ret);
	/* and the MR goes on working */
	ASSERT_TRUE(write_top(self, imr, 14));
	ASSERT_EQ(0, ibv_dereg_mr(imr));
	munmap(top, 4096);
}

static char *map_noreserve(size_t len, int prot)
{
	char *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS |
		       MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

static struct ibv_mr *reg_implicit(struct _test_data_verbs *self)
{
	return ibv_reg_mr(self->lp.pd, NULL, SIZE_MAX,
			  IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			  IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND);
}

/*
 * Remote READs through an implicit MR's rkey into PROT_NONE space, each in
 * another 64 MiB chunk: every one fails with a remote access error, and
 * the kernel keeps nothing for them (it once kept a child of ~256 KiB of
 * page arrays per chunk until dereg: 64 MiB for these 256 READs).
 */
TEST_F_TIMEOUT(verbs, failed_reads_keep_no_memory, 300)
{
	const size_t len = 256 * STEP;
	long long before, grown;
	struct ibv_mr *imr;
	char *none;
	int i;

	if (variant->qp_type != IBV_QPT_RC)
		SKIP(return, "UC has no NAK for a failed remote access");
	none = map_noreserve(len, PROT_NONE);
	ASSERT_NE(NULL, none);
	imr = reg_implicit(self);
	ASSERT_NE(NULL, imr);
	before = kernel_memory();
	ASSERT_LT(0, before);
	for (i = 0; i < 256; i++) {
		ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
			  rdma_loop_read(&self->lp, self->pin_mr, self->pin, imr,
					 none + i * STEP + 4096, 8));
		ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	}
	grown = kernel_memory() - before;
	TH_LOG("kernel memory after 256 failed READs: %+lld KiB", grown / 1024);
	ASSERT_GT(16LL << 20, grown);
	/* and the MR goes on working where there is memory */
	fill(self->pin, XFER, 15);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write(&self->lp, self->pin_mr, self->pin, imr,
				  self->odp, XFER));
	ASSERT_TRUE(same(self->pin, self->odp, XFER));
	ASSERT_EQ(0, ibv_dereg_mr(imr));
	munmap(none, len);
}

/*
 * One page written in each of 128 chunks of an implicit MR, then unmapped:
 * the invalidations leave the children without pages and the kernel frees
 * them without waiting for dereg (128 x ~256 KiB of page arrays otherwise;
 * KASAN's quarantine holds a few MiB of what was freed).
 */
TEST_F(verbs, unmapped_children_are_freed)
{
	const size_t len = 128 * STEP;
	long long before, touched, left = 0;
	double deadline;
	struct ibv_mr *imr;
	char *mem;
	int i;

	if (variant->qp_type != IBV_QPT_RC)
		SKIP(return, "one QP type is enough");
	mem = map_noreserve(len, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, mem);
	imr = reg_implicit(self);
	ASSERT_NE(NULL, imr);
	before = kernel_memory();
	ASSERT_LT(0, before);
	fill(self->pin, 64, 21);
	for (i = 0; i < 128; i++)
		ASSERT_EQ(IBV_WC_SUCCESS,
			  rdma_loop_write(&self->lp, self->pin_mr, self->pin,
					  imr, mem + i * STEP, 64));
	touched = kernel_memory() - before;
	ASSERT_TRUE(same(self->pin, mem + 127 * STEP, 64));
	ASSERT_EQ(0, munmap(mem, len));
	/* the children are freed from a work item: give it a moment */
	deadline = now_s() + 10;
	do {
		usleep(100 * 1000);
		left = kernel_memory() - before;
	} while (left > (8LL << 20) && now_s() < deadline);
	TH_LOG("kernel memory: %+lld KiB with 128 chunks written, %+lld KiB after munmap",
	       touched / 1024, left / 1024);
	ASSERT_LT(24LL << 20, touched);
	ASSERT_GT(8LL << 20, left);
	ASSERT_EQ(0, ibv_dereg_mr(imr));
}

/*
 * An explicit MR of 256 GiB that starts 4 KiB into a 64 MiB chunk spans
 * 4097 chunks: an access works in each of them (the last one once failed
 * with an access error after a 4096-children limit). Each page is
 * unmapped again after its WRITE, so that the kernel frees its child.
 */
TEST_F_TIMEOUT(verbs, mr_over_more_than_4096_chunks, 600)
{
	const size_t len = 4096 * STEP;
	struct ibv_mr *mr;
	char *raw, *start;
	long long before;
	int i, bad = -1;

	if (variant->qp_type != IBV_QPT_RC)
		SKIP(return, "one QP type is enough");
	raw = map_noreserve(len + 2 * STEP, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, raw);
	start = (char *)(((uintptr_t)raw + STEP - 1) & ~(STEP - 1)) + 4096;
	mr = rdma_loop_reg(&self->lp, start, len, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, mr) TH_LOG("%s", strerror(errno));
	before = kernel_memory();
	for (i = 0; i <= 4096 && bad < 0; i++) {
		/* the first page of chunk i that is in the MR */
		char *page = i ? start - 4096 + (size_t)i * STEP : start;

		fill(self->pin, 64, i);
		if (rdma_loop_write(&self->lp, self->pin_mr, self->pin, mr,
				    page, 64) != IBV_WC_SUCCESS ||
		    !same(self->pin, page, 64))
			bad = i;
		madvise(page, 4096, MADV_DONTNEED);
	}
	TH_LOG("4097 chunks, kernel memory %+lld KiB",
	       (kernel_memory() - before) / 1024);
	ASSERT_EQ(-1, bad) TH_LOG("chunk %d failed", bad);
	ASSERT_EQ(0, ibv_dereg_mr(mr));
	munmap(raw, len + 2 * STEP);
}

/* MemTotal of /proc/meminfo in bytes, or -1. */
static long long mem_total(void)
{
	long long kb = -1;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (kb < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %lld kB", &kb) != 1)
			kb = -1;
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

/*
 * Remote READs of 8 bytes, each in another 64 MiB chunk of untouched
 * memory, through an implicit MR: each READ maps one zero page, and so
 * keeps a child (~256 KiB of page arrays) alive. rxe_odp bounds the page
 * arrays of all children by 1/16 of RAM: past that, READs fail with a
 * remote access error, and the kernel memory they took stays within the
 * bound (it once grew by 256 KiB per READ for as long as the peer went
 * on). Unmapping the memory gives it all back.
 */
TEST_F_TIMEOUT(verbs, children_bounded_by_ram, 600)
{
	long long bound = mem_total() / 16, before, grown, left;
	size_t chunks = bound / (256 << 10) + 128, len = chunks * STEP;
	int i, ok = 0, refused = 0;
	struct ibv_mr *imr;
	double deadline;
	char *mem;

	if (variant->qp_type != IBV_QPT_RC)
		SKIP(return, "UC has no NAK for a failed remote access");
	ASSERT_LT(0, bound);
	/*
	 * An MR that starts and ends part-way into pages, written and
	 * deregistered first: its child must count as whole pages both ways
	 * (a release that uncharged more than the charge once made every
	 * later child fail).
	 */
	for (i = 0; i < 8; i++) {
		struct ibv_mr *mr = rdma_loop_reg(&self->lp, self->odp + 100,
						  XFER, IBV_ACCESS_ON_DEMAND);

		ASSERT_NE(NULL, mr);
		fill(self->pin, XFER, i);
		ASSERT_EQ(IBV_WC_SUCCESS,
			  rdma_loop_write(&self->lp, self->pin_mr, self->pin, mr,
					  self->odp + 100, XFER));
		ASSERT_TRUE(same(self->pin, self->odp + 100, XFER));
		ASSERT_EQ(0, ibv_dereg_mr(mr));
		madvise(self->odp, LEN, MADV_DONTNEED);
	}
	mem = map_noreserve(len, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, mem);
	imr = reg_implicit(self);
	ASSERT_NE(NULL, imr);
	before = kernel_memory();
	for (i = 0; i < chunks; i++) {
		int st = rdma_loop_read(&self->lp, self->pin_mr, self->pin, imr,
					mem + i * STEP, 8);

		if (st == IBV_WC_REM_ACCESS_ERR) {
			refused++;
			ASSERT_EQ(0, rdma_loop_connect(&self->lp));
			continue;
		}
		ASSERT_EQ(IBV_WC_SUCCESS, st);
		ok++;
	}
	grown = kernel_memory() - before;
	ASSERT_EQ(0, munmap(mem, len));
	deadline = now_s() + 20;
	do {
		usleep(100 * 1000);
		left = kernel_memory() - before;
	} while (left > (8LL << 20) && now_s() < deadline);
	TH_LOG("%zu chunks: %d READs ok, %d refused; kernel memory %+lld KiB (bound %lld KiB), %+lld KiB after munmap",
	       chunks, ok, refused, grown / 1024, bound / 1024, left / 1024);
	ASSERT_LT(0, refused);
	ASSERT_LT(chunks / 2, ok);
	ASSERT_GT(bound + (16LL << 20), grown);
	ASSERT_GT(8LL << 20, left);
	ASSERT_EQ(0, ibv_dereg_mr(imr));
}

/*
 * An IBV_ACCESS_HUGETLB ODP MR gets page arrays for its whole range at
 * registration (a pfn per 4 KiB page and a DMA entry per 2 MiB page: 128
 * MiB for 64 GiB), whatever is mapped there. They count against the same
 * bound as children, so a process cannot take the kernel's memory by
 * registering such MRs over address space it only reserved; the charge
 * goes back at dereg. Each MR here costs a third of the bound: 3 fit.
 */
TEST_F_TIMEOUT(verbs, hugetlb_mrs_bounded_by_ram, 300)
{
	const size_t huge = 2 << 20;
	long long bound = mem_total() / 16, before, grown, left;
	size_t len = (size_t)(bound / 3 / 8 * 4096 * 512 / 513) & ~(huge - 1);
	int n = 6, i, ok = 0, refused = 0;
	struct ibv_mr *mrs[6];
	char *space;

	if (variant->qp_type != IBV_QPT_RC)
		SKIP(return, "registration only: the RC variant checks it");
	ASSERT_LT(0, bound);
	ASSERT_LT(0, len);
	space = map_noreserve(len, PROT_NONE);
	ASSERT_NE(NULL, space);
	before = kernel_memory();
	for (i = 0; i < n; i++) {
		mrs[ok] = ibv_reg_mr(self->lp.pd, space, len,
				     IBV_ACCESS_LOCAL_WRITE |
				     IBV_ACCESS_ON_DEMAND | IBV_ACCESS_HUGETLB);
		if (mrs[ok]) {
			ok++;
			continue;
		}
		ASSERT_EQ(ENOMEM, errno);
		refused++;
	}
	grown = kernel_memory() - before;
	for (i = 0; i < ok; i++)
		ASSERT_EQ(0, ibv_dereg_mr(mrs[i]));
	left = kernel_memory() - before;
	TH_LOG("%d hugetlb MRs of %zu MiB: %d registered, %d refused; kernel memory %+lld KiB (bound %lld KiB), %+lld KiB after dereg",
	       n, len >> 20, ok, refused, grown / 1024, bound / 1024,
	       left / 1024);
	ASSERT_LE(1, ok);
	ASSERT_GE(3, ok);
	ASSERT_GT(bound + (16LL << 20), grown);
	ASSERT_GT(8LL << 20, left);
	/* every charge went back: they fit again */
	for (i = 0; i < ok; i++) {
		mrs[i] = ibv_reg_mr(self->lp.pd, space, len,
				    IBV_ACCESS_LOCAL_WRITE |
				    IBV_ACCESS_ON_DEMAND | IBV_ACCESS_HUGETLB);
		ASSERT_NE(NULL, mrs[i]) TH_LOG("%s", strerror(errno));
	}
	for (i = 0; i < ok; i++)
		ASSERT_EQ(0, ibv_dereg_mr(mrs[i]));
	ASSERT_EQ(0, munmap(space, len));
}

#define FAIL_DIR	"/sys/kernel/debug/fail_rxe_odp"

/* Write @val to FAIL_DIR/@name; 0 or -1. */
static int fail_set(const char *name, const char *val)
{
	char path[128];
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), FAIL_DIR "/%s", name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	ret = fputs(val, f) < 0 ? -1 : 0;
	return fclose(f) || ret ? -1 : 0;
}

/* Make rxe_odp's allocations fail with @percent probability (0: never). */
static int fail_rxe_odp(int percent)
{
	char p[16];

	snprintf(p, sizeof(p), "%d", percent);
	return fail_set("times", "-1") || fail_set("interval", "1") ||
	       fail_set("verbose", "0") || fail_set("probability", p);
}

/*
 * With fault injection on rxe_odp's own allocations (fail_rxe_odp: the ODP
 * state of an MR, children, fault buffers, prefetch work): when they all
 * fail, ODP registration fails with ENOMEM, RDMA into a new chunk ends
 * with a remote access error and prefetch with ENOMEM; when a third of
 * them fail, each of 300 operations either succeeds with the right data
 * or ends in one of those errors; afterwards everything works again (and
 * kmemleak, checked at the end of the run, finds nothing).
 */
TEST_F_TIMEOUT(verbs, allocation_failures, 300)
{
	const size_t len = 32 * STEP;
	struct ibv_sge sge;
	struct ibv_mr *mr;
	int i, st, ok = 0, failed = 0;
	char *mem;

	if (variant->qp_type != IBV_QPT_RC)
		SKIP(return, "one QP type is enough");
	if (access(FAIL_DIR, F_OK))
		SKIP(return, "no " FAIL_DIR " (kernel without CONFIG_FAULT_INJECTION_DEBUG_FS)");
	mem = map_noreserve(len, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, mem);
	mr = rdma_loop_reg(&self->lp, mem, len, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, mr);

	ASSERT_EQ(0, fail_rxe_odp(100));
	ASSERT_EQ(NULL, rdma_loop_reg(&self->lp, self->odp, LEN,
				      IBV_ACCESS_ON_DEMAND));
	ASSERT_EQ(ENOMEM, errno);
	fill(self->pin, XFER, 31);
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_write(&self->lp, self->pin_mr, self->pin, mr,
				  mem, XFER));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	sge = (struct ibv_sge){ (uintptr_t)mem, XFER, mr->lkey };
	ASSERT_EQ(ENOMEM, ibv_advise_mr(self->lp.pd,
					IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
					IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1));

	ASSERT_EQ(0, fail_rxe_odp(33));
	for (i = 0; i < 300; i++) {
		char *at = mem + (i % 32) * STEP + (i / 32) * XFER;

		fill(self->pin, XFER, i);
		st = rdma_loop_write(&self->lp, self->pin_mr, self->pin, mr,
				     at, XFER);
		if (st == IBV_WC_REM_ACCESS_ERR) {
			failed++;
			ASSERT_EQ(0, rdma_loop_connect(&self->lp));
			continue;
		}
		ASSERT_EQ(IBV_WC_SUCCESS, st);
		ASSERT_TRUE(same(self->pin, at, XFER));
		ok++;
		/* every other chunk emptied again: its child goes */
		if (i & 1)
			madvise(at, XFER, MADV_DONTNEED);
	}
	ASSERT_EQ(0, fail_rxe_odp(0));
	TH_LOG("with a third of the allocations failing: %d WRITEs ok, %d refused",
	       ok, failed);
	ASSERT_LT(0, ok);
	ASSERT_LT(0, failed);

	fill(self->pin, XFER, 77);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write(&self->lp, self->pin_mr, self->pin, mr,
				  mem + len - XFER, XFER));
	ASSERT_TRUE(same(self->pin, mem + len - XFER, XFER));
	ASSERT_EQ(0, ibv_advise_mr(self->lp.pd,
				   IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				   IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1));
	ASSERT_EQ(0, ibv_dereg_mr(mr));
	munmap(mem, len);
}

TEST_HARNESS_MAIN
