/* Records in the `pc_events` ring buffer: one per illegal flag combination, rate-limited per
 * source so a NULL scan of 65,535 ports is a handful of records, not 65,535. */
#pragma once

#include "portcullis/addr.h"

enum pc_event_type {
	PC_EVENT_ANOMALY = 1, /* an illegal flag combination */
	PC_EVENT_PORT = 2,    /* a source probed a port it had not probed before (--save-ports) */
};

struct pc_event {
	__u64 ts;            /* ticks (jiffies in the kernel) */
	struct pc_addr src;  /* network byte order */
	struct pc_addr dst;  /* network byte order */
	__u16 sport;         /* host byte order */
	__u16 dport;         /* host byte order */
	__u8 kind;           /* enum pc_kind */
	__u8 tcp_flags;
	__u8 l4proto;
	__u8 ip_version;
	__u8 type;           /* enum pc_event_type */
	__u8 reserved[7];
};
