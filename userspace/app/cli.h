#pragma once

namespace portcullis {

/// Parses the command line and runs the chosen subcommand. Exit status: 0 on success, 1 when
/// the environment fails (cannot attach, cannot read a device), 2 on bad arguments or input.
int runCli(int argc, char** argv);

}  // namespace portcullis
