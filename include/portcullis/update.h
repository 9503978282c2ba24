/* The per-packet update of a source's evidence: written once, compiled by clang for the XDP
 * program and by g++ for the pcap backend, so both backends agree packet for packet. */
#pragma once

#include "portcullis/packet.h"
#include "portcullis/source.h"

/* Per-run constants. Rodata in the BPF object (set before load); a plain struct in C++. Times
 * are in the caller's ticks. */
struct pc_tuning {
	__u64 score_window;   /* length of a score window (seed 001: 300 ms) */
	__u64 flow_window;    /* length of a flow-filter generation */
	__u64 idle_timeout;   /* a source idle this long may lose its slot */
	__u32 hash_seed;      /* random per run: spoofed sources cannot aim at one slot */
	__u32 slot_mask;      /* number of slots - 1 (a power of two, at least 2) */
	__u16 weight_hot;     /* ports 11, 12, 13, 2000 */
	__u16 weight_low;     /* other ports below 1024 */
	__u16 weight_high;    /* ports 1024 and above */
	__u16 event_burst;    /* anomaly events per source per score window */
	__u16 report_ports;   /* nonzero: an event for each port a source probes first (--save-ports) */
	__u16 reserved[3];
};

PC_INLINE void pc_tuning_defaults(struct pc_tuning *t, __u64 ticks_per_second)
{
	t->score_window = ticks_per_second * 300 / 1000;
	t->flow_window = ticks_per_second * 30;
	t->idle_timeout = ticks_per_second * 60;
	t->hash_seed = 0x5eed1234u;
	t->slot_mask = PC_SOURCES_DEFAULT - 1;
	t->weight_hot = PC_WEIGHT_HOT_DEFAULT;
	t->weight_low = PC_WEIGHT_LOW_DEFAULT;
	t->weight_high = PC_WEIGHT_HIGH_DEFAULT;
	t->event_burst = 4;
	t->report_ports = 0;
	if (t->score_window == 0)
		t->score_window = 1;
}

PC_INLINE int pc_bit_test_set(__u64 *words, __u32 bit)
{
	__u64 mask = 1ull << (bit & 63);
	__u64 *w = &words[(bit >> 6)];
	int was = (*w & mask) != 0;

	*w |= mask;
	return was;
}

PC_INLINE int pc_bit_test(const __u64 *words, __u32 bit)
{
	return (words[bit >> 6] & (1ull << (bit & 63))) != 0;
}

/* Index of the first slot of the pair a source may occupy. */
PC_INLINE __u32 pc_slot_index(const struct pc_addr *src, const volatile struct pc_tuning *t)
{
	return pc_addr_hash(src, t->hash_seed) & t->slot_mask & ~1u;
}

/* A slot may be taken over when it is free, idle, or holds a one-packet source: a flood of
 * spoofed one-packet sources churns among itself and never evicts a source with evidence. */
PC_INLINE int pc_slot_replaceable(const struct pc_src_state *s, __u64 now,
				  const volatile struct pc_tuning *t)
{
	if (!(s->flags & PC_SRC_USED))
		return 1;
	if (now - s->last_seen > t->idle_timeout)
		return 1;
	return s->packets <= 1 && !(s->flags & PC_SRC_BLOCKED);
}

/* Picks the slot for src among the pair (a, b). *fresh is set when the returned slot must be
 * initialised for src (and *evicted when it held another source). 0: nothing can be had. */
PC_INLINE struct pc_src_state *pc_slot_pick(struct pc_src_state *a, struct pc_src_state *b,
					    const struct pc_addr *src, __u64 now,
					    const volatile struct pc_tuning *t, int *fresh, int *evicted)
{
	*fresh = 0;
	*evicted = 0;
	if ((a->flags & PC_SRC_USED) && pc_addr_eq(&a->key, src))
		return a;
	if ((b->flags & PC_SRC_USED) && pc_addr_eq(&b->key, src))
		return b;
	/* Prefer the free slot, then the one idle longest. */
	if (!(b->flags & PC_SRC_USED) || ((a->flags & PC_SRC_USED) && b->last_seen < a->last_seen)) {
		struct pc_src_state *tmp = a;

		a = b;
		b = tmp;
	}
	if (pc_slot_replaceable(a, now, t)) {
		*fresh = 1;
		*evicted = (a->flags & PC_SRC_USED) != 0;
		return a;
	}
	if (pc_slot_replaceable(b, now, t)) {
		*fresh = 1;
		*evicted = (b->flags & PC_SRC_USED) != 0;
		return b;
	}
	return 0;
}

