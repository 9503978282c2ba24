/* The packet parser, shared by the XDP program and the pcap backend.
 *
 * Every read is bounds-checked against the end of the frame through a cursor, the way
 * xdp-tools' parsing_helpers.h does it, so the verifier accepts it and hostile input cannot read
 * past the buffer in C++ either. Checksums are never verified: veth and captures carry
 * offloaded, unfinished checksums, and rejecting them would hide real traffic. */
#pragma once

#include "portcullis/flags.h"
#include "portcullis/packet.h"

#define PC_ETH_HLEN 14
#define PC_ETH_P_IP 0x0800
#define PC_ETH_P_IPV6 0x86dd
#define PC_ETH_P_8021Q 0x8100
#define PC_ETH_P_8021AD 0x88a8
#define PC_VLAN_MAX_DEPTH 2
#define PC_IPV6_EXT_MAX 6

#define PC_IPV6_HOPOPTS 0
#define PC_IPV6_ROUTING 43
#define PC_IPV6_FRAGMENT 44
#define PC_IPV6_AH 51
#define PC_IPV6_DSTOPTS 60

struct pc_cursor {
	const __u8 *pos;
	const __u8 *end;
};

/* Returns a pointer to the next n bytes and advances, or 0 when fewer than n remain. */
#define pc_pull(cur, n)                                                                        \
	((cur)->pos + (n) > (cur)->end ? (const __u8 *)0 : ((cur)->pos += (n), (cur)->pos - (n)))

/* Header fields at any alignment, one load each (clang's BPF backend turns a memcpy from an
 * unaligned pointer into byte loads and shifts, several instructions a field). BPF reads packet
 * memory unaligned on the architectures it is built for (the verifier allows it unless strict
 * alignment is asked for); C++ goes through memcpy, which compilers make one load. */
#if defined(__bpf__)
#define PC_LOAD(type, ptr) (*(const type *)(const void *)(ptr))
#else
#define PC_LOAD(type, ptr)                                                                     \
	({                                                                                     \
		type pc_load_v_;                                                               \
		__builtin_memcpy(&pc_load_v_, (ptr), sizeof(pc_load_v_));                      \
		pc_load_v_;                                                                    \
	})
#endif

/* A 16-bit field in host byte order. */
PC_INLINE __u16 pc_rd16(const __u8 *p)
{
	return pc_ntohs(PC_LOAD(__u16, p));
}

/* 16 bytes of address, as they are on the wire. */
PC_INLINE void pc_rd_addr(struct pc_addr *a, const __u8 *p)
{
	pc_addr_set_halves(a, PC_LOAD(__u64, p), PC_LOAD(__u64, p + 8));
}

/* Ethernet and up to two VLAN tags; returns the EtherType in host order, or -1. */
PC_INLINE int pc_parse_eth(struct pc_cursor *cur)
{
	const __u8 *eth = pc_pull(cur, PC_ETH_HLEN);
	__u16 proto;
	int i;

	if (!eth)
		return -1;
	proto = pc_rd16(eth + 12);
	PC_UNROLL
	for (i = 0; i < PC_VLAN_MAX_DEPTH; i++) {
		const __u8 *tag;

		if (proto != PC_ETH_P_8021Q && proto != PC_ETH_P_8021AD)
			break;
		tag = pc_pull(cur, 4);
		if (!tag)
			return -1;
		proto = pc_rd16(tag + 2);
	}
	return proto;
}

/* TCP from the cursor; total_l4 is the L4 length from the IP header (payload_len source). */
PC_INLINE int pc_parse_tcp(struct pc_cursor *cur, struct pc_packet *p, __u32 l4_len)
{
	const __u8 *th = pc_pull(cur, 20);
	__u32 doff;

	if (!th)
		return PC_PARSE_MALFORMED;
	doff = (__u32)(th[12] >> 4) * 4;
	if (doff < 20 || doff > l4_len)
		return PC_PARSE_MALFORMED;
	/* Options must be in the frame too, or the header is truncated. */
	if (cur->pos + (doff - 20) > cur->end)
		return PC_PARSE_MALFORMED;
	p->sport = pc_rd16(th);
	p->dport = pc_rd16(th + 2);
	p->tcp_flags = th[13];
	p->tcp_window = pc_rd16(th + 14);
	p->tcp_hlen = (__u8)doff;
	p->kind = pc_classify_tcp(th[13]);
	p->payload_len = (__u16)(l4_len - doff);
	/* Only the first option is read for the MSS: nmap, masscan and stacks all put MSS first,
	 * and a loop over 40 option bytes costs verifier complexity for a fingerprint tag. */
	if (doff >= 24 && cur->pos + 4 <= cur->end && cur->pos[0] == 2 && cur->pos[1] == 4)
		p->tcp_mss = pc_rd16(cur->pos + 2);
	return PC_PARSE_OK;
}

