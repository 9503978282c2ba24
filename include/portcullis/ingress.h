/* The whole per-packet path, written once: admission, eviction, list checks, the update and
 * event throttling (ingress), and the host's answers (egress). Compiled by clang into the XDP
 * and TC programs and by g++ into the pcap backend, so the backends agree packet for packet.
 *
 * The includer defines, before including this header, `struct pc_env` and:
 *   struct pc_src_state *pc_env_slot(struct pc_env *, __u32 index);   source-table slot
 *   struct pc_slot_tags *pc_env_tags(struct pc_env *, __u32 pair);     tags of a slot pair
 *   struct pc_admit *pc_env_admit(struct pc_env *, __u32 index);      admission entry
 *   struct pc_admit_tags *pc_env_admit_tags(struct pc_env *, __u32 pair); tags of an entry pair
 *   struct pc_first *pc_env_first(struct pc_env *, __u32 index);      first-packet word
 *   struct pc_sketch *pc_env_sketch(struct pc_env *);                 this CPU's sketch
 *   int pc_env_allowed(struct pc_env *, const struct pc_addr *src);   on the allowlist
 *   int pc_env_blocked(struct pc_env *, const struct pc_addr *key, const struct pc_addr *src,
 *                      __u64 now, __u64 *expires);                    blocked now (exact key,
 *                                                                     then prefixes of src)
 *   void pc_env_emit(struct pc_env *, const struct pc_packet *, __u8 type, __u8 kind, __u64 now);
 * (BPF: map lookups and the ring buffer; C++: the in-memory tables.) */
#pragma once

#include "portcullis/admit.h"
#include "portcullis/control.h"
#include "portcullis/event.h"
#include "portcullis/stats.h"
#include "portcullis/update.h"

enum pc_verdict {
	PC_VERDICT_PASS = 0,
	PC_VERDICT_DROP = 1,
};

struct pc_ingress_ctx {
	struct pc_env *env;
	struct pc_stats *st;
	const struct pc_control *ctl;
	const volatile struct pc_tuning *t;
	__u64 now;
};

PC_INLINE int pc_any_blocks(const struct pc_control *ctl)
{
	return ctl->nr_blocks || ctl->nr_prefix_blocks;
}

PC_INLINE int pc_popcount32(__u32 x)
{
	x = x - ((x >> 1) & 0x55555555u);
	x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
	x = (x + (x >> 4)) & 0x0f0f0f0fu;
	return (int)((x * 0x01010101u) >> 24);
}

PC_INLINE int pc_popcount64(__u64 x)
{
	return pc_popcount32((__u32)x) + pc_popcount32((__u32)(x >> 32));
}

/* Strength of an admission entry, on the scale of a slot's evidence. */
PC_INLINE __s32 pc_admit_strength(const struct pc_admit *a)
{
	__s32 targets = pc_popcount64(a->targets);
	__s32 rejects = a->rejects < targets ? a->rejects : targets;

	return targets + rejects + ((a->flags & PC_ADMIT_ILLEGAL) ? 3 : 0);
}

/* How readily a newcomer may take an entry: 3 free or idle, 2 no evidence (at most one
 * target), 1 some evidence but silent for `quiet` (a spoofed address's two SYNs came and went;
 * a scanner keeps probing), 0 never. */
PC_INLINE int pc_admit_replaceable(const struct pc_admit *a, __u32 now32, __u32 idle32,
				   __u32 quiet32)
{
	__s32 silent = (__s32)(now32 - a->last_seen);

	if (!(a->flags & PC_ADMIT_USED) || silent > (__s32)idle32)
		return 3;
	if (a->flags & PC_ADMIT_EVIDENCE_FLAGS)
		return 0;
	if (pc_popcount64(a->targets) <= 1)
		return 2;
	return silent > (__s32)quiet32;
}

