// portcullis-scan: entry point. Usage errors and missing privileges are one line on stderr and
// exit status 2, as DESIGN.md's contract asks.
#include <cstdio>
#include <iostream>

#include "cli.h"
#include "scanner.h"

int main(int argc, char** argv) {
  using namespace portcullis::scan;
  Options opts;
  std::string error;
  switch (parseCommandLine(argc, argv, opts, error)) {
    case ParseResult::kExitSuccess:
      return 0;
    case ParseResult::kError:
      std::cerr << "portcullis-scan: " << error << " (see --help)\n";
      return 2;
    case ParseResult::kOk:
      break;
  }
  return runScan(opts);
}
