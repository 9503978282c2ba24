#pragma once

#include "docs/cli_docs.h"

namespace portcullis::scan {

/// portcullis-scan(1)'s hand-written parts; the options come from the command line.
docs::ManPage scannerManual();

}  // namespace portcullis::scan
