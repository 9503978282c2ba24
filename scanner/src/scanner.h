#pragma once
// The scan run: targets -> routes -> host groups -> discovery -> port scans -> reports.

#include "cli.h"

namespace portcullis::scan {

/// Runs a parsed command line. Returns the process exit status (0 success, 2 usage or
/// environment error, already reported on stderr as one line).
int runScan(const Options& opts);

}  // namespace portcullis::scan
