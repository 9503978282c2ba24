/* The per-packet update of a source's evidence: written once, compiled by clang for the XDP
 * program and by g++ for the pcap backend, so both backends agree packet for packet. */
#pragma once

#include "portcullis/admit.h"
#include "portcullis/packet.h"
#include "portcullis/source.h"

/* Per-run constants. Rodata in the BPF object (set before load); a plain struct in C++. Times
 * are in the caller's ticks. */
struct pc_tuning {
	__u64 score_window;   /* length of a score window (seed 001: 300 ms) */
	__u64 flow_window;    /* length of a flow-filter generation */
	__u64 idle_timeout;   /* a source idle this long may lose its slot (rules' forget time) */
	__u32 hash_seed;      /* random per run: spoofed sources cannot aim at one slot */
	__u32 slot_mask;      /* number of slots - 1 (a power of two, at least 2) */
	__u32 admit_mask;     /* number of admission entries - 1 (a power of two, at least 2) */
	__u16 admit_targets;  /* distinct targets that earn a full slot */
	__u8 v4_prefix;       /* IPv4 sources are aggregated per /v4_prefix (default 32) */
	__u8 v6_prefix;       /* IPv6 sources per /v6_prefix (default 64: one subscriber) */
	__u16 weight_hot;     /* ports 11, 12, 13, 2000 */
	__u16 weight_low;     /* other ports below 1024 */
	__u16 weight_high;    /* ports 1024 and above */
	__u16 event_burst;    /* anomaly events per source per score window */
	__u16 report_ports;   /* nonzero: an event for each port a source probes first (--save-ports) */
	__u16 reserved;
};

#define PC_IDLE_TIMEOUT_S_DEFAULT 300 /* one default: the rules forget a source after it too */
#define PC_ADMIT_TARGETS_DEFAULT 3
#define PC_V4_PREFIX_DEFAULT 32
#define PC_V6_PREFIX_DEFAULT 64

PC_INLINE void pc_tuning_defaults(struct pc_tuning *t, __u64 ticks_per_second)
{
	t->score_window = ticks_per_second * 300 / 1000;
	t->flow_window = ticks_per_second * 30;
	t->idle_timeout = ticks_per_second * PC_IDLE_TIMEOUT_S_DEFAULT;
	t->hash_seed = 0x5eed1234u;
	t->slot_mask = PC_SOURCES_DEFAULT - 1;
	t->admit_mask = PC_ADMIT_DEFAULT - 1;
	t->admit_targets = PC_ADMIT_TARGETS_DEFAULT;
	t->v4_prefix = PC_V4_PREFIX_DEFAULT;
	t->v6_prefix = PC_V6_PREFIX_DEFAULT;
	t->weight_hot = PC_WEIGHT_HOT_DEFAULT;
	t->weight_low = PC_WEIGHT_LOW_DEFAULT;
	t->weight_high = PC_WEIGHT_HIGH_DEFAULT;
	t->event_burst = 4;
	t->report_ports = 0;
	t->reserved = 0;
	if (t->score_window == 0)
		t->score_window = 1;
}

/* Shared-memory primitives. Slots are written by every CPU at once (RSS spreads one scanner's
 * probes over all RX queues): the counts the rules compare with thresholds change by atomic
 * operations, everything else is statistics. Both clang (BPF, -mcpu=v3) and g++ implement the
 * __sync builtins; the barrier only stops the compiler reordering (x86 keeps loads in order). */
#define pc_barrier() __asm__ __volatile__("" ::: "memory")
#define PC_READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define PC_WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/* Time comparisons survive a `now` older than a stored stamp (another CPU wrote a later one):
 * the difference is read as signed, so "older" is negative, never a huge idle time. */
PC_INLINE int pc_elapsed_at_least(__u64 now, __u64 then, __u64 span)
{
	return (__s64)(now - then) >= (__s64)span;
}

PC_INLINE int pc_bit_test(const __u64 *words, __u32 bit)
{
	return (PC_READ_ONCE(words[bit >> 6]) & (1ull << (bit & 63))) != 0;
}

/* Sets a bit; returns whether it was already set. The read first keeps repeated packets free of
 * atomic operations; the atomic OR makes "first to set it" exact across CPUs. */
PC_INLINE int pc_bit_test_set(__u64 *words, __u32 bit)
{
	__u64 mask = 1ull << (bit & 63);
	__u64 *w = &words[bit >> 6];

	if (PC_READ_ONCE(*w) & mask)
		return 1;
	return (__sync_fetch_and_or(w, mask) & mask) != 0;
}

