#pragma once
// Idle scan (-sI ZOMBIE[:PROBEPORT], IPv4), the blind scan nmap made famous: SYNs go to the
// target with the zombie's address as source, so only the zombie ever talks to the target. An
// open port answers the zombie with SYN/ACK, the zombie answers that with a RST, and a zombie
// whose IP ID is one global counter thereby spends one ID per open port. Probing the zombie's
// IP ID (SYN/ACK from our real address, read the ID of its RST) before and after a group of
// SYNs counts the open ports in the group; groups with open ports are halved until each open
// port is named. Ports that moved nothing are closed|filtered: closed and filtered look the
// same from the zombie (the target's RST or its silence both leave the counter alone).
//
// The pure parts (IP ID classification, the divide-and-conquer search and its pacing) are
// separate from the sockets so they are unit-tested without root.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli.h"
#include "net_util.h"
#include "packet/addresses.h"
#include "timing.h"
#include "types.h"

namespace portcullis::scan {

// ---- IP ID sequences ----

/// nmap's IP ID sequence classes, named as nmap prints them.
enum class IpIdClass : uint8_t {
  kUnknown,
  kIncremental,        // one global counter: usable
  kIncrementalBy2,     // one counter stepping by 2 (some Windows): usable
  kBrokenIncremental,  // counter in host (little-endian) order, each step reads as +256: usable
  kRandomPositive,     // random positive increments
  kRandomized,
  kConstant,
  kZero,  // all zeros (Linux's RSTs with DF set)
};

std::string_view ipIdClassName(IpIdClass c);

/// Classifies IP IDs in the order they were sent (at least two; fewer is kUnknown). Differences
/// are taken modulo 2^16, so a counter wrapping from 65535 to 0 stays incremental.
IpIdClass classifyIpIds(std::span<const uint16_t> ids);

/// True for the classes an idle scan can count with.
bool ipIdClassUsable(IpIdClass c);

/// Packets the zombie sent between two IDs under class `c`, or -1 for an unusable class.
int ipIdDistance(IpIdClass c, uint16_t from, uint16_t to);

// ---- group search (pure bookkeeping) ----

/// Group size, spacing of spoofed SYNs and patience, adapted as nmap adapts them: a count that
/// a deeper search proves too low (a lost SYN or an early zombie probe) shrinks the group and
/// adds delay; one proved too high (the zombie is not idle) shrinks the group; a right count
/// grows it by 10%.
struct IdlePacing {
  int minGroup = 4;
  int maxGroup = 100;
  double groupSize = 30;    // ports per count; a top-level group is twice this (it is halved)
  int64_t sendDelayUs = 0;  // between spoofed SYNs
  int64_t maxSendDelayUs = 100000;
  double waitScale = 1.0;  // multiplies the wait before probing the zombie after a group

  /// nmap's bounds: --min-parallelism (default 4) and --max-parallelism (default 100); the
  /// group starts at 30.
  static IdlePacing fromParallelism(int minParallelism, int maxParallelism);
  /// A deeper search (or a recount) found `real` open ports where one count said `counted`.
  void countChecked(int counted, int real);
  /// Some zombie probes of one count went unanswered / all were answered.
  void probesLost();
  void probesAnswered();
  /// Ports in one top-level group.
  size_t topGroupSize() const;

 private:
  void capGroupBySendDelay();
};

/// Finds the open ports of a list given a counter: `count(ports)` returns how many of `ports`
/// are open as measured through the zombie (0..ports.size()), or -1 when no meaningful count
/// could be had (the search then stops and fails). Like nmap: ports go in groups of
/// IdlePacing::topGroupSize(); a group is split in halves and each half counted; a half with open
/// ports and more than one port is searched recursively; when the halves' sum disagrees with the
/// count of the whole, the halves that were not searched deeper are counted again.
class IdlePortSearch {
 public:
  using CountFn = std::function<int(std::span<const uint16_t>)>;

  IdlePortSearch(IdlePacing& pacing, CountFn count) : pacing_(pacing), count_(std::move(count)) {}

  /// Appends the open ports, sorted, to `open`. False if a count failed.
  bool run(std::span<const uint16_t> ports, std::vector<uint16_t>& open);
  /// Counts asked of the counter so far.
  size_t countsUsed() const { return counts_; }

 private:
  int search(std::span<const uint16_t> ports, int expected);
  int countOf(std::span<const uint16_t> ports);
  void setOpen(uint16_t port, bool open);

