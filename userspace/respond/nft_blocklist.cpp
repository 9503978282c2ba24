#include "respond/nft_blocklist.h"

#include <nftables/libnftables.h>

#include <cerrno>
#include <set>

namespace portcullis {

namespace {

std::string setOf(const Prefix& p) { return pc_addr_is_v4(&p.addr) ? "block4" : "block6"; }

// The element as nft reads it: an address, or an address with its prefix length.
std::string elementOf(const Prefix& p) { return formatPrefix(p); }

std::string firstLine(const char* text) {
  std::string s = text ? text : "";
  size_t nl = s.find('\n');
  return s.substr(0, nl);
}

}  // namespace

std::unique_ptr<NftBlocklist> NftBlocklist::open(std::string& error, std::function<int64_t()> now) {
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!ctx) {
    error = "nftables: cannot create a context";
    return nullptr;
  }
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  std::unique_ptr<NftBlocklist> nft(new NftBlocklist(ctx, std::move(now)));
  // `add` leaves what exists: a restarted watch adopts the sets and the blocks in them.
  std::string t = std::string("inet ") + kTable;
  error = nft->run("add table " + t + "\n" + "add set " + t +
                   " block4 { type ipv4_addr; flags interval, timeout; }\n" + "add set " + t +
                   " block6 { type ipv6_addr; flags interval, timeout; }\n" + "add chain " + t +
                   " prerouting { type filter hook prerouting priority raw; policy accept; }\n" +
                   "flush chain " + t + " prerouting\n" + "add rule " + t +
                   " prerouting ip saddr @block4 counter drop\n" + "add rule " + t +
                   " prerouting ip6 saddr @block6 counter drop\n");
  if (!error.empty()) {
    error = "nftables: cannot set up table inet " + std::string(kTable) + ": " + error;
    return nullptr;
  }
  return nft;
}

std::unique_ptr<NftBlocklist> NftBlocklist::attach(std::function<int64_t()> now) {
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!ctx) return nullptr;
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  std::unique_ptr<NftBlocklist> nft(new NftBlocklist(ctx, std::move(now)));
  if (!nft->run("list table inet " + std::string(kTable)).empty()) return nullptr;
  return nft;
}

NftBlocklist::~NftBlocklist() { nft_ctx_free(ctx_); }

std::string NftBlocklist::run(const std::string& commands) {
  if (nft_run_cmd_from_buffer(ctx_, commands.c_str()) == 0) return "";
  std::string why = firstLine(nft_ctx_get_error_buffer(ctx_));
  return why.empty() ? "nft failed" : why;
}

int NftBlocklist::block(const Prefix& p, uint64_t ttlSeconds, uint32_t reason) {
  std::string set = std::string("inet ") + kTable + " " + setOf(p);
  std::string element =
      elementOf(p) + (ttlSeconds ? " timeout " + std::to_string(ttlSeconds) + "s" : "");
  // A refreshed block replaces the element, whose timeout cannot be changed in place.
  run("delete element " + set + " { " + elementOf(p) + " }");
  if (!run("add element " + set + " { " + element + " }").empty()) return -EINVAL;
  BlockEntry& e = entries_[formatPrefix(p)];
  e.prefix = p;
  e.reason = reason;
  e.expiresUnixMicros = ttlSeconds ? now_() + int64_t(ttlSeconds) * 1'000'000 : 0;
  return 0;
}

bool NftBlocklist::blocked(const pc_addr& a) const {
  int64_t now = now_();
  for (const auto& [text, e] : entries_) {
    if (prefixContains(e.prefix, a) && (!e.expiresUnixMicros || e.expiresUnixMicros > now)) {
      return true;
    }
  }
  return false;
}

int NftBlocklist::unblock(const Prefix& p) {
  bool known = entries_.erase(formatPrefix(p)) > 0;
  std::string err = run("delete element inet " + std::string(kTable) + " " + setOf(p) + " { " +
                        elementOf(p) + " }");
  return err.empty() || known ? 0 : -ENOENT;
}

std::vector<BlockEntry> NftBlocklist::list() const {
  std::vector<BlockEntry> out;
  for (const auto& [text, e] : entries_) out.push_back(e);
  return out;
}

// The kernel has removed expired elements by itself; this forgets them here and reports them.
std::vector<BlockEntry> NftBlocklist::sweep() {
  std::vector<BlockEntry> gone;
  int64_t now = now_();
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.expiresUnixMicros && it->second.expiresUnixMicros <= now) {
      gone.push_back(it->second);
      gone.back().expired = true;
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return gone;
}

void NftBlocklist::remove() {
  run("delete table inet " + std::string(kTable));
  entries_.clear();
}

int BlockFanout::block(const Prefix& p, uint64_t ttlSeconds, uint32_t reason) {
  int first = 0;
  for (BlockBackend* b : backends_) {
    int err = b->block(p, ttlSeconds, reason);
    if (err && !first) first = err;
  }
  return first;
}

bool BlockFanout::blocked(const pc_addr& a) const {
  for (BlockBackend* b : backends_) {
    if (b->blocked(a)) return true;
  }
  return false;
}

int BlockFanout::unblock(const Prefix& p) {
  bool any = false;
  for (BlockBackend* b : backends_) any |= b->unblock(p) == 0;
  return any ? 0 : -ENOENT;
}

std::vector<BlockEntry> BlockFanout::sweep() {
  std::vector<BlockEntry> gone;
  std::set<std::string> seen;
  for (BlockBackend* b : backends_) {
    for (BlockEntry& e : b->sweep()) {
      if (seen.insert(formatPrefix(e.prefix)).second) gone.push_back(e);
    }
  }
  return gone;
}

}  // namespace portcullis
