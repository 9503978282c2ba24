/* Per-CPU datapath counters (BPF per-CPU array `pc_stats`, one entry). */
#pragma once

#include "portcullis/compat.h"

struct pc_stats {
	__u64 packets;      /* every frame the program saw */
	__u64 parsed;       /* IP packets whose source was read (including fragments, and a
			     * blocked source's packets, dropped on their source alone) */
	__u64 unparsable;   /* truncated or inconsistent headers: passed, never dropped */
	__u64 non_ip;       /* ARP, LLDP, …: passed untouched */
	__u64 not_watched;  /* addressed to a destination outside --dst-ip: not scored */
	__u64 fragments;    /* fragments without a whole L4 header */
	__u64 dropped;      /* dropped because the source is blocklisted */
	__u64 allowed;      /* from allowlisted sources: not scored */
	__u64 untracked;    /* packets from sources without a full slot (admission tier) */
	__u64 evictions;    /* slot holders replaced by a stronger or a newer-after-idle source */
	__u64 events;       /* anomaly events written to the ring buffer */
	__u64 events_lost;  /* anomaly events the ring buffer had no room for */
	__u64 events_limited; /* anomaly events suppressed by the per-source rate limit */
	__u64 admitted;     /* sources that got an admission entry */
	__u64 admit_full;   /* sources that found both admission entries holding evidence (they
			     * are still counted in the untracked-sources sketch) */
	__u64 promotions;   /* sources moved from the admission tier to a full slot */
	__u64 promote_refused; /* promotions refused: both holders were stronger */
	__u64 answers;      /* the host's answers to tracked sources (SYN-ACK, RST, FIN, ICMP errors) */
	__u64 syn_probes;   /* SYNs from tracked sources: the answers' denominator */
};
