// SPDX-License-Identifier: GPL-2.0
/*
 * usage: odp_prefetch   (needs our provider, with ibv_advise_mr: every
 *                        test fails with EOPNOTSUPP otherwise)
 *
 * ibv_advise_mr() on rxe ODP MRs: a prefetched range takes no fault on
 * the data path afterwards (checked with the odp_faults counter), NO_FAULT
 * maps exactly the pages that are present, asynchronous prefetch happens,
 * implicit MRs prefetch too, one call takes many SGEs over several MRs,
 * bad arguments (an lkey of another PD among them) give the documented
 * errno and prefetch nothing, prefetch racing with munmap is safe, and
 * queued prefetch work neither delays nor outlives MR deregistration or
 * process exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "kselftest_harness.h"
#include "meminfo.h"
#include "rdma_loop.h"

#define LEN	(2UL << 20)
#define PAGE	4096UL
#define CHUNK	(64UL << 10)
/* for queued work: 256 MiB takes about 0.4 s to fault in the bench guest */
#define BIG	(256UL << 20)
/* rxe-odp maps an ODP MR in steps of 64 MiB-aligned chunks */
#define STEP	(64UL << 20)

FIXTURE(prefetch) {
	struct rdma_loop lp;
	char *buf;
	struct ibv_mr *mr;
	char *local;
	struct ibv_mr *lmr;
};

FIXTURE_SETUP(prefetch)
{
	struct ibv_sge probe;

	ASSERT_EQ(0, rdma_loop_open(&self->lp)) TH_LOG("%s", strerror(errno));
	self->buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	self->local = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	ASSERT_NE(MAP_FAILED, self->local);
	/* 4 KiB pages, so that one READ response packet is one page */
	madvise(self->buf, LEN, MADV_NOHUGEPAGE);
	self->mr = rdma_loop_reg(&self->lp, self->buf, LEN, IBV_ACCESS_ON_DEMAND);
	self->lmr = rdma_loop_reg(&self->lp, self->local, LEN, 0);
	ASSERT_NE(NULL, self->mr);
	ASSERT_NE(NULL, self->lmr);

	/*
	 * This tool tests our provider and module: a provider without
	 * advise_mr (RDMAV_DRIVERS not set, stock librxe) is a failure, not
	 * a reason to skip every test.
	 */
	probe = (struct ibv_sge){ (uintptr_t)self->buf, PAGE, self->mr->lkey };
	ASSERT_EQ(0, ibv_advise_mr(self->lp.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
				   IBV_ADVISE_MR_FLAG_FLUSH, &probe, 1))
		TH_LOG("ibv_advise_mr: the provider has no advise_mr (stock librxe?)");
}

FIXTURE_TEARDOWN(prefetch)
{
	if (self->mr)
		ibv_dereg_mr(self->mr);
	if (self->lmr)
		ibv_dereg_mr(self->lmr);
	rdma_loop_close(&self->lp);
}

static int advise(struct _test_data_prefetch *self, struct ibv_mr *mr,
		  enum ibv_advise_mr_advice advice, uint32_t flags,
		  void *addr, size_t len)
{
	struct ibv_sge sge = { (uintptr_t)addr, len, mr->lkey };

	return ibv_advise_mr(self->lp.pd, advice, flags, &sge, 1);
}

static long long faults(struct _test_data_prefetch *self)
{
	return rdma_loop_counter(&self->lp, "odp_faults");
}

/* After PREFETCH_WRITE + FLUSH, RDMA WRITEs over the range take no fault. */
TEST_F(prefetch, sync_write_prefetch_removes_faults)
{
	long long before, prefetches = rdma_loop_counter(&self->lp, "odp_prefetches");

	ASSERT_EQ(0, advise(self, self->mr, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			    IBV_ADVISE_MR_FLAG_FLUSH, self->buf, LEN));
	ASSERT_LT(prefetches, rdma_loop_counter(&self->lp, "odp_prefetches"));
	before = faults(self);
	memset(self->local, 0x5a, LEN);
	ASSERT_EQ(0, rdma_loop_stream(&self->lp, IBV_WR_RDMA_WRITE, self->lmr,
				      self->local, self->mr, self->buf, 65536,
				      LEN, LEN / 65536, 8));
	ASSERT_EQ(before, faults(self));
	ASSERT_EQ(0, memcmp(self->buf, self->local, LEN));
}