PC_INLINE int pc_admit_holds(const struct pc_admit *a, const struct pc_addr *key)
{
	return pc_seq_key_matches(&a->seq, &a->flags, PC_ADMIT_USED, &a->key, key);
}

/* Claims entry a for key, with its first target already in (the claimer owns the entry, so no
 * atomic operation is needed for it). */
PC_INLINE int pc_admit_claim(struct pc_admit *a, const struct pc_addr *key, __u32 now32,
			     __u64 targets, __u16 score, __u16 port0, __u16 port1)
{
	__u32 seq;

	if (!pc_seq_write_begin(&a->seq, &seq))
		return 0;
	a->key = *key;
	a->targets = targets;
	a->last_seen = now32;
	a->score = score;
	a->rejects = 0;
	a->first_ports[0] = port0;
	a->first_ports[1] = port1;
	a->flags = PC_ADMIT_USED;
	pc_seq_write_end(&a->seq, seq);
	return 1;
}

PC_INLINE __u16 pc_admit_tag(__u32 hash)
{
	return (__u16)((hash >> 16) | 1);
}

/* Index of a source's first-packet word; other bits of the slot hash. */
PC_INLINE __u32 pc_first_index(__u32 hash, const volatile struct pc_tuning *t)
{
	return pc_mix32(hash ^ 0x7f4a7c15u) & t->admit_mask;
}

/* The first-packet tier's part of a probe from a source in neither tier (admit.h). Returns 1
 * when this probe is its second distinct target (*first is its first, taken out of the tier),
 * 0 when it is its first target (remembered) or that target again (nothing written). */
PC_INLINE int pc_first_step(struct pc_ingress_ctx *c, __u32 hash, const struct pc_first *probe,
			    struct pc_first *first)
{
	struct pc_first *f = pc_env_first(c->env, pc_first_index(hash, c->t));
	struct pc_first held;

	if (!f)
		return 1; /* no tier: the admission tier takes it */
	held = *f;
	if (held.tag != probe->tag) {
		*f = *probe;
		return 0;
	}
	if ((held.bit & PC_FIRST_TARGET_MASK) == probe->bit)
		return 0;
	*first = held;
	PC_WRITE_ONCE(f->tag, 0);
	return 1;
}

/* Leading zeros of a nonzero word (BPF has no instruction for it). */
PC_INLINE __u8 pc_clz32(__u32 x)
{
	__u8 n = 0;

	if (!(x & 0xffff0000u)) { n += 16; x <<= 16; }
	if (!(x & 0xff000000u)) { n += 8; x <<= 8; }
	if (!(x & 0xf0000000u)) { n += 4; x <<= 4; }
	if (!(x & 0xc0000000u)) { n += 2; x <<= 2; }
	if (!(x & 0x80000000u)) { n += 1; }
	return n;
}

/* Counts a source that holds no full slot in this CPU's HyperLogLog. */
PC_INLINE void pc_sketch_add(struct pc_sketch *sk, __u32 hash)
{
	__u32 h = pc_mix32(hash ^ 0x68e31da4u);
	__u32 reg = (h >> (32 - PC_HLL_BITS)) & (PC_HLL_REGS - 1);
	__u32 rest = (h << PC_HLL_BITS) | (1u << (PC_HLL_BITS - 1)); /* never 0 */
	__u8 rank = (__u8)(pc_clz32(rest) + 1);

	if (sk && sk->reg[reg] < rank)
		sk->reg[reg] = rank;
}

/* The admission pair a source hashes to, and the tags of its holders (as struct pc_bucket is for
 * slots). */
struct pc_admit_pair {
	struct pc_admit *x, *y;
	struct pc_admit_tags *tags;
	__u16 tag;
};

PC_INLINE int pc_admit_pair_of(struct pc_ingress_ctx *c, __u32 hash, struct pc_admit_pair *k)
{
	__u32 idx = pc_admit_index(hash, c->t);

	k->x = pc_env_admit(c->env, idx);
	k->y = pc_env_admit(c->env, idx | 1);
	k->tags = pc_env_admit_tags(c->env, idx >> 1);
	k->tag = pc_admit_tag(hash);
	return k->x && k->y && k->tags;
}

