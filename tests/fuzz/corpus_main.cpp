// Replays a fuzz target's committed corpus in ctest (no libFuzzer, no sanitizers): every file
// named on the command line, or found in a directory named there, goes once through the target's
// LLVMFuzzerTestOneInput. A target checks its own contract and aborts on a breach, so a crash, an
// abort or an input that no longer parses the way the target expects fails the test. Arguments
// starting with '-' are libFuzzer flags and are ignored.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

std::vector<std::filesystem::path> inputsNamed(int argc, char** argv) {
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') continue;
    std::filesystem::path path(argv[i]);
    if (std::filesystem::is_directory(path)) {
      for (const auto& entry : std::filesystem::directory_iterator(path))
        if (entry.is_regular_file()) inputs.push_back(entry.path());
    } else {
      inputs.push_back(path);
    }
  }
  std::sort(inputs.begin(), inputs.end());
  return inputs;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  const std::vector<std::filesystem::path> inputs = inputsNamed(argc, argv);
  for (const auto& path : inputs) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
      std::fprintf(stderr, "corpus: cannot read %s\n", path.c_str());
      return 1;
    }
    const std::vector<uint8_t> data{std::istreambuf_iterator<char>(file),
                                    std::istreambuf_iterator<char>()};
    LLVMFuzzerTestOneInput(data.data(), data.size());
  }
  // An empty corpus checks nothing: that is a failure, not a pass.
  std::fprintf(stderr, "corpus: %zu inputs replayed\n", inputs.size());
  return inputs.empty() ? 1 : 0;
}
