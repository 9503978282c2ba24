#include "timing.h"

#include <algorithm>
#include <chrono>

namespace portcullis::scan {

int64_t monotonicMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double epochSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TimingParams timingTemplate(int level) {
  TimingParams t;  // defaults are T3 ("normal")
  t.level = level;
  switch (level) {
    case 0:
      t.maxParallelism = 1;
      t.scanDelayMs = 300000;
      t.initialRttTimeoutMs = 300000;
      break;
    case 1:
      t.maxParallelism = 1;
      t.scanDelayMs = 15000;
      t.initialRttTimeoutMs = 15000;
      break;
    case 2:
      t.maxParallelism = 1;
      t.scanDelayMs = 400;
      break;
    case 4:
      t.minRttTimeoutMs = 100;
      t.maxRttTimeoutMs = 1250;
      t.initialRttTimeoutMs = 500;
      t.maxScanDelayMs = 10;
      t.maxRetries = 6;
      break;
    case 5:
      t.minRttTimeoutMs = 50;
      t.maxRttTimeoutMs = 300;
      t.initialRttTimeoutMs = 250;
      t.maxScanDelayMs = 5;
      t.maxRetries = 2;
      t.hostTimeoutMs = 900000;
      break;
    default:
      break;
  }
  return t;
}

CongestionParams congestionFor(int timingLevel) {
  CongestionParams c;
  if (timingLevel == 4) {
    c.maxCwnd = 1000;
    c.initialSsthresh = 300;
  } else if (timingLevel >= 5) {
    c.maxCwnd = 4096;
    c.initialSsthresh = 1000;
  }
  return c;
}

bool SendDelay::onAnswer(bool dropped, int64_t nowUs) {
  (dropped ? dropped_ : good_) += 1;
  if (dropped_ <= 10 ||
      static_cast<double>(dropped_) / static_cast<double>(dropped_ + good_) <= threshold_) {
    return false;
  }
  return boost(nowUs);
}

bool SendDelay::onRetryAnswered(int retry, int64_t nowUs) {
  if (retry <= maxAnsweredRetry_) return false;
  maxAnsweredRetry_ = retry;
  return retry > 3 && boost(nowUs);
}

bool SendDelay::boost(int64_t nowUs) {
  const int64_t before = delayUs_;
  if (delayUs_ == 0) {
    delayUs_ = udp_ ? 50000 : 5000;
  } else {
    delayUs_ = std::min(delayUs_ * 2, std::max<int64_t>(delayUs_, 1000000));
  }
  delayUs_ = std::min(delayUs_, maxUs_);
  good_ = 0;
  dropped_ = 0;
  lastBoostUs_ = nowUs;
  return delayUs_ != before;
}

void RttEstimator::addSample(int64_t rttUs) {
  rttUs = std::max<int64_t>(rttUs, 1);
  if (!hasSample_) {
    srttUs_ = rttUs;
    rttvarUs_ = rttUs / 2;
    hasSample_ = true;
  } else {
    const int64_t err = srttUs_ > rttUs ? srttUs_ - rttUs : rttUs - srttUs_;
    rttvarUs_ = (3 * rttvarUs_ + err) / 4;
    srttUs_ = (7 * srttUs_ + rttUs) / 8;
  }
  constexpr int64_t kGranularityUs = 1000;
  rtoUs_ = srttUs_ + std::max(kGranularityUs, 4 * rttvarUs_);
  clampRto();
}

void RttEstimator::backoff() {
  // Doubling never lowers an initial timeout that was set above the ceiling (T0, T1).
  rtoUs_ = std::min(rtoUs_ * 2, std::max(maxUs_, rtoUs_));
}

void RttEstimator::clampRto() { rtoUs_ = std::clamp(rtoUs_, minUs_, std::max(minUs_, maxUs_)); }

}  // namespace portcullis::scan