/* The entry key holds, found by its tag: a source in neither tier never touches the entries. */
PC_INLINE struct pc_admit *pc_admit_find(const struct pc_admit_pair *k, const struct pc_addr *key)
{
	if (PC_READ_ONCE(k->tags->tag[0]) == k->tag && pc_admit_holds(k->x, key))
		return k->x;
	if (PC_READ_ONCE(k->tags->tag[1]) == k->tag && pc_admit_holds(k->y, key))
		return k->y;
	return 0;
}

/* A newcomer's entry in the pair (x, y): a free or idle one, else one without evidence, else one
 * whose evidence went quiet (the older of two alike); never one still showing evidence, so a
 * flood of sources with little to show churns among itself. */
PC_INLINE struct pc_admit *pc_admit_victim(struct pc_admit *x, struct pc_admit *y, __u32 now32,
					   const volatile struct pc_tuning *t)
{
	__u32 idle32 = (__u32)t->idle_timeout, quiet32 = (__u32)t->score_window * 4;
	int rx = pc_admit_replaceable(x, now32, idle32, quiet32);
	int ry = pc_admit_replaceable(y, now32, idle32, quiet32);

	if (ry > rx || (ry == rx && ry && (__s32)(y->last_seen - x->last_seen) < 0))
		return y;
	return rx ? x : 0;
}

/* A packet from a source already in the admission tier, entry a. */
PC_INLINE void pc_admit_seen(struct pc_ingress_ctx *c, const struct pc_packet *p,
			     struct pc_admit *a, __u64 bit, int port_probe)
{
	PC_WRITE_ONCE(a->last_seen, (__u32)c->now);
	/* Its answer to a SYN-ACK the host sent it, remembered for its slot: only the real sender
	 * sees SYN-ACKs (the blocker's evidence). */
	if ((a->flags & PC_ADMIT_OFFERED) && p->l4proto == PC_IPPROTO_TCP &&
	    !(p->tcp_flags & PC_TCP_SYN)) {
		if (p->tcp_flags & PC_TCP_RST)
			a->flags |= PC_ADMIT_RESET;
		else if (p->tcp_flags & PC_TCP_ACK)
			a->flags |= PC_ADMIT_ACKED;
	}
	if (pc_kind_is_illegal(p->kind))
		a->flags |= PC_ADMIT_ILLEGAL;
	if (bit && !(PC_READ_ONCE(a->targets) & bit) &&
	    !(__sync_fetch_and_or(&a->targets, bit) & bit)) {
		if (a->score < 0xff00)
			a->score += pc_probe_weight(p, c->t);
		if (port_probe && !a->first_ports[1] && a->first_ports[0] != p->dport)
			a->first_ports[1] = p->dport;
	}
}

/* The admission tier's part of a packet from a source without a slot (after the first-packet
 * tier's). Returns the strength to promote with (> 0), or 0 to stay; *entry is the source's
 * entry (0 when it has none). */
PC_INLINE __s32 pc_admit_step(struct pc_ingress_ctx *c, const struct pc_packet *p,
			      const struct pc_addr *key, __u32 hash, int *force,
			      struct pc_admit **entry, __u32 *idle_before)
{
	const volatile struct pc_tuning *t = c->t;
	__u32 now32 = (__u32)c->now;
	struct pc_first probe, first = { 0, 0, PC_FIRST_NO_TARGET, 0 };
	struct pc_admit_pair pair;
	struct pc_admit *a;
	__u16 port, weight;
	int port_probe, bit_index = PC_FIRST_NO_TARGET;
	__u64 bit = 0, targets;

