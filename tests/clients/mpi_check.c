// SPDX-License-Identifier: GPL-2.0
/*
 * usage: mpirun -np 2 mpi_check [MAX_BYTES]
 *
 * An Open MPI client for the real-clients suite (tests/guest/test_clients.py):
 * rank 0 and rank 1 exchange messages of 1 KiB to MAX_BYTES (default 4 MiB)
 * in both directions, from buffers that no one has touched before the first
 * send (so that an ODP transport faults them in), each message with its own
 * pattern, and each receiver checks every byte. Large messages go through
 * UCX's rendezvous protocol, i.e. RDMA on the registered buffers.
 *
 * Prints "mpi_check: N messages checked, M mismatches" on rank 0 and exits
 * non-zero on a mismatch.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static unsigned char pattern(size_t i, unsigned int seq)
{
	return (unsigned char)(i * 31 + (i >> 12) + seq * 7 + 1);
}

static void fill(unsigned char *buf, size_t len, unsigned int seq)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern(i, seq);
}

static long check(const unsigned char *buf, size_t len, unsigned int seq)
{
	long bad = 0;
	size_t i;

	for (i = 0; i < len; i++)
		bad += buf[i] != pattern(i, seq);
	return bad;
}

int main(int argc, char **argv)
{
	size_t max = argc > 1 ? strtoull(argv[1], NULL, 0) : 4UL << 20;
	long bad = 0, total_bad = 0, checked = 0;
	unsigned char *buf;
	unsigned int seq = 0;
	int rank, size;
	size_t len;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size != 2 || max < 1024) {
		if (!rank)
			fprintf(stderr, "usage: mpirun -np 2 mpi_check [MAX_BYTES >= 1024]\n");
		MPI_Finalize();
		return 2;
	}
	/* fresh anonymous pages: not faulted in until MPI uses them */
	buf = mmap(NULL, max, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		MPI_Abort(MPI_COMM_WORLD, 1);
	}

	for (len = 1024; len <= max; len *= 4, seq += 2) {
		if (rank == 0) {
			fill(buf, len, seq);
			MPI_Send(buf, (int)len, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
			MPI_Recv(buf, (int)len, MPI_BYTE, 1, 0, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
			bad += check(buf, len, seq + 1);
		} else {
			MPI_Recv(buf, (int)len, MPI_BYTE, 0, 0, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
			bad += check(buf, len, seq);
			fill(buf, len, seq + 1);
			MPI_Send(buf, (int)len, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
		}
		checked++;
	}

	MPI_Reduce(&bad, &total_bad, 1, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
	if (rank == 0) {
		printf("mpi_check: %ld messages checked, %ld mismatches\n",
		       2 * checked, total_bad);
		fflush(stdout);
	}
	munmap(buf, max);
	MPI_Finalize();
	return total_bad ? 1 : 0;
}
