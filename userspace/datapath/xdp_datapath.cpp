#include "datapath/xdp_datapath.h"
#include "datapath/net_util.h"
#include "report/log.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "tc_egress.skel.h"
#include "xdp_ingress.skel.h"

namespace portcullis {

namespace {

constexpr uint32_t kTcHandle = 0x9c11;
constexpr uint32_t kTcPriority = 1;

// While libxdp tries its dispatcher, libbpf warns about the dispatcher's failed load (EPERM
// here, see DESIGN.md); the outcome is reported once by attach() instead.
bool gAttaching = false;

__attribute__((format(printf, 2, 0))) int libbpfPrint(enum libbpf_print_level level,
                                                      const char* fmt, va_list args) {
  // libbpf's warnings show at every level (outside the dispatcher probe); the rest with -v.
  LogLevel ours = level == LIBBPF_WARN && !gAttaching ? LogLevel::Warning : LogLevel::Debug;
  logLibrary(ours, fmt, args);
  return 0;
}

__attribute__((format(printf, 2, 0))) int libxdpPrint(enum libxdp_print_level, const char* fmt,
                                                      va_list args) {
  logLibrary(LogLevel::Debug, fmt, args);
  return 0;
}

std::string errnoText(int err) { return std::strerror(err < 0 ? -err : err); }

uint32_t randomSeed() {
  uint32_t seed = 0;
  if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) seed = uint32_t(monotonicNs());
  return seed ? seed : 1;
}

// What a previous watch left pinned in pinDir: the seed of its source table (0: none), so
// that slots stay where they are, and the format its program filled the tables in.
struct PinnedControl {
  uint32_t seed = 0;
  uint32_t format = 0;
  bool present = false;
};

PinnedControl pinnedControl(const std::string& pinDir) {
  PinnedControl pinned;
  int fd = bpf_obj_get((pinDir + "/pc_control").c_str());
  if (fd < 0) return pinned;
  pc_control ctl{};
  uint32_t key = 0;
  if (bpf_map_lookup_elem(fd, &key, &ctl) == 0) {
    pinned = {ctl.hash_seed, ctl.table_format, true};
  }
  close(fd);
  return pinned;
}

// The number of entries of the map pinned at `path`, or 0 when there is none.
uint32_t pinnedMaxEntries(const char* path) {
  int fd = path ? bpf_obj_get(path) : -1;
  if (fd < 0) return 0;
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  uint32_t entries = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.max_entries : 0;
  close(fd);
  return entries;
}

// The maps that hold evidence: a clean stop unpins them (with pc_control), another build's are
// started afresh; the lists stay pinned either way.
std::array<bpf_map*, 8> evidenceMaps(const xdp_ingress& skel) {
  return {skel.maps.pc_sources, skel.maps.pc_tags,  skel.maps.pc_admit,  skel.maps.pc_admit_tags,
          skel.maps.pc_first,   skel.maps.pc_stats, skel.maps.pc_sketch, skel.maps.pc_events};
}

const char* modeHint(XdpMode mode, int err) {
  if (err == -EOPNOTSUPP) {
    return mode == XdpMode::Native ? "the driver has no native XDP support"
                                   : "generic XDP refused the program";
  }
  if (err == -EINVAL) return "the kernel refused this mode for this interface";
  if (err == -EPERM || err == -EACCES) return "permission denied (needs CAP_BPF and CAP_NET_ADMIN)";
  if (err == -EEXIST || err == -EBUSY) return "another XDP program is attached in this mode";
  return "";
}

}  // namespace

const char* xdpModeName(XdpMode mode) { return mode == XdpMode::Native ? "xdp" : "xdp-generic"; }

void setBpfLogging(bool verbose) {
  setLogLevel(verbose ? LogLevel::Debug : LogLevel::Info);
  libbpf_set_print(libbpfPrint);
  libxdp_set_print(libxdpPrint);
}

int ensureBpffs(std::string& error) {
  struct statfs fs {};
  if (statfs("/sys/fs/bpf", &fs) == 0 && fs.f_type == BPF_FS_MAGIC) return 0;
  mkdir("/sys/fs/bpf", 0700);
  if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0) {
    int err = -errno;
    error = "cannot mount bpffs at /sys/fs/bpf: " + errnoText(err);
    return err;
  }
  return 0;
}