	*force = 0;
	*entry = 0;
	if (!pc_admit_pair_of(c, hash, &pair))
		return 0;
	if (pc_kind_is_probe(p->kind) || p->kind == PC_KIND_IPPROTO ||
	    (p->kind == PC_KIND_FRAGMENT && p->dport)) {
		bit_index = (int)(pc_target_hash(p, pc_addr_fold(&p->dst)) >> 26);
		bit = 1ull << bit_index;
	}
	port_probe = bit && (p->l4proto == PC_IPPROTO_TCP || p->l4proto == PC_IPPROTO_UDP);
	port = port_probe ? p->dport : 0;
	weight = bit ? pc_probe_weight(p, t) : 0;
	a = pc_admit_find(&pair, key);
	if (a) {
		*entry = a;
		*idle_before = now32 - a->last_seen;
		pc_admit_seen(c, p, a, bit, port_probe);
	} else {
		/* A newcomer's first target waits in the first-packet tier, unless its first packet
		 * alone decides (illegal flags, or one target earns a slot). */
		if (!pc_kind_is_illegal(p->kind) && t->admit_targets > 1) {
			if (!bit)
				return 0; /* no target: nothing to remember */
			probe.tag = hash | 1;
			probe.port = port;
			probe.bit = (__u8)bit_index;
			probe.weight = (__u8)(weight < 0xff ? weight : 0xff);
			if (!pc_first_step(c, hash, &probe, &first))
				return 0;
		}
		a = pc_admit_victim(pair.x, pair.y, now32, t);
		targets = bit;
		if (first.bit != PC_FIRST_NO_TARGET)
			targets |= 1ull << (first.bit & PC_FIRST_TARGET_MASK);
		if (!a || !pc_admit_claim(a, key, now32, targets,
					  (__u16)(weight + first.weight),
					  first.port ? first.port : port,
					  first.port && port != first.port ? port : 0)) {
			c->st->admit_full++;
			return 0;
		}
		PC_WRITE_ONCE(pair.tags->tag[a == pair.y], pair.tag);
		if (first.bit != PC_FIRST_NO_TARGET && (first.bit & PC_FIRST_REJECTED))
			a->rejects = 1;
		c->st->admitted++;
		*entry = a;
		*idle_before = 0;
		if (pc_kind_is_illegal(p->kind))
			a->flags |= PC_ADMIT_ILLEGAL;
	}
	if (a->flags & PC_ADMIT_PROMOTE)
		*force = 1;
	if (*force || (a->flags & PC_ADMIT_ILLEGAL) ||
	    pc_popcount64(a->targets) >= t->admit_targets)
		return pc_admit_strength(a);
	return 0;
}

/* The slot pair a source hashes to, and the tags of its holders. The slots themselves are
 * looked up only when a tag matches or a source is promoted: a lookup's key goes through the
 * stack, and on the path of every packet that store and reload is latency a packet waits on. */
struct pc_bucket {
	struct pc_slot_tags *tags;
	__u32 hash;
	__u32 index; /* the pair's first slot */
};

/* The bucket of the key whose slot hash is `hash`. */
PC_INLINE int pc_bucket_of(struct pc_ingress_ctx *c, __u32 hash, struct pc_bucket *k)
{
	k->hash = hash;
	k->index = pc_pair_index(hash, c->t);
	k->tags = pc_env_tags(c->env, k->index >> 1);
	return k->tags != 0;
}

/* Slot `way` (0 or 1) of the pair, when it holds key. */
PC_INLINE struct pc_src_state *pc_slot_way(struct pc_ingress_ctx *c, const struct pc_bucket *k,
					   __u32 way, const struct pc_addr *key)
{
	struct pc_src_state *s;

	if (PC_READ_ONCE(k->tags->tag[way]) != (k->hash | 1))
		return 0;
	s = pc_env_slot(c->env, k->index | way);
	return s && pc_slot_holds(s, key) ? s : 0;
}