/*
 * NO_FAULT maps the present pages: READs of them take no fault, while
 * READs of the pages it did not fault in do.
 */
TEST_F(prefetch, no_fault_maps_only_present_pages)
{
	unsigned long pages = LEN / PAGE, i;
	long long before;

	for (i = 0; i < pages; i += 3)
		self->buf[i * PAGE] = 1;
	ASSERT_EQ(0, advise(self, self->mr, IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
			    IBV_ADVISE_MR_FLAG_FLUSH, self->buf, LEN));
	before = faults(self);
	for (i = 0; i < pages; i += 3)
		ASSERT_EQ(IBV_WC_SUCCESS,
			  rdma_loop_read(&self->lp, self->lmr, self->local + i * PAGE,
					 self->mr, self->buf + i * PAGE, PAGE));
	ASSERT_EQ(before, faults(self));
	for (i = 1; i < pages; i += 3)
		ASSERT_EQ(IBV_WC_SUCCESS,
			  rdma_loop_read(&self->lp, self->lmr, self->local + i * PAGE,
					 self->mr, self->buf + i * PAGE, PAGE));
	ASSERT_LT(before, faults(self));
}

/* Without FLUSH the prefetch runs in the background, then RDMA is fault-free. */
TEST_F(prefetch, async_prefetch)
{
	long long prefetches = rdma_loop_counter(&self->lp, "odp_prefetches");
	long long before;
	int i;

	ASSERT_EQ(0, advise(self, self->mr, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0,
			    self->buf, LEN));
	for (i = 0; i < 500 && rdma_loop_counter(&self->lp, "odp_prefetches") == prefetches; i++)
		;
	ASSERT_LT(prefetches, rdma_loop_counter(&self->lp, "odp_prefetches"));
	before = faults(self);
	ASSERT_EQ(0, rdma_loop_stream(&self->lp, IBV_WR_RDMA_WRITE, self->lmr,
				      self->local, self->mr, self->buf, 65536,
				      LEN, LEN / 65536, 8));
	ASSERT_EQ(before, faults(self));
}

/* Implicit ODP MRs prefetch memory mapped after their registration. */
TEST_F(prefetch, implicit_mr)
{
	struct ibv_mr *imr = ibv_reg_mr(self->lp.pd, NULL, SIZE_MAX,
					IBV_ACCESS_LOCAL_WRITE |
					IBV_ACCESS_REMOTE_WRITE |
					IBV_ACCESS_ON_DEMAND);
	char *later = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long long before;

	ASSERT_NE(NULL, imr);
	ASSERT_NE(MAP_FAILED, later);
	madvise(later, LEN, MADV_NOHUGEPAGE);
	ASSERT_EQ(0, advise(self, imr, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			    IBV_ADVISE_MR_FLAG_FLUSH, later, LEN));
	before = faults(self);
	ASSERT_EQ(0, rdma_loop_stream(&self->lp, IBV_WR_RDMA_WRITE, self->lmr,
				      self->local, imr, later, 65536, LEN,
				      LEN / 65536, 8));
	ASSERT_EQ(before, faults(self));
	ASSERT_EQ(0, ibv_dereg_mr(imr));
	munmap(later, LEN);
}