void XdpDatapath::SkelDeleter::operator()(xdp_ingress* skel) const { xdp_ingress__destroy(skel); }
void XdpDatapath::SkelDeleter::operator()(tc_egress* skel) const { tc_egress__destroy(skel); }

// The TC egress program shares every map with the XDP program (same names, same layout).
int XdpDatapath::attachEgress() {
  egress_.reset(tc_egress__open());
  if (!egress_) return -errno;
  tc_egress* tc = egress_.get();
  const_cast<pc_tuning&>(tc->rodata->pc_tuning) = tuning_;
  bpf_map* map;
  bpf_object__for_each_map(map, tc->obj) {
    bpf_map__set_pin_path(map, nullptr);
    if (bpf_map__is_internal(map)) continue;  // .rodata is the program's own
    bpf_map* shared = bpf_object__find_map_by_name(skel_->obj, bpf_map__name(map));
    if (!shared) return -ENOENT;
    if (int err = bpf_map__reuse_fd(map, bpf_map__fd(shared)); err) return err;
  }
  if (int err = tc_egress__load(tc); err) return err;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = BPF_TC_EGRESS);
  gAttaching = true;  // an existing clsact qdisc is fine (EEXIST): no warning for it
  int err = bpf_tc_hook_create(&hook);
  gAttaching = false;
  if (err && err != -EEXIST) return err;
  egressHookCreated_ = err == 0;
  // A fixed handle and priority, replaced in place: a restarted watch takes over the filter a
  // previous one (killed, or --persist) left behind.
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(tc->progs.portcullis_egress),
              .flags = BPF_TC_F_REPLACE, .handle = kTcHandle, .priority = kTcPriority);
  if (int aerr = bpf_tc_attach(&hook, &opts); aerr) return aerr;
  egressHandle_ = opts.handle;
  egressPriority_ = opts.priority;
  egressAttached_ = true;
  return 0;
}

std::unique_ptr<XdpDatapath> XdpDatapath::attach(const XdpOptions& options, std::string& error) {
  std::unique_ptr<XdpDatapath> dp(new XdpDatapath());
  if (!dp->prepare(options, error) || !dp->load(options, error) || !dp->mapTables(error)) {
    return nullptr;
  }
  DECLARE_LIBXDP_OPTS(xdp_program_opts, progOpts, .obj = dp->skel_->obj, .prog_name = "portcullis");
  dp->program_ = xdp_program__create(&progOpts);
  if (long perr = libxdp_get_error(dp->program_); perr) {
    dp->program_ = nullptr;
    error = "libxdp cannot take the program: " + errnoText(int(perr));
    return nullptr;
  }
  dp->takeOverPrevious();
  dp->persist_ = options.persist;
  std::string reasons;
  for (XdpMode mode : options.modes) {
    if (dp->attachInMode(mode, reasons)) return dp;
  }
  error = "cannot attach XDP to " + options.iface + ": " + reasons;
  return nullptr;
}

// The interface, the table size, bpffs, the kernel's clock, the pin directory.
bool XdpDatapath::prepare(const XdpOptions& options, std::string& error) {
  iface_ = options.iface;
  ifindex_ = int(if_nametoindex(options.iface.c_str()));
  if (ifindex_ == 0) {
    error = "no such interface: " + options.iface;
    return false;
  }
  if (options.slots < 2 || (options.slots & (options.slots - 1)) != 0) {
    error = "the source table size must be a power of two, at least 2";
    return false;
  }
  if (ensureBpffs(error) != 0 || probeKernelClock(clock_, error) != 0) return false;
  pinDir_ = namespacedPinRoot(options.pinRoot) + "/" + options.iface;
  std::error_code ec;
  std::filesystem::create_directories(pinDir_, ec);
  if (ec) {
    error = "cannot create " + pinDir_ + ": " + ec.message();
    return false;
  }
  return true;
}

