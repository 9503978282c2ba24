/* The admission tier: where every source starts, in a few bytes, until it shows evidence.
 *
 * On a busy server almost every source is a client whose packets all go to one (destination,
 * port), or a spoofed address that sends one or two SYNs. Neither earns a full slot (source.h):
 * they live here, 40 bytes each, in a fixed array of two-way buckets. A source that reaches
 * `admit_targets` distinct targets (or sends an illegal flag combination) is promoted to the
 * source table, taking the slot of a weaker holder. One that cannot (both holders stronger)
 * keeps counting here, so no scanner is ever invisible: the controller reads this array,
 * reports a source with many targets, and can ask for its promotion (PC_ADMIT_PROMOTE).
 *
 * Sources that hold no full slot are also counted, distinct, in a HyperLogLog per CPU
 * (struct pc_sketch): "untracked sources", not packets. */
#pragma once

#include "portcullis/addr.h"

#define PC_ADMIT_DEFAULT (4 * 16384) /* entries; a power of two */
#define PC_ADMIT_TARGET_BITS 64

enum pc_admit_flags {
	PC_ADMIT_USED = 1 << 3,    /* the entry holds a source */
	PC_ADMIT_PROMOTE = 1 << 0, /* set by the controller: promote on the next packet */
	PC_ADMIT_ILLEGAL = 1 << 1, /* sent an illegal flag combination */
	PC_ADMIT_STUCK = 1 << 2,   /* reached the promotion bar but every holder was stronger */
	PC_ADMIT_OFFERED = 1 << 4, /* the host sent it a SYN-ACK (egress) */
	PC_ADMIT_RESET = 1 << 5,   /* it then sent an RST: a half-open probe (a SYN scan) */
	PC_ADMIT_ACKED = 1 << 6,   /* it then sent an ACK: a completed handshake */
};

/* The flags that make an entry more than a source's first packets. */
#define PC_ADMIT_EVIDENCE_FLAGS (PC_ADMIT_PROMOTE | PC_ADMIT_ILLEGAL | PC_ADMIT_STUCK)

struct pc_admit {
	__u64 targets;       /* bitmap of hashed (destination, port or protocol) targets */
	struct pc_addr key;  /* network byte order; the aggregated source */
	__u32 seq;           /* seqlock, as in struct pc_src_state */
	__u32 last_seen;     /* low 32 bits of the ticks: compared with wrap-safe arithmetic */
	__u16 score;         /* port weights of its distinct targets, carried into its first score
			      * window when it is promoted within one */
	__u8 rejects;        /* probes the host rejected (RST, unreachable), from the egress side;
			      * saturates */
	__u8 flags;          /* enum pc_admit_flags */
	__u16 first_ports[2]; /* host byte order: the ports of its first two port probes (0 = none),
			       * marked in the slot at promotion so their repeats count once */
};

/* The first-packet tier, in front of the admission tier: one word a source, direct-mapped (as
 * many words as admission entries), holding the first target of a source seen once. A source
 * takes an admission entry with its second distinct target, carrying the first one in; its
 * first target repeated (a client's every packet, a spoofed address's retransmitted SYN) writes
 * nothing. So a spoofed flood's every packet costs one 8-byte store in a small array, not a
 * claimed 40-byte entry, and clients never churn the admission tier. A word is overwritten by
 * the next newcomer there: the admission tier's own rules protect what shows evidence. */
#define PC_FIRST_NO_TARGET 0xff
#define PC_FIRST_TARGET_MASK 0x3f
#define PC_FIRST_REJECTED 0x40 /* the host rejected the first probe (egress: RST, unreachable) */

struct pc_first {
	__u32 tag;    /* the source's slot hash | 1 (0: empty) */
	__u16 port;   /* host order: its first target's port, for port probes (0 = none) */
	__u8 bit;     /* its first target's bit in pc_admit.targets (PC_FIRST_TARGET_MASK), and
		       * PC_FIRST_REJECTED */
	__u8 weight;  /* its first probe's score weight (saturated) */
} __attribute__((aligned(8))); /* one 8-byte load or store */

/* One per admission pair: 16 bits of each holder's hash (| 1; 0 = none), so a source outside the
 * tier reads 4 hot bytes, not two cold 40-byte entries. A hint, confirmed on the entry. */
struct pc_admit_tags {
	__u16 tag[2];
};

/* HyperLogLog registers of the sources that held no full slot, per CPU; the controller merges
 * the CPUs' registers by maximum. 256 registers: about 6.5 % standard error. */
#define PC_HLL_BITS 8
#define PC_HLL_REGS (1 << PC_HLL_BITS)

struct pc_sketch {
	__u8 reg[PC_HLL_REGS];
};