/* The documented errors, each for its own reason. */
TEST_F(prefetch, errors)
{
	struct ibv_mr *ro = rdma_loop_reg(&self->lp, self->local, LEN, 0);
	struct ibv_mr *odp_ro;
	struct ibv_sge bad = { (uintptr_t)self->buf, PAGE, self->mr->lkey ^ 0xff00 };

	ASSERT_NE(NULL, ro);
	/* an lkey that is no MR of the PD */
	ASSERT_EQ(ENOENT, ibv_advise_mr(self->lp.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
					IBV_ADVISE_MR_FLAG_FLUSH, &bad, 1));
	/* a pinned MR */
	ASSERT_EQ(EINVAL, advise(self, ro, IBV_ADVISE_MR_ADVICE_PREFETCH,
				 IBV_ADVISE_MR_FLAG_FLUSH, self->local, PAGE));
	/* outside the MR */
	ASSERT_EQ(EFAULT, advise(self, self->mr, IBV_ADVISE_MR_ADVICE_PREFETCH,
				 IBV_ADVISE_MR_FLAG_FLUSH, self->buf + LEN - PAGE,
				 2 * PAGE));
	/* PREFETCH_WRITE on an MR without local write access */
	odp_ro = ibv_reg_mr(self->lp.pd, self->buf, LEN,
			    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, odp_ro);
	ASSERT_EQ(EPERM, advise(self, odp_ro, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				IBV_ADVISE_MR_FLAG_FLUSH, self->buf, PAGE));
	ASSERT_EQ(0, advise(self, odp_ro, IBV_ADVISE_MR_ADVICE_PREFETCH,
			    IBV_ADVISE_MR_FLAG_FLUSH, self->buf, PAGE));
	/* a writable MR over a read-only mapping: writing is refused */
	ASSERT_EQ(0, mprotect(self->buf, PAGE, PROT_READ));
	ASSERT_EQ(EPERM, advise(self, self->mr, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				IBV_ADVISE_MR_FLAG_FLUSH, self->buf, PAGE));
	ASSERT_EQ(0, advise(self, self->mr, IBV_ADVISE_MR_ADVICE_PREFETCH,
			    IBV_ADVISE_MR_FLAG_FLUSH, self->buf, PAGE));
	/* an unknown advice, an unknown flag */
	ASSERT_EQ(EOPNOTSUPP, advise(self, self->mr, 7, IBV_ADVISE_MR_FLAG_FLUSH,
				     self->buf, PAGE));
	ASSERT_EQ(EINVAL, advise(self, self->mr, IBV_ADVISE_MR_ADVICE_PREFETCH,
				 IBV_ADVISE_MR_FLAG_FLUSH << 1, self->buf, PAGE));
	/* nothing mapped behind the range: the fault fails */
	ASSERT_EQ(0, munmap(self->buf, LEN));
	ASSERT_EQ(EFAULT, advise(self, self->mr, IBV_ADVISE_MR_ADVICE_PREFETCH,
				 IBV_ADVISE_MR_FLAG_FLUSH, self->buf, PAGE));
	ibv_dereg_mr(odp_ro);
	ibv_dereg_mr(ro);
}

