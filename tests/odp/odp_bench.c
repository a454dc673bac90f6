// SPDX-License-Identifier: GPL-2.0
/*
 * usage: odp_bench [-m MSG_BYTES] [-n MESSAGES] [-t FIRST_TOUCH_MIB]
 *
 * Benchmarks of On-Demand Paging MRs against pinned ones, on rxe0 (one
 * VM run; numbers, not pass/fail):
 *   registration  ODP over 4 GiB and 256 MiB (best of ten) vs pinned 256 MiB
 *   first touch   RDMA WRITE over an untouched ODP buffer vs the same
 *                 buffer once present, per 4 KiB page faulted, next to
 *                 the CPU's own first touch of a fresh buffer
 *   steady state  RDMA WRITE and READ bandwidth into/out of an ODP MR with
 *                 its pages present vs a pinned MR over the same buffer
 *                 (alternating, order swapped every round, best of five)
 *   prefetch      ibv_advise_mr(PREFETCH_WRITE, FLUSH) of the first-touch
 *                 size vs MADV_POPULATE_WRITE of the same size (needs our
 *                 provider: RDMAV_DRIVERS)
 * Output: one "bench <name> <value> <unit>" line per figure.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "rdma_loop.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define STEADY_SPAN	(16UL << 20)
#define FIRST_TOUCH_PAIRS	3
#define DEPTH		16

static char *map_anon(size_t len, int flags)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

static struct ibv_mr *reg_timed(struct rdma_loop *lp, void *p, size_t len,
				int access, double *seconds)
{
	double t = now_s();
	struct ibv_mr *mr = rdma_loop_reg(lp, p, len, access);

	*seconds = now_s() - t;
	if (!mr) {
		perror("ibv_reg_mr");
		exit(1);
	}
	return mr;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of @n values; sorts them. */
static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double stream(struct rdma_loop *lp, enum ibv_wr_opcode op,
		     struct ibv_mr *lmr, struct ibv_mr *rmr, uint32_t msg,
		     size_t span, unsigned int count)
{
	double t = now_s();
	int st = rdma_loop_stream(lp, op, lmr, lmr->addr, rmr, rmr->addr, msg,
				  span, count, DEPTH);

	if (st) {
		fprintf(stderr, "stream failed: status %d\n", st);
		exit(1);
	}
	return now_s() - t;
}

/* Best of @reps ODP registrations of [p, p + len), in seconds. */
static double reg_odp_best(struct rdma_loop *lp, void *p, size_t len, int reps)
{
	double best = 1e9, t;

	while (reps--) {
		ibv_dereg_mr(reg_timed(lp, p, len, IBV_ACCESS_ON_DEMAND, &t));
		best = t < best ? t : best;
	}
	return best;
}

static void registration(struct rdma_loop *lp)
{
	size_t big = 4UL << 30, small = 256UL << 20;
	char *p_big = map_anon(big, MAP_NORESERVE);
	char *p_small = map_anon(small, 0);
	double t_big, t_small, t_pin;

	/* alternate sizes so that neither gets the first-call costs */
	t_small = reg_odp_best(lp, p_small, small, 5);
	t_big = reg_odp_best(lp, p_big, big, 5);
	t_small = fmin(t_small, reg_odp_best(lp, p_small, small, 5));
	ibv_dereg_mr(reg_timed(lp, p_small, small, 0, &t_pin));
	printf("bench reg_odp_4GiB %.1f us\n", t_big * 1e6);
	printf("bench reg_odp_256MiB %.1f us\n", t_small * 1e6);
	printf("bench reg_pinned_256MiB %.1f us\n", t_pin * 1e6);
	munmap(p_big, big);
	munmap(p_small, small);
}