// Opens the skeleton (maps pinned by a previous watch are reused), sets the per-run constants,
// loads, and maps pc_control.
bool XdpDatapath::load(const XdpOptions& options, std::string& error) {
  LIBBPF_OPTS(bpf_object_open_opts, openOpts, .pin_root_path = pinDir_.c_str());
  skel_.reset(xdp_ingress__open_opts(&openOpts));
  if (!skel_) {
    error = "cannot open the XDP program: " + errnoText(errno);
    return false;
  }
  xdp_ingress* skel = skel_.get();
  PinnedControl pinned = pinnedControl(pinDir_);
  if (pinned.present && pinned.format != PC_TABLE_FORMAT) {
    // Another build's evidence: its sources are not where this one looks (nor, across a layout
    // change, in a shape it can read). The program loaded below makes the tables anew.
    for (bpf_map* m : evidenceMaps(*skel)) unlink(bpf_map__pin_path(m));
    logWarning(
        "the evidence tables pinned under %s are from another build (table format %u, "
        "this one %u): starting them afresh; blocks and allows are kept",
        pinDir_.c_str(), pinned.format, unsigned(PC_TABLE_FORMAT));
    pinned.seed = 0;
  }
  // A table of another size (--slots changed since the watch that pinned it): libbpf cannot
  // reuse it, and its sources would not be where this one looks. Afresh too, saying so.
  if (uint32_t pinnedSlots = pinnedMaxEntries(bpf_map__pin_path(skel->maps.pc_sources));
      pinnedSlots && pinnedSlots != options.slots) {
    for (bpf_map* m : evidenceMaps(*skel)) unlink(bpf_map__pin_path(m));
    logWarning(
        "the source table pinned under %s has %u slots, this watch %u (--slots): starting the "
        "evidence tables afresh; blocks and allows are kept",
        pinDir_.c_str(), pinnedSlots, options.slots);
    pinned.seed = 0;
  }
  uint32_t seed = pinned.seed;
  const DatapathTiming& tm = options.timing;
  pc_tuning& t = const_cast<pc_tuning&>(skel->rodata->pc_tuning);
  t.score_window = std::max<uint64_t>(1, clock_.fromMillis(tm.scoreWindowMs));
  t.flow_window = std::max<uint64_t>(1, clock_.fromMillis(tm.flowWindowMs));
  t.idle_timeout = std::max<uint64_t>(1, clock_.fromMillis(tm.idleTimeoutMs));
  t.hash_seed = seed ? seed : randomSeed();
  t.slot_mask = options.slots - 1;
  t.weight_hot = tm.weightHot;
  t.weight_low = tm.weightLow;
  t.weight_high = tm.weightHigh;
  t.event_burst = tm.eventBurst;
  t.report_ports = tm.reportPorts ? 1 : 0;
  t.admit_mask = options.slots * 4 - 1;
  t.admit_targets = tm.admitTargets;
  t.v4_prefix = tm.v4Prefix;
  t.v6_prefix = tm.v6Prefix;
  tuning_ = t;
  slotCount_ = options.slots;
  const uint32_t admitCount = options.slots * 4;
  bpf_map__set_max_entries(skel->maps.pc_sources, options.slots);
  bpf_map__set_max_entries(skel->maps.pc_admit, admitCount);
  bpf_map__set_max_entries(skel->maps.pc_tags, options.slots / 2);
  bpf_map__set_max_entries(skel->maps.pc_admit_tags, admitCount / 2);
  bpf_map__set_max_entries(skel->maps.pc_first, admitCount);
  if (int err = xdp_ingress__load(skel); err) {
    error = "cannot load the XDP program: " + errnoText(err);
    if (err == -EINVAL) {
      error += " (maps pinned under " + pinDir_ +
               " may be from another version; remove them to start afresh)";
    }
    return false;
  }
  control_ = ControlPage::map(bpf_map__fd(skel->maps.pc_control), error);
  if (!control_) return false;
  control_->initialise(t.hash_seed);
  return true;
}

// The source table and its slot tags (read-only), and the admission tier (the controller asks
// for promotions there).
bool XdpDatapath::mapTables(std::string& error) {
  sources_ = MappedArray(bpf_map__fd(skel_->maps.pc_sources));
  tags_ = MappedArray(bpf_map__fd(skel_->maps.pc_tags));
  admit_ = MappedArray(bpf_map__fd(skel_->maps.pc_admit), /*writable=*/true);
  auto fail = [&](const char* what) {
    error = std::string("cannot map the ") + what + ": " + errnoText(errno);
    return false;
  };
  if (sources_.values<const pc_src_state>().size() != slotCount_) return fail("source table");
  if (tags_.values<const pc_slot_tags>().size() != slotCount_ / 2) return fail("slot tags");
  if (admit_.values<pc_admit>().size() != size_t(slotCount_) * 4) return fail("admission tier");
  return true;
}