/* The slot key holds, found by its tag: the path of every packet from a tracked source. A
 * source without a slot reads 8 hot bytes, never the slots themselves. */
PC_INLINE struct pc_src_state *pc_slot_find(struct pc_ingress_ctx *c, const struct pc_bucket *k,
					    const struct pc_addr *key)
{
	struct pc_src_state *s = pc_slot_way(c, k, 0, key);

	return s ? s : pc_slot_way(c, k, 1, key);
}

/* A source without a slot: the admission tier's step, and its promotion into the bucket when
 * it has earned one. Returns the slot it was just installed in, or 0. */
PC_INLINE struct pc_src_state *pc_slot_admit(struct pc_ingress_ctx *c, const struct pc_packet *p,
					     const struct pc_addr *key, const struct pc_bucket *k)
{
	const volatile struct pc_tuning *t = c->t;
	struct pc_src_state *a, *b, *s;
	struct pc_slot_tags *tags = k->tags;
	__u32 hash = k->hash, tag = hash | 1;
	struct pc_admit *entry;
	__u32 idle_before = 0, targets, entry_seq, admitted;
	__s32 strength;
	int force, evicted, i;

	strength = pc_admit_step(c, p, key, hash, &force, &entry, &idle_before);
	if (!strength) {
		pc_sketch_add(pc_env_sketch(c->env), hash);
		return 0;
	}
	/* Promotion is rare: confirm on the slots themselves (a tag may lag its claim by an
	 * instant on another CPU). */
	a = pc_env_slot(c->env, k->index);
	b = pc_env_slot(c->env, k->index | 1);
	if (!a || !b)
		return 0;
	if (pc_slot_holds(a, key))
		return a;
	if (pc_slot_holds(b, key))
		return b;
	/* One CPU promotes a source: the one that takes its entry's sequence count to odd. (The
	 * others count this packet as untracked; their next finds the slot.) */
	entry_seq = PC_READ_ONCE(entry->seq);
	if ((entry_seq & 1) ||
	    __sync_val_compare_and_swap(&entry->seq, entry_seq, entry_seq + 1) != entry_seq)
		return 0;
	s = pc_slot_victim(a, b, strength, force, c->now, t);
	if (!s) {
		entry->flags |= PC_ADMIT_STUCK;
		__sync_fetch_and_add(&entry->seq, 1);
		c->st->promote_refused++;
		pc_sketch_add(pc_env_sketch(c->env), hash);
		return 0;
	}
	evicted = (s->flags & PC_SRC_USED) != 0;
	if (!pc_slot_claim(s, key, pc_key_prefix_len(key, t), c->now)) {
		__sync_fetch_and_add(&entry->seq, 1);
		return 0; /* another CPU installed a source there this instant */
	}
	PC_WRITE_ONCE(tags->tag[s == b], tag);
	/* What the source showed in the admission tier comes along: its strength, its distinct
	 * targets (before this packet, which the update counts), its rejected probes, the slow
	 * rule's counter of its kind (for SYNs only the rejected ones: the SYN-ACKs it got there
	 * were not recorded), and its score when its last probe there was inside one window. */
	targets = (__u32)pc_popcount64(entry->targets) - 1;
	s->evidence = strength;
	/* Its first port probes go into the slot's bitmaps (for the destination of this packet:
	 * exact for a scan of one host), so probing them again counts nothing twice. */
	admitted = targets;
	for (i = 0; i < 2; i++) {
		__u16 port = entry->first_ports[i];

		if (!port || port == p->dport || !admitted)
			continue;
		if (!pc_bit_test_set(s->ports, pc_mix32(port) >> 22))
			admitted--;
		pc_bit_test_set(s->win_seen, pc_fib_bits(pc_addr_fold(&p->dst) + port, 8));
	}
	s->admitted_targets = admitted;
	s->admitted_rejects = entry->rejects;
	s->dst = p->dst;
	if (entry->flags & PC_ADMIT_RESET)
		s->reset_after_synack = 1;
	if (entry->flags & PC_ADMIT_ACKED)
		s->acked = 1;
	s->packets = targets; /* at least one packet per target, in the summary's counts */
	s->count[PC_KIND_INDEX(p->kind)] = targets;
	if (p->kind == PC_KIND_SYN)
		s->syn_targets = entry->rejects < targets ? entry->rejects : targets;
	else if (p->kind == PC_KIND_FIN || p->kind == PC_KIND_XMAS || p->kind == PC_KIND_MAIMON)
		s->fin_targets = targets;
	if (idle_before < t->score_window && entry->score > pc_probe_weight(p, t))
		s->win_score[PC_KIND_INDEX(p->kind)] =
			entry->score - pc_probe_weight(p, t); /* this packet scores below */
	s->gen = c->ctl->gen - 1; /* the list check below runs for the newcomer */
	entry->flags = 0;         /* the entry is free for the next newcomer */
	pc_barrier();
	__sync_fetch_and_add(&entry->seq, 1);
	c->st->promotions++;
	if (evicted)
		c->st->evictions++;
	return s;
}

