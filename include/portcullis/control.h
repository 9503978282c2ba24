/* The maps the controller writes and the XDP program reads: blocklist, allowlist, control. */
#pragma once

#include "portcullis/addr.h"

/* Value of the `pc_blocklist` hash map (exact addresses, keyed by struct pc_addr) and of the
 * `pc_blockprefix` LPM trie (CIDR prefixes, keyed by struct pc_prefix_key). */
struct pc_block {
	__u64 expires;  /* jiffies; 0 = permanent. The XDP program checks it itself, so a block ends
			 * on time even while no controller runs. */
	__u64 created;  /* jiffies */
	__u64 drops;    /* packets dropped under this entry */
	__u32 reason;   /* an automatic block's offense number (1, 2, ...); 0: manual or the fleet's */
	__u32 flags;    /* enum pc_block_flags */
};

enum pc_block_flags {
	/* Made on this host by `portcullis block --fleet`: the fleet's as well as this host's, so
	 * this host's watch publishes it again whenever Redis comes back (it may have lost it). */
	PC_BLOCK_FLEET = 1,
};

/* Key of the `pc_allowlist` and `pc_blockprefix` LPM tries. */
struct pc_prefix_key {
	__u32 prefixlen; /* host byte order; over the 128-bit mapped address */
	struct pc_addr addr;
};

#define PC_DST_LENS 4 /* distinct prefix lengths --dst-ip may use */

/* Single entry of the `pc_control` array. Sources cache their allow/block status per
 * generation, so the common packet pays no hash or trie lookup; whoever changes the blocklist or
 * allowlist (the watch, the operator's `portcullis block`) moves `gen` on. The entry is mapped
 * into user space and written field by field with atomic stores, never replaced whole. */
struct pc_control {
	__u32 gen;
	__u32 nr_blocks; /* 0 lets untracked sources skip the blocklist lookup */
	__u32 nr_allow;  /* 0 lets untracked sources skip the allowlist lookup */
	__u32 hash_seed; /* the source-table seed the attached program was built with: a restarted
			  * controller reuses it, or the pinned table's slots would move */
	__u32 dst_filter; /* nonzero: only packets to destinations in dst_bloom are watched */
	__u32 nr_prefix_blocks; /* 0 lets every packet skip the prefix-blocklist trie */
	__u64 dst_bloom[4]; /* 256-bit Bloom filter (one hash) of the protected destinations
			     * (addresses, or prefixes masked to their length), kept current by the
			     * controller as interface addresses change */
	__u8 dst_lens[PC_DST_LENS]; /* the protected prefixes' lengths over the 128-bit mapped
				     * address, longest first (128: an address; 0: unused) */
	__u32 table_format; /* PC_TABLE_FORMAT of the build whose program fills the pinned
			     * evidence tables (0: a build from before the stamp) */
};

/* Where and how the evidence tables hold a source: the slot hash, the tiers' indexes and the
 * slot layout. Moves on whenever any of them changes, so that a watch adopting pins left by
 * another build (--persist, or killed, then upgraded) starts the evidence afresh instead of
 * looking for every source where that build did not put it. Blocks and allows are kept.
 * 3: the slot tags became mappable (the controller's poll skips empty pairs through them). */
#define PC_TABLE_FORMAT 3

PC_INLINE __u32 pc_dst_bloom_bit(const struct pc_addr *dst)
{
	return pc_addr_fold(dst) >> 24;
}

/* Whether the packet is addressed to a protected destination (or no filter is set): the
 * destination masked to each protected length, looked up in the Bloom filter. A host's own
 * addresses are one length (128); a gateway's --dst-ip 10.0.0.0/16 adds one more. */
PC_INLINE int pc_dst_watched(const struct pc_control *ctl, const struct pc_addr *dst)
{
	int i;

	if (!ctl->dst_filter)
		return 1;
	for (i = 0; i < PC_DST_LENS; i++) {
		struct pc_addr masked = *dst;
		__u32 len = ctl->dst_lens[i];
		__u32 bit;

		if (!len)
			break;
		pc_addr_mask(&masked, len);
		bit = pc_dst_bloom_bit(&masked);
		if (ctl->dst_bloom[bit >> 6] & (1ull << (bit & 63)))
			return 1;
	}
	return 0;
}