// A previous watch (killed, or stopped with --persist) left its program attached: take the
// interface over. The maps were adopted through their pins, with every block.
void XdpDatapath::takeOverPrevious() {
  xdp_multiprog* previous = xdp_multiprog__get_from_ifindex(ifindex_);
  if (libxdp_get_error(previous) || !previous) return;
  xdp_program* main = xdp_multiprog__main_prog(previous);
  if (main && std::strcmp(xdp_program__name(main), "portcullis") == 0) {
    if (int err = xdp_multiprog__detach(previous); err == 0) adopted_ = true;
  }
  xdp_multiprog__close(previous);
}

// libxdp's dispatcher can load on some kernels (6.1) and still fail to take a program whose
// object is already loaded (EINVAL setting its attach target). Attach directly, as libxdp's own
// fallback does when the dispatcher cannot load (6.18 here).
bool XdpDatapath::attachDirectly(XdpMode mode) {
  uint32_t flags = (mode == XdpMode::Native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE) |
                   XDP_FLAGS_UPDATE_IF_NOEXIST;
  // The skeleton's fd: after its failed attempt libxdp no longer holds a usable one (an fd of -1
  // here would make this a detach that "succeeds").
  int progFd = bpf_program__fd(skel_->progs.portcullis);
  uint32_t attachedId = 0;
  gAttaching = true;  // the outcome is reported once, by the caller
  bool attached =
      progFd >= 0 && bpf_xdp_attach(ifindex_, progFd, flags, nullptr) == 0 &&
      bpf_xdp_query_id(ifindex_, int(flags & ~XDP_FLAGS_UPDATE_IF_NOEXIST), &attachedId) == 0 &&
      attachedId != 0;
  gAttaching = false;
  return attached;
}

// One mode: through libxdp, else directly. On failure adds the reason to `reasons`.
bool XdpDatapath::attachInMode(XdpMode mode, std::string& reasons) {
  auto xmode = mode == XdpMode::Native ? XDP_MODE_NATIVE : XDP_MODE_SKB;
  gAttaching = true;
  int err = xdp_program__attach(program_, ifindex_, xmode, 0);
  gAttaching = false;
  bool direct = false;
  if ((err == -EINVAL || err == -EOPNOTSUPP || err == -EPERM) && attachDirectly(mode)) {
    err = 0;
    direct = true;
  }
  if (err != 0) {
    if (!reasons.empty()) reasons += "; ";
    reasons += std::string(xdpModeName(mode)) + ": " + errnoText(err);
    if (const char* hint = modeHint(mode, err); *hint) reasons += std::string(" (") + hint + ")";
    return false;
  }
  mode_ = mode;
  fallbackReason_ = reasons;
  xdp_multiprog* mp = direct ? nullptr : xdp_multiprog__get_from_ifindex(ifindex_);
  if (mp && !libxdp_get_error(mp)) {
    viaDispatcher_ = !xdp_multiprog__is_legacy(mp);
    xdp_multiprog__close(mp);
  }
  if (int eerr = attachEgress(); eerr) {
    egressError_ = errnoText(eerr);
    egress_.reset();
  }
  return true;
}

XdpDatapath::~XdpDatapath() {
  if (persist_) {
    // --persist: the programs keep dropping and recording; the next watch adopts them.
    if (program_) xdp_program__close(program_);
    return;
  }
  if (egressAttached_) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_, .attach_point = BPF_TC_EGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = egressHandle_, .priority = egressPriority_);
    bpf_tc_detach(&hook, &opts);
    // Only remove the clsact qdisc when we created it: others' filters may hang off it.
    if (egressHookCreated_) bpf_tc_hook_destroy(&hook);
  }
  egress_.reset();
  if (program_) {
    if (viaDispatcher_) {
      auto xmode = mode_ == XdpMode::Native ? XDP_MODE_NATIVE : XDP_MODE_SKB;
      xdp_program__detach(program_, ifindex_, xmode, 0);
    } else {
      // Netlink only (CAP_NET_ADMIN): the controller has dropped CAP_SYS_ADMIN by now, which
      // libxdp's detach needs to look the attached program up.
      uint32_t flags = mode_ == XdpMode::Native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
      LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = programFd());
      bpf_xdp_detach(ifindex_, flags | XDP_FLAGS_REPLACE, &opts);
    }
    xdp_program__close(program_);
  }
  // A clean stop leaves only the lists behind: the next watch starts with fresh evidence (and
  // may be a newer program with another table layout) but keeps every block.
  if (skel_) {
    for (bpf_map* m : evidenceMaps(*skel_)) bpf_map__unpin(m, nullptr);
    bpf_map__unpin(skel_->maps.pc_control, nullptr);
    rmdir(pinDir_.c_str());  // only succeeds when nothing is left in it (nor its parent)
    rmdir(std::filesystem::path(pinDir_).parent_path().c_str());
  }
}