static void first_touch(struct rdma_loop *lp, struct ibv_mr *lmr, size_t len,
			uint32_t msg)
{
	unsigned int count = len / msg;
	long page = sysconf(_SC_PAGESIZE);
	double t_cold[FIRST_TOUCH_PAIRS], t_warm[FIRST_TOUCH_PAIRS];
	double t_diff[FIRST_TOUCH_PAIRS], t_cpu, t_pop, t_pf;
	long long faults = 0;
	unsigned int i;
	int ret;
	struct ibv_mr *mr;
	char *p;

	/*
	 * A cold pass (every page faulted in) and a warm one over the same
	 * MR, FIRST_TOUCH_PAIRS times over fresh memory: the cost of a fault
	 * is the median of the pairs' differences, each taken within a few
	 * seconds, which damps the emulator's drift.
	 */
	for (i = 0; i < FIRST_TOUCH_PAIRS; i++) {
		long long f;

		p = map_anon(len, 0);
		madvise(p, len, MADV_NOHUGEPAGE);
		mr = rdma_loop_reg(lp, p, len, IBV_ACCESS_ON_DEMAND);
		f = rdma_loop_counter(lp, "odp_faults");
		t_cold[i] = stream(lp, IBV_WR_RDMA_WRITE, lmr, mr, msg, len, count);
		faults = rdma_loop_counter(lp, "odp_faults") - f;
		t_warm[i] = stream(lp, IBV_WR_RDMA_WRITE, lmr, mr, msg, len, count);
		t_diff[i] = t_cold[i] - t_warm[i];
		ibv_dereg_mr(mr);
		munmap(p, len);
	}

	p = map_anon(len, 0);
	madvise(p, len, MADV_NOHUGEPAGE);
	t_cpu = now_s();
	memset(p, 1, len);
	t_cpu = now_s() - t_cpu;
	munmap(p, len);

	p = map_anon(len, 0);
	madvise(p, len, MADV_NOHUGEPAGE);
	t_pop = now_s();
	madvise(p, len, MADV_POPULATE_WRITE);
	t_pop = now_s() - t_pop;
	munmap(p, len);

	/* prefetch (ibv_advise_mr, synchronous) vs the CPU populating */
	p = map_anon(len, 0);
	madvise(p, len, MADV_NOHUGEPAGE);
	mr = rdma_loop_reg(lp, p, len, IBV_ACCESS_ON_DEMAND);
	{
		struct ibv_sge sge = { (uintptr_t)p, len, mr->lkey };

		t_pf = now_s();
		ret = ibv_advise_mr(lp->pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				    IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
		t_pf = now_s() - t_pf;
	}
	ibv_dereg_mr(mr);
	munmap(p, len);

	printf("bench first_touch_MiB %zu MiB\n", len >> 20);
	printf("bench first_touch_odp_faults %lld faults\n", faults);
	printf("bench first_touch_cold_write %.3f s (median of %d)\n",
	       median(t_cold, FIRST_TOUCH_PAIRS), FIRST_TOUCH_PAIRS);
	printf("bench first_touch_warm_write %.3f s (median of %d)\n",
	       median(t_warm, FIRST_TOUCH_PAIRS), FIRST_TOUCH_PAIRS);
	printf("bench first_touch_fault_cost_per_page %.2f us (median of %d pairs)\n",
	       median(t_diff, FIRST_TOUCH_PAIRS) / (len / page) * 1e6,
	       FIRST_TOUCH_PAIRS);
	printf("bench cpu_first_touch_per_page %.2f us\n", t_cpu / (len / page) * 1e6);
	printf("bench cpu_populate_write_per_page %.2f us\n",
	       t_pop / (len / page) * 1e6);
	if (ret)
		printf("bench prefetch_write_sync unsupported (errno %d)\n", ret);
	else
		printf("bench prefetch_write_sync %.3f s, %.2f x MADV_POPULATE_WRITE\n",
		       t_pf, t_pf / t_pop);
}

static void steady_state(struct rdma_loop *lp, struct ibv_mr *lmr,
			 uint32_t msg, unsigned int count)
{
	static const struct { const char *name; enum ibv_wr_opcode op; } ops[] = {
		{ "write", IBV_WR_RDMA_WRITE }, { "read", IBV_WR_RDMA_READ },
	};
	/*
	 * Both MRs over the same buffer: the same pages, caches and NUMA
	 * placement, so that only the MR type differs.
	 */
	char *p = map_anon(STEADY_SPAN, MAP_POPULATE);
	struct ibv_mr *odp = rdma_loop_reg(lp, p, STEADY_SPAN,
					   IBV_ACCESS_ON_DEMAND);
	struct ibv_mr *pin = rdma_loop_reg(lp, p, STEADY_SPAN, 0);
	unsigned int i, r;

	/* fault the ODP buffer in through the MR first */
	stream(lp, IBV_WR_RDMA_WRITE, lmr, odp, msg, STEADY_SPAN,
	       STEADY_SPAN / msg);
	for (i = 0; i < 2; i++) {
		double best_odp = 1e9, best_pin = 1e9, t;
		long long faults = 0, invals = 0;

		/*
		 * Alternate, the order swapped every round, best of five
		 * each, to damp emulation noise and order effects.
		 */
		for (r = 0; r < 10; r++) {
			bool odp_turn = (r & 1) ^ ((r >> 1) & 1);
			long long f = rdma_loop_counter(lp, "odp_faults");
			long long v = rdma_loop_counter(lp, "odp_invalidations");

			t = stream(lp, ops[i].op, lmr, odp_turn ? odp : pin, msg,
				   STEADY_SPAN, count);
			if (odp_turn) {
				best_odp = t < best_odp ? t : best_odp;
				faults += rdma_loop_counter(lp, "odp_faults") - f;
				invals += rdma_loop_counter(lp,
						"odp_invalidations") - v;
			} else {
				best_pin = t < best_pin ? t : best_pin;
			}
		}
		printf("bench steady_%s_pinned %.1f MiB/s\n", ops[i].name,
		       (double)msg * count / best_pin / (1 << 20));
		printf("bench steady_%s_odp %.1f MiB/s\n", ops[i].name,
		       (double)msg * count / best_odp / (1 << 20));
		printf("bench steady_%s_ratio %.3f odp/pinned\n", ops[i].name,
		       best_pin / best_odp);
		/*
		 * The pages stay present: what the ODP turns still faulted
		 * (after invalidations by NUMA balancing, THP collapse...)
		 */
		printf("bench steady_%s_odp_faults %lld faults, %lld invalidations (5 runs)\n",
		       ops[i].name, faults, invals);
	}
	ibv_dereg_mr(odp);
	ibv_dereg_mr(pin);
	munmap(p, STEADY_SPAN);
}

int main(int argc, char **argv)
{
	size_t touch = 256UL << 20;
	unsigned int count = 2000;
	uint32_t msg = 65536;
	struct rdma_loop lp;
	struct ibv_mr *lmr;
	char *local;
	int opt;

	while ((opt = getopt(argc, argv, "m:n:t:")) != -1) {
		switch (opt) {
		case 'm': msg = strtoul(optarg, NULL, 0); break;
		case 'n': count = strtoul(optarg, NULL, 0); break;
		case 't': touch = strtoul(optarg, NULL, 0) << 20; break;
		default:
			fprintf(stderr, "usage: odp_bench [-m MSG_BYTES] [-n MESSAGES] [-t FIRST_TOUCH_MIB]\n");
			return 2;
		}
	}
	if (!msg || touch % msg || STEADY_SPAN % msg) {
		fprintf(stderr, "odp_bench: -m must divide 16 MiB and -t\n");
		return 2;
	}
	if (rdma_loop_open(&lp)) {
		perror("odp_bench: opening the RDMA device");
		return 1;
	}
	local = map_anon(touch, MAP_POPULATE);
	lmr = rdma_loop_reg(&lp, local, touch, 0);
	if (!lmr) {
		perror("ibv_reg_mr");
		return 1;
	}
	registration(&lp);
	first_touch(&lp, lmr, touch, msg);
	steady_state(&lp, lmr, msg, count);
	ibv_dereg_mr(lmr);
	rdma_loop_close(&lp);
	return 0;
}
