/* The maps and per-run constants the XDP ingress and TC egress programs share. Each object
 * declares them from this one header; the loader creates them once (pinned) and makes the
 * second object reuse them, so both programs write the same source table. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "portcullis/admit.h"
#include "portcullis/control.h"
#include "portcullis/event.h"
#include "portcullis/stats.h"
#include "portcullis/update.h"

/* Every field is overwritten by the loader (times from the kernel's HZ, sizes, seed); these
 * are HZ = 250 values so a program loaded by a test alone behaves like the default. */
const volatile struct pc_tuning pc_tuning = {
	.score_window = 75,
	.flow_window = 7500,
	.idle_timeout = 250 * PC_IDLE_TIMEOUT_S_DEFAULT,
	.hash_seed = 0x5eed1234,
	.slot_mask = PC_SOURCES_DEFAULT - 1,
	.admit_mask = PC_ADMIT_DEFAULT - 1,
	.admit_targets = PC_ADMIT_TARGETS_DEFAULT,
	.v4_prefix = PC_V4_PREFIX_DEFAULT,
	.v6_prefix = PC_V6_PREFIX_DEFAULT,
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
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PC_SOURCES_DEFAULT / 2); /* one per slot pair; resized by the loader */
	__type(key, __u32);
	__type(value, struct pc_slot_tags);
	__uint(map_flags, BPF_F_MMAPABLE); /* the controller's poll reads it to skip empty pairs */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pc_tags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PC_ADMIT_DEFAULT); /* resized by the loader */
	__type(key, __u32);
	__type(value, struct pc_admit);
	__uint(map_flags, BPF_F_MMAPABLE); /* the controller reads it, and asks for promotions */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pc_admit SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PC_ADMIT_DEFAULT / 2); /* one per entry pair; resized by the loader */
	__type(key, __u32);
	__type(value, struct pc_admit_tags);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pc_admit_tags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PC_ADMIT_DEFAULT); /* as many as admission entries; resized by the loader */
	__type(key, __u32);
	__type(value, struct pc_first);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pc_first SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pc_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pc_sketch);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pc_sketch SEC(".maps");

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
	__uint(map_flags, BPF_F_MMAPABLE); /* written field by field, atomically (control_page.h) */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pc_control SEC(".maps");


/* The ingress path's view of the maps (portcullis/ingress.h). */
struct pc_env {
	struct pc_stats *st;
	const struct pc_control *ctl;
};

static __always_inline struct pc_src_state *pc_env_slot(struct pc_env *env, __u32 idx)
{
	return bpf_map_lookup_elem(&pc_sources, &idx);
}

static __always_inline struct pc_slot_tags *pc_env_tags(struct pc_env *env, __u32 pair)
{
	return bpf_map_lookup_elem(&pc_tags, &pair);
}

static __always_inline struct pc_admit *pc_env_admit(struct pc_env *env, __u32 idx)
{
	return bpf_map_lookup_elem(&pc_admit, &idx);
}

static __always_inline struct pc_admit_tags *pc_env_admit_tags(struct pc_env *env, __u32 pair)
{
	return bpf_map_lookup_elem(&pc_admit_tags, &pair);
}

static __always_inline struct pc_first *pc_env_first(struct pc_env *env, __u32 idx)
{
	return bpf_map_lookup_elem(&pc_first, &idx);
}

static __always_inline struct pc_sketch *pc_env_sketch(struct pc_env *env)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pc_sketch, &zero);
}

static __always_inline int pc_env_allowed(struct pc_env *env, const struct pc_addr *src)
{
	struct pc_prefix_key k = { .prefixlen = 128, .addr = *src };

	return bpf_map_lookup_elem(&pc_allowlist, &k) != NULL;
}

/* Exact entries (keyed by the aggregated source) first, then CIDR prefixes of the address
 * itself. Expiry is checked here, so a block ends on time even when no controller is running;
 * an expired exact entry is removed (the controller sweeps expired prefixes). */
static __always_inline int pc_env_blocked(struct pc_env *env, const struct pc_addr *key,
					  const struct pc_addr *src, __u64 now, __u64 *expires)
{
	struct pc_block *b = bpf_map_lookup_elem(&pc_blocklist, key);

	if (b) {
		if (!b->expires || (__s64)(b->expires - now) > 0) {
			__sync_fetch_and_add(&b->drops, 1);
			*expires = b->expires;
			return 1;
		}
		bpf_map_delete_elem(&pc_blocklist, key);
	}
	if (env->ctl->nr_prefix_blocks) {
		struct pc_prefix_key k = { .prefixlen = 128, .addr = *src };

		b = bpf_map_lookup_elem(&pc_blockprefix, &k);
		if (b && (!b->expires || (__s64)(b->expires - now) > 0)) {
			__sync_fetch_and_add(&b->drops, 1);
			*expires = b->expires;
			return 1;
		}
	}
	return 0;
}

static __always_inline void pc_env_emit(struct pc_env *env, const struct pc_packet *p, __u8 type,
					__u8 kind, __u64 now)
{
	struct pc_event *e = bpf_ringbuf_reserve(&pc_events, sizeof(*e), 0);

	if (!e) {
		env->st->events_lost++;
		return;
	}
	e->ts = now;
	e->src = p->src;
	e->dst = p->dst;
	e->sport = p->sport;
	e->dport = p->dport;
	e->kind = kind;
	e->tcp_flags = p->tcp_flags;
	e->l4proto = p->l4proto;
	e->ip_version = p->ip_version;
	e->type = type;
	bpf_ringbuf_submit(e, 0);
}

#include "portcullis/ingress.h"

/* One packet's context: the maps, the tuning, the time. */
static __always_inline void pc_bind(struct pc_ingress_ctx *c, struct pc_env *env,
				    struct pc_stats *st, const struct pc_control *ctl)
{
	env->st = st;
	env->ctl = ctl;
	c->env = env;
	c->st = st;
	c->ctl = ctl;
	c->t = &pc_tuning;
	c->now = bpf_jiffies64();
}