  IdlePacing& pacing_;
  CountFn count_;
  std::vector<uint16_t> open_;
  size_t counts_ = 0;
  bool failed_ = false;
};

// ---- the scanner ----

struct ZombieSpec {
  std::string host;
  uint16_t probePort = 80;  // nmap's default
};

/// Parses ZOMBIE[:PROBEPORT] (a name or IPv4 address; IPv6 is refused). One-line error.
bool parseZombieSpec(std::string_view text, ZombieSpec& out, std::string& error);

struct IdleConfig {
  TimingParams timing;
  std::string iface;                   // -e
  std::string spoofSource;             // -S: source of our zombie probes
  std::optional<uint16_t> sourcePort;  // -g: source port of our zombie probes
  int ttl = 64;
  size_t dataLength = 0;    // --data-length: padding on the spoofed SYNs
  bool sequential = false;  // -r: ports in order
  int verbose = 0;
};

/// One zombie, qualified once and used for every target.
class IdleScanner {
 public:
  /// Resolves and qualifies the zombie: six probes classify its IP ID sequence, then four
  /// SYN/ACKs spoofed from `spoofTest` (the first target, as nmap does) must move its counter,
  /// which catches per-destination counters and egress filters that drop spoofed packets.
  /// nullptr with a one-line error when the zombie cannot be used.
  static std::unique_ptr<IdleScanner> open(const ZombieSpec& spec, const IdleConfig& cfg,
                                           std::optional<net::Ipv4Address> spoofTest,
                                           std::string& error);

  /// "Idle scan using zombie NAME (ADDR:PORT); Class: Incremental", as nmap prints it.
  const std::string& banner() const { return banner_; }

  /// Scans `ports` of one IPv4 target and appends one result per port (open / ipid-change,
  /// closed|filtered / no-ipid-change). `targetSrttUs` is the RTT discovery measured (0 if
  /// none). False with a one-line error when the zombie stops giving meaningful counts.
  /// A target routed over loopback is skipped (with nmap's note) and gets no results.
  bool scan(net::Ipv4Address target, std::vector<uint16_t> ports, int64_t targetSrttUs,
            std::vector<PortResult>& out, std::string& error);

 private:
  IdleScanner(const ZombieSpec& spec, const IdleConfig& cfg);

  bool qualify(std::optional<net::Ipv4Address> spoofTest, std::string& error);
  /// The qualification probes: one IP ID per probe in `ids` (-1 where none came back).
  bool sampleQualifyIds(std::span<int> ids, int& answered, std::string& error);
  /// Classifies the sampled IP IDs and refuses a zombie whose counter cannot be read.
  bool classifyZombie(std::span<const int> ids, int answered, std::string& error);
  /// Packets spoofed from `spoofTest` must move the zombie's counter.
  bool checkSpoofedCounted(net::Ipv4Address spoofTest, std::string& error);
  uint16_t probeSourcePort() const;
  bool sendProbe(uint16_t sport, uint32_t ack);
  bool sendSpoofed(net::Ipv4Address src, net::Ipv4Address dst, uint16_t sport, uint16_t dport,
                   uint8_t flags, uint32_t seq, uint32_t ack, size_t padding);
  /// One IP ID read (up to three tries). -1 if the zombie did not answer. `sent` and
  /// `answered` count our probes (each answered one moved the zombie's counter).
  int probeZombie(int& sent, int& answered);
  /// One measurement of `ports`; may be out of range when something disturbed the zombie.
  int countOnce(std::span<const uint16_t> ports);
  /// countOnce until it is in range (a few tries with growing pauses), else -1.
  int countOpen(std::span<const uint16_t> ports);
  /// Reads the zombie's replies until `deadline`; calls `onReply(seq, ipId)` per RST from the
  /// zombie's probe port, stopping early when it returns true.
  template <typename F>
  void readReplies(int64_t deadlineUs, F&& onReply);
  std::string zombieName() const;

  ZombieSpec spec_;
  IdleConfig cfg_;
  net::Ipv4Address zombie_;
  net::Ipv4Address source_;
  net::Ipv4Address target_;
  UniqueFd sendFd_;
  UniqueFd recvFd_;
  RttEstimator zombieRtt_;
  IdlePacing pacing_;
  IpIdClass class_ = IpIdClass::kUnknown;
  uint16_t latestId_ = 0;
  int64_t targetSrttUs_ = 0;
  int64_t targetRttvarUs_ = 0;
  uint16_t portBase_ = 0;
  uint32_t probeCounter_ = 0;
  uint32_t ackBase_ = 0;
  std::mt19937 rng_;
  std::string banner_;
  std::string error_;
};

/// The run's idle scanner from the command line: parses -sI, refuses what it cannot do (IPv6
/// targets, decoys, fragments) and qualifies the zombie, spoof-testing it with the first target.
/// nullptr with a one-line error.
std::unique_ptr<IdleScanner> openIdleScanner(const Options& opts,
                                             const std::vector<Target>& targets,
                                             std::string& error);

}  // namespace portcullis::scan
