// SPDX-License-Identifier: GPL-2.0
/* The XDP program under a flood of new sources, for xdp_bench. Each run first moves the frame's
 * IPv4 source to the next address; BPF_PROG_TEST_RUN keeps the frame between repetitions, so
 * `repeat` runs are that many distinct sources, with caches as warm as a NIC's NAPI loop keeps
 * them (one syscall per source would measure the syscall's cache damage instead).
 * `flood_pass` makes the same rewrite and passes: the baseline. */
#include "../../bpf/xdp_ingress.bpf.c"

static __always_inline int pc_next_source(struct xdp_md *ctx)
{
	__u8 *data = (__u8 *)(long)ctx->data;
	__u8 *end = (__u8 *)(long)ctx->data_end;
	__u32 *src = (__u32 *)(data + PC_ETH_HLEN + 12);

	if ((__u8 *)(src + 1) > end)
		return -1;
	*src = pc_htonl(pc_ntohl(*src) + 1);
	return 0;
}

SEC("xdp")
int flood(struct xdp_md *ctx)
{
	return pc_next_source(ctx) ? XDP_ABORTED : pc_xdp(ctx);
}

SEC("xdp")
int flood_pass(struct xdp_md *ctx)
{
	return pc_next_source(ctx) ? XDP_ABORTED : XDP_PASS;
}
