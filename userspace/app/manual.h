#pragma once

#include "docs/cli_docs.h"

namespace portcullis {

/// portcullis(8)'s hand-written parts; the options come from the command line.
docs::ManPage detectorManual();

}  // namespace portcullis
