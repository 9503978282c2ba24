// SPDX-License-Identifier: GPL-2.0
/* TC egress: what the host answers each remote peer (SYN-ACK, RST, FIN, ICMP port
 * unreachable), written into the peer's slot of the shared source table. Seed 002's slow-scan
 * features and the TRW rule need these answers: a probe to a closed port is known by the RST
 * the host sends back. Only peers that already hold a slot are updated, so egress traffic never
 * creates state. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "portcullis/parse.h"
#include "maps.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tc")
int portcullis_egress(struct __sk_buff *skb)
{
	const volatile struct pc_tuning *t = &pc_tuning;
	const __u8 *data = (const __u8 *)(long)skb->data;
	const __u8 *end = (const __u8 *)(long)skb->data_end;
	struct pc_src_state *a, *b, *s = 0;
	struct pc_packet p;
	__u32 idx;

	if (pc_parse_frame(data, end, &p) != PC_PARSE_OK)
		return TC_ACT_OK;
	/* Only answers matter: TCP with SYN+ACK, RST or FIN, and ICMP errors. */
	if (p.l4proto == PC_IPPROTO_TCP) {
		if (!(p.tcp_flags & (PC_TCP_RST | PC_TCP_FIN)) &&
		    (p.tcp_flags & (PC_TCP_SYN | PC_TCP_ACK)) != (PC_TCP_SYN | PC_TCP_ACK))
			return TC_ACT_OK;
	} else if (p.l4proto != PC_IPPROTO_ICMP && p.l4proto != PC_IPPROTO_ICMPV6) {
		return TC_ACT_OK;
	}
	idx = pc_slot_index(&p.dst, t);
	a = bpf_map_lookup_elem(&pc_sources, &idx);
	idx |= 1;
	b = bpf_map_lookup_elem(&pc_sources, &idx);
	if (!a || !b)
		return TC_ACT_OK;
	if ((a->flags & PC_SRC_USED) && pc_addr_eq(&a->key, &p.dst))
		s = a;
	else if ((b->flags & PC_SRC_USED) && pc_addr_eq(&b->key, &p.dst))
		s = b;
	if (s)
		pc_answer_update(s, &p);
	return TC_ACT_OK;
}
