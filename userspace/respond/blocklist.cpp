#include "respond/blocklist.h"

#include <algorithm>

#include <array>
#include "datapath/net_util.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>

namespace portcullis {

namespace {

pc_prefix_key prefixKey(const Prefix& p) { return pc_prefix_key{p.length, p.addr}; }

template <typename Key>
uint32_t countKeys(int fd) {
  uint32_t n = 0;
  Key key{}, next{};
  Key* cur = nullptr;
  while (bpf_map_get_next_key(fd, cur, &next) == 0) {
    ++n;
    key = next;
    cur = &key;
  }
  return n;
}

}  // namespace

Blocklist::Blocklist(int exactFd, int prefixFd, int allowFd, int controlFd,
                     const KernelClock& clock)
    : exactFd_(exactFd),
      prefixFd_(prefixFd),
      allowFd_(allowFd),
      controlFd_(controlFd),
      clock_(clock) {}

// Publishes the lists' sizes in pc_control (0 lets the XDP program skip a lookup) and moves the
// generation on, so every tracked source re-checks the lists on its next packet.
int Blocklist::bumpControl() {
  if (controlFd_ < 0) return 0;  // no program attached: nothing caches the lists
  if (!control_) {
    std::string error;
    control_ = ControlPage::map(controlFd_, error);
    if (!control_) return -EINVAL;
  }
  control_->publishLists([this] {
    return std::array<uint32_t, 3>{countKeys<pc_addr>(exactFd_),
                                   countKeys<pc_prefix_key>(prefixFd_),
                                   countKeys<pc_prefix_key>(allowFd_)};
  });
  return 0;
}

int Blocklist::block(const Prefix& p, uint64_t ttlSeconds, uint32_t reason) {
  return block(p, ttlSeconds, reason, 0);
}

int Blocklist::block(const Prefix& p, uint64_t ttlSeconds, uint32_t reason, uint32_t flags) {
  pc_block b{};
  uint64_t now = clock_.jiffiesNow();
  b.created = now;
  b.expires = ttlSeconds ? now + ttlSeconds * clock_.hz : 0;
  b.reason = reason;
  b.flags = flags;
  int rc;
  if (p.length == 128) {
    pc_block old{};
    if (bpf_map_lookup_elem(exactFd_, &p.addr, &old) == 0) b.drops = old.drops;
    rc = bpf_map_update_elem(exactFd_, &p.addr, &b, BPF_ANY);
  } else {
    pc_prefix_key k = prefixKey(p);
    pc_block old{};
    if (bpf_map_lookup_elem(prefixFd_, &k, &old) == 0) b.drops = old.drops;
    rc = bpf_map_update_elem(prefixFd_, &k, &b, BPF_ANY);
  }
  if (rc != 0) return -errno;
  return bumpControl();
}

bool Blocklist::blocked(const pc_addr& a) const {
  pc_block b{};
  if (bpf_map_lookup_elem(exactFd_, &a, &b) != 0) return false;
  return !b.expires || b.expires > clock_.jiffiesNow();
}

int Blocklist::unblock(const Prefix& p) {
  int rc;
  if (p.length == 128) {
    rc = bpf_map_delete_elem(exactFd_, &p.addr);
  } else {
    pc_prefix_key k = prefixKey(p);
    rc = bpf_map_delete_elem(prefixFd_, &k);
  }
  if (rc != 0) return -errno;
  return bumpControl();
}

BlockEntry Blocklist::toEntry(const Prefix& p, const pc_block& b) const {
  BlockEntry e;
  e.prefix = p;
  e.drops = b.drops;
  e.reason = b.reason;
  e.flags = b.flags;
  uint64_t now = clock_.jiffiesNow();
  int64_t unixNow = unixMicrosNow();
  e.createdUnixMicros =
      unixNow - (int64_t(now) - int64_t(b.created)) * 1'000'000 / int64_t(clock_.hz);
  if (b.expires) {
    int64_t leftTicks = int64_t(b.expires) - int64_t(now);
    e.expiresUnixMicros = unixNow + leftTicks * 1'000'000 / int64_t(clock_.hz);
    e.expired = leftTicks <= 0;
  }
  return e;
}

std::vector<BlockEntry> Blocklist::list() const {
  std::vector<BlockEntry> out;
  pc_addr a{}, next{};
  pc_addr* cur = nullptr;
  while (bpf_map_get_next_key(exactFd_, cur, &next) == 0) {
    pc_block b{};
    if (bpf_map_lookup_elem(exactFd_, &next, &b) == 0) out.push_back(toEntry({next, 128}, b));
    a = next;
    cur = &a;
  }
  pc_prefix_key pk{}, pnext{};
  pc_prefix_key* pcur = nullptr;
  while (bpf_map_get_next_key(prefixFd_, pcur, &pnext) == 0) {
    pc_block b{};
    if (bpf_map_lookup_elem(prefixFd_, &pnext, &b) == 0) {
      out.push_back(toEntry({pnext.addr, pnext.prefixlen}, b));
    }
    pk = pnext;
    pcur = &pk;
  }
  return out;
}

std::vector<BlockEntry> Blocklist::sweep() {
  std::vector<BlockEntry> gone;
  for (const BlockEntry& e : list()) {
    if (!e.expired) continue;
    if (e.prefix.length == 128) {
      bpf_map_delete_elem(exactFd_, &e.prefix.addr);
    } else {
      pc_prefix_key k = prefixKey(e.prefix);
      bpf_map_delete_elem(prefixFd_, &k);
    }
    gone.push_back(e);
  }
  if (!gone.empty()) bumpControl();
  return gone;
}

int Blocklist::setAllowlist(const std::vector<Prefix>& allow) {
  // The new entries first, then the stale ones out: a reload never leaves a gap in which an
  // allowlisted host could be dropped.
  uint8_t one = 1;
  std::vector<pc_prefix_key> wanted;
  for (const Prefix& p : allow) {
    pc_prefix_key key = prefixKey(p);
    if (bpf_map_update_elem(allowFd_, &key, &one, BPF_ANY) != 0) return -errno;
    wanted.push_back(key);
  }
  pc_prefix_key k{}, next{};
  std::vector<pc_prefix_key> stale;
  pc_prefix_key* cur = nullptr;
  while (bpf_map_get_next_key(allowFd_, cur, &next) == 0) {
    bool keep = std::any_of(wanted.begin(), wanted.end(), [&](const pc_prefix_key& w) {
      return std::memcmp(&w, &next, sizeof(w)) == 0;
    });
    if (!keep) stale.push_back(next);
    k = next;
    cur = &k;
  }
  for (const auto& o : stale) bpf_map_delete_elem(allowFd_, &o);
  return bumpControl();
}

size_t Blocklist::size() const { return list().size(); }

uint32_t Blocklist::generation() const {
  uint32_t zero = 0;
  pc_control ctl{};
  return bpf_map_lookup_elem(controlFd_, &zero, &ctl) == 0 ? ctl.gen : 0;
}

PinnedMaps::~PinnedMaps() {
  for (int fd : {sources, stats, blocklist, blockprefix, allowlist, control, admit, sketch}) {
    if (fd >= 0) close(fd);
  }
}

std::vector<std::unique_ptr<PinnedMaps>> openPinnedMaps(const std::string& pinRootArg,
                                                        const std::string& iface,
                                                        std::string& error) {
  const std::string pinRoot = namespacedPinRoot(pinRootArg);
  std::vector<std::unique_ptr<PinnedMaps>> out;
  std::vector<std::string> ifaces;
  std::error_code ec;
  if (!iface.empty()) {
    ifaces.push_back(iface);
  } else {
    for (const auto& d : std::filesystem::directory_iterator(pinRoot, ec)) {
      if (d.is_directory()) ifaces.push_back(d.path().filename());
    }
  }
  for (const std::string& name : ifaces) {
    auto m = std::make_unique<PinnedMaps>();
    m->iface = name;
    std::string dir = pinRoot + "/" + name + "/";
    m->blocklist = bpf_obj_get((dir + "pc_blocklist").c_str());
    m->blockprefix = bpf_obj_get((dir + "pc_blockprefix").c_str());
    m->allowlist = bpf_obj_get((dir + "pc_allowlist").c_str());
    m->control = bpf_obj_get((dir + "pc_control").c_str());
    m->sources = bpf_obj_get((dir + "pc_sources").c_str());
    m->stats = bpf_obj_get((dir + "pc_stats").c_str());
    m->admit = bpf_obj_get((dir + "pc_admit").c_str());
    m->sketch = bpf_obj_get((dir + "pc_sketch").c_str());
    if (m->blocklist < 0 || m->blockprefix < 0 || m->allowlist < 0) {
      error = "no portcullis maps pinned under " + dir + " (" + std::strerror(errno) + ")";
      continue;
    }
    out.push_back(std::move(m));
  }
  if (out.empty() && error.empty()) {
    error = "no portcullis maps pinned under " + pinRoot + " (is `portcullis watch` running?)";
  }
  if (!out.empty()) error.clear();
  return out;
}

}  // namespace portcullis
