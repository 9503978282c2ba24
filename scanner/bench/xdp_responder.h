/* The XDP responder's configuration and counters, shared by xdp_responder.bpf.c and its loader
 * (xdp_responder.cpp). */
#pragma once

#include <linux/types.h>

#define RESPONDER_MAX_PREFIXES 4
#define RESPONDER_PORT_WORDS 1024 /* 65,536 bits: the open ports */

enum responder_counter {
  RESPONDER_SYNACKS,
  RESPONDER_RSTS,
  RESPONDER_DROPPED, /* other TCP to a watched address (the scanner's RSTs) */
  RESPONDER_COUNTERS,
};

struct responder_config {
  __u32 prefixes;                     /* how many of net/mask are set */
  __u32 open_host_share;              /* on a prefix wider than /32: one host in this many
                                       * has the open ports open (1: every host) */
  __u32 net[RESPONDER_MAX_PREFIXES];  /* network byte order */
  __u32 mask[RESPONDER_MAX_PREFIXES]; /* network byte order */
};