/* The aggregated source: IPv4 per /v4_prefix, IPv6 per /v6_prefix. An attacker with a /64 has
 * 2^64 addresses, one per probe; aggregation makes it one source again. */
PC_INLINE void pc_addr_aggregate(struct pc_addr *a, const volatile struct pc_tuning *t)
{
	if (pc_addr_is_v4(a)) {
		a->w[3] &= pc_prefix_mask_word(t->v4_prefix);
		return;
	}
	a->w[0] &= pc_prefix_mask_word((__s32)t->v6_prefix);
	a->w[1] &= pc_prefix_mask_word((__s32)t->v6_prefix - 32);
	a->w[2] &= pc_prefix_mask_word((__s32)t->v6_prefix - 64);
	a->w[3] &= pc_prefix_mask_word((__s32)t->v6_prefix - 96);
}

/* The aggregated key of src (pc_addr_aggregate) into *key, returning its slot hash
 * (pc_addr_hash). An IPv4 source, most of any server's traffic, is one word: masked and hashed
 * in registers, where the general path copies the key through memory twice. */
PC_INLINE __u32 pc_source_key(const struct pc_addr *src, struct pc_addr *key,
			      const volatile struct pc_tuning *t)
{
	__u32 v4;

	if (pc_addr_is_v4(src)) {
		v4 = src->w[3] & pc_prefix_mask_word(t->v4_prefix);
		pc_addr_from_v4(key, v4);
		return pc_v4_hash(v4, t->hash_seed);
	}
	*key = *src;
	pc_addr_aggregate(key, t);
	return pc_addr_hash(key, t->hash_seed);
}

/* The prefix length over the 128-bit mapped address that a key of this family covers. */
PC_INLINE __u8 pc_key_prefix_len(const struct pc_addr *a, const volatile struct pc_tuning *t)
{
	return pc_addr_is_v4(a) ? (__u8)(96 + t->v4_prefix) : t->v6_prefix;
}

/* Index of the first slot of the pair a key with slot hash `hash` may occupy. */
PC_INLINE __u32 pc_pair_index(__u32 hash, const volatile struct pc_tuning *t)
{
	return hash & t->slot_mask & ~1u;
}

/* Index of the first slot of the pair a source may occupy. */
PC_INLINE __u32 pc_slot_index(const struct pc_addr *src, const volatile struct pc_tuning *t)
{
	return pc_pair_index(pc_addr_hash(src, t->hash_seed), t);
}

/* Index of the first admission entry of the pair; other bits of the same hash. */
PC_INLINE __u32 pc_admit_index(__u32 hash, const volatile struct pc_tuning *t)
{
	return pc_mix32(hash ^ 0x2545f491u) & t->admit_mask & ~1u;
}

/* The sequence count (seqlock) that guards an owner's key, in slots and admission entries. A
 * reader matches a key only when the count is even (no CPU is installing a new owner) and
 * unchanged across the compare, so a half-written key never matches. Both keys are 8-byte
 * aligned (the stored ones by their structs, the looked-up ones by their callers). */
PC_INLINE int pc_seq_key_matches(const __u32 *seq, const __u8 *flags, __u8 used,
				 const struct pc_addr *stored, const struct pc_addr *key)
{
	__u32 before = PC_READ_ONCE(*seq);
	int same;

	if (before & 1)
		return 0;
	pc_barrier();
	same = (*flags & used) && pc_addr_eq_aligned(stored, key);
	pc_barrier();
	return same && PC_READ_ONCE(*seq) == before;
}

/* A writer takes the count from even to odd (one CPU wins), installs the owner, and releases
 * it with a plain store after a compiler barrier, which orders it on x86 (TSO). */
PC_INLINE int pc_seq_write_begin(__u32 *seq, __u32 *before)
{
	*before = PC_READ_ONCE(*seq);
	if (*before & 1)
		return 0;
	if (__sync_val_compare_and_swap(seq, *before, *before + 1) != *before)
		return 0;
	pc_barrier();
	return 1;
}

PC_INLINE void pc_seq_write_end(__u32 *seq, __u32 before)
{
	pc_barrier();
	PC_WRITE_ONCE(*seq, before + 2);
}

