#pragma once

#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "app/args.h"

namespace portcullis {

/// The option table: every option of watch and replay, declared once. The command line (CLI11)
/// is built from it, the config file's keys are checked against it (expandConfig), and the
/// profiles name its options (applyProfile).
void addCommonOptions(CLI::App* cmd, CommonArgs& a);
void addWatchOptions(CLI::App* cmd, WatchArgs& w);

/// Applies --profile to the options not given explicitly (on the command line or in the config
/// file), then --rules and --no-anomaly, and checks what no single option can. False: `error`.
bool finalizeRules(CLI::App* cmd, CommonArgs& a, std::string& error);

/// Where each option set by the config file came from ("config FILE:LINE"), by "--name".
using ConfigOrigins = std::map<std::string, std::string>;

/// Turns `--config FILE` into command-line words placed before the user's own (see .cpp).
bool expandConfig(CLI::App& app, int argc, char** argv, std::vector<std::string>& out,
                  ConfigOrigins& origins, std::string& error);

/// A parse error about an option the config file set names the file and line.
std::string withOrigin(std::string what, const ConfigOrigins& origins);

}  // namespace portcullis
