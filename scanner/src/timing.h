#pragma once
// nmap's timing templates (-T0..-T5) with nmap's numbers, and the RFC 6298 RTT estimator.

#include <algorithm>
#include <cstdint>

namespace portcullis::scan {

/// Microseconds on the monotonic clock: probe send times, timeouts, pacing.
int64_t monotonicMicros();
/// Wall-clock seconds since the epoch, for reports (nmap's start and end times).
double epochSeconds();

/// Timing knobs. Times are milliseconds, 0 meaning "none" where a limit is optional.
struct TimingParams {
  int level = 3;
  int64_t minRttTimeoutMs = 100;
  int64_t maxRttTimeoutMs = 10000;
  int64_t initialRttTimeoutMs = 1000;
  int maxRetries = 10;
  int64_t scanDelayMs = 0;        // minimum gap between probes to one host
  int64_t maxScanDelayMs = 1000;  // ceiling on the delay nmap grows when it sees drops
  int64_t hostTimeoutMs = 0;
  int maxParallelism = 0;  // 0 = dynamic (congestion window decides)
  int minParallelism = 0;
  double minRate = 0;  // probes per second, 0 = unset
  double maxRate = 0;
};

/// The template values from nmap's manual ("Timing and Performance", -T):
///   level            T0      T1     T2     T3     T4     T5
///   min-rtt-timeout  100     100    100    100    100    50
///   max-rtt-timeout  10000   10000  10000  10000  1250   300
///   initial-rtt      300000  15000  1000   1000   500    250
///   max-retries      10      10     10     10     6      2
///   scan-delay       300000  15000  400    0      0      0
///   max-scan-delay   1000    1000   1000   1000   10     5
///   host-timeout     0       0      0      0      0      900000
///   max-parallelism  1       1      1      dyn    dyn    dyn
TimingParams timingTemplate(int level);

/// Congestion control numbers nmap uses in its scan engine (initial window 10, slow-start
/// threshold 75, window ceiling 300 unless --max-parallelism says otherwise).
struct CongestionParams {
  double initialCwnd = 10;
  double initialSsthresh = 75;
  double maxCwnd = 300;
  double minCwnd = 1;
};

/// Our choice beyond nmap: -T4 and -T5 raise the window ceiling (1000, 4096) and the slow-start
/// threshold, because the raw engine's cost per probe in flight is a 12-byte slot, not a socket.
/// The window still halves on every drop, so a lossy path slows down as under nmap.
CongestionParams congestionFor(int timingLevel);

/// nmap's dynamic scan delay for one host. The gap between probes to that host grows when more
/// than 10 answers since the last change came only for retransmissions (probes were dropped: a
/// rate limit, a congested link) and they are more than 30 % of the answers (40 % from -T4 on),
/// or when a port first needs a fourth retransmission or more. It grows 0 -> 5 ms (50 ms for
/// UDP, whose ICMP errors are what gets rate-limited), then doubles, never beyond
/// max-scan-delay (or --scan-delay when that is larger).
class SendDelay {
 public:
  SendDelay(int64_t floorUs, int64_t maxUs, int timingLevel, bool udp)
      : delayUs_(floorUs),
        maxUs_(std::max(maxUs, floorUs)),
        udp_(udp),
        threshold_(timingLevel >= 4 ? 0.40 : 0.30) {}

  /// Counts one answer; `dropped` when it answered a retransmission whose earlier try went
  /// out after the last increase. Returns true when the delay grew.
  bool onAnswer(bool dropped, int64_t nowUs);
  /// Counts an answer to retransmission number `retry` (1 = first retransmission). Returns true
  /// when that is a new maximum above 3 and the delay grew.
  bool onRetryAnswered(int retry, int64_t nowUs);
  int maxAnsweredRetry() const { return maxAnsweredRetry_; }
  int64_t delayUs() const { return delayUs_; }
  /// When the delay last grew (answers to probes sent before then do not count as drops).
  int64_t lastBoostUs() const { return lastBoostUs_; }
  unsigned droppedSinceChange() const { return dropped_; }
  unsigned answersSinceChange() const { return dropped_ + good_; }

 private:
  int64_t delayUs_;
  int64_t maxUs_;
  bool udp_;
  double threshold_;
  unsigned good_ = 0;
  unsigned dropped_ = 0;
  int maxAnsweredRetry_ = 0;
  int64_t lastBoostUs_ = 0;

  bool boost(int64_t nowUs);
};

/// Smoothed RTT and retransmission timeout as RFC 6298 section 2 defines them (alpha 1/8,
/// beta 1/4, K 4, clock granularity 1 ms), clamped to [min, max] rtt-timeout, doubled per
/// timeout (section 5.5) and reset by the next valid sample.
class RttEstimator {
 public:
  RttEstimator(int64_t initialUs, int64_t minUs, int64_t maxUs)
      : rtoUs_(initialUs), minUs_(minUs), maxUs_(maxUs) {}  // the initial value is used as
                                                            // given, as nmap does for T0/T1

  void addSample(int64_t rttUs);
  void backoff();
  int64_t rtoUs() const { return rtoUs_; }
  int64_t srttUs() const { return srttUs_; }
  int64_t rttvarUs() const { return rttvarUs_; }
  bool hasSample() const { return hasSample_; }

 private:
  void clampRto();

  int64_t srttUs_ = 0;
  int64_t rttvarUs_ = 0;
  int64_t rtoUs_;
  int64_t minUs_;
  int64_t maxUs_;
  bool hasSample_ = false;
};

}  // namespace portcullis::scan
