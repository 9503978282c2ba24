#pragma once

#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace portcullis::docs {

/// The hand-written parts of a manual page; the options come from the command line itself, so
/// the page never lists an option the program does not have.
struct ManPage {
  std::string name;     ///< portcullis
  std::string section;  ///< 8
  std::string summary;  ///< the NAME line after the dash
  std::vector<std::string> synopsis;
  std::vector<std::string> description;                       ///< paragraphs
  std::vector<std::pair<std::string, std::string>> sections;  ///< title, paragraphs (\n\n apart)
};

/// The page in man(7) roff: NAME, SYNOPSIS, DESCRIPTION, the options (per subcommand when the
/// program has subcommands), then `page.sections`.
std::string manPage(const CLI::App& app, const ManPage& page);

/// A bash completion script for `program`: subcommands, each one's long and short options, the
/// values of options with a fixed set of them, interfaces for -i, files for file arguments.
std::string bashCompletion(const CLI::App& app, const std::string& program);

}  // namespace portcullis::docs
