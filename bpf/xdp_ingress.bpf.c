// SPDX-License-Identifier: GPL-2.0
/* XDP ingress: classify every packet, keep per-source evidence, drop blocklisted sources. The
 * per-packet path itself is portcullis/ingress.h (shared with the pcap backend); this file
 * binds it to the maps.
 *
 * Cost is the design constraint (DESIGN.md: <= 25 ns over XDP_PASS for a tracked source's SYN,
 * <= 40 ns for a new source). On these kernels a hash or LRU lookup alone costs 20-33 ns and
 * bpf_ktime_get_ns 36 ns, while array lookups are inlined by the JIT and bpf_jiffies64 is nearly
 * free. So the source table and the admission tier are arrays used as two-way set-associative
 * hash tables keyed by a seeded hash of the source, time is jiffies, and the blocklist and
 * allowlist are only consulted when their generation changed since the source last looked (or
 * for sources that have no slot, and only while any block exists). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdp/xdp_helpers.h>

#include "portcullis/parse.h"

char LICENSE[] SEC("license") = "GPL";

#include "maps.bpf.h"

/* libxdp runs us before programs of lower priority when its dispatcher is available. */
struct {
	__uint(priority, 10);
	__uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(portcullis);

/* The program's body, also run by the flood benchmark (tests/bench/xdp_flood_bench.bpf.c). */
static __always_inline int pc_xdp(struct xdp_md *ctx)
{
	const __u8 *data = (const __u8 *)(long)ctx->data;
	const __u8 *end = (const __u8 *)(long)ctx->data_end;
	struct pc_env env = {};
	struct pc_ingress_ctx c;
	struct pc_control *ctl;
	struct pc_lookup l;
	struct pc_addr src;
	struct pc_packet p;
	struct pc_stats *st;
	struct pc_cursor cur = { data, end };
	__u32 zero = 0;
	int rc, proto;

	st = bpf_map_lookup_elem(&pc_stats, &zero);
	ctl = bpf_map_lookup_elem(&pc_control, &zero);
	if (!st || !ctl)
		return XDP_PASS;
	st->packets++;
	pc_bind(&c, &env, st, ctl);

	/* While any block is in force, a blocked source's packet is dropped on its address alone,
	 * before the rest is parsed: the cheapest drop a blocked flood can get. (Without blocks
	 * the slot is only read after the parse: a new source's table misses then overlap with
	 * its admission tier's.) */
	proto = pc_parse_eth(&cur);
	if (pc_any_blocks(ctl) && proto >= 0 &&
	    pc_peek_source(cur.pos, end, proto, &src) == PC_PARSE_OK &&
	    pc_lookup_source(&c, &src, &l) && pc_cached_block(&c, l.s)) {
		st->parsed++;
		return XDP_DROP;
	}

	rc = proto < 0 ? PC_PARSE_MALFORMED : pc_parse_l3(cur.pos, end, proto, &p);
	if (rc == PC_PARSE_NOT_IP) {
		st->non_ip++;
		return XDP_PASS;
	}
	if (rc == PC_PARSE_MALFORMED) {
		st->unparsable++;
		return XDP_PASS;
	}
	st->parsed++;
	if (rc == PC_PARSE_FRAGMENT)
		st->fragments++;

	/* pc_ingress without its cached-block check: that ran above whenever a block exists (and
	 * pc_tracked still drops on a cached block). */
	if (!pc_lookup_source(&c, &p.src, &l))
		return XDP_PASS;
	return pc_ingress_at(&c, &p, &l) == PC_VERDICT_DROP ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int portcullis(struct xdp_md *ctx)
{
	return pc_xdp(ctx);
}
