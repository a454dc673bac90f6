/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Files for the ODP tools: small sysfs/procfs files read and written,
 * and files on a file system made for one test, for the tools that
 * register MAP_SHARED file mappings (odp_dax: FS-DAX; odp_file: the page
 * cache): mapping a file at a 2 MiB aligned address, and what read(2)
 * gives back compared with pattern.h's data.
 */
#ifndef ODP_FSFILE_H
#define ODP_FSFILE_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pattern.h"

#define FSFILE_ALIGN	(2UL << 20)

/* First line of a small (sysfs) file without its newline, "" on error. */
static inline void read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = 0;
	if (!f)
		return;
	if (!fgets(buf, len, f))
		buf[0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

/* The number a small (sysfs, procfs) file at @path holds, or -1. */
static inline long file_long(const char *path)
{
	long val = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &val) != 1)
		val = -1;
	fclose(f);
	return val;
}

/* Write @val to the small (sysfs, cgroup) file at @path: 0 or -1. */
static inline int file_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

/* Detach every mount of block device @dev that a killed test left behind. */
static inline void umount_stale(const char *dev)
{
	char src[256], dir[256];
	FILE *f = fopen("/proc/mounts", "r");

	if (!f)
		return;
	while (fscanf(f, "%255s %255s %*[^\n]", src, dir) == 2)
		if (!strcmp(src, dev))
			umount2(dir, MNT_DETACH);
	fclose(f);
}

/* MAP_SHARED mapping of @len bytes of @fd at a 2 MiB aligned address. */
static inline char *map_aligned(int fd, size_t len)
{
	char *p = mmap(NULL, len + FSFILE_ALIGN, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *at;

	if (p == MAP_FAILED)
		return p;
	at = (char *)(((uintptr_t)p + FSFILE_ALIGN - 1) & ~(FSFILE_ALIGN - 1));
	if (at > p)
		munmap(p, at - p);
	munmap(at + len, p + len + FSFILE_ALIGN - (at + len));
	return mmap(at, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		    fd, 0);
}

/* The first @len bytes of @fd by pread(2), in a new buffer (NULL if short). */
static inline char *slurp(int fd, size_t len)
{
	char *buf = malloc(len);
	size_t got = 0;
	ssize_t n;

	while (buf && got < len) {
		n = pread(fd, buf + got, len - got, got);
		if (n <= 0) {
			free(buf);
			return NULL;
		}
		got += n;
	}
	return buf;
}

/*
 * First offset of [off, off + len) of @fd where read(2) does not give
 * @seed's pattern (or, for @seed < 0, a non-zero word): -1 if none, -2 if
 * the file could not be read.
 */
static inline long file_mismatch(int fd, size_t off, size_t len, int64_t seed)
{
	char *buf = slurp(fd, off + len);
	long bad;

	if (!buf)
		return -2;
	if (seed < 0)
		bad = pattern_nonzero(buf + off, off, len);
	else
		bad = pattern_bad(buf + off, off, len, seed);
	free(buf);
	return bad;
}

static inline long file_bad_at(int fd, size_t off, size_t len, uint64_t seed)
{
	return file_mismatch(fd, off, len, seed);
}

static inline long file_nonzero_at(int fd, size_t off, size_t len)
{
	return file_mismatch(fd, off, len, -1);
}

/* 512-byte blocks allocated to @fd, or -1. */
static inline long long blocks_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? -1 : (long long)st.st_blocks;
}

#endif