/* An untouched anonymous mapping of @len bytes with 4 KiB pages. */
static char *map_untouched(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/*
 * One call with 48 SGEs over two ODP MRs, in no particular order: every
 * range is mapped afterwards, so WRITEs over both MRs take no fault.
 */
TEST_F(prefetch, many_sges_over_two_mrs)
{
	size_t len2 = LEN / 2, n1 = LEN / CHUNK, n2 = len2 / CHUNK, i;
	struct ibv_sge sge[48];
	struct ibv_mr *mr2;
	long long before;
	char *buf2;

	ASSERT_EQ(ARRAY_SIZE(sge), n1 + n2);
	buf2 = map_untouched(len2);
	ASSERT_NE(NULL, buf2);
	mr2 = rdma_loop_reg(&self->lp, buf2, len2, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, mr2);
	/* the first MR backwards, the second one interleaved with it */
	for (i = 0; i < n1; i++)
		sge[i + (i < n2 ? i : n2)] = (struct ibv_sge){
			(uintptr_t)self->buf + (n1 - 1 - i) * CHUNK, CHUNK,
			self->mr->lkey };
	for (i = 0; i < n2; i++)
		sge[2 * i + 1] = (struct ibv_sge){
			(uintptr_t)buf2 + i * CHUNK, CHUNK, mr2->lkey };

	ASSERT_EQ(0, ibv_advise_mr(self->lp.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				   IBV_ADVISE_MR_FLAG_FLUSH, sge, ARRAY_SIZE(sge)));
	before = faults(self);
	memset(self->local, 0xa5, LEN);
	ASSERT_EQ(0, rdma_loop_stream(&self->lp, IBV_WR_RDMA_WRITE, self->lmr,
				      self->local, self->mr, self->buf, CHUNK,
				      LEN, n1, 8));
	ASSERT_EQ(0, rdma_loop_stream(&self->lp, IBV_WR_RDMA_WRITE, self->lmr,
				      self->local, mr2, buf2, CHUNK, len2, n2, 8));
	ASSERT_EQ(before, faults(self));
	ASSERT_EQ(0, memcmp(self->buf, self->local, LEN));
	ASSERT_EQ(0, memcmp(buf2, self->local, len2));
	ASSERT_EQ(0, ibv_dereg_mr(mr2));
	munmap(buf2, len2);
}

/*
 * An lkey of an ODP MR of another PD is no MR of this PD: ENOENT, and a
 * call is checked whole before anything is prefetched, sync or not.
 */
TEST_F(prefetch, lkey_of_another_pd)
{
	struct ibv_pd *pd2 = ibv_alloc_pd(self->lp.ctx);
	struct ibv_sge sge[2];
	struct ibv_mr *mr2;
	long long prefetches;

	ASSERT_NE(NULL, pd2);
	mr2 = ibv_reg_mr(pd2, self->buf, LEN, IBV_ACCESS_LOCAL_WRITE |
			 IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, mr2);
	sge[0] = (struct ibv_sge){ (uintptr_t)self->buf, LEN, self->mr->lkey };
	sge[1] = (struct ibv_sge){ (uintptr_t)self->buf, LEN, mr2->lkey };

	prefetches = rdma_loop_counter(&self->lp, "odp_prefetches");
	ASSERT_EQ(ENOENT, ibv_advise_mr(self->lp.pd,
					IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
					IBV_ADVISE_MR_FLAG_FLUSH, sge, 2));
	ASSERT_EQ(ENOENT, ibv_advise_mr(self->lp.pd,
					IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0,
					sge, 2));
	/* nor did anything run in the background */
	usleep(200 * 1000);
	ASSERT_EQ(prefetches, rdma_loop_counter(&self->lp, "odp_prefetches"));
	/* in its own PD the same lkey is fine */
	ASSERT_EQ(0, ibv_advise_mr(pd2, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				   IBV_ADVISE_MR_FLAG_FLUSH, &sge[1], 1));
	ASSERT_EQ(0, ibv_dereg_mr(mr2));
	ASSERT_EQ(0, ibv_dealloc_pd(pd2));
}

/* @len bytes of untouched memory aligned to a step; *@raw is for munmap(). */
static char *map_steps(size_t len, char **raw)
{
	*raw = map_untouched(len + STEP);
	if (!*raw)
		return NULL;
	return (char *)(((uintptr_t)*raw + STEP - 1) & ~(STEP - 1));
}

/*
 * Queue @calls asynchronous PREFETCH_WRITEs, one for each of as many equal
 * parts of @mr: prefetching a range again once it is mapped costs little,
 * so that each call has pages to fault in.
 */
static int queue_prefetches(struct ibv_pd *pd, struct ibv_mr *mr, int calls)
{
	unsigned int part = mr->length / calls;
	struct ibv_sge sge = { (uintptr_t)mr->addr, part, mr->lkey };
	int i, ret = 0;

	for (i = 0; i < calls && !ret; i++, sge.addr += part)
		ret = ibv_advise_mr(pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0,
				    &sge, 1);
	return ret;
}

/*
 * Deregistration with 1 GiB of prefetch work queued, one call whose work
 * goes through it in 16 steps of 64 MiB, one after the other: the work
 * stops at its next step, so dereg returns after a step or two (waiting
 * for all of it would be 16 steps, seconds in the bench guest), and no
 * prefetch of the MR runs after dereg has returned.
 */
TEST_F(prefetch, dereg_with_work_queued)
{
	long long start = rdma_loop_counter(&self->lp, "odp_prefetches");
	const size_t len = 16 * STEP;
	long long done, after;
	struct ibv_mr *mr;
	char *raw, *big;
	double t;

	big = map_steps(len, &raw);
	ASSERT_NE(NULL, big);
	mr = rdma_loop_reg(&self->lp, big, len, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, queue_prefetches(self->lp.pd, mr, 1));
	t = now_s();
	ASSERT_EQ(0, ibv_dereg_mr(mr));
	t = now_s() - t;
	done = rdma_loop_counter(&self->lp, "odp_prefetches") - start;
	TH_LOG("dereg after %lld of 16 prefetch steps: %.3f s", done, t);
	ASSERT_GT(8, done);
	ASSERT_LT(t, 10.0);
	after = rdma_loop_counter(&self->lp, "odp_prefetches");
	usleep(500 * 1000);
	ASSERT_EQ(after, rdma_loop_counter(&self->lp, "odp_prefetches"));
	munmap(raw, len + STEP);
}

/*
 * One asynchronous call over two MRs, a large one first: deregistering
 * the small one while the large one is being prefetched does not wait for
 * that (the work lets an MR being destroyed go at its next step).
 */
TEST_F(prefetch, dereg_one_mr_of_a_call)
{
	const size_t len = 16 * STEP;
	struct ibv_mr *big_mr, *small_mr;
	long long start, done;
	struct ibv_sge sge[2];
	char *raw, *big;
	double t;

	big = map_steps(len, &raw);
	ASSERT_NE(NULL, big);
	big_mr = rdma_loop_reg(&self->lp, big, len, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, big_mr);
	small_mr = rdma_loop_reg(&self->lp, self->buf, LEN, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, small_mr);
	sge[0] = (struct ibv_sge){ (uintptr_t)big, len, big_mr->lkey };
	sge[1] = (struct ibv_sge){ (uintptr_t)self->buf, LEN, small_mr->lkey };
	start = rdma_loop_counter(&self->lp, "odp_prefetches");
	ASSERT_EQ(0, ibv_advise_mr(self->lp.pd,
				   IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0, sge, 2));
	t = now_s();
	ASSERT_EQ(0, ibv_dereg_mr(small_mr));
	t = now_s() - t;
	done = rdma_loop_counter(&self->lp, "odp_prefetches") - start;
	TH_LOG("dereg of the second MR after %lld of 16 steps of the first: %.3f s",
	       done, t);
	/* waiting for the first MR's prefetch would take all 16 steps */
	ASSERT_GT(8, done);
	ASSERT_EQ(0, ibv_dereg_mr(big_mr));
	munmap(raw, len + STEP);
}

/* Wait up to 60 s for the odp_prefetches counter to reach @target. */
static long long wait_prefetches(struct rdma_loop *lp, long long target)
{
	double deadline = now_s() + 60;
	long long n;

	do
		n = rdma_loop_counter(lp, "odp_prefetches");
	while (n < target && now_s() < deadline);
	return n;
}

/*
 * The MR of a later SGE of a queued call is deregistered while the work
 * is on the first SGE's 16 steps, and the first MR stays: the work lets
 * the dead MR go, goes through all 16 steps, then skips the dead MR's
 * range (it once dereferenced the dropped MR there: an oops in the
 * kworker), and the device works on.
 */
/* 1 GiB of prefetch takes over 30 s on the KASAN kernel under TCG */
TEST_F_TIMEOUT(prefetch, dereg_mr_of_a_later_sge, 180)
{
	const size_t len = 16 * STEP;
	struct ibv_mr *big_mr, *small_mr;
	struct ibv_sge sge[2];
	long long start;
	char *raw, *big;

	big = map_steps(len, &raw);
	ASSERT_NE(NULL, big);
	big_mr = rdma_loop_reg(&self->lp, big, len, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, big_mr);
	small_mr = rdma_loop_reg(&self->lp, self->buf, LEN, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, small_mr);
	sge[0] = (struct ibv_sge){ (uintptr_t)big, len, big_mr->lkey };
	sge[1] = (struct ibv_sge){ (uintptr_t)self->buf, LEN, small_mr->lkey };
	start = rdma_loop_counter(&self->lp, "odp_prefetches");
	ASSERT_EQ(0, ibv_advise_mr(self->lp.pd,
				   IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0, sge, 2));
	ASSERT_EQ(0, ibv_dereg_mr(small_mr));
	ASSERT_LE(start + 16, wait_prefetches(&self->lp, start + 16));
	/* past the first range: the work reaches the second now */
	usleep(300 * 1000);
	ASSERT_EQ(start + 16, rdma_loop_counter(&self->lp, "odp_prefetches"));

	memset(self->local, 0x5a, PAGE);
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_loop_write(&self->lp, self->lmr, self->local,
						  big_mr, big + len - PAGE, PAGE));
	ASSERT_EQ(0, memcmp(big + len - PAGE, self->local, PAGE));
	ASSERT_EQ(0, ibv_dereg_mr(big_mr));
	munmap(raw, len + STEP);
}

