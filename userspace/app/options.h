#pragma once

#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "app/args.h"

namespace portcullis {

/// The option table: every option of watch and replay, declared once. The command line (CLI11)
/// is built from it, the config file's keys are checked against it, and the profiles are
/// written as its options (expandConfig).
void addCommonOptions(CLI::App* cmd, CommonArgs& a);
void addWatchOptions(CLI::App* cmd, WatchArgs& w);

/// Applies --rules and --no-anomaly, and checks what no single option can. False: `error`.
bool finalizeRules(CommonArgs& a, std::string& error);

/// Where each option set by the config file came from ("config FILE:LINE"), by "--name".
using ConfigOrigins = std::map<std::string, std::string>;

/// The words CLI11 parses: the --profile's options, then the config file's, then the user's own,
/// so each overrides the one before, option by option (see .cpp).
bool expandConfig(CLI::App& app, int argc, char** argv, std::vector<std::string>& out,
                  ConfigOrigins& origins, std::string& error);

/// A parse error about an option the config file set names the file and line.
std::string withOrigin(std::string what, const ConfigOrigins& origins);

}  // namespace portcullis
