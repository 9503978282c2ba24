#pragma once
// Everything in the packet library, for callers that want one include.

#include "addresses.h"  // IWYU pragma: export
#include "builder.h"    // IWYU pragma: export
#include "checksum.h"   // IWYU pragma: export
#include "ethernet.h"   // IWYU pragma: export
#include "icmp.h"       // IWYU pragma: export
#include "icmpv6.h"     // IWYU pragma: export
#include "ipv4.h"       // IWYU pragma: export
#include "ipv6.h"       // IWYU pragma: export
#include "parser.h"     // IWYU pragma: export
#include "tcp.h"        // IWYU pragma: export
#include "udp.h"        // IWYU pragma: export
#include "vlan.h"       // IWYU pragma: export