int64_t XdpDatapath::ticksToUnixMicros(uint64_t ticks) const {
  timespec rt{};
  clock_gettime(CLOCK_REALTIME, &rt);
  int64_t nowUs = int64_t(rt.tv_sec) * 1'000'000 + rt.tv_nsec / 1000;
  int64_t ageTicks = int64_t(clock_.jiffiesNow()) - int64_t(ticks);
  return nowUs - ageTicks * 1'000'000 / int64_t(clock_.hz);
}

void XdpDatapath::setWatchedDestinations(const std::vector<Prefix>& dsts) {
  control_->setWatchedDestinations(dsts);
}

std::span<const pc_src_state> XdpDatapath::slots() const {
  return sources_.values<const pc_src_state>();
}

pc_stats readStats(int statsFd) {
  int cpus = libbpf_num_possible_cpus();
  std::vector<pc_stats> perCpu(size_t(cpus > 0 ? cpus : 1));
  uint32_t key = 0;
  pc_stats sum{};
  if (statsFd < 0 || bpf_map_lookup_elem(statsFd, &key, perCpu.data()) != 0) return sum;
  constexpr size_t kFields = sizeof(pc_stats) / sizeof(uint64_t);
  auto* out = reinterpret_cast<uint64_t*>(&sum);
  for (const pc_stats& s : perCpu) {
    auto* in = reinterpret_cast<const uint64_t*>(&s);
    for (size_t i = 0; i < kFields; ++i) out[i] += in[i];
  }
  return sum;
}

pc_stats XdpDatapath::stats() const { return readStats(bpf_map__fd(skel_->maps.pc_stats)); }

pc_sketch readSketch(int sketchFd) {
  std::vector<pc_sketch> perCpu(size_t(std::max(1, libbpf_num_possible_cpus())));
  uint32_t key = 0;
  pc_sketch merged{};
  if (sketchFd < 0 || bpf_map_lookup_elem(sketchFd, &key, perCpu.data()) != 0) return merged;
  for (const pc_sketch& s : perCpu) {
    for (size_t i = 0; i < PC_HLL_REGS; ++i) merged.reg[i] = std::max(merged.reg[i], s.reg[i]);
  }
  return merged;
}

pc_sketch XdpDatapath::sketch() const { return readSketch(bpf_map__fd(skel_->maps.pc_sketch)); }

void XdpDatapath::requestPromotion(size_t index) {
  auto entries = admit_.values<pc_admit>();
  if (index >= entries.size()) return;
  // The kernel changes this entry too: one atomic OR of the flag byte.
  std::atomic_ref<uint8_t>(entries[index].flags).fetch_or(PC_ADMIT_PROMOTE);
}

int XdpDatapath::programFd() const { return bpf_program__fd(skel_->progs.portcullis); }
int XdpDatapath::eventsFd() const { return bpf_map__fd(skel_->maps.pc_events); }
int XdpDatapath::blocklistFd() const { return bpf_map__fd(skel_->maps.pc_blocklist); }
int XdpDatapath::allowlistFd() const { return bpf_map__fd(skel_->maps.pc_allowlist); }
int XdpDatapath::controlFd() const { return bpf_map__fd(skel_->maps.pc_control); }
int XdpDatapath::blockprefixFd() const { return bpf_map__fd(skel_->maps.pc_blockprefix); }

uint64_t XdpDatapath::mapMemoryBytes() const {
  uint64_t total = 0;
  bpf_map* map;
  bpf_object__for_each_map(map, skel_->obj) {
    if (bpf_map__is_internal(map)) continue;
    uint64_t entries = bpf_map__max_entries(map);
    if (bpf_map__type(map) == BPF_MAP_TYPE_RINGBUF) {
      total += entries;
    } else if (bpf_map__type(map) == BPF_MAP_TYPE_PERCPU_ARRAY) {
      total += entries * ((bpf_map__value_size(map) + 7) / 8 * 8) *
               uint64_t(std::max(1, libbpf_num_possible_cpus()));
    } else {
      total += entries * (uint64_t(bpf_map__key_size(map)) + bpf_map__value_size(map));
    }
  }
  return total;
}

}  // namespace portcullis
