/* The maps and per-run constants the XDP ingress and TC egress programs share. Each object
 * declares them from this one header; the loader creates them once (pinned) and makes the
 * second object reuse them, so both programs write the same source table. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "portcullis/control.h"
#include "portcullis/event.h"
#include "portcullis/stats.h"
#include "portcullis/update.h"

const volatile struct pc_tuning pc_tuning = {
	.score_window = 75, /* overwritten by the loader from the kernel's HZ */
	.flow_window = 7500,
	.idle_timeout = 15000,
	.hash_seed = 0x5eed1234,
	.slot_mask = PC_SOURCES_DEFAULT - 1,
	.weight_hot = PC_WEIGHT_HOT_DEFAULT,
	.weight_low = PC_WEIGHT_LOW_DEFAULT,
	.weight_high = PC_WEIGHT_HIGH_DEFAULT,
	.event_burst = 4,
	.report_ports = 0,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PC_SOURCES_DEFAULT); /* resized by the loader */
	__type(key, __u32);
	__type(value, struct pc_src_state);
	__uint(map_flags, BPF_F_MMAPABLE); /* the controller reads the table without syscalls */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pc_sources SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pc_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pc_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pc_addr);
	__type(value, struct pc_block);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pc_blocklist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__type(key, struct pc_prefix_key);
	__type(value, struct pc_block);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pc_blockprefix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__type(key, struct pc_prefix_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pc_allowlist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pc_control);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pc_control SEC(".maps");

