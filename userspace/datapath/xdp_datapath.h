#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datapath/control_page.h"
#include "datapath/kernel_clock.h"
#include "datapath/mapped_array.h"
#include "portcullis/update.h"
#include "datapath/source_table.h"

struct xdp_ingress;
struct tc_egress;
struct xdp_program;

namespace portcullis {

enum class XdpMode { Native, Generic };
const char* xdpModeName(XdpMode mode);

/// Detection windows in milliseconds; converted to jiffies for the XDP program's rodata.
struct DatapathTiming {
  uint64_t scoreWindowMs = 300;
  uint64_t flowWindowMs = 30'000;
  uint64_t idleTimeoutMs = uint64_t(PC_IDLE_TIMEOUT_S_DEFAULT) * 1000;
  uint16_t weightHot = PC_WEIGHT_HOT_DEFAULT;
  uint16_t weightLow = PC_WEIGHT_LOW_DEFAULT;
  uint16_t weightHigh = PC_WEIGHT_HIGH_DEFAULT;
  uint16_t eventBurst = 4;
  uint16_t admitTargets = PC_ADMIT_TARGETS_DEFAULT;
  uint8_t v4Prefix = PC_V4_PREFIX_DEFAULT;
  uint8_t v6Prefix = PC_V6_PREFIX_DEFAULT;
  bool reportPorts = false;  ///< an event per first-probed port (--save-ports)
};

struct XdpOptions {
  std::string iface;
  std::vector<XdpMode> modes{XdpMode::Native, XdpMode::Generic};  ///< tried in order
  uint32_t slots = PC_SOURCES_DEFAULT;                            ///< a power of two
  std::string pinRoot = "/sys/fs/bpf/portcullis";
  DatapathTiming timing;
  bool persist = false;  ///< leave the programs attached and the maps pinned on exit
};

/// The XDP program attached to one interface, with its maps pinned under
/// <pinRoot>/<iface>/. Owns every kernel object it creates; the destructor detaches.
class XdpDatapath final : public SourceTable {
 public:
  /// Loads, pins and attaches. On failure returns nullptr and one line in `error` saying why.
  static std::unique_ptr<XdpDatapath> attach(const XdpOptions& options, std::string& error);
  ~XdpDatapath() override;

  XdpDatapath(const XdpDatapath&) = delete;
  XdpDatapath& operator=(const XdpDatapath&) = delete;

  std::span<const pc_src_state> slots() const override;
  pc_stats stats() const override;
  uint64_t now() const override { return clock_.jiffiesNow(); }
  uint64_t ticksPerSecond() const override { return clock_.hz; }
  int64_t ticksToUnixMicros(uint64_t ticks) const override;
  std::span<const pc_admit> admission() const override { return admit_.values<const pc_admit>(); }
  std::span<const pc_slot_tags> occupancy() const override {
    return tags_.values<const pc_slot_tags>();
  }
  void requestPromotion(size_t index) override;
  pc_sketch sketch() const override;
  const pc_tuning& tuning() const override { return tuning_; }
  const std::string& name() const override { return iface_; }

  /// Only packets to these destinations are scored; empty watches every destination.
  void setWatchedDestinations(const std::vector<Prefix>& dsts);

  XdpMode mode() const { return mode_; }
  /// True when libxdp's multi-program dispatcher holds the program, false for a direct attach.
  bool viaDispatcher() const { return viaDispatcher_; }
  /// Whether the TC egress program (the host's answers) is attached, and why not.
  bool egressAttached() const { return egressAttached_; }
  const std::string& egressError() const { return egressError_; }
  /// Why modes tried before the one attached failed (empty when the first worked).
  const std::string& fallbackReason() const { return fallbackReason_; }
  /// True when a previous watch's program was attached here and its pinned maps adopted.
  bool adopted() const { return adopted_; }
  int blockprefixFd() const;
  /// Bytes of kernel memory the maps take (their fixed sizes, not their fill).
  uint64_t mapMemoryBytes() const;
  const std::string& iface() const { return iface_; }
  const std::string& pinDir() const { return pinDir_; }
  const KernelClock& clock() const { return clock_; }
  int ifindex() const { return ifindex_; }

  int programFd() const;
  int eventsFd() const;
  int blocklistFd() const;
  int allowlistFd() const;
  int controlFd() const;

 private:
  XdpDatapath() = default;

  struct SkelDeleter {
    void operator()(xdp_ingress* skel) const;
    void operator()(tc_egress* skel) const;
  };

  // The steps of attach(), in order.
  bool prepare(const XdpOptions& options, std::string& error);
  bool load(const XdpOptions& options, std::string& error);
  bool mapTables(std::string& error);
  void takeOverPrevious();
  bool attachInMode(XdpMode mode, std::string& reasons);
  bool attachDirectly(XdpMode mode);
  int attachEgress();

  std::unique_ptr<xdp_ingress, SkelDeleter> skel_;
  std::unique_ptr<tc_egress, SkelDeleter> egress_;
  bool egressAttached_ = false;
  bool egressHookCreated_ = false;
  uint32_t egressHandle_ = 0;
  uint32_t egressPriority_ = 0;
  std::string egressError_;
  xdp_program* program_ = nullptr;
  std::unique_ptr<ControlPage> control_;
  MappedArray sources_;  // pc_sources, read-only
  MappedArray tags_;     // pc_tags, read-only: the poll skips empty slot pairs
  MappedArray admit_;    // pc_admit, writable: promotion requests
  uint32_t slotCount_ = 0;
  KernelClock clock_;
  pc_tuning tuning_{};
  XdpMode mode_ = XdpMode::Native;
  bool viaDispatcher_ = false;
  bool adopted_ = false;
  bool persist_ = false;
  std::string fallbackReason_;
  std::string iface_;
  std::string pinDir_;
  int ifindex_ = 0;
};

/// Sums the per-CPU entries of a `pc_stats` map (zeros when it cannot be read).
pc_stats readStats(int statsFd);

/// Merges the per-CPU registers of a `pc_sketch` map (zeros when it cannot be read).
pc_sketch readSketch(int sketchFd);

/// Routes libbpf's and libxdp's messages to stderr: warnings always, debug only when verbose.
void setBpfLogging(bool verbose);

/// Mounts bpffs at /sys/fs/bpf when it is missing (it is on a fresh machine).
int ensureBpffs(std::string& error);

}  // namespace portcullis
