// SPDX-License-Identifier: GPL-2.0
/*
 * usage: odp_p2p   (needs /dev/rxe_odp_p2pmem: `modprobe nvme; insmod
 *                   build/$(uname -r)/kmod/rxe_odp_test_p2pmem.ko`)
 *
 * RDMA on PCI P2PDMA memory (the NVMe controller memory buffer of the bench
 * guest, mapped into this process by the test helper module
 * tests/kmod/rxe_odp_test_p2pmem.c). An ODP MR over the mapping serves
 * RDMA WRITE into the BAR, RDMA READ out of it, SEND/RECV in both
 * directions, and follows munmap + mmap; a pinned registration of the same
 * range fails with EOPNOTSUPP, and atomics (which rxe cannot do on device
 * memory) complete with a remote access error. Every case checks the data
 * or the exact status, and that faults really happened.
 *
 * Kernels without CONFIG_PCI_P2PDMA (Debian's) have no helper module: every
 * test skips, saying so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "rdma_loop.h"

#define P2P_DEV		"/dev/rxe_odp_p2pmem"
#define BUF_LEN		(4UL << 20)
#define XFER		(64 * 1024)

/* See odp_invalidate.c: a SKIP() in 6.1's FIXTURE_SETUP needs a longjmp. */
#define SKIP_SETUP(fmt, ...) \
	SKIP(longjmp(_metadata->env, 1), fmt, ##__VA_ARGS__)

FIXTURE(p2p) {
	struct rdma_loop lp;
	int fd;
	char *bar;		/* p2pmem mapping, under an ODP MR */
	struct ibv_mr *mr;
	char *local;		/* pinned source/sink in RAM */
	struct ibv_mr *lmr;
};

static uint64_t pattern(uint64_t seed, size_t i)
{
	return (seed << 40) ^ (i * 0x9e3779b97f4a7c15ULL);
}

/* volatile: the mapping is device memory, compare word by word */
static void fill(volatile uint64_t *w, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = pattern(seed, i);
}

static long check(const volatile uint64_t *w, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i] != pattern(seed, i))
			return i;
	return -1;
}

static char *map_bar(int fd, void *at)
{
	return mmap(at, BUF_LEN, PROT_READ | PROT_WRITE,
		    MAP_SHARED | (at ? MAP_FIXED : 0), fd, 0);
}

FIXTURE_SETUP(p2p)
{
	self->fd = open(P2P_DEV, O_RDWR);
	if (self->fd < 0)
		SKIP_SETUP("no %s (%s): needs CONFIG_PCI_P2PDMA, an NVMe CMB and tests/kmod/rxe_odp_test_p2pmem.ko",
			   P2P_DEV, strerror(errno));
	ASSERT_EQ(0, rdma_loop_open(&self->lp)) TH_LOG("open rxe device: %s", strerror(errno));
	self->bar = map_bar(self->fd, NULL);
	ASSERT_NE(MAP_FAILED, self->bar) TH_LOG("mmap p2pmem: %s", strerror(errno));
	self->mr = rdma_loop_reg(&self->lp, self->bar, BUF_LEN, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, self->mr) TH_LOG("ODP ibv_reg_mr over p2pmem: %s", strerror(errno));
	self->local = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->local);
	self->lmr = rdma_loop_reg(&self->lp, self->local, BUF_LEN, 0);
	ASSERT_NE(NULL, self->lmr);
}

FIXTURE_TEARDOWN(p2p)
{
	if (self->mr)
		ibv_dereg_mr(self->mr);
	if (self->lmr)
		ibv_dereg_mr(self->lmr);
	if (self->bar && self->bar != MAP_FAILED)
		munmap(self->bar, BUF_LEN);
	rdma_loop_close(&self->lp);
	if (self->fd >= 0)
		close(self->fd);
}

static long long counter(struct _test_data_p2p *self, const char *name)
{
	return rdma_loop_counter(&self->lp, name);
}

/* RDMA WRITE the pinned buffer (pattern @seed) over the whole BAR range. */
static int write_bar(struct _test_data_p2p *self, uint64_t seed)
{
	fill((uint64_t *)self->local, BUF_LEN, seed);
	return rdma_loop_span(&self->lp, IBV_WR_RDMA_WRITE, self->lmr, self->local,
			      self->mr, self->bar, BUF_LEN, XFER);
}

static int read_bar(struct _test_data_p2p *self)
{
	memset(self->local, 0xa5, BUF_LEN);
	return rdma_loop_span(&self->lp, IBV_WR_RDMA_READ, self->lmr, self->local,
			      self->mr, self->bar, BUF_LEN, XFER);
}

