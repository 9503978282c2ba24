// The command line: subcommands, the config file, dispatch. The options themselves are in
// options.cpp; the subcommands in watch_session.cpp, replay_command.cpp and ops.cpp.
#include "app/cli.h"

#include <CLI/CLI.hpp>

#include "app/args.h"
#include "app/manual.h"
#include "app/ops.h"
#include "app/options.h"
#include "docs/cli_docs.h"
#include "report/log.h"

namespace portcullis {

namespace {

/// The parsed command line: which subcommand, with its arguments.
struct Commands {
  CLI::App app{"portcullis: port-scan detection and blocking in XDP"};
  WatchArgs watch;
  ReplayArgs replay;
  OpsArgs ops;
  CLI::App* watchCmd = nullptr;
  CLI::App* replayCmd = nullptr;
  CLI::App* blockCmd = nullptr;
  CLI::App* unblockCmd = nullptr;
  CLI::App* listCmd = nullptr;
  CLI::App* statusCmd = nullptr;
  CLI::App* topCmd = nullptr;
  uint32_t topIntervalMs = 1000;
};

void addOpsCommands(Commands& c) {
  OpsArgs& ops = c.ops;
  auto addOpsOptions = [&](CLI::App* cmd) {
    cmd->add_option("-i,--interface", ops.iface, "interface (default: every one with pins)");
    cmd->add_option("--pin-root", ops.pinRoot, "where watch pins its maps")->capture_default_str();
  };
  auto addFleetOptions = [&](CLI::App* cmd) {
    cmd->add_option("--fleet", ops.fleet,
                    "also for every node of the fleet: redis://[user:password@]HOST:PORT[/db]");
    cmd->add_option("--node-name", ops.nodeName,
                    "this node's name in the fleet (default: host name)");
  };
  c.blockCmd = c.app.add_subcommand("block", "block an address or CIDR prefix now");
  c.blockCmd->add_option("cidr", ops.prefix, "address or CIDR prefix")->required();
  c.blockCmd->add_option("--ttl", ops.ttl, "seconds (0: permanent)")->capture_default_str();
  c.blockCmd->add_flag("--force", ops.force, "block even this host, its gateway or DNS");
  addOpsOptions(c.blockCmd);
  addFleetOptions(c.blockCmd);
  c.unblockCmd = c.app.add_subcommand("unblock", "remove a block");
  c.unblockCmd->add_option("cidr", ops.prefix, "address or CIDR prefix")->required();
  addOpsOptions(c.unblockCmd);
  addFleetOptions(c.unblockCmd);
  c.listCmd = c.app.add_subcommand("blocklist", "list blocks with their expiry and drops");
  c.listCmd->add_flag("--json", ops.json, "JSON output");
  addOpsOptions(c.listCmd);
  c.statusCmd = c.app.add_subcommand("status", "mode, tracked sources, top scores, drops");
  c.statusCmd->add_flag("--json", ops.json, "JSON output");
  c.statusCmd->add_option("--state-dir", ops.stateDir, "where watch records its state")
      ->capture_default_str();
  addOpsOptions(c.statusCmd);
  c.topCmd = c.app.add_subcommand(
      "top", "live view: open incidents, top sources, blocks, packets and drops per second");
  c.topCmd->add_option("-d,--delay", c.topIntervalMs, "milliseconds between refreshes")
      ->check(CLI::Range(100u, 60'000u))
      ->capture_default_str();
  c.topCmd->add_option("--state-dir", ops.stateDir, "where watch records its state")
      ->capture_default_str();
  addOpsOptions(c.topCmd);
}

// Hidden: prints portcullis(8) or the bash completion, made from these very options (the build
// installs both).
void addGenerate(Commands& c) {
  c.app
      .add_option_function<std::string>(
          "--generate",
          [&c](const std::string& what) {
            if (what == "man") {
              std::fputs(docs::manPage(c.app, detectorManual()).c_str(), stdout);
            } else if (what == "bash-completion") {
              std::fputs(docs::bashCompletion(c.app, "portcullis").c_str(), stdout);
            } else {
              throw CLI::ValidationError("--generate", "man or bash-completion");
            }
            throw CLI::Success();
          },
          "man or bash-completion")
      ->group("");
}

void addCommands(Commands& c) {
  c.app.require_subcommand(1);
  addGenerate(c);
  c.watchCmd = c.app.add_subcommand("watch", "attach to interfaces and report scans");
  addWatchOptions(c.watchCmd, c.watch);
  c.replayCmd =
      c.app.add_subcommand("replay", "run the rules over a capture file (pcap or pcapng)");
  c.replayCmd->add_option("file", c.replay.file, "capture file")->required();
  addCommonOptions(c.replayCmd, c.replay.common);
  addOpsCommands(c);
}

// Parses the command line with the config file's settings before it. -1: go on; else a status.
// With `error`, a parse error is stored there instead of logged.
int parse(Commands& c, int argc, char** argv, std::string* error = nullptr) {
  auto refuse = [&](const std::string& why) {
    if (error) {
      *error = why;
    } else {
      logError("%s", why.c_str());
    }
    return 2;
  };
  std::vector<std::string> expanded;
  ConfigOrigins origins;
  std::string configError;
  if (!expandConfig(c.app, argc, argv, expanded, origins, configError)) return refuse(configError);
  std::vector<char*> args;
  for (std::string& a : expanded) args.push_back(a.data());
  try {
    c.app.parse(int(args.size()), args.data());
  } catch (const CLI::CallForHelp& e) {
    return c.app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return c.app.exit(e);
  } catch (const CLI::Success&) {
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (what.empty()) what = e.get_name();
    return refuse(withOrigin(what, origins));
  }
  return -1;
}

// The watch's command line again, with the config file as it is now (SIGHUP).
bool reparseWatch(int argc, char** argv, WatchArgs& fresh, std::string& error) {
  Commands c;
  addCommands(c);
  if (parse(c, argc, argv, &error) >= 0 || !c.watchCmd->parsed()) {
    if (error.empty()) error = "the command line no longer parses";
    return false;
  }
  if (!finalizeRules(c.watch.common, error)) return false;
  fresh = c.watch;
  return true;
}

int dispatch(Commands& c, int argc, char** argv) {
  if (c.blockCmd->parsed()) return runBlock(c.ops);
  if (c.unblockCmd->parsed()) return runUnblock(c.ops);
  if (c.listCmd->parsed()) return runBlocklist(c.ops);
  if (c.statusCmd->parsed()) return runStatus(c.ops);
  if (c.topCmd->parsed()) return runTop(c.ops, c.topIntervalMs);
  std::string ruleError;
  if (c.watchCmd->parsed()) {
    if (!finalizeRules(c.watch.common, ruleError)) {
      logError("%s", ruleError.c_str());
      return 2;
    }
    c.watch.reparse = [argc, argv](WatchArgs& fresh, std::string& error) {
      return reparseWatch(argc, argv, fresh, error);
    };
    return runWatch(c.watch);
  }
  if (c.replayCmd->parsed()) {
    if (!finalizeRules(c.replay.common, ruleError)) {
      logError("%s", ruleError.c_str());
      return 2;
    }
    return runReplay(c.replay);
  }
  return 2;
}

}  // namespace

int runCli(int argc, char** argv) {
  Commands c;
  addCommands(c);
  if (int rc = parse(c, argc, argv); rc >= 0) return rc;
  return dispatch(c, argc, argv);
}

}  // namespace portcullis
