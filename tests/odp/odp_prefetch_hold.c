// SPDX-License-Identifier: GPL-2.0
/*
 * usage: odp_prefetch_hold MIB CALLS
 *
 * A helper for tests/guest/test_teardown.py, not a test itself: registers
 * an ODP MR of MIB MiB (untouched memory), queues one asynchronous
 * PREFETCH_WRITE for each of CALLS equal parts of it (each has pages to
 * fault in), prints "queued" and then holds the device
 * open until its standard input reaches EOF. It exits without destroying
 * anything, so that the kernel cleans up whatever work is still queued.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rdma_loop.h"

static void print_usage(void)
{
	fprintf(stderr, "usage: odp_prefetch_hold MIB CALLS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct rdma_loop lp = {};
	unsigned long mib;
	struct ibv_sge sge;
	struct ibv_mr *mr;
	char c, *buf;
	int calls, i, ret;

	if (argc != 3)
		print_usage();
	mib = strtoul(argv[1], NULL, 0);
	calls = atoi(argv[2]);
	if (!mib || calls <= 0)
		print_usage();

	buf = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (buf == MAP_FAILED || rdma_loop_open(&lp)) {
		perror("odp_prefetch_hold: setup");
		return 1;
	}
	mr = rdma_loop_reg(&lp, buf, mib << 20, IBV_ACCESS_ON_DEMAND);
	if (!mr) {
		perror("odp_prefetch_hold: ODP registration");
		return 1;
	}
	sge = (struct ibv_sge){ (uintptr_t)buf, (mib << 20) / calls, mr->lkey };
	for (i = 0; i < calls; i++, sge.addr += sge.length) {
		ret = ibv_advise_mr(lp.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0,
				    &sge, 1);
		if (ret) {
			fprintf(stderr, "odp_prefetch_hold: advise_mr: %s\n",
				strerror(ret));
			return 1;
		}
	}
	printf("queued\n");
	fflush(stdout);
	while (read(STDIN_FILENO, &c, 1) > 0)
		;
	return 0;
}
