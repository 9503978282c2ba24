#pragma once

#include <string>
#include <vector>

namespace portcullis {

/// One key of the config file, as the command line would spell it.
struct ConfigSetting {
  std::string key;                  ///< the long option name, without "--"
  std::vector<std::string> values;  ///< one per array element; empty for a flag that is on
  bool isFlag = false;              ///< a boolean: true turns the flag on, false leaves it off
  bool flagOn = false;
  int line = 0;  ///< where the key is in the file
};

/// Reads a TOML config file (toml++) for `subcommand`: keys at the top level apply to every
/// subcommand, keys under a [watch] or [replay] table to that one only. Strings, integers,
/// floats, booleans and arrays of them (multi-line arrays too); anything else is an error.
/// On failure returns false and one line in `error` naming the file, the line and the key.
bool readConfigFile(const std::string& path, const std::string& subcommand,
                    std::vector<ConfigSetting>& out, std::string& error);

}  // namespace portcullis
