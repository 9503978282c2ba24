#include "fleet/fleet_link.h"

#include <hiredis/hiredis.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdarg>
#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>

#include "datapath/kernel_clock.h"
#include "detect/estimate.h"
#include "portcullis/source.h"
#include "report/log.h"

namespace portcullis {

namespace {

constexpr const char* kChannel = "portcullis:blocks";
constexpr const char* kKeyPrefix = "portcullis:block:";
constexpr const char* kFootprintPrefix = "portcullis:fp:";

int64_t nowMs() { return unixMicrosNow() / 1000; }

using Reply = FleetLink::Reply;

bool ok(const Reply& r) { return r && r->type != REDIS_REPLY_ERROR; }

// Queues one command of a pipeline; its reply is read with redisGetReply.
void append(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(c, int(argv.size()), argv.data(), lens.data());
}

}  // namespace

void FleetLink::ReplyDeleter::operator()(redisReply* r) const { freeReplyObject(r); }

std::optional<FleetUrl> parseFleetUrl(const std::string& text, std::string& error) {
  static const std::regex re(
      R"(^redis://(?:([^:@/]*)(?::([^@/]*))?@)?([^:/@]+)(?::(\d+))?(?:/(\d+))?$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) {
    error = "--fleet: not a redis://[user:password@]HOST:PORT[/db] URL: " + text;
    return std::nullopt;
  }
  FleetUrl url;
  url.user = m[1];
  url.password = m[2];
  url.host = m[3];
  if (m[4].matched) url.port = std::stoi(m[4]);
  if (m[5].matched) url.db = std::stoi(m[5]);
  if (url.port < 1 || url.port > 65535) {
    error = "--fleet: port out of range: " + text;
    return std::nullopt;
  }
  if (!url.user.empty() && url.password.empty()) std::swap(url.user, url.password);  // :pw@
  return url;
}

std::string fleetNodeName(const std::string& given) {
  if (!given.empty()) return given;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return host;
}

std::string fleetBlockJson(const FleetBlock& b) {
  nlohmann::json j{{"op", b.unblock ? "unblock" : "block"},
                   {"prefix", formatPrefix(b.prefix)},
                   {"expires_ms", b.expiresUnixMs},
                   {"created_ms", b.createdUnixMs},
                   {"node", b.node},
                   {"offense", b.offense}};
  return j.dump();
}

std::optional<FleetBlock> parseFleetBlock(const std::string& json) {
  // Whatever another node (or anyone who reaches Redis) wrote: checked field by field, never
  // thrown from (this runs in the subscriber's thread).
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto text = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto number = [&](const char* key, int64_t& out) {
    auto it = j.find(key);
    if (it == j.end()) return true;  // optional: 0
    if (!it->is_number_integer()) return false;
    out = it->get<int64_t>();
    return true;
  };
  auto prefix = parsePrefix(text("prefix"));
  std::string op = text("op");
  FleetBlock b;
  int64_t offense = 0;
  if (!prefix || (op != "block" && op != "unblock") || !number("expires_ms", b.expiresUnixMs) ||
      !number("created_ms", b.createdUnixMs) || !number("offense", offense) || offense < 0) {
    return std::nullopt;
  }
  b.prefix = *prefix;
  b.unblock = op == "unblock";
  b.node = text("node");
  b.offense = uint32_t(std::min<int64_t>(offense, UINT32_MAX));
  return b;
}

std::unique_ptr<FleetLink> FleetLink::start(const FleetUrl& url, std::string node) {
  std::unique_ptr<FleetLink> link(new FleetLink(url, std::move(node)));
  link->writer_ = std::thread([l = link.get()] { l->writerLoop(); });
  link->subscriber_ = std::thread([l = link.get()] { l->subscriberLoop(); });
  return link;
}

bool FleetLink::publishNow(const FleetUrl& url, const FleetBlock& b, std::string& error) {
  FleetLink link(url, b.node);
  redisContext* c = link.connect(true);
  bool sent = c && link.send(c, b);
  if (!sent) {
    error = "fleet: cannot write to redis at " + url.host + ":" + std::to_string(url.port) +
            (c && c->errstr[0] ? std::string(": ") + c->errstr : std::string());
  }
  if (c) redisFree(c);
  return sent;
}

FleetLink::~FleetLink() {
  {
    // Under the lock the subscriber takes to publish its socket: either it sees the stop
    // before it blocks in a read, or its socket is shut down here, which ends the read.
    std::lock_guard lock(mu_);
    stop_ = true;
    if (subscriberFd_ >= 0) shutdown(subscriberFd_, SHUT_RDWR);
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (subscriber_.joinable()) subscriber_.join();
}

void FleetLink::publish(const FleetBlock& b) {
  std::lock_guard lock(mu_);
  std::string key = formatPrefix(b.prefix);
  if (b.unblock) {
    mine_.erase(key);
  } else {
    mine_[key] = b;
  }
  outgoing_.push_back(b);
  wake_.notify_all();
}

void FleetLink::setHeld(std::vector<FleetBlock> held) {
  std::lock_guard lock(mu_);
  held_ = std::move(held);
}

std::vector<FleetBlock> FleetLink::takeIncoming() {
  std::lock_guard lock(mu_);
  std::vector<FleetBlock> out;
  out.swap(incoming_);
  return out;
}

FleetLink::Stats FleetLink::stats() const {
  std::lock_guard lock(mu_);
  Stats s = stats_;
  s.commands = commands_.load();
  return s;
}

void FleetLink::share(Footprint fp) {
  std::lock_guard lock(mu_);
  auto it = footprints_.find(fp.src);
  if (it == footprints_.end()) {
    if (footprints_.size() >= kFootprintsWaiting) {
      ++stats_.footprintsDropped;
      return;
    }
    footprintOrder_.push_back(fp.src);
    footprints_.emplace(fp.src, std::move(fp));
  } else {  // still waiting: one footprint with both sets of bits (PFADD ignores repeats)
    Footprint& waiting = it->second;
    waiting.dstBits.insert(waiting.dstBits.end(), fp.dstBits.begin(), fp.dstBits.end());
    waiting.portBits.insert(waiting.portBits.end(), fp.portBits.begin(), fp.portBits.end());
    waiting.hostsBar = fp.hostsBar;
    waiting.portsBar = fp.portsBar;
    waiting.windowS = fp.windowS;
  }
  wake_.notify_all();
}

std::vector<FleetSighting> FleetLink::takeSightings() {
  std::lock_guard lock(mu_);
  std::vector<FleetSighting> out;
  out.swap(sightings_);
  return out;
}

// With mu_ held: the oldest waiting footprint, if this second's budget allows one.
bool FleetLink::nextFootprint(Footprint& fp) {
  int64_t second = nowMs() / 1000;
  if (second != budgetSecond_) {
    budgetSecond_ = second;
    budgetLeft_ = kFootprintsPerSecond;
  }
  if (footprintOrder_.empty() || !budgetLeft_) return false;
  auto it = footprints_.find(footprintOrder_.front());
  footprintOrder_.pop_front();
  fp = std::move(it->second);
  footprints_.erase(it);
  --budgetLeft_;
  return true;
}

Reply FleetLink::run(redisContext* c, const char* format, ...) const {
  ++commands_;
  va_list ap;
  va_start(ap, format);
  void* r = redisvCommand(c, format, ap);
  va_end(ap);
  return Reply(static_cast<redisReply*>(r));
}

redisContext* FleetLink::connect(bool withTimeout) const {
  timeval tv{1, 0};
  redisContext* c = redisConnectWithTimeout(url_.host.c_str(), url_.port, tv);
  if (!c || c->err) {
    if (c) redisFree(c);
    return nullptr;
  }
  if (withTimeout) redisSetTimeout(c, tv);  // a slow Redis stalls the writer, never the watch
  bool ready = true;
  if (!url_.password.empty()) {
    ready = url_.user.empty() ? ok(run(c, "AUTH %s", url_.password.c_str()))
                              : ok(run(c, "AUTH %s %s", url_.user.c_str(), url_.password.c_str()));
  }
  if (ready && url_.db) ready = ok(run(c, "SELECT %d", url_.db));
  if (!ready) {
    redisFree(c);
    return nullptr;
  }
  return c;
}

void FleetLink::setUp(bool up) {
  std::lock_guard lock(mu_);
  if (stats_.up == up && said_) return;
  bool wasUp = stats_.up;
  stats_.up = up;
  said_ = true;
  if (up) {
    logInfo("fleet: connected to redis at %s:%d as node %s", url_.host.c_str(), url_.port,
            node_.c_str());
  } else if (wasUp || stats_.reconnects == 0) {
    logWarning("fleet: redis at %s:%d unreachable; detecting and blocking alone, retrying",
               url_.host.c_str(), url_.port);
  }
  if (!up) ++stats_.reconnects;
}

// Waits before the next attempt: 100 ms, doubling to 2 s; a stop ends the wait.
void FleetLink::pause(int& backoffMs) {
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, std::chrono::milliseconds(backoffMs), [&] { return stop_.load(); });
  backoffMs = std::min(backoffMs * 2, 2000);
}

// Every block key's value, with the time it has left: the fleet's current blocks.
bool FleetLink::catchUp(redisContext* c) {
  std::string cursor = "0";
  do {
    Reply r = run(c, "SCAN %s MATCH %s* COUNT 1000", cursor.c_str(), kKeyPrefix);
    if (!ok(r) || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
      return false;
    }
    cursor = r->element[0]->str;
    const redisReply* keys = r->element[1];
    for (size_t i = 0; i < keys->elements; ++i) {
      if (keys->element[i]->type != REDIS_REPLY_STRING) continue;
      Reply v = run(c, "GET %s", keys->element[i]->str);
      if (!ok(v)) return false;
      if (v->type != REDIS_REPLY_STRING) continue;  // expired between SCAN and GET
      if (auto b = parseFleetBlock(v->str); b && b->node != node_) receive(*b);
    }
  } while (cursor != "0");
  return true;
}

// One pipeline: the footprint's bits into the source's HyperLogLogs, this node into its set,
// the three keys' expiry renewed, and the fleet's counts read back. Crossing the thresholds at
// two nodes or more, the first node to claim the source's `:alerted` key alerts.
bool FleetLink::sendFootprint(redisContext* c, const Footprint& fp) {
  const std::string base = kFootprintPrefix + fp.src;
  const std::string hosts = base + ":hosts", ports = base + ":ports", nodes = base + ":nodes";
  const std::string ms = std::to_string(uint64_t(std::max(fp.windowS, 1u)) * 1000);
  auto pfadd = [&](const std::string& key, const std::vector<uint16_t>& bits) {
    std::vector<std::string> args{"PFADD", key};
    for (uint16_t b : bits) args.push_back(std::to_string(b));
    append(c, args);
  };
  pfadd(hosts, fp.dstBits);
  pfadd(ports, fp.portBits);
  append(c, {"SADD", nodes, node_});
  for (const std::string* key : {&hosts, &ports, &nodes}) append(c, {"PEXPIRE", *key, ms});
  append(c, {"PFCOUNT", hosts});
  append(c, {"PFCOUNT", ports});
  append(c, {"SMEMBERS", nodes});
  constexpr size_t kCommands = 9;
  commands_ += kCommands;
  std::vector<Reply> replies;
  for (size_t i = 0; i < kCommands; ++i) {
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK) return false;
    replies.emplace_back(static_cast<redisReply*>(raw));
    if (!ok(replies.back())) return false;
  }
  const redisReply* members = replies[8].get();
  if (replies[6]->type != REDIS_REPLY_INTEGER || replies[7]->type != REDIS_REPLY_INTEGER ||
      members->type != REDIS_REPLY_ARRAY) {
    return false;
  }
  FleetSighting seen;
  seen.src = fp.src;
  seen.hosts = linearCount(uint64_t(replies[6]->integer), PC_DST_BITS);
  seen.ports = linearCount(uint64_t(replies[7]->integer), PC_PORT_BITS);
  for (size_t i = 0; i < members->elements; ++i) {
    if (members->element[i]->type == REDIS_REPLY_STRING)
      seen.nodes.push_back(members->element[i]->str);
  }
  std::sort(seen.nodes.begin(), seen.nodes.end());
  if (!fleetCrossed(fp, seen)) return true;
  Reply claim = run(c, "SET %s:alerted %s NX PX %s", base.c_str(), node_.c_str(), ms.c_str());
  if (!ok(claim)) return false;
  if (claim->type != REDIS_REPLY_STATUS) return true;  // nil: another node alerted
  std::lock_guard lock(mu_);
  ++stats_.sightings;
  sightings_.push_back(std::move(seen));
  return true;
}

