/* TCP flag classification and port weights: the per-packet rules every backend shares. */
#pragma once

#include "portcullis/compat.h"

#define PC_TCP_FIN 0x01
#define PC_TCP_SYN 0x02
#define PC_TCP_RST 0x04
#define PC_TCP_PSH 0x08
#define PC_TCP_ACK 0x10
#define PC_TCP_URG 0x20
/* ECE and CWR (0x40, 0x80) are ECN signalling, legal with any of the above: ignored here. */
#define PC_TCP_CLASSIFIED_BITS 0x3f

/* What a packet looks like from the flags (and, for ICMP/UDP, the protocol). The order is part
 * of the map format: per-kind arrays in struct pc_src_state are indexed by it. */
enum pc_kind {
	PC_KIND_SYN = 0,     /* SYN alone: a connection attempt or a SYN/connect scan probe */
	PC_KIND_ACK,         /* bare ACK outside any known connection: ACK or window scan */
	PC_KIND_NULL,        /* no flags: illegal */
	PC_KIND_FIN,         /* FIN without ACK: illegal */
	PC_KIND_XMAS,        /* FIN+PSH+URG without ACK: illegal */
	PC_KIND_MAIMON,      /* FIN+ACK outside any known connection */
	PC_KIND_SYNFIN,      /* SYN with FIN: illegal */
	PC_KIND_SYNRST,      /* SYN with RST (no FIN): illegal */
	PC_KIND_OTHER,       /* any other illegal combination (PSH/URG/FIN mixes without ACK, …) */
	PC_KIND_SYNACK,      /* SYN+ACK: an answer to a connection we opened */
	PC_KIND_RST,         /* RST, with or without ACK */
	PC_KIND_ESTABLISHED, /* data and ACKs of a connection */
	PC_KIND_UDP,
	PC_KIND_ICMP_ECHO,   /* ICMP / ICMPv6 echo request: host discovery */
	PC_KIND_ICMP_OTHER,  /* every other ICMP / ICMPv6 message */
	PC_KIND_FRAGMENT,    /* IPv4/IPv6 fragment: a later fragment, or a first one too short to
			      * carry the whole TCP header (RFC 1858's tiny fragment) */
	PC_KIND_IPPROTO,     /* any other IP protocol (GRE, IP-in-IP, ESP, AH, SCTP, OSPF, VRRP, …):
			      * a tunnel peer's traffic, never a TCP probe; walking many protocol
			      * numbers is nmap -sO's protocol scan */
	PC_KIND_MAX
};

/* Per-kind arrays in struct pc_src_state hold PC_KIND_ARRAY entries (PC_KIND_MAX rounded up, so
 * the arrays keep the struct's 8-byte alignment). */
#define PC_KIND_ARRAY 20

/* A kind as an index that every verifier can see is in bounds: a mask (the 6.1 verifier loses
 * the bound of a compare-and-select), with the one kind above 15 as a constant. */
#define PC_KIND_INDEX(k)                                                                      \
	((k) == PC_KIND_IPPROTO ? (__u32)PC_KIND_IPPROTO : (__u32)(k) & 15u)

#define PC_KIND_BIT(k) (1u << (k))

/* Kinds that no conforming TCP stack sends: the anomaly rule fires on the first one. */
#define PC_KIND_ILLEGAL_MASK                                                                  \
	(PC_KIND_BIT(PC_KIND_NULL) | PC_KIND_BIT(PC_KIND_FIN) | PC_KIND_BIT(PC_KIND_XMAS) |   \
	 PC_KIND_BIT(PC_KIND_SYNFIN) | PC_KIND_BIT(PC_KIND_SYNRST) | PC_KIND_BIT(PC_KIND_OTHER))

/* Kinds whose packets probe a port (or a host) and so earn score. */
#define PC_KIND_PROBE_MASK                                                                    \
	(PC_KIND_ILLEGAL_MASK | PC_KIND_BIT(PC_KIND_SYN) | PC_KIND_BIT(PC_KIND_ACK) |         \
	 PC_KIND_BIT(PC_KIND_MAIMON) | PC_KIND_BIT(PC_KIND_UDP) |                             \
	 PC_KIND_BIT(PC_KIND_ICMP_ECHO))

PC_INLINE int pc_kind_is_illegal(__u32 kind)
{
	return kind < PC_KIND_MAX && (PC_KIND_ILLEGAL_MASK & PC_KIND_BIT(kind)) != 0;
}