/* Whether slot s holds src, read consistently. */
PC_INLINE int pc_slot_holds(const struct pc_src_state *s, const struct pc_addr *src)
{
	return pc_seq_key_matches(&s->seq, &s->flags, PC_SRC_USED, &s->key, src);
}

PC_INLINE int pc_slot_idle(const struct pc_src_state *s, __u64 now,
			   const volatile struct pc_tuning *t)
{
	return pc_elapsed_at_least(now, s->last_seen, t->idle_timeout + 1);
}

/* A holder's strength against a newcomer: its evidence; a blocked source is never evicted (its
 * cached block status is what drops it cheaply). */
PC_INLINE __s32 pc_slot_strength(const struct pc_src_state *s)
{
	if (s->flags & PC_SRC_BLOCKED)
		return 0x7fffffff;
	return s->evidence;
}

/* Claims slot s for src (one CPU wins; the others see an odd or changed count and give up),
 * clears it and installs the key; returns 0 when another CPU got there first. */
PC_INLINE int pc_slot_claim(struct pc_src_state *s, const struct pc_addr *src, __u8 prefix_len,
			    __u64 now)
{
	__u32 seq;

	if (!pc_seq_write_begin(&s->seq, &seq))
		return 0;
	__builtin_memset((__u8 *)s + sizeof(s->seq), 0, sizeof(*s) - sizeof(s->seq));
	s->key = *src;
	s->prefix_len = prefix_len;
	s->first_seen = now;
	s->last_seen = now;
	s->win_start = now;
	s->flow_start = now;
	s->flags = PC_SRC_USED;
	pc_seq_write_end(&s->seq, seq);
	return 1;
}

/* Which of the pair (a, b) a newcomer of the given strength may take: a free slot, then an idle
 * one, then the weaker holder if the newcomer is stronger (or `force`, the controller's
 * promotion). 0: both holders are stronger. */
PC_INLINE struct pc_src_state *pc_slot_victim(struct pc_src_state *a, struct pc_src_state *b,
					      __s32 strength, int force, __u64 now,
					      const volatile struct pc_tuning *t)
{
	struct pc_src_state *weak;

	if (!(a->flags & PC_SRC_USED))
		return a;
	if (!(b->flags & PC_SRC_USED))
		return b;
	if (pc_slot_idle(a, now, t))
		return a;
	if (pc_slot_idle(b, now, t))
		return b;
	weak = pc_slot_strength(b) < pc_slot_strength(a) ? b : a;
	if (weak->flags & PC_SRC_BLOCKED)
		return 0;
	if (force || pc_slot_strength(weak) < strength)
		return weak;
	return 0;
}

/* Moves the source's last-seen time forward (never back: another CPU may hold a later now). */
PC_INLINE void pc_touch(struct pc_src_state *s, __u64 now)
{
	if ((__s64)(now - PC_READ_ONCE(s->last_seen)) > 0)
		s->last_seen = now;
}

/* Rolls the score and flow windows. One CPU wins the compare-and-swap of the window start and
 * clears; the others carry on in the new window. */
PC_INLINE void pc_roll_windows(struct pc_src_state *s, __u64 now, const volatile struct pc_tuning *t)
{
	__u64 start = PC_READ_ONCE(s->win_start);
	int i;

	if (pc_elapsed_at_least(now, start, t->score_window) &&
	    __sync_val_compare_and_swap(&s->win_start, start, now) == start) {
		PC_UNROLL
		for (i = 0; i < PC_KIND_ARRAY; i++) {
			s->prev_score[i] = s->win_score[i];
			s->win_score[i] = 0;
		}
		PC_UNROLL
		for (i = 0; i < PC_WIN_SEEN_WORDS; i++)
			s->win_seen[i] = 0;
		s->win_events = 0;
	}
	start = PC_READ_ONCE(s->flow_start);
	if (pc_elapsed_at_least(now, start, t->flow_window) &&
	    __sync_val_compare_and_swap(&s->flow_start, start, now) == start) {
		PC_UNROLL
		for (i = 0; i < PC_FLOW_WORDS; i++) {
			s->flows_prev[i] = s->flows[i];
			s->flows[i] = 0;
		}
	}
}

PC_INLINE __u32 pc_flow_bit(const struct pc_packet *p, __u32 dst_fold)
{
	return pc_fib_bits(dst_fold ^ ((__u32)p->sport << 16 | p->dport), 9); /* 512 bits */
}

/* Whether the connection of flow bit `bit` is one the source opened or answered, in this
 * generation or the one before. */
