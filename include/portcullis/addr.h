/* A source or destination address as one 16-byte key: IPv6 as is, IPv4 mapped (::ffff:a.b.c.d),
 * so one table holds both families and a key compare is four word compares. */
#pragma once

#include "portcullis/compat.h"

struct pc_addr {
	__u32 w[4]; /* network byte order, as on the wire */
};

/* Sets the address from its first and last 8 bytes (as in memory): one store each where a is
 * known to be 8-byte aligned, as in struct pc_packet. The key is copied and compared in 64-bit
 * words, and a 64-bit load of two separate 32-bit stores cannot be forwarded from the store
 * buffer. */
PC_INLINE void pc_addr_set_halves(struct pc_addr *a, __u64 first, __u64 last)
{
	__builtin_memcpy(&a->w[0], &first, 8);
	__builtin_memcpy(&a->w[2], &last, 8);
}

PC_INLINE void pc_addr_from_v4(struct pc_addr *a, __u32 v4_be)
{
	__u32 mapped[2] = { pc_htonl(0x0000ffffu), v4_be };
	__u64 last;

	__builtin_memcpy(&last, mapped, 8);
	pc_addr_set_halves(a, 0, last);
}

PC_INLINE int pc_addr_is_v4(const struct pc_addr *a)
{
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == pc_htonl(0x0000ffffu);
}

/* Equality of two addresses that are both 8-byte aligned (a slot's key, a lookup's): two 64-bit
 * compares instead of four. */
PC_INLINE int pc_addr_eq_aligned(const struct pc_addr *a, const struct pc_addr *b)
{
	const __u64 *x = (const __u64 *)__builtin_assume_aligned(a, 8);
	const __u64 *y = (const __u64 *)__builtin_assume_aligned(b, 8);
	__u64 x0, x1, y0, y1;

	__builtin_memcpy(&x0, x, 8);
	__builtin_memcpy(&x1, x + 1, 8);
	__builtin_memcpy(&y0, y, 8);
	__builtin_memcpy(&y1, y + 1, 8);
	return ((x0 ^ y0) | (x1 ^ y1)) == 0;
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

/* The slot hash: the address folded to one word (an IPv4-mapped address folds to its last
 * word), xored with the run's random seed, and hashed by multiply-shift (the high half of a
 * 64-bit product, Dietzfelbinger's scheme). The seed keeps an attacker from aiming spoofed
 * sources at one slot. An XDP packet waits on the chain address -> hash -> slot -> the slot's
 * flags, and this is one multiply of it (murmur's finaliser was three more steps; with the
 * parser's one-load reads this saved 4 ns a packet, the early-return variants put most of it
 * here). */
PC_INLINE __u32 pc_hash_last_word(__u32 last, __u32 rest, __u32 seed)
{
	return (__u32)(((__u64)(last ^ seed ^ rest) * 0x9e3779b97f4a7c15ull) >> 32);
}

PC_INLINE __u32 pc_addr_hash(const struct pc_addr *a, __u32 seed)
{
	__u32 rest = (a->w[0] * PC_GOLDEN32) ^ (a->w[1] * 0x85ebca6bu) ^
		     ((a->w[2] ^ pc_htonl(0x0000ffffu)) * 0xc2b2ae35u);

	return pc_hash_last_word(a->w[3], rest, seed);
}

/* pc_addr_hash of the IPv4-mapped address of v4_be: its first three words hash to 0. */
PC_INLINE __u32 pc_v4_hash(__u32 v4_be, __u32 seed)
{
	return pc_hash_last_word(v4_be, 0, seed);
}

/* A cheap fold of a destination for the per-source bitmaps (not the slot hash). */
PC_INLINE __u32 pc_addr_fold(const struct pc_addr *a)
{
	return (a->w[0] ^ a->w[1] ^ a->w[2] ^ a->w[3]) * PC_GOLDEN32;
}