struct dereg_later {
	struct rdma_loop *lp;
	struct ibv_mr *mr;
	long long after;
	int ret;
};

static void *dereg_after_first_step(void *arg)
{
	struct dereg_later *d = arg;

	wait_prefetches(d->lp, d->after);
	d->ret = ibv_dereg_mr(d->mr);
	return NULL;
}

/*
 * The same with a synchronous call (IBV_ADVISE_MR_FLAG_FLUSH) and another
 * thread deregistering the second SGE's MR during the first SGE's steps:
 * the dereg returns, the call ends with ENOENT for the MR that went away
 * (it once oopsed in the system call), and the first range is mapped.
 */
/* 1 GiB of prefetch takes over 30 s on the KASAN kernel under TCG */
TEST_F_TIMEOUT(prefetch, sync_call_loses_mr_of_a_later_sge, 180)
{
	const size_t len = 16 * STEP;
	struct dereg_later d = { .lp = &self->lp, .ret = -1 };
	struct ibv_mr *big_mr;
	struct ibv_sge sge[2];
	pthread_t thread;
	long long start;
	char *raw, *big;

	big = map_steps(len, &raw);
	ASSERT_NE(NULL, big);
	big_mr = rdma_loop_reg(&self->lp, big, len, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, big_mr);
	d.mr = rdma_loop_reg(&self->lp, self->buf, LEN, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, d.mr);
	sge[0] = (struct ibv_sge){ (uintptr_t)big, len, big_mr->lkey };
	sge[1] = (struct ibv_sge){ (uintptr_t)self->buf, LEN, d.mr->lkey };
	start = rdma_loop_counter(&self->lp, "odp_prefetches");
	d.after = start + 1;
	ASSERT_EQ(0, pthread_create(&thread, NULL, dereg_after_first_step, &d));
	ASSERT_EQ(ENOENT, ibv_advise_mr(self->lp.pd,
					IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
					IBV_ADVISE_MR_FLAG_FLUSH, sge, 2));
	pthread_join(thread, NULL);
	ASSERT_EQ(0, d.ret);
	ASSERT_EQ(start + 16, rdma_loop_counter(&self->lp, "odp_prefetches"));
	ASSERT_EQ(0, ibv_dereg_mr(big_mr));
	munmap(raw, len + STEP);
}

