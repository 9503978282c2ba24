#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace portcullis::testing {

/// A directory of the test's own under the system's temporary directory, removed with all it
/// holds when the test ends.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix)
      : path_(std::filesystem::temp_directory_path() /
              (prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(serial()++))) {
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  /// The path of `name` inside the directory.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  static unsigned& serial() {
    static unsigned n = 0;
    return n;
  }
  std::filesystem::path path_;
};

}  // namespace portcullis::testing
