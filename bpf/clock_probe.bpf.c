// SPDX-License-Identifier: GPL-2.0
/* Lets the loader learn the kernel's jiffies and HZ without CONFIG_HZ: it runs this program
 * through BPF_PROG_TEST_RUN twice and compares with CLOCK_MONOTONIC. Windows and block expiries
 * are then given to the XDP program in jiffies, which it reads for free (bpf_jiffies64 is
 * inlined; bpf_ktime_get_ns costs ~36 ns a packet through a retpoline). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

__u64 clock_jiffies;
__u64 clock_ns;

SEC("xdp")
int clock_probe(struct xdp_md *ctx)
{
	clock_jiffies = bpf_jiffies64();
	clock_ns = bpf_ktime_get_ns();
	return XDP_PASS;
}
