/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel memory from /proc/meminfo, for the ODP tools' memory bounds, a
 * process's resident pages, their page frames and the frames' flags, and
 * whether there is swap.
 */
#ifndef ODP_MEMINFO_H
#define ODP_MEMINFO_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Slab + VmallocUsed in bytes, or -1: where the kernel keeps what it
 * allocates for an MR (page arrays, notifiers, xarray nodes). kmalloc()s
 * too large for a slab cache count as unreclaimable slab too.
 */
static inline long long kernel_memory(void)
{
	long long total = 0, kb;
	int found = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if ((sscanf(line, "Slab: %lld kB", &kb) == 1 ||
		     sscanf(line, "VmallocUsed: %lld kB", &kb) == 1)) {
			total += kb * 1024;
			found++;
		}
	}
	fclose(f);
	return found == 2 ? total : -1;
}

/* Whether the kernel has swap (tests/guest/run-all sets up zram). */
static inline bool have_swap(void)
{
	FILE *f = fopen("/proc/swaps", "r");
	char line[256];
	int lines = 0;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		lines++;
	fclose(f);
	/* a header, then a line per swap area */
	return lines > 1;
}

/* Resident pages of [p, p + len), by mincore(); (size_t)-1 on error. */
static inline size_t resident(const char *p, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t i, n = 0, pages = len / page;
	unsigned char *vec = calloc(pages, 1);

	if (!vec || mincore((void *)p, len, vec)) {
		free(vec);
		return (size_t)-1;
	}
	for (i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n;
}

/*
 * Page frame numbers of the @n pages at @p into @pfn (0 for a page not
 * present), from /proc/self/pagemap (the PFNs need CAP_SYS_ADMIN); 0, or
 * -1 on error.
 */
static inline int pfns_of(const char *p, size_t n, uint64_t *pfn)
{
	long page = sysconf(_SC_PAGESIZE);
	int fd = open("/proc/self/pagemap", O_RDONLY);
	off_t at = (uintptr_t)p / page * sizeof(uint64_t);
	ssize_t len = n * sizeof(uint64_t);
	size_t i;

	if (fd < 0)
		return -1;
	if (pread(fd, pfn, len, at) != len) {
		close(fd);
		return -1;
	}
	close(fd);
	/* bit 63: present; bits 54-0: the PFN */
	for (i = 0; i < n; i++)
		pfn[i] = (pfn[i] >> 63) ? pfn[i] & ((1ULL << 55) - 1) : 0;
	return 0;
}

/* /proc/kpageflags bits (the kernel's kernel-page-flags.h; root reads them) */
#define KPF_THP_BIT		22
#define KPF_RESERVED_BIT	32

/* The kpageflags words of the @n frames from @pfn into @flags: 0 or -1. */
static inline int kpageflags_of(uint64_t pfn, size_t n, uint64_t *flags)
{
	int fd = open("/proc/kpageflags", O_RDONLY);
	ssize_t len = n * sizeof(*flags);
	ssize_t got;

	if (fd < 0)
		return -1;
	got = pread(fd, flags, len, pfn * sizeof(*flags));
	close(fd);
	return got == len ? 0 : -1;
}

#endif