/* The list check of a source without a slot, uncached. */
PC_INLINE int pc_untracked_verdict(struct pc_ingress_ctx *c, const struct pc_addr *key,
				   const struct pc_addr *src)
{
	__u64 expires;

	c->st->untracked++;
	if (!pc_any_blocks(c->ctl) || !pc_env_blocked(c->env, key, src, c->now, &expires))
		return PC_VERDICT_PASS;
	if (c->ctl->nr_allow && pc_env_allowed(c->env, src)) {
		c->st->allowed++;
		return PC_VERDICT_PASS;
	}
	c->st->dropped++;
	return PC_VERDICT_DROP;
}

/* This packet's coin for the sampled statistics (update.h: pc_stat_add, pc_coin_tick): this
 * CPU's packet count, seeded, through Fibonacci hashing. No helper call, no sender can tell
 * which of its packets are counted, and over consecutive counts the top bits are evenly
 * spread, so the top b bits are zero on one packet in 2^b. One multiply: every packet of a
 * busy source tosses it. */
PC_INLINE __u32 pc_stat_coin(struct pc_ingress_ctx *c)
{
	return ((__u32)c->st->packets ^ c->t->hash_seed) * PC_GOLDEN32;
}

/* Whether this packet is the sampled one for a statistic at `count` (drops). */
PC_INLINE int pc_stat_tick(struct pc_ingress_ctx *c, __u32 count)
{
	return count >= PC_STAT_EXACT && pc_coin_tick(pc_stat_coin(c), PC_STAT_STEP_BITS);
}

/* A tracked source's list status, looked up again when the blocklist or allowlist changed
 * since it was cached (rare: a subprogram, out of the common path). Returns whether the lookup
 * counted a drop. */
PC_STEP int pc_refresh_lists(struct pc_ingress_ctx *c, struct pc_src_state *s,
			     const struct pc_addr *key, const struct pc_addr *src)
{
	__u8 flags = s->flags & ~(PC_SRC_ALLOWED | PC_SRC_BLOCKED);
	__u64 expires;
	int looked_up = 0;

	if (c->ctl->nr_allow && pc_env_allowed(c->env, src)) {
		flags |= PC_SRC_ALLOWED;
	} else if (pc_any_blocks(c->ctl) && pc_env_blocked(c->env, key, src, c->now, &expires)) {
		flags |= PC_SRC_BLOCKED;
		s->block_expires = expires;
		looked_up = 1; /* the entry counted this drop */
	}
	s->flags = flags;
	s->gen = c->ctl->gen;
	return looked_up;
}