PC_INLINE int pc_kind_is_probe(__u32 kind)
{
	return kind < PC_KIND_MAX && (PC_KIND_PROBE_MASK & PC_KIND_BIT(kind)) != 0;
}

/* The kind of every combination of the six classic flags (FIN SYN RST PSH ACK URG; index:
 * flags & 0x3f), as a table: one load on every packet where the rules below are a chain of
 * branches. SYN with FIN is SYNFIN, else SYN with RST is SYNRST, else SYN with ACK is SYNACK,
 * else SYN alone is SYN (with PSH or URG and no ACK: OTHER, no stack opens a connection that
 * way). Without SYN: RST is RST (with FIN: OTHER); ACK alone is ACK, FIN+ACK is MAIMON, ACK with
 * anything else is ESTABLISHED; without ACK (every segment after the handshake carries it) FIN
 * alone is FIN, FIN+PSH+URG is XMAS, none is NULL, the rest OTHER. The unit tests check every
 * entry against these rules written out. */
#define PC_K(kind) PC_KIND_##kind
static const __u8 pc_tcp_kinds[64] = {
	/* 0x00-0x0f: no ACK */
	PC_K(NULL), PC_K(FIN), PC_K(SYN), PC_K(SYNFIN), PC_K(RST), PC_K(OTHER), PC_K(SYNRST),
	PC_K(SYNFIN), PC_K(OTHER), PC_K(OTHER), PC_K(OTHER), PC_K(SYNFIN), PC_K(RST), PC_K(OTHER),
	PC_K(SYNRST), PC_K(SYNFIN),
	/* 0x10-0x1f: ACK */
	PC_K(ACK), PC_K(MAIMON), PC_K(SYNACK), PC_K(SYNFIN), PC_K(RST), PC_K(OTHER), PC_K(SYNRST),
	PC_K(SYNFIN), PC_K(ESTABLISHED), PC_K(ESTABLISHED), PC_K(SYNACK), PC_K(SYNFIN), PC_K(RST),
	PC_K(OTHER), PC_K(SYNRST), PC_K(SYNFIN),
	/* 0x20-0x2f: URG */
	PC_K(OTHER), PC_K(OTHER), PC_K(OTHER), PC_K(SYNFIN), PC_K(RST), PC_K(OTHER), PC_K(SYNRST),
	PC_K(SYNFIN), PC_K(OTHER), PC_K(XMAS), PC_K(OTHER), PC_K(SYNFIN), PC_K(RST), PC_K(OTHER),
	PC_K(SYNRST), PC_K(SYNFIN),
	/* 0x30-0x3f: URG and ACK */
	PC_K(ESTABLISHED), PC_K(ESTABLISHED), PC_K(SYNACK), PC_K(SYNFIN), PC_K(RST), PC_K(OTHER),
	PC_K(SYNRST), PC_K(SYNFIN), PC_K(ESTABLISHED), PC_K(ESTABLISHED), PC_K(SYNACK),
	PC_K(SYNFIN), PC_K(RST), PC_K(OTHER), PC_K(SYNRST), PC_K(SYNFIN),
};
#undef PC_K

/* Classifies the six classic flags; ECE/CWR do not change the kind. */
PC_INLINE __u8 pc_classify_tcp(__u8 tcp_flags)
{
	return pc_tcp_kinds[tcp_flags & PC_TCP_CLASSIFIED_BITS];
}

/* Default port weights (Sophos' scoring, as seed 001 describes it). */
#define PC_WEIGHT_HOT_DEFAULT 10 /* ports 11, 12, 13 and 2000 */
#define PC_WEIGHT_LOW_DEFAULT 3  /* other ports below 1024 */
#define PC_WEIGHT_HIGH_DEFAULT 1 /* ports 1024 and above */

PC_INLINE int pc_port_is_hot(__u16 port)
{
	return (port >= 11 && port <= 13) || port == 2000;
}

PC_INLINE __u16 pc_port_weight_with(__u16 port, __u16 hot, __u16 low, __u16 high)
{
	if (pc_port_is_hot(port))
		return hot;
	return port < 1024 ? low : high;
}

PC_INLINE __u16 pc_port_weight(__u16 port)
{
	return pc_port_weight_with(port, PC_WEIGHT_HOT_DEFAULT, PC_WEIGHT_LOW_DEFAULT,
				   PC_WEIGHT_HIGH_DEFAULT);
}
