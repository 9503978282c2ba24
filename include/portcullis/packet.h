/* What the parser extracts from one frame: everything the per-source update needs. */
#pragma once

#include "portcullis/addr.h"

#define PC_IPPROTO_ICMP 1
#define PC_IPPROTO_TCP 6
#define PC_IPPROTO_UDP 17
#define PC_IPPROTO_ICMPV6 58

enum pc_parse_result {
	PC_PARSE_OK = 0,        /* L3 and L4 headers read; kind set */
	PC_PARSE_FRAGMENT = 1,  /* addresses read; a fragment without a whole L4 header */
	PC_PARSE_OTHER_L4 = 2,  /* addresses read; a transport we do not classify (GRE, SCTP, …) */
	PC_PARSE_NOT_IP = 3,    /* ARP, LLDP, …: not ours to judge */
	PC_PARSE_MALFORMED = 4, /* truncated or inconsistent headers */
};

/* The addresses are 8-byte aligned so the parser fills them, and the key is copied from them,
 * in 64-bit words. */
struct pc_packet {
	struct pc_addr src __attribute__((aligned(8))); /* network byte order */
	struct pc_addr dst __attribute__((aligned(8))); /* network byte order */
	__u16 sport;          /* host byte order */
	__u16 dport;          /* host byte order */
	__u16 payload_len;    /* L4 payload bytes, from the IP length fields */
	__u16 tcp_window;     /* host byte order; 0 for non-TCP */
	__u16 tcp_mss;        /* MSS option when it comes first, host byte order; 0 when absent */
	__u16 ip_id;          /* IPv4 identification, host byte order; 0 for IPv6 */
	__u8 ip_version;      /* 4 or 6 */
	__u8 l4proto;         /* IPPROTO_* */
	__u8 tcp_flags;       /* all eight flag bits */
	__u8 kind;            /* enum pc_kind */
	__u8 ttl;             /* IPv4 TTL or IPv6 hop limit */
	__u8 icmp_type;       /* ICMP / ICMPv6 type */
	__u8 icmp_code;
	__u8 tcp_hlen;        /* TCP header length in bytes, options included */
};
