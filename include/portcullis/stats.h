/* Per-CPU datapath counters (BPF per-CPU array `pc_stats`, one entry). */
#pragma once

#include "portcullis/compat.h"

struct pc_stats {
	__u64 packets;      /* every frame the program saw */
	__u64 parsed;       /* IP packets whose source was read (including fragments) */
	__u64 unparsable;   /* truncated or inconsistent headers: passed, never dropped */
	__u64 non_ip;       /* ARP, LLDP, …: passed untouched */
	__u64 not_watched;  /* addressed to a destination outside --dst-ip: not scored */
	__u64 fragments;    /* fragments without a whole L4 header */
	__u64 dropped;      /* dropped because the source is blocklisted */
	__u64 allowed;      /* from allowlisted sources: not scored */
	__u64 untracked;    /* no slot could be had without evicting a source with evidence */
	__u64 evictions;    /* idle or one-packet sources replaced by new ones */
	__u64 events;       /* anomaly events written to the ring buffer */
	__u64 events_lost;  /* anomaly events the ring buffer had no room for */
	__u64 events_limited; /* anomaly events suppressed by the per-source rate limit */
};
