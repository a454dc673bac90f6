/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test data for the ODP tools: every 8-byte word of a buffer holds a value
 * made from a seed and the word's offset in the buffer (or file), so that
 * stale data (another seed), misplaced data (another offset) and zeroes
 * are all told apart from the expected contents.
 */
#ifndef ODP_PATTERN_H
#define ODP_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t pattern_word(uint64_t seed, size_t off)
{
	return ((seed + 1) << 48) ^ ((off / 8 + 1) * 0xff51afd7ed558ccdULL);
}

/* Fill @p, which stands for bytes [off, off + len), with @seed's pattern. */
static inline void pattern_fill(void *p, size_t off, size_t len, uint64_t seed)
{
	uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = pattern_word(seed, off + 8 * i);
}

/* Offset of the first word of @p (bytes [off, off + len)) that is wrong, or -1. */
static inline long pattern_bad(const void *p, size_t off, size_t len,
			       uint64_t seed)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i] != pattern_word(seed, off + 8 * i))
			return off + 8 * i;
	return -1;
}

/* Offset of the first non-zero word of @p (bytes [off, off + len)), or -1. */
static inline long pattern_nonzero(const void *p, size_t off, size_t len)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i])
			return off + 8 * i;
	return -1;
}

#endif