/* The events a tracked source's packet may raise (rate-limited anomalies, --save-ports). */
PC_INLINE void pc_tracked_events(struct pc_ingress_ctx *c, const struct pc_packet *p,
				 struct pc_src_state *s, __u8 kind, int probe_port)
{
	if (pc_kind_is_illegal(kind)) {
		if (s->win_events < c->t->event_burst) {
			s->win_events++;
			pc_env_emit(c->env, p, PC_EVENT_ANOMALY, kind, c->now);
			c->st->events++;
		} else {
			c->st->events_limited++;
		}
	}
	if (probe_port && c->t->report_ports) {
		pc_env_emit(c->env, p, PC_EVENT_PORT, kind, c->now);
		c->st->events++;
	}
}

/* A packet from a source that holds slot s: the cached list status, then the update. */
PC_INLINE int pc_tracked(struct pc_ingress_ctx *c, const struct pc_packet *p,
			 struct pc_src_state *s, const struct pc_addr *key)
{
	struct pc_update_io io;
	int looked_up = 0;
	__u8 kind;

	if (s->gen != c->ctl->gen)
		looked_up = pc_refresh_lists(c, s, key, &p->src);
	if (s->flags & (PC_SRC_ALLOWED | PC_SRC_BLOCKED)) {
		if (s->flags & PC_SRC_ALLOWED) {
			c->st->allowed++;
			return PC_VERDICT_PASS;
		}
		/* The cached expiry: blocks end on time with no lookup per packet. */
		if (!s->block_expires || (__s64)(s->block_expires - c->now) > 0) {
			if (!looked_up)
				pc_stat_inc(&s->drops, pc_stat_tick(c, s->drops));
			c->st->dropped++;
			return PC_VERDICT_DROP;
		}
		s->flags &= ~PC_SRC_BLOCKED; /* expired */
	}

	/* Only tracked sources count towards "are the answers visible": a spoofed flood the host
	 * cannot answer at line rate must not switch the response-aware rules off. */
	if (p->kind == PC_KIND_SYN)
		c->st->syn_probes++;
	io.now = c->now;
	io.coin = pc_stat_coin(c);
	if (pc_established_update(s, p, c->t, c->now, io.coin))
		return PC_VERDICT_PASS;
	kind = pc_source_update(s, p, c->t, &io);
	if (pc_kind_is_illegal(kind) || io.probe_port)
		pc_tracked_events(c, p, s, kind, io.probe_port);
	return PC_VERDICT_PASS;
}

/* A packet from a source without a slot: the tiers, and the source's promotion when it has
 * earned one. Inlined like the tracked path: the flood of new sources is the other hot path. */
PC_INLINE int pc_untracked(struct pc_ingress_ctx *c, const struct pc_packet *p,
			 const struct pc_addr *key, const struct pc_bucket *bucket)
{
	struct pc_src_state *s = pc_slot_admit(c, p, key, bucket);

	if (s)
		return pc_tracked(c, p, s, key);
	/* --save-ports lists a source's ports from its first probe, slot or not. */
	if (c->t->report_ports && pc_kind_is_probe(p->kind) && p->kind != PC_KIND_ICMP_ECHO) {
		pc_env_emit(c->env, p, PC_EVENT_PORT, p->kind, c->now);
		c->st->events++;
	}
	return pc_untracked_verdict(c, key, &p->src);
}

/* Where a source's evidence lives: its aggregated key, its slot pair, and its slot (0 when it
 * holds none). */
struct pc_lookup {
	struct pc_addr key __attribute__((aligned(8))); /* compared in 64-bit words */
	struct pc_bucket bucket;
	struct pc_src_state *s;
};

/* Finds the slot of the source src. Returns 0 only when the tables are missing. */
PC_INLINE int pc_lookup_source(struct pc_ingress_ctx *c, const struct pc_addr *src,
			       struct pc_lookup *l)
{
	if (!pc_bucket_of(c, pc_source_key(src, &l->key, c->t), &l->bucket))
		return 0;
	l->s = pc_slot_find(c, &l->bucket, &l->key);
	return 1;
}