PC_INLINE void pc_slot_init(struct pc_src_state *s, const struct pc_addr *src, __u64 now)
{
	__builtin_memset(s, 0, sizeof(*s));
	s->key = *src;
	s->flags = PC_SRC_USED;
	s->first_seen = now;
	s->last_seen = now;
	s->win_start = now;
	s->flow_start = now;
}

PC_INLINE void pc_roll_windows(struct pc_src_state *s, __u64 now, const volatile struct pc_tuning *t)
{
	int i;

	if (now - s->win_start >= t->score_window) {
		PC_UNROLL
		for (i = 0; i < PC_KIND_MAX; i++) {
			s->prev_score[i] = s->win_score[i];
			s->win_score[i] = 0;
		}
		PC_UNROLL
		for (i = 0; i < PC_WIN_SEEN_WORDS; i++)
			s->win_seen[i] = 0;
		s->win_events = 0;
		s->win_start = now;
	}
	if (now - s->flow_start >= t->flow_window) {
		PC_UNROLL
		for (i = 0; i < PC_FLOW_WORDS; i++) {
			s->flows_prev[i] = s->flows[i];
			s->flows[i] = 0;
		}
		s->flow_start = now;
	}
}

PC_INLINE __u32 pc_flow_bit(const struct pc_packet *p, __u32 dst_fold)
{
	return pc_fib_bits(dst_fold ^ ((__u32)p->sport << 16 | p->dport), 9); /* 512 bits */
}

/* Connections the source opened (its SYN) or answered (its SYN-ACK to our SYN) are remembered,
 * so their ACKs, data and FIN+ACKs never look like an ACK or Maimon scan: the seed's detector
 * scored every packet and made a busy client look like a scanner. Active flows are refreshed
 * into the current generation, so only a flow silent for a whole generation is forgotten. */
PC_INLINE __u8 pc_flow_filter(struct pc_src_state *s, const struct pc_packet *p,
			      __u32 dst_fold)
{
	__u32 bit;

	if (p->l4proto != PC_IPPROTO_TCP)
		return p->kind;
	switch (p->kind) {
	case PC_KIND_SYN:
	case PC_KIND_SYNACK:
		pc_bit_test_set(s->flows, pc_flow_bit(p, dst_fold));
		return p->kind;
	case PC_KIND_ACK:
	case PC_KIND_MAIMON:
	case PC_KIND_ESTABLISHED:
		bit = pc_flow_bit(p, dst_fold);
		if (pc_bit_test(s->flows, bit) || pc_bit_test(s->flows_prev, bit)) {
			pc_bit_test_set(s->flows, bit);
			return PC_KIND_ESTABLISHED;
		}
		return p->kind;
	default:
		return p->kind;
	}
}

PC_INLINE __u32 pc_halfopen_bit(__u32 host_fold, __u16 peer_port, __u16 host_port)
{
	return pc_fib_bits(host_fold ^ ((__u32)peer_port << 16 | host_port), 8); /* 256 bits */
}

/* The source's answer to a SYN-ACK the host sent it: ACK completes the handshake (a client, or
 * a connect scan), RST aborts it (a SYN scan's half-open probe). */
PC_INLINE void pc_halfopen_close(struct pc_src_state *s, const struct pc_packet *p,
				 __u32 dst_fold)
{
	__u32 bit;
	__u64 mask;

	if (p->l4proto != PC_IPPROTO_TCP || (p->tcp_flags & PC_TCP_SYN) ||
	    !(p->tcp_flags & (PC_TCP_ACK | PC_TCP_RST)))
		return;
	bit = pc_halfopen_bit(dst_fold, p->sport, p->dport);
	mask = 1ull << (bit & 63);
	if (!(s->halfopen[bit >> 6] & mask))
		return;
	s->halfopen[bit >> 6] &= ~mask;
	if (p->tcp_flags & PC_TCP_RST)
		s->reset_after_synack++;
	else
		s->acked++;
}

PC_INLINE void pc_sat_inc16(__u16 *v)
{
	if (*v != 0xffff)
		(*v)++;
}

/* Tool marks, tags on alerts and never evidence on their own. */
PC_INLINE void pc_fingerprint(struct pc_src_state *s, const struct pc_packet *p, __u8 kind)
{
	if (!pc_kind_is_probe(kind))
		return;
	if (p->l4proto == PC_IPPROTO_TCP && p->tcp_window == 1024) {
		if (p->ttl >= 200)
			pc_sat_inc16(&s->fp_masscan);
		else if (kind != PC_KIND_SYN || p->tcp_mss == 1460)
			pc_sat_inc16(&s->fp_nmap);
	}
	if (p->ip_version == 4 && p->ip_id == 54321)
		pc_sat_inc16(&s->fp_zmap);
}