/*
 * PREFETCH_NO_FAULT over 64 GiB of PROT_NONE space, twice, through an ODP
 * MR: nothing is mapped, so the kernel keeps nothing (it once kept ~256
 * KiB of page arrays per 64 MiB chunk until dereg: 256 MiB per call).
 */
TEST_F_TIMEOUT(prefetch, no_fault_over_prot_none_keeps_no_memory, 300)
{
	const size_t len = 1024 * STEP, part = 16 * STEP;
	struct ibv_sge sge[64];
	long long before, grown;
	struct ibv_mr *mr;
	char *none;
	int i, round;

	none = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
		    MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, none);
	mr = rdma_loop_reg(&self->lp, none, len, IBV_ACCESS_ON_DEMAND);
	ASSERT_NE(NULL, mr) TH_LOG("%s", strerror(errno));
	for (i = 0; i < 64; i++)
		sge[i] = (struct ibv_sge){ (uintptr_t)none + i * part, part,
					   mr->lkey };
	before = kernel_memory();
	ASSERT_LT(0, before);
	for (round = 0; round < 2; round++)
		ASSERT_EQ(0, ibv_advise_mr(self->lp.pd,
					   IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
					   IBV_ADVISE_MR_FLAG_FLUSH, sge, 64));
	grown = kernel_memory() - before;
	TH_LOG("kernel memory after 2 x 64 GiB of PREFETCH_NO_FAULT: %+lld KiB",
	       grown / 1024);
	ASSERT_GT(32LL << 20, grown);
	ASSERT_EQ(0, ibv_dereg_mr(mr));
	munmap(none, len);
}

