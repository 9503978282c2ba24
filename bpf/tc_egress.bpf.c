// SPDX-License-Identifier: GPL-2.0
/* TC egress: what the host answers each remote peer (SYN-ACK, RST, FIN, ICMP port and protocol
 * unreachable), written into the peer's slot of the shared source table, or counted as a
 * rejected probe in its admission entry (portcullis/ingress.h, pc_egress). Seed 002's
 * slow-scan features and the TRW rule need these answers: a probe to a closed port is known by
 * the RST the host sends back. Egress traffic never creates state. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "portcullis/parse.h"

char LICENSE[] SEC("license") = "GPL";

#include "maps.bpf.h"

SEC("tc")
int portcullis_egress(struct __sk_buff *skb)
{
	const __u8 *data = (const __u8 *)(long)skb->data;
	const __u8 *end = (const __u8 *)(long)skb->data_end;
	struct pc_env env = {};
	struct pc_ingress_ctx c;
	struct pc_control *ctl;
	struct pc_packet p;
	struct pc_stats *st;
	__u32 zero = 0;

	if (pc_parse_frame(data, end, &p) != PC_PARSE_OK)
		return TC_ACT_OK;
	st = bpf_map_lookup_elem(&pc_stats, &zero);
	ctl = bpf_map_lookup_elem(&pc_control, &zero);
	if (!st || !ctl)
		return TC_ACT_OK;
	pc_bind(&c, &env, st, ctl);
	pc_egress(&c, &p);
	return TC_ACT_OK;
}