/* A packet the host sent to the source s (p->src is the host, p->dst the source). */
PC_INLINE void pc_answer_update(struct pc_src_state *s, const struct pc_packet *p)
{
	if (p->l4proto == PC_IPPROTO_TCP) {
		__u8 f = p->tcp_flags;

		if ((f & (PC_TCP_SYN | PC_TCP_ACK)) == (PC_TCP_SYN | PC_TCP_ACK)) {
			__u32 bit = pc_halfopen_bit(pc_addr_fold(&p->src), p->dport, p->sport);

			s->synack_out++;
			s->halfopen[bit >> 6] |= 1ull << (bit & 63);
		} else if (f & PC_TCP_RST) {
			s->rst_out++;
		}
		if (f & PC_TCP_FIN)
			s->fin_out++;
		return;
	}
	if ((p->l4proto == PC_IPPROTO_ICMP && p->icmp_type == 3 && p->icmp_code == 3) ||
	    (p->l4proto == PC_IPPROTO_ICMPV6 && p->icmp_type == 1 && p->icmp_code == 4))
		s->unreach_out++;
}

/* Replies to our own UDP queries (DNS, NTP answers to ephemeral ports) are not probes. This is
 * the XDP-only heuristic until the egress program tells us which flows we opened. */
PC_INLINE int pc_udp_is_reply(const struct pc_packet *p)
{
	return p->l4proto == PC_IPPROTO_UDP && p->sport < 1024 && p->dport >= 32768;
}

PC_INLINE __u16 pc_probe_weight(const struct pc_packet *p, const volatile struct pc_tuning *t)
{
	if (p->kind == PC_KIND_ICMP_ECHO) /* no port: each destination host counts one point */
		return t->weight_high;
	return pc_port_weight_with(p->dport, t->weight_hot, t->weight_low, t->weight_high);
}

/* Updates s with packet p at time now; returns the packet's effective kind (after the flow
 * filter). Windows roll here. *probe_port is set for probes that carry a port. */
PC_INLINE __u8 pc_source_update(struct pc_src_state *s, const struct pc_packet *p, __u64 now,
				const volatile struct pc_tuning *t, int *probe_port)
{
	__u32 dst_fold = pc_addr_fold(&p->dst);
	__u32 pair;
	__u8 kind;

	*probe_port = 0;
	pc_roll_windows(s, now, t);
	s->last_seen = now;
	s->packets++;

	kind = pc_flow_filter(s, p, dst_fold);
	if (kind == PC_KIND_UDP && pc_udp_is_reply(p))
		kind = PC_KIND_ESTABLISHED;
	s->count[kind & (PC_KIND_MAX - 1)]++;
	if (p->tcp_flags & PC_TCP_FIN)
		s->fin_in++;
	pc_halfopen_close(s, p, dst_fold);
	pc_fingerprint(s, p, kind);
	/* Linux, BSD and Windows stacks send MSS, SACK-permitted, timestamps and window scale
	 * (20 option bytes); nmap's and masscan's raw SYNs carry at most MSS. */
	if (kind == PC_KIND_SYN && p->tcp_hlen >= 20 + 12)
		s->stack_syns++;

	if (!pc_kind_is_probe(kind) && !(kind == PC_KIND_FRAGMENT && p->dport))
		return kind;

	/* Each (destination, port) scores once per window; packets of one probe repeated, or many
	 * connections to one port, add nothing. */
	pair = pc_fib_bits(dst_fold + p->dport, 8); /* 256 bits */
	if (!pc_bit_test_set(s->win_seen, pair)) {
		__u32 k = kind & (PC_KIND_MAX - 1);
		__u32 sum = (__u32)s->win_score[k] + pc_probe_weight(p, t);

		s->win_score[k] = sum > 0xffff ? 0xffff : (__u16)sum;
	}
	/* Every probe is reported for --save-ports and the controller dedupes: the bitmaps here
	 * collide by design, and a list that silently loses ports is worse than lost events
	 * (which are counted). */
	*probe_port = p->kind != PC_KIND_ICMP_ECHO;
	if (p->kind != PC_KIND_ICMP_ECHO)
		pc_bit_test_set(s->ports, pc_mix32(p->dport) >> 22); /* 1024 bits */
	/* A mixing hash, not Fibonacci's: linear counting assumes random bit positions, and
	 * Fibonacci hashing spreads sequential ports too evenly for its estimate. */
	pc_bit_test_set(s->dsts, pc_mix32(dst_fold) >> 24); /* 256 bits */
	return kind;
}