PC_INLINE int pc_flow_known(const struct pc_src_state *s, __u32 bit)
{
	return pc_bit_test(s->flows, bit) || pc_bit_test(s->flows_prev, bit);
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
		if (pc_flow_known(s, bit)) {
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
 * a connect scan: evidence against it), RST aborts it (a SYN scan's half-open probe). */
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
	if (!(PC_READ_ONCE(s->halfopen[bit >> 6]) & mask))
		return;
	if (!(__sync_fetch_and_and(&s->halfopen[bit >> 6], ~mask) & mask))
		return; /* another CPU closed it */
	if (p->tcp_flags & PC_TCP_RST) {
		__sync_fetch_and_add(&s->reset_after_synack, 1);
	} else {
		__sync_fetch_and_add(&s->acked, 1);
		__sync_fetch_and_add(&s->evidence, -1);
	}
}

/* A source's per-packet statistics (packets, packets per kind, tool marks, drops) are exact up
 * to PC_STAT_EXACT; past it, one packet in PC_STAT_STEP, at random, adds PC_STAT_STEP (an
 * unbiased estimate). One source's packets spread over every CPU by RSS would otherwise write
 * one cache line from all of them on every packet, and that costs each CPU hundreds of
 * nanoseconds a packet. No threshold compares these counts
 * (evidence is distinct targets, counted exactly); labels and tags use their ratios.
 *
 * Packets of established flows (a busy server's client traffic, never evidence) are sampled
 * one in PC_STAT_FLOW_STEP instead: their sampled branch is a coin nothing can predict, and
 * taken one packet in 16 it cost the established ACK about 1 ns of its 15 (measured against
 * one in 64, same-process A/B). Their estimate is as unbiased; its standard error is 8/sqrt(n)
 * for n packets past PC_STAT_EXACT (4/sqrt(n) at one in 16): 2.5 % at a hundred thousand. */
#define PC_STAT_EXACT 1024
#define PC_STAT_STEP 16
#define PC_STAT_STEP_BITS 4 /* log2(PC_STAT_STEP) */
#define PC_STAT_FLOW_STEP 64
#define PC_STAT_FLOW_STEP_BITS 6 /* log2(PC_STAT_FLOW_STEP) */

/* Whether the packet whose coin is `coin` (32 random bits: ingress.h, pc_stat_coin) is the
 * sampled one in 2^bits. */
PC_INLINE int pc_coin_tick(__u32 coin, __u32 bits)
{
	return (coin >> (32 - bits)) == 0;
}

/* Counts one packet in *v: exactly, or past PC_STAT_EXACT `step` when this is the packet
 * sampled one in `step`. */
PC_INLINE void pc_stat_add(__u32 *v, int tick, __u32 step)
{
	__u32 now = *v;

	if (now < PC_STAT_EXACT)
		*v = now + 1;
	else if (tick)
		__sync_fetch_and_add(v, step); /* rare: exact across CPUs */
}

PC_INLINE void pc_stat_inc(__u32 *v, int tick)
{
	pc_stat_add(v, tick, PC_STAT_STEP);
}

/* The statistics of a packet of an established flow: the shortcut and the full update both
 * count it here, so they write it alike. */
PC_INLINE void pc_flow_stat_inc(struct pc_src_state *s, __u32 coin)
{
	int tick = pc_coin_tick(coin, PC_STAT_FLOW_STEP_BITS);

	pc_stat_add(&s->packets, tick, PC_STAT_FLOW_STEP);
	pc_stat_add(&s->count[PC_KIND_ESTABLISHED], tick, PC_STAT_FLOW_STEP);
}

PC_INLINE void pc_stat_inc16(__u16 *v, int tick)
{
	__u16 now = *v;

	if (now < PC_STAT_EXACT)
		*v = now + 1;
	else if (tick && now <= 0xffff - PC_STAT_STEP)
		*v = now + PC_STAT_STEP;
}

/* Tool marks, tags on alerts and never evidence on their own. */
PC_INLINE void pc_fingerprint(struct pc_src_state *s, const struct pc_packet *p, __u8 kind,
			      int tick)
{
	if (!pc_kind_is_probe(kind))
		return;
	if (p->l4proto == PC_IPPROTO_TCP && p->tcp_window == 1024) {
		if (p->ttl >= 200)
			pc_stat_inc16(&s->fp_masscan, tick);
		else if (kind != PC_KIND_SYN || p->tcp_mss == 1460)
			pc_stat_inc16(&s->fp_nmap, tick);
	}
	if (p->ip_version == 4 && p->ip_id == 54321)
		pc_stat_inc16(&s->fp_zmap, tick);
}

/* The host's answers that reject a probe: RST, ICMP port or protocol unreachable (ICMPv6:
 * port unreachable, unrecognised next header). */
PC_INLINE int pc_answer_rejects(const struct pc_packet *p)
{
	if (p->l4proto == PC_IPPROTO_TCP)
		return (p->tcp_flags & PC_TCP_RST) != 0;
	if (p->l4proto == PC_IPPROTO_ICMP)
		return p->icmp_type == 3 && (p->icmp_code == 3 || p->icmp_code == 2);
	if (p->l4proto == PC_IPPROTO_ICMPV6)
		return (p->icmp_type == 1 && p->icmp_code == 4) ||
		       (p->icmp_type == 4 && p->icmp_code == 1);
	return 0;
}

/* Whether a packet the host sends is an answer the rules read (egress filters on it). */
PC_INLINE int pc_is_answer(const struct pc_packet *p)
{
	if (p->l4proto == PC_IPPROTO_TCP)
		return (p->tcp_flags & (PC_TCP_RST | PC_TCP_FIN)) ||
		       (p->tcp_flags & (PC_TCP_SYN | PC_TCP_ACK)) == (PC_TCP_SYN | PC_TCP_ACK);
	return pc_answer_rejects(p);
}

/* A packet the host sent to the source s (p->src is the host, p->dst the source). */
PC_INLINE void pc_answer_update(struct pc_src_state *s, const struct pc_packet *p)
{
	if (p->l4proto == PC_IPPROTO_TCP) {
		__u8 f = p->tcp_flags;

		if ((f & (PC_TCP_SYN | PC_TCP_ACK)) == (PC_TCP_SYN | PC_TCP_ACK)) {
			__u32 bit = pc_halfopen_bit(pc_addr_fold(&p->src), p->dport, p->sport);

			__sync_fetch_and_add(&s->synack_out, 1);
			if (!pc_bit_test_set(s->halfopen, bit))
				__sync_fetch_and_add(&s->synack_new, 1); /* not a retransmission */
		} else if (f & PC_TCP_RST) {
			__sync_fetch_and_add(&s->rst_out, 1);
			__sync_fetch_and_add(&s->evidence, 1);
		}
		if (f & PC_TCP_FIN)
			s->fin_out++;
		return;
	}
	if (pc_answer_rejects(p)) {
		__sync_fetch_and_add(&s->unreach_out, 1);
		__sync_fetch_and_add(&s->evidence, 1);
	}
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

/* A probe's target for the admission tier: (destination, port), or (destination, protocol). */
PC_INLINE __u32 pc_target_hash(const struct pc_packet *p, __u32 dst_fold)
{
	return pc_mix32(dst_fold ^ ((__u32)p->dport << 8) ^ p->l4proto);
}

/* The packet of a connection the source opened, taken before the full update (pc_source_update)
 * when that update would do no more than this: an ACK or data segment (no SYN, FIN or RST) of a
 * flow the filter knows, that completes no handshake, in windows that need no roll. It writes
 * exactly what the full update writes for such a packet (last seen, the statistics, the flow's
 * refresh), so the backends and the rules see no difference; it only skips the subprogram call
 * and the checks that cannot apply. Returns 1 when it took the packet, 0 (having written
 * nothing) when the full update must. This is every packet of a busy server's clients that
 * hold a slot, and the budget is 15 ns (DESIGN.md). */
PC_INLINE int pc_established_update(struct pc_src_state *s, const struct pc_packet *p,
				    const volatile struct pc_tuning *t, __u64 now, __u32 coin)
{
	__u32 dst_fold, bit;

	if ((p->kind != PC_KIND_ACK && p->kind != PC_KIND_ESTABLISHED) ||
	    (p->tcp_flags & PC_TCP_FIN))
		return 0;
	if (pc_elapsed_at_least(now, PC_READ_ONCE(s->win_start), t->score_window) ||
	    pc_elapsed_at_least(now, PC_READ_ONCE(s->flow_start), t->flow_window))
		return 0;
	dst_fold = pc_addr_fold(&p->dst);
	bit = pc_flow_bit(p, dst_fold);
	if (!pc_flow_known(s, bit))
		return 0; /* outside any known connection: an ACK probe */
	if (pc_bit_test(s->halfopen, pc_halfopen_bit(dst_fold, p->sport, p->dport)))
		return 0; /* it may complete a handshake: evidence against the source */
	pc_touch(s, now);
	pc_bit_test_set(s->flows, bit);
	pc_flow_stat_inc(s, coin);
	return 1;
}

/* One packet's update (BPF passes at most five arguments). */
struct pc_update_io {
	__u64 now;      /* in: the packet's time */
	__u32 coin;     /* in: the packet's 32 random bits, for the statistics past PC_STAT_EXACT */
	int probe_port; /* out: a probe that carries a port */
};

/* Updates s with packet p; returns the packet's effective kind (after the flow filter).
 * Windows roll here. */
PC_STEP __u8 pc_source_update(struct pc_src_state *s, const struct pc_packet *p,
				const volatile struct pc_tuning *t, struct pc_update_io *io)
{
	__u32 dst_fold = pc_addr_fold(&p->dst);
	__u64 now = io->now;
	int tick = pc_coin_tick(io->coin, PC_STAT_STEP_BITS);
	__u32 pair, k;
	int new_target;
	__u8 kind;

	io->probe_port = 0;
	pc_roll_windows(s, now, t);
	pc_touch(s, now);

	kind = pc_flow_filter(s, p, dst_fold);
	if (kind == PC_KIND_UDP && pc_udp_is_reply(p))
		kind = PC_KIND_ESTABLISHED;
	k = PC_KIND_INDEX(kind);
	if (kind == PC_KIND_ESTABLISHED) {
		pc_flow_stat_inc(s, io->coin);
	} else {
		pc_stat_inc(&s->packets, tick);
		pc_stat_inc(&s->count[k], tick);
	}
	if (p->tcp_flags & PC_TCP_FIN)
		pc_stat_inc(&s->fin_in, tick);
	pc_halfopen_close(s, p, dst_fold);
	pc_fingerprint(s, p, kind, tick);
	/* Linux, BSD and Windows stacks send MSS, SACK-permitted, timestamps and window scale
	 * (20 option bytes); nmap's and masscan's raw SYNs carry at most MSS. */
	if (kind == PC_KIND_SYN && p->tcp_hlen >= 20 + 12)
		pc_stat_inc(&s->stack_syns, tick);

	if (kind == PC_KIND_IPPROTO) {
		/* A tunnel peer speaks one protocol; a protocol scan walks them. */
		if (!pc_bit_test_set(s->protos, p->l4proto)) {
			__sync_fetch_and_add(&s->proto_targets, 1);
			__sync_fetch_and_add(&s->evidence, 1);
		}
		return kind;
	}
	if (!pc_kind_is_probe(kind) && !(kind == PC_KIND_FRAGMENT && p->dport))
		return kind;

	/* Each (destination, port) scores once per window; packets of one probe repeated, or many
	 * connections to one port, add nothing. */
	pair = pc_fib_bits(dst_fold + p->dport, 8); /* 256 bits */
	if (!pc_bit_test_set(s->win_seen, pair))
		__sync_fetch_and_add(&s->win_score[k], pc_probe_weight(p, t));
	/* Every probe is reported for --save-ports and the controller dedupes: the bitmaps here
	 * collide by design, and a list that silently loses ports is worse than lost events
	 * (which are counted). */
	io->probe_port = p->kind != PC_KIND_ICMP_ECHO;
	new_target = 0;
	if (p->kind != PC_KIND_ICMP_ECHO)
		new_target |= !pc_bit_test_set(s->ports, pc_mix32(p->dport) >> 22); /* 1024 bits */
	/* A mixing hash, not Fibonacci's: linear counting assumes random bit positions, and
	 * Fibonacci hashing spreads sequential ports too evenly for its estimate. */
	new_target |= !pc_bit_test_set(s->dsts, pc_mix32(dst_fold) >> 24); /* 256 bits */
	if (new_target) {
		/* A first (port or destination): evidence, and seed 002's distinct targets. */
		__sync_fetch_and_add(&s->evidence, pc_kind_is_illegal(kind) ? 3 : 1);
		if (kind == PC_KIND_SYN)
			__sync_fetch_and_add(&s->syn_targets, 1);
		else if (kind == PC_KIND_FIN || kind == PC_KIND_XMAS || kind == PC_KIND_MAIMON)
			__sync_fetch_and_add(&s->fin_targets, 1);
	}
	return kind;
}