/*
 * A process that exits with prefetch work queued (its MRs, QPs and PD are
 * destroyed by the uverbs cleanup, not by the process): the exit does not
 * hang and the device goes on working.
 */
TEST_F(prefetch, exit_with_work_queued)
{
	int status;
	double t;
	pid_t pid;

	t = now_s();
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct rdma_loop lp = {};
		char *big = map_untouched(BIG);
		struct ibv_mr *mr;

		if (!big || rdma_loop_open(&lp))
			_exit(2);
		mr = rdma_loop_reg(&lp, big, BIG, IBV_ACCESS_ON_DEMAND);
		_exit(!mr || queue_prefetches(lp.pd, mr, 4) ? 3 : 0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	t = now_s() - t;
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	TH_LOG("exit with 256 MiB of prefetch queued: %.3f s", t);
	ASSERT_LT(t, 10.0);
	memset(self->local, 0x3c, PAGE);
	ASSERT_EQ(IBV_WC_SUCCESS, rdma_loop_write(&self->lp, self->lmr, self->local,
						  self->mr, self->buf, PAGE));
	ASSERT_EQ(0, memcmp(self->buf, self->local, PAGE));
}

struct unmapper {
	char *buf;
	atomic_bool stop;
};

static void *unmap_loop(void *arg)
{
	struct unmapper *u = arg;

	while (!atomic_load(&u->stop)) {
		munmap(u->buf, LEN);
		mmap(u->buf, LEN, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	}
	return NULL;
}

/* Prefetch racing with munmap/mmap: 0 or EFAULT, never a hang or oops. */
TEST_F_TIMEOUT(prefetch, racing_munmap, 120)
{
	struct unmapper u = { .buf = self->buf };
	pthread_t thread;
	int i, ret, others = 0;

	ASSERT_EQ(0, pthread_create(&thread, NULL, unmap_loop, &u));
	for (i = 0; i < 300; i++) {
		ret = advise(self, self->mr, i & 1 ? IBV_ADVISE_MR_ADVICE_PREFETCH :
			     IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			     i % 3 ? IBV_ADVISE_MR_FLAG_FLUSH : 0, self->buf, LEN);
		others += ret && ret != EFAULT;
	}
	atomic_store(&u.stop, true);
	pthread_join(thread, NULL);
	ASSERT_EQ(0, others);
	ASSERT_EQ(0, advise(self, self->mr, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			    IBV_ADVISE_MR_FLAG_FLUSH, self->buf, LEN));
}

TEST_HARNESS_MAIN