/* WRITE into the BAR (seen by the CPU), READ it back (seen by RDMA). */
TEST_F(p2p, write_then_read)
{
	long long faults = counter(self, "odp_faults");

	ASSERT_EQ(IBV_WC_SUCCESS, write_bar(self, 1));
	ASSERT_EQ(-1, check((uint64_t *)self->bar, BUF_LEN, 1));
	ASSERT_LT(faults, counter(self, "odp_faults"));

	fill((uint64_t *)self->bar, BUF_LEN, 2);
	ASSERT_EQ(IBV_WC_SUCCESS, read_bar(self));
	ASSERT_EQ(-1, check((uint64_t *)self->local, BUF_LEN, 2));
}

/* The BAR as the local side: gather for SEND, scatter for RECV. */
TEST_F(p2p, send_recv)
{
	fill((uint64_t *)self->bar, XFER, 3);
	memset(self->local, 0, XFER);
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_loop_send(&self->lp, self->mr, self->bar,
						 self->lmr, self->local, XFER));
	ASSERT_EQ(-1, check((uint64_t *)self->local, XFER, 3));

	fill((uint64_t *)self->local, XFER, 4);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_send(&self->lp, self->lmr, self->local, self->mr,
				 self->bar + BUF_LEN - XFER, XFER));
	ASSERT_EQ(-1, check((uint64_t *)(self->bar + BUF_LEN - XFER), XFER, 4));
}

/* Unaligned offsets and lengths inside the BAR. */
TEST_F(p2p, unaligned)
{
	const size_t off = 4096 - 3, len = 2 * 4096 + 5;
	char expect[2 * 4096 + 5];
	size_t i;

	for (i = 0; i < len; i++)
		expect[i] = self->local[i] = (char)(i * 7 + 1);
	memset((void *)self->bar, 0, 4 * 4096);
	ASSERT_EQ(IBV_WC_SUCCESS,
		  rdma_loop_write(&self->lp, self->lmr, self->local, self->mr,
				  self->bar + off, len));
	for (i = 0; i < len; i++)
		ASSERT_EQ(expect[i], ((volatile char *)self->bar)[off + i]);
	ASSERT_EQ(0, ((volatile char *)self->bar)[off - 1]);
	ASSERT_EQ(0, ((volatile char *)self->bar)[off + len]);
}

/* rxe's memcpy() path must never see device memory: pinned MRs refuse it. */
TEST_F(p2p, pinned_registration_fails)
{
	struct ibv_mr *mr;

	mr = rdma_loop_reg(&self->lp, self->bar, BUF_LEN, 0);
	if (mr)
		ibv_dereg_mr(mr);
	ASSERT_EQ(NULL, mr);
	ASSERT_EQ(EOPNOTSUPP, errno);
}

/* Atomics on device memory: a remote access error, and the QP recovers. */
TEST_F(p2p, atomics_refused)
{
	uint64_t *target = (uint64_t *)self->bar;

	*(volatile uint64_t *)target = 5;
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_fetch_add(&self->lp, self->lmr, (uint64_t *)self->local,
				      self->mr, target, 1));
	ASSERT_EQ(5, *(volatile uint64_t *)target);
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	ASSERT_EQ(IBV_WC_SUCCESS, write_bar(self, 5));
	ASSERT_EQ(-1, check((uint64_t *)self->bar, BUF_LEN, 5));
}

/*
 * munmap + mmap at the same address: the helper gives a new allocation
 * (other BAR pages). The MR must follow: RDMA sees the new contents.
 */
TEST_F(p2p, munmap_then_mmap_same_address)
{
	long long inval;

	ASSERT_EQ(IBV_WC_SUCCESS, write_bar(self, 6));
	inval = counter(self, "odp_invalidations");
	ASSERT_EQ(0, munmap(self->bar, BUF_LEN));
	ASSERT_EQ(self->bar, map_bar(self->fd, self->bar));
	ASSERT_LT(inval, counter(self, "odp_invalidations"));

	fill((uint64_t *)self->bar, BUF_LEN, 7);
	ASSERT_EQ(IBV_WC_SUCCESS, read_bar(self));
	ASSERT_EQ(-1, check((uint64_t *)self->local, BUF_LEN, 7));
}

/* Unmapped: exact access errors, never the old BAR contents. */
TEST_F(p2p, unmapped_range_errors)
{
	ASSERT_EQ(0, munmap(self->bar, BUF_LEN));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR,
		  rdma_loop_read(&self->lp, self->lmr, self->local, self->mr,
				 self->bar, XFER));
	ASSERT_EQ(0, rdma_loop_connect(&self->lp));
	ASSERT_EQ(IBV_WC_LOC_PROT_ERR,
		  rdma_loop_write(&self->lp, self->mr, self->bar, self->lmr,
				  self->local, XFER));
	self->bar = NULL;
}

TEST_HARNESS_MAIN