PC_INLINE int pc_parse_l4(struct pc_cursor *cur, struct pc_packet *p, __u32 l4_len)
{
	const __u8 *h;

	switch (p->l4proto) {
	case PC_IPPROTO_TCP:
		return pc_parse_tcp(cur, p, l4_len);
	case PC_IPPROTO_UDP:
		h = pc_pull(cur, 8);
		if (!h || l4_len < 8)
			return PC_PARSE_MALFORMED;
		p->sport = pc_rd16(h);
		p->dport = pc_rd16(h + 2);
		p->payload_len = (__u16)(l4_len - 8);
		p->kind = PC_KIND_UDP;
		return PC_PARSE_OK;
	case PC_IPPROTO_ICMP:
	case PC_IPPROTO_ICMPV6:
		h = pc_pull(cur, 4);
		if (!h || l4_len < 4)
			return PC_PARSE_MALFORMED;
		p->icmp_type = h[0];
		p->icmp_code = h[1];
		p->payload_len = (__u16)(l4_len - 4);
		if (p->l4proto == PC_IPPROTO_ICMP)
			p->kind = h[0] == 8 ? PC_KIND_ICMP_ECHO : PC_KIND_ICMP_OTHER;
		else
			p->kind = h[0] == 128 ? PC_KIND_ICMP_ECHO : PC_KIND_ICMP_OTHER;
		return PC_PARSE_OK;
	default:
		/* The protocol number stands in for the port: a protocol scan walks them. */
		p->kind = PC_KIND_IPPROTO;
		p->dport = p->l4proto;
		return PC_PARSE_OTHER_L4;
	}
}

/* An L4 header cut off by fragmentation; l4 points at its start. A TCP first fragment shorter
 * than the TCP header is RFC 1858's tiny fragment (nmap -f sends 8 bytes): the ports are there,
 * the flags are not. */
PC_INLINE int pc_first_fragment(const struct pc_cursor *cur, struct pc_packet *p)
{
	p->kind = PC_KIND_FRAGMENT;
	if (cur->pos + 4 <= cur->end &&
	    (p->l4proto == PC_IPPROTO_TCP || p->l4proto == PC_IPPROTO_UDP)) {
		p->sport = pc_rd16(cur->pos);
		p->dport = pc_rd16(cur->pos + 2);
	}
	return PC_PARSE_FRAGMENT;
}

PC_INLINE int pc_parse_ipv4(struct pc_cursor *cur, struct pc_packet *p)
{
	const __u8 *ip = pc_pull(cur, 20);
	struct pc_cursor l4;
	__u32 ihl, tot_len, frag;
	int rc;

	if (!ip)
		return PC_PARSE_MALFORMED;
	if ((ip[0] >> 4) != 4)
		return PC_PARSE_MALFORMED;
	ihl = (__u32)(ip[0] & 0x0f) * 4;
	tot_len = pc_rd16(ip + 2);
	if (ihl < 20 || tot_len < ihl)
		return PC_PARSE_MALFORMED;
	/* IP options: skipped, but they must be present. */
	if (!pc_pull(cur, ihl - 20))
		return PC_PARSE_MALFORMED;
	p->ip_version = 4;
	p->ip_id = pc_rd16(ip + 4);
	p->ttl = ip[8];
	p->l4proto = ip[9];
	pc_addr_from_v4(&p->src, PC_LOAD(__u32, ip + 12));
	pc_addr_from_v4(&p->dst, PC_LOAD(__u32, ip + 16));

	frag = pc_rd16(ip + 6);
	if (frag & 0x1fff) { /* a later fragment: no L4 header here */
		p->kind = PC_KIND_FRAGMENT;
		return PC_PARSE_FRAGMENT;
	}
	if (frag & 0x2000) { /* first fragment of several */
		l4 = *cur;
		rc = pc_parse_l4(cur, p, tot_len - ihl);
		return rc == PC_PARSE_MALFORMED ? pc_first_fragment(&l4, p) : rc;
	}
	return pc_parse_l4(cur, p, tot_len - ihl);
}

