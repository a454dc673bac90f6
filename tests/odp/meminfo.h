/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel memory from /proc/meminfo, for the ODP tools' memory bounds. */
#ifndef ODP_MEMINFO_H
#define ODP_MEMINFO_H

#include <stdio.h>
#include <string.h>

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

#endif
