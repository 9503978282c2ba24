/* A source or destination address as one 16-byte key: IPv6 as is, IPv4 mapped (::ffff:a.b.c.d),
 * so one table holds both families and a key compare is four word compares. */
#pragma once

#include "portcullis/compat.h"

struct pc_addr {
	__u32 w[4]; /* network byte order, as on the wire */
};

PC_INLINE void pc_addr_from_v4(struct pc_addr *a, __u32 v4_be)
{
	a->w[0] = 0;
	a->w[1] = 0;
	a->w[2] = pc_htonl(0x0000ffffu);
	a->w[3] = v4_be;
}

PC_INLINE int pc_addr_is_v4(const struct pc_addr *a)
{
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == pc_htonl(0x0000ffffu);
}

PC_INLINE int pc_addr_eq(const struct pc_addr *a, const struct pc_addr *b)
{
	return ((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) | (a->w[2] ^ b->w[2]) |
		(a->w[3] ^ b->w[3])) == 0;
}

/* The mask of a prefix of `bits` over one 32-bit word of the address (network byte order). */
PC_INLINE __u32 pc_prefix_mask_word(__s32 bits)
{
	if (bits <= 0)
		return 0;
	if (bits >= 32)
		return 0xffffffffu;
	return pc_htonl(0xffffffffu << (32 - bits));
}

/* Keeps the first `len` bits of the 128-bit (IPv4-mapped) address. */
PC_INLINE void pc_addr_mask(struct pc_addr *a, __u32 len)
{
	a->w[0] &= pc_prefix_mask_word((__s32)len);
	a->w[1] &= pc_prefix_mask_word((__s32)len - 32);
	a->w[2] &= pc_prefix_mask_word((__s32)len - 64);
	a->w[3] &= pc_prefix_mask_word((__s32)len - 96);
}

/* murmur3's finaliser: cheap, and every input bit moves every output bit. */
PC_INLINE __u32 pc_mix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* Multiplicative (Fibonacci) hashing: one multiply, the high bits are the well-mixed ones. */
#define PC_GOLDEN32 0x9e3779b1u

PC_INLINE __u32 pc_fib_bits(__u32 x, __u32 bits)
{
	return (__u32)(x * PC_GOLDEN32) >> (32 - bits);
}

/* The slot hash. The seed is random per run, so an attacker cannot aim spoofed sources at one
 * slot; the 96 high bits of an IPv4-mapped address are constant, so they get one cheap round. */
PC_INLINE __u32 pc_addr_hash(const struct pc_addr *a, __u32 seed)
{
	__u32 hi = a->w[0] ^ (a->w[1] * PC_GOLDEN32) ^ (a->w[2] * 0x85ebca6bu);

	return pc_mix32((a->w[3] ^ seed) + hi * 0xc2b2ae35u);
}

/* A cheap fold of a destination for the per-source bitmaps (not the slot hash). */
PC_INLINE __u32 pc_addr_fold(const struct pc_addr *a)
{
	return (a->w[0] ^ a->w[1] ^ a->w[2] ^ a->w[3]) * PC_GOLDEN32;
}