PC_INLINE int pc_parse_ipv6(struct pc_cursor *cur, struct pc_packet *p)
{
	const __u8 *ip6 = pc_pull(cur, 40);
	__u32 l4_len;
	__u8 next;
	int first_fragment = 0;
	int i;

	if (!ip6)
		return PC_PARSE_MALFORMED;
	if ((ip6[0] >> 4) != 6)
		return PC_PARSE_MALFORMED;
	l4_len = pc_rd16(ip6 + 4);
	next = ip6[6];
	p->ip_version = 6;
	p->ttl = ip6[7];
	pc_rd_addr(&p->src, ip6 + 8);
	pc_rd_addr(&p->dst, ip6 + 24);

	PC_UNROLL
	for (i = 0; i < PC_IPV6_EXT_MAX; i++) {
		const __u8 *ext;
		__u32 len;

		if (next != PC_IPV6_HOPOPTS && next != PC_IPV6_ROUTING && next != PC_IPV6_DSTOPTS &&
		    next != PC_IPV6_FRAGMENT && next != PC_IPV6_AH)
			break;
		ext = pc_pull(cur, 8);
		if (!ext)
			return PC_PARSE_MALFORMED;
		if (next == PC_IPV6_FRAGMENT) {
			len = 8;
			if (pc_rd16(ext + 2) & 0xfff8) { /* offset != 0: a later fragment */
				p->l4proto = ext[0];
				p->kind = PC_KIND_FRAGMENT;
				return PC_PARSE_FRAGMENT;
			}
			first_fragment = (ext[3] & 1) != 0;
		} else if (next == PC_IPV6_AH) {
			len = ((__u32)ext[1] + 2) * 4;
		} else {
			len = ((__u32)ext[1] + 1) * 8;
		}
		if (len > l4_len || !pc_pull(cur, len - 8))
			return PC_PARSE_MALFORMED;
		l4_len -= len;
		next = ext[0];
	}
	p->l4proto = next;
	if (first_fragment) {
		struct pc_cursor l4 = *cur;
		int rc = pc_parse_l4(cur, p, l4_len);

		return rc == PC_PARSE_MALFORMED ? pc_first_fragment(&l4, p) : rc;
	}
	return pc_parse_l4(cur, p, l4_len);
}

/* Parses from the network header on, given its EtherType (captures without Ethernet: Linux
 * cooked, raw IP). */
PC_INLINE int pc_parse_l3(const __u8 *data, const __u8 *end, int ethertype, struct pc_packet *p)
{
	struct pc_cursor cur = { data, end };

	__builtin_memset(p, 0, sizeof(*p));
	if (ethertype == PC_ETH_P_IP)
		return pc_parse_ipv4(&cur, p);
	if (ethertype == PC_ETH_P_IPV6)
		return pc_parse_ipv6(&cur, p);
	return PC_PARSE_NOT_IP;
}

/* Parses an Ethernet frame. On PC_PARSE_OK and PC_PARSE_FRAGMENT, src/dst and kind are set. */
PC_INLINE int pc_parse_frame(const __u8 *data, const __u8 *end, struct pc_packet *p)
{
	struct pc_cursor cur = { data, end };
	int proto = pc_parse_eth(&cur);

	if (proto < 0) {
		__builtin_memset(p, 0, sizeof(*p));
		return PC_PARSE_MALFORMED;
	}
	return pc_parse_l3(cur.pos, end, proto, p);
}

/* The source address of the network header at data (EtherType `ethertype`), read before
 * anything else: all a blocked source's packet needs to be dropped (ingress.h:
 * pc_cached_block). Returns PC_PARSE_OK with *src set, or what pc_parse_l3 returns for a header
 * it refuses (PC_PARSE_NOT_IP, PC_PARSE_MALFORMED): it checks what pc_parse_l3 checks first. */
PC_INLINE int pc_peek_source(const __u8 *data, const __u8 *end, int ethertype,
			     struct pc_addr *src)
{
	if (ethertype == PC_ETH_P_IP) {
		if (data + 20 > end || (data[0] >> 4) != 4)
			return PC_PARSE_MALFORMED;
		pc_addr_from_v4(src, PC_LOAD(__u32, data + 12));
		return PC_PARSE_OK;
	}
	if (ethertype == PC_ETH_P_IPV6) {
		if (data + 40 > end || (data[0] >> 4) != 6)
			return PC_PARSE_MALFORMED;
		pc_rd_addr(src, data + 8);
		return PC_PARSE_OK;
	}
	return PC_PARSE_NOT_IP;
}