/* The drop of a source whose slot caches a block that is current (this control generation)
 * and unexpired: decided on the source address alone, for every destination, so XDP drops a
 * blocked flood before parsing the rest of its packets. Anything less certain (a changed
 * generation, an expired block, no slot) goes the whole way (pc_tracked, pc_untracked_verdict). */
PC_INLINE int pc_cached_block(struct pc_ingress_ctx *c, struct pc_src_state *s)
{
	if (!s || !(s->flags & PC_SRC_BLOCKED) || s->gen != c->ctl->gen)
		return 0;
	if (s->block_expires && (__s64)(s->block_expires - c->now) <= 0)
		return 0;
	pc_stat_inc(&s->drops, pc_stat_tick(c, s->drops));
	c->st->dropped++;
	return 1;
}

/* One packet, already parsed, from the source l found (after pc_cached_block). */
PC_INLINE int pc_ingress_at(struct pc_ingress_ctx *c, const struct pc_packet *p,
			    const struct pc_lookup *l)
{
	__u64 expires;

	if (!pc_dst_watched(c->ctl, &p->dst)) {
		/* Not ours to score, but a blocked source stays blocked for every destination. */
		c->st->not_watched++;
		if (pc_any_blocks(c->ctl) &&
		    pc_env_blocked(c->env, &l->key, &p->src, c->now, &expires)) {
			c->st->dropped++;
			return PC_VERDICT_DROP;
		}
		return PC_VERDICT_PASS;
	}
	if (!l->s)
		return pc_untracked(c, p, &l->key, &l->bucket);
	return pc_tracked(c, p, l->s, &l->key);
}

/* One packet from p->src, already parsed. */
PC_INLINE int pc_ingress(struct pc_ingress_ctx *c, const struct pc_packet *p)
{
	struct pc_lookup l;

	if (!pc_lookup_source(c, &p->src, &l))
		return PC_VERDICT_PASS;
	if (pc_cached_block(c, l.s))
		return PC_VERDICT_DROP;
	return pc_ingress_at(c, p, &l);
}

/* One answer the host sends to p->dst: into the peer's slot, or its admission entry (a
 * rejected probe is evidence there too). Egress never creates state. */
PC_INLINE void pc_egress(struct pc_ingress_ctx *c, const struct pc_packet *p)
{
	const volatile struct pc_tuning *t = c->t;
	struct pc_addr key __attribute__((aligned(8)));
	struct pc_bucket bucket;
	struct pc_admit_pair pair;
	struct pc_src_state *s;
	struct pc_admit *e;
	int offer;

	if (!pc_is_answer(p))
		return;
	if (!pc_bucket_of(c, pc_source_key(&p->dst, &key, t), &bucket))
		return;
	s = pc_slot_find(c, &bucket, &key);
	if (s) {
		c->st->answers++;
		pc_answer_update(s, p);
		return;
	}
	offer = p->l4proto == PC_IPPROTO_TCP &&
		(p->tcp_flags & (PC_TCP_SYN | PC_TCP_ACK)) == (PC_TCP_SYN | PC_TCP_ACK);
	if (!offer && !pc_answer_rejects(p))
		return;
	if (!pc_admit_pair_of(c, bucket.hash, &pair))
		return;
	e = pc_admit_find(&pair, &key);
	if (!e) {
		/* A source seen once: its first probe rejected is evidence it carries along. */
		struct pc_first *f = pc_env_first(c->env, pc_first_index(bucket.hash, t));

		if (!offer && f && PC_READ_ONCE(f->tag) == (bucket.hash | 1) &&
		    !(f->bit & PC_FIRST_REJECTED))
			f->bit |= PC_FIRST_REJECTED;
		return;
	}
	if (offer) {
		if (!(e->flags & PC_ADMIT_OFFERED))
			e->flags |= PC_ADMIT_OFFERED;
	} else if (e->rejects != 0xff) {
		e->rejects++;
	}
}
