// SPDX-License-Identifier: GPL-2.0
/* XDP ingress: classify every packet, keep per-source evidence, drop blocklisted sources.
 *
 * Cost is the design constraint (DESIGN.md: <= 25 ns over XDP_PASS for a tracked source's SYN).
 * On these kernels a hash or LRU lookup alone costs 20-33 ns and bpf_ktime_get_ns 36 ns, while
 * array lookups are inlined by the JIT and bpf_jiffies64 is nearly free. So the source table is
 * an array used as a two-way set-associative hash table keyed by a seeded hash of the source,
 * time is jiffies, and the blocklist and allowlist are only consulted when their generation
 * changed since the source last looked (or for sources that have no slot). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdp/xdp_helpers.h>

#include "portcullis/control.h"
#include "portcullis/event.h"
#include "portcullis/parse.h"
#include "portcullis/stats.h"
#include "portcullis/update.h"

char LICENSE[] SEC("license") = "GPL";

#include "maps.bpf.h"

/* libxdp runs us before programs of lower priority when its dispatcher is available. */
struct {
	__uint(priority, 10);
	__uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(portcullis);

static __always_inline int pc_is_allowed(const struct pc_addr *src)
{
	struct pc_prefix_key k = { .prefixlen = 128, .addr = *src };

	return bpf_map_lookup_elem(&pc_allowlist, &k) != NULL;
}

/* Looks the source up on the blocklist, exact entries first, then CIDR prefixes; true when it
 * is blocked now. Expiry is checked here, so a block ends on time even when no controller is
 * running; an expired exact entry is removed (the controller sweeps expired prefixes). */
static __always_inline int pc_is_blocked(const struct pc_addr *src, __u64 now,
					 const struct pc_control *ctl)
{
	struct pc_block *b = bpf_map_lookup_elem(&pc_blocklist, src);

	if (b) {
		if (!b->expires || now < b->expires) {
			__sync_fetch_and_add(&b->drops, 1);
			return 1;
		}
		bpf_map_delete_elem(&pc_blocklist, src);
	}
	if (ctl->nr_prefix_blocks) {
		struct pc_prefix_key k = { .prefixlen = 128, .addr = *src };

		b = bpf_map_lookup_elem(&pc_blockprefix, &k);
		if (b && (!b->expires || now < b->expires)) {
			__sync_fetch_and_add(&b->drops, 1);
			return 1;
		}
	}
	return 0;
}

static __always_inline int pc_any_blocks(const struct pc_control *ctl)
{
	return ctl->nr_blocks || ctl->nr_prefix_blocks;
}

static __always_inline void pc_emit_event(const struct pc_packet *p, __u8 type, __u8 kind,
					  __u64 now, struct pc_stats *st)
{
	struct pc_event *e = bpf_ringbuf_reserve(&pc_events, sizeof(*e), 0);

	if (!e) {
		st->events_lost++;
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
	st->events++;
}

SEC("xdp")
int portcullis(struct xdp_md *ctx)
{
	const __u8 *data = (const __u8 *)(long)ctx->data;
	const __u8 *end = (const __u8 *)(long)ctx->data_end;
	/* Read through a volatile pointer: the loader sets these after compilation, and clang
	 * would otherwise fold the initialisers below into the code. */
	const volatile struct pc_tuning *t = &pc_tuning;
	struct pc_src_state *pair0, *pair1, *s;
	struct pc_control *ctl;
	struct pc_packet p;
	struct pc_stats *st;
	__u32 zero = 0, idx;
	int rc, fresh, evicted, probe_port;
	__u64 now;
	__u8 kind;

	st = bpf_map_lookup_elem(&pc_stats, &zero);
	ctl = bpf_map_lookup_elem(&pc_control, &zero);
	if (!st || !ctl)
		return XDP_PASS;
	st->packets++;

	rc = pc_parse_frame(data, end, &p);
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

	now = bpf_jiffies64();
	if (!pc_dst_watched(ctl, &p.dst)) {
		/* Not ours to score, but a blocked source stays blocked for every destination. */
		st->not_watched++;
		if (pc_any_blocks(ctl) && pc_is_blocked(&p.src, now, ctl)) {
			st->dropped++;
			return XDP_DROP;
		}
		return XDP_PASS;
	}
	idx = pc_slot_index(&p.src, t);
	pair0 = bpf_map_lookup_elem(&pc_sources, &idx);
	idx |= 1;
	pair1 = bpf_map_lookup_elem(&pc_sources, &idx);
	if (!pair0 || !pair1)
		return XDP_PASS;

	s = pc_slot_pick(pair0, pair1, &p.src, now, t, &fresh, &evicted);
	if (!s) {
		/* No slot without evicting evidence: still honour the lists, uncached. */
		st->untracked++;
		if (ctl->nr_allow && pc_is_allowed(&p.src)) {
			st->allowed++;
			return XDP_PASS;
		}
		if (pc_any_blocks(ctl) && pc_is_blocked(&p.src, now, ctl)) {
			st->dropped++;
			return XDP_DROP;
		}
		return XDP_PASS;
	}
	if (fresh) {
		if (evicted)
			st->evictions++;
		pc_slot_init(s, &p.src, now);
		s->gen = ctl->gen - 1; /* force the list check below */
	}
	if (s->gen != ctl->gen) {
		__u8 flags = s->flags & ~(PC_SRC_ALLOWED | PC_SRC_BLOCKED);

		if (ctl->nr_allow && pc_is_allowed(&p.src))
			flags |= PC_SRC_ALLOWED;
		else if (pc_any_blocks(ctl))
			flags |= PC_SRC_BLOCKED; /* confirmed (and counted) by pc_is_blocked below */
		s->flags = flags;
		s->gen = ctl->gen;
	}
	if (s->flags & PC_SRC_ALLOWED) {
		st->allowed++;
		return XDP_PASS;
	}
	if (s->flags & PC_SRC_BLOCKED) {
		if (pc_is_blocked(&p.src, now, ctl)) {
			s->last_seen = now;
			st->dropped++;
			return XDP_DROP;
		}
		s->flags &= ~PC_SRC_BLOCKED; /* expired */
	}

	kind = pc_source_update(s, &p, now, t, &probe_port);
	if (pc_kind_is_illegal(kind)) {
		if (s->win_events < t->event_burst) {
			s->win_events++;
			pc_emit_event(&p, PC_EVENT_ANOMALY, kind, now, st);
		} else {
			st->events_limited++;
		}
	}
	if (probe_port && t->report_ports)
		pc_emit_event(&p, PC_EVENT_PORT, kind, now, st);
	return XDP_PASS;
}
