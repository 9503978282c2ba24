// libFuzzer target: hostile config files and command lines through the CLI (runCli): the TOML
// reader, the expansion of config keys into options, CLI11's parsing and every option's checks.
//
// Runs `portcullis replay /nonexistent/portcullis-fuzz.pcap --config <input> [extra args]`, so
// every input ends in an error (the capture does not exist) after the config and options are
// read. Input: the TOML file, optionally followed by a NUL byte and NUL-separated extra
// command-line arguments (at most 16; any starting with --config are dropped, the input is the
// config).
//
// Besides crashes and UB, the CLI's contract (DESIGN.md) is checked on every run: exit status 2
// with exactly one line on stderr, "portcullis: ...", and nothing on stdout; or, when --help was
// asked for, exit status 0 with the help on stdout. A breach aborts with the run's output.
//
// The code under test writes to stdout and stderr; both are captured per run (the fuzzer's own
// output goes through libFuzzer's -close_fd_mask=3, added to the arguments here unless given).
// PORTCULLIS_FUZZ_VERBOSE=1 prints each run's exit status and output. Capabilities are dropped at
// start: if an input ever reached `watch`, it could not attach to anything.
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "app/cli.h"
#include "mem_file.h"

namespace {

constexpr char kMissingCapture[] = "/nonexistent/portcullis-fuzz.pcap";
constexpr size_t kMaxExtraArgs = 16;

int gOrigStderr = -1;  // the real stderr, for reports (fd 2 is /dev/null under -close_fd_mask)
bool gVerbose = false;

void say(const std::string& text) {
  if (gOrigStderr >= 0 && !text.empty()) {
    ssize_t n = write(gOrigStderr, text.data(), text.size());
    (void)n;
  }
}

void dropCapabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capset, &header, data) != 0) {
    std::perror("fuzz_config: capset");
    std::abort();
  }
}

// Whether one run's exit status and output keep the CLI's contract; `why` says how they do not.
// `oneLine`: whether the error must fit on one line (CLI11 quotes arguments verbatim, so an
// argument that holds a newline may take the message over two).
bool keepsContract(int rc, const std::string& out, const std::string& err, bool oneLine,
                   std::string& why) {
  if (rc == 0) {
    if (out.empty())
      why = "exit status 0 without --help output";
    else if (!err.empty())
      why = "exit status 0 with output on stderr";
    return why.empty();
  }
  if (rc != 2) {
    why = "exit status " + std::to_string(rc) + " (expected 2)";
  } else if (!out.empty()) {
    why = "output on stdout";
  } else if (err.rfind("portcullis: ", 0) != 0) {
    why = "stderr does not start with 'portcullis: '";
  } else if (err.back() != '\n') {
    why = "stderr does not end with a newline";
  } else if (oneLine && err.find('\n') != err.size() - 1) {
    why = "stderr is not exactly one line";
  }
  return why.empty();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // libFuzzer reads its flags after this returns: ask it to keep its own output (and sanitizer
  // reports) on a copy of stderr and point fds 1 and 2 at /dev/null. Put first, so a
  // -close_fd_mask on the command line still wins.
  static std::vector<char*> args;
  static char closeFds[] = "-close_fd_mask=3";
  args.assign(*argv, *argv + *argc);
  args.insert(args.begin() + 1, closeFds);
  args.push_back(nullptr);
  *argc = int(args.size()) - 1;
  *argv = args.data();

  gOrigStderr = fcntl(2, F_DUPFD_CLOEXEC, 3);
  const char* verbose = std::getenv("PORTCULLIS_FUZZ_VERBOSE");
  gVerbose = verbose && *verbose && std::strcmp(verbose, "0") != 0;
  // Nothing under test may read the fuzzer's stdin ("-" as a capture file).
  int devNull = open("/dev/null", O_RDONLY);
  if (devNull >= 0) {
    dup2(devNull, 0);
    close(devNull);
  }
  dropCapabilities();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static portcullis::fuzz::MemFile config("fuzz_config.toml");
  static portcullis::fuzz::MemFile out("fuzz_config.stdout");
  static portcullis::fuzz::MemFile err("fuzz_config.stderr");
  // Where fds 1 and 2 pointed when the fuzzing started (after libFuzzer set them up).
  static const int savedOut = fcntl(1, F_DUPFD_CLOEXEC, 3);
  static const int savedErr = fcntl(2, F_DUPFD_CLOEXEC, 3);

  const auto* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t configSize = nul ? size_t(nul - data) : size;
  config.assign(data, configSize);

  std::vector<std::string> words = {"portcullis", "replay", kMissingCapture, "--config",
                                    config.path()};
  bool argNewline = false;
  for (size_t pos = configSize + 1, extra = 0; pos <= size && nul && extra < kMaxExtraArgs;
       ++extra) {
    const auto* next = static_cast<const uint8_t*>(std::memchr(data + pos, 0, size - pos));
    size_t end = next ? size_t(next - data) : size;
    std::string word(reinterpret_cast<const char*>(data + pos), end - pos);
    pos = end + 1;
    if (word.rfind("--config", 0) == 0) continue;
    argNewline |= word.find_first_of("\r\n") != std::string::npos;
    words.push_back(std::move(word));
  }
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);

  out.clear();
  err.clear();
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(out.fd(), 1);
  dup2(err.fd(), 2);
  int rc = portcullis::runCli(int(argv.size()) - 1, argv.data());
  std::cout.flush();
  std::fflush(stdout);
  std::fflush(stderr);
  dup2(savedOut, 1);
  dup2(savedErr, 2);

  const std::string stdoutText = out.contents(), stderrText = err.contents();
  if (gVerbose) {
    say("fuzz_config: exit status " + std::to_string(rc) + "\n--- stdout\n" + stdoutText +
        "--- stderr\n" + stderrText + "---\n");
  }
  std::string why;
  if (!keepsContract(rc, stdoutText, stderrText, !argNewline, why)) {
    say("fuzz_config: the CLI broke its contract: " + why + "\n--- stdout\n" + stdoutText +
        "--- stderr\n" + stderrText + "---\n");
    std::abort();
  }
  return 0;
}
