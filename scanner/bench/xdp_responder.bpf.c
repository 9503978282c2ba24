// SPDX-License-Identifier: GPL-2.0
/* A scan target that costs almost nothing, so a bench measures the scanner, not the target's
 * kernel: each TCP SYN to an address of the watched prefixes is answered in XDP, in place and
 * sent straight back (XDP_TX): a SYN-ACK from an open port, an RST+ACK from any other. Other TCP
 * to those addresses (the scanner's RSTs to our SYN-ACKs) is dropped; everything else (ARP, the
 * host's own traffic) passes to the kernel.
 *
 * Open ports are a bitmap map set by the loader. On a /32 every open port is open; on a wider
 * prefix (a sweep) a host has them open only when a hash of its address picks it (about one
 * host in `open_host_share`), so a sweep's answer is a known, non-trivial set of hosts. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xdp_responder.h"

char LICENSE[] SEC("license") = "GPL";

const volatile struct responder_config config = {};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RESPONDER_PORT_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} open_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RESPONDER_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

#define ANSWER_LEN (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct tcphdr))

static __always_inline void count(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&counters, &which);

	if (n)
		*n += 1;
}

static __always_inline __u16 fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Index of the watched prefix holding `daddr` (network byte order), or -1. */
static __always_inline int watched(__u32 daddr)
{
#pragma unroll
	for (int i = 0; i < RESPONDER_MAX_PREFIXES; i++) {
		if ((__u32)i < config.prefixes && (daddr & config.mask[i]) == config.net[i])
			return i;
	}
	return -1;
}

static __always_inline int port_open(__u16 port, __u32 daddr, int prefix)
{
	__u32 word = port >> 6;
	__u64 *bits = bpf_map_lookup_elem(&open_ports, &word);

	if (!bits || !((*bits >> (port & 63)) & 1))
		return 0;
	if (config.mask[prefix & (RESPONDER_MAX_PREFIXES - 1)] == 0xffffffff || config.open_host_share <= 1)
		return 1;
	return (bpf_ntohl(daddr) * 0x9e3779b1u) % config.open_host_share == 0;
}

SEC("xdp")
int xdp_responder(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct tcphdr *tcp = data + sizeof(*eth) + sizeof(*ip);

	if ((void *)(tcp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_TCP || (ip->frag_off & bpf_htons(0x3fff)))
		return XDP_PASS;
	int prefix = watched(ip->daddr);
	if (prefix < 0)
		return XDP_PASS;
	if (!tcp->syn || tcp->ack || tcp->rst || tcp->fin) {
		count(RESPONDER_DROPPED);
		return XDP_DROP;
	}
	int open = port_open(bpf_ntohs(tcp->dest), ip->daddr, prefix);

	/* The answer, in place: addresses and ports swapped, no options. */
	__u8 mac[ETH_ALEN];
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	__u32 addr = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = addr;
	__u16 port = tcp->source;
	tcp->source = tcp->dest;
	tcp->dest = port;
	tcp->ack_seq = bpf_htonl(bpf_ntohl(tcp->seq) + 1);
	/* A SYN-ACK's sequence number is any number the scanner will echo back; a hash of the
	 * connection, like a SYN cookie. */
	tcp->seq = open ? bpf_htonl((addr ^ ((__u32)port << 16 | tcp->source)) * 0x85ebca6bu) : 0;
	((__u8 *)tcp)[12] = 5 << 4; /* doff 5, no options */
	((__u8 *)tcp)[13] = open ? 0x12 : 0x14; /* SYN+ACK : RST+ACK */
	tcp->window = open ? bpf_htons(64240) : 0;
	tcp->urg_ptr = 0;
	ip->tot_len = bpf_htons(sizeof(struct iphdr) + sizeof(struct tcphdr));
	ip->ttl = 64;
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000); /* DF */
	ip->tos = 0;

	long extra = (long)(end - data) - (long)ANSWER_LEN;
	if (extra > 0 && bpf_xdp_adjust_tail(ctx, (int)-extra))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + ANSWER_LEN > end)
		return XDP_DROP;
	ip = data + sizeof(struct ethhdr);
	tcp = data + sizeof(struct ethhdr) + sizeof(struct iphdr);

	__u32 sum = 0;
	__u16 *w = (__u16 *)ip;
	ip->check = 0;
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	ip->check = fold(sum);

	sum = (ip->saddr >> 16) + (ip->saddr & 0xffff) + (ip->daddr >> 16) + (ip->daddr & 0xffff) +
	      bpf_htons(IPPROTO_TCP) + bpf_htons(sizeof(struct tcphdr));
	w = (__u16 *)tcp;
	tcp->check = 0;
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	tcp->check = fold(sum);
	count(open ? RESPONDER_SYNACKS : RESPONDER_RSTS);
	return XDP_TX;
}

/* The scanner's side of the veth: veth hands XDP_TX frames only to a peer that runs XDP. */
SEC("xdp")
int xdp_peer_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