bool FleetLink::send(redisContext* c, const FleetBlock& b) {
  std::string key = kKeyPrefix + formatPrefix(b.prefix);
  std::string json = fleetBlockJson(b);
  if (b.unblock) {
    if (!ok(run(c, "DEL %s", key.c_str()))) return false;
  } else if (b.expiresUnixMs) {
    int64_t left = b.expiresUnixMs - nowMs();
    if (left <= 0) return true;  // over before it could be shared
    if (!ok(run(c, "SET %s %s PX %lld", key.c_str(), json.c_str(), (long long)left))) {
      return false;
    }
  } else if (!ok(run(c, "SET %s %s", key.c_str(), json.c_str()))) {
    return false;
  }
  return ok(run(c, "PUBLISH %s %s", kChannel, json.c_str()));
}

void FleetLink::receive(const FleetBlock& b) {
  std::lock_guard lock(mu_);
  ++stats_.in;
  if (b.createdUnixMs) stats_.lastLagSeconds = double(nowMs() - b.createdUnixMs) / 1000.0;
  incoming_.push_back(b);
}

void FleetLink::writerLoop() {
  redisContext* c = nullptr;
  int backoff = 100;
  while (!stop_) {
    if (!c) {
      c = connect(true);
      if (!c) {
        setUp(false);
        pause(backoff);
        continue;
      }
      backoff = 100;
      // Back (or first up): this node's blocks in force go out again, for the nodes that
      // missed them while Redis was away.
      std::lock_guard lock(mu_);
      int64_t now = nowMs();
      for (const auto& [key, b] : mine_) {
        if (!b.expiresUnixMs || b.expiresUnixMs > now) outgoing_.push_back(b);
      }
      for (const FleetBlock& b : held_) {
        bool inForce = !b.expiresUnixMs || b.expiresUnixMs > now;
        if (inForce && !mine_.count(formatPrefix(b.prefix))) outgoing_.push_back(b);
      }
    }
    bool wantCatchUp;
    std::optional<FleetBlock> next;
    std::optional<Footprint> footprint;
    {
      std::unique_lock lock(mu_);
      // Footprints held back by the budget wait for the next second, not for a wake-up.
      auto wait = std::chrono::milliseconds(
          footprintOrder_.empty() || budgetLeft_ ? 1000 : 1000 - nowMs() % 1000);
      wake_.wait_for(lock, wait, [&] {
        return stop_ || catchUpWanted_ || !outgoing_.empty() ||
               (!footprintOrder_.empty() && budgetLeft_);
      });
      wantCatchUp = catchUpWanted_;
      catchUpWanted_ = false;
      // Blocks first: they are what the other nodes enforce.
      if (!outgoing_.empty()) {
        next = outgoing_.front();
      } else if (Footprint fp; nextFootprint(fp)) {
        footprint = std::move(fp);
      }
    }
    bool fine = true;
    if (wantCatchUp) fine = catchUp(c);
    if (fine && next) {
      fine = send(c, *next);
      if (fine) {
        std::lock_guard lock(mu_);
        outgoing_.pop_front();
        ++stats_.out;
      }
    }
    if (fine && footprint) {
      fine = sendFootprint(c, *footprint);
      if (fine) {
        std::lock_guard lock(mu_);
        ++stats_.footprintsOut;
      } else {
        share(std::move(*footprint));  // again after the reconnect (PFADD ignores repeats)
      }
    }
    if (fine && !wantCatchUp && !next && !footprint) fine = ok(run(c, "PING"));
    if (fine) {
      setUp(true);
      continue;
    }
    redisFree(c);
    c = nullptr;
    std::lock_guard lock(mu_);
    if (wantCatchUp) catchUpWanted_ = true;
  }
  if (c) redisFree(c);
}

void FleetLink::subscriberLoop() {
  int backoff = 100;
  while (!stop_) {
    redisContext* c = connect(false);
    if (!c) {
      pause(backoff);
      continue;
    }
    backoff = 100;
    if (!ok(run(c, "SUBSCRIBE %s", kChannel))) {
      redisFree(c);
      pause(backoff);
      continue;
    }
    {
      std::lock_guard lock(mu_);
      if (stop_) {
        redisFree(c);
        break;
      }
      subscriberFd_ = c->fd;
      catchUpWanted_ = true;  // what was published before this subscription: from the keys
    }
    wake_.notify_all();
    while (!stop_) {
      void* raw = nullptr;
      if (redisGetReply(c, &raw) != REDIS_OK) break;
      Reply r(static_cast<redisReply*>(raw));
      if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
          r->element[2]->type == REDIS_REPLY_STRING) {
        if (auto b = parseFleetBlock(r->element[2]->str); b && b->node != node_) receive(*b);
      }
    }
    {
      std::lock_guard lock(mu_);
      subscriberFd_ = -1;
    }
    redisFree(c);
  }
}

}  // namespace portcullis
