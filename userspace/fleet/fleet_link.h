#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "datapath/net_util.h"
#include "detect/footprint.h"

struct redisContext;
struct redisReply;

namespace portcullis {

/// --fleet redis://[user:password@]HOST:PORT[/db]
struct FleetUrl {
  std::string host;
  int port = 6379;
  std::string user, password;
  int db = 0;
};
/// nullopt with one line in `error` when the text is not such a URL.
std::optional<FleetUrl> parseFleetUrl(const std::string& text, std::string& error);

/// `given`, or the host name when it is empty: a node's name in the fleet.
std::string fleetNodeName(const std::string& given);

/// A block (or unblock) as the fleet shares it: absolute times, so it ends everywhere at its
/// original time.
struct FleetBlock {
  Prefix prefix;
  int64_t expiresUnixMs = 0;  ///< 0: permanent
  int64_t createdUnixMs = 0;
  std::string node;
  uint32_t offense = 0;
  bool unblock = false;
};
std::string fleetBlockJson(const FleetBlock& b);
std::optional<FleetBlock> parseFleetBlock(const std::string& json);

/// The Redis link of one node (DESIGN.md, "Fleet"): its blocks go out as keys with TTLs
/// (`portcullis:block:<prefix>`, SET ... PX) and a Pub/Sub message (`portcullis:blocks`); the
/// other nodes' come in from the channel, and from the keys whenever the link (re)connects, so
/// a node that was away catches up from the current blocks, not from history. Two threads own
/// the two connections (a subscriber blocks in its read): the watch's loop only queues and
/// drains, so nothing local waits for Redis. Redis down or restarted: said once, retried with
/// backoff, and this node's blocks in force are published again when it returns.
///
/// Footprints (detect/footprint.h) go to three keys per source that expire with the shape
/// window: `portcullis:fp:<src>:hosts` and `:ports` (HyperLogLogs of the bitmaps' bit numbers,
/// PFADD/PFCOUNT) and `:nodes` (a set). The node whose footprint makes the union cross its
/// thresholds at two nodes or more claims `:alerted` (SET NX) and gets the sighting: one alert
/// in the fleet. At most kFootprintsPerSecond go out, merged per source while they wait, so a
/// node's Redis load is bounded whatever its traffic.
class FleetLink final : public FootprintExchange {
 public:
  static std::unique_ptr<FleetLink> start(const FleetUrl& url, std::string node);
  /// One block or unblock written and published now, without the threads (`portcullis block
  /// --fleet`): false with one line in `error` when Redis cannot be reached.
  static bool publishNow(const FleetUrl& url, const FleetBlock& b, std::string& error);
  ~FleetLink() override;
  FleetLink(const FleetLink&) = delete;
  FleetLink& operator=(const FleetLink&) = delete;

  /// Queues one of this node's blocks or unblocks for the fleet.
  void publish(const FleetBlock& b);
  /// The blocks this node holds for the fleet that it did not publish itself (those of
  /// `portcullis block --fleet` here, found in its blocklists): sent again, with its own, each
  /// time Redis comes back, since a restarted Redis has lost their keys. Replaces the last set.
  void setHeld(std::vector<FleetBlock> held);
  /// The other nodes' blocks and unblocks received since the last call.
  std::vector<FleetBlock> takeIncoming();

  // FootprintExchange
  void share(Footprint footprint) override;
  std::vector<FleetSighting> takeSightings() override;

  static constexpr uint32_t kFootprintsPerSecond = 100;
  static constexpr size_t kFootprintsWaiting = 4096;  ///< beyond: new sources' are dropped

  struct Stats {
    bool up = false;
    uint64_t in = 0, out = 0, reconnects = 0;
    uint64_t commands = 0;  ///< Redis commands this node sent
    uint64_t footprintsOut = 0, footprintsDropped = 0, sightings = 0;
    double lastLagSeconds = 0;  ///< from a block's creation on its node to its arrival here
  };
  Stats stats() const;
  const std::string& node() const { return node_; }

  struct ReplyDeleter {
    void operator()(redisReply* r) const;
  };
  using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

 private:
  FleetLink(FleetUrl url, std::string node) : url_(std::move(url)), node_(std::move(node)) {}
  /// One command, counted (Stats::commands).
  Reply run(redisContext* c, const char* format, ...) const;
  redisContext* connect(bool withTimeout) const;
  void writerLoop();
  void subscriberLoop();
  bool catchUp(redisContext* c);
  bool send(redisContext* c, const FleetBlock& b);
  bool sendFootprint(redisContext* c, const Footprint& fp);
  bool nextFootprint(Footprint& fp);
  void receive(const FleetBlock& b);
  void setUp(bool up);
  void pause(int& backoffMs);

  FleetUrl url_;
  std::string node_;
  std::atomic<bool> stop_{false};
  mutable std::atomic<uint64_t> commands_{0};
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<FleetBlock> outgoing_;
  std::vector<FleetBlock> incoming_;
  std::map<std::string, FleetBlock> mine_;       ///< this node's blocks in force, by prefix
  std::vector<FleetBlock> held_;                 ///< setHeld
  std::map<std::string, Footprint> footprints_;  ///< waiting to go out, merged by source
  std::deque<std::string> footprintOrder_;       ///< their sources, oldest first
  std::vector<FleetSighting> sightings_;
  int64_t budgetSecond_ = 0;  ///< the second the footprint budget is for
  uint32_t budgetLeft_ = kFootprintsPerSecond;
  bool catchUpWanted_ = true;
  Stats stats_;
  bool said_ = false;  ///< the last state change was logged
  int subscriberFd_ = -1;
  std::thread writer_, subscriber_;
};

}  // namespace portcullis
