/* Per-source evidence: one slot of the fixed-size source table (BPF array map `pc_sources`, or
 * the pcap backend's in-memory copy of it). Times are in the backend's clock ticks: jiffies in
 * the kernel, microseconds of capture time in the pcap backend.
 *
 * A slot is earned by evidence (DESIGN.md, "Per-source state under real traffic"): a source
 * first lives in the admission tier (admit.h) and moves here with its third distinct target or
 * its first illegal packet; here the strongest sources keep their slots. */
#pragma once

#include "portcullis/addr.h"
#include "portcullis/flags.h"

#define PC_WIN_SEEN_WORDS 4 /* 256 bits: (destination, port) pairs scored this window */
#define PC_FLOW_WORDS 8     /* 512 bits: connections the source opened or answered */
#define PC_PORT_WORDS 16    /* 1024 bits: distinct destination ports ever probed */
#define PC_DST_WORDS 4      /* 256 bits: distinct destinations ever probed */
#define PC_PROTO_WORDS 4    /* 256 bits: IP protocol numbers other than TCP/UDP/ICMP seen */
#define PC_HALFOPEN_WORDS 4 /* 256 bits: connections awaiting the source's third packet */

#define PC_PORT_BITS (PC_PORT_WORDS * 64)
#define PC_DST_BITS (PC_DST_WORDS * 64)

enum pc_src_flags {
	PC_SRC_USED = 1 << 0,    /* the slot holds a source */
	PC_SRC_ALLOWED = 1 << 1, /* on the allowlist: never scored, never dropped */
	PC_SRC_BLOCKED = 1 << 2, /* on the blocklist as of control generation `gen` */
};

struct pc_src_state {
	/* Sequence count (seqlock): odd while one CPU claims and initialises the slot, bumped by
	 * two on every change of owner. Readers that see it odd, or changed across their read,
	 * retry or skip: no reader acts on a torn key. */
	__u32 seq;
	__u8 flags;                      /* enum pc_src_flags */
	__u8 win_events;                 /* anomaly events sent in the current score window */
	__u8 prefix_len;                 /* the key covers this many leading bits (of 128) */
	__u8 reserved0;
	struct pc_addr key;              /* network byte order; the aggregated source (/32, /64) */
	__u64 first_seen;                /* ticks */
	__u64 last_seen;                 /* ticks */
	__u64 win_start;                 /* ticks: start of the current score window */
	__u64 flow_start;                /* ticks: start of the current flow generation */
	__u64 block_expires;             /* ticks, with PC_SRC_BLOCKED: the block's expiry as of
					  * generation `gen` (0 = permanent), so a blocked source is
					  * dropped without a hash lookup */
	__u32 packets;                   /* every packet from this source while it held the slot
					  * (approximate when CPUs race: statistics, not evidence) */
	__u32 gen;                       /* control generation the ALLOWED/BLOCKED flags are from */
	__s32 evidence;                  /* slot strength: distinct targets + rejected probes +
					  * illegal packets − completed handshakes */
	__u32 stack_syns;                /* SYNs carrying a full OS option set (timestamps, …):
					  * connect() from a real stack, not a crafted probe */
	/* Distinct targets, counted once each when a probe first sets its port or destination
	 * bit (atomically, so exact whichever CPU sees it): seed 002's counters count targets,
	 * not packets, so retransmissions and floods to one port are one. */
	__u32 syn_targets;               /* targets of SYN probes (N_closed) */
	__u32 fin_targets;               /* targets of FIN, Xmas and Maimon probes (N_fin) */
	__u32 proto_targets;             /* distinct IP protocols (nmap -sO) */
	__u32 admitted_targets;          /* distinct targets seen in the admission tier */
	__u32 win_score[PC_KIND_ARRAY];  /* score per kind in the current window (atomic adds) */
	__u32 prev_score[PC_KIND_ARRAY]; /* score per kind of the window before */
	__u32 count[PC_KIND_ARRAY];      /* packets per kind (statistics) */
	__u64 win_seen[PC_WIN_SEEN_WORDS];
	__u64 flows[PC_FLOW_WORDS];      /* current generation */
	__u64 flows_prev[PC_FLOW_WORDS]; /* previous generation */
	__u64 ports[PC_PORT_WORDS];
	__u64 dsts[PC_DST_WORDS];
	__u64 protos[PC_PROTO_WORDS];
	/* What the host answered this source: written by the TC egress program (or, in the pcap
	 * backend, by the capture's other direction). Counters are cumulative; the controller
	 * takes differences per window. */
	__u64 halfopen[PC_HALFOPEN_WORDS]; /* connections the host SYN-ACKed, awaiting the
					    * source's ACK or RST */
	__u32 fin_in;             /* packets from the source with FIN set */
	__u32 synack_out;         /* SYN-ACKs sent to it: its SYN hit an open port */
	__u32 synack_new;         /* SYN-ACKs that opened a new half-open connection (not
				   * retransmissions) */
	__u32 rst_out;            /* RSTs sent to it: closed ports, unexpected segments */
	__u32 fin_out;            /* FINs sent to it */
	__u32 unreach_out;        /* ICMP/ICMPv6 port or protocol unreachables sent to it */
	__u32 acked;              /* SYN-ACKs it answered with ACK: completed handshakes */
	__u32 reset_after_synack; /* SYN-ACKs it answered with RST: half-open, a SYN scan */
	__u16 fp_nmap;            /* probes with nmap's marks: window 1024 (and MSS 1460 on SYN) */
	__u16 fp_masscan;         /* probes with masscan's: window 1024, TTL near 255 */
	__u16 fp_zmap;            /* probes with zmap's: IP ID 54321 */
	__u16 reserved2;
	__u32 drops;              /* packets dropped from the cached block status */
	__u32 admitted_rejects;   /* probes the host rejected while it was in the admission tier */
	struct pc_addr dst;       /* network byte order: the destination of the packet that gave
				   * it the slot (a target it probed: reports name one, as EVE's
				   * dest_ip) */
};

/* One per slot pair: a 32-bit tag of each holder's key (its slot hash | 1; 0 = none), so a
 * packet from a source without a slot (every packet of a spoofed flood) reads 8 hot bytes, not
 * two cold 768-byte slots. A tag is only a hint: a match is confirmed on the slot itself. */
struct pc_slot_tags {
	__u32 tag[2];
};

/* Slots are looked up in pairs (two-way set associative) at index hash & ~1. */
#define PC_SOURCES_DEFAULT 16384
